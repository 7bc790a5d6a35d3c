//! Equality of short byte strings without a `memcmp` call.
//!
//! In the Wasm module `==` on slices calls the C library's `memcmp`, which compares one byte per
//! loop iteration behind a call: about 200 machine instructions for an 8-byte address under
//! wasmtime (BENCHMARKS.md, "Wasm filter"). The filter compares a few short strings on every
//! request (addresses, metric names), so it compares them eight bytes at a time here.

/// Whether `a` and `b` hold the same bytes.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_tail, b_tail) = (a_words.remainder(), b_words.remainder());
    a_words.zip(b_words).all(|(x, y)| word(x) == word(y))
        && a_tail.iter().zip(b_tail).all(|(x, y)| x == y)
}

/// An 8-byte chunk as one word (`chunks_exact(8)` only yields 8-byte chunks).
fn word(chunk: &[u8]) -> u64 {
    <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_agrees_with_slice_equality() {
        let samples: [&[u8]; 8] = [
            b"",
            b"1",
            b"10.0.0.2",
            b"10.0.0.3",
            b"2001:db8::1",
            b"2001:db8::2",
            b"trueip.decision.x-forwarded-for",
            b"trueip.decision.x-forwarded-fox",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
