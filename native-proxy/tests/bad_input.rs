//! Every bad-input class closes its own connection cleanly, is counted by kind, and does not
//! disturb concurrent good clients.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::AsyncWriteExt;

fn edge(echo: SocketAddr, versions: &str) -> String {
    format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }},
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                "proxy_protocol": {{ "default": "require", "versions": {versions}, "header_timeout_ms": 400, "max_header_bytes": 256 }},
                "upstream": {{ "address": "{echo}" }} }}] }}"#
    )
}

/// Sends `bytes` (half-closing afterwards when `close` is set) and asserts the connection is closed
/// without an HTTP answer and counted under `kind`.
async fn rejected(srv: &TestServer, bytes: &[u8], close: bool, kind: &str) {
    let before = srv.metric(&format!(
        r#"trueip_proxy_errors_total{{listener="edge",kind="{kind}"}}"#
    ));
    let mut s = connect(srv.addr("edge")).await;
    s.write_all(bytes).await.expect("write");
    if close {
        s.shutdown().await.expect("half-close");
    }
    assert!(closed_without_answer(&mut s).await, "{kind}: got an answer");
    srv.wait_metric(
        &format!(r#"trueip_proxy_errors_total{{listener="edge",kind="{kind}"}}"#),
        before + 1.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_class_is_closed_and_counted() {
    let (echo, srv) = start_chain(|e| edge(e, r#"["v1", "v2"]"#)).await;
    let good = v2_proxy("203.0.113.1:1000", "192.0.2.1:80");
    rejected(&srv, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, "missing").await;
    rejected(
        &srv,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        false,
        "missing",
    )
    .await;
    rejected(
        &srv,
        b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n",
        false,
        "v1_bad_protocol",
    )
    .await;
    rejected(
        &srv,
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        false,
        "v1_bad_line_end",
    )
    .await;
    rejected(&srv, b"PROXY TCP4 1.2.3.4", true, "truncated").await;
    rejected(&srv, &good[..20], true, "truncated").await;
    rejected(&srv, b"", true, "empty").await;
    // Version nibble 3.
    let mut bad_version = good.clone();
    bad_version[12] = 0x31;
    rejected(&srv, &bad_version, false, "v2_bad_version").await;
    // A v2 header announcing 1000 bytes of TLVs on a listener capped at 256.
    let mut big = good[..16].to_vec();
    big[14..16].copy_from_slice(&1000u16.to_be_bytes());
    big.extend_from_slice(&[0u8; 300]);
    rejected(&srv, &big, false, "too_large").await;
    // Two headers: a client behind the load balancer prepending its own.
    let mut stacked = good.clone();
    stacked.extend_from_slice(b"PROXY TCP4 6.6.6.6 192.0.2.1 1 80\r\nGET / HTTP/1.1\r\n\r\n");
    rejected(&srv, &stacked, false, "stacked").await;
    // Slow header: half a header, then silence until the header timeout.
    rejected(&srv, b"PROXY TCP4 ", false, "timeout").await;
    // After all that, a good client is served.
    let (status, body) = get(srv.addr("edge"), &good, &[]).await;
    assert_eq!(status, 200, "{body}");
    srv.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_outside_the_allowed_set_is_refused() {
    let (echo, srv) = start_chain(|e| edge(e, r#"["v2"]"#)).await;
    rejected(
        &srv,
        b"PROXY TCP4 203.0.113.1 192.0.2.1 1000 80\r\nGET / HTTP/1.1\r\n\r\n",
        false,
        "version_not_allowed",
    )
    .await;
    let (status, _) = get(
        srv.addr("edge"),
        &v2_proxy("203.0.113.1:1000", "192.0.2.1:80"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    srv.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_garbage_clients_do_not_block_good_ones() {
    let (echo, srv) = start_chain(|e| edge(e, r#"["v1", "v2"]"#)).await;
    let addr = srv.addr("edge");
    // 40 slowloris connections holding half a header each, plus garbage senders.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut s = connect(addr).await;
        s.write_all(b"\r\n\r\n\0\r\n").await.expect("write");
        slow.push(s);
    }
    let garbage = tokio::spawn(async move {
        for _ in 0..40 {
            let mut s = connect(addr).await;
            let _ = s.write_all(b"\xff\xfe garbage garbage\r\n\r\n").await;
            let _ = read_all(&mut s).await;
        }
    });
    // Meanwhile good clients, each with its own client address, are all served correctly.
    let mut good = Vec::new();
    for i in 0..20u8 {
        good.push(tokio::spawn(async move {
            let src = format!("198.51.100.{i}:4000");
            let (status, body) = get(addr, &v2_proxy(&src, "192.0.2.1:80"), &[]).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                json(&body)["headers"]["x-forwarded-for"][0],
                format!("198.51.100.{i}"),
                "{body}"
            );
        }));
    }
    for g in good {
        g.await.expect("good client");
    }
    garbage.await.expect("garbage sender");
    // The slow ones are cut off by the header timeout.
    for mut s in slow {
        assert!(closed_without_answer(&mut s).await);
    }
    srv.wait_metric(
        r#"trueip_proxy_errors_total{listener="edge",kind="timeout"}"#,
        40.0,
    )
    .await;
    srv.wait_metric(
        r#"trueip_proxy_errors_total{listener="edge",kind="missing"}"#,
        40.0,
    )
    .await;
    srv.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_after_the_header_are_not_cut_by_the_header_timeout() {
    let (echo, srv) = start_chain(|e| {
        format!(
            r#"{{ "trust": {{ "proxies": ["loopback"] }},
                 "listeners": [
                   {{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                      "proxy_protocol": {{ "default": "require", "header_timeout_ms": 200 }}, "upstream": "{e}" }},
                   {{ "name": "plain", "address": "127.0.0.1:0", "protocol": "http",
                      "proxy_protocol": {{ "default": "forbid", "header_timeout_ms": 200 }}, "upstream": "{e}" }} ] }}"#
        )
    })
    .await;
    // A complete header, then silence well past the header timeout, then the request.
    let mut with_header = connect(srv.addr("edge")).await;
    with_header
        .write_all(&v2_proxy("203.0.113.70:1", "192.0.2.1:80"))
        .await
        .expect("write");
    let mut plain = connect(srv.addr("plain")).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (status, body) = get_with(&mut with_header, b"", "/", &[]).await;
    assert_eq!(
        (status, json(&body)["headers"]["x-forwarded-for"][0].clone()),
        (200, "203.0.113.70".into()),
        "{body}"
    );
    let (status, body) = get_with(&mut plain, b"", "/", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        srv.metric(r#"trueip_proxy_errors_total{listener="edge",kind="timeout"}"#),
        0.0
    );
    srv.shutdown().await;
    echo.shutdown().await;
}
