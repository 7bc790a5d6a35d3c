//! Sidecar mode: trust comes from the caller's mTLS identity, never from the spoofable
//! `source.address` Envoy derives from X-Forwarded-For (`use_remote_address: false`).
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use common::{field, plugin_with, sa, upstream};
use trueip_wasm_harness::{Connection, ConnectionManager, Plugin, PluginOptions, Request};

const GATEWAY_SA: &str =
    "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";
const CONFIG: &str = r#"{
  "trust": { "identities": ["spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"],
             "proxies": ["10.0.0.0/8"] },
  "actions": { "untrusted_headers": "strip" },
  "rewrite": { "client_header": "x-real-ip", "xff": "keep" },
  "envoy": { "mode": "sidecar" }
}"#;

fn sidecar() -> Plugin {
    let mut options = PluginOptions::new(CONFIG);
    options.connection_manager = ConnectionManager::SIDECAR;
    plugin_with(options)
}

fn from(identity: Option<&str>, xff: &str) -> Request {
    let (peer, local) = (sa("10.244.1.5:41000"), sa("10.244.2.9:8080"));
    let c = match identity {
        Some(id) => Connection::mtls(peer, local, id),
        None => Connection::plain(peer, local),
    };
    Request::get(c, &[("x-forwarded-for", xff)])
}

#[test]
fn the_gateway_identity_is_trusted() {
    // The gateway appended its own peer (the load balancer, 10.0.0.2) to the client's address.
    let ex = sidecar().handle(&from(Some(GATEWAY_SA), "203.0.113.9, 10.0.0.2"));
    assert_eq!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
    assert_eq!(upstream(&ex, "x-real-ip").as_deref(), Some("203.0.113.9"));
}

#[test]
fn another_identity_cannot_forge_the_client() {
    let ex = sidecar().handle(&from(
        Some("spiffe://cluster.local/ns/default/sa/attacker"),
        "203.0.113.9, 10.0.0.2",
    ));
    // Envoy took source.address (10.0.0.2) from the caller's own X-Forwarded-For, inside trusted
    // 10.0.0.0/8: an address-trusting filter would believe it. The filter reports the peer unknown.
    assert_eq!(field(&ex, "client").as_deref(), Some("0.0.0.0"));
    assert_eq!(field(&ex, "source").as_deref(), Some("peer"));
    assert_eq!(upstream(&ex, "x-forwarded-for"), None);
    assert_eq!(upstream(&ex, "x-real-ip").as_deref(), Some("0.0.0.0"));
}

#[test]
fn plaintext_callers_are_not_trusted_either() {
    let ex = sidecar().handle(&from(None, "203.0.113.9"));
    assert_ne!(field(&ex, "client").as_deref(), Some("203.0.113.9"));
}

#[test]
fn without_forwarding_headers_the_connection_peer_is_the_client() {
    let mut p = sidecar();
    let c = Connection::mtls(
        sa("10.244.1.5:41000"),
        sa("10.244.2.9:8080"),
        "spiffe://cluster.local/ns/default/sa/web",
    );
    let ex = p.handle(&Request::get(c, &[] as &[(&str, &str)]));
    assert_eq!(field(&ex, "client").as_deref(), Some("10.244.1.5"));
    assert_eq!(field(&ex, "port").as_deref(), Some("41000"));
}
