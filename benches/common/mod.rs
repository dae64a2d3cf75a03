//! What the `reassembly` and `pipeline` benchmarks share: timing commands as child processes
//! (wall time, CPU time and peak RSS from `wait4`), summarising and printing runs, and reading
//! the benchmark's environment variables.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const MB: f64 = 1e6;
pub const MIB: f64 = (1 << 20) as f64;
/// Timed runs per command.
pub const RUNS: usize = 3;

/// Reads an optional numeric environment variable.
pub fn env_number(name: &str) -> Result<Option<f64>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
            _ => bail!("{name}={v:?} is not a positive number"),
        },
    }
}

/// True when the environment variable is set to something other than "" or "0".
pub fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `WSSCOPE_BENCH_KEEP=1`: keep the captures (e.g. to profile them).
pub fn keep_requested() -> bool {
    env_flag("WSSCOPE_BENCH_KEEP")
}

/// Keeps the temporary directory when asked, and says where it is.
pub fn keep_if_asked(dir: tempfile::TempDir) {
    if keep_requested() {
        println!("kept {}", dir.keep().display());
    }
}

/// Reads the whole file once, like `cat FILE > /dev/null`.
pub fn warm_page_cache(path: &Path) -> Result<()> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    std::io::copy(&mut f, &mut std::io::sink())?;
    Ok(())
}

/// A command to time.
pub struct Tool {
    pub label: &'static str,
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl Tool {
    /// libpcap's raw read speed: `tcpdump -r FILE -w /dev/null`.
    pub fn tcpdump(capture: &Path) -> Tool {
        Tool {
            label: "tcpdump (libpcap)",
            program: PathBuf::from("tcpdump"),
            args: vec!["-r".into(), capture.into(), "-w".into(), "/dev/null".into()],
        }
    }

    /// The command line as typed in a shell, with standard output discarded.
    pub fn shell(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s + " > /dev/null"
    }

    /// The program's version line(s): tcpdump's and libpcap's, or tshark's first line.
    pub fn version(&self) -> String {
        let out = Command::new(&self.program).arg("--version").output();
        let text = out.map(|o| {
            let s = String::from_utf8_lossy(&o.stdout);
            let first = ["tcpdump", "libpcap", "TShark"];
            let lines = s.lines().filter(|l| first.iter().any(|f| l.starts_with(f)));
            lines.take(2).collect::<Vec<_>>().join("; ")
        });
        text.unwrap_or_else(|e| format!("{}: {e}", self.program.display()))
    }

    /// Runs the command once, standard output to `stdout`, standard error to `dir/stderr.log`.
    pub fn run(&self, stdout: Stdio, dir: &Path) -> Result<Sample> {
        let log_path = dir.join("stderr.log");
        let log = File::create(&log_path)?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null()).stdout(stdout).stderr(log);
        reset_peak_rss();
        let start = Instant::now();
        let child = cmd.spawn().with_context(|| format!("cannot start {}", self.shell()))?;
        let (status, usage) = wait4(child.id())?;
        let wall = start.elapsed();
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("{} failed (wait status {status:#x}): {}", self.shell(), stderr.trim());
        }
        Ok(Sample {
            wall,
            cpu: duration(usage.ru_utime) + duration(usage.ru_stime),
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        })
    }
}

/// One run of a command.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub wall: Duration,
    /// User plus system time of the child.
    pub cpu: Duration,
    /// Peak resident set of the child, in KiB (Linux `ru_maxrss`).
    pub max_rss_kib: u64,
}

/// Linux counts the memory the child starts with, shared with or copied from this process until
/// `exec`, in the child's `ru_maxrss`: this process's *peak* RSS. Resetting the peak to the current
/// RSS before each spawn lowers that floor to this process's current RSS, which spawning `true`
/// measures (see [`rss_floor`]).
fn reset_peak_rss() {
    // "5" resets the peak RSS (Linux 4.0 and later); if it fails, the floor is only higher.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The smallest `ru_maxrss` a child can report here (KiB): that of `true`.
pub fn rss_floor(dir: &Path) -> Result<u64> {
    let probe = Tool { label: "true", program: PathBuf::from("true"), args: Vec::new() };
    Ok(probe.run(Stdio::null(), dir)?.max_rss_kib)
}

/// Waits for our child `pid` and returns its wait status and resource usage.
pub fn wait4(pid: u32) -> Result<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is a child of this process that nothing else waits for; `status` and
        // `usage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4");
        }
    }
}

pub fn duration(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs every tool `RUNS` times, interleaved (a change in machine load hits all of them alike);
/// returns the samples per tool.
pub fn measure(tools: &[Tool], dir: &Path) -> Result<Vec<Vec<Sample>>> {
    let mut samples = vec![Vec::with_capacity(RUNS); tools.len()];
    for run in 0..RUNS {
        for (tool, out) in tools.iter().zip(&mut samples) {
            let s = tool.run(Stdio::null(), dir)?;
            eprintln!(
                "  run {}/{RUNS} {:<18} {:>8.2} s",
                run + 1,
                tool.label,
                s.wall.as_secs_f64()
            );
            out.push(s);
        }
    }
    Ok(samples)
}

/// Median, fastest and slowest run of one command.
pub struct Summary {
    pub median: Sample,
    pub min: Duration,
    pub max: Duration,
    pub max_rss_kib: u64,
}

impl Summary {
    pub fn of(samples: &[Sample]) -> Summary {
        let mut sorted = samples.to_vec();
        sorted.sort_by_key(|s| s.wall);
        Summary {
            median: sorted[sorted.len() / 2],
            min: sorted[0].wall,
            max: sorted[sorted.len() - 1].wall,
            max_rss_kib: sorted.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
        }
    }

    pub fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 * 1024.0 / MIB
    }
}

/// Applies `WSSCOPE_BENCH_MIN_RATIO`; returns whether the ratio is acceptable.
pub fn check_ratio(ratio: f64, min: Option<f64>) -> bool {
    match min {
        Some(min) if ratio < min => {
            println!("FAILED: ratio {ratio:.3} is below WSSCOPE_BENCH_MIN_RATIO={min}");
            false
        }
        Some(min) => {
            println!("ratio {ratio:.3} ≥ WSSCOPE_BENCH_MIN_RATIO={min}: OK");
            true
        }
        None => true,
    }
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
