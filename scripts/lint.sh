#!/usr/bin/env bash
# Formatting and clippy, for the host and for wasm32-wasip1 (the filter's target).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_rust_targets
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p trueip -p trueip-filter -p trueip-minimal-filter --target wasm32-wasip1 --locked -- -D warnings
# The filter builds the core without its proxy-only config sections (feature `proxy-sections`).
cargo clippy -p trueip --no-default-features --target wasm32-wasip1 --locked -- -D warnings
