use super::*;

fn ok(s: &str) -> ClientAddr {
    match ClientAddr::parse(s.as_bytes()) {
        Ok(a) => a,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn accepted_forms() {
    assert_eq!(
        ok("203.0.113.9"),
        ClientAddr {
            ip: ip("203.0.113.9"),
            port: None
        }
    );
    assert_eq!(
        ok("203.0.113.9:4711"),
        ClientAddr {
            ip: ip("203.0.113.9"),
            port: Some(4711)
        }
    );
    assert_eq!(
        ok("2001:db8::1"),
        ClientAddr {
            ip: ip("2001:db8::1"),
            port: None
        }
    );
    assert_eq!(
        ok("[2001:db8::1]"),
        ClientAddr {
            ip: ip("2001:db8::1"),
            port: None
        }
    );
    assert_eq!(
        ok("[2001:db8::1]:443"),
        ClientAddr {
            ip: ip("2001:db8::1"),
            port: Some(443)
        }
    );
    assert_eq!(
        ok(" \t203.0.113.9 \t"),
        ClientAddr {
            ip: ip("203.0.113.9"),
            port: None
        }
    );
}
