//! Differential test against tshark (Wireshark's dissector): for every real and derived capture,
//! wsscope and tshark must agree, per connection and direction, on the frames — opcode, FIN and
//! payload length, in order — wherever tshark decodes the connection. Where wsscope sees more
//! (mid-stream pickup, which tshark cannot do), the test says so explicitly.
//!
//! Needs `tshark` (installed by `.ci/run`); set WSSCOPE_SKIP_TSHARK=1 to skip where it is missing.

use crate::util::{files_ending, testdata};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (client port, direction) → frames as (opcode, fin, payload length).
type Frames = BTreeMap<(u16, &'static str), Vec<(u8, bool, u64)>>;

fn tshark_frames(pcap: &Path, server_port: u16) -> Frames {
    let decode = ["-d".to_string(), format!("tcp.port=={server_port},http")];
    tshark_frames_with(pcap, &[server_port], &decode)
}

/// Frames tshark decodes with `extra` options (decode-as, key logs); `servers` are the server
/// ports (a frame from one of them goes server to client).
fn tshark_frames_with(pcap: &Path, servers: &[u16], extra: &[String]) -> Frames {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "tcp.reassemble_out_of_order:TRUE"])
        .args(extra)
        .args(["-Y", "websocket", "-T", "fields"])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "websocket.fin",
            "-e",
            "websocket.opcode",
        ])
        .args(["-e", "websocket.payload_length", "-e", "websocket.payload_length_ext_16"])
        .args(["-e", "websocket.payload_length_ext_64", "-E", "occurrence=a", "-E", "aggregator=,"])
        .output()
        .expect("tshark is not installed (apt-get install tshark, or WSSCOPE_SKIP_TSHARK=1)");
    assert!(o.status.success(), "tshark failed: {}", String::from_utf8_lossy(&o.stderr));
    let mut frames = Frames::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (src, dst): (u16, u16) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let (client, dir) = if servers.contains(&src) {
            (dst, "server_to_client")
        } else {
            (src, "client_to_server")
        };
        // The 7-bit length field says 126 or 127 when the 16- or 64-bit extension holds it; the
        // extensions are listed (in frame order) only for the frames that have them.
        let mut ext16 = f[5].split(',').filter(|x| !x.is_empty());
        let mut ext64 = f[6].split(',').filter(|x| !x.is_empty());
        for ((fin, op), len) in f[2].split(',').zip(f[3].split(',')).zip(f[4].split(',')) {
            let fin = fin == "1" || fin == "True";
            let len: u64 = match len {
                "126" => ext16.next().unwrap().parse().unwrap(),
                "127" => ext64.next().unwrap().parse().unwrap(),
                l => l.parse().unwrap(),
            };
            frames.entry((client, dir)).or_default().push((op.parse().unwrap(), fin, len));
        }
    }
    frames
}

fn wsscope_frames(pcap: &Path, ws_ports: &[u16]) -> Frames {
    wsscope_frames_with(pcap, ws_ports, &[])
}

fn wsscope_frames_with(pcap: &Path, ws_ports: &[u16], extra: &[String]) -> Frames {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    cmd.arg("export").arg(pcap).arg("--frames").args(extra).env_remove("SSLKEYLOGFILE");
    for p in ws_ports {
        cmd.args(["--ws-port", &p.to_string()]);
    }
    let o = cmd.output().unwrap();
    let mut clients = BTreeMap::new();
    let mut frames = Frames::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("connection") => {
                let client = v["client"].as_str().unwrap();
                let port: u16 = client.rsplit(':').next().unwrap().parse().unwrap();
                clients.insert(v["connection"].as_u64().unwrap(), port);
            }
            Some("frame") => {
                let port = clients[&v["connection"].as_u64().unwrap()];
                let dir = if v["direction"] == "client_to_server" {
                    "client_to_server"
                } else {
                    "server_to_client"
                };
                let op = match v["opcode"].as_str().unwrap() {
                    "continuation" => 0,
                    "text" => 1,
                    "binary" => 2,
                    "close" => 8,
                    "ping" => 9,
                    "pong" => 10,
                    other => {
                        u8::from_str_radix(other.trim_start_matches("reserved_0x"), 16).unwrap()
                    }
                };
                frames.entry((port, dir)).or_default().push((
                    op,
                    v["fin"].as_bool().unwrap(),
                    v["payload_length"].as_u64().unwrap(),
                ));
            }
            _ => {}
        }
    }
    frames
}

/// Captures where wsscope decodes frames that tshark does not, and why. Where tshark decodes a
/// direction at all, its frames must still be the end of wsscope's (it starts late, never
/// differs).
const EXPLAINED: &[(&str, &str)] = &[
    (
        "span_merge.pcap",
        "the two directions were merged with skewed clocks, so the server's 101 was captured \
         before the client's request: tshark's HTTP dissector never sees the upgrade complete",
    ),
    (
        "merged-skew-minus.pcapng",
        "the server's side of the merge is 30 ms early, so its 101 was captured before the \
         client's request: tshark never sees the upgrade complete",
    ),
    (
        "merged-skew-plus.pcap",
        "the server's side of the merge is 30 ms late, so the client's first two frames were \
         captured before the 101: tshark starts decoding after them",
    ),
    (
        "lost_response.pcap",
        "the capture lost both 101 responses: tshark follows an upgrade only once it sees the \
         101, wsscope finds the frames after the request without it",
    ),
    (
        "vanishing_upgrades.pcap",
        "two connections' upgrade requests are not in the capture (bytes lost, or sent before \
         it started): tshark follows an upgrade only from its request, wsscope from the 101",
    ),
];

#[test]
fn wsscope_and_tshark_agree_on_every_frame_tshark_decodes() {
    if std::env::var_os("WSSCOPE_SKIP_TSHARK").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TSHARK is set");
        return;
    }
    let mut problems = Vec::new();
    let mut report = Vec::new();
    let truths = files_ending(&testdata("captures/real"), ".truth.json")
        .into_iter()
        .chain(files_ending(&testdata("captures/derived"), ".truth.json"))
        .chain(files_ending(&testdata("captures/cases"), ".truth.json"))
        .chain(files_ending(&testdata("captures/field"), ".truth.json"));
    for truth_path in truths {
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
        let pcap = truth_path.parent().unwrap().join(truth["pcap"].as_str().unwrap());
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        let server_port: u16 = match truth["server_port"].as_u64() {
            Some(p) => p as u16,
            None => truth["connections"][0]["server"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap(),
        };
        let ws_ports: Vec<u16> = truth["analysis"]["ws_ports"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_u64().map(|p| p as u16)).collect())
            .unwrap_or_default();
        let ours = wsscope_frames(&pcap, &ws_ports);
        let theirs = tshark_frames(&pcap, server_port);
        // tshark stops decoding a direction at the first byte the capture lost; wsscope reports
        // the gap and carries on. With lost bytes, tshark's frames must be a prefix of ours.
        let lossy =
            truth["connections"].as_array().unwrap().iter().any(|c| {
                c["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["lost"] == true))
            });
        let (mut agree, mut only_ours) = (0, 0);
        for (key, frames) in &ours {
            match theirs.get(key) {
                Some(t) if t == frames => agree += frames.len(),
                Some(t) if lossy && frames.starts_with(t) => {
                    agree += t.len();
                    only_ours += frames.len() - t.len();
                }
                Some(t) if EXPLAINED.iter().any(|(n, _)| *n == name) && frames.ends_with(t) => {
                    agree += t.len();
                    only_ours += frames.len() - t.len();
                }
                Some(t) => {
                    let first = t
                        .iter()
                        .zip(frames)
                        .position(|(a, b)| a != b)
                        .unwrap_or(t.len().min(frames.len()));
                    problems.push(format!(
                        "{name} client port {} {}: tshark {} frames, wsscope {}; first difference at frame {first}: tshark {:?}, wsscope {:?}",
                        key.0,
                        key.1,
                        t.len(),
                        frames.len(),
                        t.get(first),
                        frames.get(first)
                    ));
                }
                None => only_ours += frames.len(),
            }
        }
        for key in theirs.keys().filter(|k| !ours.contains_key(k)) {
            problems.push(format!(
                "{name}: tshark decodes client port {} {} but wsscope reports nothing",
                key.0, key.1
            ));
        }
        let handshake_seen = truth["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["handshake"]["seen"].as_bool() != Some(false));
        let explained = EXPLAINED.iter().find(|(n, _)| *n == name).map(|(_, why)| *why);
        if only_ours > 0 && handshake_seen && !lossy && explained.is_none() {
            problems.push(format!("{name}: {only_ours} frames only wsscope decodes, although the handshake was captured"));
        }
        let why = if let Some(why) = explained {
            why
        } else if lossy {
            "after bytes the capture lost: tshark stops there"
        } else {
            "no handshake in the capture: tshark cannot find the frames"
        };
        report.push(format!(
            "{name}: {agree} frames agree{}",
            if only_ours > 0 {
                format!(", {only_ours} decoded only by wsscope ({why})")
            } else {
                String::new()
            }
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        problems.is_empty(),
        "{} disagreement(s) with tshark:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(report.len() >= 5);
}

/// wss:// captures: tshark decrypting with the same key log (`-o tls.keylog_file:…`, or the
/// pcapng's own Decryption Secrets Block) must see exactly wsscope's frames.
#[test]
fn wsscope_and_tshark_agree_on_every_frame_inside_tls() {
    if std::env::var_os("WSSCOPE_SKIP_TSHARK").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TSHARK is set");
        return;
    }
    let mut problems = Vec::new();
    let mut total = 0;
    let dir = testdata("captures/tls");
    for truth_path in files_ending(&dir, ".truth.json") {
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
        let keys = truth["keylog"].as_str().map(|k| dir.join(k));
        if keys.is_none() && truth["keylog_embedded"] != true {
            continue;
        }
        let pcap = dir.join(truth["pcap"].as_str().unwrap());
        let port =
            |a: &Value| -> u16 { a.as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap() };
        let mut servers = Vec::new();
        let mut theirs_opts = Vec::new();
        for c in truth["connections"].as_array().unwrap() {
            let p = port(&c["server"]);
            if !servers.contains(&p) {
                servers.push(p);
                let proto = if c["tls"].is_object() { "tls" } else { "http" };
                theirs_opts.extend(["-d".to_string(), format!("tcp.port=={p},{proto}")]);
            }
        }
        let mut ours_opts = Vec::new();
        if let Some(k) = &keys {
            theirs_opts.extend(["-o".to_string(), format!("tls.keylog_file:{}", k.display())]);
            ours_opts.extend(["--keylog".to_string(), k.display().to_string()]);
        }
        let theirs = tshark_frames_with(&pcap, &servers, &theirs_opts);
        let ours = wsscope_frames_with(&pcap, &[], &ours_opts);
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        if theirs != ours {
            problems.push(format!("{name}: tshark {theirs:?}\nwsscope {ours:?}"));
        }
        let n: usize = ours.values().map(Vec::len).sum();
        assert!(n > 0, "{name}: no frames");
        total += n;
    }
    assert!(problems.is_empty(), "disagreement(s) with tshark:\n{}", problems.join("\n"));
    assert!(total >= 100, "only {total} frames compared");
    eprintln!("{total} frames inside TLS agree with tshark");
}

/// Captures of link layers and tunnels tshark decodes too (crafted; see their README).
const TUNNEL_CASES: [&str; 17] = [
    "sll_loopback.pcap",
    "sll_tun.pcap",
    "sll_ppp.pcap",
    "sll_ipgre.pcap",
    "vxlan.pcap",
    "geneve.pcap",
    "gtpu.pcap",
    "gre.pcap",
    "erspan2.pcap",
    "erspan3.pcap",
    "mpls.pcap",
    "pppoe.pcap",
    "ipip.pcap",
    "sixin4.pcap",
    "nested.pcap",
    "mpls_gre.pcap",
    "multilink.pcapng",
];

/// Inner TCP payload bytes per (client port, direction), in capture order, as tshark dissects
/// them through the link layer and the tunnels.
fn tshark_streams(pcap: &Path) -> BTreeMap<(u16, &'static str), String> {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "tcp", "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport"])
        .args(["-e", "tcp.payload"])
        .output()
        .expect("tshark is not installed (apt-get install tshark, or WSSCOPE_SKIP_TSHARK=1)");
    assert!(o.status.success(), "tshark failed: {}", String::from_utf8_lossy(&o.stderr));
    let mut streams: BTreeMap<(u16, &'static str), String> = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (src, dst): (u16, u16) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let key = if dst == 8080 { (src, "client_to_server") } else { (dst, "server_to_client") };
        streams.entry(key).or_default().push_str(&f[2].replace(':', ""));
    }
    streams
}

#[test]
fn wsscope_and_tshark_agree_on_the_inner_streams_of_every_tunnel_and_link_layer() {
    if std::env::var_os("WSSCOPE_SKIP_TSHARK").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TSHARK is set");
        return;
    }
    for case in TUNNEL_CASES {
        let path = testdata("captures/crafted").join(case);
        let theirs = tshark_streams(&path);
        let run = crate::util::run_capture(&path);
        let mut ours: BTreeMap<(u16, &'static str), String> = BTreeMap::new();
        for c in run.conns.values() {
            let port: u16 = c.client.rsplit(':').next().unwrap().parse().unwrap();
            ours.insert((port, "client_to_server"), hex::encode(&c.bytes[0]));
            ours.insert((port, "server_to_client"), hex::encode(&c.bytes[1]));
        }
        assert!(!ours.is_empty(), "{case}: wsscope found no connection");
        assert_eq!(ours, theirs, "{case}: wsscope and tshark disagree on the inner streams");
    }
}

/// Community IDs tshark computes (its `communityid` dissector, Wireshark 3.6+) per TCP port
/// pair (lower port first) of the innermost TCP header, over every packet of a capture.
fn tshark_community_ids(pcap: &Path, seed: u16) -> BTreeMap<(u16, u16), BTreeSet<String>> {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["--enable-protocol", "communityid", "-o", &format!("communityid.seed:{seed}")])
        .args(["-Y", "tcp", "-T", "fields", "-E", "occurrence=l"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "communityid"])
        .output()
        .expect("tshark is not installed (apt-get install tshark, or WSSCOPE_SKIP_TSHARK=1)");
    // A capture cut inside a packet (crafted/truncated_file.pcap): tshark prints the packets
    // before the cut and exits 2.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() || stderr.contains("cut short"), "tshark failed: {stderr}");
    let mut ids: BTreeMap<(u16, u16), BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (a, b): (u16, u16) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        if !f[2].is_empty() {
            ids.entry((a.min(b), a.max(b))).or_default().insert(f[2].to_string());
        }
    }
    ids
}

/// (client port, server port, community_id) of every connection event of `wsscope export`.
fn wsscope_community_ids(pcap: &Path, seed: u16) -> Vec<(u16, u16, String)> {
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .arg("export")
        .arg(pcap)
        .args(["--community-id-seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}: {}", pcap.display(), String::from_utf8_lossy(&o.stderr));
    let port =
        |v: &Value| -> u16 { v.as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap() };
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "connection")
        .map(|v| {
            (port(&v["client"]), port(&v["server"]), v["community_id"].as_str().unwrap().into())
        })
        .collect()
}

#[test]
fn every_connections_community_id_is_the_one_tshark_computes() {
    if std::env::var_os("WSSCOPE_SKIP_TSHARK").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TSHARK is set");
        return;
    }
    let mut runs: Vec<(PathBuf, u16)> = ["real", "derived", "cases", "field", "crafted"]
        .iter()
        .flat_map(|d| {
            let dir = testdata(&format!("captures/{d}"));
            let mut v = files_ending(&dir, ".pcap");
            v.extend(files_ending(&dir, ".pcapng"));
            v
        })
        .map(|p| (p, 0))
        .collect();
    // A seed other than the default, on IPv4 and IPv6 (and one with its high byte set).
    for (name, seed) in [("bad-accept.pcap", 1), ("ipv6.pcap", 1), ("ipv6.pcap", 0xabcd)] {
        runs.push((testdata("captures/real").join(name), seed));
    }
    let (mut checked, mut problems) = (0, Vec::new());
    for (pcap, seed) in &runs {
        let theirs = tshark_community_ids(pcap, *seed);
        for (client, server, id) in wsscope_community_ids(pcap, *seed) {
            let key = (client.min(server), client.max(server));
            match theirs.get(&key) {
                Some(ids) if ids.contains(&id) => checked += 1,
                other => problems.push(format!(
                    "{} seed {seed} ports {client}->{server}: wsscope {id}, tshark {other:?}",
                    pcap.display()
                )),
            }
        }
    }
    eprintln!("{checked} connections of {} runs agree with tshark", runs.len());
    assert!(problems.is_empty(), "community_id differs from tshark's:\n{}", problems.join("\n"));
    assert!(checked >= 50, "only {checked} connections checked");
}
