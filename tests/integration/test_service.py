"""nvfabd as a service: sd_notify (READY, STATUS, STOPPING) to the socket systemd names in
NOTIFY_SOCKET, log lines journald understands when stderr is journald's stream, SIGHUP, and
--check-config. systemd itself is not needed: the test plays its part."""
import json
import os
import signal
import socket
import subprocess
import time

import harness
import nvmetcp as n

NVFABD = harness.WRAPPER + [harness.NVFABD]


def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20 * harness.TIME_SLACK)
    return s, path


def messages_until(s, want):
    got = []
    while not any(want in m for m in got):
        got.append(s.recv(4096).decode())
    return got


def test_sd_notify_ready_status_stopping(tmp_path):
    port = harness.free_port()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(harness.simple_config(port)))
    s, path = notify_socket(tmp_path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    log = open(tmp_path / "log", "w")
    p = subprocess.Popen(NVFABD + ["-c", str(cfg), "-r", str(tmp_path / "rpc.sock")], env=env,
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        got = messages_until(s, "READY=1")
        ready = [m for m in got if "READY=1" in m][0]
        assert "STATUS=serving" in ready, got
        assert any("STATUS=loading the configuration" in m for m in got), got
        # READY means serving: a host connects at once.
        admin, io, _ = n.connect_io(port, harness.SUBNQN)
        admin.close()
        io.close()
        p.send_signal(signal.SIGHUP)
        got = messages_until(s, "READY=1")
        assert p.poll() is None, "SIGHUP stopped nvfabd"
        p.send_signal(signal.SIGTERM)
        got = messages_until(s, "STOPPING=1")
        assert p.wait(20) == 0
        text = (tmp_path / "log").read_text()
        assert "SIGHUP: nothing to reload" in text
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        s.close()


def test_journald_lines_have_priorities_and_no_timestamps(tmp_path):
    logf = tmp_path / "journal"
    with open(logf, "w") as out:
        st = os.fstat(out.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        r = subprocess.run(NVFABD + ["--check-config", "/nonexistent.json", "-L", "notice"], env=env,
                           stdout=out, stderr=out, timeout=60)
    assert r.returncode == 1
    lines = [ln for ln in logf.read_text().splitlines() if ln.startswith("<")]
    assert lines and lines[0].startswith("<3>error: config /nonexistent.json"), logf.read_text()
    assert "\x1b[" not in logf.read_text()
    # Not journald (a file): UTC timestamps instead.
    r = subprocess.run(NVFABD + ["--check-config", "/nonexistent.json"], capture_output=True, text=True, timeout=60)
    assert harness.log_times(r.stderr, "config /nonexistent.json"), r.stderr


def test_check_config(tmp_path):
    port = harness.free_port()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(harness.simple_config(port)))
    # Valid, and the port may be in use by the running daemon: it is checked, not opened.
    busy = socket.socket()
    busy.bind(("127.0.0.1", port))
    busy.listen(1)
    try:
        r = subprocess.run(NVFABD + ["--check-config", str(good)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "valid" in r.stdout, r.stdout + r.stderr
    finally:
        busy.close()
    bad = tmp_path / "bad.json"
    cfg = harness.simple_config(port)
    cfg["subsystems"][1]["config"][2]["params"]["namespace"]["bdev_name"] = "NoSuchBdev"
    bad.write_text(json.dumps(cfg))
    r = subprocess.run(NVFABD + ["--check-config", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r
    assert "nvmf_subsystem_add_ns" in r.stderr and "NoSuchBdev" in r.stderr and "NOT valid" in r.stderr
    # The shipped configuration is valid.
    shipped = os.path.join(os.path.dirname(__file__), "..", "..", "packaging", "nvfabd.json")
    r = subprocess.run(NVFABD + ["--check-config", shipped], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
