//! Several capture files read as one capture (`--join`): the pieces of a rotated recording
//! (`-w -C`/`-G`, tcpdump's, `editcap -c`) or two capture points (one tap per direction), their
//! packets merged by timestamp as `mergecap` merges them.
//!
//! Guarantees:
//! - Packets come in timestamp order across the files; each file's own packets keep their order
//!   (only the files' next packets are compared, as `mergecap` does). Of packets with the same
//!   timestamp, the file whose first packet is earlier gives its packet first (then the file
//!   given first): so rotated pieces come back as the one recording in whatever order they were
//!   named (`ws.10.pcap` before `ws.2.pcap`), also where a piece ends and the next starts within
//!   one tick of a coarse clock. Pieces that start within the same tick (a few packets each)
//!   keep the order given. (`mergecap` gives a tie to the file named last.)
//! - Packets are numbered 1, 2, … in that merged order.
//! - Interfaces keep their link types, names and snapshot lengths; ids are given file by file
//!   as the files' packets first appear, each file's in its own order, and the k-th interface
//!   of a file that is the same as an earlier file's (link type, name, snapshot length: pcapng
//!   descriptions are not kept) is the k-th of those, as `mergecap` merges them: the pieces of
//!   one recording have the recording's interfaces.
//! - Memory: the next packet of the files open (one or two), and a few words per file.
//! - Every file is opened and its first packet read before anything else ([`Joined::open`]: a
//!   bad file fails the run at once); then a file is open only from its first packet's turn
//!   until its end, so that a recording in thousands of pieces holds one or two readers (their
//!   buffers and descriptors) at a time, not thousands. Standard input and pipes, which cannot
//!   be opened twice, stay open from the start.
//! - A file that ends early (cut inside a packet, or gone before its turn) leaves the others
//!   read to their ends; the input then ends `Truncated`, naming the file.
//!
//! Not done: reading the files in parallel; the retransmission history rereading bytes from the
//! files (it keeps its own copy, as for live capture); each packet is copied once out of its
//! file's reader, so that the files' next packets can be compared.

use super::{CaptureStats, EndOfInput, FileSource, Iface, Next, PacketSource, RawPacket};
use crate::error::Error;
use crate::packet::LinkType;
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file's next packet, copied out of its reader.
struct Head {
    ts: Timestamp,
    wire_len: u32,
    data: Vec<u8>,
    link: LinkType,
    /// The file's own id of the packet's interface.
    iface: Option<u32>,
    secrets: Vec<u8>,
}

impl Head {
    fn empty() -> Head {
        Head {
            ts: Timestamp::default(),
            wire_len: 0,
            data: Vec::new(),
            link: LinkType(0),
            iface: None,
            secrets: Vec::new(),
        }
    }
}

/// Opens a file again when its turn comes.
type Opener = Box<dyn FnMut() -> Result<Box<dyn PacketSource + Send>, Error> + Send>;

/// Where a file is.
enum State {
    /// Closed after its first packet was read: opened again when the merge reaches that
    /// packet's time ([`Joined::pending`]).
    Waiting(Opener),
    Open(Box<dyn PacketSource + Send>),
    /// Ended (and closed).
    Ended(EndOfInput),
}

struct Part {
    name: String,
    state: State,
    /// The time of its first packet: of two packets with the same time, the one of the file
    /// that started first comes first.
    first: Timestamp,
    /// What the file said of itself when it was first opened.
    links: Vec<LinkType>,
    decimals: u8,
    fixed_decimals: Option<u8>,
    head: Head,
    /// Whether `head` holds the file's next packet.
    ready: bool,
    /// Its interfaces seen so far, as (its id, index into [`Joined::ifaces`]).
    ifaces: Vec<(u32, usize)>,
}

/// Several files as one input.
pub struct Joined {
    parts: Vec<Part>,
    ifaces: Vec<Iface>,
    /// The part whose head was handed out last: read its next packet before comparing.
    taken: Option<usize>,
    /// The parts open with a packet ready (usually one; two taps: two).
    active: Vec<usize>,
    /// The parts waiting for their turn, by [`Joined::key`] of their first packet.
    pending: BinaryHeap<Reverse<(Timestamp, Timestamp, usize)>>,
    number: u64,
    /// Handed to each file's reader when it opens.
    keys: Option<Arc<crate::tls::KeyStore>>,
    no_secrets: bool,
}

impl Joined {
    /// Opens `paths` (BPF `filter` on each) and reads each one's first packet, one file after
    /// the other; regular files are then closed until their turn, standard input and pipes stay
    /// open.
    pub fn open(paths: &[PathBuf], filter: Option<&str>) -> Result<Joined, Error> {
        let mut j = Joined::new(Vec::new());
        for path in paths {
            let regular =
                path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.is_file());
            let name = path.display().to_string();
            let source: Box<dyn PacketSource + Send> = match FileSource::open(path, filter) {
                Ok(f) => Box::new(f),
                // A piece whose capture was killed before it wrote its header (the last of a
                // rotation, often): the others are read; the end says which was not.
                Err(e @ (Error::EmptyCapture { .. } | Error::TruncatedHeader { .. })) => {
                    j.add_ended(name, EndOfInput::Truncated { message: e.to_string() });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let reopen = regular.then(|| {
                let (path, filter) = (path.clone(), filter.map(str::to_string));
                Box::new(move || {
                    Ok(Box::new(FileSource::open(&path, filter.as_deref())?)
                        as Box<dyn PacketSource + Send>)
                }) as Opener
            });
            j.add(name, source, reopen);
        }
        Ok(j)
    }

    /// Joins opened sources, each with its name for messages and, when it can be opened again,
    /// how: such a source is closed once its first packet is read, until its turn.
    fn new(files: Vec<(String, Box<dyn PacketSource + Send>, Option<Opener>)>) -> Joined {
        let mut j = Joined {
            parts: Vec::new(),
            ifaces: Vec::new(),
            taken: None,
            active: Vec::new(),
            pending: BinaryHeap::new(),
            number: 0,
            keys: None,
            no_secrets: false,
        };
        for (name, source, reopen) in files {
            j.add(name, source, reopen);
        }
        j
    }

    /// Adds a file: reads its first packet, then closes it until its turn when it can be
    /// opened again.
    fn add(&mut self, name: String, source: Box<dyn PacketSource + Send>, reopen: Option<Opener>) {
        self.parts.push(Part {
            name,
            first: Timestamp::default(),
            links: source.link_types(),
            decimals: source.ts_decimals(),
            fixed_decimals: source.fixed_ts_decimals(),
            state: State::Open(source),
            head: Head::empty(),
            ready: false,
            ifaces: Vec::new(),
        });
        let i = self.parts.len() - 1;
        self.fill(i);
        let part = &mut self.parts[i];
        part.first = part.head.ts;
        match (part.ready, reopen) {
            (true, Some(open)) => {
                part.state = State::Waiting(open);
                part.ready = false;
                // Read again at its turn: only the time is kept until then.
                part.head.data = Vec::new();
                part.head.secrets = Vec::new();
                self.pending.push(Reverse(self.key(i)));
            }
            (true, None) => self.active.push(i),
            (false, _) => {}
        }
    }

    /// Adds a file that gave no packet.
    fn add_ended(&mut self, name: String, end: EndOfInput) {
        self.parts.push(Part {
            name,
            first: Timestamp::default(),
            links: Vec::new(),
            // The coarsest any source reports: no part in the maxima over the files.
            decimals: 6,
            fixed_decimals: Some(6),
            state: State::Ended(end),
            head: Head::empty(),
            ready: false,
            ifaces: Vec::new(),
        });
    }

    /// Opens part `i` again; its first packet is read again by [`Joined::fill`].
    fn reopen(&mut self, i: usize) {
        let part = &mut self.parts[i];
        let State::Waiting(open) = &mut part.state else { return };
        part.state = match open() {
            Ok(mut source) => {
                if let Some(k) = &self.keys {
                    source.set_key_store(Arc::clone(k));
                }
                if self.no_secrets {
                    source.no_secrets_wanted();
                }
                State::Open(source)
            }
            Err(e) => State::Ended(EndOfInput::Truncated {
                message: format!("could not be opened again: {e}"),
            }),
        };
    }

    /// Reads part `i`'s next packet into its head, unless it waits, has one, or has ended; a
    /// part that ends is closed.
    fn fill(&mut self, i: usize) {
        let part = &mut self.parts[i];
        if part.ready {
            return;
        }
        let State::Open(source) = &mut part.state else { return };
        // Files do not time out; a source that did is asked again (a bounded number of times).
        for _ in 0..1_000_000 {
            match source.next_packet() {
                Next::Packet(p) => {
                    let h = &mut part.head;
                    h.ts = p.ts;
                    h.wire_len = p.wire_len;
                    h.data.clear();
                    h.data.extend_from_slice(p.data);
                    h.link = p.link;
                    h.iface = p.iface.map(|f| f.id);
                    h.secrets.clear();
                    h.secrets.extend_from_slice(p.secrets);
                    part.ready = true;
                    return;
                }
                Next::Timeout => continue,
                Next::End(end) => {
                    let _ = source.close();
                    part.state = State::Ended(end);
                    part.head.data = Vec::new();
                    part.head.secrets = Vec::new();
                    return;
                }
            }
        }
    }

    /// The order of part `i`'s next packet: its time, then the time of the file's first packet,
    /// then the order the files were given in.
    fn key(&self, i: usize) -> (Timestamp, Timestamp, usize) {
        (self.parts[i].head.ts, self.parts[i].first, i)
    }

    /// The joined id of the interface part `i`'s head was captured on, given on first sight.
    fn iface_of_head(&mut self, i: usize) -> Option<usize> {
        let theirs = self.parts[i].head.iface?;
        if let Some(ours) = lookup(&self.parts[i].ifaces, theirs) {
            return Some(ours);
        }
        // Every interface the file has described, in its order, so that its k-th interface of a
        // kind is the joined k-th of that kind, whichever carries a packet first.
        let State::Open(source) = &self.parts[i].state else { return None };
        for iface in source.interfaces() {
            if lookup(&self.parts[i].ifaces, iface.id).is_some() {
                continue;
            }
            // The same interface in an earlier file, one this file has not taken yet: the
            // pieces of one recording.
            let taken = &self.parts[i].ifaces;
            let same = self.ifaces.iter().position(|f| {
                (f.link, &f.name, f.snaplen) == (iface.link, &iface.name, iface.snaplen)
                    && !taken.iter().any(|(_, ours)| *ours == f.id as usize)
            });
            let id = iface.id;
            let ours = same.unwrap_or_else(|| {
                self.ifaces.push(Iface { id: self.ifaces.len() as u32, ..iface });
                self.ifaces.len() - 1
            });
            self.parts[i].ifaces.push((id, ours));
        }
        lookup(&self.parts[i].ifaces, theirs)
    }

    /// How the joined input ended: cleanly when every file did, else as the first that did not.
    fn end(&self) -> EndOfInput {
        let first = self.parts.iter().find_map(|p| match &p.state {
            State::Ended(EndOfInput::Truncated { message }) => Some(EndOfInput::Truncated {
                message: format!("{}: {message} (the other files were read to their ends)", p.name),
            }),
            State::Ended(EndOfInput::Stopped { message }) => {
                Some(EndOfInput::Stopped { message: format!("{}: {message}", p.name) })
            }
            _ => None,
        });
        first.unwrap_or(EndOfInput::Clean)
    }

    /// The part whose packet comes next, opening the files whose turn has come.
    fn next_part(&mut self) -> Option<usize> {
        // Each round that does not return opens a waiting file.
        for _ in 0..=self.parts.len() {
            let open = self.active.iter().map(|&i| self.key(i)).min();
            let waiting = self.pending.peek().map(|w| w.0);
            match (open, waiting) {
                (Some((.., i)), None) => return Some(i),
                (Some(o), Some(w)) if o < w => return Some(o.2),
                (_, Some((.., w))) => {
                    self.pending.pop();
                    self.reopen(w);
                    self.fill(w);
                    if self.parts[w].ready {
                        self.active.push(w);
                    }
                }
                (None, None) => return None,
            }
        }
        None
    }
}

fn lookup(ifaces: &[(u32, usize)], id: u32) -> Option<usize> {
    ifaces.iter().find(|(theirs, _)| *theirs == id).map(|(_, ours)| *ours)
}

impl PacketSource for Joined {
    fn link_types(&self) -> Vec<LinkType> {
        let mut links = Vec::new();
        for p in &self.parts {
            let now = match &p.state {
                State::Open(s) => s.link_types(),
                _ => p.links.clone(),
            };
            for l in now {
                if !links.contains(&l) {
                    links.push(l);
                }
            }
        }
        links
    }

    fn ts_decimals(&self) -> u8 {
        let now = |p: &Part| match &p.state {
            State::Open(s) => s.ts_decimals(),
            _ => p.decimals,
        };
        self.parts.iter().map(now).max().unwrap_or(9)
    }

    fn fixed_ts_decimals(&self) -> Option<u8> {
        let mut most = 0;
        for p in &self.parts {
            most = most.max(p.fixed_decimals?);
        }
        Some(most)
    }

    fn interfaces(&self) -> Vec<Iface> {
        self.ifaces.clone()
    }

    fn next_packet(&mut self) -> Next<'_> {
        if let Some(i) = self.taken.take() {
            self.parts[i].ready = false;
            self.fill(i);
            if !self.parts[i].ready {
                self.active.retain(|&a| a != i);
            }
        }
        let Some(i) = self.next_part() else {
            return Next::End(self.end());
        };
        let iface = self.iface_of_head(i);
        self.taken = Some(i);
        self.number += 1;
        let h = &self.parts[i].head;
        Next::Packet(RawPacket {
            number: self.number,
            ts: h.ts,
            wire_len: h.wire_len,
            data: &h.data,
            link: h.link,
            iface: iface.and_then(|f| self.ifaces.get(f)),
            secrets: &h.secrets,
            file_offset: None,
        })
    }

    fn capture_stats(&mut self) -> CaptureStats {
        CaptureStats::default()
    }

    fn set_key_store(&mut self, store: Arc<crate::tls::KeyStore>) {
        for p in &mut self.parts {
            if let State::Open(s) = &mut p.state {
                s.set_key_store(Arc::clone(&store));
            }
        }
        self.keys = Some(store);
    }

    fn no_secrets_wanted(&mut self) {
        for p in &mut self.parts {
            if let State::Open(s) = &mut p.state {
                s.no_secrets_wanted();
            }
        }
        self.no_secrets = true;
    }

    fn stop(&mut self) {
        for p in &mut self.parts {
            if let State::Open(s) = &mut p.state {
                s.stop();
            }
        }
    }

    fn settle(&mut self) {
        for p in &mut self.parts {
            if let State::Open(s) = &mut p.state {
                s.settle();
            }
        }
    }

    fn close(&mut self) -> Result<(), crate::error::Error> {
        for p in &mut self.parts {
            if let State::Open(s) = &mut p.state {
                s.close()?;
            }
        }
        Ok(())
    }
}

/// One input read apart, for [`hint`]: its name, the times of its first and last packets, and
/// how many connections were open at its end.
pub struct Apart {
    pub name: String,
    /// The file's canonical path, when it has one: one file given twice under two names is
    /// not two pieces.
    pub file: Option<PathBuf>,
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
    // For each file that ends with connections open, the files that start within the window
    // after its end (or before it): the nearest start after its end is the likeliest next
    // piece; only without one, a file that overlaps it (a tap of the other direction).
    let within = CONTINUES_WITHIN_SECS * 1_000_000_000;
    let mut best: Option<(&Apart, &Apart, i64)> = None;
    for (k, &(a, (_, a_last))) in by_time.iter().enumerate() {
        if a.open_at_end == 0 {
            continue;
        }
        for &(b, (b_first, _)) in &by_time[k + 1..] {
            let gap = b_first.as_nanos() - a_last.as_nanos();
            if gap > within {
                break;
            }
            let rank = |g: i64| (g < 0, g.unsigned_abs());
            let same = a.name == b.name || a.file.is_some() && a.file == b.file;
            if !same && best.is_none_or(|(.., g)| rank(gap) < rank(g)) {
                best = Some((a, b, gap));
            }
        }
    }
    let (a, b, gap) = best?;
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

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
