//! `Resolver::resolve` allocates nothing on the happy path (including `actions` fallbacks that decide a client);
//! only a rejection allocates its detail string.
//!
//! One test function on purpose: the counting allocator is process-wide, so a second test running in parallel
//! would be counted too.

use std::alloc::System;
use std::net::SocketAddr;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use trueip::{Access, Config, PeerAddr, Request, Resolver};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

struct Case {
    name: &'static str,
    config: &'static str,
    peer: &'static str,
    headers: &'static [(&'static [u8], &'static [u8])],
}

const CIDR3: &str = r#"{"trust":{"proxies":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]}}"#;

const CASES: &[Case] = &[
    Case {
        name: "five-hop xff, three CIDR rules",
        config: CIDR3,
        peer: "10.0.0.1:5000",
        headers: &[
            (b"host", b"example.com"),
            (
                b"x-forwarded-for",
                b"203.0.113.9, 10.1.0.1, 10.2.0.1, 172.16.0.1, 192.168.0.1",
            ),
        ],
    },
    Case {
        name: "xff over several lines with ports and ipv6",
        config: CIDR3,
        peer: "[::ffff:10.0.0.1]:5000",
        headers: &[
            (b"X-Forwarded-For", b"[2001:db8::9]:443"),
            (b"X-Forwarded-For", b"10.1.0.1:80, fe80::1%eth0"),
        ],
    },
    Case {
        name: "forwarded with quoted, escaped ipv6",
        config: r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":["forwarded"]}"#,
        peer: "10.0.0.1:5000",
        headers: &[(
            b"Forwarded",
            br#"for="\[2001:db8::9\]:4711";proto=https, for=10.0.0.5"#,
        )],
    },
    Case {
        name: "xff and forwarded compared",
        config: r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":["forwarded","x-forwarded-for"]}"#,
        peer: "10.0.0.1:5000",
        headers: &[
            (b"Forwarded", b"for=192.0.2.1"),
            (b"X-Forwarded-For", b"192.0.2.2"),
        ],
    },
    Case {
        name: "hop count",
        config: r#"{"trust":{"hops":3}}"#,
        peer: "192.0.2.5:1",
        headers: &[(
            b"x-forwarded-for",
            b"198.51.100.1, 198.51.100.2, 198.51.100.3, 198.51.100.4",
        )],
    },
    Case {
        name: "single header source",
        config: r#"{"trust":{"proxies":["loopback"]},"sources":[{"header":"cf-connecting-ip"}]}"#,
        peer: "127.0.0.1:1",
        headers: &[(b"CF-Connecting-IP", b"203.0.113.9")],
    },
    Case {
        name: "untrusted peer with forwarding headers",
        config: CIDR3,
        peer: "198.51.100.50:4000",
        headers: &[(b"X-Forwarded-For", b"1.2.3.4"), (b"X_Real_IP", b"1.2.3.4")],
    },
    Case {
        name: "malformed entry with peer fallback",
        config: r#"{"trust":{"proxies":["10.0.0.0/8"]},"actions":{"malformed":"peer"}}"#,
        peer: "10.0.0.1:5000",
        headers: &[(b"x-forwarded-for", b"203.0.113.9, bogus")],
    },
    Case {
        name: "all trusted, leftmost",
        config: r#"{"trust":{"proxies":["10.0.0.0/8"]},"actions":{"all_trusted":"leftmost"}}"#,
        peer: "10.0.0.1:5000",
        headers: &[(b"x-forwarded-for", b"10.0.0.8, 10.0.0.9")],
    },
    Case {
        name: "no forwarding headers",
        config: CIDR3,
        peer: "10.0.0.1:5000",
        headers: &[(b"host", b"example.com"), (b"accept", b"*/*")],
    },
];

#[test]
fn resolve_does_not_allocate_on_the_happy_path() {
    for case in CASES {
        let config = Config::from_json(case.config).expect("config");
        let resolver = Resolver::new(&config.policy);
        let peer: SocketAddr = case.peer.parse().expect("peer");
        let req = Request {
            peer: PeerAddr(peer),
            peer_identity: None,
            headers: case.headers,
        };
        // Warm up anything lazily initialised outside the resolver.
        let expected = resolver.resolve(&req).expect(case.name);

        let region = Region::new(GLOBAL);
        let decision = resolver.resolve(&req);
        let access = decision.as_ref().map(|d| resolver.access(d));
        let stats = region.change();
        drop(access);

        assert_eq!(decision.as_ref(), Ok(&expected), "{}", case.name);
        assert!(access_allows(&resolver, &expected), "{}", case.name);
        assert_eq!(stats.allocations, 0, "{}: {stats:?}", case.name);
        assert_eq!(stats.reallocations, 0, "{}: {stats:?}", case.name);
    }

    // The counter works: a rejection does allocate its detail.
    let resolver = Resolver::new(&Config::from_json(CIDR3).expect("config").policy);
    let req = Request {
        peer: PeerAddr("10.0.0.1:1".parse().expect("peer")),
        peer_identity: None,
        headers: &[(b"x-forwarded-for", b"bogus")],
    };
    let region = Region::new(GLOBAL);
    let rejection = resolver.resolve(&req);
    let stats = region.change();
    assert!(rejection.is_err());
    assert!(stats.allocations > 0, "{stats:?}");
}

fn access_allows(resolver: &Resolver, d: &trueip::Decision) -> bool {
    resolver.access(d) == Access::Allow
}
