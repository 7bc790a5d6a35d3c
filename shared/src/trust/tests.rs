use proptest::prelude::*;

use super::*;

fn set(specs: &[&str]) -> CidrSet {
    CidrSet::new(
        specs
            .iter()
            .map(|s| s.parse().expect("test CIDR"))
            .collect(),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn presets_and_cidrs() {
    let s = set(&["loopback", "private", "198.51.100.0/24"]);
    for yes in [
        "127.0.0.1",
        "127.255.255.255",
        "10.1.2.3",
        "172.16.0.0",
        "172.31.255.255",
        "192.168.0.1",
        "fc00::1",
        "fd00::1",
        "::1",
        "198.51.100.200",
        "::ffff:10.0.0.1",
    ] {
        assert!(s.contains(ip(yes)), "{yes}");
    }
    for no in [
        "169.254.169.254",
        "fe80::1",
        "172.32.0.1",
        "172.15.255.255",
        "8.8.8.8",
        "2001:db8::1",
        "::2",
        "fe00::1",
        "198.51.101.0",
    ] {
        assert!(!s.contains(ip(no)), "{no}");
    }
}

#[test]
fn linklocal_preset_is_separate() {
    let s = set(&["linklocal"]);
    assert!(s.contains(ip("169.254.169.254")));
    assert!(s.contains(ip("fe80::1")));
    assert!(s.contains(ip("febf::1")));
    assert!(!s.contains(ip("fec0::1")));
    assert!(!s.contains(ip("10.0.0.1")));
}

#[test]
fn every_prefix_length_has_exact_boundaries() {
    let base4 = u32::from(Ipv4Addr::new(203, 0, 113, 0)) & 0xffff_ff00;
    for len in 0..=32u8 {
        let net = Ipv4Net::new(Ipv4Addr::from(base4), len)
            .expect("len")
            .trunc();
        let s = CidrSet::new(vec![CidrSpec::Net(IpNet::V4(net))]);
        let lo = u32::from(net.network());
        let hi = u32::from(net.broadcast());
        assert!(s.contains(IpAddr::V4(lo.into())), "/{len} low");
        assert!(s.contains(IpAddr::V4(hi.into())), "/{len} high");
        if let Some(below) = lo.checked_sub(1) {
            assert!(!s.contains(IpAddr::V4(below.into())), "/{len} below");
        }
        if let Some(above) = hi.checked_add(1) {
            assert!(!s.contains(IpAddr::V4(above.into())), "/{len} above");
        }
    }
    let base6 = u128::from(ip6("2001:db8:1234:5678::"));
    for len in 0..=128u8 {
        let net = Ipv6Net::new(Ipv6Addr::from(base6), len)
            .expect("len")
            .trunc();
        let s = CidrSet::new(vec![CidrSpec::Net(IpNet::V6(net))]);
        let lo = u128::from(net.network());
        let hi = u128::from(net.broadcast());
        assert!(s.contains(IpAddr::V6(lo.into())), "/{len} low");
        assert!(s.contains(IpAddr::V6(hi.into())), "/{len} high");
        if let Some(below) = lo.checked_sub(1) {
            // Below ::ffff:0:0/96 the neighbour may be a mapped IPv4 address; those look up as IPv4.
            let below = Ipv6Addr::from(below);
            if below.to_ipv4_mapped().is_none() {
                assert!(!s.contains(IpAddr::V6(below)), "/{len} below");
            }
        }
        if let Some(above) = hi.checked_add(1) {
            assert!(!s.contains(IpAddr::V6(above.into())), "/{len} above");
        }
    }
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

#[test]
fn overlapping_and_adjacent_ranges_merge() {
    let s = set(&[
        "10.0.0.0/9",
        "10.128.0.0/9",
        "10.1.0.0/16",
        "192.0.2.1",
        "192.0.2.2/31",
    ]);
    assert_eq!(
        s.v4,
        vec![(0x0a00_0000, 0x0aff_ffff), (0xc000_0201, 0xc000_0203)]
    );
    assert!(s.contains(ip("192.0.2.3")));
    assert!(!s.contains(ip("192.0.2.4")));
}

#[test]
fn bare_addresses_and_mapped_networks() {
    let s = set(&["192.0.2.7", "2001:db8::7", "::ffff:198.51.100.0/120"]);
    assert!(s.contains(ip("192.0.2.7")));
    assert!(!s.contains(ip("192.0.2.8")));
    assert!(s.contains(ip("2001:db8::7")));
    assert!(s.contains(ip("198.51.100.9")));
    assert!(s.contains(ip("::ffff:198.51.100.9")));
    assert_eq!(
        s.specs()[2],
        CidrSpec::Net("198.51.100.0/24".parse().expect("net"))
    );
}

#[test]
fn invalid_entries_are_rejected_with_the_value() {
    let err = |s: &str| s.parse::<CidrSpec>().expect_err(s).to_string();
    assert!(err("10.0.0.0/33").contains("\"10.0.0.0/33\""));
    assert!(err("Private").contains("\"Private\""));
    assert!(err("").contains("\"\""));
    assert!(err("10.0.0.0/8 ").contains("\"10.0.0.0/8 \""));
    let host_bits = err("10.0.0.1/8");
    assert!(host_bits.contains("10.0.0.0/8"), "{host_bits}");
    assert!(host_bits.contains("\"10.0.0.1/8\""), "{host_bits}");
}

#[test]
fn covers_everything_detects_any_address() {
    assert!(set(&["0.0.0.0/0"]).covers_everything());
    assert!(set(&["::/0"]).covers_everything());
    assert!(set(&["0.0.0.0/1", "128.0.0.0/1"]).covers_everything());
    assert!(!set(&["private", "loopback"]).covers_everything());
    assert!(CidrSet::default().is_empty());
}

proptest! {
    #[test]
    fn lookup_matches_a_linear_scan(
        nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..12),
        probes in proptest::collection::vec(any::<u32>(), 1..32),
    ) {
        let nets: Vec<Ipv4Net> = nets
            .into_iter()
            .map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).expect("len").trunc())
            .collect();
        let s = CidrSet::new(nets.iter().map(|n| CidrSpec::Net(IpNet::V4(*n))).collect());
        // Probe each range's edges and their neighbours too, where an off-by-one would show.
        let edges = nets.iter().flat_map(|n| {
            let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
            [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]
        });
        for p in probes.into_iter().chain(edges) {
            let a = Ipv4Addr::from(p);
            let expected = nets.iter().any(|n| n.contains(&a));
            prop_assert_eq!(s.contains(IpAddr::V4(a)), expected);
            prop_assert_eq!(s.contains_v4(a), expected);
        }
    }
}

proptest! {
    #[test]
    fn large_sets_use_the_binary_search_correctly(
        nets in proptest::collection::vec((any::<u128>(), 8u8..=128), 16..48),
        probes in proptest::collection::vec(any::<u128>(), 1..32),
    ) {
        let nets: Vec<Ipv6Net> = nets
            .into_iter()
            .map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).expect("len").trunc())
            .filter(|n| n.network().to_ipv4_mapped().is_none())
            .collect();
        let s = CidrSet::new(nets.iter().map(|n| CidrSpec::Net(IpNet::V6(*n))).collect());
        // Probe the boundaries too, where an off-by-one would show.
        let edges = nets.iter().flat_map(|n| [u128::from(n.network()), u128::from(n.broadcast())]);
        for p in probes.into_iter().chain(edges) {
            let a = Ipv6Addr::from(p);
            if a.to_ipv4_mapped().is_some() {
                continue;
            }
            prop_assert_eq!(s.contains(IpAddr::V6(a)), nets.iter().any(|n| n.contains(&a)));
        }
    }
}

proptest! {
    #[test]
    fn heap_sort_sorts_like_the_standard_sort(mut v in proptest::collection::vec(any::<(u8, u16)>(), 0..200)) {
        let mut expected = v.clone();
        expected.sort_unstable();
        heap_sort(&mut v);
        prop_assert_eq!(v, expected);
    }
}
