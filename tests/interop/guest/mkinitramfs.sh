#!/usr/bin/env bash
# mkinitramfs.sh - build the GENERIC base initramfs of the interop guest.
#
# Contents: busybox (+ applet symlinks), nvme-cli, e2fsprogs (mke2fs/mkfs.ext4,
# e2fsck), fio if it is in the cache, the exact shared-library closure of those
# ELF binaries (resolved with readelf against the extracted Debian tree, never
# against the host), kernel modules + their modules.dep dependencies, /init and
# /lib/nvfab-interop/lib.sh. The per-test script is NOT in here: run-guest.sh
# appends a second tiny cpio with /test.sh (the kernel unpacks concatenated
# cpio archives in order), so the base image is built once and reused.
#
# Usage:   tests/interop/guest/mkinitramfs.sh [-o OUT.cpio.gz] [--force]
# Env:
#   NVFAB_INTEROP_CACHE          cache dir (default <repo>/.cache/interop)
#   NVFAB_INTEROP_EXTRA_MODULES  space-separated extra module names to include
#                                and load at boot (e.g. "brd nvme-loop")
# Output: $CACHE/initramfs-base.cpio.gz (default). Rebuilt only when its recipe
# (this script, init, lib.sh, module list, cache contents) changed; prints the
# output path on stdout. Exit 0 on success, 1 on error (missing lib/module).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
CACHE=${NVFAB_INTEROP_CACHE:-$REPO/.cache/interop}
OUT=$CACHE/initramfs-base.cpio.gz
FORCE=0
while (($#)); do
    case "$1" in
        -o) OUT=$2; shift 2 ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "mkinitramfs.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

log() { echo "mkinitramfs: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$CACHE"
# Serialize concurrent builds; a waiter then sees the fresh recipe and skips.
exec 9>"$CACHE/.mkinitramfs.lock"
flock 9

[[ -f "$CACHE/.fetch-complete" ]] || die "cache incomplete; run tests/interop/guest/fetch.sh first"
ROOT=$CACHE/root
KVER=$(cat "$CACHE/kernel-version")
MODDIR=lib/modules/$KVER

# Modules by name (as in modules.dep file names; '-' and '_' are distinct
# there, so spell them as Debian ships them). Everything they depend on is
# added from modules.dep. configfs, ext4, virtio are modular in Debian 6.1.
#   crc32c_generic: nvme-tcp digests and ext4 metadata csums ask the crypto API
#     for "crc32c"; with no modprobe aliases around, it must already be loaded.
#   loop: lets tests use a block-device (bdev) backed nvmet namespace.
#   nvme: the PCIe driver, for qemu's emulated NVMe SSD (run-guest.sh --nvme).
MODULES=(virtio_pci virtio_net configfs crc32c_generic
         nvme-core nvme-fabrics nvme-tcp nvmet nvmet-tcp ext4 loop nvme)
# shellcheck disable=SC2206
MODULES+=(${NVFAB_INTEROP_EXTRA_MODULES:-})
# Included but NOT loaded at boot; load on demand with busybox modprobe, which
# reads the filtered modules.dep written below. brd (RAM block device) takes
# its size as a load parameter:  modprobe brd rd_nr=1 rd_size=<KiB>
ONDEMAND_MODULES=(brd)

BINARIES=(usr/sbin/nvme sbin/mke2fs sbin/e2fsck)
[[ -x "$ROOT/usr/bin/fio" ]] && BINARIES+=(usr/bin/fio)

# ---------------------------------------------------------------- up to date?
recipe=$( {
    cat "$0" "$SCRIPT_DIR/init" "$SCRIPT_DIR/lib.sh"
    echo "${MODULES[*]}" "${ONDEMAND_MODULES[*]}" "${BINARIES[*]}"
    cat "$CACHE/.fetch-complete" "$CACHE/packages.txt"
} | sha256sum | cut -d' ' -f1)
if [[ $FORCE == 0 && -f "$OUT" && "$(cat "$OUT.recipe" 2>/dev/null)" == "$recipe" ]]; then
    log "up to date: $OUT"
    echo "$OUT"
    exit 0
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,mnt,root,etc/nvfab-interop,lib/nvfab-interop}
# The kernel opens /dev/console for /init before anything is mounted, so the
# node must be in the archive (else init has no stdout). mknod needs root,
# like fetch.sh's apt-get.
mknod -m 600 "$STAGE/dev/console" c 5 1
mknod -m 666 "$STAGE/dev/null" c 1 3

# ---------------------------------------------------------------- busybox
install -m 0755 "$ROOT/bin/busybox" "$STAGE/bin/busybox"

# ---------------------------------------------------------------- binaries
# Library search path inside the Debian tree, in ld.so's default order.
LIBDIRS=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 lib usr/lib)
declare -A ELF_DONE=()
find_lib() {   # SONAME [EXTRA_DIRS...] -> relative path in ROOT
    local so=$1 d; shift
    for d in "$@" "${LIBDIRS[@]}"; do
        [[ -e "$ROOT/$d/$so" ]] && { echo "$d/$so"; return 0; }
    done
    return 1
}
copy_elf() {   # REL path: copy (dereferenced) and recurse into DT_NEEDED
    local rel=$1 lib dep dyn origin
    local -a rpath=()
    [[ -n "${ELF_DONE[$rel]:-}" ]] && return 0
    ELF_DONE[$rel]=1
    mkdir -p "$STAGE/$(dirname "$rel")"
    cp -L "$ROOT/$rel" "$STAGE/$rel"
    dyn=$(readelf -d "$ROOT/$rel")
    # DT_RUNPATH/DT_RPATH (e.g. librados -> /usr/lib/x86_64-linux-gnu/ceph),
    # with $ORIGIN expanded, searched before the default dirs.
    origin=$(dirname "$rel")
    while IFS= read -r d; do
        d=${d//\$ORIGIN/\/$origin}; d=${d//\$\{ORIGIN\}/\/$origin}
        [[ -n "$d" ]] && rpath+=("${d#/}")
    done < <(sed -n 's/.*(R\(UN\)\?PATH).*\[\(.*\)\]/\2/p' <<<"$dyn" | tr ':' '\n')
    while read -r lib; do
        dep=$(find_lib "$lib" "${rpath[@]}") || die "$rel needs $lib: not found in the cache (add its package in fetch.sh)"
        copy_elf "$dep"
    done < <(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dyn")
}
for b in "${BINARIES[@]}"; do
    [[ -e "$ROOT/$b" ]] || die "binary $b not in the cache"
    copy_elf "$b"
done
# The ELF interpreter (PT_INTERP) is not a DT_NEEDED entry.
copy_elf lib64/ld-linux-x86-64.so.2
ln -s mke2fs "$STAGE/sbin/mkfs.ext4"
ln -s e2fsck "$STAGE/sbin/fsck.ext4"
cp "$ROOT/etc/mke2fs.conf" "$STAGE/etc/mke2fs.conf"

# busybox applets: symlink every applet that no real binary already occupies
# (busybox has its own mke2fs/ip/... ; the real tools must win).
while read -r applet; do
    [[ -e "$STAGE/$applet" || -L "$STAGE/$applet" ]] && continue
    mkdir -p "$STAGE/$(dirname "$applet")"
    ln -s /bin/busybox "$STAGE/$applet"
done < <("$ROOT/bin/busybox" --list-full)

# ---------------------------------------------------------------- modules
DEP=$ROOT/$MODDIR/modules.dep
declare -A MOD_DONE=()
MOD_ORDER=()
mod_path() {   # module name -> path relative to MODDIR (any compression suffix)
    awk -F: -v n="$1" '{
        f = $1; sub(/.*\//, "", f); sub(/\.ko(\.(xz|zst|gz))?$/, "", f)
        if (f == n) { print $1; exit }
    }' "$DEP"
}
add_mod() {   # REL path: dependencies first, then the module itself
    local rel=$1 d deps
    [[ -n "${MOD_DONE[$rel]:-}" ]] && return 0
    MOD_DONE[$rel]=1
    deps=$(awk -F': *' -v m="$rel" '$1 == m {print $2; exit}' "$DEP")
    # modules.dep lists the full transitive closure, most-dependent first;
    # walk it reversed and recurse so the order is a valid topological sort.
    for d in $(echo "$deps" | tr ' ' '\n' | tac); do add_mod "$d"; done
    MOD_ORDER+=("$rel")
}
for m in "${MODULES[@]}"; do
    if grep -qE "/${m}\.ko(\..*)?$" "$ROOT/$MODDIR/modules.builtin" 2>/dev/null; then
        log "module $m is built in"
        continue
    fi
    rel=$(mod_path "$m")
    [[ -n "$rel" ]] || die "module $m not found in $MODDIR/modules.dep"
    add_mod "$rel"
done
BOOT_COUNT=${#MOD_ORDER[@]}
for m in "${ONDEMAND_MODULES[@]}"; do
    rel=$(mod_path "$m")
    [[ -n "$rel" ]] || die "module $m not found in $MODDIR/modules.dep"
    add_mod "$rel"
done
: > "$STAGE/etc/nvfab-interop/modules"
for i in "${!MOD_ORDER[@]}"; do
    rel=${MOD_ORDER[$i]}
    dst=$STAGE/$MODDIR/${rel%.xz}
    dst=${dst%.zst}
    mkdir -p "$(dirname "$dst")"
    # busybox insmod cannot decompress: store plain .ko. (Debian 6.1 ships
    # uncompressed modules already; later Debian kernels use .ko.xz.)
    case "$rel" in
        *.ko.xz)  xz -dc   "$ROOT/$MODDIR/$rel" > "$dst" ;;
        *.ko.zst) zstd -dcq "$ROOT/$MODDIR/$rel" > "$dst" ;;
        *)        cp "$ROOT/$MODDIR/$rel" "$dst" ;;
    esac
    if ((i < BOOT_COUNT)); then
        echo "${dst#"$STAGE/$MODDIR/"}" >> "$STAGE/etc/nvfab-interop/modules"
    fi
done
# A filtered modules.dep/alias so busybox modprobe (also the kernel's
# request_module helper, /sbin/modprobe) can reload/unload modules by name.
{
    for rel in "${MOD_ORDER[@]}"; do grep -E "^${rel}:" "$DEP"; done
} | sed -E 's/\.ko\.(xz|zst)/.ko/g' > "$STAGE/$MODDIR/modules.dep"
cp "$ROOT/$MODDIR/modules.builtin" "$STAGE/$MODDIR/" 2>/dev/null || true
: > "$STAGE/$MODDIR/modules.alias"
for rel in "${MOD_ORDER[@]}"; do
    n=${rel##*/}; n=${n%%.ko*}; n=${n//-/_}
    grep -E " ${n}\$" "$ROOT/$MODDIR/modules.alias" >> "$STAGE/$MODDIR/modules.alias" || true
done

# ---------------------------------------------------------------- init & etc
install -m 0755 "$SCRIPT_DIR/init" "$STAGE/init"
install -m 0644 "$SCRIPT_DIR/lib.sh" "$STAGE/lib/nvfab-interop/lib.sh"
echo "root:x:0:0:root:/root:/bin/sh" > "$STAGE/etc/passwd"
echo "root:x:0:" > "$STAGE/etc/group"
echo "nvfab-guest" > "$STAGE/etc/hostname"
ln -s /proc/mounts "$STAGE/etc/mtab"   # e2fsprogs checks mount state here

# ---------------------------------------------------------------- archive
mkdir -p "$(dirname "$OUT")"
# Sorted names + fixed owner: deterministic archive. gzip -1: the kernel's
# decompression time matters more (TCG is slow) than a few MB of size.
(cd "$STAGE" && find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z |
    cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 > "$OUT.tmp.$$"
mv "$OUT.tmp.$$" "$OUT"
echo "$recipe" > "$OUT.recipe"
log "built $OUT ($(du -h "$OUT" | cut -f1), ${#MOD_ORDER[@]} modules, kernel $KVER)"
echo "$OUT"
