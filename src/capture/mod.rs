//! Packet sources: the only place that talks to libpcap.
//!
//! A [`PacketSource`] yields [`RawPacket`]s one at a time, numbered from 1 in capture order, with
//! nanosecond timestamps and the link type of the interface they were captured on (a pcapng file
//! may have several). Files (pcap and pcapng, or `-` for standard input) and live interfaces
//! share the interface; an optional BPF filter applies to both.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bpf;
mod classic;
mod file;
pub mod join;
mod live;
mod pcapng;
mod pump;
mod queue;
pub mod savefile;
mod sniff;
mod tee;

pub use file::FileSource;
pub use join::Joined;
pub use live::{
    LiveOptions, LiveSource, MAX_SNAPLEN, by_number, describe_interfaces, list_interfaces,
};
pub use queue::QueuedSource;
pub use tee::{TeeSource, numbered};

use crate::packet::LinkType;
use crate::time::Timestamp;
use serde::Serialize;

/// An interface as its capture describes it: what `-w` writes for it (a pcapng interface block,
/// a pcap file's snapshot length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Unique among the interfaces of one source (pcapng: every section's interfaces in turn;
    /// live capture: each `-i` in order).
    pub id: u32,
    /// Its link type.
    pub link: LinkType,
    /// Its name (`eth0`; pcapng's `if_name`), when known.
    pub name: Option<String>,
    /// Its snapshot length (0: not given).
    pub snaplen: u32,
}

/// Bytes of TLS secrets (pcapng Decryption Secrets Blocks) read from one capture, in all: the
/// key store keeps every secret it is given, and a crafted file may hold any number of blocks
/// (a key log given with `--keylog` is not limited by this).
pub const MAX_CAPTURE_SECRETS: usize = 16 << 20;

/// The buffer a file reader starts with: `most`, or less for a file that is smaller (plus
/// slack, at least `least`), so that opening thousands of small files (`--join` of a rotated
/// recording) does not allocate and clear `most` bytes for each. A reader whose buffer is then
/// too small for a record (the file grew since) grows it.
pub(crate) fn reader_buffer(file: &std::fs::File, least: usize, most: usize) -> usize {
    let len = file.metadata().map_or(u64::MAX, |m| m.len());
    usize::try_from(len).map_or(most, |l| l.saturating_add(4096).clamp(least, most))
}

/// The longest interface name kept (pcapng's `if_name`, in bytes): a crafted file may give
/// 65,532 bytes, three times that once made valid UTF-8, for each of thousands of interfaces.
pub const MAX_IFACE_NAME: usize = 1024;

/// `name` cut to at most [`MAX_IFACE_NAME`] bytes, on a character boundary.
pub fn cut_iface_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_IFACE_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

impl Iface {
    /// Interfaces of the given link types, in order, named by nothing more.
    pub fn of_links(links: &[LinkType]) -> Vec<Iface> {
        let each = |(id, link): (usize, &LinkType)| Iface {
            id: id as u32,
            link: *link,
            name: None,
            snaplen: 0,
        };
        links.iter().enumerate().map(each).collect()
    }
}

/// One packet as captured.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// 1-based number in the capture (after the BPF filter, as tcpdump/tshark number them with
    /// the same filter).
    pub number: u64,
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Length of the packet on the wire.
    pub wire_len: u32,
    /// The captured bytes (`data.len()` is the captured length, at most `wire_len`).
    pub data: &'a [u8],
    /// The link type of the interface the packet was captured on.
    pub link: LinkType,
    /// That interface, when the source describes it ([`PacketSource::interfaces`]).
    pub iface: Option<&'a Iface>,
    /// TLS secrets (NSS key log text) the input gave since the packet before (a pcapng file's
    /// Decryption Secrets Blocks), so that `-w` keeps them where they were; usually empty.
    pub secrets: &'a [u8],
    /// Where `data` starts in the input file, for a source that can read it there again
    /// ([`PacketSource::reread`]).
    pub file_offset: Option<u64>,
}

/// What reading the next packet gave.
#[derive(Debug)]
pub enum Next<'a> {
    /// A packet.
    Packet(RawPacket<'a>),
    /// A live capture's read timeout passed with no packet (lets the caller check for shutdown).
    Timeout,
    /// No more packets.
    End(EndOfInput),
}

/// Why the input ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EndOfInput {
    /// The file ended cleanly.
    Clean,
    /// The file ended in the middle of a packet record, or libpcap could not read on; the packets
    /// before were analysed.
    Truncated {
        /// libpcap's message.
        message: String,
    },
    /// The run was stopped before its input ended: a signal, `--count`, `--duration`, an output
    /// that failed (a live capture always ends this way). The packets read before were analysed;
    /// a file's rest was not read.
    Stopped {
        /// Why and when: `stopped by SIGTERM after 1204 packets`.
        message: String,
    },
}

impl EndOfInput {
    /// Why an interface ended before the others were stopped, when one did (a live capture of
    /// several interfaces: `crate::pipeline::INTERFACE_ENDED`).
    pub fn interface_ended(&self) -> Option<&str> {
        match self {
            EndOfInput::Stopped { message } => {
                message.split_once(crate::pipeline::INTERFACE_ENDED).map(|(_, why)| why)
            }
            EndOfInput::Clean | EndOfInput::Truncated { .. } => None,
        }
    }
}

/// Counters from libpcap for live captures.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct CaptureStats {
    /// Packets received by the filter (libpcap `ps_recv`).
    pub received: u64,
    /// Packets dropped because the buffer was full (libpcap `ps_drop`).
    pub dropped: u64,
    /// Packets dropped by the interface or driver (libpcap `ps_ifdrop`).
    pub if_dropped: u64,
    /// Packets libpcap delivered that wsscope dropped because its analysis had not kept up and
    /// the queue between the capture and the analysis was full (`--capture-queue`).
    pub queue_dropped: u64,
}

impl CaptureStats {
    /// Every packet lost before the analysis saw it: libpcap's, the interface's and the queue's.
    pub fn lost(&self) -> u64 {
        self.dropped + self.if_dropped + self.queue_dropped
    }
}

/// Checks that wsscope decodes the capture's link type and applies the BPF `filter`: the setup
/// files and live interfaces share. Returns the link type.
fn prepare<T: pcap::Activated + ?Sized>(
    cap: &mut pcap::Capture<T>,
    input: &str,
    filter: Option<&str>,
) -> Result<LinkType, crate::error::Error> {
    use crate::error::Error;
    let link = LinkType(cap.get_datalink().0 as u32);
    if !link.is_supported() {
        return Err(Error::UnsupportedLinkType { input: input.to_string(), link });
    }
    if let Some(f) = filter {
        cap.filter(f, true)
            .map_err(|e| Error::Filter { filter: f.to_string(), message: e.to_string() })?;
    }
    Ok(link)
}

/// The link types of a source, as shown: `ETHERNET (1)`, or `LINUX_SLL2 (276), ETHERNET (1)`;
/// `none` for a pcapng file that describes no interface (it holds no packets).
pub fn describe_links(links: &[LinkType]) -> String {
    if links.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = links.iter().map(|l| l.to_string()).collect();
    names.join(", ")
}

/// A source of packets.
pub trait PacketSource {
    /// The link types of the packets read so far and of the interfaces described so far, in
    /// order of appearance (one, except for pcapng files with interfaces of several link types).
    fn link_types(&self) -> Vec<LinkType>;
    /// The decimals of a second the input's timestamps carry: 6 for microseconds (classic pcap,
    /// pcapng's default, live capture), 9 for nanoseconds; 9 when the input does not say.
    fn ts_decimals(&self) -> u8 {
        9
    }
    /// [`PacketSource::ts_decimals`] when no later packet can have finer timestamps (a live
    /// capture, a classic pcap file); `None` when one could (a pcapng file's later interfaces).
    fn fixed_ts_decimals(&self) -> Option<u8> {
        None
    }
    /// Every interface described so far, in order (their ids are those packets carry). By
    /// default one per link type, without a name or a snapshot length.
    fn interfaces(&self) -> Vec<Iface> {
        Iface::of_links(&self.link_types())
    }
    /// Reads the next packet.
    fn next_packet(&mut self) -> Next<'_>;
    /// The input file, for a source whose packets carry their `file_offset`: bytes read from it
    /// can be read there again instead of being copied (the retransmission history).
    fn reread(&self) -> Option<std::sync::Arc<dyn crate::tcp::ReadBack>> {
        None
    }
    /// libpcap's counters (zero for files).
    fn capture_stats(&mut self) -> CaptureStats;
    /// True for live capture (counters and `stats` events are worth showing).
    fn is_live(&self) -> bool {
        false
    }
    /// Live capture: true once for each batch of packets the capture threads handed over, so
    /// that the reader looks at the counters and the clock about every 20 ms while packets flow
    /// (and on every read timeout), not at every packet. Other sources return false.
    fn new_batch(&mut self) -> bool {
        false
    }
    /// For a source whose reads do not wait (live capture): waits until packets may be ready,
    /// a stop was asked for, or `timeout` passed. Sources whose reads wait return at once.
    fn wait_for_packets(&mut self, _timeout: std::time::Duration) {}
    /// Where TLS secrets found in the input go (pcapng Decryption Secrets Blocks); sources
    /// without any ignore it.
    fn set_key_store(&mut self, _store: std::sync::Arc<crate::tls::KeyStore>) {}
    /// Says that nothing will write [`RawPacket::secrets`] out (no `-w`, or a pcap one): the
    /// source need not keep them until the next packet.
    fn no_secrets_wanted(&mut self) {}
    /// Stops reading (live capture: the capture threads are asked to end); the packets not yet
    /// read are not analysed. Called when a stop is asked for, and once the reader stops.
    fn stop(&mut self) {}
    /// Called once the reader has stopped reading for good, before the last counters are read:
    /// a live source waits for its capture threads to end, so that the counters are final
    /// (with `--count` the reader stops at once, before the threads stored any).
    fn settle(&mut self) {}
    /// Finishes what the source writes (`-w`): flushed and moved into place. Called once the
    /// packets were read; dropping the source does it too, ignoring errors.
    fn close(&mut self) -> Result<(), crate::error::Error> {
        Ok(())
    }
}
