#!/bin/sh
# target.sh - guest TARGET mode: the Linux kernel NVMe/TCP target (nvmet-tcp)
# for host-side tests (libnvfab as the NVMe/TCP host).
#
# Host side:
#   tests/interop/guest/run-guest.sh -p auto -x 'your-test 127.0.0.1 $NVFAB_INTEROP_PORT' target.sh
# run-guest.sh forwards host 127.0.0.1:PORT -> guest 10.0.2.15:4420, waits for
# the ready marker below, runs the -x command on the host, then kills qemu.
#
# Configures, via configfs:
#   subsystem  $NVFAB_TARGET_NQN (default nqn.2026-11.io.nvfab:kernel-target),
#              attr_allow_any_host=1, serial/model left at kernel defaults
#   namespaces 1..$NVFAB_TARGET_NS_COUNT (default 1), $NVFAB_TARGET_SIZE_MIB
#              each (default 64), backend $NVFAB_TARGET_BACKEND:
#                file (default): sparse file on tmpfs, buffered_io=1
#                                (LBA size 4 KiB; Write Zeroes fails on tmpfs
#                                with an NVMe error - see README)
#                brd:            RAM block device, bdev backend (LBA 512 B)
#                mixed:          odd nsids brd (512 B), even nsids file (4 KiB):
#                                both LBA sizes and both nvmet backends at once
#   hosts      with NVFAB_TARGET_HOSTNQN and NVFAB_TARGET_DHCHAP_KEY: only that
#              host, which must authenticate with DH-HMAC-CHAP (configfs
#              dhchap_key; NVFAB_TARGET_DHCHAP_CTRL_KEY for bidirectional,
#              NVFAB_TARGET_DHCHAP_HASH e.g. "hmac(sha384)",
#              NVFAB_TARGET_DHCHAP_DHGROUP e.g. ffdhe2048). Kernel 6.12 only.
#   port 1     tcp/ipv4 0.0.0.0:4420, optional
#              NVFAB_TARGET_INLINE_DATA_SIZE -> param_inline_data_size
# The discovery subsystem (nqn.2014-08.org.nvmexpress.discovery) is served on
# the same port automatically. Discovery log entries of a port bound to
# 0.0.0.0 carry the address the connection arrived on (the guest's
# 10.0.2.15), not the host's 127.0.0.1:PORT: connect by explicit address.
#
# Console markers:
#   NVFAB-INTEROP-TARGET-READY nqn=<nqn> port=4420 ns=<n> backend=<b>
#       after the port is live. Then it sleeps forever; the host harness ends
#       the guest (there is no shared fs to signal through). Kernel info
#       messages (nvmet: creating controller ...) are shown on the console,
#       so the console log doubles as a target-side trace.
#   STEP <name>: FAIL ... and exit non-zero (-> NVFAB-INTEROP-RESULT: FAIL)
#       if configuration fails.
set -eu
. /lib/nvfab-interop/lib.sh

NQN=${NVFAB_TARGET_NQN:-nqn.2026-11.io.nvfab:kernel-target}
SIZE=${NVFAB_TARGET_SIZE_MIB:-64}
NS_COUNT=${NVFAB_TARGET_NS_COUNT:-1}
BACKEND=${NVFAB_TARGET_BACKEND:-file}
INLINE=${NVFAB_TARGET_INLINE_DATA_SIZE:-}
HOSTNQN=${NVFAB_TARGET_HOSTNQN:-}

# The subsystem admits HOSTNQN only, after DH-HMAC-CHAP with the given keys.
auth_host() {
    h=$NVMET/hosts/$HOSTNQN
    mkdir "$h"
    echo "$NVFAB_TARGET_DHCHAP_KEY" > "$h/dhchap_key"
    [ -z "${NVFAB_TARGET_DHCHAP_CTRL_KEY:-}" ] || echo "$NVFAB_TARGET_DHCHAP_CTRL_KEY" > "$h/dhchap_ctrl_key"
    [ -z "${NVFAB_TARGET_DHCHAP_HASH:-}" ] || echo "$NVFAB_TARGET_DHCHAP_HASH" > "$h/dhchap_hash"
    [ -z "${NVFAB_TARGET_DHCHAP_DHGROUP:-}" ] || echo "$NVFAB_TARGET_DHCHAP_DHGROUP" > "$h/dhchap_dhgroup"
    echo 0 > "$NVMET/subsystems/$NQN/attr_allow_any_host"
    ln -s "$h" "$NVMET/subsystems/$NQN/allowed_hosts/$HOSTNQN"
    echo "host $HOSTNQN: dhchap_hash $(cat "$h/dhchap_hash") dhchap_dhgroup $(cat "$h/dhchap_dhgroup")"
}

configure() {
    nvmet_subsys "$NQN"
    case "$BACKEND" in
        brd|mixed) brd_load "$NS_COUNT" "$SIZE" ;;
        file) ;;
        *) echo "unknown NVFAB_TARGET_BACKEND=$BACKEND"; return 2 ;;
    esac
    n=1
    while [ "$n" -le "$NS_COUNT" ]; do
        if [ "$BACKEND" = brd ] || { [ "$BACKEND" = mixed ] && [ $((n % 2)) = 1 ]; }; then
            nvmet_ns_bdev "$NQN" "$n" "/dev/ram$((n - 1))"
        else
            nvmet_ns_file "$NQN" "$n" "/tmp/nvmet-ns$n.img" "$SIZE"
        fi
        n=$((n + 1))
    done
    [ -z "$HOSTNQN" ] || auth_host
    nvmet_port 1 0.0.0.0 4420
    [ -z "$INLINE" ] || echo "$INLINE" > "$NVMET/ports/1/param_inline_data_size"
    nvmet_link 1 "$NQN"
}

step_dispatch "$@"

step configure configure
# Show kernel info-level messages (nvmet controller create/teardown, errors)
# on the console from now on: quiet would hide them.
dmesg -n 7
echo "NVFAB-INTEROP-TARGET-READY nqn=$NQN port=4420 ns=$NS_COUNT backend=$BACKEND"
while :; do sleep 3600; done
