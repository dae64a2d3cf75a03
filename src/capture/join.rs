//! Several capture files read as one capture (`--join`): the pieces of a rotated recording
//! (`-w -C`/`-G`, tcpdump's, `editcap -c`) or two capture points (one tap per direction), their
//! packets merged by timestamp as `mergecap` merges them.
//!
//! Guarantees:
//! - Packets come in timestamp order across the files; each file's own packets keep their order
//!   (only the files' next packets are compared, as `mergecap` does); equal timestamps go to the
//!   file given first. So rotated pieces come back as the one recording, in whatever order
//!   they were named (`ws.10.pcap` before `ws.2.pcap`).
//! - Packets are numbered 1, 2, … in that merged order: the numbers of `mergecap -w`'s file.
//! - Interfaces keep their link types, names and snapshot lengths; ids are given in order of
//!   appearance, every file's interfaces after the files' before it at the start.
//! - A file that ends early (cut inside a packet) leaves the others read to their ends; the
//!   input then ends `Truncated`, naming the file.
//! - The retransmission history reads bytes again from the file that holds them: an offset carries
//!   its file's index in its top [`FILE_BITS`] bits.
//!
//! Not done: reading the files in parallel; each packet is copied once out of its file's reader,
//! so that the files' next packets can be compared.

use super::{CaptureStats, EndOfInput, Iface, Next, PacketSource, RawPacket};
use crate::packet::LinkType;
use crate::time::Timestamp;
use std::sync::Arc;

/// Bits of a joined file offset that name the file.
const FILE_BITS: u32 = 16;
/// Bits left for the offset in that file (256 TiB).
const OFFSET_BITS: u32 = 64 - FILE_BITS;

/// A file's next packet, copied out of its reader.
struct Head {
    ts: Timestamp,
    wire_len: u32,
    data: Vec<u8>,
    link: LinkType,
    /// Index into [`Joined::ifaces`].
    iface: Option<usize>,
    secrets: Vec<u8>,
    file_offset: Option<u64>,
}

struct Part {
    source: Box<dyn PacketSource + Send>,
    name: String,
    head: Head,
    /// Whether `head` holds the file's next packet.
    ready: bool,
    /// How the file ended, once it did.
    ended: Option<EndOfInput>,
    /// Its interfaces seen so far, as (its id, index into [`Joined::ifaces`]).
    ifaces: Vec<(u32, usize)>,
}

/// Several files as one input.
pub struct Joined {
    parts: Vec<Part>,
    ifaces: Vec<Iface>,
    /// The part whose head was handed out last: read its next packet before comparing.
    taken: Option<usize>,
    number: u64,
}

impl Joined {
    /// Joins opened files, given with their names for messages.
    pub fn new(sources: Vec<(String, Box<dyn PacketSource + Send>)>) -> Joined {
        let parts = sources
            .into_iter()
            .map(|(name, source)| Part {
                source,
                name,
                head: Head {
                    ts: Timestamp::default(),
                    wire_len: 0,
                    data: Vec::new(),
                    link: LinkType(0),
                    iface: None,
                    secrets: Vec::new(),
                    file_offset: None,
                },
                ready: false,
                ended: None,
                ifaces: Vec::new(),
            })
            .collect();
        let mut j = Joined { parts, ifaces: Vec::new(), taken: None, number: 0 };
        for i in 0..j.parts.len() {
            j.learn_interfaces(i);
        }
        j
    }

    /// Gives every interface part `i` described since the last call an id of the joined input.
    fn learn_interfaces(&mut self, i: usize) {
        let theirs = self.parts[i].source.interfaces();
        for iface in theirs {
            if self.parts[i].ifaces.iter().any(|(id, _)| *id == iface.id) {
                continue;
            }
            let ours = self.ifaces.len();
            self.ifaces.push(Iface { id: ours as u32, ..iface.clone() });
            self.parts[i].ifaces.push((iface.id, ours));
        }
    }

    /// Reads part `i`'s next packet into its head, unless it has ended.
    fn fill(&mut self, i: usize) {
        let part = &mut self.parts[i];
        if part.ready || part.ended.is_some() {
            return;
        }
        let described = loop {
            match part.source.next_packet() {
                Next::Packet(p) => {
                    let h = &mut part.head;
                    h.ts = p.ts;
                    h.wire_len = p.wire_len;
                    h.data.clear();
                    h.data.extend_from_slice(p.data);
                    h.link = p.link;
                    h.secrets.clear();
                    h.secrets.extend_from_slice(p.secrets);
                    h.file_offset = p
                        .file_offset
                        .filter(|o| *o >> OFFSET_BITS == 0 && (i as u64) < 1 << FILE_BITS)
                        .map(|o| (i as u64) << OFFSET_BITS | o);
                    part.ready = true;
                    break p.iface.map(|f| (f.id, f.link));
                }
                // Files do not time out; a source that did is asked again.
                Next::Timeout => continue,
                Next::End(end) => {
                    part.ended = Some(end);
                    return;
                }
            }
        };
        let mut iface = described.and_then(|(id, _)| lookup(&part.ifaces, id));
        if iface.is_none() {
            self.learn_interfaces(i);
            iface = described.and_then(|(id, _)| lookup(&self.parts[i].ifaces, id));
        }
        self.parts[i].head.iface = iface;
    }

    /// How the joined input ended: cleanly when every file did, else as the first that did not.
    fn end(&self) -> EndOfInput {
        let first = self.parts.iter().find_map(|p| match &p.ended {
            Some(EndOfInput::Truncated { message }) => Some(EndOfInput::Truncated {
                message: format!("{}: {message} (the other files were read to their ends)", p.name),
            }),
            Some(EndOfInput::Stopped { message }) => {
                Some(EndOfInput::Stopped { message: format!("{}: {message}", p.name) })
            }
            Some(EndOfInput::Clean) | None => None,
        });
        first.unwrap_or(EndOfInput::Clean)
    }
}

/// One input read apart, for [`hint`]: its name, the times of its first and last packets, and
/// how many connections were open at its end.
pub struct Apart {
    pub name: String,
    pub span: Option<(Timestamp, Timestamp)>,
    pub open_at_end: u64,
}

/// How soon after one file's last packet the next must start to look like its continuation.
pub const CONTINUES_WITHIN_SECS: i64 = 60;

/// When files read as separate inputs look like pieces of one capture (a file that ends with
/// connections open, and another that starts within [`CONTINUES_WITHIN_SECS`] after it, or
/// before it ended), a note saying that `--join` reads them as one.
pub fn hint(inputs: &[Apart]) -> Option<String> {
    let mut by_time: Vec<(&Apart, (Timestamp, Timestamp))> =
        inputs.iter().filter_map(|a| Some((a, a.span?))).collect();
    by_time.sort_by_key(|(_, (first, _))| *first);
    let (a, b, gap) = by_time.windows(2).find_map(|w| {
        let ((a, (_, a_last)), (b, (b_first, _))) = (w[0], w[1]);
        let gap = b_first.as_nanos() - a_last.as_nanos();
        (a.open_at_end > 0 && gap <= CONTINUES_WITHIN_SECS * 1_000_000_000).then_some((a, b, gap))
    })?;
    let when = if gap >= 0 {
        format!("starts {:.3} s after {} ends", gap as f64 / 1e9, a.name)
    } else {
        format!("starts before {} ends", a.name)
    };
    Some(format!(
        "{} {when}, which ends with {} connection{} open: if the files are pieces of one \
         recording (rotated with -C/-G) or two capture points of the same traffic, --join \
         reads them as one capture; read apart, a connection that goes on into the next file is \
         seen there mid-session, without its handshake",
        b.name,
        a.open_at_end,
        if a.open_at_end == 1 { "" } else { "s" },
    ))
}

fn lookup(ifaces: &[(u32, usize)], id: u32) -> Option<usize> {
    ifaces.iter().find(|(theirs, _)| *theirs == id).map(|(_, ours)| *ours)
}

impl PacketSource for Joined {
    fn link_types(&self) -> Vec<LinkType> {
        let mut links = Vec::new();
        for l in self.parts.iter().flat_map(|p| p.source.link_types()) {
            if !links.contains(&l) {
                links.push(l);
            }
        }
        links
    }

    fn ts_decimals(&self) -> u8 {
        self.parts.iter().map(|p| p.source.ts_decimals()).max().unwrap_or(9)
    }

    fn fixed_ts_decimals(&self) -> Option<u8> {
        let mut most = 0;
        for p in &self.parts {
            most = most.max(p.source.fixed_ts_decimals()?);
        }
        Some(most)
    }

    fn interfaces(&self) -> Vec<Iface> {
        self.ifaces.clone()
    }

    fn next_packet(&mut self) -> Next<'_> {
        if let Some(i) = self.taken.take() {
            self.parts[i].ready = false;
        }
        for i in 0..self.parts.len() {
            self.fill(i);
        }
        // The earliest next packet; the first file's on a tie.
        let next = (0..self.parts.len())
            .filter(|&i| self.parts[i].ready)
            .min_by_key(|&i| (self.parts[i].head.ts, i));
        let Some(i) = next else {
            return Next::End(self.end());
        };
        self.taken = Some(i);
        self.number += 1;
        let h = &self.parts[i].head;
        Next::Packet(RawPacket {
            number: self.number,
            ts: h.ts,
            wire_len: h.wire_len,
            data: &h.data,
            link: h.link,
            iface: h.iface.and_then(|f| self.ifaces.get(f)),
            secrets: &h.secrets,
            file_offset: h.file_offset,
        })
    }

    fn reread(&self) -> Option<Arc<dyn crate::tcp::ReadBack>> {
        let files: Vec<_> = self.parts.iter().map(|p| p.source.reread()).collect();
        files.iter().any(Option::is_some).then(|| Arc::new(Files(files)) as _)
    }

    fn capture_stats(&mut self) -> CaptureStats {
        CaptureStats::default()
    }

    fn set_key_store(&mut self, store: Arc<crate::tls::KeyStore>) {
        for p in &mut self.parts {
            p.source.set_key_store(Arc::clone(&store));
        }
    }

    fn no_secrets_wanted(&mut self) {
        for p in &mut self.parts {
            p.source.no_secrets_wanted();
        }
    }

    fn stop(&mut self) {
        for p in &mut self.parts {
            p.source.stop();
        }
    }

    fn settle(&mut self) {
        for p in &mut self.parts {
            p.source.settle();
        }
    }

    fn close(&mut self) -> Result<(), crate::error::Error> {
        for p in &mut self.parts {
            p.source.close()?;
        }
        Ok(())
    }
}

/// The files, read again: an offset's top bits say which.
#[derive(Debug)]
struct Files(Vec<Option<Arc<dyn crate::tcp::ReadBack>>>);

impl crate::tcp::ReadBack for Files {
    fn read_back(&self, offset: u64, buf: &mut [u8]) -> bool {
        let file = (offset >> OFFSET_BITS) as usize;
        let at = offset & ((1 << OFFSET_BITS) - 1);
        self.0.get(file).and_then(Option::as_ref).is_some_and(|f| f.read_back(at, buf))
    }
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
