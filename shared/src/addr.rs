//! Address newtypes and the parser for one forwarded address entry.
//!
//! The newtypes keep the three addresses a proxy handles apart, so the original destination can never be passed
//! where the peer is expected (linkerd `addrs.rs`).
//!
//! One entry is what sits between the commas of `X-Forwarded-For`, in a `Forwarded` `for=` value, or in a
//! single-IP header such as `X-Real-IP`. Accepted forms, after trimming spaces and tabs:
//!
//! | form | example | port |
//! | --- | --- | --- |
//! | IPv4 | `203.0.113.9` | none |
//! | IPv4 with port | `203.0.113.9:4711` | yes |
//! | bare IPv6 | `2001:db8::1` | none (a trailing `:n` is part of the address, so no port can be given) |
//! | bracketed IPv6 | `[2001:db8::1]` | none |
//! | bracketed IPv6 with port | `[2001:db8::1]:4711` | yes |
//!
//! Decisions made here, each for a reason:
//! - IPv4-mapped IPv6 (`::ffff:203.0.113.9`) is normalised to IPv4, for trust checks and for output: a dual-stack
//!   socket or proxy reports IPv4 clients that way, and `::ffff:10.0.0.1` must match a `10.0.0.0/8` rule exactly as
//!   `10.0.0.1` does. IPv4-compatible addresses (`::a.b.c.d`, deprecated) are not mapped: `::1` is loopback.
//! - An IPv6 zone id (`fe80::1%eth0`, `[fe80::1%eth0]:80`) is accepted and dropped. It names an interface on the
//!   machine that wrote the entry and means nothing here; the address itself is kept. The zone must be 1 to 32
//!   characters of `[A-Za-z0-9._~-]` (RFC 6874 unreserved characters) so it cannot smuggle separators.
//! - IPv4 octets with leading zeros (`010.0.0.1`) are rejected: some parsers read them as octal, so the entry is
//!   ambiguous (the Rust standard library parser already rejects them).
//! - Port `0` is accepted; more than 5 digits or a value above 65535 is not.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The address of the TCP peer, or the PROXY-protocol source when the listener takes PROXY headers.
///
/// It is the only address observed by the network stack (or vouched for by a trusted PROXY sender); every other
/// address comes from headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The original destination of a connection redirected by TPROXY (the accepted socket's local address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrigDstAddr(pub SocketAddr);

/// A client address decided from a header entry or from the peer; the port is known only when the entry had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr {
    /// The client IP, with IPv4-mapped IPv6 normalised to IPv4.
    pub ip: IpAddr,
    /// The client port, when the entry carried one.
    pub port: Option<u16>,
}

impl PeerAddr {
    /// The peer as a client address: IPv4-mapped IPv6 normalised, the port kept.
    pub fn client(&self) -> ClientAddr {
        ClientAddr {
            ip: canonical_ip(self.0.ip()),
            port: Some(self.0.port()),
        }
    }
}

impl ClientAddr {
    /// Parses one forwarded entry in any form listed in the [module docs](self).
    ///
    /// `unknown` and obfuscated `_tokens` are not addresses; [`crate::forwarded::Node`] handles them.
    pub fn parse(raw: &[u8]) -> Result<ClientAddr, AddrError<'_>> {
        parse_entry(raw, PortSyntax::Digits).map_err(|bad| bad.with(trim_ows(raw)))
    }
}

impl fmt::Display for ClientAddr {
    /// `ip` or `ip:port`, IPv6 bracketed when a port follows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip, self.port) {
            (ip, None) => write!(f, "{ip}"),
            (IpAddr::V4(ip), Some(port)) => write!(f, "{ip}:{port}"),
            (IpAddr::V6(ip), Some(port)) => write!(f, "[{ip}]:{port}"),
        }
    }
}

/// Normalises an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to IPv4; every other address is returned unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        IpAddr::V4(_) => ip,
    }
}

/// The longest text [`push_ip`] writes: a full IPv6 address, eight groups of four hex digits
/// (`ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`).
pub const MAX_IP_TEXT_LEN: usize = 39;

/// Appends `ip` to `out` exactly as its `Display` writes it — IPv4 dotted decimal, IPv6 in RFC 5952 form (lowercase
/// hex, the first longest run of two or more zero groups as `::`), IPv4-mapped IPv6 as `::ffff:a.b.c.d` — without
/// `core::fmt`. The rewrite renders addresses on every request, and in the Wasm filter the formatting machinery
/// costs several times the rendering itself (BENCHMARKS.md, "Wasm filter"). Property-tested against `Display`.
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_v4(out, v4),
        IpAddr::V6(v6) => push_v6(out, v6),
    }
}

fn push_v4(out: &mut String, ip: Ipv4Addr) {
    let [a, b, c, d] = ip.octets();
    push_octet(out, a);
    for octet in [b, c, d] {
        out.push('.');
        push_octet(out, octet);
    }
}

fn push_octet(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

fn push_v6(out: &mut String, ip: Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.push_str("::ffff:");
        return push_v4(out, v4);
    }
    let groups = ip.segments();
    // The first longest run of zero groups; a single zero group is written out (RFC 5952 4.2.2).
    let (mut best, mut best_len, mut start, mut len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g != 0 {
            len = 0;
            continue;
        }
        if len == 0 {
            start = i;
        }
        len += 1;
        if len > best_len {
            (best, best_len) = (start, len);
        }
    }
    match (groups.get(..best), groups.get(best + best_len..)) {
        (Some(left), Some(right)) if best_len > 1 => {
            push_groups(out, left);
            out.push_str("::");
            push_groups(out, right);
        }
        _ => push_groups(out, &groups),
    }
}

fn push_groups(out: &mut String, groups: &[u16]) {
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        // Lowercase hex without leading zeros; the last digit always.
        let mut started = false;
        for shift in [12u16, 8, 4, 0] {
            let digit = ((g >> shift) & 0xf) as u8;
            if digit != 0 || started || shift == 0 {
                started = true;
                out.push(char::from(if digit < 10 {
                    b'0' + digit
                } else {
                    b'a' + digit - 10
                }));
            }
        }
    }
}

/// Why a forwarded entry is not an address. Carries the (trimmed) offending bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError<'a> {
    /// Nothing left after trimming spaces and tabs.
    #[error("empty address entry")]
    Empty,
    /// Not any of the accepted address forms.
    #[error("not an IP address: {0}")]
    NotAnAddress(Escaped<'a>),
    /// A port that is not 1 to 5 digits or exceeds 65535.
    #[error("not a valid port in {0}")]
    BadPort(Escaped<'a>),
    /// An IPv6 zone id that is empty, too long or has characters outside `[A-Za-z0-9._~-]`.
    #[error("not a valid IPv6 zone id in {0}")]
    BadZone(Escaped<'a>),
}

impl AddrError<'_> {
    /// A stable snake_case label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AddrError::Empty => "empty",
            AddrError::NotAnAddress(_) => "not_an_address",
            AddrError::BadPort(_) => "bad_port",
            AddrError::BadZone(_) => "bad_zone",
        }
    }
}

/// What is wrong with an entry, without the entry: the parsers pass this small value around (the hot path never
/// carries a slice in its error type) and the public API attaches the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    Empty,
    NotAnAddress,
    Port,
    Zone,
}

impl Bad {
    fn with(self, value: &[u8]) -> AddrError<'_> {
        match self {
            Bad::Empty => AddrError::Empty,
            Bad::NotAnAddress => AddrError::NotAnAddress(Escaped(value)),
            Bad::Port => AddrError::BadPort(Escaped(value)),
            Bad::Zone => AddrError::BadZone(Escaped(value)),
        }
    }
}

/// Bytes shown as a quoted, escaped string in error messages (header values need not be UTF-8).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether an entry's port may be an RFC 7239 obfuscated port (`_abc`), which leaves the port unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortSyntax {
    /// Only decimal digits (X-Forwarded-For, single-IP headers).
    Digits,
    /// Digits or an obfuscated `_token` (RFC 7239 `node-port`).
    DigitsOrObfuscated,
}

/// Spaces and tabs (HTTP optional whitespace) removed from both ends.
/// Only SP and HTAB: other control bytes are not whitespace in a header value and make the entry malformed.
pub(crate) fn trim_ows(mut raw: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = raw {
        raw = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = raw {
        raw = rest;
    }
    raw
}

#[inline]
pub(crate) fn parse_entry(raw: &[u8], ports: PortSyntax) -> Result<ClientAddr, Bad> {
    let s = trim_ows(raw);
    if s.is_empty() {
        return Err(Bad::Empty);
    }
    if let Some(rest) = s.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return Err(Bad::NotAnAddress);
        };
        let (inside, after) = rest.split_at(close);
        let after = after.get(1..).unwrap_or_default();
        let ip = parse_v6_with_zone(inside)?;
        let port = match after {
            [] => None,
            [b':', port @ ..] => parse_port(port, ports)?,
            _ => return Err(Bad::NotAnAddress),
        };
        return Ok(ClientAddr {
            ip: canonical_ip(IpAddr::V6(ip)),
            port,
        });
    }
    // Dotted-quad first: it is by far the common case, and one pass decides it.
    if let Some((ip, rest)) = parse_v4_prefix(s) {
        let port = match rest {
            [] => None,
            [b':', port @ ..] => parse_port(port, ports)?,
            _ => return Err(Bad::NotAnAddress),
        };
        return Ok(ClientAddr {
            ip: IpAddr::V4(ip),
            port,
        });
    }
    // A bare IPv6 address has no port: `2001:db8::1:80` is an address, so a port needs brackets.
    let ip = parse_v6_with_zone(s)?;
    Ok(ClientAddr {
        ip: canonical_ip(IpAddr::V6(ip)),
        port: None,
    })
}

/// A strict dotted quad at the start of `s` (four decimal octets, 0 to 255, no leading zeros), and what follows
/// it. Hand-written because it runs once per hop: one pass, no UTF-8 check, no allocation.
#[inline]
pub(crate) fn parse_v4_prefix(s: &[u8]) -> Option<(Ipv4Addr, &[u8])> {
    let mut octets = [0u8; 4];
    let mut rest = s;
    for (i, slot) in octets.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b".")?;
        }
        let mut value: u16 = 0;
        let mut digits = 0;
        while let [d @ b'0'..=b'9', tail @ ..] = rest {
            // A fourth digit, or a digit after a leading zero, is not a dotted-quad octet.
            if digits == 3 || (digits == 1 && value == 0) {
                return None;
            }
            value = value * 10 + u16::from(d - b'0');
            digits += 1;
            rest = tail;
        }
        if digits == 0 {
            return None;
        }
        *slot = u8::try_from(value).ok()?;
    }
    Some((Ipv4Addr::from(octets), rest))
}

const MAX_ZONE_LEN: usize = 32;

fn parse_v6_with_zone(s: &[u8]) -> Result<Ipv6Addr, Bad> {
    let (addr, zone) = match split_once(s, b'%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (s, None),
    };
    if let Some(zone) = zone {
        let ok = !zone.is_empty()
            && zone.len() <= MAX_ZONE_LEN
            && zone
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
        if !ok {
            return Err(Bad::Zone);
        }
    }
    v6::parse(addr).ok_or(Bad::NotAnAddress)
}

#[inline]
fn parse_port(port: &[u8], syntax: PortSyntax) -> Result<Option<u16>, Bad> {
    if syntax == PortSyntax::DigitsOrObfuscated
        && let Some(obf) = port.strip_prefix(b"_")
        && !obf.is_empty()
        && obf
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Ok(None);
    }
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return Err(Bad::Port);
    }
    let value = port
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).map(Some).map_err(|_| Bad::Port)
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        PeerAddr(addr)
    }
}

mod v6;

#[cfg(test)]
mod tests;
