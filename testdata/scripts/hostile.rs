//! The hostile corpus (issue 13): captures built to make a passive analyzer do quadratic work,
//! amplify memory, drop or forge what it shows, write where it must not, or print what a
//! terminal would act on; and, for each, the command to run and what must come out.
//!
//! This module is shared: `gen_hostile.rs` (an example) writes the captures to a directory,
//! and `tests/hostile.rs` builds them into a temporary directory at test time, runs the real
//! `wsscope` binary on each case and checks its exit status, output, peak RSS and CPU time
//! against a benign capture measured in the same run. Nothing generated here is committed.
//! The corpus is described in `docs/hostile.md`.
//!
//! Everything is deterministic: fixed addresses, ISNs, masking keys, a seeded generator for
//! random bytes and a packet clock of 10 µs per packet from 1_700_000_000 s. Packets are built
//! by hand (Ethernet, IPv4, TCP) rather than with `segment.rs`, because the cases need RST
//! segments, overlapping IPv4 fragments, records cut by a snaplen, and 100,000 connections
//! written quickly in a debug build. This file does not use the `wsscope` library.

#![allow(dead_code)] // the generator and the test each use part of it

use base64::Engine;
use flate2::{Compress, Compression, FlushCompress};
use sha1::{Digest, Sha1};

// ── Cases ───────────────────────────────────────────────────────────────────────────────────

/// A capture of the corpus: its file name (without `.pcap`) and how to build it.
#[derive(Clone, Copy)]
pub struct Capture {
    pub name: &'static str,
    pub build: fn(&mut Pcap),
}

/// What must be prepared around the capture before `wsscope` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// The capture is `{in}`.
    Plain,
    /// The capture's file name holds `ESC ] 0;title BEL ESC [2J` and a right-to-left override.
    HostileName,
    /// `{dir}` is a directory holding a symbolic link named like the first file `streams
    /// --write-dir` writes, pointing at `{victim}`, a file that must keep its bytes.
    PlantedSymlink,
    /// `{in}` is a FIFO whose writer sends the capture and then nothing; `wsscope` gets SIGTERM
    /// 0.5 s after it started.
    FifoThenSigterm,
}

/// A comparison for a number in the output.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    Eq(u64),
    AtLeast(u64),
    AtMost(u64),
}

impl Cmp {
    pub fn holds(self, v: u64) -> bool {
        match self {
            Cmp::Eq(n) => v == n,
            Cmp::AtLeast(n) => v >= n,
            Cmp::AtMost(n) => v <= n,
        }
    }
}

/// One expectation on a run. Outputs are read by command: `report` is parsed as JSON,
/// `export` as NDJSON (messages, findings and connections counted from its lines; JSON
/// pointers look into its final `summary` line), anything else as text.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// The exit status.
    Exit(i32),
    /// At least one finding with this check id.
    Finding(&'static str),
    /// No finding with this check id.
    NoFinding(&'static str),
    /// The number of findings with this check id.
    Findings(&'static str, Cmp),
    /// Messages reported complete (`report`: `summary.messages`; `export`: message lines with
    /// `complete: true`).
    Messages(Cmp),
    /// Messages reported incomplete (`report`: `summary.incomplete_messages`; `export`: message
    /// lines with `complete: false`).
    Incomplete(Cmp),
    /// WebSocket connections (`report`: `summary.websocket_connections`; `export`: handshake
    /// lines plus connections found mid-stream are not counted apart, so `connection` lines).
    Connections(Cmp),
    /// A number at this JSON pointer (`report`: the document; `export`: its `summary` line).
    Json(&'static str, Cmp),
    /// Standard output contains this string.
    Contains(&'static str),
    /// Neither standard output, standard error nor a file the run wrote contains this string.
    Lacks(&'static str),
    /// A finding's message, code, or a `summary.no_websocket` reason mentions this word.
    Mentions(&'static str),
    /// Standard output and standard error hold no character a terminal acts on or hides
    /// (raw ESC and other C0/C1 controls, bidi controls, zero-width characters).
    TerminalSafe,
    /// The capture file has the bytes it had before the run.
    InputIntact,
    /// The target of the planted symbolic link has the bytes it had before the run.
    VictimIntact,
    /// The file named `{out}` exists and is a JSON report.
    ReportWritten,
    /// The report's first input ended `stopped`, its message mentioning this.
    Stopped(&'static str),
    /// (FIFO cases) the run ended within this many milliseconds of the signal.
    StopsWithinMs(u64),
    /// A finding `memory_budget`: degradation under `--memory-budget` kicked in. Checked only
    /// in a build that has the flag (else reported as pending).
    MemoryBudgetFinding,
    /// An expectation that today's code is known to fail, with the reason: the test prints the
    /// result and does not fail on it. Flip it to the plain expectation when the fix lands.
    Pending(&'static str, &'static Expect),
}

/// How CPU time (user + system) may grow: at most `factor` times the CPU per input byte of
/// `baseline` (a benign capture run with `baseline_args`, measured in the same test run),
/// times this case's work in bytes, plus `slack_ms` (process start-up and noise).
#[derive(Clone, Copy)]
pub struct CpuBound {
    pub factor: f64,
    /// The bytes the work is counted in: the input size, unless the case says otherwise (a
    /// decompression bomb multiplies its input by design; its work is the inflated size).
    pub work: Work,
    pub slack_ms: u64,
    pub baseline: Capture,
    /// The command run on `baseline` (`{in}` is its path).
    pub baseline_args: &'static [&'static str],
}

#[derive(Clone, Copy, Debug)]
pub enum Work {
    InputBytes,
    /// This many bytes (an inflated size).
    Bytes(u64),
}

const fn linear(baseline_args: &'static [&'static str]) -> CpuBound {
    CpuBound { factor: 8.0, work: Work::InputBytes, slack_ms: 500, baseline: BENIGN, baseline_args }
}

const fn twin(baseline: Capture, baseline_args: &'static [&'static str]) -> CpuBound {
    CpuBound { baseline, ..linear(baseline_args) }
}

const fn inflated(baseline_args: &'static [&'static str]) -> CpuBound {
    CpuBound { work: Work::Bytes(BOMBS as u64 * BOMB_INFLATED as u64), ..linear(baseline_args) }
}

pub const REPORT: CpuBound = linear(&["report", "{in}"]);
pub const EXPORT: CpuBound = linear(&["export", "{in}"]);
pub const TEXT_VIEW: CpuBound = linear(&["--text", "-v", "{in}"]);
pub const STREAMS: CpuBound = linear(&["streams", "{in}"]);

pub struct Case {
    pub name: &'static str,
    /// What it attacks, in one line.
    pub attack: &'static str,
    pub capture: Capture,
    pub setup: Setup,
    /// The command line after `wsscope`: `{in}` is the capture, `{out}` a file name in the
    /// case's directory that does not exist yet, `{dir}` the directory of `Setup::PlantedSymlink`.
    pub args: &'static [&'static str],
    /// A fan-out case: run with the memory budget (`tests/hostile.rs`, `MEMORY_BUDGET`) when
    /// the build has it; the RSS bound assumes it.
    pub budget: bool,
    /// Peak resident set size of the `wsscope` process, in MiB.
    pub max_rss_mib: u64,
    pub cpu: CpuBound,
    pub expect: &'static [Expect],
}

/// Connections of the fan-out captures.
pub const FANOUT: u32 = 2000;
/// Connections of the SYN flood.
pub const SYN_FLOOD: u32 = 100_000;
/// Connections of the decompression bombs (each inflates 1 MiB: a debug build takes about 4 s
/// per 1,000).
pub const BOMBS: u32 = 1000;
/// Bytes one decompression bomb inflates to.
pub const BOMB_INFLATED: usize = 1 << 20;

/// The benign capture most cases' CPU time is compared with (per input byte).
pub const BENIGN: Capture = Capture { name: "benign", build: benign };
/// The findings flood's twin: the same frames, masked and valid, so no finding.
pub const FLOOD_TWIN: Capture = Capture { name: "findings_flood_twin", build: findings_flood_twin };
/// 10,000 short TCP connections (a request and a response each): the SYN flood's twin, as
/// much per-connection work per byte.
pub const SHORT_CONNECTIONS: Capture =
    Capture { name: "short_connections", build: short_connections };
/// 100,000 small complete messages: the twin of the cases made of many tiny frames.
pub const SMALL_FRAMES: Capture = Capture { name: "small_frames", build: small_frames };

pub const CASES: &[Case] = &[
    // 1. Quadratic mid-stream search.
    Case {
        name: "midstream_random_1400",
        attack: "mid-stream frame search: 4 MB of random bytes one way, no SYN, 1400-byte segments",
        capture: Capture { name: "midstream_random_1400", build: midstream_random_1400 },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[Expect::Exit(0), Expect::Connections(Cmp::Eq(0))],
    },
    Case {
        name: "midstream_random_1byte",
        attack: "mid-stream frame search: 200 KB of random bytes one way, no SYN, 1-byte segments",
        capture: Capture { name: "midstream_random_1byte", build: midstream_random_1byte },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[Expect::Exit(0), Expect::Connections(Cmp::Eq(0))],
    },
    // 2. Decompression bombs.
    Case {
        name: "deflate_bomb_report",
        attack: "1,000 connections, each a 1 KB permessage-deflate frame inflating to 1 MiB",
        capture: Capture { name: "deflate_bomb", build: deflate_bomb },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: inflated(&["report", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(BOMBS as u64)),
            Expect::Messages(Cmp::Eq(BOMBS as u64)),
            Expect::Json("/summary/message_bytes", Cmp::Eq(BOMBS as u64 * BOMB_INFLATED as u64)),
        ],
    },
    Case {
        name: "deflate_bomb_export",
        attack: "the same bombs through export (payloads cut to 64 bytes in the output)",
        capture: Capture { name: "deflate_bomb", build: deflate_bomb },
        setup: Setup::Plain,
        args: &["export", "--max-payload", "64", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: inflated(&["export", "--max-payload", "64", "{in}"]),
        expect: &[Expect::Exit(0), Expect::Messages(Cmp::Eq(BOMBS as u64))],
    },
    Case {
        name: "deflate_bomb_unfinished_report",
        attack: "1,000 bombs whose message never finishes (fin=0), all open at the end",
        capture: Capture { name: "deflate_bomb_unfinished", build: deflate_bomb_unfinished },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: inflated(&["report", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(BOMBS as u64)),
            Expect::Json("/summary/incomplete_messages", Cmp::Eq(BOMBS as u64)),
        ],
    },
    Case {
        name: "deflate_bomb_unfinished_export",
        attack: "unfinished bombs through export: each connection holds an inflated message in progress",
        capture: Capture { name: "deflate_bomb_unfinished", build: deflate_bomb_unfinished },
        setup: Setup::Plain,
        args: &["export", "--max-payload", "64", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: inflated(&["export", "--max-payload", "64", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(BOMBS as u64)),
            Expect::MemoryBudgetFinding,
        ],
    },
    // 3. Declared lengths.
    Case {
        name: "declared_length_export",
        attack: "2,000 connections whose 14-byte frame header declares 1 MiB, then nothing",
        capture: Capture { name: "declared_length", build: declared_length },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(FANOUT as u64)),
            Expect::Incomplete(Cmp::Eq(FANOUT as u64)),
        ],
    },
    // 4. Findings flood.
    Case {
        name: "findings_flood_report",
        attack: "100 connections each with 1,000 unmasked client frames or invalid UTF-8 texts",
        capture: Capture { name: "findings_flood", build: findings_flood },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: true,
        max_rss_mib: 400,
        // A finding costs about ten valid frames in report (27 µs in a debug build), linearly:
        // 50 connections of 4,000 findings cost what 200 of 1,000 do.
        cpu: CpuBound { factor: 16.0, ..twin(FLOOD_TWIN, &["report", "{in}"]) },
        expect: &[
            Expect::Exit(1),
            Expect::Findings("client_frame_unmasked", Cmp::Eq(50_000)),
            Expect::Findings("text_not_utf8", Cmp::Eq(50_000)),
        ],
    },
    Case {
        name: "findings_flood_export",
        attack: "the findings flood through export: 100,000 finding lines",
        capture: Capture { name: "findings_flood", build: findings_flood },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: twin(FLOOD_TWIN, &["export", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Findings("client_frame_unmasked", Cmp::Eq(50_000)),
            Expect::Findings("text_not_utf8", Cmp::Eq(50_000)),
        ],
    },
    // 5. HTTP buffering.
    Case {
        name: "upgrade_unanswered_then_bulk",
        attack: "an upgrade request never answered, then 4 MB of random bytes from the client",
        capture: Capture {
            name: "upgrade_unanswered_then_bulk",
            build: upgrade_unanswered_then_bulk,
        },
        setup: Setup::Plain,
        args: &["report", "--fail-on", "never", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Json("/summary/upgraded", Cmp::Eq(0)),
        ],
    },
    Case {
        name: "response_then_bulk",
        attack: "a complete 101 and a complete 200 (no length) each followed by 4 MB of random bytes",
        capture: Capture { name: "response_then_bulk", build: response_then_bulk },
        setup: Setup::Plain,
        args: &["report", "--fail-on", "never", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Json("/summary/upgraded", Cmp::Eq(1)),
            Expect::Json("/summary/tcp_connections", Cmp::Eq(2)),
            Expect::Connections(Cmp::Eq(1)),
        ],
    },
    Case {
        name: "pipelined_requests",
        attack: "20,000 pipelined keep-alive requests and responses, then an upgrade",
        capture: Capture { name: "pipelined_requests", build: pipelined_requests },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: REPORT,
        expect: &[Expect::Exit(0), Expect::Connections(Cmp::Eq(1)), Expect::Messages(Cmp::Eq(2))],
    },
    // 6. A 64 GiB declared length with the limit raised to match.
    Case {
        name: "declared_64g_max_message_64g",
        attack: "--max-message-size 64G and a header declaring 64 GiB, then 4 MB of payload",
        capture: Capture { name: "declared_64g", build: declared_64g },
        setup: Setup::Plain,
        args: &["export", "--max-message-size", "64G", "--max-payload", "64", "{in}"],
        budget: false,
        max_rss_mib: 200,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Incomplete(Cmp::Eq(1)),
            Expect::Contains("\"length\":68719476736,\"captured_length\":4194304,"),
        ],
    },
    // 7. Evasion.
    Case {
        name: "rst_out_of_window",
        attack: "a RST 2^30 outside the window mid-session must not end the connection",
        capture: Capture { name: "rst_out_of_window", build: rst_out_of_window },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Finding("rst_out_of_window"),
            Expect::Contains("after-rst-4"),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Messages(Cmp::Eq(18)),
        ],
    },
    Case {
        name: "forged_syn",
        attack: "a SYN with a new ISN mid-session must not end the connection",
        capture: Capture { name: "forged_syn", build: forged_syn },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Finding("syn_on_open_connection"),
            Expect::Contains("after-syn-4"),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Messages(Cmp::Eq(18)),
        ],
    },
    Case {
        name: "overlapping_fragments",
        attack: "overlapping IPv4 fragments with different bytes (both orders, and a partial overlap), then a clean retransmission",
        capture: Capture { name: "overlapping_fragments", build: overlapping_fragments },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            // Linux's policy: a copy over bytes already held is ignored (the first copy is
            // what the receiver has: GOOD in connection 1, EVIL in 2), any other overlap
            // drops the datagram (connection 3 then gets GOOD from the retransmission).
            Expect::Contains("GOODGOODGOODGOOD"),
            Expect::Contains("EVILEVILEVILEVIL"),
            Expect::Json("/packets/undecoded/fragment_duplicate_differs", Cmp::Eq(2)),
            Expect::Json("/packets/undecoded/fragment_overlap", Cmp::Eq(1)),
            Expect::Json("/packets/dropped_datagrams", Cmp::Eq(1)),
            Expect::Messages(Cmp::Eq(3)),
            // Connection 2's clean retransmission differs from the EVIL the receiver kept.
            Expect::Findings("retransmission_conflict", Cmp::Eq(1)),
        ],
    },
    // 8. Sessions that vanished.
    Case {
        name: "malformed_upgrades",
        attack: "upgrades with 129 headers, a 70 KB header, bare CR, NUL, obs-fold, 0xFF in the path, `GET  /`",
        capture: Capture { name: "malformed_upgrades", build: malformed_upgrades },
        setup: Setup::Plain,
        args: &["report", "--fail-on", "never", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(7)),
            Expect::Findings("http_malformed", Cmp::AtLeast(7)),
            Expect::Messages(Cmp::Eq(14)),
        ],
    },
    Case {
        name: "request_lost",
        attack: "the upgrade request's packet is not in the capture; the 101 and frames are",
        capture: Capture { name: "request_lost", build: request_lost },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Finding("handshake_request_not_seen"),
            Expect::Messages(Cmp::Eq(4)),
        ],
    },
    Case {
        name: "starts_at_101",
        attack: "a capture whose first packet is the 101 response",
        capture: Capture { name: "starts_at_101", build: starts_at_101 },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Finding("handshake_request_not_seen"),
            Expect::Messages(Cmp::Eq(4)),
        ],
    },
    Case {
        name: "snaplen_cut",
        attack: "a session captured with snaplen 96: every segment's payload cut short",
        capture: Capture { name: "snaplen_cut", build: snaplen_cut },
        setup: Setup::Plain,
        args: &["report", "--fail-on", "never", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Json("/inputs/0/packets/snaplen_truncated", Cmp::AtLeast(10)),
            Expect::Mentions("snaplen"),
        ],
    },
    // 9. Idle.
    Case {
        name: "idle_deflate_11min",
        attack: "a context-takeover deflate session quiet for 11 minutes, then a message referring back",
        capture: Capture { name: "idle_deflate_11min", build: idle_deflate_11min },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Contains("before-the-pause"),
            Expect::Contains("after-the-pause"),
            Expect::NoFinding("inflate_missing_context"),
            Expect::NoFinding("close_not_answered"),
            Expect::Connections(Cmp::Eq(1)),
            Expect::Messages(Cmp::Eq(4)),
        ],
    },
    // 10. Terminal safety.
    Case {
        name: "terminal_text",
        attack: "escape sequences, bidi overrides, zero-width and C0/C1 controls in the file name, path, payloads, close reason",
        capture: Capture { name: "terminal", build: terminal },
        setup: Setup::HostileName,
        args: &["--text", "-v", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: TEXT_VIEW,
        expect: &[
            Expect::Exit(0),
            Expect::TerminalSafe,
            Expect::Contains("\\u{1b}]0;title\\u{7}\\u{1b}[2J"),
            Expect::Contains("\\u{202e}"),
            Expect::Contains("\\u{2066}"),
            Expect::Contains("\\u{200b}"),
            Expect::Contains("\\u{9b}"),
        ],
    },
    Case {
        name: "terminal_streams",
        attack: "the same capture through streams",
        capture: Capture { name: "terminal", build: terminal },
        setup: Setup::HostileName,
        args: &["streams", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: STREAMS,
        expect: &[Expect::Exit(0), Expect::TerminalSafe, Expect::Contains("\\u{1b}]0;title")],
    },
    // 11. File safety.
    Case {
        name: "report_output_is_input",
        attack: "report X.pcap -o X.pcap",
        capture: Capture { name: "small_session", build: small_session },
        setup: Setup::Plain,
        args: &["report", "{in}", "-o", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[Expect::Exit(2), Expect::InputIntact],
    },
    Case {
        name: "junit_is_input",
        attack: "report X.pcap --junit X.pcap --force",
        capture: Capture { name: "small_session", build: small_session },
        setup: Setup::Plain,
        args: &["report", "{in}", "--junit", "{in}", "--force"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[Expect::Exit(2), Expect::InputIntact],
    },
    Case {
        name: "write_dir_planted_symlink",
        attack: "streams --write-dir D --force where D holds a symlink named like its first output",
        capture: Capture { name: "small_session", build: small_session },
        setup: Setup::PlantedSymlink,
        args: &["streams", "{in}", "--write-dir", "{dir}", "--force"],
        budget: false,
        max_rss_mib: 100,
        cpu: STREAMS,
        expect: &[Expect::Exit(2), Expect::VictimIntact, Expect::InputIntact],
    },
    // 12. Secrets.
    Case {
        name: "secrets_report",
        attack: "Authorization, Cookie, Set-Cookie, a query token and a JWT subprotocol in report (redacted by default)",
        capture: Capture { name: "secrets", build: secrets },
        setup: Setup::Plain,
        args: &["report", "{in}", "-o", "{out}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: SECRETS_ABSENT,
    },
    Case {
        name: "secrets_export_redact",
        attack: "the same session through export --redact",
        capture: Capture { name: "secrets", build: secrets },
        setup: Setup::Plain,
        args: &["export", "--redact", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: EXPORT,
        expect: SECRETS_ABSENT,
    },
    Case {
        name: "secrets_export_plain",
        attack: "control: export without --redact shows every secret (the capture holds them)",
        capture: Capture { name: "secrets", build: secrets },
        setup: Setup::Plain,
        args: &["export", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: EXPORT,
        expect: &[
            Expect::Exit(0),
            Expect::Contains(SECRETS[0]),
            Expect::Contains(SECRETS[1]),
            Expect::Contains(SECRETS[2]),
            Expect::Contains(SECRETS[3]),
            Expect::Contains(SECRETS[4]),
        ],
    },
    // 13. A FIFO that never writes.
    Case {
        name: "fifo_sigterm",
        attack: "report on a FIFO that sends a capture and then nothing, stopped by SIGTERM",
        capture: Capture { name: "small_session", build: small_session },
        setup: Setup::FifoThenSigterm,
        args: &["report", "{in}", "-o", "{out}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[
            Expect::Exit(0),
            Expect::StopsWithinMs(2000),
            Expect::ReportWritten,
            Expect::Stopped("by SIGTERM"),
        ],
    },
    // 14. More.
    Case {
        name: "ping_flood",
        attack: "100,000 pings on one connection, none answered",
        capture: Capture { name: "ping_flood", build: ping_flood },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: twin(SMALL_FRAMES, &["report", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Json("/connections/0/messages/client_to_server/ping", Cmp::Eq(100_000)),
        ],
    },
    Case {
        name: "zero_length_continuations",
        attack: "one message of 100,000 zero-length continuation frames",
        capture: Capture { name: "zero_length_continuations", build: zero_length_continuations },
        setup: Setup::Plain,
        args: &["export", "--frames", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: twin(SMALL_FRAMES, &["export", "--frames", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Contains("\"fragments\":100002"),
            Expect::Contains("\"text\":\"ab\""),
        ],
    },
    Case {
        name: "reserved_bits_and_opcodes",
        attack: "every combination of RSV bits and every reserved opcode, from both sides",
        capture: Capture { name: "reserved_bits_and_opcodes", build: reserved_bits_and_opcodes },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: REPORT,
        expect: &[
            Expect::Exit(1),
            Expect::Finding("reserved_bits_set"),
            Expect::Finding("reserved_opcode"),
            Expect::Connections(Cmp::Eq(1)),
        ],
    },
    Case {
        name: "syn_flood",
        attack: "100,000 SYN-only connections with --max-connections 10000",
        capture: Capture { name: "syn_flood", build: syn_flood },
        setup: Setup::Plain,
        args: &["report", "--max-connections", "10000", "{in}"],
        budget: true,
        max_rss_mib: 400,
        cpu: twin(SHORT_CONNECTIONS, &["report", "--max-connections", "10000", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Json("/inputs/0/tcp/connections", Cmp::Eq(SYN_FLOOD as u64)),
            Expect::Json("/inputs/0/tcp/max_concurrent", Cmp::AtMost(10_000)),
        ],
    },
    Case {
        name: "fragments_65535",
        attack: "one text message in 65,535 one-byte fragments",
        capture: Capture { name: "fragments_65535", build: fragments_65535 },
        setup: Setup::Plain,
        args: &["report", "{in}"],
        budget: false,
        max_rss_mib: 100,
        cpu: twin(SMALL_FRAMES, &["report", "{in}"]),
        expect: &[
            Expect::Exit(0),
            Expect::Json("/connections/0/messages/client_to_server/fragmented", Cmp::Eq(1)),
            Expect::Json("/connections/0/messages/client_to_server/bytes", Cmp::Eq(65_535)),
        ],
    },
];

/// Credentials in the `secrets` capture.
pub const SECRETS: [&str; 5] = [
    "s3cr3t-bearer-XYZ",
    "c00kie-value-ABC",
    "query-t0ken-QRS",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXNlY3JldA",
    "setc00kie-DEF",
];

const SECRETS_ABSENT: &[Expect] = &[
    Expect::Exit(0),
    Expect::Connections(Cmp::Eq(1)),
    Expect::Lacks(SECRETS[0]),
    Expect::Lacks(SECRETS[1]),
    Expect::Lacks(SECRETS[2]),
    Expect::Lacks(SECRETS[3]),
    Expect::Lacks(SECRETS[4]),
];

/// The captures the cases use, each once, in case order.
pub fn captures() -> Vec<Capture> {
    let mut v: Vec<Capture> = Vec::new();
    for c in CASES.iter().flat_map(|c| [c.cpu.baseline, c.capture]) {
        if !v.iter().any(|x| x.name == c.name) {
            v.push(c);
        }
    }
    v
}

/// Builds a capture: the bytes of a classic pcap file.
pub fn build(c: Capture) -> Vec<u8> {
    let mut p = Pcap::new();
    (c.build)(&mut p);
    p.out
}

// ── pcap, Ethernet, IPv4, TCP ───────────────────────────────────────────────────────────────

const BASE_NS: u64 = 1_700_000_000 * 1_000_000_000;
const TICK_NS: u64 = 10_000;
const MSS: usize = 1400;
pub const SERVER_PORT: u16 = 8080;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// A classic pcap file being written (microsecond timestamps, Ethernet, snaplen 262144).
pub struct Pcap {
    pub out: Vec<u8>,
    clock_ns: u64,
    /// Records are cut to this many bytes (a capture taken with `-s N`).
    pub snaplen: Option<usize>,
    /// Packets are built but not written (lost by the capture).
    pub drop: bool,
    frame: Vec<u8>,
    rng: Rng,
}

impl Pcap {
    pub fn new() -> Pcap {
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&262_144u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        Pcap {
            out,
            clock_ns: BASE_NS,
            snaplen: None,
            drop: false,
            frame: Vec::new(),
            rng: Rng(0x5eed_1505_c0de_0013),
        }
    }

    /// Capture time passes.
    pub fn pause_ms(&mut self, ms: u64) {
        self.clock_ns += ms * 1_000_000;
    }

    fn record(&mut self) {
        if self.drop {
            return;
        }
        let len = self.frame.len();
        let cap = self.snaplen.map_or(len, |s| s.min(len));
        let ts = self.clock_ns;
        self.out.extend_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        self.out.extend_from_slice(&((ts % 1_000_000_000 / 1000) as u32).to_le_bytes());
        self.out.extend_from_slice(&(cap as u32).to_le_bytes());
        self.out.extend_from_slice(&(len as u32).to_le_bytes());
        self.out.extend_from_slice(&self.frame[..cap]);
        self.clock_ns += TICK_NS;
    }

    pub fn random(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v);
        v
    }
}

/// xorshift64*: deterministic bytes, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            c.copy_from_slice(&w[..c.len()]);
        }
    }
}

fn checksum(sum: u32, data: &[u8]) -> u32 {
    let mut s = sum;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        s += u32::from(*b) << 8;
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Appends an Ethernet + IPv4 header for an IP payload of `len` bytes.
fn ipv4_header(
    out: &mut Vec<u8>,
    from: usize,
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    frag: u16,
    len: usize,
) {
    let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
    out.extend_from_slice(&macs[1 - from]);
    out.extend_from_slice(&macs[from]);
    out.extend_from_slice(&[0x08, 0x00]);
    let start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&((20 + len) as u16).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&frag.to_be_bytes());
    out.extend_from_slice(&[64, 6, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    let c = fold(checksum(0, &out[start..start + 20]));
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

/// A TCP header and payload with its checksum (the IP payload).
fn tcp_segment(
    src: [u8; 4],
    dst: [u8; 4],
    ports: [u16; 2],
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    // A SYN carries MSS 1460 and window scale 7 (so the window below is 8 MiB).
    let opts: &[u8] = if flags & SYN != 0 { &[2, 4, 0x05, 0xb4, 1, 3, 3, 7] } else { &[] };
    let hlen = 20 + opts.len();
    let mut t = Vec::with_capacity(hlen + payload.len());
    t.extend_from_slice(&ports[0].to_be_bytes());
    t.extend_from_slice(&ports[1].to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push(((hlen / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(opts);
    t.extend_from_slice(payload);
    let mut s = checksum(0, &src);
    s = checksum(s, &dst);
    s += 6 + t.len() as u32;
    let c = fold(checksum(s, &t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;

/// One TCP connection: client `10.x.y.z:40000 + i % 20000`, server `10.0.0.2:8080`.
pub struct Conn {
    ip: [[u8; 4]; 2],
    ports: [u16; 2],
    /// The next sequence number each side sends.
    pub next: [u32; 2],
    ip_id: u16,
}

impl Conn {
    pub fn new(i: u32) -> Conn {
        let n = i + 1;
        Conn {
            ip: [[10, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8], [10, 0, 0, 2]],
            ports: [40_000 + (i % 20_000) as u16, SERVER_PORT],
            next: [
                0x1000_0000u32.wrapping_add(i.wrapping_mul(0x0001_0003)),
                0x7000_0000u32.wrapping_add(i.wrapping_mul(0x0002_0005)),
            ],
            ip_id: 1,
        }
    }

    /// A segment from `from` at `seq`, acknowledging everything the peer sent.
    pub fn raw(&mut self, p: &mut Pcap, from: usize, seq: u32, flags: u8, payload: &[u8]) {
        let ack = if flags & SYN != 0 && from == CLIENT { 0 } else { self.next[1 - from] };
        let flags = if flags & SYN != 0 && from == CLIENT { flags } else { flags | ACK };
        let (src, dst) = (self.ip[from], self.ip[1 - from]);
        let ports = [self.ports[from], self.ports[1 - from]];
        let seg = tcp_segment(src, dst, ports, seq, ack, flags, payload);
        self.ip_id = self.ip_id.wrapping_add(1);
        let mut frame = std::mem::take(&mut p.frame);
        frame.clear();
        ipv4_header(&mut frame, from, src, dst, self.ip_id, 0x4000, seg.len());
        frame.extend_from_slice(&seg);
        p.frame = frame;
        p.record();
    }

    /// The TCP handshake.
    pub fn open(&mut self, p: &mut Pcap) {
        let s = self.next[CLIENT];
        self.raw(p, CLIENT, s, SYN, &[]);
        self.next[CLIENT] = s.wrapping_add(1);
        let s = self.next[SERVER];
        self.raw(p, SERVER, s, SYN, &[]);
        self.next[SERVER] = s.wrapping_add(1);
        self.ack(p, CLIENT);
    }

    pub fn ack(&mut self, p: &mut Pcap, from: usize) {
        let s = self.next[from];
        self.raw(p, from, s, 0, &[]);
    }

    /// `bytes` from `from` in segments of at most `mss` bytes.
    pub fn write(&mut self, p: &mut Pcap, from: usize, bytes: &[u8], mss: usize) {
        for chunk in bytes.chunks(mss) {
            let s = self.next[from];
            self.raw(p, from, s, PSH, chunk);
            self.next[from] = s.wrapping_add(chunk.len() as u32);
        }
    }

    /// Writes in 1400-byte segments; the peer acknowledges.
    pub fn send(&mut self, p: &mut Pcap, from: usize, bytes: &[u8]) {
        self.write(p, from, bytes, MSS);
        self.ack(p, 1 - from);
    }

    /// FIN from both sides and the last ACK.
    pub fn close(&mut self, p: &mut Pcap) {
        for from in [CLIENT, SERVER] {
            let s = self.next[from];
            self.raw(p, from, s, FIN, &[]);
            self.next[from] = s.wrapping_add(1);
        }
        self.ack(p, CLIENT);
    }

    /// The closing handshake (close frames both ways), then FINs.
    pub fn ws_close(&mut self, p: &mut Pcap, reason: &str) {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.send(p, CLIENT, &frame(true, 0, CLOSE, Some(mask_for(1)), &payload));
        self.send(p, SERVER, &frame(true, 0, CLOSE, None, &payload));
        self.close(p);
    }

    /// An IP datagram from `from` carrying `seg` (a TCP segment), cut into fragments: each
    /// `(offset in 8-byte units, more fragments, bytes)`.
    fn fragments(&mut self, p: &mut Pcap, from: usize, id: u16, parts: &[(u16, bool, &[u8])]) {
        for &(off, more, bytes) in parts {
            let mut frame = std::mem::take(&mut p.frame);
            frame.clear();
            let frag = off | if more { 0x2000 } else { 0 };
            ipv4_header(&mut frame, from, self.ip[from], self.ip[1 - from], id, frag, bytes.len());
            frame.extend_from_slice(bytes);
            p.frame = frame;
            p.record();
        }
    }

    fn tcp_bytes(&self, from: usize, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let ports = [self.ports[from], self.ports[1 - from]];
        tcp_segment(
            self.ip[from],
            self.ip[1 - from],
            ports,
            seq,
            self.next[1 - from],
            flags | ACK,
            payload,
        )
    }
}

// ── WebSocket ───────────────────────────────────────────────────────────────────────────────

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
pub const CLOSE: u8 = 8;
pub const PING: u8 = 9;
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn mask_for(n: u32) -> [u8; 4] {
    (n.wrapping_mul(0x9E37_79B1) ^ 0x5A17_C3E5).to_be_bytes()
}

/// A frame header declaring `len` bytes, in the minimal encoding unless `long` (64-bit).
pub fn header(
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    long: bool,
) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | (rsv & 7) << 4 | (opcode & 15)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if long || len > 65535 {
        f.push(m | 127);
        f.extend_from_slice(&len.to_be_bytes());
    } else if len > 125 {
        f.push(m | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(m | len as u8);
    }
    if let Some(k) = mask {
        f.extend_from_slice(&k);
    }
    f
}

/// A whole frame, masked when `mask` is given.
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut f = header(fin, rsv, opcode, mask, payload.len() as u64, false);
    match mask {
        Some(k) => f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4])),
        None => f.extend_from_slice(payload),
    }
    f
}

fn accept() -> String {
    let mut sha = Sha1::new();
    sha.update(KEY.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn request(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://10.0.0.2\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn response(extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept()
    )
    .into_bytes()
}

const DEFLATE: &str = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

/// Request and 101, each acknowledged.
pub fn upgrade(p: &mut Pcap, c: &mut Conn, path: &str, req_extra: &str, resp_extra: &str) {
    c.send(p, CLIENT, &request(path, req_extra));
    c.send(p, SERVER, &response(resp_extra));
}

/// A message compressed with a per-direction deflater kept across messages (context
/// takeover), the `00 00 ff ff` tail removed (RFC 7692 §7.2.1).
pub fn deflate(z: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        out.reserve(4096);
        let before = z.total_in();
        z.compress_vec(input, &mut out, FlushCompress::Sync).expect("deflate");
        input = &input[(z.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn deflater() -> Compress {
    Compress::new(Compression::best(), false)
}

// ── The captures ─────────────────────────────────────────────────────────────────────────────

/// A normal session of about 6 MB: 128 binary messages of 16 KiB each way, and 10,240 small
/// JSON texts from the server, each in its own segment and acknowledged.
fn benign(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/benign", "", "");
    for i in 0..128u32 {
        let data = p.random(16 << 10);
        c.send(p, CLIENT, &frame(true, 0, BINARY, Some(mask_for(i)), &data));
        let data = p.random(16 << 10);
        c.send(p, SERVER, &frame(true, 0, BINARY, None, &data));
        for j in 0..80u32 {
            let t =
                format!("{{\"seq\":{i},\"item\":{j},\"status\":\"ok\",\"price\":{}.25}}", i * j);
            c.send(p, SERVER, &frame(true, 0, TEXT, None, t.as_bytes()));
        }
    }
    c.ws_close(p, "bye");
}

fn midstream_random(p: &mut Pcap, total: usize, mss: usize) {
    let mut c = Conn::new(0);
    let data = p.random(total);
    c.write(p, SERVER, &data, mss);
}

fn midstream_random_1400(p: &mut Pcap) {
    midstream_random(p, 4 << 20, 1400);
}

fn midstream_random_1byte(p: &mut Pcap) {
    midstream_random(p, 200_000, 1);
}

/// Every connection upgrades with permessage-deflate first, then each server sends one bomb,
/// then (if `finish`) every connection closes; all are open at once.
fn bombs(p: &mut Pcap, finish: bool) {
    bombs_n(p, finish, BOMBS);
}

/// `n` connections open at once, each a 1 KB permessage-deflate frame inflating to 1 MiB,
/// finished (then closed) or not (the memory benchmark scales this).
pub fn bombs_n(p: &mut Pcap, finish: bool, n: u32) {
    let mut z = deflater();
    let bomb = deflate(&mut z, &vec![0u8; BOMB_INFLATED]);
    assert!(bomb.len() < 1100, "{}", bomb.len());
    let f = frame(finish, 4, BINARY, None, &bomb);
    let mut conns: Vec<Conn> = (0..n).map(Conn::new).collect();
    for c in &mut conns {
        c.open(p);
        upgrade(p, c, "/bomb", DEFLATE, DEFLATE);
    }
    for c in &mut conns {
        c.send(p, SERVER, &f);
    }
    if finish {
        for c in &mut conns {
            c.close(p);
        }
    }
}

fn deflate_bomb(p: &mut Pcap) {
    bombs(p, true);
}

fn deflate_bomb_unfinished(p: &mut Pcap) {
    bombs(p, false);
}

/// 2,000 connections each sending a client frame header (14 bytes: 64-bit length, mask)
/// declaring 1 MiB, and nothing more.
fn declared_length(p: &mut Pcap) {
    declared_length_n(p, FANOUT);
}

/// `n` connections each sending a 14-byte frame header declaring 1 MiB, and nothing more.
pub fn declared_length_n(p: &mut Pcap, n: u32) {
    let mut conns: Vec<Conn> = (0..n).map(Conn::new).collect();
    for c in &mut conns {
        c.open(p);
        upgrade(p, c, "/declared", "", "");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let h = header(true, 0, BINARY, Some(mask_for(i as u32)), 1 << 20, true);
        assert_eq!(h.len(), 14);
        c.send(p, CLIENT, &h);
    }
}

/// 100 connections; the even ones send 1,000 unmasked client frames, the odd ones 1,000 masked
/// text frames that are not UTF-8.
fn findings_flood(p: &mut Pcap) {
    findings_flood_n(p, 100);
}

/// `n` connections; the even ones send 1,000 unmasked client frames, the odd ones 1,000 masked
/// text frames that are not UTF-8.
pub fn findings_flood_n(p: &mut Pcap, n: u32) {
    for i in 0..n {
        let mut c = Conn::new(i);
        c.open(p);
        upgrade(p, &mut c, "/flood", "", "");
        let mut bytes = Vec::new();
        for j in 0..1000u32 {
            if i % 2 == 0 {
                bytes.extend(frame(true, 0, BINARY, None, b"x"));
            } else {
                bytes.extend(frame(true, 0, TEXT, Some(mask_for(j)), b"\xff\xfe"));
            }
        }
        c.send(p, CLIENT, &bytes);
        c.close(p);
    }
}

fn findings_flood_twin(p: &mut Pcap) {
    for i in 0..100u32 {
        let mut c = Conn::new(i);
        c.open(p);
        upgrade(p, &mut c, "/flood", "", "");
        let mut bytes = Vec::new();
        for j in 0..1000u32 {
            if i % 2 == 0 {
                bytes.extend(frame(true, 0, BINARY, Some(mask_for(j)), b"x"));
            } else {
                bytes.extend(frame(true, 0, TEXT, Some(mask_for(j)), b"ok"));
            }
        }
        c.send(p, CLIENT, &bytes);
        c.close(p);
    }
}

fn small_frames(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/small-frames", "", "");
    let mut bytes = Vec::new();
    for i in 0..100_000u32 {
        bytes.extend(frame(true, 0, TEXT, Some(mask_for(i)), b"m"));
    }
    c.send(p, CLIENT, &bytes);
    c.ws_close(p, "bye");
}

fn upgrade_unanswered_then_bulk(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    c.send(p, CLIENT, &request("/unanswered", ""));
    let data = p.random(4 << 20);
    c.send(p, CLIENT, &data);
    c.close(p);
}

fn response_then_bulk(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/bulk", "", "");
    let data = p.random(4 << 20);
    c.send(p, SERVER, &data);
    c.close(p);
    let mut c = Conn::new(1);
    c.open(p);
    c.send(p, CLIENT, b"GET /download HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n\r\n");
    c.send(
        p,
        SERVER,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
    );
    let data = p.random(4 << 20);
    c.send(p, SERVER, &data);
    c.close(p);
}

fn pipelined_requests(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 0..20_000 {
        reqs.extend_from_slice(
            format!("GET /item/{i} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n\r\n").as_bytes(),
        );
        resps.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    reqs.extend(request("/after-pipeline", ""));
    resps.extend(response(""));
    c.send(p, CLIENT, &reqs);
    c.send(p, SERVER, &resps);
    c.send(p, CLIENT, &frame(true, 0, TEXT, Some(mask_for(1)), b"hello after the pipeline"));
    c.send(p, SERVER, &frame(true, 0, TEXT, None, b"hello back"));
    c.close(p);
}

fn declared_64g(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/64g", "", "");
    let k = mask_for(7);
    let mut bytes = header(true, 0, BINARY, Some(k), 64 << 30, true);
    bytes.extend(p.random(4 << 20));
    c.send(p, CLIENT, &bytes);
}

/// Four texts each way, a forgery from `forge`, four more each way, the closing handshake.
fn evasion(p: &mut Pcap, tag: &str, forge: fn(&mut Pcap, &mut Conn)) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/evasion", "", "");
    for i in 1..=4u32 {
        c.send(
            p,
            CLIENT,
            &frame(true, 0, TEXT, Some(mask_for(i)), format!("before-{tag}-{i}").as_bytes()),
        );
        c.send(p, SERVER, &frame(true, 0, TEXT, None, format!("echo before-{tag}-{i}").as_bytes()));
    }
    forge(p, &mut c);
    for i in 1..=4u32 {
        c.send(
            p,
            CLIENT,
            &frame(true, 0, TEXT, Some(mask_for(i + 4)), format!("after-{tag}-{i}").as_bytes()),
        );
        c.send(p, SERVER, &frame(true, 0, TEXT, None, format!("echo after-{tag}-{i}").as_bytes()));
    }
    c.ws_close(p, "done");
}

fn rst_out_of_window(p: &mut Pcap) {
    evasion(p, "rst", |p, c| {
        // The server "resets" with a sequence number 2^30 beyond what it sent.
        let s = c.next[SERVER].wrapping_add(1 << 30);
        c.raw(p, SERVER, s, RST, &[]);
    });
}

fn forged_syn(p: &mut Pcap) {
    evasion(p, "syn", |p, c| {
        // A SYN on the same 4-tuple with a new ISN; the server never answers it.
        let isn = c.next[CLIENT].wrapping_add(0x3000_0000);
        c.raw(p, CLIENT, isn, SYN, &[]);
    });
}

/// Two connections, each sending one masked text `GOODGOODGOODGOOD` as an IPv4 datagram in
/// two fragments plus a tail fragment with the same offset carrying `EVILEVILEVILEVIL`: the
/// first connection sends the good tail first, the second the evil one. The head fragment
/// comes last, completing both. Then each retransmits the segment whole, as a sender whose
/// datagram was dropped does, and closes.
fn overlapping_fragments(p: &mut Pcap) {
    // 0: the good copy of the tail first, then an evil one over exactly its bytes; 1: the evil
    // copy first; 2: an evil fragment overlapping two good ones partially.
    for i in 0u32..3 {
        let mut c = Conn::new(i);
        c.open(p);
        upgrade(p, &mut c, "/fragments", "", "");
        let k = mask_for(99);
        let good = frame(true, 0, TEXT, Some(k), b"GOODGOODGOODGOOD");
        let evil = frame(true, 0, TEXT, Some(k), b"EVILEVILEVILEVIL");
        let seq = c.next[CLIENT];
        let tg = c.tcp_bytes(CLIENT, seq, PSH, &good);
        let te = c.tcp_bytes(CLIENT, seq, PSH, &evil);
        assert_eq!(tg.len(), 42);
        let id = 0x7700 + i as u16;
        // (offset in 8-byte units, more fragments, bytes)
        let frags: [(u16, bool, &[u8]); 3] = match i {
            0 => [(3, false, &tg[24..]), (3, false, &te[24..]), (0, true, &tg[..24])],
            1 => [(3, false, &te[24..]), (3, false, &tg[24..]), (0, true, &tg[..24])],
            _ => [(2, false, &tg[16..]), (1, true, &te[8..32]), (0, true, &tg[..16])],
        };
        c.fragments(p, CLIENT, id, &frags);
        p.pause_ms(200);
        c.raw(p, CLIENT, seq, PSH, &good);
        c.next[CLIENT] = seq.wrapping_add(good.len() as u32);
        c.ack(p, SERVER);
        c.close(p);
    }
}

/// Seven upgrades a strict parser refuses, each answered by a valid 101 and followed by one
/// message each way.
fn malformed_upgrades(p: &mut Pcap) {
    let many: String = (0..129).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long = format!("X-Long: {}\r\n", "a".repeat(70_000));
    let variants: [(&[u8], String); 7] = [
        (b"GET /many HTTP/1.1", many),
        (b"GET /long HTTP/1.1", long),
        (b"GET /cr HTTP/1.1", "X-Cr: a\rb\r\n".into()),
        (b"GET /nul HTTP/1.1", "X-Nul: a\0b\r\n".into()),
        (b"GET /fold HTTP/1.1", "X-Fold: a\r\n  folded\r\n".into()),
        (b"GET /\xff\xfe HTTP/1.1", String::new()),
        (b"GET  /two-spaces HTTP/1.1", String::new()),
    ];
    for (i, (line, extra)) in variants.iter().enumerate() {
        let mut c = Conn::new(i as u32);
        c.open(p);
        let mut req = line.to_vec();
        req.extend_from_slice(b"\r\n");
        let rest = request("/", extra);
        let at = rest.iter().position(|&b| b == b'\n').expect("request line") + 1;
        req.extend_from_slice(&rest[at..]);
        c.send(p, CLIENT, &req);
        c.send(p, SERVER, &response(""));
        c.send(p, SERVER, &frame(true, 0, TEXT, None, format!("hello-{i}").as_bytes()));
        c.send(p, CLIENT, &frame(true, 0, TEXT, Some(mask_for(1)), format!("hi-{i}").as_bytes()));
        c.close(p);
    }
}

/// The messages after a 101 in `request_lost` and `starts_at_101`.
fn after_101(p: &mut Pcap, c: &mut Conn) {
    c.send(p, SERVER, &frame(true, 0, TEXT, None, b"welcome"));
    c.send(p, CLIENT, &frame(true, 0, TEXT, Some(mask_for(1)), b"hello"));
    c.ws_close(p, "bye");
}

fn request_lost(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    p.drop = true;
    c.write(p, CLIENT, &request("/lost", ""), MSS);
    p.drop = false;
    c.ack(p, SERVER);
    c.send(p, SERVER, &response(""));
    after_101(p, &mut c);
}

fn starts_at_101(p: &mut Pcap) {
    let mut c = Conn::new(0);
    p.drop = true;
    c.open(p);
    c.send(p, CLIENT, &request("/late", ""));
    p.drop = false;
    c.send(p, SERVER, &response(""));
    after_101(p, &mut c);
}

/// A session of 20 messages of 1,000 bytes each way, every record cut to 96 bytes.
fn snaplen_cut(p: &mut Pcap) {
    p.snaplen = Some(96);
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/snaplen", "", "");
    for i in 0..20u32 {
        let t = format!("{i:04}-{}", "s".repeat(995));
        c.send(p, CLIENT, &frame(true, 0, TEXT, Some(mask_for(i)), t.as_bytes()));
        c.send(p, SERVER, &frame(true, 0, TEXT, None, t.as_bytes()));
    }
    c.ws_close(p, "bye");
}

/// Server messages compressed with context takeover; 11 minutes of silence; a second message
/// whose compressed form refers back to the first (it repeats it).
fn idle_deflate_11min(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/idle", DEFLATE, DEFLATE);
    let mut z = deflater();
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
    let mut body = String::new();
    for i in 0..300usize {
        body.push_str(words[(i * 7 + i / 3) % words.len()]);
        body.push(' ');
    }
    let first = format!("before-the-pause {body}");
    let m = deflate(&mut z, first.as_bytes());
    c.send(p, SERVER, &frame(true, 4, TEXT, None, &m));
    p.pause_ms(11 * 60 * 1000);
    let second = format!("after-the-pause {body}");
    let m = deflate(&mut z, second.as_bytes());
    assert!(m.len() < 100, "the second message must refer back to the first: {}", m.len());
    c.send(p, SERVER, &frame(true, 4, TEXT, None, &m));
    c.ws_close(p, "bye");
}

/// Payloads, a path and a close reason holding escape sequences, bidi controls, zero-width
/// characters and C0/C1 controls.
fn terminal(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/\u{202e}gpj.exe\u{2066}", "X-Note: \u{200b}\x1b[31mred\r\n", "");
    let texts = [
        "\x1b]0;title\x07\x1b[2J cleared?",
        "abc\u{202e}fed\u{2066}isolate\u{2069}\u{200b}zero\u{feff}bom",
        "c1: \u{9b}31m \u{85} \u{90}dcs\u{9c} del:\x7f bell:\x07 bs:\x08",
    ];
    for (i, t) in texts.iter().enumerate() {
        c.send(p, CLIENT, &frame(true, 0, TEXT, Some(mask_for(i as u32)), t.as_bytes()));
        c.send(p, SERVER, &frame(true, 0, TEXT, None, t.as_bytes()));
    }
    c.send(p, SERVER, &frame(true, 0, BINARY, None, b"\x1b[2J\x9b\x07"));
    c.ws_close(p, "\u{202e}eyb\x1b[0m\u{9b}");
}

fn small_session(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/small", "", "");
    after_101(p, &mut c);
}

fn secrets(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    let req = format!(
        "Authorization: Bearer {}\r\nCookie: sid={}\r\nSec-WebSocket-Protocol: v1, {}\r\n",
        SECRETS[0], SECRETS[1], SECRETS[3]
    );
    let resp =
        format!("Set-Cookie: session={}; HttpOnly\r\nSec-WebSocket-Protocol: v1\r\n", SECRETS[4]);
    upgrade(p, &mut c, &format!("/ws?room=7&token={}", SECRETS[2]), &req, &resp);
    after_101(p, &mut c);
}

fn ping_flood(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/pings", "", "");
    let mut bytes = Vec::new();
    for i in 0..100_000u32 {
        bytes.extend(frame(true, 0, PING, Some(mask_for(i)), &i.to_be_bytes()));
    }
    c.send(p, CLIENT, &bytes);
    c.close(p);
}

fn zero_length_continuations(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/zero", "", "");
    let mut bytes = frame(false, 0, TEXT, Some(mask_for(0)), b"a");
    for i in 0..100_000u32 {
        bytes.extend(frame(false, 0, 0, Some(mask_for(i)), b""));
    }
    bytes.extend(frame(true, 0, 0, Some(mask_for(1)), b"b"));
    c.send(p, CLIENT, &bytes);
    c.ws_close(p, "bye");
}

fn reserved_bits_and_opcodes(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/reserved", "", "");
    for rsv in 1..8u8 {
        c.send(p, CLIENT, &frame(true, rsv, TEXT, Some(mask_for(u32::from(rsv))), b"rsv"));
        c.send(p, SERVER, &frame(true, rsv, BINARY, None, b"rsv"));
    }
    for op in (3..8u8).chain(11..16) {
        c.send(p, CLIENT, &frame(true, 7, op, Some(mask_for(u32::from(op))), b"op"));
        c.send(p, SERVER, &frame(true, 0, op, None, b"op"));
    }
    c.send(p, SERVER, &frame(true, 0, TEXT, None, b"still here"));
    c.ws_close(p, "bye");
}

fn short_connections(p: &mut Pcap) {
    for i in 0..10_000u32 {
        let mut c = Conn::new(i);
        c.open(p);
        c.send(p, CLIENT, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(p, SERVER, b"HTTP/1.1 204 No Content\r\n\r\n");
        c.close(p);
    }
}

fn syn_flood(p: &mut Pcap) {
    for i in 0..SYN_FLOOD {
        let mut c = Conn::new(i);
        let s = c.next[CLIENT];
        c.raw(p, CLIENT, s, SYN, &[]);
    }
}

fn fragments_65535(p: &mut Pcap) {
    let mut c = Conn::new(0);
    c.open(p);
    upgrade(p, &mut c, "/fragments", "", "");
    let mut bytes = Vec::new();
    for i in 0..65_535u32 {
        let (fin, op) = (i == 65_534, if i == 0 { TEXT } else { 0 });
        bytes.extend(frame(fin, 0, op, Some(mask_for(i)), b"f"));
    }
    c.send(p, CLIENT, &bytes);
    c.ws_close(p, "bye");
}
