//! The HTTP/1 request-head bound (`http_server::ConnSetup`, timed by the connection's
//! `ConnTimer`), over real sockets: a stalled head is closed within the bound while other clients
//! are served, an idle keep-alive connection closes quietly, and neither a slow request body, a
//! long response nor a steady keep-alive client is cut by it.
//!
//! The server here is `http_server::serve` with a small test service and a 1 s bound, so the
//! tests run in seconds; the listeners use the same code with `HEADER_READ_TIMEOUT` (30 s).
//! Every test runs against both ways of serving: hyper's HTTP/1 server directly (a first byte
//! other than `P`) and hyper-util's automatic one.
//! Clients pace themselves well inside or well outside the bound; no test asserts a duration.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use trueip_proxy::conn_timer::ConnTimer;
use trueip_proxy::http_server::{self, ConnSetup, Opening};
use trueip_proxy::upstream::Body;

const BOUND: Duration = Duration::from_secs(1);
/// A pause well inside the bound.
const SHORT: Duration = Duration::from_millis(300);

const OPENINGS: [Opening; 2] = [Opening::Http1, Opening::Undecided];

/// Serves every accepted connection with the test service until the test ends.
async fn server(opening: Opening) -> (SocketAddr, watch::Sender<bool>, Counter) {
    let head_timeouts = Counter::default();
    let counted = head_timeouts.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        let label: Arc<str> = Arc::from("test");
        while let Ok((stream, _)) = listener.accept().await {
            let (label, stop, head_timeouts) = (label.clone(), stop.clone(), counted.clone());
            tokio::spawn(async move {
                let setup = ConnSetup {
                    timer: ConnTimer::new(),
                    head_timeout: BOUND,
                    idle_timeout: BOUND,
                    head_timeouts: head_timeouts.clone(),
                    idle_closes: Counter::default(),
                    opening,
                };
                let service = hyper::service::service_fn(|req| async move {
                    Ok::<_, Infallible>(answer(req).await)
                });
                http_server::serve(stream, service, stop, &label, Counter::default(), setup).await;
            });
        }
    });
    (addr, stop_tx, head_timeouts)
}

/// Waits until `counter` reaches `want` (the count follows the close the client sees).
async fn wait_count(counter: &Counter, want: u64) {
    tokio::time::timeout(DEADLINE, async {
        while counter.get() < want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("count {} never reached {want}", counter.get()));
    assert_eq!(counter.get(), want);
}

/// `/body`: the request body's length; `/stream`: `part0`..`part3`, one every `SHORT` (1.2 s in
/// all, past the bound); anything else: `ok`.
async fn answer(req: Request<Incoming>) -> Response<Body> {
    let full = |text: String| Full::new(Bytes::from(text)).map_err(|n| match n {}).boxed();
    match req.uri().path() {
        "/body" => {
            let body = req.into_body().collect().await.expect("request body");
            Response::new(full(body.to_bytes().len().to_string()))
        }
        "/stream" => {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tokio::spawn(async move {
                for i in 0..4 {
                    tokio::time::sleep(SHORT).await;
                    if tx.send(Bytes::from(format!("part{i}"))).await.is_err() {
                        return;
                    }
                }
            });
            Response::new(Chunks(rx).map_err(|n| match n {}).boxed())
        }
        _ => Response::new(full("ok".into())),
    }
}

/// A response body that sends what arrives on a channel, as it arrives.
struct Chunks(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// Reads one response with a `Content-Length` off a keep-alive connection.
async fn response(s: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if body.len() >= len {
                return parse_response(&raw);
            }
        }
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "closed mid-response: {text:?}");
        raw.extend_from_slice(&buf[..n]);
    }
}

async fn request(s: &mut TcpStream, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    response(s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_is_closed_while_other_clients_are_served() {
    for opening in OPENINGS {
        a_stalled_request_head_is_closed_while_other_clients_are_served_with(opening).await;
    }
}

async fn a_stalled_request_head_is_closed_while_other_clients_are_served_with(opening: Opening) {
    let (addr, _stop, head_timeouts) = server(opening).await;
    // A first request's head, cut short; and a second request's head on a connection that has
    // already been served one.
    let mut first = connect(addr).await;
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("write");
    let mut later = connect(addr).await;
    assert_eq!(request(&mut later, "/").await, (200, "ok".into()));
    later
        .write_all(b"GET / HTTP/1.1\r\nHo")
        .await
        .expect("write");

    let stalled = async {
        let a = read_all(&mut first).await;
        let b = read_all(&mut later).await;
        (a, b)
    };
    // Meanwhile other clients keep being served, on new and kept-alive connections.
    let others = async {
        let mut kept = connect(addr).await;
        let mut served = 0;
        for _ in 0..10 {
            assert_eq!(get(addr, b"", &[]).await, (200, "ok".into()));
            assert_eq!(request(&mut kept, "/").await, (200, "ok".into()));
            served += 2;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served
    };
    let ((a, b), served) = tokio::join!(stalled, others);
    assert_eq!(served, 20);
    // hyper closes a connection whose head timed out without an answer (no 408).
    for raw in [a, b] {
        assert!(
            raw.is_empty(),
            "expected a close, got {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
    // Each is counted as a `request_head` client timeout.
    wait_count(&head_timeouts, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_quietly_after_the_bound() {
    for opening in OPENINGS {
        an_idle_keep_alive_connection_is_closed_quietly_after_the_bound_with(opening).await;
    }
}

async fn an_idle_keep_alive_connection_is_closed_quietly_after_the_bound_with(opening: Opening) {
    let (addr, _stop, head_timeouts) = server(opening).await;
    let mut s = connect(addr).await;
    assert_eq!(request(&mut s, "/").await, (200, "ok".into()));
    // Nothing more is sent: the connection ends, with no bytes.
    assert!(closed_without_answer(&mut s).await);
    wait_count(&head_timeouts, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_keep_alive_client_outlives_the_bound() {
    for opening in OPENINGS {
        a_steady_keep_alive_client_outlives_the_bound_with(opening).await;
    }
}

async fn a_steady_keep_alive_client_outlives_the_bound_with(opening: Opening) {
    let (addr, _stop, _) = server(opening).await;
    let mut s = connect(addr).await;
    // Six requests, each well inside the bound of the previous response, four times the bound
    // in all: every head met its own deadline, so none of the earlier ones may close it.
    for _ in 0..6 {
        assert_eq!(request(&mut s, "/").await, (200, "ok".into()));
        tokio::time::sleep(SHORT * 2).await;
    }
    assert_eq!(request(&mut s, "/").await, (200, "ok".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_body_is_not_cut_by_the_head_bound() {
    for opening in OPENINGS {
        a_slow_request_body_is_not_cut_by_the_head_bound_with(opening).await;
    }
}

async fn a_slow_request_body_is_not_cut_by_the_head_bound_with(opening: Opening) {
    let (addr, _stop, _) = server(opening).await;
    let mut s = connect(addr).await;
    s.write_all(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        .await
        .expect("write head");
    // One byte every SHORT: 1.5 s of body, past the bound.
    for byte in b"hello" {
        tokio::time::sleep(SHORT).await;
        s.write_all(&[*byte]).await.expect("write body");
    }
    assert_eq!(response(&mut s).await, (200, "5".into()));
    // And the connection is still good for the next request.
    assert_eq!(request(&mut s, "/").await, (200, "ok".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_response_is_not_cut_by_the_head_bound() {
    for opening in OPENINGS {
        a_long_response_is_not_cut_by_the_head_bound_with(opening).await;
    }
}

async fn a_long_response_is_not_cut_by_the_head_bound_with(opening: Opening) {
    let (addr, _stop, _) = server(opening).await;
    let mut s = connect(addr).await;
    let (status, body) = get_with(&mut s, b"", "/stream", &[]).await;
    assert_eq!(status, 200);
    // Chunked framing around the parts; all four arrived, in order.
    let at: Vec<usize> = (0..4)
        .map(|i| {
            body.find(&format!("part{i}"))
                .unwrap_or_else(|| panic!("part{i} missing: {body:?}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{body:?}");
}
