//! JUnit XML for CI systems that render test reports: one test suite per report, one test case
//! per connection, one failure per finding at or above --fail-on. Rendered from the report, so
//! it is redacted as the report is; a `wsscope.redaction` property says with which rules. Each
//! connection's test case carries its Community ID as a `community_id` property.

use super::report::Report;
use crate::analyzer::checks::Severity;
use std::fmt::Write as _;

/// Renders `report` as JUnit XML; findings at or above `threshold` are failures.
pub fn render(report: &Report, threshold: Option<Severity>) -> String {
    let failing = |s: Severity| threshold.is_some_and(|t| s >= t);
    let unmet: Vec<&String> =
        report.exit.reasons.iter().filter(|r| r.contains("--require-connections")).collect();
    let failures: usize = report
        .connections
        .iter()
        .map(|c| c.findings.iter().filter(|f| failing(f.severity)).count())
        .sum::<usize>()
        + unmet.len();
    let tests = report.connections.len() + usize::from(report.exit.require_connections.is_some());
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(x, r#"<testsuites name="wsscope" tests="{tests}" failures="{failures}">"#);
    let _ = writeln!(
        x,
        r#"  <testsuite name="wsscope" tests="{tests}" failures="{failures}" errors="0">"#
    );
    if let Some(r) = &report.redaction {
        let _ = writeln!(x, "    <properties>");
        let _ = writeln!(
            x,
            r#"      <property name="wsscope.redaction" value="{}"/>"#,
            esc(&r.summary())
        );
        let _ = writeln!(x, "    </properties>");
    }
    if let Some(n) = report.exit.require_connections {
        let _ = writeln!(
            x,
            r#"    <testcase classname="wsscope.run" name="at least {n} WebSocket connections" time="0">"#
        );
        for r in &unmet {
            let why = report.summary.no_websocket.join("\n");
            let _ = writeln!(
                x,
                r#"      <failure type="require_connections" message="{}">{}</failure>"#,
                esc(r),
                esc(&why)
            );
        }
        let _ = writeln!(x, "    </testcase>");
    }
    for c in &report.connections {
        let name = format!(
            "#{} {} -> {} {}",
            c.id,
            c.client,
            c.server,
            c.handshake.path.as_deref().unwrap_or("(no handshake)")
        );
        let _ = writeln!(
            x,
            r#"    <testcase classname="wsscope.connection" name="{}" time="{:.6}">"#,
            esc(&name),
            c.duration
        );
        // As pytest's record_property does: the flow hash that joins Zeek's and Suricata's logs.
        let _ = writeln!(x, "      <properties>");
        let _ =
            writeln!(x, r#"        <property name="community_id" value="{}"/>"#, c.community_id);
        let _ = writeln!(x, "      </properties>");
        for f in c.findings.iter().filter(|f| failing(f.severity)) {
            let _ = writeln!(
                x,
                r#"      <failure type="{}" message="{}">{} [{}] packet {} offset {}</failure>"#,
                f.code,
                esc(&format!("{}: {}", f.severity, f.message)),
                esc(&f.message),
                esc(f.rfc),
                f.packet,
                f.offset
            );
        }
        let notes: Vec<String> = c
            .findings
            .iter()
            .filter(|f| !failing(f.severity))
            .map(|f| format!("{} {}: {}", f.severity, f.code, f.message))
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(x, "      <system-out>{}</system-out>", esc(&notes.join("\n")));
        }
        let _ = writeln!(x, "    </testcase>");
    }
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
}

/// Escapes text for XML attributes and content; control characters XML 1.0 cannot carry are
/// replaced.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' | '\t' => o.push(ch),
            c if (c as u32) < 0x20 => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_special_and_control_characters_are_escaped() {
        assert_eq!(super::esc("a<b>&\"'\u{1b}"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}");
    }
}
