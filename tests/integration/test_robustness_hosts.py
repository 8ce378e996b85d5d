"""Hosts that misbehave at the connection level: hosts killed in the middle of I/O, a host that
goes silent (keep-alive timeout), and a storm of short-lived connections. After each, nvfabd
must have released everything (controllers, queue pairs, memory, file descriptors) and still
serve a well-behaved host.

Loopback only; every test is bounded in time. NVFAB_LONG=1 runs the long variants (1000
killed hosts, more storm rounds). Figures (memory per connection, reclaim, latency) are printed:
run pytest with -s to see them. docs/robustness.md describes the expected reactions."""
import os
import re
import resource
import socket
import struct
import threading
import time

import pytest

import harness
from harness import rss_kib, fd_count, wait_for, hard_close
import nvmetcp as n


LONG = os.environ.get("NVFAB_LONG") == "1"
BLOCK = 4096


# ---- helpers ----




def controllers(t):
    r = t.rpc("nvmf_subsystem_get_controllers", {"nqn": harness.SUBNQN})
    assert "result" in r, r
    return r["result"]






def healthy(t):
    """A good host still connects, writes and reads back."""
    admin, io, _ = n.connect_io(t.port, harness.SUBNQN)
    data = os.urandom(BLOCK)
    assert io.write(1, 3, data)[0] == 0
    assert io.read(1, 3, BLOCK) == (0, data)
    admin.close()
    io.close()


def small_asan_quarantine(monkeypatch):
    """Under ASan freed memory sits in a quarantine (256 MiB by default) before reuse, which
    would read as growth; a small one keeps RSS meaningful. Ignored by non-ASan builds."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") +
                       "quarantine_size_mb=4:thread_local_quarantine_size_kb=64")


def start(tmp_path, **kw):
    port = harness.free_port()
    t = harness.Target(harness.simple_config(port, **kw), tmpdir=str(tmp_path))
    t.port = port
    return t


def stop_clean(t):
    rc = t.stop()
    assert rc == 0, f"nvfabd exit status {rc}\n" + t.read_log()[-4000:]


# ---- dying hosts ----
def dying_host(port, i, subnqn=harness.SUBNQN):
    """Admin + I/O queue, a burst of commands that are not waited for, then the host dies."""
    admin, io, _ = n.connect_io(port, subnqn)
    admin.async_event_request()  # parked on the target
    burst = b""
    for k in range(4):                                                    # in-capsule writes
        lba = 64 + (i * 8 + k) % 1024
        burst += io.capsule(io.sqe(0x01, io.next_cid(), 1, lba, 0, 0, sgl_len=BLOCK, sgl_type=0x01),
                            bytes([i & 0xFF]) * BLOCK)
    for k in range(2):                                                    # reads (C2HData)
        burst += io.capsule(io.sqe(0x02, io.next_cid(), 1, 64 + k * 2, 0, 1, sgl_len=2 * BLOCK))
    # A 64 KiB write the target answers with an R2T that the host never serves.
    burst += io.capsule(io.sqe(0x01, io.next_cid(), 1, 2048, 0, 15, sgl_len=16 * BLOCK))
    io.send(burst)
    if i % 2:
        time.sleep(0.001)  # sometimes let the target get going first
    hard_close(io)
    hard_close(admin)


def test_dying_hosts_release_everything(tmp_path, monkeypatch):
    kills = 1000 if LONG else 300
    small_asan_quarantine(monkeypatch)
    t = start(tmp_path)
    try:
        pid = t.proc.pid
        # Warm-up: allocator caches, lazily created channels and buffers reach their steady size.
        for i in range(30):
            dying_host(t.port, i)
        assert wait_for(lambda: controllers(t) == [], 10), controllers(t)
        time.sleep(0.3)
        idle_rss = rss_kib(pid)

        # Memory of live connections, for the figures: 20 connected hosts held open. The
        # allocator keeps what they used once they are gone: the baseline is taken after.
        held = [n.connect_io(t.port, harness.SUBNQN) for _ in range(20)]
        time.sleep(0.2)
        held_rss = rss_kib(pid)
        for admin, io, _ in held:
            admin.close()
            io.close()
        assert wait_for(lambda: controllers(t) == [], 10)
        for i in range(30):
            dying_host(t.port, i)
        assert wait_for(lambda: controllers(t) == [], 10), controllers(t)
        time.sleep(0.3)
        base_rss, base_fds = rss_kib(pid), fd_count(pid)

        start_t = time.monotonic()
        peak = 0
        for i in range(kills):
            dying_host(t.port, i)
            if i % 50 == 0:
                peak = max(peak, rss_kib(pid))
        elapsed = time.monotonic() - start_t
        left = wait_for(lambda: controllers(t) == [], 15)
        assert left, f"controllers left after {kills} dead hosts: {controllers(t)}"
        fds_ok = wait_for(lambda: fd_count(pid) <= base_fds, 10)
        time.sleep(0.3)
        end_rss, end_fds = rss_kib(pid), fd_count(pid)
        per_conn = (held_rss - idle_rss) / 40.0
        print(f"\nrobustness: dying hosts: {kills} killed in {elapsed:.1f} s; RSS baseline {base_rss} KiB, "
              f"peak {peak} KiB, after {end_rss} KiB (+{end_rss - base_rss} KiB); "
              f"~{per_conn:.0f} KiB per live connection (20 hosts x 2 queues); fds {base_fds} -> {end_fds}")
        assert fds_ok, f"file descriptors: {base_fds} before, {end_fds} after"
        # A leak of one queue pair per host would be ~100 KiB x 2 x kills: far above the slack.
        slack = max(16 * 1024, base_rss // 10)
        assert end_rss - base_rss < slack, f"RSS grew by {end_rss - base_rss} KiB over {kills} dead hosts"
        assert t.alive()
        healthy(t)
    finally:
        stop_clean(t)


# ---- a silent host ----
def test_silent_host_reaped_after_kato(tmp_path):
    t = start(tmp_path)
    try:
        pid = t.proc.pid
        base_fds = fd_count(pid)
        admin = n.Conn(t.port)
        admin.icreq()
        st, cntlid = admin.connect(harness.SUBNQN, kato=1000)
        assert st == 0
        admin.enable()
        t0 = time.monotonic()  # the last admin command: the keep-alive clock starts here
        io = n.Conn(t.port)
        io.icreq()
        st, _ = io.connect(harness.SUBNQN, qid=1, sqsize=31, cntlid=cntlid)
        assert st == 0
        ctrl = [c for c in controllers(t) if c["cntlid"] == cntlid]
        assert ctrl and ctrl[0]["kato_ms"] == 1000 and ctrl[0]["num_io_qpairs"] == 1, ctrl
        # From now on the host says nothing.
        gone = wait_for(lambda: not any(c["cntlid"] == cntlid for c in controllers(t)),
                        6 * harness.TIME_SLACK, step=0.02)
        reaped = time.monotonic() - t0
        assert gone, "controller still listed long after a 1 s KATO"
        # nvfabd's own measure of the silence (its log line), then the wall clock loosely.
        m = re.search(rf"ctrlr {cntlid} .*no keep-alive for (\d+) ms \(KATO 1000 ms\)", t.read_log())
        assert m, t.read_log()[-3000:]
        silent_ms = int(m.group(1))
        print(f"\nrobustness: silent host: KATO 1000 ms, torn down after {silent_ms} ms of silence "
              f"(nvfabd's clock), gone from the RPC view after {reaped * 1000:.0f} ms")
        # Keep Alive timeout: not before KATO, then within the check period (KATO/4) plus slack.
        assert 1000 < silent_ms <= 1000 + 250 + 250 * harness.TIME_SLACK, silent_ms
        assert 0.95 <= reaped <= 1.0 + 0.25 + 1.0 * harness.TIME_SLACK, reaped

        # Both connections are closed by the target (FIN or RST, no C2HTermReq needed).
        for c in (admin, io):
            c.s.settimeout(3)
            try:
                assert c.s.recv(4096) == b""
            except ConnectionResetError:
                pass
        # A command on the old I/O queue never completes successfully.
        cid = io.next_cid()
        try:
            io.send(io.capsule(io.sqe(0x02, cid, 1, 0, 0, 0, sgl_len=BLOCK)))
            got = io.s.recv(4096)
            assert got == b"", f"the dead queue answered: {got[:32].hex()}"
        except (BrokenPipeError, ConnectionResetError):
            pass
        admin.close()
        io.close()
        assert wait_for(lambda: fd_count(pid) <= base_fds, 5), (fd_count(pid), base_fds)
        healthy(t)
    finally:
        stop_clean(t)


# ---- connection storm ----
ICREQ = struct.pack("<BBBBIHBBI", n.PDU_ICREQ, 0, 128, 0, 128, 0, 0, 0, 0) + bytes(112)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
    if new != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


class GoodHost(threading.Thread):
    """QD1 4 KiB reads on its own controller, timing each, while the storm goes on."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.admin, self.io, self.cntlid = n.connect_io(port, harness.SUBNQN)
        self.lat = []
        self.err = None
        self.stop_ev = threading.Event()

    def run(self):
        try:
            while not self.stop_ev.is_set():
                t0 = time.perf_counter()
                st, _ = self.io.read(1, 7, BLOCK)
                self.lat.append(time.perf_counter() - t0)
                assert st == 0, st
        except Exception as e:  # reported by the test
            self.err = e

    def finish(self):
        self.stop_ev.set()
        self.join(10)
        self.admin.close()
        self.io.close()


def storm_round(port, conns, connect_every, pid):
    """Returns nvfabd's RSS (KiB) while all the connections are open."""
    socks = []
    try:
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
        for s in socks:
            s.sendall(ICREQ)
        for s in socks:
            got = b""
            while len(got) < 128:
                chunk = s.recv(128 - len(got))
                assert chunk, "closed before ICResp"
                got += chunk
            assert got[0] == n.PDU_ICRESP
        rss = rss_kib(pid)
        # Some of them go on to an admin Connect (a controller each, torn down on close).
        for i, s in enumerate(socks):
            if i % connect_every == 0:
                c = n.Conn.__new__(n.Conn)
                c.s, c.hdgst, c.ddgst, c.cid, c.maxh2cdata = s, False, False, 0, 0
                st, _ = c.connect(harness.SUBNQN)
                assert st == 0, hex(st)
        return rss
    finally:
        for i, s in enumerate(socks):
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


def test_connection_storm(tmp_path, monkeypatch):
    conns = 1000
    rounds = 10 if LONG else 3
    limit = raise_nofile(conns + 512)  # this process holds them; nvfabd inherits the limit
    if limit < conns + 64:
        pytest.skip(f"RLIMIT_NOFILE {limit} is too low for {conns} connections")
    small_asan_quarantine(monkeypatch)
    t = start(tmp_path)
    good = None
    try:
        pid = t.proc.pid
        good = GoodHost(t.port)
        good_cntlid = good.cntlid
        time.sleep(0.1)
        base_fds, base_rss = fd_count(pid), rss_kib(pid)
        good.start()
        t0 = time.monotonic()
        open_rss = 0
        after = []   # RSS once each round's connections are all gone
        settled = True
        for _ in range(rounds):
            open_rss = max(open_rss, storm_round(t.port, conns, connect_every=8, pid=pid))
            assert t.alive(), t.read_log()[-3000:]
            settled = settled and wait_for(lambda: fd_count(pid) <= base_fds, 15)
            after.append(rss_kib(pid))
        storm_s = time.monotonic() - t0
        end_fds, end_rss = fd_count(pid), rss_kib(pid)
        left = wait_for(lambda: [c["cntlid"] for c in controllers(t)] == [good_cntlid], 10)
        good.finish()
        lat = sorted(good.lat)
        assert good.err is None, f"the good host failed during the storm: {good.err!r}"
        assert lat, "the good host completed no I/O"
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(f"\nrobustness: connection storm: {rounds} x {conns} connections ({conns // 8} Connects each) "
              f"in {storm_s:.1f} s; fds {base_fds} -> {end_fds}; RSS {base_rss} KiB, {open_rss} KiB with {conns} open "
              f"(~{(open_rss - base_rss) / conns:.0f} KiB each), after each round {after} KiB; "
              f"good host QD1 4 KiB reads: {len(lat)} I/Os, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"max {lat[-1] * 1000:.2f} ms")
        assert settled, f"file descriptors: {base_fds} before the storm, {end_fds} after"
        assert left, f"controllers after the storm: {controllers(t)}"
        assert p99 < 50 * harness.TIME_SLACK, f"good host p99 {p99:.1f} ms during the storm"
        # The allocator keeps what the first rounds used, for reuse; later rounds must not add to it.
        # Under valgrind, memcheck holds freed blocks back before reuse (--freelist-vol, 20 MB by
        # default, to catch use after free): the RSS grew by 17-37 MiB between rounds without a
        # leak. A leaked connection (~240 KiB each, 1000 a round) still shows, and memcheck
        # reports definite leaks itself.
        slack = (64 if harness.UNDER_VALGRIND else 16) * 1024
        assert after[-1] - max(after[:2]) < slack, f"RSS after each round (KiB): {after}"
        healthy(t)
    finally:
        if good is not None and good.is_alive():
            good.finish()
        stop_clean(t)


# ---- out of file descriptors ----
def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors(tmp_path):
    """More connections than nvfabd has descriptors for: it must not spin while they wait in the
    backlog, and it serves again once they are gone."""
    port = harness.free_port()
    # -L error: the warning on every failed accept4() would otherwise flood the log.
    t = harness.Target(harness.simple_config(port), args=("-L", "error"), tmpdir=str(tmp_path))
    t.port = port
    socks = []
    try:
        pid = t.proc.pid
        base = fd_count(pid)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 16, base + 16))
        for _ in range(48):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.2)
        c0 = cpu_seconds(pid)
        time.sleep(1.0)
        busy = cpu_seconds(pid) - c0
        print(f"\nrobustness: out of fds: nvfabd used {busy:.2f} s of CPU in 1 s with connections waiting")
        for s in socks:
            s.close()
        socks = []
        assert wait_for(lambda: fd_count(pid) <= base, 5), (fd_count(pid), base)
        healthy(t)
        # A spinning loop would use the whole second; under valgrind everything costs more.
        assert busy < (0.6 if harness.UNDER_VALGRIND else 0.3), \
            f"nvfabd used {busy:.2f} s of CPU in 1 s while out of descriptors"
    finally:
        for s in socks:
            s.close()
        stop_clean(t)


# ---- teardown of controllers that have no I/O queue ----
def keep_alive(conn):
    cid = conn.next_cid()
    conn.send(conn.capsule(conn.sqe(0x18, cid)))
    return conn.wait_completion(cid)


def admin_only(port, nqn=harness.SUBNQN, kato=2000, hostnqn=n.HOSTNQN):
    c = n.Conn(port)
    c.icreq()
    st, cntlid = c.connect(nqn, kato=kato, hostnqn=hostnqn)
    assert st == 0, f"connect status {st:#x}"
    c.enable()
    return c, cntlid


def test_silent_admin_only_controller_while_sibling_keeps_alive(tmp_path):
    """Regression: the keep-alive timer tore down an admin-only controller whose admin queue
    closed synchronously, freeing the controller inside its own destroy call (use after free,
    then a crash that took every host's storage with it)."""
    t = start(tmp_path)
    try:
        silent, c1 = admin_only(t.port)
        talker, c2 = admin_only(t.port)
        # The same host's second controller keeps alive every second; the first says nothing.
        for _ in range(4):
            assert keep_alive(talker) == (0, 0)
            time.sleep(1.0)
        ids = [c["cntlid"] for c in controllers(t)]
        assert c1 not in ids and c2 in ids, ids
        assert t.alive(), t.read_log()[-4000:]
        assert keep_alive(talker) == (0, 0)
        silent.close()
        talker.close()
        assert wait_for(lambda: controllers(t) == [], 5)
        healthy(t)
    finally:
        stop_clean(t)


def test_subsystem_and_host_removal_with_admin_only_controllers(tmp_path):
    """Deleting a subsystem, or removing a host, destroys controllers whose only queue closes
    at once: the subsystem must outlive the walk over its controllers."""
    t = start(tmp_path, allow_any_host=False, hosts=(n.HOSTNQN,))
    try:
        conns = [admin_only(t.port, kato=0)[0] for _ in range(3)]
        assert len(controllers(t)) == 3
        r = t.rpc("nvmf_subsystem_remove_host", {"nqn": harness.SUBNQN, "host": n.HOSTNQN})
        assert r.get("result") is True, r
        assert wait_for(lambda: controllers(t) == [], 5), controllers(t)
        r = t.rpc("nvmf_subsystem_add_host", {"nqn": harness.SUBNQN, "host": n.HOSTNQN})
        assert r.get("result") is True, r
        conns += [admin_only(t.port, kato=0)[0] for _ in range(3)]
        r = t.rpc("nvmf_delete_subsystem", {"nqn": harness.SUBNQN})
        assert r.get("result") is True, r
        assert t.alive(), t.read_log()[-4000:]
        assert "error" in t.rpc("nvmf_subsystem_get_controllers", {"nqn": harness.SUBNQN})
        for c in conns:
            c.close()
    finally:
        stop_clean(t)
