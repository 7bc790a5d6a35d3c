//! What each fuzz target checks. Targets in `fuzz_targets/` are one line each and call a
//! function here, so checks are plain Rust that also runs under `cargo test` in this crate.
//!
//! Every function must not panic for any input unless the code under test is wrong: a panic
//! here is a finding.

use trueip::forwarded::{Node, rfc7239, xff};
use trueip::proxy_protocol::{
    Command, DecodeError, Decoded, Header, Tlv, V2Builder, Version, decode, decode_v1, decode_v2,
    encode_v1,
};
use trueip::{ClientAddr, Config, PeerAddr, Request, Resolver, Source};

/// The v1 decoder alone.
pub fn proxy_v1(data: &[u8]) {
    check_decoded(data, decode_v1(data));
}

/// The v2 decoder alone.
pub fn proxy_v2(data: &[u8]) {
    check_decoded(data, decode_v2(data));
}

/// The version-detecting decoder; every accepted header is re-encoded and decoded again, and
/// short inputs also get the all-prefixes check.
pub fn proxy_any(data: &[u8]) {
    let result = decode(data);
    if let Ok(d) = &result {
        reencode(&d.header);
    }
    if data.len() <= 300 {
        check_prefixes(data, &result);
    }
    check_decoded(data, result);
}

/// X-Forwarded-For: `\n` separates header lines. Every entry is a slice of its line, every parsed address
/// prints and parses back to itself, and the lines give the same entries as one coalesced line.
pub fn xff(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let entries: Vec<_> = xff::entries_rev(lines.iter().rev().copied()).collect();
    for e in &entries {
        assert!(lines.iter().any(|l| contains_slice(l, e.raw)));
        if let Ok(Node::Addr(a)) = e.node {
            assert_eq!(ClientAddr::parse(a.to_string().as_bytes()), Ok(a));
        }
    }
    let coalesced = lines.join(&b","[..]);
    let again: Vec<_> = xff::entries_rev(std::iter::once(coalesced.as_slice()))
        .map(|e| e.node)
        .collect();
    assert_eq!(entries.iter().map(|e| e.node).collect::<Vec<_>>(), again);
}

/// Forwarded: `\n` separates header lines. The resolver's view of an element (its `for` node) agrees with the
/// full element parser, and well-formed lines give the same elements as one coalesced line.
pub fn forwarded(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let entries: Vec<_> = rfc7239::elements_rev(lines.iter().rev().copied()).collect();
    let mut all_valid = true;
    for e in &entries {
        assert!(lines.iter().any(|l| contains_slice(l, e.raw)));
        match (rfc7239::parse_element(e.raw), e.node) {
            (Ok(el), Ok(node)) => assert_eq!(el.forwarded_for.unwrap_or(Node::Unknown), node),
            (Err(full), Err(kind)) => {
                assert_eq!(full.kind, kind);
                all_valid = false;
            }
            (full, node) => panic!("element parser {full:?} but resolver view {node:?}"),
        }
    }
    if all_valid {
        let coalesced = lines.join(&b", "[..]);
        let again: Vec<_> = rfc7239::elements_rev(std::iter::once(coalesced.as_slice()))
            .map(|e| e.node)
            .collect();
        assert_eq!(entries.iter().map(|e| e.node).collect::<Vec<_>>(), again);
    }
}

/// Policies the resolver target picks from with its first byte.
const POLICIES: &[&str] = &[
    r#"{"trust":{"proxies":["10.0.0.0/8","172.16.0.0/12","2001:db8:ffff::/48"]}}"#,
    r#"{"trust":{"hops":2},"actions":{"malformed":"peer","untrusted_headers":"keep"}}"#,
    r#"{"trust":{"proxies":["loopback","private"],"hops":1},"sources":["forwarded","x-forwarded-for",{"header":"x-real-ip"}],"actions":{"all_trusted":"leftmost","untrusted_headers":"reject"},"rewrite":{"xff":"canonical","forwarded":"canonical","client_header":"x-client-ip"}}"#,
    r#"{"trust":{"proxies":["10.0.0.0/8"],"identities":["spiffe://td/ns/gw/sa/gw"]},"sources":[{"header":"cf-connecting-ip"},"x-forwarded-for"],"rewrite":{"xff":"canonical"},"access":{"allow":["203.0.113.0/24"],"deny":["203.0.113.66"]}}"#,
];

/// The whole decision. Input: byte 0 picks a policy, byte 1 the peer, then `name: value` lines separated by
/// `\n`. Traced and untraced walks agree; a decision's hop and source agree; a canonical rewrite only emits
/// addresses.
pub fn resolver(data: &[u8]) {
    let (policy, peer, rest) = match data {
        [p, q, rest @ ..] => (*p, *q, rest),
        _ => return,
    };
    let config = Config::from_json(POLICIES[usize::from(policy) % POLICIES.len()]).expect("fuzz policy");
    let resolver = Resolver::new(&config.policy);
    let peers = ["10.0.0.2:5000", "127.0.0.1:1", "[::ffff:10.0.0.3]:2", "198.51.100.7:3", "[2001:db8:ffff::1]:4"];
    let peer: std::net::SocketAddr = peers[usize::from(peer) % peers.len()].parse().expect("peer");
    let headers: Vec<(&[u8], &[u8])> = rest
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let i = line.iter().position(|&b| b == b':')?;
            Some((&line[..i], &line[i + 1..]))
        })
        .collect();
    let identity = (policy & 0x80 != 0).then_some("spiffe://td/ns/gw/sa/gw");
    let req = Request { peer: PeerAddr(peer), peer_identity: identity, headers: &headers };
    let plain = resolver.resolve(&req);
    let (traced, trace) = resolver.resolve_traced(&req);
    assert_eq!(plain, traced);
    assert!(!trace.steps().is_empty());
    match plain {
        Ok(d) => {
            assert_eq!(d.hop == 0, d.source == Source::Peer);
            let plan = resolver.rewrite_plan(&req, &d);
            let _ = plan.apply(&headers);
            for (name, value) in &plan.set {
                if name == "x-forwarded-for" && config.policy.rewrite.xff == trueip::config::XffMode::Canonical {
                    assert!(xff::entries_rev(std::iter::once(value.as_bytes()))
                        .all(|e| matches!(e.node, Ok(Node::Addr(_)))));
                }
            }
            let _ = resolver.access(&d);
        }
        Err(r) => {
            assert!(!r.kind.label().is_empty());
            assert!((400..=599).contains(&r.status));
        }
    }
}

fn contains_slice(haystack: &[u8], needle: &[u8]) -> bool {
    let h = haystack.as_ptr_range();
    let n = needle.as_ptr_range();
    h.start <= n.start && n.end <= h.end
}

fn check_decoded(data: &[u8], result: Result<Decoded<'_>, DecodeError>) {
    match result {
        Ok(d) => {
            assert!(d.consumed <= data.len());
            for tlv in d.header.tlvs() {
                if let Ok(Tlv::Ssl(ssl)) = tlv {
                    ssl.sub_tlvs().for_each(drop);
                }
            }
        }
        Err(e) => {
            assert!(!e.kind().is_empty());
            if let DecodeError::Incomplete { needed } = e {
                assert!(needed >= 1);
            }
            let _ = e.to_string();
        }
    }
}

fn reencode(header: &Header<'_>) {
    let encoded = match header.version() {
        Version::V1 => encode_v1(&header.addresses()),
        Version::V2 => {
            let Ok(tlvs) = header.tlvs().collect::<Result<Vec<_>, _>>() else {
                return;
            };
            let builder = match header.command() {
                Command::Local => V2Builder::local(),
                Command::Proxy => V2Builder::proxy(header.transport(), header.addresses()),
            };
            builder.tlvs(tlvs).encode()
        }
    };
    let Ok(encoded) = encoded else {
        // Only bad SSL sub-TLVs (reported lazily by the decoder) are refused by the encoder.
        return;
    };
    let again = decode(&encoded).expect("a re-encoded header decodes");
    assert_eq!(again.consumed, encoded.len());
    assert_eq!(again.header.addresses(), header.addresses());
    assert_eq!(again.header.command(), header.command());
    if header.command() == Command::Proxy {
        assert_eq!(again.header.transport(), header.transport());
    }
    assert!(
        again
            .header
            .tlvs()
            .map(strip_crc)
            .eq(header.tlvs().map(strip_crc))
    );
}

/// The checksum is recomputed on re-encoding (LOCAL headers drop their address block).
fn strip_crc<'a, E>(t: Result<Tlv<'a>, E>) -> Result<Tlv<'a>, E> {
    t.map(|t| {
        if let Tlv::Crc32c(_) = t {
            Tlv::Crc32c(0)
        } else {
            t
        }
    })
}

fn check_prefixes(data: &[u8], full: &Result<Decoded<'_>, DecodeError>) {
    for n in 0..data.len() {
        let got = decode(&data[..n]);
        match (full, &got) {
            (Ok(f), Err(DecodeError::Incomplete { .. })) => assert!(n < f.consumed),
            (Err(_), Err(DecodeError::Incomplete { .. })) => {}
            (Ok(f), Ok(g)) => assert_eq!(f, g),
            (Err(f), Err(g)) => assert_eq!(f.kind(), g.kind()),
            (f, g) => panic!("prefix of {n} bytes gave {g:?}, full input {f:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_passes_every_check() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let mut seen = 0;
        for (target, check) in [
            ("proxy_v1", super::proxy_v1 as fn(&[u8])),
            ("proxy_v2", super::proxy_v2),
            ("proxy_any", super::proxy_any),
            ("xff", super::xff),
            ("forwarded", super::forwarded),
            ("resolver", super::resolver),
        ] {
            for entry in std::fs::read_dir(corpus.join(target)).expect("corpus dir") {
                check(&std::fs::read(entry.expect("entry").path()).expect("seed"));
                seen += 1;
            }
        }
        assert!(seen > 0);
    }
}
