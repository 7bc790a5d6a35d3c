//! PROXY protocol v1 (text) and v2 (binary) headers: decode, encode, TLVs.
//!
//! Written from the HAProxy specification ("The PROXY protocol, Versions 1 & 2").
//!
//! # Decoding
//! [`decode`] looks at the first byte to pick v1 or v2 and returns a [`Decoded`]: a borrowed
//! [`Header`] and how many bytes it `consumed`. Bytes after `consumed` belong to the
//! application stream and must be replayed by the I/O layer. Decoding is incremental: while
//! the input is a valid prefix of a header the result is [`DecodeError::Incomplete`]; every
//! other error is terminal. Decoding never panics and never allocates, also on errors.
//!
//! What the decoder enforces, beyond the grammar:
//! - v1: the 107-byte cap, strict CRLF, no leading zeroes in ports, addresses of the family the
//!   protocol field names. `UNKNOWN` lines may carry anything (the spec says to ignore it).
//! - v2: version 2, LOCAL or PROXY, only the family/transport bytes the spec lists, a length
//!   that covers the family's address block, well-formed TLV framing, a matching CRC32C when
//!   one is present (at most one), UNIQUE_ID of at most 128 bytes. Other TLV contents are
//!   interpreted lazily by [`Header::tlvs`]. A LOCAL header's addresses are ignored, but its
//!   length must still cover its family's address block, or where the TLVs start would be a
//!   guess; `AF_INET`/`AF_INET6` with the `UNSPEC` transport is refused for the same reason.
//!
//! [`Header`] is small and `Copy`, and borrows everything from the input: v2 IP endpoints stay
//! in their wire layout and become [`SocketAddr`]s on access ([`Header::source`],
//! [`Header::addresses`]); a v1 `TCP4` line's endpoints are kept parsed in two words, a `TCP6`
//! line's fields are validated when decoding and read again on access; TLVs and UNIX paths are
//! borrowed as they are. Nothing address-sized is copied into the result, so the common v2
//! decode returns a few words.
//!
//! # Encoding
//! [`encode_v1`] and [`V2Builder`] (or [`encode_v2`]) produce headers, computing the CRC32C if
//! asked. They return an [`EncodeError`] rather than emit anything [`decode`] would reject.
//!
//! # Stacked headers
//! A client that can reach a PROXY listener through a proxy may prepend its own header after
//! the real one. [`starts_with_proxy_header`] checks the bytes after `consumed` for that.

mod crc32c;
mod encode;
mod error;
mod tlv;
mod v1;
mod v2;

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub use crc32c::crc32c;
pub use encode::{V2Builder, encode_ssl_sub_tlvs, encode_v1, encode_v2};
pub use error::{DecodeError, EncodeError, Excerpt, TlvError};
pub use tlv::{
    Aws, Azure, ClientFlags, RawTlv, RawTlvs, Ssl, SslTlv, SslTlvs, Tlv, Tlvs, tlv_type,
};
pub use v1::decode_v1;
pub use v2::decode_v2;

/// The longest v1 line a receiver must accept, CRLF included (the spec's worst case).
pub const V1_MAX_LEN: usize = 107;
/// The longest possible v2 header: the 16-byte fixed part plus a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + 65535;
/// The 12-byte signature every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The text every v1 header starts with.
pub const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// A decoded header and how many input bytes it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The header.
    pub header: Header<'a>,
    /// Bytes taken by the header; everything after belongs to the application stream.
    pub consumed: usize,
}

/// A validated PROXY header, borrowing its TLVs (and UNIX paths) from the input.
///
/// Small and cheap to return: v2 IP endpoints are borrowed in their 12- or 36-byte wire layout
/// and turned into [`SocketAddr`]s by the accessors; v1 `TCP6` address fields and UNIX paths
/// are borrowed too (v1 `TCP4` endpoints are held parsed, in two words).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    version: Version,
    command: Command,
    transport: Transport,
    endpoints: Endpoints<'a>,
    tlvs: &'a [u8],
}

impl<'a> Header<'a> {
    /// Which protocol version carried the header.
    #[inline]
    pub fn version(&self) -> Version {
        self.version
    }

    /// LOCAL (use the real connection endpoints) or PROXY (use [`Header::addresses`]).
    /// Always [`Command::Proxy`] for v1.
    #[inline]
    pub fn command(&self) -> Command {
        self.command
    }

    /// The proxied transport. v1 `TCP4`/`TCP6` is [`Transport::Stream`], `UNKNOWN` is
    /// [`Transport::Unspec`].
    #[inline]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The proxied endpoints. [`Addresses::Unspecified`] for v1 `UNKNOWN`, v2 `AF_UNSPEC`
    /// and every v2 LOCAL header: in those cases the receiver uses the real endpoints.
    ///
    /// Returned by value and built on request (UNIX paths are copied here, not when decoding).
    pub fn addresses(&self) -> Addresses {
        match self.endpoints {
            Endpoints::Unspecified => Addresses::Unspecified,
            Endpoints::V1Inet4 { .. }
            | Endpoints::V1Text(_)
            | Endpoints::Wire4(_)
            | Endpoints::Wire6(_) => {
                let (source, destination) =
                    self.endpoints.inet().unwrap_or((UNSPECIFIED, UNSPECIFIED));
                Addresses::Inet {
                    source,
                    destination,
                }
            }
            Endpoints::Unix(paths) => {
                let (source, destination) = paths
                    .first_chunk::<216>()
                    .and_then(|paths| paths.split_first_chunk::<108>())
                    .map_or(([0; 108], [0; 108]), |(s, d)| {
                        (*s, <[u8; 108]>::try_from(d).unwrap_or([0; 108]))
                    });
                Addresses::Unix {
                    source,
                    destination,
                }
            }
        }
    }

    /// The proxied source as an IP socket address, if there is one.
    #[inline]
    pub fn source(&self) -> Option<SocketAddr> {
        self.endpoints.inet_at(Side::Source)
    }

    /// The proxied destination as an IP socket address, if there is one.
    #[inline]
    pub fn destination(&self) -> Option<SocketAddr> {
        self.endpoints.inet_at(Side::Destination)
    }

    /// The v2 TLVs, interpreted lazily; empty for v1.
    #[inline]
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.tlvs)
    }

    /// The v2 TLVs as type and value, uninterpreted (cheaper than [`Header::tlvs`] when only
    /// one custom type matters, or to forward them); empty for v1.
    #[inline]
    pub fn raw_tlvs_iter(&self) -> RawTlvs<'a> {
        RawTlvs::new(self.tlvs)
    }

    /// The raw v2 TLV block (framing already validated), e.g. to pass it through unchanged.
    #[inline]
    pub fn raw_tlvs(&self) -> &'a [u8] {
        self.tlvs
    }
}

impl core::fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header")
            .field("version", &self.version)
            .field("command", &self.command)
            .field("transport", &self.transport)
            .field("addresses", &self.addresses())
            .field("tlvs", &self.tlvs.escape_ascii().to_string())
            .finish()
    }
}

/// Only reached for impossible layouts; keeps the accessors free of panics.
const UNSPECIFIED: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0);

/// What [`Header`] stores, at most two words besides its kind so the header stays small: v2 IP
/// endpoints in their wire layout (source address, destination address, source port,
/// destination port, all big-endian), v2 UNIX paths, a v1 `TCP6` line's address fields (all
/// borrowed from the input), or a v1 `TCP4` line's parsed endpoints.
///
/// The v2 IP blocks are fixed-size arrays, so the accessors build addresses without checking a
/// length again. On the fast path the header never goes through memory (see [`decode`]), so the
/// second word these one-word variants leave unwritten is never read there; session 3 had made
/// them slices because the accessors then read the header back from the stack, where loading that
/// word across the previous call's narrower stores stalled (BENCHMARKS.md, "PROXY protocol codec").
#[derive(Debug, Clone, Copy)]
enum Endpoints<'a> {
    Unspecified,
    /// A v1 `TCP4` line's endpoints, each as one word `address << 16 | port`: two words in the places the slice
    /// variants use, so they fit without growing the header and the v2 fast path's stores cover them.
    V1Inet4 {
        source: u64,
        destination: u64,
    },
    /// A v1 `TCP6` line's validated `src dst sport dport` text, read again on access.
    V1Text(&'a [u8]),
    /// The 12-byte `AF_INET` block.
    Wire4(&'a [u8; 12]),
    /// The 36-byte `AF_INET6` block.
    Wire6(&'a [u8; 36]),
    /// The 216-byte `AF_UNIX` block.
    Unix(&'a [u8]),
}

impl PartialEq for Endpoints<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // Two spellings of one IPv6 address (`::1`, `0::1`) are the same endpoint.
            (Self::V1Text(_), Self::V1Text(_)) => self.inet() == other.inet(),
            (Self::Unspecified, Self::Unspecified) => true,
            (Self::Wire4(a), Self::Wire4(b)) => a == b,
            (
                Self::V1Inet4 {
                    source: a,
                    destination: b,
                },
                Self::V1Inet4 {
                    source: c,
                    destination: d,
                },
            ) => (a, b) == (c, d),
            (Self::Wire6(a), Self::Wire6(b)) => a == b,
            (Self::Unix(a), Self::Unix(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Endpoints<'_> {}

/// Which side of a connection an accessor reads.
#[derive(Clone, Copy)]
enum Side {
    Source,
    Destination,
}

impl Endpoints<'_> {
    fn inet(&self) -> Option<(SocketAddr, SocketAddr)> {
        if let Self::V1Text(text) = self {
            // One parse of the line for both ends.
            return v1::inet_fields(text);
        }
        Some((
            self.inet_at(Side::Source)?,
            self.inet_at(Side::Destination)?,
        ))
    }

    /// One endpoint as a socket address, built straight from its wire bytes in the arm of its family.
    ///
    /// Why one endpoint per call and no shared helper returning both: when the two families' results meet in
    /// one value before being returned, LLVM assembles it in a stack temporary in the other family's layout
    /// (`SocketAddrV4` fields at offsets 2 and 6, `SocketAddrV6` at 4 and 28) and reads it back with wider loads
    /// than the stores that wrote it, a store-forwarding stall of about 5 ns per address that dominated v2 IPv4
    /// decoding (BENCHMARKS.md, "PROXY protocol codec"). Built here, each arm stores its fields straight into
    /// the caller's value.
    #[inline(always)]
    fn inet_at(&self, side: Side) -> Option<SocketAddr> {
        match *self {
            Self::Wire4(wire) => Some(inet4_at(wire, side)),
            Self::V1Inet4 {
                source,
                destination,
            } => {
                let word = match side {
                    Side::Source => source,
                    Side::Destination => destination,
                };
                let [_, _, a0, a1, a2, a3, p0, p1] = word.to_be_bytes();
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::new(a0, a1, a2, a3),
                    u16::from_be_bytes([p0, p1]),
                )))
            }
            Self::Wire6(wire) => {
                // The lengths are constants here, so none of these splits can fail.
                let (addrs, ports) = wire.split_first_chunk::<32>()?;
                let (s, d) = addrs.split_first_chunk::<16>()?;
                let &[sp0, sp1, dp0, dp1] = ports.first_chunk::<4>()?;
                let (ip, port) = match side {
                    Side::Source => (s, [sp0, sp1]),
                    Side::Destination => (d.first_chunk::<16>()?, [dp0, dp1]),
                };
                // Through `u128` rather than `Ipv6Addr::from([u8; 16])`: the same value, but LLVM then moves the
                // address as two words instead of splitting it around `SocketAddr`'s field offsets.
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from_bits(u128::from_be_bytes(*ip)),
                    u16::from_be_bytes(port),
                    0,
                    0,
                )))
            }
            Self::V1Text(text) => v1_endpoint(text, side),
            Self::Unspecified | Self::Unix(_) => None,
        }
    }
}

/// One endpoint of an `AF_INET` address block.
#[inline(always)]
fn inet4_at(wire: &[u8; 12], side: Side) -> SocketAddr {
    let &[s0, s1, s2, s3, d0, d1, d2, d3, sp0, sp1, dp0, dp1] = wire;
    let (ip, port) = match side {
        Side::Source => ([s0, s1, s2, s3], [sp0, sp1]),
        Side::Destination => ([d0, d1, d2, d3], [dp0, dp1]),
    };
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(ip),
        u16::from_be_bytes(port),
    ))
}

/// A v1 line's endpoint, parsed again from its validated text (out of line: v2 is the hot path).
#[inline(never)]
fn v1_endpoint(text: &[u8], side: Side) -> Option<SocketAddr> {
    let (source, destination) = v1::inet_fields(text)?;
    Some(match side {
        Side::Source => source,
        Side::Destination => destination,
    })
}

/// The PROXY protocol version of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The text format.
    V1,
    /// The binary format.
    V2,
}

/// What the sender asks the receiver to do with the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// The proxy opened the connection itself (e.g. a health check): use the real endpoints.
    Local,
    /// The connection is relayed for a client: use the header's addresses.
    Proxy,
}

/// The proxied transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unknown or unsupported; addresses are not given.
    Unspec,
    /// SOCK_STREAM: TCP or UNIX stream.
    Stream,
    /// SOCK_DGRAM: UDP or UNIX datagram.
    Dgram,
}

/// The proxied endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// No usable addresses: v1 `UNKNOWN`, v2 `AF_UNSPEC`, or any v2 LOCAL header.
    Unspecified,
    /// IPv4 or IPv6 endpoints with ports. The decoder only produces same-family pairs.
    Inet {
        /// The client side of the proxied connection.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// `AF_UNIX` endpoints: 108-byte `sun_path` buffers, NUL-padded.
    Unix {
        /// The client side's socket path.
        source: [u8; 108],
        /// The listening side's socket path.
        destination: [u8; 108],
    },
}

impl Addresses {
    /// `"unspecified"`, `"inet"` or `"unix"`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Inet { .. } => "inet",
            Self::Unix { .. } => "unix",
        }
    }
}

/// Decodes a v1 or v2 header at the start of `buf`, choosing the version from the first byte.
///
/// # Errors
/// [`DecodeError::Incomplete`] while `buf` is a valid prefix (including an empty `buf`);
/// [`DecodeError::NotProxy`] when `buf` starts like neither version; otherwise the terminal
/// error of [`decode_v1`] or [`decode_v2`].
// Inlined into the caller (the proxy's accept path): the v2 fast path is ~40 instructions, has
// no call, and lets the result stay in registers, so the accessors that follow jump straight
// to the family's arm. Everything else is one out-of-line call. Measured in BENCHMARKS.md.
#[inline(always)]
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if let Some(decoded) = v2::decode_fast(buf) {
        return Ok(decoded);
    }
    decode_other(buf)
}

/// Everything [`decode`]'s fast path does not take, behind one call.
///
/// One out-of-line call rather than one per version: with the v1 and v2 calls side by side,
/// the fast path's header was stored to the stack where the two calls' results meet, read back,
/// and dispatched on its kind through a jump table (BENCHMARKS.md, "PROXY protocol codec").
#[inline(never)]
fn decode_other(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    match buf.first() {
        None => Err(DecodeError::Incomplete {
            needed: v1::MIN_LEN,
        }),
        Some(b'P') => decode_v1(buf),
        Some(b'\r') => v2::decode_v2_general(buf),
        Some(_) => Err(DecodeError::NotProxy {
            found: Excerpt::new(buf),
        }),
    }
}

/// Whether `rest` (the bytes after a decoded header) starts with another PROXY header.
///
/// A second header right after the first is never legitimate: it means a client reached the
/// listener through a PROXY-speaking hop and prepended its own header to spoof its address.
/// Needs at least the 6-byte v1 prefix or the 12-byte v2 signature to say `true`; with fewer
/// bytes buffered it says `false`, so callers that must be sure should read 12 bytes first.
pub fn starts_with_proxy_header(rest: &[u8]) -> bool {
    rest.starts_with(V1_PREFIX) || rest.starts_with(&V2_SIGNATURE)
}

#[cfg(test)]
mod tests;
