//! Command-line arguments of `trueip net`.

use std::process::ExitCode;

use ipnet::IpNet;

use super::plan::{Backend, Families, Plan};

/// `trueip net`: install, remove or verify the TPROXY interception.
#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: NetAction,
}

/// The `trueip net` actions; all take the same flags, so teardown and check find what setup made.
#[derive(Debug, clap::Subcommand)]
pub enum NetAction {
    /// Install the interception (idempotent), then verify it.
    Setup(PlanArgs),
    /// Remove everything setup installs.
    Teardown(PlanArgs),
    /// Report what is in place and what is missing; exit 1 if anything is missing.
    Check(PlanArgs),
    /// Print the commands setup would run, without running them.
    Print(PlanArgs),
}

/// The interception to manage.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The port the transparent listener is bound to.
    #[arg(long)]
    pub port: u16,
    /// Rule backend.
    #[arg(long, value_enum, default_value = "nft")]
    pub backend: Backend,
    /// Families to intercept.
    #[arg(long, value_enum, default_value = "both")]
    pub family: Families,
    /// Mark set on diverted packets (routed to the local table).
    #[arg(long, default_value = "0x100", value_parser = parse_u32)]
    pub mark: u32,
    /// Mark the proxy puts on connections it originates; these are never diverted.
    #[arg(long, default_value = "0x200", value_parser = parse_u32)]
    pub bypass_mark: u32,
    /// Routing table for the local default route.
    #[arg(long, default_value_t = 100)]
    pub table: u32,
    /// Intercept only these destination ports (repeatable; default: all).
    #[arg(long = "dport")]
    pub dports: Vec<u16>,
    /// Intercept only these destination networks (repeatable; default: all).
    #[arg(long = "dest")]
    pub dests: Vec<IpNet>,
    /// Intercept only on these interfaces (repeatable; default: all but loopback).
    #[arg(long = "in-iface")]
    pub in_ifaces: Vec<String>,
}

impl PlanArgs {
    /// The plan these flags describe.
    pub fn plan(self) -> Plan {
        Plan {
            backend: self.backend,
            families: self.family,
            port: self.port,
            mark: self.mark,
            bypass_mark: self.bypass_mark,
            table: self.table,
            dports: self.dports,
            dests: self.dests,
            in_ifaces: self.in_ifaces,
        }
    }
}

/// Exit statuses, after sysexits.h: 64 usage, 69 unavailable tool, 77 no permission, 1 check failed.
pub fn run(args: NetArgs) -> ExitCode {
    let (action, plan_args) = match args.action {
        NetAction::Setup(a) => ("setup", a),
        NetAction::Teardown(a) => ("teardown", a),
        NetAction::Check(a) => ("check", a),
        NetAction::Print(a) => ("print", a),
    };
    let plan = match plan_args.plan().validate() {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("trueip net {action}: {error}");
            return ExitCode::from(64);
        }
    };
    let result = match action {
        "setup" => super::setup(&plan).map(|report| {
            print!("{}", report.render(&plan));
            ExitCode::SUCCESS
        }),
        "teardown" => super::teardown(&plan).map(|()| {
            println!("trueip interception removed");
            ExitCode::SUCCESS
        }),
        "check" => super::check(&plan).map(|report| {
            print!("{}", report.render(&plan));
            if report.missing() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }),
        _ => {
            print!("{}", super::describe(&plan));
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("trueip net {action}: {error}");
        ExitCode::from(match error {
            super::NetError::NoCapability { .. } => 77,
            super::NetError::Exec(super::exec::ExecError::Missing { .. }) => 69,
            _ => 1,
        })
    })
}

fn parse_u32(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("not a 32-bit mark: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_parse_in_hex_or_decimal() {
        assert_eq!(parse_u32("0x100"), Ok(256));
        assert_eq!(parse_u32("512"), Ok(512));
        assert_eq!(
            parse_u32("0x1_0"),
            Err("not a 32-bit mark: \"0x1_0\"".into())
        );
    }
}
