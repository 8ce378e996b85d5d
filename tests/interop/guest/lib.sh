# lib.sh - helpers for guest-side test scripts (busybox ash, POSIX sh).
# Baked into the base initramfs as /lib/nvfab-interop/lib.sh; a test script
# uses it with:   . /lib/nvfab-interop/lib.sh
#
# Kernel target (nvmet) through configfs, see
# Documentation/nvme/ (nvmet configfs layout) in the kernel tree:
#   /sys/kernel/config/nvmet/subsystems/<nqn>/attr_allow_any_host
#   /sys/kernel/config/nvmet/subsystems/<nqn>/namespaces/<nsid>/{device_path,buffered_io,enable}
#   /sys/kernel/config/nvmet/ports/<id>/{addr_trtype,addr_adrfam,addr_traddr,addr_trsvcid}
#   /sys/kernel/config/nvmet/ports/<id>/subsystems/<nqn> -> ../../../subsystems/<nqn>
# The discovery subsystem (nqn.2014-08.org.nvmexpress.discovery) is served
# automatically on every enabled port: nothing to configure for it.

NVMET=/sys/kernel/config/nvmet

# step NAME FUNC [ARGS...]  - run FUNC of the calling script in a fresh
# "sh -e" process and print "STEP NAME: ok" or "STEP NAME: FAIL (rc=N)" (plus
# FUNC's output, indented). Returns FUNC's status.
# Why a new process: "set -e" is ignored inside anything that runs as an if/&&/||
# condition, so "if func; then" would not stop at a failing command in func.
# The child re-runs the calling script ($0) with "__step FUNC ARGS"; the script
# must call  step_dispatch "$@"  after its function definitions and before any
# side effects (traps, setup), see selftest.sh. State does not survive between
# steps except through files (e.g. in /tmp) and the kernel.
step() {
    _name=$1; shift
    case $- in *e*) _e=1 ;; *) _e=0 ;; esac
    set +e
    sh -e "$0" __step "$@" > /tmp/.step.out 2>&1
    _rc=$?
    [ "$_e" = 1 ] && set -e
    if [ "$_rc" -eq 0 ]; then
        echo "STEP $_name: ok"
        [ -n "${STEP_VERBOSE:-}" ] && sed 's/^/    | /' /tmp/.step.out
    else
        echo "STEP $_name: FAIL (rc=$_rc)"
        sed 's/^/    | /' /tmp/.step.out
    fi
    return "$_rc"
}

# step_dispatch "$@"  - in the child started by step: run the function, exit.
step_dispatch() {
    if [ "${1:-}" = __step ]; then
        shift
        "$@"
        exit $?
    fi
}

# nvmet_subsys NQN  - create a subsystem that accepts any host NQN.
nvmet_subsys() {
    mkdir "$NVMET/subsystems/$1" &&
    echo 1 > "$NVMET/subsystems/$1/attr_allow_any_host"
}

# nvmet_ns_file NQN NSID FILE SIZE_MIB  - add namespace NSID backed by FILE
# (created sparse with SIZE_MIB if missing). buffered_io=1 is required for a
# file on tmpfs: the default file backend opens with O_DIRECT, which tmpfs in
# 6.1 does not support (enable fails with EINVAL).
nvmet_ns_file() {
    _ns=$NVMET/subsystems/$1/namespaces/$2
    [ -e "$3" ] || truncate -s "${4}M" "$3" || return 1
    mkdir "$_ns" &&
    printf '%s' "$3" > "$_ns/device_path" &&
    echo 1 > "$_ns/buffered_io" &&
    echo 1 > "$_ns/enable"
}

# nvmet_ns_bdev NQN NSID BLOCKDEV  - add namespace NSID backed by a block device
# (the nvmet bdev backend: what real targets use; e.g. a brd RAM disk).
nvmet_ns_bdev() {
    _ns=$NVMET/subsystems/$1/namespaces/$2
    mkdir "$_ns" &&
    printf '%s' "$3" > "$_ns/device_path" &&
    echo 1 > "$_ns/enable"
}

# brd_load COUNT SIZE_MIB  - create /dev/ram0../dev/ram<COUNT-1>, each SIZE_MIB
# (RAM is allocated lazily, on write). brd is in the initramfs but not loaded
# at boot because its size is a load-time parameter.
brd_load() {
    modprobe brd rd_nr="$1" rd_size=$(($2 * 1024)) &&
    [ -b /dev/ram0 ]
}

# nvmet_port ID TRADDR TRSVCID  - create a TCP/IPv4 port (not yet enabled:
# a port goes live when the first subsystem is linked into it).
nvmet_port() {
    _p=$NVMET/ports/$1
    mkdir "$_p" &&
    echo tcp > "$_p/addr_trtype" &&
    echo ipv4 > "$_p/addr_adrfam" &&
    echo "$2" > "$_p/addr_traddr" &&
    echo "$3" > "$_p/addr_trsvcid"
}

# nvmet_link PORTID NQN  - expose subsystem NQN on port PORTID (starts listening).
nvmet_link() {
    ln -s "$NVMET/subsystems/$2" "$NVMET/ports/$1/subsystems/$2"
}

# nvmet_teardown  - remove every port link, port, namespace and subsystem.
nvmet_teardown() {
    for l in "$NVMET"/ports/*/subsystems/*; do [ -L "$l" ] && rm "$l"; done
    for p in "$NVMET"/ports/*; do [ -d "$p" ] && rmdir "$p"; done
    for n in "$NVMET"/subsystems/*/namespaces/*; do
        [ -d "$n" ] || continue
        echo 0 > "$n/enable"; rmdir "$n"
    done
    for s in "$NVMET"/subsystems/*; do [ -d "$s" ] && rmdir "$s"; done
    return 0
}

# nvme_ns_dev NQN [NSID] [TIMEOUT_S]  - print /dev/nvmeXnY of a connected
# subsystem's namespace (default NSID 1), waiting up to TIMEOUT_S (default 15)
# for the asynchronous namespace scan. With NVME_MULTIPATH=y (Debian) the
# block device is the subsystem head node nvme<subsys>n<nsid>, listed under
# /sys/class/nvme-subsystem/nvme-subsysN/.
nvme_ns_dev() {
    _nqn=$1; _nsid=${2:-1}; _t=$(( ${3:-15} * 10 ))
    while [ "$_t" -gt 0 ]; do
        for _s in /sys/class/nvme-subsystem/nvme-subsys*; do
            [ -f "$_s/subsysnqn" ] || continue
            [ "$(cat "$_s/subsysnqn")" = "$_nqn" ] || continue
            for _d in "$_s"/nvme*n*; do
                [ -d "$_d" ] || continue
                [ "$(cat "$_d/nsid" 2>/dev/null)" = "$_nsid" ] || continue
                _b=/dev/$(basename "$_d")
                [ -b "$_b" ] && { echo "$_b"; return 0; }
            done
        done
        sleep 0.1; _t=$((_t - 1))
    done
    echo "nvme_ns_dev: no namespace $_nsid for $_nqn" >&2
    return 1
}

# nvme_ctrl_gone NQN [TIMEOUT_S]  - wait until no controller of NQN remains.
nvme_ctrl_gone() {
    _t=$(( ${2:-10} * 10 ))
    while [ "$_t" -gt 0 ]; do
        _found=0
        for _c in /sys/class/nvme/nvme*; do
            [ -f "$_c/subsysnqn" ] && [ "$(cat "$_c/subsysnqn")" = "$1" ] && _found=1
        done
        [ "$_found" = 0 ] && return 0
        sleep 0.1; _t=$((_t - 1))
    done
    return 1
}

# ext4_write DEV MNT SUMS  - mkfs.ext4 on DEV, mount it on MNT, write a 3 MiB
# file and 20 small ones of odd sizes, record their sha256 in SUMS, sync,
# umount.
ext4_write() {
    mkfs.ext4 -q -F "$1"
    mkdir -p "$2"
    mount -t ext4 "$1" "$2"
    dd if=/dev/urandom of="$2/big.bin" bs=64k count=48 2>/dev/null
    mkdir "$2/dir"
    _i=0
    while [ $_i -lt 20 ]; do
        dd if=/dev/urandom of="$2/dir/small$_i" bs=$((512 + _i * 700)) count=1 2>/dev/null
        _i=$((_i + 1))
    done
    (cd "$2" && find . -type f | sort | xargs sha256sum) > "$3"
    head -n 3 "$3"
    sync
    umount "$2"
}

# ext4_verify DEV MNT SUMS  - drop caches (so that reads go to the device),
# e2fsck -fn, remount, check every file against SUMS, umount.
ext4_verify() {
    echo 3 > /proc/sys/vm/drop_caches
    e2fsck -fn "$1"
    mkdir -p "$2"
    mount -t ext4 "$1" "$2"
    (cd "$2" && sha256sum -c "$3" | tail -n 2)
    (cd "$2" && sha256sum -c -s "$3")
    umount "$2"
}
