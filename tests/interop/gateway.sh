#!/usr/bin/env bash
# gateway.sh - interop part 7: the Linux kernel NVMe/TCP host (qemu guest) ->
# nvfabd as a gateway -> a backend: another nvfabd, or the Linux kernel target.
#
# usage: tests/interop/gateway.sh [BUILD_DIR] [--backend-digests] [--kernel-target] [--keep]
#   BUILD_DIR          meson build dir holding apps/nvfabd (default build)
#   --backend-digests  the gateway attaches with header and data digests on
#                      (bdev_nvme_attach_controller hdgst/ddgst)
#   --kernel-target    the backend is nvmet-tcp in a first guest (part 2's
#                      target: nsid 1 a 512-byte brd RAM disk, nsid 2 a 4 KiB
#                      tmpfs file, 64 MiB each), reached through its hostfwd
#                      port; the host runs in a second guest
#   --keep             keep the work dir (configs, logs, console logs)
#
# The nvfabd backend exports two RAM namespaces (64 MiB of 512-byte blocks, 64
# MiB of 4096-byte blocks) as in part 1. The gateway's config attaches to the
# backend with SPDK's bdev_nvme_attach_controller (bdevs Remote0n1, Remote0n2)
# and exports them in its own subsystem, with discovery, on another port. The
# (host) guest runs part 1's kernel host script (guest/host-nvfabd.sh) against
# the gateway: discovery, Identify, raw O_DIRECT I/O (in-capsule and R2T
# writes), ext4 mkfs/write/sync/umount, then a second session with digests
# and two I/O queues that fscks, remounts and checks every file. So each hop
# runs with and without digests across `--backend-digests` and the guest's two
# sessions. The part fails if a step fails, a daemon does not exit 0 on SIGTERM
# or logs a sanitizer report, or a guest runs past NVFAB_INTEROP_PART_TIMEOUT.
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

BUILD=build KEEP=0 BDGST=false KTARGET=0 INNER=0
while (($#)); do
    case $1 in
        --backend-digests) BDGST=true; shift ;;
        --kernel-target) KTARGET=1; shift ;;
        --inner) INNER=1; shift ;;   # run by the target guest's --exec: backend is ready
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) BUILD=$1; shift ;;
    esac
done
cd "$REPO" || exit 3
NVFABD=$BUILD/apps/nvfabd
[[ -x $NVFABD ]] || { ilog "no $NVFABD (build first)"; exit 3; }
NVFABD_CMD=("$NVFABD")

BACKEND_NQN=nqn.2026-12.io.nvfab:interop-backend
((KTARGET)) && BACKEND_NQN=nqn.2026-11.io.nvfab:kernel-target
NQN=nqn.2026-12.io.nvfab:interop-gateway
NS1_BLOCKS=131072 NS1_LBA=512     # 64 MiB
NS2_BLOCKS=16384  NS2_LBA=4096    # 64 MiB
ICD=8192
TIMEOUT=${NVFAB_INTEROP_PART_TIMEOUT:-240}

# The kernel target: boot its guest, and run this script again (--inner) from
# its --exec once nvmet listens; the host guest then runs inside that.
if ((KTARGET && !INNER)); then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-gwk.XXXXXX")
    PORT=$(free_port)
    ilog "part 7 (kernel target): nvmet in a guest via 127.0.0.1:$PORT"
    inner=$(printf '%q %q --kernel-target --inner%s%s' "$0" "$BUILD" \
        "$([[ $BDGST == true ]] && echo ' --backend-digests')" "$( ((KEEP)) && echo ' --keep')")
    rc=0
    "$GUEST_DIR/run-guest.sh" -q -t "$((TIMEOUT + 60))" -l "$WORK/target-console.log" -p "$PORT" \
        -e NVFAB_TARGET_BACKEND=mixed -e NVFAB_TARGET_NS_COUNT=2 -e NVFAB_TARGET_SIZE_MIB=64 \
        -e NVFAB_TARGET_NQN=$BACKEND_NQN \
        -x "$inner > $(printf '%q' "$WORK/inner.out") 2>&1" \
        target.sh 2> "$WORK/run-guest.err" || rc=$?
    [[ -f $WORK/inner.out ]] && sed 's/^/    /' "$WORK/inner.out" >&2
    tail -n 1 "$WORK/run-guest.err" | sed 's/^/    /' >&2
    ((rc == 0)) || show_log target-console "$WORK/target-console.log" 30
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
    exit $((rc != 0))
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-gw.XXXXXX")
mkdir -p "$WORK/backend" "$WORK/gateway"
BACKEND_PID="" BACKEND_LOG="" GATEWAY_PID="" GATEWAY_LOG=""
stop_backend() { NVFABD_PID=$BACKEND_PID NVFABD_LOG=$BACKEND_LOG; BACKEND_PID=""; nvfabd_stop; }
stop_gateway() { NVFABD_PID=$GATEWAY_PID NVFABD_LOG=$GATEWAY_LOG; GATEWAY_PID=""; nvfabd_stop; }
cleanup() {
    stop_gateway >/dev/null 2>&1
    stop_backend >/dev/null 2>&1
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ((KTARGET)); then
    BPORT=${NVFAB_INTEROP_PORT:?run by run-guest.sh --exec}
else
    BPORT=$(free_port)
    nvfabd_config "$BPORT" "$BACKEND_NQN" $NS1_BLOCKS $NS1_LBA $NS2_BLOCKS $NS2_LBA $ICD \
        > "$WORK/backend/config.json"
    nvfabd_start "$WORK/backend" "$WORK/backend/config.json" || exit 3
    BACKEND_PID=$NVFABD_PID BACKEND_LOG=$NVFABD_LOG
fi

# The gateway: part 1's config with the RAM bdevs replaced by the attached controller.
GPORT=$(free_port)
attach="{\"method\": \"bdev_nvme_attach_controller\", \"params\": {\"name\": \"Remote0\","
attach+=" \"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$BPORT\","
attach+=" \"subnqn\": \"$BACKEND_NQN\", \"hdgst\": $BDGST, \"ddgst\": $BDGST,"
attach+=" \"ctrlr_loss_timeout_sec\": 10, \"reconnect_delay_sec\": 1}}"
nvfabd_config "$GPORT" "$NQN" 1 512 1 4096 $ICD |
    sed -e "/\"name\": \"Malloc0\"/c\\    $attach]}," -e '/"name": "Malloc1"/d' \
        -e 's/"bdev_name": "Malloc0"/"bdev_name": "Remote0n1"/' \
        -e 's/"bdev_name": "Malloc1"/"bdev_name": "Remote0n2"/' > "$WORK/gateway/config.json"
python3 -m json.tool "$WORK/gateway/config.json" >/dev/null || { ilog "bad gateway config"; exit 3; }
ilog "part 7: backend $( ((KTARGET)) && echo "nvmet (guest)" || echo nvfabd) on 127.0.0.1:$BPORT," \
     "gateway on 127.0.0.1:$GPORT (backend digests: $BDGST), guest connects to 10.0.2.2:$GPORT"
nvfabd_start "$WORK/gateway" "$WORK/gateway/config.json" -m 0x3 || exit 3
GATEWAY_PID=$NVFABD_PID GATEWAY_LOG=$NVFABD_LOG

rc=0
"$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console.log" \
    -e NVFAB_HOST_TARGET_PORT="$GPORT" -e NVFAB_HOST_NQN="$NQN" \
    -e NS1_BYTES=$((NS1_BLOCKS * NS1_LBA)) -e NS1_LBA=$NS1_LBA \
    -e NS2_BYTES=$((NS2_BLOCKS * NS2_LBA)) -e NS2_LBA=$NS2_LBA \
    -e EXPECT_IOCCSZ=$(( (64 + ICD) / 16 )) \
    host-nvfabd.sh 2> "$WORK/run-guest.err" || rc=$?
grep -a -E '^(STEP |NVFAB-INTEROP-)' "$WORK/console.log" | tr -d '\r' | sed 's/^/    guest| /' >&2
tail -n 1 "$WORK/run-guest.err" | sed 's/^/    /' >&2

gw_log=$GATEWAY_LOG be_log=$BACKEND_LOG
gw_ok=1 be_ok=1
stop_gateway || gw_ok=0
((KTARGET)) || stop_backend || be_ok=0
((rc == 0)) || guest_failure "part 7" "$rc" "$WORK/console.log" "$TIMEOUT"
((rc == 0 && gw_ok)) || show_log gateway "$gw_log" 80
((rc == 0 && be_ok)) || [[ -z $be_log ]] || show_log backend "$be_log" 40
if ((gw_ok && be_ok)); then
    ilog "gateway and backend: clean exits, no sanitizer report" \
         "($(grep -ac ' error ' "$gw_log") gateway log lines at level error)"
fi
((rc == 0 && gw_ok && be_ok)) || exit 1
exit 0
