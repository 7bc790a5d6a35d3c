//! What `trueip net` installs, as a validated value.
//!
//! Everything the rule generators print comes from here, and everything here has been checked:
//! marks that cannot collide, a routing table that is not one of the kernel's own, interface
//! names that cannot break out of an nftables string.

use std::net::IpAddr;

use ipnet::IpNet;

/// Which firewall tool installs the TPROXY rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// nftables (`nft`), one atomic `inet` table.
    Nft,
    /// iptables/ip6tables (`mangle` table chains), for hosts that still manage rules with them.
    Iptables,
}

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The `ip` command's family flag.
    pub fn ip_flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    /// `ipv4` or `ipv6`, as in rule comments and reports.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The "everything" prefix for the local route.
    pub fn any(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0/0",
            Family::V6 => "::/0",
        }
    }

    fn holds(self, net: &IpNet) -> bool {
        matches!(
            (self, net.addr()),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// Which families to intercept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Families {
    /// IPv4 and IPv6.
    Both,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

impl Families {
    /// The families in a fixed order.
    pub fn list(self) -> &'static [Family] {
        match self {
            Families::Both => &[Family::V4, Family::V6],
            Families::Ipv4 => &[Family::V4],
            Families::Ipv6 => &[Family::V6],
        }
    }
}

/// The interception to install, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Rule tool.
    pub backend: Backend,
    /// Families to intercept.
    pub families: Families,
    /// The port the transparent listener is bound to (on the wildcard address).
    pub port: u16,
    /// Set on diverted packets; `ip rule fwmark` sends them to the local table.
    pub mark: u32,
    /// Carried by connections the proxy originates (`SO_MARK`); the rules never divert them.
    pub bypass_mark: u32,
    /// Routing table holding the `local` default route.
    pub table: u32,
    /// Destination ports to intercept; empty means every port.
    pub dports: Vec<u16>,
    /// Destination networks to intercept; empty means every destination.
    pub dests: Vec<IpNet>,
    /// Interfaces to intercept on; empty means every interface but loopback.
    pub in_ifaces: Vec<String>,
}

/// A plan that cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A zero mark matches every unmarked packet.
    #[error("{field}: must not be 0")]
    ZeroMark {
        /// `--mark` or `--bypass-mark`.
        field: &'static str,
    },
    /// The two marks share bits, so diverted packets would look proxy-originated or vice versa.
    #[error("--mark {mark:#x} and --bypass-mark {bypass:#x} share bits: they must be disjoint")]
    OverlappingMarks {
        /// The divert mark.
        mark: u32,
        /// The bypass mark.
        bypass: u32,
    },
    /// One of the kernel's own tables (or 0).
    #[error("--table {0}: tables 0, 253, 254 and 255 belong to the kernel; pick another")]
    ReservedTable(u32),
    /// Port 0.
    #[error("{field}: port 0 is not a port")]
    ZeroPort {
        /// `--port` or `--dport`.
        field: &'static str,
    },
    /// An interface name the kernel would not accept, or one that could escape the rule text.
    #[error("--in-iface: not a valid interface name: {0:?}")]
    BadInterface(String),
    /// Destinations were given, but none of an intercepted family.
    #[error(
        "--dest: no {family} destination given, but {family} interception was asked for (use --family)"
    )]
    NoDestForFamily {
        /// The family with nothing to intercept.
        family: &'static str,
    },
}

impl Plan {
    /// Checks a plan; every generator assumes a plan that passed.
    pub fn validate(self) -> Result<Plan, PlanError> {
        if self.mark == 0 {
            return Err(PlanError::ZeroMark { field: "--mark" });
        }
        if self.bypass_mark == 0 {
            return Err(PlanError::ZeroMark {
                field: "--bypass-mark",
            });
        }
        if self.mark & self.bypass_mark != 0 {
            return Err(PlanError::OverlappingMarks {
                mark: self.mark,
                bypass: self.bypass_mark,
            });
        }
        if matches!(self.table, 0 | 253..=255) {
            return Err(PlanError::ReservedTable(self.table));
        }
        if self.port == 0 {
            return Err(PlanError::ZeroPort { field: "--port" });
        }
        if self.dports.contains(&0) {
            return Err(PlanError::ZeroPort { field: "--dport" });
        }
        if let Some(bad) = self.in_ifaces.iter().find(|name| !valid_ifname(name)) {
            return Err(PlanError::BadInterface(bad.clone()));
        }
        if !self.dests.is_empty() {
            for family in self.families.list() {
                if !self.dests.iter().any(|net| family.holds(net)) {
                    return Err(PlanError::NoDestForFamily {
                        family: family.label(),
                    });
                }
            }
        }
        Ok(self)
    }

    /// The destinations of one family (empty: any).
    pub fn dests_of(&self, family: Family) -> Vec<IpNet> {
        self.dests
            .iter()
            .filter(|net| family.holds(net))
            .copied()
            .collect()
    }

    /// `0xMARK/0xMARK`, the masked form every tool accepts, so other users of the mark's
    /// remaining bits are left alone.
    pub fn masked_mark(&self) -> String {
        format!("{:#x}/{:#x}", self.mark, self.mark)
    }

    /// The bypass mark in masked form.
    pub fn masked_bypass(&self) -> String {
        format!("{:#x}/{:#x}", self.bypass_mark, self.bypass_mark)
    }
}

/// Linux interface names: 1..=15 bytes, no '/', no whitespace, and (for our rule text) no quotes
/// or backslashes.
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+' | ':'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The plan most tests start from: both families, port 15001, defaults for the rest.
    pub(crate) fn plan() -> Plan {
        Plan {
            backend: Backend::Nft,
            families: Families::Both,
            port: 15001,
            mark: 0x100,
            bypass_mark: 0x200,
            table: 100,
            dports: vec![],
            dests: vec![],
            in_ifaces: vec![],
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(plan().validate(), Ok(plan()));
    }

    #[test]
    fn marks_must_be_nonzero_and_disjoint() {
        let err = Plan { mark: 0, ..plan() }.validate().expect_err("zero");
        assert_eq!(err.to_string(), "--mark: must not be 0");
        let err = Plan {
            bypass_mark: 0x300,
            ..plan()
        }
        .validate()
        .expect_err("overlap");
        assert_eq!(
            err.to_string(),
            "--mark 0x100 and --bypass-mark 0x300 share bits: they must be disjoint"
        );
    }

    #[test]
    fn kernel_tables_are_refused() {
        for table in [0, 253, 254, 255] {
            assert_eq!(
                Plan { table, ..plan() }.validate(),
                Err(PlanError::ReservedTable(table))
            );
        }
    }

    #[test]
    fn interface_names_cannot_escape_the_rule_text() {
        for bad in ["", "eth0\" accept", "a b", "sixteen-chars-xx", "x\\y"] {
            let err = Plan {
                in_ifaces: vec![bad.into()],
                ..plan()
            }
            .validate()
            .expect_err(bad);
            assert_eq!(err, PlanError::BadInterface(bad.into()));
        }
        let ok = Plan {
            in_ifaces: vec!["veth-a.10".into()],
            ..plan()
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn each_intercepted_family_needs_a_destination_when_any_is_given() {
        let v4_only = vec!["10.200.2.0/24".parse().expect("net")];
        let err = Plan {
            dests: v4_only.clone(),
            ..plan()
        }
        .validate()
        .expect_err("no v6");
        assert_eq!(
            err.to_string(),
            "--dest: no ipv6 destination given, but ipv6 interception was asked for (use --family)"
        );
        let ok = Plan {
            dests: v4_only,
            families: Families::Ipv4,
            ..plan()
        };
        assert!(ok.validate().is_ok());
    }
}
