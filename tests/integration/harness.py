"""Starts and stops nvfabd for integration tests: a fresh daemon per test on a free loopback
port, its own RPC socket and log, and a kill by PID however the test ends."""
import datetime
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

BUILD = os.environ.get("NVFAB_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
NVFABD = os.path.join(BUILD, "apps", "nvfabd")
NVFAB = os.path.join(BUILD, "apps", "nvfab", "nvfab")
# Runs the binaries under an emulator when they were cross-built (aarch64 under qemu-aarch64).
WRAPPER = os.environ.get("NVFAB_EXEC_WRAPPER", "").split()
SUBNQN = "nqn.2026-11.io.nvfab:test"
# Under valgrind everything is tens of times slower, and timers fire late on a busy machine:
# timing bounds are strict in the sanitizer run and loose there.
UNDER_VALGRIND = any("valgrind" in w for w in WRAPPER)
TIME_SLACK = 5.0 if UNDER_VALGRIND else 1.0
LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\] (\S+) +(.*)$")


def log_times(text, needle):
    """Timestamps (seconds since the epoch) of nvfabd's or nvfab's log lines containing needle.
    Durations taken from them are the daemon's own, whatever the load on the test side."""
    out = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m and needle in m.group(3):
            out.append(datetime.datetime.fromisoformat(m.group(1)).replace(
                tzinfo=datetime.timezone.utc).timestamp())
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_for(cond, timeout, step=0.05):
    """Polls cond() until it returns a true value or timeout seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def hard_close(conn):
    """Closes with an RST (SO_LINGER 0): the host process died, nothing is flushed."""
    try:
        conn.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.s.close()


def pump(a, b):
    """Copies what socket a receives to socket b until a ends or either fails, then shuts both
    down (for the tests' TCP proxies)."""
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bdev_call(kind, name, blocks, block_size, path=None):
    if kind == "ram":
        return {"method": "bdev_malloc_create", "params": {"name": name, "num_blocks": blocks, "block_size": block_size}}
    if kind == "null":
        return {"method": "bdev_null_create", "params": {"name": name, "num_blocks": blocks, "block_size": block_size}}
    if kind == "file":
        return {"method": "bdev_uring_create", "params": {"name": name, "filename": path, "block_size": block_size}}
    raise ValueError(kind)


def simple_config(port, bdevs=(("ram", "Malloc0", 16384, 4096),), subnqn=SUBNQN, allow_any_host=True,
                  hosts=(), discovery_port=None, transport=None):
    bdev_calls = [bdev_call(*b) for b in bdevs]
    nvmf = [{"method": "nvmf_create_transport", "params": dict({"trtype": "TCP"}, **(transport or {}))},
            {"method": "nvmf_create_subsystem",
             "params": {"nqn": subnqn, "allow_any_host": allow_any_host, "serial_number": "NVFAB-TEST"}}]
    for b in bdevs:
        nvmf.append({"method": "nvmf_subsystem_add_ns", "params": {"nqn": subnqn, "namespace": {"bdev_name": b[1]}}})
    for h in hosts:
        nvmf.append({"method": "nvmf_subsystem_add_host", "params": {"nqn": subnqn, "host": h}})
    addr = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}
    nvmf.append({"method": "nvmf_subsystem_add_listener", "params": {"nqn": subnqn, "listen_address": addr}})
    if discovery_port:
        daddr = dict(addr, trsvcid=str(discovery_port))
        nvmf.append({"method": "nvmf_subsystem_add_listener",
                     "params": {"nqn": "nqn.2014-08.org.nvmexpress.discovery", "listen_address": daddr}})
    return {"subsystems": [{"subsystem": "bdev", "config": bdev_calls}, {"subsystem": "nvmf", "config": nvmf}]}


# Daemons started and not stopped yet: a test that fails before its own cleanup leaves them to
# the conftest, which ends them after every test (end_leftovers()).
LIVE = set()


def end_leftovers():
    """Kills what a failed test left running (continued first: it may have been stopped)."""
    for t in list(LIVE):
        try:
            os.kill(t.proc.pid, signal.SIGCONT)
        except OSError:
            pass
        t.stop(sig=signal.SIGKILL, timeout=5)


class Target:
    def __init__(self, config=None, args=(), tmpdir=None, netns=None):
        self.dir = tmpdir or tempfile.mkdtemp(prefix="nvfab-it-")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "rpc.sock")
        self.log_path = os.path.join(self.dir, "nvfabd.log")
        self.config_path = None
        # netns: run inside that network namespace (ip netns exec execs: same pid).
        cmd = (["ip", "netns", "exec", netns] if netns else []) + WRAPPER + \
            [NVFABD, "-r", self.sock, "-L", "info"] + list(args)
        if config is not None:
            self.config_path = os.path.join(self.dir, "config.json")
            with open(self.config_path, "w") as f:
                json.dump(config, f)
            cmd += ["-c", self.config_path]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        LIVE.add(self)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError(f"nvfabd exited with {self.proc.returncode}: {self.read_log()}")
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("nvfabd did not start: " + self.read_log())
            time.sleep(0.02)

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def rpc_pipelined(self, calls, timeout=10):
        """Sends [(method, params), ...] in one write, as a client that does not wait between
        calls; returns the replies in order."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(self.sock)
        s.sendall(b"".join(json.dumps({"jsonrpc": "2.0", "method": m, "params": p, "id": i}).encode()
                           for i, (m, p) in enumerate(calls, 1)))
        buf, replies, dec = "", [], json.JSONDecoder()
        while len(replies) < len(calls):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("RPC socket closed")
            buf += chunk.decode()
            while True:
                buf = buf.lstrip()
                try:
                    obj, end = dec.raw_decode(buf)
                except ValueError:
                    break
                replies.append(obj)
                buf = buf[end:]
        s.close()
        return sorted(replies, key=lambda r: r["id"])

    def rpc(self, method, params=None, timeout=10):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        # The socket file appears at bind(), a moment before listen() (longer under valgrind).
        deadline = time.monotonic() + 5
        while True:
            try:
                s.connect(self.sock)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.02)
        req = {"jsonrpc": "2.0", "method": method, "id": 1}
        if params is not None:
            req["params"] = params
        s.sendall(json.dumps(req).encode())
        buf = b""
        dec = json.JSONDecoder()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("RPC socket closed")
            buf += chunk
            try:
                obj, _ = dec.raw_decode(buf.decode())
                s.close()
                return obj
            except ValueError:
                continue

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        LIVE.discard(self)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
