//! The shared header conformance vectors (`testdata/vectors/headers/`) replayed through the proxy
//! over real sockets, compared with `trueip::vectors::compare` exactly as the core's own runner.
//!
//! The vector's peer is set with a PROXY v2 header (loopback cannot connect from 10.0.0.2); the
//! decision is read from the listener's `decision_header`, the upstream headers from what a raw
//! upstream received. Denied requests are replayed a second time without access lists to observe
//! the decision (the deny answer itself carries none). Vectors with a peer mTLS identity are
//! sidecar-only (the native proxy does not terminate mTLS) and are counted separately.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use trueip::vectors::{
    self, ConfigRef, ExpectedAccess, ExpectedDecision, ExpectedReject, HeaderVector, Observed,
};

const DECISION: &str = "x-trueip-test-decision";

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// A raw HTTP/1.1 upstream that reports each request's header lines and answers 200.
async fn capturing_upstream() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<(String, String)>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                let head = text.split("\r\n\r\n").next().unwrap_or_default();
                let lines = head
                    .split("\r\n")
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.to_string(), v.trim_matches([' ', '\t']).to_string()))
                    .collect();
                let _ = tx.send(lines);
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, rx)
}

fn config_json(v: &HeaderVector, upstream: SocketAddr, keep_access: bool) -> String {
    let mut doc: Value = match &v.config {
        ConfigRef::File(name) => serde_json::from_str(
            &std::fs::read_to_string(testdata().join("configs").join(name)).expect("config file"),
        )
        .expect("config JSON"),
        ConfigRef::Inline(value) => value.clone(),
    };
    let obj = doc.as_object_mut().expect("config object");
    obj.remove("admin");
    if !keep_access {
        obj.remove("access");
    }
    obj.insert(
        "listeners".into(),
        serde_json::json!([{
            "name": "edge", "address": "127.0.0.1:0", "protocol": "http",
            "proxy_protocol": { "default": "require" },
            "upstream": upstream.to_string(),
            "decision_header": DECISION,
        }]),
    );
    doc.to_string()
}

struct Reply {
    status: u16,
    body: String,
    upstream: Option<Vec<(String, String)>>,
}

async fn send(
    v: &HeaderVector,
    config: &str,
    captured: &mut mpsc::UnboundedReceiver<Vec<(String, String)>>,
) -> Reply {
    let srv = start(config).await;
    let dst: SocketAddr = if v.peer.is_ipv4() {
        "192.0.2.1:80"
    } else {
        "[2001:db8::1]:80"
    }
    .parse()
    .expect("dst");
    let mut bytes = v2(0x1, Some((v.peer, dst)), &[]);
    bytes.extend_from_slice(b"GET /vector HTTP/1.1\r\n");
    if !v
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        bytes.extend_from_slice(b"Host: vectors.test\r\n");
    }
    for (n, val) in &v.headers {
        bytes.extend_from_slice(format!("{n}: {val}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut s = connect(srv.addr("edge")).await;
    s.write_all(&bytes).await.expect("write");
    let (status, body) = parse_response(&read_all(&mut s).await);
    let upstream = if status == 200 && body.is_empty() {
        Some(
            tokio::time::timeout(DEADLINE, captured.recv())
                .await
                .expect("upstream in time")
                .expect("capture"),
        )
    } else {
        None
    };
    srv.shutdown().await;
    Reply {
        status,
        body,
        upstream,
    }
}

/// Whether the request can be written as HTTP/1.1 at all (RFC 9110 field values: no CTLs but HTAB).
fn valid_http(v: &HeaderVector) -> bool {
    v.headers.iter().all(|(_, value)| {
        value
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
    })
}

fn decision_of(lines: &[(String, String)]) -> ExpectedDecision {
    let value = lines
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(DECISION))
        .map(|(_, v)| v.as_str())
        .expect("decision header");
    let field = |k: &str| {
        value
            .split("; ")
            .find_map(|kv| kv.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{k} in {value}"))
            .to_string()
    };
    let opt = |s: String| (s != "-").then_some(s);
    ExpectedDecision {
        client: field("client").parse().expect("client ip"),
        port: opt(field("port")).map(|p| p.parse().expect("port")),
        source: field("source"),
        hop: field("hop").parse().expect("hop"),
        internal: field("internal") == "true",
        spoof: opt(field("spoof"))
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        fallback: opt(field("fallback")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_vectors_over_sockets() {
    let files = vectors::load_dir(&testdata().join("vectors/headers")).expect("vectors load");
    let (up, mut captured) = capturing_upstream().await;
    let (mut count, mut sidecar_only, mut not_http) = (0, 0, 0);
    let mut failures = Vec::new();
    for (path, file) in &files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for v in &file.vectors {
            if v.peer_identity.is_some() {
                sidecar_only += 1;
                continue;
            }
            count += 1;
            let reply = send(v, &config_json(v, up, true), &mut captured).await;
            if !valid_http(v) {
                // Control bytes in a field: the HTTP parser refuses the request before any decision.
                not_http += 1;
                assert_eq!(
                    (reply.status, reply.upstream.is_none()),
                    (400, true),
                    "{stem}/{}",
                    v.name
                );
                continue;
            }
            let observed = if let Some(mut lines) = reply.upstream {
                let outcome = Ok(decision_of(&lines));
                lines.retain(|(n, _)| !n.eq_ignore_ascii_case(DECISION));
                Observed {
                    outcome,
                    access: Some(ExpectedAccess::Allow),
                    upstream: Some(lines),
                }
            } else if let Some(rest) = reply.body.strip_prefix("trueip: request rejected: ") {
                let kind = rest.split(':').next().unwrap_or_default().to_string();
                Observed {
                    outcome: Err(ExpectedReject {
                        kind,
                        status: reply.status,
                    }),
                    access: None,
                    upstream: None,
                }
            } else {
                // Denied: replay without access lists to see the decision.
                let again = send(v, &config_json(v, up, false), &mut captured).await;
                let lines = again.upstream.unwrap_or_else(|| {
                    panic!("{stem}/{}: {} {}", v.name, again.status, again.body)
                });
                Observed {
                    outcome: Ok(decision_of(&lines)),
                    access: Some(ExpectedAccess::Deny {
                        status: reply.status,
                    }),
                    upstream: None,
                }
            };
            for m in vectors::compare(&v.headers, &v.expect, &observed) {
                failures.push(format!("{stem}/{}: {m}", v.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} vectors disagree over sockets:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        not_http <= 5,
        "{not_http} vectors are not valid HTTP/1.1; the replay would lose its point"
    );
    assert!(
        count >= 100,
        "only {count} header vectors replayed ({sidecar_only} sidecar-only)"
    );
}
