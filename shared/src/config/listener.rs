//! Listener settings read only by the native proxy (`listeners` section). The proxy owner extends this.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address to bind.
    pub address: SocketAddr,
    /// What the listener speaks.
    pub protocol: ListenerProtocol,
    /// Where to forward.
    pub upstream: SocketAddr,
}

/// The protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerProtocol {
    /// HTTP/1.1: the client-IP decision and the header rewrite apply.
    Http,
    /// Plain TCP: only the peer (or PROXY source) is known.
    Tcp,
}
