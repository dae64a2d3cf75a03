//! The terminal UI end to end: the real binary in tmux, driven with send-keys and read with
//! capture-pane, as a person would use it. Needs tmux (installed by .ci/run); set
//! WSSCOPE_SKIP_TMUX=1 to skip where it is missing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(args: &[&str]) -> Tmux {
        Tmux::start_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, "")
    }

    /// Starts wsscope in `dir`; `name` tells sessions of one test process apart.
    fn start_in(dir: &Path, args: &[&str], name: &str) -> Tmux {
        Tmux::start_then(dir, args, name, "")
    }

    /// [`Tmux::start_in`], with shell commands to run after wsscope (`$?` is its status).
    fn start_then(dir: &Path, args: &[&str], name: &str, then: &str) -> Tmux {
        // Unique per test: tests of one process run in parallel.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("wsscope-test-{}-{n}{name}", std::process::id());
        let cmd = std::iter::once(env!("CARGO_BIN_EXE_wsscope"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let t = Tmux { session };
        let ok = t
            .tmux()
            .args(["new-session", "-d", "-s", &t.session, "-x", "120", "-y", "32"])
            .arg(format!("cd '{}'; TERM=xterm-256color {cmd}{then}", dir.display()))
            .status()
            .expect("tmux is not installed (apt-get install tmux, or WSSCOPE_SKIP_TMUX=1)");
        assert!(ok.success());
        t
    }

    /// A tmux command on this session's own server (`-S`): sessions of parallel tests never
    /// share a server, so one test's last session ending (the server exits with it) cannot race
    /// another's `new-session` ("server exited unexpectedly"), nor one's buffers another's.
    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(self.socket());
        c
    }

    fn socket(&self) -> std::path::PathBuf {
        std::env::temp_dir().join(&self.session)
    }

    fn screen(&self) -> String {
        let o = self.tmux().args(["capture-pane", "-p", "-t", &self.session]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux().args(["send-keys", "-t", &self.session, k]).status().unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Waits (at most 10 s) until the screen contains `needle`.
    fn wait_for(&self, needle: &str) -> String {
        self.wait_for_all(&[needle])
    }

    /// The screen once it shows every one of `needles` (a redraw can be caught half done).
    fn wait_for_all(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if needles.iter().all(|n| s.contains(n)) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "screen never showed all of {needles:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.tmux().args(["has-session", "-t", &self.session]).status().is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().args(["kill-server"]).status();
        let _ = std::fs::remove_file(self.socket());
    }
}

#[test]
fn open_select_read_search_and_quit_in_a_real_terminal() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    let t = Tmux::start(&["testdata/captures/real/py-close-codes.pcap"]);
    t.wait_for("connections (5)");
    t.wait_for(" done ");
    // Select connection 3 and open its messages, then the first message's detail.
    t.keys(&["Down", "Down", "Enter", "Home", "Down", "Enter"]);
    let s = t.wait_for("┌ message");
    assert!(s.contains("hello from connection 2"), "{s}");
    // Search the payloads with a regex.
    t.keys(&["Escape", "/", "acc.s", "Enter"]);
    let s = t.wait_for("/acc.s");
    assert!(s.contains("accès refusé"), "{s}");
    // The help overlay, then quit.
    t.keys(&["?"]);
    t.wait_for("keys — ? or Esc to close");
    t.keys(&["Escape", "q"]);
    let start = Instant::now();
    while t.alive() {
        assert!(start.elapsed() < Duration::from_secs(5), "wsscope did not quit on q");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn saves_never_replace_a_file_or_follow_a_planted_link() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    // The name the first save of connection 1 would take, planted as a link.
    std::os::unix::fs::symlink(&victim, dir.path().join("wsscope-conn1-all.ndjson")).unwrap();
    let capture = crate::util::testdata("captures/real/py-basic.pcap");
    let t = Tmux::start_in(dir.path(), &[capture.to_str().unwrap()], "-save");
    t.wait_for(" done ");
    // The prompt proposes a new name (the planted link's is taken); Enter saves there.
    t.keys(&["W"]);
    t.wait_for("save to");
    t.keys(&["Enter"]);
    t.wait_for("saved wsscope-conn1-all-2.ndjson");
    t.keys(&["W"]);
    t.wait_for_all(&["save to (", "wsscope-conn1-all-3.ndjson"]);
    t.keys(&["Enter"]);
    t.wait_for("saved wsscope-conn1-all-3.ndjson");
    // A name typed over the proposed one: an existing file is refused, naming it.
    t.keys(&["W"]);
    t.wait_for("save to");
    // Ctrl-U clears the proposed name, as in a shell.
    t.keys(&["C-u", "victim", "Enter"]);
    t.wait_for("could not save victim: it exists");
    // A payload: the first message saying "welcome".
    t.keys(&["Enter", "Home", "/", "welcome", "Enter", "w"]);
    t.wait_for_all(&["save to (", "wsscope-conn1-pkt"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("saved wsscope-conn1-pkt");
    t.keys(&["q"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "{s}");
    let saved = std::fs::read_to_string(dir.path().join("wsscope-conn1-all-2.ndjson")).unwrap();
    assert!(saved.lines().count() > 10 && saved.contains("\"type\":\"message\""), "{saved}");
    let payloads: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("wsscope-conn1-pkt") && n.ends_with(".txt"))
        .collect();
    assert_eq!(payloads.len(), 1, "{payloads:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join(&payloads[0])).unwrap(), "welcome");
}

#[test]
fn sigterm_and_sighup_quit_cleanly_restoring_the_terminal() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (sig, name) in [(libc::SIGTERM, "-term"), (libc::SIGHUP, "-hup")] {
        let status = dir.path().join(format!("status{name}"));
        let then = format!("; echo $? > '{}'; sleep 10", status.display());
        let capture = crate::util::testdata("captures/real/py-basic.pcap");
        let t = Tmux::start_then(dir.path(), &[capture.to_str().unwrap()], name, &then);
        t.wait_for(" done ");
        let pane = |f: &str| {
            let o = t.tmux().args(["display-message", "-p", "-t", &t.session, f]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        // The pane runs `sh -c 'cd …; wsscope …; echo $? …'`: wsscope is the shell's child.
        let shell = pane("#{pane_pid}");
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
        let pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
        // SAFETY: kill(2) with the pid of the wsscope process this test started.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        let start = Instant::now();
        while !status.exists() {
            assert!(start.elapsed() < Duration::from_secs(5), "{name}: still running");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        // Exit status 0 (a clean quit), not 128 + the signal.
        assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0", "{name}");
        // The terminal was restored: the alternate screen is gone.
        assert_eq!(pane("#{alternate_on}"), "0", "{name}:\n{}", t.screen());
    }
}

#[test]
fn a_save_refused_after_z_says_why() {
    // SAFETY: geteuid cannot fail.
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() || unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs tmux and root");
        return;
    }
    // A directory only root may write; wsscope runs as nobody once the capture is open.
    let dir = tempfile::tempdir().unwrap();
    let capture = crate::util::testdata("captures/real/py-basic.pcap");
    let t = Tmux::start_in(dir.path(), &["-Z", "nobody", capture.to_str().unwrap()], "-z");
    t.wait_for(" done ");
    t.keys(&["W"]);
    // Enter only once the prompt is up (sent together, it can reach the list first).
    t.wait_for_all(&["save to (", "wsscope-conn1-all.ndjson"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("could not save wsscope-conn1-all.ndjson as nobody");
    assert!(s.contains("Permission denied"), "{s}");
    t.keys(&["q"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn with_redact_the_handshake_detail_shows_no_credential() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/captures/cases/secrets.truth.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let secrets: Vec<&str> =
        truth["secrets"].as_array().unwrap().iter().map(|s| &s.as_str().unwrap()[..12]).collect();
    for redact in [false, true] {
        let mut args = vec!["testdata/captures/cases/secrets.pcap"];
        if redact {
            args.insert(0, "--redact");
        }
        let t = Tmux::start(&args);
        t.wait_for(" done ");
        // The selected connection's detail: its summary, then request and response headers (a
        // window tall enough for all of them).
        t.tmux()
            .args(["resize-window", "-t", &t.session, "-x", "120", "-y", "70"])
            .status()
            .unwrap();
        // After the resize the screen is redrawn: wait for its last lines too (the response's
        // last header, and the status bar's "redacted"), not only the first.
        let mut needles = vec!["Sec-WebSocket-Protocol", "Set-Cookie"];
        if redact {
            needles.push("· redacted ·");
        }
        let s = t.wait_for_all(&needles);
        let shown: Vec<&&str> = secrets.iter().filter(|p| s.contains(**p)).collect();
        if redact {
            assert!(shown.is_empty(), "{shown:?} on screen:\n{s}");
            assert!(s.contains("· redacted ·"), "{s}");
        } else {
            assert!(shown.len() >= 3, "{shown:?} on screen:\n{s}");
        }
        t.keys(&["q"]);
    }
}

/// `y` puts the selected payload on the clipboard with OSC 52, which works over SSH and in tmux
/// (with set-clipboard on, tmux keeps it as a paste buffer: the test reads it back).
#[test]
fn y_copies_the_payload_with_osc52() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    let t = Tmux::start(&["testdata/captures/real/py-basic.pcap"]);
    // Server-wide: tmux accepts OSC 52 from the application into its buffers.
    t.tmux().args(["set-option", "-s", "set-clipboard", "on"]).status().unwrap();
    t.wait_for(" done ");
    t.keys(&["Enter", "Home", "/", "welcome", "Enter", "y"]);
    t.wait_for("copied 7 bytes to the clipboard (OSC 52)");
    let start = Instant::now();
    loop {
        let o = t.tmux().args(["show-buffer"]).output().unwrap();
        if o.stdout == b"welcome" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "tmux buffer: {:?}",
            String::from_utf8_lossy(&o.stdout)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["q"]);
}

/// Closing the terminal under wsscope (a tmux window killed, an SSH session dropped) ends it:
/// it must not stay behind spinning on a terminal that is gone.
#[test]
fn a_closed_terminal_ends_the_ui() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    let capture = crate::util::testdata("captures/real/py-basic.pcap");
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start_in(dir.path(), &[capture.to_str().unwrap()], "-gone");
    t.wait_for(" done ");
    let o =
        t.tmux().args(["display-message", "-p", "-t", &t.session, "#{pane_pid}"]).output().unwrap();
    let shell = String::from_utf8_lossy(&o.stdout).trim().to_string();
    // The pane's shell runs wsscope as its last command: it may have become wsscope (exec).
    let children =
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    let pid: i32 = children.split_whitespace().next().unwrap_or(&shell).parse().unwrap();
    t.tmux().args(["kill-session", "-t", &t.session]).status().unwrap();
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break; // exited, not yet reaped
        }
        if start.elapsed() > Duration::from_secs(5) {
            // SAFETY: kill(2) with the pid of the wsscope process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("wsscope still running 5 s after its terminal closed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// As a DevTools user would: the JSON a peer sent is shown as sent (pretty, then `v` raw, hex
/// and base64), `t` cycles the time column through its modes (each named in the title), and `/`
/// filters the list to the matching messages, any case.
#[test]
fn payload_views_time_modes_and_search_filter_in_a_real_terminal() {
    if std::env::var_os("WSSCOPE_SKIP_TMUX").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_TMUX is set");
        return;
    }
    use wsscope::tcp::Direction;
    use wsscope::ws::encode::frame;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("json.pcap");
    let sent = r#"{"id": 12345678901234567890123, "amount": 1.10, "dup": 1, "dup": 2}"#;
    let mut ex = crate::util::ws_handshake().to_vec();
    ex.push((Direction::ClientToServer, frame(true, 0, 1, Some([9, 8, 7, 6]), b"subscribe")));
    ex.push((Direction::ServerToClient, frame(true, 0, 1, None, sent.as_bytes())));
    ex.push((Direction::ClientToServer, frame(true, 0, 1, Some([1, 2, 3, 4]), b"AMOUNT please")));
    crate::util::write_session_pcap(&pcap, &ex);
    let t = Tmux::start(&[pcap.to_str().unwrap()]);
    t.wait_for(" done ");
    // The JSON message's detail, pretty: the peer's own tokens.
    t.keys(&["Enter", "Home", "Down", "Enter"]);
    let s = t.wait_for("message · pretty (v)");
    for token in [r#""id": 12345678901234567890123,"#, r#""amount": 1.10,"#, r#""dup": 1,"#] {
        assert!(s.contains(token), "{token} missing:\n{s}");
    }
    assert!(!s.contains("e+22"), "{s}");
    t.keys(&["v"]);
    let s = t.wait_for("message · raw (v)");
    assert!(s.contains(r#"{"id": 12345678901234567890123, "amount": 1.10,"#), "{s}");
    assert!(s.contains(r#""dup": 1, "dup": 2}"#), "{s}");
    t.keys(&["v"]);
    let s = t.wait_for("message · hex (v)");
    assert!(s.contains("7b 22 69 64 22 3a 20 31"), "{s}");
    t.keys(&["v"]);
    t.wait_for("message · base64 (v)");
    t.wait_for("eyJpZCI6IDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzLCAiYW1v");
    t.keys(&["v"]);
    t.wait_for("message · pretty (v)");
    // Time modes: the packets are 1 ms apart, the capture at 2023-11-14 22:13:20 UTC.
    t.keys(&["Escape"]);
    let s = t.wait_for("time since connection start (t)");
    assert!(s.contains("0.006"), "{s}");
    t.keys(&["t"]);
    t.wait_for("time since capture start (t)");
    t.keys(&["t"]);
    let s = t.wait_for("time delta (t)");
    assert!(s.contains("+0.001000"), "{s}");
    t.keys(&["t"]);
    let s = t.wait_for("time UTC (t)");
    assert!(s.contains("22:13:20.007"), "{s}");
    t.keys(&["t"]);
    t.wait_for("time local time (t)");
    t.keys(&["t"]);
    t.wait_for("time since connection start (t)");
    // Search filters the list, case-insensitive.
    t.keys(&["/", "amount", "Enter"]);
    let s = t.wait_for("/amount");
    assert!(s.contains("AMOUNT please") && s.contains("12345678901234567890123"), "{s}");
    assert!(!s.contains("subscribe"), "the filtered list still shows a non-match:\n{s}");
    t.keys(&["q"]);
}
