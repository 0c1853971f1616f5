#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with clang (ASan + UBSan + libFuzzer) and
# runs each for SECONDS (default 30) over a scratch copy of its seed corpus, so the repo's
# corpus is never written to. Prints one line per target and a closing count; exits 1 if
# any target crashed, leaked, timed out or ran out of memory (the input that did it is
# kept; the failure line says how to reproduce it).
#
#   tests/fuzz/run.sh [SECONDS]       FUZZ_OUT=DIR puts the build and scratch files
#                                      elsewhere (default: build/fuzz, gitignored)
# Needs what bazel/install_deps.sh installs (clang, libclang-rt-14-dev, bazel, protobuf-c,
# libyaml, OpenSSL).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

duration=${1:-30}
if ! [[ $duration =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: tests/fuzz/run.sh [SECONDS]  (a whole number of seconds, at least 1)" >&2
    exit 2
fi
out=$(mkdir -p "${FUZZ_OUT:-build/fuzz}" && cd "${FUZZ_OUT:-build/fuzz}" && pwd)
targets=(bootstrap_yaml xds_resource http1_request)
loader_srcs=(bootstrap_load cfg_errors cfg_source pb_fields pb_merge ptrmap yaml_loader yaml_scalars yaml_wkt)
libs=(-lprotobuf-c -lyaml -lcrypto)
# What a target needs beyond the config loader: its own sources and libraries.
translator_srcs="$(echo proxy/config/translate*.c) proxy/config/config.c proxy/config/filter_registry.c \
proxy/config/pb_json.c proxy/accesslog/format.c proxy/accesslog/writer.c proxy/util/clock.c proxy/util/format.c \
proxy/util/text_buffer.c"
declare -A extra_srcs=([http1_request]="proxy/http/http1_head.c proxy/util/format.c" [xds_resource]="$translator_srcs")
declare -A extra_libs=([http1_request]="-lh2o-evloop -lssl"
    [xds_resource]="-lpcre2-8 -lh2o-evloop -lssl -ljansson -ldl -lpthread")

# --- build -------------------------------------------------------------------------

if ! bazel build //proto:envoy_api >"$out/bazel.log" 2>&1; then
    cat "$out/bazel.log" >&2
    echo "fuzz: 'bazel build //proto:envoy_api' failed (log above, also in $out/bazel.log)" >&2
    exit 1
fi
if ! gen=$(bazel info bazel-bin 2>/dev/null)/proto || [[ ! -f $gen/fd_proto_registry.c ]]; then
    echo "fuzz: no generated sources in bazel-bin/proto after 'bazel build //proto:envoy_api'" >&2
    exit 1
fi

export FUZZ_CC=${CC_FUZZ:-clang}
export FUZZ_CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
-Wall -Wextra -Werror -Wno-unused-parameter -Wno-deprecated-declarations -DH2O_USE_LIBUV=0 -I. -I$gen -Iproto"
export FUZZ_OBJ=$out/obj
# Objects are reused while the compiler, the flags and every file they read are unchanged.
stamp="$FUZZ_CC $($FUZZ_CC --version | head -1) $FUZZ_CFLAGS"
if [[ ! -f $out/flags || $(cat "$out/flags") != "$stamp" ]]; then
    rm -rf "$FUZZ_OBJ"
    printf '%s' "$stamp" >"$out/flags"
fi
mkdir -p "$FUZZ_OBJ" "$out/bin"

obj_of() { local rel=${1#"$gen"/}; echo "$FUZZ_OBJ/${rel//\//_}.o"; }

# True when the object of $1 is missing or older than the source or any header it used.
stale() {
    local obj dep
    obj=$(obj_of "$1")
    [[ -f $obj && -f $obj.d ]] || return 0
    # shellcheck disable=SC2013 # the dependency list is words, not lines
    for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d"); do
        [[ $dep -nt $obj ]] && return 0
    done
    return 1
}

compile() {
    local obj
    obj=$(obj_of "$1")
    # shellcheck disable=SC2086 # FUZZ_CFLAGS is a list of words
    $FUZZ_CC $FUZZ_CFLAGS -MMD -MF "$obj.d" -c "$1" -o "$obj.tmp" && mv "$obj.tmp" "$obj"
}
export -f obj_of compile
export gen

sources=("$gen/fd_proto_registry.c")
mapfile -t -O 1 sources < <(find -L "$gen" -name '*.pb-c.c' | sort)
for s in "${loader_srcs[@]}"; do sources+=("proxy/config/$s.c"); done
for t in "${targets[@]}"; do
    sources+=("tests/fuzz/${t}_fuzz.c")
    # shellcheck disable=SC2206 # a list of paths
    [[ -n ${extra_srcs[$t]:-} ]] && sources+=(${extra_srcs[$t]})
done

todo=()
for s in "${sources[@]}"; do stale "$s" && todo+=("$s"); done
# shellcheck disable=SC2016 # $1 is expanded by the inner bash
if ((${#todo[@]})) &&
    ! printf '%s\0' "${todo[@]}" | xargs -0 -n 1 -P "$(nproc)" bash -c 'compile "$1"' _ 2>"$out/compile.log"; then
    cat "$out/compile.log" >&2
    echo "fuzz: compiling the fuzz targets failed (errors above)" >&2
    exit 1
fi

common=()
for s in "${sources[@]}"; do [[ $s == tests/fuzz/* || " ${extra_srcs[*]} " == *" $s "* ]] || common+=("$(obj_of "$s")"); done
for t in "${targets[@]}"; do
    own=()
    for s in ${extra_srcs[$t]:-}; do own+=("$(obj_of "$s")"); done
    # shellcheck disable=SC2086 # FUZZ_CFLAGS and extra_libs are lists of words
    if ! $FUZZ_CC $FUZZ_CFLAGS -fsanitize=fuzzer "$(obj_of "tests/fuzz/${t}_fuzz.c")" "${own[@]}" "${common[@]}" \
        "${libs[@]}" ${extra_libs[$t]:-} -o "$out/bin/${t}_fuzz" 2>"$out/link.log"; then
        cat "$out/link.log" >&2
        echo "fuzz: linking ${t}_fuzz failed (errors above)" >&2
        exit 1
    fi
done

# --- run ---------------------------------------------------------------------------

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The last "#N ... cov: C ft: F corp: K/..." progress line, as "N C K".
progress() {
    grep -E '^#[0-9]+' "$1" | tail -1 | sed -E 's/^#([0-9]+).*cov: ([0-9]+).*corp: ([0-9]+).*/\1 \2 \3/;t;s/^#([0-9]+).*/\1 ? ?/'
}

# What went wrong, in one phrase, from a libFuzzer log.
failure() {
    local log=$1 line
    if grep -q 'ERROR: libFuzzer: timeout' "$log"; then
        echo "timeout: one input ran over 10 s"
    elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then
        echo "out of memory: $(grep -m1 -oE 'out-of-memory \([^)]*\)' "$log")"
    elif grep -q 'ERROR: LeakSanitizer' "$log"; then
        echo "leak: $(grep -m1 -oE '[0-9]+ byte\(s\) leaked in [0-9]+ allocation\(s\)' "$log")"
    elif line=$(grep -m1 -E 'runtime error:' "$log"); then
        echo "undefined behaviour: ${line#*runtime error: }"
    elif line=$(grep -m1 -E '^SUMMARY: ' "$log"); then
        echo "crash: ${line#SUMMARY: }"
    elif line=$(grep -m1 -E 'ERROR: libFuzzer: ' "$log"); then
        echo "crash: ${line#*ERROR: libFuzzer: }"
    else
        echo "the fuzzer exited with status $2 (see the log)"
    fi
}

passed=0 failed=0
for t in "${targets[@]}"; do
    work=$out/work/$t
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/crashes"
    if ! cp tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null; then
        echo "$t: FAILED: no seed corpus in tests/fuzz/corpus/$t/"
        failed=$((failed + 1))
        continue
    fi
    dict=()
    [[ $t == bootstrap_yaml ]] && dict=(-dict=tests/fuzz/yaml.dict)
    rc=0
    timeout -k 10 $((duration * 2 + 120)) "$out/bin/${t}_fuzz" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -max_total_time="$duration" -print_final_stats=1 -artifact_prefix="$work/crashes/" "${dict[@]}" \
        "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
    read -r runs cov corp <<<"$(progress "$work/fuzz.log")"
    rate=$(grep -m1 -oE 'average_exec_per_sec: *[0-9]+' "$work/fuzz.log" | grep -oE '[0-9]+$' || true)
    secs=$(grep -m1 -oE '^Done [0-9]+ runs in [0-9]+' "$work/fuzz.log" | grep -oE '[0-9]+$' || true)
    crash=$(find "$work/crashes" -type f | head -1)
    if ((rc == 0)) && [[ -z $crash ]]; then
        echo "$t: ok: ${runs:-0} runs in ${secs:-?} s (${rate:-?}/s), coverage ${cov:-?} edges, corpus ${corp:-?} inputs"
        passed=$((passed + 1))
    else
        echo "$t: FAILED ($(failure "$work/fuzz.log" "$rc")) after ${runs:-0} runs;" \
            "reproduce: $out/bin/${t}_fuzz ${crash:-<no input saved>}; log: $work/fuzz.log"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
