"""SPDK's xNVMe bdev methods on this machine, which has no NVMe device: every way a path can be
wrong for NVMe passthrough (io_mechanism io_uring_cmd) gets an error that names the path and
the reason, and leaves nothing behind; io_mechanism io_uring/libaio are block I/O on a file
(the file backend) and survive save_config. The passthrough data path itself runs on an
emulated NVMe SSD in the interop suite (tests/interop/passthru.sh)."""
import json
import os
import pwd
import shutil
import tempfile

import pytest

import harness
import nvmetcp as n


def call(t, method, params=None):
    return t.rpc(method, params)


def refused(t, params, *words):
    r = call(t, "bdev_xnvme_create", params)
    assert "error" in r, f"accepted: {params} -> {r}"
    msg = r["error"]["message"]
    for w in words:
        assert w in msg, f"{msg!r} does not say {w!r}"
    assert call(t, "bdev_get_bdevs")["result"] == [], "a failed create left a bdev behind"
    return msg


@pytest.fixture
def target(tmp_path):
    t = harness.Target(tmpdir=str(tmp_path))
    yield t
    assert t.stop() == 0, t.read_log()[-3000:]


def test_passthrough_refuses_what_is_not_an_nvme_generic_device(target, tmp_path):
    call(target, "bdev_get_bdevs")  # the RPC server's own descriptors exist from here
    fds = harness.fd_count(target.proc.pid)
    img = tmp_path / "plain.img"
    img.write_bytes(bytes(1 << 20))
    missing = str(tmp_path / "ng9n9")
    refused(target, {"name": "X0", "filename": missing, "io_mechanism": "io_uring_cmd"},
            missing, "No such file")
    refused(target, {"name": "X0", "filename": str(img), "io_mechanism": "io_uring_cmd"},
            str(img), "not an NVMe generic character device")
    refused(target, {"name": "X0", "filename": "/dev/null", "io_mechanism": "io_uring_cmd"},
            "/dev/null", "not an NVMe namespace's generic device")
    refused(target, {"name": "X0", "filename": str(img), "io_mechanism": "spdk"},
            "io_mechanism", "io_uring_cmd")
    refused(target, {"name": "X0", "filename": str(img)}, "io_mechanism")
    # The daemon closes an RPC connection when it sees its end, a moment after the reply: the
    # count before may still hold the first call's, the count after the last call's.
    assert harness.wait_for(lambda: harness.fd_count(target.proc.pid) <= fds, 5), \
        f"a failed create leaked a descriptor ({harness.fd_count(target.proc.pid)} open, {fds} before)"
    assert target.alive()


def test_passthrough_names_a_permission_problem(request):
    """An unprivileged daemon that may not open the device says so, and how to fix it."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the daemon as another user")
    nobody = pwd.getpwnam("nobody")
    # Outside pytest's private (0700) tree, so that nobody can reach its socket directory.
    work = tempfile.mkdtemp(prefix="nvfab-unpriv-")
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    os.chmod(work, 0o755)
    os.chown(work, nobody.pw_uid, nobody.pw_gid)
    dev = os.path.join(work, "ng0n1")
    with open(dev, "wb") as f:
        f.write(bytes(4096))
    os.chown(dev, 0, 0)
    os.chmod(dev, 0o600)
    old = harness.WRAPPER
    harness.WRAPPER = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                       "--clear-groups"] + old
    try:
        t = harness.Target(tmpdir=str(work))
    except (RuntimeError, PermissionError) as e:
        pytest.skip(f"the build cannot run as nobody here: {e}")
    finally:
        harness.WRAPPER = old
    try:
        refused(t, {"name": "X0", "filename": dev, "io_mechanism": "io_uring_cmd"},
                dev, "Permission denied", "read-write access")
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]


@pytest.mark.parametrize("mechanism", ["io_uring", "libaio"])
def test_block_mechanisms_are_the_file_backend_and_round_trip(tmp_path, mechanism):
    port = harness.free_port()
    img = str(tmp_path / "disk.img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    cfg = harness.simple_config(port, bdevs=())
    cfg["subsystems"][0]["config"] = [{"method": "bdev_xnvme_create", "params": {
        "name": "Xn0", "filename": img, "io_mechanism": mechanism, "conserve_cpu": True}}]
    cfg["subsystems"][1]["config"].insert(2, {"method": "nvmf_subsystem_add_ns", "params": {
        "nqn": harness.SUBNQN, "namespace": {"bdev_name": "Xn0"}}})
    t = harness.Target(cfg, tmpdir=str(tmp_path / "a"))
    try:
        b = call(t, "bdev_get_bdevs", {"name": "Xn0"})["result"][0]
        assert b["product_name"] == "xNVMe bdev"
        assert b["driver_specific"]["xnvme"]["io_mechanism"] == mechanism
        assert b["num_blocks"] * b["block_size"] == 8 << 20
        admin, io, _ = n.connect_io(port, harness.SUBNQN)
        data = os.urandom(16384)
        assert io.write(1, 8, data, block=b["block_size"])[0] == 0
        st, back = io.read(1, 8, len(data), block=b["block_size"])
        assert st == 0 and back == data
        admin.close()
        io.close()
        saved = call(t, "save_config")["result"]
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]
    bdev_calls = [c for s in saved["subsystems"] if s["subsystem"] == "bdev" for c in s["config"]]
    mine = [c for c in bdev_calls if c["method"] == "bdev_xnvme_create"]
    assert mine == [{"method": "bdev_xnvme_create", "params": {
        "name": "Xn0", "filename": img, "io_mechanism": mechanism, "conserve_cpu": True}}], \
        json.dumps(bdev_calls)
    # The saved config starts a daemon with the same namespace and data.
    t = harness.Target(saved, tmpdir=str(tmp_path / "b"))
    try:
        assert call(t, "bdev_get_bdevs", {"name": "Xn0"})["result"][0]["num_blocks"] == \
            b["num_blocks"]
        r = call(t, "bdev_xnvme_delete", {"name": "Xn0"})
        assert "error" in r and "used by" in r["error"]["message"]
        assert "result" in call(t, "nvmf_subsystem_remove_ns", {"nqn": harness.SUBNQN, "nsid": 1})
        assert call(t, "bdev_uring_delete", {"name": "Xn0"})["error"]["code"] == -19
        assert call(t, "bdev_xnvme_delete", {"name": "Xn0"})["result"] is True
        assert call(t, "bdev_get_bdevs")["result"] == []
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]
    with open(img, "rb") as f:
        f.seek(8 * b["block_size"])
        assert f.read(len(data)) == data


def test_rpc_py_form(target, tmp_path):
    """scripts/rpc.py bdev_xnvme_create FILENAME NAME IO_MECHANISM sends conserve_cpu false."""
    img = tmp_path / "d.img"
    img.write_bytes(bytes(1 << 20))
    r = call(target, "bdev_xnvme_create", {"filename": str(img), "name": "Xn1",
                                            "io_mechanism": "io_uring", "conserve_cpu": False})
    assert r.get("result") == "Xn1", r
