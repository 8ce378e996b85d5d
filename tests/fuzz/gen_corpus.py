#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<harness>/): valid NVMe/TCP
sessions built with the integration tests' PDU builders (tests/integration/nvmetcp.py), valid
JSON-RPC requests and configurations (tests/integration/harness.py), and transport IDs.

    python3 tests/fuzz/gen_corpus.py [OUTDIR]     (default tests/fuzz/corpus)

Each seed starts with the harness's flags byte (see the comment at the top of each harness),
except for trid. The output is deterministic: rerunning it rewrites the same files."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import nvmetcp as n  # noqa: E402

SUBNQN = "nqn.2026-11.io.nvfab:fuzz"  # the subsystem fuzz_target_rx.c creates


class Builder(n.Conn):
    """nvmetcp.Conn's PDU builders without a socket: bytes are collected, not sent."""

    def __init__(self, hdgst=False, ddgst=False):  # noqa: super().__init__ would connect
        self.hdgst, self.ddgst = hdgst, ddgst
        self.cid = 0
        self.out = b""

    def send(self, data):
        self.out += data

    def icreq_pdu(self, hdgst=False, ddgst=False):
        dgst = (1 if hdgst else 0) | (2 if ddgst else 0)
        self.send(struct.pack("<BBBBIHBBI", n.PDU_ICREQ, 0, 128, 0, 128, 0, 0, dgst, 0) + bytes(112))
        self.hdgst, self.ddgst = hdgst, ddgst

    def connect_pdu(self, subnqn, qid=0, sqsize=31, cntlid=0xFFFF, kato=0):
        cid = self.next_cid()
        data = bytearray(1024)
        data[0:16] = bytes(range(16))
        struct.pack_into("<H", data, 16, cntlid)
        data[256:256 + len(subnqn)] = subnqn.encode()
        data[512:512 + len(n.HOSTNQN)] = n.HOSTNQN.encode()
        cmd = struct.pack("<BBHB19xQIxxxBHHHBxI12x", 0x7F, 0x40, cid, 0x01, 0, 1024, 0x01, 0, qid, sqsize, 0, kato)
        self.send(self.capsule(cmd, bytes(data)))

    def prop_set_pdu(self, ofst, value):
        cmd = struct.pack("<BBHB35xBxxxIQ8x", 0x7F, 0, self.next_cid(), 0x00, 0, ofst, value)
        self.send(self.capsule(cmd))

    def prop_get_pdu(self, ofst, size8=False):
        cmd = struct.pack("<BBHB35xBxxxI16x", 0x7F, 0, self.next_cid(), 0x04, 1 if size8 else 0, ofst)
        self.send(self.capsule(cmd))

    def cmd(self, opc, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, data=b"", length=None):
        cid = self.next_cid()
        if data:
            sqe = n.Conn.sqe(opc, cid, nsid, cdw10, cdw11, cdw12, cdw13, sgl_len=len(data), sgl_type=0x01)
        else:
            sqe = n.Conn.sqe(opc, cid, nsid, cdw10, cdw11, cdw12, cdw13, sgl_len=length or 0)
        self.send(self.capsule(sqe, data))
        return cid

    def write_r2t(self, nsid, slba, data, ttag, block=4096, chunk=16384, fua=False):
        """A write whose data follows in H2CData PDUs (as if the R2T named ttag)."""
        cid = self.next_cid()
        nlb = len(data) // block
        self.send(self.capsule(n.Conn.sqe(0x01, cid, nsid, slba, 0, (nlb - 1) | (0x40000000 if fua else 0),
                                          sgl_len=len(data))))
        off = 0
        while off < len(data):
            m = min(chunk, len(data) - off)
            self.send(self.h2c_data(cid, ttag, off, data[off:off + m], last=off + m == len(data)))
            off += m


def pattern(size, seed):
    return bytes((seed + i * 7) & 0xFF for i in range(size))


def admin_session(b, subnqn=SUBNQN):
    b.connect_pdu(subnqn)
    b.prop_set_pdu(0x14, 0x460001)
    b.prop_get_pdu(0x1C)


def admin_commands(b):
    """A tour of the admin command set (after Connect + CC.EN)."""
    b.prop_get_pdu(0x00, size8=True)       # CAP
    b.prop_get_pdu(0x08)                   # VS
    b.cmd(0x06, cdw10=1, length=4096)      # Identify Controller
    b.cmd(0x06, nsid=1, cdw10=0, length=4096)
    b.cmd(0x06, nsid=2, cdw10=0, length=4096)
    b.cmd(0x06, cdw10=2, length=4096)      # active namespace list
    b.cmd(0x06, nsid=1, cdw10=3, length=4096)  # namespace identification descriptors
    b.cmd(0x09, cdw10=0x07, cdw11=0x00030003)  # Set Features: Number of Queues
    b.cmd(0x0A, cdw10=0x07)                # Get Features: Number of Queues
    b.cmd(0x09, cdw10=0x0B, cdw11=0x100)   # Async Event Configuration
    b.cmd(0x0A, cdw10=0x0F)                # Keep Alive Timer
    b.cmd(0x02, cdw10=0x01 | (15 << 16), length=64)    # Get Log Page: error information
    b.cmd(0x02, cdw10=0x02 | (127 << 16), length=512)  # SMART / health
    b.cmd(0x02, cdw10=0x04 | (1023 << 16), length=4096)  # changed namespace list
    b.cmd(0x18)                            # Keep Alive
    for _ in range(4):
        b.cmd(0x0C)                        # Asynchronous Event Request
    b.cmd(0x08, cdw10=0x1)                 # Abort
    b.cmd(0x7E)                            # unknown opcode


def target_seeds():
    seeds = {}
    # mode 0: raw, the input carries its own ICReq and Connect
    b = Builder()
    b.icreq_pdu()
    seeds["raw_icreq"] = b.out
    b = Builder()
    b.icreq_pdu()
    admin_session(b)
    admin_commands(b)
    b.send(b.capsule(struct.pack("<BBHB59x", 0x7F, 0, b.next_cid(), 0x08)))  # Disconnect
    seeds["raw_admin_session"] = b.out
    b = Builder()
    b.icreq_pdu()
    admin_session(b)
    b.write_r2t(0, 0, pattern(4096, 2), ttag=3)  # H2CData without an R2T
    seeds["raw_h2c_without_r2t"] = b.out
    b = Builder()
    b.icreq_pdu(hdgst=True, ddgst=True)
    admin_session(b)
    b.cmd(0x06, cdw10=1, length=4096)
    seeds["raw_admin_digests"] = b.out
    b = Builder()
    b.icreq_pdu()
    admin_session(b, n.DISCOVERY_NQN)
    b.cmd(0x02, cdw10=0x70 | (1023 << 16), length=4096)
    seeds["raw_discovery"] = b.out
    b = Builder()
    b.icreq_pdu()
    b.connect_pdu(SUBNQN, kato=1000)
    b.send(struct.pack("<BBBBIHI10x", n.PDU_H2C_TERM, 0, 24, 0, 24, 1, 0))  # H2CTermReq
    seeds["raw_termreq"] = b.out

    out = {f"m0_{k}": b"\x00" + v for k, v in seeds.items()}
    out["m0_raw_admin_session_per_pdu"] = bytes([16]) + seeds["raw_admin_session"]

    # mode 1: admin queue, connected and enabled by the harness
    for flags, dg in ((1, (False, False)), (1 | 4, (True, False)), (1 | 4 | 8, (True, True))):
        b = Builder(*dg)
        b.cid = 2  # the harness used CIDs 1 and 2
        admin_commands(b)
        out[f"m1_admin_tour_{flags:x}"] = bytes([flags]) + b.out
    b = Builder()
    b.cid = 2
    b.prop_set_pdu(0x14, 0x460000)  # controller reset
    b.prop_set_pdu(0x14, 0x464001)  # shutdown notification
    b.prop_get_pdu(0x1C)
    out["m1_reset_shutdown"] = b"\x01" + b.out
    b = Builder()
    b.cid = 2
    b.cmd(0x02, nsid=1, cdw10=0x01, length=8192)  # SGL: transport data block in the admin queue
    b.cmd(0x06, cdw10=1, data=pattern(4096, 1))  # Identify with in-capsule data (wrong direction)
    out["m1_odd_sgl"] = b"\x01" + b.out

    # mode 2: I/O queue 1, connected by the harness (Connect used CID 1 and request slot 0)
    # (flags 16: the harness delivers PDU by PDU, so H2CData follows the R2T it answers)
    for flags, dg in ((2 | 16, (False, False)), (2 | 4 | 16, (True, False)), (2 | 4 | 8 | 16, (True, True))):
        b = Builder(*dg)
        b.cid = 1
        b.cmd(0x01, nsid=1, cdw10=4, cdw12=0, data=pattern(4096, 3))             # in-capsule write
        b.cmd(0x02, nsid=1, cdw10=4, cdw12=0, length=4096)                       # read
        b.cmd(0x01, nsid=2, cdw10=8, cdw12=7, data=pattern(4096, 5))             # null ns, 512 B blocks
        b.cmd(0x02, nsid=2, cdw10=8, cdw12=15, length=8192)
        b.write_r2t(1, 16, pattern(32768, 9), ttag=0)                            # R2T + 2 H2CData
        b.cmd(0x02, nsid=1, cdw10=16, cdw12=7, length=32768)
        b.cmd(0x00, nsid=1)                                                       # Flush
        b.cmd(0x08, nsid=1, cdw10=32, cdw12=3)                                    # Write Zeroes
        b.cmd(0x09, nsid=1, cdw10=0, cdw11=0x4, data=struct.pack("<IIQ", 0, 8, 40))  # DSM deallocate
        b.cmd(0x05, nsid=1, cdw10=4, cdw12=0, data=pattern(4096, 3))             # Compare
        b.cmd(0x02, nsid=1, cdw10=255, cdw12=1, length=8192)                     # beyond the end
        b.cmd(0x01, nsid=1, cdw10=20, cdw12=0x40000000, data=pattern(4096, 11))  # FUA write
        out[f"m2_io_tour_{flags:x}"] = bytes([flags]) + b.out
    b = Builder()
    b.cid = 1
    b.write_r2t(1, 0, pattern(65536, 13), ttag=0, chunk=16384)
    out["m2_write_64k_r2t"] = bytes([2 | 16]) + b.out
    b = Builder()
    b.cid = 1
    for i in range(40):  # more than the queue holds
        b.cmd(0x02, nsid=1, cdw10=i, length=4096)
    out["m2_queue_overflow"] = b"\x02" + b.out

    # mode 3: discovery controller
    b = Builder()
    b.cid = 2
    b.cmd(0x06, cdw10=1, length=4096)
    b.cmd(0x02, cdw10=0x70 | (3 << 16), length=16)
    b.cmd(0x02, cdw10=0x70 | (1023 << 16), length=4096)
    b.cmd(0x02, cdw10=0x70 | (255 << 16), cdw12=1024, length=1024)
    b.cmd(0x0C)
    b.cmd(0x18)
    out["m3_discovery"] = b"\x03" + b.out
    return out


# ---- the controller side, for fuzz_host_rx.c ----
def c2h_pdu(cccid, datao, data, last=True, success=False, hdgst=False, ddgst=False):
    hd = 4 if hdgst else 0
    flags = (n.F_HDGST if hdgst else 0) | (n.F_DDGST if ddgst else 0) | (n.F_LAST if last else 0) | \
        (n.F_SUCCESS if success else 0)
    pdo = 24 + hd
    plen = pdo + len(data) + (4 if ddgst else 0)
    hdr = struct.pack("<BBBBIHHII4x", n.PDU_C2H_DATA, flags, 24, pdo, plen, cccid, 0, datao, len(data))
    out = hdr + (struct.pack("<I", n.crc32c(hdr)) if hdgst else b"") + data
    if ddgst:
        out += struct.pack("<I", n.crc32c(data))
    return out


def rsp_pdu(cid, status=0, dw0=0, hdgst=False):
    hdr = struct.pack("<BBBBIIIHHHH", n.PDU_RSP, n.F_HDGST if hdgst else 0, 24, 0, 24 + (4 if hdgst else 0),
                      dw0, 0, 0, 1, cid, status << 1)
    return hdr + (struct.pack("<I", n.crc32c(hdr)) if hdgst else b"")


def r2t_pdu(cid, ttag, r2to, r2tl, hdgst=False):
    hdr = struct.pack("<BBBBIHHII4x", n.PDU_R2T, n.F_HDGST if hdgst else 0, 24, 0, 24 + (4 if hdgst else 0),
                      cid, ttag, r2to, r2tl)
    return hdr + (struct.pack("<I", n.crc32c(hdr)) if hdgst else b"")


def icresp_pdu(dgst=0, cpda=0, maxh2c=8192):
    return struct.pack("<BBBBIHBBI", n.PDU_ICRESP, 0, 128, 0, 128, 0, cpda, dgst, maxh2c) + bytes(112)


def host_session(hd=False, dd=False):
    cid = [0x1000 + i for i in range(6)]
    s = b""
    s += c2h_pdu(cid[0], 0, pattern(4096, 1), last=False, hdgst=hd, ddgst=dd)
    s += c2h_pdu(cid[0], 4096, pattern(4096, 2), last=True, hdgst=hd, ddgst=dd)
    s += rsp_pdu(cid[0], hdgst=hd)
    s += r2t_pdu(cid[1], 7, 0, 16384, hdgst=hd)
    s += rsp_pdu(cid[1], hdgst=hd)
    s += rsp_pdu(cid[2], status=0x80, hdgst=hd)      # LBA out of range
    s += rsp_pdu(cid[3], hdgst=hd)
    s += c2h_pdu(cid[4], 0, pattern(512, 4), last=True, success=True, hdgst=hd, ddgst=dd)
    s += c2h_pdu(cid[5], 0, pattern(4096, 5), last=True, hdgst=hd, ddgst=dd)
    s += rsp_pdu(cid[5], dw0=0x1234, hdgst=hd)
    return s


def host_seeds():
    out = {}
    out["ic_harness_full_session"] = b"\x01" + host_session()
    out["ic_harness_digests_session"] = bytes([1 | 2 | 4]) + host_session(True, True)
    out["ic_harness_hdgst_session"] = bytes([1 | 2]) + host_session(True, False)
    out["ic_harness_cpda"] = bytes([1 | 8]) + host_session()
    out["raw_icresp_session"] = b"\x00" + icresp_pdu() + host_session()
    out["raw_icresp_only"] = b"\x00" + icresp_pdu(maxh2c=4096)
    out["ic_harness_r2t_split"] = b"\x01" + r2t_pdu(0x1001, 3, 0, 8192) + r2t_pdu(0x1001, 4, 8192, 8192) + \
        rsp_pdu(0x1001)
    out["ic_harness_termreq"] = b"\x01" + struct.pack("<BBBBIHI10x", n.PDU_C2H_TERM, 0, 24, 0, 32, 2, 0) + bytes(8)
    out["ic_harness_success_flag"] = b"\x01" + c2h_pdu(0x1000, 0, pattern(8192, 6), success=True)
    return out


# ---- JSON-RPC and configuration, for fuzz_rpc_config.c ----
def rpc_seeds():
    out = {}

    def req(method, params=None, rid=1):
        r = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            r["params"] = params
        return r

    listen = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "4420"}
    nqn = "nqn.2016-06.io.spdk:cnode1"
    session = [
        req("spdk_get_version"),
        req("rpc_get_methods"),
        req("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 256, "block_size": 4096}),
        req("bdev_null_create", {"name": "Null0", "num_blocks": 1024, "block_size": 512}),
        req("bdev_uring_create", {"name": "File0", "filename": "/tmp/disk.img", "block_size": 4096}),
        req("bdev_get_bdevs"),
        req("nvmf_create_transport", {"trtype": "TCP", "max_queue_depth": 64, "c2h_success": False}),
        req("nvmf_get_transports"),
        req("nvmf_create_subsystem", {"nqn": nqn, "allow_any_host": False, "serial_number": "SPDK001",
                                      "model_number": "nvfab", "max_namespaces": 8}),
        req("nvmf_subsystem_add_ns", {"nqn": nqn, "namespace": {"bdev_name": "Malloc0", "nsid": 3,
                                                               "uuid": "0e5f3a2c-1d4b-4c5e-8f6a-7b8c9d0e1f2a"}}),
        req("nvmf_subsystem_add_host", {"nqn": nqn, "host": n.HOSTNQN}),
        req("nvmf_subsystem_add_listener", {"nqn": nqn, "listen_address": listen}),
        req("nvmf_subsystem_add_listener", {"nqn": n.DISCOVERY_NQN, "listen_address": dict(listen, trsvcid="8009")}),
        req("nvmf_get_subsystems"),
        req("nvmf_subsystem_get_controllers", {"nqn": nqn}),
        req("nvmf_get_stats"),
        req("save_config"),
        req("framework_get_config", {"name": "nvmf"}),
        req("nvmf_subsystem_remove_ns", {"nqn": nqn, "nsid": 3}),
        req("nvmf_subsystem_remove_host", {"nqn": nqn, "host": n.HOSTNQN}),
        req("nvmf_subsystem_allow_any_host", {"nqn": nqn, "allow_any_host": True}),
        req("nvmf_subsystem_remove_listener", {"nqn": nqn, "listen_address": listen}),
        req("nvmf_delete_subsystem", {"nqn": nqn}),
        req("bdev_malloc_delete", {"name": "Malloc0"}),
    ]
    out["rpc_session"] = b"\x00" + "\n".join(json.dumps(r) for r in session).encode()
    batch = [req("spdk_get_version", rid=1), {"jsonrpc": "2.0", "method": "bdev_get_bdevs"},
             req("no_such_method", rid="x")]
    out["rpc_batch"] = b"\x00" + json.dumps(batch).encode()
    out["rpc_errors"] = b"\x00" + b'{"jsonrpc":"2.0","method":"bdev_malloc_create","params":{"num_blocks":-1},"id":1}' \
        b'{"jsonrpc":"1.0","id":2}{"method":7}[]{"jsonrpc":"2.0","method":"nvmf_create_subsystem","params":[1],"id":3}'
    out["rpc_partial"] = b"\x00" + b'{"jsonrpc":"2.0","method":"spdk_get_version","id":1}{"jsonrpc":"2.0","meth'

    cfg = harness.simple_config(4420, bdevs=(("ram", "Malloc0", 256, 4096), ("null", "Null0", 2048, 512),
                                             ("file", "File0", 0, 4096, "/tmp/disk.img")),
                                hosts=[n.HOSTNQN], allow_any_host=False, discovery_port=8009,
                                transport={"in_capsule_data_size": 4096, "io_unit_size": 16384})
    out["config_full"] = b"\x01" + json.dumps(cfg, indent=2).encode()
    out["config_simple"] = b"\x01" + json.dumps(harness.simple_config(4420)).encode()
    out["config_comments"] = b"\x01" + b"""// an SPDK configuration with comments
{
  /* bdevs first */
  "subsystems": [
    {"subsystem": "accel", "config": [{"method": "accel_set_options", "params": {}}]},
    {"subsystem": "bdev", "config": [
      {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 65535}},
      {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 128, "block_size": 512}},
      {"method": "bdev_wait_for_examine"}
    ]},
    {"subsystem": "nvmf", "config": [
      {"method": "nvmf_set_max_subsystems", "params": {"max_subsystems": 1024}},
      {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
      {"method": "nvmf_create_subsystem", "params": {"nqn": "nqn.2016-06.io.spdk:cnode1", "allow_any_host": true}},
      {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "nqn.2016-06.io.spdk:cnode1",
                                                     "namespace": {"bdev_name": "Malloc0"}}}
    ]}
  ]
}
"""
    out["config_empty"] = b"\x01" + b'{"subsystems": []}'
    return out


def trid_seeds():
    return {
        "tcp_v4": b"trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1",
        "tcp_v6": b"trtype=tcp adrfam=ipv6 traddr=::1 trsvcid=4421 subnqn=nqn.2014-08.org.nvmexpress.discovery",
        "minimal": b"trtype:TCP traddr:127.0.0.1",
        "hostnqn": b"trtype:TCP traddr:127.0.0.1 hostnqn:nqn.2014-08.org.nvmexpress:uuid:"
                   b"00000000-0000-4000-8000-000000000001 priority:1",
        "rdma": b"trtype:RDMA adrfam:IPv4 traddr:192.0.2.1 trsvcid:4420",
        "tabs": b"\ttrtype:TCP\ttraddr:fe80::1%lo\ttrsvcid:65535\n",
    }


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    for name, seeds in (("target_rx", target_seeds()), ("host_rx", host_seeds()),
                        ("rpc_config", rpc_seeds()), ("trid", trid_seeds())):
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        for seed, data in sorted(seeds.items()):
            with open(os.path.join(d, seed), "wb") as f:
                f.write(data)
        print(f"{name}: {len(seeds)} seeds in {d}")


if __name__ == "__main__":
    main()
