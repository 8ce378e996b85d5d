"""libnvfab through the nvfab CLI against nvfabd: discovery, identify, verified transfers on
every bdev kind and block size, perf (remote and --local), refusals and a dying target."""
import json
import os
import signal
import subprocess
import time

import pytest

import harness

NVFAB = harness.WRAPPER + [harness.NVFAB]


def nvfab(*args, timeout=60, check=True, **kw):
    r = subprocess.run(NVFAB + list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert r.returncode == 0, f"nvfab {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def trid(port, nqn=harness.SUBNQN):
    return f"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:{port} subnqn:{nqn}"


def start(tmp_path, kind="ram", bs=4096, blocks=4096, **kw):
    port = harness.free_port()
    path = None
    if kind == "file":
        path = str(tmp_path / "disk.img")
        with open(path, "wb") as f:
            f.truncate(blocks * bs)
    t = harness.Target(harness.simple_config(port, bdevs=((kind, "Disk0", blocks, bs, path),), **kw),
                       tmpdir=str(tmp_path))
    t.port = port
    return t


@pytest.mark.parametrize("digest", [[], ["-g", "-G"]], ids=["nodigest", "digest"])
@pytest.mark.parametrize("bs", [512, 4096])
@pytest.mark.parametrize("kind", ["ram", "null", "file"])
def test_verified_transfers(tmp_path, kind, bs, digest):
    with start(tmp_path, kind, bs) as t:
        for size in (4096, 1 << 20):  # in-capsule, and R2T-sized split by MDTS
            data = os.urandom(size)
            src, dst = tmp_path / f"in{size}", tmp_path / f"out{size}"
            src.write_bytes(data)
            blocks = str(size // bs)
            nvfab("write", "-r", trid(t.port), "-n", "1", "--lba", "8", "--blocks", blocks, "--data", str(src), *digest)
            nvfab("read", "-r", trid(t.port), "-n", "1", "--lba", "8", "--blocks", blocks, "--data", str(dst), *digest)
            expect = bytes(size) if kind == "null" else data
            assert dst.read_bytes() == expect
            if kind != "null":
                nvfab("compare", "-r", trid(t.port), "-n", "1", "--lba", "8", "--blocks", blocks, "--data", str(src), *digest)
                src.write_bytes(os.urandom(size))
                r = nvfab("compare", "-r", trid(t.port), "-n", "1", "--lba", "8", "--blocks", blocks, "--data",
                          str(src), *digest, check=False)
                assert r.returncode != 0 and "Compare Failure" in r.stdout + r.stderr


def test_discover_and_identify(tmp_path):
    dport = harness.free_port()
    with start(tmp_path, discovery_port=dport) as t:
        r = nvfab("discover", "-t", "tcp", "-a", "127.0.0.1", "-s", str(dport), "-o", "json")
        log = json.loads(r.stdout)
        subnqns = [e["subnqn"] for e in log["records"]]
        assert harness.SUBNQN in subnqns, log
        text = nvfab("discover", "-t", "tcp", "-a", "127.0.0.1", "-s", str(dport)).stdout
        assert harness.SUBNQN in text and str(t.port) in text
        ident = json.loads(nvfab("identify", "-r", trid(t.port), "-o", "json").stdout)
        assert ident["subnqn"] == harness.SUBNQN and ident["ioccsz"] == (64 + 8192) // 16
        ns = json.loads(nvfab("identify", "-r", trid(t.port), "-n", "1", "-o", "json").stdout)
        assert ns["nsze"] == 4096


def test_perf_remote_and_local(tmp_path):
    with start(tmp_path, blocks=16384) as t:
        for args in (["-q", "1", "-o", "4096", "-w", "randread"],
                     ["-q", "128", "-o", "4096", "-w", "randwrite"],
                     ["-q", "8", "-o", "128k", "-w", "read"],
                     ["-q", "32", "-o", "4096", "-w", "randrw", "-M", "70", "--verify"],
                     ["-q", "16", "-o", "4096", "-w", "randread", "--epoll", "-P", "2"]):
            out = tmp_path / "perf.json"
            r = nvfab("perf", "-r", trid(t.port), *args, "-t", "1", "--json", str(out))
            res = json.loads(out.read_text())
            text = json.dumps(res)
            assert '"iops"' in text
            assert "errors: 0 I/O, 0 verify" in r.stdout or "--verify" not in args, r.stdout
    out = tmp_path / "local.json"
    nvfab("perf", "--local", "ram:64", "-q", "4", "-o", "4096", "-w", "randrw", "--verify", "-t", "1", "--json", str(out))
    assert '"iops"' in out.read_text()


def test_refusals_are_decoded(tmp_path):
    with start(tmp_path, allow_any_host=False, hosts=["nqn.2014-08.org.nvmexpress:uuid:allowed-host"]) as t:
        r = nvfab("identify", "-r", trid(t.port, "nqn.2026-11.io.nvfab:nope"), check=False)
        assert r.returncode == 1 and "not found" in r.stderr, r.stderr
        r = nvfab("identify", "-r", trid(t.port), check=False)
        assert r.returncode == 1 and "Connect Invalid Host" in r.stderr, r.stderr
        nvfab("identify", "-r", trid(t.port), "-q", "nqn.2014-08.org.nvmexpress:uuid:allowed-host")
    r = nvfab("identify", "-r", trid(harness.free_port()), "--connect-timeout", "500", check=False)
    assert r.returncode == 1 and "refused" in r.stderr.lower(), r.stderr


def test_bad_arguments_exit_2():
    for args in (["bogus"], ["perf", "-q", "0"], ["read", "-r", "trtype:XYZ traddr:1"], ["discover", "-t", "rdma", "-a", "x"],
                 ["identify", "-r", "trtype:TCP traddr:127.0.0.1", "-n", "0"],
                 ["read", "-r", "trtype:TCP traddr:127.0.0.1 subnqn:nqn.2026-11.io.x:y", "-n", "4294967295",
                  "--lba", "0", "--blocks", "1"]):
        r = nvfab(*args, check=False)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.strip(), args


def test_target_killed_during_perf(tmp_path):
    t = start(tmp_path, blocks=16384)
    try:
        p = subprocess.Popen(NVFAB + ["perf", "-r", trid(t.port), "-q", "16", "-o", "4096", "-w", "randrw", "-t", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        t.proc.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=20)  # no hang
        assert p.returncode != 0
        assert "connection" in (out + err).lower(), out + err
    finally:
        t.stop()


def test_reconnect_after_target_restart(tmp_path):
    port = harness.free_port()
    cfg = harness.simple_config(port, bdevs=(("ram", "Disk0", 16384, 4096),))
    t = harness.Target(cfg, tmpdir=str(tmp_path / "a"))
    try:
        p = subprocess.Popen(NVFAB + ["perf", "-r", trid(port), "-q", "4", "-o", "4096", "-w", "randread", "-t", "8",
                                      "--ctrl-loss-tmo", "20", "--reconnect-delay", "1",
                                      # under valgrind (one thread at a time) a busy-polling worker
                                      # starved the admin thread, which reconnects: it sleeps here
                                      "--epoll"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        t.proc.send_signal(signal.SIGKILL)
        t.stop()
        time.sleep(1)
        t = harness.Target(cfg, tmpdir=str(tmp_path / "b"))
        out, err = p.communicate(timeout=40)
        assert p.returncode == 0, out + err
        assert "ctrlr 1 created" in t.read_log() or "created" in t.read_log()
    finally:
        t.stop()


def test_read_to_a_pipe_prints_only_the_data(tmp_path):
    """`nvfab read ... | cmd`: the data on stdout, nothing on stderr (nvme-cli's "read: Success"
    line would land in the terminal of a pipeline), exit 0."""
    with start(tmp_path) as t:
        data = os.urandom(8192)
        src = tmp_path / "src"
        src.write_bytes(data)
        nvfab("write", "-r", trid(t.port), "--lba", "3", "--blocks", "2", "--data", str(src))
        p = subprocess.run(NVFAB + ["read", "-r", trid(t.port), "--lba", "3", "--blocks", "2"],
                           capture_output=True, timeout=60)
        assert p.returncode == 0 and p.stdout == data
        assert p.stderr == b"", p.stderr
