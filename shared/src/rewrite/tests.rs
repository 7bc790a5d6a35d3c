use super::*;

#[test]
fn apply_removes_then_sets() {
    let plan = RewritePlan {
        remove: vec!["x_forwarded_for".into()],
        set: vec![("x-forwarded-for".into(), "192.0.2.1".into())],
    };
    let out = plan.apply(&[
        ("X_Forwarded_For", "1.2.3.4"),
        ("Host", "a"),
        ("X-Forwarded-For", "5.6.7.8"),
    ]);
    assert_eq!(
        out,
        vec![
            (b"Host".to_vec(), b"a".to_vec()),
            (b"x-forwarded-for".to_vec(), b"192.0.2.1".to_vec())
        ]
    );
}
