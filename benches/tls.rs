//! TLS decryption benchmark: what the TLS layer costs next to the AEAD it is built on, measured in
//! the same run.
//!
//! # What is measured
//!
//! 1. **The floor**: raw AEAD decryption of 16 KiB records (the largest TLS record) with the
//!    crates wsscope uses — RustCrypto `aes-gcm` (AES-128-GCM, AES-256-GCM) and
//!    `chacha20poly1305` — and with `ring` 0.17 (a dev-dependency, for the comparison only), each
//!    record copied into a scratch buffer first (as wsscope copies a record out of its
//!    reassembly buffer) and opened in place; 64 distinct records, 64 MiB in all, best of 5,
//!    RustCrypto and ring alternately. A plain copy of the same bytes is the floor under the
//!    floor.
//! 2. **`TlsLayer`**: one connection's server→client stream — the handshake, then 64 MiB of
//!    application data in 16 KiB records — fed in 1448-byte TCP segments to a fresh
//!    `wsscope::tls::TlsLayer` holding the keys (from key log text, as `--keylog` gives them);
//!    TLS 1.3 with each of its three suites, TLS 1.2 AES-128-GCM and ChaCha20-Poly1305. MB/s of
//!    plaintext out, and the ratio to the floor of the same cipher (1.00: the layer costs nothing
//!    beyond the AEAD), the layer and its floor run alternately, best of 3. Every run checks that
//!    exactly the plaintext sent came out.
//! 3. **The whole pipeline**: the `wsscope` binary (`report`, as a child process, 3 runs
//!    interleaved, median) on a generated capture of 4 WebSocket connections — each an HTTP
//!    upgrade, 100 binary messages of 64 KiB and 20,000 small texts from the server, 5,000 small
//!    masked texts from the client — once as plaintext ws:// and once inside TLS 1.3
//!    AES-128-GCM (the small messages one record each, the large ones in 16 KiB records), the
//!    latter read without and with `--keylog`. The reports must agree: every message of the
//!    plaintext capture is decoded from the decrypted one, none without keys.
//! 4. **Memory per TLS connection**: `size_of::<TlsLayer>()`, and its `footprint()` (what it
//!    charges to the memory budget) next to the heap it holds (counted by this binary's global
//!    allocator), after the handshake and with a 16 KiB record half received, TLS 1.3 and 1.2.
//!
//! In-process rates are computed from the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), the
//! pipeline's from the child's user + system time (`wait4`), not from wall time: on a shared
//! machine wall time also counts what other processes ran (wall times are printed too). MB
//! means 10^6 bytes, MiB 2^20.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench tls          # about 30 s
//! cargo test --bench tls           # correctness only: small streams, every suite, no timing
//! ```
//!
//! `WSSCOPE_BENCH_KEEP=1` keeps the captures and the key log. No timing is asserted; the exit
//! status is non-zero when a check fails.

#[allow(dead_code, reason = "shared by the benchmarks; each uses a part")]
mod common;
#[path = "../testdata/scripts/hostile.rs"]
mod hostile;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use anyhow::{Context, Result};
use chacha20poly1305::ChaCha20Poly1305;
use common::{MB, Summary, Tool, keep_if_asked, measure, warm_page_cache};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use wsscope::tcp::{Direction, PacketRef};
use wsscope::tls::keys::{expand_label, prf};
use wsscope::tls::suite::{self, Cipher, Suite};
use wsscope::tls::{KeyStore, Out, TlsConfig, TlsLayer};

/// Counts live heap bytes (for the memory table); otherwise the system allocator.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, Relaxed);
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The largest TLS plaintext record.
const RECORD: usize = 16 * 1024;
/// TCP segment payload the streams are fed in.
const SEGMENT: usize = 1448;

// ── Keys: a key log for one client random, and the records its peers would send ──────────────

const RANDOM: [u8; 32] = [0x5a; 32];
const SERVER_RANDOM: [u8; 32] = [0x77; 32];
const C_HS: [u8; 48] = [0x11; 48];
const S_HS: [u8; 48] = [0x22; 48];
const C_AP: [u8; 48] = [0x33; 48];
const S_AP: [u8; 48] = [0x44; 48];
const MASTER: [u8; 48] = [0x66; 48];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn keylog() -> String {
    let r = hex(&RANDOM);
    [
        ("CLIENT_RANDOM", &MASTER),
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &C_HS),
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", &S_HS),
        ("CLIENT_TRAFFIC_SECRET_0", &C_AP),
        ("SERVER_TRAFFIC_SECRET_0", &S_AP),
    ]
    .iter()
    .map(|(l, s)| format!("{l} {r} {}\n", hex(*s)))
    .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Alg {
    const ALL: [Alg; 3] = [Alg::Aes128Gcm, Alg::Aes256Gcm, Alg::ChaCha20Poly1305];
    fn of(c: Cipher) -> Alg {
        match c {
            Cipher::AesGcm { key: 16 } => Alg::Aes128Gcm,
            Cipher::AesGcm { .. } => Alg::Aes256Gcm,
            _ => Alg::ChaCha20Poly1305,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Alg::Aes128Gcm => "AES-128-GCM",
            Alg::Aes256Gcm => "AES-256-GCM",
            Alg::ChaCha20Poly1305 => "ChaCha20-Poly1305",
        }
    }
    fn key_len(self) -> usize {
        if self == Alg::Aes128Gcm { 16 } else { 32 }
    }
}

/// RustCrypto's AEADs, as wsscope holds them.
enum Aead {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    fn new(alg: Alg, key: &[u8]) -> Aead {
        match alg {
            Alg::Aes128Gcm => Aead::A128(Box::new(Aes128Gcm::new_from_slice(key).unwrap())),
            Alg::Aes256Gcm => Aead::A256(Box::new(Aes256Gcm::new_from_slice(key).unwrap())),
            Alg::ChaCha20Poly1305 => {
                Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).unwrap()))
            }
        }
    }
    /// Encrypts `buf` and appends the tag.
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let tag = match self {
            Aead::A128(a) => a.encrypt_in_place_detached(n, aad, buf),
            Aead::A256(a) => a.encrypt_in_place_detached(n, aad, buf),
            Aead::ChaCha(a) => a.encrypt_in_place_detached(n, aad, buf),
        };
        buf.extend_from_slice(&tag.unwrap());
    }
    /// Opens `buf` (ciphertext then tag) in place; whether it authenticated.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> bool {
        let (data, tag) = buf.split_at_mut(buf.len() - 16);
        let (n, tag) = (aes_gcm::Nonce::from_slice(nonce), aes_gcm::Tag::from_slice(tag));
        match self {
            Aead::A128(a) => a.decrypt_in_place_detached(n, aad, data, tag),
            Aead::A256(a) => a.decrypt_in_place_detached(n, aad, data, tag),
            Aead::ChaCha(a) => a.decrypt_in_place_detached(n, aad, data, tag),
        }
        .is_ok()
    }
}

fn xor_seq(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    n[4..].iter_mut().zip(seq.to_be_bytes()).for_each(|(b, s)| *b ^= s);
    n
}

/// One direction's record protection, as its sender applies it.
struct Sealer {
    aead: Aead,
    /// TLS 1.3 and TLS 1.2 ChaCha: the IV; TLS 1.2 GCM: the 4-byte salt.
    iv: Vec<u8>,
    tls13: bool,
    gcm12: bool,
    seq: u64,
}

impl Sealer {
    fn tls13(s: Suite, secret: &[u8]) -> Sealer {
        let alg = Alg::of(s.cipher);
        let key = expand_label(s.hash, secret, b"key", b"", alg.key_len()).unwrap();
        let iv = expand_label(s.hash, secret, b"iv", b"", 12).unwrap();
        Sealer { aead: Aead::new(alg, &key), iv, tls13: true, gcm12: false, seq: 0 }
    }
    fn tls12(s: Suite, client: bool) -> Sealer {
        let alg = Alg::of(s.cipher);
        let (key, iv) = (alg.key_len(), if alg == Alg::ChaCha20Poly1305 { 12 } else { 4 });
        let seed = [SERVER_RANDOM, RANDOM].concat();
        let block = prf(s.hash, &MASTER, b"key expansion", &seed, 2 * (key + iv));
        let side = usize::from(!client);
        let k = &block[side * key..(side + 1) * key];
        let iv = block[2 * key + side * iv..2 * key + (side + 1) * iv].to_vec();
        let gcm12 = alg != Alg::ChaCha20Poly1305;
        Sealer { aead: Aead::new(alg, k), iv, tls13: false, gcm12, seq: 0 }
    }
    /// A whole record of content type `ty` carrying `data`.
    fn seal(&mut self, ty: u8, data: &[u8]) -> Vec<u8> {
        let seq = self.seq;
        self.seq += 1;
        let aad12 = |len: usize| {
            [&seq.to_be_bytes()[..], &[ty, 3, 3], &(len as u16).to_be_bytes()].concat()
        };
        let mut buf = data.to_vec();
        if self.tls13 {
            buf.push(ty);
            let len = (buf.len() + 16) as u16;
            let header = [23, 3, 3, (len >> 8) as u8, len as u8];
            self.aead.seal(&xor_seq(&self.iv.clone().try_into().unwrap(), seq), &header, &mut buf);
            return [&header[..], &buf].concat();
        }
        let (explicit, nonce) = if self.gcm12 {
            let e = seq.to_be_bytes();
            (e.to_vec(), [&self.iv[..], &e].concat().try_into().unwrap())
        } else {
            (Vec::new(), xor_seq(&self.iv.clone().try_into().unwrap(), seq))
        };
        self.aead.seal(&nonce, &aad12(data.len()), &mut buf);
        let body = [explicit, buf].concat();
        let n = body.len();
        [&[ty, 3, 3, (n >> 8) as u8, n as u8][..], &body].concat()
    }
}

// ── Handshakes ───────────────────────────────────────────────────────────────────────────────

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

fn client_hello(tls13: bool) -> Vec<u8> {
    let mut exts = ext(16, &[&[0u8, 9, 8][..], b"http/1.1"].concat());
    if tls13 {
        exts.extend(ext(43, &[2, 3, 4]));
    }
    let mut b = vec![3, 3];
    b.extend(RANDOM);
    b.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs(1, &b))
}

fn server_hello(tls13: bool, cipher: u16) -> Vec<u8> {
    let exts = if tls13 { ext(43, &[3, 4]) } else { Vec::new() };
    let mut b = vec![3, 3];
    b.extend(SERVER_RANDOM);
    b.push(0);
    b.extend(cipher.to_be_bytes());
    b.push(0);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs(2, &b))
}

/// A connection's handshake: the client's bytes, the server's, and both application data
/// sealers, positioned after the handshake's records.
fn handshake(s: Suite) -> (Vec<u8>, Vec<u8>, Sealer, Sealer) {
    let mut client = client_hello(s.tls13);
    let mut server = server_hello(s.tls13, s.id);
    if s.tls13 {
        let mut c_hs = Sealer::tls13(s, &C_HS);
        let mut s_hs = Sealer::tls13(s, &S_HS);
        server.extend(record(20, &[1]));
        let flight = [hs(8, &[0, 0]), hs(11, &[0; 1200]), hs(15, &[0; 260]), hs(20, &[9; 32])];
        server.extend(s_hs.seal(22, &flight.concat()));
        client.extend(record(20, &[1]));
        client.extend(c_hs.seal(22, &hs(20, &[8; 32])));
        (client, server, Sealer::tls13(s, &C_AP), Sealer::tls13(s, &S_AP))
    } else {
        let (mut c, mut sv) = (Sealer::tls12(s, true), Sealer::tls12(s, false));
        server.extend(record(22, &[hs(11, &[0; 1200]), hs(12, &[0; 300]), hs(14, &[])].concat()));
        client.extend(record(22, &hs(16, &[0; 33])));
        client.extend(record(20, &[1]));
        client.extend(c.seal(22, &hs(20, &[1; 12])));
        server.extend(record(20, &[1]));
        server.extend(sv.seal(22, &hs(20, &[2; 12])));
        (client, server, c, sv)
    }
}

/// Application data that does not compress or repeat in ways a cipher could notice.
fn payload(n: usize, salt: u64) -> Vec<u8> {
    wsscope::ws::encode::Noise(0x9E37_79B9_7F4A_7C15 ^ salt).bytes(n)
}

// ── 1. the floor ─────────────────────────────────────────────────────────────────────────────

/// CPU time of the calling thread: on a shared machine, wall time also counts the time other
/// processes had the core.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The smallest thread CPU time of `runs` runs of `f`, and its last result.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = thread_cpu();
        let r = f();
        best = best.min(thread_cpu() - t);
        last = Some(r);
    }
    (best, last.unwrap())
}

/// `best_of` for two functions, run alternately (a change in machine load hits both alike).
fn best_of_pair<A, B>(
    runs: usize,
    mut f: impl FnMut() -> A,
    mut g: impl FnMut() -> B,
) -> ((Duration, A), (Duration, B)) {
    let (mut a, mut b) = ((Duration::MAX, None), (Duration::MAX, None));
    for _ in 0..runs {
        let (ta, ra) = best_of(1, &mut f);
        let (tb, rb) = best_of(1, &mut g);
        a = (a.0.min(ta), Some(ra));
        b = (b.0.min(tb), Some(rb));
    }
    ((a.0, a.1.unwrap()), (b.0, b.1.unwrap()))
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / MB
}

/// 64 sealed 16 KiB records (ciphertext and tag), their nonces, and the key.
struct Records {
    key: Vec<u8>,
    sealed: Vec<Vec<u8>>,
    nonces: Vec<[u8; 12]>,
}

const AAD: [u8; 5] = [23, 3, 3, 0x40, 0x11];

fn records(alg: Alg) -> Records {
    let key = payload(alg.key_len(), 1);
    let aead = Aead::new(alg, &key);
    let nonces: Vec<[u8; 12]> = (0..64u64).map(|i| xor_seq(&[7; 12], i)).collect();
    let sealed = nonces
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut b = payload(RECORD, i as u64);
            aead.seal(n, &AAD, &mut b);
            b
        })
        .collect();
    Records { key, sealed, nonces }
}

/// Opens `total` bytes of records with RustCrypto; returns the bytes opened.
fn floor_rustcrypto(alg: Alg, r: &Records, total: usize) -> usize {
    let aead = Aead::new(alg, &r.key);
    let mut scratch = vec![0u8; RECORD + 16];
    let mut done = 0;
    'outer: loop {
        for (s, n) in r.sealed.iter().zip(&r.nonces) {
            if done >= total {
                break 'outer;
            }
            scratch.copy_from_slice(s);
            assert!(aead.open(n, &AAD, &mut scratch), "a record did not open");
            black_box(&scratch);
            done += RECORD;
        }
    }
    done
}

fn ring_alg(alg: Alg) -> &'static ring::aead::Algorithm {
    match alg {
        Alg::Aes128Gcm => &ring::aead::AES_128_GCM,
        Alg::Aes256Gcm => &ring::aead::AES_256_GCM,
        Alg::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
    }
}

/// The same with ring (the records were sealed by RustCrypto: the same algorithm).
fn floor_ring(alg: Alg, r: &Records, total: usize) -> usize {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(ring_alg(alg), &r.key).unwrap());
    let mut scratch = vec![0u8; RECORD + 16];
    let mut done = 0;
    'outer: loop {
        for (s, n) in r.sealed.iter().zip(&r.nonces) {
            if done >= total {
                break 'outer;
            }
            scratch.copy_from_slice(s);
            let nonce = Nonce::assume_unique_for_key(*n);
            let plain = key.open_in_place(nonce, Aad::from(AAD), &mut scratch).expect("opens");
            black_box(&plain);
            done += RECORD;
        }
    }
    done
}

fn floor_copy(r: &Records, total: usize) -> usize {
    let mut scratch = vec![0u8; RECORD + 16];
    let mut done = 0;
    'outer: loop {
        for s in &r.sealed {
            if done >= total {
                break 'outer;
            }
            scratch.copy_from_slice(black_box(s));
            black_box(&scratch);
            done += RECORD;
        }
    }
    done
}

// ── 2. the layer ─────────────────────────────────────────────────────────────────────────────

/// The suites measured through the layer: (label, IANA id).
const SUITES: [(&str, u16); 5] = [
    ("TLS 1.3 AES-128-GCM", 0x1301),
    ("TLS 1.3 AES-256-GCM", 0x1302),
    ("TLS 1.3 ChaCha20-Poly1305", 0x1303),
    ("TLS 1.2 AES-128-GCM", 0xc02f),
    ("TLS 1.2 ChaCha20-Poly1305", 0xcca8),
];

/// A connection whose server sends `app` bytes of application data in full records.
struct Stream {
    client: Vec<u8>,
    server: Vec<u8>,
    /// Bytes of `server` before its first application data record.
    server_handshake: usize,
    app: Vec<u8>,
}

fn stream(s: Suite, app_len: usize) -> Stream {
    let (mut client, mut server, mut c, mut sv) = handshake(s);
    client.extend(c.seal(23, b"GET /stream HTTP/1.1\r\nHost: bench\r\n\r\n"));
    let app = payload(app_len, s.id.into());
    let server_handshake = server.len();
    for chunk in app.chunks(RECORD) {
        server.extend(sv.seal(23, chunk));
    }
    Stream { client, server, server_handshake, app }
}

fn store() -> Arc<KeyStore> {
    let s = KeyStore::new();
    s.add_text(keylog().as_bytes());
    Arc::new(s)
}

fn at(packet: u64) -> PacketRef {
    PacketRef { packet, ..Default::default() }
}

/// Feeds the client's bytes, then the server's in segments; returns the server's plaintext
/// bytes out (checked against `st.app` when `check`).
fn decrypt(st: &Stream, keys: &Arc<KeyStore>, check: bool) -> usize {
    let mut l = TlsLayer::new(TlsConfig { keys: Some(keys.clone()), max_key_wait: 1 << 20 });
    let mut out = Vec::new();
    l.feed(Direction::ClientToServer, 0, &st.client, at(1), &mut out);
    let mut plain = 0usize;
    let mut off = 0u64;
    for (i, seg) in st.server.chunks(SEGMENT).enumerate() {
        let mut out = Vec::new();
        l.feed(Direction::ServerToClient, off, seg, at(i as u64 + 2), &mut out);
        off += seg.len() as u64;
        for o in out {
            match o {
                Out::Plain { dir: Direction::ServerToClient, offset, data, .. } => {
                    if check {
                        assert_eq!(offset as usize, plain);
                        assert_eq!(&st.app[plain..plain + data.len()], &data[..], "plaintext");
                    }
                    plain += data.len();
                }
                Out::Plain { .. } => {}
                other => panic!("unexpected output: {other:?}"),
            }
        }
    }
    l.finish(at(u64::MAX), &mut out);
    assert_eq!(plain, st.app.len(), "every byte decrypted");
    plain
}

// ── 4. memory ────────────────────────────────────────────────────────────────────────────────

/// (footprint, heap) of a boxed layer after the handshake, and with half a record received.
fn memory(s: Suite, keys: &Arc<KeyStore>) -> [(usize, usize); 2] {
    let st = stream(s, RECORD);
    let handshake_len = st.server_handshake;
    let before = LIVE.load(Relaxed);
    let mut l =
        Box::new(TlsLayer::new(TlsConfig { keys: Some(keys.clone()), max_key_wait: 1 << 20 }));
    let mut out = Vec::new();
    l.feed(Direction::ClientToServer, 0, &st.client, at(1), &mut out);
    for (i, seg) in st.server[..handshake_len].chunks(SEGMENT).enumerate() {
        l.feed(Direction::ServerToClient, (i * SEGMENT) as u64, seg, at(2), &mut out);
    }
    drop(std::mem::take(&mut out));
    let after_hs = (l.footprint(), LIVE.load(Relaxed) - before);
    let half = &st.server[handshake_len..handshake_len + RECORD / 2];
    for (i, seg) in half.chunks(SEGMENT).enumerate() {
        l.feed(
            Direction::ServerToClient,
            (handshake_len + i * SEGMENT) as u64,
            seg,
            at(3),
            &mut out,
        );
    }
    assert!(out.is_empty(), "nothing decrypted yet");
    let mid = (l.footprint(), LIVE.load(Relaxed) - before);
    drop(l);
    [after_hs, mid]
}

// ── 3. the pipeline ──────────────────────────────────────────────────────────────────────────

const CONNECTIONS: u32 = 4;
const BIG: usize = 100;
const BIG_LEN: usize = 64 * 1024;
const SMALL: usize = 20_000;
const CLIENT_SMALL: usize = 5_000;

/// Writes ws.pcap, wss.pcap and wss.keys into `dir`; returns the messages per capture.
fn captures(dir: &Path, scale: usize) -> Result<usize> {
    let s = suite::find(0x1301).unwrap();
    let (mut ws, mut wss) = (hostile::Pcap::new(), hostile::Pcap::new());
    let mut messages = 0;
    for i in 0..CONNECTIONS {
        let (mut a, mut b) = (hostile::Conn::new(i), hostile::Conn::new(i));
        a.open(&mut ws);
        b.open(&mut wss);
        let (client, server, mut c, mut sv) = handshake(s);
        b.write(&mut wss, hostile::CLIENT, &client[..client_hello(true).len()], SEGMENT);
        b.write(&mut wss, hostile::SERVER, &server, SEGMENT);
        b.write(&mut wss, hostile::CLIENT, &client[client_hello(true).len()..], SEGMENT);
        // (direction, plaintext, one record per message or 16 KiB records)
        let mut exchanges: Vec<(usize, Vec<u8>)> =
            vec![(hostile::CLIENT, request(i)), (hostile::SERVER, response())];
        let mut x = 0u64;
        for k in 0..(BIG / scale).max(1) {
            let data = payload(BIG_LEN, (u64::from(i) << 32) + k as u64);
            exchanges
                .push((hostile::SERVER, hostile::frame(true, 0, hostile::BINARY, None, &data)));
            for _ in 0..(SMALL / BIG) {
                x += 1;
                let t = format!(
                    r#"{{"type":"tick","seq":{x},"px":{}.{:02},"venue":"X"}}"#,
                    100 + x % 50,
                    x % 100
                );
                exchanges.push((
                    hostile::SERVER,
                    hostile::frame(true, 0, hostile::TEXT, None, t.as_bytes()),
                ));
            }
            for _ in 0..(CLIENT_SMALL / BIG).max(1) {
                let t = format!(r#"{{"op":"ack","seq":{x}}}"#);
                let m = hostile::mask_for(x as u32);
                exchanges.push((
                    hostile::CLIENT,
                    hostile::frame(true, 0, hostile::TEXT, Some(m), t.as_bytes()),
                ));
            }
            messages += 1 + SMALL / BIG + (CLIENT_SMALL / BIG).max(1);
        }
        for (from, plain) in &exchanges {
            a.write(&mut ws, *from, plain, SEGMENT);
            let sealer = if *from == hostile::CLIENT { &mut c } else { &mut sv };
            let sealed: Vec<u8> = plain.chunks(RECORD).flat_map(|p| sealer.seal(23, p)).collect();
            b.write(&mut wss, *from, &sealed, SEGMENT);
            a.ack(&mut ws, 1 - *from);
            b.ack(&mut wss, 1 - *from);
        }
        a.close(&mut ws);
        b.close(&mut wss);
    }
    std::fs::write(dir.join("ws.pcap"), &ws.out)?;
    std::fs::write(dir.join("wss.pcap"), &wss.out)?;
    std::fs::write(dir.join("wss.keys"), keylog())?;
    Ok(messages)
}

fn request(i: u32) -> Vec<u8> {
    format!(
        "GET /feed/{i} HTTP/1.1\r\nHost: bench.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

fn response() -> Vec<u8> {
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        .to_vec()
}

fn wsscope(label: &'static str, args: &[&Path]) -> Tool {
    let mut a: Vec<std::ffi::OsString> = vec!["report".into()];
    a.extend(args.iter().map(|p| p.as_os_str().to_owned()));
    a.extend(["--fail-on".into(), "never".into()]);
    Tool { label, program: PathBuf::from(env!("CARGO_BIN_EXE_wsscope")), args: a }
}

/// Runs `tool` once and reads (messages, tls_decrypted) from its report.
fn report_counts(tool: &Tool, dir: &Path) -> Result<(u64, u64)> {
    let path = dir.join("report.json");
    tool.run(Stdio::from(std::fs::File::create(&path)?), dir)?;
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
        .with_context(|| format!("{}: not a report", tool.shell()))?;
    let n = |k: &str| doc["summary"][k].as_u64().unwrap_or(u64::MAX);
    Ok((n("messages"), n("tls_decrypted")))
}

fn pipeline(scale: usize, timing: bool) -> Result<bool> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let t = Instant::now();
    let expected = captures(dir, scale)?;
    let (ws, wss, keys) = (dir.join("ws.pcap"), dir.join("wss.pcap"), dir.join("wss.keys"));
    let sizes = (std::fs::metadata(&ws)?.len(), std::fs::metadata(&wss)?.len());
    println!(
        "captures: ws.pcap {:.1} MB, wss.pcap {:.1} MB ({} connections, {expected} messages in all; written in {:.1} s)",
        sizes.0 as f64 / MB,
        sizes.1 as f64 / MB,
        CONNECTIONS,
        t.elapsed().as_secs_f64()
    );
    let tools = [
        wsscope("ws:// (plaintext)", &[&ws]),
        wsscope("wss://, no key log", &[&wss]),
        wsscope("wss:// --keylog", &[&wss, Path::new("--keylog"), &keys]),
    ];
    let counts: Vec<(u64, u64)> =
        tools.iter().map(|t| report_counts(t, dir)).collect::<Result<_>>()?;
    let want = expected as u64;
    let ok =
        counts[0].0 == want && counts[1] == (0, 0) && counts[2] == (want, u64::from(CONNECTIONS));
    println!(
        "check: {} — messages (decrypted connections): plaintext {} ({}), no key log {} ({}), --keylog {} ({}); expected {want} ({CONNECTIONS} decrypted)",
        if ok { "OK" } else { "FAILED" },
        counts[0].0,
        counts[0].1,
        counts[1].0,
        counts[1].1,
        counts[2].0,
        counts[2].1
    );
    if !timing || !ok {
        keep_if_asked(tmp);
        return Ok(ok);
    }
    for p in [&ws, &wss] {
        warm_page_cache(p)?;
    }
    let samples = measure(&tools, dir)?;
    println!();
    println!(
        "{:<22} {:>13} {:>8} {:>16} {:>13} {:>12}",
        "wsscope report",
        "median wall s",
        "CPU s",
        "capture MB/CPU s",
        "peak RSS MiB",
        "CPU vs ws://"
    );
    let cpu = |s: &[common::Sample]| {
        s.iter().map(|x| x.cpu).min().unwrap_or_default().as_secs_f64().max(1e-3)
    };
    let base = cpu(&samples[0]);
    for (tool, s) in tools.iter().zip(&samples) {
        let sum = Summary::of(s);
        let size = if tool.label.starts_with("ws:") { sizes.0 } else { sizes.1 };
        println!(
            "{:<22} {:>13.2} {:>8.2} {:>16.0} {:>13.1} {:>11.2}x",
            tool.label,
            sum.median.wall.as_secs_f64(),
            cpu(s),
            size as f64 / MB / cpu(s),
            sum.rss_mib(),
            cpu(s) / base
        );
    }
    println!("  (CPU s: the fastest run's user + system time)");
    for tool in &tools {
        println!("  {}", tool.shell());
    }
    keep_if_asked(tmp);
    Ok(true)
}

// ── main ─────────────────────────────────────────────────────────────────────────────────────

fn main() -> ExitCode {
    let timing = std::env::args().any(|a| a == "--bench");
    match run(timing) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tls bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(timing: bool) -> Result<bool> {
    let keys = store();
    // Correctness first, on every suite: exactly the plaintext sent comes out.
    for (name, id) in SUITES {
        let st = stream(suite::find(id).unwrap(), 40 * RECORD + 123);
        decrypt(&st, &keys, true);
        println!("check: OK — {name}: every byte of {} decrypted, in order", st.app.len());
    }
    for alg in Alg::ALL {
        let r = records(alg);
        assert_eq!(floor_rustcrypto(alg, &r, 4 * RECORD), floor_ring(alg, &r, 4 * RECORD));
    }
    if !timing {
        let ok = pipeline(50, false)?;
        println!("tls: correctness checks only; timings: cargo bench --bench tls");
        return Ok(ok);
    }
    let total = 64 << 20;
    println!();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!(
        "(in-process MB/s from the thread's CPU time; the pipeline's from the child's CPU time)"
    );
    println!();
    println!("1. the floor: open 16 KiB records (copy + decrypt in place), 64 MiB, best of 5");
    println!(
        "{:<20} {:>16} {:>12} {:>14}",
        "AEAD", "RustCrypto MB/s", "ring MB/s", "ring / RustCrypto"
    );
    let r = records(Alg::Aes128Gcm);
    let (t, n) = best_of(5, || floor_copy(&r, total));
    println!("{:<20} {:>16.0}", "copy only", mbps(n, t));
    let mut floor = Vec::new();
    for alg in Alg::ALL {
        let r = records(alg);
        let ((t_rc, n), (t_ring, _)) =
            best_of_pair(5, || floor_rustcrypto(alg, &r, total), || floor_ring(alg, &r, total));
        let (a, b) = (mbps(n, t_rc), mbps(n, t_ring));
        println!("{:<20} {:>16.0} {:>12.0} {:>13.2}x", alg.name(), a, b, b / a);
        floor.push((alg, r));
    }
    println!();
    println!(
        "2. TlsLayer: handshake + 64 MiB in 16 KiB records, fed in {SEGMENT}-byte segments, best of 3"
    );
    println!(
        "{:<26} {:>14} {:>18} {:>12}",
        "suite", "plaintext MB/s", "vs RustCrypto floor", "vs ring floor"
    );
    for (name, id) in SUITES {
        let s = suite::find(id).unwrap();
        let st = stream(s, total);
        let alg = Alg::of(s.cipher);
        let (_, r) = floor.iter().find(|f| f.0 == alg).unwrap();
        // The layer and its floor alternately, so that both see the same machine.
        let ((t, n), (t_rc, n_rc)) =
            best_of_pair(3, || decrypt(&st, &keys, false), || floor_rustcrypto(alg, r, total));
        let (t_ring, n_ring) = best_of(1, || floor_ring(alg, r, total));
        let m = mbps(n, t);
        println!(
            "{name:<26} {m:>14.0} {:>17.2}x {:>11.2}x",
            m / mbps(n_rc, t_rc),
            m / mbps(n_ring, t_ring)
        );
    }
    println!();
    println!(
        "4. memory per TLS connection (a boxed TlsLayer; heap counted by the global allocator)"
    );
    println!("size_of::<TlsLayer>() = {} bytes", size_of::<TlsLayer>());
    println!("{:<26} {:>22} {:>26}", "suite", "after handshake", "16 KiB record half in");
    println!("{:<26} {:>11} {:>10} {:>13} {:>12}", "", "footprint", "heap", "footprint", "heap");
    for (name, id) in [SUITES[0], SUITES[1], SUITES[3]] {
        let [a, b] = memory(suite::find(id).unwrap(), &keys);
        println!("{name:<26} {:>11} {:>10} {:>13} {:>12}", a.0, a.1, b.0, b.1);
    }
    println!();
    println!("3. the whole pipeline");
    pipeline(1, true)
}
