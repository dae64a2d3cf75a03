//! `--redact` end to end (issue 13): on `testdata/captures/cases/secrets.pcap`, whose truth file
//! lists the credentials it carries (an Authorization header, cookies, a query token, subprotocol
//! tokens, a password in JSON, a STOMP passcode), no output of a redacting run contains any of
//! them, while the same outputs without redaction do — and the analysis is the same either way.

use crate::util::testdata;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const CAPTURE: &str = "testdata/captures/cases/secrets.pcap";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).current_dir(root()).args(args).output().unwrap()
}

fn stdout(args: &[&str]) -> String {
    let o = wsscope(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The credentials of the capture, from its truth file.
fn secrets() -> Vec<String> {
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("captures/cases/secrets.truth.json")).unwrap(),
    )
    .unwrap();
    let s: Vec<String> = truth["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(s.len(), 8);
    s
}

/// The secrets found in `text` (a prefix of 12 characters is enough: the text view cuts long
/// values, and a cut secret is still a leak).
fn leaked(text: &str) -> Vec<String> {
    secrets().into_iter().filter(|s| text.contains(&s[..12])).collect()
}

/// The report and the JUnit file of one run.
fn report(extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut args = vec!["report", CAPTURE, "--junit", junit.to_str().unwrap()];
    args.extend_from_slice(extra);
    let report = stdout(&args);
    (report, std::fs::read_to_string(&junit).unwrap())
}

#[test]
fn no_secret_appears_in_any_output_with_redact() {
    let outputs = [
        ("export", stdout(&["export", CAPTURE, "--redact", "--frames"])),
        ("export --format json", stdout(&["export", CAPTURE, "--redact", "--format", "json"])),
        ("export --format text", stdout(&["export", CAPTURE, "--redact", "--format", "text"])),
        ("--text -v", stdout(&["--text", "-v", "--redact", CAPTURE])),
        ("--threads 2", stdout(&["export", CAPTURE, "--redact", "-j", "2"])),
        ("report", report(&[]).0),
        ("report --junit", report(&[]).1),
    ];
    for (what, out) in &outputs {
        assert_eq!(leaked(out), Vec::<String>::new(), "{what} leaks:\n{out}");
        // The JUnit file names test cases without the query that held the token, and says
        // which rules redacted it.
        let marker = if *what == "report --junit" { "wsscope.redaction" } else { "redacted:" };
        assert!(out.contains(marker), "{what} shows no marker:\n{out}");
    }
}

#[test]
fn without_redaction_the_same_outputs_carry_the_secrets() {
    let all = secrets();
    // export keeps exact data unless asked, even with payloads cut to nothing.
    let export = stdout(&["export", CAPTURE]);
    assert_eq!(leaked(&export), all);
    let cut = stdout(&["export", CAPTURE, "--max-payload", "0"]);
    assert_eq!(leaked(&cut).len(), 6, "the handshake's six secrets:\n{cut}");
    let text = stdout(&["--text", "-v", CAPTURE]);
    // The text view shows the path, the selected protocol and the payloads.
    assert_eq!(leaked(&text).len(), 4, "{text}");
    let (report, junit) = report(&["--no-redact"]);
    // The report has no payloads: the query token and the two subprotocol tokens.
    assert_eq!(leaked(&report).len(), 3, "{report}");
    // Test cases are named by the path without its query (where the token was).
    assert_eq!(leaked(&junit).len(), 0, "{junit}");
}

#[test]
fn redaction_is_recorded_in_every_output() {
    let begin = |args: &[&str]| -> Value {
        serde_json::from_str(stdout(args).lines().next().unwrap()).unwrap()
    };
    assert!(begin(&["export", CAPTURE])["redaction"].is_null());
    let on = begin(&["export", CAPTURE, "--redact-field", "iban"]);
    assert_eq!(on["redaction"]["subprotocols"], "credentials");
    assert!(on["redaction"]["fields"]["names"].as_array().unwrap().contains(&"iban".into()));
    let doc: Value =
        serde_json::from_str(&stdout(&["export", CAPTURE, "--redact", "--format", "json"]))
            .unwrap();
    assert_eq!(doc["redaction"]["payloads"], false);
    let (on, junit) = report(&[]);
    let on: Value = serde_json::from_str(&on).unwrap();
    assert!(on["redaction"].is_object(), "the report redacts by default");
    assert!(junit.contains(r#"<property name="wsscope.redaction""#), "{junit}");
    let (off, junit) = report(&["--no-redact"]);
    let off: Value = serde_json::from_str(&off).unwrap();
    assert!(off["redaction"].is_null());
    assert!(!junit.contains("wsscope.redaction"), "{junit}");
    let text = stdout(&["--text", "--redact", CAPTURE]);
    assert!(text.lines().nth(1).unwrap().starts_with("   redacted: header values"), "{text}");
}

#[test]
fn a_redact_pattern_s_text_is_never_written_into_an_output() {
    // The literal secret as a pattern: the outputs must record that a pattern was added without
    // spelling it out (before, `redaction.patterns[].regex` carried it into every output).
    let secret = &secrets()[0];
    let pattern = regex::escape(secret);
    let (doc, junit) = report(&["--redact-pattern", &pattern]);
    let export = stdout(&["export", CAPTURE, "--redact-pattern", &pattern]);
    for (what, text) in [("report", &doc), ("junit", &junit), ("export", &export)] {
        assert!(leaked(text).is_empty(), "{what} leaks {:?}", leaked(text));
    }
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let patterns = doc["redaction"]["patterns"].as_array().unwrap();
    let user: Vec<&Value> = patterns.iter().filter(|p| p["name"] == "user").collect();
    assert_eq!(user.len(), 1, "{patterns:?}");
    assert!(user[0]["regex"].is_null(), "{patterns:?}");
    assert!(patterns.iter().any(|p| p["name"] == "jwt" && p["regex"].is_string()));
    // The person who typed it still sees it where it was typed.
    let listed = stdout(&["redaction", "--redact-pattern", &pattern]);
    assert!(listed.contains(&pattern), "{listed}");
}

#[test]
fn redaction_happens_after_analysis() {
    let (on, _) = report(&[]);
    let (off, _) = report(&["--no-redact"]);
    let on: Value = serde_json::from_str(&on).unwrap();
    let off: Value = serde_json::from_str(&off).unwrap();
    for key in ["summary", "exit", "inputs"] {
        assert_eq!(on[key], off[key], "{key}");
    }
    let (c_on, c_off) = (&on["connections"][0], &off["connections"][0]);
    for key in ["messages", "findings", "close", "ping_rtt", "duration"] {
        assert_eq!(c_on[key], c_off[key], "{key}");
    }
    assert_eq!(c_on["handshake"]["accept_valid"], true);
    // Lengths are the real ones; only the payload is redacted.
    let events = |args: &[&str]| -> Vec<Value> {
        stdout(args).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let plain = events(&["export", CAPTURE]);
    let dropped = events(&["export", CAPTURE, "--redact-payloads"]);
    assert_eq!(plain.len(), dropped.len());
    for (p, d) in plain.iter().zip(&dropped).filter(|(p, _)| p["type"] == "message") {
        for key in ["length", "captured_length", "wire_length", "complete", "opcode"] {
            assert_eq!(p[key], d[key], "{key}");
        }
        assert_eq!(d["truncated"], true);
        assert_ne!(p["payload"], d["payload"]);
    }
}

#[test]
fn asking_for_redaction_with_w_is_refused_and_the_report_default_says_what_w_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("saved.pcap");
    let w = pcap.to_str().unwrap();
    for args in [
        vec!["export", CAPTURE, "--redact", "-w", w],
        vec!["--text", "--redact-payloads", "-w", w, CAPTURE],
        vec!["report", CAPTURE, "--redact-field", "iban", "-w", w],
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("would hold the packets as captured"), "{e}");
        assert!(!pcap.exists(), "nothing is written when refused");
    }
    let o = wsscope(&["report", CAPTURE, "-w", w]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("holds the packets as captured, not redacted"), "{e}");
    assert_eq!(leaked(&String::from_utf8_lossy(&o.stdout)), Vec::<String>::new());
    // The saved file is the capture: its export carries every secret.
    let saved = stdout(&["export", w]);
    assert_eq!(leaked(&saved), secrets());
}

#[test]
fn no_redact_cannot_be_combined_with_rules() {
    let o = wsscope(&["report", CAPTURE, "--no-redact", "--redact-field", "iban"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn wsscope_redaction_lists_the_rules_with_the_flags_given() {
    let listed = stdout(&["redaction", "--redact-field", "iban", "--redact-payloads"]);
    assert!(listed.contains("iban"), "{listed}");
    assert!(listed.contains("payloads      dropped"), "{listed}");
    let o = wsscope(&["redaction", "--redact-pattern", "("]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a regex"));
}

/// docs/redaction.md shows the default rules exactly as `wsscope redaction` lists them.
#[test]
fn the_documented_default_rules_are_the_code_s() {
    let doc = std::fs::read_to_string(root().join("docs/redaction.md")).unwrap();
    let listed = stdout(&["redaction"]);
    assert!(
        doc.contains(&format!("```text\n$ wsscope redaction\n{listed}```")),
        "docs/redaction.md does not show the output of `wsscope redaction`:\n{listed}"
    );
}
