//! Small validated values used across the configuration: each parses once at load time and is a typed value after
//! that, so an invalid entry fails the load with its field path instead of being dropped later.

use std::fmt;
use std::num::NonZeroU8;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An HTTP header name, validated as an RFC 9110 token and stored in lowercase (HTTP/2 and Envoy use lowercase).
///
/// Cloning is cheap (a shared string), so a [`crate::Decision`] can name its source header without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderName(Arc<str>);

impl HeaderName {
    /// Validates and lowercases a header name.
    pub fn new(name: &str) -> Result<HeaderName, String> {
        let valid = !name.is_empty() && name.bytes().all(crate::forwarded::is_tchar);
        if !valid {
            return Err(format!("not a valid header name: {name:?}"));
        }
        Ok(HeaderName(Arc::from(name.to_ascii_lowercase())))
    }

    /// The lowercase name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        HeaderName::new(&s).map_err(D::Error::custom)
    }
}

impl Serialize for HeaderName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// An HTTP status code for a rejection or a denial: 400 to 599, since anything else would tell the client the
/// request succeeded or was redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(u16);

impl Status {
    /// 400 Bad Request: the default for requests whose forwarding headers cannot be trusted.
    pub const BAD_REQUEST: Status = Status(400);
    /// 403 Forbidden: the default for access denials.
    pub const FORBIDDEN: Status = Status(403);

    /// Validates a status code.
    pub fn new(code: u16) -> Result<Status, String> {
        if (400..=599).contains(&code) {
            Ok(Status(code))
        } else {
            Err(format!("not an error status (400 to 599): {code}"))
        }
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

/// The number of trusted proxies in front of the client, the peer included: the client is at this hop index
/// (Envoy `xff_num_trusted_hops` with `use_remote_address: true`). 1 to 64; 64 is far beyond any real chain and
/// bounds the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HopCount(NonZeroU8);

impl HopCount {
    /// The largest accepted hop count.
    pub const MAX: u8 = 64;

    /// Validates a hop count.
    pub fn new(n: u64) -> Result<HopCount, String> {
        u8::try_from(n)
            .ok()
            .filter(|&n| n <= Self::MAX)
            .and_then(NonZeroU8::new)
            .map(HopCount)
            .ok_or_else(|| format!("not a hop count (1 to {}): {n}", Self::MAX))
    }

    /// The count.
    pub fn get(self) -> u16 {
        u16::from(self.0.get())
    }
}

impl Serialize for HopCount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0.get())
    }
}

/// A trusted peer identity: an mTLS URI SAN such as `spiffe://cluster.local/ns/istio-system/sa/ingressgateway`,
/// compared exactly. It must contain `://` and no whitespace, which catches pasted host names and stray quotes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// Validates an identity.
    pub fn new(s: &str) -> Result<Identity, String> {
        if s.contains("://")
            && !s
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            Ok(Identity(s.to_owned()))
        } else {
            Err(format!(
                "not a URI identity (e.g. spiffe://td/ns/n/sa/s): {s:?}"
            ))
        }
    }

    /// The identity string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Deserialises an `ip:port` socket address with an error that shows the bad value (serde's own does not).
pub(crate) fn socket_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::net::SocketAddr, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    s.parse().map_err(|_| {
        D::Error::custom(format!(
            "not a socket address (ip:port or [ipv6]:port): {s:?}"
        ))
    })
}
