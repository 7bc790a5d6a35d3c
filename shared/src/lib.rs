//! trueip: the real client IP behind proxies, decided under explicit trust rules.
//!
//! This crate is pure logic with no I/O, so the same decision runs in the Envoy/Istio
//! proxy-wasm filter, in the native proxy and in the `trueip explain` tool.
//!
//! The paved path: load a [`Config`], build a [`Resolver`] from its policy once, then per request call
//! [`Resolver::resolve`], [`Resolver::access`] and [`Resolver::rewrite_plan`].
#![forbid(unsafe_code)]

pub mod access;
pub mod addr;
pub mod config;
pub mod cursor;
pub mod forwarded;
pub mod lint;
pub mod proxy_protocol;
pub mod resolve;
pub mod rewrite;
pub mod trust;
#[cfg(feature = "vectors")]
pub mod vectors;

pub use access::Access;
pub use addr::{ClientAddr, OrigDstAddr, PeerAddr};
pub use config::{Config, ConfigError, Policy};
pub use resolve::{
    Decision, Fallback, RejectKind, Rejection, Request, Resolver, Source, Spoof, SpoofSignals,
    Trace,
};
pub use rewrite::RewritePlan;
pub use trust::CidrSet;
