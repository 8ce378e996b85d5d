#!/usr/bin/env bash
# auth.sh - interop part `auth`: DH-HMAC-CHAP with Linux 6.12 in the guest
# (Debian's linux-image-6.12-amd64: CONFIG_NVME_HOST_AUTH and
# CONFIG_NVME_TARGET_AUTH; the 6.1 kernel of the other parts has neither). The
# guest gets its own cache, .cache/interop-6.12 (NVFAB_INTEROP_AUTH_CACHE).
#
# usage: tests/interop/auth.sh [BUILD_DIR] [--keep]
#
# Secrets are made by nvme-cli's own `nvme gen-dhchap-key` (the cached guest
# binary, run on the host), with SHA-256, -384 and -512 transformations.
#   kernel-host  the kernel host (guest/auth-host.sh) -> two nvfabd:
#                A allows SHA-256 + ffdhe2048, the host gives its secret only;
#                B allows SHA-512 + ffdhe3072, host and controller secrets,
#                digests, two I/O queues. Each: ext4 cycle. Then a wrong secret
#                and no secret are refused. nvfabd's logs must show the
#                negotiated hash and group for every queue.
#   nvfab-host   nvfab -> the kernel target (guest/target.sh with configfs
#                dhchap_key, dhchap_ctrl_key, hmac(sha384), ffdhe2048):
#                verified perf runs uni- and bidirectionally, with digests; a
#                wrong secret and a wrong controller secret are refused.
# The part fails if a step fails, a guest outlives NVFAB_INTEROP_PART_TIMEOUT
# (default 240 s), or an nvfabd does not exit cleanly.
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

NQN=nqn.2026-12.io.nvfab:interop-auth
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:6f1c3a52-94d1-4f0e-9b7a-2a1d5c0e8b31

# ------------------------------------------------------------------ nvfab checks (run-guest -x)
if [[ ${1:-} == --nvfab-checks ]]; then
    BUILD=$2 KEYS=$3
    NVFAB=$BUILD/apps/nvfab/nvfab
    [[ $BUILD == /* ]] || NVFAB=$REPO/$NVFAB
    PORT=${NVFAB_INTEROP_PORT:?run through run-guest.sh -x}
    TRID="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"
    failed=0
    step() {   # step NAME CMD...: output shown on failure
        local name=$1 rc=0; shift
        "$@" > "$KEYS/step.out" 2>&1 || rc=$?
        if ((rc == 0)); then echo "STEP $name: ok"
        else echo "STEP $name: FAIL (rc=$rc)"; sed 's/^/    | /' "$KEYS/step.out" | tail -n 30; failed=1; fi
    }
    perf() {
        "$NVFAB" perf -r "$TRID" --hostnqn "$HOSTNQN" "$@" -q 8 -o 4096 -w randrw -M 50 -t 2 --verify \
            -P 2 && return 0
        return 1
    }
    verified() { perf "$@" | tee /dev/stderr | grep -q 'errors: 0 I/O, 0 verify'; }
    refused() {   # refused EXPECTED-TEXT nvfab-args...
        local want=$1; shift
        if "$NVFAB" identify -r "$TRID" -q "$HOSTNQN" "$@" 2> "$KEYS/err"; then
            echo "identify succeeded"; return 1
        fi
        cat "$KEYS/err"
        grep -q "$want" "$KEYS/err"
    }
    step perf-unidirectional verified --dhchap-secret "$KEYS/host.key"
    step perf-bidirectional-digests verified --dhchap-secret "$KEYS/host.key" \
        --dhchap-ctrl-secret "$KEYS/ctrl.key" -g -G
    # The kernel target refuses a wrong response with a Failure1 and tears the controller
    # down at once; the Failure1 may not leave first (seen in a CI run). Either way its
    # console must say why: the response did not match.
    refused_mismatch() {
        refused 'refused authentication\|instead of answering our response' "$@" || return 1
        for _ in $(seq 20); do
            grep -aq 'host response mismatch' "$NVFAB_INTEROP_LOG" && return 0
            sleep 0.1
        done
        echo "the target's console does not say 'host response mismatch'"; return 1
    }
    step wrong-secret refused_mismatch --dhchap-secret "$KEYS/wrong.key"
    step wrong-ctrl-secret refused "controller's response is wrong" --dhchap-secret "$KEYS/host.key" \
        --dhchap-ctrl-secret "$KEYS/wrong.key"
    step no-secret refused "requires DH-HMAC-CHAP" 
    exit $failed
fi

# ------------------------------------------------------------------ outer
BUILD=build KEEP=0
while (($#)); do
    case $1 in
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) BUILD=$1; shift ;;
    esac
done
cd "$REPO" || exit 3
NVFABD=$BUILD/apps/nvfabd
[[ -x $NVFABD && -x $BUILD/apps/nvfab/nvfab ]] || { ilog "no $NVFABD or nvfab (build first)"; exit 3; }
NVFABD_CMD=("$NVFABD")
TIMEOUT=${NVFAB_INTEROP_PART_TIMEOUT:-240}

export NVFAB_INTEROP_CACHE=${NVFAB_INTEROP_AUTH_CACHE:-$REPO/.cache/interop-6.12}
if [[ -z ${NVFAB_INTEROP_KERNEL:-} ]]; then
    apt-cache show linux-image-6.12-amd64 >/dev/null 2>&1 || apt-get update -qq >&2
    NVFAB_INTEROP_KERNEL=$(apt-cache depends linux-image-6.12-amd64 2>/dev/null |
                           awk '$1 ~ /Depends:/ && $2 ~ /^linux-image-6\.12/ {print $2; exit}')
fi
[[ -n $NVFAB_INTEROP_KERNEL ]] || { ilog "cannot resolve Debian's 6.12 kernel package (linux-image-6.12-amd64)"; exit 3; }
export NVFAB_INTEROP_KERNEL
"$GUEST_DIR/fetch.sh" >/dev/null || { ilog "fetch.sh failed for $NVFAB_INTEROP_KERNEL"; exit 3; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-auth.XXXXXX")
PID_A="" PID_B=""
cleanup() {
    for p in $PID_A $PID_B; do kill -TERM "$p" 2>/dev/null; done
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ROOT=$NVFAB_INTEROP_CACHE/root
gen_key() {   # gen_key FILE HMAC LENGTH: nvme-cli's own generator
    LD_LIBRARY_PATH=$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu \
        "$ROOT/usr/sbin/nvme" gen-dhchap-key --hmac="$2" --key-length="$3" --nqn "$HOSTNQN" > "$1" || return 1
    chmod 600 "$1"
    grep -q '^DHHC-1:0[0-3]:' "$1"
}
gen_key "$WORK/host.key" 1 32 && gen_key "$WORK/host-b.key" 2 48 && gen_key "$WORK/ctrl.key" 3 64 &&
    gen_key "$WORK/wrong.key" 1 32 || { ilog "nvme gen-dhchap-key failed"; exit 3; }

config() {   # config PORT DIGEST DHGROUP HOSTKEY [CTRLKEY]
    local ck="" keys="{\"method\": \"keyring_file_add_key\", \"params\": {\"name\": \"hk\", \"path\": \"$4\"}}"
    if [[ -n ${5:-} ]]; then
        ck=", \"dhchap_ctrlr_key\": \"ck\""
        keys+=", {\"method\": \"keyring_file_add_key\", \"params\": {\"name\": \"ck\", \"path\": \"$5\"}}"
    fi
    cat <<JSON
{"subsystems": [
  {"subsystem": "keyring", "config": [$keys]},
  {"subsystem": "bdev", "config": [
    {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}}]},
  {"subsystem": "nvmf", "config": [
    {"method": "nvmf_set_config", "params": {"dhchap_digests": ["$2"], "dhchap_dhgroups": ["$3"]}},
    {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
    {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": false}},
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}},
    {"method": "nvmf_subsystem_add_host", "params": {"nqn": "$NQN", "host": "$HOSTNQN", "dhchap_key": "hk"$ck}},
    {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN", "listen_address":
      {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$1"}}}]}]}
JSON
}

rc=0
# ---- the kernel host -> nvfabd
PORT_A=$(free_port) PORT_B=$(free_port)
mkdir -p "$WORK/a" "$WORK/b"
config "$PORT_A" sha256 ffdhe2048 "$WORK/host.key" > "$WORK/a/config.json"
config "$PORT_B" sha512 ffdhe3072 "$WORK/host-b.key" "$WORK/ctrl.key" > "$WORK/b/config.json"
nvfabd_start "$WORK/a" "$WORK/a/config.json" || exit 3
PID_A=$NVFABD_PID LOG_A=$NVFABD_LOG
nvfabd_start "$WORK/b" "$WORK/b/config.json" || exit 3
PID_B=$NVFABD_PID LOG_B=$NVFABD_LOG
ilog "auth: nvfabd A on 127.0.0.1:$PORT_A (sha256, ffdhe2048), B on $PORT_B (sha512, ffdhe3072, bidirectional); kernel $NVFAB_INTEROP_KERNEL"
grc=0
"$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console-host.log" \
    -e PORT_A="$PORT_A" -e PORT_B="$PORT_B" -e NQN="$NQN" -e HOSTNQN="$HOSTNQN" \
    -e KEY_A="$(cat "$WORK/host.key")" -e KEY_B="$(cat "$WORK/host-b.key")" \
    -e CKEY_B="$(cat "$WORK/ctrl.key")" -e WRONG_KEY="$(cat "$WORK/wrong.key")" \
    auth-host.sh 2> "$WORK/run-guest-host.err" || grc=$?
grep -a -E '^(STEP |NVFAB-INTEROP-)' "$WORK/console-host.log" | tr -d '\r' | sed 's/^/    guest| /' >&2
ok_a=1 ok_b=1
NVFABD_PID=$PID_A NVFABD_LOG=$LOG_A; PID_A=""; nvfabd_stop || ok_a=0
NVFABD_PID=$PID_B NVFABD_LOG=$LOG_B; PID_B=""; nvfabd_stop || ok_b=0
n_a=$(grep -c 'authenticated (DH-HMAC-CHAP sha256, ffdhe2048)' "$LOG_A")
n_b=$(grep -c 'authenticated (DH-HMAC-CHAP sha512, ffdhe3072, bidirectional)' "$LOG_B")
refusals=$(grep -c 'DH-HMAC-CHAP with host .* failed' "$LOG_A")
ilog "nvfabd A: $n_a queues authenticated (sha256, ffdhe2048), $refusals refusals; B: $n_b queues (sha512, ffdhe3072, bidirectional)"
if ((grc != 0)); then
    guest_failure "auth (kernel host)" "$grc" "$WORK/console-host.log" "$TIMEOUT"; rc=1
fi
# admin + 1 I/O queue in session A; admin + 2 in B; the wrong secret is refused by nvfabd
if ((!ok_a || !ok_b || n_a < 2 || n_b < 3 || refusals < 1)); then
    ilog "auth (kernel host): nvfabd logs do not show what the sessions needed"
    show_log nvfabd-A "$LOG_A" 40; show_log nvfabd-B "$LOG_B" 40; rc=1
fi

# ---- nvfab -> the kernel target
gen_key "$WORK/host.key" 2 48 || exit 3
grc=0
"$GUEST_DIR/run-guest.sh" -q -t "$TIMEOUT" -l "$WORK/console-target.log" -p auto \
    -e NVFAB_TARGET_NQN="$NQN" -e NVFAB_TARGET_BACKEND=file \
    -e NVFAB_TARGET_HOSTNQN="$HOSTNQN" -e NVFAB_TARGET_DHCHAP_KEY="$(cat "$WORK/host.key")" \
    -e NVFAB_TARGET_DHCHAP_CTRL_KEY="$(cat "$WORK/ctrl.key")" \
    -e "NVFAB_TARGET_DHCHAP_HASH=hmac(sha384)" -e NVFAB_TARGET_DHCHAP_DHGROUP=ffdhe2048 \
    -x "$(printf '%q --nvfab-checks %q %q' "$INTEROP_DIR/auth.sh" "$BUILD" "$WORK") > $(printf '%q' "$WORK/checks.out") 2>&1" \
    target.sh 2> "$WORK/run-guest-target.err" || grc=$?
[[ -f $WORK/checks.out ]] && grep -E '^STEP ' "$WORK/checks.out" | sed 's/^/    host| /' >&2
if ((grc != 0)); then
    ilog "auth (nvfab host) failed (rc=$grc)"
    [[ -f $WORK/checks.out ]] && sed -n '/: FAIL/,$p' "$WORK/checks.out" | head -n 60 | sed 's/^/    host| /' >&2
    show_log console "$WORK/console-target.log" 40
    rc=1
fi
exit $rc
