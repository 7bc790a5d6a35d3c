//! The admin endpoint over HTTP: /live, /ready, /config, /metrics.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use tokio::io::AsyncWriteExt;

async fn admin_get(srv: &TestServer, method: &str, path: &str) -> (u16, String) {
    let mut s = connect(srv.admin.expect("admin address")).await;
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    parse_response(&read_all(&mut s).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_answer() {
    let srv = start(
        r#"{ "listeners": [{ "name": "echo-one", "address": "127.0.0.1:0", "protocol": "echo" }],
             "admin": { "address": "127.0.0.1:0" } }"#,
    )
    .await;
    assert_eq!(get(srv.addr("echo-one"), b"", &[]).await.0, 200);
    assert_eq!(admin_get(&srv, "GET", "/live").await.0, 200);
    assert_eq!(admin_get(&srv, "GET", "/ready").await.0, 200);
    let (status, body) = admin_get(&srv, "GET", "/config").await;
    assert_eq!(status, 200);
    let config = json(&body);
    assert_eq!(config["listeners"][0]["name"], "echo-one", "{body}");
    assert_eq!(
        config["listeners"][0]["proxy_protocol"]["default"], "forbid",
        "{body}"
    );
    let (status, body) = admin_get(&srv, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metric_value(&body, r#"trueip_connections_total{listener="echo-one"}"#) >= 1.0,
        "{body}"
    );
    assert!(
        body.contains("# TYPE trueip_proxy_header_duration_seconds histogram"),
        "{body}"
    );
    assert_eq!(admin_get(&srv, "POST", "/metrics").await.0, 405);
    assert_eq!(admin_get(&srv, "GET", "/nope").await.0, 404);
    srv.shutdown().await;
}
