//! Regressions, named after the issue that found them, run through the binary as a user would.
//!
//! Issue 12 — "Right on captures made anywhere": captures made by other tools (SPAN/TAP merges,
//! late starts, lost packets, binary protocols that are not WebSocket) on the generated cases of
//! `testdata/captures/cases/` (their message-level truth is checked in `messages.rs`).

use crate::util::testdata;
use serde_json::Value;
use std::process::{Command, Output};

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).args(args).output().unwrap()
}

fn case(name: &str) -> String {
    testdata(&format!("captures/cases/{name}.pcap")).to_string_lossy().into_owned()
}

fn report(args: &[&str]) -> (Value, Option<i32>) {
    let mut a = vec!["report"];
    a.extend_from_slice(args);
    let o = wsscope(&a);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (v, o.status.code())
}

fn ndjson(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["export"];
    a.extend_from_slice(args);
    let o = wsscope(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn issue_12_capture_problems_do_not_fail_a_build_as_protocol_errors() {
    let files: Vec<String> = [
        "span_merge",
        "ack_overtakes",
        "lost_frame",
        "lost_payload",
        "late_start",
        "midstream_pingpong",
    ]
    .iter()
    .map(|c| case(c))
    .collect();
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--fail-on", "error"]);
    let (r, code) = report(&args);
    assert_eq!(code, Some(0), "{}", r["summary"]);
    assert_eq!(r["summary"]["findings"]["error"], 0, "{}", r["summary"]);
    assert_eq!(r["summary"]["websocket_connections"], 6);
}

#[test]
fn issue_12_binary_protocols_are_not_taken_for_websocket() {
    for c in ["not_ws_bitcoin", "not_ws_443"] {
        let (r, code) = report(&[&case(c), "--fail-on", "info"]);
        assert_eq!(code, Some(0), "{c}: {}", r["summary"]);
        assert_eq!(r["summary"]["websocket_connections"], 0, "{c}");
        assert_eq!(r["summary"]["tcp_connections"], 1, "{c}");
    }
}

#[test]
fn issue_12_a_named_port_decodes_a_direction_holding_a_single_frame() {
    let events = ndjson(&[&case("ws_port_single"), "--ws-port", "9000"]);
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "message")
        .filter_map(|e| e["payload"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["{\"subscribe\":\"ticker\"}", "{\"ok\":true}"]);
    let without = ndjson(&[&case("ws_port_single")]);
    assert!(without.iter().all(|e| e["type"] != "message"), "one frame each way is no evidence");
}

#[test]
fn issue_12_an_incomplete_message_never_shows_an_exact_length() {
    let events = ndjson(&[&case("lost_frame")]);
    let cut: Vec<&Value> =
        events.iter().filter(|e| e["type"] == "message" && e["complete"] == false).collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert_eq!(cut[0]["length"], Value::Null);
    assert_eq!(cut[0]["missing"], Value::Null);
    assert_eq!(cut[0]["captured_length"], 14);
    assert_eq!(cut[0]["truncated"], false, "cut by the capture, not by a size limit");

    let events = ndjson(&[&case("lost_payload")]);
    let hole = events.iter().find(|e| e["type"] == "message" && e["complete"] == false).unwrap();
    assert_eq!(
        (&hole["length"], &hole["captured_length"], &hole["missing"]),
        (&5000.into(), &3600.into(), &1400.into())
    );

    let (r, _) = report(&[&case("lost_payload")]);
    assert_eq!(r["summary"]["incomplete_messages"], 1);
    let s2c = &r["connections"][0]["messages"]["server_to_client"];
    assert_eq!((&s2c["incomplete"], &s2c["incomplete_bytes"]), (&1.into(), &3600.into()));
}

/// The time column of the text view, for the lines that have one.
fn times(text: &str) -> Vec<f64> {
    text.lines().filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok()).collect()
}

#[test]
fn issue_12_text_times_never_go_backwards() {
    let mut files = crate::util::files_ending(&testdata("captures/cases"), ".pcap");
    files.extend(crate::util::files_ending(&testdata("captures/real"), ".pcap"));
    files.extend(crate::util::files_ending(&testdata("captures/derived"), ".pcap"));
    assert!(files.len() > 20);
    for f in files {
        let o = wsscope(&["--text", f.to_str().unwrap()]);
        let t = times(&String::from_utf8_lossy(&o.stdout));
        assert!(t.iter().all(|x| *x >= 0.0), "{}: negative time {t:?}", f.display());
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "{}: times go backwards {t:?}", f.display());
    }
}

#[test]
fn issue_12_the_text_view_shows_the_request_method() {
    let o = wsscope(&["--text", &case("invalid_upgrade")]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("POST /socket host=10.0.0.2:8080 → 101"), "{text}");
    assert!(text.contains("upgrade_not_followed"), "{text}");
    let events = ndjson(&[&case("invalid_upgrade")]);
    let decoded: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["type"] == "message"
                || e["type"] == "frame"
                || e["rfc"].as_str().is_some_and(|r| r.contains("§5"))
        })
        .collect();
    assert!(decoded.is_empty(), "the HTTP after the 101 was decoded as frames: {decoded:?}");
}

#[test]
fn issue_12_an_idle_connection_ends_with_its_last_packet() {
    // Quiet connections are kept by default (issue 13); an idle timeout still ends them.
    let (r, _) = report(&[&case("idle_end"), "--idle-timeout", "10m"]);
    let first = &r["connections"][0];
    assert_eq!(first["close"]["tcp"], "idle");
    let d = first["duration"].as_f64().unwrap();
    assert!(d < 1.0, "duration {d} s: the end is the time of an unrelated later packet");
    let (r, _) = report(&[&case("idle_end")]);
    assert_eq!(r["connections"][0]["close"]["tcp"], "end_of_capture", "kept by default");
}

#[test]
fn issue_12_a_run_without_websocket_says_why_and_ci_can_require_connections() {
    let (r, code) = report(&[&case("not_ws_443"), "--require-connections", "1"]);
    assert_eq!(code, Some(1));
    assert_eq!(r["exit"]["status"], 1);
    let reasons = r["exit"]["reasons"].to_string();
    assert!(
        reasons.contains(
            "0 upgraded WebSocket connections found (summary.upgraded), --require-connections 1"
        ),
        "{reasons}"
    );
    let why = r["summary"]["no_websocket"].to_string();
    assert!(why.contains("1 TCP connection carries neither HTTP nor WebSocket frames"), "{why}");

    let o = wsscope(&["report", &case("not_ws_443")]);
    assert_eq!(o.status.code(), Some(0), "without --require-connections an empty run passes");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no WebSocket connection") && err.contains("showed none"), "{err}");

    // A refused upgrade, or one the peers did not follow, is not a WebSocket connection.
    let refused = testdata("captures/real/refused-403.pcap").to_string_lossy().into_owned();
    for f in [refused.as_str(), &case("invalid_upgrade")] {
        let (r, code) = report(&[f, "--require-connections", "1"]);
        assert_eq!(code, Some(1), "{f}: {}", r["exit"]);
        let reasons = r["exit"]["reasons"].to_string();
        assert!(reasons.contains("refused, unanswered or not followed"), "{reasons}");
    }
    let (r, _) = report(&[&case("invalid_upgrade")]);
    assert_eq!(r["connections"][0]["handshake"]["outcome"], "not_followed");
    assert_eq!((&r["summary"]["upgraded"], &r["summary"]["not_followed"]), (&0.into(), &1.into()));

    let (r, code) = report(&[&case("span_merge"), "--require-connections", "1"]);
    assert_eq!((code, &r["exit"]["reasons"]), (Some(0), &Value::Array(vec![])));
    assert!(r["summary"]["no_websocket"].as_array().unwrap().is_empty());
}

// Issue 13 — "Hostile and unusual input".

/// Overlapping IPv4 fragments with different bytes were joined last-copy-wins, silently: the
/// forged bytes were shown as the message and the sender's real retransmission reported as a
/// conflict. Now the datagram is dropped as Linux drops it, and the run says so.
#[test]
fn issue_13_overlapping_fragments_are_dropped_as_linux_drops_them_and_said() {
    let f = testdata("captures/crafted/ipv4_frag_overlap.pcap").to_string_lossy().into_owned();
    let o = wsscope(&[&f, "--text"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("\"third message: a forged fragment overlaps two of its fragments\""),
        "{out}"
    );
    assert!(
        out.contains("\"second message: its middle IPv4 fragment arrives three times\""),
        "{out}"
    );
    assert!(!out.contains("retransmission_conflict"), "{out}");
    assert!(out.contains("1 IPv4 fragment overlapping another (its datagram dropped"), "{out}");
    assert!(err.contains("warning: 1 IPv4 datagram was dropped"), "{err}");
    let (r, code) = report(&[&f]);
    assert_eq!(code, Some(0));
    let u = &r["inputs"][0]["packets"]["undecoded"];
    assert_eq!((&u["fragment_overlap"], &u["fragment_duplicate_differs"]), (&1.into(), &1.into()));
    assert_eq!(r["inputs"][0]["packets"]["dropped_datagrams"], 1);
}

/// A copy of `src` (classic pcap) as if captured with snapshot length `snaplen`.
fn cut_to_snaplen(src: &std::path::Path, dst: &std::path::Path, snaplen: u32) {
    let b = std::fs::read(src).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian classic pcap");
    let mut out = b[..24].to_vec();
    out[16..20].copy_from_slice(&snaplen.to_le_bytes());
    let mut at = 24;
    while at + 16 <= b.len() {
        let caplen = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap());
        let keep = caplen.min(snaplen);
        out.extend(&b[at..at + 8]);
        out.extend(keep.to_le_bytes());
        out.extend(&b[at + 12..at + 16]);
        out.extend(&b[at + 16..at + 16 + keep as usize]);
        at += 16 + caplen as usize;
    }
    std::fs::write(dst, out).unwrap();
}

/// Snaplen-cut segments hid a session without a word: with the handshake cut, `py-basic` cut
/// to 96 bytes showed 0 WebSocket connections. Each cut is now a finding, and the frames after
/// it are decoded.
#[test]
fn issue_13_snaplen_cuts_are_findings_and_the_frames_after_them_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let src = testdata("captures/real/py-basic.pcap");
    let cut = dir.path().join("py96.pcap");
    cut_to_snaplen(&src, &cut, 96);
    let f = cut.to_string_lossy().into_owned();
    let (r, code) = report(&[&f]);
    assert_eq!(code, Some(0));
    let s = &r["summary"];
    assert_eq!(s["websocket_connections"], 1, "{s}");
    assert_eq!(s["findings_by_code"]["snaplen_cut"], 6, "{s}");
    assert_eq!(s["incomplete_messages"], 4, "{s}");
    assert_eq!(r["inputs"][0]["packets"]["snaplen"], 96);
    let o = wsscope(&[&f, "--text"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\"echo: héllo wörld ✓ 🚀\""), "{out}");
    assert!(out.contains("snaplen_cut: 132 bytes at stream offset 30"), "{out}");
    // The handshake is not called absent when the snapshot length cut it (helper-50).
    assert!(out.contains("handshake_not_seen: bytes before the frames found were cut by the capture's snapshot length"), "{out}");
    assert!(
        out.contains("(snaplen 96): their bytes are missing; capture again with -s 0"),
        "{out}"
    );

    // Cut inside the TCP headers: nothing to decode, and the reason names the snaplen.
    let cut = dir.path().join("py68.pcap");
    cut_to_snaplen(&src, &cut, 68);
    let (r, _) = report(&[&cut.to_string_lossy()]);
    let why = r["summary"]["no_websocket"].to_string();
    assert!(why.contains("cut by the capture's snapshot length (snaplen 68)"), "{why}");
}
