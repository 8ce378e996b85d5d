#!/usr/bin/env python3
"""The file backend against the RAM backend on one target core, A/B between builds.

    bench/file_vs_ram.py [--target-build DIR ...] [--host-build DIR] [--image PATH]
                         [--rounds N] [--secs S] [--busy]

Each target build (default: build) runs nvfabd pinned to core 0 with two namespaces, a RAM bdev
(bdev_malloc_create) and a file bdev (bdev_uring_create on --image, default a 256 MiB file in
/dev/shm; give a path on another file system or a block device to measure that one). `nvfab
perf` of --host-build, pinned to core 1, runs 4 KiB random reads at QD1 and QD32 on each. The
builds alternate within every round, so that several builds are compared in one run on a
shared, noisy machine. Printed per build, bdev and depth: medians of IOPS, mean latency and
nvfabd's CPU time per I/O (utime+stime of all its threads, io_uring workers included, over the
run, divided by the I/Os served).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

NQN = "nqn.2026-12.io.nvfab:bench-"


def config(image, port):
    ns = []
    for name, bdev in (("ram", "Ram0"), ("file", "File0")):
        ns += [{"method": "nvmf_create_subsystem", "params": {"nqn": NQN + name, "allow_any_host": True}},
               {"method": "nvmf_subsystem_add_ns", "params": {"nqn": NQN + name, "namespace": {"bdev_name": bdev}}},
               {"method": "nvmf_subsystem_add_listener", "params": {"nqn": NQN + name, "listen_address": {
                   "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}}]
    return {"subsystems": [
        {"subsystem": "bdev", "config": [
            {"method": "bdev_malloc_create", "params": {"name": "Ram0", "num_blocks": 65536, "block_size": 4096}},
            {"method": "bdev_uring_create", "params": {"name": "File0", "filename": image, "block_size": 4096}}]},
        {"subsystem": "nvmf", "config": [{"method": "nvmf_create_transport", "params": {"trtype": "TCP"}}] + ns}]}


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_target(build, image, busy, work):
    port = free_port()
    cfg = os.path.join(work, "config.json")
    with open(cfg, "w") as f:
        json.dump(config(image, port), f)
    sock = os.path.join(work, "rpc.sock")
    log = open(os.path.join(work, "nvfabd.log"), "w")
    cmd = ["taskset", "-c", "0", os.path.join(build, "apps", "nvfabd"), "-c", cfg, "-r", sock,
           "-m", "0x1"] + (["-b"] if busy else [])
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while not os.path.exists(sock):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            sys.exit(f"nvfabd of {build} did not start; see {log.name}")
        time.sleep(0.05)
    return proc, port


def perf(host_build, port, name, qd, secs):
    out = subprocess.run(["taskset", "-c", "1", os.path.join(host_build, "apps", "nvfab", "nvfab"), "perf",
                          "-r", f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{NQN}{name}",
                          "-q", str(qd), "-o", "4096", "-w", "randread", "-t", str(secs)],
                         capture_output=True, text=True, check=True).stdout
    total = [line for line in out.splitlines() if line.startswith("Total")][0].split()
    return float(total[2]), float(total[4])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target-build", action="append", default=[])
    ap.add_argument("--host-build", default="build")
    ap.add_argument("--image", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=4)
    ap.add_argument("--busy", action="store_true")
    args = ap.parse_args()
    builds = args.target_build or ["build"]
    image = args.image or f"/dev/shm/nvfab-bench-{os.getpid()}.img"
    made = not os.path.exists(image)
    if made:
        with open(image, "wb") as f:
            f.truncate(256 << 20)
    hz = os.sysconf("SC_CLK_TCK")
    res = {}
    try:
        for _ in range(args.rounds):
            for build in builds:
                with tempfile.TemporaryDirectory(prefix="nvfab-fvr-") as work:
                    proc, port = run_target(build, image, args.busy, work)
                    try:
                        for name in ("ram", "file"):
                            for qd in (1, 32):
                                t0 = cpu_ticks(proc.pid)
                                iops, lat = perf(args.host_build, port, name, qd, args.secs)
                                t1 = cpu_ticks(proc.pid)
                                cpu = (t1 - t0) / hz * 1e6 / max(iops * args.secs, 1)
                                res.setdefault((build, name, qd), []).append((iops, lat, cpu))
                    finally:
                        proc.terminate()
                        proc.wait(10)
    finally:
        if made:
            os.unlink(image)
    mode = "busy-poll" if args.busy else "event-driven"
    print(f"# {' '.join(sys.argv)}\n# {mode}, image {image}, {args.rounds} rounds of {args.secs} s, medians")
    print(f"{'target build':32} {'bdev':5} {'QD':>3} {'IOPS':>9} {'lat us':>8} {'CPU us/IO':>10}")
    for key in sorted(res):
        v = res[key]
        med = [statistics.median(x[i] for x in v) for i in range(3)]
        print(f"{key[0]:32} {key[1]:5} {key[2]:3d} {med[0]:9.0f} {med[1]:8.1f} {med[2]:10.2f}")


if __name__ == "__main__":
    main()
