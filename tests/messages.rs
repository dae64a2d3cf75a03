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
use wsscope::analyzer::checks::Severity;
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
    /// Options to analyse the capture with (`testdata/captures/cases`).
    #[serde(default)]
    analysis: Analysis,
    /// The exact number of WebSocket connections a correct analyzer reports.
    websocket_connections: Option<usize>,
    /// Whether findings of severity error are expected (when false, none may be reported).
    errors_expected: Option<bool>,
    /// The TLS key log beside the capture (`testdata/captures/tls`).
    keylog: Option<String>,
    /// The capture (pcapng) holds its TLS secrets itself.
    #[serde(default)]
    keylog_embedded: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Analysis {
    #[serde(default)]
    ws_ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
struct TruthConn {
    client: String,
    server: String,
    messages: Vec<TruthMessage>,
    handshake: Option<TruthHandshake>,
    expected_findings: Option<Vec<String>>,
    /// Which side sent the first close frame (`client_to_server` or `server_to_client`).
    closed_first_by: Option<String>,
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
    /// The capture lost bytes of it: it must be reported incomplete.
    #[serde(default)]
    lost: bool,
    /// For a lost message: the payload bytes missing, when a decoder can know them.
    missing: Option<u64>,
    /// The packets of its first and last frame headers, and of its last byte.
    first_packet: Option<u64>,
    last_packet: Option<u64>,
    complete_packet: Option<u64>,
    /// A pong answering a ping captured before it: it must carry a round-trip time.
    #[serde(default)]
    answers_ping: bool,
}

/// Runs a capture through the whole pipeline and returns every event.
pub fn analyze(path: &std::path::Path) -> Vec<Event> {
    analyze_with(path, &[])
}

fn analyze_with(path: &std::path::Path, ws_ports: &[u16]) -> Vec<Event> {
    analyze_keyed(path, ws_ports, None)
}

/// Like [`analyze`], with a TLS key log (and the capture's own secrets, for pcapng).
pub fn analyze_keyed(
    path: &std::path::Path,
    ws_ports: &[u16],
    keylog: Option<&std::path::Path>,
) -> Vec<Event> {
    use wsscope::capture::PacketSource;
    let mut source = FileSource::open(path, None).unwrap();
    let keys = std::sync::Arc::new(wsscope::tls::KeyStore::new());
    if let Some(k) = keylog {
        wsscope::keyfile::load(k, &keys).unwrap();
    }
    source.set_key_store(keys.clone());
    let tls = wsscope::tls::TlsConfig { keys: Some(keys), max_key_wait: 1 << 20 };
    let mut analyzer = Analyzer::new(
        AnalyzerConfig {
            max_message: 16 << 20,
            ws_ports: ws_ports.to_vec(),
            tls,
            ..Default::default()
        },
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

/// Every truth file of the real, derived and generated corpora.
fn truths() -> Vec<std::path::PathBuf> {
    ["captures/real", "captures/derived", "captures/cases", "captures/field", "captures/tls"]
        .iter()
        .flat_map(|d| files_ending(&testdata(d), ".truth.json"))
        .collect()
}

#[test]
fn real_sessions_decode_to_exactly_the_messages_the_endpoints_sent() {
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut tls_checked = 0;
    for path in truths() {
        let dir = path.parent().unwrap();
        let truth: Truth = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let tls_dir = dir.ends_with("tls");
        if tls_dir && truth.keylog.is_none() && !truth.keylog_embedded {
            continue; // no keys: tests/tls.rs checks what is shown of it
        }
        let keylog = truth.keylog.as_ref().map(|k| dir.join(k));
        let events =
            analyze_keyed(&dir.join(&truth.pcap), &truth.analysis.ws_ports, keylog.as_deref());
        if let Some(n) = truth.websocket_connections {
            let got = events.iter().filter(|e| matches!(e, Event::Connection { .. })).count();
            if got != n {
                problems.push(format!(
                    "{}: {got} WebSocket connections reported, {n} expected",
                    truth.scenario
                ));
            }
        }
        if truth.errors_expected == Some(false) {
            for e in &events {
                if let Event::Finding { code, severity: Severity::Error, message, .. } = e {
                    problems.push(format!(
                        "{}: error {code}: {message} (a capture problem is not a protocol error)",
                        truth.scenario
                    ));
                }
            }
        }
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
            if let Some(want) = &tc.closed_first_by {
                let got = events.iter().find_map(|e| match e {
                    Event::End { connection, closed_first_by, .. } if *connection == conn => {
                        Some(closed_first_by.map(|d| d.as_str().to_string()))
                    }
                    _ => None,
                });
                if got != Some(Some(want.clone())) {
                    problems.push(format!("{label}: closed first by {got:?}, expected {want}"));
                }
            }
            // Capture order: a connection's messages come out in the order of the packets that
            // completed them.
            let ends: Vec<u64> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Message { connection, end, .. } if *connection == conn => {
                        Some(end.packet)
                    }
                    _ => None,
                })
                .collect();
            if ends.windows(2).any(|w| w[0] > w[1]) {
                problems
                    .push(format!("{label}: messages out of capture order (end packets {ends:?})"));
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
                        complete,
                        length,
                        captured_length,
                        missing,
                        compressed,
                        payload,
                        close,
                        truncated,
                        first,
                        last,
                        end,
                        rtt,
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
                    if w.lost {
                        if *complete {
                            diffs.push(format!(
                                "lost in the capture but reported complete ({payload:?})"
                            ));
                        }
                        if w.missing.is_some() && *missing != w.missing {
                            diffs.push(format!("missing {missing:?} ≠ {:?}", w.missing));
                        }
                        if let (Some(n), Some(m)) = (length, missing)
                            && (*n != w.length || n - m != *captured_length)
                        {
                            diffs.push(format!(
                                "length {n} (captured {captured_length}, missing {m}) ≠ {}",
                                w.length
                            ));
                        }
                    } else {
                        if *length != Some(w.length) || *captured_length != w.length {
                            diffs.push(format!(
                                "length {length:?}/{captured_length} ≠ {}",
                                w.length
                            ));
                        }
                        if !*complete || *missing != Some(0) {
                            diffs.push(format!("reported incomplete (missing {missing:?})"));
                        }
                        if sha != w.sha256 || *truncated {
                            diffs.push(format!(
                                "sha256/payload differs (truncated={truncated}, {payload:?})"
                            ));
                        }
                    }
                    for (what, want, got) in [
                        ("first frame packet", w.first_packet, first.packet),
                        ("last frame packet", w.last_packet, last.packet),
                        ("completing packet", w.complete_packet, end.packet),
                    ] {
                        if want.is_some_and(|p| p != got) {
                            diffs.push(format!("{what} {got} ≠ {}", want.unwrap_or_default()));
                        }
                    }
                    if w.answers_ping && rtt.is_none() {
                        diffs
                            .push("a pong answering a captured ping has no round-trip time".into());
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
                    if tls_dir {
                        tls_checked += 1;
                    }
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
    assert!(tls_checked >= 40, "only {tls_checked} messages inside TLS checked");
    eprintln!("{checked} messages checked, {tls_checked} of them inside TLS");
}

#[test]
#[ignore]
fn dump_events() {
    let p = std::env::var("DUMP").unwrap();
    for e in analyze(std::path::Path::new(&p)) {
        println!("{}", serde_json::to_string(&e).unwrap());
    }
}
