//! The proxy-wasm pair encoding used for header maps in both directions, with cpp-host's limits.
//!
//! Layout (`pairs_util.cc`): a little-endian `u32` count, then a `u32` key length and a `u32` value
//! length per pair, then each key and value followed by a NUL byte.

/// Largest pair buffer the host accepts from a guest (cpp-host `PairsUtil`: 1 MiB).
pub const MAX_PAIRS_BYTES: usize = 1 << 20;
/// Most pairs the host accepts from a guest in one buffer.
pub const MAX_PAIRS: usize = 1024;

/// Encodes pairs for the guest.
pub(crate) fn encode(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let data: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data);
    out.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (key, value) in pairs {
        out.extend_from_slice(&len_u32(key.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(value.len()).to_le_bytes());
    }
    for (key, value) in pairs {
        out.extend_from_slice(key);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out
}

/// Decodes a guest's pair buffer. Like cpp-host, a malformed or oversized buffer yields `None`, which
/// the callers treat as an empty map.
pub(crate) fn decode(buf: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if buf.len() > MAX_PAIRS_BYTES {
        return None;
    }
    let (count, mut rest) = take_u32(buf)?;
    let count = usize::try_from(count).ok()?;
    if count > MAX_PAIRS {
        return None;
    }
    let mut sizes = Vec::with_capacity(count);
    for _ in 0..count {
        let (k, r) = take_u32(rest)?;
        let (v, r) = take_u32(r)?;
        sizes.push((usize::try_from(k).ok()?, usize::try_from(v).ok()?));
        rest = r;
    }
    let mut pairs = Vec::with_capacity(count);
    for (k, v) in sizes {
        let (key, r) = rest.split_at_checked(k)?;
        let r = r.strip_prefix(&[0u8][..])?;
        let (value, r) = r.split_at_checked(v)?;
        rest = r.strip_prefix(&[0u8][..])?;
        pairs.push((key.to_vec(), value.to_vec()));
    }
    Some(pairs)
}

fn take_u32(buf: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// Header data handed to a guest is bounded far below 4 GiB by the header limits, so saturating is
/// only a guard.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed_buffers() {
        let pairs = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"x-y".to_vec(), Vec::new()),
        ];
        let buf = encode(&pairs);
        assert_eq!(decode(&buf), Some(pairs));
        for cut in 0..buf.len() {
            assert_eq!(
                decode(buf.get(..cut).unwrap_or_default()),
                None,
                "prefix {cut}"
            );
        }
        let mut too_many = Vec::new();
        too_many.extend_from_slice(&1025u32.to_le_bytes());
        assert_eq!(decode(&too_many), None);
    }
}
