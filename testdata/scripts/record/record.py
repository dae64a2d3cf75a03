#!/usr/bin/env python3
"""Drive the recording scenarios: for each one start tcpdump on lo, run the
server and client endpoints (py_endpoint.py / node_endpoint.js), stop tcpdump,
cross-check the two endpoints' logs and write <scenario>.pcap and
<scenario>.truth.json into the output directory.

Called by record.sh (which provides the venv python and NODE_PATH); see the
README in testdata/captures/real/ for the format.

Usage: record.py --out DIR --work DIR [scenario ...]
"""

import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY_ENDPOINT = os.path.join(HERE, "py_endpoint.py")
NODE_ENDPOINT = os.path.join(HERE, "node_endpoint.js")

SCENARIO_TIMEOUT = 20.0  # hard limit for the endpoints of one scenario, seconds

# name -> (client impl, server impl, listen host, port, description)
SCENARIOS = {
    "py-basic": ("py", "py", "127.0.0.1", 19001,
                 "Python client <-> Python server, no compression; text/binary/empty/unicode "
                 "messages echoed by the server, one ping/pong, client closes 1000 'bye'."),
    "py-large": ("py", "py", "127.0.0.1", 19002,
                 "Python client sends one 204800-byte binary message, Python server answers "
                 "with a 70000-byte text message; no compression; client closes 1000 'bye'."),
    "node-basic": ("node", "node", "127.0.0.1", 19003,
                   "Node ws client <-> Node ws server, perMessageDeflate off; messages echoed "
                   "(incl. a 65536-byte binary), one ping/pong, server closes 1001 'going away'."),
    "py-node-deflate": ("py", "node", "127.0.0.1", 19004,
                        "Python client with permessage-deflate (websockets default offer) <-> Node "
                        "ws server with perMessageDeflate on; JSON messages both ways with context "
                        "takeover; client closes 1000 'done'."),
    "ipv6": ("py", "py", "::1", 19005,
             "Like py-basic but over [::1]."),
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


def cross_check(scenario, c, s):
    problems = []
    for side in (c, s):
        if side.get("errors"):
            problems.append(f"{side['role']} reported errors: {side['errors']}")
        for a in (side["local"], side["peer"]):
            if not (a.startswith("127.0.0.1:") or a.startswith("[::1]:")):
                problems.append(f"non-loopback address {a}")
    if c["local"] != s["peer"] or c["peer"] != s["local"]:
        problems.append(f"address mismatch: client {c['local']}->{c['peer']}, server {s['local']}->{s['peer']}")
    if c["extensions"] != s["extensions"]:
        problems.append(f"extensions mismatch: client saw {c['extensions']!r}, server sent {s['extensions']!r}")
    for sender, receiver, d in ((c, s, "client->server"), (s, c, "server->client")):
        a, b = strip(sender["sent"]), strip(receiver["received"])
        if a != b:
            problems.append(f"{d}: sent != received\n  sent:     {a}\n  received: {b}")
        if not sender["sent"] or sender["sent"][-1]["type"] != "close":
            problems.append(f"{d}: last frame is not a close frame")
        if sender["tcp"]["bytes"] <= 0:
            problems.append(f"{d}: no bytes written")
    if problems:
        raise Fail(f"{scenario}: endpoint cross-check failed:\n" + "\n".join(problems))


def run_scenario(name, out_dir, work_dir):
    cimpl, simpl, host, port, desc = SCENARIOS[name]
    wd = os.path.join(work_dir, name)
    os.makedirs(wd, exist_ok=True)
    # tcpdump drops privileges to the 'tcpdump' user before opening the file
    os.chmod(wd, 0o1777)
    pcap = os.path.join(wd, f"{name}.pcap")
    tcpdump_err = os.path.join(wd, "tcpdump.err")
    clog, slog = os.path.join(wd, "client.json"), os.path.join(wd, "server.json")
    if not port_free(host, port):
        raise Fail(f"{name}: port {host}:{port} is in use")

    t0 = time.monotonic()
    tcpdump = server = client = None
    try:
        tcpdump = start_tcpdump(pcap, port, tcpdump_err)
        deadline = time.monotonic() + SCENARIO_TIMEOUT
        server = subprocess.Popen(endpoint_cmd(simpl, "server", name, host, port, slog), stdout=subprocess.PIPE)
        wait_for_line(server, "READY", 10)
        client = subprocess.Popen(endpoint_cmd(cimpl, "client", name, host, port, clog))
        for proc, role in ((client, "client"), (server, "server")):
            try:
                rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise Fail(f"{name}: {role} did not finish within {SCENARIO_TIMEOUT} s")
            if rc != 0:
                raise Fail(f"{name}: {role} exited with {rc}")
        time.sleep(0.5)
        err = stop_tcpdump(tcpdump, tcpdump_err)
        tcpdump = None
    finally:
        for p in (client, server, tcpdump):
            kill(p)
    elapsed = time.monotonic() - t0
    stats = " / ".join(line.strip() for line in err.splitlines() if "packets" in line)
    if "0 packets dropped by kernel" not in err:
        raise Fail(f"{name}: tcpdump dropped packets: {stats}")

    c = json.load(open(clog))
    s = json.load(open(slog))
    cross_check(name, c, s)

    truth = {
        "scenario": name,
        "description": desc,
        "pcap": f"{name}.pcap",
        "client_impl": c["impl"],
        "server_impl": s["impl"],
        "server_port": port,
        "ip_version": 6 if ":" in host else 4,
        "connections": [
            {
                "client": c["local"],
                "server": s["local"],
                "extensions": s["extensions"],
                "client_to_server": {"tcp_bytes": c["tcp"]["bytes"], "tcp_sha256": c["tcp"]["sha256"]},
                "server_to_client": {"tcp_bytes": s["tcp"]["bytes"], "tcp_sha256": s["tcp"]["sha256"]},
                "messages": [dict(direction="client_to_server", **m) for m in c["sent"]]
                + [dict(direction="server_to_client", **m) for m in s["sent"]],
            }
        ],
    }
    shutil.copyfile(pcap, os.path.join(out_dir, f"{name}.pcap"))
    with open(os.path.join(out_dir, f"{name}.truth.json"), "w") as f:
        json.dump(truth, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log(f"{name}: ok in {elapsed:.1f} s ({stats}); c->s {c['tcp']['bytes']} B, s->c {s['tcp']['bytes']} B, "
        f"{len(c['sent'])}+{len(s['sent'])} frames")


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
