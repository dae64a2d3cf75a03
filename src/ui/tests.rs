//! TUI tests: the pure state on scripted events, and plain-text snapshots of whole screens on
//! ratatui's `TestBackend` at 80×24 and 160×48 (insta; `INSTA_UPDATE=always` rewrites them).

use super::state::{Action, AppState, Effect, Focus, OpFilter, RowKind};
use super::view;
use crate::analyzer::{Analyzer, AnalyzerConfig, Collect};
use crate::capture::FileSource;
use crate::event::Event;
use crate::limits::TcpLimits;
use crate::pipeline::{self, Stop};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::Path;

fn events(capture: &str) -> Vec<Event> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(capture);
    let mut src = FileSource::open(&path, None).unwrap();
    let cfg = AnalyzerConfig { emit_frames: true, ..Default::default() };
    let mut a = Analyzer::new(cfg, Collect::default());
    pipeline::drive(&mut src, &TcpLimits::default(), &Stop::default(), &mut a);
    a.into_sink().0
}

fn state(capture: &str) -> AppState {
    let mut s = AppState::new(64 << 20);
    s.color = false;
    // Screens do not depend on the machine's time zone.
    s.local_offset = |_| 3600;
    for e in events(capture) {
        s.apply(&e);
    }
    s.capture.done = true;
    s.capture.packets = 42;
    s
}

/// Renders the state as the UI loop does (layout-driven paging first) and returns the screen.
fn screen(s: &mut AppState, w: u16, h: u16) -> String {
    let areas = view::layout(ratatui::layout::Rect::new(0, 0, w, h), s);
    s.page = view::inner_rows(areas.messages, false).max(1);
    s.keep_msg_visible();
    s.keep_conn_visible(view::inner_rows(areas.conns, true));
    let (lines, rows) = view::detail::height(s, areas.detail);
    s.clamp_detail(lines, rows);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, s)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A complete text message `sent` from the server of connection 1, captured at `at`.
fn text_message(sent: &str, at: crate::event::Position) -> Event {
    Event::Message {
        connection: crate::tcp::ConnId(1),
        direction: crate::tcp::Direction::ServerToClient,
        opcode: crate::ws::OpCode::Text,
        complete: true,
        length: Some(sent.len() as u64),
        captured_length: sent.len() as u64,
        missing: Some(0),
        wire_length: sent.len() as u64,
        compressed: false,
        fragments: 1,
        first: at,
        last: at,
        end: at,
        payload: crate::event::Payload::Text(sent.into()),
        truncated: false,
        close: None,
        rtt: None,
    }
}

// ── State ───────────────────────────────────────────────────────────────────────────────────

#[test]
fn events_fold_into_connections_and_rows() {
    let s = state("testdata/captures/real/py-close-codes.pcap");
    assert_eq!(s.conns.len(), 5);
    assert_eq!(s.conns[2].close_codes, (Some(1008), Some(1008)));
    assert_eq!(s.total_messages, 20);
    assert!(s.rows[0].iter().any(|r| matches!(r.kind, RowKind::Finding { .. })));
}

#[test]
fn following_keeps_the_newest_message_selected_until_the_user_scrolls_up() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.handle(Action::Enter);
    let n = s.view().len();
    assert_eq!(s.msg_sel, n - 1);
    assert!(s.follow);
    s.handle(Action::Up);
    assert!(!s.follow, "scrolling away pauses following");
    s.handle(Action::End);
    assert!(s.follow);
}

#[test]
fn filters_narrow_the_view_and_keep_the_selection_close() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.handle(Action::Enter);
    let all = s.view().len();
    s.handle(Action::CycleDirection);
    let up = s.view().len();
    assert!(up < all && up > 0);
    s.handle(Action::CycleDirection);
    s.handle(Action::CycleDirection);
    s.handle(Action::CycleOpcode);
    assert_eq!(s.op_filter, OpFilter::Data);
    assert!(s.view().len() < all);
    s.handle(Action::CycleOpcode);
    s.handle(Action::CycleOpcode);
    s.handle(Action::ToggleFindingsOnly);
    assert_eq!(s.view().len(), 1, "py-basic has one finding (no Origin)");
}

#[test]
fn search_is_a_regex_over_payloads_and_n_jumps_between_matches() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.handle(Action::Enter);
    s.handle(Action::SearchStart);
    for c in "w.rld".chars() {
        s.handle(Action::PromptChar(c));
    }
    s.handle(Action::PromptSubmit);
    let first = s.msg_sel;
    assert!(
        s.selected_row().unwrap().preview.contains("wörld"),
        "{:?}",
        s.selected_row().map(|r| &r.preview)
    );
    s.handle(Action::NextMatch);
    assert_ne!(s.msg_sel, first);
    assert!(s.selected_row().unwrap().preview.contains("wörld"));
    s.handle(Action::SearchStart);
    s.handle(Action::PromptChar('('));
    s.handle(Action::PromptSubmit);
    assert!(s.notice.as_deref().unwrap_or("").starts_with("invalid regex"));
}

#[test]
fn jump_to_next_finding_wraps_and_says_when_there_is_none() {
    let mut s = state("testdata/captures/derived/lost-segment.pcap");
    s.handle(Action::Enter);
    s.handle(Action::Home);
    s.handle(Action::NextFinding);
    assert!(s.selected_row().unwrap().is_notice());
    let mut clean = state("testdata/captures/real/chromium-deflate.pcap");
    clean.handle(Action::Enter);
    clean.handle(Action::NextFinding);
    assert_eq!(clean.notice.as_deref(), Some("no more findings"));
}

#[test]
fn typing_q_in_the_search_prompt_does_not_quit_and_esc_leaves_it() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.handle(Action::SearchStart);
    assert_eq!(s.handle(Action::PromptChar('q')), Effect::None);
    s.handle(Action::Back);
    assert_eq!(s.handle(Action::Quit), Effect::Quit);
}

#[test]
fn fragmented_messages_keep_their_frames() {
    let s = state("testdata/captures/real/py-fragments.pcap");
    let frames = s.rows[0]
        .iter()
        .filter_map(|r| match &r.kind {
            RowKind::Message { fragments, extra, .. } if *fragments > 1 => {
                Some((*fragments, extra.as_ref().map_or(0, |x| x.frames.len())))
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(!frames.is_empty());
    assert!(frames.iter().all(|(n, f)| *n as usize == *f), "{frames:?}");
}

#[test]
fn payloads_beyond_the_budget_keep_only_a_preview() {
    let mut s = AppState::new(10);
    for e in events("testdata/captures/real/py-basic.pcap") {
        s.apply(&e);
    }
    assert!(s.payload_bytes <= 10);
    let kept = s.rows[0]
        .iter()
        .filter(|r| matches!(&r.kind, RowKind::Message { payload: Some(_), .. }))
        .count();
    let dropped = s.rows[0]
        .iter()
        .filter(|r| matches!(&r.kind, RowKind::Message { payload: None, .. }))
        .count();
    assert!(kept > 0 && dropped > 0);
}

#[test]
fn control_characters_in_payloads_are_escaped_in_previews() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    let evil = Event::Message {
        connection: crate::tcp::ConnId(1),
        direction: crate::tcp::Direction::ServerToClient,
        opcode: crate::ws::OpCode::Text,
        complete: true,
        length: Some(9),
        captured_length: 9,
        missing: Some(0),
        wire_length: 9,
        compressed: false,
        fragments: 1,
        first: Default::default(),
        last: Default::default(),
        end: Default::default(),
        payload: crate::event::Payload::Text("\x1b[2J\x07bell".into()),
        truncated: false,
        close: None,
        rtt: None,
    };
    s.apply(&evil);
    let last = s.rows[0].last().unwrap();
    assert!(!last.preview.contains('\x1b'), "{:?}", last.preview);
    assert!(screen(&mut s, 80, 24).chars().all(|c| c == '\n' || !c.is_control()));
}

/// Bidi controls, zero-width characters and terminal sequences in the handshake, a payload, a
/// close reason and a finding reach the screen escaped, in every pane.
#[test]
fn hostile_strings_are_escaped_in_every_pane() {
    use crate::event::{CloseFrameInfo, HandshakeOutcome, Payload, Position};
    use crate::http::{Extension, RequestInfo, ResponseInfo};
    use crate::tcp::{ConnId, Direction, RoleSource};
    let hostile = "a\x1b[2J\u{202e}b\u{200b}c\u{2066}";
    let shown = "a\\u{1b}[2J\\u{202e}b\\u{200b}c\\u{2066}";
    let conn = ConnId(1);
    let ts = crate::time::Timestamp::from_secs_nanos(1_700_000_000, 0);
    let at = |packet| Position { packet, ts, offset: 0 };
    let message = |direction, payload: &str, close: Option<CloseFrameInfo>| Event::Message {
        connection: conn,
        direction,
        opcode: if close.is_some() { crate::ws::OpCode::Close } else { crate::ws::OpCode::Text },
        complete: true,
        length: Some(payload.len() as u64),
        captured_length: payload.len() as u64,
        missing: Some(0),
        wire_length: payload.len() as u64,
        compressed: false,
        fragments: 1,
        first: at(5),
        last: at(5),
        end: at(5),
        payload: Payload::Text(payload.into()),
        truncated: false,
        close,
        rtt: None,
    };
    let mut s = AppState::new(1 << 20);
    s.color = false;
    for e in [
        Event::Connection {
            connection: conn,
            client: "10.0.0.1:50000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            community_id: crate::tcp::CommunityId::tcp(
                "10.0.0.1:50000".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap(),
                0,
            ),
            role: RoleSource::Syn,
            continues: None,
            packet: 1,
            ts,
        },
        Event::Handshake {
            connection: conn,
            seen: true,
            request: Some(Box::new(RequestInfo {
                method: "GET".into(),
                path: format!("/{hostile}"),
                http_version: "1.1".into(),
                host: Some(format!("h{hostile}")),
                headers: vec![("X-Note".into(), hostile.into())],
                ..Default::default()
            })),
            response: Some(Box::new(ResponseInfo {
                status: 101,
                reason: format!("Switching {hostile}"),
                http_version: "1.1".into(),
                protocol: Some(format!("p{hostile}")),
                extensions: vec![Extension { name: format!("x{hostile}"), params: vec![] }],
                ..Default::default()
            })),
            accept_valid: Some(true),
            outcome: HandshakeOutcome::Upgraded,
        },
        message(Direction::ClientToServer, hostile, None),
        Event::Finding {
            connection: conn,
            code: crate::analyzer::checks::CheckId::ALL[0],
            severity: crate::analyzer::checks::Severity::Warning,
            rfc: "RFC 6455",
            direction: Some(Direction::ClientToServer),
            at: at(5),
            message: format!("bad {hostile}"),
        },
        message(
            Direction::ServerToClient,
            "",
            Some(CloseFrameInfo {
                code: Some(crate::ws::CloseCode(1000)),
                reason: hostile.into(),
                at: at(6),
            }),
        ),
    ] {
        s.apply(&e);
    }
    s.capture.done = true;
    let check = |what: &str, screen: &str, expect: usize| {
        let bad: Vec<char> =
            screen.chars().filter(|&c| c != '\n' && crate::term::needs_escape(c)).collect();
        assert!(bad.is_empty(), "{what}: raw {bad:?} on screen:\n{screen}");
        assert!(
            screen.matches("\\u{202e}").count() >= expect,
            "{what}: escapes missing:\n{screen}"
        );
    };
    // The connections table (host, path, subprotocol, extension) and the handshake detail.
    let conns = screen(&mut s, 200, 48);
    check("connections and handshake", &conns, 6);
    assert!(conns.contains(&format!("/{shown}")), "{conns}");
    // The messages, and each message's detail.
    s.handle(Action::Enter);
    s.handle(Action::Home);
    for _ in 0..3 {
        let sc = screen(&mut s, 200, 48);
        check("messages and detail", &sc, 3);
        s.handle(Action::Down);
    }
}

// ── Snapshots ───────────────────────────────────────────────────────────────────────────────

#[test]
fn snapshot_connections_and_messages_80x24() {
    let mut s = state("testdata/captures/real/py-close-codes.pcap");
    s.handle(Action::Down);
    insta::assert_snapshot!(screen(&mut s, 80, 24));
}

#[test]
fn snapshot_wide_with_json_detail_160x48() {
    let mut s = state("testdata/captures/real/py-node-deflate.pcap");
    s.handle(Action::Enter);
    s.handle(Action::Home);
    s.handle(Action::Down);
    s.handle(Action::Down);
    s.handle(Action::Down);
    insta::assert_snapshot!(screen(&mut s, 160, 48));
}

#[test]
fn snapshot_binary_hex_detail_80x24() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.handle(Action::Enter);
    s.handle(Action::Home);
    s.jump_to_text("0f 0e 0d");
    s.handle(Action::Enter);
    assert_eq!(s.focus, Focus::Detail);
    insta::assert_snapshot!(screen(&mut s, 80, 24));
}

#[test]
fn snapshot_findings_and_gaps_inline_160x48() {
    let mut s = state("testdata/captures/derived/lost-segment.pcap");
    s.handle(Action::Enter);
    insta::assert_snapshot!(screen(&mut s, 160, 48));
}

#[test]
fn snapshot_handshake_detail_of_a_bad_accept_160x48() {
    let mut s = state("testdata/captures/real/bad-accept.pcap");
    s.handle(Action::NextPane);
    s.handle(Action::PrevPane);
    insta::assert_snapshot!(screen(&mut s, 160, 48));
}

#[test]
fn snapshot_help_overlay_80x24() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.handle(Action::ToggleHelp);
    insta::assert_snapshot!(screen(&mut s, 80, 24));
}

#[test]
fn plain_tcp_connections_are_listed_only_on_demand() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/real/refused-403.pcap");
    let mut src = FileSource::open(&path, None).unwrap();
    let cfg = AnalyzerConfig { announce_tcp: true, ..Default::default() };
    let mut a = Analyzer::new(cfg, Collect::default());
    pipeline::drive(&mut src, &TcpLimits::default(), &Stop::default(), &mut a);
    let mut s = AppState::new(1 << 20);
    for e in a.into_sink().0 {
        s.apply(&e);
    }
    // Every connection of this capture attempted an upgrade; add a plain one by hand.
    s.apply(&Event::Connection {
        connection: crate::tcp::ConnId(99),
        client: "10.0.0.9:1".parse().unwrap(),
        server: "10.0.0.8:2".parse().unwrap(),
        community_id: crate::tcp::CommunityId::tcp(
            "10.0.0.9:1".parse().unwrap(),
            "10.0.0.8:2".parse().unwrap(),
            0,
        ),
        role: crate::tcp::RoleSource::Syn,
        continues: None,
        packet: 1,
        ts: Default::default(),
    });
    let websocket = s.conn_order().len();
    assert_eq!(websocket, s.conns.len() - 1);
    s.handle(Action::ToggleAll);
    assert_eq!(s.conn_order().len(), s.conns.len());
}

#[test]
fn the_status_bar_says_how_many_packets_were_not_decoded_and_why() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    let clean = screen(&mut s, 160, 48);
    assert!(!clean.contains("not decoded"), "{clean}");
    s.capture.undecoded = 3;
    s.capture.undecoded_why.count(crate::packet::Undecoded::IpTruncated);
    s.capture.undecoded_why.count(crate::packet::Undecoded::IpTruncated);
    s.capture.undecoded_why.count(crate::packet::Undecoded::TcpInvalid);
    let shown = screen(&mut s, 160, 48);
    let status = shown.lines().last().unwrap_or_default().to_string();
    assert!(
        status.contains("3 not decoded: 2 IP header cut short, 1 invalid TCP header"),
        "{status}"
    );
}

#[test]
fn the_status_bar_says_when_the_input_ended_early_and_why() {
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.capture.done = true;
    assert!(!screen(&mut s, 200, 48).contains("ended early"));
    s.capture.ended_early = Some("cannot write -w /mnt/full.pcap: No space left\u{1b}[2J".into());
    let shown = screen(&mut s, 200, 48);
    let status = shown.lines().last().unwrap_or_default().to_string();
    assert!(
        status.contains("input ended early: cannot write -w /mnt/full.pcap: No space left"),
        "{status}"
    );
    assert!(!status.contains('\u{1b}'), "{status}");
}

#[test]
fn rows_beyond_max_rows_drop_the_oldest_of_the_busiest_connection_and_say_so() {
    let evs = events("testdata/captures/real/py-basic.pcap");
    let mut s = AppState::new(64 << 20);
    s.max_rows = 1000;
    s.color = false;
    // The connection once, then its messages 200 times over: well past 1000 rows.
    let (head, msgs): (Vec<&Event>, Vec<&Event>) =
        evs.iter().partition(|e| !matches!(e, Event::Message { .. }));
    for e in &head {
        s.apply(e);
    }
    for _ in 0..200 {
        for e in &msgs {
            s.apply(e);
        }
    }
    let total: usize = s.rows.iter().map(Vec::len).sum();
    assert!(total <= 1000, "{total} rows kept");
    assert!(s.rows_dropped > 0);
    // Rows go, counts stay.
    assert_eq!(s.total_messages, 200 * msgs.len() as u64);
    assert!(total as u64 + s.rows_dropped >= 200 * msgs.len() as u64);
    // The payloads still counted are exactly those of the rows kept.
    let kept: usize = s
        .rows
        .iter()
        .flatten()
        .filter_map(|r| match &r.kind {
            RowKind::Message { payload: Some(p), .. } => Some(p.len()),
            _ => None,
        })
        .sum();
    assert_eq!(kept, s.payload_bytes);
    s.capture.done = true;
    let screen = screen(&mut s, 160, 48);
    assert!(screen.contains("oldest rows dropped (--max-rows)"), "{screen}");
}

/// A wss:// capture without keys: its TLS connection is listed (never hidden as plain TCP),
/// known by its server name, in state `tls`, with the finding that says what would decrypt it.
#[test]
fn a_tls_connection_without_keys_is_shown_with_its_server_name_and_advice() {
    // As the UI runs the analyzer: connections that are not WebSocket are announced too.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/tls/tls-nokeys.pcap");
    let mut src = FileSource::open(&path, None).unwrap();
    let cfg = AnalyzerConfig { announce_tcp: true, ..Default::default() };
    let mut a = Analyzer::new(cfg, Collect::default());
    pipeline::drive(&mut src, &TcpLimits::default(), &Stop::default(), &mut a);
    let mut s = AppState::new(1 << 20);
    s.color = false;
    for e in a.into_sink().0 {
        s.apply(&e);
    }
    assert_eq!(s.conn_order().len(), 1);
    let c = &s.conns[0];
    assert_eq!(c.host, "localhost");
    assert!(c.tls.as_deref().is_some_and(|t| t.contains("TLS 1.3") && t.contains("--keylog")));
    let text = screen(&mut s, 150, 16);
    assert!(text.contains("tls") && text.contains("localhost"), "{text}");
    assert!(text.contains("tls_not_decrypted"), "{text}");
}

/// JSON in the detail pane is the peer's own text: a number beyond f64, a number's spelling and
/// duplicate keys survive pretty-printing; `v` shows it raw, as hex and as base64.
#[test]
fn json_is_shown_exactly_as_sent_in_every_payload_view() {
    use crate::ui::state::{Action, Focus, PayloadView};
    let mut s = state("testdata/captures/real/py-basic.pcap");
    let sent = r#"{"id": 12345678901234567890123, "amount": 1.10, "dup": 1, "dup": 2}"#;
    s.apply(&text_message(sent, Default::default()));
    s.focus = Focus::Messages;
    s.handle(Action::End);
    let pretty = screen(&mut s, 160, 48);
    assert!(pretty.contains("message · pretty (v)"), "{pretty}");
    for token in
        [r#""id": 12345678901234567890123,"#, r#""amount": 1.10,"#, r#""dup": 1,"#, r#""dup": 2"#]
    {
        assert!(pretty.contains(token), "{token} missing:\n{pretty}");
    }
    assert!(!pretty.contains("e+22") && !pretty.contains("1.1,"), "{pretty}");
    s.handle(Action::CyclePayloadView);
    assert_eq!(s.payload_view, PayloadView::Raw);
    let raw = screen(&mut s, 160, 48);
    assert!(raw.contains(r#"{"id": 12345678901234567890123, "amount": 1.10"#), "{raw}");
    s.handle(Action::CyclePayloadView);
    assert!(screen(&mut s, 160, 48).contains("7b 22 69 64 22 3a"), "hex");
    s.handle(Action::CyclePayloadView);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(sent);
    assert!(screen(&mut s, 160, 48).contains(&b64[..40]), "base64");
    s.handle(Action::CyclePayloadView);
    assert_eq!(s.payload_view, PayloadView::Pretty);
    // Invalid JSON is shown raw, never "fixed".
    let broken = r#"{"a": 1,, "b": 02}"#;
    assert_eq!(crate::jsontext::reindent(broken, 2), None);
}

/// `t` cycles the time column: since the connection, since the capture, delta to the previous
/// row, UTC wall clock, local wall clock — each named in the title.
#[test]
fn t_cycles_the_time_modes() {
    use crate::ui::state::{Action, Focus};
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.focus = Focus::Messages;
    s.handle(Action::Home);
    let expect = [
        ("since connection start", "0.000"),
        ("since capture start", "0.000"),
        ("delta", "+0.000"),
        ("UTC", "15:06:23.99"),
        ("local time", "16:06:23.99"),
    ];
    for (name, cell) in expect {
        let screen = screen(&mut s, 160, 48);
        assert!(screen.contains(&format!("time {name} (t)")), "{name}:\n{screen}");
        assert!(screen.contains(cell), "{name}: {cell} missing\n{screen}");
        s.handle(Action::ToggleTime);
    }
    assert_eq!(s.time_mode, crate::timefmt::TimeMode::Connection);
}

/// `/` searches every connection, case-insensitively, and filters both lists (as DevTools'
/// Messages pane does); an empty search clears it.
#[test]
fn search_filters_messages_and_connections() {
    use crate::ui::state::{Action, Prompt};
    let mut s = state("testdata/captures/real/concurrent.pcap");
    let all_conns = s.conn_order().len();
    assert!(all_conns > 1);
    let search = |s: &mut AppState, q: &str| {
        s.handle(Action::SearchStart);
        assert!(matches!(s.prompt, Prompt::Search(_)));
        for c in q.chars() {
            s.handle(Action::PromptChar(c));
        }
        s.handle(Action::PromptSubmit);
    };
    // Connection 2's messages only (the payloads name their connection), typed in capitals.
    search(&mut s, "CONNECTION 2 ");
    assert_eq!(s.conn_order().len(), 1, "{:?}", s.notice);
    let view = s.view().to_vec();
    assert!(!view.is_empty());
    let conn = s.selected_conn_index().unwrap();
    for i in view {
        assert!(s.matches(&s.rows[conn][i]));
    }
    let text = screen(&mut s, 160, 48);
    assert!(text.contains("/CONNECTION 2 /"), "{text}");
    assert!(text.contains("without a match hidden"), "not called plain TCP:\n{text}");
    search(&mut s, "");
    assert_eq!(s.conn_order().len(), all_conns);
    assert!(s.search.is_none());
    // The connection itself matches too (its URL or an address): all of its rows are listed.
    let mut s = state("testdata/captures/real/py-close-codes.pcap");
    search(&mut s, "close-codes/2$");
    assert_eq!(s.conn_order().len(), 1, "{:?}", s.notice);
    let conn = s.selected_conn_index().unwrap();
    assert_eq!(s.conns[conn].path, "/py-close-codes/2");
    assert_eq!(s.view().len(), s.rows[conn].len(), "every row of a matching connection");
    let client = s.conns[conn].client.clone();
    search(&mut s, &regex::escape(&client));
    assert_eq!(s.conn_order().len(), 1, "{:?}", s.notice);
}

/// Layout: hex dump lines fit the pane; the message list is filled to its last row after the
/// window grows; the detail pane stops scrolling at its end; following selects a new
/// connection.
#[test]
fn layout_fits_fills_and_clamps() {
    use crate::ui::state::{Action, Focus, PayloadView};
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.focus = Focus::Messages;
    s.payload_view = PayloadView::Hex;
    s.handle(Action::Home);
    s.handle(Action::Down); // "welcome"
    // A narrow window shows the detail pane instead of the messages when it has the focus.
    s.focus = Focus::Detail;
    let text = screen(&mut s, 80, 24);
    // Every hex line holds its ASCII column on the same row (it did not wrap).
    let dumps: Vec<&str> = text.lines().filter(|l| l.contains("00000000  ")).collect();
    assert!(!dumps.is_empty(), "{text}");
    for l in dumps {
        assert!(l.contains("welcome") || l.contains("welc"), "{l}\n{text}");
    }
    // Scroll the detail pane far past its end: it stops at the end.
    for _ in 0..200 {
        s.handle(Action::Down);
    }
    let text = screen(&mut s, 80, 24);
    assert!(s.detail_scroll < 40, "{}", s.detail_scroll);
    assert!(text.contains('│'));
    // A small window scrolled to the end, then a tall one: no empty bottom with rows above.
    s.focus = Focus::Messages;
    s.handle(Action::End);
    screen(&mut s, 80, 14);
    screen(&mut s, 80, 60);
    assert_eq!(s.msg_offset, 0, "all rows fit: none may be hidden above");
    // A file opens on its first connection; following a live capture, the newest connection
    // is the selected one.
    let s = state("testdata/captures/real/concurrent.pcap");
    assert_eq!(s.conn_sel, 0);
    let mut live = AppState::new(1 << 20);
    live.capture.live = true;
    for e in events("testdata/captures/real/concurrent.pcap") {
        live.apply(&e);
    }
    assert_eq!(live.conn_sel + 1, live.conn_order().len());
}

/// Every new view at both sizes: a wss:// connection without keys, the connection detail,
/// a search filtering the lists, the save prompt, and each time mode.
#[test]
fn snapshot_new_views_80x24_and_160x48() {
    use crate::ui::state::{Prompt, SaveWhat};
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        // TLS without keys (as the UI runs: non-WebSocket connections announced).
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/tls/tls-nokeys.pcap");
        let mut src = FileSource::open(&path, None).unwrap();
        let cfg = AnalyzerConfig { announce_tcp: true, ..Default::default() };
        let mut a = Analyzer::new(cfg, Collect::default());
        pipeline::drive(&mut src, &TcpLimits::default(), &Stop::default(), &mut a);
        let mut s = AppState::new(1 << 20);
        s.color = false;
        s.local_offset = |_| 3600;
        for e in a.into_sink().0 {
            s.apply(&e);
        }
        s.capture.done = true;
        insta::assert_snapshot!(format!("tls_nokeys_{w}x{h}"), screen(&mut s, w, h));

        // The connection detail of a session with close codes and a ping.
        let mut s = state("testdata/captures/real/py-basic.pcap");
        insta::assert_snapshot!(format!("connection_detail_{w}x{h}"), screen(&mut s, w, h));

        // A search across connections.
        let mut s = state("testdata/captures/real/concurrent.pcap");
        s.handle(Action::SearchStart);
        for c in "round 1".chars() {
            s.handle(Action::PromptChar(c));
        }
        s.handle(Action::PromptSubmit);
        insta::assert_snapshot!(format!("search_{w}x{h}"), screen(&mut s, w, h));

        // The save prompt.
        s.prompt = Prompt::Save(SaveWhat::Connection, "wsscope-conn1-all.ndjson".into());
        insta::assert_snapshot!(format!("save_prompt_{w}x{h}"), screen(&mut s, w, h));

        // Time modes: delta and UTC.
        let mut s = state("testdata/captures/real/py-basic.pcap");
        s.handle(Action::Enter);
        s.handle(Action::ToggleTime);
        s.handle(Action::ToggleTime);
        insta::assert_snapshot!(format!("time_delta_{w}x{h}"), screen(&mut s, w, h));
        s.handle(Action::ToggleTime);
        insta::assert_snapshot!(format!("time_utc_{w}x{h}"), screen(&mut s, w, h));
    }
}

/// What `W` and `e` save is what `export` writes: each row as its NDJSON event, valid against
/// the documented line schema and equal to `export`'s line for the same message, finding or
/// gap (positions, lengths, close, rtt, gap reason and all). A payload the view did not keep is
/// written empty and marked truncated.
#[test]
fn saved_rows_are_exports_ndjson_lines() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/ndjson-line.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let schema = jsonschema::validator_for(&schema).unwrap();
    let mut compared = 0;
    for capture in [
        "testdata/captures/real/py-basic.pcap",
        "testdata/captures/real/py-fragments.pcap",
        "testdata/captures/real/py-close-codes.pcap",
        "testdata/captures/derived/lost-segment.pcap",
    ] {
        let exported: Vec<serde_json::Value> = events(capture)
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Connection { .. }
                        | Event::Handshake { .. }
                        | Event::Message { .. }
                        | Event::Finding { .. }
                        | Event::Gap { .. }
                        | Event::End { .. }
                )
            })
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        let s = state(capture);
        for (ci, conn) in s.conns.iter().enumerate() {
            let rows = &s.rows[ci];
            let mut out = Vec::new();
            super::write_rows(&mut out, conn, rows, &(0..rows.len()).collect::<Vec<_>>()).unwrap();
            let saved: Vec<serde_json::Value> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let context = saved.iter().filter(|v| {
                ["connection", "handshake", "end"].contains(&v["type"].as_str().unwrap())
            });
            assert_eq!(saved.len(), rows.len() + context.count(), "{capture}: a line per row");
            assert_eq!(saved[0]["type"], "connection", "{capture}");
            assert_eq!(saved[saved.len() - 1]["type"], "end", "{capture}");
            let theirs: Vec<&serde_json::Value> =
                exported.iter().filter(|v| v["connection"] == conn.id.0).collect();
            assert_eq!(saved.len(), theirs.len(), "{capture} #{}", conn.id.0);
            for (mine, theirs) in saved.iter().zip(theirs) {
                if let Err(e) = schema.validate(mine) {
                    panic!("{capture}: {mine} does not follow the schema: {e}");
                }
                assert_eq!(mine, theirs, "{capture}");
                compared += 1;
            }
        }
    }
    assert!(compared > 60, "{compared}");

    // Beyond the view's payload budget: the payload is written empty and truncated.
    let mut s = AppState::new(0);
    for e in events("testdata/captures/real/py-basic.pcap") {
        s.apply(&e);
    }
    let mut out = Vec::new();
    super::write_rows(&mut out, &s.conns[0], &s.rows[0], &[1]).unwrap();
    let line = String::from_utf8(out).unwrap().lines().nth(2).unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(schema.validate(&v).is_ok(), "{v}");
    assert_eq!(v["type"], "message");
    assert_eq!(v["payload"], serde_json::json!({ "text": "" }), "{v}");
    assert_eq!(v["truncated"], true, "{v}");
    assert!(v["captured_length"].as_u64().unwrap() > 0, "{v}");
}

/// The views not covered above, at both sizes: each payload view of a JSON message (pretty,
/// raw, hex, base64), the remaining time modes, the help overlay and the lists alone.
#[test]
fn snapshot_payload_views_time_modes_and_help_80x24_and_160x48() {
    use crate::ui::state::Focus;
    let sent = r#"{"id": 12345678901234567890123, "amount": 1.10, "dup": 1, "dup": 2, "nested": {"list": [1, 2.50, "x"], "empty": {}}}"#;
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut s = state("testdata/captures/real/py-basic.pcap");
        let mut at = s.rows[0].last().unwrap().at;
        at.ts = at.ts.saturating_add(std::time::Duration::from_millis(2));
        at.packet += 1;
        s.apply(&text_message(sent, at));
        s.focus = Focus::Messages;
        s.handle(Action::End);
        s.handle(Action::Enter);
        for view in ["pretty", "raw", "hex", "base64"] {
            insta::assert_snapshot!(format!("payload_{view}_{w}x{h}"), screen(&mut s, w, h));
            s.handle(Action::CyclePayloadView);
        }

        let mut s = state("testdata/captures/real/py-basic.pcap");
        s.handle(Action::Enter);
        insta::assert_snapshot!(format!("time_connection_{w}x{h}"), screen(&mut s, w, h));
        s.handle(Action::ToggleTime);
        insta::assert_snapshot!(format!("time_capture_{w}x{h}"), screen(&mut s, w, h));
        for _ in 0..3 {
            s.handle(Action::ToggleTime);
        }
        insta::assert_snapshot!(format!("time_local_{w}x{h}"), screen(&mut s, w, h));

        let mut s = state("testdata/captures/real/py-close-codes.pcap");
        s.handle(Action::Down);
        insta::assert_snapshot!(format!("lists_{w}x{h}"), screen(&mut s, w, h));
        s.handle(Action::ToggleHelp);
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&mut s, w, h));
    }
}

/// Ctrl-U clears a prompt and Ctrl-W deletes a word (a path component in a file name), as in a
/// shell; the pre-filled save name can be replaced without 25 backspaces.
#[test]
fn prompts_edit_like_a_shell_line() {
    use crate::ui::state::{Prompt, SaveWhat};
    let mut s = state("testdata/captures/real/py-basic.pcap");
    s.prompt = Prompt::Save(SaveWhat::Connection, "out/wsscope-conn1-all.ndjson".into());
    s.handle(Action::PromptDeleteWord);
    assert!(matches!(&s.prompt, Prompt::Save(_, t) if t == "out/"), "{:?}", s.prompt);
    s.handle(Action::PromptClear);
    assert!(matches!(&s.prompt, Prompt::Save(_, t) if t.is_empty()));
    s.prompt = Prompt::Search("hello big world  ".into());
    s.handle(Action::PromptDeleteWord);
    assert!(matches!(&s.prompt, Prompt::Search(t) if t == "hello big "), "{:?}", s.prompt);
    s.handle(Action::PromptDeleteWord);
    s.handle(Action::PromptDeleteWord);
    assert!(matches!(&s.prompt, Prompt::Search(t) if t.is_empty()), "{:?}", s.prompt);
}
