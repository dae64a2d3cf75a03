//! Whole-pipeline throughput on large, realistic WebSocket captures: `wsscope report` and
//! `wsscope export` next to libpcap's raw read speed (`tcpdump -r FILE -w /dev/null`) and to
//! tshark's WebSocket dissector, on the same capture, in the same run.
//!
//! # What is measured
//!
//! 1. A deterministic capture is generated into a temporary directory by
//!    `testdata/scripts/gen_bulk.rs` (included here with `#[path]`; it runs in a child process of
//!    this benchmark, so that its memory — one deflate compressor per direction of every open
//!    compressed connection — does not stay in this process): thousands of interleaved
//!    WebSocket connections (11 open at once per MB of capture) with real HTTP/1.1 upgrades,
//!    masked client frames, text and binary messages from tens of bytes to tens of kilobytes,
//!    fragments, pings and pongs, 20 % permessage-deflate with context takeover, IPv4 and IPv6,
//!    clean closing handshakes. The generator writes the totals it wrote to
//!    `FILE.expected.json`.
//! 2. The file is read once (like `cat FILE > /dev/null`) so that every command starts from the
//!    page cache.
//! 3. `wsscope report FILE --fail-on never` runs once with its output saved, and the report is
//!    checked against the generator's totals: packets, TCP and WebSocket connections, messages,
//!    application bytes, messages per opcode / compressed / fragmented per direction, every
//!    handshake accepted and every connection closed cleanly then by FIN, no gap, no finding.
//! 4. Each command runs 3 times as a child process, interleaved: wall time from spawn to exit,
//!    CPU time and peak RSS (`ru_maxrss`) from `wait4`; the table shows the median run. This
//!    process resets its own peak RSS before each spawn (Linux counts it in the child's until
//!    `exec`); the floor (what `true` shows) is printed.
//!    - `tcpdump -r FILE -w /dev/null`: libpcap reading the file, the lower bound of any tool.
//!    - `wsscope report FILE --fail-on never`: reassembly, decoding, inflation, checks, the
//!      report folded from events and written at the end.
//!    - `wsscope export FILE --format ndjson`: the same, every event serialised as it happens.
//!    - `tshark -r FILE -Y websocket -T fields -e websocket.opcode -e websocket.payload_length`:
//!      Wireshark's TCP reassembly, HTTP and WebSocket dissectors (server ports are 80 and 8080,
//!      which Wireshark dissects as HTTP without `-d`).
//!
//! MB means 10^6 bytes, MiB 2^20. `wsscope` is the binary cargo builds for this benchmark
//! (`CARGO_BIN_EXE_wsscope`; under `cargo bench`, the `bench` profile, which inherits
//! `release`).
//!
//! # Running
//!
//! ```text
//! cargo bench --bench pipeline                                  # 100 MB capture
//! WSSCOPE_BENCH_1G=1 cargo bench --bench pipeline               # and a 1 GB one (a few minutes)
//! WSSCOPE_BENCH_MB=10 WSSCOPE_BENCH_MIN_RATIO=0.05 \
//!     cargo bench --bench pipeline                              # CI: gross-regression gate
//! ```
//!
//! - `WSSCOPE_BENCH_MB`: capture size in MB (default 100).
//! - `WSSCOPE_BENCH_1G=1`: also run on a 1,000 MB capture (11,000 connections open at once).
//! - `WSSCOPE_BENCH_THREADS` (default 2): also time `report` and `export` with `--threads N`,
//!   after checking they write the same bytes as one thread (1 skips them).
//! - `WSSCOPE_BENCH_MIN_RATIO`: fail when `wsscope report`'s throughput divided by tcpdump's is
//!   below this (a ratio measured in the same run, never an absolute time).
//! - `WSSCOPE_BENCH_NO_TSHARK=1`: skip tshark (it takes most of the time).
//! - `WSSCOPE_BENCH_KEEP=1`: keep the temporary directory with the captures (for profiling).
//! - `WSSCOPE_BENCH_NO_PLAIN=1`: skip the second capture of each size, without permessage-deflate.
//!
//! Each size is measured twice: on the capture above (20 % permessage-deflate), and on the same
//! connections with no compression (`gen_bulk --no-deflate`; tcpdump and wsscope only). For the
//! first, the **floor of unavoidable work** is measured in the same run: libpcap reading the
//! file (tcpdump's median) plus a child of this binary (`__floor`) that inflates every
//! compressed message with its direction's context and validates every text message as UTF-8,
//! on the messages the generator dumped (`gen_bulk --dump`; read into memory first, only the
//! work timed). For both, the **CPU accounting** of `report --threads N`: each thread's CPU time
//! (`WSSCOPE_THREAD_CPU=1`), and how many workers would scale at ≥ 0.8·N on more cores; and the
//! **ceiling of this machine**: N copies of the one-thread `report` started at once against one
//! alone, the most N cores give N independent runs (shared caches, memory bandwidth, virtual
//! CPUs that share a physical core), which no `--threads N` can beat.
//!
//! The exit status is non-zero when the check disagrees, a command fails or the ratio is below
//! the minimum. Without cargo bench's `--bench` flag (`cargo test --all-targets` runs bench
//! targets too), only a 1 MB check runs: the capture generated twice must be identical
//! (SHA-256), and `wsscope report` must match its sidecar; no timing, no tcpdump, no tshark.

#[allow(dead_code)]
#[path = "../testdata/scripts/gen_bulk.rs"]
mod gen_bulk;

#[allow(dead_code, reason = "shared by the benchmarks; each uses a part")]
mod common;

use anyhow::{Context, Result};
use common::{
    MB, RUNS, Summary, Tool, check_ratio, env_flag, env_number, keep_if_asked, keep_requested,
    measure, rss_floor, thousands, warm_page_cache,
};
use gen_bulk::{DirCounts, Expected};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

/// Default capture size, in MB.
const DEFAULT_MB: f64 = 100.0;
/// The large size of `WSSCOPE_BENCH_1G`.
const LARGE_MB: f64 = 1000.0;
/// Capture size of the check outside `cargo bench`.
const SMOKE_MB: f64 = 1.0;
/// Size of the capture tshark's decoding is checked on.
const TSHARK_CHECK_MB: f64 = 2.0;
/// First argument that makes this binary run the generator (in a child process).
const GENERATE: &str = "__gen_bulk";
/// First argument that makes this binary measure the floor of unavoidable work on a dump.
const FLOOR: &str = "__floor";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(GENERATE) {
        return match gen_bulk::cli(args.into_iter().skip(2)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gen_bulk: error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if args.get(1).map(String::as_str) == Some(FLOOR) {
        return match floor_child(Path::new(args.get(2).map_or("", String::as_str))) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("floor: error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let bench = args.iter().any(|a| a == "--bench");
    let result = if bench { run_bench() } else { run_smoke() };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pipeline bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The full benchmark. Returns whether every check passed.
fn run_bench() -> Result<bool> {
    let mb = env_number("WSSCOPE_BENCH_MB")?.unwrap_or(DEFAULT_MB);
    let min_ratio = env_number("WSSCOPE_BENCH_MIN_RATIO")?;
    let large = env_flag("WSSCOPE_BENCH_1G");
    let with_tshark = !env_flag("WSSCOPE_BENCH_NO_TSHARK");
    if cfg!(debug_assertions) {
        println!("warning: built with debug assertions; the timings are not representative");
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut ok = true;
    let threads = env_number("WSSCOPE_BENCH_THREADS")?.map_or(2, |n| n as usize);
    let tools = |capture: &Path| {
        let mut t = vec![Tool::tcpdump(capture), Tool::report(capture), Tool::export(capture)];
        if threads > 1 {
            t.push(Tool::sharded(Tool::report(capture), threads));
            t.push(Tool::sharded(Tool::export(capture), threads));
        }
        if with_tshark {
            t.push(Tool::tshark(capture));
        }
        t
    };
    println!("{}", Tool::tcpdump(Path::new("-")).version());
    if with_tshark {
        println!("{}", Tool::tshark(Path::new("-")).version());
        ok &= check_tshark(dir.path())?;
    }
    let mut sizes = vec![mb];
    if large && mb != LARGE_MB {
        sizes.push(LARGE_MB);
    }
    let plain_too = !env_flag("WSSCOPE_BENCH_NO_PLAIN");
    let mixes = [Mix::Deflate, Mix::Plain];
    for (size, mix) in sizes.iter().flat_map(|s| mixes.iter().map(move |m| (*s, *m))) {
        if mix == Mix::Plain && !plain_too {
            continue;
        }
        let name = match mix {
            Mix::Deflate => format!("bulk-{size}MB.pcap"),
            Mix::Plain => format!("plain-{size}MB.pcap"),
        };
        let capture = dir.path().join(name);
        let dump = dir.path().join("messages.dump");
        println!();
        match mix {
            Mix::Deflate => {
                println!("━━ {size} MB capture, 20 % of connections with permessage-deflate ━━")
            }
            Mix::Plain => println!(
                "━━ {size} MB capture without permessage-deflate (the same connections, none compressed) ━━"
            ),
        }
        let expected = generate_in_child(&capture, size, dir.path(), mix, &dump)?;
        warm_page_cache(&capture)?;
        let (failures, doc) = check_report(&Tool::report(&capture), dir.path(), &expected)?;
        ok &= failures == 0;
        if threads > 1 {
            ok &= check_sharded(&capture, threads, dir.path())?;
        }
        let tools = match mix {
            Mix::Deflate => tools(&capture),
            // Without deflate, only the ratios the targets name: report against libpcap.
            Mix::Plain => tools(&capture).into_iter().filter(|t| t.label != "tshark").collect(),
        };
        let load_before = load_average();
        let samples = measure(&tools, dir.path())?;
        println!(
            "load average (1 min) before / after the timed runs: {load_before} / {}",
            load_average()
        );
        let results: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
        print_table(&tools, &results, &expected, rss_floor(dir.path())?);
        let table = doc.inputs.iter().map(|i| i.tcp.max_concurrent).max().unwrap_or(0);
        let open = doc.inputs.iter().map(|i| i.tcp.max_open).max().unwrap_or(0);
        print_memory(&tools, &results, &expected, (open, table));
        let ratio = print_ratios(&tools, &results);
        if mix == Mix::Deflate {
            ok &= check_ratio(ratio, min_ratio);
            let report = tools.iter().zip(&results).find(|(t, _)| t.label == "wsscope report");
            let tcpdump = tools.iter().zip(&results).find(|(t, _)| t.label == "tcpdump (libpcap)");
            if let (Some((_, r)), Some((_, t))) = (report, tcpdump) {
                print_floor(&dump, r, t, dir.path())?;
            }
        }
        let _ = std::fs::remove_file(&dump);
        if threads > 1 {
            print_thread_cpu(&capture, threads, &tools, &results, dir.path())?;
            print_ceiling(&capture, threads, &tools, &results, dir.path())?;
        }
        if !keep_requested() {
            let _ = std::fs::remove_file(&capture);
        }
    }
    keep_if_asked(dir);
    Ok(ok)
}

/// Outside `cargo bench`: a small capture generated twice, the correctness check, no timing.
fn run_smoke() -> Result<bool> {
    println!("correctness check only ({SMOKE_MB} MB); timings: cargo bench --bench pipeline");
    for (text, bytes) in [("100M", 100_000_000), ("1G", 1_000_000_000), ("2Mi", 2 << 20)] {
        let parsed = gen_bulk::parse_size(text)?;
        anyhow::ensure!(parsed == bytes, "parse_size({text:?}) = {parsed}, not {bytes}");
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let opts = gen_bulk::Options::new((SMOKE_MB * MB) as u64);
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    let expected = gen_bulk::generate(&a, &opts)?;
    gen_bulk::generate(&b, &opts)?;
    println!("capture: {}", expected.describe().replace('\n', "\n  "));
    let (ha, hb) = (sha256(&a)?, sha256(&b)?);
    let same =
        ha == hb && sha256(&gen_bulk::sidecar_path(&a))? == sha256(&gen_bulk::sidecar_path(&b))?;
    if same {
        println!("determinism: OK — generated twice, identical (sha256 {ha})");
    } else {
        println!("determinism: FAILED — the same seed gave {ha} and {hb}");
    }
    let (failures, _) = check_report(&Tool::report(&a), dir.path(), &expected)?;
    Ok(same && failures == 0)
}

fn sha256(path: &Path) -> Result<String> {
    let mut h = Sha256::new();
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Runs the generator in a child process (this binary with [`GENERATE`]) and reads its sidecar.
fn generate_in_child(
    capture: &Path,
    mb: f64,
    dir: &Path,
    mix: Mix,
    dump: &Path,
) -> Result<Expected> {
    let bytes = (mb * MB) as u64;
    let mut args: Vec<OsString> =
        vec![GENERATE.into(), capture.into(), "--size".into(), bytes.to_string().into()];
    match mix {
        Mix::Deflate => args.extend(["--dump".into(), dump.into()]),
        Mix::Plain => args.push("--no-deflate".into()),
    }
    let generator = Tool { label: "gen_bulk", program: std::env::current_exe()?, args };
    let sample = generator.run(Stdio::null(), dir)?;
    let side = gen_bulk::sidecar_path(capture);
    let f = File::open(&side).with_context(|| format!("cannot open {}", side.display()))?;
    let e: Expected = serde_json::from_reader(BufReader::new(f))?;
    println!("capture: {}", capture.display());
    println!("  {}", e.describe().replace('\n', "\n  "));
    println!(
        "  generated in {:.2} s ({:.0} MB/s), generator peak RSS {:.0} MiB (cargo run --release --example gen_bulk -- FILE --size {bytes})",
        sample.wall.as_secs_f64(),
        e.file_bytes as f64 / MB / sample.wall.as_secs_f64(),
        sample.max_rss_kib as f64 / 1024.0
    );
    Ok(e)
}

/// The 1-minute load average (other work on the machine slows every command alike).
fn load_average() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().next().unwrap_or("?").to_string()
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

impl Tool {
    fn wsscope(label: &'static str, args: &[&str], capture: &Path) -> Tool {
        let mut all: Vec<OsString> = vec![args[0].into(), capture.into()];
        all.extend(args[1..].iter().map(OsString::from));
        Tool { label, program: PathBuf::from(env!("CARGO_BIN_EXE_wsscope")), args: all }
    }

    fn report(capture: &Path) -> Tool {
        Tool::wsscope("wsscope report", &["report", "--fail-on", "never"], capture)
    }

    fn export(capture: &Path) -> Tool {
        Tool::wsscope("wsscope export", &["export", "--format", "ndjson"], capture)
    }

    /// `tool` with `--threads n`.
    fn sharded(mut tool: Tool, n: usize) -> Tool {
        tool.label = Box::leak(format!("{} -j{n}", tool.label).into_boxed_str());
        tool.args.extend(["--threads".into(), n.to_string().into()]);
        tool
    }

    fn tshark(capture: &Path) -> Tool {
        let args = ["-Y", "websocket", "-T", "fields", "-e", "websocket.opcode"];
        let mut all: Vec<OsString> = vec!["-r".into(), capture.into()];
        all.extend(args.iter().map(OsString::from));
        all.extend(["-e".into(), "websocket.payload_length".into()]);
        Tool { label: "tshark", program: PathBuf::from("tshark"), args: all }
    }
}

// ---------------------------------------------------------------------------------------------
// Correctness checks
// ---------------------------------------------------------------------------------------------

/// The parts of `wsscope report` that are checked (other fields are ignored). Small structs
/// rather than a `serde_json::Value` tree, so that this process stays small: its RSS is the
/// floor of every child's peak RSS.
#[derive(Debug, Deserialize)]
struct ReportDoc {
    inputs: Vec<InputDoc>,
    summary: SummaryDoc,
    connections: Vec<ConnDoc>,
}

#[derive(Debug, Deserialize)]
struct InputDoc {
    end_of_input: EndOfInput,
    tcp: TcpDoc,
}

#[derive(Debug, Deserialize)]
struct EndOfInput {
    kind: String,
}

#[derive(Debug, Deserialize)]
struct TcpDoc {
    max_concurrent: u64,
    max_open: u64,
}

#[derive(Debug, Deserialize)]
struct SummaryDoc {
    packets: u64,
    tcp_connections: u64,
    websocket_connections: u64,
    upgraded: u64,
    refused: u64,
    messages: u64,
    message_bytes: u64,
    gaps: u64,
    findings: Severities,
    findings_by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct Severities {
    error: u64,
    warning: u64,
    info: u64,
}

#[derive(Debug, Deserialize)]
struct ConnDoc {
    id: u64,
    client: String,
    server: String,
    handshake: HandshakeDoc,
    messages: PerDirection,
    close: CloseDoc,
    findings: Vec<FindingDoc>,
}

#[derive(Debug, Deserialize)]
struct HandshakeDoc {
    accept_valid: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct PerDirection {
    client_to_server: DirCounts,
    server_to_client: DirCounts,
}

#[derive(Debug, Deserialize)]
struct CloseDoc {
    clean: bool,
    tcp: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FindingDoc {
    code: String,
    packet: u64,
    message: String,
}

/// Runs `wsscope report` once with its output saved and checks it against the generator's
/// sidecar. Prints the outcome; returns the number of disagreements and the document.
fn check_report(report: &Tool, dir: &Path, e: &Expected) -> Result<(usize, ReportDoc)> {
    let json_path = dir.join("report.json");
    let sample = report.run(Stdio::from(File::create(&json_path)?), dir)?;
    let doc: ReportDoc = serde_json::from_reader(BufReader::new(File::open(&json_path)?))
        .context("wsscope's output is not the expected report")?;
    let _ = std::fs::remove_file(&json_path);
    let problems = disagreements(&doc, e);
    if problems.is_empty() {
        println!(
            "check: OK — wsscope report matches the sidecar: {} packets, {} TCP / {} WebSocket connections, {} messages ({} text, {} binary, {} ping, {} pong, {} close), {} message bytes, {} compressed, {} fragmented, every connection closed cleanly, 0 gaps, 0 findings ({:.2} s)",
            e.packets,
            e.tcp_connections,
            e.websocket_connections,
            e.messages,
            e.messages_by_opcode.text,
            e.messages_by_opcode.binary,
            e.messages_by_opcode.ping,
            e.messages_by_opcode.pong,
            e.messages_by_opcode.close,
            e.message_bytes,
            e.compressed_messages,
            e.fragmented_messages,
            sample.wall.as_secs_f64()
        );
    } else {
        println!("check: FAILED — wsscope report disagrees with the generator:");
        for p in &problems {
            println!("  - {p}");
        }
    }
    Ok((problems.len(), doc))
}

/// Checks that `report` and `export` with `--threads n` write exactly what they write with one.
fn check_sharded(capture: &Path, n: usize, dir: &Path) -> Result<bool> {
    let mut ok = true;
    for tool in [Tool::report(capture), Tool::export(capture)] {
        let label = tool.label;
        let (one, many) = (dir.join("one.out"), dir.join("many.out"));
        tool.run(Stdio::from(File::create(&one)?), dir)?;
        Tool::sharded(tool, n).run(Stdio::from(File::create(&many)?), dir)?;
        let (a, b) = (sha256(&one)?, sha256(&many)?);
        let _ = (std::fs::remove_file(&one), std::fs::remove_file(&many));
        if a == b {
            println!("check: OK — {label} --threads {n} writes the same bytes as one thread");
        } else {
            println!("check: FAILED — {label} --threads {n} differs from one thread");
            ok = false;
        }
    }
    Ok(ok)
}

/// Everything in the report that disagrees with the sidecar `e`.
fn disagreements(doc: &ReportDoc, e: &Expected) -> Vec<String> {
    let mut out = Vec::new();
    let mut expect = |what: &str, got: u64, want: u64| {
        if got != want {
            out.push(format!("{what}: wsscope {got}, generated {want}"));
        }
    };
    let s = &doc.summary;
    expect("summary.packets", s.packets, e.packets);
    expect("summary.tcp_connections", s.tcp_connections, e.tcp_connections);
    expect("summary.websocket_connections", s.websocket_connections, e.websocket_connections);
    expect("summary.upgraded", s.upgraded, e.websocket_connections);
    expect("summary.refused", s.refused, 0);
    expect("summary.messages", s.messages, e.messages);
    expect("summary.message_bytes", s.message_bytes, e.message_bytes);
    expect("summary.gaps", s.gaps, e.gaps);
    expect("summary.findings.error", s.findings.error, 0);
    expect("summary.findings.warning", s.findings.warning, 0);
    expect("summary.findings.info", s.findings.info, e.findings);
    expect("connections listed", doc.connections.len() as u64, e.websocket_connections);
    let sum = |pick: fn(&PerDirection) -> &DirCounts| {
        let mut t = DirCounts::default();
        for c in &doc.connections {
            let d = pick(&c.messages);
            t.data += d.data;
            t.text += d.text;
            t.binary += d.binary;
            t.ping += d.ping;
            t.pong += d.pong;
            t.close += d.close;
            t.bytes += d.bytes;
            t.wire_bytes += d.wire_bytes;
            t.compressed += d.compressed;
            t.fragmented += d.fragmented;
        }
        t
    };
    let c2s = sum(|m| &m.client_to_server);
    let s2c = sum(|m| &m.server_to_client);
    for (name, got, want) in [
        ("client_to_server", &c2s, &e.client_to_server),
        ("server_to_client", &s2c, &e.server_to_client),
    ] {
        if got != want {
            out.push(format!("connections[].messages.{name}: wsscope {got:?}, generated {want:?}"));
        }
    }
    if !s.findings_by_code.is_empty() {
        out.push(format!("findings_by_code: {:?}", s.findings_by_code));
    }
    for input in &doc.inputs {
        if input.end_of_input.kind != "clean" {
            out.push(format!("end_of_input: {}", input.end_of_input.kind));
        }
    }
    let mut listed = 0;
    for c in &doc.connections {
        let bad_close = !c.close.clean || c.close.tcp.as_deref() != Some("fin");
        let bad_accept = c.handshake.accept_valid != Some(true);
        if (bad_close || bad_accept || !c.findings.is_empty()) && listed < 5 {
            listed += 1;
            let f: Vec<String> = c
                .findings
                .iter()
                .take(3)
                .map(|f| format!("{} at packet {}: {}", f.code, f.packet, f.message))
                .collect();
            out.push(format!(
                "connection #{} {} → {}: clean close {}, tcp end {:?}, accept valid {:?}, findings [{}]",
                c.id,
                c.client,
                c.server,
                c.close.clean,
                c.close.tcp,
                c.handshake.accept_valid,
                f.join("; ")
            ));
        }
    }
    out
}

/// tshark must decode the generated traffic, or its timing would mean nothing: on a small
/// capture, it must see every frame (opcodes are counted, one value per frame).
fn check_tshark(dir: &Path) -> Result<bool> {
    let capture = dir.join("tshark-check.pcap");
    let e = gen_bulk::generate(&capture, &gen_bulk::Options::new((TSHARK_CHECK_MB * MB) as u64))?;
    let out_path = dir.join("tshark.txt");
    Tool::tshark(&capture).run(Stdio::from(File::create(&out_path)?), dir)?;
    let text = std::fs::read_to_string(&out_path)?;
    let frames: u64 = text
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(|ops| ops.split(',').filter(|o| !o.is_empty()).count() as u64)
        .sum();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&capture);
    let _ = std::fs::remove_file(gen_bulk::sidecar_path(&capture));
    if frames == e.frames {
        println!(
            "tshark check: OK — on a {TSHARK_CHECK_MB} MB capture tshark decodes all {} WebSocket frames",
            e.frames
        );
        Ok(true)
    } else {
        println!(
            "tshark check: FAILED — on a {TSHARK_CHECK_MB} MB capture tshark decodes {frames} WebSocket frames of {}",
            e.frames
        );
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// Prints the results; `floor_kib` is the smallest peak RSS a child can show (see [`rss_floor`]).
fn print_table(tools: &[Tool], results: &[Summary], e: &Expected, floor_kib: u64) {
    let mb = e.file_bytes as f64 / MB;
    println!();
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>9} {:>10}",
        "command", "median s", "min s", "max s", "cpu s", "MB/s", "packets/s", "peak RSS", "RSS/MB"
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>9} {:>10}",
        "", "", "", "", "", "of file", "", "MiB", "KiB per MB"
    );
    for (tool, r) in tools.iter().zip(results) {
        let secs = r.median.wall.as_secs_f64();
        println!(
            "{:<18} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>11} {:>9.1} {:>10.1}",
            tool.label,
            secs,
            r.min.as_secs_f64(),
            r.max.as_secs_f64(),
            r.median.cpu.as_secs_f64(),
            mb / secs,
            thousands((e.packets as f64 / secs) as u64),
            r.rss_mib(),
            r.max_rss_kib as f64 / mb
        );
    }
    println!();
    println!(
        "{RUNS} runs each, interleaved, after one untimed read of the file ({mb:.1} MB, {} packets);",
        thousands(e.packets)
    );
    println!(
        "wall time from spawn to exit; cpu = user + sys of the median run; peak RSS = largest"
    );
    println!(
        "ru_maxrss of the runs (wait4; a child cannot show less than {:.1} MiB, what `true` shows).",
        floor_kib as f64 / 1024.0
    );
    println!("wsscope: built by cargo in the `bench` profile (inherits `release`). Commands:");
    for tool in tools {
        println!("  {}", tool.shell());
    }
}

/// Memory per open connection: peak RSS divided by the connections open at once (the
/// generator's count). `seen` is wsscope's (`tcp.max_open`, `tcp.max_concurrent`): the most
/// connections it had open at once, and the most its table held, closed ones it still remembers
/// (for 30 s of packet time) included.
fn print_memory(tools: &[Tool], results: &[Summary], e: &Expected, seen: (u64, u64)) {
    let open = e.max_open_connections.max(1);
    println!();
    println!(
        "connections: {} open at once, {} in all over {:.1} s of packet time; wsscope had up to {} open at once (tcp.max_open) and its table held up to {} (tcp.max_concurrent: closed ones linger 30 s)",
        thousands(e.max_open_connections),
        thousands(e.tcp_connections),
        e.duration_secs,
        thousands(seen.0),
        thousands(seen.1)
    );
    for (tool, r) in tools.iter().zip(results) {
        if tool.label.starts_with("wsscope") {
            println!(
                "  {}: peak RSS {:.1} MiB = {:.1} KiB per open connection (everything counted: an upper bound)",
                tool.label,
                r.rss_mib(),
                r.max_rss_kib as f64 / open as f64
            );
        }
    }
}

/// Prints throughput ratios (from median wall times, and from the CPU times of the median runs,
/// which a busy machine disturbs less); returns report's relative to tcpdump's by wall time.
fn print_ratios(tools: &[Tool], results: &[Summary]) -> f64 {
    let find = |label: &str| tools.iter().zip(results).find(|(t, _)| t.label == label);
    let (Some((_, tcpdump)), Some((_, report)), Some((_, export))) =
        (find("tcpdump (libpcap)"), find("wsscope report"), find("wsscope export"))
    else {
        return 0.0;
    };
    let wall = |a: &Summary, b: &Summary| a.median.wall.as_secs_f64() / b.median.wall.as_secs_f64();
    let cpu = |a: &Summary, b: &Summary| a.median.cpu.as_secs_f64() / b.median.cpu.as_secs_f64();
    let r = wall(tcpdump, report);
    println!();
    println!("ratios of throughput (wall time; cpu time in brackets):");
    println!(
        "  report vs tcpdump: {r:.3} ({:.3})  wsscope report reads at {r:.3}× libpcap's raw read speed",
        cpu(tcpdump, report)
    );
    let sharded: Vec<_> =
        tools.iter().zip(results).filter(|(t, _)| t.label.contains(" -j")).collect();
    for (t, s) in &sharded {
        let base = if t.label.starts_with("wsscope report") { report } else { export };
        println!(
            "  {}: {:.2}× the throughput of one thread ({:.3}× libpcap's raw read speed)",
            t.label,
            wall(base, s),
            wall(tcpdump, s)
        );
    }
    if let Some((_, tshark)) = find("tshark") {
        let all = [("report", report), ("export", export)];
        let more = sharded.iter().map(|(t, s)| (t.label.trim_start_matches("wsscope "), *s));
        for (name, w) in all.into_iter().chain(more) {
            println!(
                "  {name} vs tshark:  {:.2} ({:.2})  wsscope {name} is {:.2}× as fast as tshark -Y websocket",
                wall(tshark, w),
                cpu(tshark, w),
                wall(tshark, w)
            );
        }
    }
    r
}

/// Which traffic a capture holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    /// 20 % of the WebSocket connections negotiate permessage-deflate.
    Deflate,
    /// The same connections, none compressed (`gen_bulk --no-deflate`).
    Plain,
}

/// The floor child: the work no analyzer can avoid on the messages of `dump` (written by
/// `gen_bulk --dump`): inflating every compressed message with its connection direction's
/// context, and validating every text message as UTF-8. The dump is read into memory first;
/// only the work is timed (this thread's CPU time), printed as `floor SECONDS`.
fn floor_child(dump: &Path) -> Result<()> {
    use flate2::{Decompress, FlushDecompress, Status};
    let data = std::fs::read(dump).with_context(|| format!("cannot read {}", dump.display()))?;
    let start = wsscope::cpu::thread_time();
    let mut contexts: std::collections::HashMap<(u32, u8), Decompress> = Default::default();
    let (mut input, mut out) = (Vec::new(), Vec::with_capacity(1 << 20));
    let (mut at, mut inflated, mut validated) = (0usize, 0u64, 0u64);
    while at + 10 <= data.len() {
        let conn = u32::from_le_bytes(data[at..at + 4].try_into()?);
        let (dir, flags) = (data[at + 4], data[at + 5]);
        let len = u32::from_le_bytes(data[at + 6..at + 10].try_into()?) as usize;
        let payload = data.get(at + 10..at + 10 + len).context("the dump is cut")?;
        at += 10 + len;
        let text = flags & 1 != 0;
        if flags & 2 == 0 {
            if text {
                anyhow::ensure!(simdutf8::basic::from_utf8(payload).is_ok(), "invalid UTF-8");
                validated += len as u64;
            }
            continue;
        }
        let z = contexts.entry((conn, dir)).or_insert_with(|| Decompress::new(false));
        input.clear();
        input.extend_from_slice(payload);
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        out.clear();
        let (mut used, base_in) = (0usize, z.total_in());
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(out.capacity().max(4096));
            }
            let status = z.decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)?;
            used = (z.total_in() - base_in) as usize;
            if used >= input.len() || status == Status::StreamEnd {
                break;
            }
        }
        inflated += out.len() as u64;
        if text {
            anyhow::ensure!(simdutf8::basic::from_utf8(&out).is_ok(), "invalid UTF-8 inflated");
            validated += out.len() as u64;
        }
    }
    let secs = wsscope::cpu::thread_time().saturating_sub(start).as_secs_f64();
    println!("floor {secs:.6} inflated {inflated} validated {validated}");
    Ok(())
}

/// The floor of the 20 %-deflate mix: libpcap reading the file (tcpdump's median above) plus
/// the floor child's inflating and validating (median of 3 runs), against `wsscope report`.
fn print_floor(dump: &Path, report: &Summary, tcpdump: &Summary, dir: &Path) -> Result<()> {
    let mut runs = Vec::new();
    let mut line = String::new();
    for _ in 0..RUNS {
        let o = std::process::Command::new(std::env::current_exe()?)
            .args([FLOOR.as_ref(), dump.as_os_str()])
            .current_dir(dir)
            .output()?;
        anyhow::ensure!(o.status.success(), "floor: {}", String::from_utf8_lossy(&o.stderr));
        line = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let secs: f64 = line.split_whitespace().nth(1).context("floor output")?.parse()?;
        runs.push(secs);
    }
    runs.sort_by(f64::total_cmp);
    let work = runs[runs.len() / 2];
    let read = tcpdump.median.wall.as_secs_f64();
    let floor = read + work;
    let wsscope = report.median.wall.as_secs_f64();
    println!();
    println!("floor of unavoidable work (reading, inflating, UTF-8 validation):");
    println!("  reading (tcpdump -r FILE -w /dev/null, median): {read:.3} s");
    println!(
        "  inflating every compressed message and validating every text message (median of {RUNS}, CPU): {work:.3} s ({})",
        line.splitn(3, ' ').nth(2).unwrap_or("")
    );
    println!(
        "  floor {floor:.3} s; wsscope report {wsscope:.3} s = {:.2}× the floor (target: within 1.5×)",
        wsscope / floor
    );
    Ok(())
}

/// Where the CPU time of `report --threads N` goes (`WSSCOPE_THREAD_CPU=1`: each thread's CPU
/// time, medians of 3 runs), and what that allows with more cores: with N workers on N + 2
/// cores, a run takes about as long as the largest of the reading thread, the merging thread
/// (the rest of the process: merging, folding and writing the report) and the workers' share.
fn print_thread_cpu(
    capture: &Path,
    n: usize,
    tools: &[Tool],
    results: &[Summary],
    dir: &Path,
) -> Result<()> {
    let one = tools.iter().zip(results).find(|(t, _)| t.label == "wsscope report");
    let Some((_, one)) = one else { return Ok(()) };
    let (mut reader, mut workers, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let tool = Tool::sharded(Tool::report(capture), n);
        let o = std::process::Command::new(&tool.program)
            .args(&tool.args)
            .env("WSSCOPE_THREAD_CPU", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .current_dir(dir)
            .spawn()?;
        let (status, usage, stderr) = wait_with_usage(o)?;
        anyhow::ensure!(status, "{} failed: {stderr}", tool.shell());
        let line = stderr
            .lines()
            .find_map(|l| l.strip_prefix("wsscope: thread cpu: "))
            .context("no thread cpu line")?;
        let mut r = 0.0;
        let mut w = 0.0;
        for part in line.split(", ") {
            let mut it = part.split_whitespace();
            let (name, secs) = (it.next().unwrap_or(""), it.next().unwrap_or("0").parse::<f64>()?);
            match name {
                "reader" => r += secs,
                n if n.starts_with("shard-") => w += secs,
                _ => {}
            }
        }
        reader.push(r);
        workers.push(w);
        rest.push((usage - r - w).max(0.0));
    }
    let (r, w, m) = (median(&mut reader), median(&mut workers), median(&mut rest));
    let total = r + w + m;
    let t1 = one.median.cpu.as_secs_f64();
    println!();
    println!(
        "CPU accounting of report -j{n} (WSSCOPE_THREAD_CPU=1, medians of {RUNS}): reading thread {r:.3} s ({:.0} %), {n} workers {w:.3} s ({:.0} %), merging thread and the rest {m:.3} s ({:.0} %); one thread: {t1:.3} s",
        100.0 * r / total,
        100.0 * w / total,
        100.0 * m / total
    );
    let mut best = 1;
    for k in 1..=64usize {
        let est = t1 / r.max(m).max(w / k as f64);
        if est >= 0.8 * k as f64 {
            best = k;
        }
    }
    println!(
        "  with N workers on N + 2 cores a run would take max(reader, rest, workers / N): N workers reach ≥ 0.8·N up to N = {best} (estimate from CPU accounting; this machine has {} cores)",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    Ok(())
}

/// What N cores of this machine give N *independent* runs: `report` alone, then N copies of it
/// started at once, interleaved (medians of [`RUNS`] pairs). N copies finishing in the time of
/// one would be N× the throughput; shared caches, memory bandwidth and virtual CPUs that share a
/// physical core give less. No `--threads N` can beat that ceiling, so `-jN`'s speed-up is
/// printed against it as well as against one thread.
fn print_ceiling(
    capture: &Path,
    n: usize,
    tools: &[Tool],
    results: &[Summary],
    dir: &Path,
) -> Result<()> {
    let find = |label: &str| tools.iter().zip(results).find(|(t, _)| t.label == label);
    let (Some((_, one)), Some((_, sharded))) =
        (find("wsscope report"), find(&format!("wsscope report -j{n}")))
    else {
        return Ok(());
    };
    let report = Tool::report(capture);
    let (mut alone, mut together) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        alone.push(report.run(Stdio::null(), dir)?.wall.as_secs_f64());
        let start = std::time::Instant::now();
        let children = (0..n)
            .map(|_| {
                std::process::Command::new(&report.program)
                    .args(&report.args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .current_dir(dir)
                    .spawn()
                    .with_context(|| format!("cannot start {}", report.shell()))
            })
            .collect::<Result<Vec<_>>>()?;
        for mut c in children {
            anyhow::ensure!(c.wait()?.success(), "{} failed", report.shell());
        }
        together.push(start.elapsed().as_secs_f64());
    }
    let (a, t) = (median(&mut alone), median(&mut together));
    let ceiling = n as f64 * a / t;
    let speedup = one.median.wall.as_secs_f64() / sharded.median.wall.as_secs_f64();
    println!(
        "ceiling of this machine for {n} cores (medians of {RUNS}): one report alone {a:.3} s, {n} copies at once {t:.3} s: {n} independent runs get {ceiling:.2}× the throughput of one; report -j{n}'s {speedup:.2}× is {:.0} % of that",
        100.0 * speedup / ceiling
    );
    Ok(())
}

/// The median of `v` (sorted in place; not empty).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Waits for `child`, returning whether it succeeded, its CPU time (user + system, seconds)
/// and its standard error.
fn wait_with_usage(mut child: std::process::Child) -> Result<(bool, f64, String)> {
    use std::io::Read;
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr)?;
    }
    let (status, usage) = common::wait4(child.id())?;
    let cpu = common::duration(usage.ru_utime) + common::duration(usage.ru_stime);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, cpu.as_secs_f64(), stderr))
}
