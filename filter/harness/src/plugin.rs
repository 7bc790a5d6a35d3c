//! One Wasm plugin on one worker: the VM lifecycle, the stream callbacks in Envoy's order, deferred
//! local replies, and what happens after a trap under each failure policy.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use wasmtime::{
    Config, Engine, Extern, Func, Instance, Linker, Module, Store, StoreLimitsBuilder, Val, ValType,
};

use crate::abi::{self, WasiProfile};
use crate::connection::{Connection, ConnectionManager};
use crate::header_map::{HeaderMap, MapKind};
use crate::metrics::Metrics;
use crate::state::{
    HostState, LocalReply, LogRecord, Phase, RootCallback, StreamCallback, StreamState,
};

/// What Envoy does with the plugin after its VM fails (Istio `failStrategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Istio's default: that stream and every later one get 503 (`wasm_fail_stream`).
    FailClose,
    /// The filter is skipped from then on.
    FailOpen,
    /// A fresh VM for later requests after a run-time failure.
    FailReload,
}

/// How a plugin is configured on the listener.
#[derive(Clone, Debug)]
pub struct PluginOptions {
    /// Plugin name (`plugin_name` property).
    pub name: String,
    /// The plugin configuration (Istio `pluginConfig` as JSON text), readable only in `on_configure`.
    pub plugin_config: Vec<u8>,
    /// The VM configuration, readable only in `on_vm_start`.
    pub vm_config: Vec<u8>,
    /// Failure policy.
    pub failure_policy: FailurePolicy,
    /// Linear-memory cap in bytes (V8 in Envoy: 1 GiB).
    pub memory_limit: usize,
    /// Fuel (≈ Wasm instructions) allowed per callback; running out traps.
    pub fuel_per_callback: u64,
    /// WASI list offered.
    pub wasi: WasiProfile,
    /// The connection manager in front of the filter.
    pub connection_manager: ConnectionManager,
    /// Fault injection, not Envoy behaviour: request headers are never attached, so every
    /// request-header hostcall answers BadArgument, as Envoy does once they are detached (after
    /// `Continue`). Shows that a filter copes with the status instead of trapping.
    pub detach_request_headers: bool,
}

impl PluginOptions {
    /// Defaults like an Istio gateway: FAIL_CLOSE, 1 GiB, the strict WASI list.
    pub fn new(plugin_config: impl Into<Vec<u8>>) -> PluginOptions {
        PluginOptions {
            name: "trueip".to_owned(),
            plugin_config: plugin_config.into(),
            vm_config: Vec::new(),
            failure_policy: FailurePolicy::FailClose,
            memory_limit: 1 << 30,
            fuel_per_callback: 200_000_000,
            wasi: WasiProfile::Envoy2022To2024,
            connection_manager: ConnectionManager::GATEWAY,
            detach_request_headers: false,
        }
    }
}

/// Why a module could not be loaded at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The engine could not be created.
    #[error("cannot create the engine: {0}")]
    Engine(String),
    /// Not a valid module.
    #[error("cannot compile the module: {0}")]
    Compile(String),
    /// An import the host does not offer (Envoy's wording).
    #[error("Failed to load Wasm module due to a missing import: {module}.{name}")]
    MissingImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// The module does not declare a supported ABI version.
    #[error("module does not export proxy_abi_version_0_2_1 or proxy_abi_version_0_2_0")]
    AbiVersion,
}

/// The plugin's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginState {
    /// Serving requests.
    Running,
    /// Start-up failed (`_initialize` trap, `on_vm_start` or `on_configure` false): never recovers.
    StartFailed(String),
    /// The VM trapped at run time.
    Failed(String),
}

/// How the stream ends: recent Envoy calls `on_log` before `on_done`, older builds the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Teardown {
    /// `on_log`, `on_done`, `on_delete`.
    LogThenDone,
    /// `on_done`, `on_log`, `on_delete`.
    DoneThenLog,
}

/// One HTTP request as it arrives at Envoy.
#[derive(Clone, Debug)]
pub struct Request {
    /// The downstream connection.
    pub connection: Connection,
    /// Header lines as sent by the client, in order (names any case; `host` allowed).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Request body (empty: the headers end the stream).
    pub body: Vec<u8>,
    /// What the upstream answers.
    pub upstream_status: u16,
    /// Order of the final callbacks.
    pub teardown: Teardown,
}

impl Request {
    /// A GET with these extra header lines, answered 200 by the upstream.
    pub fn get<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        connection: Connection,
        headers: &[(K, V)],
    ) -> Request {
        let mut lines: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":path".to_vec(), b"/".to_vec()),
            (b":scheme".to_vec(), b"http".to_vec()),
            (b":authority".to_vec(), b"app.example".to_vec()),
        ];
        lines.extend(
            headers
                .iter()
                .map(|(k, v)| (k.as_ref().to_vec(), v.as_ref().to_vec())),
        );
        Request {
            connection,
            headers: lines,
            body: Vec::new(),
            upstream_status: 200,
            teardown: Teardown::LogThenDone,
        }
    }
}

/// What the filter did to the filter chain for the current stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// The filter ran.
    Ran,
    /// The filter was skipped (FAIL_OPEN after a failure).
    Skipped,
    /// The VM failed; the stream got Envoy's 503 `wasm_fail_stream`.
    FailedStream,
}

/// The response sent downstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers after the filter's response callbacks.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Response code details for a local reply.
    pub details: Option<String>,
}

/// The result of one request.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The request headers the upstream received, or `None` if the request never went upstream.
    pub upstream_request: Option<HeaderMap>,
    /// The downstream response, or `None` if the filter left the stream stopped.
    pub response: Option<Response>,
    /// `source.address` as the filter saw it.
    pub source_address: SocketAddr,
    /// Filter state written by the filter (`wasm.<name>`).
    pub filter_state: BTreeMap<String, Vec<u8>>,
    /// Whether the filter ran.
    pub outcome: FilterOutcome,
}

/// A compiled module whose imports passed Envoy's check. Compiling is the slow part; one compiled
/// module can back many plugins (it is cheap to clone and `Send + Sync`).
#[derive(Clone)]
pub struct CompiledModule {
    engine: Engine,
    module: Module,
    wasi: WasiProfile,
}

impl CompiledModule {
    /// Compiles `wasm` for plugins offering the `wasi` list, and checks its imports and ABI version as
    /// Envoy does when it loads a module.
    pub fn new(wasm: &[u8], wasi: WasiProfile) -> Result<CompiledModule, LoadError> {
        let engine = CompiledModule::engine()?;
        let module =
            Module::new(&engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        CompiledModule::from_module(&engine, module, wasi)
    }

    /// The engine configuration every plugin runs under (fuel metering on, for the per-callback CPU
    /// bound). A module precompiled with [`Engine::precompile_module`] on this engine can be loaded
    /// with `Module::deserialize` and passed to [`CompiledModule::from_module`], so a benchmark under
    /// valgrind does not pay for cranelift.
    pub fn engine() -> Result<Engine, LoadError> {
        Engine::new(&engine_config()).map_err(|e| LoadError::Engine(format!("{e:#}")))
    }

    /// [`CompiledModule::engine`] without CPU feature detection: code for the baseline of this
    /// architecture. Its precompiled modules load on any CPU of the architecture — valgrind's
    /// emulated one included, which lacks some features of the real CPU underneath.
    pub fn portable_engine() -> Result<Engine, LoadError> {
        let mut config = engine_config();
        // wasmtime requires the host's exact triple (environment included) for code it runs.
        let env = if cfg!(target_env = "gnu") {
            "-gnu"
        } else if cfg!(target_env = "musl") {
            "-musl"
        } else {
            ""
        };
        let triple = format!(
            "{}-unknown-{}{env}",
            std::env::consts::ARCH,
            std::env::consts::OS
        );
        config
            .target(&triple)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))
    }

    /// The names the module exports (a test can check what the host will pick, e.g. its allocator).
    pub fn export_names(&self) -> Vec<String> {
        self.module.exports().map(|e| e.name().to_owned()).collect()
    }

    /// Checks an already compiled `module` (made on `engine`, see [`CompiledModule::engine`]) as
    /// Envoy checks a module it loads: imports against the `wasi` list, the ABI version export.
    pub fn from_module(
        engine: &Engine,
        module: Module,
        wasi: WasiProfile,
    ) -> Result<CompiledModule, LoadError> {
        let engine = engine.clone();
        for import in module.imports() {
            if !abi::offers(wasi, import.module(), import.name()) {
                return Err(LoadError::MissingImport {
                    module: import.module().to_owned(),
                    name: import.name().to_owned(),
                });
            }
        }
        if !module
            .exports()
            .any(|e| e.name() == "proxy_abi_version_0_2_1" || e.name() == "proxy_abi_version_0_2_0")
        {
            return Err(LoadError::AbiVersion);
        }
        Ok(CompiledModule {
            engine,
            module,
            wasi,
        })
    }
}

/// A loaded plugin with its current VM.
pub struct Plugin {
    engine: Engine,
    module: Module,
    linker: Linker<HostState>,
    options: PluginOptions,
    store: Store<HostState>,
    /// The current VM's callbacks, resolved when it started.
    callbacks: Option<Callbacks>,
    state: PluginState,
    next_context_id: u32,
    vm_starts: u32,
    fuel_used: u64,
}

impl Plugin {
    /// Compiles `wasm`, checks its imports against Envoy's list, and starts a VM: `_initialize`,
    /// root context, `on_vm_start`, `on_configure`. A start-up failure is a [`PluginState`], not an
    /// error, because Envoy keeps the failed plugin and answers requests by its failure policy.
    pub fn load(wasm: &[u8], options: PluginOptions) -> Result<Plugin, LoadError> {
        let compiled = CompiledModule::new(wasm, options.wasi)?;
        Plugin::from_compiled(&compiled, options)
    }

    /// Starts a plugin from an already compiled module; the WASI list is the one the module was
    /// checked against (`options.wasi` is not consulted).
    pub fn from_compiled(
        compiled: &CompiledModule,
        options: PluginOptions,
    ) -> Result<Plugin, LoadError> {
        let engine = compiled.engine.clone();
        let module = compiled.module.clone();
        let mut linker = Linker::new(&engine);
        abi::define(&mut linker, compiled.wasi).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let store = new_store(&engine, &options, Metrics::default());
        let mut plugin = Plugin {
            engine,
            module,
            linker,
            options,
            store,
            callbacks: None,
            state: PluginState::Running,
            next_context_id: 2,
            vm_starts: 0,
            fuel_used: 0,
        };
        plugin.start_vm();
        Ok(plugin)
    }

    /// The plugin's state.
    pub fn state(&self) -> &PluginState {
        &self.state
    }

    /// How many VMs were started (1 + reloads).
    pub fn vm_starts(&self) -> u32 {
        self.vm_starts
    }

    /// Fuel (≈ Wasm operators executed) used by every callback so far: a deterministic, engine
    /// independent measure of the module's own work (host-side work is not included).
    pub fn fuel_used(&self) -> u64 {
        self.fuel_used
    }

    /// Log lines so far.
    pub fn logs(&self) -> &[LogRecord] {
        &self.store.data().logs
    }

    /// Takes the log lines so far.
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    /// The stats store.
    pub fn metrics(&self) -> &Metrics {
        &self.store.data().metrics
    }

    /// Current linear-memory size in bytes.
    pub fn memory_bytes(&mut self) -> usize {
        match self.store.data().exports.as_ref().and_then(|e| e.memory) {
            Some(m) => m.data_size(&self.store),
            None => 0,
        }
    }

    /// Number of stream contexts the host still tracks (all are deleted after each request).
    pub fn live_streams(&self) -> usize {
        self.store.data().streams.len()
    }

    /// Runs one request through the connection manager and the filter, in Envoy's callback order.
    pub fn handle(&mut self, req: &Request) -> Exchange {
        let mut headers = HeaderMap::from_lines(MapKind::Request, &req.headers);
        let remote = self
            .options
            .connection_manager
            .apply(req.connection.peer, &mut headers);
        if let PluginState::Failed(_) = self.state {
            if self.options.failure_policy == FailurePolicy::FailReload {
                self.reload();
            }
        }
        if self.state != PluginState::Running {
            return self.without_filter(headers, remote, req.upstream_status);
        }
        let id = self.next_context_id;
        self.next_context_id = self.next_context_id.wrapping_add(1).max(2);
        self.store.data_mut().streams.insert(
            id,
            StreamState::new(req.connection.clone(), remote, headers),
        );
        match self.run_stream(id, req) {
            Ok(exchange) => exchange,
            Err(trap) => self.fail_stream(id, remote, req.upstream_status, trap),
        }
    }

    /// A stream Envoy tore down before its headers reached the filter (e.g. the client reset it):
    /// the context is created, then only `on_log`/`on_done`/`on_delete` run.
    pub fn abandoned_stream(
        &mut self,
        connection: &Connection,
        teardown: Teardown,
    ) -> FilterOutcome {
        if self.state != PluginState::Running {
            return FilterOutcome::Skipped;
        }
        let id = self.next_context_id;
        self.next_context_id = self.next_context_id.wrapping_add(1).max(2);
        let remote = connection.peer;
        self.store.data_mut().streams.insert(
            id,
            StreamState::new(connection.clone(), remote, HeaderMap::new(MapKind::Request)),
        );
        let result = self
            .call(
                Phase::Stream(id, StreamCallback::Create),
                Callback::ContextCreate,
                &[id, 1],
            )
            .and_then(|_| self.teardown(id, teardown));
        self.store.data_mut().streams.remove(&id);
        match result {
            Ok(()) => FilterOutcome::Ran,
            Err(trap) => {
                self.state = PluginState::Failed(trap);
                FilterOutcome::FailedStream
            }
        }
    }

    fn run_stream(&mut self, id: u32, req: &Request) -> Result<Exchange, String> {
        let root = self.store.data().root_id;
        self.call(
            Phase::Stream(id, StreamCallback::Create),
            Callback::ContextCreate,
            &[id, root],
        )?;
        let count = self.stream(id).map_or(0, |s| s.request_headers.len());
        let eos = u32::from(req.body.is_empty());
        let action = self.call(
            Phase::Stream(id, StreamCallback::RequestHeaders),
            Callback::RequestHeaders,
            &[id, u32::try_from(count).unwrap_or(u32::MAX), eos],
        )?;
        let paused = action == Some(1);
        if let Some(s) = self.stream_mut(id) {
            s.request_held = paused;
        }
        let mut upstream_request = None;
        let response = if let Some(reply) = self.stream_mut(id).and_then(|s| s.local_reply.take()) {
            Some(self.send_local_reply(id, reply)?)
        } else if paused {
            None
        } else {
            if !req.body.is_empty() {
                if let Some(s) = self.stream_mut(id) {
                    s.request_body = req.body.clone();
                }
                let len = u32::try_from(req.body.len()).unwrap_or(u32::MAX);
                self.call(
                    Phase::Stream(id, StreamCallback::RequestBody),
                    Callback::RequestBody,
                    &[id, len, 1],
                )?;
            }
            upstream_request = self.stream(id).map(|s| s.request_headers.clone());
            Some(self.upstream_response(id, req.upstream_status)?)
        };
        self.teardown(id, req.teardown)?;
        let state = self.store.data_mut().streams.remove(&id);
        Ok(Exchange {
            upstream_request,
            response,
            source_address: state.as_ref().map_or(req.connection.peer, |s| s.remote),
            filter_state: state.map(|s| s.filter_state).unwrap_or_default(),
            outcome: FilterOutcome::Ran,
        })
    }

    /// A local reply goes back through this filter's own encoder callbacks, as in Envoy.
    fn send_local_reply(&mut self, id: u32, reply: LocalReply) -> Result<Response, String> {
        let status = u16::try_from(reply.status).unwrap_or(500);
        let mut headers = HeaderMap::new(MapKind::Response);
        headers.add(b":status", status.to_string().as_bytes());
        for (k, v) in &reply.headers {
            headers.add(k, v);
        }
        if !reply.body.is_empty() {
            headers.replace(b"content-length", reply.body.len().to_string().as_bytes());
            headers.replace(b"content-type", b"text/plain");
        }
        let details = String::from_utf8_lossy(&reply.details).into_owned();
        let mut response = self.run_response(id, headers, reply.body)?;
        response.details = Some(details);
        Ok(response)
    }

    fn upstream_response(&mut self, id: u32, status: u16) -> Result<Response, String> {
        let mut headers = HeaderMap::new(MapKind::Response);
        headers.add(b":status", status.to_string().as_bytes());
        headers.add(b"content-length", b"0");
        self.run_response(id, headers, Vec::new())
    }

    fn run_response(
        &mut self,
        id: u32,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let count = u32::try_from(headers.len()).unwrap_or(u32::MAX);
        if let Some(s) = self.stream_mut(id) {
            s.response_headers = headers;
            s.response_body = body.clone();
        }
        let eos = u32::from(body.is_empty());
        let action = self.call(
            Phase::Stream(id, StreamCallback::ResponseHeaders),
            Callback::ResponseHeaders,
            &[id, count, eos],
        )?;
        if let Some(s) = self.stream_mut(id) {
            s.response_held = action == Some(1);
        }
        if !body.is_empty() {
            let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
            self.call(
                Phase::Stream(id, StreamCallback::ResponseBody),
                Callback::ResponseBody,
                &[id, len, 1],
            )?;
        }
        let s = self.stream(id);
        let headers = s
            .map(|s| s.response_headers.clone())
            .unwrap_or_else(|| HeaderMap::new(MapKind::Response));
        let status = headers
            .get(b":status")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Response {
            status,
            headers,
            body: s.map(|s| s.response_body.clone()).unwrap_or_default(),
            details: None,
        })
    }

    fn teardown(&mut self, id: u32, order: Teardown) -> Result<(), String> {
        let log =
            |p: &mut Plugin| p.call(Phase::Stream(id, StreamCallback::Log), Callback::Log, &[id]);
        let done = |p: &mut Plugin| {
            p.call(
                Phase::Stream(id, StreamCallback::Done),
                Callback::Done,
                &[id],
            )
        };
        match order {
            Teardown::LogThenDone => {
                log(self)?;
                done(self)?;
            }
            Teardown::DoneThenLog => {
                done(self)?;
                log(self)?;
            }
        }
        self.call(
            Phase::Stream(id, StreamCallback::Delete),
            Callback::Delete,
            &[id],
        )?;
        Ok(())
    }

    /// After a trap: the VM is failed; the stream is answered by the failure policy.
    fn fail_stream(
        &mut self,
        id: u32,
        remote: SocketAddr,
        upstream_status: u16,
        trap: String,
    ) -> Exchange {
        let state = self.store.data_mut().streams.remove(&id);
        self.state = PluginState::Failed(trap);
        let headers = state
            .map(|s| s.request_headers)
            .unwrap_or_else(|| HeaderMap::new(MapKind::Request));
        let mut exchange = self.without_filter(headers, remote, upstream_status);
        if self.options.failure_policy == FailurePolicy::FailOpen {
            exchange.outcome = FilterOutcome::Skipped;
        }
        exchange
    }

    fn without_filter(
        &self,
        headers: HeaderMap,
        remote: SocketAddr,
        upstream_status: u16,
    ) -> Exchange {
        let fail_open = self.options.failure_policy == FailurePolicy::FailOpen;
        let mut response_headers = HeaderMap::new(MapKind::Response);
        let (upstream_request, response, outcome) = if fail_open {
            response_headers.add(b":status", upstream_status.to_string().as_bytes());
            let response = Response {
                status: upstream_status,
                headers: response_headers,
                body: Vec::new(),
                details: None,
            };
            (Some(headers), response, FilterOutcome::Skipped)
        } else {
            response_headers.add(b":status", b"503");
            let response = Response {
                status: 503,
                headers: response_headers,
                body: Vec::new(),
                details: Some("wasm_fail_stream".to_owned()),
            };
            (None, response, FilterOutcome::FailedStream)
        };
        Exchange {
            upstream_request,
            response: Some(response),
            source_address: remote,
            filter_state: BTreeMap::new(),
            outcome,
        }
    }

    fn reload(&mut self) {
        let metrics = std::mem::take(&mut self.store.data_mut().metrics);
        self.store = new_store(&self.engine, &self.options, metrics.for_new_vm());
        self.callbacks = None;
        self.state = PluginState::Running;
        self.start_vm();
    }

    fn start_vm(&mut self) {
        self.vm_starts += 1;
        let instance = match self.linker.instantiate(&mut self.store, &self.module) {
            Ok(i) => i,
            Err(e) => {
                self.state = PluginState::StartFailed(format!("instantiate: {e:#}"));
                return;
            }
        };
        // cpp-host resolves the memory, the allocator and every callback once, when it loads the VM
        // (`WasmBase::getFunctions`), and calls them directly from then on.
        let memory = match instance.get_export(&mut self.store, "memory") {
            Some(Extern::Memory(m)) => Some(m),
            _ => None,
        };
        // `malloc` first, `proxy_on_memory_allocate` only without it; neither fails the start-up.
        let alloc = ["malloc", "proxy_on_memory_allocate"]
            .into_iter()
            .find_map(|name| Some((name, instance.get_func(&mut self.store, name)?)));
        let alloc = match alloc.map(|(name, f)| (name, f.typed::<i32, i32>(&self.store))) {
            None => {
                self.state =
                    PluginState::StartFailed("Wasm module is missing malloc function.".into());
                return;
            }
            Some((_, Ok(f))) => Some(f),
            Some((name, Err(_))) => {
                self.state =
                    PluginState::StartFailed(format!("Bad function signature for: {name}"));
                return;
            }
        };
        self.store.data_mut().exports = Some(crate::state::GuestExports { memory, alloc });
        match Callbacks::resolve(instance, &mut self.store) {
            Ok(c) => self.callbacks = Some(c),
            Err(e) => {
                self.state = PluginState::StartFailed(e);
                return;
            }
        }
        let root = self.store.data().root_id;
        let config_len = u32::try_from(self.options.plugin_config.len()).unwrap_or(u32::MAX);
        let vm_len = u32::try_from(self.options.vm_config.len()).unwrap_or(u32::MAX);
        let steps = self
            .call(Phase::Initialize, Callback::Initialize, &[])
            .and_then(|_| {
                self.call(
                    Phase::Root(RootCallback::Create),
                    Callback::ContextCreate,
                    &[root, 0],
                )
            })
            .and_then(|_| {
                self.call(
                    Phase::Root(RootCallback::VmStart),
                    Callback::VmStart,
                    &[root, vm_len],
                )
            })
            .and_then(|ok| match ok {
                Some(0) => Err("on_vm_start returned false".to_owned()),
                _ => self.call(
                    Phase::Root(RootCallback::Configure),
                    Callback::Configure,
                    &[root, config_len],
                ),
            })
            .and_then(|ok| match ok {
                Some(0) => Err("on_configure returned false".to_owned()),
                _ => Ok(()),
            });
        if let Err(e) = steps {
            self.state = PluginState::StartFailed(e);
        }
    }

    /// Calls a callback with the phase set and a fresh fuel budget. A callback the module does not
    /// export is a no-op (`Ok(None)`); a trap is `Err(message)`.
    ///
    /// Like cpp-host, which calls each callback it resolved at load through the engine's generic call
    /// API (wasm-c-api `Func::call` on V8, `wasm_func_call` on wasmtime) with the arguments in a stack
    /// array: wasmtime's `Func::call`, which checks the arguments' types on every call.
    // Never inlined: `scripts/bench-filter.sh` counts instructions under callgrind with
    // `--toggle-collect` on this function (the guest plus the hostcalls it makes, no harness set-up).
    #[inline(never)]
    fn call(
        &mut self,
        phase: Phase,
        callback: Callback,
        args: &[u32],
    ) -> Result<Option<i32>, String> {
        let Some(callbacks) = &self.callbacks else {
            return Err("no instance".to_owned());
        };
        let Some(func) = callbacks.get(callback) else {
            return Ok(None);
        };
        // The ABI's words are i32 in Wasm; ids and counts are passed bit for bit.
        let mut params = [Val::I32(0); 3];
        for (slot, arg) in params.iter_mut().zip(args) {
            *slot = Val::I32(*arg as i32);
        }
        let params = params.get(..callback.params()).unwrap_or_default();
        let mut results = [Val::I32(0)];
        let results = results
            .get_mut(..usize::from(callback.returns_word()))
            .unwrap_or_default();
        self.store
            .set_fuel(self.options.fuel_per_callback)
            .map_err(|e| format!("{e:#}"))?;
        self.store.data_mut().phase = phase;
        self.store.data_mut().effective_context = None;
        let result = func.call(&mut self.store, params, results);
        self.store.data_mut().phase = Phase::Idle;
        let left = self.store.get_fuel().unwrap_or(0);
        self.fuel_used += self.options.fuel_per_callback.saturating_sub(left);
        result.map_err(|e| format!("{}: {e:?}", callback.export_name()))?;
        Ok(results.first().and_then(Val::i32))
    }

    fn stream(&self, id: u32) -> Option<&StreamState> {
        self.store.data().streams.get(&id)
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut StreamState> {
        self.store.data_mut().streams.get_mut(&id)
    }
}

/// The callbacks the harness drives (`proxy_on_*` of ABI 0.2.1, and `_initialize`).
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
enum Callback {
    Initialize,
    ContextCreate,
    VmStart,
    Configure,
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    ResponseBody,
    Log,
    Done,
    Delete,
}

const CALLBACKS: [Callback; 11] = [
    Callback::Initialize,
    Callback::ContextCreate,
    Callback::VmStart,
    Callback::Configure,
    Callback::RequestHeaders,
    Callback::RequestBody,
    Callback::ResponseHeaders,
    Callback::ResponseBody,
    Callback::Log,
    Callback::Done,
    Callback::Delete,
];

impl Callback {
    /// Number of i32 parameters in ABI 0.2.1.
    fn params(self) -> usize {
        match self {
            Callback::Initialize => 0,
            Callback::ContextCreate | Callback::VmStart | Callback::Configure => 2,
            Callback::RequestHeaders
            | Callback::RequestBody
            | Callback::ResponseHeaders
            | Callback::ResponseBody => 3,
            Callback::Log | Callback::Done | Callback::Delete => 1,
        }
    }

    /// Whether it returns an i32 (a bool or an action).
    fn returns_word(self) -> bool {
        !matches!(
            self,
            Callback::Initialize | Callback::ContextCreate | Callback::Log | Callback::Delete
        )
    }

    fn export_name(self) -> &'static str {
        match self {
            Callback::Initialize => "_initialize",
            Callback::ContextCreate => "proxy_on_context_create",
            Callback::VmStart => "proxy_on_vm_start",
            Callback::Configure => "proxy_on_configure",
            Callback::RequestHeaders => "proxy_on_request_headers",
            Callback::RequestBody => "proxy_on_request_body",
            Callback::ResponseHeaders => "proxy_on_response_headers",
            Callback::ResponseBody => "proxy_on_response_body",
            Callback::Log => "proxy_on_log",
            Callback::Done => "proxy_on_done",
            Callback::Delete => "proxy_on_delete",
        }
    }
}

/// One VM's callbacks, resolved when it starts; `None` where the module does not export one.
struct Callbacks {
    funcs: [Option<Func>; CALLBACKS.len()],
}

impl Callbacks {
    /// Resolves every callback and checks its signature; one exported with another signature fails
    /// the start-up, as in cpp-host ("Bad function signature for: <name>").
    fn resolve(instance: Instance, store: &mut Store<HostState>) -> Result<Callbacks, String> {
        let mut funcs = [None; CALLBACKS.len()];
        for (slot, callback) in funcs.iter_mut().zip(CALLBACKS) {
            let name = callback.export_name();
            let Some(func) = instance.get_func(&mut *store, name) else {
                continue;
            };
            let ty = func.ty(&*store);
            let params_ok = ty.params().len() == callback.params()
                && ty.params().all(|p| matches!(p, ValType::I32));
            let results_ok = ty.results().len() == usize::from(callback.returns_word())
                && ty.results().all(|r| matches!(r, ValType::I32));
            if !(params_ok && results_ok) {
                return Err(format!("Bad function signature for: {name}"));
            }
            *slot = Some(func);
        }
        Ok(Callbacks { funcs })
    }

    fn get(&self, callback: Callback) -> Option<Func> {
        self.funcs.get(callback as usize).copied().flatten()
    }
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    // A profiling aid, not Envoy behaviour: with `TRUEIP_WASM_PERFMAP` set, wasmtime writes
    // `/tmp/perf-<pid>.map` (each compiled function's address, size and name from the module's name
    // section), so a callgrind or perf profile of the guest can be read by function. Code and counts
    // are the same either way.
    if std::env::var_os("TRUEIP_WASM_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

fn new_store(engine: &Engine, options: &PluginOptions, metrics: Metrics) -> Store<HostState> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(options.memory_limit)
        .build();
    let state = HostState::new(
        limits,
        options.name.clone(),
        options.plugin_config.clone(),
        options.vm_config.clone(),
        metrics,
    );
    let mut store = Store::new(engine, state);
    store.data_mut().detach_request_headers = options.detach_request_headers;
    store.limiter(|s| &mut s.limits);
    store
}
