//! The built-in echo upstream (`protocol: "echo"`, `trueip echo --listen ADDR`).
//!
//! Answers every request with JSON describing what arrived: the socket peer, the PROXY header
//! (if the listener accepted one), the client the listener's own policy decides, and every
//! request header. `/ip` answers like httpbin's (`{"origin": ...}`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use trueip::addr::PeerAddr;
use trueip::proxy_protocol::Tlvs;

use crate::http_server::Opening;
use crate::listener::{ConnInfo, ListenerState};
use crate::proxy_header::Arrival;
use crate::tlv_headers;
use crate::upstream::Body;

/// Serves one connection of an echo listener (`opening`: what its first byte said).
pub async fn serve<I>(
    state: Arc<ListenerState>,
    conn: Arc<ConnInfo>,
    io: I,
    stop: watch::Receiver<bool>,
    opening: Opening,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let label = state.label.clone();
    let panics = state.hot.connection_panics(&state.metrics).clone();
    let setup = crate::http_server::ConnSetup::for_listener(&state, opening);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (state, conn) = (state.clone(), conn.clone());
        async move {
            #[cfg(feature = "fault-injection")]
            crate::fault::panic_if_asked(req.headers());
            let resp = answer(&state, &conn, &req);
            state
                .hot
                .count_request(&state.metrics, resp.status().as_u16());
            Ok::<_, Infallible>(resp)
        }
    });
    crate::http_server::serve(io, service, stop, &label, panics, setup).await;
}

/// The echo document.
#[derive(Debug, Serialize)]
pub struct Echo {
    /// The decided client IP (httpbin's `/ip` field name).
    pub origin: String,
    /// The TCP peer of this connection.
    pub peer: String,
    /// The PROXY header this connection started with, if any.
    pub proxy_protocol: Option<EchoProxy>,
    /// How the client was decided, or why the policy rejected the request.
    pub client: EchoClient,
    /// Request method.
    pub method: String,
    /// Request path and query.
    pub path: String,
    /// HTTP version.
    pub version: String,
    /// Every request header, lower-case name to values in arrival order.
    pub headers: BTreeMap<String, Vec<String>>,
}

/// The PROXY header, as the echo listener saw it.
#[derive(Debug, Serialize)]
pub struct EchoProxy {
    /// `v1` or `v2`.
    pub version: &'static str,
    /// `proxy`, `local`, `unknown` or `unix`.
    pub command: &'static str,
    /// The header's source address.
    pub source: Option<String>,
    /// The header's destination address.
    pub destination: Option<String>,
    /// v2 TLVs: type name or number, and the rendered value.
    pub tlvs: Vec<(String, String)>,
}

/// The client decision, as the echo listener's policy makes it.
#[derive(Debug, Serialize)]
pub struct EchoClient {
    /// The client address, when decided.
    pub ip: Option<String>,
    /// The client port, when known.
    pub port: Option<u16>,
    /// Which source decided it (`peer`, `x-forwarded-for`, ...).
    pub source: Option<String>,
    /// The hop index (0 = the peer).
    pub hop: Option<u16>,
    /// The rejection kind, when the policy rejected the request.
    pub rejected: Option<String>,
}

fn answer(state: &ListenerState, conn: &ConnInfo, req: &Request<Incoming>) -> Response<Body> {
    let lines: Vec<(&[u8], &[u8])> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        .collect();
    let view = trueip::resolve::Request {
        peer: PeerAddr(conn.peer()),
        peer_identity: None,
        headers: &lines,
    };
    let client = match state.resolver.resolve(&view) {
        Ok(d) => EchoClient {
            ip: Some(d.client.ip.to_string()),
            port: d.client.port,
            source: Some(d.source.label().to_string()),
            hop: Some(d.hop),
            rejected: None,
        },
        Err(r) => EchoClient {
            ip: None,
            port: None,
            source: None,
            hop: None,
            rejected: Some(r.kind.label().to_string()),
        },
    };
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in req.headers() {
        headers
            .entry(n.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let proxy_protocol = match &conn.arrival {
        Arrival::Plain => None,
        Arrival::Local { version, command } => Some(EchoProxy {
            version: crate::proxy_header::version_label(*version),
            command,
            source: None,
            destination: None,
            tlvs: Vec::new(),
        }),
        Arrival::Proxied(p) => Some(EchoProxy {
            version: crate::proxy_header::version_label(p.version),
            command: "proxy",
            source: Some(p.source.to_string()),
            destination: Some(p.destination.to_string()),
            tlvs: Tlvs::new(&p.tlvs)
                .map_while(Result::ok)
                .map(|t| {
                    (
                        trueip::config::listener::TlvType(t.tlv_type()).to_string(),
                        tlv_headers::render(&t),
                    )
                })
                .collect(),
        }),
    };
    let echo = Echo {
        origin: client
            .ip
            .clone()
            .unwrap_or_else(|| conn.peer().ip().to_string()),
        peer: conn.socket_peer.to_string(),
        proxy_protocol,
        client,
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "/".into()),
        version: format!("{:?}", req.version()),
        headers,
    };
    let body = if req.uri().path() == "/ip" {
        serde_json::json!({ "origin": echo.origin }).to_string()
    } else {
        serde_json::to_string_pretty(&echo).unwrap_or_default()
    };
    let mut r = Response::new(
        Full::new(Bytes::from(body + "\n"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
