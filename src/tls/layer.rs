//! One TLS connection: TCP bytes of each direction in, plaintext (or explicit gaps) out.
//!
//! The contract is the one every layer keeps (docs/ARCHITECTURE.md): [`TlsLayer::feed`] takes a
//! direction's bytes in stream order with the packet that carried them, [`TlsLayer::gap`] says
//! bytes were lost, [`TlsLayer::finish`] ends the connection. Out come [`Out`] items: plaintext at
//! its offset in the direction's plaintext stream (the packet named is the one that completed
//! the record), gaps in the plaintext stream, and notes (findings).
//!
//! Guarantees:
//! - Only bytes that authenticated under the logged keys come out as plaintext. A record that
//!   does not is a finding and a gap, never a payload.
//! - After a gap, the next record header is searched for and its sequence number recovered by
//!   trial within a bounded window; failing that, the direction is reported undecryptable from
//!   there on.
//! - Memory per direction is bounded: one record in assembly (at most [`MAX_RECORD`] bytes), the
//!   search buffer after a gap (twice that), handshake messages ([`super::hello::MAX_MESSAGE`]),
//!   and records waiting for keys (`max_key_wait` bytes per connection).
//! - No secret is ever put into an output.

use super::hello::{self, ClientHello, Messages, ServerHello, kind};
use super::keylog::{KeyStore, Secrets};
use super::keys::DirKeys;
use super::suite::{self, Suite};
use crate::analyzer::checks::CheckId;
use crate::event::{TlsDirection, TlsInfo};
use crate::tcp::{Direction, GapReason, PacketRef};
use std::collections::VecDeque;
use std::sync::Arc;

/// Longest record accepted: 2^14 bytes plus TLS 1.2's 2048 bytes of expansion, and its header.
pub const MAX_RECORD: usize = 5 + (1 << 14) + 2048;

/// Sequence numbers tried after a gap, per record header candidate.
const SEQ_WINDOW: u64 = 1024;
/// Decryption attempts spent on one gap before the direction is given up.
const MAX_RESYNC_TRIALS: u32 = 4096;
/// Records in a row that fail authentication before a direction is given up.
const MAX_FAILURES: u32 = 3;
/// What a record waiting for keys costs beyond its body (its header, packet, queue slot), so
/// that empty records are bounded too.
const WAIT_OVERHEAD: usize = 64;

/// Key material and limits, shared by every connection of a run.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// The key log (`--keylog`, `SSLKEYLOGFILE`, pcapng Decryption Secrets Blocks). `None`: no
    /// key material was given.
    pub keys: Option<Arc<KeyStore>>,
    /// Record bytes a connection keeps while waiting for its keys to appear in a key log that
    /// is still growing (default 1 MiB; `--max-tls-key-wait`). Beyond it the oldest records are
    /// given up (a gap and `tls_keys_late`).
    pub max_key_wait: usize,
}

impl PartialEq for TlsConfig {
    fn eq(&self, o: &Self) -> bool {
        self.max_key_wait == o.max_key_wait
            && match (&self.keys, &o.keys) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}
impl Eq for TlsConfig {}

/// What the layer produces.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    /// Decrypted application data of direction `dir`, at `offset` in its plaintext stream.
    Plain {
        /// TCP direction.
        dir: Direction,
        /// Offset in the direction's plaintext stream.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
        /// The packet that completed the record.
        at: PacketRef,
    },
    /// Plaintext bytes of direction `dir` that cannot be recovered (lost in the capture, or in
    /// records that did not authenticate). `len` is exact when `exact` (TLS 1.3 records padded
    /// by their sender aside).
    Gap {
        /// TCP direction.
        dir: Direction,
        /// Offset in the plaintext stream.
        offset: u64,
        /// Bytes missing.
        len: u64,
        /// Whether `len` is exact: not when records lost whole had a variable overhead (CBC
        /// padding) or unknown keys.
        exact: bool,
        /// Why.
        reason: GapReason,
        /// Where it was noticed.
        at: PacketRef,
    },
    /// A finding of the TLS layer.
    Note {
        /// TCP direction.
        dir: Direction,
        /// Which check.
        check: CheckId,
        /// The specifics.
        detail: String,
        /// Where.
        at: PacketRef,
        /// Offset in the TCP stream.
        offset: u64,
    },
}

/// Whether and how a connection was decrypted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decryption {
    /// Every record's bytes that were captured were decrypted.
    Decrypted,
    /// Decrypted in part: records failed authentication, or a direction could not be followed
    /// after a gap.
    Partial,
    /// No key material was given (`--keylog`).
    #[default]
    NoKeyLog,
    /// The key log holds no secrets for this connection's client random.
    NoKeys,
    /// The handshake was not captured (the capture started later): no client random to look up.
    NoHandshake,
    /// The negotiated cipher suite or version is one wsscope cannot decrypt.
    Unsupported,
    /// Keys were found but no record authenticated with them (a key log from another session?).
    Failed,
}

/// Per TLS direction (client→server first) counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCounts {
    /// Records seen.
    pub records: u64,
    /// Record bytes (headers included).
    pub bytes: u64,
    /// Application data bytes decrypted.
    pub decrypted: u64,
    /// Records that did not authenticate.
    pub failed: u64,
}

/// What was learnt about one TLS connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The ClientHello, when captured.
    pub client_hello: Option<ClientHello>,
    /// The ServerHello (the last one, after a HelloRetryRequest), when captured.
    pub server_hello: Option<ServerHello>,
    /// ALPN chosen (TLS 1.2 ServerHello, or TLS 1.3 EncryptedExtensions once decrypted).
    pub alpn: Option<String>,
    /// A HelloRetryRequest was seen.
    pub retried: bool,
    /// Key updates seen, per TLS direction.
    pub key_updates: [u32; 2],
    /// Counters per TLS direction (client→server, server→client).
    pub dirs: [DirCounts; 2],
    /// The TCP direction the ClientHello came from (the TLS client's).
    pub client_dir: Option<Direction>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Epoch {
    Early,
    Handshake,
    Application,
}

struct Candidate {
    epoch: Epoch,
    keys: DirKeys,
}

#[derive(Default)]
struct Dir {
    /// Bytes of a record still being assembled (or, when `lost`, the search buffer).
    rec: Vec<u8>,
    /// Where those bytes start in the TCP stream.
    rec_offset: u64,
    /// Offset of the next plaintext byte.
    plain: u64,
    keys: Option<DirKeys>,
    epoch: Option<Epoch>,
    seq: u64,
    /// Keys to try when the current ones fail (TLS 1.3 epochs in order).
    candidates: Vec<Candidate>,
    /// Records are protected from here on (TLS 1.2 after ChangeCipherSpec; TLS 1.3 after the
    /// hellos).
    protected: bool,
    hs: Messages,
    /// After a gap: ciphertext bytes lost so far, and the sequence number at the gap.
    lost: Option<(u64, u64, GapReason)>,
    /// Records kept until keys (or the ServerHello) arrive: header, body, packet, TCP offset.
    waiting: VecDeque<([u8; 5], Vec<u8>, PacketRef, u64)>,
    waiting_bytes: usize,
    /// Failures in a row.
    failures: u32,
    /// Records given up while waiting for keys since the last one opened: their sequence
    /// numbers are skipped.
    skipped: u64,
    /// After a gap, how far into `rec` the search for a record header has looked.
    scanned: usize,
    /// Records that authenticated.
    opened: u64,
    /// The record found after a gap opened with the next generation of keys: the bytes lost
    /// held a KeyUpdate.
    update_lost: bool,
    /// Bytes of this direction were fed.
    started: bool,
    /// Decryption attempts spent searching since the last gap.
    trials: u32,
    /// Given up: nothing more is decrypted in this direction.
    dead: bool,
    /// A note about giving up was made.
    noted_dead: bool,
}

/// The TLS layer of one connection. See the module documentation.
pub struct TlsLayer {
    cfg: TlsConfig,
    dirs: [Dir; 2],
    summary: Summary,
    suite: Option<Suite>,
    tls13: bool,
    /// The key store's generation when secrets were last looked up.
    looked: Option<u64>,
    secrets: Option<Secrets>,
    /// Why nothing (or not everything) was decrypted.
    unsupported: bool,
    /// A finding about late keys was made.
    noted_late: bool,
    /// Bytes were lost (or cut by the snapshot length) before any ClientHello was read: the
    /// handshake was not missed by a late capture but lost in it.
    hello_gap: bool,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The summary, never keys or secrets.
        f.debug_struct("TlsLayer").field("summary", &self.summary).finish_non_exhaustive()
    }
}

/// Whether `b` starts like a TLS record: a known content type, major version 3, minor 0..=4.
pub fn looks_like_record(b: &[u8]) -> bool {
    matches!(b, [0x14..=0x17, 0x03, 0x00..=0x04, ..])
}

impl TlsLayer {
    /// A new connection.
    pub fn new(cfg: TlsConfig) -> Self {
        TlsLayer {
            cfg,
            dirs: Default::default(),
            summary: Summary::default(),
            suite: None,
            tls13: false,
            looked: None,
            secrets: None,
            unsupported: false,
            noted_late: false,
            hello_gap: false,
        }
    }

    /// What was learnt so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The offset of the next plaintext byte of TCP direction `dir`.
    pub fn plain_end(&self, dir: Direction) -> u64 {
        self.dirs[dir.index()].plain
    }

    /// Whether and how the connection was decrypted (final once it ended).
    pub fn decryption(&self) -> Decryption {
        let decrypted = self.dirs.iter().any(|d| d.opened > 0);
        let failed = self.summary.dirs.iter().any(|d| d.failed > 0)
            || self.dirs.iter().any(|d| d.dead && d.keys.is_some());
        match () {
            _ if decrypted && failed => Decryption::Partial,
            _ if decrypted => Decryption::Decrypted,
            _ if self.summary.client_hello.is_none() => Decryption::NoHandshake,
            _ if self.unsupported => Decryption::Unsupported,
            _ if self.cfg.keys.as_ref().is_none_or(|k| !k.given()) => Decryption::NoKeyLog,
            _ if self.secrets.is_none() => Decryption::NoKeys,
            _ => Decryption::Failed,
        }
    }

    /// The connection as the `tls` event describes it. `websocket`: a WebSocket was decoded
    /// inside; `duration`: how long the connection was seen.
    pub fn info(&self, websocket: bool, duration: std::time::Duration) -> TlsInfo {
        let sm = &self.summary;
        let ch = sm.client_hello.as_ref();
        let sh = sm.server_hello.as_ref();
        let decryption = self.decryption();
        let dir = |c: &DirCounts| TlsDirection {
            records: c.records,
            bytes: c.bytes,
            decrypted_bytes: c.decrypted,
            failed_records: c.failed,
        };
        let random = ch.map(|c| c.random.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let suite_name = sh.map(|s| suite::name(s.cipher));
        let h2 = sm.alpn.as_deref() == Some("h2");
        let advice = match decryption {
            Decryption::Decrypted | Decryption::Partial if h2 => Some(
                "ALPN h2: this is HTTP/2; WebSocket over HTTP/2 (RFC 8441) is not decoded".into(),
            ),
            Decryption::Decrypted => None,
            Decryption::Partial => {
                let failed: u64 = sm.dirs.iter().map(|d| d.failed).sum();
                let data: u64 = sm.dirs.iter().map(|d| d.decrypted).sum();
                // TLS 1.3: the handshake decrypted, the application data did not (its own
                // secrets in the key log are wrong or missing: a connection vanished with
                // nothing said).
                let why = if self.tls13 && data == 0 {
                    "the handshake decrypted but not the application data: the key log's \
                     CLIENT_TRAFFIC_SECRET_0 / SERVER_TRAFFIC_SECRET_0 lines for it are missing \
                     or belong to another session"
                } else {
                    "the key log's secrets for it are incomplete or from another session, or \
                     the capture altered records"
                };
                Some(if failed > 0 {
                    format!(
                        "{failed} record{} did not authenticate under the secrets logged for \
                         client random {}: {why}; their content is not shown",
                        if failed == 1 { "" } else { "s" },
                        random.as_deref().unwrap_or("?")
                    )
                } else {
                    "after bytes lost in the capture, no later record of a direction could be \
                     decrypted: what followed is not shown"
                        .to_string()
                })
            }
            Decryption::NoKeyLog | Decryption::NoKeys | Decryption::Failed
                if ch.is_some() && sh.is_none() =>
            {
                Some(
                    "no ServerHello was captured: the server refused the handshake (an alert \
                     ends it), or its reply was lost in the capture; without it nothing can be \
                     decrypted"
                        .into(),
                )
            }
            Decryption::NoKeyLog => Some(
                "no key log was given: run with --keylog FILE, where FILE is the key log the \
                 client (or server) wrote while this capture ran (SSLKEYLOGFILE=FILE for Chrome, \
                 Firefox and curl; node --tls-keylog=FILE; Python's keylog_filename)"
                    .into(),
            ),
            Decryption::NoKeys => Some(format!(
                "the key log holds no secrets for client random {}: the key log written by \
                 this connection's client (or server) would decrypt it",
                random.as_deref().unwrap_or("?")
            )),
            Decryption::NoHandshake if self.hello_gap => Some(
                "the ClientHello was not captured whole (bytes of the connection's start were \
                 lost or cut by the snapshot length), so its client random (which names its \
                 keys) is unknown: capture with -s 0 and a larger buffer (-B)"
                    .into(),
            ),
            Decryption::NoHandshake => Some(
                "the capture began after the TLS handshake, so the connection's client random \
                 (which names its keys) is unknown: capture from before the client connects"
                    .into(),
            ),
            Decryption::Unsupported => Some(format!(
                "{} with {} is not decrypted by wsscope (it decrypts TLS 1.3, and TLS 1.1-1.2 \
                 with AES-GCM, ChaCha20-Poly1305 and AES-CBC)",
                sh.map_or("?".into(), |s| super::version_name(s.version)),
                suite_name.as_deref().unwrap_or("?")
            )),
            Decryption::Failed => Some(format!(
                "the secrets logged for client random {} did not authenticate any record: the \
                 key log belongs to another session, or the capture altered the records",
                random.as_deref().unwrap_or("?")
            )),
        };
        let undecrypted = !matches!(decryption, Decryption::Decrypted | Decryption::Partial);
        let http1 =
            ch.is_none_or(|c| c.alpn.is_empty() || c.alpn.iter().any(|a| a == "http/1.1")) && !h2;
        let both_ways = sm.dirs.iter().all(|d| d.records >= 4);
        let long = duration >= std::time::Duration::from_secs(1)
            || sm.dirs.iter().map(|d| d.records).sum::<u64>() >= 12;
        TlsInfo {
            version: sh.map(|s| super::version_name(s.version)),
            cipher_suite: suite_name,
            sni: ch.and_then(|c| c.sni.clone()),
            alpn_offered: ch.map(|c| c.alpn.clone()).unwrap_or_default(),
            alpn: sm.alpn.clone(),
            resumed: sh.is_some_and(|s| {
                s.psk
                    || (!s.session_id.is_empty()
                        && ch.is_some_and(|c| c.session_id == s.session_id)
                        && s.version < 0x0304)
            }),
            hello_retry: sm.retried,
            key_updates: sm.key_updates.iter().sum(),
            decryption,
            advice,
            may_carry_websocket: undecrypted && !websocket && http1 && both_ways && long,
            client_to_server: dir(&sm.dirs[0]),
            server_to_client: dir(&sm.dirs[1]),
        }
    }

    /// Heap bytes held.
    pub fn footprint(&self) -> usize {
        // The keys: boxed AEAD states (an AES-256 key schedule and GHASH tables are the
        // largest) and a traffic secret each; measured in benches/tls.rs.
        const KEYS: usize = 1024;
        let secrets = self.secrets.as_ref().map_or(0, |s| {
            let n = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, |v| v.len() + 24);
            n(&s.master)
                + n(&s.client_early)
                + n(&s.client_handshake)
                + n(&s.server_handshake)
                + (usize::from(s.client_traffic.is_some())
                    + usize::from(s.server_traffic.is_some()))
                    * 80
        });
        self.dirs
            .iter()
            .map(|d| {
                d.rec.capacity()
                    + d.hs.footprint()
                    + d.waiting_bytes
                    + (usize::from(d.keys.is_some()) + d.candidates.len()) * KEYS
            })
            .sum::<usize>()
            + size_of::<TlsLayer>()
            + secrets
    }

    fn tls_dir(&self, d: Direction) -> usize {
        match self.summary.client_dir {
            Some(c) if c != d => 1,
            Some(_) => 0,
            None => d.index(),
        }
    }

    /// Bytes of TCP direction `dir` at TCP offset `offset`, in stream order.
    pub fn feed(
        &mut self,
        dir: Direction,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        if self.dirs[i].dead {
            return;
        }
        let d = &mut self.dirs[i];
        if !d.started {
            d.started = true;
            // A direction whose capture begins inside a record looks for the next one.
            if !data.is_empty() && !looks_like_record(data) {
                d.lost = Some((0, 0, GapReason::Lost));
            }
        }
        if self.dirs[i].lost.is_some() {
            self.search(dir, offset, data, at, out);
            return;
        }
        let (mut data, mut offset) = (data, offset);
        // Complete a record started in an earlier segment.
        if !self.dirs[i].rec.is_empty() {
            let d = &mut self.dirs[i];
            if d.rec.len() < 5 {
                let take = (5 - d.rec.len()).min(data.len());
                d.rec.extend_from_slice(&data[..take]);
                (data, offset) = (&data[take..], offset + take as u64);
                if d.rec.len() < 5 {
                    return;
                }
            }
            let Some(n) = record_len(&d.rec) else {
                let at_offset = d.rec_offset;
                self.not_tls(dir, at_offset, at, out);
                return;
            };
            let take = (n - d.rec.len()).min(data.len());
            d.rec.extend_from_slice(&data[..take]);
            (data, offset) = (&data[take..], offset + take as u64);
            if d.rec.len() < n {
                return;
            }
            let mut rec = std::mem::take(&mut d.rec);
            let start = d.rec_offset;
            if !self.record(dir, start, &rec, at, out) {
                return;
            }
            // Keep the allocation for the next record that spans segments.
            rec.clear();
            if self.dirs[i].rec.is_empty() && rec.capacity() <= MAX_RECORD {
                self.dirs[i].rec = rec;
            }
        }
        self.feed_records(dir, offset, data, at, out);
    }

    /// Reads whole records from `data` (which starts at a record boundary) and keeps the rest.
    fn feed_records(
        &mut self,
        dir: Direction,
        mut offset: u64,
        mut data: &[u8],
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        loop {
            if data.len() < 5 {
                break;
            }
            let Some(n) = record_len(data) else {
                self.not_tls(dir, offset, at, out);
                return;
            };
            if data.len() < n {
                break;
            }
            if !self.record(dir, offset, &data[..n], at, out) {
                return;
            }
            data = &data[n..];
            offset += n as u64;
        }
        let d = &mut self.dirs[i];
        if !data.is_empty() {
            if data.len() >= 5 && record_len(data).is_none() {
                self.not_tls(dir, offset, at, out);
                return;
            }
            d.rec.clear();
            d.rec.extend_from_slice(data);
            d.rec_offset = offset;
        } else if d.rec.capacity() > MAX_RECORD {
            d.rec = Vec::new();
        }
    }

    /// The bytes stopped being TLS records.
    fn not_tls(&mut self, dir: Direction, offset: u64, at: PacketRef, out: &mut Vec<Out>) {
        let d = &mut self.dirs[dir.index()];
        d.rec = Vec::new();
        if !d.dead {
            d.dead = true;
            out.push(Out::Note {
                dir,
                check: CheckId::TlsRecordInvalid,
                detail: format!(
                    "the bytes at stream offset {offset} are not a TLS record (unknown content \
                     type, version or a length over {MAX_RECORD} bytes): nothing more of this \
                     direction is decoded"
                ),
                at,
                offset,
            });
        }
        // Everything after this point is unknown: mark it lost for the layers above.
        d.lost = None;
    }

    /// One whole record. Returns false when the direction cannot go on.
    fn record(
        &mut self,
        dir: Direction,
        offset: u64,
        rec: &[u8],
        at: PacketRef,
        out: &mut Vec<Out>,
    ) -> bool {
        let i = dir.index();
        if self.dirs[i].dead {
            return false;
        }
        let t = self.tls_dir(dir);
        self.summary.dirs[t].records += 1;
        self.summary.dirs[t].bytes += rec.len() as u64;
        let Ok(header) = <[u8; 5]>::try_from(&rec[..5]) else { return false };
        let body = &rec[5..];
        match header[0] {
            // ChangeCipherSpec: TLS 1.2 protects what follows; TLS 1.3 sends it for middleboxes.
            20 => {
                if self.summary.retried {
                    // After a HelloRetryRequest (TLS 1.3 only), the middlebox-compatibility
                    // ChangeCipherSpec of either side (RFC 8446 §D.4): nothing is protected
                    // until the real ServerHello.
                } else if self.summary.server_hello.is_none() {
                    // Before the ServerHello was captured (directions merged out of order): the
                    // ServerHello decides whether what follows is protected (TLS 1.2).
                    self.dirs[i].protected = true;
                    self.dirs[i].seq = 0;
                } else if !self.tls13 {
                    self.start_tls12(dir);
                }
            }
            22 if !self.dirs[i].protected => {
                let mut msgs = Vec::new();
                self.dirs[i].hs.push(body, &mut |m| msgs.push(m.to_vec()));
                for m in msgs {
                    self.handshake(dir, &m, at, out);
                }
            }
            // Alerts in clear (before protection) carry no data.
            21 if !self.dirs[i].protected => {}
            // Protected data without a captured handshake (the capture began later), or a client
            // record before the ServerHello that is not 0-RTT data: counted, not decrypted.
            _ if !(self.dirs[i].protected || header[0] == 23 && self.may_be_early(dir)) => {}
            _ => self.protected(dir, offset, header, body, at, out),
        }
        true
    }

    /// Client records before the ServerHello may be 0-RTT data (kept until the ServerHello).
    fn may_be_early(&self, dir: Direction) -> bool {
        self.summary.client_dir == Some(dir)
            && self.summary.server_hello.is_none()
            && self.summary.client_hello.as_ref().is_some_and(|c| c.early_data)
    }

    fn handshake(&mut self, dir: Direction, msg: &[u8], at: PacketRef, out: &mut Vec<Out>) {
        match msg.first().copied() {
            Some(kind::CLIENT_HELLO) if self.summary.client_dir.is_none_or(|c| c == dir) => {
                if let Some(ch) = hello::client_hello(msg) {
                    self.summary.client_dir = Some(dir);
                    self.summary.client_hello = Some(ch);
                    // A ServerHello captured first (merged captures with skewed clocks).
                    if self.tls13 {
                        self.keys13(at, out);
                    }
                }
            }
            Some(kind::SERVER_HELLO) if self.summary.client_dir != Some(dir) => {
                let Some(sh) = hello::server_hello(msg) else { return };
                if sh.retry {
                    self.summary.retried = true;
                    return;
                }
                if self.summary.client_dir.is_none() {
                    self.summary.client_dir = Some(dir.opposite());
                }
                if sh.alpn.is_some() {
                    self.summary.alpn = sh.alpn.clone();
                }
                self.tls13 = sh.version == 0x0304;
                self.suite = suite::find(sh.cipher).filter(|s| s.tls13 == self.tls13);
                let cbc =
                    matches!(self.suite.map(|s| s.cipher), Some(suite::Cipher::AesCbc { .. }));
                if self.suite.is_none() || (cbc && sh.version < 0x0302) {
                    self.unsupported = true;
                    self.suite = None;
                }
                self.summary.server_hello = Some(sh);
                if !self.tls13 {
                    for d in Direction::BOTH {
                        if self.dirs[d.index()].protected {
                            self.install12(d);
                        }
                    }
                    self.drain_waiting(at, out);
                }
                if self.tls13 {
                    // Both directions are protected from here on (RFC 8446 §2).
                    for d in &mut self.dirs {
                        d.protected = true;
                    }
                    self.keys13(at, out);
                }
            }
            _ => {}
        }
    }

    /// The secrets of this connection, looked up again when the key store grew.
    fn lookup(&mut self) -> bool {
        if self.secrets.is_some() {
            return true;
        }
        let (Some(store), Some(ch)) = (&self.cfg.keys, &self.summary.client_hello) else {
            return false;
        };
        let g = store.generation();
        if self.looked == Some(g) {
            return false;
        }
        self.looked = Some(g);
        self.secrets = store.lookup(&ch.random);
        self.secrets.is_some()
    }

    /// Installs the TLS 1.3 candidates of both directions, if the secrets are known.
    fn keys13(&mut self, at: PacketRef, out: &mut Vec<Out>) {
        let (Some(suite), Some(client)) = (self.suite, self.summary.client_dir) else { return };
        if !self.lookup() {
            return;
        }
        let Some(s) = &self.secrets else { return };
        let early = self.summary.client_hello.as_ref().is_some_and(|c| c.early_data);
        for d in Direction::BOTH {
            let is_client = d == client;
            let mut list = Vec::new();
            let mut add = |epoch, secret: Option<&[u8]>| {
                if let Some(keys) = secret.and_then(|s| DirKeys::tls13(suite, s)) {
                    list.push(Candidate { epoch, keys });
                }
            };
            if is_client && early {
                add(Epoch::Early, s.client_early.as_deref());
            }
            let hs = if is_client { &s.client_handshake } else { &s.server_handshake };
            add(Epoch::Handshake, hs.as_deref());
            add(Epoch::Application, s.traffic(is_client).map(|(_, s)| s));
            let dir = &mut self.dirs[d.index()];
            if dir.keys.is_none() && dir.candidates.is_empty() {
                dir.candidates = list;
            }
        }
        self.drain_waiting(at, out);
    }

    /// TLS 1.2: the direction's ChangeCipherSpec; later records use its keys from sequence 0.
    fn start_tls12(&mut self, dir: Direction) {
        let i = dir.index();
        self.dirs[i].protected = true;
        self.dirs[i].seq = 0;
        self.dirs[i].epoch = None;
        self.install12(dir);
    }

    fn install12(&mut self, dir: Direction) {
        let (Some(suite), Some(ch), Some(sh)) =
            (self.suite, &self.summary.client_hello, &self.summary.server_hello)
        else {
            return;
        };
        let (cr, sr, etm) = (ch.random, sh.random, sh.encrypt_then_mac);
        if !self.lookup() {
            return;
        }
        let Some(master) = self.secrets.as_ref().and_then(|s| s.master.clone()) else { return };
        let client = self.summary.client_dir == Some(dir);
        let d = &mut self.dirs[dir.index()];
        d.keys = DirKeys::tls12(suite, &master, &cr, &sr, client, etm);
        d.epoch = d.keys.as_ref().map(|_| Epoch::Application);
    }

    /// A protected record.
    #[allow(clippy::too_many_arguments)]
    fn protected(
        &mut self,
        dir: Direction,
        offset: u64,
        header: [u8; 5],
        body: &[u8],
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        let have_keys = self.dirs[i].keys.is_some() || !self.dirs[i].candidates.is_empty();
        if !have_keys {
            // Try the key store again (a live key log may have grown).
            if self.summary.server_hello.is_some() && self.lookup() {
                if self.tls13 {
                    self.keys13(at, out);
                } else {
                    self.install12(dir);
                }
            }
        }
        let have_keys = self.dirs[i].keys.is_some() || !self.dirs[i].candidates.is_empty();
        // Before the ServerHello: 0-RTT data, or records after a ChangeCipherSpec captured
        // before it.
        let waiting_for_hello = self.summary.server_hello.is_none();
        if !have_keys || waiting_for_hello || !self.dirs[i].waiting.is_empty() {
            if (waiting_for_hello && self.cfg.max_key_wait > 0) || self.may_wait() {
                self.wait(dir, header, body, at, offset, out);
            }
            return;
        }
        self.open(dir, offset, header, body, at, out);
    }

    /// Whether keys may still come for this connection.
    fn may_wait(&self) -> bool {
        self.cfg.max_key_wait > 0
            && !self.unsupported
            && self.summary.client_hello.is_some()
            && self.cfg.keys.as_ref().is_some_and(|k| k.growing())
    }

    fn wait(
        &mut self,
        dir: Direction,
        header: [u8; 5],
        body: &[u8],
        at: PacketRef,
        offset: u64,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        let cost = body.len() + WAIT_OVERHEAD;
        // Make room, oldest first (this direction's, then the other's); a record larger than
        // the whole budget is given up at once.
        loop {
            let total: usize = self.dirs.iter().map(|d| d.waiting_bytes).sum();
            if total + cost <= self.cfg.max_key_wait {
                break;
            }
            let from = if self.dirs[i].waiting.is_empty() { 1 - i } else { i };
            let Some((h, b, _, off)) = self.dirs[from].waiting.pop_front() else {
                self.give_up_waiting(dir, header[0], body.len(), at, offset, out);
                return;
            };
            self.dirs[from].waiting_bytes -= b.len() + WAIT_OVERHEAD;
            let d = if from == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
            self.give_up_waiting(d, h[0], b.len(), at, off, out);
        }
        let d = &mut self.dirs[i];
        d.waiting_bytes += cost;
        d.waiting.push_back((header, body.to_vec(), at, offset));
    }

    /// A record that waited for keys is given up: a gap for a data record, its sequence number
    /// skipped, and (once) a finding.
    fn give_up_waiting(
        &mut self,
        dir: Direction,
        content_type: u8,
        body_len: usize,
        at: PacketRef,
        offset: u64,
        out: &mut Vec<Out>,
    ) {
        let d = &mut self.dirs[dir.index()];
        d.skipped += 1;
        if content_type == 23 {
            // Its keys are unknown: its overhead too.
            let len = body_len.saturating_sub(24) as u64;
            let (reason, exact) = (GapReason::BufferLimit, false);
            out.push(Out::Gap { dir, offset: d.plain, len, exact, reason, at });
            d.plain += len;
        }
        if !self.noted_late {
            self.noted_late = true;
            out.push(Out::Note {
                dir,
                check: CheckId::TlsKeysLate,
                detail: format!(
                    "records waited for their keys longer than --max-tls-key-wait ({} bytes) \
                     allows: the oldest were given up (the key log is written after the \
                     traffic, or not for this connection)",
                    self.cfg.max_key_wait
                ),
                at,
                offset,
            });
        }
    }

    /// Decrypts the records that waited, in order, once keys (or the ServerHello) came.
    fn drain_waiting(&mut self, at: PacketRef, out: &mut Vec<Out>) {
        for d in Direction::BOTH {
            let i = d.index();
            let ready = self.dirs[i].keys.is_some() || !self.dirs[i].candidates.is_empty();
            if !ready {
                continue;
            }
            while let Some((header, body, pat, off)) = self.dirs[i].waiting.pop_front() {
                self.dirs[i].waiting_bytes -= body.len() + WAIT_OVERHEAD;
                self.open(d, off, header, &body, pat.max_packet(at), out);
            }
        }
    }

    /// Opens a protected record with the current keys, or the next epoch's, or reports it.
    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        dir: Direction,
        offset: u64,
        header: [u8; 5],
        body: &[u8],
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        let t = self.tls_dir(dir);
        // Records given up while waiting for keys took their sequence numbers with them.
        let skipped = std::mem::take(&mut self.dirs[i].skipped);
        let mut opened = self.try_open(i, &header, body, 0);
        for ahead in 1..=skipped.min(SEQ_WINDOW) {
            if opened.is_some() {
                break;
            }
            opened = self.try_open(i, &header, body, ahead);
        }
        match opened {
            Some(o) => {
                self.dirs[i].failures = 0;
                self.dirs[i].opened += 1;
                self.opened(dir, o, at, out);
            }
            None => {
                let keys =
                    self.dirs[i].keys.as_ref().or(self.dirs[i].candidates.first().map(|c| &c.keys));
                let suite_overhead = keys.map_or(22, DirKeys::overhead);
                let exact = keys.is_some_and(DirKeys::exact_length);
                let d = &mut self.dirs[i];
                d.seq += 1;
                d.failures += 1;
                self.summary.dirs[t].failed += 1;
                let len = (body.len() + 5).saturating_sub(suite_overhead) as u64;
                let plain = d.plain;
                // Only a data record's loss is a gap in the plaintext (and moves it on).
                if header[0] == 23 {
                    d.plain += len;
                }
                out.push(Out::Note {
                    dir,
                    check: CheckId::TlsRecordNotAuthenticated,
                    detail: format!(
                        "a {}-byte record (content type {}) does not authenticate under the keys \
                         logged for this connection: the key log's secrets for this direction \
                         are wrong or missing (another session's?), or the capture altered its \
                         bytes; its content is not shown",
                        body.len() + 5,
                        header[0]
                    ),
                    at,
                    offset,
                });
                if header[0] == 23 {
                    let reason = GapReason::Lost;
                    out.push(Out::Gap { dir, offset: plain, len, exact, reason, at });
                }
                if d.failures >= MAX_FAILURES {
                    d.dead = true;
                    d.noted_dead = true;
                    out.push(Out::Note {
                        dir,
                        check: CheckId::TlsUndecryptable,
                        detail: format!(
                            "{MAX_FAILURES} records in a row did not authenticate: nothing more \
                             of this direction is decrypted"
                        ),
                        at,
                        offset,
                    });
                }
            }
        }
    }

    /// Tries the current keys at the current sequence number (plus `ahead`), then the next
    /// epochs' keys from sequence 0, then (TLS 1.3 application data) the next key generation.
    fn try_open(
        &mut self,
        i: usize,
        header: &[u8; 5],
        body: &[u8],
        ahead: u64,
    ) -> Option<super::keys::Opened> {
        let d = &mut self.dirs[i];
        if let Some(k) = &d.keys
            && let Some(o) = k.open(d.seq + ahead, header, body)
        {
            d.seq += ahead + 1;
            return Some(o);
        }
        if ahead > 0 {
            return None;
        }
        for n in 0..d.candidates.len() {
            if let Some(o) = d.candidates[n].keys.open(0, header, body) {
                let c = d.candidates.remove(n);
                d.candidates.drain(..n);
                d.keys = Some(c.keys);
                d.epoch = Some(c.epoch);
                d.seq = 1;
                return Some(o);
            }
        }
        // A KeyUpdate lost in the capture.
        if self.tls13
            && d.epoch == Some(Epoch::Application)
            && let (Some(suite), Some(k)) = (self.suite, &d.keys)
            && let Some(next) = k.updated(suite)
            && let Some(o) = next.open(0, header, body)
        {
            d.keys = Some(next);
            d.seq = 1;
            d.update_lost = d.lost.is_some();
            return Some(o);
        }
        None
    }

    /// A record that authenticated.
    fn opened(
        &mut self,
        dir: Direction,
        o: super::keys::Opened,
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        let t = self.tls_dir(dir);
        match o.content_type {
            23 => {
                if o.data.is_empty() {
                    return;
                }
                self.summary.dirs[t].decrypted += o.data.len() as u64;
                let d = &mut self.dirs[i];
                let offset = d.plain;
                d.plain += o.data.len() as u64;
                out.push(Out::Plain { dir, offset, data: o.data, at });
            }
            22 => {
                let mut msgs = Vec::new();
                self.dirs[i].hs.push(&o.data, &mut |m| msgs.push(m.to_vec()));
                for m in msgs {
                    match m.first().copied() {
                        Some(kind::ENCRYPTED_EXTENSIONS) => {
                            if let Some(a) = hello::encrypted_extensions_alpn(&m) {
                                self.summary.alpn = Some(a);
                            }
                        }
                        Some(kind::KEY_UPDATE) if self.tls13 => {
                            self.summary.key_updates[t] += 1;
                            let d = &mut self.dirs[i];
                            if let (Some(suite), Some(k)) = (self.suite, &d.keys) {
                                d.keys = k.updated(suite);
                                d.seq = 0;
                            }
                        }
                        Some(kind::FINISHED) if self.tls13 => {
                            // Next: application keys (the early/handshake candidates are done).
                            let d = &mut self.dirs[i];
                            if let Some(n) =
                                d.candidates.iter().position(|c| c.epoch == Epoch::Application)
                            {
                                let c = d.candidates.remove(n);
                                d.candidates.clear();
                                d.keys = Some(c.keys);
                                d.epoch = Some(Epoch::Application);
                                d.seq = 0;
                            }
                        }
                        Some(kind::END_OF_EARLY_DATA) => {
                            let d = &mut self.dirs[i];
                            if let Some(n) =
                                d.candidates.iter().position(|c| c.epoch == Epoch::Handshake)
                            {
                                let c = d.candidates.remove(n);
                                d.candidates.drain(..n);
                                d.keys = Some(c.keys);
                                d.epoch = Some(Epoch::Handshake);
                                d.seq = 0;
                            }
                        }
                        _ => {}
                    }
                }
            }
            // Alerts (close_notify) and anything else carry no application data.
            _ => {}
        }
    }

    /// Bytes `[offset, offset + len)` of TCP direction `dir` were lost. Nothing comes out at once:
    /// the plaintext gap is emitted where the next record is found (or at the end), with its
    /// exact length.
    pub fn gap(
        &mut self,
        dir: Direction,
        offset: u64,
        len: u64,
        reason: GapReason,
        _at: PacketRef,
        _out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        if self.summary.client_hello.is_none() {
            self.hello_gap = true;
        }
        let d = &mut self.dirs[i];
        if d.dead {
            return;
        }
        // The partial record before the hole is lost with it.
        let partial = match d.lost {
            Some(_) => 0,
            None => d.rec.len() as u64,
        };
        let (lost, ..) = d.lost.get_or_insert((0, d.seq, reason));
        *lost += partial + len;
        d.trials = 0;
        d.scanned = 0;
        // The search buffer restarts after the hole.
        d.rec.clear();
        d.rec_offset = offset + len;
    }

    /// After a gap: looks for the next record header in the bytes that follow and recovers its
    /// sequence number by trial decryption.
    fn search(
        &mut self,
        dir: Direction,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        {
            let d = &mut self.dirs[i];
            if d.rec.is_empty() {
                d.rec_offset = offset;
            }
            d.rec.extend_from_slice(data);
        }
        loop {
            let d = &self.dirs[i];
            let buf = &d.rec;
            let mut found = None;
            let mut need_more = false;
            // Positions before `scanned` were ruled out by bytes already there: each byte is
            // looked at once per gap, however the bytes come.
            let mut stopped = buf.len();
            for p in d.scanned.min(buf.len())..buf.len() {
                let Some(n) = record_len(&buf[p..]) else {
                    if buf.len() - p < 5 {
                        need_more = true;
                        stopped = p;
                        break;
                    }
                    continue;
                };
                // The record and the header after it (when there) must both look right.
                if buf.len() - p < n {
                    need_more = true;
                    stopped = p;
                    break;
                }
                if buf.len() - p >= n + 5 && record_len(&buf[p + n..]).is_none() {
                    continue;
                }
                found = Some((p, n));
                break;
            }
            let Some((p, n)) = found else {
                let d = &mut self.dirs[i];
                d.scanned = stopped;
                if !need_more || d.rec.len() > 2 * MAX_RECORD {
                    // Nothing plausible here: what was searched is lost too.
                    let drop = if need_more { d.rec.len() / 2 } else { d.rec.len() };
                    if let Some((lost, ..)) = &mut d.lost {
                        *lost += drop as u64;
                    }
                    d.rec.drain(..drop);
                    d.rec_offset += drop as u64;
                    d.scanned = d.scanned.saturating_sub(drop);
                }
                return;
            };
            let rec: Vec<u8> = self.dirs[i].rec[p..p + n].to_vec();
            let Ok(header) = <[u8; 5]>::try_from(&rec[..5]) else { return };
            let protected = self.dirs[i].protected && header[0] != 20;
            let keyed = self.dirs[i].keys.is_some() || !self.dirs[i].candidates.is_empty();
            let ok = !protected || !keyed || header[0] != 23 && header[0] != 21;
            if !ok {
                // Sequence numbers from the one at the gap on.
                let (lost, seq0, _) =
                    self.dirs[i].lost.unwrap_or((0, self.dirs[i].seq, GapReason::Lost));
                self.dirs[i].seq = seq0;
                let window = SEQ_WINDOW.min(lost / 22 + 2);
                for ahead in 0..window {
                    self.dirs[i].trials += 1;
                    if self.dirs[i].trials > MAX_RESYNC_TRIALS {
                        break;
                    }
                    if let Some(o) = self.try_open(i, &header, &rec[5..], ahead) {
                        self.dirs[i].opened += 1;
                        self.dirs[i].failures = 0;
                        // The gap comes before this record's plaintext.
                        self.resynced(dir, p, ahead, at, out);
                        self.opened(dir, o, at, out);
                        let rest = self.dirs[i].rec.split_off(p + n);
                        let off = self.dirs[i].rec_offset + (p + n) as u64;
                        self.dirs[i].rec.clear();
                        self.feed_records(dir, off, &rest, at, out);
                        return;
                    }
                }
                if self.dirs[i].trials > MAX_RESYNC_TRIALS {
                    let d = &mut self.dirs[i];
                    d.dead = true;
                    let off = d.rec_offset;
                    d.rec = Vec::new();
                    if !d.noted_dead {
                        d.noted_dead = true;
                        out.push(Out::Note {
                            dir,
                            check: CheckId::TlsUndecryptable,
                            detail: "after bytes lost in the capture, no later record could be \
                                     decrypted (its sequence number was not recovered): nothing \
                                     more of this direction is decrypted"
                                .to_string(),
                            at,
                            offset: off,
                        });
                    }
                    return;
                }
            }
            if ok {
                // Not decryptable here (no keys, or a record in clear): take the boundary.
                self.resynced(dir, p, 0, at, out);
                let rest = std::mem::take(&mut self.dirs[i].rec);
                let off = self.dirs[i].rec_offset + p as u64;
                self.feed_records(dir, off, &rest[p..], at, out);
                return;
            }
            // This candidate did not authenticate: look further.
            let d = &mut self.dirs[i];
            d.rec.drain(..=p);
            d.scanned = 0;
            d.rec_offset += p as u64 + 1;
            if let Some((lost, ..)) = &mut d.lost {
                *lost += p as u64 + 1;
            }
        }
    }

    /// A record boundary was found `p` bytes into the search buffer, `skipped` sequence numbers
    /// after the one at the gap: the plaintext gap is emitted.
    fn resynced(
        &mut self,
        dir: Direction,
        p: usize,
        skipped: u64,
        at: PacketRef,
        out: &mut Vec<Out>,
    ) {
        let i = dir.index();
        let keys = self.dirs[i].keys.as_ref();
        let overhead = keys.map_or(22, DirKeys::overhead) as u64;
        // CBC records lost whole or in part: their padding, so their plaintext length, is
        // unknown, and so is where the frames go on after the gap.
        let exact = keys.is_some_and(DirKeys::exact_length);
        let mut exact = exact;
        let d = &mut self.dirs[i];
        let Some((lost, _, reason)) = d.lost.take() else { return };
        let lost = lost + p as u64;
        // Only data records carry plaintext; `skipped` of them were lost whole or in part.
        let mut len = lost.saturating_sub(skipped.max(1) * overhead);
        if std::mem::take(&mut d.update_lost) {
            // The KeyUpdate's own bytes are no application data (a lost KeyUpdate alone made a
            // 5-byte gap in the WebSocket stream). Records lost with it under the old keys are
            // not counted in `skipped`: what remains is an estimate.
            len = len.saturating_sub(KEY_UPDATE_LEN);
            if len == 0 {
                return;
            }
            exact = false;
        }
        if d.protected || d.epoch.is_some() {
            let offset = d.plain;
            d.plain += len;
            out.push(Out::Gap { dir, offset, len, exact, reason, at });
        }
    }

    /// The connection ended: a record cut off, or a search still going, is a gap.
    pub fn finish(&mut self, at: PacketRef, out: &mut Vec<Out>) {
        // Keys that came at the very end still decrypt what waited: a followed key log is read
        // now, not at its next poll (a connection shorter than the poll ended before it).
        let waited = self.dirs.iter().any(|d| !d.waiting.is_empty());
        if waited
            && self.secrets.is_none()
            && let Some(store) = &self.cfg.keys
        {
            store.catch_up();
        }
        if waited && self.summary.server_hello.is_some() && self.lookup() {
            if self.tls13 {
                self.keys13(at, out);
            } else {
                for d in Direction::BOTH {
                    if self.dirs[d.index()].protected {
                        self.install12(d);
                    }
                }
                self.drain_waiting(at, out);
            }
        }
        for dir in Direction::BOTH {
            let overhead =
                self.dirs[dir.index()].keys.as_ref().map_or(22, DirKeys::overhead) as u64;
            let d = &mut self.dirs[dir.index()];
            let decrypting = d.keys.is_some();
            let cut = match d.lost.take() {
                Some((lost, _, reason)) => Some((lost + d.rec.len() as u64, reason)),
                None if !d.rec.is_empty() => {
                    let declared = record_len(&d.rec).unwrap_or(MAX_RECORD) as u64;
                    Some((declared.saturating_sub(overhead), GapReason::ConnectionEnd))
                }
                None => None,
            };
            d.rec = Vec::new();
            d.waiting.clear();
            d.waiting_bytes = 0;
            if let Some((len, reason)) = cut
                && decrypting
                && len > 0
            {
                let offset = d.plain;
                d.plain += len;
                // Nothing follows it.
                out.push(Out::Gap { dir, offset, len, exact: true, reason, at });
            }
        }
    }
}

/// A KeyUpdate handshake message's plaintext: its 4-byte header and 1-byte request.
const KEY_UPDATE_LEN: u64 = 5;

/// The length of the record starting `b` (header included), when `b` starts with a plausible
/// record header; `None` when it does not, or when fewer than 5 bytes are there.
fn record_len(b: &[u8]) -> Option<usize> {
    if b.len() < 5 || !looks_like_record(b) {
        return None;
    }
    let n = 5 + usize::from(u16::from_be_bytes([b[3], b[4]]));
    (n <= MAX_RECORD).then_some(n)
}

trait MaxPacket {
    fn max_packet(self, o: PacketRef) -> PacketRef;
}

impl MaxPacket for PacketRef {
    /// Records that waited come out at the packet that let them be decrypted.
    fn max_packet(self, o: PacketRef) -> PacketRef {
        if o.packet > self.packet { o } else { self }
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
