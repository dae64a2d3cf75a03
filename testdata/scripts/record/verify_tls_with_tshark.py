#!/usr/bin/env python3
"""Second opinion on testdata/captures/tls/: check every capture against its
<name>.truth.json with tshark, decrypting with the capture's key log
(<name>.keys, or the secrets embedded in a pcapng Decryption Secrets Block).

For each capture:
  1. every packet is TCP between loopback addresses on one of the scenario's
     server ports, and there are as many TCP streams as connections in the truth;
  2. `follow,tcp,raw` per direction has the truth's tcp_bytes / tcp_sha256 (the
     TLS records as written; absent for Node, which shows only plaintext);
  3. without keys: the ClientHello carries the truth's SNI and ALPN offer, the
     ServerHello the truth's cipher suite and version (supported_versions for
     TLS 1.3), and a resumed TLS 1.3 connection has pre_shared_key in both
     hellos; no HTTP and no WebSocket is visible in a TLS connection;
  4. with keys: `follow,tls,raw` (the decrypted stream) per direction has the
     truth's tls_plaintext_bytes / tls_plaintext_sha256; the decrypted handshake
     messages per direction are the truth's (handshake_messages, without
     ChangeCipherSpec and alerts); the server's selected ALPN is the truth's;
     every KeyUpdate is there; and `-Y websocket` shows, per direction, the
     truth's frames (opcode, FIN, RSV1, wire length, and the sha256 of text,
     ping, pong and close payloads, as verify_with_tshark.py compares them);
  5. a key log with OpenSSL's CLIENT_/SERVER_TRAFFIC_SECRET_N lines (written on
     each KeyUpdate; not part of the NSS format) is checked a second time
     without them: the frames must decrypt from the _0 secrets alone.

Plaintext ws:// connections (`mixed`) get checks 1, 2 and the frame check.
With --extra-keys DIR, a capture committed without keys (tls-nokeys) is also
checked with DIR/<scenario>.keys if it exists (record_tls.sh passes its temp
dir), after the no-keys checks.

Prints one OK / MISMATCH line per capture; exit status 1 on any mismatch.
Usage: verify_tls_with_tshark.py [--extra-keys DIR] [DIR]   (default: testdata/captures/tls)
"""

import argparse
import glob
import hashlib
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from verify_with_tshark import expected_frames, payload_digest, port_of  # noqa: E402

DEFAULT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "captures", "tls"))
HS_TYPES = {"client_hello": 1, "server_hello": 2, "new_session_ticket": 4, "encrypted_extensions": 8,
            "certificate": 11, "server_key_exchange": 12, "certificate_request": 13, "server_hello_done": 14,
            "certificate_verify": 15, "client_key_exchange": 16, "finished": 20, "key_update": 24}
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tshark(*args):
    r = subprocess.run(["tshark", *args], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"tshark {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def fields(pcap, opts, display_filter, names):
    """-T fields with every occurrence, ';'-aggregated: list of dicts name -> [values]."""
    args = ["-r", pcap, *opts, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;"]
    if display_filter:
        args += ["-Y", display_filter]
    for n in names:
        args += ["-e", n]
    rows = []
    for line in tshark(*args).splitlines():
        vals = line.split("|")
        rows.append({n: [x for x in v.split(";") if x != ""] for n, v in zip(names, vals)})
    return rows


def check_packets(pcap, ports, problems):
    rows = fields(pcap, [], None, ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
                                   "tcp.stream"])
    streams = set()
    for n, r in enumerate(rows, start=1):
        addrs = r["ip.src"] + r["ip.dst"] + r["ipv6.src"] + r["ipv6.dst"]
        if len(addrs) != 2 or not all(ipaddress.ip_address(a).is_loopback for a in addrs):
            problems.append(f"packet {n}: non-loopback or non-IP addresses {addrs}")
        sp, dp = (r["tcp.srcport"] or [""])[0], (r["tcp.dstport"] or [""])[0]
        if not sp or not ({int(sp), int(dp)} & set(ports)):
            problems.append(f"packet {n}: not TCP on ports {ports} ({sp} -> {dp})")
        if r["tcp.stream"]:
            streams.add(int(r["tcp.stream"][0]))
    if not rows:
        problems.append("capture is empty")
    return len(rows), sorted(streams)


def follow(pcap, opts, proto, idx):
    """(node0, node1, bytes node0->node1, bytes node1->node0) of `follow,PROTO,raw,IDX`.
    tshark 4.0 prints a wrong Node 1 (":0") for follow,tls; there the caller tells
    the directions apart by content."""
    out = tshark("-r", pcap, *opts, "-q", "-z", f"follow,{proto},raw,{idx}")
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
    if node0 is None:
        raise RuntimeError(f"could not parse follow,{proto} output for stream {idx}")
    return node0, node1, bytes(a), bytes(b)


def ws_frames(pcap, opts):
    """Per (stream, srcport): [(opcode, fin, rsv1, payload length, digest)]."""
    out = tshark("-r", pcap, *opts, "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "websocket",
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


def compare_frames(idx, conn, frames, problems):
    n = 0
    for name, src in (("client_to_server", conn["client"]), ("server_to_client", conn["server"])):
        msgs = [m for m in conn["messages"] if m["direction"] == name]
        seen = frames.get((idx, port_of(src)), [])
        n += len(seen)
        want, exact = expected_frames(conn, name, msgs)
        got = [(op, fin, rsv1, plen if exact or not rsv1 else None, dig and dig[:16])
               for op, fin, rsv1, plen, dig in seen]
        got = [g if w[4] is not None else g[:4] + (None,) for g, w in zip(got, want)] + got[len(want):]
        if got != want:
            problems.append(f"stream {idx} {name}: websocket frames differ\n    tshark: {got}\n    truth:  {want}")
    return n


def hello_checks(pcap, opts, idx, conn, problems):
    """What a passive observer sees without keys: SNI, ALPN offer, version, suite, PSK."""
    t = conn["tls"]
    rows = fields(pcap, opts, f"tcp.stream == {idx} && (tls.handshake.type == 1 || tls.handshake.type == 2)",
                  ["tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
                   "tls.handshake.ciphersuite", "tls.handshake.extensions.supported_version",
                   "tls.handshake.version", "tls.handshake.extension.type"])
    ch = [r for r in rows if "1" in r["tls.handshake.type"]]
    sh = [r for r in rows if "2" in r["tls.handshake.type"]]
    if len(ch) != 1 or len(sh) != 1:
        problems.append(f"stream {idx}: {len(ch)} ClientHello, {len(sh)} ServerHello")
        return
    ch, sh = ch[0], sh[0]
    if ch["tls.handshake.extensions_server_name"] != [t["sni"]]:
        problems.append(f"stream {idx}: SNI {ch['tls.handshake.extensions_server_name']} != {t['sni']!r}")
    if t.get("alpn_offered") is not None and ch["tls.handshake.extensions_alpn_str"] != t["alpn_offered"]:
        problems.append(f"stream {idx}: ALPN offered {ch['tls.handshake.extensions_alpn_str']} != {t['alpn_offered']}")
    if t.get("cipher_suite") is not None and [int(x, 0) for x in sh["tls.handshake.ciphersuite"]] != [t["cipher_suite"]]:
        problems.append(f"stream {idx}: ServerHello suite {sh['tls.handshake.ciphersuite']} != {t['cipher_suite']:#06x}")
    want_v = TLS_VERSIONS[t["version"]]
    got_v = [int(x, 0) for x in (sh["tls.handshake.extensions.supported_version"] or sh["tls.handshake.version"])]
    if got_v != [want_v]:
        problems.append(f"stream {idx}: ServerHello version {got_v} != {want_v:#06x}")
    if t["version"] == "TLSv1.3":
        psk = ["41" in ch["tls.handshake.extension.type"], "41" in sh["tls.handshake.extension.type"]]
        if psk != [t["resumed"], t["resumed"]]:
            problems.append(f"stream {idx}: pre_shared_key in ClientHello/ServerHello {psk}, resumed {t['resumed']}")


def decrypted_checks(pcap, opts, idx, conn, problems):
    """Plaintext streams, handshake messages, ALPN and KeyUpdates with keys."""
    t = conn["tls"]
    _node0, _node1, a, b = follow(pcap, opts, "tls", idx)
    c2s, s2c = (a, b) if a.startswith(b"GET ") else (b, a)
    for name, data in (("client_to_server", c2s), ("server_to_client", s2c)):
        want = conn[name]
        if (len(data), sha(data)) != (want["tls_plaintext_bytes"], want["tls_plaintext_sha256"]):
            problems.append(f"stream {idx} {name}: decrypted {len(data)} B {sha(data)[:16]}…, truth "
                            f"{want['tls_plaintext_bytes']} B {want['tls_plaintext_sha256'][:16]}…")
    rows = fields(pcap, opts, f"tcp.stream == {idx} && tls.handshake", ["tcp.srcport", "tls.handshake.type",
                                                                         "tls.handshake.extensions_alpn_str"])
    server_port = port_of(conn["server"])
    seen = {"client_to_server": [], "server_to_client": []}
    alpn_selected = []
    for r in rows:
        d = "server_to_client" if int(r["tcp.srcport"][0]) == server_port else "client_to_server"
        seen[d] += [int(x) for x in r["tls.handshake.type"]]
        if d == "server_to_client":
            alpn_selected += r["tls.handshake.extensions_alpn_str"]
    if "handshake_messages" in t:
        for d in seen:
            want = [HS_TYPES[m] for m in t["handshake_messages"][d] if m in HS_TYPES]
            if seen[d] != want:
                problems.append(f"stream {idx} {d}: decrypted handshake types {seen[d]} != truth {want}")
        for d in seen:
            n_ku = sum(1 for k in t["key_updates"] if k["direction"] == d)
            if seen[d].count(24) != n_ku:
                problems.append(f"stream {idx} {d}: {seen[d].count(24)} KeyUpdate(s) decrypted, truth {n_ku}")
    elif 24 in seen["client_to_server"] + seen["server_to_client"]:
        problems.append(f"stream {idx}: unexpected KeyUpdate")
    if alpn_selected != [t["alpn"]]:
        problems.append(f"stream {idx}: server's ALPN {alpn_selected} != {t['alpn']!r}")


def has_n_lines(keys):
    return any(ln.startswith(("CLIENT_TRAFFIC_SECRET_N ", "SERVER_TRAFFIC_SECRET_N ")) for ln in open(keys))


def verify(truth_path, extra_keys_dir):
    truth = json.load(open(truth_path))
    d = os.path.dirname(truth_path)
    pcap = os.path.join(d, truth["pcap"])
    ports = truth.get("server_ports") or [truth["server_port"]]
    conns = truth["connections"]
    tls_ports = sorted({port_of(c["server"]) for c in conns if c.get("tls")})
    plain_ports = sorted({port_of(c["server"]) for c in conns if not c.get("tls")})
    decode = []
    for p in tls_ports:
        decode += ["-d", f"tcp.port=={p},tls"]
    for p in plain_ports:
        decode += ["-d", f"tcp.port=={p},http"]
    keys = os.path.join(d, truth["keylog"]) if truth.get("keylog") else None
    embedded = bool(truth.get("keylog_embedded"))
    extra = os.path.join(extra_keys_dir, f"{truth['scenario']}.keys") if extra_keys_dir else None
    extra = extra if extra and not keys and not embedded and os.path.exists(extra) else None
    problems, notes = [], []

    npkts, streams = check_packets(pcap, ports, problems)
    if len(streams) != len(conns):
        problems.append(f"{len(streams)} TCP streams in pcap, {len(conns)} connections in truth")
    by_stream = {}
    for idx in streams:
        node0, node1, a, b = follow(pcap, [], "tcp", idx)
        conn = next((c for c in conns if {c["client"], c["server"]} == {node0, node1}), None)
        if conn is None:
            problems.append(f"stream {idx} ({node0} <-> {node1}) matches no connection in truth")
            continue
        by_stream[idx] = conn
        c2s, s2c = (a, b) if node0 == conn["client"] else (b, a)
        for name, data in (("client_to_server", c2s), ("server_to_client", s2c)):
            want = conn[name]
            if "tcp_bytes" in want and (len(data), sha(data)) != (want["tcp_bytes"], want["tcp_sha256"]):
                problems.append(f"stream {idx} {name}: TCP {len(data)} B {sha(data)[:16]}…, truth "
                                f"{want['tcp_bytes']} B {want['tcp_sha256'][:16]}…")
        if conn.get("tls"):
            hello_checks(pcap, decode, idx, conn, problems)

    # without keys: nothing inside TLS may be visible
    if not embedded:
        frames = ws_frames(pcap, decode)
        for idx, conn in by_stream.items():
            if conn.get("tls") and any(k[0] == idx for k in frames):
                problems.append(f"stream {idx}: WebSocket frames visible without keys")
            if not conn.get("tls"):
                compare_frames(idx, conn, frames, problems)
        if not keys:
            notes.append("no keys: handshake only")

    key_sets = []
    if keys:
        key_sets.append(("key log", ["-o", f"tls.keylog_file:{keys}"]))
        if has_n_lines(keys):
            tmp = tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False)
            with tmp:
                tmp.writelines(ln for ln in open(keys) if not ln.startswith(("CLIENT_TRAFFIC_SECRET_N ",
                                                                             "SERVER_TRAFFIC_SECRET_N ")))
            key_sets.append(("key log without *_TRAFFIC_SECRET_N", ["-o", f"tls.keylog_file:{tmp.name}"]))
    if embedded:
        key_sets.append(("embedded secrets (DSB)", []))
    if extra:
        key_sets.append((f"extra key log {extra}", ["-o", f"tls.keylog_file:{extra}"]))
    nframes = 0
    for label, kopts in key_sets:
        before = len(problems)
        opts = kopts + decode
        frames = ws_frames(pcap, opts)
        n = 0
        for idx, conn in by_stream.items():
            n += compare_frames(idx, conn, frames, problems)
            if conn.get("tls"):
                decrypted_checks(pcap, opts, idx, conn, problems)
        nframes = max(nframes, n)
        for i in range(before, len(problems)):
            problems[i] = f"[{label}] {problems[i]}"
        notes.append(f"{label}: {n} frames")
        if label.startswith("key log without"):
            os.unlink(kopts[1].split(":", 1)[1])
    status = "OK" if not problems else "MISMATCH"
    print(f"{status:8} {os.path.basename(pcap)}: {npkts} packets, {len(streams)} stream(s); " + "; ".join(notes))
    for p in problems:
        print(f"         - {p}")
    return not problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra-keys", default=None, help="folder with <scenario>.keys for captures committed without keys")
    ap.add_argument("dir", nargs="?", default=DEFAULT_DIR)
    args = ap.parse_args()
    truths = sorted(glob.glob(os.path.join(args.dir, "*.truth.json")))
    if not truths:
        print(f"no *.truth.json in {args.dir}")
        return 1
    ok = True
    for t in truths:
        try:
            ok &= verify(t, args.extra_keys)
        except Exception as e:  # noqa: BLE001 - report and keep going
            print(f"MISMATCH {os.path.basename(t)}: {type(e).__name__}: {e}")
            ok = False
    print(f"{len(truths)} capture(s): {'all OK' if ok else 'MISMATCHES FOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
