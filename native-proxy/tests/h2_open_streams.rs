//! The h2 idle bound (`timeouts.idle_ms`) never cuts an open stream, over real sockets: an h2c
//! client of an `http` listener with a 1 s bound uploads a request body slowly, then downloads a
//! slowly streamed response, each over about 2.5 s of a slow upstream; both complete intact and
//! the connection is not counted idle. Once the client goes quiet, the bound closes it.
//!
//! No test asserts a duration beyond "closed before the generous `DEADLINE`".
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

/// Chunks per slow body, and the pause before each: 10 × 250 ms, two and a half 1 s bounds.
const CHUNKS: usize = 10;
const PAUSE: Duration = Duration::from_millis(250);

fn chunk(i: usize) -> Bytes {
    Bytes::from(vec![b'a' + (i % 26) as u8; 1000])
}

fn slow_body_bytes() -> Vec<u8> {
    (0..CHUNKS).flat_map(|i| chunk(i).to_vec()).collect()
}

/// A body whose chunks are sent with a pause before each, by a task of its own.
fn slow_body() -> SlowBody {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for i in 0..CHUNKS {
            tokio::time::sleep(PAUSE).await;
            if tx.send(chunk(i)).await.is_err() {
                return;
            }
        }
    });
    SlowBody(rx)
}

/// The receiving end of `slow_body`: its chunks as they come, ended when the sender is done.
struct SlowBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c))))
    }
}

/// A slow HTTP/1 upstream on loopback: `/upload` answers with the request body it read in full,
/// `/download` streams `slow_body`.
async fn slow_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // Bounded: the test makes two requests, so the proxy needs at most two connections.
        for _ in 0..8 {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: http::Request<Incoming>| async move {
                        let body = if req.uri().path() == "/upload" {
                            let got = req.into_body().collect().await?.to_bytes();
                            http_body_util::Full::new(got).boxed()
                        } else {
                            slow_body().boxed()
                        };
                        Ok::<_, hyper::Error>(http::Response::new(body))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                    .await;
            });
        }
    });
    addr
}

fn edge(upstream: SocketAddr) -> String {
    format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }},
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
                "proxy_protocol": {{ "default": "forbid" }},
                "timeouts": {{ "idle_ms": 1000 }},
                "upstream": {{ "address": "{upstream}" }} }}] }}"#
    )
}

const H2_IDLE: &str = r#"trueip_client_timeouts_total{listener="edge",kind="h2_idle"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_and_a_slow_download_outlive_the_idle_bound_then_it_closes() {
    let srv = start(&edge(slow_upstream().await)).await;
    let addr = srv.addr("edge");
    let (mut send, conn) = h2_client(connect(addr).await).await;
    let want = slow_body_bytes();

    // One at a time, so each is the connection's only open stream while it lasts.
    for (path, body) in [
        ("/upload", slow_body().boxed()),
        (
            "/download",
            http_body_util::Empty::<Bytes>::new()
                .map_err(|e| match e {})
                .boxed(),
        ),
    ] {
        let req = http::Request::builder()
            .method(if path == "/upload" { "POST" } else { "GET" })
            .uri(format!("http://{addr}{path}"))
            .body(body)
            .expect("request");
        let resp = tokio::time::timeout(DEADLINE, send.send_request(req))
            .await
            .unwrap_or_else(|_| panic!("{path}: no response head in time"))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(resp.status(), 200, "{path}");
        let got = tokio::time::timeout(DEADLINE, resp.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("{path}: no end of body in time"))
            .unwrap_or_else(|e| panic!("{path}: body cut: {e}"))
            .to_bytes();
        assert_eq!(got.len(), want.len(), "{path}");
        assert!(got[..] == want[..], "{path}: body differs");
    }
    assert_eq!(srv.metric(H2_IDLE), 0.0, "an open stream was counted idle");

    // Then it goes quiet: the server sends GOAWAY and closes, which ends the client's connection.
    tokio::time::timeout(DEADLINE, conn)
        .await
        .expect("closed by the idle bound")
        .expect("connection task")
        .expect("a clean close");
    srv.wait_metric(H2_IDLE, 1.0).await;
    srv.shutdown().await;
}
