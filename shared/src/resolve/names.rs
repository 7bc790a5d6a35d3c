//! Header-name facts for one request, gathered in a single pass over the header list.
//!
//! Every request's names are checked against the client-IP header names the policy knows (for spoof signals and
//! the untrusted-peer check), and the source walk needs the `X-Forwarded-For` and `Forwarded` lines. Doing both
//! in one pass, and rejecting most names by length before comparing any byte, keeps the per-request cost flat:
//! typical names (`host`, `user-agent`, `accept`, ...) have no client-IP header of their length and cost one bit
//! test each.

use crate::forwarded::{has_underscore, length_bit, name_is, name_is_variant};
use crate::resolve::{Spoof, SpoofSignals};

/// The client-IP header names of one policy, built with the resolver.
#[derive(Debug, Clone)]
pub(super) struct NameTable {
    /// Bit `n` is set when a known name is `n` bytes long; names of 63 bytes or more share bit 63.
    lengths: u64,
    /// Every client-IP header name the policy knows, lowercase, without repeats.
    known: Vec<Box<str>>,
}

/// What one pass over the header names found.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan {
    /// Where the `X-Forwarded-For` lines are.
    pub(super) xff: Lines,
    /// Where the `Forwarded` lines are.
    pub(super) forwarded: Lines,
    /// Whether any client-IP header, or a `_` look-alike of one, is present.
    pub(super) forwarding: bool,
    /// Signals seen in the names alone.
    pub(super) spoof: SpoofSignals,
}

/// The header lines of one name: how many there are and the index range that holds them all.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lines {
    pub(super) count: usize,
    first: usize,
    end: usize,
}

impl Lines {
    fn add(&mut self, index: usize) {
        if self.count == 0 {
            self.first = index;
        }
        self.count += 1;
        self.end = index + 1;
    }

    /// The smallest run of `headers` that holds every line of the name (other names may be interleaved).
    #[inline]
    pub(super) fn within<'a, 'h>(
        &self,
        headers: &'a [(&'h [u8], &'h [u8])],
    ) -> &'a [(&'h [u8], &'h [u8])] {
        headers.get(self.first..self.end).unwrap_or_default()
    }

    /// The last line's value, `None` when there is no line.
    #[inline]
    pub(super) fn last<'h>(&self, headers: &[(&'h [u8], &'h [u8])]) -> Option<&'h [u8]> {
        let end = self.end.checked_sub(1)?;
        headers.get(end).map(|&(_, value)| value)
    }

    /// The run of `headers` before the last line that holds every other line of the name (other names may be
    /// interleaved there).
    #[inline]
    pub(super) fn before_last<'a, 'h>(
        &self,
        headers: &'a [(&'h [u8], &'h [u8])],
    ) -> &'a [(&'h [u8], &'h [u8])] {
        headers
            .get(self.first..self.end.saturating_sub(1))
            .unwrap_or_default()
    }
}

impl NameTable {
    pub(super) fn new<'a>(names: impl Iterator<Item = &'a str>) -> NameTable {
        let mut known: Vec<Box<str>> = Vec::new();
        for n in names {
            if !known.iter().any(|k| &**k == n) {
                known.push(n.into());
            }
        }
        NameTable {
            lengths: known.iter().fold(0, |m, n| m | length_bit(n.len())),
            known,
        }
    }

    /// Whether some known name has this length; a name that fails this is neither a client-IP header nor a
    /// look-alike of one (`_` replaces `-` one for one).
    #[inline]
    fn may_match(&self, name: &[u8]) -> bool {
        self.lengths & length_bit(name.len()) != 0
    }

    /// Whether `name` is exactly a known client-IP header (any case).
    #[inline]
    pub(super) fn is_forwarding(&self, name: &[u8]) -> bool {
        self.may_match(name) && self.known.iter().any(|n| name_is(name, n))
    }

    /// Whether `name` is a `_` look-alike of a known client-IP header. A name that is itself a known header is
    /// never a look-alike: with `x_real_ip` configured, `X_Real_IP` is that header even though it also looks like
    /// the built-in `x-real-ip`.
    #[inline]
    pub(super) fn is_variant(&self, name: &[u8]) -> bool {
        self.may_match(name)
            && has_underscore(name)
            && self.known.iter().any(|n| name_is_variant(name, n))
            && !self.known.iter().any(|n| name_is(name, n))
    }

    /// One pass over the names: the list-header lines, client-IP headers and look-alikes, repeated list headers.
    #[inline(always)]
    pub(super) fn scan(&self, headers: &[(&[u8], &[u8])]) -> Scan {
        let mut scan = Scan {
            xff: Lines::default(),
            forwarded: Lines::default(),
            forwarding: false,
            spoof: SpoofSignals::NONE,
        };
        for (i, (name, _)) in headers.iter().enumerate() {
            if !self.may_match(name) {
                continue;
            }
            if name_is(name, "x-forwarded-for") {
                scan.xff.add(i);
                scan.forwarding = true;
            } else {
                self.scan_other(&mut scan, i, name);
            }
        }
        if scan.xff.count > 1 {
            scan.spoof.insert(Spoof::MultipleXffLines);
        }
        if scan.forwarded.count > 1 {
            scan.spoof.insert(Spoof::MultipleForwardedLines);
        }
        scan
    }

    /// The rest of [`NameTable::scan`] for one name, out of line so the loop over ordinary names stays small.
    #[inline(never)]
    fn scan_other(&self, scan: &mut Scan, i: usize, name: &[u8]) {
        if name_is(name, "forwarded") {
            scan.forwarded.add(i);
            scan.forwarding = true;
        } else if self.is_variant(name) {
            scan.spoof.insert(Spoof::HeaderNameVariant);
            scan.forwarding = true;
        } else if self.is_forwarding(name) {
            scan.forwarding = true;
        }
    }
}
