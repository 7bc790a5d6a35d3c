//! A panic while handling one request closes only that connection: the process keeps serving
//! the other clients (already connected and new), counts the panic and logs it. The panic comes
//! from the test-only `fault-injection` hook (a request header), which release builds do not have.
#![allow(clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use trueip_proxy::fault::PANIC_HEADER;

fn edge(echo: std::net::SocketAddr) -> String {
    format!(
        r#"{{ "trust": {{ "proxies": ["loopback"] }},
             "listeners": [{{ "name": "edge", "address": "127.0.0.1:0", "protocol": "http", "upstream": "{echo}" }}] }}"#
    )
}

/// One keep-alive GET on `stream`; returns the status line's code.
async fn keep_alive_get(stream: &mut tokio::net::TcpStream) -> u16 {
    stream
        .write_all(b"GET /ip HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 8192];
    let mut got = Vec::new();
    // The echo answer is small and carries content-length; read until the body is complete.
    loop {
        let n = tokio::time::timeout(DEADLINE, tokio::io::AsyncReadExt::read(stream, &mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("content-length");
            if body.len() >= len {
                return parse_response(&got).0;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_request_closes_only_its_connection() {
    let (echo, srv) = start_chain(edge).await;
    let addr = srv.addr("edge");
    // A client that stays connected across the panic.
    let mut bystander = connect(addr).await;
    assert_eq!(keep_alive_get(&mut bystander).await, 200);

    let mut victim = connect(addr).await;
    victim
        .write_all(format!("GET / HTTP/1.1\r\nHost: test\r\n{PANIC_HEADER}: 1\r\n\r\n").as_bytes())
        .await
        .expect("write");
    assert!(
        closed_without_answer(&mut victim).await,
        "the panicking connection is closed without a response"
    );
    srv.wait_metric(r#"trueip_connection_panics_total{listener="edge"}"#, 1.0)
        .await;

    // The connected client and a new one are both served by the same process.
    assert_eq!(keep_alive_get(&mut bystander).await, 200);
    assert_eq!(get(addr, b"", &[]).await.0, 200);
    assert_eq!(
        srv.metric(r#"trueip_connection_panics_total{listener="edge"}"#),
        1.0
    );
    srv.shutdown().await;
    echo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_h2_request_resets_only_its_stream() {
    let (echo, srv) = start_chain(edge).await;
    let addr = srv.addr("edge");
    let (mut send, _conn) = h2_client(connect(addr).await).await;
    let request = |panic: bool| {
        let mut b = http::Request::builder().uri(format!("http://{addr}/ip"));
        if panic {
            b = b.header(PANIC_HEADER, "1");
        }
        b.body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request")
    };
    let failed = tokio::time::timeout(DEADLINE, send.send_request(request(true)))
        .await
        .expect("an answer or a reset in time");
    assert!(failed.is_err(), "the panicking stream is reset: {failed:?}");
    srv.wait_metric(r#"trueip_connection_panics_total{listener="edge"}"#, 1.0)
        .await;
    // The same h2 connection serves its next stream.
    send.ready().await.expect("connection still open");
    let ok = tokio::time::timeout(DEADLINE, send.send_request(request(false)))
        .await
        .expect("answer in time")
        .expect("response");
    assert_eq!(ok.status(), 200);
    srv.shutdown().await;
    echo.shutdown().await;
}

/// Through the binary: the panic is logged with the listener's name and the process keeps serving.
#[test]
fn the_binary_logs_the_panic_and_keeps_serving() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("trueip-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("proxy.json");
    std::fs::write(
        &config,
        r#"{ "trust": { "proxies": ["loopback"] },
             "listeners": [{ "name": "edge", "address": "127.0.0.1:0", "protocol": "echo" }] }"#,
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trueip"))
        .args(["run", "--workers", "1", "--log-format", "json", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trueip");
    // stderr is read on a helper thread so every wait below has a deadline.
    let stderr = child.stderr.take().expect("stderr");
    let _child = KillOnDrop(child);
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line_with = |needle: &str| -> String {
        loop {
            match lines.recv_timeout(DEADLINE) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    };
    let listening: serde_json::Value =
        serde_json::from_str(&next_line_with("\"listening\"")).expect("json log");
    let addr: std::net::SocketAddr = listening["fields"]["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("socket address");
    let ask = |extra: &str| {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        write!(
            s,
            "GET /ip HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n"
        )
        .expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(ask("").starts_with("HTTP/1.1 200"));
    assert_eq!(
        ask(&format!("{PANIC_HEADER}: 1\r\n")),
        "",
        "no answer on the panicking connection"
    );
    // The panic's log line names the listener; then the process still answers.
    let logged = next_line_with("a connection task panicked");
    assert!(logged.contains(r#""listener":"edge""#), "{logged}");
    assert!(ask("").starts_with("HTTP/1.1 200"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops the child process however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
