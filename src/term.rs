//! Terminal safety: the one function every string from the input goes through before it reaches
//! a terminal (text view, `streams`, notices and errors on standard error, the progress line, the
//! TUI).
//!
//! A capture is hostile input: its file name, and every path, header, payload and close reason in
//! it, may hold bytes a terminal acts on (`ESC ] 0;… BEL` retitles it, `ESC [2J` clears it) or
//! characters that change what is seen without being seen (a right-to-left override reorders the
//! rest of the line; zero-width characters hide text or make two different strings look alike).
//! [`escape`] shows all of them as visible escapes, the same way everywhere:
//!
//! - `\n`, `\r`, `\t` for those three; `\u{1b}`, `\u{202e}`, … (lowercase hex, Rust's syntax) for
//!   every other escaped character; `\xff` for a byte of a file name that is not UTF-8;
//! - escaped: the C0 controls, DEL and the C1 controls (general category Cc); every format
//!   character (Cf: the soft hyphen U+00AD, the bidirectional marks, embeddings, overrides and
//!   isolates U+061C, U+200E/F, U+202A–202E, U+2066–2069, the zero-width space, joiners and
//!   word joiner U+200B–200D, U+2060–2064, the byte order mark U+FEFF, the tag characters
//!   U+E0000–E007F, …); the line and paragraph separators U+2028/U+2029 (Zl, Zp); and every other
//!   default-ignorable code point, which terminals draw as nothing (U+034F, the Hangul fillers
//!   U+115F, U+1160, U+3164, U+FFA0, U+180B–180F, the variation selectors U+FE00–FE0F and
//!   U+E0100–E01EF — so an emoji with a presentation selector shows it: `❤\u{fe0f}`).
//!
//! The output holds none of these characters, so escaping is idempotent: an already escaped
//! string (or Rust's `{:?}` of one) comes out unchanged, and a line can be escaped again at the
//! point it is printed. A backslash is not escaped: a file name spelling `\u{1b}` looks like one
//! holding ESC, which is ambiguous but harmless. JSON outputs are not terminal output and keep
//! exact strings.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Whether `c` is shown escaped (see the module documentation for the list).
pub fn needs_escape(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return u < 0x20 || u == 0x7f;
    }
    matches!(
        u,
        0x80..=0x9f // C1 controls
            | 0xad // soft hyphen
            | 0x34f // combining grapheme joiner
            | 0x600..=0x605 // Arabic number signs (Cf)
            | 0x61c // Arabic letter mark
            | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 // other Cf
            | 0x115f..=0x1160 // Hangul fillers
            | 0x17b4..=0x17b5 // Khmer inherent vowels (invisible)
            | 0x180b..=0x180f // Mongolian variation selectors and vowel separator
            | 0x200b..=0x200f // zero-width space, ZWNJ, ZWJ, LRM, RLM
            | 0x2028..=0x202e // line/paragraph separators, LRE, RLE, PDF, LRO, RLO
            | 0x2060..=0x206f // word joiner, invisible operators, isolates, deprecated format
            | 0x3164 // Hangul filler
            | 0xfe00..=0xfe0f // variation selectors
            | 0xfeff // zero-width no-break space (byte order mark)
            | 0xffa0 // halfwidth Hangul filler
            | 0xfff0..=0xfffb // unassigned default-ignorables, interlinear annotation
            | 0x110bd | 0x110cd // Kaithi number signs (Cf)
            | 0x13430..=0x1343f // Egyptian hieroglyph format controls
            | 0x1bca0..=0x1bca3 // shorthand format controls
            | 0x1d173..=0x1d17a // musical symbol format controls
            | 0xe0000..=0xe0fff // tags, variation selectors supplement, reserved ignorables
    )
}

fn push_escaped(o: &mut impl std::fmt::Write, c: char) -> std::fmt::Result {
    match c {
        '\n' => o.write_str("\\n"),
        '\r' => o.write_str("\\r"),
        '\t' => o.write_str("\\t"),
        c => write!(o, "\\u{{{:x}}}", c as u32),
    }
}

/// `s` with every character of [`needs_escape`] shown as a visible escape; borrowed when there
/// is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    match s.char_indices().find(|&(_, c)| needs_escape(c)) {
        None => Cow::Borrowed(s),
        Some((first, _)) => {
            let mut o = String::with_capacity(s.len() + 8);
            o.push_str(&s[..first]);
            for c in s[first..].chars() {
                if needs_escape(c) {
                    let _ = push_escaped(&mut o, c);
                } else {
                    o.push(c);
                }
            }
            Cow::Owned(o)
        }
    }
}

/// [`escape`], cut after `max` characters of `s` (an ellipsis marks the cut).
pub fn printable(s: &str, max: usize) -> String {
    Printable(s, max).to_string()
}

/// [`printable`] written as it is escaped, without a copy (the text view's `-v` of a large
/// message).
pub struct Printable<'a>(pub &'a str, pub usize);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, max) = (self.0, self.1);
        // Runs of characters shown as they are go out in one piece.
        let mut plain = 0;
        for (n, (i, c)) in s.char_indices().enumerate() {
            if n >= max {
                f.write_str(&s[plain..i])?;
                return f.write_str("…");
            }
            if needs_escape(c) {
                f.write_str(&s[plain..i])?;
                push_escaped(f, c)?;
                plain = i + c.len_utf8();
            }
        }
        f.write_str(&s[plain..])
    }
}

/// A file name as shown on a terminal: [`escape`]d, with each byte that is not UTF-8 as `\xff`
/// (`Path::display` would turn those into U+FFFD).
pub fn path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut o = String::new();
    for chunk in p.as_os_str().as_bytes().utf8_chunks() {
        o.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(o, "\\x{b:02x}");
        }
    }
    o
}

/// Seconds east of UTC of the local time zone at `ts` (`TZ` and the system's zone files, via
/// `localtime_r`); 0 when it cannot be told.
pub fn local_offset(ts: crate::time::Timestamp) -> i32 {
    let secs = ts.as_nanos().div_euclid(1_000_000_000) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if ok { i32::try_from(tm.tm_gmtoff).unwrap_or(0) } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_control_sequences_are_shown_not_sent() {
        // OSC 0 (set title) ended by BEL, then CSI 2J (clear screen).
        assert_eq!(
            escape("x\x1b]0;PWNED\x07\x1b[2J.pcap"),
            "x\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J.pcap"
        );
        assert_eq!(escape("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escape("\0\x7f"), "\\u{0}\\u{7f}");
        // C1 controls: U+009B is a one-character CSI on terminals that honour 8-bit controls.
        assert_eq!(escape("\u{9b}2J\u{85}"), "\\u{9b}2J\\u{85}");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        for c in ['\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}'] {
            assert!(needs_escape(c), "{:x}", c as u32);
        }
        for c in ['\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert!(needs_escape(c), "{:x}", c as u32);
        }
        assert_eq!(escape("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(escape("\u{2066}a\u{2069}"), "\\u{2066}a\\u{2069}");
    }

    #[test]
    fn zero_width_and_invisible_characters_are_escaped() {
        for c in ['\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{2061}', '\u{2064}'] {
            assert!(needs_escape(c), "{:x}", c as u32);
        }
        for c in ['\u{feff}', '\u{180e}', '\u{ad}', '\u{34f}', '\u{3164}', '\u{115f}'] {
            assert!(needs_escape(c), "{:x}", c as u32);
        }
        // Tag characters spell hidden ASCII; variation selectors can carry hidden bytes too.
        for c in ['\u{e0001}', '\u{e0041}', '\u{e007f}', '\u{fe0f}', '\u{e0100}'] {
            assert!(needs_escape(c), "{:x}", c as u32);
        }
        assert_eq!(escape("ad\u{200b}min"), "ad\\u{200b}min");
        assert_eq!(escape("soft\u{ad}hyphen"), "soft\\u{ad}hyphen");
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(escape("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
    }

    #[test]
    fn ordinary_text_is_kept_as_is() {
        for s in ["GET /chat?x=1 HTTP/1.1", "héllo wörld", "日本語", "مرحبا", "emoji 😀 ok", "a\\b"]
        {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
        }
        // Neighbours of escaped ranges stay visible.
        for c in ['\u{a0}', '\u{ae}', '\u{2027}', '\u{202f}', '\u{205f}', '\u{2070}', '\u{fffd}'] {
            assert!(!needs_escape(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn escaping_is_idempotent() {
        let hostile = "\x1b]0;t\x07\u{202e}\u{200b}\n\u{9b}\u{e0041}\u{fe0f}";
        let once = escape(hostile).into_owned();
        assert_eq!(escape(&once), once);
        assert!(!once.chars().any(needs_escape));
        // Rust's Debug escaping of a string is left alone too.
        let dbg = format!("{hostile:?}");
        assert_eq!(escape(&dbg), dbg);
    }

    proptest::proptest! {
        /// Written a run at a time, the text is each character escaped or kept, in order, up
        /// to `max` of them: any characters (controls, invisible ones, any Unicode), cut
        /// anywhere.
        #[test]
        fn printable_escapes_each_character_up_to_the_cut(s in proptest::prelude::any::<String>(), max in 0usize..40) {
            let mut want = String::new();
            for (i, c) in s.chars().enumerate() {
                if i >= max {
                    want.push('…');
                    break;
                }
                if needs_escape(c) {
                    let _ = push_escaped(&mut want, c);
                } else {
                    want.push(c);
                }
            }
            proptest::prop_assert_eq!(printable(&s, max), want);
        }
    }

    #[test]
    fn printable_cuts_after_max_characters() {
        assert_eq!(printable("a\x1b[2Jb\n", 100), "a\\u{1b}[2Jb\\n");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("\u{202e}bcdef", 2), "\\u{202e}b…");
    }

    #[test]
    fn paths_show_bytes_that_are_not_utf8() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(OsStr::from_bytes(b"cap\xff\x1b[2J\xe2\x80\xae.pcap"));
        assert_eq!(path(p), "cap\\xff\\u{1b}[2J\\u{202e}.pcap");
    }
}
