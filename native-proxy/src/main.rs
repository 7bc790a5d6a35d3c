//! The `trueip` command.
#![forbid(unsafe_code)]

fn main() {
    println!("trueip {}", env!("CARGO_PKG_VERSION"));
}
