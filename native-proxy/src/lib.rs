//! The trueip proxy: listeners, forwarding, and the transparent (TPROXY) mode.
#![forbid(unsafe_code)]

pub mod net;
pub mod transparent;
