#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the repository's captures.

    python3 fuzz/seed.py            # from the repository root (or anywhere: paths are relative to this file)

- corpus/pcap_file/: the crafted captures and the small real ones as they are, plus the first
  8 KiB of the large real ones (libpcap then reports a truncated file, which is fine).
- corpus/packet_decode/: in the target's input format ([link selector] then records of
  [dt: u8][len: u16 LE][packet]): one seed per capture with its first packets (so IPv4 fragments
  of one datagram arrive in separate records), and one seed per distinct packet.
- corpus/stream_table/: created empty (its inputs are `arbitrary` structures; libFuzzer grows it).

The corpora are generated, gitignored (fuzz/.gitignore) and never committed.
"""

import hashlib
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CAPTURES = ROOT / "testdata" / "captures"
BIG = 64 * 1024  # real captures larger than this are only seeded by their prefix
PREFIX = 8 * 1024
MAX_SEED = 8 * 1024  # packet_decode multi-packet seeds stay under this

# Order of LINKS in fuzz_targets/packet_decode.rs.
SELECTOR = {0: 0, 1: 1, 12: 2, 14: 2, 101: 2, 108: 3, 113: 4, 228: 5, 229: 6, 276: 7}


def read_pcap(data):
    """(linktype, [(ts_ns, bytes)]) of a classic pcap file, tolerating a truncated tail."""
    magic = data[:4]
    table = {
        b"\xd4\xc3\xb2\xa1": ("<", 1000),
        b"\xa1\xb2\xc3\xd4": (">", 1000),
        b"\x4d\x3c\xb2\xa1": ("<", 1),
        b"\xa1\xb2\x3c\x4d": (">", 1),
    }
    e, mul = table[magic]
    link = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    pos, pkts = 24, []
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(e + "IIII", data[pos : pos + 16])
        pos += 16
        body = data[pos : pos + incl]
        pos += incl
        pkts.append((sec * 1_000_000_000 + frac * mul, body))
    return link, pkts


def read_pcapng(data):
    """(linktype of the first interface, [(ts_ns, bytes)]) of a pcapng file (microsecond ts assumed)."""
    e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos, links, pkts = 0, [], []
    while pos + 12 <= len(data):
        btype, blen = struct.unpack(e + "II", data[pos : pos + 8])
        if blen < 12:
            break
        body = data[pos + 8 : pos + blen - 4]
        if btype == 1:  # IDB
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6:  # EPB
            _ifid, hi, lo, cap, _orig = struct.unpack(e + "IIIII", body[:20])
            pkts.append((((hi << 32) | lo) * 1000, body[20 : 20 + cap]))
        elif btype == 3:  # SPB
            pkts.append((0, body[4:]))
        pos += blen
    return (links[0] if links else 1), pkts


def read_capture(path):
    data = path.read_bytes()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return read_pcapng(data)
    return read_pcap(data)


def write(dir_, data):
    dir_.mkdir(parents=True, exist_ok=True)
    (dir_ / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    corpus = HERE / "corpus"
    captures = sorted((CAPTURES / "crafted").glob("*.pcap*")) + sorted(
        (CAPTURES / "real").glob("*.pcap*")
    )
    n_file = n_decode = 0
    for path in captures:
        raw = path.read_bytes()
        write(corpus / "pcap_file", raw if len(raw) <= BIG else raw[:PREFIX])
        n_file += 1
        try:
            link, pkts = read_capture(path)
        except (KeyError, struct.error) as err:
            print(f"skip {path.name}: {err}", file=sys.stderr)
            continue
        if link not in SELECTOR:
            print(f"skip {path.name}: link type {link}", file=sys.stderr)
            continue
        sel = bytes([SELECTOR[link]])
        multi, prev = bytearray(sel), None
        for ts, pkt in pkts:
            if len(pkt) > 0xFFFF:
                continue  # the seed format's length is 16 bits (loopback packets reach 65 KB)
            dt = 0 if prev is None else max(0, min(255, (ts - prev) // 250_000_000))
            prev = ts
            rec = bytes([dt]) + struct.pack("<H", len(pkt)) + pkt
            if len(multi) + len(rec) <= MAX_SEED:
                multi += rec
            if len(pkt) <= MAX_SEED:
                write(corpus / "packet_decode", sel + b"\x00" + struct.pack("<H", len(pkt)) + pkt)
                n_decode += 1
        write(corpus / "packet_decode", bytes(multi))
        n_decode += 1
    (corpus / "stream_table").mkdir(parents=True, exist_ok=True)
    print(f"pcap_file: {n_file} seeds, packet_decode: {n_decode} seeds (before dedup)")


if __name__ == "__main__":
    main()
