//! CPU time per thread, for the benchmarks' accounting of where `--threads N` spends its time
//! (the reading thread's share bounds how far more workers can scale).
//!
//! Each thread of a sharded run records its own CPU time as it ends; with
//! `WSSCOPE_THREAD_CPU=1` in the environment, `run` prints them to standard error at the end
//! (`wsscope: thread cpu: reader 0.041 s, shard-0 0.091 s, …`). Nothing else reads them.

use std::sync::Mutex;
use std::time::Duration;

static TIMES: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());

/// The calling thread's CPU time so far (user and system).
pub fn thread_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given; CLOCK_THREAD_CPUTIME_ID is
    // supported on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Records that the thread `name` used `time` of CPU.
pub fn record(name: &str, time: Duration) {
    if let Ok(mut t) = TIMES.lock() {
        t.push((name.to_string(), time));
    }
}

/// The times recorded so far, in the order recorded, and forgets them.
pub fn take() -> Vec<(String, Duration)> {
    TIMES.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default()
}

/// `reader 0.041 s, shard-0 0.091 s, …`, or `None` when nothing was recorded.
pub fn describe(times: &[(String, Duration)]) -> Option<String> {
    (!times.is_empty()).then(|| {
        times
            .iter()
            .map(|(name, t)| format!("{name} {:.3} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_busy_thread_has_cpu_time_and_it_is_described() {
        let start = super::thread_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(super::thread_time() > start);
        let d = super::describe(&[("reader".into(), std::time::Duration::from_millis(41))]);
        assert_eq!(d.as_deref(), Some("reader 0.041 s"));
        assert_eq!(super::describe(&[]), None);
    }
}
