//! `trueip tproxy` (shorthand for `trueip run` with TPROXY listeners) and the hook that lets
//! `main` hand `tproxy`/`net` to this module.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;

use serde_json::json;
use trueip::Config;

use crate::net::cli::NetArgs;
use crate::server::{ServeError, Server};

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

#[derive(Debug, clap::Parser)]
#[command(name = "trueip")]
struct Ext {
    #[command(subcommand)]
    command: ExtCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ExtCommand {
    /// Install, remove or verify the TPROXY interception rules and routes.
    Net(NetArgs),
    /// Serve TPROXY-intercepted TCP.
    Tproxy(TproxyArgs),
}

/// Runs `trueip net ...` and `trueip tproxy ...`; `None` for any other command line, which
/// `main` then handles itself. Kept as one hook so the transparent mode stays out of `main`.
pub fn dispatch(args: &[OsString]) -> Option<ExitCode> {
    let command = args.get(1).and_then(|arg| arg.to_str())?;
    if !matches!(command, "net" | "tproxy") {
        return None;
    }
    let ext = match Ext::try_parse_from(args) {
        Ok(ext) => ext,
        Err(error) => {
            let _ = error.print();
            return Some(if error.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    Some(match ext.command {
        ExtCommand::Net(args) => crate::net::cli::run(args),
        ExtCommand::Tproxy(args) => run_tproxy(args),
    })
}

fn run_tproxy(args: TproxyArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = match Config::from_json(&config_json(&args).to_string()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("trueip tproxy: {error}");
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trueip tproxy: cannot start the runtime: {error}");
            return ExitCode::from(71);
        }
    };
    runtime.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("trueip tproxy: {error}");
                let denied = matches!(&error, ServeError::Bind { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied);
                return ExitCode::from(if denied { 77 } else { 69 });
            }
        };
        for (name, address) in server.listeners() {
            tracing::info!(listener = %name, listen = %address, "transparent listener ready");
        }
        server.run(shutdown_signal(), Duration::from_secs(10)).await;
        ExitCode::SUCCESS
    })
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
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
    use super::*;

    fn args(extra: &[&str]) -> TproxyArgs {
        let mut argv = vec!["trueip", "tproxy"];
        argv.extend_from_slice(extra);
        match Ext::try_parse_from(argv).expect("valid flags").command {
            ExtCommand::Tproxy(args) => args,
            ExtCommand::Net(_) => unreachable!("parsed as tproxy"),
        }
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
