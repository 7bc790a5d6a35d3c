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
use crate::upstream::Body;

/// Bound on receiving an HTTP/1 request head; slowloris clients are closed after it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an HTTP/1 client may take to send a request head, and the connection's timer that
/// enforces it.
///
/// The bound is hyper's `header_read_timeout`: it runs from the moment the connection is ready
/// for a head (accepted, or done with the previous exchange) until the head is complete, and
/// never while a request body or a response is under way. When it passes, hyper closes the
/// connection without an answer: a client that sent part of a head and stalled, and an idle
/// keep-alive connection, alike. The timer is the connection's [`ConnTimer`], so a head that arrives in time
/// costs no timer-wheel operation.
#[derive(Clone, Debug)]
pub struct HeadTimeout {
    /// The connection's timer; its deadlines are polled in the connection's task.
    pub timer: ConnTimer,
    /// The bound ([`HEADER_READ_TIMEOUT`] on every listener).
    pub limit: Duration,
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
    head: HeadTimeout,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(StreamExecutor {
        listener: listener.clone(),
        panics,
    });
    builder
        .http1()
        .timer(head.timer)
        .header_read_timeout(head.limit)
        .keep_alive(true)
        // Proxied answers are mostly small: one flat buffer, one plain write per response.
        .writev(false);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = crate::server::stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Client resets and timeouts are routine; they are not the proxy's errors.
        tracing::debug!(listener = %listener, error = %e, "http connection ended with an error");
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
