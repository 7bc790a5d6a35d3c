//! Client-IP resolution cost: 1-, 5- and 20-hop chains under three CIDR rules, plus the other sources.
//!
//! Target (issue 2): a 5-hop X-Forwarded-For resolution with 3 CIDR rules under 150 ns, with no heap allocation
//! (the allocation half is asserted by `tests/no_alloc.rs`). Run: `cargo bench -p trueip --bench resolve`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use trueip::{Config, PeerAddr, Request, Resolver};

const CIDR3: &str = r#"{"trust":{"proxies":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]}}"#;

/// `203.0.113.9` followed by `trusted` proxy addresses, so the walk visits every entry.
fn xff_chain(hops: usize) -> String {
    let trusted = ["10.1.0.1", "172.16.0.1", "192.168.0.1", "10.2.0.1"];
    let mut entries = vec!["203.0.113.9".to_owned()];
    entries.extend(
        trusted
            .iter()
            .cycle()
            .take(hops.saturating_sub(1))
            .map(|s| (*s).to_owned()),
    );
    entries.join(", ")
}

fn bench_xff(c: &mut Criterion) {
    let resolver = Resolver::new(&Config::from_json(CIDR3).expect("config").policy);
    let peer = PeerAddr("10.0.0.1:5000".parse().expect("peer"));
    let mut group = c.benchmark_group("resolve/xff-3-cidrs");
    for hops in [1usize, 5, 20] {
        let chain = xff_chain(hops);
        let headers: [(&[u8], &[u8]); 4] = [
            (b"host", b"example.com"),
            (b"user-agent", b"bench/1.0"),
            (b"accept", b"*/*"),
            (b"x-forwarded-for", chain.as_bytes()),
        ];
        let req = Request {
            peer,
            peer_identity: None,
            headers: &headers,
        };
        let d = resolver.resolve(&req).expect("decision");
        assert_eq!(usize::from(d.hop), hops);
        group.bench_function(format!("{hops}-hop"), |b| {
            b.iter(|| resolver.resolve(black_box(&req)))
        });
    }
    group.finish();
}

/// The 5-hop case with IPv6 entries: a client behind four proxies in unique-local and documentation ranges, under
/// three CIDR rules of which two are IPv6. IPv6 entries take the general entry parser (std's), not the dotted-quad
/// fast path.
fn bench_xff_ipv6(c: &mut Criterion) {
    let resolver = Resolver::new(&Config::from_json(CIDR3_V6).expect("config").policy);
    let peer = PeerAddr("[fd00::10]:5000".parse().expect("peer"));
    let headers: [(&[u8], &[u8]); 4] = [
        (b"host", b"example.com"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"*/*"),
        (b"x-forwarded-for", XFF_V6_5.as_bytes()),
    ];
    let req = Request {
        peer,
        peer_identity: None,
        headers: &headers,
    };
    assert_eq!(resolver.resolve(&req).expect("decision").hop, 5);
    c.bench_function("resolve/xff-ipv6-3-cidrs/5-hop", |b| {
        b.iter(|| resolver.resolve(black_box(&req)))
    });
}

/// Three rules for the IPv6 case: RFC 4193 unique local, a documentation /48 and one IPv4 range.
const CIDR3_V6: &str = r#"{"trust":{"proxies":["fc00::/7","2001:db8:ffff::/48","10.0.0.0/8"]}}"#;
/// The client, then four trusted proxies.
const XFF_V6_5: &str = "2001:db8::9, fd00::1, 2001:db8:ffff::1, fd12:3456::2, fd00::3";

fn bench_other_sources(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve/other");
    let peer = PeerAddr("10.0.0.1:5000".parse().expect("peer"));

    let fwd = Resolver::new(
        &Config::from_json(
            r#"{"trust":{"proxies":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]},"sources":["forwarded"]}"#,
        )
        .expect("config")
        .policy,
    );
    let headers: [(&[u8], &[u8]); 1] = [(
        b"forwarded",
        br#"for="[2001:db8::9]:4711";proto=https, for=10.1.0.1, for=172.16.0.1, for=192.168.0.1, for=10.2.0.1"#,
    )];
    let req = Request {
        peer,
        peer_identity: None,
        headers: &headers,
    };
    assert_eq!(fwd.resolve(&req).expect("decision").hop, 5);
    group.bench_function("forwarded-5-hop", |b| {
        b.iter(|| fwd.resolve(black_box(&req)))
    });

    let hops = Resolver::new(
        &Config::from_json(r#"{"trust":{"hops":5}}"#)
            .expect("config")
            .policy,
    );
    let chain = xff_chain(5);
    let headers: [(&[u8], &[u8]); 1] = [(b"x-forwarded-for", chain.as_bytes())];
    let req = Request {
        peer,
        peer_identity: None,
        headers: &headers,
    };
    assert_eq!(hops.resolve(&req).expect("decision").hop, 5);
    group.bench_function("xff-hop-count-5", |b| {
        b.iter(|| hops.resolve(black_box(&req)))
    });

    let untrusted = PeerAddr("198.51.100.50:4000".parse().expect("peer"));
    let resolver = Resolver::new(&Config::from_json(CIDR3).expect("config").policy);
    let headers: [(&[u8], &[u8]); 2] =
        [(b"x-forwarded-for", b"1.2.3.4"), (b"host", b"example.com")];
    let req = Request {
        peer: untrusted,
        peer_identity: None,
        headers: &headers,
    };
    group.bench_function("untrusted-peer", |b| {
        b.iter(|| resolver.resolve(black_box(&req)))
    });

    let traced = xff_chain(5);
    let headers: [(&[u8], &[u8]); 1] = [(b"x-forwarded-for", traced.as_bytes())];
    let req = Request {
        peer,
        peer_identity: None,
        headers: &headers,
    };
    group.bench_function("xff-5-hop-traced", |b| {
        b.iter(|| resolver.resolve_traced(black_box(&req)))
    });
    group.finish();
}

/// A yardstick measured in the same run: the standard library parsing one IPv4 address. BENCHMARKS.md reports
/// resolution as a multiple of it, which stays meaningful on a loaded machine.
fn bench_baseline(c: &mut Criterion) {
    c.bench_function("baseline/std-parse-ipv4", |b| {
        b.iter(|| black_box("203.0.113.9").parse::<std::net::IpAddr>())
    });
}

criterion_group!(
    benches,
    bench_baseline,
    bench_xff,
    bench_xff_ipv6,
    bench_other_sources
);
criterion_main!(benches);
