//! Policy routing for TPROXY: `ip rule fwmark M/M lookup T` plus `local default dev lo table T`.
//!
//! Diverted packets (and replies to transparent upstream connects) carry the mark; the rule sends
//! them to a table whose only route says "every address is local", so the kernel delivers them to
//! our transparent socket instead of forwarding them.

use serde_json::Value;

use super::exec::{self, ExecError};
use super::plan::{Family, Plan};

/// `ip <family> rule <op> fwmark M/M lookup T` arguments.
pub fn rule_args(plan: &Plan, family: Family, op: &str) -> Vec<String> {
    [
        family.ip_flag(),
        "rule",
        op,
        "fwmark",
        &plan.masked_mark(),
        "lookup",
        &plan.table.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// `ip <family> route <op> local <any> dev lo table T` arguments.
pub fn route_args(plan: &Plan, family: Family, op: &str) -> Vec<String> {
    [
        family.ip_flag(),
        "route",
        op,
        "local",
        family.any(),
        "dev",
        "lo",
        "table",
        &plan.table.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// Whether the fwmark rule is installed.
pub fn rule_present(plan: &Plan, family: Family) -> Result<bool, ExecError> {
    let out = exec::run_ok("ip", &args(&["-j", family.ip_flag(), "rule", "show"]), None)?;
    Ok(rules_contain(&out.stdout, plan))
}

/// Whether the local default route is in the table.
pub fn route_present(plan: &Plan, family: Family) -> Result<bool, ExecError> {
    let table = plan.table.to_string();
    let out = exec::run(
        "ip",
        &args(&["-j", family.ip_flag(), "route", "show", "table", &table]),
        None,
    )?;
    // A table that was never created is "does not exist", not an error for us: nothing is there.
    Ok(out.success && table_has_local_default(&out.stdout))
}

/// Whether loopback is up (the local route cannot be added, nor used, while it is down).
pub fn loopback_up() -> Result<bool, ExecError> {
    let out = exec::run_ok("ip", &args(&["-j", "link", "show", "lo"]), None)?;
    Ok(link_is_up(&out.stdout))
}

/// Installs the rule (if absent) and the route (`replace` is idempotent by itself).
pub fn setup(plan: &Plan, family: Family) -> Result<(), ExecError> {
    if !rule_present(plan, family)? {
        exec::run_ok("ip", &rule_args(plan, family, "add"), None)?;
    }
    exec::run_ok("ip", &route_args(plan, family, "replace"), None)?;
    Ok(())
}

/// Removes every copy of the rule and the route, if present.
pub fn teardown(plan: &Plan, family: Family) -> Result<(), ExecError> {
    // Bounded: a rule added N times by hand needs N deletes; 64 is far beyond any real count.
    for _ in 0..64 {
        if !rule_present(plan, family)? {
            break;
        }
        exec::run_ok("ip", &rule_args(plan, family, "del"), None)?;
    }
    if route_present(plan, family)? {
        exec::run_ok("ip", &route_args(plan, family, "del"), None)?;
    }
    Ok(())
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn rules_contain(json: &str, plan: &Plan) -> bool {
    let mark = format!("{:#x}", plan.mark);
    let table = plan.table.to_string();
    entries(json).iter().any(|rule| {
        rule.get("fwmark").and_then(Value::as_str) == Some(mark.as_str())
            && rule.get("fwmask").and_then(Value::as_str) == Some(mark.as_str())
            && rule.get("table").and_then(Value::as_str) == Some(table.as_str())
    })
}

fn table_has_local_default(json: &str) -> bool {
    entries(json).iter().any(|route| {
        route.get("type").and_then(Value::as_str) == Some("local")
            && route.get("dst").and_then(Value::as_str) == Some("default")
            && route.get("dev").and_then(Value::as_str) == Some("lo")
    })
}

fn link_is_up(json: &str) -> bool {
    entries(json).iter().any(|link| {
        link.get("flags")
            .and_then(Value::as_array)
            .is_some_and(|flags| flags.iter().any(|f| f.as_str() == Some("UP")))
    })
}

/// `ip -j` prints a JSON array; anything else (an old iproute2, an empty table) is no entries.
fn entries(json: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::plan::tests::plan;

    #[test]
    fn commands() {
        assert_eq!(
            rule_args(&plan(), Family::V4, "add").join(" "),
            "-4 rule add fwmark 0x100/0x100 lookup 100"
        );
        assert_eq!(
            route_args(&plan(), Family::V6, "replace").join(" "),
            "-6 route replace local ::/0 dev lo table 100"
        );
    }

    #[test]
    fn finds_the_masked_fwmark_rule() {
        // Captured from iproute2 6.1 `ip -j -4 rule show`.
        let json = r#"[{"priority":0,"src":"all","table":"local"},{"priority":32765,"src":"all","fwmark":"0x100","fwmask":"0x100","table":"100"},{"priority":32766,"src":"all","table":"main"}]"#;
        assert!(rules_contain(json, &plan()));
        let other_table = Plan {
            table: 101,
            ..plan()
        };
        assert!(!rules_contain(json, &other_table));
        let unmasked = json.replace(r#","fwmask":"0x100""#, "");
        assert!(!rules_contain(&unmasked, &plan()));
    }

    #[test]
    fn finds_the_local_default_route() {
        let json = r#"[{"type":"local","dst":"default","dev":"lo","scope":"host","flags":[]}]"#;
        assert!(table_has_local_default(json));
        assert!(!table_has_local_default("[]"));
        assert!(!table_has_local_default(
            "Error: ipv4: FIB table does not exist."
        ));
    }

    #[test]
    fn reads_link_flags() {
        assert!(link_is_up(
            r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"]}]"#
        ));
        assert!(!link_is_up(
            r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK"]}]"#
        ));
    }
}
