//! One JSON document with every event, written at the end (docs/json-format.md).

use super::{Format, InputInfo, SCHEMA_VERSION, Tool};
use crate::analyzer::AnalyzerStats;
use crate::event::Event;
use crate::pipeline::RunSummary;
use crate::redact::Rules;
use serde::Serialize;
use std::io::{self, Write};

/// The `export --format json` document.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Version of this format.
    pub schema_version: u32,
    /// The writer.
    pub tool: Tool,
    /// The redaction rules applied to every event, or null when nothing was redacted.
    pub redaction: Option<Rules>,
    /// With `--shard I/N` only: the events cover only the connections of share I of N (the
    /// connections whose Community ID hash falls in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::ShareOf>,
    /// Each input with its counters.
    pub inputs: Vec<InputSummary>,
    /// Every event, in order.
    pub events: Vec<Event>,
}

/// An input and what was read from it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSummary {
    /// The input.
    #[serde(flatten)]
    pub input: InputInfo,
    /// Capture, decoding and connection counters.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Analyzer counters.
    pub analyzer: AnalyzerStats,
}

/// Collects events and writes one document.
pub struct Json<W: Write> {
    out: W,
    doc: Document,
}

impl<W: Write> Json<W> {
    /// A document written to `out` at the end.
    pub fn new(out: W) -> Self {
        Json {
            out,
            doc: Document {
                schema_version: SCHEMA_VERSION,
                tool: Tool::default(),
                redaction: None,
                shard: None,
                inputs: Vec::new(),
                events: Vec::new(),
            },
        }
    }
}

impl<W: Write> Format for Json<W> {
    fn begin(&mut self, input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()> {
        self.doc.redaction = redaction.cloned();
        self.doc.shard = input.shard.map(|(index, count)| super::ShareOf { index, count });
        Ok(())
    }

    fn event(&mut self, event: Event) -> io::Result<()> {
        self.doc.events.push(event);
        Ok(())
    }

    fn end(
        &mut self,
        input: &InputInfo,
        summary: &RunSummary,
        analyzer: &AnalyzerStats,
    ) -> io::Result<()> {
        self.doc.inputs.push(InputSummary {
            input: input.clone(),
            summary: summary.clone(),
            analyzer: *analyzer,
        });
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.out, &self.doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
