use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::addr::ClientAddr;

fn nodes(lines: &[&str]) -> Vec<Result<Node, EntryErrorKind>> {
    elements_rev(lines.iter().rev().map(|l| l.as_bytes()))
        .map(|e| e.node)
        .collect()
}

fn addr(s: &str, port: Option<u16>) -> Result<Node, EntryErrorKind> {
    Ok(Node::Addr(ClientAddr {
        ip: s.parse().expect("test address"),
        port,
    }))
}

#[test]
fn rfc7239_section_4_examples() {
    assert_eq!(nodes(&[r#"for="_gazonk""#]), vec![Ok(Node::Obfuscated)]);
    assert_eq!(
        nodes(&[r#"For="[2001:db8:cafe::17]:4711""#]),
        vec![addr("2001:db8:cafe::17", Some(4711))]
    );
    assert_eq!(
        nodes(&["for=192.0.2.60;proto=http;by=203.0.113.43"]),
        vec![addr("192.0.2.60", None)]
    );
    assert_eq!(
        nodes(&["for=192.0.2.43, for=198.51.100.17"]),
        vec![addr("198.51.100.17", None), addr("192.0.2.43", None)]
    );
}

#[test]
fn rfc7239_section_7_examples() {
    // 7.1: a mix of IPv4, quoted IPv6 and unknown.
    assert_eq!(
        nodes(&[r#"for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown"#]),
        vec![
            Ok(Node::Unknown),
            addr("2001:db8:cafe::17", None),
            addr("192.0.2.43", None)
        ]
    );
    // 6.3: obfuscated identifiers.
    assert_eq!(
        nodes(&["for=_hidden, for=_SEVKISEK"]),
        vec![Ok(Node::Obfuscated), Ok(Node::Obfuscated)]
    );
    // 7.4 style: several headers are one list.
    assert_eq!(
        nodes(&[
            "for=192.0.2.43",
            "for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com"
        ]),
        vec![addr("198.51.100.17", None), addr("192.0.2.43", None)]
    );
}

#[test]
fn parameter_names_are_case_insensitive() {
    assert_eq!(nodes(&["FOR=192.0.2.1"]), vec![addr("192.0.2.1", None)]);
    assert_eq!(
        nodes(&["fOr=192.0.2.1;PROTO=https"]),
        vec![addr("192.0.2.1", None)]
    );
}

#[test]
fn quoted_values_with_escapes_and_separators() {
    assert_eq!(
        nodes(&[r#"for="\[2001:db8::1\]:80""#]),
        vec![addr("2001:db8::1", Some(80))]
    );
    assert_eq!(
        nodes(&[r#"for=192.0.2.1;ext="a,b;c\"d,", for=198.51.100.2"#]),
        vec![addr("198.51.100.2", None), addr("192.0.2.1", None)]
    );
    assert_eq!(
        nodes(&[r#"for="192.0.2.1""#]),
        vec![addr("192.0.2.1", None)]
    );
    assert_eq!(nodes(&[r#"for="unknown""#]), vec![Ok(Node::Unknown)]);
    assert_eq!(nodes(&[r#"for="unknown:8080""#]), vec![Ok(Node::Unknown)]);
    assert_eq!(nodes(&[r#"for="_abc:_def""#]), vec![Ok(Node::Obfuscated)]);
    assert_eq!(
        nodes(&[r#"for="[2001:db8::1]:_port""#]),
        vec![addr("2001:db8::1", None)]
    );
}

#[test]
fn lenient_unquoted_and_unbracketed_forms() {
    assert_eq!(
        nodes(&["for=[2001:db8::1]:80"]),
        vec![addr("2001:db8::1", Some(80))]
    );
    assert_eq!(
        nodes(&["for=192.0.2.1:80"]),
        vec![addr("192.0.2.1", Some(80))]
    );
    assert_eq!(
        nodes(&[r#"for="2001:db8::1""#]),
        vec![addr("2001:db8::1", None)]
    );
    assert_eq!(
        nodes(&["for=192.0.2.1;;proto=http;"]),
        vec![addr("192.0.2.1", None)]
    );
    assert_eq!(
        nodes(&[" for=192.0.2.1 ; proto=http "]),
        vec![addr("192.0.2.1", None)]
    );
}

#[test]
fn malformed_elements() {
    let bad = |s: &str| nodes(&[s]);
    assert_eq!(
        bad("for=192.0.2.1;for=198.51.100.2"),
        vec![Err(EntryErrorKind::DuplicateParameter)]
    );
    assert_eq!(
        bad("for=192.0.2.1;FOR=198.51.100.2"),
        vec![Err(EntryErrorKind::DuplicateParameter)]
    );
    assert_eq!(bad("for = 192.0.2.1"), vec![Err(EntryErrorKind::BadSyntax)]);
    assert_eq!(bad("for= 192.0.2.1"), vec![Err(EntryErrorKind::BadSyntax)]);
    assert_eq!(bad("for=;proto=http"), vec![Err(EntryErrorKind::BadSyntax)]);
    assert_eq!(
        bad(r#"for="192.0.2.1"#),
        vec![Err(EntryErrorKind::BadSyntax)]
    );
    assert_eq!(
        bad(r#"for="192.0.2.1"x"#),
        vec![Err(EntryErrorKind::BadSyntax)]
    );
    assert_eq!(bad("192.0.2.1"), vec![Err(EntryErrorKind::BadSyntax)]);
    assert_eq!(
        bad("for=192.0.2.1 proto=http"),
        vec![Err(EntryErrorKind::BadSyntax)]
    );
    assert_eq!(
        bad("for=300.0.0.1"),
        vec![Err(EntryErrorKind::NotAnAddress)]
    );
    assert_eq!(bad("for=\"\x01\""), vec![Err(EntryErrorKind::BadSyntax)]);
    let long = format!("for=\"{}\"", "1".repeat(200));
    assert_eq!(bad(&long), vec![Err(EntryErrorKind::TooLong)]);
    // Any malformed part makes the element malformed, not only its `for`.
    assert_eq!(
        bad("for=192.0.2.1;host=a;host=b"),
        vec![Err(EntryErrorKind::DuplicateParameter)]
    );
    assert_eq!(
        bad("for=192.0.2.1;by=not-a-node"),
        vec![Err(EntryErrorKind::NotAnAddress)]
    );
    // A parameter repeated in different elements is fine.
    assert_eq!(nodes(&["for=192.0.2.1, for=198.51.100.2"]).len(), 2);
}

#[test]
fn element_without_for_is_unknown() {
    assert_eq!(
        nodes(&["proto=https;host=example.com"]),
        vec![Ok(Node::Unknown)]
    );
    assert_eq!(nodes(&["by=203.0.113.43"]), vec![Ok(Node::Unknown)]);
}

#[test]
fn empty_elements_are_skipped() {
    assert_eq!(
        nodes(&["", " , ,", "for=192.0.2.1,,"]),
        vec![addr("192.0.2.1", None)]
    );
}

#[test]
fn lines_and_coalesced_line_agree() {
    let lines = [
        r#"for=192.0.2.1;ext="x,y""#,
        r#"for="[2001:db8::1]""#,
        "for=unknown",
    ];
    assert_eq!(nodes(&lines), nodes(&[&lines.join(", ")]));
}

#[test]
fn parse_element_reads_all_four_parameters() {
    let e = parse_element(br#"for="[2001:db8::1]:4711";by=_proxy;host="example.com";proto=https"#)
        .expect("element");
    assert_eq!(
        e.forwarded_for,
        Some(Node::Addr(ClientAddr {
            ip: "2001:db8::1".parse().expect("ip"),
            port: Some(4711)
        }))
    );
    assert_eq!(e.by, Some(Node::Obfuscated));
    assert_eq!(e.host, Some(Value::Quoted(b"example.com")));
    assert_eq!(e.proto, Some(Value::Token(b"https")));
    let err = parse_element(b"host=a;host=b").expect_err("duplicate");
    assert_eq!(err.kind, EntryErrorKind::DuplicateParameter);
    assert_eq!(
        err.to_string(),
        r#"Forwarded parameter repeated in one element: "host=a;host=b""#
    );
}

#[test]
fn render_quotes_and_brackets_ipv6() {
    let ips: Vec<IpAddr> = vec![
        "192.0.2.1".parse().expect("ip"),
        "2001:db8::1".parse().expect("ip"),
    ];
    assert_eq!(render(ips), r#"for=192.0.2.1, for="[2001:db8::1]""#);
}

/// A quoted-string body (escaped as needed) that may contain separators.
fn quoted_body() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(','),
            Just(';'),
            Just('"'),
            Just('\\'),
            Just(' '),
            Just('='),
            proptest::char::range('a', 'z')
        ],
        0..12,
    )
    .prop_map(|cs| {
        let mut s = String::new();
        for c in cs {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s
    })
}

proptest! {
    #[test]
    fn render_then_parse_round_trips(ips in proptest::collection::vec(any::<IpAddr>(), 1..20)) {
        let value = render(ips.iter().copied());
        let mut got: Vec<IpAddr> = elements_rev(std::iter::once(value.as_bytes()))
            .map(|e| match e.node {
                Ok(Node::Addr(a)) => a.ip,
                other => panic!("{other:?} in {value:?}"),
            })
            .collect();
        got.reverse();
        let want: Vec<IpAddr> = ips.into_iter().map(crate::addr::canonical_ip).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn reverse_split_respects_quoted_separators(
        elements in proptest::collection::vec((any::<IpAddr>(), quoted_body(), any::<bool>()), 1..8),
    ) {
        let line = elements
            .iter()
            .map(|(ip, body, ext_first)| {
                let f = render_for(*ip);
                if *ext_first { format!("ext=\"{body}\";{f}") } else { format!("{f};ext=\"{body}\"") }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut got: Vec<IpAddr> = elements_rev(std::iter::once(line.as_bytes()))
            .map(|e| match e.node {
                Ok(Node::Addr(a)) => a.ip,
                other => panic!("{other:?} in {line:?}"),
            })
            .collect();
        got.reverse();
        let want: Vec<IpAddr> = elements.iter().map(|(ip, _, _)| crate::addr::canonical_ip(*ip)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 0..4)) {
        let _ = elements_rev(lines.iter().rev().map(Vec::as_slice)).count();
        for l in &lines {
            let _ = parse_element(l);
        }
    }

    #[test]
    fn never_panics_on_forwarded_like_text(s in "[fF][oO][rR]=[\\[\\]\":;,_a-f0-9. \\\\]{0,40}") {
        let _ = elements_rev(std::iter::once(s.as_bytes())).count();
        let _ = parse_element(s.as_bytes());
    }
}
