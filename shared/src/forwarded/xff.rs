//! `X-Forwarded-For`: a comma-separated list of addresses, each proxy appending the address it received from.
//!
//! There is no specification; the de facto format (used by Envoy, nginx, HAProxy and the cloud load balancers) is a
//! list of nodes in the forms accepted by [`crate::addr`]. Quotes are not part of it, so a quoted entry is
//! malformed rather than silently unquoted.

use std::net::{IpAddr, Ipv4Addr};

use crate::addr::{ClientAddr, MAX_IP_TEXT_LEN, PortSyntax, push_ip, trim_ows};
use crate::forwarded::{Entry, Node, parse_node, render_list};

/// Entries of every `X-Forwarded-For` line, rightmost first. `lines` must already be in reverse arrival order
/// (see [`super::lines_rev`]). Empty elements are skipped.
pub fn entries_rev<'h, L>(lines: L) -> EntriesRev<'h, L>
where
    L: Iterator<Item = &'h [u8]>,
{
    EntriesRev { lines, line: None }
}

/// [`entries_rev`] over `last` followed by `earlier` (also in reverse arrival order), for a caller that already
/// holds the last line.
pub(crate) fn entries_rev_after<'h, L>(last: &'h [u8], earlier: L) -> EntriesRev<'h, L>
where
    L: Iterator<Item = &'h [u8]>,
{
    EntriesRev {
        lines: earlier,
        line: Some(last),
    }
}

/// Parses one `X-Forwarded-For` element.
pub fn parse(raw: &[u8]) -> Result<Node, crate::forwarded::EntryError<'_>> {
    parse_node(raw, PortSyntax::Digits).map_err(|kind| crate::forwarded::EntryError {
        kind,
        value: crate::addr::Escaped(trim_ows(raw)),
    })
}

/// The iterator returned by [`entries_rev`].
#[derive(Debug, Clone)]
pub struct EntriesRev<'h, L> {
    lines: L,
    /// What is left of the current line, split from the right.
    line: Option<&'h [u8]>,
}

impl<'h, L> Iterator for EntriesRev<'h, L>
where
    L: Iterator<Item = &'h [u8]>,
{
    type Item = Entry<'h>;

    // Inlined into the walk: a call per entry, with the entry returned through memory, cost more than parsing
    // a dotted quad (measured with `examples/resolve_loop.rs`).
    #[inline(always)]
    fn next(&mut self) -> Option<Entry<'h>> {
        loop {
            let Some(rest) = self.line else {
                self.line = Some(self.lines.next()?);
                continue;
            };
            if let Some(Rightmost { left, raw, ip }) = rightmost_v4(rest) {
                self.line = left;
                return Some(Entry {
                    raw,
                    node: Ok(Node::Addr(ClientAddr {
                        ip: IpAddr::V4(ip),
                        port: None,
                    })),
                });
            }
            let (left, raw) = split_rightmost(rest);
            self.line = left;
            if trim_ows(raw).is_empty() {
                continue;
            }
            return Some(Entry {
                raw,
                node: parse_node(raw, PortSyntax::Digits),
            });
        }
    }
}

impl<'h, L> EntriesRev<'h, L>
where
    L: Iterator<Item = &'h [u8]>,
{
    /// The next entry if it is a plain dotted quad within the current line, with its raw bytes; `None` (and
    /// nothing consumed) otherwise, and then [`Iterator::next`] takes the entry. Lets the resolver keep the
    /// common entry as a bare IPv4 address instead of a general [`Entry`].
    #[inline(always)]
    pub(crate) fn next_plain_v4(&mut self) -> Option<(Ipv4Addr, &'h [u8])> {
        let Rightmost { left, raw, ip } = rightmost_v4(self.line?)?;
        self.line = left;
        Some((ip, raw))
    }
}

impl<'h, L> std::iter::FusedIterator for EntriesRev<'h, L> where
    L: std::iter::FusedIterator<Item = &'h [u8]>
{
}

/// Splits off the rightmost element of a line at its last comma: `(what is left, the element)`.
#[inline]
fn split_rightmost(rest: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match rest.iter().rposition(|&b| b == b',') {
        Some(i) => (rest.get(..i), rest.get(i + 1..).unwrap_or_default()),
        None => (None, rest),
    }
}

/// The fast path for the common entry, a plain dotted quad: parses the rightmost element while scanning back to
/// its separator, so each byte is read once. It accepts exactly what [`split_rightmost`] followed by the general
/// parser accepts as an IPv4 address without port (a property test holds it to that) and returns `None` for
/// everything else, which then takes the general path.
#[inline(always)]
fn rightmost_v4(rest: &[u8]) -> Option<Rightmost<'_>> {
    // Slice patterns peel bytes off the end with no index arithmetic, so there is no bounds check to pay for.
    let s = trim_end_ows(rest);
    let (s, d) = dot_octet_rev(s)?;
    let (s, c) = dot_octet_rev(s)?;
    let (s, b) = dot_octet_rev(s)?;
    // The first octet after the `, ` every proxy writes is one pattern like the others; the start of a line and
    // other separators go the long way.
    let (left, a) = match comma_octet_rev(s) {
        Some((left, a)) => (Some(left), a),
        None => {
            let (s, a) = octet_rev(s)?;
            let left = match s {
                [] => None,
                [left @ .., b','] => Some(left),
                _ => match trim_end_ows(s) {
                    [] => None,
                    [left @ .., b','] => Some(left),
                    _ => return None,
                },
            };
            (left, a)
        }
    };
    let ip = Ipv4Addr::from_bits(u32::from_be_bytes([a, b, c, d]));
    let raw = match left {
        Some(left) => rest.get(left.len() + 1..)?,
        None => rest,
    };
    Some(Rightmost { left, raw, ip })
}

/// [`dot_octet_rev`] for the first octet of a quad after a `, ` separator: the octet and what precedes the comma.
#[inline(always)]
fn comma_octet_rev(s: &[u8]) -> Option<(&[u8], u8)> {
    let digit = |b: &u8| b.wrapping_sub(b'0');
    match s {
        [left @ .., b',', b' ', z @ b'0'..=b'9'] => Some((left, digit(z))),
        [left @ .., b',', b' ', y @ b'1'..=b'9', z @ b'0'..=b'9'] => {
            Some((left, digit(y) * 10 + digit(z)))
        }
        [
            left @ ..,
            b',',
            b' ',
            x @ b'1'..=b'2',
            y @ b'0'..=b'9',
            z @ b'0'..=b'9',
        ] => {
            let v = u16::from(digit(x)) * 100 + u16::from(digit(y) * 10 + digit(z));
            Some((left, u8::try_from(v).ok()?))
        }
        _ => None,
    }
}

/// The last octet of a dotted quad at the end of `s` with the `.` before it, and what precedes the `.`: the same
/// octets as [`octet_rev`] followed by a dot, but matched as one pattern over the last two to four bytes, so the
/// common one- and two-digit octets cost a few compares instead of a bounds check and a test per byte.
#[inline(always)]
fn dot_octet_rev(s: &[u8]) -> Option<(&[u8], u8)> {
    let digit = |b: &u8| b.wrapping_sub(b'0');
    match s {
        [rest @ .., b'.', z @ b'0'..=b'9'] => Some((rest, digit(z))),
        [rest @ .., b'.', y @ b'1'..=b'9', z @ b'0'..=b'9'] => {
            Some((rest, digit(y) * 10 + digit(z)))
        }
        [
            rest @ ..,
            b'.',
            x @ b'1'..=b'2',
            y @ b'0'..=b'9',
            z @ b'0'..=b'9',
        ] => {
            let v = u16::from(digit(x)) * 100 + u16::from(digit(y) * 10 + digit(z));
            Some((rest, u8::try_from(v).ok()?))
        }
        _ => None,
    }
}

/// The last octet of a dotted quad at the end of `s` and what precedes it: 1 to 3 digits, no leading zero in a
/// multi-digit octet (`010` is ambiguous, some parsers read octal), at most 255, and no digit before it. Each
/// byte is looked at once, from the right.
#[inline(always)]
fn octet_rev(s: &[u8]) -> Option<(&[u8], u8)> {
    let digit = |b: &u8| Some(b.wrapping_sub(b'0')).filter(|d| *d < 10);
    let [s1 @ .., c] = s else { return None };
    let c = digit(c)?;
    let Some((s2, b)) = s1.split_last().and_then(|(b, s2)| Some((s2, digit(b)?))) else {
        return Some((s1, c));
    };
    let Some((s3, a)) = s2.split_last().and_then(|(a, s3)| Some((s3, digit(a)?))) else {
        // Two digits: the first must not be a leading zero.
        return (b != 0).then_some((s2, b * 10 + c));
    };
    if a == 0 || s3.last().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let v = u16::from(a) * 100 + u16::from(b * 10 + c);
    Some((s3, u8::try_from(v).ok()?))
}

/// Trailing spaces and tabs removed.
#[inline(always)]
fn trim_end_ows(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The rightmost element of a line, read by the fast path.
#[derive(Debug, PartialEq, Eq)]
struct Rightmost<'a> {
    /// What is left of the line before the separator.
    left: Option<&'a [u8]>,
    /// The element's bytes, untrimmed.
    raw: &'a [u8],
    /// The address.
    ip: Ipv4Addr,
}

/// Renders addresses as one `X-Forwarded-For` value, leftmost first: `a, b, c` (IPv6 bare, no ports), the form
/// every consumer reads.
pub fn render<I>(ips: I) -> String
where
    I: IntoIterator<Item = IpAddr>,
{
    render_list(ips, MAX_IP_TEXT_LEN, push_ip)
}

#[cfg(test)]
mod tests;
