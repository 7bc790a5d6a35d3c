//! `trueip tproxy`: shorthand for `trueip run` with TPROXY listeners. This module turns the flags into a
//! configuration; `cmd/tproxy.rs` in the binary serves it like any other.

use std::net::SocketAddr;

use serde_json::json;
use trueip::Config;

/// `trueip tproxy`: serve TPROXY-intercepted TCP, connecting upstream from the client's address.
#[derive(Debug, clap::Args)]
pub struct TproxyArgs {
    /// Address of a transparent listener (repeatable; one per family, e.g. 0.0.0.0:15001 and [::]:15001).
    #[arg(long = "listen", required = true)]
    pub listen: Vec<SocketAddr>,
    /// Send every connection here instead of to its original destination.
    #[arg(long)]
    pub upstream: Option<SocketAddr>,
    /// Which address upstream connections leave from.
    #[arg(long, value_enum, default_value = "client")]
    pub source: SourceArg,
    /// `SO_MARK` for upstream connections; must match `trueip net --bypass-mark`.
    #[arg(long, default_value = "0x200", value_parser = parse_mark)]
    pub mark: u32,
    /// Do not mark upstream connections.
    #[arg(long)]
    pub no_mark: bool,
    /// Upstream connect timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub connect_timeout_ms: u64,
    /// Connections served at once.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Every connection starts with a PROXY v1/v2 header whose source is the client.
    #[arg(long)]
    pub proxy_protocol: bool,
    /// Bound on reading the PROXY header, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub proxy_header_timeout_ms: u64,
}

/// `--source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    /// Leave from the client's address (IP_TRANSPARENT): the upstream sees the client.
    Client,
    /// Leave from the proxy's address: the upstream sees the proxy (REDIRECT-like).
    Proxy,
}

/// The configuration `trueip tproxy` runs: [`config_json`] parsed by the same loader as any file, so the flags
/// can never express what a configuration file could not.
///
/// # Errors
/// A flag combination the configuration schema refuses, with its field path.
pub fn config(args: &TproxyArgs) -> Result<Config, trueip::ConfigError> {
    Config::from_json(&config_json(args).to_string())
}

/// The listener configuration the flags stand for: one `tcp` listener per `--listen`, TPROXY
/// interception, and the transparent settings. `trueip tproxy` is shorthand for `trueip run`
/// with this configuration, so both share one code path.
fn config_json(args: &TproxyArgs) -> serde_json::Value {
    let listeners: Vec<serde_json::Value> = args
        .listen
        .iter()
        .enumerate()
        .map(|(index, address)| {
            let mut extra = serde_json::Map::new();
            let mut listener = json!({
                "name": format!("tproxy-{index}"),
                "address": address.to_string(),
                "protocol": "tcp",
                "max_connections": args.max_connections.clamp(1, u32::MAX as usize),
                "transparent": {
                    "interception": "tproxy",
                    "upstream_source": match args.source {
                        SourceArg::Client => "client",
                        SourceArg::Proxy => "proxy",
                    },
                    "mark": if args.no_mark { 0 } else { args.mark },
                    "connect_timeout_ms": args.connect_timeout_ms,
                },
            });
            if let Some(upstream) = args.upstream {
                extra.insert("upstream".into(), json!({ "address": upstream.to_string(), "connect_timeout_ms": args.connect_timeout_ms }));
            }
            if args.proxy_protocol {
                extra.insert("proxy_protocol".into(), json!({ "default": "require", "header_timeout_ms": args.proxy_header_timeout_ms }));
            }
            if let Some(fields) = listener.as_object_mut() {
                fields.extend(extra);
            }
            listener
        })
        .collect();
    json!({ "listeners": listeners })
}

fn parse_mark(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("not a 32-bit mark: {text:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser as _;

    use super::*;

    /// The flags alone, parsed as the binary parses them.
    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        args: TproxyArgs,
    }

    fn args(extra: &[&str]) -> TproxyArgs {
        let mut argv = vec!["trueip-tproxy"];
        argv.extend_from_slice(extra);
        Flags::try_parse_from(argv).expect("valid flags").args
    }

    #[test]
    fn flags_become_a_validated_listener_config() {
        let args = args(&[
            "--listen",
            "0.0.0.0:15001",
            "--listen",
            "[::]:15001",
            "--no-mark",
        ]);
        let config = Config::from_json(&config_json(&args).to_string()).expect("valid config");
        assert_eq!(config.listeners.len(), 2);
        let first = config.listeners.first().expect("listener");
        assert_eq!(first.name, "tproxy-0");
        assert!(matches!(
            first.kind,
            trueip::config::listener::ListenerKind::Passthrough(_)
        ));
        let transparent = first.transparent.expect("transparent");
        assert_eq!(transparent.mark, 0);
        assert_eq!(transparent.connect_timeout, Duration::from_secs(5));
    }

    #[test]
    fn upstream_and_proxy_protocol_flags() {
        let args = args(&[
            "--listen",
            "10.0.0.1:15002",
            "--upstream",
            "10.0.0.5:80",
            "--proxy-protocol",
            "--source",
            "proxy",
        ]);
        let config = Config::from_json(&config_json(&args).to_string()).expect("valid config");
        let listener = config.listeners.first().expect("listener");
        assert_eq!(
            listener.kind.upstream().map(|u| u.address),
            Some("10.0.0.5:80".parse().expect("addr"))
        );
        assert_eq!(
            listener.proxy_protocol.default_mode,
            trueip::config::listener::DefaultMode::Require
        );
        assert_eq!(
            listener.transparent.map(|t| t.upstream_source),
            Some(trueip::config::transparent::UpstreamSource::Proxy)
        );
    }
}
