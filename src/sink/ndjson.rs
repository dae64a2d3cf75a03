//! JSON Lines: one object per line, written as events happen (docs/json-format.md).
//!
//! The first line of each input is `{"type":"begin", "schema_version": …}`, then one line per
//! event, then `{"type":"summary", …}`.

use super::{Format, InputInfo, SCHEMA_VERSION, Tool};
use crate::analyzer::AnalyzerStats;
use crate::event::Event;
use crate::pipeline::RunSummary;
use serde::Serialize;
use std::io::{self, Write};

/// The lines that are not events.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Envelope<'a> {
    /// First line of an input.
    Begin {
        /// Version of this format.
        schema_version: u32,
        /// The writer.
        tool: Tool,
        /// The input.
        input: &'a InputInfo,
    },
    /// Last line of an input.
    Summary {
        /// The input.
        input: &'a InputInfo,
        /// Capture, decoding and connection counters.
        #[serde(flatten)]
        summary: &'a RunSummary,
        /// Analyzer counters.
        analyzer: &'a AnalyzerStats,
    },
}

/// Any line of the NDJSON output (for the JSON Schema): an envelope or an event.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Line<'a> {
    /// `begin` or `summary`.
    Envelope(Envelope<'a>),
    /// An event.
    Event(Event),
}

/// Writes NDJSON.
pub struct Ndjson<W: Write> {
    out: W,
    /// Flush after every line (live capture: `| jq` sees events at once).
    line_buffered: bool,
}

impl<W: Write> Ndjson<W> {
    /// NDJSON to `out`; `line_buffered` flushes every line.
    pub fn new(out: W, line_buffered: bool) -> Self {
        Ndjson { out, line_buffered }
    }

    fn line(&mut self, v: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        if self.line_buffered {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Format for Ndjson<W> {
    fn begin(&mut self, input: &InputInfo) -> io::Result<()> {
        self.line(&Envelope::Begin { schema_version: SCHEMA_VERSION, tool: Tool::default(), input })
    }

    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.line(event)
    }

    fn end(
        &mut self,
        input: &InputInfo,
        summary: &RunSummary,
        analyzer: &AnalyzerStats,
    ) -> io::Result<()> {
        self.line(&Envelope::Summary { input, summary, analyzer })
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
