#!/usr/bin/env python3
"""icreq-probe.py HOST PORT - prove an NVMe/TCP target answers on HOST:PORT.

Opens a TCP connection, sends an NVMe/TCP ICReq PDU (NVMe/TCP transport spec,
"Initialize Connection Request": 128-byte PDU, PFV 0, no digests) and checks
that the reply is a well-formed ICResp (type 0x01, hlen 128, plen 128). Then
closes. Host-side, stdlib only; used by check-target.sh.
Exit 0 on a valid ICResp, 1 otherwise (message on stderr).
"""
import socket
import struct
import sys


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    # CH: pdu-type 0x00 ICReq, flags 0, hlen 128, pdo 0, plen 128 (LE32);
    # then PFV 0 (LE16), HPDA 0, DGST 0, MAXR2T 0 (LE32), 112 reserved bytes.
    icreq = struct.pack("<BBBBIHBBI", 0x00, 0, 128, 0, 128, 0, 0, 0, 0)
    icreq += bytes(128 - len(icreq))
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(icreq)
        buf = b""
        while len(buf) < 128:
            chunk = s.recv(128 - len(buf))
            if not chunk:
                print(f"icreq-probe: connection closed after {len(buf)} bytes", file=sys.stderr)
                return 1
            buf += chunk
    ptype, _flags, hlen, _pdo, plen, pfv, cpda, dgst, maxh2c = struct.unpack_from("<BBBBIHBBI", buf)
    if (ptype, hlen, plen) != (0x01, 128, 128):
        print(f"icreq-probe: not an ICResp: type={ptype:#x} hlen={hlen} plen={plen}", file=sys.stderr)
        return 1
    print(f"icreq-probe: ICResp from {host}:{port}: pfv={pfv} cpda={cpda} dgst={dgst:#x} maxh2cdata={maxh2c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
