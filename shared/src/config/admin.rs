//! `admin`: the native proxy's operations endpoint (`/metrics`, `/ready`, `/live`, `/config`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The admin listener. Bind it to loopback or a management network: `/config` shows the whole
/// effective configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where to serve the admin endpoints.
    #[serde(deserialize_with = "crate::config::values::socket_addr")]
    pub address: SocketAddr,
}
