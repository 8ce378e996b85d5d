"""Hostile bytes over real sockets: each gets the spec's reaction (a C2HTermReq with the right
FES/FEI, or an error status), and the daemon keeps serving a well-behaved host throughout."""
import os
import socket
import struct
import time

import pytest

import harness
import nvmetcp as n

FES_INVALID_HEADER, FES_SEQUENCE, FES_HDGST, FES_OUT_OF_RANGE, FES_LIMIT, FES_UNSUPPORTED = 1, 2, 3, 4, 5, 6


def expect_term(conn, fes, fei=None):
    with pytest.raises(n.TermReq) as e:
        conn.recv_pdu()
    assert e.value.fes == fes, e.value
    if fei is not None:
        assert e.value.fei == fei, e.value
    # ... and then the connection is closed.
    conn.s.settimeout(5)
    assert conn.s.recv(1) == b""


def healthy(target):
    """A good host still gets served."""
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    data = os.urandom(4096)
    assert io.write(1, 1, data)[0] == 0
    assert io.read(1, 1, 4096) == (0, data)
    admin.close()
    io.close()


@pytest.fixture
def good_host(target):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    yield io
    # the long-lived host survived whatever the test did
    assert io.read(1, 0, 4096)[0] == 0
    admin.close()
    io.close()


def raw(target):
    return n.Conn(target.port)


def test_unknown_type(target, good_host):
    c = raw(target)
    c.send(struct.pack("<BBBBI", 0x0F, 0, 8, 0, 8))
    expect_term(c, FES_INVALID_HEADER, 0)
    healthy(target)


def test_c2h_type_from_host(target, good_host):
    c = raw(target)
    c.icreq()
    c.send(struct.pack("<BBBBI", n.PDU_RSP, 0, 24, 0, 24) + bytes(16))
    expect_term(c, FES_INVALID_HEADER, 0)


def test_pdu_before_icreq(target, good_host):
    c = raw(target)
    c.send(c.capsule(c.sqe(0x06, 1, sgl_len=4096, cdw10=1)))
    expect_term(c, FES_SEQUENCE)


def test_second_icreq(target, good_host):
    c = raw(target)
    c.icreq()
    c.send(struct.pack("<BBBBIHBBI", 0, 0, 128, 0, 128, 0, 0, 0, 0) + bytes(112))
    expect_term(c, FES_SEQUENCE)


def test_bad_pfv(target, good_host):
    c = raw(target)
    c.send(struct.pack("<BBBBIHBBI", 0, 0, 128, 0, 128, 1, 0, 0, 0) + bytes(112))
    expect_term(c, FES_UNSUPPORTED, 8)


def test_wrong_hlen(target, good_host):
    c = raw(target)
    c.icreq()
    c.send(struct.pack("<BBBBI", n.PDU_CMD, 0, 64, 0, 72) + bytes(64))
    expect_term(c, FES_INVALID_HEADER, 2)


def test_plen_less_than_hlen(target, good_host):
    c = raw(target)
    c.icreq()
    c.send(struct.pack("<BBBBI", n.PDU_CMD, 0, 72, 0, 40) + bytes(32))
    expect_term(c, FES_INVALID_HEADER, 4)


def test_huge_plen_rejected_before_allocation(target, good_host):
    c = raw(target)
    c.icreq()
    # 4 GiB of "in-capsule data" announced; the header alone must be refused.
    c.send(struct.pack("<BBBBI", n.PDU_CMD, 0, 72, 72, 0xFFFFFFF0) + bytes(64))
    expect_term(c, FES_LIMIT, 4)


def test_bad_icreq_plen(target, good_host):
    c = raw(target)
    c.send(struct.pack("<BBBBI", 0, 0, 128, 0, 1 << 30))
    expect_term(c, FES_INVALID_HEADER, 4)


def test_header_digest_error(target, good_host):
    c = raw(target)
    c.icreq(hdgst=True)
    pdu = bytearray(c.capsule(c.sqe(0x06, 1, sgl_len=4096, cdw10=1)))
    pdu[72] ^= 0xFF
    c.send(bytes(pdu))
    expect_term(c, FES_HDGST)


def test_digest_flag_not_negotiated(target, good_host):
    c = raw(target)
    c.icreq()
    c.send(c.capsule(c.sqe(0x06, 1, sgl_len=4096, cdw10=1), raw_flags=n.F_HDGST))
    expect_term(c, FES_INVALID_HEADER, 1)


def test_data_digest_error_fails_command_and_stores_nothing(target, good_host):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN, ddgst=True)
    assert io.write(1, 50, b"\x01" * 4096)[0] == 0
    cid = io.next_cid()
    pdu = bytearray(io.capsule(io.sqe(0x01, cid, 1, 50, 0, 0, sgl_len=4096, sgl_type=0x01), b"\x02" * 4096))
    pdu[-1] ^= 0xFF
    io.send(bytes(pdu))
    st, _ = io.wait_completion(cid)
    assert st == 0x22  # Transient Transport Error
    assert io.read(1, 50, 4096) == (0, b"\x01" * 4096)
    admin.close()
    io.close()


def test_sgl_outside_in_capsule_data(target, good_host):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    cid = io.next_cid()
    # SGL says 8 KiB at offset 0 but the capsule carries 4 KiB.
    io.send(io.capsule(io.sqe(0x01, cid, 1, 0, 0, 1, sgl_len=8192, sgl_type=0x01), bytes(4096)))
    assert io.wait_completion(cid)[0] & 0xFF == 0x0F
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x01, cid, 1, 0, 0, 0, sgl_len=4096, sgl_type=0x01, sgl_addr=8192), bytes(4096)))
    assert io.wait_completion(cid)[0] & 0xFF == 0x16  # SGL Offset Invalid
    # In-capsule data larger than the controller takes.
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x01, cid, 1, 0, 0, 3, sgl_len=16384, sgl_type=0x01), bytes(16384)))
    expect_term(io, FES_LIMIT)
    admin.close()


def test_h2c_unknown_ttag(target, good_host):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    io.send(io.h2c_data(1, 999, 0, bytes(4096)))
    expect_term(io, FES_INVALID_HEADER, 10)
    admin.close()


def test_h2c_outside_r2t(target, good_host):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    cid = io.next_cid()
    io.send(io.capsule(io.sqe(0x01, cid, 1, 0, 0, 3, sgl_len=16384)))
    r = io.wait_completion(cid)
    assert r[0] == "R2T"
    _, cccid, ttag, off, ln = r
    io.send(io.h2c_data(cccid, ttag, 12288, bytes(8192)))
    expect_term(io, FES_OUT_OF_RANGE)
    admin.close()


def test_abrupt_close_mid_r2t(target, good_host):
    for _ in range(20):
        admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
        cid = io.next_cid()
        io.send(io.capsule(io.sqe(0x01, cid, 1, 0, 0, 31, sgl_len=131072)))
        _, cccid, ttag, off, ln = io.wait_completion(cid)
        io.send(io.h2c_data(cccid, ttag, 0, bytes(50000), last=False)[:30000])
        io.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        io.close()
        admin.close()
    healthy(target)


def test_connect_host_not_allowed(tmp_path):
    port = harness.free_port()
    cfg = harness.simple_config(port, allow_any_host=False, hosts=["nqn.2014-08.org.nvmexpress:uuid:allowed"])
    with harness.Target(cfg, tmpdir=str(tmp_path)) as t:
        c = n.Conn(port)
        c.icreq()
        st, _ = c.connect(harness.SUBNQN)
        assert st & 0x7FF == 0x184  # Connect Invalid Host
        c2 = n.Conn(port)
        c2.icreq()
        assert c2.connect(harness.SUBNQN, hostnqn="nqn.2014-08.org.nvmexpress:uuid:allowed")[0] == 0


def test_byte_at_a_time_sender(target, good_host):
    c = raw(target)
    ic = struct.pack("<BBBBIHBBI", 0, 0, 128, 0, 128, 0, 0, 0, 0) + bytes(112)
    for b in ic:
        c.send(bytes([b]))
        time.sleep(0.0005)
    typ, _, _, _, _ = c.recv_pdu()
    assert typ == n.PDU_ICRESP
    data = bytearray(1024)
    struct.pack_into("<H", data, 16, 0xFFFF)
    data[256:256 + len(harness.SUBNQN)] = harness.SUBNQN.encode()
    data[512:512 + len(n.HOSTNQN)] = n.HOSTNQN.encode()
    cmd = struct.pack("<BBHB19xQIxxxBHHHBxI12x", 0x7F, 0, 1, 0x01, 0, 1024, 0x01, 0, 0, 31, 0, 0)
    for b in c.capsule(cmd, bytes(data)):
        c.send(bytes([b]))
    st, cntlid = c.wait_completion(1)
    assert st == 0 and cntlid > 0


def test_garbage_storm_keeps_daemon_alive(target, good_host):
    for i in range(200):
        c = raw(target)
        c.send(os.urandom(1 + i * 7 % 300))
        c.close()
    healthy(target)


def test_silent_connection_closed_without_icreq(target, good_host):
    """A connection that never sends ICReq is closed after 10 s and costs nothing after."""
    c = raw(target)
    peer = "127.0.0.1:%d" % c.s.getsockname()[1]
    c.s.settimeout(10 + 10 * harness.TIME_SLACK)
    assert c.s.recv(1) == b""
    # nvfabd's own clock: from the accept to the close, 10 s and a little (strict under ASan,
    # loose under valgrind, where timers run late on a busy machine).
    log = target.read_log()
    accepted = harness.log_times(log, f"tcp {peer}: connection accepted")
    closed = harness.log_times(log, f"tcp {peer} qid 0 cntlid 0: closing: no ICReq")
    assert accepted and closed, log[-3000:]
    assert 10.0 <= closed[0] - accepted[0] <= 10.0 + 0.5 * harness.TIME_SLACK, closed[0] - accepted[0]
    healthy(target)
