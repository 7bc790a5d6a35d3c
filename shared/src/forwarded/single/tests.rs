use proptest::prelude::*;

use super::*;
use crate::forwarded::Node;

#[test]
fn absent_one_duplicate() {
    assert_eq!(value(std::iter::empty()), Single::Absent);
    assert_eq!(value([b"".as_slice(), b"  "].into_iter()), Single::Absent);
    let Single::One(e) = value([b" 192.0.2.1 ".as_slice()].into_iter()) else {
        panic!("one value expected");
    };
    assert!(matches!(e.node, Ok(Node::Addr(_))));
    assert_eq!(
        value([b"192.0.2.1".as_slice(), b"192.0.2.2"].into_iter()),
        Single::Duplicate
    );
    assert_eq!(
        value([b"192.0.2.1".as_slice(), b"192.0.2.1"].into_iter()),
        Single::Duplicate
    );
    assert_eq!(
        value([b"192.0.2.1, 192.0.2.2".as_slice()].into_iter()),
        Single::Duplicate
    );
}

#[test]
fn malformed_single_value_is_reported() {
    let Single::One(e) = value([b"not-an-ip".as_slice()].into_iter()) else {
        panic!("one value expected");
    };
    assert!(e.node.is_err());
}

proptest! {
    #[test]
    fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..3)) {
        let _ = value(lines.iter().map(Vec::as_slice));
    }
}
