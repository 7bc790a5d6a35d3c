//! Reading the PROXY header off a fresh connection, under the listener's policy.
//!
//! The read is bounded in time (`header_timeout`) and size (`max_header_bytes`), so a slow or
//! hostile sender only ever holds its own connection. Whatever was read past the header is
//! returned for replay to the protocol layer.

use std::io;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use trueip::config::listener::{ProxyMode, ProxyPolicy};
use trueip::proxy_protocol::{
    self, Addresses, Command, DecodeError, V1_PREFIX, V2_SIGNATURE, Version,
};

/// What the PROXY stage decided about a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// No PROXY header: the socket peer is the client side.
    Plain,
    /// A header that asks to use the real connection endpoints: v2 `LOCAL` (health checks),
    /// v1 `UNKNOWN`, v2 `AF_UNSPEC` or `AF_UNIX`.
    Local {
        /// The header's version.
        version: Version,
        /// `local`, `unknown` or `unix`, for metrics and logs.
        command: &'static str,
    },
    /// A relayed connection: the header names the client.
    Proxied(Proxied),
}

/// The endpoints and TLVs of a `PROXY` command header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxied {
    /// The header's version.
    pub version: Version,
    /// The client the load balancer saw.
    pub source: SocketAddr,
    /// The address the client connected to.
    pub destination: SocketAddr,
    /// The raw v2 TLV block (framing validated by the decoder); empty for v1.
    pub tlvs: Bytes,
}

impl Arrival {
    /// The `version` metric label.
    pub fn version_label(&self) -> &'static str {
        match self {
            Arrival::Plain => "none",
            Arrival::Local { version, .. } => version_label(*version),
            Arrival::Proxied(p) => version_label(p.version),
        }
    }

    /// The `command` metric label.
    pub fn command_label(&self) -> &'static str {
        match self {
            Arrival::Plain => "none",
            Arrival::Local { command, .. } => command,
            Arrival::Proxied(_) => "proxy",
        }
    }

    /// The address the client-IP decision starts from: the PROXY source, else the socket peer.
    pub fn effective_peer(&self, socket_peer: SocketAddr) -> SocketAddr {
        match self {
            Arrival::Proxied(p) => p.source,
            Arrival::Plain | Arrival::Local { .. } => socket_peer,
        }
    }
}

/// The `v1` / `v2` label of a version.
pub fn version_label(v: Version) -> &'static str {
    match v {
        Version::V1 => "v1",
        Version::V2 => "v2",
    }
}

/// A connection that passed the PROXY stage.
#[derive(Debug)]
pub struct Accepted {
    /// What the header said, if there was one.
    pub arrival: Arrival,
    /// Bytes read past the header; the protocol layer must see them first.
    pub replay: Bytes,
}

/// Whether the protocol behind the header has the client speak first (HTTP does; SMTP does not).
///
/// Only then may the reader wait for the first application bytes, which it does to catch a
/// second, stacked header (and a header sent to a `forbid` listener).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstSpeaker {
    /// The client speaks first: wait for enough bytes to rule out a PROXY signature.
    Client,
    /// The server may speak first: only bytes already read are checked.
    Server,
}

/// Why a connection was closed in the PROXY stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The header was not complete within the header timeout.
    #[error("no complete PROXY header within {0:?}")]
    Timeout(std::time::Duration),
    /// The peer closed before sending anything (a TCP health check, a port scan).
    #[error("connection closed before any byte was sent")]
    Empty,
    /// The peer closed in the middle of the header.
    #[error("connection closed after {read} bytes of an incomplete PROXY header")]
    Truncated {
        /// Bytes received.
        read: usize,
    },
    /// A `require` listener got bytes that are not a PROXY header.
    #[error("PROXY header required from {peer}: {source}")]
    Missing {
        /// The socket peer.
        peer: SocketAddr,
        /// What the decoder saw instead.
        source: DecodeError,
    },
    /// The header is malformed.
    #[error("malformed PROXY header: {0}")]
    Malformed(DecodeError),
    /// A `forbid` listener got a PROXY header.
    #[error("PROXY header not allowed from {peer}")]
    Forbidden {
        /// The socket peer.
        peer: SocketAddr,
    },
    /// The header's version is not in `versions`.
    #[error("PROXY {version} not allowed on this listener")]
    VersionNotAllowed {
        /// `v1` or `v2`.
        version: &'static str,
    },
    /// The header is larger than `max_header_bytes`.
    #[error("PROXY header larger than {cap} bytes")]
    TooLarge {
        /// The configured cap.
        cap: usize,
    },
    /// A second PROXY header follows the first.
    #[error(
        "a second PROXY header follows the first (a client behind the sender forging its address)"
    )]
    Stacked,
    /// Reading the socket failed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

impl ProxyError {
    /// A stable snake_case label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ProxyError::Timeout(_) => "timeout",
            ProxyError::Empty => "empty",
            ProxyError::Truncated { .. } => "truncated",
            ProxyError::Missing { .. } => "missing",
            ProxyError::Malformed(e) => e.kind(),
            ProxyError::Forbidden { .. } => "forbidden",
            ProxyError::VersionNotAllowed { .. } => "version_not_allowed",
            ProxyError::TooLarge { .. } => "too_large",
            ProxyError::Stacked => "stacked",
            ProxyError::Io(_) => "io",
        }
    }
}

/// Reads and checks the PROXY header of a connection from `peer` under `policy`.
///
/// # Errors
/// Any [`ProxyError`]; the caller closes the connection and records [`ProxyError::kind`].
pub async fn read_proxy_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    policy: &ProxyPolicy,
    first: FirstSpeaker,
) -> Result<Accepted, ProxyError> {
    let mode = policy.mode_for(peer.ip());
    if mode == ProxyMode::Forbid && first == FirstSpeaker::Server {
        // Nothing may be read before the server speaks, so there is nothing to check.
        return Ok(Accepted {
            arrival: Arrival::Plain,
            replay: Bytes::new(),
        });
    }
    // One deadline for the whole stage. Only the header itself must arrive within it: the waits
    // for application bytes (the stacked-header and `forbid` checks) give up quietly, because an
    // idle keep-alive client is not an attacker, and a PROXY header sent later reaches the
    // protocol parser, which refuses it.
    let deadline = tokio::time::Instant::now() + policy.header_timeout;
    let mut r = Reader {
        stream,
        buf: BytesMut::new(),
        cap: policy.max_header_bytes,
    };
    if mode == ProxyMode::Forbid {
        if let Ok(read) = tokio::time::timeout_at(deadline, r.fill_until_decided(0)).await {
            read?;
        }
        if proxy_protocol::starts_with_proxy_header(&r.buf) {
            return Err(ProxyError::Forbidden { peer });
        }
        return Ok(Accepted {
            arrival: Arrival::Plain,
            replay: compact(&r.buf),
        });
    }
    let decoded = tokio::time::timeout_at(deadline, decode_header(&mut r, peer, mode)).await;
    let (arrival, consumed) = match decoded {
        Ok(Ok(Some(found))) => found,
        // `optional` and no PROXY signature: a plain connection, replayed whole.
        Ok(Ok(None)) => {
            return Ok(Accepted {
                arrival: Arrival::Plain,
                replay: compact(&r.buf),
            });
        }
        Ok(Err(e)) => return Err(e),
        // An `optional` peer that has sent nothing yet is an idle plain client.
        Err(_elapsed) if mode == ProxyMode::Optional && r.buf.is_empty() => {
            return Ok(Accepted {
                arrival: Arrival::Plain,
                replay: Bytes::new(),
            });
        }
        Err(_elapsed) => return Err(ProxyError::Timeout(policy.header_timeout)),
    };
    let version = match &arrival {
        Arrival::Proxied(p) => p.version,
        Arrival::Local { version, .. } => *version,
        Arrival::Plain => Version::V1, // not produced by arrival_of
    };
    let allowed = match version {
        Version::V1 => policy.versions.v1,
        Version::V2 => policy.versions.v2,
    };
    if !allowed {
        return Err(ProxyError::VersionNotAllowed {
            version: version_label(version),
        });
    }
    if first == FirstSpeaker::Client {
        if let Ok(read) = tokio::time::timeout_at(deadline, r.fill_until_decided(consumed)).await {
            read?;
        }
    }
    let rest = r.buf.get(consumed..).unwrap_or_default();
    if proxy_protocol::starts_with_proxy_header(rest) {
        return Err(ProxyError::Stacked);
    }
    Ok(Accepted {
        arrival,
        replay: compact(rest),
    })
}

/// Copies what must be replayed into its own small buffer, so the read buffer (up to
/// `max_header_bytes`) is freed instead of living as long as the connection.
fn compact(rest: &[u8]) -> Bytes {
    if rest.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(rest)
    }
}

/// Reads until a complete header: `Some((arrival, consumed))`, or `None` when an `optional`
/// peer's bytes are not a PROXY header.
async fn decode_header<S: AsyncRead + Unpin>(
    r: &mut Reader<'_, S>,
    peer: SocketAddr,
    mode: ProxyMode,
) -> Result<Option<(Arrival, usize)>, ProxyError> {
    loop {
        match proxy_protocol::decode(&r.buf) {
            Ok(decoded) => {
                if decoded.consumed > r.cap {
                    return Err(ProxyError::TooLarge { cap: r.cap });
                }
                return Ok(Some((arrival_of(&decoded.header), decoded.consumed)));
            }
            Err(DecodeError::Incomplete { needed }) => {
                // A v2 length field announcing more than the cap is refused before reading it.
                if r.buf.len().saturating_add(needed) > r.cap {
                    return Err(ProxyError::TooLarge { cap: r.cap });
                }
                if !r.read_more().await? {
                    return Err(match r.buf.len() {
                        0 => ProxyError::Empty,
                        read => ProxyError::Truncated { read },
                    });
                }
            }
            Err(e @ DecodeError::NotProxy { .. }) => {
                if mode == ProxyMode::Optional {
                    return Ok(None);
                }
                return Err(ProxyError::Missing { peer, source: e });
            }
            Err(e) => return Err(ProxyError::Malformed(e)),
        }
    }
}

fn arrival_of(h: &proxy_protocol::Header<'_>) -> Arrival {
    let version = h.version();
    if h.command() == Command::Local {
        return Arrival::Local {
            version,
            command: "local",
        };
    }
    match h.addresses() {
        Addresses::Inet {
            source,
            destination,
        } => Arrival::Proxied(Proxied {
            version,
            source,
            destination,
            tlvs: Bytes::copy_from_slice(h.raw_tlvs()),
        }),
        Addresses::Unix { .. } => Arrival::Local {
            version,
            command: "unix",
        },
        Addresses::Unspecified => Arrival::Local {
            version,
            command: "unknown",
        },
    }
}

/// Whether `bytes` could still grow into a PROXY signature (v1 text prefix or v2 binary one).
fn could_be_signature(bytes: &[u8]) -> bool {
    let prefix_of = |sig: &[u8]| sig.starts_with(bytes) && bytes.len() < sig.len();
    prefix_of(V1_PREFIX) || prefix_of(&V2_SIGNATURE)
}

struct Reader<'s, S> {
    stream: &'s mut S,
    buf: BytesMut,
    cap: usize,
}

impl<S: AsyncRead + Unpin> Reader<'_, S> {
    /// Reads once; `false` on EOF.
    async fn read_more(&mut self) -> io::Result<bool> {
        // Read in modest chunks: the header is small, and what comes after is replayed anyway.
        let want = self.cap.saturating_sub(self.buf.len()).clamp(64, 4096);
        self.buf.reserve(want);
        let n = self.stream.read_buf(&mut self.buf).await?;
        Ok(n > 0)
    }

    /// Reads until the bytes after `from` can no longer be the start of a PROXY signature, or EOF.
    async fn fill_until_decided(&mut self, from: usize) -> io::Result<()> {
        while could_be_signature(self.buf.get(from..).unwrap_or_default()) {
            if !self.read_more().await? {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_prefixes() {
        assert!(could_be_signature(b""));
        assert!(could_be_signature(b"PRO"));
        assert!(could_be_signature(b"\r\n\r\n\0"));
        assert!(!could_be_signature(b"PROXY "));
        assert!(!could_be_signature(b"GET / HTTP/1.1"));
        assert!(!could_be_signature(b"PRI * HTTP/2.0"));
    }
}
