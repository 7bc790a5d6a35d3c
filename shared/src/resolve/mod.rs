//! The client-IP decision: a [`Resolver`] built once from a validated [`Policy`], asked once per request.
//!
//! The walk (realclientip-go `RightmostTrustedRangeStrategy`, made explicit at every edge):
//! 1. If the peer is not trusted (not in `trust.proxies`, identity not in `trust.identities`), headers are ignored:
//!    the client is the peer, and `actions.untrusted_headers` decides whether the request is rejected. With
//!    `trust.hops` and no proxies or identities, every peer is trusted (Envoy's hop-count semantics).
//! 2. The first configured source present in the request decides; the peer is the last resort.
//! 3. The chain is `[entries..., peer]`; hop 0 is the peer, hop 1 the rightmost entry. Entries are walked right to
//!    left. CIDR mode skips entries in `trust.proxies`; hop mode (`trust.hops = N`) skips exactly N-1 entries and
//!    the client is hop N. The walk stops at the first entry that is not an address (malformed, `unknown`,
//!    obfuscated) and never skips past it: `actions.malformed` decides.
//! 4. Running out of entries is `actions.all_trusted` (CIDR mode) or `actions.too_few_hops` (hop mode). With no
//!    source present at all, hop mode has a chain of the peer alone, fewer hops than configured, so
//!    `actions.too_few_hops` decides as well (Envoy falls back to the downstream address for a missing XFF exactly as
//!    for a short one); CIDR mode takes the peer, since a trusted proxy may make requests of its own.
//!
//! [`Resolver::resolve`] allocates nothing unless it rejects (the rejection detail is a `String`);
//! [`Resolver::resolve_traced`] runs the same walk and also records a [`Trace`].

mod decision;
mod names;
mod spoof;
mod trace;
mod walk;

#[cfg(test)]
mod tests;

pub use decision::{Decision, Fallback, RejectKind, Rejection, Source};
pub use spoof::{Spoof, SpoofSignals};
pub use trace::Trace;

use crate::access::Access;
use crate::addr::PeerAddr;
use crate::config::Policy;
use crate::rewrite::RewritePlan;

/// One request as the resolver sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The TCP peer, or the PROXY source behind a PROXY listener.
    pub peer: PeerAddr,
    /// The peer's mTLS URI SAN, when known (the filter's sidecar mode).
    pub peer_identity: Option<&'a str>,
    /// Every header line in arrival order; names in any case. Values need not be UTF-8.
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

/// The client-IP decision procedure for one policy. Built once (at configuration load), shared across requests.
#[derive(Debug, Clone)]
pub struct Resolver {
    policy: Policy,
    mode: walk::Mode,
    names: names::NameTable,
}

impl Resolver {
    /// Builds a resolver from a validated policy.
    pub fn new(policy: &Policy) -> Resolver {
        Resolver {
            mode: walk::Mode::of(policy),
            names: names::NameTable::new(Resolver::forwarding_names(policy)),
            policy: policy.clone(),
        }
    }

    /// The policy this resolver was built from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decides the client of one request. No heap allocation unless the request is rejected.
    pub fn resolve(&self, req: &Request<'_>) -> Result<Decision, Rejection> {
        self.run(req, &mut trace::Silent)
    }

    /// [`Resolver::resolve`] with a human-readable account of each step.
    pub fn resolve_traced(&self, req: &Request<'_>) -> (Result<Decision, Rejection>, Trace) {
        let mut trace = Trace::default();
        let result = self.run(req, &mut trace);
        (result, trace)
    }

    /// The header changes to apply before forwarding the request (see [`crate::rewrite`]).
    pub fn rewrite_plan(&self, req: &Request<'_>, decision: &Decision) -> RewritePlan {
        crate::rewrite::plan(self, req, decision)
    }

    /// Whether the decided client may pass the access lists.
    pub fn access(&self, decision: &Decision) -> Access {
        crate::access::check(&self.policy.access, decision.client.ip)
    }

    /// Whether the peer is trusted to forward (address or identity), as step 1 decides it.
    pub fn peer_trusted(&self, req: &Request<'_>) -> bool {
        walk::peer_trusted(self, req)
    }
}
