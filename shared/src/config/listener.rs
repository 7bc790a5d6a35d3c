//! `listeners[]`: the native proxy's sockets, their PROXY-protocol policy and their upstreams.
//!
//! Parse, don't validate: a listener that deserializes is one the proxy can run. Rules the type
//! system cannot express (an `http` listener needs an upstream, `optional` PROXY is never allowed
//! for every source) are checked while converting from the raw JSON shape, so the error still
//! carries the field path.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::HeaderName;
use crate::config::transparent::{
    Interception, PassthroughProtocol, PassthroughSettings, Transparent,
};
use crate::trust::CidrSet;

/// The largest PROXY header a listener may be configured to read (v2 with a full 64 KiB payload).
pub const MAX_PROXY_HEADER_BYTES: usize = 16 + 65535;

/// One listening socket and what it does with each connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawListener", into = "RawListener")]
pub struct ListenerConfig {
    /// Name used in metrics and logs; defaults to the address.
    pub name: String,
    /// Where to listen.
    pub address: SocketAddr,
    /// Which connections must, may or must not start with a PROXY header.
    pub proxy_protocol: ProxyPolicy,
    /// At most this many connections are served at once; further clients wait in the accept backlog.
    pub max_connections: NonZeroU32,
    /// What the listener does with a connection once its PROXY header (if any) is read.
    pub kind: ListenerKind,
    /// TPROXY interception and transparent upstream connects; `None` for an ordinary listener.
    pub transparent: Option<Transparent>,
    /// How long a client may keep a connection slot without making progress.
    pub timeouts: ClientTimeouts,
}

/// Bounds on clients that hold a connection without making progress (`timeouts`; HAProxy's
/// `timeout http-request` and `timeout client`, nginx's `client_header_timeout` and idle
/// timeouts). Each closes the connection without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawClientTimeouts", into = "RawClientTimeouts")]
pub struct ClientTimeouts {
    /// From the moment a connection is ready for a request (after its PROXY header, or after
    /// the previous response) until the request head is complete: the wait for the first byte,
    /// the HTTP version detection and the HTTP/1 head alike.
    pub request_head: Duration,
    /// How long an h2 connection may stay open with no stream.
    pub idle: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> ClientTimeouts {
        ClientTimeouts {
            request_head: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientTimeouts {
    #[serde(default = "default_request_head", with = "millis")]
    request_head_ms: Duration,
    #[serde(default = "default_idle", with = "millis")]
    idle_ms: Duration,
}

fn default_request_head() -> Duration {
    ClientTimeouts::default().request_head
}

fn default_idle() -> Duration {
    ClientTimeouts::default().idle
}

impl TryFrom<RawClientTimeouts> for ClientTimeouts {
    type Error = String;
    fn try_from(raw: RawClientTimeouts) -> Result<Self, Self::Error> {
        for (name, value) in [
            ("request_head_ms", raw.request_head_ms),
            ("idle_ms", raw.idle_ms),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be greater than 0: 0"));
            }
        }
        Ok(ClientTimeouts {
            request_head: raw.request_head_ms,
            idle: raw.idle_ms,
        })
    }
}

impl From<ClientTimeouts> for RawClientTimeouts {
    fn from(t: ClientTimeouts) -> Self {
        RawClientTimeouts {
            request_head_ms: t.request_head,
            idle_ms: t.idle,
        }
    }
}

/// What a listener speaks.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ListenerKind {
    /// An HTTP/1.1 and h2c reverse proxy that decides the client IP per request.
    Http(HttpSettings),
    /// A TCP relay that hands the client address upstream in a PROXY header.
    Tcp(TcpSettings),
    /// The built-in echo server: answers with the client it saw and the forwarding headers.
    Echo,
    /// A TPROXY listener without an upstream: each connection goes to its original destination.
    Passthrough(PassthroughSettings),
}

/// Settings for `protocol: "http"`.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSettings {
    /// Where requests go.
    pub upstream: Upstream,
    /// PROXY TLVs copied into request headers (any client-sent header of that name is removed first).
    pub tlv_headers: Vec<TlvHeader>,
    /// Whether one log line is written per request.
    pub access_log: AccessLog,
    /// A request header that tells the upstream how the client was decided
    /// (`client=...; port=...; source=...; hop=...; internal=...; spoof=...; fallback=...`), for
    /// debugging and conformance tests. A client-sent header of that name is always removed.
    pub decision_header: Option<HeaderName>,
}

/// Settings for `protocol: "tcp"`.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpSettings {
    /// Where connections go.
    pub upstream: Upstream,
}

/// `listeners[].protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerProtocol {
    /// See [`ListenerKind::Http`].
    Http,
    /// See [`ListenerKind::Tcp`].
    Tcp,
    /// See [`ListenerKind::Echo`].
    Echo,
}

/// `listeners[].access_log`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLog {
    /// No per-request line.
    #[default]
    Off,
    /// One `tracing` event per request (target `trueip::access`) with the peer and the decided client.
    On,
}

/// The upstream of an `http` or `tcp` listener: an object, or just the address as a string
/// (`"upstream": "127.0.0.1:9000"`), which takes every default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct Upstream {
    /// The upstream socket address (an IP literal and port).
    #[serde(deserialize_with = "crate::config::values::socket_addr")]
    pub address: SocketAddr,
    /// Whether each upstream connection starts with a PROXY header carrying the client.
    #[serde(default)]
    pub proxy_protocol: SendProxy,
    /// Bound on connecting to the upstream; past it, HTTP answers 504 and TCP closes.
    #[serde(
        default = "default_connect_timeout",
        with = "millis",
        rename = "connect_timeout_ms"
    )]
    pub connect_timeout: Duration,
    /// Bound on waiting for the upstream's response head (HTTP only); past it, 504.
    #[serde(
        default = "default_response_timeout",
        with = "millis",
        rename = "response_timeout_ms"
    )]
    pub response_timeout: Duration,
}

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Upstream;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an upstream address such as \"127.0.0.1:9000\" or an upstream object")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Upstream, E> {
                let address = s.parse().map_err(|_| {
                    E::custom(format!(
                        "not a socket address (ip:port or [ipv6]:port): {s:?}"
                    ))
                })?;
                Ok(Upstream {
                    address,
                    proxy_protocol: SendProxy::default(),
                    connect_timeout: default_connect_timeout(),
                    response_timeout: default_response_timeout(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Upstream, A::Error> {
                Upstream::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Upstream {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Upstream::serialize(self, s)
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_response_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `upstream.proxy_protocol`: the PROXY header sent to the upstream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendProxy {
    /// `none`, `v1` or `v2`.
    #[serde(default)]
    pub version: SendVersion,
    /// TLVs copied from the downstream PROXY header (v2 only).
    #[serde(default)]
    pub pass_tlvs: Vec<TlvType>,
    /// TLVs added to every upstream header (v2 only).
    #[serde(default)]
    pub add_tlvs: Vec<AddTlv>,
}

/// The PROXY version sent upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendVersion {
    /// No PROXY header.
    #[default]
    None,
    /// The text header (`PROXY TCP4 ...`).
    V1,
    /// The binary header, which can carry TLVs.
    V2,
}

/// A TLV added to every upstream PROXY v2 header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawAddTlv")]
pub struct AddTlv {
    /// The TLV type.
    pub tlv: TlvType,
    /// The value, as UTF-8 text.
    pub value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddTlv {
    tlv: TlvType,
    value: String,
}

impl TryFrom<RawAddTlv> for AddTlv {
    type Error = String;
    fn try_from(raw: RawAddTlv) -> Result<Self, Self::Error> {
        // Only TLVs the decoder accepts may be sent: build the wire form and decode it.
        let len = u16::try_from(raw.value.len())
            .map_err(|_| format!("TLV value longer than 65535 bytes: {}", raw.value.len()))?;
        if raw.tlv.0 == crate::proxy_protocol::tlv_type::CRC32C {
            return Err("crc32c is computed, not configured: \"crc32c\"".to_string());
        }
        let mut block = vec![raw.tlv.0];
        block.extend_from_slice(&len.to_be_bytes());
        block.extend_from_slice(raw.value.as_bytes());
        match crate::proxy_protocol::Tlvs::new(&block).next() {
            Some(Ok(_)) => Ok(AddTlv {
                tlv: raw.tlv,
                value: raw.value,
            }),
            Some(Err(e)) => Err(format!(
                "not a valid {} TLV value: {:?} ({e})",
                raw.tlv, raw.value
            )),
            None => Err(format!(
                "not a valid {} TLV value: {:?}",
                raw.tlv, raw.value
            )),
        }
    }
}

/// A PROXY TLV copied into an HTTP request header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlvHeader {
    /// The TLV type.
    pub tlv: TlvType,
    /// The request header that carries it (lower case).
    pub header: HeaderName,
}

/// A PROXY v2 TLV type: a name for the well-known ones, or a number (`234`, `"0xEA"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvType(pub u8);

const TLV_NAMES: &[(&str, u8)] = &[
    ("alpn", 0x01),
    ("authority", 0x02),
    ("crc32c", 0x03),
    ("noop", 0x04),
    ("unique_id", 0x05),
    ("ssl", 0x20),
    ("netns", 0x30),
    ("gcp_psc", 0xE0),
    ("aws_vpce_id", 0xEA),
    ("azure_private_link", 0xEE),
];

impl TlvType {
    /// The well-known name of this type, if it has one.
    pub fn name(self) -> Option<&'static str> {
        TLV_NAMES
            .iter()
            .find(|(_, t)| *t == self.0)
            .map(|(n, _)| *n)
    }
}

impl fmt::Display for TlvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:02X}", self.0),
        }
    }
}

impl FromStr for TlvType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, t)) = TLV_NAMES.iter().find(|(n, _)| *n == s) {
            return Ok(TlvType(*t));
        }
        let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u8::from_str_radix(hex, 16),
            None => s.parse::<u8>(),
        };
        parsed
            .map(TlvType)
            .map_err(|_| format!("not a PROXY v2 TLV type (a name or 0..=255): {s:?}"))
    }
}

impl<'de> Deserialize<'de> for TlvType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => u8::try_from(n).map(TlvType).map_err(|_| {
                serde::de::Error::custom(format!("not a PROXY v2 TLV type (0..=255): {n}"))
            }),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for TlvType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `listeners[].proxy_protocol`: who must, may or must not send a PROXY header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawProxyPolicy")]
pub struct ProxyPolicy {
    /// The mode for peers that match no rule.
    #[serde(rename = "default")]
    pub default_mode: DefaultMode,
    /// First match wins.
    pub rules: Vec<ProxyRule>,
    /// Versions accepted; a header of another version closes the connection.
    pub versions: Versions,
    /// Bound on reading the header (slow senders are closed).
    #[serde(with = "millis", rename = "header_timeout_ms")]
    pub header_timeout: Duration,
    /// Bound on the header's size, at most [`MAX_PROXY_HEADER_BYTES`].
    pub max_header_bytes: usize,
}

impl Default for ProxyPolicy {
    fn default() -> Self {
        ProxyPolicy {
            default_mode: DefaultMode::Forbid,
            rules: Vec::new(),
            versions: Versions::default(),
            header_timeout: Duration::from_secs(5),
            max_header_bytes: 4096,
        }
    }
}

impl ProxyPolicy {
    /// The mode that applies to a connection from `peer`.
    pub fn mode_for(&self, peer: IpAddr) -> ProxyMode {
        for rule in &self.rules {
            if rule.sources.contains(peer) {
                return rule.mode;
            }
        }
        match self.default_mode {
            DefaultMode::Require => ProxyMode::Require,
            DefaultMode::Forbid => ProxyMode::Forbid,
        }
    }
}

/// The mode for peers no rule matches. `optional` is deliberately absent: the PROXY spec forbids
/// guessing whether a header is present for arbitrary peers (a client could then forge one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultMode {
    /// Every connection must start with a PROXY header.
    Require,
    /// No connection may start with a PROXY header.
    Forbid,
}

/// The PROXY mode applied to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyMode {
    /// The connection must start with a PROXY header.
    Require,
    /// A PROXY header is read if present; otherwise the connection is served as is (health checkers).
    Optional,
    /// A connection starting with a PROXY header is closed.
    Forbid,
}

/// One `proxy_protocol.rules[]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRule {
    /// Peers this rule applies to (CIDRs, addresses, or presets such as `loopback`).
    pub sources: CidrSet,
    /// The mode for those peers.
    pub mode: ProxyMode,
}

/// Which PROXY versions a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// Text headers.
    pub v1: bool,
    /// Binary headers.
    pub v2: bool,
}

impl Default for Versions {
    fn default() -> Self {
        Versions { v1: true, v2: true }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum VersionName {
    V1,
    V2,
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<VersionName>::deserialize(d)?;
        if names.is_empty() {
            return Err(serde::de::Error::custom(
                "at least one PROXY version must be allowed",
            ));
        }
        Ok(Versions {
            v1: names.contains(&VersionName::V1),
            v2: names.contains(&VersionName::V2),
        })
    }
}

impl Serialize for Versions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = Vec::new();
        if self.v1 {
            v.push(VersionName::V1);
        }
        if self.v2 {
            v.push(VersionName::V2);
        }
        v.serialize(s)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxyPolicy {
    #[serde(default = "default_mode")]
    default: DefaultMode,
    #[serde(default)]
    rules: Vec<ProxyRule>,
    #[serde(default)]
    versions: Versions,
    #[serde(default = "default_header_timeout", with = "millis")]
    header_timeout_ms: Duration,
    #[serde(default = "default_max_header")]
    max_header_bytes: usize,
}

fn default_mode() -> DefaultMode {
    DefaultMode::Forbid
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_header() -> usize {
    4096
}

impl TryFrom<RawProxyPolicy> for ProxyPolicy {
    type Error = String;
    fn try_from(raw: RawProxyPolicy) -> Result<Self, Self::Error> {
        // 16 bytes is the shortest complete header (v2 LOCAL); anything smaller could never succeed.
        if !(16..=MAX_PROXY_HEADER_BYTES).contains(&raw.max_header_bytes) {
            return Err(format!(
                "max_header_bytes must be within 16..={MAX_PROXY_HEADER_BYTES}: {}",
                raw.max_header_bytes
            ));
        }
        if raw.header_timeout_ms.is_zero() {
            return Err("header_timeout_ms must be greater than 0: 0".to_string());
        }
        for (i, rule) in raw.rules.iter().enumerate() {
            if rule.mode == ProxyMode::Optional && rule.sources.covers_everything() {
                let all = serde_json::to_string(&rule.sources).unwrap_or_default();
                return Err(format!(
                    "rules[{i}]: optional PROXY for every source lets any client forge its address: {all}"
                ));
            }
        }
        Ok(ProxyPolicy {
            default_mode: raw.default,
            rules: raw.rules,
            versions: raw.versions,
            header_timeout: raw.header_timeout_ms,
            max_header_bytes: raw.max_header_bytes,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(deserialize_with = "crate::config::values::socket_addr")]
    address: SocketAddr,
    protocol: ListenerProtocol,
    #[serde(default)]
    proxy_protocol: ProxyPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upstream: Option<Upstream>,
    #[serde(default = "default_max_connections")]
    max_connections: NonZeroU32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tlv_headers: Vec<TlvHeader>,
    #[serde(default)]
    access_log: AccessLog,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decision_header: Option<HeaderName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transparent: Option<Transparent>,
    #[serde(default)]
    timeouts: ClientTimeouts,
}

fn default_max_connections() -> NonZeroU32 {
    NonZeroU32::new(16384).unwrap_or(NonZeroU32::MIN)
}

impl TryFrom<RawListener> for ListenerConfig {
    type Error = String;
    fn try_from(raw: RawListener) -> Result<Self, Self::Error> {
        let upstream = |p: &str| {
            raw.upstream
                .clone()
                .ok_or_else(|| format!("protocol {p:?} needs an upstream"))
        };
        let tproxy = raw
            .transparent
            .is_some_and(|t| t.interception == Interception::Tproxy);
        let kind = match raw.protocol {
            // A TPROXY listener without an upstream forwards to each original destination.
            ListenerProtocol::Http | ListenerProtocol::Tcp if tproxy && raw.upstream.is_none() => {
                if !raw.tlv_headers.is_empty() {
                    return Err("tlv_headers needs an upstream that receives them".to_string());
                }
                ListenerKind::Passthrough(PassthroughSettings {
                    protocol: match raw.protocol {
                        ListenerProtocol::Http => PassthroughProtocol::Http,
                        _ => PassthroughProtocol::Tcp,
                    },
                })
            }
            ListenerProtocol::Echo if raw.transparent.is_some() => {
                return Err("transparent needs protocol \"tcp\" or \"http\"".to_string());
            }
            ListenerProtocol::Http => ListenerKind::Http(HttpSettings {
                upstream: upstream("http")?,
                tlv_headers: raw.tlv_headers.clone(),
                access_log: raw.access_log,
                decision_header: raw.decision_header.clone(),
            }),
            ListenerProtocol::Tcp => {
                if !raw.tlv_headers.is_empty() || raw.decision_header.is_some() {
                    return Err(
                        "tlv_headers and decision_header need protocol \"http\"".to_string()
                    );
                }
                ListenerKind::Tcp(TcpSettings {
                    upstream: upstream("tcp")?,
                })
            }
            ListenerProtocol::Echo => {
                if raw.upstream.is_some() {
                    return Err(
                        "protocol \"echo\" answers itself and takes no upstream".to_string()
                    );
                }
                ListenerKind::Echo
            }
        };
        if let Some(send) = kind.upstream().map(|u| &u.proxy_protocol) {
            let has_tlvs = !send.pass_tlvs.is_empty() || !send.add_tlvs.is_empty();
            if has_tlvs && send.version != SendVersion::V2 {
                return Err("upstream TLVs need upstream.proxy_protocol.version \"v2\"".to_string());
            }
        }
        Ok(ListenerConfig {
            name: raw.name.unwrap_or_else(|| raw.address.to_string()),
            address: raw.address,
            proxy_protocol: raw.proxy_protocol,
            max_connections: raw.max_connections,
            kind,
            transparent: raw.transparent,
            timeouts: raw.timeouts,
        })
    }
}

impl From<ListenerConfig> for RawListener {
    fn from(l: ListenerConfig) -> Self {
        let mut raw = RawListener {
            name: Some(l.name),
            address: l.address,
            protocol: l.kind.protocol(),
            proxy_protocol: l.proxy_protocol,
            upstream: l.kind.upstream().cloned(),
            max_connections: l.max_connections,
            tlv_headers: Vec::new(),
            access_log: AccessLog::Off,
            decision_header: None,
            transparent: l.transparent,
            timeouts: l.timeouts,
        };
        if let ListenerKind::Http(h) = l.kind {
            raw.tlv_headers = h.tlv_headers;
            raw.access_log = h.access_log;
            raw.decision_header = h.decision_header;
        }
        raw
    }
}

impl ListenerKind {
    /// The upstream, for kinds that forward.
    pub fn upstream(&self) -> Option<&Upstream> {
        match self {
            ListenerKind::Http(h) => Some(&h.upstream),
            ListenerKind::Tcp(t) => Some(&t.upstream),
            ListenerKind::Echo | ListenerKind::Passthrough(_) => None,
        }
    }

    /// The `protocol` value this kind was configured with.
    pub fn protocol(&self) -> ListenerProtocol {
        match self {
            ListenerKind::Http(_) => ListenerProtocol::Http,
            ListenerKind::Tcp(_) => ListenerProtocol::Tcp,
            ListenerKind::Echo => ListenerProtocol::Echo,
            ListenerKind::Passthrough(p) => match p.protocol {
                PassthroughProtocol::Http => ListenerProtocol::Http,
                PassthroughProtocol::Tcp => ListenerProtocol::Tcp,
            },
        }
    }
}

/// Durations are written as integer milliseconds in the JSON (`*_ms` fields).
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
mod tests;
