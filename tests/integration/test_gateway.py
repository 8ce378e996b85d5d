"""nvfabd as a gateway (SPDK's bdev_nvme): a second nvfabd attaches to the first's subsystem and
re-exports its namespaces. SPDK's own rpc.py form of bdev_nvme_attach_controller, verified I/O
through both hops (both block sizes, in-capsule and R2T writes, digests on either hop), the
backend's status codes unchanged, save_config, and the rules of detaching."""
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import harness
import nvmetcp as n

BACKEND_NQN = "nqn.2026-12.io.nvfab:backend"
GW_NQN = "nqn.2026-12.io.nvfab:gateway"
CLI = harness.WRAPPER + [harness.NVFAB]

SC_LBA_RANGE = 0x80
SC_COMPARE_FAILED = 0x285
DNR = 0x4000


def backend(tmp_path, with_file=True):
    port = harness.free_port()
    bdevs = [("ram", "Ram4k", 16384, 4096), ("ram", "Ram512", 65536, 512)]
    if with_file:
        path = str(tmp_path / "backend.img")
        with open(path, "wb") as f:
            f.truncate(64 << 20)
        bdevs.append(("file", "File0", 0, 4096, path))
    t = harness.Target(harness.simple_config(port, bdevs=bdevs, subnqn=BACKEND_NQN),
                       tmpdir=str(tmp_path / "backend"))
    t.port = port
    return t


def attach_json(port, name="Remote0", **extra):
    """Exactly what `scripts/rpc.py bdev_nvme_attach_controller -b Remote0 -t tcp -a 127.0.0.1
    -s PORT -f ipv4 -n NQN` sends (SPDK v25.09), plus extra."""
    p = {"name": name, "trtype": "tcp", "traddr": "127.0.0.1", "adrfam": "ipv4",
         "trsvcid": str(port), "subnqn": BACKEND_NQN, "prchk_reftag": False,
         "prchk_guard": False, "hdgst": False, "ddgst": False, "allow_unrecognized_csi": False}
    p.update(extra)
    return p


def ok(reply):
    assert "error" not in reply, reply
    return reply["result"]


def export(gw, bdevs, port):
    ok(gw.rpc("nvmf_create_transport", {"trtype": "TCP"}))
    ok(gw.rpc("nvmf_create_subsystem", {"nqn": GW_NQN, "allow_any_host": True}))
    for b in bdevs:
        ok(gw.rpc("nvmf_subsystem_add_ns", {"nqn": GW_NQN, "namespace": {"bdev_name": b}}))
    ok(gw.rpc("nvmf_subsystem_add_listener", {"nqn": GW_NQN, "listen_address": {
        "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}))


def perf_start(port, *args, addr="127.0.0.1", netns=None):
    """nvfab perf against the gateway's subsystem (in a network namespace when given): a Popen
    with stdout and stderr together."""
    trid = f"trtype:TCP adrfam:IPv4 traddr:{addr} trsvcid:{port} subnqn:{GW_NQN}"
    return subprocess.Popen((["ip", "netns", "exec", netns] if netns else []) + CLI +
                            ["perf", "-r", trid] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def perf(port, *args, nsid=None):
    p = perf_start(port, "-t", "2", *(["-n", str(nsid)] if nsid else []), *args)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out[-3000:]
    return out


def perf_total(out):
    """The Total line of nvfab perf: IOPS, MiB/s, and mean, min, max latency in us."""
    total = [line for line in out.splitlines() if line.startswith("Total")][0]
    return [float(x) for x in total.split(":", 1)[1].split()[:5]]


@pytest.mark.parametrize("digests", [(False, False), (True, True), (True, False)],
                         ids=["plain", "digests-both-hops", "digests-backend-hop"])
def test_spdk_attach_and_verified_io(tmp_path, digests):
    back_dgst, front_dgst = digests
    be = backend(tmp_path)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        names = ok(gw.rpc("bdev_nvme_attach_controller",
                          attach_json(be.port, hdgst=back_dgst, ddgst=back_dgst)))
        assert names == ["Remote0n1", "Remote0n2", "Remote0n3"]
        ctrlrs = ok(gw.rpc("bdev_nvme_get_controllers"))
        assert len(ctrlrs) == 1 and ctrlrs[0]["name"] == "Remote0"
        c = ctrlrs[0]["ctrlrs"][0]
        assert c["state"] == "enabled" and c["cntlid"] >= 1
        assert c["trid"] == {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1",
                             "trsvcid": str(be.port), "subnqn": BACKEND_NQN}
        bdevs = {b["name"]: b for b in ok(gw.rpc("bdev_get_bdevs"))}
        assert bdevs["Remote0n1"]["block_size"] == 4096 and bdevs["Remote0n1"]["num_blocks"] == 16384
        assert bdevs["Remote0n2"]["block_size"] == 512 and bdevs["Remote0n2"]["num_blocks"] == 65536
        assert bdevs["Remote0n1"]["product_name"] == "NVMe disk"
        port = harness.free_port()
        export(gw, names, port)
        dg = ["-g", "-G"] if front_dgst else []
        # 4 KiB writes go in-capsule, 128 KiB ones by R2T; both block sizes; RAM and file. At
        # QD1 a 128 KiB read's C2HData and a write's H2CData are foretold on each hop (one
        # readv for header and data, tcp_rx.c): with digests too, the data must still verify.
        for args in (["-q", "16", "-o", "4096"], ["-q", "4", "-o", "128k"], ["-q", "1", "-o", "128k"]):
            out = perf(port, "-w", "randrw", "--verify", *args, *dg)
            assert "errors: 0 I/O, 0 verify" in out, out[-2000:]
        assert gw.alive() and be.alive()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


def test_null_backend_through_the_gateway(tmp_path):
    """Null namespaces (512 and 4096-byte blocks) behind the gateway: reads and writes, 4 KiB
    in-capsule and 128 KiB by R2T, complete without an error. (A null bdev stores nothing, so
    there is nothing to verify: nvfab perf refuses --verify on one.)"""
    port = harness.free_port()
    bdevs = [("null", "Null4k", 65536, 4096), ("null", "Null512", 524288, 512)]
    be = harness.Target(harness.simple_config(port, bdevs=bdevs, subnqn=BACKEND_NQN),
                        tmpdir=str(tmp_path / "backend"))
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        names = ok(gw.rpc("bdev_nvme_attach_controller", attach_json(port)))
        assert names == ["Remote0n1", "Remote0n2"]
        fport = harness.free_port()
        export(gw, names, fport)
        for args in (["-q", "16", "-o", "4096"], ["-q", "4", "-o", "128k"]):
            out = perf(fport, "-w", "randrw", *args)
            assert perf_total(out)[0] > 0 and "errors:" not in out, out[-2000:]
        assert gw.alive() and be.alive()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


def test_reset_controller_during_verified_io(tmp_path):
    """SPDK's bdev_nvme_reset_controller, twice, while a verified randrw run goes through the
    gateway: the backend controller is a new one each time (its cntlid changes), the I/O in
    flight is resent, and the run ends without an error."""
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    p = None
    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port, ctrlr_loss_timeout_sec=10,
                                                             reconnect_delay_sec=1)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        assert gw.rpc("bdev_nvme_reset_controller", {"name": "Nope"})["error"]["code"] == -19
        p = perf_start(port, "-q", "8", "-o", "4096", "-w", "randrw", "--verify", "-t", "4")
        cntlids = [ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]["cntlid"]]
        for _ in range(2):
            time.sleep(1)
            assert ok(gw.rpc("bdev_nvme_reset_controller", {"name": "Remote0"})) is True
            cntlids.append(ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]["cntlid"])
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and "errors: 0 I/O, 0 verify" in out, out[-3000:]
        assert len(set(cntlids)) == 3, cntlids
        assert gw.alive() and be.alive()
    finally:
        if p and p.poll() is None:
            p.kill()
            p.communicate()
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


def test_commands_and_status_pass_through(tmp_path):
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        st, _, idns = admin.identify(0, nsid=1)
        assert st == 0 and struct.unpack_from("<Q", idns, 0)[0] == 16384
        # the backend's answers, unchanged: LBA out of range, miscompare
        st, _ = io.read(1, 16383, 8192)
        assert st == SC_LBA_RANGE | DNR, hex(st)
        assert io.write(1, 0, b"\xaa" * 4096)[0] == 0
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x05, cid, 1, 0, 0, 0, sgl_len=4096, sgl_type=0x01), b"\xbb" * 4096))
        assert io.wait_completion(cid)[0] & 0x7FF == SC_COMPARE_FAILED
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x05, cid, 1, 0, 0, 0, sgl_len=4096, sgl_type=0x01), b"\xaa" * 4096))
        assert io.wait_completion(cid)[0] == 0
        # Write Zeroes, DSM, Flush, FUA write reach the backend and do what they say
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x08, cid, 1, 0, 0, 0)))
        assert io.wait_completion(cid)[0] == 0
        assert io.read(1, 0, 4096)[1] == bytes(4096)
        io.write(1, 100, b"\x11" * 8192)
        ranges = struct.pack("<IIQ", 0, 1, 100) + struct.pack("<IIQ", 0, 1, 101)
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x09, cid, 1, 1, 1 << 2, 0, sgl_len=len(ranges), sgl_type=0x01), ranges))
        assert io.wait_completion(cid)[0] == 0
        assert io.read(1, 100, 8192)[1] == bytes(8192)
        for nsid in (1, 0xFFFFFFFF):
            cid = io.next_cid()
            io.send(io.capsule(io.sqe(0x00, cid, nsid)))
            assert io.wait_completion(cid)[0] == 0
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x01, cid, 1, 3, 0, 1 << 30, sgl_len=4096, sgl_type=0x01), b"\x42" * 4096))
        assert io.wait_completion(cid)[0] == 0
        admin.close()
        io.close()
        # and the data is on the backend, read there directly
        admin, bio, _ = n.connect_io(be.port, BACKEND_NQN)
        assert bio.read(1, 3, 4096)[1] == b"\x42" * 4096
        admin.close()
        bio.close()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


def test_save_config_round_trip_and_detach_rules(tmp_path):
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    gw2 = None
    try:
        # SPDK's module settings: taken before any controller, refused after (-EPERM), saved
        assert ok(gw.rpc("bdev_nvme_set_options", {"keep_alive_timeout_ms": 4000,
                                                   "transport_retry_count": 4})) is True
        r = gw.rpc("bdev_nvme_set_options", {"ctrlr_loss_timeout_sec": 5})
        assert "reconnect_delay_sec" in r["error"]["message"], r
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port, ctrlr_loss_timeout_sec=10,
                                                             reconnect_delay_sec=1)))
        assert gw.rpc("bdev_nvme_set_options", {"keep_alive_timeout_ms": 2000})["error"]["code"] == -1
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        assert io.write(1, 7, b"\x5a" * 4096)[0] == 0
        admin.close()
        io.close()
        # detaching a controller whose namespace is exported is refused; unknown is ENODEV
        r = gw.rpc("bdev_nvme_detach_controller", {"name": "Remote0"})
        assert r["error"]["code"] == -16, r
        r = gw.rpc("bdev_nvme_detach_controller", {"name": "Nope"})
        assert r["error"]["code"] == -19, r
        # the same name and path again is refused as SPDK refuses it
        r = gw.rpc("bdev_nvme_attach_controller", attach_json(be.port))
        assert r["error"]["code"] == -114 and "specified network path" in r["error"]["message"], r
        cfg = ok(gw.rpc("save_config"))
        bdev_calls = [s for s in cfg["subsystems"] if s["subsystem"] == "bdev"][0]["config"]
        attach = [c for c in bdev_calls if c["method"] == "bdev_nvme_attach_controller"]
        assert len(attach) == 1
        p = attach[0]["params"]
        assert (p["name"], p["traddr"], p["trsvcid"], p["subnqn"]) == \
            ("Remote0", "127.0.0.1", str(be.port), BACKEND_NQN)
        assert p["ctrlr_loss_timeout_sec"] == 10 and p["reconnect_delay_sec"] == 1
        assert not any(c["method"] == "bdev_malloc_create" for c in bdev_calls)
        opts = [c["params"] for c in bdev_calls if c["method"] == "bdev_nvme_set_options"]
        assert len(opts) == 1 and opts[0]["keep_alive_timeout_ms"] == 4000, opts
        # the saved config loads back: same namespace, same data (it lives on the backend)
        # at once, as SPDK's scripts do (both calls in one write): the namespaces are still
        # letting go (reactors drop their channels after the reply); the controller goes
        # when they have
        r = gw.rpc_pipelined([("nvmf_delete_subsystem", {"nqn": GW_NQN}),
                              ("bdev_nvme_detach_controller", {"name": "Remote0"})])
        assert [x.get("result") for x in r] == [True, True], r
        assert ok(gw.rpc("bdev_nvme_get_controllers")) == []
        assert gw.stop() == 0
        gw2 = harness.Target(cfg, tmpdir=str(tmp_path / "gateway2"))
        admin, io, _ = n.connect_io(port, GW_NQN)
        assert io.read(1, 7, 4096)[1] == b"\x5a" * 4096
        admin.close()
        io.close()
    finally:
        if gw.alive():
            gw.stop()
        if gw2:
            assert gw2.stop() == 0, gw2.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


@pytest.mark.parametrize("params,expect", [
    ({"trtype": "rdma"}, "TCP only"),
    ({"subnqn": ""}, "subnqn"),
    ({"adrfam": "fc"}, "adrfam"),
    ({"multipath": "active"}, "multipath"),
    ({"ctrlr_loss_timeout_sec": 5}, "reconnect_delay_sec"),
    ({"prchk_guard": True}, "prchk_guard"),
    ({"bogus": 1}, "bogus"),
])
def test_attach_bad_params(tmp_path, params, expect):
    gw = harness.Target(tmpdir=str(tmp_path))
    try:
        r = gw.rpc("bdev_nvme_attach_controller", attach_json(9, **params))
        assert "error" in r and expect in r["error"]["message"], r
        assert ok(gw.rpc("bdev_get_bdevs")) == []
    finally:
        assert gw.stop() == 0


def test_attach_unreachable_and_wrong_nqn(tmp_path):
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        r = gw.rpc("bdev_nvme_attach_controller", attach_json(harness.free_port()), timeout=30)
        assert "error" in r and "cannot attach Remote0" in r["error"]["message"], r
        r = gw.rpc("bdev_nvme_attach_controller",
                   attach_json(be.port, subnqn="nqn.2026-12.io.nvfab:nosuch"), timeout=30)
        assert "error" in r and "nosuch" in r["error"]["message"], r
        assert ok(gw.rpc("bdev_get_bdevs")) == [] and ok(gw.rpc("bdev_nvme_get_controllers")) == []
        assert gw.alive()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0


def fua_write(io, lba, data):
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x01, cid, 1, lba, 0, (1 << 30), sgl_len=len(data), sgl_type=0x01),
                       data))
    return io.wait_completion(cid)[0]


def test_backend_killed_and_restarted_no_acknowledged_write_lost(tmp_path):
    """The backend nvfabd (file namespace) is SIGKILLed and restarted 20 times (4 under
    valgrind) while a host
    writes with FUA through the gateway (ctrlr_loss_timeout_sec 30, reconnect_delay_sec 1): the
    host sees no error, only delays, and every write it saw acknowledged is on the file."""
    import random
    import threading
    path = str(tmp_path / "backend.img")
    with open(path, "wb") as f:
        f.truncate(16 << 20)
    bport = harness.free_port()
    bcfg = harness.simple_config(bport, bdevs=(("file", "File0", 0, 4096, path),), subnqn=BACKEND_NQN)
    backends = [harness.Target(bcfg, tmpdir=str(tmp_path / "backend0"))]
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    rng = random.Random(1234)
    cycles = 4 if harness.WRAPPER else 20  # under valgrind: fewer, each takes seconds
    acked = {}
    acked_seq = []
    done = threading.Event()
    failures = []

    def wait_writes(n):
        """Until the host saw n more writes acknowledged (through the current backend)."""
        start, deadline = len(acked_seq), time.time() + 40
        while len(acked_seq) < start + n:
            if time.time() > deadline:
                raise TimeoutError(f"no write acknowledged for 40 s (backend {len(backends) - 1})")
            time.sleep(0.01)

    def killer():
        try:
            for cycle in range(cycles):
                wait_writes(10)
                time.sleep(rng.uniform(0.0, 0.2))  # with writes in flight
                be = backends[-1]
                be.proc.kill()  # SIGKILL: nothing flushed, no goodbye to the gateway
                be.proc.wait()
                be.log.close()
                time.sleep(rng.uniform(0.1, 1.0))
                backends.append(harness.Target(bcfg, tmpdir=str(tmp_path / f"backend{cycle + 1}")))
            wait_writes(10)
        except Exception as e:  # reported by the main thread
            failures.append(e)
        finally:
            done.set()

    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(bport, ctrlr_loss_timeout_sec=30,
                                                             reconnect_delay_sec=1)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        io.s.settimeout(20)
        seq = 0
        last_ka = time.time()
        t = threading.Thread(target=killer)
        t.start()
        while not done.is_set():
            seq += 1
            lba = seq % 4096
            data = struct.pack("<QQ", seq, lba) * 256
            st = fua_write(io, lba, data)
            assert st == 0, f"write {seq} failed with {st:#x}"
            acked[lba] = data
            acked_seq.append(seq)
            if time.time() - last_ka > 5:
                cid = admin.next_cid()
                admin.send(admin.capsule(admin.sqe(0x18, cid)))
                assert admin.wait_completion(cid)[0] == 0
                last_ka = time.time()
        t.join()
        assert not failures, failures
        admin.close()
        io.close()
        assert len(backends) == cycles + 1 and len(acked_seq) >= 10 * (cycles + 1), \
            (len(backends), len(acked_seq))
        with open(path, "rb") as f:
            for lba, data in acked.items():
                f.seek(lba * 4096)
                assert f.read(4096) == data, f"LBA {lba}: an acknowledged write is lost"
        assert gw.alive()
    finally:
        done.wait(60)
        assert gw.stop() == 0, gw.read_log()[-3000:]
        for be in backends:
            if be.alive():
                be.stop()


def test_backend_gone_for_good_fails_io_with_a_path_error(tmp_path):
    """The backend dies and does not come back: once ctrlr_loss_timeout_sec passes, the host's
    I/O fails with a path error (0x370, no DNR: a host retries or fails over), nothing hangs,
    the controller shows "failed", and the gateway still exits cleanly."""
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port, ctrlr_loss_timeout_sec=2,
                                                             reconnect_delay_sec=1)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        io.s.settimeout(30)
        assert io.write(1, 0, b"\x01" * 4096)[0] == 0
        be.proc.kill()
        be.proc.wait()
        t0 = time.monotonic()
        st = io.write(1, 0, b"\x02" * 4096)[0]
        took = time.monotonic() - t0
        assert st & 0x7FF == 0x370 and not st & DNR, hex(st)
        assert 1.5 < took < 15, took  # held while ctrlr_loss_timeout_sec lasted, then failed
        st, _ = io.read(1, 0, 4096)  # and at once from now on
        assert st & 0x7FF == 0x370, hex(st)
        assert harness.wait_for(
            lambda: ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]["state"] == "failed", 15)
        admin.close()
        io.close()
        assert gw.alive()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        be.stop()


def ns_config(nqn, addrs, bdev_calls, ns_bdevs):
    addrs = [addrs] if isinstance(addrs, str) else addrs
    return {"subsystems": [
        {"subsystem": "bdev", "config": bdev_calls},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": nqn, "allow_any_host": True}}] +
            [{"method": "nvmf_subsystem_add_ns", "params": {"nqn": nqn, "namespace": {"bdev_name": b}}}
             for b in ns_bdevs] +
            [{"method": "nvmf_subsystem_add_listener", "params": {"nqn": nqn, "listen_address": {
                "trtype": "TCP", "adrfam": "IPv4", "traddr": addr, "trsvcid": "4420"}}}
             for addr in addrs]}]}


# SPDK's module setting for the keep-alive timeout (10 s by default): how soon a silent link
# is noticed.
FAST_KEEP_ALIVE = {"method": "bdev_nvme_set_options", "params": {"keep_alive_timeout_ms": 2000}}
TOPO = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "netns-topology.sh")


@pytest.fixture
def topology():
    """host, gateway and storage in network namespaces of their own (scripts/netns-topology.sh),
    two links between gateway and storage; yields the prefix, removes them afterwards."""
    import shutil
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for network namespaces")
    prefix = f"nvg{os.getpid() % 100000}"
    r = subprocess.run([TOPO, "up", prefix], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot create network namespaces here: {r.stderr.strip()[-300:]}")
    try:
        yield prefix
    finally:
        subprocess.run([TOPO, "down", prefix], check=False)


def host_perf(prefix, *args):
    """nvfab perf in the host namespace against the gateway's subsystem (a Popen)."""
    return perf_start(4420, *args, addr="10.201.1.2", netns=f"{prefix}-host")


@contextlib.contextmanager
def storage_and_gateway(tmp_path, prefix, storage_addrs="10.201.2.2", settings=(), **attach):
    """In the topology: the storage (a 64 MiB RAM namespace, listening on storage_addrs) and the
    gateway (settings calls, then attach_json(**attach) to the first storage address; the
    namespace exported on 10.201.1.2:4420). Yields (storage, gateway, perf processes list);
    those processes are killed if still running, and both daemons must exit cleanly."""
    addrs = [storage_addrs] if isinstance(storage_addrs, str) else storage_addrs
    st = gw = None
    procs = []
    try:
        st = harness.Target(ns_config(BACKEND_NQN, addrs,
                                      [harness.bdev_call("ram", "Ram0", 16384, 4096)], ["Ram0"]),
                            tmpdir=str(tmp_path / "storage"), netns=f"{prefix}-storage")
        call = {"method": "bdev_nvme_attach_controller",
                "params": dict(attach_json(4420, **attach), traddr=addrs[0])}
        gw = harness.Target(ns_config(GW_NQN, "10.201.1.2", list(settings) + [call], ["Remote0n1"]),
                            tmpdir=str(tmp_path / "gateway"), netns=f"{prefix}-gateway")
        yield st, gw, procs
        assert gw.alive() and st.alive()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        for t in (gw, st):
            if t:
                assert t.stop() == 0, t.read_log()[-3000:]


def test_backend_link_cut_shorter_than_the_loss_timeout(tmp_path, topology):
    """The gateway-storage link goes down for 3 s during a verified randrw run through the
    gateway (ctrlr_loss_timeout_sec 10): the run finishes with no I/O error and no mismatch."""
    with storage_and_gateway(tmp_path, topology, ctrlr_loss_timeout_sec=10,
                             reconnect_delay_sec=1) as (st, gw, procs):
        p = host_perf(topology, "-q", "8", "-o", "4096", "-w", "randrw", "--verify", "-t", "10")
        procs.append(p)
        time.sleep(3)
        subprocess.run([TOPO, "cut", topology, "storage"], check=True)
        time.sleep(3)
        subprocess.run([TOPO, "heal", topology, "storage"], check=True)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and "errors: 0 I/O, 0 verify" in out, out[-3000:]
        assert perf_total(out)[4] > 2.5e6, "the cut did not stall I/O"


def test_slowed_backend_link(tmp_path, topology):
    """The gateway-storage link slowed to 40 Mbit/s (tc tbf; scripts/netns-topology.sh rate):
    a verified randrw run of 128 KiB I/O through the gateway is slow and has no error."""
    if harness.UNDER_VALGRIND:
        pytest.skip("the network's behaviour, not memory: the same paths run under ASan")
    with storage_and_gateway(tmp_path, topology, ctrlr_loss_timeout_sec=10,
                             reconnect_delay_sec=1) as (st, gw, procs):
        subprocess.run([TOPO, "rate", topology, "storage", "40mbit"], check=True)
        p = host_perf(topology, "-q", "4", "-o", "128k", "-w", "randrw", "--verify", "-t", "4")
        procs.append(p)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and "errors: 0 I/O, 0 verify" in out, out[-3000:]
        mib_s = perf_total(out)[1]
        # 40 Mbit/s is 5 MB/s for the writes (the shaper is on the gateway's way out); the
        # reads between them come back unshaped, about as many: ~10 MiB/s in all, against
        # hundreds unshaped
        assert 0 < mib_s < 25, out[-1000:]


def test_failover_when_the_active_path_is_cut(tmp_path, topology):
    """Two paths to the storage subsystem (its listeners on two links), added as SPDK adds a
    failover path (a second attach call with the same name). The active path's link is cut
    for good during a verified randrw run: the gateway moves to the other path, resends what
    was in flight there, and the run finishes with no I/O error and no mismatch."""
    with storage_and_gateway(tmp_path, topology, ["10.201.2.2", "10.201.3.2"], [FAST_KEEP_ALIVE],
                             ctrlr_loss_timeout_sec=30, reconnect_delay_sec=1,
                             multipath="failover") as (st, gw, procs):
        second = dict(attach_json(4420, ctrlr_loss_timeout_sec=30, reconnect_delay_sec=1,
                                  multipath="failover"), traddr="10.201.3.2")
        assert ok(gw.rpc("bdev_nvme_attach_controller", second)) == []
        r = gw.rpc("bdev_nvme_attach_controller", second)
        assert r["error"]["code"] == -114 and "network path" in r["error"]["message"], r
        r = gw.rpc("bdev_nvme_attach_controller", dict(second, multipath="disable"))
        assert "multipath is disabled" in r["error"]["message"], r
        c = ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]
        assert c["trid"]["traddr"] == "10.201.2.2", c
        assert [t["traddr"] for t in c["alternate_trids"]] == ["10.201.3.2"], c
        p = host_perf(topology, "-q", "8", "-o", "4096", "-w", "randrw", "--verify", "-t", "10")
        procs.append(p)
        time.sleep(3)
        subprocess.run([TOPO, "cut", topology, "storage"], check=True)
        out, _ = p.communicate(timeout=90)
        assert p.returncode == 0 and "errors: 0 I/O, 0 verify" in out, \
            out[-3000:] + gw.read_log()[-3000:]
        c = ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]
        assert c["state"] == "enabled" and c["trid"]["traddr"] == "10.201.3.2", c
        log = gw.read_log()
        # keep-alive noticed the silent link, with bdev_nvme_set_options' timeout
        assert "Keep Alive unanswered for 2000 ms" in log and "failing over to 10.201.3.2" in log
        # save_config repeats the attach call for the second path
        calls = [m for s in ok(gw.rpc("save_config"))["subsystems"] if s["subsystem"] == "bdev"
                 for m in s["config"] if m["method"] == "bdev_nvme_attach_controller"]
        assert sorted(m["params"]["traddr"] for m in calls) == ["10.201.2.2", "10.201.3.2"], calls


def test_link_cut_longer_than_the_loss_timeout_then_recovery(tmp_path, topology):
    """The only path's link is cut for longer than ctrlr_loss_timeout_sec (3 s): the host's I/O
    fails with errors after that (no hang: the run ends on time), and when the link returns
    the gateway connects again by itself and a verified run through it is clean."""
    if harness.UNDER_VALGRIND:
        pytest.skip("timing of keep-alive and the loss timeout; the same paths run under ASan")

    def state(gw):
        return ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]["state"]

    with storage_and_gateway(tmp_path, topology, settings=[FAST_KEEP_ALIVE],
                             ctrlr_loss_timeout_sec=3, reconnect_delay_sec=1) as (st, gw, procs):
        p = host_perf(topology, "-q", "8", "-o", "4096", "-w", "randrw", "-t", "10")
        procs.append(p)
        time.sleep(2)
        subprocess.run([TOPO, "cut", topology, "storage"], check=True)
        t0 = time.monotonic()
        assert harness.wait_for(lambda: state(gw) == "failed", 30)
        out, _ = p.communicate(timeout=60)
        assert p.returncode != 0 and "errors: 0 I/O" not in out, out[-3000:]
        subprocess.run([TOPO, "heal", topology, "storage"], check=True)
        print(f"failed {time.monotonic() - t0:.1f} s after the cut")
        assert harness.wait_for(lambda: state(gw) == "enabled", 30)
        p = host_perf(topology, "-q", "8", "-o", "4096", "-w", "randrw", "--verify", "-t", "3")
        procs.append(p)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0 and "errors: 0 I/O, 0 verify" in out, \
            out[-3000:] + gw.read_log()[-3000:]


def test_backend_namespace_changes_follow_through_the_gateway(tmp_path):
    """The backend's subsystem loses a namespace and gains one at run time: the gateway hears
    of it (Namespace Attribute Changed), hot-removes the gone namespace's bdev, so that its
    own subsystem drops the namespace and its host gets a notice of its own; the new namespace
    becomes a bdev, which can be exported and serves I/O."""
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        assert ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port))) == \
            ["Remote0n1", "Remote0n2"]
        port = harness.free_port()
        export(gw, ["Remote0n1", "Remote0n2"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        admin.s.settimeout(20)
        assert admin.set_features(0x0B, 1 << 8)[0] == 0  # namespace attribute notices
        aer_cid = admin.async_event_request()
        assert io.write(2, 3, b"\x77" * 512, block=512)[0] == 0
        # the backend drops namespace 2
        ok(be.rpc("nvmf_subsystem_remove_ns", {"nqn": BACKEND_NQN, "nsid": 2}))
        st, dw0 = admin.wait_completion(aer_cid)
        assert st == 0 and dw0 & 7 == 2 and (dw0 >> 16) & 0xFF == 0x04, hex(dw0)
        st, _, log = admin.admin_read(0x02, 4096, nsid=0xFFFFFFFF, cdw10=0x04 | ((4096 // 4 - 1) << 16))
        assert st == 0 and struct.unpack_from("<I", log, 0)[0] == 2
        st, _, lst = admin.identify(2)
        assert struct.unpack_from("<II", lst, 0) == (1, 0)
        assert harness.wait_for(lambda: "Remote0n2" not in
                                [b["name"] for b in ok(gw.rpc("bdev_get_bdevs"))], 20)
        assert io.read(1, 0, 4096)[0] == 0  # the other namespace carries on
        # the backend gains a namespace: a new bdev on the gateway, exportable
        ok(be.rpc("bdev_malloc_create", {"name": "New0", "num_blocks": 2048, "block_size": 4096}))
        assert ok(be.rpc("nvmf_subsystem_add_ns", {"nqn": BACKEND_NQN,
                                                   "namespace": {"bdev_name": "New0", "nsid": 7}})) == 7
        assert harness.wait_for(lambda: "Remote0n7" in
                                [b["name"] for b in ok(gw.rpc("bdev_get_bdevs"))], 20)
        aer_cid = admin.async_event_request()
        assert ok(gw.rpc("nvmf_subsystem_add_ns", {"nqn": GW_NQN,
                                                   "namespace": {"bdev_name": "Remote0n7"}})) == 2
        st, dw0 = admin.wait_completion(aer_cid)
        assert st == 0 and dw0 & 7 == 2, hex(dw0)
        assert io.write(2, 5, b"\x99" * 4096)[0] == 0
        assert io.read(2, 5, 4096) == (0, b"\x99" * 4096)
        admin.close()
        io.close()
        assert gw.alive() and be.alive()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


def test_backend_namespace_resize_follows_through_the_gateway(tmp_path):
    """The backend's namespace grows (bdev_null_resize there): the gateway hears of it,
    identifies the namespace again, and its bdev grows in place: the exported namespace stays,
    its host gets a notice naming it, Identify reports the new size and the new blocks take
    I/O through both hops. A resize while the backend is down arrives on reconnect; a new
    block size is another namespace."""
    bport = harness.free_port()

    def backend_with_null(blocks, name):
        """(A new random UUID each time, as SPDK's null bdevs get: the same namespace anyway.)"""
        cfg = harness.simple_config(bport, bdevs=[("null", "Null0", blocks, 4096)], subnqn=BACKEND_NQN)
        return harness.Target(cfg, tmpdir=str(tmp_path / name))

    be = backend_with_null(4096, "backend")
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        assert ok(gw.rpc("bdev_nvme_attach_controller", attach_json(bport))) == ["Remote0n1"]
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        admin.s.settimeout(20)
        assert admin.set_features(0x0B, 1 << 8)[0] == 0
        aer_cid = admin.async_event_request()

        def gw_blocks():
            return [b for b in ok(gw.rpc("bdev_get_bdevs")) if b["name"] == "Remote0n1"][0]["num_blocks"]

        def nsze():
            st, _, data = admin.identify(0, nsid=1)
            assert st == 0
            return struct.unpack_from("<Q", data, 0)[0]

        assert ok(be.rpc("bdev_null_resize", {"name": "Null0", "new_size": 48})) is True
        st, dw0 = admin.wait_completion(aer_cid)
        assert st == 0 and dw0 & 7 == 2 and (dw0 >> 16) & 0xFF == 0x04, hex(dw0)
        assert gw_blocks() == 48 * 256 and nsze() == 48 * 256
        st, _, log = admin.admin_read(0x02, 4096, nsid=0xFFFFFFFF, cdw10=0x04 | ((4096 // 4 - 1) << 16))
        assert st == 0 and struct.unpack_from("<II", log, 0) == (1, 0)
        assert io.write(1, 48 * 256 - 1, b"\x42" * 4096)[0] == 0
        assert io.read(1, 48 * 256 - 1, 4096)[0] == 0
        assert io.read(1, 48 * 256, 4096)[0] & 0x7FF == SC_LBA_RANGE

        # The backend goes away, grows while it is gone, and comes back: the new connection
        # raised no notice, the gateway looks again anyway.
        aer_cid = admin.async_event_request()
        be.stop()
        be = backend_with_null(80 * 256, "backend2")
        assert harness.wait_for(lambda: gw_blocks() == 80 * 256, 30), gw.read_log()[-3000:]
        st, dw0 = admin.wait_completion(aer_cid)
        assert st == 0 and dw0 & 7 == 2, hex(dw0)
        assert nsze() == 80 * 256
        assert harness.wait_for(lambda: io.write(1, 80 * 256 - 1, b"\x43" * 4096)[0] == 0, 20)

        # Back with another block size: another namespace under the same NSID. The exported
        # one goes (its host is told), and a new bdev of 512-byte blocks takes the name.
        be.stop()
        cfg = harness.simple_config(bport, bdevs=[("null", "Null0", 8192, 512)], subnqn=BACKEND_NQN)
        be = harness.Target(cfg, tmpdir=str(tmp_path / "backend3"))

        def remote_block_size():
            return [b["block_size"] for b in ok(gw.rpc("bdev_get_bdevs")) if b["name"] == "Remote0n1"]
        assert harness.wait_for(lambda: remote_block_size() == [512], 30), gw.read_log()[-3000:]
        st, _, lst = admin.identify(2)
        assert st == 0 and struct.unpack_from("<I", lst, 0)[0] == 0  # nothing exported now
        admin.close()
        io.close()
        assert gw.alive() and be.alive()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        be.stop()


def test_fast_io_fail_then_recovery_when_the_backend_returns(tmp_path):
    """fast_io_fail_timeout_sec 2 with ctrlr_loss_timeout_sec 30: with the backend gone, held
    I/O fails with a path error after ~2 s and new I/O fails at once, while the gateway keeps
    reconnecting; when the backend is back, I/O through the gateway works again, with the data
    written before the outage (file backend)."""
    path = str(tmp_path / "backend.img")
    with open(path, "wb") as f:
        f.truncate(16 << 20)
    bport = harness.free_port()
    bcfg = harness.simple_config(bport, bdevs=(("file", "File0", 0, 4096, path),), subnqn=BACKEND_NQN)
    be = harness.Target(bcfg, tmpdir=str(tmp_path / "backend0"))
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        r = gw.rpc("bdev_nvme_attach_controller", attach_json(
            bport, ctrlr_loss_timeout_sec=30, reconnect_delay_sec=1, fast_io_fail_timeout_sec=40))
        assert "fast_io_fail_timeout_sec" in r["error"]["message"], r  # must be below the loss
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(
            bport, ctrlr_loss_timeout_sec=30, reconnect_delay_sec=1, fast_io_fail_timeout_sec=2)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        io.s.settimeout(30)
        assert fua_write(io, 5, b"\x33" * 4096) == 0
        be.proc.kill()
        be.proc.wait()
        be.log.close()
        t0 = time.monotonic()
        st = fua_write(io, 6, b"\x44" * 4096)
        took = time.monotonic() - t0
        assert st & 0x7FF == 0x370 and not st & DNR and 1.5 < took < 10, (hex(st), took)
        t0 = time.monotonic()
        assert io.read(1, 5, 4096)[0] & 0x7FF == 0x370 and time.monotonic() - t0 < 1
        be = harness.Target(bcfg, tmpdir=str(tmp_path / "backend1"))
        deadline = time.monotonic() + 20
        while True:
            st, data = io.read(1, 5, 4096)
            if st == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert st == 0 and data == b"\x33" * 4096, hex(st)
        assert fua_write(io, 6, b"\x55" * 4096) == 0
        assert ok(gw.rpc("bdev_nvme_get_controllers"))[0]["ctrlrs"][0]["state"] == "enabled"
        admin.close()
        io.close()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        be.stop()


class Proxy:
    """A TCP proxy to a backend for the tests. Each accepted connection (numbered from 0: the
    first is the admin queue's) is forwarded when forward(conn) says so, else held open without
    a word; relay(a, b, conn, from_backend) moves one direction's bytes (harness.pump here)."""

    def __init__(self, to_port):
        self.to_port, self.socks, self.held = to_port, [], []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def forward(self, conn):
        return True

    def relay(self, a, b, conn, from_backend):
        harness.pump(a, b)

    @staticmethod
    def shut(*socks):
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self):
        conn = 0
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if not self.forward(conn):
                self.held.append(c)
            else:
                u = socket.create_connection(("127.0.0.1", self.to_port))
                self.socks += [c, u]
                for args in ((c, u, conn, False), (u, c, conn, True)):
                    threading.Thread(target=self.relay, args=args, daemon=True).start()
            conn += 1

    def close(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.lsock.close()
        for c in self.socks + self.held:
            c.close()


class HoldingProxy(Proxy):
    """Forwards its first `forwarded` connections and then accepts new ones without a word (a
    backend whose I/O queue connects hang: ICReq never answered), until release() lets new
    ones through."""

    def __init__(self, to_port, forwarded=1):
        self.left = forwarded
        super().__init__(to_port)

    def release(self):
        self.left = 1 << 30

    def forward(self, conn):
        self.left -= 1
        return self.left >= 0


LOCAL_NQN = "nqn.2026-12.io.nvfab:gateway-local"


@contextlib.contextmanager
def held_io_queues(tmp_path):
    """A gateway with one reactor whose backend answers its admin queue but holds every I/O
    queue connection without a word (HoldingProxy; tcp_connect_timeout_ms 3000), exporting
    Remote0n1 and, on the same port and reactor, a local null namespace (LOCAL_NQN). Yields
    (gateway, proxy, port); stops everything after."""
    be = backend(tmp_path, with_file=False)
    proxy = HoldingProxy(be.port, forwarded=1)  # the admin queue only
    gw = harness.Target(args=["-m", "0x1"], tmpdir=str(tmp_path / "gateway"))
    try:
        ok(gw.rpc("bdev_nvme_set_options", {"tcp_connect_timeout_ms": 3000}))
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(proxy.port)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        ok(gw.rpc("bdev_null_create", {"name": "Local0", "num_blocks": 4096, "block_size": 4096}))
        ok(gw.rpc("nvmf_create_subsystem", {"nqn": LOCAL_NQN, "allow_any_host": True}))
        ok(gw.rpc("nvmf_subsystem_add_ns", {"nqn": LOCAL_NQN, "namespace": {"bdev_name": "Local0"}}))
        ok(gw.rpc("nvmf_subsystem_add_listener", {"nqn": LOCAL_NQN, "listen_address": {
            "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}))
        yield gw, proxy, port
        assert gw.alive()
    finally:
        proxy.release()
        assert gw.stop() == 0, gw.read_log()[-3000:]
        be.stop()
        proxy.close()


def slowest_read(io, secs):
    """The longest of back-to-back 4 KiB reads of namespace 1 over secs seconds (each must
    succeed)."""
    t0, worst = time.monotonic(), 0.0
    while time.monotonic() - t0 < secs:
        t = time.monotonic()
        assert io.read(1, 0, 4096)[0] == 0
        worst = max(worst, time.monotonic() - t)
    return worst


def test_backend_io_queue_connect_that_hangs_does_not_stall_the_reactor(tmp_path):
    """The first I/O to a remote namespace on a reactor connects that reactor's backend I/O
    queue. When the backend accepts the connection and then says nothing, the connect runs
    out its timeout (tcp_connect_timeout_ms) off the reactor: a host of a local namespace on
    the same reactor is served meanwhile, the waiting I/O fails with a path error at the
    timeout, and once the backend answers again the next I/O connects and succeeds."""
    with held_io_queues(tmp_path) as (gw, proxy, port):
        ladmin, lio, _ = n.connect_io(port, LOCAL_NQN)
        assert lio.read(1, 0, 4096)[0] == 0
        admin, io, _ = n.connect_io(port, GW_NQN)
        io.s.settimeout(30)
        # The remote namespace's first read: its reactor starts connecting the backend queue.
        cid = io.next_cid()
        t0 = time.monotonic()
        io.send(io.capsule(io.sqe(0x02, cid, 1, 0, 0, 0, sgl_len=4096)))
        time.sleep(0.2)
        worst = slowest_read(lio, 1.8)  # well inside the 3 s connect timeout
        assert worst < 0.5, f"a local read took {worst:.2f} s while the backend queue connected"
        st, _ = io.wait_completion(cid, bytearray(4096))
        took = time.monotonic() - t0
        assert st & 0x7FF == 0x370 and not st & DNR, hex(st)
        assert 2.5 < took < 10, took
        assert "no I/O queue to the backend on" in gw.read_log()
        proxy.release()
        # The queue is tried again at most once a second; then I/O goes through.
        assert harness.wait_for(lambda: io.read(1, 0, 4096)[0] == 0, 15, step=0.3)
        assert io.write(1, 8, b"\x5a" * 4096)[0] == 0
        st, data = io.read(1, 8, 4096)
        assert st == 0 and data == b"\x5a" * 4096
        for c in (lio, ladmin, io, admin):
            c.close()


def rpc_send(gw, method, params):
    """Sends one call on a new RPC connection and returns the socket without reading."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(gw.sock)
    s.sendall(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode())
    return s


def test_attach_to_a_silent_backend_holds_nothing_else(tmp_path):
    """Attaching, or adding a path to, a backend that accepts and then says nothing waits out
    tcp_connect_timeout_ms off the control loop: meanwhile the gateway's hosts get their
    keep-alives answered at once, other RPC clients are served, new hosts connect, the name is
    refused as busy (attach, detach, reset), and the waiting client's next request is answered
    right after its attach, in order. A client that leaves before its answer, and a stop while
    an attach waits, leave nothing behind."""
    be = backend(tmp_path, with_file=False)
    silent = HoldingProxy(be.port, forwarded=0)
    silent_path = HoldingProxy(be.port, forwarded=0)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        ok(gw.rpc("bdev_nvme_set_options", {"tcp_connect_timeout_ms": 3000}))
        ok(gw.rpc("bdev_null_create", {"name": "Local0", "num_blocks": 4096, "block_size": 4096}))
        port = harness.free_port()
        export(gw, ["Local0"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)

        def served_meanwhile(seconds):
            """The slowest round of a keep-alive, a read and another client's RPC."""
            worst, t0 = 0.0, time.monotonic()
            while time.monotonic() - t0 < seconds:
                t = time.monotonic()
                cid = admin.next_cid()
                admin.send(admin.capsule(admin.sqe(0x18, cid)))  # Keep Alive
                assert admin.wait_completion(cid)[0] == 0
                assert io.read(1, 0, 4096)[0] == 0
                assert "result" in gw.rpc("spdk_get_version")
                worst = max(worst, time.monotonic() - t)
                time.sleep(0.1)
            return worst

        out = {}

        def waiting_client():
            t0 = time.monotonic()
            out["replies"] = gw.rpc_pipelined([
                ("bdev_nvme_attach_controller", attach_json(silent.port, name="Slow0")),
                ("bdev_nvme_get_controllers", {})], timeout=30)
            out["took"] = time.monotonic() - t0

        th = threading.Thread(target=waiting_client)
        th.start()
        time.sleep(0.3)
        worst = served_meanwhile(1.5)
        assert worst < 1.0, f"a keep-alive, read or RPC took {worst:.2f} s during the attach"
        a2, io2, _ = n.connect_io(port, GW_NQN)  # a new host meanwhile
        a2.close()
        io2.close()
        for method, params in (("bdev_nvme_attach_controller", attach_json(be.port, name="Slow0")),
                               ("bdev_nvme_detach_controller", {"name": "Slow0"}),
                               ("bdev_nvme_reset_controller", {"name": "Slow0"})):
            r = gw.rpc(method, params)
            assert r.get("error", {}).get("code") == -16 and "under way" in r["error"]["message"], r
        th.join(30)
        attach, listed = out["replies"]
        assert "cannot attach Slow0" in attach["error"]["message"], attach
        assert ok(listed) == []  # answered after the attach, on the same connection
        assert 2.5 < out["took"] < 15, out["took"]

        # A client that leaves before its answer: the answer goes to nobody.
        rpc_send(gw, "bdev_nvme_attach_controller", attach_json(silent.port, name="Slow0")).close()
        assert harness.wait_for(lambda: "answered after its client left" in gw.read_log(), 15)

        # The backend answers again: the same name attaches (the answer waited for the task).
        silent.release()
        names = ok(gw.rpc("bdev_nvme_attach_controller",
                          attach_json(silent.port, name="Slow0", multipath="failover"), timeout=30))
        assert names == ["Slow0n1", "Slow0n2"], names
        # Its second path is silent: the other clients are served while that probe waits.
        th = threading.Thread(target=lambda: out.update(path=gw.rpc(
            "bdev_nvme_attach_controller",
            attach_json(silent_path.port, name="Slow0", multipath="failover"), timeout=30)))
        th.start()
        time.sleep(0.3)
        worst = served_meanwhile(1.5)
        assert worst < 1.0, f"a keep-alive, read or RPC took {worst:.2f} s while a path was added"
        th.join(30)
        assert "cannot add 127.0.0.1:%d as a path of Slow0" % silent_path.port in \
            out["path"]["error"]["message"], out["path"]
        ctrlrs = ok(gw.rpc("bdev_nvme_get_controllers", {"name": "Slow0"}))
        assert "alternate_trids" not in ctrlrs[0]["ctrlrs"][0], ctrlrs

        # Stopping while an attach waits: nvfabd waits for it (not beyond its connect timeout).
        held = rpc_send(gw, "bdev_nvme_attach_controller",
                        attach_json(silent_path.port, name="Slow1"))
        time.sleep(0.3)
        for c in (io, admin):
            c.close()
        t0 = time.monotonic()
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert time.monotonic() - t0 < 8
        held.close()
    finally:
        gw.stop()
        be.stop()
        silent.close()
        silent_path.close()


class SlowProxy(Proxy):
    """Holds every chunk for `delay` seconds each way: the backend's answers come late, so a
    host that dies right after its commands dies with them in flight."""

    def __init__(self, to_port, delay):
        self.delay = delay
        super().__init__(to_port)

    def relay(self, a, b, conn, from_backend):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                time.sleep(self.delay)
                b.sendall(d)
        except OSError:
            pass
        self.shut(a, b)


def test_hosts_that_die_with_backend_io_in_flight(tmp_path):
    """Hosts of the gateway die (RST) right after a burst of reads, in-capsule writes, an R2T
    write whose data never comes and an AER, while the backend (behind a proxy that delays
    every chunk by 20 ms) still holds the forwarded commands: the backend's answers arrive
    for front-end queue pairs that are gone. The gateway must free each queue pair only when
    its last backend command is back (the read data lands in its buffers), keep no controller,
    file descriptor or memory (ASan), and go on serving a good host."""
    import test_robustness_hosts as rh
    be = backend(tmp_path, with_file=False)
    proxy = SlowProxy(be.port, 0.02)
    gw = harness.Target(args=["-m", "0x1"], tmpdir=str(tmp_path / "gateway"))
    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(proxy.port)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        healthy = bytes(range(256)) * 16
        admin, io, _ = n.connect_io(port, GW_NQN)
        assert io.write(1, 5000, healthy)[0] == 0  # the reactor's backend queue is up
        admin.close()
        io.close()
        pid = gw.proc.pid
        controllers = lambda: ok(gw.rpc("nvmf_subsystem_get_controllers", {"nqn": GW_NQN}))
        assert harness.wait_for(lambda: controllers() == [], 10)
        base_fds = harness.fd_count(pid)
        for i in range(100):
            rh.dying_host(port, i, GW_NQN)
        assert harness.wait_for(lambda: controllers() == [], 15), controllers()
        assert harness.wait_for(lambda: harness.fd_count(pid) <= base_fds, 10), \
            (harness.fd_count(pid), base_fds)
        assert gw.alive() and be.alive()
        # The hosts' writes went through to the backend: they died with commands forwarded.
        badmin, bio, _ = n.connect_io(be.port, BACKEND_NQN)
        written = sum(bio.read(1, lba, 4096)[1] != bytes(4096) for lba in range(64, 64 + 800))
        badmin.close()
        bio.close()
        assert written > 0, "no dying host's write reached the backend: nothing was in flight"
        admin, io, _ = n.connect_io(port, GW_NQN)
        assert io.read(1, 5000, 4096) == (0, healthy)
        assert io.write(1, 5001, healthy)[0] == 0
        assert io.read(1, 5001, 4096) == (0, healthy)
        admin.close()
        io.close()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]
        proxy.close()


class PduProxy(Proxy):
    """Reads the NVMe/TCP PDUs both ways and hands each to edit(conn, from_backend, pdu),
    which may change the bytearray before it goes on. Calls are serialised (self.lock)."""

    def __init__(self, to_port, edit):
        self.edit, self.lock = edit, threading.Lock()
        super().__init__(to_port)

    def relay(self, a, b, conn, from_backend):
        def take(k):
            buf = b""
            while len(buf) < k:
                d = a.recv(k - len(buf))
                if not d:
                    raise EOFError
                buf += d
            return buf
        try:
            while True:
                ch = take(8)
                pdu = bytearray(ch + take(struct.unpack_from("<I", ch, 4)[0] - 8))
                with self.lock:
                    self.edit(conn, from_backend, pdu)
                b.sendall(pdu)
        except (OSError, EOFError):
            pass
        self.shut(a, b)


SC_TRANSIENT_TRANSPORT = 0x22


def test_damaged_read_data_is_retried_bdev_retry_count_times(tmp_path):
    """SPDK's bdev_retry_count (default 3): a read whose data comes from the backend with a
    wrong data digest is sent again, and the host gets the right data; when every attempt
    (1 + 3) comes damaged the host gets Transient Transport Error without DNR, as from SPDK.
    The setting is checked and saved."""
    left, damaged = [0], [0]

    def edit(conn, from_backend, pdu):
        if from_backend and pdu[0] == n.PDU_C2H_DATA and left[0]:
            pdu[pdu[3]] ^= 0xFF     # the first data byte (at PDO): the digest no longer fits
            left[0] -= 1
            damaged[0] += 1

    be = backend(tmp_path, with_file=False)
    proxy = PduProxy(be.port, edit)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        r = gw.rpc("bdev_nvme_set_options", {"bdev_retry_count": -2})
        assert r["error"]["code"] == -32602 and "bdev_retry_count" in r["error"]["message"], r
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(proxy.port, ddgst=True)))
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        data = os.urandom(8192)
        assert io.write(1, 10, data)[0] == 0
        for times, want in ((1, (0, data)), (3, (0, data)), (4, SC_TRANSIENT_TRANSPORT)):
            with proxy.lock:
                left[0], damaged[0] = times, 0
            got = io.read(1, 10, 8192)
            assert (got if want != SC_TRANSIENT_TRANSPORT else got[0]) == want, (times, got[0])
            assert damaged[0] == times
        assert io.read(1, 10, 8192) == (0, data)
        assert "data digest mismatch" in gw.read_log()
        saved = [c for s in ok(gw.rpc("save_config"))["subsystems"] if s["subsystem"] == "bdev"
                 for c in s["config"] if c["method"] == "bdev_nvme_set_options"]
        assert saved and saved[0]["params"]["bdev_retry_count"] == 3, saved
        admin.close()
        io.close()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]
        proxy.close()


SC_NS_NOT_READY = 0x82
CRD_SHIFT = 11


def test_backend_status_without_dnr_is_retried_after_its_crd_delay(tmp_path):
    """A backend status that allows a retry (no DNR) sends the I/O again, up to
    bdev_retry_count times, after the delay the status's CRD field picks from the backend's
    CRDT (Identify Controller); a status with DNR goes to the host at once. A proxy rewrites
    the backend's CRDT1 to 300 ms and the status of chosen responses."""
    rewrite = {"left": 0, "status": 0, "done": 0}
    identify_cids = set()

    def edit(conn, from_backend, pdu):
        if conn == 0 and not from_backend and pdu[0] == n.PDU_CMD and pdu[8] == 0x06 \
                and pdu[8 + 40] == 0x01:        # Identify Controller (CNS 1) on the admin queue
            identify_cids.add(struct.unpack_from("<H", pdu, 10)[0])
        elif conn == 0 and from_backend and pdu[0] == n.PDU_C2H_DATA \
                and struct.unpack_from("<H", pdu, 8)[0] in identify_cids:
            struct.pack_into("<H", pdu, pdu[3] + 128, 3)       # CRDT1: 3 x 100 ms
        elif conn > 0 and from_backend and pdu[0] == n.PDU_RSP and rewrite["left"]:
            # CQE status word (offset 14 of the CQE): phase bit 0, the rest shifted by one
            struct.pack_into("<H", pdu, 8 + 14, rewrite["status"] << 1)
            rewrite["left"] -= 1
            rewrite["done"] += 1

    def write_with(proxy, io, times, status):
        with proxy.lock:
            rewrite.update(left=times, status=status, done=0)
        t0 = time.monotonic()
        st = io.write(1, 20, b"\x5a" * 4096)[0]
        return st, rewrite["done"], time.monotonic() - t0

    be = backend(tmp_path, with_file=False)
    proxy = PduProxy(be.port, edit)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(proxy.port)))
        assert identify_cids, "the proxy saw no Identify Controller"
        port = harness.free_port()
        export(gw, ["Remote0n1"], port)
        admin, io, _ = n.connect_io(port, GW_NQN)
        assert io.write(1, 20, b"\x5a" * 4096)[0] == 0     # the backend queue is up
        st, done, _ = write_with(proxy, io, 2, SC_NS_NOT_READY)
        assert (st, done) == (0, 2)
        st, done, took = write_with(proxy, io, 1, SC_NS_NOT_READY | 1 << CRD_SHIFT)
        assert (st, done) == (0, 1) and 0.3 <= took < 0.3 + 2 * harness.TIME_SLACK, took
        st, done, _ = write_with(proxy, io, 4, SC_NS_NOT_READY)
        assert (st, done) == (SC_NS_NOT_READY, 4), hex(st)
        st, done, _ = write_with(proxy, io, 2, SC_NS_NOT_READY | DNR)
        assert (st, done) == (SC_NS_NOT_READY | DNR, 1), hex(st)
        assert io.read(1, 20, 4096) == (0, b"\x5a" * 4096)
        admin.close()
        io.close()
    finally:
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]
        proxy.close()


def test_detach_from_a_silent_backend_holds_nothing_else(tmp_path):
    """bdev_nvme_detach_controller when the backend has gone silent (SIGSTOP: the connection
    stays up, nothing answers): the shutdown handshake with it waits off the control loop,
    so the call is answered at once, other RPCs are served, and the name can be attached
    again; a stop with a silent backend takes the shutdown timeout (5 s), not an admin
    command timeout per step (30 s each)."""
    be = backend(tmp_path, with_file=False)
    gw = harness.Target(tmpdir=str(tmp_path / "gateway"))
    stopped = False
    try:
        ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port)))
        os.kill(be.proc.pid, signal.SIGSTOP)
        stopped = True
        t0 = time.monotonic()
        assert ok(gw.rpc("bdev_nvme_detach_controller", {"name": "Remote0"})) is True
        assert ok(gw.rpc("bdev_get_bdevs")) == []
        took = time.monotonic() - t0
        assert took < 2 * harness.TIME_SLACK, took
        os.kill(be.proc.pid, signal.SIGCONT)
        stopped = False
        assert ok(gw.rpc("bdev_nvme_attach_controller", attach_json(be.port))) == ["Remote0n1", "Remote0n2"]
        # The first controller's shutdown handshake ends now that the backend answers.
        assert harness.wait_for(lambda: len(ok(be.rpc("nvmf_subsystem_get_controllers",
                                                      {"nqn": BACKEND_NQN}))) == 1, 10)
        os.kill(be.proc.pid, signal.SIGSTOP)
        stopped = True
        t0 = time.monotonic()
        rc = gw.stop(timeout=60)
        took = time.monotonic() - t0
        assert rc == 0, gw.read_log()[-3000:]
        assert took < 5 + 5 * harness.TIME_SLACK, took
        assert "shutdown did not complete (Property Get 0x14: Connection timed out); disconnecting anyway" in gw.read_log()
    finally:
        if stopped:
            os.kill(be.proc.pid, signal.SIGCONT)
        assert gw.stop() == 0, gw.read_log()[-3000:]
        assert be.stop() == 0, be.read_log()[-3000:]


def test_namespace_removed_while_its_backend_queue_connects(tmp_path):
    """A reactor's backend I/O queue whose first connect ran out its timeout (the backend
    accepts I/O queue connections and says nothing) is connected again every second. When the
    namespace leaves its subsystem during such an attempt, its channel and queue go: the
    reactor does not wait for the attempt (up to tcp_connect_timeout_ms) meanwhile, so a host
    of a local namespace on the same reactor is served; the attempt's thread closes what it
    made, and a detach and a stop afterwards wait for it."""
    with held_io_queues(tmp_path) as (gw, proxy, port):
        ladmin, lio, _ = n.connect_io(port, LOCAL_NQN)
        admin, io, _ = n.connect_io(port, GW_NQN)
        io.s.settimeout(30)
        st, _ = io.read(1, 0, 4096)     # waits for the first connect, which runs out
        assert st & 0x7FF == 0x370, hex(st)
        admin.close()
        io.close()
        time.sleep(0.3)                 # the next attempt is under way (one a second)
        ok(gw.rpc("nvmf_subsystem_remove_ns", {"nqn": GW_NQN, "nsid": 1}))
        worst = slowest_read(lio, 2.0)
        assert worst < 0.5 * harness.TIME_SLACK, \
            f"a local read took {worst:.2f} s while the removed namespace's queue connected"
        assert ok(gw.rpc("bdev_nvme_detach_controller", {"name": "Remote0"})) is True
        for c in (lio, ladmin):
            c.close()
