//! Hop-by-hop headers (RFC 9110 §7.6.1): meaningful for one connection only, never forwarded.

use std::sync::LazyLock;

use http::HeaderMap;
use http::header::{
    CONNECTION, HeaderName, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};

/// Removes the hop-by-hop headers and every header the `Connection` header nominates.
///
/// Run before the rewrite plan is applied, so a client cannot use `Connection: x-forwarded-for`
/// to strip the header the proxy sets.
pub fn strip(headers: &mut HeaderMap) {
    // Runs twice per proxied request. Most messages carry at most `Connection`, so one pass over
    // the names present finds what to remove, instead of a hash lookup for every candidate.
    let fixed: &[HeaderName; 9] = &HOP_BY_HOP;
    let mut present = 0u16;
    for name in headers.keys() {
        // Most names cannot be hop-by-hop by their length alone; only those are compared.
        let len = name.as_str().len();
        if len >= 32 || HOP_BY_HOP_LENGTHS & (1 << len) == 0 {
            continue;
        }
        if let Some(i) = fixed.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        // `keep-alive` is removed as a fixed name anyway, so the usual `Connection: keep-alive`
        // costs no allocation.
        let options = |headers: &HeaderMap| {
            headers
                .get_all(CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|n| !n.eq_ignore_ascii_case("keep-alive"))
                .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                .collect::<Vec<_>>()
        };
        let only_keep_alive = headers
            .get_all(CONNECTION)
            .iter()
            .all(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive"));
        if !only_keep_alive {
            for name in options(headers) {
                headers.remove(name);
            }
        }
    }
    for (i, name) in fixed.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Bit `n` is set when a name in [`HOP_BY_HOP`] is `n` bytes long (2, 7, 10, 16, 17, 18, 19).
const HOP_BY_HOP_LENGTHS: u32 =
    (1 << 2) | (1 << 7) | (1 << 10) | (1 << 16) | (1 << 17) | (1 << 18) | (1 << 19);

/// The fixed hop-by-hop set, `Connection` first (it can name more). Built once: `from_static`
/// validates its argument at run time.
static HOP_BY_HOP: LazyLock<[HeaderName; 9]> = LazyLock::new(|| {
    [
        CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_filter_admits_every_fixed_name() {
        for name in HOP_BY_HOP.iter() {
            let len = name.as_str().len();
            assert!(len < 32 && HOP_BY_HOP_LENGTHS & (1 << len) != 0, "{name}");
        }
    }

    #[test]
    fn strips_fixed_and_nominated_headers() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("x-forwarded-for", "203.0.113.7"),
        ] {
            h.append(HeaderName::from_static(n), v.parse().expect("value"));
        }
        strip(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-forwarded-for"]);
    }

    #[test]
    fn option_tokens_and_every_fixed_name() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "close"),
            ("connection", "Keep-Alive , x-a"),
            (
                "close",
                "a field named like the option is removed too (RFC 9110 7.6.1)",
            ),
            ("x-a", "1"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authenticate", "Basic"),
            ("proxy-authorization", "Basic x"),
            ("upgrade", "h2c"),
            ("trailer", "x-t"),
            ("host", "example"),
        ] {
            h.append(HeaderName::from_static(n), v.parse().expect("value"));
        }
        strip(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["host"]);
        let mut none = HeaderMap::new();
        none.insert(http::header::HOST, "example".parse().expect("value"));
        strip(&mut none);
        assert_eq!(none.len(), 1);
    }
}
