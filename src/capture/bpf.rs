//! BPF filters applied by wsscope itself, for the files it reads without libpcap (pcapng, whose
//! interfaces may each have their own link type): the filter is compiled once per link type with
//! a dead libpcap handle and run with `pcap_offline_filter`, exactly as libpcap runs it on a file.

use crate::error::Error;
use crate::packet::LinkType;
use pcap::{BpfProgram, Capture, Linktype, PacketHeader};
use std::collections::HashMap;

// libpcap's own function (linked by the `pcap` crate). `BpfProgram` is `repr(transparent)` over
// libpcap's `struct bpf_program` and `PacketHeader` is `repr(C)` like `struct pcap_pkthdr`.
unsafe extern "C" {
    fn pcap_offline_filter(
        program: *const BpfProgram,
        header: *const PacketHeader,
        data: *const u8,
    ) -> libc::c_int;
}

/// A filter expression and its program for each link type seen so far.
pub(super) struct Filter {
    text: String,
    programs: HashMap<LinkType, BpfProgram>,
}

impl Filter {
    /// A filter that compiles `text` for each link type it meets.
    pub(super) fn new(text: &str) -> Filter {
        Filter { text: text.to_string(), programs: HashMap::new() }
    }

    /// Compiles the filter for `link` (once), as libpcap does for a file of that link type.
    pub(super) fn prepare(&mut self, link: LinkType) -> Result<(), Error> {
        if self.programs.contains_key(&link) {
            return Ok(());
        }
        let dead = Capture::dead(Linktype(link.0 as i32)).map_err(|e| Error::Filter {
            filter: self.text.clone(),
            message: format!("link type {link}: {e}"),
        })?;
        let program = dead.compile(&self.text, true).map_err(|e| Error::Filter {
            filter: self.text.clone(),
            message: format!("for link type {link}: {e}"),
        })?;
        self.programs.insert(link, program);
        Ok(())
    }

    /// True when the packet passes. `caplen` is `data.len()`; the wire length matters to
    /// `len`, `greater` and `less`.
    pub(super) fn matches(&self, link: LinkType, data: &[u8], wire_len: u32) -> bool {
        let Some(program) = self.programs.get(&link) else { return false };
        let header = PacketHeader {
            ts: libc::timeval { tv_sec: 0, tv_usec: 0 },
            caplen: data.len() as u32,
            len: wire_len,
        };
        // SAFETY: the program is a compiled `bpf_program` owned by `self`, the header a valid
        // `pcap_pkthdr`, and `data` holds `header.caplen` readable bytes.
        unsafe { pcap_offline_filter(program, &header, data.as_ptr()) > 0 }
    }
}
