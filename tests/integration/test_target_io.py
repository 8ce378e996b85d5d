"""nvfabd's I/O path through raw NVMe/TCP: every bdev kind, both block sizes, in-capsule and
R2T-sized writes, with and without digests."""
import os
import struct

import pytest

import harness
import nvmetcp as n

SC_LBA_RANGE = 0x80
SC_INVALID_NS = 0x0B
SC_COMPARE_FAILED = 0x285
DNR = 0x4000


def start(tmp_path, kind, bs, blocks=8192):
    port = harness.free_port()
    path = None
    if kind in ("file", "tmpfs"):
        # tmpfs: the file bdev's synchronous path for memory-backed files (no io_uring).
        if kind == "tmpfs" and not os.path.isdir("/dev/shm"):
            pytest.skip("no /dev/shm")
        path = str(tmp_path / "disk.img") if kind == "file" else \
            f"/dev/shm/nvfab-it-{os.getpid()}-{port}.img"
        with open(path, "wb") as f:
            f.truncate(blocks * bs)
    t = harness.Target(harness.simple_config(port, bdevs=(("file" if path else kind, "Disk0",
                                                           blocks, bs, path),)),
                       tmpdir=str(tmp_path))
    t.port = port
    t.image = path
    return t


@pytest.mark.parametrize("digests", [False, True], ids=["nodigest", "digest"])
@pytest.mark.parametrize("bs", [512, 4096])
@pytest.mark.parametrize("kind", ["ram", "null", "file", "tmpfs"])
def test_write_read_compare(tmp_path, kind, bs, digests):
    t = start(tmp_path, kind, bs)
    try:
        admin, io, _ = n.connect_io(t.port, harness.SUBNQN, digests, digests)
        st, _, idns = admin.identify(0, nsid=1)
        assert st == 0
        nsze, = struct.unpack_from("<Q", idns, 0)
        assert nsze == 8192
        assert 1 << idns[128 + 2] == bs  # lbaf[0].ds
        for size in (bs, 8192, 65536, 131072):  # in-capsule and R2T + H2CData
            data = os.urandom(size)
            st, _ = io.write(1, 16, data, block=bs)
            assert st == 0, hex(st)
            st, back = io.read(1, 16, size, block=bs)
            assert st == 0
            if kind == "null":
                assert back == bytes(size)
            else:
                assert back == data
                cid = io.next_cid()
                io.send(io.capsule(io.sqe(0x05, cid, 1, 16, 0, size // bs - 1, sgl_len=size,
                                          sgl_type=0x01 if size <= 8192 else 0x5A),
                                   data if size <= 8192 else b""))
                r = io.wait_completion(cid)
                if r[0] == "R2T":
                    _, cccid, ttag, off, ln = r
                    io.send(io.h2c_data(cccid, ttag, off, data))
                    r = io.wait_completion(cid)
                assert r[0] == 0, hex(r[0])
        admin.close()
        io.close()
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]
        if kind == "tmpfs":
            os.unlink(t.image)


@pytest.mark.parametrize("digests", [False, True], ids=["nodigest", "digest"])
def test_write_data_in_smaller_pdus(tmp_path, digests):
    """A lone write's H2CData is foretold to be one PDU of min(R2T, MAXH2CDATA) bytes. A host
    that cuts the data into smaller PDUs proves that guess wrong: what the read put in the
    buffer beyond the first PDU is taken back and parsed, and the connection is foretold no
    H2CData after. On a new connection each time (the first write is the wrong guess), with the
    PDUs arriving together or one by one, every write reads back, and so do the next ones."""
    t = start(tmp_path, "ram", 4096)
    try:
        cases = [(131072, 16384, None), (131072, 16384, 0.02), (65536, 12288, 0.01),
                 (131072, 4096, None), (131072, 65536, 0.02)]
        for i, (size, chunk, pause) in enumerate(cases):
            admin, io, _ = n.connect_io(t.port, harness.SUBNQN, digests, digests)
            for j, (wchunk, wpause) in enumerate(((chunk, pause), (chunk, None), (None, None))):
                data = os.urandom(size)
                slba = 64 * (3 * i + j)
                st, _ = io.write(1, slba, data, chunk=wchunk, pause=wpause)
                assert st == 0, f"case {i} write {j}: {st:#x}"
                st, back = io.read(1, slba, size)
                assert st == 0 and back == data, \
                    f"case {i} write {j} ({size} bytes in PDUs of {wchunk}) read back wrong"
            admin.close()
            io.close()
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]


def test_tmpfs_file_truncated_under_a_mapped_namespace(tmp_path):
    """A memory-backed file is served from a mapping. If another process shrinks the file, reads
    of the lost part cannot be served: without digests (sent from the mapping) the connection
    closes, with a data digest (read by a system call) the read fails; nvfabd lives on."""
    t = start(tmp_path, "tmpfs", 4096)
    try:
        admin, io, _ = n.connect_io(t.port, harness.SUBNQN)
        data = os.urandom(8192)
        assert io.write(1, 8, data)[0] == 0
        assert io.read(1, 8, 8192)[1] == data
        os.truncate(t.image, 4 * 4096)  # LBAs 4.. are gone
        assert io.read(1, 0, 4096)[0] == 0  # still inside the file
        with pytest.raises((ConnectionError, OSError, EOFError)):
            st, _ = io.read(1, 8, 8192)
            io.read(1, 8, 8192)  # the close may come only after the first answer
        admin.close()
        admin, io, _ = n.connect_io(t.port, harness.SUBNQN, True, True)
        st, _ = io.read(1, 8, 8192)
        assert st & 0x7FF == 0x281, hex(st)  # Unrecovered Read Error
        assert io.read(1, 0, 4096)[0] == 0
        admin.close()
        io.close()
        assert t.alive()
        assert "Disk0" in [b["name"] for b in t.rpc("bdev_get_bdevs")["result"]]
    finally:
        assert t.stop() == 0, t.read_log()[-3000:]
        os.unlink(t.image)


def test_errors_and_other_commands(target):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    # LBA out of range
    st, _ = io.read(1, 16383, 8192)
    assert st == SC_LBA_RANGE | DNR
    # unknown namespace
    st, _ = io.read(7, 0, 4096)
    assert st == SC_INVALID_NS | DNR
    # unknown opcode
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x7E, cid, 1)))
    assert io.wait_completion(cid)[0] == 0x01 | DNR
    # compare mismatch
    io.write(1, 0, b"\xaa" * 4096)
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x05, cid, 1, 0, 0, 0, sgl_len=4096, sgl_type=0x01), b"\xbb" * 4096))
    assert io.wait_completion(cid)[0] & 0x7FF == SC_COMPARE_FAILED
    # write zeroes
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x08, cid, 1, 0, 0, 0)))
    assert io.wait_completion(cid)[0] == 0
    assert io.read(1, 0, 4096)[1] == bytes(4096)
    # dataset management: deallocate two ranges
    io.write(1, 100, b"\x11" * 8192)
    ranges = struct.pack("<IIQ", 0, 1, 100) + struct.pack("<IIQ", 0, 1, 101)
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x09, cid, 1, 1, 1 << 2, 0, sgl_len=len(ranges), sgl_type=0x01), ranges))
    assert io.wait_completion(cid)[0] == 0
    assert io.read(1, 100, 8192)[1] == bytes(8192)
    # flush, and flush of all namespaces
    for nsid in (1, 0xFFFFFFFF):
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x00, cid, nsid)))
        assert io.wait_completion(cid)[0] == 0
    # FUA write
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x01, cid, 1, 3, 0, (1 << 30), sgl_len=4096, sgl_type=0x01), b"\x42" * 4096))
    assert io.wait_completion(cid)[0] == 0
    assert io.read(1, 3, 4096)[1] == b"\x42" * 4096
    # transfer length that disagrees with NLB
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x02, cid, 1, 0, 0, 1, sgl_len=4096)))
    assert io.wait_completion(cid)[0] & 0xFF == 0x0F  # Data SGL Length Invalid
    admin.close()
    io.close()


def test_identify_and_features(target):
    admin, io, cntlid = n.connect_io(target.port, harness.SUBNQN)
    st, _, idc = admin.identify(1)
    assert st == 0
    ioccsz, iorcsz = struct.unpack_from("<II", idc, 1792)
    assert ioccsz == (64 + 8192) // 16 and iorcsz == 1
    assert idc[77] == 5  # MDTS 128 KiB
    assert struct.unpack_from("<H", idc, 78)[0] == cntlid
    assert idc[768:768 + len(harness.SUBNQN)] == harness.SUBNQN.encode()
    assert idc[111] == 1  # I/O controller
    sgls, = struct.unpack_from("<I", idc, 536)
    assert sgls & 1 and sgls & (1 << 20)
    st, _, lst = admin.identify(2)
    assert st == 0 and struct.unpack_from("<II", lst, 0) == (1, 0)
    st, _, desc = admin.identify(3, nsid=1)
    assert st == 0 and desc[0] == 2 and desc[1] == 16  # NGUID first
    st, dw0 = admin.set_features(0x07, (3 << 16) | 3)
    assert st == 0x0C  # Command Sequence Error: an I/O queue already exists
    st, _, smart = admin.admin_read(0x02, 512, nsid=0xFFFFFFFF, cdw10=0x02 | ((512 // 4 - 1) << 16))
    assert st == 0
    st, _, _ = admin.admin_read(0x02, 512, cdw10=0x42 | ((512 // 4 - 1) << 16))
    assert st & 0x7FF == 0x109  # Invalid Log Page
    admin.close()
    io.close()


def test_connect_refusals(target):
    c = n.Conn(target.port)
    c.icreq()
    st, dw0 = c.connect("nqn.2026-11.io.nvfab:nope")
    assert st & 0x7FF == 0x182 and dw0 == 256 | (1 << 16)  # Connect Invalid Parameters, SUBNQN in data
    st, dw0 = c.connect(harness.SUBNQN, qid=1, cntlid=77)
    assert st & 0x7FF == 0x182 and dw0 & 0xFFFF == 16
    st, _ = c.connect(harness.SUBNQN, sqsize=5)
    assert st & 0x7FF == 0x182
    c.close()
    # I/O command before Connect
    c = n.Conn(target.port)
    c.icreq()
    cid = c.next_cid()
    c.send(c.capsule(c.sqe(0x02, cid, 1, 0, 0, 0, sgl_len=4096)))
    assert c.wait_completion(cid)[0] == 0x0C
    c.close()
    assert target.alive()


def test_empty_host_nqn(tmp_path):
    """spdk_nvme_perf sends Connect with an empty Host NQN unless --hostnqn is given: accepted
    where any host may connect (admin and I/O queues), refused where an allow-list is set."""
    port = harness.free_port()
    t = harness.Target(harness.simple_config(port), tmpdir=str(tmp_path / "any"))
    try:
        admin = n.Conn(port)
        admin.icreq()
        st, cntlid = admin.connect(harness.SUBNQN, kato=10000, hostnqn="")
        assert st == 0, f"empty Host NQN refused on an allow-any-host subsystem: {st:#x}"
        admin.enable()
        io = n.Conn(port)
        io.icreq()
        st, _ = io.connect(harness.SUBNQN, qid=1, sqsize=31, cntlid=cntlid, hostnqn="")
        assert st == 0, f"I/O queue: {st:#x}"
        data = os.urandom(4096)
        assert io.write(1, 9, data)[0] == 0
        assert io.read(1, 9, 4096) == (0, data)
        admin.close()
        io.close()
        assert "empty Host NQN (host ID 00010203-0405-0607-0809-0a0b0c0d0e0f)" in t.read_log()
    finally:
        assert t.stop() == 0
    port = harness.free_port()
    t = harness.Target(harness.simple_config(port, allow_any_host=False, hosts=(n.HOSTNQN,)),
                       tmpdir=str(tmp_path / "list"))
    try:
        c = n.Conn(port)
        c.icreq()
        st, _ = c.connect(harness.SUBNQN, hostnqn="")
        assert st & 0x7FF == 0x184, f"want Connect Invalid Host, got {st:#x}"
        c.close()
    finally:
        assert t.stop() == 0
