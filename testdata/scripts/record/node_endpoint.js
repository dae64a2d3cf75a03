#!/usr/bin/env node
'use strict';
// One WebSocket endpoint (client or server) using the `ws` package.
//
// Ground truth written to --log (JSON), same format as py_endpoint.py:
//  * tcp: byte count and sha256 of every byte handed to the kernel for the
//    WebSocket's TCP socket.  net.Socket.prototype._write/_writev are wrapped:
//    these are the only paths by which a stream.Writable socket passes data to
//    its libuv handle (socket.write(), cork()/uncork(), the HTTP client's
//    request writes all end up there).  A chunk is counted only when its write
//    callback reports success, so the order is the completion order of the
//    (strictly sequential) writes and failed writes are never counted (a
//    failed write is recorded as an error and makes the run fail).
//  * sent: every frame ws's Sender was asked to emit (Sender.prototype.send /
//    ping / pong / close, which also catches the automatic pong and the
//    automatic close echo), with the payload before compression; the RSV1 bit
//    comes from wrapping the static Sender.frame(), which frames each message at
//    the moment it goes on the wire (ws keeps frames in order).
//  * received: 'message' / 'ping' / 'pong' events and the received close frame.
//
// Usage: node node_endpoint.js --role client|server --scenario NAME --host H --port P --log FILE
//        [--cert PEM --key PEM (server) | --ca PEM (client)] [--keylog FILE]
// (`ws` is resolved through NODE_PATH.)
//
// Scenarios with a `tls` entry run over wss:// (record_tls.py): the server is an
// https.Server, the client connects to wss://localhost:PORT (IPv4, SNI
// "localhost", the self-signed --ca trusted), both offer ALPN http/1.1, and each
// side appends the TLS 'keylog' lines of its socket to --keylog.  `tcp` in the
// log then counts the plaintext written into the TLS socket (TLSSocket uses
// net.Socket's _write too); the driver calls it tls_plaintext.  `tls` holds
// what the socket reports (protocol, cipher, ALPN, SNI, session reuse).

const net = require('net');
const crypto = require('crypto');
const fs = require('fs');

// ---------------------------------------------------------------- byte logging
const socketLogs = new WeakMap();
function logFor(sock) {
  let l = socketLogs.get(sock);
  if (!l) {
    l = { hash: crypto.createHash('sha256'), bytes: 0, writes: 0, errors: [] };
    socketLogs.set(sock, l);
  }
  return l;
}
function toBuf(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return Buffer.from(chunk); // copy: ws may reuse/mask buffers later
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding && encoding !== 'buffer' ? encoding : 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  throw new Error('unexpected chunk type ' + typeof chunk);
}
const origWrite = net.Socket.prototype._write;
const origWritev = net.Socket.prototype._writev;
function wrapCb(sock, bufs, cb) {
  const l = logFor(sock);
  return (err) => {
    if (err) l.errors.push(String(err));
    else {
      for (const b of bufs) {
        l.hash.update(b);
        l.bytes += b.length;
      }
      l.writes += 1;
    }
    cb(err);
  };
}
net.Socket.prototype._write = function (data, encoding, cb) {
  const bufs = [toBuf(data, encoding)];
  return origWrite.call(this, data, encoding, wrapCb(this, bufs, cb));
};
net.Socket.prototype._writev = function (chunks, cb) {
  const bufs = chunks.map((c) =>
    c && c.chunk !== undefined ? toBuf(c.chunk, c.encoding) : toBuf(c, 'buffer')
  );
  return origWritev.call(this, chunks, wrapCb(this, bufs, cb));
};

// ---------------------------------------------------------------- ws + frame logging
const WS = require('ws');
const { WebSocket, WebSocketServer, Sender } = WS;
const WS_VERSION = require('ws/package.json').version;
const IMPL = `node ws ${WS_VERSION} (Node ${process.version})`;

const sentLog = []; // app-level frames, in call order
const framed = []; // {opcode, rsv1} per Sender.frame call, in wire order
const receivedLog = [];

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}
function describe(type, buf, extra) {
  const d = { type, length: buf.length, sha256: sha256(buf) };
  if (type === 'text' && buf.length <= 200) d.payload_text = buf.toString('utf8');
  if (type === 'close') {
    if (buf.length >= 2) {
      d.close_code = buf.readUInt16BE(0);
      d.close_reason = buf.subarray(2).toString('utf8');
    } else {
      d.close_code = 1005;
      d.close_reason = '';
    }
  }
  return Object.assign(d, extra || {});
}
function payloadBuf(data) {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  throw new Error('unexpected payload type');
}

const origSend = Sender.prototype.send;
Sender.prototype.send = function (data, options, cb) {
  if (!options.fin) throw new Error('fragmented send not expected');
  sentLog.push({ type: options.binary ? 'binary' : 'text', buf: payloadBuf(data) });
  return origSend.call(this, data, options, cb);
};
const origPing = Sender.prototype.ping;
Sender.prototype.ping = function (data, mask, cb) {
  sentLog.push({ type: 'ping', buf: payloadBuf(data) });
  return origPing.call(this, data, mask, cb);
};
const origPong = Sender.prototype.pong;
Sender.prototype.pong = function (data, mask, cb) {
  sentLog.push({ type: 'pong', buf: payloadBuf(data) });
  return origPong.call(this, data, mask, cb);
};
const origClose = Sender.prototype.close;
Sender.prototype.close = function (code, data, mask, cb) {
  let buf;
  if (code === undefined) buf = Buffer.alloc(0);
  else {
    const reason = data === undefined ? Buffer.alloc(0) : payloadBuf(data);
    buf = Buffer.alloc(2 + reason.length);
    buf.writeUInt16BE(code, 0);
    reason.copy(buf, 2);
  }
  sentLog.push({ type: 'close', buf });
  return origClose.call(this, code, data, mask, cb);
};
const origFrame = Sender.frame;
Sender.frame = function (data, options) {
  framed.push({ opcode: options.opcode, fin: !!options.fin, rsv1: !!options.rsv1 });
  return origFrame.call(this, data, options);
};

const OPCODES = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

function attachReceiveLogging(ws, inbox) {
  ws.on('message', (data, isBinary) => {
    const buf = payloadBuf(data);
    receivedLog.push(describe(isBinary ? 'binary' : 'text', buf));
    inbox.push({ type: isBinary ? 'binary' : 'text', buf });
  });
  ws.on('ping', (data) => receivedLog.push(describe('ping', payloadBuf(data))));
  ws.on('pong', (data) => {
    receivedLog.push(describe('pong', payloadBuf(data)));
    inbox.push({ type: 'pong', buf: payloadBuf(data) });
  });
}

function receivedCloseFrame(ws) {
  if (!ws._closeFrameReceived) return;
  const code = ws._closeCode;
  let buf;
  if (code === 1005) buf = Buffer.alloc(0);
  else {
    const reason = payloadBuf(ws._closeMessage);
    buf = Buffer.alloc(2 + reason.length);
    buf.writeUInt16BE(code, 0);
    reason.copy(buf, 2);
  }
  receivedLog.push(describe('close', buf));
}

// A tiny awaitable inbox so scenarios can be written request/response style.
class Inbox {
  constructor() {
    this.items = [];
    this.waiter = null;
  }
  push(m) {
    this.items.push(m);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }
  async next() {
    while (this.items.length === 0) {
      await new Promise((resolve) => (this.waiter = resolve));
    }
    return this.items.shift();
  }
}

// ---------------------------------------------------------------- scenarios
function detBytes(seed, n) {
  const out = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const d = crypto.createHash('sha256').update(`${seed}:${i}`).digest();
    out.push(d);
    len += d.length;
  }
  return Buffer.concat(out).subarray(0, n);
}
function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

const NODE_BASIC_MESSAGES = [
  ['text', 'hello from ws'],
  ['binary', detBytes('node-basic-20', 20)],
  ['text', JSON.stringify({ kind: 'json', list: [1, 2, 3], nested: { ok: true } })],
  ['binary', detBytes('node-basic-64k', 65536)],
  ['ping', Buffer.from('are you there?')],
  ['text', 'last one \u00e4\u00f6\u00fc'],
];

const NODE_TLS_MESSAGES = [
  ['text', 'hello over TLS 1.2 with ChaCha20-Poly1305'],
  ['binary', detBytes('node-tls-20', 20)],
  ['text', JSON.stringify({ kind: 'json', list: [1, 2, 3], nested: { ok: true }, pad: 'p'.repeat(1500) })],
  ['binary', detBytes('node-tls-6000', 6000)],
  ['ping', Buffer.from('tls ping')],
  ['text', 'last one \u00e4\u00f6\u00fc'],
];

function echoClient(messages) {
  return (ws, inbox) => basicClient(ws, inbox, messages);
}

async function nodeBasicClient(ws, inbox) {
  return basicClient(ws, inbox, NODE_BASIC_MESSAGES);
}

async function basicClient(ws, inbox, messages) {
  let m = await inbox.next();
  assert(m.type === 'text' && m.buf.toString() === 'welcome', 'welcome');
  for (const [kind, payload] of messages) {
    if (kind === 'text') {
      ws.send(payload);
      m = await inbox.next();
      assert(m.type === 'text' && m.buf.toString() === 'echo: ' + payload, 'text echo');
    } else if (kind === 'binary') {
      ws.send(payload, { binary: true });
      m = await inbox.next();
      assert(m.type === 'binary' && m.buf.equals(Buffer.from(payload).reverse()), 'binary echo');
    } else if (kind === 'ping') {
      ws.ping(payload);
      m = await inbox.next();
      assert(m.type === 'pong' && m.buf.equals(payload), 'pong');
    }
  }
  ws.send('please close');
  // the server closes with 1001; ws echoes the close frame automatically
}

async function echoServer(ws, inbox) {
  ws.send('welcome');
  for (let i = 0; i < 1000; i++) {
    const m = await inbox.next();
    if (m.type === 'text') {
      const t = m.buf.toString('utf8');
      if (t === 'please close') {
        ws.close(1001, 'going away');
        return;
      }
      ws.send('echo: ' + t);
    } else if (m.type === 'binary') {
      ws.send(Buffer.from(m.buf).reverse(), { binary: true });
    }
  }
}

async function deflateServer(ws, inbox) {
  ws.send(JSON.stringify({ type: 'welcome', server: 'ws', compression: 'permessage-deflate' }));
  for (let n = 1; n <= 1000; n++) {
    const m = await inbox.next();
    if (m.type !== 'text') continue;
    const obj = JSON.parse(m.buf.toString('utf8'));
    if (obj.type === 'subscribe') {
      const book = [];
      for (let i = 0; i < 80; i++) {
        book.push({ level: i, bid: 99.5 - i * 0.25, ask: 100.5 + i * 0.25, size: (i * 37) % 101 });
      }
      ws.send(JSON.stringify({ type: 'snapshot', channels: obj.channels, book }));
    }
    ws.send(JSON.stringify({ type: 'ack', n, echo: obj }));
  }
}

const SCENARIOS = {
  'node-basic': { client: nodeBasicClient, server: echoServer, clientDeflate: false, serverDeflate: false },
  'py-node-deflate': { client: null, server: deflateServer, clientDeflate: true, serverDeflate: true },
  // wss:// (testdata/scripts/record/record_tls.py): TLS 1.2 with ChaCha20-Poly1305, permessage-deflate
  // with context takeover (ws then compresses every data message, small ones too)
  'node-tls12-chacha': {
    client: echoClient(NODE_TLS_MESSAGES),
    server: echoServer,
    clientDeflate: true,
    serverDeflate: true,
    tls: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' },
  },
};

// ---------------------------------------------------------------- main
function parseArgs() {
  const a = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['role', 'scenario', 'host', 'port', 'log']) {
    if (a[k] === undefined) throw new Error('missing --' + k);
  }
  a.port = Number(a.port);
  return a;
}

const LOOPBACK = new Set(['127.0.0.1', '::1']);
function fmtAddr(host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function tlsInfo(socket, role) {
  if (typeof socket.getProtocol !== 'function') return null;
  const c = socket.getCipher() || {};
  return {
    version: socket.getProtocol(),
    cipher: c.name,
    cipher_iana: c.standardName,
    alpn: socket.alpnProtocol || null,
    sni: role === 'server' ? socket.servername || null : 'localhost',
    resumed: socket.isSessionReused(),
  };
}

function finish(args, ws, sock, info, exitCode, error) {
  receivedCloseFrame(ws);
  const l = sock ? logFor(sock) : { hash: crypto.createHash('sha256'), bytes: 0, writes: 0, errors: [] };
  const errors = l.errors.slice();
  if (error) errors.push(String(error && error.stack ? error.stack : error));
  // zip the application-level frames with what Sender.frame emitted
  if (framed.length !== sentLog.length) errors.push(`framed ${framed.length} != sent ${sentLog.length}`);
  const sent = sentLog.map((s, i) => {
    const f = framed[i] || {};
    if (f.opcode !== OPCODES[s.type] || f.fin !== true) errors.push(`frame ${i}: opcode/fin mismatch`);
    return describe(s.type, s.buf, { compressed: !!f.rsv1 });
  });
  const log = {
    role: args.role,
    impl: IMPL,
    local: info.local,
    peer: info.peer,
    extensions: info.extensions === undefined ? null : info.extensions,
    tcp: { bytes: l.bytes, sha256: l.hash.digest('hex'), writes: l.writes },
    tls: info.tls === undefined ? null : info.tls,
    sent,
    received: receivedLog,
    errors,
  };
  fs.writeFileSync(args.log, JSON.stringify(log, null, 1));
  process.exit(errors.length ? 1 : exitCode);
}

function main() {
  const args = parseArgs();
  if (!LOOPBACK.has(args.host)) throw new Error('refusing non-loopback host ' + args.host);
  const sc = SCENARIOS[args.scenario];
  if (!sc) throw new Error('unknown scenario ' + args.scenario);
  const inbox = new Inbox();
  const info = {};
  let sock = null;
  let ws = null;
  const failsafe = setTimeout(() => {
    process.stderr.write(`${args.role}: timeout\n`);
    finish(args, ws || {}, sock, info, 2, 'timeout');
  }, 15000);
  failsafe.unref();

  const onOpen = (socket) => {
    sock = socket;
    assert(LOOPBACK.has(socket.localAddress) && LOOPBACK.has(socket.remoteAddress), 'loopback');
    info.local = fmtAddr(socket.localAddress, socket.localPort);
    info.peer = fmtAddr(socket.remoteAddress, socket.remotePort);
    info.tls = tlsInfo(socket, args.role);
  };
  const keylog = (line) => {
    if (args.keylog) fs.appendFileSync(args.keylog, line);
  };
  const run = (fn) => {
    fn(ws, inbox).catch((err) => {
      process.stderr.write(`${args.role}: ${err.stack}\n`);
      finish(args, ws, sock, info, 1, err);
    });
  };

  if (args.role === 'server') {
    let httpsServer = null;
    if (sc.tls) {
      httpsServer = require('https').createServer({
        key: fs.readFileSync(args.key),
        cert: fs.readFileSync(args.cert),
        ALPNProtocols: ['http/1.1'],
        ...sc.tls,
      });
      httpsServer.on('keylog', keylog);
    }
    const wss = new WebSocketServer({
      ...(httpsServer ? { server: httpsServer } : { host: args.host, port: args.port }),
      perMessageDeflate: sc.serverDeflate,
      maxPayload: 4 * 1024 * 1024,
    });
    if (httpsServer) httpsServer.listen(args.port, args.host);
    wss.on('listening', () => process.stdout.write('READY\n'));
    wss.on('headers', (headers) => {
      const h = headers.find((x) => /^sec-websocket-extensions:/i.test(x));
      info.extensions = h ? h.replace(/^[^:]*:\s*/, '') : null;
    });
    wss.on('error', (err) => finish(args, {}, null, info, 1, err));
    wss.once('connection', (conn) => {
      ws = conn;
      if (info.extensions === undefined) info.extensions = null;
      onOpen(ws._socket);
      attachReceiveLogging(ws, inbox);
      ws.on('error', (err) => finish(args, ws, sock, info, 1, err));
      ws.on('close', () => {
        wss.close();
        if (httpsServer) httpsServer.close();
        finish(args, ws, sock, info, 0);
      });
      run(sc.server);
    });
  } else {
    const hostport = fmtAddr(args.host, args.port);
    const url = sc.tls ? `wss://localhost:${args.port}/${args.scenario}` : `ws://${hostport}/${args.scenario}`;
    const tlsOpts = sc.tls
      ? { ca: fs.readFileSync(args.ca), family: args.host.includes(':') ? 6 : 4, ALPNProtocols: ['http/1.1'], ...sc.tls }
      : {};
    ws = new WebSocket(url, {
      perMessageDeflate: sc.clientDeflate,
      maxPayload: 4 * 1024 * 1024,
      ...tlsOpts,
    });
    if (sc.tls) ws._req.on('socket', (s) => s.on('keylog', keylog));
    ws.on('upgrade', (res) => {
      const h = res.headers['sec-websocket-extensions'];
      info.extensions = h === undefined ? null : h;
    });
    attachReceiveLogging(ws, inbox);
    ws.on('open', () => {
      onOpen(ws._socket);
      run(sc.client);
    });
    ws.on('error', (err) => finish(args, ws, sock, info, 1, err));
    ws.on('close', () => finish(args, ws, sock, info, 0));
  }
}

main();
