//! A bounds-checked, zero-copy reader and a writer for the proxy-wasm pair encoding (header maps).
//!
//! Layout: a little-endian `u32` count, a `u32` key length and a `u32` value length per pair, then
//! each key and value followed by a NUL. A malformed buffer yields `None`; nothing here panics.

/// Parses a host-provided pair buffer into borrowed `(name, value)` slices, in map order.
pub(crate) fn parse(buf: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let (count, mut sizes) = take_u32(buf)?;
    // Each pair needs at least 8 bytes of sizes and 2 NULs: reject impossible counts before allocating.
    let count = usize::try_from(count).ok()?;
    if count > buf.len() / 10 {
        return None;
    }
    let (size_table, mut data) = sizes.split_at_checked(count.checked_mul(8)?)?;
    sizes = size_table;
    let mut pairs = Vec::with_capacity(count);
    while let Some((entry, rest)) = sizes.split_first_chunk::<8>() {
        sizes = rest;
        let (k, v) = entry.split_at(4);
        let k = usize::try_from(u32::from_le_bytes(k.try_into().ok()?)).ok()?;
        let v = usize::try_from(u32::from_le_bytes(v.try_into().ok()?)).ok()?;
        let (key, rest) = data.split_at_checked(k)?;
        let rest = rest.strip_prefix(b"\0")?;
        let (value, rest) = rest.split_at_checked(v)?;
        data = rest.strip_prefix(b"\0")?;
        pairs.push((key, value));
    }
    Some(pairs)
}

/// Encodes pairs (for local-reply headers).
pub(crate) fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&len32(pairs.len()).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&len32(k.len()).to_le_bytes());
        out.extend_from_slice(&len32(v.len()).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn take_u32(buf: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// Local-reply headers are a handful of short strings; saturating only guards the conversion.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_is_rejected() {
        let buf = encode(&[("x-a", "1"), ("b", "")]);
        assert_eq!(
            parse(&buf).unwrap(),
            vec![(&b"x-a"[..], &b"1"[..]), (&b"b"[..], &b""[..])]
        );
        for cut in 0..buf.len() {
            assert_eq!(parse(buf.get(..cut).unwrap()), None, "prefix {cut}");
        }
        assert_eq!(parse(&u32::MAX.to_le_bytes()), None);
    }
}
