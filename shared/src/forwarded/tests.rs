use super::*;

#[test]
fn underscore_variants_are_recognised() {
    assert!(name_is_variant(b"X_Forwarded_For", "x-forwarded-for"));
    assert!(name_is_variant(b"x-forwarded_for", "x-forwarded-for"));
    assert!(name_is_variant(b"X_REAL_IP", "x-real-ip"));
    assert!(!name_is_variant(b"X-Forwarded-For", "x-forwarded-for"));
    assert!(!name_is_variant(b"x_forwarded_fo", "x-forwarded-for"));
    assert!(!name_is_variant(b"x_forwarded_fox", "x-forwarded-for"));
    assert!(!name_is_variant(b"forwarded", "forwarded"));
    // A configured name with `_` in it is the header itself, in any case; only a `_` written for a `-` makes a
    // look-alike.
    assert!(!name_is_variant(b"x_real_ip", "x_real_ip"));
    assert!(!name_is_variant(b"X_Real_IP", "x_real_ip"));
    assert!(name_is_variant(b"X_Real_IP", "x_real-ip"));
    assert!(!name_is_variant(b"x-real_ip", "x_real_ip"));
}

#[test]
fn names_compare_case_insensitively() {
    assert!(name_is(b"X-FORWARDED-FOR", "x-forwarded-for"));
    assert!(name_is(b"Forwarded", "forwarded"));
    assert!(!name_is(b"Forwarded ", "forwarded"));
}

proptest::proptest! {
    // The word-at-a-time comparison against its byte-by-byte definition, on names that are mostly case
    // variants of the target (and so reach every branch), with bytes of 0x80 and up mixed in.
    #[test]
    fn name_is_matches_its_byte_definition(
        target in "[a-z0-9_-]{0,30}",
        flips in proptest::collection::vec(0u8..4, 30),
        junk in proptest::prelude::any::<u8>(),
    ) {
        let name: Vec<u8> = target
            .bytes()
            .zip(&flips)
            .map(|(b, f)| match f {
                0 => b.to_ascii_uppercase(),
                1 => junk,
                _ => b,
            })
            .collect();
        let bytewise = name.len() == target.len()
            && name
                .iter()
                .zip(target.bytes())
                .all(|(&n, l)| n == l || (n.is_ascii_uppercase() && n.to_ascii_lowercase() == l));
        proptest::prop_assert_eq!(name_is(&name, &target), bytewise);
    }
}

#[test]
fn names_compare_word_at_a_time_with_tails() {
    assert!(name_is(b"X-Forwarded-For", "x-forwarded-for"));
    assert!(name_is(b"CF-CONNECTING-IP", "cf-connecting-ip"));
    assert!(!name_is(b"x-forwarded-fox", "x-forwarded-for"));
    assert!(!name_is(b"y-forwarded-for", "x-forwarded-for"));
    assert!(!name_is(b"x-forwarded\xc3for", "x-forwarded-for"));
    // `@` and `[` sit just outside A-Z and must not fold onto a backquote or a brace.
    assert!(!name_is(b"@@@@@@@@", "````````"));
    assert!(!name_is(b"[[[[[[[[", "{{{{{{{{"));
}

#[test]
fn lines_rev_is_last_line_first() {
    let headers: &[(&[u8], &[u8])] = &[(b"A", b"1"), (b"b", b"x"), (b"a", b"2")];
    let got: Vec<&[u8]> = lines_rev(headers, "a").collect();
    assert_eq!(got, vec![b"2".as_slice(), b"1"]);
}

#[test]
fn single_ip_headers_are_spoofable() {
    for h in SINGLE_IP_HEADERS {
        assert!(SPOOFABLE_HEADERS.contains(h), "{h}");
    }
}

#[test]
fn tchar_table_is_rfc_9110_tchar() {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    for b in 0..=u8::MAX {
        assert_eq!(is_tchar(b), tchar(b), "byte {b:#04x}");
    }
}
