#!/usr/bin/env bash
# fetch.sh - install the host tools and fill the interop guest cache.
#
# What it does (idempotent; a second run with a complete cache returns at once
# without touching apt):
#   1. apt-get install (only if missing) the HOST tools: qemu-system-x86 (the
#      emulator), cpio + gzip (initramfs), kmod (depmod, to build modules.dep
#      for the extracted kernel), binutils (readelf, for shared-lib closure).
#   2. apt-get download (NOT install) the GUEST payload:
#        linux-image-<abi>-amd64 (the version linux-image-amd64 depends on),
#        busybox-static, nvme-cli, e2fsprogs, [fio if NVFAB_INTEROP_FIO=1]
#      and, breadth-first, every lib* package in their Depends/PreDepends.
#      Extra lib packages are harmless: mkinitramfs.sh copies only the ELF
#      closure it really needs and fails loudly if a library is missing.
#   3. dpkg -x every .deb into one merged tree "$CACHE/root" and run
#      depmod -b on it (the .deb ships no modules.dep; postinst makes it).
#
# Usage:   tests/interop/guest/fetch.sh [--refresh]
#   --refresh   re-resolve versions with apt (e.g. after a Debian kernel ABI
#               bump) and rebuild the cache from scratch.
# Env:
#   NVFAB_INTEROP_CACHE   cache dir (default: <repo>/.cache/interop)
#   NVFAB_INTEROP_KERNEL  pin the kernel package, e.g. linux-image-6.1.0-56-amd64
#   NVFAB_INTEROP_FIO=1   also fetch fio. Debian's fio links librados/librbd/
#                         libgfapi directly, which drags in ~100 MB of Ceph and
#                         Gluster libraries, so it is off by default.
# Output (stdout, last line): the cache dir. Exit 0 on success, non-zero on error.
# Cache layout:
#   $CACHE/debs/*.deb          downloaded packages
#   $CACHE/root/               merged dpkg -x tree (boot/, lib/modules/, usr/ ...)
#   $CACHE/kernel-version      e.g. 6.1.0-56-amd64
#   $CACHE/vmlinuz             symlink to root/boot/vmlinuz-<kver>
#   $CACHE/packages.txt        "name version" of every unpacked package
#   $CACHE/.fetch-complete     stamp; present only after a fully successful run
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
. "$SCRIPT_DIR/../host-lib.sh"   # apt_retry
CACHE=${NVFAB_INTEROP_CACHE:-$REPO/.cache/interop}
WANT_FIO=${NVFAB_INTEROP_FIO:-0}

REFRESH=0
case "${1:-}" in
    --refresh) REFRESH=1 ;;
    "") ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "fetch.sh: unknown argument: $1" >&2; exit 2 ;;
esac

log() { echo "fetch: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Serialize concurrent runs (parallel CI jobs, nested run-guest.sh): the
# second one waits, then finds the stamp and returns at once.
mkdir -p "$CACHE"
exec 9>"$CACHE/.fetch.lock"
flock 9

# ---------------------------------------------------------------- fast path
# The stamp records whether fio was requested; a cache without fio does not
# satisfy NVFAB_INTEROP_FIO=1.
stamp_ok() {
    [[ -f "$CACHE/.fetch-complete" ]] || return 1
    if [[ "$WANT_FIO" == 1 ]]; then grep -qx 'fio=1' "$CACHE/.fetch-complete" || return 1; fi
    return 0
}

# Host tool check first: it is cheap (dpkg-query) and needed even when the
# guest cache is already complete (e.g. a fresh machine with a restored cache).
HOST_PKGS=(qemu-system-x86 cpio gzip kmod binutils xz-utils)
APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update"
        apt_retry apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
        APT_UPDATED=1
    fi
}

missing=()
for p in "${HOST_PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$st" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]]; then
        log "missing host packages (need root to install): ${missing[*]}"
        exit 1
    fi
    apt_update_once
    log "installing host packages: ${missing[*]}"
    # --no-install-recommends: we need the emulator only, not the GUI, OVMF etc.
    DEBIAN_FRONTEND=noninteractive apt_retry apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >&2
fi

if [[ $REFRESH == 0 ]] && stamp_ok; then
    log "cache complete: $CACHE (kernel $(cat "$CACHE/kernel-version"))"
    echo "$CACHE"
    exit 0
fi

# ---------------------------------------------------------------- resolve
# apt-cache needs package lists. A fresh machine may have none; update once.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1 || [[ $REFRESH == 1 ]]; then
    apt_update_once
fi

# Kernel: the concrete ABI package that the linux-image-amd64 meta package
# depends on (Debian 12: linux-image-6.1.0-NN-amd64).
KPKG=${NVFAB_INTEROP_KERNEL:-}
if [[ -z "$KPKG" ]]; then
    KPKG=$(apt-cache depends linux-image-amd64 |
           awk '$1 ~ /Depends:/ && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
fi
[[ -n "$KPKG" ]] || { log "cannot resolve the kernel package from linux-image-amd64"; exit 1; }
KVER=${KPKG#linux-image-}
log "kernel package: $KPKG"

TOP=("$KPKG" busybox-static nvme-cli e2fsprogs)
[[ "$WANT_FIO" == 1 ]] && TOP+=(fio)

# Direct hard dependencies (Depends/PreDepends) of one package, real names only.
# "<virtual>" entries are skipped; ":any" qualifiers stripped.
direct_deps() {
    local out i
    # Always at least the package's own name: empty means apt is busy (see is_libs_section).
    for i in $(seq 30); do
        out=$(apt-cache depends --important "$1" 2>/dev/null) && [[ -n "$out" ]] && break
        sleep 1
    done
    [[ -n "$out" ]] || die "apt-cache has no dependencies for $1 (is an apt-get update running?)"
    awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ {sub(/:.*/, "", $2); print $2}' <<<"$out"
}

# Library packages not named lib* (zlib1g, gcc-12-base) are recognised by
# their archive section.
# apt-cache answers nothing while another process replaces the package lists (apt-get
# update): wait for a real answer rather than silently leaving a library out.
is_libs_section() {
    local out i
    for i in $(seq 30); do
        out=$(apt-cache show --no-all-versions "$1" 2>/dev/null) && [[ -n "$out" ]] && break
        sleep 1
    done
    [[ -n "$out" ]] || die "apt-cache knows nothing of $1 (is an apt-get update running?)"
    grep -qx 'Section: libs' <<<"$out"
}

# Breadth-first closure: the top packages plus every library dependency
# reachable through library packages. Non-lib dependencies (debconf, perl, python3, logsave,
# uuid-runtime, init-system-helpers, ...) are deliberately not followed: the
# guest only needs binaries and the shared objects they link against.
declare -A SEEN=()
QUEUE=("${TOP[@]}")
ORDER=()
while ((${#QUEUE[@]})); do
    p=${QUEUE[0]}; QUEUE=("${QUEUE[@]:1}")
    [[ -n "${SEEN[$p]:-}" ]] && continue
    SEEN[$p]=1
    ORDER+=("$p")
    [[ "$p" == "$KPKG" ]] && continue   # kernel deps are tooling (kmod, initramfs-tools)
    while read -r d; do
        [[ -z "$d" || -n "${SEEN[$d]:-}" ]] && continue
        if [[ "$d" == lib* ]] || is_libs_section "$d"; then QUEUE+=("$d"); fi
    done < <(direct_deps "$p")
done
log "packages (${#ORDER[@]}): ${ORDER[*]}"

# ---------------------------------------------------------------- download
mkdir -p "$CACHE/debs"
cd "$CACHE/debs"
need=()
for p in "${ORDER[@]}"; do
    # apt-get download names files <pkg>_<ver>_<arch>.deb (epoch ':' -> '%3a').
    compgen -G "${p}_*.deb" >/dev/null || need+=("$p")
done
if ((${#need[@]})); then
    log "downloading ${#need[@]} package(s)"
    # APT::Sandbox::User=root: the cache dir is root-owned, so the _apt
    # sandbox user could not write into it (apt would only warn, but be quiet).
    apt_retry apt-get -o APT::Sandbox::User=root download -qq "${need[@]}" >&2
fi

# ---------------------------------------------------------------- unpack
# Unpack into a fresh temp tree and swap it in atomically, so an interrupted
# run never leaves a half-populated root that a later run would trust.
TMPROOT=$(mktemp -d "$CACHE/root.tmp.XXXXXX")
trap 'rm -rf "$TMPROOT"' EXIT
: > "$CACHE/packages.txt.tmp"
for p in "${ORDER[@]}"; do
    # Newest file if several versions accumulated (sort -V on the name).
    # shellcheck disable=SC2012  # Debian file names are plain
    deb=$(ls -1 "${p}"_*.deb | sort -V | tail -n1)
    dpkg -x "$deb" "$TMPROOT"
    echo "$p $(dpkg-deb -f "$deb" Version)" >> "$CACHE/packages.txt.tmp"
done

[[ -f "$TMPROOT/boot/vmlinuz-$KVER" ]] || { log "no vmlinuz-$KVER in $KPKG"; exit 1; }
[[ -d "$TMPROOT/lib/modules/$KVER" ]] || { log "no lib/modules/$KVER in $KPKG"; exit 1; }

# The kernel .deb ships no modules.dep (its postinst runs depmod).
log "depmod -b for $KVER"
depmod -b "$TMPROOT" "$KVER"
[[ -s "$TMPROOT/lib/modules/$KVER/modules.dep" ]] || { log "depmod produced no modules.dep"; exit 1; }

rm -rf "$CACHE/root"
mv "$TMPROOT" "$CACHE/root"
trap - EXIT
mv "$CACHE/packages.txt.tmp" "$CACHE/packages.txt"
echo "$KVER" > "$CACHE/kernel-version"
ln -sfn "root/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
{
    echo "kernel=$KVER"
    echo "fio=$WANT_FIO"
    date -u +%Y-%m-%dT%H:%M:%SZ
} > "$CACHE/.fetch-complete"
log "done: $CACHE ($(du -sh "$CACHE" | cut -f1))"
echo "$CACHE"
