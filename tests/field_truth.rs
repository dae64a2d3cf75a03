//! The field captures (`testdata/captures/field/`, recorded by `testdata/scripts/record/field.py`:
//! cooked `-i any` captures, VXLAN, userspace GRE, merged directions at skewed clocks, a userspace
//! impairment path, tcpdump started mid-frame) and their truth files agree with themselves and with
//! the capture files' headers. The analyzer is not run here: which tests should read these
//! captures, and what they must find, is in that folder's README. `verify_field.py` compares the
//! truth with tshark's view of the packets.
//!
//! Checked per truth file: it has the fields `tests/messages.rs` and `tests/real.rs` read; every
//! expected finding is a check wsscope has; the file's link type is `capture.link_type`; per
//! direction, the `frames` list adds up to the `messages` (count, type, length, fragments); a
//! capture that starts late says where, consistently (`captured`, `cut_message`).

use crate::util::{files_ending, testdata};
use serde::Deserialize;
use std::path::Path;
use wsscope::analyzer::checks::CheckId;

#[derive(Debug, Deserialize)]
struct Truth {
    scenario: String,
    pcap: String,
    server_port: u16,
    capture: Capture,
    connections: Vec<Conn>,
}

#[derive(Debug, Deserialize)]
struct Capture {
    link_type: String,
}

#[derive(Debug, Deserialize)]
struct Conn {
    client: String,
    server: String,
    handshake: Handshake,
    expected_findings: Option<Vec<CheckId>>,
    client_to_server: Dir,
    server_to_client: Dir,
    messages: Vec<Message>,
    frames: Frames,
}

#[derive(Debug, Deserialize)]
struct Handshake {
    seen: bool,
    outcome: String,
    accept_valid: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Dir {
    tcp_bytes: u64,
    tcp_sha256: String,
    captured: Option<Captured>,
}

#[derive(Debug, Deserialize)]
struct Captured {
    from_offset: u64,
    tcp_bytes: u64,
    tcp_sha256: String,
    messages_before: Vec<Message>,
    cut_message: Option<CutMessage>,
}

#[derive(Debug, Deserialize)]
struct CutMessage {
    frame_offset: u64,
    frame_bytes: u64,
    bytes_before_capture: u64,
    bytes_in_capture: u64,
    length: u64,
}

#[derive(Debug, Deserialize)]
struct Message {
    direction: String,
    #[serde(rename = "type")]
    kind: String,
    length: u64,
    sha256: String,
    fragments: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Frames {
    client_to_server: Vec<(u8, bool, bool, u64)>,
    server_to_client: Vec<(u8, bool, bool, u64)>,
}

/// The link type in a classic pcap header, or in a pcapng file's first interface description.
fn link_type(path: &Path) -> u32 {
    let b = std::fs::read(path).unwrap();
    let u32_at = |i: usize, le: bool| {
        let w: [u8; 4] = b[i..i + 4].try_into().unwrap();
        if le { u32::from_le_bytes(w) } else { u32::from_be_bytes(w) }
    };
    match &b[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => u32_at(20, true),
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => u32_at(20, false),
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let le = b[8..12] == [0x4d, 0x3c, 0x2b, 0x1a];
            let idb = u32_at(4, le) as usize; // the section header's length; the IDB follows it
            assert_eq!(u32_at(idb, le), 1, "{}: no interface description block", path.display());
            u32_at(idb + 8, le) & 0xffff
        }
        m => panic!("{}: not a pcap or pcapng file ({m:02x?})", path.display()),
    }
}

fn opcode(kind: &str) -> u8 {
    match kind {
        "text" => 1,
        "binary" => 2,
        "close" => 8,
        "ping" => 9,
        "pong" => 10,
        k => panic!("unknown message type {k}"),
    }
}

/// Walks a direction's frames as a decoder would and returns the messages they make:
/// (opcode, length, fragments), in completion order.
fn messages_of(frames: &[(u8, bool, bool, u64)]) -> Vec<(u8, u64, u32)> {
    let mut out = Vec::new();
    let mut open: Option<(u8, u64, u32)> = None;
    for &(op, fin, _rsv1, len) in frames {
        match op {
            1 | 2 if fin => out.push((op, len, 1)),
            1 | 2 => open = Some((op, len, 1)),
            0 => {
                let m = open.as_mut().expect("continuation without a message");
                m.1 += len;
                m.2 += 1;
                if fin {
                    out.push(open.take().unwrap());
                }
            }
            _ => out.push((op, len, 1)),
        }
    }
    out
}

#[test]
fn field_truth_files_are_consistent_with_themselves_and_their_captures() {
    let truths = files_ending(&testdata("captures/field"), ".truth.json");
    assert!(truths.len() >= 9, "field captures missing: found {}", truths.len());
    for path in truths {
        let dir = path.parent().unwrap();
        let t: Truth = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = &t.scenario;
        let want_link = match t.capture.link_type.as_str() {
            "EN10MB" => 1,
            "RAW" => 101,
            "LINUX_SLL" => 113,
            "LINUX_SLL2" => 276,
            l => panic!("{name}: unknown link type {l}"),
        };
        assert_eq!(link_type(&dir.join(&t.pcap)), want_link, "{name}: link type");
        assert!(!t.connections.is_empty(), "{name}: no connections");
        for c in &t.connections {
            let label = format!("{name} [{}]", c.client);
            assert!(c.server.ends_with(&format!(":{}", t.server_port)), "{label}: server port");
            assert_eq!(c.handshake.outcome, "upgraded", "{label}");
            assert_eq!(c.handshake.accept_valid, c.handshake.seen.then_some(true), "{label}");
            let late = !c.handshake.seen;
            let findings = c.expected_findings.as_deref().unwrap_or_default();
            assert_eq!(
                findings.contains(&CheckId::HandshakeNotSeen),
                late,
                "{label}: handshake_not_seen is expected exactly when the handshake is not captured"
            );
            for (d, w, frames) in [
                ("client_to_server", &c.client_to_server, &c.frames.client_to_server),
                ("server_to_client", &c.server_to_client, &c.frames.server_to_client),
            ] {
                assert_eq!(w.tcp_sha256.len(), 64, "{label} {d}");
                let msgs: Vec<&Message> = c.messages.iter().filter(|m| m.direction == d).collect();
                for m in &msgs {
                    assert_eq!(m.sha256.len(), 64, "{label} {d}");
                }
                let want: Vec<(u8, u64, u32)> = msgs
                    .iter()
                    .map(|m| (opcode(&m.kind), m.length, m.fragments.unwrap_or(1)))
                    .collect();
                assert_eq!(messages_of(frames), want, "{label} {d}: frames and messages differ");
                assert_eq!(msgs.last().map(|m| m.kind.as_str()), Some("close"), "{label} {d}");
                match &w.captured {
                    None => assert!(!late, "{label} {d}: a late capture must say what it holds"),
                    Some(cap) => {
                        assert!(late, "{label} {d}: `captured` with the handshake captured");
                        assert_eq!(cap.from_offset + cap.tcp_bytes, w.tcp_bytes, "{label} {d}");
                        assert_eq!(cap.tcp_sha256.len(), 64, "{label} {d}");
                        assert!(cap.messages_before.iter().all(|m| m.direction == d), "{label}");
                        if let Some(cut) = &cap.cut_message {
                            assert_eq!(
                                cut.bytes_before_capture + cut.bytes_in_capture,
                                cut.frame_bytes,
                                "{label} {d}: cut frame"
                            );
                            assert_eq!(
                                cut.frame_offset + cut.bytes_before_capture,
                                cap.from_offset,
                                "{label} {d}: the capture starts inside the cut frame"
                            );
                            assert!(cut.frame_bytes > cut.length, "{label} {d}: frame header");
                            assert!(
                                findings.contains(&CheckId::FrameSyncLost),
                                "{label} {d}: skipping the cut frame's tail must be reported"
                            );
                        }
                    }
                }
            }
        }
    }
}
