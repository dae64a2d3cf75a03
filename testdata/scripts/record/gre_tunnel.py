#!/usr/bin/env python3
"""One end of a userspace GRE tunnel (RFC 2784, no key, no checksum, no
sequence number), for field.py: this machine's kernel has no GRE driver.

Run it inside a network namespace (`ip netns exec NS gre_tunnel.py ...`).  It
attaches to the TUN device --tun (created beforehand with `ip tuntap add ...
mode tun`, so its addresses and routes are configured by the caller), and
  * every IPv4 packet the kernel routes into the TUN is sent to --peer as
    GRE: a raw IPv4 socket of protocol 47 whose payload is the 4-byte GRE
    header (flags/version 0, protocol type 0x0800) followed by the inner
    packet; the kernel adds the outer IPv4 header;
  * every GRE packet received from --peer with that header is decapsulated
    and its inner packet written into the TUN.
Anything else (other sources, GRE flags or protocol types, non-IPv4 inner
packets) is counted and dropped.

Prints READY once attached, exits on SIGINT/SIGTERM, after --duration
seconds, or after --max-packets packets, and writes its counters as JSON to
--stats.  It runs only inside a network namespace named wsf-* (made by
field.py) and only with 10.0.0.0/8 addresses.

Usage: gre_tunnel.py --tun NAME --local A.B.C.D --peer A.B.C.D --stats FILE
                     [--duration S] [--max-packets N]
"""

import argparse
import fcntl
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_GRE = 47
GRE_HEADER = struct.pack("!HH", 0, 0x0800)  # C=0 K=0 S=0, version 0, IPv4


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def in_test_netns():
    """True inside a network namespace that field.py created (named wsf-*)."""
    me = os.stat("/proc/self/ns/net")
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith("wsf-"):
            st = os.stat(os.path.join("/run/netns", name))
            if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
                return True
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tun", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--max-packets", type=int, default=20000)
    args = ap.parse_args()
    for a in (args.local, args.peer):
        if ipaddress.ip_address(a) not in ipaddress.ip_network("10.0.0.0/8"):
            sys.exit(f"refusing address {a}: only 10.0.0.0/8 inside a test namespace")
    if not in_test_netns():
        sys.exit("refusing to run outside a wsf-* test network namespace")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: stop.append("SIGINT"))

    tun = open_tun(args.tun)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE)
    raw.bind((args.local, 0))
    raw.setblocking(False)
    c = {"encapsulated": 0, "decapsulated": 0, "bytes_encapsulated": 0, "bytes_decapsulated": 0,
         "dropped_not_ipv4_inner": 0, "dropped_foreign": 0, "dropped_bad_gre": 0}
    print("READY", flush=True)
    deadline = time.monotonic() + args.duration
    n = 0
    while not stop and n < args.max_packets and time.monotonic() < deadline:
        try:
            r, _, _ = select.select([tun, raw], [], [], 0.1)
        except InterruptedError:
            continue
        if tun in r:
            pkt = os.read(tun, 65536)
            n += 1
            if not pkt or pkt[0] >> 4 != 4:
                c["dropped_not_ipv4_inner"] += 1
            else:
                raw.sendto(GRE_HEADER + pkt, (args.peer, 0))
                c["encapsulated"] += 1
                c["bytes_encapsulated"] += len(pkt)
        if raw in r:
            pkt, (src, _) = raw.recvfrom(65536)
            n += 1
            ihl = (pkt[0] & 0x0F) * 4
            gre = pkt[ihl:ihl + 4]
            if src != args.peer:
                c["dropped_foreign"] += 1
            elif gre != GRE_HEADER:
                c["dropped_bad_gre"] += 1
            else:
                inner = pkt[ihl + 4:]
                os.write(tun, inner)
                c["decapsulated"] += 1
                c["bytes_decapsulated"] += len(inner)
    c["stopped_by"] = stop[0] if stop else ("max-packets" if n >= args.max_packets else "duration")
    raw.close()
    os.close(tun)
    with open(args.stats, "w") as f:
        json.dump(c, f)


if __name__ == "__main__":
    main()
