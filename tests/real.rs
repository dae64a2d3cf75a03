//! Real WebSocket sessions recorded on loopback with tcpdump (`testdata/scripts/record/`): each
//! `<scenario>.truth.json` holds, per connection, the SHA-256 and length of every byte each
//! endpoint wrote to its socket. The reassembled streams must be byte-identical, with no gap.

use crate::util::{files_ending, run_capture, testdata};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wsscope::tcp::{Direction, RoleSource};

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
}

#[derive(Debug, Deserialize)]
struct TruthDir {
    tcp_bytes: u64,
    tcp_sha256: String,
}

#[test]
fn real_sessions_reassemble_byte_identical_to_what_the_endpoints_sent() {
    let dir = testdata("captures/real");
    let truths = files_ending(&dir, ".truth.json");
    assert!(truths.len() >= 5, "real captures missing: found {}", truths.len());
    let mut checked = 0;
    for path in truths {
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
            assert_eq!(got.role, Some(RoleSource::Syn), "{}: handshake captured", truth.scenario);
            for (d, w) in [
                (Direction::ClientToServer, &want.client_to_server),
                (Direction::ServerToClient, &want.server_to_client),
            ] {
                let bytes = &got.bytes[d.index()];
                assert!(
                    got.gaps[d.index()].is_empty(),
                    "{} {d}: gaps {:?}",
                    truth.scenario,
                    got.gaps[d.index()]
                );
                assert_eq!(bytes.len() as u64, w.tcp_bytes, "{} {d}: length", truth.scenario);
                assert_eq!(
                    hex::encode(Sha256::digest(bytes)),
                    w.tcp_sha256,
                    "{} {d}: sha256",
                    truth.scenario
                );
                checked += 1;
            }
            assert!(got.anomalies.is_empty(), "{}: {:?}", truth.scenario, got.anomalies);
        }
    }
    assert!(checked >= 10);
}
