//! Settings read only by the proxy-wasm filter (`envoy` section). The filter owner extends this.

use serde::{Deserialize, Serialize};

/// The `envoy` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvoyConfig {
    /// Where the filter runs.
    #[serde(default)]
    pub mode: EnvoyMode,
}

/// Where the filter runs, which decides what the peer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvoyMode {
    /// At the edge (ingress gateway): the peer is the downstream connection's address.
    #[default]
    Gateway,
    /// In a sidecar: the peer is another mesh workload, trusted by its mTLS identity (`trust.identities`).
    Sidecar,
}
