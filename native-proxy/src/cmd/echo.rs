//! `trueip echo --listen ADDR`: only the echo upstream.

use std::net::SocketAddr;
use std::time::Duration;

use super::serve::LogFormat;
use super::sysexits::EX_USAGE;

/// Arguments of `trueip echo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7879")]
    listen: SocketAddr,
    /// Also accept a PROXY v1/v2 header from these sources (CIDRs or `loopback`, `private`),
    /// and report it; useful as the upstream of a `send-proxy` hop.
    #[arg(long = "proxy-from", value_name = "CIDR")]
    proxy_from: Vec<String>,
    /// Trusted proxies whose forwarding headers the echo's own decision honours.
    #[arg(long = "trust", value_name = "CIDR", default_values = ["loopback"])]
    trust: Vec<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// Runs `trueip echo`.
pub(crate) fn run(args: Args) -> u8 {
    super::serve::init_logging(args.log_format);
    let proxy = if args.proxy_from.is_empty() {
        serde_json::json!({ "default": "forbid" })
    } else {
        serde_json::json!({ "default": "forbid", "rules": [{ "sources": args.proxy_from, "mode": "optional" }] })
    };
    let doc = serde_json::json!({
        "trust": { "proxies": args.trust },
        "sources": ["x-forwarded-for", "forwarded", { "header": "x-real-ip" }],
        "listeners": [{ "name": "echo", "address": args.listen, "protocol": "echo", "proxy_protocol": proxy }],
    });
    let config = match trueip::Config::from_json(&doc.to_string()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trueip echo: {e}");
            return EX_USAGE;
        }
    };
    super::serve::serve(config, 1, Duration::from_secs(5), |server| {
        for (name, addr) in server.listeners() {
            tracing::info!(listener = %name, address = %addr, "echo upstream listening");
        }
    })
}
