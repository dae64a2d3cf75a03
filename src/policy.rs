//! The policy a CI job applies to a report (`wsscope report`): which findings count toward
//! `--fail-on` and at which severity, and the thresholds the job asks for.
//!
//! - `--allow CODE`: findings of CODE are still reported (marked `allowed`), never counted
//!   toward `--fail-on`;
//! - `--severity CODE=LEVEL`: findings of CODE are reported and counted at LEVEL;
//! - thresholds, each broken one a *violation* listed on its connection and a reason of the exit
//!   status whatever `--fail-on` says (as `--require-connections`): `--max-ping-rtt`,
//!   `--max-message-bytes`, `--require-subprotocol`, `--require-clean-close`;
//! - `--policy FILE`: the same in a small TOML file (plus `fail_on` and `require_connections`);
//!   flags given on the command line win over the file.
//!
//! The policy is recorded in the report (`policy`), so a report says what it was judged by, and
//! `wsscope merge` refuses shares judged by different policies.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::analyzer::checks::{CheckId, Severity};
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The policy applied to a report (recorded in it as `policy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The `--policy` file, as named on the command line (null without one).
    pub file: Option<String>,
    /// Checks whose findings are reported but never count toward `--fail-on` (`--allow`).
    pub allow: Vec<CheckId>,
    /// Checks re-graded (`--severity CODE=LEVEL`): their findings are reported and counted at
    /// this severity.
    pub severity: BTreeMap<CheckId, Severity>,
    /// `--max-ping-rtt`, seconds: a pong answering its ping later is a violation.
    pub max_ping_rtt: Option<f64>,
    /// `--max-message-bytes`: a data message with more application bytes (after decompression)
    /// is a violation.
    pub max_message_bytes: Option<u64>,
    /// `--require-subprotocol`: an upgraded connection whose server did not select this
    /// subprotocol is a violation.
    pub require_subprotocol: Option<String>,
    /// `--require-clean-close`: an upgraded connection that ended without a close frame from
    /// each side is a violation.
    pub require_clean_close: bool,
}

/// A threshold of the policy.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `--max-ping-rtt`.
    MaxPingRtt,
    /// `--max-message-bytes`.
    MaxMessageBytes,
    /// `--require-subprotocol`.
    RequireSubprotocol,
    /// `--require-clean-close`.
    RequireCleanClose,
}

impl Rule {
    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            Rule::MaxPingRtt => "--max-ping-rtt",
            Rule::MaxMessageBytes => "--max-message-bytes",
            Rule::RequireSubprotocol => "--require-subprotocol",
            Rule::RequireCleanClose => "--require-clean-close",
        }
    }
}

impl Policy {
    /// The severity findings of `code` are reported at (`default`: the check's own).
    pub fn severity_of(&self, code: CheckId, default: Severity) -> Severity {
        self.severity.get(&code).copied().unwrap_or(default)
    }

    /// Whether findings of `code` are allowed (reported, never counted toward --fail-on).
    pub fn allows(&self, code: CheckId) -> bool {
        self.allow.contains(&code)
    }

    /// The exit-status reason for `count` violations of `rule` (none when `count` is 0).
    pub fn reason(&self, rule: Rule, count: u64) -> Option<String> {
        if count == 0 {
            return None;
        }
        let s = |one: &'static str, many: &'static str| if count == 1 { one } else { many };
        Some(match rule {
            Rule::MaxPingRtt => format!(
                "{count} {} answered later than --max-ping-rtt {} (connections[].violations)",
                s("pong", "pongs"),
                self.max_ping_rtt.map(duration_text).unwrap_or_default()
            ),
            Rule::MaxMessageBytes => format!(
                "{count} {} larger than --max-message-bytes {} (connections[].violations)",
                s("message", "messages"),
                self.max_message_bytes.unwrap_or_default()
            ),
            Rule::RequireSubprotocol => format!(
                "{count} {} without the subprotocol --require-subprotocol {} \
                 (connections[].violations)",
                s("connection", "connections"),
                self.require_subprotocol.as_deref().unwrap_or_default()
            ),
            Rule::RequireCleanClose => format!(
                "{count} {} not closed cleanly, --require-clean-close: each side sends a close \
                 frame (connections[].violations)",
                s("connection", "connections")
            ),
        })
    }
}

/// Seconds as a person reads them: `200ms`, `1.5s`.
pub fn duration_text(secs: f64) -> String {
    if secs < 1.0 {
        let ms = secs * 1e3;
        if (ms - ms.round()).abs() < 1e-9 { format!("{ms:.0}ms") } else { format!("{ms:.3}ms") }
    } else {
        let t = format!("{secs:.6}");
        format!("{}s", t.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// What a `--policy` file may hold: the report's policy flags, `fail_on` and
/// `require_connections`, under the flags' names (`-` or `_`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PolicyFile {
    #[serde(alias = "fail_on")]
    fail_on: Option<String>,
    #[serde(alias = "require_connections")]
    require_connections: Option<u64>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
    #[serde(alias = "max_ping_rtt")]
    max_ping_rtt: Option<String>,
    #[serde(alias = "max_message_bytes")]
    max_message_bytes: Option<SizeValue>,
    #[serde(alias = "require_subprotocol")]
    require_subprotocol: Option<String>,
    #[serde(alias = "require_clean_close")]
    require_clean_close: Option<bool>,
}

/// A size written as a number (bytes) or a string (`64K`); anything else is refused with a
/// message that says so (an untagged enum's own said "data did not match any variant").
#[derive(Debug)]
enum SizeValue {
    Number(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Size;
        impl serde::de::Visitor<'_> for Size {
            type Value = SizeValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size: a whole number of bytes (65536) or a text (\"64K\", \"1M\")")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SizeValue, E> {
                Ok(SizeValue::Number(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SizeValue, E> {
                u64::try_from(n)
                    .map(SizeValue::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(s.to_string()))
            }
        }
        d.deserialize_any(Size)
    }
}

/// The policy flags as typed (from [`crate::cli::ReportArgs`]).
#[derive(Debug, Default)]
pub struct PolicyArgs<'a> {
    /// `--policy FILE`.
    pub file: Option<&'a Path>,
    /// `--allow CODE`, repeated.
    pub allow: &'a [String],
    /// `--severity CODE=LEVEL`, repeated.
    pub severity: &'a [String],
    /// `--max-ping-rtt`.
    pub max_ping_rtt: Option<&'a str>,
    /// `--max-message-bytes`.
    pub max_message_bytes: Option<&'a str>,
    /// `--require-subprotocol`.
    pub require_subprotocol: Option<&'a str>,
    /// `--require-clean-close` (`Some(true)`) or `--no-require-clean-close` (`Some(false)`).
    pub require_clean_close: Option<bool>,
    /// `--fail-on`, when given.
    pub fail_on: Option<&'a str>,
    /// `--require-connections`, when given.
    pub require_connections: Option<u64>,
}

/// The policy, and the `--fail-on` level (`error` unless the flag or the file says) and
/// `--require-connections` it comes with.
#[derive(Debug)]
pub struct Resolved {
    /// The policy.
    pub policy: Policy,
    /// `error`, `warning`, `info` or `never`.
    pub fail_on: String,
    /// WebSocket connections the run must find.
    pub require_connections: Option<u64>,
}

/// Builds the policy from the flags and the `--policy` file (flags win).
pub fn resolve(a: &PolicyArgs<'_>) -> Result<Resolved, Error> {
    let (file, name) = match a.file {
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| {
                Error::Usage(format!("--policy {}: cannot read it: {e}", crate::term::path(p)))
            })?;
            let f: PolicyFile = toml::from_str(&text).map_err(|e| {
                Error::Usage(format!(
                    "--policy {}: {} (docs/json-format.md, \"Policy\", lists the keys)",
                    crate::term::path(p),
                    e.to_string().trim_end()
                ))
            })?;
            (f, Some(name))
        }
        None => (PolicyFile::default(), None),
    };
    let in_file = |what: &str| match &name {
        Some(n) => format!("{what} in --policy {n}"),
        None => what.to_string(),
    };
    let mut policy = Policy { file: name.clone(), ..Policy::default() };
    for c in &file.allow {
        policy.allow.push(parse_code(c, &in_file("allow"))?);
    }
    for c in a.allow {
        policy.allow.push(parse_code(c, "--allow")?);
    }
    policy.allow.sort();
    policy.allow.dedup();
    for (c, l) in &file.severity {
        let code = parse_code(c, &in_file("[severity]"))?;
        policy.severity.insert(code, parse_level(l, &in_file(&format!("[severity] {c}")))?);
    }
    for s in a.severity {
        let (c, l) = s.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--severity {s:?}: give CODE=LEVEL, e.g. --severity request_origin_missing=warning"
            ))
        })?;
        let code = parse_code(c.trim(), "--severity")?;
        policy.severity.insert(code, parse_level(l.trim(), &format!("--severity {s}"))?);
    }
    let rtt = match (a.max_ping_rtt, &file.max_ping_rtt) {
        (Some(t), _) => Some(("--max-ping-rtt".to_string(), t.to_string())),
        (None, Some(t)) => Some((in_file("max-ping-rtt"), t.clone())),
        (None, None) => None,
    };
    if let Some((what, t)) = rtt {
        let d = humantime::parse_duration(t.trim()).map_err(|e| {
            Error::Usage(format!("{what}: {t:?} is not a duration ({e}; examples: 200ms, 1s)"))
        })?;
        if d == Duration::ZERO {
            return Err(Error::Usage(format!("{what}: give a duration above 0, e.g. 200ms")));
        }
        policy.max_ping_rtt = Some(d.as_secs_f64());
    }
    policy.max_message_bytes = match (a.max_message_bytes, &file.max_message_bytes) {
        (Some(s), _) => Some(parse_bytes("--max-message-bytes", s)?),
        (None, Some(SizeValue::Number(n))) => Some(*n),
        (None, Some(SizeValue::Text(s))) => Some(parse_bytes(&in_file("max-message-bytes"), s)?),
        (None, None) => None,
    };
    policy.require_subprotocol =
        a.require_subprotocol.map(str::to_string).or(file.require_subprotocol.clone());
    if policy.require_subprotocol.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(Error::Usage("--require-subprotocol: give the subprotocol's name".into()));
    }
    policy.require_clean_close =
        a.require_clean_close.or(file.require_clean_close).unwrap_or(false);
    let fail_on = match (a.fail_on, &file.fail_on) {
        (Some(f), _) => f.to_string(),
        (None, Some(f)) => match f.as_str() {
            "error" | "warning" | "info" | "never" => f.clone(),
            other => {
                return Err(Error::Usage(format!(
                    "{}: {other:?} is not a level: give error, warning, info or never",
                    in_file("fail-on")
                )));
            }
        },
        (None, None) => "error".to_string(),
    };
    Ok(Resolved {
        policy,
        fail_on,
        require_connections: a.require_connections.or(file.require_connections),
    })
}

/// A check code, or a usage error that says how to list them (and the nearest code).
pub fn parse_code(s: &str, what: &str) -> Result<CheckId, Error> {
    let s = s.trim();
    if let Some(c) = CheckId::ALL.iter().find(|c| c.as_str() == s) {
        return Ok(*c);
    }
    // Compared in lower case: `REQUEST_ORIGIN_MISSING` is one edit per letter away.
    let lower = s.to_ascii_lowercase();
    let nearest = CheckId::ALL
        .iter()
        .map(|c| (edit_distance(&c.as_str(), &lower), c.as_str()))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, c)| format!(" (did you mean {c}?)"))
        .unwrap_or_default();
    Err(Error::Usage(format!(
        "{what}: unknown check code {s:?}{nearest}; `wsscope checks` lists every code \
         (docs/checks.md)"
    )))
}

fn parse_level(s: &str, what: &str) -> Result<Severity, Error> {
    match s {
        "error" => Ok(Severity::Error),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        _ => Err(Error::Usage(format!(
            "{what}: {s:?} is not a severity: give error, warning or info"
        ))),
    }
}

fn parse_bytes(what: &str, s: &str) -> Result<u64, Error> {
    let n = crate::config::parse_size("max-message-bytes", s)
        .map_err(|_| Error::Usage(format!("{what}: {s:?} is not a size (65536, 64K, 1M)")))?;
    Ok(n as u64)
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> PolicyArgs<'static> {
        PolicyArgs::default()
    }

    #[test]
    fn flags_build_the_policy() {
        let allow = ["request_origin_missing".to_string()];
        let sev = ["server_frame_masked=warning".to_string()];
        let r = resolve(&PolicyArgs {
            allow: &allow,
            severity: &sev,
            max_ping_rtt: Some("200ms"),
            max_message_bytes: Some("64K"),
            require_subprotocol: Some("graphql-transport-ws"),
            require_clean_close: Some(true),
            ..args()
        })
        .unwrap();
        assert_eq!(r.policy.allow, vec![CheckId::RequestOriginMissing]);
        assert_eq!(
            r.policy.severity_of(CheckId::ServerFrameMasked, Severity::Error),
            Severity::Warning
        );
        assert_eq!(r.policy.max_ping_rtt, Some(0.2));
        assert_eq!(r.policy.max_message_bytes, Some(65536));
        assert!(r.policy.require_clean_close);
        assert_eq!(r.fail_on, "error");
    }

    #[test]
    fn an_unknown_code_says_how_to_list_the_codes() {
        let allow = ["request_origin_mising".to_string()];
        let e = resolve(&PolicyArgs { allow: &allow, ..args() }).unwrap_err().to_string();
        assert!(e.contains("wsscope checks"), "{e}");
        assert!(e.contains("did you mean request_origin_missing?"), "{e}");
        let sev = ["nonsense=error".to_string()];
        let e = resolve(&PolicyArgs { severity: &sev, ..args() }).unwrap_err().to_string();
        assert!(e.contains("unknown check code \"nonsense\""), "{e}");
        let sev = ["request_origin_missing=fatal".to_string()];
        assert!(resolve(&PolicyArgs { severity: &sev, ..args() }).is_err());
        let sev = ["request_origin_missing".to_string()];
        assert!(resolve(&PolicyArgs { severity: &sev, ..args() }).is_err());
    }

    #[test]
    fn a_policy_file_is_read_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.toml");
        std::fs::write(
            &p,
            r#"
fail-on = "warning"
require_connections = 2
allow = ["request_origin_missing"]
max-ping-rtt = "1s"
max-message-bytes = 1024
require-subprotocol = "chat"
require-clean-close = true

[severity]
server_frame_masked = "info"
"#,
        )
        .unwrap();
        let r =
            resolve(&PolicyArgs { file: Some(&p), max_ping_rtt: Some("50ms"), ..args() }).unwrap();
        assert_eq!(r.fail_on, "warning");
        assert_eq!(r.require_connections, Some(2));
        assert_eq!(r.policy.max_ping_rtt, Some(0.05));
        assert_eq!(r.policy.max_message_bytes, Some(1024));
        assert_eq!(r.policy.require_subprotocol.as_deref(), Some("chat"));
        assert_eq!(r.policy.severity.get(&CheckId::ServerFrameMasked), Some(&Severity::Info));
        assert_eq!(r.policy.file.as_deref(), Some(p.to_str().unwrap()));
        assert!(r.policy.require_clean_close);
        // --no-require-clean-close turns the file's off (helper-52: it could not be).
        let off = PolicyArgs { file: Some(&p), require_clean_close: Some(false), ..args() };
        assert!(!resolve(&off).unwrap().policy.require_clean_close);
        std::fs::write(&p, "alow = [\"x\"]\n").unwrap();
        let e = resolve(&PolicyArgs { file: Some(&p), ..args() }).unwrap_err().to_string();
        assert!(e.contains("alow"), "{e}");
        std::fs::write(&p, "allow = [\"no_such_check\"]\n").unwrap();
        let e = resolve(&PolicyArgs { file: Some(&p), ..args() }).unwrap_err().to_string();
        assert!(e.contains("in --policy") && e.contains("wsscope checks"), "{e}");
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(duration_text(0.2), "200ms");
        assert_eq!(duration_text(0.0005), "0.500ms");
        assert_eq!(duration_text(1.5), "1.5s");
        assert_eq!(duration_text(2.0), "2s");
    }
}
