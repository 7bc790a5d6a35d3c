//! The one request header Envoy itself owns among the client-IP headers, so the filter can tell it
//! from client input.
//!
//! Measured and rejected here: skipping a planned `replace` when Envoy already holds the same value
//! (X-Forwarded-For differs only in Envoy's `,` against the plan's `, `). Comparing the lists cost
//! the guest about 4k Wasm operators per request, several times what the hostcall it saves costs.

/// Envoy's own client-address header. With `use_remote_address: true` the connection manager sets it
/// on every external request to the address it decided (`source.address`), overwriting whatever the
/// client sent; an internal request (its peer the only, internal, X-Forwarded-For entry) passes through
/// untouched.
pub(crate) const ENVOY_EXTERNAL_ADDRESS: &[u8] = b"x-envoy-external-address";

/// Gateway mode: whether the request carries Envoy's own `x-envoy-external-address` — one line
/// holding exactly the address of `source.address` (`source_ip`, the same text Envoy renders for
/// both). Applications behind an Istio gateway read it as the client address Envoy vouches for; any
/// other value did not come from Envoy and is client input.
pub(crate) fn envoy_owns(headers: &[(&[u8], &[u8])], source_ip: &[u8]) -> bool {
    let mut lines = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(ENVOY_EXTERNAL_ADDRESS));
    matches!((lines.next(), lines.next()), (Some((_, v)), None) if crate::bytes::same(v, source_ip))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn envoy_owns_only_its_own_external_address() {
        let source = b"198.51.100.7";
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
    }
}
