//! trueip: the real client IP behind proxies, decided under explicit trust rules.
//!
//! This crate is pure logic with no I/O, so the same decision runs in the Envoy/Istio
//! proxy-wasm filter, in the native proxy and in the `trueip explain` tool.
#![forbid(unsafe_code)]

pub mod cursor;
pub mod proxy_protocol;

// Temporary until the core branch lands `config/`: the proxy-owned listener and admin sections.
/// Configuration sections (temporary home of the proxy-owned ones until core lands `config/`).
pub mod config {
    pub mod admin;
    pub mod listener;
}
