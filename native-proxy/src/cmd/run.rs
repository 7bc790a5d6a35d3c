//! `trueip run [--config FILE]`: the proxy. SIGHUP re-reads FILE; SIGTERM/SIGINT drain and exit.

use std::path::PathBuf;
use std::time::Duration;

use trueip_proxy::{ReloadHandle, Server};

use super::serve::LogFormat;

/// Arguments of `trueip run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file (JSON). Without it, an embedded demo configuration runs: an HTTP
    /// listener on 127.0.0.1:7878 in front of the built-in echo upstream on 127.0.0.1:7879.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Longest time to let open connections finish after SIGTERM/SIGINT.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    drain_timeout: u64,
    /// Runtime worker threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = default_workers())]
    workers: usize,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `trueip run`.
pub(crate) fn run(args: Args) -> u8 {
    super::serve::init_logging(args.log_format);
    let config = match load(args.config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trueip: {e}");
            return e.exit_code();
        }
    };
    let path = args.config.clone();
    super::serve::serve(
        config,
        args.workers,
        Duration::from_secs(args.drain_timeout),
        move |server| {
            announce(server, path.is_none());
            tokio::spawn(reload_on_hup(server.reload_handle(), path));
        },
    )
}

/// The configuration at `path`, or the embedded demo; the error is one line for stderr or the reload log.
fn load(path: Option<&PathBuf>) -> Result<trueip::Config, super::LoadError> {
    super::load_config(path.map(PathBuf::as_path), &super::DEMO_PROXY)
}

/// Prints where everything listens; with the embedded configuration, also what to try.
fn announce(server: &Server, demo: bool) {
    for (name, addr) in server.listeners() {
        tracing::info!(listener = %name, address = %addr, "listening");
    }
    if let Some(admin) = server.admin_addr() {
        tracing::info!(address = %admin, "admin endpoint: /metrics /ready /live /config");
    }
    let Some(edge) = server.local_addr("edge").filter(|_| demo) else {
        return;
    };
    {
        println!("trueip is running with its embedded demo configuration. Try:");
        println!("  curl -s http://{edge}/ -H 'X-Forwarded-For: 203.0.113.7'");
        println!("  curl -s --haproxy-protocol http://{edge}/ -H 'X-Forwarded-For: 203.0.113.7'");
        if let Some(admin) = server.admin_addr() {
            println!("  curl -s http://{admin}/metrics");
        }
        println!("Stop with Ctrl-C.");
    }
}

/// Reloads the configuration file on every SIGHUP; a bad file is refused and logged.
async fn reload_on_hup(handle: ReloadHandle, path: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot install the SIGHUP handler; reload is unavailable");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the configuration");
            match load(path.as_ref()) {
                Ok(config) => {
                    // The server logs the outcome and counts it in trueip_config_reloads_total.
                    let _ = handle.reload(config).await;
                }
                Err(e) => handle.refuse(&e.to_string()),
            }
        }
    }
}
