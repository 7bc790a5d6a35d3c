//! The `trueip` command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    // `trueip net ...` and `trueip tproxy ...` (transparent mode) are handled in their own modules.
    if let Some(code) =
        trueip_proxy::transparent::cli::dispatch(&std::env::args_os().collect::<Vec<_>>())
    {
        return code;
    }
    println!("trueip {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}
