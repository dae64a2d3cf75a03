#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/TARGET/) from the
repository's captures and a few hand-built inputs. Kept small: the whole of fuzz/corpus stays
well under 1 MB, because it is committed and replayed by `tests/regressions.rs` in CI.

    python3 fuzz/seed.py            # from anywhere: paths are relative to this file

- pcap_file/, pipeline/: the crafted captures, the `cases` and the real ones up to 3 KB
  (pipeline: 4 KB), as they are;
- packet_decode/: in the target's input format ([link selector] then records of
  [dt: u8][len: u16 LE][packet]): one seed per capture with its first packets (so IPv4
  fragments of one datagram arrive in separate records);
- analyzer_session/: the TCP payloads of the first connection of each Ethernet/IPv4 capture,
  as Data records in capture order, then a Fin each way;
- http_handshake/: each such connection's client bytes (a request head), then its server bytes;
- ws_direction/: each such connection's server bytes after the response head, as a server
  direction from the start, and as a client one;
- pipeline_large/: hand-built inputs that expand to captures of MBs (see
  harness/pipeline_large.rs): many frames, one endless fragmented message, compressed
  messages, a long HTTP head, many interleaved connections, lost, repeated, reordered and
  conflicting segments;
- stream_table/: not seeded (its inputs are `arbitrary` structures); what fuzzing kept.

Rerunning replaces the seeded files (named by content hash), never removes others.
"""

import hashlib
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CAPTURES = ROOT / "testdata" / "captures"
MAX_SEED = 3 * 1024  # packet_decode multi-packet seeds stay under this

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


def ipv4_tcp_flows(link, pkts):
    """{(client, server): [(dir, payload, flags)]} of the Ethernet/raw IPv4 TCP packets."""
    flows = {}
    for _ts, pkt in pkts:
        if link == 1:
            if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
                continue
            ip = pkt[14:]
        elif link in (12, 14, 101):
            ip = pkt
        else:
            return {}
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total] if total >= ihl else ip[ihl:]
        if len(tcp) < 20:
            continue
        src = (ip[12:16], struct.unpack(">H", tcp[0:2])[0])
        dst = (ip[16:20], struct.unpack(">H", tcp[2:4])[0])
        off = (tcp[12] >> 4) * 4
        flags = tcp[13]
        key = (src, dst) if (dst, src) not in flows else (dst, src)
        d = 0 if key == (src, dst) else 1
        flows.setdefault(key, []).append((d, tcp[off:], flags))
    return flows


def streams(link, pkts):
    """(client bytes, server bytes, [(dir, payload)]) of the first flow with payload."""
    for packets in ipv4_tcp_flows(link, pkts).values():
        recs = [(d, p) for d, p, _f in packets if p]
        if recs:
            c = b"".join(p for d, p in recs if d == 0)
            s = b"".join(p for d, p in recs if d == 1)
            return c, s, recs
    return None


def session_seed(recs):
    """An analyzer_session input: config byte, Data records, then a Fin each way (slot 0)."""
    out = bytearray([0b0100_1011])  # frames, payloads, announce; 4096 max message; 2048 head
    for d, p in recs:
        for i in range(0, len(p), 0xFFFF):
            part = p[i : i + 0xFFFF]
            out += bytes([d << 2]) + struct.pack("<H", len(part)) + part
    out += bytes([9 << 3, 0, 0, (9 << 3) | 4, 0, 0])
    return bytes(out)


def large_seeds():
    """pipeline_large inputs: [flags][conns][period] then [dir][repeat u16][len][bytes]."""

    def chunk(d, repeat, data):
        assert len(data) <= 255
        return bytes([d]) + struct.pack("<H", repeat) + bytes([len(data)]) + data

    def masked(opcode, payload, fin=True, key=b"\x01\x02\x03\x04"):
        m = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + key + m

    hello = b"\x81\x05hello"
    frames = hello * 36  # 252 bytes
    client = masked(1, b"hi there") * 14  # 196 bytes
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = deflate.compress(b"hello hello hello") + deflate.flush(zlib.Z_SYNC_FLUSH)
    comp = comp[:-4]  # RFC 7692: without the 00 00 ff ff tail
    compressed = (b"\xc1" + bytes([len(comp)]) + comp) * 10
    up = 0b011  # TCP handshake and HTTP upgrade
    yield bytes([up, 0, 0]) + chunk(1, 0xFFFF, frames) + chunk(0, 0xFFFF, client)
    # One message that never ends: a first fragment, then continuations for ever.
    yield bytes([up, 0, 0]) + chunk(1, 0, b"\x01\x02ab") + chunk(1, 0xFFFF, b"\x00\x7e\x00\xf0" + b"x" * 240)
    yield bytes([up | 4, 0, 0]) + chunk(1, 0xFFFF, compressed[:250])
    # A head that never ends.
    yield bytes([1, 0, 0]) + chunk(0, 0, b"GET / HTTP/1.1\r\n") + chunk(0, 0xFFFF, b"X-Long: " + b"a" * 200 + b"\r\n")
    # 128 connections, interleaved: all open at once.
    yield bytes([up, 0xFF, 0]) + chunk(1, 300, frames) + chunk(0, 300, client)
    # No handshake at all: frames found by resync in bytes that are mostly not frames.
    yield bytes([0, 0, 0]) + chunk(1, 0xFFFF, bytes(range(7, 255)))
    # Small segments, each perturbation every 7th segment.
    for p in (1, 2, 3, 4, 5):
        yield bytes([up | (1 << 3) | (p << 5), 0, 7]) + chunk(1, 0x3FFF, frames) + chunk(0, 0x1FFF, client)


def main():
    corpus = HERE / "corpus"
    captures = (
        sorted((CAPTURES / "crafted").glob("*.pcap*"))
        + sorted((CAPTURES / "cases").glob("*.pcap*"))
        + sorted((CAPTURES / "real").glob("*.pcap*"))
    )
    counts = {}

    def put(target, data):
        write(corpus / target, data)
        counts[target] = counts.get(target, 0) + 1

    for path in captures:
        raw = path.read_bytes()
        if len(raw) <= 3 * 1024:
            put("pcap_file", raw)
        if len(raw) <= 4 * 1024:
            put("pipeline", raw)
        try:
            link, pkts = read_capture(path)
        except (KeyError, struct.error) as err:
            print(f"skip {path.name}: {err}", file=sys.stderr)
            continue
        if link in SELECTOR and len(raw) <= 10 * 1024:
            sel = bytes([SELECTOR[link]])
            multi, prev = bytearray(sel), None
            for ts, pkt in pkts:
                dt = 0 if prev is None else max(0, min(255, (ts - prev) // 250_000_000))
                prev = ts
                rec = bytes([dt]) + struct.pack("<H", len(pkt)) + pkt
                if len(multi) + len(rec) <= MAX_SEED and len(pkt) <= 0xFFFF:
                    multi += rec
            put("packet_decode", bytes(multi))
        found = streams(link, pkts) if len(raw) <= 10 * 1024 else None
        if found:
            c, s, recs = found
            put("analyzer_session", session_seed(recs)[:MAX_SEED])
            put("http_handshake", b"\x00" + c[:4096])
            put("http_handshake", b"\x01" + s[:4096])
            body = s.split(b"\r\n\r\n", 1)[-1][:4096]
            if body:
                put("ws_direction", bytes([0b0000_0100, 3]) + body)  # server, from the start
                put("ws_direction", bytes([0b0000_0101, 5]) + body)  # as if from the client
    for seed in large_seeds():
        put("pipeline_large", seed)
    (corpus / "stream_table").mkdir(parents=True, exist_ok=True)
    print(", ".join(f"{t}: {n}" for t, n in sorted(counts.items())), "(before dedup)")


if __name__ == "__main__":
    main()
