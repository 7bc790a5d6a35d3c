use super::*;

#[test]
fn underscore_variants_are_recognised() {
    assert!(name_is_variant(b"X_Forwarded_For", "x-forwarded-for"));
    assert!(name_is_variant(b"x-forwarded_for", "x-forwarded-for"));
    assert!(!name_is_variant(b"X-Forwarded-For", "x-forwarded-for"));
    assert!(!name_is_variant(b"x_forwarded_fo", "x-forwarded-for"));
}
