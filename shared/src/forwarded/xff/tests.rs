use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::addr::ClientAddr;
use crate::forwarded::EntryErrorKind;

fn nodes(lines: &[&str]) -> Vec<Result<Node, EntryErrorKind>> {
    entries_rev(lines.iter().rev().map(|l| l.as_bytes()))
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
fn rightmost_first_across_lines() {
    assert_eq!(
        nodes(&["192.0.2.1, 198.51.100.2", "10.0.0.1"]),
        vec![
            addr("10.0.0.1", None),
            addr("198.51.100.2", None),
            addr("192.0.2.1", None)
        ]
    );
}

#[test]
fn every_line_split_gives_the_coalesced_answer() {
    // The analogue of an all-prefixes test for a list header: cutting the coalesced line into lines at any set
    // of separators must not change the entries.
    let entries = [
        "192.0.2.1:80",
        " [2001:db8::1]:443",
        "unknown",
        "",
        " 10.0.0.1 ",
        "_hidden",
        "bad",
    ];
    let coalesced = entries.join(",");
    let want = nodes(&[&coalesced]);
    assert_eq!(want.len(), 6, "{want:?}");
    for mask in 0u32..(1 << (entries.len() - 1)) {
        let mut lines = Vec::new();
        let mut cur = vec![entries[0]];
        for (i, e) in entries.iter().enumerate().skip(1) {
            if mask & (1 << (i - 1)) != 0 {
                lines.push(cur.join(","));
                cur = Vec::new();
            }
            cur.push(e);
        }
        lines.push(cur.join(","));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(nodes(&refs), want, "lines {lines:?}");
    }
}

#[test]
fn entry_forms() {
    assert_eq!(
        nodes(&[
            "192.0.2.1:8080, 2001:db8::1, [2001:db8::2]:443, ::ffff:198.51.100.7, fe80::1%eth0, UNKNOWN, _obf"
        ]),
        vec![
            Ok(Node::Obfuscated),
            Ok(Node::Unknown),
            addr("fe80::1", None),
            addr("198.51.100.7", None),
            addr("2001:db8::2", Some(443)),
            addr("2001:db8::1", None),
            addr("192.0.2.1", Some(8080)),
        ]
    );
}

#[test]
fn empty_elements_and_empty_lines_are_skipped() {
    assert_eq!(nodes(&["", " ", ",", " , ,\t,"]), vec![]);
    assert_eq!(
        nodes(&[",192.0.2.1,,", "", "198.51.100.2 ,"]),
        vec![addr("198.51.100.2", None), addr("192.0.2.1", None)]
    );
}

#[test]
fn malformed_entries_are_reported_in_place() {
    assert_eq!(
        nodes(&["192.0.2.1, 300.1.1.1, 10.0.0.1"]),
        vec![
            addr("10.0.0.1", None),
            Err(EntryErrorKind::NotAnAddress),
            addr("192.0.2.1", None)
        ]
    );
    assert_eq!(
        nodes(&["\"192.0.2.1\""]),
        vec![Err(EntryErrorKind::NotAnAddress)]
    );
    assert_eq!(
        nodes(&["192.0.2.1:99999"]),
        vec![Err(EntryErrorKind::BadPort)]
    );
    assert_eq!(
        nodes(&["192.0.2.1;proto=http"]),
        vec![Err(EntryErrorKind::NotAnAddress)]
    );
    assert_eq!(nodes(&["_"]), vec![Err(EntryErrorKind::NotAnAddress)]);
}

#[test]
fn raw_is_the_untrimmed_entry() {
    let line: &[u8] = b"192.0.2.1,  10.0.0.1 ";
    let raws: Vec<&[u8]> = entries_rev(std::iter::once(line)).map(|e| e.raw).collect();
    assert_eq!(raws, vec![b"  10.0.0.1 ".as_slice(), b"192.0.2.1"]);
}

#[test]
fn parse_reports_value() {
    let e = parse(b" nope ").expect_err("bad");
    assert_eq!(e.to_string(), r#"not an IP address: "nope""#);
    assert_eq!(parse(b"unknown"), Ok(Node::Unknown));
}

proptest! {
    #[test]
    fn render_then_parse_round_trips(ips in proptest::collection::vec(any::<IpAddr>(), 1..20)) {
        let value = render(ips.iter().copied());
        let mut got: Vec<IpAddr> = entries_rev(std::iter::once(value.as_bytes()))
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
    fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 0..4)) {
        let n = entries_rev(lines.iter().rev().map(Vec::as_slice)).count();
        prop_assert!(n <= lines.iter().map(|l| l.len() + 1).sum::<usize>());
    }
}

proptest! {
    #[test]
    fn fast_path_agrees_with_the_general_path(s in "[0-9. \t,:a_\\[\\]]{0,40}") {
        let rest = s.as_bytes();
        if let Some(Rightmost { left, raw, ip }) = rightmost_v4(rest) {
            let (gl, graw) = split_rightmost(rest);
            prop_assert_eq!(left, gl);
            prop_assert_eq!(raw, graw);
            prop_assert_eq!(
                crate::forwarded::parse_node(raw, crate::addr::PortSyntax::Digits),
                Ok(Node::Addr(ClientAddr { ip: IpAddr::V4(ip), port: None }))
            );
        } else {
            let (_, raw) = split_rightmost(rest);
            let general = crate::forwarded::parse_node(raw, crate::addr::PortSyntax::Digits);
            // The fast path declines only what is not a plain dotted quad: an IPv4 result without port must have
            // come from a mapped IPv6 form, which has colons.
            let plain_v4 = matches!(general, Ok(Node::Addr(ClientAddr { ip: IpAddr::V4(_), port: None })));
            prop_assert!(!plain_v4 || raw.contains(&b':'), "{:?} -> {:?}", s, general);
        }
    }

    #[test]
    fn fast_path_on_dotted_quads(a in any::<[u8; 4]>(), lead in "[ \t]{0,2}", trail in "[ \t]{0,2}", prefix in "([0-9.]{0,8},)?") {
        let ip = std::net::Ipv4Addr::from(a);
        let s = format!("{prefix}{lead}{ip}{trail}");
        let got = rightmost_v4(s.as_bytes()).map(|r| r.ip);
        prop_assert_eq!(got, Some(ip));
    }
}

/// Every string of up to five bytes over digits (the octet edges 0, 1, 2, 5, 9), `.` and a space: the one-pattern
/// octet parser reads exactly what the byte-by-byte one reads followed by a dot.
#[test]
fn dot_octet_matches_octet_then_dot() {
    let alphabet = b"0125369. ";
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
    for len in 1..=5 {
        let start = inputs.len();
        let previous: Vec<Vec<u8>> = inputs
            .iter()
            .filter(|s| s.len() == len - 1)
            .cloned()
            .collect();
        for s in previous {
            for &b in alphabet {
                let mut t = s.clone();
                t.push(b);
                inputs.push(t);
            }
        }
        assert!(inputs.len() > start);
    }
    for s in &inputs {
        let expected = octet_rev(s).and_then(|(rest, v)| Some((rest.strip_suffix(b".")?, v)));
        assert_eq!(
            dot_octet_rev(s),
            expected,
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }
}

/// Every string of up to seven bytes over digits, `.`, `,` and a space: the first octet after `, ` is read as the
/// byte-by-byte octet followed by exactly that separator.
#[test]
fn comma_octet_matches_octet_then_separator() {
    let alphabet = b"01259., ";
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
    let mut last: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..7 {
        last = last
            .iter()
            .flat_map(|s| {
                alphabet.iter().map(move |&b| {
                    let mut t = s.clone();
                    t.push(b);
                    t
                })
            })
            .collect();
        inputs.extend(last.iter().cloned());
    }
    for s in &inputs {
        let expected = octet_rev(s).and_then(|(before, v)| Some((before.strip_suffix(b", ")?, v)));
        assert_eq!(
            comma_octet_rev(s),
            expected,
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }
}
