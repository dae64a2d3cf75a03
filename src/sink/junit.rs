//! JUnit XML for CI systems that render test reports (Jenkins, GitLab, GitHub actions that read
//! JUnit), rendered from the report, so it is redacted as the report is.
//!
//! - One `<testsuite>` per input (named after it, as given on the command line), one
//!   `<testcase>` per connection, and with `--require-connections` a `wsscope` suite with one
//!   test case for it.
//! - Test case names stay the same across runs of the same test: the server, the request path
//!   (without its query) and the connection's ordinal among the input's connections to that
//!   server and path — `127.0.0.1:8080 /chat #2` — never the client's random port.
//! - A connection fails when it has findings at or above `--fail-on` that the policy does not
//!   allow, or broke a threshold of the policy: one `<failure>` per test case (Jenkins and
//!   GitLab show one), whose `message` sums them up and whose text lists them one per line, each
//!   naming the side that broke the rule and the packet. The client's endpoint, the Community
//!   ID and the findings that do not fail are in `<system-out>`.
//! - Only elements and attributes of the common JUnit schema (Jenkins' `junit-10.xsd`, the Ant
//!   format) are written: no `properties` inside a test case.

use super::report::Report;
use crate::analyzer::checks::{CheckId, Severity};
use crate::policy::{Policy, Rule};
use crate::tcp::Direction;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write as _;

// What the JUnit file is made of, read from the report's JSON: so `wsscope merge --junit`
// writes, from the merged report, exactly the file one run writes.

#[derive(Deserialize)]
struct Doc {
    redaction: Option<Redaction>,
    inputs: Vec<InputRow>,
    summary: SummaryRow,
    connections: Vec<Connection>,
    policy: Policy,
    exit: Exit,
}

#[derive(Deserialize)]
struct Redaction {
    subprotocols: String,
    patterns: Vec<Named>,
    payloads: bool,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct InputRow {
    name: String,
}

#[derive(Deserialize)]
struct SummaryRow {
    no_websocket: Vec<String>,
}

#[derive(Deserialize)]
struct Exit {
    fail_on: String,
    require_connections: Option<u64>,
    reasons: Vec<String>,
}

#[derive(Deserialize)]
struct Connection {
    id: u64,
    client: String,
    server: String,
    community_id: String,
    input: usize,
    duration: f64,
    handshake: Handshake,
    findings: Vec<Finding>,
    findings_total: u64,
    violations: Vec<Violation>,
}

#[derive(Deserialize)]
struct Handshake {
    path: Option<String>,
}

#[derive(Deserialize)]
struct Finding {
    code: CheckId,
    severity: Severity,
    rfc: String,
    direction: Option<Direction>,
    packet: u64,
    offset: u64,
    message: String,
    #[serde(default)]
    allowed: bool,
    default_severity: Option<Severity>,
}

#[derive(Deserialize)]
struct Violation {
    rule: Rule,
    direction: Option<Direction>,
    packet: Option<u64>,
    message: String,
}

impl Redaction {
    /// As [`crate::redact::Rules::summary`].
    fn summary(&self) -> String {
        let mut parts = vec![
            "header values".to_string(),
            "query values".to_string(),
            if self.subprotocols == "all" {
                "subprotocols".to_string()
            } else {
                "subprotocol credentials".to_string()
            },
            "JSON members".to_string(),
            format!(
                "patterns ({})",
                self.patterns.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ];
        if self.payloads {
            parts.push("payloads".into());
        }
        parts.join(", ")
    }
}

/// One test case, before it is written.
struct Case {
    classname: &'static str,
    name: String,
    time: f64,
    /// (summary for `message`, line for the text), each a finding or violation that fails.
    failures: Vec<(String, String)>,
    /// The failure's `type`: the distinct codes and rules, in order.
    types: Vec<String>,
    out: Vec<String>,
}

/// Renders `report` as JUnit XML; findings at or above its `--fail-on` that the policy does
/// not allow are failures, as is every policy violation.
pub fn render(report: &Report) -> Result<String, String> {
    let doc = serde_json::to_value(report).map_err(|e| e.to_string())?;
    render_json(&doc)
}

/// [`render`] from the report's JSON (a report read back, or merged by `wsscope merge`).
pub fn render_json(doc: &serde_json::Value) -> Result<String, String> {
    let report = Doc::deserialize(doc).map_err(|e| format!("not a wsscope report: {e}"))?;
    let threshold = match report.exit.fail_on.as_str() {
        "never" => None,
        s => Some(
            Severity::deserialize(serde_json::Value::from(s))
                .map_err(|e| format!("exit.fail_on: {e}"))?,
        ),
    };
    Ok(render_doc(&report, threshold))
}

fn render_doc(report: &Doc, threshold: Option<Severity>) -> String {
    let failing = |f: &Finding| !f.allowed && threshold.is_some_and(|t| f.severity >= t);
    let mut suites: Vec<(String, Vec<Case>)> = Vec::new();
    if let Some(n) = report.exit.require_connections {
        let unmet: Vec<&String> =
            report.exit.reasons.iter().filter(|r| r.contains("--require-connections")).collect();
        let why = report.summary.no_websocket.join("\n");
        suites.push((
            "wsscope".to_string(),
            vec![Case {
                classname: "wsscope.run",
                name: format!("at least {n} WebSocket connection{}", if n == 1 { "" } else { "s" }),
                time: 0.0,
                failures: unmet.iter().map(|r| (r.to_string(), format!("{r}\n{why}"))).collect(),
                types: if unmet.is_empty() { vec![] } else { vec!["require_connections".into()] },
                out: Vec::new(),
            }],
        ));
    }
    for (i, input) in report.inputs.iter().enumerate() {
        let mut ordinals: HashMap<(&str, String), usize> = HashMap::new();
        let mut cases = Vec::new();
        for c in report.connections.iter().filter(|c| c.input == i) {
            let path = c.handshake.path.as_deref().map(without_query);
            let path = path.unwrap_or_else(|| "(no handshake)".to_string());
            let n = ordinals.entry((c.server.as_str(), path.clone())).or_default();
            *n += 1;
            cases.push(connection_case(c, format!("{} {path} #{n}", c.server), &failing));
        }
        suites.push((input.name.clone(), cases));
    }

    let failed = |cases: &[Case]| cases.iter().filter(|c| !c.failures.is_empty()).count();
    let tests: usize = suites.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = suites.iter().map(|(_, c)| failed(c)).sum();
    let mut props = Vec::new();
    if let Some(r) = &report.redaction {
        props.push(("wsscope.redaction", r.summary()));
    }
    props.push(("wsscope.fail_on", report.exit.fail_on.clone()));
    if let Some(p) = policy_summary(report) {
        props.push(("wsscope.policy", p));
    }

    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="wsscope" tests="{tests}" failures="{failures}" errors="0">"#
    );
    for (name, cases) in &suites {
        let time: f64 = cases.iter().map(|c| c.time).sum();
        let _ = writeln!(
            x,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="0" time="{}">"#,
            attr(name),
            cases.len(),
            failed(cases),
            seconds(time)
        );
        let _ = writeln!(x, "    <properties>");
        for (k, v) in &props {
            let _ = writeln!(x, r#"      <property name="{k}" value="{}"/>"#, attr(v));
        }
        let _ = writeln!(x, "    </properties>");
        for c in cases {
            let _ = writeln!(
                x,
                r#"    <testcase classname="{}" name="{}" time="{}">"#,
                c.classname,
                attr(&c.name),
                seconds(c.time)
            );
            if !c.failures.is_empty() {
                let n = c.failures.len();
                let mut message = if n == 1 {
                    c.failures[0].0.clone()
                } else {
                    let shown: Vec<&str> =
                        c.failures.iter().take(3).map(|f| f.0.as_str()).collect();
                    format!(
                        "{n} failures: {}{}",
                        shown.join("; "),
                        if n > 3 { format!("; and {} more", n - 3) } else { String::new() }
                    )
                };
                if message.chars().count() > 500 {
                    message = message.chars().take(499).collect::<String>() + "…";
                }
                let body: Vec<&str> = c.failures.iter().map(|f| f.1.as_str()).collect();
                let _ = writeln!(
                    x,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    attr(&c.types.join(", ")),
                    attr(&message),
                    text(&body.join("\n"))
                );
            }
            if !c.out.is_empty() {
                let _ = writeln!(x, "      <system-out>{}</system-out>", text(&c.out.join("\n")));
            }
            let _ = writeln!(x, "    </testcase>");
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    let _ = writeln!(x, "</testsuites>");
    x
}

fn connection_case(c: &Connection, name: String, failing: &dyn Fn(&Finding) -> bool) -> Case {
    let mut case = Case {
        classname: "wsscope.connection",
        name,
        time: c.duration.max(0.0),
        failures: Vec::new(),
        types: Vec::new(),
        out: vec![format!(
            "connection #{}: client {} -> server {}, community_id {}",
            c.id, c.client, c.server, c.community_id
        )],
    };
    let add_type = |case: &mut Case, t: String| {
        if !case.types.contains(&t) {
            case.types.push(t);
        }
    };
    for f in &c.findings {
        let line = finding_line(f);
        if failing(f) {
            let code = f.code.to_string();
            case.failures
                .push((format!("{code} ({})", where_short(f.direction, Some(f.packet))), line));
            add_type(&mut case, code);
        } else {
            case.out.push(line);
        }
    }
    if (c.findings.len() as u64) < c.findings_total {
        case.out.push(format!(
            "({} findings in all; the report lists the first {})",
            c.findings_total,
            c.findings.len()
        ));
    }
    for v in &c.violations {
        let rule = crate::analyzer::checks::json_name(&v.rule);
        case.failures
            .push((format!("{rule} ({})", where_short(v.direction, v.packet)), violation_line(v)));
        add_type(&mut case, rule);
    }
    case
}

/// `error client_frame_unmasked by the client, packet 5 (offset 120): … [RFC 6455 §5.1]`.
fn finding_line(f: &Finding) -> String {
    let graded = match f.default_severity {
        Some(d) => format!(" (re-graded from {d})"),
        None => String::new(),
    };
    format!(
        "{}{graded} {} {}, packet {} (offset {}): {} [{}]{}",
        f.severity,
        f.code,
        by(f.direction),
        f.packet,
        f.offset,
        f.message,
        f.rfc,
        if f.allowed { " (allowed by the policy)" } else { "" }
    )
}

/// `policy max_ping_rtt by the server, packet 21: …`.
fn violation_line(v: &Violation) -> String {
    let packet = v.packet.map(|p| format!(", packet {p}")).unwrap_or_default();
    format!(
        "policy {} {}{packet}: {}",
        crate::analyzer::checks::json_name(&v.rule),
        by(v.direction),
        v.message
    )
}

/// Who broke the rule, as a phrase.
fn by(d: Option<Direction>) -> &'static str {
    match d {
        Some(Direction::ClientToServer) => "by the client",
        Some(Direction::ServerToClient) => "by the server",
        None => "on the connection",
    }
}

/// `client, packet 5`.
fn where_short(d: Option<Direction>, packet: Option<u64>) -> String {
    let side = match d {
        Some(Direction::ClientToServer) => "client",
        Some(Direction::ServerToClient) => "server",
        None => "connection",
    };
    match packet {
        Some(p) => format!("{side}, packet {p}"),
        None => side.to_string(),
    }
}

/// The path of a request target, without its query (which may hold tokens or random values).
fn without_query(target: &str) -> String {
    target.split(['?', '#']).next().unwrap_or(target).to_string()
}

/// The policy in one line, when it says anything.
fn policy_summary(report: &Doc) -> Option<String> {
    let p = &report.policy;
    let mut parts = Vec::new();
    if let Some(f) = &p.file {
        parts.push(format!("--policy {f}"));
    }
    for c in &p.allow {
        parts.push(format!("--allow {c}"));
    }
    for (c, s) in &p.severity {
        parts.push(format!("--severity {c}={s}"));
    }
    if let Some(t) = p.max_ping_rtt {
        parts.push(format!("--max-ping-rtt {}", crate::policy::duration_text(t)));
    }
    if let Some(n) = p.max_message_bytes {
        parts.push(format!("--max-message-bytes {n}"));
    }
    if let Some(s) = &p.require_subprotocol {
        parts.push(format!("--require-subprotocol {s}"));
    }
    if p.require_clean_close {
        parts.push("--require-clean-close".into());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Seconds for a `time` attribute, rounded to the millisecond: digits and at most three
/// decimals, as the schema Jenkins validates against allows (its SUREFIRE_TIME pattern; a
/// fourth decimal makes Jenkins call the file invalid).
fn seconds(t: f64) -> String {
    if !t.is_finite() || t <= 0.0 {
        return "0".into();
    }
    let s = format!("{t:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escapes text content; characters XML 1.0 cannot carry are replaced.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes an attribute value (line breaks and tabs as character references, so that they
/// survive attribute normalisation).
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' if attribute => o.push_str("&#10;"),
            '\t' if attribute => o.push_str("&#9;"),
            '\n' | '\t' => o.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_special_and_control_characters_are_escaped() {
        assert_eq!(super::text("a<b>&\"'\u{1b}\n"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\n");
        assert_eq!(super::attr("a\nb\tc\u{FFFF}"), "a&#10;b&#9;c\u{FFFD}");
    }

    #[test]
    fn times_are_plain_decimals() {
        assert_eq!(super::seconds(0.003047), "0.003");
        assert_eq!(super::seconds(0.0125), "0.013");
        assert_eq!(super::seconds(1e-5), "0");
        assert_eq!(super::seconds(1234.5678), "1234.568");
        assert_eq!(super::seconds(12.0), "12");
        assert_eq!(super::seconds(-1.0), "0");
        assert_eq!(super::seconds(f64::NAN), "0");
    }

    #[test]
    fn names_leave_the_query_out() {
        assert_eq!(super::without_query("/chat?token=abc"), "/chat");
        assert_eq!(super::without_query("/"), "/");
    }
}
