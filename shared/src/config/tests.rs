use super::*;

#[test]
fn bundled_default_parses() {
    Config::from_json(DEFAULT_JSON).expect("bundled default config must parse");
}

#[test]
fn bad_cidr_names_its_path_and_value() {
    let e = Config::from_json(r#"{"trust":{"proxies":["10.0.0.0/8","loopback","10.0.0.0/33"]}}"#)
        .expect_err("bad CIDR");
    assert_eq!(e.path, "trust.proxies[2]");
    assert!(e.to_string().starts_with("trust.proxies[2]: "), "{e}");
    assert!(e.message.contains("\"10.0.0.0/33\""), "{e}");
}
