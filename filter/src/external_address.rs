//! The one request header Envoy itself owns among the client-IP headers, so the filter can tell it
//! from client input. (Envoy's other own value, its X-Forwarded-For append, is in `envoy_append`.)

/// Envoy's own client-address header. With `use_remote_address: true` the connection manager sets it
/// on every external request to the address it decided (`source.address`), overwriting whatever the
/// client sent; an internal request (its peer the only, internal, X-Forwarded-For entry) passes through
/// untouched.
pub(crate) const ENVOY_EXTERNAL_ADDRESS: &str = "x-envoy-external-address";

/// Gateway mode: whether the request's only `x-envoy-external-address` line, `value`, is Envoy's own —
/// exactly the address of `source.address` (`source_ip`, the same text Envoy renders for both).
/// Applications behind an Istio gateway read it as the client address Envoy vouches for; any other
/// value, or a second line, did not come from Envoy and is client input.
pub(crate) fn envoy_owns(value: &[u8], source_ip: &[u8]) -> bool {
    crate::bytes::same(value, source_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_owns_only_its_own_external_address() {
        assert!(envoy_owns(b"198.51.100.7", b"198.51.100.7"));
        assert!(!envoy_owns(b"1.2.3.4", b"198.51.100.7"));
        assert!(!envoy_owns(b"198.51.100.70", b"198.51.100.7"));
    }
}
