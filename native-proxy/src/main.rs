//! The `trueip` command: a thin dispatcher; each subcommand lives in its own module.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// The real client IP behind proxies, decided under explicit trust rules.
#[derive(Debug, Parser)]
#[command(name = "trueip", version, about)]
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
}

fn main() -> ExitCode {
    // `trueip net ...` and `trueip tproxy ...` (transparent mode) are handled in their own modules.
    if let Some(code) =
        trueip_proxy::transparent::cli::dispatch(&std::env::args_os().collect::<Vec<_>>())
    {
        return code;
    }
    match Cli::parse().command {
        Command::Run(args) => cmd::run::main(args),
        Command::Echo(args) => cmd::echo::main(args),
    }
}
