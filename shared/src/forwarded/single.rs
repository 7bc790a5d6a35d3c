//! Single-address headers: `X-Real-IP`, `True-Client-IP`, `CF-Connecting-IP`, `X-Envoy-External-Address`, or any
//! configured name. The one proxy that sets such a header replaces it, so more than one value can only come from
//! someone else: a second line, or a comma list (what a second line becomes when a proxy coalesces lines), is
//! [`Single::Duplicate`], an error and never "take the first".

use crate::forwarded::{Entry, xff};

/// What a single-address header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Single<'h> {
    /// No line, or only empty ones.
    Absent,
    /// Exactly one non-empty value.
    One(Entry<'h>),
    /// More than one value, over several lines or comma-separated in one.
    Duplicate,
}

/// Reads a single-address header from its lines (any order). Values use the `X-Forwarded-For` entry syntax.
pub fn value<'h, L>(lines: L) -> Single<'h>
where
    L: Iterator<Item = &'h [u8]>,
{
    let mut entries = xff::entries_rev(lines);
    match (entries.next(), entries.next()) {
        (None, _) => Single::Absent,
        (Some(e), None) => Single::One(e),
        (Some(_), Some(_)) => Single::Duplicate,
    }
}

#[cfg(test)]
mod tests;
