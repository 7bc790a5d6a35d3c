#!/usr/bin/env bash
# Wasm filter benchmarks: per-request cost against a minimal proxy-wasm filter, and module size.
#  1. Wasm operators per request (wasmtime fuel; deterministic, and the same whatever profile the
#     harness is built with) — filter/examples/wasm_cost.rs.
#  2. Size of the .wasm after `wasm-opt -Oz` (Debian binaryen).
# Not yet here: machine instructions per request under callgrind (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_rust_targets

cargo build --quiet --locked -p trueip-filter -p trueip-minimal-filter --target wasm32-wasip1 --profile wasm
export TRUEIP_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_filter.wasm"
export TRUEIP_MINIMAL_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_minimal_filter.wasm"

echo "== wasm operators per request (5-hop X-Forwarded-For chain)"
cargo run --quiet --locked -p trueip-filter --example wasm_cost -- 20000

ensure_debian_packages binaryen
if command -v wasm-opt >/dev/null; then
    echo "== module size"
    for m in "$TRUEIP_FILTER_WASM" "$TRUEIP_MINIMAL_FILTER_WASM"; do
        wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
            --enable-mutable-globals "$m" -o "${m%.wasm}.opt.wasm"
        printf '%-28s %8d bytes  -> wasm-opt -Oz %8d bytes\n' "$(basename "$m")" \
            "$(stat -c %s "$m")" "$(stat -c %s "${m%.wasm}.opt.wasm")"
    done
fi
