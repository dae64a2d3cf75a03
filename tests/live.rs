//! Live capture on the loopback interface: wsscope captures a TCP exchange that this test makes
//! itself on 127.0.0.1, is stopped with SIGINT (Ctrl-C), and must still report every byte;
//! `--duration` ends a capture that sees nothing.
//!
//! Needs permission to capture (root or CAP_NET_RAW), as CI has. Set WSSCOPE_SKIP_LIVE=1 to skip
//! on a machine without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
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
