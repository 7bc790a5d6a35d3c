//! IPv6 text, read from bytes: exactly the forms `core`'s `Ipv6Addr::from_str` accepts.
//!
//! Why not the standard parser: entries arrive as bytes, and std's needs UTF-8 validation first, then walks
//! `char`s with a closure and a saved position per attempt. An IPv6 `X-Forwarded-For` entry cost about 1,000
//! instructions that way, seven times a dotted quad (BENCHMARKS.md, "Client-IP resolution"). This is the same
//! grammar, step for step, over a byte slice; a property test holds it to std's answers.
//!
//! The grammar (std's `read_ipv6_addr`): colon-separated groups of one to four hex digits, at most one `::`
//! standing for at least one zero group, and a dotted quad allowed in place of the last two groups (before `::`
//! only when it completes all eight groups).

use std::net::Ipv6Addr;

/// The address written in `s`, or `None` when `s` is anything else.
pub(crate) fn parse(s: &[u8]) -> Option<Ipv6Addr> {
    let mut head = [0u16; 8];
    let (head_len, head_v4, rest) = read_groups(s, &mut head);
    if head_len == 8 {
        return rest.is_empty().then(|| Ipv6Addr::from(head));
    }
    // A dotted quad ends an address; one before `::` cannot.
    if head_v4 {
        return None;
    }
    let rest = rest.strip_prefix(b"::")?;
    // `::` stands for at least one group, so at most seven follow it, fewer when the head took some.
    let mut tail = [0u16; 7];
    let limit = 7 - head_len;
    let (tail_len, _, rest) = read_groups(rest, tail.get_mut(..limit)?);
    if !rest.is_empty() {
        return None;
    }
    let mut groups = [0u16; 8];
    for (slot, &g) in groups.iter_mut().zip(head.get(..head_len)?) {
        *slot = g;
    }
    for (slot, &g) in groups
        .iter_mut()
        .rev()
        .zip(tail.get(..tail_len)?.iter().rev())
    {
        *slot = g;
    }
    Some(Ipv6Addr::from(groups))
}

/// Reads colon-separated groups into `groups` while they parse: how many, whether the last two came from a
/// dotted quad, and what is left (starting at the separator of the group that did not parse).
fn read_groups<'a>(mut s: &'a [u8], groups: &mut [u16]) -> (usize, bool, &'a [u8]) {
    let limit = groups.len();
    for i in 0..limit {
        let after_separator = if i == 0 {
            s
        } else {
            match s {
                [b':', rest @ ..] => rest,
                _ => return (i, false, s),
            }
        };
        // A dotted quad fills two groups, so it is tried only while two are left.
        if i + 1 < limit
            && let Some(([a, b, c, d], rest)) = read_v4(after_separator)
        {
            if let [hi, lo, ..] = groups.get_mut(i..).unwrap_or_default() {
                *hi = u16::from_be_bytes([a, b]);
                *lo = u16::from_be_bytes([c, d]);
            }
            return (i + 2, true, rest);
        }
        match read_hex_group(after_separator) {
            Some((group, rest)) => {
                if let Some(slot) = groups.get_mut(i) {
                    *slot = group;
                }
                s = rest;
            }
            None => return (i, false, s),
        }
    }
    (limit, false, s)
}

/// One to four hex digits, greedily: five or more is no group at all (std reads them all and gives up).
fn read_hex_group(s: &[u8]) -> Option<(u16, &[u8])> {
    let mut value = 0u16;
    let mut rest = s;
    let mut digits = 0;
    while let [b, tail @ ..] = rest {
        let Some(d) = hex_digit(*b) else { break };
        digits += 1;
        if digits > 4 {
            return None;
        }
        value = value << 4 | u16::from(d);
        rest = tail;
    }
    (digits > 0).then_some((value, rest))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A dotted quad as std's `read_ipv4_addr` reads it: four decimal octets of one to three digits, no leading zero
/// in a longer octet, each at most 255.
fn read_v4(s: &[u8]) -> Option<([u8; 4], &[u8])> {
    let mut octets = [0u8; 4];
    let mut rest = s;
    for (i, slot) in octets.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b".")?;
        }
        let (octet, tail) = read_octet(rest)?;
        *slot = octet;
        rest = tail;
    }
    Some((octets, rest))
}

fn read_octet(s: &[u8]) -> Option<(u8, &[u8])> {
    let mut value = 0u32;
    let mut rest = s;
    let mut digits = 0;
    while let [b @ b'0'..=b'9', tail @ ..] = rest {
        digits += 1;
        if digits > 3 {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
        rest = tail;
    }
    if digits == 0 || (digits > 1 && s.first() == Some(&b'0')) {
        return None;
    }
    Some((u8::try_from(value).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn std_parse(s: &[u8]) -> Option<Ipv6Addr> {
        std::str::from_utf8(s).ok()?.parse().ok()
    }

    #[test]
    fn forms() {
        for s in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "2001:db8::9",
            "::ffff:192.0.2.1",
            "1:2:3:4:5:6:1.2.3.4",
            "::1.2.3.4",
            "1::1.2.3.4",
            "FD00::ABCD",
            "0000:0::01",
        ] {
            assert_eq!(parse(s.as_bytes()), std_parse(s.as_bytes()), "{s}");
            assert!(parse(s.as_bytes()).is_some(), "{s}");
        }
        for s in [
            "",
            ":",
            ":::",
            "1:::2",
            "1::2::3",
            "12345::",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "1.2.3.4::",
            "::1.2.3",
            "::1.2.3.256",
            "::01.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            ":1::",
            "1::2:",
            "g::",
            "::1 ",
        ] {
            assert_eq!(parse(s.as_bytes()), std_parse(s.as_bytes()), "{s}");
            assert!(parse(s.as_bytes()).is_none(), "{s}");
        }
    }

    /// The text of an address in the forms writers use: std's canonical one, every group in full, upper case,
    /// and the last two groups as a dotted quad.
    fn spellings(a: Ipv6Addr) -> Vec<String> {
        let g = a.segments();
        let full = g
            .iter()
            .map(|x| format!("{x:04x}"))
            .collect::<Vec<_>>()
            .join(":");
        let [.., w, x, y, z] = a.octets();
        let quad = format!("{w}.{x}.{y}.{z}");
        let head = g
            .iter()
            .take(6)
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":");
        vec![
            a.to_string(),
            full.clone(),
            full.to_uppercase(),
            format!("{head}:{quad}"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn agrees_with_std_on_near_addresses(s in "[0-9a-fA-F:.]{0,45}") {
            prop_assert_eq!(parse(s.as_bytes()), std_parse(s.as_bytes()), "{:?}", s);
        }

        #[test]
        fn agrees_with_std_on_colon_heavy_text(s in "(([0-9a]{0,5})(:|::|\\.)){0,9}[0-9a]{0,5}") {
            prop_assert_eq!(parse(s.as_bytes()), std_parse(s.as_bytes()), "{:?}", s);
        }

        #[test]
        fn reads_every_spelling(bits in any::<u128>(), zeros in 0usize..8) {
            // Runs of zero groups, so `::` shows up in std's canonical text.
            let mut g = Ipv6Addr::from_bits(bits).segments();
            for slot in g.iter_mut().skip(zeros / 2).take(zeros) {
                *slot = 0;
            }
            let a = Ipv6Addr::from(g);
            for s in spellings(a) {
                prop_assert_eq!(parse(s.as_bytes()), Some(a), "{}", s);
                prop_assert_eq!(std_parse(s.as_bytes()), Some(a), "{}", s);
            }
        }
    }
}
