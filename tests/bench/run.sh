#!/bin/bash
# Benchmarks frontdesk against nginx and haproxy, side by side in one run, as reverse
# proxies in front of the same fast upstream (an nginx answering "hello"), over HTTP/1.1
# (wrk) and h2c with prior knowledge (h2load). Loopback only. See tests/bench/README.md.
#
# usage: tests/bench/run.sh
#   ROUNDS=2           rounds; each round runs every proxy once per protocol (A/B/C, then again)
#   DURATION=10        seconds of each measured run
#   WARMUP=2           seconds of load before each measured run (not measured)
#   SYSCALL_SECONDS=3  seconds of the separate syscall-counting run
#   CONNS=32           connections of the load generator
#   STREAMS=10         h2 streams in flight per connection (h2load -m)
#   PROTOCOLS="h1 h2"  PROXIES="frontdesk nginx haproxy"   subsets
#   NGINX_KEEPALIVE=64 idle upstream connections nginx keeps (its "upstream { keepalive N; }")
#   SYSCALL_BREAKDOWN=1  also an strace -c pass per proxy and protocol in round 1 (per-syscall
#                        table in tests/bench/results/strace-PROXY-PROTO.txt)
#   FRONTDESK_BIN=path skip the build and bench this binary
#   KEEP_TMP=1         keep the temp dir (configs, logs) instead of deleting it
#
# Prints a table (medians over the rounds) and writes tests/bench/results/latest.json.
# Exit status: 0 when every run completed without errors, 1 when a proxy crashed or a load
# generator reported errors or non-2xx responses (the numbers are still printed), 2 when the
# benchmark could not run at all (tools, build, start-up).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
results_dir="$here/results"

ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SYSCALL_SECONDS=${SYSCALL_SECONDS:-3}
CONNS=${CONNS:-32}
STREAMS=${STREAMS:-10}
PROTOCOLS=${PROTOCOLS:-"h1 h2"}
PROXIES=${PROXIES:-"frontdesk nginx haproxy"}
SYSCALL_BREAKDOWN=${SYSCALL_BREAKDOWN:-0}
NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-64}
KEEP_TMP=${KEEP_TMP:-0}

die() { echo "bench: $*" >&2; exit 2; }
log() { echo "bench: $*" >&2; }

# Every loop is bounded: refuse values that would make a run unbounded or absurd.
check_int() { # name value min max
    [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || die "$1=$2: want an integer in [$3, $4]"
}
check_int ROUNDS "$ROUNDS" 1 20
check_int DURATION "$DURATION" 1 300
check_int WARMUP "$WARMUP" 0 60
check_int SYSCALL_SECONDS "$SYSCALL_SECONDS" 1 60
check_int CONNS "$CONNS" 1 1000
check_int STREAMS "$STREAMS" 1 100
check_int NGINX_KEEPALIVE "$NGINX_KEEPALIVE" 1 10000
for p in $PROTOCOLS; do [[ $p == h1 || $p == h2 ]] || die "PROTOCOLS: unknown '$p' (h1, h2)"; done
for p in $PROXIES; do [[ $p == frontdesk || $p == nginx || $p == haproxy ]] || die "PROXIES: unknown '$p'"; done

# ---------------------------------------------------------------------------------------
# Tools: installed when missing (Debian, as root), quiet when present.
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_tools() {
    local missing="" p nginx_pkg=""
    for p in nginx-light nginx nginx-core nginx-full nginx-extras; do
        if pkg_installed "$p"; then nginx_pkg=$p; break; fi
    done
    if [ -z "$nginx_pkg" ]; then missing="$missing nginx-light"; fi
    for p in haproxy wrk nghttp2-client strace jq curl util-linux procps iproute2; do
        pkg_installed "$p" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root, or apt-get install them)"
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # The nginx and haproxy packages start their system services on install (port 80, ...)
    # unless policy-rc.d forbids it; forbid it for the duration, when nothing else does.
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
    fi
    apt-get update -qq >/dev/null 2>&1
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq --no-install-recommends $missing >/tmp/frontdesk-bench-apt.log 2>&1; then
        # nginx-light is a Debian 12 package; fall back to plain nginx where it is gone.
        missing=${missing/nginx-light/nginx}
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/tmp/frontdesk-bench-apt.log 2>&1 || {
            [ $made_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
            tail -20 /tmp/frontdesk-bench-apt.log
            die "apt-get install failed:$missing"
        }
    fi
    [ $made_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    return 0
}
install_tools
for t in nginx haproxy wrk h2load taskset jq curl ss pgrep timeout; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found after installing"
done
nginx -V 2>&1 | grep -q http_v2_module || die "this nginx has no http_v2_module (install nginx-light or nginx)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (proxy on CPU 1, backend and load generator on CPU 0); nproc=$(nproc)"

# Syscall counting: perf's raw_syscalls tracepoint when it works here (cheap), else strace -c.
syscall_method=strace
if command -v perf >/dev/null 2>&1 &&
    perf stat -x, -e raw_syscalls:sys_enter true 2>&1 | grep -q '^[0-9][0-9]*,'; then
    syscall_method=perf
fi
command -v "$syscall_method" >/dev/null 2>&1 || die "no $syscall_method"

# ---------------------------------------------------------------------------------------
# frontdesk, optimised. --symlink_prefix=/ leaves the bazel-bin symlink alone (the other
# engineers' fastbuild), and the binary is copied so that a concurrent build cannot
# replace it during the run.
tmp=$(mktemp -d /tmp/frontdesk-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$tmp"
build_cmd="bazel build -c opt --symlink_prefix=/ //proxy:frontdesk"
if [ -n "${FRONTDESK_BIN:-}" ]; then
    [ -x "$FRONTDESK_BIN" ] || die "FRONTDESK_BIN=$FRONTDESK_BIN is not an executable"
    build_cmd="(none: FRONTDESK_BIN=$FRONTDESK_BIN)"
    cp "$FRONTDESK_BIN" "$tmp/frontdesk"
else
    log "building: (cd $repo && $build_cmd)"
    if ! (cd "$repo" && $build_cmd) >"$tmp/build.log" 2>&1; then
        tail -40 "$tmp/build.log" >&2
        echo "bench: FAILED: frontdesk does not build with -c opt (cd $repo && $build_cmd); log above" >&2
        rm -rf "$tmp"
        exit 2
    fi
    opt_bin=$(cd "$repo" && bazel info -c opt bazel-bin 2>/dev/null)/proxy/frontdesk
    [ -x "$opt_bin" ] || die "built, but no binary at $opt_bin"
    cp "$opt_bin" "$tmp/frontdesk"
fi
fd_bin="$tmp/frontdesk"

# ---------------------------------------------------------------------------------------
# Processes: every one this script starts is recorded here and stopped on exit.
started_pids=()
forget_pid() { # pid: no longer ours to stop (it has been waited for)
    local keep=() q
    for q in "${started_pids[@]}"; do [ "$q" = "$1" ] || keep+=("$q"); done
    started_pids=("${keep[@]}")
}
cleanup() {
    local pid kids=() i
    trap - EXIT INT TERM HUP
    for pid in "${started_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        # nginx's workers: remembered before the master goes, in case it must be killed.
        mapfile -t -O "${#kids[@]}" kids < <(pgrep -P "$pid" 2>/dev/null)
        kill -TERM "$pid" 2>/dev/null
    done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for pid in "${started_pids[@]}" "${kids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${started_pids[@]}" "${kids[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$KEEP_TMP" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Soft file limit up to the hard one (never lowers the hard limit).
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

# Free loopback ports, none picked twice, below the ephemeral range: a port in that range
# can be held by a connection in TIME_WAIT (nginx closes upstream connections past its
# keepalive cache), which makes a later bind to it fail.
picked=" "
eph_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
[[ ${eph_low:-} =~ ^[0-9]+$ ]] && [ "$eph_low" -gt 12000 ] || eph_low=32768
pick_port() { # var
    local p i
    for ((i = 0; i < 500; i++)); do
        p=$((10000 + RANDOM % (eph_low - 10000)))
        [[ $picked == *" $p "* ]] && continue
        [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && continue
        picked="$picked$p "
        printf -v "$1" '%s' "$p"
        return 0
    done
    die "no free port"
}
backend_port="" fd_port="" fd_admin_port="" nginx_h1_port="" nginx_h2_port="" haproxy_h1_port="" haproxy_h2_port=""
pick_port backend_port
pick_port fd_port
pick_port fd_admin_port
pick_port nginx_h1_port
pick_port nginx_h2_port
pick_port haproxy_h1_port
pick_port haproxy_h2_port

# Waits (bounded) until a GET to url answers 200; fails if pid dies first.
wait_http() { # pid url seconds
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        kill -0 "$1" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$2" 2>/dev/null)" = 200 ] && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# Configs.
nginx_common() { # dir
    cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
mkdir -p "$tmp/backend" "$tmp/nginx" "$tmp/haproxy" "$tmp/frontdesk.d"
{
    nginx_common "$tmp/backend"
    cat <<EOF
http {
    access_log off;
    client_body_temp_path $tmp/backend/body;
    proxy_temp_path $tmp/backend/proxy;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$backend_port backlog=4096;
        location / { default_type text/plain; return 200 "hello"; }
        location = /__bench_status { stub_status; }
    }
}
EOF
} >"$tmp/backend/nginx.conf"

{
    nginx_common "$tmp/nginx"
    cat <<EOF
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    upstream backend {
        server 127.0.0.1:$backend_port;
        keepalive $NGINX_KEEPALIVE;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$nginx_h1_port backlog=4096;
        listen 127.0.0.1:$nginx_h2_port backlog=4096 http2;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$tmp/nginx/nginx.conf"

cat >"$tmp/haproxy/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend bench
    bind 127.0.0.1:$haproxy_h1_port
    bind 127.0.0.1:$haproxy_h2_port proto h2
    default_backend backend
backend backend
    server backend1 127.0.0.1:$backend_port
EOF

cat >"$tmp/frontdesk.d/envoy.yaml" <<EOF
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $fd_admin_port}}}
static_resources:
  listeners:
  - name: bench
    address: {socket_address: {address: 127.0.0.1, port_value: $fd_port}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          codec_type: AUTO
          route_config:
            name: bench_routes
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: backend}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $backend_port}}}
EOF

# ---------------------------------------------------------------------------------------
# Command lines (printed, and kept in the JSON).
backend_cmd="taskset -c 0 nginx -p $tmp/backend -e $tmp/backend/error.log -c $tmp/backend/nginx.conf"
declare -A start_cmd pid url
start_cmd[frontdesk]="taskset -c 1 $fd_bin -c $tmp/frontdesk.d/envoy.yaml --concurrency 1"
start_cmd[nginx]="taskset -c 1 nginx -p $tmp/nginx -e $tmp/nginx/error.log -c $tmp/nginx/nginx.conf"
start_cmd[haproxy]="taskset -c 1 haproxy -db -f $tmp/haproxy/haproxy.cfg"
url[frontdesk.h1]="http://127.0.0.1:$fd_port/"
url[frontdesk.h2]="http://127.0.0.1:$fd_port/"
url[nginx.h1]="http://127.0.0.1:$nginx_h1_port/"
url[nginx.h2]="http://127.0.0.1:$nginx_h2_port/"
url[haproxy.h1]="http://127.0.0.1:$haproxy_h1_port/"
url[haproxy.h2]="http://127.0.0.1:$haproxy_h2_port/"

load_cmd() { # proto seconds url [h2load log file]
    if [ "$1" = h1 ]; then
        echo "taskset -c 0 wrk -t1 -c$CONNS -d${2}s --latency -s $here/report.lua $3"
    elif [ -n "${4:-}" ]; then
        echo "taskset -c 0 h2load -t1 -c$CONNS -m$STREAMS -D $2 --log-file=$4 $3"
    else
        echo "taskset -c 0 h2load -t1 -c$CONNS -m$STREAMS -D $2 $3"
    fi
}

# Runs a load command, bounded in time on top of its own duration. stdout to file.
run_load() { # seconds outfile cmd...
    local secs=$1 out=$2 lp rc
    shift 2
    # shellcheck disable=SC2068
    timeout -k 5 $((secs + 30)) $@ >"$out" 2>&1 &
    lp=$!
    started_pids+=("$lp")
    wait "$lp"
    rc=$?
    forget_pid "$lp"
    return $rc
}

# ---------------------------------------------------------------------------------------
# Per-process accounting over all processes of a proxy (nginx: master and workers).
proxy_pids() { # main pid -> itself and its children, space-separated
    local kids
    kids=$(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')
    echo "$1 $kids"
}
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # pids... -> utime+stime (fields 14 and 15 of /proc/PID/stat, all threads), ticks
    local p sum=0 f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) } # after "pid (comm) ": field 3 (state) is now the first
        # shellcheck disable=SC2086
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo $sum
}
status_kb() { # field pids... -> sum of /proc/PID/status field, kB
    local field=$1 p sum=0 v
    shift
    for p in "$@"; do
        v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo $sum
}

# Starts proxy $1 (or the backend), records its pid, waits until it answers.
start_proxy() { # name
    local name=$1 cmd=${start_cmd[$1]} u
    # shellcheck disable=SC2086
    $cmd >"$tmp/$name.out" 2>&1 &
    pid[$name]=$!
    started_pids+=("${pid[$name]}")
    if [ "$name" = frontdesk ]; then u="http://127.0.0.1:$fd_admin_port/ready"; else u=${url[$name.h1]}; fi
    if ! wait_http "${pid[$name]}" "$u" 10; then
        echo "---- $name output:" >&2
        tail -30 "$tmp/$name.out" >&2
        [ -f "$tmp/$name/error.log" ] && tail -30 "$tmp/$name/error.log" >&2
        die "$name did not start: $cmd"
    fi
}

# One request each way, checked, before anything is measured.
sanity_check() { # name
    local name=$1 body out
    body=$(curl -s -m 2 "${url[$name.h1]}")
    [ "$body" = hello ] || die "$name: HTTP/1.1 GET ${url[$name.h1]} answered '$body', not 'hello'"
    if [[ " $PROTOCOLS " == *" h2 "* ]]; then
        out=$(timeout 10 h2load -n 4 -c 1 "${url[$name.h2]}" 2>&1)
        grep -q "4 succeeded" <<<"$out" && grep -q "status codes: 4 2xx" <<<"$out" ||
            die "$name: h2c prior-knowledge requests to ${url[$name.h2]} failed:"$'\n'"$out"
    fi
}

# ---------------------------------------------------------------------------------------
echo "== frontdesk bench: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   rounds $ROUNDS, $DURATION s per measured run (+$WARMUP s warm-up, +$SYSCALL_SECONDS s syscall pass)"
echo "   CPU 0: backend nginx + load generator; CPU 1: the proxy under test"
echo "   syscalls counted with: $syscall_method"
# How busy the machine is right now, without us: both CPUs over one second.
read -r idle_b0 idle_t0 _ < <(awk '$1 == "cpu" {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t}' /proc/stat)
sleep 1
read -r idle_b1 idle_t1 _ < <(awk '$1 == "cpu" {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t}' /proc/stat)
busy_before=$(((idle_b1 - idle_b0) * 100 / ((idle_t1 - idle_t0) > 0 ? (idle_t1 - idle_t0) : 1)))
echo "   CPU busy before starting (both cores, 1 s): $busy_before%"
[ "$busy_before" -ge 10 ] &&
    echo "   WARNING: something else is using the CPUs: numbers will be noisy (see 'other CPU1' per run)"

log "starting backend: $backend_cmd"
# shellcheck disable=SC2086
$backend_cmd >"$tmp/backend.out" 2>&1 &
pid[backend]=$!
started_pids+=("${pid[backend]}")
wait_http "${pid[backend]}" "http://127.0.0.1:$backend_port/" 10 || {
    tail -n 20 "$tmp/backend.out" "$tmp/backend/error.log" >&2
    die "backend nginx did not start: $backend_cmd"
}

fd_start_rss_kb=null
for p in $PROXIES; do
    log "starting $p: ${start_cmd[$p]}"
    start_proxy "$p"
    if [ "$p" = frontdesk ]; then fd_start_rss_kb=$(status_kb VmRSS "${pid[frontdesk]}"); fi
    sanity_check "$p"
done

echo
echo "== command lines"
echo "build:     (cd $repo && $build_cmd)"
echo "backend:   $backend_cmd"
for p in $PROXIES; do printf '%-10s %s\n' "$p:" "${start_cmd[$p]}"; done
for p in $PROXIES; do
    for proto in $PROTOCOLS; do
        printf 'load %-2s %-9s %s\n' "$proto" "$p" "$(load_cmd "$proto" "$DURATION" "${url[$p.$proto]}" "$tmp/h2load.log")"
    done
done
if [ "$syscall_method" = perf ]; then
    echo "syscalls:  perf stat -x, -e raw_syscalls:sys_enter -p PIDS (attached during a separate $SYSCALL_SECONDS s load run)"
else
    echo "syscalls:  strace -c -f -q -p PID... (attached during a separate $SYSCALL_SECONDS s load run)"
fi
echo "cpu:       utime+stime (/proc/PID/stat fields 14+15, CLK_TCK=$clk_tck) of every proxy process, before and after the measured run"
echo "configs:   $tmp (deleted at exit unless KEEP_TMP=1)"
echo

mkdir -p "$results_dir"
# The results directory holds the latest run only.
rm -f "$results_dir"/latest.json "$results_dir"/load-*.txt "$results_dir"/strace-*.txt "$results_dir"/crash-*.out
rm -rf "$results_dir"/crash-*-config
runs_file="$tmp/runs.jsonl"
: >"$runs_file"
failures=0

# Parses the load generator's output into the run's JSON fields (requests, latencies, errors).
parse_wrk() { # outfile -> json
    local j
    j=$(sed -n 's/^BENCH_JSON //p' "$1" | tail -1)
    [ -n "$j" ] || return 1
    jq -c '{requests, rps: (.requests / (.duration_us / 1e6)), p50_us, p99_us,
            errors: {connect: .err_connect, read: .err_read, write: .err_write, timeout: .err_timeout, non_2xx_3xx: .err_status}}' <<<"$j"
}
parse_h2load() { # outfile logfile -> json
    local out=$1 logf=$2 rps done_n failed errored tout s2 s3 s4 s5 p50 p99
    rps=$(sed -n 's/^finished in [0-9.]*[a-z]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
    read -r done_n failed errored tout < <(sed -n 's/^requests: .* \([0-9]*\) done, [0-9]* succeeded, \([0-9]*\) failed, \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2 \3 \4/p' "$out")
    read -r s2 s3 s4 s5 < <(sed -n 's/^status codes: \([0-9]*\) 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx.*/\1 \2 \3 \4/p' "$out")
    [ -n "$rps" ] && [ -n "$done_n" ] && [ -n "$s2" ] || return 1
    # h2load prints no percentiles: take them from its per-request log (3rd column, µs).
    read -r p50 p99 < <(cut -f3 "$logf" 2>/dev/null | sort -n | awk '{a[NR] = $1}
        END {if (NR == 0) {print "null null"; exit}
             i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999);
             print a[i50], a[i99]}')
    jq -nc --argjson rps "$rps" --argjson n "$done_n" --argjson p50 "${p50:-null}" --argjson p99 "${p99:-null}" \
        --argjson failed "$failed" --argjson errored "$errored" --argjson tout "$tout" \
        --argjson s3 "$s3" --argjson s4 "$s4" --argjson s5 "$s5" \
        '{requests: $n, rps: $rps, p50_us: $p50, p99_us: $p99,
          errors: {failed: $failed, errored: $errored, timeout: $tout, non_2xx: ($s3 + $s4 + $s5), "4xx": $s4, "5xx": $s5}}'
}

# Counts the proxy's syscalls during a separate short load run. Echoes "syscalls requests".
syscall_pass() { # name proto
    local name=$1 proto=$2 pids cmd sp out n req
    pids=$(proxy_pids "${pid[$name]}")
    out="$tmp/sys.$name.$proto"
    if [ "$syscall_method" = perf ]; then
        # shellcheck disable=SC2086
        perf stat -x, -e raw_syscalls:sys_enter -o "$out.perf" -p "$(echo $pids | tr ' ' ,)" >/dev/null 2>&1 &
    else
        # shellcheck disable=SC2046,SC2086
        strace -c -f -q -o "$out.strace" $(printf -- '-p %s ' $pids) >/dev/null 2>&1 &
    fi
    sp=$!
    started_pids+=("$sp")
    sleep 0.3 # attached before the load starts
    cmd=$(load_cmd "$proto" "$SYSCALL_SECONDS" "${url[$name.$proto]}")
    # shellcheck disable=SC2086
    run_load "$SYSCALL_SECONDS" "$out.load" $cmd
    kill -INT "$sp" 2>/dev/null
    wait "$sp" 2>/dev/null
    forget_pid "$sp"
    if [ "$syscall_method" = perf ]; then
        n=$(awk -F, '/raw_syscalls:sys_enter/ && $1 ~ /^[0-9]+$/ {print $1}' "$out.perf" 2>/dev/null)
    else
        n=$(awk '$NF == "total" {print $4}' "$out.strace" 2>/dev/null)
    fi
    if [ "$proto" = h1 ]; then
        req=$(sed -n 's/^BENCH_JSON .*"requests":\([0-9]*\).*/\1/p' "$out.load")
    else
        req=$(sed -n 's/^requests: .* \([0-9]*\) done,.*/\1/p' "$out.load")
    fi
    echo "${n:-null} ${req:-null}"
}

# An strace -c breakdown by syscall (SYSCALL_BREAKDOWN=1), saved to results/.
strace_breakdown() { # name proto
    local name=$1 proto=$2 pids cmd sp f
    pids=$(proxy_pids "${pid[$name]}")
    f="$results_dir/strace-$name-$proto.txt"
    # shellcheck disable=SC2046,SC2086
    strace -c -f -q -o "$f" $(printf -- '-p %s ' $pids) >/dev/null 2>&1 &
    sp=$!
    started_pids+=("$sp")
    sleep 0.3
    cmd=$(load_cmd "$proto" "$SYSCALL_SECONDS" "${url[$name.$proto]}")
    # shellcheck disable=SC2086
    run_load "$SYSCALL_SECONDS" "$tmp/strace.load" $cmd
    kill -INT "$sp" 2>/dev/null
    wait "$sp" 2>/dev/null
    forget_pid "$sp"
    if [ "$proto" = h1 ]; then
        sed -n 's/^BENCH_JSON .*"requests":\([0-9]*\).*/requests served under strace: \1/p' "$tmp/strace.load" >>"$f"
    else
        sed -n 's/^requests: .* \([0-9]*\) done,.*/requests served under strace: \1/p' "$tmp/strace.load" >>"$f"
    fi
}

# Reports a dead proxy: how it ended, its last output, how to reproduce. Restarts it.
proxy_died() { # name proto round
    local name=$1 rc
    wait "${pid[$name]}" 2>/dev/null
    rc=$?
    echo
    echo "!! $name DIED during round $3 ($2): exit status $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))")"
    echo "!! its last output:"
    tail -30 "$tmp/$name.out" | sed 's/^/!!   /'
    echo "!! reproduce: ${start_cmd[$name]}   (config: $tmp/$name.d/envoy.yaml, kept: KEEP_TMP=1)"
    echo "!!        and: $(load_cmd "$2" "$DURATION" "${url[$name.$2]}")"
    KEEP_TMP=1
    cp -r "$tmp/$name.d" "$results_dir/crash-$name-config" 2>/dev/null
    cp "$tmp/$name.out" "$results_dir/crash-$name.out" 2>/dev/null
    log "restarting $name"
    start_proxy "$name"
}

# /proc/stat for one CPU: "busy total steal" in jiffies (busy excludes idle and iowait).
cpu_jiffies() { # cpu index
    awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t, $9}' /proc/stat
}

# Formats a number with d decimals, or "-" for a missing one.
fmt() { # value decimals
    if [[ $1 =~ ^-?[0-9.]+([eE][-+]?[0-9]+)?$ ]]; then printf "%.${2}f" "$1"; else printf -- -; fi
}
# One line of the table, from a summary or run object (jq) on stdin.
row_fields='[.proto, .proxy, .rps, .p50_us, .p99_us, .proxy_cpu_pct, .cpu1_other_pct, .cpu0_busy_pct, .cpu_us_per_req,
             .syscalls_per_req, .peak_rss_kb, .upstream_connections_opened, .errors_total, (.crashes // 0)]
            | map(. // "-") | @tsv'
table_header() {
    printf '%-5s %-9s %9s %7s %7s %6s %6s %6s %8s %9s %8s %8s %7s\n' proto proxy req/s "p50 ms" "p99 ms" \
        "proxy" "other" "CPU0" "CPU us" "syscalls" "peak" "upstream" errors
    printf '%-5s %-9s %9s %7s %7s %6s %6s %6s %8s %9s %8s %8s %7s\n' "" "" "" "" "" "CPU1" "CPU1" "busy" "per req" \
        "per req" "RSS MiB" "conns" ""
}
table_row() { # tsv fields of row_fields
    local proto proxy rps p50 p99 cpu other cpu0 us sys rss up err crashes
    IFS=$'\t' read -r proto proxy rps p50 p99 cpu other cpu0 us sys rss up err crashes
    [ "$p50" != - ] && p50=$(awk -v v="$p50" 'BEGIN {print v / 1000}')
    [ "$p99" != - ] && p99=$(awk -v v="$p99" 'BEGIN {print v / 1000}')
    [ "$rss" != - ] && rss=$(awk -v v="$rss" 'BEGIN {print v / 1024}')
    [ "$crashes" != 0 ] && err="$err CRASHED x$crashes"
    printf '%-5s %-9s %9s %7s %7s %5s%% %5s%% %5s%% %8s %9s %8s %8s %7s\n' "$proto" "$proxy" "$(fmt "$rps" 0)" \
        "$(fmt "$p50" 3)" "$(fmt "$p99" 3)" "$(fmt "$cpu" 0)" "$(fmt "$other" 0)" "$(fmt "$cpu0" 0)" "$(fmt "$us" 2)" \
        "$(fmt "$sys" 2)" "$(fmt "$rss" 1)" "$(fmt "$up" 0)" "$err"
}

# The backend's counters (stub_status): "accepted_connections requests". Each reading
# counts its own connection and request, hence the "- 1" where two readings are compared.
backend_counts() {
    curl -s -m 2 "http://127.0.0.1:$backend_port/__bench_status" | awk 'NR == 3 {print $1, $3}'
}

measure() { # round name proto
    local round=$1 name=$2 proto=$3 u=${url[$2.$3]} pids c0 c1 t0 t1 j0 j1 s0 s1 cmd out rj hwm sys crashed=false rc
    out="$tmp/load.$name.$proto.$round"
    # Warm-up.
    if [ "$WARMUP" -gt 0 ]; then
        # shellcheck disable=SC2046
        run_load "$WARMUP" "$out.warm" $(load_cmd "$proto" "$WARMUP" "$u")
    fi
    pids=$(proxy_pids "${pid[$name]}")
    rm -f "$tmp/h2load.log"
    cmd=$(load_cmd "$proto" "$DURATION" "$u" "$tmp/h2load.log")
    bk0=$(backend_counts)
    j0=$(cpu_jiffies 0)
    s0=$(cpu_jiffies 1)
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    # shellcheck disable=SC2086
    run_load "$DURATION" "$out" $cmd
    rc=$?
    # A proxy that died during the run has no CPU time or peak RSS left to read.
    kill -0 "${pid[$name]}" 2>/dev/null || crashed=true
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    t1=$(date +%s%N)
    j1=$(cpu_jiffies 0)
    s1=$(cpu_jiffies 1)
    bk1=$(backend_counts)
    # shellcheck disable=SC2086
    hwm=$(status_kb VmHWM $pids)
    if [ "$crashed" = true ]; then c1=$c0 hwm=null; fi
    if [ "$proto" = h1 ]; then rj=$(parse_wrk "$out"); else rj=$(parse_h2load "$out" "$tmp/h2load.log"); fi
    if [ -z "$rj" ]; then
        echo "!! $name $proto round $round: could not parse the load generator's output (exit $rc):"
        tail -20 "$out" | sed 's/^/!!   /'
        rj='{"requests": null, "rps": null, "p50_us": null, "p99_us": null, "errors": {"unparsed_output": 1}}'
    fi
    cp "$out" "$results_dir/load-$name-$proto-round$round.txt"
    if [ "$crashed" = true ]; then
        proxy_died "$name" "$proto" "$round"
        sys="null null"
    else
        sys=$(syscall_pass "$name" "$proto")
        if ! kill -0 "${pid[$name]}" 2>/dev/null; then
            crashed=true
            proxy_died "$name" "$proto" "$round (syscall pass)"
        fi
    fi
    read -r sysn sysreq <<<"$sys"
    read -r b0 tot0 _ <<<"$j0"
    read -r b1 tot1 _ <<<"$j1"
    read -r sb0 stot0 st0 <<<"$s0"
    read -r sb1 stot1 st1 <<<"$s1"
    read -r ba0 br0 <<<"$bk0"
    read -r ba1 br1 <<<"$bk1"
    rj=$(jq -c --argjson round "$round" --arg proxy "$name" --arg proto "$proto" --arg cmd "$cmd" \
        --argjson ticks "$((c1 - c0))" --argjson tck "$clk_tck" --argjson wall_ns "$((t1 - t0))" \
        --argjson cpu0 "$(((b1 - b0) * 100 / ((tot1 - tot0) > 0 ? (tot1 - tot0) : 1)))" \
        --argjson steal1 "$(((st1 - st0) * 100 / ((stot1 - stot0) > 0 ? (stot1 - stot0) : 1)))" \
        --argjson busy1 "$(((sb1 - sb0) * 100 / ((stot1 - stot0) > 0 ? (stot1 - stot0) : 1)))" \
        --argjson hwm "$hwm" --argjson sysn "$sysn" --argjson sysreq "$sysreq" --argjson crashed "$crashed" \
        --argjson nproc "$(wc -w <<<"$pids")" --argjson load_rc "$rc" \
        --argjson upconns "$((${ba1:-0} - ${ba0:-0} - 1))" --argjson backreq "$((${br1:-0} - ${br0:-0} - 1))" \
        '{round: $round, proxy: $proxy, proto: $proto, command: $cmd, load_exit_status: $load_rc} + . +
         {wall_s: ($wall_ns / 1e9), cpu_ticks: $ticks, proxy_processes: $nproc,
          cpu_us_per_req: (if $crashed then null elif (.requests // 0) > 0 then $ticks * 1e6 / $tck / .requests else null end),
          proxy_cpu_pct: (if $crashed then null else $ticks / $tck * 100 / ($wall_ns / 1e9) end),
          cpu0_busy_pct: $cpu0, cpu1_busy_pct: $busy1, cpu1_steal_pct: $steal1,
          upstream_connections_opened: $upconns, backend_requests: $backreq,
          peak_rss_kb: $hwm,
          syscalls: $sysn, syscall_requests: $sysreq,
          syscalls_per_req: (if $sysn != null and ($sysreq // 0) > 0 then $sysn / $sysreq else null end),
          crashed: $crashed, crashes: (if $crashed then 1 else 0 end),
          cpu1_other_pct: (if $crashed then null else ([$busy1 - ($ticks / $tck * 100 / ($wall_ns / 1e9)), 0] | max) end),
          errors_total: ([.errors[]?] | add // 0)}' <<<"$rj")
    echo "$rj" >>"$runs_file"
    printf '[round %d] ' "$round"
    jq -r "$row_fields" <<<"$rj" | table_row
    if [ "$crashed" = true ] || [ "$(jq '.errors_total' <<<"$rj")" != 0 ]; then failures=$((failures + 1)); fi
}

echo "== runs (each line: one measured run; CPU0 busy = backend + load generator)"
printf '%10s' ""
table_header | sed '2s/^/          /'
for ((round = 1; round <= ROUNDS; round++)); do
    for proto in $PROTOCOLS; do
        for p in $PROXIES; do
            measure "$round" "$p" "$proto"
            if [ "$round" = 1 ] && [ "$SYSCALL_BREAKDOWN" = 1 ]; then strace_breakdown "$p" "$proto"; fi
        done
    done
done

# ---------------------------------------------------------------------------------------
# Summary: medians over the rounds, and frontdesk's ratios.
versions=$(jq -n --arg nginx "$(nginx -v 2>&1 | head -1)" --arg haproxy "$(haproxy -v 2>&1 | head -1)" \
    --arg wrk "$(wrk -v 2>&1 | head -1)" --arg h2load "$(h2load --version 2>&1 | head -1)" \
    --arg frontdesk "$("$fd_bin" --version 2>&1 | head -1)" \
    '{nginx: $nginx, haproxy: $haproxy, wrk: $wrk, h2load: $h2load, frontdesk: $frontdesk}')
commands=$(
    {
        echo "build=(cd $repo && $build_cmd)"
        echo "backend=$backend_cmd"
        for p in $PROXIES; do echo "$p=${start_cmd[$p]}"; done
        for p in $PROXIES; do for proto in $PROTOCOLS; do
            echo "load_${proto}_$p=$(load_cmd "$proto" "$DURATION" "${url[$p.$proto]}" "$tmp/h2load.log")"
        done; done
        if [ "$syscall_method" = perf ]; then echo "syscalls=perf stat -x, -e raw_syscalls:sys_enter -p PIDS"; else echo "syscalls=strace -c -f -q -p PID..."; fi
    } | jq -Rn '[inputs | capture("^(?<k>[^=]*)=(?<v>.*)$") | {(.k): .v}] | add'
)
git_rev=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(cd "$repo" && [ -n "$(git status --porcelain -- proxy 2>/dev/null)" ] && echo true || echo false)

jq -s --argjson rounds "$ROUNDS" --argjson dur "$DURATION" --argjson warm "$WARMUP" \
    --argjson sysdur "$SYSCALL_SECONDS" --argjson conns "$CONNS" --argjson streams "$STREAMS" \
    --argjson nginx_keepalive "$NGINX_KEEPALIVE" --arg method "$syscall_method" --argjson start_rss "$fd_start_rss_kb" --argjson versions "$versions" \
    --argjson commands "$commands" --arg rev "$git_rev" --argjson dirty "$git_dirty" \
    --arg kernel "$(uname -r)" --argjson nproc "$(nproc)" --arg cpu "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" \
    --argjson busy_before "$busy_before" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
    def median: map(select(. != null)) | sort |
        if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;
    . as $runs |
    ([group_by(.proto + "/" + .proxy)[] | . as $all | map(select(.crashed | not)) | {
        proto: $all[0].proto, proxy: $all[0].proxy, rounds: ($all | length), rounds_without_crash: length,
        rps: (map(.rps) | median), p50_us: (map(.p50_us) | median), p99_us: (map(.p99_us) | median),
        proxy_cpu_pct: (map(.proxy_cpu_pct) | median), cpu0_busy_pct: (map(.cpu0_busy_pct) | median),
        cpu1_other_pct: (map(.cpu1_other_pct) | median),
        cpu1_steal_pct_max: (map(.cpu1_steal_pct) | max),
        upstream_connections_opened: (map(.upstream_connections_opened) | median),
        cpu_us_per_req: (map(.cpu_us_per_req) | median),
        cpu_us_per_req_range: [(map(.cpu_us_per_req) | map(select(. != null)) | min), (map(.cpu_us_per_req) | map(select(. != null)) | max)],
        syscalls_per_req: (map(.syscalls_per_req) | median),
        peak_rss_kb: (map(.peak_rss_kb) | max),
        errors_total: ($all | map(.errors_total) | add), crashes: ($all | map(select(.crashed)) | length)
    }]) as $summary |
    {
      date: $date, git: {commit: $rev, proxy_tree_dirty: $dirty},
      machine: {nproc: $nproc, kernel: $kernel, cpu: $cpu, loadavg_at_end: $load, cpu_busy_pct_before_start: $busy_before},
      settings: {nginx_upstream_keepalive: $nginx_keepalive, rounds: $rounds, duration_s: $dur, warmup_s: $warm, syscall_pass_s: $sysdur,
                 connections: $conns, h2_streams_per_connection: $streams, syscall_method: $method,
                 pinning: {proxy: "CPU 1", backend: "CPU 0", load_generator: "CPU 0"}},
      versions: $versions, commands: $commands,
      frontdesk_start_rss_kb: $start_rss,
      summary: $summary,
      ratios: ([$summary[] | select(.proxy == "frontdesk")] | map(. as $fd | {
          proto: $fd.proto,
          cpu_per_req: {
            frontdesk_over_nginx: ratio($fd.cpu_us_per_req; ([$summary[] | select(.proto == $fd.proto and .proxy == "nginx") | .cpu_us_per_req] | .[0])),
            frontdesk_over_haproxy: ratio($fd.cpu_us_per_req; ([$summary[] | select(.proto == $fd.proto and .proxy == "haproxy") | .cpu_us_per_req] | .[0]))},
          p99: {
            frontdesk_over_nginx: ratio($fd.p99_us; ([$summary[] | select(.proto == $fd.proto and .proxy == "nginx") | .p99_us] | .[0])),
            frontdesk_over_haproxy: ratio($fd.p99_us; ([$summary[] | select(.proto == $fd.proto and .proxy == "haproxy") | .p99_us] | .[0]))}
      })),
      runs: $runs
    }' "$runs_file" >"$results_dir/latest.json" || die "could not write $results_dir/latest.json"

echo
echo "== results: medians over $ROUNDS round(s) of $DURATION s; proxy alone on CPU 1"
table_header
jq -r '.summary | sort_by(.proto, ({"frontdesk": 0, "nginx": 1, "haproxy": 2}[.proxy]))[] | '"$row_fields" \
    "$results_dir/latest.json" | while IFS= read -r line; do table_row <<<"$line"; done
echo
echo "frontdesk / other (below 1: frontdesk uses less CPU per request, or has the lower p99)"
printf '%-5s %-11s %9s %11s\n' proto metric fd/nginx fd/haproxy
jq -r '.ratios[] | [.proto, "CPU us/req", .cpu_per_req.frontdesk_over_nginx, .cpu_per_req.frontdesk_over_haproxy],
                   [.proto, "p99", .p99.frontdesk_over_nginx, .p99.frontdesk_over_haproxy] | map(. // "-") | @tsv' \
    "$results_dir/latest.json" | while IFS=$'\t' read -r proto metric a b; do
    printf '%-5s %-11s %9s %11s\n' "$proto" "$metric" "$(fmt "$a" 2)" "$(fmt "$b" 2)"
done
echo
echo "frontdesk RSS right after start (VmRSS, before any request): $(fmt "$(jq -r '.frontdesk_start_rss_kb // "-"' "$results_dir/latest.json")" 0) kB"
other=$(jq -r '[.runs[].cpu1_other_pct // 0] | max | floor' "$results_dir/latest.json")
[ "$other" -ge 5 ] 2>/dev/null &&
    echo "WARNING: other processes took up to $other% of CPU 1 during a run: those runs are noisy (per-run lines above)"
steal=$(jq -r '[.runs[].cpu1_steal_pct] | max // 0' "$results_dir/latest.json")
[ "${steal%.*}" -ge 2 ] 2>/dev/null && echo "WARNING: up to $steal% of CPU 1 was stolen by the hypervisor during a run: noisy numbers"
echo
echo "written: $results_dir/latest.json"
if [ "$SYSCALL_BREAKDOWN" = 1 ]; then echo "per-syscall tables: $results_dir/strace-*.txt"; fi
if [ "$failures" -ne 0 ]; then
    echo "bench: $failures run(s) had errors, non-2xx responses or a crash (see above)"
    exit 1
fi
exit 0
