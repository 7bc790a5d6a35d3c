//! PROXY protocol v1: one US-ASCII line, e.g. `PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n`.
//!
//! The parser reads field by field. When the input runs out it checks that what it has so far
//! could still become a valid line (right characters, not too long) and only then reports
//! `Incomplete`; anything that can no longer become valid fails at once. The line must end in
//! CRLF within [`V1_MAX_LEN`] bytes.

use core::net::{IpAddr, SocketAddr};

use super::{
    Command, DecodeError, Decoded, Endpoints, Excerpt, Header, Transport, V1_MAX_LEN, Version,
};
use crate::cursor::Cursor;

/// The shortest v1 line, `PROXY UNKNOWN\r\n`.
pub(crate) const MIN_LEN: usize = 15;

/// The longest address text: a full IPv6 address with an embedded dotted IPv4 tail.
const MAX_ADDRESS_LEN: usize = 45;

/// Decodes a v1 line at the start of `buf`.
///
/// # Errors
/// [`DecodeError::Incomplete`] while `buf` is a valid prefix shorter than
/// [`V1_MAX_LEN`]; [`DecodeError::V1TooLong`] when no CRLF ends the line within it;
/// [`DecodeError::NotProxy`] when `buf` does not start with `PROXY`; otherwise the `V1*`
/// variant naming the bad field.
pub fn decode_v1(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let window = buf.get(..V1_MAX_LEN).unwrap_or(buf);
    match parse_line(&mut Cursor::new(window)) {
        Ok((transport, endpoints, consumed)) => Ok(Decoded {
            header: Header {
                version: Version::V1,
                command: Command::Proxy,
                transport,
                endpoints,
                tlvs: &[],
            },
            consumed,
        }),
        Err(Fail::Short) if buf.len() >= V1_MAX_LEN => Err(DecodeError::V1TooLong),
        Err(Fail::Short) => Err(DecodeError::Incomplete {
            needed: MIN_LEN.saturating_sub(buf.len()).max(1),
        }),
        Err(Fail::Bad(e)) => Err(e),
    }
}

/// Why parsing stopped: out of input (the line may still be valid), or a terminal error.
enum Fail {
    Short,
    Bad(DecodeError),
}

impl From<DecodeError> for Fail {
    fn from(e: DecodeError) -> Self {
        Self::Bad(e)
    }
}

/// What ended a field.
#[derive(PartialEq, Eq)]
enum End {
    Space,
    Cr,
    Lf,
}

fn parse_line<'a>(c: &mut Cursor<'a>) -> Result<(Transport, Endpoints<'a>, usize), Fail> {
    literal(c, b"PROXY", |found| DecodeError::NotProxy { found })?;
    literal(c, b" ", |found| DecodeError::V1Syntax {
        expected: "a space after PROXY",
        found,
    })?;
    let (protocol, end) = field(c, |partial| {
        ["TCP4", "TCP6", "UNKNOWN"]
            .iter()
            .any(|p| p.as_bytes().starts_with(partial))
    })
    .map_err(|e| e.bad(|found| DecodeError::V1BadProtocol { found }))?;
    let (want_v6, name) = match protocol {
        b"TCP4" => (false, "TCP4"),
        b"TCP6" => (true, "TCP6"),
        b"UNKNOWN" => return skip_unknown(c, end),
        other => {
            return Err(Fail::Bad(DecodeError::V1BadProtocol {
                found: Excerpt::new(other),
            }));
        }
    };
    expect_end(c, end, End::Space, "a space after the protocol")?;

    let fields = c.peek_rest();
    let fields_start = c.position();
    // TCP4 endpoints fit in two words and are kept parsed. TCP6 ones do not (36 bytes): the header keeps their
    // validated text and reads it again on access (`inet_fields`), because holding them inside every `Header`
    // would make the common v2 result bigger and slower to return (measured in BENCHMARKS.md).
    let source = address(c, want_v6, name)?;
    let destination = address(c, want_v6, name)?;
    let source_port = port(c, End::Space)?;
    let destination_port = port(c, End::Cr)?;
    literal(c, b"\n", |found| DecodeError::V1BadLineEnd { found })?;
    let endpoints = match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Endpoints::V1Inet4 {
            source: u64::from(s.to_bits()) << 16 | u64::from(source_port),
            destination: u64::from(d.to_bits()) << 16 | u64::from(destination_port),
        },
        _ => Endpoints::V1Text(
            fields
                .get(..c.position().saturating_sub(fields_start + 2))
                .unwrap_or_default(),
        ),
    };
    Ok((Transport::Stream, endpoints, c.position()))
}

/// The endpoints of a validated TCP6 line's fields, `src dst sport dport` (see [`parse_line`]), read as the
/// decoder read them (TCP4 lines are kept parsed). `None` only if `text` is not such a text, which the decoder
/// never stores.
pub(super) fn inet_fields(text: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let mut fields = text.split(|&b| b == b' ');
    let mut ip = || -> Option<IpAddr> {
        let field = fields.next()?;
        match parse_ipv4(field) {
            Some(v4) => Some(IpAddr::V4(v4)),
            None => core::str::from_utf8(field).ok()?.parse().ok(),
        }
    };
    let (source, destination) = (ip()?, ip()?);
    let source_port = parse_port(fields.next()?)?;
    let destination_port = parse_port(fields.next()?)?;
    Some((
        SocketAddr::new(source, source_port),
        SocketAddr::new(destination, destination_port),
    ))
}

/// `UNKNOWN`: the spec tells receivers to ignore whatever precedes the CRLF.
fn skip_unknown(
    c: &mut Cursor<'_>,
    end: End,
) -> Result<(Transport, Endpoints<'static>, usize), Fail> {
    let mut end = end;
    loop {
        match end {
            End::Lf => return Err(bad_line_end(c)),
            End::Cr => {
                c.take(1).ok_or(Fail::Short)?;
                literal(c, b"\n", |found| DecodeError::V1BadLineEnd { found })?;
                return Ok((Transport::Unspec, Endpoints::Unspecified, c.position()));
            }
            End::Space => {
                c.take(1).ok_or(Fail::Short)?;
                // Every partial field is plausible here, so the only failure is running out.
                end = field(c, |_| true).map_err(|_| Fail::Short)?.1;
            }
        }
    }
}

/// An address field followed by one space, of the family the protocol named.
fn address(c: &mut Cursor<'_>, want_v6: bool, protocol: &'static str) -> Result<IpAddr, Fail> {
    let (text, end) = field(c, |partial| {
        partial.len() <= MAX_ADDRESS_LEN
            && partial
                .iter()
                .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
    })
    .map_err(|e| e.bad(|found| DecodeError::V1BadAddress { found }))?;
    if text.is_empty() {
        return Err(syntax("an address", c));
    }
    // Fast path for the common TCP4 line; std's parser (as strict: no leading zeroes) decides
    // everything else, including which family a mismatched address belongs to.
    let ip = match parse_ipv4(text).filter(|_| !want_v6) {
        Some(v4) => IpAddr::V4(v4),
        None => core::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| DecodeError::V1BadAddress {
                found: Excerpt::new(text),
            })?,
    };
    if ip.is_ipv6() != want_v6 {
        return Err(Fail::Bad(DecodeError::V1FamilyMismatch {
            protocol,
            found: Excerpt::new(text),
        }));
    }
    expect_end(c, end, End::Space, "a space after the address")?;
    Ok(ip)
}

/// A port field: decimal 0..=65535, no leading zeroes, followed by `want`.
fn port(c: &mut Cursor<'_>, want: End) -> Result<u16, Fail> {
    // Every prefix of a valid port is a valid port (or empty), so one check serves both.
    let (text, end) = field(c, |partial| {
        partial.is_empty() || parse_port(partial).is_some()
    })
    .map_err(|e| e.bad(|found| DecodeError::V1BadPort { found }))?;
    if text.is_empty() {
        return Err(syntax("a port", c));
    }
    let value = parse_port(text).ok_or_else(|| DecodeError::V1BadPort {
        found: Excerpt::new(text),
    })?;
    let expected = if want == End::Space {
        "a space after the port"
    } else {
        "CRLF after the destination port"
    };
    expect_end(c, end, want, expected)?;
    Ok(value)
}

/// A port: 1 to 5 decimal digits, no leading zero unless it is `0`, at most 65535.
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.len() > 1 && digits.first() == Some(&b'0') {
        return None;
    }
    parse_decimal(digits)
        .filter(|_| (1..=5).contains(&digits.len()))
        .and_then(|v| u16::try_from(v).ok())
}

/// A dotted-quad IPv4 address: exactly four decimal octets 0..=255 without leading zeroes.
/// Accepts a subset of what std's parser accepts (in fact the same set), so `None` just means
/// "let std decide".
fn parse_ipv4(text: &[u8]) -> Option<core::net::Ipv4Addr> {
    // The forwarded-entry parser's dotted quad is exactly this grammar, in one pass.
    match crate::addr::parse_v4_prefix(text) {
        Some((ip, [])) => Some(ip),
        _ => None,
    }
}

/// Digits as a number; `None` on a non-digit or past six digits (no port has more than five).
fn parse_decimal(digits: &[u8]) -> Option<u32> {
    if digits.len() > 6 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u32::from(d))
    })
}

/// A field error: out of input with a plausible partial field, or an implausible one.
enum FieldFail<'a> {
    Short,
    Implausible(&'a [u8]),
}

impl FieldFail<'_> {
    fn bad(self, make: impl FnOnce(Excerpt) -> DecodeError) -> Fail {
        match self {
            Self::Short => Fail::Short,
            Self::Implausible(found) => Fail::Bad(make(Excerpt::new(found))),
        }
    }
}

/// The bytes up to the next space, CR or LF (which stays unread), and which one it was.
/// If the input ends first, the partial field must satisfy `plausible` to be `Short`.
fn field<'a>(
    c: &mut Cursor<'a>,
    plausible: impl Fn(&[u8]) -> bool,
) -> Result<(&'a [u8], End), FieldFail<'a>> {
    let rest = c.peek_rest();
    let Some(n) = rest.iter().position(|b| matches!(b, b' ' | b'\r' | b'\n')) else {
        return Err(if plausible(rest) {
            FieldFail::Short
        } else {
            FieldFail::Implausible(rest)
        });
    };
    let text = c.take(n).ok_or(FieldFail::Short)?;
    let end = match c.peek_rest().first() {
        Some(b' ') => End::Space,
        Some(b'\r') => End::Cr,
        _ => End::Lf,
    };
    Ok((text, end))
}

/// Consumes the delimiter that ended a field if it is the one the grammar wants here.
fn expect_end(c: &mut Cursor<'_>, got: End, want: End, expected: &'static str) -> Result<(), Fail> {
    if got == End::Lf {
        return Err(bad_line_end(c));
    }
    if got != want {
        return Err(syntax(expected, c));
    }
    c.take(1).ok_or(Fail::Short)?;
    Ok(())
}

/// Matches `lit` against the input, accepting a matching partial input as `Short`.
fn literal(
    c: &mut Cursor<'_>,
    lit: &[u8],
    mismatch: impl FnOnce(Excerpt) -> DecodeError,
) -> Result<(), Fail> {
    let rest = c.peek_rest();
    let n = rest.len().min(lit.len());
    if rest.get(..n) != lit.get(..n) {
        return Err(Fail::Bad(mismatch(Excerpt::new(rest))));
    }
    c.take(lit.len()).ok_or(Fail::Short)?;
    Ok(())
}

fn syntax(expected: &'static str, c: &Cursor<'_>) -> Fail {
    Fail::Bad(DecodeError::V1Syntax {
        expected,
        found: Excerpt::new(c.peek_rest()),
    })
}

fn bad_line_end(c: &Cursor<'_>) -> Fail {
    Fail::Bad(DecodeError::V1BadLineEnd {
        found: Excerpt::new(c.peek_rest()),
    })
}

#[cfg(test)]
mod tests;
