//! Transparent proxying: TPROXY listeners and upstream connects that keep the client's address.
//!
//! In REDIRECT mode a sidecar forwards over its own address and the application sees `127.0.0.6`
//! or the proxy's IP. With TPROXY the kernel hands us connections unchanged (the original
//! destination is the accepted socket's local address), and with `IP_TRANSPARENT` we can connect
//! upstream *from* the client's address, so a plain application sees the real client.

pub mod caps;
pub mod cli;
pub mod hooks;
pub mod socket;

pub use socket::{Mark, OrigDstAddr};
