use proptest::prelude::*;

use super::*;

fn ok(s: &str) -> ClientAddr {
    match ClientAddr::parse(s.as_bytes()) {
        Ok(a) => a,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn at(s: &str, port: Option<u16>) -> ClientAddr {
    ClientAddr { ip: ip(s), port }
}

#[test]
fn accepted_forms() {
    assert_eq!(ok("203.0.113.9"), at("203.0.113.9", None));
    assert_eq!(ok("203.0.113.9:4711"), at("203.0.113.9", Some(4711)));
    assert_eq!(ok("2001:db8::1"), at("2001:db8::1", None));
    assert_eq!(ok("[2001:db8::1]"), at("2001:db8::1", None));
    assert_eq!(ok("[2001:db8::1]:443"), at("2001:db8::1", Some(443)));
    assert_eq!(ok("203.0.113.9:0"), at("203.0.113.9", Some(0)));
    assert_eq!(ok("203.0.113.9:65535"), at("203.0.113.9", Some(65535)));
    assert_eq!(ok("203.0.113.9:00080"), at("203.0.113.9", Some(80)));
}

#[test]
fn spaces_and_tabs_are_trimmed_but_nothing_else() {
    assert_eq!(ok(" \t203.0.113.9 \t"), at("203.0.113.9", None));
    assert_eq!(ok("  [2001:db8::1]:80 "), at("2001:db8::1", Some(80)));
    for bad in [
        "\r203.0.113.9",
        "203.0.113.9\n",
        "\x0b203.0.113.9",
        "203.0.113.9\0",
    ] {
        assert!(ClientAddr::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn mapped_ipv6_is_normalised_to_ipv4() {
    assert_eq!(ok("::ffff:192.0.2.1"), at("192.0.2.1", None));
    assert_eq!(ok("[::ffff:192.0.2.1]:8080"), at("192.0.2.1", Some(8080)));
    assert_eq!(ok("::FFFF:c000:0201"), at("192.0.2.1", None));
    // IPv4-compatible (deprecated) is not mapped: ::1 must stay the IPv6 loopback.
    assert_eq!(ok("::1"), at("::1", None));
    assert_eq!(ok("::192.0.2.1"), at("::192.0.2.1", None));
}

#[test]
fn zone_ids_are_accepted_and_dropped() {
    assert_eq!(ok("fe80::1%eth0"), at("fe80::1", None));
    assert_eq!(ok("[fe80::1%eth0]:8080"), at("fe80::1", Some(8080)));
    assert_eq!(ok("fe80::1%25"), at("fe80::1", None));
    assert_eq!(ok("fe80::1%en0.100_x~y-z"), at("fe80::1", None));
    for bad in [
        "fe80::1%",
        "fe80::1%eth 0",
        "fe80::1%eth0%eth1",
        "fe80::1%eth/0",
        "[fe80::1%]:80",
        "192.0.2.1%eth0",
    ] {
        assert!(ClientAddr::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    let long = format!("fe80::1%{}", "a".repeat(33));
    assert_eq!(
        ClientAddr::parse(long.as_bytes()).map_err(|e| e.kind()),
        Err("bad_zone")
    );
    let max = format!("fe80::1%{}", "a".repeat(32));
    assert_eq!(ok(&max), at("fe80::1", None));
}

#[test]
fn rejected_forms_name_the_problem() {
    let kind = |s: &str| ClientAddr::parse(s.as_bytes()).map_err(|e| e.kind());
    assert_eq!(kind(""), Err("empty"));
    assert_eq!(kind(" \t "), Err("empty"));
    assert_eq!(kind("unknown"), Err("not_an_address"));
    assert_eq!(kind("_hidden"), Err("not_an_address"));
    assert_eq!(kind("example.com"), Err("not_an_address"));
    assert_eq!(kind("203.0.113"), Err("not_an_address"));
    assert_eq!(kind("203.0.113.256"), Err("not_an_address"));
    assert_eq!(kind("010.0.0.1"), Err("not_an_address"));
    assert_eq!(kind("203.0.113.9:"), Err("bad_port"));
    assert_eq!(kind("203.0.113.9:65536"), Err("bad_port"));
    assert_eq!(kind("203.0.113.9:123456"), Err("bad_port"));
    assert_eq!(kind("203.0.113.9:+80"), Err("bad_port"));
    assert_eq!(kind("203.0.113.9:_obf"), Err("bad_port"));
    assert_eq!(kind("[2001:db8::1"), Err("not_an_address"));
    assert_eq!(kind("[2001:db8::1]x"), Err("not_an_address"));
    assert_eq!(kind("[2001:db8::1]:"), Err("bad_port"));
    assert_eq!(kind("[192.0.2.1]"), Err("not_an_address"));
    assert_eq!(kind("[[2001:db8::1]]"), Err("not_an_address"));
    assert_eq!(kind("2001:db8::1::2"), Err("not_an_address"));
    assert_eq!(kind("\"192.0.2.1\""), Err("not_an_address"));
    assert_eq!(kind("192.0.2.1 192.0.2.2"), Err("not_an_address"));
}

#[test]
fn errors_carry_the_trimmed_value() {
    let e = ClientAddr::parse(b" 10.0.0.300 ").expect_err("bad");
    assert_eq!(e.to_string(), r#"not an IP address: "10.0.0.300""#);
    let e = ClientAddr::parse(b"\xff\xfe").expect_err("bad");
    assert_eq!(e.to_string(), r#"not an IP address: "\xff\xfe""#);
}

#[test]
fn obfuscated_port_only_in_forwarded_syntax() {
    assert_eq!(
        parse_entry(b"[2001:db8::1]:_p1", PortSyntax::DigitsOrObfuscated),
        Ok(at("2001:db8::1", None))
    );
    assert_eq!(
        parse_entry(b"192.0.2.1:_abc.def-1", PortSyntax::DigitsOrObfuscated),
        Ok(at("192.0.2.1", None))
    );
    assert!(parse_entry(b"192.0.2.1:_", PortSyntax::DigitsOrObfuscated).is_err());
    assert!(parse_entry(b"192.0.2.1:_a b", PortSyntax::DigitsOrObfuscated).is_err());
}

#[test]
fn display_round_trips() {
    for s in [
        "192.0.2.1",
        "192.0.2.1:80",
        "2001:db8::1",
        "[2001:db8::1]:80",
    ] {
        assert_eq!(ok(s).to_string(), s);
    }
}

#[test]
fn peer_client_normalises_and_keeps_port() {
    let peer = PeerAddr("[::ffff:10.0.0.7]:5100".parse().expect("addr"));
    assert_eq!(peer.client(), at("10.0.0.7", Some(5100)));
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = ClientAddr::parse(&bytes);
        let _ = parse_entry(&bytes, PortSyntax::DigitsOrObfuscated);
    }

    #[test]
    fn rendered_addresses_parse_back(ip in any::<IpAddr>(), port in proptest::option::of(any::<u16>())) {
        let a = ClientAddr { ip: canonical_ip(ip), port };
        let rendered = a.to_string();
        prop_assert_eq!(ClientAddr::parse(rendered.as_bytes()), Ok(a));
        // Bracketed IPv6 without port too.
        if let IpAddr::V6(v6) = ip {
            let s = format!("[{v6}]");
            prop_assert_eq!(ClientAddr::parse(s.as_bytes()), Ok(ClientAddr { ip: canonical_ip(ip), port: None }));
        }
    }
}

proptest! {
    #[test]
    fn dotted_quad_agrees_with_the_standard_parser(s in "[0-9.]{0,20}") {
        let ours = parse_v4_prefix(s.as_bytes()).filter(|(_, rest)| rest.is_empty()).map(|(ip, _)| ip);
        prop_assert_eq!(ours, s.parse::<Ipv4Addr>().ok());
    }
}

/// IPv6 groups drawn so that zero runs of every length and position are common.
fn v6_groups() -> impl Strategy<Value = [u16; 8]> {
    proptest::array::uniform8(prop_oneof![Just(0u16), Just(0xffff), Just(1), any::<u16>()])
}

fn pushed(ip: IpAddr) -> String {
    let mut s = String::new();
    push_ip(&mut s, ip);
    s
}

#[test]
fn push_ip_matches_display_on_edge_cases() {
    for s in [
        "0.0.0.0",
        "255.255.255.255",
        "10.0.0.2",
        "100.20.3.0",
        "::",
        "::1",
        "1::",
        "2001:db8::1",
        "2001:db8:0:1:1:1:1:1",
        "2001:0:0:1::1",
        "1:0:0:2:0:0:0:3",
        "::ffff:203.0.113.9",
        "::203.0.113.9",
        "fe80::1:0:0:0",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        let ip = ip(s);
        assert_eq!(pushed(ip), ip.to_string(), "{s}");
        assert!(pushed(ip).len() <= MAX_IP_TEXT_LEN);
    }
}

proptest! {
    #[test]
    fn push_ip_matches_display_v4(bits in any::<u32>()) {
        let ip = IpAddr::V4(Ipv4Addr::from(bits));
        prop_assert_eq!(pushed(ip), ip.to_string());
    }

    #[test]
    fn push_ip_matches_display_v6(groups in v6_groups(), bits in any::<u128>(), v4 in any::<u32>()) {
        let [a, b, c, d, e, f, g, h] = groups;
        for ip in [
            Ipv6Addr::new(a, b, c, d, e, f, g, h),
            Ipv6Addr::from(bits),
            Ipv4Addr::from(v4).to_ipv6_mapped(),
        ] {
            let text = pushed(IpAddr::V6(ip));
            prop_assert_eq!(&text, &ip.to_string());
            prop_assert!(text.len() <= MAX_IP_TEXT_LEN);
        }
    }
}
