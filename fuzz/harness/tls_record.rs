//! `tls_record`: one connection's TLS layer (`wsscope::tls::TlsLayer`) fed arbitrary bytes in both
//! directions, split by the input into feeds and gaps, with a key store that holds keys for a
//! fixed client random ([`RANDOM`]) and for the real captures of `testdata/captures/tls/`, so
//! inputs that start with a ClientHello and a ServerHello for those randoms reach decryption.
//!
//! Input format:
//!
//! ```text
//! byte 0   bits 0-1: key material — 0: none (no --keylog); 1: every key (RANDOM's and the real
//!          captures'); 2: a growing key log (a followed file), empty until an `add keys` op;
//!          3: RANDOM with other secrets (nothing authenticates)
//!          bits 2-3: max_key_wait — 0, 100 bytes, 16 KiB, 1 MiB
//!          bit 4: the ops' directions are swapped (the client is the TCP server)
//!          bit 5: differential — run again with every feed but each direction's first cut into
//!          pieces (bits 6-7: 1, 3, 7, 100 bytes) and compare (only without gaps)
//! ops      [tag][...] until the input ends (a last op cut short takes what is there):
//!          tag bit 0: direction (0: TCP client→server, 1: server→client)
//!          tag bits 1-2: 0 feed  [len: u16 LE][len bytes], fed in pieces of (bits 3-5)
//!                              whole, 1, 2, 5, 7, 64, 1448 or 16 384 bytes
//!                        1 gap   [len: u16 LE]: len × 16^(bits 3-4) bytes lost
//!                        2 repeat [count: u16 LE][len: u8][len bytes]: fed 1 + count times
//!                        3 control (bits 3-4): add the keys to the growing key log; stop it
//!                              growing; make it grow again; nothing
//! ```
//!
//! Every op is one packet (`PacketRef::packet` counts ops); the TCP offsets are contiguous per
//! direction (feeds and gaps, as the stream engine delivers them). At most [`MAX_FED`] bytes are
//! fed per input; `finish` ends it.
//!
//! Checks: no panic; after every op `footprint()` ≤ [`FOOTPRINT_FIXED`] + the wait budget; the
//! plaintext stream of each direction is contiguous — every `Out::Plain` and `Out::Gap` starts
//! where the previous one ended (from 0), `Plain` is never empty, and `plain_end` agrees; when the
//! counting allocator is installed (the fuzz binary, `tests/regressions.rs`), the heap the layer
//! holds after each op is at most twice its `footprint()` plus [`HEAP_SLACK`]; work is bounded —
//! the input's CPU time is at most [`TIME_FIXED`] + [`WORK_PER_BYTE`] × bytes fed × the time
//! this build takes to try one byte of a record that does not authenticate (measured once per
//! process: sanitizers and load slow both alike; the design allows 4096 trial decryptions per
//! gap, of records no longer than what was fed since); and for differential inputs, cutting the
//! feeds into pieces changes no output and no summary.
//!
//! `WSSCOPE_FUZZ_TRACE=1` prints every op and every output (as `tls_record` replays them).

use crate::alloc_count::Measure;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use wsscope::tcp::{Direction, GapReason, PacketRef};
use wsscope::time::Timestamp;
use wsscope::tls::{KeyStore, Out, TlsConfig, TlsLayer};

/// The client random the harness has keys for.
pub const RANDOM: [u8; 32] = [0x5a; 32];
/// `CLIENT_EARLY_TRAFFIC_SECRET` of [`RANDOM`] (48 bytes: enough for SHA-256 and SHA-384 suites).
pub const CLIENT_EARLY: [u8; 48] = [0x10; 48];
/// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
pub const CLIENT_HANDSHAKE: [u8; 48] = [0x11; 48];
/// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
pub const SERVER_HANDSHAKE: [u8; 48] = [0x22; 48];
/// `CLIENT_TRAFFIC_SECRET_0`.
pub const CLIENT_TRAFFIC: [u8; 48] = [0x33; 48];
/// `SERVER_TRAFFIC_SECRET_0`.
pub const SERVER_TRAFFIC: [u8; 48] = [0x44; 48];
/// `CLIENT_RANDOM` (the TLS 1.2 master secret).
pub const MASTER: [u8; 48] = [0x66; 48];

/// The key logs of the real captures (`testdata/captures/tls/*.keys`).
const REAL_KEYS: [&str; 6] = [
    include_str!("../../testdata/captures/tls/py-tls13.keys"),
    include_str!("../../testdata/captures/tls/py-tls12-gcm.keys"),
    include_str!("../../testdata/captures/tls/node-tls12-chacha.keys"),
    include_str!("../../testdata/captures/tls/keyupdate.keys"),
    include_str!("../../testdata/captures/tls/mixed.keys"),
    include_str!("../../testdata/captures/tls/chromium-wss.keys"),
];

/// Bytes fed per input at most (repeat ops stop there).
pub const MAX_FED: usize = 1 << 20;
/// `footprint()` allowed beyond the wait budget: two directions of one record in assembly, the
/// search buffer (two records) and handshake messages (64 KiB plus a record), and the layer.
pub const FOOTPRINT_FIXED: usize = 256 << 10;
/// Heap the layer may hold beyond twice its `footprint()`: keys, key schedules, secrets.
pub const HEAP_SLACK: usize = 64 << 10;
/// Work allowed per byte fed, in bytes of failed record decryption: twice the 4096 trial
/// decryptions the layer may spend per gap.
pub const WORK_PER_BYTE: f64 = 8192.0;
/// CPU time allowed whatever the input.
pub const TIME_FIXED: Duration = Duration::from_secs(2);

/// CPU time of the calling thread (wall time would count what other processes ran: the fuzzer
/// and CI share their machine).
fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Seconds this build takes per byte to try (and fail) to open a 16 KiB TLS 1.3 record: the unit
/// of work of the time bound. Best of 5 measurements of 1 MiB each.
static AEAD_SECS_PER_BYTE: LazyLock<f64> = LazyLock::new(|| {
    use wsscope::tls::keys::DirKeys;
    let suite = wsscope::tls::suite::find(0x1301).expect("a suite");
    let keys = DirKeys::tls13(suite, &[0x33; 48]).expect("keys");
    let body = vec![0x5a; (16 << 10) + 17];
    let header = [23, 3, 3, 0x40, 0x11];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = thread_cpu();
        for seq in 0..64 {
            assert!(keys.open(seq, &header, std::hint::black_box(&body)).is_none());
        }
        best = best.min((thread_cpu() - t).as_secs_f64() / (64 * body.len()) as f64);
    }
    best
});

const WAIT: [usize; 4] = [0, 100, 16 << 10, 1 << 20];
const PIECES: [usize; 8] = [usize::MAX, 1, 2, 5, 7, 64, 1448, 16 << 10];
const DIFF_PIECES: [usize; 4] = [1, 3, 7, 100];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The key log lines of [`RANDOM`] with `secret(n)` as its secrets.
pub fn keylog(secret: impl Fn(&[u8; 48]) -> [u8; 48]) -> String {
    let r = hex(&RANDOM);
    [
        ("CLIENT_RANDOM", MASTER),
        ("CLIENT_EARLY_TRAFFIC_SECRET", CLIENT_EARLY),
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", CLIENT_HANDSHAKE),
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", SERVER_HANDSHAKE),
        ("CLIENT_TRAFFIC_SECRET_0", CLIENT_TRAFFIC),
        ("SERVER_TRAFFIC_SECRET_0", SERVER_TRAFFIC),
    ]
    .iter()
    .map(|(label, s)| format!("{label} {r} {}\n", hex(&secret(s))))
    .collect()
}

/// Every key: [`RANDOM`]'s and the real captures'.
fn all_keys() -> String {
    keylog(|s| *s) + &REAL_KEYS.concat()
}

static FULL: LazyLock<Arc<KeyStore>> = LazyLock::new(|| {
    let s = KeyStore::new();
    s.add_text(all_keys().as_bytes());
    Arc::new(s)
});

static WRONG: LazyLock<Arc<KeyStore>> = LazyLock::new(|| {
    let s = KeyStore::new();
    s.add_text(keylog(|s| s.map(|b| b ^ 0x80)).as_bytes());
    Arc::new(s)
});

/// One op of the input.
#[derive(Debug)]
enum Op<'a> {
    Feed { dir: Direction, data: &'a [u8], piece: usize, repeat: u32 },
    Gap { dir: Direction, len: u64 },
    AddKeys,
    Growing(bool),
    Nothing,
}

fn parse(mut d: &[u8], swap: bool) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    let take = |d: &mut &[u8], n: usize| -> Vec<u8> {
        let n = n.min(d.len());
        let (a, b) = d.split_at(n);
        *d = b;
        a.to_vec()
    };
    let u16le = |b: &[u8]| {
        u16::from_le_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)])
    };
    while let Some((&tag, rest)) = d.split_first() {
        d = rest;
        let dir = if (tag & 1 == 1) != swap {
            Direction::ServerToClient
        } else {
            Direction::ClientToServer
        };
        let op = match (tag >> 1) & 3 {
            0 => {
                let len = usize::from(u16le(&take(&mut d, 2)));
                let n = len.min(d.len());
                let (data, rest) = d.split_at(n);
                d = rest;
                Op::Feed { dir, data, piece: PIECES[usize::from((tag >> 3) & 7)], repeat: 1 }
            }
            1 => {
                let len = u64::from(u16le(&take(&mut d, 2)));
                Op::Gap { dir, len: len << (4 * u32::from((tag >> 3) & 3)) }
            }
            2 => {
                let count = u32::from(u16le(&take(&mut d, 2)));
                let len = take(&mut d, 1).first().copied().map_or(0, usize::from);
                let n = len.min(d.len());
                let (data, rest) = d.split_at(n);
                d = rest;
                Op::Feed { dir, data, piece: usize::MAX, repeat: 1 + count }
            }
            _ => match (tag >> 3) & 3 {
                0 => Op::AddKeys,
                1 => Op::Growing(false),
                2 => Op::Growing(true),
                _ => Op::Nothing,
            },
        };
        ops.push(op);
    }
    ops
}

fn at(packet: u64) -> PacketRef {
    PacketRef { ts: Timestamp::from_nanos(packet as i64 * 1_000_000), packet, ack: None }
}

/// What a run produced, to compare runs.
#[derive(Debug, PartialEq, Eq)]
struct Result {
    /// A digest of every output (and `outputs`, when kept).
    digest: u64,
    outputs: Vec<String>,
    summary: String,
    plain_end: [u64; 2],
}

struct Config {
    keys: u8,
    wait: usize,
}

fn hash_out(h: &mut DefaultHasher, o: &Out) {
    match o {
        Out::Plain { dir, offset, data, at } => (0u8, dir.index(), offset, data, at.packet).hash(h),
        Out::Gap { dir, offset, len, exact, reason, at } => {
            (1u8, dir.index(), offset, len, exact, format!("{reason:?}"), at.packet).hash(h)
        }
        Out::Note { dir, check, detail, at, offset } => {
            (2u8, dir.index(), format!("{check:?}"), detail, at.packet, offset).hash(h)
        }
    }
}

/// Feeds `ops` to a new layer, checking as it goes. `split`: cut every feed but each direction's
/// first into pieces of this size. `keep`: keep the outputs (to show a difference).
fn execute(cfg: &Config, ops: &[Op<'_>], split: Option<usize>, keep: bool) -> Result {
    let trace = std::env::var_os("WSSCOPE_FUZZ_TRACE").is_some();
    let store = match cfg.keys {
        0 => None,
        1 => Some(FULL.clone()),
        2 => {
            let s = KeyStore::new();
            s.set_growing(true);
            s.mark_given();
            Some(Arc::new(s))
        }
        _ => Some(WRONG.clone()),
    };
    let add_keys = all_keys();
    let heap = Measure::start();
    let mut layer = TlsLayer::new(TlsConfig { keys: store.clone(), max_key_wait: cfg.wait });
    let mut out = Vec::new();
    let mut tcp = [0u64; 2];
    let mut next = [0u64; 2];
    let mut started = [false; 2];
    let mut h = DefaultHasher::new();
    let mut kept = Vec::new();
    let max_footprint = FOOTPRINT_FIXED + cfg.wait;
    let mut fed = 0usize;
    let store_bytes = std::cell::Cell::new(0usize);
    let mut check = |out: &mut Vec<Out>, layer: &TlsLayer, op: usize| {
        for o in out.drain(..) {
            if trace {
                eprintln!("    {o:?}");
            }
            hash_out(&mut h, &o);
            if keep {
                kept.push(format!("{o:?}"));
            }
            let (dir, offset, len) = match &o {
                Out::Plain { dir, offset, data, .. } => {
                    assert!(!data.is_empty(), "op {op}: empty plaintext: {o:?}");
                    (dir, offset, data.len() as u64)
                }
                Out::Gap { dir, offset, len, .. } => (dir, offset, *len),
                Out::Note { .. } => continue,
            };
            let i = dir.index();
            assert_eq!(*offset, next[i], "op {op}: plaintext of {dir:?} not contiguous: {o:?}");
            next[i] += len;
        }
        for d in Direction::BOTH {
            assert_eq!(layer.plain_end(d), next[d.index()], "op {op}: plain_end of {d:?}");
        }
        let fp = layer.footprint();
        assert!(fp <= max_footprint, "op {op}: footprint {fp} over {max_footprint}");
        if heap.counted() && !keep {
            // Not the layer's: the outputs' vector and what the key log grew by.
            let mine = out.capacity() * size_of::<Out>() + store_bytes.get();
            let live = heap.live().saturating_sub(mine);
            assert!(
                live <= 2 * fp + HEAP_SLACK,
                "op {op}: the layer holds {live} heap bytes, footprint() says {fp}"
            );
        }
    };
    for (k, op) in ops.iter().enumerate() {
        let p = at(k as u64 + 1);
        if trace {
            eprintln!("op {k}: {op:?}");
        }
        match *op {
            Op::Feed { dir, data, piece, repeat } => {
                let i = dir.index();
                let piece = match split {
                    Some(n) if started[i] => n,
                    _ => piece,
                };
                for _ in 0..repeat {
                    if fed >= MAX_FED || data.is_empty() {
                        break;
                    }
                    started[i] = true;
                    for chunk in data.chunks(piece.max(1)) {
                        layer.feed(dir, tcp[i], chunk, p, &mut out);
                        tcp[i] += chunk.len() as u64;
                    }
                    fed += data.len();
                }
            }
            Op::Gap { dir, len } => {
                if len > 0 {
                    let i = dir.index();
                    layer.gap(dir, tcp[i], len, GapReason::Lost, p, &mut out);
                    tcp[i] += len;
                }
            }
            Op::AddKeys => {
                if cfg.keys == 2
                    && let Some(s) = &store
                {
                    let before = heap.live();
                    s.add_text(add_keys.as_bytes());
                    store_bytes.set(store_bytes.get() + heap.live().saturating_sub(before));
                }
            }
            Op::Growing(g) => {
                if cfg.keys == 2
                    && let Some(s) = &store
                {
                    s.set_growing(g);
                }
            }
            Op::Nothing => {}
        }
        check(&mut out, &layer, k);
    }
    layer.finish(at(ops.len() as u64 + 1), &mut out);
    check(&mut out, &layer, ops.len());
    let summary = format!("{:?} {:?}", layer.summary(), layer.decryption());
    if trace {
        let live = heap.counted().then(|| heap.live());
        eprintln!(
            "end: {summary}\nfed {fed} bytes, footprint {}, heap {live:?}",
            layer.footprint()
        );
    }
    Result {
        digest: h.finish(),
        outputs: kept,
        summary,
        plain_end: [
            layer.plain_end(Direction::ClientToServer),
            layer.plain_end(Direction::ServerToClient),
        ],
    }
}

/// Bytes the ops feed (what the time bound is for).
fn fed(ops: &[Op<'_>]) -> usize {
    let total: usize = ops
        .iter()
        .map(|o| match o {
            Op::Feed { data, repeat, .. } => data.len().saturating_mul(*repeat as usize),
            _ => 0,
        })
        .fold(0usize, usize::saturating_add);
    total.min(MAX_FED)
}

/// Whether cutting the feeds differently must change nothing: no gaps, and each direction's
/// first piece (fed the same way in both runs) starts like a record. A direction that starts
/// inside a record is searched for its next record header, which (by design) keeps or drops
/// bytes depending on how much has arrived.
fn comparable(ops: &[Op<'_>]) -> bool {
    let mut first = [true; 2];
    for op in ops {
        match *op {
            Op::Gap { .. } => return false,
            Op::Feed { dir, data, piece, .. } if first[dir.index()] && !data.is_empty() => {
                first[dir.index()] = false;
                if !wsscope::tls::looks_like_record(&data[..piece.min(data.len())]) {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// One execution.
pub fn run(data: &[u8]) {
    let Some((&c, rest)) = data.split_first() else { return };
    let cfg = Config { keys: c & 3, wait: WAIT[usize::from((c >> 2) & 3)] };
    let ops = parse(rest, c & 16 != 0);
    let unit = *AEAD_SECS_PER_BYTE;
    let t = thread_cpu();
    let whole = execute(&cfg, &ops, None, false);
    let took = thread_cpu() - t;
    let n = fed(&ops);
    let limit = TIME_FIXED + Duration::from_secs_f64(WORK_PER_BYTE * unit * n as f64);
    assert!(
        took <= limit,
        "took {took:?} for {n} bytes fed: {:.0} record bytes' worth of trial decryption per byte \
         fed (bound {limit:?}, {WORK_PER_BYTE} per byte)",
        took.as_secs_f64() / unit / n.max(1) as f64
    );
    if c & 32 != 0 && comparable(&ops) && fed(&ops) <= 256 << 10 {
        let piece = DIFF_PIECES[usize::from(c >> 6)];
        let split = execute(&cfg, &ops, Some(piece), false);
        if split != whole {
            // Again, keeping the outputs, to show where they part.
            let a = execute(&cfg, &ops, None, true);
            let b = execute(&cfg, &ops, Some(piece), true);
            let first = a.outputs.iter().zip(&b.outputs).position(|(x, y)| x != y);
            panic!(
                "cut into {piece}-byte pieces, the outputs differ: first at output {first:?} of \
                 {} / {}: {:?} / {:?}; summaries {} / {}",
                a.outputs.len(),
                b.outputs.len(),
                first.map(|f| &a.outputs[f]),
                first.map(|f| &b.outputs[f]),
                a.summary,
                b.summary
            );
        }
    }
}
