//! Serving one HTTP connection (HTTP/1.1 with keep-alive, or h2c by prior knowledge) with
//! graceful shutdown: on stop, in-flight requests finish and idle keep-alive connections close.

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::upstream::Body;

/// Bound on receiving a request head; slowloris clients are closed after it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `io` with `service` until the client closes, an error occurs, or `stop` flips.
pub async fn serve<I, S>(io: I, service: S, mut stop: watch::Receiver<bool>, listener: &str)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
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
        tracing::debug!(listener, error = %e, "http connection ended with an error");
    }
}
