//! CRC32C (Castagnoli), as RFC 4960 appendix B specifies and the PROXY v2 CRC32C TLV uses.
//!
//! Table-driven "slicing-by-8": eight 256-entry tables built at compile time let the loop
//! consume eight bytes per step. Our own code rather than a dependency, so the crate keeps a
//! small, auditable dependency tree and builds unchanged for wasm32-wasip1 (no SIMD paths).

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

const TABLES: [[u32; 256]; 8] = build_tables();

// Runs only at compile time: an out-of-range index here fails the build, it cannot panic at
// run time, and `get` is not usable in a `const fn` on our MSRV.
#[allow(clippy::indexing_slicing)]
const fn build_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// A table entry; a `u8` index is always in range, so the fallback is dead code the
/// optimiser removes along with the bounds check.
#[inline(always)]
fn lookup(table: &[u32; 256], index: u8) -> u32 {
    table.get(usize::from(index)).copied().unwrap_or(0)
}

/// The CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    Crc32c::new().update(data).finish()
}

/// An incremental CRC32C, so a checksum can be computed over pieces (e.g. a header with its
/// checksum field replaced by zeroes) without copying.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crc32c(u32);

impl Crc32c {
    pub(crate) fn new() -> Self {
        Self(!0)
    }

    pub(crate) fn update(self, data: &[u8]) -> Self {
        let [t0, t1, t2, t3, t4, t5, t6, t7] = &TABLES;
        let mut crc = self.0;
        let chunks = data.chunks_exact(8);
        let tail = chunks.remainder();
        for chunk in chunks {
            // `chunks_exact(8)` yields only 8-byte chunks; the `else` arm is unreachable.
            let Ok(&[b0, b1, b2, b3, b4, b5, b6, b7]) = <&[u8; 8]>::try_from(chunk) else {
                continue;
            };
            let lo = crc ^ u32::from_le_bytes([b0, b1, b2, b3]);
            let [l0, l1, l2, l3] = lo.to_le_bytes();
            crc = lookup(t7, l0)
                ^ lookup(t6, l1)
                ^ lookup(t5, l2)
                ^ lookup(t4, l3)
                ^ lookup(t3, b4)
                ^ lookup(t2, b5)
                ^ lookup(t1, b6)
                ^ lookup(t0, b7);
        }
        for &b in tail {
            crc = (crc >> 8) ^ lookup(t0, crc.to_le_bytes()[0] ^ b);
        }
        Self(crc)
    }

    pub(crate) fn finish(self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, straight from the definition.
    fn reference(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn known_check_values() {
        // The standard CRC catalogue check value for CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 (iSCSI) B.4 test patterns.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
    }

    #[test]
    fn matches_reference_and_is_incremental() {
        let data: Vec<u8> = (0u32..1000).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000] {
            let part = data.get(..len).unwrap_or(&data);
            assert_eq!(crc32c(part), reference(part), "len {len}");
        }
        let (a, b) = data.split_at(333);
        assert_eq!(Crc32c::new().update(a).update(b).finish(), crc32c(&data));
    }
}
