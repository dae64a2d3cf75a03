//! Validated configuration built from the raw command line.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::analyzer::AnalyzerConfig;
use crate::analyzer::checks::Severity;
use crate::cli::{ColorChoice, DecodeArgs, FailOn, InputArgs, LimitArgs, OutputArgs, RedactArgs};
use crate::error::Error;
use crate::limits::TcpLimits;
use crate::redact::{Additions, Redactor};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A capture file, or `-` for standard input.
    File(PathBuf),
    /// Several capture files read as one (`--join`), in the order given (packets come in
    /// timestamp order whatever the order).
    Joined(Vec<PathBuf>),
    /// Live capture from one or more interfaces at once.
    Live {
        /// Interface names (at least one).
        interfaces: Vec<String>,
        /// How each is opened.
        options: crate::capture::LiveOptions,
    },
}

/// The input plus its filter and stop conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Where packets come from.
    pub input: Input,
    /// BPF filter.
    pub filter: Option<String>,
    /// Stop after this many packets.
    pub max_packets: Option<u64>,
    /// Stop after this much wall-clock time.
    pub duration: Option<Duration>,
    /// Write the packets read to a pcap or pcapng file (`-w`), rotated or not.
    pub write: Option<Save>,
    /// Replace existing output files (`--force`).
    pub force: bool,
    /// What to give up once the capture is open (`-Z`; see [`crate::privileges`]).
    pub privileges: crate::privileges::Plan,
}

/// What `-w` writes: where, and when to start a new file (`-C`, `-G`, `-W`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Save {
    /// The file (the first file, when rotating).
    pub path: PathBuf,
    /// When to start a new file.
    pub rotation: Rotation,
    /// `-U`: each packet reaches the file as it is saved (flushed after every packet), so
    /// that a reader of the growing file sees it at once. Otherwise packets are written in
    /// blocks, and flushed whenever a live capture is idle (its 100 ms read timeout).
    pub packet_buffered: bool,
}

/// When `-w` starts a new file, and how many it keeps. Without `-C` and `-G`, one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: a new file when the packet would make the current one larger than this.
    pub max_bytes: Option<u64>,
    /// `-G`: a new file with the first packet this long (packet time) after the current
    /// file's first packet.
    pub every: Option<Duration>,
    /// `-W`: the files of the run kept; the oldest is removed when one more starts.
    pub keep: Option<u64>,
}

impl Rotation {
    /// Whether `-w` writes more than one file.
    pub fn is_on(&self) -> bool {
        self.max_bytes.is_some() || self.every.is_some()
    }

    /// Validates `-C`, `-G` and `-W` (`write`: whether -w was given).
    fn from_args(a: &InputArgs) -> Result<Rotation, Error> {
        let max_bytes = a.file_size.as_deref().map(parse_file_size).transpose()?;
        let every = a.rotate_seconds.as_deref().map(parse_rotate_seconds).transpose()?;
        let r = Rotation { max_bytes, every, keep: a.file_count };
        let given: Vec<&str> =
            [("-C", max_bytes.is_some()), ("-G", every.is_some()), ("-W", r.keep.is_some())]
                .into_iter()
                .filter_map(|(f, on)| on.then_some(f))
                .collect();
        if a.write.is_none() && !given.is_empty() {
            return Err(Error::Usage(format!(
                "{} rotate{} the files of -w: add -w FILE",
                given.join(", "),
                if given.len() == 1 { "s" } else { "" }
            )));
        }
        if r.keep.is_some() && !r.is_on() {
            return Err(Error::Usage(
                "-W COUNT keeps the last COUNT files of a rotation: add -C SIZE or -G SECONDS"
                    .into(),
            ));
        }
        if r.keep == Some(0) {
            return Err(Error::Usage("-W must be at least 1 (the file being written)".into()));
        }
        Ok(r)
    }
}

/// Parses `-C`: a bare number is millions of bytes (tcpdump's unit); with a suffix, a size as
/// elsewhere (`64K`, `4M`, `1G`: powers of 1024; `500B`: bytes).
pub fn parse_file_size(s: &str) -> Result<u64, Error> {
    let t = s.trim();
    let bytes = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1_000_000))
            .ok_or_else(|| Error::Usage(format!("-C: {s:?} is too large")))?
    } else {
        parse_size("file-size", s).map_err(|_| {
            Error::Usage(format!(
                "-C: {s:?} is not a size (a bare number is millions of bytes, as in tcpdump; \
                 or 500B, 64K, 4M, 1G)"
            ))
        })? as u64
    };
    if bytes == 0 {
        return Err(Error::Usage("-C must be more than 0 bytes".into()));
    }
    Ok(bytes)
}

/// Parses `-G`: a bare number is seconds (tcpdump's unit; `0.5` too); else a duration (`90s`,
/// `10m`, `1h`).
pub fn parse_rotate_seconds(s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let seconds = (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .then(|| t.parse::<f64>().ok())
        .flatten();
    let d = match seconds {
        Some(n) => Duration::try_from_secs_f64(n)
            .map_err(|_| Error::Usage(format!("-G: {s:?} is too large")))?,
        None => humantime::parse_duration(t).map_err(|e| {
            Error::Usage(format!(
                "-G: {s:?} is not a number of seconds or a duration ({e}; examples: 60, 0.5, 90s, 10m, 1h)"
            ))
        })?,
    };
    if d.is_zero() {
        return Err(Error::Usage("-G must be more than 0 seconds".into()));
    }
    Ok(d)
}

impl Input {
    /// The files read (none for live capture).
    pub fn files(&self) -> &[PathBuf] {
        match self {
            Input::File(p) => std::slice::from_ref(p),
            Input::Joined(ps) => ps,
            Input::Live { .. } => &[],
        }
    }

    /// The size of the files read, in bytes, for progress (0 for live capture and pipes).
    pub fn file_bytes(&self) -> u64 {
        self.files().iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum()
    }
}

/// Between the file names of a joined input in its name (`ws.pcap + ws.1.pcap`).
pub const JOINED: &str = " + ";

impl Source {
    /// Builds the sources from the flags: one per file, or the live interface. `many` allows more
    /// than one file.
    pub fn from_args(a: &InputArgs, many: bool) -> Result<Vec<Source>, Error> {
        let duration = a.duration.as_deref().map(|d| parse_duration("duration", d)).transpose()?;
        if a.count == Some(0) {
            return Err(Error::Usage("--count must be at least 1".into()));
        }
        let filter = a.filter.clone().filter(|f| !f.trim().is_empty());
        if a.write.as_deref() == Some(Path::new("-")) {
            return Err(Error::Usage(
                "-w -: wsscope's own output goes to standard output, so it does not write packets \
                 there; give -w a file name (or pipe tcpdump -w - for a packet stream)"
                    .into(),
            ));
        }
        let rotation = Rotation::from_args(a)?;
        let write =
            a.write.clone().map(|path| Save { path, rotation, packet_buffered: a.packet_buffered });
        if a.join && !a.interface.is_empty() {
            return Err(Error::Usage(
                "--join reads capture FILEs as one capture; it does not apply to live capture \
                 (-i; several -i are already read together)"
                    .into(),
            ));
        }
        if !a.files.is_empty() && a.duration.is_some() {
            return Err(Error::Usage(
                "--duration applies to live capture (-i); use --count for files".into(),
            ));
        }
        if a.files.iter().filter(|f| f.as_path() == Path::new("-")).count() > 1 {
            return Err(Error::Usage(
                "standard input (-) can be given once: it can be read only once".into(),
            ));
        }
        let inputs = match (&a.files[..], &a.interface[..]) {
            ([], [_, ..]) => {
                let names = a
                    .interface
                    .iter()
                    .map(|i| crate::capture::by_number(i))
                    .collect::<Result<Vec<_>, _>>()?;
                vec![Input::Live { interfaces: dedup(&names), options: live_options(a)? }]
            }
            ([], []) => {
                return Err(Error::Usage(
                    "give a capture FILE (or - for standard input), or -i IFACE to capture live; see --help".into(),
                ));
            }
            (files, []) if a.join && files.len() > 1 => vec![Input::Joined(files.to_vec())],
            (files, []) => {
                if files.len() > 1 && a.write.is_some() {
                    return Err(Error::Usage(
                        "-w writes the packets of one input; give one FILE, or --join to read \
                         the FILEs as one capture (and write them merged)"
                            .into(),
                    ));
                }
                if files.len() > 1 && !many {
                    return Err(Error::Usage(
                        "this command reads one FILE; give --join to read several as one \
                         capture (the pieces of a rotated recording, or two taps), or use \
                         `wsscope report`, which also takes them as separate inputs"
                            .into(),
                    ));
                }
                files.iter().cloned().map(Input::File).collect()
            }
            (_, [_, ..]) => {
                return Err(Error::Usage("give capture FILEs or -i IFACE, not both".into()));
            }
        };
        let live = inputs.iter().any(|i| matches!(i, Input::Live { .. }));
        let privileges = crate::privileges::Plan::decide(a.relinquish_privileges.as_deref(), live)?;
        Ok(inputs
            .into_iter()
            .map(|input| Source {
                input,
                filter: filter.clone(),
                max_packets: a.count,
                duration,
                write: write.clone(),
                force: a.force,
                privileges: privileges.clone(),
            })
            .collect())
    }

    /// A short description for messages (`file.pcap`, `a.pcap + b.pcap`, `-i eth0`,
    /// `-i eth0 -i eth1`).
    pub fn describe(&self) -> String {
        match &self.input {
            Input::File(p) => p.display().to_string(),
            Input::Joined(ps) => {
                ps.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(JOINED)
            }
            Input::Live { interfaces, .. } => {
                interfaces.iter().map(|i| format!("-i {i}")).collect::<Vec<_>>().join(" ")
            }
        }
    }

    /// [`Source::describe`] as shown on a terminal (escaped: see [`crate::term`]).
    pub fn display(&self) -> String {
        match &self.input {
            Input::File(p) => crate::term::path(p),
            // Thousands of pieces: the first and the last (in the order given) and how many.
            Input::Joined(ps) if ps.len() > 4 => format!(
                "{}{JOINED}…{JOINED}{} ({} files)",
                crate::term::path(&ps[0]),
                crate::term::path(&ps[ps.len() - 1]),
                ps.len()
            ),
            Input::Joined(ps) => {
                ps.iter().map(|p| crate::term::path(p)).collect::<Vec<_>>().join(JOINED)
            }
            Input::Live { interfaces, .. } => interfaces
                .iter()
                .map(|i| format!("-i {}", crate::term::escape(i)))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The interfaces, each once, in the order given.
fn dedup(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// How live interfaces are opened (`-s`, `-p`, `-B`, `--immediate-mode`, `--capture-queue`).
fn live_options(a: &InputArgs) -> Result<crate::capture::LiveOptions, Error> {
    let snaplen = match a.snaplen {
        0 => crate::capture::MAX_SNAPLEN,
        n if n < 0 => {
            return Err(Error::Usage(format!(
                "--snaplen must be positive (or 0 for the largest), got {n}"
            )));
        }
        n if n > crate::capture::MAX_SNAPLEN => {
            return Err(Error::Usage(format!(
                "--snaplen {n} is larger than the largest, {} (0 also means the largest)",
                crate::capture::MAX_SNAPLEN
            )));
        }
        n => n,
    };
    // tcpdump -B counts KiB; a suffix says otherwise.
    let b = a.buffer_size.trim();
    let buffer = if b.bytes().all(|c| c.is_ascii_digit()) && !b.is_empty() {
        parse_size("buffer-size", &format!("{b}K"))?
    } else {
        // What does not start with a digit is not a size at all: say which units -B takes.
        parse_size("buffer-size", b).map_err(|e| match b.bytes().next() {
            Some(c) if c.is_ascii_digit() => e,
            _ => Error::Usage(format!(
                "--buffer-size: {b:?} is not a size: a bare number is KiB, as with tcpdump -B \
                 (4096 is 4 MiB), or give a suffix (64K, 4M, 1G)"
            )),
        })?
    };
    if !(64 << 10..=1 << 30).contains(&buffer) {
        return Err(Error::Usage(format!(
            "--buffer-size {b:?} is out of range: give between 64K and 1G (a bare number is KiB)"
        )));
    }
    let queue = parse_size("capture-queue", &a.capture_queue)?;
    if queue < 1 << 20 {
        return Err(Error::Usage(format!(
            "--capture-queue {:?} is too small: give at least 1M",
            a.capture_queue
        )));
    }
    Ok(crate::capture::LiveOptions {
        snaplen,
        promiscuous: !a.no_promiscuous,
        buffer_size: buffer,
        immediate: a.immediate_mode,
        queue_bytes: queue,
    })
}

impl DecodeArgs {
    /// The analyzer's settings.
    pub fn to_config(&self, emit_frames: bool) -> Result<AnalyzerConfig, Error> {
        let max_message = parse_size("max-message-size", &self.max_message_size)?;
        let max_inflate = parse_size("max-inflate-size", &self.max_inflate_size)? as u64;
        if max_inflate == 0 {
            return Err(Error::Usage("--max-inflate-size must be at least 1".into()));
        }
        let max_resync = parse_size("max-resync", &self.max_resync)?;
        if max_resync < MIN_RESYNC {
            return Err(Error::Usage(format!(
                "--max-resync must be at least 16K: a search needs a frame header and the first \
                 4 KiB of a text frame's payload, four times over (got {max_resync} bytes)"
            )));
        }
        if max_resync > MAX_RESYNC {
            return Err(Error::Usage(format!(
                "--max-resync must be at most 64M: frames longer than the bytes kept are followed \
                 by their headers, so more bytes find nothing more and only hold memory \
                 (got {max_resync} bytes)"
            )));
        }
        // Key material: the key log's secrets now (a bad path fails before any output), and
        // pcapng Decryption Secrets Blocks as the file is read.
        let keys = std::sync::Arc::new(crate::tls::KeyStore::new());
        // A key log that does not exist yet is for the run to judge (followed from when it
        // appears when capturing live; see `keyfile::absent`).
        if let Some(k) = self.keylog_file().filter(|k| !crate::keyfile::is_absent(&k.path)) {
            crate::keyfile::load(&k.path, &keys).map_err(|e| Error::Usage(format!(
                "cannot read the TLS key log {}{}: {e} (--keylog FILE names the key log a client \
                 wrote with SSLKEYLOGFILE=FILE)",
                k.path.display(),
                if k.from_env { " (from SSLKEYLOGFILE)" } else { "" }
            )))?;
        }
        Ok(AnalyzerConfig {
            max_message,
            max_inflate,
            max_resync,
            emit_frames,
            // A set: the order and repeats of --ws-port change nothing (merge compares it).
            ws_ports: {
                let mut ports = self.ws_ports.clone();
                ports.sort_unstable();
                ports.dedup();
                ports
            },
            community_id_seed: self.community_id_seed,
            shard: self.shard.as_deref().map(parse_shard).transpose()?,
            tls: crate::tls::TlsConfig {
                keys: Some(keys),
                max_key_wait: parse_size("max-tls-key-wait", &self.max_tls_key_wait)?,
            },
            ..Default::default()
        })
    }

    /// The key log to read: --keylog, else SSLKEYLOGFILE when set.
    pub fn keylog_file(&self) -> Option<KeylogFile> {
        match &self.keylog {
            Some(p) => Some(KeylogFile { path: p.clone(), from_env: false }),
            None => std::env::var_os("SSLKEYLOGFILE")
                .filter(|v| !v.is_empty())
                .map(|v| KeylogFile { path: v.into(), from_env: true }),
        }
    }
}

/// A TLS key log file and where its name came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeylogFile {
    /// The file.
    pub path: PathBuf,
    /// Named by SSLKEYLOGFILE (not --keylog).
    pub from_env: bool,
}

/// `--shard I/N`: share I (0-based) of N.
/// The most shares `--shard I/N` may split a run into (`wsscope merge` holds one slot each).
pub const MAX_SHARDS: u64 = 65_536;

/// The least `--max-resync`: a search keeps a quarter of it when it gives bytes up, and that
/// quarter must hold a header and the 4 KiB of a text frame it checks.
const MIN_RESYNC: usize = 16 << 10;
/// The most `--max-resync` may keep.
const MAX_RESYNC: usize = 64 << 20;

pub fn parse_shard(s: &str) -> Result<(u64, u64), Error> {
    let bad = || {
        Error::Usage(format!(
            "--shard {s:?}: give I/N, share I of N counted from 0, e.g. --shard 0/4 … --shard 3/4"
        ))
    };
    let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) =
        (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 {
        return Err(Error::Usage(format!(
            "--shard {s:?}: N, the number of shares, must be at least 1"
        )));
    }
    if n > MAX_SHARDS {
        return Err(Error::Usage(format!(
            "--shard {s:?}: N may be at most {MAX_SHARDS} (each share still reads the whole input)"
        )));
    }
    if i >= n {
        return Err(Error::Usage(format!(
            "--shard {s:?}: share I must be below N (shares are counted from 0: 0/{n} … {}/{n})",
            n - 1
        )));
    }
    Ok((i, n))
}

impl RedactArgs {
    /// Whether a --redact-* flag was given.
    pub fn any(&self) -> bool {
        !(self.headers.is_empty()
            && self.query.is_empty()
            && self.fields.is_empty()
            && self.patterns.is_empty()
            && self.keep.is_empty())
            || self.payloads
    }

    /// The redactor of a run: on when `redact` (--redact) or a --redact-* flag asks for it, or
    /// by default (`report`). Asking for it together with -w is refused: a packet file cannot
    /// be redacted (docs/redaction.md), and one who asked would expect it to be.
    pub fn to_redactor(
        &self,
        redact: bool,
        by_default: bool,
        sources: &[Source],
    ) -> Result<Option<Redactor>, Error> {
        let asked = redact || self.any();
        if !(asked || by_default) {
            return Ok(None);
        }
        if let (true, Some(w)) = (asked, sources.iter().find_map(|s| s.write.as_ref())) {
            let w = &w.path;
            return Err(Error::Usage(format!(
                "-w {} would hold the packets as captured, secrets included: wsscope redacts what \
                 it shows and writes, never packets (masked, compressed and segmented bytes cannot \
                 be rewritten reliably); leave out -w, or save the packets without --redact and \
                 run wsscope with --redact on the saved file",
                w.display()
            )));
        }
        self.to_redactor_always().map(Some)
    }

    /// The redactor these flags describe, whatever else was asked (`wsscope redaction`).
    pub fn to_redactor_always(&self) -> Result<Redactor, Error> {
        Redactor::with_additions(&Additions {
            headers: self.headers.clone(),
            query: self.query.clone(),
            fields: self.fields.clone(),
            patterns: self.patterns.clone(),
            keep: self.keep.clone(),
            payloads: self.payloads,
        })
        .map_err(Error::Usage)
    }
}

impl OutputArgs {
    /// Whether text output is coloured: --color, then NO_COLOR, then whether stdout is a terminal.
    pub fn use_color(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }

    /// Whether progress may be drawn on standard error.
    pub fn show_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

impl crate::cli::QuietArgs {
    /// Whether progress may be drawn on standard error.
    pub fn show_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

impl FailOn {
    /// The lowest severity that makes the exit status 1.
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }

    /// The flag value as typed.
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Warning => "warning",
            FailOn::Info => "info",
            FailOn::Never => "never",
        }
    }
}

/// The smallest `--memory-budget` accepted.
const MIN_MEMORY_BUDGET: usize = 16 << 20;

impl LimitArgs {
    /// Validates the limit flags.
    pub fn to_limits(&self) -> Result<TcpLimits, Error> {
        let positive = |name: &str, v: usize| {
            if v == 0 { Err(Error::Usage(format!("--{name} must be at least 1"))) } else { Ok(v) }
        };
        Ok(TcpLimits {
            max_connections: positive("max-connections", self.max_connections)?,
            max_buffered_per_direction: parse_size(
                "max-buffered-per-direction",
                &self.max_buffered_per_direction,
            )?,
            max_buffered_segments: positive("max-buffered-segments", self.max_buffered_segments)?,
            max_buffered_total: parse_size("max-buffered-total", &self.max_buffered_total)?,
            idle_timeout: match self.idle_timeout.trim() {
                "none" | "off" => std::time::Duration::MAX,
                t => parse_duration("idle-timeout", t)?,
            },
            reorder_window: parse_duration("reorder-window", &self.reorder_window)?,
            reorder_packets: self.reorder_packets,
            max_fragmented_datagrams: positive(
                "max-fragmented-datagrams",
                self.max_fragmented_datagrams,
            )?,
            retransmission_history: parse_size(
                "retransmission-history",
                &self.retransmission_history,
            )?,
            max_history_total: parse_size("max-history-total", &self.max_history_total)?,
            max_tunnel_depth: positive("max-tunnel-depth", self.max_tunnel_depth)?,
            memory: crate::memory::Memory::new(
                match parse_size("memory-budget", &self.memory_budget)? {
                    b if b < MIN_MEMORY_BUDGET => {
                        return Err(Error::Usage(format!(
                            "--memory-budget: {:?} is too small; wsscope needs at least 16M",
                            self.memory_budget
                        )));
                    }
                    b => b,
                },
            ),
            ..TcpLimits::default()
        })
    }
}

/// Parses `4096`, `64K`, `4M`, `1G` (powers of 1024; an optional trailing `B` or `iB` is accepted).
pub fn parse_size(flag: &str, s: &str) -> Result<usize, Error> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], 1usize << 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], 1 << 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    digits.trim().parse::<usize>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(|| {
        Error::Usage(format!("--{flag}: {s:?} is not a size (examples: 65536, 64K, 4M, 1G)"))
    })
}

/// Parses a duration such as `30s`, `10m`, `1h 30m`.
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration, Error> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        Error::Usage(format!("--{flag}: {s:?} is not a duration ({e}; examples: 30s, 10m, 1h)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_suffixes() {
        assert_eq!(parse_size("x", "4096").unwrap(), 4096);
        assert_eq!(parse_size("x", "64K").unwrap(), 65536);
        assert_eq!(parse_size("x", "4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("x", "1g").unwrap(), 1 << 30);
        assert!(parse_size("x", "lots").is_err());
        assert!(parse_size("x", "").is_err());
    }

    #[test]
    fn file_sizes_are_millions_of_bytes_bare_and_sizes_with_a_suffix() {
        assert_eq!(parse_file_size("100").unwrap(), 100_000_000);
        assert_eq!(parse_file_size("1K").unwrap(), 1024);
        assert_eq!(parse_file_size("4M").unwrap(), 4 << 20);
        assert_eq!(parse_file_size("500B").unwrap(), 500);
        for bad in ["0", "0K", "", "lots", "-1", "99999999999999999999"] {
            assert!(parse_file_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rotation_seconds_are_seconds_bare_and_durations_otherwise() {
        assert_eq!(parse_rotate_seconds("60").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_rotate_seconds("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_rotate_seconds("10m").unwrap(), Duration::from_secs(600));
        for bad in ["0", "0s", "0.0", "", "soon", "1.2.3"] {
            assert!(parse_rotate_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_use_humantime() {
        assert_eq!(parse_duration("x", "10m").unwrap(), Duration::from_secs(600));
        assert!(parse_duration("x", "soon").is_err());
    }
}
