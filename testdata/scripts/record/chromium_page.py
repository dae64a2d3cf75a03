#!/usr/bin/env python3
"""HTTP server for the chromium-deflate scenario (127.0.0.1 only).

GET /      a page whose script opens ws://127.0.0.1:WS_PORT/chromium-deflate,
           waits for the server's welcome, sends JSON text and binary messages
           one at a time (waiting for each echo), closes with 1000 "done" and
           then POSTs what it sent and received (type, length, sha256 of the
           payload computed with crypto.subtle; close code and reason) to /log.
POST /log  writes that JSON to --log, prints LOGGED and exits.

--ws-url replaces that URL (record_tls.py: wss://localhost:PORT/chromium-wss).

Prints READY once listening.  Gives up after --timeout seconds.
Usage: chromium_page.py --port P --ws-port W --log FILE [--timeout S] [--ws-url URL]
"""

import argparse
import http.server
import json
import sys
import threading

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>wsscope chromium recorder</title></head>
<body><pre id="out">running</pre>
<script>
"use strict";
const WS_URL = "ws://127.0.0.1:__WS_PORT__/chromium-deflate";
const enc = new TextEncoder();
const hex = (buf) => Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, "0")).join("");
const sha = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));
function detBytes(seed, n) {  // xorshift32: incompressible-looking bytes
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
function pattern(n) {  // very compressible bytes
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = 65 + (i % 16);
  return out;
}
const quote = (i) => JSON.stringify({type: "quote", seq: i, symbol: "WSS-USD", bid: 100.25 + i, ask: 100.75 + i,
                                     venue: "chromium", flags: ["firm", "streaming"]});
const MESSAGES = [
  ["text", quote(0)],
  ["text", quote(1)],
  ["binary", pattern(300)],
  ["text", quote(2)],
  ["binary", detBytes(12345, 64)],
  ["text", JSON.stringify({type: "bulk", items: Array.from({length: 80},
                           (_, i) => ({id: i, px: 100 + i / 4, side: i % 2 ? "buy" : "sell"}))})],
  ["text", "h\u00e9llo from chromium \u2713 \u{1F680}"],
  ["text", quote(3)],
];
const CLOSE_CODE = 1000, CLOSE_REASON = "done";

const log = {userAgent: navigator.userAgent, sent: [], received: [], errors: [], close: null};
const sentRaw = [], recvRaw = [];
const inbox = [];
let wake = null;
function closePayload(code, reason) {
  const r = enc.encode(reason);
  const b = new Uint8Array(2 + r.length);
  b[0] = code >> 8; b[1] = code & 0xff; b.set(r, 2);
  return b;
}
function nextMessage() {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timeout waiting for a message")), 10000);
    const take = () => { clearTimeout(t); resolve(inbox.shift()); };
    if (inbox.length) take(); else wake = take;
  });
}
let posted = false;
async function finish() {
  if (posted) return;
  posted = true;
  for (const [kind, bytes, extra] of sentRaw) log.sent.push(Object.assign({type: kind, length: bytes.length, sha256: await sha(bytes)}, extra));
  for (const [kind, bytes, extra] of recvRaw) log.received.push(Object.assign({type: kind, length: bytes.length, sha256: await sha(bytes)}, extra));
  await fetch("/log", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(log)});
  document.getElementById("out").textContent = "done";
}
setTimeout(() => { log.errors.push("page timeout"); finish(); }, 14000);

const ws = new WebSocket(WS_URL);
ws.binaryType = "arraybuffer";
ws.onmessage = (ev) => {
  const isText = typeof ev.data === "string";
  const bytes = isText ? enc.encode(ev.data) : new Uint8Array(ev.data);
  recvRaw.push([isText ? "text" : "binary", bytes, {}]);
  inbox.push([isText ? "text" : "binary", bytes]);
  if (wake) { const w = wake; wake = null; w(); }
};
ws.onerror = () => log.errors.push("error event");
ws.onclose = (ev) => {
  log.close = {code: ev.code, reason: ev.reason, wasClean: ev.wasClean};
  if (ev.code !== 1005 && ev.code !== 1006) {
    recvRaw.push(["close", closePayload(ev.code, ev.reason), {close_code: ev.code, close_reason: ev.reason}]);
  }
  finish();
};
ws.onopen = async () => {
  try {
    log.extensions = ws.extensions;
    const [k0, w] = await nextMessage();
    if (k0 !== "text" || new TextDecoder().decode(w) !== "welcome") log.errors.push("no welcome");
    for (const [kind, payload] of MESSAGES) {
      const bytes = kind === "text" ? enc.encode(payload) : payload;
      sentRaw.push([kind, bytes, {}]);
      ws.send(payload);
      const [k, echo] = await nextMessage();
      const want = kind === "text" ? enc.encode("echo: " + payload) : bytes.slice().reverse();
      if (k !== kind || echo.length !== want.length || echo.some((b, i) => b !== want[i])) {
        log.errors.push("wrong echo for a " + kind + " message of " + bytes.length + " bytes");
      }
    }
    sentRaw.push(["close", closePayload(CLOSE_CODE, CLOSE_REASON), {close_code: CLOSE_CODE, close_reason: CLOSE_REASON}]);
    ws.close(CLOSE_CODE, CLOSE_REASON);
  } catch (e) {
    log.errors.push(String(e));
    finish();
  }
};
</script></body></html>
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ws-port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--timeout", type=float, default=40.0)
    ap.add_argument("--ws-url", default=None, help="the WebSocket URL (default ws://127.0.0.1:WS_PORT/chromium-deflate)")
    args = ap.parse_args()
    page = PAGE
    if args.ws_url:
        page = page.replace('"ws://127.0.0.1:__WS_PORT__/chromium-deflate"', json.dumps(args.ws_url))
    page = page.replace("__WS_PORT__", str(args.ws_port)).encode()
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # keep stderr quiet
            pass

        def do_GET(self):
            if self.path in ("/", "/index.html"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(page)
            else:
                self.send_error(404)

        def do_POST(self):
            if self.path != "/log":
                self.send_error(404)
                return
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            obj = json.loads(body)
            with open(args.log, "w") as f:
                json.dump(obj, f, indent=1)
            self.send_response(204)
            self.end_headers()
            done.set()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    print("READY", flush=True)
    ok = done.wait(args.timeout)
    srv.shutdown()
    srv.server_close()
    if not ok:
        sys.exit("chromium_page: no log posted in time")
    print("LOGGED", flush=True)


if __name__ == "__main__":
    main()
