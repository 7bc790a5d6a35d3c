//! Who the peer is, per Envoy mode, and the X-Forwarded-For hop Envoy appended.
//!
//! Gateway mode (`use_remote_address: true`, Istio's gateway default): Envoy appends the downstream
//! peer (TCP peer, or the PROXY-protocol source) to X-Forwarded-For before any filter runs, and
//! `source.address` is that peer when `xff_num_trusted_hops` is 0. The filter takes the peer from
//! `source.address` and removes the one entry Envoy appended, so the resolver does not count the peer
//! twice. When the gateway sets `numTrustedProxies` (`xff_num_trusted_hops` > 0), `source.address` is
//! an X-Forwarded-For entry chosen by Envoy, not the peer; the real peer is still the entry Envoy
//! appended last, so the filter takes that one (the `envoy.xff_num_trusted_hops` setting says so).
//!
//! Sidecar mode (`use_remote_address: false`): `source.address` is the rightmost X-Forwarded-For entry
//! when there is one (spoofable by anyone who can reach the pod), otherwise the connection's peer.
//! The filter never trusts it as an address: trust comes only from the caller's mTLS identity. When
//! Envoy took `source.address` from X-Forwarded-For, that entry is the calling gateway's own peer
//! and is removed from the chain for the same no-double-counting reason.

use std::net::{IpAddr, SocketAddr};

/// The peer and the X-Forwarded-For value the resolver should see.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    /// The peer address for the resolver.
    pub(crate) addr: SocketAddr,
    /// Byte length of the X-Forwarded-For value to keep, when the appended entry was cut off
    /// (`Some(0)`: the header held only that entry).
    pub(crate) xff_keep: Option<usize>,
}

/// Parses Envoy's `source.address` (`"ip:port"`, `"[v6]:port"`, or a bare IP).
pub(crate) fn parse_source(raw: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(raw).ok()?;
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0)))
}

/// Gateway mode: `source` from Envoy, `xff` the (coalesced) X-Forwarded-For value after Envoy's append.
pub(crate) fn gateway(source: SocketAddr, xff: Option<&[u8]>, num_trusted_hops: u32) -> Peer {
    let Some((keep, last)) = xff.and_then(split_last) else {
        return Peer {
            addr: source,
            xff_keep: None,
        };
    };
    if last == source.ip() {
        return Peer {
            addr: source,
            xff_keep: Some(keep),
        };
    }
    if num_trusted_hops > 0 {
        return Peer {
            addr: SocketAddr::new(last, 0),
            xff_keep: Some(keep),
        };
    }
    Peer {
        addr: source,
        xff_keep: None,
    }
}

/// Sidecar mode: `source` from Envoy, `xff` the X-Forwarded-For value as received.
pub(crate) fn sidecar(source: SocketAddr, xff: Option<&[u8]>) -> Peer {
    match xff.and_then(split_last) {
        Some((keep, last)) if last == source.ip() => Peer {
            addr: source,
            xff_keep: Some(keep),
        },
        _ => Peer {
            addr: source,
            xff_keep: None,
        },
    }
}

/// The unspecified address of `source`'s family, port 0: "the peer is not known".
pub(crate) fn unknown(source: SocketAddr) -> SocketAddr {
    let ip = match source.ip() {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// Splits off the rightmost comma-separated entry when it is a bare IP: returns the length of what
/// precedes it (without the comma and trailing whitespace) and the IP.
fn split_last(xff: &[u8]) -> Option<(usize, IpAddr)> {
    let cut = xff.iter().rposition(|b| *b == b',');
    let tail = match cut {
        Some(i) => xff.get(i + 1..)?,
        None => xff,
    };
    let ip: IpAddr = std::str::from_utf8(tail)
        .ok()?
        .trim_matches([' ', '\t'])
        .parse()
        .ok()?;
    let keep = match cut {
        Some(i) => {
            let head = xff.get(..i)?;
            head.len()
                - head
                    .iter()
                    .rev()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count()
        }
        None => 0,
    };
    Some((keep, ip))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn gateway_drops_the_entry_envoy_appended() {
        let p = gateway(
            sa("10.0.0.1:5000"),
            Some(b"203.0.113.9, 10.0.0.9,10.0.0.1"),
            0,
        );
        assert_eq!(
            p,
            Peer {
                addr: sa("10.0.0.1:5000"),
                xff_keep: Some(21)
            }
        );
        let p = gateway(sa("10.0.0.1:5000"), Some(b"10.0.0.1"), 0);
        assert_eq!(p.xff_keep, Some(0));
        // Not Envoy's entry (e.g. skip_xff_append): nothing is dropped.
        let p = gateway(sa("10.0.0.1:5000"), Some(b"203.0.113.9"), 0);
        assert_eq!(p.xff_keep, None);
    }

    #[test]
    fn gateway_with_trusted_hops_takes_the_appended_peer() {
        let p = gateway(sa("198.51.100.7:0"), Some(b"198.51.100.7,10.0.0.1"), 1);
        assert_eq!(
            p,
            Peer {
                addr: sa("10.0.0.1:0"),
                xff_keep: Some(12)
            }
        );
    }

    #[test]
    fn sidecar_drops_the_entry_envoy_used_as_source() {
        let p = sidecar(sa("10.1.0.5:0"), Some(b"203.0.113.9, 10.1.0.5"));
        assert_eq!(p.xff_keep, Some(11));
        assert_eq!(sidecar(sa("10.1.0.5:40000"), None).xff_keep, None);
    }

    #[test]
    fn source_address_forms() {
        assert_eq!(
            parse_source(b"[2001:db8::1]:443"),
            Some(sa("[2001:db8::1]:443"))
        );
        assert_eq!(parse_source(b"192.0.2.1:80"), Some(sa("192.0.2.1:80")));
        assert_eq!(parse_source(b"\xff"), None);
    }
}
