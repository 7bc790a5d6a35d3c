//! `filter/scenarios/*.json` on the wasmtime harness. `filter/v8/host.mjs` replays the same files on V8
//! (Istio's engine) and asserts the same expectations, so the two engines must agree.
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use serde::Deserialize;
use trueip_wasm_harness::{
    Connection, ConnectionManager, InternalAddresses, PluginOptions, Request,
};

#[derive(Deserialize)]
struct File {
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Scenario {
    name: String,
    config: serde_json::Value,
    connection_manager: String,
    /// Envoy's `internal_address_config`: absent = unset (Envoy 1.33 and later), or `"rfc1918"`.
    #[serde(default)]
    internal_address_config: Option<String>,
    peer: String,
    #[serde(default)]
    identity: Option<String>,
    headers: Vec<(String, String)>,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    status: u16,
    #[serde(default)]
    body: Option<String>,
    filter_state: Option<String>,
    upstream: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Scenario strings write raw bytes as `\xNN`.
fn raw(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("\\x") {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        out.push(u8::from_str_radix(&rest[at + 2..at + 4], 16).unwrap());
        rest = &rest[at + 4..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

#[test]
fn scenarios_on_wasmtime() {
    let dir = trueip_wasm_harness::workspace_root().join("filter/scenarios");
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file: File = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for sc in file.scenarios {
            count += 1;
            let mut options = PluginOptions::new(sc.config.to_string());
            options.connection_manager = match sc.connection_manager.as_str() {
                "sidecar" => ConnectionManager::SIDECAR,
                _ => ConnectionManager::GATEWAY,
            };
            options.connection_manager.internal_addresses =
                match sc.internal_address_config.as_deref() {
                    None => InternalAddresses::Unset,
                    Some("rfc1918") => InternalAddresses::Rfc1918,
                    Some(other) => panic!("{}: unknown internal_address_config {other}", sc.name),
                };
            let mut plugin = common::plugin_with(options);
            let (peer, local) = (common::sa(&sc.peer), common::sa("10.0.0.100:8080"));
            let c = match &sc.identity {
                Some(id) => Connection::mtls(peer, local, id),
                None => Connection::plain(peer, local),
            };
            let headers: Vec<(Vec<u8>, Vec<u8>)> =
                sc.headers.iter().map(|(k, v)| (raw(k), raw(v))).collect();
            let ex = plugin.handle(&Request::get(c, &headers));
            let mut problems = Vec::new();
            if common::status(&ex) != sc.expect.status {
                problems.push(format!("status {}", common::status(&ex)));
            }
            let state = ex
                .filter_state
                .get("wasm.trueip")
                .map(|v| String::from_utf8_lossy(v).into_owned());
            if state != sc.expect.filter_state {
                problems.push(format!("filter state {state:?}"));
            }
            if let Some(body) = &sc.expect.body {
                let got = ex
                    .response
                    .as_ref()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned());
                if got.as_deref() != Some(body.as_str()) {
                    problems.push(format!("body {got:?}"));
                }
            }
            match (&sc.expect.upstream, &ex.upstream_request) {
                (None, Some(_)) => problems.push("forwarded upstream".to_owned()),
                (Some(_), None) => problems.push("not forwarded".to_owned()),
                (Some(expected), Some(_)) => {
                    for (name, value) in expected {
                        let got = common::upstream(&ex, name);
                        if got.as_deref() != value.as_str() {
                            problems.push(format!("upstream {name}: {got:?}"));
                        }
                    }
                }
                (None, None) => {}
            }
            if !problems.is_empty() {
                failures.push(format!("{}: {}", sc.name, problems.join("; ")));
            }
        }
    }
    assert!(count > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
