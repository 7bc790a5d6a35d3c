//! The three places the proxy's listeners call into transparent mode: binding the socket,
//! connecting upstream, and choosing the upstream of a pass-through connection.
//!
//! Kept here so the listener and relay code carry one line each and know nothing of
//! `IP_TRANSPARENT` or marks.

use std::io;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use trueip::config::listener::{ListenerConfig, ListenerKind, SendProxy, Upstream};
use trueip::config::transparent::{
    Interception, PassthroughProtocol, UpstreamSource as SourceSetting,
};

use super::socket::{self, ConnectError, ConnectOptions, Mark, SocketError, UpstreamSource};

/// Binds the listener's socket itself when it is transparent (`None`: an ordinary listener,
/// bound by the caller). Settings this build cannot serve are refused here, at startup, with a
/// message that says what to use instead.
pub fn bind(listener: &ListenerConfig) -> Option<io::Result<TcpListener>> {
    let transparent = listener.transparent?;
    if let Err(message) = supported(listener) {
        return Some(Err(io::Error::new(io::ErrorKind::Unsupported, message)));
    }
    if transparent.interception != Interception::Tproxy {
        return None;
    }
    Some(socket::transparent_listener(listener.address, 1024).map_err(socket_to_io))
}

/// Connects to `upstream` for a connection whose client is `client`, from the client's address
/// when the listener asks for it, and writes the PROXY `header` (if any) first.
///
/// # Errors
/// The connect or write failure; a transparent connect's errors keep their explanation
/// (missing capability, no return path) in the message.
pub async fn connect_with_header(
    listener: &ListenerConfig,
    upstream: &Upstream,
    client: SocketAddr,
    header: Option<&[u8]>,
) -> io::Result<TcpStream> {
    let Some(transparent) = listener.transparent else {
        return crate::upstream::connect_with_header(upstream, header).await;
    };
    let source = match transparent.upstream_source {
        SourceSetting::Client => UpstreamSource::Client(client.ip()),
        SourceSetting::Proxy => UpstreamSource::Proxy,
    };
    let options = ConnectOptions {
        mark: (transparent.mark != 0).then_some(Mark(transparent.mark)),
        timeout: upstream.connect_timeout,
    };
    let mut stream = socket::connect(source, upstream.address, options)
        .await
        .map_err(connect_to_io)?;
    stream.set_nodelay(true)?;
    if let Some(header) = header {
        stream.write_all(header).await?;
    }
    Ok(stream)
}

/// The upstream of a pass-through connection: its original destination (the accepted socket's
/// local address). `None`, with a log line, when the connection was addressed to the listener
/// itself — not intercepted by TPROXY — since forwarding it would connect to ourselves.
pub fn passthrough_upstream(
    listener: &ListenerConfig,
    local: SocketAddr,
    peer: SocketAddr,
) -> Option<Upstream> {
    let ListenerKind::Passthrough(_) = listener.kind else {
        return None;
    };
    if addressed_to_listener(local, listener.address) {
        tracing::warn!(
            listener = %listener.name, %peer, orig_dst = %local,
            "connection addressed to the tproxy listener itself, not intercepted by TPROXY \
             (a direct connection or REDIRECT/DNAT rules); closing it. Install TPROXY rules \
             with `trueip net setup` and verify with `trueip net check`"
        );
        return None;
    }
    let transparent = listener.transparent.unwrap_or_default();
    Some(Upstream {
        address: local,
        proxy_protocol: SendProxy::default(),
        connect_timeout: transparent.connect_timeout,
        response_timeout: transparent.connect_timeout,
    })
}

/// Whether a connection's destination is the listener's own address (so it was not intercepted).
pub fn addressed_to_listener(orig_dst: SocketAddr, listener: SocketAddr) -> bool {
    if listener.ip().is_unspecified() {
        orig_dst.port() == listener.port()
    } else {
        orig_dst == listener
    }
}

fn supported(listener: &ListenerConfig) -> Result<(), String> {
    let Some(transparent) = listener.transparent else {
        return Ok(());
    };
    match &listener.kind {
        ListenerKind::Passthrough(p) if p.protocol == PassthroughProtocol::Http => Err(
            "transparent: an http listener without an upstream (pass-through) is not served yet; \
             use protocol \"tcp\" for pass-through, or give the http listener an upstream"
                .into(),
        ),
        ListenerKind::Http(_) if transparent.upstream_source == SourceSetting::Client => Err(
            "transparent.upstream_source \"client\" is not served on http listeners yet (one pooled \
             upstream client cannot leave from many client addresses); use \"proxy\": the upstream \
             still gets the client in the forwarding headers"
                .into(),
        ),
        _ => Ok(()),
    }
}

fn socket_to_io(error: SocketError) -> io::Error {
    let kind = match &error {
        SocketError::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
        SocketError::Option { source, .. } | SocketError::Io { source, .. } => source.kind(),
    };
    io::Error::new(kind, error.to_string())
}

fn connect_to_io(error: ConnectError) -> io::Error {
    let kind = match &error {
        ConnectError::Socket(SocketError::PermissionDenied { .. }) => {
            io::ErrorKind::PermissionDenied
        }
        ConnectError::NoReturnPath { .. } | ConnectError::TimedOut { .. } => {
            io::ErrorKind::TimedOut
        }
        ConnectError::Io { source, .. } => source.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(json: &str) -> ListenerConfig {
        serde_json::from_str(json).expect("valid listener")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn a_connection_to_the_listener_itself_was_not_intercepted() {
        let bound = addr("127.0.0.1:15001");
        assert!(addressed_to_listener(addr("127.0.0.1:15001"), bound));
        assert!(!addressed_to_listener(addr("10.200.2.2:8080"), bound));
        assert!(!addressed_to_listener(addr("127.0.0.1:8080"), bound));
        // A wildcard listener compares the port.
        assert!(addressed_to_listener(
            addr("[fd00:200:1::1]:15001"),
            addr("[::]:15001")
        ));
        assert!(!addressed_to_listener(
            addr("[fd00:200:2::2]:8080"),
            addr("[::]:15001")
        ));
    }

    #[test]
    fn a_pass_through_connection_goes_to_its_original_destination() {
        let l = listener(
            r#"{"address": "0.0.0.0:15001", "protocol": "tcp",
                "transparent": {"interception": "tproxy", "connect_timeout_ms": 900}}"#,
        );
        let up = passthrough_upstream(&l, addr("10.200.2.2:8080"), addr("10.200.1.2:40000"))
            .expect("upstream");
        assert_eq!(up.address, addr("10.200.2.2:8080"));
        assert_eq!(up.connect_timeout, std::time::Duration::from_millis(900));
        assert_eq!(
            passthrough_upstream(&l, addr("10.200.1.1:15001"), addr("10.200.1.2:40000")),
            None
        );
    }

    #[test]
    fn unsupported_combinations_are_refused_at_bind() {
        let http_client = listener(
            r#"{"address": "0.0.0.0:15001", "protocol": "http", "upstream": {"address": "10.0.0.5:80"},
                "transparent": {"interception": "tproxy"}}"#,
        );
        let err = bind(&http_client)
            .expect("handled here")
            .expect_err("unsupported");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let http_passthrough = listener(
            r#"{"address": "0.0.0.0:15001", "protocol": "http", "transparent": {"interception": "tproxy"}}"#,
        );
        let err = bind(&http_passthrough)
            .expect("handled here")
            .expect_err("unsupported");
        assert!(err.to_string().contains("pass-through"), "{err}");
        let plain = listener(
            r#"{"address": "127.0.0.1:0", "protocol": "tcp", "upstream": {"address": "10.0.0.5:80"}}"#,
        );
        assert!(
            bind(&plain).is_none(),
            "ordinary listeners are bound by the caller"
        );
    }
}
