//! The terminal UI (ratatui + crossterm).
//!
//! Threads: a worker reads packets and runs the analyzer, sending batches of events over a
//! bounded channel; the UI thread folds them into [`state::AppState`] and redraws from it with
//! pure render functions. In live capture the worker never waits for the UI: when the channel is
//! full the batch is dropped and counted (shown in the status bar with libpcap's own drops). A
//! file is read as fast as the UI takes events — nothing is dropped.
//!
//! The terminal is restored on exit, on Ctrl-C (a key in raw mode), on SIGTERM, SIGHUP and
//! SIGINT ([`crate::signals`]) and on panic (ratatui's init installs the hook).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod input;
pub mod state;
pub mod view;

use crate::config::{Input, Source};
use crate::error::Error;
use crate::event::{Event, EventSink};
use crate::outfile::OutFile;
use crate::pipeline::{self, Stop};
use crate::run::RunConfig;
use ratatui::crossterm::event::{self as ct, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use state::{AppState, Effect, SaveWhat};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Events per batch sent to the UI.
const BATCH: usize = 512;
/// Batches in flight.
const CHANNEL: usize = 256;
/// Longest the UI spends folding events before it redraws and reads keys.
const FOLD_BUDGET: Duration = Duration::from_millis(30);

/// What the worker sends.
enum UiMsg {
    Events(Vec<Event>),
    Done {
        pcap_dropped: u64,
        packets: Box<crate::packet::PacketStats>,
        /// Why the input ended before its end, if it did ([`ended_early`]).
        ended_early: Option<String>,
    },
    /// Live capture counters, about once a second.
    Stats(Box<crate::event::Stats>),
}

/// Sends events in batches; in live capture drops a batch rather than wait.
struct Sender {
    tx: SyncSender<UiMsg>,
    batch: Vec<Event>,
    live: bool,
    last: Instant,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Sender {
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        if self.live {
            if let Err(TrySendError::Full(_)) = self.tx.try_send(UiMsg::Events(batch)) {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        } else {
            let _ = self.tx.send(UiMsg::Events(batch));
        }
        self.last = Instant::now();
    }
}

impl EventSink for Sender {
    fn stats(&mut self, stats: &crate::event::Stats) {
        self.flush();
        let _ = self.tx.try_send(UiMsg::Stats(Box::new(stats.clone())));
    }

    fn event(&mut self, e: Event) {
        self.batch.push(e);
        if self.batch.len() >= BATCH
            || (self.live && self.last.elapsed() > Duration::from_millis(50))
        {
            self.flush();
        }
    }
}

/// Options of the UI besides the run.
pub struct UiOptions {
    /// Colours.
    pub color: bool,
    /// Bytes of full payloads kept.
    pub payload_budget: usize,
    /// Rows kept (`--max-rows`).
    pub max_rows: usize,
}

/// Runs the UI until the user quits. Returns the exit status (0).
pub fn run(mut cfg: RunConfig, opts: UiOptions) -> Result<u8, Error> {
    let source: Source = cfg.sources.remove(0);
    let mut packets = pipeline::open(&source)?;
    let live = matches!(source.input, Input::Live { .. });
    let total_bytes = source.input.file_bytes();
    // TLS keys: a pcapng file's own, and a key log followed while capturing live.
    let _follower = match &cfg.analyzer.tls.keys {
        Some(store) => {
            packets.set_key_store(Arc::clone(store));
            if let Some(k) = cfg.keylog.as_ref().filter(|k| crate::keyfile::is_absent(&k.path)) {
                crate::keyfile::absent(k, live, store)?;
            }
            cfg.keylog
                .as_ref()
                .filter(|_| live)
                .map(|k| crate::keyfile::follow(k.path.clone(), 0, Arc::clone(store)))
        }
        None => None,
    };
    let stop = crate::run::stop_conditions(std::slice::from_ref(&source));
    // Open: give up root or capabilities before any packet is read (the worker and the
    // terminal run without them).
    crate::privileges::apply(&source.privileges)?;
    let (tx, rx) = sync_channel(CHANNEL);
    let redacted = cfg.redact.is_some();
    let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let worker = {
        let stop = Arc::clone(&stop);
        let dropped = Arc::clone(&dropped);
        let limits = cfg.limits.clone();
        let analyzer_cfg = cfg.analyzer_config();
        let redact = cfg.redact.take();
        std::thread::spawn(move || {
            let sender =
                Sender { tx: tx.clone(), batch: Vec::new(), live, last: Instant::now(), dropped };
            // `--redact`: events are redacted before the UI folds them, as for every output.
            let sink =
                crate::redact::Redacting::new(redact, sender).charge_to(&analyzer_cfg.memory);
            let mut analyzer = crate::analyzer::Analyzer::new(analyzer_cfg, sink);
            let summary = pipeline::drive(packets.as_mut(), &limits, &stop, &mut analyzer);
            let mut sender = analyzer.into_sink().into_inner();
            sender.flush();
            let pcap_dropped = summary.capture.dropped + summary.capture.if_dropped;
            let ended_early = ended_early(&summary.end_of_input);
            let stats = Box::new(summary.packets);
            let _ = tx.send(UiMsg::Done { pcap_dropped, packets: stats, ended_early });
            packets.close()
        })
    };
    let mut state = AppState::new(opts.payload_budget);
    state.max_rows = opts.max_rows;
    state.charge_to(&cfg.limits.memory);
    state.color = opts.color;
    state.capture.live = live;
    if live {
        state.capture.source = match &source.filter {
            Some(f) => format!("{} -f '{}'", source.describe(), crate::term::escape(f)),
            None => source.describe(),
        };
    }
    state.capture.total_bytes = total_bytes;
    state.capture.redacted = redacted;
    let user = source.privileges.account().map(|a| a.name.clone());
    let result = ui_loop(&mut state, &rx, &stop, &dropped, user.as_deref());
    stop.request();
    // Unblock a worker waiting on a full channel, then wait for it.
    drop(rx);
    let closed = worker.join().unwrap_or(Ok(()));
    result.and(closed).map(|()| 0)
}

/// What the status bar says of how the input ended: a file cut or damaged, a `-w` file that
/// could not be written, an interface that went away; nothing when it ended, or was stopped, as
/// asked.
fn ended_early(end: &crate::capture::EndOfInput) -> Option<String> {
    match end {
        crate::capture::EndOfInput::Truncated { message } => Some(message.clone()),
        _ => end.interface_ended().map(str::to_string),
    }
}

/// `user`: the account wsscope switched to once the capture was open (`-Z`), for save errors.
fn ui_loop(
    state: &mut AppState,
    rx: &Receiver<UiMsg>,
    stop: &Arc<Stop>,
    dropped: &Arc<std::sync::atomic::AtomicU64>,
    user: Option<&str>,
) -> Result<(), Error> {
    let term_err = |e: std::io::Error| Error::Output { what: "the terminal".into(), source: e };
    let mut terminal = ratatui::try_init().map_err(term_err)?;
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let restore = || {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    };
    // When the terminal goes away (SIGHUP: an SSH session or a tmux window closed), reading it
    // can spin inside crossterm and never return to this loop: a guard ends the process a
    // second after the signal if the loop has not (found by tests that killed tmux sessions).
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let ended = Arc::clone(&ended);
        let _ = std::thread::Builder::new().name("wsscope-ui-guard".into()).spawn(move || {
            let mut since: Option<Instant> = None;
            while !ended.load(Ordering::Acquire) {
                if crate::signals::received().is_some()
                    && since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(1)
                {
                    std::process::exit(0);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
    let mut dirty = true;
    let mut last_rate = (Instant::now(), 0u64, 0u64);
    let outcome = loop {
        // SIGTERM, SIGHUP (the terminal went away), or a SIGINT sent with kill: quit, restoring
        // the terminal.
        if crate::signals::received().is_some() {
            break Ok(());
        }
        // Fold what arrived, within a time budget.
        let start = Instant::now();
        while start.elapsed() < FOLD_BUDGET {
            match rx.try_recv() {
                Ok(UiMsg::Events(batch)) => {
                    for e in &batch {
                        state.apply(e);
                    }
                    dirty = true;
                }
                Ok(UiMsg::Stats(st)) => {
                    state.capture.queue_dropped = st.queue_dropped;
                    state.capture.open_connections = Some(st.open_connections);
                    state.capture.memory = (st.memory_used, st.memory_budget);
                    dirty = true;
                }
                Ok(UiMsg::Done { pcap_dropped, packets, ended_early }) => {
                    state.capture.done = true;
                    state.capture.ended_early = ended_early;
                    state.capture.pcap_dropped = pcap_dropped;
                    state.capture.undecoded = packets.malformed;
                    state.capture.undecoded_why = packets.undecoded;
                    dirty = true;
                }
                Err(_) => break,
            }
        }
        let packets = stop.packets_read.load(Ordering::Relaxed);
        let bytes = stop.bytes_read.load(Ordering::Relaxed);
        if packets != state.capture.packets || bytes != state.capture.bytes {
            state.capture.packets = packets;
            state.capture.bytes = bytes;
            dirty = true;
        }
        state.capture.ui_dropped = dropped.load(Ordering::Relaxed);
        if !state.capture.done {
            state.capture.pcap_dropped = stop.pcap_dropped.load(Ordering::Relaxed);
            state.capture.queue_dropped = stop.queue_dropped.load(Ordering::Relaxed);
            state.capture.undecoded = stop.undecoded.load(Ordering::Relaxed);
        }
        let elapsed = last_rate.0.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let secs = elapsed.as_secs_f64();
            state.capture.packets_per_sec = packets.saturating_sub(last_rate.1) as f64 / secs;
            state.capture.messages_per_sec =
                state.total_messages.saturating_sub(last_rate.2) as f64 / secs;
            last_rate = (Instant::now(), packets, state.total_messages);
            dirty = true;
        }
        if dirty {
            let size = terminal.size().map_err(term_err)?;
            let areas =
                view::layout(ratatui::layout::Rect::new(0, 0, size.width, size.height), state);
            state.page = view::inner_rows(areas.messages, false).max(1);
            state.keep_msg_visible();
            state.keep_conn_visible(view::inner_rows(areas.conns, true));
            let (lines, rows) = view::detail::height(state, areas.detail);
            state.clamp_detail(lines, rows);
            terminal.draw(|f| view::draw(f, state)).map_err(term_err)?;
            dirty = false;
        }
        if !ct::poll(Duration::from_millis(40)).map_err(term_err)? {
            continue;
        }
        let size = terminal.size().map_err(term_err)?;
        let areas = view::layout(ratatui::layout::Rect::new(0, 0, size.width, size.height), state);
        let action = match ct::read().map_err(term_err)? {
            ct::Event::Key(k) => input::key_action(k, &state.prompt),
            ct::Event::Mouse(m) => input::mouse_action(m, &areas),
            ct::Event::Resize(..) => {
                dirty = true;
                None
            }
            _ => None,
        };
        let Some(action) = action else { continue };
        dirty = true;
        match state.handle(action) {
            Effect::Quit => break Ok(()),
            Effect::None => {}
            Effect::AskSave(what) => {
                let name = default_save_name(state, what);
                state.prompt = state::Prompt::Save(what, name);
            }
            Effect::Save(what, path) => state.notice = Some(save(state, what, &path, user)),
            Effect::Copy => {
                state.notice = Some(match state.selected_row().map(|r| &r.kind) {
                    Some(state::RowKind::Message { payload: Some(p), .. }) => {
                        let (seq, n) = osc52(p);
                        let w = terminal.backend_mut();
                        match w.write_all(seq.as_bytes()).and_then(|()| w.flush()) {
                            Ok(()) if n < p.len() => {
                                format!("copied the first {n} of {} bytes (OSC 52)", p.len())
                            }
                            Ok(()) => format!("copied {n} bytes to the clipboard (OSC 52)"),
                            Err(e) => format!("could not copy: {e}"),
                        }
                    }
                    _ => "no payload to copy for this row".into(),
                });
            }
        }
    };
    ended.store(true, Ordering::Release);
    restore();
    outcome
}

/// The name a save of `what` proposes: a new file in the current directory (`stem.ext`, or
/// `stem-2.ext`, … when that exists, a link included).
fn default_save_name(state: &AppState, what: SaveWhat) -> String {
    let id = state.selected_conn().map_or(0, |c| c.id.0);
    let (stem, ext) = match what {
        SaveWhat::Payload => {
            let text = matches!(
                state.selected_row().map(|r| &r.kind),
                Some(state::RowKind::Message { text: true, .. })
            );
            // Named after the packet that carried the message's first byte (Wireshark's
            // number), which a row number (findings count as rows) is not.
            let packet = state.selected_row().map_or(0, |r| r.at.packet);
            (format!("wsscope-conn{id}-pkt{packet}"), if text { "txt" } else { "bin" })
        }
        SaveWhat::Connection => (format!("wsscope-conn{id}-all"), "ndjson"),
        SaveWhat::View => (format!("wsscope-conn{id}-view"), "ndjson"),
    };
    (1..=100u32)
        .map(|n| if n == 1 { format!("{stem}.{ext}") } else { format!("{stem}-{n}.{ext}") })
        .find(|name| std::fs::symlink_metadata(name).is_err())
        .unwrap_or_else(|| format!("{stem}-new.{ext}"))
}

/// Carries out a save to `path` (relative to the current directory); returns the message for
/// the status bar. A file that exists is never replaced (nor written through a link): the save is
/// refused, naming the path.
fn save(state: &AppState, what: SaveWhat, path: &str, user: Option<&str>) -> String {
    let conn = state.selected_conn();
    let shown = crate::term::escape(path).into_owned();
    let create = || -> std::io::Result<OutFile> {
        OutFile::create_new_at(std::path::Path::new(path)).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => std::io::Error::new(
                e.kind(),
                "it exists, and a save never replaces a file (w, W or e again to choose another name)",
            ),
            _ => e,
        })
    };
    let result = match what {
        SaveWhat::Payload => match state.selected_row().map(|r| &r.kind) {
            Some(state::RowKind::Message { payload: Some(p), .. }) => create().and_then(|mut f| {
                f.write_all(p)?;
                finish(f)
            }),
            _ => return "no payload to save for this row".into(),
        },
        SaveWhat::Connection | SaveWhat::View => {
            let Some(ci) = state.selected_conn_index() else {
                return "no connection selected".into();
            };
            let whole = what == SaveWhat::Connection;
            let rows = state.rows.get(ci).map(Vec::as_slice).unwrap_or(&[]);
            let indices: Vec<usize> =
                if whole { (0..rows.len()).collect() } else { state.view_cached().to_vec() };
            let Some(c) = conn else { return "no connection selected".into() };
            create().and_then(|f| {
                let mut out = std::io::BufWriter::new(f);
                write_rows(&mut out, c, rows, &indices)?;
                finish(out.into_inner().map_err(std::io::IntoInnerError::into_error)?)
            })
        }
    };
    match result {
        Ok(_) => format!("saved {shown}"),
        Err(e) => match user {
            Some(u) if e.kind() == std::io::ErrorKind::PermissionDenied => format!(
                "could not save {shown} as {u}: {e} (wsscope runs as {u} once the capture is \
                 open: save in a directory {u} can write, or start with -Z root)"
            ),
            _ => format!("could not save {shown}: {e}"),
        },
    }
}

/// The OSC 52 sequence that puts `payload` on the terminal's clipboard (base64; at most
/// `MAX_COPY` bytes, as terminals cap the sequence), and how much of it was copied.
pub fn osc52(payload: &[u8]) -> (String, usize) {
    use base64::Engine;
    let n = payload.len().min(MAX_COPY);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload[..n]);
    (format!("\x1b]52;c;{b64}\x07"), n)
}

/// Bytes copied at most (OSC 52 sequences are capped by terminals, tmux and SSH).
const MAX_COPY: usize = 64 * 1024;

/// Commits a saved file; its name for the status bar.
fn finish(f: OutFile) -> std::io::Result<String> {
    let name = f.path().file_name().unwrap_or_default().to_string_lossy().into_owned();
    f.commit().map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(name)
}

/// Writes the connection `conn` as `export` writes its events (one NDJSON line each, valid
/// against `docs/schema/ndjson-line.schema.json`): its `connection` and `handshake` lines, the
/// rows at `indices`, and its `end` line — as `export -Y` keeps the first and last as context.
fn write_rows(
    out: &mut impl Write,
    conn: &state::ConnRow,
    rows: &[state::MsgRow],
    indices: &[usize],
) -> std::io::Result<()> {
    let (connection, handshake, end) = conn.events();
    let rows = indices.iter().filter_map(|i| rows.get(*i)?.event(conn.id));
    for e in connection.into_iter().chain(handshake).chain(rows).chain(end) {
        serde_json::to_writer(&mut *out, &e)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests;
