//! Everything the host keeps for one VM, owned by the wasmtime `Store` (no globals, so tests run
//! in parallel).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use wasmtime::{Memory, StoreLimits, TypedFunc};

use crate::connection::{Connection, address_string};
use crate::header_map::{HeaderMap, MapKind};
use crate::metrics::Metrics;

/// A log line the module wrote through `proxy_log` or WASI stdout/stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// proxy-wasm level: 0 trace .. 5 critical (stdout is info, stderr is error, as in Envoy).
    pub level: u32,
    /// The message, lossily decoded.
    pub message: String,
}

/// Which callback the host is running, which decides what each hostcall may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Between callbacks.
    Idle,
    /// `_initialize`/`main`: only the restricted set of hostcalls is allowed.
    Initialize,
    /// A root-context callback.
    Root(RootCallback),
    /// A stream callback on context `id`.
    Stream(u32, StreamCallback),
}

/// Root-context callbacks with special rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootCallback {
    Create,
    VmStart,
    Configure,
}

/// Stream callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamCallback {
    Create,
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    ResponseBody,
    Log,
    Done,
    Delete,
}

/// A local reply the filter asked for; Envoy sends it when the callback returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status.
    pub status: u32,
    /// Response code details (Envoy's `%RESPONSE_CODE_DETAILS%`).
    pub details: Vec<u8>,
    /// Body.
    pub body: Vec<u8>,
    /// Extra response headers from the filter.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Per-stream host state.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) connection: Connection,
    /// `source.address` after the connection manager's address detection.
    pub(crate) remote: SocketAddr,
    /// `remote` and the connection's local address as `source.address` / `destination.address` render
    /// them, once per stream: Envoy's address objects keep their text from construction
    /// (`Address::Instance::asString()`), so a property read copies it and formats nothing.
    pub(crate) remote_text: String,
    pub(crate) local_text: String,
    pub(crate) request_headers: HeaderMap,
    pub(crate) response_headers: HeaderMap,
    pub(crate) request_body: Vec<u8>,
    pub(crate) response_body: Vec<u8>,
    /// Request headers stay attached after `on_request_headers` only while it keeps the stream stopped.
    pub(crate) request_held: bool,
    pub(crate) response_held: bool,
    pub(crate) filter_state: BTreeMap<String, Vec<u8>>,
    pub(crate) local_reply: Option<LocalReply>,
}

impl StreamState {
    pub(crate) fn new(
        connection: Connection,
        remote: SocketAddr,
        request_headers: HeaderMap,
    ) -> StreamState {
        StreamState {
            remote_text: address_string(remote),
            local_text: address_string(connection.local),
            connection,
            remote,
            request_headers,
            response_headers: HeaderMap::new(MapKind::Response),
            request_body: Vec::new(),
            response_body: Vec::new(),
            request_held: false,
            response_held: false,
            filter_state: BTreeMap::new(),
            local_reply: None,
        }
    }
}

/// What the host uses of the module's exports, resolved once when the VM starts (cpp-host
/// `WasmBase::getFunctions`), never looked up by name per hostcall.
pub(crate) struct GuestExports {
    /// The linear memory (`memory`).
    pub(crate) memory: Option<Memory>,
    /// `malloc`, else `proxy_on_memory_allocate`: where the host puts buffers it hands the module.
    pub(crate) alloc: Option<TypedFunc<i32, i32>>,
}

/// The host side of one VM.
pub(crate) struct HostState {
    /// `None` until the VM is instantiated.
    pub(crate) exports: Option<GuestExports>,
    pub(crate) limits: StoreLimits,
    pub(crate) phase: Phase,
    pub(crate) root_id: u32,
    pub(crate) plugin_name: String,
    pub(crate) plugin_config: Vec<u8>,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) streams: HashMap<u32, StreamState>,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) metrics: Metrics,
    pub(crate) log_level: u32,
    /// A virtual clock, so runs are repeatable (callgrind counts depend on it).
    pub(crate) clock_ns: u64,
    /// xorshift state for `random_get`, fixed seed for the same reason.
    pub(crate) rng: u64,
    pub(crate) shared_data: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    pub(crate) queues: Vec<(Vec<u8>, std::collections::VecDeque<Vec<u8>>)>,
    pub(crate) effective_context: Option<u32>,
    /// `PluginOptions::detach_request_headers`.
    pub(crate) detach_request_headers: bool,
}

impl HostState {
    pub(crate) fn new(
        limits: StoreLimits,
        plugin_name: String,
        plugin_config: Vec<u8>,
        vm_config: Vec<u8>,
        metrics: Metrics,
    ) -> HostState {
        HostState {
            exports: None,
            limits,
            phase: Phase::Idle,
            root_id: 1,
            plugin_name,
            plugin_config,
            vm_config,
            streams: HashMap::new(),
            logs: Vec::new(),
            metrics,
            log_level: 2,
            clock_ns: 1_700_000_000_000_000_000,
            rng: 0x9E37_79B9_7F4A_7C15,
            shared_data: HashMap::new(),
            queues: Vec::new(),
            effective_context: None,
            detach_request_headers: false,
        }
    }

    /// The stream the current callback runs for (or the effective context set by the module).
    pub(crate) fn current_stream(&mut self) -> Option<(StreamCallback, &mut StreamState)> {
        match self.phase {
            Phase::Stream(id, cb) => {
                let id = self.effective_context.unwrap_or(id);
                self.streams.get_mut(&id).map(|s| (cb, s))
            }
            _ => None,
        }
    }

    pub(crate) fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}
