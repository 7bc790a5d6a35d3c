//! `trueip tproxy` and the hook that lets `main` hand `tproxy`/`net` to this module.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;

use super::forward::{self, ForwardConfig, HeaderLimits, SourceMode, Target};
use super::socket::{self, ConnectOptions, Mark, SocketError};
use crate::net::cli::NetArgs;

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
    let config = ForwardConfig {
        target: args.upstream.map_or(Target::OriginalDst, Target::Upstream),
        source: match args.source {
            SourceArg::Client => SourceMode::Client,
            SourceArg::Proxy => SourceMode::Proxy,
        },
        connect: ConnectOptions {
            mark: (!args.no_mark).then_some(Mark(args.mark)),
            timeout: Duration::from_millis(args.connect_timeout_ms),
        },
        max_connections: args.max_connections.max(1),
        drain: Duration::from_secs(10),
        proxy_protocol: args.proxy_protocol.then_some(HeaderLimits {
            timeout: Duration::from_millis(args.proxy_header_timeout_ms),
            max_bytes: 4096,
        }),
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
        let mut listeners = Vec::new();
        for addr in &args.listen {
            match socket::transparent_listener(*addr, 1024) {
                Ok(listener) => listeners.push(listener),
                Err(error) => {
                    eprintln!("trueip tproxy: {error}");
                    return ExitCode::from(match error {
                        SocketError::PermissionDenied { .. } => 77,
                        _ => 71,
                    });
                }
            }
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for listener in listeners {
            forward::announce(&listener);
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(forward::serve(listener, config, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })));
        }
        shutdown_signal().await;
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
        ExitCode::SUCCESS
    })
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
