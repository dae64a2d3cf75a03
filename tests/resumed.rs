//! A connection wsscope stopped following (evicted to stay under `--memory-budget`) and picked
//! up again is one connection: counted once in the summary, and not blamed on its peers. Before,
//! each part counted as another TCP and WebSocket connection (8,079 TCP connections for 4,024,
//! 5,604 WebSocket connections for 3,916 under a 16 MiB budget), so `--require-connections`
//! passed on connections that did not exist, and the part evicted broke
//! `--require-clean-close` (181 violations, exit 1) although every connection closed cleanly.

use crate::gen_bulk;

use serde_json::Value;
use std::process::Command;

#[test]
fn a_connection_picked_up_again_after_an_eviction_is_counted_once_and_not_judged_unclean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    // 4,000 connections open at once: far more than 16 MiB holds.
    let opts = gen_bulk::Options { concurrency: Some(4000), ..gen_bulk::Options::new(10_000_000) };
    let expected = gen_bulk::generate(&path, &opts).unwrap();
    for threads in ["1", "2"] {
        let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
            .args(["report", path.to_str().unwrap(), "--memory-budget", "16M", "-j", threads])
            .args(["--require-clean-close", "--fail-on", "error"])
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        let s = &doc["summary"];
        let n = |k: &str| s[k].as_u64().unwrap();
        let rows = doc["connections"].as_array().unwrap();
        let continued = rows.iter().filter(|c| c["continues"].is_string()).count();
        eprintln!(
            "-j {threads}: {} TCP, {} WebSocket, {} upgraded ({} and {} sent); {continued} rows \
             continue an earlier one",
            n("tcp_connections"),
            n("websocket_connections"),
            n("upgraded"),
            expected.tcp_connections,
            expected.websocket_connections,
        );
        // The budget did evict connections that went on, and they were picked up again.
        assert!(String::from_utf8_lossy(&o.stderr).contains("connections evicted"));
        assert!(continued > 10, "-j {threads}: {continued} rows continue an earlier one");
        assert!(rows.iter().any(|c| c["continues"] == "after_request"));
        assert!(rows.iter().any(|c| c["continues"] == "after_handshake"));
        // Counted once: never more than there were, and nearly all of them.
        assert_eq!(n("tcp_connections"), expected.tcp_connections, "-j {threads}");
        let ws = n("websocket_connections");
        assert!(ws <= expected.websocket_connections, "-j {threads}: {ws} WebSocket connections");
        assert!(ws * 1000 >= expected.websocket_connections * 995, "-j {threads}: {ws}");
        assert_eq!(n("upgraded"), ws, "-j {threads}: every WebSocket connection upgraded once");
        // Every connection closed cleanly: a part evicted is not a broken policy.
        assert_eq!(s["violations"]["require_clean_close"].as_u64().unwrap_or(0), 0);
        assert_eq!(o.status.code(), Some(0), "-j {threads}: {}", doc["exit"]);
    }
}

/// A capture that starts in the middle of a session whose messages come further apart than
/// `--idle-timeout`: each quiet spell cut the connection, and each part searched for frames
/// from nothing again, with one message each way to go on: none was ever found (0 WebSocket
/// connections, 0 messages, no finding: "carries neither HTTP nor WebSocket frames"). A
/// connection still being searched now gets 8 times the timeout.
#[test]
fn a_session_picked_up_mid_stream_is_found_although_quieter_than_the_idle_timeout() {
    use crate::util::write_pcap_with;
    use wsscope::tcp::Direction::{ClientToServer as C2S, ServerToClient as S2C};
    use wsscope::ws::encode::frame;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quiet.pcap");
    let mut exchanges = Vec::new();
    for i in 0..8u8 {
        let text = format!("message {i}");
        let mask = [0x3a ^ i, 0x51, 0x9c ^ i, 0x07];
        exchanges.push((C2S, frame(true, 0, 1, Some(mask), text.as_bytes())));
        exchanges.push((S2C, frame(true, 0, 1, None, text.as_bytes())));
    }
    // 600 ms between messages, an idle timeout of 200 ms (checked once a second).
    write_pcap_with(&path, &exchanges, false, 600_000);
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", path.to_str().unwrap(), "--idle-timeout", "200ms", "--fail-on", "never"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &doc["summary"];
    assert_eq!(s["tcp_connections"], 1, "{s}");
    assert_eq!(s["websocket_connections"], 1, "{s}");
    // Found after its search, then cut by the idle timeout and picked up again, part by part.
    assert!(s["messages"].as_u64().unwrap() >= 12, "{s}");
    assert_eq!(s["findings"]["error"], 0, "{s}");
}
