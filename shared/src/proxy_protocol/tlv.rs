//! PROXY v2 Type-Length-Value extensions: a lazy, fused iterator over typed TLVs.
//!
//! Each TLV is a type byte, a 16-bit big-endian value length and the value. The decoder has
//! already checked the framing of a decoded header's TLVs, the CRC32C and the UNIQUE_ID cap;
//! the iterator interprets the value of each registered type when it gets there, and stops for
//! good at the first TLV it cannot interpret (the ppp `TypeLengthValues` shape).

use core::iter::FusedIterator;

use super::TlvError;
use crate::cursor::Cursor;

/// Registered TLV type numbers (spec section 2.2) and the cloud vendors' custom types.
pub mod tlv_type {
    /// Application-Layer Protocol Negotiation: the negotiated protocol, e.g. `h2`.
    pub const ALPN: u8 = 0x01;
    /// The host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// CRC32C of the whole header, computed with this field zeroed.
    pub const CRC32C: u8 = 0x03;
    /// Padding; ignored.
    pub const NOOP: u8 = 0x04;
    /// An opaque connection id of at most 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS details of the client connection, with sub-TLVs.
    pub const SSL: u8 = 0x20;
    /// SSL sub-TLV: the TLS version, e.g. `TLSv1.3`.
    pub const SSL_VERSION: u8 = 0x21;
    /// SSL sub-TLV: the client certificate's Common Name.
    pub const SSL_CN: u8 = 0x22;
    /// SSL sub-TLV: the cipher name.
    pub const SSL_CIPHER: u8 = 0x23;
    /// SSL sub-TLV: the certificate signature algorithm.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// SSL sub-TLV: the certificate key algorithm.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// The sender's network namespace name.
    pub const NETNS: u8 = 0x30;
    /// Google Cloud Private Service Connect: the 8-byte connection id (custom range).
    pub const GCP: u8 = 0xE0;
    /// AWS: subtype 0x01 carries the VPC endpoint id (custom range).
    pub const AWS: u8 = 0xEA;
    /// Azure: subtype 0x01 carries the private endpoint LinkID (custom range).
    pub const AZURE: u8 = 0xEE;
    /// AWS subtype: VPC endpoint id.
    pub const AWS_VPCE_ID: u8 = 0x01;
    /// Azure subtype: private endpoint LinkID, a little-endian `u32`.
    pub const AZURE_PRIVATE_ENDPOINT_LINKID: u8 = 0x01;
    /// UNIQUE_ID's maximum length.
    pub const UNIQUE_ID_MAX_LEN: usize = 128;
}

/// One interpreted TLV, borrowing its value from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tlv<'a> {
    /// `PP2_TYPE_ALPN` (0x01).
    Alpn(&'a [u8]),
    /// `PP2_TYPE_AUTHORITY` (0x02): the requested host name.
    Authority(&'a str),
    /// `PP2_TYPE_CRC32C` (0x03). When decoding it has been verified; when encoding its
    /// position is kept and its value is computed for you.
    Crc32c(u32),
    /// `PP2_TYPE_NOOP` (0x04): padding bytes.
    Noop(&'a [u8]),
    /// `PP2_TYPE_UNIQUE_ID` (0x05): at most 128 opaque bytes.
    UniqueId(&'a [u8]),
    /// `PP2_TYPE_SSL` (0x20).
    Ssl(Ssl<'a>),
    /// `PP2_TYPE_NETNS` (0x30): the namespace name.
    Netns(&'a str),
    /// Google Cloud Private Service Connect (0xE0): the connection id.
    GcpPscConnectionId(u64),
    /// AWS (0xEA).
    Aws(Aws<'a>),
    /// Azure (0xEE).
    Azure(Azure<'a>),
    /// Any other type, uninterpreted.
    Other {
        /// The TLV type; never one of the typed variants' types.
        tlv_type: u8,
        /// The value.
        value: &'a [u8],
    },
}

/// The AWS TLV (0xEA): a subtype byte and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aws<'a> {
    /// Subtype 0x01: the VPC endpoint id, e.g. `vpce-08d2bf15fac5001c9`.
    VpceId(&'a str),
    /// Another subtype, uninterpreted.
    Other {
        /// The subtype byte; never 0x01.
        subtype: u8,
        /// The data after it.
        value: &'a [u8],
    },
}

/// The Azure TLV (0xEE): a subtype byte and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Azure<'a> {
    /// Subtype 0x01: the private endpoint LinkID (little-endian on the wire).
    LinkId(u32),
    /// Another subtype, uninterpreted.
    Other {
        /// The subtype byte; never 0x01.
        subtype: u8,
        /// The data after it.
        value: &'a [u8],
    },
}

/// The SSL TLV (0x20): client flags, the verify result and sub-TLVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ssl<'a> {
    client: ClientFlags,
    verify: u32,
    sub_tlvs: &'a [u8],
}

impl<'a> Ssl<'a> {
    /// An SSL TLV value; `sub_tlvs` is an encoded sub-TLV block
    /// (see [`encode_ssl_sub_tlvs`](super::encode_ssl_sub_tlvs)).
    pub fn new(client: ClientFlags, verify: u32, sub_tlvs: &'a [u8]) -> Self {
        Self {
            client,
            verify,
            sub_tlvs,
        }
    }

    /// Which TLS elements were present on the client connection.
    pub fn client(&self) -> ClientFlags {
        self.client
    }

    /// Zero if the client presented a certificate and it verified, non-zero otherwise.
    pub fn verify(&self) -> u32 {
        self.verify
    }

    /// The sub-TLVs, interpreted lazily.
    pub fn sub_tlvs(&self) -> SslTlvs<'a> {
        SslTlvs {
            raw: RawTlvs::new(self.sub_tlvs),
        }
    }

    /// The encoded sub-TLV block.
    pub fn raw_sub_tlvs(&self) -> &'a [u8] {
        self.sub_tlvs
    }
}

/// The `client` bit field of the SSL TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClientFlags(pub u8);

impl ClientFlags {
    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    pub const SSL: ClientFlags = ClientFlags(0x01);
    /// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
    pub const CERT_CONN: ClientFlags = ClientFlags(0x02);
    /// `PP2_CLIENT_CERT_SESS`: the client presented a certificate at least once in the session.
    pub const CERT_SESS: ClientFlags = ClientFlags(0x04);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: ClientFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// One interpreted SSL sub-TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslTlv<'a> {
    /// `PP2_SUBTYPE_SSL_VERSION` (0x21).
    Version(&'a str),
    /// `PP2_SUBTYPE_SSL_CN` (0x22).
    CommonName(&'a str),
    /// `PP2_SUBTYPE_SSL_CIPHER` (0x23).
    Cipher(&'a str),
    /// `PP2_SUBTYPE_SSL_SIG_ALG` (0x24).
    SigAlg(&'a str),
    /// `PP2_SUBTYPE_SSL_KEY_ALG` (0x25).
    KeyAlg(&'a str),
    /// Any other sub-type, uninterpreted.
    Other {
        /// The sub-TLV type; never one of the typed variants' types.
        tlv_type: u8,
        /// The value.
        value: &'a [u8],
    },
}

/// A lazy iterator over a v2 header's TLVs; fused, and stops after the first error.
#[derive(Debug, Clone)]
pub struct Tlvs<'a> {
    raw: RawTlvs<'a>,
}

impl<'a> Tlvs<'a> {
    /// Iterates over an encoded TLV block.
    pub fn new(block: &'a [u8]) -> Self {
        Self {
            raw: RawTlvs::new(block),
        }
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let item = self
            .raw
            .next()?
            .and_then(|r| Tlv::parse(r.tlv_type, r.value));
        if item.is_err() {
            self.raw.stop();
        }
        Some(item)
    }
}

impl FusedIterator for Tlvs<'_> {}

/// A lazy iterator over the SSL TLV's sub-TLVs; fused, and stops after the first error.
#[derive(Debug, Clone)]
pub struct SslTlvs<'a> {
    raw: RawTlvs<'a>,
}

impl<'a> Iterator for SslTlvs<'a> {
    type Item = Result<SslTlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self
            .raw
            .next()?
            .and_then(|r| SslTlv::parse(r.tlv_type, r.value));
        if item.is_err() {
            self.raw.stop();
        }
        Some(item)
    }
}

impl FusedIterator for SslTlvs<'_> {}

impl<'a> Tlv<'a> {
    /// The wire type byte.
    pub fn tlv_type(&self) -> u8 {
        match self {
            Self::Alpn(_) => tlv_type::ALPN,
            Self::Authority(_) => tlv_type::AUTHORITY,
            Self::Crc32c(_) => tlv_type::CRC32C,
            Self::Noop(_) => tlv_type::NOOP,
            Self::UniqueId(_) => tlv_type::UNIQUE_ID,
            Self::Ssl(_) => tlv_type::SSL,
            Self::Netns(_) => tlv_type::NETNS,
            Self::GcpPscConnectionId(_) => tlv_type::GCP,
            Self::Aws(_) => tlv_type::AWS,
            Self::Azure(_) => tlv_type::AZURE,
            Self::Other { tlv_type, .. } => *tlv_type,
        }
    }

    /// Interprets one TLV value of type `t`.
    fn parse(t: u8, value: &'a [u8]) -> Result<Self, TlvError> {
        let text =
            |value| core::str::from_utf8(value).map_err(|_| TlvError::NotUtf8 { tlv_type: t });
        let bad_length = |expected| TlvError::BadLength {
            tlv_type: t,
            length: value.len(),
            expected,
        };
        Ok(match t {
            tlv_type::ALPN => Self::Alpn(value),
            tlv_type::AUTHORITY => Self::Authority(text(value)?),
            tlv_type::CRC32C => {
                let b: &[u8; 4] = value.try_into().map_err(|_| bad_length("4 bytes"))?;
                Self::Crc32c(u32::from_be_bytes(*b))
            }
            tlv_type::NOOP => Self::Noop(value),
            tlv_type::UNIQUE_ID if value.len() > tlv_type::UNIQUE_ID_MAX_LEN => {
                return Err(bad_length("at most 128 bytes"));
            }
            tlv_type::UNIQUE_ID => Self::UniqueId(value),
            tlv_type::SSL => {
                let mut c = Cursor::new(value);
                let (Some(client), Some(verify)) = (c.u8(), c.u32_be()) else {
                    return Err(bad_length("at least 5 bytes"));
                };
                Self::Ssl(Ssl::new(ClientFlags(client), verify, c.rest()))
            }
            tlv_type::NETNS => Self::Netns(text(value)?),
            tlv_type::GCP => {
                let b: &[u8; 8] = value.try_into().map_err(|_| bad_length("8 bytes"))?;
                Self::GcpPscConnectionId(u64::from_be_bytes(*b))
            }
            tlv_type::AWS => match value.split_first() {
                None => return Err(bad_length("at least 1 byte")),
                Some((&tlv_type::AWS_VPCE_ID, id)) => Self::Aws(Aws::VpceId(text(id)?)),
                Some((&subtype, value)) => Self::Aws(Aws::Other { subtype, value }),
            },
            tlv_type::AZURE => match value.split_first() {
                None => return Err(bad_length("at least 1 byte")),
                Some((&tlv_type::AZURE_PRIVATE_ENDPOINT_LINKID, id)) => {
                    let b: &[u8; 4] = id
                        .try_into()
                        .map_err(|_| bad_length("5 bytes for a LinkID"))?;
                    Self::Azure(Azure::LinkId(u32::from_le_bytes(*b)))
                }
                Some((&subtype, value)) => Self::Azure(Azure::Other { subtype, value }),
            },
            tlv_type => Self::Other { tlv_type, value },
        })
    }

    /// Whether [`Tlv::Other`] with this type would come back typed from the decoder.
    pub(crate) fn has_typed_variant(t: u8) -> bool {
        matches!(
            t,
            tlv_type::ALPN
                | tlv_type::AUTHORITY
                | tlv_type::CRC32C
                | tlv_type::NOOP
                | tlv_type::UNIQUE_ID
                | tlv_type::SSL
                | tlv_type::NETNS
                | tlv_type::GCP
                | tlv_type::AWS
                | tlv_type::AZURE
        )
    }

    /// Appends the value bytes (not the type and length) to `out`.
    pub(crate) fn write_value(&self, out: &mut Vec<u8>) {
        match self {
            Self::Alpn(v) | Self::Noop(v) | Self::UniqueId(v) | Self::Other { value: v, .. } => {
                out.extend_from_slice(v);
            }
            Self::Authority(s) | Self::Netns(s) => out.extend_from_slice(s.as_bytes()),
            Self::Crc32c(c) => out.extend_from_slice(&c.to_be_bytes()),
            Self::Ssl(ssl) => {
                out.push(ssl.client.0);
                out.extend_from_slice(&ssl.verify.to_be_bytes());
                out.extend_from_slice(ssl.sub_tlvs);
            }
            Self::GcpPscConnectionId(id) => out.extend_from_slice(&id.to_be_bytes()),
            Self::Aws(Aws::VpceId(id)) => {
                out.push(tlv_type::AWS_VPCE_ID);
                out.extend_from_slice(id.as_bytes());
            }
            Self::Aws(Aws::Other { subtype, value })
            | Self::Azure(Azure::Other { subtype, value }) => {
                out.push(*subtype);
                out.extend_from_slice(value);
            }
            Self::Azure(Azure::LinkId(id)) => {
                out.push(tlv_type::AZURE_PRIVATE_ENDPOINT_LINKID);
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
    }
}

impl<'a> SslTlv<'a> {
    /// The wire type byte.
    pub fn tlv_type(&self) -> u8 {
        match self {
            Self::Version(_) => tlv_type::SSL_VERSION,
            Self::CommonName(_) => tlv_type::SSL_CN,
            Self::Cipher(_) => tlv_type::SSL_CIPHER,
            Self::SigAlg(_) => tlv_type::SSL_SIG_ALG,
            Self::KeyAlg(_) => tlv_type::SSL_KEY_ALG,
            Self::Other { tlv_type, .. } => *tlv_type,
        }
    }

    /// The value bytes.
    pub(crate) fn value(&self) -> &'a [u8] {
        match self {
            Self::Version(s)
            | Self::CommonName(s)
            | Self::Cipher(s)
            | Self::SigAlg(s)
            | Self::KeyAlg(s) => s.as_bytes(),
            Self::Other { value, .. } => value,
        }
    }

    fn parse(t: u8, value: &'a [u8]) -> Result<Self, TlvError> {
        let text = || core::str::from_utf8(value).map_err(|_| TlvError::NotUtf8 { tlv_type: t });
        Ok(match t {
            tlv_type::SSL_VERSION => Self::Version(text()?),
            tlv_type::SSL_CN => Self::CommonName(text()?),
            tlv_type::SSL_CIPHER => Self::Cipher(text()?),
            tlv_type::SSL_SIG_ALG => Self::SigAlg(text()?),
            tlv_type::SSL_KEY_ALG => Self::KeyAlg(text()?),
            tlv_type => Self::Other { tlv_type, value },
        })
    }

    /// Whether [`SslTlv::Other`] with this type would come back typed from the decoder.
    pub(crate) fn has_typed_variant(t: u8) -> bool {
        (tlv_type::SSL_VERSION..=tlv_type::SSL_KEY_ALG).contains(&t)
    }
}

/// One TLV as framed on the wire, uninterpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTlv<'a> {
    /// The type byte.
    pub tlv_type: u8,
    /// The value bytes.
    pub value: &'a [u8],
}

/// The framing layer alone: TLVs as type and value, without interpreting any value.
/// Fused; stops for good at the first TLV that runs past the end of the block.
///
/// For forwarding TLVs unchanged or picking out a custom type cheaply; [`Tlvs`] is the
/// interpreted view.
#[derive(Debug, Clone)]
pub struct RawTlvs<'a> {
    cursor: Cursor<'a>,
    done: bool,
}

impl<'a> RawTlvs<'a> {
    /// Iterates over an encoded TLV block.
    pub fn new(block: &'a [u8]) -> Self {
        Self {
            cursor: Cursor::new(block),
            done: false,
        }
    }

    fn stop(&mut self) {
        self.done = true;
    }
}

impl<'a> Iterator for RawTlvs<'a> {
    type Item = Result<RawTlv<'a>, TlvError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.cursor.is_empty() {
            return None;
        }
        let offset = self.cursor.position();
        let mut c = self.cursor.clone();
        if let Some(&[tlv_type, hi, lo]) = c.take_array::<3>() {
            if let Some(value) = c.take(usize::from(u16::from_be_bytes([hi, lo]))) {
                self.cursor = c;
                return Some(Ok(RawTlv { tlv_type, value }));
            }
        }
        self.done = true;
        Some(Err(TlvError::Truncated {
            tlv_type: self.cursor.peek_rest().first().copied().unwrap_or(0),
            offset,
        }))
    }
}

impl FusedIterator for RawTlvs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterator_interprets_and_then_stops_for_good() {
        // ALPN "h2", a GCP TLV of the wrong length, then a valid NOOP that must not be reached.
        let block = [0x01, 0, 2, b'h', b'2', 0xE0, 0, 1, 9, 0x04, 0, 0];
        let mut it = Tlvs::new(&block);
        assert_eq!(it.next(), Some(Ok(Tlv::Alpn(b"h2"))));
        assert_eq!(
            it.next(),
            Some(Err(TlvError::BadLength {
                tlv_type: 0xE0,
                length: 1,
                expected: "8 bytes"
            }))
        );
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn truncated_framing_is_reported_with_its_offset() {
        let block = [0x04, 0, 0, 0x02, 0, 5, b'a'];
        let items: Vec<_> = Tlvs::new(&block).collect();
        assert_eq!(
            items,
            vec![
                Ok(Tlv::Noop(b"")),
                Err(TlvError::Truncated {
                    tlv_type: 0x02,
                    offset: 3
                })
            ]
        );
    }

    #[test]
    fn raw_iterator_frames_without_interpreting() {
        // A GCP TLV of the wrong length is fine at this layer; the truncated one is not.
        let block = [0xE0, 0, 1, 9, 0x02, 0, 5, b'a'];
        let items: Vec<_> = RawTlvs::new(&block).collect();
        assert_eq!(
            items,
            vec![
                Ok(RawTlv {
                    tlv_type: 0xE0,
                    value: &[9]
                }),
                Err(TlvError::Truncated {
                    tlv_type: 0x02,
                    offset: 4
                })
            ]
        );
    }

    #[test]
    fn vendor_tlvs() {
        let block = [
            0xEA, 0, 5, 0x01, b'v', b'p', b'c', b'e', // AWS VPC endpoint id
            0xEE, 0, 5, 0x01, 0x78, 0x56, 0x34, 0x12, // Azure LinkID, little-endian
            0xE0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2, // GCP PSC id, big-endian
            0xEA, 0, 2, 0x07, 0xFF, // unknown AWS subtype
        ];
        let items: Vec<_> = Tlvs::new(&block).collect();
        assert_eq!(
            items,
            vec![
                Ok(Tlv::Aws(Aws::VpceId("vpce"))),
                Ok(Tlv::Azure(Azure::LinkId(0x1234_5678))),
                Ok(Tlv::GcpPscConnectionId(0x0102)),
                Ok(Tlv::Aws(Aws::Other {
                    subtype: 7,
                    value: &[0xFF]
                })),
            ]
        );
    }

    #[test]
    fn ssl_sub_tlvs() {
        let block = [
            0x20, 0, 15, 0x05, 0, 0, 0, 0, // client CERT_CONN|SSL, verify 0
            0x21, 0, 3, b'T', b'L', b'S', // version
            0x22, 0, 1, 0xFF, // CN that is not UTF-8
        ];
        let ssl = match Tlvs::new(&block).next() {
            Some(Ok(Tlv::Ssl(ssl))) => Some(ssl),
            _ => None,
        }
        .expect("an SSL TLV");
        assert!(ssl.client().contains(ClientFlags::SSL));
        assert!(ssl.client().contains(ClientFlags::CERT_SESS));
        assert!(!ssl.client().contains(ClientFlags::CERT_CONN));
        assert_eq!(ssl.verify(), 0);
        let subs: Vec<_> = ssl.sub_tlvs().collect();
        assert_eq!(
            subs,
            vec![
                Ok(SslTlv::Version("TLS")),
                Err(TlvError::NotUtf8 { tlv_type: 0x22 })
            ]
        );
    }
}
