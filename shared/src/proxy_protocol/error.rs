//! Typed errors for decoding and encoding PROXY protocol headers.
//!
//! Decode errors carry the offending value so a log line says what was wrong, and each has a
//! stable snake_case [`DecodeError::kind`] label for metrics and JSON output. The offending
//! bytes are kept in a small inline [`Excerpt`], so rejecting garbage never allocates.

use core::fmt;

/// Why bytes could not be decoded as a PROXY protocol header.
///
/// [`DecodeError::Incomplete`] is the only non-terminal variant: it is returned only while the
/// input is still a valid prefix of some header. Every other variant means the connection
/// must be rejected; reading more bytes cannot fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is a valid prefix; at least `needed` more bytes are required.
    #[error("incomplete PROXY header: at least {needed} more bytes needed")]
    Incomplete {
        /// A lower bound on the number of additional bytes needed (always at least 1).
        needed: usize,
    },
    /// The input starts with neither the v1 `PROXY ` text nor the v2 binary signature.
    #[error("not a PROXY protocol header: starts with \"{found}\"")]
    NotProxy {
        /// The first bytes of the input.
        found: Excerpt,
    },
    /// No CRLF within the first [`V1_MAX_LEN`](super::V1_MAX_LEN) bytes of a v1 line.
    #[error("PROXY v1 line has no CRLF within the first {max} bytes", max = super::V1_MAX_LEN)]
    V1TooLong,
    /// The v1 line ends in a bare LF or contains a CR that is not followed by LF.
    #[error("PROXY v1 line must end with CRLF, found \"{found}\"")]
    V1BadLineEnd {
        /// The bytes around the bad line end.
        found: Excerpt,
    },
    /// The v1 protocol field is not `TCP4`, `TCP6` or `UNKNOWN`.
    #[error("PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN, found \"{found}\"")]
    V1BadProtocol {
        /// The protocol field.
        found: Excerpt,
    },
    /// A v1 separator is missing or doubled, or a field is empty.
    #[error("PROXY v1 syntax: expected {expected}, found \"{found}\"")]
    V1Syntax {
        /// What the grammar required at this point.
        expected: &'static str,
        /// What was there instead.
        found: Excerpt,
    },
    /// A v1 address field is not an IPv4 or IPv6 address in canonical text form.
    #[error("PROXY v1 address is not valid: \"{found}\"")]
    V1BadAddress {
        /// The address field.
        found: Excerpt,
    },
    /// A v1 address is valid but of the other family than the protocol field says.
    #[error("PROXY v1 {protocol} line carries an address of the other family: \"{found}\"")]
    V1FamilyMismatch {
        /// `TCP4` or `TCP6`.
        protocol: &'static str,
        /// The address field.
        found: Excerpt,
    },
    /// A v1 port is not a decimal in 0..=65535 without leading zeroes.
    #[error("PROXY v1 port must be 0..=65535 without leading zeroes, found \"{found}\"")]
    V1BadPort {
        /// The port field.
        found: Excerpt,
    },
    /// The v2 version nibble is not 2.
    #[error("PROXY v2 version must be 2, found {version}")]
    V2BadVersion {
        /// The high nibble of byte 13.
        version: u8,
    },
    /// The v2 command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("PROXY v2 command must be LOCAL or PROXY, found {command:#x}")]
    V2BadCommand {
        /// The low nibble of byte 13.
        command: u8,
    },
    /// The v2 address family nibble is not one of AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX.
    #[error("PROXY v2 address family must be 0..=3, found {family:#x}")]
    V2BadFamily {
        /// The high nibble of byte 14.
        family: u8,
    },
    /// The v2 transport nibble is not one of UNSPEC, STREAM, DGRAM.
    #[error("PROXY v2 transport must be 0..=2, found {transport:#x}")]
    V2BadTransport {
        /// The low nibble of byte 14.
        transport: u8,
    },
    /// The v2 family/transport byte is not one of the combinations the spec lists
    /// (0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32).
    #[error("PROXY v2 family/transport byte {byte:#04x} is not a defined combination")]
    V2BadFamilyTransport {
        /// Byte 14.
        byte: u8,
    },
    /// The v2 length field is smaller than the address block of the announced family.
    #[error("PROXY v2 length {length} is shorter than the {required}-byte address block")]
    V2AddressBlockTooShort {
        /// The length field (bytes after the 16-byte fixed part).
        length: u16,
        /// The size of the announced family's address block.
        required: u16,
    },
    /// A v2 TLV's header or value runs past the end of the header.
    #[error("PROXY v2 TLV {tlv_type:#04x} at offset {offset} runs past the end of the header")]
    V2TlvTruncated {
        /// The TLV type, or 0 when not even the type byte fitted.
        tlv_type: u8,
        /// Offset of the TLV from the start of the header.
        offset: usize,
    },
    /// A v2 CRC32C TLV whose value is not exactly 4 bytes.
    #[error("PROXY v2 CRC32C TLV must be 4 bytes, found {length}")]
    V2Crc32cLength {
        /// The TLV's value length.
        length: u16,
    },
    /// More than one v2 CRC32C TLV: which one to trust would be ambiguous.
    #[error("PROXY v2 header carries more than one CRC32C TLV")]
    V2Crc32cDuplicate,
    /// The v2 CRC32C TLV does not match the header.
    #[error("PROXY v2 CRC32C mismatch: header says {received:#010x}, computed {computed:#010x}")]
    V2Crc32cMismatch {
        /// The checksum carried in the TLV.
        received: u32,
        /// The checksum of the received header with the checksum field zeroed.
        computed: u32,
    },
    /// A v2 UNIQUE_ID TLV longer than the spec's 128 bytes.
    #[error("PROXY v2 UNIQUE_ID TLV is {length} bytes, more than 128")]
    V2UniqueIdTooLong {
        /// The TLV's value length.
        length: u16,
    },
}

impl DecodeError {
    /// A stable snake_case label for metrics, logs and JSON output.
    ///
    /// Labels never change once released; new variants get new labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Incomplete { .. } => "incomplete",
            Self::NotProxy { .. } => "not_proxy",
            Self::V1TooLong => "v1_too_long",
            Self::V1BadLineEnd { .. } => "v1_bad_line_end",
            Self::V1BadProtocol { .. } => "v1_bad_protocol",
            Self::V1Syntax { .. } => "v1_syntax",
            Self::V1BadAddress { .. } => "v1_bad_address",
            Self::V1FamilyMismatch { .. } => "v1_family_mismatch",
            Self::V1BadPort { .. } => "v1_bad_port",
            Self::V2BadVersion { .. } => "v2_bad_version",
            Self::V2BadCommand { .. } => "v2_bad_command",
            Self::V2BadFamily { .. } => "v2_bad_family",
            Self::V2BadTransport { .. } => "v2_bad_transport",
            Self::V2BadFamilyTransport { .. } => "v2_bad_family_transport",
            Self::V2AddressBlockTooShort { .. } => "v2_address_block_too_short",
            Self::V2TlvTruncated { .. } => "v2_tlv_truncated",
            Self::V2Crc32cLength { .. } => "v2_crc32c_length",
            Self::V2Crc32cDuplicate => "v2_crc32c_duplicate",
            Self::V2Crc32cMismatch { .. } => "v2_crc32c_mismatch",
            Self::V2UniqueIdTooLong { .. } => "v2_unique_id_too_long",
        }
    }

    /// Whether more bytes could still complete the header.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Incomplete { .. })
    }
}

/// Why one TLV's value could not be interpreted.
///
/// Returned by the [`Tlvs`](super::Tlvs) and [`SslTlvs`](super::SslTlvs) iterators, which stop
/// for good after the first error. The header itself has already been accepted: TLV framing,
/// CRC32C and UNIQUE_ID are checked by the decoder, while the contents of other registered
/// types are interpreted lazily, when iterated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The TLV header or value runs past the end of the enclosing block.
    #[error("TLV {tlv_type:#04x} at offset {offset} runs past the end of its block")]
    Truncated {
        /// The TLV type, or 0 when not even the type byte fitted.
        tlv_type: u8,
        /// Offset of the TLV within its block.
        offset: usize,
    },
    /// The value length is not what this TLV type requires.
    #[error("TLV {tlv_type:#04x} has a {length}-byte value, expected {expected}")]
    BadLength {
        /// The TLV type.
        tlv_type: u8,
        /// The value length found.
        length: usize,
        /// What the type requires, in words.
        expected: &'static str,
    },
    /// A text TLV whose value is not UTF-8.
    #[error("TLV {tlv_type:#04x} must be UTF-8 text")]
    NotUtf8 {
        /// The TLV type.
        tlv_type: u8,
    },
}

impl TlvError {
    /// A stable snake_case label for metrics, logs and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "tlv_truncated",
            Self::BadLength { .. } => "tlv_bad_length",
            Self::NotUtf8 { .. } => "tlv_not_utf8",
        }
    }
}

/// Why a header could not be encoded. The encoder returns these instead of emitting bytes
/// the decoder would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Source and destination are of different IP families.
    #[error("source {from} and destination {to} are of different IP families")]
    MixedFamilies {
        /// The source address.
        from: core::net::SocketAddr,
        /// The destination address.
        to: core::net::SocketAddr,
    },
    /// PROXY v1 cannot carry UNIX socket addresses.
    #[error("PROXY v1 cannot carry UNIX socket addresses")]
    UnixInV1,
    /// A v1 line would exceed [`V1_MAX_LEN`](super::V1_MAX_LEN).
    #[error("PROXY v1 line would be {length} bytes, more than {max}", max = super::V1_MAX_LEN)]
    V1TooLong {
        /// The line length.
        length: usize,
    },
    /// A LOCAL header carries no addresses (the receiver uses the real endpoints).
    #[error("a LOCAL header cannot carry addresses")]
    LocalWithAddresses,
    /// Addresses and transport disagree: `UNSPEC` goes with no addresses and only with it.
    #[error("transport {transport:?} does not fit the addresses ({addresses})")]
    TransportMismatch {
        /// The requested transport.
        transport: super::Transport,
        /// `"unspecified"`, `"inet"` or `"unix"`.
        addresses: &'static str,
    },
    /// A TLV value longer than a 16-bit length can say.
    #[error("TLV {tlv_type:#04x} value is {length} bytes, more than 65535")]
    TlvTooBig {
        /// The TLV type.
        tlv_type: u8,
        /// The value length.
        length: usize,
    },
    /// The v2 address block and TLVs together exceed 65535 bytes.
    #[error("PROXY v2 header body would be {length} bytes, more than 65535")]
    HeaderTooBig {
        /// The body length (after the 16-byte fixed part).
        length: usize,
    },
    /// A UNIQUE_ID longer than 128 bytes.
    #[error("UNIQUE_ID is {length} bytes, more than 128")]
    UniqueIdTooLong {
        /// The value length.
        length: usize,
    },
    /// More than one CRC32C TLV was requested.
    #[error("more than one CRC32C TLV requested")]
    DuplicateCrc32c,
    /// [`Tlv::Other`](super::Tlv::Other) used for a type that has a typed variant; the decoder
    /// would hand it back typed (or reject it), so it would not round-trip.
    #[error("TLV type {tlv_type:#04x} has a typed variant; use it instead of Tlv::Other")]
    TypedTlvAsOther {
        /// The TLV type.
        tlv_type: u8,
    },
    /// An SSL TLV whose sub-TLV block does not decode.
    #[error("SSL TLV sub-TLVs do not decode: {0}")]
    BadSslSubTlvs(TlvError),
}

/// Up to 24 bytes of the offending input, kept inline so errors never allocate.
///
/// Displays as escaped ASCII (`\r`, `\n`, `\x00`), with `...` when the input was longer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Excerpt {
    bytes: [u8; Excerpt::CAP],
    len: u8,
    truncated: bool,
}

impl Excerpt {
    const CAP: usize = 24;

    /// Keeps the first bytes of `input`.
    pub fn new(input: &[u8]) -> Self {
        let mut bytes = [0u8; Self::CAP];
        let kept = input.get(..Self::CAP).unwrap_or(input);
        if let Some(dst) = bytes.get_mut(..kept.len()) {
            dst.copy_from_slice(kept);
        }
        Self {
            bytes,
            // `kept.len() <= CAP = 24`, so this cannot truncate.
            len: u8::try_from(kept.len()).unwrap_or(u8::MAX),
            truncated: input.len() > Self::CAP,
        }
    }

    /// The kept bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_marks_truncation() {
        assert_eq!(Excerpt::new(b"PROXY\r\n").to_string(), "PROXY\\r\\n");
        let long = [b'a'; 30];
        let e = Excerpt::new(&long);
        assert_eq!(e.as_bytes().len(), 24);
        assert!(e.to_string().ends_with("..."));
        assert_eq!(Excerpt::new(b"").to_string(), "");
    }

    #[test]
    fn messages_carry_the_offending_value() {
        let e = DecodeError::V1BadPort {
            found: Excerpt::new(b"080"),
        };
        assert_eq!(
            e.to_string(),
            "PROXY v1 port must be 0..=65535 without leading zeroes, found \"080\""
        );
        assert_eq!(e.kind(), "v1_bad_port");
    }
}
