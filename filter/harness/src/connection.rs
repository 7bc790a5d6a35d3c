//! The downstream connection and the connection manager's address handling, as Envoy performs it
//! before any HTTP filter runs, and the properties a filter can read about them.

use std::net::{IpAddr, SocketAddr};

use crate::header_map::HeaderMap;

/// The downstream connection a request arrives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The TCP peer, or the PROXY-protocol source when `envoy.filters.listener.proxy_protocol` ran.
    pub peer: SocketAddr,
    /// The local address the connection was accepted on.
    pub local: SocketAddr,
    /// The peer's certificate URI SAN when the connection is mutual TLS.
    pub mtls_uri_san: Option<String>,
}

impl Connection {
    /// A plaintext connection from `peer` to `local`.
    pub fn plain(peer: SocketAddr, local: SocketAddr) -> Connection {
        Connection {
            peer,
            local,
            mtls_uri_san: None,
        }
    }

    /// A mutual-TLS connection whose client certificate carries `uri_san`.
    pub fn mtls(peer: SocketAddr, local: SocketAddr, uri_san: &str) -> Connection {
        Connection {
            peer,
            local,
            mtls_uri_san: Some(uri_san.to_owned()),
        }
    }
}

/// The HTTP connection manager settings that decide `source.address` and the X-Forwarded-For
/// append (`conn_manager_utility.cc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionManager {
    /// `use_remote_address`: true at an edge/gateway (Istio gateways), false in sidecars.
    pub use_remote_address: bool,
    /// `xff_num_trusted_hops` (Istio `numTrustedProxies`).
    pub xff_num_trusted_hops: u32,
    /// `internal_address_config`: which remote addresses make a request internal.
    pub internal_addresses: InternalAddresses,
}

/// Which downstream remote addresses the connection manager treats as internal
/// (`internal_address_config`). An internal request keeps the `x-envoy-*` headers it carries; an
/// external one gets `x-envoy-external-address` set by Envoy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalAddresses {
    /// The field unset in Envoy 1.33 and later: no address is internal. RFC 1918 addresses stopped
    /// being internal by default in 1.33 (a header-spoofing fix for multi-tenant meshes) and the
    /// runtime guard that restored them was removed in 1.36. Istio leaves the field unset unless
    /// mesh networks are configured, so this is what its gateways do today.
    Unset,
    /// RFC 1918, loopback and IPv6 unique-local addresses: the field unset before Envoy 1.33
    /// (`Network::Utility::isInternalAddress`), or an explicit `cidr_ranges` listing those ranges.
    Rfc1918,
}

impl InternalAddresses {
    /// Whether a request whose remote address is `ip` is internal.
    pub fn contains(self, ip: IpAddr) -> bool {
        match self {
            InternalAddresses::Unset => false,
            InternalAddresses::Rfc1918 => match ip {
                IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
                IpAddr::V6(v6) => v6.is_loopback() || matches!(v6.octets(), [0xfc..=0xfd, ..]),
            },
        }
    }
}

impl ConnectionManager {
    /// An Istio ingress gateway by default: the peer is the remote address, no trusted hops, no
    /// internal addresses.
    pub const GATEWAY: ConnectionManager = ConnectionManager {
        use_remote_address: true,
        xff_num_trusted_hops: 0,
        internal_addresses: InternalAddresses::Unset,
    };
    /// An Istio sidecar inbound listener: the remote address comes from X-Forwarded-For.
    pub const SIDECAR: ConnectionManager = ConnectionManager {
        use_remote_address: false,
        xff_num_trusted_hops: 0,
        internal_addresses: InternalAddresses::Unset,
    };

    /// Mutates the request headers as the connection manager does and returns the downstream remote
    /// address that `source.address` will report.
    ///
    /// `use_remote_address: true`: the remote is the peer (or the XFF entry `xff_num_trusted_hops`
    /// from the right) and the peer is appended to X-Forwarded-For. `false`: the remote is taken from
    /// X-Forwarded-For (the rightmost entry after skipping trusted hops) and nothing is appended; when
    /// that entry is missing or not an IP, the peer is used.
    ///
    /// With `use_remote_address: true`, an external request (anything but a lone internal address in
    /// X-Forwarded-For after the append; see [`InternalAddresses`]) also gets `x-envoy-external-address` set to the remote
    /// address, overwriting what the client sent; an internal request keeps whatever it carried.
    pub fn apply(&self, peer: SocketAddr, headers: &mut HeaderMap) -> SocketAddr {
        let hops = self.xff_num_trusted_hops;
        if self.use_remote_address {
            let remote = match hops {
                0 => peer,
                n => xff_entry(headers, n - 1)
                    .map(|ip| SocketAddr::new(ip, 0))
                    .unwrap_or(peer),
            };
            headers.add(b"x-forwarded-for", peer.ip().to_string().as_bytes());
            let single = headers
                .get(b"x-forwarded-for")
                .is_some_and(|v| !v.contains(&b','));
            if !(single && self.internal_addresses.contains(remote.ip())) {
                headers.replace(
                    b"x-envoy-external-address",
                    remote.ip().to_string().as_bytes(),
                );
            }
            remote
        } else {
            xff_entry(headers, hops)
                .map(|ip| SocketAddr::new(ip, 0))
                .unwrap_or(peer)
        }
    }
}

/// `getLastAddressFromXFF`: the entry `skip` places from the right, which must be a bare IP.
fn xff_entry(headers: &HeaderMap, skip: u32) -> Option<IpAddr> {
    let value = headers.get(b"x-forwarded-for")?;
    let text = std::str::from_utf8(value).ok()?;
    let entries: Vec<&str> = text.split(',').collect();
    let index = entries
        .len()
        .checked_sub(1)?
        .checked_sub(usize::try_from(skip).ok()?)?;
    entries.get(index)?.trim().parse().ok()
}

/// Envoy's `"ip:port"` / `"[v6]:port"` rendering of an address.
pub(crate) fn address_string(addr: SocketAddr) -> String {
    addr.to_string()
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;
    use crate::header_map::MapKind;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn gateway_appends_the_peer_and_reports_it() {
        let mut h = HeaderMap::from_lines(MapKind::Request, &[("x-forwarded-for", "1.2.3.4")]);
        let remote = ConnectionManager::GATEWAY.apply(sa("10.0.0.1:999"), &mut h);
        assert_eq!(remote, sa("10.0.0.1:999"));
        assert_eq!(
            h.get(b"x-forwarded-for"),
            Some(b"1.2.3.4,10.0.0.1".as_slice())
        );
    }

    #[test]
    fn gateway_sets_its_external_address_on_external_requests_only() {
        let mut h =
            HeaderMap::from_lines(MapKind::Request, &[("x-envoy-external-address", "6.6.6.6")]);
        ConnectionManager::GATEWAY.apply(sa("198.51.100.7:999"), &mut h);
        assert_eq!(
            h.get_all(b"x-envoy-external-address"),
            vec![b"198.51.100.7".as_slice()]
        );
        // Envoy 1.33 and later: with internal_address_config unset a private peer is external too.
        let mut h =
            HeaderMap::from_lines(MapKind::Request, &[("x-envoy-external-address", "6.6.6.6")]);
        ConnectionManager::GATEWAY.apply(sa("10.0.0.1:999"), &mut h);
        assert_eq!(
            h.get_all(b"x-envoy-external-address"),
            vec![b"10.0.0.1".as_slice()]
        );
        // With RFC 1918 internal (older Envoy, or configured), a private peer with no
        // X-Forwarded-For is an internal request: untouched.
        let classic = ConnectionManager {
            internal_addresses: InternalAddresses::Rfc1918,
            ..ConnectionManager::GATEWAY
        };
        let mut h =
            HeaderMap::from_lines(MapKind::Request, &[("x-envoy-external-address", "6.6.6.6")]);
        classic.apply(sa("10.0.0.1:999"), &mut h);
        assert_eq!(
            h.get(b"x-envoy-external-address"),
            Some(b"6.6.6.6".as_slice())
        );
        // The same peer forwarding for someone else is external.
        let mut h = HeaderMap::from_lines(MapKind::Request, &[("x-forwarded-for", "1.2.3.4")]);
        classic.apply(sa("10.0.0.1:999"), &mut h);
        assert_eq!(
            h.get(b"x-envoy-external-address"),
            Some(b"10.0.0.1".as_slice())
        );
        let mut h = HeaderMap::new(MapKind::Request);
        ConnectionManager::SIDECAR.apply(sa("198.51.100.7:999"), &mut h);
        assert_eq!(h.get(b"x-envoy-external-address"), None);
    }

    #[test]
    fn sidecar_takes_the_rightmost_xff_entry_without_appending() {
        let mut h =
            HeaderMap::from_lines(MapKind::Request, &[("x-forwarded-for", "1.2.3.4, 5.6.7.8")]);
        let remote = ConnectionManager::SIDECAR.apply(sa("10.0.0.1:999"), &mut h);
        assert_eq!(remote, sa("5.6.7.8:0"));
        assert_eq!(
            h.get(b"x-forwarded-for"),
            Some(b"1.2.3.4, 5.6.7.8".as_slice())
        );
        let mut bad = HeaderMap::from_lines(MapKind::Request, &[("x-forwarded-for", "junk")]);
        assert_eq!(
            ConnectionManager::SIDECAR.apply(sa("10.0.0.1:9"), &mut bad),
            sa("10.0.0.1:9")
        );
    }
}
