//! Where the two request headers Envoy's connection manager writes itself sit in the header list —
//! X-Forwarded-For (its append) and `x-envoy-external-address` — found in one pass, so the filter can
//! re-slice or drop them by position instead of walking every line again for each.

/// Positions of Envoy's own lines in a request's header list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct EnvoyLines {
    /// The first X-Forwarded-For line and how many there are (Envoy coalesces them into one).
    pub(crate) xff: Option<usize>,
    pub(crate) xff_count: usize,
    /// The first `x-envoy-external-address` line and how many there are.
    pub(crate) external: Option<usize>,
    pub(crate) external_count: usize,
}

use crate::bytes::is_name;

const XFF: &[u8] = b"x-forwarded-for";

impl EnvoyLines {
    /// One pass over `lines` (see [`is_name`] for the cost of each comparison).
    pub(crate) fn find(lines: &[(&[u8], &[u8])]) -> EnvoyLines {
        let external = crate::external_address::ENVOY_EXTERNAL_ADDRESS;
        let mut found = EnvoyLines::default();
        for (i, (name, _)) in lines.iter().enumerate() {
            if is_name(name, XFF) {
                found.xff.get_or_insert(i);
                found.xff_count += 1;
            } else if is_name(name, external) {
                found.external.get_or_insert(i);
                found.external_count += 1;
            }
        }
        found
    }
}

/// The value of line `at`, if any.
pub(crate) fn value<'a>(lines: &[(&[u8], &'a [u8])], at: Option<usize>) -> Option<&'a [u8]> {
    at.and_then(|i| lines.get(i)).map(|(_, value)| *value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_line_of_each_and_counts_them() {
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
                xff: Some(1),
                xff_count: 2,
                external: Some(2),
                external_count: 1,
            }
        );
        assert_eq!(value(lines, Some(1)), Some(&b"1.2.3.4"[..]));
        assert_eq!(value(lines, Some(9)), None);
        assert_eq!(EnvoyLines::find(&[]), EnvoyLines::default());
    }
}
