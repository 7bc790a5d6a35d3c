//! Where the two request headers Envoy's connection manager writes itself sit in the header list —
//! X-Forwarded-For (its append) and `x-envoy-external-address` — found in one pass, so the filter can
//! re-slice or drop them by position instead of walking every line again for each.
//!
//! Envoy coalesces both (inline headers) into one line each, so there is one of each at most. A host that
//! kept repeated X-Forwarded-For lines apart would still put an appended entry, and the rightmost entry
//! Envoy's sidecar mode takes as the source, at the end of the **last** line: the list is every line
//! joined in order. So the position kept is the last line's, and only that line is cut — the same
//! answer for both shapes, as the shared core gives.

use trueip::forwarded::name_is;

/// Positions of Envoy's own lines in a request's header list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct EnvoyLines {
    /// The last X-Forwarded-For line (where an appended entry ends the list) and how many there are.
    pub(crate) xff: Option<usize>,
    pub(crate) xff_count: usize,
    /// The first `x-envoy-external-address` line and how many there are.
    pub(crate) external: Option<usize>,
    pub(crate) external_count: usize,
}

/// The name Envoy appends to, lowercase (the rewrite plan names it the same way).
pub(crate) const XFF: &str = "x-forwarded-for";

impl EnvoyLines {
    /// One pass over `lines` (names compared eight bytes at a time by the core's [`name_is`]).
    pub(crate) fn find(lines: &[(&[u8], &[u8])]) -> EnvoyLines {
        let external = crate::external_address::ENVOY_EXTERNAL_ADDRESS;
        let mut found = EnvoyLines::default();
        for (i, (name, _)) in lines.iter().enumerate() {
            if name_is(name, XFF) {
                found.xff = Some(i);
                found.xff_count += 1;
            } else if name_is(name, external) {
                found.external.get_or_insert(i);
                found.external_count += 1;
            }
        }
        found
    }

    /// The headers the resolver sees: the last X-Forwarded-For line cut to its first `xff_keep` bytes
    /// (the entry Envoy appended, or took as the source, left out), or dropped when nothing is left; and
    /// the `x-envoy-external-address` line dropped when `drop_external`.
    pub(crate) fn cut(
        &self,
        lines: &mut Vec<(&[u8], &[u8])>,
        xff_keep: Option<usize>,
        drop_external: bool,
    ) {
        let mut drop_xff = None;
        if let (Some(keep), Some(at)) = (xff_keep, self.xff) {
            if let Some((_, value)) = lines.get_mut(at) {
                match value.get(..keep) {
                    Some(kept) if !kept.is_empty() => *value = kept,
                    _ => drop_xff = Some(at),
                }
            }
        }
        // Dropped by position, the later line first so the earlier position stays valid.
        let (first, second) = match (drop_xff, self.external.filter(|_| drop_external)) {
            (Some(a), Some(b)) if a < b => (Some(b), Some(a)),
            (a, b) => (a.or(b), a.and(b)),
        };
        for at in [first, second].into_iter().flatten() {
            if at < lines.len() {
                lines.remove(at);
            }
        }
    }
}

/// The value of line `at`, if any.
pub(crate) fn value<'a>(lines: &[(&[u8], &'a [u8])], at: Option<usize>) -> Option<&'a [u8]> {
    at.and_then(|i| lines.get(i)).map(|(_, value)| *value)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines<'a> = Vec<(&'a [u8], &'a [u8])>;

    #[test]
    fn finds_the_last_xff_line_the_first_external_line_and_counts_them() {
        let lines: &[(&[u8], &[u8])] = &[
            (b":path", b"/"),
            (b"X-Forwarded-For", b"1.2.3.4"),
            (b"x-envoy-external-address", b"10.0.0.2"),
            (b"x-forwarded-for", b"5.6.7.8"),
            (b"x-forwarded-fox", b"9.9.9.9"),
        ];
        assert_eq!(
            EnvoyLines::find(lines),
            EnvoyLines {
                xff: Some(3),
                xff_count: 2,
                external: Some(2),
                external_count: 1,
            }
        );
        assert_eq!(value(lines, Some(3)), Some(&b"5.6.7.8"[..]));
        assert_eq!(value(lines, Some(9)), None);
        assert_eq!(EnvoyLines::find(&[]), EnvoyLines::default());
    }

    #[test]
    fn one_line_is_cut_or_dropped() {
        let mut lines: Lines<'_> = vec![
            (b"x-forwarded-for", b"203.0.113.9,10.0.0.2"),
            (b"x-envoy-external-address", b"10.0.0.2"),
        ];
        let found = EnvoyLines::find(&lines);
        found.cut(&mut lines, Some(11), true);
        assert_eq!(lines, [(&b"x-forwarded-for"[..], &b"203.0.113.9"[..])]);

        let mut lines: Lines<'_> = vec![
            (b"x-envoy-external-address", b"10.0.0.2"),
            (b":path", b"/"),
            (b"x-forwarded-for", b"10.0.0.2"),
        ];
        let found = EnvoyLines::find(&lines);
        found.cut(&mut lines, Some(0), true);
        assert_eq!(lines, [(&b":path"[..], &b"/"[..])]);

        // Nothing Envoy's: nothing changes.
        let mut lines: Lines<'_> = vec![(b"x-forwarded-for", b"203.0.113.9")];
        EnvoyLines::find(&lines).cut(&mut lines, None, false);
        assert_eq!(lines, [(&b"x-forwarded-for"[..], &b"203.0.113.9"[..])]);
    }

    /// Several X-Forwarded-For lines never reach the filter in Envoy (it coalesces them); under a host
    /// that keeps them apart only the last line holds the appended entry, and only it is cut.
    #[test]
    fn several_lines_only_the_last_is_cut() {
        let mut lines: Lines<'_> = vec![
            (b"x-forwarded-for", b"198.51.100.1, 198.51.100.2"),
            (b"x-envoy-external-address", b"10.0.0.2"),
            (b"x-forwarded-for", b"203.0.113.9,10.0.0.2"),
        ];
        let found = EnvoyLines::find(&lines);
        assert_eq!(value(&lines, found.xff), Some(&b"203.0.113.9,10.0.0.2"[..]));
        found.cut(&mut lines, Some(11), false);
        assert_eq!(
            lines,
            [
                (&b"x-forwarded-for"[..], &b"198.51.100.1, 198.51.100.2"[..]),
                (b"x-envoy-external-address", b"10.0.0.2"),
                (b"x-forwarded-for", b"203.0.113.9"),
            ]
        );

        // The last line held only the appended entry: it goes, the earlier line stays whole.
        let mut lines: Lines<'_> = vec![
            (b"x-forwarded-for", b"198.51.100.1, 198.51.100.2"),
            (b"x-envoy-external-address", b"10.0.0.2"),
            (b"x-forwarded-for", b"10.0.0.2"),
        ];
        let found = EnvoyLines::find(&lines);
        found.cut(&mut lines, Some(0), true);
        assert_eq!(
            lines,
            [(&b"x-forwarded-for"[..], &b"198.51.100.1, 198.51.100.2"[..])]
        );
    }
}
