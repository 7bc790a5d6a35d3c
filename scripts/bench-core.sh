#!/usr/bin/env bash
# Reproduces the shared crate's figures in BENCHMARKS.md ("PROXY protocol codec" and
# "Client-IP resolution") in about five minutes.
#
#   scripts/bench-core.sh          # instruction counts, then criterion wall clock
#   scripts/bench-core.sh ir       # instruction counts only (valgrind; deterministic)
#   scripts/bench-core.sh wall     # criterion only (prints the load average before and after)
#   scripts/bench-core.sh spread [K]   # the key cases in K separate processes (default 9): median, min, max
#
# Instruction counts are per call: 100 000 calls of the example loop minus the empty loop, so
# they do not depend on machine load. Wall-clock figures do: compare trueip with the peer (ppp,
# or std's IPv4 parser for resolution) measured in the same run, and note the load average.
#
# Why `spread`: on this kind of VM the time of one case moves by up to 50% between processes of the same
# binary and, within one process, between stretches of tens of milliseconds (both peers at once), so one
# criterion run decides nothing near a target. `spread` runs the v2 IPv4/IPv6/TLV cases against ppp and the
# 5-hop XFF case in K short processes (about 15 s each, so about 2.5 minutes for the default 9), prints each
# process's figures, then per case the median, minimum and maximum across processes of the trueip/ppp ratio
# (or of the time). The verdict is the median; min and max show how far one run can stray.
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
    for c in std-parse xff-1 xff-5 xff-20 xff6-5 forwarded-5 hops-5 untrusted; do
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
        'xff-3-cidrs|xff-ipv6|std-parse' 2>&1 | grep -E -B1 'time:' | awk "$estimate"
    cargo bench -q -p trueip --bench proxy_protocol -- --warm-up-time 1 --measurement-time 2 \
        'proxy_v2_ipv|proxy_v2_tlvs_raw' 2>&1 | grep -E -B1 'time:' | awk "$estimate"
    step "done, $(uptime | sed 's/.*load/load/')"
}

# The bench executables, built once (so the K processes run the same binaries).
bench_executable() {
    cargo bench -q -p trueip --bench "$1" --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4
}

spread() {
    local rounds="${1:-9}"
    [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "spread: K must be a positive count, got $rounds" >&2; exit 64; }
    local proxy resolve raw
    proxy=$(bench_executable proxy_protocol)
    resolve=$(bench_executable resolve)
    [[ -x "$proxy" && -x "$resolve" ]] || { echo "spread: could not build the bench executables" >&2; exit 70; }
    raw=$(mktemp)
    trap 'rm -f "$raw"' RETURN
    # Point estimates in ns, one line per process and case: "<round> <case> <ns>".
    local to_ns='$1 == "time:" {v = $4; u = $5} $1 != "time:" && /time:/ {name = $1; v = $5; u = $6}
        /time:/ {if (u == "ps") v /= 1000; if (u == "µs" || u == "us") v *= 1000; if (u == "ms") v *= 1e6;
                 print round, name, v; next} {name = $1}'
    step "criterion in $rounds processes each, $(uptime | sed 's/.*load/load/')"
    for ((r = 1; r <= rounds; r++)); do
        "$proxy" --bench --warm-up-time 0.5 --measurement-time 1 \
            'proxy_v2_(ipv4|ipv6|tlvs_raw)/(trueip|ppp)$' 2>&1 | grep -E -B1 'time:' |
            awk -v round="$r" "$to_ns" >>"$raw"
        "$resolve" --bench --warm-up-time 0.5 --measurement-time 1 \
            'resolve/xff-3-cidrs/5-hop$|baseline/std-parse-ipv4$' 2>&1 | grep -E -B1 'time:' |
            awk -v round="$r" "$to_ns" >>"$raw"
        awk -v round="$r" -v load="$(uptime | sed 's/.*load average: //')" '$1 == round {t[$2] = $3}
            END {
                printf "process %d: v2 IPv4 %.2f, IPv6 %.2f, TLVs %.2f of ppp; 5-hop XFF %.1f ns (load %s)\n", round,
                    t["proxy_v2_ipv4/trueip"] / t["proxy_v2_ipv4/ppp"], t["proxy_v2_ipv6/trueip"] / t["proxy_v2_ipv6/ppp"],
                    t["proxy_v2_tlvs_raw/trueip"] / t["proxy_v2_tlvs_raw/ppp"], t["resolve/xff-3-cidrs/5-hop"], load
            }' "$raw"
    done
    step "across $rounds processes: median [min, max]"
    # Per round, the ratio trueip/ppp of each v2 case and the 5-hop time; then order statistics per case.
    awk '{t[$1 " " $2] = $3; rounds[$1] = 1}
        END {
            for (r in rounds) {
                split("proxy_v2_ipv4 proxy_v2_ipv6 proxy_v2_tlvs_raw", v2, " ")
                for (i in v2) {
                    a = t[r " " v2[i] "/trueip"]; b = t[r " " v2[i] "/ppp"]
                    if (a > 0 && b > 0) printf "%s/trueip:ppp %.3f\n", v2[i], a / b
                }
                x = t[r " resolve/xff-3-cidrs/5-hop"]
                if (x > 0) printf "resolve/xff-3-cidrs/5-hop(ns) %.1f\n", x
                y = t[r " baseline/std-parse-ipv4"]
                if (x > 0 && y > 0) printf "resolve/5-hop:std-parse-ipv4 %.2f\n", x / y
            }
        }' "$raw" | sort -k1,1 -k2,2g |
        awk '{v[$1, ++n[$1]] = $2}
            END {
                for (c in n) {
                    k = n[c]; m = (k % 2) ? v[c, (k + 1) / 2] : (v[c, k / 2] + v[c, k / 2 + 1]) / 2
                    printf "%-34s %8.3f  [%.3f, %.3f]  (%d processes)\n", c, m, v[c, 1], v[c, k], k
                }
            }' | sort
    step "done, $(uptime | sed 's/.*load/load/')"
}

case "$what" in
    ir) instructions ;;
    wall) wall ;;
    spread) spread "${2:-9}" ;;
    all) instructions; wall ;;
    *) echo "usage: $0 [all|ir|wall|spread [K]]" >&2; exit 64 ;;
esac
