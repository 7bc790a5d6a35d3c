//! PROXY protocol v2: a 16-byte fixed part (signature, version/command, family/transport,
//! length), the address block, then TLVs up to the announced length.
//!
//! The fixed part is checked byte by byte as it arrives, so a wrong signature, version,
//! command or family fails at once instead of waiting for the length to be satisfied. Once the
//! whole header is buffered the address block is read, the TLV framing is walked, the
//! UNIQUE_ID cap is enforced and a CRC32C TLV, if any, is verified.

use super::crc32c::Crc32c;
use super::tlv::tlv_type;
use super::{
    Command, DecodeError, Decoded, Endpoints, Excerpt, Header, Transport, V2_SIGNATURE, Version,
};
use crate::cursor::Cursor;

/// The fixed part: signature, version/command, family/transport, length.
pub(crate) const FIXED_LEN: usize = 16;
/// Address block sizes by family (spec section 2.2).
pub(crate) const INET_LEN: u16 = 12;
pub(crate) const INET6_LEN: u16 = 36;
pub(crate) const UNIX_LEN: u16 = 216;

/// Decodes a v2 header at the start of `buf`.
///
/// # Errors
/// [`DecodeError::Incomplete`] while `buf` is a valid prefix (`needed` is exact once the
/// fixed part is in); [`DecodeError::NotProxy`] when the signature does not match; otherwise
/// the `V2*` variant naming the problem.
// See `decode`: the hot path is small and its callers are few.
#[inline(always)]
pub fn decode_v2(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if let Some(decoded) = decode_fast(buf) {
        return Ok(decoded);
    }
    decode_v2_general(buf)
}

/// The fast path: a complete PROXY header over TCP (`0x21`, then `0x11` IPv4 or `0x21` IPv6), which is what
/// load balancers send. It reads the fixed part as one array, compares the signature as one array, takes the
/// address block as a fixed-size array, checks the TLV framing and returns. Anything else (LOCAL, UDP, UNIX,
/// UNSPEC, a short or invalid header, an incomplete buffer, a bad TLV, a CRC32C to verify) is `None`, and the
/// general decoder decides it from scratch, so the fast path can only ever return what the general one would
/// (a property test holds it to that). It makes no call, so where [`decode`](super::decode) is inlined the
/// header stays in registers and the accessors that follow jump straight to the family's arm.
#[inline(always)]
pub(crate) fn decode_fast(buf: &[u8]) -> Option<Decoded<'_>> {
    let (&[ref sig @ .., 0x21, fam @ (0x11 | 0x21), len_hi, len_lo], rest) =
        buf.split_first_chunk::<FIXED_LEN>()?
    else {
        return None;
    };
    if *sig != V2_SIGNATURE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let body = rest.get(..length)?;
    let inet = fam == 0x11;
    let required = if inet { INET_LEN } else { INET6_LEN };
    let (block, tlvs) = body.split_at_checked(usize::from(required))?;
    // A bad TLV is an error and a CRC32C needs checking: the general decoder does both.
    if !plain_tlvs(tlvs) {
        return None;
    }
    // The family is chosen last, right before the accessors match on it, so LLVM can jump from here
    // straight into the family's arm instead of dispatching on a merged kind.
    let endpoints = if inet {
        Endpoints::Wire4(block.first_chunk()?)
    } else {
        Endpoints::Wire6(block.first_chunk()?)
    };
    Some(Decoded {
        header: Header {
            version: Version::V2,
            command: Command::Proxy,
            transport: Transport::Stream,
            endpoints,
            tlvs,
        },
        consumed: FIXED_LEN + length,
    })
}

/// Every v2 header: checks the fixed part byte by byte, then the length against the family, then the TLVs.
#[inline(never)]
pub(crate) fn decode_v2_general(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    // The fixed part is read as one array and destructured, so the common path has no
    // per-field bounds checks; fewer than 16 bytes take the byte-by-byte path below. Bytes
    // 13 and 14 are matched whole against the values the spec defines; the nibble-level
    // diagnosis of anything else is left to the cold error path.
    let Some(&[ref sig @ .., ver_cmd, fam, len_hi, len_lo]) = buf.first_chunk::<FIXED_LEN>() else {
        return Err(check_short_prefix(buf));
    };
    if *sig != V2_SIGNATURE {
        return Err(not_proxy(buf));
    }
    let command = match ver_cmd {
        0x21 => Command::Proxy,
        0x20 => Command::Local,
        _ => return Err(bad_fixed_part(ver_cmd, fam)),
    };
    let (family, transport) = match fam {
        0x11 => (Family::Inet, Transport::Stream),
        0x21 => (Family::Inet6, Transport::Stream),
        0x12 => (Family::Inet, Transport::Dgram),
        0x22 => (Family::Inet6, Transport::Dgram),
        0x00 => (Family::Unspec, Transport::Unspec),
        0x31 => (Family::Unix, Transport::Stream),
        0x32 => (Family::Unix, Transport::Dgram),
        _ => return Err(bad_fixed_part(ver_cmd, fam)),
    };
    let length = u16::from_be_bytes([len_hi, len_lo]);
    let required = family.address_len();
    if length < required {
        return Err(DecodeError::V2AddressBlockTooShort { length, required });
    }
    let total = FIXED_LEN + usize::from(length);
    let Some(header) = buf.get(..total) else {
        return Err(DecodeError::Incomplete {
            needed: total.saturating_sub(buf.len()).max(1),
        });
    };
    // `length >= required` was checked above, so both splits succeed.
    let body = header.get(FIXED_LEN..).unwrap_or_default();
    let (block, tlvs) = body
        .split_at_checked(usize::from(required))
        .unwrap_or_default();
    let endpoints = match command {
        // LOCAL: the spec says to discard the address block and use the real endpoints.
        Command::Local => Endpoints::Unspecified,
        Command::Proxy => read_endpoints(block, family),
    };
    if !tlvs.is_empty() {
        check_tlvs(header, tlvs, FIXED_LEN + usize::from(required))?;
    }
    Ok(Decoded {
        header: Header {
            version: Version::V2,
            command,
            transport,
            endpoints,
            tlvs,
        },
        consumed: total,
    })
}

/// Fewer than 16 bytes: `Incomplete` if they are a valid start of a header, else the error
/// the full header would get (signature, version, command or family byte).
#[cold]
fn check_short_prefix(buf: &[u8]) -> DecodeError {
    let seen = buf.get(..V2_SIGNATURE.len()).unwrap_or(buf);
    if !V2_SIGNATURE.starts_with(seen) {
        return not_proxy(buf);
    }
    let mut rest = Cursor::new(buf.get(V2_SIGNATURE.len()..).unwrap_or_default());
    if let Some(ver_cmd) = rest.u8() {
        if let Err(e) = version_command(ver_cmd) {
            return e;
        }
    }
    if let Some(fam) = rest.u8() {
        if let Err(e) = family_transport(fam) {
            return e;
        }
    }
    DecodeError::Incomplete {
        needed: FIXED_LEN.saturating_sub(buf.len()).max(1),
    }
}

#[cold]
fn not_proxy(buf: &[u8]) -> DecodeError {
    DecodeError::NotProxy {
        found: Excerpt::new(buf),
    }
}

/// Says which nibble of bytes 13 and 14 is wrong; reached only when one is.
#[cold]
fn bad_fixed_part(ver_cmd: u8, fam: u8) -> DecodeError {
    match version_command(ver_cmd).and_then(|_| family_transport(fam)) {
        Err(e) => e,
        // Unreachable: the fast path accepts exactly what these two functions accept.
        Ok(_) => DecodeError::V2BadFamilyTransport { byte: fam },
    }
}

/// Byte 13: version 2 in the high nibble, LOCAL or PROXY in the low one.
fn version_command(byte: u8) -> Result<Command, DecodeError> {
    if byte >> 4 != 2 {
        return Err(DecodeError::V2BadVersion { version: byte >> 4 });
    }
    match byte & 0x0F {
        0x0 => Ok(Command::Local),
        0x1 => Ok(Command::Proxy),
        command => Err(DecodeError::V2BadCommand { command }),
    }
}

/// The address family nibble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Unspec,
    Inet,
    Inet6,
    Unix,
}

impl Family {
    pub(crate) fn address_len(self) -> u16 {
        match self {
            Self::Unspec => 0,
            Self::Inet => INET_LEN,
            Self::Inet6 => INET6_LEN,
            Self::Unix => UNIX_LEN,
        }
    }
}

/// Byte 14. Only the combinations the spec lists are accepted: `UNSPEC` goes with `AF_UNSPEC`
/// and only with it, so the address block layout (and where the TLVs start) is never a guess.
fn family_transport(byte: u8) -> Result<(Family, Transport), DecodeError> {
    let family = match byte >> 4 {
        0x0 => Family::Unspec,
        0x1 => Family::Inet,
        0x2 => Family::Inet6,
        0x3 => Family::Unix,
        family => return Err(DecodeError::V2BadFamily { family }),
    };
    let transport = match byte & 0x0F {
        0x0 => Transport::Unspec,
        0x1 => Transport::Stream,
        0x2 => Transport::Dgram,
        transport => return Err(DecodeError::V2BadTransport { transport }),
    };
    if (family == Family::Unspec) != (transport == Transport::Unspec) {
        return Err(DecodeError::V2BadFamilyTransport { byte });
    }
    Ok((family, transport))
}

/// Takes the address block in its wire layout; `block` is exactly the family's address length.
#[inline(always)]
fn read_endpoints(block: &[u8], family: Family) -> Endpoints<'_> {
    match family {
        Family::Unspec => Endpoints::Unspecified,
        Family::Inet => block
            .first_chunk()
            .map_or(Endpoints::Unspecified, Endpoints::Wire4),
        Family::Inet6 => block
            .first_chunk()
            .map_or(Endpoints::Unspecified, Endpoints::Wire6),
        Family::Unix => Endpoints::Unix(block),
    }
}

/// Whether `tlvs` is well framed, has no CRC32C TLV and no UNIQUE_ID over the cap: what the fast path
/// accepts without help.
///
/// The same checks as [`check_tlvs`], minus the checksum, without a call: with no call left on it, the fast
/// path keeps everything in scratch registers and its callers save none on entry.
#[inline(always)]
fn plain_tlvs(mut rest: &[u8]) -> bool {
    while let Some((&[t, hi, lo], after)) = rest.split_first_chunk::<3>() {
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        let plain = match t {
            tlv_type::CRC32C => false,
            tlv_type::UNIQUE_ID => length <= tlv_type::UNIQUE_ID_MAX_LEN,
            _ => true,
        };
        match after.get(length..) {
            Some(next) if plain => rest = next,
            _ => return false,
        }
    }
    rest.is_empty()
}

/// Walks the TLV framing, enforces the UNIQUE_ID cap and verifies a CRC32C if present.
/// `header` is the whole header; `tlv_start` is where `tlvs` begins within it.
///
/// A plain slice loop rather than the [`RawTlvs`](super::RawTlvs) iterator: it runs on every
/// header with TLVs, and only needs positions when something is wrong.
fn check_tlvs(header: &[u8], tlvs: &[u8], tlv_start: usize) -> Result<(), DecodeError> {
    let offset_of = |rest: &[u8]| tlv_start + (tlvs.len() - rest.len());
    let mut rest = tlvs;
    let mut crc: Option<(usize, u32)> = None;
    while !rest.is_empty() {
        let truncated = |rest: &[u8]| DecodeError::V2TlvTruncated {
            tlv_type: rest.first().copied().unwrap_or(0),
            offset: offset_of(rest),
        };
        let Some((&[t, hi, lo], after)) = rest.split_first_chunk::<3>() else {
            return Err(truncated(rest));
        };
        let length = u16::from_be_bytes([hi, lo]);
        let Some((value, next)) = after.split_at_checked(usize::from(length)) else {
            return Err(truncated(rest));
        };
        match t {
            tlv_type::CRC32C => {
                let received: &[u8; 4] = value
                    .try_into()
                    .map_err(|_| DecodeError::V2Crc32cLength { length })?;
                if crc.is_some() {
                    return Err(DecodeError::V2Crc32cDuplicate);
                }
                crc = Some((offset_of(after), u32::from_be_bytes(*received)));
            }
            tlv_type::UNIQUE_ID if value.len() > tlv_type::UNIQUE_ID_MAX_LEN => {
                return Err(DecodeError::V2UniqueIdTooLong { length });
            }
            _ => {}
        }
        rest = next;
    }
    if let Some((at, received)) = crc {
        let computed = checksum_with_zeroed_field(header, at);
        if computed != received {
            return Err(DecodeError::V2Crc32cMismatch { received, computed });
        }
    }
    Ok(())
}

/// CRC32C of `header` with the 4 bytes at `at` read as zeroes, without copying the header.
pub(crate) fn checksum_with_zeroed_field(header: &[u8], at: usize) -> u32 {
    let (before, after) = header.split_at_checked(at).unwrap_or((header, &[]));
    let after = after.get(4..).unwrap_or(&[]);
    Crc32c::new()
        .update(before)
        .update(&[0; 4])
        .update(after)
        .finish()
}

#[cfg(test)]
mod tests;
