//! JSON Lines: one object per line, written as events happen (docs/json-format.md).
//!
//! The first line of each input is `{"type":"begin", "schema_version": …}`, then one line per
//! event, then `{"type":"summary", …}`.

use super::{Format, InputInfo, SCHEMA_VERSION, Tool};
use crate::analyzer::AnalyzerStats;
use crate::event::Event;
use crate::pipeline::RunSummary;
use crate::redact::Rules;
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
        /// The redaction rules applied to every event, or null when nothing was redacted.
        redaction: Option<&'a Rules>,
        /// With `--shard I/N` only: the events cover only the connections of share I of N
        /// (the connections whose Community ID hash falls in it).
        #[serde(skip_serializing_if = "Option::is_none")]
        shard: Option<super::ShareOf>,
    },
    /// Live capture only: the capture's counters, about once a second.
    Stats(&'a crate::event::Stats),
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
    /// The line being written (sonic-rs serialises into memory, escaping strings with SIMD).
    buf: Vec<u8>,
}

impl<W: Write> Ndjson<W> {
    /// NDJSON to `out`; `line_buffered` flushes every line.
    pub fn new(out: W, line_buffered: bool) -> Self {
        Ndjson { out, line_buffered, buf: Vec::new() }
    }

    fn line(&mut self, v: &impl Serialize) -> io::Result<()> {
        self.buf.clear();
        sonic_rs::to_writer(&mut self.buf, v).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)?;
        if self.line_buffered {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Format for Ndjson<W> {
    fn begin(&mut self, input: &InputInfo, redaction: Option<&Rules>) -> io::Result<()> {
        self.line(&Envelope::Begin {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            input,
            redaction,
            shard: input.shard.map(|(index, count)| super::ShareOf { index, count }),
        })
    }

    fn event(&mut self, event: Event) -> io::Result<()> {
        if event.payload_capacity() < crate::event::LARGE_PAYLOAD {
            return self.line(&event);
        }
        // A large message is escaped straight into the output, a run of text at a time, by
        // serde_json (the same bytes): no copy of its whole JSON text is made.
        serde_json::to_writer(&mut self.out, &event)?;
        self.out.write_all(b"\n")?;
        if self.line_buffered {
            self.out.flush()?;
        }
        Ok(())
    }

    fn stats(&mut self, stats: &crate::event::Stats) -> io::Result<()> {
        self.line(&Envelope::Stats(stats))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::checks::{CheckId, Severity};
    use crate::event::Position;
    use crate::tcp::ConnId;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    proptest! {
        /// Lines are written with sonic-rs for speed; they must be exactly what serde_json
        /// writes: any string (quotes, backslashes, control characters, any Unicode) and any
        /// timestamp (floats are where JSON writers differ).
        #[test]
        fn lines_are_byte_identical_to_serde_json(message in any::<String>(), nanos in any::<i64>(), packet in any::<u64>()) {
            let event = Event::Finding {
                connection: ConnId(packet % 1000),
                code: CheckId::TextNotUtf8,
                severity: Severity::Error,
                rfc: "RFC 6455 §8.1",
                direction: None,
                at: Position { packet, ts: Timestamp::from_nanos(nanos), offset: packet / 3 },
                message,
            };
            let mut n = Ndjson::new(Vec::new(), false);
            let want = serde_json::to_string(&event).unwrap() + "\n";
            n.event(event).unwrap();
            prop_assert_eq!(String::from_utf8(n.out).unwrap(), want);
        }
    }

    #[test]
    fn large_messages_are_written_as_serde_json_writes_them() {
        use crate::event::Payload;
        let text: String = (0u32..0x80).filter_map(char::from_u32).cycle().take(300_001).collect();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(200_002).collect();
        for payload in [Payload::Text(text), Payload::Bytes(bytes.clone())] {
            let event = Event::message_for_tests(payload);
            assert!(event.payload_capacity() >= crate::event::LARGE_PAYLOAD);
            let mut n = Ndjson::new(Vec::new(), false);
            let want = serde_json::to_string(&event).unwrap() + "\n";
            n.event(event).unwrap();
            let line = String::from_utf8(n.out).unwrap();
            assert_eq!(line, want);
            let back: serde_json::Value = serde_json::from_str(&line).unwrap();
            if let Some(b64) = back["payload"]["bytes"].as_str() {
                use base64::Engine;
                assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn every_control_character_and_escape_matches_serde_json() {
        let all: String = (0u32..0x80)
            .chain([0x2028, 0x2029, 0xfeff, 0x1f600])
            .filter_map(char::from_u32)
            .collect();
        let mut n = Ndjson::new(Vec::new(), false);
        n.line(&all).unwrap();
        assert_eq!(String::from_utf8(n.out).unwrap(), serde_json::to_string(&all).unwrap() + "\n");
    }
}
