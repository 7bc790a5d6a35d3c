//! The nftables form of the interception: one `inet trueip` table, replaced atomically.
//!
//! Every rule carries a `trueip:<id>` comment. `check` looks for those ids, which survive
//! nft's re-rendering of the rule text (it prints `0x00000100` for `0x100`, drops implied
//! matches), so a missing or hand-deleted rule is reported by name.

use std::fmt::Write as _;

use super::exec;
use super::plan::{Family, Plan};
use super::{Item, NetError, Report};

/// The table name; `inet` so one table serves IPv4 and IPv6.
pub const TABLE: &str = "trueip";

/// One rule in the generated table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftRule {
    /// `prerouting` or `output`.
    pub chain: &'static str,
    /// Stable id, written into the rule's comment.
    pub id: String,
    /// What it is for, for `check` reports.
    pub purpose: String,
    /// The rule text without the comment.
    pub text: String,
}

/// The rules, in order, for a validated plan.
pub fn rules(plan: &Plan) -> Vec<NftRule> {
    let mark = plan.mark;
    let bypass = plan.bypass_mark;
    let set_mark = format!("meta mark set meta mark | {mark:#x}");
    let mut rules = vec![
        rule(
            "prerouting",
            "established",
            "deliver packets of connections owned by a transparent socket (intercepted clients and \
             replies to transparent upstream connects) to that socket",
            format!("meta l4proto tcp socket transparent 1 {set_mark} accept"),
        ),
        rule(
            "prerouting",
            "bypass",
            "never divert traffic the proxy originates (it carries the bypass mark)",
            format!("meta mark & {bypass:#x} == {bypass:#x} return"),
        ),
        rule(
            "prerouting",
            "skip-loopback",
            "never divert loopback traffic",
            "iif \"lo\" return".into(),
        ),
    ];
    for &family in plan.families.list() {
        let (proto, nfproto, addr) = match family {
            Family::V4 => ("ip", "ipv4", "ip daddr"),
            Family::V6 => ("ip6", "ipv6", "ip6 daddr"),
        };
        let mut text = format!("meta l4proto tcp meta nfproto {nfproto}");
        let dests = plan.dests_of(family);
        if !dests.is_empty() {
            let list: Vec<String> = dests.iter().map(ToString::to_string).collect();
            let _ = write!(text, " {addr} {{ {} }}", list.join(", "));
        }
        if !plan.dports.is_empty() {
            let list: Vec<String> = plan.dports.iter().map(ToString::to_string).collect();
            let _ = write!(text, " tcp dport {{ {} }}", list.join(", "));
        }
        if !plan.in_ifaces.is_empty() {
            let list: Vec<String> = plan.in_ifaces.iter().map(|i| format!("\"{i}\"")).collect();
            let _ = write!(text, " iifname {{ {} }}", list.join(", "));
        }
        let _ = write!(text, " tproxy {proto} to :{} {set_mark} accept", plan.port);
        rules.push(rule(
            "prerouting",
            &format!("intercept-{}", family.label()),
            &format!(
                "divert {} TCP to the transparent listener on port {}",
                family.label(),
                plan.port
            ),
            text,
        ));
    }
    rules.push(rule(
        "output",
        "remember-upstream",
        "remember connections the proxy originates (bypass mark) in conntrack",
        format!("meta l4proto tcp meta mark & {bypass:#x} == {bypass:#x} ct mark set ct mark | {bypass:#x}"),
    ));
    rules.push(rule(
        "output",
        "return-path",
        "route a local upstream's replies to a transparent connect back to the proxy",
        format!(
            "meta l4proto tcp ct mark & {bypass:#x} == {bypass:#x} meta mark & {bypass:#x} != {bypass:#x} {set_mark}"
        ),
    ));
    rules
}

/// The script for `nft -f -`: create-then-delete-then-define replaces the table atomically, so
/// applying it twice is the same as applying it once and nothing is briefly unprotected.
pub fn script(plan: &Plan) -> String {
    let rules = rules(plan);
    let mut out = format!("table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n");
    for (chain, hook) in [
        ("prerouting", "type filter hook prerouting"),
        ("output", "type route hook output"),
    ] {
        let _ = writeln!(
            out,
            "\tchain {chain} {{\n\t\t{hook} priority mangle; policy accept;"
        );
        for rule in rules.iter().filter(|r| r.chain == chain) {
            let _ = writeln!(out, "\t\t{} comment \"{}\"", rule.text, comment(&rule.id));
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    out
}

/// The comment that tags a rule.
pub fn comment(id: &str) -> String {
    format!("trueip:{id}")
}

/// Adds one item per generated rule (found by its comment) and one for the table.
pub fn check(plan: &Plan, report: &mut Report) -> Result<(), NetError> {
    let listing = exec::run(
        "nft",
        &["list", "table", "inet", TABLE].map(String::from),
        None,
    )?;
    report.items.push(Item {
        present: listing.success,
        what: format!("nftables table inet {}", TABLE),
    });
    for rule in rules(plan) {
        let tag = format!("comment \"{}\"", comment(&rule.id));
        report.items.push(Item {
            present: listing.success && listing.stdout.contains(&tag),
            what: format!("nftables rule {}: {}", comment(&rule.id), rule.purpose),
        });
    }
    Ok(())
}

fn rule(chain: &'static str, id: &str, purpose: &str, text: String) -> NftRule {
    NftRule {
        chain,
        id: id.into(),
        purpose: purpose.into(),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::plan::{Families, tests::plan};

    #[test]
    fn default_plan_script() {
        let expected = r#"table inet trueip
delete table inet trueip
table inet trueip {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set meta mark | 0x100 accept comment "trueip:established"
		meta mark & 0x200 == 0x200 return comment "trueip:bypass"
		iif "lo" return comment "trueip:skip-loopback"
		meta l4proto tcp meta nfproto ipv4 tproxy ip to :15001 meta mark set meta mark | 0x100 accept comment "trueip:intercept-ipv4"
		meta l4proto tcp meta nfproto ipv6 tproxy ip6 to :15001 meta mark set meta mark | 0x100 accept comment "trueip:intercept-ipv6"
	}
	chain output {
		type route hook output priority mangle; policy accept;
		meta l4proto tcp meta mark & 0x200 == 0x200 ct mark set ct mark | 0x200 comment "trueip:remember-upstream"
		meta l4proto tcp ct mark & 0x200 == 0x200 meta mark & 0x200 != 0x200 meta mark set meta mark | 0x100 comment "trueip:return-path"
	}
}
"#;
        assert_eq!(script(&plan()), expected);
    }

    #[test]
    fn matches_are_per_family_sets() {
        let plan = crate::net::plan::Plan {
            families: Families::Both,
            dports: vec![8080, 9090],
            dests: vec![
                "10.200.2.0/24".parse().expect("net"),
                "fd00:200:2::/64".parse().expect("net"),
            ],
            in_ifaces: vec!["veth0".into()],
            ..plan()
        };
        let texts: Vec<String> = rules(&plan).into_iter().map(|r| r.text).collect();
        assert!(texts.contains(
            &"meta l4proto tcp meta nfproto ipv4 ip daddr { 10.200.2.0/24 } tcp dport { 8080, 9090 } \
              iifname { \"veth0\" } tproxy ip to :15001 meta mark set meta mark | 0x100 accept"
                .to_string()
        ));
        assert!(texts.contains(
            &"meta l4proto tcp meta nfproto ipv6 ip6 daddr { fd00:200:2::/64 } tcp dport { 8080, 9090 } \
              iifname { \"veth0\" } tproxy ip6 to :15001 meta mark set meta mark | 0x100 accept"
                .to_string()
        ));
    }

    #[test]
    fn a_single_family_plan_has_one_intercept_rule() {
        let plan = crate::net::plan::Plan {
            families: Families::Ipv6,
            ..plan()
        };
        let ids: Vec<String> = rules(&plan).into_iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "established",
                "bypass",
                "skip-loopback",
                "intercept-ipv6",
                "remember-upstream",
                "return-path"
            ]
        );
    }
}
