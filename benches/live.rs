//! Live capture on loopback: the highest packet rate at which `wsscope report -i lo` loses no
//! packet and reports every message, next to `tcpdump -i lo -w /dev/null` and
//! `tshark -i lo -w /dev/null` at the same rates, in the same run.
//!
//! # What is measured
//!
//! 1. A deterministic capture (`testdata/scripts/gen_bulk.rs` with `loopback`: the generator's
//!    usual mix of connections and messages, every connection IPv4, every address in
//!    127.0.0.0/8) is generated into a temporary directory, 20 MB by default. Its sidecar gives
//!    the truth: packets and messages.
//! 2. Safety: the capture is read back and refused unless every packet is Ethernet + IPv4 + TCP
//!    with both addresses in 127.0.0.0/8, and the interface replayed onto must be `lo`, a
//!    loopback device (`/sys/class/net/lo/type` is 772). Nothing else is ever replayed.
//! 3. For each rate of a ladder (10,000 packets/s by default, doubled while some tool still
//!    loses nothing and tcpreplay keeps up, halved below the first rate while some tool has
//!    no loss-free rate yet; at most 8 rates), each tool in turn captures while
//!    `tcpreplay -i lo --pps=RATE` replays the capture once: the tool is started, the
//!    benchmark waits for its "listening" line, replays, waits 1 s, then stops it with SIGINT.
//!    - `wsscope report -i lo -f FILTER --fail-on never`: its report gives packets read,
//!      libpcap's `received`/`dropped`/`if_dropped` (`inputs[].capture`), messages and gaps.
//!    - `tcpdump -i lo -w /dev/null FILTER`: "N packets captured", "N packets dropped by kernel".
//!    - `tshark -i lo -f FILTER -w /dev/null`: "N packets captured", "N packets dropped from lo".
//!
//!    FILTER is `tcp and net 127.32.0.0/16` (the generated servers' network) rather than
//!    `tcp`, so that other loopback traffic on a shared machine (other tests, other captures)
//!    is neither counted nor analysed; a BPF filter that short costs the same as `tcp`.
//! 4. A run is loss-free when the tool read every packet sent and the kernel dropped none (for
//!    wsscope also: every message reported, no gap). The table gives every run; below it, each
//!    tool's highest loss-free rate (as tcpreplay achieved it) and wsscope's / tcpdump's.
//!
//! On `lo` the kernel counts each replayed packet twice (once leaving, once arriving; libpcap
//! drops the outgoing copy itself), so libpcap's `received` and drop counters are about twice
//! the packets; both copies take room in the capture buffer.
//!
//! # Running (as root: tcpreplay and live capture need it)
//!
//! ```text
//! cargo bench --bench live                                 # the ladder (a few minutes)
//! WSSCOPE_BENCH_SOAK_SECS=300 WSSCOPE_BENCH_SOAK_PPS=10000 \
//!     cargo bench --bench live                             # soak: memory over 5 minutes
//! ```
//!
//! - `WSSCOPE_BENCH_LIVE_MB` (default 20): capture size.
//! - `WSSCOPE_BENCH_LIVE_PPS` (default 10000): the first rate of the ladder.
//! - `WSSCOPE_BENCH_LIVE_STEPS` (default 8): most rates measured.
//! - `WSSCOPE_BENCH_MIN_LIVE_RATIO`: fail when wsscope's highest loss-free rate divided by
//!   tcpdump's is below this (by default the ratio is only printed).
//! - `WSSCOPE_BENCH_SOAK_SECS`: instead of the ladder, replay in a loop at
//!   `WSSCOPE_BENCH_SOAK_PPS` (default 10000) for about that long (at most 3,600 s) while
//!   sampling wsscope's resident memory (`VmRSS`) every 2 s; prints the first, last and largest
//!   sample and whether memory stayed flat (last ≤ 1.2 × the sample at 20 % of the run).
//! - `WSSCOPE_BENCH_LIVE_THREADS=N`: wsscope analyses on N worker threads (`--threads N`).
//! - `WSSCOPE_SKIP_LIVE=1`: skip (also skipped when not root).
//! - `WSSCOPE_BENCH_KEEP=1`: keep the temporary directory.
//!
//! The benchmark fails when wsscope reports more messages than were sent (whatever the rate),
//! exits with an error or a signal, or does not stop on SIGINT; and when the ratio is below
//! `WSSCOPE_BENCH_MIN_LIVE_RATIO`. Without cargo bench's `--bench` flag (`cargo test
//! --all-targets` runs bench targets too) only a smoke run is made: a 1 MB capture replayed
//! once at 2,000 packets/s to wsscope alone (a few seconds), failing on the same conditions.

#[allow(dead_code)]
#[path = "../testdata/scripts/gen_bulk.rs"]
mod gen_bulk;

#[allow(dead_code, reason = "shared by the benchmarks; each uses a part")]
mod common;

use anyhow::{Context, Result, bail, ensure};
use common::{MB, env_flag, env_number, keep_if_asked, thousands};
use gen_bulk::Expected;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The only interface anything is replayed onto.
const IFACE: &str = "lo";
/// Linux `ARPHRD_LOOPBACK`, the type `/sys/class/net/IFACE/type` must show.
const ARPHRD_LOOPBACK: &str = "772";
/// The capture filter of every tool: the generated servers' network (see the module docs).
const FILTER: &str = "tcp and net 127.32.0.0/16";

const DEFAULT_MB: f64 = 20.0;
const DEFAULT_PPS: f64 = 10_000.0;
const DEFAULT_STEPS: usize = 8;
/// Halvings below the first rate, at most.
const MAX_DOWN: usize = 3;
/// A rate tcpreplay achieves less than this share of is its ceiling: the ladder stops there.
const KEEP_UP: f64 = 0.9;
const SMOKE_MB: f64 = 1.0;
const SMOKE_PPS: f64 = 2_000.0;

/// After the replay, before SIGINT: what is in flight reaches the tools.
const SETTLE: Duration = Duration::from_secs(1);
/// After the "listening" line, before the replay.
const AFTER_READY: Duration = Duration::from_millis(300);
/// Longest wait for a tool's "listening" line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a tool to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_SOAK_SECS: f64 = 3600.0;
const SOAK_SAMPLE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let bench = std::env::args().any(|a| a == "--bench");
    if let Some(why) = skip_reason() {
        println!("live: skipped ({why})");
        return ExitCode::SUCCESS;
    }
    let result = if bench { run_bench() } else { run_smoke() };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("live bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn skip_reason() -> Option<String> {
    if env_flag("WSSCOPE_SKIP_LIVE") {
        return Some("WSSCOPE_SKIP_LIVE is set".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: replaying onto lo and live capture need it".into());
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The ladder, the soak and the smoke run
// ---------------------------------------------------------------------------------------------

fn run_bench() -> Result<bool> {
    let mb = env_number("WSSCOPE_BENCH_LIVE_MB")?.unwrap_or(DEFAULT_MB);
    let first = env_number("WSSCOPE_BENCH_LIVE_PPS")?.unwrap_or(DEFAULT_PPS);
    let steps = env_number("WSSCOPE_BENCH_LIVE_STEPS")?.map_or(DEFAULT_STEPS, |n| n as usize);
    let min_ratio = env_number("WSSCOPE_BENCH_MIN_LIVE_RATIO")?;
    let soak = env_number("WSSCOPE_BENCH_SOAK_SECS")?;
    if cfg!(debug_assertions) {
        println!("warning: built with debug assertions; the rates are not representative");
    }
    for tool in ["tcpreplay", "tcpdump", "tshark"] {
        println!("{}", version(tool));
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let capture = dir.path().join(format!("loopback-{mb}MB.pcap"));
    let truth = generate(&capture, mb)?;
    let ok = match soak {
        Some(secs) => {
            let pps = env_number("WSSCOPE_BENCH_SOAK_PPS")?.unwrap_or(DEFAULT_PPS);
            run_soak(&capture, &truth, pps, secs.min(MAX_SOAK_SECS), dir.path())?
        }
        None => run_ladder(&capture, &truth, first, steps.max(1), min_ratio, dir.path())?,
    };
    keep_if_asked(dir);
    Ok(ok)
}

/// Outside `cargo bench`: one low rate, a small capture, wsscope alone.
fn run_smoke() -> Result<bool> {
    println!(
        "live: smoke run ({SMOKE_MB} MB at {SMOKE_PPS} packets/s); rates: cargo bench --bench live"
    );
    if !Path::new("/sys/class/net").join(IFACE).exists() || which("tcpreplay").is_none() {
        println!("live: skipped (no {IFACE} or no tcpreplay)");
        return Ok(true);
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    // The safety check refuses the generator's usual capture (10.0.0.0/8 and IPv6).
    let usual = dir.path().join("usual.pcap");
    gen_bulk::generate(&usual, &gen_bulk::Options::new((SMOKE_MB * MB) as u64))?;
    match assert_loopback_only(&usual) {
        Ok(_) => bail!("the safety check accepted a capture with addresses outside 127.0.0.0/8"),
        Err(e) => println!("safety check: refuses the usual capture ({e})"),
    }
    let capture = dir.path().join("loopback-smoke.pcap");
    let truth = generate(&capture, SMOKE_MB)?;
    let run = measure(Tool::Wsscope, &capture, SMOKE_PPS, 1, dir.path(), None)?;
    println!("{}", run.describe(&truth, 1));
    let ok = run.check(&truth, 1);
    if ok {
        println!("live smoke: OK (wsscope ran, stopped on SIGINT, reported no message too many)");
    }
    Ok(ok)
}

/// The rate ladder; returns whether every check passed.
fn run_ladder(
    capture: &Path,
    truth: &Expected,
    first: f64,
    steps: usize,
    min_ratio: Option<f64>,
    dir: &Path,
) -> Result<bool> {
    let tools = [Tool::Wsscope, Tool::Tcpdump, Tool::Tshark];
    let mut rows: Vec<Row> = Vec::new();
    let mut ok = true;
    let mut measure_rate = |pps: f64, rows: &mut Vec<Row>| -> Result<()> {
        let mut runs = Vec::new();
        for tool in tools {
            let run = measure(tool, capture, pps, 1, dir, None)?;
            eprintln!("  {pps:>9.0} pps  {}", run.describe(truth, 1));
            ok &= run.check(truth, 1);
            runs.push(run);
        }
        rows.push(Row { target: pps, runs });
        Ok(())
    };
    // Up from the first rate while some tool loses nothing and tcpreplay keeps up.
    let mut pps = first;
    while rows.len() < steps {
        measure_rate(pps, &mut rows)?;
        let last = &rows[rows.len() - 1];
        let any_clean = last.runs.iter().any(|r| r.loss_free(truth, 1));
        let kept_up = last.runs.iter().all(|r| r.replay.pps >= KEEP_UP * pps);
        if !any_clean || !kept_up {
            break;
        }
        pps *= 2.0;
    }
    // Down from the first rate while some tool has no loss-free rate yet.
    let mut pps = first;
    for _ in 0..MAX_DOWN {
        let clean = |t: Tool| rows.iter().any(|r| r.run(t).loss_free(truth, 1));
        if rows.len() >= steps || tools.iter().all(|&t| clean(t)) {
            break;
        }
        pps /= 2.0;
        measure_rate(pps, &mut rows)?;
    }
    rows.sort_by(|a, b| a.target.total_cmp(&b.target));
    print_ladder(&rows, truth, capture);
    let best = |t: Tool| {
        let clean = rows.iter().filter(|r| r.run(t).loss_free(truth, 1));
        clean.map(|r| r.run(t).replay.pps).max_by(f64::total_cmp)
    };
    let top = rows.last().map(|r| r.target).unwrap_or(first);
    let bottom = rows.first().map(|r| r.target).unwrap_or(first);
    println!();
    println!("highest loss-free rate (packets/s as tcpreplay achieved them):");
    for t in tools {
        let clean_at_top = rows.last().is_some_and(|r| r.run(t).loss_free(truth, 1));
        match best(t) {
            Some(b) if clean_at_top => {
                println!("  {:<8} ≥ {:>9} (loss-free at the highest rate tried)", t.name(), fmt(b))
            }
            Some(b) => println!("  {:<8}   {:>9}", t.name(), fmt(b)),
            None => {
                println!("  {:<8}   none (loses packets at {} and above)", t.name(), fmt(bottom))
            }
        }
    }
    let ratio = match (best(Tool::Wsscope), best(Tool::Tcpdump)) {
        (Some(w), Some(t)) => w / t,
        (None, _) => 0.0,
        (Some(_), None) => f64::INFINITY,
    };
    println!(
        "ratio wsscope / tcpdump (highest loss-free rates): {ratio:.3}{}",
        if rows.last().is_some_and(|r| r.run(Tool::Tcpdump).loss_free(truth, 1)) {
            format!(" (tcpdump lost nothing up to {} packets/s: an upper bound)", fmt(top))
        } else {
            String::new()
        }
    );
    if let Some(min) = min_ratio {
        if ratio < min {
            println!("FAILED: ratio {ratio:.3} is below WSSCOPE_BENCH_MIN_LIVE_RATIO={min}");
            ok = false;
        } else {
            println!("ratio {ratio:.3} ≥ WSSCOPE_BENCH_MIN_LIVE_RATIO={min}: OK");
        }
    }
    if !ok {
        println!("FAILED: see the messages above");
    }
    Ok(ok)
}

/// Replays in a loop for about `secs` while sampling wsscope's resident memory.
fn run_soak(capture: &Path, truth: &Expected, pps: f64, secs: f64, dir: &Path) -> Result<bool> {
    let loops = ((secs * pps / truth.packets as f64).ceil() as u64).max(1);
    println!();
    println!(
        "soak: {loops} loops of the capture at {} packets/s (about {secs:.0} s), VmRSS every {} s",
        fmt(pps),
        SOAK_SAMPLE.as_secs()
    );
    let mut samples = Vec::new();
    let run = measure(Tool::Wsscope, capture, pps, loops, dir, Some(&mut samples))?;
    println!("{}", run.describe(truth, loops));
    let ok = run.check(truth, loops);
    ensure!(!samples.is_empty(), "no memory sample was taken");
    let kib = |i: usize| samples[i].1;
    let at20 = samples.iter().position(|s| s.0 >= 0.2 * secs).unwrap_or(0);
    let (first, last) = (kib(0), kib(samples.len() - 1));
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!("VmRSS samples (s: MiB):");
    for chunk in samples.chunks(8) {
        let line: Vec<String> =
            chunk.iter().map(|(t, k)| format!("{t:>5.0}: {:>6.1}", *k as f64 / 1024.0)).collect();
        println!("  {}", line.join("  "));
    }
    let flat = last as f64 <= 1.2 * kib(at20) as f64;
    println!(
        "VmRSS first {:.1} MiB, at 20 % {:.1} MiB, last {:.1} MiB, max {:.1} MiB: {}",
        first as f64 / 1024.0,
        kib(at20) as f64 / 1024.0,
        last as f64 / 1024.0,
        max as f64 / 1024.0,
        if flat {
            "flat (last ≤ 1.2 × the value at 20 %)"
        } else {
            "GROWING (last > 1.2 × the value at 20 %)"
        }
    );
    if run.wsscope.is_some() {
        let conns = truth.websocket_connections * loops;
        println!(
            "  (report keeps a row per WebSocket connection: {} so far, {:.2} KiB of growth each after 20 %)",
            thousands(conns),
            last.saturating_sub(kib(at20)) as f64 / (conns as f64 * 0.8).max(1.0)
        );
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------------------------
// The capture and its safety check
// ---------------------------------------------------------------------------------------------

/// Generates the capture with every address in 127.0.0.0/8 and checks that it holds nothing else.
fn generate(capture: &Path, mb: f64) -> Result<Expected> {
    let mut opts = gen_bulk::Options::new((mb * MB) as u64);
    opts.loopback = true;
    let e = gen_bulk::generate(capture, &opts)?;
    println!("capture: {}", capture.display());
    println!("  {}", e.describe().replace('\n', "\n  "));
    let checked = assert_loopback_only(capture)?;
    ensure!(checked == e.packets, "read {checked} packets back, the generator wrote {}", e.packets);
    println!("  every packet is IPv4 + TCP with both addresses in 127.0.0.0/8 ({checked} checked)");
    Ok(e)
}

/// Refuses (returns an error) unless every packet of `capture` is Ethernet + IPv4 + TCP with both
/// addresses in 127.0.0.0/8. Returns the number of packets.
fn assert_loopback_only(capture: &Path) -> Result<u64> {
    let mut cap = pcap::Capture::from_file(capture)
        .with_context(|| format!("cannot read {}", capture.display()))?;
    ensure!(cap.get_datalink() == pcap::Linktype::ETHERNET, "not an Ethernet capture");
    let mut n = 0u64;
    loop {
        let p = match cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => bail!("cannot read {}: {e}", capture.display()),
        };
        n += 1;
        let d = p.data;
        ensure!(d.len() >= 14 + 20, "packet {n}: too short for Ethernet + IPv4");
        ensure!(d[12..14] == [0x08, 0x00], "packet {n}: not IPv4 (ethertype {:02x?})", &d[12..14]);
        let ip = &d[14..];
        ensure!(ip[0] >> 4 == 4 && ip[0] & 0xf >= 5, "packet {n}: not an IPv4 header");
        ensure!(ip[9] == 6, "packet {n}: IP protocol {} is not TCP", ip[9]);
        ensure!(
            ip[12] == 127 && ip[16] == 127,
            "packet {n}: {}.{}.{}.{} → {}.{}.{}.{} is not within 127.0.0.0/8: refusing to replay",
            ip[12],
            ip[13],
            ip[14],
            ip[15],
            ip[16],
            ip[17],
            ip[18],
            ip[19]
        );
    }
    Ok(n)
}

/// Refuses (returns an error) unless [`IFACE`] is a loopback device.
fn assert_loopback_iface() -> Result<()> {
    let path = Path::new("/sys/class/net").join(IFACE).join("type");
    let t = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path:?}"))?;
    ensure!(t.trim() == ARPHRD_LOOPBACK, "{IFACE} is not a loopback device (type {})", t.trim());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One run: a tool capturing while tcpreplay replays
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Wsscope,
    Tcpdump,
    Tshark,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Wsscope => "wsscope",
            Tool::Tcpdump => "tcpdump",
            Tool::Tshark => "tshark",
        }
    }

    fn command(self) -> Command {
        let mut c;
        match self {
            Tool::Wsscope => {
                c = Command::new(env!("CARGO_BIN_EXE_wsscope"));
                c.args(["report", "-i", IFACE, "-f", FILTER, "--fail-on", "never"]);
                if let Some(n) = std::env::var("WSSCOPE_BENCH_LIVE_THREADS")
                    .ok()
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 1)
                {
                    c.args(["--threads", &n.to_string()]);
                }
            }
            Tool::Tcpdump => {
                c = Command::new("tcpdump");
                c.args(["-i", IFACE, "-w", "/dev/null", FILTER]);
            }
            Tool::Tshark => {
                c = Command::new("tshark");
                c.args(["-i", IFACE, "-f", FILTER, "-w", "/dev/null"]);
            }
        }
        c
    }

    /// The line on standard error that says the capture is open.
    fn ready_marker(self) -> &'static str {
        match self {
            Tool::Wsscope | Tool::Tcpdump => "listening on",
            Tool::Tshark => "Capturing on",
        }
    }
}

/// What tcpreplay said.
#[derive(Clone, Copy, Debug, Default)]
struct Replay {
    sent: u64,
    failed: u64,
    secs: f64,
    /// The rate achieved.
    pps: f64,
}

/// What wsscope's report said.
#[derive(Clone, Copy, Debug, Default)]
struct WsscopeCounts {
    received: u64,
    dropped: u64,
    if_dropped: u64,
    messages: u64,
    gaps: u64,
    incomplete: u64,
}

/// One tool at one rate.
struct Run {
    tool: Tool,
    replay: Replay,
    /// Packets the tool read (after the filter).
    captured: u64,
    /// Packets the kernel dropped, as the tool reports them (0 when it says nothing).
    dropped: u64,
    wsscope: Option<WsscopeCounts>,
    /// Why the tool failed (crash, error exit, unreadable output), if it did.
    failure: Option<String>,
}

impl Run {
    /// Read every packet sent, the kernel dropped none; for wsscope, every message, no gap.
    fn loss_free(&self, truth: &Expected, loops: u64) -> bool {
        let base = self.failure.is_none()
            && self.replay.failed == 0
            && self.captured == self.replay.sent
            && self.dropped == 0;
        base && self.wsscope.is_none_or(|w| {
            w.if_dropped == 0 && w.messages == truth.messages * loops && w.gaps == 0
        })
    }

    /// The checks that fail the benchmark; prints why.
    fn check(&self, truth: &Expected, loops: u64) -> bool {
        let mut ok = true;
        if let Some(f) = &self.failure {
            println!("FAILED: {} at {:.0} packets/s: {f}", self.tool.name(), self.replay.pps);
            ok = false;
        }
        if let Some(w) = &self.wsscope
            && w.messages > truth.messages * loops
        {
            println!(
                "FAILED: wsscope reported {} messages, only {} were sent",
                w.messages,
                truth.messages * loops
            );
            ok = false;
        }
        if self.captured > self.replay.sent {
            println!(
                "warning: {} read {} packets, {} were sent (other traffic matched {FILTER:?}?)",
                self.tool.name(),
                self.captured,
                self.replay.sent
            );
        }
        ok
    }

    fn describe(&self, truth: &Expected, loops: u64) -> String {
        let mut s = format!(
            "{:<8} sent {} in {:.2} s ({:.0} pps): read {}, kernel dropped {}",
            self.tool.name(),
            self.replay.sent,
            self.replay.secs,
            self.replay.pps,
            self.captured,
            self.dropped
        );
        if let Some(w) = &self.wsscope {
            s += &format!(
                " (received {}, if_dropped {}), messages {} of {}, gaps {}, incomplete {}",
                w.received,
                w.if_dropped,
                w.messages,
                truth.messages * loops,
                w.gaps,
                w.incomplete
            );
        }
        if let Some(f) = &self.failure {
            s += &format!(", FAILED: {f}");
        }
        s
    }
}

/// Kills (SIGKILL) and reaps a child still running when dropped: an error path never leaves a
/// capture or a replay behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `tool`, waits until it listens, replays `capture` `loops` times at `pps`, lets it
/// settle, stops the tool with SIGINT and reads what it said. With `rss`, samples the tool's
/// VmRSS (seconds since the replay started, KiB) while the replay runs.
fn measure(
    tool: Tool,
    capture: &Path,
    pps: f64,
    loops: u64,
    dir: &Path,
    rss: Option<&mut Vec<(f64, u64)>>,
) -> Result<Run> {
    assert_loopback_iface()?;
    let out_path = dir.join(format!("{}.out", tool.name()));
    let err_path = dir.join(format!("{}.err", tool.name()));
    let mut cmd = tool.command();
    cmd.stdin(Stdio::null()).stdout(File::create(&out_path)?).stderr(File::create(&err_path)?);
    let mut child = Guard(cmd.spawn().with_context(|| format!("cannot start {}", tool.name()))?);
    let start = Instant::now();
    loop {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        if err.contains(tool.ready_marker()) {
            break;
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("{} exited before listening ({status}): {}", tool.name(), err.trim());
        }
        ensure!(start.elapsed() < READY_TIMEOUT, "{} did not start listening", tool.name());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(AFTER_READY);
    let replay = replay(capture, pps, loops, dir, child.0.id(), rss)?;
    std::thread::sleep(SETTLE);
    let pid = libc::pid_t::try_from(child.0.id())?;
    // SAFETY: `pid` is our child, not yet reaped (the guard reaps it).
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = wait_timeout(&mut child.0, STOP_TIMEOUT)?;
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let mut run = Run { tool, replay, captured: 0, dropped: 0, wsscope: None, failure: None };
    let Some(status) = status else {
        run.failure = Some(format!("did not stop within {} s of SIGINT", STOP_TIMEOUT.as_secs()));
        return Ok(run);
    };
    if !status.success() {
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        run.failure = Some(format!("{status}; stderr ends: {}", tail.join(" | ")));
        return Ok(run);
    }
    match tool {
        Tool::Wsscope => match read_report(&out_path) {
            Ok((packets, w)) => {
                run.captured = packets;
                run.dropped = w.dropped;
                run.wsscope = Some(w);
            }
            Err(e) => run.failure = Some(format!("unreadable report: {e:#}")),
        },
        Tool::Tcpdump | Tool::Tshark => {
            run.captured = count_before(&err, " packets captured").unwrap_or(0);
            // tcpdump: "N packets dropped by kernel"; tshark: "N packets dropped from lo" (only
            // when N > 0); "N packet dropped" in the singular.
            run.dropped = count_before(&err, " packets dropped")
                .or_else(|| count_before(&err, " packet dropped"))
                .unwrap_or(0);
        }
    }
    let _ = std::fs::remove_file(&out_path);
    Ok(run)
}

/// Runs tcpreplay onto [`IFACE`] and parses its statistics; bounded in time (three times the
/// replay's duration plus 30 s). With `rss`, samples `pid`'s VmRSS every [`SOAK_SAMPLE`].
fn replay(
    capture: &Path,
    pps: f64,
    loops: u64,
    dir: &Path,
    pid: u32,
    mut rss: Option<&mut Vec<(f64, u64)>>,
) -> Result<Replay> {
    assert_loopback_only_cached(capture)?;
    let out_path = dir.join("tcpreplay.out");
    let mut cmd = Command::new("tcpreplay");
    cmd.args(["-i", IFACE, "--pps"]).arg(format!("{pps:.0}"));
    if loops > 1 {
        cmd.arg(format!("--loop={loops}")).arg("--preload-pcap");
    }
    cmd.arg(capture).stdin(Stdio::null()).stdout(File::create(&out_path)?).stderr(Stdio::null());
    let mut child = Guard(cmd.spawn().context("cannot start tcpreplay")?);
    let packets = count_packets(capture)? * loops;
    let limit = Duration::from_secs_f64(3.0 * packets as f64 / pps + 30.0);
    let start = Instant::now();
    let mut next_sample = Duration::ZERO;
    let status = loop {
        if let Some(s) = child.0.try_wait()? {
            break s;
        }
        ensure!(start.elapsed() < limit, "tcpreplay still running after {limit:?}");
        if let Some(samples) = rss.as_deref_mut()
            && start.elapsed() >= next_sample
        {
            if let Ok(kib) = vm_rss_kib(pid) {
                samples.push((start.elapsed().as_secs_f64(), kib));
            }
            next_sample += SOAK_SAMPLE;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = std::fs::read_to_string(&out_path)?;
    ensure!(status.success(), "tcpreplay failed ({status}): {}", out.trim());
    if let Some(samples) = rss
        && let Ok(kib) = vm_rss_kib(pid)
    {
        samples.push((start.elapsed().as_secs_f64(), kib));
    }
    // "Actual: 37712 packets (19358855 bytes) sent in 1.88 seconds"
    // "Rated: 10266899.4 Bps, 82.13 Mbps, 20000.42 pps"
    // "	Failed packets:            0"
    let field = |line: &str, before: &str| -> Option<f64> {
        let l = out.lines().find(|l| l.trim_start().starts_with(line))?;
        let i = l.find(before)?;
        l[..i].split_whitespace().last()?.parse().ok()
    };
    let sent = field("Actual:", " packets (").context("no Actual: line from tcpreplay")?;
    let secs = field("Actual:", " seconds").unwrap_or(0.0);
    let achieved = field("Rated:", " pps").unwrap_or(0.0);
    let failed = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Failed packets:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Replay { sent: sent as u64, failed, secs, pps: achieved })
}

/// The safety check before every replay (cached: the file is not rewritten between replays, and
/// its size and modification time are compared).
fn assert_loopback_only_cached(capture: &Path) -> Result<()> {
    use std::sync::Mutex;
    static CHECKED: Mutex<Option<(PathBuf, u64, std::time::SystemTime)>> = Mutex::new(None);
    let meta = std::fs::metadata(capture)?;
    let key = (capture.to_path_buf(), meta.len(), meta.modified()?);
    let mut checked = CHECKED.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    if checked.as_ref() != Some(&key) {
        assert_loopback_only(capture)?;
        *checked = Some(key);
    }
    Ok(())
}

fn count_packets(capture: &Path) -> Result<u64> {
    let side = gen_bulk::sidecar_path(capture);
    let e: Expected = serde_json::from_reader(File::open(&side)?)?;
    Ok(e.packets)
}

/// Waits for `child` at most `limit`; `None` when it is still running.
fn wait_timeout(child: &mut Child, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(None)
}

/// `VmRSS` of `pid`, in KiB.
fn vm_rss_kib(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    let kib = line.split_whitespace().nth(1).context("no VmRSS value")?;
    Ok(kib.parse()?)
}

/// The number just before `suffix` on the first line containing it: `count_before("12 packets
/// captured", " packets captured")` is 12.
fn count_before(text: &str, suffix: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.contains(suffix))?;
    let head = &line[..line.find(suffix)?];
    head.split_whitespace().last()?.parse().ok()
}

/// Packets read and the counters of wsscope's JSON report.
fn read_report(path: &Path) -> Result<(u64, WsscopeCounts)> {
    let doc: serde_json::Value = serde_json::from_reader(File::open(path)?)?;
    let input = &doc["inputs"][0];
    let n = |v: &serde_json::Value, what: &str| {
        v.as_u64().with_context(|| format!("no {what} in the report"))
    };
    let c = &input["capture"];
    let s = &doc["summary"];
    let counts = WsscopeCounts {
        received: n(&c["received"], "capture.received")?,
        dropped: n(&c["dropped"], "capture.dropped")?,
        if_dropped: n(&c["if_dropped"], "capture.if_dropped")?,
        messages: n(&s["messages"], "summary.messages")?,
        gaps: n(&s["gaps"], "summary.gaps")?,
        incomplete: n(&s["incomplete_messages"], "summary.incomplete_messages")?,
    };
    Ok((n(&input["packets"]["packets"], "packets.packets")?, counts))
}

fn version(tool: &str) -> String {
    let out = Command::new(tool).arg(if tool == "tcpdump" { "--version" } else { "-v" }).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => return format!("{tool}: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    let keep = ["tcpdump version", "libpcap version", "TShark", "tcpreplay version"];
    let lines = text.lines().filter(|l| keep.iter().any(|k| l.starts_with(k)));
    lines.collect::<Vec<_>>().join("; ")
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// The three tools at one rate.
struct Row {
    target: f64,
    runs: Vec<Run>,
}

impl Row {
    fn run(&self, tool: Tool) -> &Run {
        self.runs.iter().find(|r| r.tool == tool).unwrap_or(&self.runs[0])
    }
}

fn print_ladder(rows: &[Row], truth: &Expected, capture: &Path) {
    println!();
    println!(
        "{:>9} {:>9} | {:>7} {:>7} {:>8} {:>5} | {:>7} {:>7} | {:>7} {:>7}",
        "target",
        "achieved",
        "wsscope",
        "kernel",
        "messages",
        "gaps",
        "tcpdump",
        "kernel",
        "tshark",
        "kernel"
    );
    println!(
        "{:>9} {:>9} | {:>7} {:>7} {:>8} {:>5} | {:>7} {:>7} | {:>7} {:>7}",
        "pps", "pps", "read", "dropped", "", "", "read", "dropped", "read", "dropped"
    );
    for r in rows {
        let (w, d, s) = (r.run(Tool::Wsscope), r.run(Tool::Tcpdump), r.run(Tool::Tshark));
        let wc = w.wsscope.unwrap_or_default();
        let mark = |run: &Run| if run.loss_free(truth, 1) { " " } else { "*" };
        let fail =
            |run: &Run, v: u64| if run.failure.is_some() { "FAILED".into() } else { v.to_string() };
        println!(
            "{:>9} {:>9} | {:>7} {:>7} {:>8} {:>5}{}| {:>7} {:>7}{}| {:>7} {:>7}{}",
            fmt(r.target),
            fmt(r.runs.iter().map(|x| x.replay.pps).fold(f64::INFINITY, f64::min)),
            fail(w, w.captured),
            fail(w, w.dropped),
            fail(w, wc.messages),
            fail(w, wc.gaps),
            mark(w),
            fail(d, d.captured),
            fail(d, d.dropped),
            mark(d),
            fail(s, s.captured),
            fail(s, s.dropped),
            mark(s),
        );
    }
    println!();
    println!(
        "{} packets sent per run ({:.1} MB, {} connections, {} WebSocket), {} messages in truth; * = lost something",
        thousands(truth.packets),
        truth.file_bytes as f64 / MB,
        thousands(truth.tcp_connections),
        thousands(truth.websocket_connections),
        thousands(truth.messages)
    );
    println!(
        "'achieved': the slowest of the row's three replays (tcpreplay's own figure); 'kernel dropped' counts both"
    );
    println!("copies the kernel makes of a packet on lo. Commands (FILE: {}):", capture.display());
    for t in [Tool::Wsscope, Tool::Tcpdump, Tool::Tshark] {
        let c = t.command();
        let args: Vec<String> = c.get_args().map(|a| shell_quote(&a.to_string_lossy())).collect();
        println!("  {} {}", c.get_program().to_string_lossy(), args.join(" "));
    }
    println!(
        "  tcpreplay -i {IFACE} --pps RATE FILE   (one tool at a time; SIGINT 1 s after the replay)"
    );
}

fn shell_quote(s: &str) -> String {
    if s.contains(' ') { format!("'{s}'") } else { s.to_string() }
}

/// `12345.6` → `"12,346"`.
fn fmt(x: f64) -> String {
    thousands(x.round().max(0.0) as u64)
}
