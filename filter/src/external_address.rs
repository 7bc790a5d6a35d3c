//! The one request header Envoy itself owns among the client-IP headers, so the filter can tell it
//! from client input.
//!
//! Measured and rejected here: skipping a planned `replace` when Envoy already holds the same value
//! (X-Forwarded-For differs only in Envoy's `,` against the plan's `, `). Comparing the lists cost
//! the guest about 4k Wasm operators per request, several times what the hostcall it saves costs.

use std::net::{IpAddr, SocketAddr};

/// Envoy's own client-address header. With `use_remote_address: true` the connection manager sets it
/// on every external request to the address it decided (`source.address`), overwriting whatever the
/// client sent; an internal request (its peer the only, internal, X-Forwarded-For entry) passes through
/// untouched.
pub(crate) const ENVOY_EXTERNAL_ADDRESS: &[u8] = b"x-envoy-external-address";

/// Gateway mode: whether the request carries Envoy's own `x-envoy-external-address` — one line
/// holding exactly `source.address`. Applications behind an Istio gateway read it as the client
/// address Envoy vouches for; any other value did not come from Envoy and is client input.
pub(crate) fn envoy_owns(headers: &[(&[u8], &[u8])], source: SocketAddr) -> bool {
    only_value(headers, ENVOY_EXTERNAL_ADDRESS).is_some_and(|v| parse_ip(v) == Some(source.ip()))
}

/// The value of `name` when it has exactly one line.
fn only_value<'a>(headers: &[(&'a [u8], &'a [u8])], name: &[u8]) -> Option<&'a [u8]> {
    let mut lines = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    match (lines.next(), lines.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

fn parse_ip(v: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn envoy_owns_only_its_own_external_address() {
        let source: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        let set: &[(&[u8], &[u8])] = &[(b"X-Envoy-External-Address", b"198.51.100.7")];
        assert!(envoy_owns(set, source));
        let spoofed: &[(&[u8], &[u8])] = &[(b"x-envoy-external-address", b"1.2.3.4")];
        assert!(!envoy_owns(spoofed, source));
        let twice: &[(&[u8], &[u8])] = &[
            (b"x-envoy-external-address", b"198.51.100.7"),
            (b"x-envoy-external-address", b"1.2.3.4"),
        ];
        assert!(!envoy_owns(twice, source));
        assert!(!envoy_owns(&[(b"x-real-ip", b"198.51.100.7")], source));
        let v6: SocketAddr = "[2001:db8::7]:1".parse().unwrap();
        assert!(envoy_owns(
            &[(b"x-envoy-external-address", b"2001:db8:0::7")],
            v6
        ));
    }
}
