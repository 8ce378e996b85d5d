#!/usr/bin/env bash
# wire-check.sh - interop part 3: dissect a capture made by kernel-host.sh or
# nvfab-host.sh (--pcap) with tshark and check it (see wirecheck.py).
#
# usage: tests/interop/wire-check.sh PCAP [wirecheck.py options...]
#   The controller port is read from PCAP.port. A capture marked
#   PCAP.incomplete (dumpcap dropped packets) fails at once.
# examples:
#   tests/interop/kernel-host.sh build --pcap /tmp/kh.pcapng
#   tests/interop/wire-check.sh /tmp/kh.pcapng --expect-ioccsz 516 --require-digests
set -uo pipefail
. "$(dirname "$0")/host-lib.sh"

PCAP=${1:?usage: wire-check.sh PCAP [wirecheck.py options]}; shift
ensure_tshark || { ilog "tshark is not available"; exit 3; }
[[ -s $PCAP && -s $PCAP.port ]] || { ilog "no capture $PCAP (or $PCAP.port)"; exit 1; }
if [[ -e $PCAP.incomplete ]]; then
    ilog "$PCAP is incomplete (dumpcap dropped packets): not checked"
    exit 1
fi
ilog "wire check: $PCAP ($(du -h "$PCAP" | cut -f1)), controller port $(cat "$PCAP.port"), $(tshark --version 2>/dev/null | head -n 1)"
python3 "$INTEROP_DIR/wirecheck.py" --pcap "$PCAP" --port "$(cat "$PCAP.port")" "$@"
