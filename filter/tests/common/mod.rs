//! Shared helpers for the filter's tests on the wasmtime harness.
#![allow(dead_code)] // each test file uses a subset
#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // test support fails by panicking

use std::net::SocketAddr;
use std::sync::OnceLock;

use trueip_wasm_harness::{
    CompiledModule, Connection, Exchange, Plugin, PluginOptions, Request, WasiProfile, wasm_module,
};

/// The real filter module, built once per test process (see `trueip_wasm_harness::wasm_module`).
pub(crate) fn filter_wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| wasm_module("trueip-filter").unwrap_or_else(|e| panic!("{e}")))
}

/// A plugin running the real filter with this JSON configuration (gateway defaults).
pub(crate) fn plugin(config: &str) -> Plugin {
    plugin_with(PluginOptions::new(config))
}

/// The filter compiled once per test process (compiling is the slow part).
pub(crate) fn compiled() -> &'static CompiledModule {
    static MODULE: OnceLock<CompiledModule> = OnceLock::new();
    MODULE.get_or_init(|| {
        CompiledModule::new(filter_wasm(), WasiProfile::Envoy2022To2024)
            .unwrap_or_else(|e| panic!("load: {e}"))
    })
}

/// A plugin with explicit options.
pub(crate) fn plugin_with(options: PluginOptions) -> Plugin {
    Plugin::from_compiled(compiled(), options).unwrap_or_else(|e| panic!("load: {e}"))
}

/// Parses an address literal.
pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A plaintext connection from `peer`.
pub(crate) fn conn(peer: &str) -> Connection {
    Connection::plain(sa(peer), sa("10.0.0.100:8080"))
}

/// A GET from `peer` with these header lines.
pub(crate) fn get(peer: &str, headers: &[(&str, &str)]) -> Request {
    Request::get(conn(peer), headers)
}

/// The filter state `wasm.trueip` as `key=value` fields (bare words map to "").
pub(crate) fn state(ex: &Exchange) -> Vec<(String, String)> {
    let raw = ex
        .filter_state
        .get("wasm.trueip")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    raw.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (w.to_owned(), String::new()),
        })
        .collect()
}

/// One field of the filter state.
pub(crate) fn field(ex: &Exchange, key: &str) -> Option<String> {
    state(ex)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The upstream request's value for `name` (first line), as text.
pub(crate) fn upstream(ex: &Exchange, name: &str) -> Option<String> {
    let req = ex.upstream_request.as_ref()?;
    req.get(name.as_bytes())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The downstream status.
pub(crate) fn status(ex: &Exchange) -> u16 {
    ex.response.as_ref().map_or(0, |r| r.status)
}
