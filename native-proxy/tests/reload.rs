//! What a reload may change on a running server besides the policy: a listener's connection
//! limit (up and down, without closing anyone) and the admin endpoint's address.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn echo_with_limit(limit: u32, admin: &str) -> trueip::Config {
    trueip::Config::from_json(&format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }},
             "listeners": [{{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo", "max_connections": {limit} }}],
             "admin": {{ "address": "{admin}" }} }}"#
    ))
    .expect("config")
}

/// Opens a keep-alive connection and completes one request on it, so it holds a slot.
async fn hold_slot(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr).await;
    s.write_all(b"GET /ip HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    s
}

const LIMIT_REACHED: &str = r#"trueip_connection_limit_reached_total{listener="echo"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_raises_and_lowers_the_connection_limit() {
    let srv = start(
        r#"{ "trust": { "proxies": ["loopback"] },
             "listeners": [{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo", "max_connections": 1 }],
             "admin": { "address": "127.0.0.1:0" } }"#,
    )
    .await;
    let addr = srv.addr("echo");
    let first = hold_slot(addr).await;
    srv.wait_metric(LIMIT_REACHED, 1.0).await;

    // Raised to 2: a second client is served while the first still holds its slot.
    srv.reload
        .reload(echo_with_limit(2, "127.0.0.1:0"))
        .await
        .expect("reload applies");
    let (status, body) = get(addr, b"", &[]).await;
    assert_eq!(status, 200, "{body}");

    // Lowered to 1 with the first client still connected: nobody is closed, and the listener
    // is at its limit again (counted), so the next client waits for the first to leave.
    let reached = srv.metric(LIMIT_REACHED);
    srv.reload
        .reload(echo_with_limit(1, "127.0.0.1:0"))
        .await
        .expect("reload applies");
    srv.wait_metric(LIMIT_REACHED, reached + 1.0).await;
    let third = tokio::spawn(async move { get(addr, b"", &[]).await });
    drop(first);
    let (status, body) = third.await.expect("third client");
    assert_eq!(status, 200, "{body}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_moves_the_admin_endpoint_or_refuses_a_taken_address() {
    let srv = start(
        r#"{ "trust": { "proxies": ["loopback"] },
             "listeners": [{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo" }],
             "admin": { "address": "127.0.0.1:0" } }"#,
    )
    .await;
    let old = srv.shared.admin_addr().expect("admin bound");
    assert_eq!(get(old, b"", &[]).await.0, 404);

    // 127.0.0.2 is loopback too on Linux: a different configured address, so the endpoint moves.
    srv.reload
        .reload(echo_with_limit(16, "127.0.0.2:0"))
        .await
        .expect("reload applies");
    let new = srv.shared.admin_addr().expect("admin bound");
    assert_eq!(new.ip().to_string(), "127.0.0.2");
    let mut live = connect(new).await;
    let (status, body) = get_with(&mut live, b"", "/live", &[]).await;
    assert_eq!((status, body.as_str()), (200, "live\n"));
    // The old address stops accepting once its task has ended.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while TcpStream::connect(old).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "old admin address still accepts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // An address that is taken: refused, and the endpoint keeps serving where it is.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = squatter.local_addr().expect("addr");
    let err = srv
        .reload
        .reload(echo_with_limit(16, &taken.to_string()))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("cannot bind"), "{err}");
    assert_eq!(srv.shared.admin_addr(), Some(new));
    let mut live = connect(new).await;
    assert_eq!(get_with(&mut live, b"", "/live", &[]).await.0, 200);
    assert_eq!(
        srv.metric(r#"trueip_config_reloads_total{listener="-",kind="refused"}"#),
        1.0
    );
    srv.shutdown().await;
}
