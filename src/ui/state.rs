//! The TUI's state: events folded into connection and message rows, plus selection, filters,
//! scrolling and modes. Pure: no terminal, no I/O — every method is unit-tested, and rendering
//! reads this state only.
//!
//! Memory: a message row keeps a short preview; full payloads are kept while the payload budget
//! lasts (`--tui-payload-budget`), so a million messages fit in a few hundred MiB.

use crate::analyzer::checks::{CheckId, Severity};
use crate::event::{Continues, Event, HandshakeOutcome, Payload, Position};
use crate::http::{RequestInfo, ResponseInfo};
use crate::tcp::{CloseReason, CommunityId, ConnId, Direction, GapReason, RoleSource};
use crate::time::Timestamp;
use crate::ws::OpCode;
use regex::Regex;
use std::collections::HashMap;

/// Characters kept as a message's one-line preview.
const PREVIEW_CHARS: usize = 160;

/// Rows the UI keeps by default (`--max-rows`).
pub const DEFAULT_MAX_ROWS: usize = 1_000_000;

/// What a row costs besides its payload (the row, its preview, its share of the vector).
const ROW_BYTES: usize = size_of::<MsgRow>() + PREVIEW_CHARS;

/// What a connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Upgrade requested, no answer yet.
    Handshaking,
    /// Upgraded (or found without a handshake), not closed.
    Open,
    /// Refused by the server.
    Refused,
    /// Over.
    Closed,
}

/// One connection row.
#[derive(Clone, Debug)]
pub struct ConnRow {
    /// Id.
    pub id: ConnId,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// The connection's Community ID (shown in its detail).
    pub community_id: CommunityId,
    /// Host header (escaped for the terminal, as are the next three).
    pub host: String,
    /// Request path.
    pub path: String,
    /// Selected subprotocol.
    pub subprotocol: String,
    /// Accepted extensions, comma-separated.
    pub extensions: String,
    /// State.
    pub state: ConnState,
    /// Whether the handshake was captured.
    pub handshake_seen: bool,
    /// Close codes (client, server).
    pub close_codes: (Option<u16>, Option<u16>),
    /// Close frames of the client and the server: code and reason (escaped).
    pub closes: [Option<(Option<u16>, String)>; 2],
    /// Ping round trips: count, min, max, sum (seconds).
    pub rtt: (u64, f64, f64, f64),
    /// How the TCP connection ended.
    pub tcp_end: Option<CloseReason>,
    /// Messages and bytes client → server.
    pub up: (u64, u64),
    /// Messages and bytes server → client.
    pub down: (u64, u64),
    /// Findings.
    pub findings: u64,
    /// Worst finding severity.
    pub worst: Option<Severity>,
    /// First and last activity.
    pub first_ts: Timestamp,
    /// Last activity.
    pub last_ts: Timestamp,
    /// Handshake request and response, for the detail pane.
    pub request: Option<Box<RequestInfo>>,
    /// Response.
    pub response: Option<Box<ResponseInfo>>,
    /// Sec-WebSocket-Accept verdict.
    pub accept_valid: Option<bool>,
    /// A handshake (or frames) was seen: this is a WebSocket connection, not plain TCP.
    pub websocket: bool,
    /// For a TLS connection (known when it ends): version, suite, SNI and whether it was
    /// decrypted (escaped for the terminal).
    pub tls: Option<String>,
    /// What the connection's own events said beyond the above, to write them back as `export`
    /// does when the connection is saved (`W`).
    pub saved: Box<ConnEvents>,
}

/// The fields of a connection's `connection`, `handshake` and `end` events that the table does
/// not show.
#[derive(Clone, Debug)]
pub struct ConnEvents {
    /// How client and server were told apart.
    pub role: RoleSource,
    /// The connection was shown before wsscope stopped following it (see `Event::Connection`).
    pub continues: Option<Continues>,
    /// The connection's first packet.
    pub packet: u64,
    /// The handshake's outcome, once its event came.
    pub outcome: Option<HandshakeOutcome>,
    /// The end event: who closed first, whether cleanly, and when.
    pub end: Option<(Option<Direction>, bool, Timestamp)>,
}

/// A frame of a fragmented message (kept for expansion in the detail pane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Opcode.
    pub opcode: OpCode,
    /// FIN.
    pub fin: bool,
    /// RSV bits.
    pub rsv: u8,
    /// Masking key.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
    /// Header position.
    pub at: Position,
}

/// Details most messages do not have.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// Round trip of a pong.
    pub rtt: Option<f64>,
    /// Close code and reason.
    pub close: Option<(Option<u16>, String)>,
    /// The frames, for fragmented messages.
    pub frames: Vec<FrameInfo>,
    /// Where the last frame's header was captured, when not where the first one was.
    pub last: Option<Position>,
}

/// What a row of the messages view is.
#[derive(Clone, Debug)]
pub enum RowKind {
    /// A message.
    Message {
        /// Opcode.
        opcode: OpCode,
        /// Application length, when known exactly.
        length: Option<u64>,
        /// Application bytes captured.
        captured: u64,
        /// Every byte was captured.
        complete: bool,
        /// Payload bytes the capture lost, when known.
        missing: Option<u64>,
        /// Wire length.
        wire: u64,
        /// Compressed.
        compressed: bool,
        /// Frames.
        fragments: u32,
        /// Text (vs binary) content.
        text: bool,
        /// Full payload, if within the budget.
        payload: Option<Box<[u8]>>,
        /// Content unavailable (gap, cannot inflate).
        unavailable: bool,
        /// Payload cut (size limit).
        truncated: bool,
        /// Where the message ended (the row's `at` is where it began).
        end: Position,
        /// Rarely present details (boxed to keep rows small).
        extra: Option<Box<Extra>>,
    },
    /// A finding.
    Finding {
        /// Check.
        code: CheckId,
        /// Severity.
        severity: Severity,
        /// RFC section.
        rfc: &'static str,
        /// Explanation.
        message: String,
    },
    /// Missing bytes.
    Gap {
        /// Missing byte count.
        length: u64,
        /// Raw TCP sequence number of the first missing byte.
        seq: u32,
        /// Why the bytes are missing.
        reason: GapReason,
    },
}

/// One row of the messages view.
#[derive(Clone, Debug)]
pub struct MsgRow {
    /// Direction (None for connection-wide findings).
    pub dir: Option<Direction>,
    /// Where.
    pub at: Position,
    /// One-line preview (control characters escaped).
    pub preview: Box<str>,
    /// What it is.
    pub kind: RowKind,
}

impl ConnRow {
    /// The connection's `connection`, `handshake` (once it came) and `end` (once it ended)
    /// events, as `export` writes them.
    pub fn events(&self) -> (Option<Event>, Option<Event>, Option<Event>) {
        let connection = match (self.client.parse(), self.server.parse()) {
            (Ok(client), Ok(server)) => Some(Event::Connection {
                connection: self.id,
                client,
                server,
                community_id: self.community_id,
                role: self.saved.role,
                continues: self.saved.continues,
                packet: self.saved.packet,
                ts: self.first_ts,
            }),
            _ => None,
        };
        let handshake = self.saved.outcome.map(|outcome| Event::Handshake {
            connection: self.id,
            seen: self.handshake_seen,
            request: self.request.clone(),
            response: self.response.clone(),
            accept_valid: self.accept_valid,
            outcome,
        });
        let end = match (self.tcp_end, self.saved.end) {
            (Some(reason), Some((closed_first_by, clean, ts))) => {
                Some(Event::End { connection: self.id, reason, closed_first_by, clean, ts })
            }
            _ => None,
        };
        (connection, handshake, end)
    }
}

impl MsgRow {
    /// True for findings and gaps.
    pub fn is_notice(&self) -> bool {
        !matches!(self.kind, RowKind::Message { .. })
    }

    /// The row as the event it was made from, as `export` writes it (the documented NDJSON
    /// `message`, `finding` and `gap` lines). A payload the view did not keep (beyond its
    /// budget) is written empty with `truncated: true`, as a cut payload is.
    pub fn event(&self, connection: ConnId) -> Option<Event> {
        use crate::event::CloseFrameInfo;
        use crate::ws::CloseCode;
        Some(match &self.kind {
            RowKind::Message {
                opcode,
                length,
                captured,
                complete,
                missing,
                wire,
                compressed,
                fragments,
                text,
                payload,
                unavailable,
                truncated,
                end,
                extra,
            } => {
                let extra = extra.as_deref();
                let shown = match (payload, unavailable) {
                    (_, true) => Payload::Unavailable,
                    (Some(p), _) if *text => Payload::Text(String::from_utf8_lossy(p).into_owned()),
                    (Some(p), _) => Payload::Bytes(p.to_vec()),
                    (None, _) if *text => Payload::Text(String::new()),
                    (None, _) => Payload::Bytes(Vec::new()),
                };
                let kept = payload.as_ref().map_or(0, |p| p.len() as u64);
                Event::Message {
                    connection,
                    direction: self.dir?,
                    opcode: *opcode,
                    complete: *complete,
                    length: *length,
                    captured_length: *captured,
                    missing: *missing,
                    wire_length: *wire,
                    compressed: *compressed,
                    fragments: *fragments,
                    first: self.at,
                    last: extra.and_then(|e| e.last).unwrap_or(self.at),
                    end: *end,
                    payload: shown,
                    truncated: !*unavailable && (*truncated || kept < *captured),
                    close: extra.and_then(|e| e.close.as_ref()).map(|(code, reason)| {
                        CloseFrameInfo {
                            code: code.map(CloseCode),
                            reason: reason.clone(),
                            at: self.at,
                        }
                    }),
                    rtt: extra.and_then(|e| e.rtt),
                }
            }
            RowKind::Finding { code, severity, rfc, message } => Event::Finding {
                connection,
                code: *code,
                severity: *severity,
                rfc,
                direction: self.dir,
                at: self.at,
                message: message.clone(),
            },
            RowKind::Gap { length, seq, reason } => Event::Gap {
                connection,
                direction: self.dir?,
                length: *length,
                seq: *seq,
                reason: *reason,
                at: self.at,
            },
        })
    }
}

/// Which pane has the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The connections table.
    Connections,
    /// The messages of the selected connection.
    Messages,
    /// The detail of the selected message.
    Detail,
}

/// Opcode quick filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpFilter {
    /// Everything.
    All,
    /// Text and binary messages.
    Data,
    /// Control frames.
    Control,
}

/// How connections are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Order of appearance.
    First,
    /// Most recently active first.
    Activity,
    /// Most messages first.
    Messages,
    /// Most findings first.
    Findings,
}

/// Text being typed in the search prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// No prompt.
    None,
    /// `/` search.
    Search(String),
    /// Where to save (`w`, `W`, `e`): the path being typed, prefilled with a new name.
    Save(SaveWhat, String),
}

/// What a save writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveWhat {
    /// The selected message's payload.
    Payload,
    /// The selected connection (NDJSON).
    Connection,
    /// The filtered view (NDJSON).
    View,
}

/// Capture-side counters shown in the status bar.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaptureStatus {
    /// Packets read.
    pub packets: u64,
    /// Bytes read.
    pub bytes: u64,
    /// File size (0 for live).
    pub total_bytes: u64,
    /// libpcap drops (buffer, interface).
    pub pcap_dropped: u64,
    /// Packets that could not be decoded.
    pub undecoded: u64,
    /// Why (known once reading is done).
    pub undecoded_why: crate::packet::UndecodedStats,
    /// Events the UI could not keep up with (live).
    pub ui_dropped: u64,
    /// Packets dropped because the analysis fell behind (live, `--capture-queue`).
    pub queue_dropped: u64,
    /// TCP connections open now (live, from the last `stats`).
    pub open_connections: Option<u64>,
    /// Bytes charged to the memory budget and the budget (live, from the last `stats`).
    pub memory: (u64, u64),
    /// Packets per second (live).
    pub packets_per_sec: f64,
    /// Messages per second (live).
    pub messages_per_sec: f64,
    /// Reading is finished.
    pub done: bool,
    /// Reading ended before the input did, and why (a cut file, `-w` that failed, an
    /// interface gone).
    pub ended_early: Option<String>,
    /// Live capture.
    pub live: bool,
    /// What is captured, live: the interfaces and the BPF filter (`-i lo -f 'tcp port 80'`).
    pub source: String,
    /// Events are redacted (`--redact`).
    pub redacted: bool,
}

/// A user intention, from a key or the mouse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Quit.
    Quit,
    /// Move the selection.
    Up,
    /// Move the selection.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// First row.
    Home,
    /// Last row (and follow).
    End,
    /// Next pane.
    NextPane,
    /// Previous pane.
    PrevPane,
    /// Open the detail / go into the messages.
    Enter,
    /// Close overlay / back.
    Back,
    /// Start a search.
    SearchStart,
    /// Type into the prompt.
    PromptChar(char),
    /// Delete in the prompt.
    PromptBackspace,
    /// Clear the prompt (Ctrl-U).
    PromptClear,
    /// Delete the word before the cursor (Ctrl-W).
    PromptDeleteWord,
    /// Apply the prompt.
    PromptSubmit,
    /// Next search match.
    NextMatch,
    /// Previous search match.
    PrevMatch,
    /// Cycle the direction filter.
    CycleDirection,
    /// Cycle the opcode filter.
    CycleOpcode,
    /// Toggle findings only.
    ToggleFindingsOnly,
    /// Jump to the next finding.
    NextFinding,
    /// Jump to the previous finding.
    PrevFinding,
    /// The next time mode (since the connection, the capture, delta, UTC, local).
    ToggleTime,
    /// How the selected payload is shown: pretty, raw, hex, base64.
    CyclePayloadView,
    /// Copy the selected payload to the clipboard (OSC 52: works over SSH and in tmux).
    CopyPayload,
    /// Pause / resume (live).
    TogglePause,
    /// Follow new messages.
    ToggleFollow,
    /// Cycle connection sorting.
    CycleSort,
    /// Show or hide plain TCP connections.
    ToggleAll,
    /// Show or hide the help overlay.
    ToggleHelp,
    /// Select a row with the mouse: pane-relative row.
    ClickConnections(u16),
    /// Select a message row with the mouse.
    ClickMessages(u16),
    /// Scroll the focused pane.
    ScrollUp,
    /// Scroll the focused pane.
    ScrollDown,
    /// Save the selected message's payload.
    SavePayload,
    /// Save the selected connection as NDJSON.
    SaveConnection,
    /// Save the filtered messages as NDJSON.
    SaveView,
}

/// A request the UI loop carries out (file writes happen outside the pure state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing to do.
    None,
    /// Quit the UI.
    Quit,
    /// Ask where to save (the loop prefills a new name in the current directory).
    AskSave(SaveWhat),
    /// Save to the path the user typed.
    Save(SaveWhat, String),
    /// Copy the selected payload to the clipboard (OSC 52).
    Copy,
}

/// How the detail pane shows a payload (`v` cycles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadView {
    /// Text as sent, JSON objects and arrays re-indented (their own tokens, see
    /// [`crate::jsontext`]); binary as a hex dump.
    Pretty,
    /// Text exactly as sent (control characters escaped); binary as a hex dump.
    Raw,
    /// A hex dump, text or not.
    Hex,
    /// Base64 of the payload bytes.
    Base64,
}

impl PayloadView {
    /// The name shown in the pane's title.
    pub fn name(self) -> &'static str {
        match self {
            PayloadView::Pretty => "pretty",
            PayloadView::Raw => "raw",
            PayloadView::Hex => "hex",
            PayloadView::Base64 => "base64",
        }
    }
}

/// The whole UI state.
pub struct AppState {
    /// Connections in order of appearance.
    pub conns: Vec<ConnRow>,
    index: HashMap<ConnId, usize>,
    /// Rows per connection (messages, findings, gaps in order).
    pub rows: Vec<Vec<MsgRow>>,
    /// Data frames seen per (connection, direction) not yet attached to a message.
    pending_frames: HashMap<(ConnId, Direction), Vec<FrameInfo>>,
    /// Which pane has the keyboard.
    pub focus: Focus,
    /// Selected connection (index into `conn_order()`).
    pub conn_sel: usize,
    /// Selected row in the filtered messages of the selected connection.
    pub msg_sel: usize,
    /// First visible message row (index into the filtered view).
    pub msg_offset: usize,
    /// First visible connection row.
    pub conn_offset: usize,
    /// Scroll offset in the detail pane.
    pub detail_scroll: u16,
    /// Keep the selection on the newest message.
    pub follow: bool,
    /// Direction filter.
    pub dir_filter: Option<Direction>,
    /// Opcode filter.
    pub op_filter: OpFilter,
    /// Only findings and gaps.
    pub findings_only: bool,
    /// Search pattern.
    pub search: Option<Regex>,
    /// Per connection (index into `conns`): a row matches the search. Kept up to date as rows
    /// come, so the connections list shows only those while a search is on.
    search_hits: Vec<bool>,
    /// Per connection: the search matches the connection itself (its URL, addresses,
    /// subprotocol, TLS summary): every row of it is shown, as DevTools' network filter does.
    search_conn_hits: Vec<bool>,
    /// The prompt being typed.
    pub prompt: Prompt,
    /// Help overlay shown.
    pub show_help: bool,
    /// The time column (`t` cycles the modes).
    pub time_mode: crate::timefmt::TimeMode,
    /// The first packet of the first connection, for times since the capture started.
    pub capture_start: Option<Timestamp>,
    /// The local time zone's offset at a moment (the system's; tests fix it).
    pub local_offset: crate::timefmt::LocalOffset,
    /// How payloads are shown in the detail pane.
    pub payload_view: PayloadView,
    /// Live view paused: new events are kept but the view does not move.
    pub paused: bool,
    /// Connection order.
    pub sort: SortKey,
    /// Also list TCP connections that were not WebSocket.
    pub show_all: bool,
    /// Capture counters.
    pub capture: CaptureStatus,
    /// A one-line message for the status bar (saved file, bad regex…).
    pub notice: Option<String>,
    /// Bytes of full payloads kept so far, and the budget.
    pub payload_bytes: usize,
    /// Budget for full payloads.
    pub payload_budget: usize,
    /// Rows kept in all (`--max-rows`); beyond it the oldest rows of the connection with the
    /// most are dropped, an eighth at a time.
    pub max_rows: usize,
    /// Rows kept now.
    row_count: usize,
    /// Rows dropped to stay under `max_rows` or the memory budget.
    pub rows_dropped: u64,
    /// Rows and payloads charged to the memory budget: past half of it, no more full payloads
    /// are kept; past 80 %, the oldest rows go as with `max_rows`.
    memory: Option<crate::memory::Charge>,
    /// Total messages.
    pub total_messages: u64,
    /// Rows visible in the messages pane (set from the layout, for paging).
    pub page: usize,
    /// Use colours.
    pub color: bool,
    /// Filtered view of the selected connection (indices into its rows), rebuilt when dirty.
    view: Vec<usize>,
    view_conn: Option<usize>,
    view_len_seen: usize,
    view_dirty: bool,
}

impl AppState {
    /// An empty state keeping full payloads up to `payload_budget` bytes.
    pub fn new(payload_budget: usize) -> Self {
        AppState {
            conns: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
            pending_frames: HashMap::new(),
            focus: Focus::Connections,
            conn_sel: 0,
            msg_sel: 0,
            msg_offset: 0,
            conn_offset: 0,
            detail_scroll: 0,
            follow: true,
            dir_filter: None,
            op_filter: OpFilter::All,
            findings_only: false,
            search: None,
            search_hits: Vec::new(),
            search_conn_hits: Vec::new(),
            prompt: Prompt::None,
            show_help: false,
            time_mode: crate::timefmt::TimeMode::Connection,
            capture_start: None,
            local_offset: crate::term::local_offset,
            payload_view: PayloadView::Pretty,
            paused: false,
            sort: SortKey::First,
            show_all: false,
            capture: CaptureStatus::default(),
            notice: None,
            payload_bytes: 0,
            payload_budget,
            max_rows: DEFAULT_MAX_ROWS,
            row_count: 0,
            rows_dropped: 0,
            memory: None,
            total_messages: 0,
            page: 10,
            color: true,
            view: Vec::new(),
            view_conn: None,
            view_len_seen: 0,
            view_dirty: true,
        }
    }

    // ── Folding events ──────────────────────────────────────────────────────────────────────

    /// Folds one event into the state.
    pub fn apply(&mut self, e: &Event) {
        self.apply_event(e);
        // A live search also lists connections that come (or get their URL) later.
        if self.search.is_some()
            && matches!(e, Event::Connection { .. } | Event::Handshake { .. } | Event::Tls { .. })
            && let Some(i) = self.index.get(&e.connection()).copied()
            && self.conns.get(i).is_some_and(|c| self.conn_matches(c))
        {
            for v in [&mut self.search_conn_hits, &mut self.search_hits] {
                if v.len() <= i {
                    v.resize(i + 1, false);
                }
                v[i] = true;
            }
            self.view_dirty = true;
        }
    }

    fn apply_event(&mut self, e: &Event) {
        match e {
            Event::Connection {
                connection,
                client,
                server,
                community_id,
                ts,
                role,
                continues,
                packet,
            } => {
                self.capture_start = Some(self.capture_start.map_or(*ts, |s| s.min(*ts)));
                self.index.insert(*connection, self.conns.len());
                self.conns.push(ConnRow {
                    id: *connection,
                    client: client.to_string(),
                    server: server.to_string(),
                    community_id: *community_id,
                    host: String::new(),
                    path: String::new(),
                    subprotocol: String::new(),
                    extensions: String::new(),
                    state: ConnState::Handshaking,
                    handshake_seen: true,
                    close_codes: (None, None),
                    closes: [None, None],
                    rtt: (0, f64::INFINITY, 0.0, 0.0),
                    tcp_end: None,
                    up: (0, 0),
                    down: (0, 0),
                    findings: 0,
                    worst: None,
                    first_ts: *ts,
                    last_ts: *ts,
                    request: None,
                    response: None,
                    accept_valid: None,
                    websocket: false,
                    tls: None,
                    saved: Box::new(ConnEvents {
                        role: *role,
                        continues: *continues,
                        packet: *packet,
                        outcome: None,
                        end: None,
                    }),
                });
                self.rows.push(Vec::new());
            }
            Event::Handshake { connection, seen, request, response, accept_valid, outcome } => {
                // Following a live capture, a new connection is selected when the last one was
                // (as new messages are); a file opens on its first connection.
                let newly = self.conn_mut(*connection).is_some_and(|c| !c.websocket);
                let follow_new = newly && self.follow && self.capture.live && {
                    let n = self.conn_order().len();
                    n == 0 || self.conn_sel + 1 >= n
                };
                let Some(c) = self.conn_mut(*connection) else { return };
                c.websocket = true;
                c.handshake_seen = *seen;
                c.state = match outcome {
                    HandshakeOutcome::Upgraded => ConnState::Open,
                    // Not upgraded either way: the peers stayed with HTTP.
                    HandshakeOutcome::Refused | HandshakeOutcome::NotFollowed => ConnState::Refused,
                    HandshakeOutcome::NoResponse => ConnState::Handshaking,
                };
                // Shown in the connections table: escaped once here (see crate::term).
                let shown = |s: &str| crate::term::escape(s).into_owned();
                if let Some(r) = request {
                    c.host = shown(r.host.as_deref().unwrap_or_default());
                    c.path = shown(&r.path);
                }
                if let Some(r) = response {
                    c.subprotocol = shown(r.protocol.as_deref().unwrap_or_default());
                    c.extensions =
                        r.extensions.iter().map(|e| shown(&e.name)).collect::<Vec<_>>().join(",");
                }
                c.request = request.clone();
                c.response = response.clone();
                c.accept_valid = *accept_valid;
                c.saved.outcome = Some(*outcome);
                if follow_new {
                    let id = *connection;
                    let order = self.conn_order();
                    if let Some(pos) =
                        order.iter().position(|i| self.conns.get(*i).is_some_and(|c| c.id == id))
                    {
                        self.select_conn(pos);
                    }
                }
            }
            Event::Frame {
                connection,
                direction,
                fin,
                rsv,
                opcode,
                mask,
                payload_length,
                at,
                ..
            } => {
                if !opcode.is_control() {
                    let f = FrameInfo {
                        opcode: *opcode,
                        fin: *fin,
                        rsv: *rsv,
                        mask: *mask,
                        len: *payload_length,
                        at: *at,
                    };
                    self.pending_frames.entry((*connection, *direction)).or_default().push(f);
                }
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
                first,
                last,
                end,
                payload,
                truncated,
                close,
                rtt,
            } => {
                self.total_messages += 1;
                let frames = if opcode.is_control() {
                    Vec::new()
                } else {
                    let f =
                        self.pending_frames.remove(&(*connection, *direction)).unwrap_or_default();
                    if *fragments > 1 { f } else { Vec::new() }
                };
                let (text, bytes, unavailable) = match payload {
                    Payload::Text(t) => (true, t.as_bytes(), false),
                    Payload::Bytes(b) => (false, b.as_slice(), false),
                    Payload::Unavailable => (false, &[][..], true),
                };
                let close = close.as_ref().map(|c| (c.code.map(|c| c.0), c.reason.clone()));
                let preview = preview(*opcode, text, bytes, unavailable, close.as_ref());
                let saving = self
                    .memory
                    .as_ref()
                    .is_some_and(|c| c.memory().level() >= crate::memory::Level::DropPayloads);
                let kept = if !saving && self.payload_bytes + bytes.len() <= self.payload_budget {
                    self.payload_bytes += bytes.len();
                    Some(bytes.to_vec().into_boxed_slice())
                } else {
                    None
                };
                let Some(i) = self.index.get(connection).copied() else { return };
                if let Some(c) = self.conns.get_mut(i) {
                    c.last_ts = c.last_ts.max(end.ts);
                    let counter = match direction {
                        Direction::ClientToServer => &mut c.up,
                        Direction::ServerToClient => &mut c.down,
                    };
                    counter.0 += 1;
                    counter.1 += captured_length;
                    if let Some((code, reason)) = &close {
                        match direction {
                            Direction::ClientToServer => c.close_codes.0 = *code,
                            Direction::ServerToClient => c.close_codes.1 = *code,
                        }
                        c.closes[direction.index()] =
                            Some((*code, crate::term::escape(reason).into_owned()));
                    }
                    if let Some(r) = rtt {
                        c.rtt = (c.rtt.0 + 1, c.rtt.1.min(*r), c.rtt.2.max(*r), c.rtt.3 + r);
                    }
                }
                self.push_row(
                    i,
                    MsgRow {
                        dir: Some(*direction),
                        at: *first,
                        preview,
                        kind: RowKind::Message {
                            opcode: *opcode,
                            length: *length,
                            captured: *captured_length,
                            complete: *complete,
                            missing: *missing,
                            wire: *wire_length,
                            compressed: *compressed,
                            fragments: *fragments,
                            text,
                            payload: kept,
                            unavailable,
                            truncated: *truncated,
                            end: *end,
                            extra: (rtt.is_some()
                                || close.is_some()
                                || !frames.is_empty()
                                || last != first)
                                .then(|| {
                                    let last = (last != first).then_some(*last);
                                    Box::new(Extra { rtt: *rtt, close, frames, last })
                                }),
                        },
                    },
                );
            }
            Event::Finding { connection, code, severity, rfc, direction, at, message } => {
                let Some(i) = self.index.get(connection).copied() else { return };
                if let Some(c) = self.conns.get_mut(i) {
                    c.findings += 1;
                    c.worst = c.worst.max(Some(*severity));
                }
                let preview =
                    crate::term::printable(&format!("{code}: {message}"), PREVIEW_CHARS).into();
                self.push_row(
                    i,
                    MsgRow {
                        dir: *direction,
                        at: *at,
                        preview,
                        kind: RowKind::Finding {
                            code: *code,
                            severity: *severity,
                            rfc,
                            message: message.clone(),
                        },
                    },
                );
            }
            Event::Gap { connection, direction, length, at, seq, reason } => {
                let Some(i) = self.index.get(connection).copied() else { return };
                let preview = format!("{length} bytes missing from the capture").into();
                self.push_row(
                    i,
                    MsgRow {
                        dir: Some(*direction),
                        at: *at,
                        preview,
                        kind: RowKind::Gap { length: *length, seq: *seq, reason: *reason },
                    },
                );
            }
            Event::Tls { connection, tls, .. } => {
                let Some(c) = self.conn_mut(*connection) else { return };
                let mut what: Vec<String> =
                    tls.version.iter().chain(&tls.cipher_suite).cloned().collect();
                if let Some(sni) = &tls.sni {
                    what.push(format!("sni {sni}"));
                }
                let state = match (&tls.advice, tls.decryption) {
                    (_, crate::tls::Decryption::Decrypted) => "decrypted".to_string(),
                    (Some(a), d) => format!("{}: {a}", crate::analyzer::checks::json_name(&d)),
                    (None, d) => crate::analyzer::checks::json_name(&d),
                };
                what.push(state);
                c.tls = Some(crate::term::escape(&what.join(", ")).into_owned());
                // A connection not decrypted is known by the server name it asked for.
                if c.host.is_empty()
                    && let Some(sni) = &tls.sni
                {
                    c.host = crate::term::escape(sni).into_owned();
                }
            }
            Event::End { connection, reason, ts, closed_first_by, clean } => {
                self.pending_frames.retain(|(c, _), _| c != connection);
                let Some(c) = self.conn_mut(*connection) else { return };
                c.saved.end = Some((*closed_first_by, *clean, *ts));
                if c.state != ConnState::Refused {
                    c.state = ConnState::Closed;
                }
                c.tcp_end = Some(*reason);
                c.last_ts = c.last_ts.max(*ts);
            }
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut ConnRow> {
        self.index.get(&id).and_then(|i| self.conns.get_mut(*i))
    }

    fn push_row(&mut self, conn: usize, row: MsgRow) {
        if self.search.is_some() && self.matches(&row) {
            if self.search_hits.len() <= conn {
                self.search_hits.resize(conn + 1, false);
            }
            self.search_hits[conn] = true;
        }
        if let Some(rows) = self.rows.get_mut(conn) {
            rows.push(row);
            self.row_count += 1;
        }
        let evict =
            self.memory.as_ref().is_some_and(|c| c.memory().level() >= crate::memory::Level::Evict);
        if self.row_count > self.max_rows || (evict && self.row_count > 1024) {
            self.drop_oldest_rows();
        }
        if let Some(c) = &mut self.memory {
            c.set(self.payload_bytes + self.row_count * ROW_BYTES);
        }
        if self.selected_conn_index() == Some(conn) {
            self.refresh_view();
            if self.follow && !self.paused && self.focus != Focus::Detail {
                self.msg_sel = self.view.len().saturating_sub(1);
                self.keep_msg_visible();
            }
        }
    }

    /// Charges the rows and payloads to `memory` (see [`crate::memory`]).
    pub fn charge_to(&mut self, memory: &crate::memory::Memory) {
        self.memory = Some(crate::memory::Charge::new(memory));
    }

    /// Drops the oldest eighth of the rows of the connection that has the most.
    fn drop_oldest_rows(&mut self) {
        let Some((conn, len)) =
            self.rows.iter().enumerate().map(|(i, r)| (i, r.len())).max_by_key(|(_, n)| *n)
        else {
            return;
        };
        let n = (len / 8).max(1).min(len);
        let Some(rows) = self.rows.get_mut(conn) else { return };
        for r in rows.drain(..n) {
            if let RowKind::Message { payload: Some(p), .. } = &r.kind {
                self.payload_bytes = self.payload_bytes.saturating_sub(p.len());
            }
        }
        self.row_count -= n;
        self.rows_dropped += n as u64;
        if self.selected_conn_index() == Some(conn) {
            self.msg_sel = self.msg_sel.saturating_sub(n);
            self.msg_offset = self.msg_offset.saturating_sub(n);
            self.view_dirty = true;
            self.refresh_view();
        }
    }

    // ── Derived views ───────────────────────────────────────────────────────────────────────

    /// Connection indices in display order (plain TCP connections only with `show_all`; TLS
    /// ones always, since they may carry wss:// and say what would decrypt them).
    pub fn conn_order(&self) -> Vec<usize> {
        let shown = |c: &ConnRow| self.show_all || c.websocket || c.tls.is_some();
        // A search (as in DevTools) lists only the connections it found something in.
        let found = |i: usize| self.search.is_none() || self.search_hits.get(i) == Some(&true);
        let mut order: Vec<usize> =
            (0..self.conns.len()).filter(|i| shown(&self.conns[*i]) && found(*i)).collect();
        match self.sort {
            SortKey::First => {}
            SortKey::Activity => order.sort_by_key(|i| std::cmp::Reverse(self.conns[*i].last_ts)),
            SortKey::Messages => order
                .sort_by_key(|i| std::cmp::Reverse(self.conns[*i].up.0 + self.conns[*i].down.0)),
            SortKey::Findings => order.sort_by_key(|i| {
                std::cmp::Reverse((self.conns[*i].worst, self.conns[*i].findings))
            }),
        }
        order
    }

    /// The index (into `conns`) of the selected connection.
    pub fn selected_conn_index(&self) -> Option<usize> {
        if self.sort == SortKey::First && self.show_all && self.search.is_none() {
            return (self.conn_sel < self.conns.len()).then_some(self.conn_sel);
        }
        self.conn_order().get(self.conn_sel).copied()
    }

    /// The selected connection.
    pub fn selected_conn(&self) -> Option<&ConnRow> {
        self.selected_conn_index().and_then(|i| self.conns.get(i))
    }

    /// Whether a row passes the filters (`whole`: the search matched its connection itself).
    fn visible(&self, r: &MsgRow, whole: bool) -> bool {
        if self.findings_only && !r.is_notice() {
            return false;
        }
        // The search filters the list (as in DevTools), not only jumps.
        if self.search.is_some() && !whole && !self.matches(r) {
            return false;
        }
        if let (Some(d), Some(rd)) = (self.dir_filter, r.dir)
            && d != rd
        {
            return false;
        }
        if let RowKind::Message { opcode, .. } = &r.kind {
            match self.op_filter {
                OpFilter::All => {}
                OpFilter::Data if opcode.is_control() => return false,
                OpFilter::Control if !opcode.is_control() => return false,
                _ => {}
            }
        }
        true
    }

    /// Rebuilds the filtered view when needed (incrementally when rows were only appended).
    fn refresh_view(&mut self) {
        let conn = self.selected_conn_index();
        let len = conn.and_then(|c| self.rows.get(c)).map_or(0, Vec::len);
        if self.view_dirty || self.view_conn != conn || len < self.view_len_seen {
            self.view.clear();
            self.view_len_seen = 0;
            self.view_conn = conn;
            self.view_dirty = false;
        }
        let whole = conn.is_some_and(|c| self.search_conn_hits.get(c) == Some(&true));
        if let Some(rows) = conn.and_then(|c| self.rows.get(c)) {
            for (i, r) in rows.iter().enumerate().skip(self.view_len_seen) {
                if self.visible(r, whole) {
                    self.view.push(i);
                }
            }
        }
        self.view_len_seen = len;
    }

    /// The filtered rows of the selected connection (indices into its rows).
    pub fn view(&mut self) -> &[usize] {
        self.refresh_view();
        &self.view
    }

    /// The filtered view, as last built (for rendering from `&self`).
    pub fn view_cached(&self) -> &[usize] {
        &self.view
    }

    /// The selected message row.
    pub fn selected_row(&self) -> Option<&MsgRow> {
        let conn = self.selected_conn_index()?;
        let i = *self.view.get(self.msg_sel)?;
        self.rows.get(conn)?.get(i)
    }

    /// Does the search match the connection itself: its URL (host, path and query), client and
    /// server addresses, subprotocol or TLS summary?
    fn conn_matches(&self, c: &ConnRow) -> bool {
        let Some(re) = &self.search else { return false };
        [&c.client, &c.server, &c.host, &c.path, &c.subprotocol]
            .into_iter()
            .chain(c.tls.as_ref())
            .any(|f| !f.is_empty() && re.is_match(f))
    }

    /// Does a row match the search pattern?
    pub fn matches(&self, r: &MsgRow) -> bool {
        let Some(re) = &self.search else { return false };
        if re.is_match(&r.preview) {
            return true;
        }
        match &r.kind {
            RowKind::Message { payload: Some(p), .. } => re.is_match(&String::from_utf8_lossy(p)),
            RowKind::Finding { message, .. } => re.is_match(message),
            _ => false,
        }
    }

    // ── Actions ─────────────────────────────────────────────────────────────────────────────

    /// Handles a user action; returns what the loop must do outside the state.
    pub fn handle(&mut self, a: Action) -> Effect {
        self.refresh_view();
        if let Prompt::Save(what, text) = &mut self.prompt {
            match a {
                Action::PromptChar(c) => text.push(c),
                Action::PromptBackspace => {
                    text.pop();
                }
                Action::PromptClear => text.clear(),
                Action::PromptDeleteWord => delete_word(text),
                Action::PromptSubmit => {
                    let (what, path) = (*what, std::mem::take(text));
                    self.prompt = Prompt::None;
                    if path.trim().is_empty() {
                        self.notice = Some("not saved: no file name given".into());
                        return Effect::None;
                    }
                    return Effect::Save(what, path);
                }
                Action::Back | Action::Quit => {
                    self.prompt = Prompt::None;
                    self.notice = Some("not saved".into());
                }
                _ => {}
            }
            return Effect::None;
        }
        if let Prompt::Search(text) = &mut self.prompt {
            match a {
                Action::PromptChar(c) => text.push(c),
                Action::PromptBackspace => {
                    text.pop();
                }
                Action::PromptClear => text.clear(),
                Action::PromptDeleteWord => delete_word(text),
                Action::PromptSubmit => {
                    let pattern = std::mem::take(text);
                    self.prompt = Prompt::None;
                    self.set_search(&pattern);
                }
                Action::Back | Action::Quit => self.prompt = Prompt::None,
                _ => {}
            }
            return Effect::None;
        }
        if self.show_help {
            if matches!(a, Action::ToggleHelp | Action::Back | Action::Quit) {
                self.show_help = false;
            }
            return Effect::None;
        }
        self.notice = None;
        match a {
            Action::Quit => return Effect::Quit,
            Action::ToggleHelp => self.show_help = true,
            Action::Up | Action::ScrollUp => self.move_sel(-1),
            Action::Down | Action::ScrollDown => self.move_sel(1),
            Action::PageUp => self.move_sel(-(self.page.max(1) as i64)),
            Action::PageDown => self.move_sel(self.page.max(1) as i64),
            Action::Home => self.move_sel(i64::MIN / 2),
            Action::End => {
                self.move_sel(i64::MAX / 2);
                if self.focus == Focus::Messages {
                    self.follow = true;
                }
            }
            Action::NextPane => {
                self.focus = match self.focus {
                    Focus::Connections => Focus::Messages,
                    Focus::Messages => Focus::Detail,
                    Focus::Detail => Focus::Connections,
                }
            }
            Action::PrevPane => {
                self.focus = match self.focus {
                    Focus::Connections => Focus::Detail,
                    Focus::Messages => Focus::Connections,
                    Focus::Detail => Focus::Messages,
                }
            }
            Action::Enter => {
                self.focus = match self.focus {
                    Focus::Connections => Focus::Messages,
                    _ => Focus::Detail,
                };
                self.detail_scroll = 0;
            }
            Action::Back => {
                self.focus = match self.focus {
                    Focus::Detail => Focus::Messages,
                    _ => Focus::Connections,
                }
            }
            Action::SearchStart => self.prompt = Prompt::Search(String::new()),
            Action::NextMatch => self.jump(1, |s, r| s.matches(r), "no match"),
            Action::PrevMatch => self.jump(-1, |s, r| s.matches(r), "no match"),
            Action::NextFinding => self.jump(1, |_, r| r.is_notice(), "no more findings"),
            Action::PrevFinding => self.jump(-1, |_, r| r.is_notice(), "no earlier finding"),
            Action::CycleDirection => {
                self.dir_filter = match self.dir_filter {
                    None => Some(Direction::ClientToServer),
                    Some(Direction::ClientToServer) => Some(Direction::ServerToClient),
                    Some(Direction::ServerToClient) => None,
                };
                self.filters_changed();
            }
            Action::CycleOpcode => {
                self.op_filter = match self.op_filter {
                    OpFilter::All => OpFilter::Data,
                    OpFilter::Data => OpFilter::Control,
                    OpFilter::Control => OpFilter::All,
                };
                self.filters_changed();
            }
            Action::ToggleFindingsOnly => {
                self.findings_only = !self.findings_only;
                self.filters_changed();
            }
            Action::ToggleTime => self.time_mode = self.time_mode.next(),
            Action::CyclePayloadView => {
                self.payload_view = match self.payload_view {
                    PayloadView::Pretty => PayloadView::Raw,
                    PayloadView::Raw => PayloadView::Hex,
                    PayloadView::Hex => PayloadView::Base64,
                    PayloadView::Base64 => PayloadView::Pretty,
                };
                self.detail_scroll = 0;
            }
            Action::TogglePause => self.paused = !self.paused,
            Action::ToggleFollow => self.follow = !self.follow,
            Action::CycleSort => {
                let id = self.selected_conn().map(|c| c.id);
                self.sort = match self.sort {
                    SortKey::First => SortKey::Activity,
                    SortKey::Activity => SortKey::Messages,
                    SortKey::Messages => SortKey::Findings,
                    SortKey::Findings => SortKey::First,
                };
                // Keep the same connection selected.
                if let Some(id) = id {
                    let order = self.conn_order();
                    self.conn_sel = order.iter().position(|i| self.conns[*i].id == id).unwrap_or(0);
                }
            }
            Action::ToggleAll => {
                let id = self.selected_conn().map(|c| c.id);
                self.show_all = !self.show_all;
                let order = self.conn_order();
                self.conn_sel = id
                    .and_then(|id| order.iter().position(|i| self.conns[*i].id == id))
                    .unwrap_or(0);
                self.conn_offset = 0;
                self.view_dirty = true;
                self.refresh_view();
            }
            Action::ClickConnections(row) => {
                self.focus = Focus::Connections;
                let target = self.conn_offset + row as usize;
                if target < self.conn_order().len() {
                    self.select_conn(target);
                }
            }
            Action::ClickMessages(row) => {
                self.focus = Focus::Messages;
                let target = self.msg_offset + row as usize;
                if target < self.view.len() {
                    self.msg_sel = target;
                    self.follow = false;
                }
            }
            Action::SavePayload => {
                // Said at once, not after a file name was typed.
                if !matches!(
                    self.selected_row().map(|r| &r.kind),
                    Some(RowKind::Message { payload: Some(_), .. })
                ) {
                    self.notice = Some("no payload to save for this row".into());
                    return Effect::None;
                }
                return Effect::AskSave(SaveWhat::Payload);
            }
            Action::SaveConnection => return Effect::AskSave(SaveWhat::Connection),
            Action::SaveView => return Effect::AskSave(SaveWhat::View),
            Action::CopyPayload => return Effect::Copy,
            Action::PromptChar(_)
            | Action::PromptBackspace
            | Action::PromptClear
            | Action::PromptDeleteWord
            | Action::PromptSubmit => {}
        }
        Effect::None
    }

    fn set_search(&mut self, pattern: &str) {
        let selected = self.selected_conn().map(|c| c.id);
        if pattern.is_empty() {
            self.search = None;
            self.search_hits.clear();
            self.search_conn_hits.clear();
            self.reselect(selected);
            self.filters_changed();
            return;
        }
        // Case-insensitive unless the pattern says otherwise ((?-i)).
        match regex::RegexBuilder::new(pattern).case_insensitive(true).build() {
            Ok(re) => {
                self.search = Some(re);
                // Every connection is searched, not only the selected one: itself (its URL,
                // addresses…) and its rows.
                self.search_conn_hits = self.conns.iter().map(|c| self.conn_matches(c)).collect();
                let hits: Vec<bool> = self
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(i, rows)| {
                        self.search_conn_hits.get(i) == Some(&true)
                            || rows.iter().any(|r| self.matches(r))
                    })
                    .collect();
                let n = hits.iter().filter(|h| **h).count();
                self.search_hits = hits;
                self.reselect(selected);
                self.filters_changed();
                self.notice = Some(if n == 0 {
                    format!("no match for {pattern:?} (Enter on an empty / clears the search)")
                } else {
                    format!(
                        "{pattern:?} found in {n} connection{} (Enter on an empty / clears)",
                        if n == 1 { "" } else { "s" }
                    )
                });
                if n > 0 {
                    self.focus = Focus::Messages;
                }
            }
            Err(e) => {
                self.notice =
                    Some(format!("invalid regex: {}", e.to_string().lines().last().unwrap_or("")))
            }
        }
    }

    /// Selects connection `id` again after the list changed, or the first one.
    fn reselect(&mut self, id: Option<ConnId>) {
        let order = self.conn_order();
        let pos = id
            .and_then(|id| {
                order.iter().position(|i| self.conns.get(*i).is_some_and(|c| c.id == id))
            })
            .unwrap_or(0);
        self.conn_sel = usize::MAX; // forces select_conn to rebuild
        self.select_conn(pos);
    }

    fn filters_changed(&mut self) {
        let keep =
            self.selected_conn_index().and_then(|c| self.view.get(self.msg_sel).map(|i| (c, *i)));
        self.view_dirty = true;
        self.refresh_view();
        self.msg_sel = match keep {
            Some((_, row)) => {
                self.view.partition_point(|i| *i < row).min(self.view.len().saturating_sub(1))
            }
            None => 0,
        };
        self.keep_msg_visible();
    }

    /// Moves the selection of the focused pane by `delta` rows.
    fn move_sel(&mut self, delta: i64) {
        match self.focus {
            Focus::Connections => {
                let n = self.conn_order().len() as i64;
                let target =
                    (self.conn_sel as i64).saturating_add(delta).clamp(0, (n - 1).max(0)) as usize;
                self.select_conn(target);
            }
            Focus::Messages => {
                let n = self.view.len() as i64;
                self.msg_sel =
                    (self.msg_sel as i64).saturating_add(delta).clamp(0, (n - 1).max(0)) as usize;
                // Scrolling away from the end pauses following; reaching the end resumes it.
                self.follow = n > 0 && self.msg_sel as i64 == n - 1;
                self.keep_msg_visible();
            }
            Focus::Detail => {
                self.detail_scroll =
                    (i64::from(self.detail_scroll) + delta).clamp(0, i64::from(u16::MAX)) as u16;
            }
        }
    }

    fn select_conn(&mut self, sel: usize) {
        if sel != self.conn_sel {
            self.conn_sel = sel;
            self.refresh_view();
            self.msg_sel = if self.follow { self.view.len().saturating_sub(1) } else { 0 };
            self.msg_offset = 0;
            self.detail_scroll = 0;
            self.keep_msg_visible();
        }
        if self.conn_sel < self.conn_offset {
            self.conn_offset = self.conn_sel;
        }
    }

    /// Moves to the next (`dir` 1) or previous (-1) row matching `pred`, wrapping around.
    fn jump(&mut self, dir: i64, pred: impl Fn(&AppState, &MsgRow) -> bool, none: &str) {
        let Some(conn) = self.selected_conn_index() else { return };
        let n = self.view.len();
        if n == 0 {
            return;
        }
        for step in 1..=n {
            let i = (self.msg_sel as i64 + dir * step as i64).rem_euclid(n as i64) as usize;
            let Some(row) =
                self.view.get(i).and_then(|r| self.rows.get(conn).and_then(|rows| rows.get(*r)))
            else {
                continue;
            };
            if pred(self, row) {
                self.msg_sel = i;
                self.focus = Focus::Messages;
                self.follow = false;
                self.keep_msg_visible();
                return;
            }
        }
        self.notice = Some(none.to_string());
    }

    /// Selects the first row of the view whose preview contains `needle` (tests, scripted use).
    pub fn jump_to_text(&mut self, needle: &str) {
        self.jump(1, |_, r| r.preview.contains(needle), "not found");
    }

    /// Scrolls the messages pane so that the selection is visible.
    pub fn keep_msg_visible(&mut self) {
        let page = self.page.max(1);
        if self.msg_sel < self.msg_offset {
            self.msg_offset = self.msg_sel;
        } else if self.msg_sel >= self.msg_offset + page {
            self.msg_offset = self.msg_sel + 1 - page;
        }
        // Never an empty bottom with rows above it (after a resize, a filter, or following):
        // the pane stays filled to its last row.
        self.msg_offset = self.msg_offset.min(self.view.len().saturating_sub(page));
    }

    /// Keeps the detail pane's scroll inside its `lines` lines of content shown `rows` at a time.
    pub fn clamp_detail(&mut self, lines: usize, rows: usize) {
        let max = lines.saturating_sub(rows.max(1));
        self.detail_scroll = self.detail_scroll.min(u16::try_from(max).unwrap_or(u16::MAX));
    }

    /// Scrolls the connections pane so that the selection is visible in `rows` rows.
    pub fn keep_conn_visible(&mut self, rows: usize) {
        let rows = rows.max(1);
        if self.conn_sel < self.conn_offset {
            self.conn_offset = self.conn_sel;
        } else if self.conn_sel >= self.conn_offset + rows {
            self.conn_offset = self.conn_sel + 1 - rows;
        }
    }
}

/// A one-line preview of a message.
fn preview(
    opcode: OpCode,
    text: bool,
    bytes: &[u8],
    unavailable: bool,
    close: Option<&(Option<u16>, String)>,
) -> Box<str> {
    use crate::term::printable;
    if unavailable {
        return "(content unavailable)".into();
    }
    if let Some((code, reason)) = close {
        return format!(
            "{} {}",
            code.map_or("(no code)".to_string(), |c| c.to_string()),
            printable(reason, 100)
        )
        .into();
    }
    if text {
        let head = &bytes[..bytes.len().min(PREVIEW_CHARS * 4)];
        return printable(&String::from_utf8_lossy(head), PREVIEW_CHARS).into();
    }
    let _ = opcode;
    // Binary: printable ASCII when it mostly is, else hex.
    let head = &bytes[..bytes.len().min(48)];
    let printable_share = head.iter().filter(|b| b.is_ascii_graphic() || **b == b' ').count();
    if !head.is_empty() && printable_share * 10 >= head.len() * 9 {
        printable(&String::from_utf8_lossy(head), 48).into()
    } else {
        head.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ").into()
    }
}

/// Ctrl-W: deletes the word before the end of `text` and the blanks after it; in a path, up to
/// the previous `/` (as shells do for a path being typed).
fn delete_word(text: &mut String) {
    let trimmed = text.trim_end_matches(' ').len();
    text.truncate(trimmed);
    let keep = text[..trimmed.saturating_sub(1)].rfind([' ', '/']).map_or(0, |i| i + 1);
    text.truncate(keep);
}
