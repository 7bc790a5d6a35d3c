//! HTTP forwarding: trusted and untrusted forwarding headers, access control, h2c, upstream failures.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::AsyncWriteExt;

fn edge(upstream: SocketAddr, policy: &str, upstream_extra: &str) -> String {
    format!(
        r#"{{ {policy}
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                "proxy_protocol": {{ "default": "forbid", "rules": [{{ "sources": ["127.0.0.1"], "mode": "optional" }}] }},
                "upstream": {{ "address": "{upstream}" {upstream_extra} }} }}],
             "admin": {{ "address": "127.0.0.1:0" }} }}"#
    )
}

const TRUST_LOOPBACK: &str = r#""trust": { "proxies": ["loopback"] }, "sources": ["x-forwarded-for"],
    "rewrite": { "client_header": "x-real-ip", "xff": "append" },"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xff_from_a_trusted_peer_is_honoured_and_from_an_untrusted_one_ignored() {
    let (echo, edge) = start_chain(|e| edge(e, TRUST_LOOPBACK, "")).await;
    let a = edge.addr("edge");
    // Trusted peer (loopback): the rightmost untrusted entry is the client.
    let (status, body) = get(a, b"", &[("X-Forwarded-For", "198.51.100.1, 203.0.113.9")]).await;
    assert_eq!(status, 200, "{body}");
    let doc = json(&body);
    assert_eq!(doc["headers"]["x-real-ip"][0], "203.0.113.9", "{body}");
    assert_eq!(
        doc["headers"]["x-forwarded-for"][0], "198.51.100.1, 203.0.113.9, 127.0.0.1",
        "{body}"
    );
    // Untrusted peer (a PROXY source outside loopback): its XFF is ignored, the peer is the client.
    let (status, body) = get(
        a,
        b"PROXY TCP4 192.0.2.66 192.0.2.1 4000 80\r\n",
        &[("X-Forwarded-For", "10.9.9.9")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let doc = json(&body);
    assert_eq!(doc["headers"]["x-real-ip"][0], "192.0.2.66", "{body}");
    assert!(
        !doc["headers"]["x-forwarded-for"][0]
            .as_str()
            .unwrap_or("")
            .contains("10.9.9.9"),
        "{body}"
    );
    edge.wait_metric(r#"trueip_spoof_signals_total{listener="edge""#, 1.0)
        .await;
    edge.wait_metric(
        r#"trueip_decisions_total{listener="edge",outcome="decided",source="x-forwarded-for"}"#,
        1.0,
    )
    .await;
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_denied_requests_get_the_configured_status() {
    let policy = r#""trust": { "proxies": ["loopback"] }, "sources": ["x-forwarded-for"],
        "actions": { "malformed": "reject", "reject_status": 400 },
        "access": { "deny": ["203.0.113.0/24"], "status": 403, "body": "go away" },"#;
    let (echo, edge) = start_chain(|e| edge(e, policy, "")).await;
    let a = edge.addr("edge");
    let (status, body) = get(a, b"", &[("X-Forwarded-For", "not-an-ip")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed"), "{body}");
    let (status, body) = get(a, b"", &[("X-Forwarded-For", "203.0.113.5")]).await;
    assert_eq!((status, body.as_str()), (403, "go away"));
    let (status, _) = get(a, b"", &[("X-Forwarded-For", "198.51.100.5")]).await;
    assert_eq!(status, 200);
    edge.wait_metric(
        r#"trueip_decisions_total{listener="edge",outcome="rejected""#,
        1.0,
    )
    .await;
    edge.wait_metric(
        r#"trueip_decisions_total{listener="edge",outcome="denied""#,
        1.0,
    )
    .await;
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_not_forwarded_and_connection_cannot_strip_ours() {
    let (echo, edge) = start_chain(|e| edge(e, TRUST_LOOPBACK, "")).await;
    let (status, body) = get(
        edge.addr("edge"),
        b"",
        &[
            ("Connection", "close, X-Real-IP, X-Secret"),
            ("X-Secret", "s"),
            ("Keep-Alive", "timeout=1"),
            ("X-Real-IP", "6.6.6.6"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let h = &json(&body)["headers"];
    assert!(
        h.get("x-secret").is_none()
            && h.get("keep-alive").is_none()
            && h.get("connection").is_none(),
        "{body}"
    );
    assert_eq!(h["x-real-ip"][0], "127.0.0.1", "{body}");
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_served_and_forwarded() {
    let (echo, edge) = start_chain(|e| edge(e, TRUST_LOOPBACK, "")).await;
    let stream = connect(edge.addr("edge")).await;
    let (mut send, _conn) = h2_client(stream).await;
    let req = http::Request::builder()
        .uri(format!("http://{}/h2", edge.addr("edge")))
        .header("x-forwarded-for", "203.0.113.77")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("h2 response");
    assert_eq!(resp.status(), 200);
    let doc = json(&body_text(resp).await);
    assert_eq!(doc["headers"]["x-real-ip"][0], "203.0.113.77", "{doc}");
    // The upstream got an HTTP/1.1 request with a Host header taken from :authority.
    assert_eq!(doc["version"], "HTTP/1.1", "{doc}");
    assert_eq!(
        doc["headers"]["host"][0],
        edge.addr("edge").to_string(),
        "{doc}"
    );
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_answers_503_and_a_silent_upstream_504() {
    // Nothing listens on a port we bound and released.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let edge_down = start(&edge(down, TRUST_LOOPBACK, "")).await;
    let (status, body) = get(edge_down.addr("edge"), b"", &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("refused"), "{body}");
    edge_down
        .wait_metric(
            r#"trueip_upstream_errors_total{listener="edge",kind="refused"}"#,
            1.0,
        )
        .await;
    edge_down.shutdown().await;

    // An upstream that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let edge_slow = start(&edge(
        silent_addr,
        TRUST_LOOPBACK,
        r#", "response_timeout_ms": 300"#,
    ))
    .await;
    let (status, body) = get(edge_slow.addr("edge"), b"", &[]).await;
    assert_eq!(status, 504, "{body}");
    edge_slow
        .wait_metric(
            r#"trueip_upstream_errors_total{listener="edge",kind="response_timeout"}"#,
            1.0,
        )
        .await;
    edge_slow.shutdown().await;
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_stream_to_the_upstream() {
    // A raw upstream that reads the whole chunked request and answers with its length.
    let up = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up_addr = up.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = up.accept().await.expect("accept");
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
                .await
                .expect("read");
            got.extend_from_slice(&buf[..n]);
            if n == 0 || got.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        let body = format!("{}", text.matches("~").count());
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).await.expect("write");
    });
    let edge = start(&edge(up_addr, TRUST_LOOPBACK, "")).await;
    let mut s = connect(edge.addr("edge")).await;
    let chunk = "~".repeat(1000);
    let mut req = String::from(
        "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..50 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let (status, body) = parse_response(&read_all(&mut s).await);
    assert_eq!((status, body.as_str()), (200, "50000"));
    edge.shutdown().await;
}
