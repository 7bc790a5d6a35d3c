#!/usr/bin/env bash
# Throughput of trueip's transparent TCP path against plain TCP forwarding, measured in throwaway
# network namespaces (client -- proxy -- server over veth pairs, nothing routed out).
#
#   direct       client -> server, routed through the proxy namespace, no proxy process (ceiling)
#   plain        nft REDIRECT -> trueip, upstream connect from the proxy's address (what REDIRECT sidecars do)
#   transparent  TPROXY (trueip net setup) -> trueip, upstream connect from the client's address
#
# Each run is one iperf3 TCP stream for BENCH_SECONDS (default 5) seconds, repeated BENCH_RUNS
# (default 3) times; the median is reported. Needs root. Usage: sudo scripts/bench-transparent.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh

BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_RUNS=${BENCH_RUNS:-3}
[ "$(id -u)" -eq 0 ] || { echo "bench-transparent.sh needs root (namespaces, TPROXY rules)" >&2; exit 1; }
TRUEIP_DEBIAN_PACKAGES+=(iperf3)
ensure_debian_packages

cargo build --release -p trueip-proxy --locked
TRUEIP=$PWD/target/release/trueip

ID=tqb$$
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for host in client proxy server; do ip netns del "$ID-$host" 2>/dev/null || true; done
}
trap cleanup EXIT

in_ns() { local host=$1; shift; ip netns exec "$ID-$host" "$@"; }

for host in client proxy server; do
    ip netns add "$ID-$host"
    in_ns "$host" ip link set lo up
done
ip link add "${ID}c" netns "$ID-client" type veth peer name "${ID}pc" netns "$ID-proxy"
ip link add "${ID}s" netns "$ID-server" type veth peer name "${ID}ps" netns "$ID-proxy"
in_ns client ip addr add 10.200.1.2/24 dev "${ID}c"
in_ns proxy ip addr add 10.200.1.1/24 dev "${ID}pc"
in_ns proxy ip addr add 10.200.2.1/24 dev "${ID}ps"
in_ns server ip addr add 10.200.2.2/24 dev "${ID}s"
in_ns client ip link set "${ID}c" up
in_ns proxy ip link set "${ID}pc" up
in_ns proxy ip link set "${ID}ps" up
in_ns server ip link set "${ID}s" up
in_ns client ip route add default via 10.200.1.1
in_ns server ip route add default via 10.200.2.1
in_ns proxy sysctl -qw net.ipv4.ip_forward=1

in_ns server iperf3 --server --port 5201 >/dev/null 2>&1 &
PIDS+=($!)

wait_listening() { # host port
    for _ in $(seq 1 100); do
        in_ns "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listening on port $2 in $1" >&2
    return 1
}
wait_listening server 5201

# Median receiver throughput in Gbit/s over BENCH_RUNS runs.
measure() {
    local results=()
    for _ in $(seq 1 "$BENCH_RUNS"); do
        local gbps
        gbps=$(in_ns client iperf3 --client 10.200.2.2 --port 5201 --time "$BENCH_SECONDS" --format g \
            | awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Gbits/sec") print $(i - 1) }')
        results+=("${gbps:-0}")
    done
    printf '%s\n' "${results[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

direct=$(measure)

# plain: REDIRECT to trueip, which connects upstream from its own address.
in_ns proxy nft "add table ip bench_redirect; add chain ip bench_redirect pre { type nat hook prerouting priority dstnat; }; add rule ip bench_redirect pre tcp dport 5201 redirect to :15002"
in_ns proxy "$TRUEIP" tproxy --listen 0.0.0.0:15002 --upstream 10.200.2.2:5201 --source proxy 2>/dev/null &
PIDS+=($!)
wait_listening proxy 15002
plain=$(measure)
in_ns proxy nft delete table ip bench_redirect

# transparent: TPROXY to trueip, which connects upstream from the client's address.
in_ns proxy "$TRUEIP" net setup --port 15001 --family ipv4 --dport 5201 --dest 10.200.2.0/24 >/dev/null
in_ns proxy "$TRUEIP" tproxy --listen 0.0.0.0:15001 2>/dev/null &
PIDS+=($!)
wait_listening proxy 15001
transparent=$(measure)

cat <<EOF
| path (1 TCP stream, ${BENCH_SECONDS}s, median of ${BENCH_RUNS}) | Gbit/s |
| --- | ---: |
| direct, routed through the proxy namespace (ceiling) | $direct |
| plain TCP forwarding (REDIRECT, upstream from the proxy's address) | $plain |
| transparent TCP (TPROXY, upstream from the client's address) | $transparent |
EOF
