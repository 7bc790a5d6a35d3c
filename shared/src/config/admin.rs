//! The admin endpoint of the native proxy (`admin` section). The proxy owner extends this.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The `admin` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener (metrics, health).
    pub address: SocketAddr,
}
