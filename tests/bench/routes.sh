#!/bin/bash
# Route lookup cost against the number of routes: frontdesk with 10 and with 10,000 prefix
# routes (each a direct response, so the lookup is most of the work), the request matching
# the last route. Prints req/s and CPU microseconds per request for each, and the ratio.
# One pinned worker (CPU 1), wrk on CPU 0, loopback only, bounded by DURATION seconds.
#
# usage: tests/bench/routes.sh        (DURATION=8 ROUNDS=2 by default)
set -eu
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
bazel build -c opt --symlink_prefix=/ //proxy:frontdesk >/dev/null 2>&1 || { echo "routes: build failed"; exit 2; }
bin=$(bazel info -c opt bazel-bin 2>/dev/null)/proxy/frontdesk
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

write_config() { # n port
    {
        echo "static_resources:"
        echo "  listeners:"
        echo "  - name: routes"
        echo "    address: {socket_address: {address: 127.0.0.1, port_value: $2}}"
        echo "    filter_chains:"
        echo "    - filters:"
        echo "      - name: envoy.filters.network.http_connection_manager"
        echo "        typed_config:"
        echo "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
        echo "          stat_prefix: routes"
        echo "          http_filters: [{name: envoy.filters.http.router}]"
        echo "          route_config:"
        echo "            virtual_hosts:"
        echo "            - name: all"
        echo "              domains: [\"*\"]"
        echo "              routes:"
        for ((i = 0; i < $1; i++)); do
            echo "              - {match: {prefix: \"/svc$i/\"}, direct_response: {status: 200, body: {inline_string: ok}}}"
        done
    } >"$tmp/routes-$1.yaml"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # n -> "rps cpu_us_per_req"
    local port=$((20000 + RANDOM % 10000))
    write_config "$1" "$port"
    taskset -c 1 "$bin" -c "$tmp/routes-$1.yaml" --concurrency 1 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/svc0/" >/dev/null && break; sleep 0.1; done
    local url="http://127.0.0.1:$port/svc$(($1 - 1))/x"
    taskset -c 0 wrk -t1 -c32 -d2s "$url" >/dev/null
    local before out after hz
    hz=$(getconf CLK_TCK)
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 wrk -t1 -c32 -d"${DURATION}s" "$url")
    after=$(cpu_ticks "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    local requests
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')"
}

echo "routes   req/s     CPU us/req   (round)"
for round in $(seq "$ROUNDS"); do
    for n in 10 10000; do
        read -r rps cpu < <(measure "$n")
        printf "%-8s %-9s %-12s %s\n" "$n" "$rps" "$cpu" "$round"
        echo "$n $rps $cpu" >>"$tmp/results"
    done
done
awk '{rps[$1] += $2; cpu[$1] += $3; n[$1]++}
     END {printf "\n10,000 routes vs 10: req/s ratio %.3f, CPU per request ratio %.3f\n",
          (rps[10000] / n[10000]) / (rps[10] / n[10]), (cpu[10000] / n[10000]) / (cpu[10] / n[10])}' "$tmp/results"
