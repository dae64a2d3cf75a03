//! Hostile and unusual input (issue 13): what reaches a terminal is escaped, outputs never
//! write over inputs or through links, signals end a run with everything flushed.

use crate::util::{testdata, write_session_pcap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wsscope::tcp::Direction;
use wsscope::ws::encode::frame;

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ── Terminal safety ─────────────────────────────────────────────────────────────────────────

/// OSC 0 (set the window title) ended by BEL, CSI 2J (clear the screen), a right-to-left override.
const HOSTILE_NAME: &str = "x\x1b]0;PWNED\x07\x1b[2J\u{202e}lmth.pcap";
const HOSTILE_SHOWN: &str = "x\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{202e}lmth.pcap";

/// Fails when `out` holds a byte or character a terminal would act on or hide.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    let s = text(out);
    let bad: Vec<String> = s
        .chars()
        .filter(|&c| c != '\n' && wsscope::term::needs_escape(c))
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(bad.is_empty(), "{what} holds {bad:?}:\n{s}");
}

fn hostile_copy(dir: &Path, capture: &str) -> PathBuf {
    let p = dir.join(HOSTILE_NAME);
    std::fs::copy(testdata(capture), &p).unwrap();
    p
}

#[test]
fn a_file_name_holding_terminal_sequences_is_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let p = hostile_copy(dir.path(), "captures/real/py-basic.pcap");
    let p = p.to_str().unwrap();
    for args in [vec!["--text", p], vec!["export", "--format", "text", p], vec!["streams", p]] {
        let o = wsscope(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert_terminal_safe(&format!("{args:?} stdout"), &o.stdout);
        assert_terminal_safe(&format!("{args:?} stderr"), &o.stderr);
        assert!(text(&o.stdout).contains(HOSTILE_SHOWN), "{args:?}: {}", text(&o.stdout));
    }
    // JSON keeps the exact name.
    let o = wsscope(&["streams", "--format", "json", p]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["input"], p);
}

#[test]
fn errors_and_notices_quoting_a_hostile_name_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // A notice: a capture without WebSocket says why, naming the file.
    let p = hostile_copy(dir.path(), "captures/cases/not_ws_443.pcap");
    let o = wsscope(&["report", p.to_str().unwrap()]);
    assert!(text(&o.stderr).contains("no WebSocket connection"), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(HOSTILE_SHOWN), "{}", text(&o.stderr));
    assert_terminal_safe("notice", &o.stderr);
    // Errors: a missing file, a file that is not a capture, a bad filter, an unknown interface.
    let missing = dir.path().join(format!("missing-{HOSTILE_NAME}"));
    let not_capture = dir.path().join(format!("text-{HOSTILE_NAME}"));
    std::fs::write(&not_capture, "hello, this is text\n").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["streams", missing.to_str().unwrap()],
        vec!["streams", not_capture.to_str().unwrap()],
        vec!["streams", p.to_str().unwrap(), "-f", "tcp port \x1b[2J\u{2066}"],
        vec!["streams", "-i", "lo\x1b]0;x\x07\u{200b}"],
        vec!["report", p.to_str().unwrap(), "--bogus\u{202e}"],
    ];
    for args in cases {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
        assert_terminal_safe(&format!("{args:?}"), &o.stderr);
    }
}

#[test]
fn hostile_paths_headers_payloads_and_close_reasons_are_escaped_in_the_text_view() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("hostile.pcap");
    let request = "GET /inbox\u{202e}fdp.exe?\u{200b}x=1 HTTP/1.1\r\nHost: ex\u{2066}ample.com\r\n\
                   Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \
                   dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://e\u{feff}\
                   \r\nSec-WebSocket-Protocol: chat\u{2028}v2\r\n\r\n";
    let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                    Sec-WebSocket-Protocol: chat\u{2028}v2\r\n\r\n";
    let mask = Some([1, 2, 3, 4]);
    let payload = "hi \x1b]0;owned\x07\x1b[2J \u{202e}dlrow\u{202c} a\u{200d}b\u{ad}c \u{9b}31m";
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice("bye\u{2067}\x1b[5m".as_bytes());
    write_session_pcap(
        &pcap,
        &[
            (Direction::ClientToServer, request.as_bytes().to_vec()),
            (Direction::ServerToClient, response.as_bytes().to_vec()),
            (Direction::ClientToServer, frame(true, 0, 1, mask, payload.as_bytes())),
            (Direction::ServerToClient, frame(true, 0, 1, None, payload.as_bytes())),
            (Direction::ClientToServer, frame(true, 0, 8, mask, &close)),
            (Direction::ServerToClient, frame(true, 0, 8, None, &close)),
        ],
    );
    for verbose in [false, true] {
        let mut args = vec!["--text", pcap.to_str().unwrap()];
        if verbose {
            args.push("-v");
        }
        let o = wsscope(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_terminal_safe("text view", &o.stdout);
        let out = text(&o.stdout);
        for shown in [
            "/inbox\\u{202e}fdp.exe?\\u{200b}x=1",
            "host=ex\\u{2066}ample.com",
            "protocol=chat\\u{2028}v2",
            "hi \\u{1b}]0;owned\\u{7}\\u{1b}[2J \\u{202e}dlrow\\u{202c} a\\u{200d}b\\u{ad}c \\u{9b}31m",
            "(normal closure) \"bye\\u{2067}\\u{1b}[5m\"",
        ] {
            assert!(out.contains(shown), "missing {shown:?} in:\n{out}");
        }
    }
    // NDJSON keeps exact strings.
    let o = wsscope(&["export", pcap.to_str().unwrap()]);
    let messages: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "message" && v["opcode"] == "text")
        .collect();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["payload"]["text"], payload);
}
