//! Real WebSocket sessions recorded on loopback with tcpdump (`testdata/scripts/record/`): each
//! `<scenario>.truth.json` holds, per connection, the SHA-256 and length of every byte each
//! endpoint wrote to its socket. The reassembled streams must be byte-identical, with no gap.
//! The same holds for the edited copies in `captures/derived/` (`testdata/scripts/record/derive.py`),
//! except in a direction whose truth says `"tcp_bytes_exact": false` (bytes removed on purpose).
//! A capture started after the handshake (`"handshake": {"seen": false}`) holds only the part of
//! each stream given by `"captured"`.

use crate::util::{files_ending, run_capture, testdata};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wsscope::tcp::{Anomaly, Direction, RoleSource};

/// The part of a truth file the stream engine is checked against (messages are for the
/// WebSocket decoder's tests).
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
    client_to_server: TruthDir,
    server_to_client: TruthDir,
    handshake: Option<TruthHandshake>,
}

#[derive(Debug, Deserialize)]
struct TruthHandshake {
    seen: bool,
}

#[derive(Debug, Deserialize)]
struct TruthDir {
    tcp_bytes: u64,
    tcp_sha256: String,
    /// False when a derived capture lost bytes of this direction on purpose.
    tcp_bytes_exact: Option<bool>,
    /// The part of the stream in the capture, when the capture started late.
    captured: Option<TruthCaptured>,
}

#[derive(Debug, Deserialize)]
struct TruthCaptured {
    tcp_bytes: u64,
    tcp_sha256: String,
}

#[test]
fn real_sessions_reassemble_byte_identical_to_what_the_endpoints_sent() {
    let real = files_ending(&testdata("captures/real"), ".truth.json");
    assert!(real.len() >= 5, "real captures missing: found {}", real.len());
    let truths = real
        .into_iter()
        .chain(files_ending(&testdata("captures/derived"), ".truth.json"))
        .chain(files_ending(&testdata("captures/field"), ".truth.json"));
    let mut checked = 0;
    for path in truths {
        let dir = path.parent().unwrap();
        let truth: Truth = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let run = run_capture(&dir.join(&truth.pcap));
        assert_eq!(
            run.conns.len(),
            truth.connections.len(),
            "{}: connection count",
            truth.scenario
        );
        for want in &truth.connections {
            let got = run
                .conns
                .values()
                .find(|c| c.client == want.client && c.server == want.server)
                .unwrap_or_else(|| {
                    panic!("{}: no connection {} → {}", truth.scenario, want.client, want.server)
                });
            // With the handshake captured, the roles come from it: the SYN, or the SYN-ACK when a
            // merge of two capture points put the SYN-ACK first.
            if want.handshake.as_ref().is_none_or(|h| h.seen) {
                assert!(
                    matches!(got.role, Some(RoleSource::Syn | RoleSource::SynAck)),
                    "{}: handshake captured, roles {:?}",
                    truth.scenario,
                    got.role
                );
            }
            let mut exact = true;
            for (d, w) in [
                (Direction::ClientToServer, &want.client_to_server),
                (Direction::ServerToClient, &want.server_to_client),
            ] {
                if w.tcp_bytes_exact == Some(false) {
                    exact = false;
                    continue;
                }
                let (tcp_bytes, tcp_sha256) = match &w.captured {
                    Some(c) => (c.tcp_bytes, &c.tcp_sha256),
                    None => (w.tcp_bytes, &w.tcp_sha256),
                };
                let bytes = &got.bytes[d.index()];
                assert!(
                    got.gaps[d.index()].is_empty(),
                    "{} {d}: gaps {:?}",
                    truth.scenario,
                    got.gaps[d.index()]
                );
                assert_eq!(bytes.len() as u64, tcp_bytes, "{} {d}: length", truth.scenario);
                assert_eq!(
                    &hex::encode(Sha256::digest(bytes)),
                    tcp_sha256,
                    "{} {d}: sha256",
                    truth.scenario
                );
                checked += 1;
            }
            // An acknowledgment captured before its data is what a merged capture looks like,
            // not a fault of the stream.
            let faults: Vec<_> = got
                .anomalies
                .iter()
                .filter(|(_, a)| !matches!(a, Anomaly::AckBeforeData { .. }))
                .collect();
            if exact {
                assert!(faults.is_empty(), "{}: {:?}", truth.scenario, faults);
            }
        }
    }
    assert!(checked >= 10);
}
