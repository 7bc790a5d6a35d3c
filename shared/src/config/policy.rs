//! The client-IP policy: the part of the configuration the [`crate::Resolver`] is built from.
//!
//! Every default is the safe choice; every non-default choice names the behaviour it mirrors, so a migration from
//! Envoy or nginx can reproduce the old answers exactly where that is wanted.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::config::values::{HeaderName, HopCount, Identity, Status};
use crate::trust::{CidrSet, CidrSpec, Preset};

/// The validated client-IP policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Who is trusted to forward.
    pub trust: TrustRules,
    /// Where the client address is read from, in precedence order.
    pub sources: Sources,
    /// What to do at each edge case.
    pub actions: Actions,
    /// Ranges whose clients count as internal (`Decision::internal`).
    pub internal: CidrSet,
    /// What to send upstream.
    pub rewrite: RewriteRules,
    /// Allow and deny lists on the decided client.
    pub access: AccessRules,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            trust: TrustRules::default(),
            sources: Sources::default(),
            actions: Actions::default(),
            internal: default_internal(),
            rewrite: RewriteRules::default(),
            access: AccessRules::default(),
        }
    }
}

/// Trust rules. Empty by default: nothing is trusted and every request's client is its peer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrustRules {
    /// Trusted proxy ranges (CIDRs, addresses, presets). Without `hops`, every header entry in these ranges is
    /// skipped as a trusted hop; with `hops`, only the peer is checked (peer-gated hop counting).
    pub proxies: CidrSet,
    /// Number of trusted proxies in front of the client, the peer included (Envoy `xff_num_trusted_hops` with
    /// `use_remote_address: true`). Alone it trusts any peer, as Envoy does; `check-config` warns about that.
    pub hops: Option<HopCount>,
    /// Peer identities (mTLS URI SANs) trusted like a proxy address; used by the filter's sidecar mode, where the
    /// peer address is a pod IP but its certificate names the gateway.
    pub identities: Vec<Identity>,
}

/// Client-address sources in precedence order: the first one present in the request decides, and the peer is the
/// last resort. Default `["x-forwarded-for"]`. Each source may appear once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources(Vec<SourceSpec>);

/// One configured source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceSpec {
    /// `"x-forwarded-for"`.
    XForwardedFor,
    /// `"forwarded"` (RFC 7239).
    Forwarded,
    /// `{"header": "x-real-ip"}`: a single-address header.
    Header(HeaderName),
}

/// Edge-case actions. Each doc names the anchor it mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Actions {
    /// Forwarding headers from an untrusted peer.
    pub untrusted_headers: UntrustedHeaders,
    /// An entry on the walk that is not an address: malformed, `unknown`, obfuscated, a `Forwarded` element without
    /// `for`, or a repeated single-address header.
    pub malformed: Malformed,
    /// Every header entry is a trusted proxy (CIDR mode).
    pub all_trusted: AllTrusted,
    /// Fewer entries than `trust.hops` requires (hop mode).
    pub too_few_hops: TooFewHops,
    /// Status of every rejection. Default 400.
    pub reject_status: Status,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            untrusted_headers: UntrustedHeaders::default(),
            malformed: Malformed::default(),
            all_trusted: AllTrusted::default(),
            too_few_hops: TooFewHops::default(),
            reject_status: default_reject_status(),
        }
    }
}

/// What to do with forwarding headers sent by an untrusted peer. They are never used for the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UntrustedHeaders {
    /// Remove them (and their `_`/case variants) before forwarding, so the application cannot read a forged value
    /// (default; Envoy with `use_remote_address: true` overwrites `x-forwarded-for` likewise, realclientip-go ignores
    /// them).
    #[default]
    Strip,
    /// Forward them unchanged (nginx `real_ip` without a matching `set_real_ip_from`: ignored, not removed).
    Keep,
    /// Reject the request: nothing legitimate sends forwarding headers from outside the trusted set.
    Reject,
}

/// What to do when the walk reaches an entry that names no usable address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// Reject the request (default): falling back to the peer would give a trusted proxy's address to a client the
    /// chain could not identify, which an allow list of internal ranges would then let in.
    #[default]
    Reject,
    /// Use the peer (Envoy: an unparsable `x-forwarded-for` entry makes it use the downstream address).
    Peer,
}

/// What to do when every header entry is a trusted proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllTrusted {
    /// Use the peer (default): the request originated inside the trusted set, and the peer is the one address
    /// observed rather than reported (realclientip-go's rightmost-trusted strategy returns no header address here).
    #[default]
    Peer,
    /// Use the leftmost entry (nginx `real_ip_recursive on`; Envoy's `xff_trusted_cidrs` mode). The leftmost entry
    /// is written by whoever sent the first request, so do not use this for access control.
    Leftmost,
    /// Reject the request.
    Reject,
}

/// What to do when the chain has fewer entries than `trust.hops` requires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TooFewHops {
    /// Use the peer (default; Envoy falls back to the downstream address when `x-forwarded-for` is too short).
    #[default]
    Peer,
    /// Reject the request: the request skipped a proxy it should have passed.
    Reject,
}

/// What to send upstream; see [`crate::rewrite`] for the exact semantics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewriteRules {
    /// Set this header to the decided client IP (replacing every line of it). None by default.
    pub client_header: Option<HeaderName>,
    /// What to do with `X-Forwarded-For`. Default `append`.
    pub xff: XffMode,
    /// What to do with `Forwarded`. Default `none`.
    pub forwarded: ForwardedMode,
    /// Remove `_` look-alikes of every client-IP header, and single-address client-IP headers that are not a
    /// configured source, from every request (not only from untrusted peers). Default true.
    pub strip_spoofable: bool,
}

impl Default for RewriteRules {
    fn default() -> Self {
        RewriteRules {
            client_header: None,
            xff: XffMode::default(),
            forwarded: ForwardedMode::default(),
            strip_spoofable: true,
        }
    }
}

/// `X-Forwarded-For` handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XffMode {
    /// Append the peer address to what arrived (what arrived is empty if it was stripped); Envoy's behaviour.
    #[default]
    Append,
    /// Leave it as it arrived (or stripped).
    Keep,
    /// Replace it with the decided client, the verified trusted hops and the peer; unverifiable entries left of the
    /// client are dropped.
    Canonical,
    /// Remove it.
    Remove,
}

/// `Forwarded` handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardedMode {
    /// Leave it as it arrived (or stripped).
    #[default]
    None,
    /// Append a `for=<peer>` element.
    Append,
    /// Replace it with `for=` elements for the client, the verified trusted hops and the peer.
    Canonical,
}

/// Access control on the decided client: deny wins; a non-empty allow list denies everything it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRules {
    /// Allowed client ranges; empty allows everyone not denied.
    pub allow: CidrSet,
    /// Denied client ranges.
    pub deny: CidrSet,
    /// Status of a denial. Default 403.
    pub status: Status,
    /// Body of a denial. Default `forbidden`.
    pub body: String,
}

impl Default for AccessRules {
    fn default() -> Self {
        AccessRules {
            allow: CidrSet::default(),
            deny: CidrSet::default(),
            status: default_deny_status(),
            body: default_deny_body(),
        }
    }
}

impl Sources {
    /// Builds a source list; `Err` names the first repeated source.
    pub fn new(list: Vec<SourceSpec>) -> Result<Sources, String> {
        for (i, s) in list.iter().enumerate() {
            if list.get(..i).is_some_and(|before| before.contains(s)) {
                return Err(format!("source listed twice: {s} (index {i})"));
            }
        }
        Ok(Sources(list))
    }

    /// The sources in precedence order.
    pub fn as_slice(&self) -> &[SourceSpec] {
        &self.0
    }
}

impl Default for Sources {
    fn default() -> Self {
        Sources(vec![SourceSpec::XForwardedFor])
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::XForwardedFor => f.write_str("x-forwarded-for"),
            SourceSpec::Forwarded => f.write_str("forwarded"),
            SourceSpec::Header(h) => write!(f, "header {h}"),
        }
    }
}

impl Serialize for SourceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            SourceSpec::XForwardedFor => s.serialize_str("x-forwarded-for"),
            SourceSpec::Forwarded => s.serialize_str("forwarded"),
            SourceSpec::Header(h) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("header", h)?;
                m.end()
            }
        }
    }
}

impl Serialize for Sources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

fn default_internal() -> CidrSet {
    CidrSet::new(vec![
        CidrSpec::Preset(Preset::Loopback),
        CidrSpec::Preset(Preset::Private),
    ])
}

fn default_reject_status() -> Status {
    Status::BAD_REQUEST
}

fn default_deny_status() -> Status {
    Status::FORBIDDEN
}

fn default_deny_body() -> String {
    "forbidden".to_owned()
}
