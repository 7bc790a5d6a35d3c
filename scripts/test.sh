#!/usr/bin/env bash
# Runs every trueip test on this machine, installing what the tests need first.
# This is the README's second command and what CI runs; keep it the single entry point.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
ensure_rust_targets
ensure_debian_packages

step "wasm filter: build trueip-filter and the benchmark baseline for wasm32-wasip1 (wasm profile)"
cargo build --locked -p trueip-filter -p trueip-minimal-filter --target wasm32-wasip1 --profile wasm
# The harness tests load these instead of building their own copy (see filter/harness/src/module_file.rs).
export TRUEIP_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_filter.wasm"
export TRUEIP_MINIMAL_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_minimal_filter.wasm"

step "workspace tests (core, vectors, CLI, proxy over loopback, filter on the wasmtime harness)"
cargo test --workspace --all-targets --locked

step "transparent proxy in network namespaces (TPROXY, nftables and iptables; needs root)"
# Already part of the workspace run above; run again on its own so a failure is named plainly.
# These tests create and delete their own namespaces and must not be skipped: not being root is
# a failure with a message, in CI and locally.
cargo test -p trueip-proxy --test transparent_netns --locked

step "wasm filter on V8: replay filter/scenarios through Node's WebAssembly (Istio's engine)"
node filter/v8/host.mjs "$TRUEIP_FILTER_WASM" filter/scenarios/*.json
