//! Every file wsscope writes (`-w`, `report -o` and `--junit`, `streams --write-dir`, the TUI's
//! saves) is created here, with one set of rules:
//!
//! - **Never over an input.** An output is compared with every input of the run (and with the
//!   run's other outputs) by device and inode, so `-o ./x.pcap` for input `x.pcap`, a hard link
//!   to it, or standard input redirected from it are caught; and by path, for files that do not
//!   exist yet. `--force` does not change this.
//! - **Never through a link.** An output whose last component is a symbolic link is refused, and
//!   files are created with `O_CREAT | O_EXCL | O_NOFOLLOW`, so a link planted between the check
//!   and the creation makes the creation fail instead of writing to the link's target.
//! - **Never over an existing file, unless `--force`.** Then the new file is written beside the
//!   old one (a hidden temporary file in the same directory, created the same way) and renamed
//!   over it once complete: the old file stays whole until the new one is, and `rename(2)`
//!   replaces a directory entry, it never writes through one. The replaced file's permission bits
//!   are kept.
//! - A character device (`/dev/null`) is written as it is. Directories, FIFOs, sockets and block
//!   devices are refused.
//!
//! tcpdump `-w` overwrites whatever is there; wsscope refuses instead, because its outputs are
//! usually derived from a capture kept nearby (`report x.pcap -o x.pcap` destroyed the capture)
//! and a CI job that reruns can say `--force` once.
//!
//! An [`OutFile`] not committed when dropped removes what it created (the temporary file, or the
//! new file), so a failed run leaves no empty report behind.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::config::Source;
use crate::error::{Access, Error, explain};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file's identity: (device, inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `m` describes.
    pub fn of(m: &std::fs::Metadata) -> FileId {
        FileId { dev: m.dev(), ino: m.ino() }
    }
}

/// Removes `path` if it is still the file `id` (one this process wrote): never a file put
/// there since, nor what a link points to. Returns whether it removed it.
pub fn remove_if_same(path: &Path, id: FileId) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if FileId::of(&m) == id => std::fs::remove_file(path).map(|()| true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// One file an output must not be.
#[derive(Clone, Debug)]
struct Entry {
    /// How messages name it ("the input x.pcap", "-w's file x.pcap").
    name: String,
    /// Whether it is an input (else another output of the run).
    input: bool,
    path: Option<PathBuf>,
    id: Option<FileId>,
}

/// The files of a run an output must not be: its inputs, and its other outputs.
#[derive(Clone, Debug, Default)]
pub struct Protected {
    entries: Vec<Entry>,
}

impl Protected {
    /// The file inputs of `sources` (standard input by what it is open on).
    pub fn inputs(sources: &[Source]) -> Protected {
        let mut p = Protected::default();
        for s in sources {
            for path in s.input.files() {
                if path == Path::new("-") {
                    // SAFETY: fstat on fd 0 with a valid out-pointer; a closed fd gives an error.
                    let mut st: libc::stat = unsafe { std::mem::zeroed() };
                    let id = (unsafe { libc::fstat(0, &mut st) } == 0)
                        .then_some(FileId { dev: st.st_dev, ino: st.st_ino });
                    p.entries.push(Entry {
                        name: "standard input".into(),
                        input: true,
                        path: None,
                        id,
                    });
                } else {
                    p.add_file(format!("the input {}", path.display()), path);
                }
            }
        }
        p
    }

    /// Input files named by path (`wsscope merge`'s reports).
    pub fn paths(paths: &[PathBuf]) -> Protected {
        let mut p = Protected::default();
        for path in paths {
            p.add_file(format!("the input {}", path.display()), path);
        }
        p
    }

    /// Adds another file the run reads (`flag`'s, as given on the command line: `--keylog`,
    /// `--policy`).
    pub fn add_input(&mut self, flag: &str, path: &Path) {
        self.add_file(format!("the file of {flag} {}", path.display()), path);
    }

    /// An input file at `path` (by its name and, if it exists, by its identity), named `name`
    /// in messages.
    fn add_file(&mut self, name: String, path: &Path) {
        self.entries.push(Entry {
            name,
            input: true,
            path: normalized(path),
            id: std::fs::metadata(path).ok().map(|m| FileId::of(&m)),
        });
    }

    /// Adds another output of the run (`flag` as given on the command line).
    pub fn add_output(&mut self, flag: &str, path: &Path) {
        self.entries.push(Entry {
            name: format!("the file of {flag} {}", path.display()),
            input: false,
            path: normalized(path),
            id: std::fs::symlink_metadata(path).ok().map(|m| FileId::of(&m)),
        });
    }

    fn find(&self, path: Option<&Path>, id: Option<FileId>) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| (id.is_some() && e.id == id) || (path.is_some() && e.path.as_deref() == path))
    }
}

/// `path` made absolute with its directories resolved (the last component is not followed when
/// it does not exist or is a link), for comparing names: `./x.pcap` and `x.pcap` are the same.
fn normalized(path: &Path) -> Option<PathBuf> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link && let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(parent).ok()?.join(name))
}

/// How an [`OutFile`] reaches its path.
#[derive(Debug)]
enum Kind {
    /// Created at its path (it did not exist).
    New { id: FileId },
    /// Written to `tmp`, renamed over the existing file on commit (`--force`).
    Replace { tmp: PathBuf },
    /// An existing character device, written as it is.
    Device,
}

/// An output file being written; see the module documentation for the rules.
#[derive(Debug)]
pub struct OutFile {
    file: Option<File>,
    flag: &'static str,
    path: PathBuf,
    kind: Kind,
    done: bool,
}

/// Opens a new file: never an existing one, never through a link.
fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(path)
}

impl OutFile {
    /// Creates the output `path` named by `flag` (`-o`, `--junit`, `-w`, …) for a run whose
    /// inputs and other outputs are `protected`; `force` replaces an existing regular file.
    pub fn create(
        flag: &'static str,
        path: &Path,
        protected: &Protected,
        force: bool,
    ) -> Result<OutFile, Error> {
        let err = |e: io::Error| Error::Output {
            what: format!("{flag} {}", path.display()),
            source: explain(e, path, Access::Write),
        };
        if path.file_name().is_none() {
            return Err(Error::OutputNotAFile { flag, path: path.into(), kind: "not a file name" });
        }
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(e)),
        };
        let id = meta.as_ref().map(FileId::of);
        if let Some(e) = protected.find(normalized(path).as_deref(), id) {
            return Err(if e.input {
                Error::OutputIsInput { flag, path: path.into(), input: e.name.as_str().into() }
            } else {
                Error::OutputTwice { flag, path: path.into(), other: e.name.as_str().into() }
            });
        }
        let new =
            |file, kind| OutFile { file: Some(file), flag, path: path.into(), kind, done: false };
        let Some(meta) = meta else {
            let file = create_new(path).map_err(|e| match e.kind() {
                // Created by someone else since the check: refused like any existing file.
                io::ErrorKind::AlreadyExists => Error::OutputExists { flag, path: path.into() },
                _ => err(e),
            })?;
            let id = FileId::of(&file.metadata().map_err(err)?);
            return Ok(new(file, Kind::New { id }));
        };
        let t = meta.file_type();
        if t.is_symlink() {
            let target = std::fs::read_link(path).unwrap_or_default().into_boxed_path();
            return Err(Error::OutputIsLink { flag, path: path.into(), target });
        }
        if t.is_char_device() {
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(err)?;
            if file.metadata().map_err(err)?.file_type().is_char_device() {
                return Ok(new(file, Kind::Device));
            }
            return Err(Error::OutputExists { flag, path: path.into() });
        }
        if !t.is_file() {
            let kind = if t.is_dir() {
                "a directory"
            } else if t.is_fifo() {
                "a FIFO"
            } else if t.is_socket() {
                "a socket"
            } else {
                "a block device"
            };
            return Err(Error::OutputNotAFile { flag, path: path.into(), kind });
        }
        if !force {
            return Err(Error::OutputExists { flag, path: path.into() });
        }
        let (file, tmp) = temporary_beside(path).map_err(err)?;
        will_write_later(flag, path);
        // The replacement keeps the permission bits of what it replaces.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o777));
        Ok(new(file, Kind::Replace { tmp }))
    }

    /// Creates a new file in `dir` named `stem.ext`, or `stem-2.ext`, `stem-3.ext`, … when that
    /// exists (at most 100 tries): it never replaces anything (the TUI's saves).
    pub fn create_unique(dir: &Path, stem: &str, ext: &str) -> io::Result<OutFile> {
        for n in 1..=100u32 {
            let name = if n == 1 { format!("{stem}.{ext}") } else { format!("{stem}-{n}.{ext}") };
            let path = dir.join(&name);
            match create_new(&path) {
                Ok(file) => {
                    let id = FileId::of(&file.metadata()?);
                    return Ok(OutFile {
                        file: Some(file),
                        flag: "",
                        path,
                        kind: Kind::New { id },
                        done: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{stem}.{ext} and 99 numbered variants exist; remove some"),
        ))
    }

    /// Creates the new file `path`: never an existing file, never through a link (the TUI's
    /// saves to a name the user typed). `AlreadyExists` when anything has that name.
    pub fn create_new_at(path: &Path) -> io::Result<OutFile> {
        let file = create_new(path)?;
        let id = FileId::of(&file.metadata()?);
        Ok(OutFile {
            file: Some(file),
            flag: "",
            path: path.into(),
            kind: Kind::New { id },
            done: false,
        })
    }

    /// The path the output will have once committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity the file has at its path once committed (the temporary file's, for a
    /// replacement); `None` for a device. Lets a caller remove later only a file it wrote.
    pub fn id(&self) -> Option<FileId> {
        match self.kind {
            Kind::Device => None,
            _ => self.file.as_ref()?.metadata().ok().map(|m| FileId::of(&m)),
        }
    }

    /// Whether the output is a character device (`/dev/null`), written as it is.
    pub fn is_device(&self) -> bool {
        matches!(self.kind, Kind::Device)
    }

    /// Closes its descriptor until [`OutFile::reopen`], for a caller that writes more files at
    /// once than it may hold open (`streams --write-dir`). A device stays open.
    pub fn park(&mut self) {
        if !matches!(self.kind, Kind::Device) {
            self.file = None;
        }
    }

    /// Opens a parked file again, to append: the file it created (or its replacement's
    /// temporary file), never one put at its path since or a link.
    pub fn reopen(&mut self) -> io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let at = match &self.kind {
            Kind::New { .. } => &self.path,
            Kind::Replace { tmp } => tmp,
            Kind::Device => return Ok(()),
        };
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(at)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    io::Error::other(format!("{} was removed while wsscope wrote it", at.display()))
                }
                _ => explain(e, at, Access::Write),
            })?;
        if let Kind::New { id } = self.kind
            && FileId::of(&file.metadata()?) != id
        {
            return Err(io::Error::other(format!(
                "{} was replaced by another file while wsscope wrote it",
                at.display()
            )));
        }
        self.file = Some(file);
        Ok(())
    }

    /// Makes the output final: syncs and renames a replacement over the old file; a new file is
    /// already in place.
    pub fn commit(mut self) -> Result<(), Error> {
        let err = |e: io::Error, path: &Path| Error::Output {
            what: format!("{} {}", self.flag, path.display()),
            source: explain(e, path, Access::Write),
        };
        if let Some(f) = self.file.as_mut() {
            f.flush().map_err(|e| err(e, &self.path))?;
        }
        if let Kind::Replace { tmp } = &self.kind {
            if let Some(f) = &self.file {
                f.sync_all().map_err(|e| err(e, tmp))?;
            }
            if let Err(e) = std::fs::rename(tmp, &self.path) {
                // The finished content stays where the message says it is.
                self.done = true;
                return Err(Error::OutputNotReplaced(Box::new(crate::error::NotReplaced {
                    flag: self.flag,
                    path: self.path.clone(),
                    tmp: tmp.clone(),
                    source: e,
                })));
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("the file is closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match &self.kind {
            Kind::Replace { tmp } => {
                let _ = std::fs::remove_file(tmp);
            }
            // Only the file this created: not one put there since.
            Kind::New { id } => {
                if std::fs::symlink_metadata(&self.path).is_ok_and(|m| FileId::of(&m) == *id) {
                    let _ = std::fs::remove_file(&self.path);
                }
            }
            Kind::Device => {}
        }
    }
}

/// Directories where this process will create or rename files later (`--force` replacements,
/// `--write-dir`), each with the output it is for: checked by [`check_writable_later`] once
/// privileges are given up.
static LATER: std::sync::Mutex<Vec<(&'static str, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// Notes that `path` (named by `flag`) will be created or renamed into place later in the run.
pub fn will_write_later(flag: &'static str, path: &Path) {
    if let Ok(mut l) = LATER.lock() {
        l.push((flag, path.to_path_buf()));
    }
}

/// Checks, with `user`'s effective ids, that every directory noted by [`will_write_later`] can
/// be written: a run that could not deliver its outputs after a switch to `user` fails before
/// it reads anything, not at its end.
pub fn check_writable_later(user: &str) -> Result<(), Error> {
    let later = LATER.lock().map(|l| l.clone()).unwrap_or_default();
    for (flag, path) in later {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
        else {
            continue;
        };
        // SAFETY: faccessat(2) with a NUL-terminated path; AT_EACCESS: the effective ids.
        let ok = unsafe {
            libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK | libc::X_OK, libc::AT_EACCESS)
        };
        if ok != 0 {
            return Err(Error::CannotWriteAs {
                flag,
                path: path.as_path().into(),
                user: user.into(),
            });
        }
    }
    Ok(())
}

/// A new hidden file beside `path` (same directory, so a rename is atomic).
fn temporary_beside(path: &Path) -> io::Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".{name}.{}-{n}.wsscope-tmp", std::process::id()));
        match create_new(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary file name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Input;

    fn source(path: &Path) -> Source {
        Source {
            input: Input::File(path.into()),
            filter: None,
            max_packets: None,
            duration: None,
            write: None,
            force: false,
            privileges: Default::default(),
        }
    }

    fn is_refusal(r: Result<OutFile, Error>) -> String {
        match r {
            Ok(f) => panic!("{} was created", f.path().display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_new_file_is_created_and_kept_once_committed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        let mut f = OutFile::create("-o", &p, &Protected::default(), false).unwrap();
        f.write_all(b"{}").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
    }

    #[test]
    fn an_output_not_committed_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        drop(OutFile::create("-o", &p, &Protected::default(), false).unwrap());
        assert!(!p.exists());
        std::fs::write(&p, "old").unwrap();
        drop(OutFile::create("-o", &p, &Protected::default(), true).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "the temporary file is gone");
    }

    #[test]
    fn an_existing_file_is_refused_without_force_and_replaced_atomically_with_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = is_refusal(OutFile::create("-o", &p, &Protected::default(), false));
        assert!(e.contains("the file exists; add --force"), "{e}");
        let mut f = OutFile::create("-o", &p, &Protected::default(), true).unwrap();
        f.write_all(b"new").unwrap();
        // Until the commit, the old file is whole.
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_symbolic_link_is_never_written_through_even_with_force() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        for (link, to) in [("link", target.clone()), ("dangling", d.path().join("nowhere"))] {
            let p = d.path().join(link);
            std::os::unix::fs::symlink(&to, &p).unwrap();
            for force in [false, true] {
                let e = is_refusal(OutFile::create("-o", &p, &Protected::default(), force));
                assert!(e.contains("is a symbolic link"), "{e}");
            }
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(!d.path().join("nowhere").exists());
        // The primitive itself: O_EXCL | O_NOFOLLOW fails on a link planted after any check.
        assert!(create_new(&d.path().join("link")).is_err());
        assert!(create_new(&d.path().join("dangling")).is_err());
        assert!(!d.path().join("nowhere").exists());
    }

    #[test]
    fn an_input_is_never_an_output_by_any_name() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("x.pcap");
        std::fs::write(&input, "capture").unwrap();
        let hard = d.path().join("hard.pcap");
        std::fs::hard_link(&input, &hard).unwrap();
        let dotted = d.path().join(".").join("x.pcap");
        let protected = Protected::inputs(&[source(&input)]);
        for p in [&input, &hard, &dotted] {
            for force in [false, true] {
                let e = is_refusal(OutFile::create("-o", p, &protected, force));
                assert!(e.contains("never writes over its input"), "{e}");
            }
        }
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "capture");
    }

    #[test]
    fn two_outputs_of_a_run_cannot_be_one_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        let mut protected = Protected::default();
        protected.add_output("--junit", &p);
        let e = is_refusal(OutFile::create("-o", &d.path().join("./out"), &protected, true));
        assert!(e.contains("the same file as the file of --junit"), "{e}");
    }

    #[test]
    fn directories_and_fifos_are_refused_and_character_devices_written() {
        let d = tempfile::tempdir().unwrap();
        let e = is_refusal(OutFile::create("-o", d.path(), &Protected::default(), true));
        assert!(e.contains("is a directory"), "{e}");
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = is_refusal(OutFile::create("-o", &fifo, &Protected::default(), true));
        assert!(e.contains("is a FIFO"), "{e}");
        let mut f =
            OutFile::create("-o", Path::new("/dev/null"), &Protected::default(), false).unwrap();
        f.write_all(b"x").unwrap();
        f.commit().unwrap();
    }

    #[test]
    fn only_the_file_written_is_removed_later() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ws.pcap");
        let f = OutFile::create("-w", &p, &Protected::default(), false).unwrap();
        let id = f.id().unwrap();
        f.commit().unwrap();
        // Replaced by another file since (the old one moved away, so that its inode is not
        // reused): left alone.
        std::fs::rename(&p, d.path().join("moved")).unwrap();
        std::fs::write(&p, "someone else's").unwrap();
        assert!(!remove_if_same(&p, id).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "someone else's");
        // A --force replacement's identity is the new file's.
        let f = OutFile::create("-w", &p, &Protected::default(), true).unwrap();
        let id = f.id().unwrap();
        f.commit().unwrap();
        assert!(remove_if_same(&p, id).unwrap());
        assert!(!p.exists());
        assert!(!remove_if_same(&p, id).unwrap(), "gone already");
        assert!(
            OutFile::create("-w", Path::new("/dev/null"), &Protected::default(), false)
                .unwrap()
                .id()
                .is_none()
        );
    }

    #[test]
    fn unique_names_never_replace_anything() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("save.txt"), "old").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("save-2.txt")).unwrap();
        let mut f = OutFile::create_unique(d.path(), "save", "txt").unwrap();
        assert_eq!(f.path(), d.path().join("save-3.txt"));
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("save.txt")).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(d.path().join("save-3.txt")).unwrap(), "new");
    }
}
