use super::*;

/// A file held in memory: (seconds, byte, interface id) per packet, then how it ends.
struct Fake {
    packets: Vec<(i64, u8, u32)>,
    at: usize,
    ifaces: Vec<Iface>,
    end: EndOfInput,
    data: [u8; 1],
}

impl Fake {
    fn file(packets: &[(i64, u8, u32)], links: &[u32]) -> Box<dyn PacketSource + Send> {
        Box::new(Fake {
            packets: packets.to_vec(),
            at: 0,
            ifaces: Iface::of_links(&links.iter().map(|l| LinkType(*l)).collect::<Vec<_>>()),
            end: EndOfInput::Clean,
            data: [0],
        })
    }

    fn ending(packets: &[(i64, u8, u32)], end: EndOfInput) -> Box<dyn PacketSource + Send> {
        Box::new(Fake {
            packets: packets.to_vec(),
            at: 0,
            ifaces: Iface::of_links(&[LinkType(1)]),
            end,
            data: [0],
        })
    }
}

impl PacketSource for Fake {
    fn link_types(&self) -> Vec<LinkType> {
        self.ifaces.iter().map(|i| i.link).collect()
    }
    fn interfaces(&self) -> Vec<Iface> {
        self.ifaces.clone()
    }
    fn next_packet(&mut self) -> Next<'_> {
        let Some(&(secs, byte, iface)) = self.packets.get(self.at) else {
            return Next::End(self.end.clone());
        };
        self.at += 1;
        self.data = [byte];
        let iface = &self.ifaces[iface as usize];
        Next::Packet(RawPacket {
            number: self.at as u64,
            ts: Timestamp::from_secs_nanos(secs, 0),
            wire_len: 1,
            data: &self.data,
            link: iface.link,
            iface: Some(iface),
            secrets: &[],
            file_offset: Some(100 + self.at as u64),
        })
    }
    fn capture_stats(&mut self) -> CaptureStats {
        CaptureStats::default()
    }
}

/// Every packet as (number, seconds, byte, joined interface id), and the end.
type Reading = (Vec<(u64, i64, u8, u32)>, EndOfInput);

fn read(j: &mut Joined) -> Reading {
    let mut out = Vec::new();
    for _ in 0..1000 {
        match j.next_packet() {
            Next::Packet(p) => out.push((
                p.number,
                p.ts.as_nanos() / 1_000_000_000,
                p.data[0],
                p.iface.unwrap().id,
            )),
            Next::Timeout => {}
            Next::End(e) => return (out, e),
        }
    }
    panic!("no end");
}

fn joined(files: Vec<Box<dyn PacketSource + Send>>) -> Joined {
    Joined::new(files.into_iter().enumerate().map(|(i, f)| (format!("f{i}"), f, None)).collect())
}

#[test]
fn rotated_pieces_given_out_of_order_come_back_as_one_recording_numbered_from_one() {
    // ws.10.pcap named before ws.2.pcap: the packets still come in time order.
    let later = Fake::file(&[(20, b'c', 0), (21, b'd', 0)], &[1]);
    let earlier = Fake::file(&[(10, b'a', 0), (11, b'b', 0)], &[1]);
    let (packets, end) = read(&mut joined(vec![later, earlier]));
    let order: Vec<(u64, u8)> = packets.iter().map(|p| (p.0, p.2)).collect();
    assert_eq!(order, [(1, b'a'), (2, b'b'), (3, b'c'), (4, b'd')]);
    assert_eq!(end, EndOfInput::Clean);
}

#[test]
fn where_a_coarse_clock_ticks_across_two_pieces_named_backwards_the_earlier_piece_goes_first() {
    let earlier = Fake::file(&[(1, b'a', 0), (2, b'b', 0), (2, b'c', 0)], &[1]);
    let later = Fake::file(&[(2, b'd', 0), (2, b'e', 0), (3, b'f', 0)], &[1]);
    let (packets, _) = read(&mut joined(vec![later, earlier]));
    let bytes: Vec<u8> = packets.iter().map(|p| p.2).collect();
    assert_eq!(bytes, b"abcdef");
}

#[test]
fn the_pieces_of_one_recording_have_one_interface() {
    let a = Fake::file(&[(1, b'a', 0)], &[1]);
    let b = Fake::file(&[(2, b'b', 0), (3, b'c', 1)], &[1, 1]);
    let mut j = joined(vec![a, b]);
    let (packets, _) = read(&mut j);
    let seen: Vec<(u8, u32)> = packets.iter().map(|p| (p.2, p.3)).collect();
    // The second file's second interface is another one, though it looks the same.
    assert_eq!(seen, [(b'a', 0), (b'b', 0), (b'c', 1)]);
    assert_eq!(j.interfaces().len(), 2);
    // Two interfaces alike in every piece: each keeps its place, whichever carries a packet
    // first in a later piece.
    let a = Fake::file(&[(1, b'a', 0), (2, b'b', 1)], &[1, 1]);
    let b = Fake::file(&[(3, b'c', 1), (4, b'd', 0)], &[1, 1]);
    let (packets, _) = read(&mut joined(vec![a, b]));
    let seen: Vec<(u8, u32)> = packets.iter().map(|p| (p.2, p.3)).collect();
    assert_eq!(seen, [(b'a', 0), (b'b', 1), (b'c', 1), (b'd', 0)]);
}

#[test]
fn two_taps_interleave_by_time_each_keeping_its_order_and_ties_go_to_the_first_file() {
    // The second file's timestamps go backwards: its order is kept, as mergecap keeps it.
    let a = Fake::file(&[(1, b'a', 0), (3, b'c', 0), (5, b'e', 0)], &[1]);
    let b = Fake::file(&[(3, b'x', 0), (2, b'y', 0), (6, b'z', 0)], &[1]);
    let (packets, _) = read(&mut joined(vec![a, b]));
    let bytes: Vec<u8> = packets.iter().map(|p| p.2).collect();
    assert_eq!(bytes, b"acxyez");
}

#[test]
fn interfaces_of_every_file_keep_their_link_types_under_ids_given_file_by_file() {
    let a = Fake::file(&[(1, b'a', 1), (3, b'b', 0)], &[1, 113]);
    let b = Fake::file(&[(2, b'c', 0)], &[276]);
    let mut j = joined(vec![a, b]);
    assert_eq!(j.link_types(), [LinkType(1), LinkType(113), LinkType(276)]);
    let (packets, _) = read(&mut j);
    let seen: Vec<(u8, u32)> = packets.iter().map(|p| (p.2, p.3)).collect();
    assert_eq!(seen, [(b'a', 1), (b'c', 2), (b'b', 0)]);
    let links: Vec<(u32, u32)> = j.interfaces().iter().map(|i| (i.id, i.link.0)).collect();
    assert_eq!(links, [(0, 1), (1, 113), (2, 276)]);
}

/// Pieces that open again, counting how many are open at once.
fn pieces(
    n: i64,
    open: &Arc<std::sync::atomic::AtomicI64>,
    most: &Arc<std::sync::atomic::AtomicI64>,
) -> Vec<(String, Box<dyn PacketSource + Send>, Option<Opener>)> {
    use std::sync::atomic::Ordering::SeqCst;
    (0..n)
        .map(|k| {
            let packets = [(10 * k, b'a' + k as u8, 0), (10 * k + 1, b'A' + k as u8, 0)];
            let (open, most) = (Arc::clone(open), Arc::clone(most));
            let opener: Opener = Box::new(move || {
                let now = open.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                Ok(Box::new(Counted { inner: Fake::file(&packets, &[1]), open: Arc::clone(&open) })
                    as Box<_>)
            });
            (format!("ws.{k}.pcap"), Fake::file(&packets, &[1]), Some(opener))
        })
        .collect()
}

/// A source that counts itself open until dropped.
struct Counted {
    inner: Box<dyn PacketSource + Send>,
    open: Arc<std::sync::atomic::AtomicI64>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl PacketSource for Counted {
    fn link_types(&self) -> Vec<LinkType> {
        self.inner.link_types()
    }
    fn interfaces(&self) -> Vec<Iface> {
        self.inner.interfaces()
    }
    fn next_packet(&mut self) -> Next<'_> {
        self.inner.next_packet()
    }
    fn capture_stats(&mut self) -> CaptureStats {
        CaptureStats::default()
    }
}

#[test]
fn a_recording_in_many_pieces_holds_one_piece_open_at_a_time() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    let (open, most) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicI64::new(0)));
    let mut files = pieces(50, &open, &most);
    files.reverse();
    let mut j = Joined::new(files);
    assert_eq!(open.load(SeqCst), 0, "closed until their turn");
    let (packets, end) = read(&mut j);
    assert_eq!(packets.len(), 100);
    assert!(packets.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 + 1 == w[1].0));
    assert_eq!(end, EndOfInput::Clean);
    assert_eq!(most.load(SeqCst), 1);
    assert_eq!(open.load(SeqCst), 0, "each closed at its end");
}

#[test]
fn a_piece_gone_before_its_turn_ends_the_input_truncated_naming_it() {
    let mut files = pieces(3, &Arc::default(), &Arc::default());
    files[1].2 = Some(Box::new(|| Err(crate::error::Error::Usage("gone".into()))));
    let (packets, end) = read(&mut Joined::new(files));
    assert_eq!(packets.len(), 4);
    let EndOfInput::Truncated { message } = end else { panic!("{end:?}") };
    assert!(message.starts_with("ws.1.pcap: could not be opened again: "), "{message}");
}

#[test]
fn a_file_cut_short_leaves_the_others_read_and_the_end_names_it() {
    let cut = EndOfInput::Truncated { message: "truncated dump file".into() };
    let a = Fake::ending(&[(1, b'a', 0)], cut);
    let b = Fake::file(&[(2, b'b', 0), (3, b'c', 0)], &[1]);
    let (packets, end) = read(&mut joined(vec![a, b]));
    assert_eq!(packets.len(), 3);
    let EndOfInput::Truncated { message } = end else { panic!("{end:?}") };
    assert!(message.starts_with("f0: truncated dump file"), "{message}");
}

fn apart(name: &str, first: i64, last: i64, open_at_end: u64) -> Apart {
    let t = |s| Timestamp::from_secs_nanos(s, 0);
    Apart { name: name.into(), file: None, span: Some((t(first), t(last))), open_at_end }
}

#[test]
fn pieces_read_apart_are_noticed_whatever_the_order_they_were_given_in() {
    let hint = hint(&[apart("ws.1.pcap", 100, 200, 3), apart("ws.pcap", 0, 99, 4)]).unwrap();
    assert!(hint.starts_with("ws.1.pcap starts 1.000 s after ws.pcap ends"), "{hint}");
    assert!(hint.contains("4 connections open"), "{hint}");
    // Two taps of the same minutes.
    let taps = super::hint(&[apart("a.pcap", 0, 100, 1), apart("b.pcap", 1, 101, 1)]).unwrap();
    assert!(taps.starts_with("b.pcap starts before a.pcap ends"), "{taps}");
}

#[test]
fn the_piece_that_starts_where_one_ends_is_named_rather_than_one_inside_it() {
    let note = hint(&[
        apart("ws.pcap", 0, 100, 8),
        apart("other.pcap", 10, 20, 0),
        apart("ws.pcap1", 100, 200, 3),
    ]);
    assert!(note.unwrap().starts_with("ws.pcap1 starts 0.000 s after ws.pcap ends"));
}

#[test]
fn unrelated_captures_are_not_noticed() {
    // Nothing open at the end of the earlier file, or the next one starts much later.
    assert_eq!(hint(&[apart("a", 0, 10, 0), apart("b", 11, 20, 5)]), None);
    assert_eq!(hint(&[apart("a", 0, 10, 2), apart("b", 71, 80, 5)]), None);
    assert_eq!(hint(&[apart("a", 0, 10, 2)]), None);
    let empty = Apart { name: "e".into(), file: None, span: None, open_at_end: 0 };
    // One file given twice is not two pieces.
    assert_eq!(hint(&[apart("a", 0, 10, 2), apart("a", 0, 10, 2)]), None);
    let spelled = |name: &str| Apart { file: Some("/x/a".into()), ..apart(name, 0, 10, 2) };
    assert_eq!(hint(&[spelled("a"), spelled("./a")]), None);
    assert_eq!(hint(&[apart("a", 0, 10, 2), empty]), None);
}

#[test]
fn a_piece_killed_before_its_header_is_passed_over_and_named_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let whole = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/captures/real/py-basic.pcap");
    let empty = dir.path().join("ws.2.pcap");
    std::fs::write(&empty, b"").unwrap();
    let cut = dir.path().join("ws.3.pcap");
    std::fs::write(&cut, &std::fs::read(whole).unwrap()[..10]).unwrap();
    let paths = [PathBuf::from(whole), empty, cut];
    let mut j = Joined::open(&paths, None).unwrap();
    let mut packets = 0;
    let end = loop {
        match j.next_packet() {
            Next::Packet(_) => packets += 1,
            Next::Timeout => {}
            Next::End(e) => break e,
        }
        assert!(packets < 10_000);
    };
    assert!(packets > 10, "{packets}");
    let EndOfInput::Truncated { message } = end else { panic!("{end:?}") };
    assert!(message.contains("ws.2.pcap is empty"), "{message}");
    // Anything else that is not a capture still fails the run at once.
    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, b"not a capture at all, just some text\n").unwrap();
    assert!(Joined::open(&[PathBuf::from(whole), text], None).is_err());
}
