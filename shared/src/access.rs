//! Access control on the decided client address: deny wins; a non-empty allow list denies everything it does not
//! hold. It runs on the decision, so it is only as good as the trust rules: with `actions.all_trusted = "leftmost"`
//! the client may be chosen by the sender, and `check-config` warns about combining that with access lists.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::AccessRules;

/// The outcome of the access lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The request may proceed.
    Allow,
    /// The request is answered with this status and body.
    Deny {
        /// `access.status`.
        status: u16,
        /// `access.body`.
        body: Arc<str>,
        /// Which rule denied it.
        reason: DenyReason,
    },
}

/// Why a client was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// The client is in `access.deny`.
    DenyList,
    /// `access.allow` is not empty and does not hold the client.
    NotAllowed,
}

impl DenyReason {
    /// A stable label: `deny_list` or `not_allowed`.
    pub fn label(self) -> &'static str {
        match self {
            DenyReason::DenyList => "deny_list",
            DenyReason::NotAllowed => "not_allowed",
        }
    }
}

/// Checks one client address against the lists.
pub fn check(rules: &AccessRules, client: IpAddr) -> Access {
    let reason = if rules.deny.contains(client) {
        DenyReason::DenyList
    } else if !rules.allow.is_empty() && !rules.allow.contains(client) {
        DenyReason::NotAllowed
    } else {
        return Access::Allow;
    };
    Access::Deny {
        status: rules.status.code(),
        body: Arc::from(rules.body.as_str()),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::CidrSet;

    fn rules(allow: &[&str], deny: &[&str]) -> AccessRules {
        let set =
            |l: &[&str]| CidrSet::new(l.iter().map(|s| s.parse().expect("test CIDR")).collect());
        AccessRules {
            allow: set(allow),
            deny: set(deny),
            ..AccessRules::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn empty_lists_allow_everyone() {
        assert_eq!(check(&rules(&[], &[]), ip("203.0.113.9")), Access::Allow);
    }

    #[test]
    fn deny_wins_over_allow() {
        let r = rules(&["10.0.0.0/8"], &["10.1.0.0/16"]);
        assert_eq!(check(&r, ip("10.2.0.1")), Access::Allow);
        assert!(matches!(
            check(&r, ip("10.1.2.3")),
            Access::Deny {
                status: 403,
                reason: DenyReason::DenyList,
                ..
            }
        ));
    }

    #[test]
    fn non_empty_allow_list_denies_by_default() {
        let r = rules(&["2001:db8::/32"], &[]);
        assert_eq!(check(&r, ip("2001:db8::1")), Access::Allow);
        assert!(matches!(
            check(&r, ip("192.0.2.1")),
            Access::Deny {
                reason: DenyReason::NotAllowed,
                ..
            }
        ));
    }

    #[test]
    fn mapped_ipv6_client_matches_ipv4_rule() {
        let r = rules(&[], &["192.0.2.0/24"]);
        assert!(matches!(
            check(&r, ip("::ffff:192.0.2.7")),
            Access::Deny { .. }
        ));
    }
}
