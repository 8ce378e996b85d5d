#!/bin/sh
# passthru.sh - nvfabd INSIDE the guest exports qemu's emulated NVMe SSD:
#   nqn ...:pt   nsid 1 = bdev_xnvme_create io_uring_cmd on /dev/ng0n1 (passthrough)
#   nqn ...:blk  nsid 1 = bdev_xnvme_create io_uring on /dev/nvme0n1 (block layer)
# both on 127.0.0.1:4420 (the guest's own kernel host) and 10.0.2.15:4420
# (qemu's port forward: the host's nvfab). Started by tests/interop/passthru.sh,
# which boots the guest with run-guest.sh --nvme and the nvfab bundle
# (host-lib.sh nvfab_bundle) as /data/nvfab.tar.
#
# Test mode (default): steps with the guest's Linux 6.1 NVMe/TCP host and
# nvme-cli on the fabric namespace; every I/O command's device-side trace
# (tracefs nvme_setup_cmd / nvme_complete_rq on nvme0, the emulated SSD) shows
# what nvfabd sent and what the device answered; a null namespace then grows
# under the kernel host (bdev_null_resize). Then the guest prints the
# ready marker, waits for the host's perf --verify run (a controller comes and
# goes on ...:pt), stops nvfabd and checks its exit.
#
# Bench mode (PT_BENCH=ROUNDS): after the refusals step, nvfab perf in the
# guest over loopback, 4 KiB random reads at QD1 and QD32, alternating the
# two subsystems ROUNDS times; one line per run:
#   BENCH <pt|blk> qd=<n> iops=<n> lat_us=<n> cpu_us_per_io=<n> cpu_s=<n> ios=<n>
# cpu = nvfabd's utime+stime (/proc/PID/stat) over the run.
#
# env: PT_LBS (expected logical block size, default 4096), PT_BENCH,
#      PT_BENCH_SECS (default 5), PT_HOST_WAIT (s to wait for the host, 300),
#      PT_DONE_NQN (the host NQN of the host's last, "done" connection).
set -eu
. /lib/nvfab-interop/lib.sh

PT=nqn.2026-12.io.nvfab:pt
BLK=nqn.2026-12.io.nvfab:blk
LBS=${PT_LBS:-4096}
SOCK=/tmp/nvfabd.sock
LOG=/tmp/nvfabd.log
MNT=/mnt/pt
STATE=/tmp/state
TRACE=/sys/kernel/tracing

run() { /opt/nvfab/lib/ld-linux-x86-64.so.2 --library-path /opt/nvfab/lib "$@"; }
rpc() { run /opt/nvfab/bin/nvfab rpc -s "$SOCK" "$@"; }
fabric_dev() { nvme_ns_dev "$PT" 1 15; }

# trace_on / trace_has PATTERN: what the emulated SSD's driver saw since trace_on.
trace_on() { echo > "$TRACE/trace"; }
trace_has() {
    grep -E "nvme0: disk=nvme0n1, .*$1" "$TRACE/trace" > /tmp/trace.hit ||
        { echo "device trace lacks: $1"; grep -v '^#' "$TRACE/trace" | tail -n 12; return 1; }
    head -n 2 /tmp/trace.hit | sed 's/^ *//'
}
# nvme_expect STATUS CMD...: nvme-cli prints "NVMe status: ...(0xSTATUS)" on
# an NVMe error; "" means success.
nvme_expect() {
    want=$1; shift
    out=$("$@" 2>&1) && rc=0 || rc=$?
    echo "$* -> rc=$rc: $out" | tail -n 1
    if [ -z "$want" ]; then
        [ "$rc" = 0 ]
    else
        echo "$out" | grep -q "NVMe status: .*(0x$want)"
    fi
}

refusals() {
    out=$(rpc bdev_xnvme_create '{"name": "Bad", "filename": "/dev/nvme0n1", "io_mechanism": "io_uring_cmd"}' 2>&1) && return 1
    echo "$out"; echo "$out" | grep -q "/dev/nvme0n1 is a block device"
    out=$(rpc bdev_xnvme_create '{"name": "Bad", "filename": "/dev/nvme0", "io_mechanism": "io_uring_cmd"}' 2>&1) && return 1
    echo "$out"; echo "$out" | grep -q "/dev/nvme0 is not an NVMe namespace"
    rpc bdev_get_bdevs > /tmp/bdevs.json
    [ "$(grep -c '"name": ' /tmp/bdevs.json)" = 2 ] || { cat /tmp/bdevs.json; return 1; }
    grep -q '"registered_buffers": true' /tmp/bdevs.json
    grep -q '"product_name": "xNVMe bdev"' /tmp/bdevs.json
}

connect() {
    nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$PT"
    fabric_dev
}

id_ns() {
    d=$(fabric_dev)
    nvme id-ns /dev/ng0n1 > /tmp/dev.idns
    nvme id-ns "$d" > /tmp/fab.idns
    for f in nsze ncap dlfeat; do
        a=$(grep "^$f " /tmp/dev.idns); b=$(grep "^$f " /tmp/fab.idns)
        echo "device $a | fabric $b"
        [ "${a#*:}" = "${b#*:}" ]
    done
    # The LBA format in use: its data size, and no metadata.
    a=$(grep "in use" /tmp/dev.idns | sed 's/.*\(ms:[0-9]* *lbads:[0-9]*\).*/\1/')
    b=$(grep "in use" /tmp/fab.idns | sed 's/.*\(ms:[0-9]* *lbads:[0-9]*\).*/\1/')
    echo "device $a | fabric $b"
    [ "$a" = "$b" ]
    lbads=0 v=$LBS
    while [ "$v" -gt 1 ]; do v=$((v / 2)); lbads=$((lbads + 1)); done
    echo "$b" | grep -q "lbads:$lbads"
}

status_codes() {
    d=$(fabric_dev)
    nsze=$(($(grep "^nsze " /tmp/dev.idns | sed 's/.*: *//')))
    dd if=/dev/urandom of=/tmp/a bs="$LBS" count=1 2>/dev/null
    dd if=/dev/urandom of=/tmp/b bs="$LBS" count=1 2>/dev/null
    trace_on
    # LBA Out of Range | DNR, from the device (nvfabd does not check the range).
    nvme_expect 4080 nvme read "$d" -s "$nsze" -c 0 -z "$LBS" -d /tmp/x
    trace_has "nvme_cmd_read slba=$nsze,"
    grep -q "nvme0: disk=nvme0n1, .*status=0x4080" "$TRACE/trace"
    # Compare: equal, then a miscompare reported by the device.
    nvme_expect "" nvme write "$d" -s 30 -c 0 -z "$LBS" -d /tmp/a
    nvme_expect "" nvme compare "$d" -s 30 -c 0 -z "$LBS" -d /tmp/a
    nvme_expect 285 nvme compare "$d" -s 30 -c 0 -z "$LBS" -d /tmp/b
    trace_has "nvme_cmd_compare cdw10=1e "
    grep -q "nvme0: disk=nvme0n1, .*status=0x285" "$TRACE/trace"
    # Write Zeroes: the device's command, and the blocks read back as zeros.
    trace_on
    nvme_expect "" nvme write-zeroes "$d" -s 30 -c 0
    trace_has "nvme_cmd_write_zeroes slba=30, len=0"
    nvme_expect "" nvme read "$d" -s 30 -c 0 -z "$LBS" -d /tmp/z
    dd if=/dev/zero of=/tmp/zero bs="$LBS" count=1 2>/dev/null
    cmp /tmp/z /tmp/zero
    # Dataset Management (deallocate) passes to the device as DSM.
    trace_on
    nvme_expect "" nvme dsm "$d" -d -s 40,50 -b 2,3
    trace_has "nvme_cmd_dsm nr=1, attributes=4"
}

fua() {
    d=$(fabric_dev)
    trace_on
    nvme_expect "" nvme write "$d" -s 60 -c 0 -z "$LBS" -d /tmp/a --force-unit-access
    nvme_expect "" nvme write "$d" -s 61 -c 0 -z "$LBS" -d /tmp/a
    nvme_expect "" nvme flush "$d"
    # ctrl is CDW12 bits 31:16: 0x4000 is FUA. nvfabd's reactor issued them.
    trace_has "nvme_cmd_write slba=60, len=0, ctrl=0x4000"
    trace_has "nvme_cmd_write slba=61, len=0, ctrl=0x0,"
    trace_has "nvme_cmd_flush"
    grep -E "nvme0: disk=nvme0n1, .*slba=60," "$TRACE/trace" | grep -q "reactor_"
}

fs_write() { ext4_write "$(fabric_dev)" "$MNT" "$STATE.sha256"; }
fs_verify() { ext4_verify "$(fabric_dev)" "$MNT" "$STATE.sha256"; }

disconnect() {
    nvme disconnect -n "$PT"
    nvme_ctrl_gone "$PT" 10
}

# A namespace grows under the connected kernel host (bdev_null_resize): the
# kernel hears of it (Namespace Attribute Changed, the Changed Namespace List,
# Identify) and its block device takes the new capacity; the new last block reads.
GROW=nqn.2026-12.io.nvfab:grow
resize() {
    rpc bdev_null_create '{"name": "Grow0", "num_blocks": 4096, "block_size": 4096}'
    rpc nvmf_create_subsystem "{\"nqn\": \"$GROW\", \"allow_any_host\": true}"
    rpc nvmf_subsystem_add_ns "{\"nqn\": \"$GROW\", \"namespace\": {\"bdev_name\": \"Grow0\"}}"
    rpc nvmf_subsystem_add_listener "{\"nqn\": \"$GROW\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"IPv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"4420\"}}"
    nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$GROW"
    d=$(nvme_ns_dev "$GROW" 1 15)
    sz=/sys/block/$(basename "$d")/size
    echo "$d: $(cat "$sz") sectors"
    [ "$(cat "$sz")" = $((16 * 2048)) ]
    rpc bdev_null_resize '{"name": "Grow0", "new_size": 48}'
    t=0
    while [ "$(cat "$sz")" != $((48 * 2048)) ]; do
        t=$((t + 1)); [ $t -le 100 ] || { echo "$d: still $(cat "$sz") sectors"; return 1; }
        sleep 0.1
    done
    echo "$d: $(cat "$sz") sectors after the resize"
    dmesg | grep -a "$(basename "$d")" | grep -ai "capacity change" | tail -n 1
    nvme read "$d" -s $((48 * 256 - 1)) -c 0 -z 4096 -d /tmp/grow.last
    nvme disconnect -n "$GROW"
    nvme_ctrl_gone "$GROW" 10
}

# ---------------------------------------------------------------- bench mode
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
bench_one() {   # bench_one NAME NQN QD SECS
    t0=$(cpu_ticks "$NVFABD_PID")
    run /opt/nvfab/bin/nvfab perf -r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:$2" \
        -q "$3" -o 4096 -w randread -t "$4" --epoll > /tmp/perf.out 2>&1 || { cat /tmp/perf.out; return 1; }
    t1=$(cpu_ticks "$NVFABD_PID")
    hz=100
    awk -v n="$1" -v qd="$3" -v secs="$4" -v cpu=$(( t1 - t0 )) -v hz=$hz '
        /^Total +:/ { iops = $3; lat = $5 }
        END {
            ios = iops * secs
            printf "BENCH %s qd=%d iops=%.0f lat_us=%.1f cpu_us_per_io=%.2f cpu_s=%.2f ios=%.0f\n",
                   n, qd, iops, lat, ios ? cpu / hz * 1e6 / ios : 0, cpu / hz, ios
        }' /tmp/perf.out
}

step_dispatch "$@"

# ---------------------------------------------------------------- setup
tar -C / -xf /data/nvfab.tar
i=0
while [ ! -c /dev/ng0n1 ] || [ ! -b /dev/nvme0n1 ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "no /dev/ng0n1"; ls -l /dev/nvme* /dev/ng* || true; exit 1; }
    sleep 0.1
done
mount -t tracefs nodev "$TRACE"
echo 1 > "$TRACE/events/nvme/nvme_setup_cmd/enable"
echo 1 > "$TRACE/events/nvme/nvme_complete_rq/enable"
ip addr show dev eth0 2>/dev/null | grep -q 10.0.2.15 || { ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; }

listeners() {
    for a in 127.0.0.1 10.0.2.15; do
        printf '{"method": "nvmf_subsystem_add_listener", "params": {"nqn": "%s", "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "%s", "trsvcid": "4420"}}},\n' "$1" "$a"
    done
}
cat > /tmp/nvfabd.json <<JSON
{"subsystems": [
  {"subsystem": "bdev", "config": [
    {"method": "bdev_xnvme_create", "params": {"name": "PT0", "filename": "/dev/ng0n1", "io_mechanism": "io_uring_cmd", "conserve_cpu": false}},
    {"method": "bdev_xnvme_create", "params": {"name": "BLK0", "filename": "/dev/nvme0n1", "io_mechanism": "io_uring", "conserve_cpu": false}}]},
  {"subsystem": "nvmf", "config": [
    {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
    {"method": "nvmf_create_subsystem", "params": {"nqn": "$PT", "allow_any_host": true, "serial_number": "NVFAB-PT"}},
    {"method": "nvmf_create_subsystem", "params": {"nqn": "$BLK", "allow_any_host": true, "serial_number": "NVFAB-BLK"}},
    $(listeners "$PT") $(listeners "$BLK")
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$PT", "namespace": {"bdev_name": "PT0"}}},
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$BLK", "namespace": {"bdev_name": "BLK0"}}}]}]}
JSON
# Not through run(): $! must be nvfabd itself (signals, CPU time), not a subshell.
/opt/nvfab/lib/ld-linux-x86-64.so.2 --library-path /opt/nvfab/lib /opt/nvfab/bin/nvfabd \
    -c /tmp/nvfabd.json -r "$SOCK" -L info > "$LOG" 2>&1 &
NVFABD_PID=$!
i=0
while [ ! -S "$SOCK" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$NVFABD_PID" 2>/dev/null; then
        echo "nvfabd did not start:"; cat "$LOG"; exit 1
    fi
    sleep 0.1
done
grep -a "passthrough on" "$LOG" | sed 's/^/nvfabd| /'

stop_nvfabd() {   # exit status 0 and no sanitizer report
    kill -TERM "$NVFABD_PID" 2>/dev/null || true
    rc=0; wait "$NVFABD_PID" || rc=$?
    if [ "$rc" != 0 ] || grep -aqE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$LOG"; then
        echo "nvfabd: exit status $rc"; tail -n 60 "$LOG"; return 1
    fi
    echo "nvfabd: clean exit ($(grep -ac . "$LOG") log lines)"
}
fail() { tail -n 40 "$LOG" | sed 's/^/nvfabd| /'; exit 1; }

step refusals refusals || fail
if [ -n "${PT_BENCH:-}" ]; then
    r=0
    while [ $r -lt "$PT_BENCH" ]; do
        for qd in 1 32; do
            bench_one pt "$PT" $qd "${PT_BENCH_SECS:-5}" || fail
            bench_one blk "$BLK" $qd "${PT_BENCH_SECS:-5}" || fail
        done
        r=$((r + 1))
    done
    stop_nvfabd
    exit
fi
step connect connect || fail
step id-ns id_ns || fail
step status-codes status_codes || fail
step fua-flush fua || fail
step fs-write fs_write || fail
step fs-verify fs_verify || fail
step disconnect disconnect || fail
step resize resize || fail

# The host's turn: nvfab perf --verify through qemu's port forward.
echo NVFAB-INTEROP-TARGET-READY
# The host connects once more with host NQN PT_DONE_NQN when its runs are
# over (nvfabd logs every controller it creates); then all its controllers go.
ctrls() { rpc nvmf_subsystem_get_controllers "{\"nqn\": \"$PT\"}" > /tmp/ctrls.json || true; }
t=0 done_seen=0
while [ $t -lt "${PT_HOST_WAIT:-300}" ]; do
    grep -aq "created on $PT for host $PT_DONE_NQN " "$LOG" && done_seen=1
    ctrls
    [ "$done_seen" = 1 ] && ! grep -q '"cntlid"' /tmp/ctrls.json && break
    sleep 1; t=$((t + 1))
done
[ "$done_seen" = 1 ] && ! grep -q '"cntlid"' /tmp/ctrls.json ||
    { echo "STEP host-perf: FAIL (the host did not finish)"; fail; }
echo "STEP host-perf: ok"
stop_nvfabd
echo "passthru: all steps ok"
