//! The process's effective Linux capabilities, read from `/proc/self/status`.
//!
//! Used to explain up front that transparent proxying needs privileges, instead of letting the
//! first `setsockopt` or netlink call fail with a bare "operation not permitted".

use std::io;

/// A capability trueip's transparent mode needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `CAP_NET_ADMIN` (12): routing rules, nftables/iptables, `SO_MARK`, `IP_TRANSPARENT`.
    NetAdmin,
    /// `CAP_NET_RAW` (13): enough for `IP_TRANSPARENT` on its own.
    NetRaw,
}

impl Capability {
    fn bit(self) -> u32 {
        match self {
            Capability::NetAdmin => 12,
            Capability::NetRaw => 13,
        }
    }

    /// The kernel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::NetRaw => "CAP_NET_RAW",
        }
    }
}

/// A set of effective capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// The effective set of this process.
    pub fn effective() -> io::Result<CapSet> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        parse_cap_eff(&status).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "no CapEff line in /proc/self/status",
            )
        })
    }

    /// Whether the set holds `cap`.
    pub fn has(self, cap: Capability) -> bool {
        self.0 & (1u64 << cap.bit()) != 0
    }
}

impl std::fmt::Display for CapSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

fn parse_cap_eff(status: &str) -> Option<CapSet> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok().map(CapSet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cap_eff_line() {
        let status = "Name:\ttrueip\nCapInh:\t0000000000000000\nCapEff:\t0000000000001000\n";
        let set = parse_cap_eff(status).expect("CapEff present");
        assert!(set.has(Capability::NetAdmin));
        assert!(!set.has(Capability::NetRaw));
        assert_eq!(set.to_string(), "0x0000000000001000");
    }

    #[test]
    fn missing_or_garbled_cap_eff_is_none() {
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tnot-hex\n"), None);
    }

    #[test]
    fn reads_this_process() {
        // Whatever we run as, the kernel always reports the line.
        CapSet::effective().expect("readable /proc/self/status");
    }
}
