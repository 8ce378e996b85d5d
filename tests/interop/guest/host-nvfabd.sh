#!/bin/sh
# host-nvfabd.sh - interop part 1: the Linux kernel NVMe/TCP host (nvme-tcp +
# nvme-cli 2.3, kernel 6.1) against nvfabd running on the HOST's loopback,
# reached from the guest as 10.0.2.2:PORT. Started by tests/interop/kernel-host.sh.
#
# The target must export NQN with two namespaces:
#   nsid 1: NS1_BYTES, NS1_LBA-byte blocks (default 64 MiB of 512 B)
#   nsid 2: NS2_BYTES, NS2_LBA-byte blocks (default 64 MiB of 4096 B)
# and answer discovery on the same port.
#
# Two sessions (connect ... disconnect) run back to back:
#   A  plain:            nvme connect --nr-io-queues 1        (2 queues: admin + 1 I/O)
#   B  digests + queues: nvme connect -g -G --nr-io-queues 2  (3 queues)
# The ext4 written in session A is verified again in B (data survives a
# reconnect; different queues and digests carry the reads) before B's raw
# I/O overwrites some of its blocks.
#
# Steps print "STEP <name>: ok|FAIL (rc=N)"; the script stops at the first
# failure (later steps build on earlier ones) and exits with its status.
#
# env (run-guest.sh -e):
#   NVFAB_HOST_TARGET_PORT  required
#   NVFAB_HOST_TARGET_ADDR  default 10.0.2.2
#   NVFAB_HOST_NQN          default nqn.2026-11.io.nvfab:interop-kernel-host
#   NS1_BYTES NS1_LBA NS2_BYTES NS2_LBA   expected namespace geometry
#   EXPECT_IOCCSZ           expected Identify Controller IOCCSZ (e.g. 516 for
#                           8 KiB in-capsule data + the 64-byte SQE, in 16 B units)
#   STEP_VERBOSE=1          also print the output of passing steps
set -eu
. /lib/nvfab-interop/lib.sh

ADDR=${NVFAB_HOST_TARGET_ADDR:-10.0.2.2}
PORT=${NVFAB_HOST_TARGET_PORT:?set NVFAB_HOST_TARGET_PORT}
NQN=${NVFAB_HOST_NQN:-nqn.2026-11.io.nvfab:interop-kernel-host}
NS1_BYTES=${NS1_BYTES:-67108864}
NS1_LBA=${NS1_LBA:-512}
NS2_BYTES=${NS2_BYTES:-67108864}
NS2_LBA=${NS2_LBA:-4096}
EXPECT_IOCCSZ=${EXPECT_IOCCSZ:-516}
MNT=/mnt/nvfab
STATE=/tmp/state   # survives between step processes

dev() { nvme_ns_dev "$NQN" "$1" 15; }
ctrl() {           # /sys/class/nvme/nvmeX of the (single) connected controller
    for c in /sys/class/nvme/nvme*; do
        [ -f "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$NQN" ] && { echo "$c"; return 0; }
    done
    echo "no controller for $NQN" >&2
    return 1
}

discover() {
    out=$(nvme discover -t tcp -a "$ADDR" -s "$PORT")
    echo "$out"
    echo "$out" | grep -q "subnqn:.*$NQN"
    echo "$out" | grep -q "subnqn:.*nqn.2014-08.org.nvmexpress.discovery"
    # nvfabd listens on 127.0.0.1, so that is what its log page reports (the
    # guest must use 10.0.2.2: see the README's discovery pitfall).
    echo "$out" | grep -q "trsvcid: *$PORT"
}

connect() {   # connect EXPECTED_QUEUE_COUNT nvme-connect-args...
    want=$1; shift
    # A short controller-loss timeout: if nvfabd dies, I/O fails within
    # seconds instead of the kernel reconnecting for the default 600 s.
    set -- --ctrl-loss-tmo 10 --reconnect-delay 2 "$@"
    echo "nvme connect -t tcp -a $ADDR -s $PORT -n $NQN $*"
    nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" "$@"
    echo "nsid 1: $(dev 1)  nsid 2: $(dev 2)"
    c=$(ctrl)
    echo "$(basename "$c"): transport=$(cat "$c/transport") address=$(cat "$c/address")" \
         "queue_count=$(cat "$c/queue_count") sqsize=$(cat "$c/sqsize") state=$(cat "$c/state")"
    [ "$(cat "$c/transport")" = tcp ]
    [ "$(cat "$c/state")" = live ]
    # queue_count includes the admin queue.
    [ "$(cat "$c/queue_count")" -eq "$want" ]
}

list() {
    out=$(nvme list)
    echo "$out"
    for n in 1 2; do
        d=$(dev $n)
        eval "bytes=\$NS${n}_BYTES lba=\$NS${n}_LBA"
        echo "$out" | grep -q "^$d "
        echo "nsid $n: $d size=$(blockdev --getsize64 "$d") lba=$(blockdev --getss "$d")"
        [ "$(blockdev --getsize64 "$d")" -eq "$bytes" ]
        [ "$(blockdev --getss "$d")" -eq "$lba" ]
    done
}

field() {     # field NAME < nvme id-* output  -> value of "NAME : value"
    sed -n "s/^$1 *: *//p" | head -n 1
}

id_ctrl() {
    c=/dev/$(basename "$(ctrl)")
    out=$(nvme id-ctrl "$c")
    echo "$out"
    [ "$(echo "$out" | field subnqn)" = "$NQN" ]
    [ "$(echo "$out" | field cntrltype)" = 1 ]          # I/O controller
    [ "$(echo "$out" | field ioccsz)" = "$EXPECT_IOCCSZ" ]
    [ "$(echo "$out" | field iorcsz)" = 1 ]             # 16-byte CQE, no in-capsule response data
    [ "$(echo "$out" | field icdoff)" = 0 ]
    [ "$(echo "$out" | field nn)" -ge 2 ]
    # SGL support is mandatory for NVMe over Fabrics (bits 1:0 != 0).
    [ $(( $(echo "$out" | field sgls) & 3 )) -ne 0 ]
}

id_ns() {
    for n in 1 2; do
        d=$(dev $n)
        eval "bytes=\$NS${n}_BYTES lba=\$NS${n}_LBA"
        out=$(nvme id-ns "$d")
        echo "$out" | grep -E '^(nsze|ncap|nuse|flbas|nlbaf|lbaf +[0-9]+) '
        blocks=$((bytes / lba))
        [ $(( $(echo "$out" | field nsze) )) -eq "$blocks" ]
        [ $(( $(echo "$out" | field ncap) )) -eq "$blocks" ]
        lbads=0; v=$lba
        while [ "$v" -gt 1 ]; do v=$((v / 2)); lbads=$((lbads + 1)); done
        echo "$out" | grep -Eq "^lbaf +0 : ms:0 +lbads:$lbads .*in use"
    done
}

raw_io() {
    # Per namespace: a 4 KiB O_DIRECT write (in-capsule data on the wire) and
    # a 2 MiB one at an odd offset (R2T + H2CData, then multi-PDU C2HData on
    # the read), each read back with O_DIRECT and compared.
    dd if=/dev/urandom of=/tmp/pat4k bs=4k count=1 2>/dev/null
    dd if=/dev/urandom of=/tmp/pat2m bs=64k count=32 2>/dev/null
    for n in 1 2; do
        d=$(dev $n)
        dd if=/tmp/pat4k of="$d" bs=4k seek=3 oflag=direct conv=fsync 2>/dev/null
        dd if="$d" of=/tmp/rb4k bs=4k skip=3 count=1 iflag=direct 2>/dev/null
        cmp /tmp/pat4k /tmp/rb4k
        dd if=/tmp/pat2m of="$d" bs=1M seek=5 oflag=direct conv=fsync 2>/dev/null
        dd if="$d" of=/tmp/rb2m bs=1M skip=5 count=2 iflag=direct 2>/dev/null
        cmp /tmp/pat2m /tmp/rb2m
        echo "nsid $n ($d): 4 KiB + 2 MiB O_DIRECT write/read/compare ok" \
             "md5 $(md5sum < /tmp/rb2m | cut -d' ' -f1)"
    done
}

fs_write() {   # fs_write NSID: mkfs.ext4, files, checksums, sync, umount
    ext4_write "$(dev "$1")" "$MNT" "$STATE.ns$1.sha256"
}

fs_verify() {  # fs_verify NSID: fsck, remount, compare checksums
    ext4_verify "$(dev "$1")" "$MNT" "$STATE.ns$1.sha256"
}

disconnect() {
    nvme disconnect -n "$NQN"
    nvme_ctrl_gone "$NQN" 10
}

step_dispatch "$@"

cleanup() {
    umount "$MNT" 2>/dev/null || true
    nvme disconnect -n "$NQN" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step discover discover
# Session A: plain, one I/O queue.
step A-connect connect 2 --nr-io-queues 1
step A-list list
step A-id-ctrl id_ctrl
step A-id-ns id_ns
step A-raw-io raw_io
step A-fs-write fs_write 1
step A-fs-verify fs_verify 1
step A-disconnect disconnect
# Session B: header + data digests, two I/O queues.
step B-connect connect 3 -g -G --nr-io-queues 2
step B-list list
step B-fs-verify-A fs_verify 1
step B-raw-io raw_io          # overwrites part of the ext4 on nsid 1: after its check
step B-fs-write fs_write 2
step B-fs-verify fs_verify 2
step B-disconnect disconnect
echo "host-nvfabd: all steps ok"
