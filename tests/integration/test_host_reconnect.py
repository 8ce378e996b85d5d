"""libnvfab's reconnect against targets that are slow or half dead: a listener that accepts TCP
but never answers ICReq, one that answers ICReq but never Connect, and a target that comes
back slowly. Whatever the target does, a reconnect attempt must not outlast ctrl_loss_tmo:
the host gives up within a second of it, or reconnects if a real target is back in time.

Durations are read from the host's own log timestamps (the moment it saw the connection go and
the moment it gave up), so machine load before or after does not count. Loopback only."""
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import harness

NVFAB = harness.WRAPPER + [harness.NVFAB]
LOSS_TMO = 3
# Longer than ctrl_loss_tmo on purpose: an attempt bounded only by it would overshoot.
CONNECT_TIMEOUT_MS = 10000


class FakeTarget(threading.Thread):
    """A listener on the target's port that misbehaves: 'silent' accepts and reads but never
    answers; 'icresp' answers ICReq, then never answers anything (Connect hangs)."""

    def __init__(self, port, mode):
        super().__init__(daemon=True)
        self.mode = mode
        self.accepted = 0
        self.stop_evt = threading.Event()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:  # the killed target's port may take a moment to be free
            try:
                self.ls.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.ls.listen(16)
        self.ls.settimeout(0.1)
        self.conns = []

    def run(self):
        while not self.stop_evt.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                self._drain()
                continue
            self.accepted += 1
            c.settimeout(0.05)
            self.conns.append([c, b"", False])
            self._drain()

    def _drain(self):
        for entry in self.conns:
            c, buf, answered = entry
            try:
                data = c.recv(65536)
            except (socket.timeout, OSError):
                continue
            buf += data
            entry[1] = buf
            if self.mode == "icresp" and not answered and len(buf) >= 128:
                icresp = struct.pack("<BBBBIHBBI", 1, 0, 128, 0, 128, 0, 0, 0, 131072) + bytes(112)
                try:
                    c.sendall(icresp)
                except OSError:
                    pass
                entry[2] = True

    def close(self):
        self.stop_evt.set()
        self.join(5)
        for c, _, _ in self.conns:
            c.close()
        self.ls.close()


def log_time(text, needle):
    """The timestamp (seconds) of the host's first log line that contains needle."""
    times = harness.log_times(text, needle)
    assert times, f"no log line with {needle!r} in:\n{text[-3000:]}"
    return times[0]


def start_perf(port, seconds, loss_tmo):
    trid = f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{harness.SUBNQN}"
    return subprocess.Popen(NVFAB + ["perf", "-r", trid, "-q", "4", "-o", "4096", "-w", "randread",
                                     "-t", str(seconds), "--ctrl-loss-tmo", str(loss_tmo),
                                     "--reconnect-delay", "1", "--connect-timeout", str(CONNECT_TIMEOUT_MS), "-v",
                                     # sleep in epoll: under valgrind (one thread at a time) a
                                     # busy-polling worker would starve the admin thread
                                     "--epoll"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cleanup(perf, fake, t):
    """Whatever happened: perf, the fake listener and the target are gone after this."""
    if perf.poll() is None:
        perf.kill()
        perf.communicate()
    if fake:
        fake.close()
    t.stop()


def wait_connected(t):
    """Until perf's queues are on the target, and a moment of I/O: under valgrind perf may take
    longer to start than a fixed sleep, and a target killed before it connected tests nothing."""
    def ctrlrs():
        r = t.rpc("nvmf_subsystem_get_controllers", {"nqn": harness.SUBNQN})
        return r.get("result")
    assert harness.wait_for(ctrlrs, 20 * harness.TIME_SLACK), "perf never connected"
    time.sleep(0.5)


def kill_target(t):
    t.proc.send_signal(signal.SIGKILL)
    t.stop()


@pytest.mark.parametrize("mode", ["silent", "icresp"])
def test_half_dead_target_honours_ctrl_loss_tmo(tmp_path, mode):
    port = harness.free_port()
    t = harness.Target(harness.simple_config(port), tmpdir=str(tmp_path))
    fake = None
    p = start_perf(port, 60, LOSS_TMO)
    try:
        wait_connected(t)
        kill_target(t)
        fake = FakeTarget(port, mode)
        fake.start()
        out, err = p.communicate(timeout=LOSS_TMO + 30)
    finally:
        cleanup(p, fake, t)
    assert p.returncode != 0, "perf succeeded with no target"
    # ctrl_loss_tmo counts from the first queue (admin or I/O) that saw the connection go.
    lost = min(harness.log_times(err, "connection lost") + harness.log_times(err, "connection to 127.0.0.1"))
    gave_up = log_time(err, "no reconnect within ctrl_loss_tmo")
    print(f"\nreconnect ({mode}): {fake.accepted} attempts reached the fake target; gave up "
          f"{gave_up - lost:.2f} s after the loss (ctrl_loss_tmo {LOSS_TMO} s)")
    assert fake.accepted >= 1, "no reconnect attempt reached the half-dead target"
    assert LOSS_TMO - 0.5 <= gave_up - lost <= LOSS_TMO + 1.0 * harness.TIME_SLACK, err[-3000:]


def test_slow_restart_reconnects(tmp_path):
    """The target is replaced by a silent listener for 2 s (an attempt hangs there), then comes
    back for real within ctrl_loss_tmo: the host reconnects and perf completes."""
    port = harness.free_port()
    cfg = harness.simple_config(port)
    t = harness.Target(cfg, tmpdir=str(tmp_path / "a"))
    fake = None
    p = start_perf(port, 10, 12)
    try:
        wait_connected(t)
        kill_target(t)
        fake = FakeTarget(port, "silent")
        fake.start()
        time.sleep(2.0)
        fake.close()
        fake_attempts = fake.accepted
        fake = None
        t = harness.Target(cfg, tmpdir=str(tmp_path / "b"))
        out, err = p.communicate(timeout=40)
    finally:
        cleanup(p, fake, t)
    assert fake_attempts >= 1
    # perf holds its commands while disconnected: finishing at all means it reconnected.
    assert p.returncode == 0, out + err[-3000:]
    assert re.search(r"reconnected to \S+ as cntlid", err), err[-3000:]
