//! The `tcp` listener: relay bytes both ways, optionally announcing the client upstream with a
//! PROXY header (HAProxy `send-proxy` / `send-proxy-v2`).
//!
//! Half-close is preserved: when one side finishes sending, the other side's write half is shut
//! down and the opposite direction keeps flowing until it finishes too.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use trueip::config::listener::Upstream;

use crate::listener::{ConnInfo, ListenerState};
use crate::proxy_header::Arrival;
use crate::upstream::{self, ProxyEndpoints};

/// Relays one accepted connection to `upstream`.
pub async fn relay<I>(state: Arc<ListenerState>, up: &Upstream, conn: Arc<ConnInfo>, mut io: I)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let ends = ProxyEndpoints {
        source: conn.peer(),
        destination: match &conn.arrival {
            Arrival::Proxied(p) => p.destination,
            _ => conn.local,
        },
        downstream: match &conn.arrival {
            Arrival::Proxied(p) => Some(p.clone()),
            _ => None,
        },
    };
    let header = match upstream::upstream_header(up, &ends) {
        Ok(h) => h,
        Err(e) => {
            state
                .metrics
                .upstream_errors
                .get_or_create(&state.kind_labels("proxy_header"))
                .inc();
            tracing::warn!(listener = %state.label, error = %e, "cannot build the upstream PROXY header; closing");
            return;
        }
    };
    let mut upstream_io = match crate::transparent::hooks::connect_with_header(
        &state.config,
        up,
        conn.peer(),
        header.as_deref(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            let kind = match e.kind() {
                std::io::ErrorKind::TimedOut => "connect_timeout",
                std::io::ErrorKind::ConnectionRefused => "refused",
                _ => "connect",
            };
            state
                .metrics
                .upstream_errors
                .get_or_create(&state.kind_labels(kind))
                .inc();
            tracing::warn!(listener = %state.label, upstream = %up.address, error = %e, "upstream connect failed; closing the client connection");
            return;
        }
    };
    // The bytes read past the PROXY header are replayed by `io` (a `Rewind`) before new ones.
    match tokio::io::copy_bidirectional(&mut io, &mut upstream_io).await {
        Ok((up_bytes, down_bytes)) => {
            tracing::debug!(listener = %state.label, peer = %conn.socket_peer, up_bytes, down_bytes, "tcp relay finished");
        }
        Err(e) => {
            tracing::debug!(listener = %state.label, peer = %conn.socket_peer, error = %e, "tcp relay ended with an error")
        }
    }
}
