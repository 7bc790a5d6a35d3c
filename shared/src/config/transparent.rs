//! `listeners[].transparent`: TPROXY interception and upstream connects that keep the client's
//! address (the tproxy owner's part of the listener schema).
//!
//! Two jobs share these settings:
//! - a TPROXY listener (`interception: "tproxy"`): the socket is `IP_TRANSPARENT`, connections
//!   arrive with their original destination intact, and without an `upstream` each one goes to
//!   that destination (pass-through);
//! - a transparent upstream (`upstream_source: "client"`), on any forwarding listener, e.g. one
//!   that requires PROXY headers from a load balancer: the upstream connection leaves from the
//!   client's address, so a plain application sees the real client (what go-mmproxy does).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The mark the proxy puts on connections it originates, matching `trueip net --bypass-mark`.
pub const DEFAULT_MARK: u32 = 0x200;

/// `listeners[].transparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transparent {
    /// How connections reach the listener.
    #[serde(default)]
    pub interception: Interception,
    /// Which address upstream connections leave from.
    #[serde(default)]
    pub upstream_source: UpstreamSource,
    /// `SO_MARK` on upstream connections, so the interception rules never divert what the proxy
    /// originates (no loops). `0` leaves them unmarked.
    #[serde(default = "default_mark")]
    pub mark: u32,
    /// Bound on connecting to an original destination (pass-through listeners).
    #[serde(
        default = "default_connect_timeout",
        with = "millis",
        rename = "connect_timeout_ms"
    )]
    pub connect_timeout: Duration,
}

impl Default for Transparent {
    fn default() -> Self {
        Transparent {
            interception: Interception::default(),
            upstream_source: UpstreamSource::default(),
            mark: DEFAULT_MARK,
            connect_timeout: default_connect_timeout(),
        }
    }
}

/// `transparent.interception`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interception {
    /// Clients connect to the listener's address (or a load balancer does).
    #[default]
    None,
    /// TPROXY rules divert connections addressed elsewhere to this listener (`IP_TRANSPARENT`);
    /// each connection's local address is its original destination.
    Tproxy,
}

/// `transparent.upstream_source`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamSource {
    /// Bind the client's address with `IP_TRANSPARENT`: the upstream sees the real client.
    /// Needs return routing through this host (`trueip net setup`).
    #[default]
    Client,
    /// The proxy's own address: the upstream sees the proxy, as with REDIRECT.
    Proxy,
}

/// Settings of a pass-through listener: TPROXY interception and no `upstream`, so every
/// connection goes to its original destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassthroughSettings {
    /// What is relayed: bytes (`tcp`) or HTTP requests (`http`, client IP decided per request).
    pub protocol: PassthroughProtocol,
}

/// The protocol of a pass-through listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassthroughProtocol {
    /// Bytes both ways.
    Tcp,
    /// HTTP requests, forwarded to the original destination.
    Http,
}

fn default_mark() -> u32 {
    DEFAULT_MARK
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }

    pub(super) fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(v.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::listener::{ListenerConfig, ListenerKind, ListenerProtocol};

    fn parse(json: &str) -> Result<ListenerConfig, String> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize::<_, ListenerConfig>(de)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn tproxy_without_upstream_is_a_pass_through_listener() {
        let l = parse(
            r#"{"address": "0.0.0.0:15001", "protocol": "tcp", "transparent": {"interception": "tproxy"}}"#,
        )
        .expect("valid");
        assert_eq!(
            l.kind,
            ListenerKind::Passthrough(PassthroughSettings {
                protocol: PassthroughProtocol::Tcp
            })
        );
        assert_eq!(l.kind.protocol(), ListenerProtocol::Tcp);
        assert_eq!(l.kind.upstream(), None);
        let t = l.transparent.expect("transparent settings");
        assert_eq!(t.upstream_source, UpstreamSource::Client);
        assert_eq!(t.mark, 0x200);
        assert_eq!(t.connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn tproxy_with_an_upstream_keeps_the_http_kind() {
        let l = parse(
            r#"{"address": "[::]:15001", "protocol": "http", "upstream": {"address": "[::1]:9000"},
                "transparent": {"interception": "tproxy", "upstream_source": "proxy", "mark": 0}}"#,
        )
        .expect("valid");
        assert!(matches!(l.kind, ListenerKind::Http(_)));
        let t = l.transparent.expect("transparent settings");
        assert_eq!(
            (t.interception, t.upstream_source, t.mark),
            (Interception::Tproxy, UpstreamSource::Proxy, 0)
        );
    }

    #[test]
    fn proxy_listener_with_a_transparent_upstream() {
        // The go-mmproxy job: PROXY in from the load balancer, plain TCP out from the client's address.
        let l = parse(
            r#"{"address": "0.0.0.0:8443", "protocol": "tcp", "proxy_protocol": {"default": "require"},
                "upstream": {"address": "10.0.0.5:443"}, "transparent": {"upstream_source": "client"}}"#,
        )
        .expect("valid");
        assert!(matches!(l.kind, ListenerKind::Tcp(_)));
        assert_eq!(
            l.transparent.map(|t| t.interception),
            Some(Interception::None)
        );
    }

    #[test]
    fn mistakes_name_the_field_and_the_value() {
        let err = parse(r#"{"address": "0.0.0.0:1", "protocol": "tcp", "transparent": {"interception": "redirect"}}"#)
            .expect_err("unknown interception");
        assert!(
            err.starts_with("transparent.interception: unknown variant `redirect`"),
            "{err}"
        );
        let err = parse(r#"{"address": "0.0.0.0:1", "protocol": "echo", "transparent": {}}"#)
            .expect_err("echo");
        assert_eq!(err, ".: transparent needs protocol \"tcp\" or \"http\"");
        let err = parse(r#"{"address": "0.0.0.0:1", "protocol": "tcp", "transparent": {"upstream_source": "client"}}"#)
            .expect_err("no upstream and no tproxy");
        assert_eq!(err, ".: protocol \"tcp\" needs an upstream");
        let err =
            parse(r#"{"address": "0.0.0.0:1", "protocol": "tcp", "transparent": {"marks": 1}}"#)
                .expect_err("unknown field");
        assert!(
            err.starts_with("transparent.marks: unknown field `marks`"),
            "{err}"
        );
    }

    #[test]
    fn serializes_back_to_the_same_listener() {
        for json in [
            r#"{"address": "0.0.0.0:15001", "protocol": "http", "transparent": {"interception": "tproxy", "mark": 7}}"#,
            r#"{"address": "0.0.0.0:8443", "protocol": "tcp", "upstream": {"address": "10.0.0.5:443"}, "transparent": {}}"#,
        ] {
            let l = parse(json).expect("valid");
            let again = parse(&serde_json::to_string(&l).expect("serialize")).expect("reparse");
            assert_eq!(again, l);
        }
    }
}
