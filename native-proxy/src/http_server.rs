//! Serving one HTTP connection (HTTP/1.1 with keep-alive, or h2c by prior knowledge) with
//! graceful shutdown: on stop, in-flight requests finish and idle keep-alive connections close.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::conn_timer::ConnTimer;
use crate::listener::ListenerState;
use crate::metrics::ClientTimeout;
use crate::upstream::Body;

/// How a connection is served: the client bounds, the connection's timer that enforces the
/// HTTP/1 one, and what its opening bytes said about the HTTP version.
///
/// The head bound is hyper's `header_read_timeout`: it runs from the moment the connection is
/// ready for a head (accepted, or done with the previous exchange) until the head is complete,
/// and never while a request body or a response is under way. When it passes, hyper closes the
/// connection without an answer: a client that sent part of a head and stalled, and an idle
/// keep-alive connection, alike. The timer is the connection's [`ConnTimer`], so a head that
/// arrives in time costs no timer-wheel operation. (The wait for the first byte and the version
/// detection before it are bounded by the listener, with the same value.)
///
/// The idle bound closes an h2 connection (GOAWAY, then close; dropped if the client does not
/// take part in the shutdown within one more bound) once it has had no open stream for that
/// long; it is counted in `idle_closes`.
#[derive(Clone, Debug)]
pub struct ConnSetup {
    /// The connection's timer; its deadlines are polled in the connection's task.
    pub timer: ConnTimer,
    /// The HTTP/1 head bound (the listener's `timeouts.request_head_ms`).
    pub head_timeout: Duration,
    /// The h2 idle bound (the listener's `timeouts.idle_ms`).
    pub idle_timeout: Duration,
    /// Counts HTTP/1 connections closed by the head bound.
    pub head_timeouts: Counter,
    /// Counts h2 connections closed by the idle bound.
    pub idle_closes: Counter,
    /// What the opening bytes said.
    pub opening: Opening,
}

impl ConnSetup {
    /// A fresh timer and the listener's bounds.
    pub fn for_listener(state: &ListenerState, opening: Opening) -> ConnSetup {
        let timeouts = state.config.timeouts;
        ConnSetup {
            timer: ConnTimer::new(),
            head_timeout: timeouts.request_head,
            idle_timeout: timeouts.idle,
            head_timeouts: state
                .hot
                .client_timeouts(&state.metrics, ClientTimeout::RequestHead)
                .clone(),
            idle_closes: state
                .hot
                .client_timeouts(&state.metrics, ClientTimeout::H2Idle)
                .clone(),
            opening,
        }
    }
}

/// The h2 connection preface a client with prior knowledge opens with (RFC 9113, 3.4).
pub const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a connection's opening bytes say about its HTTP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// Not the h2 preface: served by hyper's HTTP/1 server directly.
    Http1,
    /// The h2 preface: served by hyper's h2 server directly.
    H2,
    /// Not known: hyper-util's automatic server reads on until it can tell, and serves either
    /// version (with no bound on that read and no h2 idle bound; listeners always decide first).
    Undecided,
}

impl Opening {
    /// Judges the first byte the client sent, if it is known: anything but `P` rules out the
    /// h2 preface; `P` (the preface, or `POST`, `PUT`, `PATCH`) needs more bytes.
    pub fn from_first_byte(byte: Option<u8>) -> Opening {
        match byte {
            Some(b) if b != b'P' => Opening::Http1,
            _ => Opening::Undecided,
        }
    }

    /// Judges the opening bytes; `None` while they are still a proper prefix of the h2 preface.
    pub fn from_opening(bytes: &[u8]) -> Option<Opening> {
        if bytes.is_empty() {
            None
        } else if bytes.starts_with(H2_PREFACE) {
            Some(Opening::H2)
        } else if bytes.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(bytes) {
            None
        } else {
            Some(Opening::Http1)
        }
    }
}

/// Serves `io` with `service` until the client closes, an error occurs, or `stop` flips.
///
/// `panics` counts h2 requests whose handler panicked: hyper runs each h2 stream in a task of
/// its own, so such a panic never reaches the connection task (which counts its own).
pub async fn serve<I, S>(
    io: I,
    service: S,
    mut stop: watch::Receiver<bool>,
    listener: &Arc<str>,
    panics: Counter,
    setup: ConnSetup,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let outcome = match setup.opening {
        // Without the version detection layer: no read of the opening bytes into a buffer of
        // its own and no extra wrapper around every read (BENCHMARKS.md, "Native proxy").
        Opening::Http1 => {
            let mut h1 = hyper::server::conn::http1::Builder::new();
            h1.timer(setup.timer)
                .header_read_timeout(setup.head_timeout)
                .keep_alive(true)
                // Proxied answers are mostly small: one flat buffer, one plain write per response.
                .writev(false);
            let conn = h1.serve_connection(TokioIo::new(io), service);
            until_stopped(conn, &mut stop, |c| c.graceful_shutdown())
                .await
                .map_err(|e| head_timeout(&e, &setup.head_timeouts, listener))
        }
        Opening::H2 => {
            let mut h2 = hyper::server::conn::http2::Builder::new(StreamExecutor {
                listener: listener.clone(),
                panics,
            });
            h2.timer(TokioTimer::new());
            let streams = Streams::default();
            let conn = h2.serve_connection(TokioIo::new(io), streams.track(service));
            tokio::pin!(conn);
            let idle = streams.idle_for(setup.idle_timeout);
            tokio::select! {
                r = conn.as_mut() => r,
                () = crate::server::stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
                () = idle => {
                    setup.idle_closes.inc();
                    tracing::debug!(listener = %listener, kind = ClientTimeout::H2Idle.label(), "closing an h2 connection with no stream for the idle bound");
                    // hyper's graceful h2 shutdown sends GOAWAY and a PING, and waits for the
                    // PING's answer before closing; a client that never answers would keep the
                    // slot. No stream is open, so past one more bound the connection is dropped.
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(setup.idle_timeout, conn).await {
                        Ok(r) => r,
                        Err(_) => Ok(()),
                    }
                }
            }
            .map_err(|e| Some(e.to_string()))
        }
        Opening::Undecided => {
            let mut builder = auto::Builder::new(StreamExecutor {
                listener: listener.clone(),
                panics,
            });
            builder
                .http1()
                .timer(setup.timer)
                .header_read_timeout(setup.head_timeout)
                .keep_alive(true)
                .writev(false);
            builder.http2().timer(TokioTimer::new());
            let conn = builder.serve_connection(TokioIo::new(io), service);
            until_stopped(conn, &mut stop, |c| c.graceful_shutdown())
                .await
                .map_err(|e| match e.downcast_ref::<hyper::Error>() {
                    Some(e) => head_timeout(e, &setup.head_timeouts, listener),
                    None => Some(e.to_string()),
                })
        }
    };
    if let Err(Some(e)) = outcome {
        // Client resets are routine; they are not the proxy's errors.
        tracing::debug!(listener = %listener, error = %e, "http connection ended with an error");
    }
}

/// Counts and logs a connection closed by the HTTP/1 head bound (`None`: nothing more to log);
/// any other error is returned as text.
fn head_timeout(e: &hyper::Error, counter: &Counter, listener: &Arc<str>) -> Option<String> {
    if e.is_timeout() {
        counter.inc();
        tracing::debug!(listener = %listener, kind = ClientTimeout::RequestHead.label(), "closing a connection whose request head was not complete within the request-head bound");
        None
    } else {
        Some(e.to_string())
    }
}

/// Runs `conn` to its end; once `stop` flips, starts its graceful shutdown and lets it finish.
async fn until_stopped<C, F>(conn: C, stop: &mut watch::Receiver<bool>, shutdown: F) -> C::Output
where
    C: Future,
    F: FnOnce(Pin<&mut C>),
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        () = crate::server::stopped(stop) => {
            shutdown(conn.as_mut());
            conn.await
        }
    }
}

/// The open streams of one h2 connection, and since when it has had none.
///
/// A stream counts as open from its request until its response body is done or dropped.
#[derive(Clone, Debug)]
struct Streams(Arc<std::sync::Mutex<Activity>>);

#[derive(Debug)]
struct Activity {
    open: usize,
    /// When `open` last became 0 (or the connection started).
    idle_since: tokio::time::Instant,
}

impl Default for Streams {
    fn default() -> Streams {
        Streams(Arc::new(std::sync::Mutex::new(Activity {
            open: 0,
            idle_since: tokio::time::Instant::now(),
        })))
    }
}

impl Streams {
    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        // Nothing under this lock panics; a poisoned one is still consistent.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `service` with each request counted as an open stream until its response body ends.
    fn track<S>(
        &self,
        service: S,
    ) -> impl Service<
        Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Send
    + 'static
    where
        S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let streams = self.clone();
        hyper::service::service_fn(move |req| {
            streams.activity().open += 1;
            let open = OpenStream(streams.clone());
            let fut = service.call(req);
            async move {
                let resp = fut.await?;
                Ok(resp.map(|body| {
                    http_body_util::BodyExt::boxed(Tracked {
                        inner: body,
                        _open: open,
                    })
                }))
            }
        })
    }

    /// Completes once the connection has had no open stream for `bound`.
    async fn idle_for(&self, bound: Duration) {
        let mut at = tokio::time::Instant::now() + bound;
        loop {
            tokio::time::sleep_until(at).await;
            let now = tokio::time::Instant::now();
            let a = self.activity();
            if a.open > 0 {
                at = now + bound;
            } else if a.idle_since + bound <= now {
                return;
            } else {
                at = a.idle_since + bound;
            }
        }
    }
}

/// One open stream; dropping it (with the response body, or the request future) closes it.
#[derive(Debug)]
struct OpenStream(Streams);

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut a = self.0.activity();
        a.open = a.open.saturating_sub(1);
        if a.open == 0 {
            a.idle_since = tokio::time::Instant::now();
        }
    }
}

/// A response body that keeps its stream counted as open until it is dropped.
struct Tracked {
    inner: Body,
    _open: OpenStream,
}

impl hyper::body::Body for Tracked {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Spawns hyper's h2 stream tasks, each guarded so that a panic is counted and logged (the
/// stream is reset; the connection and its other streams carry on).
#[derive(Clone, Debug)]
struct StreamExecutor {
    listener: Arc<str>,
    panics: Counter,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(Guarded {
            inner: Box::pin(fut),
            executor: self.clone(),
        });
    }
}

/// A stream task that turns a panic into a counted, logged end.
struct Guarded<F> {
    inner: Pin<Box<F>>,
    executor: StreamExecutor,
}

impl<F: Future<Output = ()>> Future for Guarded<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &mut self.inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                self.executor.panics.inc();
                tracing::error!(listener = %self.executor.listener, "an h2 request task panicked; its stream was reset and the connection keeps serving");
                Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opening_is_h2_only_for_the_whole_preface() {
        for n in 1..H2_PREFACE.len() {
            assert_eq!(
                Opening::from_opening(H2_PREFACE.get(..n).unwrap_or_default()),
                None,
                "{n}"
            );
        }
        assert_eq!(Opening::from_opening(b""), None);
        assert_eq!(Opening::from_opening(H2_PREFACE), Some(Opening::H2));
        assert_eq!(
            Opening::from_opening(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(Opening::H2)
        );
        for http1 in [&b"POST"[..], b"PUT ", b"PRX", b"G", b"PRI * HTTP/1.1\r\n"] {
            assert_eq!(
                Opening::from_opening(http1),
                Some(Opening::Http1),
                "{http1:?}"
            );
        }
    }

    #[test]
    fn only_a_p_or_an_unknown_first_byte_leaves_the_version_open() {
        for b in *b"GHDOCT" {
            assert_eq!(Opening::from_first_byte(Some(b)), Opening::Http1);
        }
        // `PRI * HTTP/2.0` (h2 prior knowledge) and `POST`/`PUT`/`PATCH` all start with P.
        assert_eq!(Opening::from_first_byte(Some(b'P')), Opening::Undecided);
        assert_eq!(Opening::from_first_byte(None), Opening::Undecided);
    }
}
