//! "PROXY enabled, health checks fail": plain checks from the configured checker addresses and
//! LOCAL probes pass, while client traffic still has to carry the header.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkers_may_skip_the_header_clients_may_not() {
    let (echo, srv) = start_chain(|e| {
        format!(
            r#"{{ "trust": {{ "proxies": ["loopback"] }},
                 "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                    "proxy_protocol": {{ "default": "require", "rules": [{{ "sources": ["127.0.0.2/32"], "mode": "optional" }}] }},
                    "upstream": {{ "address": "{e}" }} }}] }}"#
        )
    })
    .await;
    let addr = srv.addr("edge");
    // The health checker (127.0.0.2) sends a plain request: served as itself.
    let mut s = connect_from("127.0.0.2", addr).await;
    let (status, body) = get_with(&mut s, b"", "/healthz", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body)["headers"]["x-forwarded-for"][0],
        "127.0.0.2",
        "{body}"
    );
    // The checker may also send a header; it is honoured.
    let mut s = connect_from("127.0.0.2", addr).await;
    let (status, body) =
        get_with(&mut s, &v2_proxy("203.0.113.4:1", "192.0.2.1:80"), "/", &[]).await;
    assert_eq!(
        (status, json(&body)["headers"]["x-forwarded-for"][0].clone()),
        (200, "203.0.113.4".into()),
        "{body}"
    );
    // A plain TCP check (connect, close) is counted as `empty`, not served and not an error line.
    let mut s = connect_from("127.0.0.2", addr).await;
    tokio::io::AsyncWriteExt::shutdown(&mut s)
        .await
        .expect("close");
    assert!(closed_without_answer(&mut s).await);
    srv.wait_metric(
        r#"trueip_proxy_errors_total{listener="edge",kind="empty"}"#,
        1.0,
    )
    .await;
    // A LOCAL probe from the load balancer's own address: served as the real connection.
    let mut s = connect_from("127.0.0.1", addr).await;
    let (status, body) = get_with(&mut s, &v2_local(), "/healthz", &[]).await;
    assert_eq!(
        (status, json(&body)["headers"]["x-forwarded-for"][0].clone()),
        (200, "127.0.0.1".into()),
        "{body}"
    );
    // Client traffic without the header is refused.
    let mut s = connect_from("127.0.0.1", addr).await;
    let (status, _) = get_with(&mut s, b"", "/", &[]).await;
    assert_eq!(
        status, 0,
        "a plain request from a non-checker must not be served"
    );
    srv.wait_metric(
        r#"trueip_proxy_errors_total{listener="edge",kind="missing"}"#,
        1.0,
    )
    .await;
    // With the header, it is served as the header's client.
    let mut s = connect_from("127.0.0.1", addr).await;
    let (status, body) = get_with(
        &mut s,
        &v2_proxy("198.51.100.200:5", "192.0.2.1:80"),
        "/",
        &[],
    )
    .await;
    assert_eq!(
        (status, json(&body)["headers"]["x-forwarded-for"][0].clone()),
        (200, "198.51.100.200".into()),
        "{body}"
    );
    srv.wait_metric(
        r#"trueip_proxy_headers_total{listener="edge",version="none",command="none"}"#,
        1.0,
    )
    .await;
    srv.shutdown().await;
    echo.shutdown().await;
}
