//! The `http` listener: decide the client per request, enforce access, rewrite, forward.
//!
//! Order per request: decide on the headers as received → answer rejections and denials →
//! strip hop-by-hop headers → apply the rewrite plan (so `Connection` cannot remove what the
//! proxy sets) → add PROXY TLV headers → forward, streaming both bodies.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use trueip::addr::PeerAddr;
use trueip::config::listener::{AccessLog, HttpSettings, SendVersion};
use trueip::{Access, Decision, Rejection};

use crate::conn_timer::ConnTimer;
use crate::hop;
use crate::http_server::{ConnSetup, Opening};
use crate::listener::{ConnInfo, ListenerState};
use crate::metrics::KindLabels;
use crate::proxy_header::Arrival;
use crate::tlv_headers;
use crate::upstream::{self, Body, ProxyEndpoints};

/// Serves one downstream connection of an `http` listener (`opening`: what its first byte said).
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
    let setup = ConnSetup::for_listener(&state, opening);
    let timer = setup.timer.clone();
    let ctx = Arc::new(Downstream {
        state,
        conn,
        dedicated: Mutex::new(None),
        timer,
    });
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(&ctx, req).await) }
    });
    crate::http_server::serve(io, service, stop, &label, panics, setup).await;
}

/// What every request of one downstream connection shares (one reference count per request).
struct Downstream {
    state: Arc<ListenerState>,
    conn: Arc<ConnInfo>,
    dedicated: DedicatedConn,
    /// Times HTTP/1 requests' upstream responses (h2 streams run in tasks of their own and use
    /// tokio's timers; see `conn_timer`).
    timer: ConnTimer,
}

/// This downstream connection's own upstream connection and the client its PROXY header named.
///
/// An HTTP/1 downstream connection sends one request at a time, so it gets one upstream
/// connection of its own rather than a checkout from the shared pool: no pool lock, no task per
/// request to return the connection, and the upstream closes when the client does (HAProxy's
/// `http-reuse never`). Upstream connections that carry a PROXY header name one client, so they
/// are always dedicated, h2 downstream connections included.
type DedicatedConn = Mutex<Option<(Option<SocketAddr>, http1::SendRequest<Incoming>)>>;

async fn handle(ctx: &Downstream, req: Request<Incoming>) -> Response<Body> {
    let (state, conn) = (&*ctx.state, &*ctx.conn);
    let started = Instant::now();
    #[cfg(feature = "fault-injection")]
    crate::fault::panic_if_asked(req.headers());
    let settings = match &state.config.kind {
        trueip::config::listener::ListenerKind::Http(h) => h,
        _ => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "trueip: listener is not an http listener\n",
            );
        }
    };
    let (status, decided) = forward(ctx, settings, req).await.unwrap_or_else(|e| e);
    let response_status = status.status();
    state
        .hot
        .count_request(&state.metrics, response_status.as_u16());
    let elapsed = started.elapsed();
    state
        .hot
        .request_duration(&state.metrics)
        .observe(elapsed.as_secs_f64());
    if settings.access_log == AccessLog::On {
        access_log(state, conn, decided.as_ref(), response_status, elapsed);
    }
    status
}

// The paths below are taken by few requests. Kept out of line (`#[cold]`), their code does not
// sit between the instructions every request runs: the per-request path touches fewer cache lines.

#[cold]
fn access_log(
    state: &ListenerState,
    conn: &ConnInfo,
    decided: Option<&Decision>,
    status: StatusCode,
    elapsed: std::time::Duration,
) {
    let client = decided.map(|d| d.client.ip.to_string());
    tracing::info!(
        target: "trueip::access",
        listener = %state.label,
        peer = %conn.socket_peer,
        proxy_source = %match &conn.arrival { Arrival::Proxied(p) => p.source.to_string(), _ => "-".to_string() },
        client = client.as_deref().unwrap_or("-"),
        status = status.as_u16(),
        duration_us = elapsed.as_micros() as u64,
    );
}

#[cold]
fn rejected(state: &ListenerState, peer: PeerAddr, rejection: &Rejection) -> Response<Body> {
    record_decision(state, "rejected", Cow::Borrowed(rejection.kind.label()));
    tracing::info!(target: "trueip::reject", listener = %state.label, peer = %peer.0, kind = rejection.kind.label(), reason = %rejection, "request rejected by the client-IP policy");
    let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
    text(status, &format!("trueip: request rejected: {rejection}\n"))
}

#[cold]
fn denied(
    state: &ListenerState,
    peer: PeerAddr,
    decision: &Decision,
    status: u16,
    body: &str,
    reason: &'static str,
) -> Response<Body> {
    record_decision(state, "denied", Cow::Borrowed(reason));
    tracing::info!(target: "trueip::reject", listener = %state.label, peer = %peer.0, client = %decision.client.ip, reason, "request denied by the access rules");
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    text(status, body)
}

#[cold]
fn count_spoof_signals(state: &ListenerState, decision: &Decision) {
    for signal in decision.spoof.labels() {
        state
            .metrics
            .spoof_signals
            .get_or_create(&KindLabels {
                listener: state.label.clone(),
                kind: signal,
            })
            .inc();
    }
}

#[cold]
fn upstream_failed(
    state: &ListenerState,
    settings: &HttpSettings,
    e: &UpstreamError,
) -> Response<Body> {
    state
        .metrics
        .upstream_errors
        .get_or_create(&state.kind_labels(e.kind()))
        .inc();
    tracing::warn!(listener = %state.label, upstream = %settings.upstream.address, kind = e.kind(), error = %e, "upstream request failed");
    text(e.status(), &format!("trueip: {e}\n"))
}

/// Header lines passed to the core without a heap allocation; more spill into a `Vec`.
const INLINE_HEADERS: usize = 32;

/// `Ok` and `Err` both carry the response to send; `Err` marks responses the proxy generated.
type Outcome = Result<(Response<Body>, Option<Decision>), (Response<Body>, Option<Decision>)>;

async fn forward(ctx: &Downstream, settings: &HttpSettings, mut req: Request<Incoming>) -> Outcome {
    let (state, conn) = (&*ctx.state, &*ctx.conn);
    let peer = PeerAddr(conn.peer());
    let decision = {
        // The core reads the header lines as byte-slice pairs; a typical request's fit on the stack.
        let mut inline: [(&[u8], &[u8]); INLINE_HEADERS] = [(&[], &[]); INLINE_HEADERS];
        let spilled: Vec<(&[u8], &[u8])>;
        let pairs = req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
        let lines: &[(&[u8], &[u8])] = if req.headers().len() <= INLINE_HEADERS {
            let mut n = 0;
            for (slot, pair) in inline.iter_mut().zip(pairs) {
                *slot = pair;
                n += 1;
            }
            inline.get(..n).unwrap_or(&[])
        } else {
            spilled = pairs.collect();
            &spilled
        };
        let view = trueip::resolve::Request {
            peer,
            peer_identity: None,
            headers: lines,
        };
        match state.resolver.resolve(&view) {
            Ok(d) => {
                let plan = state.resolver.rewrite_plan(&view, &d);
                (d, plan)
            }
            Err(rejection) => return Err((rejected(state, peer, &rejection), None)),
        }
    };
    let (decision, plan) = decision;
    if !decision.spoof.is_empty() {
        count_spoof_signals(state, &decision);
    }
    if let Access::Deny {
        status,
        body,
        reason,
    } = state.resolver.access(&decision)
    {
        let response = denied(state, peer, &decision, status, &body, reason.label());
        return Err((response, Some(decision)));
    }
    record_decision(
        state,
        if decision.fallback.is_some() {
            "fallback"
        } else {
            "decided"
        },
        match decision.source.static_label() {
            Some(label) => Cow::Borrowed(label),
            None => Cow::Owned(decision.source.label().to_owned()),
        },
    );

    hop::strip(req.headers_mut());
    for name in &plan.remove {
        // A `&str` key is looked up without building (and allocating) a `HeaderName`.
        req.headers_mut().remove(name.as_str());
    }
    for (name, value) in plan.set {
        // The value's buffer becomes the header value without a copy.
        if let (Some(n), Ok(v)) = (
            state.header_name(&name),
            HeaderValue::from_maybe_shared(Bytes::from(value)),
        ) {
            req.headers_mut().insert(n, v);
        }
    }
    tlv_headers::apply(&settings.tlv_headers, &conn.arrival, req.headers_mut());
    if let Some(name) = &state.decision_header {
        req.headers_mut().remove(name);
        if let Ok(v) = HeaderValue::from_str(&describe(&decision)) {
            req.headers_mut().insert(name.clone(), v);
        }
    }
    let downstream_h2 = req.version() == Version::HTTP_2;
    if !req.headers().contains_key(HOST) {
        // h2 carries the host in :authority; an HTTP/1.1 upstream needs it as Host. An HTTP/1.0
        // request without one gets the upstream's address, as a client library would send.
        let host = match req.uri().authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok(),
            None => HeaderValue::from_str(&settings.upstream.address.to_string()).ok(),
        };
        if let Some(v) = host {
            req.headers_mut().insert(HOST, v);
        }
    }
    // The upstream gets origin form (`/path?query`), whatever form the client used.
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        *req.uri_mut() = match req.uri().path_and_query() {
            Some(pq) => Uri::from(pq.clone()),
            None => Uri::from_static("/"),
        };
    }
    *req.version_mut() = Version::HTTP_11;

    let timeout = settings.upstream.response_timeout;
    let proxy_header = settings.upstream.proxy_protocol.version != SendVersion::None;
    let sent = if downstream_h2 && !proxy_header {
        match send_pooled(state, settings, req, timeout).await {
            Ok(sent) => sent,
            Err(refused) => return Err((refused, Some(decision))),
        }
    } else {
        let client = SocketAddr::new(decision.client.ip, decision.client.port.unwrap_or(0));
        let ends = ProxyEndpoints {
            source: client,
            destination: conn.local,
            downstream: proxied(&conn.arrival),
        };
        let exchange = send_dedicated(settings, &ctx.dedicated, &ends, req);
        if downstream_h2 {
            tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or(Err(UpstreamError::ResponseTimeout))
        } else {
            // This runs in the connection's task (hyper's HTTP/1 server polls the handler in
            // place), so the connection's timer may time it.
            tokio::select! {
                biased;
                r = exchange => r,
                () = ctx.timer.after(timeout) => Err(UpstreamError::ResponseTimeout),
            }
        }
    };
    match sent {
        Ok(mut resp) => {
            hop::strip(resp.headers_mut());
            Ok((resp.map(BodyExt::boxed), Some(decision)))
        }
        Err(e) => Err((upstream_failed(state, settings, &e), Some(decision))),
    }
}

/// What the listener's pool answered, or (`Err`) the response to send without asking it.
type Pooled = Result<Result<Response<Incoming>, UpstreamError>, Response<Body>>;

/// Sends an h2 downstream request through the listener's pool: an h2 connection multiplexes
/// requests, so they share upstream connections. Boxed, so the HTTP/1 path's future neither
/// carries this one's state nor runs between its code.
fn send_pooled<'a>(
    state: &'a ListenerState,
    settings: &'a HttpSettings,
    mut upstream_req: Request<Incoming>,
    timeout: std::time::Duration,
) -> Pin<Box<dyn Future<Output = Pooled> + Send + 'a>> {
    Box::pin(async move {
        let Some(pool) = &state.http_upstream else {
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "trueip: no upstream pool\n",
            ));
        };
        *upstream_req.uri_mut() = match pool_uri(settings, upstream_req.uri()) {
            Some(u) => u,
            None => {
                return Err(text(
                    StatusCode::BAD_REQUEST,
                    "trueip: request target cannot be forwarded\n",
                ));
            }
        };
        Ok(
            match tokio::time::timeout(timeout, pool.client.request(upstream_req)).await {
                Err(_) => Err(UpstreamError::ResponseTimeout),
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(e)) => Err(classify_pool_error(&e)),
            },
        )
    })
}

/// `client=...; port=...; source=...; hop=...; internal=...; spoof=a,b; fallback=...` (`-` for none).
pub fn describe(d: &Decision) -> String {
    let port = d
        .client
        .port
        .map(|p| p.to_string())
        .unwrap_or_else(|| "-".into());
    let spoof: Vec<&str> = d.spoof.labels().collect();
    let spoof = if spoof.is_empty() {
        "-".to_string()
    } else {
        spoof.join(",")
    };
    let fallback = d.fallback.map(|f| f.label()).unwrap_or("-");
    format!(
        "client={}; port={port}; source={}; hop={}; internal={}; spoof={spoof}; fallback={fallback}",
        d.client.ip,
        d.source.label(),
        d.hop,
        d.internal
    )
}

fn proxied(a: &Arrival) -> Option<crate::proxy_header::Proxied> {
    match a {
        Arrival::Proxied(p) => Some(p.clone()),
        _ => None,
    }
}

fn record_decision(state: &ListenerState, outcome: &'static str, source: Cow<'static, str>) {
    state.hot.count_decision(&state.metrics, outcome, source);
}

/// The absolute URI the pool needs to pick its connection (the pool sends origin form).
fn pool_uri(settings: &HttpSettings, origin: &Uri) -> Option<Uri> {
    let path = origin.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Uri::builder()
        .scheme("http")
        .authority(settings.upstream.address.to_string())
        .path_and_query(path)
        .build()
        .ok()
}

/// Sends over this downstream connection's own upstream connection, opening one (with its
/// PROXY header, when configured) when there is none, it closed, or its header named another
/// client.
///
/// An idle keep-alive upstream connection may be closed by the upstream at any moment. When
/// that is noticed before the request is written, the request goes out on a fresh connection
/// (as hyper-util's pool retries); a request that reached the wire is never repeated.
async fn send_dedicated(
    settings: &HttpSettings,
    dedicated: &DedicatedConn,
    ends: &ProxyEndpoints,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, UpstreamError> {
    // Only a connection whose PROXY header names this client may carry its request.
    let key =
        (settings.upstream.proxy_protocol.version != SendVersion::None).then_some(ends.source);
    let cached = dedicated.lock().ok().and_then(|mut g| g.take());
    let reusable = cached.filter(|(k, s)| *k == key && !s.is_closed());
    let req = match reusable {
        Some((_, mut sender)) => match sender.ready().await {
            // Closed while idle: nothing was sent, open a new one below.
            Err(_) => req,
            Ok(()) => match sender.try_send_request(req).await {
                Ok(resp) => {
                    keep(dedicated, key, sender);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(req) => {
                        tracing::debug!(error = %e.error(), "kept upstream connection closed before the request was sent; opening a new one");
                        req
                    }
                    None => return Err(UpstreamError::Protocol(e.into_error().to_string())),
                },
            },
        },
        None => req,
    };
    let mut sender = open_dedicated(settings, ends).await?;
    sender
        .ready()
        .await
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    keep(dedicated, key, sender);
    Ok(resp)
}

fn keep(dedicated: &DedicatedConn, key: Option<SocketAddr>, sender: http1::SendRequest<Incoming>) {
    if let Ok(mut g) = dedicated.lock() {
        *g = Some((key, sender));
    }
}

/// Connects (writing the PROXY header first, when configured) and starts the HTTP/1 client
/// connection in its own task; it ends when the sender is dropped and the exchange is done.
async fn open_dedicated(
    settings: &HttpSettings,
    ends: &ProxyEndpoints,
) -> Result<http1::SendRequest<Incoming>, UpstreamError> {
    let header = upstream::upstream_header(&settings.upstream, ends)
        .map_err(|e| UpstreamError::Header(e.to_string()))?;
    let stream = upstream::connect_with_header(&settings.upstream, header.as_deref())
        .await
        .map_err(UpstreamError::connect)?;
    let (sender, connection) = http1::Builder::new()
        // Requests are mostly small: one flat buffer, one plain write per request.
        .writev(false)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Why a request could not be forwarded; each maps to one status.
#[derive(Debug, thiserror::Error)]
enum UpstreamError {
    #[error("upstream refused the connection: {0}")]
    Refused(std::io::Error),
    #[error("upstream connect timed out")]
    ConnectTimeout,
    #[error("upstream connect failed: {0}")]
    Connect(std::io::Error),
    #[error("upstream did not answer in time")]
    ResponseTimeout,
    #[error("upstream closed or broke the exchange: {0}")]
    Protocol(String),
    #[error("cannot build the upstream PROXY header: {0}")]
    Header(String),
}

impl UpstreamError {
    fn connect(e: std::io::Error) -> UpstreamError {
        match e.kind() {
            std::io::ErrorKind::TimedOut => UpstreamError::ConnectTimeout,
            std::io::ErrorKind::ConnectionRefused => UpstreamError::Refused(e),
            _ => UpstreamError::Connect(e),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Refused(_) => "refused",
            UpstreamError::ConnectTimeout => "connect_timeout",
            UpstreamError::Connect(_) => "connect",
            UpstreamError::ResponseTimeout => "response_timeout",
            UpstreamError::Protocol(_) => "protocol",
            UpstreamError::Header(_) => "proxy_header",
        }
    }

    /// 503: nothing is listening (the service is down); 504: something is there but slow;
    /// 502: the upstream broke the exchange or could not be reached for another reason.
    fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Refused(_) => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::ConnectTimeout | UpstreamError::ResponseTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            UpstreamError::Connect(_) | UpstreamError::Protocol(_) | UpstreamError::Header(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }
}

fn classify_pool_error(e: &hyper_util::client::legacy::Error) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if e.is_connect() {
                return UpstreamError::connect(std::io::Error::new(io.kind(), io.to_string()));
            }
            break;
        }
        source = s.source();
    }
    UpstreamError::Protocol(e.to_string())
}

/// A plain-text response generated by the proxy.
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
