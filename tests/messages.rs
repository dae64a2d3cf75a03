//! Real sessions: every message wsscope reports equals what the endpoints logged sending
//! (`testdata/captures/real/*.truth.json`): type, length, SHA-256 and order per direction, close
//! codes and reasons, compression — and the handshake facts and findings are as expected.
//! The edited copies in `testdata/captures/derived/` are checked the same way.
//!
//! Optional truth fields: per connection `handshake` (`seen`, `outcome`, `accept_valid`; default a
//! captured, valid upgrade) and `expected_findings` (the exact multiset of finding codes; default
//! none), `request_origin_missing` being tolerated everywhere; per message `lost` (the capture cut
//! it: it must be reported truncated and its SHA-256 is not compared).

use crate::util::{files_ending, testdata};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wsscope::analyzer::{Analyzer, AnalyzerConfig, Collect};
use wsscope::capture::FileSource;
use wsscope::event::{Event, HandshakeOutcome, Payload};
use wsscope::limits::TcpLimits;
use wsscope::pipeline::{self, Stop};

#[derive(Debug, Deserialize)]
struct Truth {
    scenario: String,
    pcap: String,
    connections: Vec<TruthConn>,
}

#[derive(Debug, Deserialize)]
struct TruthConn {
    client: String,
    server: String,
    messages: Vec<TruthMessage>,
    handshake: Option<TruthHandshake>,
    expected_findings: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct TruthHandshake {
    seen: bool,
    outcome: String,
    accept_valid: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct TruthMessage {
    direction: String,
    #[serde(rename = "type")]
    kind: String,
    length: u64,
    sha256: String,
    compressed: Option<bool>,
    close_code: Option<u16>,
    close_reason: Option<String>,
    #[serde(default)]
    lost: bool,
}

/// Runs a capture through the whole pipeline and returns every event.
pub fn analyze(path: &std::path::Path) -> Vec<Event> {
    let mut source = FileSource::open(path, None).unwrap();
    let mut analyzer = Analyzer::new(
        AnalyzerConfig { max_message: 16 << 20, ..Default::default() },
        Collect::default(),
    );
    pipeline::drive(&mut source, &TcpLimits::default(), &Stop::default(), &mut analyzer);
    analyzer.into_sink().0
}

fn outcome_name(o: HandshakeOutcome) -> String {
    serde_json::to_value(o).unwrap().as_str().unwrap().to_string()
}

fn payload_bytes(p: &Payload) -> Option<Vec<u8>> {
    match p {
        Payload::Text(t) => Some(t.as_bytes().to_vec()),
        Payload::Bytes(b) => Some(b.clone()),
        Payload::Unavailable => None,
    }
}

#[test]
fn real_sessions_decode_to_exactly_the_messages_the_endpoints_sent() {
    let mut problems = Vec::new();
    let mut checked = 0;
    let truths = files_ending(&testdata("captures/real"), ".truth.json")
        .into_iter()
        .chain(files_ending(&testdata("captures/derived"), ".truth.json"));
    for path in truths {
        let dir = path.parent().unwrap();
        let truth: Truth = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let events = analyze(&dir.join(&truth.pcap));
        for tc in &truth.connections {
            let Some(conn) = events.iter().find_map(|e| match e {
                Event::Connection { connection, client, server, .. }
                    if client.to_string() == tc.client && server.to_string() == tc.server =>
                {
                    Some(*connection)
                }
                _ => None,
            }) else {
                problems.push(format!(
                    "{}: connection {} → {} not reported",
                    truth.scenario, tc.client, tc.server
                ));
                continue;
            };
            let label = if truth.connections.len() > 1 {
                format!("{} [{}]", truth.scenario, tc.client)
            } else {
                truth.scenario.clone()
            };
            let (seen, outcome, accept_valid) = match &tc.handshake {
                Some(h) => (h.seen, h.outcome.as_str(), h.accept_valid),
                None => (true, "upgraded", Some(true)),
            };
            let handshakes: Vec<(bool, String, Option<bool>)> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Handshake { connection, seen, outcome, accept_valid, .. }
                        if *connection == conn =>
                    {
                        Some((*seen, outcome_name(*outcome), *accept_valid))
                    }
                    _ => None,
                })
                .collect();
            if handshakes != [(seen, outcome.to_string(), accept_valid)] {
                problems.push(format!(
                    "{}: handshake {handshakes:?}, expected [({seen}, {outcome:?}, {accept_valid:?})]",
                    label
                ));
            }
            for d in ["client_to_server", "server_to_client"] {
                let want: Vec<&TruthMessage> =
                    tc.messages.iter().filter(|m| m.direction == d).collect();
                let got: Vec<&Event> = events
                    .iter()
                    .filter(|e| matches!(e, Event::Message { connection, direction, .. } if *connection == conn && direction.as_str() == d))
                    .collect();
                if got.len() != want.len() {
                    problems.push(format!(
                        "{} {d}: {} messages, endpoints sent {}",
                        label,
                        got.len(),
                        want.len()
                    ));
                }
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    let Event::Message {
                        opcode,
                        length,
                        compressed,
                        payload,
                        close,
                        truncated,
                        ..
                    } = g
                    else {
                        continue;
                    };
                    let bytes = payload_bytes(payload).unwrap_or_default();
                    let sha = hex::encode(Sha256::digest(&bytes));
                    let mut diffs = Vec::new();
                    if opcode.name() != w.kind {
                        diffs.push(format!("type {} ≠ {}", opcode.name(), w.kind));
                    }
                    if *length != w.length {
                        diffs.push(format!("length {length} ≠ {}", w.length));
                    }
                    if w.lost {
                        if !*truncated {
                            diffs.push(format!(
                                "lost in the capture but not reported truncated ({payload:?})"
                            ));
                        }
                    } else if sha != w.sha256 || *truncated {
                        diffs.push(format!(
                            "sha256/payload differs (truncated={truncated}, {payload:?})"
                        ));
                    }
                    if let Some(c) = w.compressed
                        && c != *compressed
                        && w.kind != "close"
                        && w.kind != "ping"
                        && w.kind != "pong"
                    {
                        diffs.push(format!("compressed {compressed} ≠ {c}"));
                    }
                    if w.close_code.is_some() {
                        let got_code = close.as_ref().and_then(|c| c.code).map(|c| c.0);
                        let got_reason = close.as_ref().map(|c| c.reason.clone());
                        if got_code != w.close_code || got_reason != w.close_reason {
                            diffs.push(format!(
                                "close {got_code:?} {got_reason:?} ≠ {:?} {:?}",
                                w.close_code, w.close_reason
                            ));
                        }
                    }
                    if !diffs.is_empty() {
                        problems.push(format!("{} {d} message #{i}: {}", label, diffs.join("; ")));
                    }
                    checked += 1;
                }
            }
            let findings: Vec<(String, String)> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Finding { connection, code, message, .. }
                        if *connection == conn && code.to_string() != "request_origin_missing" =>
                    {
                        Some((code.to_string(), message.clone()))
                    }
                    _ => None,
                })
                .collect();
            // Clean sessions between correct implementations: nothing but informational notes,
            // unless the scenario causes findings on purpose.
            let mut got_codes: Vec<&str> = findings.iter().map(|(c, _)| c.as_str()).collect();
            let mut want_codes: Vec<&str> = tc
                .expected_findings
                .iter()
                .flatten()
                .map(String::as_str)
                .filter(|c| *c != "request_origin_missing")
                .collect();
            got_codes.sort_unstable();
            want_codes.sort_unstable();
            if got_codes != want_codes {
                let all: Vec<String> = findings.iter().map(|(c, m)| format!("{c}: {m}")).collect();
                problems.push(format!(
                    "{}: findings {got_codes:?}, expected {want_codes:?} ({})",
                    label,
                    all.join(" | ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    assert!(checked >= 30, "only {checked} messages checked");
}

#[test]
#[ignore]
fn dump_events() {
    let p = std::env::var("DUMP").unwrap();
    for e in analyze(std::path::Path::new(&p)) {
        println!("{}", serde_json::to_string(&e).unwrap());
    }
}
