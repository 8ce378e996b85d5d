"""DH-HMAC-CHAP between nvfab and nvfabd, and against a host written here in Python with
hashlib/hmac only (an implementation independent of nvfab's C code): keys from the file keyring,
uni- and bidirectional, refusals, malformed and out-of-order messages, and the daemon serving a
good host after each of them."""
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import threading
import zlib

import pytest

from harness import NVFAB, SUBNQN, WRAPPER, Target, bdev_call, free_port, pump, wait_for
import nvmetcp

HOSTNQN = nvmetcp.HOSTNQN
AUTH_REQUIRED = 0x4191          # SCT 1, SC 91h, DNR
INVALID_FIELD = 0x4002


def secret(key, transform=0):
    crc = zlib.crc32(key).to_bytes(4, "little")
    return "DHHC-1:%02x:%s:" % (transform, base64.b64encode(key + crc).decode())


def write_key(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


@pytest.fixture
def keys(tmp_path):
    k = {"host": os.urandom(32), "ctrl": os.urandom(48), "other": os.urandom(32)}
    k["host_secret"] = secret(k["host"], 1)
    k["ctrl_secret"] = secret(k["ctrl"], 2)
    k["other_secret"] = secret(k["other"], 0)
    for name in ("host", "ctrl", "other"):
        k[name + "_file"] = write_key(tmp_path / f"{name}.key", k[name + "_secret"])
    return k


def auth_config(port, keys, dhgroups=("null", "ffdhe2048"), host_keys=("hk", "ck")):
    host = {"nqn": SUBNQN, "host": HOSTNQN}
    if host_keys[0]:
        host["dhchap_key"] = host_keys[0]
    if host_keys[1]:
        host["dhchap_ctrlr_key"] = host_keys[1]
    addr = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}
    return {"subsystems": [
        {"subsystem": "keyring", "config": [
            {"method": "keyring_file_add_key", "params": {"name": "hk", "path": keys["host_file"]}},
            {"method": "keyring_file_add_key", "params": {"name": "ck", "path": keys["ctrl_file"]}}]},
        {"subsystem": "bdev", "config": [bdev_call("ram", "Malloc0", 4096, 4096)]},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_set_config", "params": {"dhchap_dhgroups": list(dhgroups)}},
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": SUBNQN, "allow_any_host": False}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": SUBNQN, "namespace": {"bdev_name": "Malloc0"}}},
            {"method": "nvmf_subsystem_add_host", "params": host},
            {"method": "nvmf_subsystem_add_listener", "params": {"nqn": SUBNQN, "listen_address": addr}}]}]}


def nvfab(*args, timeout=120):
    return subprocess.run(WRAPPER + [NVFAB] + list(args), capture_output=True, text=True, timeout=timeout)


def trid(port):
    return f"trtype:TCP traddr:127.0.0.1 trsvcid:{port} subnqn:{SUBNQN}"


# ---- the host side in Python: messages, response arithmetic ----

HASHES = {1: hashlib.sha256, 2: hashlib.sha384, 3: hashlib.sha512}


def transformed(key, transform, nqn):
    if transform == 0:
        return key
    return hmac.new(key, nqn.encode() + b"NVMe-over-Fabrics", HASHES[transform]).digest()


def response(key, transform, hash_id, challenge, seqnum, tid, role, nqn1, nqn2):
    msg = challenge + struct.pack("<IHB", seqnum, tid, 0) + role + nqn1.encode() + b"\0" + nqn2.encode()
    return hmac.new(transformed(key, transform, nqn1), msg, HASHES[hash_id]).digest()


def negotiate(tid, hashes=(1, 2, 3), groups=(0,), sc_c=0, napd=1, auth_id=1):
    desc = struct.pack("<BBBB", auth_id, 0, len(hashes), len(groups))
    desc += bytes(hashes).ljust(30, b"\0") + bytes(groups).ljust(30, b"\0")
    return struct.pack("<BBxxHBB", 0, 0, tid, sc_c, napd) + desc


def reply(tid, rval, hl, cval=None, seqnum=0):
    body = rval + (cval if cval else bytes(hl))
    return struct.pack("<BBxxHBxBxHI", 1, 2, tid, hl, 1 if cval else 0, 0, seqnum) + body


def auth_cmd(conn, fctype, length, data=b"", secp=0xE9, spsp=1):
    cid = conn.next_cid()
    sgl_type = 0x01 if data else 0x5A
    cmd = struct.pack("<BBHB19xQIxxxBxBBBI16x", 0x7F, 0, cid, fctype, 0, length, sgl_type, spsp, spsp, secp,
                      length)
    conn.send(conn.capsule(cmd, data))
    buf = bytearray(length) if fctype == 6 else None
    st, _ = conn.wait_completion(cid, buf)
    return st, bytes(buf) if buf is not None else b""


def send_msg(conn, msg):
    st, _ = auth_cmd(conn, 5, len(msg), msg)
    return st


def recv_msg(conn, al=4096):
    return auth_cmd(conn, 6, al)


def python_authenticate(conn, keys, tid=1, hash_ids=(1,), bidirectional=False, key=None):
    """Runs the exchange with the null DH group; returns the Success1 message (or Failure1)."""
    assert send_msg(conn, negotiate(tid, hash_ids)) == 0
    st, ch = recv_msg(conn)
    assert st == 0
    typ, aid, ctid, hl, hash_id, group, dhvlen, seqnum = struct.unpack_from("<BBxxHBxBBHI", ch)
    assert (typ, aid, ctid, group, dhvlen) == (1, 1, tid, 0, 0), (typ, aid, ctid, group, dhvlen)
    assert hash_id in hash_ids and hl == HASHES[hash_id]().digest_size
    c1 = ch[16:16 + hl]
    rval = response(key or keys["host"], 1, hash_id, c1, seqnum, tid, b"HostHost", HOSTNQN, SUBNQN)
    c2 = os.urandom(hl) if bidirectional else None
    assert send_msg(conn, reply(tid, rval, hl, c2, seqnum=77 if bidirectional else 0)) == 0
    st, s1 = recv_msg(conn)
    assert st == 0
    if bidirectional and s1[1] == 3:
        expect = response(keys["ctrl"], 2, hash_id, c2, 77, tid, b"Controller", SUBNQN, HOSTNQN)
        assert s1[8] == 1 and s1[16:16 + hl] == expect, "the controller's response is not what Python computes"
        assert send_msg(conn, struct.pack("<BBxxH10x", 1, 4, tid)) == 0
    return s1


def admin_conn(port, hostnqn=HOSTNQN):
    c = nvmetcp.Conn(port)
    c.icreq()
    st, dw0 = c.connect(SUBNQN, kato=30000, hostnqn=hostnqn)
    assert st == 0, hex(st)
    return c, dw0


def closed(conn, timeout=5.0):
    conn.s.settimeout(timeout)
    try:
        return conn.s.recv(4096) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def serves_good_host(port, keys):
    r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", keys["host_file"])
    return r.returncode == 0 and "Identify Controller" in r.stdout


# ---- tests ----

def test_nvfab_authenticates_uni_and_bidirectional(tmp_path, keys):
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")) as t:
        # unidirectional, digests on, I/O queues too, verified data
        r = nvfab("perf", "-r", trid(port), "--hostnqn", HOSTNQN, "--dhchap-secret", keys["host_secret"],
                  "-g", "-G", "-q", "8", "-o", "4096", "-w", "randrw", "-M", "50", "-t", "1", "-P", "2",
                  "--verify")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "errors: 0 I/O, 0 verify" in r.stdout
        # bidirectional, secrets from files
        r = nvfab("perf", "-r", trid(port), "--hostnqn", HOSTNQN, "--dhchap-secret", keys["host_file"],
                  "--dhchap-ctrl-secret", keys["ctrl_file"], "-q", "8", "-o", "4096", "-w", "randrw",
                  "-M", "50", "-t", "1", "--verify")
        assert r.returncode == 0, r.stdout + r.stderr
        log = t.read_log()
        # the strongest hash and group both allow: SHA-512 and ffdhe2048 (null is allowed too)
        assert log.count("authenticated (DH-HMAC-CHAP sha512, ffdhe2048)") >= 3, log
        assert log.count("authenticated (DH-HMAC-CHAP sha512, ffdhe2048, bidirectional)") >= 2, log


def test_host_starts_reauthentication(tmp_path, keys):
    """libnvfab's nvfab_ctrlr_reauthenticate (nvfab identify --reauthenticate): new exchanges on
    the live admin queue, bidirectional, and the queue serves Identify afterwards; without a
    secret there is nothing to do it with."""
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")) as t:
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", keys["host_file"],
                  "--dhchap-ctrl-secret", keys["ctrl_file"], "--reauthenticate", "3")
        assert r.returncode == 0 and "Identify Controller" in r.stdout, r.stderr
        assert t.read_log().count("qid 0: host %s authenticated" % HOSTNQN) == 4


def test_refusals_are_clear_and_the_daemon_serves_on(tmp_path, keys):
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")) as t:
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", keys["other_secret"])
        assert r.returncode == 1 and "refused authentication: authentication failed" in r.stderr, r.stderr
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN)
        assert r.returncode == 1 and "requires DH-HMAC-CHAP authentication" in r.stderr, r.stderr
        # the host expects another controller secret: it refuses the controller
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", keys["host_file"],
                  "--dhchap-ctrl-secret", keys["other_file"])
        assert r.returncode == 1 and "the controller's response is wrong" in r.stderr, r.stderr
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", "DHHC-1:00:notbase64:")
        assert r.returncode == 1 and "bad DH-HMAC-CHAP host secret" in r.stderr, r.stderr
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", str(tmp_path / "missing"))
        assert r.returncode == 2 and "neither a key nor a readable file" in r.stderr, r.stderr
        loose = write_key(tmp_path / "loose.key", keys["host_secret"])
        os.chmod(loose, 0o644)
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", loose)
        assert r.returncode == 2 and "readable by others" in r.stderr, r.stderr
        log = t.read_log()
        assert "DH-HMAC-CHAP with host %s failed: authentication failed" % HOSTNQN in log
        assert serves_good_host(port, keys)
        assert t.alive()


class CutBeforeVerdict:
    """A proxy to the target that resets both connections when the host asks for the verdict
    on its response (its second Authentication Receive), as Linux's target may: refusing, it
    tears the controller down while its Failure1 is still queued."""

    def __init__(self, to_port):
        self.to_port = to_port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.cut = False
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _reset(*socks):
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def _serve(self):
        try:
            host, _ = self.lsock.accept()
        except OSError:
            return
        target = socket.create_connection(("127.0.0.1", self.to_port))
        threading.Thread(target=pump, args=(target, host), daemon=True).start()
        buf, receives = b"", 0
        try:
            while True:
                data = host.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 8 and len(buf) >= struct.unpack_from("<I", buf, 4)[0]:
                    plen = struct.unpack_from("<I", buf, 4)[0]
                    pdu, buf = buf[:plen], buf[plen:]
                    if pdu[0] == nvmetcp.PDU_CMD and pdu[8] == 0x7F and pdu[12] == 0x06:
                        receives += 1
                        if receives == 2:
                            self.cut = True
                            self._reset(host, target)
                            return
                    target.sendall(pdu)
        except OSError:
            pass

    def close(self):
        self.lsock.close()


def test_connection_closed_where_the_verdict_was_due(tmp_path, keys):
    """Linux's target may answer a wrong response by ending the connection before its Failure1
    leaves: nvfab then says so, rather than a bare "Authentication Receive failed"."""
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")) as t:
        proxy = CutBeforeVerdict(port)
        try:
            r = nvfab("identify", "-r", trid(proxy.port), "-q", HOSTNQN, "--dhchap-secret",
                      keys["other_secret"])
        finally:
            proxy.close()
        assert proxy.cut, r.stderr
        assert r.returncode == 1 and \
            "closed the connection instead of answering our response" in r.stderr, r.stderr
        assert t.alive()


def test_independent_host_and_the_gate(tmp_path, keys):
    """The Python host computes every response itself: nvfabd agrees with it, on the admin and an
    I/O queue, and nothing but authentication is served before."""
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")):
        admin, dw0 = admin_conn(port)
        assert dw0 & (1 << 17), "Connect response does not ask for authentication (AUTHREQ.ATR)"
        assert admin.prop_get(0x1C)[0] == AUTH_REQUIRED
        assert admin.identify(1)[0] == AUTH_REQUIRED
        s1 = python_authenticate(admin, keys, tid=5, hash_ids=(1,))
        assert s1[:2] == b"\x01\x03", s1[:8]
        admin.enable()
        st, _, ident = admin.identify(1)
        assert st == 0 and ident[24:44].strip()
        cntlid = dw0 & 0xFFFF
        io = nvmetcp.Conn(port)
        io.icreq()
        st, idw0 = io.connect(SUBNQN, qid=1, sqsize=31, cntlid=cntlid)
        assert st == 0 and idw0 & (1 << 17)
        assert io.read(1, 0, 4096)[0] == AUTH_REQUIRED
        python_authenticate(io, keys, tid=6, hash_ids=(2,), bidirectional=True)
        assert io.write(1, 0, b"\xab" * 4096)[0] == 0
        assert io.read(1, 0, 4096) == (0, b"\xab" * 4096)
        # re-authentication on a live queue: it stays usable meanwhile and afterwards
        python_authenticate(io, keys, tid=7, hash_ids=(3,))
        assert io.read(1, 0, 4096)[0] == 0
        io.close()
        admin.close()


BAD_CASES = {  # the case and the reason code explanation of the Failure1 it earns
    "short-negotiate": 6, "napd-mismatch": 6, "secure-channel": 3, "no-dhchap-descriptor": 2,
    "reply-first": 7, "receive-first": 7, "wrong-tid": 6, "replayed-reply": 1, "wrong-key": 1,
    "no-common-hash": 4, "garbage": 7, "failure2": None}


def bad_exchange(c, keys, case):
    if case == "short-negotiate":
        assert send_msg(c, negotiate(1)[:40]) == 0
    elif case == "napd-mismatch":
        assert send_msg(c, negotiate(1, napd=2)) == 0
    elif case == "secure-channel":
        assert send_msg(c, negotiate(1, sc_c=1)) == 0
    elif case == "no-dhchap-descriptor":
        assert send_msg(c, negotiate(1, auth_id=2)) == 0
    elif case == "reply-first":
        assert send_msg(c, reply(1, bytes(32), 32)) == 0
    elif case in ("wrong-tid", "replayed-reply", "wrong-key"):
        assert send_msg(c, negotiate(1, (1,))) == 0
        st, ch = recv_msg(c)
        seqnum = struct.unpack_from("<I", ch, 12)[0]
        key = keys["other"] if case == "wrong-key" else keys["host"]
        rval = response(key, 1, 1, ch[16:48], seqnum, 1, b"HostHost", HOSTNQN, SUBNQN)
        if case == "replayed-reply":
            # a correct Reply to that challenge, sent again in a new transaction
            assert send_msg(c, negotiate(2, (1,))) == 0
            assert recv_msg(c)[0] == 0
            assert send_msg(c, reply(2, rval, 32)) == 0
        else:
            assert send_msg(c, reply(9 if case == "wrong-tid" else 1, rval, 32)) == 0
    elif case == "no-common-hash":
        assert send_msg(c, negotiate(1, (9,))) == 0
    elif case == "garbage":
        assert send_msg(c, os.urandom(1) + b"\x77" + os.urandom(62)) == 0
    elif case == "failure2":
        assert send_msg(c, negotiate(1, (1,))) == 0
        assert recv_msg(c)[0] == 0
        assert send_msg(c, struct.pack("<BBxxHBB", 0, 0xF0, 1, 1, 1)) == 0


def test_bad_messages_end_the_queue(tmp_path, keys):
    """Each bad step: the controller answers the next AUTH_Receive with Failure1 and the spec's
    reason code, then closes the connection; a good host connects afterwards."""
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")) as t:
        for case, reason in BAD_CASES.items():
            c, _ = admin_conn(port)
            bad_exchange(c, keys, case)
            if reason is not None:
                st, f1 = recv_msg(c)
                assert st == 0, case
                assert f1[:2] == b"\x00\xf1" and f1[6] == 1 and f1[7] == reason, (case, f1[:8].hex())
            assert closed(c), f"{case}: the controller kept the queue open after a failed exchange"
        assert serves_good_host(port, keys)
        assert t.read_log().count("DH-HMAC-CHAP with host") >= len(BAD_CASES) - 1


def test_bad_commands(tmp_path, keys):
    """Authentication Send/Receive with the wrong protocol, lengths that disagree, an allocation
    too small for the Challenge: Invalid Field, and the exchange can go on."""
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")):
        c, _ = admin_conn(port)
        msg = negotiate(3, (1,))
        assert auth_cmd(c, 5, len(msg), msg, secp=0xEA)[0] == INVALID_FIELD
        assert auth_cmd(c, 5, len(msg), msg, spsp=2)[0] == INVALID_FIELD
        assert send_msg(c, msg) == 0
        assert recv_msg(c, al=20)[0] == INVALID_FIELD
        s1 = python_authenticate(c, keys, tid=4)
        assert s1[:2] == b"\x01\x03"
        c.close()


def test_keys_in_config_rotation_and_rpc_errors(tmp_path, keys):
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "t")) as t:
        cfg = t.rpc("save_config")["result"]
        text = json.dumps(cfg)
        for material in (keys["host_secret"], keys["ctrl_secret"]):
            assert material.split(":")[2] not in text, "key material in save_config"
        nvmf = next(s for s in cfg["subsystems"] if s["subsystem"] == "nvmf")["config"]
        host = next(c["params"] for c in nvmf if c["method"] == "nvmf_subsystem_add_host")
        assert host["dhchap_key"] == "hk" and host["dhchap_ctrlr_key"] == "ck"
        setc = next(c["params"] for c in nvmf if c["method"] == "nvmf_set_config")
        assert setc["dhchap_dhgroups"] == ["null", "ffdhe2048"]
        # errors named
        err = t.rpc("nvmf_subsystem_add_host", {"nqn": SUBNQN, "host": "nqn.2014-08.x:h2", "dhchap_key": "nope"})
        assert "Unable to find DH-HMAC-CHAP key: nope" in json.dumps(err)
        err = t.rpc("nvmf_subsystem_add_host", {"nqn": SUBNQN, "host": "nqn.2014-08.x:h2", "dhchap_ctrlr_key": "ck"})
        assert "needs dhchap_key" in json.dumps(err)
        err = t.rpc("nvmf_set_config", {"dhchap_digests": ["md5"]})
        assert "unknown name" in json.dumps(err)
        # rotation: the old secret stops working for new connections, the new one works
        assert t.rpc("keyring_file_add_key", {"name": "k2", "path": keys["other_file"]})["result"] is True
        assert t.rpc("nvmf_subsystem_set_keys", {"nqn": SUBNQN, "host": HOSTNQN, "dhchap_key": "k2"})["result"] is True
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", keys["host_file"])
        assert r.returncode == 1
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--dhchap-secret", keys["other_file"])
        assert r.returncode == 0, r.stderr
        # the saved configuration loads back and authenticates
        cfg = t.rpc("save_config")["result"]
    port2 = free_port()
    for s in cfg["subsystems"]:
        for c in s["config"] or []:
            if c["method"] == "nvmf_subsystem_add_listener":
                c["params"]["listen_address"]["trsvcid"] = str(port2)
    with Target(cfg, tmpdir=str(tmp_path / "t2")):
        r = nvfab("identify", "-r", trid(port2), "-q", HOSTNQN, "--dhchap-secret", keys["other_file"])
        assert r.returncode == 0, r.stderr


def test_gateway_backend_hop_authenticates(tmp_path, keys):
    """The gateway's bdev_nvme_attach_controller with dhchap_key/dhchap_ctrlr_key (keyring names,
    as SPDK's): the backend connection authenticates both ways and I/O through both hops is
    verified; a wrong key is refused with the reason; save_config keeps the names."""
    from test_gateway import GW_NQN, export
    port = free_port()
    with Target(auth_config(port, keys), tmpdir=str(tmp_path / "storage")) as storage, \
            Target(tmpdir=str(tmp_path / "gateway")) as gw:
        for name, path in (("hk", keys["host_file"]), ("ck", keys["ctrl_file"]), ("bad", keys["other_file"])):
            assert gw.rpc("keyring_file_add_key", {"name": name, "path": path})["result"] is True
        # what the backend connections offer (SPDK's bdev_nvme_set_options lists): SHA-384 only
        assert "unknown name" in json.dumps(gw.rpc("bdev_nvme_set_options", {"dhchap_digests": ["md5"]}))
        assert gw.rpc("bdev_nvme_set_options", {"dhchap_digests": ["sha384"],
                                                "dhchap_dhgroups": ["ffdhe2048"]})["result"] is True
        attach = {"name": "Remote0", "trtype": "tcp", "traddr": "127.0.0.1", "adrfam": "ipv4",
                  "trsvcid": str(port), "subnqn": SUBNQN, "hostnqn": HOSTNQN}
        err = gw.rpc("bdev_nvme_attach_controller", dict(attach, dhchap_key="bad"))
        assert "refused authentication" in json.dumps(err), err
        err = gw.rpc("bdev_nvme_attach_controller", dict(attach, dhchap_key="nope"))
        assert "no key nope in the keyring" in json.dumps(err), err
        names = gw.rpc("bdev_nvme_attach_controller", dict(attach, dhchap_key="hk", dhchap_ctrlr_key="ck"))
        assert names.get("result") == ["Remote0n1"], names
        front = free_port()
        export(gw, ["Remote0n1"], front)
        r = nvfab("perf", "-r", f"trtype:TCP traddr:127.0.0.1 trsvcid:{front} subnqn:{GW_NQN}", "-q", "8",
                  "-o", "4096", "-w", "randrw", "-t", "1", "--verify")
        assert r.returncode == 0 and "errors: 0 I/O, 0 verify" in r.stdout, r.stdout + r.stderr
        cfg = json.dumps(gw.rpc("save_config")["result"])
        assert '"dhchap_key": "hk"' in cfg and '"dhchap_ctrlr_key": "ck"' in cfg
        assert keys["host_secret"].split(":")[2] not in cfg
        bdev_cfg = next(x for x in gw.rpc("save_config")["result"]["subsystems"] if x["subsystem"] == "bdev")
        opts = next(c["params"] for c in bdev_cfg["config"] if c["method"] == "bdev_nvme_set_options")
        assert opts["dhchap_digests"] == ["sha384"] and opts["dhchap_dhgroups"] == ["ffdhe2048"]
        assert "authenticated (DH-HMAC-CHAP sha384, ffdhe2048, bidirectional)" in storage.read_log()
