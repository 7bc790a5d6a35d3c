//! The `trueip` command: wires arguments to the subcommands and nothing else.
#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// trueip: the real client IP behind proxies, decided under explicit trust rules.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy (with no --config: a demo listener in front of the built-in echo upstream).
    Run(cmd::run::Args),
    /// Run only the echo upstream, answering with the client it saw and the forwarding headers.
    Echo(cmd::echo::Args),
    /// Generate bounded HTTP load, optionally behind PROXY v2 headers (for benchmarks).
    Loadgen(cmd::loadgen::Args),
    /// Show which client IP a request would get, and why.
    Explain(cmd::explain::Args),
    /// Validate a configuration and warn about dangerous settings.
    CheckConfig(cmd::check_config::Args),
    /// Serve TPROXY-intercepted connections (shorthand for `run` with transparent listeners).
    Tproxy(trueip_proxy::transparent::cli::TproxyArgs),
    /// Install, remove or verify the TPROXY interception rules and routes.
    Net(trueip_proxy::net::cli::NetArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own help and version requests are successes; everything else is a usage error.
            return ExitCode::from(if e.use_stderr() {
                cmd::sysexits::EX_USAGE
            } else {
                0
            });
        }
    };
    let code = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Echo(args) => cmd::echo::run(args),
        Command::Loadgen(args) => cmd::loadgen::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::CheckConfig(args) => cmd::check_config::run(args),
        Command::Tproxy(args) => cmd::tproxy::run(args),
        // `net` reports its own exit codes (77 without CAP_NET_ADMIN, 69 when a tool is missing).
        Command::Net(args) => return trueip_proxy::net::cli::run(args),
    };
    ExitCode::from(code)
}
