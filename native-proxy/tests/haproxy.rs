//! Interop with a real HAProxy (Debian `haproxy`, installed by scripts/test.sh):
//! HAProxy `send-proxy-v2` → trueip, and trueip `proxy_protocol: v2` → HAProxy `accept-proxy`.
//! Both directions assert the client address the far side saw.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// HAProxy running with a generated config; killed when dropped, also when a test fails.
struct Haproxy {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn haproxy(name: &str, config: &str, wait_for: &[SocketAddr]) -> Haproxy {
    let dir = std::env::temp_dir().join(format!("trueip-haproxy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config).expect("write haproxy.cfg");
    let bin = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("haproxy is not installed: run scripts/test.sh (it installs the Debian package)");
    let check = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("run haproxy -c");
    assert!(
        check.status.success(),
        "haproxy rejected its config: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    let h = Haproxy { child, dir };
    for addr in wait_for {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "haproxy did not start listening on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    h
}

const DEFAULTS: &str = "global\n  maxconn 200\ndefaults\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_send_proxy_v2_into_trueip() {
    let (echo, edge) = start_chain(|e| {
        format!(
            r#"{{ "trust": {{ "proxies": ["loopback"] }}, "rewrite": {{ "client_header": "x-real-ip" }},
                 "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                    "proxy_protocol": {{ "default": "require", "versions": ["v2"] }},
                    "upstream": {{ "address": "{e}" }} }}] }}"#
        )
    })
    .await;
    let front: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let cfg = format!(
        "{DEFAULTS}frontend lb\n  mode tcp\n  bind {front}\n  default_backend trueip\nbackend trueip\n  mode tcp\n  server t1 {} send-proxy-v2\n",
        edge.addr("edge")
    );
    let _h = haproxy("send", &cfg, &[front]).await;
    // Clients from two different loopback addresses; trueip must see each through HAProxy.
    for src in ["127.0.0.3", "127.0.0.4"] {
        let mut s = connect_from(src, front).await;
        let (status, body) = get_with(&mut s, b"", "/", &[]).await;
        assert_eq!(status, 200, "{body}");
        let doc = json(&body);
        assert_eq!(doc["headers"]["x-real-ip"][0], src, "{body}");
    }
    edge.wait_metric(
        r#"trueip_proxy_headers_total{listener="edge",version="v2",command="proxy"}"#,
        2.0,
    )
    .await;
    edge.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trueip_proxy_v2_upstream_into_haproxy_accept_proxy() {
    let app: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let cfg = format!(
        "{DEFAULTS}frontend app\n  mode http\n  bind {app} accept-proxy\n  http-request return status 200 content-type text/plain lf-string \"src=%[src]\"\n"
    );
    let _h = haproxy("accept", &cfg, &[]).await;
    let srv = start(&format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }}, "sources": ["x-forwarded-for"],
             "listeners": [
               {{ "name": "relay", "address": "127.0.0.1:0", "protocol": "tcp",
                  "upstream": {{ "address": "{app}", "proxy_protocol": {{ "version": "v2" }} }} }},
               {{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                  "upstream": {{ "address": "{app}", "proxy_protocol": {{ "version": "v2" }} }} }} ] }}"#
    ))
    .await;
    // Wait until HAProxy answers through the relay (it may still be starting).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut s = connect_from("127.0.0.5", srv.addr("relay")).await;
        let (status, body) = get_with(&mut s, b"", "/", &[]).await;
        if status == 200 {
            // TCP relay: the socket peer goes upstream.
            assert_eq!(body, "src=127.0.0.5");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "haproxy never answered: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // HTTP: the client decided from trusted XFF goes upstream.
    let mut s = connect_from("127.0.0.1", srv.addr("edge")).await;
    let (status, body) = get_with(&mut s, b"", "/", &[("X-Forwarded-For", "203.0.113.50")]).await;
    assert_eq!((status, body.as_str()), (200, "src=203.0.113.50"));
    srv.shutdown().await;
}
