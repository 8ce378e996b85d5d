#!/usr/bin/env bash
# negative-control.sh - show that the interop suite catches a broken wire field
# in nvfabd. NOT part of run.sh (each mutation needs its own build).
#
# usage: tests/interop/negative-control.sh [MUTATION...]   (default: all)
# mutations (each applied alone to a scratch copy of the source tree, never to
# the repo; the scratch tree lives in $TMPDIR and is removed at the end):
#   ioccsz-half     Identify Controller IOCCSZ advertises half the in-capsule
#                   size nvfabd accepts (lib/target/admin.c). Functionally
#                   harmless: the kernel just sends less data in-capsule.
#   ioccsz-double   IOCCSZ advertises twice what nvfabd accepts: the kernel
#                   sends 16 KiB in-capsule writes that nvfabd must refuse.
#   c2h-no-last     C2HData PDUs go out without the LAST_PDU flag
#                   (lib/target/tcp_qpair.c). The Linux 6.1 host does not check
#                   the flag, so I/O works.
#   leak-identify   every Identify Controller leaks 32 bytes (lib/target/admin.c):
#                   not a wire bug; shows that a daemon bug found by the
#                   sanitizers fails part 1 (LeakSanitizer at nvfabd's exit).
# The scratch build uses ASan + UBSan like `make test` (debugoptimized: the
# debug buildtype currently fails to compile, see the README).
# For each, the mutated nvfabd runs through `run.sh` with the parts that
# involve it (kernel-host and its wire check). A mutation is CAUGHT when the
# suite fails; the script prints which parts failed and why, and exits 0 only
# if every mutation was caught.
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"
cd "$REPO" || exit 1

ALL=(ioccsz-half ioccsz-double c2h-no-last leak-identify)
MUTS=("$@")
((${#MUTS[@]})) || MUTS=("${ALL[@]}")

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-negctl.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
SRC=$SCRATCH/src
ilog "copying the source tree to $SRC"
mkdir -p "$SRC"
tar -C "$REPO" --exclude='./build*' --exclude='./.cache' --exclude='./.git' -cf - . | tar -C "$SRC" -xf -

# mutate FILE OLD NEW: replace the one occurrence of OLD in the scratch copy.
mutate() {
    python3 - "$SRC/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
s = open(path).read()
n = s.count(old)
if n != 1:
    sys.exit(f"negative-control: {n} matches for the mutation site in {path} (the code changed:"
             " update negative-control.sh)")
open(path, "w").write(s.replace(old, new))
EOF
}
restore() { cp "$REPO/$1" "$SRC/$1"; }

apply() {   # apply MUTATION: prints the file it touched
    case $1 in
        ioccsz-half)
            mutate lib/target/admin.c \
                'id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size) / 16;' \
                'id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size / 2) / 16;' &&
            echo lib/target/admin.c ;;
        ioccsz-double)
            mutate lib/target/admin.c \
                'id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size) / 16;' \
                'id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size * 2) / 16;' &&
            echo lib/target/admin.c ;;
        c2h-no-last)
            mutate lib/target/tcp_qpair.c \
                'NVME_TCP_F_DATA_LAST | (success_flag ? NVME_TCP_F_DATA_SUCCESS : 0),' \
                '0 | (success_flag ? NVME_TCP_F_DATA_SUCCESS : 0),' &&
            echo lib/target/tcp_qpair.c ;;
        leak-identify)
            mutate lib/target/admin.c \
                'id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size) / 16;' \
                'id->ioccsz = (uint32_t)(sizeof(struct nvme_sqe) + g_tgt.opts.in_capsule_data_size) / 16;
	{ void *nc_leak = malloc(32); __asm__ volatile("" : : "r"(nc_leak) : "memory"); }' &&
            echo lib/target/admin.c ;;
        *) echo "negative-control: unknown mutation $1" >&2; return 2 ;;
    esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
meson setup "$SCRATCH/build" "$SRC" -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false \
    >"$SCRATCH/setup.log" 2>&1 || { cat "$SCRATCH/setup.log" >&2; exit 3; }
caught=0 missed=0
for m in "${MUTS[@]}"; do
    echo "======== mutation $m" >&2
    file=$(apply "$m") || exit 3
    (cd "$SRC" && diff -u "$REPO/$file" "$file" | sed 's/^/    /' >&2)
    t0=$SECONDS
    ninja -C "$SCRATCH/build" apps/nvfabd apps/nvfab/nvfab >"$SCRATCH/ninja.log" 2>&1 ||
        { tail -n 30 "$SCRATCH/ninja.log" >&2; restore "$file"; exit 3; }
    # TMPDIR inside the scratch dir: the work dirs run.sh keeps after a
    # (here expected) failure go away with it.
    mkdir -p "$SCRATCH/tmp"
    TMPDIR=$SCRATCH/tmp NVFAB_INTEROP_PARTS="kernel-host wire" \
        "$INTEROP_DIR/run.sh" "$SCRATCH/build" > "$SCRATCH/$m.log" 2>&1
    rc=$?
    restore "$file"
    grep -E '^=== PART .*: (ok|FAILED)|STEP .*FAIL|^  FAIL: |^interop: |nvfabd exit status|sanitizer report|ERROR: LeakSanitizer|SUMMARY: ' "$SCRATCH/$m.log" |
        grep -v '^interop: total' | sed 's/^/    /' >&2
    if ((rc != 0)); then
        caught=$((caught + 1)); echo "======== mutation $m: CAUGHT ($((SECONDS - t0)) s)" >&2
    else
        missed=$((missed + 1)); echo "======== mutation $m: NOT CAUGHT ($((SECONDS - t0)) s)" >&2
    fi
done
echo "negative-control: $caught caught, $missed missed"
((missed == 0))
