#!/usr/bin/env python3
"""WebSocket-over-TLS endpoints (wss://) for testdata/captures/tls/.

The WebSocket side is py_endpoint.py's: its Conn class drives a sans-I/O
`websockets` protocol over a socket-like object, and logs every WebSocket
message, control frame and frame header.  Here that object is TLSStream: a
TCP socket plus an ssl.SSLObject working on memory BIOs, so both byte streams
of each direction are seen:

  * tls_plaintext: every byte passed into the TLS stream (SSL_write), i.e. the
    HTTP upgrade and the WebSocket frames, counted and hashed by Conn exactly
    as py_endpoint.py counts TCP bytes for ws://;
  * tcp: every byte written to the TCP socket (TLS records: handshake,
    application data, KeyUpdate, NewSessionTicket, close_notify), hashed here.

Also logged per connection (`tls`): version, cipher, ALPN, SNI (server side,
from the SNI callback), whether the session was resumed, every TLS handshake
message, ChangeCipherSpec and alert written and read (ssl's message callback),
and every KeyUpdate with the plaintext offset of its direction at which it
was sent.

The key log (NSS SSLKEYLOGFILE format) is written by OpenSSL itself through
SSLContext.keylog_filename (--keylog).  KeyUpdate is sent with OpenSSL's
SSL_key_update(), called through ctypes on the SSL* of the SSLObject (Python
has no API for it); the pointer is checked with SSL_is_server/SSL_version
before use.  TLS 1.3 cipher suites cannot be chosen from Python: the driver
(record_tls.py) sets OPENSSL_CONF to a file with `Ciphersuites = ...`, and the
endpoints fail unless the negotiated cipher is the expected one.

With --plain a scenario runs without TLS (the ws:// half of `mixed`); the log
is then exactly py_endpoint.py's.

Usage: tls_endpoint.py --role client|server --scenario NAME --host H --port P --log FILE
                       [--cert PEM --key PEM (server)] [--ca PEM (client)] [--keylog FILE]
                       [--plain] [--pace MS]
"""

import argparse
import ctypes
import hashlib
import json
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_endpoint as pe  # noqa: E402
from py_endpoint import Conn, det_bytes, det_text, exchange_with_echo  # noqa: E402
from websockets.client import ClientProtocol  # noqa: E402
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
)
from websockets.frames import Opcode  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

IMPL = pe.IMPL + f", {ssl.OPENSSL_VERSION}"
SNI = "localhost"
ALPN = ["http/1.1"]

# ---------------------------------------------------------------------------
# OpenSSL through ctypes (KeyUpdate only)
# ---------------------------------------------------------------------------

_libssl = None


def libssl():
    global _libssl
    if _libssl is None:
        lib = ctypes.CDLL("libssl.so.3")  # the library _ssl is linked against (checked below)
        for name in ("SSL_key_update", "SSL_is_server", "SSL_version"):
            getattr(lib, name).restype = ctypes.c_int
        lib.SSL_key_update.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.SSL_is_server.argtypes = [ctypes.c_void_p]
        lib.SSL_version.argtypes = [ctypes.c_void_p]
        _libssl = lib
    return _libssl


def ssl_pointer(obj: ssl.SSLObject, server_side: bool) -> int:
    """The SSL* inside an SSLObject: _ssl's PySSLSocket starts with PyObject_HEAD
    (16 bytes), a weak reference to the socket (8 bytes), then `SSL *ssl`."""
    inner = obj._sslobj
    ptr = ctypes.c_void_p.from_address(id(inner) + 24).value
    lib = libssl()
    if not ptr or lib.SSL_is_server(ptr) != int(server_side) or lib.SSL_version(ptr) != 0x0304:
        raise RuntimeError("could not locate the SSL* of the SSLObject (or not TLS 1.3)")
    return ptr


# ---------------------------------------------------------------------------
# TLS over a TCP socket, socket-like for py_endpoint.Conn
# ---------------------------------------------------------------------------

HS_NAMES = {1: "client_hello", 2: "server_hello", 4: "new_session_ticket", 5: "end_of_early_data",
            8: "encrypted_extensions", 11: "certificate", 12: "server_key_exchange",
            13: "certificate_request", 14: "server_hello_done", 15: "certificate_verify",
            16: "client_key_exchange", 20: "finished", 24: "key_update"}
ALERT_NAMES = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
               42: "bad_certificate", 48: "unknown_ca", 70: "protocol_version", 80: "internal_error",
               90: "user_canceled", 112: "unrecognized_name", 120: "no_application_protocol"}
STREAMS = {}  # id(SSLObject) -> TLSStream, for the context's message callback


def msg_callback(conn, direction, version, content_type, msg_type, data):
    st = STREAMS.get(id(conn))
    if st is not None:
        st.on_message(direction, int(content_type), int(msg_type), bytes(data))


class TLSStream:
    """Enough of the socket API for Conn: sendall, recv, shutdown(SHUT_WR),
    settimeout, setsockopt, getsockname, getpeername, close."""

    def __init__(self, raw: socket.socket, ctx: ssl.SSLContext, server_side: bool, deadline: float,
                 session=None, chunk=None):
        self.raw = raw
        self.server_side = server_side
        self.deadline = deadline
        self.chunk = chunk  # write the TCP bytes in pieces of this size (TCP_NODELAY): records span segments
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=server_side,
                                server_hostname=None if server_side else SNI, session=session)
        STREAMS[id(self.obj)] = self
        self.tcp_sent, self.tcp_recv = hashlib.sha256(), hashlib.sha256()
        self.tcp_sent_n = self.tcp_recv_n = 0
        self.pt_sent = self.pt_recv = 0  # plaintext bytes written into / read from TLS
        self.raw_eof = False
        self.close_notify_received = False
        self.close_notify_sent = False
        self.ragged_eof = False  # the peer's TCP FIN came without close_notify
        self.messages = {"sent": [], "received": []}
        self.key_updates = []
        self.sni = None  # server side, set by the SNI callback
        if chunk:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- message callback --------------------------------------------------------
    def on_message(self, direction, content_type, msg_type, data):
        key = "sent" if direction == "write" else "received"
        if content_type == 22:  # handshake
            name = HS_NAMES.get(msg_type, f"handshake_{msg_type}")
            self.messages[key].append(name)
            if msg_type == 24:
                # the offset is the plaintext stream position of this direction at the key change
                requested = len(data) >= 5 and data[4] == 1
                self.key_updates.append({
                    "direction": key,
                    "update_requested": requested,
                    "plaintext_offset": self.pt_sent if key == "sent" else self.pt_recv,
                })
        elif content_type == 20:
            self.messages[key].append("change_cipher_spec")
        elif content_type == 21 and len(data) >= 2:
            level = {1: "warning", 2: "fatal"}.get(data[0], str(data[0]))
            self.messages[key].append(f"alert:{level}:{ALERT_NAMES.get(data[1], data[1])}")

    # -- raw I/O ---------------------------------------------------------------
    def remaining(self):
        r = self.deadline - time.monotonic()
        if r <= 0:
            raise TimeoutError("TLS: deadline exceeded")
        return r

    def _flush(self):
        data = self.out.read()
        if not data:
            return
        self.tcp_sent.update(data)
        self.tcp_sent_n += len(data)
        step = self.chunk or len(data)
        for i in range(0, len(data), step):
            self.raw.sendall(data[i:i + step])

    def _fill(self):
        self.raw.settimeout(self.remaining())
        data = self.raw.recv(262144)
        if not data:
            self.raw_eof = True
            self.inc.write_eof()
            return
        self.tcp_recv.update(data)
        self.tcp_recv_n += len(data)
        self.inc.write(data)

    def handshake(self):
        for _ in range(1000):
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if self.raw_eof:
                    raise ConnectionError("TLS: EOF during the handshake")
                self._fill()
        else:
            raise RuntimeError("TLS handshake: too many iterations")
        self._flush()
        # taken now: after an EOF without close_notify, OpenSSL no longer reports them
        self.negotiated = {"version": self.obj.version(), "cipher": self.obj.cipher()[0],
                           "alpn": self.obj.selected_alpn_protocol(), "resumed": self.obj.session_reused}

    # -- socket API used by Conn ---------------------------------------------------
    def sendall(self, data):
        view = memoryview(data)
        for _ in range(100000):
            if not view:
                break
            n = self.obj.write(view)
            self.pt_sent += n
            view = view[n:]
        self._flush()

    def recv(self, n):
        for _ in range(100000):
            try:
                data = self.obj.read(n)
            except ssl.SSLWantReadError:
                self._flush()
                if self.raw_eof:
                    raise ConnectionError("TLS: TCP EOF inside a record")
                self._fill()
                continue
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLEOFError:
                # TCP FIN without close_notify (Chromium closes this way): logged, taken as EOF
                self.ragged_eof = True
                return b""
            self._flush()  # e.g. OpenSSL's KeyUpdate in answer to update_requested
            if not data:
                self.close_notify_received = True
            self.pt_recv += len(data)
            return data
        raise RuntimeError("TLS recv: too many iterations")

    def shutdown(self, how):
        """Half-close: close_notify, then the TCP FIN."""
        assert how == socket.SHUT_WR
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # close_notify sent, the peer's not received yet
        self.close_notify_sent = True
        self._flush()
        self.raw.shutdown(socket.SHUT_WR)

    def key_update(self, requested: bool):
        """Schedule a KeyUpdate; OpenSSL sends it before the next record."""
        if libssl().SSL_key_update(ssl_pointer(self.obj, self.server_side), 1 if requested else 0) != 1:
            raise RuntimeError("SSL_key_update failed")

    def settimeout(self, t):
        self.raw.settimeout(t)

    def setsockopt(self, *a):
        self.raw.setsockopt(*a)

    def getsockname(self):
        return self.raw.getsockname()

    def getpeername(self):
        return self.raw.getpeername()

    def close(self):
        STREAMS.pop(id(self.obj), None)
        self.raw.close()

    # -- log ---------------------------------------------------------------------
    def info(self) -> dict:
        n = self.negotiated
        return {
            "version": n["version"],
            "cipher": n["cipher"],
            "alpn": n["alpn"],
            "sni": self.sni if self.server_side else SNI,
            "resumed": n["resumed"],
            "handshake_messages": self.messages,
            "key_updates": self.key_updates,
            "close_notify": {"sent": self.close_notify_sent, "received": self.close_notify_received},
            "eof_without_close_notify": self.ragged_eof,
        }


def tls_log(c: Conn) -> dict:
    """Conn's log with its byte counts renamed to tls_plaintext, the TCP bytes
    (TLS records) as tcp, and the TLS details."""
    log = c.to_log()
    st = c.sock
    if not isinstance(st, TLSStream):
        log["tls"] = None
        return log
    log["tls_plaintext"] = log.pop("tcp")
    log["tls_plaintext_received"] = log.pop("tcp_received")
    if (st.pt_sent, st.pt_recv) != (log["tls_plaintext"]["bytes"], log["tls_plaintext_received"]["bytes"]):
        log["errors"].append(f"plaintext counts differ: TLSStream {st.pt_sent}/{st.pt_recv}, Conn {log['tls_plaintext']} "
                             f"/ {log['tls_plaintext_received']}")
    log["tcp"] = {"bytes": st.tcp_sent_n, "sha256": st.tcp_sent.hexdigest()}
    log["tcp_received"] = {"bytes": st.tcp_recv_n, "sha256": st.tcp_recv.hexdigest()}
    log["tls"] = st.info()
    return log


# ---------------------------------------------------------------------------
# TLS contexts
# ---------------------------------------------------------------------------


class TLSConfig:
    def __init__(self, version="1.3", ciphers=None, expect_cipher=None, chunk=None):
        self.version = version  # "1.3" or "1.2": minimum = maximum
        self.ciphers = ciphers  # TLS 1.2 cipher string (TLS 1.3 suites come from OPENSSL_CONF)
        self.expect_cipher = expect_cipher
        self.chunk = chunk


def make_context(cfg: TLSConfig, server: bool, args) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    v = ssl.TLSVersion.TLSv1_3 if cfg.version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    if cfg.ciphers:
        ctx.set_ciphers(cfg.ciphers)
    ctx.set_alpn_protocols(ALPN)
    if server:
        ctx.load_cert_chain(args.cert, args.key)
    else:
        ctx.load_verify_locations(args.ca)  # the self-signed cert: verified, with hostname check
    if args.keylog:
        ctx.keylog_filename = args.keylog
    ctx._msg_callback = msg_callback  # private but stable since 3.8 (used by CPython's test_ssl)
    return ctx


# ---------------------------------------------------------------------------
# Connection setup
# ---------------------------------------------------------------------------


def tls_client_connect(args, deadline, index, path, ctx, cfg, extensions=None, session=None,
                       stream_cls=TLSStream):
    """py_endpoint.client_connect with a TLS stream (or a plain socket) underneath."""
    scheme = "ws" if ctx is None else "wss"
    # Host header: the SNI name for wss (the socket itself goes to 127.0.0.1)
    host = f"{SNI}:{args.port}" if ctx is not None else f"{args.host}:{args.port}"
    uri = parse_uri(f"{scheme}://{host}{path}")
    proto = pe.logging_protocol(ClientProtocol)(uri, extensions=extensions, max_size=4 * 1024 * 1024)
    raw = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(5)
    raw.connect((args.host, args.port))
    sock = raw
    if ctx is not None:
        sock = stream_cls(raw, ctx, False, deadline, session=session, chunk=cfg.chunk)
        sock.handshake()
    c = Conn(sock, proto, "client", deadline, index)
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
        "accept_valid": (len(got_accept) == 1 and got_accept[0] == pe.accept_for(proto.key))
        if resp.status_code == 101 else None,
    }
    assert resp.status_code == 101, resp.status_code
    if proto.handshake_exc is not None:
        raise proto.handshake_exc
    assert proto.state is State.OPEN
    head_end = c.recv_raw.find(b"\r\n\r\n", c.http_recv_start)
    c.ws_start_recv = head_end + 4
    c.extensions_header = resp.headers.get("Sec-WebSocket-Extensions")
    return c


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

PACE = 0.0


def paced_exchange(ep, messages):
    for m in messages:
        if PACE:
            time.sleep(PACE)
        exchange_with_echo(ep, [m])


TLS13_FIRST = [
    ("text", "hello over TLS 1.3"),
    ("binary", det_bytes("tls13-16", 16)),
    ("text", "h\u00e9llo w\u00f6rld \u2713 \U0001F680"),
    ("ping", b"tls-ping"),
    ("text", det_text(300)),
    ("binary", det_bytes("tls13-2000", 2000)),
]
TLS13_RESUMED = [
    ("text", "hello again, on a resumed TLS session"),
    ("binary", det_bytes("tls13-resumed", 33)),
]


def welcome(ep):
    op, data = ep.next_message()
    assert op == Opcode.TEXT and data == b"welcome", (op, data)


def tls13_client(ep):
    welcome(ep)
    if ep.index == 0:
        exchange_with_echo(ep, TLS13_FIRST)
        ep.close(1000, "bye")
    else:
        exchange_with_echo(ep, TLS13_RESUMED)
        ep.close(1000, "resumed bye")
    ep.run_until_closed()


NOKEYS_MESSAGES = [
    ("text", "this session's keys are not in the capture"),
    ("binary", det_bytes("nokeys-64", 64)),
    ("ping", b"nokeys-ping"),
    ("text", det_text(500)),
]


def nokeys_client(ep):
    welcome(ep)
    exchange_with_echo(ep, NOKEYS_MESSAGES)
    ep.close(1000, "bye")
    ep.run_until_closed()


TLS12_LARGE = det_bytes("tls12-large", 40960)
TLS12_JSON = [{"type": "hello", "client": "wsscope-recorder", "tls": "1.2"},
              {"type": "subscribe", "channels": ["trades", "book"], "seq": 2},
              {"type": "hello", "client": "wsscope-recorder", "tls": "1.2"}]


def tls12_client(ep):
    assert (ep.extensions_header or "").startswith("permessage-deflate"), ep.extensions_header
    welcome(ep)
    for obj in TLS12_JSON[:2]:
        exchange_with_echo(ep, [("text", json.dumps(obj, separators=(",", ":")))])
    # 40 KB of incompressible bytes: one frame over 3 TLS records, each record over many TCP segments
    ep.send_binary(TLS12_LARGE)
    op, data = ep.next_message()
    want = f"received {len(TLS12_LARGE)} bytes, sha256 {hashlib.sha256(TLS12_LARGE).hexdigest()}"
    assert op == Opcode.TEXT and data.decode() == want, (op, data)
    exchange_with_echo(ep, [("text", json.dumps(TLS12_JSON[2], separators=(",", ":"))),
                            ("ping", b"tls12-ping")])
    ep.close(1000, "bye")
    ep.run_until_closed()


def summary_echo_server(ep):
    """welcome; text echoed ('echo: ' + text); a binary message answered with a
    short text (its length and sha256)."""
    ep.send_text("welcome")
    n = 0
    while ep.proto.state is State.OPEN:
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
            ep.send_text(f"received {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    ep.run_until_closed()


KU_BEFORE = [("text", "before any key update"), ("binary", det_bytes("ku-1", 100)), ("text", "third message")]
KU_AFTER_CLIENT = [("text", "first message after the client's KeyUpdate"), ("binary", det_bytes("ku-2", 300)),
                   ("ping", b"ku-ping")]
KU_SPLIT = det_text(3000)  # its frame is cut by the client's second KeyUpdate
KU_SPLIT_AT = 1000  # frame bytes written with the old key
KU_LAST = [("text", "after both sides updated their keys"), ("binary", det_bytes("ku-3", 50))]
SERVER_KU = "server: update your keys now"


def keyupdate_client(ep):
    st = ep.sock
    welcome(ep)
    exchange_with_echo(ep, KU_BEFORE)
    # 1: client KeyUpdate with update_requested: the server answers with its own KeyUpdate
    st.key_update(True)
    exchange_with_echo(ep, KU_AFTER_CLIENT)
    # 2: the server updates its sending key on its own (update_not_requested)
    ep.send_text(SERVER_KU)
    op, data = ep.next_message()
    assert op == Opcode.TEXT and data.decode() == "echo: " + SERVER_KU, (op, data)
    # 3: a client KeyUpdate (not requested) in the middle of a WebSocket frame: the
    #    frame's first KU_SPLIT_AT bytes go out under the old key, the rest under the new one
    st.split_next_write = KU_SPLIT_AT
    exchange_with_echo(ep, [("text", KU_SPLIT)])
    exchange_with_echo(ep, KU_LAST)
    ep.close(1000, "bye")
    ep.run_until_closed()


def keyupdate_server(ep):
    ep.send_text("welcome")
    n = 0
    while ep.proto.state is State.OPEN:
        if not ep.inbox:
            ep.pump()
            n += 1
            if n > 100000:
                raise RuntimeError("too many iterations")
            continue
        op, data = ep.inbox.pop(0)
        if op == Opcode.TEXT and data.decode() == SERVER_KU:
            ep.sock.key_update(False)
        if op == Opcode.TEXT:
            ep.send_text("echo: " + data.decode())
        elif op == Opcode.BINARY:
            ep.send_binary(data[::-1])
    ep.run_until_closed()


class SplitKeyUpdateStream(TLSStream):
    """TLSStream whose next write may be cut in two with a KeyUpdate in between."""
    split_next_write = None

    def sendall(self, data):
        cut = self.split_next_write
        if cut is None:
            return super().sendall(data)
        self.split_next_write = None
        super().sendall(bytes(data[:cut]))
        self.key_update(False)
        super().sendall(bytes(data[cut:]))


MIXED_MESSAGES = [
    ("text", "message 1"), ("binary", det_bytes("mixed-1", 40)), ("text", "message 3 " + "m" * 100),
    ("ping", b"mixed-ping"), ("text", "message 5"), ("binary", det_bytes("mixed-2", 400)),
    ("text", "h\u00e9llo \u2713"), ("text", "message 8"),
]


def mixed_client(ep):
    welcome(ep)
    kind = "wss" if isinstance(ep.sock, TLSStream) else "ws"
    paced_exchange(ep, [(k, (f"[{kind}] " + p) if k == "text" else p) for k, p in MIXED_MESSAGES])
    ep.close(1000, f"{kind} done")
    ep.run_until_closed()


def welcome_echo(ep):
    pe.echo_server(ep, True)


class Sc:
    def __init__(self, client, server, tls, conns=1, resume=False, client_ext=None, server_ext=None,
                 stream_cls=TLSStream):
        self.client, self.server, self.tls, self.conns, self.resume = client, server, tls, conns, resume
        self.client_ext, self.server_ext, self.stream_cls = client_ext, server_ext, stream_cls


SCENARIOS = {
    "py-tls13": Sc(tls13_client, welcome_echo, TLSConfig("1.3", expect_cipher="TLS_AES_256_GCM_SHA384"),
                   conns=2, resume=True),
    "py-tls12-gcm": Sc(tls12_client, summary_echo_server,
                       TLSConfig("1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256",
                                 expect_cipher="ECDHE-RSA-AES128-GCM-SHA256", chunk=1400),
                       client_ext=lambda: enable_client_permessage_deflate(None),
                       server_ext=lambda: [ServerPerMessageDeflateFactory()]),
    "keyupdate": Sc(keyupdate_client, keyupdate_server,
                    TLSConfig("1.3", expect_cipher="TLS_AES_128_GCM_SHA256"), stream_cls=SplitKeyUpdateStream),
    "tls-nokeys": Sc(nokeys_client, welcome_echo, TLSConfig("1.3", expect_cipher="TLS_AES_256_GCM_SHA384")),
    "mixed": Sc(mixed_client, welcome_echo, TLSConfig("1.3", expect_cipher="TLS_CHACHA20_POLY1305_SHA256")),
    # server side only: the client is headless Chromium (record_tls.py)
    "chromium-wss": Sc(None, welcome_echo, TLSConfig("1.3"), server_ext=lambda: [ServerPerMessageDeflateFactory()]),
}


# ---------------------------------------------------------------------------


def check_cipher(st: TLSStream, cfg: TLSConfig):
    v = {"1.3": "TLSv1.3", "1.2": "TLSv1.2"}[cfg.version]
    got_v, got_c = st.obj.version(), st.obj.cipher()[0]
    if got_v != v or (cfg.expect_cipher and got_c != cfg.expect_cipher):
        raise RuntimeError(f"negotiated {got_v} {got_c}, expected {v} {cfg.expect_cipher} "
                           "(TLS 1.3 suites come from OPENSSL_CONF, see record_tls.py)")
    if st.obj.selected_alpn_protocol() != ALPN[0]:
        raise RuntimeError(f"ALPN {st.obj.selected_alpn_protocol()!r}")


def run_client(args, deadline):
    sc = SCENARIOS[args.scenario]
    ctx = None if args.plain else make_context(sc.tls, False, args)
    conns = []
    session = None
    try:
        for i in range(sc.conns):
            path = f"/{args.scenario}" if sc.conns == 1 else f"/{args.scenario}/{i}"
            if args.plain:
                path += "/ws"
            c = tls_client_connect(args, deadline, i, path, ctx, sc.tls,
                                   extensions=sc.client_ext() if sc.client_ext else None,
                                   session=session if sc.resume else None, stream_cls=sc.stream_cls)
            if ctx is not None:
                check_cipher(c.sock, sc.tls)
                if sc.resume and i > 0 and not c.sock.obj.session_reused:
                    raise RuntimeError(f"connection {i}: the TLS session was not resumed")
            conns.append(c)
            sc.client(c)
            if ctx is not None:
                session = c.sock.obj.session
                if sc.resume and i == 0 and not (session and session.has_ticket):
                    raise RuntimeError("no session ticket after the first connection")
    finally:
        for c in conns:
            c.sock.close()
    return conns


def run_server(args, deadline):
    sc = SCENARIOS[args.scenario]
    ctx = None if args.plain else make_context(sc.tls, True, args)
    lsock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(8)

    def on_sni(obj, name, _ctx):
        st = STREAMS.get(id(obj))
        if st is not None:
            st.sni = name
        return None

    if ctx is not None:
        ctx.sni_callback = on_sni
    print("READY", flush=True)
    conns = []
    try:
        for i in range(sc.conns):
            lsock.settimeout(max(0.1, min(10, deadline - time.monotonic())))
            raw, _ = lsock.accept()
            sock = raw
            if ctx is not None:
                sock = sc.stream_cls(raw, ctx, True, deadline, chunk=sc.tls.chunk)
                sock.handshake()
                check_cipher(sock, sc.tls)
            try:
                c = pe.server_accept_conn(sock, args, deadline, i,
                                          (lambda _i: sc.server_ext()) if sc.server_ext else None)
                conns.append(c)
                sc.server(c)
            finally:
                sock.close()
    finally:
        lsock.close()
    conns.sort(key=lambda c: c.index)
    return conns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["client", "server"], required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca")
    ap.add_argument("--keylog")
    ap.add_argument("--plain", action="store_true", help="no TLS (the ws:// half of `mixed`)")
    ap.add_argument("--pace", type=float, default=0.0, help="client: milliseconds before each message")
    args = ap.parse_args()
    global PACE
    PACE = args.pace / 1000.0
    if args.host not in pe.LOOPBACK:
        sys.exit(f"refusing host {args.host!r}: loopback only")
    deadline = time.monotonic() + pe.OVERALL_TIMEOUT
    conns = run_client(args, deadline) if args.role == "client" else run_server(args, deadline)
    for c in conns:
        for a in (c.local, c.peer):
            assert a.rsplit(":", 1)[0].strip("[]") in pe.LOOPBACK, a
    log = {"role": args.role, "impl": IMPL if not args.plain else pe.IMPL,
           "connections": [tls_log(c) for c in conns]}
    with open(args.log, "w") as f:
        json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
