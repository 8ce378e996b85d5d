#!/usr/bin/env python3
"""What TLS 1.3 costs on the data path: the same namespace over plain TCP and over TLS.

    bench/tls.py [--build DIR] [--rounds N] [--secs S] [--report FILE]

One nvfabd (one reactor on core 0, event-driven) exports a 256 MiB RAM namespace on a plain
listener and on a secure_channel listener (a TLS_AES_128_GCM_SHA256 PSK for the host). On core 1,
`nvfab perf` (busy-polling) runs 4 KiB random reads at QD1 and QD32 and 128 KiB random reads at
QD8, over each listener, the two alternating within a round. Printed: medians over the rounds of
IOPS, mean latency, and nvfabd's CPU time per I/O (utime+stime of all its threads over the run).
Whether kTLS took over the records is in nvfabd's log ("(kTLS)" after the cipher); this
machine's kernel has no tls module, so OpenSSL encrypts in user space here.
"""
import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import zlib

from benchlib import NQN_RAM, Nvfabd, PerfCLI, parse_perf_json, proc_cpu_ns

HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:5e2c7a91-3b4d-4f60-8a17-9c0d1e2f3a4b"
CASES = [("4k-qd1", 4096, 1), ("4k-qd32", 4096, 32), ("128k-qd8", 131072, 8)]


def rpc(nvfab, sock, method, params):
    import json
    r = subprocess.run([nvfab, "rpc", "-s", sock, method, json.dumps(params)], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{method}: {r.stdout}{r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--report")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="nvfab-bench-tls-")
    perf = PerfCLI(a.build)
    key = os.urandom(32)
    psk = os.path.join(work, "psk")
    with open(psk, "w") as f:
        f.write("NVMeTLSkey-1:01:%s:\n" % base64.b64encode(key + zlib.crc32(key).to_bytes(4, "little")).decode())
    os.chmod(psk, 0o600)
    target = Nvfabd(a.build, work)
    results = {}
    try:
        secure_port = target.port + 1 if target.port < 65000 else target.port - 1
        rpc(perf.exe, target.sock, "keyring_file_add_key", {"name": "psk0", "path": psk})
        rpc(perf.exe, target.sock, "nvmf_subsystem_add_host", {"nqn": NQN_RAM, "host": HOSTNQN, "psk": "psk0"})
        rpc(perf.exe, target.sock, "nvmf_subsystem_add_listener", {"nqn": NQN_RAM, "secure_channel": True,
            "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": str(secure_port)}})
        for rnd in range(a.rounds):
            for name, size, qd in CASES:
                for mode in ("plain", "tls"):
                    port = secure_port if mode == "tls" else target.port
                    trid = f"trtype:TCP traddr:127.0.0.1 trsvcid:{port} subnqn:{NQN_RAM}"
                    out = os.path.join(work, "r.json")
                    cmd = perf.cmd(trid=trid, qd=qd, io_size=size, workload="randread", seconds=a.secs,
                                   busy=True, json_path=out)
                    if mode == "tls":
                        cmd += ["--hostnqn", HOSTNQN, "--tls-key", psk]
                    cpu0 = proc_cpu_ns(target.pid)
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    cpu = proc_cpu_ns(target.pid) - cpu0
                    if r.returncode:
                        raise SystemExit(f"{name} {mode}: {r.stderr[-800:]}")
                    p = parse_perf_json(out)
                    results.setdefault((name, mode), []).append((p["iops"], p["avg"], cpu / 1e3 / p["ios"]))
            print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)
        ktls = "(kTLS)" in target.read_log()
    finally:
        target.stop()
    lines = ["| workload | IOPS plain | IOPS TLS | TLS/plain | mean latency plain (us) | TLS (us) | nvfabd CPU/I/O plain (us) | TLS (us) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, _, _ in CASES:
        med = {m: [statistics.median(x[i] for x in results[(name, m)]) for i in range(3)] for m in ("plain", "tls")}
        lines.append(f"| {name} | {med['plain'][0]:,.0f} | {med['tls'][0]:,.0f} | {med['tls'][0] / med['plain'][0]:.2f} | "
                     f"{med['plain'][1]:.1f} | {med['tls'][1]:.1f} | {med['plain'][2]:.2f} | {med['tls'][2]:.2f} |")
    text = "\n".join(lines) + f"\n\nkTLS in use: {'yes' if ktls else 'no (user-space OpenSSL)'}\n"
    print(text)
    if a.report:
        with open(a.report, "w") as f:
            f.write(f"<!-- bench/tls.py --rounds {a.rounds} --secs {a.secs} -->\n{text}")


if __name__ == "__main__":
    main()
