//! The terminal UI end to end: the real binary in tmux, driven with send-keys and read with
//! capture-pane, as a person would use it. Needs tmux (installed by .ci/run); set
//! WSSCOPE_SKIP_TMUX=1 to skip where it is missing.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(args: &[&str]) -> Tmux {
        // Unique per test: tests of one process run in parallel.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("wsscope-test-{}-{n}", std::process::id());
        let cmd = std::iter::once(env!("CARGO_BIN_EXE_wsscope"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "120", "-y", "32"])
            .arg(format!("cd {}; TERM=xterm-256color {cmd}", env!("CARGO_MANIFEST_DIR")))
            .status()
            .expect("tmux is not installed (apt-get install tmux, or WSSCOPE_SKIP_TMUX=1)");
        assert!(ok.success());
        Tmux { session }
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux").args(["send-keys", "-t", &self.session, k]).status().unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Waits (at most 10 s) until the screen contains `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "screen never showed {needle:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
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
        // The selected connection's detail: request and response headers.
        let s = t.wait_for("Authorization: Bearer");
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
