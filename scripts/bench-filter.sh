#!/usr/bin/env bash
# Wasm filter benchmarks: per-request cost against a minimal proxy-wasm filter, and module size.
#  1. Wasm operators per request (wasmtime fuel; deterministic) — filter/examples/wasm_cost.rs.
#  2. Machine instructions per request with callgrind: the same example under valgrind at two request
#     counts; the difference divided by the extra requests removes compile and start-up costs.
#  3. Size of the .wasm after `wasm-opt -Oz` (Debian binaryen).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_rust_targets

cargo build --quiet --locked -p trueip-filter -p trueip-minimal-filter --target wasm32-wasip1 --profile wasm
export TRUEIP_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_filter.wasm"
export TRUEIP_MINIMAL_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_minimal_filter.wasm"

echo "== wasm operators per request (5-hop X-Forwarded-For chain)"
cargo run --quiet --release --locked -p trueip-filter --example wasm_cost -- 20000

if command -v valgrind >/dev/null; then
    echo "== callgrind: machine instructions per request (host + guest)"
    bin=$(ls -t target/release/examples/wasm_cost 2>/dev/null | head -1)
    count() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" 2>&1 \
            | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    lo=$(count 200); hi=$(count 1200)
    echo "both filters, 1000 extra requests each: $(( (hi - lo) / 2000 )) instructions per request on average"
fi

if command -v wasm-opt >/dev/null; then
    echo "== module size"
    for m in "$TRUEIP_FILTER_WASM" "$TRUEIP_MINIMAL_FILTER_WASM"; do
        wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
            --enable-mutable-globals "$m" -o "${m%.wasm}.opt.wasm"
        printf '%-28s %8d bytes  -> wasm-opt -Oz %8d bytes\n' "$(basename "$m")" \
            "$(stat -c %s "$m")" "$(stat -c %s "${m%.wasm}.opt.wasm")"
    done
fi
