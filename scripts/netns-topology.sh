#!/usr/bin/env bash
# netns-topology.sh - three "machines" for gateway tests: network namespaces
# PREFIX-host, PREFIX-gateway and PREFIX-storage joined by veth links, so that
# traffic crosses real interfaces and a link can be cut or slowed. Two links
# join gateway and storage: two paths for failover.
#
#   PREFIX-host    10.201.1.1/24 --(h-g / g-h)--   10.201.1.2/24 PREFIX-gateway
#   PREFIX-gateway 10.201.2.1/24 --(g-s / s-g)--   10.201.2.2/24 PREFIX-storage
#   PREFIX-gateway 10.201.3.1/24 --(g-s2 / s2-g)-- 10.201.3.2/24 PREFIX-storage
#
# usage: scripts/netns-topology.sh up PREFIX     create (fails, cleaning up, if any step fails)
#        scripts/netns-topology.sh down PREFIX   remove whatever of it exists (always exits 0)
#        scripts/netns-topology.sh cut|heal PREFIX storage|storage2|host   link down / up
#        scripts/netns-topology.sh netem PREFIX storage|storage2|host ARGS...   tc netem, gateway side
#        scripts/netns-topology.sh rate PREFIX storage|storage2|host RATE   tc tbf (e.g. 40mbit)
#                                                  (netem needs sch_netem, which not every kernel has)
# Run processes in a namespace with `ip netns exec PREFIX-host CMD`. Needs root
# (CAP_NET_ADMIN) and iproute2; the addresses exist only inside the namespaces.
# Interface names: g-h / h-g (host link), g-s / s-g and g-s2 / s2-g (storage links).
set -euo pipefail

cmd=${1:-}
p=${2:-}
[[ -n $cmd && -n $p ]] || { sed -n '2,20p' "$0" >&2; exit 2; }
[[ $p =~ ^[a-z0-9-]{1,12}$ ]] || { echo "netns-topology: PREFIX: 1-12 of [a-z0-9-]" >&2; exit 2; }

down() {
    local ns
    for ns in "$p-host" "$p-gateway" "$p-storage"; do
        ip netns del "$ns" 2>/dev/null || true   # deleting a namespace removes its veths
    done
}

up() {
    trap 'echo "netns-topology: setup failed; removing it" >&2; down' ERR
    ip netns add "$p-host"
    ip netns add "$p-gateway"
    ip netns add "$p-storage"
    ip -n "$p-gateway" link add g-h type veth peer name h-g netns "$p-host"
    ip -n "$p-gateway" link add g-s type veth peer name s-g netns "$p-storage"
    ip -n "$p-gateway" link add g-s2 type veth peer name s2-g netns "$p-storage"
    ip -n "$p-host" addr add 10.201.1.1/24 dev h-g
    ip -n "$p-gateway" addr add 10.201.1.2/24 dev g-h
    ip -n "$p-gateway" addr add 10.201.2.1/24 dev g-s
    ip -n "$p-storage" addr add 10.201.2.2/24 dev s-g
    ip -n "$p-gateway" addr add 10.201.3.1/24 dev g-s2
    ip -n "$p-storage" addr add 10.201.3.2/24 dev s2-g
    local ns
    for ns in host gateway storage; do
        ip -n "$p-$ns" link set lo up
    done
    ip -n "$p-host" link set h-g up
    ip -n "$p-gateway" link set g-h up
    ip -n "$p-gateway" link set g-s up
    ip -n "$p-storage" link set s-g up
    ip -n "$p-gateway" link set g-s2 up
    ip -n "$p-storage" link set s2-g up
    trap - ERR
}

link_of() {
    case $1 in
        storage) echo g-s ;;
        storage2) echo g-s2 ;;
        host) echo g-h ;;
        *) echo "netns-topology: link: storage, storage2 or host" >&2; exit 2 ;;
    esac
}

case $cmd in
    up) up ;;
    down) down ;;
    cut) ip -n "$p-gateway" link set "$(link_of "${3:-}")" down ;;
    heal) ip -n "$p-gateway" link set "$(link_of "${3:-}")" up ;;
    netem)
        dev=$(link_of "${3:-}")
        shift 3
        ip netns exec "$p-gateway" tc qdisc replace dev "$dev" root netem "$@" ;;
    rate)
        dev=$(link_of "${3:-}")
        [[ -n ${4:-} ]] || { echo "netns-topology: rate needs a RATE (e.g. 40mbit)" >&2; exit 2; }
        ip netns exec "$p-gateway" tc qdisc replace dev "$dev" root tbf rate "$4" burst 64kb latency 400ms ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
