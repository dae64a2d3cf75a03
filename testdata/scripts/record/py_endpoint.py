#!/usr/bin/env python3
"""One WebSocket endpoint (client or server) built on the sans-I/O API of the
`websockets` package (websockets.client.ClientProtocol /
websockets.server.ServerProtocol), driven over a blocking socket owned here.

Ground truth logged to --log (JSON):
  * tcp: byte count and sha256 of *every byte passed to sock.sendall()*, in
    order.  Nothing else ever writes to the socket, so this is exactly the TCP
    payload stream this endpoint sent.
  * sent: every WebSocket frame the protocol object serialized (data messages,
    pings, automatic pongs, close frames incl. the automatic close echo), taken
    by overriding Protocol.send_frame(), i.e. the sender's view before
    permessage-deflate; `compressed` is the RSV1 bit of the serialized frame.
  * received: every message / control frame the protocol parsed (after
    decompression and defragmentation).

Only loopback addresses are accepted.  Every wait is bounded by a deadline.

Usage: py_endpoint.py --role client|server --scenario NAME --host H --port P --log FILE
"""

import argparse
import hashlib
import json
import socket
import sys
import time

import websockets
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
)
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

IMPL = f"python-websockets {websockets.__version__} (sans-io, Python {sys.version.split()[0]})"
LOOPBACK = {"127.0.0.1", "::1"}
OVERALL_TIMEOUT = 15.0  # seconds; the driver kills us at 20 s anyway

TYPE_NAMES = {
    Opcode.TEXT: "text",
    Opcode.BINARY: "binary",
    Opcode.PING: "ping",
    Opcode.PONG: "pong",
    Opcode.CLOSE: "close",
}


def det_bytes(seed: str, n: int) -> bytes:
    """Deterministic pseudo-random bytes (sha256 in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def det_text(n: int) -> str:
    """Deterministic ASCII text of exactly n bytes."""
    base = "The quick brown fox jumps over the lazy dog {:06d}. "
    out = []
    size = 0
    i = 0
    while size < n:
        s = base.format(i)
        out.append(s)
        size += len(s)
        i += 1
    return "".join(out)[:n]


def describe(opcode, data: bytes, compressed=None) -> dict:
    data = bytes(data)
    d = {"type": TYPE_NAMES[opcode], "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if opcode == Opcode.TEXT and len(data) <= 200:
        d["payload_text"] = data.decode("utf-8")
    if opcode == Opcode.CLOSE:
        close = Close.parse(data)
        d["close_code"] = int(close.code)
        d["close_reason"] = close.reason
    if compressed is not None:
        d["compressed"] = compressed
    return d


def fmt_addr(sockaddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def logging_protocol(cls):
    class Logging(cls):
        sent_log: list

        def send_frame(self, frame: Frame) -> None:
            n = len(self.writes)
            super().send_frame(frame)
            assert len(self.writes) == n + 1
            wire = self.writes[-1]
            # We never fragment; make sure the library didn't either.
            assert frame.fin and frame.opcode != Opcode.CONT, frame
            rsv1 = bool(wire[0] & 0x40)
            self.sent_log.append(describe(frame.opcode, frame.data, rsv1))

    Logging.__name__ = "Logging" + cls.__name__
    return Logging


class Endpoint:
    def __init__(self, sock: socket.socket, proto, role: str, deadline: float):
        self.sock = sock
        self.proto = proto
        self.proto.sent_log = []
        self.role = role
        self.deadline = deadline
        self.tcp_hash = hashlib.sha256()
        self.tcp_bytes = 0
        self.tcp_writes = 0
        self.eof_sent = False
        self.eof_received = False
        self.received = []  # log entries
        self.inbox = []  # (opcode, bytes) of received data messages / pongs, for app logic
        self.handshake = None  # Request (server) / Response (client)
        self.extensions_header = None
        self._frag = None

    # -- I/O -------------------------------------------------------------
    def flush(self):
        for chunk in self.proto.data_to_send():
            if chunk:
                self.sock.sendall(chunk)
                self.tcp_hash.update(chunk)
                self.tcp_bytes += len(chunk)
                self.tcp_writes += 1
            else:
                if not self.eof_sent:
                    self.sock.shutdown(socket.SHUT_WR)
                    self.eof_sent = True

    def remaining(self):
        r = self.deadline - time.monotonic()
        if r <= 0:
            raise TimeoutError(f"{self.role}: deadline exceeded")
        return r

    def pump(self):
        """Read once from the socket (bounded by the deadline) and process."""
        self.sock.settimeout(self.remaining())
        data = self.sock.recv(262144)
        if data:
            self.proto.receive_data(data)
        else:
            self.eof_received = True
            self.proto.receive_eof()
        self.flush()
        for ev in self.proto.events_received():
            self.on_event(ev)

    def on_event(self, ev):
        if isinstance(ev, (Request, Response)):
            self.handshake = ev
            return
        assert isinstance(ev, Frame), ev
        op = ev.opcode
        if op in (Opcode.TEXT, Opcode.BINARY):
            if ev.fin:
                self._deliver(op, ev.data)
            else:
                self._frag = (op, bytearray(ev.data))
        elif op == Opcode.CONT:
            assert self._frag is not None
            self._frag[1].extend(ev.data)
            if ev.fin:
                op0, buf = self._frag
                self._frag = None
                self._deliver(op0, bytes(buf))
        else:
            self.received.append(describe(op, ev.data))
            if op == Opcode.PONG:
                self.inbox.append((op, bytes(ev.data)))

    def _deliver(self, op, data):
        self.received.append(describe(op, data))
        self.inbox.append((op, bytes(data)))

    # -- helpers used by scenarios -------------------------------------------
    def wait_until(self, pred, what):
        n = 0
        while not pred():
            if self.proto.state is State.CLOSED or self.eof_received:
                raise RuntimeError(f"{self.role}: connection closed while waiting for {what}")
            self.pump()
            n += 1
            if n > 100000:
                raise RuntimeError("too many iterations")

    def next_message(self):
        self.wait_until(lambda: self.inbox, "a message")
        return self.inbox.pop(0)

    def send_text(self, s: str):
        self.proto.send_text(s.encode("utf-8"))
        self.flush()

    def send_binary(self, b: bytes):
        self.proto.send_binary(b)
        self.flush()

    def ping(self, b: bytes):
        self.proto.send_ping(b)
        self.flush()

    def close(self, code, reason):
        self.proto.send_close(code, reason)
        self.flush()

    def run_until_closed(self):
        """Finish the closing handshake: process input until the peer's EOF."""
        n = 0
        while not self.eof_received:
            self.pump()
            n += 1
            if n > 100000:
                raise RuntimeError("too many iterations")
        self.flush()
        if not self.eof_sent:
            # websockets' state machine always asks for EOF by now; never
            # leave the socket half-open anyway.
            self.sock.shutdown(socket.SHUT_WR)
            self.eof_sent = True


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

BASIC_CLIENT_MESSAGES = [
    ("text", "hello"),
    ("binary", bytes(range(16))),
    ("text", "h\u00e9llo w\u00f6rld \u2713 \U0001F680"),
    ("text", ""),
    ("binary", det_bytes("basic-126", 126)),
    ("ping", b"ping-1"),
    ("text", det_text(300)),
]


def basic_client(ep: Endpoint):
    op, data = ep.next_message()
    assert op == Opcode.TEXT and data == b"welcome", (op, data)
    for kind, payload in BASIC_CLIENT_MESSAGES:
        if kind == "text":
            ep.send_text(payload)
            op, data = ep.next_message()
            assert op == Opcode.TEXT and data.decode() == "echo: " + payload, (op, data[:50])
        elif kind == "binary":
            ep.send_binary(payload)
            op, data = ep.next_message()
            assert op == Opcode.BINARY and data == payload[::-1], (op, data[:50])
        elif kind == "ping":
            ep.ping(payload)
            op, data = ep.next_message()
            assert op == Opcode.PONG and data == payload, (op, data)
    ep.close(1000, "bye")
    ep.run_until_closed()


def large_client(ep: Endpoint):
    payload = det_bytes("large-200k", 200 * 1024)
    ep.send_binary(payload)
    op, data = ep.next_message()
    assert op == Opcode.TEXT and len(data) == 70000, (op, len(data))
    assert data.decode() == det_text(70000)
    ep.close(1000, "bye")
    ep.run_until_closed()


DEFLATE_CLIENT_MESSAGES = [
    {"type": "hello", "client": "wsscope-recorder", "version": 1},
    {"type": "subscribe", "seq": 2, "channels": ["trades", "book", "ticker"]},
    {
        "type": "bulk",
        "seq": 3,
        "items": [
            {"id": i, "symbol": "WSS-USD", "price": 100 + i * 0.25, "qty": i % 7, "side": "buy" if i % 2 else "sell"}
            for i in range(60)
        ],
    },
    # repeated verbatim: with context takeover this compresses to a few bytes
    # of back-references into the previous messages' window
    {"type": "hello", "client": "wsscope-recorder", "version": 1},
]


def deflate_client(ep: Endpoint):
    ext = ep.extensions_header or ""
    assert ext.startswith("permessage-deflate"), ext
    op, data = ep.next_message()
    assert op == Opcode.TEXT and json.loads(data)["type"] == "welcome", data
    for i, msg in enumerate(DEFLATE_CLIENT_MESSAGES, start=1):
        ep.send_text(json.dumps(msg, separators=(",", ":")))
        # wait for the ack of this message; other messages may come first
        while True:
            op, data = ep.next_message()
            assert op == Opcode.TEXT, op
            obj = json.loads(data)
            if obj.get("type") == "ack":
                assert obj["n"] == i, obj
                break
    ep.close(1000, "done")
    ep.run_until_closed()


def echo_server(ep: Endpoint, welcome: bool):
    if welcome:
        ep.send_text("welcome")
    n = 0
    while True:
        if ep.proto.state is not State.OPEN:
            break
        if not ep.inbox:
            ep.pump()
            n += 1
            if n > 100000:
                raise RuntimeError("too many iterations")
            continue
        op, data = ep.inbox.pop(0)
        if op == Opcode.TEXT:
            ep.send_text("echo: " + data.decode())
        elif op == Opcode.BINARY:
            ep.send_binary(data[::-1])
    ep.run_until_closed()


def large_server(ep: Endpoint):
    op, data = ep.next_message()
    assert op == Opcode.BINARY and data == det_bytes("large-200k", 200 * 1024)
    ep.send_text(det_text(70000))
    ep.run_until_closed()


SCENARIOS = {
    # name: (client fn, server fn, client deflate?, server deflate?)
    "py-basic": (basic_client, lambda ep: echo_server(ep, True), False, False),
    "ipv6": (basic_client, lambda ep: echo_server(ep, True), False, False),
    "py-large": (large_client, large_server, False, False),
    "py-node-deflate": (deflate_client, None, True, None),
}


# ---------------------------------------------------------------------------


def run_client(args, deadline):
    client_fn, _, deflate, _ = SCENARIOS[args.scenario]
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    hostport = f"[{args.host}]:{args.port}" if family == socket.AF_INET6 else f"{args.host}:{args.port}"
    uri = parse_uri(f"ws://{hostport}/{args.scenario}")
    extensions = enable_client_permessage_deflate(None) if deflate else None
    proto = logging_protocol(ClientProtocol)(uri, extensions=extensions, max_size=4 * 1024 * 1024)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((args.host, args.port))
    ep = Endpoint(sock, proto, "client", deadline)
    try:
        proto.send_request(proto.connect())
        ep.flush()
        ep.wait_until(lambda: ep.handshake is not None, "handshake response")
        if proto.handshake_exc is not None:
            raise proto.handshake_exc
        assert proto.state is State.OPEN
        ep.extensions_header = ep.handshake.headers.get("Sec-WebSocket-Extensions")
        local, peer = sock.getsockname(), sock.getpeername()
        client_fn(ep)
    finally:
        sock.close()
    return ep, local, peer


def run_server(args, deadline):
    _, server_fn, _, deflate = SCENARIOS[args.scenario]
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(1)
    print("READY", flush=True)
    lsock.settimeout(10)
    sock, _ = lsock.accept()
    lsock.close()
    extensions = [ServerPerMessageDeflateFactory()] if deflate else None
    proto = logging_protocol(ServerProtocol)(extensions=extensions, max_size=4 * 1024 * 1024)
    ep = Endpoint(sock, proto, "server", deadline)
    try:
        ep.wait_until(lambda: ep.handshake is not None, "handshake request")
        response = proto.accept(ep.handshake)
        proto.send_response(response)
        ep.flush()
        if proto.handshake_exc is not None:
            raise proto.handshake_exc
        assert proto.state is State.OPEN
        ep.extensions_header = response.headers.get("Sec-WebSocket-Extensions")
        local, peer = sock.getsockname(), sock.getpeername()
        server_fn(ep)
    finally:
        sock.close()
    return ep, local, peer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["client", "server"], required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    if args.host not in LOOPBACK:
        sys.exit(f"refusing non-loopback host {args.host!r}")
    deadline = time.monotonic() + OVERALL_TIMEOUT
    if args.role == "client":
        ep, local, peer = run_client(args, deadline)
    else:
        ep, local, peer = run_server(args, deadline)
    assert local[0] in LOOPBACK and peer[0] in LOOPBACK, (local, peer)
    log = {
        "role": args.role,
        "impl": IMPL,
        "local": fmt_addr(local),
        "peer": fmt_addr(peer),
        "extensions": ep.extensions_header,
        "tcp": {"bytes": ep.tcp_bytes, "sha256": ep.tcp_hash.hexdigest(), "writes": ep.tcp_writes},
        "sent": ep.proto.sent_log,
        "received": ep.received,
        "final_state": ep.proto.state.name,
    }
    with open(args.log, "w") as f:
        json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
