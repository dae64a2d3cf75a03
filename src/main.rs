//! wsscope's entry point: parse the command line, run, map the outcome to an exit code
//! (0 success, 1 findings at or above --fail-on, 2 usage or input error; a closed output pipe
//! is a success).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use wsscope::analyzer::checks::CheckId;
use wsscope::cli::{Cli, Command, ExportFormat, FailOn, StreamsArgs};
use wsscope::config::{Input, Source};
use wsscope::error::Error;
use wsscope::run::{self, RunConfig};
use wsscope::sink::{json::Json, ndjson::Ndjson, report::ReportFormat, text::Text};
use wsscope::{pipeline, streams};

/// mimalloc: faster than glibc's malloc on the many short-lived buffers of a capture, and it
/// returns memory to the system more readily (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's own: returns the pages it keeps after frees to the system.
    fn mi_collect(force: bool);
}

/// Called when the memory budget made wsscope give memory up, so that the process's size
/// follows (mimalloc otherwise keeps freed pages for a while).
fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

fn main() -> ExitCode {
    // First, so that no file is created before a signal can end the run cleanly.
    wsscope::signals::install();
    wsscope::memory::set_release_hook(release_freed_memory);
    let cli = wsscope::cli::parse();
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Error::Output { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Line by line: a multi-line message (a TOML or regex error pointing at a column)
            // keeps its lines; anything else a terminal would act on is escaped.
            let text = e.to_string();
            let lines: Vec<_> = text.lines().map(wsscope::term::escape).collect();
            eprintln!("wsscope: error: {}", lines.join("\n"));
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8, Error> {
    let stdout = || BufWriter::new(std::io::stdout().lock());
    let input = match &cli.command {
        None => Some(&cli.view.input),
        Some(Command::Report(a)) => Some(&a.input),
        Some(Command::Export(a)) => Some(&a.input),
        Some(Command::Streams(a)) => Some(&a.input),
        Some(_) => None,
    };
    if input.is_some_and(|i| i.list_interfaces) {
        let list = wsscope::capture::describe_interfaces()?;
        let mut out = stdout();
        out.write_all(list.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::Output { what: "standard output".into(), source: e })?;
        return Ok(0);
    }
    match cli.command {
        None => {
            let v = cli.view;
            let sources = Source::from_args(&v.input, false)?;
            let live = sources.iter().any(|s| matches!(s.input, Input::Live { .. }));
            let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
            let display_filter = v
                .display_filter
                .as_deref()
                .map(wsscope::display_filter::DisplayFilter::parse)
                .transpose()
                .map_err(Error::Usage)?;
            if interactive && !v.text && display_filter.is_some() {
                return Err(Error::Usage(
                    "-Y filters the text view and export; in the terminal UI, / searches and \
                     filters the messages (add --text for text)"
                        .into(),
                ));
            }
            if interactive && !v.text {
                let cfg = RunConfig {
                    progress: false,
                    notices: false,
                    limits: v.limits.to_limits()?,
                    analyzer: wsscope::analyzer::AnalyzerConfig {
                        announce_tcp: true,
                        ..v.decode.to_config(true)?
                    },
                    redact: v.redaction.to_redactor(v.redact, false, &sources)?,
                    sources,
                    max_payload: None,
                    threads: 1,
                    keylog: v.decode.keylog_file(),
                    display_filter: None,
                };
                let opts = wsscope::ui::UiOptions {
                    color: v.output.use_color(),
                    payload_budget: wsscope::config::parse_size(
                        "payload-budget",
                        &v.payload_budget,
                    )?,
                    max_rows: v.max_rows,
                };
                return wsscope::ui::run(cfg, opts);
            }
            let cfg = RunConfig {
                progress: v.output.show_progress() && !live,
                notices: !v.output.quiet,
                limits: v.limits.to_limits()?,
                analyzer: v.decode.to_config(v.output.verbose)?,
                redact: v.redaction.to_redactor(v.redact, false, &sources)?,
                sources,
                max_payload: None,
                threads: v.decode.threads,
                keylog: v.decode.keylog_file(),
                display_filter,
            };
            let text = Text::new(stdout(), v.output.use_color(), v.output.verbose, live)
                .with_time(v.output.time)
                .filtered(v.display_filter.is_some());
            run::run(cfg, text)?.status(v.fail_on.threshold())
        }
        Some(Command::Report(a)) => {
            let policy = wsscope::policy::resolve(&wsscope::policy::PolicyArgs {
                file: a.policy.as_deref(),
                allow: &a.allow,
                severity: &a.severity,
                max_ping_rtt: a.max_ping_rtt.as_deref(),
                max_message_bytes: a.max_message_bytes.as_deref(),
                require_subprotocol: a.require_subprotocol.as_deref(),
                require_clean_close: match (a.require_clean_close, a.no_require_clean_close) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                fail_on: a.fail_on.map(FailOn::as_str),
                require_connections: a.require_connections,
            })?;
            let fail_on = match policy.fail_on.as_str() {
                "warning" => FailOn::Warning,
                "info" => FailOn::Info,
                "never" => FailOn::Never,
                _ => FailOn::Error,
            };
            let sources = Source::from_args(&a.input, true)?;
            let keylog = a.decode.keylog_file();
            let mut read: Vec<(&str, &std::path::Path)> = Vec::new();
            if let Some(k) = &keylog {
                read.push((if k.from_env { "SSLKEYLOGFILE" } else { "--keylog" }, &k.path));
            }
            if let Some(p) = &a.policy {
                read.push(("--policy", p));
            }
            let files = run::ReportFiles::create(
                a.junit.as_deref(),
                a.output_file.as_deref(),
                &sources,
                &read,
            )?;
            let cfg = RunConfig {
                progress: a.output.show_progress(),
                notices: !a.output.quiet,
                limits: a.limits.to_limits()?,
                // The report counts messages; their payloads are validated, never kept.
                analyzer: wsscope::analyzer::AnalyzerConfig {
                    keep_payloads: false,
                    ..a.decode.to_config(false)?
                },
                redact: a
                    .redaction
                    .to_redactor(false, !a.no_redact, &sources)?
                    .map(|r| r.keeping_protocol(policy.policy.require_subprotocol.clone())),
                sources,
                max_payload: None,
                threads: a.decode.threads,
                keylog,
                display_filter: None,
            };
            let memory = cfg.limits.memory.clone();
            let format = ReportFormat::new(fail_on.as_str())
                .with_memory(&memory)
                .with_shard(cfg.analyzer.shard, cfg.analysis_settings())
                .with_policy(policy.policy);
            let outcome = run::run(cfg, format)?;
            let mut report = outcome.format.into_report(policy.require_connections);
            // Written even when -w failed: its input's `end_of_input` says where and why, and
            // `exit` says the run failed (status 2, as the process).
            if let Some(e) = &outcome.failed {
                report.failed_with(e.to_string());
            }
            closed_pipe_is_no_error(files.write(&report))?;
            match outcome.failed {
                Some(e) => Err(e),
                None => Ok(report.exit.status),
            }
        }
        Some(Command::Export(a)) => {
            let sources = Source::from_args(&a.input, false)?;
            let live = sources.iter().any(|s| matches!(s.input, Input::Live { .. }));
            let cfg = RunConfig {
                progress: a.output.show_progress() && !live,
                notices: !a.output.quiet,
                limits: a.limits.to_limits()?,
                analyzer: a.decode.to_config(a.frames)?,
                redact: a.redaction.to_redactor(a.redact, false, &sources)?,
                sources,
                max_payload: a.max_payload,
                threads: a.decode.threads,
                keylog: a.decode.keylog_file(),
                display_filter: a
                    .display_filter
                    .as_deref()
                    .map(wsscope::display_filter::DisplayFilter::parse)
                    .transpose()
                    .map_err(Error::Usage)?,
            };
            let threshold = a.fail_on.threshold();
            let status = match a.format {
                ExportFormat::Ndjson => {
                    run::run(cfg, Ndjson::new(stdout(), live))?.status(threshold)?
                }
                ExportFormat::Json => run::run(cfg, Json::new(stdout()))?.status(threshold)?,
                ExportFormat::Text => {
                    let text = Text::new(
                        stdout(),
                        a.output.use_color(),
                        a.frames || a.output.verbose,
                        live,
                    )
                    .with_time(a.output.time)
                    .filtered(a.display_filter.is_some());
                    run::run(cfg, text)?.status(threshold)?
                }
            };
            Ok(status)
        }
        Some(Command::Streams(a)) => streams_command(a),
        Some(Command::Merge(a)) => merge_command(a),
        Some(Command::Redaction(a)) => {
            let rules = a.rules.to_redactor_always()?.rules().describe();
            let mut out = stdout();
            out.write_all(rules.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Error::Output { what: "standard output".into(), source: e })?;
            Ok(0)
        }
        Some(Command::Checks) => {
            let mut out = stdout();
            let w = |out: &mut BufWriter<_>| -> std::io::Result<()> {
                writeln!(out, "{:<36} {:<8} {:<34} what", "code", "severity", "source")?;
                for c in CheckId::ALL {
                    let i = c.info();
                    writeln!(
                        out,
                        "{:<36} {:<8} {:<34} {}",
                        c.to_string(),
                        i.severity.as_str(),
                        i.rfc,
                        i.summary
                    )?;
                }
                out.flush()
            };
            w(&mut out).map_err(|e| Error::Output { what: "standard output".into(), source: e })?;
            Ok(0)
        }
    }
}

fn merge_command(a: wsscope::cli::MergeArgs) -> Result<u8, Error> {
    // The outputs first, as `report` does: a refused name fails before anything is read.
    let files = run::ReportFiles::create_beside(
        a.junit.as_deref(),
        a.output_file.as_deref(),
        wsscope::outfile::Protected::paths(&a.reports),
        a.force,
    )?;
    let mut shares = Vec::new();
    for p in &a.reports {
        let name = wsscope::term::path(p);
        let text =
            std::fs::read(p).map_err(|e| Error::Usage(format!("cannot read {name}: {e}")))?;
        let share = wsscope::merge::ShareReport::parse(name.clone(), &text)
            .map_err(|e| Error::Usage(format!("{name} is not a JSON report: {e}")))?;
        shares.push(share);
    }
    let merged = wsscope::merge::merge(shares)?;
    let status = merged.status();
    closed_pipe_is_no_error(files.write_merged(&merged))?;
    if let Some(e) = merged.doc["exit"]["error"].as_str() {
        eprintln!(
            "wsscope: error: a share's run failed before its input ended, so the merged report \
             is short of what it did not read: {}",
            wsscope::term::escape(e)
        );
    }
    Ok(status)
}

/// A report whose reader closed the pipe (`wsscope report F | head`) still exits with its
/// decision, whether the pipe closed before the report was written or after (helper-52: 2 or
/// 0 by the report's size, 1 when it fitted in the pipe's buffer).
fn closed_pipe_is_no_error(written: Result<(), Error>) -> Result<(), Error> {
    match written {
        Err(Error::Output { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(())
        }
        r => r,
    }
}

fn streams_command(a: StreamsArgs) -> Result<u8, Error> {
    let mut sources = Source::from_args(&a.input, false)?;
    let source = sources.remove(0);
    let limits = a.limits.to_limits()?;
    let stop = run::stop_conditions(std::slice::from_ref(&source));
    let mut packets = pipeline::open(&source)?;
    let out = BufWriter::new(std::io::stdout().lock());
    let write_dir = a.write_dir.map(|dir| streams::WriteDir::new(dir, &source));
    let mut sink = streams::StreamsSink::new(out, a.format, write_dir, source.describe())?
        .charge_to(&limits.memory);
    wsscope::privileges::apply(&source.privileges)?;
    run::listening_notice(&source, &wsscope::capture::describe_links(&packets.link_types()));
    let summary = pipeline::drive(packets.as_mut(), &limits, &stop, &mut sink);
    // A -w file that failed ended the input: what was read is still summarised, then the run
    // fails with it (as `report` and `export` do).
    let closed = packets.close();
    run::signal_notice();
    // What the budget gave up and what the limits cut, as `report` and `export` say it.
    if let Some(m) = wsscope::sink::memory_notice(&summary.memory) {
        eprintln!("wsscope: {}: {m}", source.display());
    }
    if let Some(m) = wsscope::sink::limits_notice(&summary.tcp) {
        eprintln!("wsscope: {}: warning: {m}", source.display());
    }
    sink.finish(&summary)?;
    closed.map(|()| 0)
}
