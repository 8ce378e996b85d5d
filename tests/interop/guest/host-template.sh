#!/bin/sh
# host-template.sh - guest HOST mode: the Linux kernel NVMe/TCP host (nvme-tcp
# + nvme-cli) against a target listening on the HOST machine's loopback.
# Copy it as the starting point of a test where nvfab is the target, or run it
# as is (it is a working test: discover, connect, list, O_DIRECT I/O, disconnect).
#
# Networking (qemu user-mode net / slirp): the host's 127.0.0.1 is 10.0.2.2
# inside the guest. A target on the host bound to 127.0.0.1:PORT is reached as
# 10.0.2.2:PORT. Every TCP connection (admin + each I/O queue) is proxied by
# slirp as a separate host socket to 127.0.0.1:PORT. The guest has no default
# route: only 10.0.2.0/24 and its own loopback are reachable, by design.
# Pitfall: a discovery log entry reporting traddr 127.0.0.1 means the guest's
# own loopback to the guest, so "nvme connect-all" cannot follow it; connect
# with the explicit address as below.
#
# Host side (start the target on 127.0.0.1:PORT first, then):
#   tests/interop/guest/run-guest.sh -e NVFAB_HOST_TARGET_PORT=PORT \
#       [-e NVFAB_HOST_NQN=...] [-e NVFAB_HOST_DIGEST=both] host-template.sh
#
# env:
#   NVFAB_HOST_TARGET_PORT  required; the target's port on the host loopback
#   NVFAB_HOST_TARGET_ADDR  default 10.0.2.2 (= host 127.0.0.1)
#   NVFAB_HOST_NQN          subsystem NQN (default nqn.2026-11.io.nvfab:kernel-target)
#   NVFAB_HOST_DIGEST       none (default) | hdgst | ddgst | both
#                           -> nvme connect -g (header) / -G (data digest)
#   NVFAB_HOST_NR_IO_QUEUES if set: nvme connect --nr-io-queues N
#   NVFAB_HOST_SKIP_DISCOVERY=1  skip the discovery step (target without it)
# exit: 0 all steps ok; else the failing step's status (STEP lines say which).
#
# The commands, for reference:
#   nvme discover -t tcp -a 10.0.2.2 -s PORT
#   nvme connect  -t tcp -a 10.0.2.2 -s PORT -n NQN [-g] [-G] [--nr-io-queues N]
#   nvme list
#   nvme disconnect -n NQN
set -eu
. /lib/nvfab-interop/lib.sh

ADDR=${NVFAB_HOST_TARGET_ADDR:-10.0.2.2}
PORT=${NVFAB_HOST_TARGET_PORT:?set NVFAB_HOST_TARGET_PORT (run-guest.sh -e)}
NQN=${NVFAB_HOST_NQN:-nqn.2026-11.io.nvfab:kernel-target}

discover() {
    out=$(nvme discover -t tcp -a "$ADDR" -s "$PORT")
    echo "$out"
    echo "$out" | grep -q "subnqn:.*$NQN"
}
connect() {
    set -- -t tcp -a "$ADDR" -s "$PORT" -n "$NQN"
    case "${NVFAB_HOST_DIGEST:-none}" in
        none) ;;
        hdgst) set -- "$@" -g ;;
        ddgst) set -- "$@" -G ;;
        both) set -- "$@" -g -G ;;
        *) echo "bad NVFAB_HOST_DIGEST"; return 2 ;;
    esac
    [ -z "${NVFAB_HOST_NR_IO_QUEUES:-}" ] || set -- "$@" --nr-io-queues "$NVFAB_HOST_NR_IO_QUEUES"
    echo "nvme connect $*"
    nvme connect "$@"
    echo "nsid 1: $(nvme_ns_dev "$NQN" 1 15)"
}
list() {
    nvme list
    # What was actually granted (queues incl. admin, SQ size) is in sysfs.
    for c in /sys/class/nvme/nvme*; do
        [ "$(cat "$c/subsysnqn")" = "$NQN" ] || continue
        echo "$(basename "$c"): transport=$(cat "$c/transport") address=$(cat "$c/address")" \
             "queue_count=$(cat "$c/queue_count") sqsize=$(cat "$c/sqsize")"
    done
}
raw_io() {
    d=$(nvme_ns_dev "$NQN" 1 15)
    dd if=/dev/urandom of=/tmp/pattern bs=64k count=16 2>/dev/null
    dd if=/tmp/pattern of="$d" bs=64k oflag=direct conv=fsync 2>/dev/null
    dd if="$d" of=/tmp/readback bs=64k count=16 iflag=direct 2>/dev/null
    cmp /tmp/pattern /tmp/readback
    echo "1 MiB O_DIRECT write/read/compare ok on $d"
}
disconnect() {
    nvme disconnect -n "$NQN"
    nvme_ctrl_gone "$NQN" 10
}

step_dispatch "$@"

trap 'nvme disconnect -n "$NQN" >/dev/null 2>&1 || true' EXIT
[ "${NVFAB_HOST_SKIP_DISCOVERY:-0}" = 1 ] || step discover discover
step connect connect
step list list
step raw-io raw_io
# -- add nvfab-specific checks here (more I/O, fs, reconnect, ...) --
step disconnect disconnect
