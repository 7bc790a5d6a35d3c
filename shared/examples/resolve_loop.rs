//! Resolves one request many times: a steady loop for instruction counting, which stays meaningful on a busy
//! machine where wall-clock benchmarks do not.
//!
//! ```text
//! cargo build --release -p trueip --example resolve_loop
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/resolve_loop xff-5
//! ```
//! Cases: `none` (the loop alone, to subtract), `std-parse` (the standard library parsing one IPv4 address, a
//! yardstick), `xff-1`, `xff-5`, `xff-20` (three CIDR rules, every entry walked, as in `benches/resolve.rs`),
//! `xff6-5` (five IPv6 entries under two IPv6 and one IPv4 rule, as in `benches/resolve.rs`), `forwarded-5`,
//! `hops-5`, `untrusted`. Prints the sum of hop indexes so the work cannot be optimised away.

use std::hint::black_box;

use trueip::{Config, PeerAddr, Request, Resolver};

const ITERATIONS: usize = 100_000;
const CIDR3: &str = r#"{"trust":{"proxies":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]}}"#;

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let (config, peer, headers) = match case.as_str() {
        "none" | "std-parse" => (CIDR3, "10.0.0.1:5000", Vec::new()),
        "xff-1" => (CIDR3, "10.0.0.1:5000", xff(1)),
        "xff-5" => (CIDR3, "10.0.0.1:5000", xff(5)),
        "xff-20" => (CIDR3, "10.0.0.1:5000", xff(20)),
        "forwarded-5" => (
            r#"{"trust":{"proxies":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]},"sources":["forwarded"]}"#,
            "10.0.0.1:5000",
            vec![(
                b"forwarded".to_vec(),
                br#"for="[2001:db8::9]:4711";proto=https, for=10.1.0.1, for=172.16.0.1, for=192.168.0.1, for=10.2.0.1"#
                    .to_vec(),
            )],
        ),
        "xff6-5" => (
            r#"{"trust":{"proxies":["fc00::/7","2001:db8:ffff::/48","10.0.0.0/8"]}}"#,
            "[fd00::10]:5000",
            vec![
                (b"host".to_vec(), b"example.com".to_vec()),
                (b"user-agent".to_vec(), b"bench/1.0".to_vec()),
                (b"accept".to_vec(), b"*/*".to_vec()),
                (
                    b"x-forwarded-for".to_vec(),
                    b"2001:db8::9, fd00::1, 2001:db8:ffff::1, fd12:3456::2, fd00::3".to_vec(),
                ),
            ],
        ),
        "hops-5" => (r#"{"trust":{"hops":5}}"#, "10.0.0.1:5000", xff(5)),
        "untrusted" => (CIDR3, "198.51.100.50:4000", xff(1)),
        other => {
            eprintln!(
                "unknown case {other:?}: none, std-parse, xff-1, xff-5, xff-20, xff6-5, forwarded-5, hops-5, untrusted"
            );
            std::process::exit(64);
        }
    };
    let resolver = match Config::from_json(config) {
        Ok(c) => Resolver::new(&c.policy),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(64);
        }
    };
    let headers: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    let Ok(peer) = peer.parse() else {
        std::process::exit(64);
    };
    let req = Request {
        peer: PeerAddr(peer),
        peer_identity: None,
        headers: &headers,
    };
    let mut sum = 0u64;
    for _ in 0..ITERATIONS {
        match case.as_str() {
            "none" => sum += u64::from(black_box(1u16)),
            "std-parse" => {
                sum += u64::from(black_box("203.0.113.9").parse::<std::net::IpAddr>().is_ok())
            }
            _ => {
                if let Ok(d) = resolver.resolve(black_box(&req)) {
                    sum += u64::from(d.hop);
                }
            }
        }
    }
    println!("{sum}");
}

/// Host, user agent and accept lines, then `X-Forwarded-For` with the client followed by trusted proxies.
fn xff(hops: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let trusted = ["10.1.0.1", "172.16.0.1", "192.168.0.1", "10.2.0.1"];
    let mut entries = vec!["203.0.113.9"];
    entries.extend(trusted.iter().cycle().take(hops.saturating_sub(1)));
    vec![
        (b"host".to_vec(), b"example.com".to_vec()),
        (b"user-agent".to_vec(), b"bench/1.0".to_vec()),
        (b"accept".to_vec(), b"*/*".to_vec()),
        (b"x-forwarded-for".to_vec(), entries.join(", ").into_bytes()),
    ]
}
