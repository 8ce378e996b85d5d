#!/bin/sh
# auth-host.sh - interop part `auth`: the Linux kernel host (6.12: nvme-tcp with
# CONFIG_NVME_HOST_AUTH, nvme-cli 2.3) authenticates with DH-HMAC-CHAP to two
# nvfabd instances on the host's loopback. Started by tests/interop/auth.sh,
# which chose what each nvfabd allows:
#   PORT_A  unidirectional (host secret only); nvfabd allows SHA-256 and ffdhe2048
#   PORT_B  bidirectional (host and controller secrets), header and data digests,
#           two I/O queues; nvfabd allows SHA-512 and ffdhe3072
# Each session: connect, the ext4 cycle (mkfs, files, sync, umount, fsck,
# remount, checksums) on nsid 1, disconnect. Then a wrong host secret and no
# secret at all must be refused by nvfabd (the connect fails).
#
# env (run-guest.sh -e): PORT_A PORT_B NQN HOSTNQN KEY_A KEY_B CKEY_B WRONG_KEY
set -eu
. /lib/nvfab-interop/lib.sh

ADDR=10.0.2.2
MNT=/mnt/nvfab
STATE=/tmp/state

dev() { nvme_ns_dev "$NQN" 1 15; }

connect() {   # connect PORT nvme-connect-args...
    port=$1; shift
    echo "nvme connect -t tcp -a $ADDR -s $port -n $NQN --hostnqn $HOSTNQN $*"
    nvme connect -t tcp -a "$ADDR" -s "$port" -n "$NQN" --hostnqn "$HOSTNQN" \
        --ctrl-loss-tmo 10 --reconnect-delay 2 "$@"
    echo "nsid 1: $(dev)"
}

refused() {   # refused PORT nvme-connect-args...: the connect must fail, nothing appears
    port=$1; shift
    if nvme connect -t tcp -a "$ADDR" -s "$port" -n "$NQN" --hostnqn "$HOSTNQN" \
            --ctrl-loss-tmo 0 "$@"; then
        echo "connect succeeded"
        return 1
    fi
    nvme_ctrl_gone "$NQN" 10
    dmesg | grep -i -E 'auth|dhchap' | tail -n 5
}

fs_write() { ext4_write "$(dev)" "$MNT" "$STATE.$1.sha256"; }
fs_verify() { ext4_verify "$(dev)" "$MNT" "$STATE.$1.sha256"; }

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

step A-connect connect "$PORT_A" --nr-io-queues 1 --dhchap-secret="$KEY_A"
step A-fs-write fs_write A
step A-fs-verify fs_verify A
step A-disconnect disconnect
step B-connect connect "$PORT_B" -g -G --nr-io-queues 2 --dhchap-secret="$KEY_B" \
    --dhchap-ctrl-secret="$CKEY_B"
step B-fs-write fs_write B
step B-fs-verify fs_verify B
step B-disconnect disconnect
step wrong-secret refused "$PORT_A" --dhchap-secret="$WRONG_KEY"
step no-secret refused "$PORT_A"
echo "auth-host: all steps ok"
