use super::*;

fn set(specs: &[&str]) -> CidrSet {
    CidrSet::new(
        specs
            .iter()
            .map(|s| s.parse().expect("test CIDR"))
            .collect(),
    )
}

#[test]
fn presets_and_cidrs() {
    let s = set(&["loopback", "private", "198.51.100.0/24"]);
    for yes in [
        "127.0.0.1",
        "10.1.2.3",
        "172.31.255.255",
        "192.168.0.1",
        "fd00::1",
        "::1",
        "198.51.100.200",
    ] {
        assert!(s.contains(yes.parse().expect("ip")), "{yes}");
    }
    for no in [
        "169.254.169.254",
        "fe80::1",
        "172.32.0.1",
        "8.8.8.8",
        "2001:db8::1",
    ] {
        assert!(!s.contains(no.parse().expect("ip")), "{no}");
    }
}
