#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) and runs each for a bounded time.
#
#   tests/fuzz/run.sh [--update-corpus] [HARNESS...]     (default: all; `make fuzz`)
#
# For each harness: first every input in tests/fuzz/regressions/<harness>/ is replayed once
# (each is a crash or hang found earlier: it must pass now), then the fuzzer runs for
# NVFAB_FUZZ_SECONDS (default 28) on a copy of tests/fuzz/corpus/<harness>/, so the checked-in
# corpus is not modified; --update-corpus merges what the run found back into it (libFuzzer
# -merge=1 keeps only inputs that add coverage).
#
# A crash, leak, sanitizer report or hang fails the run; the input is kept in
# NVFAB_FUZZ_ARTIFACTS (default /tmp/nvfab-fuzz-artifacts). Reproduce with
#   build-fuzz/tests/fuzz/fuzz_<harness> <input>
# and, once fixed, add the input to tests/fuzz/regressions/<harness>/.
#
# Environment: NVFAB_FUZZ_SECONDS (per harness), NVFAB_FUZZ_BUILD (build dir, default
# build-fuzz), NVFAB_FUZZ_ARTIFACTS, NVFAB_FUZZ_VERBOSE=1 (the library's logs).
set -uo pipefail
cd "$(dirname "$0")/../.."

ALL=(target_rx host_rx rpc_config trid auth)
BUILD=${NVFAB_FUZZ_BUILD:-build-fuzz}
SECS=${NVFAB_FUZZ_SECONDS:-28}
ARTIFACTS=${NVFAB_FUZZ_ARTIFACTS:-/tmp/nvfab-fuzz-artifacts}
UPDATE=0
harnesses=()
for a in "$@"; do
  case $a in
    --update-corpus) UPDATE=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) harnesses+=("$a") ;;
  esac
done
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${ALL[@]}")

# Largest input per harness: a few PDUs of data for the receive paths, a config file, a line.
declare -A MAXLEN=([target_rx]=70000 [host_rx]=32768 [rpc_config]=8192 [trid]=1024 [auth]=4096)

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  # -fsanitize=fuzzer-no-link on every library: the fuzzer needs coverage of lib/, not only
  # of the harnesses (which meson links with -fsanitize=fuzzer).
  CC=clang meson setup "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false \
    -Dc_args=-fsanitize=fuzzer-no-link --buildtype=debugoptimized >/dev/null || exit 1
elif ! grep -q -- "-Dfuzz=true" "$BUILD/meson-logs/meson-log.txt" 2>/dev/null; then
  meson configure "$BUILD" -Dfuzz=true >/dev/null || exit 1
fi
targets=()
for h in "${harnesses[@]}"; do
  [ -n "${MAXLEN[$h]:-}" ] || { echo "fuzz: unknown harness $h (have: ${ALL[*]})" >&2; exit 2; }
  targets+=("tests/fuzz/fuzz_$h")
done
ninja -C "$BUILD" "${targets[@]}" >/dev/null || { ninja -C "$BUILD" "${targets[@]}"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$ARTIFACTS"
work=$(mktemp -d /tmp/nvfab-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for h in "${harnesses[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$h"
  echo "=== fuzz $h"
  # 1. Regressions: each input once.
  regs=()
  if [ -d "tests/fuzz/regressions/$h" ]; then
    while IFS= read -r -d '' f; do regs+=("$f"); done \
      < <(find "tests/fuzz/regressions/$h" -type f ! -name '.*' ! -name '*.md' -print0 | sort -z)
  fi
  if [ ${#regs[@]} -gt 0 ]; then
    if ! "$bin" -timeout=25 -rss_limit_mb=2048 "${regs[@]}" >"$work/$h.regress.log" 2>&1; then
      echo "fuzz $h: a regression input fails again:"
      grep -E "Running:|ERROR|SUMMARY|fuzz_|fuzz:" "$work/$h.regress.log" | tail -20
      tail -60 "$work/$h.regress.log"
      failed+=("$h(regression)")
      continue
    fi
    echo "fuzz $h: ${#regs[@]} regression input(s) pass"
  fi
  # 2. Fuzzing on a copy of the corpus.
  mkdir -p "$work/$h"
  cp -r "tests/fuzz/corpus/$h/." "$work/$h/" 2>/dev/null
  "$bin" "$work/$h" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=25 \
    -max_len="${MAXLEN[$h]}" -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$h-" \
    >"$work/$h.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$h.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$h.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$work/$h.log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz $h: FAILED (exit $rc) after ${execs:-?} executions:"
    grep -E "ERROR|SUMMARY|Test unit written|fuzz_|fuzz:|runtime error" "$work/$h.log" | tail -20
    tail -80 "$work/$h.log"
    echo "fuzz $h: the input is in $ARTIFACTS/ (reproduce: $bin <input>)"
    failed+=("$h")
    continue
  fi
  line=$(printf '%-11s %10s executions in %ss, %6s exec/s, %s' "$h" "${execs:-?}" "$SECS" "${rate:-?}" "${cov:-}")
  echo "fuzz $line"
  summary+=("$line")
  if [ $UPDATE -eq 1 ]; then
    "$bin" -merge=1 -max_len="${MAXLEN[$h]}" "tests/fuzz/corpus/$h" "$work/$h" >"$work/$h.merge.log" 2>&1 &&
      echo "fuzz $h: corpus merged: $(ls "tests/fuzz/corpus/$h" | wc -l) inputs"
  fi
done

echo "=== fuzz summary"
for l in "${summary[@]}"; do echo "  $l"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harness(es) clean"
