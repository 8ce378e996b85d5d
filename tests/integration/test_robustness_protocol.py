"""Hosts that pipeline PDUs the target did not expect yet, over real sockets: each case once hung
or leaked in nvfabd (found by tests/fuzz/fuzz_target_rx; the inputs are in
tests/fuzz/regressions/target_rx/). The daemon must answer as the spec says and stay responsive:
a hang shows here as an RPC or socket timeout, not as a stuck test."""
import os
import socket
import struct
import time

import pytest

import harness
from harness import fd_count, wait_for
import nvmetcp as n


FES_SEQUENCE = 2
ICREQ = struct.pack("<BBBBIHBBI", n.PDU_ICREQ, 0, 128, 0, 128, 0, 0, 0, 0) + bytes(112)


def controllers(t):
    r = t.rpc("nvmf_subsystem_get_controllers", {"nqn": harness.SUBNQN}, timeout=5)
    assert "result" in r, r
    return r["result"]






def responsive(t):
    """The control thread answers RPCs and a good host gets its I/O done."""
    assert "result" in t.rpc("spdk_get_version", timeout=5)
    admin, io, _ = n.connect_io(t.port, harness.SUBNQN)
    data = os.urandom(4096)
    assert io.write(1, 9, data)[0] == 0
    assert io.read(1, 9, 4096) == (0, data)
    admin.close()
    io.close()


def expect_termination(c, fes):
    """Skips what comes first (ICResp, responses) up to the C2HTermReq, then the close."""
    c.s.settimeout(5)
    with pytest.raises(n.TermReq) as e:
        for _ in range(16):
            c.recv_pdu()
    assert e.value.fes == fes, e.value
    assert c.s.recv(1) == b""


def test_icreq_and_bad_pdu_in_one_segment(target):
    """ICReq followed at once by a second ICReq: the ICResp was still queued when the second was
    refused (the C2HTermReq reused its PDU: send-queue corruption, control thread spinning)."""
    for second in (ICREQ, struct.pack("<BBBBI", n.PDU_CMD, 0, 64, 0, 72) + bytes(64)):
        c = n.Conn(target.port)
        c.send(ICREQ + second)
        typ, _, _, _, _ = c.recv_pdu()
        assert typ == n.PDU_ICRESP
        expect_termination(c, FES_SEQUENCE if second is ICREQ else 1)
        c.close()
    responsive(target)


def test_h2cdata_before_its_r2t(target):
    """A write and its H2CData (with a guessed TTAG) in one segment: the R2T was still queued
    when the data completed the write, and the response reused the R2T's PDU."""
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    burst = b""
    for ttag in range(4):  # the TTAG is a request slot index: the first guess (0) is right
        cid = io.next_cid()
        burst += io.capsule(io.sqe(0x01, cid, 1, 0, 0, 1, sgl_len=8192)) + io.h2c_data(cid, ttag, 0, bytes(8192))
    io.send(burst)  # one send: the connection is closed after the first pair
    # Refused as a sequence error (the host cannot know the TTAG before the R2T), or the
    # guess misses (unknown TTAG): either way a termination, never a hang.
    with pytest.raises(n.TermReq):
        for _ in range(16):
            io.recv_pdu()
    admin.close()
    io.close()
    responsive(target)


def test_get_features_with_a_data_length(target):
    """Get Features of a feature without a data structure, with an SGL length: the target used
    to send a C2HData PDU without data buffers and spin in its send loop."""
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    cid = admin.next_cid()
    admin.send(admin.capsule(admin.sqe(0x0A, cid, cdw10=0x07, sgl_len=4)))  # Number of Queues
    admin.s.settimeout(5)
    st, dw0 = admin.wait_completion(cid)
    assert st == 0 and dw0 & 0xFFFF == (dw0 >> 16), (hex(st), hex(dw0))
    admin.close()
    io.close()
    responsive(target)


def test_disconnect_then_more_in_the_same_segment(target):
    """Disconnect followed by a command whose data never comes, then the host hangs up: the
    request taken after the close was never released (queue pair and controller leaked)."""
    pid = target.proc.pid
    base = fd_count(pid)
    for _ in range(5):
        c = n.Conn(target.port)
        c.icreq()
        st, cntlid = c.connect(harness.SUBNQN, kato=0)
        assert st == 0
        c.enable()
        disc = c.capsule(struct.pack("<BBHB59x", 0x7F, 0, c.next_cid(), 0x08))
        partial = c.capsule(c.sqe(0x09, c.next_cid(), cdw10=0x0B, sgl_len=4096, sgl_type=0x01), bytes(4096))[:200]
        c.send(disc + partial)
        time.sleep(0.05)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        assert wait_for(lambda: not any(x["cntlid"] == cntlid for x in controllers(target)), 5)
    assert wait_for(lambda: fd_count(pid) <= base, 5), (fd_count(pid), base)
    responsive(target)


def test_command_with_pdo_but_no_data(target):
    """A CapsuleCmd whose PLEN covers only its header but whose PDO is set: the target counted a
    data length from PDO (and a padding length below zero) and swallowed the stream after it."""
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    cid = admin.next_cid()
    pdu = bytearray(admin.capsule(admin.sqe(0x18, cid)))  # Keep Alive
    pdu[3] = 4                                           # PDO without data
    cid2 = admin.next_cid()
    admin.send(bytes(pdu) + admin.capsule(admin.sqe(0x18, cid2)))
    admin.s.settimeout(5)
    assert admin.wait_completion(cid)[0] == 0
    assert admin.wait_completion(cid2)[0] == 0
    admin.close()
    io.close()
    responsive(target)
