//! Envoy's own X-Forwarded-For append, left in place when it already holds what the plan would write.
//!
//! With `use_remote_address: true` the connection manager appends the downstream address to
//! X-Forwarded-For before any filter runs (`Utility::appendXff`: `appendForwardedFor(address, ",")`,
//! no space; Envoy coalesces the header into one line). In `rewrite.xff = "append"` mode the plan's value
//! is what arrived followed by `, ` and the same peer address: the same entries, in the same order, as
//! the value Envoy already holds — only the delimiter before the last entry differs. Replacing the header
//! then changes nothing but that space, at the price of a hostcall on every request, so the filter
//! leaves Envoy's value as it is and the upstream sees Envoy's own `,` there (the entries are
//! unchanged; the vectors compare X-Forwarded-For entry by entry).
//!
//! The test is textual and exact: the planned value must be the held value with one space after its
//! last comma (or equal to it when it holds one entry). Anything else — a client entry the plan
//! dropped or rewrote (untrusted peer stripped, an invalid UTF-8 entry written lossily, a line of only
//! separators), an IPv4-mapped peer that Envoy writes as `::ffff:a.b.c.d` and the plan as `a.b.c.d`,
//! Envoy not appending (`skip_xff_append`), or several lines where Envoy would have one — fails it, and
//! the plan is applied as before.
//!
//! Measured first as a run-time comparison of the two lists entry by entry: that cost about 4k Wasm
//! operators, several times the hostcall. This comparison is a few word compares.

use crate::bytes;

/// Whether `planned` holds the entries of `held` (the X-Forwarded-For value Envoy holds) with `, `
/// where Envoy wrote its last `,` — so leaving `held` in place forwards the same list.
pub(crate) fn same_list(held: &[u8], planned: &[u8]) -> bool {
    let Some(comma) = held.iter().rposition(|b| *b == b',') else {
        return bytes::same(held, planned);
    };
    let (head, tail) = held.split_at(comma);
    let (Some(planned_head), Some(planned_tail)) = (planned.get(..comma), planned.get(comma..))
    else {
        return false;
    };
    bytes::same(head, planned_head) && {
        match (tail.strip_prefix(b","), planned_tail.strip_prefix(b", ")) {
            (Some(last), Some(planned_last)) => bytes::same(last, planned_last),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_matches_envoys_value_only_with_the_same_entries() {
        // Envoy appended 10.0.0.2 to the client's list; the plan appends the same peer.
        assert!(same_list(
            b"203.0.113.9, 10.1.0.1,10.0.0.2",
            b"203.0.113.9, 10.1.0.1, 10.0.0.2"
        ));
        // No X-Forwarded-For from the client: Envoy's value is the peer alone.
        assert!(same_list(b"10.0.0.2", b"10.0.0.2"));
        // The plan dropped the client's entries (untrusted peer, stripped).
        assert!(!same_list(b"1.2.3.4,198.51.100.7", b"198.51.100.7"));
        // Envoy did not append, or appended something else.
        assert!(!same_list(b"203.0.113.9", b"203.0.113.9, 10.0.0.2"));
        assert!(!same_list(
            b"203.0.113.9,::ffff:10.0.0.2",
            b"203.0.113.9, 10.0.0.2"
        ));
        // The same text with Envoy's comma, or a different entry, is not the planned list.
        assert!(!same_list(b"203.0.113.9,10.0.0.2", b"203.0.113.9,10.0.0.2"));
        assert!(!same_list(
            b"203.0.113.9,10.0.0.2",
            b"203.0.113.8, 10.0.0.2"
        ));
        assert!(!same_list(b"a,b", b"a, b, c"));
        assert!(!same_list(b"a,b", b""));
    }
}
