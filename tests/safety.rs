//! Hostile and unusual input (issue 13): what reaches a terminal is escaped, outputs never
//! write over inputs or through links, signals end a run with everything flushed.

use crate::util::{testdata, write_session_pcap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wsscope::tcp::Direction;
use wsscope::ws::encode::frame;

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ── Terminal safety ─────────────────────────────────────────────────────────────────────────

/// OSC 0 (set the window title) ended by BEL, CSI 2J (clear the screen), a right-to-left override.
const HOSTILE_NAME: &str = "x\x1b]0;PWNED\x07\x1b[2J\u{202e}lmth.pcap";
const HOSTILE_SHOWN: &str = "x\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{202e}lmth.pcap";

/// Fails when `out` holds a byte or character a terminal would act on or hide.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    let s = text(out);
    let bad: Vec<String> = s
        .chars()
        .filter(|&c| c != '\n' && wsscope::term::needs_escape(c))
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(bad.is_empty(), "{what} holds {bad:?}:\n{s}");
}

fn hostile_copy(dir: &Path, capture: &str) -> PathBuf {
    let p = dir.join(HOSTILE_NAME);
    std::fs::copy(testdata(capture), &p).unwrap();
    p
}

#[test]
fn a_file_name_holding_terminal_sequences_is_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let p = hostile_copy(dir.path(), "captures/real/py-basic.pcap");
    let p = p.to_str().unwrap();
    for args in [vec!["--text", p], vec!["export", "--format", "text", p], vec!["streams", p]] {
        let o = wsscope(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert_terminal_safe(&format!("{args:?} stdout"), &o.stdout);
        assert_terminal_safe(&format!("{args:?} stderr"), &o.stderr);
        assert!(text(&o.stdout).contains(HOSTILE_SHOWN), "{args:?}: {}", text(&o.stdout));
    }
    // JSON keeps the exact name.
    let o = wsscope(&["streams", "--format", "json", p]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["input"], p);
}

#[test]
fn errors_and_notices_quoting_a_hostile_name_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // A notice: a capture without WebSocket says why, naming the file.
    let p = hostile_copy(dir.path(), "captures/cases/not_ws_443.pcap");
    let o = wsscope(&["report", p.to_str().unwrap()]);
    assert!(text(&o.stderr).contains("no WebSocket connection"), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(HOSTILE_SHOWN), "{}", text(&o.stderr));
    assert_terminal_safe("notice", &o.stderr);
    // Errors: a missing file, a file that is not a capture, a bad filter, an unknown interface.
    let missing = dir.path().join(format!("missing-{HOSTILE_NAME}"));
    let not_capture = dir.path().join(format!("text-{HOSTILE_NAME}"));
    std::fs::write(&not_capture, "hello, this is text\n").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["streams", missing.to_str().unwrap()],
        vec!["streams", not_capture.to_str().unwrap()],
        vec!["streams", p.to_str().unwrap(), "-f", "tcp port \x1b[2J\u{2066}"],
        vec!["streams", "-i", "lo\x1b]0;x\x07\u{200b}"],
        vec!["report", p.to_str().unwrap(), "--bogus\u{202e}"],
    ];
    for args in cases {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
        assert_terminal_safe(&format!("{args:?}"), &o.stderr);
    }
}

#[test]
fn hostile_paths_headers_payloads_and_close_reasons_are_escaped_in_the_text_view() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("hostile.pcap");
    let request = "GET /inbox\u{202e}fdp.exe?\u{200b}x=1 HTTP/1.1\r\nHost: ex\u{2066}ample.com\r\n\
                   Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \
                   dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://e\u{feff}\
                   \r\nSec-WebSocket-Protocol: chat\u{2028}v2\r\n\r\n";
    let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                    Sec-WebSocket-Protocol: chat\u{2028}v2\r\n\r\n";
    let mask = Some([1, 2, 3, 4]);
    let payload = "hi \x1b]0;owned\x07\x1b[2J \u{202e}dlrow\u{202c} a\u{200d}b\u{ad}c \u{9b}31m";
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice("bye\u{2067}\x1b[5m".as_bytes());
    write_session_pcap(
        &pcap,
        &[
            (Direction::ClientToServer, request.as_bytes().to_vec()),
            (Direction::ServerToClient, response.as_bytes().to_vec()),
            (Direction::ClientToServer, frame(true, 0, 1, mask, payload.as_bytes())),
            (Direction::ServerToClient, frame(true, 0, 1, None, payload.as_bytes())),
            (Direction::ClientToServer, frame(true, 0, 8, mask, &close)),
            (Direction::ServerToClient, frame(true, 0, 8, None, &close)),
        ],
    );
    for verbose in [false, true] {
        let mut args = vec!["--text", pcap.to_str().unwrap()];
        if verbose {
            args.push("-v");
        }
        let o = wsscope(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_terminal_safe("text view", &o.stdout);
        let out = text(&o.stdout);
        for shown in [
            "/inbox\\u{202e}fdp.exe?\\u{200b}x=1",
            "host=ex\\u{2066}ample.com",
            "protocol=chat\\u{2028}v2",
            "hi \\u{1b}]0;owned\\u{7}\\u{1b}[2J \\u{202e}dlrow\\u{202c} a\\u{200d}b\\u{ad}c \\u{9b}31m",
            "(normal closure) \"bye\\u{2067}\\u{1b}[5m\"",
        ] {
            assert!(out.contains(shown), "missing {shown:?} in:\n{out}");
        }
    }
    // NDJSON keeps exact strings.
    let o = wsscope(&["export", pcap.to_str().unwrap()]);
    let messages: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "message" && v["opcode"] == "text")
        .collect();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["payload"]["text"], payload);
}

// ── File safety ─────────────────────────────────────────────────────────────────────────────

fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// A tempdir holding `x.pcap` (a real capture); returns (dir, path, its bytes).
fn with_capture() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pcap");
    std::fs::copy(testdata("captures/real/py-basic.pcap"), &p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    (dir, p, bytes)
}

#[test]
fn outputs_never_write_over_an_input_by_any_name() {
    let (dir, input, bytes) = with_capture();
    let hard = dir.path().join("hard.pcap");
    std::fs::hard_link(&input, &hard).unwrap();
    let i = input.to_str().unwrap();
    let dotted = format!("{}/./x.pcap", dir.path().display());
    let h = hard.to_str().unwrap();
    for out in [i, dotted.as_str(), h] {
        for force in [false, true] {
            for (cmd, flag) in [("report", "-o"), ("report", "--junit"), ("streams", "-w")] {
                let mut args = vec![cmd, i, flag, out];
                if force {
                    args.push("--force");
                }
                let o = wsscope(&args);
                assert_eq!(o.status.code(), Some(2), "{args:?}");
                assert!(stderr(&o).contains("never writes over its input"), "{}", stderr(&o));
                assert_eq!(std::fs::read(&input).unwrap(), bytes, "{args:?} changed the input");
            }
        }
    }
    // The key log and the policy file are inputs too (helper-52: `--keylog k.keys --junit
    // k.keys --force` replaced the key log with XML), the key log also when named by
    // SSLKEYLOGFILE.
    let keys = dir.path().join("k.keys");
    std::fs::copy(testdata("captures/tls/py-tls13.keys"), &keys).unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "fail-on = \"error\"\n").unwrap();
    let (k, p) = (keys.to_str().unwrap(), policy.to_str().unwrap());
    let kept = |path: &PathBuf| std::fs::read(path).unwrap();
    let (key_bytes, policy_bytes) = (kept(&keys), kept(&policy));
    for args in [
        vec!["report", i, "--keylog", k, "--junit", k, "--force"],
        vec!["report", i, "--keylog", k, "-o", k, "--force"],
        vec!["report", i, "--policy", p, "-o", p, "--force"],
        vec!["report", i, "--policy", p, "--junit", p, "--force"],
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("never writes over its input"), "{}", stderr(&o));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", i, "-o", k, "--force"])
        .env("SSLKEYLOGFILE", k)
        .output()
        .unwrap();
    assert!(stderr(&o).contains("the file of SSLKEYLOGFILE"), "{}", stderr(&o));
    assert_eq!((kept(&keys), kept(&policy)), (key_bytes, policy_bytes));
    // Standard input redirected from the file is the same file.
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", "-", "-o", i, "--force"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("that is standard input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&input).unwrap(), bytes);
}

#[test]
fn an_existing_output_is_refused_unless_force_then_replaced_whole() {
    let (dir, input, _) = with_capture();
    let i = input.to_str().unwrap();
    for flag in ["-o", "--junit", "-w"] {
        let out = dir.path().join(format!("out{flag}"));
        std::fs::write(&out, "old").unwrap();
        let o = wsscope(&["report", i, flag, out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(stderr(&o).contains("the file exists; add --force"), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
        let o = wsscope(&["report", i, flag, out.to_str().unwrap(), "--force"]);
        assert_eq!(o.status.code(), Some(0), "{flag}: {}", stderr(&o));
        let new = std::fs::read(&out).unwrap();
        match flag {
            "-o" => assert!(new.starts_with(b"{\n  \"schema_version\""), "{flag}"),
            "--junit" => assert!(new.starts_with(b"<?xml"), "{flag}"),
            // A microsecond pcap, as the input is.
            _ => assert_eq!(new[..4], [0xd4, 0xc3, 0xb2, 0xa1], "-w: a pcap file"),
        }
    }
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("wsscope-tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_planted_symlink_is_never_written_through() {
    let (dir, input, _) = with_capture();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let i = input.to_str().unwrap();
    for flag in ["-o", "--junit", "-w"] {
        for force in [false, true] {
            let mut args = vec!["report", i, flag, link.to_str().unwrap()];
            if force {
                args.push("--force");
            }
            let o = wsscope(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}");
            assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
        }
    }
    // streams --write-dir: a link planted where a connection's bytes would go.
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::os::unix::fs::symlink(&victim, d.join("conn-1-client_to_server.bin")).unwrap();
    let o = wsscope(&["streams", i, "--write-dir", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds conn-1-client_to_server.bin already"), "{}", stderr(&o));
    let o = wsscope(&["streams", i, "--write-dir", d.to_str().unwrap(), "--force"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn write_dir_refuses_an_earlier_run_unless_force() {
    let (dir, input, _) = with_capture();
    let i = input.to_str().unwrap();
    let d = dir.path().join("d");
    let run = |force: bool| {
        let mut args = vec!["streams", i, "--write-dir", d.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        wsscope(&args)
    };
    assert!(run(false).status.success());
    let first = std::fs::read(d.join("conn-1-client_to_server.bin")).unwrap();
    std::fs::write(d.join("conn-1-server_to_client.bin"), "stale").unwrap();
    let o = run(false);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("an earlier run?"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.join("conn-1-server_to_client.bin")).unwrap(), "stale");
    let o = run(true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("conn-1-client_to_server.bin")).unwrap(), first);
    assert_ne!(std::fs::read(d.join("conn-1-server_to_client.bin")).unwrap(), b"stale");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2, "no temporary file left");
}

#[test]
fn two_outputs_cannot_be_one_file_and_a_failed_run_leaves_no_output() {
    let (dir, input, _) = with_capture();
    let i = input.to_str().unwrap();
    let out = dir.path().join("out");
    let o = wsscope(&["report", i, "-o", out.to_str().unwrap(), "--junit", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give each output its own name"), "{}", stderr(&o));
    let o = wsscope(&["report", i, "-o", out.to_str().unwrap(), "-w", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give each output its own name"), "{}", stderr(&o));
    assert!(!out.exists());
    // The report's files are created first; a run that then fails removes them.
    let missing = dir.path().join("missing.pcap");
    let junit = dir.path().join("junit.xml");
    let o = wsscope(&[
        "report",
        missing.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists() && !junit.exists());
}

// ── Signals ─────────────────────────────────────────────────────────────────────────────────

use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// The FIFO's other end, held open as a writer that writes only what the test says (O_RDWR
/// opens a FIFO without waiting for a reader).
fn fifo_writer(p: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().read(true).write(true).open(p).unwrap()
}

/// wsscope, to be signalled: with SIGHUP at its default action whatever this test process
/// inherited (under `nohup`, SIGHUP is ignored, and wsscope rightly leaves an ignored SIGHUP
/// ignored, as nohup asks).
fn signalled_wsscope() -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    // SAFETY: signal(2) is async-signal-safe; only the child's disposition changes.
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        });
    }
    c
}

/// Waits (at most 5 s) until `pid` handles SIGHUP, SIGINT and SIGTERM.
fn wait_for_handlers(pid: u32) {
    let start = Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        if caught & 0x4003 == 0x4003 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no signal handlers: {status}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) with the pid of our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// Waits at most `limit` for the child to exit.
fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn read_all(r: Option<impl std::io::Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        r.read_to_string(&mut s).unwrap();
    }
    s
}

#[test]
fn a_fifo_that_never_writes_ends_on_sigint_sigterm_and_sighup() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    for (sig, name) in
        [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")]
    {
        let fifo = dir.path().join(format!("fifo-{name}"));
        mkfifo(&fifo);
        let _writer = fifo_writer(&fifo);
        let mut child = signalled_wsscope()
            .args(["--text", fifo.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_handlers(child.id());
        std::thread::sleep(Duration::from_millis(200)); // blocked reading the file header
        let sent = Instant::now();
        signal(&child, sig);
        let status = exit_within(&mut child, Duration::from_secs(2));
        let Some(status) = status else {
            let _ = child.kill();
            panic!("{name}: still running 2 s after the signal");
        };
        let (out, err) = (read_all(child.stdout.take()), read_all(child.stderr.take()));
        assert_eq!(
            status.code(),
            Some(0),
            "{name}: {status:?} (signal {:?}) {err}",
            status.signal()
        );
        assert!(sent.elapsed() < Duration::from_secs(2));
        // Flushed: the header and the summary of an input with no packets.
        assert!(out.contains(&format!("── {}: 0 packets", fifo.display())), "{name}: {out}");
        assert!(err.contains(&format!("stopped by {name}")), "{name}: {err}");
    }
}

#[test]
fn report_on_a_fifo_stopped_by_sigterm_still_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    mkfifo(&fifo);
    let mut writer = fifo_writer(&fifo);
    // A whole capture, then silence with the writer still there.
    std::io::Write::write_all(
        &mut writer,
        &std::fs::read(testdata("captures/real/py-basic.pcap")).unwrap(),
    )
    .unwrap();
    let (out, junit) = (dir.path().join("report.json"), dir.path().join("junit.xml"));
    let mut child = signalled_wsscope()
        .args(["report", fifo.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .args(["--junit", junit.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_handlers(child.id());
    // Wait (at most 5 s) until wsscope has taken every byte out of the FIFO, then a little.
    let start = Instant::now();
    loop {
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD on our open FIFO fd with a valid out-pointer.
        unsafe {
            libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&writer), libc::FIONREAD, &mut pending)
        };
        if pending == 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the FIFO was not read");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let Some(status) = exit_within(&mut child, Duration::from_secs(2)) else {
        let _ = child.kill();
        panic!("still running 2 s after SIGTERM");
    };
    let err = read_all(child.stderr.take());
    assert_eq!(status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["summary"]["websocket_connections"], 1, "{doc}");
    assert_eq!(doc["summary"]["messages"], 17);
    assert_eq!(doc["exit"]["status"], 0);
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<testcase"));
}

#[test]
fn a_second_signal_ends_a_run_stuck_writing_at_once() {
    use std::os::unix::process::ExitStatusExt;
    // Every event of a large capture to a pipe nobody reads: wsscope blocks in write(2).
    let mut child = signalled_wsscope()
        .args(["export", "--frames", testdata("captures/real/py-large.pcap").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_handlers(child.id());
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGTERM);
    // The first signal asks for a clean end, which waits for the blocked write.
    assert!(exit_within(&mut child, Duration::from_millis(500)).is_none(), "exited on the first");
    signal(&child, libc::SIGTERM);
    let status = exit_within(&mut child, Duration::from_secs(2));
    let _ = child.kill();
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGTERM), "{status:?}");
}

// ── Privileges ──────────────────────────────────────────────────────────────────────────────

#[test]
fn an_unknown_user_for_z_is_a_usage_error() {
    let f = testdata("captures/real/py-basic.pcap");
    for args in [
        vec!["report", f.to_str().unwrap(), "-Z", "no-such-user-wsscope"],
        vec!["streams", "-i", "lo", "--relinquish-privileges", "no-such-user-wsscope"],
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("-Z no-such-user-wsscope: no such user"), "{}", stderr(&o));
    }
}

#[test]
fn z_runs_file_analysis_as_the_user_and_refuses_outputs_it_could_not_finish() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root");
        return;
    }
    let nobody = wsscope::privileges::lookup("nobody").unwrap().expect("no user nobody");
    let (dir, input, _) = with_capture();
    let i = input.to_str().unwrap();
    // Files named on the command line are opened before the switch: a new -o works.
    let out = dir.path().join("report.json");
    let o = wsscope(&["report", i, "-Z", "nobody", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"schema_version\""));
    // --force renames at the end, as nobody, in a directory only root may write: refused before
    // anything is read, the old file kept.
    let o = wsscope(&["report", i, "-Z", "nobody", "-o", out.to_str().unwrap(), "--force"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("and nobody cannot write in"), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"schema_version\""));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "nothing left behind: {names:?}");
    // Not root: -Z names only the user itself.
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", "/dev/null", "-Z", "root"])
        .uid(nobody.uid)
        .gid(nobody.gid)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("-Z root: switching to another user needs root"), "{}", stderr(&o));
}

#[test]
fn a_rotating_write_stopped_by_sigterm_commits_its_last_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    mkfifo(&fifo);
    let mut writer = fifo_writer(&fifo);
    let input = testdata("captures/real/py-basic.pcap");
    std::io::Write::write_all(&mut writer, &std::fs::read(&input).unwrap()).unwrap();
    let out = dir.path().join("ws.pcap");
    let mut child = signalled_wsscope()
        .args(["streams", fifo.to_str().unwrap(), "-w", out.to_str().unwrap(), "-C", "1K"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_handlers(child.id());
    // Every file the capture needs appears; then the FIFO stays open and silent.
    let last = dir.path().join("ws.4.pcap");
    let start = Instant::now();
    while !last.exists() {
        assert!(start.elapsed() < Duration::from_secs(5), "no {}", last.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let Some(status) = exit_within(&mut child, Duration::from_secs(2)) else {
        let _ = child.kill();
        panic!("still running 2 s after SIGTERM");
    };
    let err = read_all(child.stderr.take());
    assert_eq!(status.code(), Some(0), "{err}");
    // The files hold every packet, the last one flushed and readable.
    let mut saved = Vec::new();
    for n in 0..5 {
        let f = wsscope::capture::numbered(&out, n);
        let o = wsscope(&["streams", "--format", "json", f.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", f.display(), stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(doc["end_of_input"]["kind"], "clean", "{}", f.display());
        saved.push(doc["packets"]["packets"].as_u64().unwrap());
    }
    assert_eq!(saved.iter().sum::<u64>(), 28, "{saved:?}");
    assert!(!wsscope::capture::numbered(&out, 5).exists());
}
