//! The NSS key log format (RFC 9850): what `SSLKEYLOGFILE` makes Chrome, Firefox and curl write,
//! Node's `--tls-keylog`, Python's `keylog_filename`, Go's `KeyLogWriter`, rustls' `KeyLogFile`.
//!
//! One secret per line: `<label> <client random, 64 hex digits> <secret, hex>`. Lines starting
//! with `#`, empty lines and lines with labels we do not use are skipped; malformed lines are
//! counted, never fatal. The text reaches this module as bytes: it never opens a file.
//!
//! Secrets are never printed: [`Secrets`]' `Debug` shows which secrets are present, not their
//! values.

use foldhash::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The 32-byte ClientHello random that names a connection in a key log.
pub type ClientRandom = [u8; 32];

/// The secrets a key log holds for one connection.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 and below: `CLIENT_RANDOM`, the 48-byte master secret.
    pub master: Option<Vec<u8>>,
    /// TLS 1.3: `CLIENT_EARLY_TRAFFIC_SECRET` (0-RTT data).
    pub client_early: Option<Vec<u8>>,
    /// TLS 1.3: `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3: `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3: the lowest-numbered `CLIENT_TRAFFIC_SECRET_N` logged, with its N (after N key
    /// updates). Later ones are derived from it at each KeyUpdate, so only this one is kept: a
    /// log may hold any number of them for one connection.
    pub client_traffic: Option<(u32, Vec<u8>)>,
    /// TLS 1.3: the lowest-numbered `SERVER_TRAFFIC_SECRET_N`, with its N.
    pub server_traffic: Option<(u32, Vec<u8>)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Which secrets, never their values.
        f.debug_struct("Secrets")
            .field("master", &self.master.is_some())
            .field("client_early", &self.client_early.is_some())
            .field("client_handshake", &self.client_handshake.is_some())
            .field("server_handshake", &self.server_handshake.is_some())
            .field("client_traffic", &self.client_traffic.as_ref().map(|t| t.0))
            .field("server_traffic", &self.server_traffic.as_ref().map(|t| t.0))
            .finish()
    }
}

impl Secrets {
    /// The lowest-numbered `CLIENT_TRAFFIC_SECRET_N` (or `SERVER_…`) logged, with its N.
    pub fn traffic(&self, client: bool) -> Option<(u32, &[u8])> {
        let t = if client { &self.client_traffic } else { &self.server_traffic };
        t.as_ref().map(|(n, s)| (*n, s.as_slice()))
    }
}

/// What reading key log text found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Lines that gave a secret we use.
    pub secrets: u64,
    /// Lines that were not `<label> <64 hex> <hex>` (or had a secret of an impossible length).
    pub malformed: u64,
    /// Well-formed lines with a label we do not use (`EXPORTER_SECRET`, …).
    pub skipped: u64,
    /// Bytes of secrets a capture held past the first 16 MiB (`capture::MAX_CAPTURE_SECRETS`), not read.
    pub over_limit: u64,
}

impl std::ops::AddAssign for ParseStats {
    fn add_assign(&mut self, o: ParseStats) {
        self.secrets += o.secrets;
        self.malformed += o.malformed;
        self.skipped += o.skipped;
        self.over_limit += o.over_limit;
    }
}

/// The secrets of a key log, by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    map: HashMap<ClientRandom, Secrets>,
}

/// Longest secret accepted (SHA-512 size; TLS uses 32 or 48 bytes).
const MAX_SECRET: usize = 64;

impl KeyLog {
    /// An empty key log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads key log text: every complete line in `text` (a last line without a newline is read
    /// too; a caller following a growing file passes complete lines only).
    pub fn add_text(&mut self, text: &[u8]) -> ParseStats {
        let mut stats = ParseStats::default();
        for line in text.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            match parse_line(line) {
                Line::Secret(label, random, secret) => {
                    stats.secrets += 1;
                    self.insert(label, random, secret);
                }
                Line::Unused => stats.skipped += 1,
                Line::Malformed => stats.malformed += 1,
            }
        }
        stats
    }

    fn insert(&mut self, label: Label, random: ClientRandom, secret: Vec<u8>) {
        let s = self.map.entry(random).or_default();
        match label {
            Label::ClientRandom => s.master = Some(secret),
            Label::ClientEarly => s.client_early = Some(secret),
            Label::ClientHandshake => s.client_handshake = Some(secret),
            Label::ServerHandshake => s.server_handshake = Some(secret),
            Label::ClientTraffic(n) | Label::ServerTraffic(n) => {
                let kept = if matches!(label, Label::ClientTraffic(_)) {
                    &mut s.client_traffic
                } else {
                    &mut s.server_traffic
                };
                if kept.as_ref().is_none_or(|(m, _)| n <= *m) {
                    *kept = Some((n, secret));
                }
            }
        }
    }

    /// The secrets logged for the connection whose ClientHello carried `random`.
    pub fn get(&self, random: &ClientRandom) -> Option<&Secrets> {
        self.map.get(random)
    }

    /// Connections with at least one secret.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No secrets at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    ClientRandom,
    ClientEarly,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic(u32),
    ServerTraffic(u32),
}

enum Line {
    Secret(Label, ClientRandom, Vec<u8>),
    Unused,
    Malformed,
}

fn parse_line(line: &[u8]) -> Line {
    let mut parts = line.split(|b| *b == b' ' || *b == b'\t').filter(|p| !p.is_empty());
    let (Some(label), Some(random), Some(secret), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Line::Malformed;
    };
    // `RSA <first 8 bytes of the encrypted premaster> <premaster>` (NSS; OpenSSL writes it
    // beside the CLIENT_RANDOM line of an RSA key exchange, which is the one used).
    if label == b"RSA" {
        let hex = |s: &[u8], n: usize| s.len() == n && unhex(s).is_some();
        return if hex(random, 16) && hex(secret, 96) { Line::Unused } else { Line::Malformed };
    }
    let (Some(random), Some(secret)) = (unhex(random), unhex(secret)) else {
        return Line::Malformed;
    };
    let Ok(random) = ClientRandom::try_from(random.as_slice()) else {
        return Line::Malformed;
    };
    if secret.is_empty() || secret.len() > MAX_SECRET {
        return Line::Malformed;
    }
    let traffic = |prefix: &[u8]| -> Option<u32> {
        let n = label.strip_prefix(prefix)?;
        std::str::from_utf8(n).ok()?.parse().ok()
    };
    let label = match label {
        b"CLIENT_RANDOM" if secret.len() == 48 => Label::ClientRandom,
        b"CLIENT_RANDOM" => return Line::Malformed,
        b"CLIENT_EARLY_TRAFFIC_SECRET" => Label::ClientEarly,
        b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
        b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
        _ => match (traffic(b"CLIENT_TRAFFIC_SECRET_"), traffic(b"SERVER_TRAFFIC_SECRET_")) {
            (Some(n), _) => Label::ClientTraffic(n),
            (_, Some(n)) => Label::ServerTraffic(n),
            _ => return Line::Unused,
        },
    };
    Line::Secret(label, random, secret)
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// A key log shared by every thread that decrypts, which may grow while they run (a live
/// capture following a key log file, pcapng Decryption Secrets Blocks met while reading).
///
/// Readers look secrets up by client random; [`KeyStore::generation`] changes whenever secrets
/// were added, so a connection waiting for its keys knows when to look again.
#[derive(Default)]
pub struct KeyStore {
    log: RwLock<KeyLog>,
    generation: AtomicU64,
    /// Secrets may still come (a key log followed live, or a pcapng file still being read).
    growing: std::sync::atomic::AtomicBool,
    /// What was read, for the run's summary.
    stats: std::sync::Mutex<ParseStats>,
    /// Whether any key material was given at all (a key log, even an empty one, or a block).
    given: std::sync::atomic::AtomicBool,
    /// What names the key log file read at the start (its lines' SHA-1), so that the shares of a
    /// sharded run can tell they were given the same one.
    digest: std::sync::Mutex<Option<String>>,
    /// Reads what was appended to a followed key log now ([`KeyStore::catch_up`]).
    catch_up: std::sync::Mutex<Option<CatchUp>>,
}

/// Reads a followed key log's new lines into the store it is given.
pub type CatchUp = Box<dyn Fn(&KeyStore) + Send + Sync>;

/// Not shown: a closure.
struct Opaque;

impl std::fmt::Debug for Opaque {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("log", &self.log)
            .field("generation", &self.generation)
            .field("growing", &self.growing)
            .field("given", &self.given)
            .field("catch_up", &Opaque)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds key log text (see [`KeyLog::add_text`]).
    pub fn add_text(&self, text: &[u8]) -> ParseStats {
        let stats = match self.log.write() {
            Ok(mut log) => log.add_text(text),
            Err(poisoned) => poisoned.into_inner().add_text(text),
        };
        self.given.store(true, Ordering::Release);
        if stats.secrets > 0 {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        if let Ok(mut s) = self.stats.lock() {
            *s += stats;
        }
        stats
    }

    /// Records what names the key log file read at the start (see [`KeyStore::digest`]).
    pub fn set_digest(&self, digest: String) {
        if let Ok(mut d) = self.digest.lock() {
            *d = Some(digest);
        }
    }

    /// The SHA-1 (hex) of the key log file's lines read at the start, if one was.
    pub fn digest(&self) -> Option<String> {
        self.digest.lock().ok().and_then(|d| d.clone())
    }

    /// Notes `bytes` of secrets a capture held past its limit, not read.
    pub fn note_over_limit(&self, bytes: usize) {
        if let Ok(mut s) = self.stats.lock() {
            s.over_limit += bytes as u64;
        }
    }

    /// A copy of the secrets logged for `random`.
    pub fn lookup(&self, random: &ClientRandom) -> Option<Secrets> {
        match self.log.read() {
            Ok(log) => log.get(random).cloned(),
            Err(poisoned) => poisoned.into_inner().get(random).cloned(),
        }
    }

    /// Changes whenever secrets are added.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Says whether secrets may still be added (records waiting for keys are kept only then).
    pub fn set_growing(&self, growing: bool) {
        self.growing.store(growing, Ordering::Release);
    }

    /// Sets (or, with `None`, removes) what [`KeyStore::catch_up`] calls.
    pub fn set_catch_up(&self, f: Option<CatchUp>) {
        if let Ok(mut c) = self.catch_up.lock() {
            *c = f;
        }
    }

    /// Reads what was appended to a followed key log by now, at once (a connection about to
    /// give up waiting for its keys); nothing when no key log is followed.
    pub fn catch_up(&self) {
        if let Ok(c) = self.catch_up.lock()
            && let Some(f) = c.as_ref()
        {
            f(self);
        }
    }

    /// Whether secrets may still be added.
    pub fn growing(&self) -> bool {
        self.growing.load(Ordering::Acquire)
    }

    /// Whether any key material was given (a key log or a Decryption Secrets Block).
    pub fn given(&self) -> bool {
        self.given.load(Ordering::Acquire)
    }

    /// Marks key material as given even before any text arrives (an empty key log followed live).
    pub fn mark_given(&self) {
        self.given.store(true, Ordering::Release);
    }

    /// What was read so far.
    pub fn stats(&self) -> ParseStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Connections with secrets.
    pub fn len(&self) -> usize {
        self.log.read().map(|l| l.len()).unwrap_or(0)
    }

    /// No secrets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "0102030405060708091011121314151617181920212223242526272829303132";

    #[test]
    fn reads_every_label_we_use_and_skips_the_rest() {
        let text = format!(
            "# comment\n\nCLIENT_RANDOM {R} {m}\r\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {R} {s}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {R} {s}\nCLIENT_TRAFFIC_SECRET_0 {R} {s}\n\
             SERVER_TRAFFIC_SECRET_0 {R} {s}\nSERVER_TRAFFIC_SECRET_1 {R} {t}\n\
             CLIENT_EARLY_TRAFFIC_SECRET {R} {s}\nEXPORTER_SECRET {R} {s}\n\
             RSA 0102030405060708 {p}\n",
            p = "12".repeat(48),
            m = "ab".repeat(48),
            s = "cd".repeat(32),
            t = "ef".repeat(32),
        );
        let mut log = KeyLog::new();
        let st = log.add_text(text.as_bytes());
        assert_eq!(st, ParseStats { secrets: 7, malformed: 0, skipped: 2, over_limit: 0 });
        let random: ClientRandom = unhex(R.as_bytes()).unwrap().try_into().unwrap();
        let s = log.get(&random).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.traffic(false), Some((0, &[0xcd; 32][..])));
        // SERVER_TRAFFIC_SECRET_1 came later and is derived from _0: it is not kept.
        assert_eq!(format!("{s:?}").matches("Some(0)").count(), 2, "{s:?}");
        assert!(s.client_early.is_some() && s.client_handshake.is_some());
        // Debug never shows a secret.
        assert!(!format!("{s:?}").contains("171"), "{s:?}");
        assert!(!format!("{s:?}").to_lowercase().contains("ab, ab"));
    }

    #[test]
    fn malformed_lines_are_counted_not_fatal() {
        let text = format!(
            "CLIENT_RANDOM {R}\nCLIENT_RANDOM zz {m}\nCLIENT_RANDOM {R} abc\n\
             CLIENT_RANDOM {R} {short}\nCLIENT_RANDOM {R} {m} extra\nCLIENT_RANDOM {R} {m}",
            m = "00".repeat(48),
            short = "00".repeat(32),
        );
        let mut log = KeyLog::new();
        let st = log.add_text(text.as_bytes());
        assert_eq!(st, ParseStats { secrets: 1, malformed: 5, skipped: 0, over_limit: 0 });
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn the_store_counts_generations() {
        let store = KeyStore::new();
        assert!(!store.given());
        let g = store.generation();
        store.add_text(b"garbage\n");
        assert_eq!(store.generation(), g);
        assert!(store.given());
        store.add_text(format!("CLIENT_RANDOM {R} {}\n", "11".repeat(48)).as_bytes());
        assert_eq!(store.generation(), g + 1);
        assert_eq!(store.len(), 1);
        assert_eq!(store.stats().malformed, 1);
    }
}
