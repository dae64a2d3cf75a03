//! What a CI job relies on: the JUnit file (the JUnit schema, stable names, failures that say
//! who broke what and where) and the report's policy (allowed and re-graded checks,
//! thresholds, the exit status and its reasons).

use crate::util::{testdata, write_session_pcap, ws_handshake};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wsscope::tcp::Direction;
use wsscope::ws::encode::frame;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).current_dir(root()).args(args).output().unwrap()
}

/// Runs `report` with `args` plus `--junit`, returning the report, the XML and the exit status.
fn report_and_junit(args: &[&str]) -> (Value, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut all = vec!["report", "-q", "--junit", junit.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = wsscope(&all);
    let code = o.status.code().unwrap();
    assert!(code < 2, "{all:?}: {}", String::from_utf8_lossy(&o.stderr));
    let doc = serde_json::from_slice(&o.stdout).unwrap();
    (doc, std::fs::read_to_string(junit).unwrap(), code)
}

/// The JUnit file is valid against the schema Jenkins validates against
/// (`testdata/junit/junit.xsd`: xunit-plugin's `junit-10.xsd` rules, the Ant/Surefire format),
/// checked by `xmllint --schema`, and — element by element, so that a failure says where — by
/// the same rules below: allowed and required attributes, allowed children, whether text may
/// appear, and counts that agree with the test cases.
fn check_junit_schema(xml: &str) {
    xmllint_schema(xml);
    struct Rule {
        attrs: &'static [&'static str],
        required: &'static [&'static str],
        children: &'static [&'static str],
        text: bool,
    }
    let rerun = Rule {
        attrs: &["message", "type"],
        required: &["type"],
        children: &["stackTrace", "system-out", "system-err"],
        text: true,
    };
    let rule = |name: &str| -> Option<Rule> {
        Some(match name {
            "testsuites" => Rule {
                attrs: &["name", "time", "tests", "failures", "errors"],
                required: &[],
                children: &["testsuite"],
                text: false,
            },
            "testsuite" => Rule {
                attrs: &[
                    "name",
                    "tests",
                    "failures",
                    "errors",
                    "group",
                    "time",
                    "skipped",
                    "timestamp",
                    "hostname",
                    "id",
                    "package",
                    "file",
                    "log",
                    "url",
                ],
                required: &["name", "tests", "failures", "errors"],
                children: &["testsuite", "properties", "testcase", "system-out", "system-err"],
                text: false,
            },
            "properties" => {
                Rule { attrs: &[], required: &[], children: &["property"], text: false }
            }
            "property" => Rule {
                attrs: &["name", "value"],
                required: &["name", "value"],
                children: &[],
                text: false,
            },
            "testcase" => Rule {
                attrs: &["name", "time", "classname", "group"],
                required: &["name"],
                children: &[
                    "skipped",
                    "error",
                    "failure",
                    "rerunFailure",
                    "rerunError",
                    "flakyFailure",
                    "flakyError",
                    "system-out",
                    "system-err",
                ],
                text: false,
            },
            "failure" | "error" | "skipped" => {
                Rule { attrs: &["type", "message"], required: &[], children: &[], text: true }
            }
            "system-out" | "system-err" | "stackTrace" => {
                Rule { attrs: &[], required: &[], children: &[], text: true }
            }
            "rerunFailure" | "rerunError" | "flakyFailure" | "flakyError" => Rule { ..rerun },
            _ => return None,
        })
    };
    // SUREFIRE_TIME: (([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})? — digits, at most
    // three decimals; no sign, no exponent.
    let time_ok = |t: &str| {
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        int.chars().all(|c| c.is_ascii_digit() || c == ',')
            && frac.len() <= 3
            && frac.chars().all(|c| c.is_ascii_digit())
    };
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not XML: {e}\n{xml}"));
    assert_eq!(doc.root_element().tag_name().name(), "testsuites");
    for n in doc.descendants().filter(|n| n.is_element()) {
        let name = n.tag_name().name();
        let r = rule(name).unwrap_or_else(|| panic!("<{name}> is not in the JUnit schema"));
        for a in n.attributes() {
            assert!(r.attrs.contains(&a.name()), "<{name} {}=…> is not in the schema", a.name());
            if a.name() == "time" && name != "testcase" {
                assert!(time_ok(a.value()), "<{name} time={:?}>", a.value());
            }
        }
        for req in r.required {
            assert!(n.attribute(*req).is_some(), "<{name}> lacks {req}");
        }
        for c in n.children() {
            if c.is_element() {
                let cn = c.tag_name().name();
                assert!(r.children.contains(&cn), "<{cn}> may not be inside <{name}>");
            } else if c.is_text() && !r.text {
                let t = c.text().unwrap_or_default();
                assert!(t.trim().is_empty(), "text {t:?} inside <{name}>");
            }
        }
        // The counts say what the suite holds.
        if name == "testsuite" {
            let cases: Vec<_> = n.children().filter(|c| c.has_tag_name("testcase")).collect();
            let failed =
                cases.iter().filter(|c| c.children().any(|f| f.has_tag_name("failure"))).count();
            assert_eq!(n.attribute("tests"), Some(cases.len().to_string().as_str()));
            assert_eq!(n.attribute("failures"), Some(failed.to_string().as_str()));
            for c in &cases {
                assert!(time_ok(c.attribute("time").unwrap_or("0")));
                assert!(
                    c.children().filter(|f| f.has_tag_name("failure")).count() <= 1,
                    "one failure per test case (Jenkins and GitLab show one)"
                );
            }
        }
    }
}

/// `xmllint --noout --schema testdata/junit/junit.xsd` accepts `xml` (`.ci/run` installs
/// libxml2-utils; without it the test says how to get it; `WSSCOPE_SKIP_XMLLINT=1` skips it).
fn xmllint_schema(xml: &str) {
    if std::env::var_os("WSSCOPE_SKIP_XMLLINT").is_some() {
        return;
    }
    let o = xmllint(xml);
    assert!(
        o.status.success(),
        "not valid against junit.xsd: {}\n{xml}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `xmllint --noout --schema testdata/junit/junit.xsd` on `xml`.
fn xmllint(xml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("testdata/junit/junit.xsd"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("xmllint: {e} (apt-get install libxml2-utils)"))
}

/// The schema check can fail: the XSD rejects what Jenkins rejects.
#[test]
fn the_junit_schema_rejects_what_jenkins_rejects() {
    if std::env::var_os("WSSCOPE_SKIP_XMLLINT").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_XMLLINT is set");
        return;
    }
    let bad = [
        r#"<testsuites><testsuite name="a" tests="1" failures="0" errors="0" time="13.51552677154541"/></testsuites>"#,
        r#"<testsuites><testsuite tests="1" failures="0" errors="0"/></testsuites>"#,
        r#"<testsuites><testcase name="t"/></testsuites>"#,
        r#"<testsuites><testsuite name="a" tests="1" failures="0" errors="0"><testcase name="t" colour="red"/></testsuite></testsuites>"#,
    ];
    for xml in bad {
        let o = xmllint(xml);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "accepted: {xml}");
        assert!(err.contains("fails to validate") && !err.contains("compile"), "{err}");
    }
    xmllint_schema(
        r#"<testsuites><testsuite name="a" tests="1" failures="0" errors="0" time="1,234.5"><testcase name="t" time="0.02"><failure message="m" type="x">text</failure></testcase></testsuite></testsuites>"#,
    );
}

/// The test case names of a JUnit file, by suite.
fn names(xml: &str) -> Vec<(String, Vec<String>)> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|s| {
            let cases = s
                .children()
                .filter(|c| c.has_tag_name("testcase"))
                .map(|c| c.attribute("name").unwrap().to_string())
                .collect();
            (s.attribute("name").unwrap().to_string(), cases)
        })
        .collect()
}

/// A copy of the classic pcap file `from` with TCP port `old` replaced by `new` (both
/// directions), checksums adjusted (RFC 1624): the same session, recorded from another client
/// port.
fn with_port(from: &Path, to: &Path, old: u16, new: u16) {
    let mut b = std::fs::read(from).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
    assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 1, "Ethernet");
    let mut at = 24;
    let mut changed = 0;
    while at + 16 <= b.len() {
        let caplen = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let p = at + 16;
        if b[p + 12..p + 14] == [0x08, 0x00] && b[p + 14 + 9] == 6 {
            let tcp = p + 14 + usize::from(b[p + 14] & 0x0f) * 4;
            for port in [tcp, tcp + 2] {
                if u16::from_be_bytes([b[port], b[port + 1]]) == old {
                    b[port..port + 2].copy_from_slice(&new.to_be_bytes());
                    let sum = u16::from_be_bytes([b[tcp + 16], b[tcp + 17]]);
                    // HC' = ~(~HC + ~m + m')
                    let mut s = u32::from(!sum) + u32::from(!old) + u32::from(new);
                    while s > 0xffff {
                        s = (s & 0xffff) + (s >> 16);
                    }
                    b[tcp + 16..tcp + 18].copy_from_slice(&(!(s as u16)).to_be_bytes());
                    changed += 1;
                }
            }
        }
        at = p + caplen;
    }
    assert!(changed > 10, "{changed} ports rewritten");
    std::fs::write(to, b).unwrap();
}

#[test]
fn junit_follows_the_junit_schema() {
    let dir = tempfile::tempdir().unwrap();
    let unmasked = dir.path().join("unmasked.pcap");
    let mut ex = ws_handshake().to_vec();
    ex.push((Direction::ClientToServer, frame(true, 0, 1, None, b"unmasked from the client")));
    ex.push((Direction::ClientToServer, frame(true, 0, 1, None, b"and again <&>\"'")));
    write_session_pcap(&unmasked, &ex);
    let unmasked = unmasked.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["testdata/captures/real/py-basic.pcap"],
        vec!["testdata/captures/real/concurrent.pcap", "testdata/captures/real/bad-accept.pcap"],
        vec![unmasked, "--fail-on", "info", "--require-connections", "3"],
        vec![
            "testdata/captures/real/py-basic.pcap",
            "--max-ping-rtt",
            "10us",
            "--require-subprotocol",
            "chat",
            "--max-message-bytes",
            "100",
            "--severity",
            "request_origin_missing=error",
        ],
        vec!["testdata/captures/cases/not_ws_443.pcap", "--require-connections", "1"],
        vec!["testdata/captures/tls/tls-nokeys.pcap", "testdata/captures/real/midstream.pcap"],
        // A finding on a TLS connection that is not WebSocket: counted, on no connection row.
        vec!["testdata/captures/tls/tls-nokeys.pcap", "--fail-on", "info"],
    ];
    for args in runs {
        let (doc, xml, code) = report_and_junit(&args);
        check_junit_schema(&xml);
        // The run's suite, then as many suites as inputs.
        let suites = names(&xml);
        let inputs = doc["inputs"].as_array().unwrap().len();
        assert_eq!(suites.len(), 1 + inputs, "{args:?}\n{xml}");
        assert_eq!(suites[0].0, "wsscope", "{args:?}\n{xml}");
        assert!(
            suites[0].1.contains(&"every failing finding is on a listed connection".to_string()),
            "{args:?}\n{xml}"
        );
        assert_eq!(code == 1, xml.contains("<failure"), "{args:?}: exit {code}\n{xml}");
    }
}

#[test]
fn failures_name_the_side_and_the_packet_one_finding_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("unmasked.pcap");
    let mut ex = ws_handshake().to_vec();
    ex.push((Direction::ClientToServer, frame(true, 0, 1, None, b"unmasked from the client")));
    ex.push((Direction::ServerToClient, frame(true, 0, 1, Some([1, 2, 3, 4]), b"masked")));
    write_session_pcap(&pcap, &ex);
    let (doc, xml, code) = report_and_junit(&[pcap.to_str().unwrap(), "--max-message-bytes", "8"]);
    assert_eq!(code, 1);
    let x = roxmltree::Document::parse(&xml).unwrap();
    let failure = x.descendants().find(|n| n.has_tag_name("failure")).unwrap();
    let body = failure.text().unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let findings = doc["connections"][0]["findings"].as_array().unwrap();
    let errors = findings.iter().filter(|f| f["severity"] == "error").count();
    let violations = doc["connections"][0]["violations"].as_array().unwrap().len();
    assert_eq!(lines.len(), errors + violations, "{body}");
    assert!(
        lines.iter().any(|l| l.starts_with("error client_frame_unmasked by the client, packet ")),
        "{body}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("error server_frame_masked by the server, packet ")),
        "{body}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("policy max_message_bytes by the client, packet ")),
        "{body}"
    );
    let message = failure.attribute("message").unwrap();
    assert!(message.starts_with(&format!("{} failures: ", lines.len())), "{message}");
    assert!(message.contains("client_frame_unmasked (client, packet "), "{message}");
    // The client's endpoint is in the output, not in the name.
    let case = failure.parent().unwrap();
    let client = doc["connections"][0]["client"].as_str().unwrap();
    assert!(!case.attribute("name").unwrap().contains(client));
    let out = case.children().find(|n| n.has_tag_name("system-out")).unwrap().text().unwrap();
    assert!(out.contains(client) && out.contains("community_id 1:"), "{out}");
}

#[test]
fn junit_names_are_the_same_for_two_recordings_of_one_session() {
    // Two real recordings of one script (other client ports, keys, times)…
    let (_, a, _) = report_and_junit(&["testdata/junit/chat-1.pcap"]);
    let (_, b, _) = report_and_junit(&["testdata/junit/chat-2.pcap"]);
    let (na, nb) = (names(&a), names(&b));
    assert_eq!(na[1].1, vec!["127.0.0.1:8080 /chat #1".to_string()]);
    assert_eq!((&na[0], &na[1].1), (&nb[0], &nb[1].1));
    // …and py-basic with its client's port rewritten.
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("py-basic.pcap");
    with_port(&testdata("captures/real/py-basic.pcap"), &moved, 54910, 41234);
    let (da, a, _) = report_and_junit(&["testdata/captures/real/py-basic.pcap"]);
    let (db, b, _) = report_and_junit(&[moved.to_str().unwrap()]);
    assert_eq!(da["connections"][0]["client"], "127.0.0.1:54910");
    assert_eq!(db["connections"][0]["client"], "127.0.0.1:41234");
    assert_eq!(names(&a)[1].1, names(&b)[1].1);
    assert_eq!(names(&a)[1].1, vec!["127.0.0.1:19001 /py-basic #1".to_string()]);
    // Two inputs in one run: CI servers key tests on class and name, so each name starts with
    // its input's.
    let (_, xml, _) =
        report_and_junit(&["testdata/junit/chat-1.pcap", "testdata/junit/chat-2.pcap"]);
    let n = names(&xml);
    assert_eq!(n[1].1, vec!["testdata/junit/chat-1.pcap: 127.0.0.1:8080 /chat #1".to_string()]);
    assert_eq!(n[2].1, vec!["testdata/junit/chat-2.pcap: 127.0.0.1:8080 /chat #1".to_string()]);
    // Several connections to one server and path are numbered in order of their start.
    let (_, xml, _) = report_and_junit(&["testdata/captures/real/concurrent.pcap"]);
    let n = names(&xml);
    assert_eq!(n[1].0, "testdata/captures/real/concurrent.pcap");
    assert_eq!(n[1].1.len(), 5, "{n:?}");
    assert!(n[1].1.iter().all(|s| s.starts_with("127.0.0.1:19011 /concurrent/")), "{n:?}");
}

/// `--require-subprotocol` judges what the server selected, not its redacted text, and blames
/// the client when it did not offer the subprotocol (helper-52: a server that selected a
/// token redaction hid was said not to have; a client that offered only another was not
/// blamed).
#[test]
fn a_required_subprotocol_is_judged_on_the_real_token_and_blames_the_right_side() {
    let dir = tempfile::tempdir().unwrap();
    let want = "graphql-transport-ws";
    let case = |name: &str, offered: &str, selected: &str| {
        let pcap = dir.path().join(format!("{name}.pcap"));
        let mut request = String::from(
            "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: http://example.com\r\n",
        );
        if !offered.is_empty() {
            request += &format!("Sec-WebSocket-Protocol: {offered}\r\n");
        }
        let mut response = String::from(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
        );
        if !selected.is_empty() {
            response += &format!("Sec-WebSocket-Protocol: {selected}\r\n");
        }
        let ex = vec![
            (Direction::ClientToServer, format!("{request}\r\n").into_bytes()),
            (Direction::ServerToClient, format!("{response}\r\n").into_bytes()),
        ];
        write_session_pcap(&pcap, &ex);
        let args = [pcap.to_str().unwrap(), "--require-subprotocol", want];
        // Redacting every subprotocol (the header named) must not change the verdict.
        let mut redacted = args.to_vec();
        redacted.extend(["--redact-header", "Sec-WebSocket-Protocol"]);
        let (doc, _, code) = report_and_junit(&redacted);
        let v = doc["connections"][0]["violations"].as_array().unwrap().clone();
        (code, v, doc)
    };
    let (code, v, doc) = case("selected", &format!("chat, {want}"), want);
    assert_eq!((code, v.len()), (0, 0), "{v:?}");
    // The required token is kept; the other one is still redacted.
    let offered = doc["connections"][0]["handshake"]["offered_subprotocols"].to_string();
    assert!(
        offered.contains(want) && offered.contains("redacted") && !offered.contains("\"chat\""),
        "{offered}"
    );
    let (code, v, _) = case("other", "chat", "chat");
    assert_eq!((code, v[0]["direction"].as_str()), (1, Some("client_to_server")), "{v:?}");
    assert!(v[0]["message"].as_str().unwrap().starts_with("the client did not offer"), "{v:?}");
    let (code, v, _) = case("not_selected", &format!("chat, {want}"), "chat");
    assert_eq!((code, v[0]["direction"].as_str()), (1, Some("server_to_client")), "{v:?}");
    assert!(
        v[0]["message"].as_str().unwrap().starts_with(&format!("the client offered \"{want}\"")),
        "{v:?}"
    );
}

/// A finding that makes the run fail but is on no connection row (here on a TLS connection
/// that is not WebSocket) fails the run's test case: the JUnit file fails when the run does.
#[test]
fn a_failing_finding_on_no_listed_connection_fails_the_runs_test_case() {
    let cap = "testdata/captures/tls/tls-nokeys.pcap";
    let (doc, xml, code) = report_and_junit(&[cap, "--fail-on", "info"]);
    assert_eq!(code, 1);
    assert_eq!(doc["connections"].as_array().unwrap().len(), 0, "{doc}");
    let x = roxmltree::Document::parse(&xml).unwrap();
    let failure = x.descendants().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(failure.attribute("type"), Some("unlisted"), "{xml}");
    let case = failure.parent().unwrap();
    assert_eq!(case.attribute("name"), Some("every failing finding is on a listed connection"));
    assert!(
        failure.attribute("message").unwrap().starts_with("1 finding at or above --fail-on info"),
        "{xml}"
    );
    // At the default level the same run passes, and so does its test case.
    let (_, xml, code) = report_and_junit(&[cap]);
    assert_eq!(code, 0);
    assert!(!xml.contains("<failure"), "{xml}");
}

#[test]
fn allowed_findings_are_reported_but_never_fail() {
    let cap = "testdata/captures/real/py-basic.pcap";
    let (doc, xml, code) = report_and_junit(&[cap, "--fail-on", "info"]);
    assert_eq!(code, 1);
    assert!(xml.contains("<failure type=\"request_origin_missing\""), "{xml}");
    assert_eq!(doc["policy"]["allow"], serde_json::json!([]));
    let (doc, xml, code) =
        report_and_junit(&[cap, "--fail-on", "info", "--allow", "request_origin_missing"]);
    assert_eq!(code, 0, "{}", doc["exit"]);
    assert!(!xml.contains("<failure"), "{xml}");
    assert!(xml.contains("(allowed by the policy)"), "{xml}");
    let f = &doc["connections"][0]["findings"][0];
    assert_eq!(
        (f["code"].as_str(), f["allowed"].as_bool()),
        (Some("request_origin_missing"), Some(true))
    );
    assert_eq!(doc["summary"]["findings"]["info"], 1);
    assert_eq!(doc["summary"]["findings_allowed"]["info"], 1);
    assert_eq!(doc["policy"]["allow"], serde_json::json!(["request_origin_missing"]));
}

#[test]
fn severity_regrades_a_check() {
    let cap = "testdata/captures/real/py-basic.pcap";
    let (doc, _, code) = report_and_junit(&[cap, "--severity", "request_origin_missing=error"]);
    assert_eq!(code, 1);
    let f = &doc["connections"][0]["findings"][0];
    assert_eq!(f["severity"], "error");
    assert_eq!(f["default_severity"], "info");
    assert_eq!(doc["summary"]["findings"]["error"], 1);
    assert_eq!(doc["summary"]["findings"]["info"], 0);
    assert!(doc["exit"]["reasons"][0].as_str().unwrap().contains("--fail-on error (errors 1"));
    assert_eq!(doc["policy"]["severity"]["request_origin_missing"], "error");
    // An error re-graded to a warning no longer fails --fail-on error.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("unmasked.pcap");
    let mut ex = ws_handshake().to_vec();
    ex.push((Direction::ClientToServer, frame(true, 0, 1, None, b"unmasked")));
    write_session_pcap(&pcap, &ex);
    let p = pcap.to_str().unwrap();
    assert_eq!(report_and_junit(&[p]).2, 1);
    assert_eq!(report_and_junit(&[p, "--severity", "client_frame_unmasked=warning"]).2, 0);
    assert_eq!(report_and_junit(&[p, "--allow", "client_frame_unmasked"]).2, 0);
}

#[test]
fn thresholds_fail_with_a_reason_each_whatever_fail_on_says() {
    let cap = "testdata/captures/real/py-basic.pcap";
    // The session: 87 µs ping, largest message 306 bytes, no subprotocol, clean close.
    let (doc, _, code) = report_and_junit(&[
        cap,
        "--max-ping-rtt",
        "1ms",
        "--max-message-bytes",
        "306",
        "--require-clean-close",
    ]);
    assert_eq!((code, doc["exit"]["reasons"].as_array().unwrap().len()), (0, 0), "{}", doc["exit"]);
    let (doc, xml, code) = report_and_junit(&[
        cap,
        "--fail-on",
        "never",
        "--max-ping-rtt",
        "50us",
        "--max-message-bytes",
        "300",
        "--require-subprotocol",
        "chat",
    ]);
    assert_eq!(code, 1);
    let reasons: Vec<&str> =
        doc["exit"]["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].starts_with("1 pong answered later than --max-ping-rtt 0.050ms"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("1 message larger than --max-message-bytes 300"), "{reasons:?}");
    assert!(reasons[2].starts_with("1 connection without the subprotocol"), "{reasons:?}");
    assert_eq!(doc["summary"]["violations"]["max_ping_rtt"], 1);
    let v = &doc["connections"][0]["violations"];
    assert_eq!(v[0]["rule"], "require_subprotocol");
    assert_eq!(v[0]["direction"], "client_to_server", "the client did not offer it");
    let late = v.as_array().unwrap().iter().find(|v| v["rule"] == "max_ping_rtt").unwrap();
    assert_eq!(late["direction"], "server_to_client");
    assert!(late["packet"].as_u64().is_some());
    assert!(late["message"].as_str().unwrap().contains("after 0.087ms"), "{late}");
    assert!(xml.contains("policy max_ping_rtt by the server, packet "), "{xml}");
    assert_eq!(doc["policy"]["max_ping_rtt"], 0.00005);
    // A connection still open at the end of the capture is not closed cleanly.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("open.pcap");
    let mut ex = ws_handshake().to_vec();
    ex.push((Direction::ClientToServer, frame(true, 0, 1, Some([1, 2, 3, 4]), b"hi")));
    write_session_pcap(&pcap, &ex);
    let (doc, _, code) = report_and_junit(&[pcap.to_str().unwrap(), "--require-clean-close"]);
    assert_eq!(code, 1);
    let v = &doc["connections"][0]["violations"][0];
    assert_eq!(v["rule"], "require_clean_close");
    assert!(v["message"].as_str().unwrap().contains("neither side sent a close frame"), "{v}");
}

#[test]
fn a_policy_file_says_the_same_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "fail-on = \"info\"\nallow = [\"request_origin_missing\"]\nmax-ping-rtt = \"50us\"\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let cap = "testdata/captures/real/py-basic.pcap";
    let (doc, _, code) = report_and_junit(&[cap, "--policy", p]);
    assert_eq!(code, 1);
    assert_eq!(doc["exit"]["fail_on"], "info");
    assert_eq!(doc["exit"]["reasons"].as_array().unwrap().len(), 1, "{}", doc["exit"]);
    assert_eq!(doc["policy"]["file"], p);
    let (doc, _, code) = report_and_junit(&[cap, "--policy", p, "--max-ping-rtt", "1s"]);
    assert_eq!(code, 0, "{}", doc["exit"]);
}

#[test]
fn unknown_codes_and_bad_policies_are_usage_errors() {
    let cap = "testdata/captures/real/py-basic.pcap";
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "max_ping_rtt = \"soon\"\n").unwrap();
    for (args, want) in [
        (vec!["--allow", "origin_missing"], "`wsscope checks` lists every code"),
        (vec!["--severity", "client_frame_unmasked"], "give CODE=LEVEL"),
        (vec!["--severity", "client_frame_unmasked=fatal"], "is not a severity"),
        (vec!["--max-ping-rtt", "fast"], "is not a duration"),
        (vec!["--max-message-bytes", "big"], "is not a size"),
        (vec!["--policy", "/nonexistent/policy.toml"], "cannot read it"),
        (vec!["--policy", policy.to_str().unwrap()], "is not a duration"),
    ] {
        let mut all = vec!["report", cap];
        all.extend(args.iter().copied());
        let o = wsscope(&all);
        assert_eq!(o.status.code(), Some(2), "{all:?}");
        assert!(o.stdout.is_empty(), "{all:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{all:?}: {err}");
    }
}

#[test]
fn merge_keeps_the_policy_and_refuses_shares_judged_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let cap = "testdata/captures/real/concurrent.pcap";
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let policy =
        ["--allow", "request_origin_missing", "--fail-on", "info", "--max-ping-rtt", "1us"];
    let one = wsscope(&[&["report", cap, "-q"][..], &policy].concat());
    for (share, file) in [("0/2", "a.json"), ("1/2", "b.json")] {
        let o = wsscope(
            &[&["report", cap, "-q", "--shard", share, "-o", &path(file)][..], &policy].concat(),
        );
        assert!(o.status.code().is_some_and(|c| c < 2), "{o:?}");
    }
    let merged = wsscope(&["merge", &path("a.json"), &path("b.json")]);
    assert_eq!(merged.status.code(), one.status.code());
    assert_eq!(String::from_utf8_lossy(&merged.stdout), String::from_utf8_lossy(&one.stdout));
    let o = wsscope(&["report", cap, "-q", "--shard", "1/2", "-o", &path("c.json")]);
    assert!(o.status.code().is_some_and(|c| c < 2));
    let refused = wsscope(&["merge", &path("a.json"), &path("c.json")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("its policy"), "{refused:?}");
}
