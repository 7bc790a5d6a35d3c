//! The TPROXY forwarder: accept intercepted connections, connect upstream from the client's own
//! address, copy bytes both ways.
//!
//! This is the TCP pass-through path of a `tproxy` listener. It keeps to the server shape the
//! rest of the proxy uses: a connection semaphore, accept errors that back off instead of ending
//! the server, and a drain bounded by a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use trueip::config::listener::{ListenerConfig, ListenerKind};
use trueip::config::transparent::{self as config, PassthroughProtocol};

use super::proxy_header;
use super::socket::{self, ConnectOptions, OrigDstAddr, UpstreamSource};

/// Where intercepted connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Wherever the client was going (pass-through).
    OriginalDst,
    /// A fixed upstream, whatever the original destination was.
    Upstream(SocketAddr),
}

/// Which address upstream connections leave from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// The client's address, via `IP_TRANSPARENT`: the upstream sees the real client.
    Client,
    /// The proxy's own address: the upstream sees the proxy, as with REDIRECT.
    Proxy,
}

/// Settings for one transparent listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardConfig {
    /// Where connections go.
    pub target: Target,
    /// Which address they leave from.
    pub source: SourceMode,
    /// Mark and connect timeout for upstream sockets.
    pub connect: ConnectOptions,
    /// Connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long in-flight connections get to finish after shutdown is signalled.
    pub drain: Duration,
    /// Read a PROXY header first and use its source as the client (the go-mmproxy job).
    pub proxy_protocol: Option<HeaderLimits>,
}

/// Bounds on reading a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    /// The whole header must arrive within this time.
    pub timeout: Duration,
    /// And within this many bytes.
    pub max_bytes: usize,
}

impl ForwardConfig {
    /// The forwarder for a pass-through TCP listener (`protocol: "tcp"`, TPROXY interception, no
    /// upstream); `None` for every other kind, which the proxy's own listener code serves.
    pub fn for_listener(listener: &ListenerConfig) -> Option<ForwardConfig> {
        let ListenerKind::Passthrough(settings) = &listener.kind else {
            return None;
        };
        if settings.protocol != PassthroughProtocol::Tcp {
            return None;
        }
        let transparent = listener.transparent.unwrap_or_default();
        Some(ForwardConfig {
            target: Target::OriginalDst,
            source: match transparent.upstream_source {
                config::UpstreamSource::Client => SourceMode::Client,
                config::UpstreamSource::Proxy => SourceMode::Proxy,
            },
            connect: ConnectOptions {
                mark: (transparent.mark != 0).then_some(socket::Mark(transparent.mark)),
                timeout: transparent.connect_timeout,
            },
            max_connections: usize::try_from(listener.max_connections.get()).unwrap_or(usize::MAX),
            drain: Duration::from_secs(10),
            proxy_protocol: None,
        })
    }
}

/// Serves intercepted connections on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    config: ForwardConfig,
    shutdown: impl Future<Output = ()>,
) {
    let local = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            warn!(%error, "transparent listener has no local address; not serving");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let accept_loop = async {
        let mut backoff = Duration::from_millis(5);
        loop {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    tokio::spawn(async move {
                        handle(stream, peer, local, config).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    // EMFILE and friends are transient: back off instead of ending the server.
                    warn!(%error, listener = %local, ?backoff, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    };
    tokio::select! {
        () = accept_loop => {}
        () = shutdown => {}
    }
    drop(listener);
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        warn!(listener = %local, drain = ?config.drain, "drain deadline passed with connections open");
    }
}

async fn handle(mut client: TcpStream, peer: SocketAddr, local: SocketAddr, config: ForwardConfig) {
    let orig_dst = match socket::orig_dst(&client) {
        Ok(addr) => addr,
        Err(error) => {
            warn!(%error, %peer, "cannot read the original destination");
            return;
        }
    };
    let dest = match config.target {
        Target::OriginalDst if addressed_to_listener(orig_dst, local) => {
            // Forwarding this to its "original destination" would connect to ourselves. It means
            // the connection was not diverted by TPROXY: a direct connection, or REDIRECT/DNAT
            // rules, which rewrite the destination and lose the information we need.
            warn!(
                %peer, orig_dst = %orig_dst.0,
                "connection addressed to the tproxy listener itself, not intercepted by TPROXY \
                 (a direct connection or REDIRECT/DNAT rules); closing it. Install TPROXY rules \
                 with `trueip net setup` and verify with `trueip net check`"
            );
            return;
        }
        Target::OriginalDst => orig_dst.0,
        Target::Upstream(addr) => addr,
    };
    let (client_ip, replay) = match config.proxy_protocol {
        None => (peer.ip(), Vec::new()),
        Some(limits) => {
            match proxy_header::read(&mut client, limits.timeout, limits.max_bytes).await {
                // LOCAL/UNKNOWN (a load balancer's health check): the peer is the client.
                Ok(header) => (
                    header.source.map_or(peer.ip(), |source| source.ip()),
                    header.rest,
                ),
                Err(error) => {
                    warn!(%error, kind = error.kind(), %peer, "PROXY header refused; closing");
                    return;
                }
            }
        }
    };
    let source = match config.source {
        SourceMode::Client => UpstreamSource::Client(client_ip),
        SourceMode::Proxy => UpstreamSource::Proxy,
    };
    let mut upstream = match socket::connect(source, dest, config.connect).await {
        Ok(stream) => stream,
        Err(error) => {
            warn!(%error, kind = error.kind(), %peer, orig_dst = %orig_dst.0, upstream = %dest, "upstream connect failed");
            return;
        }
    };
    debug!(%peer, client = %client_ip, orig_dst = %orig_dst.0, upstream = %dest, "forwarding");
    if !replay.is_empty() {
        if let Err(error) = upstream.write_all(&replay).await {
            debug!(%error, %peer, upstream = %dest, "upstream closed before the replayed bytes");
            return;
        }
    }
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((up, down)) => debug!(%peer, upstream = %dest, up, down, "connection closed"),
        Err(error) => debug!(%error, %peer, upstream = %dest, "connection ended with an error"),
    }
}

/// Whether a connection's destination is the listener's own address (so it was not intercepted).
fn addressed_to_listener(orig_dst: OrigDstAddr, listener: SocketAddr) -> bool {
    super::hooks::addressed_to_listener(orig_dst.0, listener)
}

/// Logs that a listener is up; tests and operators wait for this line.
pub fn announce(listener: &TcpListener) {
    if let Ok(addr) = listener.local_addr() {
        info!(listen = %addr, "transparent listener ready");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dst(s: &str) -> OrigDstAddr {
        OrigDstAddr(s.parse().expect("addr"))
    }

    #[test]
    fn a_connection_to_the_listener_itself_was_not_intercepted() {
        let listener: SocketAddr = "127.0.0.1:15001".parse().expect("addr");
        assert!(addressed_to_listener(dst("127.0.0.1:15001"), listener));
        assert!(!addressed_to_listener(dst("10.200.2.2:8080"), listener));
        assert!(!addressed_to_listener(dst("127.0.0.1:8080"), listener));
    }

    #[test]
    fn a_pass_through_tcp_listener_config_becomes_a_forwarder() {
        let json = r#"{"address": "0.0.0.0:15001", "protocol": "tcp", "max_connections": 7,
                       "transparent": {"interception": "tproxy", "mark": 512, "connect_timeout_ms": 900}}"#;
        let listener: ListenerConfig = serde_json::from_str(json).expect("valid");
        let forward = ForwardConfig::for_listener(&listener).expect("pass-through tcp");
        assert_eq!(forward.target, Target::OriginalDst);
        assert_eq!(forward.source, SourceMode::Client);
        assert_eq!(forward.connect.mark, Some(socket::Mark(512)));
        assert_eq!(forward.connect.timeout, Duration::from_millis(900));
        assert_eq!(forward.max_connections, 7);

        let http = json.replace(r#""tcp""#, r#""http""#);
        let listener: ListenerConfig = serde_json::from_str(&http).expect("valid");
        assert_eq!(
            ForwardConfig::for_listener(&listener),
            None,
            "http pass-through is the proxy's http path"
        );
    }

    #[test]
    fn a_wildcard_listener_compares_the_port() {
        let listener: SocketAddr = "[::]:15001".parse().expect("addr");
        assert!(addressed_to_listener(
            dst("[fd00:200:1::1]:15001"),
            listener
        ));
        assert!(!addressed_to_listener(
            dst("[fd00:200:2::2]:8080"),
            listener
        ));
    }
}
