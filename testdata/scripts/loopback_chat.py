#!/usr/bin/env python3
"""wsscope test traffic: a tiny WebSocket server and client on 127.0.0.1:8080 (stdlib only): handshake, two text
messages echoed, a ping answered, a clean close from the client."""
import base64, hashlib, os, socket, struct, threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def read_frame(s):
    h = recv_exact(s, 2)
    op, ln, masked = h[0] & 0x0F, h[1] & 0x7F, h[1] & 0x80
    if ln == 126:
        ln = struct.unpack("!H", recv_exact(s, 2))[0]
    elif ln == 127:
        ln = struct.unpack("!Q", recv_exact(s, 8))[0]
    key = recv_exact(s, 4) if masked else None
    p = recv_exact(s, ln)
    if key:
        p = bytes(b ^ key[i % 4] for i, b in enumerate(p))
    return op, p

def frame(op, payload, mask):
    h = bytes([0x80 | op])
    ln = len(payload)
    m = 0x80 if mask else 0
    h += bytes([m | ln]) if ln < 126 else bytes([m | 126]) + struct.pack("!H", ln)
    if mask:
        key = os.urandom(4)
        return h + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return h + payload

def serve(ls):
    c, _ = ls.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        req += c.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    while True:
        op, p = read_frame(c)
        if op == 1:
            c.sendall(frame(1, p, False))
        elif op == 9:
            c.sendall(frame(10, p, False))
        elif op == 8:
            c.sendall(frame(8, p, False))
            break
    c.close()

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 8080))
ls.listen(1)
t = threading.Thread(target=serve, args=(ls,))
t.start()

s = socket.create_connection(("127.0.0.1", 8080))
key = base64.b64encode(os.urandom(16))
s.sendall(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Origin: http://127.0.0.1:8080\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
resp = b""
while b"\r\n\r\n" not in resp:
    resp += s.recv(4096)
assert resp.startswith(b"HTTP/1.1 101"), resp
for m in (b"hello", b'{"id": 1, "op": "subscribe"}'):
    s.sendall(frame(1, m, True))
    assert read_frame(s) == (1, m)
s.sendall(frame(9, b"ping-1", True))
assert read_frame(s) == (10, b"ping-1")
s.sendall(frame(8, struct.pack("!H", 1000) + b"bye", True))
assert read_frame(s)[0] == 8
s.close()
t.join()
ls.close()
print("integration tests: ok")
