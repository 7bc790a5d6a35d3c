//! The shared PROXY conformance vectors (`testdata/vectors/proxy/`) replayed over real sockets.
//!
//! Each case's input goes to a `require` listener of protocol `tcp` that relays upstream with a
//! PROXY v2 header. A capturing upstream decodes that header: accepted cases must arrive with
//! the vector's source and destination (or the real endpoints when the vector says so) and
//! exactly the bytes after the header; rejected and incomplete cases must never reach the
//! upstream and must be counted under the matching kind.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/proxy")
}

fn input(case: &Value) -> Vec<u8> {
    if let Some(t) = case["text"].as_str() {
        return t.as_bytes().to_vec();
    }
    if let Some(h) = case["hex"].as_str() {
        let digits: Vec<u8> = h.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        return digits
            .chunks(2)
            .map(|p| {
                u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex digit")
            })
            .collect();
    }
    let file = case["file"].as_str().expect("text, hex or file");
    std::fs::read(vectors_dir().join(file)).expect("vector file")
}

/// What the capturing upstream received on one connection.
struct Captured {
    source: SocketAddr,
    destination: SocketAddr,
    payload: Vec<u8>,
}

async fn capturing_upstream() -> (SocketAddr, mpsc::UnboundedReceiver<Captured>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all).await;
                let d =
                    trueip::proxy_protocol::decode(&all).expect("trueip sent a valid v2 header");
                let (source, destination) = match d.header.addresses() {
                    trueip::proxy_protocol::Addresses::Inet {
                        source,
                        destination,
                    } => (source, destination),
                    other => panic!("upstream header without addresses: {other:?}"),
                };
                let payload = all[d.consumed..].to_vec();
                let _ = tx.send(Captured {
                    source,
                    destination,
                    payload,
                });
            });
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_vectors_over_sockets() {
    let doc: Value = serde_json::from_slice(
        &std::fs::read(vectors_dir().join("cases.json")).expect("cases.json"),
    )
    .expect("cases.json is JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(
        cases.len() >= 60,
        "expected the full vector set, found {}",
        cases.len()
    );
    let (up, mut captured) = capturing_upstream().await;
    let srv = start(&format!(
        r#"{{ "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "tcp",
              "proxy_protocol": {{ "default": "require", "header_timeout_ms": 2000, "max_header_bytes": 65551 }},
              "upstream": {{ "address": "{up}", "proxy_protocol": {{ "version": "v2" }} }} }}] }}"#
    ))
    .await;
    let edge = srv.addr("edge");
    let mut checked = 0;
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let bytes = input(case);
        let expect = &case["expect"];
        let ok = &expect["ok"];
        let kind = if !ok.is_null() {
            (ok["stacked"] == true).then_some("stacked")
        } else if let Some(e) = expect["error"].as_str() {
            // A listener that requires the header calls "not a PROXY header" a missing header.
            Some(if e == "not_proxy" { "missing" } else { e })
        } else {
            // Incomplete: the sender stops; the relay sees the connection end mid-header.
            Some(if bytes.is_empty() {
                "empty"
            } else {
                "truncated"
            })
        };
        let metric =
            kind.map(|k| format!(r#"trueip_proxy_errors_total{{listener="edge",kind="{k}"}}"#));
        let before = metric.as_deref().map(|m| srv.metric(m)).unwrap_or(0.0);
        let mut s = connect(edge).await;
        let local = s.local_addr().expect("local");
        s.write_all(&bytes).await.expect("write");
        s.shutdown().await.expect("half-close");
        let answer = read_all(&mut s).await;
        assert!(
            answer.is_empty(),
            "{name}: the capturing upstream never answers"
        );
        match metric {
            Some(m) => srv.wait_metric(&m, before + 1.0).await,
            None => {
                let got = tokio::time::timeout(DEADLINE, captured.recv())
                    .await
                    .expect("relayed in time")
                    .expect("capture");
                let consumed = ok["consumed"].as_u64().expect("consumed") as usize;
                assert_eq!(
                    got.payload,
                    bytes[consumed..],
                    "{name}: bytes after the header must be replayed exactly"
                );
                match ok["source"].as_str().filter(|s| !s.starts_with("unix:")) {
                    Some(src) => {
                        assert_eq!(
                            got.source,
                            src.parse::<SocketAddr>().expect("source"),
                            "{name}"
                        );
                        let dst = ok["destination"].as_str().expect("destination");
                        assert_eq!(
                            got.destination,
                            dst.parse::<SocketAddr>().expect("destination"),
                            "{name}"
                        );
                    }
                    // LOCAL, UNKNOWN, AF_UNSPEC and AF_UNIX: the real connection's endpoints.
                    None => assert_eq!((got.source, got.destination), (local, edge), "{name}"),
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
    // Nothing rejected ever reached the upstream.
    assert!(captured.try_recv().is_err(), "a rejected case was relayed");
    srv.shutdown().await;
}
