//! Many requests on one VM: linear memory stays flat after warm-up, no stream state leaks.
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use common::{get, plugin, status};

#[test]
fn one_hundred_thousand_requests_with_flat_memory() {
    let mut p = plugin(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"access":{"deny":["192.0.2.0/24"]},"envoy":{"debug_header":"x-trueip-debug"}}"#,
    );
    let requests = [
        get(
            "10.0.0.2:5000",
            &[
                ("x-forwarded-for", "203.0.113.9, 10.1.2.3"),
                ("x-real-ip", "1.1.1.1"),
            ],
        ),
        get(
            "198.51.100.7:4000",
            &[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")],
        ),
        get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9, junk")]),
        get("10.0.0.2:5000", &[("x-forwarded-for", "192.0.2.1")]),
        get(
            "10.0.0.2:5000",
            &[("x-forwarded-for", "2001:db8::1"), ("x-trueip-debug", "1")],
        ),
    ];
    for r in requests.iter().cycle().take(2_000) {
        p.handle(r);
    }
    let warm = p.memory_bytes();
    let mut statuses = [0u32; 3];
    for r in requests.iter().cycle().take(100_000) {
        match status(&p.handle(r)) {
            200 => statuses[0] += 1,
            400 | 403 => statuses[1] += 1,
            _ => statuses[2] += 1,
        }
    }
    assert_eq!(p.memory_bytes(), warm, "linear memory grew after warm-up");
    assert_eq!(p.live_streams(), 0);
    assert_eq!(statuses, [60_000, 40_000, 0]);
    assert!(p.logs().is_empty(), "{:?}", p.logs().first());
}

/// The heap keeps freed blocks on the free list of their size class and never returns them, so memory
/// must still level off when requests cycle through every class and past the largest (served by the
/// standard allocator), and when the rewrite's strings grow through several classes: X-Forwarded-For
/// lists of 1 to 600 entries (up to ~8 KiB) and padding headers of 10 B to 20 KiB.
#[test]
fn memory_levels_off_across_every_size_class() {
    let mut p = plugin(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"rewrite":{"client_header":"x-real-ip","xff":"canonical","forwarded":"canonical"}}"#,
    );
    let mut requests = Vec::new();
    for (entries, pad) in [
        (1, 10),
        (3, 100),
        (12, 400),
        (40, 900),
        (90, 1_900),
        (200, 3_900),
        (400, 7_900),
        (600, 20_000),
    ] {
        let xff: Vec<String> = (0..entries)
            .map(|i| format!("10.1.{}.{}", i / 256, i % 256))
            .collect();
        let xff = format!("203.0.113.9, {}", xff.join(", "));
        let pad = "p".repeat(pad);
        requests.push(get(
            "10.0.0.2:5000",
            &[("x-forwarded-for", xff.as_str()), ("x-pad", pad.as_str())],
        ));
    }
    // Warm-up: every class reaches its peak (one request at a time, so the peak is one request's).
    for r in requests.iter().cycle().take(400) {
        p.handle(r);
    }
    let warm = p.memory_bytes();
    for (i, r) in requests.iter().cycle().take(8_000).enumerate() {
        let ex = p.handle(r);
        assert_eq!(status(&ex), 200, "request {i}");
    }
    // Again largest first, so a class emptied by the large requests is refilled from its own list.
    for r in requests.iter().rev().cycle().take(8_000) {
        p.handle(r);
    }
    assert_eq!(p.memory_bytes(), warm, "linear memory grew after warm-up");
    assert_eq!(p.live_streams(), 0);
    assert!(p.logs().is_empty(), "{:?}", p.logs().first());
}
