#!/usr/bin/env bash
# Reproduces the shared crate's figures in BENCHMARKS.md ("PROXY protocol codec" and
# "Client-IP resolution") in about five minutes.
#
#   scripts/bench-core.sh          # instruction counts, then criterion wall clock
#   scripts/bench-core.sh ir       # instruction counts only (valgrind; deterministic)
#   scripts/bench-core.sh wall     # criterion only (prints the load average before and after)
#
# Instruction counts are per call: 100 000 calls of the example loop minus the empty loop, so
# they do not depend on machine load. Wall-clock figures do: compare trueip with the peer (ppp,
# or std's IPv4 parser for resolution) measured in the same run, and note the load average.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
step() { printf '\n==> %s\n' "$*"; }

instructions() {
    command -v valgrind >/dev/null || { echo "valgrind is needed for instruction counts" >&2; exit 69; }
    cargo build --release -q -p trueip --example resolve_loop --example proxy_decode_loop
    ir() {
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 |
            awk '/I *refs/ {gsub(",","",$NF); print $NF}'
    }
    step "client-IP resolution: instructions per call"
    local base
    base=$(ir target/release/examples/resolve_loop none)
    for c in std-parse xff-1 xff-5 xff-20 forwarded-5 hops-5 untrusted; do
        echo "$c $(( ($(ir target/release/examples/resolve_loop "$c") - base) / 100000 ))"
    done
    step "PROXY protocol decode: instructions per call"
    for input in v2-ipv4 v2-ipv6 v2-tlvs v1; do
        base=$(ir target/release/examples/proxy_decode_loop none "$input")
        for p in trueip trueip-raw-tlvs ppp proxy-header; do
            echo "$input $p $(( ($(ir target/release/examples/proxy_decode_loop "$p" "$input") - base) / 100000 ))"
        done
    done
}

wall() {
    step "criterion, $(uptime | sed 's/.*load/load/')"
    # Criterion prints the case name and its time on one line, or on two when the name is long;
    # print the name and the point estimate either way.
    local estimate='$1 == "time:" {print name, $4, $5; next} /time:/ {print $1, $5, $6; next} {name = $1}'
    cargo bench -q -p trueip --bench resolve -- --warm-up-time 1 --measurement-time 3 \
        'xff-3-cidrs|std-parse' 2>&1 | grep -E -B1 'time:' | awk "$estimate"
    cargo bench -q -p trueip --bench proxy_protocol -- --warm-up-time 1 --measurement-time 2 \
        'proxy_v2_ipv|proxy_v2_tlvs_raw' 2>&1 | grep -E -B1 'time:' | awk "$estimate"
    step "done, $(uptime | sed 's/.*load/load/')"
}

case "$what" in
    ir) instructions ;;
    wall) wall ;;
    all) instructions; wall ;;
    *) echo "usage: $0 [all|ir|wall]" >&2; exit 64 ;;
esac
