#!/bin/bash
# Runs frontdesk's whole test suite: unit tests (cmocka, through Bazel), the e2e
# suite against the normal build and again against an ASan+UBSan build, and a bounded
# fuzzing run of every fuzz target. Installs what it needs first. The last line is
# "N passed, N failed"; the exit status is non-zero when anything failed.
#
# usage: tests/run.sh            (FUZZ_SECONDS=N to change the fuzzing time per target)
set -u
cd "$(dirname "$0")/.."
repo=$(pwd)
passed=0
failed=0
failures=()

note_result() { # name passed_count failed_count
    passed=$((passed + $2))
    failed=$((failed + $3))
    if [ "$3" -ne 0 ]; then failures+=("$1"); fi
    echo "== $1: $2 passed, $3 failed"
}

sh bazel/install_deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

# Bazel keeps its cache under the user's home; a CI clone starts from nothing.
BAZEL="bazel"

run_unit_tests() { # label, extra bazel flags...
    local label=$1 log
    shift
    log=$(mktemp)
    $BAZEL test "$@" //tests/unit/... >"$log" 2>&1
    local status=$?
    # cmocka prints one "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)..." per binary.
    local p f testlogs
    testlogs=$($BAZEL info "$@" bazel-testlogs 2>/dev/null)
    p=$(cat "$testlogs"/tests/unit/*/test.log 2>/dev/null | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s += $1} END {print s + 0}')
    f=$(cat "$testlogs"/tests/unit/*/test.log 2>/dev/null | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s += $1} END {print s + 0}')
    p=${p:-0}
    f=${f:-0}
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # a build failure or a crash before cmocka's summary
        tail -40 "$log"
    elif [ "$f" -ne 0 ]; then
        grep -h -B2 -A10 "FAILED\|ERROR" "$testlogs"/tests/unit/*/test.log | head -80
    fi
    rm -f "$log"
    note_result "$label" "$p" "$f"
}

run_e2e() { # label, binary
    local label=$1 log
    log=$(mktemp)
    FRONTDESK_BIN=$2 node --test --test-reporter=tap tests/e2e/ >"$log" 2>&1
    local p f
    p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
    p=${p:-0}
    f=${f:-1}
    if [ "$f" -ne 0 ]; then grep -B5 -A30 "^not ok\|^    not ok" "$log" | head -150; fi
    rm -f "$log"
    note_result "$label" "$p" "$f"
}

echo "== building (gcc, -Wall -Wextra -Werror)"
if ! $BAZEL build //... >/tmp/frontdesk-build.log 2>&1; then
    tail -40 /tmp/frontdesk-build.log
    note_result "build" 0 1
else
    note_result "build" 1 0
fi
run_unit_tests "unit tests"
run_e2e "e2e tests" "$repo/bazel-out/k8-fastbuild/bin/proxy/frontdesk"

# The same again under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer.
echo "== building with ASan+UBSan"
# A small quarantine: the memory tests measure the proxy, not ASan holding freed blocks.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$repo/tests/lsan.supp
if ! $BAZEL build --config=asan //... >/tmp/frontdesk-asan-build.log 2>&1; then
    tail -40 /tmp/frontdesk-asan-build.log
    note_result "asan build" 0 1
else
    note_result "asan build" 1 0
fi
run_unit_tests "unit tests (asan+ubsan)" --config=asan
run_e2e "e2e tests (asan+ubsan)" "$repo/bazel-out/k8-dbg/bin/proxy/frontdesk"

echo "== fuzzing (${FUZZ_SECONDS:-30} s per target)"
if bash tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"; then
    note_result "fuzz" 1 0
else
    note_result "fuzz" 0 1
fi

if [ ${#failures[@]} -ne 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
