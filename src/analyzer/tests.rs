//! Session tests on stream events built in memory: handshake shapes, keep-alive, refusals,
//! mid-stream pickup, closing and ping/pong bookkeeping.

use super::session::{RESUME_COUNTED, RESUME_NOT_WEBSOCKET, RESUME_SHOWN};
use super::{Analyzer, AnalyzerConfig, Collect};
use crate::event::{Continues, Event, HandshakeOutcome, Payload};
use crate::http::accept_for;
use crate::tcp::{
    CloseReason, ConnId, ConnInfo, DirStats, Direction, PacketRef, RoleSource, StreamEvent,
    StreamSink,
};
use crate::time::Timestamp;
use crate::ws::encode::frame;
use crate::ws::opcode::OpCode;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK: Option<[u8; 4]> = Some([1, 2, 3, 4]);

/// A key of its own for frame `i`, as clients draw them: chains of frames that repeat a key read
/// as masked repetitive data to the frame search (`ws::resync`).
fn fresh_mask(i: u8) -> Option<[u8; 4]> {
    Some([0x37, 0xfa, 0x21, i])
}

struct Conn {
    a: Analyzer<Collect>,
    off: [u64; 2],
    packet: u64,
}

impl Conn {
    fn new(role: RoleSource) -> Self {
        Self::with(role, AnalyzerConfig::default())
    }

    /// A connection resumed after wsscope stopped following it; `mark` says what its earlier
    /// part was ([`super::session::RESUME_COUNTED`]: shown, with its handshake).
    fn resumed(mark: u8) -> Self {
        Self::make(RoleSource::Resumed, mark, AnalyzerConfig::default())
    }

    fn with(role: RoleSource, cfg: AnalyzerConfig) -> Self {
        Self::make(role, 0, cfg)
    }

    fn make(role: RoleSource, resume_mark: u8, cfg: AnalyzerConfig) -> Self {
        let mut a = Analyzer::new(cfg, Collect::default());
        let info = ConnInfo {
            id: ConnId(1),
            client: "10.0.0.1:50000".parse().unwrap(),
            server: "10.0.0.2:8080".parse().unwrap(),
            role,
            first: PacketRef::new(Timestamp::from_nanos(0), 1),
            resume_mark,
        };
        a.on_stream_event(StreamEvent::Open(&info));
        Conn { a, off: [0; 2], packet: 1 }
    }

    fn send(&mut self, dir: Direction, bytes: &[u8]) {
        self.packet += 1;
        self.send_in(dir, bytes, self.packet);
    }

    /// `bytes` in packet number `packet` (which need not be the next).
    fn send_in(&mut self, dir: Direction, bytes: &[u8], packet: u64) {
        let at = packet_at(packet);
        let offset = self.off[dir.index()];
        self.a.on_stream_event(StreamEvent::Data {
            conn: ConnId(1),
            dir,
            offset,
            seq: offset as u32,
            data: bytes,
            at,
        });
        self.off[dir.index()] += bytes.len() as u64;
    }

    fn close(mut self) -> Vec<Event> {
        let stats = [
            DirStats { delivered_bytes: self.off[0], ..Default::default() },
            DirStats { delivered_bytes: self.off[1], ..Default::default() },
        ];
        let at = PacketRef::new(Timestamp::from_nanos(1 << 40), self.packet + 1);
        self.a.on_stream_event(StreamEvent::Close {
            conn: ConnId(1),
            reason: CloseReason::Fin,
            stats: &stats,
            at,
        });
        self.a.into_sink().0
    }
}

fn request(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n{extra}\r\n"
    )
}

fn response(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_for(KEY)
    )
}

fn codes(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(
            |e| if let Event::Finding { code, .. } = e { Some(code.to_string()) } else { None },
        )
        .collect()
}

fn texts(events: &[Event]) -> Vec<(Direction, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { direction, payload: Payload::Text(t), .. } => {
                Some((*direction, t.clone()))
            }
            _ => None,
        })
        .collect()
}

fn clean_close(c: &mut Conn) {
    c.send(C2S, &frame(true, 0, 8, MASK, b"\x03\xe8"));
    c.send(S2C, &frame(true, 0, 8, None, b"\x03\xe8"));
}

#[test]
fn a_plain_session_is_upgraded_decoded_and_closed_cleanly() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(C2S, &frame(true, 0, 1, MASK, b"hi"));
    c.send(S2C, &frame(true, 0, 1, None, b"hello"));
    clean_close(&mut c);
    let ev = c.close();
    assert!(codes(&ev).is_empty(), "{:?}", codes(&ev));
    assert!(matches!(
        ev[1],
        Event::Handshake { outcome: HandshakeOutcome::Upgraded, accept_valid: Some(true), .. }
    ));
    assert_eq!(texts(&ev), vec![(C2S, "hi".into()), (S2C, "hello".into())]);
    assert!(matches!(ev.last(), Some(Event::End { clean: true, closed_first_by: Some(C2S), .. })));
}

#[test]
fn handshake_split_at_every_byte_and_coalesced_with_frames_decodes_the_same() {
    let req = request("");
    let mut resp = response("").into_bytes();
    resp.extend(frame(true, 0, 1, None, b"first frame in the same segment"));
    for cut in 0..resp.len() {
        let mut c = Conn::new(RoleSource::Syn);
        let r = req.as_bytes();
        c.send(C2S, &r[..cut.min(r.len())]);
        c.send(C2S, &r[cut.min(r.len())..]);
        c.send(S2C, &resp[..cut]);
        c.send(S2C, &resp[cut..]);
        let ev = c.close();
        assert_eq!(texts(&ev), vec![(S2C, "first frame in the same segment".into())], "cut {cut}");
    }
}

#[test]
fn keep_alive_requests_before_the_upgrade_are_skipped_bodies_included() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde");
    c.send(S2C, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    c.send(C2S, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send(S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"after keep-alive"));
    let ev = c.close();
    assert_eq!(texts(&ev), vec![(S2C, "after keep-alive".into())]);
}

#[test]
fn a_refused_upgrade_is_reported_and_http_goes_on() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
    c.send(C2S, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send(S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let ev = c.close();
    assert!(
        ev.iter().any(|e| matches!(e, Event::Handshake { outcome: HandshakeOutcome::Refused, .. }))
    );
    assert_eq!(codes(&ev), vec!["upgrade_refused"]);
    assert!(!ev.iter().any(|e| matches!(e, Event::Message { .. })));
}

#[test]
fn a_wrong_accept_key_is_an_error_and_frames_are_still_decoded() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").replace(&accept_for(KEY), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"still decoded"));
    let ev = c.close();
    assert!(ev.iter().any(|e| matches!(e, Event::Handshake { accept_valid: Some(false), .. })));
    assert!(codes(&ev).contains(&"accept_key_invalid".to_string()));
    assert_eq!(texts(&ev), vec![(S2C, "still decoded".into())]);
}

#[test]
fn request_violations_follow_the_handshake_event() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(
        C2S,
        request("").replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8").as_bytes(),
    );
    c.send(S2C, response("").as_bytes());
    let ev = c.close();
    let hs = ev.iter().position(|e| matches!(e, Event::Handshake { .. })).unwrap();
    let f = ev.iter().position(|e| matches!(e, Event::Finding { .. })).unwrap();
    assert!(hs < f);
    assert!(codes(&ev).contains(&"request_version_not13".to_string()), "{:?}", codes(&ev));
}

#[test]
fn an_upgrade_request_without_a_response_is_reported() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    let ev = c.close();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Handshake { outcome: HandshakeOutcome::NoResponse, .. }))
    );
}

#[test]
fn plain_http_and_other_protocols_are_not_announced() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send(S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert!(c.close().is_empty());
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    // TLS is not announced as WebSocket: it is described (a `tls` event) and, not decrypted,
    // says so.
    let ev = c.close();
    assert!(!ev.iter().any(|e| matches!(e, Event::Connection { .. })), "{ev:?}");
    assert!(matches!(&ev[0], Event::Tls { websocket: false, .. }), "{ev:?}");
    assert_eq!(codes(&ev), vec!["tls_not_decrypted".to_string()]);
}

#[test]
fn mid_stream_pickup_finds_frames_and_says_the_handshake_was_not_seen() {
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, b"tail of an earlier server frame");
    for i in 0..4 {
        c.send(C2S, &frame(true, 0, 1, fresh_mask(i), format!("c{i}").as_bytes()));
        c.send(S2C, &frame(true, 0, 1, None, format!("s{i}").as_bytes()));
    }
    let ev = c.close();
    assert!(ev.iter().any(|e| matches!(e, Event::Handshake { seen: false, .. })));
    assert!(codes(&ev).contains(&"handshake_not_seen".to_string()), "{:?}", codes(&ev));
    let t = texts(&ev);
    assert_eq!(t.iter().filter(|(d, _)| *d == C2S).count(), 4, "{t:?}");
    assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), 4, "{t:?}");
}

#[test]
fn mid_stream_pickup_learns_the_client_from_masking_when_ports_mislead() {
    // The TCP layer guessed wrong: what it calls the server sends masked frames.
    let mut c = Conn::new(RoleSource::Guess);
    for i in 0..4 {
        c.send(
            S2C,
            &frame(true, 0, 1, fresh_mask(i), format!("from the real client {i}").as_bytes()),
        );
    }
    let ev = c.close();
    match &ev[0] {
        Event::Connection { client, .. } => assert_eq!(client.to_string(), "10.0.0.2:8080"),
        other => panic!("{other:?}"),
    }
    assert!(texts(&ev).iter().all(|(d, _)| *d == C2S));
    assert!(!codes(&ev).contains(&"client_frame_unmasked".to_string()), "{:?}", codes(&ev));
}

#[test]
fn pong_answering_a_ping_has_a_round_trip_time_and_unsolicited_pongs_are_noted() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 9, None, b"t1"));
    c.send(C2S, &frame(true, 0, 10, MASK, b"t1"));
    c.send(C2S, &frame(true, 0, 10, MASK, b"out of the blue"));
    let ev = c.close();
    let rtts: Vec<Option<f64>> = ev
        .iter()
        .filter_map(|e| {
            if let Event::Message { rtt, opcode, .. } = e {
                (opcode.name() == "pong").then_some(*rtt)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(rtts.len(), 2);
    assert!((rtts[0].unwrap() - 0.001).abs() < 1e-9, "{rtts:?}");
    assert_eq!(rtts[1], None);
    assert!(codes(&ev).contains(&"pong_unsolicited".to_string()));
}

#[test]
fn an_unanswered_close_and_a_missing_close_are_reported() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 8, None, b"\x03\xe9bye"));
    let ev = c.close();
    assert!(codes(&ev).contains(&"close_not_answered".to_string()));
    assert!(matches!(ev.last(), Some(Event::End { clean: false, closed_first_by: Some(S2C), .. })));

    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    assert!(codes(&c.close()).contains(&"closed_without_close_frame".to_string()));
}

#[test]
fn permessage_deflate_negotiated_in_the_handshake_is_used() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(
        C2S,
        request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
            .as_bytes(),
    );
    c.send(S2C, response("Sec-WebSocket-Extensions: permessage-deflate\r\n").as_bytes());
    c.send(S2C, &frame(true, 0b100, 1, None, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]));
    c.send(S2C, &frame(true, 0b100, 1, None, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
    let ev = c.close();
    assert_eq!(texts(&ev), vec![(S2C, "Hello".into()), (S2C, "Hello".into())]);
    assert!(
        !codes(&ev).iter().any(|c| c.contains("deflate") || c.contains("reserved")),
        "{:?}",
        codes(&ev)
    );
}

#[test]
fn a_port_named_by_the_user_is_decoded_without_a_handshake() {
    let cfg = AnalyzerConfig { ws_ports: vec![8080], ..Default::default() };
    let mut c = Conn::with(RoleSource::Syn, cfg);
    for i in 0..4 {
        c.send(C2S, &frame(true, 0, 1, fresh_mask(i), format!("m{i}").as_bytes()));
    }
    let ev = c.close();
    assert_eq!(texts(&ev).len(), 4, "{ev:?}");
}

// ── Capture order, capture problems and two clocks (issue 12) ──────────────────────────────

impl Conn {
    /// Bytes carried by packet `packet` (its ACK number `ack`), whenever they are delivered.
    fn send_at(&mut self, dir: Direction, bytes: &[u8], packet: u64, ack: Option<u32>) {
        let at = PacketRef { ts: Timestamp::from_nanos(packet as i64 * 1_000_000), packet, ack };
        let offset = self.off[dir.index()];
        self.a.on_stream_event(StreamEvent::Data {
            conn: ConnId(1),
            dir,
            offset,
            seq: offset as u32,
            data: bytes,
            at,
        });
        self.off[dir.index()] += bytes.len() as u64;
        self.packet = self.packet.max(packet);
    }

    fn pending(&mut self, dir: Direction, since: Option<u64>) {
        let since = since.map(|p| PacketRef::new(Timestamp::from_nanos(p as i64 * 1_000_000), p));
        let at = PacketRef::new(Timestamp::from_nanos(self.packet as i64 * 1_000_000), self.packet);
        self.a.on_stream_event(StreamEvent::Pending { conn: ConnId(1), dir, since, at });
    }

    fn upgraded(mut self) -> Self {
        self.send(C2S, request("").as_bytes());
        self.send(S2C, response("").as_bytes());
        self
    }
}

/// (direction, text, end packet) of every text message, in output order.
fn texts_at(events: &[Event]) -> Vec<(Direction, String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { direction, payload: Payload::Text(t), end, .. } => {
                Some((*direction, t.clone(), end.packet))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn output_waits_for_bytes_held_behind_a_tcp_hole_and_comes_out_in_capture_order() {
    let mut c = Conn::new(RoleSource::Syn).upgraded();
    // Packet 10 (client) waits behind a hole; the server's packet 11 is decoded meanwhile.
    c.pending(C2S, Some(10));
    c.send_at(S2C, &frame(true, 0, 1, None, b"from 11"), 11, None);
    assert!(texts_at(&c.a.sink_mut().0).is_empty(), "the server's message must wait");
    c.send_at(C2S, &frame(true, 0, 1, MASK, b"from 10"), 10, None);
    c.pending(C2S, None);
    assert_eq!(
        texts_at(&c.a.sink_mut().0),
        vec![(C2S, "from 10".to_string(), 10), (S2C, "from 11".to_string(), 11)]
    );
}

#[test]
fn a_pong_captured_before_its_ping_is_clock_skew_not_unsolicited() {
    let mut c = Conn::new(RoleSource::Syn).upgraded();
    let ping = frame(true, 0, 9, MASK, b"p1");
    // The pong's packet acknowledges the ping's bytes, which the capture shows only after it.
    let acks_ping = (c.off[C2S.index()] + ping.len() as u64) as u32;
    c.send_at(S2C, &frame(true, 0, 10, None, b"p1"), 5, Some(acks_ping));
    c.send_at(C2S, &ping, 6, None);
    clean_close(&mut c);
    let events = c.close();
    let codes = codes(&events);
    assert!(codes.contains(&"capture_clock_skew".to_string()), "{codes:?}");
    assert!(!codes.contains(&"pong_unsolicited".to_string()), "{codes:?}");
    let rtts: Vec<Option<f64>> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { rtt, opcode: crate::ws::OpCode::Pong, .. } => Some(*rtt),
            _ => None,
        })
        .collect();
    assert_eq!(rtts, vec![None]);
}

#[test]
fn an_unsolicited_pong_is_reported_at_once_when_nothing_suggests_its_ping_may_come() {
    let mut c = Conn::new(RoleSource::Syn).upgraded();
    c.send_at(S2C, &frame(true, 0, 10, None, b"hb"), 5, Some(c.off[C2S.index()] as u32));
    c.send_at(S2C, &frame(true, 0, 1, None, b"later"), 6, None);
    let events = c.close();
    let order: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finding { code, .. } => Some(code.to_string()),
            Event::Message { payload: Payload::Text(t), .. } => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(order[..2], ["pong_unsolicited".to_string(), "later".to_string()], "{order:?}");
}

#[test]
fn who_closed_first_comes_from_acknowledgments_not_capture_order() {
    let mut c = Conn::new(RoleSource::Syn).upgraded();
    let client_close = frame(true, 0, 8, MASK, b"\x03\xe8");
    let (s_off, c_off) = (c.off[S2C.index()], c.off[C2S.index()]);
    // The server's close is captured first, but its packet acknowledges the client's close.
    let acks_client_close = (c_off + client_close.len() as u64) as u32;
    c.send_at(S2C, &frame(true, 0, 8, None, b"\x03\xe8"), 20, Some(acks_client_close));
    c.send_at(C2S, &client_close, 21, Some(s_off as u32));
    let events = c.close();
    let first = events.iter().find_map(|e| match e {
        Event::End { closed_first_by, .. } => Some(*closed_first_by),
        _ => None,
    });
    assert_eq!(first, Some(Some(C2S)));
}

#[test]
fn a_gap_forced_by_a_buffering_limit_is_a_finding() {
    let mut c = Conn::new(RoleSource::Syn).upgraded();
    let at = PacketRef::new(Timestamp::from_nanos(9_000_000), 9);
    let offset = c.off[C2S.index()];
    c.a.on_stream_event(StreamEvent::Gap {
        conn: ConnId(1),
        dir: C2S,
        offset,
        len: 100,
        seq: 0,
        reason: crate::tcp::GapReason::BufferLimit,
        at,
    });
    c.off[C2S.index()] += 100;
    let codes = codes(&c.close());
    assert!(codes.contains(&"reassembly_limit".to_string()), "{codes:?}");
}

#[test]
fn a_handshake_lost_in_both_directions_leaves_the_frames_after_it_to_the_frame_search() {
    // A busy capture lost the start of both directions (request and 101 included): before, the
    // connection was given up (only `gap_before_handshake` counted it) though its frames follow.
    let mut c = Conn::new(RoleSource::Syn);
    for (i, dir) in [C2S, S2C].into_iter().enumerate() {
        let at = PacketRef::new(Timestamp::from_nanos(2_000_000 + i as i64), 2 + i as u64);
        c.a.on_stream_event(StreamEvent::Gap {
            conn: ConnId(1),
            dir,
            offset: 0,
            len: 45_000,
            seq: 0,
            reason: crate::tcp::GapReason::Lost,
            at,
        });
        c.off[dir.index()] = 45_000;
    }
    for i in 0..4 {
        c.send(C2S, &frame(true, 0, 1, fresh_mask(i), format!("c{i}").as_bytes()));
        c.send(S2C, &frame(true, 0, 1, None, format!("s{i}").as_bytes()));
    }
    let ev = c.close();
    let t = texts(&ev);
    assert_eq!(t.iter().filter(|(d, _)| *d == C2S).count(), 4, "{ev:?}");
    assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), 4, "{t:?}");
    assert!(codes(&ev).contains(&"handshake_not_seen".to_string()), "{:?}", codes(&ev));
}

#[test]
fn frames_after_a_lost_request_that_no_101_answered_are_searched_for() {
    // A busy capture lost the request (a gap before any request); the 101 never came either
    // (lost later, or still to come when the client's frames passed a head's worth): before,
    // the client's bytes were taken for not-HTTP and the connection given up without a word.
    // A connection seen from its SYN whose first 157 client bytes (its request) were lost.
    let request_lost = || {
        let mut c = Conn::new(RoleSource::Syn);
        lose_in(&mut c, C2S, 157, 2);
        c
    };
    let mut c = request_lost();
    let big = vec![b'x'; 30_000];
    for i in 0..4 {
        c.send(C2S, &frame(true, 0, 1, fresh_mask(i), &big));
    }
    let ev = c.close();
    assert_eq!(texts(&ev).iter().filter(|(d, _)| *d == C2S).count(), 4, "{:?}", codes(&ev));
    // The lost request is listed as the gap it is.
    let gaps: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Gap { direction, length, at, .. } => Some((*direction, *length, at.offset)),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, vec![(C2S, 157, 0)], "{:?}", codes(&ev));
    // Frames from one side whose masking contradicts the roles the SYN gave (masked from the
    // server) are not enough: such a connection is not taken for WebSocket (helper-36).
    let mut c = request_lost();
    c.send(C2S, &[0xff; 70_000]);
    for i in 0..4 {
        c.send(S2C, &frame(true, 0, 1, fresh_mask(i), &big));
    }
    let ev = c.close();
    assert!(texts(&ev).is_empty(), "{:?}", codes(&ev));
}

/// A connection picked up again is one connection: it says what it continues, and it is
/// searched for frames at once only when its earlier part was shown as WebSocket.
#[test]
fn a_resumed_connection_says_what_it_continues_and_starts_from_what_its_earlier_part_was() {
    let continues = |ev: &[Event]| {
        ev.iter().find_map(|e| match e {
            Event::Connection { continues, .. } => Some(*continues),
            _ => None,
        })
    };
    for (mark, said) in
        [(RESUME_COUNTED, Continues::AfterHandshake), (RESUME_SHOWN, Continues::AfterRequest)]
    {
        let mut c = Conn::resumed(mark);
        c.send(C2S, &frame(true, 0, 1, fresh_mask(1), b"hello 1"));
        c.send(S2C, &frame(true, 0, 1, None, b"hello 1"));
        let ev = c.close();
        assert_eq!(continues(&ev), Some(Some(said)));
        assert_eq!(texts(&ev).len(), 2);
    }
    // Evicted after its SYN: the upgrade request that comes next is read as one.
    let mut c = Conn::resumed(0);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"hi"));
    let ev = c.close();
    assert_eq!(continues(&ev), Some(None));
    assert!(ev.iter().any(|e| matches!(e, Event::Handshake { seen: true, .. })), "{ev:#?}");
    assert_eq!(texts(&ev), vec![(S2C, "hi".into())]);
    // Plain HTTP before: one frame each way is not enough to call it WebSocket.
    let mut c = Conn::resumed(RESUME_NOT_WEBSOCKET);
    c.send(C2S, &frame(true, 0, 1, fresh_mask(1), b"hello 1"));
    c.send(S2C, &frame(true, 0, 1, None, b"hello 1"));
    assert_eq!(continues(&c.close()), None);
}

#[test]
fn a_connection_resumed_after_its_idle_timeout_is_decoded_from_one_frame_each_way() {
    // One message and its echo, then quiet again (a chat every few seconds with --idle-timeout
    // 1s): before, each piece was an unrecognised TCP connection and its messages were lost.
    let mut c = Conn::resumed(RESUME_COUNTED);
    c.send(C2S, &frame(true, 0, 1, fresh_mask(1), b"hello 1"));
    c.send(S2C, &frame(true, 0, 1, None, b"hello 1"));
    let ev = c.close();
    assert_eq!(texts(&ev), vec![(C2S, "hello 1".into()), (S2C, "hello 1".into())]);
    let said = ev.iter().find_map(|e| match e {
        Event::Finding { code: super::checks::CheckId::HandshakeNotSeen, message, .. } => {
            Some(message.clone())
        }
        _ => None,
    });
    assert!(said.is_some_and(|m| m.contains("--idle-timeout")));
}

/// A connection kept alive by pings, resumed after `--idle-timeout`, comes back with a ping and
/// its pong and nothing else: before, control frames alone were no evidence of WebSocket and
/// the resumed connection was never shown.
#[test]
fn a_connection_resumed_with_a_ping_and_its_pong_shows_them() {
    let opcodes = |ev: &[Event]| -> Vec<(Direction, OpCode)> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Message { direction, opcode, .. } => Some((*direction, *opcode)),
                _ => None,
            })
            .collect()
    };
    for payload in [&b"\x12\x34\x56\x78"[..], b""] {
        let mut c = Conn::resumed(RESUME_COUNTED);
        c.send(S2C, &frame(true, 0, 9, None, payload));
        c.send(C2S, &frame(true, 0, 10, fresh_mask(3), payload));
        let ev = c.close();
        assert_eq!(opcodes(&ev), vec![(S2C, OpCode::Ping), (C2S, OpCode::Pong)], "{ev:#?}");
        assert!(!codes(&ev).contains(&"pong_unsolicited".to_string()), "{:?}", codes(&ev));
    }
    // Masked as the roles say only: a "ping" the client sent unmasked is not taken.
    let mut c = Conn::resumed(RESUME_COUNTED);
    c.send(C2S, &frame(true, 0, 9, None, b"ab"));
    assert!(opcodes(&c.close()).is_empty());
    // A connection whose earlier part was not followed as WebSocket needs data frames.
    let mut c = Conn::new(RoleSource::Syn);
    c.send(S2C, &frame(true, 0, 9, None, b"ab"));
    c.send(C2S, &frame(true, 0, 10, fresh_mask(4), b"ab"));
    assert!(opcodes(&c.close()).is_empty());
}

/// A capture that starts inside a connection whose frames (both ways) are longer than a
/// probe searches (`max_resync`): the chains of their headers are followed on past it, and the
/// connection is found. Before, both directions were given up and the connection was never
/// shown (a capture of 100–300 KB messages started 3,000 packets late: 0 of 4 connections).
#[test]
fn a_connection_picked_up_inside_frames_longer_than_a_probe_searches_is_found() {
    let cfg = AnalyzerConfig { max_resync: 64 << 10, ..AnalyzerConfig::default() };
    let mut c = Conn::with(RoleSource::Guess, cfg);
    let mut noise = crate::ws::encode::Noise(7);
    let mut s2c = noise.bytes(5000); // the tail of a message before the capture
    let mut c2s = noise.bytes(3000);
    for i in 0..6u8 {
        s2c.extend(frame(true, 0, 2, None, &noise.bytes(100_000)));
        c2s.extend(frame(true, 0, 2, fresh_mask(i), &noise.bytes(90_000)));
    }
    let (mut a, mut b) = (s2c.chunks(1400), c2s.chunks(1400));
    for _ in 0..s2c.len() / 1400 + 1 {
        if let Some(p) = a.next() {
            c.send(S2C, p);
        }
        if let Some(p) = b.next() {
            c.send(C2S, p);
        }
    }
    let ev = c.close();
    let messages: Vec<(Direction, u64)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Message { direction, wire_length, .. } => Some((*direction, *wire_length)),
            _ => None,
        })
        .collect();
    // The chains' fourth frames, and what follows.
    assert_eq!(
        messages.iter().filter(|m| **m == (S2C, 100_000)).count(),
        3,
        "{messages:?} {:?}",
        codes(&ev)
    );
    assert_eq!(messages.iter().filter(|m| **m == (C2S, 90_000)).count(), 3, "{messages:?}");
    assert_eq!(messages.len(), 6, "{messages:?}");
    // What was passed over is said, the bytes followed included: everything before each
    // direction's fourth frame (a header of 10 bytes, 14 masked). Before, the direction still
    // searching when the other's frames were found left out the bytes the probe had passed.
    let said = ev.iter().any(|e| {
        matches!(e, Event::Finding { code: super::checks::CheckId::FrameSyncLost, message, .. }
            if message.contains("followed by their headers"))
    });
    assert!(said, "{:?}", codes(&ev));
    let skipped = |d: Direction| -> Vec<u64> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Finding {
                    code: super::checks::CheckId::FrameSyncLost,
                    direction: Some(x),
                    message,
                    ..
                } if *x == d => message.split(' ').nth(1)?.parse().ok(),
                _ => None,
            })
            .collect()
    };
    assert_eq!(skipped(S2C), [5000 + 3 * 100_010]);
    assert_eq!(skipped(C2S), [3000 + 3 * 90_014]);
}

/// A session is kept per TCP connection (boxed): keep it small, rarely used state boxed.
#[test]
fn session_state_stays_small() {
    let n = std::mem::size_of::<super::session::Session>();
    eprintln!("session state: {n} bytes");
    assert!(n <= 808, "a session costs {n} bytes");
}

/// The memory budget: a session charges what it holds, and past half the budget its payload
/// copies go, said once on the connection.
#[test]
fn a_session_charges_its_buffers_and_gives_up_payload_copies_past_half_the_budget() {
    let memory = crate::memory::Memory::new(64 << 20);
    // The analyzer charges its thread's inflate pool and buffer (at most this).
    let reserve = crate::ws::deflate::PER_THREAD_BYTES;
    let cfg = AnalyzerConfig { memory: memory.clone(), ..AnalyzerConfig::default() };
    let mut c = Conn::with(RoleSource::Syn, cfg);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"kept"));
    // A third of a 1 MiB message: its copy is charged.
    let big = vec![b'a'; 3 << 18];
    let f = frame(true, 0, 2, None, &big);
    let third = 1 << 18;
    let before = memory.used();
    c.send(S2C, &f[..third]);
    assert!(memory.used() >= before + (250 << 10), "{} then {}", before, memory.used());
    // Someone else fills half the budget: the copy goes after the next event.
    let mut other = crate::memory::Charge::new(&memory);
    other.set(32 << 20);
    c.send(S2C, &f[third..2 * third]);
    assert!(memory.used() < (32 << 20) + reserve + (64 << 10), "{}", memory.used());
    c.send(S2C, &f[2 * third..]);
    c.send(S2C, &frame(true, 0, 1, None, b"later"));
    other.set(0);
    let events = c.close();
    assert_eq!(codes(&events).iter().filter(|c| *c == "memory_budget").count(), 1);
    let messages: Vec<(u64, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { captured_length, truncated, .. } => {
                Some((*captured_length, *truncated))
            }
            _ => None,
        })
        .collect();
    // Every byte still counted; only the copies are gone.
    assert_eq!(messages, vec![(4, false), (3 << 18, true), (5, true)]);
    let s = memory.stats();
    assert_eq!((s.payloads_dropped, s.level), (2, crate::memory::Level::DropPayloads));
    // The session is gone: everything it charged was given back.
    assert_eq!(memory.used(), 0);
}

/// Messages decoded from one segment wait until the segment is decoded; their copies count,
/// so one segment cannot hold more than half the budget of them (a segment of deflated
/// messages inflates a thousandfold).
#[test]
fn the_messages_of_one_segment_count_toward_the_budget() {
    let memory = crate::memory::Memory::new(16 << 20);
    let cfg = AnalyzerConfig { memory: memory.clone(), ..AnalyzerConfig::default() };
    let mut c = Conn::with(RoleSource::Syn, cfg);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    let one = frame(true, 0, 2, None, &vec![7u8; 512 << 10]);
    let piece: Vec<u8> = (0..40).flat_map(|_| one.iter().copied()).collect();
    c.send(S2C, &piece);
    let events = c.close();
    let kept: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { opcode: crate::ws::OpCode::Binary, truncated, .. } => {
                Some(!*truncated)
            }
            _ => None,
        })
        .collect();
    assert_eq!(kept.len(), 40);
    // Half the budget is 8 MiB: 16 copies of 512 KiB at most (less what else is charged).
    let copies = kept.iter().filter(|k| **k).count();
    assert!((8..=16).contains(&copies), "{copies} copies kept");
    assert!(kept.iter().skip_while(|k| **k).all(|k| !k), "copies stop, then none: {kept:?}");
    assert_eq!(memory.used(), 0);
}

/// A refusal the capture lost, then the client's retry (answered by a 101 after the loss): the
/// first request was not upgraded, whatever frames follow. Before, it took the frames' outcome
/// (`upgraded`, with the wrong path and subprotocols) because its response was lost.
#[test]
fn a_lost_refusal_followed_by_a_retry_is_not_an_upgrade_of_the_first_request() {
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(C2S, request("Authorization: Basic eDp5\r\n").as_bytes());
    lose_in(&mut c, S2C, 81, 9);
    c.send(S2C, response("").as_bytes());
    for i in 0..4 {
        c.send(C2S, &frame(true, 0, 1, fresh_mask(i), format!("c{i}").as_bytes()));
        c.send(S2C, &frame(true, 0, 1, None, format!("s{i}").as_bytes()));
    }
    let ev = c.close();
    let upgraded_requests = ev
        .iter()
        .filter(|e| {
            matches!(e, Event::Handshake { request: Some(_), outcome, .. }
                if *outcome == crate::event::HandshakeOutcome::Upgraded)
        })
        .count();
    assert_eq!(upgraded_requests, 0, "{:?}", codes(&ev));
    let unanswered = ev.iter().any(|e| {
        matches!(e, Event::Handshake { request: Some(_), outcome, .. }
            if *outcome == crate::event::HandshakeOutcome::NoResponse)
    });
    assert!(unanswered);
    assert_eq!(texts(&ev).len(), 8);
}

/// Packet number `p`, at `p` milliseconds.
fn packet_at(p: u64) -> PacketRef {
    PacketRef::new(Timestamp::from_nanos(p as i64 * 1_000_000), p)
}

/// A gap of `len` bytes in `dir` at its next offset (the capture lost them).
fn lose(c: &mut Conn, dir: Direction, len: u64) {
    c.packet += 1;
    lose_in(c, dir, len, c.packet);
}

/// A gap declared at packet `packet` (which need not be the next).
fn lose_in(c: &mut Conn, dir: Direction, len: u64, packet: u64) {
    let at = packet_at(packet);
    let offset = c.off[dir.index()];
    c.a.on_stream_event(StreamEvent::Gap {
        conn: ConnId(1),
        dir,
        offset,
        len,
        seq: offset as u32,
        reason: crate::tcp::GapReason::Lost,
        at,
    });
    c.off[dir.index()] += len;
}

#[test]
fn the_frames_after_a_request_whose_101_was_lost_are_found_whatever_else_was_lost() {
    // helper-35's and helper-37's captures with packets lost: the 101, and client bytes too. A
    // gap in the client's stream dropped the frames it had sent since its request, a search
    // begun at the 101's gap, with nothing yet to search, gave the connection up (none of its
    // messages shown), and client bytes lost right after the request made its frames read as a
    // refusal (a `no_response` handshake with the request, then an upgraded one without it).
    let msg = |i: usize, dir: Direction| {
        let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "y".repeat(200));
        frame(true, 0, 1, if dir == C2S { fresh_mask(i as u8) } else { None }, body.as_bytes())
    };
    // When the 101's gap is declared: right after the request, after the client's first
    // frames, after the client's own gap, or never (the server sends nothing); how many client
    // frames come before the client's gap (none: it lost its first frames), if it has one.
    let cases = [(0, Some(10)), (1, Some(10)), (2, Some(10)), (0, None), (3, Some(10))];
    let few = [(0, Some(3)), (1, Some(3)), (2, Some(3)), (0, Some(0)), (1, Some(0)), (2, Some(0))];
    for (when, client_gap) in cases.into_iter().chain(few) {
        let before = client_gap.unwrap_or(10);
        let mut c = Conn::new(RoleSource::Syn);
        c.send(C2S, request("").as_bytes());
        if when == 0 {
            lose(&mut c, S2C, 129);
        }
        for i in 0..before {
            c.send(C2S, &msg(i, C2S));
        }
        if when == 1 {
            lose(&mut c, S2C, 129);
        }
        if client_gap.is_some() {
            lose(&mut c, C2S, 100);
        }
        if when == 2 {
            lose(&mut c, S2C, 129);
        }
        for i in before..40 {
            c.send(C2S, &msg(i, C2S));
            if when != 3 {
                c.send(S2C, &msg(i, S2C));
            }
        }
        let ev = c.close();
        let t = texts(&ev);
        let case = format!("101 lost at {when}, client gap {client_gap:?}: {:?}", codes(&ev));
        assert_eq!(t.iter().filter(|(d, _)| *d == C2S).count(), 40, "{case}");
        let answers = if when == 3 { 0 } else { 40 - before };
        assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), answers, "{case}");
        let gaps = ev.iter().filter(|e| matches!(e, Event::Gap { .. })).count();
        assert_eq!(gaps, usize::from(when != 3) + usize::from(client_gap.is_some()), "{case}");
        assert!(codes(&ev).contains(&"handshake_not_seen".to_string()), "{case}");
        // One handshake: the request, upgraded (its frames say so), its response not seen.
        let handshakes: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Handshake { request, response, outcome, .. } => {
                    Some((request.is_some(), response.is_some(), *outcome))
                }
                _ => None,
            })
            .collect();
        assert_eq!(handshakes, vec![(true, false, HandshakeOutcome::Upgraded)], "{case}");
    }
}

#[test]
fn a_connection_whose_request_and_101_were_both_lost_keeps_the_frames_sent_meanwhile() {
    // helper-37: a client whose request was lost waits, frames and all, for a 101 (a head's
    // worth); the 101's gap then dropped everything the client had sent (all 20 messages of a
    // short connection, and a wrong `closed_first_by`).
    let msg = |i: usize, dir: Direction| {
        let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "y".repeat(200));
        frame(true, 0, 1, if dir == C2S { fresh_mask(i as u8) } else { None }, body.as_bytes())
    };
    // Which direction's gap is declared first, and how many of its frames come before the
    // other's gap (each direction's bytes come in order, behind its own gap).
    for (first, ahead) in [(C2S, 0), (S2C, 0), (C2S, 20), (C2S, 3), (S2C, 3), (S2C, 20)] {
        let second = if first == C2S { S2C } else { C2S };
        let len = |d: Direction| if d == C2S { 162 } else { 129 };
        let mut c = Conn::new(RoleSource::Syn);
        lose(&mut c, first, len(first));
        for i in 0..ahead {
            c.send(first, &msg(i, first));
        }
        lose(&mut c, second, len(second));
        for i in 0..20 {
            if i >= ahead {
                c.send(first, &msg(i, first));
            }
            c.send(second, &msg(i, second));
        }
        let ev = c.close();
        let t = texts(&ev);
        let case = format!("{first:?} first, {ahead} ahead: {:?}", codes(&ev));
        assert_eq!(t.iter().filter(|(d, _)| *d == C2S).count(), 20, "{case}");
        assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), 20, "{case}");
        let gaps = ev.iter().filter(|e| matches!(e, Event::Gap { .. })).count();
        assert_eq!(gaps, 2, "{case}");
    }
}

#[test]
fn a_client_that_loses_bytes_again_after_its_lost_request_keeps_its_frames_before_them() {
    // helper-37's copy with one packet in ten deleted: the request lost, then one of the
    // client's frames, while the server's bytes (its 101 lost) still waited behind their own
    // hole. The client's second gap dropped the frames it had sent since its request, with
    // nothing said: 31 messages of one connection.
    let msg = |i: usize, dir: Direction| {
        let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "y".repeat(100));
        frame(true, 0, 1, if dir == C2S { fresh_mask(i as u8) } else { None }, body.as_bytes())
    };
    // Frames before the client's second gap: two complete ones show they are frames. (One,
    // or none, shows nothing: the first bytes after a lost request may be the rest of the
    // request. Those bytes are dropped, and so are the client's after its second gap, which
    // start anywhere: waiting for them to agree held the server's frames back.)
    for (ahead, kept) in [(2, 2), (4, 4)] {
        let mut c = Conn::new(RoleSource::Syn);
        lose(&mut c, C2S, 162);
        for i in 0..ahead {
            c.send(C2S, &msg(i, C2S));
        }
        lose(&mut c, C2S, msg(ahead, C2S).len() as u64);
        for i in ahead + 1..ahead + 7 {
            c.send(C2S, &msg(i, C2S));
        }
        lose(&mut c, S2C, 129);
        for i in 0..10 {
            c.send(S2C, &msg(i, S2C));
        }
        let ev = c.close();
        let t = texts(&ev);
        let case = format!("{ahead} ahead: {:?}", codes(&ev));
        let client: Vec<_> = t.iter().filter(|(d, _)| *d == C2S).map(|(_, m)| m.clone()).collect();
        assert_eq!(client.len(), kept + 6, "{case} {client:?}");
        assert!(client.iter().all(|m| !m.contains(&format!("\"n\":{ahead},"))), "{case}");
        assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), 10, "{case}");
        let gaps = ev.iter().filter(|e| matches!(e, Event::Gap { .. })).count();
        assert_eq!(gaps, 3, "{case}");
        assert!(!codes(&ev).iter().any(|c| c == "http_malformed"), "{case}");
    }
    // The bytes lost may hold frames after the request: a message's first fragment among them
    // leaves its last one without a start, which is the capture's doing, not the client's.
    let mut c = Conn::new(RoleSource::Syn);
    lose(&mut c, C2S, 300);
    c.send(C2S, &frame(true, 0, 0, fresh_mask(200), b"the end of a message"));
    for i in 0..3 {
        c.send(C2S, &msg(i, C2S));
    }
    lose(&mut c, C2S, 40);
    lose(&mut c, S2C, 129);
    for i in 0..10 {
        c.send(S2C, &msg(i, S2C));
    }
    let ev = c.close();
    let found = codes(&ev);
    assert_eq!(texts(&ev).iter().filter(|(d, _)| *d == C2S).count(), 3, "{found:?}");
    assert!(!found.iter().any(|c| c == "unexpected_continuation"), "{found:?}");
    assert!(found.iter().any(|c| c == "continuation_without_start"), "{found:?}");
}

#[test]
fn bytes_captured_late_are_searched_in_stream_order_when_a_101_was_lost() {
    // A client segment captured after the one that follows it (reordered, or a clock behind
    // the other side's): the frame search had its bytes in stream order, but fed them on sorted
    // by packet, the later bytes first at the earlier offset (hundreds of `reserved_opcode`
    // and `client_frame_unmasked` errors on a copy of a testdata capture that lost its 101).
    let body = |i: usize| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "z".repeat(300));
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    let frames: Vec<Vec<u8>> =
        (0..4).map(|i| frame(true, 0, 1, fresh_mask(i as u8), body(i).as_bytes())).collect();
    c.send_in(C2S, &frames[0], 3);
    // Frame 1 in two segments: its first half captured (packet 9) after its second (packet 5).
    let (a, b) = frames[1].split_at(100);
    c.send_in(C2S, a, 9);
    c.send_in(C2S, b, 5);
    c.send_in(C2S, &frames[2], 10);
    c.send_in(C2S, &frames[3], 11);
    c.packet = 11;
    lose(&mut c, S2C, 129);
    for i in 0..4 {
        c.send(S2C, &frame(true, 0, 1, None, body(i).as_bytes()));
    }
    let ev = c.close();
    let found = codes(&ev);
    let t = texts(&ev);
    assert_eq!(t.iter().filter(|(d, _)| *d == C2S).count(), 4, "{found:?}");
    assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), 4, "{found:?}");
    let error =
        |e: &Event| matches!(e, Event::Finding { severity: super::checks::Severity::Error, .. });
    assert!(!ev.iter().any(error), "{found:?}");
}

#[test]
fn a_101_lost_with_the_syn_ack_is_a_capture_gap_not_a_malformed_response() {
    // helper-37: neither SYN captured, nor the 101: the server's stream starts at its first
    // frame, which was read as the response (an `http_malformed` error, every message lost).
    let msg = |i: usize, dir: Direction| {
        let body = format!("{{\"n\":{i}}}");
        frame(true, 0, 1, if dir == C2S { fresh_mask(i as u8) } else { None }, body.as_bytes())
    };
    let mut c = Conn::new(RoleSource::Guess);
    c.send(C2S, request("").as_bytes());
    for i in 0..10 {
        c.send(S2C, &msg(i, S2C));
        c.send(C2S, &msg(i, C2S));
    }
    let ev = c.close();
    let t = texts(&ev);
    let found = codes(&ev);
    assert_eq!(t.iter().filter(|(d, _)| *d == C2S).count(), 10, "{found:?}");
    assert_eq!(t.iter().filter(|(d, _)| *d == S2C).count(), 10, "{found:?}");
    assert!(!found.contains(&"http_malformed".to_string()), "{found:?}");
    assert!(found.contains(&"capture_gap".to_string()), "{found:?}");
    let outcomes: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Handshake { request, outcome, .. } => Some((request.is_some(), *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, vec![(true, HandshakeOutcome::Upgraded)]);
    // A server that answers with something else altogether: no frames, no response.
    let mut c = Conn::new(RoleSource::Guess);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    let ev = c.close();
    assert!(texts(&ev).is_empty());
    let outcomes: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Handshake { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, vec![HandshakeOutcome::NoResponse], "{:?}", codes(&ev));
}

#[test]
fn what_a_lost_response_is_inferred_from_needs_frames_enough_to_show_it() {
    // helper-39's counter-examples to the inferences above.
    let msg =
        |i: usize| frame(true, 0, 1, fresh_mask(i as u8), format!("{{\"n\":{i}}}").as_bytes());
    let handshakes = |ev: &[Event]| -> Vec<_> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Handshake { request, response, outcome, .. } => {
                    Some((request.is_some(), response.is_some(), *outcome))
                }
                _ => None,
            })
            .collect()
    };
    // A client frame cut by the gap after the request (101 lost): the frames after the gap
    // answer the request, one handshake with it (not a `no_response` and an upgrade without).
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    lose(&mut c, S2C, 129);
    c.send(C2S, &msg(0)[..5]);
    lose(&mut c, C2S, (msg(0).len() - 5) as u64);
    for i in 1..8 {
        c.send(C2S, &msg(i));
        c.send(S2C, &frame(true, 0, 1, None, b"pong"));
    }
    let ev = c.close();
    assert_eq!(
        handshakes(&ev),
        vec![(true, false, HandshakeOutcome::Upgraded)],
        "{:?}",
        codes(&ev)
    );
    assert_eq!(texts(&ev).len(), 14);
    // An eager client's lone frame, its next bytes lost, the refusal lost, nothing more: no
    // upgrade inferred, no message made up.
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes());
    c.send(C2S, &msg(0));
    lose(&mut c, C2S, 40);
    lose(&mut c, S2C, 129);
    let ev = c.close();
    assert_eq!(handshakes(&ev), vec![(true, false, HandshakeOutcome::NoResponse)]);
    assert!(texts(&ev).is_empty());
    // Neither SYN captured. A blank line before the 101 (RFC 9112 §2.2 lets a reader skip it)
    // is the response, not a sign it was lost; nor is a server that speaks something else.
    let mut c = Conn::new(RoleSource::Guess);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, format!("\r\n{}", response("")).as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"hi"));
    let ev = c.close();
    assert!(!codes(&ev).contains(&"capture_gap".to_string()), "{:?}", codes(&ev));
    let mut c = Conn::new(RoleSource::Guess);
    c.send(C2S, request("").as_bytes());
    c.send(S2C, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    let ev = c.close();
    assert!(!codes(&ev).contains(&"capture_gap".to_string()), "{:?}", codes(&ev));
    assert!(texts(&ev).is_empty());
}

#[test]
fn frames_found_before_a_gap_keep_capture_order_with_the_other_side() {
    // helper-39: the 101 lost and the client's bytes lost later, while the server's bytes
    // still waited behind the 101's hole. The client's messages, held on probation, were keyed
    // at the client gap's packet and came after every server message (a ping after its pong).
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, request("").as_bytes()); // packet 2
    // The server's frames (odd packets from 3) wait behind the lost 101.
    c.a.on_stream_event(StreamEvent::Pending {
        conn: ConnId(1),
        dir: S2C,
        since: Some(packet_at(3)),
        at: packet_at(3),
    });
    for i in 0..6u8 {
        c.send_in(
            C2S,
            &frame(true, 0, 1, fresh_mask(i), format!("c{i}").as_bytes()),
            4 + 2 * u64::from(i),
        );
    }
    lose_in(&mut c, C2S, 50, 16);
    lose_in(&mut c, S2C, 129, 3);
    for i in 0..6u8 {
        c.send_in(S2C, &frame(true, 0, 1, None, format!("s{i}").as_bytes()), 3 + 2 * u64::from(i));
    }
    c.a.on_stream_event(StreamEvent::Pending {
        conn: ConnId(1),
        dir: S2C,
        since: None,
        at: packet_at(16),
    });
    c.packet = 20;
    let t: Vec<String> = texts(&c.close()).into_iter().map(|(_, t)| t).collect();
    assert_eq!(t, ["s0", "c0", "s1", "c1", "s2", "c2", "s3", "c3", "s4", "c4", "s5", "c5"]);
}

/// The handshake events of `ev`: (the request's path, whether the accept key matched).
fn handshakes(ev: &[Event]) -> Vec<(Option<String>, Option<bool>, HandshakeOutcome)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Handshake { request, accept_valid, outcome, .. } => {
                Some((request.as_ref().map(|r| r.path.clone()), *accept_valid, *outcome))
            }
            _ => None,
        })
        .collect()
}

/// Closes `c` cleanly: its events and finding codes, its one handshake the upgrade of the
/// test's request (`/chat`) with a valid accept key.
fn answered(mut c: Conn) -> (Vec<Event>, Vec<String>) {
    clean_close(&mut c);
    let ev = c.close();
    let found = codes(&ev);
    assert_eq!(
        handshakes(&ev),
        [(Some("/chat".to_string()), Some(true), HandshakeOutcome::Upgraded)],
        "{found:?}"
    );
    (ev, found)
}

#[test]
fn a_101_captured_before_its_request_waits_for_it() {
    // Two capture points merged with clocks that disagree, the SYN-ACK lost: the connection is
    // picked up at the server's 101, and the client's SYN and request come after it. The 101
    // was taken as answering a request sent before the capture, and the request decoded as
    // frames (a damaged copy of merged-skew-minus: 118 errors the client never made).
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    c.send(C2S, request("").as_bytes());
    c.send(C2S, &frame(true, 0, 1, MASK, b"c0"));
    c.send(S2C, &frame(true, 0, 1, None, b"s1"));
    let (ev, found) = answered(c);
    let t: Vec<String> = texts(&ev).into_iter().map(|(_, t)| t).collect();
    assert_eq!(t, ["s0", "c0", "s1"], "{found:?}");
    let error =
        |e: &Event| matches!(e, Event::Finding { severity: super::checks::Severity::Error, .. });
    assert!(!ev.iter().any(error), "{found:?}");
    assert!(!found.contains(&"handshake_request_not_seen".to_string()), "{found:?}");
    // More than a head's worth of the server's frames first (helper-42: 65–91 KB from a busy
    // server in 30–100 ms of skew): it waits as long as --max-resync.
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    for i in 0..80 {
        c.send(S2C, &frame(true, 0, 2, None, &[i; 1000]));
    }
    c.send(C2S, request("").as_bytes());
    c.send(C2S, &frame(true, 0, 1, MASK, b"c0"));
    let (ev, found) = answered(c);
    assert_eq!(texts(&ev), [(C2S, "c0".to_string())], "{found:?}");
    // A request in several segments, the server's frames between them (helper-44: a 3.7 KB
    // request with a large cookie ended the wait at its first segment, and was decoded as
    // frames, 231 errors).
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    let head = request(&format!("Cookie: {}\r\n", "c".repeat(3000)));
    for piece in head.as_bytes().chunks(1400) {
        c.send(C2S, piece);
        c.send(S2C, &frame(true, 0, 1, None, b"s"));
    }
    c.send(C2S, &frame(true, 0, 1, MASK, b"c0"));
    let (ev, found) = answered(c);
    assert_eq!(texts(&ev).len(), 5, "{found:?}");
}

#[test]
fn a_101_whose_request_does_not_come_starts_the_frames_all_the_same() {
    let not_seen = |ev: &[Event]| {
        let h = handshakes(ev);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].1, h[0].2), (None, HandshakeOutcome::Upgraded));
        assert!(codes(ev).contains(&"handshake_request_not_seen".to_string()));
    };
    // The capture started after the request: the client's first bytes are frames.
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    c.send(C2S, &frame(true, 0, 1, MASK, b"c0"));
    let ev = c.close();
    not_seen(&ev);
    let t: Vec<String> = texts(&ev).into_iter().map(|(_, t)| t).collect();
    assert_eq!(t, ["s0", "c0"]);
    // A client that sends nothing: the connection's end.
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    let ev = c.close();
    not_seen(&ev);
    assert_eq!(texts(&ev).len(), 1);
    // Or the reorder window: frames of the server long after its 101 are shown at once.
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    c.send_in(S2C, &frame(true, 0, 1, None, b"s1"), 2_500);
    assert_eq!(texts(&c.a.sink_mut().0).len(), 2);
    let ev = c.close();
    not_seen(&ev);
}

#[test]
fn a_response_captured_before_the_end_of_a_request_head_too_long_to_keep_waits_for_it() {
    // A request head longer than --max-http-head is read up to the limit and dropped from
    // there to its end. Its 101, captured before the head's last segment (reordered), took the
    // client's frames to start inside the head: unmasked frames with RSV bits, errors the
    // client never made (vanishing_upgrades.pcap with packets displaced by up to 3 places).
    let long = format!("X-Pad: {}\r\n", "p".repeat(70 << 10));
    let head = request(&long);
    let (first, rest) = head.as_bytes().split_at(66 << 10);
    let mut c = Conn::new(RoleSource::Syn);
    c.send(C2S, first);
    c.send(S2C, response("").as_bytes());
    c.send(C2S, rest);
    c.send(C2S, &frame(true, 0, 1, MASK, b"c0"));
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    clean_close(&mut c);
    let ev = c.close();
    let found = codes(&ev);
    assert_eq!(found, ["http_malformed"]);
    let t: Vec<String> = texts(&ev).into_iter().map(|(_, t)| t).collect();
    assert_eq!(t, ["c0", "s0"], "{found:?}");
}

#[test]
fn a_101_that_waits_for_its_request_is_read_when_the_window_passes_or_bytes_go_missing() {
    let messages = |ev: &[Event]| texts(ev).into_iter().map(|(_, t)| t).collect::<Vec<_>>();
    // A server that goes quiet after its 101 and a message, the client only acknowledging: the
    // table's sweep after the reorder window reads it (helper-43: held until the connection
    // ended, 15 s later, live).
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    c.a.on_sweep(packet_at(1_000));
    assert!(messages(&c.a.sink_mut().0).is_empty());
    c.a.on_sweep(packet_at(2_100));
    assert_eq!(messages(&c.a.sink_mut().0), ["s0"]);
    let ev = c.close();
    assert!(codes(&ev).contains(&"handshake_request_not_seen".to_string()));
    // Bytes of the server lost while it waits: the 101 and the message before them are read
    // (helper-43: the gap dropped them, and the connection was not shown at all).
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    lose(&mut c, S2C, 100);
    for m in ["s1", "s2", "s3"] {
        c.send(S2C, &frame(true, 0, 1, None, m.as_bytes()));
    }
    let ev = c.close();
    assert_eq!(messages(&ev), ["s0", "s1", "s2", "s3"], "{:?}", codes(&ev));
    assert!(codes(&ev).contains(&"capture_gap".to_string()));
    // The client's first bytes are a request that is no upgrade: not the 101's (helper-43: a
    // GET took it as its answer, and the server's frames were not followed).
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, response("").as_bytes());
    c.send(S2C, &frame(true, 0, 1, None, b"s0"));
    c.send(C2S, b"GET /other HTTP/1.1\r\nHost: example.com\r\n\r\n");
    c.send(S2C, &frame(true, 0, 1, None, b"s1"));
    let ev = c.close();
    assert_eq!(handshakes(&ev).len(), 1, "{ev:?}");
    assert_eq!(handshakes(&ev)[0].1, None);
    assert_eq!(messages(&ev)[..2], ["s0", "s1"]);
    // Only a 101 waits: a 200 alone answered an earlier request, not the upgrade request that
    // follows (helper-43: a refusal nobody made).
    let mut c = Conn::new(RoleSource::Guess);
    c.send(S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    c.send(C2S, request("").as_bytes());
    c.send(S2C, response("").as_bytes());
    c.send(C2S, &frame(true, 0, 1, MASK, b"c0"));
    let ev = c.close();
    assert!(!handshakes(&ev).iter().any(|h| h.2 == HandshakeOutcome::Refused), "{ev:?}");
}

#[test]
fn a_101_waiting_for_its_request_holds_no_more_than_max_resync_marks_included() {
    // One-byte segments: the bytes are few, the marks of the pieces they came in are 32 bytes
    // each. Counted with the bytes, 10,000 of them end the wait (bytes alone would not; the
    // reorder window is made long enough not to end it first).
    let cfg =
        AnalyzerConfig { reorder_window: std::time::Duration::from_secs(60), ..Default::default() };
    let mut c = Conn::with(RoleSource::Guess, cfg);
    c.send(S2C, response("").as_bytes());
    let frames: Vec<u8> = (0..100).flat_map(|_| frame(true, 0, 1, None, &[b'x'; 98])).collect();
    for b in &frames {
        c.send(S2C, std::slice::from_ref(b));
    }
    assert_eq!(texts(&c.a.sink_mut().0).len(), 100);
    let ev = c.close();
    assert!(codes(&ev).contains(&"handshake_request_not_seen".to_string()));
}
