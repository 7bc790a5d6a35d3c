//! Reading the PROXY header in front of a connection whose upstream is transparent (the
//! go-mmproxy job: a PROXY header becomes a real source address toward an app that cannot parse
//! PROXY).
//!
//! Bounded like every other read in the proxy: under a timeout and a size cap, and a second,
//! stacked header is refused. Bytes read past the header are returned so the caller replays them
//! upstream.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use trueip::proxy_protocol::{self, DecodeError};

/// What the header said about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadHeader {
    /// The proxied source, or `None` for LOCAL/UNKNOWN headers (health checks: use the peer).
    pub source: Option<SocketAddr>,
    /// Bytes that followed the header; they belong to the application stream.
    pub rest: Vec<u8>,
}

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header did not arrive in time.
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    /// The peer closed before sending a complete header.
    #[error("connection closed after {0} bytes, before a complete PROXY header")]
    Closed(usize),
    /// More than the cap without a complete header.
    #[error("PROXY header larger than {0} bytes")]
    TooLarge(usize),
    /// The header is invalid.
    #[error("invalid PROXY header: {0}")]
    Invalid(DecodeError),
    /// A second header right after the first: a client spoofing through a PROXY-speaking hop.
    #[error("a second PROXY header follows the first")]
    Stacked,
    /// Reading failed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

impl HeaderError {
    /// A stable snake_case label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            HeaderError::Timeout(_) => "timeout",
            HeaderError::Closed(_) => "closed",
            HeaderError::TooLarge(_) => "too_large",
            HeaderError::Invalid(error) => error.kind(),
            HeaderError::Stacked => "stacked_header",
            HeaderError::Io(_) => "io",
        }
    }
}

/// Reads and decodes the PROXY header at the start of `stream`.
pub async fn read(
    stream: &mut TcpStream,
    timeout: Duration,
    max: usize,
) -> Result<ReadHeader, HeaderError> {
    tokio::time::timeout(timeout, read_unbounded_in_time(stream, max))
        .await
        .map_err(|_| HeaderError::Timeout(timeout))?
}

async fn read_unbounded_in_time(
    stream: &mut TcpStream,
    max: usize,
) -> Result<ReadHeader, HeaderError> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        match proxy_protocol::decode(&buf) {
            Ok(decoded) => {
                let rest = buf.get(decoded.consumed..).unwrap_or_default().to_vec();
                if proxy_protocol::starts_with_proxy_header(&rest) {
                    return Err(HeaderError::Stacked);
                }
                return Ok(ReadHeader {
                    source: decoded.header.source(),
                    rest,
                });
            }
            // The length field already tells us when a header cannot fit: refuse it now rather
            // than wait for bytes we would not accept.
            Err(DecodeError::Incomplete { needed }) if buf.len().saturating_add(needed) <= max => {}
            Err(DecodeError::Incomplete { .. }) => return Err(HeaderError::TooLarge(max)),
            Err(error) => return Err(HeaderError::Invalid(error)),
        }
        // Never read past the cap: the header must fit in `max` bytes.
        let room = max.saturating_sub(buf.len()).min(chunk.len());
        let n = stream
            .read(chunk.get_mut(..room).unwrap_or_default())
            .await?;
        if n == 0 {
            return Err(HeaderError::Closed(buf.len()));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair(bytes: &'static [u8]) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut client = TcpStream::connect(addr).await.expect("connect");
            client.write_all(bytes).await.expect("write");
            // Keep the connection open briefly so "closed" is only seen when we mean it.
            let mut sink = [0u8; 1];
            let _ = client.read(&mut sink).await;
        });
        listener.accept().await.expect("accept").0
    }

    const SECOND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn v1_header_gives_the_source_and_replays_the_rest() {
        let mut stream = pair(b"PROXY TCP4 10.200.1.2 10.200.3.1 5555 15002\r\nhello").await;
        let read = read(&mut stream, SECOND, 4096).await.expect("header");
        assert_eq!(read.source, Some("10.200.1.2:5555".parse().expect("addr")));
        // The rest arrives in the same segment here; a short read is also valid, so only a prefix.
        assert!(b"hello".starts_with(&read.rest), "{:?}", read.rest);
    }

    #[tokio::test]
    async fn unknown_gives_no_source() {
        let mut stream = pair(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(
            read(&mut stream, SECOND, 4096)
                .await
                .expect("header")
                .source,
            None
        );
    }

    #[tokio::test]
    async fn garbage_is_invalid_with_the_codec_kind() {
        let mut stream = pair(b"GET / HTTP/1.1\r\n\r\n").await;
        let err = read(&mut stream, SECOND, 4096)
            .await
            .expect_err("not PROXY");
        assert_eq!(err.kind(), "not_proxy");
    }

    #[tokio::test]
    async fn stacked_header_is_refused() {
        let mut stream = pair(b"PROXY UNKNOWN\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n").await;
        let err = read(&mut stream, SECOND, 4096).await.expect_err("stacked");
        assert_eq!(err.kind(), "stacked_header");
    }

    #[tokio::test]
    async fn a_header_that_never_completes_hits_the_cap() {
        let mut stream = pair(b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff").await; // claims 65535 bytes
        let err = read(&mut stream, SECOND, 64).await.expect_err("too large");
        assert_eq!(err.kind(), "too_large");
    }

    #[tokio::test]
    async fn a_silent_peer_times_out() {
        let mut stream = pair(b"PROXY TCP4").await;
        let err = read(&mut stream, Duration::from_millis(50), 4096)
            .await
            .expect_err("timeout");
        assert_eq!(err.to_string(), "no complete PROXY header within 50ms");
    }
}
