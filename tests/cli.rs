//! The `wsscope` binary as a user meets it: errors that say what to do, exit codes, stdin,
//! stop conditions and byte dumps.

use crate::util::testdata;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_file_is_a_usage_error_naming_the_path() {
    let o = wsscope(&["streams", "/nonexistent/capture.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot open /nonexistent/capture.pcap"), "{}", stderr(&o));
}

/// An output in a directory that does not exist names the directory, for each flag.
#[test]
fn an_output_in_a_missing_directory_names_it() {
    let f = testdata("captures/real/node-basic.pcap");
    for flag in ["-o", "-w", "--junit"] {
        let o = wsscope(&["report", f.to_str().unwrap(), flag, "/nonexistent-dir/sub/out"]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(
            stderr(&o).contains("the directory /nonexistent-dir/sub does not exist: create it"),
            "{flag}: {}",
            stderr(&o)
        );
    }
}

/// Live options are checked before any interface is opened, each error saying what it takes.
#[test]
fn live_option_errors_say_what_the_option_takes() {
    let o = wsscope(&["report", "-i", "lo", "-B", "abc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("a bare number is KiB, as with tcpdump -B"), "{}", stderr(&o));
    let o = wsscope(&["report", "-i", "lo", "-s", "300000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("larger than the largest, 262144"), "{}", stderr(&o));
}

/// `--help` says one FILE (several with --join) for every command but `report`, and the parser
/// holds to it.
#[test]
fn commands_that_read_one_file_say_so() {
    let f = testdata("captures/real/node-basic.pcap");
    let f = f.to_str().unwrap();
    for cmd in [&["export"][..], &["streams"], &[]] {
        let help = wsscope(&[cmd, &["--help"]].concat());
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(help.contains("Several only with --join"), "{cmd:?}: {help}");
        let o = wsscope(&[cmd, &[f, f]].concat());
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        assert!(stderr(&o).contains("give --join to read several as one capture"), "{cmd:?}");
    }
    let help = wsscope(&["report", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("[FILE]..."));
}

#[test]
fn a_file_that_is_not_a_capture_says_so() {
    let readme = testdata("../README.md");
    let o = wsscope(&["streams", readme.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("README.md is text, not a capture"), "{}", stderr(&o));
}

/// A pcap variant with four more bytes in each record header (as Nokia IPSO's tcpdump wrote):
/// libpcap frames the first record and then reads packet bytes as the next header. The warning
/// names the likely cause and the conversion.
#[test]
fn a_pcap_variant_with_longer_record_headers_is_named_with_its_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("variant.pcap");
    let mut b = Vec::new();
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        b.extend_from_slice(&word.to_le_bytes());
    }
    for second in 1..4u32 {
        for word in [second, 0, 60, 60, 0] {
            b.extend_from_slice(&word.to_le_bytes());
        }
        b.extend_from_slice(&[0x41; 60]);
    }
    let (header, records) = b.split_at(24);
    std::fs::write(&path, &b).unwrap();
    let o = wsscope(&["report", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(
        err.contains("invalid packet capture length") && err.contains("editcap -F pcap"),
        "{err}"
    );
    // A file framed well for a while, then damaged, says only what libpcap says.
    let mut b = header.to_vec();
    for second in 1..6u32 {
        for word in [second, 0, 60, 60] {
            b.extend_from_slice(&word.to_le_bytes());
        }
        b.extend_from_slice(&[0x41; 60]);
    }
    b.extend_from_slice(records);
    std::fs::write(&path, &b).unwrap();
    let err = stderr(&wsscope(&["report", path.to_str().unwrap()]));
    assert!(err.contains("invalid packet capture length") && !err.contains("editcap"), "{err}");
}

/// A pcapng file with a section header and no interface (what `editcap -F pcapng` writes for a
/// pcap file without packets) is an empty capture, as tshark reads it, not a cut file.
#[test]
fn a_pcapng_file_that_describes_no_interface_is_an_empty_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pcapng");
    let mut b = Vec::new();
    for word in [0x0a0d_0d0au32, 28, 0x1a2b_3c4d, 1, u32::MAX, u32::MAX, 28] {
        b.extend_from_slice(&word.to_le_bytes());
    }
    std::fs::write(&path, &b).unwrap();
    let o = wsscope(&["report", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("the capture holds no packets"), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["inputs"][0]["link_type"], "none");
    assert_eq!(doc["inputs"][0]["end_of_input"]["kind"], "clean");
    // Cut inside its section header, it is still a cut file.
    std::fs::write(&path, &b[..20]).unwrap();
    let o = wsscope(&["report", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}

/// `report` writes JSON: the text view's --color, --time and -v would do nothing there, so it
/// does not take them (helper-52: accepted, and without effect).
#[test]
fn report_refuses_the_text_views_options() {
    let input = testdata("captures/real/py-basic.pcap");
    for flag in [&["--color", "always"][..], &["--time", "utc"], &["-v"]] {
        let mut args = vec!["report", input.to_str().unwrap()];
        args.extend(flag);
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(flag[0]), "{}", stderr(&o));
    }
    assert!(wsscope(&["report", input.to_str().unwrap(), "-q"]).status.success());
}

/// A file name that is not UTF-8 is read like any other (libpcap takes names as text: it said
/// "A null pointer was supplied as the file name").
#[test]
fn a_file_name_that_is_not_utf8_is_read() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff.pcap"));
    std::fs::copy(testdata("captures/real/py-basic.pcap"), &path).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope")).arg("report").arg(&path).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["summary"]["messages"], 17, "{}", doc["summary"]);
}

/// Usage errors helper-52 found unclear: standard input twice, a check code in capitals, a
/// policy size written as a fraction.
#[test]
fn usage_errors_say_what_is_wrong() {
    let input = testdata("captures/real/py-basic.pcap");
    let o = wsscope(&["report", "-", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it can be read only once"), "{}", stderr(&o));
    let o = wsscope(&["report", input.to_str().unwrap(), "--allow", "REQUEST_ORIGIN_MISSING"]);
    assert!(stderr(&o).contains("did you mean request_origin_missing?"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "max-message-bytes = 1.5\n").unwrap();
    let o = wsscope(&["report", input.to_str().unwrap(), "--policy", policy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected a size: a whole number of bytes"), "{}", stderr(&o));
}

#[test]
fn a_directory_is_refused() {
    let o = wsscope(&["streams", testdata("captures").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
}

#[test]
fn a_filter_that_does_not_compile_shows_libpcaps_message() {
    let f = testdata("captures/crafted/inorder.pcap");
    let o = wsscope(&["streams", f.to_str().unwrap(), "-f", "tcp portt 80"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid capture filter \"tcp portt 80\""), "{}", stderr(&o));
}

#[test]
fn an_unknown_interface_lists_the_real_ones() {
    let o = wsscope(&["streams", "-i", "no-such-if0"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("no interface named \"no-such-if0\""), "{e}");
    assert!(e.contains("lo"), "{e}");
}

#[test]
fn bad_limit_values_are_refused_with_examples() {
    let f = testdata("captures/crafted/inorder.pcap");
    let o = wsscope(&["streams", f.to_str().unwrap(), "--max-buffered-total", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a size (examples: 65536, 64K, 4M, 1G)"), "{}", stderr(&o));
}

#[test]
fn a_bpf_filter_selects_connections_as_in_tcpdump() {
    let f = testdata("captures/crafted/vlan.pcap");
    // Each `vlan` keyword steps over one tag: one for 802.1Q, two for QinQ.
    for (filter, client) in [
        ("vlan and host 10.0.0.1", "10.0.0.1:40000"),
        ("vlan and vlan and host 10.0.1.1", "10.0.1.1:40001"),
    ] {
        let o = wsscope(&["streams", f.to_str().unwrap(), "-f", filter, "--format", "json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let clients: Vec<&str> = doc["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client"].as_str().unwrap())
            .collect();
        assert_eq!(clients, vec![client], "filter {filter:?}");
    }
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let bytes = std::fs::read(testdata("captures/real/py-basic.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["streams", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["connections"].as_array().unwrap().len(), 1);
    assert_eq!(doc["input"], "-");
}

#[test]
fn count_stops_after_n_packets_and_still_reports() {
    let f = testdata("captures/crafted/inorder.pcap");
    let o = wsscope(&["streams", f.to_str().unwrap(), "-c", "5", "--format", "json"]);
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["packets"]["packets"], 5);
    assert_eq!(doc["connections"][0]["close"], "end_of_capture");
}

#[test]
fn a_run_stopped_before_the_end_of_its_file_says_so() {
    let f = testdata("captures/real/bad-accept.pcap");
    let end = |extra: &[&str]| {
        let mut args = vec!["report", f.to_str().unwrap(), "--fail-on", "never"];
        args.extend_from_slice(extra);
        let o = wsscope(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["inputs"][0]["end_of_input"].clone()
    };
    // Before, both were `clean`: a report cut short looked like one of the whole file.
    assert_eq!(end(&[])["kind"], "clean");
    let cut = end(&["-c", "5"]);
    assert_eq!(cut["kind"], "stopped", "{cut}");
    assert_eq!(cut["message"], "stopped at --count 5 after 5 packets");
    let text = wsscope(&["--text", f.to_str().unwrap(), "-c", "5"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("stopped at --count 5 after 5 packets"), "{text}");
}

#[test]
fn connections_a_limit_stopped_following_say_so_on_the_connection_and_on_stderr() {
    // Before: 0 messages of 50, exit 0, nothing on stderr and no finding that a limit acted.
    let f = testdata("captures/real/concurrent.pcap");
    let o = wsscope(&["report", f.to_str().unwrap(), "--max-connections", "1"]);
    assert_eq!(o.status.code(), Some(0), "a limit is a warning, not an error: {}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["summary"]["findings_by_code"]["connection_limit"], 5, "{}", doc["summary"]);
    assert!(
        stderr(&o).contains("53 connection(s) evicted while open at the connection limit"),
        "{}",
        stderr(&o)
    );
    let o = wsscope(&["--text", f.to_str().unwrap(), "--max-connections", "1"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("warning: 53 connection(s) evicted"));
}

#[test]
fn a_dash_is_standard_output_or_a_clear_refusal_never_a_file_named_dash() {
    let dir = tempfile::tempdir().unwrap();
    let f = testdata("captures/real/bad-accept.pcap");
    let f = f.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wsscope"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["report", f, "-o", "-", "--fail-on", "never"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema_version"], 2);
    let share = dir.path().join("share.json");
    let o = run(&["report", f, "--shard", "0/1", "-o", share.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = run(&["merge", share.to_str().unwrap(), "-o", "-"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok());
    // merge takes report's name for -o too.
    let merged = dir.path().join("merged.json");
    let o = run(&["merge", share.to_str().unwrap(), "--output-file", merged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(serde_json::from_slice::<serde_json::Value>(&std::fs::read(&merged).unwrap()).is_ok());
    let o = run(&["report", f, "--junit", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give the JUnit file a name"), "{}", stderr(&o));
    let o = run(&["report", f, "-w", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give -w a file name"), "{}", stderr(&o));
    assert!(!dir.path().join("-").exists(), "a file named - was written");
}

#[test]
fn write_dir_dumps_each_direction_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let f = testdata("captures/real/py-large.pcap");
    let o = wsscope(&["streams", f.to_str().unwrap(), "--write-dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("captures/real/py-large.truth.json")).unwrap(),
    )
    .unwrap();
    for d in ["client_to_server", "server_to_client"] {
        let bytes = std::fs::read(dir.path().join(format!("conn-1-{d}.bin"))).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            truth["connections"][0][d]["tcp_sha256"].as_str().unwrap()
        );
    }
}

#[test]
fn truncated_file_warns_and_reports_what_it_read() {
    let f = testdata("captures/crafted/truncated_file.pcap");
    let o = wsscope(&["streams", f.to_str().unwrap()]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("warning: input ended early"), "{out}");
    assert!(out.contains("8 packets"), "{out}");
    // The report says it on standard error too (in the JSON it is only a field), and the run
    // is not failed for it; -q keeps it quiet.
    let o = wsscope(&["report", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: the input ended early, everything before was analysed"));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["inputs"][0]["end_of_input"]["kind"], "truncated");
    let o = wsscope(&["report", "-q", f.to_str().unwrap()]);
    assert_eq!(stderr(&o), "");
}

#[test]
fn help_explains_the_streams_command_with_examples() {
    let o = wsscope(&["streams", "--help"]);
    let h = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "--write-dir",
        "--filter",
        "--max-connections",
        "[default: 4M]",
        "Examples:",
        "tcpdump -i lo -w -",
    ] {
        assert!(h.contains(needle), "--help lacks {needle:?}:\n{h}");
    }
}

#[test]
fn hitting_a_limit_is_reported() {
    let f = testdata("captures/crafted/reorder.pcap");
    let o = wsscope(&["streams", f.to_str().unwrap(), "--max-buffered-per-direction", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 gap(s) 45 B missing"), "{out}");
    assert!(out.contains("45 B arrived after being declared lost"), "{out}");
    assert!(out.contains("limits reached: 1 gap(s) forced by buffering limits"), "{out}");
}

/// Writes `bytes` to a file named `name` in `dir` and runs `wsscope streams` on it.
fn streams_on(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> Output {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    wsscope(&["streams", path.to_str().unwrap()])
}

#[test]
fn an_empty_file_asks_whether_the_capture_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let o = streams_on(&dir, "empty.pcap", b"");
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("empty.pcap is empty (0 bytes): was the capture stopped and flushed?"),
        "{e}"
    );
    assert!(e.contains("tcpdump -U"), "{e}");
}

#[test]
fn compressed_files_say_how_to_decompress_or_pipe_them() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = std::fs::read(testdata("captures/crafted/inorder.pcap")).unwrap();
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00];
    gz.extend(&pcap[..40]);
    for (name, bytes, format, cat) in [
        ("c.pcap.gz", gz, "gzip", "zcat"),
        ("c.pcap.bz2", b"BZh91AY&SY\x01\x02".to_vec(), "bzip2", "bzcat"),
        ("c.pcap.xz", b"\xfd7zXZ\x00\x00\x04".to_vec(), "xz", "xzcat"),
        ("c.pcap.zst", vec![0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00], "zstd", "zstdcat"),
    ] {
        let o = streams_on(&dir, name, &bytes);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(e.contains(&format!("{name} is {format}-compressed, not a capture")), "{e}");
        assert!(e.contains(&format!("`{cat} ")) && e.contains("| wsscope COMMAND -`"), "{e}");
    }
}

#[test]
fn a_capture_cut_inside_its_header_says_it_was_not_flushed_or_was_cut() {
    let dir = tempfile::tempdir().unwrap();
    let ng = std::fs::read(testdata("captures/crafted/pcapng.pcapng")).unwrap();
    let pcap = std::fs::read(testdata("captures/crafted/inorder.pcap")).unwrap();
    // Inside the section header block, inside the interface description block, inside the
    // classic file header.
    for (name, bytes, where_) in [
        ("shb.pcapng", &ng[..20], "(pcapng) truncated inside its section/interface header"),
        ("idb.pcapng", &ng[..40], "(pcapng) truncated inside its section/interface header"),
        ("header.pcap", &pcap[..10], "truncated inside its file header (10 of 24 bytes)"),
    ] {
        let o = streams_on(&dir, name, bytes);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(e.contains(where_), "{name}: {e}");
        assert!(e.contains("the capture was not flushed or the file was cut"), "{name}: {e}");
    }
}

#[test]
fn a_pcapng_cut_after_its_headers_is_read_up_to_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let ng = std::fs::read(testdata("captures/crafted/pcapng.pcapng")).unwrap();
    let o = streams_on(&dir, "cut.pcapng", &ng[..ng.len() - 30]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("warning: input ended early: pcapng: the file is cut inside a block"),
        "{out}"
    );
    assert!(out.contains(": 12 packets"), "{out}");
}

#[test]
fn printed_packets_are_text_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let text = "10:00:00.000001 IP 10.0.0.1.40000 > 10.0.0.2.8080: Flags [S], seq 268435456, win 64240, length 0\n";
    let o = streams_on(&dir, "capture.txt", text.as_bytes());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("capture.txt is text, not a capture (tcpdump or tshark output?)"), "{e}");
    assert!(e.contains("tcpdump -w FILE"), "{e}");
}

#[test]
fn other_binary_files_are_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let o = streams_on(&dir, "prog", &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("prog is not a pcap or pcapng capture"), "{}", stderr(&o));
}

#[test]
fn empty_standard_input_is_called_empty() {
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["streams", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("- is empty (0 bytes)"), "{}", stderr(&o));
}

#[test]
fn write_saves_the_packets_read_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("saved.pcap");
    let input = testdata("captures/real/py-basic.pcap");
    let o = wsscope(&["--text", "-w", out.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The same packets, whatever the file's precision: the same streams.
    let a = wsscope(&["streams", "--format", "json", input.to_str().unwrap()]);
    let b = wsscope(&["streams", "--format", "json", out.to_str().unwrap()]);
    let strip = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .replace(input.to_str().unwrap(), "")
            .replace(out.to_str().unwrap(), "")
    };
    assert_eq!(strip(&a), strip(&b));
    let before = std::fs::read(&out).unwrap();
    let o = wsscope(&["report", "-w", out.to_str().unwrap(), input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("the file exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), before, "an existing file is never overwritten");
    let o = wsscope(&["streams", "-w", "/nonexistent-dir/x.pcap", input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "an unwritable path is an error");
}

/// A pcap copy's header keeps the input's snapshot length, whichever reader read the input:
/// ours (a file), libpcap (standard input, or a filter).
#[test]
fn write_keeps_the_snapshot_length_of_any_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata("captures/real/py-basic.pcap")).unwrap();
    bytes[16..20].copy_from_slice(&65_000u32.to_le_bytes());
    let input = dir.path().join("snap.pcap");
    std::fs::write(&input, &bytes).unwrap();
    let snaplen = |f: &std::path::Path| {
        let h = std::fs::read(f).unwrap();
        u32::from_le_bytes(h[16..20].try_into().unwrap())
    };
    let file = dir.path().join("file.pcap");
    let o = wsscope(&["report", "-q", "-w", file.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(snaplen(&file), 65_000);
    let filtered = dir.path().join("filtered.pcap");
    let args = ["report", "-q", "-f", "tcp", "-w", filtered.to_str().unwrap()];
    let o = wsscope(&[&args[..], &[input.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(snaplen(&filtered), 65_000);
    let piped = dir.path().join("piped.pcap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", "-q", "-w", piped.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(snaplen(&piped), 65_000, "standard input, read by libpcap");
    assert_eq!(std::fs::read(&piped).unwrap(), std::fs::read(&file).unwrap());
    // The input's timestamps are microseconds: so are the copy's (its magic), and a report of
    // the copy is the input's, to the same decimals (helper-33, helper-35: 9 digits where the
    // input had 6), whether the input was a file or standard input.
    assert_eq!(&std::fs::read(&file).unwrap()[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let report = |f: &std::path::Path| {
        let o = wsscope(&["report", "--fail-on", "never", f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        let name = f.to_str().unwrap();
        text.replace(&format!("\"name\": \"{name}\""), "\"name\": \"-\"")
    };
    assert!(report(&input).contains("\"start_utc\": \"2"));
    assert_eq!(report(&file), report(&input));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", "--fail-on", "never", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), report(&input), "read from standard input");
    // Standard input redirected from the file (libpcap reads it directly; helper-36).
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["report", "--fail-on", "never", "-"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), report(&input), "standard input from a file");
}

/// A pcapng copy keeps the input's TLS secrets (Decryption Secrets Blocks), where they were and
/// at the start of each rotated file: each decrypts as the input does. A pcap file cannot hold
/// them.
#[test]
fn write_pcapng_keeps_the_inputs_tls_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/tls/tls13-dsb.pcapng");
    let decrypted = |f: &std::path::Path| {
        let o = wsscope(&["report", "-q", "--fail-on", "never", f.to_str().unwrap()]);
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        r["summary"]["tls_decrypted"].as_u64().unwrap()
    };
    let whole = decrypted(&input);
    assert!(whole > 0);
    for (name, want) in [("copy.pcapng", whole), ("copy.pcap", 0)] {
        let out = dir.path().join(name);
        let args = ["report", "-q", "-w", out.to_str().unwrap(), input.to_str().unwrap()];
        assert!(wsscope(&args).status.success());
        assert_eq!(decrypted(&out), want, "{name}");
    }
    // Rotated: every file starts with the secrets.
    let out = dir.path().join("r.pcapng");
    let o = wsscope(&[
        "report",
        "-q",
        "-w",
        out.to_str().unwrap(),
        "-C",
        "4K",
        input.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let last = wsscope::capture::numbered(&out, 3);
    assert!(last.exists(), "several files");
    // The secrets a file starts with do not count toward -C: files of several packets each,
    // not one per packet (58 packets).
    assert!(!wsscope::capture::numbered(&out, 8).exists(), "one file per packet");
    let bytes = std::fs::read(&last).unwrap();
    let tlsk = 0x544c_534bu32.to_ne_bytes();
    assert!(bytes.windows(4).any(|w| w == tlsk), "the fourth file holds the secrets too");
}

#[test]
fn the_memory_budget_has_a_floor_and_quiet_connections_a_none() {
    let capture = "testdata/captures/real/py-basic.pcap";
    let o = wsscope(&["report", "--memory-budget", "1M", capture]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--memory-budget") && stderr(&o).contains("16M"), "{}", stderr(&o));
    let o = wsscope(&["report", "--memory-budget", "lots", capture]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a size"), "{}", stderr(&o));
    for idle in ["none", "off", "30s"] {
        let o = wsscope(&["report", "--idle-timeout", idle, capture]);
        assert_eq!(o.status.code(), Some(0), "--idle-timeout {idle}: {}", stderr(&o));
    }
    // The budget is in the report, and the run that fits says nothing about it.
    let o = wsscope(&["report", "--memory-budget", "64M", capture]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["inputs"][0]["memory"]["budget"], 64 << 20);
    assert_eq!(r["inputs"][0]["memory"]["level"], "normal");
    assert!(!stderr(&o).contains("memory budget"), "{}", stderr(&o));
}

// ── -w: formats and rotation (-C, -G, -W) ───────────────────────────────────────────────────

/// A packet as read back: (ns, wire length, bytes, link type).
type Saved = (i64, u32, Vec<u8>, u32);

/// Every packet of a capture file, read by wsscope's own readers (and, for a file of one link
/// type, checked against libpcap's reading).
fn packets_of(path: &std::path::Path) -> Vec<Saved> {
    use wsscope::capture::{EndOfInput, FileSource, Next, PacketSource};
    let read = |mut s: FileSource| {
        let mut out = Vec::new();
        loop {
            match s.next_packet() {
                Next::Packet(p) => {
                    out.push((p.ts.as_nanos(), p.wire_len, p.data.to_vec(), p.link.0));
                }
                Next::Timeout => {}
                Next::End(e) => {
                    assert_eq!(e, EndOfInput::Clean, "{}", path.display());
                    return out;
                }
            }
        }
    };
    let ours = read(FileSource::open(path, None).unwrap());
    let links: std::collections::BTreeSet<u32> = ours.iter().map(|p| p.3).collect();
    if links.len() == 1 {
        assert_eq!(read(FileSource::open_libpcap(path, None).unwrap()), ours, "{}", path.display());
    }
    ours
}

/// The files a rotation of `dir/base` wrote, in order (`ws.pcap`, `ws.1.pcap`, …), with their
/// numbers; fails on any other file in `dir`.
fn rotated(dir: &std::path::Path, base: &str) -> Vec<(u64, std::path::PathBuf)> {
    let (stem, ext) = base.split_once('.').unwrap();
    let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            let n = if name == base {
                0
            } else {
                let n = name.strip_prefix(&format!("{stem}."));
                let n = n.and_then(|n| n.strip_suffix(&format!(".{ext}")));
                n.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("unexpected file {name}"))
            };
            (n, p)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn write_rotates_by_size_into_numbered_files_that_together_hold_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/real/py-basic.pcap");
    let out = dir.path().join("ws.pcap");
    let o = wsscope(&["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap(), "-C", "1K"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = rotated(dir.path(), "ws.pcap");
    let numbers: Vec<u64> = files.iter().map(|f| f.0).collect();
    assert_eq!(numbers, (0..files.len() as u64).collect::<Vec<_>>());
    assert!(files.len() >= 4, "{files:?}");
    assert!(files[1].1.ends_with("ws.1.pcap"), "{files:?}");
    let mut all = Vec::new();
    for (_, f) in &files {
        let packets = packets_of(f);
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size <= 1024 || packets.len() == 1, "{}: {size} bytes", f.display());
        assert!(!packets.is_empty(), "{}", f.display());
        all.extend(packets);
    }
    assert_eq!(all, packets_of(&input));
    // A bare number is millions of bytes (tcpdump's unit): one file.
    let out = dir.path().join("one.pcap");
    let o = wsscope(&["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap(), "-C", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(packets_of(&out), packets_of(&input));
    assert!(!dir.path().join("one.1.pcap").exists());
}

#[test]
fn a_rotation_refuses_an_earlier_runs_pieces_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/real/py-basic.pcap");
    let out = dir.path().join("ws.pcap");
    let old = dir.path().join("ws.3.pcap");
    std::fs::write(&old, b"an earlier run's piece").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let report = elsewhere.path().join("r.json");
    let args = |force: bool| {
        let mut a = vec!["report", input.to_str().unwrap(), "-w", out.to_str().unwrap()];
        a.extend(["-C", "1K", "-W", "2", "-o", report.to_str().unwrap()]);
        a.extend(force.then_some("--force"));
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let refused = wsscope(&args(false).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(refused.status.code(), Some(2));
    let err = stderr(&refused);
    assert!(err.contains("ws.3.pcap exists") && err.contains("--force"), "{err}");
    // Refused before anything was written or removed.
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from("ws.3.pcap")]);
    assert_eq!(std::fs::read(&old).unwrap(), b"an earlier run's piece");
    // With --force the rotation replaces it when it comes to its name.
    let o = wsscope(&args(true).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(report.exists());
    assert_eq!(rotated(dir.path(), "ws.pcap").len(), 2);
    assert_ne!(std::fs::read(&old).ok().as_deref(), Some(&b"an earlier run's piece"[..]));
}

#[test]
fn a_write_that_fails_halfway_still_leaves_the_report_of_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    // Larger than -w's 64 KiB buffer: the first flush to /dev/full fails, mid-capture.
    let input = testdata("captures/real/py-large.pcap");
    let report = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let o = wsscope(&[
        "report",
        input.to_str().unwrap(),
        "-w",
        "/dev/full",
        "-o",
        report.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("reading stopped early because of the error below")
            && err.contains("/dev/full"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let end = &doc["inputs"][0]["end_of_input"];
    assert_eq!(end["kind"], "truncated", "{end}");
    assert!(end["message"].as_str().unwrap().contains("/dev/full"), "{end}");
    let read = doc["summary"]["packets"].as_u64().unwrap();
    let all = packets_of(&input).len() as u64;
    assert!(read > 0 && read < all, "{read} of {all} packets");
    // The report says the run failed, as the exit status does.
    assert_eq!(doc["exit"]["status"], 2, "{}", doc["exit"]);
    assert!(doc["exit"]["error"].as_str().unwrap().contains("/dev/full"), "{}", doc["exit"]);
    let reasons = doc["exit"]["reasons"].to_string();
    assert!(reasons.contains("the run failed before its input ended"), "{reasons}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("the input was read to its end") && xml.contains("run_failed"), "{xml}");
    // Shares that failed so (at the same packet: -w saves every share's packets) merge into a
    // report that fails the same way.
    let share = |i: &str, extra: &[&str]| {
        let out = dir.path().join(format!("s{i}.json"));
        let shard = format!("{i}/2");
        let mut args = vec!["report", input.to_str().unwrap(), "--shard", &shard];
        args.extend(["-o", out.to_str().unwrap()]);
        args.extend(extra);
        wsscope(&args);
        out
    };
    let (s0, s1) = (share("0", &["-w", "/dev/full"]), share("1", &["-w", "/dev/full"]));
    let merged = dir.path().join("m.json");
    let o = wsscope(&[
        "merge",
        s0.to_str().unwrap(),
        s1.to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("/dev/full"), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_eq!(m["exit"]["status"], 2, "{}", m["exit"]);
    // export writes its summary the same way, and fails the same way.
    let o = wsscope(&["export", input.to_str().unwrap(), "-w", "/dev/full"]);
    assert_eq!(o.status.code(), Some(2));
    let last = String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default().to_string();
    assert!(last.contains("\"type\":\"summary\"") && last.contains("truncated"), "{last}");
    // So does streams.
    let o = wsscope(&["streams", "--format", "json", input.to_str().unwrap(), "-w", "/dev/full"]);
    assert_eq!(o.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["end_of_input"]["kind"], "truncated", "{doc}");
}

#[test]
fn write_rotates_by_packet_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/real/py-basic.pcap");
    let out = dir.path().join("ws.pcap");
    let o = wsscope(&["report", input.to_str().unwrap(), "-w", out.to_str().unwrap(), "-G", "1ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = rotated(dir.path(), "ws.pcap");
    assert!(files.len() >= 3, "{files:?}");
    let mut all: Vec<Saved> = Vec::new();
    for (_, f) in &files {
        let packets = packets_of(f);
        let first = packets[0].0;
        // Each file spans less than 1 ms from its first packet; the next file's first packet
        // is 1 ms or more after the previous file's first.
        assert!(packets.iter().all(|p| p.0 - first < 1_000_000), "{}", f.display());
        all.extend(packets);
    }
    let starts: Vec<i64> = files.iter().map(|(_, f)| packets_of(f)[0].0).collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] >= 1_000_000), "{starts:?}");
    assert_eq!(all, packets_of(&input));
    // The same cut every time: packet time, not the wall clock.
    let again = tempfile::tempdir().unwrap();
    let o = wsscope(&[
        "report",
        input.to_str().unwrap(),
        "-w",
        again.path().join("ws.pcap").to_str().unwrap(),
        "-G",
        "0.001",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sizes = |d: &std::path::Path| -> Vec<u64> {
        rotated(d, "ws.pcap").iter().map(|(_, f)| std::fs::metadata(f).unwrap().len()).collect()
    };
    assert_eq!(sizes(dir.path()), sizes(again.path()));
}

// ── --join: several files as one capture ────────────────────────────────────────────────────

/// `report`'s connections, summary and TLS rows, and its exit status.
fn report_of(args: &[&str]) -> (serde_json::Value, Option<i32>, String) {
    let mut all = vec!["report", "--fail-on", "info"];
    all.extend_from_slice(args);
    let o = wsscope(&all);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{args:?}: {e}: {}", stderr(&o));
    });
    let rows = serde_json::json!([doc["connections"], doc["summary"], doc["tls"]]);
    (rows, o.status.code(), stderr(&o))
}

/// The events of `export`, without the `begin` and `summary` lines (they name the input).
fn events_of(args: &[&str]) -> Vec<String> {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let o = wsscope(&all);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let events = text
        .lines()
        .filter(|l| !l.starts_with(r#"{"type":"begin""#) && !l.starts_with(r#"{"type":"summary""#));
    events.map(str::to_string).collect()
}

#[test]
fn rotated_pieces_read_with_join_are_the_whole_capture_and_read_apart_say_so() {
    for (name, rotate) in [
        ("captures/real/concurrent.pcap", "2K"),
        ("captures/real/chromium-deflate.pcap", "1K"),
        ("captures/crafted/multilink.pcapng", "1K"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let input = testdata(name);
        let ext = if name.ends_with(".pcapng") { "pcapng" } else { "pcap" };
        let base = format!("ws.{ext}");
        let out = dir.path().join(&base);
        let o = wsscope(&[
            "streams",
            input.to_str().unwrap(),
            "-w",
            out.to_str().unwrap(),
            "-C",
            rotate,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // Named newest first, as a careless glob may: the packets still come in time order.
        let mut pieces: Vec<String> = rotated(dir.path(), &base)
            .into_iter()
            .map(|(_, p)| p.to_str().unwrap().to_string())
            .collect();
        assert!(pieces.len() >= 3, "{name}: {pieces:?}");
        pieces.reverse();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let whole = report_of(&[input.to_str().unwrap()]);
        let mut joined = vec!["--join"];
        joined.extend(&pieces);
        let (rows, status, _) = report_of(&joined);
        assert_eq!((&rows, status), (&whole.0, whole.1), "{name}");
        assert_eq!(events_of(&joined), events_of(&[input.to_str().unwrap()]), "{name}");
        // -j 2 reads the joined input as one thread does.
        let mut sharded = joined.clone();
        sharded.extend(["-j", "2"]);
        assert_eq!(report_of(&sharded).0, whole.0, "{name}");
        // -w with --join writes the merged capture: the original's packets.
        let merged = dir.path().join(format!("merged.{ext}"));
        let mut write = vec!["streams"];
        write.extend(&joined);
        write.extend(["-w", merged.to_str().unwrap()]);
        let o = wsscope(&write);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(packets_of(&merged), packets_of(&input), "{name}");
        // Read apart, connections are cut at each file's end, and a note says what to do.
        let (apart, _, err) = report_of(&pieces);
        assert_ne!(apart, whole.0, "{name}");
        assert!(err.contains("--join reads them as one capture"), "{name}: {err}");
    }
}

#[test]
fn two_taps_one_per_direction_joined_give_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/real/concurrent.pcap");
    let tap = |filter: &str, file: &str| {
        let out = dir.path().join(file);
        let o = wsscope(&[
            "streams",
            input.to_str().unwrap(),
            "-f",
            filter,
            "-w",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        out.to_str().unwrap().to_string()
    };
    let server = tap("tcp src port 19011", "server.pcap");
    let client = tap("tcp dst port 19011", "client.pcap");
    let (rows, status, _) = report_of(&["--join", &server, &client]);
    let whole = report_of(&[input.to_str().unwrap()]);
    assert_eq!(rows["summary"], whole.0["summary"]);
    assert_eq!(rows[1]["messages"], 50);
    assert_eq!(status, whole.1);
    // Apart, each tap holds one side: the clients' messages are lost, and the requests are
    // reported missing from the server's.
    let (apart, _, _) = report_of(&[&server, &client]);
    assert_eq!(apart[1]["messages"], 25);
    assert_eq!(apart[1]["findings_by_code"]["handshake_request_not_seen"], 5);
}

#[test]
fn standard_input_is_joined_once_at_most() {
    let o = wsscope(&["--join", "-", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("standard input (-) can be given once"), "{}", stderr(&o));
}

#[test]
fn file_count_keeps_the_last_files_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/real/py-basic.pcap");
    let out = dir.path().join("ws.pcap");
    let args = ["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap(), "-C", "1K"];
    let o = wsscope(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = rotated(dir.path(), "ws.pcap");
    let everything: Vec<Saved> = all.iter().flat_map(|(_, f)| packets_of(f)).collect();
    let tail: Vec<Saved> = all[all.len() - 2..].iter().flat_map(|(_, f)| packets_of(f)).collect();
    let kept = tempfile::tempdir().unwrap();
    // A file the run does not write is left alone.
    std::fs::write(kept.path().join("notes.txt"), "mine").unwrap();
    let out = kept.path().join("ws.pcap");
    let o = wsscope(&[
        "streams",
        input.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
        "-C",
        "1K",
        "-W",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(kept.path().join("notes.txt")).unwrap();
    let files = rotated(kept.path(), "ws.pcap");
    let numbers: Vec<u64> = files.iter().map(|f| f.0).collect();
    assert_eq!(numbers, [all.len() as u64 - 2, all.len() as u64 - 1], "the last two, numbered on");
    let got: Vec<Saved> = files.iter().flat_map(|(_, f)| packets_of(f)).collect();
    assert_eq!(got, tail);
    assert_eq!(everything, packets_of(&input));
}

#[test]
fn an_existing_rotated_file_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/real/py-basic.pcap");
    let out = dir.path().join("ws.pcap");
    let second = dir.path().join("ws.1.pcap");
    std::fs::write(&second, "not mine").unwrap();
    let args = ["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap(), "-C", "1K"];
    // Refused at the start (before: when the rotation came to it, halfway through the input).
    for cmd in ["streams", "export"] {
        let mut a = args.to_vec();
        a[0] = cmd;
        let o = wsscope(&a);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(e.contains(&format!("{} exists", second.display())), "{e}");
        assert!(o.stdout.is_empty(), "{cmd}: {}", String::from_utf8_lossy(&o.stdout));
        assert!(!out.exists(), "{cmd}");
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "not mine");
    }
    // --force replaces it.
    let mut forced = args.to_vec();
    forced.push("--force");
    let o = wsscope(&forced);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: Vec<Saved> =
        rotated(dir.path(), "ws.pcap").iter().flat_map(|(_, f)| packets_of(f)).collect();
    assert_eq!(all, packets_of(&input));
}

#[test]
fn a_pcapng_name_keeps_every_link_type_and_a_pcap_name_is_refused_for_several() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("captures/crafted/multilink.pcapng");
    let expected = packets_of(&input);
    let links: std::collections::BTreeSet<u32> = expected.iter().map(|p| p.3).collect();
    assert_eq!(links.len(), 2, "the input has two link types");
    let out = dir.path().join("ws.pcapng");
    let o = wsscope(&["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(&std::fs::read(&out).unwrap()[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    assert_eq!(packets_of(&out), expected);
    // Rotated: each file describes the link types it needs.
    let rot = tempfile::tempdir().unwrap();
    let out = rot.path().join("ws.pcapng");
    let o = wsscope(&["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap(), "-C", "1K"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = rotated(rot.path(), "ws.pcapng");
    assert!(files.len() >= 2 && files[1].1.ends_with("ws.1.pcapng"), "{files:?}");
    let all: Vec<Saved> = files.iter().flat_map(|(_, f)| packets_of(f)).collect();
    assert_eq!(all, expected);
    // A pcap file holds one link type: refused before anything is written, saying what to do.
    let out = dir.path().join("ws.pcap");
    let o = wsscope(&["streams", input.to_str().unwrap(), "-w", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("name the file .pcapng to keep them all"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn rotation_flags_need_w_and_each_other_and_sensible_values() {
    let input = testdata("captures/real/py-basic.pcap");
    let i = input.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("ws.pcap");
    let w = w.to_str().unwrap();
    for (args, message) in [
        (vec!["-C", "1"], "-C rotates the files of -w: add -w FILE"),
        (vec!["-G", "60", "-W", "3"], "-G, -W rotate the files of -w: add -w FILE"),
        (vec!["-w", w, "-W", "3"], "-W COUNT keeps the last COUNT files of a rotation"),
        (vec!["-w", w, "-C", "0"], "-C must be more than 0 bytes"),
        (vec!["-w", w, "-C", "lots"], "a bare number is millions of bytes"),
        (vec!["-w", w, "-G", "0s"], "-G must be more than 0 seconds"),
        (vec!["-w", w, "-C", "1", "-W", "0"], "-W must be at least 1"),
        (vec!["-w", "/dev/null", "-C", "1"], "not the device /dev/null"),
    ] {
        let mut all = vec!["streams", i];
        all.extend(&args);
        let o = wsscope(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

/// `--max-resync` is a size of at least 16K (a search keeps a quarter of it, which must hold a
/// header and the 4 KiB of a text frame it checks) and at most 64M (100G was accepted); a larger
/// one finds the same frames.
#[test]
fn max_resync_takes_a_size_of_at_least_16k() {
    let f = testdata("captures/cases/late_start.pcap");
    let f = f.to_str().unwrap();
    for (value, message) in [
        ("1K", "--max-resync must be at least 16K"),
        ("100G", "--max-resync must be at most 64M"),
        ("lots", "max-resync"),
    ] {
        let o = wsscope(&["report", f, "--max-resync", value]);
        assert_eq!(o.status.code(), Some(2), "{value}");
        assert!(stderr(&o).contains(message), "{value}: {}", stderr(&o));
    }
    let messages = |extra: &[&str]| {
        let o = wsscope(&[&["export", f, "--format", "ndjson"][..], extra].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("\"message\"")).count()
    };
    let n = messages(&[]);
    assert!(n > 0);
    assert_eq!(messages(&["--max-resync", "4M"]), n);
}

#[test]
fn a_write_error_ends_the_run_with_status_2() {
    let input = testdata("captures/real/py-basic.pcap");
    let o = wsscope(&["streams", input.to_str().unwrap(), "-w", "/dev/full"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot write -w /dev/full: No space left"), "{}", stderr(&o));
}

/// A share's NDJSON and text view say they cover one share: its connections alone look like a
/// capture missing most of them otherwise.
#[test]
fn a_share_says_it_is_one() {
    let f = "testdata/captures/real/concurrent.pcap";
    let o = wsscope(&["export", f, "--shard", "1/3", "--format", "ndjson"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["shard"], serde_json::json!({"index": 1, "count": 3}));
    let o = wsscope(&["export", f, "--format", "ndjson"]);
    let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_string();
    assert!(!first.contains("shard"), "{first}");
    // One JSON document says it too.
    let o = wsscope(&["export", f, "--shard", "2/3", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["shard"], serde_json::json!({"index": 2, "count": 3}));
    let o = wsscope(&["export", f, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc.get("shard").is_none());
    let o = wsscope(&[f, "--shard", "0/2"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("share 0 of 2 (--shard 0/2)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// A share out of range gets the flag's own message, a negative one too (clap took `-1` for a
/// flag: "unexpected argument '-1'", and a tip to write `-- -1`).
#[test]
fn a_bad_share_says_how_to_give_one() {
    let f = "testdata/captures/real/concurrent.pcap";
    for (share, says) in [
        ("-1/3", "give I/N, share I of N counted from 0"),
        ("3/3", "share I must be below N"),
        ("1/0", "must be at least 1"),
        ("1-3", "give I/N"),
    ] {
        let o = wsscope(&["report", f, "--shard", share]);
        assert_eq!(o.status.code(), Some(2), "{share}");
        assert!(stderr(&o).contains(says), "{share}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("--shard {share:?}")), "{share}: {}", stderr(&o));
    }
}

/// The child may hold at most 64 descriptors open.
fn at_most_64_open_files(c: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit(2) is async-signal-safe; only the child's limit changes.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Hundreds of rotated capture files read apart (`report dir/*.pcap`): each is checked when the
/// run begins, then closed until its turn. They were all held open (two descriptors and up to
/// 1 MiB each), and past about 500 files the run failed with "Too many open files" under the
/// usual limit of 1024 descriptors; here the limit is 64 for 150 files.
#[test]
fn many_inputs_are_read_under_a_small_limit_of_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = testdata("captures/real/node-basic.pcap");
    let mut files = Vec::new();
    for i in 0..150 {
        let f = dir.path().join(format!("piece{i:03}.pcap"));
        std::fs::copy(&src, &f).unwrap();
        files.push(f.to_str().unwrap().to_string());
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    c.args(["report", "--quiet", "--fail-on", "never"]).args(&files);
    at_most_64_open_files(&mut c);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["inputs"].as_array().unwrap().len(), 150);
    let one = wsscope(&["report", "--quiet", src.to_str().unwrap()]);
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    let per_file = one["summary"]["websocket_connections"].as_u64().unwrap();
    assert!(per_file > 0);
    assert_eq!(doc["summary"]["websocket_connections"].as_u64().unwrap(), 150 * per_file);
}

/// `streams --format json` writes each connection when it closes (memory does not grow with
/// the capture) and the run's counters at the end: one document, serde_json's pretty text.
#[test]
fn streams_json_is_one_pretty_document_written_as_connections_close() {
    for cap in ["captures/real/py-close-codes.pcap", "captures/real/node-basic.pcap"] {
        let f = testdata(cap);
        let o = wsscope(&["streams", "--format", "json", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        assert!(pretty.as_bytes() == o.stdout, "{cap}: not serde_json's pretty text");
        let text = wsscope(&["streams", f.to_str().unwrap()]);
        let closed =
            String::from_utf8_lossy(&text.stdout).lines().filter(|l| l.contains(" close")).count();
        assert_eq!(doc["connections"].as_array().unwrap().len(), closed, "{cap}");
        assert_eq!(doc["input"], f.to_str().unwrap());
        assert!(doc["packets"]["packets"].as_u64().unwrap() > 0, "{cap}: the counters follow");
    }
}

/// `streams --write-dir` on a capture with more connections open at once than it may hold
/// files open: each stream's file is closed and opened again as its bytes come (it failed with
/// "Too many open files" past ~500 open connections under the usual limit of 1024). Under a
/// limit of 64 descriptors, the files are those of a run without the limit, byte for byte.
#[test]
fn write_dir_keeps_a_bounded_number_of_files_open() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("open.pcap");
    let opts = crate::gen_bulk::Options {
        concurrency: Some(200),
        ..crate::gen_bulk::Options::new(2_000_000)
    };
    crate::gen_bulk::generate(&cap, &opts).unwrap();
    let (free, limited) = (dir.path().join("free"), dir.path().join("limited"));
    let o = wsscope(&["streams", cap.to_str().unwrap(), "--write-dir", free.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsscope"));
    c.args(["streams", cap.to_str().unwrap(), "--write-dir", limited.to_str().unwrap()]);
    at_most_64_open_files(&mut c);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files = |d: &std::path::Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (files(&free), files(&limited));
    assert!(a.len() > 200, "{} files", a.len());
    assert!(a == b, "the files differ under the limit");
}
