#!/usr/bin/env python3
"""wirecheck.py - interop part 3: check an NVMe/TCP capture of a session
between a host (the Linux kernel in the interop guest) and nvfabd.

usage: wirecheck.py --pcap FILE --port PORT [--expect-ioccsz N] [--allow-expert MSG]...

One tshark pass (Wireshark 4.0's nvme-tcp dissector, decode-as on PORT, with
header and data digest verification switched on) yields, per frame: the
malformed marker, expert infos, PDU types, digest statuses and the raw TCP
payload. Then:

A. Dissector checks (tshark):
   * no frame is malformed (_ws.malformed: an exception while dissecting, e.g. a
     PDU whose fields run past PLEN);
   * no expert info of severity warning or above, except those of TCP's own
     sequence analysis (reported only; see below) and --allow-expert;
   * no header or data digest with status Bad;
   * every PDU type of a data session is present (ICReq, ICResp, CapsuleCmd,
     CapsuleResp, H2CData, C2HData, R2T) and no C2HTermReq/H2CTermReq.
   The nvme-tcp dissector of 4.0 registers no expert infos of its own and
   verifies no field semantics (it would accept a C2HData without LAST_PDU or
   a wrong IOCCSZ), and digests are only checked with the two preferences set
   here; a Bad digest carries no expert info, hence the explicit status check.

B. Protocol checks on the PDUs themselves (the TCP streams are reassembled
   from tcp.payload; each PDU is parsed from the NVMe/TCP 1.0 layouts):
   per PDU: HLEN per type, PLEN/PDO/digest-flag consistency with what ICReq
   and ICResp negotiated, C2HData PDO aligned to the host's HPDA;
   ICResp: PFV 0, digests = those requested, MAXH2CDATA >= 4096;
   per command: C2HData offsets contiguous from 0 and within the SGL length,
   LAST_PDU exactly on the final C2HData, SUCCESS only with LAST_PDU and only
   if the host disabled SQ flow control, a CapsuleResp otherwise; R2T offsets
   sequential, lengths within MAXH2CDATA and the SGL, at most MAXR2T+1
   outstanding; H2CData matching its R2T, LAST_PDU on the last one;
   CapsuleResp for a known, not yet completed CID, after all solicited data;
   no command left without a completion except Asynchronous Event Requests;
   Identify Controller of an NVM subsystem: IOCCSZ (--expect-ioccsz), IORCSZ 1,
   ICDOFF 0, and no in-capsule data larger than IOCCSZ allows.
   Controller-side violations are target bugs; host-side ones are reported
   as such (they would point at the kernel or at an inconsistent target).

Exit status 0 if everything holds, 1 otherwise, 2 on usage/tool errors.
"""
import argparse
import bisect
import collections
import re
import struct
import subprocess
import sys

# The check judges NVMe/TCP, not TCP. Expert infos of the TCP dissector's
# sequence analysis (group Sequence, on a frame that tcp.analysis flagged:
# out-of-order segment, retransmission, previous segment not captured, ACKed
# unseen segment, duplicate ACK, zero window, window full, D-SACK...) describe
# how TCP delivered the byte stream through qemu on a loaded machine, or what
# the capture missed of it. They are reported, and do not fail the check:
# check B below reassembles every stream from the captured payloads by
# sequence number and fails on any byte that is missing, so the NVMe/TCP
# stream is proven complete however TCP got it there. A connection reset
# (RST) is a different matter (a side gave up on the connection) and fails,
# as does everything else at warning or above: malformed packets, any error,
# and expert infos of any other group or protocol.
TCP_ANALYSIS_FAILS = ("Connection reset",)
# Sequence-group messages of TCP's option analysis that come on frames tcp.analysis does not
# flag (a D-SACK block is an option of a plain ACK).
TCP_SEQUENCE_MESSAGES = ("D-SACK Sequence", "Previous segment(s) not captured",
                         "ACKed segment that wasn't captured")
# Messages allowed on top of that with --allow-expert.
DEFAULT_ALLOWED = ()
PI_SEQUENCE = 0x02000000
PI_WARN = 0x00600000

ICREQ, ICRESP, H2CTERM, C2HTERM, CMD, RSP, H2CDATA, C2HDATA, R2T = 0, 1, 2, 3, 4, 5, 6, 7, 9
NAMES = {ICREQ: "ICReq", ICRESP: "ICResp", H2CTERM: "H2CTermReq", C2HTERM: "C2HTermReq",
         CMD: "CapsuleCmd", RSP: "CapsuleResp", H2CDATA: "H2CData", C2HDATA: "C2HData", R2T: "R2T"}
HLEN = {ICREQ: 128, ICRESP: 128, H2CTERM: 24, C2HTERM: 24, CMD: 72, RSP: 24,
        H2CDATA: 24, C2HDATA: 24, R2T: 24}
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 0x01, 0x02, 0x04, 0x08
EXPECTED_TYPES = (ICREQ, ICRESP, CMD, RSP, H2CDATA, C2HDATA, R2T)
DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
MAX_REPORTS = 2000   # per queue; repeats are grouped when printed


class Report:
    def __init__(self):
        self.errors = []
        self.notes = []

    def error(self, msg):
        self.errors.append(msg)

    def note(self, msg):
        self.notes.append(msg)


def run_tshark(pcap, port, nvme=True):
    """One pass of tshark over the capture; nvme=False leaves the nvme-tcp dissector out
    (its columns come back empty; the payload is decoded as plain data, so that no heuristic
    dissector mistakes it for another protocol)."""
    decode = (["-d", f"tcp.port=={port},nvme-tcp", "-o", "nvme-tcp.check_hdgst:TRUE",
               "-o", "nvme-tcp.check_ddgst:TRUE"] if nvme else ["-d", f"tcp.port=={port},data"])
    cmd = ["tshark", "-n", "-r", pcap] + decode + [
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
           "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.seq",
           "-e", "tcp.len", "-e", "tcp.payload", "-e", "_ws.malformed",
           "-e", "_ws.expert.message", "-e", "_ws.expert.severity",
           "-e", "nvme-tcp.type", "-e", "nvme-tcp.hdgst.status", "-e", "nvme-tcp.ddgst.status",
           "-e", "tcp.flags.syn", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset",
           "-e", "_ws.expert.group", "-e", "tcp.analysis.flags"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode < 0 and nvme:
        return None  # killed by a signal: see main()
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"wirecheck: tshark failed (exit {p.returncode})")
    return p.stdout


# CRC32C (the NVMe/TCP digests) from ISA-L, which the project builds against: 100 MB of
# captured data in pure Python would take minutes.
def _crc32c_isal():
    import ctypes
    import ctypes.util
    for name in ("libisal.so.2", ctypes.util.find_library("isal")):
        try:
            fn = ctypes.CDLL(name).crc32_iscsi
        except (OSError, AttributeError, TypeError):
            continue
        fn.restype = ctypes.c_uint32
        fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        return lambda b: fn(bytes(b), len(b), 0xFFFFFFFF) ^ 0xFFFFFFFF
    raise SystemExit("wirecheck: ISA-L (libisal.so.2) not found; run scripts/install-deps.sh")


crc32c = _crc32c_isal()
assert crc32c(b"123456789") == 0xE3069283


def split(v):
    return [x for x in v.split(";") if x != ""] if v else []


# --------------------------------------------------------------- A: dissector
def dissector_checks(rows, allowed, rep, counts, dissected=True):
    malformed = 0
    experts = collections.Counter()
    bad = []
    for r in rows:
        frame = r[0]
        if r[6]:
            malformed += 1
            if malformed <= MAX_REPORTS:
                rep.error(f"frame {frame}: malformed packet (the dissector hit an exception)")
        msgs, sevs, groups = split(r[7]), split(r[8]), split(r[15])
        tcp_flagged = bool(r[16])
        for i, (m, s) in enumerate(zip(msgs, sevs)):
            s = int(s)
            group = int(groups[i], 0) if i < len(groups) else 0
            transport = (group == PI_SEQUENCE and
                         (tcp_flagged or any(m.startswith(x) for x in TCP_SEQUENCE_MESSAGES)) and
                         not any(m.startswith(x) for x in TCP_ANALYSIS_FAILS))
            experts[(s, m, transport)] += 1
            if s >= PI_WARN and not transport and not any(m.startswith(x) for x in allowed):
                bad.append(f"frame {frame}: expert info ({'error' if s > PI_WARN else 'warning'}): {m}")
        for t in split(r[9]):
            counts[int(t)] += 1
        for st in split(r[10]) + split(r[11]):
            if st == "0":
                rep.error(f"frame {frame}: PDU digest Bad (tshark recomputed the CRC32C)")
    for b in bad[:MAX_REPORTS]:
        rep.error(b)
    if len(bad) > MAX_REPORTS:
        rep.error(f"... and {len(bad) - MAX_REPORTS} more expert infos")
    for (s, m, transport), n in sorted(experts.items(), reverse=True):
        sev = {0x00200000: "chat", 0x00400000: "note", PI_WARN: "warning", 0x00800000: "error"}.get(s, hex(s))
        tag = ""
        if s >= PI_WARN and transport:
            tag = " (reported only: TCP sequence analysis, see wirecheck.py)"
        elif s >= PI_WARN and any(m.startswith(x) for x in allowed):
            tag = " (allowed with --allow-expert)"
        rep.note(f"expert {sev:7} x{n:<5} {m}{tag}")


# --------------------------------------------------------------- B: protocol
def reassemble(rows, port, rep):
    """-> {stream: {dir: (bytes, [(offset, frame), ...])}} from each frame's
    tcp.payload; dir is 'c2h' (from PORT) or 'h2c'. The offsets map stream
    bytes back to the frame that carried them (the first copy, if resent)."""
    segs = collections.defaultdict(dict)   # (stream, dir) -> {seq: (frame, payload)}
    for r in rows:
        if not r[1] or not r[4] or int(r[4]) == 0:
            continue
        d = "c2h" if r[2] == str(port) else "h2c"
        seq, data = int(r[3]), bytes.fromhex(r[5].replace(":", ""))
        old = segs[(int(r[1]), d)].get(seq)
        if old is None or len(data) > len(old[1]):
            segs[(int(r[1]), d)][seq] = (int(r[0]), data)
    streams = collections.defaultdict(dict)
    for (stream, d), by_seq in segs.items():
        out = bytearray()
        where = []
        nxt = 1                       # relative sequence numbers: data starts at 1
        for seq in sorted(by_seq):
            frame, data = by_seq[seq]
            if seq > nxt:
                rep.error(f"stream {stream} {d}: {seq - nxt} bytes missing at seq {nxt}"
                          " (capture incomplete: the rest of this direction is not checked)")
                break
            if seq + len(data) <= nxt:
                continue              # retransmission of data we have
            where.append((len(out), frame))
            out += data[nxt - seq:]
            nxt = seq + len(data)
        streams[stream][d] = (bytes(out), where)
    return streams


def pdus(buf, where, first):
    """yield (frame, type, flags, hlen, pdo, plen, pdu bytes) for each whole PDU.
    frame: where the PDU ends (first=False) or starts (first=True)."""
    starts = [w[0] for w in where]

    def frame_at(o):
        return where[bisect.bisect_right(starts, o) - 1][1]

    off = 0
    while off + 8 <= len(buf):
        t, flags, hlen, pdo, plen = struct.unpack_from("<BBBBI", buf, off)
        if plen < 8 or off + plen > len(buf):
            break
        yield frame_at(off if first else off + plen - 1), t, flags, hlen, pdo, plen, buf[off:off + plen]
        off += plen
    if off != len(buf):
        yield frame_at(off), None, 0, 0, 0, len(buf) - off, buf[off:]


class Cmd:
    __slots__ = ("cid", "opc", "fabric", "fctype", "sgl_len", "incapsule", "c2h_off", "c2h_last",
                 "c2h_success", "r2t_next", "r2ts", "cdw10", "data", "done")

    def __init__(self, p, pdo, plen, ddl):
        self.opc, _, self.cid = struct.unpack_from("<BBH", p, 8)
        self.sgl_len = struct.unpack_from("<I", p, 8 + 32)[0]
        self.cdw10 = struct.unpack_from("<I", p, 8 + 40)[0]
        self.fabric = self.opc == 0x7F
        self.fctype = p[12] if self.fabric else None
        self.incapsule = plen - pdo - ddl if pdo else 0
        self.c2h_off = 0
        self.c2h_last = False
        self.c2h_success = False
        self.r2t_next = 0
        self.r2ts = set()
        self.data = bytearray()
        self.done = False

    def what(self):
        if self.fabric:
            return f"fabrics fctype {self.fctype:#x}"
        if self.opc == 0x06:
            return f"opcode 0x6 (Identify CNS {self.cdw10 & 0xFF:#x})"
        return f"opcode {self.opc:#x}"


class Queue:
    """One TCP connection = one NVMe queue. PDUs of both directions are fed in
    causal order: a host PDU at the frame that completes it, a controller PDU
    at the frame that starts it (the controller can only answer what it has
    fully received, so this order never puts an answer before its cause)."""

    def __init__(self, sid, rep, summary, idents):
        self.sid, self.rep, self.summary, self.idents = sid, rep, summary, idents
        self.cmds = {}
        self.ttags = {}
        self.qid = None
        self.subnqn = None
        self.sqflow_disabled = False
        self.nerr = 0
        self.ic = None

    def err(self, msg):
        self.nerr += 1
        if self.nerr <= MAX_REPORTS:
            q = "" if self.qid is None else f" qid {self.qid}"
            self.rep.error(f"stream {self.sid}{q}: {msg}")

    def negotiate(self, icreq, icresp):
        _, self.hpda, self.dgst_req, self.maxr2t = struct.unpack_from("<HBBI", icreq, 8)
        rpfv, self.cpda, dgst, self.maxh2c = struct.unpack_from("<HBBI", icresp, 8)
        self.hd, self.dd = bool(dgst & 1), bool(dgst & 2)
        if icresp[2] != 128 or len(icresp) != 128:
            self.err(f"ICResp HLEN/PLEN {icresp[2]}/{len(icresp)} (want 128/128)")
        if rpfv != 0:
            self.err(f"ICResp PFV {rpfv} (want 0)")
        if dgst & ~self.dgst_req & 3:
            self.err(f"ICResp enables digests the host did not request (req {self.dgst_req:#x}, resp {dgst:#x})")
        elif dgst != self.dgst_req & 3:
            self.rep.note(f"stream {self.sid}: controller declined requested digests "
                          f"(req {self.dgst_req:#x}, resp {dgst:#x})")
        if self.maxh2c < 4096:
            self.err(f"ICResp MAXH2CDATA {self.maxh2c} < 4096")
        if self.cpda > 31:
            self.err(f"ICResp CPDA {self.cpda} > 31")

    def header(self, who, t, flags, hlen):
        """common header checks; returns the header digest length or None."""
        want = HLEN.get(t)
        if want is None:
            self.err(f"{who} PDU type {t:#x} is not an NVMe/TCP PDU type")
            return None
        if hlen != want:
            self.err(f"{who} {NAMES[t]}: HLEN {hlen} (want {want})")
            return None
        if bool(flags & F_HDGST) != self.hd:
            self.err(f"{who} {NAMES[t]}: HDGSTF={int(bool(flags & F_HDGST))} but header digests "
                     f"{'on' if self.hd else 'off'}")
        return 4 if flags & F_HDGST else 0

    # ------------------------------------------------------------ host PDUs
    def host(self, t, flags, hlen, pdo, plen, p):
        if t not in (CMD, H2CDATA, H2CTERM):
            self.err(f"host sent {NAMES.get(t, hex(t))}")
            return
        hdl = self.header("host", t, flags, hlen)
        if hdl is None:
            return
        ddl = 4 if flags & F_DDGST else 0
        if t == H2CTERM:
            self.err(f"host sent H2CTermReq FES {struct.unpack_from('<H', p, 8)[0]:#x}")
        elif t == CMD:
            c = Cmd(p, pdo, plen, ddl)
            if c.incapsule and p[8 + 39] != 0x01:
                self.err(f"host CapsuleCmd cid {c.cid:#x}: in-capsule data with SGL id {p[8 + 39]:#x}")
            if c.fabric and c.fctype == 0x01:       # Connect
                self.qid = struct.unpack_from("<H", p, 8 + 42)[0]
                self.sqflow_disabled = bool(p[8 + 46] & 0x04)
                if c.incapsule >= 1024:
                    self.subnqn = p[pdo + 256:pdo + 512].split(b"\0")[0].decode(errors="replace")
            ioccsz = self.summary["ioccsz"].get(self.subnqn)
            if ioccsz and self.qid and c.incapsule > ioccsz * 16 - 64:
                self.err(f"host CapsuleCmd cid {c.cid:#x}: {c.incapsule} bytes in-capsule, more than "
                         f"IOCCSZ {ioccsz} allows (host side)")
            old = self.cmds.get(c.cid)
            if old is not None and not old.done:
                self.err(f"host reused cid {c.cid:#x} while it is outstanding")
            self.cmds[c.cid] = c
            self.summary["commands"] += 1
        else:
            cid, ttag, datao, datal = struct.unpack_from("<HHII", p, 8)
            r = self.ttags.get(ttag)
            if r is None or r[0] != cid:
                self.err(f"host H2CData cid {cid:#x} ttag {ttag:#x}: no such outstanding R2T (host side)")
                return
            _, r2to, r2tl, got = r
            if datao != r2to + got or datao + datal > r2to + r2tl:
                self.err(f"host H2CData cid {cid:#x}: {datao}+{datal} outside R2T {r2to}+{r2tl} (at {got})")
            got += datal
            last = got >= r2tl
            if bool(flags & F_LAST) != last:
                self.err(f"host H2CData cid {cid:#x}: LAST_PDU={int(bool(flags & F_LAST))} at {got}/{r2tl} of its R2T")
            if plen != pdo + datal + ddl:
                self.err(f"host H2CData cid {cid:#x}: PLEN {plen} != PDO {pdo} + DATAL {datal} + digest {ddl}")
            if last:
                del self.ttags[ttag]
                c = self.cmds.get(cid)
                if c:
                    c.r2ts.discard(ttag)
            else:
                self.ttags[ttag] = (cid, r2to, r2tl, got)

    # ------------------------------------------------------ controller PDUs
    def ctrl(self, t, flags, hlen, pdo, plen, p):
        if t not in (RSP, C2HDATA, R2T, C2HTERM):
            self.err(f"controller sent {NAMES.get(t, hex(t))} (not a controller-to-host PDU type)")
            return
        hdl = self.header("controller", t, flags, hlen)
        if hdl is None:
            return
        if t == C2HTERM:
            fes, fei = struct.unpack_from("<HI", p, 8)
            self.err(f"controller sent C2HTermReq FES {fes:#x} FEI {fei:#x}")
            return
        if t in (RSP, R2T):
            if flags & F_DDGST:
                self.err(f"controller {NAMES[t]}: DDGSTF set on a PDU without data")
            if pdo != 0 or plen != hlen + hdl:
                self.err(f"controller {NAMES[t]}: PDO {pdo} PLEN {plen} (want 0 and {hlen + hdl})")
        if t == RSP:
            self.response(p)
        elif t == C2HDATA:
            self.c2h_data(flags, hlen, hdl, pdo, plen, p)
        else:
            self.r2t(p)

    def outstanding(self, what, cid):
        c = self.cmds.get(cid)
        if c is None or c.done:
            self.err(f"{what} for cid {cid:#x}: no such outstanding command")
            return None
        return c

    def response(self, p):
        cid = struct.unpack_from("<H", p, 8 + 12)[0]
        status = struct.unpack_from("<H", p, 8 + 14)[0] >> 1
        c = self.outstanding("CapsuleResp", cid)
        if c is None:
            return
        c.done = True
        self.summary["responses"] += 1
        if status:
            self.summary["nonzero_status"][(self.qid == 0, c.what(), status)] += 1
            return
        if c.c2h_off and not c.c2h_last and not c.c2h_off >= c.sgl_len:
            self.err(f"CapsuleResp for cid {cid:#x}: its last C2HData (ending at {c.c2h_off}) lacked LAST_PDU")
        if c.r2ts:
            self.err(f"CapsuleResp for cid {cid:#x} with {len(c.r2ts)} R2T(s) not yet answered")
        if c.r2t_next and c.r2t_next != c.sgl_len:
            self.err(f"CapsuleResp for cid {cid:#x}: R2Ts solicited {c.r2t_next} of {c.sgl_len} bytes")
        if self.qid and c.opc == 0x02 and c.c2h_off != c.sgl_len:
            self.err(f"CapsuleResp for Read cid {cid:#x}: {c.c2h_off} of {c.sgl_len} bytes sent")
        if self.qid == 0 and c.opc == 0x06 and (c.cdw10 & 0xFF) == 1 and len(c.data) >= 4096:
            d = c.data
            ioccsz, iorcsz = struct.unpack_from("<II", d, 1792)
            icdoff = struct.unpack_from("<H", d, 1800)[0]
            subnqn = d[768:1024].split(b"\0")[0].decode(errors="replace")
            self.idents.append((subnqn, ioccsz, iorcsz, icdoff))
            self.summary["ioccsz"][subnqn] = ioccsz

    def c2h_data(self, flags, hlen, hdl, pdo, plen, p):
        cid, ttag, datao, datal = struct.unpack_from("<HHII", p, 8)
        ddl = 4 if flags & F_DDGST else 0
        if bool(flags & F_DDGST) != self.dd:
            self.err(f"C2HData cid {cid:#x}: DDGSTF={int(bool(flags & F_DDGST))} but data digests "
                     f"{'on' if self.dd else 'off'}")
        align = (self.hpda + 1) * 4
        if pdo < hlen + hdl or pdo % align:
            self.err(f"C2HData cid {cid:#x}: PDO {pdo} (header {hlen}+{hdl}, host PDA {align})")
        if plen != pdo + datal + ddl:
            self.err(f"C2HData cid {cid:#x}: PLEN {plen} != PDO {pdo} + DATAL {datal} + digest {ddl}")
        if datal == 0:
            self.err(f"C2HData cid {cid:#x}: DATAL 0")
        c = self.outstanding("C2HData", cid)
        if c is None:
            return
        self.summary["c2h_bytes"] += datal
        if c.c2h_last:
            self.err(f"C2HData cid {cid:#x} after the one with LAST_PDU")
        if datao != c.c2h_off:
            self.err(f"C2HData cid {cid:#x}: DATAO {datao}, expected {c.c2h_off} (out of order or overlapping)")
        if datao + datal > c.sgl_len:
            self.err(f"C2HData cid {cid:#x}: {datao}+{datal} beyond the command's SGL length {c.sgl_len}")
        c.c2h_off = datao + datal
        last = bool(flags & F_LAST)
        if c.c2h_off >= c.sgl_len and not last:
            self.err(f"C2HData cid {cid:#x}: the final PDU ({datao}+{datal} of {c.sgl_len}) lacks LAST_PDU")
        c.c2h_last = last
        if flags & F_SUCCESS:
            if not last:
                self.err(f"C2HData cid {cid:#x}: SUCCESS without LAST_PDU")
            if not self.sqflow_disabled:
                self.err(f"C2HData cid {cid:#x}: SUCCESS although the host did not disable SQ flow control")
            c.c2h_success = c.done = True
            self.summary["responses"] += 1
        if self.qid == 0 and len(c.data) < 4096:
            c.data += p[pdo:pdo + datal][:4096 - len(c.data)]

    def r2t(self, p):
        cid, ttag, r2to, r2tl = struct.unpack_from("<HHII", p, 8)
        c = self.outstanding("R2T", cid)
        if c is None:
            return
        if c.incapsule:
            self.err(f"R2T for cid {cid:#x}, whose data came in-capsule")
        if r2tl == 0 or r2tl > self.maxh2c:
            self.err(f"R2T cid {cid:#x}: R2TL {r2tl} (MAXH2CDATA {self.maxh2c})")
        if r2to != c.r2t_next:
            self.err(f"R2T cid {cid:#x}: R2TO {r2to}, expected {c.r2t_next}")
        if r2to + r2tl > c.sgl_len:
            self.err(f"R2T cid {cid:#x}: {r2to}+{r2tl} beyond the SGL length {c.sgl_len}")
        if ttag in self.ttags:
            self.err(f"R2T cid {cid:#x}: TTAG {ttag:#x} already in use")
        if len(c.r2ts) >= self.maxr2t + 1:
            self.err(f"R2T cid {cid:#x}: more than MAXR2T+1 = {self.maxr2t + 1} outstanding")
        c.r2t_next = r2to + r2tl
        c.r2ts.add(ttag)
        self.ttags[ttag] = (cid, r2to, r2tl, 0)
        self.summary["r2t"] += 1

    def finish(self):
        for c in self.cmds.values():
            if c.done:
                continue
            if not c.fabric and self.qid == 0 and c.opc == 0x0C:
                self.summary["aer_outstanding"] += 1      # by design: AERs stay pending
            else:
                self.err(f"cid {c.cid:#x} ({c.what()}) never completed")
        self.summary["queues"].append((self.sid, self.qid, self.subnqn, self.hd, self.dd,
                                       self.maxh2c, self.hpda, self.cpda))


def check_digests(sid, pdu_list, rep):
    """Header and data digests recomputed here, whatever the dissector said (or could not)."""
    for frame, t, flags, hlen, pdo, plen, p in pdu_list:
        if t is None or t in (ICREQ, ICRESP, H2CTERM, C2HTERM) or hlen + 4 > plen:
            continue
        if flags & F_HDGST and crc32c(p[:hlen]) != struct.unpack_from("<I", p, hlen)[0]:
            rep.error(f"frame {frame}: stream {sid} {NAMES.get(t, t)}: header digest wrong")
        if flags & F_DDGST and pdo and pdo < plen - 4:
            if crc32c(p[pdo:plen - 4]) != struct.unpack_from("<I", p, plen - 4)[0]:
                rep.error(f"frame {frame}: stream {sid} {NAMES.get(t, t)}: data digest wrong")


def check_stream(sid, st, rep, summary, idents, own_counts):
    hbuf, hwhere = st.get("h2c", (b"", []))
    cbuf, cwhere = st.get("c2h", (b"", []))
    hp = list(pdus(hbuf, hwhere, first=False))
    cp = list(pdus(cbuf, cwhere, first=True))
    if not hp and not cp:
        return
    for pd in hp + cp:
        if pd[1] is not None:
            own_counts[pd[1]] += 1
    check_digests(sid, hp + cp, rep)
    if not hp or hp[0][1] != ICREQ:
        rep.error(f"stream {sid}: the host's first PDU is not an ICReq")
        return
    if not cp or cp[0][1] != ICRESP:
        rep.error(f"stream {sid}: the controller's first PDU is not an ICResp "
                  f"({NAMES.get(cp[0][1], cp[0][1]) if cp else 'none'})")
        return
    q = Queue(sid, rep, summary, idents)
    q.negotiate(hp[0][6], cp[0][6])
    events = [(pd[0], 0, i, pd) for i, pd in enumerate(hp[1:])] + \
             [(pd[0], 1, i, pd) for i, pd in enumerate(cp[1:])]
    events.sort(key=lambda e: e[:3])
    for _, side, _, (frame, t, flags, hlen, pdo, plen, p) in events:
        if t is None:
            q.err(f"{'controller' if side else 'host'} stream ends inside a PDU ({plen} bytes left)")
            continue
        (q.ctrl if side else q.host)(t, flags, hlen, pdo, plen, p)
    q.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--port", required=True, type=int, help="the nvfabd (controller) port")
    ap.add_argument("--expect-ioccsz", type=int, default=None,
                    help="IOCCSZ an NVM subsystem's Identify Controller must report")
    ap.add_argument("--allow-expert", action="append", default=[],
                    help="another expert info message (warning or above) to allow")
    ap.add_argument("--require-digests", action="store_true",
                    help="fail unless at least one queue negotiated header and data digests")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    rep = Report()
    out = run_tshark(a.pcap, a.port)
    dissected = out is not None
    if not dissected:
        # Wireshark 4.0's nvme-tcp dissector has crashed (SIGSEGV) on valid captures of a
        # loaded run (seen on an nvfab -> Linux target session). Its own checks cannot be had
        # then; everything else (PDU layout, digests, protocol) runs on the TCP streams
        # reassembled here from a pass without it.
        rep.note("tshark crashed in its nvme-tcp dissector on this capture (a Wireshark bug): "
                 "dissector checks skipped; PDUs, digests and protocol checked on the reassembled streams")
        out = run_tshark(a.pcap, a.port, nvme=False)
    rows = [line.split("\t") for line in out.splitlines()]
    rows = [r + [""] * (17 - len(r)) for r in rows]
    counts = collections.Counter()
    dissector_checks(rows, set(DEFAULT_ALLOWED) | set(a.allow_expert), rep, counts, dissected)

    idents = []
    streams = reassemble(rows, a.port, rep)
    summary = {"commands": 0, "responses": 0, "c2h_bytes": 0, "r2t": 0, "aer_outstanding": 0,
               "nonzero_status": collections.Counter(), "queues": [], "ioccsz": {}}
    own_counts = collections.Counter()
    for sid in sorted(streams):
        check_stream(sid, streams[sid], rep, summary, idents, own_counts)
    if not dissected:
        counts = own_counts
    # Every PDU type of a data session, and no termination request (counted by the dissector,
    # or by our own parse when it crashed).
    for t in EXPECTED_TYPES:
        if counts[t] == 0:
            rep.error(f"no {NAMES[t]} PDU in the capture (expected every PDU type of a data session)")
    for t in (H2CTERM, C2HTERM):
        if counts[t]:
            rep.error(f"{counts[t]} {NAMES[t]} PDU(s): a connection was terminated on a protocol error")

    for subnqn, ioccsz, iorcsz, icdoff in idents:
        if subnqn == DISCOVERY_NQN:
            continue
        if a.expect_ioccsz is not None and ioccsz != a.expect_ioccsz:
            rep.error(f"Identify Controller of {subnqn}: IOCCSZ {ioccsz} (want {a.expect_ioccsz})")
        if iorcsz != 1:
            rep.error(f"Identify Controller of {subnqn}: IORCSZ {iorcsz} (want 1)")
        if icdoff != 0:
            rep.error(f"Identify Controller of {subnqn}: ICDOFF {icdoff} (want 0)")
    if a.expect_ioccsz is not None and not any(s != DISCOVERY_NQN for s, *_ in idents):
        rep.error("no Identify Controller of an NVM subsystem in the capture")
    if a.require_digests and not any(q[3] and q[4] for q in summary["queues"]):
        rep.error("no queue negotiated header and data digests")

    # ---------------------------------------------------------------- report
    print(f"wirecheck: {len(rows)} frames, {len(streams)} TCP streams, PDUs: " +
          ", ".join(f"{NAMES[t]} {counts[t]}" for t in sorted(counts)))
    qsum = collections.Counter()
    for sid, qid, subnqn, hd, dd, maxh2c, hpda, cpda in summary["queues"]:
        line = (f"{'admin' if qid == 0 else 'I/O'} queue(s) of {subnqn or '?'}: hdgst {'on' if hd else 'off'}"
                f" ddgst {'on' if dd else 'off'} MAXH2CDATA {maxh2c} HPDA {hpda} CPDA {cpda}")
        qsum[line] += 1
        if a.verbose:
            print(f"  stream {sid}: qid {qid} {line}")
    for line, n in qsum.items():
        print(f"  {n} x {line}")
    print(f"  commands {summary['commands']}, completions {summary['responses']} "
          f"(+{summary['aer_outstanding']} AERs outstanding at disconnect), R2Ts {summary['r2t']}, "
          f"C2H data {summary['c2h_bytes']} bytes")
    for (s, ioccsz, iorcsz, icdoff), n in collections.Counter(idents).items():
        print(f"  Identify Controller x{n} {s}: IOCCSZ {ioccsz} IORCSZ {iorcsz} ICDOFF {icdoff}")
    for (admin, what, status), n in sorted(summary["nonzero_status"].items()):
        print(f"  note: {n}x {'admin' if admin else 'I/O'} {what} completed with SCT {status >> 8 & 7:#x}"
              f" SC {status & 0xFF:#x}{' DNR' if status & 0x4000 else ''}"
              " (not an error by itself: an optional command or feature the target lacks)")
    for n in rep.notes:
        if a.verbose or not n.startswith("expert chat"):
            print(f"  {n}")
    # Group repeats (same message up to numbers) so one bug does not print
    # hundreds of lines: first example, and how many more.
    groups = collections.OrderedDict()
    for e in rep.errors:
        groups.setdefault(re.sub(r"0x[0-9a-f]+|\d+", "#", e), []).append(e)
    for g in groups.values():
        print(f"  FAIL: {g[0]}" + (f"  [and {len(g) - 1} more like it]" if len(g) > 1 else ""))
    print(f"wirecheck: {'FAIL' if rep.errors else 'ok'} ({len(rep.errors)} problem(s))")
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main())
