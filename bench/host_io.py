#!/usr/bin/env python3
"""Hosts side by side against one target: throughput, latency and the host's own cost.

    bench/host_io.py [--host nvfab:BUILD ...] [--host spdk:PATH/spdk_nvme_perf ...]
                     [--target nvfabd:BUILD | --target trid:'TRID'] [--busy-target]
                     [--io 128k:8,4k:32,...] [--modes busy,event] [--rounds N] [--secs S]
                     [--floor BUILD [--pause-pid PID]]

The target is either nvfabd of BUILD (started here, pinned to core 0, one reactor, a 256 MiB RAM
namespace written through once; busy-polling with --busy-target) or any running NVMe/TCP
subsystem given by its transport ID (for example SPDK's nvmf_tgt). Each host runs pinned to core
1, random reads of each --io SIZE:DEPTH, in each mode: busy (`nvfab perf --busy-poll`;
spdk_nvme_perf always polls) and event (`nvfab perf --epoll`). The hosts alternate within every
round, so several hosts (two builds of nvfab, or nvfab and SPDK's perf tool) are compared in one
run on a shared, noisy machine. Printed per host, I/O and mode: medians over rounds of IOPS,
MiB/s, mean latency, the host process's CPU time per I/O (its rusage) and its system calls per
I/O (`perf stat -e raw_syscalls:sys_enter`), plus the spread (min-max) of IOPS.

--floor BUILD adds, in every round, the raw TCP stream of the same message size from core 0 to
core 1 (`nvfab-floor stream --dir read`, busy-polling server and client, nothing else running):
the most any host can receive on these cores, whatever the target. A host at that line is
bound by the loopback path and the target's core, not by its own code. The target is stopped
(SIGSTOP) meanwhile so that a busy-polling one leaves core 0 to the stream: nvfabd started
here, or the process --pause-pid names (a target given by --target trid:...).
"""
import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile

from benchlib import FloorServer, free_port, precondition, wait_socket

NQN = "nqn.2026-12.io.nvfab:bench-host-io"


def start_nvfabd(build, busy, work):
    port = free_port()
    cfg = {"subsystems": [
        {"subsystem": "bdev", "config": [{"method": "bdev_malloc_create", "params": {
            "name": "ram", "num_blocks": 65536, "block_size": 4096}}]},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": NQN, "allow_any_host": True}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": NQN, "namespace": {"bdev_name": "ram"}}},
            {"method": "nvmf_subsystem_add_listener", "params": {"nqn": NQN, "listen_address": {
                "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}}]}]}
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    sock = os.path.join(work, "rpc.sock")
    log = open(os.path.join(work, "nvfabd.log"), "w")
    proc = subprocess.Popen(["taskset", "-c", "0", os.path.join(build, "apps", "nvfabd"), "-c", path,
                             "-r", sock, "-m", "0x1"] + (["-b"] if busy else []),
                            stdout=log, stderr=subprocess.STDOUT)
    wait_socket(proc, sock, 10, f"nvfabd of {build}", log.name)
    return proc, f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{NQN}"


def host_cmd(host, trid, size, qd, mode, secs):
    kind, path = host.split(":", 1)
    if kind == "nvfab":
        return ["taskset", "-c", "1", os.path.join(path, "apps", "nvfab", "nvfab"), "perf", "-r", trid,
                "-q", str(qd), "-o", str(size), "-w", "randread", "-t", str(secs),
                "--busy-poll" if mode == "busy" else "--epoll"]
    if kind == "spdk":
        if mode != "busy":
            return None  # spdk_nvme_perf has no event-driven mode
        # Core 1 through its own core mask; no hugepages (the host's memory is ordinary pages);
        # its shared libraries from the build tree it was run from.
        return ["env", f"LD_LIBRARY_PATH={os.path.join(os.path.dirname(os.path.dirname(path)), 'lib')}", path, "-r", trid, "-q", str(qd), "-o", str(size), "-w", "randread", "-t", str(secs),
                "-c", "0x2", "--no-huge", "-s", "1024"]
    sys.exit(f"unknown host kind in {host} (nvfab:BUILD or spdk:PATH)")


def floor_stream(build, size, secs, work):
    """Messages per second of a raw TCP stream of SIZE-byte messages, server core 0, client core 1."""
    server = FloorServer(build, work, busy=True)
    try:
        with tempfile.NamedTemporaryFile("r", suffix=".json") as j:
            subprocess.run(["taskset", "-c", "1", server.exe, "stream", "-p", str(server.port), "-c", "1", "-b",
                            "-s", str(size), "--dir", "read", "-t", str(secs), "--json", j.name],
                           check=True, capture_output=True)
            out = json.load(open(j.name))
        return out["msgs"] / out["elapsed_s"]
    finally:
        server.stop()


def run_host(cmd):
    """Runs one host under perf stat; returns (IOPS, MiB/s, avg us, host CPU s, syscalls)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.NamedTemporaryFile("r", suffix=".perfstat") as st:
        out = subprocess.run(["perf", "stat", "-x,", "-o", st.name, "-e", "raw_syscalls:sys_enter", "--"] + cmd,
                             capture_output=True, text=True)
        stat = st.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    total = [line for line in out.stdout.splitlines() if line.strip().startswith("Total")]
    if not total:
        raise RuntimeError(f"no Total line from {' '.join(cmd)}:\n{out.stdout[-2000:]}")
    fields = total[0].split(":", 1)[1].split()
    calls = None
    for line in stat.splitlines():
        if "raw_syscalls:sys_enter" in line and line.split(",")[0].isdigit():
            calls = int(line.split(",")[0])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(fields[0]), float(fields[1]), float(fields[2]), cpu, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", action="append", default=[])
    ap.add_argument("--target", default="nvfabd:build")
    ap.add_argument("--busy-target", action="store_true")
    ap.add_argument("--io", default="128k:8")
    ap.add_argument("--modes", default="busy,event")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--floor", metavar="BUILD", help="also the raw TCP stream of each size (nvfab-floor of BUILD)")
    ap.add_argument("--pause-pid", type=int, help="with --floor: the target's process, stopped while the stream runs")
    args = ap.parse_args()
    hosts = args.host or ["nvfab:build"]
    ios = []
    for item in args.io.split(","):
        size, qd = item.split(":")
        mult = {"k": 1024, "m": 1 << 20}.get(size[-1].lower(), 1)
        ios.append((int(size.rstrip("kKmM")) * mult, int(qd)))
    modes = args.modes.split(",")
    res = {}
    with tempfile.TemporaryDirectory(prefix="nvfab-host-io-") as work:
        proc = None
        if args.target.startswith("nvfabd:"):
            proc, trid = start_nvfabd(args.target.split(":", 1)[1], args.busy_target, work)
            precondition(args.target.split(":", 1)[1], trid)
        elif args.target.startswith("trid:"):
            trid = args.target.split(":", 1)[1]
        else:
            sys.exit("--target nvfabd:BUILD or --target trid:'TRID'")
        try:
            for _ in range(args.rounds):
                for size, qd in ios:
                    if args.floor:
                        paused = proc.pid if proc else args.pause_pid
                        if paused:
                            os.kill(paused, signal.SIGSTOP)
                        try:
                            rate = floor_stream(args.floor, size, args.secs, work)
                        finally:
                            if paused:
                                os.kill(paused, signal.SIGCONT)
                        res.setdefault((size, qd, "raw", "nvfab-floor stream (no target)"), []).append(
                            (rate, rate * size / (1 << 20), float("nan"), float("nan"), float("nan")))
                    for mode in modes:
                        for host in hosts:
                            cmd = host_cmd(host, trid, size, qd, mode, args.secs)
                            if cmd is None:
                                continue
                            iops, mibs, lat, cpu, calls = run_host(cmd)
                            n = max(iops * args.secs, 1)
                            res.setdefault((size, qd, mode, host), []).append(
                                (iops, mibs, lat, cpu * 1e6 / n, calls / n if calls is not None else float("nan")))
        finally:
            if proc:
                proc.terminate()
                proc.wait(10)
    print(f"# {' '.join(sys.argv)}")
    print(f"# target {args.target}{' (busy-poll)' if args.busy_target else ''}; {args.rounds} rounds of "
          f"{args.secs} s, hosts alternating; medians (IOPS spread min-max)")
    print(f"{'size':>6} {'QD':>3} {'mode':5} {'host':44} {'IOPS':>9} {'spread':>15} {'MiB/s':>8} "
          f"{'lat us':>8} {'CPU us/IO':>9} {'calls/IO':>8}")
    for key in res:
        v = res[key]
        med = [statistics.median(x[i] for x in v) for i in range(5)]
        spread = f"{min(x[0] for x in v):.0f}-{max(x[0] for x in v):.0f}"
        print(f"{key[0] // 1024:5d}k {key[1]:3d} {key[2]:5} {key[3][-44:]:44} {med[0]:9.0f} {spread:>15} "
              f"{med[1]:8.0f} {med[2]:8.1f} {med[3]:9.2f} {med[4]:8.2f}")


if __name__ == "__main__":
    main()
