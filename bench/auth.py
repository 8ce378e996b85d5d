#!/usr/bin/env python3
"""What DH-HMAC-CHAP costs: the time a connection takes to set up, with and without it.

    bench/auth.py [--build DIR] [--rounds N] [--report FILE]

One nvfabd (one reactor, core 0) exports two RAM namespaces of the same size: one to any host
without authentication, one to a host NQN that must authenticate (keys from its keyring). On core 1,
`nvfab identify` connects the admin queue (one exchange when authenticating: every I/O queue
adds one more of the same cost), identifies the controller and disconnects: measured are the
wall time of the whole command and nvfabd's CPU time over it. Cases: no authentication; unidirectional
with each DH group (the null group, ffdhe2048, 3072, 4096, 8192; SHA-512, which nvfabd prefers);
bidirectional with the null group and ffdhe2048. Between cases, `nvmf_set_config` changes the
groups nvfabd allows. Cases alternate within each round; medians and spreads over the rounds.
The data path is not measured: authentication happens once per queue.
"""
import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

from benchlib import HOST_CORE, Nvfabd, proc_cpu_ns

AUTH_NQN = "nqn.2026-12.io.nvfab:bench-auth"
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:2b7d0c35-0f6e-4f53-a1f4-0e9a3c1f5b77"
CASES = [  # name, DH groups nvfabd allows, bidirectional
    ("none", None, False),
    ("null", ["null"], False),
    ("ffdhe2048", ["ffdhe2048"], False),
    ("ffdhe3072", ["ffdhe3072"], False),
    ("ffdhe4096", ["ffdhe4096"], False),
    ("ffdhe8192", ["ffdhe8192"], False),
    ("null, bidirectional", ["null"], True),
    ("ffdhe2048, bidirectional", ["ffdhe2048"], True),
]


def secret(path, transform):
    key = os.urandom(32 if transform < 2 else 48)
    text = "DHHC-1:%02x:%s:" % (transform, base64.b64encode(key + zlib.crc32(key).to_bytes(4, "little")).decode())
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def rpc(nvfab, sock, method, params):
    r = subprocess.run([nvfab, "rpc", "-s", sock, method, json.dumps(params)], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{method}: {r.stdout}{r.stderr}")


def one_connect(nvfab, target, case, keys):
    name, groups, bidi = case
    subnqn = AUTH_NQN if groups else "nqn.2026-11.io.nvfab:bench-ram"
    cmd = ["taskset", "-c", str(HOST_CORE), nvfab, "identify", "-r",
           f"trtype:TCP traddr:127.0.0.1 trsvcid:{target.port} subnqn:{subnqn}", "-q", HOSTNQN]
    if groups:
        cmd += ["--dhchap-secret", keys["host"]]
        if bidi:
            cmd += ["--dhchap-ctrl-secret", keys["ctrl"]]
    cpu0 = proc_cpu_ns(target.pid)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    cpu = proc_cpu_ns(target.pid) - cpu0
    if r.returncode:
        raise SystemExit(f"{name}: nvfab identify failed: {r.stderr[-500:]}")
    return wall * 1000, cpu / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--report", help="write a Markdown table here")
    a = ap.parse_args()
    nvfab = os.path.join(a.build, "apps", "nvfab", "nvfab")
    work = tempfile.mkdtemp(prefix="nvfab-bench-auth-")
    keys = {"host": secret(os.path.join(work, "host.key"), 1), "ctrl": secret(os.path.join(work, "ctrl.key"), 2)}
    target = Nvfabd(a.build, work)
    try:
        sock = target.sock
        rpc(nvfab, sock, "keyring_file_add_key", {"name": "hk", "path": keys["host"]})
        rpc(nvfab, sock, "keyring_file_add_key", {"name": "ck", "path": keys["ctrl"]})
        rpc(nvfab, sock, "bdev_malloc_create", {"name": "Auth0", "num_blocks": 65536, "block_size": 4096})
        rpc(nvfab, sock, "nvmf_create_subsystem", {"nqn": AUTH_NQN, "allow_any_host": False})
        rpc(nvfab, sock, "nvmf_subsystem_add_ns", {"nqn": AUTH_NQN, "namespace": {"bdev_name": "Auth0"}})
        rpc(nvfab, sock, "nvmf_subsystem_add_host",
            {"nqn": AUTH_NQN, "host": HOSTNQN, "dhchap_key": "hk", "dhchap_ctrlr_key": "ck"})
        rpc(nvfab, sock, "nvmf_subsystem_add_listener", {"nqn": AUTH_NQN, "listen_address": {
            "trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(target.port)}})
        results = {c[0]: [] for c in CASES}
        for rnd in range(a.rounds):
            for case in CASES:
                if case[1]:
                    rpc(nvfab, sock, "nvmf_set_config", {"dhchap_digests": ["sha512"], "dhchap_dhgroups": case[1]})
                results[case[0]].append(one_connect(nvfab, target, case, keys))
            print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)
    finally:
        target.stop()
    base_ms = statistics.median(w for w, _ in results["none"])
    base_cpu = statistics.median(c for _, c in results["none"])
    lines = ["| case | connect + identify (ms), median [min-max] | + over none | nvfabd CPU (ms), median | + over none |",
             "| --- | --- | --- | --- | --- |"]
    for name, _, _ in CASES:
        walls = [w for w, _ in results[name]]
        cpus = [c for _, c in results[name]]
        w, c = statistics.median(walls), statistics.median(cpus)
        lines.append(f"| {name} | {w:.1f} [{min(walls):.1f}-{max(walls):.1f}] | {w - base_ms:+.1f} | "
                     f"{c:.1f} | {c - base_cpu:+.1f} |")
    text = "\n".join(lines)
    print(text)
    if a.report:
        with open(a.report, "w") as f:
            f.write(f"<!-- bench/auth.py --rounds {a.rounds} -->\n{text}\n")


if __name__ == "__main__":
    main()
