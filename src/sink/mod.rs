//! Output sinks: they only format. The analyzer drives; every sink receives the same events.
//!
//! [`Output`] adapts any [`Format`] to the analyzer's [`EventSink`]: it numbers connections
//! across several inputs, counts findings per severity for the exit status, tells each format
//! the redaction rules its events were redacted with (`--redact`: [`crate::redact`], applied by
//! [`crate::redact::Redacting`] right after the analyzer), cuts payloads when asked, and turns
//! the first write error into a stop request (so `wsscope export … | head` ends promptly).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod json;
pub mod junit;
pub mod ndjson;
pub mod pretty;
pub mod report;
pub mod schema;
pub mod text;

use crate::analyzer::AnalyzerStats;
use crate::analyzer::checks::Severity;
use crate::event::{Event, EventSink, Payload};
use crate::pipeline::{RunSummary, Stop};
use crate::redact::Rules;
use crate::tcp::ConnId;
use serde::Serialize;
use std::io;
use std::sync::Arc;

/// Version of every JSON output (report, NDJSON, JSON). Bumped on any incompatible change,
/// recorded in CHANGELOG.md.
pub const SCHEMA_VERSION: u32 = 2;

/// The tool, as named in JSON outputs.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Always "wsscope".
    pub name: String,
    /// The version that wrote the output.
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool { name: "wsscope".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// One input as the sinks see it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputInfo {
    /// File path, `-` for standard input, or `-i IFACE`.
    pub name: String,
    /// Link type, e.g. `ETHERNET (1)`.
    pub link_type: String,
    /// The decimals of a second its timestamps carry (6: microseconds, 9: nanoseconds): the
    /// report rounds times and durations to them.
    #[serde(skip)]
    #[schemars(skip)]
    pub ts_decimals: u8,
    /// `--shard I/N`: (I, N), the share of the connections this run analyses. Said by the
    /// NDJSON `begin` line and the text view, not in the input objects (which must be the same
    /// in every share for `wsscope merge`).
    #[serde(skip)]
    #[schemars(skip)]
    pub shard: Option<(u64, u64)>,
}

/// The NDJSON `begin` line's `shard`: this output covers only share `index` of `count`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ShareOf {
    /// I, from 0.
    pub index: u64,
    /// N.
    pub count: u64,
}

/// What an output format does with the run.
pub trait Format {
    /// An input starts; `redaction` is the rules every event of the run was redacted with.
    fn begin(&mut self, input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()>;
    /// One event (connections already numbered across inputs), handed over: a format keeps
    /// what it needs of it without copying.
    fn event(&mut self, event: Event) -> io::Result<()>;
    /// Live capture counters, about once a second (most formats show them only at the end).
    fn stats(&mut self, _stats: &crate::event::Stats) -> io::Result<()> {
        Ok(())
    }
    /// An input ended.
    fn end(
        &mut self,
        input: &InputInfo,
        summary: &RunSummary,
        analyzer: &AnalyzerStats,
    ) -> io::Result<()>;
    /// Everything is done.
    fn finish(&mut self) -> io::Result<()>;
}

/// Adapts a [`Format`] to the analyzer.
pub struct Output<F: Format> {
    format: F,
    stop: Arc<Stop>,
    error: Option<io::Error>,
    /// Added to connection ids of the current input.
    offset: u64,
    /// Ids the current input used: its highest id seen, or (once it ends) the number of TCP
    /// connections it tracked, so that ids do not depend on which connections yielded events
    /// (a `--shard` share numbers every input as one run does).
    max_id: u64,
    /// Findings per severity (info, warning, error).
    findings: [u64; 3],
    max_payload: Option<usize>,
    /// The rules events were redacted with before they came here.
    redaction: Option<Rules>,
    /// Which events reach the format (`-Y`); findings are counted before it.
    display: Option<crate::display_filter::DisplayFilter>,
}

impl<F: Format> Output<F> {
    /// Wraps `format`; a write error requests `stop`. Payloads are cut to `max_payload` bytes.
    /// Events come redacted with `redaction`, if any (see [`crate::redact::Redacting`]).
    pub fn new(
        format: F,
        stop: Arc<Stop>,
        max_payload: Option<usize>,
        redaction: Option<Rules>,
    ) -> Self {
        Output {
            format,
            stop,
            error: None,
            offset: 0,
            max_id: 0,
            findings: [0; 3],
            max_payload,
            redaction,
            display: None,
        }
    }

    /// Shows only the events `filter` lets through (findings are still counted).
    pub fn with_display_filter(
        mut self,
        filter: Option<crate::display_filter::DisplayFilter>,
    ) -> Self {
        self.display = filter;
        self
    }

    /// Starts an input.
    pub fn begin(&mut self, input: &InputInfo) {
        self.offset += self.max_id;
        self.max_id = 0;
        let r = self.format.begin(input, self.redaction.as_ref());
        self.check(r);
    }

    /// Ends an input.
    pub fn end(&mut self, input: &InputInfo, summary: &RunSummary, analyzer: &AnalyzerStats) {
        self.max_id = self.max_id.max(summary.tcp.connections);
        let r = self.format.end(input, summary, analyzer);
        self.check(r);
    }

    /// Finishes the output; returns the first write error, if any.
    pub fn finish(mut self) -> io::Result<(F, [u64; 3])> {
        if self.error.is_none() {
            let r = self.format.finish();
            self.check(r);
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.format, self.findings)),
        }
    }

    /// Findings counted so far: [info, warning, error].
    pub fn findings(&self) -> [u64; 3] {
        self.findings
    }

    fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
            self.stop.request();
        }
    }
}

impl<F: Format> EventSink for Output<F> {
    fn event(&mut self, mut event: Event) {
        if self.error.is_some() {
            return;
        }
        let id = event.connection_mut();
        self.max_id = self.max_id.max(id.0);
        *id = ConnId(id.0 + self.offset);
        if let Event::Finding { severity, .. } = &event {
            self.findings[match severity {
                Severity::Info => 0,
                Severity::Warning => 1,
                Severity::Error => 2,
            }] += 1;
        }
        // Redacted before it came here, so before cutting (a JSON member cut in half is still
        // recognised).
        if let (Some(max), Event::Message { payload, truncated, .. }) =
            (self.max_payload, &mut event)
        {
            *truncated |= cut_payload(payload, max);
        }
        // What is shown, matched after redaction (a filter cannot find what is not shown).
        if self.display.as_ref().is_some_and(|f| !f.shows(&event)) {
            return;
        }
        let r = self.format.event(event);
        self.check(r);
    }

    fn stats(&mut self, stats: &crate::event::Stats) {
        if self.error.is_none() {
            let r = self.format.stats(stats);
            self.check(r);
        }
    }
}

/// Cuts a payload to at most `max` bytes (text at a character boundary); true if it was cut.
pub fn cut_payload(payload: &mut Payload, max: usize) -> bool {
    match payload {
        Payload::Text(t) if t.len() > max => {
            let mut end = max;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t.truncate(end);
            true
        }
        Payload::Bytes(b) if b.len() > max => {
            b.truncate(max);
            true
        }
        _ => false,
    }
}

/// Why an input yielded no WebSocket connection, in words a user can act on (empty when it did
/// yield some): what the packets and the TCP connections turned out to be.
pub fn why_no_websocket(summary: &RunSummary, analyzer: &AnalyzerStats) -> Vec<String> {
    if analyzer.websocket_connections > 0 {
        return Vec::new();
    }
    let p = &summary.packets;
    let mut why = Vec::new();
    if p.packets == 0 {
        why.push("the capture holds no packets".to_string());
        return why;
    }
    if p.malformed > 0 {
        why.push(format!(
            "{} of {} packets could not be decoded: {}",
            p.malformed,
            p.packets,
            p.undecoded.summary()
        ));
    }
    why.extend(snaplen_cut(p));
    if p.tcp_segments == 0 {
        why.push(format!(
            "no TCP segment in {} packets ({} are not TCP over IP{})",
            p.packets,
            p.other,
            if p.ipv4_fragments + p.ipv6_fragments > 0 { ", some are IP fragments" } else { "" }
        ));
        return why;
    }
    // (count, what one connection did, what several did)
    let n = |k: u64, one: &str, many: &str| {
        (k > 0).then(|| {
            if k == 1 {
                format!("1 TCP connection {one}")
            } else {
                format!("{k} TCP connections {many}")
            }
        })
    };
    let other = "neither HTTP nor WebSocket frames (connections are searched for frames even \
                 without a handshake, on ports named with --ws-port too; these showed none)";
    why.extend(
        [
            n(
                analyzer.tls_connections,
                "carries TLS that was not decrypted (its `tls` entry says why; wss:// is \
                 decrypted with the key log its client wrote, --keylog FILE)",
                "carry TLS that was not decrypted (their `tls` entries say why; wss:// is \
                 decrypted with the key log their clients wrote, --keylog FILE)",
            ),
            n(
                analyzer.http_connections,
                "carries HTTP/1.1 without a WebSocket upgrade",
                "carry HTTP/1.1 without a WebSocket upgrade",
            ),
            n(
                analyzer.gap_before_handshake,
                "lost bytes before its handshake (capture loss: a larger snaplen or buffer \
                 helps; --ws-port PORT decodes the frames without it)",
                "lost bytes before their handshake (capture loss: a larger snaplen or buffer \
                 helps; --ws-port PORT decodes the frames without it)",
            ),
            n(analyzer.empty_connections, "carried no payload", "carried no payload"),
            n(analyzer.other_connections, &format!("carries {other}"), &format!("carry {other}")),
        ]
        .into_iter()
        .flatten(),
    );
    if summary.tcp.connections == 0 {
        why.push("no TCP connection was seen".to_string());
    }
    why
}

/// "6 TCP segments were cut by the capture's snapshot length (snaplen 96): …", when some were.
pub fn snaplen_cut(p: &crate::packet::PacketStats) -> Option<String> {
    let n = p.snaplen_truncated;
    (n > 0).then(|| {
        format!(
            "{n} TCP segment{} cut by the capture's snapshot length (snaplen {}): their bytes are \
             missing; capture again with -s 0",
            if n == 1 { " was" } else { "s were" },
            p.snaplen
        )
    })
}

/// "1234 packets were lost before the analysis, which read 5678: …", when a live capture lost
/// some, with what to do about each cause. The total is what the analysis read, not libpcap's
/// `received`: on `lo` that counts every packet twice (as tcpdump's "received by filter").
/// `doubled`: the capture is on `lo` or `any`, where libpcap's `dropped` counts twice too.
pub fn loss_notice(c: &crate::capture::CaptureStats, read: u64, doubled: bool) -> Option<String> {
    if c.lost() == 0 {
        return None;
    }
    let mut why = Vec::new();
    if c.dropped > 0 {
        let twice = if doubled {
            "; on lo, and on any for lo's packets, the kernel counts both copies of a packet \
             (sent and received) where libpcap keeps one: about half as many were lost"
        } else {
            ""
        };
        why.push(format!(
            "{} dropped by libpcap (its buffer was full: a larger -B){twice}",
            c.dropped
        ));
    }
    if c.if_dropped > 0 {
        why.push(format!("{} by the interface or driver", c.if_dropped));
    }
    if c.queue_dropped > 0 {
        why.push(format!(
            "{} by wsscope, whose analysis fell behind (a narrower -f filter, or a larger \
             --capture-queue for bursts)",
            c.queue_dropped
        ));
    }
    let lost = c.lost();
    Some(format!(
        "{lost} packet{} lost before the analysis, which read {read}: {}; connections that \
         lost bytes show gaps",
        if lost == 1 { " was" } else { "s were" },
        why.join(", ")
    ))
}

/// What standard error says about an input that did yield WebSocket connections (when it did
/// not, [`why_no_websocket`] says it all): packets cut by the snapshot length, IPv4 datagrams
/// dropped or fragments ignored because their fragments overlapped.
pub fn capture_notices(summary: &RunSummary, analyzer: &AnalyzerStats) -> Vec<String> {
    if analyzer.websocket_connections == 0 {
        return Vec::new();
    }
    let p = &summary.packets;
    let u = &p.undecoded;
    let mut out: Vec<String> = snaplen_cut(p).into_iter().collect();
    let dropped = u.fragment_overlap + u.fragment_length_conflict;
    if dropped > 0 {
        out.push(format!(
            "{dropped} IPv4 datagram{} dropped because {} fragments overlapped or contradicted \
             each other; Linux drops such datagrams, so their bytes are not shown",
            if dropped == 1 { " was" } else { "s were" },
            if dropped == 1 { "its" } else { "their" },
        ));
    }
    if u.fragment_duplicate_differs > 0 {
        out.push(format!(
            "{} IPv4 fragment{} repeated received bytes with other contents; the first copy was \
             kept, as Linux keeps it",
            u.fragment_duplicate_differs,
            if u.fragment_duplicate_differs == 1 { "" } else { "s" },
        ));
    }
    out
}

/// Whether `findings` ([info, warning, error]) reach `threshold`.
pub fn reaches(findings: [u64; 3], threshold: Option<Severity>) -> bool {
    match threshold {
        None => false,
        Some(Severity::Info) => findings.iter().sum::<u64>() > 0,
        Some(Severity::Warning) => findings[1] + findings[2] > 0,
        Some(Severity::Error) => findings[2] > 0,
    }
}

/// Connections the connection limit or the idle timeout stopped following while open, for
/// people (`None` when none).
pub fn limits_notice(tcp: &crate::tcp::TableStats) -> Option<String> {
    let mut what = Vec::new();
    if tcp.evicted > 0 {
        what.push(format!(
            "{} connection(s) evicted while open at the connection limit (raise \
             --max-connections): what they sent afterwards was not decoded as part of them",
            tcp.evicted
        ));
    }
    if tcp.closed_idle > 0 {
        what.push(format!(
            "{} connection(s) no longer followed after --idle-timeout of silence (those that \
             went on are shown again as new connections, resumed)",
            tcp.closed_idle
        ));
    }
    if tcp.history_not_kept > 0 {
        what.push(format!(
            "{} segment(s) not kept for the retransmission check once all connections held \
             --max-history-total (with --threads, each worker holds its share of it; raise it): \
             a retransmission of their bytes that differs is not caught",
            tcp.history_not_kept
        ));
    }
    (!what.is_empty()).then(|| what.join("; "))
}

/// What the memory budget gave up, for people (`None` when it gave up nothing).
pub fn memory_notice(m: &crate::memory::MemoryStats) -> Option<String> {
    use crate::memory::{Level, human};
    if m.level == Level::Normal {
        return None;
    }
    let mut what = Vec::new();
    for (n, one, many) in [
        (m.payloads_dropped, "message payload copy dropped", "message payload copies dropped"),
        (m.inflaters_dropped, "inflater given up", "inflaters given up"),
        (m.connections_evicted, "connection evicted", "connections evicted"),
        (
            m.report_items_not_listed,
            "report row or finding not listed",
            "report rows or findings not listed",
        ),
    ] {
        if n > 0 {
            what.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    if what.is_empty() {
        // Past half the budget, with nothing of what that step drops held (`report` keeps no
        // payload copies): nothing to say.
        return None;
    }
    let peak =
        if m.peak > 0 { format!(" (peak {} accounted)", human(m.peak)) } else { String::new() };
    Some(format!(
        "the memory budget of {} came under pressure{peak}; from half of it, memory is given \
         up step by step: {}; raise --memory-budget to keep everything",
        human(m.budget),
        what.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_cut_at_character_boundaries() {
        let mut p = Payload::Text("h€llo".into());
        assert!(cut_payload(&mut p, 3));
        assert_eq!(p, Payload::Text("h".into()));
        let mut p = Payload::Bytes(vec![1, 2, 3]);
        assert!(!cut_payload(&mut p, 3));
    }

    #[test]
    fn exit_threshold_counts_what_is_at_or_above_it() {
        assert!(reaches([0, 1, 0], Some(Severity::Warning)));
        assert!(!reaches([5, 0, 0], Some(Severity::Warning)));
        assert!(reaches([5, 0, 0], Some(Severity::Info)));
        assert!(!reaches([0, 0, 9], None));
    }
}
