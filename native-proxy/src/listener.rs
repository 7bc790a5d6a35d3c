//! One listener: bind, the accept loop, and the life of each connection up to its protocol.
//!
//! `bind` and [`crate::upstream::connect`] are the two places a transparent-proxy listener
//! (TPROXY: `IP_TRANSPARENT`, original destination from `local_addr()`) plugs in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::HeaderName;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use trueip::Config;
use trueip::config::listener::{ListenerConfig, ListenerKind};
use trueip::resolve::Resolver;

use crate::http_server::{H2_PREFACE, Opening};
use crate::metrics::{
    ClientTimeout, KindLabels, ListenerLabels, ListenerMetrics, Metrics, ProxyHeaderLabels,
};
use crate::proxy_header::{self, Accepted, Arrival, FirstSpeaker};
use crate::rewind::Rewind;
use crate::server::{ServeError, bind_error};
use crate::upstream::HttpUpstream;
use crate::{echo, http_proxy, tcp};

/// Listen backlog: large enough to absorb bursts while the connection limit is reached.
const BACKLOG: u32 = 4096;

/// Everything a connection needs from its listener, fixed for the connection's lifetime.
/// A reload builds a new one; open connections keep the one they started with.
#[derive(Debug)]
pub struct ListenerState {
    /// The listener's settings.
    pub config: ListenerConfig,
    /// The listener name as a metric label.
    pub label: Arc<str>,
    /// The client-IP decision, built once from the policy.
    pub resolver: Resolver,
    /// The pooled HTTP client, for `http` listeners.
    pub http_upstream: Option<HttpUpstream>,
    /// Metric handles.
    pub metrics: Metrics,
    /// This listener's per-connection and per-request series, looked up once.
    pub hot: ListenerMetrics,
    /// The header names the rewrite plan sets, parsed once.
    set_names: Vec<HeaderName>,
    /// The `http` listener's `decision_header`, parsed once.
    pub(crate) decision_header: Option<HeaderName>,
}

impl ListenerState {
    /// Builds the per-listener state for `listener` under `config`'s client-IP policy.
    pub fn new(listener: ListenerConfig, config: &Config, metrics: &Metrics) -> ListenerState {
        let http_upstream = match &listener.kind {
            ListenerKind::Http(h) => Some(HttpUpstream::new(&h.upstream)),
            _ => None,
        };
        let label: Arc<str> = Arc::from(listener.name.as_str());
        let set_names = ["x-forwarded-for", "forwarded"]
            .into_iter()
            .map(HeaderName::from_static)
            .chain(
                config
                    .policy
                    .rewrite
                    .client_header
                    .iter()
                    .filter_map(|h| HeaderName::from_bytes(h.as_str().as_bytes()).ok()),
            )
            .collect();
        let decision_header = match &listener.kind {
            // The config already validated the name; a name hyper still refuses is never set.
            ListenerKind::Http(h) => h
                .decision_header
                .as_ref()
                .and_then(|h| HeaderName::from_bytes(h.as_str().as_bytes()).ok()),
            _ => None,
        };
        ListenerState {
            set_names,
            decision_header,
            hot: ListenerMetrics::new(label.clone()),
            label,
            resolver: Resolver::new(&config.policy),
            config: listener,
            http_upstream,
            metrics: metrics.clone(),
        }
    }

    /// `name` as a `HeaderName`, without parsing or allocating for the names the plan usually sets.
    pub(crate) fn header_name(&self, name: &str) -> Option<HeaderName> {
        match self.set_names.iter().find(|n| n.as_str() == name) {
            Some(n) => Some(n.clone()),
            None => HeaderName::from_bytes(name.as_bytes()).ok(),
        }
    }

    pub(crate) fn labels(&self) -> ListenerLabels {
        ListenerLabels {
            listener: self.label.clone(),
        }
    }

    pub(crate) fn kind_labels(&self, kind: &'static str) -> KindLabels {
        KindLabels {
            listener: self.label.clone(),
            kind,
        }
    }
}

/// Where a connection came from and what its PROXY header said.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The TCP peer (the load balancer, when a PROXY header is present).
    pub socket_peer: SocketAddr,
    /// The local address the connection arrived on.
    pub local: SocketAddr,
    /// The PROXY stage's verdict.
    pub arrival: Arrival,
}

impl ConnInfo {
    /// The peer the client-IP decision starts from: the PROXY source, else the socket peer.
    pub fn peer(&self) -> SocketAddr {
        self.arrival.effective_peer(self.socket_peer)
    }
}

/// Binds a listener's socket (with `SO_REUSEADDR`, so a restart does not wait out TIME_WAIT).
///
/// # Errors
/// [`ServeError::Bind`] with the OS error.
pub async fn bind(l: &ListenerConfig) -> Result<TcpListener, ServeError> {
    let err = |source| bind_error(&l.name, l.address, source);
    if let Some(transparent) = crate::transparent::hooks::bind(l) {
        return transparent.map_err(err);
    }
    let socket = match l.address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(l.address).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)
}

/// Accepts connections until `stop` flips, then waits for the open ones to finish.
///
/// Each connection runs in its own task: a panic there is counted and logged, never fatal.
/// The connection limit is a semaphore taken *before* accept, so at the limit new clients wait
/// in the kernel backlog instead of being accepted and dropped. A reload may change the limit:
/// raising it frees slots at once; lowering it closes no connection, and new ones wait until
/// enough have ended for the open count to fit the new limit.
pub async fn accept_loop(
    socket: TcpListener,
    mut settings: watch::Receiver<Arc<ListenerState>>,
    mut stop: watch::Receiver<bool>,
) {
    let first = settings.borrow_and_update().clone();
    let mut limit = Limit::new(first.config.max_connections.get() as usize);
    let mut conns = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        let state = settings.borrow_and_update().clone();
        limit.resize(state.config.max_connections.get() as usize);
        let permit = match limit.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                state
                    .metrics
                    .connection_limit_reached
                    .get_or_create(&state.labels())
                    .inc();
                tracing::warn!(listener = %state.label, limit = state.config.max_connections.get(), "connection limit reached; new clients wait in the backlog");
                tokio::select! {
                    p = limit.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                    () = crate::server::stopped(&mut stop) => break,
                    Ok(()) = settings.changed() => continue,
                    Some(done) = conns.join_next() => { reap(&state, done); continue; }
                }
            }
        };
        let Some(permit) = limit.retire(permit) else {
            // The slot belonged to a limit a reload lowered; it is gone now.
            continue;
        };
        let accepted = tokio::select! {
            a = socket.accept() => a,
            () = crate::server::stopped(&mut stop) => break,
            // A reload: start over so a lowered limit applies to the very next client.
            Ok(()) = settings.changed() => continue,
            Some(done) = conns.join_next() => { reap(&state, done); continue; }
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                // Settings as of now: a reload that landed while we waited in accept applies.
                let state = settings.borrow().clone();
                let stop = stop.clone();
                conns.spawn(async move {
                    let _permit = permit;
                    serve_connection(state, stream, peer, stop).await;
                });
            }
            Err(e) => {
                // EMFILE, ENOBUFS, ECONNABORTED...: transient. Back off instead of spinning or dying.
                state
                    .metrics
                    .accept_errors
                    .get_or_create(&state.labels())
                    .inc();
                tracing::warn!(listener = %state.label, error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    drop(socket);
    let state = settings.borrow().clone();
    while let Some(done) = conns.join_next().await {
        reap(&state, done);
    }
}

/// A listener's connection slots, resizable by reload.
struct Limit {
    slots: Arc<Semaphore>,
    /// The configured limit the slots add up to.
    size: usize,
    /// Slots to retire as they come back: a lowered limit waits for connections to end.
    owed: usize,
}

impl Limit {
    fn new(size: usize) -> Limit {
        Limit {
            slots: Arc::new(Semaphore::new(size)),
            size,
            owed: 0,
        }
    }

    fn resize(&mut self, size: usize) {
        if size > self.size {
            let mut more = size - self.size;
            // Cancel retirements still owed before adding slots.
            let cancelled = more.min(self.owed);
            self.owed -= cancelled;
            more -= cancelled;
            self.slots.add_permits(more);
        } else if size < self.size {
            let fewer = self.size - size;
            let free = self.slots.forget_permits(fewer);
            self.owed += fewer - free;
        }
        self.size = size;
    }

    /// Gives `permit` back for use, or consumes it while a lowered limit is still owed slots.
    fn retire(&mut self, permit: OwnedSemaphorePermit) -> Option<OwnedSemaphorePermit> {
        if self.owed == 0 {
            return Some(permit);
        }
        permit.forget();
        self.owed -= 1;
        None
    }
}

fn reap(state: &ListenerState, done: Result<(), tokio::task::JoinError>) {
    if done.is_err_and(|e| e.is_panic()) {
        state.hot.connection_panics(&state.metrics).inc();
        tracing::error!(listener = %state.label, "a connection task panicked; the connection was closed and the listener keeps serving");
    }
}

/// One connection: the PROXY stage, then the listener's protocol.
async fn serve_connection(
    state: Arc<ListenerState>,
    mut stream: TcpStream,
    socket_peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let m = &state.metrics;
    state.hot.connections(m).inc();
    let open = state.hot.connections_open(m).clone();
    open.inc();
    let _open = scopeguard(move || {
        open.dec();
    });
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(listener = %state.label, error = %e, "connection gone before it could be served");
            return;
        }
    };
    let first = match state.config.kind {
        ListenerKind::Tcp(_) | ListenerKind::Passthrough(_) => FirstSpeaker::Server,
        _ => FirstSpeaker::Client,
    };
    if first == FirstSpeaker::Client {
        // Small request/response exchanges: do not let Nagle hold back the last segment.
        let _ = stream.set_nodelay(true);
    }
    let started = Instant::now();
    let accepted = proxy_header::read_proxy_header(
        &mut stream,
        socket_peer,
        &state.config.proxy_protocol,
        first,
    )
    .await;
    state
        .hot
        .proxy_header_duration(m)
        .observe(started.elapsed().as_secs_f64());
    let Accepted { arrival, replay } = match accepted {
        Ok(a) => a,
        Err(e) => {
            m.proxy_errors
                .get_or_create(&state.kind_labels(e.kind()))
                .inc();
            if matches!(e, proxy_header::ProxyError::Empty) {
                // Plain TCP health checks connect and close; not worth more than a debug line.
                tracing::debug!(listener = %state.label, peer = %socket_peer, "connection closed before sending anything");
            } else {
                tracing::info!(target: "trueip::reject", listener = %state.label, peer = %socket_peer, kind = e.kind(), reason = %e, "connection rejected in the PROXY stage");
            }
            return;
        }
    };
    m.proxy_headers
        .get_or_create(&ProxyHeaderLabels {
            listener: state.label.clone(),
            version: arrival.version_label(),
            command: arrival.command_label(),
        })
        .inc();
    let conn = Arc::new(ConnInfo {
        socket_peer,
        local,
        arrival,
    });
    let (opening, replay) = if first == FirstSpeaker::Client {
        // The request-head bound starts here, where the PROXY stage ended: hyper's own head
        // timer only starts once the protocol layer does, after the first byte and the version.
        let deadline = Instant::now() + state.config.timeouts.request_head;
        match opening(&mut stream, replay, deadline, stop.clone()).await {
            Ok(decided) => decided,
            Err(Unopened::Stopped) => return,
            Err(Unopened::Closed) => {
                tracing::debug!(listener = %state.label, peer = %socket_peer, "connection closed before its request");
                return;
            }
            Err(Unopened::Stalled(kind)) => {
                state.hot.client_timeouts(m, kind).inc();
                tracing::debug!(listener = %state.label, peer = %socket_peer, kind = kind.label(), "closing a connection that sent no request within the request-head bound");
                return;
            }
        }
    } else {
        (Opening::Undecided, replay)
    };
    let io = Rewind::new(replay, stream);
    match &state.config.kind {
        ListenerKind::Http(_) => {
            Box::pin(http_proxy::serve(state.clone(), conn, io, stop, opening)).await
        }
        ListenerKind::Echo => Box::pin(echo::serve(state.clone(), conn, io, stop, opening)).await,
        ListenerKind::Tcp(t) => Box::pin(tcp::relay(state.clone(), &t.upstream, conn, io)).await,
        ListenerKind::Passthrough(_) => {
            let original = crate::transparent::hooks::passthrough_upstream(
                &state.config,
                conn.local,
                conn.socket_peer,
            );
            if let Some(up) = original {
                Box::pin(tcp::relay(state.clone(), &up, conn, io)).await;
            }
        }
        _ => tracing::error!(listener = %state.label, "listener kind not served by this build"),
    }
}

/// Why a client connection ended before its HTTP version was known.
enum Unopened {
    /// The listener is shutting down; an idle connection has nothing to finish.
    Stopped,
    /// The client closed, or the socket failed.
    Closed,
    /// The request-head bound passed in this wait.
    Stalled(ClientTimeout),
}

/// Waits, until `deadline`, for the client's opening bytes and judges its HTTP version; returns
/// it with the bytes to replay.
///
/// An idle client costs only this small task until it sends something; the protocol state
/// (hyper's connection, several KiB) is allocated when there is work. The deadline's timer is
/// only registered when the socket is not readable at once. A first byte other than `P` decides
/// without a read; a `P` is read on (at most the 24 bytes of the h2 preface) until the preface is
/// matched or ruled out.
async fn opening(
    stream: &mut TcpStream,
    replay: Bytes,
    deadline: Instant,
    mut stop: watch::Receiver<bool>,
) -> Result<(Opening, Bytes), Unopened> {
    let first = match replay.first() {
        Some(b) => Some(*b),
        None => {
            let deadline = tokio::time::Instant::from_std(deadline);
            tokio::select! {
                biased;
                r = stream.readable() => r.map_err(|_| Unopened::Closed)?,
                () = crate::server::stopped(&mut stop) => return Err(Unopened::Stopped),
                () = tokio::time::sleep_until(deadline) => return Err(Unopened::Stalled(ClientTimeout::FirstByte)),
            }
            peek_byte(stream).await
        }
    };
    if Opening::from_first_byte(first) == Opening::Http1 {
        return Ok((Opening::Http1, replay));
    }
    let mut opened = BytesMut::from(replay.as_ref());
    let mut chunk = [0u8; H2_PREFACE.len()];
    loop {
        if let Some(decided) = Opening::from_opening(&opened) {
            return Ok((decided, opened.freeze()));
        }
        // Undecided means fewer bytes than the preface.
        let want = H2_PREFACE.len().saturating_sub(opened.len()).max(1);
        let into = chunk.get_mut(..want).unwrap_or_default();
        let deadline = tokio::time::Instant::from_std(deadline);
        let n = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read(into)) => match r {
                Err(_) => return Err(Unopened::Stalled(ClientTimeout::VersionDetection)),
                Ok(Ok(0) | Err(_)) => return Err(Unopened::Closed),
                Ok(Ok(n)) => n,
            },
            () = crate::server::stopped(&mut stop) => return Err(Unopened::Stopped),
        };
        opened.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The first byte waiting on `stream`, without consuming it; `None` unless it is there now
/// (the caller has seen the socket readable, so this does not wait).
async fn peek_byte(stream: &TcpStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    std::future::poll_fn(|cx| {
        let mut buf = tokio::io::ReadBuf::new(&mut byte);
        std::task::Poll::Ready(match stream.poll_peek(cx, &mut buf) {
            std::task::Poll::Ready(Ok(_)) => buf.filled().first().copied(),
            _ => None,
        })
    })
    .await
}

/// Runs `f` when dropped, also on unwind, so gauges stay right when a connection panics.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
