//! Every filter configuration shipped in `envoy/` (Istio `pluginConfig`, the standalone Envoy
//! `configuration`) is loaded with the real parser and runs in the real filter, so docs cannot drift.
//!
//! Convention the manifests follow: a `pluginConfig:` is a JSON object in YAML flow style starting on
//! the same line; a standalone Envoy configuration is a `value: |` block holding JSON.
// Integration tests fail by panicking; the library-code lints do not apply here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use std::path::{Path, PathBuf};

use trueip_wasm_harness::PluginState;

#[test]
fn every_shipped_plugin_config_parses_and_starts_the_filter() {
    let dir = trueip_wasm_harness::workspace_root().join("envoy");
    let mut found = Vec::new();
    for path in yaml_files(&dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        for json in plugin_configs(&text).into_iter().chain(value_blocks(&text)) {
            found.push((path.clone(), json));
        }
    }
    assert!(
        found.len() >= 4,
        "expected the standalone config and three WasmPlugins, found {}",
        found.len()
    );
    for (path, json) in found {
        if let Err(e) = trueip::Config::from_json(&json) {
            panic!("{}: {e}\n{json}", path.display());
        }
        let p = common::plugin(&json);
        assert_eq!(
            p.state(),
            &PluginState::Running,
            "{}: {:?}",
            path.display(),
            p.logs()
        );
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The balanced `{...}` after each `pluginConfig:`.
fn plugin_configs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("pluginConfig:") {
        let after = &rest[at + "pluginConfig:".len()..];
        let start = after
            .find('{')
            .expect("pluginConfig is a flow-style JSON object");
        let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
        let mut end = start;
        for (i, c) in after[start..].char_indices() {
            match (in_str, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_str = false,
                (false, _, '"') => in_str = true,
                (false, _, '{') => depth += 1,
                (false, _, '}') => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push(after[start..end].to_owned());
        rest = &after[end..];
    }
    out
}

/// The indented block after each `value: |` line.
fn value_blocks(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_end().ends_with("value: |") {
            let indent = line.len() - line.trim_start().len();
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .copied()
                .collect();
            out.push(block.join("\n"));
        }
    }
    out
}
