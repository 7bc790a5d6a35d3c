//! The trueip native proxy: PROXY-protocol aware HTTP and TCP listeners that decide the real
//! client IP with the shared `trueip` core and hand it to the upstream.
//!
//! Entry point: [`Server::bind`] then [`Server::run`]. The `trueip` binary only wires logging,
//! configuration, signals and the runtime around it.
#![forbid(unsafe_code)]

pub mod admin;
pub mod conn_timer;
pub mod echo;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod hop;
pub mod http_proxy;
pub mod http_server;
pub mod listener;
pub mod loadgen;
pub mod metrics;
pub mod net;
pub mod proxy_header;
pub mod rewind;
pub mod server;
pub mod tcp;
pub mod tlv_headers;
pub mod transparent;
pub mod upstream;

pub use server::{ReloadHandle, ServeError, Server};

/// The configuration `trueip run` uses without `--config`: an HTTP listener that forwards to
/// the built-in echo upstream, both on loopback, plus the admin endpoint.
pub const DEFAULT_CONFIG: &str = include_str!("default-config.json");
