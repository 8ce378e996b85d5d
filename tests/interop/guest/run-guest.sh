#!/usr/bin/env bash
# run-guest.sh - boot the interop guest under qemu TCG with one test script.
#
# usage: run-guest.sh [options] GUEST_SCRIPT
#   GUEST_SCRIPT         busybox-sh script run as /test.sh inside the guest; a
#                        bare name (selftest.sh) is looked up next to this file.
# options:
#   -p, --port PORT|auto forward host 127.0.0.1:PORT -> guest 10.0.2.15:4420
#                        (user-mode net hostfwd; for guest TARGET mode). "auto"
#                        picks a free port. Default: no forwarding.
#   -e, --env KEY=VALUE  export KEY=VALUE to the guest script (repeatable)
#   -f, --file SRC[:DST] copy host file SRC into the guest at DST
#                        (default /data/<basename>) (repeatable)
#   -x, --exec CMD       TARGET mode: once the guest prints the ready marker,
#                        run CMD on the host (bash -c), then stop the guest.
#                        CMD sees NVFAB_INTEROP_PORT, NVFAB_INTEROP_LOG,
#                        NVFAB_INTEROP_QEMU_PID in its environment.
#   -r, --ready MARKER   marker --exec waits for (default NVFAB-INTEROP-TARGET-READY)
#   -t, --timeout SEC    wall-clock limit for the whole run (default 300)
#   -l, --log FILE       console log (default $CACHE/logs/<script>.<pid>.log,
#                        deleted after a PASS unless NVFAB_INTEROP_KEEP_LOGS=1)
#   -q, --quiet          do not copy the guest console to stderr
#       --smp N          vCPUs (default 2: nvmet + host in one guest like it)
#       --mem MB         guest RAM (default 1024)
#       --append ARGS    extra kernel command line (e.g. "loglevel=7")
#       --nvme IMG[:LBS] an emulated NVMe SSD (qemu's nvme controller, one
#                        namespace on raw image IMG, logical blocks of LBS
#                        bytes, default 512): /dev/nvme0n1 and /dev/ng0n1
# env: NVFAB_INTEROP_CACHE, NVFAB_INTEROP_TIMEOUT (default for -t),
#      NVFAB_INTEROP_KEEP_LOGS=1 (keep logs of passing runs too),
#      NVFAB_INTEROP_FAIL_FIRST_BOOT=1 (test hook: the first boot panics
#      before init, so that the boot retry below is exercised).
#      (NVFAB_INTEROP_PORT is deliberately NOT read: it is what --exec commands
#      receive, and a nested run-guest.sh must not grab the same port.)
# exit codes:
#   0    guest printed "NVFAB-INTEROP-RESULT: PASS" (or, with --exec, CMD exit 0)
#   1    guest printed "NVFAB-INTEROP-RESULT: FAIL <n>"
#   2    usage error
#   3    infrastructure error (cache/build failed, qemu failed or exited
#        without a result marker, port in use)
#   124  timeout
#   with --exec: CMD's own exit code once CMD has run.
# The last stderr line is a summary:
#   run-guest: <script> result=<PASS|FAIL n|...> boot=<s> boot_retries=<n> total=<s> log=<file>
# where boot = seconds from qemu start to the NVFAB-INTEROP-INIT line.
# A guest kernel that panics before init (so before anything of the test ran)
# is booted again, twice at most; its console is kept as <log>.boot<n>.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
CACHE=${NVFAB_INTEROP_CACHE:-$REPO/.cache/interop}
export NVFAB_INTEROP_CACHE=$CACHE

PORT=""
TIMEOUT=${NVFAB_INTEROP_TIMEOUT:-300}
READY=NVFAB-INTEROP-TARGET-READY
EXEC=""
LOG=""
QUIET=0
SMP=2
MEM=1024
APPEND=""
NVME=""
ENVS=()
FILES=()
SCRIPT=""

usage() { sed -n '2,48p' "$0" >&2; exit 2; }
while (($#)); do
    case "$1" in
        -p|--port) PORT=$2; shift 2 ;;
        -e|--env) ENVS+=("$2"); shift 2 ;;
        -f|--file) FILES+=("$2"); shift 2 ;;
        -x|--exec) EXEC=$2; shift 2 ;;
        -r|--ready) READY=$2; shift 2 ;;
        -t|--timeout) TIMEOUT=$2; shift 2 ;;
        -l|--log) LOG=$2; shift 2 ;;
        -q|--quiet) QUIET=1; shift ;;
        --smp) SMP=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --append) APPEND=$2; shift 2 ;;
        --nvme) NVME=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "run-guest: unknown option $1" >&2; usage ;;
        *) [[ -z "$SCRIPT" ]] || usage; SCRIPT=$1; shift ;;
    esac
done
[[ -n "$SCRIPT" ]] || usage
if [[ ! -f "$SCRIPT" && -f "$SCRIPT_DIR/$SCRIPT" ]]; then SCRIPT=$SCRIPT_DIR/$SCRIPT; fi
[[ -f "$SCRIPT" ]] || { echo "run-guest: no such script: $SCRIPT" >&2; exit 2; }
NAME=$(basename "$SCRIPT" .sh)

say() { echo "run-guest: $*" >&2; }

# ---------------------------------------------------------------- build
# Both are idempotent and return in well under a second when up to date.
# Their chatter is only shown when they fail.
if ! out=$("$SCRIPT_DIR/fetch.sh" 2>&1); then echo "$out" >&2; say "fetch.sh failed"; exit 3; fi
if ! BASE=$("$SCRIPT_DIR/mkinitramfs.sh" 2>"$CACHE/.mkinitramfs.err"); then
    cat "$CACHE/.mkinitramfs.err" >&2; say "mkinitramfs.sh failed"; exit 3
fi
KERNEL=$CACHE/vmlinuz

# ---------------------------------------------------------------- state & cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-guest.XXXXXX")
QPID=""
TPID=""
EPID=""
KEEP_LOG=${NVFAB_INTEROP_KEEP_LOGS:-0}
if [[ -z "$LOG" ]]; then
    mkdir -p "$CACHE/logs"
    LOG=$CACHE/logs/$NAME.$$.log
else
    KEEP_LOG=1
fi
: > "$LOG"

stop_pid() {   # PID: TERM, up to 3 s grace, then KILL. Only our own children.
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    [[ -n "$EPID" ]] && stop_pid "$EPID"
    [[ -n "$QPID" ]] && stop_pid "$QPID"
    # tail exits by itself (--pid) once qemu is gone; this is the fallback.
    [[ -n "$TPID" ]] && stop_pid "$TPID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- per-test cpio
# A second cpio archive appended to the base one: the kernel unpacks both,
# later files win. Holds /test.sh, /test.env and any -f files.
mkdir -p "$WORK/extra"
install -m 0755 "$SCRIPT" "$WORK/extra/test.sh"
: > "$WORK/extra/test.env"
for kv in "${ENVS[@]}"; do
    k=${kv%%=*}; v=${kv#*=}
    [[ "$kv" == *=* && "$k" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { say "bad --env '$kv'"; exit 2; }
    printf "%s='%s'\n" "$k" "${v//\'/\'\\\'\'}" >> "$WORK/extra/test.env"
done
for f in "${FILES[@]}"; do
    src=${f%%:*}; dst=/data/$(basename "$src")
    [[ "$f" == *:* ]] && dst=${f#*:}
    [[ -f "$src" ]] || { say "no such file: $src"; exit 2; }
    mkdir -p "$WORK/extra$(dirname "$dst")"
    cp -p "$src" "$WORK/extra$dst"
done
(cd "$WORK/extra" && find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z |
    cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 > "$WORK/extra.cpio.gz"
cat "$BASE" "$WORK/extra.cpio.gz" > "$WORK/initrd.img"

# ---------------------------------------------------------------- port
port_free() {   # nobody accepts on 127.0.0.1:$1 (connect refused)
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
AUTO_PORT=0
if [[ "$PORT" == auto ]]; then
    AUTO_PORT=1
    PORT=""
fi
pick_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- boot
# -accel tcg: no KVM here. -cpu max: every feature TCG emulates (SSE4.2 etc).
# -nodefaults/-display none: no VGA/default NIC; the only console is ttyS0,
# written straight to $LOG. -no-reboot + panic=-1: a guest panic or reboot
# ends qemu at once instead of looping. ipv6=off: slirp need not answer RS.
# romfile=: no iPXE option ROM needed (we boot with -kernel).
# Kernel: quiet keeps the console to warnings so the markers stay readable.
BOOT_RETRIES=0
NVME_ARGS=()
if [[ -n "$NVME" ]]; then
    nvme_img=${NVME%%:*} nvme_lbs=512
    [[ "$NVME" == *:* ]] && nvme_lbs=${NVME#*:}
    [[ -f "$nvme_img" ]] || { say "no such NVMe image: $nvme_img"; exit 2; }
    [[ "$nvme_lbs" =~ ^(512|4096)$ ]] || { say "--nvme: block size must be 512 or 4096"; exit 2; }
    # cache=none would need O_DIRECT on the image's file system; writeback is what
    # an SSD's volatile cache looks like (the controller reports VWC).
    NVME_ARGS=(-drive "file=$nvme_img,if=none,id=nvm0,format=raw,cache=writeback"
               -device "nvme,serial=nvfab-pt0,drive=nvm0,logical_block_size=$nvme_lbs,physical_block_size=$nvme_lbs")
fi

start_qemu() {
    local net=user,id=n0,ipv6=off append="console=ttyS0 quiet panic=-1 $APPEND"
    # Test hook: the first boot looks for an init that is not there, so the
    # kernel panics before init, as a boot that TCG broke does (see the watch).
    [[ ${NVFAB_INTEROP_FAIL_FIRST_BOOT:-0} == 1 && $BOOT_RETRIES == 0 ]] &&
        append+=" rdinit=/nvfab-no-such-init"
    [[ -n "$PORT" ]] && net+=",hostfwd=tcp:127.0.0.1:${PORT}-:4420"
    T0=$EPOCHREALTIME
    qemu-system-x86_64 \
        -accel tcg -cpu max -smp "$SMP" -m "$MEM" \
        -nodefaults -no-user-config -display none -no-reboot \
        -serial "file:$LOG" \
        -kernel "$KERNEL" -initrd "$WORK/initrd.img" \
        -append "$append" \
        -netdev "$net" -device virtio-net-pci,netdev=n0,romfile= \
        "${NVME_ARGS[@]}" \
        </dev/null >"$WORK/qemu.out" 2>&1 &
    QPID=$!
}

# boot_guest: starts qemu (in auto mode on a free port: a hostfwd clash makes
# qemu exit at once, then another port is tried) and the console's tail.
boot_guest() {
    local attempt
    for attempt in 1 2 3; do
        if [[ $AUTO_PORT == 1 ]]; then PORT=$(pick_port) || { say "no free port found"; exit 3; }; fi
        start_qemu
        sleep 0.3
        if ! kill -0 "$QPID" 2>/dev/null && grep -q 'host forwarding' "$WORK/qemu.out"; then
            wait "$QPID" 2>/dev/null || true
            QPID=""
            if [[ $AUTO_PORT == 1 && $attempt -lt 3 ]]; then continue; fi
            say "port $PORT unavailable: $(cat "$WORK/qemu.out")"
            exit 3
        fi
        break
    done
    [[ -n "$PORT" ]] && say "hostfwd 127.0.0.1:$PORT -> guest :4420"
    if [[ $QUIET == 0 ]]; then
        tail -n +1 -F --pid="$QPID" "$LOG" >&2 2>/dev/null &
        TPID=$!
    fi
}
boot_guest

elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}'; }
BOOT="-"
RESULT=""
RC=3
DEADLINE=$(( $(date +%s) + TIMEOUT ))

summary() {
    # Give the streaming tail a moment to flush the final console lines.
    [[ -n "$TPID" ]] && sleep 0.3
    say "$NAME result=${RESULT:-none} boot=${BOOT}s boot_retries=$BOOT_RETRIES total=$(elapsed)s log=$1"
}

# ---------------------------------------------------------------- watch
# Poll the console log: cheap (it is a few KB) and needs no extra processes.
while :; do
    if [[ "$BOOT" == "-" ]] && grep -aq '^NVFAB-INTEROP-INIT:' "$LOG"; then
        BOOT=$(elapsed)
    fi
    line=$(grep -a -m1 -E '^NVFAB-INTEROP-RESULT: ' "$LOG" | tr -d '\r' || true)
    if [[ -n "$line" ]]; then
        RESULT=${line#NVFAB-INTEROP-RESULT: }
        [[ "$RESULT" == PASS ]] && RC=0 || RC=1
        # The guest powers itself off right after the marker; wait briefly.
        for _ in $(seq 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
        break
    fi
    if [[ -n "$EXEC" ]] && grep -aqF -- "$READY" "$LOG"; then
        RESULT="READY"
        say "guest ready after $(elapsed)s; running: $EXEC"
        left=$(( DEADLINE - $(date +%s) ))
        ((left > 0)) || left=1
        # In the background + wait, so a TERM/INT to us is handled at once
        # (bash defers traps while a foreground child runs); cleanup stops it.
        NVFAB_INTEROP_PORT=$PORT NVFAB_INTEROP_LOG=$LOG NVFAB_INTEROP_QEMU_PID=$QPID \
            timeout "$left" bash -c "$EXEC" &
        EPID=$!
        wait "$EPID" && RC=0 || RC=$?
        EPID=""
        RESULT="exec rc=$RC"
        ((RC == 124)) && say "--exec command timed out"
        break
    fi
    if ! kill -0 "$QPID" 2>/dev/null; then
        wait "$QPID" 2>/dev/null && qrc=0 || qrc=$?
        QPID=""
        # A guest kernel that dies before our init ran has run nothing of the
        # test: under multi-threaded TCG, Linux's boot-time code patching now
        # and then meets a stale translation (seen: "Oops: int3" in
        # run_timer_softirq at 1.3 s, "Kernel panic - not syncing: Fatal
        # exception in interrupt"). Such a boot is tried again, twice at most;
        # a panic after init is the test's business and is never retried.
        if [[ "$BOOT" == "-" ]] && ((BOOT_RETRIES < 2)) &&
           grep -aqE 'Kernel panic|Oops:' "$LOG"; then
            BOOT_RETRIES=$((BOOT_RETRIES + 1))
            [[ -n "$TPID" ]] && { stop_pid "$TPID"; TPID=""; }
            cp "$LOG" "$LOG.boot$BOOT_RETRIES"
            say "the guest kernel died while booting, before init (console: $LOG.boot$BOOT_RETRIES):" \
                "$(grep -aE -m2 'Oops:|Kernel panic' "$LOG" | tr -d '\r' | paste -sd '|')"
            say "booting it again ($BOOT_RETRIES of 2)"
            # The failed boot's time does not count against the run's limit.
            DEADLINE=$(( DEADLINE + $(printf '%.0f' "$(elapsed)") + 1 ))
            : > "$LOG"
            boot_guest
            continue
        fi
        RESULT="qemu exited (rc=$qrc) without a result marker"
        sed 's/^/qemu: /' "$WORK/qemu.out" >&2
        RC=3
        break
    fi
    if (( $(date +%s) >= DEADLINE )); then
        RESULT="TIMEOUT after ${TIMEOUT}s"
        RC=124
        break
    fi
    sleep 0.2
done

[[ -n "$QPID" ]] && stop_pid "$QPID"
QPID=""
if [[ $RC == 0 && $KEEP_LOG != 1 ]]; then
    rm -f "$LOG" "$LOG".boot*
    summary "(removed; NVFAB_INTEROP_KEEP_LOGS=1 keeps it)"
else
    summary "$LOG"
fi
exit "$RC"
