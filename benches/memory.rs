//! Memory under the global budget (issue 13): peak RSS of `wsscope report` and `export` on the
//! hostile corpus's fan-out captures, scaled up, with budgets from 64 MiB to 1 GiB and with a
//! budget too large to matter (what the run would take without one). Each budgeted run's peak
//! RSS, less the RSS of the same command on a benign capture measured in the same run (the
//! process's fixed cost: code, libpcap, per-thread buffers), must stay within its budget:
//! the bench prints that as a ratio and fails past 1.0.
//!
//! ```text
//! cargo bench --bench memory                       # 7,000 bombs, 2,000 × 1,000 findings
//! WSSCOPE_BENCH_SCALE=0.25 cargo bench --bench memory
//! ```
//!
//! Captures are built into a temporary directory by this binary run as a child (`--build
//! DIR`), so that the measuring process stays small: a child's `ru_maxrss` starts from the
//! peak of the process it was forked from.

#[path = "../testdata/scripts/hostile.rs"]
mod hostile;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// (capture, what it is, how to build it at `scale`).
type Build = fn(&mut hostile::Pcap, f64);

const CAPTURES: &[(&str, &str, Build)] = &[
    ("benign", "one connection, bulk and small messages (the baseline)", |p, _| {
        (hostile::BENIGN.build)(p)
    }),
    ("bombs", "N connections, each a 1 KB deflate frame inflating to 1 MiB", |p, s| {
        hostile::bombs_n(p, true, (7000.0 * s) as u32)
    }),
    ("bombs_unfinished", "the same, none of them finished or closed", |p, s| {
        hostile::bombs_n(p, false, (7000.0 * s) as u32)
    }),
    ("declared", "N connections, a header declaring 1 MiB each, then nothing", |p, s| {
        hostile::declared_length_n(p, (7000.0 * s) as u32)
    }),
    ("findings", "N connections × 1,000 findings each", |p, s| {
        hostile::findings_flood_n(p, (2000.0 * s) as u32)
    }),
];

/// Budgets tried (`WSSCOPE_BENCH_BUDGETS=1G,64M` for some); "64G" stands for no budget (it never
/// fills on these captures).
const BUDGETS: &[&str] = &["64G", "1G", "256M", "64M"];

fn budgets() -> Vec<String> {
    match std::env::var("WSSCOPE_BENCH_BUDGETS") {
        Ok(b) => b.split(',').map(str::to_string).collect(),
        Err(_) if !benching() => vec!["1G".into(), "64M".into()],
        Err(_) => BUDGETS.iter().map(|b| b.to_string()).collect(),
    }
}

struct Run {
    rss_mib: f64,
    secs: f64,
    gave_up: String,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--build") {
        build(Path::new(&args[i + 1]), scale());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let me = std::env::current_exe().expect("own path");
    if !benching() {
        println!(
            "memory: smoke test only (scale {}); figures: cargo bench --bench memory",
            scale()
        );
    }
    let built = Command::new(me)
        .arg("--build")
        .arg(dir.path())
        .env("WSSCOPE_BENCH_SCALE", scale().to_string())
        .status()
        .expect("build");
    assert!(built.success(), "building the captures failed");
    let bin = Path::new(env!("CARGO_BIN_EXE_wsscope"));
    let cap = |name: &str| dir.path().join(format!("{name}.pcap"));
    let commands: [(&str, &[&str]); 2] = [
        ("report", &["report", "--fail-on", "never"]),
        ("export", &["export", "--max-payload", "64"]),
    ];
    println!(
        "memory under --memory-budget (scale {}; peak RSS from wait4; ratio = (RSS - baseline) / budget)",
        scale()
    );
    let mut failed = Vec::new();
    for (cmd, base_args) in commands {
        let baseline = run(bin, base_args, &cap("benign"), "1G").rss_mib;
        println!("\n{cmd}: baseline (benign capture) {baseline:.0} MiB");
        println!(
            "{:<18} {:>8} {:>7} {:>9} {:>7} {:>7}  gave up",
            "capture", "MB in", "budget", "RSS MiB", "ratio", "s"
        );
        for (name, _, _) in &CAPTURES[1..] {
            let path = cap(name);
            let mb = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
            for budget in &budgets() {
                let budget = budget.as_str();
                let r = run(bin, base_args, &path, budget);
                let ratio = if budget == "64G" {
                    "-".to_string()
                } else {
                    let b = parse_mib(budget);
                    let ratio = (r.rss_mib - baseline).max(0.0) / b;
                    if ratio > 1.0 {
                        failed.push(format!("{cmd} {name} --memory-budget {budget}: {ratio:.2}"));
                    }
                    format!("{ratio:.2}")
                };
                let label = if budget == "64G" { "none" } else { budget };
                println!(
                    "{name:<18} {mb:>8.1} {label:>7} {:>9.0} {ratio:>7} {:>7.2}  {}",
                    r.rss_mib, r.secs, r.gave_up
                );
            }
        }
    }
    assert!(failed.is_empty(), "peak RSS past the budget: {failed:?}");
}

/// Whether this is `cargo bench` (else `cargo test --all-targets`, which runs benches once as a
/// smoke test: small captures, two budgets).
fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn scale() -> f64 {
    let default = if benching() { 1.0 } else { 0.02 };
    std::env::var("WSSCOPE_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn parse_mib(s: &str) -> f64 {
    let (n, unit) = s.split_at(s.len() - 1);
    let n: f64 = n.parse().expect("budget");
    match unit {
        "G" => n * 1024.0,
        "M" => n,
        _ => panic!("budget {s}"),
    }
}

fn build(dir: &Path, scale: f64) {
    for (name, what, f) in CAPTURES {
        let mut p = hostile::Pcap::new();
        f(&mut p, scale);
        let path: PathBuf = dir.join(format!("{name}.pcap"));
        std::fs::write(&path, &p.out).expect("write capture");
        eprintln!("built {name}: {what} ({:.1} MB)", p.out.len() as f64 / 1e6);
    }
}

/// Runs wsscope and measures its peak RSS and wall time (reaped by `wait4`, which gives the
/// child's own resource usage, not `Child::wait`).
#[allow(clippy::zombie_processes)]
fn run(bin: &Path, args: &[&str], capture: &Path, budget: &str) -> Run {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .args(["--memory-budget", budget])
        .arg(capture)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wsscope");
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.expect("stderr");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).expect("stderr");
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "wsscope {args:?} {budget}: killed\n{err}");
    let secs = start.elapsed().as_secs_f64();
    // "…: the memory budget of 256 MiB filled up (peak …): 12 inflaters given up, …; raise…"
    let gave_up = err
        .lines()
        .find_map(|l| l.split_once("filled up").map(|(_, r)| r.to_string()))
        .and_then(|r| r.split_once("): ").map(|(_, w)| w.to_string()))
        .map(|w| w.split("; raise").next().unwrap_or("").to_string())
        .unwrap_or_else(|| "nothing".into());
    Run { rss_mib: ru.ru_maxrss as f64 / 1024.0, secs, gave_up }
}
