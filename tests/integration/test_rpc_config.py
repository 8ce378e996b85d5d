"""The control plane: SPDK-shaped JSON-RPC, config files, save_config round trips, and that bad
input is refused with a message naming the field while nothing already configured changes."""
import json
import socket
import os
import struct
import subprocess
import time

import pytest

import harness
import nvmetcp as n

NQN2 = "nqn.2026-11.io.nvfab:second"


def err(reply):
    assert "error" in reply, reply
    return reply["error"]["code"], reply["error"]["message"]


def test_bad_params_name_the_field(target):
    code, msg = err(target.rpc("bdev_malloc_create", {"name": "X", "num_blocks": "many", "block_size": 4096}))
    assert code == -32602 and "num_blocks" in msg
    code, msg = err(target.rpc("nvmf_create_subsystem", {"nqn": "not-an-nqn"}))
    assert code == -32602 and "nqn" in msg
    code, msg = err(target.rpc("nvmf_subsystem_add_ns", {"nqn": harness.SUBNQN, "namespace": {"bdev_name": "nope"}}))
    assert code == -32602 and "bdev_name" in msg
    code, msg = err(target.rpc("nvmf_subsystem_add_listener", {"nqn": harness.SUBNQN, "listen_address":
                                                                {"trtype": "TCP", "traddr": "127.0.0.1", "trsvcid": "99999"}}))
    assert "trsvcid" in msg
    code, msg = err(target.rpc("nvmf_create_subsystem", {"nqn": NQN2, "bogus": 1}))
    assert code == -32602 and "bogus" in msg
    code, _ = err(target.rpc("no_such_method"))
    assert code == -32601
    # nothing was half-applied
    subs = target.rpc("nvmf_get_subsystems")["result"]
    assert [s["nqn"] for s in subs] == ["nqn.2014-08.org.nvmexpress.discovery", harness.SUBNQN]
    assert [b["name"] for b in target.rpc("bdev_get_bdevs")["result"]] == ["Malloc0"]


def test_runtime_namespace_changes_raise_aen(target):
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    assert admin.set_features(0x0B, 1 << 8)[0] == 0  # namespace attribute notices
    aer_cid = admin.async_event_request()
    assert target.rpc("bdev_null_create", {"name": "Null1", "num_blocks": 1024, "block_size": 512})["result"] == "Null1"
    assert target.rpc("nvmf_subsystem_add_ns", {"nqn": harness.SUBNQN, "namespace": {"bdev_name": "Null1", "nsid": 5}})["result"] == 5
    st, dw0 = admin.wait_completion(aer_cid)
    assert st == 0 and dw0 & 7 == 2 and (dw0 >> 16) & 0xFF == 0x04, hex(dw0)
    st, _, log = admin.admin_read(0x02, 4096, nsid=0xFFFFFFFF, cdw10=0x04 | ((4096 // 4 - 1) << 16))
    assert st == 0 and struct.unpack_from("<I", log, 0)[0] == 5
    st, _, lst = admin.identify(2)
    assert struct.unpack_from("<II", lst, 0) == (1, 5)
    # the new namespace serves I/O on the existing queue
    assert io.read(5, 0, 512, block=512) == (0, bytes(512))
    assert target.rpc("nvmf_subsystem_remove_ns", {"nqn": harness.SUBNQN, "nsid": 5})["result"] is True
    st, _ = io.read(5, 0, 512, block=512)
    assert st & 0xFF == 0x0B
    # a claimed bdev cannot be deleted; once its namespace is gone it can
    assert "error" in target.rpc("bdev_malloc_delete", {"name": "Malloc0"})
    assert target.rpc("bdev_null_delete", {"name": "Null1"})["result"] is True
    admin.close()
    io.close()


def test_bdev_delete_right_after_its_namespace_went(target):
    """SPDK's scripts remove a namespace (or delete the subsystem) and delete its bdev in the
    next call, then may create one of the same name: the bdev's name is free at once, while
    the namespace's reactors are still letting go of it."""
    admin, io, _ = n.connect_io(target.port, harness.SUBNQN)
    for i in range(20):
        assert target.rpc("bdev_malloc_create", {"name": "Quick", "num_blocks": 256, "block_size": 512})["result"] == "Quick"
        assert target.rpc("nvmf_subsystem_add_ns", {"nqn": harness.SUBNQN, "namespace": {"bdev_name": "Quick", "nsid": 9}})["result"] == 9
        assert io.write(9, i, bytes([i]) * 512, block=512)[0] == 0
        # both calls in one write: the delete is handled before the reactors answered
        r = target.rpc_pipelined([("nvmf_subsystem_remove_ns", {"nqn": harness.SUBNQN, "nsid": 9}),
                                  ("bdev_malloc_delete", {"name": "Quick"})])
        assert [x.get("result") for x in r] == [True, True], r
    # a bdev that a live namespace uses is still refused
    r = target.rpc("bdev_malloc_delete", {"name": "Malloc0"})
    assert r["error"]["code"] == -16, r
    admin.close()
    io.close()


def test_save_config_round_trip(target, tmp_path):
    target.rpc("bdev_null_create", {"name": "Null9", "num_blocks": 2048, "block_size": 4096})
    target.rpc("nvmf_create_subsystem", {"nqn": NQN2, "serial_number": "SN2", "max_namespaces": 8})
    target.rpc("nvmf_subsystem_add_ns", {"nqn": NQN2, "namespace": {"bdev_name": "Null9", "nsid": 3}})
    target.rpc("nvmf_subsystem_add_host", {"nqn": NQN2, "host": "nqn.2014-08.org.nvmexpress:uuid:abc"})
    saved = target.rpc("save_config")["result"]
    before_subs = target.rpc("nvmf_get_subsystems")["result"]
    before_bdevs = target.rpc("bdev_get_bdevs")["result"]
    target.stop()
    port2 = harness.free_port()
    text = json.dumps(saved).replace(f'"trsvcid": "{target.port}"', f'"trsvcid": "{port2}"')
    with harness.Target(json.loads(text), tmpdir=str(tmp_path / "second")) as t2:
        after_subs = t2.rpc("nvmf_get_subsystems")["result"]
        after_bdevs = t2.rpc("bdev_get_bdevs")["result"]
    for s in before_subs:
        for a in s["listen_addresses"]:
            a["trsvcid"] = str(port2)
    assert after_subs == before_subs
    assert after_bdevs == before_bdevs


def test_bad_config_file_is_refused(tmp_path):
    port = harness.free_port()
    cfg = harness.simple_config(port)
    cfg["subsystems"][1]["config"].insert(2, {"method": "nvmf_subsystem_add_ns",
                                              "params": {"nqn": harness.SUBNQN, "namespace": {"bdev_name": "Missing"}}})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([harness.NVFABD, "-c", str(path), "-r", str(tmp_path / "s")], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "nvmf_subsystem_add_ns" in r.stderr and "bdev_name" in r.stderr, r.stderr
    path.write_text("{ not json")
    r = subprocess.run([harness.NVFABD, "-c", str(path), "-r", str(tmp_path / "s")], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "bad.json" in r.stderr


def test_cli_errors():
    r = subprocess.run([harness.NVFABD, "--cpumask", "zz"], capture_output=True, text=True)
    assert r.returncode == 2 and "cpumask" in r.stderr
    r = subprocess.run([harness.NVFABD, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--config" in r.stdout


def test_discovery_log_respects_allow_list(tmp_path):
    port, dport = harness.free_port(), harness.free_port()
    cfg = harness.simple_config(port, discovery_port=dport)
    cfg["subsystems"][1]["config"] += [
        {"method": "nvmf_create_subsystem", "params": {"nqn": NQN2, "allow_any_host": False}},
        {"method": "nvmf_subsystem_add_listener", "params": {"nqn": NQN2, "listen_address":
            {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}}},
    ]
    with harness.Target(cfg, tmpdir=str(tmp_path)) as t:
        def entries(hostnqn, p):
            c = n.Conn(p)
            c.icreq()
            st, _ = c.connect(n.DISCOVERY_NQN, hostnqn=hostnqn)
            assert st == 0
            c.enable_discovery = None
            st, _ = c.prop_set(0x14, 1)
            assert st == 0
            st, _, hdr = c.admin_read(0x02, 1024, cdw10=0x70 | ((1024 // 4 - 1) << 16))
            assert st == 0
            numrec = struct.unpack_from("<Q", hdr, 8)[0]
            size = 1024 + numrec * 1024
            st, _, log = c.admin_read(0x02, size, cdw10=0x70 | (((size // 4 - 1) & 0xFFFF) << 16),
                                      cdw11=(size // 4 - 1) >> 16)
            assert st == 0
            out = []
            for i in range(numrec):
                e = log[1024 + i * 1024:2048 + i * 1024]
                out.append((e[2], e[256:512].rstrip(b"\0").decode(), e[32:64].rstrip(b"\0").decode()))
            c.close()
            return sorted(out)
        for p in (port, dport):  # discovery answers on every listener
            got = entries(n.HOSTNQN, p)
            assert (2, harness.SUBNQN, str(port)) in got
            assert all(nqn != NQN2 for _, nqn, _ in got)
        t.rpc("nvmf_subsystem_add_host", {"nqn": NQN2, "host": n.HOSTNQN})
        assert (2, NQN2, str(port)) in entries(n.HOSTNQN, dport)
        assert (3, n.DISCOVERY_NQN, str(dport)) in entries(n.HOSTNQN, dport)


def test_ipv6_listener(tmp_path):
    if not os.path.exists("/proc/net/if_inet6"):
        pytest.skip("no IPv6")
    port = harness.free_port()
    cfg = harness.simple_config(port)
    cfg["subsystems"][1]["config"][-1]["params"]["listen_address"] = {
        "trtype": "TCP", "adrfam": "IPv6", "traddr": "::1", "trsvcid": str(port)}
    with harness.Target(cfg, tmpdir=str(tmp_path)):
        c = n.Conn(port, addr="::1")
        c.icreq()
        assert c.connect(harness.SUBNQN)[0] == 0
        c.close()


def _idle_clients(sock_path, count):
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock_path)
        socks.append(s)
    return socks


def _timed_rpc(t):
    nvfab = harness.WRAPPER + [harness.NVFAB]
    t0 = time.monotonic()
    p = subprocess.run(nvfab + ["rpc", "-s", t.sock, "rpc_get_methods"], capture_output=True, text=True, timeout=30)
    return time.monotonic() - t0, p


def test_idle_rpc_clients_cannot_lock_out_the_operator(target):
    """200 clients that connect and say nothing: an operator's call still answers at once (SPDK
    serves 64 and queues the rest, so 64 idle clients block it)."""
    socks = _idle_clients(target.sock, 200)
    try:
        time.sleep(0.2)
        elapsed, p = _timed_rpc(target)
        assert p.returncode == 0 and "nvmf_create_subsystem" in p.stdout, p.stderr
        assert elapsed < 1.0 * harness.TIME_SLACK, f"rpc_get_methods took {elapsed:.2f} s behind 200 idle clients"
        print(f"\nrpc: rpc_get_methods answered in {elapsed * 1000:.0f} ms with 200 idle clients")
    finally:
        for s in socks:
            s.close()


def test_full_rpc_table_closes_the_quietest_client(target):
    """Past the table's size (256), a new client takes the place of the one quiet longest."""
    socks = _idle_clients(target.sock, 300)
    try:
        time.sleep(0.3)
        elapsed, p = _timed_rpc(target)
        assert p.returncode == 0, p.stderr
        # The first clients connected were evicted (end of file), the last ones still served.
        socks[0].settimeout(5)
        assert socks[0].recv(1) == b""
        last = socks[-1]
        last.sendall(b'{"jsonrpc":"2.0","method":"spdk_get_version","id":7}')
        last.settimeout(5)
        assert b'"id":7' in last.recv(65536)
        assert "quiet for" in target.read_log()
    finally:
        for s in socks:
            s.close()
