//! wsscope's entry point: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use wsscope::cli::{Cli, Command};
use wsscope::config::{Input, Source};
use wsscope::error::Error;
use wsscope::{pipeline, streams};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Error::Output { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wsscope: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Streams(args) => {
            let source = Source::from_args(&args.input)?;
            let limits = args.limits.to_limits()?;
            let mut packets = pipeline::open(&source)?;
            if let Input::Live { interface, .. } = &source.input {
                let filter =
                    source.filter.as_deref().map(|f| format!(", filter {f:?}")).unwrap_or_default();
                eprintln!(
                    "wsscope: listening on {interface}, link type {}{filter} (Ctrl-C to stop)",
                    packets.link_type()
                );
            }
            let stop = stop_conditions(&source);
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut sink = streams::StreamsSink::new(out, args.format, args.write_dir)?;
            let summary = pipeline::drive(packets.as_mut(), &limits, &stop, &mut sink);
            sink.finish(&source.describe(), &summary)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Stop conditions: --count, --duration (a timer thread), and Ctrl-C, which stops reading so that
/// every open connection is still flushed and reported.
fn stop_conditions(source: &Source) -> Arc<pipeline::Stop> {
    let stop = Arc::new(pipeline::Stop::new(source.max_packets));
    let on_signal = Arc::clone(&stop);
    // A second Ctrl-C while flushing falls through to the default handler's exit, since the
    // handler only sets the flag; failing to install it only loses the clean flush.
    let _ = ctrlc::set_handler(move || on_signal.request());
    if let Some(d) = source.duration {
        let on_timer = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(d);
            on_timer.request();
        });
    }
    stop
}
