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

/// How a connection is served: the HTTP/1 request-head bound, the connection's timer that
/// enforces it, and what its first byte said about the HTTP version.
///
/// The head bound is hyper's `header_read_timeout`: it runs from the moment the connection is
/// ready for a head (accepted, or done with the previous exchange) until the head is complete,
/// and never while a request body or a response is under way. When it passes, hyper closes the
/// connection without an answer: a client that sent part of a head and stalled, and an idle
/// keep-alive connection, alike. The timer is the connection's [`ConnTimer`], so a head that
/// arrives in time costs no timer-wheel operation.
#[derive(Clone, Debug)]
pub struct ConnSetup {
    /// The connection's timer; its deadlines are polled in the connection's task.
    pub timer: ConnTimer,
    /// The head bound ([`HEADER_READ_TIMEOUT`] on every listener).
    pub head_timeout: Duration,
    /// What the first byte said.
    pub opening: Opening,
}

impl ConnSetup {
    /// A fresh timer and the listeners' head bound.
    pub fn new(opening: Opening) -> ConnSetup {
        ConnSetup {
            timer: ConnTimer::new(),
            head_timeout: HEADER_READ_TIMEOUT,
            opening,
        }
    }
}

/// What a connection's first byte says about its HTTP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// Not `P`: the h2 connection preface (`PRI * HTTP/2.0`) cannot start this way, so the
    /// connection is HTTP/1 and is served by hyper's HTTP/1 server directly.
    Http1,
    /// `P` (the h2 preface, or `POST`, `PUT`, `PATCH`), or not known: hyper-util's automatic
    /// server reads on until it can tell, and serves either version.
    Undecided,
}

impl Opening {
    /// Judges the first byte the client sent, if it is known.
    pub fn from_first_byte(byte: Option<u8>) -> Opening {
        match byte {
            Some(b) if b != b'P' => Opening::Http1,
            _ => Opening::Undecided,
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
                .map_err(|e| e.to_string())
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
                .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = outcome {
        // Client resets and timeouts are routine; they are not the proxy's errors.
        tracing::debug!(listener = %listener, error = %e, "http connection ended with an error");
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
    fn only_a_p_or_an_unknown_first_byte_leaves_the_version_open() {
        for b in *b"GHDOCT" {
            assert_eq!(Opening::from_first_byte(Some(b)), Opening::Http1);
        }
        // `PRI * HTTP/2.0` (h2 prior knowledge) and `POST`/`PUT`/`PATCH` all start with P.
        assert_eq!(Opening::from_first_byte(Some(b'P')), Opening::Undecided);
        assert_eq!(Opening::from_first_byte(None), Opening::Undecided);
    }
}
