#!/usr/bin/env bash
# Benchmarks the native proxy against HAProxy and nginx doing the same jobs on loopback, each
# with one worker thread, plus the direct-to-backend ceiling, and the memory held by 10k idle
# PROXY v2 connections. Prints a Markdown table for BENCHMARKS.md ("Native proxy").
#
# Jobs (the load is `trueip loadgen`, closed loop, keep-alive, bounded by DURATION and a request budget):
#   proxy-v2-http  PROXY v2 in -> HTTP with X-Forwarded-For -> backend
#   xff-realip     plain HTTP with X-Forwarded-For from a trusted peer -> real client IP -> backend
#   tcp-proxy-v2   TCP relay -> backend that accepts PROXY v2 (the proxy sends the header)
#   instructions   user-space instructions per request of the two HTTP jobs, trueip vs HAProxy,
#                  under callgrind: deterministic, so it compares builds on a busy machine
#
# Usage: scripts/bench-proxy.sh            (DURATION=10 CONNS=50 IDLE=10000 BASE_PORT=18000 to tune;
#        JOBS="proxy-v2-http xff-realip" runs only those rows, "idle" is the memory table;
#        ROUNDS=3 repeats the load rows, interleaved; TRUEIP_BIN=path benchmarks that binary instead
#        of building one)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh

DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
IDLE=${IDLE:-10000}
BASE=${BASE_PORT:-18000}
MAX_REQUESTS=${MAX_REQUESTS:-5000000}
JOBS=${JOBS:-proxy-v2-http xff-realip tcp-proxy-v2 instructions idle}
ROUNDS=${ROUNDS:-1}

wanted() { [[ " $JOBS " == *" $1 "* ]]; }

ensure_debian_packages haproxy nginx-light libnginx-mod-stream valgrind
# TRUEIP_BIN benchmarks a given binary (e.g. a saved copy of an older build) instead of building.
BIN=${TRUEIP_BIN:-}
if [[ -z $BIN ]]; then
    cargo build --release -p trueip-proxy --locked >&2
    BIN=target/release/trueip
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Ports, all on 127.0.0.1.
B_PLAIN=$((BASE + 80)); B_PP=$((BASE + 81))
T1=$((BASE + 100)); T2=$((BASE + 101)); T3=$((BASE + 102)); T_ADMIN=$((BASE + 199))
H1=$((BASE + 200)); H2=$((BASE + 201)); H3=$((BASE + 202))
N1=$((BASE + 300)); N2=$((BASE + 301)); N3=$((BASE + 302))

wait_port() { # port [tries of 50 ms]
    local port=$1 tries=${2:-200} i
    for i in $(seq 1 "$tries"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$port" >&2
    return 1
}

# --- backend: nginx, one worker, a tiny fixed answer; one port plain, one expecting PROXY v2.
mkdir -p "$WORK/backend" "$WORK/front"
cat > "$WORK/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $WORK/backend/error.log warn;
pid $WORK/backend/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/backend;
    server { listen 127.0.0.1:$B_PLAIN; location / { return 200 "ok\n"; } }
    server { listen 127.0.0.1:$B_PP proxy_protocol; location / { return 200 "ok\n"; } }
}
EOF
nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" & PIDS+=($!)

# --- trueip: one process, one runtime thread, three listeners.
cat > "$WORK/trueip.json" <<EOF
{
  "trust": { "proxies": ["loopback"] },
  "sources": ["x-forwarded-for"],
  "rewrite": { "client_header": "x-real-ip", "xff": "append" },
  "listeners": [
    { "name": "proxy-v2-http", "address": "127.0.0.1:$T1", "protocol": "http",
      "proxy_protocol": { "default": "require", "versions": ["v2"] }, "upstream": "127.0.0.1:$B_PLAIN" },
    { "name": "xff-realip", "address": "127.0.0.1:$T2", "protocol": "http", "upstream": "127.0.0.1:$B_PLAIN" },
    { "name": "tcp-proxy-v2", "address": "127.0.0.1:$T3", "protocol": "tcp",
      "upstream": { "address": "127.0.0.1:$B_PP", "proxy_protocol": { "version": "v2" } } }
  ],
  "admin": { "address": "127.0.0.1:$T_ADMIN" }
}
EOF
RUST_LOG=warn "$BIN" run --workers 1 --config "$WORK/trueip.json" >/dev/null 2>"$WORK/trueip.log" & PIDS+=($!)
TRUEIP_PID=$!

# --- HAProxy: one thread, the same three jobs.
cat > "$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    # HAProxy reserves two descriptors per connection and cannot exceed this sandbox's 20000.
    maxconn 9900
defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend proxy_v2_http
    mode http
    bind 127.0.0.1:$H1 accept-proxy
    option forwardfor
    http-request set-header X-Real-IP %[src]
    default_backend plain
frontend xff_realip
    mode http
    bind 127.0.0.1:$H2
    http-request set-src hdr_ip(x-forwarded-for,-1) if { src 127.0.0.0/8 }
    option forwardfor
    http-request set-header X-Real-IP %[src]
    default_backend plain
frontend tcp_proxy_v2
    mode tcp
    bind 127.0.0.1:$H3
    default_backend pp
backend plain
    mode http
    http-reuse always
    server b 127.0.0.1:$B_PLAIN
backend pp
    mode tcp
    server b 127.0.0.1:$B_PP send-proxy-v2
EOF
haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" & PIDS+=($!)
HAPROXY_PID=$!

# --- nginx as the proxy: one worker, realip + proxy_pass, and stream with proxy_protocol on.
cat > "$WORK/front/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
error_log $WORK/front/error.log warn;
pid $WORK/front/nginx.pid;
events { worker_connections 10100; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/front;
    proxy_temp_path $WORK/front;
    upstream backend { server 127.0.0.1:$B_PLAIN; keepalive 64; }
    server {
        listen 127.0.0.1:$N1 proxy_protocol;
        set_real_ip_from 127.0.0.0/8;
        real_ip_header proxy_protocol;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_pass http://backend;
        }
    }
    server {
        listen 127.0.0.1:$N2;
        set_real_ip_from 127.0.0.0/8;
        real_ip_header X-Forwarded-For;
        real_ip_recursive on;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_pass http://backend;
        }
    }
}
stream {
    server { listen 127.0.0.1:$N3; proxy_protocol on; proxy_pass 127.0.0.1:$B_PP; }
}
EOF
nginx -c "$WORK/front/nginx.conf" -p "$WORK/front" & PIDS+=($!)

for p in $B_PLAIN $B_PP $T1 $T2 $T3 $H1 $H2 $H3 $N1 $N2 $N3; do wait_port "$p"; done

load() { # name target extra-args...
    local name=$1 target=$2; shift 2
    local json
    json=$("$BIN" loadgen --target "127.0.0.1:$target" --connections "$CONNS" --duration "$DURATION" \
        --max-requests "$MAX_REQUESTS" --threads 1 "$@")
    python3 - "$name" "$json" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
print(f"| {name} | {r['rps']:.0f} | {r['p50_us']/1000:.2f} | {r['p99_us']/1000:.2f} | {r['requests']} | {r['non_2xx'] + r['errors']} |")
PY
}

XFF=(-H "X-Forwarded-For: 203.0.113.7")
echo "| job / server | req/s | p50 ms | p99 ms | requests | errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
# ROUNDS > 1 repeats every job's rows, interleaved, so a burst of background load hits all servers alike;
# trueip and HAProxy swap places every other round, so neither always runs right after the ceiling.
pair() { # job trueip-port haproxy-port loadgen-args...
    local job=$1 t=$2 h=$3; shift 3
    if (( round % 2 )); then
        load "$job / trueip$R" "$t" "$@"
        load "$job / haproxy$R" "$h" "$@"
    else
        load "$job / haproxy$R" "$h" "$@"
        load "$job / trueip$R" "$t" "$@"
    fi
}
for round in $(seq 1 "$ROUNDS"); do
    R=""
    if [[ $ROUNDS -gt 1 ]]; then R=" (round $round)"; fi
    if wanted proxy-v2-http; then
        load "proxy-v2-http / direct backend (ceiling)$R" $B_PLAIN
        pair "proxy-v2-http" $T1 $H1 --proxy-v2
        load "proxy-v2-http / nginx$R" $N1 --proxy-v2
    fi
    if wanted xff-realip; then
        load "xff-realip / direct backend (ceiling)$R" $B_PLAIN "${XFF[@]}"
        pair "xff-realip" $T2 $H2 "${XFF[@]}"
        load "xff-realip / nginx$R" $N2 "${XFF[@]}"
    fi
    if wanted tcp-proxy-v2; then
        load "tcp-proxy-v2 / direct backend (ceiling)$R" $B_PP --proxy-v2
        pair "tcp-proxy-v2" $T3 $H3
        load "tcp-proxy-v2 / nginx$R" $N3
    fi
done

# Instructions per request: run the proxy under callgrind for N_SMALL and then N_LARGE requests;
# the difference divided by the difference in requests cancels start-up and shutdown.
N_SMALL=${N_SMALL:-2000}
N_LARGE=${N_LARGE:-12000}
C_PP=$((BASE + 400)); C_XFF=$((BASE + 401))
cat > "$WORK/trueip-cg.json" <<EOF
{
  "trust": { "proxies": ["loopback"] },
  "sources": ["x-forwarded-for"],
  "rewrite": { "client_header": "x-real-ip", "xff": "append" },
  "listeners": [
    { "name": "proxy-v2-http", "address": "127.0.0.1:$C_PP", "protocol": "http",
      "proxy_protocol": { "default": "require", "versions": ["v2"] }, "upstream": "127.0.0.1:$B_PLAIN" },
    { "name": "xff-realip", "address": "127.0.0.1:$C_XFF", "protocol": "http", "upstream": "127.0.0.1:$B_PLAIN" }
  ]
}
EOF
# The same two frontends as above, on the callgrind ports.
cat > "$WORK/haproxy-cg.cfg" <<EOF
global
    nbthread 1
defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend proxy_v2_http
    mode http
    bind 127.0.0.1:$C_PP accept-proxy
    option forwardfor
    http-request set-header X-Real-IP %[src]
    default_backend plain
frontend xff_realip
    mode http
    bind 127.0.0.1:$C_XFF
    http-request set-src hdr_ip(x-forwarded-for,-1) if { src 127.0.0.0/8 }
    option forwardfor
    http-request set-header X-Real-IP %[src]
    default_backend plain
backend plain
    mode http
    http-reuse always
    server b 127.0.0.1:$B_PLAIN
EOF

callgrind_total() { # port requests loadgen-args... -- command...: total instructions of one run
    local port=$1 requests=$2; shift 2
    local args=()
    while [[ $1 != -- ]]; do args+=("$1"); shift; done
    shift
    local out="$WORK/callgrind.out"
    rm -f "$out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$WORK/valgrind.log" &
    local vg=$!
    PIDS+=("$vg")
    wait_port "$port" 1200 # valgrind starts slowly
    "$BIN" loadgen --target "127.0.0.1:$port" --connections 10 --duration 120 \
        --max-requests "$requests" --threads 1 "${args[@]}" >/dev/null
    kill -TERM "$vg"
    wait "$vg" || true
    awk '/^summary:/ {print $2}' "$out"
}

instructions() { # name port loadgen-args... -- command...
    local name=$1 port=$2; shift 2
    local small large
    small=$(callgrind_total "$port" "$N_SMALL" "$@")
    large=$(callgrind_total "$port" "$N_LARGE" "$@")
    echo "| $name | $(( (large - small) / (N_LARGE - N_SMALL) )) |"
}

if wanted instructions; then
    echo
    echo "| job / server | instructions per request (callgrind, user space) |"
    echo "| --- | ---: |"
    TRUEIP_CG=("$BIN" run --workers 1 --config "$WORK/trueip-cg.json")
    HAPROXY_CG=(haproxy -db -f "$WORK/haproxy-cg.cfg")
    instructions "proxy-v2-http / trueip" $C_PP --proxy-v2 -- "${TRUEIP_CG[@]}"
    instructions "proxy-v2-http / haproxy" $C_PP --proxy-v2 -- "${HAPROXY_CG[@]}"
    instructions "xff-realip / trueip" $C_XFF "${XFF[@]}" -- "${TRUEIP_CG[@]}"
    instructions "xff-realip / haproxy" $C_XFF "${XFF[@]}" -- "${HAPROXY_CG[@]}"
fi

rss_kib() { # sum of VmRSS over the given pids
    local total=0 pid kib
    for pid in "$@"; do
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

idle() { # name port count pids...
    local name=$1 port=$2 count=$3; shift 3
    local before after fifo opened
    before=$(rss_kib "$@")
    fifo="$WORK/idle-$port"
    mkfifo "$fifo"
    "$BIN" loadgen --target "127.0.0.1:$port" --idle "$count" --proxy-v2 --duration 20 >"$fifo" &
    local gen=$!
    read -r opened <"$fifo"
    opened=${opened//[^0-9]/}
    sleep 2 # let the server finish reading the headers
    after=$(rss_kib "$@")
    kill "$gen" 2>/dev/null || true
    wait "$gen" 2>/dev/null || true
    echo "| $name | $opened | $((before / 1024)) | $((after / 1024)) | $(( (after - before) * 1024 / (opened > 0 ? opened : 1) )) |"
}

nginx_front_pids() { pgrep -P "$(cat "$WORK/front/nginx.pid")" | tr '\n' ' '; cat "$WORK/front/nginx.pid"; }

wanted idle || exit 0
echo
echo "| idle PROXY v2 connections | open | RSS before MiB | RSS with them MiB | bytes per connection |"
echo "| --- | ---: | ---: | ---: | ---: |"
idle "trueip" $T1 "$IDLE" "$TRUEIP_PID"
idle "haproxy (maxconn 9900)" $H1 $((IDLE < 9800 ? IDLE : 9800)) "$HAPROXY_PID"
# shellcheck disable=SC2046
idle "nginx (master + worker)" $N1 "$IDLE" $(nginx_front_pids)
