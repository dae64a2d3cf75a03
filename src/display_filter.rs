//! The display filter of `--text` and `export` (`-Y EXPR`, like tshark's): which events are
//! shown. It never changes what is analysed, counted or decided (the exit status, the report).
//!
//! `EXPR` is terms separated by spaces, all of which must hold; `!` before a term negates it:
//!
//! | term | holds for |
//! |---|---|
//! | `conn=3` or `conn=3,7` | events of those connections |
//! | `dir=c2s` / `dir=s2c` (also `client`, `server`, `→`, `←`) | messages, frames, findings and gaps of that direction |
//! | `op=text` (`binary`, `ping`, `pong`, `close`, `continuation`, `data`, `control`) | messages and frames with that opcode |
//! | `~word` | messages whose text (or close reason, or bytes read as UTF-8) contains `word`, case-insensitively; findings whose text does |
//! | `/regex/` | the same with a regular expression (case-sensitive unless it starts with `(?i)`) |
//! | `len>100`, `len>=`, `len<`, `len<=`, `len=` | messages by application length (captured length when unknown), frames by payload length |
//! | `finding`, `finding=CODE` | findings (of that check) |
//! | `severity>=warning` (`info`, `warning`, `error`) | findings at or above a severity |
//! | `incomplete` | messages the capture lost bytes of, and gaps |
//!
//! Connection, handshake, TLS and end events are shown when their connection passes the `conn`
//! terms; they are the context of what is shown.

use crate::analyzer::checks::{CheckId, Severity};
use crate::event::{Event, Payload};
use crate::tcp::Direction;
use crate::ws::OpCode;

/// A parsed display filter.
#[derive(Clone, Debug)]
pub struct DisplayFilter {
    terms: Vec<(bool, Term)>,
}

#[derive(Clone, Debug)]
enum Term {
    Conn(Vec<u64>),
    Dir(Direction),
    Op(OpSet),
    Contains(String),
    Regex(regex::Regex),
    Len(std::cmp::Ordering, bool, u64),
    Finding(Option<CheckId>),
    Severity(Severity),
    Incomplete,
}

#[derive(Clone, Copy, Debug)]
enum OpSet {
    One(OpCode),
    Data,
    Control,
}

/// How a term applies to an event: it holds, it does not, or it does not speak of this kind of
/// event (a context event, or a term about messages met by a finding).
enum Verdict {
    Yes,
    No,
}

impl DisplayFilter {
    /// Parses `expr`; the error says which term is wrong and what is allowed.
    pub fn parse(expr: &str) -> Result<DisplayFilter, String> {
        let mut terms = Vec::new();
        for raw in split_terms(expr)? {
            let (neg, t) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw.as_str()),
            };
            terms.push((neg, term(t)?));
        }
        if terms.is_empty() {
            return Err("the display filter is empty".into());
        }
        Ok(DisplayFilter { terms })
    }

    /// Whether `e` is shown.
    pub fn shows(&self, e: &Event) -> bool {
        self.terms.iter().all(|(neg, t)| match applies(t, e) {
            Some(Verdict::Yes) => !neg,
            Some(Verdict::No) => *neg,
            // A context event, for a term that does not speak of it: shown.
            None => true,
        })
    }
}

fn split_terms(expr: &str) -> Result<Vec<String>, String> {
    // Spaces separate terms, except inside /regex/.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_re = false;
    for c in expr.chars() {
        match c {
            '/' if cur.is_empty() || cur == "!" => {
                in_re = true;
                cur.push(c);
            }
            '/' if in_re => {
                in_re = false;
                cur.push(c);
            }
            c if c.is_whitespace() && !in_re => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_re {
        return Err(format!("unterminated /regex/ in the display filter: {cur:?}"));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

const HELP: &str = "terms: conn=N[,M], dir=c2s|s2c, op=text|binary|ping|pong|close|data|control, \
                    ~word, /regex/, len>N (>=, <, <=, =), finding[=CODE], severity>=LEVEL, \
                    incomplete; ! negates; all terms must hold";

fn term(t: &str) -> Result<Term, String> {
    let bad = |why: &str| format!("display filter term {t:?}: {why} ({HELP})");
    if let Some(w) = t.strip_prefix('~') {
        return Ok(Term::Contains(w.to_lowercase()));
    }
    if let Some(re) = t.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
        return regex::Regex::new(re).map(Term::Regex).map_err(|e| bad(&e.to_string()));
    }
    if t == "finding" {
        return Ok(Term::Finding(None));
    }
    if t == "incomplete" {
        return Ok(Term::Incomplete);
    }
    if let Some(rest) = t.strip_prefix("len") {
        let (ord, eq, n) = match rest.as_bytes() {
            [b'>', b'=', ..] => (std::cmp::Ordering::Greater, true, &rest[2..]),
            [b'<', b'=', ..] => (std::cmp::Ordering::Less, true, &rest[2..]),
            [b'>', ..] => (std::cmp::Ordering::Greater, false, &rest[1..]),
            [b'<', ..] => (std::cmp::Ordering::Less, false, &rest[1..]),
            [b'=', ..] => (std::cmp::Ordering::Equal, true, &rest[1..]),
            _ => return Err(bad("give len>N, len>=N, len<N, len<=N or len=N")),
        };
        let n = n.trim().parse().map_err(|_| bad("the length is not a number"))?;
        return Ok(Term::Len(ord, eq, n));
    }
    if let Some(level) = t.strip_prefix("severity>=") {
        let s = match level {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "error" => Severity::Error,
            _ => return Err(bad("the level is info, warning or error")),
        };
        return Ok(Term::Severity(s));
    }
    let Some((key, value)) = t.split_once('=') else { return Err(bad("unknown term")) };
    match key {
        "conn" => value
            .split(',')
            .map(|v| v.trim().trim_start_matches('#').parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map(Term::Conn)
            .map_err(|_| bad("connection ids are numbers")),
        "dir" => match value {
            "c2s" | "client" | "→" | "client_to_server" => {
                Ok(Term::Dir(Direction::ClientToServer))
            }
            "s2c" | "server" | "←" | "server_to_client" => {
                Ok(Term::Dir(Direction::ServerToClient))
            }
            _ => Err(bad("the direction is c2s or s2c")),
        },
        "op" => Ok(Term::Op(match value {
            "data" => OpSet::Data,
            "control" => OpSet::Control,
            "text" => OpSet::One(OpCode::Text),
            "binary" => OpSet::One(OpCode::Binary),
            "ping" => OpSet::One(OpCode::Ping),
            "pong" => OpSet::One(OpCode::Pong),
            "close" => OpSet::One(OpCode::Close),
            "continuation" => OpSet::One(OpCode::Continuation),
            _ => return Err(bad("unknown opcode")),
        })),
        "finding" => {
            let code: CheckId = serde_json::from_value(serde_json::Value::String(value.into()))
                .map_err(|_| bad("unknown check (wsscope checks lists them)"))?;
            Ok(Term::Finding(Some(code)))
        }
        _ => Err(bad("unknown term")),
    }
}

fn yes(b: bool) -> Option<Verdict> {
    Some(if b { Verdict::Yes } else { Verdict::No })
}

fn applies(t: &Term, e: &Event) -> Option<Verdict> {
    use Event::*;
    match (t, e) {
        (Term::Conn(ids), e) => yes(ids.contains(&e.connection().0)),
        (
            Term::Dir(d),
            Message { direction, .. } | Frame { direction, .. } | Gap { direction, .. },
        ) => yes(direction == d),
        (Term::Dir(d), Finding { direction, .. }) => yes(*direction == Some(*d)),
        (Term::Op(set), Message { opcode, .. } | Frame { opcode, .. }) => yes(match set {
            OpSet::One(o) => opcode == o,
            OpSet::Data => !opcode.is_control(),
            OpSet::Control => opcode.is_control(),
        }),
        (Term::Contains(w), Message { payload, close, .. }) => {
            yes(payload_text(payload, close.as_ref().map(|c| c.reason.as_str()))
                .is_some_and(|t| t.to_lowercase().contains(w.as_str())))
        }
        (Term::Contains(w), Finding { message, .. }) => {
            yes(message.to_lowercase().contains(w.as_str()))
        }
        (Term::Regex(re), Message { payload, close, .. }) => {
            yes(payload_text(payload, close.as_ref().map(|c| c.reason.as_str()))
                .is_some_and(|t| re.is_match(&t)))
        }
        (Term::Regex(re), Finding { message, .. }) => yes(re.is_match(message)),
        (Term::Len(ord, eq, n), Message { length, captured_length, .. }) => {
            yes(cmp(length.unwrap_or(*captured_length), *ord, *eq, *n))
        }
        (Term::Len(ord, eq, n), Frame { payload_length, .. }) => {
            yes(cmp(*payload_length, *ord, *eq, *n))
        }
        (Term::Finding(code), Finding { code: c, .. }) => yes(code.is_none_or(|k| k == *c)),
        (Term::Severity(s), Finding { severity, .. }) => yes(severity >= s),
        (Term::Incomplete, Message { complete, .. }) => yes(!complete),
        (Term::Incomplete, Gap { .. }) => Some(Verdict::Yes),
        // Context events: the connection's lines.
        (_, Connection { .. } | Handshake { .. } | End { .. } | Tls { .. }) => None,
        // A term about one kind of event, met by another kind: not shown.
        _ => Some(Verdict::No),
    }
}

fn cmp(v: u64, ord: std::cmp::Ordering, eq: bool, n: u64) -> bool {
    v.cmp(&n) == ord || (eq && v == n)
}

fn payload_text(p: &Payload, reason: Option<&str>) -> Option<String> {
    match (reason, p) {
        (Some(r), _) => Some(r.to_string()),
        (None, Payload::Text(t)) => Some(t.clone()),
        (None, Payload::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        (None, Payload::Unavailable) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Position;
    use crate::tcp::ConnId;

    fn msg(conn: u64, dir: Direction, op: OpCode, text: &str) -> Event {
        Event::Message {
            connection: ConnId(conn),
            direction: dir,
            opcode: op,
            complete: true,
            length: Some(text.len() as u64),
            captured_length: text.len() as u64,
            missing: Some(0),
            wire_length: text.len() as u64,
            compressed: false,
            fragments: 1,
            first: Position::default(),
            last: Position::default(),
            end: Position::default(),
            payload: Payload::Text(text.into()),
            truncated: false,
            close: None,
            rtt: None,
        }
    }

    fn finding(conn: u64, code: CheckId, sev: Severity) -> Event {
        Event::Finding {
            connection: ConnId(conn),
            code,
            severity: sev,
            rfc: "",
            direction: Some(Direction::ClientToServer),
            at: Position::default(),
            message: "Something Happened".into(),
        }
    }

    #[test]
    fn terms_combine_and_negate() {
        let c2s = Direction::ClientToServer;
        let s2c = Direction::ServerToClient;
        let hello = msg(1, c2s, OpCode::Text, "Hello World");
        let ping = msg(2, s2c, OpCode::Ping, "p");
        let f = finding(1, CheckId::TextNotUtf8, Severity::Error);
        let shows = |expr: &str, e: &Event| DisplayFilter::parse(expr).unwrap().shows(e);
        assert!(shows("~hello", &hello) && !shows("~bye", &hello));
        assert!(shows("/World$/", &hello) && !shows("/world$/", &hello));
        assert!(shows("conn=1 dir=c2s op=text len>=11", &hello));
        assert!(!shows("conn=1 dir=c2s op=text len>11", &hello));
        assert!(shows("op=control", &ping) && !shows("op=data", &ping) && shows("!op=data", &ping));
        assert!(shows("conn=2,3", &ping) && !shows("conn=1", &ping));
        // A message term hides findings; finding terms hide messages.
        assert!(!shows("op=text", &f) && shows("finding", &f) && !shows("finding", &hello));
        assert!(shows("finding=text_not_utf8 severity>=warning", &f));
        assert!(!shows("severity>=error", &finding(1, CheckId::CaptureGap, Severity::Warning)));
        assert!(shows("~something", &f));
        // Context: a connection's lines pass unless its id is filtered out.
        let end = Event::End {
            connection: ConnId(1),
            reason: crate::tcp::CloseReason::Fin,
            closed_first_by: None,
            clean: true,
            ts: Default::default(),
        };
        assert!(shows("op=text ~nothing", &end) && !shows("conn=2", &end));
    }

    #[test]
    fn errors_name_the_term_and_the_grammar() {
        for bad in
            ["", "len>>3", "dir=up", "op=foo", "finding=nope", "conn=a", "/unclosed", "bogus"]
        {
            let e = DisplayFilter::parse(bad).unwrap_err();
            assert!(e.contains("display filter"), "{bad}: {e}");
        }
        assert!(DisplayFilter::parse("/a b/ ~x").is_ok());
    }
}
