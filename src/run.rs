//! Runs a command: opens each input, drives the analyzer into the chosen output, decides the
//! exit status. The only place that wires capture, core and sinks together.

use crate::analyzer::checks::Severity;
use crate::analyzer::{Analyzer, AnalyzerConfig, AnalyzerStats};
use crate::capture::describe_links;
use crate::config::{Input, Source};
use crate::error::Error;
use crate::limits::TcpLimits;
use crate::pipeline::{self, RunSummary, Stop};
use crate::redact::Redactor;
use crate::shard;
use crate::sink::{Format, InputInfo, Output, reaches};
use std::io::{IsTerminal, Write};
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
    /// Analysis threads for capture files (1: everything on the calling thread); live capture
    /// always uses one.
    pub threads: usize,
}

impl RunConfig {
    /// The analyzer's settings, with what it shares with the stream engine.
    pub fn analyzer_config(&self) -> AnalyzerConfig {
        AnalyzerConfig { reorder_window: self.limits.reorder_window, ..self.analyzer.clone() }
    }
}

/// What a run produced.
pub struct Outcome<F> {
    /// The output format, finished.
    pub format: F,
    /// Findings per severity: [info, warning, error].
    pub findings: [u64; 3],
}

impl<F> Outcome<F> {
    /// 1 when findings reached `threshold`, else 0.
    pub fn exit_status(&self, threshold: Option<Severity>) -> u8 {
        u8::from(reaches(self.findings, threshold))
    }
}

/// Reads every input into `format`.
pub fn run<F: Format>(mut cfg: RunConfig, format: F) -> Result<Outcome<F>, Error> {
    let stop = stop_conditions(&cfg.sources);
    let redacting = cfg.redact.is_some();
    let mut output = Output::new(format, Arc::clone(&stop), cfg.max_payload, cfg.redact.take());
    // Open every input first, so a bad path fails before any output is written.
    let mut opened = Vec::new();
    for source in &cfg.sources {
        opened.push((source, pipeline::open(source)?));
    }
    for (source, mut packets) in opened {
        let mut info =
            InputInfo { name: source.describe(), link_type: describe_links(&packets.link_types()) };
        if let (Input::Live { interface, .. }, true) = (&source.input, cfg.notices) {
            let filter =
                source.filter.as_deref().map(|f| format!(", filter {f:?}")).unwrap_or_default();
            eprintln!(
                "wsscope: listening on {interface}, link type {}{filter} (Ctrl-C to stop)",
                info.link_type
            );
            if cfg.threads > 1 {
                eprintln!("wsscope: --threads applies to capture files; live capture uses one");
            }
        }
        // Asking for redaction and -w together is refused (config.rs); the report's default
        // redaction is not a request, so -w works with it — and says what it writes.
        if let (Some(w), true, true) = (&source.write, redacting, cfg.notices) {
            eprintln!(
                "wsscope: note: -w {} holds the packets as captured, not redacted (only what \
                 wsscope prints and writes is)",
                w.display()
            );
        }
        output.begin(&info);
        let progress = (cfg.progress && matches!(source.input, Input::File(_)))
            .then(|| Progress::start(source, &stop));
        let (summary, stats): (RunSummary, AnalyzerStats) =
            if cfg.threads > 1 && matches!(source.input, Input::File(_)) {
                shard::drive(
                    packets.as_mut(),
                    &cfg.limits,
                    &stop,
                    &cfg.analyzer_config(),
                    cfg.threads,
                    &mut output,
                )
            } else {
                let mut analyzer = Analyzer::new(cfg.analyzer_config(), output);
                let summary = pipeline::drive(packets.as_mut(), &cfg.limits, &stop, &mut analyzer);
                let stats = analyzer.stats();
                output = analyzer.into_sink();
                (summary, stats)
            };
        drop(progress);
        // A pcapng file may describe more interfaces after its first packets.
        info.link_type = describe_links(&packets.link_types());
        if cfg.notices {
            let why = crate::sink::why_no_websocket(&summary, &stats);
            if !why.is_empty() {
                eprintln!("wsscope: {}: no WebSocket connection:", info.name);
                for w in why {
                    eprintln!("  - {w}");
                }
            }
        }
        output.end(&info, &summary, &stats);
        if stop.is_requested()
            && stop.max_packets.is_none()
            && matches!(source.input, Input::File(_))
        {
            break; // output failed (e.g. a closed pipe): no point reading on
        }
    }
    let (format, findings) =
        output.finish().map_err(|e| Error::Output { what: "the output".into(), source: e })?;
    Ok(Outcome { format, findings })
}

/// Stop conditions: --count, --duration (a timer thread), and Ctrl-C, which stops reading so that
/// every open connection is still flushed and reported.
pub fn stop_conditions(sources: &[Source]) -> Arc<Stop> {
    let max_packets = sources.first().and_then(|s| s.max_packets);
    let stop = Arc::new(Stop::new(max_packets));
    let on_signal = Arc::clone(&stop);
    // Failing to install the handler only loses the clean flush on Ctrl-C.
    let _ = ctrlc::set_handler(move || on_signal.request());
    if let Some(d) = sources.first().and_then(|s| s.duration) {
        let on_timer = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(d);
            on_timer.request();
        });
    }
    stop
}

/// A progress line on standard error while a file is read: percentage, packets, rate.
struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(source: &Source, stop: &Arc<Stop>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let size = match &source.input {
            Input::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Input::Live { .. } => 0,
        };
        let name = source.describe();
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
