//! The TLS layer on crafted connections: keys from a key log given as text, records sealed with
//! the same AEAD crates, fed split anywhere, with gaps, tampering, key updates and late keys.

use super::*;
use crate::time::Timestamp;
use crate::tls::keylog::KeyStore;
use crate::tls::keys::DirKeys;
use crate::tls::suite;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

fn at(packet: u64) -> PacketRef {
    PacketRef { ts: Timestamp::from_nanos(packet as i64 * 1000), packet, ..Default::default() }
}

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

const RANDOM: [u8; 32] = [0x5a; 32];

fn client_hello(tls13: bool) -> Vec<u8> {
    let alpn = [&[0u8, 9, 8][..], b"http/1.1"].concat();
    let mut exts = ext(16, &alpn);
    let host = b"ws.example";
    let sni = [&[0u8, (host.len() + 3) as u8, 0, 0, host.len() as u8][..], host].concat();
    exts.extend(ext(0, &sni));
    if tls13 {
        exts.extend(ext(43, &[2, 3, 4]));
    }
    let mut b = vec![3, 3];
    b.extend(RANDOM);
    b.extend([0, 0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs(1, &b))
}

fn server_hello(version: u16, cipher: u16) -> Vec<u8> {
    let mut exts = Vec::new();
    if version == 0x0304 {
        exts.extend(ext(43, &[3, 4]));
    } else {
        let alpn = [&[0u8, 9, 8][..], b"http/1.1"].concat();
        exts.extend(ext(16, &alpn));
    }
    let mut b = vec![3, 3];
    b.extend([0x77; 32]);
    b.push(0);
    b.extend(cipher.to_be_bytes());
    b.push(0);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs(2, &b))
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Tls13 {
    keylog: String,
    c_hs: DirKeys,
    s_hs: DirKeys,
    c_app: DirKeys,
    s_app: DirKeys,
}

fn tls13_keys() -> Tls13 {
    let suite = suite::find(0x1301).unwrap();
    let r = hexs(&RANDOM);
    let (ch, sh, ca, sa) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
    let keylog = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
        hexs(&ch),
        hexs(&sh),
        hexs(&ca),
        hexs(&sa)
    );
    Tls13 {
        keylog,
        c_hs: DirKeys::tls13(suite, &ch).unwrap(),
        s_hs: DirKeys::tls13(suite, &sh).unwrap(),
        c_app: DirKeys::tls13(suite, &ca).unwrap(),
        s_app: DirKeys::tls13(suite, &sa).unwrap(),
    }
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: ws.example\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";

/// The two directions of a TLS 1.3 connection: hellos, the encrypted handshake, then the
/// request in two records and the response.
fn tls13_streams(k: &Tls13) -> [Vec<u8>; 2] {
    tls13_streams_alpn(k, b"http/1.1")
}

/// The same, with the server choosing ALPN `chosen` (in its encrypted extensions).
fn tls13_streams_alpn(k: &Tls13, chosen: &[u8]) -> [Vec<u8>; 2] {
    let list = [&[chosen.len() as u8][..], chosen].concat();
    let alpn = ext(16, &[&(list.len() as u16).to_be_bytes()[..], &list].concat());
    let ee_alpn = [&(alpn.len() as u16).to_be_bytes()[..], &alpn].concat();
    let mut server = server_hello(0x0304, 0x1301);
    server.extend(record(20, &[1])); // middlebox compatibility
    let flight = [hs(8, &ee_alpn), hs(11, &[0; 40]), hs(15, &[0; 20]), hs(20, &[9; 32])].concat();
    server.extend(k.s_hs.seal(0, 22, &flight));
    server.extend(k.s_app.seal(0, 22, &hs(4, &[0; 30]))); // NewSessionTicket
    server.extend(k.s_app.seal(1, 23, RESPONSE));
    let mut client = client_hello(true);
    client.extend(record(20, &[1]));
    client.extend(k.c_hs.seal(0, 22, &hs(20, &[8; 32])));
    client.extend(k.c_app.seal(0, 23, &REQUEST[..10]));
    client.extend(k.c_app.seal(1, 23, &REQUEST[10..]));
    client.extend(k.c_app.seal(2, 21, &[1, 0])); // close_notify
    [client, server]
}

fn layer(keylog: Option<&str>) -> TlsLayer {
    let keys = keylog.map(|t| {
        let s = KeyStore::new();
        s.add_text(t.as_bytes());
        Arc::new(s)
    });
    TlsLayer::new(TlsConfig { keys, max_key_wait: 1 << 20 })
}

/// Feeds both streams in pieces of `cut` bytes, alternating (the client's ClientHello first).
fn run(l: &mut TlsLayer, streams: &[Vec<u8>; 2], cut: usize) -> Vec<Out> {
    let mut out = Vec::new();
    let mut pos = [0usize; 2];
    let mut packet = 1;
    // The ClientHello first (as on the wire), then the two directions alternate.
    let ch = 5 + usize::from(u16::from_be_bytes([streams[0][3], streams[0][4]]));
    l.feed(C2S, 0, &streams[0][..ch], at(1), &mut out);
    pos[0] = ch;
    while pos[0] < streams[0].len() || pos[1] < streams[1].len() {
        for d in Direction::BOTH {
            let i = d.index();
            let end = (pos[i] + cut).min(streams[i].len());
            if pos[i] < end {
                packet += 1;
                l.feed(d, pos[i] as u64, &streams[i][pos[i]..end], at(packet), &mut out);
                pos[i] = end;
            }
        }
    }
    l.finish(at(packet + 1), &mut out);
    out
}

fn plain(out: &[Out], dir: Direction) -> Vec<u8> {
    let mut v = Vec::new();
    for o in out {
        if let Out::Plain { dir: d, offset, data, .. } = o
            && *d == dir
        {
            assert_eq!(*offset, v.len() as u64, "plaintext offsets are contiguous");
            v.extend_from_slice(data);
        }
    }
    v
}

#[test]
fn tls13_decrypts_split_anywhere() {
    let k = tls13_keys();
    let streams = tls13_streams(&k);
    for cut in [1, 2, 5, 7, 64, 1000, 100_000] {
        let mut l = layer(Some(&k.keylog));
        let out = run(&mut l, &streams, cut);
        assert_eq!(plain(&out, C2S), REQUEST, "cut {cut}");
        assert_eq!(plain(&out, S2C), RESPONSE, "cut {cut}");
        assert!(!out.iter().any(|o| matches!(o, Out::Note { .. } | Out::Gap { .. })), "{out:?}");
        assert_eq!(l.decryption(), Decryption::Decrypted);
        let s = l.summary();
        assert_eq!(s.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(s.client_hello.as_ref().unwrap().sni.as_deref(), Some("ws.example"));
        assert_eq!(s.server_hello.as_ref().unwrap().version, 0x0304);
        assert_eq!(s.dirs[0].decrypted, REQUEST.len() as u64);
        assert_eq!(s.dirs[0].records, 6);
        assert_eq!(s.dirs[0].bytes, streams[0].len() as u64);
    }
}

#[test]
fn without_keys_nothing_is_shown_and_the_reason_is_known() {
    let k = tls13_keys();
    let streams = tls13_streams(&k);
    let mut l = layer(None);
    let out = run(&mut l, &streams, 100);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(l.decryption(), Decryption::NoKeyLog);
    assert_eq!(l.summary().dirs[1].records, 5);
    let other = format!("CLIENT_RANDOM {} {}\n", "00".repeat(32), "11".repeat(48));
    let mut l = layer(Some(&other));
    assert!(run(&mut l, &streams, 100).is_empty());
    assert_eq!(l.decryption(), Decryption::NoKeys);
    // The capture began after the handshake: no client random.
    let mut l = layer(Some(&k.keylog));
    let late = [streams[0][streams[0].len() - 24..].to_vec(), Vec::new()];
    let mut out = Vec::new();
    l.feed(C2S, 0, &late[0], at(1), &mut out);
    l.finish(at(2), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(l.decryption(), Decryption::NoHandshake);
}

#[test]
fn a_tampered_record_is_a_finding_and_a_gap_never_plaintext() {
    let k = tls13_keys();
    let mut streams = tls13_streams(&k);
    // Flip a bit inside the client's first application record.
    let first_app = streams[0].len() - (REQUEST.len() - 10 + 22) - (2 + 22) - (10 + 22);
    streams[0][first_app + 8] ^= 0x40;
    let mut l = layer(Some(&k.keylog));
    let out = run(&mut l, &streams, 9);
    let notes: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Out::Note { check, .. } => Some(*check),
            _ => None,
        })
        .collect();
    assert_eq!(notes, vec![CheckId::TlsRecordNotAuthenticated]);
    let gaps: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Out::Gap { offset, len, .. } => Some((*offset, *len)),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, vec![(0, 10)], "the record's plaintext length, exactly");
    // The next record still decrypts, at its place after the gap.
    let after: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Out::Plain { dir: C2S, offset, data, .. } => Some((*offset, data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(after, vec![(10, REQUEST[10..].to_vec())]);
    assert_eq!(l.decryption(), Decryption::Partial);
}

#[test]
fn after_a_gap_the_next_record_and_its_sequence_number_are_found() {
    let k = tls13_keys();
    let [client, server] = tls13_streams(&k);
    // The server sends five more records; the capture loses the 2nd and part of the 3rd.
    let msgs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i; 100 + usize::from(i)]).collect();
    let recs: Vec<Vec<u8>> =
        msgs.iter().enumerate().map(|(i, m)| k.s_app.seal(2 + i as u64, 23, m)).collect();
    let mut out = Vec::new();
    let mut l = layer(Some(&k.keylog));
    l.feed(C2S, 0, &client, at(1), &mut out);
    l.feed(S2C, 0, &server, at(2), &mut out);
    let mut off = server.len() as u64;
    l.feed(S2C, off, &recs[0], at(3), &mut out);
    off += recs[0].len() as u64;
    let lost = recs[1].len() as u64 + 40;
    l.gap(S2C, off, lost, GapReason::Lost, at(4), &mut out);
    off += lost;
    l.feed(S2C, off, &recs[2][40..], at(5), &mut out);
    off += recs[2].len() as u64 - 40;
    l.feed(S2C, off, &recs[3], at(6), &mut out);
    off += recs[3].len() as u64;
    l.feed(S2C, off, &recs[4], at(7), &mut out);
    l.finish(at(8), &mut out);
    let s2c: Vec<&Out> = out
        .iter()
        .filter(|o| matches!(o, Out::Plain { dir: S2C, .. } | Out::Gap { dir: S2C, .. }))
        .collect();
    let base = RESPONSE.len() as u64;
    let want_gap = (msgs[1].len() + msgs[2].len()) as u64;
    assert!(
        matches!(s2c[2], Out::Gap { offset, len, .. } if *offset == base + 100 && *len == want_gap),
        "{s2c:?}"
    );
    assert!(
        matches!(s2c[3], Out::Plain { offset, data, .. } if *offset == base + 100 + want_gap && data == &msgs[3]),
        "{s2c:?}"
    );
    assert!(matches!(s2c[4], Out::Plain { data, .. } if data == &msgs[4]));
    assert_eq!(l.decryption(), Decryption::Decrypted);
}

#[test]
fn key_updates_are_followed_even_when_the_update_was_lost() {
    let suite = suite::find(0x1301).unwrap();
    let k = tls13_keys();
    let [client, server] = tls13_streams(&k);
    let next = k.s_app.updated(suite).unwrap();
    let mut tail = k.s_app.seal(2, 22, &hs(24, &[0])); // KeyUpdate(update_not_requested)
    tail.extend(next.seal(0, 23, b"after update"));
    let mut l = layer(Some(&k.keylog));
    let mut out = Vec::new();
    l.feed(C2S, 0, &client, at(1), &mut out);
    let s = [server.clone(), tail].concat();
    l.feed(S2C, 0, &s, at(2), &mut out);
    assert_eq!(plain(&out, S2C), [RESPONSE, b"after update"].concat());
    assert_eq!(l.summary().key_updates, [0, 1]);
    // The KeyUpdate record itself lost: the next generation is tried.
    let mut l = layer(Some(&k.keylog));
    let mut out = Vec::new();
    l.feed(C2S, 0, &client, at(1), &mut out);
    let mut s = server.clone();
    s.extend(next.seal(0, 23, b"after lost update"));
    l.feed(S2C, 0, &s, at(2), &mut out);
    assert_eq!(plain(&out, S2C), [RESPONSE, b"after lost update"].concat());
    // Lost in the capture (a TCP gap over exactly the KeyUpdate record): no application bytes
    // were lost with it, so no gap reaches the WebSocket stream (it said 5 bytes).
    let ku = k.s_app.seal(2, 22, &hs(24, &[0]));
    let after = next.seal(0, 23, b"after a gap");
    let mut l = layer(Some(&k.keylog));
    let mut out = Vec::new();
    l.feed(C2S, 0, &client, at(1), &mut out);
    l.feed(S2C, 0, &server, at(2), &mut out);
    let base = server.len() as u64;
    l.gap(S2C, base, ku.len() as u64, GapReason::Lost, at(3), &mut out);
    l.feed(S2C, base + ku.len() as u64, &after, at(4), &mut out);
    l.finish(at(5), &mut out);
    assert_eq!(plain(&out, S2C), [RESPONSE, b"after a gap"].concat());
    assert!(!out.iter().any(|o| matches!(o, Out::Gap { .. })), "{out:?}");
}

#[test]
fn tls12_gcm_and_chacha_decrypt() {
    for cipher in [0xc02f, 0xcca8] {
        let suite = suite::find(cipher).unwrap();
        let master = [0x33u8; 48];
        let sr = [0x77u8; 32];
        let ck = DirKeys::tls12(suite, &master, &RANDOM, &sr, true, false).unwrap();
        let sk = DirKeys::tls12(suite, &master, &RANDOM, &sr, false, false).unwrap();
        let keylog = format!("CLIENT_RANDOM {} {}\n", hexs(&RANDOM), hexs(&master));
        let mut client = client_hello(false);
        client.extend(record(22, &hs(16, &[0; 33]))); // ClientKeyExchange
        client.extend(record(20, &[1]));
        client.extend(ck.seal(0, 22, &hs(20, &[1; 12])));
        client.extend(ck.seal(1, 23, REQUEST));
        let mut server = server_hello(0x0303, cipher);
        server.extend(record(22, &hs(14, &[])));
        server.extend(record(20, &[1]));
        server.extend(sk.seal(0, 22, &hs(20, &[2; 12])));
        server.extend(sk.seal(1, 23, RESPONSE));
        let mut l = layer(Some(&keylog));
        let out = run(&mut l, &[client, server], 13);
        assert_eq!(plain(&out, C2S), REQUEST, "{cipher:04x}");
        assert_eq!(plain(&out, S2C), RESPONSE);
        assert_eq!(l.summary().alpn.as_deref(), Some("http/1.1"));
        assert_eq!(l.decryption(), Decryption::Decrypted);
    }
}

#[test]
fn records_wait_for_keys_that_come_later() {
    let k = tls13_keys();
    let streams = tls13_streams(&k);
    let store = Arc::new(KeyStore::new());
    store.set_growing(true);
    store.mark_given();
    let mut l = TlsLayer::new(TlsConfig { keys: Some(store.clone()), max_key_wait: 1 << 20 });
    let mut out = Vec::new();
    l.feed(C2S, 0, &streams[0], at(1), &mut out);
    l.feed(S2C, 0, &streams[1], at(2), &mut out);
    assert!(out.is_empty());
    store.add_text(k.keylog.as_bytes());
    l.finish(at(3), &mut out);
    assert_eq!(plain(&out, C2S), REQUEST);
    assert_eq!(plain(&out, S2C), RESPONSE);
    // With a small wait budget, the oldest records are given up, said once.
    let store = Arc::new(KeyStore::new());
    store.set_growing(true);
    let mut l = TlsLayer::new(TlsConfig { keys: Some(store.clone()), max_key_wait: 100 });
    let mut out = Vec::new();
    l.feed(C2S, 0, &streams[0], at(1), &mut out);
    l.feed(S2C, 0, &streams[1], at(2), &mut out);
    let late =
        out.iter().filter(|o| matches!(o, Out::Note { check: CheckId::TlsKeysLate, .. })).count();
    assert_eq!(late, 1, "{out:?}");
    assert!(l.footprint() < 64 * 1024);
}

#[test]
fn bytes_that_are_not_records_stop_the_direction_with_a_finding() {
    let mut l = layer(None);
    let mut out = Vec::new();
    let mut s = client_hello(true);
    s.extend(b"GET / HTTP/1.1\r\n\r\n");
    l.feed(C2S, 0, &s, at(1), &mut out);
    l.feed(C2S, s.len() as u64, b"more", at(2), &mut out);
    let notes: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Out::Note { check, .. } => Some(*check),
            _ => None,
        })
        .collect();
    assert_eq!(notes, vec![CheckId::TlsRecordInvalid]);
}

#[test]
fn a_hello_retry_request_is_passed_over() {
    let k = tls13_keys();
    let [client, server] = tls13_streams(&k);
    // HelloRetryRequest: a ServerHello with the fixed random; then the real one.
    let mut hrr = server_hello(0x0304, 0x1301);
    hrr[11..43].copy_from_slice(&[
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ]);
    let ch_len = 5 + usize::from(u16::from_be_bytes([client[3], client[4]]));
    // With and without the ChangeCipherSpec records of middlebox compatibility mode (RFC 8446
    // §D.4), which OpenSSL sends by default: the server's right after the HelloRetryRequest,
    // the client's before its second ClientHello. Taken for TLS 1.2's, they hid the real
    // ServerHello ("no ServerHello", nothing decrypted).
    for ccs in [&[][..], &[20, 3, 3, 0, 1, 1][..]] {
        let mut c = client[..ch_len].to_vec(); // the second ClientHello repeats the random
        c.extend_from_slice(ccs);
        c.extend_from_slice(&client);
        let s = [hrr.clone(), ccs.to_vec(), server.clone()].concat();
        let mut l = layer(Some(&k.keylog));
        let out = run(&mut l, &[c, s], 50);
        assert_eq!(plain(&out, C2S), REQUEST, "CCS {ccs:?}");
        assert_eq!(plain(&out, S2C), RESPONSE, "CCS {ccs:?}");
        assert!(l.summary().retried);
    }
}

#[test]
fn early_data_is_decrypted_with_the_early_secret() {
    let suite = suite::find(0x1301).unwrap();
    let k = tls13_keys();
    let early_secret = [9u8; 32];
    let early = DirKeys::tls13(suite, &early_secret).unwrap();
    let keylog = format!(
        "{}CLIENT_EARLY_TRAFFIC_SECRET {} {}\n",
        k.keylog,
        hexs(&RANDOM),
        hexs(&early_secret)
    );
    // A ClientHello offering early_data (extension 42), 0-RTT records, EndOfEarlyData, then
    // the handshake as before.
    let mut ch = client_hello(true);
    // Append an empty early_data extension and fix the three lengths.
    ch.extend(ext(42, &[]));
    let fix = |b: &mut [u8], at: usize, add: usize, wide: bool| {
        if wide {
            let v = u32::from_be_bytes([0, b[at], b[at + 1], b[at + 2]]) + add as u32;
            b[at..at + 3].copy_from_slice(&v.to_be_bytes()[1..]);
        } else {
            let v = u16::from_be_bytes([b[at], b[at + 1]]) + add as u16;
            b[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
    };
    // The record's, the handshake message's and the extensions' lengths (record header 5,
    // message header 4, version 2, random 32, session id 1, suites 6, compression 2).
    fix(&mut ch, 3, 4, false);
    fix(&mut ch, 6, 4, true);
    fix(&mut ch, 52, 4, false);
    let mut client = ch;
    client.extend(early.seal(0, 23, b"EARLY"));
    client.extend(early.seal(1, 22, &hs(5, &[])));
    let [full_client, server] = tls13_streams(&k);
    let first = 5 + usize::from(u16::from_be_bytes([full_client[3], full_client[4]]));
    client.extend_from_slice(&full_client[first..]);
    let mut l = layer(Some(&keylog));
    let mut out = Vec::new();
    l.feed(C2S, 0, &client, at(1), &mut out);
    l.feed(S2C, 0, &server, at(2), &mut out);
    l.finish(at(3), &mut out);
    assert!(l.summary().client_hello.as_ref().unwrap().early_data);
    assert_eq!(plain(&out, C2S), [&b"EARLY"[..], REQUEST].concat(), "{out:?}");
    assert_eq!(plain(&out, S2C), RESPONSE);
}

#[test]
fn an_h2_connection_is_decrypted_and_said_to_be_http2() {
    let k = tls13_keys();
    let streams = tls13_streams_alpn(&k, b"h2");
    let mut l = layer(Some(&k.keylog));
    run(&mut l, &streams, 100);
    let info = l.info(false, std::time::Duration::from_secs(5));
    assert_eq!(info.alpn.as_deref(), Some("h2"));
    assert_eq!(info.decryption, Decryption::Decrypted);
    assert!(info.advice.as_deref().is_some_and(|a| a.contains("HTTP/2")), "{info:?}");
    assert!(!info.may_carry_websocket);
    // Not decrypted, an h2 offer alone is never "shaped like a WebSocket".
    let mut l = layer(None);
    run(&mut l, &streams, 100);
    assert_eq!(l.info(false, std::time::Duration::from_secs(5)).alpn, None);
}

/// A handshake record that fails authentication is a finding, not a plaintext gap: the
/// application data after it keeps contiguous offsets (fuzzing found it shifted them).
#[test]
fn a_failed_handshake_record_leaves_the_plaintext_offsets_alone() {
    let suite = suite::find(0xc02f).unwrap();
    let master = [0x33u8; 48];
    let sr = [0x77u8; 32];
    let ck = DirKeys::tls12(suite, &master, &RANDOM, &sr, true, false).unwrap();
    let keylog = format!("CLIENT_RANDOM {} {}\n", hexs(&RANDOM), hexs(&master));
    let mut client = client_hello(false);
    client.extend(record(20, &[1]));
    let mut finished = ck.seal(0, 22, &hs(20, &[1; 12]));
    let last = finished.len() - 1;
    finished[last] ^= 1; // tampered
    client.extend(finished);
    client.extend(ck.seal(1, 23, REQUEST));
    let server = server_hello(0x0303, 0xc02f);
    let mut l = layer(Some(&keylog));
    let out = run(&mut l, &[client, server], 1000);
    // `plain` asserts contiguous offsets from 0.
    assert_eq!(plain(&out, C2S), REQUEST);
    assert!(!out.iter().any(|o| matches!(o, Out::Gap { .. })), "{out:?}");
}

/// Empty records waiting for keys count against the wait budget too (fuzzing found them
/// unbounded): the footprint stays under the budget whatever comes.
#[test]
fn records_waiting_for_keys_are_bounded_even_when_empty() {
    let k = tls13_keys();
    let [client, server] = tls13_streams(&k);
    let store = Arc::new(KeyStore::new());
    store.set_growing(true);
    let mut l = TlsLayer::new(TlsConfig { keys: Some(store), max_key_wait: 4096 });
    let mut out = Vec::new();
    l.feed(
        C2S,
        0,
        &client[..5 + usize::from(u16::from_be_bytes([client[3], client[4]]))],
        at(1),
        &mut out,
    );
    l.feed(S2C, 0, &server, at(2), &mut out);
    let empty = [23u8, 3, 3, 0, 0];
    let mut off = server.len() as u64;
    for n in 0..100_000u64 {
        l.feed(S2C, off, &empty, at(3 + n), &mut out);
        off += 5;
    }
    assert!(l.footprint() < 64 * 1024, "{}", l.footprint());
}

#[test]
fn the_advice_says_what_was_missing() {
    let k = tls13_keys();
    let advice = |keylog: &str, streams: &[Vec<u8>; 2]| {
        let mut l = layer(Some(keylog));
        run(&mut l, streams, 50);
        let info = l.info(false, std::time::Duration::from_secs(5));
        (info.decryption, info.advice.unwrap_or_default())
    };
    // The handshake's secrets right, the application data's missing: the connection was
    // reported "decrypted in part" and nothing else (no WebSocket, no finding).
    let hs_only: String = k.keylog.lines().take(2).map(|l| format!("{l}\n")).collect();
    let (d, a) = advice(&hs_only, &tls13_streams(&k));
    assert_eq!(d, Decryption::Partial);
    assert!(a.contains("did not authenticate") && a.contains("TRAFFIC_SECRET_0"), "{a}");
    // A ClientHello the server never answered: no key log would decrypt anything.
    let ch = client_hello(true);
    let (d, a) = advice(&k.keylog, &[ch, Vec::new()]);
    assert_ne!(d, Decryption::Decrypted);
    assert!(a.contains("no ServerHello was captured"), "{a}");
    assert!(!a.contains("would decrypt"), "{a}");
}
