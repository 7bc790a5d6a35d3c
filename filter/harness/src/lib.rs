//! A faithful stand-in for Envoy as the host of a proxy-wasm HTTP filter, for tests.
//!
//! It loads the real `.wasm` in wasmtime and plays Envoy's part (see `shared/ENVOY-HOST.md` in the
//! planning notes and the module docs here): the `env.proxy_*` imports of ABI 0.2.1 with cpp-host's
//! signatures, Envoy's header-map semantics, typed properties, deferred local replies that run
//! through the filter's own response callbacks, filter state, metrics, captured logs, only Envoy's
//! WASI functions, a memory cap and a per-callback CPU (fuel) bound, and FAIL_CLOSE / FAIL_OPEN /
//! FAIL_RELOAD after a trap. All state lives in the wasmtime `Store`, so tests run in parallel.
#![forbid(unsafe_code)]

mod abi;
mod connection;
mod header_map;
mod metrics;
mod module_file;
mod pairs;
mod plugin;
mod properties;
mod state;
mod status;

pub use abi::{WasiProfile, offers};
pub use connection::{Connection, ConnectionManager, InternalAddresses};
pub use header_map::{HeaderMap, MapKind};
pub use metrics::{MetricKind, MetricValue, Metrics};
pub use module_file::{BuildError, wasm_module, workspace_root};
pub use pairs::{MAX_PAIRS, MAX_PAIRS_BYTES};
pub use plugin::{
    CompiledModule, Exchange, FailurePolicy, FilterOutcome, LoadError, Plugin, PluginOptions,
    PluginState, Request, Response, Teardown,
};
pub use state::{LocalReply, LogRecord};
pub use status::Status;
/// The engine the harness runs modules on (for precompiling and loading modules, see
/// [`CompiledModule::engine`]).
pub use wasmtime;
