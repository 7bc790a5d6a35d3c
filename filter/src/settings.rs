//! The filter's configuration, parsed once per `on_configure` from the plugin configuration (the same
//! JSON document as the native proxy and the CLI) and shared by every stream through an `Rc`.

use trueip::config::envoy::{EnvoyConfig, EnvoyMode};
use trueip::{Config, ConfigError, Resolver};

/// Everything a stream needs, built once.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The resolver for the configured policy.
    pub(crate) resolver: Resolver,
    /// Sidecar mode only: the same policy with no trusted addresses, used when the caller's identity
    /// is not trusted, so a spoofable `source.address` can never make a caller trusted.
    pub(crate) untrusted: Option<Resolver>,
    /// The `envoy` section.
    pub(crate) envoy: EnvoyConfig,
}

/// Why the plugin configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SettingsError {
    /// Not valid UTF-8.
    #[error("plugin configuration is not UTF-8 text")]
    NotUtf8,
    /// Refused by the shared parser (carries the field path and the bad value).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Sidecar mode without trusted identities would trust nobody's headers, or (worse, with
    /// `trust.hops` alone) everybody's.
    #[error(
        "envoy.mode: \"sidecar\" trusts callers by mTLS identity, but trust.identities is empty"
    )]
    SidecarWithoutIdentities,
}

impl Settings {
    /// Parses the plugin configuration. An empty configuration means the bundled default policy.
    pub(crate) fn parse(raw: &[u8]) -> Result<Settings, SettingsError> {
        let text = std::str::from_utf8(raw).map_err(|_| SettingsError::NotUtf8)?;
        let config = if text.trim().is_empty() {
            Config::from_json("{}")?
        } else {
            Config::from_json(text)?
        };
        let untrusted = match config.envoy.mode {
            EnvoyMode::Gateway => None,
            EnvoyMode::Sidecar => {
                if config.policy.trust.identities.is_empty() {
                    return Err(SettingsError::SidecarWithoutIdentities);
                }
                let mut policy = config.policy.clone();
                policy.trust.proxies = Default::default();
                Some(Resolver::new(&policy))
            }
        };
        Ok(Settings {
            resolver: Resolver::new(&config.policy),
            untrusted,
            envoy: config.envoy,
        })
    }
}
