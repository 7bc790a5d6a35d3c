//! Test helpers: start a real server on loopback, speak raw bytes to it, read its metrics.
// Each test binary uses a different subset; a failing assertion is the point of a panic here.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use trueip_proxy::Server;
use trueip_proxy::server::Shared;

/// Generous bound on any single network wait in a test; tests wait on conditions, not sleeps.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub listeners: Vec<(String, SocketAddr)>,
    pub admin: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    pub reload: trueip_proxy::ReloadHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .expect("listener name")
    }

    /// Stops accepting, drains for at most `grace`, and waits for the server to return.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(DEADLINE, t)
                .await
                .expect("server stops")
                .expect("server task");
        }
    }

    pub fn metrics(&self) -> String {
        self.shared.telemetry.encode()
    }

    /// The value of the metric line that starts with `prefix` (name plus labels), 0 if absent.
    pub fn metric(&self, prefix: &str) -> f64 {
        metric_value(&self.metrics(), prefix)
    }

    /// Waits until `metric(prefix) >= want`.
    pub async fn wait_metric(&self, prefix: &str, want: f64) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let got = self.metric(prefix);
            if got >= want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "metric {prefix} stayed at {got}, wanted {want}\n{}",
                self.metrics()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub fn metric_value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

/// Binds and serves `config` (JSON) with a drain grace of `grace`.
pub async fn start_with_grace(config: &str, grace: Duration) -> TestServer {
    let config = trueip::Config::from_json(config).expect("test config is valid");
    let server = Server::bind(config).await.expect("bind");
    let listeners = server.listeners();
    let admin = server.admin_addr();
    let shared = server.shared();
    let reload = server.reload_handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(
        async move {
            let _ = stopped.await;
        },
        grace,
    ));
    TestServer {
        listeners,
        admin,
        shared,
        reload,
        stop: Some(stop),
        task: Some(task),
    }
}

pub async fn start(config: &str) -> TestServer {
    start_with_grace(config, Duration::from_secs(5)).await
}

/// Connects from a chosen loopback source address (127.0.0.2 etc. are all local on Linux).
pub async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source"))
        .expect("bind source");
    tokio::time::timeout(DEADLINE, socket.connect(to))
        .await
        .expect("connect in time")
        .expect("connect")
}

pub async fn connect(to: SocketAddr) -> TcpStream {
    tokio::time::timeout(DEADLINE, TcpStream::connect(to))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Sends `prefix` then a `Connection: close` GET with `headers`, returns (status, body).
pub async fn get_with(
    stream: &mut TcpStream,
    prefix: &[u8],
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = prefix.to_vec();
    req.extend_from_slice(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n").as_bytes(),
    );
    for (n, v) in headers {
        req.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    stream.write_all(&req).await.expect("write request");
    let raw = read_all(stream).await;
    parse_response(&raw)
}

pub async fn get(addr: SocketAddr, prefix: &[u8], headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = connect(addr).await;
    get_with(&mut s, prefix, "/", headers).await
}

pub async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    match tokio::time::timeout(DEADLINE, stream.read_to_end(&mut raw)).await {
        Ok(Ok(_)) => {}
        // A reset after the server closed is an ending too; keep what arrived.
        Ok(Err(_)) => {}
        Err(_) => panic!(
            "no end of response within {DEADLINE:?}; got {:?}",
            String::from_utf8_lossy(&raw)
        ),
    }
    raw
}

pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The echo document's JSON.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Whether the server closed the connection without an HTTP answer.
pub async fn closed_without_answer(stream: &mut TcpStream) -> bool {
    read_all(stream).await.is_empty()
}

/// A PROXY v2 header built by hand (independent of the codec under test).
pub fn v2(command: u8, src: Option<(SocketAddr, SocketAddr)>, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(0x20 | command);
    let mut body = Vec::new();
    let fam = match src {
        None => 0x00,
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            0x11
        }
        Some((SocketAddr::V6(s), SocketAddr::V6(d))) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            0x21
        }
        Some(_) => panic!("mixed families"),
    };
    out.push(fam);
    for (t, v) in tlvs {
        body.push(*t);
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
    }
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn v2_proxy(src: &str, dst: &str) -> Vec<u8> {
    v2(
        0x1,
        Some((src.parse().expect("src"), dst.parse().expect("dst"))),
        &[],
    )
}

pub fn v2_local() -> Vec<u8> {
    v2(0x0, None, &[])
}

/// Starts an echo server first, then a config whose `"ECHO"` placeholder names its address.
pub async fn start_chain(
    policy_and_listeners: impl Fn(SocketAddr) -> String,
) -> (TestServer, TestServer) {
    let echo = start(r#"{ "trust": { "proxies": ["loopback"] },
        "listeners": [{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo",
                        "proxy_protocol": { "default": "forbid", "rules": [{ "sources": ["loopback"], "mode": "optional" }] } }] }"#)
        .await;
    let edge = start(&policy_and_listeners(echo.addr("echo"))).await;
    (echo, edge)
}

/// An HTTP/2 client connection (prior knowledge, as h2c clients speak) over `stream`, which may already
/// carry a PROXY header; the connection is driven by a task of its own, whose handle ends when it closes.
pub async fn h2_client<B>(
    stream: TcpStream,
) -> (
    hyper::client::conn::http2::SendRequest<B>,
    JoinHandle<hyper::Result<()>>,
)
where
    B: hyper::body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    (send, tokio::spawn(conn))
}

/// A response's whole body as text (invalid UTF-8 replaced).
pub async fn body_text(resp: http::Response<hyper::body::Incoming>) -> String {
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
