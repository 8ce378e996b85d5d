#!/usr/bin/env python3
"""The file backend against the RAM backend on one target core, A/B between builds.

    bench/file_vs_ram.py [--target-build DIR[|ARGS] | spdk:NVMF_TGT ...] [--host-build DIR] [--backends LIST]
                         [--rounds N] [--secs S] [--busy] [--syscalls]

Each --target-build runs a target pinned to core 0 with one namespace per backend of --backends
(default ram,tmpfs): ram (bdev_malloc_create, written through once first), tmpfs (a 256 MiB file
in /dev/shm), rootfs (a 256 MiB file in /var/tmp, written once so that reads are not holes,
O_DIRECT where the file system takes it), loop (a loop device with direct I/O over such a file;
needs root and losetup). `nvfab perf` of --host-build, pinned to core 1, runs 4 KiB random reads
at QD1 and QD32 on each. The builds alternate within every round, so that several builds are
compared in one run on a shared, noisy machine. Printed per build, backend and depth: medians of
IOPS, mean latency, nvfabd's CPU time per I/O (utime+stime of all its threads, io_uring workers
included, over the run, divided by the I/Os served) and, with --syscalls, its system calls per
I/O (`perf stat -e raw_syscalls:sys_enter` on the daemon).

A --target-build is an nvfab build directory (default: build), optionally with nvfabd options
after a bar ("build|--poll-us 50"), or "spdk:PATH/nvmf_tgt": SPDK's target for reference, with
its aio bdev on the same files and malloc for ram, in interrupt mode unless --busy, without
hugepages (a local SPDK build: this script does not fetch or build it).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, precondition, proc_stat_cpu_s, wait_socket

NQN = "nqn.2026-12.io.nvfab:bench-"


def config(images, port, file_method="bdev_uring_create"):
    ns = []
    bdevs = [{"method": "bdev_malloc_create", "params": {"name": "ram", "num_blocks": 65536, "block_size": 4096}}]
    for name, path in images.items():
        bdevs.append({"method": file_method, "params": {"name": name, "filename": path, "block_size": 4096}})
    for name in ["ram"] + list(images):
        bdev = name
        ns += [{"method": "nvmf_create_subsystem", "params": {"nqn": NQN + name, "allow_any_host": True}},
               {"method": "nvmf_subsystem_add_ns", "params": {"nqn": NQN + name, "namespace": {"bdev_name": bdev}}},
               {"method": "nvmf_subsystem_add_listener", "params": {"nqn": NQN + name, "listen_address": {
                   "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}}]
    return {"subsystems": [
        {"subsystem": "bdev", "config": bdevs},
        {"subsystem": "nvmf", "config": [{"method": "nvmf_create_transport", "params": {"trtype": "TCP"}}] + ns}]}


def cpu_s(pid):
    """utime + stime of the whole process, in seconds."""
    return sum(proc_stat_cpu_s(pid))


def run_target(build, images, busy, work):
    """build: an nvfab build directory, optionally "DIR|EXTRA ARGS" (e.g. "build|--poll-us 0"), or
    "spdk:PATH/nvmf_tgt" (SPDK's target, for reference: its aio bdev on the same files, its
    interrupt mode unless --busy, no hugepages)."""
    port = free_port()
    cfg = os.path.join(work, "config.json")
    spdk = build.startswith("spdk:")
    with open(cfg, "w") as f:
        json.dump(config(images, port, "bdev_aio_create" if spdk else "bdev_uring_create"), f)
    sock = os.path.join(work, "rpc.sock")
    log = open(os.path.join(work, "target.log"), "w")
    env = None
    if spdk:
        tgt = build.split(":", 1)[1]
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(os.path.dirname(os.path.dirname(tgt)), "lib"))
        cmd = ["taskset", "-c", "0", tgt, "-m", "0x1", "--no-huge", "-s", "1024", "-c", cfg, "-r", sock] + \
            ([] if busy else ["--interrupt-mode"])
    else:
        path, _, extra = build.partition("|")
        cmd = ["taskset", "-c", "0", os.path.join(path, "apps", "nvfabd"), "-c", cfg, "-r", sock,
               "-m", "0x1"] + (["-b"] if busy else []) + extra.split()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_socket(proc, sock, 10, f"target {build}", log.name)
    if spdk:  # the RPC socket comes before the config is applied: wait for the listener
        import socket
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    sys.exit(f"target {build} did not listen; see {log.name}")
                time.sleep(0.1)
    return proc, port


def perf(host_build, port, name, qd, secs, count_pid=None):
    counter = None
    if count_pid:
        counter = subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(count_pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out = subprocess.run(["taskset", "-c", "1", os.path.join(host_build, "apps", "nvfab", "nvfab"), "perf",
                          "-r", f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{NQN}{name}",
                          "-q", str(qd), "-o", "4096", "-w", "randread", "-t", str(secs)],
                         capture_output=True, text=True, check=True).stdout
    calls = None
    if counter:
        counter.send_signal(signal.SIGINT)
        err = counter.communicate(timeout=10)[1]
        for line in err.splitlines():
            if "raw_syscalls:sys_enter" in line and line.split(",")[0].isdigit():
                calls = int(line.split(",")[0])
    total = [line for line in out.splitlines() if line.startswith("Total")][0].split()
    return float(total[2]), float(total[4]), calls


def make_images(backends, stack):
    """Backing files and devices; undo steps go on stack (run in reverse at the end)."""
    images = {}
    for b in backends:
        if b == "ram":
            continue
        if b not in ("tmpfs", "rootfs", "loop"):
            sys.exit(f"unknown backend {b}")
        path = (f"/dev/shm/nvfab-bench-{os.getpid()}.img" if b == "tmpfs" else
                f"/var/tmp/nvfab-bench-{b}-{os.getpid()}.img")
        with open(path, "wb") as f:
            if b == "tmpfs":
                f.truncate(256 << 20)
            else:  # real blocks, not holes: reads must reach the disk's data path
                chunk = os.urandom(1 << 20)
                for _ in range(256):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        stack.append(lambda p=path: os.unlink(p))
        if b == "loop":
            dev = subprocess.run(["losetup", "--find", "--show", "--direct-io=on", path],
                                 capture_output=True, text=True, check=True).stdout.strip()
            stack.append(lambda d=dev: subprocess.run(["losetup", "-d", d], check=False))
            path = dev
        images[b] = path
    return images


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target-build", action="append", default=[])
    ap.add_argument("--host-build", default="build")
    ap.add_argument("--backends", default="ram,tmpfs")
    ap.add_argument("--syscalls", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=4)
    ap.add_argument("--busy", action="store_true")
    args = ap.parse_args()
    builds = args.target_build or ["build"]
    backends = args.backends.split(",")
    res = {}
    undo = []
    try:
        images = make_images(backends, undo)
        for _ in range(args.rounds):
            for build in builds:
                with tempfile.TemporaryDirectory(prefix="nvfab-fvr-") as work:
                    proc, port = run_target(build, images, args.busy, work)
                    try:
                        if "ram" in backends:
                            precondition(args.host_build, "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 "
                                         f"trsvcid:{port} subnqn:{NQN}ram")
                        for name in ["ram"] + list(images):
                            if name not in backends:
                                continue
                            for qd in (1, 32):
                                t0 = cpu_s(proc.pid)
                                iops, lat, calls = perf(args.host_build, port, name, qd, args.secs,
                                                        proc.pid if args.syscalls else None)
                                t1 = cpu_s(proc.pid)
                                ios = max(iops * args.secs, 1)
                                res.setdefault((build, name, qd), []).append(
                                    (iops, lat, (t1 - t0) * 1e6 / ios,
                                     calls / ios if calls is not None else float("nan")))
                    finally:
                        proc.terminate()
                        proc.wait(10)
    finally:
        for step in reversed(undo):
            step()
    mode = "busy-poll" if args.busy else "event-driven"
    print(f"# {' '.join(sys.argv)}\n# {mode}, {args.rounds} rounds of {args.secs} s, medians")
    print(f"{'target build':36} {'backend':7} {'QD':>3} {'IOPS':>9} {'lat us':>8} {'CPU us/IO':>10} {'syscalls/IO':>12}")
    for key in sorted(res):
        v = res[key]
        med = [statistics.median(x[i] for x in v) for i in range(4)]
        name = "SPDK nvmf_tgt" if key[0].startswith("spdk:") else key[0]
        print(f"{name[-36:]:36} {key[1]:7} {key[2]:3d} {med[0]:9.0f} {med[1]:8.1f} {med[2]:10.2f} {med[3]:12.2f}")


if __name__ == "__main__":
    main()
