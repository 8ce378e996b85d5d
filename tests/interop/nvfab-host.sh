#!/usr/bin/env bash
# nvfab-host.sh - interop part 2: libnvfab / the nvfab CLI (host) -> the Linux
# kernel NVMe/TCP target (nvmet-tcp in a qemu guest).
#
# usage: tests/interop/nvfab-host.sh [BUILD_DIR] [--pcap FILE] [--keep]
#   BUILD_DIR   meson build dir holding apps/nvfab/nvfab (default build)
#   --pcap FILE capture the host<->target traffic (lo, hostfwd port) for the
#               wire check; FILE.port receives the port
#   --keep      keep the work dir
#
# The guest runs guest/target.sh with NVFAB_TARGET_BACKEND=mixed: subsystem
# nqn.2026-11.io.nvfab:kernel-target, nsid 1 a 64 MiB brd RAM disk (bdev
# backend, 512-byte LBAs), nsid 2 a 64 MiB tmpfs file (file backend, 4 KiB
# LBAs), discovery on the same port; host 127.0.0.1:PORT is forwarded to the
# guest's :4420. Once the target is ready, this script runs itself again with
# --checks on the host (run-guest.sh -x), which runs the nvfab steps below,
# each printing "STEP <name>: ok|FAIL":
#   discover        nvfab discover (-o json): the subsystem is listed
#   identify-ctrl   nvfab identify (-o json): subnqn, cntrltype, IOCCSZ/IORCSZ
#   identify-ns     nvfab identify -n 1/2: size and LBA format of both namespaces
#   io-<dg>-ns<n>-<size>  for digests off (plain) and on (-g -G), both nsids,
#                   4 KiB and 1 MiB: nvfab write --data random, nvfab read
#                   --data, sha256 of both equal; if ONCS advertises Compare,
#                   nvfab compare succeeds and fails on one flipped byte; if
#                   not (nvmet in 6.1 has no Compare), nvfab compare must fail
#                   with the target's "Invalid Command Opcode"
#   perf-4k         nvfab perf -q 16 -o 4096 -w randrw -t 2 --verify
#   perf-128k-dgst  nvfab perf -g -G -q 2 -o 128k -w rw -t 2 --verify
# The part fails if a step fails or it all takes longer than the bound
# (NVFAB_INTEROP_PART_TIMEOUT, default 240 s).
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

NQN=nqn.2026-11.io.nvfab:kernel-target
SIZE_MIB=64

# ------------------------------------------------------------------ checks
if [[ ${1:-} == --checks ]]; then
    BUILD=$2
    NVFAB=$REPO/$BUILD/apps/nvfab/nvfab
    [[ $BUILD == /* ]] && NVFAB=$BUILD/apps/nvfab/nvfab
    PORT=${NVFAB_INTEROP_PORT:?run through run-guest.sh -x}
    TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"
    T=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-nh.XXXXXX")
    trap 'rm -rf "$T"' EXIT
    failed=0
    step() {   # step NAME FUNC ARGS...: output shown only on failure
        local name=$1 rc=0; shift
        "$@" > "$T/step.out" 2>&1 || rc=$?
        if ((rc == 0)); then
            echo "STEP $name: ok"
            [[ -n ${STEP_VERBOSE:-} ]] && sed 's/^/    | /' "$T/step.out"
        else
            echo "STEP $name: FAIL (rc=$rc)"
            sed 's/^/    | /' "$T/step.out" | tail -n 40
            failed=$((failed + 1))
        fi
        return 0
    }
    nv() { echo "+ nvfab $*" >&2; "$NVFAB" "$@"; }
    json() {   # json FILE PYTHON-EXPR-ON-d: evaluates, fails if false
        python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
print(sys.argv[2], "->", ok)
sys.exit(0 if ok else 1)' "$1" "$2"
    }

    discover() {
        nv discover -t tcp -a 127.0.0.1 -s "$PORT" -o json > "$T/disc.json" && cat "$T/disc.json" &&
        json "$T/disc.json" "any(r['subnqn'] == '$NQN' and r['trtype'] == 'tcp' for r in d['records'])"
    }
    identify_ctrl() {
        nv identify -r "$TRID" -o json > "$T/ctrl.json" || return 1
        json "$T/ctrl.json" "d['subnqn'] == '$NQN'" &&
        json "$T/ctrl.json" "d['cntrltype'] == 1" &&
        json "$T/ctrl.json" "d['ioccsz'] >= 4 and d['iorcsz'] == 1" &&
        json "$T/ctrl.json" "d['nn'] >= 2" &&
        json "$T/ctrl.json" "d['mn'].startswith('Linux')" || return 1
        ONCS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["oncs"])' "$T/ctrl.json")
        echo "ONCS $ONCS: Compare $( ((ONCS & 1)) && echo supported || echo 'not supported')"
    }
    ONCS=0
    identify_ns() {
        local n lbads
        for n in 1 2; do
            lbads=$((n == 1 ? 9 : 12))
            nv identify -r "$TRID" -n $n -o json > "$T/ns$n.json" || return 1
            json "$T/ns$n.json" "d['nsze'] == $SIZE_MIB * 1024 * 1024 >> $lbads" &&
            json "$T/ns$n.json" "d['lbafs'][d['flbas'] & 15]['ds'] == $lbads" || return 1
        done
    }
    io() {   # io NSID BYTES LBA [digest flags...]
        local ns=$1 bytes=$2 lba=$3; shift 3
        head -c "$bytes" /dev/urandom > "$T/pat"
        nv write -r "$TRID" -n "$ns" --lba "$lba" --data-size "$bytes" --data "$T/pat" "$@" || return 1
        rm -f "$T/rb"
        nv read -r "$TRID" -n "$ns" --lba "$lba" --data-size "$bytes" --data "$T/rb" "$@" || return 1
        local a b
        a=$(sha256sum < "$T/pat" | cut -d' ' -f1)
        b=$(sha256sum < "$T/rb" | cut -d' ' -f1)
        echo "sha256 written $a read $b"
        [[ $a == "$b" ]] || return 1
        if ! ((ONCS & 1)); then
            # nvmet (6.1) has no Compare (ONCS bit 0 clear): nvfab must report
            # the target's Invalid Command Opcode, not succeed or hang.
            if nv compare -r "$TRID" -n "$ns" --lba "$lba" --data-size "$bytes" --data "$T/pat" "$@" 2> "$T/cmp.err"; then
                echo "compare succeeded on a target without Compare"; return 1
            fi
            cat "$T/cmp.err"
            grep -q 'Invalid Command Opcode' "$T/cmp.err"
            return
        fi
        nv compare -r "$TRID" -n "$ns" --lba "$lba" --data-size "$bytes" --data "$T/pat" "$@" || return 1
        # One flipped byte in the last block: the target must report a miscompare.
        cp "$T/pat" "$T/bad"
        printf '\xa5' | dd of="$T/bad" bs=1 seek=$((bytes - 7)) conv=notrunc 2>/dev/null
        cmp -s "$T/pat" "$T/bad" && printf '\x5a' | dd of="$T/bad" bs=1 seek=$((bytes - 7)) conv=notrunc 2>/dev/null
        if nv compare -r "$TRID" -n "$ns" --lba "$lba" --data-size "$bytes" --data "$T/bad" "$@" 2> "$T/cmp.err"; then
            echo "compare of different data succeeded"; return 1
        fi
        cat "$T/cmp.err"
        grep -qi 'compare failure' "$T/cmp.err"
    }
    perf() {
        nv perf -r "$TRID" "$@" --verify > "$T/perf.out" 2>&1
        local rc=$?
        cat "$T/perf.out"
        ((rc == 0)) && grep -q 'errors: 0 I/O, 0 verify' "$T/perf.out"
    }

    step discover discover
    step identify-ctrl identify_ctrl
    step identify-ns identify_ns
    off=$((1 << 20))   # byte offset: fresh blocks for every step
    for dg in plain dgst; do
        flags=()
        [[ $dg == dgst ]] && flags=(-g -G)
        for ns in 1 2; do
            for bytes in 4096 1048576; do
                lbasz=$((ns == 1 ? 512 : 4096))
                step "io-$dg-ns$ns-$((bytes / 1024))k" io "$ns" "$bytes" $((off / lbasz)) "${flags[@]}"
                off=$((off + (2 << 20)))
            done
        done
    done
    step perf-4k perf -q 16 -o 4096 -w randrw -t 2
    step perf-128k-dgst perf -g -G -q 2 -o 131072 -w rw -t 2
    exit $((failed > 0))
fi

# ------------------------------------------------------------------ outer
BUILD=build PCAP="" KEEP=0
while (($#)); do
    case $1 in
        --pcap) PCAP=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
        *) BUILD=$1; shift ;;
    esac
done
cd "$REPO" || exit 3
[[ -x $BUILD/apps/nvfab/nvfab ]] || { ilog "no $BUILD/apps/nvfab/nvfab (build first)"; exit 3; }
TIMEOUT=${NVFAB_INTEROP_PART_TIMEOUT:-240}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-nh.XXXXXX")
cleanup() {
    capture_stop >/dev/null 2>&1
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(free_port)
ilog "part 2: $BUILD/apps/nvfab/nvfab (sanitize=$(build_sanitize "$BUILD")) -> kernel target via 127.0.0.1:$PORT"
if [[ -n $PCAP ]]; then
    rm -f "$PCAP" "$PCAP.port" "$PCAP.incomplete"
    capture_start "$PCAP" "$PORT" || exit 3
    echo "$PORT" > "$PCAP.port"
fi
rc=0
# NVFAB_INTEROP_FAIL_FIRST_BOOT: this guest's first boot panics before init, so
# every run proves that such a boot (which multi-threaded TCG now and then
# makes of a good kernel) is retried, here with a fixed forwarded port.
NVFAB_INTEROP_FAIL_FIRST_BOOT=1 \
"$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console.log" -p "$PORT" \
    -e NVFAB_TARGET_BACKEND=mixed -e NVFAB_TARGET_NS_COUNT=2 -e NVFAB_TARGET_SIZE_MIB=$SIZE_MIB \
    -e NVFAB_TARGET_NQN=$NQN \
    -x "$(printf '%q --checks %q' "$INTEROP_DIR/nvfab-host.sh" "$BUILD") > $(printf '%q' "$WORK/checks.out") 2>&1" \
    target.sh 2> "$WORK/run-guest.err" || rc=$?
[[ -f $WORK/checks.out ]] && grep -E '^STEP ' "$WORK/checks.out" | sed 's/^/    host| /' >&2
tail -n 1 "$WORK/run-guest.err" | sed 's/^/    /' >&2
if [[ -n $PCAP ]]; then
    capture_stop || touch "$PCAP.incomplete"
fi
if ((rc == 0)) && ! grep -q 'boot_retries=1 ' "$WORK/run-guest.err"; then
    ilog "part 2: the guest's failed first boot was not retried once"
    rc=1
fi
if ((rc != 0)); then
    ilog "part 2 failed (rc=$rc)"
    [[ -f $WORK/checks.out ]] && sed -n '/: FAIL/,$p' "$WORK/checks.out" | head -n 100 | sed 's/^/    host| /' >&2
    show_log console "$WORK/console.log" 40
    exit 1
fi
exit 0
