#!/usr/bin/env bash
# The nvfab benchmark (docs/performance.md explains what it measures and how to read it).
#
#   bench/run.sh [BUILD_DIR] [--smoke | --quick | --full] [--out DIR] [--sections LIST]
#
#   --smoke  CI check (< 60 s): one short run of each kind, no timing asserted; fails if
#            `nvfab perf` is missing or any measurement fails. Results go to a temp dir.
#   --quick  every section once, 2 s per measurement (default; `make bench`)
#   --full   every section, 3 interleaved repetitions (`make bench FULL=1`)
#
# Writes bench/results/<date>-<host>/report.md, PNG plots and the raw JSON (smoke: a temp dir,
# unless --out). BENCH_SECONDS and BENCH_REPS override the mode's duration and repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build
MODE=
OUT=
SECTIONS=
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --out) OUT=$2; shift ;;
    --sections) SECTIONS=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
# `make bench FULL=1` exports FULL to this script.
if [ -z "$MODE" ]; then
  if [ -n "${FULL:-}" ] && [ "${FULL}" != 0 ]; then MODE=full; else MODE=quick; fi
fi

log() { echo "[bench] $*"; }

# Tools: gnuplot for the plots, valgrind for instructions per I/O. Installed once, idempotently
# (not by the smoke run, which must stay fast: it skips what is missing and says so).
need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ] && [ "$MODE" = smoke ]; then
  log "note: ${need[*]} not installed: the smoke run skips plots / instruction counts"
  need=()
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  if ! { $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
         { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; }; then
    log "cannot install ${need[*]}"; exit 1
  fi
fi

# The build must be current (bench/nvfab-floor, apps/nvfabd, apps/nvfab/nvfab).
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" >/dev/null
fi
ninja -C "$BUILD" >/dev/null || { log "ninja -C $BUILD failed"; ninja -C "$BUILD" | tail -30; exit 1; }
for exe in "$BUILD/apps/nvfabd" "$BUILD/bench/nvfab-floor"; do
  [ -x "$exe" ] || { log "missing $exe"; exit 1; }
done

if [ -z "$OUT" ]; then
  if [ "$MODE" = smoke ]; then
    OUT=$(mktemp -d /tmp/nvfab-bench-smoke.XXXXXX)
  else
    OUT="bench/results/$(date +%Y-%m-%d)-$(hostname -s)"
    n=2
    while [ -e "$OUT" ]; do OUT="bench/results/$(date +%Y-%m-%d)-$(hostname -s)-$n"; n=$((n + 1)); done
  fi
fi
mkdir -p "$OUT"

args=(--build "$BUILD" --mode "$MODE" --out "$OUT")
[ -n "$SECTIONS" ] && args+=(--sections "$SECTIONS")
if [ "$MODE" = smoke ]; then
  # Bounded: CI must never hang here.
  rc=0
  timeout -k 5 55 /usr/bin/python3 bench/bench.py "${args[@]}" || rc=$?
  [ $rc -eq 124 ] && log "smoke run exceeded 55 s"
  [ $rc -eq 0 ] && rm -rf "$OUT/work"
  exit $rc
fi
exec /usr/bin/python3 bench/bench.py "${args[@]}"
