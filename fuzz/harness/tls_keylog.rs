//! `tls_keylog`: the NSS key log parser (`wsscope::tls::KeyLog::add_text`, and `KeyStore` over
//! it) on arbitrary bytes.
//!
//! Input: the key log text, as it is.
//!
//! Checks: no panic; the counts are consistent — `secrets + malformed + skipped` is at most the
//! number of lines (`\n`-separated pieces), and a log with secrets names at least one and at most
//! `secrets` connections; lines are independent — reading the text line by line gives the same
//! counts and the same secrets for every client random as reading it whole, and so does a
//! `KeyStore` (whose generation moves exactly when secrets were read); what is kept is possible —
//! secrets of 1 to 64 bytes, `CLIENT_RANDOM` master secrets of 48; and no secret leaks into
//! `Debug` — neither `Secrets`' nor `KeyLog`'s nor `KeyStore`'s output holds the hex (either case)
//! of any secret of 4 bytes or more (shorter ones could occur by chance in the counts and names
//! printed), nor `Secrets`' its decimal list.

use wsscope::tls::keylog::{ClientRandom, Secrets};
use wsscope::tls::{KeyLog, KeyStore, ParseStats};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every client random the text may name: each whitespace-separated field of 64 hex digits, in
/// any position (a superset of what the parser reads; not the parser, only a way to find the
/// connections to look up).
fn randoms(text: &[u8]) -> Vec<ClientRandom> {
    let mut out = Vec::new();
    for field in text.split(|b| b.is_ascii_whitespace()) {
        if field.len() != 64 || !field.iter().all(u8::is_ascii_hexdigit) {
            continue;
        }
        let mut r = [0u8; 32];
        for (b, d) in r.iter_mut().zip(field.chunks_exact(2)) {
            let d = std::str::from_utf8(d).unwrap_or("00");
            *b = u8::from_str_radix(d, 16).unwrap_or(0);
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn all_secrets(s: &Secrets) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = [&s.master, &s.client_early, &s.client_handshake, &s.server_handshake]
        .into_iter()
        .flatten()
        .map(Vec::as_slice)
        .collect();
    v.extend(s.client_traffic.iter().chain(&s.server_traffic).map(|(_, x)| x.as_slice()));
    v
}

/// `shown` holds none of the secrets (of 4 bytes or more) in hex, nor (`lists`) as a decimal
/// list (`KeyLog`'s Debug prints client randoms that way, which a secret may repeat).
fn assert_hidden(shown: &str, secrets: &[&[u8]], lists: bool, what: &str) {
    let lower = shown.to_ascii_lowercase();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        assert!(!lower.contains(&hex(s)), "{what}'s Debug shows a secret in hex: {shown}");
        let list = format!("{s:?}");
        let list = &list[1..list.len() - 1];
        assert!(!lists || !shown.contains(list), "{what}'s Debug shows a secret: {shown}");
    }
}

/// One execution.
pub fn run(data: &[u8]) {
    let mut log = KeyLog::new();
    let stats = log.add_text(data);
    let lines = data.split(|b| *b == b'\n').count() as u64;
    assert!(stats.secrets + stats.malformed + stats.skipped <= lines, "{stats:?} of {lines} lines");
    assert!(log.len() as u64 <= stats.secrets, "{} connections from {stats:?}", log.len());
    assert_eq!(log.is_empty(), stats.secrets == 0, "{stats:?}");

    // Line by line: the same counts, the same secrets.
    let mut by_line = KeyLog::new();
    let mut sum = ParseStats::default();
    for line in data.split_inclusive(|b| *b == b'\n') {
        sum += by_line.add_text(line);
    }
    assert_eq!(sum, stats, "line by line");
    assert_eq!(by_line.len(), log.len());

    // The store: the same, and its generation moves exactly when secrets were read.
    let store = KeyStore::new();
    let g = store.generation();
    assert_eq!(store.add_text(data), stats);
    assert_eq!(store.generation() != g, stats.secrets > 0);
    assert!(store.given());
    assert_eq!(store.stats(), stats);
    assert_eq!(store.len(), log.len());

    let mut backwards = KeyLog::new();
    for line in data.split_inclusive(|b| *b == b'\n').collect::<Vec<_>>().into_iter().rev() {
        backwards.add_text(line);
    }

    let mut every = Vec::new();
    let mut found = 0;
    for r in randoms(data) {
        let Some(s) = log.get(&r) else {
            assert!(by_line.get(&r).is_none() && store.lookup(&r).is_none());
            continue;
        };
        found += 1;
        assert_eq!(by_line.get(&r), Some(s), "line by line");
        assert_eq!(store.lookup(&r).as_ref(), Some(s), "the store");
        let secrets = all_secrets(s);
        assert!(!secrets.is_empty(), "a connection without secrets");
        assert!(secrets.iter().all(|x| (1..=64).contains(&x.len())), "secret lengths");
        assert!(s.master.as_ref().is_none_or(|m| m.len() == 48), "master secret length");
        // The traffic secret kept is the lowest generation logged, whatever the lines' order.
        for client in [true, false] {
            let kept = s.traffic(client).map(|(n, _)| n);
            let reversed = backwards.get(&r).and_then(|b| b.traffic(client)).map(|(n, _)| n);
            assert_eq!(kept, reversed, "the lowest generation, in either order");
        }
        assert_hidden(&format!("{s:?}"), &secrets, true, "Secrets");
        every.extend(secrets.into_iter().map(<[u8]>::to_vec));
    }
    // Every connection the parser kept was named by a line.
    assert_eq!(found, log.len(), "connections not found by their random");
    let every: Vec<&[u8]> = every.iter().map(Vec::as_slice).collect();
    assert_hidden(&format!("{log:?}"), &every, false, "KeyLog");
    assert_hidden(&format!("{store:?}"), &every, false, "KeyStore");
}
