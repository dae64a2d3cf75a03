//! One JSON document with every event (docs/json-format.md), written as the events happen:
//! the head when the first input begins, each event as it comes, the inputs' counters at the
//! end. Memory does not grow with the capture: no event is kept once written.

use super::pretty::{Elements, Indented};
use super::{Format, InputInfo, SCHEMA_VERSION, Tool};
use crate::analyzer::AnalyzerStats;
use crate::event::Event;
use crate::pipeline::RunSummary;
use crate::redact::Rules;
use serde::Serialize;
use std::io::{self, Write};

/// The `export --format json` document (its schema; written piece by piece by [`Json`], byte
/// for byte as `serde_json::to_writer_pretty` writes it).
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
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Each input with its counters (after the events: they are known at the end).
    pub inputs: Vec<InputSummary>,
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

/// The fields of [`Document`] before its events.
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool: Tool,
    redaction: Option<&'a Rules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<super::ShareOf>,
}

/// Writes one document, an event at a time.
pub struct Json<W: Write> {
    out: W,
    /// The head and `"events": [` are written.
    started: bool,
    /// The events array's elements written so far.
    events: Elements,
    /// The inputs read so far, written at the end.
    inputs: Vec<InputSummary>,
    /// An event's text (one smaller than a large message's).
    buf: Vec<u8>,
}

impl<W: Write> Json<W> {
    /// A document written to `out` as events come.
    pub fn new(out: W) -> Self {
        Json {
            out,
            started: false,
            events: Elements::default(),
            inputs: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Writes the head, up to the opening of the events array.
    fn start(
        &mut self,
        redaction: Option<&Rules>,
        shard: Option<super::ShareOf>,
    ) -> io::Result<()> {
        let head = Head { schema_version: SCHEMA_VERSION, tool: Tool::default(), redaction, shard };
        let text = serde_json::to_vec_pretty(&head)?;
        // The head object without its closing line break and brace.
        let open = text.strip_suffix(b"\n}").unwrap_or(&text);
        self.out.write_all(open)?;
        self.out.write_all(b",\n  \"events\": [")?;
        self.started = true;
        Ok(())
    }
}

impl<W: Write> Format for Json<W> {
    fn begin(&mut self, input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.start(redaction, input.shard.map(|(index, count)| super::ShareOf { index, count }))
    }

    fn event(&mut self, event: Event) -> io::Result<()> {
        if !self.started {
            self.start(None, None)?;
        }
        self.events.next(&mut self.out)?;
        if event.payload_capacity() < crate::event::LARGE_PAYLOAD {
            // sonic-rs, twice as fast, into a buffer as large as the largest such event.
            self.buf.clear();
            super::pretty::write_nested(&event, &mut self.buf, 2)?;
            return self.out.write_all(&self.buf);
        }
        // A large message is escaped straight into the output by serde_json, a run at a time.
        serde_json::to_writer_pretty(Indented::new(&mut self.out, b"    "), &event)?;
        Ok(())
    }

    fn end(
        &mut self,
        input: &InputInfo,
        summary: &RunSummary,
        analyzer: &AnalyzerStats,
    ) -> io::Result<()> {
        self.inputs.push(InputSummary {
            input: input.clone(),
            summary: summary.clone(),
            analyzer: *analyzer,
        });
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.started {
            self.start(None, None)?;
        }
        self.events.close(&mut self.out)?;
        self.out.write_all(b",\n  \"inputs\": ")?;
        serde_json::to_writer_pretty(Indented::new(&mut self.out, b"  "), &self.inputs)?;
        self.out.write_all(b"\n}\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Payload;

    fn message(payload: Payload) -> Event {
        Event::message_for_tests(payload)
    }

    fn written(events: Vec<Event>, shard: Option<(u64, u64)>) -> String {
        let input = InputInfo {
            name: "a.pcap".into(),
            link_type: "ETHERNET (1)".into(),
            ts_decimals: 6,
            shard,
        };
        let mut json = Json::new(Vec::new());
        json.begin(&input, None).unwrap();
        for e in events {
            json.event(e).unwrap();
        }
        json.finish().unwrap();
        String::from_utf8(json.out).unwrap()
    }

    #[test]
    fn the_document_written_piece_by_piece_is_serde_jsons_pretty_document() {
        let text: String = (0u32..0x80).filter_map(char::from_u32).cycle().take(200_000).collect();
        let events = || {
            vec![
                message(Payload::Text("a \"quoted\"\nline".into())),
                message(Payload::Text(text.clone())),
                message(Payload::Bytes((0..=255u8).cycle().take(100_003).collect())),
                message(Payload::Unavailable),
            ]
        };
        for (events, shard) in [(events(), None), (events(), Some((1, 4))), (vec![], None)] {
            let want = Document {
                schema_version: SCHEMA_VERSION,
                tool: Tool::default(),
                redaction: None,
                shard: shard.map(|(index, count)| super::super::ShareOf { index, count }),
                events: events
                    .iter()
                    .map(|e| {
                        message(match e {
                            Event::Message { payload, .. } => payload.clone(),
                            _ => unreachable!(),
                        })
                    })
                    .collect(),
                inputs: vec![],
            };
            let want = serde_json::to_string_pretty(&want).unwrap() + "\n";
            assert_eq!(written(events, shard), want);
        }
    }
}
