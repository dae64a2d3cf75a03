//! Human-readable output, one line per handshake, message, finding, gap and end — the default
//! view, and `export --format text`.
//!
//! Every string from the capture (and its file name) goes through [`crate::term`], so a capture
//! cannot drive or deceive the terminal.

use super::{Format, InputInfo};
use crate::analyzer::AnalyzerStats;
use crate::analyzer::checks::{Severity, json_name};
use crate::event::{Event, HandshakeOutcome, Payload};
use crate::pipeline::RunSummary;
use crate::redact::Rules;
use crate::tcp::{ConnId, Direction};
use crate::term::{Printable, escape, printable};
use crate::time::Timestamp;
use crate::timefmt::{self, Moments, TimeMode};
use crate::tls::Decryption;
use crate::ws::OpCode;
use foldhash::HashMap;
use std::io::{self, Write};

/// Characters of payload shown per message (unless verbose).
const PREVIEW: usize = 120;

/// Writes text.
pub struct Text<W: Write> {
    out: W,
    color: bool,
    verbose: bool,
    /// Time of the first event, for relative times.
    t0: Option<Timestamp>,
    /// The latest time printed: the time column never goes backwards (a capture whose
    /// timestamps are not sorted, bytes decoded after later ones).
    shown: i64,
    line_buffered: bool,
    /// Packets lost before the analysis (live), as last said.
    lost: [u64; 3],
    /// The time column (`--time`).
    time: TimeMode,
    /// Each connection's first time shown, for `--time connection`.
    starts: HashMap<ConnId, Timestamp>,
    /// The previous line's time, for `--time delta`.
    previous: Option<Timestamp>,
    /// What this input's lines said, for its closing summary.
    counts: Counts,
    /// A display filter (`-Y`) chooses the lines: the summary counts what was shown.
    filtered: bool,
}

/// What an input's lines said.
#[derive(Default)]
struct Counts {
    messages: u64,
    incomplete: u64,
    findings: [u64; 3],
    gaps: u64,
}

impl<W: Write> Text<W> {
    /// Text to `out`.
    pub fn new(out: W, color: bool, verbose: bool, line_buffered: bool) -> Self {
        Text {
            out,
            color,
            verbose,
            t0: None,
            shown: 0,
            line_buffered,
            lost: [0; 3],
            time: TimeMode::Capture,
            starts: HashMap::default(),
            previous: None,
            counts: Counts::default(),
            filtered: false,
        }
    }

    /// A display filter chose the lines (the closing summary says its counts are of those).
    pub fn filtered(mut self, filtered: bool) -> Self {
        self.filtered = filtered;
        self
    }

    /// The time column in `mode`.
    pub fn with_time(mut self, mode: TimeMode) -> Self {
        self.time = mode;
        self
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }

    fn rel(&mut self, conn: ConnId, ts: Timestamp) -> String {
        let t0 = *self.t0.get_or_insert(ts);
        let d = ts.as_nanos().saturating_sub(t0.as_nanos()).max(self.shown);
        self.shown = d;
        // The time shown never goes backwards, in any mode.
        let at = Timestamp::from_nanos(t0.as_nanos().saturating_add(d));
        let connection = *self.starts.entry(conn).or_insert(at);
        let previous = self.previous.replace(at).unwrap_or(at);
        let m = Moments { at, capture: t0, connection, previous };
        let w = self.time_width();
        format!("{:>w$}", timefmt::format(self.time, m, crate::term::local_offset))
    }

    /// Columns of the time column (a wall clock, `HH:MM:SS.mmm`, is one wider).
    fn time_width(&self) -> usize {
        if matches!(self.time, TimeMode::Utc | TimeMode::Local) { 12 } else { 11 }
    }

    fn arrow(&self, d: Direction) -> String {
        match d {
            Direction::ClientToServer => self.paint("36", "→"),
            Direction::ServerToClient => self.paint("35", "←"),
        }
    }
}

impl<W: Write> Format for Text<W> {
    fn begin(&mut self, input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()> {
        let links = if input.link_type.is_empty() {
            String::new() // stopped before the file header arrived
        } else {
            format!(" ({})", input.link_type)
        };
        let line = self.paint("1", &format!("── {}{links}", escape(&input.name)));
        writeln!(self.out, "{line}")?;
        if let Some((i, n)) = input.shard {
            writeln!(
                self.out,
                "   share {i} of {n} (--shard {i}/{n}): only the connections that fall in it"
            )?;
        }
        if let Some(r) = redaction {
            writeln!(self.out, "   redacted: {} (wsscope redaction lists the rules)", r.summary())?;
        }
        Ok(())
    }

    /// Live capture: a line whenever packets were lost since the last one said so.
    fn stats(&mut self, s: &crate::event::Stats) -> io::Result<()> {
        let now = [s.dropped, s.if_dropped, s.queue_dropped];
        if now.iter().zip(&self.lost).all(|(n, l)| n <= l) {
            return Ok(());
        }
        let new: Vec<u64> = now.iter().zip(&self.lost).map(|(n, l)| n.saturating_sub(*l)).collect();
        self.lost = now;
        let mut why = Vec::new();
        if new[0] > 0 {
            why.push(format!("{} by libpcap (its buffer was full: a larger -B helps)", new[0]));
        }
        if new[1] > 0 {
            why.push(format!("{} by the interface", new[1]));
        }
        if new[2] > 0 {
            why.push(format!(
                "{} by wsscope (its analysis fell behind: a narrower -f filter helps)",
                new[2]
            ));
        }
        let line = self.paint(
            "33",
            &format!(
                "warning: {} packets lost at {:.0}s: {}; the connections they belonged to show gaps",
                new.iter().sum::<u64>(),
                s.elapsed,
                why.join(", ")
            ),
        );
        writeln!(self.out, "{line}")?;
        if self.line_buffered {
            self.out.flush()?;
        }
        Ok(())
    }

    fn event(&mut self, e: Event) -> io::Result<()> {
        let e = &e;
        match e {
            Event::Message { complete: true, .. } => self.counts.messages += 1,
            Event::Message { .. } => self.counts.incomplete += 1,
            Event::Finding { severity, .. } => self.counts.findings[*severity as usize] += 1,
            Event::Gap { .. } => self.counts.gaps += 1,
            _ => {}
        }
        // Lines without a time of their own are indented by the time column's width.
        let w = self.time_width();
        let line = match e {
            Event::Connection {
                connection, client, server, community_id, ts, continues, ..
            } => {
                let t = self.rel(*connection, *ts);
                let mut line = format!(
                    "{t} #{connection} {} {client} ⇄ {server}",
                    self.paint("1", "connection")
                );
                if continues.is_some() {
                    // Counted once with its earlier part (see `Event::Connection`).
                    line += " (continues the earlier connection of these endpoints: wsscope had \
                             stopped following it)";
                }
                // -v: the flow hash, to find the connection in Zeek's or Suricata's logs.
                if self.verbose { format!("{line} {community_id}") } else { line }
            }
            Event::Handshake { connection, seen: false, .. } => {
                format!("{:>w$} #{connection} handshake not captured (frames found mid-stream)", "")
            }
            Event::Handshake { connection, request, response, accept_valid, outcome, .. } => {
                let req = request
                    .as_ref()
                    .map(|r| {
                        format!(
                            "{} {} host={}",
                            printable(&r.method, 20),
                            printable(&r.path, 200),
                            printable(r.host.as_deref().unwrap_or("-"), 100)
                        )
                    })
                    .unwrap_or_default();
                let resp = match (outcome, response) {
                    (HandshakeOutcome::Upgraded, None) => {
                        "response not captured (frames followed)".to_string()
                    }
                    (HandshakeOutcome::NoResponse, _) | (_, None) => "no response".to_string(),
                    (HandshakeOutcome::NotFollowed, Some(r)) => format!(
                        "{} {} (not followed: HTTP went on)",
                        r.status,
                        printable(&r.reason, 80)
                    ),
                    (_, Some(r)) => format!("{} {}", r.status, printable(&r.reason, 80)),
                };
                let accept = match accept_valid {
                    Some(true) => " accept ✓".to_string(),
                    Some(false) => self.paint("31", " accept ✗"),
                    None => String::new(),
                };
                let ext: Vec<String> = response
                    .iter()
                    .flat_map(|r| r.extensions.iter().map(|e| printable(&e.name, 60)))
                    .collect();
                let proto = response
                    .as_ref()
                    .and_then(|r| r.protocol.as_deref())
                    .map(|p| format!(" protocol={}", printable(p, 60)));
                format!(
                    "{:>w$} #{connection} {req} → {resp}{accept}{}{}",
                    "",
                    proto.unwrap_or_default(),
                    if ext.is_empty() {
                        String::new()
                    } else {
                        format!(" extensions={}", ext.join(","))
                    }
                )
            }
            Event::Frame {
                connection, direction, fin, rsv, opcode, payload_length, at, ..
            } => {
                if !self.verbose {
                    return Ok(());
                }
                let t = self.rel(*connection, at.ts);
                let a = self.arrow(*direction);
                format!(
                    "{t} #{connection} {a}   frame {opcode} fin={} rsv={rsv:03b} len={payload_length}",
                    u8::from(*fin)
                )
            }
            Event::Message {
                connection,
                direction,
                opcode,
                complete,
                length,
                captured_length,
                missing,
                wire_length,
                compressed,
                fragments,
                end,
                payload,
                truncated,
                close,
                rtt,
                ..
            } => {
                let t = self.rel(*connection, end.ts);
                let a = self.arrow(*direction);
                // An incomplete message never shows a length as if it were whole.
                let mut meta = match (complete, length) {
                    (true, Some(n)) => format!("{n} B"),
                    // Complete on the wire, but it could not be inflated: its length is unknown.
                    (true, None) => "? B".to_string(),
                    (false, Some(n)) => format!("{captured_length} of {n} B"),
                    (false, None) => format!("≥{captured_length} B"),
                };
                if !complete {
                    meta += &match missing {
                        Some(m) => self.paint("33", &format!(" INCOMPLETE ({m} B lost)")),
                        None => self.paint("33", " INCOMPLETE"),
                    };
                }
                if *compressed {
                    meta += &format!(" ({wire_length} B deflated)");
                }
                if *fragments > 1 {
                    meta += &format!(" in {fragments} frames");
                }
                if let Some(r) = rtt {
                    meta += &format!(" rtt {:.3} ms", r * 1e3);
                }
                let max = if self.verbose { usize::MAX } else { PREVIEW };
                let cut = if *truncated { " …" } else { "" };
                // A whole large message (-v) is escaped into the output as it is written: the
                // line once held three escaped copies of it, and a binary one a string per byte.
                let shown = match payload {
                    Payload::Text(s) => s.len().min(max),
                    Payload::Bytes(b) => b.len().min(max / 3),
                    Payload::Unavailable => 0,
                };
                if close.is_none() && shown >= crate::event::LARGE_PAYLOAD {
                    write!(self.out, "{t} #{connection} {a} {:<6} {meta}  ", opcode.name())?;
                    match payload {
                        Payload::Text(s) => write!(self.out, "\"{}\"", Printable(s, max))?,
                        Payload::Bytes(b) => write!(self.out, "{}", HexPreview(b, max / 3))?,
                        Payload::Unavailable => {}
                    }
                    writeln!(self.out, "{cut}")?;
                    if self.line_buffered {
                        self.out.flush()?;
                    }
                    return Ok(());
                }
                let body = match (close, payload) {
                    (Some(c), _) => format!(
                        "{} {}",
                        c.code.map(|c| c.to_string()).unwrap_or_else(|| "(no code)".into()),
                        quote(&c.reason, max)
                    ),
                    (None, Payload::Text(s)) => quote(s, max),
                    // Pings and pongs carry short tokens: shown as text when they are (as in
                    // the terminal UI).
                    (None, Payload::Bytes(b))
                        if matches!(opcode, OpCode::Ping | OpCode::Pong)
                            && !b.is_empty()
                            && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') =>
                    {
                        quote(&String::from_utf8_lossy(b), max)
                    }
                    (None, Payload::Bytes(b)) => hex_preview(b, max / 3),
                    (None, Payload::Unavailable) => "(content unavailable)".into(),
                };
                format!("{t} #{connection} {a} {:<6} {meta}  {body}{cut}", opcode.name())
            }
            Event::Finding { connection, code, severity, rfc, direction, at, message } => {
                let sev = match severity {
                    Severity::Error => self.paint("1;31", "ERROR"),
                    Severity::Warning => self.paint("33", "WARN "),
                    Severity::Info => self.paint("34", "info "),
                };
                let a = direction.map(|d| self.arrow(d)).unwrap_or_else(|| " ".into());
                format!(
                    "{:>w$} #{connection} {a} {sev} {code}: {} [{rfc}; packet {}]",
                    "",
                    printable(message, 400),
                    at.packet
                )
            }
            Event::Gap { connection, direction, length, reason, at, .. } => {
                let a = self.arrow(*direction);
                let g = self.paint("33", "GAP  ");
                format!(
                    "{:>w$} #{connection} {a} {g} {length} bytes missing at offset {} ({}, packet {})",
                    "",
                    at.offset,
                    json_name(reason),
                    at.packet
                )
            }
            Event::Tls { connection, client, server, websocket, end, tls, .. } => {
                let t = self.rel(*connection, *end);
                let mut what =
                    vec![tls.version.clone().unwrap_or_else(|| "TLS (no ServerHello)".into())];
                what.extend(tls.cipher_suite.clone());
                if let Some(sni) = &tls.sni {
                    what.push(format!("sni {}", printable(sni, 200)));
                }
                match (&tls.alpn, tls.alpn_offered.is_empty()) {
                    (Some(a), _) => what.push(format!("alpn {}", printable(a, 100))),
                    (None, false) => what.push(format!(
                        "alpn offered {}",
                        printable(&tls.alpn_offered.join(","), 200)
                    )),
                    (None, true) => {}
                }
                if tls.resumed {
                    what.push("resumed".into());
                }
                if tls.key_updates > 0 {
                    what.push(format!("{} key updates", tls.key_updates));
                }
                let bytes = tls.client_to_server.bytes + tls.server_to_client.bytes;
                let records = tls.client_to_server.records + tls.server_to_client.records;
                let state = match tls.decryption {
                    Decryption::Decrypted => {
                        format!("decrypted{}", if *websocket { ", WebSocket inside" } else { "" })
                    }
                    Decryption::Partial => "decrypted in part".to_string(),
                    _ => format!(
                        "not decrypted{}",
                        if tls.may_carry_websocket { " (shaped like a WebSocket)" } else { "" }
                    ),
                };
                let head = self.paint("1", "tls");
                let mut line = format!(
                    "{t} #{connection} {head} {client} ⇄ {server} {}; {records} records, {bytes} \
                     bytes; {state}",
                    what.join(", ")
                );
                if let Some(a) = &tls.advice {
                    line.push_str(&format!(": {}", printable(a, 400)));
                }
                line
            }
            Event::End { connection, reason, closed_first_by, clean, ts } => {
                let t = self.rel(*connection, *ts);
                // Forgotten at its end: a long run shows millions of connections.
                let lasted = self
                    .starts
                    .remove(connection)
                    .map(|s| timefmt::duration(ts.saturating_since(s).as_secs_f64()));
                let who = match closed_first_by {
                    Some(Direction::ClientToServer) => "closed by the client",
                    Some(Direction::ServerToClient) => "closed by the server",
                    None => "no close frame",
                };
                format!(
                    "{t} #{connection} end: {who}, {}, TCP {}{}",
                    if *clean { "clean" } else { "not clean" },
                    json_name(reason),
                    lasted.map(|d| format!(", after {d}")).unwrap_or_default()
                )
            }
        };
        writeln!(self.out, "{line}")?;
        if self.line_buffered {
            self.out.flush()?;
        }
        Ok(())
    }

    fn end(
        &mut self,
        input: &InputInfo,
        summary: &RunSummary,
        analyzer: &AnalyzerStats,
    ) -> io::Result<()> {
        let p = &summary.packets;
        let c = std::mem::take(&mut self.counts);
        // In words: "1 TCP connection", "2 messages (1 incomplete)", "no findings".
        let n = |k: u64, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        let mut said = vec![
            n(p.packets, "packet", "packets"),
            n(analyzer.tcp_connections, "TCP connection", "TCP connections"),
            n(analyzer.websocket_connections, "WebSocket", "WebSocket"),
        ];
        if analyzer.tls_connections > 0 {
            said.push(n(analyzer.tls_connections, "TLS not decrypted", "TLS not decrypted"));
        }
        let mut messages = n(c.messages, "message", "messages");
        if self.filtered {
            messages += " shown (-Y)";
        }
        if c.incomplete > 0 {
            messages += &format!(" ({} incomplete)", c.incomplete);
        }
        said.push(messages);
        if c.gaps > 0 {
            said.push(n(c.gaps, "gap", "gaps"));
        }
        let [info, warning, error] = c.findings;
        let shown = if self.filtered { " shown" } else { "" };
        said.push(match (error, warning, info) {
            (0, 0, 0) => format!("no findings{shown}"),
            _ => {
                let parts: Vec<String> = [(error, "error"), (warning, "warning"), (info, "info")]
                    .into_iter()
                    .filter(|(k, _)| *k > 0)
                    .map(|(k, what)| format!("{k} {what}"))
                    .collect();
                format!("findings{shown}: {}", parts.join(", "))
            }
        });
        writeln!(self.out, "── {}: {}", escape(&input.name), said.join(", "))?;
        if p.decapsulated.total() > 0 {
            writeln!(self.out, "   tunnels taken off: {}", tunnels(&p.decapsulated))?;
        }
        if p.malformed > 0 {
            writeln!(
                self.out,
                "warning: {} packet(s) not decoded: {}",
                p.malformed,
                p.undecoded.summary()
            )?;
        }
        if let Some(cut) = super::snaplen_cut(p) {
            writeln!(self.out, "warning: {cut}")?;
        }
        match &summary.end_of_input {
            crate::capture::EndOfInput::Truncated { message } => {
                writeln!(self.out, "warning: input ended early: {}", escape(message))?
            }
            crate::capture::EndOfInput::Stopped { message } => {
                writeln!(self.out, "   {}", escape(message))?
            }
            crate::capture::EndOfInput::Clean => {}
        }
        if summary.capture.lost() > 0 {
            writeln!(
                self.out,
                "warning: {} packets lost: libpcap dropped {}, the interface {}, wsscope's queue {}",
                summary.capture.lost(),
                summary.capture.dropped,
                summary.capture.if_dropped,
                summary.capture.queue_dropped
            )?;
        }
        if let Some(m) =
            super::memory_notice(&crate::memory::MemoryStats { peak: 0, ..summary.memory })
        {
            writeln!(self.out, "warning: {m}")?;
        }
        if let Some(m) = super::limits_notice(&summary.tcp) {
            writeln!(self.out, "warning: {m}")?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// "12 VXLAN, 3 GRE": the tunnels with a count.
pub fn tunnels(t: &crate::packet::TunnelStats) -> String {
    let parts: Vec<String> =
        t.named().iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{n} {name}")).collect();
    parts.join(", ")
}

fn quote(s: &str, max: usize) -> String {
    format!("\"{}\"", Printable(s, max))
}

fn hex_preview(b: &[u8], max: usize) -> String {
    HexPreview(b, max).to_string()
}

/// The first `.1` bytes in hex, `[01 ab …]`.
struct HexPreview<'a>(&'a [u8], usize);

impl std::fmt::Display for HexPreview<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (b, max) = (self.0, self.1);
        f.write_str("[")?;
        for (i, x) in b.iter().take(max).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{x:02x}")?;
        }
        f.write_str(if b.len() > max { " …]" } else { "]" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_preview_as_written(b in proptest::collection::vec(any::<u8>(), 0..40), max in 0usize..50) {
            let shown: Vec<String> = b.iter().take(max).map(|x| format!("{x:02x}")).collect();
            let want = format!("[{}{}]", shown.join(" "), if b.len() > max { " …" } else { "" });
            prop_assert_eq!(HexPreview(&b, max).to_string(), want);
        }
    }
}
