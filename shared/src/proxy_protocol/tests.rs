use super::*;

#[test]
fn dispatch_on_the_first_byte() {
    assert_eq!(decode(b""), Err(DecodeError::Incomplete { needed: 15 }));
    assert_eq!(
        decode(b"GET / HTTP/1.1").map_err(|e| e.kind()).err(),
        Some("not_proxy")
    );
    assert_eq!(
        decode(b"PROXY UNKNOWN\r\n").map(|d| d.header.version()),
        Ok(Version::V1)
    );
    assert_eq!(
        decode(&V2_SIGNATURE).map_err(|e| e.kind()).err(),
        Some("incomplete")
    );
}

#[test]
fn stacked_header_detection() {
    assert!(starts_with_proxy_header(b"PROXY TCP4 "));
    assert!(starts_with_proxy_header(&V2_SIGNATURE));
    assert!(!starts_with_proxy_header(b"PROX"));
    assert!(!starts_with_proxy_header(b"POST / HTTP/1.1"));
    assert!(!starts_with_proxy_header(b""));
}
