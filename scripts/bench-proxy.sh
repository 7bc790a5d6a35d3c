#!/usr/bin/env bash
# Benchmarks the native proxy against HAProxy and nginx doing the same jobs on loopback, each
# with one worker thread, plus the direct-to-backend ceiling, and the memory held by 10k idle
# PROXY v2 connections. Prints Markdown tables for BENCHMARKS.md ("Native proxy").
#
# Jobs (the load is `trueip loadgen`, closed loop, keep-alive, bounded by DURATION and a request budget):
#   proxy-v2-http  PROXY v2 in -> HTTP with X-Forwarded-For -> backend
#   xff-realip     plain HTTP with X-Forwarded-For from a trusted peer -> real client IP -> backend
#   tcp-proxy-v2   TCP relay -> backend that accepts PROXY v2 (the proxy sends the header)
#   idle           RSS with IDLE idle PROXY v2 connections
#   syscalls       system calls, epoll waits and wakeups per request of the three load jobs, trueip
#                  vs HAProxy (perf tracepoints; skipped without perf)
#   wakeups        the same tracepoint by who was woken (load generator, backend), per request of the
#                  two HTTP jobs (not in the default JOBS)
#   instructions   user-space instructions and simulated L1/LL cache misses per request of the three
#                  load jobs, trueip vs HAProxy, under callgrind: deterministic, so it compares
#                  builds on a busy machine
#
# Placement: the machine this was written on has 2 CPUs for the load generator, the proxy and the
# backend. Left to the scheduler, the backend and the proxy sometimes share a CPU and sometimes do
# not, which swung one server's req/s by a third between rounds. With PIN=1 (the default on 2+
# CPUs) every proxy under test runs on CPU SERVER_CPU and the load generator and the backend on
# LOAD_CPU, the same for every server. Each load row also reports the proxy's own CPU time per
# request (user + system, from /proc), which does not depend on who else was running.
#
# Usage: scripts/bench-proxy.sh            (DURATION=3 ROUNDS=5 CONNS=50 IDLE=10000 BASE_PORT=18000;
#        JOBS="proxy-v2-http xff-realip" runs only those; ROUNDS interleaves every job's rows and
#        swaps the order of trueip and HAProxy each round; the summary reports medians over rounds;
#        PIN=0 leaves placement to the scheduler; TRUEIP_BIN=path benchmarks that binary instead of
#        building one)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh

DURATION=${DURATION:-3}
CONNS=${CONNS:-50}
IDLE=${IDLE:-10000}
BASE=${BASE_PORT:-18000}
MAX_REQUESTS=${MAX_REQUESTS:-5000000}
JOBS=${JOBS:-proxy-v2-http xff-realip tcp-proxy-v2 idle syscalls instructions}
ROUNDS=${ROUNDS:-5}
PIN=${PIN:-1}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

wanted() { [[ " $JOBS " == *" $1 "* ]]; }

ensure_debian_packages haproxy nginx-light libnginx-mod-stream valgrind
# perf only for the syscalls and wakeups tables; a kernel without tracepoint access still skips them (below).
if wanted syscalls || wanted wakeups; then ensure_debian_packages linux-perf; fi
# TRUEIP_BIN benchmarks a given binary (e.g. a saved copy of an older build) instead of building.
BIN=${TRUEIP_BIN:-}
if [[ -z $BIN ]]; then
    cargo build --release -p trueip-proxy --locked >&2
    BIN=target/release/trueip
fi

# `taskset` prefixes; taskset execs its command, so `$!` is still the server's pid.
ON_SERVER=()
ON_LOAD=()
if ((PIN)) && (($(nproc) >= 2)); then
    ON_SERVER=(taskset -c "$SERVER_CPU")
    ON_LOAD=(taskset -c "$LOAD_CPU")
fi
echo "placement: ${ON_SERVER[*]:-unpinned} proxies; ${ON_LOAD[*]:-unpinned} load generator and backend;" \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

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
"${ON_LOAD[@]}" nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" & PIDS+=($!)

# --- trueip: one process, one runtime thread, three listeners; no access log (as HAProxy and nginx).
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
TRUEIP_CMD=("$BIN" run --workers 1 --config "$WORK/trueip.json")
RUST_LOG=warn "${ON_SERVER[@]}" "${TRUEIP_CMD[@]}" >/dev/null 2>"$WORK/trueip.log" & PIDS+=($!)
TRUEIP_PID=$!

# --- HAProxy: one thread, the same three jobs, no logging (no `log` line), keep-alive both ways.
# The same file runs under callgrind for the instruction counts. What reaches the backend matches
# trueip's up to the X-Forwarded-For form: trueip appends the peer to the existing line
# (`203.0.113.7, 127.0.0.1`), `option forwardfor` adds a second line with the (rewritten) source.
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
HAPROXY_CMD=(haproxy -db -f "$WORK/haproxy.cfg")
"${ON_SERVER[@]}" "${HAPROXY_CMD[@]}" 2>"$WORK/haproxy.log" & PIDS+=($!)
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
"${ON_SERVER[@]}" nginx -c "$WORK/front/nginx.conf" -p "$WORK/front" & PIDS+=($!)

for p in $B_PLAIN $B_PP $T1 $T2 $T3 $H1 $H2 $H3 $N1 $N2 $N3; do wait_port "$p"; done

nginx_front_pids() { pgrep -P "$(cat "$WORK/front/nginx.pid")" | tr '\n' ' '; cat "$WORK/front/nginx.pid"; }

sum_over_pids() { # awk-program file pids...: the number the program prints from /proc/<pid>/<file>, summed
    local program=$1 file=$2 total=0 pid n
    shift 2
    for pid in "$@"; do
        n=$(awk "$program" "/proc/$pid/$file" 2>/dev/null || echo 0)
        total=$((total + ${n:-0}))
    done
    echo "$total"
}
cpu_ticks() { sum_over_pids '{print $14 + $15}' stat "$@"; } # user + system clock ticks (all threads)

ROWS="$WORK/rows.tsv"
: >"$ROWS"
load() { # job server round port pids-or-"-" loadgen-args...: one load row, recorded in $ROWS
    local job=$1 server=$2 round=$3 port=$4 pids=$5
    shift 5
    local json before=0 after=0
    # shellcheck disable=SC2086
    [[ $pids == - ]] || before=$(cpu_ticks $pids)
    json=$("${ON_LOAD[@]}" "$BIN" loadgen --target "127.0.0.1:$port" --connections "$CONNS" \
        --duration "$DURATION" --max-requests "$MAX_REQUESTS" --threads 1 "$@")
    # shellcheck disable=SC2086
    [[ $pids == - ]] || after=$(cpu_ticks $pids)
    python3 - "$job" "$server" "$round" "$json" "$((after - before))" "$pids" "$(getconf CLK_TCK)" >>"$ROWS" <<'PY'
import json, sys
job, server, rnd, r, ticks, pids, hz = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
cpu = "" if pids == "-" or r["requests"] == 0 else f"{ticks * 1e6 / hz / r['requests']:.1f}"
print("\t".join([job, server, rnd, f"{r['rps']:.0f}", f"{r['p50_us'] / 1000:.2f}", f"{r['p99_us'] / 1000:.2f}",
                 str(r["requests"]), str(r["non_2xx"] + r["errors"]), cpu]))
PY
}

XFF=(-H "X-Forwarded-For: 203.0.113.7")
# Every job's rows run interleaved, round after round, so a burst of background load hits all
# servers alike; trueip and HAProxy swap places every other round, so neither always runs right
# after the ceiling.
pair() { # job round trueip-port haproxy-port loadgen-args...
    local job=$1 round=$2 t=$3 h=$4
    shift 4
    if ((round % 2)); then
        load "$job" trueip "$round" "$t" "$TRUEIP_PID" "$@"
        load "$job" haproxy "$round" "$h" "$HAPROXY_PID" "$@"
    else
        load "$job" haproxy "$round" "$h" "$HAPROXY_PID" "$@"
        load "$job" trueip "$round" "$t" "$TRUEIP_PID" "$@"
    fi
}
for round in $(seq 1 "$ROUNDS"); do
    if wanted proxy-v2-http; then
        load proxy-v2-http "direct backend (ceiling)" "$round" $B_PLAIN -
        pair proxy-v2-http "$round" $T1 $H1 --proxy-v2
        load proxy-v2-http nginx "$round" $N1 "$(nginx_front_pids)" --proxy-v2
    fi
    if wanted xff-realip; then
        load xff-realip "direct backend (ceiling)" "$round" $B_PLAIN - "${XFF[@]}"
        pair xff-realip "$round" $T2 $H2 "${XFF[@]}"
        load xff-realip nginx "$round" $N2 "$(nginx_front_pids)" "${XFF[@]}"
    fi
    if wanted tcp-proxy-v2; then
        load tcp-proxy-v2 "direct backend (ceiling)" "$round" $B_PP - --proxy-v2
        pair tcp-proxy-v2 "$round" $T3 $H3
        load tcp-proxy-v2 nginx "$round" $N3 "$(nginx_front_pids)"
    fi
done

if [[ -s $ROWS ]]; then
    python3 - "$ROWS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("| job / server | round | req/s | p50 ms | p99 ms | requests | errors | proxy CPU µs/request |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for job, server, rnd, rps, p50, p99, n, err, cpu in rows:
    print(f"| {job} / {server} | {rnd} | {rps} | {p50} | {p99} | {n} | {err} | {cpu or '-'} |")
print()
print("Medians over rounds; the ratio column is the median of the per-round ratios trueip / this server.")
print()
print("| job / server | req/s | p99 ms | proxy CPU µs/request | trueip / this (req/s) | trueip / this (p99) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
by = {}
for job, server, rnd, rps, p50, p99, n, err, cpu in rows:
    by.setdefault((job, server), {})[rnd] = (float(rps), float(p99), float(cpu) if cpu else None)
for (job, server), per in by.items():
    med = lambda i: statistics.median(v[i] for v in per.values() if v[i] is not None) if any(v[i] is not None for v in per.values()) else None
    t = by.get((job, "trueip"), {})
    ratios = [t[r][0] / v[0] for r, v in per.items() if r in t and v[0] > 0]
    p99r = [t[r][1] / v[1] for r, v in per.items() if r in t and v[1] > 0]
    cpu = med(2)
    fmt = lambda x: f"{x:.2f}"
    if server == "trueip" or not ratios:
        rps_ratio, p99_ratio = "-", "-"
    else:
        rps_ratio = f"{fmt(statistics.median(ratios))} ({', '.join(fmt(x) for x in ratios)})"
        p99_ratio = fmt(statistics.median(p99r))
    print(f"| {job} / {server} | {med(0):.0f} | {med(1):.2f} | {'-' if cpu is None else f'{cpu:.1f}'} | "
          f"{rps_ratio} | {p99_ratio} |")
PY
fi

rss_kib() { sum_over_pids '/^VmRSS:/ {print $2}' status "$@"; } # resident KiB

idle() { # name port count pids...
    local name=$1 port=$2 count=$3
    shift 3
    local before after fifo opened
    before=$(rss_kib "$@")
    fifo="$WORK/idle-$port"
    mkfifo "$fifo"
    "${ON_LOAD[@]}" "$BIN" loadgen --target "127.0.0.1:$port" --idle "$count" --proxy-v2 --duration 20 >"$fifo" &
    local gen=$!
    read -r opened <"$fifo"
    opened=${opened//[^0-9]/}
    sleep 2 # let the server finish reading the headers
    after=$(rss_kib "$@")
    kill "$gen" 2>/dev/null || true
    wait "$gen" 2>/dev/null || true
    echo "| $name | $opened | $((before / 1024)) | $((after / 1024)) | $(((after - before) * 1024 / (opened > 0 ? opened : 1))) |"
}

if wanted idle; then
    echo
    echo "| idle PROXY v2 connections | open | RSS before MiB | RSS with them MiB | bytes per connection |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    idle "trueip" $T1 "$IDLE" "$TRUEIP_PID"
    idle "haproxy (maxconn 9900)" $H1 $((IDLE < 9800 ? IDLE : 9800)) "$HAPROXY_PID"
    # shellcheck disable=SC2046
    idle "nginx (master + worker)" $N1 "$IDLE" $(nginx_front_pids)
fi

# System calls, epoll waits and wakeups per request, counted by kernel tracepoints on the proxy's
# threads while the load runs (the CPU time column above says how long; this says on what).
SYSCALL_EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,sched:sched_wakeup,sched:sched_switch
syscalls() { # job server port pid loadgen-args...
    local job=$1 server=$2 port=$3 pid=$4
    shift 4
    local json perf_pid
    perf stat -x, -o "$WORK/perf.txt" -e "$SYSCALL_EVENTS" -p "$pid" 2>/dev/null &
    perf_pid=$!
    sleep 0.5 # perf attaches
    json=$("${ON_LOAD[@]}" "$BIN" loadgen --target "127.0.0.1:$port" --connections "$CONNS" \
        --duration "$DURATION" --max-requests "$MAX_REQUESTS" --threads 1 "$@")
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    python3 - "$job / $server" "$json" "$WORK/perf.txt" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
n = max(r["requests"], 1)
counts = {}
for line in open(sys.argv[3]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].isdigit():
        counts[f[2].split(":")[-1]] = int(f[0]) / n
cols = ["sys_enter", "sys_enter_recvfrom", "sys_enter_sendto", "sys_enter_epoll_wait", "sys_enter_epoll_ctl", "sched_wakeup", "sched_switch"]
print(f"| {name} | " + " | ".join(f"{counts.get(c, 0):.3f}" for c in cols) + " |")
PY
}

# Who the proxy wakes: each `sched_wakeup` the proxy's threads cause, by the woken task's name (the load
# generator is this script's `trueip loadgen`, the backend is nginx). A wake happens when a send finds the peer
# asleep, so the count follows how many requests the proxy handles between two `epoll_wait`s.
wakeups() { # job server port pid loadgen-args...
    local job=$1 server=$2 port=$3 pid=$4
    shift 4
    local json perf_pid
    perf record -q -e sched:sched_wakeup -p "$pid" -o "$WORK/wake.data" 2>/dev/null &
    perf_pid=$!
    sleep 0.5 # perf attaches
    json=$("${ON_LOAD[@]}" "$BIN" loadgen --target "127.0.0.1:$port" --connections "$CONNS" \
        --duration "$DURATION" --max-requests "$MAX_REQUESTS" --threads 1 "$@")
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    perf script -i "$WORK/wake.data" -F trace >"$WORK/wake.txt" 2>/dev/null || true
    python3 - "$job / $server" "$json" "$WORK/wake.txt" "$(basename "$BIN" | cut -c1-15)" <<'PY'
import json, re, sys
name, r, path, loadgen = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
n = max(r["requests"], 1)
woken = {"load generator": 0, "backend": 0, "other": 0}
for line in open(path):
    m = re.search(r"comm=(\S+)", line)
    if not m:
        continue
    comm = m.group(1)
    woken["load generator" if comm == loadgen else "backend" if comm == "nginx" else "other"] += 1
print(f"| {name} | " + " | ".join(f"{v / n:.3f}" for v in woken.values()) + f" | {r['rps']:.0f} |")
PY
}

if wanted wakeups; then
    echo
    if command -v perf >/dev/null && perf stat -e sched:sched_wakeup true >/dev/null 2>&1; then
        echo "| job / server, wakeups caused per request | load generator | backend | other | req/s |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        wakeups proxy-v2-http trueip $T1 "$TRUEIP_PID" --proxy-v2
        wakeups proxy-v2-http haproxy $H1 "$HAPROXY_PID" --proxy-v2
        wakeups xff-realip trueip $T2 "$TRUEIP_PID" "${XFF[@]}"
        wakeups xff-realip haproxy $H2 "$HAPROXY_PID" "${XFF[@]}"
    else
        echo "wakeups: perf with tracepoint access is not available; skipped" >&2
    fi
fi

if wanted syscalls; then
    echo
    if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
        echo "| job / server, per request | system calls | recvfrom | sendto | epoll_wait | epoll_ctl | wakeups caused | context switches |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        syscalls proxy-v2-http trueip $T1 "$TRUEIP_PID" --proxy-v2
        syscalls proxy-v2-http haproxy $H1 "$HAPROXY_PID" --proxy-v2
        syscalls xff-realip trueip $T2 "$TRUEIP_PID" "${XFF[@]}"
        syscalls xff-realip haproxy $H2 "$HAPROXY_PID" "${XFF[@]}"
        syscalls tcp-proxy-v2 trueip $T3 "$TRUEIP_PID"
        syscalls tcp-proxy-v2 haproxy $H3 "$HAPROXY_PID"
    else
        echo "syscalls: perf with tracepoint access is not available; skipped" >&2
    fi
fi

# Instructions per request: run the proxy under callgrind (with the same configuration files as
# above, on the same ports, so the wall-clock instances stop first) for N_SMALL and then N_LARGE
# requests; the difference divided by the difference in requests cancels start-up and shutdown.
# Callgrind also simulates the caches (valgrind's model of this machine's L1 and last level), so
# the same runs count L1 instruction and data misses: fewer instructions do not make a faster proxy
# when the code and data they touch miss the L1 more often. The estimate of cycles is valgrind's
# own weighting, Ir + 10 x L1 misses + 100 x last-level misses.
N_SMALL=${N_SMALL:-2000}
N_LARGE=${N_LARGE:-12000}

callgrind_totals() { # port requests loadgen-args... -- command...: "Ir I1mr D1mr D1mw ILmr DLmr DLmw" of one run
    local port=$1 requests=$2
    shift 2
    local args=()
    while [[ $1 != -- ]]; do
        args+=("$1")
        shift
    done
    shift
    local out="$WORK/callgrind.out"
    rm -f "$out"
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out" "$@" >/dev/null 2>"$WORK/valgrind.log" &
    local vg=$!
    PIDS+=("$vg")
    wait_port "$port" 1200 # valgrind starts slowly
    "$BIN" loadgen --target "127.0.0.1:$port" --connections 10 --duration 120 \
        --max-requests "$requests" --threads 1 "${args[@]}" >/dev/null
    kill -TERM "$vg"
    wait "$vg" || true
    # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    awk '/^summary:/ {print $2, $5, $6, $7, $8, $9, $10}' "$out"
}

instructions() { # name port loadgen-args... -- command...
    local name=$1 port=$2
    shift 2
    local small large
    small=$(callgrind_totals "$port" "$N_SMALL" "$@")
    large=$(callgrind_totals "$port" "$N_LARGE" "$@")
    python3 - "$name" "$small" "$large" "$((N_LARGE - N_SMALL))" <<'PY'
import sys
name, n = sys.argv[1], int(sys.argv[4])
ir, i1, d1r, d1w, ilr, dlr, dlw = [(int(b) - int(a)) / n for a, b in zip(sys.argv[2].split(), sys.argv[3].split())]
est = ir + 10 * (i1 + d1r + d1w) + 100 * (ilr + dlr + dlw)
print(f"| {name} | {ir:.0f} | {i1:.0f} | {d1r + d1w:.0f} | {ilr + dlr + dlw:.1f} | {est:.0f} |")
PY
}

if wanted instructions; then
    kill "$TRUEIP_PID" "$HAPROXY_PID"
    wait "$TRUEIP_PID" "$HAPROXY_PID" 2>/dev/null || true
    echo
    echo "| job / server, per request (callgrind, user space) | instructions | L1i misses | L1d misses | LL misses | estimated cycles |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    instructions "proxy-v2-http / trueip" $T1 --proxy-v2 -- "${TRUEIP_CMD[@]}"
    instructions "proxy-v2-http / haproxy" $H1 --proxy-v2 -- "${HAPROXY_CMD[@]}"
    instructions "xff-realip / trueip" $T2 "${XFF[@]}" -- "${TRUEIP_CMD[@]}"
    instructions "xff-realip / haproxy" $H2 "${XFF[@]}" -- "${HAPROXY_CMD[@]}"
    instructions "tcp-proxy-v2 / trueip" $T3 -- "${TRUEIP_CMD[@]}"
    instructions "tcp-proxy-v2 / haproxy" $H3 -- "${HAPROXY_CMD[@]}"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
