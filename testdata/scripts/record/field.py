#!/usr/bin/env python3
"""Record testdata/captures/field/: WebSocket sessions between the Python
endpoints (py_endpoint.py, scenarios `field` and `field-late`) captured the
ways captures are made in the field, not only `tcpdump -i lo` started first:

  sll        tcpdump -i any -y LINUX_SLL / -y LINUX_SLL2 in the server's
             namespace: one connection over lo (ARPHRD_LOOPBACK), one over
             a veth (ARPHRD_ETHER)
  vxlan      kernel VXLAN between two namespaces, captured on the underlay veth
  gre        a userspace GRE tunnel (gre_tunnel.py; the kernel has no GRE),
             captured on the underlay veth
  merged     each direction captured on its own veth end (tcpdump -Q out),
             one file's clock shifted with editcap -t, merged with mergecap
  impaired   a userspace impairment path (impair.py; the kernel has no netem)
             delaying, reordering and dropping packets between two TUNs,
             captured at the server's and at the client's TUN
  late       tcpdump started while the server is in the middle of writing a
             long frame

Every run gets two fresh network namespaces (wsf-c: client, wsf-s: server)
with IPv6 disabled, which are deleted afterwards, also on failure.  All
traffic stays inside them (10.77-10.80.0.0/24 and 127.0.0.1).  The truth files
have the format of testdata/captures/real/ (see its README) plus the optional
fields documented in testdata/captures/field/README.md.

Called by field.sh (which provides the venv python).
Usage: field.py --out DIR --work DIR [run ...]
"""

import argparse
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import py_endpoint  # noqa: E402  (det_text: the payload of the cut message in field-late)
import record  # noqa: E402  (load_log, pair_up, cross_check_pair, truth_connection, dump_truth)

PY_ENDPOINT = os.path.join(HERE, "py_endpoint.py")
GRE_TUNNEL = os.path.join(HERE, "gre_tunnel.py")
IMPAIR = os.path.join(HERE, "impair.py")


NS_C, NS_S = "wsf-c", "wsf-s"
RUN_TIMEOUT = 30.0  # endpoints of one run, seconds (py_endpoint gives up after 15 s itself)
# underlay veth pair between the namespaces
VETH_C, VETH_S, UNDER_C, UNDER_S = "wsf-c0", "wsf-s0", "10.77.0.1", "10.77.0.2"
SKEW_MS = 30  # merged: the server side's clock is shifted by -SKEW_MS and +SKEW_MS
PACE_MS = 10  # merged: the client waits this long before each message
IMPAIR_SEED = 6455


class Fail(Exception):
    pass


def log(msg):
    print(f"[field] {msg}", flush=True)


def sh(*cmd, timeout=20):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise Fail(f"{' '.join(cmd)}: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout.decode()


def in_ns(ns, cmd):
    return ["ip", "netns", "exec", ns] + list(cmd)


def field_addr_ok(a):
    host = a.rsplit(":", 1)[0]
    return host == "127.0.0.1" or host.startswith("10.")


# ------------------------------------------------------------------ namespaces


def teardown():
    """Kill what runs in our namespaces (only processes this script started can be
    there) and delete them; their devices (veth, vxlan, tun) go with them."""
    have = sh("ip", "netns", "list")
    for ns in (NS_C, NS_S):
        if not re.search(rf"^{ns}\b", have, re.M):
            continue
        for pid in sh("ip", "netns", "pids", ns).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        sh("ip", "netns", "del", ns)


def make_namespaces():
    teardown()
    for ns in (NS_C, NS_S):
        sh("ip", "netns", "add", ns)
        # no IPv6: no router solicitations, MLD or DAD packets in the captures
        sh(*in_ns(ns, ["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
                                   "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"]))
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def wire_like(ns, dev):
    # no GSO/TSO super-packets: the captures show MTU-sized segments, as on a wire
    sh("ip", "-n", ns, "link", "set", "dev", dev, "gso_max_segs", "1", "gso_max_size", "1500")


def make_veth():
    sh("ip", "link", "add", VETH_C, "type", "veth", "peer", "name", VETH_S)
    sh("ip", "link", "set", VETH_C, "netns", NS_C)
    sh("ip", "link", "set", VETH_S, "netns", NS_S)
    for ns, dev, addr in ((NS_C, VETH_C, UNDER_C), (NS_S, VETH_S, UNDER_S)):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        wire_like(ns, dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")


def make_vxlan():
    for ns, dev, local, remote, addr in ((NS_C, VETH_C, UNDER_C, UNDER_S, "10.78.0.1"),
                                         (NS_S, VETH_S, UNDER_S, UNDER_C, "10.78.0.2")):
        sh("ip", "-n", ns, "link", "add", "wsf-vx", "type", "vxlan", "id", "4242", "local", local,
           "remote", remote, "dstport", "4789", "dev", dev)
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "wsf-vx")
        wire_like(ns, "wsf-vx")
        sh("ip", "-n", ns, "link", "set", "wsf-vx", "up")


def make_tun(ns, dev, addr, mtu):
    sh("ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tun")
    sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
    sh("ip", "-n", ns, "link", "set", dev, "mtu", str(mtu), "up")


# ------------------------------------------------------------------ processes


class Lines:
    """Line reader on a child's stdout that keeps what follows a line."""

    def __init__(self, proc):
        self.proc, self.buf = proc, b""

    def wait_for(self, want, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.decode(errors="replace").strip() == want:
                    return
            if self.proc.poll() is not None:
                raise Fail(f"process exited with {self.proc.returncode} before printing {want!r}")
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if r:
                self.buf += os.read(self.proc.stdout.fileno(), 4096)
        raise Fail(f"timeout waiting for {want!r}")


def kill(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def stop(proc, timeout=5):
    """SIGINT, then wait; SIGKILL if it does not exit."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise Fail(f"{proc.args[:5]} did not exit on SIGINT")


class Tcpdump:
    def __init__(self, ns, iface, pcap, bpf, extra=()):
        self.pcap = pcap
        self.err = pcap + ".err"
        # --immediate-mode and -B 65536: see record.py (start_tcpdump)
        self.cmd = ["tcpdump", "-i", iface, *extra, "-U", "--immediate-mode", "-B", "65536", "-s", "0",
                    "-w", pcap, bpf]
        self.proc = subprocess.Popen(in_ns(ns, self.cmd), stdout=subprocess.DEVNULL,
                                     stderr=open(self.err, "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"tcpdump exited early ({self.proc.returncode}): {open(self.err).read()}")
            if (os.path.exists(pcap) and os.path.getsize(pcap) >= 24
                    and b"listening on" in open(self.err, "rb").read()):
                time.sleep(0.3)
                return
            time.sleep(0.05)
        kill(self.proc)
        raise Fail("tcpdump did not become ready")

    def finish(self):
        stop(self.proc)
        err = open(self.err).read()
        stats = " / ".join(line.strip() for line in err.splitlines() if "packets" in line)
        if "0 packets dropped by kernel" not in err:
            raise Fail(f"tcpdump dropped packets: {stats}")
        return stats

    def command(self, ns):
        cmd = [c if c != self.pcap else os.path.basename(self.pcap) for c in self.cmd]
        return " ".join(in_ns(ns, cmd[:-1])) + f" '{cmd[-1]}'"


def endpoint(ns, role, scenario, host, port, logfile, extra=(), stdin=None):
    cmd = [sys.executable, PY_ENDPOINT, "--role", role, "--scenario", scenario, "--host", host,
           "--port", str(port), "--log", logfile, *extra]
    return subprocess.Popen(in_ns(ns, cmd), stdin=stdin, stdout=subprocess.PIPE)


def wait_all(procs, deadline):
    for proc, what in procs:
        try:
            rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise Fail(f"{what} did not finish in time")
        if rc != 0:
            raise Fail(f"{what} exited with {rc}")


# ------------------------------------------------------------------ truth


def capinfo(path):
    out = sh("capinfos", "-t", "-E", "-c", "-M", path)
    info = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    return {"file_type": info.get("File type"), "encapsulation": info.get("File encapsulation"),
            "packets": int(info.get("Number of packets", "0") or 0)}


def session_truth(name, port, slog, clogs):
    """Cross-check the endpoints' logs; return (client impl, server impl, truth connections)."""
    s_impl, servers = record.load_log(slog)
    clients, c_impl = [], None
    for clog in clogs:
        c_impl, cs = record.load_log(clog)
        clients += cs
    problems = []
    conns = []
    for i, (c, s) in enumerate(record.pair_up(name, clients, servers)):
        record.cross_check_pair(f"{name} connection {i}", c, s, problems, addr_ok=field_addr_ok)
        conns.append((c, s))
    if problems:
        raise Fail(f"{name}: endpoint cross-check failed:\n" + "\n".join(problems))
    cfg = {"mode": "pair", "findings": []}
    truth_conns = [record.truth_connection(cfg, c, s, c["frames"]["sent"], s["frames"]["sent"])
                   for c, s in conns]
    for t in truth_conns:
        # Every field scenario's client sends the first close frame (the server echoes it).
        t["closed_first_by"] = "client_to_server"
    return c_impl, s_impl, truth_conns, conns


def write_truth(out_dir, stem, pcap_src, ext, desc, port, impls, conns, capture, **extra):
    c_impl, s_impl = impls
    pcap_name = f"{stem}.{ext}"
    shutil.copyfile(pcap_src, os.path.join(out_dir, pcap_name))
    capture = dict(capture)
    capture.update(capinfo(os.path.join(out_dir, pcap_name)))
    truth = {"scenario": stem, "description": desc, "pcap": pcap_name,
             "client_impl": c_impl, "server_impl": s_impl, "server_port": port, "ip_version": 4,
             "capture": capture}
    truth.update(extra)
    truth["connections"] = conns
    with open(os.path.join(out_dir, f"{stem}.truth.json"), "w") as f:
        f.write(record.dump_truth(truth))
    size = os.path.getsize(os.path.join(out_dir, pcap_name))
    log(f"  wrote {pcap_name} ({capture['packets']} packets, {size} bytes, {capture['encapsulation']})")


def sll_hatypes(pcap):
    out = sh("tshark", "-r", pcap, "-T", "fields", "-e", "sll.hatype", "-e", "tcp.srcport")
    return sorted({int(line.split("\t")[0]) for line in out.splitlines() if line.split("\t")[0]})


# ------------------------------------------------------------------ runs
# Each run function gets (out_dir, wd) and returns nothing; it raises Fail.

FIELD_DESC = ("The client sends 10 messages and the server echoes each (text as 'echo: ' + text, binary "
              "reversed): text 20 B, binary 16 B, text 3000 B, binary 5000 B (both larger than the "
              "1500-byte MTU: several TCP segments), a 2250-byte text in 3 fragments (200/2000/50), a "
              "client ping (the server's library pongs), 'ping me' (the server pings, the client's "
              "library pongs, then the echo), a non-ASCII text, an empty binary and a 126-byte "
              "binary; then the client closes 1000 'field done' and the server echoes the close. "
              "No extensions.")


def run_sll(out_dir, wd, version):
    port = 19200 + version
    stem = f"sll{version}-any"
    dlt = "LINUX_SLL" if version == 1 else "LINUX_SLL2"
    make_namespaces()
    make_veth()
    slog = os.path.join(wd, "server.json")
    clogs = [os.path.join(wd, "client-lo.json"), os.path.join(wd, "client-veth.json")]
    td = server = None
    procs = []
    try:
        td = Tcpdump(NS_S, "any", os.path.join(wd, f"{stem}.pcap"), f"tcp port {port}", ("-y", dlt))
        deadline = time.monotonic() + RUN_TIMEOUT
        server = endpoint(NS_S, "server", "field", "0.0.0.0", port, slog, ("--conns", "2"))
        Lines(server).wait_for("READY", 10)
        # connection 0 over lo inside the server's namespace, connection 1 over the veth
        for ns, host, clog in ((NS_S, "127.0.0.1", clogs[0]), (NS_C, UNDER_S, clogs[1])):
            p = endpoint(ns, "client", "field", host, port, clog)
            procs.append(p)
            wait_all([(p, f"client to {host}")], deadline)
        wait_all([(server, "server")], deadline)
        time.sleep(0.5)
        stats = td.finish()
    finally:
        for p in procs + [server]:
            kill(p)
        if td:
            kill(td.proc)
    log(f"  tcpdump: {stats}")
    pcap = os.path.join(wd, f"{stem}.pcap")
    hatypes = sll_hatypes(pcap)
    if hatypes != [1, 772]:
        raise Fail(f"{stem}: SLL hardware types {hatypes}, expected [1, 772] (Ethernet, loopback)")
    c_impl, s_impl, conns, _ = session_truth(stem, port, slog, clogs)
    desc = (f"tcpdump -i any -y {dlt} in the server's network namespace. Two sequential connections "
            f"of the 'field' scenario to one server: #0 from the same namespace over lo "
            f"(127.0.0.1; cooked header hardware type 772, ARPHRD_LOOPBACK, all-zero address; lo's "
            f"MTU is 65536, so no message is split), #1 from the client's namespace over a veth pair "
            f"(10.77.0.1 -> 10.77.0.2; hardware type 1, ARPHRD_ETHER, 6-byte MAC; MTU 1500). "
            f"Each packet once: the 'any' device does not report lo's outgoing copies. " + FIELD_DESC)
    write_truth(out_dir, stem, pcap, "pcap", desc, port, (c_impl, s_impl), conns,
                {"link_type": dlt, "sll_hatypes": hatypes, "where": "server namespace, interface any",
                 "commands": [td.command(NS_S)]})


def run_tunnel(out_dir, wd, kind):
    port = 19203 if kind == "vxlan" else 19204
    stem = "vxlan" if kind == "vxlan" else "gre-userspace"
    make_namespaces()
    make_veth()
    tunnels = []
    if kind == "vxlan":
        make_vxlan()
        server_addr, bpf = "10.78.0.2", "udp port 4789"
    else:
        for ns, addr in ((NS_C, "10.79.0.1"), (NS_S, "10.79.0.2")):
            make_tun(ns, "wsf-gre", addr, 1476)
        for ns, local, peer in ((NS_C, UNDER_C, UNDER_S), (NS_S, UNDER_S, UNDER_C)):
            stats = os.path.join(wd, f"gre-{ns}.json")
            p = subprocess.Popen(in_ns(ns, [sys.executable, GRE_TUNNEL, "--tun", "wsf-gre", "--local", local,
                                            "--peer", peer, "--stats", stats, "--duration", str(RUN_TIMEOUT + 10)]),
                                 stdout=subprocess.PIPE)
            tunnels.append((p, stats))
            Lines(p).wait_for("READY", 10)
        server_addr, bpf = "10.79.0.2", "ip proto 47"
    slog, clog = os.path.join(wd, "server.json"), os.path.join(wd, "client.json")
    td = server = client = None
    try:
        td = Tcpdump(NS_S, VETH_S, os.path.join(wd, f"{stem}.pcap"), bpf)
        deadline = time.monotonic() + RUN_TIMEOUT
        server = endpoint(NS_S, "server", "field", server_addr, port, slog)
        Lines(server).wait_for("READY", 10)
        client = endpoint(NS_C, "client", "field", server_addr, port, clog)
        wait_all([(client, "client"), (server, "server")], deadline)
        time.sleep(0.5)
        stats = td.finish()
        for p, _ in tunnels:
            stop(p)
    finally:
        for p in [client, server] + [p for p, _ in tunnels]:
            kill(p)
        if td:
            kill(td.proc)
    log(f"  tcpdump: {stats}")
    c_impl, s_impl, conns, _ = session_truth(stem, port, slog, [clog])
    pcap = os.path.join(wd, f"{stem}.pcap")
    if kind == "vxlan":
        desc = ("Kernel VXLAN (VNI 4242, UDP port 4789) between two network namespaces over a veth "
                "pair (underlay 10.77.0.1 <-> 10.77.0.2, MTU 1500; overlay 10.78.0.1 <-> 10.78.0.2, "
                "MTU 1450), captured on the server's underlay veth: Ethernet / IPv4 / UDP 4789 / "
                "VXLAN / Ethernet / IPv4 / TCP. The inner ARP exchange for 10.78.0.2 is in the "
                "capture too (VXLAN packets that carry no IP). " + FIELD_DESC)
        capture = {"link_type": "EN10MB", "encapsulation_stack": "eth/ipv4/udp:4789/vxlan/eth/ipv4/tcp",
                   "where": "server namespace, underlay veth wsf-s0", "commands": [td.command(NS_S)]}
        extra = {}
    else:
        desc = ("GRE (RFC 2784: 4-byte header, no key, checksum or sequence number, protocol type "
                "0x0800) between two network namespaces over a veth pair (underlay 10.77.0.1 <-> "
                "10.77.0.2, MTU 1500; overlay 10.79.0.1 <-> 10.79.0.2 on TUN devices, MTU 1476). "
                "The encapsulation is done in userspace by gre_tunnel.py, because this kernel has no "
                "GRE driver: the packets on the wire are ordinary IPv4 protocol 47 packets, built by "
                "the kernel's raw-socket path. Captured on the server's underlay veth: Ethernet / "
                "IPv4 (proto 47) / GRE / IPv4 / TCP. " + FIELD_DESC)
        capture = {"link_type": "EN10MB", "encapsulation_stack": "eth/ipv4/gre/ipv4/tcp",
                   "where": "server namespace, underlay veth wsf-s0", "commands": [td.command(NS_S)]}
        extra = {"gre_tunnel": {ns: json.load(open(st)) for (p, st), ns in zip(tunnels, (NS_C, NS_S))}}
    write_truth(out_dir, stem, pcap, "pcap", desc, port, (c_impl, s_impl), conns, capture, **extra)


def run_merged(out_dir, wd):
    port = 19205
    make_namespaces()
    make_veth()
    slog, clog = os.path.join(wd, "server.json"), os.path.join(wd, "client.json")
    c_pcap, s_pcap = os.path.join(wd, "client-out.pcap"), os.path.join(wd, "server-out.pcap")
    tdc = tds = server = client = None
    try:
        tdc = Tcpdump(NS_C, VETH_C, c_pcap, f"tcp port {port}", ("-Q", "out"))
        tds = Tcpdump(NS_S, VETH_S, s_pcap, f"tcp port {port}", ("-Q", "out"))
        deadline = time.monotonic() + RUN_TIMEOUT
        server = endpoint(NS_S, "server", "field", UNDER_S, port, slog)
        Lines(server).wait_for("READY", 10)
        client = endpoint(NS_C, "client", "field", UNDER_S, port, clog, ("--pace", str(PACE_MS)))
        wait_all([(client, "client"), (server, "server")], deadline)
        time.sleep(0.5)
        stats = tdc.finish() + " | " + tds.finish()
    finally:
        for p in (client, server):
            kill(p)
        for t in (tdc, tds):
            if t:
                kill(t.proc)
    log(f"  tcpdump: {stats}")
    c_impl, s_impl, conns, _ = session_truth("merged", port, slog, [clog])
    for sign, stem, fmt in ((-1, "merged-skew-minus", "pcapng"), (1, "merged-skew-plus", "pcap")):
        skew = sign * SKEW_MS / 1000.0
        shifted = os.path.join(wd, f"server-out{sign * SKEW_MS:+d}ms.pcap")
        merged = os.path.join(wd, f"{stem}.{fmt}")
        edit = ["editcap", "-F", "pcap", "-t", f"{skew:+.3f}", s_pcap, shifted]
        merge = ["mergecap", "-F", fmt, "-w", merged, c_pcap, shifted]
        sh(*edit)
        sh(*merge)
        names = {c_pcap: "client-out.pcap", s_pcap: "server-out.pcap", shifted: os.path.basename(shifted),
                 merged: os.path.basename(merged)}
        cmds = [tdc.command(NS_C), tds.command(NS_S),
                " ".join(names.get(x, x) for x in edit), " ".join(names.get(x, x) for x in merge)]
        early = "before" if sign < 0 else "after"
        desc = (f"The two directions captured separately, as a SPAN/TAP merge: tcpdump -Q out on the "
                f"client's veth end (client -> server packets) and on the server's (server -> client), "
                f"the server's file shifted by {skew * 1000:+.0f} ms with editcap -t, then merged with "
                f"mergecap ({fmt}; merged by timestamp). The client waits {PACE_MS} ms before each "
                f"message, so the skew puts every server packet {SKEW_MS} ms {early} its true place: "
                + ("the SYN-ACK comes before the SYN, the 101 response before the upgrade request, "
                   "and each echo and ACK before the client data it answers. "
                   if sign < 0 else
                   "the client's next message comes before the echo it waited for, and the client's "
                   "ACKs come before the data they acknowledge. ")
                + "The truth is the endpoints', unchanged by the merge: the order across directions "
                "must come from sequence and acknowledgement numbers, not from timestamps. "
                "veth 10.77.0.1 <-> 10.77.0.2, MTU 1500. " + FIELD_DESC)
        capture = {"link_type": "EN10MB", "where": "client namespace wsf-c0 (out) + server namespace "
                   "wsf-s0 (out), merged", "merge": {"shifted": "server_to_client", "skew_ms": sign * SKEW_MS,
                                                     "client_pace_ms": PACE_MS},
                   "commands": cmds}
        # The merge shows: ACKs (and, at -30 ms, the 101) captured before what they answer.
        merged_conns = [dict(c, expected_findings=["capture_clock_skew"]) for c in conns]
        write_truth(out_dir, stem, merged, fmt, desc, port, (c_impl, s_impl), merged_conns, capture)


def run_impaired(out_dir, wd):
    port = 19206
    make_namespaces()
    make_tun(NS_C, "wsf-imp", "10.80.0.1", 1500)
    make_tun(NS_S, "wsf-imp", "10.80.0.2", 1500)
    slog, clog = os.path.join(wd, "server.json"), os.path.join(wd, "client.json")
    istats = os.path.join(wd, "impair.json")
    s_pcap, c_pcap = os.path.join(wd, "impaired-server.pcap"), os.path.join(wd, "impaired-client.pcap")
    imp = tds = tdc = server = client = None
    try:
        imp = subprocess.Popen([sys.executable, IMPAIR, "--ns-a", NS_C, "--tun-a", "wsf-imp", "--ns-b", NS_S,
                                "--tun-b", "wsf-imp", "--seed", str(IMPAIR_SEED), "--stats", istats,
                                "--duration", str(RUN_TIMEOUT + 10)], stdout=subprocess.PIPE)
        Lines(imp).wait_for("READY", 10)
        tds = Tcpdump(NS_S, "wsf-imp", s_pcap, f"tcp port {port}")
        tdc = Tcpdump(NS_C, "wsf-imp", c_pcap, f"tcp port {port}")
        deadline = time.monotonic() + RUN_TIMEOUT
        server = endpoint(NS_S, "server", "field", "10.80.0.2", port, slog)
        Lines(server).wait_for("READY", 10)
        client = endpoint(NS_C, "client", "field", "10.80.0.2", port, clog)
        wait_all([(client, "client"), (server, "server")], deadline)
        time.sleep(0.5)
        stats = tds.finish() + " | " + tdc.finish()
        stop(imp)
    finally:
        for p in (client, server, imp):
            kill(p)
        for t in (tds, tdc):
            if t:
                kill(t.proc)
    log(f"  tcpdump: {stats}")
    c_impl, s_impl, conns, _ = session_truth("impaired", port, slog, [clog])
    st = json.load(open(istats))
    cnt = st["counters"]
    if not (cnt["a_to_b"]["dropped"] and cnt["b_to_a"]["dropped"] and cnt["a_to_b"]["held"]
            and cnt["b_to_a"]["held"]):
        raise Fail(f"impaired: the impairment did not act in both directions: {cnt}")
    st["directions"] = {"a_to_b": "client_to_server", "b_to_a": "server_to_client"}
    summary = (f"client->server: {cnt['a_to_b']['dropped']} dropped, {cnt['a_to_b']['held']} held back; "
               f"server->client: {cnt['b_to_a']['dropped']} dropped, {cnt['b_to_a']['held']} held back")
    imp_cmd = (f"impair.py --ns-a {NS_C} --tun-a wsf-imp --ns-b {NS_S} --tun-b wsf-imp --seed {IMPAIR_SEED} "
               f"(delay {st['delay_ms']} ms, hold until {st['hold_after_packets']} later packets passed or "
               f"{st['hold_timeout_ms']} ms)")
    for stem, pcap, td, ns, side in (("impaired-server", s_pcap, tds, NS_S, "server"),
                                     ("impaired-client", c_pcap, tdc, NS_C, "client")):
        other = "client" if side == "server" else "server"
        desc = ("netem is unavailable on this kernel, so the impairment is done in userspace: "
                "impair.py copies IPv4 packets between a TUN device in the client's namespace "
                "(10.80.0.1) and one in the server's (10.80.0.2), delaying every packet by "
                f"{st['delay_ms']} ms, holding some data segments back until later ones have passed "
                "(reordering) and dropping a few (seeded plan, each sequence number dropped at most "
                f"once); this run: {summary}. The TCP stacks retransmit (fast retransmit, RTO or "
                f"tail-loss probe) and reassemble. Captured at the {side}'s TUN (raw IP, no link "
                f"header): the {side}'s own packets as sent, the {other}'s packets after the "
                "impairment (reordered, and where dropped only their retransmission). Every byte "
                "of both streams is in the capture (retransmissions included), so the reassembled "
                "streams are exact. MTU 1500. " + FIELD_DESC)
        capture = {"link_type": "RAW", "where": f"{side} namespace, TUN wsf-imp",
                   "commands": [imp_cmd, td.command(ns)]}
        write_truth(out_dir, stem, pcap, "pcap", desc, port, (c_impl, s_impl), conns, capture, impairment=st)


def run_late(out_dir, wd):
    port = 19207
    stem = "late-start"
    make_namespaces()
    make_veth()
    slog, clog = os.path.join(wd, "server.json"), os.path.join(wd, "client.json")
    td = server = client = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        server = endpoint(NS_S, "server", "field-late", UNDER_S, port, slog, stdin=subprocess.PIPE)
        lines = Lines(server)
        lines.wait_for("READY", 10)
        client = endpoint(NS_C, "client", "field-late", UNDER_S, port, clog)
        lines.wait_for("PARTIAL", 10)
        td = Tcpdump(NS_S, VETH_S, os.path.join(wd, f"{stem}.pcap"), f"tcp port {port}")
        server.stdin.write(b"GO\n")
        server.stdin.flush()
        wait_all([(client, "client"), (server, "server")], deadline)
        time.sleep(0.5)
        stats = td.finish()
    finally:
        for p in (client, server):
            kill(p)
        if td:
            kill(td.proc)
    log(f"  tcpdump: {stats}")
    c_impl, s_impl, conns, pairs = session_truth(stem, port, slog, [clog])
    (c, s), conn = pairs[0], conns[0]
    ls = s["late_start"]
    if ls["sent_after"]["bytes"] + ls["sent_offset"] != s["tcp"]["bytes"]:
        raise Fail(f"{stem}: late_start offsets inconsistent: {ls}")
    cut_msg = s["sent"][ls["sent_messages_before"]]
    cut_bytes_before = ls["sent_offset"] - ls["cut_frame_offset"]
    header = ls["cut_frame_bytes"] - cut_msg["length"]  # unmasked server frame: header only
    tail = py_endpoint.det_text(cut_msg["length"]).encode()[cut_bytes_before - header:]
    if hashlib.sha256(py_endpoint.det_text(cut_msg["length"]).encode()).hexdigest() != cut_msg["sha256"]:
        raise Fail(f"{stem}: the cut message is not det_text({cut_msg['length']})")
    # no byte of the captured tail may start a valid frame header (RSV2/RSV3 or a reserved opcode)
    if any(not (b & 0x30 or (b & 0x0F) in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)) for b in tail):
        raise Fail(f"{stem}: the captured tail of the cut frame could hold a frame header")
    before_c = [m["type"] + (f" {m['length']} B" if m["length"] > 100 else "")
                for m in c["sent"][:ls["received_messages_before"]]]
    before_s = [m["type"] + (f" {m['length']} B" if m["length"] > 100 else "")
                for m in s["sent"][:ls["sent_messages_before"]]]
    conn["handshake"] = {"seen": False, "outcome": "upgraded", "accept_valid": None}
    # handshake_not_seen: no handshake in the capture; frame_sync_lost: the captured tail of the cut
    # frame (bytes_in_capture bytes) cannot be decoded and must be skipped, which must be said
    conn["expected_findings"] = ["handshake_not_seen", "frame_sync_lost"]
    conn["client_to_server"]["captured"] = {
        "from_offset": ls["received_offset"], "tcp_bytes": ls["received_after"]["bytes"],
        "tcp_sha256": ls["received_after"]["sha256"],
        "messages_before": [dict(direction="client_to_server", **m)
                            for m in c["sent"][:ls["received_messages_before"]]]}
    conn["server_to_client"]["captured"] = {
        "from_offset": ls["sent_offset"], "tcp_bytes": ls["sent_after"]["bytes"],
        "tcp_sha256": ls["sent_after"]["sha256"],
        "messages_before": [dict(direction="server_to_client", **m)
                            for m in s["sent"][:ls["sent_messages_before"]]],
        "cut_message": dict(direction="server_to_client", **cut_msg, frame_offset=ls["cut_frame_offset"],
                            frame_bytes=ls["cut_frame_bytes"], bytes_before_capture=cut_bytes_before,
                            bytes_in_capture=ls["cut_frame_bytes"] - cut_bytes_before)}
    conn["messages"] = ([dict(direction="client_to_server", **m) for m in c["sent"][ls["received_messages_before"]:]]
                        + [dict(direction="server_to_client", **m)
                           for m in s["sent"][ls["sent_messages_before"] + 1:]])
    conn["frames"] = {"client_to_server": c["frames"]["sent"][ls["received_frames_before"]:],
                      "server_to_client": s["frames"]["sent"][ls["sent_frames_before"] + 1:]}
    # key order as in the other truth files: messages and frames last
    conn = {k: conn[k] for k in conn if k not in ("messages", "frames")} | {
        "messages": conn["messages"], "frames": conn["frames"]}
    desc = (f"tcpdump started in the middle of a session, in the middle of a frame. Before the "
            f"capture: the handshake, the client's {', '.join(before_c)} (the last one is the request "
            f"'send the long one') and the server's {', '.join(before_s)}. Then the server writes "
            f"the first {cut_bytes_before} of the "
            f"{ls['cut_frame_bytes']} bytes of that frame (a {cut_msg['length']}-byte text), waits until "
            f"the recorder has started tcpdump, then writes the rest. The capture therefore starts, in "
            f"the server->client direction, {cut_bytes_before - (ls['cut_frame_bytes'] - cut_msg['length'])} "
            f"bytes into that message's payload (ASCII text in which no byte can start a valid frame "
            f"header: every byte has RSV2 or RSV3 set or a reserved opcode) and, in the client->server "
            f"direction, at a frame boundary. After it: 6 client messages (text, 5000-byte binary, a "
            f"3-fragment text, a ping, 'ping me', non-ASCII text) with their echoes, pings and pongs, "
            f"and the close 1000 'late done'. The cut message is not in `messages`: its header is not "
            f"in the capture, so nothing tells its type or length; a correct analyzer skips its "
            f"{ls['cut_frame_bytes'] - cut_bytes_before} captured bytes, reports no message for them, "
            f"and says so. veth 10.77.0.1 <-> 10.77.0.2, MTU 1500, captured on the server's veth end. "
            f"Expected findings: handshake_not_seen (no handshake) and frame_sync_lost (the "
            f"{ls['cut_frame_bytes'] - cut_bytes_before} bytes skipped in the server->client direction "
            f"before its first frame header).")
    capture = {"link_type": "EN10MB", "where": "server namespace, veth wsf-s0, started after PARTIAL",
               "commands": [td.command(NS_S)]}
    write_truth(out_dir, stem, os.path.join(wd, f"{stem}.pcap"), "pcap", desc, port, (c_impl, s_impl),
                [conn], capture)


RUNS = {
    "sll1": lambda o, w: run_sll(o, w, 1),
    "sll2": lambda o, w: run_sll(o, w, 2),
    "vxlan": lambda o, w: run_tunnel(o, w, "vxlan"),
    "gre": lambda o, w: run_tunnel(o, w, "gre"),
    "merged": run_merged,
    "impaired": run_impaired,
    "late": run_late,
}


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("runs", nargs="*")
    args = ap.parse_args()
    names = args.runs or list(RUNS)
    for n in names:
        if n not in RUNS:
            sys.exit(f"unknown run {n}; known: {', '.join(RUNS)}")
    os.makedirs(args.out, exist_ok=True)
    os.chmod(args.work, 0o755)
    signal.signal(signal.SIGTERM, _on_sigterm)
    failed = []
    try:
        for n in names:
            wd = os.path.join(args.work, n)
            os.makedirs(wd, exist_ok=True)
            os.chmod(wd, 0o1777)  # tcpdump writes as user tcpdump
            t0 = time.monotonic()
            log(f"{n} ...")
            try:
                RUNS[n](args.out, wd)
                log(f"{n}: ok in {time.monotonic() - t0:.1f} s")
            except (Fail, subprocess.TimeoutExpired, OSError, KeyError, json.JSONDecodeError) as e:
                log(f"FAILED {n}: {e}")
                failed.append(n)
            finally:
                teardown()
    finally:
        teardown()
    if failed:
        log(f"failed runs: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
