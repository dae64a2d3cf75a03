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

/// Follows `path` from byte `from` on: every line appended is added to `store`, which says it
/// may grow until the follower is dropped. A file replaced or truncated is read from its start.
pub fn follow(path: PathBuf, from: u64, store: Arc<KeyStore>) -> Follower {
    let stop = Arc::new(AtomicBool::new(false));
    store.set_growing(true);
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("wsscope-keylog".into())
        .spawn(move || {
            let mut at = from;
            let mut partial: Vec<u8> = Vec::new();
            while !flag.load(Ordering::Acquire) {
                if let Ok(mut f) = std::fs::File::open(&path) {
                    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                    if len < at {
                        // Truncated or replaced: read again from the start.
                        at = 0;
                        partial.clear();
                    }
                    if len > at && f.seek(SeekFrom::Start(at)).is_ok() {
                        let mut buf = Vec::new();
                        if (&mut f).take((len - at).min(MAX_KEYLOG)).read_to_end(&mut buf).is_ok() {
                            at += buf.len() as u64;
                            partial.extend_from_slice(&buf);
                            if let Some(i) = partial.iter().rposition(|b| *b == b'\n') {
                                store.add_text(&partial[..=i]);
                                partial.drain(..=i);
                            }
                            // A line without an end that grows past any real line is noise.
                            if partial.len() > 64 * 1024 {
                                partial.clear();
                            }
                        }
                    }
                }
                std::thread::sleep(POLL);
            }
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
        drop(follower);
        assert!(!store.growing());
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let store = KeyStore::new();
        assert!(load(Path::new("/nonexistent/keys.log"), &store).is_err());
        assert!(load(Path::new("/"), &store).is_err());
    }
}
