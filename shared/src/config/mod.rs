//! The one JSON configuration shared by the wasm filter (Istio `pluginConfig`), the native proxy and the CLI.
//!
//! Parse, don't validate: every value becomes a typed value while the document is read, unknown fields are
//! errors, and an invalid value fails the whole load with its field path and the bad value, e.g.
//! `trust.proxies[2]: not a valid CIDR, address or preset (loopback, private, linklocal): "10.0.0.0/33"`.
//! The schema is documented in `docs/config.md`.

pub mod admin;
pub mod envoy;
mod json;
pub mod listener;
mod policy;
#[cfg(feature = "proxy-sections")]
mod proxy_sections;
mod read;
pub mod transparent;
mod values;

pub use policy::{
    AccessRules, Actions, AllTrusted, ForwardedMode, Malformed, Policy, RewriteRules, SourceSpec,
    Sources, TooFewHops, TrustRules, UntrustedHeaders, XffMode,
};
pub use values::{HeaderName, HopCount, Identity, Status};

use serde::Serialize;

use crate::trust::CidrSet;

/// A whole trueip configuration: the client-IP policy plus the settings only one consumer reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The client-IP policy (`trust`, `sources`, `actions`, `internal`, `rewrite`, `access`).
    pub policy: Policy,
    /// Filter-only settings.
    pub envoy: envoy::EnvoyConfig,
    /// Proxy-only: the listeners (always empty without the `proxy-sections` feature).
    pub listeners: Vec<listener::ListenerConfig>,
    /// Proxy-only: the admin endpoint (always `None` without the `proxy-sections` feature).
    pub admin: Option<admin::AdminConfig>,
}

/// A configuration that failed to load: where, and what was wrong with the value there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ConfigError {
    /// The field path, e.g. `trust.proxies[2]`; empty for document-level errors such as bad JSON syntax.
    pub path: String,
    /// What was wrong, with the bad value.
    pub message: String,
}

/// The bundled default configuration (`testdata/configs/default.json`), which the CLI and the proxy use when no
/// configuration is given.
pub const DEFAULT_JSON: &str = include_str!("../../../testdata/configs/default.json");

impl Config {
    /// Parses and validates a JSON configuration.
    pub fn from_json(json: &str) -> Result<Config, ConfigError> {
        read::config(json)
    }

    /// The bundled default configuration, parsed.
    pub fn default_example() -> Config {
        // The bundled file is checked by a unit test, so this cannot fail in a released build; should it ever, an
        // empty policy (trust nothing, the peer is the client) is the safe fallback.
        Config::from_json(DEFAULT_JSON).unwrap_or_else(|_| Config {
            policy: Policy::default(),
            envoy: envoy::EnvoyConfig::default(),
            listeners: Vec::new(),
            admin: None,
        })
    }

    /// Serialises the configuration back to JSON (defaults filled in), for `check-config` and debugging.
    pub fn to_json_pretty(&self) -> String {
        let raw = RawRef {
            trust: &self.policy.trust,
            sources: &self.policy.sources,
            actions: &self.policy.actions,
            internal: &self.policy.internal,
            rewrite: &self.policy.rewrite,
            access: &self.policy.access,
            envoy: &self.envoy,
            listeners: &self.listeners,
            admin: self.admin.as_ref(),
        };
        serde_json::to_string_pretty(&raw).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct RawRef<'a> {
    trust: &'a TrustRules,
    sources: &'a Sources,
    actions: &'a Actions,
    internal: &'a CidrSet,
    rewrite: &'a RewriteRules,
    access: &'a AccessRules,
    envoy: &'a envoy::EnvoyConfig,
    listeners: &'a [listener::ListenerConfig],
    #[serde(skip_serializing_if = "Option::is_none")]
    admin: Option<&'a admin::AdminConfig>,
}

#[cfg(test)]
mod tests;
