//! Reading a pipe, FIFO or terminal (standard input, `mkfifo`) for libpcap so that a signal ends
//! a read that would otherwise block forever.
//!
//! libpcap reads such an input with blocking `read(2)`s, which `pcap_breakloop` does not
//! interrupt, and wsscope's signal handler restarts interrupted calls (`SA_RESTART`, so that no
//! other read or write fails with `EINTR`). So libpcap is given the read end of a pipe instead,
//! and a thread copies the input into it: it waits with `poll(2)` (100 ms timeout) and reads only
//! what is there. It closes the pipe — an end of input for libpcap — when the input ends, when a
//! signal came ([`crate::signals`]), or when the reader is gone (libpcap closed its end, or the
//! [`Pump`] handle was dropped). The thread never blocks in a read; it may block in a write only
//! while libpcap is slower than the input, which its closing end wakes with `EPIPE`.
//!
//! Alternatives considered: a handler without `SA_RESTART` makes `read` return `EINTR`, but only
//! in the thread the kernel picks for the signal, and every other blocking call in the process
//! would have to cope with `EINTR`; reading the input directly with `poll` would mean replacing
//! libpcap's reader for pipes (its pcapng and filter handling). The copy costs one more pass
//! over the bytes of a pipe input only.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How long a poll waits before looking for a signal again.
const POLL_MS: i32 = 100;

/// Ends the copying thread when dropped (it also ends on its own; this covers a reader that
/// never closed its end, such as a libpcap handle whose open failed).
pub struct Pump {
    abandoned: Arc<AtomicBool>,
    /// The input's first four bytes (a file format's magic number), with bit 32 set once all
    /// four have passed: stored before they are handed to libpcap, so known once it read them.
    magic: Arc<AtomicU64>,
}

impl Pump {
    /// The input's first four bytes, once libpcap has read them (it reads a file header first).
    pub fn magic(&self) -> Option<[u8; 4]> {
        let m = self.magic.load(Ordering::Acquire);
        (m >> 32 != 0).then(|| (m as u32).to_be_bytes())
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

/// Starts copying `input` into a new pipe; returns the pipe's read end for libpcap, and the
/// handle that stops the copy.
pub fn start(input: OwnedFd) -> io::Result<(OwnedFd, Pump)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds on success; they are owned right after.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created by pipe2 and are owned by nothing else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let abandoned = Arc::new(AtomicBool::new(false));
    let magic = Arc::new(AtomicU64::new(0));
    let (flag, first) = (Arc::clone(&abandoned), Arc::clone(&magic));
    std::thread::Builder::new()
        .name("wsscope-pump".into())
        .spawn(move || copy(input, write_end, &flag, &first))?;
    Ok((read_end, Pump { abandoned, magic }))
}

/// Copies until the input ends, a signal comes, or the reader is gone; then closes `output`.
fn copy(input: OwnedFd, output: OwnedFd, abandoned: &AtomicBool, magic: &AtomicU64) {
    // This thread never needs a privilege: capabilities belong to threads, so it gives up its
    // own now (see crate::privileges).
    crate::privileges::drop_thread_capabilities();
    let mut buf = vec![0u8; 64 * 1024];
    let mut input = File::from(input);
    let mut output = File::from(output);
    let mut head = Vec::with_capacity(4);
    loop {
        if crate::signals::received().is_some() || abandoned.load(Ordering::Relaxed) {
            return;
        }
        let mut fds = [
            libc::pollfd { fd: input.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            // No events asked: POLLERR/POLLHUP are reported when libpcap closed its end.
            libc::pollfd { fd: output.as_fd().as_raw_fd(), events: 0, revents: 0 },
        ];
        // SAFETY: poll on two valid pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, POLL_MS) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            continue;
        }
        if fds[1].revents != 0 || fds[0].revents & libc::POLLNVAL != 0 {
            return;
        }
        if fds[0].revents == 0 {
            continue;
        }
        match input.read(&mut buf) {
            Ok(0) => return, // the end of the input
            Ok(k) => {
                if head.len() < 4 {
                    head.extend(buf[..k].iter().take(4 - head.len()));
                    if let [a, b, c, d] = head[..] {
                        let m = u32::from_be_bytes([a, b, c, d]);
                        magic.store(1 << 32 | u64::from(m), Ordering::Release);
                    }
                }
                if output.write_all(&buf[..k]).is_err() {
                    return; // libpcap closed its end
                }
            }
            Err(e)
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds on success.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh fds owned by nothing else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn bytes_are_copied_to_the_end_of_the_input() {
        let (input, feed) = pipe();
        let (out, _pump) = start(input).unwrap();
        let mut feed = File::from(feed);
        feed.write_all(b"hello ").unwrap();
        feed.write_all(b"world").unwrap();
        drop(feed);
        let mut got = String::new();
        File::from(out).read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello world");
        // The first four bytes were kept, split over two reads or not.
        assert_eq!(_pump.magic(), Some(*b"hell"));
    }

    #[test]
    fn dropping_the_handle_ends_a_copy_waiting_on_a_silent_input() {
        let (input, _feed_kept_open) = pipe();
        let (out, pump) = start(input).unwrap();
        let start = Instant::now();
        drop(pump);
        let mut got = Vec::new();
        // Returns when the thread closes the pipe: an end of input, not a read blocked forever.
        File::from(out).read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    }
}
