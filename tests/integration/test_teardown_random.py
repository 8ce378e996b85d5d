"""Randomized teardown: many short rounds, each a random interleaving of hosts that connect and
go away in every way a host can (silent until KATO, RST, half-close, Disconnect, a full socket
buffer, death between ICReq and Connect), with I/O in flight on RAM, null and file namespaces,
while the control plane deletes and re-creates subsystems, namespaces, listeners, allowed hosts
and bdevs under them, grows a bdev under them, and sometimes SIGTERM arrives in the middle.

After every round nvfabd must be alive and serve a fresh host on every subsystem, with no
controller left, descriptors back to the baseline, RSS within a small slack of it, and (the
build has ASan and UBSan) no sanitizer report in its log. A SIGTERM round must end with exit
status 0 and a clean log; the next round starts a new daemon.

Seeds: each round's plan (which hosts, what they do, when, which RPCs) comes from
random.Random(seed); the seeds are printed, and NVFAB_TEARDOWN_SEED=S replays rounds S, S+1, ...
Thread timing still varies between runs: a replay repeats the plan, not the exact interleaving.
Length: NVFAB_TEARDOWN_SECONDS (default 50, 38 under valgrind: `make test` stays under 20
minutes; 1800 with NVFAB_LONG=1). Loopback only.
"""
import os
import random
import signal
import socket
import struct
import threading
import time

import pytest

import harness
from harness import fd_count, rss_kib, wait_for, hard_close, UNDER_VALGRIND
import nvmetcp as n


LONG = os.environ.get("NVFAB_LONG") == "1"
UNDER_VALGRIND = harness.UNDER_VALGRIND
SECONDS = float(os.environ.get("NVFAB_TEARDOWN_SECONDS", 1800 if LONG else (38 if UNDER_VALGRIND else 50)))
# Under valgrind everything is ~30x slower: bound waits loosely there, strictly with ASan.
SLOW = 8.0 if UNDER_VALGRIND else 1.0
BLOCK = 4096

SUB_A = "nqn.2026-11.io.nvfab:teardown-a"   # RAM (nsid 1) + null (nsid 2), two listeners
SUB_B = "nqn.2026-11.io.nvfab:teardown-b"   # file (nsid 1); deleted and re-created
SUB_C = "nqn.2026-11.io.nvfab:teardown-c"   # RAM, allow-list of hosts
HOSTS = [f"nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000{i:02x}" for i in range(1, 5)]
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "Invalid read",
                   "Invalid write", "definitely lost")


def listen(nqn, port):
    return {"method": "nvmf_subsystem_add_listener",
            "params": {"nqn": nqn, "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1",
                                                      "trsvcid": str(port)}}}


def make_config(p1, p2, file_path):
    bdevs = [harness.bdev_call("ram", "Ram0", 8192, 4096), harness.bdev_call("null", "Null0", 8192, 512),
             harness.bdev_call("file", "File0", 0, 4096, file_path), harness.bdev_call("ram", "Ram1", 4096, 512)]
    nvmf = [{"method": "nvmf_create_transport", "params": {"trtype": "TCP"}}]
    nvmf += sub_calls_a(p1, p2) + sub_calls_b(p1) + sub_calls_c(p1)
    return {"subsystems": [{"subsystem": "bdev", "config": bdevs}, {"subsystem": "nvmf", "config": nvmf}]}


def create_sub(nqn, any_host=True):
    return {"method": "nvmf_create_subsystem", "params": {"nqn": nqn, "allow_any_host": any_host,
                                                          "serial_number": "TEARDOWN"}}


def add_ns(nqn, bdev, nsid):
    return {"method": "nvmf_subsystem_add_ns", "params": {"nqn": nqn, "namespace": {"bdev_name": bdev, "nsid": nsid}}}


def sub_calls_a(p1, p2):
    return [create_sub(SUB_A), add_ns(SUB_A, "Ram0", 1), add_ns(SUB_A, "Null0", 2), listen(SUB_A, p1), listen(SUB_A, p2)]


def sub_calls_b(p1):
    return [create_sub(SUB_B), add_ns(SUB_B, "File0", 1), listen(SUB_B, p1)]


def sub_calls_c(p1):
    return ([create_sub(SUB_C, any_host=False), add_ns(SUB_C, "Ram1", 1), listen(SUB_C, p1)] +
            [{"method": "nvmf_subsystem_add_host", "params": {"nqn": SUB_C, "host": h}} for h in HOSTS[:2]])


# ---- the daemon ----
class Daemon:
    def __init__(self, tmp, p1, p2):
        self.tmp, self.p1, self.p2 = tmp, p1, p2
        self.file = os.path.join(tmp, "file0.img")
        if not os.path.exists(self.file):
            with open(self.file, "wb") as f:
                f.truncate(32 << 20)
        self.gen = 0
        self.t = None
        self.start()

    def start(self):
        self.gen += 1
        d = os.path.join(self.tmp, f"run{self.gen}")
        self.t = harness.Target(make_config(self.p1, self.p2, self.file), args=["-m", "0x3"], tmpdir=d)
        self.t.port = self.p1

    def rpc(self, method, params=None):
        return self.t.rpc(method, params, timeout=20 * SLOW)

    def call(self, c):
        return self.rpc(c["method"], c["params"])

    def pid(self):
        return self.t.proc.pid

    def sanitizer_report(self):
        log = self.t.read_log()
        for mark in SANITIZER_MARKS:
            i = log.find(mark)
            if i >= 0:
                return log[max(0, i - 200):i + 3000]
        return None








def all_controllers(d):
    out = []
    for nqn in (SUB_A, SUB_B, SUB_C):
        r = d.rpc("nvmf_subsystem_get_controllers", {"nqn": nqn})
        if "result" in r:
            out += [(nqn, c["cntlid"]) for c in r["result"]]
    return out


# ---- hosts ----


def io_burst(io, rng, nsid, block, blocks_max):
    """Commands sent without waiting for their answers: in-capsule writes, reads, an R2T write."""
    burst = b""
    for _ in range(rng.randint(1, 6)):
        lba = rng.randrange(0, blocks_max - 16)
        kind = rng.random()
        if kind < 0.4:
            burst += io.capsule(io.sqe(0x01, io.next_cid(), nsid, lba, 0, 0, sgl_len=block, sgl_type=0x01),
                                bytes([rng.randrange(256)]) * block)
        elif kind < 0.8:
            nlb = rng.randint(1, 8)
            burst += io.capsule(io.sqe(0x02, io.next_cid(), nsid, lba, 0, nlb - 1, sgl_len=nlb * block))
        elif kind < 0.9:
            burst += io.capsule(io.sqe(0x00, io.next_cid(), nsid))                  # Flush
        else:
            nlb = 16                                                                # R2T, never served
            burst += io.capsule(io.sqe(0x01, io.next_cid(), nsid, lba, 0, nlb - 1, sgl_len=nlb * block))
    io.send(burst)


NS_OF = {SUB_A: [(1, 4096, 8192), (2, 512, 8192)], SUB_B: [(1, 4096, 8192)], SUB_C: [(1, 512, 4096)]}
ENDINGS = ["close", "rst", "half_close", "disconnect", "silent", "stop_reading"]


class Host(threading.Thread):
    """One host's life: a plan drawn from rng, run in its own thread. Errors caused by the
    target going away under it (RPC deletions, SIGTERM) are expected and swallowed; the checks
    are on the daemon."""

    def __init__(self, d, rng, hostnqn):
        super().__init__(daemon=True)
        self.d = d
        self.delay = rng.uniform(0, 1.0)
        self.nqn = rng.choice([SUB_A, SUB_A, SUB_B, SUB_C])
        self.port = d.p2 if self.nqn == SUB_A and rng.random() < 0.3 else d.p1
        self.hostnqn = hostnqn
        self.shape = rng.choice(["before_connect", "admin_only", "io", "io", "two_ctrlrs"])
        self.nio = rng.randint(1, 4)
        self.digests = (rng.random() < 0.3, rng.random() < 0.3)
        self.kato = rng.choice([1000, 2000, 3000])
        self.ending = rng.choice(ENDINGS)
        self.bursts = rng.randint(0, 4)
        self.linger = rng.uniform(0, 0.5)
        self.rng = random.Random(rng.random())
        self.conns = []

    def describe(self):
        return (f"{self.shape}/{self.ending} on {self.nqn[-10:]}:{self.port} nio={self.nio} "
                f"dg={int(self.digests[0])}{int(self.digests[1])} kato={self.kato}")

    def conn(self):
        c = n.Conn(self.port, timeout=5 * SLOW)
        self.conns.append(c)
        c.icreq(*self.digests)
        return c

    def controller(self):
        admin = self.conn()
        st, cntlid = admin.connect(self.nqn, kato=self.kato, hostnqn=self.hostnqn)
        if st != 0:
            return None, []
        admin.enable()
        # An AER parks on the target, to be aborted at teardown.
        admin.async_event_request()
        ios = []
        if self.shape in ("io", "two_ctrlrs"):
            for qid in range(1, self.nio + 1):
                io = self.conn()
                st, _ = io.connect(self.nqn, qid=qid, sqsize=63, cntlid=cntlid, hostnqn=self.hostnqn)
                if st != 0:
                    break
                ios.append(io)
        return admin, ios

    def run(self):
        try:
            time.sleep(self.delay)
            self.live()
        except (OSError, AssertionError, n.TermReq, ConnectionError, struct.error, ValueError):
            pass
        finally:
            for c in self.conns:
                try:
                    c.s.close()
                except OSError:
                    pass

    def live(self):
        if self.shape == "before_connect":
            c = self.conn()
            time.sleep(self.linger)
            hard_close(c) if self.rng.random() < 0.5 else c.close()
            return
        ctrls = [self.controller()]
        if self.shape == "two_ctrlrs":
            ctrls.append(self.controller())
        for _ in range(self.bursts):
            for admin, ios in ctrls:
                for io in ios:
                    nsid, block, blocks = self.rng.choice(NS_OF[self.nqn])
                    io_burst(io, self.rng, nsid, block, blocks)
            time.sleep(self.rng.uniform(0, 0.05))
        time.sleep(self.linger)
        for admin, ios in ctrls:
            if admin is None:
                continue
            self.end(admin, ios)

    def end(self, admin, ios):
        e = self.ending
        if e == "close":
            for c in ios + [admin]:
                c.close()
        elif e == "rst":
            for c in ios + [admin]:
                hard_close(c)
        elif e == "half_close":
            for c in ios + [admin]:
                c.s.shutdown(socket.SHUT_WR)
            time.sleep(0.3)
        elif e == "disconnect":
            for c in ios:  # Fabrics Disconnect on each I/O queue, then the admin queue goes
                cid = c.next_cid()
                c.send(c.capsule(struct.pack("<BBHB59x", 0x7F, 0, cid, 0x08)))
            time.sleep(0.1)
            admin.close()
        elif e == "silent":
            # Say nothing: the keep-alive timer tears the controller down (KATO 1-3 s).
            time.sleep(self.kato / 1000 + 1.5)
        elif e == "stop_reading":
            # Ask for much more than the socket buffers hold, read none of it, go quiet.
            for c in ios:
                big = b"".join(c.capsule(c.sqe(0x02, c.next_cid(), 1, 0, 0, 31 if NS_OF[self.nqn][0][1] == 4096 else 255,
                                                 sgl_len=128 * 1024)) for _ in range(32))
                c.s.settimeout(0.5)
                try:
                    c.send(big)
                except OSError:
                    pass
            time.sleep(self.kato / 1000 + 1.5)


# ---- the control plane ----
class Operator(threading.Thread):
    """RPCs during the round: deletions under live hosts, then the same things re-added."""

    def __init__(self, d, rng, duration):
        super().__init__(daemon=True)
        self.d, self.rng, self.duration = d, rng, duration
        self.ops = []
        self.error = None
        self.stopping = False

    def call_ok(self, method, params, ok_errors=()):
        r = self.d.rpc(method, params)
        if "error" in r and not any(e in r["error"].get("message", "") for e in ok_errors):
            raise AssertionError(f"{method} {params}: {r}")
        return r

    def run(self):
        end = time.monotonic() + self.duration
        try:
            while time.monotonic() < end and not self.stopping:
                time.sleep(self.rng.uniform(0.05, 0.4))
                op = self.rng.choice(["del_sub_b", "rm_ns", "rm_listener", "rm_host", "del_bdev",
                                      "resize", "get"])
                self.ops.append(op)
                getattr(self, op)()
        except (OSError, ConnectionError) as e:
            if not self.stopping:
                self.error = e
        except AssertionError as e:
            self.error = e

    def get(self):
        self.call_ok("nvmf_get_subsystems", None)
        self.call_ok("bdev_get_bdevs", None)

    def del_sub_b(self):
        self.call_ok("nvmf_delete_subsystem", {"nqn": SUB_B})
        time.sleep(self.rng.uniform(0, 0.3))
        for c in sub_calls_b(self.d.p1):
            self.call_ok(c["method"], c["params"], ok_errors=("in use", "busy", "Busy"))
        self.readd_ns_until_ok(SUB_B, "File0", 1)

    def readd_ns_until_ok(self, nqn, bdev, nsid):
        """The bdev is claimed until every reactor has dropped its channel: retry briefly."""
        deadline = time.monotonic() + 10 * SLOW
        while True:
            r = self.d.rpc("nvmf_subsystem_add_ns", add_ns(nqn, bdev, nsid)["params"])
            if "result" in r:
                return
            msg = r["error"].get("message", "")
            if "already" in msg or "exists" in msg.lower():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"namespace {bdev} not re-added: {r}")
            time.sleep(0.05)

    def rm_ns(self):
        nsid, bdev = self.rng.choice([(1, "Ram0"), (2, "Null0")])
        self.call_ok("nvmf_subsystem_remove_ns", {"nqn": SUB_A, "nsid": nsid})
        time.sleep(self.rng.uniform(0, 0.3))
        self.readd_ns_until_ok(SUB_A, bdev, nsid)

    def rm_listener(self):
        c = listen(SUB_A, self.d.p2)
        self.call_ok("nvmf_subsystem_remove_listener", c["params"])
        time.sleep(self.rng.uniform(0, 0.3))
        self.call_ok(c["method"], c["params"])

    def rm_host(self):
        h = self.rng.choice(HOSTS[:2])
        self.call_ok("nvmf_subsystem_remove_host", {"nqn": SUB_C, "host": h})
        time.sleep(self.rng.uniform(0, 0.3))
        self.call_ok("nvmf_subsystem_add_host", {"nqn": SUB_C, "host": h})

    def resize(self):
        # Grows under live hosts, who get a notice (those that asked for one).
        b = self.call_ok("bdev_get_bdevs", {"name": "Null0"})["result"][0]
        mib = b["num_blocks"] * b["block_size"] >> 20
        self.call_ok("bdev_null_resize", {"name": "Null0", "new_size": mib + self.rng.randint(1, 4)})

    def del_bdev(self):
        # In use: refused with a clear error; after its namespace is gone: deleted, re-created.
        r = self.d.rpc("bdev_null_delete", {"name": "Null0"})
        assert "error" in r and "namespace" in r["error"]["message"], r
        self.call_ok("nvmf_subsystem_remove_ns", {"nqn": SUB_A, "nsid": 2})
        deadline = time.monotonic() + 10 * SLOW
        while "error" in self.d.rpc("bdev_null_delete", {"name": "Null0"}):
            assert time.monotonic() < deadline, "Null0 still claimed 10 s after its namespace went"
            time.sleep(0.05)
        c = harness.bdev_call("null", "Null0", 8192, 512)
        self.call_ok(c["method"], c["params"])
        self.readd_ns_until_ok(SUB_A, "Null0", 2)


# ---- checks ----
def fresh_host_ok(d):
    """A new host writes and reads back on every namespace, through two I/O queues (so on both
    reactors: every bdev channel exists afterwards, as at the baseline)."""
    for nqn, nsid, block in ((SUB_A, 1, 4096), (SUB_A, 2, 512), (SUB_B, 1, 4096)):
        admin, io, cntlid = n.connect_io(d.p1, nqn)
        io2 = n.Conn(d.p1)
        io2.icreq()
        st, _ = io2.connect(nqn, qid=2, sqsize=31, cntlid=cntlid)
        assert st == 0, f"second I/O queue on {nqn}: {st:#x}"
        for q in (io, io2):
            data = os.urandom(block)
            assert q.write(nsid, 5, data, block=block)[0] == 0, nqn
            st, got = q.read(nsid, 5, block, block=block)
            assert st == 0 and (got == data or nsid == 2), (nqn, nsid, st)
        for c in (io2, io, admin):
            c.close()
    c = n.Conn(d.p1)
    c.icreq()
    st, _ = c.connect(SUB_C, hostnqn=HOSTS[0])
    assert st == 0, f"allowed host refused on {SUB_C}: {st:#x}"
    c.close()


def settle(d, base_fds):
    """Everything the round's hosts held is released."""
    left = wait_for(lambda: all_controllers(d) == [], 12 * SLOW, step=0.1)
    assert left, f"controllers left: {all_controllers(d)}"
    ok = wait_for(lambda: fd_count(d.pid()) <= base_fds, 10 * SLOW, step=0.1)
    assert ok, f"descriptors: {fd_count(d.pid())} now, {base_fds} at the baseline"


def test_randomized_teardown(tmp_path, monkeypatch):
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") +
                       "quarantine_size_mb=8:thread_local_quarantine_size_kb=64")
    seed0 = int(os.environ.get("NVFAB_TEARDOWN_SEED", random.SystemRandom().randrange(1 << 31)))
    p1, p2 = harness.free_port(), harness.free_port()
    d = Daemon(str(tmp_path), p1, p2)
    rounds = sigterms = hosts_total = 0
    try:
        # Baseline after a warm-up host: lazily created channels and buffers exist.
        fresh_host_ok(d)
        settle(d, fd_count(d.pid()) + 64)
        time.sleep(0.3)
        base_fds, base_rss = fd_count(d.pid()), rss_kib(d.pid())
        end = time.monotonic() + SECONDS
        print(f"\nteardown: seeds from {seed0} (replay: NVFAB_TEARDOWN_SEED={seed0}); baseline "
              f"{base_fds} fds, {base_rss} KiB")
        while time.monotonic() < end:
            seed = seed0 + rounds
            rng = random.Random(seed)
            rounds += 1
            nhosts = rng.randint(2, 8)
            hosts = [Host(d, rng, rng.choice(HOSTS)) for _ in range(nhosts)]
            if rounds == 1:
                # The first round always has the case that once crashed nvfabd: an admin-only
                # controller torn down by its keep-alive timer while another host goes on.
                hosts[0].nqn, hosts[0].port, hosts[0].shape, hosts[0].ending = SUB_A, d.p1, "admin_only", "silent"
            hosts_total += nhosts
            op = Operator(d, random.Random(rng.random()), rng.uniform(0.5, 2.0))
            sigterm_at = rng.uniform(0.2, 1.5) if rng.random() < 0.12 else None
            plan = "; ".join(h.describe() for h in hosts)
            print(f"teardown: round {rounds} seed {seed}: {nhosts} hosts [{plan}]"
                  f"{f'; SIGTERM at {sigterm_at:.2f} s' if sigterm_at else ''}")
            for h in hosts:
                h.start()
            op.start()
            if sigterm_at is not None:
                time.sleep(sigterm_at)
                op.stopping = True
                d.t.proc.send_signal(signal.SIGTERM)
                try:
                    rc = d.t.proc.wait(15 * SLOW)
                except Exception:
                    rc = "hung"
                report = d.sanitizer_report()
                assert rc == 0 and not report, (f"seed {seed}: SIGTERM with connections up: exit {rc}\n"
                                                f"{report or d.t.read_log()[-4000:]}")
                d.t.stop()
                sigterms += 1
                op.join(30)
                for h in hosts:
                    h.join(30)
                d.start()
                fresh_host_ok(d)
                settle(d, fd_count(d.pid()) + 64)
                time.sleep(0.3)
                base_fds, base_rss = fd_count(d.pid()), rss_kib(d.pid())
                continue
            op.join(60 * SLOW)
            for h in hosts:
                h.join(30 * SLOW)
            assert d.t.alive(), f"seed {seed}: nvfabd died\n{d.sanitizer_report() or d.t.read_log()[-4000:]}"
            assert op.error is None, f"seed {seed}: control plane: {op.error} (ops {op.ops})"
            assert not any(h.is_alive() for h in hosts), f"seed {seed}: a host thread hangs"
            settle(d, base_fds)
            report = d.sanitizer_report()
            assert not report, f"seed {seed}:\n{report}"
            fresh_host_ok(d)
            settle(d, base_fds)
            # Under valgrind RSS is mostly valgrind's (translations, its 20 MB queue of freed
            # blocks), and memcheck's own leak check at exit is the stronger test there.
            rss = rss_kib(d.pid())
            slack = max(24 * 1024, base_rss // 5)
            assert UNDER_VALGRIND or rss - base_rss < slack, f"seed {seed}: RSS {base_rss} -> {rss} KiB"
        print(f"teardown: {rounds} rounds, {hosts_total} hosts, {sigterms} SIGTERMs, "
              f"seeds {seed0}..{seed0 + rounds - 1}; fds {base_fds} -> {fd_count(d.pid())}, "
              f"RSS {base_rss} -> {rss_kib(d.pid())} KiB")
    finally:
        rc = d.t.stop()
        report = d.sanitizer_report()
    assert rc == 0 and not report, f"nvfabd exit {rc}\n{report or d.t.read_log()[-4000:]}"
