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

# Includes the TPROXY proofs (native-proxy/tests/transparent_netns.rs): they create and delete their own network
# namespaces, need root, and fail with a message rather than skip when they cannot run.
step "workspace tests (core, vectors, CLI, proxy over loopback and in namespaces, filter on the wasmtime harness)"
cargo test --workspace --all-targets --locked

step "core without its proxy-only config sections, as the wasm filter links it (feature proxy-sections off)"
cargo test --locked -p trueip --no-default-features

step "wasm filter on V8: the Node host's memory cap and CPU bound, then filter/scenarios through Node's WebAssembly (Istio's engine)"
node filter/v8/host.mjs --self-test
node filter/v8/host.mjs "$TRUEIP_FILTER_WASM" filter/scenarios/*.json
