#!/usr/bin/env bash
# cross-aarch64.sh - build nvfab for aarch64 (the SmartNIC's ARM cores) on this
# x86-64 Debian 12 machine and test it under user-mode qemu.
#
# usage: scripts/cross-aarch64.sh [options] [STAGE...]
# stages (default: all of them, in this order):
#   setup   cross toolchain + qemu-user (apt-get install, native amd64 packages
#           only), the arm64 library sysroot, the Meson cross file
#   build   meson setup (once) + ninja in the aarch64 build dir
#   unit    the cmocka unit tests under qemu-aarch64 (meson's exe_wrapper)
#   e2e     aarch64 nvfabd AND aarch64 nvfab, both under qemu-aarch64, on
#           loopback: discover, identify, write/read/compare (4 KiB, 1 MiB,
#           512 B and 4 KiB LBAs, digests off and on), perf --verify, SIGTERM
#   all     all of the above
# options:
#   -B DIR        aarch64 build dir (default build-aarch64; env NVFAB_AARCH64_BUILD)
#   --native DIR  also run cross-architecture sessions in e2e: x86-64 nvfab from
#                 DIR against the aarch64 nvfabd, and the aarch64 nvfab against
#                 the x86-64 nvfabd of DIR
#   -h, --help
# env:
#   NVFAB_AARCH64_SYSROOT  sysroot cache (default <repo>/.cache/aarch64-sysroot)
#
# The sysroot: the arm64 .debs of liburing-dev liburing2 libjson-c-dev
# libjson-c5 libisal-dev libisal2 libnvme-dev (headers only) libcmocka-dev
# libcmocka0 are fetched with `apt-get download` and unpacked with `dpkg -x`
# into $SYSROOT/root. NOTHING arm64 is installed: libisal-dev and libnvme-dev
# are not Multi-Arch: same, so `apt-get install libisal-dev:arm64` REMOVES the
# amd64 package and breaks the native build. The only dpkg change is
# `dpkg --add-architecture arm64` (+ apt-get update) so apt can download them.
# The C library comes from the cross toolchain (libc6-dev-arm64-cross in
# /usr/aarch64-linux-gnu); see scripts/cross/aarch64-linux-gnu.ini.
#
# Under qemu-aarch64 7.2 (Debian 12) io_uring_setup is not implemented
# (ENOSYS), so the file bdev cannot work there: the e2e session uses RAM bdevs
# and the unit stage skips bdev_file (after probing that io_uring is indeed
# missing: with a qemu that has it, bdev_file runs too).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
. tests/interop/host-lib.sh

BUILD=${NVFAB_AARCH64_BUILD:-build-aarch64}
NATIVE=""
SYSROOT=${NVFAB_AARCH64_SYSROOT:-$REPO/.cache/aarch64-sysroot}
STAGES=()
while (($#)); do
    case $1 in
        -B) BUILD=$2; shift 2 ;;
        --native) NATIVE=$2; shift 2 ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        setup|build|unit|e2e) STAGES+=("$1"); shift ;;
        all) STAGES+=(setup build unit e2e); shift ;;
        *) echo "cross-aarch64: unknown argument $1" >&2; exit 2 ;;
    esac
done
((${#STAGES[@]})) || STAGES=(setup build unit e2e)

ROOT=$SYSROOT/root
CROSS_CONST=$SYSROOT/sysroot.ini
CROSS_FILE=$REPO/scripts/cross/aarch64-linux-gnu.ini
PKGS=(liburing-dev liburing2 libjson-c-dev libjson-c5 libisal-dev libisal2 libnvme-dev libssl-dev libssl3
      libcmocka-dev libcmocka0)
# The exe_wrapper of the cross file, for running things by hand.
QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu
      -E "LD_LIBRARY_PATH=$ROOT/usr/lib/aarch64-linux-gnu:/usr/aarch64-linux-gnu/lib")
say() { echo "cross-aarch64: $*" >&2; }

# ------------------------------------------------------------------ setup
amd64_guard() {   # the failure mode seen once: amd64 -dev packages replaced by arm64 ones
    local p missing=()
    for p in libisal-dev libnvme-dev liburing-dev libjson-c-dev; do
        dpkg-query -W -f='${Status}' "$p:amd64" 2>/dev/null | grep -q 'ok installed' || missing+=("$p:amd64")
    done
    ((${#missing[@]} == 0)) && return 0
    say "WARNING: ${missing[*]} not installed: the native build is broken"
    say "         (was an arm64 package installed? run scripts/install-deps.sh)"
    return 0
}

setup_toolchain() {
    local need=()
    command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
    # The C library and its start files (Scrt1.o, crti.o) are only a Recommends of the cross
    # gcc, which --no-install-recommends leaves out: name them.
    [[ -f /usr/aarch64-linux-gnu/lib/crti.o && -f /usr/aarch64-linux-gnu/lib/Scrt1.o ]] ||
        need+=(libc6-dev-arm64-cross)
    command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
    command -v pkg-config >/dev/null || need+=(pkg-config)
    ((${#need[@]} == 0)) && return 0
    say "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt_retry apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends "${need[@]}" >/dev/null
}

candidates() {    # PKG...: "PKG VERSION" lines, the versions apt would download for PKG:arm64
    apt-cache policy "${@/%/:arm64}" 2>/dev/null |
        awk '/^[^ ].*:arm64:$/ { sub(/:arm64:$/, ""); p = $0 }
             /^ *Candidate:/ && $2 != "(none)" { print p, $2 }'
}

setup_sysroot() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "dpkg --add-architecture arm64 (download only; nothing arm64 gets installed)"
        dpkg --add-architecture arm64 || return 1
    fi
    local cands p v want=""
    cands=$(candidates "${PKGS[@]}")
    if [[ $(grep -c . <<< "$cands") != "${#PKGS[@]}" ]]; then
        say "apt-get update (arm64 package lists)"
        apt_retry apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null || return 1
        cands=$(candidates "${PKGS[@]}")
    fi
    for p in "${PKGS[@]}"; do
        v=$(awk -v p="$p" '$1 == p { print $2 }' <<< "$cands")
        [[ -n $v ]] || { say "no arm64 candidate for $p"; return 1; }
        want+="$p:arm64=$v"$'\n'
    done
    if [[ -d $ROOT && -f $SYSROOT/packages.txt && $(cat "$SYSROOT/packages.txt") == "${want%$'\n'}" ]]; then
        return 0   # up to date
    fi
    say "building the sysroot in $SYSROOT"
    mkdir -p "$SYSROOT"
    local tmp; tmp=$(mktemp -d "$SYSROOT/.new.XXXXXX")
    # apt-get download writes to the cwd; as root apt warns that its _apt
    # sandbox user cannot write there: harmless.
    (cd "$tmp" && mkdir debs && cd debs &&
     apt_retry apt-get download $(printf '%s\n' "$want" | sed '/^$/d') 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
    local n; n=$(find "$tmp/debs" -name '*_arm64.deb' | wc -l)
    if ((n != ${#PKGS[@]})); then
        say "downloaded $n of ${#PKGS[@]} .debs"; rm -rf "$tmp"; return 1
    fi
    mkdir "$tmp/root"
    for p in "$tmp"/debs/*.deb; do dpkg-deb -x "$p" "$tmp/root" || { rm -rf "$tmp"; return 1; }; done
    rm -rf "$ROOT" "$SYSROOT/debs"
    mv "$tmp/root" "$ROOT" && mv "$tmp/debs" "$SYSROOT/debs" && rmdir "$tmp"
    printf '%s' "${want%$'\n'}" > "$SYSROOT/packages.txt"
}

setup_crossfile() {
    local want
    want=$(printf "# generated by scripts/cross-aarch64.sh: list it BEFORE scripts/cross/aarch64-linux-gnu.ini\n[constants]\nsysroot = '%s'\n" "$ROOT")
    [[ -f $CROSS_CONST && $(cat "$CROSS_CONST") == "$want" ]] || printf '%s\n' "$want" > "$CROSS_CONST"
}

stage_setup() {
    amd64_guard
    setup_toolchain || { say "cannot install the cross toolchain"; return 1; }
    # One sysroot writer at a time (CI runs parts in parallel sometimes).
    mkdir -p "$SYSROOT"
    (
        flock 9
        setup_sysroot
    ) 9> "$SYSROOT/.lock" || { say "sysroot setup failed"; return 1; }
    setup_crossfile
    say "sysroot: $ROOT ($(sed 's/:arm64=/ /' "$SYSROOT/packages.txt" | tr '\n' ',' | sed 's/,$//; s/,/, /g'))"
}

# ------------------------------------------------------------------ build
stage_build() {
    [[ -f $CROSS_CONST ]] || { say "run the setup stage first"; return 1; }
    if [[ ! -f $BUILD/build.ninja ]]; then
        meson setup "$BUILD" --cross-file "$CROSS_CONST" --cross-file "$CROSS_FILE" >"$SYSROOT/meson-setup.log" 2>&1 ||
            { cat "$SYSROOT/meson-setup.log" >&2; return 1; }
    fi
    ninja -C "$BUILD" >"$SYSROOT/ninja.log" 2>&1 || { tail -n 60 "$SYSROOT/ninja.log" >&2; return 1; }
    local f
    f=$(file -b "$BUILD/apps/nvfabd")
    say "built $BUILD/apps/nvfabd: ${f%%, BuildID*}"
    [[ $f == *"ARM aarch64"* ]]
}

# ------------------------------------------------------------------ unit
io_uring_works() {   # does qemu-aarch64 implement io_uring_setup?
    local probe=$SYSROOT/io_uring_probe
    if [[ ! -x $probe ]]; then
        printf '%s\n' '#include <unistd.h>' '#include <sys/syscall.h>' '#include <errno.h>' \
            'int main(void) { char p[120] = {0}; long fd = syscall(425, 1, p);' \
            '  return fd >= 0 ? 0 : errno == ENOSYS ? 38 : 1; }' > "$SYSROOT/io_uring_probe.c"
        aarch64-linux-gnu-gcc -O1 -o "$probe" "$SYSROOT/io_uring_probe.c" || return 2
    fi
    "${QEMU[@]}" "$probe"
}

stage_unit() {
    local tests=() t skip=""
    local rc=0
    io_uring_works || rc=$?
    if ((rc == 38)); then
        skip=bdev_file
        say "qemu-aarch64 $(qemu-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p'): io_uring_setup -> ENOSYS;" \
            "skipping bdev_file (its io_uring channel cannot open under emulation)"
    fi
    while read -r t; do
        [[ -n $t && $t != "$skip" ]] && tests+=("$t")
    done < <(meson test -C "$BUILD" --suite unit --list 2>/dev/null | grep -v '^ninja')
    ((${#tests[@]})) || { say "no unit tests found"; return 1; }
    meson test -C "$BUILD" --print-errorlogs --num-processes 2 "${tests[@]}" 2>&1 | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):' >&2
    local st=${PIPESTATUS[0]}
    ((st == 0)) || tail -n 80 "$BUILD/meson-logs/testlog.txt" >&2
    return "$st"
}

# ------------------------------------------------------------------ e2e
E2E_NQN=nqn.2026-11.io.nvfab:aarch64
e2e_session() {   # e2e_session LABEL "NVFAB CMD..." PORT WORK: discover/identify/io/perf
    local label=$1 port=$3 w=$4
    local -a nv
    read -r -a nv <<< "$2"
    nv=(timeout -k 5 90 "${nv[@]}")   # a hang fails the step instead of the whole run
    local trid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$port subnqn:$E2E_NQN"
    local fails=0 ns bytes dg lbasz off=$((1 << 20))
    ck() {   # ck NAME CMD...
        local name=$1; shift
        if "$@" > "$w/step.out" 2>&1; then
            echo "STEP $label-$name: ok" >&2
        else
            echo "STEP $label-$name: FAIL" >&2; sed 's/^/    | /' "$w/step.out" | tail -n 30 >&2
            fails=$((fails + 1))
        fi
    }
    disc() { "${nv[@]}" discover -t tcp -a 127.0.0.1 -s "$port" | tee /dev/stderr | grep -q "subnqn: *$E2E_NQN"; }
    ident() { "${nv[@]}" identify -r "$trid" | grep -q "^subnqn *: $E2E_NQN" &&
              "${nv[@]}" identify -r "$trid" -n 2 | grep -q 'lbads:12'; }
    io() {   # io NSID BYTES LBA flags...
        local n=$1 b=$2 l=$3; shift 3
        head -c "$b" /dev/urandom > "$w/pat"
        "${nv[@]}" write -r "$trid" -n "$n" --lba "$l" --data-size "$b" --data "$w/pat" "$@" &&
        "${nv[@]}" read -r "$trid" -n "$n" --lba "$l" --data-size "$b" --data "$w/rb" "$@" &&
        cmp "$w/pat" "$w/rb" &&
        "${nv[@]}" compare -r "$trid" -n "$n" --lba "$l" --data-size "$b" --data "$w/pat" "$@"
    }
    perfv() { "${nv[@]}" perf -r "$trid" "$@" --verify > "$w/perf.out" 2>&1; local r=$?; cat "$w/perf.out";
              ((r == 0)) && grep -q 'errors: 0 I/O, 0 verify' "$w/perf.out"; }
    ck discover disc
    ck identify ident
    for dg in plain dgst; do
        local -a fl=()
        [[ $dg == dgst ]] && fl=(-g -G)
        for ns in 1 2; do
            lbasz=$((ns == 1 ? 512 : 4096))
            for bytes in 4096 1048576; do
                ck "io-$dg-ns$ns-$((bytes / 1024))k" io "$ns" "$bytes" $((off / lbasz)) "${fl[@]}"
                off=$((off + (2 << 20)))
            done
        done
    done
    ck perf-verify perfv -q 8 -o 4096 -w randrw -t 2
    ck perf-verify-dgst perfv -g -G -q 4 -o 65536 -w rw -t 2
    return $((fails > 0))
}

e2e_target() {    # e2e_target LABEL "NVFABD CMD..." "NVFAB CMD..."
    local label=$1 w rc=0 port
    read -r -a NVFABD_CMD <<< "$2"
    w=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-aarch64.XXXXXX")
    port=$(free_port)
    nvfabd_config "$port" "$E2E_NQN" 65536 512 8192 4096 8192 > "$w/config.json"
    local t0=$EPOCHREALTIME
    if ! nvfabd_start "$w" "$w/config.json" -m 0x1; then
        rm -rf "$w"; return 1
    fi
    say "$label: nvfabd up on 127.0.0.1:$port after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
    e2e_session "$label" "$3" "$port" "$w" || rc=1
    t0=$EPOCHREALTIME
    if nvfabd_stop; then
        say "$label: nvfabd exited 0 on SIGTERM after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
    else
        rc=1; show_log nvfabd "$NVFABD_LOG" 40
    fi
    rm -rf "$w"
    return $rc
}

stage_e2e() {
    local rc=0 q="${QEMU[*]}"
    # nvfabd pins its reactor to CPU 0 (-m 0x1); qemu-user passes
    # sched_setaffinity through, so this works as natively.
    e2e_target aarch64 "$q $BUILD/apps/nvfabd" "$q $BUILD/apps/nvfab/nvfab" || rc=1
    if [[ -n $NATIVE ]]; then
        [[ -x $NATIVE/apps/nvfabd && -x $NATIVE/apps/nvfab/nvfab ]] || { say "no native build in $NATIVE"; return 1; }
        e2e_target x86-host "$q $BUILD/apps/nvfabd" "$NATIVE/apps/nvfab/nvfab" || rc=1
        e2e_target x86-target "$NATIVE/apps/nvfabd" "$q $BUILD/apps/nvfab/nvfab" || rc=1
    fi
    return $rc
}

# ------------------------------------------------------------------ main
# One run at a time per sysroot (the sysroot, the cross file and the build dir
# are shared; a second run waits).
mkdir -p "$SYSROOT"
exec 8> "$SYSROOT/.run.lock"
flock -w 900 8 || { say "another cross-aarch64.sh holds $SYSROOT/.run.lock"; exit 1; }
status=0
for s in "${STAGES[@]}"; do
    t0=$EPOCHREALTIME
    rc=0
    "stage_$s" || rc=$?
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
    if ((rc == 0)); then say "stage $s: ok (${secs} s)"; else say "stage $s: FAILED (${secs} s)"; status=1; break; fi
done
exit $status
