//! Envoy's rules about *when* a hostcall may be made, enforced by the harness and checked here with
//! small probe modules (built with `wasm-encoder`) that make exactly the calls a filter must not, and
//! report each status through filter state:
//! - `_initialize` may only make a few calls (cpp-host `restricted_callback`); anything else traps and
//!   the plugin fails to start.
//! - `proxy_set_effective_context` on a context that does not exist, or no longer exists because its
//!   stream was deleted, returns BadArgument (cpp-host `exports.cc`), as does a header map that is not
//!   attached in the current callback (response headers during `on_request_headers`).
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;

use trueip_wasm_harness::{
    CompiledModule, Connection, Exchange, Plugin, PluginOptions, PluginState, Request, Status,
    WasiProfile,
};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, MemArg, MemorySection, MemoryType, Module, TypeSection,
    ValType,
};

/// What the probe's `_initialize` does.
#[derive(Clone, Copy)]
enum Init {
    /// Nothing.
    Nothing,
    /// `proxy_log`: allowed during `_initialize`.
    Log,
    /// `proxy_get_header_map_pairs`: restricted.
    HeaderMap,
    /// `proxy_set_effective_context`: restricted.
    EffectiveContext,
}

// Imported functions, in import order.
const SET_EFFECTIVE_CONTEXT: u32 = 0;
const GET_HEADER_MAP_PAIRS: u32 = 1;
const LOG: u32 = 2;
const SET_PROPERTY: u32 = 3;

// Data laid out in the probe's memory: property names, a log message, result slots, out-pointers.
const NAMES: [(&str, u32); 4] = [
    ("missing", 0),
    ("previous", 16),
    ("response_map", 32),
    ("hello", 48),
];
const RESULTS: u32 = 128;
const OUT_PTR: u32 = 256;
const OUT_SIZE: u32 = 260;
const FREE_AREA: u32 = 1024;

/// A module whose `on_request_headers` stores three statuses in filter state:
/// `wasm.missing` — `proxy_set_effective_context(999)` (no such context);
/// `wasm.previous` — `proxy_set_effective_context(context_id - 1)`: the root (id 1) for the first
/// stream, the deleted previous stream afterwards;
/// `wasm.response_map` — `proxy_get_header_map_pairs(response headers)`, not attached yet.
/// With `allocator`, it exports `proxy_on_memory_allocate` (handing out a fixed free area), without
/// which cpp-host refuses to start a VM.
fn probe(init: Init, allocator: bool) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []); // 0
    types.ty().function([ValType::I32], [ValType::I32]); // 1
    types.ty().function([ValType::I32; 3], [ValType::I32]); // 2
    types.ty().function([ValType::I32; 4], [ValType::I32]); // 3
    types.ty().function([ValType::I32; 2], []); // 4
    types.ty().function([ValType::I32; 2], [ValType::I32]); // 5

    let mut imports = ImportSection::new();
    imports.import(
        "env",
        "proxy_set_effective_context",
        EntityType::Function(1),
    );
    imports.import("env", "proxy_get_header_map_pairs", EntityType::Function(2));
    imports.import("env", "proxy_log", EntityType::Function(2));
    imports.import("env", "proxy_set_property", EntityType::Function(3));

    // Defined functions start after the four imports.
    let mut defined: Vec<(&str, u32)> = vec![
        ("proxy_abi_version_0_2_1", 0),
        ("_initialize", 0),
        ("proxy_on_context_create", 4),
        ("proxy_on_vm_start", 5),
        ("proxy_on_configure", 5),
        ("proxy_on_request_headers", 2),
    ];
    if allocator {
        defined.push(("proxy_on_memory_allocate", 1));
    }
    let mut functions = FunctionSection::new();
    let mut exports = ExportSection::new();
    for (i, (name, ty)) in (4u32..).zip(defined) {
        functions.function(ty);
        exports.export(name, ExportKind::Func, i);
    }
    exports.export("memory", ExportKind::Memory, 0);

    let mut code = CodeSection::new();
    code.function(&body(|_| {})); // proxy_abi_version_0_2_1
    code.function(&body(|f| match init {
        Init::Nothing => {}
        Init::Log => {
            f.instructions()
                .i32_const(2)
                .i32_const(NAMES[3].1 as i32)
                .i32_const(NAMES[3].0.len() as i32)
                .call(LOG)
                .drop();
        }
        Init::HeaderMap => {
            f.instructions()
                .i32_const(0)
                .i32_const(OUT_PTR as i32)
                .i32_const(OUT_SIZE as i32)
                .call(GET_HEADER_MAP_PAIRS)
                .drop();
        }
        Init::EffectiveContext => {
            f.instructions()
                .i32_const(1)
                .call(SET_EFFECTIVE_CONTEXT)
                .drop();
        }
    }));
    code.function(&body(|_| {})); // proxy_on_context_create
    code.function(&body(|f| {
        f.instructions().i32_const(1);
    })); // proxy_on_vm_start
    code.function(&body(|f| {
        f.instructions().i32_const(1);
    })); // proxy_on_configure
    code.function(&body(|f| {
        let store = MemArg {
            offset: 0,
            align: 2,
            memory_index: 0,
        };
        let mut i = f.instructions();
        // RESULTS[0] = set_effective_context(999)
        i.i32_const(RESULTS as i32)
            .i32_const(999)
            .call(SET_EFFECTIVE_CONTEXT)
            .i32_store(store);
        // RESULTS[1] = set_effective_context(context_id - 1)
        i.i32_const(RESULTS as i32 + 4)
            .local_get(0)
            .i32_const(1)
            .i32_sub()
            .call(SET_EFFECTIVE_CONTEXT)
            .i32_store(store);
        // RESULTS[2] = get_header_map_pairs(ResponseHeaders)
        i.i32_const(RESULTS as i32 + 8)
            .i32_const(2)
            .i32_const(OUT_PTR as i32)
            .i32_const(OUT_SIZE as i32)
            .call(GET_HEADER_MAP_PAIRS)
            .i32_store(store);
        // Back to this stream before writing its filter state.
        i.local_get(0).call(SET_EFFECTIVE_CONTEXT).drop();
        for (slot, (name, at)) in NAMES.iter().take(3).enumerate() {
            i.i32_const(*at as i32)
                .i32_const(name.len() as i32)
                .i32_const((RESULTS + 4 * slot as u32) as i32)
                .i32_const(4)
                .call(SET_PROPERTY)
                .drop();
        }
        i.i32_const(0); // Continue
    }));
    if allocator {
        code.function(&body(|f| {
            f.instructions().i32_const(FREE_AREA as i32);
        })); // proxy_on_memory_allocate
    }

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut data = DataSection::new();
    for (name, at) in NAMES {
        data.active(0, &ConstExpr::i32_const(at as i32), name.bytes());
    }

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}

fn body(emit: impl FnOnce(&mut Function)) -> Function {
    let mut f = Function::new([]);
    emit(&mut f);
    f.instructions().end();
    f
}

fn load(init: Init) -> Plugin {
    load_probe(probe(init, true))
}

fn load_probe(wasm: Vec<u8>) -> Plugin {
    let compiled = CompiledModule::new(&wasm, WasiProfile::Envoy2022To2024)
        .unwrap_or_else(|e| panic!("probe does not load: {e}"));
    Plugin::from_compiled(&compiled, PluginOptions::new("")).unwrap()
}

fn request() -> Request {
    let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let local: SocketAddr = "10.0.0.100:8080".parse().unwrap();
    Request::get(Connection::plain(peer, local), &[("x-a", "1")])
}

fn status_in(ex: &Exchange, name: &str) -> u32 {
    let raw = ex
        .filter_state
        .get(&format!("wasm.{name}"))
        .unwrap_or_else(|| panic!("no wasm.{name} in {:?}", ex.filter_state));
    u32::from_le_bytes(raw.as_slice().try_into().unwrap())
}

#[test]
fn initialize_may_log_but_not_touch_streams() {
    let p = load(Init::Nothing);
    assert_eq!(p.state(), &PluginState::Running);
    let p = load(Init::Log);
    assert_eq!(p.state(), &PluginState::Running);
    assert!(
        p.logs().iter().any(|l| l.message == "hello"),
        "{:?}",
        p.logs()
    );
    for init in [Init::HeaderMap, Init::EffectiveContext] {
        let p = load(init);
        match p.state() {
            PluginState::StartFailed(e) => assert!(e.contains("restricted_callback"), "{e}"),
            other => panic!("a restricted call during _initialize left the plugin {other:?}"),
        }
    }
}

#[test]
fn missing_deleted_and_detached_contexts_are_bad_arguments() {
    let mut p = load(Init::Nothing);
    let bad = Status::BadArgument as u32;
    let first = p.handle(&request());
    assert_eq!(status_in(&first, "missing"), bad);
    // The first stream's previous id is the root context, which exists.
    assert_eq!(status_in(&first, "previous"), Status::Ok as u32);
    assert_eq!(status_in(&first, "response_map"), bad);
    assert!(first.upstream_request.is_some());
    // The second stream's previous id is the first stream, deleted when it ended.
    let second = p.handle(&request());
    assert_eq!(status_in(&second, "previous"), bad);
    assert_eq!(p.state(), &PluginState::Running);
}

/// cpp-host takes the host's buffers from the module's `malloc`, else its `proxy_on_memory_allocate`,
/// and fails the VM when it exports neither ("Wasm module is missing malloc function.").
#[test]
fn a_module_without_an_allocator_does_not_start() {
    let p = load_probe(probe(Init::Nothing, false));
    match p.state() {
        PluginState::StartFailed(e) => assert!(e.contains("missing malloc"), "{e}"),
        other => panic!("a module without an allocator left the plugin {other:?}"),
    }
}
