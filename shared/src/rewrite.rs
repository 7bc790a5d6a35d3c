//! The rewrite plan: the header changes to make before the request goes upstream, as pure data that the filter and
//! the proxy apply with their own header APIs.
//!
//! A plan is applied in two steps: first every line of every name in [`RewritePlan::remove`] is removed, then each
//! `(name, value)` in [`RewritePlan::set`] replaces all lines of `name` with one line. Names are lowercase and are
//! compared ASCII case-insensitively. [`RewritePlan::apply`] is the reference implementation.
//!
//! What goes into a plan, in order:
//! 1. Untrusted peer with `actions.untrusted_headers = "strip"`: every client-IP header present (the well-known ones
//!    in [`crate::forwarded::SPOOFABLE_HEADERS`], configured source headers, the configured client header) and
//!    every `_` look-alike of them (`x_forwarded_for`, `X-Forwarded_For`) is removed.
//! 2. `rewrite.strip_spoofable` (default on), for every peer: `_` look-alikes are removed, and so are the
//!    well-known single-address headers ([`crate::forwarded::SINGLE_IP_HEADERS`]) that are not a configured
//!    source, because an application may read them and nothing in this policy vouches for them.
//! 3. `rewrite.client_header`: set to the decided client IP (no port).
//! 4. `rewrite.xff`: `append` sets `X-Forwarded-For` to what arrived (all lines joined with `, `, nothing if
//!    stripped) followed by the peer IP, as Envoy does; `keep` leaves it; `canonical` sets it to the decided client,
//!    the verified trusted hops between the client and the peer, and the peer, dropping every entry left of the
//!    client (nothing vouches for those); `remove` removes it.
//! 5. `rewrite.forwarded`: `none` leaves `Forwarded`; `append` adds a `for=<peer>` element; `canonical` sets it to
//!    `for=` elements for the same chain as the canonical `X-Forwarded-For`. IPv6 is quoted and bracketed
//!    (`for="[2001:db8::1]"`); ports and other parameters are not emitted.
//!
//! All rendered addresses are IPs without ports, IPv4-mapped IPv6 written as IPv4.

use std::net::IpAddr;

use crate::addr::{push_ip, trim_ows};
use crate::config::{ForwardedMode, SourceSpec, UntrustedHeaders, XffMode};
use crate::forwarded::{
    Entry, Node, SINGLE_IP_HEADERS, length_bit, lines_rev, name_is, rfc7239, single, xff,
};
use crate::resolve::{Decision, Request, Resolver, Source};

/// Header changes for one request. See the [module docs](self) for the application order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewritePlan {
    /// Lowercase names whose every line is removed.
    pub remove: Vec<String>,
    /// `(lowercase name, value)`: replaces every line of the name with one line, after the removals.
    pub set: Vec<(String, String)>,
}

impl RewritePlan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty()
    }

    /// Applies the plan to a header list: kept lines in their original order (names as received), then the set
    /// headers in plan order.
    pub fn apply<N, V>(&self, headers: &[(N, V)]) -> Vec<(Vec<u8>, Vec<u8>)>
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let dropped = |name: &[u8]| {
            self.remove.iter().any(|r| name_is(name, r))
                || self.set.iter().any(|(s, _)| name_is(name, s))
        };
        headers
            .iter()
            .filter(|(n, _)| !dropped(n.as_ref()))
            .map(|(n, v)| (n.as_ref().to_vec(), v.as_ref().to_vec()))
            .chain(
                self.set
                    .iter()
                    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())),
            )
            .collect()
    }

    fn remove(&mut self, name: &[u8]) {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if !self.remove.contains(&lower) {
            self.remove.push(lower);
        }
    }

    fn set(&mut self, name: &str, value: String) {
        self.set.retain(|(n, _)| n != name);
        self.set.push((name.to_owned(), value));
    }
}

pub(crate) fn plan(r: &Resolver, req: &Request<'_>, decision: &Decision) -> RewritePlan {
    let policy = r.policy();
    let rules = &policy.rewrite;
    let mut plan = RewritePlan::default();
    let strip = !r.peer_trusted(req) && policy.actions.untrusted_headers == UntrustedHeaders::Strip;

    // Most names (`:path`, `user-agent`, ...) have the length of no client-IP header: the resolver's and
    // `SINGLE_IP_LENGTHS`' length tests reject them before any byte is compared.
    for (name, _) in req.headers {
        let variant = r.is_variant(name);
        let stripped = strip && (variant || r.is_forwarding(name));
        let spoofable =
            rules.strip_spoofable && (variant || unvouched_single(policy.sources.as_slice(), name));
        if stripped || spoofable {
            plan.remove(name);
        }
    }

    // Values are built in one String each, sized up front, and addresses rendered without `core::fmt`: this runs
    // on every request, and in the Wasm filter formatting and regrowing cost more than the decision itself.
    if let Some(h) = &rules.client_header {
        let mut value = String::with_capacity(crate::addr::MAX_IP_TEXT_LEN);
        push_ip(&mut value, decision.client.ip);
        plan.set(h.as_str(), value);
    }

    let peer = req.peer.client().ip;
    match rules.xff {
        XffMode::Append => {
            let value = appended(req.headers, "x-forwarded-for", strip, peer, push_ip);
            plan.set("x-forwarded-for", value);
        }
        XffMode::Keep => {}
        XffMode::Canonical => plan.set("x-forwarded-for", xff::render(chain(req, decision))),
        XffMode::Remove => plan.remove(b"x-forwarded-for"),
    }
    match rules.forwarded {
        ForwardedMode::None => {}
        ForwardedMode::Append => {
            let value = appended(req.headers, "forwarded", strip, peer, rfc7239::push_for);
            plan.set("forwarded", value);
        }
        ForwardedMode::Canonical => plan.set("forwarded", rfc7239::render(chain(req, decision))),
    }
    plan
}

/// The lengths of the names in [`SINGLE_IP_HEADERS`], as [`length_bit`]s.
const SINGLE_IP_LENGTHS: u64 = {
    let mut mask = 0u64;
    let mut names = SINGLE_IP_HEADERS;
    while let [name, rest @ ..] = names {
        mask |= length_bit(name.len());
        names = rest;
    }
    mask
};

/// A well-known single-address header that is not a configured source.
fn unvouched_single(sources: &[SourceSpec], name: &[u8]) -> bool {
    SINGLE_IP_LENGTHS & length_bit(name.len()) != 0
        && SINGLE_IP_HEADERS.iter().any(|h| name_is(name, h))
        && !sources
            .iter()
            .any(|s| matches!(s, SourceSpec::Header(h) if name_is(name, h.as_str())))
}

/// What arrived in a list header (nothing when `stripped`), then `, ` and the peer as `push` renders it.
fn appended(
    headers: &[(&[u8], &[u8])],
    lower: &str,
    stripped: bool,
    peer: IpAddr,
    push: fn(&mut String, IpAddr),
) -> String {
    let arrived: usize = match stripped {
        true => 0,
        false => headers
            .iter()
            .filter(|(name, _)| name_is(name, lower))
            .map(|(_, value)| value.len() + 2)
            .sum(),
    };
    let mut out = String::with_capacity(arrived + rfc7239::MAX_FOR_LEN);
    if !stripped {
        push_joined(&mut out, headers, lower);
    }
    if !out.is_empty() {
        out.push_str(", ");
    }
    push(&mut out, peer);
    out
}

/// Every line of a header that holds an element, trimmed but otherwise verbatim, joined with `, ` in arrival
/// order, appended to `out`.
fn push_joined(out: &mut String, headers: &[(&[u8], &[u8])], lower: &str) {
    for (name, value) in headers {
        if !name_is(name, lower) {
            continue;
        }
        let v = trim_ows(value);
        // A line of nothing but separators holds no element (RFC 9110 5.6.1), like an absent line.
        if v.iter().all(|&b| matches!(b, b',' | b' ' | b'\t')) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy` walks byte by byte even when nothing needs
        // replacing, so it is kept for the values that do.
        match std::str::from_utf8(v) {
            Ok(text) => out.push_str(text),
            Err(_) => out.push_str(&String::from_utf8_lossy(v)),
        }
    }
}

/// The verified chain, leftmost first: the client, the trusted hops the walk skipped, and the peer.
fn chain(req: &Request<'_>, decision: &Decision) -> Vec<IpAddr> {
    let take = usize::from(decision.hop);
    let mut hops: Vec<IpAddr> = match &decision.source {
        Source::Peer => Vec::new(),
        Source::XForwardedFor => addrs(
            xff::entries_rev(lines_rev(req.headers, "x-forwarded-for")),
            take,
        ),
        Source::Forwarded => addrs(
            rfc7239::elements_rev(lines_rev(req.headers, "forwarded")),
            take,
        ),
        Source::Header(h) => match single::value(lines_rev(req.headers, h.as_str())) {
            single::Single::One(e) => addrs(std::iter::once(e), take),
            single::Single::Absent | single::Single::Duplicate => Vec::new(),
        },
    };
    // The walk only reaches the decided hop through addresses; if the request changed underneath (it cannot,
    // but the plan must not trust that), fall back to the decided client alone.
    if hops.len() != take {
        hops.clear();
        if decision.source != Source::Peer {
            hops.push(decision.client.ip);
        }
    }
    hops.reverse();
    hops.push(req.peer.client().ip);
    hops
}

fn addrs<'h>(entries: impl Iterator<Item = Entry<'h>>, take: usize) -> Vec<IpAddr> {
    entries
        .take(take)
        .map_while(|e| match e.node {
            Ok(Node::Addr(a)) => Some(a.ip),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
