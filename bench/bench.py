#!/usr/bin/python3
"""The nvfab benchmark runner: measures, stores raw JSON and hands over to report.py.

    bench/bench.py --build build --mode smoke|quick|full [--out DIR] [--sections LIST]

Sections: floor, latency, iops, cpu, scale (the report's five), plus profile (callgrind and
perf sampling of nvfabd and the nvfab perf host). Placement: nvfabd on core 0 (its reactors on
-m 0x1, or 0x3 for two reactors), the host on core 1. Repetitions are interleaved: every
repetition runs every configuration once, in the same order, before the next repetition starts.
Python 3 standard library only.
"""
import sys
sys.dont_write_bytecode = True  # noqa: E402 (no __pycache__ in the source tree)
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import BenchError  # noqa: E402

MODES = {
    # seconds per measurement, repetitions, and what each section covers
    "smoke": dict(secs=1, reps=1, qds=[1, 32], lat_ios=[("randread", 4096)], lat_bdevs=["ram"],
                  busy=[False], reactors=[1], conns=[1, 4], streams=["read"],
                  floor_ios=["read4k-success"], bw=False, callgrind_secs=(1, 3), profile=False),
    "quick": dict(secs=2, reps=1, qds=[1, 4, 16, 32, 64, 128],
                  lat_ios=[("randread", 4096), ("randwrite", 4096), ("randread", 131072), ("randwrite", 131072)],
                  lat_bdevs=["ram", "null"], busy=[True, False], reactors=[1, 2], conns=[1, 16, 64, 256],
                  streams=["read", "write"],
                  floor_ios=["read4k", "read4k-success", "write4k", "read128k", "read128k-success", "write128k"],
                  bw=True, callgrind_secs=(2, 6), profile=True),
    "full": dict(secs=3, reps=3, qds=[1, 4, 16, 32, 64, 128],
                 lat_ios=[("randread", 4096), ("randwrite", 4096), ("randread", 131072), ("randwrite", 131072)],
                 lat_bdevs=["ram", "null"], busy=[True, False], reactors=[1, 2], conns=[1, 16, 64, 256],
                 streams=["read", "write"],
                 floor_ios=["read4k", "read4k-success", "write4k", "read128k", "read128k-success", "write128k"],
                 bw=True, callgrind_secs=(3, 10), profile=True),
}
ALL_SECTIONS = ["floor", "latency", "iops", "cpu", "scale", "profile"]
FLOOR_FOR = {("randread", 4096): "read4k", ("randwrite", 4096): "write4k",
             ("randread", 131072): "read128k", ("randwrite", 131072): "write128k"}
BW_QD = 32
STRING_FN = re.compile(r"(^|:)_*(mem(set|cpy|move)|wmemset)", re.I)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def git(*args):
    try:
        return subprocess.run(["git", "-C", bl.ROOT] + list(args), capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"hostname": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(),
            "kernel": platform.release(), "mem_gib": round(mem_kb / 1048576, 1),
            "os": _os_release()}


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.orig_build = args.build
        self.cfg = dict(MODES[args.mode])
        if os.environ.get("BENCH_SECONDS"):
            self.cfg["secs"] = float(os.environ["BENCH_SECONDS"])
        if os.environ.get("BENCH_REPS"):
            self.cfg["reps"] = int(os.environ["BENCH_REPS"])
        self.out = os.path.abspath(args.out)
        self.raw = os.path.join(self.out, "raw")
        self.work = os.path.join(self.out, "work")
        os.makedirs(self.raw, exist_ok=True)
        os.makedirs(self.work, exist_ok=True)
        self.sections = args.sections
        smoke = args.mode == "smoke"
        self.retries = int(os.environ.get("BENCH_RETRIES", 0 if smoke else 2))
        self.max_foreign = float(os.environ.get("BENCH_MAX_FOREIGN", 15))
        self.quiet_wait = float(os.environ.get("BENCH_QUIET_WAIT", 0 if smoke else 30))
        # Total time all retries may spend waiting; past it a disturbed run is kept as it is.
        self.wait_budget = float(os.environ.get("BENCH_WAIT_BUDGET", 900 if args.mode == "full" else 300))
        self.budget_told = False
        self.records = []
        self.failures = []
        self.seq = 0
        self.perf = None
        self.perf_error = None
        self.started = time.time()
        # What is measured: the commit and work tree now, and a private copy of the binaries,
        # so that a rebuild of the shared build directory during the run changes nothing.
        self.commit = git("rev-parse", "HEAD")
        self.dirty = [x[3:] for x in git("status", "--porcelain").splitlines() if x.strip()]
        self.binaries = self.snapshot_binaries()

    def snapshot_binaries(self):
        import hashlib
        copy = os.path.join(self.work, "build")
        info = {}
        for rel in ("apps/nvfabd", "apps/nvfab/nvfab", "bench/nvfab-floor"):
            src = os.path.join(self.build, rel)
            if not os.path.exists(src):
                continue
            dst = os.path.join(copy, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
            with open(dst, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()[:16]
            info[rel] = {"sha256": digest, "built": datetime.datetime.fromtimestamp(
                os.path.getmtime(src)).strftime("%Y-%m-%d %H:%M:%S")}
        self.build = copy
        return info

    # ---- bookkeeping ----
    def raw_path(self, stem):
        self.seq += 1
        return os.path.join(self.raw, f"{self.seq:04d}-{stem}.json")

    def add(self, rec):
        rec.setdefault("time", round(time.time() - self.started, 1))
        self.records.append(rec)
        self.save()

    def fail(self, what, err):
        msg = f"{what}: {err}"
        log("FAILED " + msg)
        self.failures.append(msg)
        self.save()
        if self.args.mode == "smoke":
            raise BenchError(msg)

    def save(self):
        meta = {
            "mode": self.args.mode, "config": self.cfg, "sections": self.sections,
            "commit": self.commit, "dirty_files": len(self.dirty), "dirty": self.dirty[:50],
            "binaries": self.binaries,
            "date": datetime.datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S"),
            "machine": self.machine, "load_before": self.load_before, "foreign_before": self.foreign_before,
            "build": self.args.build, "perf_help": self.perf.help if self.perf else None,
            "perf_error": self.perf_error, "failures": self.failures,
            "duration_s": round(time.time() - self.started, 1),
            "placement": {"target_core": bl.TARGET_CORE, "host_core": bl.HOST_CORE},
            "max_foreign": self.max_foreign, "retries": self.retries,
        }
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump({"meta": meta, "records": self.records}, f, indent=1)

    # ---- measurement primitives ----
    def measure(self, cmd, raw_json, target=None, timeout=None):
        """Runs one client command; returns (rc, accounting dict)."""
        timeout = timeout or (self.cfg["secs"] * 4 + 60)
        stem = raw_json[:-5] if raw_json else os.path.join(self.raw, f"{self.seq:04d}")
        busy0 = bl.system_busy_ns()
        t_cpu0 = target.cpu_ns() if target else None
        samplers = []

        def started():  # threads only after the fork: preexec_fn and threads do not mix
            if target:
                samplers.append(bl.RssSampler(target.pid))
        rc, ru, wall = bl.run_measured(cmd, timeout, stem + ".stdout", stem + ".stderr", started=started)
        rss_max = samplers[0].stop() if samplers else None
        t_cpu1 = target.cpu_ns() if target else None
        busy1 = bl.system_busy_ns()
        host_ns = int((ru.ru_utime + ru.ru_stime) * 1e9)
        target_ns = (t_cpu1 - t_cpu0) if target and t_cpu0 is not None and t_cpu1 is not None else None
        ours = host_ns + (target_ns or 0)
        acct = {
            "wall_s": round(wall, 4),
            "host_cpu_s": round(host_ns / 1e9, 6), "host_utime_s": round(ru.ru_utime, 6),
            "host_stime_s": round(ru.ru_stime, 6), "host_maxrss_kb": ru.ru_maxrss,
            "host_vcsw": ru.ru_nvcsw, "host_ivcsw": ru.ru_nivcsw,
            "target_cpu_s": round(target_ns / 1e9, 6) if target_ns is not None else None,
            "target_rss_idle_kb": target.idle_rss_kb if target else None,
            "target_rss_max_kb": rss_max,
            "foreign_cpu_pct": round(max(0.0, (busy1 - busy0 - ours) / (wall * 1e9 * os.cpu_count()) * 100), 1),
        }
        return rc, acct

    def measure_quiet(self, cmd, raw, target=None):
        """measure(), repeated (up to BENCH_RETRIES more times, 2 s apart) while other processes
        used more than BENCH_MAX_FOREIGN % of the machine during it; keeps the quietest try.
        The machine is shared with builds and tests: a run disturbed by them says little."""
        best = None
        for k in range(1 + self.retries):
            raw_k = raw if k == 0 else raw[:-5] + f".try{k}.json"
            cmd_k = [raw_k if c == raw else c for c in cmd]
            rc, acct = self.measure(cmd_k, raw_k, target=target)
            acct["tries"] = k + 1
            if best is None or (rc == 0 and (best[1] != 0 or acct["foreign_cpu_pct"] < best[2]["foreign_cpu_pct"])):
                best = (raw_k, rc, acct)
            if rc != 0 or acct["foreign_cpu_pct"] <= self.max_foreign:
                break
            if self.wait_budget <= 0:
                if not self.budget_told:
                    log("the time budget for waiting on other processes is spent: no more retries "
                        "(BENCH_WAIT_BUDGET)")
                    self.budget_told = True
                break
            if k < self.retries:
                log(f"  {acct['foreign_cpu_pct']:.0f}% of the machine went to other processes: trying again")
                self.wait_quiet(target)
        raw_k, rc, acct = best
        acct["tries"] = k + 1
        acct["noisy"] = acct["foreign_cpu_pct"] > self.max_foreign
        if raw_k != raw:
            for ext in (".json", ".stdout", ".stderr"):
                if os.path.exists(raw_k[:-5] + ext):
                    os.replace(raw_k[:-5] + ext, raw[:-5] + ext)
        for j in range(1, k + 1):          # the tries not kept
            for ext in (".json", ".stdout", ".stderr"):
                try:
                    os.unlink(raw[:-5] + f".try{j}" + ext)
                except FileNotFoundError:
                    pass
        return rc, acct

    def archive_raw(self):
        """raw/ as raw.tar.xz (a full run leaves ~30 MB of JSON; xz makes it ~2 MB)."""
        if not os.path.isdir(self.raw):
            return
        tar = os.path.join(self.out, "raw.tar.xz")
        p = subprocess.run(["tar", "-C", self.out, "-cJf", tar, "raw"], capture_output=True, text=True)
        if p.returncode == 0:
            shutil.rmtree(self.raw)
            log(f"raw outputs archived in {tar}")
        else:
            log(f"could not archive raw/: {p.stderr.strip()}")

    def wait_quiet(self, target=None, max_wait=None):
        """Waits (up to BENCH_QUIET_WAIT s, default 30) until other processes use at most
        BENCH_MAX_FOREIGN % of the machine over one second. An idle busy-polling nvfabd is ours."""
        max_wait = self.quiet_wait if max_wait is None else max_wait
        start = time.monotonic()
        deadline = start + max_wait
        while True:
            b0, t0 = bl.system_busy_ns(), target.cpu_ns() if target else 0
            time.sleep(1)
            b1, t1 = bl.system_busy_ns(), target.cpu_ns() if target else 0
            foreign = (b1 - b0 - ((t1 or 0) - (t0 or 0))) / (1e9 * os.cpu_count()) * 100
            if foreign <= self.max_foreign or time.monotonic() > deadline:
                self.wait_budget -= time.monotonic() - start
                return foreign

    def tail(self, path, n=1500):
        try:
            with open(path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # ---- floor ----
    def floor_group(self, rep, busy):
        mode = "busy" if busy else "event"
        srv = bl.FloorServer(self.build, self.work, busy)
        try:
            exe = os.path.join(self.build, "bench", "nvfab-floor")
            runs = [(io, 1) for io in self.cfg["floor_ios"]]
            if "iops" in self.sections:
                runs += [(io, qd) for io in ("read4k-success", "write4k") for qd in self.cfg["qds"] if qd > 1]
                if self.cfg["bw"]:
                    runs += [("read128k-success", BW_QD), ("write128k-1rt", BW_QD)]
            for io, qd in runs:
                raw = self.raw_path(f"floor-{io}-q{qd}-{mode}-r{rep}")
                cmd = ["taskset", "-c", str(bl.HOST_CORE), exe, "pingpong", "-p", str(srv.port),
                       "-c", str(bl.HOST_CORE), "--io", io] + (["-q", str(qd)] if qd > 1 else []) + \
                    ["-t", str(self.cfg["secs"]), "--json", raw] + (["-b"] if busy else [])
                rc, acct = self.measure_quiet(cmd, raw, target=srv)
                text = bl.quote([c if c != exe else "build/bench/nvfab-floor" for c in cmd if c != raw]).replace(
                    f"-p {srv.port} ", "").replace("--json", "--json RESULT.json")
                if rc != 0:
                    self.fail(f"floor {io} qd{qd} {mode}", f"exit {rc}: {self.tail(raw[:-5] + '.stderr')}")
                    continue
                with open(raw) as f:
                    d = json.load(f)
                self.add({"kind": "floor", "io": io, "qd": qd, "mode": mode, "rep": rep, "cmd": text,
                          "target_cmd": srv.cmd_text, "raw": os.path.relpath(raw, self.out),
                          "result": {"avg": d["latency_us"]["avg"], "p50": d["latency_us"]["p50"],
                                     "p90": d["latency_us"]["p90"], "p99_99": d["latency_us"].get("p99_99"),
                                     "p99": d["latency_us"]["p99"], "p99_9": d["latency_us"]["p99_9"],
                                     "min": d["latency_us"]["min"], "ops": d["ops"], "ops_per_s": d["ops_per_s"],
                                     "client_cpu_us": d["client"]["cpu_us_per_op"],
                                     "server_cpu_us": d["server"]["cpu_us_per_op"]},
                          "histogram": d["histogram"]["buckets"] if qd == 1 else None, "acct": acct})
                log(f"floor {io} qd{qd} {mode}: {d['ops_per_s']:,.0f}/s, avg {d['latency_us']['avg']:.2f} us "
                    f"p50 {d['latency_us']['p50']:.2f}")
            for direction in self.cfg["streams"]:
                raw = self.raw_path(f"floor-stream-{direction}-{mode}-r{rep}")
                cmd = ["taskset", "-c", str(bl.HOST_CORE), exe, "stream", "-p", str(srv.port),
                       "-c", str(bl.HOST_CORE), "-s", "131072", "--dir", direction,
                       "-t", str(self.cfg["secs"]), "--json", raw] + (["-b"] if busy else [])
                rc, acct = self.measure_quiet(cmd, raw, target=srv)
                text = bl.quote([c if c != exe else "build/bench/nvfab-floor" for c in cmd if c != raw]).replace(
                    f"-p {srv.port} ", "").replace("--json", "--json RESULT.json")
                if rc != 0:
                    self.fail(f"floor stream {direction} {mode}", f"exit {rc}: {self.tail(raw[:-5] + '.stderr')}")
                    continue
                with open(raw) as f:
                    d = json.load(f)
                self.add({"kind": "floor_stream", "dir": direction, "mode": mode, "rep": rep, "cmd": text,
                          "target_cmd": srv.cmd_text, "raw": os.path.relpath(raw, self.out),
                          "result": {"mib_s": d["mib_per_s"], "msgs": d["msgs"],
                                     "client_cpu_us": d["client"]["cpu_us_per_op"],
                                     "server_cpu_us": d["server"]["cpu_us_per_op"]}, "acct": acct})
                log(f"floor stream {direction} {mode}: {d['mib_per_s']:.0f} MiB/s")
        finally:
            srv.stop()

    # ---- nvfab perf runs ----
    def perf_run(self, *, section, bdev, workload, io_size, qd, busy, rep, target=None, reactors=None,
                 conns=1, local=False):
        mode = "busy" if busy else "event"
        kind = "local" if local else "remote"
        stem = f"{kind}-{section}-{bdev}-{workload}-{io_size}-q{qd}-{mode}" + \
               (f"-r{reactors}" if reactors else "") + (f"-c{conns}" if conns > 1 else "") + f"-rep{rep}"
        raw = self.raw_path(stem)
        try:
            if local:
                cmd = self.perf.cmd(local=self.local_spec(bdev), qd=qd, io_size=io_size, workload=workload,
                                    seconds=self.cfg["secs"], busy=busy, json_path=raw)
            else:
                cmd = self.perf.cmd(trid=bl.trid(target.port, bdev), qd=qd, io_size=io_size, workload=workload,
                                    seconds=self.cfg["secs"], busy=busy, json_path=raw, conns=conns)
        except BenchError as e:
            self.fail(stem, e)
            return None
        rc, acct = self.measure_quiet(cmd, raw, target=target)
        if rc != 0 or not os.path.exists(raw):
            self.fail(stem, f"exit {rc}: {bl.quote(cmd)}\n{self.tail(raw[:-5] + '.stderr')}")
            return None
        try:
            res = bl.parse_perf_json(raw)
        except (ValueError, KeyError, TypeError, IndexError, BenchError) as e:
            self.fail(stem, f"cannot read the perf JSON: {e!r}")
            return None
        if target is not None and not target.alive():
            self.fail(stem, "nvfabd died: " + target.read_log()[-1500:])
            return None
        hist = res.pop("histogram")
        raw_json = res.pop("raw")
        ios = res.get("ios") or 0
        if ios:
            acct["host_cpu_us_per_io"] = round(acct["host_cpu_s"] / ios * 1e6, 3)
            if acct.get("target_cpu_s") is not None:
                acct["target_cpu_us_per_io"] = round(acct["target_cpu_s"] / ios * 1e6, 3)
        if conns > 1 and acct.get("target_rss_max_kb") and acct.get("target_rss_idle_kb"):
            acct["target_rss_per_conn_kb"] = round((acct["target_rss_max_kb"] - acct["target_rss_idle_kb"]) / conns, 1)
        rec = {"kind": kind, "section": section, "bdev": bdev, "workload": workload, "io_size": io_size,
               "qd": qd, "mode": mode, "reactors": reactors, "conns": conns, "rep": rep,
               "cmd": bl.PerfCLI.text(cmd), "target_cmd": target.cmd_text if target else None,
               "raw": os.path.relpath(raw, self.out), "result": res, "acct": acct}
        if hist and section == "latency":
            rec["histogram"] = hist
        self.add(rec)
        lat = res.get("avg")
        log(f"{kind} {section} {bdev} {workload} {io_size} qd{qd} {mode}"
            f"{' r' + str(reactors) if reactors else ''}{' c' + str(conns) if conns > 1 else ''}: "
            f"{(res.get('iops') or 0):,.0f} IOPS, avg {lat if lat is None else round(lat, 2)} us")
        return rec

    @staticmethod
    def local_spec(bdev):
        # `nvfab perf --local KIND:SIZE_MB:BLOCK`: the same bdevs as the target's, in-process.
        blocks = bl.RAM_BLOCKS if bdev == "ram" else bl.NULL_BLOCKS
        return f"{bdev}:{blocks * 4096 // 1048576}:4096"

    def remote_group(self, rep, busy, reactors):
        mode = "busy" if busy else "event"
        want_lat = "latency" in self.sections and reactors == 1
        want_iops = "iops" in self.sections
        if not (want_lat or want_iops):
            return
        t = bl.Nvfabd(self.build, self.work, reactors=reactors, busy=busy, tag=f"nvfabd-{mode}-r{reactors}")
        try:
            if (want_lat and "ram" in self.cfg["lat_bdevs"]) or (want_iops and self.args.mode != "smoke"):
                bl.precondition(self.build, bl.trid(t.port, "ram"))
            common = dict(busy=busy, rep=rep, target=t, reactors=reactors)
            if want_lat:
                for bdev in self.cfg["lat_bdevs"]:
                    for wl, size in self.cfg["lat_ios"]:
                        self.perf_run(section="latency", bdev=bdev, workload=wl, io_size=size, qd=1, **common)
            if want_iops:
                for wl in ("randread", "randwrite"):
                    for qd in self.cfg["qds"]:
                        if qd == 1 and want_lat and ("null" in self.cfg["lat_bdevs"]) and \
                                (wl, 4096) in self.cfg["lat_ios"]:
                            continue  # the latency run above is this point
                        self.perf_run(section="iops", bdev="null", workload=wl, io_size=4096, qd=qd, **common)
                if self.args.mode != "smoke":
                    for wl in ("randread", "randwrite"):
                        self.perf_run(section="iops", bdev="ram", workload=wl, io_size=4096, qd=32, **common)
                if self.cfg["bw"]:
                    for wl in ("read", "write"):
                        self.perf_run(section="bw", bdev="null", workload=wl, io_size=131072, qd=BW_QD, **common)
        finally:
            rc = t.stop()
            if rc not in (0, None):
                self.fail(f"nvfabd {mode} r{reactors}", f"exit {rc}: {t.read_log()[-1500:]}")

    def local_group(self, rep, busy):
        if "latency" in self.sections:
            for bdev in self.cfg["lat_bdevs"]:
                for wl, size in self.cfg["lat_ios"]:
                    self.perf_run(section="latency", bdev=bdev, workload=wl, io_size=size, qd=1, busy=busy,
                                  rep=rep, local=True)
        if "iops" in self.sections and self.args.mode != "smoke":
            for wl in ("randread", "randwrite"):
                self.perf_run(section="iops", bdev="null", workload=wl, io_size=4096, qd=32, busy=busy,
                              rep=rep, local=True)

    def scale_group(self, rep, busy):
        mode = "busy" if busy else "event"
        for conns in self.cfg["conns"]:
            t = bl.Nvfabd(self.build, self.work, reactors=1, busy=busy, tag=f"nvfabd-scale-{mode}")
            try:
                self.perf_run(section="scale", bdev="null", workload="randread", io_size=4096, qd=1, busy=busy,
                              rep=rep, target=t, reactors=1, conns=conns)
            finally:
                t.stop()

    # ---- profiling: callgrind (instructions per I/O) and perf sampling ----
    @staticmethod
    def callgrind_ir(path):
        """Total Ir and per-function Ir (self and inclusive) of a callgrind output file, from
        callgrind_annotate's function table ("file.c:function" names, paths dropped)."""
        funcs = {}
        total = None
        for inclusive in (False, True):
            p = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                                "--auto=no", "--threshold=100", path], capture_output=True, text=True, timeout=300)
            for line in p.stdout.splitlines():
                s = line.strip()
                if not s or not s[0].isdigit():
                    continue
                parts = s.split(None, 1)
                try:
                    ir = int(parts[0].replace(",", ""))
                except ValueError:
                    continue
                if len(parts) < 2:
                    continue
                name = parts[1]
                if name.startswith("("):                    # "(12.34%)" column
                    name = name.split(")", 1)[1].strip()
                if name.startswith("=>") or name.startswith("*"):
                    continue
                if "PROGRAM TOTALS" in name:
                    total = ir
                    continue
                name = name.split(" [", 1)[0]
                file, _, fn = name.rpartition(":")
                name = f"{os.path.basename(file)}:{fn}" if file else fn
                cur = funcs.setdefault(name, [0, 0])
                cur[1 if inclusive else 0] += ir
        return total, funcs

    def callgrind_target(self, wl, qd, n_small, n_big):
        """nvfabd under callgrind, twice, driven by a native host: Ir/IO = delta Ir / delta IOs."""
        outs = []
        for n in (n_small, n_big):
            cg = os.path.join(self.out, f"callgrind.nvfabd.{wl}.q{qd}.{n}.out")
            wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", "--dump-line=no"]
            t = bl.Nvfabd(self.build, self.work, reactors=1, busy=False, wrapper=wrapper, tag="nvfabd-callgrind",
                          start_timeout=120)
            try:
                rec = self.profile_perf(t, wl, qd, n, "target")
            finally:
                t.stop(timeout=300)
            if rec is None or not os.path.exists(cg):
                return None
            outs.append((cg, rec))
        return self.callgrind_delta("target", wl, qd, outs, t.cmd_text)

    def callgrind_host(self, wl, qd, n_small, n_big):
        t = bl.Nvfabd(self.build, self.work, reactors=1, busy=False, tag="nvfabd-for-host-callgrind")
        outs = []
        try:
            for n in (n_small, n_big):
                cg = os.path.join(self.out, f"callgrind.nvfab-perf.{wl}.q{qd}.{n}.out")
                wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", "--dump-line=no"]
                rec = self.profile_perf(t, wl, qd, n, "host", wrapper=wrapper)
                if rec is None or not os.path.exists(cg):
                    return None
                outs.append((cg, rec))
        finally:
            t.stop()
        return self.callgrind_delta("host", wl, qd, outs, t.cmd_text)

    def profile_perf(self, t, wl, qd, n, side, wrapper=()):
        """One fixed-size workload for profiling: a fixed I/O count if perf has one, else a
        time-bounded run whose reported I/O count is used."""
        raw = self.raw_path(f"callgrind-{side}-{wl}-q{qd}-{n}")
        fixed = False  # nvfab perf is time-bounded: use the I/O count it reports
        cmd = self.perf.cmd(trid=bl.trid(t.port, "null"), qd=qd, io_size=4096, workload=wl,
                            seconds=n, busy=False, json_path=raw)
        if wrapper:
            cmd = cmd[:3] + list(wrapper) + cmd[3:]
        rc, acct = self.measure(cmd, raw, target=t, timeout=1200)
        if rc != 0 or not os.path.exists(raw):
            self.fail(f"callgrind {side} {wl}", f"exit {rc}: {self.tail(raw[:-5] + '.stderr')}")
            return None
        res = bl.parse_perf_json(raw)
        return {"cmd": bl.PerfCLI.text(cmd), "ios": res["ios"], "fixed": fixed}

    def callgrind_delta(self, side, wl, qd, outs, target_cmd):
        (cg_a, rec_a), (cg_b, rec_b) = outs
        tot_a, f_a = self.callgrind_ir(cg_a)
        tot_b, f_b = self.callgrind_ir(cg_b)
        dio = (rec_b["ios"] or 0) - (rec_a["ios"] or 0)
        if not tot_a or not tot_b or dio <= 0:
            self.fail(f"callgrind {side} {wl}", f"no usable counts ({tot_a}, {tot_b}, {dio} I/Os)")
            return None
        per_fn = []
        for name in set(f_a) | set(f_b):
            ea, ia = f_a.get(name, [0, 0])
            eb, ib = f_b.get(name, [0, 0])
            per_fn.append({"fn": name, "self": round((eb - ea) / dio, 1), "incl": round((ib - ia) / dio, 1)})
        per_fn.sort(key=lambda x: -x["self"])
        # Valgrind counts every iteration of a rep-prefixed string instruction (rep stosb/movsb,
        # which glibc's memset/memcpy use for large sizes) as one instruction: a 4 KiB memset
        # shows as ~4100 Ir. Give the total without them too.
        strops = sum(x["self"] for x in per_fn if STRING_FN.search(x["fn"]))
        rec = {"kind": "callgrind", "side": side, "workload": wl, "qd": qd, "io_size": 4096, "bdev": "null",
               "ir_per_io": round((tot_b - tot_a) / dio, 1), "ios": [rec_a["ios"], rec_b["ios"]],
               "ir_per_io_string_ops": round(strops, 1),
               "ir_per_io_without_string_ops": round((tot_b - tot_a) / dio - strops, 1),
               "ir_total": [tot_a, tot_b], "fixed_count": rec_a["fixed"],
               "cmd": rec_b["cmd"], "target_cmd": target_cmd,
               "files": [os.path.relpath(cg_a, self.out), os.path.relpath(cg_b, self.out)],
               "functions": per_fn[:60]}
        self.add(rec)
        log(f"callgrind {side} {wl} qd{qd}: {rec['ir_per_io']:.0f} instructions per I/O (user space), "
            f"{rec['ir_per_io_without_string_ops']:.0f} without mem* string ops")
        return rec

    def perf_sample(self, busy):
        """perf record (cpu-clock, kernel included) of nvfabd and of the host during a QD1 run."""
        if not shutil.which("perf"):
            return
        mode = "busy" if busy else "event"
        t = bl.Nvfabd(self.build, self.work, reactors=1, busy=busy, tag=f"nvfabd-perf-{mode}")
        try:
            secs = max(2, self.cfg["secs"])
            data_t = os.path.join(self.work, f"perf-nvfabd-{mode}.data")
            data_h = os.path.join(self.work, f"perf-host-{mode}.data")
            rec_t = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "5000", "-g", "-o", data_t,
                                      "-p", str(t.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            raw = self.raw_path(f"perfrecord-{mode}")
            cmd = self.perf.cmd(trid=bl.trid(t.port, "null"), qd=1, io_size=4096, workload="randread",
                                seconds=secs, busy=busy, json_path=raw)
            cmd = cmd[:3] + ["perf", "record", "-e", "cpu-clock", "-F", "5000", "-g", "-o", data_h, "--"] + cmd[3:]
            rc, acct = self.measure(cmd, raw, target=t)
            rec_t.send_signal(2)
            rec_t.wait(60)
            if rc != 0:
                self.fail(f"perf record {mode}", f"exit {rc}: {self.tail(raw[:-5] + '.stderr')}")
                return
            res = bl.parse_perf_json(raw)
            for side, data in (("target", data_t), ("host", data_h)):
                txt = os.path.join(self.out, f"perf-report-{side}-{mode}.txt")
                with open(txt, "w") as f:
                    subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                                    "--stdio", "-g", "none", "--percent-limit", "0.5"],
                                   stdout=f, stderr=subprocess.DEVNULL, timeout=300)
                p = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "--stdio",
                                    "-g", "none"], capture_output=True, text=True, timeout=300)
                dso = {}
                for line in p.stdout.splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0].endswith("%") and not line.startswith("#"):
                        dso[parts[1]] = float(parts[0][:-1])
                self.add({"kind": "perf_record", "side": side, "mode": mode, "ios": res["ios"], "dso": dso,
                          "cmd": bl.PerfCLI.text(cmd), "target_cmd": t.cmd_text,
                          "report": os.path.relpath(txt, self.out), "acct": acct})
            log(f"perf record {mode}: done")
        finally:
            t.stop()

    SYSCALLS = ["sendmsg", "sendto", "recvfrom", "recvmsg", "readv", "writev", "read", "write",
                "epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll", "futex", "io_uring_enter"]

    def syscall_counts(self, busy, wl, qd, size=4096):
        """System calls per I/O on each side (perf stat on the syscalls:sys_enter_* tracepoints)."""
        if not shutil.which("perf"):
            return
        events = ",".join(f"syscalls:sys_enter_{n}" for n in self.SYSCALLS
                          if os.path.isdir(f"/sys/kernel/tracing/events/syscalls/sys_enter_{n}"))
        if not events:
            return
        mode = "busy" if busy else "event"
        # 4 KiB runs keep their old names; others say their size (a 128 KiB write: R2T, H2CData)
        sz = "" if size == 4096 else f"-{size // 1024}k"
        label = f"{wl} {size // 1024}k qd{qd}" if sz else f"{wl} qd{qd}"
        t = bl.Nvfabd(self.build, self.work, reactors=1, busy=busy, tag=f"nvfabd-sys-{mode}")
        try:
            out_t = os.path.join(self.work, f"syscalls-target-{mode}-{wl}{sz}-q{qd}.csv")
            out_h = os.path.join(self.work, f"syscalls-host-{mode}-{wl}{sz}-q{qd}.csv")
            st = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out_t, "-e", events, "-p", str(t.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            raw = self.raw_path(f"syscalls-{mode}-{wl}{sz}-q{qd}")
            cmd = self.perf.cmd(trid=bl.trid(t.port, "null"), qd=qd, io_size=size, workload=wl,
                                seconds=self.cfg["secs"], busy=busy, json_path=raw)
            cmd = cmd[:3] + ["perf", "stat", "-x", ",", "-o", out_h, "-e", events, "--"] + cmd[3:]
            rc, acct = self.measure(cmd, raw, target=t)
            st.send_signal(signal.SIGINT)
            st.wait(30)
            if rc != 0:
                self.fail(f"syscalls {mode} {label}", f"exit {rc}: {self.tail(raw[:-5] + '.stderr')}")
                return
            ios = bl.parse_perf_json(raw)["ios"]
            for side, path in (("target", out_t), ("host", out_h)):
                counts = {}
                with open(path) as fh:
                    for line in fh:
                        parts = line.strip().split(",")
                        if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_"):
                            try:
                                counts[parts[2][len("syscalls:sys_enter_"):]] = int(float(parts[0]))
                            except ValueError:
                                pass
                per = {k: round(v / ios, 3) for k, v in sorted(counts.items(), key=lambda x: -x[1]) if v}
                self.add({"kind": "syscalls", "side": side, "mode": mode, "workload": wl, "qd": qd,
                          "io_size": size, "ios": ios,
                          "per_io": per, "total_per_io": round(sum(counts.values()) / ios, 3),
                          "cmd": bl.PerfCLI.text(cmd), "target_cmd": t.cmd_text + (
                              f" ; perf stat -e {{syscalls}} -p NVFABD_PID" if side == "target" else "")})
                log(f"syscalls {side} {mode} {label}: {sum(counts.values()) / ios:.2f} per I/O " +
                    ", ".join(f"{k} {v}" for k, v in list(per.items())[:4]))
        finally:
            t.stop()

    # ---- the whole run ----
    def run(self):
        self.machine = machine_info()
        self.load_before = bl.loadavg()
        self.foreign_before = bl.top_foreign()
        self.save()
        log(f"mode {self.args.mode}: {self.cfg['reps']} repetition(s) of {self.cfg['secs']} s runs; "
            f"results in {self.out}")
        if self.foreign_before:
            log("other busy processes now: " + ", ".join(f"{n} {p}%" for n, p in self.foreign_before))
        start_wait = float(os.environ.get("BENCH_START_WAIT", 180 if self.args.mode == "full" else 0))
        if start_wait:
            log(f"waiting up to {start_wait:.0f} s for other processes to quiet down")
            f = self.wait_quiet(max_wait=start_wait)
            log(f"other processes use {f:.0f}% of the machine; starting")
            self.wait_budget = float(os.environ.get("BENCH_WAIT_BUDGET", 900))
        try:
            self.perf = bl.PerfCLI(self.build, self.orig_build)
        except BenchError as e:
            self.perf_error = str(e)
            self.fail("nvfab perf", e)
        for rep in range(self.cfg["reps"]):
            log(f"--- repetition {rep + 1}/{self.cfg['reps']}")
            for busy in self.cfg["busy"]:
                if "floor" in self.sections or "latency" in self.sections:
                    self.guard(self.floor_group, rep, busy)
                if self.perf:
                    for reactors in self.cfg["reactors"]:
                        self.guard(self.remote_group, rep, busy, reactors)
                        if reactors == 1:
                            self.guard(self.local_group, rep, busy)
                    if "scale" in self.sections:
                        self.guard(self.scale_group, rep, busy)
        if self.perf and "cpu" in self.sections:
            self.guard(self.callgrind_all)
        if self.perf and "profile" in self.sections:
            # 128 KiB writes: R2T and H2CData; one read for the H2CData's header and data when
            # the target foretold it (lib/target/tcp_qpair.c), else two
            work = [("randread", 1, 4096), ("randwrite", 1, 131072)] if self.args.mode == "smoke" else \
                [("randread", 1, 4096), ("randwrite", 1, 4096), ("randread", 32, 4096),
                 ("randwrite", 32, 4096), ("randwrite", 1, 131072)]
            for busy in self.cfg["busy"]:
                for wl, qd, size in work:
                    self.guard(self.syscall_counts, busy, wl, qd, size)
            if self.cfg["profile"]:
                for busy in self.cfg["busy"]:
                    self.guard(self.perf_sample, busy)
        self.save()

    def callgrind_all(self):
        if not shutil.which("valgrind"):
            if self.args.mode == "smoke":
                log("valgrind is not installed: no instruction counts in this smoke run")
            else:
                self.fail("callgrind", "valgrind is not installed (apt-get install valgrind)")
            return
        small, big = self.cfg["callgrind_secs"]
        work = [("randread", 1)] if self.args.mode == "smoke" else [("randread", 1), ("randwrite", 1), ("randread", 32)]
        for wl, qd in work:
            self.callgrind_target(wl, qd, small, big)
            self.callgrind_host(wl, qd, small, big)

    def guard(self, fn, *args):
        try:
            fn(*args)
        except BenchError as e:
            if self.args.mode == "smoke":
                raise
            self.fail(fn.__name__, e)



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--mode", choices=sorted(MODES), default="quick")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sections", default=",".join(ALL_SECTIONS))
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    args.sections = [s for s in args.sections.split(",") if s]
    bad = [s for s in args.sections if s not in ALL_SECTIONS]
    if bad:
        ap.error(f"unknown sections {bad}; known: {ALL_SECTIONS}")
    r = Runner(args)
    rc = 0

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    try:
        r.run()
    except BenchError as e:
        log(f"stopped: {e}")
        rc = 1
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    if not args.no_report:
        import report
        try:
            path = report.generate(r.out)
            log(f"report: {path}")
        except Exception as e:  # the report must not hide the measurements
            log(f"report generation failed: {e!r}")
            rc = rc or 1
            if args.mode == "smoke":
                raise
    if args.mode != "smoke" and not os.environ.get("BENCH_KEEP_RAW"):
        r.archive_raw()
    if r.failures:
        log(f"{len(r.failures)} failure(s):")
        for f in r.failures:
            log("  " + f.splitlines()[0])
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
