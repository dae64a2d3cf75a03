#!/usr/bin/env python3
"""Drive the wss:// recording scenarios for testdata/captures/tls/: for each one
make a throwaway self-signed certificate, start tcpdump on lo, run the TLS
endpoints (tls_endpoint.py, node_endpoint.js, or headless Chromium against
tls_endpoint.py's server), stop tcpdump, cross-check what the two endpoints
logged and write <scenario>.pcap, <scenario>.truth.json and <scenario>.keys
(the NSS key log the client's TLS library wrote; none for tls-nokeys).
Then tls13-dsb.pcapng: py-tls13.pcap with its key log embedded in a pcapng
Decryption Secrets Block (editcap --inject-secrets).

Called by record_tls.sh (venv python, NODE_PATH); see the README in
testdata/captures/tls/ for the format.  Reuses record.py's tcpdump handling
and cross-checks.

Usage: record_tls.py --out DIR --work DIR [scenario ...]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import record as rec  # noqa: E402
from record import Fail, log  # noqa: E402

TLS_ENDPOINT = os.path.join(HERE, "tls_endpoint.py")
HOST = "127.0.0.1"

# IANA names and code points of the suites these scenarios can negotiate
SUITES = {
    "TLS_AES_128_GCM_SHA256": ("TLS_AES_128_GCM_SHA256", 0x1301),
    "TLS_AES_256_GCM_SHA384": ("TLS_AES_256_GCM_SHA384", 0x1302),
    "TLS_CHACHA20_POLY1305_SHA256": ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
    "ECDHE-RSA-AES128-GCM-SHA256": ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F),
    "ECDHE-RSA-AES256-GCM-SHA384": ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xC030),
    "ECDHE-RSA-CHACHA20-POLY1305": ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8),
}


def sc(kind, port, desc, suites=None, keys=True, **kw):
    d = dict(kind=kind, port=port, desc=desc, suites=suites, keys=keys)
    d.update(kw)
    return d


SCENARIOS = {
    "py-tls13": sc(
        "py", 19101,
        "Python websockets client and server over TLS 1.3 (TLS_AES_256_GCM_SHA384, X25519, RSA "
        "certificate), SNI localhost, ALPN http/1.1. Connection 0: full handshake with the server's "
        "certificate; welcome, text, binary, non-ASCII text, ping/pong, 300-byte text and 2000-byte "
        "binary echoed (text as 'echo: ' + text, binary reversed); client closes 1000 'bye'. "
        "Connection 1: the client offers the session ticket of connection 0 (PSK resumption, "
        "psk_dhe_ke: no certificate in the handshake); welcome and two echoes; client closes 1000 "
        "'resumed bye'. The server sends two NewSessionTickets on each connection. Every "
        "connection ends with close_notify both ways.",
        suites="TLS_AES_256_GCM_SHA384"),
    "py-tls12-gcm": sc(
        "py", 19102,
        "Python websockets client and server over TLS 1.2 only, ECDHE-RSA-AES128-GCM-SHA256 "
        "(extended master secret), SNI localhost, ALPN http/1.1, permessage-deflate (websockets' "
        "default offer; every data frame compressed). Both sides write their TCP bytes in pieces "
        "of at most 1400 bytes with TCP_NODELAY, so TLS records span TCP segments. The client "
        "sends two JSON texts (echoed), one 40960-byte incompressible binary message (one frame "
        "of about 41 KB carried by three TLS records; the server answers with a short text: its "
        "length and sha256), a third JSON text and a ping; client closes 1000 'bye'."),
    "node-tls12-chacha": sc(
        "node", 19103,
        "Node ws client and server (https.Server) over TLS 1.2 only, ECDHE-RSA-CHACHA20-POLY1305, "
        "SNI localhost, ALPN http/1.1, permessage-deflate with context takeover (ws compresses "
        "every data message). The server sends welcome and echoes: a text, a 20-byte binary, a "
        "1.5 KB JSON text, a 6000-byte binary, a ping (automatic pong), a non-ASCII text, then "
        "'please close': the server closes 1001 'going away' and ws echoes it. Key log from the "
        "sockets' 'keylog' events (client and server logged the same lines). Truth: the plaintext "
        "each side wrote into its TLS socket; Node shows no TCP (ciphertext) bytes."),
    "keyupdate": sc(
        "py", 19104,
        "Python websockets over TLS 1.3 (TLS_AES_128_GCM_SHA256) with four KeyUpdate messages in "
        "the middle of the WebSocket conversation (sent with OpenSSL's SSL_key_update): after 3 "
        "echoes the client sends KeyUpdate(update_requested) and the server answers with its own "
        "KeyUpdate(update_not_requested); after 3 more echoes (text, binary, ping) the server "
        "updates its keys again on its own before one echo; then the client updates its keys "
        "(update_not_requested) in the middle of a 3000-byte text frame: the frame's first 1000 "
        "bytes are in a record under the old key, the rest under the new one. Client traffic "
        "secrets reach generation 2, server secrets generation 2. Client closes 1000 'bye'.",
        suites="TLS_AES_128_GCM_SHA256"),
    "tls-nokeys": sc(
        "py", 19105,
        "Like py-tls13's first connection (TLS 1.3, TLS_AES_256_GCM_SHA384, SNI localhost, ALPN "
        "http/1.1 offered): welcome, four echoes, client closes 1000 'bye'. No key log is "
        "committed: a passive observer sees the TLS handshake (ClientHello with SNI and ALPN, "
        "ServerHello) and encrypted records only.",
        suites="TLS_AES_256_GCM_SHA384", keys=False),
    "mixed": sc(
        "mixed", 19106,
        "Two sessions at the same time in one capture: ws:// on port 19106 (plaintext) and wss:// "
        "on port 19107 (TLS 1.3, TLS_CHACHA20_POLY1305_SHA256, SNI localhost, ALPN http/1.1), "
        "each a Python websockets client and server. Both clients start together and send 8 "
        "messages 40 ms apart (texts tagged [ws] / [wss], two binaries, a ping), each echoed; "
        "closes 1000 'ws done' / 'wss done'. The key log covers the wss connection only.",
        suites="TLS_CHACHA20_POLY1305_SHA256", tls_port=19107),
    "chromium-wss": sc(
        "chromium", 19108,
        "Headless Chromium (Debian package) loads a page from a local HTTP server (port 19118, "
        "not captured); the page's WebSocket connects to wss://localhost:19108 (a Python "
        "websockets sans-I/O server over TLS with the throwaway self-signed certificate, accepted "
        "with --ignore-certificate-errors), with permessage-deflate (Chromium's default offer). "
        "Chromium writes the key log (SSLKEYLOGFILE). Same messages as chromium-deflate in "
        "../real/. Client-side truth is what the server read from its TLS stream and decoded, "
        "cross-checked against what the page logged sending.",
        page_port=19118),
}
DSB = "tls13-dsb"  # made from py-tls13 after it is recorded


def py_cmd(role, name, port, logf, wd, keylog, plain=False, pace=None):
    cmd = [sys.executable, TLS_ENDPOINT, "--role", role, "--scenario", name, "--host", HOST,
           "--port", str(port), "--log", logf]
    if plain:
        cmd.append("--plain")
    elif role == "server":
        cmd += ["--cert", os.path.join(wd, "cert.pem"), "--key", os.path.join(wd, "key.pem")]
    else:
        cmd += ["--ca", os.path.join(wd, "cert.pem")]
    if keylog and not plain:
        cmd += ["--keylog", keylog]
    if pace:
        cmd += ["--pace", str(pace)]
    return cmd


def node_cmd(role, name, port, logf, wd, keylog):
    cmd = ["node", rec.NODE_ENDPOINT, "--role", role, "--scenario", name, "--host", HOST,
           "--port", str(port), "--log", logf, "--keylog", keylog]
    if role == "server":
        cmd += ["--cert", os.path.join(wd, "cert.pem"), "--key", os.path.join(wd, "key.pem")]
    else:
        cmd += ["--ca", os.path.join(wd, "cert.pem")]
    return cmd


def make_cert(wd):
    """A throwaway self-signed RSA certificate for localhost / 127.0.0.1 (never committed)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", os.path.join(wd, "key.pem"), "-out", os.path.join(wd, "cert.pem")],
                   check=True, capture_output=True, timeout=60)


def openssl_conf(wd, suites):
    """An OpenSSL config whose system_default section allows only `suites` for TLS 1.3
    (Python cannot set TLS 1.3 cipher suites); given to the server process only, so the
    client offers OpenSSL's default list and the server picks."""
    path = os.path.join(wd, "openssl.cnf")
    with open(path, "w") as f:
        f.write("openssl_conf = wsscope_conf\n[wsscope_conf]\nssl_conf = wsscope_ssl\n"
                "[wsscope_ssl]\nsystem_default = wsscope_tls\n"
                f"[wsscope_tls]\nCiphersuites = {suites}\n")
    return path


def start_tcpdump(pcap, bpf, errfile):
    """record.start_tcpdump with a free BPF filter (mixed: two ports)."""
    cmd = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-s", "0", "-w", pcap, bpf]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(errfile, "wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail(f"tcpdump exited early ({proc.returncode}): {open(errfile).read()}")
        if (os.path.exists(pcap) and os.path.getsize(pcap) >= 24
                and b"listening on" in open(errfile, "rb").read()):
            time.sleep(0.3)
            return proc
        time.sleep(0.05)
    rec.kill(proc)
    raise Fail("tcpdump did not become ready")


def keylog_lines(path):
    if not os.path.exists(path):
        return []
    return [ln for ln in open(path).read().splitlines() if ln and not ln.startswith("#")]


# ---------------------------------------------------------------------------
# cross-checks and truth
# ---------------------------------------------------------------------------


def check_tls_pair(label, c, s, problems):
    """TLS parts of a Python client/server pair (both logs from tls_endpoint.py)."""
    ct, st = c.get("tls"), s.get("tls")
    if ct is None or st is None:
        if ct is not st:
            problems.append(f"{label}: one side used TLS, the other did not")
        return
    for k in ("version", "cipher", "alpn", "resumed"):
        if ct[k] != st[k]:
            problems.append(f"{label}: TLS {k} differs: client {ct[k]!r}, server {st[k]!r}")
    if st["sni"] != ct["sni"]:
        problems.append(f"{label}: SNI: client sent {ct['sni']!r}, server saw {st['sni']!r}")
    for a, b, d in ((c, s, "client->server"), (s, c, "server->client")):
        pa, pb = a["tls_plaintext"], b["tls_plaintext_received"]
        if (pa["bytes"], pa["sha256"]) != (pb["bytes"], pb["sha256"]):
            problems.append(f"{label} {d}: TLS plaintext written {pa} != read {pb}")
        # OpenSSL's message callback does not report a ChangeCipherSpec it reads
        written = [m for m in a["tls"]["handshake_messages"]["sent"] if m != "change_cipher_spec"]
        if written != b["tls"]["handshake_messages"]["received"]:
            problems.append(f"{label} {d}: TLS messages written {a['tls']['handshake_messages']['sent']} "
                            f"!= read {b['tls']['handshake_messages']['received']}")
        ka = [(k["update_requested"], k["plaintext_offset"]) for k in a["tls"]["key_updates"] if k["direction"] == "sent"]
        kb = [(k["update_requested"], k["plaintext_offset"]) for k in b["tls"]["key_updates"]
              if k["direction"] == "received"]
        if ka != kb:
            problems.append(f"{label} {d}: KeyUpdates sent {ka} != received {kb}")
        if not (a["tls"]["close_notify"]["sent"] and b["tls"]["close_notify"]["received"]):
            problems.append(f"{label} {d}: no close_notify")


def frame_position(frames, ws_start, offset, masked):
    """(index of the frame, offset inside it) for a stream offset; (len(frames), 0) at the end."""
    pos = ws_start
    for i, (_op, _fin, _rsv1, n) in enumerate(frames):
        size = 2 + (2 if 126 <= n < 65536 else 8 if n >= 65536 else 0) + (4 if masked else 0) + n
        if offset < pos + size:
            return i, offset - pos
        pos += size
    return len(frames), offset - pos


def tls_truth(c, s, conn, kind):
    """The connection's `tls` object from both sides' logs (server's view for SNI).
    Chromium's ALPN offer is not known to any endpoint log: null."""
    ct, st = c["tls"], s["tls"]
    iana, code = SUITES.get(ct["cipher"], (ct.get("cipher_iana") or ct["cipher"], None))
    t = {"version": ct["version"], "cipher": iana, "cipher_openssl": ct["cipher"], "cipher_suite": code,
         "sni": st["sni"], "alpn_offered": None if kind == "chromium" else ["http/1.1"], "alpn": ct["alpn"], "resumed": ct["resumed"]}
    if "handshake_messages" in ct:  # Python endpoints
        t["handshake_messages"] = {"client_to_server": ct["handshake_messages"]["sent"],
                                   "server_to_client": st["handshake_messages"]["sent"]}
        kus = []
        for side, name, masked in ((c, "client_to_server", True), (s, "server_to_client", False)):
            for k in side["tls"]["key_updates"]:
                if k["direction"] != "sent":
                    continue
                fi, fo = frame_position(conn["frames"][name], side["ws_start"]["sent"], k["plaintext_offset"], masked)
                kus.append({"direction": name, "update_requested": k["update_requested"],
                            "plaintext_offset": k["plaintext_offset"], "frame_index": fi, "frame_offset": fo})
        kus.sort(key=lambda k: (k["direction"] != "client_to_server", k["plaintext_offset"]))
        t["key_updates"] = kus
        t["close_notify"] = {"client_to_server": ct["close_notify"]["sent"],
                             "server_to_client": st["close_notify"]["sent"]}
    return t


def build_connection(cfg, c, s, kind):
    f1 = (c.get("frames") or {}).get("sent")
    f2 = (s.get("frames") or {}).get("sent")
    conn = rec.truth_connection(dict(mode="pair", findings=[]), c, s, f1, f2)
    if c.get("tls") is None:
        conn["tls"] = None
        return conn
    for name, side in (("client_to_server", c), ("server_to_client", s)):
        d = conn[name]
        pt = side["tls_plaintext"]
        if kind == "node":  # Node logs the plaintext only: no TCP byte truth
            del d["tcp_bytes"], d["tcp_sha256"]
        d["tls_plaintext_bytes"], d["tls_plaintext_sha256"] = pt["bytes"], pt["sha256"]
    # keep the TLS details right after the addresses
    tls = tls_truth(c, s, conn, kind)
    out = {}
    for k, v in conn.items():
        out[k] = v
        if k == "server":
            out["tls"] = tls
    return out


def node_as_tls(entry):
    """A node_endpoint.js log of a wss:// connection: its `tcp` counts plaintext."""
    entry["tls_plaintext"] = entry["tcp"]
    return entry


# ---------------------------------------------------------------------------


def run_scenario(name, out_dir, work_dir):
    cfg = SCENARIOS[name]
    kind, port = cfg["kind"], cfg["port"]
    wd = os.path.join(work_dir, name)
    shutil.rmtree(wd, ignore_errors=True)  # key logs are appended to: start empty
    os.makedirs(wd)
    os.chmod(wd, 0o1777)  # tcpdump drops privileges before opening its output file
    make_cert(wd)
    pcap = os.path.join(wd, f"{name}.pcap")
    tcpdump_err = os.path.join(wd, "tcpdump.err")
    ckeys, skeys = os.path.join(wd, "client.keys"), os.path.join(wd, "server.keys")
    ports = [port] + ([cfg["tls_port"]] if kind == "mixed" else []) + ([cfg["page_port"]] if kind == "chromium" else [])
    for p in ports:
        if not rec.port_free(HOST, p):
            raise Fail(f"{name}: port {HOST}:{p} is in use")
    server_env = dict(os.environ)
    if cfg["suites"]:
        server_env["OPENSSL_CONF"] = openssl_conf(wd, cfg["suites"])
    bpf = " or ".join(f"tcp port {p}" for p in ports if p != cfg.get("page_port"))

    t0 = time.monotonic()
    timeout = rec.CHROMIUM_TIMEOUT if kind == "chromium" else rec.SCENARIO_TIMEOUT
    procs_all = []
    tcpdump = browser = None
    logs = []  # (client log or None, server log)
    try:
        tcpdump = start_tcpdump(pcap, bpf, tcpdump_err)
        deadline = time.monotonic() + timeout
        waits = []
        if kind in ("py", "node"):
            slog, clog = os.path.join(wd, "server.json"), os.path.join(wd, "client.json")
            mk = py_cmd if kind == "py" else node_cmd
            server = subprocess.Popen(mk("server", name, port, slog, wd, skeys), stdout=subprocess.PIPE,
                                      env=server_env)
            procs_all.append(server)
            rec.wait_for_line(server, "READY", 10)
            client = subprocess.Popen(mk("client", name, port, clog, wd, ckeys))
            procs_all.append(client)
            waits = [(client, "client"), (server, "server")]
            logs = [(clog, slog)]
        elif kind == "mixed":
            pairs = [("ws", port, True), ("wss", cfg["tls_port"], False)]
            servers = []
            for tag, p, plain in pairs:
                slog = os.path.join(wd, f"server-{tag}.json")
                srv = subprocess.Popen(py_cmd("server", name, p, slog, wd, skeys, plain=plain),
                                       stdout=subprocess.PIPE, env=server_env)
                procs_all.append(srv)
                servers.append((srv, slog))
            for srv, _ in servers:
                rec.wait_for_line(srv, "READY", 10)
            for (tag, p, plain), (srv, slog) in zip(pairs, servers):
                clog = os.path.join(wd, f"client-{tag}.json")
                cl = subprocess.Popen(py_cmd("client", name, p, clog, wd, ckeys, plain=plain, pace=40))
                procs_all.append(cl)
                waits += [(cl, f"{tag} client"), (srv, f"{tag} server")]
                logs.append((clog, slog))
        elif kind == "chromium":
            slog = os.path.join(wd, "server.json")
            plog = os.path.join(wd, "page.json")
            server = subprocess.Popen(py_cmd("server", name, port, slog, wd, skeys), stdout=subprocess.PIPE,
                                      env=server_env)
            procs_all.append(server)
            rec.wait_for_line(server, "READY", 10)
            page = subprocess.Popen([sys.executable, rec.CHROMIUM_PAGE, "--port", str(cfg["page_port"]),
                                     "--ws-port", str(port), "--ws-url", f"wss://localhost:{port}/{name}",
                                     "--log", plog, "--timeout", str(timeout)], stdout=subprocess.PIPE)
            procs_all.append(page)
            rec.wait_for_line(page, "READY", 10)
            profile = tempfile.mkdtemp(prefix="chromium-profile.", dir=wd)
            cmd = rec.chromium_cmd(f"http://127.0.0.1:{cfg['page_port']}/", profile)
            # the page's wss:// goes to localhost -> 127.0.0.1; the self-signed cert is accepted
            cmd[1:1] = ["--ignore-certificate-errors", "--host-resolver-rules=MAP localhost 127.0.0.1"]
            benv = dict(os.environ, SSLKEYLOGFILE=ckeys)
            browser = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=benv,
                                       stderr=open(os.path.join(wd, "chromium.err"), "wb"),
                                       start_new_session=True)
            waits = [(page, "page server"), (server, "server")]
            logs = [(None, slog)]
        for proc, role in waits:
            try:
                rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise Fail(f"{name}: {role} did not finish within {timeout} s")
            if rc != 0:
                raise Fail(f"{name}: {role} exited with {rc}")
        if browser is not None:
            rec.kill_group(browser)
            browser = None
        time.sleep(0.5)
        err = rec.stop_tcpdump(tcpdump, tcpdump_err)
        tcpdump = None
    finally:
        rec.kill_group(browser)
        for p in procs_all + [tcpdump]:
            rec.kill(p)
    elapsed = time.monotonic() - t0
    stats = " / ".join(line.strip() for line in err.splitlines() if "packets" in line)
    if "0 packets dropped by kernel" not in err:
        raise Fail(f"{name}: tcpdump dropped packets: {stats}")

    problems = []
    conns = []
    impls = []
    for clog, slog in logs:
        s_impl, servers = rec.load_log(slog)
        if kind == "chromium":
            if len(servers) != 1:
                raise Fail(f"{name}: Chromium made {len(servers)} connections, expected 1")
            s = servers[0]
            c = chromium_client(s, json.load(open(plog)), problems)
            impls.append((f"{rec.chromium_version()}, headless", s_impl))
            pairs = [(c, s)]
        else:
            c_impl, clients = rec.load_log(clog)
            impls.append((c_impl, s_impl))
            if kind == "node":
                clients, servers = [node_as_tls(x) for x in clients], [node_as_tls(x) for x in servers]
            pairs = rec.pair_up(name, clients, servers)
            for i, (c, s) in enumerate(pairs):
                label = f"{name} connection {i}"
                rec.cross_check_pair(label, c, s, problems)
                if kind == "node":
                    for k in ("version", "cipher", "alpn", "resumed"):
                        if c["tls"][k] != s["tls"][k]:
                            problems.append(f"{label}: TLS {k} differs: {c['tls'][k]!r} / {s['tls'][k]!r}")
                    if s["tls"]["sni"] != "localhost":
                        problems.append(f"{label}: server saw SNI {s['tls']['sni']!r}")
                else:
                    check_tls_pair(label, c, s, problems)
        conns += [build_connection(cfg, c, s, kind) for c, s in pairs]
    # the key logs: both Python / Node sides write the same lines (TLS 1.3: the same secrets)
    lines_c = keylog_lines(ckeys)
    if not lines_c:
        problems.append("the client wrote no key log")
    if kind != "chromium" and set(lines_c) != set(keylog_lines(skeys)):
        problems.append("client and server key logs differ")
    if problems:
        raise Fail(f"{name}: endpoint cross-check failed:\n" + "\n".join(problems))

    c_impl, s_impl = impls[0]
    if kind == "mixed":
        c_impl = s_impl = impls[1][0]  # the same script; the TLS one names OpenSSL too
    truth = {
        "scenario": name,
        "description": cfg["desc"],
        "pcap": f"{name}.pcap",
        "keylog": f"{name}.keys" if cfg["keys"] else None,
        "client_impl": c_impl,
        "server_impl": s_impl,
        "server_port": port,
        "ip_version": 4,
        "connections": conns,
    }
    if kind == "mixed":
        truth["server_ports"] = [port, cfg["tls_port"]]
    shutil.copyfile(pcap, os.path.join(out_dir, f"{name}.pcap"))
    keys_out = os.path.join(out_dir, f"{name}.keys")
    if cfg["keys"]:
        shutil.copyfile(ckeys, keys_out)
    else:
        # kept in the work dir for verify_tls_with_tshark.py --extra-keys, never committed
        shutil.copyfile(ckeys, os.path.join(work_dir, f"{name}.keys"))
        if os.path.exists(keys_out):
            os.remove(keys_out)
    with open(os.path.join(out_dir, f"{name}.truth.json"), "w") as f:
        f.write(rec.dump_truth(truth))
    log(f"{name}: ok in {elapsed:.1f} s ({stats}); {len(conns)} connection(s); "
        + ", ".join(f"{(x['tls'] or {}).get('version', 'plain')} {(x['tls'] or {}).get('cipher', '')} "
                    f"{len([m for m in x['messages'] if m['direction'] == 'client_to_server'])}"
                    f"+{len([m for m in x['messages'] if m['direction'] == 'server_to_client'])} msgs"
                    for x in conns))


def chromium_client(s, page_log, problems):
    """Chromium logs nothing itself: its side is what the server read, checked
    against what the page logged (as record.py does for chromium-deflate)."""
    c = rec.observed_client(s)
    c["tls"] = dict(s["tls"])
    c["tls_plaintext"] = s["tls_plaintext_received"]
    c["tls"]["sni"] = s["tls"]["sni"]
    c["tls"]["handshake_messages"] = {"sent": s["tls"]["handshake_messages"]["received"],
                                      "received": s["tls"]["handshake_messages"]["sent"]}
    c["tls"]["key_updates"] = [dict(k, direction="sent" if k["direction"] == "received" else "received")
                               for k in s["tls"]["key_updates"]]
    c["tls"]["close_notify"] = {"sent": s["tls"]["close_notify"]["received"],
                                "received": s["tls"]["close_notify"]["sent"]}
    c["ws_start"] = {"sent": s["ws_start"]["received"], "received": s["ws_start"]["sent"]}
    keys = ("type", "length", "sha256", "close_code", "close_reason")
    if page_log.get("errors"):
        problems.append(f"page reported errors: {page_log['errors']}")
    for what, a, b in (("page sent / server received", page_log["sent"], s["received"]),
                       ("server sent / page received", s["sent"], page_log["received"])):
        aa = [{k: m[k] for k in keys if k in m} for m in a]
        bb = [{k: m[k] for k in keys if k in m} for m in b]
        if aa != bb:
            problems.append(f"{what} differ:\n  {aa}\n  {bb}")
    if not s["received"] or s["received"][-1]["type"] != "close":
        problems.append("Chromium's last frame is not a close frame")
    if (page_log.get("extensions") or "") != (s["extensions"] or ""):
        problems.append(f"page saw extensions {page_log.get('extensions')!r}, server sent {s['extensions']!r}")
    if s.get("errors"):
        problems.append(f"server reported errors: {s['errors']}")
    return c


def make_dsb(out_dir):
    """tls13-dsb.pcapng: py-tls13.pcap with py-tls13.keys in a Decryption Secrets Block."""
    src = os.path.join(out_dir, "py-tls13.pcap")
    keys = os.path.join(out_dir, "py-tls13.keys")
    dst = os.path.join(out_dir, f"{DSB}.pcapng")
    subprocess.run(["editcap", "--inject-secrets", f"tls,{keys}", "-F", "pcapng", src, dst],
                   check=True, capture_output=True, timeout=60)
    truth = json.load(open(os.path.join(out_dir, "py-tls13.truth.json")))
    out = {"scenario": DSB,
           "description": "py-tls13.pcap converted to pcapng by editcap --inject-secrets, with "
                          "py-tls13.keys embedded in a Decryption Secrets Block (secrets type TLS "
                          "key log) before the first packet. No separate key log: the capture "
                          "decrypts on its own. Packets and truth are py-tls13's.",
           "pcap": f"{DSB}.pcapng",
           "keylog": None,
           "keylog_embedded": True,
           "derived_from": "py-tls13.pcap"}
    for k, v in truth.items():
        if k not in out and k != "keylog":
            out[k] = v
    with open(os.path.join(out_dir, f"{DSB}.truth.json"), "w") as f:
        f.write(rec.dump_truth(out))
    log(f"{DSB}: written from py-tls13 ({os.path.getsize(dst)} bytes)")


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args()
    names = args.scenarios or list(SCENARIOS) + [DSB]
    for n in names:
        if n not in SCENARIOS and n != DSB:
            sys.exit(f"unknown scenario {n}; known: {', '.join(list(SCENARIOS) + [DSB])}")
    if "py-tls13" in names and DSB not in names:
        names.append(DSB)  # keep the DSB copy in step with py-tls13
    os.makedirs(args.out, exist_ok=True)
    os.chmod(args.work, 0o755)
    signal.signal(signal.SIGTERM, _on_sigterm)
    failed = []
    for n in names:
        try:
            if n == DSB:
                if "py-tls13" in failed:
                    raise Fail("py-tls13 failed")
                make_dsb(args.out)
            else:
                run_scenario(n, args.out, args.work)
        except (Fail, subprocess.SubprocessError, OSError) as e:
            log(f"FAILED {n}: {e}")
            failed.append(n)
    if failed:
        log(f"failed scenarios: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
