//! Live capture from a network interface through libpcap.

use super::{CaptureStats, EndOfInput, Iface, Next, PacketSource, RawPacket};
use crate::error::Error;
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap::{Active, Capture, Device};

/// libpcap's packet buffer timeout: the kernel hands over a block of packets when it is full or
/// this long after its first packet.
const READ_TIMEOUT_MS: i32 = 100;

/// How a live interface is opened (`-s`, `-p`, `-B`, `--immediate-mode`) and how many bytes of
/// packets wait between the capture threads and the analysis (`--capture-queue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOptions {
    /// Snapshot length.
    pub snaplen: i32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Kernel buffer, bytes.
    pub buffer_size: usize,
    /// libpcap's immediate mode.
    pub immediate: bool,
    /// Bytes of packets queued for the analysis at most.
    pub queue_bytes: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            snaplen: MAX_SNAPLEN,
            promiscuous: true,
            buffer_size: 32 << 20,
            immediate: false,
            queue_bytes: 64 << 20,
        }
    }
}

/// libpcap's `MAXIMUM_SNAPLEN`: the largest snapshot length (`-s 0`, as tcpdump's), and the
/// largest record the file readers accept and the -w writer declares.
pub const MAX_SNAPLEN: i32 = 262_144;

/// Captures from an interface.
///
/// Reads never wait: with nothing ready, [`PacketSource::next_packet`] gives [`Next::Timeout`]
/// at once, and [`PacketSource::wait_for_packets`] waits in `poll(2)` with a timeout. So the
/// reader gets control back as soon as the kernel's buffer is empty, to hand what it read on
/// (a blocking read would keep it: with TPACKET_V3, libpcap's `poll` has no timeout and an
/// idle interface never returns), and sees a stop within that timeout.
pub struct LiveSource {
    /// `None` only if switching to non-blocking reads failed (then the capture is over).
    cap: Option<Capture<Active>>,
    link: LinkType,
    number: u64,
    /// The interface: its name and snapshot length, for `-w`.
    iface: Iface,
}

/// Names of the interfaces libpcap can capture on.
pub fn list_interfaces() -> Vec<String> {
    Device::list().map(|v| v.into_iter().map(|d| d.name).collect()).unwrap_or_default()
}

/// `-i 3`, as tcpdump: the third interface `-D` lists, unless an interface has that name.
/// Other names are returned as they are (opening them says whether they exist).
pub fn by_number(name: &str) -> Result<String, Error> {
    let Ok(n) = name.parse::<usize>() else { return Ok(name.to_string()) };
    let known = list_interfaces();
    if known.iter().any(|k| k == name) {
        return Ok(name.to_string());
    }
    match n.checked_sub(1).and_then(|i| known.get(i)) {
        Some(k) => Ok(k.clone()),
        None => Err(Error::Usage(format!(
            "-i {name}: there is no interface number {name} ({} listed; wsscope -D numbers them)",
            known.len()
        ))),
    }
}

/// The interfaces libpcap can capture on, one per line as `wsscope -D` prints them: number,
/// name, description, flags and addresses.
pub fn describe_interfaces() -> Result<String, Error> {
    let devices = Device::list().map_err(|e| Error::Capture {
        input: "the interface list".into(),
        message: e.to_string(),
    })?;
    let mut out = String::new();
    for (n, d) in devices.iter().enumerate() {
        let mut flags = Vec::new();
        if d.flags.is_up() {
            flags.push("Up");
        }
        if d.flags.is_running() {
            flags.push("Running");
        }
        if d.flags.is_loopback() {
            flags.push("Loopback");
        }
        if d.flags.is_wireless() {
            flags.push("Wireless");
        }
        match d.flags.connection_status {
            pcap::ConnectionStatus::Connected => flags.push("Connected"),
            pcap::ConnectionStatus::Disconnected => flags.push("Disconnected"),
            _ => {}
        }
        let desc = d.desc.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
        out.push_str(&format!(
            "{}.{}{desc} [{}]",
            n + 1,
            crate::term::escape(&d.name),
            flags.join(", ")
        ));
        let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
        if !addrs.is_empty() {
            out.push_str(&format!(" {}", addrs.join(" ")));
        }
        out.push('\n');
    }
    if devices.is_empty() {
        out.push_str(
            "no interface found: capturing needs root or the capabilities cap_net_raw and \
             cap_net_admin (sudo setcap cap_net_raw,cap_net_admin+eip $(command -v wsscope))\n",
        );
    }
    Ok(out)
}

impl LiveSource {
    /// Opens `interface` with an optional BPF `filter` and the capture `options`.
    pub fn open(
        interface: &str,
        filter: Option<&str>,
        options: &LiveOptions,
    ) -> Result<LiveSource, Error> {
        let known = list_interfaces();
        if !known.iter().any(|n| n == interface) {
            return Err(Error::UnknownInterface { name: interface.to_string(), available: known });
        }
        let buffer = i32::try_from(options.buffer_size).unwrap_or(i32::MAX);
        let mut cap = Capture::from_device(interface)
            .and_then(|c| {
                c.snaplen(options.snaplen)
                    .promisc(options.promiscuous)
                    .buffer_size(buffer)
                    .timeout(READ_TIMEOUT_MS)
                    .immediate_mode(options.immediate)
                    .open()
            })
            .map_err(|e| classify_live_error(interface, e))?;
        let link = super::prepare(&mut cap, interface, filter)?;
        let cap = cap.setnonblock().map_err(|e| classify_live_error(interface, e))?;
        let snaplen = u32::try_from(options.snaplen).unwrap_or(0);
        let iface = Iface { id: 0, link, name: Some(interface.to_string()), snaplen };
        Ok(LiveSource { cap: Some(cap), link, number: 0, iface })
    }
}

fn classify_live_error(interface: &str, e: pcap::Error) -> Error {
    let message = e.to_string();
    if message.contains("ermission") || message.contains("not permitted") {
        Error::Permission { interface: interface.to_string(), message }
    } else {
        Error::Capture { input: interface.to_string(), message }
    }
}

impl PacketSource for LiveSource {
    fn link_types(&self) -> Vec<LinkType> {
        vec![self.link]
    }

    fn interfaces(&self) -> Vec<Iface> {
        vec![self.iface.clone()]
    }

    /// libpcap's default precision: microseconds.
    fn ts_decimals(&self) -> u8 {
        6
    }

    fn fixed_ts_decimals(&self) -> Option<u8> {
        Some(6)
    }

    fn next_packet(&mut self) -> Next<'_> {
        let Some(cap) = &mut self.cap else { return Next::End(EndOfInput::Clean) };
        match cap.next_packet() {
            Ok(p) => {
                self.number += 1;
                let ts = Timestamp::from_secs_nanos(
                    p.header.ts.tv_sec,
                    p.header.ts.tv_usec.saturating_mul(1000),
                );
                Next::Packet(RawPacket {
                    number: self.number,
                    ts,
                    wire_len: p.header.len,
                    data: p.data,
                    link: self.link,
                    iface: Some(&self.iface),
                    secrets: &[],
                    file_offset: None,
                })
            }
            Err(pcap::Error::TimeoutExpired) => Next::Timeout,
            Err(pcap::Error::NoMorePackets) => Next::End(EndOfInput::Clean),
            // Named: with several -i, the others go on.
            Err(e) => Next::End(EndOfInput::Truncated {
                message: match &self.iface.name {
                    Some(name) => format!("-i {name}: {e}"),
                    None => e.to_string(),
                },
            }),
        }
    }

    fn capture_stats(&mut self) -> CaptureStats {
        self.cap
            .as_mut()
            .and_then(|c| c.stats().ok())
            .map(|s| CaptureStats {
                received: s.received.into(),
                dropped: s.dropped.into(),
                if_dropped: s.if_dropped.into(),
                queue_dropped: 0,
            })
            .unwrap_or_default()
    }

    fn wait_for_packets(&mut self, timeout: std::time::Duration) {
        use std::os::fd::AsRawFd;
        let Some(cap) = &self.cap else { return };
        let mut fd = libc::pollfd { fd: cap.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: poll on one valid pollfd; the descriptor stays open while `cap` lives. An
        // error (EINTR) or a timeout just returns: the next read tells.
        unsafe { libc::poll(&mut fd, 1, ms) };
    }
}
