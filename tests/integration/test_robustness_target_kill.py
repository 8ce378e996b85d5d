"""A target that dies: nvfabd serving a file bdev (io_uring) is killed with SIGKILL in the middle
of a write workload. A raw host records which writes were acknowledged as durable: a write with
FUA (CDW12 bit 30) once its completion arrives, a write without FUA once a Flush submitted after
its completion has completed. nvfabd is restarted on the same file and every durable write must
read back intact.

SIGKILL does not drop the page cache, so this checks that an acknowledgement never runs ahead of
the data reaching the file (and that a restart reads what was acknowledged), not power-loss
durability. Loopback only; bounded in time."""
import os
import random
import signal
import struct
import threading
import time

import harness
import nvmetcp as n

BLOCK = 4096
BLOCKS = 16384           # a 64 MiB file
BATCH = 32               # writes in flight together (the I/O queue holds 127)
FUA = 1 << 30


def payload(lba, gen):
    head = struct.pack("<8sQQ", b"NVFABROB", lba, gen)
    return head + os.urandom(BLOCK - len(head))


def start(tmp_path, name, port, path):
    cfg = harness.simple_config(port, bdevs=(("file", "Disk0", BLOCKS, BLOCK, path),))
    d = tmp_path / name
    d.mkdir()
    t = harness.Target(cfg, tmpdir=str(d))
    t.port = port
    return t


def collect(io, want):
    """Reads completions until every cid in want (a dict cid -> anything) has one. Returns
    {cid: status}; raises ConnectionError/OSError when the target dies."""
    got = {}
    while len(got) < len(want):
        typ, _, _, _, pdu = io.recv_pdu()
        if typ == n.PDU_RSP:
            _, _, _, _, rcid, status = struct.unpack_from("<IIHHHH", pdu, 8)
            if rcid in want:
                got[rcid] = status >> 1
    return got


def write_until_killed(io, durable, stats):
    gen = 0
    lba = 0
    while lba + BATCH <= BLOCKS:
        fua = gen % 2 == 0
        batch = {}
        out = b""
        for k in range(BATCH):
            cid = io.next_cid()
            data = payload(lba + k, gen)
            batch[cid] = (lba + k, data)
            out += io.capsule(io.sqe(0x01, cid, 1, lba + k, 0, FUA if fua else 0,
                                     sgl_len=BLOCK, sgl_type=0x01), data)
        io.send(out)
        stats["submitted"] += BATCH
        done = collect(io, batch)
        acked = [batch[cid] for cid, st in done.items() if st == 0]
        assert len(acked) == BATCH, f"write errors: {[hex(s) for s in done.values() if s]}"
        stats["acked"] += len(acked)
        if fua:
            durable.update(acked)
        else:
            cid = io.next_cid()
            io.send(io.capsule(io.sqe(0x00, cid, 1)))   # Flush
            if collect(io, {cid: None})[cid] == 0:
                durable.update(acked)
                stats["flushes"] += 1
        lba += BATCH
        gen += 1
    return False  # ran out of blocks before the kill


def test_acknowledged_writes_survive_sigkill(tmp_path):
    path = str(tmp_path / "disk.img")
    with open(path, "wb") as f:
        f.truncate(BLOCKS * BLOCK)
    port = harness.free_port()
    t = start(tmp_path, "run1", port, path)
    durable = {}
    stats = {"submitted": 0, "acked": 0, "flushes": 0}
    try:
        admin, io, _ = n.connect_io(port, harness.SUBNQN)
        pid = t.proc.pid
        delay = random.uniform(0.3, 0.8)
        killer = threading.Timer(delay, os.kill, (pid, signal.SIGKILL))
        t0 = time.monotonic()
        killer.start()
        died = False
        try:
            write_until_killed(io, durable, stats)
        except (ConnectionError, OSError, n.TermReq):
            died = True
        killer.join()
        t.proc.wait(10)
        elapsed = time.monotonic() - t0
        assert t.proc.returncode == -signal.SIGKILL, t.proc.returncode
        assert died, f"all {BLOCKS} blocks were written before the kill at {delay:.2f} s: make the run longer"
        admin.close()
        io.close()
    finally:
        t.stop()
    assert durable, "nothing was acknowledged before the kill"

    # Restart on the same file and read every durable block back (32 blocks per read).
    t2 = start(tmp_path, "run2", port, path)
    try:
        admin, io, _ = n.connect_io(port, harness.SUBNQN)
        bad = []
        lbas = sorted(durable)
        runs = []
        for lba in lbas:
            if runs and lba == runs[-1][0] + runs[-1][1] and runs[-1][1] < 32:
                runs[-1][1] += 1
            else:
                runs.append([lba, 1])
        for start_lba, count in runs:
            st, back = io.read(1, start_lba, count * BLOCK)
            assert st == 0, hex(st)
            for k in range(count):
                if back[k * BLOCK:(k + 1) * BLOCK] != durable[start_lba + k]:
                    bad.append(start_lba + k)
        print(f"\nrobustness: dying target: SIGKILL after {elapsed:.2f} s; {stats['submitted']} writes submitted, "
              f"{stats['acked']} acknowledged, {len(durable)} durable (FUA or flushed, {stats['flushes']} flushes); "
              f"{len(durable) - len(bad)} read back intact after restart")
        assert not bad, f"{len(bad)} acknowledged blocks lost or changed, first LBAs {bad[:10]}"
        admin.close()
        io.close()
    finally:
        rc = t2.stop()
        assert rc == 0, t2.read_log()[-3000:]
