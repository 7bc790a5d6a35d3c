//! What the resolver returns: a [`Decision`] or a [`Rejection`].

use std::fmt;

use crate::addr::ClientAddr;
use crate::config::HeaderName;
use crate::resolve::SpoofSignals;

/// The decided client of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The client address; the port when the deciding entry (or the peer) had one.
    pub client: ClientAddr,
    /// Where the client address came from.
    pub source: Source,
    /// The client's hop index: 0 is the peer, 1 the rightmost header entry, and so on.
    pub hop: u16,
    /// Whether the client is in the `internal` ranges.
    pub internal: bool,
    /// Signs of attempted forgery seen on the way; they do not change the decision.
    pub spoof: SpoofSignals,
    /// Set when the client is not what the normal walk found, but what an action chose (peer or leftmost entry).
    pub fallback: Option<Fallback>,
}

/// Where a decided client address came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The peer (or PROXY source): no trusted header named a client.
    Peer,
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// RFC 7239 `Forwarded`.
    Forwarded,
    /// A configured single-address header.
    Header(HeaderName),
}

impl Source {
    /// A stable label: `peer`, `x-forwarded-for`, `forwarded`, or the header name.
    pub fn label(&self) -> &str {
        match self {
            Source::Header(h) => h.as_str(),
            _ => self.static_label().unwrap_or_default(),
        }
    }

    /// The label when it is fixed (every source but a configured header), so per-request metric keys need not
    /// allocate.
    pub fn static_label(&self) -> Option<&'static str> {
        match self {
            Source::Peer => Some("peer"),
            Source::XForwardedFor => Some("x-forwarded-for"),
            Source::Forwarded => Some("forwarded"),
            Source::Header(_) => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why an action, not the normal walk, chose the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fallback {
    /// The walk stopped at a malformed entry; `actions.malformed = "peer"`.
    MalformedEntry,
    /// The walk stopped at `unknown` (or a `Forwarded` element without `for`); `actions.malformed = "peer"`.
    UnknownEntry,
    /// The walk stopped at an obfuscated `_token`; `actions.malformed = "peer"`.
    ObfuscatedEntry,
    /// A single-address source header had more than one value; `actions.malformed = "peer"`.
    DuplicateHeader,
    /// Every entry was trusted; `actions.all_trusted` is `peer` or `leftmost` (see [`Decision::source`]).
    AllTrusted,
    /// Fewer entries than `trust.hops`; `actions.too_few_hops = "peer"`.
    TooFewHops,
}

impl Fallback {
    /// A stable snake_case label; the same as the [`RejectKind`] of the same edge.
    pub fn label(self) -> &'static str {
        RejectKind::from(self).label()
    }
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A request the policy refuses to decide a client for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", .kind.label())]
pub struct Rejection {
    /// What went wrong.
    pub kind: RejectKind,
    /// The HTTP status to answer with (`actions.reject_status`).
    pub status: u16,
    /// A short human explanation with the offending value, e.g. `hop 2: not an IP address: "1.2.3"`.
    pub detail: String,
    /// Spoof signals seen before the rejection.
    pub spoof: SpoofSignals,
}

/// The kind of a [`Rejection`], with a stable label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectKind {
    /// Forwarding headers from an untrusted peer; `actions.untrusted_headers = "reject"`.
    UntrustedHeaders,
    /// An entry that is not an address.
    MalformedEntry,
    /// An `unknown` entry, or a `Forwarded` element without `for`.
    UnknownEntry,
    /// An obfuscated `_token` entry.
    ObfuscatedEntry,
    /// A single-address source header with more than one value.
    DuplicateHeader,
    /// Every entry trusted; `actions.all_trusted = "reject"`.
    AllTrusted,
    /// Fewer entries than `trust.hops`; `actions.too_few_hops = "reject"`.
    TooFewHops,
}

impl RejectKind {
    /// Every kind.
    pub const ALL: [RejectKind; 7] = [
        RejectKind::UntrustedHeaders,
        RejectKind::MalformedEntry,
        RejectKind::UnknownEntry,
        RejectKind::ObfuscatedEntry,
        RejectKind::DuplicateHeader,
        RejectKind::AllTrusted,
        RejectKind::TooFewHops,
    ];

    /// A stable snake_case label for logs, metrics and JSON output.
    pub fn label(self) -> &'static str {
        match self {
            RejectKind::UntrustedHeaders => "untrusted_headers",
            RejectKind::MalformedEntry => "malformed_entry",
            RejectKind::UnknownEntry => "unknown_entry",
            RejectKind::ObfuscatedEntry => "obfuscated_entry",
            RejectKind::DuplicateHeader => "duplicate_header",
            RejectKind::AllTrusted => "all_trusted",
            RejectKind::TooFewHops => "too_few_hops",
        }
    }

    /// Parses a label back.
    pub fn from_label(label: &str) -> Option<RejectKind> {
        RejectKind::ALL.into_iter().find(|k| k.label() == label)
    }
}

impl From<Fallback> for RejectKind {
    fn from(f: Fallback) -> Self {
        match f {
            Fallback::MalformedEntry => RejectKind::MalformedEntry,
            Fallback::UnknownEntry => RejectKind::UnknownEntry,
            Fallback::ObfuscatedEntry => RejectKind::ObfuscatedEntry,
            Fallback::DuplicateHeader => RejectKind::DuplicateHeader,
            Fallback::AllTrusted => RejectKind::AllTrusted,
            Fallback::TooFewHops => RejectKind::TooFewHops,
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
