//! Exposing PROXY v2 TLVs to the upstream as request headers (`listeners[].tlv_headers`).
//!
//! A configured header is always removed from the client's request first, so a client can never
//! supply it; it is set only from a TLV the load balancer sent.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use trueip::config::listener::TlvHeader;
use trueip::proxy_protocol::{Aws, Azure, Tlv, Tlvs};

use crate::proxy_header::Arrival;

/// Removes every configured header and sets those whose TLV the connection's header carried.
pub fn apply(config: &[TlvHeader], arrival: &Arrival, headers: &mut HeaderMap) {
    for th in config {
        let Ok(name) = HeaderName::from_bytes(th.header.as_str().as_bytes()) else {
            continue;
        };
        headers.remove(&name);
        let Arrival::Proxied(p) = arrival else {
            continue;
        };
        let tlv = Tlvs::new(&p.tlvs)
            .map_while(Result::ok)
            .find(|t| t.tlv_type() == th.tlv.0);
        if let Some(v) = tlv.and_then(|t| HeaderValue::from_str(&render(&t)).ok()) {
            headers.insert(name, v);
        }
    }
}

/// The header text for a TLV: the identifier the cloud documents for the vendor TLVs, text for
/// text TLVs, lower-case hex for anything else.
pub fn render(t: &Tlv<'_>) -> String {
    match t {
        Tlv::Aws(Aws::VpceId(id)) => (*id).to_string(),
        Tlv::Azure(Azure::LinkId(id)) => id.to_string(),
        Tlv::GcpPscConnectionId(id) => id.to_string(),
        Tlv::Authority(s) | Tlv::Netns(s) => (*s).to_string(),
        Tlv::Alpn(b) => printable(b).unwrap_or_else(|| hex(b)),
        Tlv::UniqueId(b) | Tlv::Noop(b) => hex(b),
        Tlv::Crc32c(c) => format!("{c:08x}"),
        Tlv::Other { value, .. } => printable(value).unwrap_or_else(|| hex(value)),
        Tlv::Aws(Aws::Other { value, .. }) | Tlv::Azure(Azure::Other { value, .. }) => hex(value),
        _ => String::new(),
    }
}

fn printable(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?;
    s.chars()
        .all(|c| c.is_ascii_graphic() || c == ' ')
        .then(|| s.to_string())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
