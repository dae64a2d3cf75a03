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

/// Every packet as (number, seconds, byte, joined interface id, offset), and the end.
type Reading = (Vec<(u64, i64, u8, u32, Option<u64>)>, EndOfInput);

fn read(j: &mut Joined) -> Reading {
    let mut out = Vec::new();
    for _ in 0..1000 {
        match j.next_packet() {
            Next::Packet(p) => out.push((
                p.number,
                p.ts.as_nanos() / 1_000_000_000,
                p.data[0],
                p.iface.unwrap().id,
                p.file_offset,
            )),
            Next::Timeout => {}
            Next::End(e) => return (out, e),
        }
    }
    panic!("no end");
}

fn joined(files: Vec<Box<dyn PacketSource + Send>>) -> Joined {
    Joined::new(files.into_iter().enumerate().map(|(i, f)| (format!("f{i}"), f)).collect())
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
fn two_taps_interleave_by_time_each_keeping_its_order_and_ties_go_to_the_first_file() {
    // The second file's timestamps go backwards: its order is kept, as mergecap keeps it.
    let a = Fake::file(&[(1, b'a', 0), (3, b'c', 0), (5, b'e', 0)], &[1]);
    let b = Fake::file(&[(3, b'x', 0), (2, b'y', 0), (6, b'z', 0)], &[1]);
    let (packets, _) = read(&mut joined(vec![a, b]));
    let bytes: Vec<u8> = packets.iter().map(|p| p.2).collect();
    assert_eq!(bytes, b"acxyez");
}

#[test]
fn interfaces_of_every_file_keep_their_link_types_under_ids_of_the_joined_input() {
    let a = Fake::file(&[(1, b'a', 1), (3, b'b', 0)], &[1, 113]);
    let b = Fake::file(&[(2, b'c', 0)], &[276]);
    let mut j = joined(vec![a, b]);
    let links: Vec<(u32, u32)> = j.interfaces().iter().map(|i| (i.id, i.link.0)).collect();
    assert_eq!(links, [(0, 1), (1, 113), (2, 276)]);
    assert_eq!(j.link_types(), [LinkType(1), LinkType(113), LinkType(276)]);
    let (packets, _) = read(&mut j);
    let seen: Vec<(u8, u32)> = packets.iter().map(|p| (p.2, p.3)).collect();
    assert_eq!(seen, [(b'a', 1), (b'c', 2), (b'b', 0)]);
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

#[derive(Debug)]
struct Echo(u8);

impl crate::tcp::ReadBack for Echo {
    fn read_back(&self, offset: u64, buf: &mut [u8]) -> bool {
        buf.fill(self.0.wrapping_add(offset as u8));
        true
    }
}

#[test]
fn offsets_carry_their_file_so_bytes_are_read_again_from_the_right_one() {
    let a = Fake::file(&[(1, b'a', 0)], &[1]);
    let b = Fake::file(&[(2, b'b', 0)], &[1]);
    let (packets, _) = read(&mut joined(vec![a, b]));
    let offsets: Vec<Option<u64>> = packets.iter().map(|p| p.4).collect();
    assert_eq!(offsets, [Some(101), Some(1 << OFFSET_BITS | 101)]);
    let files = Files(vec![Some(Arc::new(Echo(10))), None, Some(Arc::new(Echo(20)))]);
    let mut buf = [0u8; 2];
    assert!(crate::tcp::ReadBack::read_back(&files, 5, &mut buf));
    assert_eq!(buf, [15, 15]);
    assert!(crate::tcp::ReadBack::read_back(&files, 2 << OFFSET_BITS | 5, &mut buf));
    assert_eq!(buf, [25, 25]);
    assert!(!crate::tcp::ReadBack::read_back(&files, 1 << OFFSET_BITS | 5, &mut buf));
    assert!(!crate::tcp::ReadBack::read_back(&files, 7 << OFFSET_BITS | 5, &mut buf));
}

fn apart(name: &str, first: i64, last: i64, open_at_end: u64) -> Apart {
    let t = |s| Timestamp::from_secs_nanos(s, 0);
    Apart { name: name.into(), span: Some((t(first), t(last))), open_at_end }
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
fn unrelated_captures_are_not_noticed() {
    // Nothing open at the end of the earlier file, or the next one starts much later.
    assert_eq!(hint(&[apart("a", 0, 10, 0), apart("b", 11, 20, 5)]), None);
    assert_eq!(hint(&[apart("a", 0, 10, 2), apart("b", 71, 80, 5)]), None);
    assert_eq!(hint(&[apart("a", 0, 10, 2)]), None);
    let empty = Apart { name: "e".into(), span: None, open_at_end: 0 };
    assert_eq!(hint(&[apart("a", 0, 10, 2), empty]), None);
}
