#!/usr/bin/env bash
# Runs every test suite against a sanitizer build (ASan + UBSan) and prints one summary line.
#   scripts/run-tests.sh [BUILD_DIR]     (default build-test)
# NVFAB_SKIP_INTEROP=1 skips the qemu suites (they take a few minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-test}
[ "$BUILD" = build ] && BUILD=build-test  # `make test` passes the release dir; tests want sanitizers

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false --buildtype=debug >/dev/null || exit 1
fi
ninja -C "$BUILD" || exit 1

passed=0 failed=0 failures=()
# Each suite's output is also kept, so that a failure can be summed up again at the very end:
# CI shows only the last lines of a run, and a failing part's own lines are minutes above.
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-test-logs.XXXXXX")
suite() {  # suite NAME COMMAND...
  local name=$1; shift
  local start=$SECONDS
  echo "=== $name"
  # Not a pipe into tee: a daemon a suite left behind holding the pipe would hang the run.
  if "$@" > >(tee "$LOGS/$name.log") 2>&1; then
    passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}
# The lines of a failed suite's log that say what failed (pytest's, meson's and the interop
# parts' verdicts, sanitizer reports, guest steps that failed), at most 25 of them.
failure_digest() {  # failure_digest NAME
  echo "--- $1: what failed (whole log: $LOGS/$1.log)"
  grep -a -E 'FAILED|FAIL:|^FAIL|ERROR|[Ee]rror:|failed|Timeout|timed out|SUMMARY: |runtime error|STEP .*(fail|FAIL)' \
    "$LOGS/$1.log" | grep -a -v -E '^=== [a-z0-9-]+$' | tail -n 25 | cut -c 1-240
}

suite unit meson test -C "$BUILD" --suite unit --print-errorlogs
suite integration env NVFAB_BUILD="$BUILD" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
# The same suite once more with nvfabd under valgrind memcheck (release build): catches what
# the sanitizers do not instrument, such as uninitialised bytes sent on the wire.
if [ -x build/apps/nvfabd ] && command -v valgrind >/dev/null; then
  suite memcheck env NVFAB_BUILD=build \
    NVFAB_EXEC_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
fi
if [ -x tests/interop/run.sh ] && [ "${NVFAB_SKIP_INTEROP:-0}" != 1 ]; then
  suite interop tests/interop/run.sh "$BUILD"
fi
if [ -x tests/package/deb-test.sh ]; then
  suite package tests/package/deb-test.sh
fi
# 20 s per harness here (after the regressions replay) keeps `make test` under 20 minutes;
# `make fuzz` runs longer (tests/fuzz/run.sh: 28 s, or NVFAB_FUZZ_SECONDS).
if [ -x tests/fuzz/run.sh ]; then
  suite fuzz env NVFAB_FUZZ_SECONDS="${NVFAB_FUZZ_SECONDS:-20}" tests/fuzz/run.sh
fi
if [ -x bench/run.sh ]; then
  suite bench-smoke bench/run.sh build --smoke
fi

for name in "${failures[@]}"; do failure_digest "$name"; done
[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && rm -rf "$LOGS"
[ "$failed" -eq 0 ]
