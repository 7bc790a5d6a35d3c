use super::*;

#[test]
fn absent_one_duplicate() {
    assert_eq!(value(std::iter::empty()), Single::Absent);
    assert!(matches!(
        value([b"192.0.2.1".as_slice()].into_iter()),
        Single::One(_)
    ));
    assert_eq!(
        value([b"192.0.2.1".as_slice(), b"192.0.2.2"].into_iter()),
        Single::Duplicate
    );
    assert_eq!(
        value([b"192.0.2.1, 192.0.2.2".as_slice()].into_iter()),
        Single::Duplicate
    );
}
