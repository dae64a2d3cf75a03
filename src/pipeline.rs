//! Wires a packet source through the decoder and the stream engine into a sink.
//!
//! File mode runs on one thread with no channels, so its output is deterministic.

use crate::capture::{CaptureStats, EndOfInput, FileSource, LiveSource, Next, PacketSource};
use crate::config::{Input, Source};
use crate::error::Error;
use crate::limits::TcpLimits;
use crate::packet::{Decoded, PacketDecoder, PacketStats};
use crate::tcp::{PacketRef, StreamSink, Table, TableStats};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a run saw, besides the events.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// How the input ended.
    pub end_of_input: EndOfInput,
    /// Packet decoding counters.
    pub packets: PacketStats,
    /// Connection table counters.
    pub tcp: TableStats,
    /// libpcap's counters (live capture).
    pub capture: CaptureStats,
}

/// Opens the source described by `source`.
pub fn open(source: &Source) -> Result<Box<dyn PacketSource>, Error> {
    Ok(match &source.input {
        Input::File(path) => Box::new(FileSource::open(path, source.filter.as_deref())?),
        Input::Live { interface, snaplen } => {
            Box::new(LiveSource::open(interface, source.filter.as_deref(), *snaplen)?)
        }
    })
}

/// Reads every packet of `source`, pushing stream events into `sink`, until the input ends or
/// `stop` is set; then flushes every open connection.
pub fn drive<S: StreamSink>(
    source: &mut dyn PacketSource,
    limits: &TcpLimits,
    stop: &AtomicBool,
    sink: &mut S,
) -> RunSummary {
    let mut decoder = PacketDecoder::new(limits);
    let mut table = Table::new(limits.clone());
    let link = source.link_type();
    let end = loop {
        if stop.load(Ordering::Relaxed) {
            break EndOfInput::Clean;
        }
        match source.next_packet() {
            Next::Packet(p) => {
                if let Ok(Decoded::Tcp(seg)) = decoder.decode(link, p.data, p.ts) {
                    table.on_segment(&seg, PacketRef { ts: p.ts, packet: p.number }, sink);
                }
            }
            Next::Timeout => {}
            Next::End(e) => break e,
        }
    };
    table.finish(sink);
    RunSummary {
        end_of_input: end,
        packets: decoder.stats(),
        tcp: table.stats(),
        capture: source.capture_stats(),
    }
}
