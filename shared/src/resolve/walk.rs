//! The walk itself; see the [module docs](super) for the rules.

use std::net::IpAddr;

use crate::addr::{ClientAddr, Escaped, PeerAddr, trim_ows};
use crate::config::{AllTrusted, Malformed, Policy, SourceSpec, TooFewHops, UntrustedHeaders};
use crate::forwarded::{
    Entry, EntryErrorKind, Node, SPOOFABLE_HEADERS, lines_rev, rfc7239, single, xff,
};
use crate::resolve::trace::Tracer;
use crate::resolve::{
    Decision, Fallback, RejectKind, Rejection, Request, Resolver, Source, Spoof, SpoofSignals,
};

/// How entries are judged, fixed when the resolver is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Skip entries in `trust.proxies`.
    Cidr,
    /// Skip exactly `n - 1` entries; `gated` when the peer must be trusted by address or identity first.
    Hops { n: u16, gated: bool },
}

impl Mode {
    pub(super) fn of(policy: &Policy) -> Mode {
        let t = &policy.trust;
        match t.hops {
            Some(n) => Mode::Hops {
                n: n.get(),
                gated: !t.proxies.is_empty() || !t.identities.is_empty(),
            },
            None => Mode::Cidr,
        }
    }
}

/// Why the peer is trusted, for the trace.
#[derive(Clone, Copy)]
enum PeerTrust<'a> {
    Address,
    Identity(&'a str),
    UngatedHops,
    No,
}

#[inline(always)]
fn peer_trust<'a>(r: &Resolver, req: &Request<'a>) -> PeerTrust<'a> {
    if let Mode::Hops { gated: false, .. } = r.mode {
        return PeerTrust::UngatedHops;
    }
    let trust = &r.policy.trust;
    if trust.proxies.contains(req.peer.0.ip()) {
        return PeerTrust::Address;
    }
    if let Some(id) = req.peer_identity
        && trust.identities.iter().any(|t| t.as_str() == id)
    {
        return PeerTrust::Identity(id);
    }
    PeerTrust::No
}

pub(super) fn peer_trusted(r: &Resolver, req: &Request<'_>) -> bool {
    !matches!(peer_trust(r, req), PeerTrust::No)
}

/// How one source's walk ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Walk<'h> {
    /// The source holds no entry.
    Absent,
    /// The client, at its hop.
    Client { addr: ClientAddr, hop: u16 },
    /// An entry that is not an address; the walk stops here.
    Stop {
        fallback: Fallback,
        error: Option<EntryErrorKind>,
        hop: u16,
        raw: &'h [u8],
    },
    /// Every entry was skipped; `leftmost` is the last one skipped.
    Exhausted { leftmost: ClientAddr, hop: u16 },
}

/// What the walk carries from entry to entry.
#[derive(Default)]
struct WalkState {
    /// The hop index of the last entry seen.
    hop: u16,
    /// The last entry skipped as trusted, with its hop.
    leftmost: Option<(ClientAddr, u16)>,
}

impl WalkState {
    /// The walk ran out of entries.
    #[inline(always)]
    fn finish<'h>(self) -> Walk<'h> {
        match self.leftmost {
            Some((leftmost, hop)) => Walk::Exhausted { leftmost, hop },
            None => Walk::Absent,
        }
    }
}

/// More entries than a hop index can count.
#[cold]
fn too_many(hop: u16, raw: &[u8]) -> Walk<'_> {
    Walk::Stop {
        fallback: Fallback::MalformedEntry,
        error: Some(EntryErrorKind::TooManyEntries),
        hop,
        raw,
    }
}

impl Resolver {
    pub(super) fn run<T: Tracer>(
        &self,
        req: &Request<'_>,
        t: &mut T,
    ) -> Result<Decision, Rejection> {
        let names = self.names.scan(req.headers);
        let mut spoof = names.spoof;
        let peer = req.peer;

        match peer_trust(self, req) {
            PeerTrust::Address => t.note(format_args!("peer {} is trusted (trust.proxies)", peer.0)),
            PeerTrust::Identity(id) => t.note(format_args!(
                "peer {} is trusted (identity {id:?} in trust.identities)",
                peer.0
            )),
            PeerTrust::UngatedHops => t.note(format_args!(
                "peer {} is trusted (trust.hops without trust.proxies or identities trusts every peer)",
                peer.0
            )),
            PeerTrust::No => {
                t.note(format_args!("peer {} is not trusted: forwarding headers are ignored", peer.0));
                if names.forwarding {
                    spoof.insert(Spoof::UntrustedForwardingHeaders);
                    let action = self.policy.actions.untrusted_headers;
                    t.note(format_args!(
                        "forwarding headers present from an untrusted peer: actions.untrusted_headers = {}",
                        match action {
                            UntrustedHeaders::Strip => "strip",
                            UntrustedHeaders::Keep => "keep",
                            UntrustedHeaders::Reject => "reject",
                        }
                    ));
                    if action == UntrustedHeaders::Reject {
                        return Err(self.reject(
                            RejectKind::UntrustedHeaders,
                            format!("forwarding headers from untrusted peer {}", peer.0),
                            spoof,
                            t,
                        ));
                    }
                }
                return Ok(self.peer_decision(peer, None, spoof, t));
            }
        }

        for spec in self.policy.sources.as_slice() {
            let (source, walk) = match spec {
                SourceSpec::XForwardedFor => (
                    Source::XForwardedFor,
                    match names.xff.last(req.headers) {
                        // The last line is known from the scan; only earlier ones are looked for again.
                        Some(last) => self.walk_xff(
                            xff::entries_rev_after(
                                last,
                                lines_rev(names.xff.before_last(req.headers), "x-forwarded-for"),
                            ),
                            t,
                        ),
                        None => Walk::Absent,
                    },
                ),
                SourceSpec::Forwarded => (
                    Source::Forwarded,
                    self.walk(
                        rfc7239::elements_rev(lines_rev(
                            names.forwarded.within(req.headers),
                            "forwarded",
                        )),
                        t,
                    ),
                ),
                SourceSpec::Header(name) => {
                    let walk = match single::value(lines_rev(req.headers, name.as_str())) {
                        single::Single::Absent => Walk::Absent,
                        single::Single::One(e) => self.walk(std::iter::once(e), t),
                        single::Single::Duplicate => {
                            spoof.insert(Spoof::DuplicateSingleHeader);
                            Walk::Stop {
                                fallback: Fallback::DuplicateHeader,
                                error: None,
                                hop: 1,
                                raw: b"",
                            }
                        }
                    };
                    (Source::Header(name.clone()), walk)
                }
            };
            if let Walk::Absent = walk {
                t.note(format_args!("source {source}: absent"));
                continue;
            }
            if names.xff.count > 0 && names.forwarded.count > 0 {
                self.compare_xff_forwarded(req, &source, &walk, &mut spoof);
            }
            return self.conclude(peer, source, walk, spoof, t);
        }
        t.note(format_args!("no configured source present"));
        if let Mode::Hops { n, .. } = self.mode {
            // The chain is the peer alone: fewer hops than configured, exactly like a header with too few entries
            // (Envoy's `getLastAddressFromXFF` answers both with "no address" and falls back to the downstream
            // address, which is what `too_few_hops = peer` does too).
            return self.too_few_hops(peer, n, None, 0, spoof, t);
        }
        Ok(self.peer_decision(peer, None, spoof, t))
    }

    /// Walks one source's entries right to left.
    pub(crate) fn walk<'h, I, T>(&self, entries: I, t: &mut T) -> Walk<'h>
    where
        I: Iterator<Item = Entry<'h>>,
        T: Tracer,
    {
        let mut state = WalkState::default();
        for e in entries {
            if let Some(end) = self.step(&mut state, e, t) {
                return end;
            }
        }
        state.finish()
    }

    /// [`Resolver::walk`] over `X-Forwarded-For`, with plain dotted quads (nearly every entry) kept as bare IPv4
    /// addresses from parse to range check; any other entry takes the general step. Same result as
    /// `walk(entries)`.
    #[inline]
    fn walk_xff<'h, L, T>(&self, mut entries: xff::EntriesRev<'h, L>, t: &mut T) -> Walk<'h>
    where
        L: Iterator<Item = &'h [u8]>,
        T: Tracer,
    {
        let mut state = WalkState::default();
        loop {
            if let Some((ip, raw)) = entries.next_plain_v4() {
                let Some(hop) = state.hop.checked_add(1) else {
                    return too_many(state.hop, raw);
                };
                state.hop = hop;
                let skip = match self.mode {
                    Mode::Cidr => self.policy.trust.proxies.contains_v4(ip),
                    Mode::Hops { n, .. } => hop < n,
                };
                let addr = ClientAddr {
                    ip: IpAddr::V4(ip),
                    port: None,
                };
                if !skip {
                    if T::ENABLED {
                        t.note(format_args!("hop {hop} {}: client", Escaped(trim_ows(raw))));
                    }
                    return Walk::Client { addr, hop };
                }
                if T::ENABLED {
                    self.note_skipped(hop, raw, t);
                }
                state.leftmost = Some((addr, hop));
                continue;
            }
            let Some(e) = entries.next() else {
                return state.finish();
            };
            if let Some(end) = self.step(&mut state, e, t) {
                return end;
            }
        }
    }

    /// One entry of the walk: `Some` when the walk ends here.
    #[inline(always)]
    fn step<'h, T: Tracer>(
        &self,
        state: &mut WalkState,
        e: Entry<'h>,
        t: &mut T,
    ) -> Option<Walk<'h>> {
        let Some(hop) = state.hop.checked_add(1) else {
            return Some(too_many(state.hop, e.raw));
        };
        state.hop = hop;
        let raw = Escaped(trim_ows(e.raw));
        let stopped = |fallback, error| Walk::Stop {
            fallback,
            error,
            hop,
            raw: e.raw,
        };
        let addr = match e.node {
            Ok(Node::Addr(a)) => a,
            Ok(Node::Unknown) => {
                t.note(format_args!("hop {hop} {raw}: unknown, the walk stops"));
                return Some(stopped(Fallback::UnknownEntry, None));
            }
            Ok(Node::Obfuscated) => {
                t.note(format_args!("hop {hop} {raw}: obfuscated, the walk stops"));
                return Some(stopped(Fallback::ObfuscatedEntry, None));
            }
            Err(kind) => {
                t.note(format_args!("hop {hop} {raw}: {kind}, the walk stops"));
                return Some(stopped(Fallback::MalformedEntry, Some(kind)));
            }
        };
        let skip = match self.mode {
            Mode::Cidr => self.policy.trust.proxies.contains(addr.ip),
            Mode::Hops { n, .. } => hop < n,
        };
        if !skip {
            t.note(format_args!("hop {hop} {raw}: client"));
            return Some(Walk::Client { addr, hop });
        }
        if T::ENABLED {
            self.note_skipped(hop, e.raw, t);
        }
        state.leftmost = Some((addr, hop));
        None
    }

    #[cold]
    fn note_skipped<T: Tracer>(&self, hop: u16, raw: &[u8], t: &mut T) {
        let raw = Escaped(trim_ows(raw));
        match self.mode {
            Mode::Cidr => t.note(format_args!(
                "hop {hop} {raw}: trusted proxy (trust.proxies), skipped"
            )),
            Mode::Hops { n, .. } => t.note(format_args!(
                "hop {hop} {raw}: trusted hop {hop} of {} (trust.hops = {n}), skipped",
                n.saturating_sub(1)
            )),
        }
    }

    fn conclude<T: Tracer>(
        &self,
        peer: PeerAddr,
        source: Source,
        walk: Walk<'_>,
        spoof: SpoofSignals,
        t: &mut T,
    ) -> Result<Decision, Rejection> {
        let actions = &self.policy.actions;
        match walk {
            Walk::Absent => Ok(self.peer_decision(peer, None, spoof, t)),
            Walk::Client { addr, hop } => Ok(self.decision(addr, source, hop, None, spoof, t)),
            Walk::Stop {
                fallback,
                error,
                hop,
                raw,
            } => {
                if actions.malformed == Malformed::Peer {
                    t.note(format_args!("actions.malformed = peer"));
                    return Ok(self.peer_decision(peer, Some(fallback), spoof, t));
                }
                let detail = match (fallback, error) {
                    (Fallback::DuplicateHeader, _) => format!("{source}: more than one value"),
                    (_, Some(kind)) => {
                        format!("{source} hop {hop}: {kind}: {}", Escaped(trim_ows(raw)))
                    }
                    (_, None) => format!("{source} hop {hop}: {}", Escaped(trim_ows(raw))),
                };
                Err(self.reject(fallback.into(), detail, spoof, t))
            }
            Walk::Exhausted { leftmost, hop } => match self.mode {
                Mode::Cidr => match actions.all_trusted {
                    AllTrusted::Peer => {
                        t.note(format_args!(
                            "every entry is a trusted proxy: actions.all_trusted = peer"
                        ));
                        Ok(self.peer_decision(peer, Some(Fallback::AllTrusted), spoof, t))
                    }
                    AllTrusted::Leftmost => {
                        t.note(format_args!(
                            "every entry is a trusted proxy: actions.all_trusted = leftmost"
                        ));
                        Ok(self.decision(
                            leftmost,
                            source,
                            hop,
                            Some(Fallback::AllTrusted),
                            spoof,
                            t,
                        ))
                    }
                    AllTrusted::Reject => Err(self.reject(
                        RejectKind::AllTrusted,
                        format!("{source}: every entry is a trusted proxy"),
                        spoof,
                        t,
                    )),
                },
                Mode::Hops { n, .. } => self.too_few_hops(peer, n, Some(&source), hop, spoof, t),
            },
        }
    }

    /// Hop mode (`trust.hops = n`) found fewer than `n` entries: `entries` in `source`, or none at all (`source`
    /// is `None`).
    fn too_few_hops<T: Tracer>(
        &self,
        peer: PeerAddr,
        n: u16,
        source: Option<&Source>,
        entries: u16,
        spoof: SpoofSignals,
        t: &mut T,
    ) -> Result<Decision, Rejection> {
        match self.policy.actions.too_few_hops {
            TooFewHops::Peer => {
                t.note(format_args!(
                    "{entries} entries, trust.hops = {n} needs {n}: actions.too_few_hops = peer"
                ));
                Ok(self.peer_decision(peer, Some(Fallback::TooFewHops), spoof, t))
            }
            TooFewHops::Reject => {
                let detail = match source {
                    Some(source) => {
                        format!("{source}: {entries} entries, trust.hops = {n} needs {n}")
                    }
                    None => format!("no forwarding header, trust.hops = {n} needs {n} entries"),
                };
                Err(self.reject(RejectKind::TooFewHops, detail, spoof, t))
            }
        }
    }

    fn decision<T: Tracer>(
        &self,
        client: ClientAddr,
        source: Source,
        hop: u16,
        fallback: Option<Fallback>,
        spoof: SpoofSignals,
        t: &mut T,
    ) -> Decision {
        let internal = self.policy.internal.contains(client.ip);
        t.note(format_args!(
            "client {client} from {source} hop {hop} ({})",
            if internal { "internal" } else { "external" }
        ));
        Decision {
            client,
            source,
            hop,
            internal,
            spoof,
            fallback,
        }
    }

    fn peer_decision<T: Tracer>(
        &self,
        peer: PeerAddr,
        fallback: Option<Fallback>,
        spoof: SpoofSignals,
        t: &mut T,
    ) -> Decision {
        self.decision(peer.client(), Source::Peer, 0, fallback, spoof, t)
    }

    fn reject<T: Tracer>(
        &self,
        kind: RejectKind,
        detail: String,
        spoof: SpoofSignals,
        t: &mut T,
    ) -> Rejection {
        let status = self.policy.actions.reject_status.code();
        t.note(format_args!("rejected with {status}: {kind}: {detail}"));
        Rejection {
            kind,
            status,
            detail,
            spoof,
        }
    }

    /// Whether `name` is a `_` look-alike of any client-IP header: the well-known ones, the configured sources and
    /// the configured client header.
    pub(crate) fn is_variant(&self, name: &[u8]) -> bool {
        self.names.is_variant(name)
    }

    /// Whether `name` is exactly a client-IP header (any case).
    pub(crate) fn is_forwarding(&self, name: &[u8]) -> bool {
        self.names.is_forwarding(name)
    }

    /// Every client-IP header name this policy knows, lowercase; may repeat.
    pub(super) fn forwarding_names(policy: &Policy) -> impl Iterator<Item = &str> {
        let configured = policy.sources.as_slice().iter().filter_map(|s| match s {
            SourceSpec::Header(h) => Some(h.as_str()),
            SourceSpec::XForwardedFor | SourceSpec::Forwarded => None,
        });
        SPOOFABLE_HEADERS
            .iter()
            .copied()
            .chain(configured)
            .chain(policy.rewrite.client_header.as_ref().map(|h| h.as_str()))
    }

    fn compare_xff_forwarded(
        &self,
        req: &Request<'_>,
        source: &Source,
        walk: &Walk<'_>,
        spoof: &mut SpoofSignals,
    ) {
        let mut silent = crate::resolve::trace::Silent;
        let other = match source {
            Source::XForwardedFor => self.walk(
                rfc7239::elements_rev(lines_rev(req.headers, "forwarded")),
                &mut silent,
            ),
            Source::Forwarded => self.walk(
                xff::entries_rev(lines_rev(req.headers, "x-forwarded-for")),
                &mut silent,
            ),
            Source::Peer | Source::Header(_) => return,
        };
        let agree = match (walk, &other) {
            (Walk::Client { addr: a, .. }, Walk::Client { addr: b, .. }) => a.ip == b.ip,
            (Walk::Exhausted { .. }, Walk::Exhausted { .. })
            | (Walk::Stop { .. }, Walk::Stop { .. }) => true,
            (_, Walk::Absent) => true,
            _ => false,
        };
        if !agree {
            spoof.insert(Spoof::XffForwardedMismatch);
        }
    }
}
