#!/usr/bin/env python3
"""Userspace impairment path for field.py: this machine's kernel has no netem
qdisc, so a process in the middle delays, reorders and drops packets.

Two network namespaces (--ns-a: the client's, --ns-b: the server's) each hold
a TUN device (--tun-a, --tun-b; created beforehand with `ip tuntap add ...
mode tun` and given addresses in one /24, so each kernel routes the other
side's address into its TUN).  This process attaches to both devices (it
enters each namespace with setns(2) to do so) and copies every IPv4 packet
from one TUN to the other, through a deterministic impairment:

  * delay: every packet is released --delay-ms after it was read;
  * drop: TCP segments that carry payload are numbered per direction
    (1, 2, ...); the ones whose number is in that direction's drop plan are
    not forwarded.  A segment whose sequence number was dropped once is never
    dropped again, so every loss costs one retransmission;
  * hold (reordering): a data segment whose number is in the hold plan is
    kept back until --hold-after later packets of the same direction have
    been released (or --hold-ms passed), then released after them.
SYNs, FINs, RSTs and pure ACKs are only delayed.  The plans are drawn from
random.Random(--seed) before any packet is seen: --drops and --holds data
segment numbers per direction out of 3..--plan-range (segment 1 is the HTTP
upgrade request or response, left alone so that a loss does not cost a SYN-
or request-level timeout).

Prints READY once both TUNs are attached, stops on SIGINT/SIGTERM, after
--duration seconds or --max-packets packets, and writes to --stats a JSON
object with the plans, counters per direction and the list of actions taken
(direction, segment number, relative TCP sequence number, payload length,
action).  Only 10.0.0.0/8 addresses, only namespaces named wsf-*.

Usage: impair.py --ns-a NS --tun-a DEV --ns-b NS --tun-b DEV --stats FILE [options]
"""

import argparse
import ctypes
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def setns(name):
    if not name.startswith("wsf-"):
        raise SystemExit(f"refusing namespace {name!r}: only wsf-* test namespaces")
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join("/run/netns", name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({name}): {os.strerror(e)}")
    finally:
        os.close(fd)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def tcp_info(pkt):
    """(src, dst, sport, dport, seq, flags, payload length) of an IPv4/TCP packet, else None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    tcp = pkt[ihl:total]
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    off = (tcp[12] >> 4) * 4
    flags = tcp[13]
    return pkt[12:16], pkt[16:20], sport, dport, seq, flags, len(tcp) - off


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns-a", required=True)
    ap.add_argument("--tun-a", required=True)
    ap.add_argument("--ns-b", required=True)
    ap.add_argument("--tun-b", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--seed", type=int, default=6455)
    ap.add_argument("--delay-ms", type=float, default=2.0)
    ap.add_argument("--drops", type=int, default=2)
    ap.add_argument("--holds", type=int, default=3)
    ap.add_argument("--plan-range", type=int, default=12)
    ap.add_argument("--hold-after", type=int, default=2)
    ap.add_argument("--hold-ms", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--max-packets", type=int, default=20000)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    plans = {}
    for d in ("a_to_b", "b_to_a"):
        picks = rng.sample(range(3, args.plan_range + 1), args.drops + args.holds)
        plans[d] = {"drop": sorted(picks[:args.drops]), "hold": sorted(picks[args.drops:])}

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: stop.append("SIGINT"))

    setns(args.ns_a)
    fd_a = open_tun(args.tun_a)
    setns(args.ns_b)
    fd_b = open_tun(args.tun_b)
    out_fd = {"a_to_b": fd_b, "b_to_a": fd_a}
    dirs = {fd_a: "a_to_b", fd_b: "b_to_a"}
    counters = {d: {"packets": 0, "data_segments": 0, "forwarded": 0, "dropped": 0, "held": 0,
                    "released_late": 0, "not_ipv4_tcp": 0} for d in out_fd}
    isn = {}  # (src, sport) -> initial sequence number, for relative numbers in the log
    dropped_seqs = set()
    actions = []
    heap = []  # (release time, order, direction, packet)
    held = {d: [] for d in out_fd}  # [packets still to pass, deadline, direction, packet, entry]
    order = 0
    delay = args.delay_ms / 1000.0
    print("READY", flush=True)
    deadline = time.monotonic() + args.duration
    n = 0

    def release(d, pkt):
        os.write(out_fd[d], pkt)
        counters[d]["forwarded"] += 1
        # each released packet lets the held ones of that direction move on
        for h in list(held[d]):
            h[0] -= 1
            if h[0] <= 0:
                held[d].remove(h)
                os.write(out_fd[d], h[3])
                counters[d]["forwarded"] += 1
                counters[d]["released_late"] += 1
                h[4]["released_after_packets"] = args.hold_after

    while not stop and n < args.max_packets and time.monotonic() < deadline:
        now = time.monotonic()
        wait = 0.05
        if heap:
            wait = min(wait, max(0.0, heap[0][0] - now))
        for hs in held.values():
            for h in hs:
                wait = min(wait, max(0.0, h[1] - now))
        try:
            r, _, _ = select.select([fd_a, fd_b], [], [], wait)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in r:
            pkt = os.read(fd, 65536)
            n += 1
            d = dirs[fd]
            c = counters[d]
            c["packets"] += 1
            info = tcp_info(pkt)
            if info is None:
                c["not_ipv4_tcp"] += 1
                heapq.heappush(heap, (now + delay, order, d, pkt))
                order += 1
                continue
            src, dst, sport, dport, seq, flags, plen = info
            if flags & 0x02:  # SYN
                isn[(src, sport)] = seq
            action = "forward"
            if plen > 0 and not flags & 0x07:  # data, no SYN/FIN/RST
                c["data_segments"] += 1
                k = c["data_segments"]
                rel = (seq - isn.get((src, sport), seq)) % (1 << 32)
                entry = {"direction": d, "segment": k, "rel_seq": rel, "len": plen}
                if k in plans[d]["drop"] and (d, rel) not in dropped_seqs:
                    dropped_seqs.add((d, rel))
                    action = "drop"
                elif k in plans[d]["hold"]:
                    action = "hold"
                if action != "forward":
                    entry["action"] = action
                    actions.append(entry)
            if action == "drop":
                c["dropped"] += 1
            elif action == "hold":
                c["held"] += 1
                held[d].append([args.hold_after, now + delay + args.hold_ms / 1000.0, d, pkt, entry])
            else:
                heapq.heappush(heap, (now + delay, order, d, pkt))
                order += 1
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, d, pkt = heapq.heappop(heap)
            release(d, pkt)
        for d, hs in held.items():
            for h in list(hs):
                if h[1] <= now:
                    hs.remove(h)
                    os.write(out_fd[d], h[3])
                    counters[d]["forwarded"] += 1
                    counters[d]["released_late"] += 1
                    h[4]["released_after_packets"] = args.hold_after - h[0]
                    h[4]["released_by_timeout"] = True
    # flush what is still queued, in order
    for _, _, d, pkt in sorted(heap):
        try:
            os.write(out_fd[d], pkt)
        except OSError:
            pass
    os.close(fd_a)
    os.close(fd_b)
    stats = {"seed": args.seed, "delay_ms": args.delay_ms, "hold_after_packets": args.hold_after,
             "hold_timeout_ms": args.hold_ms, "plans": plans, "counters": counters, "actions": actions,
             "stopped_by": stop[0] if stop else ("max-packets" if n >= args.max_packets else "duration")}
    with open(args.stats, "w") as f:
        json.dump(stats, f, indent=1)


if __name__ == "__main__":
    main()
