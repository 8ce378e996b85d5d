"""SPDK users switch without retooling: the exact requests that SPDK v25.09's scripts/rpc.py
sends (it fills in default values of parameters the user did not give), and a configuration
in the shape SPDK's save_config writes (all nine framework subsystems), work against nvfabd.
What nvfab cannot do is refused with a message that names the parameter or method
(docs/spdk-compat.md has the whole table).

The JSON below is written from rpc.py's behaviour (argparse store_true options are sent as
false, None values are dropped, apply_defaults adds no_srq/c2h_success) and from the fields
SPDK's save_config writes; no SPDK code runs here."""
import json
import os
import struct
import uuid

import pytest

import harness
import nvmetcp as n

NQN = "nqn.2016-06.io.spdk:cnode1"
DISCOVERY = "nqn.2014-08.org.nvmexpress.discovery"


def ok(t, method, params=None):
    r = t.rpc(method, params)
    assert "result" in r, f"{method} {json.dumps(params)} -> {r}"
    return r["result"]


def refused(t, method, params, *words):
    r = t.rpc(method, params)
    assert "error" in r, f"{method} {params} was accepted: {r}"
    msg = r["error"]["message"]
    for w in words:
        assert w in msg, f"{method}: {msg!r} does not name {w!r}"
    return msg


def rpcpy_requests(port, aio_path):
    """(method, params) in the order a user types the rpc.py commands; params exactly as sent."""
    return [
        ("rpc_get_methods", None),
        ("rpc_get_methods", {"current": True, "include_aliases": True}),
        ("spdk_get_version", None),
        # bdev_malloc_create -b Malloc0 64 512
        ("bdev_malloc_create", {"num_blocks": 131072, "block_size": 512, "name": "Malloc0",
                                "md_interleave": False, "dif_is_head_of_md": False}),
        # bdev_malloc_create -b Malloc1 -p 4096 -o 32 32 512
        ("bdev_malloc_create", {"num_blocks": 65536, "block_size": 512, "physical_block_size": 4096,
                                "name": "Malloc1", "optimal_io_boundary": 32, "md_interleave": False,
                                "dif_is_head_of_md": False}),
        # bdev_null_create Null0 64 4096
        ("bdev_null_create", {"num_blocks": 16384, "block_size": 4096, "name": "Null0",
                              "dif_is_head_of_md": False}),
        # bdev_aio_create FILE Aio0 4096
        ("bdev_aio_create", {"filename": aio_path, "name": "Aio0", "block_size": 4096, "readonly": False,
                             "fallocate": False}),
        # nvmf_create_transport -t TCP
        ("nvmf_create_transport", {"trtype": "TCP", "zcopy": False, "no_srq": False, "c2h_success": True,
                                   "dif_insert_or_strip": False, "no_wr_batching": False,
                                   "disable_mappable_bar0": False, "disable_adaptive_irq": False,
                                   "disable_shadow_doorbells": False, "disable_command_passthru": False}),
        # nvmf_create_subsystem NQN -a -s SPDK00000000000001 -d "SPDK bdev Controller" -m 16
        ("nvmf_create_subsystem", {"nqn": NQN, "serial_number": "SPDK00000000000001",
                                   "model_number": "SPDK bdev Controller", "allow_any_host": True,
                                   "max_namespaces": 16, "ana_reporting": False, "passthrough": False,
                                   "enable_nssr": False}),
        # nvmf_subsystem_add_ns NQN Malloc0
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Malloc0", "no_auto_visible": False,
                                                             "hide_metadata": False}}),
        # nvmf_subsystem_add_ns NQN Null0 -n 5 -u UUID -g NGUID
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Null0", "nsid": 5,
                                                             "nguid": "0123456789ABCDEF0123456789ABCDEF",
                                                             "uuid": "2c4f6d3a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                                                             "no_auto_visible": False, "hide_metadata": False}}),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Malloc1", "no_auto_visible": False,
                                                             "hide_metadata": False}}),
        ("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Aio0", "no_auto_visible": False,
                                                             "hide_metadata": False}}),
        # nvmf_subsystem_add_listener NQN -t tcp -a 127.0.0.1 -s PORT -f ipv4
        ("nvmf_subsystem_add_listener", {"nqn": NQN, "listen_address": {"trtype": "tcp", "traddr": "127.0.0.1",
                                                                         "trsvcid": str(port), "adrfam": "ipv4"},
                                         "secure_channel": False}),
        # nvmf_subsystem_add_listener discovery -t tcp -a 127.0.0.1 -s PORT -f ipv4
        ("nvmf_subsystem_add_listener", {"nqn": DISCOVERY, "listen_address": {"trtype": "tcp",
                                                                               "traddr": "127.0.0.1",
                                                                               "trsvcid": str(port), "adrfam": "ipv4"},
                                         "secure_channel": False}),
        ("nvmf_get_subsystems", None),
        ("bdev_get_bdevs", None),
    ]


def aio_file(tmp_path):
    path = str(tmp_path / "aio.img")
    with open(path, "wb") as f:
        f.truncate(16 << 20)
    return path


def identify_ns(port, nsid):
    c = n.Conn(port)
    c.icreq()
    st, _ = c.connect(NQN)
    assert st == 0, f"{st:#x}"
    c.enable()
    st, _, ns = c.identify(0, nsid)
    assert st == 0, f"{st:#x}"
    st, _, descs = c.identify(3, nsid)
    assert st == 0, f"{st:#x}"
    c.close()
    return ns, descs


def ns_ids(descs):
    out, off = {}, 0
    while off + 4 <= len(descs) and descs[off]:
        typ, ln = descs[off], descs[off + 1]
        out[typ] = descs[off + 4:off + 4 + ln]
        off += 4 + ln
    return out


def test_rpcpy_requests_in_order(tmp_path):
    port = harness.free_port()
    aio = aio_file(tmp_path)
    t = harness.Target(None, tmpdir=str(tmp_path))
    try:
        for method, params in rpcpy_requests(port, aio):
            ok(t, method, params)
        subs = {s["nqn"]: s for s in ok(t, "nvmf_get_subsystems")}
        assert [ns["nsid"] for ns in subs[NQN]["namespaces"]] == [1, 2, 3, 5]
        # Every accepted-and-ignored parameter is noted once, at info level.
        log = t.read_log()
        assert "parameter 'disable_mappable_bar0' accepted and ignored" in log
        assert log.count("parameter 'zcopy' accepted and ignored") == 1
        # The namespace IDs given are the ones hosts see.
        ns, descs = identify_ns(port, 5)
        ids = ns_ids(descs)
        assert ids[2] == bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")          # NGUID
        assert ids[3] == uuid.UUID("2c4f6d3a-1b2c-4d5e-8f90-a1b2c3d4e5f6").bytes    # UUID
        # physical_block_size and optimal_io_boundary reach Identify Namespace.
        ns, _ = identify_ns(port, 2)
        nsfeat = ns[24]
        npwg, npwa, npdg, npda, nows = struct.unpack_from("<HHHHH", ns, 64)
        noiob = struct.unpack_from("<H", ns, 46)[0]
        assert nsfeat & 0x10 and (npwg, npwa, npdg, npda, nows) == (7, 7, 7, 7, 7), (nsfeat, npwg)
        assert noiob == 32
        # and survive save_config
        saved = ok(t, "save_config")
        malloc1 = [c for s in saved["subsystems"] for c in s["config"] or []
                   if c["method"] == "bdev_malloc_create" and c["params"]["name"] == "Malloc1"]
        assert malloc1[0]["params"]["physical_block_size"] == 4096, malloc1
        # A host works through it.
        admin, io, _ = n.connect_io(port, NQN)
        data = os.urandom(512)
        assert io.write(1, 7, data, block=512)[0] == 0
        assert io.read(1, 7, 512, block=512) == (0, data)
        admin.close()
        io.close()
    finally:
        assert t.stop() == 0


def test_spdk_only_features_are_refused_by_name(tmp_path):
    t = harness.Target(None, tmpdir=str(tmp_path))
    try:
        refused(t, "nvmf_create_transport", {"trtype": "TCP", "dif_insert_or_strip": True},
                "dif_insert_or_strip", "true", "protection information")
        refused(t, "nvmf_create_transport", {"trtype": "TCP", "kas": 5}, "kas", "5")
        refused(t, "nvmf_create_transport", {"trtype": "TCP", "zcopy": "yes"}, "zcopy", "boolean")
        refused(t, "nvmf_create_transport", {"trtype": "TCP", "bogus": 1}, "Unknown parameter 'bogus'")
        ok(t, "nvmf_create_transport", {"trtype": "TCP", "zcopy": True, "num_shared_buffers": 4095,
                                        "buf_cache_size": 4294967295, "kas": 10})
        for key in ("ana_reporting", "passthrough", "enable_nssr"):
            refused(t, "nvmf_create_subsystem", {"nqn": NQN, key: True}, key, "not supported")
        refused(t, "nvmf_create_subsystem", {"nqn": NQN, "max_discard_size_kib": 64}, "max_discard_size_kib")
        ok(t, "nvmf_create_subsystem", {"nqn": NQN, "allow_any_host": True})
        ok(t, "bdev_malloc_create", {"name": "M0", "num_blocks": 1024, "block_size": 512})
        refused(t, "nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M0", "no_auto_visible": True}},
                "no_auto_visible", "visibility")
        refused(t, "nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "M0", "ptpl_file": "/tmp/p"}},
                "ptpl_file", "reservations")
        refused(t, "bdev_malloc_create", {"name": "M1", "num_blocks": 1024, "block_size": 512, "md_size": 8},
                "md_size", "metadata")
        refused(t, "bdev_null_create", {"name": "N1", "num_blocks": 1024, "block_size": 512, "dif_type": 1},
                "dif_type", "protection information")
        refused(t, "bdev_malloc_create", {"name": "M1", "num_blocks": 1024, "block_size": 512,
                                          "physical_block_size": 1000}, "physical_block_size")
        refused(t, "bdev_aio_create", {"name": "A1", "filename": "/dev/null", "readonly": True}, "readonly")
        refused(t, "keyring_linux_add_key", {"name": "key0"}, "keyring_linux_add_key", "kernel keyring")
        refused(t, "vmd_enable", None, "vmd_enable", "VMD")
        refused(t, "nbd_start_disk", {"bdev_name": "M0"}, "nbd_start_disk", "NBD")
        refused(t, "nvmf_set_config", {"admin_cmd_passthru": {"identify_ctrlr": True}}, "identify_ctrlr", "passthrough")
        refused(t, "nvmf_set_config", {"discovery_filter": "transport"}, "discovery_filter", "transport")
        refused(t, "nvmf_set_crdt", {"crdt1": 100}, "crdt1", "100")
        refused(t, "sock_impl_set_options", {"recv_buf_size": 4096}, "impl_name")
        r = t.rpc("bdev_lvol_create_lvstore", {"bdev_name": "M0", "lvs_name": "lvs"})
        assert r["error"]["code"] == -32601, r                   # not an SPDK setting: unknown
        assert t.alive()
    finally:
        assert t.stop() == 0


def spdk_saved_config(port, aio_path):
    """A configuration in the shape SPDK v25.09's save_config writes for nvmf_tgt."""
    dhchap = {"dhchap_digests": ["sha256", "sha384", "sha512"],
              "dhchap_dhgroups": ["null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"]}
    sock_opts = {"recv_buf_size": 2097152, "send_buf_size": 2097152, "enable_recv_pipe": True,
                 "enable_quickack": False, "enable_placement_id": 0, "enable_zerocopy_send_server": True,
                 "enable_zerocopy_send_client": False, "zerocopy_threshold": 0, "tls_version": 0,
                 "enable_ktls": False}
    nvme_opts = {"action_on_timeout": "none", "timeout_us": 0, "timeout_admin_us": 0, "keep_alive_timeout_ms": 10000,
                 "arbitration_burst": 0, "low_priority_weight": 0, "medium_priority_weight": 0,
                 "high_priority_weight": 0, "nvme_adminq_poll_period_us": 10000, "nvme_ioq_poll_period_us": 0,
                 "io_queue_requests": 0, "delay_cmd_submit": True, "transport_retry_count": 4,
                 "bdev_retry_count": 3, "transport_ack_timeout": 0, "ctrlr_loss_timeout_sec": 0,
                 "reconnect_delay_sec": 0, "fast_io_fail_timeout_sec": 0, "disable_auto_failback": False,
                 "generate_uuids": False, "transport_tos": 0, "nvme_error_stat": False, "rdma_srq_size": 0,
                 "io_path_stat": False, "allow_accel_sequence": False, "rdma_max_cq_size": 0,
                 "rdma_cm_event_timeout_ms": 0, "rdma_umr_per_io": False, "tcp_connect_timeout_ms": 0,
                 "enable_flush": False, **dhchap}
    listen = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(port)}
    return {"subsystems": [
        {"subsystem": "keyring", "config": []},
        {"subsystem": "iobuf", "config": [
            {"method": "iobuf_set_options", "params": {"small_pool_count": 8192, "large_pool_count": 1024,
                                                       "small_bufsize": 8192, "large_bufsize": 135168,
                                                       "enable_numa": False}}]},
        {"subsystem": "sock", "config": [
            {"method": "sock_set_default_impl", "params": {"impl_name": "posix"}},
            {"method": "sock_impl_set_options", "params": dict(sock_opts, impl_name="ssl", recv_buf_size=4096,
                                                               send_buf_size=4096)},
            {"method": "sock_impl_set_options", "params": dict(sock_opts, impl_name="posix")}]},
        {"subsystem": "vmd", "config": []},
        {"subsystem": "accel", "config": [
            {"method": "accel_set_options", "params": {"small_cache_size": 128, "large_cache_size": 16,
                                                       "task_count": 2048, "sequence_count": 2048,
                                                       "buf_count": 2048}}]},
        {"subsystem": "bdev", "config": [
            {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 65535, "bdev_io_cache_size": 256,
                                                      "bdev_auto_examine": True, "iobuf_small_cache_size": 128,
                                                      "iobuf_large_cache_size": 16}},
            {"method": "bdev_raid_set_options", "params": {"process_window_size_kb": 1024,
                                                           "process_max_bandwidth_mb_sec": 0}},
            {"method": "bdev_iscsi_set_options", "params": {"timeout_sec": 30}},
            {"method": "bdev_nvme_set_options", "params": nvme_opts},
            {"method": "bdev_nvme_set_hotplug", "params": {"period_us": 100000, "enable": False}},
            {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512,
                                                        "physical_block_size": 512,
                                                        "uuid": "5b1e5a4c-8a9d-4c1e-9f3b-2d7c6e5f4a31",
                                                        "optimal_io_boundary": 0, "md_size": 0, "dif_type": 0,
                                                        "dif_is_head_of_md": False, "dif_pi_format": 0}},
            {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096,
                                                      "physical_block_size": 4096, "md_size": 0, "dif_type": 0,
                                                      "dif_is_head_of_md": False, "dif_pi_format": 0,
                                                      "uuid": "9d0f1e2a-3b4c-4d5e-8f60-718293a4b5c6",
                                                      "preferred_write_granularity": 0,
                                                      "preferred_write_alignment": 0, "optimal_write_size": 0,
                                                      "preferred_unmap_granularity": 0,
                                                      "preferred_unmap_alignment": 0}},
            {"method": "bdev_aio_create", "params": {"name": "AIO0", "block_size": 4096, "filename": aio_path,
                                                     "readonly": False, "fallocate": False,
                                                     "uuid": "0f1e2d3c-4b5a-4968-8776-655443322110"}},
            {"method": "bdev_wait_for_examine"}]},
        {"subsystem": "nbd", "config": []},
        {"subsystem": "scheduler", "config": [
            {"method": "framework_set_scheduler", "params": {"name": "static"}}]},
        {"subsystem": "nvmf", "config": [
            {"method": "nvmf_set_config", "params": {"discovery_filter": "match_any",
                                                     "admin_cmd_passthru": {"identify_ctrlr": False,
                                                                            "vendor_specific": False},
                                                     **dhchap}},
            {"method": "nvmf_set_max_subsystems", "params": {"max_subsystems": 1024}},
            {"method": "nvmf_set_crdt", "params": {"crdt1": 0, "crdt2": 0, "crdt3": 0}},
            {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "max_queue_depth": 128,
                                                           "max_io_qpairs_per_ctrlr": 127,
                                                           "in_capsule_data_size": 4096, "max_io_size": 131072,
                                                           "io_unit_size": 131072, "max_aq_depth": 128,
                                                           "num_shared_buffers": 511, "buf_cache_size": 4294967295,
                                                           "dif_insert_or_strip": False, "zcopy": False,
                                                           "abort_timeout_sec": 1, "ack_timeout": 0,
                                                           "data_wr_pool_size": 0, "c2h_success": True,
                                                           "sock_priority": 0}},
            {"method": "nvmf_create_subsystem", "params": {"nqn": NQN, "allow_any_host": True,
                                                           "serial_number": "SPDK00000000000001",
                                                           "model_number": "SPDK bdev Controller",
                                                           "max_namespaces": 32, "min_cntlid": 1,
                                                           "max_cntlid": 65519, "ana_reporting": False}},
            {"method": "nvmf_subsystem_add_listener", "params": {"nqn": NQN, "listen_address": listen,
                                                                 "secure_channel": False, "sock_impl": "posix"}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": NQN, "namespace": {
                "nsid": 1, "bdev_name": "Malloc0", "nguid": "5B1E5A4C8A9D4C1E9F3B2D7C6E5F4A31",
                "uuid": "5b1e5a4c-8a9d-4c1e-9f3b-2d7c6e5f4a31", "anagrpid": 1, "no_auto_visible": False}}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": NQN, "namespace": {
                "nsid": 2, "bdev_name": "Null0", "nguid": "00112233445566778899AABBCCDDEEFF",
                "uuid": "9d0f1e2a-3b4c-4d5e-8f60-718293a4b5c6", "anagrpid": 2, "no_auto_visible": False}}},
            {"method": "nvmf_subsystem_add_ns", "params": {"nqn": NQN, "namespace": {
                "nsid": 3, "bdev_name": "AIO0", "nguid": "0F1E2D3C4B5A49688776655443322110",
                "uuid": "0f1e2d3c-4b5a-4968-8776-655443322110", "anagrpid": 3, "no_auto_visible": False}}},
            {"method": "nvmf_subsystem_add_listener", "params": {"nqn": DISCOVERY, "listen_address": listen,
                                                                 "secure_channel": False}}]},
    ]}


EXPECTED_IDS = {1: ("5B1E5A4C8A9D4C1E9F3B2D7C6E5F4A31", "5b1e5a4c-8a9d-4c1e-9f3b-2d7c6e5f4a31"),
                2: ("00112233445566778899AABBCCDDEEFF", "9d0f1e2a-3b4c-4d5e-8f60-718293a4b5c6"),
                3: ("0F1E2D3C4B5A49688776655443322110", "0f1e2d3c-4b5a-4968-8776-655443322110")}


def check_ids(port):
    for nsid, (nguid, uid) in EXPECTED_IDS.items():
        _, descs = identify_ns(port, nsid)
        ids = ns_ids(descs)
        assert ids[2] == bytes.fromhex(nguid), (nsid, ids[2].hex())
        assert ids[3] == uuid.UUID(uid).bytes, (nsid, ids[3].hex())


def test_spdk_saved_config_loads_and_round_trips(tmp_path):
    port = harness.free_port()
    aio = aio_file(tmp_path)
    cfg = spdk_saved_config(port, aio)
    key = tmp_path / "psk0"
    key.write_text("NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:\n")
    os.chmod(key, 0o600)
    cfg["subsystems"][0]["config"] = [{"method": "keyring_file_add_key", "params": {"name": "psk0",
                                                                                 "path": str(key)}}]
    assert {s["subsystem"] for s in cfg["subsystems"]} == {
        "keyring", "iobuf", "sock", "vmd", "accel", "bdev", "nbd", "scheduler", "nvmf"}
    t = harness.Target(cfg, tmpdir=str(tmp_path / "spdk"))
    try:
        check_ids(port)
        saved = ok(t, "save_config")
    finally:
        assert t.stop() == 0
    # nvfabd's own save_config is SPDK-shaped and loads back into nvfabd with the same IDs.
    assert all(set(s) == {"subsystem", "config"} for s in saved["subsystems"])
    t = harness.Target(saved, tmpdir=str(tmp_path / "again"))
    try:
        check_ids(port)
        assert ok(t, "save_config") == saved
    finally:
        assert t.stop() == 0


def test_spdk_config_asking_for_a_missing_feature_stops_with_its_name(tmp_path):
    port = harness.free_port()
    aio = aio_file(tmp_path)
    cfg = spdk_saved_config(port, aio)
    nbd = [s for s in cfg["subsystems"] if s["subsystem"] == "nbd"][0]
    nbd["config"] = [{"method": "nbd_start_disk", "params": {"bdev_name": "Malloc0", "nbd_device": "/dev/nbd0"}}]
    with pytest.raises(RuntimeError) as e:
        harness.Target(cfg, tmpdir=str(tmp_path))
    assert "nbd_start_disk" in str(e.value) and "not supported" in str(e.value)


def test_keyring_file_keys(tmp_path):
    """SPDK's file keyring: a key is a name and a file only its owner can read; save_config
    keeps the name and the path, never the material."""
    secret = "NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:"
    good = tmp_path / "key0"
    good.write_text(secret + "\n")
    os.chmod(good, 0o600)
    loose = tmp_path / "key1"
    loose.write_text(secret)
    os.chmod(loose, 0o644)
    t = harness.Target(None, tmpdir=str(tmp_path / "t"))
    try:
        refused(t, "keyring_file_add_key", {"name": "key1", "path": str(loose)}, "key1", "group or others")
        refused(t, "keyring_file_add_key", {"name": "key2", "path": "relative/key"}, "absolute")
        refused(t, "keyring_file_add_key", {"name": "key3", "path": str(tmp_path / "missing")}, "cannot open")
        ok(t, "keyring_file_add_key", {"name": "key0", "path": str(good)})
        refused(t, "keyring_file_add_key", {"name": "key0", "path": str(good)}, "exists")
        keys = ok(t, "keyring_get_keys")
        assert [(k["name"], k["path"], k["module"]) for k in keys] == [("key0", str(good), "keyring_file")]
        saved = ok(t, "save_config")
        assert saved["subsystems"][0] == {"subsystem": "keyring", "config": [
            {"method": "keyring_file_add_key", "params": {"name": "key0", "path": str(good)}}]}
        assert secret not in json.dumps(saved) and secret not in t.read_log()
        ok(t, "keyring_file_remove_key", {"name": "key0"})
        assert ok(t, "keyring_get_keys") == []
        refused(t, "keyring_file_remove_key", {"name": "key0"}, "key0")
    finally:
        assert t.stop() == 0
