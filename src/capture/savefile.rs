//! Writes packets to a pcap or pcapng file (`-w`), in the byte order of the host, as libpcap does.
//!
//! - **pcap**: the 24-byte file header with the nanosecond magic `0xa1b23c4d` (the
//!   microsecond one, `0xa1b2c3d4`, for an input whose timestamps are microseconds; version 2.4,
//!   the input's snapshot length: the file's, or `-s` live; 262,144, libpcap's
//!   `MAXIMUM_SNAPLEN`, when it gave none), then a 16-byte header per record. A pcap file has
//!   one link type: [`SaveWriter::accepts`] says whether a packet fits.
//! - **pcapng**: a section header block, one interface description block per interface of the
//!   input (with its link type, snapshot length, `if_name` when it has one, and `if_tsresol` =
//!   9: nanoseconds, or 6 for microseconds as the pcap header), then one enhanced packet block per packet, on its interface. An interface
//!   not yet described gets its block just before its first packet, so the packets of a pcapng
//!   input whose later sections bring more interfaces can all be saved, and a live capture on
//!   several interfaces says which packet came from which.
//!
//! Timestamps and lengths are written as read: captured bytes, wire length and the timestamp in
//! nanoseconds, or in microseconds when the input's are and cannot become finer (a live capture,
//! a classic pcap file: [`crate::capture::PacketSource::fixed_ts_decimals`]), so that the file
//! reads back as its input did, to the same decimals (pcap keeps 32-bit seconds, as libpcap does; pcapng 64 bits of nanoseconds, so a
//! time before 1970 is written as 1970).
//!
//! The writer does no rotation and opens no file: it writes to any [`Write`] and counts bytes,
//! so that `-C` can decide before a packet whether it still fits ([`super::tee`]).

use super::{Iface, RawPacket};
use crate::packet::LinkType;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

/// libpcap's `MAXIMUM_SNAPLEN`: the snapshot length written in a pcap file header.
const SNAPLEN: u32 = super::MAX_SNAPLEN as u32;
/// pcap magic number for nanosecond timestamps.
const PCAP_NANO_MAGIC: u32 = 0xa1b2_3c4d;
/// pcap magic number for microsecond timestamps.
const PCAP_MICRO_MAGIC: u32 = 0xa1b2_c3d4;
/// pcap file header length.
const PCAP_HEADER: u64 = 24;
/// pcap record header length.
const PCAP_RECORD: u64 = 16;
/// pcapng block types.
const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const EPB: u32 = 6;
const DSB: u32 = 10;
/// A Decryption Secrets Block's type for TLS key log text ("TLSK").
const SECRETS_TLS: u32 = 0x544c_534b;
/// pcapng byte-order magic.
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Length of an interface description block with `if_tsresol` and no name.
const IDB_LEN: u64 = 32;
/// Length of an enhanced packet block without its data (and padding).
const EPB_FIXED: u64 = 32;

/// The file format of `-w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap, nanosecond timestamps.
    Pcap,
    /// pcapng, nanosecond timestamps, an interface block per interface of the input.
    Pcapng,
}

impl Format {
    /// pcapng for a name ending in `.pcapng` (any case), else pcap, as tcpdump and tshark do
    /// not guess: the name says what the file holds.
    pub fn for_path(path: &Path) -> Format {
        match path.extension() {
            Some(e) if e.eq_ignore_ascii_case("pcapng") => Format::Pcapng,
            _ => Format::Pcap,
        }
    }
}

/// Writes packets in one [`Format`] to `W`, counting the bytes.
///
/// Invariant: for pcap, `links` holds exactly the file's link type; for pcapng, `links[i]` is
/// the link type of interface `i` of the file, and `keys` maps the [`key`] of each input
/// interface it describes to its `i` (looked up per packet: a file may have thousands), every
/// one already described in `out`.
pub struct SaveWriter<W: Write> {
    out: W,
    format: Format,
    links: Vec<LinkType>,
    keys: HashMap<u64, u32>,
    bytes: u64,
    packets: u64,
    /// Timestamps are written in microseconds (else nanoseconds).
    micro: bool,
}

/// Which input interface a packet came from: its id, or for a source that describes none, its
/// link type (one interface per link type).
fn key(iface: Option<&Iface>, link: LinkType) -> u64 {
    iface.map_or(1 << 32 | u64::from(link.0), |i| u64::from(i.id))
}

/// The snapshot length a file header gives for `snaplen` (0: none given).
fn header_snaplen(snaplen: u32) -> u32 {
    if snaplen == 0 { SNAPLEN } else { snaplen }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// `len` rounded up to a multiple of 4 (pcapng blocks).
fn padded(len: u64) -> u64 {
    len.div_ceil(4) * 4
}

impl<W: Write> SaveWriter<W> {
    /// Writes the file header to `out`: for pcap, every interface of `ifaces` must have one
    /// link type (the file's; its snapshot length is their largest); for pcapng, each interface
    /// of `ifaces` is described, in order (the same id once).
    pub fn new(out: W, format: Format, ifaces: &[Iface]) -> io::Result<SaveWriter<W>> {
        Self::with_precision(out, format, ifaces, false)
    }

    /// [`SaveWriter::new`], with timestamps in microseconds when `micro` (every packet's must
    /// then be a whole number of microseconds: the input's precision).
    pub fn with_precision(
        out: W,
        format: Format,
        ifaces: &[Iface],
        micro: bool,
    ) -> io::Result<SaveWriter<W>> {
        let mut w = SaveWriter {
            out,
            format,
            links: Vec::new(),
            keys: HashMap::new(),
            bytes: 0,
            packets: 0,
            micro,
        };
        match format {
            Format::Pcap => {
                let link = match ifaces {
                    [first, rest @ ..] if rest.iter().all(|i| i.link == first.link) => first.link,
                    _ => {
                        let mut links: Vec<LinkType> = ifaces.iter().map(|i| i.link).collect();
                        links.dedup();
                        return Err(invalid(format!(
                            "a pcap file has one link type, not {}",
                            links.len()
                        )));
                    }
                };
                let snaplen = ifaces.iter().map(|i| header_snaplen(i.snaplen)).max();
                let mut h = Vec::with_capacity(PCAP_HEADER as usize);
                h.extend(if micro { PCAP_MICRO_MAGIC } else { PCAP_NANO_MAGIC }.to_ne_bytes());
                h.extend(2u16.to_ne_bytes());
                h.extend(4u16.to_ne_bytes());
                h.extend(0i32.to_ne_bytes()); // thiszone
                h.extend(0u32.to_ne_bytes()); // sigfigs
                h.extend(snaplen.unwrap_or(SNAPLEN).to_ne_bytes());
                h.extend(link.0.to_ne_bytes());
                w.put(&h)?;
                w.links.push(link);
            }
            Format::Pcapng => {
                let app = concat!("wsscope ", env!("CARGO_PKG_VERSION")).as_bytes();
                let mut body = Vec::new();
                body.extend(BYTE_ORDER_MAGIC.to_ne_bytes());
                body.extend(1u16.to_ne_bytes());
                body.extend(0u16.to_ne_bytes());
                body.extend((-1i64).to_ne_bytes()); // section length: not given
                // shb_userappl, then opt_endofopt.
                push_option(&mut body, 4, app);
                body.extend([0u8; 4]);
                w.block(SHB, &body)?;
                for iface in ifaces {
                    if !w.keys.contains_key(&key(Some(iface), iface.link)) {
                        w.describe(Some(iface), iface.link)?;
                    }
                }
            }
        }
        Ok(w)
    }

    /// Whether a packet of link type `link` can go in this file (pcap: only the file's).
    pub fn accepts(&self, link: LinkType) -> bool {
        self.format == Format::Pcapng || self.links.first() == Some(&link)
    }

    /// The link type of a pcap file (the first interface's for pcapng).
    pub fn link(&self) -> Option<LinkType> {
        self.links.first().copied()
    }

    /// Bytes written so far, headers included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The bytes writing `p` would add (with the interface block a new link type needs).
    pub fn record_len(&self, p: &RawPacket<'_>) -> u64 {
        let caplen = p.data.len() as u64;
        match self.format {
            Format::Pcap => PCAP_RECORD + caplen,
            Format::Pcapng => {
                let idb = if self.keys.contains_key(&key(p.iface, p.link)) {
                    0
                } else {
                    idb_len(p.iface)
                };
                idb + EPB_FIXED + padded(caplen)
            }
        }
    }

    /// Writes `p`. A packet the file cannot hold (another link type in a pcap file, see
    /// [`SaveWriter::accepts`]; more than 4 GiB) is an `InvalidInput` error, nothing written.
    pub fn write(&mut self, p: &RawPacket<'_>) -> io::Result<()> {
        let caplen = u32::try_from(p.data.len())
            .map_err(|_| invalid(format!("packet {} is too long to save", p.number)))?;
        let nanos = p.ts.as_nanos();
        // In microseconds, what the input had (a finer timestamp would be cut: never, as the
        // writer is only asked for microseconds by an input that has no finer ones).
        let (unit, per_sec) = if self.micro { (1_000, 1_000_000) } else { (1, 1_000_000_000) };
        let ticks = nanos.div_euclid(unit);
        match self.format {
            Format::Pcap => {
                if !self.accepts(p.link) {
                    return Err(invalid(format!(
                        "packet {} has link type {}; a pcap file has one",
                        p.number, p.link
                    )));
                }
                let mut h = [0u8; PCAP_RECORD as usize];
                // 32-bit seconds, as libpcap writes them (a time before 1970 reads back
                // negative: libpcap reads the field signed in the host's byte order).
                let secs = ticks.div_euclid(per_sec) as u32;
                let frac = ticks.rem_euclid(per_sec) as u32;
                h[0..4].copy_from_slice(&secs.to_ne_bytes());
                h[4..8].copy_from_slice(&frac.to_ne_bytes());
                h[8..12].copy_from_slice(&caplen.to_ne_bytes());
                h[12..16].copy_from_slice(&p.wire_len.to_ne_bytes());
                self.put(&h)?;
                self.put(p.data)?;
            }
            Format::Pcapng => {
                let interface = match self.keys.get(&key(p.iface, p.link)) {
                    Some(i) => *i,
                    None => self.describe(p.iface, p.link)?,
                };
                let ts = u64::try_from(ticks).unwrap_or(0);
                let mut body = Vec::with_capacity(20 + padded(u64::from(caplen)) as usize);
                body.extend(interface.to_ne_bytes());
                body.extend(((ts >> 32) as u32).to_ne_bytes());
                body.extend((ts as u32).to_ne_bytes());
                body.extend(caplen.to_ne_bytes());
                body.extend(p.wire_len.to_ne_bytes());
                body.extend(p.data);
                body.resize(padded(body.len() as u64) as usize, 0);
                self.block(EPB, &body)?;
            }
        }
        self.packets += 1;
        Ok(())
    }

    /// The bytes [`SaveWriter::secrets`] adds for `text`.
    pub fn secrets_len(&self, text: &[u8]) -> u64 {
        if self.format == Format::Pcap || text.is_empty() {
            return 0;
        }
        12 + 8 + padded(text.len() as u64)
    }

    /// Writes TLS secrets (NSS key log text) as a Decryption Secrets Block, which tshark and
    /// wsscope read to decrypt the packets after it (pcapng; a pcap file cannot hold them:
    /// nothing is written, and false returned).
    pub fn secrets(&mut self, text: &[u8]) -> io::Result<bool> {
        if self.format == Format::Pcap || text.is_empty() {
            return Ok(false);
        }
        let len =
            u32::try_from(text.len()).map_err(|_| invalid("TLS secrets over 4 GiB".to_string()))?;
        let mut body = Vec::with_capacity(8 + padded(text.len() as u64) as usize);
        body.extend(SECRETS_TLS.to_ne_bytes());
        body.extend(len.to_ne_bytes());
        body.extend(text);
        body.resize(padded(body.len() as u64) as usize, 0);
        self.block(DSB, &body)?;
        Ok(true)
    }

    /// Gives the output back, not flushed: a failed flush must not lose it (a `BufWriter`
    /// flushes in its own `into_inner` and gives the writer back when that fails).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Appends an interface description block for `iface` (pcapng), or for `link` when the
    /// input describes no interface; returns the file's number for it.
    fn describe(&mut self, iface: Option<&Iface>, link: LinkType) -> io::Result<u32> {
        let code = u16::try_from(link.0)
            .map_err(|_| invalid(format!("link type {link} does not fit a pcapng interface")))?;
        let mut body = Vec::with_capacity(idb_len(iface) as usize - 12);
        body.extend(code.to_ne_bytes());
        body.extend(0u16.to_ne_bytes());
        // The snapshot length (0: no limit, as pcapng says).
        body.extend(iface.map_or(0, |i| i.snaplen).to_ne_bytes());
        if let Some(name) = name_of(iface) {
            push_option(&mut body, 2, name); // if_name
        }
        push_option(&mut body, 9, &[if self.micro { 6 } else { 9 }]); // if_tsresol: 10^-r s
        body.extend([0u8; 4]); // opt_endofopt
        self.block(IDB, &body)?;
        let i = self.links.len() as u32;
        self.links.push(link);
        self.keys.insert(key(iface, link), i);
        Ok(i)
    }

    /// Writes a pcapng block around `body` (whose length is a multiple of 4).
    fn block(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        let len = u32::try_from(body.len() + 12)
            .map_err(|_| invalid("a pcapng block over 4 GiB".to_string()))?;
        let mut b = Vec::with_capacity(body.len() + 12);
        b.extend(kind.to_ne_bytes());
        b.extend(len.to_ne_bytes());
        b.extend(body);
        b.extend(len.to_ne_bytes());
        self.put(&b)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

/// The length of the interface description block of `iface`.
fn idb_len(iface: Option<&Iface>) -> u64 {
    IDB_LEN + name_of(iface).map_or(0, |n| 4 + padded(n.len() as u64))
}

/// The `if_name` written for `iface`: its name, at most [`super::MAX_IFACE_NAME`] bytes (an option's length
/// has 16 bits; a name from a crafted input may be longer once made valid UTF-8).
fn name_of(iface: Option<&Iface>) -> Option<&[u8]> {
    Some(super::cut_iface_name(iface?.name.as_deref()?).as_bytes())
}

/// Appends a pcapng option (code, length, value padded to 4 bytes).
fn push_option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    debug_assert!(value.len() <= usize::from(u16::MAX), "an option of {} bytes", value.len());
    body.extend(code.to_ne_bytes());
    body.extend((value.len() as u16).to_ne_bytes());
    body.extend(value);
    body.resize(padded(body.len() as u64) as usize, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{EndOfInput, FileSource, MAX_IFACE_NAME, Next, PacketSource};
    use crate::time::Timestamp;
    use std::path::PathBuf;

    type Packet = (i64, u32, Vec<u8>, LinkType);

    fn packets() -> Vec<Packet> {
        let eth = LinkType(1);
        let sll2 = LinkType(276);
        vec![
            (1_700_000_000_123_456_789, 60, (0..60).collect(), eth),
            (1_700_000_001_000_000_001, 1514, (0..61).map(|i| i as u8 ^ 0x5a).collect(), eth),
            (1_700_000_002_999_999_999, 0, Vec::new(), eth),
            (1_700_000_003_000_000_000, 70, vec![7; 63], sll2),
            (1_700_000_004_000_000_007, 64, vec![9; 64], eth),
        ]
    }

    fn write(format: Format, packets: &[Packet], links: &[LinkType]) -> Vec<u8> {
        write_in(format, packets, links, false)
    }

    fn write_in(format: Format, packets: &[Packet], links: &[LinkType], micro: bool) -> Vec<u8> {
        let ifaces = Iface::of_links(links);
        let mut w = SaveWriter::with_precision(Vec::new(), format, &ifaces, micro).unwrap();
        for (i, (ts, len, data, link)) in packets.iter().enumerate() {
            let p = RawPacket {
                number: i as u64 + 1,
                ts: Timestamp::from_nanos(*ts),
                wire_len: *len,
                data,
                link: *link,
                iface: None,
                secrets: &[],
                file_offset: None,
            };
            let before = w.bytes();
            let expected = w.record_len(&p);
            w.write(&p).unwrap();
            assert_eq!(w.bytes() - before, expected, "record_len of packet {}", i + 1);
        }
        assert_eq!(w.packets(), packets.len() as u64);
        w.into_inner()
    }

    fn save(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read(mut source: FileSource) -> Vec<Packet> {
        let mut out = Vec::new();
        loop {
            match source.next_packet() {
                Next::Packet(p) => {
                    out.push((p.ts.as_nanos(), p.wire_len, p.data.to_vec(), p.link));
                }
                Next::Timeout => {}
                Next::End(e) => {
                    assert_eq!(e, EndOfInput::Clean);
                    return out;
                }
            }
        }
    }

    /// Reads with libpcap through the `pcap` crate (not through our readers).
    fn read_libpcap(path: &Path) -> Vec<Packet> {
        let mut cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).unwrap();
        let link = LinkType(cap.get_datalink().0 as u32);
        let mut out = Vec::new();
        loop {
            match cap.next_packet() {
                Ok(p) => out.push((
                    p.header.ts.tv_sec * 1_000_000_000 + p.header.ts.tv_usec,
                    p.header.len,
                    p.data.to_vec(),
                    link,
                )),
                Err(pcap::Error::NoMorePackets) => return out,
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(Format::for_path(Path::new("a/ws.pcapng")), Format::Pcapng);
        assert_eq!(Format::for_path(Path::new("WS.PCAPNG")), Format::Pcapng);
        for name in ["ws.pcap", "ws", "ws.pcapng.gz", ".pcapng", "ws.cap"] {
            assert_eq!(Format::for_path(Path::new(name)), Format::Pcap, "{name}");
        }
    }

    #[test]
    fn pcap_reads_back_identical_with_our_reader_and_libpcap() {
        let dir = tempfile::tempdir().unwrap();
        let eth: Vec<Packet> = packets().into_iter().filter(|p| p.3 == LinkType(1)).collect();
        let bytes = write(Format::Pcap, &eth, &[LinkType(1)]);
        assert_eq!(&bytes[..4], &PCAP_NANO_MAGIC.to_ne_bytes());
        assert_eq!(bytes.len() as u64, 24 + eth.iter().map(|p| 16 + p.2.len() as u64).sum::<u64>());
        let path = save(&dir, "w.pcap", &bytes);
        assert_eq!(read(FileSource::open(&path, None).unwrap()), eth);
        assert_eq!(read(FileSource::open_libpcap(&path, None).unwrap()), eth);
        assert_eq!(read_libpcap(&path), eth);
    }

    /// An input in microseconds is saved in microseconds: the file reads back to the same
    /// decimals (a report of it shows what the input's did), and every timestamp as it was.
    #[test]
    fn an_input_in_microseconds_is_saved_in_microseconds() {
        let dir = tempfile::tempdir().unwrap();
        let micro: Vec<Packet> = packets()
            .into_iter()
            .map(|(ts, len, data, link)| (ts / 1000 * 1000, len, data, link))
            .collect();
        let eth: Vec<Packet> = micro.iter().filter(|p| p.3 == LinkType(1)).cloned().collect();
        let bytes = write_in(Format::Pcap, &eth, &[LinkType(1)], true);
        assert_eq!(&bytes[..4], &PCAP_MICRO_MAGIC.to_ne_bytes());
        let path = save(&dir, "w.pcap", &bytes);
        let source = FileSource::open(&path, None).unwrap();
        assert_eq!(source.ts_decimals(), 6);
        assert_eq!(read(source), eth);
        assert_eq!(read_libpcap(&path), eth);
        let links = [LinkType(1), LinkType(276)];
        let path = save(&dir, "w.pcapng", &write_in(Format::Pcapng, &micro, &links, true));
        let source = FileSource::open(&path, None).unwrap();
        assert_eq!(source.ts_decimals(), 6);
        assert_eq!(read(source), micro);
    }

    /// Interfaces keep their names, snapshot lengths and packets, also two of one link type;
    /// a pcap file's header gives the input's snapshot length.
    #[test]
    fn interfaces_keep_their_names_snapshot_lengths_and_packets() {
        let dir = tempfile::tempdir().unwrap();
        let named = |id: u32, link: u32, name: &str, snaplen: u32| Iface {
            id,
            link: LinkType(link),
            name: Some(name.to_string()),
            snaplen,
        };
        let ifaces =
            [named(0, 1, "eth0", 65535), named(1, 1, "eth1", 120), named(2, 276, "any", 0)];
        // eth1 is described by its first packet, not up front.
        let mut w = SaveWriter::new(Vec::new(), Format::Pcapng, &[ifaces[0].clone()]).unwrap();
        let data: Vec<u8> = (0..60).collect();
        let on = [0usize, 1, 2, 1, 0];
        for (n, &i) in on.iter().enumerate() {
            let p = RawPacket {
                number: n as u64 + 1,
                ts: Timestamp::from_nanos(1_700_000_000_000_000_000 + n as i64),
                wire_len: 60,
                data: &data,
                link: ifaces[i].link,
                iface: Some(&ifaces[i]),
                secrets: &[],
                file_offset: None,
            };
            let (before, expected) = (w.bytes(), w.record_len(&p));
            w.write(&p).unwrap();
            assert_eq!(w.bytes() - before, expected, "record_len of packet {}", n + 1);
        }
        let path = save(&dir, "w.pcapng", &w.into_inner());
        let mut source = FileSource::open(&path, None).unwrap();
        let mut seen = Vec::new();
        while let Next::Packet(p) = source.next_packet() {
            seen.push(p.iface.map(|i| i.id));
        }
        // Ids in the order the file describes them: eth0, eth1 (at its first packet), any.
        assert_eq!(seen, [Some(0), Some(1), Some(2), Some(1), Some(0)]);
        let back: Vec<(Option<String>, u32, LinkType)> =
            source.interfaces().into_iter().map(|i| (i.name, i.snaplen, i.link)).collect();
        let want: Vec<_> = ifaces.iter().map(|i| (i.name.clone(), i.snaplen, i.link)).collect();
        // The reader takes a snapshot length of 0 as libpcap's largest.
        assert_eq!(back[..2], want[..2]);
        assert_eq!((back[2].0.as_deref(), back[2].2), (Some("any"), LinkType(276)));

        let pcap = SaveWriter::new(Vec::new(), Format::Pcap, &ifaces[..2]).unwrap().into_inner();
        assert_eq!(&pcap[16..20], &65535u32.to_ne_bytes(), "the largest of the interfaces'");
        let unknown = SaveWriter::new(Vec::new(), Format::Pcap, &Iface::of_links(&[LinkType(1)]));
        assert_eq!(&unknown.unwrap().into_inner()[16..20], &SNAPLEN.to_ne_bytes());
    }

    /// A name longer than an option can say (from a crafted input, once made valid UTF-8) is
    /// cut at a character boundary, and the block still reads back.
    #[test]
    fn a_long_interface_name_is_cut_and_the_file_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let long =
            Iface { id: 0, link: LinkType(1), name: Some("é\u{fffd}".repeat(30_000)), snaplen: 0 };
        let bytes = SaveWriter::new(Vec::new(), Format::Pcapng, &[long]).unwrap().into_inner();
        let path = save(&dir, "long.pcapng", &bytes);
        let source = FileSource::open(&path, None).unwrap();
        let name = source.interfaces()[0].name.clone().unwrap();
        assert!(name.len() <= MAX_IFACE_NAME && name.len() > MAX_IFACE_NAME - 4, "{}", name.len());
        assert!(name.starts_with("é\u{fffd}é"));
    }

    #[test]
    fn pcap_refuses_a_second_link_type_and_writes_nothing() {
        let mut w =
            SaveWriter::new(Vec::new(), Format::Pcap, &Iface::of_links(&[LinkType(1)])).unwrap();
        let p = RawPacket {
            number: 1,
            ts: Timestamp::from_nanos(0),
            wire_len: 4,
            data: &[1, 2, 3, 4],
            link: LinkType(276),
            iface: None,
            secrets: &[],
            file_offset: None,
        };
        assert!(!w.accepts(p.link));
        assert_eq!(w.write(&p).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.into_inner().len(), 24);
        assert!(SaveWriter::new(Vec::new(), Format::Pcap, &[]).is_err());
        assert!(
            SaveWriter::new(
                Vec::new(),
                Format::Pcap,
                &Iface::of_links(&[LinkType(1), LinkType(276)])
            )
            .is_err()
        );
    }

    #[test]
    fn pcapng_keeps_each_packets_link_type_and_reads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let all = packets();
        // Ethernet described up front, LINUX_SLL2 when its first packet comes.
        let bytes = write(Format::Pcapng, &all, &[LinkType(1)]);
        let path = save(&dir, "w.pcapng", &bytes);
        assert_eq!(read(FileSource::open(&path, None).unwrap()), all);
        // libpcap reads one link type per file: the Ethernet-only file, there.
        let eth: Vec<Packet> = all.iter().filter(|p| p.3 == LinkType(1)).cloned().collect();
        let path = save(&dir, "eth.pcapng", &write(Format::Pcapng, &eth, &[LinkType(1)]));
        assert_eq!(read(FileSource::open(&path, None).unwrap()), eth);
        assert_eq!(read(FileSource::open_libpcap(&path, None).unwrap()), eth);
        assert_eq!(read_libpcap(&path), eth);
    }

    #[test]
    fn pcapng_without_packets_still_describes_its_interfaces() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = write(Format::Pcapng, &[], &[LinkType(1), LinkType(1), LinkType(276)]);
        assert_eq!(bytes.len() % 4, 0);
        let path = save(&dir, "empty.pcapng", &bytes);
        let source = FileSource::open(&path, None).unwrap();
        assert_eq!(source.link_types(), [LinkType(1), LinkType(276)]);
        assert!(read(source).is_empty());
    }

    #[test]
    fn times_before_1970_are_kept_by_pcap_and_clamped_by_pcapng() {
        let dir = tempfile::tempdir().unwrap();
        let old = vec![(-1_500_000_000i64, 4, vec![1, 2, 3, 4], LinkType(1))];
        let path = save(&dir, "old.pcap", &write(Format::Pcap, &old, &[LinkType(1)]));
        assert_eq!(read_libpcap(&path)[0].0, -1_500_000_000);
        let path = save(&dir, "old.pcapng", &write(Format::Pcapng, &old, &[LinkType(1)]));
        assert_eq!(read_libpcap(&path)[0].0, 0);
    }
}
