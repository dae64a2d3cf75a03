//! Reading a TLS key log file into a [`KeyStore`], and following it while a live capture runs
//! (browsers append a line per connection as they go). The core only ever sees the text.

use crate::tls::KeyStore;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest key log read (a key log of a million connections is about 200 MB).
const MAX_KEYLOG: u64 = 1 << 30;

/// How often a followed key log is looked at.
const POLL: Duration = Duration::from_millis(100);

/// Reads every complete line of `path` into `store`; returns the bytes taken (the start of an
/// unfinished last line is left for [`follow`]).
pub fn load(path: &Path, store: &KeyStore) -> std::io::Result<u64> {
    let mut f = std::fs::File::open(path)?;
    if f.metadata()?.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    let mut text = Vec::new();
    (&mut f).take(MAX_KEYLOG).read_to_end(&mut text)?;
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    store.add_text(&text[..complete]);
    store.mark_given();
    use sha1::Digest;
    let digest = sha1::Sha1::digest(&text[..complete]);
    store.set_digest(digest.iter().map(|b| format!("{b:02x}")).collect());
    Ok(complete as u64)
}

/// Whether `path` names nothing (yet): a browser creates its key log when it starts.
pub fn is_absent(path: &Path) -> bool {
    matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// A key log that does not exist: when capturing live, followed from when it appears (start
/// wsscope, then the browser that writes it); with SSLKEYLOGFILE set and a file read, nothing
/// to decrypt with (a warning: many shells set it for every program); named by --keylog for a
/// file, a mistake. `Ok` carries the notice to print.
pub fn absent(
    k: &crate::config::KeylogFile,
    live: bool,
    store: &KeyStore,
) -> Result<String, crate::error::Error> {
    let shown = k.path.display().to_string();
    let name = crate::term::escape(&shown);
    let from = if k.from_env { " (from SSLKEYLOGFILE)" } else { "" };
    if live {
        store.mark_given();
        Ok(format!(
            "wsscope: TLS keys: {name}{from} does not exist yet: read from when it appears \
             (start the browser or client that writes it now)"
        ))
    } else if k.from_env {
        Ok(format!(
            "wsscope: warning: SSLKEYLOGFILE names {name}, which does not exist: TLS is not \
             decrypted (--keylog FILE names another key log)"
        ))
    } else {
        Err(crate::error::Error::Usage(format!(
            "cannot read the TLS key log {name}: it does not exist (--keylog FILE names the key \
             log a client wrote with SSLKEYLOGFILE=FILE)"
        )))
    }
}

/// A thread following a key log as it grows; stopped when dropped.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a follower has read of its key log.
struct Tail {
    path: PathBuf,
    at: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Adds every line appended since the last look to `store`.
    fn step(&mut self, store: &KeyStore) {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.at {
            // Truncated or replaced: read again from the start.
            self.at = 0;
            self.partial.clear();
        }
        if len <= self.at || f.seek(SeekFrom::Start(self.at)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if (&mut f).take((len - self.at).min(MAX_KEYLOG)).read_to_end(&mut buf).is_ok() {
            self.at += buf.len() as u64;
            self.partial.extend_from_slice(&buf);
            if let Some(i) = self.partial.iter().rposition(|b| *b == b'\n') {
                store.add_text(&self.partial[..=i]);
                self.partial.drain(..=i);
            }
            // A line without an end that grows past any real line is noise.
            if self.partial.len() > 64 * 1024 {
                self.partial.clear();
            }
        }
    }
}

/// Follows `path` from byte `from` on: every line appended is added to `store`, which says it
/// may grow until the follower is dropped. A file replaced or truncated is read from its start;
/// one that does not exist yet is read from when it appears. Besides looking every [`POLL`],
/// the follower reads at once when a connection is about to give up waiting for its keys
/// ([`KeyStore::catch_up`]): a connection shorter than the poll ended before its keys, written
/// during its handshake, were read.
pub fn follow(path: PathBuf, from: u64, store: Arc<KeyStore>) -> Follower {
    let stop = Arc::new(AtomicBool::new(false));
    store.set_growing(true);
    let tail = Arc::new(std::sync::Mutex::new(Tail { path, at: from, partial: Vec::new() }));
    let now = Arc::clone(&tail);
    store.set_catch_up(Some(Box::new(move |store: &KeyStore| {
        if let Ok(mut t) = now.lock() {
            t.step(store);
        }
    })));
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("wsscope-keylog".into())
        .spawn(move || {
            while !flag.load(Ordering::Acquire) {
                if let Ok(mut t) = tail.lock() {
                    t.step(&store);
                }
                std::thread::sleep(POLL);
            }
            store.set_catch_up(None);
            store.set_growing(false);
        })
        .ok();
    Follower { stop, thread }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(n: u8) -> String {
        format!("CLIENT_RANDOM {} {}\n", format!("{n:02x}").repeat(32), "ab".repeat(48))
    }

    #[test]
    fn loads_complete_lines_and_follows_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.log");
        let mut f = std::fs::File::create(&path).unwrap();
        let first = line(1);
        write!(f, "{first}{}", &line(2)[..20]).unwrap();
        f.flush().unwrap();
        let store = Arc::new(KeyStore::new());
        let taken = load(&path, &store).unwrap();
        assert_eq!(taken, first.len() as u64);
        assert_eq!(store.len(), 1);
        let follower = follow(path.clone(), taken, Arc::clone(&store));
        assert!(store.growing());
        write!(f, "{}{}", &line(2)[20..], line(3)).unwrap();
        f.flush().unwrap();
        // Bounded wait for the follower (it looks every 100 ms).
        for _ in 0..50 {
            if store.len() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(store.len(), 3);
        // A line appended is read at once when asked, not at the next poll.
        write!(f, "{}", line(4)).unwrap();
        f.flush().unwrap();
        store.catch_up();
        assert_eq!(store.len(), 4);
        drop(follower);
        assert!(!store.growing());
        store.catch_up(); // no follower: nothing happens
    }

    #[test]
    fn a_key_log_that_does_not_exist_yet_is_read_when_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.log");
        assert!(is_absent(&path));
        let store = Arc::new(KeyStore::new());
        let follower = follow(path.clone(), 0, Arc::clone(&store));
        std::fs::write(&path, line(7)).unwrap();
        store.catch_up();
        assert_eq!(store.len(), 1);
        drop(follower);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let store = KeyStore::new();
        assert!(load(Path::new("/nonexistent/keys.log"), &store).is_err());
        assert!(load(Path::new("/"), &store).is_err());
    }
}
