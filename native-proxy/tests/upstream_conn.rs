//! Each HTTP/1 client connection has its own upstream connection: kept alive across the
//! client's requests, and replaced when the upstream closes it between two requests.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A raw HTTP/1.1 upstream answering `ok`; with `close_after_each` it answers `Connection: close`
/// and closes. Returns its address and the number of connections it has accepted.
async fn upstream(close_after_each: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        // Bounded: a test makes a handful of connections.
        for _ in 0..16 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    // GET requests without bodies: every blank line ends one.
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let answer: &[u8] = if close_after_each {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        } else {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        };
                        if s.write_all(answer).await.is_err() || close_after_each {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

async fn edge_to(up: SocketAddr) -> TestServer {
    start(&format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }},
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http", "upstream": "{up}" }}] }}"#
    ))
    .await
}

/// One keep-alive request on `s`; returns the response head and body.
async fn request(s: &mut TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upstream_connection_serves_all_requests_of_a_client_connection() {
    let (up, accepted) = upstream(false).await;
    let srv = edge_to(up).await;
    let mut client = connect(srv.addr("edge")).await;
    for _ in 0..3 {
        assert!(request(&mut client).await.starts_with("HTTP/1.1 200"));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // A second client gets a connection of its own.
    let mut other = connect(srv.addr("edge")).await;
    assert!(request(&mut other).await.starts_with("HTTP/1.1 200"));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_after_each_answer_gets_a_new_connection_per_request() {
    let (up, accepted) = upstream(true).await;
    let srv = edge_to(up).await;
    let mut client = connect(srv.addr("edge")).await;
    for _ in 0..3 {
        let answer = request(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // `Connection` is hop-by-hop: the upstream's close does not close the client.
        assert!(
            !answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert_eq!(
        srv.metric(r#"trueip_upstream_errors_total"#),
        0.0,
        "{}",
        srv.metrics()
    );
    srv.shutdown().await;
}
