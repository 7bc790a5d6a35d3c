use super::*;
use crate::proxy_protocol::{Addresses, decode};

fn ok(input: &[u8]) -> Decoded<'_> {
    decode_v1(input).expect("decodes")
}

/// The error kind, or "ok" when the input decodes.
fn kind(input: &[u8]) -> &'static str {
    decode_v1(input).err().map_or("ok", |e| e.kind())
}

#[test]
fn tcp4_line_and_trailing_payload() {
    let input = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
    let d = ok(input);
    assert_eq!(d.consumed, 47);
    assert_eq!(d.header.version(), Version::V1);
    assert_eq!(d.header.transport(), Transport::Stream);
    assert_eq!(
        d.header.addresses(),
        Addresses::Inet {
            source: "192.168.0.1:56324".parse().expect("addr"),
            destination: "192.168.0.11:443".parse().expect("addr"),
        }
    );
    assert_eq!(d.header.tlvs().next(), None);
}

#[test]
fn tcp6_and_unknown() {
    let d = ok(b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n");
    assert_eq!(
        d.header.source(),
        Some("[2001:db8::1]:0".parse().expect("addr"))
    );
    assert_eq!(
        d.header.destination(),
        Some("[::1]:65535".parse().expect("addr"))
    );
    // TCP6 endpoints are read from the line on access; two spellings of one address are one endpoint.
    let a = ok(b"PROXY TCP6 ::ffff:1.2.3.4 0::1 80 443\r\n");
    let b = ok(b"PROXY TCP6 ::FFFF:102:304 ::1 80 443\r\n");
    assert_eq!(a.header, b.header);
    assert_eq!(
        a.header.addresses(),
        Addresses::Inet {
            source: "[::ffff:1.2.3.4]:80".parse().expect("addr"),
            destination: "[::1]:443".parse().expect("addr"),
        }
    );
    assert_ne!(
        a.header,
        ok(b"PROXY TCP6 ::ffff:1.2.3.4 ::1 80 444\r\n").header
    );
    let d = ok(b"PROXY UNKNOWN\r\n");
    assert_eq!(
        (d.consumed, d.header.addresses()),
        (15, Addresses::Unspecified)
    );
    let d = ok(b"PROXY UNKNOWN ffff::1 whatever 1 2\r\nrest");
    assert_eq!(d.consumed, 36);
    assert_eq!(d.header.transport(), Transport::Unspec);
}

#[test]
fn strict_syntax() {
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "v1_bad_line_end");
    assert_eq!(
        kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"),
        "v1_bad_line_end"
    );
    assert_eq!(kind(b"PROXY UNKNOWN\n"), "v1_bad_line_end");
    assert_eq!(kind(b"PROXY UNKNOWN a\rb\r\n"), "v1_bad_line_end");
    assert_eq!(
        kind(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"),
        "v1_bad_protocol"
    );
    assert_eq!(
        kind(b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"),
        "v1_bad_protocol"
    );
    assert_eq!(kind(b"PROXY UNKNOWNX\r\n"), "v1_bad_protocol");
    assert_eq!(kind(b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), "v1_syntax");
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), "v1_syntax");
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "v1_syntax");
    assert_eq!(kind(b"PROXY TCP4\r\n"), "v1_syntax");
    assert_eq!(
        kind(b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"),
        "v1_bad_address"
    );
    assert_eq!(kind(b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), "v1_bad_address");
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), "v1_bad_port");
    assert_eq!(
        kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"),
        "v1_bad_port"
    );
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n"), "v1_bad_port");
    assert_eq!(kind(b"PROXY TCP4 ::1 ::1 1 2\r\n"), "v1_family_mismatch");
    assert_eq!(
        kind(b"PROXY TCP6 ::1 1.2.3.4 1 2\r\n"),
        "v1_family_mismatch"
    );
    assert_eq!(kind(b"PROXX TCP4"), "not_proxy");
    assert_eq!(kind(b"PROXYTCP4"), "v1_syntax");
}

#[test]
fn the_107_byte_cap() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(105, b'x');
    line.extend_from_slice(b"\r\n");
    assert_eq!(ok(&line).consumed, 107);
    let mut long = line.clone();
    long.insert(20, b'x');
    assert_eq!(decode_v1(&long), Err(DecodeError::V1TooLong));
    // Without a line end, 107 bytes are enough to give up.
    assert_eq!(
        decode_v1(&[b'P'; 1]).map(|d| d.consumed),
        Err(DecodeError::Incomplete { needed: 14 })
    );
    let mut open = b"PROXY UNKNOWN ".to_vec();
    open.resize(107, b'x');
    assert_eq!(decode_v1(&open), Err(DecodeError::V1TooLong));
    open.truncate(106);
    assert!(decode_v1(&open).is_err_and(|e| e.is_incomplete()));
}

#[test]
fn prefixes_are_incomplete_until_they_cannot_become_valid() {
    for input in [
        &b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"[..],
        b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::ffff:1.2.3.4 0 1\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN a b c\r\n",
    ] {
        let full = ok(input);
        for n in 0..input.len() {
            let prefix = input.get(..n).unwrap_or(input);
            assert!(
                decode(prefix).is_err_and(|e| e.is_incomplete()),
                "prefix {:?}",
                prefix.escape_ascii().to_string()
            );
        }
        assert_eq!(full.consumed, input.len());
    }
    // Already impossible: fail before the CRLF arrives.
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4x"), "v1_bad_address");
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 0"), "incomplete");
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 00"), "v1_bad_port");
    assert_eq!(kind(b"PROXY TCP4 1.2.3.4 5.6.7.8 70000"), "v1_bad_port");
    assert_eq!(kind(b"PROXY UDP4"), "v1_bad_protocol");
}

proptest::proptest! {
    /// The IPv4 fast path accepts exactly what std's strict parser accepts.
    #[test]
    fn ipv4_fast_path_agrees_with_std(text in "[0-9.]{0,18}|([0-9]{1,3}\\.){3}[0-9]{1,3}") {
        let std: Option<core::net::Ipv4Addr> = text.parse().ok();
        proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), std);
    }

    /// Ports are 0..=65535 in decimal without leading zeroes, nothing else.
    #[test]
    fn ports_are_canonical_decimals(text in "[0-9+ -]{0,7}") {
        let canonical = text.parse::<u16>().ok().filter(|p| p.to_string() == text);
        proptest::prop_assert_eq!(parse_port(text.as_bytes()), canonical);
    }
}
