#!/usr/bin/env python3
"""The gateway's hop: host -> gateway -> storage against host -> storage directly.

    bench/gateway.py [--build DIR] [--rounds N] [--secs S] [--modes event,own,busy]
                     [--gateway-args "NVFABD OPTIONS"] [--floor] [--plot DIR]
                     [--compare-build OTHER_BUILD] [--loads 4k:1,4k:32,128k:1,128k:32]

A storage nvfabd (one reactor, a 256 MiB RAM namespace written through once first,
event-driven) and a gateway nvfabd (one reactor; bdev_nvme_attach_controller to the storage,
the namespace re-exported) on two cores:
- mode "event": the gateway event-driven; gateway and storage on core 0, `nvfab perf`
  (busy-polling) on core 1;
- mode "own": the gateway event-driven alone on core 0 (a SmartNIC core of its own); the
  storage and `nvfab perf --epoll` share core 1;
- mode "busy": the same, with the gateway busy-polling.
Each round runs, per mode, every workload (random reads and writes, 4 KiB and 128 KiB, QD1 and
QD32) directly against the storage and through the gateway, alternating. Printed: medians of
IOPS and mean latency for both paths, the hop's cost (latency through the gateway minus
directly), and the gateway's and the storage's CPU time per I/O (utime+stime of all their
threads over the run, divided by the I/Os; busy-polling, that is its core's time per I/O).
With --floor, the event-driven modes also run every workload through a byte relay (`nvfab-floor
relay`, event-driven, on core 0 like the gateway) in front of the same storage: the relay forwards the
NVMe/TCP bytes and does nothing else, so its latency minus the direct path's is the part of the
hop no gateway avoids (the raw TCP round trip of each I/O's bytes on these cores), and the
gateway's latency minus the relay's is what the gateway adds beyond it. Both are printed per
round (the same `nvfab perf`, the same storage, seconds apart) and as medians, from the
runs' mean latencies and from their medians (p50: one stall of the VM moves a mean, not a
median), with the gateway's user and system CPU per I/O minus the relay's (the same system
calls per I/O: what is left is the gateway's own work), and that CPU difference times the queue
depth beside the latency difference (queueing: at depth QD an I/O waits for the work of the
QD I/Os around it at each stage). --plot DIR writes gnuplot charts (PNG) of the hop (the
relay's beside it with --floor) and of the gateway's CPU per I/O there, and with --floor and
several queue depths, the latency over the relay against QD x the extra CPU.
--compare-build runs a second gateway, from another build directory, on the same storage in the
same rounds, and prints its hop, its CPU per I/O and its latency minus this build's round by
round (an A/B of a change to the gateway's path, immune to the machine's drift between runs).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

from benchlib import free_port, precondition, proc_stat_cpu_s, wait_socket

# One perf run: CPU in us per I/O (gw_*: the forwarding process's, gateway or relay),
# latencies in us.
Run = namedtuple("Run", "iops lat storage_cpu gw_cpu p50 gw_user gw_sys")

PLACEMENT = {
    "event": "event-driven, with the storage on core 0; perf busy on core 1",
    "own": "event-driven alone on core 0; storage and perf --epoll on core 1",
    "busy": "busy-polling alone on core 0; storage and perf --epoll on core 1",
}
STORAGE_NQN = "nqn.2026-12.io.nvfab:bench-storage"
GW_NQN = "nqn.2026-12.io.nvfab:bench-gateway"


def cpu_s(pid):
    """utime + stime of the whole process, in seconds."""
    return sum(proc_stat_cpu_s(pid))


def cpu_split_us(before, after, ops):
    """User and system CPU per op, in us, from two proc_stat_cpu_s readings."""
    return tuple((a - b) * 1e6 / max(ops, 1) for b, a in zip(before, after))


def listen(nqn, port):
    return {"method": "nvmf_subsystem_add_listener", "params": {"nqn": nqn, "listen_address": {
        "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}}


def start(build, cfg, work, name, busy, cpu, extra=()):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    sock = os.path.join(work, name + ".sock")
    log = open(os.path.join(work, name + ".log"), "w")
    proc = subprocess.Popen(["taskset", "-c", str(cpu), os.path.join(build, "apps", "nvfabd"), "-c", path,
                             "-r", sock, "-m", "0x1"] + (["-b"] if busy else []) + list(extra),
                            stdout=log, stderr=subprocess.STDOUT)
    wait_socket(proc, sock, 20, name, log.name)
    return proc


def perf(build, port, nqn, workload, size, qd, secs, epoll=False):
    out = subprocess.run(["taskset", "-c", "1", os.path.join(build, "apps", "nvfab", "nvfab"), "perf",
                          "-r", f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{nqn}",
                          "-q", str(qd), "-o", str(size), "-w", workload, "-t", str(secs)] +
                         (["--epoll"] if epoll else []),
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"nvfab perf failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    # Two "Total" lines: the summary (IOPS, MiB/s, mean latency, ...), then the percentiles.
    totals = [line.split(":", 1)[1].split() for line in out.stdout.splitlines()
              if line.startswith("Total")]
    return float(totals[0][0]), float(totals[0][2]), float(totals[1][0])


def wait_port(port, timeout=10):
    """Until something accepts on 127.0.0.1:port (a relay it connects through is dropped)."""
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            if time.monotonic() > end:
                sys.exit(f"nothing listens on port {port}")
            time.sleep(0.05)


def storage_config(port):
    return {"subsystems": [
        {"subsystem": "bdev", "config": [{"method": "bdev_malloc_create", "params": {
            "name": "ram", "num_blocks": 65536, "block_size": 4096}}]},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": STORAGE_NQN, "allow_any_host": True}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": STORAGE_NQN, "namespace": {"bdev_name": "ram"}}},
            listen(STORAGE_NQN, port)]}]}


def gateway_config(storage_port, port):
    return {"subsystems": [
        {"subsystem": "bdev", "config": [{"method": "bdev_nvme_attach_controller", "params": {
            "name": "Remote0", "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
            "trsvcid": str(storage_port), "subnqn": STORAGE_NQN}}]},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": GW_NQN, "allow_any_host": True}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": GW_NQN, "namespace": {"bdev_name": "Remote0n1"}}},
            listen(GW_NQN, port)]}]}


def run_mode(args, mode, loads, res):
    """One round of every workload in one placement (see the module's doc)."""
    busy = mode == "busy"
    own_core = mode in ("own", "busy")     # the gateway alone on core 0
    with tempfile.TemporaryDirectory(prefix="nvfab-bench-gw-") as work:
        sport, gport = free_port(), free_port()
        storage = start(args.build, storage_config(sport), work, "storage", False, 1 if own_core else 0)
        precondition(args.build, f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{sport} subnqn:{STORAGE_NQN}")
        gateway = start(args.build, gateway_config(sport, gport), work, "gateway", busy, 0,
                        args.gateway_args.split())
        paths = [("direct", sport, STORAGE_NQN, None), ("gateway", gport, GW_NQN, gateway)]
        daemons = [gateway, storage]
        try:
            if args.floor and not busy:
                # The same bytes through a relay that does nothing else, next to the gateway.
                rport = free_port()
                relay = subprocess.Popen(["taskset", "-c", "0", os.path.join(args.build, "bench", "nvfab-floor"),
                                          "relay", "-p", str(rport), "--to", str(sport), "-c", "0"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                daemons.insert(0, relay)
                wait_port(rport)
                paths.append(("relay", rport, STORAGE_NQN, relay))
            if args.compare_build:
                # The same gateway from another build, on the same storage: paired per round.
                cport = free_port()
                other = start(args.compare_build, gateway_config(sport, cport), work, "gateway-cmp",
                              busy, 0, args.gateway_args.split())
                daemons.insert(0, other)
                paths.append(("gateway-cmp", cport, GW_NQN, other))
            for load in loads:
                for path, port, nqn, gw in paths:
                    s0, g0 = cpu_s(storage.pid), proc_stat_cpu_s(gw.pid) if gw else (0, 0)
                    iops, lat, p50 = perf(args.build, port, nqn, *load, args.secs, epoll=own_core)
                    s1, g1 = cpu_s(storage.pid), proc_stat_cpu_s(gw.pid) if gw else (0, 0)
                    ios = max(iops * args.secs, 1)
                    gu, gs = cpu_split_us(g0, g1, ios)
                    res.setdefault((mode, load, path), []).append(
                        Run(iops, lat, (s1 - s0) * 1e6 / ios, gu + gs, p50, gu, gs))
        finally:
            for p in daemons:
                p.terminate()
                p.wait(15)


def draw(gp):
    """Runs gnuplot on a script, or says it could not."""
    if shutil.which("gnuplot"):
        subprocess.run(["gnuplot", gp], check=True)
    else:
        print(f"# gnuplot missing: {gp} not drawn")


def plot(outdir, modes, loads, med):
    """Hop latency per workload (the gateway's, and with --floor a byte relay's on the same
    cores; from median latencies, which one stall of the VM does not move) and the gateway's
    CPU per I/O, per mode."""
    os.makedirs(outdir, exist_ok=True)
    relayed = [m for m in modes if all((m, load, "relay") in med for load in loads)]
    cols = [(m, "hop") for m in modes] + [(m, "cpu") for m in modes] + [(m, "relay") for m in relayed]
    dat = os.path.join(outdir, "gateway.dat")
    with open(dat, "w") as f:
        f.write("# workload " + " ".join(f"{m}_{what}_us" for m, what in cols) + "\n")
        for load in loads:
            vals = []
            for m, what in cols:
                d = med[(m, load, "direct")]
                if what == "hop":
                    vals.append(med[(m, load, "gateway")].p50 - d.p50)
                elif what == "cpu":
                    vals.append(med[(m, load, "gateway")].gw_cpu)
                else:
                    vals.append(med[(m, load, "relay")].p50 - d.p50)
            w, sz, q = load
            f.write(f"{w.replace('rand', '')}-{sz // 1024}k-QD{q} " + " ".join(f"{v:.2f}" for v in vals) + "\n")
    column = {c: 2 + i for i, c in enumerate(cols)}
    # Busy mode's hop is not drawn: its gateway spins on core 0 whether it forwards or not.
    hop_modes = [m for m in modes if m != "busy"]
    for name, what, ylabel, title, shown in (
            ("gateway_hop", "hop", "median latency added (us)",
             "The hop per workload, event-driven (gateway: " + ", ".join(hop_modes) + ")", hop_modes),
            ("gateway_cpu", "cpu", "gateway CPU time per forwarded I/O (us)",
             "The gateway's CPU per forwarded I/O (event, own: its share; busy: its core)", modes)):
        if not shown:
            continue
        gp = os.path.join(outdir, name + ".gp")
        series = []
        for m in shown:     # each mode's gateway, then the relay in its place
            series.append(f"'{dat}' using {column[(m, what)]}:xtic(1) title 'gateway ({m})'")
            if what == "hop" and m in relayed:
                series.append(f"'{dat}' using {column[(m, 'relay')]}:xtic(1) title 'byte relay ({m}): the floor'")
        with open(gp, "w") as f:
            f.write(f"""set terminal pngcairo size 900,480
set output '{os.path.join(outdir, name + ".png")}'
set title "{title}"
set ylabel "{ylabel}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30
set key below
set logscale y
set grid ytics
plot {", ".join(series)}
""")
        draw(gp)


def print_over_relay(res, med, loads, mode):
    """What the gateway adds beyond a byte relay's hop, paired by round (the machine's speed
    drifts between rounds more than the difference)."""
    print("# through a byte relay to the same storage (nvfab-floor relay, event-driven, core 0): "
          "the relay's hop (relay minus direct), then the gateway's latency minus the relay's, "
          "the gateway's CPU per I/O minus the relay's, and the storage's CPU per I/O behind the "
          "gateway minus behind the relay, per round and median (us)")
    for load in loads:
        r, g = res[(mode, load, "relay")], res[(mode, load, "gateway")]
        name = f"{load[0]:10} {load[1] // 1024:4d}k QD{load[2]:<3d}"
        hop = med[(mode, load, "relay")].lat - med[(mode, load, "direct")].lat
        print(f"# {name} relay's hop: mean {hop:.1f}, p50 "
              f"{med[(mode, load, 'relay')].p50 - med[(mode, load, 'direct')].p50:.1f}")
        for what, k in (("latency over the relay, mean", "lat"), ("latency over the relay, p50", "p50"),
                        ("user CPU over the relay", "gw_user"), ("system CPU over the relay", "gw_sys"),
                        ("storage CPU over the relay's", "storage_cpu")):
            over = [getattr(x, k) - getattr(y, k) for x, y in zip(g, r)]
            print(f"# {name} {what:30}: {' '.join(f'{x:5.1f}' for x in over)}; "
                  f"median {statistics.median(over):.1f}")
    print("# queueing: at depth QD an I/O waits, at each stage, for the work of the QD I/Os around "
          "it, so what the gateway adds over the relay should be about QD x its extra CPU per I/O")
    print(f"# {'workload':10} {'size':>5} {'QD':>3} | {'p50 over relay':>14} | {'CPU over relay':>14} "
          f"| {'QD x CPU':>8}")
    for load, over, cpu in queueing(res, loads, mode):
        print(f"# {load[0]:10} {load[1] // 1024:4d}k {load[2]:3d} | {over:14.1f} | {cpu:14.2f} "
              f"| {load[2] * cpu:8.1f}")


def queueing(res, loads, mode):
    """Per load: the gateway's p50 latency over the relay's and its CPU per I/O (user and
    system) over the relay's, medians of the per-round differences."""
    out = []
    for load in loads:
        pairs = list(zip(res[(mode, load, "gateway")], res[(mode, load, "relay")]))
        out.append((load, statistics.median(g.p50 - r.p50 for g, r in pairs),
                    statistics.median(g.gw_cpu - r.gw_cpu for g, r in pairs)))
    return out


def plot_queueing(outdir, mode, loads, res):
    """The gateway's latency over the relay's against QD x its extra CPU per I/O, per workload
    and queue depth (with --floor and more than one QD of a size)."""
    rows = queueing(res, loads, mode)
    groups = sorted({(w, size) for (w, size, _), _, _ in rows}, key=lambda g: (g[1], g[0]))
    dat = os.path.join(outdir, f"gateway_queueing_{mode}.dat")
    series = []
    with open(dat, "w") as f:
        # One block per workload and size (gnuplot's `index`), rows by queue depth.
        for i, (w, size) in enumerate(groups):
            f.write(f"# {w} {size // 1024} KiB: qd p50_over_relay_us qd_x_cpu_over_relay_us\n")
            for (w2, size2, qd), over, cpu in sorted(rows, key=lambda r: r[0][2]):
                if (w2, size2) == (w, size):
                    f.write(f"{qd} {over:.2f} {qd * cpu:.2f}\n")
            f.write("\n\n")
            label = f"{w.replace('rand', '')} {size // 1024} KiB"
            series.append(f"'{dat}' index {i} using 1:2 with linespoints lc {i + 1} title '{label}: measured'")
            series.append(f"'{dat}' index {i} using 1:3 with lines dashtype 2 lc {i + 1} "
                          f"title '{label}: QD x extra CPU'")
    gp = os.path.join(outdir, f"gateway_queueing_{mode}.gp")
    with open(gp, "w") as f:
        f.write(f"""set terminal pngcairo size 900,520
set output '{os.path.join(outdir, f"gateway_queueing_{mode}.png")}'
set title "The gateway's latency over a byte relay's, by queue depth ({mode})"
set xlabel "queue depth"
set ylabel "us (medians of per-round differences)"
set logscale x 2
set grid
set key below
plot {", ".join(series)}
""")
    draw(gp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--modes", default="event", help="a list of event, own, busy")
    ap.add_argument("--floor", action="store_true")
    ap.add_argument("--gateway-args", default="", help="more nvfabd options for the gateway")
    ap.add_argument("--compare-build", metavar="DIR",
                    help="also a gateway from this build, on the same storage in the same rounds")
    ap.add_argument("--plot", metavar="DIR")
    ap.add_argument("--loads", default="4k:1,4k:32,128k:1,128k:32",
                    help="SIZE:QD list (each run as random reads and random writes)")
    args = ap.parse_args()
    modes = args.modes.split(",")
    if not modes or any(m not in PLACEMENT for m in modes):
        sys.exit("--modes: a list of event, own, busy")
    loads = []
    for item in args.loads.split(","):
        size, qd = item.split(":")
        size = int(size.rstrip("kK")) * (1024 if size[-1] in "kK" else 1)
        loads += [(w, size, int(qd)) for w in ("randread", "randwrite")]
    res = {}
    for _ in range(args.rounds):
        for mode in modes:
            run_mode(args, mode, loads, res)
    med = {k: Run(*(statistics.median(x) for x in zip(*v))) for k, v in res.items()}
    print(f"# {' '.join(sys.argv)}")
    print(f"# {args.rounds} rounds of {args.secs} s, medians; gateway options: {args.gateway_args or '-'}")
    for mode in modes:
        print(f"\n## gateway {PLACEMENT[mode]}")
        print(f"{'workload':10} {'size':>6} {'QD':>3} | {'direct IOPS':>11} {'lat us':>7} | {'gateway IOPS':>12} "
              f"{'lat us':>7} | {'hop us':>7} {'IOPS x':>6} | {'gw CPU us/IO':>12} {'storage CPU us/IO':>17}")
        for load in loads:
            d, g = med[(mode, load, "direct")], med[(mode, load, "gateway")]
            print(f"{load[0]:10} {load[1] // 1024:5d}k {load[2]:3d} | {d.iops:11.0f} {d.lat:7.1f} | {g.iops:12.0f} "
                  f"{g.lat:7.1f} | {g.lat - d.lat:7.1f} {g.iops / d.iops:6.2f} | {g.gw_cpu:12.2f} {g.storage_cpu:17.2f}")
        if args.compare_build:
            print(f"# the gateway of {args.compare_build}, same rounds: its hop, and its latency "
                  f"(mean, p50) and CPU per I/O (user, system) minus {args.build}'s: medians of the "
                  f"per-round differences (us)")
            for load in loads:
                d, c = med[(mode, load, "direct")], med[(mode, load, "gateway-cmp")]
                pairs = list(zip(res[(mode, load, "gateway-cmp")], res[(mode, load, "gateway")]))
                lat = [o.lat - g.lat for o, g in pairs]
                print(f"# {load[0]:10} {load[1] // 1024:5d}k {load[2]:3d} | hop {c.lat - d.lat:7.1f} | "
                      + " | ".join(f"{k} {statistics.median(getattr(o, k) - getattr(g, k) for o, g in pairs):+.2f}"
                                   for k in ("lat", "p50", "gw_user", "gw_sys"))
                      + f" | latency per round: {' '.join(f'{x:.1f}' for x in lat)}")
        if args.floor and mode != "busy":
            print_over_relay(res, med, loads, mode)
    if args.plot:
        plot(args.plot, modes, loads, med)
        for mode in modes:
            if args.floor and mode != "busy" and len({qd for _, _, qd in loads}) > 1:
                plot_queueing(args.plot, mode, loads, res)


if __name__ == "__main__":
    main()
