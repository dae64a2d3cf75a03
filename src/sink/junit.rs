//! JUnit XML for CI systems that render test reports (Jenkins, GitLab, GitHub actions that read
//! JUnit), rendered from the report, so it is redacted as the report is.
//!
//! - A `wsscope` suite first, with the run's own test cases: `at least N WebSocket
//!   connections` (`--require-connections`), `the input was read to its end` (only when the run
//!   failed before, as with a `-w` file that could not be written), and always `every failing
//!   finding is on a listed connection`, which fails when the summary counts findings at or
//!   above `--fail-on` (or violations) that no connection's test case shows; then one
//!   `<testsuite>` per input (named after it, as given on the command line), one `<testcase>`
//!   per connection.
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

use super::report::{ConnectionReport, Report, SeverityCounts};
use crate::analyzer::checks::{CheckId, Severity};
use crate::policy::{Policy, Rule};
use crate::tcp::Direction;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

// What the JUnit file is made of: borrowed from the report as it is built (`report --junit`),
// or read from a report's JSON (`wsscope merge --junit`), so that both write the same file
// without a copy of the report.

/// The report's JSON but its connections, as far as the JUnit file needs it.
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    redaction: Option<Redaction<'a>>,
    #[serde(borrow)]
    inputs: Vec<InputRow<'a>>,
    #[serde(borrow)]
    summary: SummaryRow<'a>,
    policy: Policy,
    #[serde(borrow)]
    exit: Exit<'a>,
}

#[derive(Deserialize)]
struct Redaction<'a> {
    #[serde(borrow)]
    subprotocols: Cow<'a, str>,
    #[serde(borrow)]
    patterns: Vec<Named<'a>>,
    payloads: bool,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct InputRow<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SummaryRow<'a> {
    #[serde(borrow)]
    no_websocket: Vec<Cow<'a, str>>,
    findings: SeverityCounts,
    findings_allowed: SeverityCounts,
    violations: BTreeMap<Rule, u64>,
}

#[derive(Deserialize)]
struct Exit<'a> {
    #[serde(borrow)]
    fail_on: Cow<'a, str>,
    require_connections: Option<u64>,
    #[serde(borrow)]
    reasons: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

/// What the run's suites say besides the connections.
struct Head<'a> {
    /// The redaction rules in one line.
    redaction: Option<String>,
    inputs: Vec<Cow<'a, str>>,
    no_websocket: Vec<Cow<'a, str>>,
    policy: Policy,
    fail_on: Cow<'a, str>,
    require_connections: Option<u64>,
    reasons: Vec<Cow<'a, str>>,
    /// The error that stopped the run before its input ended (`exit.error`).
    error: Option<Cow<'a, str>>,
    /// The summary's findings the policy does not allow.
    counted: SeverityCounts,
    /// The summary's policy violations.
    violations: u64,
}

/// One connection's row.
#[derive(Deserialize)]
struct Conn<'a> {
    id: u64,
    #[serde(borrow)]
    client: Cow<'a, str>,
    #[serde(borrow)]
    server: Cow<'a, str>,
    #[serde(borrow)]
    community_id: Cow<'a, str>,
    input: usize,
    duration: f64,
    #[serde(borrow)]
    handshake: Handshake<'a>,
    #[serde(borrow)]
    findings: Vec<Finding<'a>>,
    findings_total: u64,
    #[serde(borrow)]
    violations: Vec<Violation<'a>>,
}

#[derive(Deserialize)]
struct Handshake<'a> {
    #[serde(borrow)]
    path: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Finding<'a> {
    code: CheckId,
    severity: Severity,
    #[serde(borrow)]
    rfc: Cow<'a, str>,
    direction: Option<Direction>,
    packet: u64,
    offset: u64,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(default)]
    allowed: bool,
    default_severity: Option<Severity>,
}

#[derive(Deserialize)]
struct Violation<'a> {
    rule: Rule,
    direction: Option<Direction>,
    packet: Option<u64>,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

impl<'a> From<&'a ConnectionReport> for Conn<'a> {
    fn from(c: &'a ConnectionReport) -> Self {
        Conn {
            id: c.id.0,
            client: Cow::Borrowed(&c.client),
            server: Cow::Borrowed(&c.server),
            community_id: Cow::Owned(c.community_id.to_string()),
            input: c.input,
            duration: c.duration,
            handshake: Handshake { path: c.handshake.path.as_deref().map(Cow::Borrowed) },
            findings: c
                .findings
                .iter()
                .map(|f| Finding {
                    code: f.code,
                    severity: f.severity,
                    rfc: Cow::Borrowed(f.rfc),
                    direction: f.direction,
                    packet: f.packet,
                    offset: f.offset,
                    message: Cow::Borrowed(&f.message),
                    allowed: f.allowed,
                    default_severity: f.default_severity,
                })
                .collect(),
            findings_total: c.findings_total,
            violations: c
                .violations
                .iter()
                .map(|v| Violation {
                    rule: v.rule,
                    direction: v.direction,
                    packet: v.packet,
                    message: Cow::Borrowed(&v.message),
                })
                .collect(),
        }
    }
}

impl Redaction<'_> {
    /// As [`crate::redact::Rules::summary`].
    fn summary(&self) -> String {
        crate::redact::summary_of(
            self.subprotocols == "all",
            self.patterns.iter().map(|p| p.name.as_ref()),
            self.payloads,
        )
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
    let mut out = Vec::new();
    write(report, &mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// [`render`], written to `out` as it is made: no copy of the file is held (a report of many
/// connections once held its cases and their text besides the report).
pub fn write(report: &Report, out: &mut dyn Write) -> Result<(), Failed> {
    let head = Head {
        redaction: report.redaction.as_ref().map(crate::redact::Rules::summary),
        inputs: report.inputs.iter().map(|i| Cow::Borrowed(i.input.name.as_str())).collect(),
        no_websocket: report
            .summary
            .no_websocket
            .iter()
            .map(|w| Cow::Borrowed(w.as_str()))
            .collect(),
        policy: report.policy.clone(),
        fail_on: Cow::Borrowed(&report.exit.fail_on),
        require_connections: report.exit.require_connections,
        reasons: report.exit.reasons.iter().map(|r| Cow::Borrowed(r.as_str())).collect(),
        error: report.exit.error.as_deref().map(Cow::Borrowed),
        counted: report.summary.findings.not_allowed(&report.summary.findings_allowed),
        violations: report.summary.violations.values().sum(),
    };
    let conn = |i: usize| Ok(Conn::from(&*report.connections[i]));
    write_parts(&head, report.connections.len(), &conn, out)
}

/// [`render`] from a report merged by `wsscope merge`: its JSON, whose `connections` are
/// `rows` (each row's text).
pub fn render_merged(
    doc: &serde_json::Value,
    rows: &[Box<serde_json::value::RawValue>],
) -> Result<String, String> {
    let mut out = Vec::new();
    write_merged(doc, rows, &mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// [`render_merged`], written to `out` as it is made.
pub fn write_merged(
    doc: &serde_json::Value,
    rows: &[Box<serde_json::value::RawValue>],
    out: &mut dyn Write,
) -> Result<(), Failed> {
    let doc = Doc::deserialize(doc).map_err(|e| Failed::Report(format!("{e}")))?;
    let head = Head {
        redaction: doc.redaction.as_ref().map(Redaction::summary),
        inputs: doc.inputs.into_iter().map(|i| i.name).collect(),
        no_websocket: doc.summary.no_websocket,
        policy: doc.policy,
        fail_on: doc.exit.fail_on,
        require_connections: doc.exit.require_connections,
        reasons: doc.exit.reasons,
        error: doc.exit.error,
        counted: doc.summary.findings.not_allowed(&doc.summary.findings_allowed),
        violations: doc.summary.violations.values().sum(),
    };
    let conn = |i: usize| {
        serde_json::from_str::<Conn>(rows[i].get())
            .map_err(|e| Failed::Report(format!("connections: {e}")))
    };
    write_parts(&head, rows.len(), &conn, out)
}

/// Why a JUnit file was not written.
#[derive(Debug)]
pub enum Failed {
    /// The report is not one wsscope wrote.
    Report(String),
    /// Writing failed.
    Write(std::io::Error),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Report(e) => write!(f, "not a wsscope report: {e}"),
            Failed::Write(e) => write!(f, "{e}"),
        }
    }
}

impl From<std::io::Error> for Failed {
    fn from(e: std::io::Error) -> Self {
        Failed::Write(e)
    }
}

/// Writes the file from the head and the `count` connections `conn` gives, in two passes over
/// them: the first counts each suite's tests, failures and time (the suites' attributes), the
/// second writes each connection's test case as it is made.
fn write_parts<'a>(
    head: &Head<'_>,
    count: usize,
    conn: &dyn Fn(usize) -> Result<Conn<'a>, Failed>,
    out: &mut dyn Write,
) -> Result<(), Failed> {
    let threshold = match head.fail_on.as_ref() {
        "never" => None,
        s => Some(
            Severity::deserialize(serde_json::Value::from(s))
                .map_err(|e| Failed::Report(format!("exit.fail_on: {e}")))?,
        ),
    };
    let failing = |f: &Finding| !f.allowed && threshold.is_some_and(|t| f.severity >= t);
    // The run's own test cases, in a `wsscope` suite before the inputs'.
    let mut run = Vec::new();
    if let Some(n) = head.require_connections {
        let unmet: Vec<&Cow<str>> =
            head.reasons.iter().filter(|r| r.contains("--require-connections")).collect();
        let why = head.no_websocket.join("\n");
        run.push(Case {
            classname: "wsscope.run",
            name: format!("at least {n} WebSocket connection{}", if n == 1 { "" } else { "s" }),
            time: 0.0,
            failures: unmet.iter().map(|r| (r.to_string(), format!("{r}\n{why}"))).collect(),
            types: if unmet.is_empty() { vec![] } else { vec!["require_connections".into()] },
            out: Vec::new(),
        });
    }
    // A run that failed before its input ended (a -w file that could not be written) fails
    // the build even when what was read is clean.
    if let Some(e) = &head.error {
        run.push(Case {
            classname: "wsscope.run",
            name: "the input was read to its end".to_string(),
            time: 0.0,
            failures: vec![(e.to_string(), format!("the run failed before its input ended: {e}"))],
            types: vec!["run_failed".into()],
            out: Vec::new(),
        });
    }
    // First pass: what the connections' test cases show, against the summary's counts, and
    // each input's suite: (tests, failures, time), summed in the report's order.
    let (mut listed_findings, mut listed_violations) = (0u64, 0u64);
    let mut suites: Vec<(usize, usize, f64)> = vec![(0, 0, 0.0); head.inputs.len()];
    let mut inputs = Vec::with_capacity(count);
    for i in 0..count {
        let c = conn(i)?;
        let failures = c.findings.iter().filter(|f| failing(f)).count() as u64;
        listed_findings += failures;
        listed_violations += c.violations.len() as u64;
        inputs.push(c.input);
        if let Some(s) = suites.get_mut(c.input) {
            s.0 += 1;
            s.1 += usize::from(failures > 0 || !c.violations.is_empty());
            s.2 += c.duration.max(0.0);
        }
    }
    run.push(unlisted_case(head, threshold, listed_findings, listed_violations));
    let failed = |cases: &[Case]| cases.iter().filter(|c| !c.failures.is_empty()).count();
    let tests = run.len() + suites.iter().map(|s| s.0).sum::<usize>();
    let failures = failed(&run) + suites.iter().map(|s| s.1).sum::<usize>();
    let mut props = Vec::new();
    if let Some(r) = &head.redaction {
        props.push(("wsscope.redaction", r.clone()));
    }
    props.push(("wsscope.fail_on", head.fail_on.to_string()));
    if let Some(p) = policy_summary(&head.policy) {
        props.push(("wsscope.policy", p));
    }

    let mut out = std::io::BufWriter::new(out);
    let out = &mut out;
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="wsscope" tests="{tests}" failures="{failures}" errors="0">"#
    )?;
    let time: f64 = run.iter().map(|c| c.time).sum();
    suite_head(out, "wsscope", (run.len(), failed(&run), time), &props)?;
    for c in &run {
        write_case(out, c)?;
    }
    writeln!(out, "  </testsuite>")?;
    // Second pass: one suite per input, its connections in the report's order; a test case's
    // ordinal counts the input's connections to the same server and path before it.
    let mut order: Vec<usize> = (0..count).filter(|&i| inputs[i] < head.inputs.len()).collect();
    order.sort_by_key(|&i| inputs[i]);
    let mut next = order.into_iter().peekable();
    for (index, input) in head.inputs.iter().enumerate() {
        suite_head(out, input, suites[index], &props)?;
        // (server, path without query) → connections so far.
        let mut ordinals: HashMap<(String, String), usize> = HashMap::new();
        while let Some(i) = next.next_if(|&i| inputs[i] == index) {
            let c = conn(i)?;
            let path = c.handshake.path.as_deref().map(without_query);
            let path = path.unwrap_or_else(|| "(no handshake)".to_string());
            let n = ordinals.entry((c.server.to_string(), path.clone())).or_default();
            *n += 1;
            // CI servers tell tests apart by class and name, not by suite: with several inputs
            // the name starts with the input's, so the same connection in two inputs is two
            // tests.
            let name = match head.inputs.len() {
                2.. => format!("{input}: {} {path} #{n}", c.server),
                _ => format!("{} {path} #{n}", c.server),
            };
            write_case(out, &connection_case(&c, name, &failing))?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")?;
    out.flush()?;
    Ok(())
}

/// A suite's opening line and properties: (tests, failures, time).
fn suite_head(
    out: &mut dyn Write,
    name: &str,
    (tests, failures, time): (usize, usize, f64),
    props: &[(&str, String)],
) -> std::io::Result<()> {
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="0" skipped="0" time="{}">"#,
        attr(name),
        seconds(time)
    )?;
    writeln!(out, "    <properties>")?;
    for (k, v) in props {
        writeln!(out, r#"      <property name="{k}" value="{}"/>"#, attr(v))?;
    }
    writeln!(out, "    </properties>")
}

/// One test case.
fn write_case(out: &mut dyn Write, c: &Case) -> std::io::Result<()> {
    writeln!(
        out,
        r#"    <testcase classname="{}" name="{}" time="{}">"#,
        c.classname,
        attr(&c.name),
        seconds(c.time)
    )?;
    if !c.failures.is_empty() {
        let n = c.failures.len();
        let mut message = if n == 1 {
            c.failures[0].0.clone()
        } else {
            let shown: Vec<&str> = c.failures.iter().take(3).map(|f| f.0.as_str()).collect();
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
        writeln!(
            out,
            r#"      <failure type="{}" message="{}">{}</failure>"#,
            attr(&c.types.join(", ")),
            attr(&message),
            text(&body.join("\n"))
        )?;
    }
    if !c.out.is_empty() {
        writeln!(out, "      <system-out>{}</system-out>", text(&c.out.join("\n")))?;
    }
    writeln!(out, "    </testcase>")
}

/// The findings that count toward `--fail-on` and the violations the report's summary counts
/// but no connection lists (on a TLS connection that is not WebSocket, past a connection's
/// listing limits, on a row left out under the memory budget): one test case, failing when there
/// are any, so that the JUnit file fails whenever they make the run fail. It is always there, so a
/// run that finds no connection still has a test.
fn unlisted_case(
    head: &Head<'_>,
    threshold: Option<Severity>,
    listed_findings: u64,
    listed_violations: u64,
) -> Case {
    let c = &head.counted;
    let counted =
        [(Severity::Info, c.info), (Severity::Warning, c.warning), (Severity::Error, c.error)]
            .into_iter()
            .filter(|(s, _)| threshold.is_some_and(|t| *s >= t))
            .map(|(_, n)| n)
            .sum::<u64>();
    let findings = counted.saturating_sub(listed_findings);
    let violations = head.violations.saturating_sub(listed_violations);
    let mut case = Case {
        classname: "wsscope.run",
        name: "every failing finding is on a listed connection".to_string(),
        time: 0.0,
        failures: Vec::new(),
        types: Vec::new(),
        out: Vec::new(),
    };
    if findings + violations > 0 {
        let what = match (findings, violations) {
            (f, 0) => format!("{f} finding{} at or above --fail-on {}", plural(f), head.fail_on),
            (0, v) => format!("{v} policy violation{}", plural(v)),
            (f, v) => format!(
                "{f} finding{} at or above --fail-on {} and {v} policy violation{}",
                plural(f),
                head.fail_on,
                plural(v)
            ),
        };
        let summary = format!("{what} counted but not listed on a connection");
        let text = format!(
            "{summary}: on TLS connections that are not WebSocket, past a connection's listing \
             limits, or on connections the memory budget left out of the report; the report's \
             summary counts them (summary.findings_by_code, summary.violations)"
        );
        case.failures.push((summary, text));
        case.types.push("unlisted".into());
    }
    case
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn connection_case(c: &Conn<'_>, name: String, failing: &dyn Fn(&Finding) -> bool) -> Case {
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
fn policy_summary(p: &Policy) -> Option<String> {
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
