//! PROXY protocol v2: a 16-byte fixed part (signature, version/command, family/transport,
//! length), the address block, then TLVs up to the announced length.
//!
//! The fixed part is checked byte by byte as it arrives, so a wrong signature, version,
//! command or family fails at once instead of waiting for the length to be satisfied. Once the
//! whole header is buffered the address block is read, the TLV framing is walked, the
//! UNIQUE_ID cap is enforced and a CRC32C TLV, if any, is verified.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::crc32c::Crc32c;
use super::tlv::{RawTlvs, tlv_type};
use super::{
    Addresses, Command, DecodeError, Decoded, Excerpt, Header, Transport, V2_SIGNATURE, Version,
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
pub fn decode_v2(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let short = || DecodeError::Incomplete {
        needed: FIXED_LEN.saturating_sub(buf.len()).max(1),
    };
    let seen = buf.get(..V2_SIGNATURE.len()).unwrap_or(buf);
    if !V2_SIGNATURE.starts_with(seen) {
        return Err(DecodeError::NotProxy {
            found: Excerpt::new(buf),
        });
    }
    let mut c = Cursor::new(buf);
    c.take_array::<12>().ok_or_else(short)?;

    let ver_cmd = c.u8().ok_or_else(short)?;
    if ver_cmd >> 4 != 2 {
        return Err(DecodeError::V2BadVersion {
            version: ver_cmd >> 4,
        });
    }
    let command = match ver_cmd & 0x0F {
        0x0 => Command::Local,
        0x1 => Command::Proxy,
        command => return Err(DecodeError::V2BadCommand { command }),
    };

    let fam = c.u8().ok_or_else(short)?;
    let (family, transport) = family_transport(fam)?;

    let length = c.u16_be().ok_or_else(short)?;
    let required = family.address_len();
    if length < required {
        return Err(DecodeError::V2AddressBlockTooShort { length, required });
    }
    let total = FIXED_LEN + usize::from(length);
    let mut body = c.sub(usize::from(length)).ok_or(DecodeError::Incomplete {
        needed: total.saturating_sub(buf.len()).max(1),
    })?;

    // `length >= required` was checked above, so the address block is present.
    let mut block = body
        .sub(usize::from(required))
        .ok_or(DecodeError::Incomplete { needed: 1 })?;
    let addresses = match command {
        // LOCAL: the spec says to discard the address block and use the real endpoints.
        Command::Local => Addresses::Unspecified,
        Command::Proxy => read_addresses(&mut block, family),
    };
    let tlvs = body.rest();
    let header = buf.get(..total).unwrap_or(buf);
    check_tlvs(header, tlvs, FIXED_LEN + usize::from(required))?;

    Ok(Decoded {
        header: Header {
            version: Version::V2,
            command,
            transport,
            addresses,
            tlvs,
        },
        consumed: total,
    })
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

/// Reads the address block; its length was checked against the family, so every read succeeds
/// (the `Unspecified` fallbacks are unreachable but keep the parser free of panics).
fn read_addresses(block: &mut Cursor<'_>, family: Family) -> Addresses {
    match family {
        Family::Unspec => Addresses::Unspecified,
        Family::Inet => {
            let (Some(src), Some(dst), Some(sp), Some(dp)) = (
                block.take_array::<4>(),
                block.take_array::<4>(),
                block.u16_be(),
                block.u16_be(),
            ) else {
                return Addresses::Unspecified;
            };
            Addresses::Inet {
                source: SocketAddr::new(Ipv4Addr::from(*src).into(), sp),
                destination: SocketAddr::new(Ipv4Addr::from(*dst).into(), dp),
            }
        }
        Family::Inet6 => {
            let (Some(src), Some(dst), Some(sp), Some(dp)) = (
                block.take_array::<16>(),
                block.take_array::<16>(),
                block.u16_be(),
                block.u16_be(),
            ) else {
                return Addresses::Unspecified;
            };
            Addresses::Inet {
                source: SocketAddr::new(Ipv6Addr::from(*src).into(), sp),
                destination: SocketAddr::new(Ipv6Addr::from(*dst).into(), dp),
            }
        }
        Family::Unix => {
            let (Some(src), Some(dst)) = (block.take_array::<108>(), block.take_array::<108>())
            else {
                return Addresses::Unspecified;
            };
            Addresses::Unix {
                source: *src,
                destination: *dst,
            }
        }
    }
}

/// Walks the TLV framing, enforces the UNIQUE_ID cap and verifies a CRC32C if present.
/// `header` is the whole header; `tlv_start` is where `tlvs` begins within it.
fn check_tlvs(header: &[u8], tlvs: &[u8], tlv_start: usize) -> Result<(), DecodeError> {
    let mut raw = RawTlvs::new(tlvs);
    let mut crc: Option<(usize, u32)> = None;
    loop {
        let position = raw.position();
        let offset = tlv_start + position;
        let Some(item) = raw.next() else { break };
        let (t, value) = item.map_err(|_| DecodeError::V2TlvTruncated {
            tlv_type: tlvs.get(position).copied().unwrap_or(0),
            offset,
        })?;
        let length = u16::try_from(value.len()).unwrap_or(u16::MAX);
        match t {
            tlv_type::CRC32C => {
                let received: &[u8; 4] = value
                    .try_into()
                    .map_err(|_| DecodeError::V2Crc32cLength { length })?;
                if crc.is_some() {
                    return Err(DecodeError::V2Crc32cDuplicate);
                }
                crc = Some((offset + 3, u32::from_be_bytes(*received)));
            }
            tlv_type::UNIQUE_ID if value.len() > tlv_type::UNIQUE_ID_MAX_LEN => {
                return Err(DecodeError::V2UniqueIdTooLong { length });
            }
            _ => {}
        }
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
