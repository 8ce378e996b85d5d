#!/usr/bin/env bash
# deb-test.sh - the Debian package on a fresh Debian 12 root: builds it (`make deb`), installs
# it with `apt-get install ./nvfab_*.deb` in a root that holds exactly a new machine's packages,
# and there: `systemd-analyze verify` on the unit, `man nvfab`/`man nvfabd`, `nvfabd
# --check-config` on the shipped configuration, then the unit's own ExecStart line (systemd
# cannot run as PID 1 in a chroot) serving a namespace that the installed `nvfab` reads and
# writes with --verify, and a clean SIGTERM.
#
# The root: when this runs in the throwaway root of ../shared/fresh-machine/run.sh (its
# layout: the project in /src/project beside /src/shared/fresh-machine, in a chroot), that
# root itself; otherwise a copy unpacked from the fresh-machine cache (FRESH_ROOT_CACHE,
# default /var/tmp/nvfab-fresh/rootfs.tar.{zst,gz}), which run.sh builds once. Without either
# the install part is skipped (exit 0, saying so): a developer's or CI machine's own root is
# never installed into. Needs root.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
say() { echo "deb-test: $*"; }
fails=0
step() {  # step NAME CMD...: runs in the chosen root
    local name=$1; shift
    if "$@" > /tmp/deb-test.step 2>&1; then say "STEP $name: ok"
    else say "STEP $name: FAIL"; sed 's/^/    | /' /tmp/deb-test.step | tail -n 30; fails=$((fails + 1)); fi
}

deb=$(./scripts/make-deb.sh build-deb) || { say "make deb failed"; exit 1; }
say "built $deb ($(du -h "$deb" | cut -f1))"
[[ $(id -u) == 0 ]] || { say "not root: install part skipped"; exit 0; }

# Being in some chroot is not enough (a development sandbox can be one): run.sh's own layout.
in_fresh_root() {
    [[ $REPO == /src/project && -x /src/shared/fresh-machine/run.sh &&
       $(stat -c %d:%i /) != $(stat -c %d:%i /proc/1/root/. 2>/dev/null) ]]
}
ROOT="" MOUNTS=()
cleanup() {
    local m
    [[ -n ${DPID:-} ]] && kill -9 "$DPID" 2>/dev/null
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}"; done
    if [[ -n $ROOT && $ROOT != / && -d $ROOT ]]; then
        if findmnt -rn -o TARGET | grep -q "^$ROOT/"; then say "still mounted under $ROOT: not removing it"
        else rm -rf --one-file-system "$ROOT"; fi
    fi
}
trap cleanup EXIT

if in_fresh_root; then
    ROOT=/
    say "running in fresh-machine/run.sh's throwaway root: installing into it"
    run() { env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
    pkg=$REPO/$deb
else
    cache=${FRESH_ROOT_CACHE:-}
    for c in /var/tmp/nvfab-fresh/rootfs.tar.zst /var/tmp/nvfab-fresh/rootfs.tar.gz; do
        [[ -z $cache && -f $c ]] && cache=$c
    done
    if [[ -z $cache || ! -f $cache ]]; then
        say "SKIPPED the install: no fresh root here (run ../shared/fresh-machine/run.sh once to build"
        say "its cache, or set FRESH_ROOT_CACHE); this machine's own root is not used"
        exit 0
    fi
    ROOT=$(mktemp -d /var/tmp/nvfab-debtest.XXXX)
    chmod 755 "$ROOT"
    case $cache in *.zst) z=--zstd ;; *) z=--gzip ;; esac
    tar -C "$ROOT" --numeric-owner $z -xpf "$cache" || { say "cannot unpack $cache"; exit 1; }
    mount -t proc proc "$ROOT/proc" && MOUNTS+=("$ROOT/proc")
    for d in sys dev dev/pts; do mkdir -p "$ROOT/$d"; mount --bind "/$d" "$ROOT/$d" && MOUNTS+=("$ROOT/$d"); done
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
    cp "$deb" "$ROOT/tmp/"
    pkg=/tmp/$(basename "$deb")
    say "fresh root from $cache in $ROOT"
    run() { chroot "$ROOT" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
fi

# out_has PATTERN CMD...: CMD runs in the root and prints PATTERN somewhere.
out_has() {
    local pat=$1 out
    shift
    out=$(run "$@" 2>&1) || { echo "$out"; return 1; }
    grep -q -- "$pat" <<< "$out" || { echo "$out" | tail -n 20; echo "(no '$pat' above)"; return 1; }
}

install_pkg() {
    run apt-get install -y -q --no-install-recommends "$pkg" ||
        { run apt-get update -q && run apt-get install -y -q --no-install-recommends "$pkg"; }
}
step "apt install ./$(basename "$deb")" install_pkg
((fails)) && exit 1
step "systemd-analyze verify nvfabd.service" run systemd-analyze verify /usr/lib/systemd/system/nvfabd.service
step "man nvfab" out_has 'benchmark NVMe over TCP' man -P cat nvfab
step "man nvfabd" out_has 'check-config' man -P cat 8 nvfabd
step "man libnvfab" out_has 'nvfab_ctrlr_connect' man -P cat 3 libnvfab
step "nvfabd --check-config /etc/nvfab/nvfabd.json (as shipped)" run /usr/sbin/nvfabd --check-config /etc/nvfab/nvfabd.json

# The shipped configuration listens on 127.0.0.1:4420; this machine shares its network with
# the root, so the test moves it to a free port, as an operator would edit it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
etc=${ROOT%/}/etc/nvfab/nvfabd.json
sed -i "s/\"trsvcid\": \"4420\"/\"trsvcid\": \"$port\"/" "$etc"
step "edited config still valid" run /usr/sbin/nvfabd --check-config /etc/nvfab/nvfabd.json
exec_start=$(sed -n 's/^ExecStart=//p' "${ROOT%/}/usr/lib/systemd/system/nvfabd.service")
say "the unit's ExecStart: $exec_start"
# exec: the background job's PID is nvfabd's own, for the SIGTERM below.
# shellcheck disable=SC2086
(if [[ $ROOT == / ]]; then
    exec env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin $exec_start
 else
    exec chroot "$ROOT" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin $exec_start
 fi) > /tmp/deb-test.nvfabd.log 2>&1 &
DPID=$!
for _ in $(seq 100); do [[ -S ${ROOT%/}/var/tmp/nvfab.sock ]] && break; sleep 0.1; done
trid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$port subnqn:nqn.2026-11.io.nvfab:default"
step "installed nvfab discover" out_has nqn.2026-11.io.nvfab:default nvfab discover -t tcp -a 127.0.0.1 -s "$port"
step "installed nvfab perf --verify against the service" out_has 'errors: 0 I/O, 0 verify' \
    nvfab perf -r "$trid" -q 8 -o 4096 -w randrw -t 2 --verify
step "installed nvfab rpc save_config" out_has bdev_malloc_create nvfab rpc save_config
kill -TERM "$DPID"
st=0; wait "$DPID" || st=$?
DPID=""
if ((st == 0)); then say "STEP nvfabd SIGTERM: ok (exit 0)"
else say "STEP nvfabd SIGTERM: FAIL (exit $st)"; tail -n 20 /tmp/deb-test.nvfabd.log; fails=$((fails + 1)); fi
run apt-get purge -y -q nvfab > /dev/null 2>&1 || true
say "$((fails == 0 ? 1 : 0)) passed, $((fails > 0 ? 1 : 0)) failed ($fails failed steps)"
((fails == 0))
