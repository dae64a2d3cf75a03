//! pcapng files read by wsscope itself (with `pcap-parser`), so that each packet keeps the link
//! type of the interface it was captured on. libpcap 1.10 refuses a file whose interfaces have
//! different link types ("an interface has a type … different from the type of the first
//! interface", after the packets before it): `mergecap` of an `any` capture and an Ethernet one,
//! or Wireshark capturing on two interfaces, gave nothing. Every regular pcapng file goes through
//! this reader, filtered or not (the BPF filter is compiled once per link type, [`super::bpf`]);
//! standard input still goes through libpcap.
//!
//! What is read:
//! - sections (SHB) in either byte order, each with its own interfaces;
//! - interface descriptions (IDB): link type, snapshot length (0 means 262,144, as libpcap),
//!   `if_tsresol` (powers of 10 and of 2) and `if_tsoffset` (seconds added to every timestamp);
//! - enhanced packets (EPB), simple packets (SPB: the first interface's link type, its captured
//!   length the smaller of the original length and the snapshot length) and obsolete packets (OPB,
//!   block type 2);
//! - every other block (name resolution, statistics, decryption secrets, custom, …) is skipped.
//!
//! Packets keep at most their interface's snapshot length, as libpcap does. A file that ends
//! inside a block, or a block that does not parse, ends the input as truncated after the packets
//! before it. `tests::same_as_libpcap` compares this reader with libpcap packet by packet on every
//! single-link pcapng file it can make.

use super::bpf::Filter;
use super::{EndOfInput, Iface, Next, RawPacket};
use crate::error::Error;
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap_parser::pcapng::{Block, OptionCode};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};
use std::collections::HashMap;
use std::fs::File;

/// Bytes read per `read(2)`.
const BUFFER: usize = 1 << 20;
/// The largest block the buffer grows to hold (a packet block is at most libpcap's 262,144
/// bytes plus options; other blocks may be larger).
const MAX_BLOCK: usize = 16 << 20;
/// libpcap's largest snapshot length, used when an interface says 0.
const MAX_SNAPLEN: u32 = super::MAX_SNAPLEN as u32;
/// TLS secrets read from a capture's blocks, in all.
const MAX_HELD_SECRETS: usize = super::MAX_CAPTURE_SECRETS;
/// The first bytes of a pcapng file (a section header block's type).
pub(super) const MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Block type of the obsolete packet block, read as little-endian by `pcap-parser`.
const OPB: u32 = 2;

/// One interface of the current section.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// The snapshot length as libpcap adjusts it.
    snaplen: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset: i64,
    /// Its place in [`PcapngReader::interfaces`].
    described: usize,
}

/// Why a file could not be opened as pcapng.
#[derive(Debug)]
pub(super) enum OpenError {
    /// The file ends inside its first blocks, before any interface is described.
    Truncated(String),
    /// The first blocks do not parse: libpcap may say more.
    Malformed,
    /// A setup error (no supported link type, a filter that does not compile).
    Tool(Error),
}

/// Reads the packets of a pcapng file.
pub(super) struct PcapngReader {
    reader: PcapNGReader<File>,
    capacity: usize,
    interfaces: Vec<Interface>,
    big_endian: bool,
    /// Every distinct link type seen, in order of first appearance.
    links: Vec<LinkType>,
    filter: Option<Filter>,
    /// A filter that did not compile for an interface's link type.
    filter_error: Option<Error>,
    /// What [`Self::front`] found while opening, not yet handed out.
    peeked: Option<Front>,
    /// Bytes of the block handed out last, consumed at the next call.
    pending: usize,
    number: u64,
    ended: bool,
    /// The file again, to read packets' bytes back at their offsets.
    reread: Option<std::sync::Arc<File>>,
    /// Where TLS secrets of Decryption Secrets Blocks go.
    keys: Option<std::sync::Arc<crate::tls::KeyStore>>,
    /// Secrets read before a key store was given (bounded by `MAX_HELD_SECRETS`).
    secrets: Vec<u8>,
    /// Bytes of secrets taken for the key store, at most `MAX_HELD_SECRETS` in all: the store
    /// keeps what it is given, and a crafted file may hold any number of blocks.
    taken: usize,
    /// Bytes of secrets past that, before a key store was given.
    over_limit: usize,
    /// Every interface of every section so far, as `-w` describes them again.
    described: Vec<Iface>,
    /// TLS secrets read since the last packet handed out (bounded by `MAX_HELD_SECRETS`),
    /// handed out with the next one ([`RawPacket::secrets`]); `handed`: they were.
    fresh: Vec<u8>,
    handed: bool,
    /// Whether secrets are handed out with packets at all (`-w` to pcapng).
    hand_out: bool,
    /// Each interface described so far (link type, name, snapshot length): its place in
    /// `described` and the section that last used it. A later section describing the same
    /// interface again (files joined with `cat`, a capture tool's new section) reuses it, so
    /// `described` grows with distinct interfaces, at most [`MAX_INTERFACES`].
    known: HashMap<(LinkType, Option<String>, u32), (usize, u64)>,
    /// Sections read so far.
    section: u64,
}

/// Distinct interfaces of one file, at most (pcapng allows 2^32 per section; each costs
/// memory here, and real captures have a few).
const MAX_INTERFACES: usize = 1 << 16;

/// A packet block's fields.
struct Parts<'a> {
    interface: usize,
    /// (high, low) timestamp words; `None` for a simple packet block, which has none.
    ts: Option<(u32, u32)>,
    wire_len: u32,
    data: &'a [u8],
}

/// What a block is.
enum Kind<'a> {
    Section {
        big_endian: bool,
    },
    /// A Decryption Secrets Block with a TLS key log (`editcap --inject-secrets tls,FILE`).
    TlsSecrets(&'a [u8]),
    Interface(Interface, Option<String>),
    Packet(Parts<'a>),
    Skip,
    Malformed(String),
}

/// What the front of the buffer holds.
#[derive(Debug)]
enum Front {
    Packet(Located),
    End(EndOfInput),
}

/// A packet block at the front of the buffer, found by [`PcapngReader::front`]: where its data
/// is in the buffer (an address, turned back into a checked slice of the unmoved buffer), so that
/// the block is not parsed a second time.
#[derive(Clone, Copy, Debug)]
struct Located {
    interface: usize,
    ts: Option<(u32, u32)>,
    wire_len: u32,
    data_addr: usize,
    data_len: usize,
    /// Length of the block.
    offset: usize,
}

/// What to do with the block at the front, once its borrow is over.
enum Step {
    Section(usize, bool),
    Interface(usize, Interface, Option<String>),
    Skip(usize),
    Packet(Located),
    Refill,
    Grow,
    End(EndOfInput),
}

impl PcapngReader {
    /// Opens `file` (a regular file starting with [`MAGIC`]) and reads its blocks up to the first
    /// packet, so that the interfaces described before it are known.
    pub(super) fn open(
        file: File,
        input: &str,
        filter: Option<&str>,
    ) -> Result<PcapngReader, OpenError> {
        // A second descriptor of the same file: reads at an offset (`pread`) do not move the
        // reader's position.
        let reread = file.try_clone().ok().map(std::sync::Arc::new);
        // At least 64 KiB: the section header is read before the buffer can grow.
        let capacity = super::reader_buffer(&file, 64 << 10, BUFFER);
        let reader = match PcapNGReader::new(capacity, file) {
            Ok(r) => r,
            Err(PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof) => {
                return Err(OpenError::Truncated(
                    "truncated inside its section/interface header (the section header block is cut)"
                        .into(),
                ));
            }
            Err(_) => return Err(OpenError::Malformed),
        };
        let mut r = PcapngReader {
            reader,
            capacity,
            interfaces: Vec::new(),
            big_endian: false,
            links: Vec::new(),
            filter: filter.map(Filter::new),
            filter_error: None,
            peeked: None,
            pending: 0,
            number: 0,
            ended: false,
            reread,
            keys: None,
            secrets: Vec::new(),
            described: Vec::new(),
            known: HashMap::new(),
            section: 0,
            fresh: Vec::new(),
            taken: 0,
            hand_out: true,
            over_limit: 0,
            handed: false,
        };
        let front = r.front();
        if let Some(e) = r.filter_error.take() {
            return Err(OpenError::Tool(e));
        }
        // A section without interfaces ends cleanly: it holds no packets, an empty capture
        // (as tshark reads it; libpcap refuses it). `editcap -F pcapng` writes one for a pcap
        // file with no packets.
        let empty = r.links.is_empty() && matches!(front, Front::End(EndOfInput::Clean));
        if r.links.is_empty() && !empty {
            return Err(match front {
                Front::End(EndOfInput::Truncated { message }) if message.contains("cut") => {
                    OpenError::Truncated(format!(
                        "truncated inside its section/interface header ({message})"
                    ))
                }
                _ => OpenError::Malformed,
            });
        }
        if !empty && !r.links.iter().any(|l| l.is_supported()) {
            return Err(OpenError::Tool(Error::UnsupportedLinkType {
                input: input.to_string(),
                link: r.links[0],
            }));
        }
        r.peeked = Some(front);
        Ok(r)
    }

    /// Nothing writes the secrets handed out with packets: they are no longer kept for that.
    pub(super) fn no_secrets_wanted(&mut self) {
        self.hand_out = false;
        self.fresh = Vec::new();
    }

    /// Where the TLS secrets of Decryption Secrets Blocks go (those read so far included).
    pub(super) fn set_key_store(&mut self, store: std::sync::Arc<crate::tls::KeyStore>) {
        if !self.secrets.is_empty() {
            store.add_text(&std::mem::take(&mut self.secrets));
        }
        if self.over_limit > 0 {
            store.note_over_limit(std::mem::take(&mut self.over_limit));
        }
        self.keys = Some(store);
    }

    /// The decimals of a second the timestamps of the interfaces described so far carry (`10^r`
    /// units per second: r, at most 9; other resolutions: 9; 6, pcapng's default, without any).
    pub(super) fn ts_decimals(&self) -> u8 {
        let of = |units: u64| {
            let mut u = units;
            let mut r = 0u8;
            while u > 1 && u.is_multiple_of(10) {
                u /= 10;
                r += 1;
            }
            if u == 1 { r.min(9) } else { 9 }
        };
        self.interfaces.iter().map(|i| of(i.units)).max().unwrap_or(6)
    }

    /// The file, for reading packets' bytes again at their `file_offset`.
    pub(super) fn reread(&self) -> Option<std::sync::Arc<File>> {
        self.reread.clone()
    }

    /// Every distinct link type of the interfaces seen so far, in order.
    pub(super) fn links(&self) -> &[LinkType] {
        &self.links
    }

    /// Every interface of every section seen so far, in order (ids from 0).
    pub(super) fn interfaces(&self) -> &[Iface] {
        &self.described
    }

    /// The next packet, or how the file ended.
    pub(super) fn next_packet(&mut self) -> Next<'_> {
        if self.ended {
            return Next::End(EndOfInput::Clean);
        }
        if self.pending > 0 {
            self.reader.consume_noshift(self.pending);
            self.pending = 0;
        }
        if std::mem::take(&mut self.handed) {
            self.fresh.clear();
        }
        let front = match self.peeked.take() {
            Some(front) => front,
            None => self.front(),
        };
        let at = match front {
            Front::End(end) => {
                self.ended = true;
                return Next::End(end);
            }
            Front::Packet(at) => at,
        };
        // `front` found this packet of a known interface; the buffer has not moved since.
        let buffer = self.reader.data();
        let start = at.data_addr.wrapping_sub(buffer.as_ptr() as usize);
        let (Some(data), Some(iface), Some(described)) = (
            buffer.get(start..start.saturating_add(at.data_len)),
            self.interfaces.get(at.interface),
            self.interfaces.get(at.interface).and_then(|i| self.described.get(i.described)),
        ) else {
            self.ended = true;
            return Next::End(truncated("lost track of a packet in the buffer".into()));
        };
        // The reader started at the file's first byte, and its unconsumed bytes start the buffer.
        let file_offset = Some((self.reader.consumed() + start) as u64);
        self.pending = at.offset;
        self.number += 1;
        let ts = at.ts.map_or(Timestamp::from_nanos(0), |(hi, lo)| timestamp(iface, hi, lo));
        Next::Packet(RawPacket {
            number: self.number,
            ts,
            wire_len: at.wire_len,
            data,
            link: iface.link,
            iface: Some(described),
            secrets: {
                self.handed = true;
                &self.fresh
            },
            file_offset,
        })
    }

    /// Reads blocks until a packet that passes the filter is at the front (not consumed), or the
    /// file ends. Section and interface blocks are taken in on the way.
    fn front(&mut self) -> Front {
        // Each pass consumes a block, refills, grows the buffer, or ends; the bound only guards
        // against a reader that keeps returning nothing.
        for _ in 0..100_000_000u64 {
            let step = match self.reader.next() {
                Ok((offset, PcapBlockOwned::NG(block))) => match kind(&block, self.big_endian) {
                    Kind::Section { big_endian } => Step::Section(offset, big_endian),
                    Kind::Interface(i, name) => Step::Interface(offset, i, name),
                    Kind::Skip => Step::Skip(offset),
                    Kind::TlsSecrets(text) => {
                        // Each block's text ends a line, and is written back as it was.
                        if self.hand_out && self.fresh.len() + text.len() < MAX_HELD_SECRETS {
                            self.fresh.extend_from_slice(text);
                            if !text.ends_with(b"\n") {
                                self.fresh.push(b'\n');
                            }
                        }
                        // Kept until a key store is given (blocks before the first packet are
                        // read while opening).
                        let room = self.taken + text.len() <= MAX_HELD_SECRETS;
                        match &self.keys {
                            Some(k) if room => {
                                k.add_text(text);
                            }
                            None if room => {
                                self.secrets.extend_from_slice(text);
                                self.secrets.push(b'\n');
                            }
                            Some(k) => k.note_over_limit(text.len()),
                            None => self.over_limit += text.len(),
                        }
                        if room {
                            self.taken += text.len();
                        }
                        Step::Skip(offset)
                    }
                    Kind::Malformed(m) => Step::End(truncated(m)),
                    Kind::Packet(p) => match self.interfaces.get(p.interface) {
                        None => Step::End(truncated(format!(
                            "a packet on interface {}, which no interface description block \
                             of its section describes",
                            p.interface
                        ))),
                        Some(iface) => {
                            let data = cut(p.data, iface.snaplen);
                            let pass = self
                                .filter
                                .as_ref()
                                .is_none_or(|f| f.matches(iface.link, data, p.wire_len));
                            if pass {
                                Step::Packet(Located {
                                    interface: p.interface,
                                    ts: p.ts,
                                    wire_len: p.wire_len,
                                    data_addr: data.as_ptr() as usize,
                                    data_len: data.len(),
                                    offset,
                                })
                            } else {
                                Step::Skip(offset)
                            }
                        }
                    },
                },
                Ok((offset, _)) => Step::Skip(offset),
                Err(PcapError::Eof) => Step::End(EndOfInput::Clean),
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => {
                    Step::End(truncated("the file is cut inside a block".into()))
                }
                Err(PcapError::ReadError) => Step::End(truncated("error reading the file".into())),
                Err(e) => Step::End(truncated(format!("a block does not parse ({e:?})"))),
            };
            // libpcap refuses a block whose length at its end is not the one at its start;
            // pcap-parser reads the first only.
            let whole = match &step {
                Step::Packet(at) => Some(at.offset),
                Step::Section(n, _) | Step::Interface(n, ..) | Step::Skip(n) => Some(*n),
                _ => None,
            };
            if let Some(n) = whole
                && !lengths_agree(self.reader.data(), n)
            {
                return Front::End(truncated(
                    "a block's total length at its end differs from the one at its start".into(),
                ));
            }
            match step {
                Step::Packet(at) => return Front::Packet(at),
                Step::End(end) => return Front::End(end),
                Step::Section(offset, big_endian) => {
                    self.big_endian = big_endian;
                    self.interfaces.clear();
                    self.section += 1;
                    self.reader.consume_noshift(offset);
                }
                Step::Interface(offset, mut iface, name) => {
                    self.reader.consume_noshift(offset);
                    let key = (iface.link, name, iface.snaplen);
                    iface.described = match self.known.get_mut(&key) {
                        // Described by an earlier section: the same interface.
                        Some((id, section)) if *section != self.section => {
                            *section = self.section;
                            *id
                        }
                        // New, or described twice in one section: two interfaces.
                        _ if self.described.len() >= MAX_INTERFACES => {
                            return Front::End(truncated(format!(
                                "more than {MAX_INTERFACES} distinct interfaces"
                            )));
                        }
                        _ => {
                            let id = self.described.len();
                            self.described.push(Iface {
                                id: id as u32,
                                link: key.0,
                                name: key.1.clone(),
                                snaplen: key.2,
                            });
                            self.known.insert(key, (id, self.section));
                            id
                        }
                    };
                    if !self.links.contains(&iface.link) {
                        self.links.push(iface.link);
                    }
                    if let Some(f) = &mut self.filter
                        && let Err(e) = f.prepare(iface.link)
                    {
                        let message = e.to_string();
                        self.filter_error = Some(e);
                        return Front::End(truncated(message));
                    }
                    self.interfaces.push(iface);
                }
                Step::Skip(offset) => self.reader.consume_noshift(offset),
                Step::Refill => {
                    if self.reader.refill().is_err() {
                        return Front::End(truncated("error reading the file".into()));
                    }
                }
                Step::Grow => {
                    if self.capacity >= MAX_BLOCK || !self.reader.grow(self.capacity * 2) {
                        return Front::End(truncated(format!(
                            "a block is larger than {} MiB",
                            MAX_BLOCK >> 20
                        )));
                    }
                    self.capacity *= 2;
                }
            }
        }
        Front::End(truncated("no progress reading the file".into()))
    }
}

/// An end of input after the packets before it.
fn truncated(message: String) -> EndOfInput {
    EndOfInput::Truncated { message: format!("pcapng: {message}") }
}

/// Whether the block of `len` bytes at the front of `buf` ends with the total length it starts
/// with (the same four bytes, whatever the byte order).
fn lengths_agree(buf: &[u8], len: usize) -> bool {
    match (buf.get(4..8), len.checked_sub(4).and_then(|end| buf.get(end..len))) {
        (Some(start), Some(end)) => start == end,
        _ => false,
    }
}

/// At most `snaplen` bytes of `data`, as libpcap keeps them.
fn cut(data: &[u8], snaplen: u32) -> &[u8] {
    data.get(..snaplen as usize).unwrap_or(data)
}

/// A packet's time: `units` per second since the epoch plus the interface's offset in seconds.
fn timestamp(iface: &Interface, high: u32, low: u32) -> Timestamp {
    let t = (u64::from(high) << 32) | u64::from(low);
    let secs = i64::try_from(t / iface.units).unwrap_or(i64::MAX).saturating_add(iface.offset);
    let nanos = u128::from(t % iface.units) * 1_000_000_000 / u128::from(iface.units.max(1));
    Timestamp::from_secs_nanos(secs, nanos as i64)
}

/// Timestamp units per second for `if_tsresol`: 10^r, or 2^r when the high bit is set (pcapng
/// §4.2). `None` when that does not fit 64 bits.
fn units_per_second(tsresol: u8) -> Option<u64> {
    let r = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 { 10u64.checked_pow(r) } else { 1u64.checked_shl(r).filter(|_| r < 64) }
}

/// Why an interface description block's options are broken, as libpcap sees it: each option
/// (header and value padded to 32 bits) must fit in the block up to `opt_endofopt`, which has
/// no value. `pcap-parser` stops at the first option that does not fit and keeps the block;
/// libpcap refuses it ("block … is too short"), and so does wsscope.
fn idb_options_problem(idb: &pcap_parser::pcapng::InterfaceDescriptionBlock<'_>) -> Option<String> {
    // Block type, two lengths, link type, reserved and snap length: 20 bytes around the options.
    let region = (idb.block_len1 as usize).checked_sub(20)?;
    let mut used = 0usize;
    let (mut tsresol, mut tsoffset) = (0, 0);
    for o in &idb.options {
        if o.code == OptionCode::EndOfOpt {
            return (o.len != 0)
                .then(|| "an interface description block has an opt_endofopt with a value".into());
        }
        // The two options libpcap reads: once each, of their exact size.
        let (seen, size, name) = match o.code {
            OptionCode::IfTsresol => (&mut tsresol, 1, "if_tsresol"),
            OptionCode::IfTsoffset => (&mut tsoffset, 8, "if_tsoffset"),
            _ => (&mut 0, usize::from(o.len), ""),
        };
        *seen += 1;
        if *seen > 1 || usize::from(o.len) != size {
            return Some(format!(
                "an interface description block has {} {name} option of {} bytes",
                if *seen > 1 { "a second" } else { "an" },
                o.len
            ));
        }
        used += 4 + usize::from(o.len).div_ceil(4) * 4;
    }
    (used != region).then(|| "an interface description block's options run past its end".into())
}

/// What a block is, read with its section's byte order.
fn kind<'a>(block: &Block<'a>, big_endian: bool) -> Kind<'a> {
    let u32_at = |b: &[u8], at: usize| {
        b.get(at..at + 4).map(|w| {
            let w = [w[0], w[1], w[2], w[3]];
            if big_endian { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) }
        })
    };
    match block {
        // libpcap reads versions 1.0 and 1.2 (1.2 only ever written by mistake) and refuses
        // others; so does wsscope.
        Block::SectionHeader(shb)
            if !(shb.major_version == 1 && matches!(shb.minor_version, 0 | 2)) =>
        {
            Kind::Malformed(format!(
                "unsupported pcapng version {}.{}",
                shb.major_version, shb.minor_version
            ))
        }
        Block::SectionHeader(shb) => Kind::Section { big_endian: shb.big_endian() },
        Block::InterfaceDescription(idb) => {
            if let Some(why) = idb_options_problem(idb) {
                return Kind::Malformed(why);
            }
            let Some(units) = units_per_second(idb.if_tsresol) else {
                return Kind::Malformed(format!(
                    "an interface has an invalid if_tsresol {:#x}",
                    idb.if_tsresol
                ));
            };
            // `pcap-parser` reads if_tsoffset as little-endian whatever the section's order.
            let offset = idb
                .options
                .iter()
                .find(|o| o.code == OptionCode::IfTsoffset)
                .and_then(|o| o.value.get(..8))
                .map_or(0, |v| {
                    let b = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                    if big_endian { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) }
                });
            let snaplen = match idb.snaplen {
                0 => MAX_SNAPLEN,
                n => n.min(MAX_SNAPLEN),
            };
            // if_name: UTF-8 text (pcapng §4.2), not always NUL-free; at most 1 KiB is kept.
            let name = idb.options.iter().find(|o| o.code == OptionCode::IfName).map(|o| {
                let value = o.value.get(..super::MAX_IFACE_NAME).unwrap_or(&o.value);
                let name = String::from_utf8_lossy(value);
                super::cut_iface_name(name.trim_end_matches('\0')).to_string()
            });
            Kind::Interface(
                Interface {
                    link: LinkType(idb.linktype.0 as u32),
                    snaplen,
                    units,
                    offset,
                    described: 0,
                },
                name,
            )
        }
        Block::EnhancedPacket(epb) => Kind::Packet(Parts {
            interface: epb.if_id as usize,
            ts: Some((epb.ts_high, epb.ts_low)),
            wire_len: epb.origlen,
            data: epb.data.get(..epb.caplen as usize).unwrap_or(epb.data),
        }),
        Block::SimplePacket(spb) => Kind::Packet(Parts {
            interface: 0,
            ts: None,
            wire_len: spb.origlen,
            data: spb.data.get(..spb.origlen as usize).unwrap_or(spb.data),
        }),
        Block::Unknown(u) if u.block_type == OPB || u.block_type == OPB.swap_bytes() => {
            // Obsolete packet block: interface (16), drops (16), timestamp (2 × 32), captured
            // length, original length, data.
            let b = u.data;
            let (Some(word0), Some(hi), Some(lo), Some(caplen), Some(len)) =
                (u32_at(b, 0), u32_at(b, 4), u32_at(b, 8), u32_at(b, 12), u32_at(b, 16))
            else {
                return Kind::Malformed("an obsolete packet block is too short".into());
            };
            let interface = if big_endian { word0 >> 16 } else { word0 & 0xffff };
            let Some(data) = b.get(20..).and_then(|d| d.get(..caplen as usize)) else {
                return Kind::Malformed("an obsolete packet block is shorter than its data".into());
            };
            Kind::Packet(Parts {
                interface: interface as usize,
                ts: Some((hi, lo)),
                wire_len: len,
                data,
            })
        }
        // secrets_type "TLSK": NSS key log text (pcapng §4.7).
        Block::DecryptionSecrets(dsb) if dsb.secrets_type.0 == 0x544c_534b => {
            Kind::TlsSecrets(dsb.data.get(..dsb.secrets_len as usize).unwrap_or(dsb.data))
        }
        _ => Kind::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{FileSource, PacketSource};
    use std::path::{Path, PathBuf};

    /// Every packet (number, timestamp, wire length, bytes, link type) and how the input ended.
    type Reading = (Vec<(u64, i64, u32, Vec<u8>, u32)>, EndOfInput);

    fn read_all(mut source: FileSource) -> Reading {
        let mut packets = Vec::new();
        for _ in 0..10_000_000 {
            match source.next_packet() {
                Next::Packet(p) => {
                    packets.push((p.number, p.ts.as_nanos(), p.wire_len, p.data.to_vec(), p.link.0))
                }
                Next::Timeout => {}
                Next::End(end) => return (packets, end),
            }
        }
        panic!("no end of input");
    }

    /// Reads `path` with this reader and with libpcap; asserts they agree packet by packet and on
    /// the kind of ending (the messages differ).
    fn assert_same(path: &Path, filter: Option<&str>) -> Reading {
        let ours = FileSource::open(path, filter).unwrap();
        assert!(matches!(ours.reader, super::super::file::Reader::Pcapng(_)), "{path:?}");
        let ours = read_all(ours);
        let libpcap = read_all(FileSource::open_libpcap(path, filter).unwrap());
        assert_eq!(ours.0.len(), libpcap.0.len(), "{path:?}: packet count");
        for (a, b) in ours.0.iter().zip(&libpcap.0) {
            assert_eq!(a, b, "{path:?}: packet {}", b.0);
        }
        assert_eq!(
            matches!(ours.1, EndOfInput::Clean),
            matches!(libpcap.1, EndOfInput::Clean),
            "{path:?}: {:?} vs {:?}",
            ours.1,
            libpcap.1
        );
        ours
    }

    /// A pcapng file written block by block, in either byte order.
    struct Ng {
        be: bool,
        bytes: Vec<u8>,
    }

    impl Ng {
        fn new(be: bool) -> Ng {
            let mut ng = Ng { be, bytes: Vec::new() };
            ng.shb();
            ng
        }
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.be { v.to_be_bytes() } else { v.to_le_bytes() }
        }
        fn u32(&self, v: u32) -> [u8; 4] {
            if self.be { v.to_be_bytes() } else { v.to_le_bytes() }
        }
        fn block(&mut self, kind: u32, body: &[u8]) {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let total = self.u32(body.len() as u32 + 12);
            let kind = self.u32(kind);
            self.bytes.extend(kind);
            self.bytes.extend(total);
            self.bytes.extend(body);
            self.bytes.extend(total);
        }
        fn shb(&mut self) {
            let mut b = self.u32(0x1a2b_3c4d).to_vec();
            b.extend(self.u16(1));
            b.extend(self.u16(0));
            b.extend((-1i64).to_le_bytes());
            self.block(0x0a0d_0d0a, &b);
        }
        fn idb(&mut self, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) {
            let mut b = self.u16(link).to_vec();
            b.extend(self.u16(0));
            b.extend(self.u32(snaplen));
            if let Some(r) = tsresol {
                b.extend(self.u16(9));
                b.extend(self.u16(1));
                b.extend([r, 0, 0, 0]);
            }
            if let Some(o) = tsoffset {
                b.extend(self.u16(14));
                b.extend(self.u16(8));
                b.extend(if self.be { o.to_be_bytes() } else { o.to_le_bytes() });
            }
            b.extend([0, 0, 0, 0]);
            self.block(1, &b);
        }
        fn epb(&mut self, interface: u32, ts: u64, caplen: u32, len: u32, data: &[u8]) {
            let mut b = self.u32(interface).to_vec();
            b.extend(self.u32((ts >> 32) as u32));
            b.extend(self.u32(ts as u32));
            b.extend(self.u32(caplen));
            b.extend(self.u32(len));
            b.extend(data);
            self.block(6, &b);
        }
        fn spb(&mut self, len: u32, data: &[u8]) {
            let mut b = self.u32(len).to_vec();
            b.extend(data);
            self.block(3, &b);
        }
        fn opb(&mut self, interface: u16, ts: u64, caplen: u32, len: u32, data: &[u8]) {
            let mut b = self.u16(interface).to_vec();
            b.extend(self.u16(0));
            b.extend(self.u32((ts >> 32) as u32));
            b.extend(self.u32(ts as u32));
            b.extend(self.u32(caplen));
            b.extend(self.u32(len));
            b.extend(data);
            self.block(2, &b);
        }
        fn write(&self, dir: &tempfile::TempDir, name: &str) -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, &self.bytes).unwrap();
            path
        }
    }

    fn testdata(dir: &str) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures").join(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
            .collect();
        files.sort();
        files
    }

    /// The packets of a classic capture, as libpcap reads them: (ns, wire length, bytes).
    fn packets_of(path: &Path) -> (u32, Vec<(i64, u32, Vec<u8>)>) {
        let src = FileSource::open_libpcap(path, None).unwrap();
        let link = src.link_types()[0].0;
        let (packets, _) = read_all(src);
        (link, packets.into_iter().map(|(_, ts, len, data, _)| (ts, len, data)).collect())
    }

    /// Found by the `pcap_file` fuzz target: an interface block whose option claims more bytes
    /// than the block holds. libpcap refuses the file; `pcap-parser` kept the block.
    #[test]
    fn an_interface_block_whose_options_overrun_it_is_refused_like_libpcap_does() {
        let dir = tempfile::tempdir().unwrap();
        for (name, option) in [
            ("overrun", [9u8, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("endofopt-with-value", [0, 0, 4, 0, 1, 2, 3, 4, 0, 0, 0, 0]),
            ("half-header", [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]),
            ("empty-tsresol", [9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("two-tsresol", [9, 0, 1, 0, 6, 0, 0, 0, 9, 0, 1, 0]),
        ] {
            let mut ng = Ng::new(false);
            let mut b = ng.u16(1).to_vec();
            b.extend(ng.u16(0));
            b.extend(ng.u32(65535));
            b.extend(option);
            ng.block(1, &b);
            ng.epb(0, 1, 4, 4, &[1, 2, 3, 4]);
            let path = ng.write(&dir, &format!("{name}.pcapng"));
            let libpcap = FileSource::open_libpcap(&path, None).map(read_all);
            let ours = FileSource::open(&path, None).map(read_all);
            match (&ours, &libpcap) {
                (Err(_), Err(_)) => {}
                (Ok(a), Ok(b)) => assert_eq!(a.0, b.0, "{name}"),
                _ => panic!("{name}: ours {:?}, libpcap {:?}", ours.is_ok(), libpcap.is_ok()),
            }
        }
    }

    /// Found by the `pcap_file` fuzz target: a section header of version 1.256.
    #[test]
    fn a_section_of_a_version_libpcap_does_not_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (minor, readable) in [(0u16, true), (2, true), (1, false), (256, false)] {
            let mut ng = Ng { be: false, bytes: Vec::new() };
            let mut b = ng.u32(0x1a2b_3c4d).to_vec();
            b.extend(ng.u16(1));
            b.extend(ng.u16(minor));
            b.extend((-1i64).to_le_bytes());
            ng.block(0x0a0d_0d0a, &b);
            ng.idb(1, 65535, None, None);
            ng.epb(0, 1, 4, 4, &[1, 2, 3, 4]);
            let path = ng.write(&dir, &format!("v1.{minor}.pcapng"));
            let libpcap = FileSource::open_libpcap(&path, None).is_ok();
            let ours = FileSource::open(&path, None).is_ok();
            assert_eq!((ours, libpcap), (readable, readable), "version 1.{minor}");
        }
    }

    #[test]
    fn same_as_libpcap_on_every_capture_in_testdata_written_as_pcapng() {
        let dir = tempfile::tempdir().unwrap();
        let mut total = 0;
        for path in testdata("real").into_iter().chain(testdata("crafted")) {
            let (link, packets) = packets_of(&path);
            // Nanoseconds little-endian; microseconds big-endian with an offset; 2^-20 s units.
            for (be, resol, offset) in
                [(false, 9u8, None), (true, 6, Some(-3600i64)), (false, 0x94, None)]
            {
                let mut ng = Ng::new(be);
                ng.idb(link as u16, 262_144, Some(resol), offset);
                for (ns, len, data) in &packets {
                    let ns = (*ns - offset.unwrap_or(0) * 1_000_000_000) as u64;
                    let ts = match resol {
                        9 => ns,
                        6 => ns / 1000,
                        _ => ((ns as u128) * (1 << 20) / 1_000_000_000) as u64,
                    };
                    ng.epb(0, ts, data.len() as u32, *len, data);
                }
                let name =
                    format!("{}.{be}.{resol}.pcapng", path.file_stem().unwrap().to_string_lossy());
                total += assert_same(&ng.write(&dir, &name), None).0.len();
            }
        }
        assert!(total > 2500, "{total} packets");
    }

    /// Real captures converted by Wireshark's `editcap` (which writes SHB and IDB options, and
    /// interface statistics at the end). Needs editcap (installed with tshark by `.ci/run`);
    /// WSSCOPE_SKIP_TSHARK=1 skips it where it is missing.
    #[test]
    fn same_as_libpcap_on_captures_converted_by_editcap() {
        if std::env::var_os("WSSCOPE_SKIP_TSHARK").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut total = 0;
        for path in testdata("real").into_iter().chain(testdata("crafted")) {
            let out = dir.path().join(path.file_name().unwrap()).with_extension("pcapng");
            let status = std::process::Command::new("editcap")
                .args(["-F", "pcapng"])
                .arg(&path)
                .arg(&out)
                .status()
                .expect(
                    "editcap is not installed (apt-get install tshark, or WSSCOPE_SKIP_TSHARK=1)",
                );
            if !status.success() {
                // editcap refuses the file cut on purpose (truncated_file).
                assert!(path.ends_with("truncated_file.pcap"), "{path:?}");
                continue;
            }
            total += assert_same(&out, None).0.len();
        }
        assert!(total > 900, "{total} packets");
    }

    #[test]
    fn simple_obsolete_and_other_blocks_as_libpcap_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let frame: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
        for be in [false, true] {
            let mut ng = Ng::new(be);
            ng.block(4, &[0, 0, 0, 0]); // name resolution block (empty)
            ng.idb(1, 100, None, None); // microseconds by default; snaplen 100
            ng.epb(0, 1_700_000_000_123_456, 60, 60, &frame[..60]);
            ng.spb(300, &frame[..100]); // simple packet: the snapshot length is what is there
            ng.block(5, &[0; 12]); // interface statistics
            ng.opb(0, 1_700_000_001_000_000, 80, 90, &frame[..80]);
            ng.block(0x0000_0bad, &[0xe5, 0x2b, 0, 0, 1, 2, 3, 4]); // custom block
            ng.epb(0, 1_700_000_002_000_000, 60, 1514, &frame[..60]);
            let (packets, end) = assert_same(&ng.write(&dir, &format!("blocks-{be}.pcapng")), None);
            assert_eq!(packets.len(), 4);
            assert_eq!(end, EndOfInput::Clean);
        }
    }

    #[test]
    fn same_as_libpcap_on_a_file_cut_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/crafted/pcapng.pcapng");
        let bytes = std::fs::read(src).unwrap();
        let mut truncated = 0;
        // The section header block alone: no interface, no packet. libpcap refuses it; it is an
        // empty capture, as tshark reads it.
        let section = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        // Cuts inside the headers make both refuse the file; the rest must read alike.
        for cut in 0..bytes.len() {
            let path = dir.path().join("cut.pcapng");
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let ours = FileSource::open(&path, None);
            let libpcap = FileSource::open_libpcap(&path, None);
            if cut == section {
                let (packets, end) = read_all(ours.unwrap());
                assert!(packets.is_empty() && end == EndOfInput::Clean, "{end:?}");
                assert!(libpcap.is_err());
                continue;
            }
            match (ours, libpcap) {
                (Ok(_), Ok(_)) => {
                    if let (_, EndOfInput::Truncated { .. }) = assert_same(&path, None) {
                        truncated += 1;
                    }
                }
                (Err(e), Err(_)) => {
                    let expected = if cut == 0 {
                        matches!(e, Error::EmptyCapture { .. })
                    } else {
                        matches!(e, Error::TruncatedHeader { .. })
                    };
                    assert!(expected, "cut at {cut}: {e}");
                }
                (ours, libpcap) => panic!(
                    "cut at {cut}: ours {:?}, libpcap {:?}",
                    ours.err().map(|e| e.to_string()),
                    libpcap.err().map(|e| e.to_string())
                ),
            }
        }
        assert!(truncated > 100, "{truncated} truncated readings");
    }

    #[test]
    fn a_filter_selects_the_packets_libpcap_selects() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/crafted/pcapng.pcapng");
        for filter in ["tcp[tcpflags] & tcp-syn != 0", "greater 100", "src host 10.0.0.2"] {
            let (packets, _) = assert_same(&path, Some(filter));
            assert!(!packets.is_empty(), "{filter}");
        }
    }

    #[test]
    fn interfaces_of_different_link_types_each_keep_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let eth =
            [[2u8; 6], [3u8; 6]].concat().into_iter().chain([0x08, 0x00, 0x45]).collect::<Vec<_>>();
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6];
        sll2.extend([1, 2, 3, 4, 5, 6, 0, 0, 0x45]);
        let mut ng = Ng::new(false);
        ng.idb(276, 65_535, Some(9), None);
        ng.idb(1, 65_535, Some(6), None);
        ng.epb(0, 1_000_000_000, sll2.len() as u32, 60, &sll2);
        ng.epb(1, 2_000_000, eth.len() as u32, 60, &eth);
        ng.epb(0, 3_000_000_000, sll2.len() as u32, 60, &sll2);
        // A new section: its interfaces replace the old ones.
        ng.shb();
        ng.idb(113, 65_535, None, None);
        ng.epb(0, 4_000_000, 16, 16, &[0; 16]);
        let path = ng.write(&dir, "multi.pcapng");
        let source = FileSource::open(&path, None).unwrap();
        assert_eq!(
            crate::capture::describe_links(&source.link_types()),
            "LINUX_SLL2 (276), ETHERNET (1)"
        );
        let (packets, end) = read_all(source);
        let got: Vec<(i64, u32)> = packets.iter().map(|p| (p.1, p.4)).collect();
        assert_eq!(
            got,
            [(1_000_000_000, 276), (2_000_000_000, 1), (3_000_000_000, 276), (4_000_000_000, 113)]
        );
        assert_eq!(end, EndOfInput::Clean);
        // libpcap stops at the second interface.
        let (libpcap, end) = read_all(FileSource::open_libpcap(&path, None).unwrap());
        assert!(libpcap.is_empty(), "{libpcap:?}");
        assert!(matches!(end, EndOfInput::Truncated { .. }));
    }

    /// A section describing an interface an earlier one described (files joined with `cat`)
    /// reuses it; two alike in one section stay two; distinct interfaces are bounded.
    #[test]
    fn secrets_past_the_limit_are_counted_not_kept() {
        // Blocks of 1 MiB of distinct CLIENT_RANDOM lines, one more than the limit holds: the
        // key store (which keeps what it is given) gets the first 16 MiB.
        let dir = tempfile::tempdir().unwrap();
        let mut ng = Ng::new(false);
        ng.idb(1, 65_535, None, None);
        let blocks = MAX_HELD_SECRETS / (1 << 20) + 1;
        let mut n = 0u64;
        for b in 0..blocks {
            let mut text = Vec::with_capacity(1 << 20);
            while text.len() + 200 < 1 << 20 {
                n += 1;
                text.extend(format!("CLIENT_RANDOM {n:064x} {}\n", "ab".repeat(48)).as_bytes());
            }
            let mut body = 0x544c_534b_u32.to_le_bytes().to_vec();
            body.extend((text.len() as u32).to_le_bytes());
            body.extend(&text);
            ng.block(10, &body);
            if b == 0 {
                ng.epb(0, 1_000_000, 16, 16, &[0; 16]);
            }
        }
        ng.epb(0, 2_000_000, 16, 16, &[0; 16]);
        let path = ng.write(&dir, "secrets.pcapng");
        let mut source = FileSource::open(&path, None).unwrap();
        let store = std::sync::Arc::new(crate::tls::KeyStore::new());
        source.set_key_store(std::sync::Arc::clone(&store));
        let (packets, _) = read_all(source);
        assert_eq!(packets.len(), 2);
        let stats = store.stats();
        assert!(stats.over_limit > 0 && stats.over_limit < 1 << 20, "{stats:?}");
        let lines = (stats.secrets as usize) * (14 + 64 + 1 + 96 + 1);
        assert!(lines <= MAX_HELD_SECRETS && lines > MAX_HELD_SECRETS - (2 << 20), "{stats:?}");
    }

    #[test]
    fn a_huge_interface_name_is_kept_as_one_kib() {
        // 65,532 bytes of 0xff: 196 KB once made valid UTF-8, kept for every interface (and
        // again by -w) before.
        let dir = tempfile::tempdir().unwrap();
        let mut ng = Ng::new(false);
        let mut b = ng.u16(1).to_vec();
        b.extend(ng.u16(0));
        b.extend(ng.u32(65_535));
        b.extend(ng.u16(2));
        b.extend(ng.u16(65_532));
        b.extend([0xff; 65_532]);
        b.extend([0, 0, 0, 0]);
        ng.block(1, &b);
        ng.epb(0, 1_000_000, 16, 16, &[0; 16]);
        let path = ng.write(&dir, "name.pcapng");
        let source = FileSource::open(&path, None).unwrap();
        let name = source.interfaces()[0].name.clone().unwrap();
        assert!(name.len() <= super::super::MAX_IFACE_NAME, "{}", name.len());
        assert!(name.starts_with('\u{fffd}'));
        let (packets, _) = read_all(source);
        assert_eq!(packets.len(), 1);
    }

    #[test]
    fn interfaces_described_again_are_one_and_distinct_ones_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut ng = Ng::new(false);
        ng.idb(1, 65_535, None, None);
        ng.idb(1, 65_535, None, None);
        ng.epb(1, 1_000_000, 16, 16, &[0; 16]);
        for _ in 0..3 {
            ng.shb();
            ng.idb(1, 65_535, None, None);
            ng.epb(0, 2_000_000, 16, 16, &[0; 16]);
        }
        let path = ng.write(&dir, "joined.pcapng");
        let mut source = FileSource::open(&path, None).unwrap();
        let mut ids = Vec::new();
        while let Next::Packet(p) = source.next_packet() {
            ids.push(p.iface.map(|i| i.id));
        }
        // Either of the two alike serves the later sections: the last one described.
        assert_eq!(ids, [Some(1), Some(1), Some(1), Some(1)]);
        assert_eq!(source.interfaces().len(), 2);

        let mut ng = Ng::new(false);
        for snaplen in 1..=MAX_INTERFACES as u32 + 1 {
            ng.idb(1, snaplen, None, None);
        }
        ng.epb(0, 1_000_000, 16, 16, &[0; 16]);
        let path = ng.write(&dir, "many.pcapng");
        let (packets, end) = read_all(FileSource::open(&path, None).unwrap());
        assert!(packets.is_empty());
        let EndOfInput::Truncated { message } = end else { panic!("{end:?}") };
        assert!(message.contains("more than 65536 distinct interfaces"), "{message}");
    }

    #[test]
    fn timestamp_resolutions_are_powers_of_ten_or_of_two() {
        assert_eq!(units_per_second(6), Some(1_000_000));
        assert_eq!(units_per_second(9), Some(1_000_000_000));
        assert_eq!(units_per_second(0x80 | 20), Some(1 << 20));
        assert_eq!(units_per_second(0x80 | 63), Some(1 << 63));
        assert_eq!(units_per_second(20), None);
        assert_eq!(units_per_second(0x80 | 64), None);
    }

    #[test]
    fn a_packet_on_an_undescribed_interface_ends_the_input_after_the_packets_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut ng = Ng::new(false);
        ng.idb(1, 65_535, None, None);
        ng.epb(0, 1, 14, 14, &[0; 14]);
        ng.epb(3, 2, 14, 14, &[0; 14]);
        let (packets, end) =
            read_all(FileSource::open(&ng.write(&dir, "if.pcapng"), None).unwrap());
        assert_eq!(packets.len(), 1);
        assert!(
            matches!(end, EndOfInput::Truncated { message } if message.contains("interface 3"))
        );
    }
}
