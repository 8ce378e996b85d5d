"""A deliberately small NVMe/TCP host in Python, for integration tests that need to send
exact (and exactly wrong) bytes to nvfabd: malformed PDUs, odd sequences, slow senders.
It is not a model of a good host; libnvfab is. Only loopback addresses are used."""
import socket
import struct
import time
import zlib

PDU_ICREQ, PDU_ICRESP, PDU_H2C_TERM, PDU_C2H_TERM = 0, 1, 2, 3
PDU_CMD, PDU_RSP, PDU_H2C_DATA, PDU_C2H_DATA, PDU_R2T = 4, 5, 6, 7, 9
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 1, 2, 4, 8
DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_T = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class TermReq(Exception):
    def __init__(self, fes, fei):
        super().__init__(f"C2HTermReq FES {fes:#x} FEI {fei}")
        self.fes, self.fei = fes, fei


class Conn:
    def __init__(self, port, addr="127.0.0.1", timeout=5.0):
        self.s = socket.create_connection((addr, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hdgst = self.ddgst = False
        self.cid = 0
        self.maxh2cdata = 0

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("target closed the connection")
            buf += chunk
        return buf

    def recv_pdu(self):
        ch = self.recv_exact(8)
        typ, flags, hlen, pdo, plen = struct.unpack("<BBBBI", ch)
        rest = self.recv_exact(plen - 8)
        pdu = ch + rest
        if typ == PDU_C2H_TERM:
            fes, fei = struct.unpack_from("<HI", pdu, 8)
            raise TermReq(fes, fei)
        return typ, flags, hlen, pdo, pdu

    # ---- PDU builders ----
    def icreq(self, hdgst=False, ddgst=False, pfv=0, hpda=0, raw_override=None):
        dgst = (1 if hdgst else 0) | (2 if ddgst else 0)
        pdu = struct.pack("<BBBBIHBBI", PDU_ICREQ, 0, 128, 0, 128, pfv, hpda, dgst, 0) + bytes(112)
        self.send(raw_override if raw_override is not None else pdu)
        typ, _, _, _, resp = self.recv_pdu()
        assert typ == PDU_ICRESP, typ
        _, cpda, rdgst, self.maxh2cdata = struct.unpack_from("<HBBI", resp, 8)
        self.hdgst, self.ddgst = bool(rdgst & 1), bool(rdgst & 2)
        return resp

    def capsule(self, sqe, data=b"", raw_flags=None):
        """A CapsuleCmd with optional in-capsule data."""
        hlen = 72
        hd = 4 if self.hdgst else 0
        flags = (F_HDGST if self.hdgst else 0) | (F_DDGST if self.ddgst and data else 0)
        pdo = hlen + hd if data else 0
        plen = hlen + hd + len(data) + (4 if self.ddgst and data else 0)
        hdr = struct.pack("<BBBBI", PDU_CMD, raw_flags if raw_flags is not None else flags, hlen, pdo, plen) + sqe
        out = hdr + (struct.pack("<I", crc32c(hdr)) if self.hdgst else b"")
        out += data
        if self.ddgst and data:
            out += struct.pack("<I", crc32c(data))
        return out

    def h2c_data(self, cccid, ttag, datao, data, last=True):
        hd = 4 if self.hdgst else 0
        flags = (F_HDGST if self.hdgst else 0) | (F_DDGST if self.ddgst else 0) | (F_LAST if last else 0)
        pdo = 24 + hd
        plen = pdo + len(data) + (4 if self.ddgst else 0)
        hdr = struct.pack("<BBBBIHHII4x", PDU_H2C_DATA, flags, 24, pdo, plen, cccid, ttag, datao, len(data))
        out = hdr + (struct.pack("<I", crc32c(hdr)) if self.hdgst else b"") + data
        if self.ddgst:
            out += struct.pack("<I", crc32c(data))
        return out

    def next_cid(self):
        self.cid = (self.cid + 1) & 0xFFFF
        return self.cid

    @staticmethod
    def sqe(opc, cid, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, sgl_len=0, sgl_type=0x5A, sgl_addr=0, flags=0x40):
        return struct.pack("<BBHIIIQQIxxxBIIIIII", opc, flags, cid, nsid, 0, 0, 0, sgl_addr, sgl_len, sgl_type,
                           cdw10, cdw11, cdw12, cdw13, 0, 0)

    def wait_completion(self, cid, read_into=None):
        """Collects C2HData into read_into (bytearray) and returns (status, dw0)."""
        while True:
            typ, flags, hlen, pdo, pdu = self.recv_pdu()
            if typ == PDU_C2H_DATA:
                cccid, _, datao, datal = struct.unpack_from("<HHII", pdu, 8)
                data = pdu[pdo:pdo + datal]
                if flags & F_DDGST:
                    assert struct.unpack_from("<I", pdu, pdo + datal)[0] == crc32c(data), "data digest"
                if read_into is not None:
                    read_into[datao:datao + datal] = data
                if flags & F_SUCCESS:
                    return 0, 0
                continue
            if typ == PDU_R2T:
                cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", pdu, 8)
                return ("R2T", cccid, ttag, r2to, r2tl)
            if typ == PDU_RSP:
                dw0, dw1, sqhd, sqid, rcid, status = struct.unpack_from("<IIHHHH", pdu, 8)
                assert rcid == cid, (rcid, cid)
                return status >> 1, dw0
            raise AssertionError(f"unexpected PDU type {typ}")

    # ---- commands ----
    def connect(self, subnqn, qid=0, sqsize=31, cntlid=0xFFFF, hostnqn=HOSTNQN, kato=0, cattr=0):
        cid = self.next_cid()
        data = bytearray(1024)
        data[0:16] = bytes(range(16))
        struct.pack_into("<H", data, 16, cntlid)
        data[256:256 + len(subnqn)] = subnqn.encode()
        data[512:512 + len(hostnqn)] = hostnqn.encode()
        cmd = struct.pack("<BBHB19xQIxxxBHHHBxI12x", 0x7F, 0, cid, 0x01, 0, 1024, 0x01, 0, qid, sqsize, cattr, kato)
        self.send(self.capsule(cmd, bytes(data)))
        return self.wait_completion(cid)

    def prop_set(self, ofst, value):
        cid = self.next_cid()
        cmd = struct.pack("<BBHB35xBxxxIQ8x", 0x7F, 0, cid, 0x00, 0, ofst, value)
        self.send(self.capsule(cmd))
        return self.wait_completion(cid)

    def prop_get(self, ofst, size8=False):
        cid = self.next_cid()
        cmd = struct.pack("<BBHB35xBxxxI16x", 0x7F, 0, cid, 0x04, 1 if size8 else 0, ofst)
        self.send(self.capsule(cmd))
        return self.wait_completion(cid)

    def enable(self):
        st, _ = self.prop_set(0x14, 0x460001)
        assert st == 0, st
        st, csts = self.prop_get(0x1C)
        assert st == 0 and csts & 1, (st, csts)

    def admin_read(self, opc, length, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0):
        cid = self.next_cid()
        buf = bytearray(length)
        self.send(self.capsule(self.sqe(opc, cid, nsid, cdw10, cdw11, cdw12, cdw13, sgl_len=length)))
        st, dw0 = self.wait_completion(cid, buf)
        return st, dw0, bytes(buf)

    def identify(self, cns, nsid=0):
        return self.admin_read(0x06, 4096, nsid=nsid, cdw10=cns)

    def async_event_request(self):
        """Sends an Asynchronous Event Request (answered only when an event happens); returns
        its CID for wait_completion()."""
        cid = self.next_cid()
        self.send(self.capsule(self.sqe(0x0C, cid)))
        return cid

    def set_features(self, fid, value):
        cid = self.next_cid()
        self.send(self.capsule(self.sqe(0x09, cid, cdw10=fid, cdw11=value)))
        return self.wait_completion(cid)

    def write(self, nsid, slba, data, block=4096, in_capsule=None, chunk=None, pause=None):
        """chunk: H2CData payload size (default MAXH2CDATA); pause: seconds between the PDUs
        (default: all of them in one send)."""
        cid = self.next_cid()
        nlb = len(data) // block
        if in_capsule is None:
            in_capsule = len(data) <= 8192
        if in_capsule:
            self.send(self.capsule(self.sqe(0x01, cid, nsid, slba & 0xFFFFFFFF, slba >> 32, nlb - 1,
                                            sgl_len=len(data), sgl_type=0x01), data))
            return self.wait_completion(cid)
        self.send(self.capsule(self.sqe(0x01, cid, nsid, slba & 0xFFFFFFFF, slba >> 32, nlb - 1, sgl_len=len(data))))
        r = self.wait_completion(cid)
        if r[0] != "R2T":
            return r
        _, cccid, ttag, r2to, r2tl = r
        chunk = chunk or self.maxh2cdata
        off = r2to
        pdus = []
        while off < r2to + r2tl:
            n = min(chunk, r2to + r2tl - off)
            pdus.append(self.h2c_data(cccid, ttag, off, data[off:off + n], last=off + n == r2to + r2tl))
            off += n
        if pause is None:
            self.send(b"".join(pdus))
        else:
            for pdu in pdus:
                self.send(pdu)
                time.sleep(pause)
        return self.wait_completion(cid)

    def read(self, nsid, slba, length, block=4096):
        cid = self.next_cid()
        buf = bytearray(length)
        self.send(self.capsule(self.sqe(0x02, cid, nsid, slba & 0xFFFFFFFF, slba >> 32, length // block - 1,
                                        sgl_len=length)))
        st, _ = self.wait_completion(cid, buf)
        return st, bytes(buf)


def connect_io(port, subnqn, hdgst=False, ddgst=False, qid=1):
    """Admin queue + enable + one I/O queue; returns (admin, io, cntlid)."""
    admin = Conn(port)
    admin.icreq(hdgst, ddgst)
    st, cntlid = admin.connect(subnqn, kato=30000)
    assert st == 0, f"admin connect status {st:#x}"
    admin.enable()
    io = Conn(port)
    io.icreq(hdgst, ddgst)
    st, _ = io.connect(subnqn, qid=qid, sqsize=127, cntlid=cntlid)
    assert st == 0, f"io connect status {st:#x}"
    return admin, io, cntlid
