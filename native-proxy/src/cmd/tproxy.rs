//! `trueip tproxy`: serve TPROXY-intercepted connections; shorthand for `trueip run` with transparent listeners.

use std::time::Duration;

use trueip_proxy::transparent::cli::{TproxyArgs, config};

use super::serve::{LogFormat, init_logging, serve};
use super::sysexits::EX_USAGE;

/// How long open connections may finish after SIGTERM/SIGINT.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs `trueip tproxy`.
pub(crate) fn run(args: TproxyArgs) -> u8 {
    init_logging(LogFormat::Text);
    let config = match config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("trueip tproxy: {e}");
            return EX_USAGE;
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    serve(config, workers, DRAIN, |server| {
        for (name, address) in server.listeners() {
            tracing::info!(listener = %name, listen = %address, "transparent listener ready");
        }
    })
}
