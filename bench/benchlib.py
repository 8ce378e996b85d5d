"""Shared plumbing of the nvfab benchmark: processes, /proc accounting, nvfabd configs, the
floor server and the `nvfab perf` adapter. Python 3 standard library only."""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
NQN_RAM = "nqn.2026-11.io.nvfab:bench-ram"
NQN_NULL = "nqn.2026-11.io.nvfab:bench-null"
NQNS = {"ram": NQN_RAM, "null": NQN_NULL}
RAM_BLOCKS = 65536          # 256 MiB of 4 KiB blocks
NULL_BLOCKS = 1 << 22       # 16 GiB (reads return zeroes, writes are dropped)
TARGET_CORE = 0
HOST_CORE = 1


class BenchError(Exception):
    pass


def _die_with_parent():
    """Child side of fork: get SIGTERM if the runner dies, so that no daemon outlives it."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def quote(cmd):
    return " ".join(shlex.quote(str(c)) for c in cmd)


def readable(text):
    """A command line as a reader would type it: no ephemeral port, no temp directories."""
    text = re.sub(r"trsvcid:\d+", "trsvcid:PORT", text)
    return re.sub(r"(?<=[\s=])/\S*/([^/\s']+)", r"\1", text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- /proc accounting -------------------------------------------------------------------------

def wait_socket(proc, sock, timeout, what, log_path):
    """Until the daemon proc created its RPC socket; exits the script (killing proc, pointing at
    its log) when it died or took longer than timeout seconds."""
    deadline = time.time() + timeout
    while not os.path.exists(sock):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit(f"{what} did not start; see {log_path}")
        time.sleep(0.05)


def proc_cpu_ns(pid):
    """CPU time of a whole process (all threads) in ns: schedstat of each task (ns precision),
    falling back to utime+stime from /proc/PID/stat (clock ticks)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def proc_stat_cpu_s(pid):
    """utime, stime in seconds from /proc/PID/stat (the whole thread group)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None, None


def proc_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def system_busy_ns():
    """Busy CPU time of the whole machine (all cores, everything but idle and iowait), in ns."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) * 1_000_000_000 // CLK_TCK


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def top_foreign(exclude_pids=(), n=5):
    """The busiest other processes right now (name, %CPU over 0.5 s): tells what else ran."""
    def snap():
        out = {}
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) in exclude_pids or int(p) == os.getpid():
                continue
            try:
                with open(f"/proc/{p}/stat") as f:
                    s = f.read()
                name = s[s.index("(") + 1:s.rindex(")")]
                fields = s.rsplit(")", 1)[1].split()
                out[int(p)] = (name, int(fields[11]) + int(fields[12]))
            except (OSError, ValueError):
                continue
        return out
    a = snap()
    time.sleep(0.5)
    b = snap()
    busy = []
    for pid, (name, t) in b.items():
        if pid in a:
            pct = (t - a[pid][1]) / CLK_TCK / 0.5 * 100
            if pct >= 1:
                busy.append((name, round(pct)))
    busy.sort(key=lambda x: -x[1])
    return busy[:n]


class RssSampler:
    """Samples a process's VmRSS every 50 ms in a thread; keeps the maximum."""

    def __init__(self, pid):
        self.pid, self.max_kb, self._stop = pid, None, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            v = proc_rss_kb(self.pid)
            if v is not None and (self.max_kb is None or v > self.max_kb):
                self.max_kb = v
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.max_kb


def run_measured(cmd, timeout, stdout_path, stderr_path, env=None, started=None):
    """Runs cmd to completion with its output in files. Returns (exit code, rusage, wall s).
    The rusage is the child's own (os.wait4), so CPU time is exact to the microsecond."""
    with open(stdout_path, "w") as out, open(stderr_path, "w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                             preexec_fn=_die_with_parent)
        if started:
            started()
        deadline = t0 + timeout
        killed = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.monotonic() > deadline and not killed:
                os.kill(p.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.005)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    if killed:
        return -9, ru, wall
    return p.returncode, ru, wall


def precondition(build, trid_text, seconds=1):
    """Writes a RAM namespace through once (sequential 128 KiB writes for `seconds`, several
    passes over 256 MiB here) before it is measured. nvfabd's RAM disk commits memory on first
    write, so a fresh one pays a page fault on each first touch of a page: measured on a fresh
    disk, QD1 4 KiB latencies came out 10-15 us high (gateway reads: 75 us instead of 54)."""
    exe = os.path.join(build, "apps", "nvfab", "nvfab")
    out = subprocess.run(["taskset", "-c", str(HOST_CORE), exe, "perf", "-r", trid_text, "-q", "8", "-o", "131072",
                          "-w", "write", "-t", str(seconds)], capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"preconditioning {trid_text} failed: {out.stdout[-1000:]}{out.stderr[-1000:]}")


# ---- nvfabd -----------------------------------------------------------------------------------

def target_config(port, transport=None):
    bdevs = [
        {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": RAM_BLOCKS, "block_size": 4096}},
        {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": NULL_BLOCKS, "block_size": 4096}},
    ]
    # Transport defaults (as SPDK's: queue depth 128, 8 KiB in-capsule data, 128 KiB MDTS).
    nvmf = [{"method": "nvmf_create_transport", "params": dict({"trtype": "TCP"}, **(transport or {}))}]
    addr = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}
    for kind, bdev in (("ram", "Malloc0"), ("null", "Null0")):
        nqn = NQNS[kind]
        nvmf += [
            {"method": "nvmf_create_subsystem",
             "params": {"nqn": nqn, "allow_any_host": True, "serial_number": f"NVFAB-BENCH-{kind.upper()}"}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": nqn, "namespace": {"bdev_name": bdev}}},
            {"method": "nvmf_subsystem_add_listener", "params": {"nqn": nqn, "listen_address": addr}},
        ]
    return {"subsystems": [{"subsystem": "bdev", "config": bdevs}, {"subsystem": "nvmf", "config": nvmf}]}


def trid(port, bdev):
    return f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{NQNS[bdev]}"


class Nvfabd:
    """nvfabd pinned to the target cores: one reactor on core 0 (-m 0x1), or two (-m 0x3)."""

    def __init__(self, build, workdir, reactors=1, busy=False, wrapper=(), tag="nvfabd", start_timeout=20):
        self.port = free_port()
        self.workdir = workdir
        self.reactors, self.busy = reactors, busy
        self.sock = os.path.join(workdir, f"{tag}.sock")
        self.config_path = os.path.join(workdir, f"{tag}-config.json")
        self.log_path = os.path.join(workdir, f"{tag}.log")
        with open(self.config_path, "w") as f:
            json.dump(target_config(self.port), f, indent=1)
        cores = ",".join(str(TARGET_CORE + i) for i in range(reactors))
        mask = hex((1 << reactors) - 1 << TARGET_CORE)
        self.exe = os.path.join(build, "apps", "nvfabd")
        self.cmd = ["taskset", "-c", cores] + list(wrapper) + [
            self.exe, "-c", self.config_path, "-r", self.sock, "-m", mask, "-L", "warn"] + (["-b"] if busy else [])
        # The command as a reader would type it (config file named by its role).
        self.cmd_text = readable(quote(["taskset", "-c", cores] + list(wrapper) + [
            "build/apps/nvfabd", "-c", "CONFIG.json", "-r", "rpc.sock", "-m", mask] + (["-b"] if busy else [])))
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                raise BenchError(f"nvfabd exited with {self.proc.returncode}: {self.read_log()[-2000:]}")
            if os.path.exists(self.sock) and self._listening():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError("nvfabd did not start: " + self.read_log()[-2000:])
            time.sleep(0.05)
        self.idle_rss_kb = proc_rss_kb(self.pid)

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def cpu_ns(self):
        return proc_cpu_ns(self.pid)

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode


class FloorServer:
    def __init__(self, build, workdir, busy):
        self.port = free_port()
        self.exe = os.path.join(build, "bench", "nvfab-floor")
        self.cmd = ["taskset", "-c", str(TARGET_CORE), self.exe, "server", "-p", str(self.port),
                    "-c", str(TARGET_CORE)] + (["-b"] if busy else [])
        self.cmd_text = quote(["taskset", "-c", str(TARGET_CORE), "build/bench/nvfab-floor", "server",
                               "-c", str(TARGET_CORE)] + (["-b"] if busy else []))
        self.log_path = os.path.join(workdir, "floor-server.log")
        self.idle_rss_kb = None
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"nvfab-floor server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BenchError("nvfab-floor server did not start")
                time.sleep(0.02)

    def cpu_ns(self):
        return proc_cpu_ns(self.pid)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---- nvfab perf -------------------------------------------------------------------------------

class PerfCLI:
    """`nvfab perf` (apps/nvfab). Raises BenchError when the command is missing or lacks what
    the benchmark needs, so that a smoke run catches rot."""

    NEEDED = ("--json", "--local", "--epoll", "--busy-poll", "-P", "-q", "-o", "-w", "-t")

    def __init__(self, build, shown_build=None):
        self.exe = os.path.join(build, "apps", "nvfab", "nvfab")
        if not os.access(self.exe, os.X_OK):
            raise BenchError(f"{os.path.join(shown_build or build, 'apps', 'nvfab', 'nvfab')} does not exist: "
                             "the host CLI (apps/nvfab) is not built, so nvfab perf cannot run")
        try:
            p = subprocess.run([self.exe, "perf", "--help"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise BenchError(f"nvfab perf --help failed: {e}")
        self.help = p.stdout + p.stderr
        missing = [o for o in self.NEEDED if not self.has(o)]
        if p.returncode != 0 or missing:
            raise BenchError(f"`nvfab perf` is missing or incomplete (--help exited {p.returncode}, "
                             f"lacks {' '.join(missing) or '-'}):\n{self.help[:1500]}")

    def has(self, opt):
        return re.search(r"(^|[\s,/])" + re.escape(opt) + r"(?![\w-])", self.help, re.M) is not None

    def option(self, *names):
        for n in names:
            if self.has(n):
                return n
        return None

    def cmd(self, *, trid=None, local=None, qd, io_size, workload, seconds, busy=False,
            json_path=None, conns=1, core=HOST_CORE):
        """conns queue pairs with qd I/Os each: up to 64 on one controller (-P), more as several
        controllers (-r repeated), all in one worker thread on the host core."""
        c = ["taskset", "-c", str(core), self.exe, "perf"]
        if local is not None:
            c += ["--local", local]
        elif conns <= 64:
            c += ["-r", trid]
        else:
            if conns % 64:
                raise BenchError(f"{conns} connections: use a multiple of 64 above 64")
            for _ in range(conns // 64):
                c += ["-r", trid]
        per_ctrlr = min(conns, 64)
        c += ["-q", str(qd * per_ctrlr), "-o", str(io_size), "-w", workload, "-t", str(int(seconds))]
        if per_ctrlr > 1:
            c += ["-P", str(per_ctrlr)]
        c.append("--busy-poll" if busy else "--epoll")
        if json_path:
            c += ["--json", json_path]
        return c

    @staticmethod
    def text(cmd, json_name="RESULT.json"):
        """The command as a reader would type it."""
        out = []
        skip = False
        for a in cmd:
            if skip:
                skip = False
                out.append(json_name)
                continue
            if a.endswith("/apps/nvfab/nvfab"):
                a = "build/apps/nvfab/nvfab"
            elif a.endswith("/apps/nvfabd"):
                a = "build/apps/nvfabd"
            if a == "--json":
                skip = True
            out.append(a)
        return readable(quote(out))


def parse_perf_json(path):
    """Normalizes `nvfab perf --json` output: ios, iops, mib_s, latency (us) avg/p50/p99/p99.9,
    and the latency histogram [[us, count]...] when the CLI gives one."""
    with open(path) as f:
        d = json.load(f)
    tot = d["total"]
    r = {"ios": tot.get("ios"), "iops": tot.get("iops"), "mib_s": tot.get("mibps"),
         "elapsed_s": d.get("elapsed_s"), "errors": tot.get("errors", 0)}
    for key, name in (("avg", "avg_us"), ("min", "min_us"), ("max", "max_us"), ("p50", "p50_us"),
                      ("p90", "p90_us"), ("p99", "p99_us"), ("p99_9", "p99_9_us"), ("p99_99", "p99_99_us")):
        r[key] = tot.get(name)
    hist = tot.get("histogram", d.get("histogram"))
    if isinstance(hist, dict):
        hist = hist.get("buckets")
    if isinstance(hist, list) and hist:
        # [[low_ns, high_ns, count], ...] (or [[us, count], ...])
        if len(hist[0]) == 3:
            hist = [[(lo + hi) / 2 / 1000.0, n] for lo, hi, n in hist]
        r["histogram"] = hist
    else:
        r["histogram"] = None
    if r["errors"]:
        raise BenchError(f"{r['errors']} I/O errors")
    r["raw"] = d
    return r
