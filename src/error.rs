//! Errors of the tool itself (not findings about the traffic). Each says what to do about it.

use crate::packet::LinkType;
use std::path::PathBuf;

/// A failure that stops wsscope (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file could not be opened.
    #[error("cannot open {}: {source}", crate::term::path(path))]
    Open {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The input is a directory.
    #[error("{} is a directory; give a pcap or pcapng file", crate::term::path(path))]
    IsADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The input file is empty.
    #[error(
        "{} is empty (0 bytes): was the capture stopped and flushed? A capture killed before it wrote its buffer leaves an empty file: stop tcpdump with Ctrl-C, or have it write each packet as it comes (`tcpdump -U -w FILE`)",
        crate::term::path(path)
    )]
    EmptyCapture {
        /// The path.
        path: PathBuf,
    },
    /// The input is a compressed file.
    #[error(
        "{} is {format}-compressed, not a capture: decompress it (`{cat} {} > capture.pcap`) or pipe it (`{cat} {} | wsscope COMMAND -`)",
        crate::term::path(path),
        crate::term::path(path),
        crate::term::path(path)
    )]
    Compressed {
        /// The path.
        path: PathBuf,
        /// gzip, bzip2, xz, zstd.
        format: &'static str,
        /// The command that decompresses to standard output.
        cat: &'static str,
    },
    /// The input is a capture cut inside its first header.
    #[error(
        "{} is a capture file {detail}: the capture was not flushed or the file was cut (copied while still being written?); let the capture finish (tcpdump writes its buffer on Ctrl-C, or each packet with -U) or copy the file again",
        crate::term::path(path)
    )]
    TruncatedHeader {
        /// The path.
        path: PathBuf,
        /// Where it is cut.
        detail: String,
    },
    /// The input is text, not packets.
    #[error(
        "{} is text, not a capture (tcpdump or tshark output?): save the packets themselves with `tcpdump -w FILE` or `tshark -w FILE`, not what they print",
        crate::term::path(path)
    )]
    TextNotCapture {
        /// The path.
        path: PathBuf,
    },
    /// The input is not a capture file libpcap can read.
    #[error(
        "{} is not a pcap or pcapng capture ({message}); convert it with `editcap -F pcap IN OUT` or check the path",
        crate::term::path(path)
    )]
    NotACapture {
        /// The path.
        path: PathBuf,
        /// libpcap's message.
        message: String,
    },
    /// The capture's link type is not decoded by wsscope.
    #[error(
        "{input}: link type {link} is not supported; supported: Ethernet (with VLAN tags), Linux cooked v1/v2, BSD loopback, raw IP"
    )]
    UnsupportedLinkType {
        /// File or interface.
        input: String,
        /// The link type.
        link: LinkType,
    },
    /// The BPF filter did not compile.
    #[error("invalid capture filter {filter:?}: {message}")]
    Filter {
        /// The filter text.
        filter: String,
        /// libpcap's message.
        message: String,
    },
    /// No permission to capture.
    #[error(
        "no permission to capture on {interface} ({message}); run with sudo, or grant the binary the capabilities once: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v wsscope)"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// libpcap's message.
        message: String,
    },
    /// The interface does not exist.
    #[error("no interface named {name:?}; available: {}", if available.is_empty() { "none found (are you allowed to capture?)".to_string() } else { available.join(", ") })]
    UnknownInterface {
        /// What was asked for.
        name: String,
        /// What exists.
        available: Vec<String>,
    },
    /// Another libpcap failure.
    #[error("capture error on {input}: {message}")]
    Capture {
        /// File or interface.
        input: String,
        /// libpcap's message.
        message: String,
    },
    /// Writing output failed.
    #[error("cannot write {what}: {source}")]
    Output {
        /// What was being written.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// An output would write over an input of the run.
    #[error(
        "{flag} {}: that is {input} (the same file); wsscope never writes over its input, with or without --force: choose another name",
        crate::term::path(path)
    )]
    OutputIsInput {
        /// The flag naming the output.
        flag: &'static str,
        /// The output's path.
        path: PathBuf,
        /// The input it is.
        input: Box<str>,
    },
    /// Two outputs of the run name one file.
    #[error(
        "{flag} {}: the same file as {other}; give each output its own name",
        crate::term::path(path)
    )]
    OutputTwice {
        /// The flag naming the output.
        flag: &'static str,
        /// The output's path.
        path: PathBuf,
        /// The other output.
        other: Box<str>,
    },
    /// The output exists.
    #[error(
        "{flag} {}: the file exists; add --force to replace it (atomically, when the new one is complete), or choose another name",
        crate::term::path(path)
    )]
    OutputExists {
        /// The flag naming the output.
        flag: &'static str,
        /// The output's path.
        path: PathBuf,
    },
    /// The output is a symbolic link.
    #[error(
        "{flag} {}: is a symbolic link (to {}); wsscope never writes through a link, with or without --force: remove the link, or give the path of its target",
        crate::term::path(path),
        crate::term::path(target)
    )]
    OutputIsLink {
        /// The flag naming the output.
        flag: &'static str,
        /// The output's path.
        path: PathBuf,
        /// Where it points.
        target: Box<std::path::Path>,
    },
    /// The output is not a regular file.
    #[error("{flag} {}: is {kind}; give the path of a regular file", crate::term::path(path))]
    OutputNotAFile {
        /// The flag naming the output.
        flag: &'static str,
        /// The output's path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A finished replacement could not be renamed into place.
    #[error("{0}")]
    OutputNotReplaced(Box<NotReplaced>),
    /// `--write-dir` holds files of an earlier run.
    #[error(
        "--write-dir {}: holds {example} already (an earlier run?); use an empty or new directory, or add --force to replace such files",
        crate::term::path(dir)
    )]
    WriteDirInUse {
        /// The directory.
        dir: PathBuf,
        /// One of the files.
        example: String,
    },
    /// `-Z USER` names no account.
    #[error(
        "-Z {name}: no such user; give an unprivileged account to run as once the capture is open (e.g. -Z nobody), or -Z root to keep root"
    )]
    UnknownUser {
        /// The name given.
        name: String,
    },
    /// `-Z USER` as a non-root user.
    #[error(
        "-Z {name}: switching to another user needs root, and wsscope runs as uid {uid}; leave -Z out (capabilities are given up once the capture is open anyway)"
    )]
    SwitchNeedsRoot {
        /// The name given.
        name: String,
        /// Who wsscope runs as.
        uid: u32,
    },
    /// Live capture as root, and no account to drop to.
    #[error(
        "live capture as root gives up root once the interface is open, to the user who ran sudo or else to nobody, but there is no user nobody: give -Z USER (an unprivileged account), or -Z root to keep root"
    )]
    NoDefaultUser,
    /// Giving up privileges failed.
    #[error(
        "cannot give up privileges ({step}: {source}); wsscope does not read packets with them: check the account given to -Z, or give -Z root to keep root"
    )]
    Privileges {
        /// What failed.
        step: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// After the switch to another user, a file the run writes later cannot be written.
    #[error(
        "{flag} {}: wsscope runs as {user} once the capture is open (-Z), and {user} cannot write in {}, where this file is written later; choose a directory {user} can write, or -Z root to keep root",
        crate::term::path(path),
        crate::term::path(match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        })
    )]
    CannotWriteAs {
        /// The flag naming the output.
        flag: &'static str,
        /// The output.
        path: Box<std::path::Path>,
        /// The account.
        user: Box<str>,
    },
    /// A command-line value is invalid.
    #[error("{0}")]
    Usage(String),
    /// The system refused a thread (`--threads`).
    #[error("cannot start {what}: {source}; run without --threads")]
    Thread {
        /// Which thread.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The system refused a capture thread, or one failed.
    #[error("{what}: {message}")]
    CaptureThread {
        /// Which thread.
        what: String,
        /// What happened.
        message: String,
    },
}

/// A finished `--force` replacement that could not be renamed into place.
#[derive(Debug, thiserror::Error)]
#[error(
    "{flag} {}: cannot replace it ({source}); the new content is in {}: move it into place yourself",
    crate::term::path(path),
    crate::term::path(tmp)
)]
pub struct NotReplaced {
    /// The flag naming the output.
    pub flag: &'static str,
    /// The output's path.
    pub path: PathBuf,
    /// The finished temporary file.
    pub tmp: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Whether `path` is read (an input) or written (an output), for [`explain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Opened for reading.
    Read,
    /// Created or written.
    Write,
}

/// `e`, met opening `path`, with what to do about it when the cause is a common one: a
/// directory that does not exist, a permission the user lacks, a full disk. The kind is kept
/// (a closed pipe is still told apart).
pub fn explain(e: std::io::Error, path: &std::path::Path, access: Access) -> std::io::Error {
    use std::io::ErrorKind;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let user = user_name();
    let hint = match (e.kind(), access) {
        (ErrorKind::NotFound, Access::Write) if !dir.is_dir() => format!(
            "the directory {} does not exist: create it, or choose another",
            crate::term::path(dir)
        ),
        // The directory is there, but its file system makes no new files (/proc, /sys).
        (ErrorKind::NotFound, Access::Write) => format!(
            "files cannot be created in {}: choose another directory",
            crate::term::path(dir)
        ),
        // Root is refused by what no other user would fix (an immutable file, a security
        // module): the system's message says it all.
        (ErrorKind::PermissionDenied, _) if root => return e,
        (ErrorKind::PermissionDenied, Access::Write) => format!(
            "{user} may not write there: choose a directory {user} can write, or run as a user \
             who can"
        ),
        (ErrorKind::PermissionDenied, Access::Read) => format!(
            "{user} may not read it: make it readable (chmod a+r), and the directories above it \
             searchable, or run as a user who can"
        ),
        (ErrorKind::StorageFull | ErrorKind::QuotaExceeded, _) => {
            format!(
                "{} has no room left: free some, or choose another disk",
                crate::term::path(dir)
            )
        }
        _ => return e,
    };
    std::io::Error::new(e.kind(), format!("{e}; {hint}"))
}

/// The name of the user wsscope runs as (its effective user id), or `uid N`.
fn user_name() -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut buf = vec![0u8; 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, whose sizes it is given; `found` is null
    // or points to `pwd`, whose name points into `buf`, alive until the end of this function.
    let named = unsafe {
        libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut found) == 0
            && !found.is_null()
            && !pwd.pw_name.is_null()
    };
    if named {
        // SAFETY: a NUL-terminated name inside `buf` (see above).
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return format!("user {}", name.to_string_lossy());
    }
    format!("uid {uid}")
}
