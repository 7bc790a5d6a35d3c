//! The listener's client bounds (`timeouts`), over real sockets: a connection that sent its
//! PROXY header and then nothing, one whose opening bytes stay a prefix of the h2 preface, one
//! whose HTTP/1 request head stalls, and an
//! h2c connection with no stream are each closed within the bound, counted by kind, and free
//! their connection slot, while other clients are served; a slow-ish client within the bound, and
//! an h2c client that keeps using its connection, are served.
//!
//! Listeners here use a 1 s bound (`timeouts.request_head_ms`, `timeouts.idle_ms`) so the tests
//! run in seconds. Clients pace themselves well inside or well outside it; no test asserts a
//! duration beyond "closed before the generous `DEADLINE`".
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A pause well inside the 1 s bound.
const SHORT: Duration = Duration::from_millis(300);

fn config(max_connections: u32) -> String {
    format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }},
             "listeners": [{{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo",
                              "max_connections": {max_connections},
                              "proxy_protocol": {{ "default": "require" }},
                              "timeouts": {{ "request_head_ms": 1000, "idle_ms": 1000 }} }}] }}"#
    )
}

fn proxy_header() -> Vec<u8> {
    v2_proxy("198.51.100.7:4000", "127.0.0.1:80")
}

/// The three ways of holding a slot without making progress, with their metric kinds.
#[derive(Clone, Copy, Debug)]
enum Stall {
    /// The PROXY header, then nothing.
    AfterProxyHeader,
    /// The PROXY header and `PR`: still a prefix of the h2 preface.
    PartialPreface,
    /// The PROXY header and part of an HTTP/1 request head.
    PartialHead,
    /// The PROXY header, the h2 preface and an empty SETTINGS frame, then no stream.
    IdleH2,
}

const STALLS: [Stall; 4] = [
    Stall::AfterProxyHeader,
    Stall::PartialPreface,
    Stall::PartialHead,
    Stall::IdleH2,
];

impl Stall {
    fn kind(self) -> &'static str {
        match self {
            Stall::AfterProxyHeader => "first_byte",
            Stall::PartialPreface => "version_detection",
            Stall::PartialHead => "request_head",
            Stall::IdleH2 => "h2_idle",
        }
    }

    async fn open(self, addr: SocketAddr) -> TcpStream {
        let mut bytes = proxy_header();
        match self {
            Stall::AfterProxyHeader => {}
            Stall::PartialPreface => bytes.extend_from_slice(b"PR"),
            Stall::PartialHead => bytes.extend_from_slice(b"GET /ip HTTP/1.1\r\nHo"),
            Stall::IdleH2 => {
                bytes.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
                // SETTINGS, no payload, stream 0.
                bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
            }
        }
        let mut s = connect(addr).await;
        s.write_all(&bytes).await.expect("write");
        s
    }

    /// Reads until the server closes; true when it sent no HTTP/1 answer (an h2 server sends
    /// its SETTINGS and a GOAWAY first, which are not one).
    async fn closed(self, s: &mut TcpStream) -> bool {
        let raw = read_all(s).await;
        match self {
            Stall::IdleH2 => !raw.starts_with(b"HTTP/"),
            _ => raw.is_empty(),
        }
    }
}

fn timeouts_metric(kind: &str) -> String {
    format!(r#"trueip_client_timeouts_total{{listener="echo",kind="{kind}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_within_the_bound_while_other_clients_are_served() {
    let srv = start(&config(8)).await;
    let addr = srv.addr("echo");
    let mut stalled = Vec::new();
    for stall in STALLS {
        stalled.push((stall, stall.open(addr).await));
    }
    let closes = async {
        for (stall, s) in &mut stalled {
            assert!(stall.closed(s).await, "{stall:?} got an answer");
        }
    };
    // Meanwhile other clients keep being served.
    let others = async {
        let mut served = 0;
        for _ in 0..10 {
            let (status, body) = get(addr, &proxy_header(), &[]).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(json(&body)["origin"], "198.51.100.7", "{body}");
            served += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served
    };
    let ((), served) = tokio::join!(closes, others);
    assert_eq!(served, 10);
    for stall in STALLS {
        srv.wait_metric(&timeouts_metric(stall.kind()), 1.0).await;
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_gives_its_slot_back() {
    for stall in STALLS {
        // One slot: the stalled client takes it, the next client waits in the backlog and is
        // served only because the bound closed the stalled one.
        let srv = start(&config(1)).await;
        let addr = srv.addr("echo");
        let mut s = stall.open(addr).await;
        srv.wait_metric(r#"trueip_connections_open{listener="echo"}"#, 1.0)
            .await;
        let (status, body) = get(addr, &proxy_header(), &[]).await;
        assert_eq!(status, 200, "{stall:?}: {body}");
        assert!(stall.closed(&mut s).await, "{stall:?} got an answer");
        srv.wait_metric(&timeouts_metric(stall.kind()), 1.0).await;
        srv.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_ish_client_within_the_bound_is_served() {
    let srv = start(&config(4)).await;
    let addr = srv.addr("echo");
    // The PROXY header, a pause, the first bytes of a request that could still be the h2
    // preface, a pause, the rest: about 0.6 s of the 1 s bound.
    for (opening, rest) in [
        (
            &b"P"[..],
            &b"OST /ip HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"[..],
        ),
        (b"G", b"ET /ip HTTP/1.1\r\nHost: a\r\n\r\n"),
    ] {
        let mut s = connect(addr).await;
        s.write_all(&proxy_header()).await.expect("write");
        tokio::time::sleep(SHORT).await;
        s.write_all(opening).await.expect("write");
        tokio::time::sleep(SHORT).await;
        s.write_all(rest).await.expect("write");
        let (status, body) = parse_response(&read_one(&mut s).await);
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["origin"], "198.51.100.7", "{body}");
    }
    assert_eq!(srv.metric(&timeouts_metric("first_byte")), 0.0);
    assert_eq!(srv.metric(&timeouts_metric("version_detection")), 0.0);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_client_that_keeps_sending_outlives_the_idle_bound_then_is_closed() {
    let srv = start(&config(4)).await;
    let addr = srv.addr("echo");
    let mut stream = connect(addr).await;
    stream.write_all(&proxy_header()).await.expect("write");
    let (mut send, conn) = h2_client(stream).await;
    // Six requests, a pause well inside the bound after each: about twice the bound in all.
    for _ in 0..6 {
        let req = http::Request::builder()
            .uri(format!("http://{addr}/ip"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = send.send_request(req).await.expect("h2 response");
        assert_eq!(resp.status(), 200);
        assert_eq!(json(&body_text(resp).await)["origin"], "198.51.100.7");
        tokio::time::sleep(SHORT).await;
    }
    assert_eq!(srv.metric(&timeouts_metric("h2_idle")), 0.0);
    // Then it goes quiet: the server sends GOAWAY and closes, which ends the client's connection.
    tokio::time::timeout(DEADLINE, conn)
        .await
        .expect("closed by the idle bound")
        .expect("connection task")
        .expect("a clean close");
    srv.wait_metric(&timeouts_metric("h2_idle"), 1.0).await;
    srv.shutdown().await;
}

/// Reads one HTTP/1 response with a `Content-Length` (the echo answers carry one).
async fn read_one(s: &mut TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if raw.len() >= end + 4 + len {
                return raw;
            }
        }
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
}
