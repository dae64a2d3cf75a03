//! Classic pcap files read in large blocks, without libpcap's per-packet `fread` calls.
//!
//! libpcap reads a record with two `fread`s through a small stdio buffer: about an eighth of
//! `wsscope report`'s time on a large capture, and most of the reading thread's time with
//! `--threads`. This reader fills a 1 MiB buffer with `read(2)` and hands out records in place
//! (records are parsed by `pcap-parser`). It is used only where it gives the same packets as
//! libpcap 1.10: a regular file whose header libpcap already accepted, magic `a1b2c3d4` or
//! `a1b23c4d` in either byte order, version 2.4, and no BPF filter. Everything else (pcapng,
//! standard input and pipes, older versions, the "modified" format, filters, Linux cooked
//! captures in the other byte order, whose CAN headers libpcap rewrites) stays with libpcap.
//!
//! libpcap's rules are kept record by record:
//! - timestamps are 32-bit seconds and (micro|nano)seconds, signed in the host's byte order and
//!   unsigned in the other, microseconds scaled to nanoseconds;
//! - a record longer than the file's snapshot length (0 or over `INT_MAX` means 262,144) keeps
//!   its first snapshot-length bytes;
//! - a record longer than 262,144 bytes ends the file with libpcap's message;
//! - a file that ends inside a record ends with libpcap's "truncated dump file" message.
//!
//! `tests::same_as_libpcap` compares both readers on every capture in `testdata/` and on
//! damaged files.

use super::{EndOfInput, Iface, Next, RawPacket};
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// libpcap's `MAXIMUM_SNAPLEN`, the largest record it reads for the link types wsscope decodes
/// (the live snapshot length of `-s 0` too).
const MAX_SNAPLEN: u32 = super::MAX_SNAPLEN as u32;
/// Bytes read per `read(2)`; at least one largest record plus its header.
const BUFFER: usize = 1 << 20;
/// Length of the file header.
const FILE_HEADER: usize = 24;
/// Length of a record header.
const RECORD_HEADER: usize = 16;

/// What the file header says, when this reader can take the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Format {
    link: LinkType,
    big_endian: bool,
    nanos: bool,
    /// The snapshot length as libpcap adjusts it.
    snapshot: u32,
}

impl Format {
    /// The decimals of a second the timestamps carry: 9 for nanoseconds, else 6.
    pub(super) fn ts_decimals(&self) -> u8 {
        if self.nanos { 9 } else { 6 }
    }

    /// The 32-bit number at `at` in `bytes` (at least `at + 4` long), in the file's byte order.
    #[inline]
    fn word(&self, bytes: &[u8], at: usize) -> u32 {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    }

    /// Reads the header of `file`, a regular file libpcap opened as `link`: `Some` for a classic
    /// pcap file, version 2.4, in either byte order and either timestamp precision, whose packets
    /// libpcap passes on unchanged. The file is left at its start.
    pub(super) fn probe(file: &mut File, link: LinkType) -> Option<Format> {
        // Reading from a pipe would take bytes libpcap has not read yet.
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut header = [0u8; FILE_HEADER];
        file.read_exact(&mut header).ok()?;
        file.seek(SeekFrom::Start(0)).ok()?;
        let format = Format::parse(&header, link)?;
        // In files of the other byte order, libpcap byte-swaps the CAN identifier of Linux cooked
        // captures (`swap_pseudo_headers`); leave those files to it.
        let swapped = format.big_endian != cfg!(target_endian = "big");
        if swapped && matches!(link, LinkType::LINUX_SLL | LinkType::LINUX_SLL2) {
            return None;
        }
        Some(format)
    }

    fn parse(header: &[u8; FILE_HEADER], link: LinkType) -> Option<Format> {
        let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let (big_endian, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            _ => return None,
        };
        let word = |at: usize| {
            let b = [header[at], header[at + 1], header[at + 2], header[at + 3]];
            if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
        };
        let version = word(4);
        let (major, minor) = if big_endian {
            (version >> 16, version & 0xffff)
        } else {
            (version & 0xffff, version >> 16)
        };
        if (major, minor) != (2, 4) {
            return None;
        }
        let snaplen = word(16);
        // libpcap's `pcap_adjust_snapshot`: only 0 and lengths over `INT_MAX` are replaced.
        let snapshot =
            if snaplen == 0 || snaplen > i32::MAX as u32 { MAX_SNAPLEN } else { snaplen };
        Some(Format { link, big_endian, nanos, snapshot })
    }
}

/// Reads the records of a classic pcap file.
pub(super) struct ClassicReader {
    reader: LegacyPcapReader<File>,
    format: Format,
    /// Bytes of the record handed out last, consumed at the next call.
    pending: usize,
    /// The file again, to read records' bytes back at their offsets.
    reread: Option<std::sync::Arc<File>>,
    number: u64,
    ended: bool,
    /// The file's one interface.
    iface: Iface,
    /// Whether the buffer has its full size ([`BUFFER`]).
    grown: bool,
}

/// What the buffer holds at its front.
enum Front {
    Record,
    Skip(usize),
    End(EndOfInput),
}

impl ClassicReader {
    /// Reads `file`, whose header [`Format::probe`] read as `format`, from its start.
    pub(super) fn new(file: File, format: Format) -> std::io::Result<ClassicReader> {
        // A second descriptor of the same file: reads at an offset (`pread`) do not move the
        // reader's position.
        let reread = file.try_clone().ok().map(std::sync::Arc::new);
        let capacity = super::reader_buffer(&file, 4096, BUFFER);
        let reader = LegacyPcapReader::new(capacity, file)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
        let iface = Iface { id: 0, link: format.link, name: None, snaplen: format.snapshot };
        let grown = capacity == BUFFER;
        Ok(ClassicReader {
            reader,
            format,
            pending: 0,
            reread,
            number: 0,
            ended: false,
            iface,
            grown,
        })
    }

    /// The file, for reading packets' bytes again at their `file_offset`.
    pub(super) fn reread(&self) -> Option<std::sync::Arc<File>> {
        self.reread.clone()
    }

    /// The file's one interface: its link type and snapshot length.
    pub(super) fn iface(&self) -> &Iface {
        &self.iface
    }

    /// The decimals of a second the file's timestamps carry.
    pub(super) fn ts_decimals(&self) -> u8 {
        self.format.ts_decimals()
    }

    /// The next record, or how the file ended.
    pub(super) fn next_packet(&mut self) -> Next<'_> {
        if self.ended {
            return Next::End(EndOfInput::Clean);
        }
        if self.pending > 0 {
            self.reader.consume_noshift(self.pending);
            self.pending = 0;
        }
        // Most records are whole in the buffer: read their header here, once. Everything else
        // (refills, the file header, errors, the end) goes through pcap-parser in `front`.
        let caplen = match self.whole_record() {
            Some(caplen) => caplen,
            None => {
                loop {
                    match self.front() {
                        Front::Record => break,
                        Front::Skip(n) => self.reader.consume_noshift(n),
                        Front::End(end) => {
                            self.ended = true;
                            return Next::End(end);
                        }
                    }
                }
                let Some(caplen) = self.whole_record() else {
                    // `front` just found a whole record.
                    self.ended = true;
                    return Next::End(EndOfInput::Clean);
                };
                caplen
            }
        };
        let format = self.format;
        // The reader started at the file's first byte: what it consumed is where the record is.
        let at = (self.reader.consumed() + RECORD_HEADER) as u64;
        self.pending = RECORD_HEADER + caplen;
        self.number += 1;
        let data = self.reader.data();
        let mut p =
            packet(self.number, &data[..RECORD_HEADER], &data[RECORD_HEADER..][..caplen], format);
        p.file_offset = Some(at);
        p.iface = Some(&self.iface);
        Next::Packet(p)
    }

    /// The captured length of the record at the front of the buffer when the whole record is
    /// there and libpcap would read it (what pcap-parser's record parser then gives).
    #[inline]
    fn whole_record(&self) -> Option<usize> {
        let caplen = self.record_caplen().filter(|&c| c <= MAX_SNAPLEN)? as usize;
        (self.reader.data().len() >= RECORD_HEADER + caplen).then_some(caplen)
    }

    /// Makes sure a whole record is at the front of the buffer, refilling it as needed.
    fn front(&mut self) -> Front {
        // Each refill either adds bytes or marks the file exhausted, after which `next` gives a
        // final answer; the bound only guards against a reader that keeps returning nothing.
        for _ in 0..1_000_000 {
            if let Some(caplen) = self.record_caplen()
                && caplen > MAX_SNAPLEN
            {
                let snapshot = self.format.snapshot;
                return Front::End(truncated(if caplen > snapshot {
                    format!(
                        "invalid packet capture length {caplen}, bigger than snaplen of {snapshot}"
                    )
                } else {
                    format!(
                        "invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}"
                    )
                }));
            }
            match self.reader.next() {
                Ok((_, PcapBlockOwned::Legacy(_))) => return Front::Record,
                Ok((offset, _)) => return Front::Skip(offset),
                Err(PcapError::Eof) => return Front::End(EndOfInput::Clean),
                Err(PcapError::Incomplete(_)) => {
                    if self.reader.refill().is_err() {
                        return Front::End(truncated("error reading dump file".to_string()));
                    }
                }
                // Started small for a small file that has grown since: the full size holds
                // any record libpcap reads.
                Err(PcapError::BufferTooSmall) if !self.grown => {
                    self.grown = true;
                    if !self.reader.grow(BUFFER) {
                        return Front::End(truncated("error reading dump file".to_string()));
                    }
                }
                Err(PcapError::UnexpectedEof) => return Front::End(self.cut_short()),
                Err(PcapError::ReadError) => {
                    return Front::End(truncated("error reading dump file".to_string()));
                }
                Err(e) => return Front::End(truncated(format!("{e:?}"))),
            }
        }
        Front::End(truncated("error reading dump file: no progress".to_string()))
    }

    /// The captured length in the record header at the front, when the header is there.
    fn record_caplen(&self) -> Option<u32> {
        if self.reader.consumed() == 0 {
            return None;
        }
        // libpcap reads the whole record header before it looks at the length.
        let h = self.reader.data().get(..RECORD_HEADER)?;
        Some(self.format.word(h, 8))
    }

    /// libpcap's message for a file that ends inside a record.
    fn cut_short(&self) -> EndOfInput {
        let have = self.reader.data().len();
        let Some(caplen) = self.record_caplen().filter(|_| have >= RECORD_HEADER) else {
            return truncated(format!(
                "truncated dump file; tried to read {RECORD_HEADER} header bytes, only got {have}"
            ));
        };
        let got = have - RECORD_HEADER;
        let snapshot = self.format.snapshot;
        let message = if caplen > snapshot && got < snapshot as usize {
            format!("truncated dump file; tried to read {snapshot} captured bytes, only got {got}")
        } else {
            format!("truncated dump file; tried to read {caplen} captured bytes, only got {got}")
        };
        truncated(message)
    }
}

/// The end of input libpcap reports, with the prefix the `pcap` crate gives its messages.
fn truncated(message: String) -> EndOfInput {
    EndOfInput::Truncated { message: format!("libpcap error: {message}") }
}

/// The record whose 16-byte header is `header` and whose captured bytes are `data`.
fn packet<'a>(number: u64, header: &[u8], data: &'a [u8], format: Format) -> RawPacket<'a> {
    let (ts_sec, ts_usec, origlen) =
        (format.word(header, 0), format.word(header, 4), format.word(header, 12));
    // libpcap 1.10 reads both timestamp fields as signed 32-bit numbers, but its byte swap for
    // files written in the other byte order yields unsigned ones.
    let (secs, fraction) = if format.big_endian == cfg!(target_endian = "big") {
        (i64::from(ts_sec as i32), i64::from(ts_usec as i32))
    } else {
        (i64::from(ts_sec), i64::from(ts_usec))
    };
    let nanos = if format.nanos { fraction } else { fraction * 1000 };
    let keep = data.len().min(format.snapshot as usize);
    RawPacket {
        number,
        ts: Timestamp::from_secs_nanos(secs, nanos),
        wire_len: origlen,
        data: &data[..keep],
        link: format.link,
        iface: None,
        secrets: &[],
        file_offset: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{FileSource, PacketSource};
    use std::path::{Path, PathBuf};

    /// Every packet (number, timestamp, wire length, bytes) and how the input ended.
    type Reading = (Vec<(u64, i64, u32, Vec<u8>)>, EndOfInput);

    fn read_all(mut source: FileSource) -> Reading {
        let mut packets = Vec::new();
        // A bounded loop: the test files hold far fewer packets.
        for _ in 0..10_000_000 {
            match source.next_packet() {
                Next::Packet(p) => {
                    packets.push((p.number, p.ts.as_nanos(), p.wire_len, p.data.to_vec()))
                }
                Next::Timeout => {}
                Next::End(end) => return (packets, end),
            }
        }
        panic!("no end of input");
    }

    /// Reads `path` with both readers; asserts the classic reader was chosen and agrees.
    fn assert_same(path: &Path) -> Reading {
        let classic = FileSource::open(path, None).unwrap();
        assert!(matches!(classic.reader, super::super::file::Reader::Classic(_)), "{path:?}");
        let ours = read_all(classic);
        let libpcap = read_all(FileSource::open_libpcap(path, None).unwrap());
        assert_eq!(ours.0.len(), libpcap.0.len(), "{path:?}: packet count");
        for (a, b) in ours.0.iter().zip(&libpcap.0) {
            assert_eq!(a, b, "{path:?}: packet {}", b.0);
        }
        assert_eq!(ours.1, libpcap.1, "{path:?}: end of input");
        ours
    }

    fn testdata_pcaps() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures");
        let mut files = Vec::new();
        for dir in ["real", "crafted", "derived"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "pcap") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// A pcap file: header fields, then records of (seconds, fraction, caplen, wire length, data).
    struct Builder {
        big_endian: bool,
        bytes: Vec<u8>,
    }

    impl Builder {
        fn new(big_endian: bool, nanos: bool, snaplen: u32) -> Builder {
            let mut b = Builder { big_endian, bytes: Vec::new() };
            b.word(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
            b.half(2);
            b.half(4);
            b.word(0);
            b.word(0);
            b.word(snaplen);
            b.word(1);
            b
        }
        fn word(&mut self, v: u32) {
            let bytes = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            self.bytes.extend_from_slice(&bytes);
        }
        fn half(&mut self, v: u16) {
            let bytes = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            self.bytes.extend_from_slice(&bytes);
        }
        fn record(&mut self, secs: u32, fraction: u32, caplen: u32, wire: u32, data: &[u8]) {
            self.word(secs);
            self.word(fraction);
            self.word(caplen);
            self.word(wire);
            self.bytes.extend_from_slice(data);
        }
        fn write(&self, dir: &tempfile::TempDir, name: &str) -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, &self.bytes).unwrap();
            path
        }
    }

    fn ethernet_frame(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn a_small_file_that_grows_a_record_larger_than_its_first_buffer_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Builder::new(false, false, 262_144);
        b.record(1, 0, 60, 60, &ethernet_frame(60));
        let path = b.write(&dir, "growing.pcap");
        let source = FileSource::open(&path, None).unwrap();
        assert!(matches!(&source.reader, super::super::file::Reader::Classic(_)));
        // tcpdump appends while wsscope reads: a record far beyond the small file's buffer.
        let big = ethernet_frame(200_000);
        let mut more = Builder { big_endian: false, bytes: Vec::new() };
        more.record(2, 0, 200_000, 200_000, &big);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, &more.bytes).unwrap();
        drop(f);
        let (packets, end) = read_all(source);
        assert_eq!(end, EndOfInput::Clean);
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[1].3, big);
    }

    #[test]
    fn same_as_libpcap_on_every_classic_capture_in_testdata() {
        let files = testdata_pcaps();
        assert!(files.len() >= 30, "{} captures", files.len());
        let mut packets = 0;
        for path in &files {
            packets += assert_same(path).0.len();
        }
        assert!(packets > 1000, "{packets} packets");
    }

    #[test]
    fn every_packet_s_file_offset_is_where_its_bytes_are() {
        let mut checked = 0;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures");
        // Every pcapng file too (read by wsscope's pcapng reader, see `pcapng.rs`).
        let pcapng =
            ["field/merged-skew-minus", "crafted/multilink", "crafted/pcapng", "tls/tls13-dsb"]
                .map(|name| root.join(format!("{name}.pcapng")));
        for path in testdata_pcaps().into_iter().chain(pcapng) {
            let mut source = FileSource::open(&path, None).unwrap();
            let file = source.reread().expect("a regular classic or pcapng file can be read again");
            for _ in 0..1_000_000 {
                let Next::Packet(p) = source.next_packet() else { break };
                let at = p.file_offset.expect("a classic file's packets carry their offset");
                let mut back = vec![0; p.data.len()];
                assert!(file.read_back(at, &mut back));
                assert_eq!(back, p.data, "{} packet {}", path.display(), p.number);
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked} packets");
    }

    #[test]
    fn same_as_libpcap_on_a_file_cut_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/real/py-basic.pcap");
        let bytes = std::fs::read(src).unwrap();
        let mut ends = std::collections::BTreeSet::new();
        // Every cut in the first 600 bytes and every 37th after: inside file and record headers,
        // inside data, on record boundaries.
        let cuts = (FILE_HEADER..bytes.len().min(600)).chain((600..bytes.len()).step_by(37));
        for cut in cuts {
            let path = dir.path().join("cut.pcap");
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (_, end) = assert_same(&path);
            if let EndOfInput::Truncated { message } = end {
                ends.insert(message.split(',').next().unwrap_or_default().to_string());
            }
        }
        assert!(ends.len() >= 2, "both kinds of truncation seen: {ends:?}");
    }

    #[test]
    fn same_as_libpcap_on_odd_records() {
        let dir = tempfile::tempdir().unwrap();
        for big_endian in [false, true] {
            for nanos in [false, true] {
                let mut b = Builder::new(big_endian, nanos, 100);
                let frame = ethernet_frame(300);
                b.record(1_700_000_000, 999_999, 60, 60, &frame[..60]);
                // Seconds past 2038 and a fraction over one second, as they come.
                b.record(0x8000_0001, 0xffff_fff0, 60, 1514, &frame[..60]);
                // Longer than the snapshot length: libpcap keeps the first 100 bytes.
                b.record(5, 6, 300, 300, &frame);
                // An empty record, then a wire length below the captured length.
                b.record(7, 8, 0, 0, &[]);
                b.record(9, 10, 80, 20, &frame[..80]);
                let name = format!("odd-{big_endian}-{nanos}.pcap");
                let (packets, end) = assert_same(&b.write(&dir, &name));
                assert_eq!(packets.len(), 5);
                assert_eq!(packets[2].3.len(), 100);
                assert_eq!(end, EndOfInput::Clean);
            }
        }
    }

    #[test]
    fn same_as_libpcap_on_impossible_lengths() {
        let dir = tempfile::tempdir().unwrap();
        for (snaplen, caplen) in
            [(0, 262_145), (65_535, 262_145), (300_000, 300_000), (0, u32::MAX)]
        {
            let mut b = Builder::new(false, false, snaplen);
            b.record(1, 2, 60, 60, &ethernet_frame(60));
            b.record(3, 4, caplen, caplen, &ethernet_frame(1000));
            b.record(5, 6, 60, 60, &ethernet_frame(60));
            let (packets, end) = assert_same(&b.write(&dir, "long.pcap"));
            assert_eq!(packets.len(), 1);
            assert!(
                matches!(&end, EndOfInput::Truncated { message } if message.contains("invalid packet capture length")),
                "{end:?}"
            );
        }
        // A large snapshot length with a record that fits: read whole.
        let mut b = Builder::new(false, false, 0);
        b.record(1, 2, 200_000, 200_000, &ethernet_frame(200_000));
        let (packets, _) = assert_same(&b.write(&dir, "big.pcap"));
        assert_eq!(packets[0].3.len(), 200_000);
    }

    #[test]
    fn records_across_many_buffer_refills() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Builder::new(false, true, 262_144);
        // About 5 MB: records of every size up to 60 KB straddle the 1 MiB buffer's end.
        for i in 0..400u32 {
            let len = (i * 7919) % 60_000;
            b.record(i, i, len, len, &ethernet_frame(len as usize));
        }
        let path = b.write(&dir, "many.pcap");
        let (packets, end) = assert_same(&path);
        assert_eq!(packets.len(), 400);
        assert_eq!(end, EndOfInput::Clean);
        assert_offsets(&path, &b.bytes);
    }

    /// Every packet's bytes are in the file at its `file_offset`.
    fn assert_offsets(path: &Path, bytes: &[u8]) {
        let mut source = FileSource::open(path, None).unwrap();
        for _ in 0..1_000_000 {
            let Next::Packet(p) = source.next_packet() else { break };
            let at = p.file_offset.expect("a classic file's packets carry their offset") as usize;
            assert_eq!(&bytes[at..at + p.data.len()], p.data, "{path:?} packet {}", p.number);
        }
    }

    /// Snapshot lengths of the file header: libpcap replaces 0 and those over `i32::MAX`.
    const SNAPLENS: [u32; 9] = [0, 64, 100, 1514, 65_535, 262_144, 262_145, 0x8000_0000, u32::MAX];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Made-up files: either byte order and precision, snapshot lengths libpcap adjusts or
        /// not, records of every size up to past the largest libpcap reads (some across the
        /// 1 MiB buffer's end), cut anywhere after the file header: the same packets and end
        /// as libpcap, every packet's bytes at its offset.
        #[test]
        fn same_as_libpcap_on_made_up_files(
            big_endian in proptest::prelude::any::<bool>(),
            nanos in proptest::prelude::any::<bool>(),
            snaplen in proptest::sample::select(SNAPLENS.to_vec()),
            records in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        0u32..300,
                        0u32..2_000,
                        proptest::sample::select(vec![0u32, 262_143, 262_144, 262_145, 300_000]),
                    ],
                    proptest::prelude::any::<(u32, u32, u32)>(),
                ),
                0..24,
            ),
            cut in proptest::option::of(proptest::prelude::any::<proptest::sample::Index>()),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut b = Builder::new(big_endian, nanos, snaplen);
            for (len, (secs, fraction, wire)) in records {
                b.record(secs, fraction, len, wire, &ethernet_frame(len as usize));
            }
            let mut bytes = b.bytes.clone();
            if let Some(cut) = cut {
                bytes.truncate(FILE_HEADER + cut.index(bytes.len() - FILE_HEADER + 1));
            }
            let path = dir.path().join("made-up.pcap");
            std::fs::write(&path, &bytes).unwrap();
            assert_same(&path);
            assert_offsets(&path, &bytes);
        }
    }

    #[test]
    fn other_formats_are_not_read_as_classic_pcap() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Builder::new(false, false, 65_535);
        b.record(1, 2, 60, 60, &ethernet_frame(60));
        let mut old = b.bytes.clone();
        old[6] = 3; // version 2.3
        let path = dir.path().join("old.pcap");
        std::fs::write(&path, &old).unwrap();
        let probe = |path: &Path, link| Format::probe(&mut File::open(path).unwrap(), link);
        assert_eq!(probe(&path, LinkType::ETHERNET), None);
        let ng =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/crafted/pcapng.pcapng");
        assert_eq!(probe(&ng, LinkType::ETHERNET), None);
        // Linux cooked captures in the other byte order: libpcap rewrites CAN headers.
        let swapped = Builder::new(cfg!(target_endian = "little"), false, 65_535);
        let swapped = swapped.write(&dir, "swapped.pcap");
        assert!(probe(&swapped, LinkType::ETHERNET).is_some());
        assert_eq!(probe(&swapped, LinkType::LINUX_SLL), None);
        assert_eq!(probe(&swapped, LinkType::LINUX_SLL2), None);
        let source = FileSource::open(&ng, None).unwrap();
        assert!(matches!(source.reader, super::super::file::Reader::Pcapng(_)));
        let path = b.write(&dir, "plain.pcap");
        let filtered = FileSource::open(&path, Some("tcp")).unwrap();
        assert!(matches!(filtered.reader, super::super::file::Reader::Libpcap { .. }));
    }

    #[test]
    fn a_fifo_stays_with_libpcap_and_loses_no_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // More than one stdio buffer (4 KiB): libpcap has read ahead when the reader is chosen.
        let mut b = Builder::new(false, false, 65_535);
        for i in 0..200u32 {
            b.record(i, i, 100, 100, &ethernet_frame(100));
        }
        let plain = b.write(&dir, "plain.pcap");
        let fifo = dir.path().join("fifo.pcap");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let bytes = b.bytes.clone();
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || std::fs::write(writer_path, bytes).unwrap());
        let source = FileSource::open(&fifo, None).unwrap();
        assert!(matches!(source.reader, super::super::file::Reader::Libpcap { .. }));
        let from_fifo = read_all(source);
        writer.join().unwrap();
        let from_file = read_all(FileSource::open(&plain, None).unwrap());
        assert_eq!(from_fifo.0.len(), 200);
        assert_eq!(from_fifo, from_file);
    }
}
