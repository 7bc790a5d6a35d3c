//! The iptables form of the interception: `TRUEIP_*` chains in the `mangle` table, jumped to from
//! the built-in `PREROUTING` and `OUTPUT` chains.
//!
//! `iptables -C` checks a rule exactly, so `check` asks the tool about every rule rather than
//! parsing its output.

use super::exec;
use super::plan::{Family, Plan};
use super::{Item, NetError, Report};

/// Our chains, in creation order (the divert chain first: others jump to it).
pub const CHAINS: [&str; 3] = ["TRUEIP_DIVERT", "TRUEIP_PREROUTING", "TRUEIP_OUTPUT"];

/// One rule: the chain and the rule specification after `-A CHAIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IptRule {
    /// The chain the rule is appended to.
    pub chain: &'static str,
    /// The rule specification.
    pub spec: Vec<String>,
    /// What it is for, for `check` reports.
    pub purpose: &'static str,
}

/// The tool for a family.
pub fn tool(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables",
        Family::V6 => "ip6tables",
    }
}

/// Rules inside our chains, in order.
pub fn rules(plan: &Plan, family: Family) -> Vec<IptRule> {
    let mark = plan.masked_mark();
    let bypass = plan.masked_bypass();
    let mut rules = vec![
        r(
            "TRUEIP_DIVERT",
            "mark diverted packets for the local routing table",
            &["-j", "MARK", "--set-xmark", &mark],
        ),
        r(
            "TRUEIP_DIVERT",
            "deliver diverted packets",
            &["-j", "ACCEPT"],
        ),
        r(
            "TRUEIP_PREROUTING",
            "deliver packets of connections owned by a transparent socket to that socket",
            &[
                "-p",
                "tcp",
                "-m",
                "socket",
                "--transparent",
                "-j",
                "TRUEIP_DIVERT",
            ],
        ),
        r(
            "TRUEIP_PREROUTING",
            "never divert traffic the proxy originates",
            &["-m", "mark", "--mark", &bypass, "-j", "RETURN"],
        ),
        r(
            "TRUEIP_PREROUTING",
            "never divert loopback traffic",
            &["-i", "lo", "-j", "RETURN"],
        ),
    ];
    // iptables has no sets without ipset: one rule per (interface, destination, port).
    let ifaces = optional(&plan.in_ifaces);
    let dests = optional(&plan.dests_of(family));
    let ports = optional(&plan.dports);
    let port = plan.port.to_string();
    for iface in &ifaces {
        for dest in &dests {
            for dport in &ports {
                let mut spec = vec!["-p".to_string(), "tcp".into()];
                if let Some(iface) = iface {
                    spec.extend(["-i".into(), iface.clone()]);
                }
                if let Some(dest) = dest {
                    spec.extend(["-d".into(), dest.to_string()]);
                }
                if let Some(dport) = dport {
                    spec.extend([
                        "-m".into(),
                        "tcp".into(),
                        "--dport".into(),
                        dport.to_string(),
                    ]);
                }
                spec.extend(
                    ["-j", "TPROXY", "--on-port", &port, "--tproxy-mark", &mark].map(String::from),
                );
                rules.push(IptRule {
                    chain: "TRUEIP_PREROUTING",
                    spec,
                    purpose: "divert TCP to the transparent listener",
                });
            }
        }
    }
    rules.push(r(
        "TRUEIP_OUTPUT",
        "remember connections the proxy originates in conntrack",
        &[
            "-p",
            "tcp",
            "-m",
            "mark",
            "--mark",
            &bypass,
            "-j",
            "CONNMARK",
            "--or-mark",
            &hex(plan.bypass_mark),
        ],
    ));
    rules.push(r(
        "TRUEIP_OUTPUT",
        "route a local upstream's replies to a transparent connect back to the proxy",
        &[
            "-p",
            "tcp",
            "-m",
            "connmark",
            "--mark",
            &bypass,
            "-m",
            "mark",
            "!",
            "--mark",
            &bypass,
            "-j",
            "MARK",
            "--set-xmark",
            &mark,
        ],
    ));
    rules
}

/// The jumps from the built-in chains into ours: `(built-in chain, our chain)`.
pub const JUMPS: [(&str, &str); 2] = [
    ("PREROUTING", "TRUEIP_PREROUTING"),
    ("OUTPUT", "TRUEIP_OUTPUT"),
];

/// `iptables -t mangle <op> <chain> <spec..>` as an argument list (without the tool name).
pub fn args(op: &str, chain: &str, spec: &[String]) -> Vec<String> {
    let mut args = vec![
        "-w".to_string(),
        "-t".into(),
        "mangle".into(),
        op.into(),
        chain.into(),
    ];
    args.extend(spec.iter().cloned());
    args
}

/// Creates (or flushes) our chains, fills them, and adds the jumps that are missing.
pub fn setup(plan: &Plan, family: Family) -> Result<(), NetError> {
    let tool = tool(family);
    for chain in CHAINS {
        // -N fails if the chain exists; then flushing it makes the re-run start from scratch.
        let _exists = exec::run(tool, &args("-N", chain, &[]), None)?;
        exec::run_ok(tool, &args("-F", chain, &[]), None)?;
    }
    for rule in rules(plan, family) {
        exec::run_ok(tool, &args("-A", rule.chain, &rule.spec), None)?;
    }
    for (builtin, ours) in JUMPS {
        let jump = ["-j".to_string(), ours.to_string()];
        if !exec::run(tool, &args("-C", builtin, &jump), None)?.success {
            let mut insert = args("-I", builtin, &[]);
            insert.push("1".into());
            insert.extend(jump);
            exec::run_ok(tool, &insert, None)?;
        }
    }
    Ok(())
}

/// Removes the jumps and our chains; what is not there is skipped.
pub fn teardown(family: Family) -> Result<(), NetError> {
    let tool = tool(family);
    for (builtin, ours) in JUMPS {
        let jump = ["-j".to_string(), ours.to_string()];
        // Bounded: each -D removes one copy of the jump.
        for _ in 0..64 {
            if !exec::run(tool, &args("-C", builtin, &jump), None)?.success {
                break;
            }
            exec::run_ok(tool, &args("-D", builtin, &jump), None)?;
        }
    }
    // Flush all first: a chain cannot be deleted while another of ours still jumps to it.
    for chain in CHAINS {
        exec::run(tool, &args("-F", chain, &[]), None)?;
    }
    for chain in CHAINS {
        exec::run(tool, &args("-X", chain, &[]), None)?;
    }
    Ok(())
}

/// Adds one item per rule and jump, asking `iptables -C` about each.
pub fn check(plan: &Plan, family: Family, report: &mut Report) -> Result<(), NetError> {
    let tool = tool(family);
    for rule in rules(plan, family) {
        let present = exec::run(tool, &args("-C", rule.chain, &rule.spec), None)?.success;
        let line = exec::render(
            tool,
            &["-t".into(), "mangle".into(), "-A".into(), rule.chain.into()],
        );
        report.items.push(Item {
            present,
            what: format!("{line} {} ({})", rule.spec.join(" "), rule.purpose),
        });
    }
    for (builtin, ours) in JUMPS {
        let jump = ["-j".to_string(), ours.to_string()];
        let present = exec::run(tool, &args("-C", builtin, &jump), None)?.success;
        report.items.push(Item {
            present,
            what: format!("{tool} -t mangle jump {builtin} -> {ours}"),
        });
    }
    Ok(())
}

fn optional<T: Clone>(items: &[T]) -> Vec<Option<T>> {
    if items.is_empty() {
        vec![None]
    } else {
        items.iter().cloned().map(Some).collect()
    }
}

fn hex(value: u32) -> String {
    format!("{value:#x}")
}

fn r(chain: &'static str, purpose: &'static str, spec: &[&str]) -> IptRule {
    IptRule {
        chain,
        spec: spec.iter().map(|s| (*s).to_string()).collect(),
        purpose,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::plan::tests::plan;

    fn lines(plan: &Plan, family: Family) -> Vec<String> {
        rules(plan, family)
            .iter()
            .map(|rule| format!("-A {} {}", rule.chain, rule.spec.join(" ")))
            .collect()
    }

    #[test]
    fn default_plan_rules() {
        assert_eq!(
            lines(&plan(), Family::V4),
            [
                "-A TRUEIP_DIVERT -j MARK --set-xmark 0x100/0x100",
                "-A TRUEIP_DIVERT -j ACCEPT",
                "-A TRUEIP_PREROUTING -p tcp -m socket --transparent -j TRUEIP_DIVERT",
                "-A TRUEIP_PREROUTING -m mark --mark 0x200/0x200 -j RETURN",
                "-A TRUEIP_PREROUTING -i lo -j RETURN",
                "-A TRUEIP_PREROUTING -p tcp -j TPROXY --on-port 15001 --tproxy-mark 0x100/0x100",
                "-A TRUEIP_OUTPUT -p tcp -m mark --mark 0x200/0x200 -j CONNMARK --or-mark 0x200",
                "-A TRUEIP_OUTPUT -p tcp -m connmark --mark 0x200/0x200 -m mark ! --mark 0x200/0x200 -j MARK \
                 --set-xmark 0x100/0x100",
            ]
        );
    }

    #[test]
    fn matches_multiply_out_per_family() {
        let plan = Plan {
            dports: vec![80, 443],
            dests: vec![
                "10.200.2.0/24".parse().expect("net"),
                "fd00:200:2::/64".parse().expect("net"),
            ],
            ..plan()
        };
        let v6: Vec<String> = lines(&plan, Family::V6)
            .into_iter()
            .filter(|l| l.contains("TPROXY"))
            .collect();
        assert_eq!(
            v6,
            [
                "-A TRUEIP_PREROUTING -p tcp -d fd00:200:2::/64 -m tcp --dport 80 -j TPROXY --on-port 15001 \
                 --tproxy-mark 0x100/0x100",
                "-A TRUEIP_PREROUTING -p tcp -d fd00:200:2::/64 -m tcp --dport 443 -j TPROXY --on-port 15001 \
                 --tproxy-mark 0x100/0x100",
            ]
        );
    }

    #[test]
    fn args_wait_for_the_xtables_lock() {
        assert_eq!(
            args("-C", "OUTPUT", &["-j".into(), "TRUEIP_OUTPUT".into()]).join(" "),
            "-w -t mangle -C OUTPUT -j TRUEIP_OUTPUT"
        );
    }
}
