use proptest::prelude::*;

use super::*;
use crate::Config;
use crate::addr::PeerAddr;

fn resolver(json: &str) -> Resolver {
    Resolver::new(&Config::from_json(json).expect("test config").policy)
}

fn req<'a>(peer: &str, headers: &'a [(&'a [u8], &'a [u8])]) -> Request<'a> {
    Request {
        peer: PeerAddr(peer.parse().expect("test peer")),
        peer_identity: None,
        headers,
    }
}

const CIDR: &str = r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#;

#[test]
fn cidr_walk_skips_trusted_hops() {
    let r = resolver(CIDR);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"198.51.100.1, 203.0.113.9, 10.0.0.5")];
    let d = r.resolve(&req("10.0.0.7:5100", h)).expect("decision");
    assert_eq!(d.client.ip.to_string(), "203.0.113.9");
    assert_eq!(d.hop, 2);
    assert_eq!(d.source, Source::XForwardedFor);
    assert!(!d.internal);
    assert_eq!(d.fallback, None);
    assert!(d.spoof.is_empty());
}

#[test]
fn configured_name_with_underscore_is_not_its_own_look_alike() {
    // `X_Real_IP` also looks like the built-in `x-real-ip`, but with `x_real_ip` configured it is the header.
    let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":[{"header":"x_real_ip"}]}"#);
    let h: &[(&[u8], &[u8])] = &[(b"X_Real_IP", b"203.0.113.9")];
    let d = r.resolve(&req("10.0.0.7:5100", h)).expect("decision");
    assert_eq!(d.client.ip.to_string(), "203.0.113.9");
    assert!(
        d.spoof.is_empty(),
        "{:?}",
        d.spoof.labels().collect::<Vec<_>>()
    );
    // A real look-alike of a configured name still raises the signal.
    let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":[{"header":"x_real-ip"}]}"#);
    let h: &[(&[u8], &[u8])] = &[(b"x_real-ip", b"203.0.113.9"), (b"x_real_ip", b"192.0.2.1")];
    let d = r.resolve(&req("10.0.0.7:5100", h)).expect("decision");
    assert_eq!(d.client.ip.to_string(), "203.0.113.9");
    let signals: Vec<&str> = d.spoof.labels().collect();
    assert_eq!(signals, ["header_name_variant"]);
}

#[test]
fn xff_lines_interleaved_with_other_headers_are_walked_in_order() {
    // The scan remembers where the X-Forwarded-For lines are; lines of other names between them, look-alike
    // names and a client-IP header that is not a source must not change the walk.
    let r = resolver(CIDR);
    let h: &[(&[u8], &[u8])] = &[
        (b"x-forwarded-for", b"198.51.100.1, 203.0.113.9"),
        (b"host", b"example.com"),
        (b"X_Forwarded_For", b"192.0.2.66"),
        (b"X-Real-IP", b"192.0.2.77"),
        (b"X-Forwarded-For", b"10.0.0.9:80, 10.1.2.3"),
        (b"accept", b"*/*"),
    ];
    let d = r.resolve(&req("10.0.0.7:5100", h)).expect("decision");
    assert_eq!(d.client.ip.to_string(), "203.0.113.9");
    assert_eq!(d.hop, 3);
    let signals: Vec<&str> = d.spoof.labels().collect();
    assert_eq!(signals, ["multiple_xff_lines", "header_name_variant"]);
    // From an untrusted peer the same names count as forwarding headers.
    let r = resolver(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"actions":{"untrusted_headers":"reject"}}"#,
    );
    for names in [&h[1..2], &h[2..3], &h[3..4]] {
        let got = r.resolve(&req("203.0.113.50:4000", names));
        assert_eq!(got.is_err(), names[0].0 != b"host", "{:?}", names[0].0);
    }
}

#[test]
fn untrusted_peer_ignores_headers() {
    let r = resolver(CIDR);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"198.51.100.1")];
    let q = req("203.0.113.50:4000", h);
    let d = r.resolve(&q).expect("decision");
    assert_eq!(d.client.to_string(), "203.0.113.50:4000");
    assert_eq!(d.source, Source::Peer);
    assert!(d.spoof.contains(Spoof::UntrustedForwardingHeaders));
    assert!(!r.peer_trusted(&q));
}

#[test]
fn rejection_detail_carries_the_value() {
    let r = resolver(CIDR);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"203.0.113.9,  10.0.0.300 ")];
    let e = r.resolve(&req("10.0.0.7:5100", h)).expect_err("rejection");
    assert_eq!(e.kind, RejectKind::MalformedEntry);
    assert_eq!(e.status, 400);
    assert_eq!(
        e.detail,
        r#"x-forwarded-for hop 1: not an IP address: "10.0.0.300""#
    );
    assert_eq!(
        e.to_string(),
        r#"malformed_entry: x-forwarded-for hop 1: not an IP address: "10.0.0.300""#
    );
}

#[test]
fn trace_tells_the_story() {
    let r = resolver(CIDR);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"203.0.113.9, 10.0.0.5")];
    let q = req("10.0.0.7:5100", h);
    let (traced, trace) = r.resolve_traced(&q);
    assert_eq!(traced, r.resolve(&q));
    assert_eq!(
        trace.steps(),
        &[
            "peer 10.0.0.7:5100 is trusted (trust.proxies)",
            "hop 1 \"10.0.0.5\": trusted proxy (trust.proxies), skipped",
            "hop 2 \"203.0.113.9\": client",
            "client 203.0.113.9 from x-forwarded-for hop 2 (external)",
        ]
    );
}

#[test]
fn trace_of_hop_mode_and_fallback() {
    let r = resolver(r#"{"trust":{"hops":3}}"#);
    let h: &[(&[u8], &[u8])] = &[(b"x-forwarded-for", b"203.0.113.9, 198.51.100.1")];
    let (result, trace) = r.resolve_traced(&req("192.0.2.5:1", h));
    let d = result.expect("decision");
    assert_eq!(d.fallback, Some(Fallback::TooFewHops));
    let text = trace.to_string();
    assert!(
        text.contains("trust.hops without trust.proxies or identities trusts every peer"),
        "{text}"
    );
    assert!(
        text.contains("hop 2 \"203.0.113.9\": trusted hop 2 of 2 (trust.hops = 3), skipped"),
        "{text}"
    );
    assert!(text.contains("actions.too_few_hops = peer"), "{text}");
}

#[test]
fn hop_mode_without_any_source_is_too_few_hops() {
    // The chain is the peer alone: 0 entries where trust.hops = 2 needs 2.
    let h: &[(&[u8], &[u8])] = &[(b"accept", b"*/*")];
    let (result, trace) =
        resolver(r#"{"trust":{"hops":2}}"#).resolve_traced(&req("192.0.2.5:1", h));
    let d = result.expect("decision");
    assert_eq!(
        (d.source, d.hop, d.fallback),
        (Source::Peer, 0, Some(Fallback::TooFewHops))
    );
    assert_eq!(
        trace.steps().last().map(String::as_str),
        Some("client 192.0.2.5:1 from peer hop 0 (external)")
    );
    assert!(
        trace
            .to_string()
            .contains("0 entries, trust.hops = 2 needs 2: actions.too_few_hops = peer"),
        "{trace}"
    );
    let rejected = resolver(r#"{"trust":{"hops":2},"actions":{"too_few_hops":"reject"}}"#)
        .resolve(&req("192.0.2.5:1", h))
        .expect_err("rejection");
    assert_eq!(rejected.kind, RejectKind::TooFewHops);
    assert_eq!(
        rejected.detail,
        "no forwarding header, trust.hops = 2 needs 2 entries"
    );
    // CIDR mode is unchanged: a trusted proxy's own request is its own client.
    let d = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]},"actions":{"all_trusted":"reject"}}"#)
        .resolve(&req("10.0.0.7:1", h))
        .expect("decision");
    assert_eq!((d.source, d.fallback), (Source::Peer, None));
}

#[test]
fn identity_trusts_the_peer() {
    let r = resolver(r#"{"trust":{"identities":["spiffe://td/ns/gw/sa/gw"]}}"#);
    let h: &[(&[u8], &[u8])] = &[(b"x-forwarded-for", b"203.0.113.9")];
    let mut q = req("10.1.2.3:1", h);
    assert_eq!(r.resolve(&q).expect("decision").source, Source::Peer);
    q.peer_identity = Some("spiffe://td/ns/gw/sa/gw");
    let (d, trace) = r.resolve_traced(&q);
    assert_eq!(d.expect("decision").client.ip.to_string(), "203.0.113.9");
    assert!(trace.steps()[0].contains("identity \"spiffe://td/ns/gw/sa/gw\""));
}

#[test]
fn single_header_duplicate_is_signalled_and_rejected() {
    let r = resolver(r#"{"trust":{"proxies":["loopback"]},"sources":[{"header":"x-real-ip"}]}"#);
    let h: &[(&[u8], &[u8])] = &[
        (b"X-Real-IP", b"203.0.113.9"),
        (b"x-real-ip", b"203.0.113.10"),
    ];
    let e = r.resolve(&req("127.0.0.1:1", h)).expect_err("rejection");
    assert_eq!(e.kind, RejectKind::DuplicateHeader);
    assert!(e.spoof.contains(Spoof::DuplicateSingleHeader));
    assert_eq!(e.detail, "x-real-ip: more than one value");
}

#[test]
fn labels_are_stable_and_round_trip() {
    for k in RejectKind::ALL {
        assert_eq!(RejectKind::from_label(k.label()), Some(k));
    }
    for s in Spoof::ALL {
        assert_eq!(Spoof::from_label(s.label()), Some(s));
    }
    let set: SpoofSignals = [Spoof::MultipleXffLines, Spoof::UntrustedForwardingHeaders]
        .into_iter()
        .collect();
    assert_eq!(
        set.labels().collect::<Vec<_>>(),
        vec!["untrusted_forwarding_headers", "multiple_xff_lines"]
    );
    assert_eq!(Fallback::AllTrusted.label(), "all_trusted");
}

#[test]
fn too_many_entries_stop_the_walk() {
    let r =
        resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]},"actions":{"all_trusted":"leftmost"}}"#);
    let value = vec!["10.0.0.1"; 70_000].join(",");
    let h: &[(&[u8], &[u8])] = &[(b"x-forwarded-for", value.as_bytes())];
    let e = r.resolve(&req("10.0.0.7:1", h)).expect_err("rejection");
    assert_eq!(e.kind, RejectKind::MalformedEntry);
    assert!(e.detail.contains("too many entries"), "{}", e.detail);
}

const POLICIES: &[&str] = &[
    CIDR,
    r#"{"trust":{"hops":2},"actions":{"malformed":"peer"}}"#,
    r#"{"trust":{"proxies":["10.0.0.0/8"],"hops":1},"sources":["forwarded","x-forwarded-for",{"header":"x-real-ip"}],"actions":{"all_trusted":"leftmost","untrusted_headers":"reject"}}"#,
    r#"{"trust":{"proxies":["private","loopback"]},"sources":[{"header":"cf-connecting-ip"},"forwarded"],"rewrite":{"xff":"canonical","forwarded":"canonical","client_header":"x-real-ip"}}"#,
];

fn header_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"X-Forwarded-For".to_vec()),
        Just(b"forwarded".to_vec()),
        Just(b"x-real-ip".to_vec()),
        Just(b"CF-Connecting-IP".to_vec()),
        Just(b"x_forwarded_for".to_vec()),
        Just(b"host".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        "[0-9a-f:.,\\[\\] ;=\"_forunkw]{0,40}".prop_map(String::into_bytes),
        proptest::collection::vec(
            prop_oneof![
                Just("10.0.0.5"),
                Just("203.0.113.9"),
                Just("[2001:db8::1]:80"),
                Just("unknown"),
                Just("for=10.0.0.6"),
                Just("for=\"[2001:db8::2]\""),
                Just("_x"),
                Just(""),
                Just("bogus")
            ],
            0..6
        )
        .prop_map(|v| v.join(", ").into_bytes()),
    ]
}

fn peer() -> impl Strategy<Value = std::net::SocketAddr> {
    prop_oneof![
        Just("10.0.0.2:5000".parse().expect("addr")),
        Just("127.0.0.1:1".parse().expect("addr")),
        Just("[::ffff:10.0.0.3]:2".parse().expect("addr")),
        any::<std::net::SocketAddr>(),
    ]
}

proptest! {
    #[test]
    fn resolver_never_panics_and_trace_agrees(
        policy in 0..POLICIES.len(),
        peer in peer(),
        headers in proptest::collection::vec((header_name(), header_value()), 0..6),
    ) {
        let r = resolver(POLICIES[policy]);
        let h: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let q = Request { peer: PeerAddr(peer), peer_identity: None, headers: &h };
        let plain = r.resolve(&q);
        let (traced, trace) = r.resolve_traced(&q);
        prop_assert_eq!(&plain, &traced);
        prop_assert!(!trace.steps().is_empty());
        if let Ok(d) = &plain {
            let plan = r.rewrite_plan(&q, d);
            let _ = plan.apply(&h);
            let _ = r.access(d);
        }
    }

    #[test]
    fn lines_and_coalesced_line_decide_alike(
        policy in 0..POLICIES.len(),
        entries in proptest::collection::vec(
            prop_oneof![Just("10.0.0.5"), Just("10.1.1.1:80"), Just("203.0.113.9"), Just("[2001:db8::1]:80"), Just("unknown"), Just("bogus"), Just("")],
            1..8,
        ),
        cuts in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let r = resolver(POLICIES[policy]);
        let coalesced = entries.join(", ");
        let mut lines = Vec::new();
        let mut cur: Vec<&str> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if i > 0 && cuts[i] {
                lines.push(cur.join(", "));
                cur.clear();
            }
            cur.push(e);
        }
        lines.push(cur.join(", "));
        let one: Vec<(&[u8], &[u8])> = vec![(b"x-forwarded-for", coalesced.as_bytes())];
        let many: Vec<(&[u8], &[u8])> = lines.iter().map(|l| (b"x-forwarded-for".as_slice(), l.as_bytes())).collect();
        let peer: std::net::SocketAddr = "10.0.0.2:5000".parse().expect("addr");
        let a = r.resolve(&Request { peer: PeerAddr(peer), peer_identity: None, headers: &one });
        let b = r.resolve(&Request { peer: PeerAddr(peer), peer_identity: None, headers: &many });
        match (a, b) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.client, b.client);
                prop_assert_eq!(a.source, b.source);
                prop_assert_eq!(a.hop, b.hop);
                prop_assert_eq!(a.fallback, b.fallback);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.kind, b.kind),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }
}
