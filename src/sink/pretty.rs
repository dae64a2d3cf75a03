//! Pretty JSON, byte for byte as serde_json's pretty printer writes it, written fast.
//!
//! sonic-rs serialises about twice as fast as serde_json, but its pretty printer writes each
//! level of indentation with its own `write_all`, and its `BufferedWriter` passes every token
//! straight to the underlying writer: at 1,100 connections a third of the report's writing time
//! went to those calls. Here each line break and its indentation is one copy from a static
//! run of spaces, and tokens collect in a 64 KiB chunk that is handed on when full, so the
//! memory used does not grow with the report.

use serde::Serialize;
use sonic_rs::format::Formatter;
use sonic_rs::writer::WriteExt;
use std::io::{self, Write};
use std::mem::MaybeUninit;

/// Bytes collected before they are handed to the underlying writer.
const CHUNK: usize = 64 * 1024;

/// A line break, then indentation for up to `(INDENTS.len() - 2) / 2` levels.
const INDENTS: &[u8; 258] = &{
    let mut b = [b' '; 258];
    b[0] = b',';
    b[1] = b'\n';
    b
};

/// Writes `value` as pretty JSON (two spaces per level), as `serde_json::to_writer_pretty`.
pub fn write<T: Serialize + ?Sized>(value: &T, out: impl Write) -> io::Result<()> {
    let mut w = Chunked { inner: out, buf: Vec::with_capacity(CHUNK + 4096), failed: None };
    let mut ser = sonic_rs::Serializer::with_formatter(&mut w, Pretty::default());
    if let Err(e) = value.serialize(&mut ser) {
        // The writer's own error (a closed pipe is not a failure to the caller), not
        // sonic-rs's wrapping of it.
        return Err(w.failed.take().unwrap_or_else(|| io::Error::other(e)));
    }
    w.hand_on()
}

/// Writes `value` into `buf` as pretty JSON nested `depth` levels deep (the indentation of
/// its inner lines and closing bracket; the first line is not indented): what
/// `serde_json::to_writer_pretty` writes for it as an element at that depth.
pub fn write_nested<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
    depth: usize,
) -> io::Result<()> {
    let mut ser = sonic_rs::Serializer::with_formatter(buf, Pretty { depth, has_value: false });
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// Collects what sonic-rs writes and hands it on a chunk at a time.
struct Chunked<W: Write> {
    inner: W,
    buf: Vec<u8>,
    /// The underlying writer's first error.
    failed: Option<io::Error>,
}

impl<W: Write> Chunked<W> {
    // Once per 64 KiB: kept out of the writes that call it.
    #[cold]
    #[inline(never)]
    fn hand_on(&mut self) -> io::Result<()> {
        if let Err(e) = self.inner.write_all(&self.buf) {
            let kind = e.kind();
            self.failed.get_or_insert(e);
            return Err(kind.into());
        }
        self.buf.clear();
        Ok(())
    }

    #[inline]
    fn hand_on_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK { self.hand_on() } else { Ok(()) }
    }
}

impl<W: Write> Write for Chunked<W> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        self.hand_on_if_full()?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write(bytes).map(|_| ())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_on()?;
        self.inner.flush()
    }
}

impl<W: Write> WriteExt for Chunked<W> {
    #[inline]
    fn reserve_with(&mut self, additional: usize) -> io::Result<&mut [MaybeUninit<u8>]> {
        self.buf.reserve(additional);
        Ok(&mut self.buf.spare_capacity_mut()[..additional])
    }

    #[inline]
    unsafe fn flush_len(&mut self, additional: usize) -> io::Result<()> {
        let len = self.buf.len() + additional;
        debug_assert!(len <= self.buf.capacity());
        // SAFETY: sonic-rs initialised `additional` bytes of the spare capacity `reserve_with`
        // returned (the contract of `WriteExt::flush_len`).
        unsafe { self.buf.set_len(len) };
        self.hand_on_if_full()
    }
}

/// serde_json's `PrettyFormatter` with two spaces, writing each break and indentation at once.
#[derive(Clone, Default)]
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    /// Writes `,` (unless `first`), a line break and the indentation of the current depth.
    #[inline]
    fn newline<W: ?Sized + Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        let start = usize::from(first);
        let end = 2 + 2 * self.depth;
        if end <= INDENTS.len() {
            w.write_all(&INDENTS[start..end])
        } else {
            w.write_all(&INDENTS[start..2])?;
            (0..self.depth).try_for_each(|_| w.write_all(b"  "))
        }
    }

    /// `[` or `{`: one level deeper, nothing in it yet.
    #[inline]
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    /// `]` or `}`, on a line of its own unless the array or object is empty.
    #[inline]
    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(w, true)?;
        }
        w.write_all(bracket)
    }
}

impl Formatter for Pretty {
    #[inline]
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    #[inline]
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    #[inline]
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, first)
    }

    #[inline]
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    #[inline]
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    #[inline]
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    #[inline]
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, first)
    }

    #[inline]
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    #[inline]
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes pretty JSON one level deeper: `indent` after every line break (JSON text has line
/// breaks only between tokens, never inside a string).
pub struct Indented<'a, W: Write> {
    out: &'a mut W,
    indent: &'static [u8],
}

impl<'a, W: Write> Indented<'a, W> {
    /// Writes into `out`, with `indent` after every line break.
    pub fn new(out: &'a mut W, indent: &'static [u8]) -> Self {
        Indented { out, indent }
    }
}

impl<W: Write> Write for Indented<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while let Some(at) = memchr::memchr(b'\n', bytes) {
            self.out.write_all(&bytes[..=at])?;
            self.out.write_all(self.indent)?;
            bytes = &bytes[at + 1..];
        }
        self.out.write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The elements of an array that is a member of a pretty document's top object, written one
/// at a time (each pretty-printed with [`Indented`] by four spaces): the separators and the
/// closing bracket as serde_json's pretty printer writes them.
#[derive(Debug, Default)]
pub struct Elements {
    written: u64,
}

impl Elements {
    /// Before an element: the comma after the one before it, a line break, the indentation.
    pub fn next(&mut self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(if self.written == 0 { b"\n    " } else { b",\n    " })?;
        self.written += 1;
        Ok(())
    }

    /// The closing bracket (`[]` when the array is empty).
    pub fn close(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(if self.written == 0 { b"]" } else { b"\n  ]" })
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Shapes {
        f: f64,
        fs: Vec<f64>,
        s: String,
        ss: Vec<String>,
        m: BTreeMap<String, Option<f64>>,
        nested: Vec<Vec<u64>>,
        none: Option<u64>,
        empty: Vec<u8>,
        empty_map: BTreeMap<String, u8>,
    }

    fn mine<T: Serialize>(v: &T) -> String {
        let mut out = Vec::new();
        super::write(v, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Deeper than the static run of spaces, and longer than one chunk.
    #[test]
    fn deep_and_long_values_are_written_as_serde_json_writes_them() {
        let mut deep = serde_json::json!([1, {"a": [], "b": {}}]);
        for i in 0..200 {
            deep = serde_json::json!({ format!("k{i}"): [deep, i] });
        }
        assert_eq!(mine(&deep), serde_json::to_string_pretty(&deep).unwrap());
        let long: Vec<String> = (0..20_000).map(|i| format!("item \"{i}\"\n")).collect();
        let text = mine(&long);
        assert!(text.len() > 3 * super::CHUNK);
        assert_eq!(text, serde_json::to_string_pretty(&long).unwrap());
    }

    /// The writer's own error comes back (a closed pipe is told apart from a failure).
    #[test]
    fn the_writers_error_is_returned_as_it_is() {
        struct Closed;
        impl std::io::Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let long: Vec<String> = (0..20_000).map(|i| format!("item {i}")).collect();
        let e = super::write(&long, Closed).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        let e = super::write(&1u8, Closed).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }

    proptest::proptest! {
        /// Floats (where writers differ), strings with any character, empty and nested arrays
        /// and objects, nulls.
        #[test]
        fn pretty_json_is_byte_identical_to_serde_json(
            f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            fs in proptest::collection::vec(proptest::num::f64::NORMAL, 0..4),
            s in proptest::prelude::any::<String>(),
            ss in proptest::collection::vec(proptest::prelude::any::<String>(), 0..3),
            m in proptest::collection::btree_map(".{0,8}", proptest::option::of(proptest::num::f64::NORMAL), 0..3),
            nested in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u64>(), 0..3), 0..3),
            none in proptest::option::of(proptest::prelude::any::<u64>()),
        ) {
            let v = Shapes { f, fs, s, ss, m, nested, none, empty: Vec::new(), empty_map: BTreeMap::new() };
            proptest::prop_assert_eq!(mine(&v), serde_json::to_string_pretty(&v).unwrap());
        }
    }
}
