use super::*;
use crate::Config;

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

#[test]
fn cidr_walk_skips_trusted_hops() {
    let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"198.51.100.1, 203.0.113.9, 10.0.0.5")];
    let d = r.resolve(&req("10.0.0.7:5100", h)).expect("decision");
    assert_eq!(d.client.ip.to_string(), "203.0.113.9");
    assert_eq!(d.hop, 2);
    assert_eq!(d.source, Source::XForwardedFor);
    assert!(!d.internal);
    assert_eq!(d.fallback, None);
}

#[test]
fn untrusted_peer_ignores_headers() {
    let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"198.51.100.1")];
    let d = r.resolve(&req("203.0.113.50:4000", h)).expect("decision");
    assert_eq!(d.client.to_string(), "203.0.113.50:4000");
    assert_eq!(d.source, Source::Peer);
    assert!(d.spoof.contains(Spoof::UntrustedForwardingHeaders));
}

#[test]
fn traced_and_untraced_agree() {
    let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#);
    let h: &[(&[u8], &[u8])] = &[(b"X-Forwarded-For", b"203.0.113.9, 10.0.0.5")];
    let q = req("10.0.0.7:5100", h);
    let (traced, trace) = r.resolve_traced(&q);
    assert_eq!(traced, r.resolve(&q));
    assert!(
        trace.to_string().contains("hop 2 \"203.0.113.9\": client"),
        "{trace}"
    );
}
