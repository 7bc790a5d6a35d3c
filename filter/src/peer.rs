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

use trueip::ClientAddr;

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
    // The common `a.b.c.d:port` goes through the core's one-pass dotted-quad parser; anything else (IPv6, a
    // bare IP, or text only the standard parser would judge) through the standard parser, as before.
    if raw.first().is_some_and(u8::is_ascii_digit)
        && raw.last().is_some_and(u8::is_ascii_digit)
        && let Ok(ClientAddr {
            ip: ip @ IpAddr::V4(_),
            port: Some(port),
        }) = ClientAddr::parse(raw)
    {
        return Some(SocketAddr::new(ip, port));
    }
    let text = std::str::from_utf8(raw).ok()?;
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0)))
}

/// Gateway mode: `source` from Envoy (`source_ip` its address text, see [`ip_text`]), `xff` the
/// (coalesced) X-Forwarded-For value after Envoy's append.
///
/// Envoy renders the entry it appends and `source.address` from the same address, so the appended entry
/// is recognised by its text — no IP parse on the common path.
pub(crate) fn gateway(
    source: SocketAddr,
    source_ip: &[u8],
    xff: Option<&[u8]>,
    num_trusted_hops: u32,
) -> Peer {
    let Some((keep, last)) = xff.map(split_last) else {
        return Peer {
            addr: source,
            xff_keep: None,
        };
    };
    if crate::bytes::same(last, source_ip) {
        return Peer {
            addr: source,
            xff_keep: Some(keep),
        };
    }
    if num_trusted_hops > 0 {
        if let Some(ip) = parse_ip(last) {
            return Peer {
                addr: SocketAddr::new(ip, 0),
                xff_keep: Some(keep),
            };
        }
    }
    Peer {
        addr: source,
        xff_keep: None,
    }
}

/// The address part of Envoy's `source.address` text: `ip` of `ip:port`, `v6` of `[v6]:port`, a bare
/// IP as it is. Only called on text [`parse_source`] accepted.
pub(crate) fn ip_text(raw: &[u8]) -> &[u8] {
    if let Some(rest) = raw.strip_prefix(b"[") {
        return match rest.iter().position(|b| *b == b']') {
            Some(end) => rest.split_at(end).0,
            None => rest,
        };
    }
    match raw.iter().position(|b| *b == b':') {
        // One colon: IPv4 with a port. More: a bare IPv6.
        Some(colon) if !raw.split_at(colon + 1).1.contains(&b':') => raw.split_at(colon).0,
        _ => raw,
    }
}

/// Sidecar mode: `source` from Envoy, `xff` the X-Forwarded-For value as received.
pub(crate) fn sidecar(source: SocketAddr, xff: Option<&[u8]>) -> Peer {
    match xff.map(split_last) {
        Some((keep, last)) if parse_ip(last) == Some(source.ip()) => Peer {
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

/// Splits off the rightmost comma-separated entry (optional whitespace trimmed): returns the length of
/// what precedes it (without the comma and trailing whitespace) and the entry's text.
fn split_last(xff: &[u8]) -> (usize, &[u8]) {
    match xff.iter().rposition(|b| *b == b',') {
        Some(i) => {
            let (head, tail) = xff.split_at(i);
            let tail = tail.get(1..).unwrap_or_default();
            (head.trim_ascii_end().len(), tail.trim_ascii())
        }
        None => (0, xff.trim_ascii()),
    }
}

fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(text).ok()?.parse().ok()
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
            b"10.0.0.1",
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
        let p = gateway(sa("10.0.0.1:5000"), b"10.0.0.1", Some(b"10.0.0.1"), 0);
        assert_eq!(p.xff_keep, Some(0));
        // Not Envoy's entry (e.g. skip_xff_append): nothing is dropped.
        let p = gateway(sa("10.0.0.1:5000"), b"10.0.0.1", Some(b"203.0.113.9"), 0);
        assert_eq!(p.xff_keep, None);
    }

    #[test]
    fn gateway_with_trusted_hops_takes_the_appended_peer() {
        let p = gateway(
            sa("198.51.100.7:0"),
            b"198.51.100.7",
            Some(b"198.51.100.7,10.0.0.1"),
            1,
        );
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
    fn ip_text_of_each_source_address_form() {
        assert_eq!(ip_text(b"192.0.2.1:80"), b"192.0.2.1");
        assert_eq!(ip_text(b"[2001:db8::1]:443"), b"2001:db8::1");
        assert_eq!(ip_text(b"2001:db8::1"), b"2001:db8::1");
        assert_eq!(ip_text(b"192.0.2.1"), b"192.0.2.1");
    }

    #[test]
    fn source_address_forms() {
        assert_eq!(
            parse_source(b"[2001:db8::1]:443"),
            Some(sa("[2001:db8::1]:443"))
        );
        assert_eq!(parse_source(b"192.0.2.1:80"), Some(sa("192.0.2.1:80")));
        assert_eq!(parse_source(b"\xff"), None);
        // The dotted-quad fast path answers as the standard parser does.
        for text in [
            "192.0.2.1:0",
            "192.0.2.1:65535",
            "192.0.2.1:65536",
            "192.0.2.1:080",
            "192.0.2.1",
            "192.0.2.1 :80",
            "192.0.2.1:80 ",
            "01.2.3.4:80",
            "1.2.3:80",
            "::ffff:1.2.3.4",
            "[::ffff:1.2.3.4]:80",
            "0.0.0.0:1",
        ] {
            let std = text
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0)));
            assert_eq!(parse_source(text.as_bytes()), std, "{text}");
        }
    }
}
