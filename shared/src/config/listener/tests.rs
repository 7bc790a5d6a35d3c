use super::*;

fn parse(json: &str) -> Result<ListenerConfig, String> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize::<_, ListenerConfig>(de)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

#[test]
fn http_listener_with_defaults() {
    let l = parse(r#"{"address": "127.0.0.1:8080", "protocol": "http", "upstream": {"address": "127.0.0.1:9000"}}"#)
        .expect("valid");
    assert_eq!(l.name, "127.0.0.1:8080");
    assert_eq!(l.proxy_protocol, ProxyPolicy::default());
    let up = l.kind.upstream().expect("http has an upstream");
    assert_eq!(l.kind.protocol(), ListenerProtocol::Http);
    assert_eq!(up.connect_timeout, Duration::from_secs(2));
    assert_eq!(up.proxy_protocol.version, SendVersion::None);
    assert_eq!(l.timeouts.request_head, Duration::from_secs(30));
    assert_eq!(l.timeouts.idle, Duration::from_secs(60));
}

#[test]
fn client_timeouts_are_milliseconds_and_keep_their_defaults() {
    let l = parse(
        r#"{"address": "127.0.0.1:0", "protocol": "echo", "timeouts": {"request_head_ms": 1500}}"#,
    )
    .expect("valid");
    assert_eq!(l.timeouts.request_head, Duration::from_millis(1500));
    assert_eq!(l.timeouts.idle, Duration::from_secs(60));
}

#[test]
fn proxy_rules_pick_the_first_match_and_fall_back_to_the_default() {
    let l = parse(
        r#"{"address": "127.0.0.1:0", "protocol": "echo", "proxy_protocol": {"default": "require",
            "rules": [{"sources": ["10.1.0.0/16"], "mode": "optional"}, {"sources": ["10.0.0.0/8", "loopback"], "mode": "forbid"}]}}"#,
    )
    .expect("valid");
    let p = &l.proxy_protocol;
    assert_eq!(
        p.mode_for("10.1.2.3".parse().expect("ip")),
        ProxyMode::Optional
    );
    assert_eq!(
        p.mode_for("10.2.2.3".parse().expect("ip")),
        ProxyMode::Forbid
    );
    assert_eq!(p.mode_for("::1".parse().expect("ip")), ProxyMode::Forbid);
    assert_eq!(
        p.mode_for("::ffff:10.1.0.9".parse().expect("ip")),
        ProxyMode::Optional
    );
    assert_eq!(
        p.mode_for("203.0.113.1".parse().expect("ip")),
        ProxyMode::Require
    );
}

#[test]
fn errors_carry_the_field_path_and_the_bad_value() {
    let cases = [
        (
            r#"{"address": "127.0.0.1:0", "protocol": "http"}"#,
            r#"protocol "http" needs an upstream"#,
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "proxy_protocol": {"rules": [{"sources": ["10.0.0.0/33"], "mode": "require"}]}}"#,
            r#"proxy_protocol.rules[0].sources[0]: not a valid CIDR"#,
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "proxy_protocol": {"rules": [{"sources": ["0.0.0.0/0"], "mode": "optional"}]}}"#,
            r#"optional PROXY for every source lets any client forge its address: ["0.0.0.0/0"]"#,
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "proxy_protocol": {"default": "optional"}}"#,
            "proxy_protocol.default: unknown variant `optional`",
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "proxy_protocol": {"max_header_bytes": 70000}}"#,
            "max_header_bytes must be within 16..=65551: 70000",
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "http", "upstream": {"address": "127.0.0.1:1"}, "tlv_headers": [{"tlv": "0x1FF", "header": "x"}]}"#,
            r#"tlv_headers[0].tlv: not a PROXY v2 TLV type (a name or 0..=255): "0x1FF""#,
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "http", "upstream": {"address": "127.0.0.1:1"}, "tlv_headers": [{"tlv": "aws_vpce_id", "header": "x y"}]}"#,
            r#"tlv_headers[0].header: not a valid header name: "x y""#,
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "tcp", "upstream": {"address": "127.0.0.1:1", "proxy_protocol": {"version": "v1", "add_tlvs": [{"tlv": 2, "value": "a"}]}}}"#,
            r#"upstream TLVs need upstream.proxy_protocol.version "v2""#,
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "timeouts": {"idle_ms": 0}}"#,
            "timeouts: idle_ms must be greater than 0: 0",
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "timeouts": {"request_head_ms": "30s"}}"#,
            "timeouts.request_head_ms: invalid type: string \"30s\"",
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "timeouts": {"head_ms": 1}}"#,
            "timeouts.head_ms: unknown field `head_ms`",
        ),
        (
            r#"{"address": "127.0.0.1:0", "protocol": "echo", "bogus": 1}"#,
            "unknown field `bogus`",
        ),
    ];
    for (json, want) in cases {
        let err = parse(json).expect_err(json);
        assert!(err.contains(want), "{json}\n got: {err}\nwant: {want}");
    }
}

#[test]
fn tlv_types_by_name_number_and_hex() {
    assert_eq!("aws_vpce_id".parse::<TlvType>(), Ok(TlvType(0xEA)));
    assert_eq!("0xE0".parse::<TlvType>(), Ok(TlvType(0xE0)));
    assert_eq!("7".parse::<TlvType>(), Ok(TlvType(7)));
    assert_eq!(TlvType(0xEE).to_string(), "azure_private_link");
    assert_eq!(TlvType(0x42).to_string(), "0x42");
}

#[test]
fn serializes_back_to_an_equivalent_listener() {
    let l = parse(
        r#"{"name": "edge", "address": "[::1]:8443", "protocol": "tcp", "proxy_protocol": {"default": "require", "versions": ["v2"]},
            "upstream": {"address": "127.0.0.1:9000", "proxy_protocol": {"version": "v2", "pass_tlvs": ["aws_vpce_id"], "add_tlvs": [{"tlv": "authority", "value": "example.com"}]}}}"#,
    )
    .expect("valid");
    let json = serde_json::to_string(&l).expect("serialize");
    assert_eq!(parse(&json).expect("reparse"), l);
}

#[test]
fn upstream_shorthand_is_an_address_with_defaults() {
    let short =
        parse(r#"{"address": "127.0.0.1:0", "protocol": "tcp", "upstream": "127.0.0.1:9000"}"#)
            .expect("valid");
    let long = parse(r#"{"address": "127.0.0.1:0", "protocol": "tcp", "upstream": {"address": "127.0.0.1:9000"}}"#)
        .expect("valid");
    assert_eq!(short, long);
    let err =
        parse(r#"{"address": "127.0.0.1:0", "protocol": "tcp", "upstream": "localhost:9000"}"#)
            .expect_err("bad");
    assert!(
        err.contains(
            r#"upstream: not a socket address (ip:port or [ipv6]:port): "localhost:9000""#
        ),
        "{err}"
    );
    let err = parse(r#"{"address": "127.0.0.1:0", "protocol": "tcp", "upstream": {"address": "127.0.0.1:1", "x": 1}}"#)
        .expect_err("bad");
    assert!(
        err.contains("upstream.x: unknown field `x`")
            || err.contains("upstream: unknown field `x`"),
        "{err}"
    );
}
