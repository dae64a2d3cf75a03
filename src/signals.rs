//! SIGINT, SIGTERM and SIGHUP end a run the way the end of its input does: reading stops, every
//! open connection is flushed, every output written and the summary printed, and the exit status
//! is the usual one (0, or 1 for findings at or above `--fail-on`). A second signal ends wsscope
//! at once with that signal's default action (nothing more is written); the same signal again
//! within 0.5 s is taken as the same request sent twice (GNU `timeout` and CI runners signal
//! wsscope and then its process group).
//!
//! The handler does only async-signal-safe things: it records the signal in an atomic and writes
//! a byte to a pipe. It is installed with `SA_RESTART`, so no read or write elsewhere fails with
//! `EINTR`. A thread reading that pipe asks every registered [`Stop`] to stop; the same thread
//! requests a stop whose `--duration` deadline passed. No read blocks for long: live capture
//! threads wait for packets in `poll(2)` for at most 100 ms (`capture::live`), and the loops look
//! at [`received`] at least every 100 ms:
//! [`Stop::is_requested`] asks it; a pipe, FIFO or terminal input is read by a thread that polls
//! (`capture::pump`); the TUI polls its keys every 40 ms.
//!
//! SIGHUP is left ignored when wsscope starts with it ignored (`nohup`), as tcpdump does.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::pipeline::Stop;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Instant;

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The write end of the pipe the watcher thread reads (-1: none).
static WAKE: AtomicI32 = AtomicI32::new(-1);
/// The stops a signal requests.
static WATCHED: Mutex<Vec<Weak<Stop>>> = Mutex::new(Vec::new());

/// When the first signal came (CLOCK_MONOTONIC, ns).
static RECEIVED_AT: AtomicU64 = AtomicU64::new(0);
/// A repeat of the first signal this soon is the same request sent twice (GNU `timeout` sends
/// its signal to wsscope and then to its whole process group; so does a CI runner cancelling a
/// job), not a second one.
const REPEAT_NS: u64 = 500_000_000;

/// CLOCK_MONOTONIC in ns (clock_gettime is async-signal-safe).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

extern "C" fn on_signal(sig: libc::c_int) {
    let now = monotonic_ns();
    if RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        if RECEIVED.load(Ordering::SeqCst) == sig
            && now.saturating_sub(RECEIVED_AT.load(Ordering::SeqCst)) < REPEAT_NS
        {
            return;
        }
        // The second signal: its default action, now. signal(2) and raise(3) are
        // async-signal-safe.
        // SAFETY: restoring the default disposition and raising a signal in a handler.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    RECEIVED_AT.store(now, Ordering::SeqCst);
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, a full pipe is fine
        // (the watcher is awake already).
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Installs the handlers and starts the watcher thread (once; later calls do nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut fds = [-1; 2];
        // SAFETY: pipe2 fills two fds on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
            let read_end = fds[0];
            let started = std::thread::Builder::new()
                .name("wsscope-signals".into())
                .spawn(move || watch_loop(read_end));
            if started.is_ok() {
                WAKE.store(fds[1], Ordering::SeqCst);
            }
        }
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: sigaction with zeroed structs (a valid empty mask) and a handler that only
            // touches atomics and calls write (and, the second time, signal/raise).
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if sig == libc::SIGHUP
                    && libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                // Failing leaves the default action: the run is killed without flushing.
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

/// Has a signal request `stop` (and wake the read it is blocked in); its deadline requests it
/// too.
pub fn watch(stop: &Arc<Stop>) {
    if let Ok(mut w) = WATCHED.lock() {
        w.retain(|s| s.strong_count() > 0);
        w.push(Arc::downgrade(stop));
    }
    // Wake the watcher so that it waits for the new deadline.
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: a one-byte write to the non-blocking pipe.
        unsafe { libc::write(fd, [0u8].as_ptr().cast(), 1) };
    }
}

/// The watcher thread: waits for the handler's byte or the nearest deadline, then requests the
/// stops concerned (every one for a signal). It holds no lock while it waits.
fn watch_loop(read_end: libc::c_int) {
    // This thread never needs a privilege: capabilities belong to threads, so it gives up its
    // own now (see crate::privileges).
    crate::privileges::drop_thread_capabilities();
    let mut fds = [libc::pollfd { fd: read_end, events: libc::POLLIN, revents: 0 }];
    loop {
        let stops: Vec<Arc<Stop>> = WATCHED
            .lock()
            .map(|w| w.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        let now = Instant::now();
        let mut wait_ms: libc::c_int = -1;
        for s in &stops {
            if RECEIVED.load(Ordering::SeqCst) != 0 || s.deadline.is_some_and(|d| d <= now) {
                s.request();
            } else if let Some(d) = s.deadline {
                let ms = (d - now).as_millis().saturating_add(1).min(60_000) as libc::c_int;
                wait_ms = if wait_ms < 0 { ms } else { wait_ms.min(ms) };
            }
        }
        drop(stops);
        // SAFETY: poll on one valid pollfd.
        if unsafe { libc::poll(fds.as_mut_ptr(), 1, wait_ms) } > 0 {
            let mut buf = [0u8; 64];
            // SAFETY: read into a valid buffer from the pipe this thread owns.
            unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
        }
    }
}

/// The first signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// `SIGTERM` for 15, and so on.
pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}
