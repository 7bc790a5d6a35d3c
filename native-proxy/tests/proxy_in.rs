//! PROXY v1/v2 in front of an `http` listener: the echo upstream sees the right client.

#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;

fn edge(echo: SocketAddr, extra: &str) -> String {
    format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }}, "sources": ["x-forwarded-for"],
             "rewrite": {{ "client_header": "x-real-ip", "xff": "append" }},
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                "proxy_protocol": {{ "default": "require" }},
                "upstream": {{ "address": "{echo}" }} {extra} }}] }}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_ipv4_and_ipv6_sources_reach_the_upstream() {
    let (echo, edge) = start_chain(|e| edge(e, "")).await;
    let a = edge.addr("edge");
    for (header, client) in [
        (
            "PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n",
            "203.0.113.7",
        ),
        (
            "PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n",
            "2001:db8::7",
        ),
    ] {
        let (status, body) = get(a, header.as_bytes(), &[]).await;
        assert_eq!(status, 200, "{body}");
        let doc = json(&body);
        assert_eq!(doc["headers"]["x-real-ip"][0], client, "{body}");
        assert_eq!(doc["headers"]["x-forwarded-for"][0], client, "{body}");
        // The echo's own decision (peer = the edge on loopback, trusted) agrees.
        assert_eq!(doc["origin"], client, "{body}");
    }
    edge.wait_metric(
        r#"trueip_proxy_headers_total{listener="edge",version="v1",command="proxy"}"#,
        2.0,
    )
    .await;
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_ipv4_ipv6_and_local() {
    let (echo, edge) = start_chain(|e| edge(e, "")).await;
    let a = edge.addr("edge");
    let (status, body) = get(a, &v2_proxy("198.51.100.9:40000", "192.0.2.1:443"), &[]).await;
    assert_eq!(
        (status, json(&body)["headers"]["x-real-ip"][0].clone()),
        (200, "198.51.100.9".into()),
        "{body}"
    );
    let (status, body) = get(
        a,
        &v2_proxy("[2001:db8::9]:40000", "[2001:db8::1]:443"),
        &[],
    )
    .await;
    assert_eq!(
        (status, json(&body)["headers"]["x-real-ip"][0].clone()),
        (200, "2001:db8::9".into()),
        "{body}"
    );
    // LOCAL: a health check from the load balancer itself, served as the real connection.
    let (status, body) = get(a, &v2_local(), &[]).await;
    assert_eq!(
        (status, json(&body)["headers"]["x-real-ip"][0].clone()),
        (200, "127.0.0.1".into()),
        "{body}"
    );
    edge.wait_metric(
        r#"trueip_proxy_headers_total{listener="edge",version="v2",command="local"}"#,
        1.0,
    )
    .await;
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlvs_become_headers_and_clients_cannot_forge_them() {
    let extra = r#", "tlv_headers": [{ "tlv": "aws_vpce_id", "header": "x-amzn-vpce-id" }, { "tlv": "authority", "header": "x-proxy-authority" }]"#;
    let (echo, edge) = start_chain(|e| edge(e, extra)).await;
    let a = edge.addr("edge");
    let header = v2(
        0x1,
        Some((
            "203.0.113.50:1234".parse().expect("src"),
            "192.0.2.1:443".parse().expect("dst"),
        )),
        &[
            (0x02, b"shop.example"),
            (0xEA, b"\x01vpce-08d2bf15fac5001c9"),
        ],
    );
    let (status, body) = get(a, &header, &[("X-Amzn-Vpce-Id", "vpce-forged")]).await;
    assert_eq!(status, 200, "{body}");
    let doc = json(&body);
    assert_eq!(
        doc["headers"]["x-amzn-vpce-id"],
        serde_json::json!(["vpce-08d2bf15fac5001c9"]),
        "{body}"
    );
    assert_eq!(
        doc["headers"]["x-proxy-authority"],
        serde_json::json!(["shop.example"]),
        "{body}"
    );
    // Without the TLV the header is absent, not the client's value.
    let (_, body) = get(
        a,
        &v2_proxy("203.0.113.50:1234", "192.0.2.1:443"),
        &[("x-amzn-vpce-id", "vpce-forged")],
    )
    .await;
    assert!(
        json(&body)["headers"].get("x-amzn-vpce-id").is_none(),
        "{body}"
    );
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_after_the_header_and_keep_alive_requests_are_served() {
    let (echo, edge) = start_chain(|e| edge(e, "")).await;
    let mut s = connect(edge.addr("edge")).await;
    // Header and two pipelined requests in one write: the reader must replay what it read past the header.
    let mut bytes = v2_proxy("203.0.113.8:1000", "192.0.2.1:80");
    bytes.extend_from_slice(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut s, &bytes)
        .await
        .expect("write");
    let raw = String::from_utf8_lossy(&read_all(&mut s).await).into_owned();
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 2, "{raw}");
    assert!(
        raw.contains("\"path\": \"/one\"") && raw.contains("\"path\": \"/two\""),
        "{raw}"
    );
    assert!(raw.matches("203.0.113.8").count() >= 2, "{raw}");
    edge.shutdown().await;
    echo.shutdown().await;
}
