"""NVMe/TCP with TLS 1.3 and a pre-shared key between nvfab and nvfabd: a secure_channel listener,
the host's psk from the keyring, both cipher suites, verified I/O with digests over it; a wrong
key, no key, plain bytes and a host without a PSK are refused, and the daemon serves on."""
import base64
import json
import os
import socket
import subprocess
import zlib

import pytest

from harness import NVFAB, SUBNQN, WRAPPER, Target, bdev_call, free_port

HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:3c8e1a20-5b7f-4d19-8e64-0f2a9b6c7d11"
OTHER_HOST = "nqn.2014-08.org.nvmexpress:uuid:3c8e1a20-5b7f-4d19-8e64-0f2a9b6c7d12"


def psk_file(path, length, hash_id):
    key = os.urandom(length)
    text = "NVMeTLSkey-1:%02x:%s:" % (hash_id, base64.b64encode(key + zlib.crc32(key).to_bytes(4, "little")).decode())
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


def tls_config(secure_port, plain_port, keys):
    addr = lambda port: {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}
    return {"subsystems": [
        {"subsystem": "keyring", "config": [
            {"method": "keyring_file_add_key", "params": {"name": n, "path": p}} for n, p in keys.items()]},
        {"subsystem": "bdev", "config": [bdev_call("ram", "Malloc0", 4096, 4096)]},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": SUBNQN, "allow_any_host": False}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": SUBNQN, "namespace": {"bdev_name": "Malloc0"}}},
            {"method": "nvmf_subsystem_add_host", "params": {"nqn": SUBNQN, "host": HOSTNQN, "psk": "psk0"}},
            {"method": "nvmf_subsystem_add_host", "params": {"nqn": SUBNQN, "host": OTHER_HOST}},
            {"method": "nvmf_subsystem_add_listener",
             "params": {"nqn": SUBNQN, "secure_channel": True, "listen_address": addr(secure_port)}},
            {"method": "nvmf_subsystem_add_listener", "params": {"nqn": SUBNQN, "listen_address": addr(plain_port)}}]}]}


def nvfab(*args, timeout=120):
    return subprocess.run(WRAPPER + [NVFAB] + list(args), capture_output=True, text=True, timeout=timeout)


def trid(port):
    return f"trtype:TCP traddr:127.0.0.1 trsvcid:{port} subnqn:{SUBNQN}"


@pytest.fixture
def tls_target(tmp_path):
    keys = {"psk0": psk_file(tmp_path / "psk0", 32, 1), "psk48": psk_file(tmp_path / "psk48", 48, 2),
            "wrong": psk_file(tmp_path / "wrong", 32, 1)}
    secure, plain = free_port(), free_port()
    with Target(tls_config(secure, plain, keys), tmpdir=str(tmp_path / "t")) as t:
        t.secure, t.plain, t.keys = secure, plain, keys
        yield t


def verified(t, *args):
    r = nvfab("perf", "-r", trid(t.secure), "--hostnqn", HOSTNQN, *args, "-w", "randrw", "-M", "50",
              "-t", "1", "--verify")
    assert r.returncode == 0 and "errors: 0 I/O, 0 verify" in r.stdout, r.stdout + r.stderr


def test_verified_io_over_tls_both_suites(tls_target):
    t = tls_target
    # TLS_AES_128_GCM_SHA256 (a 32-byte PSK, hash 01): 4 KiB and 128 KiB, digests on, 2 I/O queues
    verified(t, "--tls", "--tls-key", t.keys["psk0"], "-g", "-G", "-q", "16", "-o", "4096", "-P", "2")
    verified(t, "--tls-key", t.keys["psk0"], "-q", "4", "-o", "128k")
    log = t.read_log()
    assert "TLS 1.3 with TLS_AES_128_GCM_SHA256, PSK identity NVMe0R01 %s %s" % (HOSTNQN, SUBNQN) in log
    # TLS_AES_256_GCM_SHA384: the host's PSK replaced by a 48-byte one (hash 02)
    assert t.rpc("nvmf_subsystem_remove_host", {"nqn": SUBNQN, "host": HOSTNQN})["result"] is True
    assert t.rpc("nvmf_subsystem_add_host", {"nqn": SUBNQN, "host": HOSTNQN, "psk": "psk48"})["result"] is True
    verified(t, "--tls-key", t.keys["psk48"], "-q", "16", "-o", "4096")
    assert "TLS 1.3 with TLS_AES_256_GCM_SHA384, PSK identity NVMe0R02 " in t.read_log()


def test_refusals_and_the_daemon_serves_on(tls_target):
    t = tls_target
    r = nvfab("identify", "-r", trid(t.secure), "-q", HOSTNQN, "--tls-key", t.keys["wrong"])
    assert r.returncode == 1 and "TLS handshake failed" in r.stderr, r.stderr
    # plain NVMe/TCP to the secure listener: ICReq is not a ClientHello
    r = nvfab("identify", "-r", trid(t.secure), "-q", HOSTNQN, "--connect-timeout", "3000")
    assert r.returncode == 1, r.stderr
    # TLS to the plain listener
    r = nvfab("identify", "-r", trid(t.plain), "-q", HOSTNQN, "--tls-key", t.keys["psk0"], "--connect-timeout", "3000")
    assert r.returncode == 1 and "TLS" in r.stderr, r.stderr
    # the host with a PSK may not come in over plain TCP
    r = nvfab("identify", "-r", trid(t.plain), "-q", HOSTNQN)
    assert r.returncode == 1 and "not allowed" in r.stderr, r.stderr
    # a host without a PSK cannot use someone else's: its identity has no key
    r = nvfab("identify", "-r", trid(t.secure), "-q", OTHER_HOST, "--tls-key", t.keys["psk0"])
    assert r.returncode == 1, r.stderr
    # ... and connects over plain TCP as before
    assert nvfab("identify", "-r", trid(t.plain), "-q", OTHER_HOST).returncode == 0
    # garbage before the handshake
    with socket.create_connection(("127.0.0.1", t.secure), timeout=5) as s:
        s.sendall(os.urandom(200))
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    log = t.read_log()
    assert "no PSK for identity" in log and "must connect over TLS" in log
    r = nvfab("identify", "-r", trid(t.secure), "-q", HOSTNQN, "--tls-key", t.keys["psk0"])
    assert r.returncode == 0, r.stderr
    assert t.alive()


def test_secure_listener_config(tls_target, tmp_path):
    t = tls_target
    cfg = t.rpc("save_config")["result"]
    nvmf = next(s for s in cfg["subsystems"] if s["subsystem"] == "nvmf")["config"]
    listeners = [c["params"] for c in nvmf if c["method"] == "nvmf_subsystem_add_listener"]
    assert [l.get("secure_channel", False) for l in listeners] == [True, False]
    host = next(c["params"] for c in nvmf if c["method"] == "nvmf_subsystem_add_host" and c["params"]["host"] == HOSTNQN)
    assert host["psk"] == "psk0"
    assert "NVMeTLSkey" not in json.dumps(cfg)
    # one port is TLS or not for every subsystem on it
    assert t.rpc("nvmf_create_subsystem", {"nqn": SUBNQN + "2", "allow_any_host": True})["result"] is True
    err = t.rpc("nvmf_subsystem_add_listener", {"nqn": SUBNQN + "2", "listen_address": {
        "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(t.secure)}})
    assert "secure_channel" in json.dumps(err), err
    err = t.rpc("nvmf_subsystem_add_host", {"nqn": SUBNQN + "2", "host": HOSTNQN, "psk": "nope"})
    assert "Unable to find PSK: nope" in json.dumps(err), err
    # the saved configuration loads back and serves TLS
    port = free_port()
    for c in nvmf:
        if c["method"] == "nvmf_subsystem_add_listener" and c["params"].get("secure_channel"):
            c["params"]["listen_address"]["trsvcid"] = str(port)
        if c["method"] == "nvmf_subsystem_add_listener" and not c["params"].get("secure_channel"):
            c["params"]["listen_address"]["trsvcid"] = str(free_port())
    with Target(cfg, tmpdir=str(tmp_path / "t2")):
        r = nvfab("identify", "-r", trid(port), "-q", HOSTNQN, "--tls-key", t.keys["psk0"])
        assert r.returncode == 0, r.stderr


def test_gateway_backend_hop_over_tls(tls_target, tmp_path):
    """The gateway's bdev_nvme_attach_controller with psk (a keyring name, as SPDK's): the
    backend connection is TLS; verified I/O through both hops; the name is saved."""
    from test_gateway import GW_NQN, export
    t = tls_target
    with Target(tmpdir=str(tmp_path / "gateway")) as gw:
        assert gw.rpc("keyring_file_add_key", {"name": "backend", "path": t.keys["psk0"]})["result"] is True
        names = gw.rpc("bdev_nvme_attach_controller", {
            "name": "Remote0", "trtype": "tcp", "traddr": "127.0.0.1", "adrfam": "ipv4",
            "trsvcid": str(t.secure), "subnqn": SUBNQN, "hostnqn": HOSTNQN, "psk": "backend"})
        assert names.get("result") == ["Remote0n1"], names
        front = free_port()
        export(gw, ["Remote0n1"], front)
        r = nvfab("perf", "-r", f"trtype:TCP traddr:127.0.0.1 trsvcid:{front} subnqn:{GW_NQN}", "-q", "8",
                  "-o", "4096", "-w", "randrw", "-t", "1", "--verify")
        assert r.returncode == 0 and "errors: 0 I/O, 0 verify" in r.stdout, r.stdout + r.stderr
        assert '"psk": "backend"' in json.dumps(gw.rpc("save_config")["result"])
    assert "PSK identity NVMe0R01 %s" % HOSTNQN in t.read_log()
