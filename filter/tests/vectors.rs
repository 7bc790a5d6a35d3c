//! The shared header conformance vectors (`testdata/vectors/headers/`) through the real filter in the
//! wasmtime harness, compared with the expectations and with the core's own answer.
//!
//! What Envoy changes before the filter runs, and how it is accounted for here:
//! - Repeated `X-Forwarded-For` lines arrive coalesced into one (Envoy's inline headers), so the
//!   filter cannot see the `multiple_xff_lines` spoof signal; the decision itself must not change.
//! - With `use_remote_address: true` Envoy appends the peer to X-Forwarded-For; when the policy keeps
//!   X-Forwarded-For as it is (`rewrite.xff = "keep"`) that appended entry reaches the upstream.
//! - Coalesced headers are compared entry by entry (`a, b` and `a,b` are the same list).
//! - Envoy overwrites `x-envoy-external-address` on every request whose remote address is not
//!   internal, and since Envoy 1.33 no address is internal unless `internal_address_config` lists it.
//!   The vectors' trusted proxies are private addresses, so the gateway here lists RFC 1918, loopback
//!   and ULA as internal, as a deployment must for Envoy to pass its proxies' `x-envoy-*` headers on.
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use trueip::config::XffMode;
use trueip::config::envoy::EnvoyMode;
use trueip::vectors::{
    self, ExpectedAccess, ExpectedDecision, ExpectedReject, HeaderVector, Observed,
};
use trueip_wasm_harness::{
    Connection, ConnectionManager, Exchange, InternalAddresses, Plugin, PluginOptions, Request,
    Teardown,
};

/// Headers Envoy coalesces into one comma-joined entry (a subset of its inline headers).
const COALESCED: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "via",
    "user-agent",
];

#[test]
fn every_header_vector_through_the_real_filter() {
    let root = trueip_wasm_harness::workspace_root();
    let files = vectors::load_dir(&root.join("testdata/vectors/headers")).unwrap();
    let configs_dir = root.join("testdata/configs");
    let mut plugins: BTreeMap<String, Plugin> = BTreeMap::new();
    let (mut total, mut failures) = (0, Vec::new());
    for (path, file) in &files {
        for v in &file.vectors {
            total += 1;
            let config = v.config(&configs_dir).unwrap();
            let text = config_text(v, &configs_dir);
            let plugin = plugins.entry(text.clone()).or_insert_with(|| {
                let mut options = PluginOptions::new(text);
                options.connection_manager = ConnectionManager {
                    internal_addresses: InternalAddresses::Rfc1918,
                    ..ConnectionManager::GATEWAY
                };
                common::plugin_with(options)
            });
            let ex = plugin.handle(&request(v));
            let observed = observe(&ex, v, config.policy.rewrite.xff == XffMode::Keep);
            let (core, expect) = match unknown_sidecar_peer(v, &config) {
                // Envoy hides an untrusted sidecar caller's address (source.address comes from its
                // X-Forwarded-For); the filter reports the unspecified address instead, so the
                // expectation is the core's answer for that peer.
                Some(unknown) => {
                    let core = unknown.run_core(&config);
                    let expect = expected_from(&core);
                    (core, expect)
                }
                None => (v.run_core(&config), envoy_view(v)),
            };
            let mut problems: Vec<String> = vectors::compare(&v.headers, &expect, &observed)
                .iter()
                .map(ToString::to_string)
                .collect();
            if !same_outcome(&core, &observed, v) {
                problems.push(format!(
                    "core {:?} but filter {:?}",
                    core.outcome, observed.outcome
                ));
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{}: {}: {}",
                    file_name(path),
                    v.name,
                    problems.join("; ")
                ));
            }
        }
    }
    assert!(total > 100, "only {total} vectors found");
    assert!(
        failures.is_empty(),
        "{} of {total} vectors disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn config_text(v: &HeaderVector, dir: &Path) -> String {
    match &v.config {
        vectors::ConfigRef::File(name) => std::fs::read_to_string(dir.join(name)).unwrap(),
        vectors::ConfigRef::Inline(value) => value.to_string(),
    }
}

fn request(v: &HeaderVector) -> Request {
    let local = common::sa("10.0.0.100:8080");
    let connection = match &v.peer_identity {
        Some(id) => Connection::mtls(v.peer, local, id),
        None => Connection::plain(v.peer, local),
    };
    let mut req = Request::get(
        connection,
        &v.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    // The vector's own `Host` (if any) becomes `:authority`; otherwise the default one stays.
    if has_host(v) {
        req.headers.retain(|(n, _)| n.as_slice() != b":authority");
    }
    req.teardown = Teardown::LogThenDone;
    req
}

/// What the filter did, in the vectors' terms: the decision from filter state, the rejection or denial
/// from the local reply, the upstream headers normalised for Envoy's coalescing.
fn observe(ex: &Exchange, v: &HeaderVector, xff_kept: bool) -> Observed {
    let fields: BTreeMap<String, String> = common::state(ex).into_iter().collect();
    if let Some(kind) = fields.get("rejected") {
        return Observed {
            outcome: Err(ExpectedReject {
                kind: kind.clone(),
                status: common::status(ex),
            }),
            access: None,
            upstream: None,
        };
    }
    let spoof: Vec<String> = fields
        .get("spoof")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let decision = ExpectedDecision {
        client: fields
            .get("client")
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{}: no client in {fields:?}", v.name)),
        port: fields.get("port").and_then(|p| p.parse().ok()),
        source: fields.get("source").cloned().unwrap_or_default(),
        hop: fields
            .get("hop")
            .and_then(|h| h.parse().ok())
            .unwrap_or(u16::MAX),
        internal: fields.contains_key("internal"),
        spoof,
        fallback: fields.get("fallback").cloned(),
    };
    let access = match fields.get("denied") {
        Some(_) => ExpectedAccess::Deny {
            status: common::status(ex),
        },
        None => ExpectedAccess::Allow,
    };
    let upstream = ex.upstream_request.as_ref().map(|h| {
        let mut lines: Vec<(String, String)> = h
            .entries()
            .iter()
            .filter_map(|(n, value)| {
                // Envoy stores `host` as `:authority`; the upstream HTTP/1 codec writes it back as Host.
                let name = match n.as_slice() {
                    b":authority" if has_host(v) => "host".to_owned(),
                    n if n.starts_with(b":") => return None,
                    n => String::from_utf8_lossy(n).into_owned(),
                };
                Some((name, String::from_utf8_lossy(value).into_owned()))
            })
            .collect();
        if xff_kept {
            drop_envoy_append(&mut lines, v.peer.ip().to_string());
        }
        drop_envoy_external_address(&mut lines, ex);
        lines
    });
    Observed {
        outcome: Ok(decision),
        access: Some(access),
        upstream: upstream.map(|u| coalesce(&u)),
    }
}

/// Envoy appended the peer to X-Forwarded-For before the filter ran; with `xff: keep` it stays.
fn drop_envoy_append(lines: &mut Vec<(String, String)>, peer: String) {
    let Some(i) = lines.iter().position(|(n, _)| n == "x-forwarded-for") else {
        return;
    };
    let value = lines[i].1.clone();
    match value.rsplit_once(',') {
        Some((head, last)) if last.trim() == peer => lines[i].1 = head.to_owned(),
        None if value.trim() == peer => {
            lines.remove(i);
        }
        _ => {}
    }
}

/// On an external request Envoy set `x-envoy-external-address` to `source.address` (overwriting any
/// the client sent), and the filter passes Envoy's own header on; the vectors, written for any proxy,
/// expect the client's copy stripped. A value other than `source.address` is not Envoy's and is
/// compared as usual.
fn drop_envoy_external_address(lines: &mut Vec<(String, String)>, ex: &Exchange) {
    let envoys = ex.source_address.ip().to_string();
    lines.retain(|(n, value)| !(n == "x-envoy-external-address" && *value == envoys));
}

/// The vector's expectation as Envoy can meet it: coalesced headers as one comma-joined line, and no
/// `multiple_xff_lines` signal when the request repeated X-Forwarded-For (Envoy's coalescing hides it).
fn envoy_view(v: &HeaderVector) -> vectors::Expected {
    let mut expect = v.expect.clone();
    if let Some(d) = &mut expect.decision {
        if repeated_xff(v) {
            d.spoof.retain(|s| s != "multiple_xff_lines");
        }
    }
    expect.upstream = expect.upstream.map(|u| coalesce(&u));
    expect
}

/// For a sidecar-mode vector whose caller identity is not trusted: the same vector with the peer
/// unknown (`0.0.0.0:0`), as the filter must treat it behind Envoy.
fn unknown_sidecar_peer(v: &HeaderVector, config: &trueip::Config) -> Option<HeaderVector> {
    if config.envoy.mode != EnvoyMode::Sidecar {
        return None;
    }
    let trusted = v.peer_identity.as_deref().is_some_and(|id| {
        config
            .policy
            .trust
            .identities
            .iter()
            .any(|t| t.as_str() == id)
    });
    if trusted {
        return None;
    }
    let mut unknown = v.clone();
    unknown.peer = common::sa(if v.peer.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    });
    Some(unknown)
}

/// An expectation built from an observed core outcome.
fn expected_from(core: &Observed) -> vectors::Expected {
    vectors::Expected {
        decision: core.outcome.clone().ok(),
        reject: core.outcome.clone().err(),
        access: core.access.clone(),
        upstream: core.upstream.as_ref().map(|u| coalesce(u)),
    }
}

fn has_host(v: &HeaderVector) -> bool {
    v.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
}

fn repeated_xff(v: &HeaderVector) -> bool {
    v.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .count()
        > 1
}

fn coalesce(lines: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in lines {
        let lower = n.to_ascii_lowercase();
        if COALESCED.contains(&lower.as_str()) {
            let entries = v.split(',').map(str::trim).collect::<Vec<_>>().join(", ");
            if let Some((_, existing)) = out.iter_mut().find(|(k, _)| *k == lower) {
                existing.push_str(", ");
                existing.push_str(&entries);
                continue;
            }
            out.push((lower, entries));
        } else {
            out.push((lower, v.clone()));
        }
    }
    out
}

/// The filter and the core must decide the same; upstream shapes are checked against the vector.
fn same_outcome(core: &Observed, filter: &Observed, v: &HeaderVector) -> bool {
    let strip = |o: &Observed| -> Result<
        (
            String,
            Option<u16>,
            String,
            u16,
            bool,
            BTreeSet<String>,
            Option<String>,
        ),
        (String, u16),
    > {
        match &o.outcome {
            Ok(d) => {
                let mut spoof: BTreeSet<String> = d.spoof.iter().cloned().collect();
                if repeated_xff(v) {
                    spoof.remove("multiple_xff_lines");
                }
                Ok((
                    d.client.to_string(),
                    d.port,
                    d.source.clone(),
                    d.hop,
                    d.internal,
                    spoof,
                    d.fallback.clone(),
                ))
            }
            Err(r) => Err((r.kind.clone(), r.status)),
        }
    };
    strip(core) == strip(filter) && core.access == filter.access
}
