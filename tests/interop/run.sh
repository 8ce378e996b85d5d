#!/usr/bin/env bash
# run.sh - the interop suite: nvfab against the Linux kernel's NVMe/TCP host
# and target (in a qemu guest), a wire check of the captured sessions, and the
# aarch64 cross build tested under qemu-user.
#
# usage: tests/interop/run.sh [BUILD_DIR]       (default build)
#   `make test` runs it through scripts/run-tests.sh with build-test (ASan +
#   UBSan), `make interop` with build. nvfabd and nvfab come from BUILD_DIR.
# env:
#   NVFAB_INTEROP_PARTS="kernel-host nvfab-host wire passthru gateway auth aarch64"  parts to run
#   NVFAB_INTEROP_KEEP=1    keep the work dir (captures, logs) even on success
#   NVFAB_INTEROP_PART_TIMEOUT=240   bound for each guest part
#
# Parts (each prints "=== PART <name>: ok|FAILED (N s)"):
#   kernel-host       part 1: kernel host (guest) -> nvfabd   (kernel-host.sh)
#   nvfab-host        part 2: nvfab -> kernel target (guest)  (nvfab-host.sh)
#   wire-kernel-host  part 3: tshark + protocol checks of part 1's capture
#   wire-nvfab-host   part 3: the same for part 2's capture   (wire-check.sh)
#   wire-tls          part 3: nvfab <-> nvfabd over TLS 1.3 (PSK), captured and dissected
#                     by tshark as TLS 1.3 (tls-wire.sh)
#   passthru          part 6: nvfabd in the guest, NVMe passthrough on qemu's
#                     emulated SSD (passthru.sh + guest/passthru.sh)
#   gateway           part 7: kernel host (guest) -> nvfabd gateway -> backend
#                     nvfabd, ext4 through both hops; once more with digests
#                     on the backend hop; once with the kernel target (a
#                     second guest) as the backend (gateway.sh)
#   auth              part 8: DH-HMAC-CHAP with Linux 6.12 (its own guest cache):
#                     kernel host -> nvfabd and nvfab -> kernel target (auth.sh)
#   aarch64           part 4: cross build, unit tests and a loopback session
#                     under qemu-aarch64 (scripts/cross-aarch64.sh --native)
# The last line is "interop: N passed, N failed"; the exit status is 0 only
# if every part passed.
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"
cd "$REPO" || exit 1

BUILD=${1:-build}
PARTS=${NVFAB_INTEROP_PARTS:-kernel-host nvfab-host wire passthru gateway auth aarch64}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop.XXXXXX")
T0=$EPOCHREALTIME
passed=0 failed=0 failures=()

want() { [[ " $PARTS " == *" $1 "* ]]; }
part() {   # part NAME CMD...
    local name=$1 t0=$EPOCHREALTIME rc=0; shift
    echo "=== PART $name" >&2
    "$@" || rc=$?
    local secs
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b - a}')
    if ((rc == 0)); then
        passed=$((passed + 1)); echo "=== PART $name: ok ($secs s)" >&2
    else
        failed=$((failed + 1)); failures+=("$name"); echo "=== PART $name: FAILED ($secs s, rc=$rc)" >&2
    fi
}

[[ -x $BUILD/apps/nvfabd && -x $BUILD/apps/nvfab/nvfab ]] || {
    echo "interop: no $BUILD/apps/nvfabd or $BUILD/apps/nvfab/nvfab (build first)" >&2
    echo "interop: 0 passed, 1 failed"
    exit 1
}
ilog "interop: build $BUILD (sanitize=$(build_sanitize "$BUILD")), parts: $PARTS, work dir $WORK"

capture=()
if want wire; then
    ensure_tshark || ilog "tshark unavailable: the parts run without capture and the wire check fails"
    command -v dumpcap >/dev/null && capture=(yes)
fi

if want kernel-host; then
    part kernel-host "$INTEROP_DIR/kernel-host.sh" "$BUILD" ${capture:+--pcap "$WORK/kernel-host.pcapng"}
fi
if want nvfab-host; then
    part nvfab-host "$INTEROP_DIR/nvfab-host.sh" "$BUILD" ${capture:+--pcap "$WORK/nvfab-host.pcapng"}
fi
if want wire; then
    # IOCCSZ that kernel-host.sh configures: 8 KiB in-capsule + the 64-byte SQE, in 16-byte units.
    want kernel-host && part wire-kernel-host "$INTEROP_DIR/wire-check.sh" "$WORK/kernel-host.pcapng" \
        --expect-ioccsz $(((8192 + 64) / 16)) --require-digests
    want nvfab-host && part wire-nvfab-host "$INTEROP_DIR/wire-check.sh" "$WORK/nvfab-host.pcapng" \
        --require-digests
fi
if want wire; then
    part wire-tls "$INTEROP_DIR/tls-wire.sh" "$BUILD"
fi
if want passthru; then
    part passthru "$INTEROP_DIR/passthru.sh" "$BUILD"
fi
if want gateway; then
    part gateway "$INTEROP_DIR/gateway.sh" "$BUILD"
    part gateway-backend-digests "$INTEROP_DIR/gateway.sh" "$BUILD" --backend-digests
    part gateway-kernel-target "$INTEROP_DIR/gateway.sh" "$BUILD" --kernel-target
fi
if want auth; then
    part auth "$INTEROP_DIR/auth.sh" "$BUILD"
fi
if want aarch64; then
    part aarch64 "$REPO/scripts/cross-aarch64.sh" --native "$BUILD"
fi

total=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b - a}')
if ((failed == 0)) && [[ ${NVFAB_INTEROP_KEEP:-0} != 1 ]]; then
    rm -rf "$WORK"
else
    ilog "work dir kept: $WORK (captures: *.pcapng, open with: tshark -r FILE -d tcp.port==\$(cat FILE.port),nvme-tcp)"
fi
((failed == 0)) || echo "interop: failed parts: ${failures[*]}" >&2
echo "interop: total ${total} s"
echo "interop: $passed passed, $failed failed"
((failed == 0))
