//! `pipeline`: a whole capture file, from its bytes to every output — what `wsscope FILE`,
//! `wsscope export` (NDJSON, JSON, text) and `wsscope report` (JSON, `--junit`) write, with
//! redaction off and on.
//!
//! Input: the bytes of a pcap or pcapng file. They are written to a per-process, per-thread file
//! (in /dev/shm when it exists) and read by `run::run`, the function every command calls, with
//! the outputs written to memory:
//! - export, not redacted: frame events and payloads on, into the text view (plain and `-v`),
//!   NDJSON and the JSON document at once;
//! - export, redacted (`--redact`, and `--redact-payloads` when the input's length is odd):
//!   NDJSON and the text view;
//! - report, redacted as by default: no payloads, no frame events, into the report, then JUnit
//!   XML from it;
//! - export again with `--threads 2`, NDJSON only, when the input's length is a multiple of 4
//!   (threads cost time; a quarter of the inputs is enough), redacted as above when it is a
//!   multiple of 8 (each worker redacts its own connections).
//!
//! Checks, none of which holds by construction:
//! - every NDJSON line is a JSON object with a `type`; the first is `begin` with the schema
//!   version, the last `summary`; the events between are exactly the JSON document's `events`
//!   (NDJSON is written by sonic-rs, the document by serde_json);
//! - the report is JSON; its counts of WebSocket connections, messages, incomplete messages,
//!   gaps and findings per severity and per check agree with the events export wrote (the
//!   report keeps no payload and no frame events and is redacted, export is not: the analysis
//!   must not differ); the findings the run counted for the exit status are those of the events;
//! - redaction changes what is shown, never what happened: the redacted export has the same
//!   events (type, connection, check, message and gap lengths) as the plain one, and a request's
//!   `X-Api-Key`/`X-Auth-Token` value (4 bytes or more) appears in no redacted handshake;
//! - JUnit is well-formed XML as far as a small scanner can tell (tags, quoted attributes,
//!   entities), with no character XML 1.0 cannot carry, one `<testcase>` per connection and one
//!   `<failure>` per failing finding as its counts say;
//! - the text views carry no control character but newline and tab: no ESC, no other C0, no
//!   DEL, no C1 — a capture cannot drive the terminal;
//! - with `--threads 2`, NDJSON is byte for byte that of one thread, redacted or not.

use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;
use wsscope::analyzer::{AnalyzerConfig, AnalyzerStats};
use wsscope::config::{Input, Source};
use wsscope::event::Event;
use wsscope::limits::TcpLimits;
use wsscope::pipeline::RunSummary;
use wsscope::privileges::Plan;
use wsscope::redact::{Additions, Redactor, Rules};
use wsscope::run::{self, RunConfig};
use wsscope::sink::json::Json;
use wsscope::sink::ndjson::Ndjson;
use wsscope::sink::report::ReportFormat;
use wsscope::sink::text::Text;
use wsscope::sink::{Format, InputInfo, junit};

/// An in-memory output several sinks can share.
#[derive(Clone, Default)]
struct Buf(Rc<RefCell<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.borrow().clone()).expect("outputs are UTF-8")
    }
}

/// Several formats fed the same run.
struct Fan(Vec<Box<dyn Format>>);

impl Format for Fan {
    fn begin(&mut self, input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|f| f.begin(input, redaction))
    }
    fn event(&mut self, event: Event) -> io::Result<()> {
        // Each format owns its event: a copy for all but the last.
        let Some((last, rest)) = self.0.split_last_mut() else { return Ok(()) };
        rest.iter_mut().try_for_each(|f| f.event(event.clone()))?;
        last.event(event)
    }
    fn end(&mut self, i: &InputInfo, s: &RunSummary, a: &AnalyzerStats) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|f| f.end(i, s, a))
    }
    fn finish(&mut self) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|f| f.finish())
    }
}

/// What `wsscope` builds from its flags, for one capture file.
pub fn config(
    path: &Path,
    analyzer: AnalyzerConfig,
    redact: Option<Redactor>,
    threads: usize,
) -> RunConfig {
    RunConfig {
        sources: vec![Source {
            input: Input::File(path.to_path_buf()),
            filter: None,
            max_packets: None,
            duration: None,
            write: None,
            force: false,
            privileges: Plan::Keep,
        }],
        limits: TcpLimits::default(),
        analyzer,
        progress: false,
        notices: false,
        max_payload: None,
        redact,
        threads,
        keylog: None,
        display_filter: None,
    }
}

/// The default rules (`--redact`), with `--redact-payloads` when `payloads`.
pub fn redactor(payloads: bool) -> Redactor {
    Redactor::with_additions(&Additions { payloads, ..Additions::default() })
        .expect("the default rules compile")
}

/// One execution.
pub fn run(data: &[u8]) {
    let path = crate::scratch_path("pipeline");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let threads = data.len().is_multiple_of(4).then_some(data.len().is_multiple_of(8));
    let result = outputs(&path, threads, data.len() % 2 == 1);
    let _ = std::fs::remove_file(&path);
    let Some(o) = result else { return };
    check_text(&o.text);
    check_text(&o.text_verbose);
    check_text(&o.text_redacted);
    let events = check_ndjson(&o.ndjson);
    let doc: Value = serde_json::from_str(&o.json).expect("the JSON export is JSON");
    assert_eq!(doc["events"].as_array().expect("events"), &events, "NDJSON and JSON events differ");
    match &o.ndjson_threads {
        Some((false, threaded)) => {
            assert!(threaded == &o.ndjson, "--threads 2 wrote other NDJSON than one thread");
        }
        Some((true, threaded)) => assert!(
            threaded == &o.ndjson_redacted,
            "--threads 2 --redact wrote other NDJSON than one thread"
        ),
        None => {}
    }
    check_redacted(&events, &check_ndjson(&o.ndjson_redacted));
    let count = |ty: &str| events.iter().filter(|e| e["type"] == ty).count() as u64;
    let findings: Vec<&Value> = events.iter().filter(|e| e["type"] == "finding").collect();
    let by_severity = |s: &str| findings.iter().filter(|f| f["severity"] == s).count() as u64;
    assert_eq!(o.findings, [by_severity("info"), by_severity("warning"), by_severity("error")]);
    let report: Value = serde_json::from_str(&o.report).expect("the report is JSON");
    let summary = &report["summary"];
    let messages: Vec<&Value> = events.iter().filter(|e| e["type"] == "message").collect();
    let incomplete = messages.iter().filter(|m| m["complete"] == false).count() as u64;
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    for f in &findings {
        *by_code.entry(f["code"].as_str().expect("code").to_string()).or_default() += 1;
    }
    // Which findings depend on payloads being kept: only that a message was cut to the limit.
    by_code.remove("message_too_large");
    let mut report_codes: BTreeMap<String, u64> = summary["findings_by_code"]
        .as_object()
        .expect("findings_by_code")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect();
    report_codes.remove("message_too_large");
    let too_large = findings.iter().filter(|f| f["code"] == "message_too_large").count() as u64;
    let severities = &summary["findings"];
    let report_counts = [&severities["info"], &severities["warning"], &severities["error"]]
        .map(|v| v.as_u64().expect("count"));
    let got = (
        summary["websocket_connections"].as_u64(),
        summary["messages"].as_u64(),
        summary["incomplete_messages"].as_u64(),
        summary["gaps"].as_u64(),
        report_counts,
        report_codes,
    );
    let want = (
        Some(count("connection")),
        // The report counts complete messages, and the others apart.
        Some(messages.len() as u64 - incomplete),
        Some(incomplete),
        Some(count("gap")),
        // message_too_large is info: the report (no payloads) never has it.
        [o.findings[0] - too_large, o.findings[1], o.findings[2]],
        by_code,
    );
    assert_eq!(
        got, want,
        "the report and export disagree (connections, messages, incomplete, gaps, severities, codes)"
    );
    check_junit(&o.junit, &report);
}

struct Outputs {
    text: String,
    text_verbose: String,
    text_redacted: String,
    ndjson: String,
    ndjson_redacted: String,
    json: String,
    findings: [u64; 3],
    report: String,
    junit: String,
    /// With `--threads 2` (redacted or not), when run.
    ndjson_threads: Option<(bool, String)>,
}

/// Runs export (plain and redacted) and report on the file, and export with `--threads 2`
/// (redacted when `threads` is `Some(true)`); `None` when it is not a capture wsscope reads.
fn outputs(path: &Path, threads: Option<bool>, redact_payloads: bool) -> Option<Outputs> {
    let (text, text_verbose, ndjson, json) = Default::default();
    let fan = Fan(vec![
        Box::new(Text::new(Buf::clone(&text), false, false, false)),
        Box::new(Text::new(Buf::clone(&text_verbose), false, true, false)),
        Box::new(Ndjson::new(Buf::clone(&ndjson), false)),
        Box::new(Json::new(Buf::clone(&json))),
    ]);
    let export = AnalyzerConfig { emit_frames: true, ..AnalyzerConfig::default() };
    let outcome = run::run(config(path, export.clone(), None, 1), fan).ok()?;
    let (text_redacted, ndjson_redacted) = (Buf::default(), Buf::default());
    let fan = Fan(vec![
        Box::new(Text::new(Buf::clone(&text_redacted), false, true, false)),
        Box::new(Ndjson::new(Buf::clone(&ndjson_redacted), false)),
    ]);
    let redacted = Some(redactor(redact_payloads));
    run::run(config(path, export.clone(), redacted, 1), fan).expect("redacted export reads it");
    let report_cfg = AnalyzerConfig { keep_payloads: false, ..AnalyzerConfig::default() };
    let r =
        run::run(config(path, report_cfg, Some(redactor(false)), 1), ReportFormat::new("warning"))
            .expect("the report reads what export read");
    let report = r.format.into_report(Some(1));
    let mut report_json = Vec::new();
    ReportFormat::write(&report, &mut report_json).expect("writing to memory");
    let ndjson_threads = threads.map(|redact| {
        let out = Buf::default();
        let r = redact.then(|| redactor(redact_payloads));
        run::run(config(path, export, r, 2), Ndjson::new(Buf::clone(&out), false))
            .expect("threads read what one thread read");
        (redact, out.text())
    });
    Some(Outputs {
        text: text.text(),
        text_verbose: text_verbose.text(),
        text_redacted: text_redacted.text(),
        ndjson: ndjson.text(),
        ndjson_redacted: ndjson_redacted.text(),
        json: json.text(),
        findings: outcome.findings,
        report: String::from_utf8(report_json).expect("UTF-8"),
        junit: junit::render(&report).expect("the JUnit file of a report wsscope wrote"),
        ndjson_threads,
    })
}

/// The redacted export has the plain export's events, and none of its handshakes shows a
/// whole-value secret header.
fn check_redacted(plain: &[Value], redacted: &[Value]) {
    let shape = |e: &Value| {
        let keys =
            ["type", "connection", "code", "severity", "length", "captured_length", "complete"];
        keys.map(|k| e[k].clone())
    };
    assert_eq!(plain.len(), redacted.len(), "redaction changed the number of events");
    for (p, r) in plain.iter().zip(redacted) {
        assert_eq!(shape(p), shape(r), "redaction changed an event:\n  {p}\n  {r}");
        let Some(headers) = p["request"]["headers"].as_array() else { continue };
        let shown = r["request"].to_string();
        for h in headers {
            let (Some(name), Some(value)) = (h[0].as_str(), h[1].as_str()) else { continue };
            let whole = ["x-api-key", "x-auth-token"].contains(&name.to_ascii_lowercase().as_str());
            if whole && value.len() >= 4 {
                let quoted = Value::from(value).to_string();
                let inner = &quoted[1..quoted.len() - 1];
                assert!(!shown.contains(inner), "{name}: {value:?} shown redacted: {shown}");
            }
        }
    }
}

/// No control character but newline and tab in text meant for a terminal.
fn check_text(text: &str) {
    for (n, line) in text.split('\n').enumerate() {
        if let Some(c) = line.chars().find(|&c| c != '\t' && c.is_control()) {
            panic!("control character {:?} on text line {}: {line:?}", c, n + 1);
        }
    }
}

/// Every line a JSON object with a type; begin first, summary last. Returns the events.
fn check_ndjson(ndjson: &str) -> Vec<Value> {
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("NDJSON line {l:?}: {e}")))
        .collect();
    assert!(lines.iter().all(|l| l["type"].is_string()), "a line without a type");
    let (first, rest) = lines.split_first().expect("a begin line");
    let (last, events) = rest.split_last().expect("a summary line");
    assert_eq!(first["type"], "begin");
    assert_eq!(first["schema_version"], wsscope::sink::SCHEMA_VERSION);
    assert_eq!(last["type"], "summary");
    assert!(events.iter().all(|e| e["type"] != "begin" && e["type"] != "summary"));
    events.to_vec()
}

/// A small XML scanner: tags balance, attributes are quoted, `&` starts an entity, no
/// character XML 1.0 cannot carry; counts as the report says.
fn check_junit(xml: &str, report: &Value) {
    for c in xml.chars() {
        assert!(!c.is_control() || c == '\n' || c == '\t', "{c:?} in JUnit XML");
    }
    let mut stack: Vec<&str> = Vec::new();
    let (mut testcases, mut failures) = (0u64, 0u64);
    let mut rest =
        xml.strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#).expect("XML declaration");
    while let Some(lt) = rest.find('<') {
        check_content(&rest[..lt]);
        let gt = rest[lt..].find('>').map(|g| lt + g).expect("an unclosed tag");
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "closing tag {name}");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "tag {name:?}"
        );
        while !attrs.trim().is_empty() {
            let (key, value) = attrs.trim_start().split_once("=\"").expect("attribute=\"value\"");
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "attribute {key:?}"
            );
            let end = value.find('"').expect("closing quote");
            assert!(!value[..end].contains('<'), "< in an attribute");
            check_content(&value[..end]);
            attrs = &value[end + 1..];
        }
        match name {
            "testcase" => testcases += 1,
            "failure" => failures += 1,
            _ => {}
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_content(rest);
    assert!(stack.is_empty(), "unclosed {stack:?}");
    let listed = report["connections"].as_array().expect("connections").len() as u64;
    // The run's own test cases: --require-connections, and whether every failing finding is
    // on a listed connection.
    let run = 1 + u64::from(report["exit"]["require_connections"].is_u64());
    assert_eq!(testcases, listed + run, "one testcase per connection, and the run's");
    let tests = xml.split("tests=\"").nth(1).and_then(|t| t.split('"').next());
    assert_eq!(tests, Some((listed + run).to_string().as_str()));
    let declared = xml.split("failures=\"").nth(1).and_then(|t| t.split('"').next());
    assert_eq!(declared, Some(failures.to_string().as_str()), "failures attribute");
    // The JUnit file fails exactly when the run does.
    assert_eq!(report["exit"]["status"] == 1, failures > 0, "failures and the exit status");
}

/// Character data: `&` only as one of the five entities.
fn check_content(s: &str) {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        rest = &rest[amp..];
        let ok =
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().find(|e| rest.starts_with(**e));
        let e = ok.unwrap_or_else(|| panic!("a bare & in XML: {:?}", &rest[..rest.len().min(12)]));
        rest = &rest[e.len()..];
    }
}
