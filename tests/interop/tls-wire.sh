#!/usr/bin/env bash
# tls-wire.sh - interop part `wire-tls`: a TLS session between nvfab and nvfabd, captured on lo
# and dissected by Wireshark's tshark as TLS 1.3: the ClientHello offers TLS 1.3 only and a
# pre_shared_key (the NVMe0R01 identity); the ServerHello selects TLS 1.3,
# TLS_AES_128_GCM_SHA256 and the PSK; everything after it is TLS records (application data),
# no NVMe/TCP PDU in clear. (Linux's TLS needs tlshd, which Debian 12 does not package: the
# kernel side of TLS cannot be tried here.)
#
# usage: tests/interop/tls-wire.sh [BUILD_DIR] [--keep]
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

BUILD=build KEEP=0
while (($#)); do
    case $1 in
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) BUILD=$1; shift ;;
    esac
done
cd "$REPO" || exit 3
NVFABD_CMD=("$BUILD/apps/nvfabd")
NVFAB=$BUILD/apps/nvfab/nvfab
ensure_tshark || { ilog "tshark is not available"; exit 3; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-interop-tls.XXXXXX")
cleanup() {
    nvfabd_stop >/dev/null 2>&1
    capture_stop >/dev/null 2>&1
    if ((KEEP)); then ilog "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

NQN=nqn.2026-12.io.nvfab:interop-tls
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:0d7f4c1e-2a9b-4e83-b5d6-7c1f0e2a9b44
PORT=$(free_port)
python3 - "$WORK/psk" <<'PY'
import base64, os, sys, zlib
key = os.urandom(32)
with open(sys.argv[1], "w") as f:
    f.write("NVMeTLSkey-1:01:%s:\n" % base64.b64encode(key + zlib.crc32(key).to_bytes(4, "little")).decode())
os.chmod(sys.argv[1], 0o600)
PY
cat > "$WORK/config.json" <<JSON
{"subsystems": [
  {"subsystem": "keyring", "config": [
    {"method": "keyring_file_add_key", "params": {"name": "psk0", "path": "$WORK/psk"}}]},
  {"subsystem": "bdev", "config": [
    {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 16384, "block_size": 4096}}]},
  {"subsystem": "nvmf", "config": [
    {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
    {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": false}},
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}},
    {"method": "nvmf_subsystem_add_host", "params": {"nqn": "$NQN", "host": "$HOSTNQN", "psk": "psk0"}},
    {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN", "secure_channel": true,
      "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
JSON
nvfabd_start "$WORK" "$WORK/config.json" || exit 3
capture_start "$WORK/tls.pcapng" "$PORT" || exit 3
rc=0
"$NVFAB" perf -r "trtype:TCP traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN" --hostnqn "$HOSTNQN" \
    --tls-key "$WORK/psk" -q 4 -o 4096 -w randrw -t 1 --verify > "$WORK/perf.out" 2>&1 || rc=1
capture_stop || rc=1
nvfabd_stop || rc=1
grep -q 'errors: 0 I/O, 0 verify' "$WORK/perf.out" || { cat "$WORK/perf.out" >&2; rc=1; }

T=(tshark -r "$WORK/tls.pcapng" -d "tcp.port==$PORT,tls")
check() {   # check WHAT FILTER FIELD EXPECTED: every packet FILTER selects has FIELD containing EXPECTED
    local what=$1 filter=$2 field=$3 want=$4 out
    out=$("${T[@]}" -Y "$filter" -T fields -e "$field" 2>/dev/null | sort -u)
    if [[ -n $out ]] && ! grep -qv -- "$want" <<< "$out"; then
        echo "STEP $what: ok ($field: $(tr '\n' ' ' <<< "$out"))"
    else
        echo "STEP $what: FAIL ($filter -> $field: '$(tr '\n' ' ' <<< "$out")', want $want)"
        rc=1
    fi
}
check client-hello-tls13-only "tls.handshake.type == 1" tls.handshake.extensions.supported_version 0x0304
check client-hello-psk-identity "tls.handshake.type == 1" tls.handshake.extensions.psk.identity.identity 4e564d6530523031  # "NVMe0R01"
check server-hello-tls13 "tls.handshake.type == 2" tls.handshake.extensions.supported_version 0x0304
check server-hello-cipher "tls.handshake.type == 2" tls.handshake.ciphersuite 0x1301
check server-hello-psk "tls.handshake.type == 2" tls.handshake.extension.type 41
check application-data "tls.record.opaque_type == 23" tls.record.opaque_type 23
# NVMe/TCP in clear would show up as an ICReq (PDU type 0, hlen 128) right after the SYN: the
# first payload of every connection must be a TLS record (handshake, 22).
first=$("${T[@]}" -Y "tcp.len > 0 && tcp.srcport != $PORT" -T fields -e tcp.stream -e tls.record.content_type 2>/dev/null |
        awk '!seen[$1]++ {print $2}' | sort -u)
if [[ $first == 22 ]]; then echo "STEP no-cleartext-nvme-tcp: ok"; else echo "STEP no-cleartext-nvme-tcp: FAIL ($first)"; rc=1; fi
exit $rc
