#!/usr/bin/env bash
# check-hostnet.sh - prove a guest reaches the HOST's loopback as 10.0.2.2.
#
# Serves a random token with "python3 -m http.server --bind 127.0.0.1 PORT"
# on the host, boots a guest whose script fetches http://10.0.2.2:PORT/token
# with busybox wget and compares. The server is this script's own child and
# is killed (by PID) on exit.
# usage: tests/interop/guest/check-hostnet.sh
# exit: 0 guest fetched the right token; otherwise run-guest.sh's exit code.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfab-hostnet.XXXXXX")
SRV=""
cleanup() {
    if [[ -n "$SRV" ]]; then kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mkdir "$WORK/www"
echo "$TOKEN" > "$WORK/www/token"

# Find a free port and start the server; retry if the bind races.
for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$PORT" \
        >"$WORK/srv.log" 2>&1 &
    SRV=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        kill -0 "$SRV" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$SRV" 2>/dev/null && break
    wait "$SRV" 2>/dev/null || true
    SRV=""
done
[[ -n "$SRV" ]] || { echo "check-hostnet: could not start http.server" >&2; exit 3; }
echo "check-hostnet: http.server pid $SRV on 127.0.0.1:$PORT"

cat > "$WORK/guest.sh" <<'GUEST'
set -eu
# No "wget -T": Debian's busybox 1.35 wget segfaults with it; use timeout.
got=$(timeout 10 wget -q -O - "http://10.0.2.2:$PORT/token")
echo "guest got token: $got"
[ "$got" = "$TOKEN" ]
GUEST
"$SCRIPT_DIR/run-guest.sh" -t 120 -e PORT="$PORT" -e TOKEN="$TOKEN" "$WORK/guest.sh"
