"""A namespace's bdev grows under a connected host: SPDK's bdev_null_resize, bdev_uring_rescan
and bdev_aio_rescan. The host gets a Namespace Attribute Changed notice naming the namespace,
Identify reports the new size, the new blocks take I/O, save_config keeps the size; the refusals
(shrinking a null bdev, a bdev of another kind, no such bdev) are errors that change nothing."""
import os
import struct

import harness
import nvmetcp as n

LOG_CHANGED_NS = 0x04
MIB = 1 << 20


def ok(reply):
    assert "error" not in reply, reply
    return reply["result"]


def nsze(admin, nsid):
    st, _, data = admin.identify(0, nsid=nsid)
    assert st == 0
    return struct.unpack_from("<Q", data, 0)[0]


def changed_log(admin):
    st, _, log = admin.admin_read(0x02, 4096, nsid=0xFFFFFFFF,
                                  cdw10=LOG_CHANGED_NS | ((4096 // 4 - 1) << 16))
    assert st == 0
    ids = struct.unpack_from("<1024I", log, 0)
    return list(ids[:ids.index(0)] if 0 in ids else ids)


def expect_notice(admin, cid, nsid):
    st, dw0 = admin.wait_completion(cid)
    assert st == 0 and dw0 & 7 == 2 and (dw0 >> 8) & 0xFF == 0 and (dw0 >> 16) & 0xFF == LOG_CHANGED_NS, hex(dw0)
    assert changed_log(admin) == [nsid]


def bdev(t, name):
    return ok(t.rpc("bdev_get_bdevs", {"name": name}))[0]


def test_resize_and_rescan_reach_the_connected_host(tmp_path):
    path = str(tmp_path / "grow.img")
    with open(path, "wb") as f:
        f.truncate(8 * MIB)
    aio_path = str(tmp_path / "aio.img")
    with open(aio_path, "wb") as f:
        f.truncate(4 * MIB)
    port = harness.free_port()
    cfg = harness.simple_config(port, bdevs=[("null", "Null0", 4096, 4096), ("file", "File0", 0, 512, path),
                                             ("ram", "Ram0", 1024, 4096)])
    cfg["subsystems"][0]["config"].append({"method": "bdev_aio_create", "params": {
        "name": "Aio0", "filename": aio_path, "block_size": 4096}})
    t = harness.Target(cfg, tmpdir=str(tmp_path / "t"))
    try:
        ok(t.rpc("nvmf_subsystem_add_ns", {"nqn": harness.SUBNQN, "namespace": {"bdev_name": "Aio0"}}))
        admin, io, _ = n.connect_io(port, harness.SUBNQN)
        admin.s.settimeout(20)
        assert admin.set_features(0x0B, 1 << 8)[0] == 0  # namespace attribute notices
        assert (nsze(admin, 1), nsze(admin, 2), nsze(admin, 4)) == (4096, 16384, 1024)

        # null: 16 MiB -> 64 MiB
        cid = admin.async_event_request()
        assert ok(t.rpc("bdev_null_resize", {"name": "Null0", "new_size": 64})) is True
        expect_notice(admin, cid, 1)
        assert nsze(admin, 1) == 64 * MIB // 4096
        assert bdev(t, "Null0")["num_blocks"] == 64 * MIB // 4096
        assert io.write(1, 64 * MIB // 4096 - 1, b"\x01" * 4096)[0] == 0  # the last new block
        st = io.read(1, 64 * MIB // 4096, 4096)[0]
        assert st & 0x7FF == 0x80  # past the new end: LBA out of range

        # the refusals change nothing and raise no notice
        err = t.rpc("bdev_null_resize", {"name": "Null0", "new_size": 32})["error"]
        assert err["code"] == -32602 and "smaller" in err["message"], err
        err = t.rpc("bdev_null_resize", {"name": "Ram0", "new_size": 128})["error"]
        assert err["code"] == -19 and err["message"] == "No such device", err
        err = t.rpc("bdev_null_resize", {"name": "Nope", "new_size": 128})["error"]
        assert err["code"] == -19, err
        err = t.rpc("bdev_null_resize", {"name": "Null0"})["error"]
        assert err["code"] == -32602 and "new_size" in err["message"], err
        err = t.rpc("bdev_aio_rescan", {"name": "File0"})["error"]  # a uring bdev
        assert err["code"] == -19, err
        err = t.rpc("bdev_uring_rescan", {"name": "Null0"})["error"]
        assert err["code"] == -19, err
        assert nsze(admin, 1) == 64 * MIB // 4096

        # a file grown behind the bdev's back, then rescanned: 8 MiB -> 24 MiB + 100 bytes
        with open(path, "r+b") as f:
            f.truncate(24 * MIB + 100)
        cid = admin.async_event_request()
        assert ok(t.rpc("bdev_uring_rescan", {"name": "File0"})) is True
        expect_notice(admin, cid, 2)
        assert nsze(admin, 2) == 24 * MIB // 512  # whole blocks only
        last = 24 * MIB // 512 - 8
        assert io.write(2, last, b"\x5a" * 4096, block=512)[0] == 0
        assert io.read(2, last, 4096, block=512) == (0, b"\x5a" * 4096)
        with open(path, "rb") as f:
            f.seek(last * 512)
            assert f.read(4096) == b"\x5a" * 4096

        # rescanning an unchanged file: no notice (the next event is the aio one)
        assert ok(t.rpc("bdev_uring_rescan", {"name": "File0"})) is True
        with open(aio_path, "r+b") as f:
            f.truncate(8 * MIB)
        cid = admin.async_event_request()
        assert ok(t.rpc("bdev_aio_rescan", {"name": "Aio0"})) is True
        expect_notice(admin, cid, 4)
        assert nsze(admin, 4) == 8 * MIB // 4096

        # save_config keeps the sizes
        cfg_out = ok(t.rpc("save_config"))
        calls = {c["params"].get("name"): c for s in cfg_out["subsystems"] if s["subsystem"] == "bdev"
                 for c in s["config"] if "name" in c.get("params", {})}
        assert calls["Null0"]["params"]["num_blocks"] == 64 * MIB // 4096
        admin.close()
        io.close()
        assert t.alive()
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]
    assert os.path.getsize(path) == 24 * MIB + 100
