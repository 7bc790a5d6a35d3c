//! Settings read only by the proxy-wasm filter (`envoy` section). The filter owner extends this.
//!
//! ```json
//! "envoy": { "mode": "gateway", "xff_num_trusted_hops": 0, "filter_state": "trueip", "debug_header": "x-trueip-debug" }
//! ```

use serde::Serialize;

use crate::config::HeaderName;

/// The `envoy` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvoyConfig {
    /// Where the filter runs.
    pub mode: EnvoyMode,
    /// Gateway mode: the connection manager's `xff_num_trusted_hops` (Istio `numTrustedProxies`). When it is
    /// not 0, Envoy's `source.address` is an X-Forwarded-For entry rather than the peer, so the filter takes
    /// the peer from the entry Envoy appended instead. At most 16.
    pub xff_num_trusted_hops: u32,
    /// Filter-state name the decision is written under: `wasm.<name>` (`%FILTER_STATE(wasm.trueip:PLAIN)%`).
    pub filter_state: String,
    /// A request header that asks for the decision trace in the same-named response header. Honoured only
    /// for a trusted caller (a trusted proxy address or identity); removed before the request goes upstream.
    pub debug_header: Option<HeaderName>,
}

impl Default for EnvoyConfig {
    fn default() -> Self {
        EnvoyConfig {
            mode: EnvoyMode::default(),
            xff_num_trusted_hops: 0,
            filter_state: default_filter_state(),
            debug_header: None,
        }
    }
}

/// Where the filter runs, which decides what the peer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvoyMode {
    /// At the edge (ingress gateway): the peer is the downstream connection's address.
    #[default]
    Gateway,
    /// In a sidecar: the peer is another mesh workload, trusted by its mTLS identity (`trust.identities`).
    Sidecar,
}

/// Largest accepted `xff_num_trusted_hops`: more trusted proxies than this is a misconfiguration.
pub const MAX_XFF_NUM_TRUSTED_HOPS: u32 = 16;

fn default_filter_state() -> String {
    "trueip".to_owned()
}

/// Filter-state names are dotted identifiers (Envoy looks them up by exact string; keep them log-safe).
pub(crate) fn filter_state_name(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return Err(format!(
            "not a filter-state name (letters, digits, '_', '-', '.'; at most 64): {s:?}"
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn envoy_section_values_and_errors_carry_the_path() {
        let c = Config::from_json(
            r#"{"envoy":{"mode":"sidecar","xff_num_trusted_hops":1,"filter_state":"ip.v1","debug_header":"X-Debug"}}"#,
        )
        .unwrap();
        assert_eq!(c.envoy.mode, super::EnvoyMode::Sidecar);
        assert_eq!(
            c.envoy.debug_header.map(|h| h.as_str().to_owned()),
            Some("x-debug".to_owned())
        );
        let e = Config::from_json(r#"{"envoy":{"filter_state":"a b"}}"#).unwrap_err();
        assert_eq!(e.path, "envoy.filter_state");
        assert!(e.message.contains("\"a b\""), "{e}");
        let e = Config::from_json(r#"{"envoy":{"xff_num_trusted_hops":17}}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("envoy.xff_num_trusted_hops: more than 16 trusted hops: 17"),
            "{e}"
        );
        assert!(Config::from_json(r#"{"envoy":{"mode":"edge"}}"#).is_err());
    }
}
