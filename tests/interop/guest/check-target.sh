#!/usr/bin/env bash
# check-target.sh - prove guest TARGET mode works from the host, without nvfab.
#
#   1. boots target.sh (kernel nvmet-tcp) with host 127.0.0.1:PORT forwarded
#      to the guest's :4420 (PORT picked automatically);
#   2. once NVFAB-INTEROP-TARGET-READY shows, from the host:
#        a. plain TCP connect + close to 127.0.0.1:PORT (bash /dev/tcp);
#        b. NVMe/TCP ICReq -> ICResp handshake (icreq-probe.py);
#        c. unless --no-e2e: a SECOND guest runs host-template.sh, whose kernel
#           NVMe/TCP host reaches 10.0.2.2:PORT = host loopback -> hostfwd ->
#           the first guest's target: discover, connect, list, O_DIRECT I/O,
#           disconnect. This exercises both guest modes and slirp end to end.
#   3. the target guest is killed.
#
# usage: tests/interop/guest/check-target.sh [--no-e2e] [--digest none|hdgst|ddgst|both]
# exit: 0 all checks passed; otherwise run-guest.sh's exit code (see there).
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ "${1:-}" == __probe ]]; then
    # Runs on the host via run-guest.sh --exec, with NVFAB_INTEROP_PORT set.
    port=$NVFAB_INTEROP_PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$port") && echo "check-target: TCP connect to 127.0.0.1:$port ok"
    python3 "$SCRIPT_DIR/icreq-probe.py" 127.0.0.1 "$port"
    if [[ "${CHECK_E2E:-1}" == 1 ]]; then
        echo "check-target: booting a host-mode guest against 10.0.2.2:$port"
        "$SCRIPT_DIR/run-guest.sh" -t 180 \
            -e NVFAB_HOST_TARGET_PORT="$port" \
            -e NVFAB_HOST_DIGEST="${CHECK_DIGEST:-none}" \
            -e STEP_VERBOSE=1 host-template.sh
    fi
    exit 0
fi

export CHECK_E2E=1 CHECK_DIGEST=none
while (($#)); do
    case "$1" in
        --no-e2e) CHECK_E2E=0; shift ;;
        --digest) CHECK_DIGEST=$2; shift 2 ;;
        *) echo "usage: $0 [--no-e2e] [--digest none|hdgst|ddgst|both]" >&2; exit 2 ;;
    esac
done
exec "$SCRIPT_DIR/run-guest.sh" -p auto -t 300 -x "'$SCRIPT_DIR/check-target.sh' __probe" target.sh
