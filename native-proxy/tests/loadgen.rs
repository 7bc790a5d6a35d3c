//! The benchmark load generator: bounded by its request budget, PROXY v2 headers accepted by a
//! `require` listener, idle connections held and counted.

mod common;

use std::time::Duration;

use common::*;
use trueip_proxy::loadgen::{self, Load};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_proxy_v2_headers_stops_at_the_request_budget() {
    let srv = start(
        r#"{ "listeners": [{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo",
              "proxy_protocol": { "default": "require", "versions": ["v2"] } }] }"#,
    )
    .await;
    let load = Load {
        target: srv.addr("echo"),
        connections: 4,
        duration: Duration::from_secs(30),
        max_requests: 200,
        proxy_v2: true,
        path: "/ip".into(),
        headers: vec![("X-Forwarded-For".into(), "203.0.113.7".into())],
    };
    let report = loadgen::run(&load).await;
    assert_eq!(
        (report.requests, report.non_2xx, report.errors),
        (200, 0, 0),
        "{report:?}"
    );
    srv.wait_metric(
        r#"trueip_proxy_headers_total{listener="echo",version="v2",command="proxy"}"#,
        4.0,
    )
    .await;
    let open = loadgen::hold_idle(srv.addr("echo"), 20, true, Duration::from_millis(10), |n| {
        assert_eq!(n, 20)
    })
    .await;
    assert_eq!(open, 20);
    srv.shutdown().await;
}
