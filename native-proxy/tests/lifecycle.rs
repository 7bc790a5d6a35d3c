//! Reload, graceful drain and the drain deadline, through the library and through the binary's
//! signal handling.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn edge(echo: SocketAddr, access: &str) -> String {
    format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }}, "access": {access},
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http", "upstream": {{ "address": "{echo}" }} }}],
             "admin": {{ "address": "127.0.0.1:0" }} }}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_new_rules_and_refuses_bad_ones() {
    let (echo, srv) = start_chain(|e| edge(e, "{}")).await;
    let addr = srv.addr("edge");
    assert_eq!(get(addr, b"", &[]).await.0, 200);
    let deny = trueip::Config::from_json(&edge(echo.addr("echo"), r#"{ "deny": ["loopback"] }"#))
        .expect("config");
    srv.reload.reload(deny).await.expect("reload applies");
    assert_eq!(get(addr, b"", &[]).await.0, 403);
    // Two listeners with one name: refused, the deny rule keeps serving.
    let dup = r#"{ "listeners": [{ "name": "edge", "address": "127.0.0.1:0", "protocol": "echo" },
                                  { "name": "edge", "address": "127.0.0.1:0", "protocol": "echo" }],
                   "admin": { "address": "127.0.0.1:0" } }"#;
    let err = srv
        .reload
        .reload(trueip::Config::from_json(dup).expect("parses"))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("duplicate listener name"), "{err}");
    assert_eq!(get(addr, b"", &[]).await.0, 403);
    assert_eq!(
        srv.metric(r#"trueip_config_reloads_total{listener="-",kind="applied"}"#),
        1.0
    );
    assert_eq!(
        srv.metric(r#"trueip_config_reloads_total{listener="-",kind="refused"}"#),
        1.0
    );
    srv.shutdown().await;
    echo.shutdown().await;
}

/// An upstream that answers each request only when told to.
async fn gated_upstream() -> (
    SocketAddr,
    tokio::sync::mpsc::Receiver<()>,
    tokio::sync::mpsc::Sender<()>,
) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let (got_tx, got_rx) = tokio::sync::mpsc::channel(4);
    let (go_tx, mut go_rx) = tokio::sync::mpsc::channel::<()>(4);
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = got_tx.send(()).await;
        if go_rx.recv().await.is_some() {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone")
                .await;
        }
        let _ = s.read(&mut buf).await;
    });
    (addr, got_rx, go_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let (up, mut got, go) = gated_upstream().await;
    let srv = start(&edge(up, "{}")).await;
    let addr = srv.addr("edge");
    let client = tokio::spawn(async move { get(addr, b"", &[]).await });
    got.recv().await.expect("request reached the upstream");
    let shared = srv.shared.clone();
    let stopping = tokio::spawn(srv.shutdown());
    // Readiness drops as soon as the drain starts, while the request is still in flight.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while shared.ready.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // New connections are no longer accepted.
    let refused = tokio::time::timeout(DEADLINE, async {
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    refused.await.expect("listener closed");
    go.send(()).await.expect("release the upstream");
    let (status, body) = client.await.expect("client");
    assert_eq!((status, body.as_str()), (200, "done"));
    stopping.await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_deadline_closes_what_is_left() {
    let (up, mut got, _go) = gated_upstream().await;
    let srv = start_with_grace(&edge(up, "{}"), Duration::from_millis(200)).await;
    let addr = srv.addr("edge");
    let client = tokio::spawn(async move { get(addr, b"", &[]).await });
    got.recv().await.expect("request reached the upstream");
    // The upstream never answers; shutdown still completes and the client is disconnected.
    srv.shutdown().await;
    let (status, _) = client.await.expect("client");
    assert_eq!(status, 0);
}

/// Runs the real binary: SIGHUP reloads the file (a bad file is refused), SIGTERM exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_on_sighup_and_exits_on_sigterm() {
    let echo = start(
        r#"{ "listeners": [{ "name": "echo", "address": "127.0.0.1:0", "protocol": "echo" }] }"#,
    )
    .await;
    let dir = std::env::temp_dir().join(format!("trueip-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let cfg = dir.join("proxy.json");
    std::fs::write(&cfg, edge(echo.addr("echo"), "{}")).expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trueip"))
        .args(["run", "--workers", "1", "--log-format", "json", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trueip");
    let pid = child.id().to_string();
    let stderr = child.stderr.take().expect("stderr");
    // Killed if an assertion below fails; after a clean SIGTERM exit it has nothing to do.
    let mut child = KillOnDrop(Some(child));
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut edge_addr: Option<SocketAddr> = None;
    while edge_addr.is_none() {
        let line = tokio::time::timeout(DEADLINE, lines.recv())
            .await
            .expect("log line in time")
            .expect("running");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["fields"]["listener"] == "edge" {
            edge_addr = v["fields"]["address"].as_str().and_then(|a| a.parse().ok());
        }
    }
    let addr = edge_addr.expect("edge address");
    assert_eq!(get(addr, b"", &[]).await.0, 200);
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig}");
    };
    std::fs::write(&cfg, edge(echo.addr("echo"), r#"{ "deny": ["loopback"] }"#))
        .expect("write config");
    signal("-HUP");
    wait_for_log(&mut lines, "configuration reloaded").await;
    assert_eq!(get(addr, b"", &[]).await.0, 403);
    std::fs::write(&cfg, "{ not json").expect("write config");
    signal("-HUP");
    wait_for_log(&mut lines, "reload refused").await;
    assert_eq!(get(addr, b"", &[]).await.0, 403);
    signal("-TERM");
    let mut exited = child.0.take().expect("child");
    let status = tokio::task::spawn_blocking(move || exited.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
    echo.shutdown().await;
}

async fn wait_for_log(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>, needle: &str) {
    loop {
        let line = tokio::time::timeout(DEADLINE, lines.recv())
            .await
            .expect("log line in time")
            .expect("running");
        if line.contains(needle) {
            return;
        }
    }
}

struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
