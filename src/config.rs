//! Validated configuration built from the raw command line.

use crate::cli::{InputArgs, LimitArgs};
use crate::error::Error;
use crate::limits::TcpLimits;
use std::path::PathBuf;
use std::time::Duration;

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A capture file, or `-` for standard input.
    File(PathBuf),
    /// A live interface.
    Live {
        /// Interface name.
        interface: String,
        /// Snapshot length.
        snaplen: i32,
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
}

impl Source {
    /// Builds the source from the flags.
    pub fn from_args(a: &InputArgs) -> Result<Source, Error> {
        let input = match (&a.file, &a.interface) {
            (Some(f), None) => Input::File(f.clone()),
            (None, Some(i)) => {
                if a.snaplen <= 0 {
                    return Err(Error::Usage(format!(
                        "--snaplen must be positive, got {}",
                        a.snaplen
                    )));
                }
                Input::Live { interface: i.clone(), snaplen: a.snaplen }
            }
            _ => return Err(Error::Usage("give a capture FILE or -i IFACE (not both)".into())),
        };
        let duration = a.duration.as_deref().map(|d| parse_duration("duration", d)).transpose()?;
        if a.count == Some(0) {
            return Err(Error::Usage("--count must be at least 1".into()));
        }
        Ok(Source {
            input,
            filter: a.filter.clone().filter(|f| !f.trim().is_empty()),
            max_packets: a.count,
            duration,
        })
    }

    /// A short description for messages (`file.pcap`, `-i eth0`).
    pub fn describe(&self) -> String {
        match &self.input {
            Input::File(p) => p.display().to_string(),
            Input::Live { interface, .. } => format!("-i {interface}"),
        }
    }
}

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
            idle_timeout: parse_duration("idle-timeout", &self.idle_timeout)?,
            max_fragmented_datagrams: positive(
                "max-fragmented-datagrams",
                self.max_fragmented_datagrams,
            )?,
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
    fn durations_use_humantime() {
        assert_eq!(parse_duration("x", "10m").unwrap(), Duration::from_secs(600));
        assert!(parse_duration("x", "soon").is_err());
    }
}
