//! Live capture on the loopback interface: wsscope captures a TCP exchange that this test makes
//! itself on 127.0.0.1, is stopped with SIGINT (Ctrl-C), and must still report every byte;
//! `--duration` ends a capture that sees nothing; `-Z` (and its default as root) and file
//! capabilities leave no privilege in any thread once the interface is open, read from
//! `/proc/PID/task/*/status` while the capture runs; a wss:// session between `openssl s_client`
//! and `s_server` is decrypted with a key log that arrives after its records.
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

/// A snapshot length shorter than the headers is said at the start (tcpdump takes it too).
#[test]
fn a_snaplen_shorter_than_the_headers_is_said_at_once() {
    if skip_live() {
        return;
    }
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", "-i", "lo", "-s", "10", "-f", "tcp port 9 and tcp port 7"])
        .args(["--duration", "1s"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("-s 10 keeps less of each packet than link, IP and TCP"), "{err}");
}

#[test]
fn an_interface_number_from_d_captures_on_that_interface_and_the_end_says_why() {
    if skip_live() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_wsscope");
    let listed = Command::new(bin).arg("-D").output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let lo = listed
        .lines()
        .find_map(|l| l.split_once(".lo [").map(|(n, _)| n))
        .unwrap_or_else(|| panic!("no lo in -D: {listed}"))
        .to_string();
    let o = Command::new(bin)
        .args(["report", "-i", &lo, "-f", "tcp port 9 and tcp port 7", "--duration", "1s"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["inputs"][0]["name"], "-i lo");
    let end = &doc["inputs"][0]["end_of_input"];
    assert_eq!(end["kind"], "stopped", "{end}");
    assert_eq!(end["message"], "stopped at --duration after 0 packets");
    let o = Command::new(bin).args(["report", "-i", "9999"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no interface number 9999") && err.contains("-D"), "{err}");
}

/// `--count` stops reading at once; the capture's counters in the report are still the
/// capture threads' last (they were all zero: read before the threads stored any), and `-w`
/// holds the packets counted, as tcpdump -c -w does (it held what the capture thread had read
/// by then, 48 for 15).
#[test]
fn count_ends_a_live_capture_with_its_counters() {
    if skip_live() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = drain_one(listener);
    let filter = format!("tcp port {port}");
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("c.pcap");
    let mut child = start_listening({
        let mut c = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        c.args(["report", "-i", "lo", "-f", &filter, "-c", "15", "--fail-on", "never", "-w"]);
        c.arg(&saved);
        c
    });
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.set_nodelay(true).unwrap();
    // Bounded: 400 writes, 4 s at most, more than enough for 15 packets.
    for _ in 0..400 {
        if child.try_wait().unwrap().is_some() || client.write_all(b"ping").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(client);
    let o = child.wait_with_output().unwrap();
    server.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["summary"]["packets"], 15, "{}", doc["summary"]);
    let capture = &doc["inputs"][0]["capture"];
    assert!(capture["received"].as_u64().unwrap() >= 15, "{capture}");
    // Classic pcap: a 24-byte header, then records of a 16-byte header and the bytes captured.
    let file = std::fs::read(&saved).unwrap();
    let (mut at, mut records) = (24, 0);
    while at + 16 <= file.len() {
        at += 16 + u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize;
        records += 1;
    }
    assert_eq!((records, at), (15, file.len()), "-w -c 15");
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
    // Other notices (the key log read) may come first.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on lo") => return child,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("wsscope did not start capturing: {seen:?}");
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

/// A server that takes one connection and reads it to its end (at most 10 s between reads).
fn drain_one(listener: TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    })
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

// ── WebSocket traffic on several connections, analysed by workers (-j) ────────────────────

/// A client frame: FIN, text, masked with `mask`.
fn masked_text(text: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x81];
    match text.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The payload length of a frame whose second header byte is `second` (7 bits, or 16 after it;
/// these tests send nothing larger).
fn payload_length(s: &mut TcpStream, second: u8) -> usize {
    match second & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        l => l as usize,
    }
}

/// One WebSocket session on `port`: upgrade, `n` client messages answered by the server with
/// the same text, a close handshake. Returns the texts sent.
fn session(port: u16, conn: usize, n: usize) -> Vec<String> {
    use base64::Engine as _;
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode([conn as u8; 16]);
    write!(
        c,
        "GET /chat/{conn} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let mut texts = Vec::new();
    for i in 0..n {
        let text = format!("conn {conn} message {i} {}", "x".repeat(i * 7 % 300));
        c.write_all(&masked_text(text.as_bytes(), [conn as u8, i as u8, 7, 9])).unwrap();
        // The echo: unmasked, same length.
        let mut hdr = [0u8; 2];
        c.read_exact(&mut hdr).unwrap();
        let len = payload_length(&mut c, hdr[1]);
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).unwrap();
        assert_eq!(body, text.as_bytes());
        texts.push(text);
    }
    c.write_all(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]).unwrap();
    let mut close = [0u8; 4];
    c.read_exact(&mut close).unwrap();
    texts
}

/// The server side of [`session`]: answers the upgrade (with the right accept key), echoes
/// every text frame unmasked, answers the close.
fn serve(mut s: TcpStream) {
    use base64::Engine as _;
    use sha1::Digest as _;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .trim()
        .to_string();
    let accept = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    ));
    write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .unwrap();
    loop {
        let mut hdr = [0u8; 2];
        s.read_exact(&mut hdr).unwrap();
        let len = payload_length(&mut s, hdr[1]);
        let mut mask = [0u8; 4];
        s.read_exact(&mut mask).unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        for (i, b) in body.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        if hdr[0] & 0x0f == 0x8 {
            s.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
            return;
        }
        let mut out = vec![0x81];
        if len < 126 {
            out.push(len as u8);
        } else {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        out.extend_from_slice(&body);
        s.write_all(&out).unwrap();
    }
}

#[test]
fn live_capture_with_worker_threads_reports_every_message_and_its_counters() {
    if skip_live() {
        return;
    }
    const CONNS: usize = 8;
    const MESSAGES: usize = 60;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    cmd.args(["export", "-i", "lo", "-f", &format!("tcp port {port}"), "-j", "2"]).args([
        "--format",
        "ndjson",
        "--duration",
        "60s",
        "-Z",
        "root",
    ]);
    let mut child = start_listening(cmd);
    let server = std::thread::spawn(move || {
        let mut handles = Vec::new();
        for _ in 0..CONNS {
            let (s, _) = listener.accept().unwrap();
            handles.push(std::thread::spawn(move || serve(s)));
        }
        for h in handles {
            h.join().unwrap();
        }
    });
    // Connections one after another, so that their ids are known: 1..=CONNS.
    let mut sent = Vec::new();
    for conn in 0..CONNS {
        sent.push(session(port, conn, MESSAGES));
        std::thread::sleep(Duration::from_millis(150));
    }
    server.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (status, out) = stop(&mut child);
    assert!(status.success(), "wsscope exited with {status}");
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Every line, the live-only `stats` lines included, is what the documented schema says.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/ndjson-line.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for l in &lines {
        let errors: Vec<String> = validator.iter_errors(l).map(|e| e.to_string()).take(3).collect();
        assert!(errors.is_empty(), "{l}: {errors:?}");
    }
    let mut got = vec![Vec::new(); CONNS];
    for l in &lines {
        if l["type"] == "message" && l["direction"] == "client_to_server" && l["opcode"] == "text" {
            let id = l["connection"].as_u64().unwrap() as usize;
            got[id - 1].push(l["payload"]["text"].as_str().unwrap().to_string());
        }
    }
    for (conn, (got, sent)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(got, sent, "connection {}", conn + 1);
    }
    // More than a second of capture: at least one counters line, and the summary's.
    let stats: Vec<_> = lines.iter().filter(|l| l["type"] == "stats").collect();
    assert!(!stats.is_empty(), "no stats line in {} lines", lines.len());
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    let capture = &summary["capture"];
    let packets = summary["packets"]["packets"].as_u64().unwrap();
    assert!(capture["received"].as_u64().unwrap() >= packets, "{capture} vs {packets}");
    assert_eq!(capture["dropped"].as_u64(), Some(0), "{capture}");
    assert_eq!(capture["queue_dropped"].as_u64(), Some(0), "{capture}");
    assert_eq!(summary["tcp"]["connections"].as_u64(), Some(CONNS as u64));
}

// ── wss:// live, with a key log that arrives after the traffic ────────────────────────────────

/// Runs `openssl ARGS` to completion (bounded), failing the test with its stderr.
fn openssl(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().expect("openssl is not installed");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A real TLS 1.3 client and server (`openssl s_client`/`s_server`) carry a WebSocket session on
/// loopback while wsscope captures it with `--keylog` following a file that is still empty: the
/// client's key log is copied into it only after the conversation. The records wait for their
/// keys and are decrypted once the follower reads them; every message is reported.
#[test]
fn live_wss_is_decrypted_when_the_key_log_comes_after_the_traffic() {
    if skip_live() {
        return;
    }
    // TLS 1.3 (OpenSSL's default suite); TLS 1.2 AES-CBC with HMAC-SHA1 (encrypt-then-MAC, as
    // OpenSSL negotiates by default) and with HMAC-SHA384 (MAC-then-encrypt, -no_etm).
    live_wss(&["-tls1_3"], &[], "TLS 1.3", "TLS_AES_256_GCM_SHA384");
    live_wss(
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"],
        &[],
        "TLS 1.2",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    );
    live_wss(
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384"],
        &["-no_etm"],
        "TLS 1.2",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    );
}

/// One session: `both` are given to s_server and s_client, `client` to s_client only.
fn live_wss(both: &[&str], client_only: &[&str], version: &str, suite: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
    ]);
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let followed = dir.path().join("followed.keys");
    let written = dir.path().join("client.keys");
    std::fs::write(&followed, b"").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    cmd.args(["export", "-i", "lo", "-f", &format!("tcp port {port}"), "--duration", "60s"])
        .arg("--keylog")
        .arg(&followed)
        .env_remove("SSLKEYLOGFILE");
    let mut ws = start_listening(cmd);

    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-naccept", "1"])
        .args(["-cert", cert.to_str().unwrap(), "-key", key.to_str().unwrap()])
        .args(both)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let server_out = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(server_out).split(b'\n').map_while(Result::ok) {
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
        }
    });
    // Bounded wait for the server to listen.
    let mut accepting = false;
    for _ in 0..100 {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.contains("ACCEPT") => {
                accepting = true;
                break;
            }
            _ => {}
        }
    }
    assert!(accepting, "openssl s_server did not start");
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .args(["-keylogfile", written.to_str().unwrap(), "-nocommands", "-brief"])
        .args(both)
        .args(client_only)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut c_in = client.stdin.take().unwrap();
    let mut s_in = server.stdin.take().unwrap();
    let request = format!(
        "GET /live-wss HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    c_in.write_all(request.as_bytes()).unwrap();
    c_in.write_all(&masked_text(b"hello over tls", [1, 2, 3, 4])).unwrap();
    c_in.flush().unwrap();
    // Bounded wait for the request to reach the server.
    let mut got_request = false;
    for _ in 0..100 {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.contains("GET /live-wss") => {
                got_request = true;
                break;
            }
            _ => {}
        }
    }
    assert!(got_request, "the request did not reach s_server");
    let mut reply =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            .to_vec();
    reply.extend([0x81, 14]);
    reply.extend(b"hi from server");
    reply.extend([0x88, 2, 0x03, 0xe8]);
    s_in.write_all(&reply).unwrap();
    s_in.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut close = vec![0x88, 0x82, 9, 9, 9, 9];
    close.extend([0x03 ^ 9, 0xe8 ^ 9]);
    c_in.write_all(&close).unwrap();
    c_in.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Only now the keys: the records waited for them.
    let keys = std::fs::read(&written).unwrap();
    assert!(!keys.is_empty(), "s_client wrote no key log");
    std::fs::write(&followed, &keys).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    drop(c_in);
    drop(s_in);
    for p in [&mut client, &mut server] {
        for _ in 0..50 {
            if p.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = p.kill();
        let _ = p.wait();
    }
    std::thread::sleep(Duration::from_millis(500));
    let (status, out) = stop(&mut ws);
    assert!(status.success(), "wsscope exited with {status}");
    let events: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let texts: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "message" && e["opcode"] == "text")
        .map(|e| e["payload"]["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, ["hello over tls", "hi from server"], "{suite}: {out}");
    let tls = events.iter().find(|e| e["type"] == "tls").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(tls["tls"]["decryption"], "decrypted", "{tls}");
    assert_eq!(tls["tls"]["version"], version);
    assert_eq!(tls["tls"]["cipher_suite"], suite);
    assert_eq!(tls["tls"]["sni"], "localhost");
    // Nothing was given up waiting.
    assert!(!out.contains("tls_keys_late"), "{out}");
}

/// Whether `file` holds `needle` (the growing -w file, read as it is).
fn file_holds(file: &Path, needle: &[u8]) -> bool {
    std::fs::read(file).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
}

/// `-w FILE -U`, as tcpdump -U: each packet is in the file as soon as it is saved, while the
/// capture goes on and the interface never idles; without -U the same packet waits in a block
/// (at most about a second while the interface stays busy).
#[test]
fn packet_buffered_w_puts_each_packet_in_the_file_at_once() {
    if skip_live() {
        return;
    }
    for buffered in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("live.pcap");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        cmd.args(["streams", "-i", "lo", "-f", &format!("tcp port {port}"), "--duration", "30s"]);
        cmd.args(["-Z", "root", "-w"]).arg(&file);
        if buffered {
            cmd.arg("-U");
        }
        let mut child = start_listening(cmd);
        let server = drain_one(listener);
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"first-packet-marker").unwrap();
        // A packet every 20 ms for 1.5 s: the capture never idles for its 100 ms timeout.
        let mut seen_at = None;
        for i in 0..75u32 {
            std::thread::sleep(Duration::from_millis(20));
            c.write_all(format!("tick {i};").as_bytes()).unwrap();
            if seen_at.is_none() && file_holds(&file, b"first-packet-marker") {
                seen_at = Some(i);
            }
        }
        drop(c);
        server.join().unwrap();
        let (status, _) = stop(&mut child);
        assert!(status.success(), "{status}");
        if buffered {
            assert!(
                seen_at.is_some_and(|i| i < 25),
                "-U: the packet reached the file at {seen_at:?}"
            );
        } else {
            // Written in blocks: the file is brought up to date about once a second while the
            // capture stays busy, never at once.
            assert!(
                seen_at.is_none_or(|i| i >= 30),
                "without -U the packet reached the file at tick {seen_at:?}"
            );
        }
        assert!(
            file_holds(&file, b"first-packet-marker"),
            "the file holds every packet at the end"
        );
        assert!(file_holds(&file, b"tick 74;"));
    }
}

/// A live capture with a few packets now and then (one short session, then nothing): its events
/// come out while the capture runs, within a second or so, not when 64 packets have piled up or
/// the run stops; and the -w file (without -U) is brought up to date once the interface idles.
/// With one analysis thread and with workers.
#[test]
fn light_traffic_reaches_the_output_and_the_file_while_the_capture_runs() {
    if skip_live() {
        return;
    }
    for threads in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("light.pcap");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        cmd.args(["export", "-i", "lo", "-f", &format!("tcp port {port}"), "-j", threads])
            .args(["--format", "ndjson", "--duration", "60s", "-Z", "root", "-w"])
            .arg(&file);
        let mut child = start_listening(cmd);
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let server = std::thread::spawn(move || serve(listener.accept().unwrap().0));
        // About 14 packets: far fewer than a batch.
        let sent = session(port, 1, 2);
        server.join().unwrap();
        let done = std::time::Instant::now();
        let mut texts = Vec::new();
        while texts.len() < 2 && done.elapsed() < Duration::from_secs(5) {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else { continue };
            let l: serde_json::Value = serde_json::from_str(&line).unwrap();
            if l["type"] == "message" && l["direction"] == "client_to_server" {
                texts.push(l["payload"]["text"].as_str().unwrap().to_string());
            }
        }
        let still_running = child.try_wait().unwrap().is_none();
        let seen_after = done.elapsed();
        let mut in_file = false;
        while !in_file && done.elapsed() < Duration::from_secs(5) {
            in_file = file_holds(&file, sent[1].as_bytes());
            std::thread::sleep(Duration::from_millis(50));
        }
        let still_running_after_file = child.try_wait().unwrap().is_none();
        // SAFETY: kill(2) with the pid of our own child process.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(status.success(), "-j {threads}: {status}");
        assert!(still_running, "-j {threads}: the capture ended before its events came");
        assert_eq!(texts, sent, "-j {threads}: events seen {seen_after:?} after the traffic");
        assert!(seen_after < Duration::from_secs(3), "-j {threads}: {seen_after:?}");
        assert!(
            in_file && still_running_after_file,
            "-j {threads}: the -w file was not brought up to date while the capture ran"
        );
    }
}

/// GNU `timeout` (and CI runners cancelling a job) pass a signal on to wsscope and then to its
/// whole process group: wsscope gets it twice within microseconds. That is one request to stop,
/// not a second signal that kills at once: the report is written and the exit status is 0.
#[test]
fn a_signal_sent_twice_at_once_by_timeout_still_flushes_the_report() {
    if skip_live() {
        return;
    }
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let mut cmd = Command::new("timeout");
        cmd.args(["20", env!("CARGO_BIN_EXE_wsscope"), "report", "-i", "lo", "-f", "tcp port 9"])
            .args(["-Z", "root", "-o"])
            .arg(&out);
        let mut child = start_listening(cmd);
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: kill(2) with the pid of our own child (timeout, which passes it on).
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{status}");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(doc["inputs"].as_array().map(Vec::len), Some(1), "{doc}");
    }
}

/// `-w` keeps what the capture knows of its interfaces: a pcapng file names each one (`lo`
/// and `any` here, so that their packets can be told apart) with its snapshot length, and a
/// pcap file's header gives `-s`.
#[test]
fn w_files_name_their_interfaces_and_keep_the_snapshot_length() {
    use wsscope::capture::{FileSource, Next, PacketSource};
    if skip_live() {
        return;
    }
    for name in ["live.pcapng", "live.pcap"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        cmd.args(["streams", "-i", "lo", "-f", &format!("tcp port {port}"), "-s", "200"]);
        if name.ends_with(".pcapng") {
            cmd.args(["-i", "any"]);
        }
        cmd.args(["--duration", "30s", "-Z", "root", "-w"]).arg(&file);
        let mut child = start_listening(cmd);
        let server = drain_one(listener);
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(&[b'x'; 1000]).unwrap();
        drop(c);
        server.join().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (status, _) = stop(&mut child);
        assert!(status.success(), "{status}");
        let mut source = FileSource::open(&file, None).unwrap();
        let mut on = std::collections::BTreeSet::new();
        while let Next::Packet(p) = source.next_packet() {
            assert!(p.data.len() <= 200, "cut at -s 200");
            on.insert(p.iface.and_then(|i| i.name.clone()));
        }
        let ifaces = source.interfaces();
        if name.ends_with(".pcapng") {
            let named: Vec<_> = ifaces.iter().map(|i| (i.name.as_deref(), i.snaplen)).collect();
            assert_eq!(named, [(Some("lo"), 200), (Some("any"), 200)]);
            let want = [Some("any".to_string()), Some("lo".to_string())];
            assert_eq!(on.into_iter().collect::<Vec<_>>(), want, "packets of both interfaces");
        } else {
            assert_eq!(ifaces[0].snaplen, 200, "the pcap header's snapshot length");
        }
    }
}

/// A steady trickle of packets, never idle for the 100 ms read timeout and far fewer than
/// 1,024 a second, still gets a `stats` line about every second while it flows (through the
/// capture threads and their batches, with one analysis thread and with workers).
#[test]
fn a_steady_trickle_still_gets_stats_every_second() {
    if skip_live() {
        return;
    }
    for threads in ["1", "2"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        cmd.args(["export", "-i", "lo", "-f", &format!("tcp port {port}"), "-j", threads]);
        cmd.args(["--duration", "30s", "-Z", "root"]);
        let mut child = start_listening(cmd);
        let server = drain_one(listener);
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // 20 writes a second for 3.5 s (each a packet and its acknowledgment).
        for i in 0..70u32 {
            c.write_all(format!("tick {i};").as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(c);
        server.join().unwrap();
        let (status, out) = stop(&mut child);
        assert!(status.success(), "{status}");
        let elapsed: Vec<f64> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|l| l["type"] == "stats")
            .map(|l| l["elapsed"].as_f64().unwrap())
            .collect();
        // The traffic starts about when the capture does and lasts 3.5 s: lines near 1, 2 and
        // 3 s (they came at 1 s and then only when the traffic stopped).
        let during: Vec<_> = elapsed.iter().filter(|e| **e < 3.4).collect();
        assert!(during.len() >= 3, "-j {threads}: stats at {elapsed:?}");
        assert!(during.windows(2).all(|w| w[1] - w[0] < 1.5), "-j {threads}: {elapsed:?}");
    }
}
