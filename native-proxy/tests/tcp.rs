//! The `tcp` listener (relay with half-close, PROXY header upstream) and the decided HTTP client
//! sent upstream as PROXY v2.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tcp_edge(upstream: SocketAddr, send: &str) -> String {
    format!(
        r#"{{ "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "tcp",
                "proxy_protocol": {{ "default": "require" }},
                "upstream": {{ "address": "{upstream}", "proxy_protocol": {send} }} }}] }}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_relays_the_client_upstream_in_proxy_v2_with_tlvs() {
    let send = r#"{ "version": "v2", "pass_tlvs": ["aws_vpce_id"], "add_tlvs": [{ "tlv": "authority", "value": "api.example" }] }"#;
    let (echo, edge) = start_chain(|e| tcp_edge(e, send)).await;
    let header = v2(
        0x1,
        Some((
            "203.0.113.9:6000".parse().expect("src"),
            "192.0.2.10:443".parse().expect("dst"),
        )),
        &[(0xEA, b"\x01vpce-0abc"), (0x05, b"not-passed")],
    );
    let (status, body) = get(edge.addr("edge"), &header, &[]).await;
    assert_eq!(status, 200, "{body}");
    let p = &json(&body)["proxy_protocol"];
    assert_eq!(p["version"], "v2", "{body}");
    assert_eq!(p["source"], "203.0.113.9:6000", "{body}");
    assert_eq!(p["destination"], "192.0.2.10:443", "{body}");
    assert_eq!(
        p["tlvs"],
        serde_json::json!([["aws_vpce_id", "vpce-0abc"], ["authority", "api.example"]]),
        "{body}"
    );
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_relays_v1_upstream() {
    let (echo, edge) = start_chain(|e| tcp_edge(e, r#"{ "version": "v1" }"#)).await;
    let (status, body) = get(
        edge.addr("edge"),
        b"PROXY TCP6 2001:db8::5 2001:db8::1 7000 443\r\n",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let p = &json(&body)["proxy_protocol"];
    assert_eq!(
        (p["version"].clone(), p["source"].clone()),
        ("v1".into(), "[2001:db8::5]:7000".into()),
        "{body}"
    );
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_half_close_lets_the_other_direction_finish() {
    // An upstream that reads until the client is done sending, then answers and closes.
    let up = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up_addr = up.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = up.accept().await.expect("accept");
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.expect("read to EOF");
        s.write_all(format!("received {} bytes", got.len()).as_bytes())
            .await
            .expect("write");
    });
    let edge = start(&tcp_edge(up_addr, r#"{ "version": "none" }"#)).await;
    let mut s = connect(edge.addr("edge")).await;
    let mut bytes = v2_proxy("203.0.113.9:6000", "192.0.2.10:443");
    bytes.extend_from_slice(&[7u8; 5000]);
    s.write_all(&bytes).await.expect("write");
    s.shutdown().await.expect("half-close");
    let answer = String::from_utf8(read_all(&mut s).await).expect("utf8");
    assert_eq!(answer, "received 5000 bytes");
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sends_the_decided_client_upstream_as_proxy_v2() {
    let (echo, edge) = start_chain(|e| {
        format!(
            r#"{{ "trust": {{ "proxies": ["loopback"] }}, "sources": ["x-forwarded-for"],
                 "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                    "upstream": {{ "address": "{e}", "proxy_protocol": {{ "version": "v2" }} }} }}] }}"#
        )
    })
    .await;
    // Two requests with different clients on one keep-alive connection: each upstream
    // connection's header names its own client.
    let mut s = connect(edge.addr("edge")).await;
    let req = |xff: &str, close: &str| {
        format!("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: {xff}\r\n{close}\r\n")
    };
    s.write_all(req("203.0.113.21", "").as_bytes())
        .await
        .expect("write");
    s.write_all(req("203.0.113.22", "Connection: close\r\n").as_bytes())
        .await
        .expect("write");
    let raw = String::from_utf8_lossy(&read_all(&mut s).await).into_owned();
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 2, "{raw}");
    let first = raw.find("\"source\": \"203.0.113.21:0\"");
    let second = raw.find("\"source\": \"203.0.113.22:0\"");
    assert!(
        first.is_some() && second.is_some() && first < second,
        "{raw}"
    );
    edge.shutdown().await;
    echo.shutdown().await;
}
