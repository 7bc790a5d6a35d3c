//! `trueip loadgen`: the benchmark load generator (see `scripts/bench-proxy.sh`).

use std::net::SocketAddr;
use std::time::Duration;

use trueip_proxy::loadgen::{self, Load};

use super::sysexits::{EX_OK, EX_USAGE};

/// Arguments of `trueip loadgen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server under test (loopback only in this project's scripts).
    #[arg(long)]
    target: SocketAddr,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Seconds to run (at most 300).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Total request budget.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// Start each connection with a PROXY v2 header (source 198.18.x.y, unique per connection).
    #[arg(long)]
    proxy_v2: bool,
    /// Request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Instead of load: open this many idle connections, print when open, hold for --duration.
    #[arg(long)]
    idle: Option<usize>,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Runs `trueip loadgen`; prints one JSON report line.
pub(crate) fn run(args: Args) -> u8 {
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((n, v)) = h.split_once(':') else {
            eprintln!("trueip loadgen: --header must be `Name: value`: {h:?}");
            return EX_USAGE;
        };
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let rt = match super::serve::runtime(args.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trueip loadgen: cannot start the runtime: {e}");
            return super::serve::EX_OSERR;
        }
    };
    let duration = Duration::from_secs(args.duration);
    if let Some(count) = args.idle {
        let n = rt.block_on(loadgen::hold_idle(
            args.target,
            count,
            args.proxy_v2,
            duration,
            |n| {
                println!("{}", serde_json::json!({ "idle_open": n }));
            },
        ));
        return if n == count { EX_OK } else { 1 };
    }
    let load = Load {
        target: args.target,
        connections: args.connections.max(1),
        duration,
        max_requests: args.max_requests,
        proxy_v2: args.proxy_v2,
        path: args.path,
        headers,
    };
    let report = rt.block_on(loadgen::run(&load));
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    EX_OK
}
