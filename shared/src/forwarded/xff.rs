//! `X-Forwarded-For`: a comma-separated list of addresses, each proxy appending the address it received from.
//!
//! There is no specification; the de facto format (used by Envoy, nginx, HAProxy and the cloud load balancers) is a
//! list of nodes in the forms accepted by [`crate::addr`]. Quotes are not part of it, so a quoted entry is
//! malformed rather than silently unquoted.

use crate::addr::{PortSyntax, trim_ows};
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

    fn next(&mut self) -> Option<Entry<'h>> {
        loop {
            let Some(rest) = self.line else {
                self.line = Some(self.lines.next()?);
                continue;
            };
            let (left, raw) = match rest.iter().rposition(|&b| b == b',') {
                Some(i) => (rest.get(..i), rest.get(i + 1..).unwrap_or_default()),
                None => (None, rest),
            };
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
