//! `trueip net setup|teardown|check|print`: the kernel side of transparent proxying.
//!
//! TPROXY needs three things outside the process: firewall rules that divert matching TCP to the
//! transparent listener (and deliver replies to transparent upstream connects), an `ip rule` that
//! sends marked packets to a table, and a `local` default route in that table. `setup` installs
//! them idempotently and then runs `check`, which reports exactly what is missing, so a half
//! installed interception never looks like a working one.

pub mod cli;
pub mod exec;
pub mod iptables;
pub mod nft;
pub mod plan;
pub mod route;

use std::fmt::Write as _;

use crate::transparent::caps::{CapSet, Capability};
use exec::ExecError;
use plan::{Backend, Family, Plan};

/// Why a `trueip net` command could not do its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Changing rules and routes needs `CAP_NET_ADMIN`.
    #[error(
        "CAP_NET_ADMIN is required to {action} the interception (effective capabilities {caps}): \
         run as root, or give the container NET_ADMIN (securityContext.capabilities.add)"
    )]
    NoCapability {
        /// `setup`, `teardown` or `check`.
        action: &'static str,
        /// What the process has.
        caps: CapSet,
    },
    /// A tool was missing or failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// `setup` ran but the self-check still finds things missing.
    #[error(
        "setup finished but the self-check found {missing} missing item(s); see the report above"
    )]
    Incomplete {
        /// How many.
        missing: usize,
    },
}

/// One line of a check report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Whether it is in place.
    pub present: bool,
    /// What it is.
    pub what: String,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Required items, present or not.
    pub items: Vec<Item>,
    /// Observations that do not fail the check but explain common failures.
    pub notes: Vec<String>,
}

impl Report {
    /// Required items that are missing.
    pub fn missing(&self) -> usize {
        self.items.iter().filter(|item| !item.present).count()
    }

    /// The report as printed by `trueip net check`.
    pub fn render(&self, plan: &Plan) -> String {
        let mut out = format!("{}\n", summary(plan));
        for item in &self.items {
            let status = if item.present { "ok" } else { "MISSING" };
            let _ = writeln!(out, "  {status:<8} {}", item.what);
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note     {note}");
        }
        match self.missing() {
            0 => out.push_str("interception is installed\n"),
            n => {
                let _ = writeln!(
                    out,
                    "{n} missing: run `trueip net setup` with the same flags"
                );
            }
        }
        out
    }
}

/// Installs the interception and verifies it.
pub fn setup(plan: &Plan) -> Result<Report, NetError> {
    require_net_admin("setup")?;
    if !route::loopback_up()? {
        exec::run_ok("ip", &["link", "set", "lo", "up"].map(String::from), None)?;
    }
    match plan.backend {
        Backend::Nft => {
            exec::run_ok("nft", &["-f".into(), "-".into()], Some(&nft::script(plan)))?;
        }
        Backend::Iptables => {
            for &family in plan.families.list() {
                iptables::setup(plan, family)?;
            }
        }
    }
    for &family in plan.families.list() {
        route::setup(plan, family)?;
    }
    let report = check(plan)?;
    match report.missing() {
        0 => Ok(report),
        missing => {
            eprint!("{}", report.render(plan));
            Err(NetError::Incomplete { missing })
        }
    }
}

/// Removes everything `setup` installs; removing what is not there is not an error.
pub fn teardown(plan: &Plan) -> Result<(), NetError> {
    require_net_admin("teardown")?;
    match plan.backend {
        Backend::Nft => {
            if exec::run(
                "nft",
                &["list", "table", "inet", nft::TABLE].map(String::from),
                None,
            )?
            .success
            {
                exec::run_ok(
                    "nft",
                    &["delete", "table", "inet", nft::TABLE].map(String::from),
                    None,
                )?;
            }
        }
        Backend::Iptables => {
            for &family in plan.families.list() {
                iptables::teardown(family)?;
            }
        }
    }
    for &family in plan.families.list() {
        route::teardown(plan, family)?;
    }
    Ok(())
}

/// Reports which parts of the interception are in place.
pub fn check(plan: &Plan) -> Result<Report, NetError> {
    // Reading nftables and iptables state needs CAP_NET_ADMIN as well.
    require_net_admin("check")?;
    let mut report = Report::default();
    match plan.backend {
        Backend::Nft => nft::check(plan, &mut report)?,
        Backend::Iptables => {
            for &family in plan.families.list() {
                iptables::check(plan, family, &mut report)?;
            }
        }
    }
    report.items.push(Item {
        present: route::loopback_up()?,
        what: "loopback interface is up".into(),
    });
    for &family in plan.families.list() {
        let rule = exec::render("ip", &route::rule_args(plan, family, "add"));
        report.items.push(Item {
            present: route::rule_present(plan, family)?,
            what: format!("routing rule: {rule}"),
        });
        let local = exec::render("ip", &route::route_args(plan, family, "replace"));
        report.items.push(Item {
            present: route::route_present(plan, family)?,
            what: format!("local route: {local}"),
        });
    }
    notes(plan, &mut report);
    Ok(report)
}

/// What `setup` would apply, as commands a reviewer can read (the `print` action).
pub fn describe(plan: &Plan) -> String {
    let mut out = format!("# {}\n", summary(plan));
    match plan.backend {
        Backend::Nft => {
            let _ = write!(out, "nft -f - <<'EOF'\n{}EOF\n", nft::script(plan));
        }
        Backend::Iptables => {
            for &family in plan.families.list() {
                let tool = iptables::tool(family);
                for chain in iptables::CHAINS {
                    let _ = writeln!(out, "{tool} -w -t mangle -N {chain}");
                }
                for rule in iptables::rules(plan, family) {
                    let _ = writeln!(
                        out,
                        "{}",
                        exec::render(tool, &iptables::args("-A", rule.chain, &rule.spec))
                    );
                }
                for (builtin, ours) in iptables::JUMPS {
                    let _ = writeln!(out, "{tool} -w -t mangle -I {builtin} 1 -j {ours}");
                }
            }
        }
    }
    for &family in plan.families.list() {
        let _ = writeln!(
            out,
            "{}",
            exec::render("ip", &route::rule_args(plan, family, "add"))
        );
        let _ = writeln!(
            out,
            "{}",
            exec::render("ip", &route::route_args(plan, family, "replace"))
        );
    }
    out
}

fn summary(plan: &Plan) -> String {
    let families: Vec<&str> = plan.families.list().iter().map(|f| f.label()).collect();
    format!(
        "trueip interception: backend {:?}, {}, tproxy port {}, mark {:#x}, bypass mark {:#x}, table {}",
        plan.backend,
        families.join("+"),
        plan.port,
        plan.mark,
        plan.bypass_mark,
        plan.table
    )
    .replace("Nft", "nft")
    .replace("Iptables", "iptables")
}

fn require_net_admin(action: &'static str) -> Result<(), NetError> {
    match CapSet::effective() {
        Ok(caps) if !caps.has(Capability::NetAdmin) => Err(NetError::NoCapability { action, caps }),
        // If /proc cannot tell us, let the tools report their own errors.
        _ => Ok(()),
    }
}

/// Settings that do not block interception by themselves but explain the usual failures.
fn notes(plan: &Plan, report: &mut Report) {
    if plan.families.list().contains(&Family::V4) {
        let rp = read_sysctl("net/ipv4/conf/all/rp_filter");
        if rp.as_deref() == Some("1") {
            report.notes.push(
                "net.ipv4.conf.all.rp_filter=1 (strict): replies to transparent upstream connects \
                 arriving on another interface than the route back to the client are dropped; use 2 \
                 (loose) if they time out"
                    .into(),
            );
        }
        if read_sysctl("net/ipv4/ip_forward").as_deref() == Some("0") {
            report.notes.push(
                "net.ipv4.ip_forward=0: fine for a sidecar; a gateway that also routes traffic it does \
                 not intercept needs 1"
                    .into(),
            );
        }
    }
}

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::plan::tests::plan;

    #[test]
    fn report_lists_each_item_and_counts_missing() {
        let report = Report {
            items: vec![
                Item {
                    present: true,
                    what: "nftables table inet trueip".into(),
                },
                Item {
                    present: false,
                    what: "routing rule: ip -4 rule add fwmark 0x100/0x100 lookup 100".into(),
                },
            ],
            notes: vec![],
        };
        assert_eq!(
            report.render(&plan()),
            "trueip interception: backend nft, ipv4+ipv6, tproxy port 15001, mark 0x100, bypass mark 0x200, table 100\n\
             \x20 ok       nftables table inet trueip\n\
             \x20 MISSING  routing rule: ip -4 rule add fwmark 0x100/0x100 lookup 100\n\
             1 missing: run `trueip net setup` with the same flags\n"
        );
    }

    #[test]
    fn describe_iptables_lists_commands_in_order() {
        let plan = Plan {
            backend: Backend::Iptables,
            families: plan::Families::Ipv4,
            ..plan()
        };
        let text = describe(&plan);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.get(1),
            Some(&"iptables -w -t mangle -N TRUEIP_DIVERT")
        );
        assert!(lines.contains(&"iptables -w -t mangle -I PREROUTING 1 -j TRUEIP_PREROUTING"));
        assert!(lines.contains(&"iptables -w -t mangle -A TRUEIP_OUTPUT -p tcp -m connmark --mark 0x200/0x200 -m mark '!' --mark 0x200/0x200 -j MARK --set-xmark 0x100/0x100"));
        assert_eq!(
            lines.last(),
            Some(&"ip -4 route replace local 0.0.0.0/0 dev lo table 100")
        );
    }
}
