//! wss:// captures recorded from real peers (`testdata/captures/tls`): every TLS connection is
//! reported for what its hellos say, decrypted with the key log (or the pcapng's own secrets),
//! never decrypted without it, and no secret ever reaches an output. The messages themselves are
//! checked against the endpoints' logs by `messages.rs`, the frames against tshark by
//! `tshark_diff.rs`.

use crate::util::{files_ending, testdata};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wsscope(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    cmd.args(args).env_remove("SSLKEYLOGFILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ndjson(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

struct Case {
    truth: Value,
    pcap: PathBuf,
    keys: Option<PathBuf>,
}

fn cases() -> Vec<Case> {
    let dir = testdata("captures/tls");
    files_ending(&dir, ".truth.json")
        .into_iter()
        .map(|p| {
            let truth: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let pcap = dir.join(truth["pcap"].as_str().unwrap());
            let keys = truth["keylog"].as_str().map(|k| dir.join(k));
            Case { truth, pcap, keys }
        })
        .collect()
}

fn export(pcap: &Path, keys: Option<&Path>, extra: &[&str]) -> Output {
    let mut args = vec!["export", pcap.to_str().unwrap()];
    if let Some(k) = keys {
        args.extend(["--keylog", k.to_str().unwrap()]);
    }
    args.extend(extra);
    wsscope(&args, &[])
}

#[test]
fn every_tls_connection_is_reported_as_its_hellos_say_and_decrypted_with_its_keys() {
    let mut checked = 0;
    for c in cases() {
        let name = c.truth["scenario"].as_str().unwrap().to_string();
        let decryptable = c.keys.is_some() || c.truth["keylog_embedded"] == true;
        let out = export(&c.pcap, c.keys.as_deref(), &[]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let events = ndjson(&out);
        for tc in c.truth["connections"].as_array().unwrap() {
            let (client, server) = (tc["client"].as_str().unwrap(), tc["server"].as_str().unwrap());
            let tls_event = events
                .iter()
                .find(|e| e["type"] == "tls" && e["client"] == client && e["server"] == server);
            let ws = events.iter().any(|e| e["type"] == "connection" && e["client"] == client);
            let want = &tc["tls"];
            if !want.is_object() {
                // The plaintext connection of a mixed capture: no tls event, decoded as ever.
                assert!(tls_event.is_none(), "{name} {client}: plaintext reported as TLS");
                assert!(ws, "{name} {client}: plaintext WebSocket not decoded");
                continue;
            }
            let e = tls_event.unwrap_or_else(|| panic!("{name} {client}: no tls event"));
            let t = &e["tls"];
            let version = want["version"].as_str().unwrap().replace("TLSv", "TLS ");
            assert_eq!(t["version"], version.as_str(), "{name}");
            assert_eq!(t["cipher_suite"], want["cipher"], "{name}");
            assert_eq!(t["sni"], want["sni"], "{name}");
            if want["alpn_offered"].is_array() {
                assert_eq!(t["alpn_offered"], want["alpn_offered"], "{name}");
            }
            assert_eq!(t["resumed"], want["resumed"], "{name} {client}");
            if decryptable {
                assert_eq!(t["decryption"], "decrypted", "{name} {client}: {t}");
                assert_eq!(t["alpn"], want["alpn"], "{name}");
                assert_eq!(
                    t["key_updates"].as_u64().unwrap(),
                    want["key_updates"].as_array().map_or(0, |k| k.len() as u64),
                    "{name}"
                );
                assert!(t["advice"].is_null(), "{name}: {t}");
                assert_eq!(e["websocket"], true, "{name}");
                assert!(ws, "{name} {client}: the WebSocket inside was not decoded");
            } else {
                assert_eq!(t["decryption"], "no_key_log", "{name}");
                assert!(t["advice"].as_str().unwrap().contains("--keylog"), "{name}: {t}");
                assert_eq!(t["may_carry_websocket"], true, "{name}: {t}");
                assert!(!ws, "{name}: decoded without keys?");
                assert!(
                    events
                        .iter()
                        .any(|e| e["type"] == "finding" && e["code"] == "tls_not_decrypted"),
                    "{name}: no tls_not_decrypted finding"
                );
            }
            // No record failed authentication in a clean capture.
            let failed = t["client_to_server"]["failed_records"].as_u64().unwrap()
                + t["server_to_client"]["failed_records"].as_u64().unwrap();
            assert_eq!(failed, 0, "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} TLS connections checked");
}

/// Every secret of every key log: never printed, in any format, even with frames and -v.
#[test]
fn no_secret_reaches_any_output() {
    let mut runs = 0;
    for c in cases() {
        let Some(keys) = &c.keys else { continue };
        let text = std::fs::read_to_string(keys).unwrap();
        let secrets: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter(|s| s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|s| s.to_ascii_lowercase())
            .collect();
        assert!(!secrets.is_empty());
        let p = c.pcap.to_str().unwrap();
        let k = keys.to_str().unwrap();
        for args in [
            vec!["export", p, "--keylog", k, "--frames"],
            vec!["export", p, "--keylog", k, "--format", "json"],
            vec!["report", p, "--keylog", k, "--no-redact"],
            vec!["--text", "-v", p, "--keylog", k],
        ] {
            let o = wsscope(&args, &[]);
            runs += 1;
            let all = [o.stdout, o.stderr].concat();
            let all = String::from_utf8_lossy(&all).to_ascii_lowercase();
            for s in &secrets {
                assert!(!all.contains(s.as_str()), "{args:?} printed a secret");
                // Nor its base64 (payloads are base64 in JSON).
                let raw: Vec<u8> = (0..s.len() / 2)
                    .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                use base64::Engine;
                let b64 =
                    base64::engine::general_purpose::STANDARD.encode(&raw).to_ascii_lowercase();
                assert!(!all.contains(&b64), "{args:?} printed a secret in base64");
            }
        }
    }
    assert!(runs >= 20);
}

#[test]
fn sslkeylogfile_is_read_when_set_and_said_so() {
    let dir = testdata("captures/tls");
    let pcap = dir.join("py-tls12-gcm.pcap");
    let keys = dir.join("py-tls12-gcm.keys");
    let o =
        wsscope(&["--text", pcap.to_str().unwrap()], &[("SSLKEYLOGFILE", keys.to_str().unwrap())]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("(from SSLKEYLOGFILE)"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("decrypted, WebSocket inside"), "{out}");
    // A key log that cannot be read stops the run before any output, naming it.
    let o = wsscope(&["--text", pcap.to_str().unwrap(), "--keylog", "/nonexistent/keys.log"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/keys.log") && err.contains("--keylog"), "{err}");
}

#[test]
fn the_report_lists_tls_connections_and_says_why_not_decrypted() {
    let dir = testdata("captures/tls");
    let o = wsscope(&["report", dir.join("tls-nokeys.pcap").to_str().unwrap()], &[]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["summary"]["tls_connections"], 1);
    assert_eq!(r["summary"]["tls_decrypted"], 0);
    assert_eq!(r["summary"]["websocket_connections"], 0);
    let why = r["summary"]["no_websocket"].to_string();
    assert!(why.contains("TLS") && why.contains("--keylog"), "{why}");
    let t = &r["tls"][0];
    assert_eq!(t["sni"], "localhost");
    assert_eq!(t["decryption"], "no_key_log");
    assert_eq!(t["may_carry_websocket"], true);
    // With the keys of another session: "no keys", naming the client random to look for.
    let other = dir.join("py-tls13.keys");
    let o = wsscope(
        &[
            "report",
            dir.join("tls-nokeys.pcap").to_str().unwrap(),
            "--keylog",
            other.to_str().unwrap(),
        ],
        &[],
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["tls"][0]["decryption"], "no_keys");
    assert!(r["tls"][0]["advice"].as_str().unwrap().contains("client random"));
    // Decrypted: counted, listed with its WebSocket row under the same id.
    let o = wsscope(
        &[
            "report",
            dir.join("mixed.pcap").to_str().unwrap(),
            "--keylog",
            dir.join("mixed.keys").to_str().unwrap(),
        ],
        &[],
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["summary"]["websocket_connections"], 2);
    assert_eq!(r["summary"]["tls_decrypted"], 1);
    let id = &r["tls"][0]["id"];
    assert!(r["connections"].as_array().unwrap().iter().any(|c| &c["id"] == id));
}

/// A packet lost in the middle of a record: that record's plaintext is a gap of exactly its
/// length, nothing is shown from it, and every later record (and message) is decrypted — the
/// next record header is found and its sequence number recovered.
#[test]
fn a_lost_segment_costs_its_record_and_nothing_after() {
    if std::env::var_os("WSSCOPE_SKIP_TSHARK").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TSHARK is set (editcap comes with tshark)");
        return;
    }
    let dir = testdata("captures/tls");
    let tmp = tempfile::tempdir().unwrap();
    let lossy = tmp.path().join("lossy.pcap");
    // Packet 24: 1400 bytes inside the client's 40960-byte binary message (three records).
    let st = Command::new("editcap")
        .arg(dir.join("py-tls12-gcm.pcap"))
        .arg(&lossy)
        .arg("24")
        .status()
        .expect("editcap (wireshark-common) is not installed");
    assert!(st.success());
    let keys = dir.join("py-tls12-gcm.keys");
    let events = ndjson(&export(&lossy, Some(&keys), &[]));
    let gaps: Vec<&Value> = events.iter().filter(|e| e["type"] == "gap").collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["length"], 16384, "the whole record's plaintext, exactly");
    assert_eq!(gaps[0]["direction"], "client_to_server");
    for e in &events {
        if e["type"] == "finding" {
            let code = e["code"].as_str().unwrap();
            assert!(!code.starts_with("tls_"), "{e}");
        }
    }
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("py-tls12-gcm.truth.json")).unwrap(),
    )
    .unwrap();
    let want: Vec<(String, u64)> = truth["connections"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["length"] != 40960)
        .map(|m| (m["direction"].as_str().unwrap().to_string(), m["length"].as_u64().unwrap()))
        .collect();
    let got: Vec<(String, u64)> = events
        .iter()
        .filter(|e| e["type"] == "message" && e["complete"] == true)
        .map(|e| (e["direction"].as_str().unwrap().to_string(), e["length"].as_u64().unwrap()))
        .collect();
    let sorted = |mut v: Vec<(String, u64)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(got), sorted(want), "every other message, complete");
    let tls = events.iter().find(|e| e["type"] == "tls").unwrap();
    assert_eq!(tls["tls"]["decryption"], "decrypted");
}

/// The secrets a pcapng file holds before its first packet serve every input of the run, also
/// one read before it (inputs are checked when the run begins; since 2026-12-08 a file after
/// the first is closed until its turn, and hands its secrets over when checked).
#[test]
fn a_later_pcapng_files_secrets_serve_an_earlier_input() {
    let tls = testdata("captures/tls");
    let (plain, dsb) = (tls.join("py-tls13.pcap"), tls.join("tls13-dsb.pcapng"));
    let alone = wsscope(&["report", "--fail-on", "never", plain.to_str().unwrap()], &[]);
    let alone: Value = serde_json::from_slice(&alone.stdout).unwrap();
    assert_eq!(alone["summary"]["tls_decrypted"], 0, "no keys of its own");
    let o = wsscope(
        &["report", "--fail-on", "never", plain.to_str().unwrap(), dsb.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let first: Vec<&Value> =
        doc["connections"].as_array().unwrap().iter().filter(|c| c["input"] == 0).collect();
    assert!(!first.is_empty(), "the first input's connections are decrypted and listed");
    assert_eq!(doc["summary"]["tls_decrypted"], doc["summary"]["tls_connections"]);
}
