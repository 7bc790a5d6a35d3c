//! Gateway mode: the filter behind an Envoy connection manager with `use_remote_address: true`.
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use common::{field, get, plugin, plugin_with, sa, status, upstream};
use trueip_wasm_harness::{Connection, ConnectionManager, PluginOptions, PluginState, Request};

const ALB: &str = r#"{"trust":{"proxies":["10.0.0.0/8"]},"rewrite":{"client_header":"x-real-ip","xff":"append"}}"#;

#[test]
fn the_hop_envoy_appended_is_not_counted_twice() {
    let mut p = plugin(ALB);
    let ex = p.handle(&get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]));
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    assert_eq!(field(&ex, "hop").as_deref(), Some("1"));
    assert_eq!(upstream(&ex, "x-real-ip").as_deref(), Some("203.0.113.9"));
    // Envoy appended 10.0.0.2; the plan appends the peer once: it appears once. Envoy's value already
    // lists exactly that, so the filter leaves it, with Envoy's own `,` (src/envoy_append.rs).
    assert_eq!(
        upstream(&ex, "x-forwarded-for").as_deref(),
        Some("203.0.113.9,10.0.0.2")
    );
}

#[test]
fn hop_counting_starts_at_the_real_peer() {
    let mut p = plugin(r#"{"trust":{"hops":1}}"#);
    let ex = p.handle(&get(
        "10.0.0.2:5000",
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.9")],
    ));
    // Counted from Envoy's appended entry this would be 10.0.0.2 itself.
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
}

#[test]
fn proxy_protocol_source_over_ipv6_is_the_peer() {
    let mut p = plugin(r#"{"trust":{"proxies":["2001:db8:1::/48"]}}"#);
    let c = Connection::plain(sa("[2001:db8:1::5]:40000"), sa("[2001:db8:ff::1]:443"));
    let ex = p.handle(&Request::get(c, &[("x-forwarded-for", "2001:db8:beef::9")]));
    assert_eq!(field(&ex, "client").as_deref(), Some("2001:db8:beef::9"));
    assert_eq!(field(&ex, "hop").as_deref(), Some("1"));
}

#[test]
fn untrusted_peers_lose_their_forwarding_headers() {
    let mut p = plugin(ALB);
    let ex = p.handle(&get(
        "198.51.100.7:4000",
        &[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
            ("X_Forwarded_For", "1.2.3.4"),
        ],
    ));
    assert_eq!(field(&ex, "client").as_deref(), Some("198.51.100.7"));
    assert_eq!(field(&ex, "source").as_deref(), Some("peer"));
    assert_eq!(upstream(&ex, "x-real-ip").as_deref(), Some("198.51.100.7"));
    assert_eq!(
        upstream(&ex, "x-forwarded-for").as_deref(),
        Some("198.51.100.7")
    );
    assert_eq!(upstream(&ex, "x_forwarded_for"), None);
    assert!(field(&ex, "spoof").is_some_and(|s| s.contains("untrusted_forwarding_headers")));
    assert_eq!(
        p.metrics()
            .get("trueip.spoof.untrusted_forwarding_headers")
            .map(|m| m.value),
        Some(1)
    );
}

#[test]
fn num_trusted_proxies_needs_the_matching_filter_setting() {
    // The gateway's connection manager trusts one hop: source.address is an XFF entry, not the peer.
    let cm = ConnectionManager {
        xff_num_trusted_hops: 1,
        ..ConnectionManager::GATEWAY
    };
    let req = get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]);
    let mut options = PluginOptions::new(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"envoy":{"xff_num_trusted_hops":1}}"#,
    );
    options.connection_manager = cm;
    let ex = plugin_with(options).handle(&req);
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    assert_eq!(field(&ex, "source").as_deref(), Some("x-forwarded-for"));
    // Without it the filter takes Envoy's choice for the peer and cannot vouch for the chain.
    let mut options = PluginOptions::new(r#"{"trust":{"proxies":["10.0.0.0/8"]}}"#);
    options.connection_manager = cm;
    let ex = plugin_with(options).handle(&req);
    assert_eq!(field(&ex, "source").as_deref(), Some("peer"));
}

#[test]
fn denied_clients_get_the_configured_local_reply() {
    let mut p = plugin(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"access":{"deny":["203.0.113.0/24"],"status":451,"body":"not here"}}"#,
    );
    let ex = p.handle(&get("10.0.0.2:5000", &[("x-forwarded-for", "203.0.113.9")]));
    assert_eq!(status(&ex), 451);
    let resp = ex
        .response
        .as_ref()
        .map(|r| (r.body.clone(), r.details.clone()));
    assert_eq!(
        resp,
        Some((
            b"not here".to_vec(),
            Some("trueip_access_denied".to_owned())
        ))
    );
    assert!(ex.upstream_request.is_none());
    assert_eq!(field(&ex, "denied").as_deref(), Some("deny_list"));
}

#[test]
fn malformed_chains_are_rejected_with_the_configured_status() {
    let mut p = plugin(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"actions":{"malformed":"reject","reject_status":421}}"#,
    );
    let ex = p.handle(&get(
        "10.0.0.2:5000",
        &[("x-forwarded-for", "203.0.113.9, bogus")],
    ));
    assert_eq!(status(&ex), 421);
    assert!(field(&ex, "rejected").is_some());
    assert!(ex.upstream_request.is_none());
}

#[test]
fn the_debug_header_is_honoured_only_for_trusted_callers() {
    let config =
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"envoy":{"debug_header":"x-trueip-debug"}}"#;
    let mut p = plugin(config);
    let ex = p.handle(&get(
        "10.0.0.2:5000",
        &[("x-forwarded-for", "203.0.113.9"), ("x-trueip-debug", "1")],
    ));
    let trace = ex
        .response
        .as_ref()
        .and_then(|r| r.headers.get(b"x-trueip-debug").map(<[u8]>::to_vec));
    assert!(trace.is_some_and(|t| !t.is_empty()));
    assert_eq!(upstream(&ex, "x-trueip-debug"), None);
    let ex = p.handle(&get("198.51.100.7:1", &[("x-trueip-debug", "1")]));
    assert_eq!(
        ex.response
            .as_ref()
            .and_then(|r| r.headers.get(b"x-trueip-debug")),
        None
    );
}

#[test]
fn non_utf8_and_oversized_headers_never_trap() {
    let mut p = plugin(ALB);
    let req = Request::get(
        common::conn("10.0.0.2:5000"),
        &[
            (
                b"x-forwarded-for".to_vec(),
                b"\xff\xfe, 203.0.113.9".to_vec(),
            ),
            (b"user-agent".to_vec(), b"\x80\x81".to_vec()),
        ],
    );
    let ex = p.handle(&req);
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    let long: Vec<String> = (0..5000)
        .map(|i| format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256))
        .collect();
    let long = format!("203.0.113.9, {}", long.join(", "));
    let many: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("x-h{i}"), "v".to_owned()))
        .collect();
    let mut lines: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    lines.push(("x-forwarded-for", long.as_str()));
    let ex = p.handle(&get("10.0.0.2:5000", &lines));
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    assert_eq!(p.state(), &PluginState::Running);
}

#[test]
fn repeated_headers_coalesced_or_not_decide_the_same() {
    let mut p = plugin(r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":["x-forwarded-for"]}"#);
    let one = p.handle(&get(
        "10.0.0.2:5000",
        &[("x-forwarded-for", "203.0.113.9, 10.1.1.1")],
    ));
    let two = p.handle(&get(
        "10.0.0.2:5000",
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("X-Forwarded-For", "10.1.1.1"),
        ],
    ));
    assert_eq!(field(&one, "client"), field(&two, "client"));
    assert_eq!(field(&one, "hop"), field(&two, "hop"));
    // A single-address header sent twice is an error, not "take the first".
    let mut p =
        plugin(r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":[{"header":"x-real-ip"}]}"#);
    let ex = p.handle(&get(
        "10.0.0.2:5000",
        &[("x-real-ip", "203.0.113.9"), ("x-real-ip", "198.51.100.1")],
    ));
    let rejected = field(&ex, "rejected").is_some();
    let fell_back = field(&ex, "fallback").is_some();
    assert!(rejected || fell_back, "{:?}", common::state(&ex));
}
