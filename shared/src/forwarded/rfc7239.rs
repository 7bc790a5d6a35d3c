//! RFC 7239 `Forwarded`: `Forwarded: for=192.0.2.43;proto=https, for="[2001:db8::17]:4711"`.
//!
//! A value is a comma list of elements, one per proxy hop; an element is a `;` list of `name=value` pairs with
//! `value = token / quoted-string`. Elements are split on `,` first and pairs on `;` second (splitting on `;` first
//! lets one element's `for` be read as another's, the bug fixed in axum-client-ip 1.0). The split respects quoted
//! strings, so a `,` or `;` inside quotes separates nothing.
//!
//! Strict where it matters for security and lenient where the meaning is still unambiguous:
//! - strict: parameter names are tokens and case-insensitive (`For=` is `for=`); no whitespace around `=`; quoted
//!   strings must be terminated and contain only `qdtext` / `quoted-pair`; a parameter repeated in one element
//!   (`for=a;for=b`) makes the element malformed; an element without `for` yields [`Node::Unknown`] (the hop did
//!   not disclose the address).
//! - lenient: an unquoted value may contain `:`, `[` and `]` (`for=[2001:db8::1]:80`, `for=192.0.2.1:80`), and a
//!   quoted IPv6 may be unbracketed (`for="2001:db8::1"`), both common emitter mistakes that still name exactly
//!   one address. Empty pairs (`for=a;;proto=b`) are allowed by the RFC grammar. Unknown extension parameters are
//!   ignored (their repetition is not checked).

use std::net::IpAddr;

use crate::addr::{Escaped, MAX_IP_TEXT_LEN, PortSyntax, push_ip, trim_ows};
use crate::forwarded::{
    Entry, EntryError, EntryErrorKind, Node, is_tchar, parse_node, render_list,
};

/// One parsed `Forwarded` element. Unknown parameters are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    /// The `for` node: the client side of the hop.
    pub forwarded_for: Option<Node>,
    /// The `by` node: the proxy's receiving interface.
    pub by: Option<Node>,
    /// The `host` value as sent.
    pub host: Option<Value<'a>>,
    /// The `proto` value as sent.
    pub proto: Option<Value<'a>>,
}

/// A parameter value as sent: a token, or the inside of a quoted string with its escapes left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// An unquoted value.
    Token(&'a [u8]),
    /// The bytes between the quotes, escapes not yet removed.
    Quoted(&'a [u8]),
}

/// Elements of every `Forwarded` line, rightmost first, each reduced to its `for` node. `lines` must already be in
/// reverse arrival order (see [`super::lines_rev`]). Empty elements are skipped.
pub fn elements_rev<'h, L>(lines: L) -> ElementsRev<'h, L>
where
    L: Iterator<Item = &'h [u8]>,
{
    ElementsRev { lines, line: None }
}

/// Parses one element (the text between two top-level commas).
pub fn parse_element(raw: &[u8]) -> Result<Element<'_>, EntryError<'_>> {
    let err = |kind| EntryError {
        kind,
        value: Escaped(trim_ows(raw)),
    };
    let mut element = Element {
        forwarded_for: None,
        by: None,
        host: None,
        proto: None,
    };
    let mut seen = Seen::default();
    parse_pairs(raw, |name, value| {
        if name.eq_ignore_ascii_case(b"for") {
            seen.check(Param::For)?;
            element.forwarded_for = Some(node_of(value)?);
        } else if name.eq_ignore_ascii_case(b"by") {
            seen.check(Param::By)?;
            element.by = Some(node_of(value)?);
        } else if name.eq_ignore_ascii_case(b"host") {
            seen.check(Param::Host)?;
            element.host = Some(value);
        } else if name.eq_ignore_ascii_case(b"proto") {
            seen.check(Param::Proto)?;
            element.proto = Some(value);
        }
        Ok(())
    })
    .map_err(err)?;
    Ok(element)
}

/// The iterator returned by [`elements_rev`].
#[derive(Debug, Clone)]
pub struct ElementsRev<'h, L> {
    lines: L,
    line: Option<&'h [u8]>,
}

impl<'h, L> Iterator for ElementsRev<'h, L>
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
            let (left, raw) = rsplit_element(rest);
            self.line = left;
            if trim_ows(raw).is_empty() {
                continue;
            }
            return Some(Entry {
                raw,
                node: for_node(raw),
            });
        }
    }
}

impl<'h, L> std::iter::FusedIterator for ElementsRev<'h, L> where
    L: std::iter::FusedIterator<Item = &'h [u8]>
{
}

/// The longest element [`push_for`] writes: `for="[` + IPv6 + `]"`.
pub(crate) const MAX_FOR_LEN: usize = 8 + MAX_IP_TEXT_LEN;

/// Appends one element `for=<ip>`: IPv4 as a token, IPv6 quoted and bracketed (`for="[2001:db8::1]"`), as
/// RFC 7239 §6 requires. Written without `core::fmt`: the rewrite plan runs it on every request.
pub fn push_for(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(_) => {
            out.push_str("for=");
            push_ip(out, ip);
        }
        IpAddr::V6(_) => {
            out.push_str("for=\"[");
            push_ip(out, ip);
            out.push_str("]\"");
        }
    }
}

/// One element `for=<ip>` (see [`push_for`]).
pub fn render_for(ip: IpAddr) -> String {
    let mut out = String::with_capacity(MAX_FOR_LEN);
    push_for(&mut out, ip);
    out
}

/// Renders a whole `Forwarded` value of `for=` elements, leftmost first.
pub fn render<I>(ips: I) -> String
where
    I: IntoIterator<Item = IpAddr>,
{
    render_list(ips, MAX_FOR_LEN, push_for)
}

/// The longest node value copied out of a quoted string: `[` + 45-byte IPv6 + `%` + 32-byte zone + `]:65535`.
const MAX_NODE_LEN: usize = 96;

/// The `for` node of one element, as the resolver needs it: a missing `for` is [`Node::Unknown`]. The whole
/// element is parsed, so an element that is malformed anywhere (a repeated `host`, a `by` that is no node) stops
/// the walk like a malformed `for` would.
fn for_node(raw: &[u8]) -> Result<Node, EntryErrorKind> {
    parse_element(raw)
        .map(|e| e.forwarded_for.unwrap_or(Node::Unknown))
        .map_err(|e| e.kind)
}

fn node_of(value: Value<'_>) -> Result<Node, EntryErrorKind> {
    match value {
        Value::Token(t) => parse_node(t, PortSyntax::DigitsOrObfuscated),
        Value::Quoted(q) => {
            let mut buf = [0u8; MAX_NODE_LEN];
            let len = unescape(q, &mut buf)?;
            parse_node(
                buf.get(..len).unwrap_or_default(),
                PortSyntax::DigitsOrObfuscated,
            )
        }
    }
}

/// Copies a quoted string's inside into `buf` with `\x` escapes removed; returns the length.
fn unescape(quoted: &[u8], buf: &mut [u8]) -> Result<usize, EntryErrorKind> {
    let mut len = 0;
    let mut bytes = quoted.iter();
    while let Some(&b) = bytes.next() {
        let b = if b == b'\\' {
            *bytes.next().ok_or(EntryErrorKind::BadSyntax)?
        } else {
            b
        };
        let slot = buf.get_mut(len).ok_or(EntryErrorKind::TooLong)?;
        *slot = b;
        len += 1;
    }
    Ok(len)
}

#[derive(Clone, Copy)]
enum Param {
    For = 1,
    By = 2,
    Host = 4,
    Proto = 8,
}

#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn check(&mut self, p: Param) -> Result<(), EntryErrorKind> {
        let bit = p as u8;
        if self.0 & bit != 0 {
            return Err(EntryErrorKind::DuplicateParameter);
        }
        self.0 |= bit;
        Ok(())
    }
}

/// Calls `f` for each `name=value` pair of one element, left to right; stops at the first syntax error.
fn parse_pairs<'a, F>(element: &'a [u8], mut f: F) -> Result<(), EntryErrorKind>
where
    F: FnMut(&'a [u8], Value<'a>) -> Result<(), EntryErrorKind>,
{
    let mut rest = element;
    loop {
        rest = trim_start_ows(rest);
        match rest {
            [] => return Ok(()),
            [b';', tail @ ..] => {
                rest = tail;
                continue;
            }
            _ => {}
        }
        let n = rest.iter().take_while(|&&b| is_tchar(b)).count();
        let (name, tail) = rest.split_at_checked(n).ok_or(EntryErrorKind::BadSyntax)?;
        if name.is_empty() {
            return Err(EntryErrorKind::BadSyntax);
        }
        let [b'=', tail @ ..] = tail else {
            return Err(EntryErrorKind::BadSyntax);
        };
        let (value, tail) = match tail {
            [b'"', quoted @ ..] => {
                let end = quoted_len(quoted)?;
                let (inside, after) = quoted
                    .split_at_checked(end)
                    .ok_or(EntryErrorKind::BadSyntax)?;
                // `after` starts with the closing quote.
                (Value::Quoted(inside), after.get(1..).unwrap_or_default())
            }
            _ => {
                let n = tail
                    .iter()
                    .take_while(|&&b| is_tchar(b) || matches!(b, b':' | b'[' | b']'))
                    .count();
                let (token, after) = tail.split_at_checked(n).ok_or(EntryErrorKind::BadSyntax)?;
                if token.is_empty() {
                    return Err(EntryErrorKind::BadSyntax);
                }
                (Value::Token(token), after)
            }
        };
        f(name, value)?;
        rest = trim_start_ows(tail);
        match rest {
            [] => return Ok(()),
            [b';', tail @ ..] => rest = tail,
            _ => return Err(EntryErrorKind::BadSyntax),
        }
    }
}

/// Length of a quoted string's inside (up to, not including, the closing quote), validating `qdtext` and
/// `quoted-pair` (RFC 9110 §5.6.4).
fn quoted_len(s: &[u8]) -> Result<usize, EntryErrorKind> {
    let mut i = 0;
    let mut bytes = s.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => return Ok(i),
            b'\\' => {
                let &e = bytes.next().ok_or(EntryErrorKind::BadSyntax)?;
                if !(e == b'\t' || e == b' ' || e.is_ascii_graphic() || e >= 0x80) {
                    return Err(EntryErrorKind::BadSyntax);
                }
                i += 2;
            }
            b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => i += 1,
            _ => return Err(EntryErrorKind::BadSyntax),
        }
    }
    Err(EntryErrorKind::BadSyntax)
}

/// Splits off the rightmost element of a line at the last `,` outside a quoted string. Scanning from the right,
/// a `"` toggles the quoted state unless an odd number of backslashes precedes it (then it is an escaped quote).
/// For a well-formed line this is exactly the forward split; for a malformed one every element it yields is still
/// checked by the forward element parser.
fn rsplit_element(rest: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let mut quoted = false;
    for (i, &b) in rest.iter().enumerate().rev() {
        match b {
            b'"' => {
                let backslashes = rest
                    .get(..i)
                    .map_or(0, |p| p.iter().rev().take_while(|&&c| c == b'\\').count());
                if backslashes % 2 == 0 {
                    quoted = !quoted;
                }
            }
            b',' if !quoted => {
                return (rest.get(..i), rest.get(i + 1..).unwrap_or_default());
            }
            _ => {}
        }
    }
    (None, rest)
}

fn trim_start_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests;
