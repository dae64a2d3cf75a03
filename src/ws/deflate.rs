//! permessage-deflate decompression (RFC 7692 §7.2.2), one inflater per direction.
//!
//! A compressed message is inflated as its frames arrive: the payloads of all its frames form one
//! raw DEFLATE stream, to which `00 00 FF FF` is appended at the end of the message. The
//! inflater — and so the LZ77 window — is kept from message to message (context takeover, the
//! default) unless the sender's direction negotiated `no_context_takeover`.
//!
//! When the window is not known (the capture started mid-connection, bytes were lost, or a
//! message was abandoned at the size limit), inflation is still attempted from an empty window:
//! an empty window holds a suffix of the true one, so a message either inflates to exactly the
//! right bytes or fails on a back-reference that reaches further than the capture saw. The
//! failure is reported as missing context, never as garbage.

use flate2::{Decompress, FlushDecompress, Status};

/// Output produced per inflate step.
const CHUNK: usize = 16 * 1024;

thread_local! {
    /// Inflated bytes pass through one buffer per thread, shared by every inflater (each holds it
    /// only during a call), instead of 16 KiB per compressed direction.
    static OUT: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; CHUNK].into_boxed_slice());
}
/// RFC 7692 §7.2.2: the tail removed by the compressor, appended back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Why a message could not be inflated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The data is not valid DEFLATE although the window was known.
    Corrupt(String),
    /// A back-reference reaches into data the capture does not have.
    MissingContext(String),
    /// The message inflated past the limit; inflation stopped there.
    Limit(u64),
}

/// The inflater of one direction.
pub struct Inflater {
    /// Created on the first compressed message.
    z: Option<Decompress>,
    /// The sender resets its compressor after every message.
    no_context_takeover: bool,
    /// Whether the window holds everything the sender's compressor may refer to.
    context_known: bool,
    /// The current message failed; its remaining input is ignored.
    failed: bool,
    /// Bytes produced for the current message.
    produced: u64,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .field("context_known", &self.context_known)
            .finish()
    }
}

impl Inflater {
    /// An inflater for a direction whose sender resets after every message when
    /// `no_context_takeover`; `context_known` is false when the capture did not see the
    /// connection from its start.
    pub fn new(no_context_takeover: bool, context_known: bool) -> Self {
        Inflater { z: None, no_context_takeover, context_known, failed: false, produced: 0 }
    }

    /// Whether the window is complete (every message can be inflated).
    pub fn context_known(&self) -> bool {
        self.context_known || self.no_context_takeover
    }

    /// Bytes were lost or a message abandoned: the window is no longer complete.
    pub fn lose_context(&mut self) {
        self.context_known = false;
    }

    /// Feeds compressed payload bytes of the current message; inflated bytes go to `sink`.
    /// After an error the rest of the message is ignored (the error is returned once); the
    /// caller still calls [`Inflater::finish`] at the end of the message.
    pub fn feed(
        &mut self,
        input: &[u8],
        limit: u64,
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        if self.failed {
            return Ok(());
        }
        self.run(input, FlushDecompress::None, limit, sink)
    }

    /// Ends the current message: inflates the tail and gets ready for the next message.
    pub fn finish(&mut self, limit: u64, sink: &mut impl FnMut(&[u8])) -> Result<(), InflateError> {
        let result =
            if self.failed { Ok(()) } else { self.run(&TAIL, FlushDecompress::Sync, limit, sink) };
        if self.failed || self.no_context_takeover {
            // RFC 7692 §7.2.2: without context takeover each message starts from an empty
            // window; after a failure the window is unusable and starts empty too.
            if let Some(z) = &mut self.z {
                z.reset(false);
            }
        }
        if self.no_context_takeover {
            self.context_known = true;
        }
        self.failed = false;
        self.produced = 0;
        result
    }

    fn run(
        &mut self,
        mut input: &[u8],
        flush: FlushDecompress,
        limit: u64,
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        enum Stop {
            Done,
            Corrupt,
            Limit,
        }
        // The zlib state is created on the first compressed message of the direction.
        let z = self.z.get_or_insert_with(|| Decompress::new(false));
        let produced = &mut self.produced;
        let stop = OUT.with(|cell| {
            // One output buffer per thread, shared by every inflater; a (never expected)
            // re-entrant use gets its own temporary buffer instead of panicking.
            let mut own;
            let mut shared = cell.try_borrow_mut();
            let out: &mut [u8] = match shared.as_deref_mut() {
                Ok(b) => b,
                Err(_) => {
                    own = vec![0u8; CHUNK];
                    &mut own
                }
            };
            loop {
                let (before_in, before_out) = (z.total_in(), z.total_out());
                let status = z.decompress(input, out, flush);
                let used = (z.total_in() - before_in) as usize;
                let made = (z.total_out() - before_out) as usize;
                input = input.get(used..).unwrap_or(&[]);
                if made > 0 {
                    *produced += made as u64;
                    sink(out.get(..made).unwrap_or(&[]));
                }
                match status {
                    // zlib's own message text depends on where the input was split (zlib-rs
                    // reports the same bad data as "invalid distance too far back" or as
                    // "repeated call with bad state"); reports must not, so the class alone
                    // describes it.
                    Err(_) => return Stop::Corrupt,
                    Ok(_) if *produced > limit => return Stop::Limit,
                    Ok(Status::StreamEnd) => {
                        // A final block inside a message: the sender ended its stream. Whatever
                        // follows starts a new stream (RFC 7692 §7.2.3.3 allows BFINAL blocks).
                        z.reset(false);
                        if input.is_empty() {
                            return Stop::Done;
                        }
                    }
                    Ok(_) if input.is_empty() && made < out.len() => return Stop::Done,
                    Ok(_) if used == 0 && made == 0 => return Stop::Done,
                    Ok(_) => {}
                }
            }
        });
        match stop {
            Stop::Done => Ok(()),
            Stop::Corrupt => Err(self.fail()),
            Stop::Limit => {
                self.failed = true;
                self.context_known = false;
                Err(InflateError::Limit(self.produced))
            }
        }
    }

    fn fail(&mut self) -> InflateError {
        self.failed = true;
        if self.context_known() {
            self.context_known = false;
            InflateError::Corrupt("the data is not valid DEFLATE".to_string())
        } else {
            InflateError::MissingContext(
                "a back-reference reaches before the data the capture has".to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflates one message as the analyzer does: every frame fed, the message always finished,
    /// the first error kept.
    fn inflate(inf: &mut Inflater, frames: &[&[u8]]) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| out.extend_from_slice(b);
        let mut first_error = None;
        for f in frames {
            if let Err(e) = inf.feed(f, 1 << 20, &mut sink) {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = inf.finish(1 << 20, &mut sink) {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(out), Err)
    }

    #[test]
    fn rfc_7692_7_2_3_1_a_message_compressed_using_one_block() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn rfc_7692_7_2_3_1_fragmented_compressed_message() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn rfc_7692_7_2_3_2_sharing_the_window_across_messages() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
        // The second "Hello" is a back-reference into the first message.
        assert_eq!(inflate(&mut i, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_3_deflate_block_with_no_compression() {
        let mut i = Inflater::new(false, true);
        let msg = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(inflate(&mut i, &[&msg]).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_4_bfinal_block_then_more_messages() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]]).unwrap(),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn reference_to_an_unseen_window_is_missing_context_not_garbage() {
        let mut i = Inflater::new(false, false);
        let err = inflate(&mut i, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap_err();
        assert!(matches!(err, InflateError::MissingContext(_)), "{err:?}");
        // A self-contained message still inflates correctly with an unknown window.
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn no_context_takeover_resets_between_messages() {
        let mut i = Inflater::new(true, false);
        assert!(i.context_known());
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn corrupt_data_with_a_known_window_is_reported_as_corrupt() {
        let mut i = Inflater::new(false, true);
        let err = inflate(&mut i, &[&[0xff, 0xff, 0xff, 0xff]]).unwrap_err();
        assert!(matches!(err, InflateError::Corrupt(_)), "{err:?}");
        assert!(!i.context_known());
    }

    #[test]
    fn decompression_bomb_stops_at_the_limit() {
        use flate2::{Compress, Compression, FlushCompress};
        let zeros = vec![0u8; 3 << 20];
        let mut c = Compress::new(Compression::best(), false);
        let mut compressed = vec![0u8; 64 << 10];
        c.compress(&zeros, &mut compressed, FlushCompress::Sync).unwrap();
        compressed.truncate(c.total_out() as usize);
        let mut i = Inflater::new(false, true);
        let mut total = 0u64;
        let err =
            i.feed(&compressed, 1 << 20, &mut |b: &[u8]| total += b.len() as u64).unwrap_err();
        assert!(matches!(err, InflateError::Limit(n) if n <= (1 << 20) + CHUNK as u64), "{err:?}");
        assert!(total <= (1 << 20) + CHUNK as u64);
        assert!(i.finish(1 << 20, &mut |_: &[u8]| ()).is_ok());
        assert!(!i.context_known());
    }
}
