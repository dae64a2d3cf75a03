//! Times as people read them: wall clock (`HH:MM:SS.mmm`, UTC or local), ISO 8601, time since
//! the capture or the connection started, and the delta to the previous line — one vocabulary
//! for the TUI (`t` cycles it), `--text --time MODE`, and the JSON outputs.
//!
//! Pure: a local time is given as the offset from UTC that applies to it ([`LocalOffset`] is
//! how the edges learn it); nothing here reads a clock or the time zone.

use crate::time::Timestamp;

/// How a time column is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeMode {
    /// Seconds since the capture's first event shown.
    #[default]
    Capture,
    /// Seconds since the connection's first packet.
    Connection,
    /// Seconds since the previous line (of the same connection, in the TUI).
    Delta,
    /// Wall clock in UTC, `HH:MM:SS.mmm`.
    Utc,
    /// Wall clock in the local time zone, `HH:MM:SS.mmm`.
    Local,
}

impl TimeMode {
    /// The next mode (the TUI's `t`).
    pub fn next(self) -> TimeMode {
        match self {
            TimeMode::Connection => TimeMode::Capture,
            TimeMode::Capture => TimeMode::Delta,
            TimeMode::Delta => TimeMode::Utc,
            TimeMode::Utc => TimeMode::Local,
            TimeMode::Local => TimeMode::Connection,
        }
    }

    /// A short name for titles and help.
    pub fn name(self) -> &'static str {
        match self {
            TimeMode::Capture => "since capture start",
            TimeMode::Connection => "since connection start",
            TimeMode::Delta => "delta",
            TimeMode::Utc => "UTC",
            TimeMode::Local => "local time",
        }
    }
}

/// Seconds east of UTC of the local time zone at a given moment.
pub type LocalOffset = fn(Timestamp) -> i32;

/// The times one line needs to be shown in any mode.
#[derive(Clone, Copy, Debug)]
pub struct Moments {
    /// The line's time.
    pub at: Timestamp,
    /// The capture's first event shown.
    pub capture: Timestamp,
    /// The connection's first packet.
    pub connection: Timestamp,
    /// The previous line's time (the line's own when it is the first).
    pub previous: Timestamp,
}

/// `m.at` in `mode`, `width` columns wide (right-aligned). `local` gives the UTC offset for
/// [`TimeMode::Local`].
pub fn format(mode: TimeMode, m: Moments, local: LocalOffset) -> String {
    let secs = |from: Timestamp| {
        let d = m.at.as_nanos().saturating_sub(from.as_nanos());
        format!("{:.6}", d as f64 / 1e9)
    };
    match mode {
        TimeMode::Capture => secs(m.capture),
        TimeMode::Connection => secs(m.connection),
        TimeMode::Delta => format!("+{}", secs(m.previous)),
        TimeMode::Utc => clock(m.at, 0),
        TimeMode::Local => clock(m.at, local(m.at)),
    }
}

/// `HH:MM:SS.mmm` of `ts` at `offset` seconds east of UTC.
pub fn clock(ts: Timestamp, offset: i32) -> String {
    let n = ts.as_nanos().saturating_add(i64::from(offset) * 1_000_000_000);
    let day_nanos = n.rem_euclid(86_400 * 1_000_000_000);
    let s = day_nanos / 1_000_000_000;
    let ms = (day_nanos % 1_000_000_000) / 1_000_000;
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

/// ISO 8601 in UTC with the capture's nanoseconds: `2026-12-04T21:33:09.123456789Z`.
pub fn iso8601(ts: Timestamp) -> String {
    iso8601_to(ts, 9)
}

/// [`iso8601`] rounded to `decimals` digits of a second (0 to 9: the capture's precision).
///
/// Written digit by digit: a report writes two for each connection, and `format!` took a
/// tenth of a large report's building.
pub fn iso8601_to(ts: Timestamp, decimals: usize) -> String {
    let d = decimals.min(9);
    // In i128: rounding the last nanoseconds of i64's range up does not overflow.
    let unit = 10i128.pow(9 - d as u32);
    let n = i128::from(ts.as_nanos());
    let rounded = (n.div_euclid(unit) + i128::from(n.rem_euclid(unit) * 2 >= unit)) * unit;
    let secs = rounded.div_euclid(1_000_000_000) as i64;
    let nanos = rounded.rem_euclid(1_000_000_000) as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, day) = civil_from_days(days);
    // i64 nanoseconds span the years 1677 to 2262: always four digits.
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    digits(&mut b[0..4], y.clamp(0, 9999) as u64);
    digits(&mut b[5..7], u64::from(mo));
    digits(&mut b[8..10], u64::from(day));
    digits(&mut b[11..13], (sod / 3600) as u64);
    digits(&mut b[14..16], (sod / 60 % 60) as u64);
    digits(&mut b[17..19], (sod % 60) as u64);
    // "…SS.nnnnnnnnnZ": `d` digits (and the point only when there are any).
    let mut len = 19;
    if d > 0 {
        digits(&mut b[20..20 + d], (i128::from(nanos) / unit) as u64);
        len = 20 + d;
    }
    b[len] = b'Z';
    b[..=len].iter().map(|&c| char::from(c)).collect()
}

/// `v`'s last `out.len()` decimal digits, zero-padded.
fn digits(out: &mut [u8], mut v: u64) {
    for c in out.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// [`iso8601`] to the nanosecond with trailing zero groups of three digits dropped: a
/// microsecond capture's times show six decimals, a whole second none. Exact, never rounded.
pub fn iso8601_exact(ts: Timestamp) -> String {
    let mut decimals = 9;
    let mut n = ts.as_nanos().rem_euclid(1_000_000_000);
    while decimals > 0 && n % 1000 == 0 {
        n /= 1000;
        decimals -= 3;
    }
    iso8601_to(ts, decimals)
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A duration as people read it: milliseconds under 0.1 s (`3.047 ms`), seconds with three
/// decimals up to a minute (`1.250 s`), minutes and hours spelled out past it (`2 min 5.0 s`,
/// `1 h 3 min`).
pub fn duration(secs: f64) -> String {
    match secs {
        s if s < 0.1 => format!("{:.3} ms", s * 1e3),
        s if s < 60.0 => format!("{s:.3} s"),
        s if s < 3600.0 => format!("{} min {:.1} s", (s / 60.0).floor(), s % 60.0),
        s => format!("{} h {} min", (s / 3600.0).floor(), ((s % 3600.0) / 60.0).floor()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(_: Timestamp) -> i32 {
        0
    }

    #[test]
    fn wall_clock_and_iso() {
        // 2026-12-04 21:33:09.123456789 UTC.
        let ts = Timestamp::from_secs_nanos(1_796_419_989, 123_456_789);
        assert_eq!(iso8601(ts), "2026-12-04T21:33:09.123456789Z");
        assert_eq!(clock(ts, 0), "21:33:09.123");
        assert_eq!(clock(ts, 3600), "22:33:09.123");
        assert_eq!(clock(ts, -22 * 3600), "23:33:09.123");
        assert_eq!(iso8601(Timestamp::from_nanos(0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            iso8601(Timestamp::from_secs_nanos(951_782_400, 0)),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(iso8601(Timestamp::from_nanos(-1)), "1969-12-31T23:59:59.999999999Z");
    }

    /// What [`iso8601_to`] wrote with `format!`, before it wrote digits itself.
    fn iso8601_to_formatted(ts: Timestamp, decimals: usize) -> String {
        let d = decimals.min(9);
        let unit = 10i128.pow(9 - d as u32);
        let n = i128::from(ts.as_nanos());
        let rounded = (n.div_euclid(unit) + i128::from(n.rem_euclid(unit) * 2 >= unit)) * unit;
        let secs = rounded.div_euclid(1_000_000_000) as i64;
        let nanos = rounded.rem_euclid(1_000_000_000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, mo, day) = civil_from_days(days);
        let full = format!(
            "{y:04}-{mo:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
        let dot = full.len() - 11;
        let cut = if d == 0 { dot } else { dot + 1 + d };
        format!("{}Z", &full[..cut])
    }

    proptest::proptest! {
        #[test]
        fn iso_digit_by_digit_is_what_format_wrote(
            n in proptest::num::i64::ANY,
            d in 0usize..12,
        ) {
            let ts = Timestamp::from_nanos(n);
            proptest::prop_assert_eq!(iso8601_to(ts, d), iso8601_to_formatted(ts, d));
        }
    }

    /// The ends of i64's range (a pcapng timestamp of all ones saturates to the last): rounded,
    /// never wrapped to the other end.
    #[test]
    fn iso_at_the_ends_of_the_range() {
        let (max, min) = (Timestamp::from_nanos(i64::MAX), Timestamp::from_nanos(i64::MIN));
        assert_eq!(iso8601(max), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(iso8601_to(max, 6), "2262-04-11T23:47:16.854776Z");
        assert_eq!(iso8601_to(max, 0), "2262-04-11T23:47:17Z");
        assert_eq!(iso8601(min), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(iso8601_to(min, 6), "1677-09-21T00:12:43.145224Z");
        assert_eq!(iso8601_to(min, 0), "1677-09-21T00:12:43Z");
    }

    #[test]
    fn iso_to_the_captures_precision() {
        let ts = Timestamp::from_secs_nanos(1_796_419_989, 123_456_789);
        assert_eq!(iso8601_to(ts, 6), "2026-12-04T21:33:09.123457Z");
        assert_eq!(iso8601_to(ts, 9), "2026-12-04T21:33:09.123456789Z");
        assert_eq!(iso8601_to(ts, 0), "2026-12-04T21:33:09Z");
        let end = Timestamp::from_secs_nanos(1_796_419_989, 999_999_999);
        assert_eq!(iso8601_to(end, 3), "2026-12-04T21:33:10.000Z");
    }

    #[test]
    fn iso_exact_drops_only_zero_groups() {
        let at = |ns| iso8601_exact(Timestamp::from_secs_nanos(1_796_419_989, ns));
        assert_eq!(at(123_456_789), "2026-12-04T21:33:09.123456789Z");
        assert_eq!(at(123_456_000), "2026-12-04T21:33:09.123456Z");
        assert_eq!(at(120_000_000), "2026-12-04T21:33:09.120Z");
        assert_eq!(at(0), "2026-12-04T21:33:09Z");
        assert_eq!(iso8601_exact(Timestamp::from_nanos(-1_000)), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn every_mode() {
        let t = |s: i64, ms: i64| Timestamp::from_secs_nanos(s, ms * 1_000_000);
        let m = Moments {
            at: t(100, 250),
            capture: t(90, 0),
            connection: t(99, 0),
            previous: t(100, 200),
        };
        assert_eq!(format(TimeMode::Capture, m, utc), "10.250000");
        assert_eq!(format(TimeMode::Connection, m, utc), "1.250000");
        assert_eq!(format(TimeMode::Delta, m, utc), "+0.050000");
        assert_eq!(format(TimeMode::Utc, m, utc), "00:01:40.250");
        assert_eq!(format(TimeMode::Local, m, |_| 7200), "02:01:40.250");
        let mut mode = TimeMode::Connection;
        for _ in 0..5 {
            mode = mode.next();
        }
        assert_eq!(mode, TimeMode::Connection);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.003047), "3.047 ms");
        assert_eq!(duration(0.25), "0.250 s");
        assert_eq!(duration(125.0), "2 min 5.0 s");
        assert_eq!(duration(3780.0), "1 h 3 min");
    }
}
