//! wsscope's entry point: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use wsscope::cli::{Cli, Command};
use wsscope::config::Source;
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
            let stdout = std::io::stdout().lock();
            let mut sink = streams::StreamsSink::new(
                std::io::BufWriter::new(stdout),
                args.format,
                args.write_dir,
            )?;
            let stop = AtomicBool::new(false);
            let summary = pipeline::drive(packets.as_mut(), &limits, &stop, &mut sink);
            sink.finish(&source.describe(), &summary)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
