#!/usr/bin/env python3
"""Derive edited captures from a real one (Python standard library only).

From testdata/captures/real/py-basic.pcap (+ truth) write into
testdata/captures/derived/:

  reordered       some data segments are cut into 3 pieces that are written in
                  another order, right after each other (no packet between
                  them, so no ACK acknowledges data past a hole); same truth.
  retransmitted   copies of data segments with identical bytes appear later in
                  the file: right after the original, after the ACK that
                  covers it, after the sender's FIN, and once repacketized
                  across two segments; same truth.
  tiny-segments   every data segment is cut into segments of at most 7 bytes
                  (consecutive sequence numbers, same ACK/flags/timestamp);
                  same truth.
  lost-segment    the segment that carries the client's 300-byte text message
                  is cut into 3 pieces and the middle one (100 bytes of
                  payload) is dropped: the truth marks that message
                  "lost": true, expects a capture_gap finding, and sets
                  "tcp_bytes_exact": false for the client-to-server direction.

IP and TCP checksums of every rewritten packet are recomputed.  The output is
a deterministic function of the input capture.

Usage: derive.py [--src DIR] [--out DIR]
"""

import argparse
import copy
import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.normpath(os.path.join(HERE, "..", "..", "captures"))
SOURCE = "py-basic"


# ---------------------------------------------------------------- classic pcap


def read_pcap(path):
    data = open(path, "rb").read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a classic microsecond pcap (magic {magic.hex()})")
    header = data[:24]
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    pkts = []
    off = 24
    while off < len(data):
        sec, usec, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        if incl != orig:
            raise SystemExit(f"{path}: truncated packet (snaplen)")
        pkts.append(Packet(sec, usec, frame))
        off += 16 + incl
    return endian, header, pkts


def write_pcap(path, endian, header, pkts):
    with open(path, "wb") as f:
        f.write(header)
        for p in pkts:
            frame = p.frame()
            f.write(struct.pack(endian + "IIII", p.sec, p.usec, len(frame), len(frame)))
            f.write(frame)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Packet:
    """An Ethernet/IPv4/TCP packet whose sequence number and payload can be replaced."""

    def __init__(self, sec, usec, raw):
        self.sec, self.usec = sec, usec
        if raw[12:14] != b"\x08\x00":
            raise SystemExit("only IPv4 over Ethernet is supported")
        self.eth = raw[:14]
        ihl = (raw[14] & 0x0F) * 4
        self.ip = bytearray(raw[14:14 + ihl])
        total = struct.unpack("!H", raw[16:18])[0]
        if self.ip[9] != 6:
            raise SystemExit("only TCP is supported")
        tcp = raw[14 + ihl:14 + total]
        doff = (tcp[12] >> 4) * 4
        self.tcp = bytearray(tcp[:doff])
        self.payload = bytes(tcp[doff:])
        self.sport, self.dport, self.seq, self.ack = struct.unpack("!HHII", self.tcp[:12])
        self.flags = self.tcp[13]

    def clone(self, seq=None, payload=None, sec=None, usec=None):
        p = copy.copy(self)
        p.ip = bytearray(self.ip)
        p.tcp = bytearray(self.tcp)
        if seq is not None:
            p.seq = seq & 0xFFFFFFFF
        if payload is not None:
            p.payload = payload
        if sec is not None:
            p.sec, p.usec = sec, usec
        return p

    def frame(self) -> bytes:
        ip = bytearray(self.ip)
        tcp = bytearray(self.tcp)
        struct.pack_into("!I", tcp, 4, self.seq)
        struct.pack_into("!H", ip, 2, len(ip) + len(tcp) + len(self.payload))
        struct.pack_into("!H", ip, 10, 0)
        struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
        struct.pack_into("!H", tcp, 16, 0)
        pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 6, len(tcp) + len(self.payload))
        struct.pack_into("!H", tcp, 16, checksum(pseudo + bytes(tcp) + self.payload))
        return self.eth + bytes(ip) + bytes(tcp) + self.payload


# ---------------------------------------------------------------- edits


def split(p: Packet, cuts):
    """Cut p's payload at the given offsets: a list of packets with consecutive seqs."""
    out, prev = [], 0
    for c in list(cuts) + [len(p.payload)]:
        if c > prev:
            out.append(p.clone(seq=p.seq + prev, payload=p.payload[prev:c]))
        prev = c
    return out


def thirds(p: Packet):
    n = len(p.payload)
    return split(p, [n // 3, 2 * n // 3])


def data_segments(pkts, server_port):
    """Indices of data-carrying packets per direction (c2s, s2c)."""
    c2s = [i for i, p in enumerate(pkts) if p.payload and p.dport == server_port]
    s2c = [i for i, p in enumerate(pkts) if p.payload and p.sport == server_port]
    return c2s, s2c


def find_ack(pkts, i):
    """Index of the first later packet of the other direction that acknowledges all of pkts[i]."""
    p = pkts[i]
    end = (p.seq + len(p.payload)) & 0xFFFFFFFF
    for j in range(i + 1, len(pkts)):
        q = pkts[j]
        if q.sport == p.dport and (q.ack - end) & 0xFFFFFFFF < 0x80000000:
            return j
    raise SystemExit(f"no ACK for packet {i + 1}")


def derive_reordered(pkts, c2s, s2c):
    plan = {
        c2s[0]: (1, 0, 2),  # the HTTP upgrade request: middle piece first
        s2c[0]: (0, 2, 1),  # the 101 response
        c2s[5]: (2, 1, 0),  # the 126-byte binary message, fully reversed
        s2c[-2]: (0, 2, 1),  # the echo of the 300-byte text
    }
    out, notes = [], []
    for i, p in enumerate(pkts):
        if i in plan:
            pieces = thirds(p)
            out += [pieces[k] for k in plan[i]]
            notes.append(f"packet {i + 1} ({len(p.payload)} B) cut in 3, written in order "
                         + ",".join(str(k + 1) for k in plan[i]))
        else:
            out.append(p)
    return out, notes


def derive_retransmitted(pkts, c2s, s2c):
    fin_s = next(i for i, p in enumerate(pkts) if p.flags & 0x01 and p.sport == pkts[s2c[0]].sport)
    after = {}  # index -> packets to insert after it

    def add(at, p, why):
        q = p.clone(sec=pkts[at].sec, usec=pkts[at].usec)
        after.setdefault(at, []).append((q, why))

    add(find_ack(pkts, c2s[0]), pkts[c2s[0]], "the upgrade request again, after its ACK")
    add(c2s[2], pkts[c2s[2]], "a client text message again, right after the original")
    add(find_ack(pkts, s2c[5]) + 2, pkts[s2c[5]], "a server binary echo again, two packets after its ACK")
    # repacketized: the last 20 bytes of the client's 300-byte text + the first 5 of its close frame
    a, b = pkts[c2s[-2]], pkts[c2s[-1]]
    assert (a.seq + len(a.payload)) & 0xFFFFFFFF == b.seq
    joined = a.payload[-20:] + b.payload[:5]
    add(c2s[-1] + 1, a.clone(seq=a.seq + len(a.payload) - 20, payload=joined),
        "25 bytes spanning the client's last text message and its close frame, repacketized")
    add(fin_s, pkts[s2c[-1]], "the server's close frame again, after the server's FIN")
    out, notes = [], []
    for i, p in enumerate(pkts):
        out.append(p)
        for q, why in after.get(i, []):
            out.append(q)
            notes.append(f"after packet {i + 1}: {why}")
    return out, notes


def derive_tiny(pkts, c2s, s2c):
    out = []
    n = 0
    for p in pkts:
        if p.payload:
            pieces = split(p, range(7, len(p.payload), 7))
            n += len(pieces)
            out += pieces
        else:
            out.append(p)
    return out, [f"every data segment cut into segments of at most 7 bytes ({n} data segments)"]


def derive_lost(pkts, c2s, s2c):
    i = c2s[-2]  # the client's 300-byte text message (the close frame is the last one)
    p = pkts[i]
    assert len(p.payload) == 308, len(p.payload)  # 2 + 2 (length) + 4 (mask) + 300
    pieces = split(p, [100, 200])
    out = pkts[:i] + [pieces[0], pieces[2]] + pkts[i + 1:]
    return out, [f"packet {i + 1} (the client's 300-byte text frame, 308 B) cut at 100 and 200; "
                 f"the middle 100 bytes (stream offsets {(p.seq + 100 - pkts[0].seq - 1) & 0xFFFFFFFF}.."
                 f"{(p.seq + 200 - pkts[0].seq - 2) & 0xFFFFFFFF}) are not in the capture"]


DERIVED = {
    "reordered": (derive_reordered,
                  "py-basic with data segments cut into 3 pieces written out of order (adjacent, "
                  "no ACK between them). The reassembled streams and messages are unchanged."),
    "retransmitted": (derive_retransmitted,
                      "py-basic with identical copies of data segments later in the file "
                      "(spurious, immediate, after the FIN, and one repacketized across two "
                      "segments). The reassembled streams and messages are unchanged."),
    "tiny-segments": (derive_tiny,
                      "py-basic with every data segment (HTTP included) cut into TCP segments of "
                      "at most 7 bytes. The reassembled streams and messages are unchanged."),
    "lost-segment": (derive_lost,
                     "py-basic without 100 bytes from the middle of the client's 300-byte text "
                     "message (its segment cut in 3, the middle piece dropped; the server's ACKs "
                     "still cover it). That message must be reported truncated (payload "
                     "unavailable or partial); expected finding: capture_gap (deliberate); the "
                     "messages after it (the close frame) must still be decoded."),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(CAPTURES, "real"))
    ap.add_argument("--out", default=os.path.join(CAPTURES, "derived"))
    args = ap.parse_args()
    truth = json.load(open(os.path.join(args.src, f"{SOURCE}.truth.json")))
    endian, header, pkts = read_pcap(os.path.join(args.src, truth["pcap"]))
    port = truth["server_port"]
    c2s, s2c = data_segments(pkts, port)
    conn = truth["connections"][0]
    nc = sum(1 for m in conn["messages"] if m["direction"] == "client_to_server")
    ns = sum(1 for m in conn["messages"] if m["direction"] == "server_to_client")
    if (len(c2s), len(s2c)) != (nc + 1, ns + 1):
        sys.exit(f"{SOURCE}: expected one segment per message plus the HTTP head "
                 f"({nc + 1} + {ns + 1}), found {len(c2s)} + {len(s2c)}")
    os.makedirs(args.out, exist_ok=True)
    for name, (fn, desc) in DERIVED.items():
        out, notes = fn(pkts, c2s, s2c)
        t = copy.deepcopy(truth)
        t["scenario"] = name
        t["pcap"] = f"{name}.pcap"
        t["description"] = desc
        t["derived_from"] = f"real/{SOURCE}.pcap"
        t["edits"] = notes
        if name == "lost-segment":
            c = t["connections"][0]
            c["client_to_server"]["tcp_bytes_exact"] = False
            c["expected_findings"] = ["capture_gap"]
            texts = [m for m in c["messages"] if m["direction"] == "client_to_server" and m["type"] == "text"]
            lost = texts[-1]
            assert lost["length"] == 300, lost
            lost["lost"] = True
        write_pcap(os.path.join(args.out, f"{name}.pcap"), endian, header, out)
        text = json.dumps(t, indent=2, ensure_ascii=False)
        text = re.sub(r"\[\s+(\d+),\s+(true|false),\s+(true|false),\s+(\d+)\s+\]", r"[\1, \2, \3, \4]", text)
        with open(os.path.join(args.out, f"{name}.truth.json"), "w") as f:
            f.write(text + "\n")
        print(f"[derive] {name}: {len(out)} packets ({len(pkts)} in {SOURCE}); " + "; ".join(notes))


if __name__ == "__main__":
    main()
