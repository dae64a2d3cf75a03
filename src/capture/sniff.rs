//! What a file that is not a readable capture is, from its first bytes, so that the error says
//! how to fix it: empty, compressed (gzip, bzip2, xz, zstd), a capture cut inside its header,
//! text (tcpdump or tshark output saved instead of packets), or something else.

/// Bytes read to tell.
pub(super) const PROBE: usize = 512;

/// What the first bytes of a file say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// No bytes at all.
    Empty,
    /// A compressed file: the format's name and the command that decompresses to stdout.
    Compressed { format: &'static str, cat: &'static str },
    /// A classic pcap file shorter than its 24-byte header.
    PcapHeaderCut,
    /// A pcapng file (the reader says where it is cut).
    Pcapng,
    /// Printable text.
    Text,
    /// Anything else.
    Unknown,
}

/// Magic numbers of classic pcap files in either byte order: microsecond, nanosecond, and the
/// variants libpcap reads.
const PCAP_MAGICS: [u32; 5] = [0xa1b2_c3d4, 0xa1b2_3c4d, 0xa1b2_cd34, 0xa1b2_34cd, 0xa12b_3c4d];
/// Length of a classic pcap file header.
const PCAP_HEADER: usize = 24;

/// Tells what `head` (the first bytes of a file, up to [`PROBE`]) is.
pub(super) fn kind(head: &[u8]) -> Kind {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if head.is_empty() {
        return Kind::Empty;
    }
    if starts(&[0x1f, 0x8b]) {
        return Kind::Compressed { format: "gzip", cat: "zcat" };
    }
    if starts(b"BZh") {
        return Kind::Compressed { format: "bzip2", cat: "bzcat" };
    }
    if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Kind::Compressed { format: "xz", cat: "xzcat" };
    }
    if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Kind::Compressed { format: "zstd", cat: "zstdcat" };
    }
    // A file cut inside its first four bytes is told by what they begin.
    let prefix = |magic: &[u8]| head.len() < 4 && magic.starts_with(head);
    if starts(&super::pcapng::MAGIC) || prefix(&super::pcapng::MAGIC) {
        return Kind::Pcapng;
    }
    if PCAP_MAGICS.iter().any(|m| prefix(&m.to_le_bytes()) || prefix(&m.to_be_bytes())) {
        return Kind::PcapHeaderCut;
    }
    if let Some(m) = head.get(..4) {
        let m = [m[0], m[1], m[2], m[3]];
        let (le, be) = (u32::from_le_bytes(m), u32::from_be_bytes(m));
        if PCAP_MAGICS.iter().any(|&p| p == le || p == be) && head.len() < PCAP_HEADER {
            return Kind::PcapHeaderCut;
        }
    }
    if is_text(head) {
        return Kind::Text;
    }
    Kind::Unknown
}

/// True when `head` is UTF-8 text (a cut last character allowed) without control characters
/// other than tab, newline, carriage return and form feed.
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        // A character cut by the probe's end is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(head.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_files_are_named_with_their_decompressor() {
        assert_eq!(kind(&[0x1f, 0x8b, 8, 0]), Kind::Compressed { format: "gzip", cat: "zcat" });
        assert_eq!(kind(b"BZh91AY&SY"), Kind::Compressed { format: "bzip2", cat: "bzcat" });
        assert_eq!(kind(b"\xfd7zXZ\x00\x00"), Kind::Compressed { format: "xz", cat: "xzcat" });
        assert_eq!(
            kind(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Kind::Compressed { format: "zstd", cat: "zstdcat" }
        );
    }

    #[test]
    fn a_classic_header_shorter_than_24_bytes_is_cut() {
        assert_eq!(kind(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]), Kind::PcapHeaderCut);
        assert_eq!(kind(&[0xa1, 0xb2, 0x3c, 0x4d]), Kind::PcapHeaderCut);
        assert_eq!(kind(&[0x0a, 0x0d, 0x0d, 0x0a, 0x1c]), Kind::Pcapng);
    }

    #[test]
    fn tcpdump_and_tshark_output_is_text() {
        let tcpdump = "10:00:00.000001 IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [S], seq 1\n";
        assert_eq!(kind(tcpdump.as_bytes()), Kind::Text);
        assert_eq!(
            kind("    1   0.000000    127.0.0.1 → 127.0.0.1    TCP 74".as_bytes()),
            Kind::Text
        );
        // Cut inside the arrow's UTF-8 bytes.
        assert_eq!(kind(&"1 127.0.0.1 →".as_bytes()[..14]), Kind::Text);
    }

    #[test]
    fn binary_that_is_nothing_known_is_unknown() {
        assert_eq!(kind(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]), Kind::Unknown);
        assert_eq!(kind(&[0]), Kind::Unknown);
        assert_eq!(kind(&[]), Kind::Empty);
    }
}
