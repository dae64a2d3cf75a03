//! Crafted captures (`testdata/captures/crafted`, made by `cargo run --example gen_crafted`):
//! each `<case>.expect.json` states the exact bytes, gaps, endings and conflicts that a correct
//! reassembler reports; the engine must match all of it.

use crate::util::{files_ending, run_capture, testdata};
use serde::Deserialize;
use wsscope::capture::EndOfInput;
use wsscope::tcp::{Anomaly, Direction, RoleSource};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    case: String,
    description: String,
    file_truncated: bool,
    connections: Vec<ExpectConn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectConn {
    client: String,
    server: String,
    syn_seen: bool,
    client_to_server: ExpectDir,
    server_to_client: ExpectDir,
    retransmission_mismatches: Vec<ExpectMismatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectDir {
    delivered_hex: String,
    gaps: Vec<ExpectGap>,
    end: String,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct ExpectGap {
    offset: u64,
    len: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectMismatch {
    direction: String,
    offset: u64,
    len: u64,
}

/// Adjacent gaps merged, so a hole reported in two steps compares equal to one range.
fn merged(gaps: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(o, l) in gaps {
        match out.last_mut() {
            Some(last) if last.0 + last.1 == o => last.1 += l,
            _ => out.push((o, l)),
        }
    }
    out
}

#[test]
fn every_crafted_capture_reassembles_as_expected() {
    let dir = testdata("captures/crafted");
    let expects = files_ending(&dir, ".expect.json");
    assert!(expects.len() >= 20, "crafted captures missing: found {}", expects.len());
    let mut failures = Vec::new();
    for exp_path in &expects {
        let exp: Expect =
            serde_json::from_str(&std::fs::read_to_string(exp_path).unwrap()).unwrap();
        let stem = exp_path.file_name().unwrap().to_str().unwrap().trim_end_matches(".expect.json");
        let capture = ["pcap", "pcapng"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.{ext}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no capture for {stem}"));
        let run = run_capture(&capture);
        let mut fail =
            |msg: String| failures.push(format!("{} ({}): {msg}", exp.case, exp.description));
        let truncated = matches!(run.summary.end_of_input, EndOfInput::Truncated { .. });
        if truncated != exp.file_truncated {
            fail(format!("file_truncated: got {truncated}"));
        }
        if run.conns.len() != exp.connections.len() {
            fail(format!("{} connections, expected {}", run.conns.len(), exp.connections.len()));
            continue;
        }
        for (got, want) in run.conns.values().zip(&exp.connections) {
            if (got.client.as_str(), got.server.as_str())
                != (want.client.as_str(), want.server.as_str())
            {
                fail(format!(
                    "roles {} → {}, expected {} → {}",
                    got.client, got.server, want.client, want.server
                ));
            }
            if (got.role == Some(RoleSource::Syn)) != want.syn_seen {
                fail(format!("role source {:?} but syn_seen={}", got.role, want.syn_seen));
            }
            for (dir, w) in [
                (Direction::ClientToServer, &want.client_to_server),
                (Direction::ServerToClient, &want.server_to_client),
            ] {
                let i = dir.index();
                let bytes = hex::encode(&got.bytes[i]);
                if bytes != w.delivered_hex {
                    fail(format!("{dir}: delivered\n  {bytes}\nexpected\n  {}", w.delivered_hex));
                }
                let gaps = merged(&got.gaps[i].iter().map(|g| (g.0, g.1)).collect::<Vec<_>>());
                let want_gaps: Vec<(u64, u64)> = w.gaps.iter().map(|g| (g.offset, g.len)).collect();
                if gaps != merged(&want_gaps) {
                    fail(format!("{dir}: gaps {:?}, expected {want_gaps:?}", got.gaps[i]));
                }
                let end = if got.rst[i] {
                    "rst"
                } else if got.fin[i] {
                    "fin"
                } else {
                    "open"
                };
                if end != w.end {
                    fail(format!("{dir}: end {end}, expected {}", w.end));
                }
            }
            let got_mismatches: Vec<(String, u64, u64)> = got
                .anomalies
                .iter()
                .filter_map(|(d, a)| match a {
                    Anomaly::RetransmissionMismatch { offset, len } => {
                        Some((d.to_string(), *offset, *len))
                    }
                    _ => None,
                })
                .collect();
            let want_mismatches: Vec<(String, u64, u64)> = want
                .retransmission_mismatches
                .iter()
                .map(|m| (m.direction.clone(), m.offset, m.len))
                .collect();
            if got_mismatches != want_mismatches {
                fail(format!("mismatches {got_mismatches:?}, expected {want_mismatches:?}"));
            }
            let unexpected: Vec<_> = got
                .anomalies
                .iter()
                .filter(|(_, a)| !matches!(a, Anomaly::RetransmissionMismatch { .. }))
                .collect();
            if !unexpected.is_empty() {
                fail(format!("unexpected anomalies {unexpected:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn garbage_packets_are_counted_and_the_valid_connection_survives() {
    let run = run_capture(&testdata("captures/crafted/garbage.pcap"));
    assert!(run.summary.packets.malformed >= 1, "{:?}", run.summary.packets);
    assert!(run.summary.packets.other >= 3, "{:?}", run.summary.packets);
    assert_eq!(run.conns.len(), 1);
}

#[test]
fn fragments_are_reassembled_and_a_missing_fragment_is_dropped() {
    let run = run_capture(&testdata("captures/crafted/ipv4_frag.pcap"));
    assert_eq!(run.summary.packets.reassembled_datagrams, 1, "{:?}", run.summary.packets);
    assert_eq!(run.summary.packets.incomplete_datagrams, 1, "{:?}", run.summary.packets);
    assert!(run.summary.packets.ipv4_fragments >= 5);
}

#[test]
fn snaplen_cut_is_counted() {
    let run = run_capture(&testdata("captures/crafted/snaplen.pcap"));
    assert_eq!(run.summary.packets.snaplen_truncated, 1);
}

#[test]
fn tunnel_captures_count_each_tunnel_taken_off_and_nothing_undecoded() {
    for (case, tunnels) in [
        ("vxlan.pcap", &["vxlan"][..]),
        ("geneve.pcap", &["geneve"]),
        ("gtpu.pcap", &["gtp_u"]),
        ("gre.pcap", &["gre"]),
        ("erspan2.pcap", &["erspan_ii"]),
        ("erspan3.pcap", &["erspan_iii"]),
        ("mpls.pcap", &["mpls"]),
        ("pppoe.pcap", &["pppoe"]),
        ("ipip.pcap", &["ipv4_in_ip"]),
        ("sixin4.pcap", &["ipv6_in_ip"]),
        ("nested.pcap", &["vxlan", "gre"]),
        ("mpls_gre.pcap", &["mpls", "gre"]),
        ("sll_ipgre.pcap", &[]),
    ] {
        let run = run_capture(&testdata("captures/crafted").join(case));
        let p = &run.summary.packets;
        assert_eq!((p.malformed, p.other), (0, 0), "{case}: {p:?}");
        let counts = serde_json::to_value(p.decapsulated).unwrap();
        for (name, n) in counts.as_object().unwrap() {
            let want = if tunnels.contains(&name.as_str()) { p.packets } else { 0 };
            assert_eq!(n.as_u64(), Some(want), "{case}: {name}");
        }
    }
}

#[test]
fn a_pcapng_with_two_link_types_reads_both_interfaces() {
    let path = testdata("captures/crafted/multilink.pcapng");
    let source = wsscope::capture::FileSource::open(&path, None).unwrap();
    use wsscope::capture::PacketSource;
    assert_eq!(
        wsscope::capture::describe_links(&source.link_types()),
        "LINUX_SLL2 (276), ETHERNET (1)"
    );
    let run = run_capture(&path);
    assert_eq!((run.conns.len(), run.summary.packets.tcp_segments), (2, 26));
}
