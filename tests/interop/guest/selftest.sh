#!/bin/sh
# selftest.sh - guest script proving the interop guest works, without nvfab.
# Run from the host:   tests/interop/guest/run-guest.sh selftest.sh
#
# In ONE guest: the kernel NVMe/TCP target (nvmet-tcp via configfs) listens on
# 127.0.0.1:4420 with subsystem nqn.2026-11.io.nvfab:interop (any host), and
# the kernel NVMe/TCP host of the same kernel (nvme-tcp + nvme-cli) discovers,
# connects, lists, does O_DIRECT I/O, builds ext4, remounts + verifies, and
# disconnects. Two namespaces cover both nvmet backends:
#   nsid 1: 64 MiB file on tmpfs (file backend, buffered_io=1)
#   nsid 2: 64 MiB brd RAM disk  (bdev backend) - carries the ext4
# ext4 goes on nsid 2 because mke2fs issues Write Zeroes, which the file
# backend turns into fallocate(ZERO_RANGE); tmpfs in 6.1 does not support that,
# so the kernel would log (harmless, mke2fs falls back) I/O errors on nsid 1.
#
# Prints "STEP <name>: ok|FAIL (rc=N)" per step and stops at the first failure
# (later steps depend on earlier ones); exit status = the failing step's, so
# /init prints "NVFAB-INTEROP-RESULT: FAIL <rc>". All ok -> exit 0 -> PASS.
#
# env (optional, via run-guest.sh -e): SELFTEST_SIZE_MIB (default 64),
#   STEP_VERBOSE=1 to print each step's output also when it succeeds.
set -eu
. /lib/nvfab-interop/lib.sh

NQN=nqn.2026-11.io.nvfab:interop
ADDR=127.0.0.1
SVC=4420
SIZE=${SELFTEST_SIZE_MIB:-64}
BACKING=/tmp/nvmet-ns1.img
MNT=/mnt/nvfab

# Steps run in separate processes (see step in lib.sh); each looks the block
# device up again from sysfs, which is instant once it exists.
dev() { nvme_ns_dev "$NQN" "$1" 15; }

target_setup() {
    nvmet_subsys "$NQN"
    nvmet_ns_file "$NQN" 1 "$BACKING" "$SIZE"
    brd_load 1 "$SIZE"
    nvmet_ns_bdev "$NQN" 2 /dev/ram0
    nvmet_port 1 "$ADDR" "$SVC"
    nvmet_link 1 "$NQN"
}
discover() {
    out=$(nvme discover -t tcp -a "$ADDR" -s "$SVC")
    echo "$out"
    # The discovery log must advertise our subsystem on this port.
    echo "$out" | grep -q "subnqn:.*$NQN"
}
connect() {
    nvme connect -t tcp -a "$ADDR" -s "$SVC" -n "$NQN"
    echo "nsid 1: $(dev 1)  nsid 2: $(dev 2)"
}
list() {
    out=$(nvme list)
    echo "$out"
    for n in 1 2; do
        d=$(dev $n)
        echo "$out" | grep -q "^$d "
        # Size seen by the host must match the backing store.
        [ "$(blockdev --getsize64 "$d")" -eq $((SIZE * 1024 * 1024)) ]
    done
}
raw_io() {
    # 4 MiB of random data written and read back with O_DIRECT at offset
    # 8 MiB, on both namespaces, so the page cache cannot satisfy the read.
    dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 2>/dev/null
    for n in 1 2; do
        d=$(dev $n)
        dd if=/tmp/pattern of="$d" bs=1M seek=8 oflag=direct conv=fsync 2>/dev/null
        dd if="$d" of=/tmp/readback bs=1M skip=8 count=4 iflag=direct 2>/dev/null
        cmp /tmp/pattern /tmp/readback
        echo "nsid $n: 4 MiB O_DIRECT write/read/compare ok"
    done
}
fs_write() {
    d=$(dev 2)
    mkfs.ext4 -q -F "$d"
    mkdir -p "$MNT"
    mount -t ext4 "$d" "$MNT"
    dd if=/dev/urandom of="$MNT/data.bin" bs=1M count=8 2>/dev/null
    sha256sum "$MNT/data.bin" | cut -d' ' -f1 > /tmp/data.sha
    sync
    umount "$MNT"
}
fs_verify() {
    d=$(dev 2)
    # Drop caches so the verify really reads over NVMe/TCP.
    echo 3 > /proc/sys/vm/drop_caches
    e2fsck -fn "$d"
    mount -t ext4 "$d" "$MNT"
    [ "$(sha256sum "$MNT/data.bin" | cut -d' ' -f1)" = "$(cat /tmp/data.sha)" ]
    umount "$MNT"
}
disconnect() {
    nvme disconnect -n "$NQN"
    nvme_ctrl_gone "$NQN" 10
}

step_dispatch "$@"

# Best-effort cleanup on failure, so the dmesg tail /init prints is not
# muddled by a half-connected controller.
cleanup() {
    umount "$MNT" 2>/dev/null || true
    nvme disconnect -n "$NQN" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step target-setup target_setup
step discover discover
step connect connect
step list list
step raw-io raw_io
step fs-write fs_write
step fs-verify fs_verify
step disconnect disconnect
step target-teardown nvmet_teardown
echo "selftest: all steps ok"
