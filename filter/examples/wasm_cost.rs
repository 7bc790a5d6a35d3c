//! Per-request cost of the trueip filter against a minimal proxy-wasm filter (reads one header, sets
//! another) on the same requests: a 5-hop X-Forwarded-For chain behind a trusted load balancer.
//! `scripts/bench-filter.sh` runs every mode.
//!
//! - `wasm_cost fuel [N]`: Wasm operators per request (wasmtime fuel: deterministic and engine
//!   independent; the host's work is not counted), both filters, in-process.
//! - `wasm_cost precompile DIR`: compiles both modules with cranelift into `DIR/<name>.cwasm`.
//! - `wasm_cost replay FILE.cwasm N`: loads one precompiled module and runs N requests. Run under
//!   `valgrind --tool=callgrind --toggle-collect=<Plugin::call>`, this counts the machine
//!   instructions of every filter callback — the guest's code and the hostcalls it makes — without
//!   cranelift and without the harness's request set-up.
use std::net::SocketAddr;
use std::path::Path;

use trueip_wasm_harness::wasmtime::Module;
use trueip_wasm_harness::{
    CompiledModule, Connection, Plugin, PluginOptions, PluginState, Request, WasiProfile,
    wasm_module,
};

const CONFIG: &str = r#"{"trust":{"proxies":["10.0.0.0/8"]},"rewrite":{"client_header":"x-real-ip","xff":"append"}}"#;

const FILTERS: [(&str, &str); 2] = [
    ("trueip", "trueip-filter"),
    ("minimal", "trueip-minimal-filter"),
];

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => fuel(10_000),
        ["fuel"] => fuel(10_000),
        ["fuel", n] => fuel(n.parse()?),
        ["precompile", dir] => precompile(Path::new(dir)),
        ["replay", file, n] => replay(Path::new(file), n.parse()?),
        _ => Err("usage: wasm_cost fuel [N] | precompile DIR | replay FILE.cwasm N".into()),
    }
}

/// The benchmark request: `X-Forwarded-For` with four entries, from a trusted peer that Envoy appends.
fn request() -> Result<Request, Error> {
    let peer: SocketAddr = "10.0.0.2:5000".parse()?;
    let local: SocketAddr = "10.0.0.100:8080".parse()?;
    Ok(Request::get(
        Connection::plain(peer, local),
        &[
            (
                "x-forwarded-for",
                "203.0.113.9, 10.1.0.1, 10.1.0.2, 10.1.0.3",
            ),
            ("user-agent", "bench"),
            ("accept", "*/*"),
        ],
    ))
}

fn fuel(n: u64) -> Result<(), Error> {
    let req = request()?;
    let mut results = Vec::new();
    for (name, package) in FILTERS {
        let mut plugin = Plugin::load(&wasm_module(package)?, PluginOptions::new(CONFIG))?;
        plugin.handle(&req);
        let before = plugin.fuel_used();
        for _ in 0..n {
            plugin.handle(&req);
        }
        let per = (plugin.fuel_used() - before) / n.max(1);
        println!("{name:8} {per:>8} wasm operators per request");
        results.push(per);
    }
    if let [t, m] = results[..] {
        println!("ratio    {:.2}x", t as f64 / m.max(1) as f64);
    }
    Ok(())
}

fn precompile(dir: &Path) -> Result<(), Error> {
    let engine = CompiledModule::portable_engine()?;
    std::fs::create_dir_all(dir)?;
    for (name, package) in FILTERS {
        let compiled = engine.precompile_module(&wasm_module(package)?)?;
        std::fs::write(dir.join(format!("{name}.cwasm")), compiled)?;
    }
    Ok(())
}

fn replay(file: &Path, n: u64) -> Result<(), Error> {
    let engine = CompiledModule::portable_engine()?;
    // SAFETY: wasmtime requires that the file is the unmodified output of `precompile_module` on an
    // engine with the same configuration — `precompile` above, run by scripts/bench-filter.sh just
    // before this; wasmtime still checks the engine and version recorded in the artifact.
    #[allow(unsafe_code)]
    let module =
        unsafe { Module::deserialize_file(&engine, file) }.map_err(|e| format!("{e:?}"))?;
    let compiled = CompiledModule::from_module(&engine, module, WasiProfile::Envoy2022To2024)?;
    let mut plugin = Plugin::from_compiled(&compiled, PluginOptions::new(CONFIG))?;
    if *plugin.state() != PluginState::Running {
        return Err(format!("plugin did not start: {:?}", plugin.state()).into());
    }
    let req = request()?;
    for _ in 0..n {
        plugin.handle(&req);
    }
    Ok(())
}
