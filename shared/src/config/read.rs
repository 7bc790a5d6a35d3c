//! The document tree ([`super::json`]) read into typed sections: the one reader of the shared sections in every
//! runtime (filter, proxy, CLI), so they cannot disagree on what a configuration means.
//!
//! Each reader takes the node of its section, refuses unknown and repeated keys, fills in the documented defaults
//! for absent fields, and turns each value into its typed form through the same constructors the rest of the crate
//! uses (`CidrSpec::from_str`, `HeaderName::new`, `Status::new`, ...), so a message names the field path and the bad
//! value. `null` stands for "absent" only where the field is optional (`trust.hops`, `internal`,
//! `rewrite.client_header`, `envoy.debug_header`, `admin`).

use std::str::FromStr;

use super::envoy::{EnvoyConfig, EnvoyMode, MAX_XFF_NUM_TRUSTED_HOPS};
use super::json::{Json, Node};
use super::policy::{
    AccessRules, Actions, AllTrusted, ForwardedMode, Malformed, Policy, RewriteRules, SourceSpec,
    Sources, TooFewHops, TrustRules, UntrustedHeaders, XffMode,
};
use super::values::{HeaderName, HopCount, Identity, Status};
use super::{Config, ConfigError};
use crate::trust::{CidrSet, CidrSpec};

/// Reads a whole configuration document.
pub(crate) fn config(text: &str) -> Result<Config, ConfigError> {
    let json = Json::parse(text)?;
    let root = Node::root(&json);
    let doc = root.object(&[
        "trust",
        "sources",
        "actions",
        "internal",
        "rewrite",
        "access",
        "envoy",
        "listeners",
        "admin",
    ])?;
    let defaults = Policy::default();
    let policy = Policy {
        trust: section(doc.get("trust"), trust)?,
        sources: section(doc.get("sources"), sources)?,
        actions: section(doc.get("actions"), actions)?,
        internal: match doc.get_some("internal") {
            Some(n) => cidr_set(&n)?,
            None => defaults.internal,
        },
        rewrite: section(doc.get("rewrite"), rewrite)?,
        access: section(doc.get("access"), access)?,
    };
    let envoy = section(doc.get("envoy"), envoy)?;
    #[cfg(feature = "proxy-sections")]
    let (listeners, admin) = (
        match doc.get("listeners") {
            Some(n) => super::proxy_sections::listeners(&n)?,
            None => Vec::new(),
        },
        match doc.get_some("admin") {
            Some(n) => Some(super::proxy_sections::admin(&n)?),
            None => None,
        },
    );
    // Without the feature (the wasm filter) the proxy-only sections are accepted but not read: the filter never
    // uses them, and reading them would link their whole deserialisation.
    #[cfg(not(feature = "proxy-sections"))]
    let (listeners, admin) = (Vec::new(), None);
    Ok(Config {
        policy,
        envoy,
        listeners,
        admin,
    })
}

/// A section read by `read`, or its defaults when absent.
fn section<T: Default>(
    node: Option<Node<'_>>,
    read: impl FnOnce(&Node<'_>) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    match node {
        Some(n) => read(&n),
        None => Ok(T::default()),
    }
}

/// A field read by `read`, or `default` when absent.
fn field<T>(
    node: Option<Node<'_>>,
    read: impl FnOnce(&Node<'_>) -> Result<T, ConfigError>,
    default: impl FnOnce() -> T,
) -> Result<T, ConfigError> {
    match node {
        Some(n) => read(&n),
        None => Ok(default()),
    }
}

fn trust(node: &Node<'_>) -> Result<TrustRules, ConfigError> {
    let o = node.object(&["proxies", "hops", "identities"])?;
    Ok(TrustRules {
        proxies: field(o.get("proxies"), cidr_set, CidrSet::default)?,
        hops: match o.get_some("hops") {
            Some(n) => Some(HopCount::new(n.uint("a hop count")?).map_err(|m| n.error(m))?),
            None => None,
        },
        identities: match o.get("identities") {
            Some(n) => {
                let mut list = Vec::new();
                for item in n.array()? {
                    list.push(Identity::new(item.str()?).map_err(|m| item.error(m))?);
                }
                list
            }
            None => Vec::new(),
        },
    })
}

fn sources(node: &Node<'_>) -> Result<Sources, ConfigError> {
    let mut list = Vec::new();
    for n in node
        .array()
        .map_err(|_| node.invalid_type("a list of sources"))?
    {
        list.push(source(&n)?);
    }
    Sources::new(list).map_err(|m| node.error(m))
}

fn source(node: &Node<'_>) -> Result<SourceSpec, ConfigError> {
    const EXPECTED: &str = r#""x-forwarded-for", "forwarded" or {"header": "<name>"}"#;
    match node.json() {
        Json::Str(s) => match s.as_str() {
            "x-forwarded-for" => Ok(SourceSpec::XForwardedFor),
            "forwarded" => Ok(SourceSpec::Forwarded),
            other => Err(node.error(format!("not a source (expected {EXPECTED}): {other:?}"))),
        },
        Json::Object(members) => {
            // `{"header": name}` is one source, not a section: a wrong key is reported at the entry.
            if let Some((key, _)) = members.iter().find(|(k, _)| k != "header") {
                return Err(node.error(format!("unknown field `{key}`, expected `header`")));
            }
            if members.len() > 1 {
                return Err(node.error("duplicate field `header`"));
            }
            let o = node.object(&["header"])?;
            let Some(header) = o.get("header") else {
                return Err(node.error("missing field `header`"));
            };
            let name = header_name(&header)?;
            // The two list headers have their own parsers; reading them as one address would be wrong.
            if matches!(name.as_str(), "x-forwarded-for" | "forwarded") {
                return Err(node.error(format!(
                    "{name:?} is a list header: use the string source \"{name}\" instead"
                )));
            }
            Ok(SourceSpec::Header(name))
        }
        _ => Err(node.invalid_type(EXPECTED)),
    }
}

fn actions(node: &Node<'_>) -> Result<Actions, ConfigError> {
    let o = node.object(&[
        "untrusted_headers",
        "malformed",
        "all_trusted",
        "too_few_hops",
        "reject_status",
    ])?;
    let d = Actions::default();
    Ok(Actions {
        untrusted_headers: field(
            o.get("untrusted_headers"),
            |n| {
                Ok(match n.variant(&["strip", "keep", "reject"])? {
                    0 => UntrustedHeaders::Strip,
                    1 => UntrustedHeaders::Keep,
                    _ => UntrustedHeaders::Reject,
                })
            },
            || d.untrusted_headers,
        )?,
        malformed: field(
            o.get("malformed"),
            |n| {
                Ok(match n.variant(&["reject", "peer"])? {
                    0 => Malformed::Reject,
                    _ => Malformed::Peer,
                })
            },
            || d.malformed,
        )?,
        all_trusted: field(
            o.get("all_trusted"),
            |n| {
                Ok(match n.variant(&["peer", "leftmost", "reject"])? {
                    0 => AllTrusted::Peer,
                    1 => AllTrusted::Leftmost,
                    _ => AllTrusted::Reject,
                })
            },
            || d.all_trusted,
        )?,
        too_few_hops: field(
            o.get("too_few_hops"),
            |n| {
                Ok(match n.variant(&["peer", "reject"])? {
                    0 => TooFewHops::Peer,
                    _ => TooFewHops::Reject,
                })
            },
            || d.too_few_hops,
        )?,
        reject_status: field(o.get("reject_status"), status, || d.reject_status)?,
    })
}

fn rewrite(node: &Node<'_>) -> Result<RewriteRules, ConfigError> {
    let o = node.object(&["client_header", "xff", "forwarded", "strip_spoofable"])?;
    let d = RewriteRules::default();
    Ok(RewriteRules {
        client_header: match o.get_some("client_header") {
            Some(n) => Some(header_name(&n)?),
            None => None,
        },
        xff: field(
            o.get("xff"),
            |n| {
                Ok(
                    match n.variant(&["append", "keep", "canonical", "remove"])? {
                        0 => XffMode::Append,
                        1 => XffMode::Keep,
                        2 => XffMode::Canonical,
                        _ => XffMode::Remove,
                    },
                )
            },
            || d.xff,
        )?,
        forwarded: field(
            o.get("forwarded"),
            |n| {
                Ok(match n.variant(&["none", "append", "canonical"])? {
                    0 => ForwardedMode::None,
                    1 => ForwardedMode::Append,
                    _ => ForwardedMode::Canonical,
                })
            },
            || d.forwarded,
        )?,
        strip_spoofable: field(o.get("strip_spoofable"), |n| n.bool(), || d.strip_spoofable)?,
    })
}

fn access(node: &Node<'_>) -> Result<AccessRules, ConfigError> {
    let o = node.object(&["allow", "deny", "status", "body"])?;
    let d = AccessRules::default();
    Ok(AccessRules {
        allow: field(o.get("allow"), cidr_set, CidrSet::default)?,
        deny: field(o.get("deny"), cidr_set, CidrSet::default)?,
        status: field(o.get("status"), status, || d.status)?,
        body: match o.get("body") {
            Some(n) => n.str()?.to_owned(),
            None => d.body,
        },
    })
}

fn envoy(node: &Node<'_>) -> Result<EnvoyConfig, ConfigError> {
    let o = node.object(&[
        "mode",
        "xff_num_trusted_hops",
        "filter_state",
        "debug_header",
    ])?;
    let d = EnvoyConfig::default();
    Ok(EnvoyConfig {
        mode: field(
            o.get("mode"),
            |n| {
                Ok(match n.variant(&["gateway", "sidecar"])? {
                    0 => EnvoyMode::Gateway,
                    _ => EnvoyMode::Sidecar,
                })
            },
            || d.mode,
        )?,
        xff_num_trusted_hops: field(
            o.get("xff_num_trusted_hops"),
            |n| {
                let hops = n.uint("a hop count")?;
                u32::try_from(hops)
                    .ok()
                    .filter(|h| *h <= MAX_XFF_NUM_TRUSTED_HOPS)
                    .ok_or_else(|| {
                        n.error(format!(
                            "more than {MAX_XFF_NUM_TRUSTED_HOPS} trusted hops: {hops}"
                        ))
                    })
            },
            || d.xff_num_trusted_hops,
        )?,
        filter_state: match o.get("filter_state") {
            Some(n) => super::envoy::filter_state_name(n.str()?).map_err(|m| n.error(m))?,
            None => d.filter_state,
        },
        debug_header: match o.get_some("debug_header") {
            Some(n) => Some(header_name(&n)?),
            None => None,
        },
    })
}

fn cidr_set(node: &Node<'_>) -> Result<CidrSet, ConfigError> {
    let mut specs = Vec::new();
    for n in node.array()? {
        specs.push(CidrSpec::from_str(n.str()?).map_err(|e| n.error(e.to_string()))?);
    }
    Ok(CidrSet::new(specs))
}

fn header_name(node: &Node<'_>) -> Result<HeaderName, ConfigError> {
    HeaderName::new(node.str()?).map_err(|m| node.error(m))
}

fn status(node: &Node<'_>) -> Result<Status, ConfigError> {
    let code = node.uint("an error status (400 to 599)")?;
    u16::try_from(code)
        .map_err(|_| format!("not an error status (400 to 599): {code}"))
        .and_then(Status::new)
        .map_err(|m| node.error(m))
}
