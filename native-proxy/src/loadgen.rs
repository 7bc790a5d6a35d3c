//! A small closed-loop HTTP/1.1 load generator that can start each connection with a PROXY v2
//! header (wrk and friends cannot), for `scripts/bench-proxy.sh`.
//!
//! Every run is bounded twice: by wall time and by a total request budget. Each connection
//! sends one request, waits for the whole response, records the latency and repeats
//! (keep-alive); a failed connection is counted and replaced.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trueip::proxy_protocol::{Addresses, Transport, V2Builder};

/// The longest run the generator accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(300);

/// What to send, where, for how long.
#[derive(Clone, Debug)]
pub struct Load {
    /// The server under test.
    pub target: SocketAddr,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Wall-time bound (capped at [`MAX_DURATION`]).
    pub duration: Duration,
    /// Total request bound across all connections.
    pub max_requests: u64,
    /// Start every connection with a PROXY v2 header whose source varies per connection.
    pub proxy_v2: bool,
    /// The request path.
    pub path: String,
    /// Extra request header lines.
    pub headers: Vec<(String, String)>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Completed requests (any status).
    pub requests: u64,
    /// Responses whose status was not 2xx.
    pub non_2xx: u64,
    /// Connection or protocol errors.
    pub errors: u64,
    /// Measured wall time, seconds.
    pub seconds: f64,
    /// Requests per second.
    pub rps: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: u32,
    /// 90th percentile.
    pub p90_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// Maximum.
    pub max_us: u32,
}

/// Runs `load` and reports throughput and latency.
pub async fn run(load: &Load) -> Report {
    let duration = load.duration.min(MAX_DURATION);
    let started = Instant::now();
    let deadline = started + duration;
    let issued = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..load.connections {
        let (load, issued) = (load.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            connection(&load, i, deadline, &issued).await
        }));
    }
    let mut all = Vec::new();
    let (mut non_2xx, mut errors) = (0, 0);
    for t in tasks {
        if let Ok(stats) = t.await {
            all.extend(stats.latencies_us);
            non_2xx += stats.non_2xx;
            errors += stats.errors;
        } else {
            errors += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        let idx = ((all.len() as f64 - 1.0) * p).round() as usize;
        all.get(idx).copied().unwrap_or(0)
    };
    Report {
        requests: all.len() as u64,
        non_2xx,
        errors,
        seconds,
        rps: all.len() as f64 / seconds.max(f64::EPSILON),
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        max_us: all.last().copied().unwrap_or(0),
    }
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    non_2xx: u64,
    errors: u64,
}

async fn connection(load: &Load, index: usize, deadline: Instant, issued: &AtomicU64) -> Stats {
    let mut stats = Stats::default();
    let request = request_bytes(load);
    'reconnect: while Instant::now() < deadline {
        let mut stream = match open(load.target, load.proxy_v2.then_some(index)).await {
            Ok(s) => s,
            Err(_) => {
                stats.errors += 1;
                // Do not spin on a refusing server.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let mut buf = BytesMut::with_capacity(8192);
        while Instant::now() < deadline {
            if issued.fetch_add(1, Ordering::Relaxed) >= load.max_requests {
                return stats;
            }
            let sent = Instant::now();
            let exchange = async {
                stream.write_all(&request).await?;
                read_response(&mut stream, &mut buf).await
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, exchange).await {
                Ok(Ok(status)) => {
                    let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    stats.latencies_us.push(us);
                    if !(200..300).contains(&status) {
                        stats.non_2xx += 1;
                    }
                }
                Ok(Err(_)) => {
                    stats.errors += 1;
                    continue 'reconnect;
                }
                Err(_) => return stats,
            }
        }
    }
    stats
}

/// Connects and, for `proxy_v2 = Some(i)`, sends a v2 header with source `198.18.x.y` (the
/// benchmarking range) unique to connection `i`.
pub async fn open(target: SocketAddr, proxy_v2: Option<usize>) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(target).await?;
    s.set_nodelay(true)?;
    if let Some(i) = proxy_v2 {
        let [_, _, hi, lo] = u32::try_from(i % 65536).unwrap_or(0).to_be_bytes();
        let source = SocketAddr::from(([198, 18, hi, lo], 40000));
        let destination = match target {
            SocketAddr::V4(_) => target,
            SocketAddr::V6(v6) => SocketAddr::from(([192, 0, 2, 1], v6.port())),
        };
        let header = V2Builder::proxy(
            Transport::Stream,
            Addresses::Inet {
                source,
                destination,
            },
        )
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        s.write_all(&header).await?;
    }
    Ok(s)
}

fn request_bytes(load: &Load) -> Vec<u8> {
    let mut r = format!("GET {} HTTP/1.1\r\nHost: bench\r\n", load.path);
    for (n, v) in &load.headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// Reads one response (Content-Length or chunked framing) and returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut BytesMut) -> io::Result<u16> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf).await?;
    };
    let head =
        String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).to_ascii_lowercase();
    let status = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| bad("bad content-length"))
        })
        .transpose()?;
    buf.advance(head_end);
    match length {
        Some(n) => {
            while buf.len() < n {
                fill(s, buf).await?;
            }
            buf.advance(n);
        }
        None if head.contains("transfer-encoding: chunked") => loop {
            // Good enough for benchmark backends: small bodies ending in the zero chunk.
            if let Some(i) = find(buf, b"0\r\n\r\n") {
                buf.advance(i + 5);
                break;
            }
            fill(s, buf).await?;
        },
        None => {}
    }
    Ok(status)
}

async fn fill(s: &mut TcpStream, buf: &mut BytesMut) -> io::Result<()> {
    if buf.len() > 1 << 20 {
        return Err(bad("response larger than 1 MiB"));
    }
    buf.reserve(8192);
    match s.read_buf(buf).await? {
        0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed",
        )),
        _ => Ok(()),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Opens `count` connections (each with a PROXY v2 header when asked) and holds them open for
/// `hold`, for memory-per-idle-connection measurements; `opened` runs once they are all open.
/// Returns how many were open.
pub async fn hold_idle(
    target: SocketAddr,
    count: usize,
    proxy_v2: bool,
    hold: Duration,
    opened: impl FnOnce(usize),
) -> usize {
    let mut open_conns = Vec::with_capacity(count);
    for i in 0..count {
        match open(target, proxy_v2.then_some(i)).await {
            Ok(s) => open_conns.push(s),
            Err(e) => {
                tracing::warn!(error = %e, opened = open_conns.len(), "cannot open more idle connections");
                break;
            }
        }
    }
    let n = open_conns.len();
    opened(n);
    tokio::time::sleep(hold.min(MAX_DURATION)).await;
    drop(open_conns);
    n
}
