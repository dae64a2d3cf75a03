//! The CI report: one JSON document with a summary and one entry per WebSocket connection
//! (docs/json-format.md, docs/schema/report.schema.json).
//!
//! Built by folding events; memory is proportional to the connections and their findings
//! (findings and gaps listed per connection are capped, the counts are always exact).

use super::{Format, InputInfo, SCHEMA_VERSION, Tool};
use crate::analyzer::AnalyzerStats;
use crate::analyzer::checks::{CheckId, Severity};
use crate::event::{Continues, Event, HandshakeOutcome, Position, TlsInfo};
use crate::http::{Extension, RequestInfo, ResponseInfo};
use crate::pipeline::RunSummary;
use crate::policy::{Policy, Rule};
use crate::redact::Rules;
use crate::tcp::{CloseReason, CommunityId, ConnId, Direction, GapReason};
use crate::time::Timestamp;
use crate::tls::Decryption;
use crate::ws::OpCode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Findings and gaps listed per connection (the counts stay exact).
const MAX_LISTED: usize = 1000;

/// Findings of one check listed per connection: a flood of one finding (a client that never
/// masks, a stream of invalid text) is counted in full, listed by its first examples.
const MAX_LISTED_PER_CHECK: u16 = 100;

/// What a listed connection row costs, for the memory budget (the row, its addresses, the
/// handshake's strings).
const ROW_BYTES: usize = size_of::<ConnectionReport>() + 512;

/// The report document.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Version of this format.
    pub schema_version: u32,
    /// The writer.
    pub tool: Tool,
    /// The redaction rules applied to every event (on by default), or null with --no-redact.
    pub redaction: Option<Rules>,
    /// `--shard I/N`: which share of the connections this report holds (absent for a whole
    /// run; `wsscope merge` combines the N shares into the report of one run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Share>,
    /// Each input with its counters.
    pub inputs: Vec<super::json::InputSummary>,
    /// Totals over every input.
    pub summary: Summary,
    /// WebSocket connections (and upgrade attempts), by input, then by id (the order in which
    /// their TCP connections opened).
    // Boxed: at tens of thousands of connections the rows would otherwise be moved whole each
    // time the list grows (and its spare capacity held) and when it is sorted.
    pub connections: Vec<Box<ConnectionReport>>,
    /// TLS connections (decrypted or not), by input, then by id: what their hellos said,
    /// whether they were decrypted and, when not, what would decrypt them.
    pub tls: Vec<TlsReport>,
    /// The policy the findings and connections were judged by (`--allow`, `--severity`,
    /// thresholds, `--policy FILE`).
    pub policy: Policy,
    /// The exit status decision.
    pub exit: ExitDecision,
}

impl Report {
    /// Records the error that stopped the run before its input ended (`exit.error`) and takes
    /// the exit decision again: status 2, the error among the reasons.
    pub fn failed_with(&mut self, error: String) {
        self.exit.error = Some(error);
        let require = self.exit.require_connections;
        decide_exit(&mut self.exit, &self.summary, &self.policy, require);
    }
}

/// One share of a sharded run (`--shard I/N`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// I, from 0.
    pub index: u64,
    /// N.
    pub count: u64,
    /// What changes the analysis, as `--flag value` with the values as parsed
    /// (`--max-message-size 1048576`): `wsscope merge` refuses shares whose settings differ.
    pub settings: Vec<String>,
}

/// One TLS connection.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TlsReport {
    /// Connection id (the same as its row in `connections` when a WebSocket was decoded).
    pub id: ConnId,
    /// Index into `inputs`.
    pub input: usize,
    /// TLS client.
    pub client: String,
    /// TLS server.
    pub server: String,
    /// Community ID v1.
    pub community_id: CommunityId,
    /// Whether a WebSocket was decoded inside.
    pub websocket: bool,
    /// First packet time.
    pub start: f64,
    /// `start` in ISO 8601, UTC, to the input's precision.
    pub start_utc: String,
    /// End time.
    pub end: f64,
    /// `end` in ISO 8601, UTC, to the input's precision.
    pub end_utc: String,
    #[serde(skip)]
    #[schemars(skip)]
    at_ns: (i64, i64),
    /// What is known of the TLS session.
    #[serde(flatten)]
    pub tls: TlsInfo,
}

/// Totals.
#[derive(Debug, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Packets read.
    pub packets: u64,
    /// TCP connections seen.
    pub tcp_connections: u64,
    /// WebSocket connections and upgrade attempts.
    pub websocket_connections: u64,
    /// Upgrades that succeeded (101), including connections found without a handshake.
    pub upgraded: u64,
    /// Upgrades refused by the server.
    pub refused: u64,
    /// 101 answers the peers did not follow (they went on with HTTP).
    pub not_followed: u64,
    /// Complete messages (data and control): every byte captured.
    pub messages: u64,
    /// Application payload bytes of the complete messages (after decompression).
    pub message_bytes: u64,
    /// Messages the capture lost bytes of (counted apart from `messages`).
    pub incomplete_messages: u64,
    /// Gaps in WebSocket streams.
    pub gaps: u64,
    /// TLS connections seen.
    pub tls_connections: u64,
    /// TLS connections decrypted (in full or in part) with the key log.
    pub tls_decrypted: u64,
    /// When no WebSocket connection was found: why, per input (what the packets and the TCP
    /// connections turned out to be).
    pub no_websocket: Vec<String>,
    /// Findings per severity (at the severity the policy gives them), allowed ones included.
    pub findings: SeverityCounts,
    /// Of those, the findings the policy allows (`--allow`): reported, never counted toward
    /// `--fail-on`.
    pub findings_allowed: SeverityCounts,
    /// Findings per check.
    pub findings_by_code: BTreeMap<CheckId, u64>,
    /// Policy violations per threshold (`--max-ping-rtt`, …; `connections[].violations` lists
    /// them).
    pub violations: BTreeMap<Rule, u64>,
}

/// Counts per severity.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityCounts {
    /// Errors.
    pub error: u64,
    /// Warnings.
    pub warning: u64,
    /// Informational.
    pub info: u64,
}

impl SeverityCounts {
    /// These counts less the findings the policy allows (`allowed`): what counts toward
    /// `--fail-on`.
    pub fn not_allowed(&self, allowed: &SeverityCounts) -> SeverityCounts {
        SeverityCounts {
            error: self.error.saturating_sub(allowed.error),
            warning: self.warning.saturating_sub(allowed.warning),
            info: self.info.saturating_sub(allowed.info),
        }
    }
}

/// The exit status and why.
#[derive(Debug, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitDecision {
    /// The --fail-on level.
    pub fail_on: String,
    /// --require-connections: WebSocket connections the run had to find.
    pub require_connections: Option<u64>,
    /// 0 (nothing at or above the level, and enough connections), 1, or 2 when `error`.
    pub status: u8,
    /// Why the status is not 0.
    pub reasons: Vec<String>,
    /// The error that stopped the run before its input ended (a `-w` file that could not be
    /// written): the report holds what was read before it, and the status is 2. Absent when
    /// the run did not fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One connection.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionReport {
    /// Id, unique in the report (matches `connection` in export events of the same input).
    pub id: ConnId,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// Community ID v1 of the TCP connection, as Zeek (conn.log) and Suricata (eve.json) log it.
    pub community_id: CommunityId,
    /// Which input (index into `inputs`).
    pub input: usize,
    /// First packet number.
    pub first_packet: u64,
    /// This TCP connection was listed before (the row with the same client and server whose
    /// `close.tcp` says wsscope stopped following it: `idle`, `memory_budget`) and was picked up
    /// again: one connection, counted once in the summary. Absent when false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<Continues>,
    /// Time of the first packet (seconds since the epoch).
    pub start: f64,
    /// Time of the end (or of the last event).
    pub end: f64,
    /// `start` in ISO 8601, UTC, to the capture's precision (`2026-12-04T21:33:09.123456Z`).
    pub start_utc: String,
    /// `end` in ISO 8601, UTC.
    pub end_utc: String,
    /// `end - start`, seconds.
    pub duration: f64,
    /// The opening handshake.
    pub handshake: HandshakeReport,
    /// Messages per direction.
    pub messages: PerDirection<MessageCounts>,
    /// Ping/pong round trips.
    pub ping_rtt: RttSummary,
    /// How it closed.
    pub close: CloseReport,
    /// Bytes missing from the capture (first 1000).
    pub gaps: Vec<GapReport>,
    /// Findings (the first 100 of each check, 1000 at most; `findings_total` counts all).
    pub findings: Vec<FindingReport>,
    /// Number of findings.
    pub findings_total: u64,
    /// Thresholds of the policy this connection broke (the first 100).
    pub violations: Vec<ViolationReport>,
    #[serde(skip)]
    #[schemars(skip)]
    at_ns: (i64, i64),
    /// The capture did not show all of this direction (indexed by [`Direction::index`]: bytes
    /// lost, or a finding that says so, [`CheckId::stream_unseen`]): a close frame not seen may
    /// have been sent.
    #[serde(skip)]
    #[schemars(skip)]
    lost: [bool; 2],
}

/// A threshold of the policy broken.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViolationReport {
    /// Which threshold (`max_ping_rtt`, `max_message_bytes`, `require_subprotocol`,
    /// `require_clean_close`).
    pub rule: Rule,
    /// The side that broke it, when one did.
    pub direction: Option<Direction>,
    /// The packet where it shows (the pong, the message's last packet, the handshake
    /// response), when there is one.
    pub packet: Option<u64>,
    /// Time (seconds since the epoch).
    pub ts: f64,
    #[serde(skip)]
    #[schemars(skip)]
    ts_ns: i64,
    /// What happened, with the limit.
    pub message: String,
}

/// The handshake as reported.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandshakeReport {
    /// Whether it was captured (false for mid-stream pickup).
    pub seen: bool,
    /// upgraded, refused or no_response.
    pub outcome: Option<HandshakeOutcome>,
    /// Request target.
    pub path: Option<String>,
    /// Host header.
    pub host: Option<String>,
    /// Origin header.
    pub origin: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Sec-WebSocket-Key.
    pub key: Option<String>,
    /// Whether Sec-WebSocket-Accept matched (null when it could not be checked).
    pub accept_valid: Option<bool>,
    /// Response status.
    pub status: Option<u16>,
    /// Response reason phrase.
    pub reason: Option<String>,
    /// Subprotocols offered by the client.
    pub offered_subprotocols: Vec<String>,
    /// Subprotocol selected by the server.
    pub subprotocol: Option<String>,
    /// Extensions offered by the client.
    pub offered_extensions: Vec<Extension>,
    /// Extensions accepted by the server, with parameters.
    pub extensions: Vec<Extension>,
    /// Request packet number.
    pub request_packet: Option<u64>,
    /// Response packet number.
    pub response_packet: Option<u64>,
}

/// A value per direction.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerDirection<T> {
    /// Client to server.
    pub client_to_server: T,
    /// Server to client.
    pub server_to_client: T,
}

impl<T> PerDirection<T> {
    fn get_mut(&mut self, d: Direction) -> &mut T {
        match d {
            Direction::ClientToServer => &mut self.client_to_server,
            Direction::ServerToClient => &mut self.server_to_client,
        }
    }
}

/// Message counters of one direction. Every count but `incomplete` and `incomplete_bytes` is of
/// complete messages.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageCounts {
    /// Data messages (text + binary).
    pub data: u64,
    /// Text messages.
    pub text: u64,
    /// Binary messages.
    pub binary: u64,
    /// Pings.
    pub ping: u64,
    /// Pongs.
    pub pong: u64,
    /// Close frames.
    pub close: u64,
    /// Application bytes of data messages (after decompression).
    pub bytes: u64,
    /// Payload bytes of data messages on the wire.
    pub wire_bytes: u64,
    /// Compressed data messages.
    pub compressed: u64,
    /// Fragmented data messages.
    pub fragmented: u64,
    /// Messages (any opcode) the capture lost bytes of.
    pub incomplete: u64,
    /// Application bytes captured of the incomplete messages.
    pub incomplete_bytes: u64,
}

/// Round trips of pongs that answered pings.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RttSummary {
    /// Answered pings.
    pub count: u64,
    /// Shortest, seconds.
    pub min: Option<f64>,
    /// Mean, seconds.
    pub mean: Option<f64>,
    /// Longest, seconds.
    pub max: Option<f64>,
}

/// The closing handshake.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseReport {
    /// Who sent the first close frame.
    pub closed_first_by: Option<Direction>,
    /// Both sides sent a close frame.
    pub clean: bool,
    /// The client's close code.
    pub client_code: Option<u16>,
    /// The client's close reason.
    pub client_reason: Option<String>,
    /// The server's close code.
    pub server_code: Option<u16>,
    /// The server's close reason.
    pub server_reason: Option<String>,
    /// How the TCP connection ended.
    pub tcp: Option<CloseReason>,
}

/// A gap.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GapReport {
    /// Direction.
    pub direction: Direction,
    /// Missing bytes.
    pub length: u64,
    /// Stream offset of the first missing byte.
    pub offset: u64,
    /// Raw TCP sequence number of the first missing byte.
    pub seq: u32,
    /// Why.
    pub reason: GapReason,
    /// Packet number that made it certain.
    pub packet: u64,
}

/// A finding.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingReport {
    /// Stable id.
    pub code: CheckId,
    /// Severity.
    pub severity: Severity,
    /// Source of the rule.
    pub rfc: &'static str,
    /// Direction, when it concerns one.
    pub direction: Option<Direction>,
    /// Packet number.
    pub packet: u64,
    /// Stream offset.
    pub offset: u64,
    /// Time (seconds since the epoch).
    pub ts: f64,
    #[serde(skip)]
    #[schemars(skip)]
    ts_ns: i64,
    /// What happened.
    pub message: String,
    /// The policy allows this check (`--allow`): the finding never counts toward `--fail-on`.
    /// Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allowed: bool,
    /// The check's own severity, when the policy re-graded it (`--severity`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_severity: Option<Severity>,
}

/// The exit decision of a report, from its summary and policy alone (so `wsscope merge`
/// decides exactly as one run): findings at or above `exit.fail_on` that the policy does not
/// allow, `require_connections` against the upgraded connections, and every threshold of the
/// policy broken, or 2 when the run failed (`exit.error`). Replaces `exit.reasons`.
pub fn decide_exit(
    exit: &mut ExitDecision,
    summary: &Summary,
    policy: &Policy,
    require_connections: Option<u64>,
) {
    exit.reasons.clear();
    let (f, a) = (&summary.findings, &summary.findings_allowed);
    let counted = f.not_allowed(a);
    let threshold = match exit.fail_on.as_str() {
        "error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        "info" => Some(Severity::Info),
        _ => None,
    };
    if super::reaches([counted.info, counted.warning, counted.error], threshold) {
        let allowed = a.error + a.warning + a.info;
        exit.reasons.push(format!(
            "findings at or above --fail-on {} (errors {}, warnings {}, info {}{})",
            exit.fail_on,
            counted.error,
            counted.warning,
            counted.info,
            if allowed > 0 {
                format!("; {allowed} more allowed by the policy, not counted")
            } else {
                String::new()
            }
        ));
    }
    exit.require_connections = require_connections;
    // Connections that became WebSocket: upgrade attempts that were refused or not followed
    // do not count.
    if let Some(n) = require_connections
        && summary.upgraded < n
    {
        let attempts = summary.websocket_connections - summary.upgraded;
        exit.reasons.push(format!(
            "{} upgraded WebSocket connection{} found (summary.upgraded), \
             --require-connections {n}{}",
            summary.upgraded,
            if summary.upgraded == 1 { "" } else { "s" },
            if attempts > 0 {
                format!(" ({attempts} upgrade attempt(s) refused, unanswered or not followed)")
            } else {
                String::new()
            }
        ));
    }
    for (rule, n) in &summary.violations {
        exit.reasons.extend(policy.reason(*rule, *n));
    }
    exit.status = u8::from(!exit.reasons.is_empty());
    if let Some(e) = &exit.error {
        exit.reasons.push(format!("the run failed before its input ended: {e}"));
        exit.status = 2;
    }
}

/// `ip:port` as `SocketAddr`'s `Display` writes it; IPv4 digit by digit (`format!` took 1,900
/// instructions for each of the two per row), IPv6 through `Display` (its zero compression).
fn addr_text(a: &std::net::SocketAddr) -> String {
    let std::net::SocketAddr::V4(v4) = a else { return a.to_string() };
    let mut out = String::with_capacity(21);
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(itoa::Buffer::new().format(octet));
    }
    out.push(':');
    out.push_str(itoa::Buffer::new().format(v4.port()));
    out
}

/// Seconds since the epoch (or a duration) from nanoseconds, rounded to `decimals` decimals of
/// a second: the float whose shortest form is that decimal (`0.003047`, never
/// `0.0030472278594970703`).
pub fn secs(nanos: i64, decimals: u8) -> f64 {
    let decimals = decimals.min(9);
    let unit = 10i64.pow(u32::from(9 - decimals));
    // Half away from zero, in integers.
    let half = unit / 2;
    let q = if nanos >= 0 {
        nanos.saturating_add(half) / unit
    } else {
        nanos.saturating_sub(half) / unit
    };
    let scale = 10i64.pow(u32::from(decimals));
    // Both exact in an f64, so the division rounds the exact quotient once: the float the
    // decimal text below parses to, without writing it (two per connection in a report).
    if q.unsigned_abs() < 1 << f64::MANTISSA_DIGITS {
        return q as f64 / scale as f64;
    }
    let (whole, frac) = (q / scale, (q % scale).abs());
    let sign = if q < 0 && whole == 0 { "-" } else { "" };
    let text = if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac:0width$}", width = usize::from(decimals))
    };
    text.parse().unwrap_or(nanos as f64 / 1e9)
}

/// [`secs`] for a float number of seconds.
fn round_secs(x: f64, decimals: u8) -> f64 {
    secs((x * 1e9).round() as i64, decimals)
}

/// Violations listed per connection (the counts stay exact).
const MAX_VIOLATIONS_LISTED: usize = 100;

/// Builds the report from events.
pub struct ReportBuilder {
    report: Report,
    index: foldhash::HashMap<ConnId, usize>,
    /// Ping round trips per connection: count, min, max and sum in arrival order.
    rtts: foldhash::HashMap<ConnId, (u64, f64, f64, f64)>,
    input: usize,
    /// What the rows and listed findings hold, charged to the memory budget: from half of it on,
    /// new rows, findings and gaps are counted, not listed.
    memory: Option<crate::memory::Charge>,
    held: usize,
    /// Findings listed per connection and check.
    listed: foldhash::HashMap<(ConnId, CheckId), u16>,
    /// Open connections that continue one already counted (`continues`): not counted again.
    continuing: foldhash::HashMap<ConnId, Continues>,
    /// The decimals of a second each input's timestamps carry, by input.
    decimals: Vec<u8>,
}

impl ReportBuilder {
    /// An empty report deciding its exit status with `fail_on`.
    pub fn new(fail_on: &str) -> Self {
        let report = Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            exit: ExitDecision { fail_on: fail_on.to_string(), ..Default::default() },
            ..Default::default()
        };
        ReportBuilder {
            report,
            index: Default::default(),
            rtts: Default::default(),
            input: 0,
            memory: None,
            held: 0,
            listed: Default::default(),
            continuing: Default::default(),
            decimals: Vec::new(),
        }
    }

    /// Judges findings and connections by `policy`.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.report.policy = policy;
        self
    }

    /// Charges the report's rows and listed findings to `memory`.
    pub fn with_memory(mut self, memory: &crate::memory::Memory) -> Self {
        self.memory = Some(crate::memory::Charge::new(memory));
        self
    }

    /// Whether a row, finding or gap of `bytes` may be listed; if so it is charged.
    fn may_list(&mut self, bytes: usize) -> bool {
        let Some(c) = &mut self.memory else { return true };
        if c.memory().level() >= crate::memory::Level::DropPayloads {
            c.memory().note_not_listed();
            return false;
        }
        self.held += bytes;
        c.set(self.held);
        true
    }

    /// The report, with round-trip summaries computed, times rounded to each input's precision
    /// and the exit decision taken ([`decide_exit`]) with `require_connections`.
    pub fn into_report(mut self, require_connections: Option<u64>) -> Report {
        let decimals = |input: usize| self.decimals.get(input).copied().unwrap_or(9);
        for (id, &(count, min, max, sum)) in &self.rtts {
            if let Some(c) = self.index.get(id).and_then(|i| self.report.connections.get_mut(*i)) {
                let d = decimals(c.input);
                c.ping_rtt = RttSummary {
                    count,
                    min: Some(round_secs(min, d)),
                    mean: Some(round_secs(sum / count as f64, d)),
                    max: Some(round_secs(max, d)),
                };
            }
        }
        for c in &mut self.report.connections {
            let d = decimals(c.input);
            let (start, end) = c.at_ns;
            c.start = secs(start, d);
            c.end = secs(end, d);
            c.start_utc = crate::timefmt::iso8601_to(Timestamp::from_nanos(start), usize::from(d));
            c.end_utc = crate::timefmt::iso8601_to(Timestamp::from_nanos(end), usize::from(d));
            c.duration = secs(end.saturating_sub(start), d);
            for f in &mut c.findings {
                f.ts = secs(f.ts_ns, d);
            }
            for v in &mut c.violations {
                v.ts = secs(v.ts_ns, d);
            }
        }
        for t in &mut self.report.tls {
            let d = decimals(t.input);
            t.start = secs(t.at_ns.0, d);
            t.end = secs(t.at_ns.1, d);
            let iso = |ns| crate::timefmt::iso8601_to(Timestamp::from_nanos(ns), usize::from(d));
            (t.start_utc, t.end_utc) = (iso(t.at_ns.0), iso(t.at_ns.1));
        }
        // By id, not in the order the analysis recognised them (a connection is listed once
        // its handshake or frames were seen): one order for every run, sharded or not.
        self.report.connections.sort_by_key(|c| (c.input, c.id));
        self.report.tls.sort_by_key(|c| (c.input, c.id));
        decide_exit(
            &mut self.report.exit,
            &self.report.summary,
            &self.report.policy,
            require_connections,
        );
        self.report
    }

    /// Counts a violation of `rule` and lists it on its connection.
    fn violate(
        &mut self,
        connection: ConnId,
        rule: Rule,
        direction: Option<Direction>,
        packet: Option<u64>,
        ts: Timestamp,
        message: String,
    ) {
        *self.report.summary.violations.entry(rule).or_default() += 1;
        let listed =
            self.conn(connection).is_some_and(|c| c.violations.len() < MAX_VIOLATIONS_LISTED);
        if listed
            && self.may_list(size_of::<ViolationReport>() + message.len())
            && let Some(c) = self.conn(connection)
        {
            c.violations.push(ViolationReport {
                rule,
                direction,
                packet,
                ts: 0.0,
                ts_ns: ts.as_nanos(),
                message,
            });
        }
    }

    fn conn(&mut self, id: ConnId) -> Option<&mut ConnectionReport> {
        self.index.get(&id).and_then(|i| self.report.connections.get_mut(*i)).map(|c| &mut **c)
    }

    /// Folds one event; a handshake's texts move into its connection's row.
    pub fn fold(&mut self, e: Event) {
        match e {
            Event::Handshake { .. } => self.handshake(e),
            e => self.fold_ref(&e),
        }
    }

    /// A handshake's counts, its `--require-subprotocol` check and its row.
    fn handshake(&mut self, e: Event) {
        let Event::Handshake { connection, seen, request, response, accept_valid, outcome } = e
        else {
            return;
        };
        // The first part of a connection that continues after its handshake was counted and
        // judged.
        let continues = self.continuing.get(&connection) == Some(&Continues::AfterHandshake);
        let s = &mut self.report.summary;
        match outcome {
            _ if continues => {}
            HandshakeOutcome::Upgraded => s.upgraded += 1,
            HandshakeOutcome::Refused => s.refused += 1,
            HandshakeOutcome::NotFollowed => s.not_followed += 1,
            HandshakeOutcome::NoResponse => {}
        }
        if let (Some(want), HandshakeOutcome::Upgraded, false) =
            (self.report.policy.require_subprotocol.clone(), outcome, continues)
        {
            let got = response.as_ref().and_then(|r| r.protocol.as_deref());
            // None: the request was not captured, so what the client offered is unknown.
            let offered = request.as_ref().map(|r| r.protocols.contains(&want));
            let at = response.as_ref().map(|r| r.packet).or(request.as_ref().map(|r| r.packet));
            let ts = self
                .conn(connection)
                .map_or(Timestamp::default(), |c| Timestamp::from_nanos(c.at_ns.1));
            let selected = |g: Option<&str>| match g {
                Some(g) => format!("the server selected subprotocol {g:?}"),
                None => "the server selected none".to_string(),
            };
            // The client is blamed when it did not offer the subprotocol (the server could not
            // select it), the server when it was offered and not selected.
            let broken = match (seen, got, offered) {
                (false, ..) => Some((
                    None,
                    format!(
                        "the handshake was not captured, so its subprotocol is unknown \
                         (--require-subprotocol {want}); start the capture before the client \
                         connects"
                    ),
                )),
                (true, Some(g), _) if g == want => None,
                (true, g, Some(false)) => Some((
                    Some(Direction::ClientToServer),
                    format!("the client did not offer subprotocol {want:?} ({})", selected(g)),
                )),
                (true, g, Some(true)) => Some((
                    Some(Direction::ServerToClient),
                    format!("the client offered {want:?}; {}", selected(g)),
                )),
                (true, g, None) => Some((
                    Some(Direction::ServerToClient),
                    format!(
                        "{}, not {want:?} (the request was not captured: what the client \
                         offered is unknown)",
                        selected(g)
                    ),
                )),
            };
            if let Some((dir, message)) = broken {
                self.violate(connection, Rule::RequireSubprotocol, dir, at, ts, message);
            }
        }
        if let Some(c) = self.conn(connection) {
            c.handshake = handshake_report(seen, request, response, accept_valid, outcome);
        }
    }

    /// Folds one event that is not a handshake.
    fn fold_ref(&mut self, e: &Event) {
        let s = &mut self.report.summary;
        match e {
            Event::Connection {
                connection,
                client,
                server,
                community_id,
                continues,
                packet,
                ts,
                ..
            } => {
                if let Some(c) = continues {
                    self.continuing.insert(*connection, *c);
                } else {
                    s.websocket_connections += 1;
                }
                if !self.may_list(ROW_BYTES) {
                    return;
                }
                self.index.insert(*connection, self.report.connections.len());
                self.report.connections.push(Box::new(ConnectionReport {
                    id: *connection,
                    client: addr_text(client),
                    server: addr_text(server),
                    community_id: *community_id,
                    input: self.input,
                    first_packet: *packet,
                    continues: *continues,
                    start: 0.0,
                    end: 0.0,
                    start_utc: String::new(),
                    end_utc: String::new(),
                    duration: 0.0,
                    handshake: HandshakeReport::default(),
                    messages: PerDirection::default(),
                    ping_rtt: RttSummary::default(),
                    close: CloseReport::default(),
                    gaps: Vec::new(),
                    findings: Vec::new(),
                    findings_total: 0,
                    violations: Vec::new(),
                    at_ns: (ts.as_nanos(), ts.as_nanos()),
                    lost: [false; 2],
                }));
            }
            Event::Handshake { .. } => {}
            Event::Message {
                connection,
                direction,
                opcode,
                complete,
                length,
                captured_length,
                wire_length,
                compressed,
                fragments,
                end,
                close,
                rtt,
                ..
            } => {
                let (ts, rtt) = (end.ts.as_nanos(), *rtt);
                let policy = &self.report.policy;
                if let Some(max) = policy.max_message_bytes
                    && !opcode.is_control()
                    && length.unwrap_or(*captured_length) > max
                {
                    let n = length.unwrap_or(*captured_length);
                    let message = format!(
                        "a {}{} message of {n} bytes{} from the {}, --max-message-bytes {max}",
                        if *complete { "" } else { "incomplete " },
                        opcode.name(),
                        if length.is_none() { " or more" } else { "" },
                        side(*direction),
                    );
                    self.violate(
                        *connection,
                        Rule::MaxMessageBytes,
                        Some(*direction),
                        Some(end.packet),
                        end.ts,
                        message,
                    );
                }
                if let (Some(max), Some(r)) = (self.report.policy.max_ping_rtt, rtt)
                    && r > max
                {
                    let message = format!(
                        "the {} answered a ping after {}, --max-ping-rtt {}",
                        side(*direction),
                        crate::policy::duration_text(r),
                        crate::policy::duration_text(max)
                    );
                    self.violate(
                        *connection,
                        Rule::MaxPingRtt,
                        Some(*direction),
                        Some(end.packet),
                        end.ts,
                        message,
                    );
                }
                let s = &mut self.report.summary;
                if !complete {
                    s.incomplete_messages += 1;
                    if let Some(c) = self.conn(*connection) {
                        c.at_ns.1 = c.at_ns.1.max(ts);
                        let m = c.messages.get_mut(*direction);
                        m.incomplete += 1;
                        m.incomplete_bytes += captured_length;
                    }
                    return;
                }
                s.messages += 1;
                s.message_bytes += captured_length;
                if let Some(c) = self.conn(*connection) {
                    c.at_ns.1 = c.at_ns.1.max(ts);
                    let m = c.messages.get_mut(*direction);
                    match opcode {
                        OpCode::Text => m.text += 1,
                        OpCode::Binary => m.binary += 1,
                        OpCode::Ping => m.ping += 1,
                        OpCode::Pong => m.pong += 1,
                        OpCode::Close => m.close += 1,
                        OpCode::Continuation | OpCode::Reserved(_) => {}
                    }
                    if !opcode.is_control() {
                        m.data += 1;
                        m.bytes += captured_length;
                        m.wire_bytes += wire_length;
                        m.compressed += u64::from(*compressed);
                        m.fragmented += u64::from(*fragments > 1);
                    }
                    if let Some(cl) = close {
                        let code = cl.code.map(|c| c.0);
                        match direction {
                            Direction::ClientToServer => {
                                c.close.client_code = code;
                                c.close.client_reason = Some(cl.reason.clone());
                            }
                            Direction::ServerToClient => {
                                c.close.server_code = code;
                                c.close.server_reason = Some(cl.reason.clone());
                            }
                        }
                    }
                }
                if let Some(r) = rtt {
                    // Entries exist only with at least one round trip; the sum starts at -0.0 as
                    // `Iterator::sum` does, so the mean is bit-for-bit the same.
                    let e = self.rtts.entry(*connection).or_insert((0, r, r, -0.0));
                    *e = (e.0 + 1, e.1.min(r), e.2.max(r), e.3 + r);
                }
            }
            Event::Finding { connection, code, severity, rfc, direction, at, message } => {
                let policy = &self.report.policy;
                let (default_severity, allowed) = (*severity, policy.allows(*code));
                let severity = &policy.severity_of(*code, default_severity);
                let s = &mut self.report.summary;
                let count = |c: &mut SeverityCounts| match severity {
                    Severity::Error => c.error += 1,
                    Severity::Warning => c.warning += 1,
                    Severity::Info => c.info += 1,
                };
                count(&mut s.findings);
                if allowed {
                    count(&mut s.findings_allowed);
                }
                *s.findings_by_code.entry(*code).or_default() += 1;
                let listed = self.conn(*connection).map(|c| {
                    if code.stream_unseen() {
                        match direction {
                            Some(d) => c.lost[d.index()] = true,
                            None => c.lost = [true; 2],
                        }
                    }
                    c.findings_total += 1;
                    c.findings.len() < MAX_LISTED
                });
                let first_of_check = listed == Some(true) && {
                    let n = self.listed.entry((*connection, *code)).or_default();
                    *n = n.saturating_add(1);
                    *n <= MAX_LISTED_PER_CHECK
                };
                if first_of_check
                    && self.may_list(2 * size_of::<FindingReport>() + message.len() + 16)
                    && let Some(c) = self.conn(*connection)
                {
                    let mut f = finding_report(*code, *severity, rfc, *direction, at, message);
                    f.allowed = allowed;
                    f.default_severity =
                        (default_severity != *severity).then_some(default_severity);
                    c.findings.push(f);
                }
            }
            Event::Gap { connection, direction, length, seq, reason, at } => {
                s.gaps += 1;
                let listed = self.conn(*connection).map(|c| {
                    c.lost[direction.index()] = true;
                    c.gaps.len() < MAX_LISTED
                });
                if listed == Some(true)
                    && self.may_list(2 * size_of::<GapReport>())
                    && let Some(c) = self.conn(*connection)
                {
                    c.gaps.push(GapReport {
                        direction: *direction,
                        length: *length,
                        offset: at.offset,
                        seq: *seq,
                        reason: *reason,
                        packet: at.packet,
                    });
                }
            }
            Event::End { connection, reason, closed_first_by, clean, ts } => {
                self.continuing.remove(connection);
                let mut unclean = None;
                if let Some(c) = self.conn(*connection) {
                    c.at_ns.1 = ts.as_nanos().max(c.at_ns.0);
                    c.close.tcp = Some(*reason);
                    c.close.closed_first_by = *closed_first_by;
                    c.close.clean = *clean;
                    if !*clean
                        && c.handshake.outcome == Some(HandshakeOutcome::Upgraded)
                        && !stopped_following(*reason)
                    {
                        unclean = Some(unclean_close(&c.close, *reason));
                    }
                    // A close frame the capture may have lost is not a broken policy: the side
                    // blamed (either, when neither sent one) lost bytes.
                    if let Some((dir, _)) = &unclean
                        && dir.map_or(c.lost != [false; 2], |d| c.lost[d.index()])
                    {
                        unclean = None;
                    }
                }
                if let (true, Some((dir, message))) =
                    (self.report.policy.require_clean_close, unclean)
                {
                    self.violate(*connection, Rule::RequireCleanClose, dir, None, *ts, message);
                }
            }
            Event::Tls { connection, client, server, community_id, websocket, start, end, tls } => {
                s.tls_connections += 1;
                if matches!(tls.decryption, Decryption::Decrypted | Decryption::Partial) {
                    s.tls_decrypted += 1;
                }
                if !self.may_list(size_of::<TlsReport>() + 256) {
                    return;
                }
                self.report.tls.push(TlsReport {
                    id: *connection,
                    input: self.input,
                    client: addr_text(client),
                    server: addr_text(server),
                    community_id: *community_id,
                    websocket: *websocket,
                    start: 0.0,
                    start_utc: String::new(),
                    end: 0.0,
                    end_utc: String::new(),
                    at_ns: (start.as_nanos(), end.as_nanos()),
                    tls: (**tls).clone(),
                });
            }
            Event::Frame { .. } => {}
        }
    }
}

/// A handshake's row, made of what the event carried (moved, not copied).
fn handshake_report(
    seen: bool,
    req: Option<Box<RequestInfo>>,
    resp: Option<Box<ResponseInfo>>,
    accept_valid: Option<bool>,
    outcome: HandshakeOutcome,
) -> HandshakeReport {
    let mut h =
        HandshakeReport { seen, outcome: Some(outcome), accept_valid, ..Default::default() };
    if let Some(q) = req {
        let q = *q;
        h.path = Some(q.path);
        h.host = q.host;
        h.origin = q.origin;
        h.user_agent = q.user_agent;
        h.key = q.key;
        h.offered_subprotocols = q.protocols;
        h.offered_extensions = q.extensions;
        h.request_packet = Some(q.packet);
    }
    if let Some(r) = resp {
        let r = *r;
        h.status = Some(r.status);
        h.reason = Some(r.reason);
        h.subprotocol = r.protocol;
        h.extensions = r.extensions;
        h.response_packet = Some(r.packet);
    }
    h
}

fn finding_report(
    code: CheckId,
    severity: Severity,
    rfc: &'static str,
    direction: Option<Direction>,
    at: &Position,
    message: &str,
) -> FindingReport {
    FindingReport {
        code,
        severity,
        rfc,
        direction,
        packet: at.packet,
        offset: at.offset,
        ts: 0.0,
        ts_ns: at.ts.as_nanos(),
        message: message.to_string(),
        allowed: false,
        default_severity: None,
    }
}

/// "client" or "server": who sent what goes in `direction`.
fn side(direction: Direction) -> &'static str {
    match direction {
        Direction::ClientToServer => "client",
        Direction::ServerToClient => "server",
    }
}

/// Whether the connection ended because wsscope stopped following it, not because its peers
/// ended it: its close frames may come later (in the connection that resumes it, which is
/// judged), so it is not judged by `--require-clean-close`.
fn stopped_following(reason: CloseReason) -> bool {
    matches!(reason, CloseReason::Idle | CloseReason::Evicted | CloseReason::MemoryBudget)
}

/// Who did not close cleanly, and how the connection ended instead.
fn unclean_close(close: &CloseReport, tcp: CloseReason) -> (Option<Direction>, String) {
    let (client, server) = (close.client_reason.is_some(), close.server_reason.is_some());
    let how = match crate::analyzer::checks::json_name(&tcp).as_str() {
        "end_of_capture" => "the connection was still open when the capture ended".to_string(),
        other => format!("the TCP connection ended ({other})"),
    };
    match (client, server) {
        (true, false) => {
            (Some(Direction::ServerToClient), format!("the server sent no close frame; {how}"))
        }
        (false, true) => {
            (Some(Direction::ClientToServer), format!("the client sent no close frame; {how}"))
        }
        _ => (None, format!("neither side sent a close frame; {how}")),
    }
}

/// The report format: folds events, writes the document at the end.
pub struct ReportFormat {
    builder: Option<ReportBuilder>,
}

impl ReportFormat {
    /// A report deciding its exit status with `fail_on`.
    pub fn new(fail_on: &str) -> Self {
        ReportFormat { builder: Some(ReportBuilder::new(fail_on)) }
    }

    /// Charges the report's rows and listed findings to `memory` (see [`crate::memory`]).
    pub fn with_memory(mut self, memory: &crate::memory::Memory) -> Self {
        self.builder = self.builder.map(|b| b.with_memory(memory));
        self
    }

    /// Judges findings and connections by `policy`.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.builder = self.builder.map(|b| b.with_policy(policy));
        self
    }

    /// Marks the report as share `shard` (I, N) of a sharded run analysed with `settings`
    /// ([`crate::run::RunConfig::analysis_settings`]).
    pub fn with_shard(mut self, shard: Option<(u64, u64)>, settings: Vec<String>) -> Self {
        if let Some(b) = &mut self.builder {
            b.report.shard = shard.map(|(index, count)| Share { index, count, settings });
        }
        self
    }

    /// The finished report, with its exit decision ([`decide_exit`]) and
    /// `require_connections` (--require-connections).
    pub fn into_report(self, require_connections: Option<u64>) -> Report {
        self.builder.unwrap_or_else(|| ReportBuilder::new("error")).into_report(require_connections)
    }

    /// Writes `report` as pretty JSON ([`super::pretty`]: the same bytes as serde_json's pretty
    /// printer, which the golden reports check, in about a third of the time).
    pub fn write(report: &Report, mut out: impl Write) -> io::Result<()> {
        super::pretty::write(report, &mut out)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

impl Format for ReportFormat {
    fn begin(&mut self, _input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()> {
        if let Some(b) = &mut self.builder {
            b.report.redaction = redaction.cloned();
        }
        Ok(())
    }

    fn event(&mut self, event: Event) -> io::Result<()> {
        if let Some(b) = &mut self.builder {
            b.fold(event);
        }
        Ok(())
    }

    fn end(
        &mut self,
        input: &InputInfo,
        summary: &RunSummary,
        analyzer: &AnalyzerStats,
    ) -> io::Result<()> {
        if let Some(b) = &mut self.builder {
            b.report.summary.packets += summary.packets.packets;
            b.report.summary.tcp_connections += analyzer.tcp_connections;
            b.report.summary.no_websocket.extend(
                super::why_no_websocket(summary, analyzer)
                    .into_iter()
                    .map(|w| format!("{}: {w}", input.name)),
            );
            b.report.inputs.push(super::json::InputSummary {
                input: input.clone(),
                summary: summary.clone(),
                analyzer: *analyzer,
            });
            b.decimals.push(input.ts_decimals);
            b.input += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{addr_text, secs};

    proptest::proptest! {
        #[test]
        fn addresses_are_written_as_display_writes_them(
            ip in proptest::num::u32::ANY, v6 in proptest::num::u128::ANY, port in proptest::num::u16::ANY,
        ) {
            let a = std::net::SocketAddr::from((std::net::Ipv4Addr::from(ip), port));
            proptest::prop_assert_eq!(addr_text(&a), a.to_string());
            let b = std::net::SocketAddr::from((std::net::Ipv6Addr::from(v6), port));
            proptest::prop_assert_eq!(addr_text(&b), b.to_string());
        }
    }

    #[test]
    fn address_edges() {
        for a in ["0.0.0.0:0", "255.255.255.255:65535", "10.0.0.3:80", "[::1]:443"] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            assert_eq!(addr_text(&addr), a);
        }
    }

    #[test]
    fn times_are_rounded_to_the_capture_precision_without_float_noise() {
        let json = |x: f64| serde_json::to_string(&x).unwrap();
        // A duration of 3,047,227 ns from a nanosecond capture, and as a microsecond one.
        assert_eq!(json(secs(3_047_227, 9)), "0.003047227");
        assert_eq!(json(secs(3_047_227, 6)), "0.003047");
        assert_eq!(json(secs(3_047_500, 6)), "0.003048", "half away from zero");
        assert_eq!(json(secs(1_795_273_584_000_218_000, 6)), "1795273584.000218");
        assert_eq!(json(secs(1_700_000_000_011_000_000, 9)), "1700000000.011");
        assert_eq!(json(secs(0, 6)), "0.0");
        assert_eq!(secs(-1_500, 6), -0.000002);
        assert_eq!(json(secs(1, 9)), "1e-9");
    }

    proptest::proptest! {
        /// The division is the float the decimal text parses to, sign and rounding included.
        #[test]
        fn seconds_by_division_are_the_parsed_decimal(n in proptest::num::i64::ANY, d in 0u8..12) {
            let dd = d.min(9);
            let unit = 10i64.pow(u32::from(9 - dd));
            let q = if n >= 0 { n.saturating_add(unit / 2) / unit } else { n.saturating_sub(unit / 2) / unit };
            let scale = 10i64.pow(u32::from(dd));
            let (whole, frac) = (q / scale, (q % scale).abs());
            let sign = if q < 0 && whole == 0 { "-" } else { "" };
            let text = if dd == 0 {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{frac:0width$}", width = usize::from(dd))
            };
            let parsed: f64 = text.parse().unwrap();
            proptest::prop_assert_eq!(secs(n, d).to_bits(), parsed.to_bits(), "{}", text);
        }

        /// Times of captures (2000 to 2100) at every precision, where the division is used.
        #[test]
        fn capture_times_by_division_are_the_parsed_decimal(
            n in 946_684_800_000_000_000i64..4_102_444_800_000_000_000, d in 0u8..9,
        ) {
            let unit = 10i64.pow(u32::from(9 - d));
            let q = (n + unit / 2) / unit;
            let scale = 10i64.pow(u32::from(d));
            let text = format!("{}.{:0w$}", q / scale, q % scale, w = usize::from(d));
            let parsed: f64 = text.parse().unwrap();
            proptest::prop_assert_eq!(secs(n, d).to_bits(), parsed.to_bits(), "{}", text);
        }
    }
}
