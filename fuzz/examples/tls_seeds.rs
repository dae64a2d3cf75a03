//! Writes the seeds of `tls_record` and `tls_keylog` (`fuzz/corpus/tls_record/seed-*`,
//! `fuzz/corpus/tls_keylog/seed-*`): crafted connections sealed here with the AEAD crates wsscope
//! uses (keys from `wsscope::tls::keys::{expand_label, prf}` and the secrets
//! `wsscope_fuzz::tls_record` puts in its key store), and the TCP payload of the real captures of
//! `testdata/captures/tls/` as the stream engine delivers it (`wsscope::pipeline::drive`).
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --no-default-features --example tls_seeds
//! ```
//!
//! The output is deterministic; rerunning rewrites the same files (seeds are named, what fuzzing
//! adds is named by content hash).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use std::path::{Path, PathBuf};
use wsscope::capture::FileSource;
use wsscope::limits::TcpLimits;
use wsscope::pipeline::{Stop, drive};
use wsscope::tcp::{Direction, StreamEvent};
use wsscope::tls::keys::{expand_label, prf};
use wsscope::tls::suite::{self, Cipher, Mac, Suite};
use wsscope_fuzz::tls_record as h;

// ---- the harness's input format (see harness/tls_record.rs) ----

/// The configuration byte.
fn cfg(keys: u8, wait: u8, swap: bool, diff: Option<u8>) -> u8 {
    keys | wait << 2 | u8::from(swap) << 4 | diff.map_or(0, |p| 32 | p << 6)
}
const KEYS_NONE: u8 = 0;
const KEYS_ALL: u8 = 1;
const KEYS_GROWING: u8 = 2;
const KEYS_WRONG: u8 = 3;
const WAIT_1M: u8 = 3;

#[derive(Default)]
struct Ops(Vec<u8>);

impl Ops {
    /// Feeds `data` in direction `dir` (0: client), cut into pieces by selector `piece`.
    fn feed(&mut self, dir: u8, data: &[u8], piece: u8) -> &mut Self {
        for c in data.chunks(0xFFFF) {
            self.0.push(dir | piece << 3);
            self.0.extend((c.len() as u16).to_le_bytes());
            self.0.extend(c);
        }
        self
    }
    /// `len` bytes lost, as one or more gap ops that add up to it exactly.
    fn gap(&mut self, dir: u8, mut len: u64) -> &mut Self {
        while len > 0 {
            let scale = (0..4u8).rev().find(|s| len >> (4 * s) > 0).unwrap_or(0);
            let n = (len >> (4 * scale)).min(0xFFFF);
            self.0.push(dir | 1 << 1 | scale << 3);
            self.0.extend((n as u16).to_le_bytes());
            len -= n << (4 * scale);
        }
        self
    }
    /// `data` fed `1 + count` times.
    fn repeat(&mut self, dir: u8, data: &[u8], count: u16) -> &mut Self {
        self.0.push(dir | 2 << 1);
        self.0.extend(count.to_le_bytes());
        self.0.push(data.len() as u8);
        self.0.extend(data);
        self
    }
    fn add_keys(&mut self) -> &mut Self {
        self.0.push(3 << 1);
        self
    }
}

// ---- TLS messages and records ----

fn hs(kind: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    [&[kind, (n >> 16) as u8, (n >> 8) as u8, n as u8][..], body].concat()
}

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    [&[ty, 3, 3, (n >> 8) as u8, n as u8][..], body].concat()
}

fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    [&ty.to_be_bytes()[..], &(body.len() as u16).to_be_bytes(), body].concat()
}

fn alpn() -> Vec<u8> {
    ext(16, &[&[0u8, 9, 8][..], b"http/1.1"].concat())
}

fn client_hello(tls13: bool, early: bool) -> Vec<u8> {
    let mut exts = alpn();
    let host = b"ws.example";
    exts.extend(ext(
        0,
        &[&[0u8, (host.len() + 3) as u8, 0, 0, host.len() as u8][..], host].concat(),
    ));
    if tls13 {
        exts.extend(ext(43, &[4, 3, 4, 3, 3]));
    }
    if early {
        exts.extend(ext(42, &[]));
    }
    let mut b = vec![3, 3];
    b.extend(h::RANDOM);
    b.push(0);
    let suites = [0x1301u16, 0x1302, 0x1303, 0xc02f, 0xc030, 0xcca8, 0xc013];
    b.extend(((suites.len() * 2) as u16).to_be_bytes());
    suites.iter().for_each(|s| b.extend(s.to_be_bytes()));
    b.extend([1, 0]);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs(1, &b))
}

const SERVER_RANDOM: [u8; 32] = [0x77; 32];
/// The random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

fn server_hello(random: [u8; 32], version: u16, cipher: u16, etm: bool) -> Vec<u8> {
    let mut exts = Vec::new();
    if version == 0x0304 {
        exts.extend(ext(43, &[3, 4]));
    } else {
        exts.extend(alpn());
        if etm {
            exts.extend(ext(22, &[]));
        }
    }
    let mut b = vec![3, 3];
    b.extend(random);
    b.push(0);
    b.extend(cipher.to_be_bytes());
    b.push(0);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs(2, &b))
}

enum Aead {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    fn new(cipher: Cipher, key: &[u8]) -> Aead {
        match cipher {
            Cipher::AesGcm { key: 16 } => {
                Aead::A128(Box::new(Aes128Gcm::new_from_slice(key).unwrap()))
            }
            Cipher::AesGcm { .. } => Aead::A256(Box::new(Aes256Gcm::new_from_slice(key).unwrap())),
            _ => Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).unwrap())),
        }
    }
    /// Encrypts `buf` in place and appends the tag.
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let tag = match self {
            Aead::A128(a) => a.encrypt_in_place_detached(n, aad, buf),
            Aead::A256(a) => a.encrypt_in_place_detached(n, aad, buf),
            Aead::ChaCha(a) => a.encrypt_in_place_detached(n, aad, buf),
        };
        buf.extend_from_slice(&tag.unwrap());
    }
}

fn xor_seq(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    n[4..].iter_mut().zip(seq.to_be_bytes()).for_each(|(b, s)| *b ^= s);
    n
}

/// One direction's TLS 1.3 traffic keys from a secret, with its record sequence number.
struct Keys13 {
    suite: Suite,
    secret: Vec<u8>,
    aead: Aead,
    iv: [u8; 12],
    seq: u64,
}

impl Keys13 {
    fn new(suite: Suite, secret: &[u8]) -> Keys13 {
        let len = match suite.cipher {
            Cipher::AesGcm { key } => key,
            _ => 32,
        };
        let key = expand_label(suite.hash, secret, b"key", b"", len).unwrap();
        let iv = expand_label(suite.hash, secret, b"iv", b"", 12).unwrap().try_into().unwrap();
        Keys13 { suite, secret: secret.to_vec(), aead: Aead::new(suite.cipher, &key), iv, seq: 0 }
    }
    /// The next generation (RFC 8446 §7.2).
    fn updated(&self) -> Keys13 {
        let h = self.suite.hash;
        Keys13::new(
            self.suite,
            &expand_label(h, &self.secret, b"traffic upd", b"", h.size()).unwrap(),
        )
    }
    fn seal(&mut self, ty: u8, data: &[u8], pad: usize) -> Vec<u8> {
        let mut buf = data.to_vec();
        buf.push(ty);
        buf.extend(std::iter::repeat_n(0, pad));
        let len = (buf.len() + 16) as u16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        self.aead.seal(&xor_seq(&self.iv, self.seq), &header, &mut buf);
        self.seq += 1;
        [header.to_vec(), buf].concat()
    }
}

/// One direction's TLS 1.2 keys from the key block.
struct Keys12 {
    cipher: Cipher,
    aead: Option<Aead>,
    iv: Vec<u8>,
    key: Vec<u8>,
    mac_key: Vec<u8>,
    etm: bool,
    seq: u64,
}

impl Keys12 {
    fn new(suite: Suite, client: bool, etm: bool) -> Keys12 {
        let (mac, key, iv) = match suite.cipher {
            Cipher::AesGcm { key } => (0, key, 4),
            Cipher::ChaCha20Poly1305 => (0, 32, 12),
            Cipher::AesCbc { key, mac } => (mac.size(), key, 0),
        };
        let seed = [SERVER_RANDOM, h::RANDOM].concat();
        let block = prf(suite.hash, &h::MASTER, b"key expansion", &seed, 2 * (mac + key + iv));
        let pick = |start: usize, len: usize| {
            let s = start + if client { 0 } else { len };
            block[s..s + len].to_vec()
        };
        let (mac_key, k, iv) = (pick(0, mac), pick(2 * mac, key), pick(2 * (mac + key), iv));
        let aead =
            (!matches!(suite.cipher, Cipher::AesCbc { .. })).then(|| Aead::new(suite.cipher, &k));
        Keys12 { cipher: suite.cipher, aead, iv, key: k, mac_key, etm, seq: 0 }
    }
    fn seal(&mut self, ty: u8, data: &[u8]) -> Vec<u8> {
        let seq = self.seq;
        self.seq += 1;
        let aad = |len: usize| {
            [&seq.to_be_bytes()[..], &[ty, 3, 3], &(len as u16).to_be_bytes()].concat()
        };
        let body = match (&self.aead, self.cipher) {
            (Some(a), Cipher::AesGcm { .. }) => {
                let explicit = (seq ^ 0x0102_0304).to_be_bytes();
                let nonce: [u8; 12] = [&self.iv[..], &explicit].concat().try_into().unwrap();
                let mut buf = data.to_vec();
                a.seal(&nonce, &aad(data.len()), &mut buf);
                [explicit.to_vec(), buf].concat()
            }
            (Some(a), _) => {
                let mut buf = data.to_vec();
                a.seal(
                    &xor_seq(&self.iv.clone().try_into().unwrap(), seq),
                    &aad(data.len()),
                    &mut buf,
                );
                buf
            }
            (None, Cipher::AesCbc { mac, .. }) => self.cbc(mac, &aad, data),
            _ => unreachable!(),
        };
        record(ty, &body)
    }
    fn cbc(&self, mac: Mac, aad: &dyn Fn(usize) -> Vec<u8>, data: &[u8]) -> Vec<u8> {
        use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
        use hmac::Mac as _;
        assert!(matches!(mac, Mac::Sha1));
        let hmac = |parts: &[&[u8]]| {
            let mut m =
                <hmac::Hmac<sha1::Sha1> as hmac::Mac>::new_from_slice(&self.mac_key).unwrap();
            parts.iter().for_each(|p| m.update(p));
            m.finalize().into_bytes().to_vec()
        };
        let iv = [0x42u8; 16];
        let mut inner = data.to_vec();
        if !self.etm {
            inner.extend(hmac(&[&aad(data.len()), data]));
        }
        let pad = 15 - inner.len() % 16;
        inner.extend(std::iter::repeat_n(pad as u8, pad + 1));
        let n = inner.len();
        cbc::Encryptor::<aes::Aes128>::new_from_slices(&self.key, &iv)
            .unwrap()
            .encrypt_padded_mut::<NoPadding>(&mut inner, n)
            .unwrap();
        let mut body = [iv.to_vec(), inner].concat();
        if self.etm {
            body.extend(hmac(&[&aad(body.len()), &body]));
        }
        body
    }
}

const REQUEST: &[u8] =
    b"GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const RESPONSE: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// A masked client text frame and an unmasked server one.
const CLIENT_FRAME: &[u8] = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
const SERVER_FRAME: &[u8] = b"\x81\x05Hello";

/// A TLS 1.3 connection as client and server flights, in capture order: (direction, bytes).
fn tls13(cipher: u16, early: bool, key_update: bool, retry: bool) -> Vec<(u8, Vec<u8>)> {
    let s = suite::find(cipher).unwrap();
    let mut c_hs = Keys13::new(s, &h::CLIENT_HANDSHAKE);
    let mut s_hs = Keys13::new(s, &h::SERVER_HANDSHAKE);
    let mut c_app = Keys13::new(s, &h::CLIENT_TRAFFIC);
    let mut s_app = Keys13::new(s, &h::SERVER_TRAFFIC);
    let mut c_early = Keys13::new(s, &h::CLIENT_EARLY);
    let mut f = Vec::new();
    let mut ch = client_hello(true, early);
    if retry {
        f.push((0, ch.clone()));
        f.push((1, server_hello(HRR, 0x0304, cipher, false)));
        ch = client_hello(true, false);
    }
    ch.extend(record(20, &[1]));
    if early {
        ch.extend(c_early.seal(23, &REQUEST[..20], 0));
    }
    f.push((0, ch));
    let ee = hs(8, &[&(alpn().len() as u16).to_be_bytes()[..], &alpn()].concat());
    let flight = [ee, hs(11, &[0; 300]), hs(15, &[0; 72]), hs(20, &[9; 32])].concat();
    let mut sf = server_hello(SERVER_RANDOM, 0x0304, cipher, false);
    sf.extend(record(20, &[1]));
    sf.extend(s_hs.seal(22, &flight[..200], 0));
    sf.extend(s_hs.seal(22, &flight[200..], 7));
    f.push((1, sf));
    let mut cf = Vec::new();
    if early {
        cf.extend(c_early.seal(22, &hs(5, &[]), 0)); // EndOfEarlyData
    }
    cf.extend(c_hs.seal(22, &hs(20, &[8; 32]), 0));
    let req = if early { &REQUEST[20..] } else { REQUEST };
    cf.extend(c_app.seal(23, &req[..30], 0));
    cf.extend(c_app.seal(23, &req[30..], 3));
    f.push((0, cf));
    let mut sf = s_app.seal(22, &hs(4, &[0; 40]), 0); // NewSessionTicket
    sf.extend(s_app.seal(23, RESPONSE, 0));
    f.push((1, sf));
    f.push((0, c_app.seal(23, CLIENT_FRAME, 0)));
    if key_update {
        let mut cf = c_app.seal(22, &hs(24, &[1]), 0); // KeyUpdate(update_requested)
        c_app = c_app.updated();
        cf.extend(c_app.seal(23, CLIENT_FRAME, 0));
        f.push((0, cf));
        let mut sf = s_app.seal(23, SERVER_FRAME, 0);
        sf.extend(s_app.seal(22, &hs(24, &[0]), 0));
        s_app = s_app.updated();
        sf.extend(s_app.seal(23, &[SERVER_FRAME; 3].concat(), 0));
        f.push((1, sf));
        // One more generation whose KeyUpdate the capture lost: the layer tries the next keys.
        s_app = s_app.updated();
        f.push((1, s_app.seal(23, SERVER_FRAME, 0)));
    } else {
        f.push((1, s_app.seal(23, SERVER_FRAME, 0)));
    }
    f.push((0, c_app.seal(21, &[1, 0], 0)));
    f.push((1, s_app.seal(21, &[1, 0], 0)));
    f
}

/// A TLS 1.2 connection (full handshake, the client's Finished first).
fn tls12(cipher: u16, etm: bool) -> Vec<(u8, Vec<u8>)> {
    let s = suite::find(cipher).unwrap();
    let mut ck = Keys12::new(s, true, etm);
    let mut sk = Keys12::new(s, false, etm);
    let mut f = vec![(0, client_hello(false, false))];
    let mut sf = server_hello(SERVER_RANDOM, 0x0303, cipher, etm);
    sf.extend(record(22, &[hs(11, &[0; 200]), hs(12, &[0; 100]), hs(14, &[])].concat()));
    f.push((1, sf));
    let mut cf = record(22, &hs(16, &[0; 33]));
    cf.extend(record(20, &[1]));
    cf.extend(ck.seal(22, &hs(20, &[1; 12])));
    f.push((0, cf));
    let mut sf = record(22, &hs(4, &[0; 50])); // NewSessionTicket, in clear in TLS 1.2
    sf.extend(record(20, &[1]));
    sf.extend(sk.seal(22, &hs(20, &[2; 12])));
    f.push((1, sf));
    f.push((0, [ck.seal(23, &REQUEST[..40]), ck.seal(23, &REQUEST[40..])].concat()));
    f.push((1, sk.seal(23, RESPONSE)));
    f.push((0, ck.seal(23, CLIENT_FRAME)));
    f.push((1, sk.seal(23, SERVER_FRAME)));
    f.push((0, ck.seal(21, &[1, 0])));
    f.push((1, sk.seal(21, &[1, 0])));
    f
}

fn ops_of(flights: &[(u8, Vec<u8>)], piece: u8) -> Ops {
    let mut o = Ops::default();
    for (d, b) in flights {
        o.feed(*d, b, piece);
    }
    o
}

fn crafted() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut put = |name: &str, c: u8, o: &Ops| {
        seeds.push((name.to_string(), [&[c][..], &o.0].concat()));
    };
    let all = cfg(KEYS_ALL, WAIT_1M, false, None);
    for (name, cipher) in [("aes128gcm", 0x1301), ("aes256gcm", 0x1302), ("chacha20", 0x1303)] {
        put(&format!("tls13-{name}"), all, &ops_of(&tls13(cipher, false, false, false), 0));
    }
    let ku = tls13(0x1301, false, true, false);
    put("tls13-key-updates", all, &ops_of(&ku, 0));
    put("tls13-key-updates-diff7", cfg(KEYS_ALL, WAIT_1M, false, Some(2)), &ops_of(&ku, 0));
    put("tls13-key-updates-1-byte-pieces", all, &ops_of(&ku, 1));
    put("tls13-key-updates-swapped", cfg(KEYS_ALL, WAIT_1M, true, None), &ops_of(&ku, 0));
    put("tls13-early-data", all, &ops_of(&tls13(0x1302, true, false, false), 0));
    put("tls13-hello-retry", all, &ops_of(&tls13(0x1303, false, false, true), 0));
    put("tls13-no-key-log", cfg(KEYS_NONE, WAIT_1M, false, None), &ops_of(&ku, 0));
    put("tls13-wrong-keys", cfg(KEYS_WRONG, WAIT_1M, false, None), &ops_of(&ku, 0));
    // Keys that come late: the records wait, then decrypt (or, over 100 bytes, are given up).
    let mut late = ops_of(&ku, 0);
    late.add_keys();
    late.feed(1, &Keys13::new(suite::find(0x1301).unwrap(), &[1; 32]).seal(23, b"x", 0), 0);
    put("tls13-keys-late", cfg(KEYS_GROWING, WAIT_1M, false, None), &late);
    put("tls13-keys-too-late", cfg(KEYS_GROWING, 1, false, None), &late);
    // Lost bytes: part of the server's response record and its next record.
    let mut lost = Ops::default();
    for (k, (d, b)) in ku.iter().enumerate() {
        if k == 5 {
            lost.feed(*d, &b[..10], 0).gap(*d, b.len() as u64 - 10);
        } else {
            lost.feed(*d, b, 0);
        }
    }
    put("tls13-gap-then-resync", all, &lost);
    // A direction that starts inside a record, and one that is not TLS at all.
    let mut mid = Ops::default();
    mid.feed(1, &ku[4].1[7..], 0).feed(0, b"GET / HTTP/1.1\r\n\r\n", 0);
    put("tls13-mid-record-and-not-tls", all, &mid);
    for (name, cipher, etm) in [
        ("aes128gcm", 0xc02f, false),
        ("aes256gcm", 0xc030, false),
        ("chacha20", 0xcca8, false),
        ("aes128cbc-sha1", 0xc013, false),
        ("aes128cbc-sha1-etm", 0xc013, true),
    ] {
        put(&format!("tls12-{name}"), all, &ops_of(&tls12(cipher, etm), 0));
    }
    put(
        "tls12-aes128gcm-diff3",
        cfg(KEYS_ALL, WAIT_1M, false, Some(1)),
        &ops_of(&tls12(0xc02f, false), 0),
    );
    // Many records in one repeat op: a long stream from a few bytes.
    let mut many = ops_of(&tls12(0xcca8, false)[..4], 0);
    many.repeat(1, &record(23, &[0x55; 40]), 2000);
    put("tls12-chacha20-many-bad-records", all, &many);
    seeds
}

/// The connections of a capture as the stream engine delivers them: per connection, in
/// order, (direction, Some(bytes)) or (direction, None) with a gap length.
type Stream = Vec<(u8, Result<Vec<u8>, u64>)>;

fn connections(path: &Path) -> Vec<Stream> {
    let mut src = FileSource::open(path, None).unwrap();
    let mut conns: Vec<(wsscope::tcp::ConnId, Stream)> = Vec::new();
    let stop = Stop::new(None);
    let slot = |id, conns: &mut Vec<(wsscope::tcp::ConnId, Stream)>| match conns
        .iter()
        .position(|(c, _)| *c == id)
    {
        Some(i) => i,
        None => {
            conns.push((id, Vec::new()));
            conns.len() - 1
        }
    };
    let dir = |d: Direction| u8::from(d == Direction::ServerToClient);
    drive(&mut src, &TcpLimits::default(), &stop, &mut |e: StreamEvent<'_>| match e {
        StreamEvent::Data { conn, dir: d, data, .. } => {
            let i = slot(conn, &mut conns);
            conns[i].1.push((dir(d), Ok(data.to_vec())));
        }
        StreamEvent::Gap { conn, dir: d, len, .. } => {
            let i = slot(conn, &mut conns);
            conns[i].1.push((dir(d), Err(len)));
        }
        _ => {}
    });
    conns.into_iter().map(|(_, s)| s).collect()
}

fn ops_of_stream(s: &[(u8, Result<Vec<u8>, u64>)], budget: usize) -> Ops {
    let mut o = Ops::default();
    for (d, x) in s {
        if o.0.len() >= budget {
            break;
        }
        match x {
            Ok(b) => o.feed(*d, b, 0),
            Err(n) => o.gap(*d, *n),
        };
    }
    o
}

fn real(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let dir = root.join("testdata/captures/tls");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap")) // tls13-dsb.pcapng repeats py-tls13
        .collect();
    files.sort();
    let all = cfg(KEYS_ALL, WAIT_1M, false, None);
    for f in files {
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        for (n, conn) in connections(&f).into_iter().enumerate().take(2) {
            let name = format!("real-{stem}-{n}");
            // The handshake and the first records, then the same with a segment lost.
            let head = ops_of_stream(&conn, 6000);
            seeds.push((format!("{name}-head"), [&[all][..], &head.0].concat()));
            let app: Vec<usize> = (0..conn.len())
                .filter(|&i| i >= 4 && matches!(&conn[i].1, Ok(b) if b.len() > 40))
                .collect();
            if let Some(&lose) = app.first() {
                let mut lost = conn.clone();
                let (d, x) = &lost[lose];
                let len = x.as_ref().map_or(0, Vec::len) as u64;
                lost[lose] = (*d, Err(len));
                let o = ops_of_stream(&lost, 6000);
                seeds.push((format!("{name}-lost-segment"), [&[all][..], &o.0].concat()));
            }
            // From the middle: no handshake.
            if conn.len() > 12 {
                let o = ops_of_stream(&conn[conn.len() / 2..], 3000);
                seeds.push((format!("{name}-middle"), [&[all][..], &o.0].concat()));
            }
        }
    }
    seeds
}

fn keylog_seeds(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let dir = root.join("testdata/captures/tls");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "keys"))
        .collect();
    files.sort();
    for f in files {
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        seeds.push((format!("real-{stem}"), std::fs::read(&f).unwrap()));
    }
    seeds.push(("crafted-every-label".into(), h::keylog(|s| *s).into_bytes()));
    let r = "5a".repeat(32);
    let odd = format!(
        "# comment\r\n\r\nCLIENT_RANDOM {r}\nCLIENT_RANDOM zz {m}\nCLIENT_RANDOM {r} abc\n\
         CLIENT_RANDOM {r} {s}\nCLIENT_RANDOM {r} {m} extra\n\tCLIENT_TRAFFIC_SECRET_7\t{R}  {s} \r\n\
         SERVER_TRAFFIC_SECRET_N {r} {s}\nSERVER_TRAFFIC_SECRET_4294967296 {r} {s}\nEXPORTER_SECRET {r} {s}\n\
         CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {long}\nCLIENT_EARLY_TRAFFIC_SECRET {r} {s}",
        m = "00".repeat(48),
        s = "AB".repeat(32),
        R = r.to_uppercase(),
        long = "11".repeat(65),
    );
    seeds.push(("crafted-malformed-and-odd".into(), odd.into_bytes()));
    seeds
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let write = |target: &str, seeds: Vec<(String, Vec<u8>)>| {
        let dir = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let mut total = 0;
        for (name, data) in &seeds {
            // Every seed must pass the target's checks.
            match target {
                "tls_record" => h::run(data),
                _ => wsscope_fuzz::tls_keylog::run(data),
            }
            std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
            total += data.len();
        }
        println!("{target}: {} seeds, {total} bytes", seeds.len());
    };
    let mut record = crafted();
    record.extend(real(&root));
    write("tls_record", record);
    write("tls_keylog", keylog_seeds(&root));
}
