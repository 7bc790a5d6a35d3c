//! What the serving subcommands (`run`, `echo`) share: logging, the runtime, signals.

use std::time::Duration;

use trueip_proxy::Server;

/// sysexits `EX_UNAVAILABLE`: a socket could not be bound.
pub(crate) const EX_UNAVAILABLE: u8 = 69;
/// sysexits `EX_OSERR`: the runtime could not start.
pub(crate) const EX_OSERR: u8 = 71;

/// Log output format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the `tracing` subscriber; `RUST_LOG` overrides the default `info` level.
pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A runtime with `workers` threads (1 = current-thread runtime, no work stealing).
pub(crate) fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// Resolves on SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                tracing::warn!("cannot install signal handlers; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Binds `config` and serves until a shutdown signal, draining for at most `grace`.
/// `on_bound` runs once everything is bound (to print where to connect, or to arm reloads).
pub(crate) fn serve(
    config: trueip::Config,
    workers: usize,
    grace: Duration,
    on_bound: impl FnOnce(&Server),
) -> u8 {
    let rt = match runtime(workers) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trueip: cannot start the runtime: {e}");
            return EX_OSERR;
        }
    };
    rt.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("trueip: {e}");
                // Binding a transparent socket (or a low port) without the capability is a permission problem,
                // which supervisors and the TPROXY docs tell apart from an address in use.
                let denied = matches!(&e, trueip_proxy::ServeError::Bind { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied);
                return if denied {
                    super::sysexits::EX_NOPERM
                } else {
                    EX_UNAVAILABLE
                };
            }
        };
        on_bound(&server);
        server.run(shutdown_signal(), grace).await;
        super::sysexits::EX_OK
    })
}
