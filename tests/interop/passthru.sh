#!/usr/bin/env bash
# passthru.sh - interop part "passthru": NVMe passthrough (bdev_xnvme_create
# io_uring_cmd on /dev/ng0n1) on qemu's emulated NVMe SSD, with nvfabd running
# INSIDE the guest (Linux 6.1) next to the kernel's own NVMe/TCP host.
#
# usage: tests/interop/passthru.sh [BUILD] [--keep] [--bench ROUNDS] [--lbs 512|4096]
#
# Test (default): the guest's steps (guest/passthru.sh: refusals, id-ns, the
# device's own status codes, FUA/Flush in the device trace, the ext4 cycle),
# then, from this side through qemu's port forward, nvfab perf --verify randrw
# on the passthrough namespace (4 KiB in-capsule and 64 KiB R2T writes), then
# the guest stops nvfabd and checks its exit (and sanitizer reports).
#
# --bench ROUNDS: the guest's bench mode instead; prints its BENCH lines on
# stdout (bench/passthru.sh turns them into a report).
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

BUILD=build KEEP=0 BENCH="" LBS=4096
while (($#)); do
    case $1 in
        --keep) KEEP=1; shift ;;
        --bench) BENCH=$2; shift 2 ;;
        --lbs) LBS=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) BUILD=$1; shift ;;
    esac
done
cd "$REPO" || exit 3
NVFAB=$BUILD/apps/nvfab/nvfab
[[ -x $BUILD/apps/nvfabd && -x $NVFAB ]] || { ilog "no nvfabd/nvfab in $BUILD (build first)"; exit 3; }
TIMEOUT=${NVFAB_INTEROP_PART_TIMEOUT:-400}
PT=nqn.2026-12.io.nvfab:pt
DONE_NQN=nqn.2026-12.io.nvfab:host-done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-pt.XXXXXX")
cleanup() {
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The SSD: 1 GiB, sparse (a few MiB are written).
truncate -s 1G "$WORK/ssd.img"
nvfab_bundle "$BUILD" "$WORK/nvfab.tar" || exit 3
ilog "passthru: nvfabd of $BUILD (sanitize=$(build_sanitize "$BUILD")) in the guest, emulated SSD with $LBS-byte blocks"

if [[ -n $BENCH ]]; then
    rc=0
    "$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console.log" --nvme "$WORK/ssd.img:$LBS" \
        -f "$WORK/nvfab.tar" -e PT_LBS="$LBS" -e PT_BENCH="$BENCH" \
        -e PT_BENCH_SECS="${PT_BENCH_SECS:-5}" passthru.sh 2> "$WORK/run-guest.err" || rc=$?
    grep -a '^BENCH ' "$WORK/console.log" | tr -d '\r'
    if ((rc != 0)); then
        tr -d '\r' < "$WORK/console.log" | tail -n 60 >&2
        tail -n 1 "$WORK/run-guest.err" >&2
    fi
    exit "$rc"
fi

# Runs on this side once the guest is ready: the host's verified I/O through
# qemu's port forward, then the guest's own verdict (it stops nvfabd after
# the controller is gone).
cat > "$WORK/host-side.sh" <<EOF
set -u
trid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:\$NVFAB_INTEROP_PORT subnqn:$PT"
ok=1
for spec in "4096 16" "65536 4"; do
    set -- \$spec
    echo "host: nvfab perf --verify randrw -o \$1 -q \$2" >&2
    if ! "$NVFAB" perf -r "\$trid" -q "\$2" -o "\$1" -w randrw -t 6 --verify --epoll \
            > "$WORK/perf.\$1.out" 2>&1; then
        ok=0
    fi
    tail -n 1 "$WORK/perf.\$1.out" | sed 's/^/    host| /' >&2
    grep -q '^errors: 0 I/O, 0 verify' "$WORK/perf.\$1.out" || ok=0
done
# Tell the guest that the host is done: a controller with this host NQN.
"$NVFAB" identify -r "\$trid" -q "$DONE_NQN" > /dev/null ||
    echo "host: the done signal failed" >&2
# The guest answers within a few seconds of the last disconnect.
for _ in \$(seq 120); do
    grep -aq '^NVFAB-INTEROP-RESULT: ' "\$NVFAB_INTEROP_LOG" && break
    sleep 1
done
grep -aq '^NVFAB-INTEROP-RESULT: PASS' "\$NVFAB_INTEROP_LOG" || ok=0
((ok))
EOF

rc=0
"$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console.log" -p auto --nvme "$WORK/ssd.img:$LBS" \
    -f "$WORK/nvfab.tar" -e PT_LBS="$LBS" -e PT_DONE_NQN="$DONE_NQN" -x "bash $WORK/host-side.sh" \
    passthru.sh 2> "$WORK/run-guest.err" || rc=$?
grep -a -E '^(STEP |NVFAB-INTEROP-|nvfabd[:|] |passthru: )' "$WORK/console.log" | tr -d '\r' |
    sed 's/^/    guest| /' >&2
grep -a -E '^host: |    host\| ' "$WORK/run-guest.err" >&2 || true
tail -n 1 "$WORK/run-guest.err" | sed 's/^/    /' >&2
if ((rc != 0)); then
    guest_failure passthru "$rc" "$WORK/console.log" "$TIMEOUT"
    for f in "$WORK"/perf.*.out; do [[ -f $f ]] && tail -n 12 "$f" | sed 's/^/    perf| /' >&2; done
    KEEP=1
fi
exit "$rc"
