//! Runs a command: opens each input, drives the analyzer into the chosen output, decides the
//! exit status. The only place that wires capture, core and sinks together.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::analyzer::checks::Severity;
use crate::analyzer::{Analyzer, AnalyzerConfig, AnalyzerStats};
use crate::capture::{EndOfInput, describe_links};
use crate::config::{Input, Source};
use crate::error::Error;
use crate::limits::TcpLimits;
use crate::outfile::{OutFile, Protected};
use crate::pipeline::{self, RunSummary, Stop};
use crate::redact::{Redacting, Redactor};
use crate::shard;
use crate::sink::report::{Report, ReportFormat};
use crate::sink::{Format, InputInfo, Output, reaches};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Everything a run needs.
pub struct RunConfig {
    /// Inputs, read in order.
    pub sources: Vec<Source>,
    /// Stream engine limits.
    pub limits: TcpLimits,
    /// Analyzer settings.
    pub analyzer: AnalyzerConfig,
    /// Draw progress on standard error.
    pub progress: bool,
    /// Print notices ("listening on …") on standard error.
    pub notices: bool,
    /// Cut payloads in the output to this many bytes.
    pub max_payload: Option<usize>,
    /// Redact every event before any output sees it (`--redact`; `report` unless --no-redact).
    pub redact: Option<Redactor>,
    /// Analysis threads (1: everything on the calling thread; see [`crate::shard`]).
    pub threads: usize,
    /// The TLS key log read into `analyzer.tls.keys` (followed as it grows when live).
    pub keylog: Option<crate::config::KeylogFile>,
    /// Which events are shown (`-Y`); everything is still analysed and counted.
    pub display_filter: Option<crate::display_filter::DisplayFilter>,
}

impl RunConfig {
    /// What changes a run's analysis, as `--flag value` with the values as parsed: the shares of
    /// a sharded run record it, and `wsscope merge` refuses shares that differ. Outputs,
    /// redaction and the policy are compared from the report itself; `-j` changes nothing.
    pub fn analysis_settings(&self) -> Vec<String> {
        let (l, a) = (&self.limits, &self.analyzer);
        // Every input of a run has the same filter.
        let filter = self.sources.first().and_then(|s| s.filter.as_deref());
        let idle = if l.idle_timeout == std::time::Duration::MAX {
            "none".to_string()
        } else {
            format!("{:?}", l.idle_timeout)
        };
        vec![
            format!("-f {}", filter.map_or("none".to_string(), |f| format!("{f:?}"))),
            format!("--ws-port {:?}", a.ws_ports),
            format!("--community-id-seed {}", a.community_id_seed),
            // The file's lines, not its path: shares may read it from different places.
            format!(
                "--keylog {}",
                match (&self.keylog, a.tls.keys.as_ref().and_then(|k| k.digest())) {
                    (Some(_), Some(d)) => format!("sha1:{d}"),
                    (Some(_), None) => "given".to_string(),
                    (None, _) => "none".to_string(),
                }
            ),
            format!("--max-tls-key-wait {}", a.tls.max_key_wait),
            format!("--max-message-size {}", a.max_message),
            format!("--max-inflate-size {}", a.max_inflate),
            format!("--max-resync {}", a.max_resync),
            format!("--max-connections {}", l.max_connections),
            format!("--max-buffered-per-direction {}", l.max_buffered_per_direction),
            format!("--max-buffered-segments {}", l.max_buffered_segments),
            format!("--max-buffered-total {}", l.max_buffered_total),
            format!("--idle-timeout {idle}"),
            format!("--reorder-window {:?}", l.reorder_window),
            format!("--reorder-packets {}", l.reorder_packets),
            format!("--max-fragmented-datagrams {}", l.max_fragmented_datagrams),
            format!("--max-tunnel-depth {}", l.max_tunnel_depth),
            format!("--retransmission-history {}", l.retransmission_history),
            format!("--max-history-total {}", l.max_history_total),
            format!("--memory-budget {}", l.memory.budget()),
        ]
    }

    /// The analyzer's settings, with what it shares with the stream engine.
    pub fn analyzer_config(&self) -> AnalyzerConfig {
        AnalyzerConfig {
            reorder_window: self.limits.reorder_window,
            memory: self.limits.memory.clone(),
            ..self.analyzer.clone()
        }
    }
}

/// A pcap file whose records libpcap cannot frame from the start is most likely one of the
/// variants old patched tcpdumps wrote (Red Hat 6.1, SuSE 6.3, Nokia IPSO: longer record
/// headers behind the usual magic number): Wireshark reads them, libpcap and wsscope do not,
/// and `editcap` converts them.
fn variant_hint(message: &str, packets: u64) -> &'static str {
    if packets <= 2 && message.contains("invalid packet capture length") {
        " (a file whose first records cannot be framed may be a pcap variant an old patched \
         tcpdump wrote, such as Red Hat 6.1's, SuSE 6.3's or Nokia IPSO's; `editcap -F pcap IN \
         OUT` converts it)"
    } else {
        ""
    }
}

/// What a run produced.
pub struct Outcome<F> {
    /// The output format, finished.
    pub format: F,
    /// Findings per severity: [info, warning, error].
    pub findings: [u64; 3],
    /// The error that ended an input (a `-w` file that could not be written): the outputs
    /// hold everything analysed before it, and the run fails with it once they are written.
    pub failed: Option<Error>,
}

impl<F> Outcome<F> {
    /// 1 when findings reached `threshold`, else 0; or the error that ended an input.
    pub fn status(self, threshold: Option<Severity>) -> Result<u8, Error> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(u8::from(reaches(self.findings, threshold))),
        }
    }
}

/// An input as the run holds it until its turn.
enum Turn {
    Open(Box<dyn crate::capture::PacketSource + Send>),
    /// Checked, closed, opened again at its turn: the file with this identity.
    Later(crate::outfile::FileId),
}

/// Whether `source` can be closed after it was checked and opened again at its turn, and the
/// identity of its file: a regular capture file (not standard input or a pipe, which can be
/// read once), with no `-w` file (the opening creates it) and no account to switch to (it
/// might not be allowed to open it).
fn reopenable(source: &Source) -> Option<crate::outfile::FileId> {
    let Input::File(path) = &source.input else { return None };
    if path == std::path::Path::new("-")
        || source.write.is_some()
        || matches!(source.privileges, crate::privileges::Plan::Switch(_))
    {
        return None;
    }
    let meta = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
    Some(crate::outfile::FileId::of(&meta))
}

/// Opens an input at its turn: the file checked when the run began, not one put at its path
/// since.
fn reopen(
    source: &Source,
    id: crate::outfile::FileId,
) -> Result<Box<dyn crate::capture::PacketSource + Send>, Error> {
    let packets = pipeline::open(source)?;
    let Input::File(path) = &source.input else { return Ok(packets) };
    match std::fs::metadata(path) {
        Ok(m) if crate::outfile::FileId::of(&m) == id => Ok(packets),
        _ => Err(Error::Usage(format!(
            "{} was replaced by another file after the run began (the inputs are checked when \
             it begins and each read at its turn): run again on the files as they are now",
            source.display()
        ))),
    }
}

/// Reads every input into `format`.
pub fn run<F: Format>(mut cfg: RunConfig, format: F) -> Result<Outcome<F>, Error> {
    let stop = stop_conditions(&cfg.sources);
    // Events are redacted where they are made: on the analysis thread, or in each worker.
    let redactor = cfg.redact.take();
    let redacting = redactor.is_some();
    let rules = redactor.as_ref().map(|r| r.rules().clone());
    let mut output = Output::new(format, Arc::clone(&stop), cfg.max_payload, rules)
        .with_display_filter(cfg.display_filter.take());
    // Open every input first, so a bad path fails before any output is written. A capture
    // file after the first is closed again until its turn, as `--join` does: hundreds of
    // rotated files held two descriptors each (past about 500, "Too many open files" under the
    // usual limit of 1024) and up to 1 MiB of read buffer each, outside the memory budget.
    // A pcapng file hands over the TLS secrets it holds before its first packet when opened
    // (they serve every input, as before), and the rest as they are met.
    let keys = cfg.analyzer.tls.keys.as_ref();
    let mut opened = Vec::new();
    for (i, source) in cfg.sources.iter().enumerate() {
        let mut packets = pipeline::open(source)?;
        if let Some(store) = keys {
            packets.set_key_store(Arc::clone(store));
        }
        let later = (i > 0).then(|| reopenable(source)).flatten();
        opened.push((
            source,
            match later {
                Some(id) => Turn::Later(id),
                None => Turn::Open(packets),
            },
        ));
    }
    // A key log is followed while capturing live.
    let mut _follower = None;
    if let Some(store) = &cfg.analyzer.tls.keys {
        let live = cfg.sources.iter().any(|s| matches!(s.input, Input::Live { .. }));
        if let Some(k) = &cfg.keylog {
            let absent = crate::keyfile::is_absent(&k.path);
            if live {
                _follower = Some(crate::keyfile::follow(k.path.clone(), 0, Arc::clone(store)));
            }
            if absent {
                let notice = crate::keyfile::absent(k, live, store)?;
                if cfg.notices {
                    eprintln!("{notice}");
                }
            } else if cfg.notices {
                eprintln!(
                    "wsscope: TLS keys: {}{}: secrets for {} connection{}{}",
                    crate::term::escape(&k.path.display().to_string()),
                    if k.from_env { " (from SSLKEYLOGFILE)" } else { "" },
                    store.len(),
                    if store.len() == 1 { "" } else { "s" },
                    if live { ", followed as it grows" } else { "" }
                );
                let st = store.stats();
                if st.malformed > 0 {
                    eprintln!(
                        "wsscope: warning: {} lines of the key log are not key log lines \
                         (LABEL <64 hex digits> <hex secret>) and were skipped",
                        st.malformed
                    );
                }
            }
        }
    }
    // Everything is open: give up root or capabilities before any packet is read.
    if let Some(s) = cfg.sources.first() {
        crate::privileges::apply(&s.privileges)?;
    }
    let mut reported_over = 0;
    let mut apart = Vec::new();
    let mut failed = None;
    for (source, packets) in opened {
        let mut packets = match packets {
            Turn::Open(p) => p,
            Turn::Later(id) => match reopen(source, id) {
                Ok(mut p) => {
                    if let Some(store) = &cfg.analyzer.tls.keys {
                        p.set_key_store(Arc::clone(store));
                    }
                    p
                }
                // Checked when the run began, gone or replaced since: the inputs before it are
                // in the outputs, and the run fails with the error.
                Err(e) => {
                    if cfg.notices {
                        eprintln!(
                            "wsscope: {}: could not be read at its turn: the inputs before it \
                             are analysed and in the output",
                            source.display()
                        );
                    }
                    failed = Some(e);
                    break;
                }
            },
        };
        let mut info = InputInfo {
            name: source.describe(),
            link_type: describe_links(&packets.link_types()),
            ts_decimals: packets.ts_decimals(),
            shard: cfg.analyzer.shard,
        };
        if let (Input::Live { .. }, true) = (&source.input, cfg.notices) {
            listening_notice(source, &info.link_type);
        }
        // Asking for redaction and -w together is refused (config.rs); the report's default
        // redaction is not a request, so -w works with it — and says what it writes.
        if let (Some(w), true, true) = (&source.write, redacting, cfg.notices) {
            eprintln!(
                "wsscope: note: -w {} holds the packets as captured, not redacted (only what \
                 wsscope prints and writes is)",
                w.path.display()
            );
        }
        output.begin(&info);
        let progress = (cfg.progress && !matches!(source.input, Input::Live { .. }))
            .then(|| Progress::start(source, &stop));
        let (summary, stats): (RunSummary, AnalyzerStats) = if cfg.threads > 1 {
            shard::drive(
                packets.as_mut(),
                &cfg.limits,
                &stop,
                &cfg.analyzer_config(),
                cfg.threads,
                redactor.as_ref(),
                &mut output,
            )?
        } else {
            // A fresh redactor for each input: what it learns is per connection of the input.
            let sink = Redacting::new(redactor.clone(), output).charge_to(&cfg.limits.memory);
            let mut analyzer = Analyzer::new(cfg.analyzer_config(), sink);
            let summary = pipeline::drive(packets.as_mut(), &cfg.limits, &stop, &mut analyzer);
            let stats = analyzer.stats();
            output = analyzer.into_sink().into_inner();
            (summary, stats)
        };
        drop(progress);
        // Every worker has finished: the budget's figures are final for this input.
        let mut summary = summary;
        summary.memory = cfg.limits.memory.stats();
        // An error that ended the input (a -w file that could not be written) fails the run,
        // once the input's summary is written like any other's.
        let closed = packets.close();
        // A pcapng file may describe more interfaces after its first packets.
        info.link_type = describe_links(&packets.link_types());
        info.ts_decimals = packets.ts_decimals();
        if cfg.notices {
            let why = crate::sink::why_no_websocket(&summary, &stats);
            if !why.is_empty() {
                eprintln!("wsscope: {}: no WebSocket connection:", source.display());
                for w in why {
                    eprintln!("  - {}", crate::term::escape(&w));
                }
            }
            for n in crate::sink::capture_notices(&summary, &stats) {
                eprintln!("wsscope: {}: warning: {}", source.display(), crate::term::escape(&n));
            }
        }
        // On lo (and any, which sees lo), the kernel counts a packet's two copies, sent and
        // received, where libpcap keeps one.
        let doubled = matches!(&source.input, Input::Live { interfaces, .. }
            if interfaces.iter().any(|i| i == "lo" || i == "any"));
        let loss = crate::sink::loss_notice(&summary.capture, summary.packets.packets, doubled);
        if let (Some(m), true) = (loss, cfg.notices) {
            eprintln!("wsscope: {}: warning: {m}", source.display());
        }
        // The budget's figures are the run's so far: with several inputs they are said once,
        // at the end (a thousand rotated files said nearly the same line a thousand times).
        if let (Some(m), true, 1) =
            (crate::sink::memory_notice(&summary.memory), cfg.notices, cfg.sources.len())
        {
            eprintln!("wsscope: {}: {m}", source.display());
        }
        if let (Some(m), true) = (crate::sink::limits_notice(&summary.tcp), cfg.notices) {
            eprintln!("wsscope: {}: warning: {m}", source.display());
        }
        // A cut or damaged input is not an error (what came before it is analysed), but every
        // output says so: the report only in `inputs[].end_of_input`, so standard error too. A
        // -w file that failed says it as the run's error below.
        if let (Some(why), true) = (summary.end_of_input.interface_ended(), cfg.notices) {
            eprintln!(
                "wsscope: {}: warning: an interface ended early (the others were captured until \
                 the stop): {}",
                source.display(),
                crate::term::escape(why)
            );
        }
        if let (EndOfInput::Truncated { message }, true, true) =
            (&summary.end_of_input, cfg.notices, closed.is_ok())
        {
            eprintln!(
                "wsscope: {}: warning: the input ended early, everything before was analysed: \
                 {}{}",
                source.display(),
                crate::term::escape(message),
                variant_hint(message, summary.packets.packets)
            );
        }
        let over = cfg.analyzer.tls.keys.as_ref().map_or(0, |k| k.stats().over_limit);
        if over > reported_over && cfg.notices {
            eprintln!(
                "wsscope: {}: warning: the capture holds more TLS secrets (Decryption Secrets \
                 Blocks) than the {} MiB read from a capture: {} bytes were not read, and the \
                 connections they are for are not decrypted (give them with --keylog instead)",
                source.display(),
                crate::capture::MAX_CAPTURE_SECRETS >> 20,
                over - reported_over
            );
        }
        reported_over = over;
        if let Input::File(path) = &source.input {
            apart.push(crate::capture::join::Apart {
                name: source.display(),
                file: std::fs::canonicalize(path).ok(),
                span: summary.span,
                open_at_end: summary.tcp.open_at_end,
            });
        }
        output.end(&info, &summary, &stats);
        if let Err(e) = closed {
            if cfg.notices {
                eprintln!(
                    "wsscope: {}: reading stopped early because of the error below (a -w file \
                     that could not be written, a capture thread that failed): what came before \
                     is analysed and in the output",
                    source.display()
                );
            }
            failed = Some(e);
            break;
        }
        if stop.is_requested()
            && stop.max_packets.is_none()
            && !matches!(source.input, Input::Live { .. })
        {
            break; // output failed (e.g. a closed pipe): no point reading on
        }
    }
    if let (Some(h), true) = (crate::capture::join::hint(&apart), cfg.notices) {
        eprintln!("wsscope: note: {h}");
    }
    let many = cfg.sources.len();
    if let (Some(m), true, 2..) =
        (crate::sink::memory_notice(&cfg.limits.memory.stats()), cfg.notices, many)
    {
        eprintln!("wsscope: the {many} inputs: {m}");
    }
    if cfg.notices {
        signal_notice();
    }
    // For the benchmarks' CPU accounting of sharded runs (docs/performance.md).
    let times = crate::cpu::take();
    if std::env::var_os("WSSCOPE_THREAD_CPU").is_some()
        && let Some(d) = crate::cpu::describe(&times)
    {
        eprintln!("wsscope: thread cpu: {d}");
    }
    let (format, findings) =
        output.finish().map_err(|e| Error::Output { what: "the output".into(), source: e })?;
    Ok(Outcome { format, findings, failed })
}

/// `report`'s files (`--junit`, `-o`): created before anything is read, so that a refused name
/// fails at once (see [`crate::outfile`]), and written when the report is complete. Dropped
/// unwritten (the run failed), they are removed.
pub struct ReportFiles {
    junit: Option<OutFile>,
    json: Option<OutFile>,
}

impl ReportFiles {
    /// Creates the files for a run reading `sources` (whose `-w` and `--force` apply).
    pub fn create(
        junit: Option<&Path>,
        json: Option<&Path>,
        sources: &[Source],
        read: &[(&str, &Path)],
    ) -> Result<ReportFiles, Error> {
        let force = sources.first().is_some_and(|s| s.force);
        let mut protected = Protected::inputs(sources);
        // The key log and the policy file are inputs too: --force never writes over them.
        for (flag, path) in read {
            protected.add_input(flag, path);
        }
        if let Some(w) = sources.first().and_then(|s| s.write.as_ref()).map(|w| w.path.as_path()) {
            protected.add_output("-w", w);
        }
        Self::create_beside(junit, json, protected, force)
    }

    /// Creates the files, none of them one of `protected` (`wsscope merge`: its shares).
    pub fn create_beside(
        junit: Option<&Path>,
        json: Option<&Path>,
        mut protected: Protected,
        force: bool,
    ) -> Result<ReportFiles, Error> {
        // `-o -` is standard output, where the report goes without -o (as tcpdump's `-w -`).
        let json = json.filter(|p| *p != Path::new("-"));
        if junit == Some(Path::new("-")) {
            return Err(Error::Usage(
                "--junit -: give the JUnit file a name (--junit report.xml); it is not written \
                 to standard output (where the report goes without -o)"
                    .into(),
            ));
        }
        let junit = junit.map(|p| OutFile::create("--junit", p, &protected, force)).transpose()?;
        if let Some(f) = &junit {
            protected.add_output("--junit", f.path());
        }
        let json = json.map(|p| OutFile::create("-o", p, &protected, force)).transpose()?;
        Ok(ReportFiles { junit, json })
    }

    /// Writes the JUnit file and the report (to standard output without `-o`).
    pub fn write(self, report: &Report) -> Result<(), Error> {
        self.write_with(
            |out| crate::sink::junit::write(report, out),
            |out| ReportFormat::write(report, out),
        )
    }

    /// Writes the JUnit file and the report of `wsscope merge`, from the merged JSON.
    pub fn write_merged(self, merged: &crate::merge::Merged) -> Result<(), Error> {
        self.write_with(
            |out| crate::sink::junit::write_merged(&merged.doc, &merged.rows, out),
            |out| {
                serde_json::to_writer_pretty(&mut *out, merged)?;
                out.write_all(b"\n")?;
                out.flush()
            },
        )
    }

    fn write_with(
        self,
        junit: impl FnOnce(&mut dyn Write) -> Result<(), crate::sink::junit::Failed>,
        body: impl Fn(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let failed = |f: &OutFile, flag: &str, e| Error::Output {
            what: format!("{flag} {}", f.path().display()),
            source: e,
        };
        if let Some(mut f) = self.junit {
            use crate::sink::junit::Failed;
            match junit(&mut f) {
                Ok(()) => {}
                Err(Failed::Report(e)) => {
                    return Err(Error::Usage(format!("not a wsscope report: {e}")));
                }
                Err(Failed::Write(e)) => return Err(failed(&f, "--junit", e)),
            }
            f.commit()?;
        }
        match self.json {
            Some(f) => {
                let mut out = std::io::BufWriter::new(f);
                if let Err(e) = body(&mut out) {
                    return Err(failed(out.get_ref(), "-o", e));
                }
                let f = out.into_inner().map_err(|e| {
                    let e = e.into_error();
                    Error::Output { what: "-o".into(), source: e }
                })?;
                f.commit()
            }
            None => body(&mut std::io::BufWriter::new(std::io::stdout().lock()))
                .map_err(|e| Error::Output { what: "standard output".into(), source: e }),
        }
    }
}

/// "listening on IFACE" on standard error, once a live source is open.
pub fn listening_notice(source: &Source, link_type: &str) {
    if let Input::Live { interfaces, options } = &source.input {
        let names: Vec<_> = interfaces.iter().map(|i| crate::term::escape(i)).collect();
        let filter = source
            .filter
            .as_deref()
            .map(|f| format!(", filter {}", crate::term::escape(&format!("{f:?}"))))
            .unwrap_or_default();
        let mode = if options.immediate { ", immediate mode" } else { "" };
        eprintln!(
            "wsscope: listening on {}, link type {link_type}{filter}, snaplen {}, buffer {}{mode} \
             (Ctrl-C to stop)",
            names.join(", "),
            options.snaplen,
            crate::memory::human(options.buffer_size as u64),
        );
        if options.snaplen < MIN_USEFUL_SNAPLEN {
            eprintln!(
                "wsscope: warning: -s {} keeps less of each packet than link, IP and TCP \
                 headers commonly take (54 to {MIN_USEFUL_SNAPLEN} bytes): little or no TCP \
                 payload, so little or no WebSocket, can be decoded; -s 0 keeps whole packets",
                options.snaplen
            );
        }
    }
}

/// Fewer bytes of a packet than its headers commonly take (Ethernet or Linux cooked, IPv6 and
/// TCP with timestamps: 14 + 40 + 32): no payload is left to decode.
const MIN_USEFUL_SNAPLEN: i32 = 86;

/// Stop conditions: --count, --duration (a deadline), and SIGINT, SIGTERM and SIGHUP
/// ([`crate::signals`], installed here), which stop reading so that every open connection is
/// still flushed and reported.
pub fn stop_conditions(sources: &[Source]) -> Arc<Stop> {
    crate::signals::install();
    let max_packets = sources.first().and_then(|s| s.max_packets);
    let deadline = sources
        .first()
        .and_then(|s| s.duration)
        .and_then(|d| std::time::Instant::now().checked_add(d));
    let mut stop = Stop::new(max_packets);
    stop.deadline = deadline;
    let stop = Arc::new(stop);
    crate::signals::watch(&stop);
    stop
}

/// "stopped by SIGTERM" on standard error, when a signal ended the run.
pub fn signal_notice() {
    if let Some(sig) = crate::signals::received() {
        eprintln!(
            "wsscope: stopped by {}: what was read is analysed and reported",
            crate::signals::name(sig)
        );
    }
}

/// A progress line on standard error while a file is read: percentage, packets, rate.
struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(source: &Source, stop: &Arc<Stop>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let size = source.input.file_bytes();
        let name = source.display();
        let (d, s) = (Arc::clone(&done), Arc::clone(stop));
        let thread = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut shown = false;
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                if start.elapsed() < Duration::from_secs(1) || !std::io::stderr().is_terminal() {
                    continue;
                }
                let bytes = s.bytes_read.load(Ordering::Relaxed);
                let packets = s.packets_read.load(Ordering::Relaxed);
                let pct =
                    if size > 0 { (bytes as f64 / size as f64 * 100.0).min(100.0) } else { 0.0 };
                let rate = bytes as f64 / start.elapsed().as_secs_f64() / 1e6;
                eprint!("\r\x1b[2Kwsscope: {name}: {pct:5.1}%  {packets} packets  {rate:.0} MB/s");
                let _ = std::io::stderr().flush();
                shown = true;
            }
            if shown {
                eprint!("\r\x1b[2K");
            }
        });
        Progress { done, thread: Some(thread) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
