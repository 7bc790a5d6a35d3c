//! Warnings about configurations that load but are dangerous: each one is a way real deployments have been
//! spoofed. `trueip check-config` prints them; the filter and the proxy log them once at load.
//!
//! A lint never changes behaviour: the configuration is valid, and the operator may have a reason.

use std::net::IpAddr;

use crate::config::{AllTrusted, Config, Malformed, TooFewHops, UntrustedHeaders};
use crate::trust::CidrSpec;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable snake_case code, for scripts and for suppressing in CI.
    pub code: &'static str,
    /// The field the warning is about, e.g. `trust.proxies[1]`.
    pub path: String,
    /// What can go wrong, and what to do instead.
    pub message: String,
}

/// Every warning for `config`, in a stable order.
pub fn lint(config: &Config) -> Vec<Warning> {
    let mut out = Vec::new();
    let policy = &config.policy;
    let has_access_rules = !policy.access.allow.is_empty() || !policy.access.deny.is_empty();

    for (i, spec) in policy.trust.proxies.specs().iter().enumerate() {
        if let CidrSpec::Net(net) = spec
            && net.prefix_len() == 0
        {
            out.push(Warning {
                code: "trust_everything",
                path: format!("trust.proxies[{i}]"),
                message: format!(
                    "{net} trusts every address: any client can write the X-Forwarded-For entry that becomes its IP; \
                     list only your load balancers' and proxies' ranges"
                ),
            });
        }
    }

    // Split ranges (`0.0.0.0/1` and `128.0.0.0/1`) trust everything just the same.
    if !out.iter().any(|w| w.code == "trust_everything") && policy.trust.proxies.covers_everything()
    {
        out.push(Warning {
            code: "trust_everything",
            path: "trust.proxies".to_owned(),
            message: "together these entries trust every IPv4 or every IPv6 address: any client can write the \
                      X-Forwarded-For entry that becomes its IP; list only your load balancers' and proxies' ranges"
                .to_owned(),
        });
    }

    if policy.trust.hops.is_some() && policy.trust.proxies.is_empty() && internet_facing(config) {
        out.push(Warning {
            code: "hops_without_trusted_proxies",
            path: "trust.hops".to_owned(),
            message: "hop counting without trust.proxies believes whoever connects: a client that reaches this \
                      listener directly (bypassing the load balancer) forges the hops it likes (Envoy's \
                      xff_num_trusted_hops has the same hole); add the load balancers' ranges to trust.proxies so the \
                      count applies only behind them"
                .to_owned(),
        });
    }

    if has_access_rules && policy.actions.all_trusted == AllTrusted::Leftmost {
        out.push(Warning {
            code: "leftmost_with_access_control",
            path: "actions.all_trusted".to_owned(),
            message: "\"leftmost\" takes the first X-Forwarded-For entry when every hop is trusted, and that entry is \
                      whatever the first client wrote: with access rules, a client inside a trusted range can pick \
                      the address it is judged by; use \"peer\" or \"reject\""
                .to_owned(),
        });
    }

    if has_access_rules && policy.actions.malformed == Malformed::Peer {
        out.push(Warning {
            code: "malformed_falls_back_with_access_control",
            path: "actions.malformed".to_owned(),
            message: "with \"peer\", a request whose chain holds an unparsable entry is judged as the peer, usually an \
                      internal proxy: with access rules that can admit it; use \"reject\""
                .to_owned(),
        });
    }

    if has_access_rules
        && policy.trust.hops.is_some()
        && policy.actions.too_few_hops == TooFewHops::Peer
    {
        out.push(Warning {
            code: "too_few_hops_falls_back_with_access_control",
            path: "actions.too_few_hops".to_owned(),
            message: "with \"peer\", a request that arrives with fewer hops than trust.hops (a client that skipped \
                      the outer proxy, or sent no X-Forwarded-For at all) is judged as the peer, usually an internal \
                      proxy: with access rules that can admit it; use \"reject\""
                .to_owned(),
        });
    }

    if policy.actions.untrusted_headers == UntrustedHeaders::Keep {
        out.push(Warning {
            code: "untrusted_headers_kept",
            path: "actions.untrusted_headers".to_owned(),
            message: "forwarding headers from untrusted peers are passed upstream unchanged: an application that reads \
                      X-Forwarded-For itself will believe forged values; use \"strip\""
                .to_owned(),
        });
    }

    if !policy.rewrite.strip_spoofable {
        out.push(Warning {
            code: "spoofable_headers_not_stripped",
            path: "rewrite.strip_spoofable".to_owned(),
            message: "client-IP headers sent by untrusted peers (X-Real-IP, True-Client-IP, X_Forwarded_For, ...) \
                      reach the upstream; set it to true unless the upstream ignores them"
                .to_owned(),
        });
    }

    if !policy.trust.identities.is_empty()
        && config.envoy.mode != crate::config::envoy::EnvoyMode::Sidecar
    {
        out.push(Warning {
            code: "identities_outside_sidecar_mode",
            path: "trust.identities".to_owned(),
            message: "trusted identities only gate trust where the caller's mTLS identity is known (envoy.mode \
                      \"sidecar\"); elsewhere they never match"
                .to_owned(),
        });
    }

    out
}

/// Whether anything in the configuration can be reached from outside this host: the filter (no listeners: it runs
/// wherever Envoy listens, assume exposed) or a proxy listener bound beyond loopback.
fn internet_facing(config: &Config) -> bool {
    config.listeners.is_empty()
        || config
            .listeners
            .iter()
            .any(|l| !is_loopback(l.address.ip()))
}

fn is_loopback(ip: IpAddr) -> bool {
    crate::addr::canonical_ip(ip).is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(json: &str) -> Vec<&'static str> {
        let config = Config::from_json(json).expect("test config parses");
        lint(&config).into_iter().map(|w| w.code).collect()
    }

    #[test]
    fn the_bundled_default_is_clean() {
        assert_eq!(codes(crate::config::DEFAULT_JSON), Vec::<&str>::new());
    }

    #[test]
    fn trusting_everything_is_flagged_with_its_index() {
        let config =
            Config::from_json(r#"{"trust":{"proxies":["10.0.0.0/8","::/0"]}}"#).expect("parses");
        let warnings = lint(&config);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "trust_everything");
        assert_eq!(warnings[0].path, "trust.proxies[1]");
    }

    #[test]
    fn hops_alone_are_flagged_but_peer_gated_hops_are_not() {
        assert_eq!(
            codes(r#"{"trust":{"hops":2}}"#),
            ["hops_without_trusted_proxies"]
        );
        assert!(codes(r#"{"trust":{"hops":2,"proxies":["10.0.0.0/8"]}}"#).is_empty());
    }

    #[test]
    fn leftmost_and_malformed_fallback_matter_only_with_access_rules() {
        let base = r#""actions":{"all_trusted":"leftmost","malformed":"peer"}"#;
        assert!(codes(&format!("{{{base}}}")).is_empty());
        assert_eq!(
            codes(&format!(
                r#"{{{base},"access":{{"deny":["192.0.2.0/24"]}}}}"#
            )),
            [
                "leftmost_with_access_control",
                "malformed_falls_back_with_access_control"
            ]
        );
    }

    #[test]
    fn split_ranges_that_cover_everything_are_flagged_once() {
        let config =
            Config::from_json(r#"{"trust":{"proxies":["0.0.0.0/1","128.0.0.0/1","10.0.0.0/8"]}}"#)
                .expect("parses");
        let warnings = lint(&config);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].code, warnings[0].path.as_str()),
            ("trust_everything", "trust.proxies")
        );
        assert_eq!(
            codes(r#"{"trust":{"proxies":["0.0.0.0/0","::/1","8000::/1"]}}"#),
            ["trust_everything"]
        );
    }

    #[test]
    fn too_few_hops_fallback_matters_only_with_access_rules_in_hop_mode() {
        let gated = r#""trust":{"hops":2,"proxies":["10.0.0.0/8"]}"#;
        let allow = r#""access":{"allow":["private"]}"#;
        assert!(codes(&format!("{{{gated}}}")).is_empty());
        assert_eq!(
            codes(&format!("{{{gated},{allow}}}")),
            ["too_few_hops_falls_back_with_access_control"]
        );
        assert!(
            codes(&format!(
                r#"{{{gated},{allow},"actions":{{"too_few_hops":"reject"}}}}"#
            ))
            .is_empty()
        );
        assert!(
            codes(&format!(
                r#"{{"trust":{{"proxies":["10.0.0.0/8"]}},{allow}}}"#
            ))
            .is_empty()
        );
    }

    #[test]
    fn keeping_untrusted_headers_and_not_stripping_are_flagged() {
        assert_eq!(
            codes(
                r#"{"actions":{"untrusted_headers":"keep"},"rewrite":{"strip_spoofable":false}}"#
            ),
            ["untrusted_headers_kept", "spoofable_headers_not_stripped"]
        );
    }
}
