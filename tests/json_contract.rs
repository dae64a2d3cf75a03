//! The JSON outputs are a contract: versioned, documented in docs/, validated here.
//!
//! - `docs/schema/*.json` and `docs/checks.md` are exactly what the code generates;
//! - every output of every capture in `testdata/` validates against its schema (the schemas
//!   forbid unknown fields, like `deny_unknown_fields`);
//! - the report of every real capture equals its committed golden file;
//! - exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error.
//!
//! `WSSCOPE_BLESS=1 cargo test` rewrites the generated docs and the goldens.

use crate::util::{files_ending, testdata, write_session_pcap, ws_handshake};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wsscope::tcp::Direction;
use wsscope::ws::encode::frame;

fn bless() -> bool {
    std::env::var_os("WSSCOPE_BLESS").is_some()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary from the repository root (so paths in outputs are relative and stable).
fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).current_dir(root()).args(args).output().unwrap()
}

/// Compares `actual` with the file at `path` (or rewrites it when blessing), with a framed diff.
fn golden(path: &Path, actual: &str) {
    if bless() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} missing; run with WSSCOPE_BLESS=1", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{} differs (WSSCOPE_BLESS=1 rewrites it).\n--- expected, from line {} ---\n{}\n--- actual ---\n{}\n",
            path.display(),
            first + 1,
            expected.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
            actual.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
        );
    }
}

fn schema(name: &str) -> jsonschema::Validator {
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/schema").join(name)).unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&s).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> =
        v.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path)).take(5).collect();
    assert!(errors.is_empty(), "{what} does not match its schema:\n{}", errors.join("\n"));
}

/// Every capture shipped in testdata, as paths relative to the repository root.
fn captures() -> Vec<String> {
    let mut all = Vec::new();
    for dir in [
        "captures/crafted",
        "captures/real",
        "captures/derived",
        "captures/cases",
        "captures/field",
        "captures/tls",
    ] {
        let d = testdata(dir);
        if !d.exists() {
            continue;
        }
        for ext in [".pcap", ".pcapng"] {
            for p in files_ending(&d, ext) {
                all.push(p.strip_prefix(root()).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    all
}

#[test]
fn generated_docs_are_in_sync_with_the_code() {
    for (name, text) in wsscope::sink::schema::all() {
        golden(&root().join("docs/schema").join(name), &text);
    }
    golden(&root().join("docs/checks.md"), &wsscope::analyzer::checks::catalogue_markdown());
}

#[test]
fn every_report_validates_and_real_captures_match_their_goldens() {
    let v = schema("report.schema.json");
    for cap in captures() {
        let o = wsscope(&["report", &cap, "--fail-on", "never"]);
        assert_eq!(o.status.code(), Some(0), "{cap}: {}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_valid(&v, &doc, &format!("report of {cap}"));
        assert_eq!(doc["schema_version"], 2);
        if cap.starts_with("testdata/captures/real/") {
            let name = Path::new(&cap).file_stem().unwrap().to_string_lossy().into_owned();
            golden(&testdata("golden").join(format!("{name}.report.json")), &text);
        }
    }
}

#[test]
fn every_ndjson_line_and_json_export_validates() {
    let line = schema("ndjson-line.schema.json");
    let doc_schema = schema("export-json.schema.json");
    for cap in captures() {
        let o = wsscope(&["export", &cap, "--frames"]);
        assert!(o.status.success(), "{cap}");
        let text = String::from_utf8(o.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.first().is_some_and(|l| l.contains(r#""type":"begin""#)),
            "{cap}: first line"
        );
        assert!(
            lines.last().is_some_and(|l| l.contains(r#""type":"summary""#)),
            "{cap}: last line"
        );
        for (i, l) in lines.iter().enumerate() {
            assert_valid(
                &line,
                &serde_json::from_str(l).unwrap(),
                &format!("{cap} line {}", i + 1),
            );
        }
        let o = wsscope(&["export", &cap, "--frames", "--format", "json"]);
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_valid(&doc_schema, &doc, &format!("{cap} --format json"));
        // Written an event at a time, yet exactly serde_json's pretty document, with the same
        // events as the NDJSON lines.
        let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        assert!(pretty.as_bytes() == o.stdout, "{cap}: not serde_json's pretty text");
        let events: Vec<Value> =
            lines[1..lines.len() - 1].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(doc["events"].as_array().unwrap(), &events, "{cap}: events");
    }
}

#[test]
fn a_clean_session_exits_0_and_info_findings_count_only_with_fail_on_info() {
    let cap = "testdata/captures/real/py-basic.pcap";
    assert_eq!(wsscope(&["report", cap]).status.code(), Some(0));
    // The Python client sends no Origin header: an informational finding.
    assert_eq!(wsscope(&["report", cap, "--fail-on", "info"]).status.code(), Some(1));
    assert_eq!(wsscope(&["export", cap]).status.code(), Some(0));
}

#[test]
fn a_protocol_violation_exits_1_and_is_in_the_report_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("unmasked.pcap");
    let mut ex = ws_handshake().to_vec();
    ex.push((Direction::ClientToServer, frame(true, 0, 1, None, b"unmasked from the client")));
    write_session_pcap(&pcap, &ex);
    let junit = dir.path().join("junit.xml");
    let o = wsscope(&["report", pcap.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["exit"]["status"], 1);
    assert_eq!(doc["connections"][0]["findings"][0]["code"], "client_frame_unmasked");
    assert_eq!(doc["connections"][0]["findings"][0]["rfc"], "RFC 6455 §5.1, §5.3");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains(r#"<failure type="client_frame_unmasked""#), "{xml}");
    assert!(xml.contains(r#"tests="1" failures="1""#), "{xml}");
    let cid = doc["connections"][0]["community_id"].as_str().unwrap();
    // In the test case's output: the JUnit schema has no properties inside a test case.
    assert!(xml.contains(&format!("community_id {cid}")), "{xml}");
    assert_eq!(
        wsscope(&["report", pcap.to_str().unwrap(), "--fail-on", "never"]).status.code(),
        Some(0)
    );
}

#[test]
fn a_refused_upgrade_is_an_outcome_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("refused.pcap");
    let [req, _] = ws_handshake();
    write_session_pcap(
        &pcap,
        &[
            req,
            (
                Direction::ServerToClient,
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ),
        ],
    );
    let o = wsscope(&["report", pcap.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["summary"]["refused"], 1);
    assert_eq!(doc["connections"][0]["handshake"]["outcome"], "refused");
    assert_eq!(doc["connections"][0]["handshake"]["status"], 403);
    assert_eq!(doc["connections"][0]["findings"][0]["code"], "upgrade_refused");
}

#[test]
fn a_truncated_capture_is_reported_and_analysed_up_to_the_cut() {
    let o = wsscope(&["report", "testdata/captures/crafted/truncated_file.pcap"]);
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["inputs"][0]["end_of_input"]["kind"], "truncated");
    assert_eq!(doc["inputs"][0]["packets"]["packets"], 8);
}

#[test]
fn input_errors_exit_2_before_any_output() {
    for args in [
        vec!["report", "README.md"],
        vec!["report", "/nonexistent.pcap"],
        vec!["report", "testdata/captures/real/py-basic.pcap", "/nonexistent.pcap"],
        vec!["export"],
        vec!["report", "testdata/captures/real/py-basic.pcap", "--max-message-size", "huge"],
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?} wrote output before failing");
        assert!(String::from_utf8_lossy(&o.stderr).starts_with("wsscope: error: "), "{args:?}");
    }
}

#[test]
fn several_inputs_number_connections_uniquely() {
    let cap = "testdata/captures/real/py-basic.pcap";
    let doc: Value = serde_json::from_slice(&wsscope(&["report", cap, cap]).stdout).unwrap();
    let ids: Vec<u64> =
        doc["connections"].as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(doc["connections"][1]["input"], 1);
}

#[test]
fn max_payload_cuts_payloads_for_sharing() {
    let o = wsscope(&["export", "testdata/captures/real/py-basic.pcap", "--max-payload", "4"]);
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if let Some(t) = v["payload"]["text"].as_str() {
            assert!(t.len() <= 4, "{l}");
        }
    }
}

#[test]
fn threads_change_nothing_in_any_output() {
    let caps = captures();
    for cap in &caps {
        for args in [
            vec!["report", cap, "--fail-on", "never"],
            vec!["export", cap, "--frames"],
            vec!["export", cap, "--format", "text", "--color", "never"],
            // Cut by the workers before the merge (after redaction), as by the output.
            vec!["export", cap, "--max-payload", "5", "--redact"],
        ] {
            let one = wsscope(&args);
            let many = wsscope(&[&args[..], &["--threads", "3"]].concat());
            assert_eq!(one.status.code(), many.status.code(), "{args:?}");
            assert!(one.stdout == many.stdout, "{args:?} --threads 3 differs from one thread");
        }
    }
    // Several inputs: connection ids continue across them in both modes.
    let two: Vec<&str> = caps.iter().take(3).map(String::as_str).collect();
    let one = wsscope(&[&["report", "--fail-on", "never"], &two[..]].concat());
    let many = wsscope(&[&["report", "--fail-on", "never", "-j", "2"], &two[..]].concat());
    assert!(one.status.success() && one.stdout == many.stdout, "several inputs");
    let bad = wsscope(&["report", &caps[0], "--threads", "0"]);
    assert_eq!(bad.status.code(), Some(2), "--threads 0 is a usage error");
}

/// `report --shard I/N` on every capture, merged by `wsscope merge`: exactly the bytes of one
/// run's report (and its exit status), with 1 and 3 shares, the shares' own runs on one thread
/// and on two; each share's report validates against the schema.
#[test]
fn merged_shares_are_byte_identical_to_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let validator = schema("report.schema.json");
    let mut merged_any = 0;
    for capture in captures() {
        for (n, threads) in [(1u64, "1"), (3, "1"), (3, "2")] {
            merged_any += u32::from(shares_merge_to_one(&[&capture], n, threads, &dir, &validator));
        }
    }
    assert!(merged_any > 30, "only {merged_any} merges");
}

/// The same with several inputs in one run (`report a.pcap b.pcap …`): connection ids continue
/// across inputs, and every share numbers them as one run does, whichever connections of an
/// input fell in its share.
#[test]
fn merged_shares_of_several_inputs_are_byte_identical_to_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let validator = schema("report.schema.json");
    for sub in ["real", "field"] {
        let mut inputs: Vec<String> =
            captures().into_iter().filter(|c| c.contains(&format!("/{sub}/"))).collect();
        inputs.sort();
        assert!(inputs.len() > 3, "{sub}: {inputs:?}");
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        for (n, threads) in [(2u64, "1"), (3, "1"), (3, "2")] {
            assert!(
                shares_merge_to_one(&inputs, n, threads, &dir, &validator),
                "{sub}: not a report"
            );
        }
    }
}

/// Runs `report INPUTS --shard i/N` for every share, merges them and checks the result is one
/// run's report byte for byte, with its exit status and its JUnit file; false when one run
/// yields no report.
fn shares_merge_to_one(
    inputs: &[&str],
    n: u64,
    threads: &str,
    dir: &tempfile::TempDir,
    validator: &jsonschema::Validator,
) -> bool {
    let junit_one = dir.path().join("one.xml");
    let junit_merged = dir.path().join("merged.xml");
    let (junit_one, junit_merged) = (junit_one.to_str().unwrap(), junit_merged.to_str().unwrap());
    let one = wsscope(&[&["report", "-q", "--force", "--junit", junit_one], inputs].concat());
    let want = String::from_utf8(one.stdout).unwrap();
    if !want.starts_with('{') {
        return false; // not a report (an input wsscope refuses)
    }
    let what = inputs.join(" ");
    let mut files = Vec::new();
    for i in 0..n {
        let f = dir.path().join(format!("share-{i}.json"));
        let share = format!("{i}/{n}");
        let args = ["-q", "--shard", &share, "-j", threads, "--force", "-o", f.to_str().unwrap()];
        let out = wsscope(&[&["report"], inputs, &args[..]].concat());
        assert!(out.status.code().is_some_and(|c| c < 2), "{what} {share}: {out:?}");
        let doc: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_valid(validator, &doc, &format!("{what} share {share}"));
        assert_eq!(doc["shard"]["index"], i);
        files.push(f.to_str().unwrap().to_string());
    }
    files.reverse(); // any order
    let mut args = vec!["merge", "--force", "--junit", junit_merged];
    args.extend(files.iter().map(String::as_str));
    let merged = wsscope(&args);
    assert_eq!(merged.status.code(), one.status.code(), "{what}: exit status {merged:?}");
    let (a, b) = (std::fs::read(junit_one).unwrap(), std::fs::read(junit_merged).unwrap());
    assert!(a == b, "{what}, {n} shares: merge --junit differs from one run's JUnit file");
    let got = String::from_utf8(merged.stdout).unwrap();
    if got != want {
        let line = got.lines().zip(want.lines()).take_while(|(a, b)| a == b).count();
        panic!(
            "{what}, {n} shares, -j {threads}: the merged report differs at line {}:\n  merged: {:?}\n  one run: {:?}",
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
    true
}

#[test]
fn merge_refuses_incomplete_or_foreign_shares() {
    let dir = tempfile::tempdir().unwrap();
    let cap = "testdata/captures/real/concurrent.pcap";
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    for (share, file) in [("0/2", "a.json"), ("1/2", "b.json"), ("0/3", "c.json")] {
        let out = wsscope(&["report", cap, "-q", "--shard", share, "-o", &path(file)]);
        assert!(out.status.success(), "{out:?}");
    }
    let whole = wsscope(&["report", cap, "-q", "-o", &path("whole.json")]);
    assert!(whole.status.success());
    // Share 1 of a run over one more file (an archive that grew between the shares' runs).
    let other = "testdata/captures/real/py-basic.pcap";
    let out = wsscope(&["report", cap, other, "-q", "--shard", "1/2", "-o", &path("d.json")]);
    assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
    // Share 1 analysed with other settings: before, merged without a word into a report no
    // single run gives.
    let flags = ["--max-message-size", "2M", "--community-id-seed", "7"];
    let mut args = vec!["report", cap, "-q", "--shard", "1/2", "-o"];
    let e = path("e.json");
    args.push(&e);
    args.extend(flags);
    assert!(wsscope(&args).status.success());
    let same = wsscope(&["report", cap, "-q", "--shard", "1/2", "--max-message-size", "1024K"]);
    assert!(same.status.success());
    std::fs::write(path("f.json"), &same.stdout).unwrap();
    let merged = wsscope(&["merge", &path("a.json"), &path("f.json")]);
    assert!(merged.status.success(), "1M and 1024K are the same setting: {merged:?}");
    for (args, want) in [
        (
            vec![path("a.json"), path("e.json")],
            "--community-id-seed 7 here, --community-id-seed 0 there; \
             --max-message-size 2097152 here, --max-message-size 1048576 there",
        ),
        (vec![path("a.json"), path("d.json")], "not the same inputs"),
        (vec![path("d.json"), path("a.json")], "not the same inputs"),
        (vec![path("a.json")], "share(s) 1 of 2 missing"),
        (vec![path("a.json"), path("a.json")], "share 0 is also in"),
        (vec![path("a.json"), path("c.json")], "the first report is of 2 shares"),
        (vec![path("whole.json")], "is not a share of a sharded run"),
    ] {
        let mut all = vec!["merge".to_string()];
        all.extend(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = wsscope(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{all:?}: {err}");
    }
    // Shares edited by hand, or made with a huge N: refused, never a panic or a huge list.
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("a.json")).unwrap()).unwrap();
    for (index, count, file) in [(7, 2, "g.json"), (0, 0, "h.json"), (0, 1_000_000_000, "i.json")] {
        let mut edited = a.clone();
        edited["shard"]["index"] = index.into();
        edited["shard"]["count"] = count.into();
        std::fs::write(path(file), edited.to_string()).unwrap();
        let out = wsscope(&["merge", &path(file), &path("b.json")]);
        assert_eq!(out.status.code(), Some(2), "{index}/{count}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("which wsscope report --shard never writes"), "{err}");
    }
    // Shares whose budget evicted connections (ids and TCP counters then differ): refused,
    // naming the share and the cure, not "not the same inputs".
    let mut evicted = a.clone();
    evicted["inputs"][0]["memory"]["connections_evicted"] = 3.into();
    let n = evicted["inputs"][0]["tcp"]["connections"].as_u64().unwrap();
    evicted["inputs"][0]["tcp"]["connections"] = (n + 3).into();
    std::fs::write(path("k.json"), evicted.to_string()).unwrap();
    let out = wsscope(&["merge", &path("k.json"), &path("b.json")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the memory budget evicted connections in") && err.contains("k.json"));
    assert!(err.contains("--memory-budget large enough"), "{err}");
    // The same file read from two directories (two machines' mounts) is the same input.
    let moved = dir.path().join("elsewhere");
    std::fs::create_dir(&moved).unwrap();
    let copy = moved.join("concurrent.pcap");
    std::fs::copy(cap, &copy).unwrap();
    let copy = copy.to_str().unwrap();
    let out = wsscope(&["report", copy, "-q", "--shard", "1/2", "-o", &path("l.json")]);
    assert!(out.status.success(), "{out:?}");
    let out = wsscope(&["merge", &path("a.json"), &path("l.json"), "-o", &path("m.json")]);
    assert!(out.status.success(), "{out:?}");
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("m.json")).unwrap()).unwrap();
    assert_eq!(merged["inputs"][0]["name"], cap, "share 0's name");
    // Refusals say what differs.
    let out =
        wsscope(&["report", cap, "-q", "--shard", "1/2", "--no-redact", "-o", &path("n.json")]);
    assert!(out.status.code().is_some_and(|c| c < 2));
    let out = wsscope(&[
        "report",
        cap,
        "-q",
        "--shard",
        "1/2",
        "--fail-on",
        "info",
        "-o",
        &path("o.json"),
    ]);
    assert!(out.status.code().is_some_and(|c| c < 2));
    for (other, want) in [
        ("n.json", "its redaction differs from"),
        ("n.json", "--no-redact here, redaction there"),
        (
            "o.json",
            "--fail-on info here, --fail-on error there; every share must run with the same",
        ),
    ] {
        let out = wsscope(&["merge", &path("a.json"), &path(other)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(2) && err.contains(want), "{other}: {err}");
    }
    // The key log is compared by its lines: another file is refused, a copy elsewhere is not.
    let tls = "testdata/captures/tls/py-tls13.pcap";
    let keys = "testdata/captures/tls/py-tls13.keys";
    let moved_keys = moved.join("copy.keys");
    std::fs::copy(keys, &moved_keys).unwrap();
    let other_keys = "testdata/captures/tls/mixed.keys";
    for (share, keylog, file) in [
        ("0/2", keys, "t0.json"),
        ("1/2", moved_keys.to_str().unwrap(), "t1.json"),
        ("1/2", other_keys, "t2.json"),
    ] {
        let out = wsscope(&[
            "report",
            tls,
            "-q",
            "--shard",
            share,
            "--keylog",
            keylog,
            "-o",
            &path(file),
        ]);
        assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
    }
    let out = wsscope(&["merge", &path("t0.json"), &path("t1.json")]);
    assert!(out.status.code().is_some_and(|c| c < 2), "the same lines: {out:?}");
    let out = wsscope(&["merge", &path("t0.json"), &path("t2.json")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("--keylog sha1:"), "{err}");
    // --ws-port is a set: its order and repeats do not make shares differ.
    let ports = [["8080", "9000", "9000"], ["9000", "8080", "8080"]];
    for (share, p) in ports.iter().enumerate() {
        let (name, share) = (path(&format!("p{share}.json")), format!("{share}/2"));
        let mut args = vec!["report", cap, "-q", "--shard", &share, "-o", &name];
        for port in p {
            args.extend(["--ws-port", port]);
        }
        assert!(wsscope(&args).status.code().is_some_and(|c| c < 2));
    }
    let out = wsscope(&["merge", &path("p0.json"), &path("p1.json")]);
    assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
    let out = wsscope(&["report", cap, "-q", "--shard", "5/1000", "-o", &path("j.json")]);
    assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
    let out = wsscope(&["merge", &path("j.json")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("share(s) 0–4, 6–999 of 1000 missing"), "{err}");
    for bad in ["3/3", "1/0", "x", "1/2/3", "a/2", "0/65537", "0/18446744073709551615"] {
        let out = wsscope(&["report", cap, "-q", "--shard", bad]);
        assert_eq!(out.status.code(), Some(2), "--shard {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--shard"), "--shard {bad}");
    }
}
