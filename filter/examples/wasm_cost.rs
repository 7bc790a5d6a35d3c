//! Per-request cost of the trueip filter against a minimal proxy-wasm filter (reads one header, sets
//! another) on the same requests: a 5-hop X-Forwarded-For chain behind a trusted load balancer.
//!
//! `cargo run -p trueip-filter --example wasm_cost [N]` prints Wasm operators per request (wasmtime
//! fuel: deterministic and engine independent; host-side work is not counted). scripts/bench-filter.sh
//! runs it.
use std::net::SocketAddr;

use trueip_wasm_harness::{Connection, Plugin, PluginOptions, Request, wasm_module};

const CONFIG: &str = r#"{"trust":{"proxies":["10.0.0.0/8"]},"rewrite":{"client_header":"x-real-ip","xff":"append"}}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let peer: SocketAddr = "10.0.0.2:5000".parse()?;
    let local: SocketAddr = "10.0.0.100:8080".parse()?;
    let req = Request::get(
        Connection::plain(peer, local),
        &[
            (
                "x-forwarded-for",
                "203.0.113.9, 10.1.0.1, 10.1.0.2, 10.1.0.3",
            ),
            ("user-agent", "bench"),
            ("accept", "*/*"),
        ],
    );
    let mut results = Vec::new();
    for (name, package) in [
        ("trueip", "trueip-filter"),
        ("minimal", "trueip-minimal-filter"),
    ] {
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
