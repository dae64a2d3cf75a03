//! Redaction for sharing (`--redact`; on by default for `report` and its JUnit file): rewrites
//! events so that no output carries credentials — header values, URL query values, subprotocol
//! tokens that are credentials, JSON members of text payloads, text matching patterns, and on
//! request every payload.
//!
//! An edge module, applied right after the analyzer that emits the events ([`Redacting`]: on
//! the one analysis thread, or in each worker of `--threads`, whose connections are all its
//! own, and in front of the TUI's event sender), before any output (text, NDJSON, JSON, report,
//! JUnit, the TUI) sees them. It runs after the analyzer: findings, the accept-key check, lengths and counts all
//! come from the real bytes, only what is shown changes.
//!
//! Guarantees, with the rules of [`Rules`]:
//! - a secret is replaced by a [marker](text::marker) giving its length, the same way in every
//!   output; what is around it (header and cookie names, the authentication scheme, the path and
//!   the other query parameters, JSON structure, message lengths) is kept;
//! - a secret replaced in a connection's handshake is also replaced wherever a finding of that
//!   connection quotes it (findings quote subprotocols, keys, accept values);
//! - markers already written are never touched again by a later rule.
//!
//! Not done: packets written with `-w` (a pcap holds the bytes as captured, see
//! `docs/redaction.md`); binary payloads that are not UTF-8 (MessagePack, protobuf, MQTT) are
//! not inspected — `--redact-payloads` drops them; a secret in a path segment is found only by a
//! pattern.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod text;

use crate::event::{Event, EventSink, Payload, Stats};
use crate::http::{RequestInfo, ResponseInfo};
use crate::tcp::ConnId;
use regex::Regex;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use text::{marker, marker_spans, normalize};

/// Names a rule matches: listed names, and names containing a word.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRule {
    /// Names matched exactly (compared ignoring case and `-`, `_`, `.`: `access_token`,
    /// `Access-Token` and `accessToken` are one name).
    pub names: Vec<String>,
    /// Any name containing one of these (compared the same way) is matched too.
    pub words: Vec<String>,
}

/// Which `Sec-WebSocket-Protocol` tokens are redacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubprotocolRule {
    /// Tokens that are credentials: a JWT, the token after a marker such as `access_token` or
    /// `bearer`, and random-looking runs of 20 or more characters (only the run is replaced).
    Credentials,
    /// Every token (`--redact-header Sec-WebSocket-Protocol`).
    All,
}

/// The rules in one line (the JUnit file's `wsscope.redaction` property): whether every
/// subprotocol is redacted, the patterns' names, whether payloads are dropped.
pub fn summary_of<'a>(
    all_subprotocols: bool,
    patterns: impl Iterator<Item = &'a str>,
    payloads: bool,
) -> String {
    let mut parts = vec![
        "header values".to_string(),
        "query values".to_string(),
        if all_subprotocols { "subprotocols" } else { "subprotocol credentials" }.to_string(),
        "JSON members".to_string(),
        format!("patterns ({})", patterns.collect::<Vec<_>>().join(", ")),
    ];
    if payloads {
        parts.push("payloads".into());
    }
    parts.join(", ")
}

/// A regular expression whose matches are redacted in every text wsscope shows.
#[derive(Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    /// `jwt`, `bearer`, `credential_assignment`, or `user` for `--redact-pattern`.
    pub name: String,
    /// The expression (Rust `regex` syntax). The group named `secret` is replaced, else the
    /// first group, else the whole match. `null` for a `--redact-pattern`: its text is never
    /// written into an output, since it may spell out the very secret it hides
    /// (`--redact-pattern alice`).
    #[schemars(with = "Option<String>", required)]
    pub regex: String,
}

impl PatternRule {
    /// `--redact-pattern`'s patterns, whose text outputs do not show.
    const USER: &'static str = "user";
}

impl Serialize for PatternRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PatternRule", 2)?;
        st.serialize_field("name", &self.name)?;
        let shown = (self.name != Self::USER).then_some(&self.regex);
        st.serialize_field("regex", &shown)?;
        st.end()
    }
}

/// The redaction rules of a run, as recorded in the outputs (`redaction` in the NDJSON `begin`
/// line, the JSON export and the report) and listed by `wsscope redaction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// HTTP headers (request and response) whose values are redacted. URL-valued headers
    /// (`Referer`, `Location`, `Content-Location`) get the query rule instead.
    pub headers: NameRule,
    /// URL query parameters whose values are redacted (in the request target and URL-valued
    /// headers).
    pub query: NameRule,
    /// `Sec-WebSocket-Protocol` tokens redacted (offered, selected and in the header lines).
    pub subprotocols: SubprotocolRule,
    /// JSON members whose values are redacted, at any depth, in text payloads, in binary
    /// payloads that are UTF-8 and in close reasons.
    pub fields: NameRule,
    /// Patterns redacted in every text: header values, request target, subprotocols, payloads,
    /// close reasons, finding messages.
    pub patterns: Vec<PatternRule>,
    /// Every payload and close reason dropped (text becomes a marker, binary becomes empty;
    /// both say `truncated: true`); lengths are kept.
    pub payloads: bool,
    /// Names never redacted by a word (headers, query parameters, JSON members) and subprotocol
    /// tokens never redacted.
    pub keep: Vec<String>,
}

/// Kept by default: `Sec-WebSocket-Key` contains `key` but is a nonce, not a credential — 16
/// random bytes chosen per connection (RFC 6455 §4.1) whose only use is to make the server prove
/// it read the handshake (§1.3); it grants nothing, and with it a reader can check
/// `Sec-WebSocket-Accept`.
const DEFAULT_KEEP: &[&str] = &["sec-websocket-key"];

impl Rules {
    /// The rule set `--redact` turns on: safe defaults for sharing a report or an export.
    pub fn defaults() -> Rules {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Rules {
            headers: NameRule {
                names: v(&[
                    "authorization",
                    "proxy-authorization",
                    "cookie",
                    "set-cookie",
                    "x-api-key",
                    "x-auth-token",
                ]),
                words: v(&[
                    "token",
                    "secret",
                    "session",
                    "key",
                    "passw",
                    "auth",
                    "cookie",
                    "credential",
                    "signature",
                ]),
            },
            query: NameRule {
                names: v(&["code", "sig", "sid", "pwd", "pass", "jwt", "hmac", "ticket"]),
                words: v(&[
                    "token",
                    "secret",
                    "session",
                    "key",
                    "passw",
                    "auth",
                    "credential",
                    "signature",
                ]),
            },
            subprotocols: SubprotocolRule::Credentials,
            fields: NameRule {
                names: v(&["auth", "pwd", "pass", "pin", "otp", "jwt", "sig", "ticket"]),
                words: v(&[
                    "token",
                    "secret",
                    "passw",
                    "apikey",
                    "privatekey",
                    "credential",
                    "authorization",
                    "session",
                    "cookie",
                    "signature",
                ]),
            },
            patterns: vec![
                PatternRule {
                    name: "credential_assignment".into(),
                    regex: r#"(?i)(?-u:\b)(?P<name>authorization|passcode|password|passwd|pwd|secret|access_token|token|api[_-]?key)\s*[:=]\s*(?:(?:bearer|basic)\s+)?(?P<secret>[^\s&;,"'<>]+)"#
                        .into(),
                },
                PatternRule {
                    name: "bearer".into(),
                    regex: r"(?i)(?-u:\b)bearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})".into(),
                },
                PatternRule {
                    name: "jwt".into(),
                    regex: r"eyJ[A-Za-z0-9_-]{7,}(?:\.[A-Za-z0-9_-]*){2,4}".into(),
                },
            ],
            payloads: false,
            keep: v(DEFAULT_KEEP),
        }
    }

    /// One line for the text view.
    pub fn summary(&self) -> String {
        summary_of(
            self.subprotocols == SubprotocolRule::All,
            self.patterns.iter().map(|p| p.name.as_str()),
            self.payloads,
        )
    }

    /// The rules as `wsscope redaction` lists them.
    pub fn describe(&self) -> String {
        let list = |l: &[String]| l.join(", ");
        let mut s = String::new();
        let mut line = |k: &str, v: String| {
            s.push_str(&format!("{k:<14}{v}\n"));
        };
        line("headers", list(&self.headers.names));
        line("", format!("and any name containing: {}", list(&self.headers.words)));
        line("", "Referer, Location, Content-Location: the query rule".into());
        line("query", list(&self.query.names));
        line("", format!("and any name containing: {}", list(&self.query.words)));
        match self.subprotocols {
            SubprotocolRule::Credentials => {
                line(
                    "subprotocols",
                    "JWTs; the token after access_token, bearer, authorization, auth, jwt, apikey"
                        .into(),
                );
                line(
                    "",
                    "or any *token*; random-looking runs of 20+ characters (the run only)".into(),
                );
            }
            SubprotocolRule::All => line("subprotocols", "every token".into()),
        }
        line("fields", list(&self.fields.names));
        line("", format!("and any name containing: {}", list(&self.fields.words)));
        for p in &self.patterns {
            line("pattern", format!("{:<22}{}", p.name, p.regex));
        }
        line(
            "payloads",
            if self.payloads { "dropped (lengths kept)" } else { "kept, with the rules above" }
                .into(),
        );
        line("kept", list(&self.keep));
        line("marker", format!("{} (the length as written)", marker(12)));
        s
    }
}

/// User additions to the default rules (the `--redact-*` flags).
#[derive(Clone, Debug, Default)]
pub struct Additions {
    /// `--redact-header`.
    pub headers: Vec<String>,
    /// `--redact-query`.
    pub query: Vec<String>,
    /// `--redact-field`.
    pub fields: Vec<String>,
    /// `--redact-pattern`.
    pub patterns: Vec<String>,
    /// `--redact-keep`.
    pub keep: Vec<String>,
    /// `--redact-payloads`.
    pub payloads: bool,
}

/// Rules matching one kind of name, normalized once.
#[derive(Clone, Debug)]
struct Matcher {
    names: Vec<String>,
    words: Vec<String>,
    keep: Vec<String>,
}

impl Matcher {
    fn new(rule: &NameRule, keep: &[String]) -> Matcher {
        let n = |l: &[String]| l.iter().map(|s| normalize(s)).collect();
        Matcher { names: n(&rule.names), words: n(&rule.words), keep: n(keep) }
    }

    /// Listed names are matched even when kept (a user naming `Sec-WebSocket-Key` means it);
    /// words never match a kept name.
    fn matches(&self, name: &str) -> bool {
        text::with_normalized(name, |n| self.matches_normalized(n))
    }

    fn matches_normalized(&self, n: &[u8]) -> bool {
        let has = |w: &String| {
            let w = w.as_bytes();
            w.first().is_some_and(|&f| n.windows(w.len()).any(|x| x[0] == f && x == w))
        };
        let is = |l: &[String]| l.iter().any(|x| x.as_bytes() == n);
        is(&self.names) || (!is(&self.keep) && self.words.iter().any(has))
    }
}

/// A compiled pattern with the group it replaces.
#[derive(Clone, Debug)]
struct Pattern {
    re: Regex,
    /// The capture group replaced (0: the whole match).
    group: usize,
    /// With a group named `name` (the credential assignment's `access_token=`): a match whose
    /// name is one of these (`--redact-keep`, normalized) is kept.
    keep: Vec<String>,
}

/// Headers whose value is a URL: their query values are redacted, not the whole value.
const URL_HEADERS: &[&str] = &["referer", "location", "contentlocation"];

/// What the rules do with a header, decided once per header name.
#[derive(Clone, Copy, Debug)]
enum HeaderKind {
    /// `Sec-WebSocket-Protocol`: token by token.
    Subprotocols,
    /// A header the rules name: its value, shaped by [`text::header_value`] for this
    /// normalized name (`cookie`, `setcookie`, anything else).
    Named(&'static str),
    /// A URL-valued header: the query rule.
    Url,
    /// Patterns only.
    Other,
}

/// Header and JSON member names whose decision is remembered, each (names repeat in every
/// handshake and message), and the longest name remembered; beyond them, decisions are computed
/// each time. The names come from the capture: both bound the memory they take.
const MAX_REMEMBERED_NAMES: usize = 1024;
const MAX_REMEMBERED_NAME_LEN: usize = 64;
/// The same for texts no pattern matches (`Host`, `User-Agent`, `Origin`, heartbeats repeat).
const MAX_REMEMBERED_CLEAN: usize = 1024;
const MAX_REMEMBERED_CLEAN_LEN: usize = 256;

/// A subprotocol token's replacement and the secrets it holds, if it is redacted.
type ProtocolDecision = Option<(String, Vec<String>)>;

/// Rewrites events according to [`Rules`]. One per analysis (each input of a run, each worker
/// of `--threads`: a copy of the one built from the flags); it remembers, per open connection,
/// the secrets replaced in its handshake (to scrub the findings that quote them) and forgets
/// them at the connection's `end`. What it remembers besides (decisions per name, token and
/// short clean text) is bounded: at most about 1 MiB per copy.
#[derive(Clone, Debug)]
pub struct Redactor {
    rules: Rules,
    headers: Matcher,
    query: Matcher,
    fields: Matcher,
    keep: Vec<String>,
    patterns: Vec<Pattern>,
    /// Every pattern in one automaton: whether any matches a text, in one pass (most texts
    /// match none). `None` when the patterns together are too large for one automaton (each
    /// alone was accepted): then every pattern is tried, as before.
    any_pattern: Option<regex_automata::meta::Regex>,
    /// Secrets each open connection's handshakes held, newest last, to scrub from its
    /// findings; at most [`MAX_LEARNED`] and [`MAX_LEARNED_BYTES`] a connection beyond its
    /// latest handshake's (a keep-alive connection may carry any number of refused upgrades).
    learned: HashMap<ConnId, Vec<Learned>>,
    /// Bytes of `learned` (charged to the memory budget by [`Redacting::charge_to`]).
    learned_bytes: usize,
    /// Decisions per header name as written.
    header_kinds: RefCell<foldhash::HashMap<String, HeaderKind>>,
    /// Decisions per JSON member name (the same keys come in every message).
    field_names: RefCell<foldhash::HashMap<String, bool>>,
    /// Short texts no pattern matches.
    clean: RefCell<foldhash::HashSet<String>>,
    /// Bytes the remembered decisions and clean texts hold (charged with `learned`).
    remembered: std::cell::Cell<usize>,
    /// Decisions per subprotocol token, apart and after a marker: its replacement and the
    /// secrets it holds, if it is redacted.
    protocols: RefCell<[foldhash::HashMap<String, ProtocolDecision>; 2]>,
    /// The subprotocol the policy requires (`--require-subprotocol`): never redacted. It is in
    /// the command line and the report's policy, and the check compares the selected one with
    /// it: redacted, a server that selected it was said not to (helper-52).
    required_protocol: Option<String>,
}

impl Redactor {
    /// The default rules plus `add`. Errors name the flag and say what is wrong.
    pub fn with_additions(add: &Additions) -> Result<Redactor, String> {
        let mut rules = Rules::defaults();
        for k in &add.keep {
            let clash = add.headers.iter().chain(&add.query).chain(&add.fields);
            if let Some(n) = clash.into_iter().find(|n| normalize(n) == normalize(k)) {
                return Err(format!(
                    "--redact-keep {k:?} and a --redact-* flag naming {n:?}: keep it or redact it"
                ));
            }
        }
        for h in &add.headers {
            if normalize(h) == "secwebsocketprotocol" {
                rules.subprotocols = SubprotocolRule::All;
            }
            // Naming a header redacts it even when it is kept by default.
            rules.keep.retain(|k| normalize(k) != normalize(h));
        }
        let lower = |l: &[String]| l.iter().map(|s| s.to_ascii_lowercase()).collect::<Vec<_>>();
        rules.headers.names.extend(lower(&add.headers));
        rules.query.names.extend(lower(&add.query));
        rules.fields.names.extend(lower(&add.fields));
        rules.keep.extend(add.keep.iter().cloned());
        rules.patterns.extend(
            add.patterns
                .iter()
                .map(|p| PatternRule { name: PatternRule::USER.into(), regex: p.clone() }),
        );
        rules.payloads = add.payloads;
        Redactor::new(rules)
    }

    /// Compiles `rules`.
    pub fn new(rules: Rules) -> Result<Redactor, String> {
        let patterns = rules
            .patterns
            .iter()
            .map(|p| {
                let re = Regex::new(&p.regex)
                    .map_err(|e| format!("--redact-pattern {:?} is not a regex: {e}", p.regex))?;
                let group = match re.capture_names().position(|n| n == Some("secret")) {
                    Some(i) => i,
                    None if re.captures_len() > 1 => 1,
                    None => 0,
                };
                let keep = if re.capture_names().any(|n| n == Some("name")) {
                    rules.keep.iter().map(|k| normalize(k)).collect()
                } else {
                    Vec::new()
                };
                Ok(Pattern { re, group, keep })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let all: Vec<&str> = rules.patterns.iter().map(|p| p.regex.as_str()).collect();
        let any_pattern = regex_automata::meta::Regex::new_many(&all).ok();
        Ok(Redactor {
            any_pattern,
            headers: Matcher::new(&rules.headers, &rules.keep),
            query: Matcher::new(&rules.query, &rules.keep),
            fields: Matcher::new(&rules.fields, &rules.keep),
            keep: rules.keep.iter().map(|k| normalize(k)).collect(),
            patterns,
            learned: HashMap::new(),
            learned_bytes: 0,
            header_kinds: RefCell::default(),
            field_names: RefCell::default(),
            clean: RefCell::default(),
            remembered: std::cell::Cell::new(0),
            protocols: RefCell::default(),
            required_protocol: None,
            rules,
        })
    }

    /// Remembers the secrets of a connection's latest handshake: all of them, and as many of
    /// the earlier ones, newest first, as the limits leave room for. Longest first, so that a
    /// secret containing another is replaced whole.
    fn learn(&mut self, connection: ConnId, found: Vec<String>) {
        let known = self.learned.entry(connection).or_default();
        let before: usize = known.iter().map(Learned::size).sum();
        // The earlier ones, newest first, minus those found again.
        let earlier: Vec<Learned> =
            known.drain(..).rev().filter(|l| !found.contains(&l.raw)).collect();
        let mut fresh: Vec<Learned> = found.into_iter().map(Learned::new).collect();
        fresh.sort_by(|a, b| b.raw.len().cmp(&a.raw.len()).then_with(|| a.raw.cmp(&b.raw)));
        fresh.dedup_by(|a, b| a.raw == b.raw);
        let (mut count, mut bytes) = (fresh.len(), fresh.iter().map(Learned::size).sum::<usize>());
        let mut kept = Vec::new();
        for l in earlier {
            if count >= MAX_LEARNED || bytes + l.size() > MAX_LEARNED_BYTES {
                break;
            }
            (count, bytes) = (count + 1, bytes + l.size());
            kept.push(l);
        }
        // Oldest first, then the latest handshake's: scrubbing takes the longest first within
        // a handshake, and a later handshake's secret that contains an earlier one comes after it
        // (either way the longer one's text is a marker by then, or was never there).
        kept.reverse();
        kept.extend(fresh);
        *known = kept;
        self.learned_bytes = self.learned_bytes - before + bytes;
    }

    /// Bytes the secrets learned from open connections' handshakes hold.
    pub fn learned_bytes(&self) -> usize {
        self.learned_bytes
    }

    /// Bytes it holds that grow with what the capture sends: the secrets learned for open
    /// connections and the decisions and clean texts it remembers (at most about 1 MiB).
    pub fn held_bytes(&self) -> usize {
        self.learned_bytes + self.remembered.get()
    }

    /// A remembered entry of `key` and a value of `value` bytes (in a hash table: a slot and
    /// its control byte).
    fn remember(&self, key: &str, value: usize) {
        let bytes = key.len() + size_of::<String>() + value + 1;
        self.remembered.set(self.remembered.get() + bytes);
    }

    /// The rules applied.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Rewrites one event in place.
    pub fn apply(&mut self, event: &mut Event) {
        match event {
            Event::Handshake { connection, request, response, .. } => {
                let mut found = Vec::new();
                let offered = request.as_ref().map(|r| r.protocols.clone()).unwrap_or_default();
                let protocols = self.protocol_decisions(&offered);
                if let Some(r) = request {
                    self.request(r, &protocols, &mut found);
                }
                if let Some(r) = response {
                    self.response(r, &protocols, &mut found);
                }
                found.retain(|s| s.len() >= 4);
                if !found.is_empty() {
                    self.learn(*connection, found);
                }
            }
            Event::Message { payload, truncated, close, .. } => {
                if self.rules.payloads {
                    let dropped = match payload {
                        Payload::Text(t) if !t.is_empty() => {
                            *t = marker(t.len());
                            true
                        }
                        Payload::Bytes(b) if !b.is_empty() => {
                            b.clear();
                            true
                        }
                        _ => false,
                    };
                    *truncated |= dropped;
                    if let Some(c) = close.as_mut().filter(|c| !c.reason.is_empty()) {
                        c.reason = marker(c.reason.len());
                    }
                    return;
                }
                match payload {
                    Payload::Text(t) => replace(t, self.text(t)),
                    Payload::Bytes(b) => {
                        let redacted = std::str::from_utf8(b).ok().and_then(|t| self.text(t));
                        if let Some(r) = redacted {
                            *b = r.into_bytes();
                        }
                    }
                    Payload::Unavailable => {}
                }
                if let Some(c) = close {
                    let r = self.text(&c.reason);
                    replace(&mut c.reason, r);
                }
            }
            Event::Finding { connection, message, .. } => {
                if let Some(secrets) = self.learned.get(connection) {
                    replace(message, scrub(message, secrets));
                }
                replace(message, self.patterns_in(message));
            }
            Event::End { connection, .. } => {
                if let Some(gone) = self.learned.remove(connection) {
                    self.learned_bytes -= gone.iter().map(Learned::size).sum::<usize>();
                }
            }
            Event::Tls { tls, .. } => {
                // The server name is as public as the Host header; patterns still apply.
                if let Some(sni) = &mut tls.sni {
                    let r = self.patterns_in(sni);
                    replace(sni, r);
                }
            }
            Event::Connection { .. } | Event::Frame { .. } | Event::Gap { .. } => {}
        }
    }

    /// A text payload or close reason: JSON members, then patterns.
    fn text(&self, t: &str) -> Option<String> {
        if t.is_empty() {
            return None;
        }
        let mut found = Vec::new();
        let members = text::json_members(t, |k| self.is_secret_field(k), &mut found);
        let patterned = self.patterns_in(members.as_deref().unwrap_or(t));
        patterned.or(members)
    }

    /// Every pattern, in order, outside the markers already written.
    fn patterns_in(&self, s: &str) -> Option<String> {
        let short = s.len() <= MAX_REMEMBERED_CLEAN_LEN;
        if s.is_empty() || short && self.clean.borrow().contains(s) {
            return None;
        }
        let mut cur: Option<String> = None;
        // The common case, no pattern matches, in one pass without captures or copies.
        let any = self.any_pattern.as_ref().is_none_or(|a| a.is_match(s));
        for p in self.patterns.iter().filter(|_| any) {
            let src = cur.as_deref().unwrap_or(s);
            // The common case, no match, without captures or copies.
            if !p.re.is_match(src) {
                continue;
            }
            if let Some(next) = outside_markers(src, |seg, out| pattern(p, seg, out)) {
                cur = Some(next);
            }
        }
        let mut clean = self.clean.borrow_mut();
        if cur.is_none() && short && clean.len() < MAX_REMEMBERED_CLEAN {
            clean.insert(s.to_string());
            self.remember(s, 0);
        }
        cur
    }

    /// For each offered subprotocol, its replacement when it is redacted.
    fn protocol_decisions(&self, offered: &[String]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut found = Vec::new();
        let mut after_marker = false;
        for t in offered {
            let r = self.protocol(t, after_marker, &mut found);
            after_marker = text::is_protocol_marker(t);
            if let Some(r) = r {
                out.push((t.clone(), r));
            }
        }
        out
    }

    /// One subprotocol token's replacement, if it is redacted (decisions on short tokens are
    /// remembered: the same few come in every handshake).
    fn protocol(&self, t: &str, after_marker: bool, found: &mut Vec<String>) -> Option<String> {
        if t.len() > MAX_REMEMBERED_NAME_LEN {
            return self.decide_protocol(t, after_marker, found);
        }
        if let Some(d) = self.protocols.borrow()[usize::from(after_marker)].get(t) {
            return d.as_ref().map(|(r, secrets)| {
                found.extend(secrets.iter().cloned());
                r.clone()
            });
        }
        let mut secrets = Vec::new();
        let r = self.decide_protocol(t, after_marker, &mut secrets);
        found.extend(secrets.iter().cloned());
        let mut remembered = self.protocols.borrow_mut();
        let map = &mut remembered[usize::from(after_marker)];
        if map.len() < MAX_REMEMBERED_NAMES {
            let held = r.as_ref().map_or(0, |r| {
                r.len() + secrets.iter().map(|s| s.len() + size_of::<String>()).sum::<usize>()
            });
            self.remember(t, size_of::<ProtocolDecision>() + held);
            map.insert(t.to_string(), r.clone().map(|r| (r, secrets)));
        }
        r
    }

    /// Keeps the subprotocol `name` (the policy's `--require-subprotocol`) as it is.
    pub fn keeping_protocol(mut self, name: Option<String>) -> Self {
        self.required_protocol = name;
        self
    }

    /// [`Redactor::protocol`], decided.
    fn decide_protocol(
        &self,
        t: &str,
        after_marker: bool,
        found: &mut Vec<String>,
    ) -> Option<String> {
        if t.is_empty()
            || self.required_protocol.as_deref() == Some(t)
            || text::with_normalized(t, |n| self.keep.iter().any(|k| k.as_bytes() == n))
        {
            return None;
        }
        if self.rules.subprotocols == SubprotocolRule::All
            || after_marker && !text::is_protocol_marker(t)
            || text::contains_jwt(t)
        {
            found.push(t.to_string());
            return Some(marker(t.len()));
        }
        text::redact_random_runs(t, found)
    }

    /// A token of the offered list or the selected one: the offered list's decision, else its
    /// own (a server may select what was not offered).
    fn protocol_of(
        &self,
        t: &str,
        decisions: &[(String, String)],
        found: &mut Vec<String>,
    ) -> Option<String> {
        match decisions.iter().find(|(o, _)| o == t) {
            Some((o, r)) => {
                found.push(o.clone());
                Some(r.clone())
            }
            None => self.protocol(t, false, found),
        }
    }

    /// A `Sec-WebSocket-Protocol` header value, token by token (spacing kept).
    fn protocol_list(
        &self,
        value: &str,
        decisions: &[(String, String)],
        found: &mut Vec<String>,
    ) -> Option<String> {
        let mut changed = false;
        let parts: Vec<String> = value
            .split(',')
            .map(|part| {
                let t = part.trim();
                match self.protocol_of(t, decisions, found) {
                    Some(r) => {
                        changed = true;
                        let lead = part.len() - part.trim_start().len();
                        format!("{}{r}{}", &part[..lead], &part[lead + t.len()..])
                    }
                    None => part.to_string(),
                }
            })
            .collect();
        changed.then(|| parts.join(","))
    }

    /// One header line's value.
    fn header(
        &self,
        name: &str,
        value: &str,
        decisions: &[(String, String)],
        found: &mut Vec<String>,
    ) -> Option<String> {
        let ruled = match self.header_kind(name) {
            HeaderKind::Subprotocols => self.protocol_list(value, decisions, found),
            HeaderKind::Named(shape) => Some(text::header_value(shape, value, found)),
            HeaderKind::Url => text::query_values(value, |q| self.query.matches(q), found),
            HeaderKind::Other => None,
        };
        let patterned = self.patterns_in(ruled.as_deref().unwrap_or(value));
        patterned.or(ruled)
    }

    fn is_secret_field(&self, name: &str) -> bool {
        if let Some(d) = self.field_names.borrow().get(name) {
            return *d;
        }
        let d = self.fields.matches(name);
        let mut names = self.field_names.borrow_mut();
        if names.len() < MAX_REMEMBERED_NAMES && name.len() <= MAX_REMEMBERED_NAME_LEN {
            names.insert(name.to_string(), d);
            self.remember(name, size_of::<bool>());
        }
        d
    }

    fn header_kind(&self, name: &str) -> HeaderKind {
        if let Some(k) = self.header_kinds.borrow().get(name) {
            return *k;
        }
        let n = normalize(name);
        let kind = if n == "secwebsocketprotocol" {
            HeaderKind::Subprotocols
        } else if self.headers.matches(name) {
            HeaderKind::Named(match n.as_str() {
                "cookie" => "cookie",
                "setcookie" | "setcookie2" => "setcookie",
                _ => "",
            })
        } else if URL_HEADERS.contains(&n.as_str()) {
            HeaderKind::Url
        } else {
            HeaderKind::Other
        };
        let mut kinds = self.header_kinds.borrow_mut();
        if kinds.len() < MAX_REMEMBERED_NAMES && name.len() <= MAX_REMEMBERED_NAME_LEN {
            kinds.insert(name.to_string(), kind);
            self.remember(name, size_of::<HeaderKind>());
        }
        kind
    }

    /// Every header line, then the fields that mirror a header (`host`, `key`, `accept`…): each
    /// becomes what its header line became. A field whose line is there with its value takes
    /// the line's result (the same rules on the same text: nothing new to learn); only a field
    /// without one is redacted on its own.
    fn lines<const N: usize>(
        &self,
        headers: &mut [(String, String)],
        decisions: &[(String, String)],
        found: &mut Vec<String>,
        mut mirrors: [(&str, &mut Option<String>); N],
    ) {
        let mut done = [false; N];
        for (name, value) in headers {
            let r = self.header(name, value, decisions, found);
            for ((header, field), done) in mirrors.iter_mut().zip(&mut done) {
                if !*done && field.as_deref() == Some(value) && name.eq_ignore_ascii_case(header) {
                    if let Some(r) = &r {
                        **field = Some(r.clone());
                    }
                    *done = true;
                }
            }
            replace(value, r);
        }
        for ((header, field), done) in mirrors.into_iter().zip(done) {
            if let Some(v) = field.as_mut().filter(|_| !done) {
                let r = self.header(header, v, &[], found);
                replace(v, r);
            }
        }
    }

    fn request(
        &self,
        r: &mut RequestInfo,
        decisions: &[(String, String)],
        found: &mut Vec<String>,
    ) {
        let path = text::query_values(&r.path, |q| self.query.matches(q), found);
        let patterned = self.patterns_in(path.as_deref().unwrap_or(&r.path));
        replace(&mut r.path, patterned.or(path));
        self.lines(
            &mut r.headers,
            decisions,
            found,
            [
                ("host", &mut r.host),
                ("origin", &mut r.origin),
                ("user-agent", &mut r.user_agent),
                ("sec-websocket-key", &mut r.key),
                ("sec-websocket-version", &mut r.version),
            ],
        );
        for p in &mut r.protocols {
            replace(p, self.protocol_of(p, decisions, found));
        }
        self.extensions(&mut r.extensions, found);
    }

    fn response(
        &self,
        r: &mut ResponseInfo,
        decisions: &[(String, String)],
        found: &mut Vec<String>,
    ) {
        self.lines(
            &mut r.headers,
            decisions,
            found,
            [("sec-websocket-accept", &mut r.accept), ("sec-websocket-version", &mut r.version)],
        );
        if let Some(p) = &mut r.protocol {
            replace(p, self.protocol_of(p, decisions, found));
        }
        self.extensions(&mut r.extensions, found);
    }

    /// Extension parameter values, when the user named `Sec-WebSocket-Extensions`.
    fn extensions(&self, exts: &mut [crate::http::Extension], found: &mut Vec<String>) {
        if !matches!(self.header_kind("Sec-WebSocket-Extensions"), HeaderKind::Named(_)) {
            return;
        }
        for e in exts {
            for (_, v) in &mut e.params {
                if let Some(v) = v {
                    found.push(v.clone());
                    *v = marker(v.len());
                }
            }
        }
    }
}

/// An analyzer's sink that redacts every event before handing it on (none when the redactor is
/// `None`). What a redactor learns from a handshake is kept per connection id, so one redactor
/// serves the connections of one analyzer: each worker of `--threads` has its own copy, and
/// each input a fresh one.
pub struct Redacting<S> {
    redactor: Option<Redactor>,
    sink: S,
    /// What the redactor remembers, charged to the memory budget.
    charge: Option<crate::memory::Charge>,
}

impl<S> Redacting<S> {
    /// Redacts with `redactor`, then hands on to `sink`.
    pub fn new(redactor: Option<Redactor>, sink: S) -> Self {
        Redacting { redactor, sink, charge: None }
    }

    /// Charges what the redactor holds (the secrets it remembers for open connections, its
    /// remembered decisions) to `memory`.
    pub fn charge_to(mut self, memory: &crate::memory::Memory) -> Self {
        self.charge = Some(crate::memory::Charge::new(memory));
        self
    }

    /// The sink events are handed on to.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The sink, once the analysis is done.
    pub fn into_inner(self) -> S {
        self.sink
    }
}

impl<S: EventSink> EventSink for Redacting<S> {
    #[inline]
    fn event(&mut self, mut event: Event) {
        if let Some(r) = &mut self.redactor {
            r.apply(&mut event);
            if let Some(c) = &mut self.charge {
                c.set(r.held_bytes());
            }
        }
        self.sink.event(event);
    }

    fn stats(&mut self, stats: &Stats) {
        self.sink.stats(stats);
    }
}

/// Replaces `s` when a rule rewrote it.
fn replace(s: &mut String, r: Option<String>) {
    if let Some(r) = r {
        *s = r;
    }
}

/// Applies `f` to the parts of `s` between markers; `f` appends a segment's rewrite to `out`
/// and says whether it changed anything.
fn outside_markers(s: &str, mut f: impl FnMut(&str, &mut String) -> bool) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut from = 0;
    for (start, end) in marker_spans(s).into_iter().chain([(s.len(), s.len())]) {
        changed |= f(&s[from..start], &mut out);
        out.push_str(&s[start..end]);
        from = end;
    }
    changed.then_some(out)
}

/// One pattern over one segment.
fn pattern(p: &Pattern, seg: &str, out: &mut String) -> bool {
    let mut copied = 0;
    for caps in p.re.captures_iter(seg) {
        let Some(m) = caps.get(p.group).filter(|m| !m.is_empty()) else { continue };
        if !p.keep.is_empty()
            && caps.name("name").is_some_and(|n| p.keep.contains(&normalize(n.as_str())))
        {
            continue;
        }
        if m.start() < copied {
            continue;
        }
        out.push_str(&seg[copied..m.start()]);
        out.push_str(&marker(m.len()));
        copied = m.end();
    }
    out.push_str(&seg[copied..]);
    copied > 0
}

/// `message` with each secret (longest first), as written or as Rust's `{:?}` quotes it,
/// replaced outside the markers already written.
/// Secrets remembered per connection beyond its latest handshake's.
pub const MAX_LEARNED: usize = 64;
/// Bytes of secrets remembered per connection beyond its latest handshake's.
pub const MAX_LEARNED_BYTES: usize = 64 << 10;

/// A secret a handshake held, and how a finding that quotes it with `{:?}` writes it (when that
/// differs).
#[derive(Clone, Debug)]
struct Learned {
    raw: String,
    quoted: Option<String>,
}

impl Learned {
    fn new(raw: String) -> Learned {
        let debug = format!("{raw:?}");
        let quoted = &debug[1..debug.len() - 1];
        let quoted = (quoted != raw).then(|| quoted.to_string());
        Learned { raw, quoted }
    }

    /// Bytes held.
    fn size(&self) -> usize {
        self.raw.len() + self.quoted.as_ref().map_or(0, String::len) + size_of::<Learned>()
    }
}

fn scrub(message: &str, secrets: &[Learned]) -> Option<String> {
    let mut cur: Option<String> = None;
    for l in secrets {
        let s = &l.raw;
        for needle in std::iter::once(s.as_str()).chain(l.quoted.as_deref()) {
            let src = cur.as_deref().unwrap_or(message);
            if !src.contains(needle) {
                continue;
            }
            let next = outside_markers(src, |seg, out| {
                let replaced = seg.replace(needle, &marker(s.len()));
                let changed = replaced != seg;
                out.push_str(&replaced);
                changed
            });
            if next.is_some() {
                cur = next;
            }
        }
    }
    cur
}

#[cfg(test)]
mod tests;
