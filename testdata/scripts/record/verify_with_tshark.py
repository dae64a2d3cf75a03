#!/usr/bin/env python3
"""Second opinion on testdata/captures/real/: check every <name>.pcap against
<name>.truth.json with tshark (independent of the endpoints' own logs).

For each capture:
  1. every packet is TCP between loopback addresses (127.0.0.1 / ::1) and uses
     the scenario's server port;
  2. the number of TCP streams equals the number of connections in the truth;
  3. `tshark -q -z follow,tcp,raw,N` byte streams, per direction, have the
     byte count and sha256 recorded by the endpoints (tcp_bytes / tcp_sha256);
  4. `tshark -d tcp.port==PORT,http -Y websocket` sees, per direction, the
     same sequence of frames as the truth's messages: opcode, FIN, RSV1 ==
     `compressed`, (for uncompressed frames) the payload length, and (for
     text, ping, pong and close frames) the sha256 of the payload tshark
     unmasked and, with permessage-deflate, decompressed.  tshark shows no
     bytes for binary payloads, so those are covered by check 3 only.

Prints one OK / MISMATCH line per capture; exit status 1 on any mismatch.
Usage: verify_with_tshark.py [DIR]   (default: testdata/captures/real)
"""

import glob
import hashlib
import ipaddress
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "captures", "real"))
OPCODES = {"text": 1, "binary": 2, "close": 8, "ping": 9, "pong": 10}


def tshark(*args):
    r = subprocess.run(["tshark", *args], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"tshark {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def check_packets(pcap, port, problems):
    out = tshark("-r", pcap, "-T", "fields", "-E", "separator=|",
                 "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
                 "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.stream")
    streams = set()
    n = 0
    for line in out.splitlines():
        n += 1
        ip4s, ip4d, ip6s, ip6d, sp, dp, st = line.split("|")
        addrs = [a for a in (ip4s, ip4d, ip6s, ip6d) if a]
        if len(addrs) != 2 or not all(ipaddress.ip_address(a).is_loopback for a in addrs):
            problems.append(f"packet {n}: non-loopback or non-IP addresses {addrs}")
        if not sp or str(port) not in (sp, dp):
            problems.append(f"packet {n}: not TCP on port {port} ({sp} -> {dp})")
        if st:
            streams.add(int(st))
    if n == 0:
        problems.append("capture is empty")
    return n, sorted(streams)


def follow_stream(pcap, idx):
    """Return (node0, node1, bytes node0->node1, bytes node1->node0)."""
    out = tshark("-r", pcap, "-q", "-z", f"follow,tcp,raw,{idx}")
    node0 = node1 = None
    a, b = bytearray(), bytearray()
    in_body = False
    for line in out.splitlines():
        if line.startswith("Node 0: "):
            node0 = line[len("Node 0: "):].strip()
            continue
        if line.startswith("Node 1: "):
            node1 = line[len("Node 1: "):].strip()
            in_body = True
            continue
        if not in_body or line.startswith("====="):
            continue
        if line.startswith("\t"):
            b += bytes.fromhex(line.strip())
        elif line.strip():
            a += bytes.fromhex(line.strip())
    if node0 is None or node1 is None:
        raise RuntimeError(f"could not parse follow output for stream {idx}")
    return node0, node1, bytes(a), bytes(b)


def ws_frames(pcap, port, midstream=False):
    """Per (stream, srcport): list of (opcode, fin, rsv1, payload_length, digest).
    With the handshake captured, tshark finds the WebSocket frames through the
    HTTP upgrade (`-d tcp.port==N,http`); without it, the port is decoded as
    WebSocket directly."""
    proto = "websocket" if midstream else "http"
    # out-of-order reassembly: for derived captures with reordered segments
    out = tshark("-r", pcap, "-o", "tcp.reassemble_out_of_order:TRUE",
                 "-d", f"tcp.port=={port},{proto}", "-Y", "websocket",
                 "-T", "json", "--no-duplicate-keys", "-J", "tcp websocket")
    frames = {}
    for pkt in json.loads(out) if out.strip() else []:
        layers = pkt["_source"]["layers"]
        tcp = layers["tcp"]
        key = (int(tcp["tcp.stream"]), int(tcp["tcp.srcport"]))
        for ws in as_list(layers.get("websocket")):
            opcode = int(ws["websocket.opcode"])
            fin = ws["websocket.fin"] in ("1", "True", "true")
            rsv1 = bool(int(ws["websocket.rsv"], 16) & 0x4)
            plen = int(ws["websocket.payload_length"])
            if plen == 126:
                plen = int(ws["websocket.payload_length_ext_16"])
            elif plen == 127:
                plen = int(ws["websocket.payload_length_ext_64"])
            frames.setdefault(key, []).append((opcode, fin, rsv1, plen, payload_digest(opcode, ws)))
    return frames


def payload_digest(opcode, ws):
    """sha256 of the (unmasked, decompressed) payload as tshark shows it, for
    text, ping, pong and close frames; None where tshark shows no payload
    bytes (binary frames)."""
    p = ws.get("websocket.payload")
    p = p if isinstance(p, dict) else {}
    if opcode == 1:
        return hashlib.sha256(p.get("websocket.payload.text", "").encode("utf-8")).hexdigest()
    if opcode in (9, 10):
        h = p.get("websocket.payload.ping" if opcode == 9 else "websocket.payload.pong", "")
        return hashlib.sha256(bytes.fromhex(h.replace(":", ""))).hexdigest()
    if opcode == 8:
        c = p.get("websocket.payload.close")
        if not c:
            return hashlib.sha256(b"").hexdigest()
        data = int(c["websocket.payload.close.status_code"]).to_bytes(2, "big")
        data += c.get("websocket.payload.close.reason", "").encode("utf-8")
        return hashlib.sha256(data).hexdigest()
    return None


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def expected_frames(conn, name, msgs):
    """(opcode, fin, rsv1, wire length or None, digest or None) per frame, in wire order.

    With the truth's `frames` list (Python endpoints, Chromium), every frame's
    header is known, including fragments and compressed lengths; the payload
    digest is compared for messages sent in one frame.  Without it (Node
    endpoints; never fragmented), one frame per message and the length only
    for uncompressed frames."""
    fl = (conn.get("frames") or {}).get(name)
    if fl is None:
        return [(OPCODES[m["type"]], True, bool(m.get("compressed")),
                 None if m.get("compressed") else m["length"],
                 None if m["type"] == "binary" else m["sha256"][:16]) for m in msgs], False
    out = []
    done = iter(msgs)  # messages complete in the same order as this walk
    start = None
    for op, fin, rsv1, n in fl:
        digest = None
        if op in (1, 2) and fin or op >= 8:
            m = next(done)
            if m["type"] != "binary" and m.get("fragments", 1) == 1:
                digest = m["sha256"][:16]
        elif op == 0 and fin:
            next(done)
        out.append((op, fin, rsv1, n, digest))
    return out, True


def verify(truth_path):
    truth = json.load(open(truth_path))
    pcap = os.path.join(os.path.dirname(truth_path), truth["pcap"])
    port = truth["server_port"]
    problems = []
    npkts, streams = check_packets(pcap, port, problems)
    conns = truth["connections"]
    if len(streams) != len(conns):
        problems.append(f"{len(streams)} TCP streams in pcap, {len(conns)} connections in truth")
    midstream = any(not (c.get("handshake") or {}).get("seen", True) for c in conns)
    frames = ws_frames(pcap, port, midstream)
    nframes = 0
    for idx in streams:
        node0, node1, a, b = follow_stream(pcap, idx)
        conn = next((c for c in conns if {c["client"], c["server"]} == {node0, node1}), None)
        if conn is None:
            problems.append(f"stream {idx} ({node0} <-> {node1}) matches no connection in truth")
            continue
        c2s, s2c = (a, b) if node0 == conn["client"] else (b, a)
        for name, data in (("client_to_server", c2s), ("server_to_client", s2c)):
            want = conn[name]
            if not want.get("tcp_bytes_exact", True):
                continue  # derived capture with bytes removed on purpose
            want = want.get("captured", want)
            got = (len(data), hashlib.sha256(data).hexdigest())
            if got != (want["tcp_bytes"], want["tcp_sha256"]):
                problems.append(f"stream {idx} {name}: tshark {got[0]} B {got[1][:16]}…, "
                                f"truth {want['tcp_bytes']} B {want['tcp_sha256'][:16]}…")
        for name, src in (("client_to_server", conn["client"]), ("server_to_client", conn["server"])):
            if not conn[name].get("tcp_bytes_exact", True):
                continue
            msgs = [m for m in conn["messages"] if m["direction"] == name]
            seen = frames.get((idx, port_of(src)), [])
            nframes += len(seen)
            want, exact_lengths = expected_frames(conn, name, msgs)
            got = [(op, fin, rsv1, plen if exact_lengths or not rsv1 else None, dig and dig[:16])
                   for op, fin, rsv1, plen, dig in seen]
            # tshark shows no bytes for binary payloads, and none worth comparing for fragments
            got = [g if w[4] is not None else g[:4] + (None,) for g, w in zip(got, want)] + got[len(want):]
            if got != want:
                problems.append(f"stream {idx} {name}: websocket frames differ\n    tshark: {got}\n    truth:  {want}")
    status = "OK" if not problems else "MISMATCH"
    print(f"{status:8} {os.path.basename(pcap)}: {npkts} packets, {len(streams)} stream(s), "
          f"{nframes} websocket frames (tshark)")
    for p in problems:
        print(f"         - {p}")
    return not problems


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR
    truths = sorted(glob.glob(os.path.join(d, "*.truth.json")))
    if not truths:
        print(f"no *.truth.json in {d}")
        return 1
    ok = True
    for t in truths:
        try:
            ok &= verify(t)
        except Exception as e:  # noqa: BLE001 - report and keep going
            print(f"MISMATCH {os.path.basename(t)}: {e}")
            ok = False
    print(f"{sum(1 for _ in truths)} capture(s): {'all OK' if ok else 'MISMATCHES FOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
