//! Connecting to upstreams: one `connect` function for every protocol, a pooled HTTP client on
//! top of it, and the PROXY header sent upstream.
//!
//! A transparent-proxy build extends [`connect`] (bind to the client's address with
//! `IP_TRANSPARENT` before connecting); everything else goes through it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use trueip::config::listener::{AddTlv, SendVersion, Upstream};
use trueip::proxy_protocol::{Addresses, EncodeError, Tlvs, Transport, V2Builder, encode_v1};

use crate::proxy_header::Proxied;

/// Request bodies sent upstream: the client's body, streamed.
pub type UpstreamBody = Incoming;

/// Opens a TCP connection to `addr` within `timeout`.
///
/// # Errors
/// The OS error, or `TimedOut` when the timeout passes first.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(s) => s?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {addr} timed out after {timeout:?}"),
            ));
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The endpoints written in an upstream PROXY header.
#[derive(Clone, Debug)]
pub struct ProxyEndpoints {
    /// The client, as decided.
    pub source: SocketAddr,
    /// The address the client connected to.
    pub destination: SocketAddr,
    /// The downstream header's TLVs, when the connection arrived with one.
    pub downstream: Option<Proxied>,
}

/// Builds the PROXY header `upstream` asks for, or `None` when it asks for none.
///
/// # Errors
/// The encoder refused the header (e.g. TLVs too large).
pub fn upstream_header(
    upstream: &Upstream,
    ends: &ProxyEndpoints,
) -> Result<Option<Vec<u8>>, EncodeError> {
    let send = &upstream.proxy_protocol;
    let (source, destination) = same_family(ends.source, ends.destination);
    let addresses = Addresses::Inet {
        source,
        destination,
    };
    match send.version {
        SendVersion::None => Ok(None),
        SendVersion::V1 => encode_v1(&addresses).map(Some),
        SendVersion::V2 => {
            let mut b = V2Builder::proxy(Transport::Stream, addresses);
            if let Some(down) = &ends.downstream {
                let passed = Tlvs::new(&down.tlvs).map_while(Result::ok);
                b = b.tlvs(passed.filter(|t| send.pass_tlvs.iter().any(|p| p.0 == t.tlv_type())));
            }
            // Added TLVs were checked to decode when the config loaded; reuse the decoder to type them.
            let added = add_tlv_block(&send.add_tlvs);
            b = b.tlvs(Tlvs::new(&added).map_while(Result::ok));
            b.encode().map(Some)
        }
    }
}

fn add_tlv_block(add: &[AddTlv]) -> Vec<u8> {
    let mut block = Vec::new();
    for a in add {
        let Ok(len) = u16::try_from(a.value.len()) else {
            continue;
        };
        block.push(a.tlv.0);
        block.extend_from_slice(&len.to_be_bytes());
        block.extend_from_slice(a.value.as_bytes());
    }
    block
}

/// PROXY headers carry one address family; when the client is IPv4 and the listener IPv6 (or
/// the other way round), IPv4 addresses are written IPv4-mapped so both are IPv6.
fn same_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    let map = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        v6 => v6,
    };
    match (source, destination) {
        (SocketAddr::V4(_), SocketAddr::V6(_)) => (map(source), destination),
        (SocketAddr::V6(_), SocketAddr::V4(_)) => (source, map(destination)),
        _ => (source, destination),
    }
}

/// Connects and writes the PROXY header (if any) before anything else.
///
/// # Errors
/// Connect or write failures.
pub async fn connect_with_header(
    upstream: &Upstream,
    header: Option<&[u8]>,
) -> io::Result<TcpStream> {
    let mut stream = connect(upstream.address, upstream.connect_timeout).await?;
    if let Some(h) = header {
        stream.write_all(h).await?;
    }
    Ok(stream)
}

/// The pooled keep-alive HTTP/1.1 client of one `http` listener.
#[derive(Clone, Debug)]
pub struct HttpUpstream {
    /// The connection pool.
    pub client: Client<Connector, UpstreamBody>,
}

impl HttpUpstream {
    /// A pool for `upstream`. Connections carrying a PROXY header are not pooled here: each
    /// names one client, see `http_proxy`.
    pub fn new(upstream: &Upstream) -> HttpUpstream {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(Connector {
                addr: upstream.address,
                timeout: upstream.connect_timeout,
            });
        HttpUpstream { client }
    }
}

/// A `hyper-util` connector that always dials the configured upstream through [`connect`].
#[derive(Clone, Debug)]
pub struct Connector {
    addr: SocketAddr,
    timeout: Duration,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let (addr, timeout) = (self.addr, self.timeout);
        Box::pin(async move { connect(addr, timeout).await.map(TokioIo::new) })
    }
}

/// A boxed response body, so generated and proxied responses share one type.
pub type Body = BoxBody<Bytes, hyper::Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_families_are_written_as_ipv6() {
        let (s, d) = same_family(
            "203.0.113.7:1000".parse().expect("addr"),
            "[::1]:80".parse().expect("addr"),
        );
        assert_eq!(
            s,
            "[::ffff:203.0.113.7]:1000"
                .parse::<SocketAddr>()
                .expect("addr")
        );
        assert_eq!(d, "[::1]:80".parse::<SocketAddr>().expect("addr"));
    }
}
