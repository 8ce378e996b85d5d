#!/usr/bin/env bash
# The demo: nvfabd exports a 256 MiB RAM namespace on 127.0.0.1:4420, nvfab discovers it,
# identifies it and runs a short random-read perf against it, then nvfabd stops.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PORT=${NVFAB_DEMO_PORT:-4420}
NQN=nqn.2026-11.io.nvfab:demo
work=$(mktemp -d /tmp/nvfab-demo.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/config.json" <<JSON
{"subsystems": [
  {"subsystem": "bdev", "config": [
    {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 4096}}]},
  {"subsystem": "nvmf", "config": [
    {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
    {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true,
                                                   "serial_number": "NVFAB-DEMO-0001"}},
    {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"bdev_name": "Malloc0"}}},
    {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN", "listen_address":
      {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}},
    {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "nqn.2014-08.org.nvmexpress.discovery",
      "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}}]}]}
JSON

echo "+ $BUILD/nvfabd -c config.json -r $work/rpc.sock -m 0x1"
taskset -c 0 "$BUILD/nvfabd" -c "$work/config.json" -r "$work/rpc.sock" -m 0x1 &
pid=$!
for _ in $(seq 100); do [ -S "$work/rpc.sock" ] && break; sleep 0.05; done
[ -S "$work/rpc.sock" ] || { echo "nvfabd did not start" >&2; exit 1; }

trid="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN"
set -x
"$BUILD/nvfab" discover -t tcp -a 127.0.0.1 -s "$PORT"
"$BUILD/nvfab" identify -r "$trid" -n 1
taskset -c 1 "$BUILD/nvfab" perf -r "$trid" -q 32 -o 4096 -w randread -t 3
taskset -c 1 "$BUILD/nvfab" perf -r "$trid" -q 1 -o 4096 -w randread -t 2
