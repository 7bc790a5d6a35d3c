//! Building PROXY headers. Every length goes through `u16::try_from`, and every value the
//! decoder would reject (or hand back differently) is refused with an [`EncodeError`], so
//! `decode(encode(x))` gives back `x` for everything the encoder accepts.

use core::net::{IpAddr, SocketAddr};

use super::tlv::tlv_type;
use super::v2::{FIXED_LEN, checksum_with_zeroed_field};
use super::{
    Addresses, Aws, Azure, Command, EncodeError, SslTlv, Tlv, Transport, V1_MAX_LEN, V2_SIGNATURE,
};

/// Encodes a v1 line: `TCP4`/`TCP6` for IP addresses of one family, `UNKNOWN` for
/// [`Addresses::Unspecified`].
///
/// # Errors
/// [`EncodeError::MixedFamilies`] for an IPv4/IPv6 pair, [`EncodeError::UnixInV1`] for UNIX
/// addresses.
pub fn encode_v1(addresses: &Addresses) -> Result<Vec<u8>, EncodeError> {
    let line = match *addresses {
        Addresses::Unspecified => "PROXY UNKNOWN\r\n".to_owned(),
        Addresses::Unix { .. } => return Err(EncodeError::UnixInV1),
        Addresses::Inet {
            source,
            destination,
        } => {
            let protocol = match (source.ip(), destination.ip()) {
                (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
                (IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
                _ => {
                    return Err(EncodeError::MixedFamilies {
                        from: source,
                        to: destination,
                    });
                }
            };
            format!(
                "PROXY {protocol} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
        }
    };
    // Cannot happen with std's address formatting (at most 104 bytes), but the cap is the
    // contract, so it is checked rather than assumed.
    if line.len() > V1_MAX_LEN {
        return Err(EncodeError::V1TooLong { length: line.len() });
    }
    Ok(line.into_bytes())
}

/// Encodes a v2 header; the same as [`V2Builder::encode`].
///
/// # Errors
/// See [`V2Builder::encode_into`].
pub fn encode_v2(builder: &V2Builder<'_>) -> Result<Vec<u8>, EncodeError> {
    builder.encode()
}

/// Encodes SSL sub-TLVs into the block [`Ssl::new`](super::Ssl::new) takes.
///
/// # Errors
/// [`EncodeError::TlvTooBig`] for a value over 65535 bytes; [`EncodeError::TypedTlvAsOther`]
/// for [`SslTlv::Other`] with a type that has a typed variant.
pub fn encode_ssl_sub_tlvs(subs: &[SslTlv<'_>]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    for sub in subs {
        let t = sub.tlv_type();
        if matches!(sub, SslTlv::Other { .. }) && SslTlv::has_typed_variant(t) {
            return Err(EncodeError::TypedTlvAsOther { tlv_type: t });
        }
        let value = sub.value();
        out.push(t);
        out.extend_from_slice(&value_len(t, value.len())?.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// A v2 header to encode: command, transport, addresses and TLVs in order.
///
/// ```
/// use trueip::proxy_protocol::{decode, Addresses, Transport, Tlv, V2Builder};
/// let addresses = Addresses::Inet {
///     source: "192.0.2.1:56324".parse().unwrap(),
///     destination: "198.51.100.7:443".parse().unwrap(),
/// };
/// let bytes = V2Builder::proxy(Transport::Stream, addresses)
///     .tlv(Tlv::Authority("example.com"))
///     .crc32c()
///     .encode()
///     .unwrap();
/// let decoded = decode(&bytes).unwrap();
/// assert_eq!(decoded.consumed, bytes.len());
/// assert_eq!(decoded.header.addresses(), addresses);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Builder<'a> {
    command: Command,
    transport: Transport,
    addresses: Addresses,
    tlvs: Vec<Tlv<'a>>,
}

impl<'a> V2Builder<'a> {
    /// A PROXY command header relaying `addresses` over `transport`.
    pub fn proxy(transport: Transport, addresses: Addresses) -> Self {
        Self {
            command: Command::Proxy,
            transport,
            addresses,
            tlvs: Vec::new(),
        }
    }

    /// A LOCAL command header (e.g. a health check): no addresses, `UNSPEC` transport.
    pub fn local() -> Self {
        Self {
            command: Command::Local,
            transport: Transport::Unspec,
            addresses: Addresses::Unspecified,
            tlvs: Vec::new(),
        }
    }

    /// Appends a TLV. A [`Tlv::Crc32c`] marks where the checksum goes; its value is ignored
    /// and computed when encoding.
    pub fn tlv(mut self, tlv: Tlv<'a>) -> Self {
        self.tlvs.push(tlv);
        self
    }

    /// Appends several TLVs.
    pub fn tlvs(mut self, tlvs: impl IntoIterator<Item = Tlv<'a>>) -> Self {
        self.tlvs.extend(tlvs);
        self
    }

    /// Appends a CRC32C TLV, computed over the finished header when encoding.
    pub fn crc32c(self) -> Self {
        self.tlv(Tlv::Crc32c(0))
    }

    /// Encodes into a new buffer.
    ///
    /// # Errors
    /// See [`V2Builder::encode_into`].
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded header to `out` and returns its length. On error `out` is left as
    /// it was.
    ///
    /// # Errors
    /// [`EncodeError::LocalWithAddresses`], [`EncodeError::TransportMismatch`] and
    /// [`EncodeError::MixedFamilies`] for inconsistent addresses; [`EncodeError::TlvTooBig`],
    /// [`EncodeError::HeaderTooBig`] and [`EncodeError::UniqueIdTooLong`] for lengths;
    /// [`EncodeError::DuplicateCrc32c`], [`EncodeError::TypedTlvAsOther`] and
    /// [`EncodeError::BadSslSubTlvs`] for TLVs the decoder would reject or return typed.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let fam = self.family_transport_byte()?;
        self.check_tlvs()?;
        let start = out.len();
        let result = self.write(out, fam);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write(&self, out: &mut Vec<u8>, fam: u8) -> Result<usize, EncodeError> {
        let start = out.len();
        let command = match self.command {
            Command::Local => 0x0,
            Command::Proxy => 0x1,
        };
        out.extend_from_slice(&V2_SIGNATURE);
        out.push(0x20 | command);
        out.push(fam);
        out.extend_from_slice(&[0, 0]); // length, patched below
        write_addresses(&self.addresses, out);
        let mut crc_at = None;
        for tlv in &self.tlvs {
            let t = tlv.tlv_type();
            out.push(t);
            let len_at = out.len();
            out.extend_from_slice(&[0, 0]);
            if let Tlv::Crc32c(_) = tlv {
                crc_at = Some(out.len() - start);
                out.extend_from_slice(&[0; 4]);
            } else {
                tlv.write_value(out);
            }
            let len = value_len(t, out.len() - len_at - 2)?;
            patch(out, len_at, &len.to_be_bytes());
        }
        let body = out.len() - start - FIXED_LEN;
        let body_len =
            u16::try_from(body).map_err(|_| EncodeError::HeaderTooBig { length: body })?;
        patch(out, start + 14, &body_len.to_be_bytes());
        if let Some(at) = crc_at {
            let header = out.get(start..).unwrap_or(&[]);
            let crc = checksum_with_zeroed_field(header, at);
            patch(out, start + at, &crc.to_be_bytes());
        }
        Ok(out.len() - start)
    }

    /// Byte 14, refusing every combination the decoder would reject or decode differently.
    fn family_transport_byte(&self) -> Result<u8, EncodeError> {
        let mismatch = || EncodeError::TransportMismatch {
            transport: self.transport,
            addresses: self.addresses.kind(),
        };
        if self.command == Command::Local && self.addresses != Addresses::Unspecified {
            return Err(EncodeError::LocalWithAddresses);
        }
        let family = match self.addresses {
            Addresses::Unspecified => 0x00,
            Addresses::Inet {
                source,
                destination,
            } => match (source, destination) {
                (SocketAddr::V4(_), SocketAddr::V4(_)) => 0x10,
                (SocketAddr::V6(_), SocketAddr::V6(_)) => 0x20,
                _ => {
                    return Err(EncodeError::MixedFamilies {
                        from: source,
                        to: destination,
                    });
                }
            },
            Addresses::Unix { .. } => 0x30,
        };
        let transport = match self.transport {
            Transport::Unspec => 0x0,
            Transport::Stream => 0x1,
            Transport::Dgram => 0x2,
        };
        if (family == 0) != (transport == 0) {
            return Err(mismatch());
        }
        Ok(family | transport)
    }

    fn check_tlvs(&self) -> Result<(), EncodeError> {
        let mut crc_seen = false;
        for tlv in &self.tlvs {
            match *tlv {
                Tlv::Crc32c(_) if crc_seen => return Err(EncodeError::DuplicateCrc32c),
                Tlv::Crc32c(_) => crc_seen = true,
                Tlv::UniqueId(id) if id.len() > tlv_type::UNIQUE_ID_MAX_LEN => {
                    return Err(EncodeError::UniqueIdTooLong { length: id.len() });
                }
                Tlv::Other { tlv_type, .. } if Tlv::has_typed_variant(tlv_type) => {
                    return Err(EncodeError::TypedTlvAsOther { tlv_type });
                }
                Tlv::Aws(Aws::Other {
                    subtype: tlv_type::AWS_VPCE_ID,
                    ..
                })
                | Tlv::Azure(Azure::Other {
                    subtype: tlv_type::AZURE_PRIVATE_ENDPOINT_LINKID,
                    ..
                }) => {
                    return Err(EncodeError::TypedTlvAsOther {
                        tlv_type: tlv.tlv_type(),
                    });
                }
                Tlv::Ssl(ssl) => {
                    if let Some(Err(e)) = ssl.sub_tlvs().find(Result::is_err) {
                        return Err(EncodeError::BadSslSubTlvs(e));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn write_addresses(addresses: &Addresses, out: &mut Vec<u8>) {
    match addresses {
        Addresses::Unspecified => {}
        Addresses::Inet {
            source,
            destination,
        } => {
            match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.extend_from_slice(&ipv6_octets(s));
                    out.extend_from_slice(&ipv6_octets(d));
                }
            }
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
        Addresses::Unix {
            source,
            destination,
        } => {
            out.extend_from_slice(source);
            out.extend_from_slice(destination);
        }
    }
}

/// Mixed families are refused before writing; this only keeps the match total.
fn ipv6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn value_len(tlv_type: u8, length: usize) -> Result<u16, EncodeError> {
    u16::try_from(length).map_err(|_| EncodeError::TlvTooBig { tlv_type, length })
}

/// Overwrites `bytes.len()` bytes of `out` at `at`; the positions were written just before.
fn patch(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_protocol::{ClientFlags, Ssl, decode};

    fn inet(s: &str, d: &str) -> Addresses {
        Addresses::Inet {
            source: s.parse().expect("test address"),
            destination: d.parse().expect("test address"),
        }
    }

    #[test]
    fn v1_lines() {
        assert_eq!(
            encode_v1(&inet("192.0.2.1:56324", "198.51.100.7:443")).as_deref(),
            Ok(&b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"[..])
        );
        assert_eq!(
            encode_v1(&inet("[2001:db8::1]:1", "[::1]:0")).as_deref(),
            Ok(&b"PROXY TCP6 2001:db8::1 ::1 1 0\r\n"[..])
        );
        assert_eq!(
            encode_v1(&Addresses::Unspecified).as_deref(),
            Ok(&b"PROXY UNKNOWN\r\n"[..])
        );
        assert!(matches!(
            encode_v1(&inet("192.0.2.1:1", "[::1]:2")),
            Err(EncodeError::MixedFamilies { .. })
        ));
        let unix = Addresses::Unix {
            source: [0; 108],
            destination: [0; 108],
        };
        assert_eq!(encode_v1(&unix), Err(EncodeError::UnixInV1));
    }

    #[test]
    fn v1_longest_line_fits_the_cap() {
        let max = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535";
        let line = encode_v1(&inet(max, max)).expect("encodes");
        assert_eq!(line.len(), 104);
    }

    #[test]
    fn v2_refuses_what_the_decoder_would_reject() {
        let a = inet("192.0.2.1:1", "192.0.2.2:2");
        let cases = [
            (V2Builder::local().tlv(Tlv::Noop(b"")), None),
            (
                V2Builder::proxy(Transport::Unspec, a),
                Some(EncodeError::TransportMismatch {
                    transport: Transport::Unspec,
                    addresses: "inet",
                }),
            ),
            (
                V2Builder::proxy(Transport::Stream, Addresses::Unspecified),
                Some(EncodeError::TransportMismatch {
                    transport: Transport::Stream,
                    addresses: "unspecified",
                }),
            ),
            (
                V2Builder::proxy(Transport::Stream, a).crc32c().crc32c(),
                Some(EncodeError::DuplicateCrc32c),
            ),
            (
                V2Builder::proxy(Transport::Stream, a).tlv(Tlv::UniqueId(&[0; 129])),
                Some(EncodeError::UniqueIdTooLong { length: 129 }),
            ),
            (
                V2Builder::proxy(Transport::Stream, a).tlv(Tlv::Other {
                    tlv_type: 0x02,
                    value: b"x",
                }),
                Some(EncodeError::TypedTlvAsOther { tlv_type: 0x02 }),
            ),
            (
                V2Builder::proxy(Transport::Stream, a).tlv(Tlv::Aws(Aws::Other {
                    subtype: 0x01,
                    value: b"x",
                })),
                Some(EncodeError::TypedTlvAsOther { tlv_type: 0xEA }),
            ),
            (
                V2Builder::proxy(Transport::Stream, a).tlv(Tlv::Alpn(&[0; 70_000])),
                Some(EncodeError::TlvTooBig {
                    tlv_type: 0x01,
                    length: 70_000,
                }),
            ),
            (
                V2Builder::proxy(Transport::Stream, a)
                    .tlv(Tlv::Alpn(&[0; 40_000]))
                    .tlv(Tlv::Noop(&[0; 40_000])),
                Some(EncodeError::HeaderTooBig {
                    length: 12 + 2 * (3 + 40_000),
                }),
            ),
            (
                V2Builder::proxy(Transport::Stream, a).tlv(Tlv::Ssl(Ssl::new(
                    ClientFlags::SSL,
                    0,
                    &[0x21, 0, 9],
                ))),
                Some(EncodeError::BadSslSubTlvs(
                    crate::proxy_protocol::TlvError::Truncated {
                        tlv_type: 0x21,
                        offset: 0,
                    },
                )),
            ),
        ];
        for (builder, expected) in cases {
            let mut out = vec![0xAA];
            let result = builder.encode_into(&mut out);
            match expected {
                None => {
                    let len = result.expect("encodes");
                    let decoded = decode(out.get(1..).unwrap_or(&[])).expect("decodes");
                    assert_eq!(decoded.consumed, len);
                }
                Some(e) => {
                    assert_eq!(result, Err(e));
                    assert_eq!(out, [0xAA], "output restored on error");
                }
            }
        }
    }

    #[test]
    fn v2_checksum_is_computed_where_placed() {
        let bytes = V2Builder::proxy(Transport::Dgram, inet("[::1]:53", "[::2]:5353"))
            .tlv(Tlv::Authority("example.com"))
            .crc32c()
            .tlv(Tlv::Noop(b"pad"))
            .encode()
            .expect("encodes");
        let decoded = decode(&bytes).expect("decodes");
        let tlvs: Vec<_> = decoded.header.tlvs().collect();
        assert_eq!(tlvs.len(), 3);
        assert!(matches!(tlvs.get(1), Some(Ok(Tlv::Crc32c(c))) if *c != 0));
    }

    #[test]
    fn ssl_sub_tlvs_round_trip() {
        let subs = [
            SslTlv::Version("TLSv1.3"),
            SslTlv::CommonName("client.example"),
        ];
        let block = encode_ssl_sub_tlvs(&subs).expect("encodes");
        let ssl = Ssl::new(ClientFlags(0x03), 0, &block);
        let decoded: Vec<_> = ssl.sub_tlvs().collect();
        assert_eq!(decoded, subs.map(Ok).to_vec());
        assert_eq!(
            encode_ssl_sub_tlvs(&[SslTlv::Other {
                tlv_type: 0x22,
                value: b""
            }]),
            Err(EncodeError::TypedTlvAsOther { tlv_type: 0x22 })
        );
    }
}
