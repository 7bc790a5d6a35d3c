use super::*;
use crate::Config;
use crate::addr::PeerAddr;

fn resolver(json: &str) -> Resolver {
    Resolver::new(&Config::from_json(json).expect("test config").policy)
}

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
        ("x-forwarded-for", "9.9.9.9"),
    ]);
    assert_eq!(
        out,
        vec![
            (b"Host".to_vec(), b"a".to_vec()),
            (b"x-forwarded-for".to_vec(), b"192.0.2.1".to_vec())
        ]
    );
}

#[test]
fn untrusted_plan_lists_each_name_seen_once_in_lowercase() {
    let r = resolver(r#"{"trust":{"proxies":["10.0.0.0/8"]},"rewrite":{"xff":"keep"}}"#);
    let h: &[(&[u8], &[u8])] = &[
        (b"X-Forwarded-For", b"1.2.3.4"),
        (b"x-forwarded-for", b"1.2.3.5"),
        (b"X_Forwarded_For", b"1.2.3.6"),
        (b"X-Real-IP", b"1.2.3.7"),
        (b"Host", b"example.com"),
    ];
    let q = Request {
        peer: PeerAddr("198.51.100.1:1".parse().expect("addr")),
        peer_identity: None,
        headers: h,
    };
    let d = r.resolve(&q).expect("decision");
    let plan = r.rewrite_plan(&q, &d);
    assert_eq!(
        plan.remove,
        vec!["x-forwarded-for", "x_forwarded_for", "x-real-ip"]
    );
    assert!(plan.set.is_empty());
    assert!(!plan.is_empty());
}

#[test]
fn trusted_plan_keeps_configured_single_source() {
    let r = resolver(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":[{"header":"x-real-ip"}],"rewrite":{"xff":"keep"}}"#,
    );
    let h: &[(&[u8], &[u8])] = &[
        (b"X-Real-IP", b"203.0.113.9"),
        (b"True-Client-IP", b"1.2.3.4"),
    ];
    let q = Request {
        peer: PeerAddr("10.0.0.2:1".parse().expect("addr")),
        peer_identity: None,
        headers: h,
    };
    let d = r.resolve(&q).expect("decision");
    let plan = r.rewrite_plan(&q, &d);
    assert_eq!(plan.remove, vec!["true-client-ip"]);
    assert!(plan.set.is_empty());
}

#[test]
fn canonical_chain_comes_from_the_deciding_source() {
    let r = resolver(
        r#"{"trust":{"proxies":["10.0.0.0/8"]},"sources":["forwarded","x-forwarded-for"],"rewrite":{"xff":"canonical","forwarded":"canonical"}}"#,
    );
    let h: &[(&[u8], &[u8])] = &[
        (
            b"Forwarded",
            b"for=6.6.6.6, for=\"[2001:db8::9]:443\", for=10.0.0.5",
        ),
        (b"X-Forwarded-For", b"7.7.7.7"),
    ];
    let q = Request {
        peer: PeerAddr("10.0.0.2:1".parse().expect("addr")),
        peer_identity: None,
        headers: h,
    };
    let d = r.resolve(&q).expect("decision");
    let plan = r.rewrite_plan(&q, &d);
    assert_eq!(
        plan.set,
        vec![
            (
                "x-forwarded-for".to_owned(),
                "2001:db8::9, 10.0.0.5, 10.0.0.2".to_owned()
            ),
            (
                "forwarded".to_owned(),
                "for=\"[2001:db8::9]\", for=10.0.0.5, for=10.0.0.2".to_owned()
            ),
        ]
    );
}

fn any_ip() -> impl proptest::strategy::Strategy<Value = IpAddr> {
    use proptest::prelude::*;
    prop_oneof![
        any::<u32>().prop_map(|b| IpAddr::from(std::net::Ipv4Addr::from(b))),
        any::<u128>().prop_map(|b| IpAddr::from(std::net::Ipv6Addr::from(b))),
        Just("2001:db8::1".parse().expect("test address")),
    ]
}

proptest::proptest! {
    /// The header renderers the plan uses (no `core::fmt`) write what `core::fmt` would write.
    #[test]
    fn rendered_chains_match_the_header_renderers(
        ips in proptest::collection::vec(any_ip(), 0..6),
    ) {
        let by_fmt = |element: fn(&IpAddr) -> String| {
            ips.iter().map(element).collect::<Vec<_>>().join(", ")
        };
        proptest::prop_assert_eq!(xff::render(ips.clone()), by_fmt(|ip| ip.to_string()));
        let for_by_fmt = by_fmt(|ip| match ip {
            IpAddr::V4(v4) => format!("for={v4}"),
            IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
        });
        proptest::prop_assert_eq!(rfc7239::render(ips.clone()), for_by_fmt);
        for &ip in &ips {
            let mut one = String::new();
            rfc7239::push_for(&mut one, ip);
            proptest::prop_assert!(one.len() <= rfc7239::MAX_FOR_LEN);
        }
    }
}

#[test]
fn appended_list_keeps_lines_verbatim_and_replaces_only_invalid_utf8() {
    let h: &[(&[u8], &[u8])] = &[
        (b"X-Forwarded-For", b" 1.2.3.4, \xffbad "),
        (b"host", b"a"),
        (b"x-forwarded-for", b" , "),
        (b"x-forwarded-for", b"5.6.7.8"),
    ];
    let peer: IpAddr = "10.0.0.1".parse().expect("ip");
    assert_eq!(
        appended(h, "x-forwarded-for", false, peer, push_ip),
        "1.2.3.4, \u{fffd}bad, 5.6.7.8, 10.0.0.1"
    );
    assert_eq!(
        appended(h, "x-forwarded-for", true, peer, push_ip),
        "10.0.0.1"
    );
    let v6: IpAddr = "2001:db8::1".parse().expect("ip");
    assert_eq!(
        appended(&[], "forwarded", false, v6, rfc7239::push_for),
        "for=\"[2001:db8::1]\""
    );
}
