#!/usr/bin/env bash
# kernel-host.sh - interop part 1: Linux kernel NVMe/TCP host (in a qemu guest)
# -> nvfabd on the host's loopback.
#
# usage: tests/interop/kernel-host.sh [BUILD_DIR] [--pcap FILE] [--keep]
#   BUILD_DIR   meson build dir holding apps/nvfabd (default build). Under
#               `make test` it is build-test (ASan + UBSan), so a daemon bug
#               shows as a sanitizer report, which fails this part.
#   --pcap FILE also capture the whole session on lo (dumpcap, filter on the
#               nvfabd port) for the wire check (part 3, wire-check.sh);
#               FILE.port receives the port number.
#   --keep      keep the work dir (config, nvfabd log, console log)
#
# nvfabd: two reactors (-m 0x3), in-capsule data 8 KiB, two RAM namespaces
# (64 MiB of 512-byte blocks, 64 MiB of 4096-byte blocks), the subsystem and
# discovery on 127.0.0.1:<free port>. The guest (guest/host-nvfabd.sh) reaches
# it as 10.0.2.2:<port> and runs the kernel host steps; every step prints
# "STEP <name>: ok|FAIL". The part fails if a step fails, the guest does not
# finish within the bound (NVFAB_INTEROP_PART_TIMEOUT, default 240 s), nvfabd
# does not exit 0 on SIGTERM, or its log holds a sanitizer report. On failure
# the nvfabd log and the console tail are printed.
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

BUILD=build PCAP="" KEEP=0
while (($#)); do
    case $1 in
        --pcap) PCAP=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) BUILD=$1; shift ;;
    esac
done
cd "$REPO" || exit 3
NVFABD=$BUILD/apps/nvfabd
[[ -x $NVFABD ]] || { ilog "no $NVFABD (build first)"; exit 3; }
NVFABD_CMD=("$NVFABD")

NQN=nqn.2026-11.io.nvfab:interop-kernel-host
NS1_BLOCKS=131072 NS1_LBA=512     # 64 MiB
NS2_BLOCKS=16384  NS2_LBA=4096    # 64 MiB
ICD=8192
EXPECT_IOCCSZ=$(( (64 + ICD) / 16 ))
TIMEOUT=${NVFAB_INTEROP_PART_TIMEOUT:-240}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-kh.XXXXXX")
cleanup() {
    nvfabd_stop >/dev/null 2>&1
    capture_stop >/dev/null 2>&1
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(free_port)
nvfabd_config "$PORT" "$NQN" $NS1_BLOCKS $NS1_LBA $NS2_BLOCKS $NS2_LBA $ICD > "$WORK/config.json"
ilog "part 1: nvfabd $NVFABD (sanitize=$(build_sanitize "$BUILD")) on 127.0.0.1:$PORT, guest connects to 10.0.2.2:$PORT"

cap_ok=1
if [[ -n $PCAP ]]; then
    rm -f "$PCAP" "$PCAP.port" "$PCAP.incomplete"
    capture_start "$PCAP" "$PORT" || exit 3
    echo "$PORT" > "$PCAP.port"
fi
nvfabd_start "$WORK" "$WORK/config.json" -m 0x3 || exit 3

rc=0
"$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console.log" \
    -e NVFAB_HOST_TARGET_PORT="$PORT" -e NVFAB_HOST_NQN="$NQN" \
    -e NS1_BYTES=$((NS1_BLOCKS * NS1_LBA)) -e NS1_LBA=$NS1_LBA \
    -e NS2_BYTES=$((NS2_BLOCKS * NS2_LBA)) -e NS2_LBA=$NS2_LBA \
    -e EXPECT_IOCCSZ="$EXPECT_IOCCSZ" \
    host-nvfabd.sh 2> "$WORK/run-guest.err" || rc=$?
grep -a -E '^(STEP |NVFAB-INTEROP-)' "$WORK/console.log" | tr -d '\r' | sed 's/^/    guest| /' >&2
tail -n 1 "$WORK/run-guest.err" | sed 's/^/    /' >&2

daemon_ok=1
nvfabd_stop || daemon_ok=0
if [[ -n $PCAP ]]; then
    capture_stop || { cap_ok=0; touch "$PCAP.incomplete"; }
fi

if ((rc != 0)); then
    guest_failure "part 1" "$rc" "$WORK/console.log" "$TIMEOUT"
fi
if ((rc != 0 || !daemon_ok)); then
    show_log nvfabd "$NVFABD_LOG" 100
fi
if ((daemon_ok)); then
    ilog "nvfabd: clean exit, no sanitizer report ($(grep -c . "$NVFABD_LOG") log lines," \
         "$(grep -ac ' error ' "$NVFABD_LOG") at level error)"
fi
((cap_ok)) || ilog "capture incomplete (dropped packets): the wire check will fail"
((rc == 0 && daemon_ok)) || exit 1
exit 0
