//! Live capture on the loopback interface: wsscope captures a TCP exchange that this test makes
//! itself on 127.0.0.1, is stopped with SIGINT (Ctrl-C), and must still report every byte;
//! `--duration` ends a capture that sees nothing; `-Z` (and its default as root) and file
//! capabilities leave no privilege in any thread once the interface is open, read from
//! `/proc/PID/task/*/status` while the capture runs.
//!
//! Needs permission to capture (root or CAP_NET_RAW), as CI has. Set WSSCOPE_SKIP_LIVE=1 to skip
//! on a machine without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn live_capture_on_loopback_reassembles_and_flushes_on_ctrl_c() {
    if std::env::var_os("WSSCOPE_SKIP_LIVE").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_LIVE is set");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args([
            "streams",
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "--format",
            "json",
            "--duration",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) for the "listening on" notice before making traffic.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    match &first {
        Ok(line) if line.contains("listening on lo") => {}
        other => {
            let _ = child.kill();
            panic!(
                "wsscope did not start capturing (run as root, or set WSSCOPE_SKIP_LIVE=1): {other:?}"
            );
        }
    }

    let request: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = vec![0u8; 100_000];
        s.read_exact(&mut got).unwrap();
        s.write_all(b"thanks").unwrap();
        got
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(&request).unwrap();
    let mut reply = [0u8; 6];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.read_exact(&mut reply).unwrap();
    drop(c);
    assert_eq!(server.join().unwrap(), request);
    std::thread::sleep(Duration::from_millis(500));

    // SIGINT, as Ctrl-C would send: wsscope must stop reading, flush and print.
    // SAFETY: kill(2) with a valid pid of our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "wsscope exited with {status}");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let conns = doc["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{out}");
    let conn = &conns[0];
    assert_eq!(conn["server"], format!("127.0.0.1:{port}"));
    assert_eq!(conn["role"], "syn");
    assert_eq!(conn["client_to_server"]["delivered_bytes"], 100_000);
    assert_eq!(conn["server_to_client"]["delivered_bytes"], 6);
    assert_eq!(conn["client_to_server"]["gap_bytes"], 0);
}

#[test]
fn duration_ends_a_live_capture_that_sees_no_packets() {
    if std::env::var_os("WSSCOPE_SKIP_LIVE").is_some() {
        eprintln!("skipped: WSSCOPE_SKIP_LIVE is set");
        return;
    }
    let start = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["streams", "-i", "lo", "-f", "tcp port 9 and tcp port 7", "--duration", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // libpcap does not return on read timeouts in immediate mode: the deadline must wake it.
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("--duration 1s did not end the capture");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("-i lo: 0 packets"));
    assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());
}

// ── Privileges (-Z) ─────────────────────────────────────────────────────────────────────────

/// Starts `program args` and waits (at most 20 s) for its "listening on lo" notice.
fn start_listening(mut cmd: Command) -> std::process::Child {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(line) if line.contains("listening on lo") => child,
        other => {
            let _ = child.kill();
            panic!("wsscope did not start capturing: {other:?}");
        }
    }
}

/// (name, uid, gid, CapPrm, CapEff) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, String, String, u64, u64)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        let field = |k: &str| {
            status.lines().find_map(|l| l.strip_prefix(k)).unwrap_or_default().trim().to_string()
        };
        let hex = |k: &str| u64::from_str_radix(&field(k), 16).unwrap();
        out.push((field("Name:"), field("Uid:"), field("Gid:"), hex("CapPrm:"), hex("CapEff:")));
    }
    out
}

fn stop(child: &mut std::process::Child) -> (std::process::ExitStatus, String) {
    // SAFETY: kill(2) with the pid of our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    (child.wait().unwrap(), out)
}

fn skip_live() -> bool {
    let skip = std::env::var_os("WSSCOPE_SKIP_LIVE").is_some();
    if skip {
        eprintln!("skipped: WSSCOPE_SKIP_LIVE is set");
    }
    skip
}

#[test]
fn z_nobody_captures_as_nobody_without_capabilities_in_every_thread() {
    if skip_live() {
        return;
    }
    let nobody = wsscope::privileges::lookup("nobody").unwrap().expect("no user nobody");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dumps = dir.path().join("dumps");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    cmd.args(["streams", "-i", "lo", "-f", &format!("tcp port {port}"), "--format", "json"])
        .args(["-Z", "nobody", "--duration", "60s", "--write-dir", dumps.to_str().unwrap()]);
    let mut child = start_listening(cmd);
    let ids =
        (format!("{0}\t{0}\t{0}\t{0}", nobody.uid), format!("{0}\t{0}\t{0}\t{0}", nobody.gid));
    for (name, uid, gid, prm, eff) in threads(child.id()) {
        assert_eq!((&uid, &gid), (&ids.0, &ids.1), "thread {name}");
        assert_eq!((prm, eff), (0, 0), "thread {name} holds capabilities");
    }
    // The capture still works: an exchange on loopback is reassembled.
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).unwrap();
        s.write_all(b"world").unwrap();
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"hello").unwrap();
    let mut reply = [0u8; 5];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.read_exact(&mut reply).unwrap();
    drop(c);
    server.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (status, out) = stop(&mut child);
    assert!(status.success(), "{status}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["connections"][0]["client_to_server"]["delivered_bytes"], 5, "{out}");
    // The files written after the switch are nobody's, in the directory given to nobody.
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::metadata(dumps.join("conn-1-client_to_server.bin")).unwrap();
    assert_eq!((file.uid(), file.len()), (nobody.uid, 5));
    assert_eq!(std::fs::metadata(&dumps).unwrap().uid(), nobody.uid);
}

#[test]
fn live_capture_as_root_drops_by_default_and_z_root_keeps_root() {
    if skip_live() {
        return;
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root");
        return;
    }
    let nobody = wsscope::privileges::lookup("nobody").unwrap().expect("no user nobody").uid;
    let mut cases = vec![(None, None, nobody), (Some("root"), None, 0)];
    // Run through sudo by a user: drops to that user.
    if let Some(daemon) = wsscope::privileges::lookup("daemon").unwrap() {
        cases.push((None, Some("daemon"), daemon.uid));
    }
    for (z, sudo_user, uid) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        cmd.args(["streams", "-i", "lo", "-f", "tcp port 9 and tcp port 7", "--duration", "60s"]);
        if let Some(z) = z {
            cmd.args(["-Z", z]);
        }
        match sudo_user {
            Some(u) => cmd.env("SUDO_USER", u),
            None => cmd.env_remove("SUDO_USER"),
        };
        let mut child = start_listening(cmd);
        let want = format!("{uid}\t{uid}\t{uid}\t{uid}");
        for (name, got, ..) in threads(child.id()) {
            assert_eq!(got, want, "-Z {z:?} SUDO_USER {sudo_user:?}: thread {name}");
        }
        assert!(stop(&mut child).0.success());
    }
}

#[test]
fn file_capabilities_are_dropped_once_the_interface_is_open() {
    if skip_live() {
        return;
    }
    let setcap = ["/usr/sbin/setcap", "/sbin/setcap"].into_iter().find(|p| Path::new(p).exists());
    // SAFETY: geteuid cannot fail.
    let (Some(setcap), 0) = (setcap, unsafe { libc::geteuid() }) else {
        eprintln!("skipped: needs root and setcap (libcap2-bin)");
        return;
    };
    let nobody = wsscope::privileges::lookup("nobody").unwrap().expect("no user nobody");
    // A copy of the binary with the capabilities the README suggests, run by nobody.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("wsscope");
    std::fs::copy(env!("CARGO_BIN_EXE_wsscope"), &bin).unwrap();
    let ok = Command::new(setcap)
        .args(["cap_net_raw,cap_net_admin+eip", bin.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(ok.success(), "setcap failed on {}", bin.display());
    let mut cmd = Command::new(&bin);
    cmd.args(["streams", "-i", "lo", "-f", "tcp port 9 and tcp port 7", "--duration", "60s"])
        .current_dir(dir.path())
        .uid(nobody.uid)
        .gid(nobody.gid);
    let mut child = start_listening(cmd);
    let threads = threads(child.id());
    assert!(threads.len() >= 2, "the signal watcher thread is there too: {threads:?}");
    for (name, uid, _, prm, eff) in threads {
        assert!(uid.starts_with(&nobody.uid.to_string()), "thread {name}: {uid}");
        assert_eq!((prm, eff), (0, 0), "thread {name} holds capabilities");
    }
    let (status, out) = stop(&mut child);
    assert!(status.success(), "{status}");
    assert!(out.contains("-i lo: 0 packets"), "{out}");
}
