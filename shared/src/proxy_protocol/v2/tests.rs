use super::*;
use crate::proxy_protocol::{Tlv, decode};

/// A v2 header: signature, version/command byte, family byte, then `body` with its length.
fn header(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(ver_cmd);
    h.push(fam);
    h.extend_from_slice(&u16::try_from(body.len()).expect("short body").to_be_bytes());
    h.extend_from_slice(body);
    h
}

const INET_BLOCK: [u8; 12] = [192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB];

#[test]
fn proxy_tcp4_with_payload_after() {
    let mut input = header(0x21, 0x11, &INET_BLOCK);
    input.extend_from_slice(b"GET /");
    let d = decode_v2(&input).expect("decodes");
    assert_eq!(d.consumed, 28);
    assert_eq!(d.header.command(), Command::Proxy);
    assert_eq!(d.header.transport(), Transport::Stream);
    assert_eq!(
        d.header.source(),
        Some("192.0.2.1:56324".parse().expect("addr"))
    );
    assert_eq!(d.header.raw_tlvs(), b"");
}

#[test]
fn local_ignores_the_address_block() {
    let input = header(0x20, 0x11, &INET_BLOCK);
    let d = decode_v2(&input).expect("decodes");
    assert_eq!(d.header.command(), Command::Local);
    assert_eq!(
        d.header.addresses(),
        crate::proxy_protocol::Addresses::Unspecified
    );
    let input = header(0x20, 0x00, &[]);
    let d = decode_v2(&input).expect("decodes");
    assert_eq!(d.consumed, 16);
}

#[test]
fn fixed_part_errors_are_immediate() {
    let full = header(0x21, 0x11, &INET_BLOCK);
    assert!(decode_v2(&full).is_ok());
    let mut bad_version = full.get(..12).unwrap_or(&[]).to_vec();
    bad_version.push(0x11);
    assert_eq!(
        decode_v2(&bad_version),
        Err(DecodeError::V2BadVersion { version: 1 })
    );
    let cases: [(u8, u8, &str); 6] = [
        (0x22, 0x11, "v2_bad_command"),
        (0x21, 0x41, "v2_bad_family"),
        (0x21, 0x13, "v2_bad_transport"),
        (0x21, 0x10, "v2_bad_family_transport"),
        (0x21, 0x01, "v2_bad_family_transport"),
        (0x21, 0x21, "v2_address_block_too_short"),
    ];
    for (ver_cmd, fam, kind) in cases {
        let h = header(ver_cmd, fam, &INET_BLOCK);
        assert_eq!(
            decode_v2(h.get(..16).unwrap_or(&[]))
                .map_err(|e| e.kind())
                .err(),
            Some(kind)
        );
    }
    assert_eq!(
        decode(b"\r\n\r\n\0\r\nQUIX\n").map_err(|e| e.kind()).err(),
        Some("not_proxy")
    );
}

#[test]
fn tlv_framing_crc_and_unique_id_are_checked() {
    let mut body = INET_BLOCK.to_vec();
    body.extend_from_slice(&[0x04, 0, 5, 1]);
    assert_eq!(
        decode_v2(&header(0x21, 0x11, &body)),
        Err(DecodeError::V2TlvTruncated {
            tlv_type: 4,
            offset: 28
        })
    );
    let mut body = INET_BLOCK.to_vec();
    body.extend_from_slice(&[0x05, 0, 129]);
    body.extend_from_slice(&[7; 129]);
    assert_eq!(
        decode_v2(&header(0x21, 0x11, &body)),
        Err(DecodeError::V2UniqueIdTooLong { length: 129 })
    );
    let mut body = INET_BLOCK.to_vec();
    body.extend_from_slice(&[0x03, 0, 4, 0, 0, 0, 0]);
    let mut h = header(0x21, 0x11, &body);
    let crc = crate::proxy_protocol::crc32c(&h);
    assert!(
        matches!(decode_v2(&h), Err(DecodeError::V2Crc32cMismatch { received: 0, computed }) if computed == crc)
    );
    h.truncate(h.len() - 4);
    h.extend_from_slice(&crc.to_be_bytes());
    let d = decode_v2(&h).expect("checksum verifies");
    assert_eq!(d.header.tlvs().next(), Some(Ok(Tlv::Crc32c(crc))));
}

#[test]
fn prefixes_are_incomplete_with_exact_needs() {
    let mut body = INET_BLOCK.to_vec();
    body.extend_from_slice(&[0x01, 0, 2, b'h', b'2']);
    let input = header(0x21, 0x11, &body);
    for n in 0..input.len() {
        let needed = if n < 16 { 16 - n } else { input.len() - n };
        assert_eq!(
            decode_v2(input.get(..n).unwrap_or(&[])),
            Err(DecodeError::Incomplete {
                needed: needed.max(1)
            }),
            "prefix of {n} bytes"
        );
    }
    assert_eq!(decode_v2(&input).map(|d| d.consumed), Ok(input.len()));
}
