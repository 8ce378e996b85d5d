# host-lib.sh - bash helpers for the host side of the interop parts
# (sourced by run.sh, kernel-host.sh, nvfab-host.sh, wire-check.sh and
# scripts/cross-aarch64.sh). Everything started here is stopped by PID.

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$INTEROP_DIR/../.." && pwd)
GUEST_DIR=$INTEROP_DIR/guest

ilog() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# apt_retry CMD...: runs an apt-get command up to 3 times, 5 and 10 s apart. What the first
# run on a new machine fetches (package lists after adding arm64, the guest kernels, qemu,
# tshark) must not fail the suite on one bad answer from a mirror; the dpkg lock is waited for.
apt_retry() {
    local try
    for try in 1 2 3; do
        "$@" && return 0
        ((try < 3)) && { ilog "apt: '$*' failed (try $try of 3); again in $((try * 5)) s"; sleep $((try * 5)); }
    done
    return 1
}

# free_port: an unused 127.0.0.1 TCP port (the kernel picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# build_sanitize BUILD: prints the b_sanitize option of a meson build dir
# ("none" for a release build).
build_sanitize() {
    local f=$1/meson-info/intro-buildoptions.json
    [[ -f $f ]] || { echo unknown; return; }
    python3 -c 'import json, sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == "b_sanitize": print(o["value"])' "$f"
}

# nvfabd_config PORT NQN NS1_BLOCKS NS1_BS NS2_BLOCKS NS2_BS ICD: SPDK-format
# config: two RAM namespaces, the subsystem and discovery on 127.0.0.1:PORT.
nvfabd_config() {
    local port=$1 nqn=$2 b1=$3 bs1=$4 b2=$5 bs2=$6 icd=$7
    cat <<JSON
{"subsystems": [
  {"subsystem": "bdev", "config": [
    {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": $b1, "block_size": $bs1}},
    {"method": "bdev_malloc_create", "params": {"name": "Malloc1", "num_blocks": $b2, "block_size": $bs2}}]},
  {"subsystem": "nvmf", "config": [
    {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "in_capsule_data_size": $icd}},
    {"method": "nvmf_create_subsystem", "params": {"nqn": "$nqn", "allow_any_host": true,
                                                   "serial_number": "NVFAB-INTEROP-01"}},
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$nqn", "namespace": {"bdev_name": "Malloc0"}}},
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$nqn", "namespace": {"bdev_name": "Malloc1"}}},
    {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$nqn", "listen_address":
      {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$port"}}},
    {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "nqn.2014-08.org.nvmexpress.discovery",
      "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$port"}}}]}]}
JSON
}

# nvfabd_start DIR CONFIG [nvfabd args...]: starts "${NVFABD_CMD[@]}" (the
# binary, possibly behind an emulator) with its RPC socket and log in DIR.
# Sets NVFABD_PID and NVFABD_LOG; waits for the RPC socket (the daemon
# creates it after the config is loaded).
NVFABD_PID=""
NVFABD_LOG=""
nvfabd_start() {
    local dir=$1 config=$2; shift 2
    NVFABD_LOG=$dir/nvfabd.log
    rm -f "$dir/rpc.sock"
    "${NVFABD_CMD[@]}" -c "$config" -r "$dir/rpc.sock" -L info "$@" >"$NVFABD_LOG" 2>&1 &
    NVFABD_PID=$!
    local i
    for i in $(seq 300); do
        [[ -S $dir/rpc.sock ]] && return 0
        kill -0 "$NVFABD_PID" 2>/dev/null || break
        sleep 0.05
    done
    ilog "nvfabd did not come up (pid $NVFABD_PID); log:"
    sed 's/^/    nvfabd| /' "$NVFABD_LOG" >&2
    nvfabd_stop >/dev/null || true
    return 1
}

# nvfabd_stop: SIGTERM, up to 15 s for a clean exit, then SIGKILL.
# Returns 0 only if the daemon exited 0 by itself and its log holds no
# sanitizer report. Prints the reason otherwise.
nvfabd_stop() {
    local pid=$NVFABD_PID rc=0 i
    [[ -n $pid ]] || return 0
    NVFABD_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            ilog "nvfabd (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    else
        ilog "nvfabd (pid $pid) had already exited"
        rc=1
    fi
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    if ((st != 0)); then ilog "nvfabd exit status $st"; rc=1; fi
    if [[ -n $NVFABD_LOG ]] && grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$NVFABD_LOG"; then
        ilog "sanitizer report in $NVFABD_LOG"
        rc=1
    fi
    return $rc
}

# show_log NAME FILE [LINES]: indented tail of a log, for failures.
show_log() {
    local name=$1 file=$2 n=${3:-80}
    [[ -s $file ]] || return 0
    echo "---- last $n lines of $name ($file)" >&2
    tail -n "$n" "$file" | sed "s/^/    $name| /" >&2
    echo "----" >&2
}

# guest_failure PART RC CONSOLE TIMEOUT: explains a failed run-guest.sh
# (exit RC) and shows the failing step's output and the dmesg tail from the
# console log, or the console's end when the guest never got to a verdict.
guest_failure() {
    local part=$1 rc=$2 console=$3 timeout=$4
    case $rc in
        124) ilog "$part: the guest did not finish within ${timeout}s" ;;
        1) ilog "$part: a guest step failed" ;;
        *) ilog "$part: run-guest.sh exit $rc" ;;
    esac
    sed -n '/: FAIL/,$p' "$console" | tr -d '\r' | head -n 120 | sed 's/^/    console| /' >&2
    [[ $rc == 124 || $rc == 3 ]] && show_log console "$console" 60
    return 0
}

# timed NAME CMD...: runs CMD, prints "NAME: Ns"; returns CMD's status.
timed() {
    local name=$1 t0=$EPOCHREALTIME rc=0; shift
    "$@" || rc=$?
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$name" -v r="$rc" \
        'BEGIN { printf "%s: %.1f s (rc=%d)\n", n, b - a, r }' >&2
    return $rc
}

# capture_start FILE PORT: dumpcap on lo, capture filter "tcp port PORT",
# 64 MiB kernel buffer (TCG guests are slow, but the loopback burst of a
# 2 MiB read is not). Sets CAPTURE_PID; waits until dumpcap is capturing.
CAPTURE_PID=""
CAPTURE_ERR=""
capture_start() {
    local file=$1 port=$2 i
    command -v dumpcap >/dev/null || { ilog "dumpcap missing (apt-get install tshark)"; return 1; }
    CAPTURE_ERR=$file.dumpcap.err
    rm -f "$file"
    dumpcap -i lo -f "tcp port $port" -s 262144 -B 64 -w "$file" >/dev/null 2>"$CAPTURE_ERR" &
    CAPTURE_PID=$!
    for i in $(seq 100); do
        grep -q 'Capturing on' "$CAPTURE_ERR" && return 0
        kill -0 "$CAPTURE_PID" 2>/dev/null || break
        sleep 0.05
    done
    ilog "dumpcap did not start:"; cat "$CAPTURE_ERR" >&2
    capture_stop || true
    return 1
}

# capture_stop: SIGINT (dumpcap flushes and prints its counters). Returns 1
# if packets were dropped: a capture with holes cannot be dissected reliably.
capture_stop() {
    local pid=$CAPTURE_PID i
    [[ -n $pid ]] || return 0
    CAPTURE_PID=""
    # libpcap hands packets over in TPACKET_V3 blocks that are retired on a
    # timer; a SIGINT right after the last packet loses the open block (and
    # counts nothing as dropped). Seen: the final FINs and the tail of the
    # last transfer missing. Give the timer a second.
    sleep 1.2
    kill -INT "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local stats
    stats=$(grep -a 'received/dropped' "$CAPTURE_ERR" || true)
    ilog "dumpcap: ${stats:-no statistics}"
    [[ $stats =~ :\ ([0-9]+)/([0-9]+)\ \(pcap:([0-9]+)/dumpcap:([0-9]+) ]] || return 0
    if ((BASH_REMATCH[2] + BASH_REMATCH[3] + BASH_REMATCH[4] > 0)); then
        ilog "dumpcap dropped packets: the capture is incomplete"
        return 1
    fi
    return 0
}

# ensure_tshark: installs Debian's tshark if it is missing (idempotent;
# non-interactive: dumpcap is not made setuid, we capture as root anyway).
ensure_tshark() {
    command -v tshark >/dev/null && command -v dumpcap >/dev/null && return 0
    [[ $(id -u) == 0 ]] || { ilog "tshark missing and not root: apt-get install tshark"; return 1; }
    ilog "installing tshark (apt-get)"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends tshark >/dev/null ||
    { apt_retry apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt_retry apt-get -o DPkg::Lock::Timeout=300 install -y -q \
          --no-install-recommends tshark >/dev/null; } || return 1
    command -v tshark >/dev/null && command -v dumpcap >/dev/null
}

# nvfab_bundle BUILD OUT.tar: nvfabd and nvfab of BUILD with every shared
# library they load on this machine (ldd: libc and the loader included, and
# libasan/libubsan for a sanitizer build), for a guest that runs them (its
# initramfs has only Debian's busybox userland). Layout inside the archive:
# opt/nvfab/{bin,lib}; run a binary there as
#   /opt/nvfab/lib/ld-linux-x86-64.so.2 --library-path /opt/nvfab/lib /opt/nvfab/bin/X
# so that no library of the guest's own is mixed in.
nvfab_bundle() {
    local build=$1 out=$2 stage bin lib
    stage=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-bundle.XXXXXX")
    mkdir -p "$stage/opt/nvfab/bin" "$stage/opt/nvfab/lib"
    for bin in "$build/apps/nvfabd" "$build/apps/nvfab/nvfab"; do
        [[ -x $bin ]] || { ilog "nvfab_bundle: no $bin"; rm -rf "$stage"; return 1; }
        cp "$bin" "$stage/opt/nvfab/bin/"
        while read -r lib; do
            cp -L "$lib" "$stage/opt/nvfab/lib/"
        done < <(ldd "$bin" | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
    done
    tar -C "$stage" -cf "$out" opt
    rm -rf "$stage"
}
