#!/usr/bin/env bash
# Wasm filter benchmarks: per-request cost against a minimal proxy-wasm filter, and module size.
#  1. Wasm operators per request (wasmtime fuel; deterministic, and the same whatever profile the
#     harness is built with) — filter/examples/wasm_cost.rs `fuel`.
#  2. Machine instructions per request under callgrind: both modules precompiled with cranelift
#     (natively, outside valgrind), then replayed N and 2N times under
#     `valgrind --tool=callgrind --toggle-collect=<Plugin::call>`; the difference divided by N is one
#     request's filter callbacks — guest code plus the hostcalls it makes, without the harness's own
#     request set-up — and the part spent in JIT code (callgrind's unnamed `???` functions) is the guest's.
#  3. Size of the .wasm after `wasm-opt -Oz` (Debian binaryen).
# The harness is built with --release here (a host closer to Envoy's optimised C++); the first run
# compiles wasmtime, which takes a few minutes on a small machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_rust_targets
ensure_debian_packages valgrind binaryen

cargo build --quiet --locked -p trueip-filter -p trueip-minimal-filter --target wasm32-wasip1 --profile wasm
export TRUEIP_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_filter.wasm"
export TRUEIP_MINIMAL_FILTER_WASM="$PWD/target/wasm32-wasip1/wasm/trueip_minimal_filter.wasm"
cargo build --quiet --locked --release -p trueip-filter --example wasm_cost
cost=target/release/examples/wasm_cost

echo "== wasm operators per request (5-hop X-Forwarded-For chain)"
"$cost" fuel 20000

echo "== machine instructions per request under callgrind (same request)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cost" precompile "$work"
n=${TRUEIP_BENCH_N:-500}
# Instructions collected inside Plugin::call for `count` requests; with --dump-instr=no the totals
# line is the sum, and `???` functions are wasmtime's JIT code (the guest).
collect() {
    local module=$1 count=$2 out="$work/cg.$1.$2"
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect='trueip_wasm_harness::plugin::Plugin::call*' \
        "$cost" replay "$work/$module.cwasm" "$count" 2>/dev/null
    local total guest
    total=$(awk '/^totals:/ {print $2}' "$out")
    guest=$(callgrind_annotate --threshold=100 "$out" 2>/dev/null |
        awk '/\[\?\?\?\]$/ {gsub(",", "", $1); s += $1} END {print s + 0}')
    echo "$total $guest"
}
declare -A per_total per_guest
for module in trueip minimal; do
    read -r t1 g1 < <(collect "$module" "$n")
    read -r t2 g2 < <(collect "$module" $((2 * n)))
    per_total[$module]=$(( (t2 - t1) / n ))
    per_guest[$module]=$(( (g2 - g1) / n ))
    printf '%-8s %8d instructions per request (%d in the guest, %d in the host)\n' "$module" \
        "${per_total[$module]}" "${per_guest[$module]}" $(( per_total[$module] - per_guest[$module] ))
done
awk -v t="${per_total[trueip]}" -v m="${per_total[minimal]}" -v tg="${per_guest[trueip]}" -v mg="${per_guest[minimal]}" \
    'BEGIN { printf "ratio    %.2fx (guest only %.2fx)\n", t / m, tg / mg }'

echo "== module size"
for m in "$TRUEIP_FILTER_WASM" "$TRUEIP_MINIMAL_FILTER_WASM"; do
    wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
        --enable-mutable-globals "$m" -o "${m%.wasm}.opt.wasm"
    printf '%-28s %8d bytes  -> wasm-opt -Oz %8d bytes\n' "$(basename "$m")" \
        "$(stat -c %s "$m")" "$(stat -c %s "${m%.wasm}.opt.wasm")"
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
