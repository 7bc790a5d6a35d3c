//! `X-Forwarded-For`: a comma-separated list of addresses, each proxy appending the address it received from.
//!
//! There is no specification; the de facto format (used by Envoy, nginx, HAProxy and the cloud load balancers) is a
//! list of nodes in the forms accepted by [`crate::addr`]. Quotes are not part of it, so a quoted entry is
//! malformed rather than silently unquoted.

use std::net::{IpAddr, Ipv4Addr};

use crate::addr::{ClientAddr, PortSyntax, trim_ows};
use crate::forwarded::{Entry, Node, parse_node};

/// Entries of every `X-Forwarded-For` line, rightmost first. `lines` must already be in reverse arrival order
/// (see [`super::lines_rev`]). Empty elements are skipped.
pub fn entries_rev<'h, L>(lines: L) -> EntriesRev<'h, L>
where
    L: Iterator<Item = &'h [u8]>,
{
    EntriesRev { lines, line: None }
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

    #[inline]
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
#[inline]
fn rightmost_v4(rest: &[u8]) -> Option<Rightmost<'_>> {
    let is_ows = |i: usize| matches!(rest.get(i), Some(b' ' | b'\t'));
    let mut i = rest.len();
    while i > 0 && is_ows(i - 1) {
        i -= 1;
    }
    let mut octets = [0u8; 4];
    for (k, slot) in octets.iter_mut().rev().enumerate() {
        if k > 0 {
            i = i.checked_sub(1)?;
            if rest.get(i) != Some(&b'.') {
                return None;
            }
        }
        let mut value: u16 = 0;
        let mut scale: u16 = 1;
        let mut digits = 0;
        while let Some(&d @ b'0'..=b'9') = i.checked_sub(1).and_then(|j| rest.get(j)) {
            if digits == 3 {
                return None;
            }
            value += u16::from(d - b'0') * scale;
            scale *= 10;
            digits += 1;
            i -= 1;
        }
        // No digits, or a leading zero in a multi-digit octet (`010`): not a dotted-quad octet.
        if digits == 0 || (digits > 1 && rest.get(i) == Some(&b'0')) {
            return None;
        }
        *slot = u8::try_from(value).ok()?;
    }
    let mut start = i;
    while start > 0 && is_ows(start - 1) {
        start -= 1;
    }
    let ip = Ipv4Addr::from(octets);
    match start.checked_sub(1) {
        None => Some(Rightmost {
            left: None,
            raw: rest,
            ip,
        }),
        Some(comma) if rest.get(comma) == Some(&b',') => Some(Rightmost {
            left: rest.get(..comma),
            raw: rest.get(comma + 1..)?,
            ip,
        }),
        Some(_) => None,
    }
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
    I: IntoIterator<Item = std::net::IpAddr>,
{
    use std::fmt::Write;
    let mut out = String::new();
    for ip in ips {
        if !out.is_empty() {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{ip}");
    }
    out
}

#[cfg(test)]
mod tests;
