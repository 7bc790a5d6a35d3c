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
}

#[test]
fn names_compare_case_insensitively() {
    assert!(name_is(b"X-FORWARDED-FOR", "x-forwarded-for"));
    assert!(name_is(b"Forwarded", "forwarded"));
    assert!(!name_is(b"Forwarded ", "forwarded"));
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
