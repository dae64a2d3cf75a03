#!/usr/bin/env python3
"""WebSocket endpoints (client or server side of one scenario) built on the
sans-I/O API of the `websockets` package (websockets.client.ClientProtocol /
websockets.server.ServerProtocol), driven over blocking sockets owned here.
A scenario may use several connections (sequential or concurrent), and some
scenarios write parts of the HTTP exchange by hand (keep-alive requests before
the upgrade, a tampered Sec-WebSocket-Accept).

Ground truth logged to --log (JSON), one entry per TCP connection:
  * tcp: byte count and sha256 of *every byte passed to sock.sendall()*, in
    order.  Nothing else ever writes to the socket, so this is exactly the TCP
    payload stream this endpoint sent.  `ws_start` is the stream offset of the
    first WebSocket frame byte (sent and received side) and `after_ws_start`
    the count and sha256 of the bytes sent from there on.
  * sent: every WebSocket message or control frame the protocol object
    serialized, taken by overriding Protocol.send_frame() (so automatic pongs
    and the automatic close echo are included), i.e. the sender's view before
    permessage-deflate.  Fragmented messages are joined: one entry per message,
    logged when its last frame is sent, with `fragments` > 1.  `compressed` is
    the RSV1 bit of the message's first serialized frame.
  * received: every message / control frame the protocol parsed (after
    decompression and defragmentation), in the order they completed.  Their
    `compressed` / `fragments` come from parsing the frame headers in the raw
    received bytes (see `frames`).
  * frames: the frame headers parsed from the raw bytes written / read after
    `ws_start`, as [opcode, fin, rsv1, payload length on the wire]; the sent
    ones are checked against what send_frame() produced.
  * handshake: HTTP status of the upgrade response, outcome and whether
    Sec-WebSocket-Accept matched the key (computed here independently).

Only loopback addresses are accepted, except inside a network namespace that
testdata/scripts/record/field.py created (named wsf-*), where 10.0.0.0/8
addresses (and, for a server, 0.0.0.0) are allowed too.  Every wait is bounded
by a deadline and every loop by an iteration count.

Usage: py_endpoint.py --role client|server --scenario NAME --host H --port P --log FILE
                      [--conns N (server)] [--pace MS (client, field scenarios)]
"""

import argparse
import base64
import hashlib
import ipaddress
import json
import os
import select
import socket
import sys
import threading
import time

import websockets
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
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
TEST_NET = ipaddress.ip_network("10.0.0.0/8")  # only inside field.py's wsf-* namespaces
OVERALL_TIMEOUT = 15.0  # seconds; the driver kills us at 20 s anyway
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TYPE_NAMES = {
    Opcode.TEXT: "text",
    Opcode.BINARY: "binary",
    Opcode.PING: "ping",
    Opcode.PONG: "pong",
    Opcode.CLOSE: "close",
}
OPCODE_NUMBERS = {"text": 1, "binary": 2, "close": 8, "ping": 9, "pong": 10}


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


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def describe(opcode, data: bytes, compressed=None, fragments=1) -> dict:
    data = bytes(data)
    d = {"type": TYPE_NAMES[opcode], "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if opcode == Opcode.TEXT and len(data) <= 200:
        d["payload_text"] = data.decode("utf-8")
    if opcode == Opcode.CLOSE:
        if data:
            close = Close.parse(data)
            d["close_code"] = int(close.code)
            d["close_reason"] = close.reason
        else:
            # no status code on the wire (websockets reports it as 1005)
            d["close_code"] = None
            d["close_reason"] = ""
    if compressed is not None:
        d["compressed"] = compressed
    if fragments > 1:
        d["fragments"] = fragments
    return d


def in_test_netns() -> bool:
    """True inside a network namespace that field.py created (named wsf-*)."""
    me = os.stat("/proc/self/ns/net")
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    for name in names:
        if name.startswith("wsf-"):
            st = os.stat(os.path.join("/run/netns", name))
            if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
                return True
    return False


def address_ok(host: str, server_bind=False) -> bool:
    if host in LOOPBACK:
        return True
    if server_bind and host == "0.0.0.0":
        return in_test_netns()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (ip.is_loopback or ip in TEST_NET) and in_test_netns()


def fmt_addr(sockaddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_frame_headers(buf: bytes):
    """Frame headers in a raw WebSocket byte stream: [[opcode, fin, rsv1, length], ...]
    and whether the stream ended exactly at a frame boundary."""
    frames = []
    i = 0
    n_buf = len(buf)
    for _ in range(10_000_000):
        if i + 2 > n_buf:
            break
        b0, b1 = buf[i], buf[i + 1]
        n = b1 & 0x7F
        j = i + 2
        if n == 126:
            n = int.from_bytes(buf[j:j + 2], "big")
            j += 2
        elif n == 127:
            n = int.from_bytes(buf[j:j + 8], "big")
            j += 8
        if b1 & 0x80:
            j += 4
        if j + n > n_buf:
            break
        frames.append([b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), n])
        i = j + n
    return frames, i == n_buf


def message_structure(frames):
    """(type, compressed, fragments) per message, in completion order."""
    out = []
    cur = None
    for op, fin, rsv1, _n in frames:
        if op in (1, 2):
            if fin:
                out.append((op, rsv1, 1))
            else:
                cur = [op, rsv1, 1]
        elif op == 0:
            if cur is None:
                out.append(("orphan-continuation", rsv1, 1))
                continue
            cur[2] += 1
            if fin:
                out.append(tuple(cur))
                cur = None
        else:
            out.append((op, rsv1, 1))
    return out


def logging_protocol(cls):
    class Logging(cls):
        sent_log: list
        frame_log: list
        _out_frag = None

        def send_frame(self, frame: Frame) -> None:
            n = len(self.writes)
            super().send_frame(frame)
            assert len(self.writes) == n + 1
            wire = self.writes[-1]
            rsv1 = bool(wire[0] & 0x40)
            self.frame_log.append([int(frame.opcode), bool(frame.fin), rsv1])
            op = frame.opcode
            if op in (Opcode.TEXT, Opcode.BINARY):
                assert self._out_frag is None, "data frame inside a fragmented message"
                if frame.fin:
                    self.sent_log.append(describe(op, frame.data, rsv1))
                else:
                    self._out_frag = [op, bytearray(frame.data), rsv1, 1]
            elif op == Opcode.CONT:
                f = self._out_frag
                assert f is not None, "continuation without a message"
                f[1] += frame.data
                f[3] += 1
                if frame.fin:
                    self.sent_log.append(describe(f[0], f[1], f[2], f[3]))
                    self._out_frag = None
            else:
                self.sent_log.append(describe(op, frame.data, rsv1))

    Logging.__name__ = "Logging" + cls.__name__
    return Logging


class NoAcceptCheckClient(logging_protocol(ClientProtocol)):
    """A client that does not validate Sec-WebSocket-Accept (for bad-accept):
    the header is swapped for the right value only while process_response()
    runs, so every other check still applies."""

    def process_response(self, response: Response) -> None:
        h = response.headers
        got = h.get_all("Sec-WebSocket-Accept")
        del h["Sec-WebSocket-Accept"]
        h["Sec-WebSocket-Accept"] = accept_for(self.key)
        try:
            super().process_response(response)
        finally:
            del h["Sec-WebSocket-Accept"]
            for v in got:
                h["Sec-WebSocket-Accept"] = v


class Conn:
    """One TCP connection: a socket, a sans-I/O protocol object and the logs."""

    def __init__(self, sock: socket.socket, proto, role: str, deadline: float, index: int):
        self.sock = sock
        self.proto = proto
        self.proto.sent_log = []
        self.proto.frame_log = []
        self.role = role
        self.index = index
        self.deadline = deadline
        self.tcp_hash = hashlib.sha256()
        self.tcp_bytes = 0
        self.tcp_writes = 0
        self.sent_raw = bytearray()
        self.recv_raw = bytearray()
        self.rawbuf = bytearray()  # hand-parsed HTTP input not yet consumed
        self.ws_start_sent = None
        self.ws_start_recv = None
        self.http_recv_start = 0  # where the upgrade request / response starts in recv_raw
        self.http_exchanges = 0  # plain HTTP request/response pairs before the upgrade
        self.eof_sent = False
        self.eof_received = False
        self.received = []  # log entries
        self.inbox = []  # (opcode, bytes) of received data messages / pongs, for app logic
        self.handshake = None  # Request (server) / Response (client)
        self.handshake_log = None
        self.extensions_header = None
        self.local = fmt_addr(sock.getsockname())
        self.peer = fmt_addr(sock.getpeername())
        self._frag = None
        self.errors = []
        self.late_start = None  # field-late: where the capture starts (see cut_and_wait)

    # -- I/O -------------------------------------------------------------
    def _write(self, chunk: bytes):
        self.sock.sendall(chunk)
        self.tcp_hash.update(chunk)
        self.tcp_bytes += len(chunk)
        self.tcp_writes += 1
        self.sent_raw += chunk

    def flush(self):
        for chunk in self.proto.data_to_send():
            if chunk:
                self._write(chunk)
            else:
                if not self.eof_sent:
                    self.sock.shutdown(socket.SHUT_WR)
                    self.eof_sent = True

    def remaining(self):
        r = self.deadline - time.monotonic()
        if r <= 0:
            raise TimeoutError(f"{self.role}: deadline exceeded")
        return r

    def _recv(self) -> bytes:
        self.sock.settimeout(self.remaining())
        data = self.sock.recv(262144)
        self.recv_raw += data
        return data

    def pump(self):
        """Read once from the socket (bounded by the deadline) and process."""
        data = self._recv()
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

    # -- hand-written HTTP ---------------------------------------------------
    def raw_send(self, data: bytes):
        self._write(data)

    def raw_read_until(self, marker: bytes, limit=65536) -> bytes:
        for _ in range(10000):
            i = self.rawbuf.find(marker)
            if i >= 0:
                out = bytes(self.rawbuf[: i + len(marker)])
                del self.rawbuf[: i + len(marker)]
                return out
            if len(self.rawbuf) > limit:
                raise RuntimeError("HTTP head too long")
            data = self._recv()
            if not data:
                raise RuntimeError(f"{self.role}: EOF while reading HTTP")
            self.rawbuf += data
        raise RuntimeError("too many iterations")

    def raw_read_exact(self, n: int) -> bytes:
        for _ in range(10000):
            if len(self.rawbuf) >= n:
                out = bytes(self.rawbuf[:n])
                del self.rawbuf[:n]
                return out
            data = self._recv()
            if not data:
                raise RuntimeError(f"{self.role}: EOF while reading HTTP body")
            self.rawbuf += data
        raise RuntimeError("too many iterations")

    def raw_read_message(self):
        """One HTTP/1.1 message (head + Content-Length or chunked body)."""
        head = self.raw_read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in headers:
            body = self.raw_read_exact(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            for _ in range(1000):
                size_line = self.raw_read_until(b"\r\n").decode("latin-1")
                size = int(size_line.split(";")[0].strip(), 16)
                if size == 0:
                    # no trailers are sent here: the empty line ends the body
                    assert self.raw_read_until(b"\r\n") == b"\r\n"
                    break
                parts.append(self.raw_read_exact(size))
                assert self.raw_read_exact(2) == b"\r\n"
            body = b"".join(parts)
        return lines[0], headers, body

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

    def send_text(self, s, fin=True):
        self.proto.send_text(s.encode("utf-8") if isinstance(s, str) else s, fin=fin)
        self.flush()

    def send_binary(self, b: bytes, fin=True):
        self.proto.send_binary(b, fin=fin)
        self.flush()

    def send_continuation(self, b: bytes, fin: bool):
        self.proto.send_continuation(b, fin=fin)
        self.flush()

    def ping(self, b: bytes):
        self.proto.send_ping(b)
        self.flush()

    def close(self, code, reason=""):
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

    # -- field-late: a frame cut where the capture starts ----------------------
    def send_text_cut(self, s: str, cut: int):
        """Send a text message as one frame, but write only its first `cut`
        bytes; print PARTIAL, wait for GO on stdin (the driver starts tcpdump
        meanwhile), then write the rest.  Records where each direction's
        stream stands at the capture start (late_start)."""
        self.proto.send_text(s.encode())
        chunks = list(self.proto.data_to_send())
        assert len(chunks) == 1 and len(chunks[0]) > cut, [len(c) for c in chunks]
        frame = chunks[0]
        self._write(frame[:cut])
        self.late_start = {
            "sent_offset": self.tcp_bytes,
            "received_offset": len(self.recv_raw),
            "cut_frame_offset": self.tcp_bytes - cut,
            "cut_frame_bytes": len(frame),
            "sent_messages_before": len(self.proto.sent_log) - 1,  # the cut one is logged already
            "received_messages_before": len(self.received),
        }
        wait_for_go(self.deadline, "PARTIAL")
        self._write(frame[cut:])

    def late_start_log(self) -> dict:
        ls = dict(self.late_start)
        sent_after = bytes(self.sent_raw[ls["sent_offset"]:])
        recv_after = bytes(self.recv_raw[ls["received_offset"]:])
        ls["sent_after"] = {"bytes": len(sent_after), "sha256": hashlib.sha256(sent_after).hexdigest()}
        ls["received_after"] = {"bytes": len(recv_after), "sha256": hashlib.sha256(recv_after).hexdigest()}
        # frames wholly before the capture start, per direction; the received side must be at a
        # frame boundary there (the client sends nothing while the server's frame is cut)
        fs, _ = parse_frame_headers(bytes(self.sent_raw[self.ws_start_sent:ls["cut_frame_offset"]]))
        fr, clean = parse_frame_headers(bytes(self.recv_raw[self.ws_start_recv:ls["received_offset"]]))
        if not clean:
            self.errors.append("late start: the received stream is not at a frame boundary")
        ls["sent_frames_before"] = len(fs)
        ls["received_frames_before"] = len(fr)
        return ls

    # -- log ------------------------------------------------------------------
    def to_log(self) -> dict:
        log = {
            "index": self.index,
            "local": self.local,
            "peer": self.peer,
            "extensions": self.extensions_header,
            "handshake": self.handshake_log,
            "http_exchanges_before_upgrade": self.http_exchanges,
            "tcp": {"bytes": self.tcp_bytes, "sha256": self.tcp_hash.hexdigest(), "writes": self.tcp_writes},
            "tcp_received": {"bytes": len(self.recv_raw), "sha256": hashlib.sha256(self.recv_raw).hexdigest()},
            "sent": self.proto.sent_log,
            "received": self.received,
            "final_state": self.proto.state.name,
            "errors": self.errors,
        }
        if self.late_start is not None:
            log["late_start"] = self.late_start_log()
        if self.ws_start_sent is not None and self.ws_start_recv is not None:
            after = bytes(self.sent_raw[self.ws_start_sent:])
            log["ws_start"] = {"sent": self.ws_start_sent, "received": self.ws_start_recv}
            log["after_ws_start"] = {"bytes": len(after), "sha256": hashlib.sha256(after).hexdigest()}
            fs, clean_s = parse_frame_headers(after)
            fr, clean_r = parse_frame_headers(bytes(self.recv_raw[self.ws_start_recv:]))
            if not clean_s or not clean_r:
                self.errors.append("raw byte stream does not end at a frame boundary")
            log["frames"] = {"sent": fs, "received": fr}
            # the frames parsed from the bytes written must be the ones send_frame() produced
            if [f[:3] for f in fs] != self.proto.frame_log:
                self.errors.append(f"parsed sent frames {fs} != send_frame log {self.proto.frame_log}")
            ss = message_structure(fs)
            want = [(OPCODE_NUMBERS[m["type"]], m.get("compressed", False), m.get("fragments", 1))
                    for m in self.proto.sent_log]
            if ss != want:
                self.errors.append(f"sent message structure {ss} != {want}")
            rs = message_structure(fr)
            if len(rs) != len(self.received):
                self.errors.append(f"{len(rs)} messages parsed from received bytes, {len(self.received)} received")
            else:
                for m, (op, rsv1, nfrag) in zip(self.received, rs):
                    if OPCODE_NUMBERS[m["type"]] != op:
                        self.errors.append(f"received {m['type']} but parsed opcode {op}")
                    m["compressed"] = rsv1
                    if nfrag > 1:
                        m["fragments"] = nfrag
        return log


# ---------------------------------------------------------------------------
# Connection setup
# ---------------------------------------------------------------------------


def client_connect(args, deadline, index=0, path=None, extensions=None, proto_cls=None, pre_upgrade=None):
    """Connect, optionally run hand-written HTTP exchanges (pre_upgrade(conn)),
    then do the opening handshake.  Returns the Conn (open, or refused)."""
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    hostport = f"[{args.host}]:{args.port}" if family == socket.AF_INET6 else f"{args.host}:{args.port}"
    uri = parse_uri(f"ws://{hostport}{path or '/' + args.scenario}")
    cls = proto_cls or logging_protocol(ClientProtocol)
    proto = cls(uri, extensions=extensions, max_size=4 * 1024 * 1024)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((args.host, args.port))
    c = Conn(sock, proto, "client", deadline, index)
    if pre_upgrade is not None:
        pre_upgrade(c)
        assert not c.rawbuf, "unexpected bytes before the upgrade"
    c.http_recv_start = len(c.recv_raw)
    proto.send_request(proto.connect())
    c.flush()
    c.ws_start_sent = c.tcp_bytes
    c.wait_until(lambda: c.handshake is not None, "handshake response")
    resp = c.handshake
    got_accept = resp.headers.get_all("Sec-WebSocket-Accept")
    c.handshake_log = {
        "status": resp.status_code,
        "outcome": "upgraded" if resp.status_code == 101 else "refused",
        "accept_valid": (len(got_accept) == 1 and got_accept[0] == accept_for(proto.key))
        if resp.status_code == 101 else None,
    }
    if resp.status_code == 101:
        if proto.handshake_exc is not None:
            raise proto.handshake_exc
        assert proto.state is State.OPEN
        head_end = c.recv_raw.find(b"\r\n\r\n", c.http_recv_start)
        c.ws_start_recv = head_end + 4
        c.extensions_header = resp.headers.get("Sec-WebSocket-Extensions")
    return c


def server_accept_conn(sock, args, deadline, index, server_extensions, tamper=None, pre_upgrade=None,
                       refuse=None):
    proto = logging_protocol(ServerProtocol)(extensions=None, max_size=4 * 1024 * 1024)
    c = Conn(sock, proto, "server", deadline, index)
    if pre_upgrade is not None:
        pre_upgrade(c)
    c.http_recv_start = len(c.recv_raw) - len(c.rawbuf)
    if c.rawbuf:
        proto.receive_data(bytes(c.rawbuf))
        c.rawbuf.clear()
        for ev in proto.events_received():
            c.on_event(ev)
    c.wait_until(lambda: c.handshake is not None, "handshake request")
    req = c.handshake
    # connection index from the request path ("/scenario/N"), for per-connection settings
    try:
        path_index = int(req.path.rsplit("/", 1)[1])
    except ValueError:
        path_index = index
    c.index = path_index
    proto.available_extensions = server_extensions(path_index) if server_extensions else None
    if refuse is not None:
        status, text = refuse
        response = proto.reject(status, text)
    else:
        response = proto.accept(req)
        if tamper is not None:
            tamper(response)
    proto.send_response(response)
    c.flush()
    key = req.headers.get("Sec-WebSocket-Key")
    got_accept = response.headers.get_all("Sec-WebSocket-Accept")
    c.handshake_log = {
        "status": response.status_code,
        "outcome": "upgraded" if response.status_code == 101 else "refused",
        "accept_valid": (len(got_accept) == 1 and got_accept[0] == accept_for(key))
        if response.status_code == 101 else None,
    }
    if response.status_code == 101:
        if proto.handshake_exc is not None:
            raise proto.handshake_exc
        assert proto.state is State.OPEN
        c.ws_start_sent = c.tcp_bytes
        head_end = c.recv_raw.find(b"\r\n\r\n", c.http_recv_start)
        c.ws_start_recv = head_end + 4
        c.extensions_header = response.headers.get("Sec-WebSocket-Extensions")
    return c


# ---------------------------------------------------------------------------
# Scenarios (original five)
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


def exchange_with_echo(ep: Conn, messages):
    for kind, payload in messages:
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


def basic_client(ep: Conn):
    op, data = ep.next_message()
    assert op == Opcode.TEXT and data == b"welcome", (op, data)
    exchange_with_echo(ep, BASIC_CLIENT_MESSAGES)
    ep.close(1000, "bye")
    ep.run_until_closed()


def large_client(ep: Conn):
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


def deflate_client(ep: Conn):
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


def echo_server(ep: Conn, welcome: bool):
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


def large_server(ep: Conn):
    op, data = ep.next_message()
    assert op == Opcode.BINARY and data == det_bytes("large-200k", 200 * 1024)
    ep.send_text(det_text(70000))
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# py-fragments
# ---------------------------------------------------------------------------

FRAG_TEXT = ("fragmented text message, part one / ", "part two / ", "part three (end)")
# every boundary falls inside a multi-byte UTF-8 character
UTF8_TEXT = "h\u00e9llo w\u00f6rld \u2713 \U0001F680 \u65e5\u672c\u8a9e \u00fc\u00df"


def utf8_split_points(s: str):
    b = s.encode("utf-8")
    points = []
    pos = 0
    for ch in s:
        n = len(ch.encode("utf-8"))
        if n > 1:
            points.append(pos + 1 + (n > 2))  # inside the character
        pos += n
    return b, points


def split_at(b: bytes, points):
    out, prev = [], 0
    for p in points:
        out.append(b[prev:p])
        prev = p
    out.append(b[prev:])
    return out


FRAG_BINARY = [det_bytes("frag-bin-a", 40), b"", det_bytes("frag-bin-b", 130), det_bytes("frag-bin-c", 7)]
SERVER_FRAG_BINARY = [det_bytes("srv-frag-a", 100), det_bytes("srv-frag-b", 200), det_bytes("srv-frag-c", 3)]


def fragments_client(ep: Conn):
    # 1. a text message in 3 fragments, with a ping after each of the first two
    parts = [p.encode() for p in FRAG_TEXT]
    ep.send_text(parts[0], fin=False)
    ep.ping(b"between-1")
    ep.send_continuation(parts[1], fin=False)
    ep.ping(b"between-2")
    ep.send_continuation(parts[2], fin=True)
    got = [ep.next_message() for _ in range(3)]  # 2 pongs and the ack
    assert got[0] == (Opcode.PONG, b"between-1") and got[1] == (Opcode.PONG, b"between-2"), got
    assert got[2] == (Opcode.TEXT, b"ack 1"), got
    # 2. multi-byte characters split across fragment boundaries
    b, points = utf8_split_points(UTF8_TEXT)
    pieces = split_at(b, points)
    ep.send_text(pieces[0], fin=False)
    for i, p in enumerate(pieces[1:], start=1):
        ep.send_continuation(p, fin=i == len(pieces) - 1)
    assert ep.next_message() == (Opcode.TEXT, b"ack 2")
    # 3. a binary message in 4 fragments, one of them empty
    ep.send_binary(FRAG_BINARY[0], fin=False)
    for i, p in enumerate(FRAG_BINARY[1:], start=1):
        ep.send_continuation(p, fin=i == len(FRAG_BINARY) - 1)
    assert ep.next_message() == (Opcode.TEXT, b"ack 3")
    # 4. the server sends a fragmented binary message; ping it once its first
    #    fragment is here, so that its pong lands between its fragments
    ep.send_text("send fragments")
    ep.wait_until(lambda: ep._frag is not None, "first fragment")
    ep.ping(b"mid-server-message")
    op, data = ep.next_message()
    assert (op, data) == (Opcode.PONG, b"mid-server-message"), (op, data)
    op, data = ep.next_message()
    assert (op, data) == (Opcode.BINARY, b"".join(SERVER_FRAG_BINARY)), (op, len(data))
    # 5. a server text message with split characters
    op, data = ep.next_message()
    assert (op, data) == (Opcode.TEXT, UTF8_TEXT.encode()), (op, data)
    ep.close(1000, "fragments done")
    ep.run_until_closed()


def fragments_server(ep: Conn):
    for i in (1, 2, 3):
        op, data = ep.next_message()
        assert op in (Opcode.TEXT, Opcode.BINARY), op
        ep.send_text(f"ack {i}")
    op, data = ep.next_message()
    assert (op, data) == (Opcode.TEXT, b"send fragments"), (op, data)
    ep.send_binary(SERVER_FRAG_BINARY[0], fin=False)
    # wait for the client's ping; the protocol answers it (pong) by itself
    ep.wait_until(lambda: any(m["type"] == "ping" and m["length"] == len(b"mid-server-message")
                              for m in ep.received), "the client's ping")
    ep.send_continuation(SERVER_FRAG_BINARY[1], fin=False)
    ep.send_continuation(SERVER_FRAG_BINARY[2], fin=True)
    b, points = utf8_split_points(UTF8_TEXT)
    pieces = split_at(b, points[::2])
    ep.send_text(pieces[0], fin=False)
    for i, p in enumerate(pieces[1:], start=1):
        ep.send_continuation(p, fin=i == len(pieces) - 1)
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# py-lengths
# ---------------------------------------------------------------------------

LENGTHS = [0, 125, 126, 65535, 65536, 1_100_000]
BIG = 1_000_000


def lengths_client(ep: Conn):
    for n in LENGTHS:
        payload = det_bytes(f"len-{n}", n)
        ep.send_binary(payload)
        op, data = ep.next_message()
        if n < BIG:
            assert op == Opcode.BINARY and data == payload[::-1], (op, len(data))
        else:
            assert op == Opcode.TEXT and data.decode() == f"received {n} bytes", data
    ep.close(1000, "lengths done")
    ep.run_until_closed()


def lengths_server(ep: Conn):
    for n in LENGTHS:
        op, data = ep.next_message()
        assert op == Opcode.BINARY and data == det_bytes(f"len-{n}", n), (op, len(data))
        if n < BIG:
            ep.send_binary(data[::-1])
        else:
            ep.send_text(f"received {n} bytes")
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# py-deflate-params
# ---------------------------------------------------------------------------

DEFLATE_PARAMS = [
    # (client factory kwargs, server factory kwargs)
    ({}, {}),
    ({"client_no_context_takeover": True, "server_no_context_takeover": True},
     {"client_no_context_takeover": True, "server_no_context_takeover": True}),
    ({"server_max_window_bits": 10, "client_max_window_bits": 10},
     {"server_max_window_bits": 10, "client_max_window_bits": 10}),
]


def quote(i, conn):
    return {"type": "quote", "conn": conn, "seq": i, "symbol": "WSS-USD", "bid": 100.25 + i, "ask": 100.75 + i,
            "venue": "loopback-exchange", "flags": ["firm", "streaming"], "note": "similar messages compress well"}


def deflate_params_client(ep: Conn):
    ext = ep.extensions_header or ""
    assert ext.startswith("permessage-deflate"), ext
    for i in range(5):
        ep.send_text(json.dumps(quote(i, ep.index), separators=(",", ":")))
        op, data = ep.next_message()
        obj = json.loads(data)
        assert op == Opcode.TEXT and obj["type"] == "quote-ack" and obj["seq"] == i, obj
    ep.close(1000, "params done")
    ep.run_until_closed()


def deflate_params_server(ep: Conn):
    for i in range(5):
        op, data = ep.next_message()
        obj = json.loads(data)
        ep.send_text(json.dumps({"type": "quote-ack", "seq": obj["seq"], "conn": obj["conn"],
                                 "status": "accepted", "venue": obj["venue"], "bid": obj["bid"],
                                 "ask": obj["ask"], "note": "similar acks compress well too"},
                                separators=(",", ":")))
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# py-close-codes
# ---------------------------------------------------------------------------

CLOSE_PLAN = [
    # (side that closes, code or None for an empty close payload, reason)
    ("client", 1000, "normal closure"),
    ("server", 1001, "server going away"),
    ("client", 1008, "pol\u00edtica violada \u2014 acc\u00e8s refus\u00e9 \u2716"),
    ("server", 4000, "private: session expired"),
    ("client", None, ""),
]


def close_codes_client(ep: Conn):
    side, code, reason = CLOSE_PLAN[ep.index]
    ep.send_text(f"hello from connection {ep.index}")
    op, data = ep.next_message()
    assert op == Opcode.TEXT and data == f"echo: hello from connection {ep.index}".encode(), data
    if side == "client":
        ep.close(code, reason)
    ep.run_until_closed()


def close_codes_server(ep: Conn):
    side, code, reason = CLOSE_PLAN[ep.index]
    op, data = ep.next_message()
    ep.send_text("echo: " + data.decode())
    if side == "server":
        ep.close(code, reason)
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# concurrent
# ---------------------------------------------------------------------------

CONCURRENT = 5


def concurrent_client_all(conns):
    # round robin: every round sends one message on each connection before
    # reading any echo, so the connections' packets interleave in the capture
    for r in range(4):
        for c in conns:
            if r == 2:
                c.send_binary(det_bytes(f"conc-{c.index}-{r}", 50 + 10 * c.index))
            else:
                c.send_text(f"connection {c.index} round {r}: " + "x" * (r * 20))
        for c in conns:
            op, data = c.next_message()
            if r == 2:
                assert op == Opcode.BINARY and data == det_bytes(f"conc-{c.index}-{r}", 50 + 10 * c.index)[::-1]
            else:
                assert op == Opcode.TEXT and data.decode().startswith(f"echo: connection {c.index} round {r}")
    for c in conns:
        c.close(1000, f"conn {c.index} done")
    for c in conns:
        c.run_until_closed()


# ---------------------------------------------------------------------------
# keepalive-upgrade
# ---------------------------------------------------------------------------

KA_POST_BODY = json.dumps({"user": "wsscope", "token": "t0k3n", "want": ["ws"]}, separators=(",", ":")).encode()
KA_POST_RESPONSE = json.dumps({"ok": True, "session": "s-19012", "ws_path": "/keepalive-upgrade/0"}).encode()
KA_CHUNKS = [b"event: 1 first chunk\n", b"event: 2 " + b"y" * 300 + b"\n", b"event: 3 last\n"]


def keepalive_client_pre(c: Conn):
    host = f"{c.sock.getpeername()[0]}:{c.sock.getpeername()[1]}"
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = (f"POST /api/session HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wsscope-recorder\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(KA_POST_BODY)}\r\n\r\n").encode()
    c.raw_send(head)
    c.raw_send(KA_POST_BODY)  # the body in its own segment
    status, headers, body = c.raw_read_message()
    assert status.startswith("HTTP/1.1 200") and body == KA_POST_RESPONSE, (status, body)
    c.raw_send(f"GET /api/feed HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wsscope-recorder\r\n"
               f"Accept: text/plain\r\n\r\n".encode())
    status, headers, body = c.raw_read_message()
    assert status.startswith("HTTP/1.1 200") and headers.get("transfer-encoding") == "chunked", (status, headers)
    assert body == b"".join(KA_CHUNKS), body
    c.http_exchanges = 2


def keepalive_server_pre(c: Conn):
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    line, headers, body = c.raw_read_message()
    assert line.startswith("POST /api/session ") and body == KA_POST_BODY, (line, body)
    c.raw_send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               + f"Content-Length: {len(KA_POST_RESPONSE)}\r\n\r\n".encode() + KA_POST_RESPONSE)
    line, headers, body = c.raw_read_message()
    assert line.startswith("GET /api/feed ") and body == b"", line
    # chunked response, written in several pieces (TCP_NODELAY: several segments)
    c.raw_send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
    for ch in KA_CHUNKS:
        c.raw_send(f"{len(ch):x}\r\n".encode() + ch + b"\r\n")
        time.sleep(0.005)
    c.raw_send(b"0\r\n\r\n")
    c.http_exchanges = 2


def keepalive_client(ep: Conn):
    exchange_with_echo(ep, [("text", "hello after two keep-alive requests"),
                            ("binary", det_bytes("ka-bin", 33))])
    ep.close(1000, "bye")
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# refused-403, bad-accept, midstream
# ---------------------------------------------------------------------------

REFUSE = (403, "Forbidden: this test server refuses every WebSocket upgrade.\n")
# the RFC 6455 example accept value: valid for the RFC's sample key, wrong for ours
WRONG_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def tamper_accept(response: Response):
    del response.headers["Sec-WebSocket-Accept"]
    response.headers["Sec-WebSocket-Accept"] = WRONG_ACCEPT


def refused_client(ep: Conn):
    assert ep.handshake.status_code == 403, ep.handshake.status_code
    assert ep.handshake.body == REFUSE[1].encode(), ep.handshake.body
    ep.run_until_closed()


def refused_server(ep: Conn):
    ep.run_until_closed()


def bad_accept_client(ep: Conn):
    op, data = ep.next_message()
    assert op == Opcode.TEXT and data == b"welcome", (op, data)
    exchange_with_echo(ep, [("text", "accepted despite the wrong accept key"),
                            ("binary", det_bytes("bad-accept", 20))])
    ep.close(1000, "bye")
    ep.run_until_closed()


MIDSTREAM_MESSAGES = [
    ("text", "first message after the capture started"),
    ("binary", det_bytes("mid-1", 24)),
    ("text", "second text " + "z" * 150),
    ("binary", det_bytes("mid-2", 300)),
    ("text", "{\"type\":\"status\",\"ok\":true}"),
    ("binary", det_bytes("mid-3", 126)),
    ("text", "last message"),
]


def wait_for_go(deadline, say="UPGRADED"):
    """Tell the driver where we are (UPGRADED: the handshake is done) and wait
    for it to start tcpdump."""
    print(say, flush=True)
    r, _, _ = select.select([sys.stdin], [], [], max(0.1, deadline - time.monotonic()))
    if not r or sys.stdin.readline().strip() != "GO":
        raise TimeoutError("no GO from the driver")


def midstream_client(ep: Conn):
    wait_for_go(ep.deadline)
    exchange_with_echo(ep, MIDSTREAM_MESSAGES)
    ep.close(1000, "bye")
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# field, field-late (testdata/scripts/record/field.py: namespaces, tunnels,
# impairment, merged captures, a capture started in the middle of a frame)
# ---------------------------------------------------------------------------

PACE = 0.0  # seconds before each client message (--pace), for the merged skewed-clock captures
FIELD_UNICODE = "h\u00e9llo w\u00f6rld \u2713 \U0001F680 \u65e5\u672c\u8a9e"
FIELD_FRAGMENTS = [det_text(2250)[:200], det_text(2250)[200:2200], det_text(2250)[2200:]]
# every message is echoed by field_server (text: 'echo: ' + text, binary reversed);
# the larger ones exceed a 1500-byte MTU, so they span several TCP segments
FIELD_MESSAGES = [
    ("text", "hello from the field"),
    ("binary", det_bytes("field-16", 16)),
    ("text", det_text(3000)),
    ("binary", det_bytes("field-5000", 5000)),
    ("fragments", FIELD_FRAGMENTS),  # one text message in 3 frames of 200, 2000 and 50 bytes
    ("ping", b"client-ping"),  # answered by the server's protocol (pong)
    ("text", "ping me"),  # the server pings (the client's protocol pongs), then echoes
    ("text", FIELD_UNICODE),
    ("binary", b""),
    ("binary", det_bytes("field-126", 126)),
]
LATE_BEFORE = [  # sent and echoed before the capture starts
    ("text", "before the capture"),
    ("binary", det_bytes("late-pre", 3000)),
    ("ping", b"early-ping"),
]
LATE_LONG = 6000  # the server's long text, cut LATE_CUT bytes into its frame
LATE_CUT = 2000
LATE_AFTER = [
    ("text", "first message after the cut"),
    ("binary", det_bytes("late-5000", 5000)),
    ("fragments", FIELD_FRAGMENTS),
    ("ping", b"late-ping"),
    ("text", "ping me"),
    ("text", FIELD_UNICODE),
]


def field_exchange(ep: Conn, messages):
    for kind, payload in messages:
        if PACE:
            time.sleep(PACE)
        if kind == "fragments":
            parts = [p.encode() for p in payload]
            ep.send_text(parts[0], fin=False)
            for i, p in enumerate(parts[1:], start=1):
                ep.send_continuation(p, fin=i == len(parts) - 1)
            op, data = ep.next_message()
            assert op == Opcode.TEXT and data == b"echo: " + b"".join(parts), (op, data[:50])
        elif kind == "text" and payload == "ping me":
            n_pings = sum(1 for m in ep.received if m["type"] == "ping")
            ep.send_text(payload)
            op, data = ep.next_message()
            assert op == Opcode.TEXT and data == b"echo: ping me", (op, data)
            assert sum(1 for m in ep.received if m["type"] == "ping") == n_pings + 1, ep.received
        else:
            exchange_with_echo(ep, [(kind, payload)])


def field_client(ep: Conn):
    field_exchange(ep, FIELD_MESSAGES)
    if PACE:
        time.sleep(PACE)
    ep.close(1000, "field done")
    ep.run_until_closed()


def field_late_client(ep: Conn):
    field_exchange(ep, LATE_BEFORE)
    ep.send_text("send the long one")
    op, data = ep.next_message()  # arrives complete only after the driver's GO to the server
    assert op == Opcode.TEXT and data == det_text(LATE_LONG).encode(), (op, len(data))
    field_exchange(ep, LATE_AFTER)
    ep.close(1000, "late done")
    ep.run_until_closed()


def field_server(ep: Conn):
    """Echo server; 'ping me' gets a ping before its echo, 'send the long one'
    (field-late) a long text whose frame is cut where the capture starts."""
    n = 0
    while ep.proto.state is State.OPEN:
        if not ep.inbox:
            ep.pump()
            n += 1
            if n > 100000:
                raise RuntimeError("too many iterations")
            continue
        op, data = ep.inbox.pop(0)
        if op == Opcode.TEXT and data == b"ping me":
            ep.ping(b"server-ping")
            ep.send_text("echo: ping me")
        elif op == Opcode.TEXT and data == b"send the long one":
            ep.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ep.send_text_cut(det_text(LATE_LONG), LATE_CUT)
        elif op == Opcode.TEXT:
            ep.send_text("echo: " + data.decode())
        elif op == Opcode.BINARY:
            ep.send_binary(data[::-1])
    ep.run_until_closed()


# ---------------------------------------------------------------------------
# Scenario table
# ---------------------------------------------------------------------------


class Scenario:
    def __init__(self, client=None, server=None, conns=1, client_ext=None, server_ext=None,
                 client_cls=None, tamper=None, client_pre=None, server_pre=None, refuse=None,
                 client_all=None, concurrent=False):
        self.client = client  # fn(conn) per connection
        self.server = server  # fn(conn) per connection
        self.conns = conns
        self.client_ext = client_ext  # fn(index) -> client extension factories
        self.server_ext = server_ext  # fn(index) -> server extension factories
        self.client_cls = client_cls
        self.tamper = tamper
        self.client_pre = client_pre
        self.server_pre = server_pre
        self.refuse = refuse
        self.client_all = client_all  # fn(list of conns), after all handshakes
        self.concurrent = concurrent  # server handles connections in parallel threads


def welcome_echo(ep):
    echo_server(ep, True)


def plain_echo(ep):
    echo_server(ep, False)


SCENARIOS = {
    "py-basic": Scenario(basic_client, welcome_echo),
    "ipv6": Scenario(basic_client, welcome_echo),
    "py-large": Scenario(large_client, large_server),
    "py-node-deflate": Scenario(deflate_client, None, client_ext=lambda i: enable_client_permessage_deflate(None)),
    "chromium-deflate": Scenario(None, welcome_echo,
                                 server_ext=lambda i: [ServerPerMessageDeflateFactory()]),
    "websocat": Scenario(None, welcome_echo),
    "py-fragments": Scenario(fragments_client, fragments_server),
    "py-lengths": Scenario(lengths_client, lengths_server),
    "py-deflate-params": Scenario(
        deflate_params_client, deflate_params_server, conns=len(DEFLATE_PARAMS),
        client_ext=lambda i: [ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5},
                                                             **DEFLATE_PARAMS[i][0])],
        server_ext=lambda i: [ServerPerMessageDeflateFactory(**DEFLATE_PARAMS[i][1])]),
    "py-close-codes": Scenario(close_codes_client, close_codes_server, conns=len(CLOSE_PLAN)),
    "concurrent": Scenario(None, plain_echo, conns=CONCURRENT, client_all=concurrent_client_all,
                           concurrent=True),
    "keepalive-upgrade": Scenario(keepalive_client, plain_echo, client_pre=keepalive_client_pre,
                                  server_pre=keepalive_server_pre),
    "refused-403": Scenario(refused_client, refused_server, refuse=REFUSE),
    "bad-accept": Scenario(bad_accept_client, welcome_echo, client_cls=NoAcceptCheckClient,
                           tamper=tamper_accept),
    "midstream": Scenario(midstream_client, plain_echo),
    "field": Scenario(field_client, field_server),
    "field-late": Scenario(field_late_client, field_server),
}


# ---------------------------------------------------------------------------


def run_client(args, deadline):
    sc = SCENARIOS[args.scenario]
    conns = []
    try:
        for i in range(sc.conns):
            path = f"/{args.scenario}" if sc.conns == 1 else f"/{args.scenario}/{i}"
            c = client_connect(args, deadline, i, path,
                               extensions=sc.client_ext(i) if sc.client_ext else None,
                               proto_cls=sc.client_cls, pre_upgrade=sc.client_pre)
            conns.append(c)
            if sc.client_all is None:
                sc.client(c)
        if sc.client_all is not None:
            sc.client_all(conns)
    finally:
        for c in conns:
            c.sock.close()
    return conns


def run_server(args, deadline):
    sc = SCENARIOS[args.scenario]
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(8)
    print("READY", flush=True)
    conns = []
    errors = []

    def handle(sock, i):
        try:
            c = server_accept_conn(sock, args, deadline, i, sc.server_ext, tamper=sc.tamper,
                                   pre_upgrade=sc.server_pre, refuse=sc.refuse)
            conns.append(c)
            if sc.server is not None:
                sc.server(c)
        except Exception as e:  # noqa: BLE001 - reported, makes the run fail
            errors.append(f"connection {i}: {type(e).__name__}: {e}")
            raise
        finally:
            sock.close()

    threads = []
    try:
        for i in range(args.conns or sc.conns):
            lsock.settimeout(max(0.1, min(10, deadline - time.monotonic())))
            sock, _ = lsock.accept()
            if sc.concurrent:
                t = threading.Thread(target=handle, args=(sock, i), daemon=True)
                t.start()
                threads.append(t)
            else:
                handle(sock, i)
        for t in threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                errors.append("a connection thread did not finish in time")
    finally:
        lsock.close()
    if errors:
        raise RuntimeError("; ".join(errors))
    conns.sort(key=lambda c: c.index)
    return conns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["client", "server"], required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--conns", type=int, default=None,
                    help="server: accept this many connections instead of the scenario's count")
    ap.add_argument("--pace", type=float, default=0.0,
                    help="client, field scenarios: milliseconds to wait before each message")
    args = ap.parse_args()
    global PACE
    PACE = args.pace / 1000.0
    if not address_ok(args.host, server_bind=args.role == "server"):
        sys.exit(f"refusing host {args.host!r}: loopback only (10.0.0.0/8 inside field.py's namespaces)")
    deadline = time.monotonic() + OVERALL_TIMEOUT
    conns = run_client(args, deadline) if args.role == "client" else run_server(args, deadline)
    for c in conns:
        for a in (c.local, c.peer):
            assert address_ok(a.rsplit(":", 1)[0].strip("[]")), a
    log = {"role": args.role, "impl": IMPL, "connections": [c.to_log() for c in conns]}
    with open(args.log, "w") as f:
        json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
