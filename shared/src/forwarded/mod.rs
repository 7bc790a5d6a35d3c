//! Parsers for the headers that carry forwarded client addresses, all iterated right to left.
//!
//! - [`xff`]: `X-Forwarded-For`, a comma list of addresses.
//! - [`rfc7239`]: RFC 7239 `Forwarded`, a comma list of elements, each a `;` list of `name=value` pairs.
//! - [`single`]: headers that hold exactly one address (`X-Real-IP`, `True-Client-IP`, `CF-Connecting-IP`, ...).
//!
//! Every iterator takes the header's lines already in reverse arrival order and yields [`Entry`] values from the
//! rightmost (the one written by the proxy closest to us) to the leftmost, without allocating. Because lines are
//! split exactly where a list separator would be, two lines `a` and `b` give the same entries as one coalesced
//! line `a, b` (RFC 9110 §5.3), so the wasm filter (which sees coalesced values) and the native proxy (which sees
//! separate lines) decide identically.
//!
//! Empty list elements (`a,,b`, `a, ,b`, a line that is only whitespace) are skipped, as RFC 9110 §5.6.1 requires
//! of recipients; a header whose lines hold no element at all counts as absent.

pub mod rfc7239;
pub mod single;
pub mod xff;

use std::fmt;
use std::net::IpAddr;

use crate::addr::{Bad, ClientAddr, Escaped, PortSyntax, parse_entry, trim_ows};

/// What one forwarded entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// An address, with the port when the entry had one.
    Addr(ClientAddr),
    /// The literal `unknown` (any case): the writer did not know the address (RFC 7239 §6.2); also used for a
    /// `Forwarded` element without a `for` parameter.
    Unknown,
    /// An obfuscated identifier `_token` (RFC 7239 §6.3), which hides the address. Accepted in
    /// `X-Forwarded-For` too, since the same writers emit it there.
    Obfuscated,
}

/// One entry as found in a header, with its parse result. `raw` is the entry's bytes as sent (for traces and error
/// details); `node` is what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'h> {
    /// The entry's bytes, untrimmed, exactly as they appear between separators.
    pub raw: &'h [u8],
    /// What the entry names, or why it names nothing usable.
    pub node: Result<Node, EntryErrorKind>,
}

/// Why an entry is malformed. The entry's bytes travel beside it in [`Entry::raw`] or [`EntryError::value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryErrorKind {
    /// Not one of the accepted address forms.
    NotAnAddress,
    /// A port that is not 1 to 5 digits or exceeds 65535.
    BadPort,
    /// An IPv6 zone id with bad characters or length.
    BadZone,
    /// A `Forwarded` element that does not follow the `name=value;...` grammar (bad token, unterminated or bad
    /// quoted string, missing `=`).
    BadSyntax,
    /// A `Forwarded` parameter given twice in one element (RFC 7239 §4: each MUST occur at most once).
    DuplicateParameter,
    /// A node value longer than any valid node; it is not copied anywhere.
    TooLong,
    /// More entries than a hop index can count (65535).
    TooManyEntries,
}

/// A malformed entry with its bytes, for callers outside the resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}: {value}", .kind.message())]
pub struct EntryError<'a> {
    /// What is wrong.
    pub kind: EntryErrorKind,
    /// The offending entry.
    pub value: Escaped<'a>,
}

impl EntryErrorKind {
    /// A stable snake_case label for logs, metrics and JSON output.
    pub fn label(self) -> &'static str {
        match self {
            EntryErrorKind::NotAnAddress => "not_an_address",
            EntryErrorKind::BadPort => "bad_port",
            EntryErrorKind::BadZone => "bad_zone",
            EntryErrorKind::BadSyntax => "bad_syntax",
            EntryErrorKind::DuplicateParameter => "duplicate_parameter",
            EntryErrorKind::TooLong => "too_long",
            EntryErrorKind::TooManyEntries => "too_many_entries",
        }
    }

    /// A lowercase human message.
    pub fn message(self) -> &'static str {
        match self {
            EntryErrorKind::NotAnAddress => "not an IP address",
            EntryErrorKind::BadPort => "not a valid port",
            EntryErrorKind::BadZone => "not a valid IPv6 zone id",
            EntryErrorKind::BadSyntax => "not a valid Forwarded element",
            EntryErrorKind::DuplicateParameter => "Forwarded parameter repeated in one element",
            EntryErrorKind::TooLong => "node value too long",
            EntryErrorKind::TooManyEntries => "too many entries",
        }
    }
}

impl fmt::Display for EntryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<Bad> for EntryErrorKind {
    #[inline]
    fn from(e: Bad) -> Self {
        match e {
            Bad::Port => EntryErrorKind::BadPort,
            Bad::Zone => EntryErrorKind::BadZone,
            Bad::Empty | Bad::NotAnAddress => EntryErrorKind::NotAnAddress,
        }
    }
}

/// Parses one node: `unknown`, an obfuscated `_token`, or an address in any accepted form.
///
/// `unknown` and `_token` may carry a port (`unknown:80`, RFC 7239 `node = nodename [ ":" node-port ]`); the port
/// is ignored since the node is opaque either way.
#[inline]
pub(crate) fn parse_node(raw: &[u8], ports: PortSyntax) -> Result<Node, EntryErrorKind> {
    let s = trim_ows(raw);
    // Only the opaque forms need a look at the name before a port; addresses go straight to the address parser.
    let name = || match s.iter().position(|&b| b == b':') {
        Some(i) => s.get(..i).unwrap_or(s),
        None => s,
    };
    match s.first() {
        Some(b'u' | b'U') if name().eq_ignore_ascii_case(b"unknown") => Ok(Node::Unknown),
        Some(b'_') => {
            let obf = name().get(1..).unwrap_or_default();
            let valid = !obf.is_empty()
                && obf
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if valid {
                Ok(Node::Obfuscated)
            } else {
                Err(EntryErrorKind::NotAnAddress)
            }
        }
        _ => parse_entry(s, ports)
            .map(Node::Addr)
            .map_err(EntryErrorKind::from),
    }
}

/// Client-IP headers that a client can forge and that upstream applications are known to read. Removed from
/// untrusted peers (`actions.untrusted_headers = "strip"`), and the single-IP ones not used as a source are removed
/// from every request when `rewrite.strip_spoofable` is on.
pub const SPOOFABLE_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-envoy-external-address",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-original-forwarded-for",
];

/// The single-address members of [`SPOOFABLE_HEADERS`].
pub const SINGLE_IP_HEADERS: &[&str] = &[
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-envoy-external-address",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
];

/// Whether `b` may appear in an HTTP token (RFC 9110 `tchar`): header names, `Forwarded` parameter names.
///
/// One bit test in a 128-bit table, inlined: the `Forwarded` parser calls this for every byte of every parameter
/// name and value, and as a called function testing ranges it was about a sixth of that parse
/// (BENCHMARKS.md, "Client-IP resolution").
#[inline]
pub fn is_tchar(b: u8) -> bool {
    b < 128 && (TCHAR >> b) & 1 == 1
}

/// Bit `b` is set when byte `b` is a `tchar`: ASCII letters and digits and ``!#$%&'*+-.^_`|~``.
const TCHAR: u128 = {
    let mut table = 0u128;
    let mut b = 0u8;
    while b < 128 {
        if b.is_ascii_alphanumeric() {
            table |= 1 << b;
        }
        b += 1;
    }
    let mut symbols: &[u8] = b"!#$%&'*+-.^_`|~";
    while let [first, rest @ ..] = symbols {
        table |= 1 << *first;
        symbols = rest;
    }
    table
};

/// Whether a header name as received equals a lowercase name, ignoring ASCII case (HTTP names are
/// case-insensitive, RFC 9110 §5.1).
#[inline(always)]
pub fn name_is(name: &[u8], lower: &str) -> bool {
    let lower = lower.as_bytes();
    if name.len() != lower.len() {
        return false;
    }
    // Names are compared eight bytes at a time; every name the resolver looks for is at least that long.
    if name.len() >= 8 {
        return eq_folded_words(name, lower);
    }
    name.iter().zip(lower).all(|(&n, &l)| eq_folded(n, l))
}

/// One byte of [`name_is`]: equal, or an uppercase ASCII letter whose lowercase is `l`.
#[inline(always)]
fn eq_folded(n: u8, l: u8) -> bool {
    n == l || (n.is_ascii_uppercase() && n.to_ascii_lowercase() == l)
}

/// [`name_is`] for two slices of the same length, at least 8: whole 8-byte words, then the last 8 bytes (which
/// may overlap the last word compared).
#[inline(always)]
fn eq_folded_words(name: &[u8], lower: &[u8]) -> bool {
    let (mut n, mut l) = (name, lower);
    while let (Some((nw, nr)), Some((lw, lr))) = (n.split_first_chunk(), l.split_first_chunk()) {
        if !eq_folded_word(nw, lw) {
            return false;
        }
        (n, l) = (nr, lr);
    }
    match (name.last_chunk(), lower.last_chunk()) {
        (Some(nw), Some(lw)) => n.is_empty() || eq_folded_word(nw, lw),
        _ => false,
    }
}

/// Eight bytes of [`name_is`] at once: ASCII uppercase letters in `n` are folded with the usual word trick (bit 7
/// of `b + 0x3f` says `b >= 'A'`, of `b + 0x25` says `b > 'Z'`; exact for bytes below 0x80). A word with a byte
/// of 0x80 or more takes the byte path, where such a byte only matches itself.
#[inline(always)]
fn eq_folded_word(n: &[u8; 8], l: &[u8; 8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (x, y) = (u64::from_le_bytes(*n), u64::from_le_bytes(*l));
    if x == y {
        return true;
    }
    if x & HIGH != 0 {
        return n.iter().zip(l).all(|(&n, &l)| eq_folded(n, l));
    }
    let upper =
        x.wrapping_add(0x3f3f_3f3f_3f3f_3f3f) & !x.wrapping_add(0x2525_2525_2525_2525) & HIGH;
    x | (upper >> 2) == y
}

/// Whether a header name contains `_`; a plain loop, cheaper than `memchr` on names this short.
// `contains` would call `memchr`, whose setup costs more than the whole scan of a header name (measured with
// `examples/resolve_loop.rs`).
#[allow(clippy::manual_contains)]
#[inline]
pub(crate) fn has_underscore(name: &[u8]) -> bool {
    name.iter().any(|&b| b == b'_')
}

/// Whether `name` is a look-alike of the lowercase `lower` with `_` written for one or more `-`
/// (`X_Forwarded_For`, `x-forwarded_for`). Such names are not the header, but CGI-style servers (which map `-` to
/// `_` in `HTTP_X_FORWARDED_FOR`), some frameworks and some proxies treat them as the same, so a client can use
/// them to slip a forged value past a proxy that only replaces the real name.
///
/// At least one `_` must stand for a `-`: a configured name that itself contains `_` (`x_real_ip`) is the header,
/// not a look-alike of itself.
#[inline]
pub fn name_is_variant(name: &[u8], lower: &str) -> bool {
    let lower = lower.as_bytes();
    name.len() == lower.len()
        && has_underscore(name)
        && name
            .iter()
            .zip(lower)
            .all(|(&n, &l)| n.eq_ignore_ascii_case(&l) || (n == b'_' && l == b'-'))
        && name
            .iter()
            .zip(lower)
            .any(|(&n, &l)| n == b'_' && l == b'-')
}

/// Header lines with the given name, last line first, as the iterators in this module take them.
pub fn lines_rev<'h>(
    headers: &'h [(&'h [u8], &'h [u8])],
    lower: &'h str,
) -> impl Iterator<Item = &'h [u8]> + Clone + 'h {
    headers
        .iter()
        .rev()
        .filter(move |(n, _)| name_is(n, lower))
        .map(|&(_, v)| v)
}

/// A name length as one bit of a length set (`u64`): names of 63 bytes or more share bit 63. Testing a header
/// name's length against the set of lengths of the names looked for rejects most names before any byte is
/// compared.
#[inline]
pub(crate) const fn length_bit(len: usize) -> u64 {
    1 << if len < 63 { len } else { 63 }
}

/// Addresses rendered by `push` (at most `max_len` bytes each) and joined with `, `, leftmost first, in one
/// allocation sized from the iterator's length.
pub(crate) fn render_list<I>(ips: I, max_len: usize, push: fn(&mut String, IpAddr)) -> String
where
    I: IntoIterator<Item = IpAddr>,
{
    let ips = ips.into_iter();
    let mut out = String::with_capacity(ips.size_hint().0.saturating_mul(max_len + 2));
    for ip in ips {
        if !out.is_empty() {
            out.push_str(", ");
        }
        push(&mut out, ip);
    }
    out
}

#[cfg(test)]
mod tests;
