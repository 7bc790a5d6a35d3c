//! The connection limit: at the limit new clients wait in the backlog and are served once a
//! slot frees; listeners on IPv6 loopback work like IPv4 ones.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_limit_clients_wait_and_are_served_when_a_slot_frees() {
    let srv = start(
        r#"{ "trust": { "proxies": ["loopback"] },
             "listeners": [{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo", "max_connections": 1 }] }"#,
    )
    .await;
    let addr = srv.addr("echo");
    // The first client holds the only slot with a keep-alive connection.
    let mut first = connect(addr).await;
    first
        .write_all(b"GET /ip HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, first.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    srv.wait_metric(
        r#"trueip_connection_limit_reached_total{listener="echo"}"#,
        1.0,
    )
    .await;
    // The second client connects (the kernel backlog takes it) and waits for the slot.
    let second = tokio::spawn(async move { get(addr, b"", &[]).await });
    drop(first);
    let (status, body) = second.await.expect("second client");
    assert_eq!(status, 200, "{body}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_listeners_and_peers() {
    let srv = start(
        r#"{ "trust": { "proxies": ["loopback"] }, "sources": ["x-forwarded-for"],
             "listeners": [{ "name": "echo", "address": "[::1]:0", "protocol": "echo" }] }"#,
    )
    .await;
    let (status, body) = get(
        srv.addr("echo"),
        b"",
        &[("X-Forwarded-For", "2001:db8::42")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let doc = json(&body);
    assert!(
        doc["peer"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[::1]:"),
        "{body}"
    );
    assert_eq!(doc["origin"], "2001:db8::42", "{body}");
    srv.shutdown().await;
}
