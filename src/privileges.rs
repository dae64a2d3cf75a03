//! Giving up privileges once the capture is open (`-Z USER`, as tcpdump), so that packets are
//! never parsed with root's powers or with capture capabilities.
//!
//! - **As root**, after the live device, the `-w` file and the files named on the command line
//!   are open and before any packet is read, wsscope switches to an unprivileged account:
//!   `setgroups` (the account's groups), `setgid`, `setuid`, in that order; the kernel clears
//!   every capability when the last user id leaves 0. It then checks that real, effective and
//!   saved ids are the account's, that the groups are exactly its groups, that no capability is
//!   left and that `setuid(0)` fails; anything else stops the run (exit 2). glibc applies the
//!   id changes to every thread of the process.
//! - **Which account.** `-Z USER` names it (any run). Without `-Z`, a live capture as root
//!   drops to the user who ran `sudo` (`SUDO_USER`, when it is not root), so that what it writes
//!   later (`--write-dir` files, TUI saves) belongs to them, else to `nobody`. `-Z root` keeps
//!   root, as in tcpdump. Reading capture files as root without `-Z` keeps root: the user chose
//!   to run it so, and no privilege was needed to open the file.
//! - **Not root, with file capabilities** (`setcap cap_net_raw,cap_net_admin+eip`): once the
//!   device is open every capability is dropped from the effective, permitted, inheritable and
//!   ambient sets. Capabilities belong to threads: the main thread drops its own here, the
//!   threads started before (the signal watcher, the pipe copier) drop theirs when they start
//!   ([`drop_thread_capabilities`]), and threads started later inherit empty sets. Two raw
//!   system calls (`capget`/`capset`) do this; the `caps` crate would add a dependency for them.
//!   `-Z USER` as a non-root user is refused unless USER is that user.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::error::Error;
use std::ffi::CString;
use std::io;

/// An account to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// What to give up once the capture is open; decided from the flags before anything is opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Plan {
    /// Keep the user (not root, or `-Z root`, or files read as root without `-Z`); capabilities
    /// a non-root process holds are still dropped.
    #[default]
    Keep,
    /// Switch to this account (running as root).
    Switch(Account),
}

impl Plan {
    /// The plan for `-Z USER` (`None`: not given) in a run that captures live (`live`) or not.
    pub fn decide(user: Option<&str>, live: bool) -> Result<Plan, Error> {
        // SAFETY: geteuid/getuid cannot fail.
        let (euid, uid) = unsafe { (libc::geteuid(), libc::getuid()) };
        match user {
            Some(name) => {
                let account =
                    lookup(name)?.ok_or_else(|| Error::UnknownUser { name: name.into() })?;
                if euid == 0 {
                    Ok(if account.uid == 0 { Plan::Keep } else { Plan::Switch(account) })
                } else if account.uid == uid {
                    Ok(Plan::Keep)
                } else {
                    Err(Error::SwitchNeedsRoot { name: name.into(), uid })
                }
            }
            None if euid == 0 && live => {
                let sudoer = std::env::var("SUDO_USER").ok().filter(|n| !n.is_empty());
                if let Some(a) = sudoer.as_deref().map(lookup).transpose()?.flatten()
                    && a.uid != 0
                {
                    return Ok(Plan::Switch(a));
                }
                lookup("nobody")?.map(Plan::Switch).ok_or(Error::NoDefaultUser)
            }
            None => Ok(Plan::Keep),
        }
    }

    /// The account switched to, if any.
    pub fn account(&self) -> Option<&Account> {
        match self {
            Plan::Keep => None,
            Plan::Switch(a) => Some(a),
        }
    }
}

/// The account named `name`, if it exists.
pub fn lookup(name: &str) -> Result<Option<Account>, Error> {
    let Ok(c) = CString::new(name) else { return Ok(None) };
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: getpwnam_r with a NUL-terminated name, a zeroed passwd, a buffer of the size
        // given and a result pointer; the strings it sets point into `buf`, read before it goes.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(c.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result)
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(Error::Privileges {
                step: "looking up the user",
                source: io::Error::from_raw_os_error(rc),
            });
        }
        if result.is_null() {
            return Ok(None);
        }
        return Ok(Some(Account { name: name.into(), uid: pwd.pw_uid, gid: pwd.pw_gid }));
    }
}

/// The groups of `account`: its primary group and every group listing it.
fn groups_of(account: &Account) -> Result<Vec<libc::gid_t>, Error> {
    let c = CString::new(account.name.as_str())
        .map_err(|_| Error::UnknownUser { name: account.name.clone() })?;
    let mut n: libc::c_int = 64;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; n as usize];
        // SAFETY: getgrouplist with a NUL-terminated name and a buffer of `n` entries; it sets
        // `n` to the number needed.
        let rc =
            unsafe { libc::getgrouplist(c.as_ptr(), account.gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n as usize);
            return Ok(groups);
        }
        if n > 65536 {
            return Err(Error::Privileges {
                step: "listing the user's groups",
                source: io::Error::other("too many groups"),
            });
        }
    }
}

fn check(step: &'static str, ok: bool) -> Result<(), Error> {
    if ok { Ok(()) } else { Err(Error::Privileges { step, source: io::Error::last_os_error() }) }
}

/// Gives up what `plan` says, once the capture is open and before any packet is read: switches
/// to the account (as root), or drops every capability (not root). Then checks that nothing can
/// be regained.
pub fn apply(plan: &Plan) -> Result<(), Error> {
    match plan {
        Plan::Switch(a) => {
            let groups = groups_of(a)?;
            // SAFETY: setgroups with a valid array of `groups.len()` gids; setegid/seteuid,
            // setgid/setuid with plain ids. glibc applies each to every thread.
            unsafe {
                check("setgroups", libc::setgroups(groups.len(), groups.as_ptr()) == 0)?;
                // First, with the account's ids as effective ids only (root stays the saved
                // id): can it write what the run writes later? If not, fail while still root,
                // so that what was created for the run can be removed.
                check("setegid", libc::setegid(a.gid) == 0)?;
                check("seteuid", libc::seteuid(a.uid) == 0)?;
                let later = crate::outfile::check_writable_later(&a.name);
                check("seteuid", libc::seteuid(0) == 0)?;
                check("setegid", libc::setegid(0) == 0)?;
                later?;
                check("setgid", libc::setgid(a.gid) == 0)?;
                check("setuid", libc::setuid(a.uid) == 0)?;
            }
            verify_switched(a, &groups)
        }
        // SAFETY: geteuid cannot fail.
        Plan::Keep if unsafe { libc::geteuid() } != 0 => {
            if capabilities()?.iter().any(|&c| c != 0) {
                drop_thread_capabilities();
                let left = capabilities()?;
                if left.iter().any(|&c| c != 0) {
                    return Err(Error::Privileges {
                        step: "dropping capabilities",
                        source: io::Error::other(format!("still held: {left:x?}")),
                    });
                }
            }
            Ok(())
        }
        Plan::Keep => Ok(()),
    }
}

fn verify_switched(a: &Account, groups: &[libc::gid_t]) -> Result<(), Error> {
    let fail =
        |what: String| Err(Error::Privileges { step: "checking", source: io::Error::other(what) });
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid/getresgid write three ids each into valid pointers.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    if [r, e, s] != [a.uid; 3] {
        return fail(format!("user ids are {r}/{e}/{s}, not {}", a.uid));
    }
    // SAFETY: as above.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    if [r, e, s] != [a.gid; 3] {
        return fail(format!("group ids are {r}/{e}/{s}, not {}", a.gid));
    }
    let mut now: Vec<libc::gid_t> = vec![0; groups.len() + 1];
    // SAFETY: getgroups fills at most `now.len()` entries.
    let n = unsafe { libc::getgroups(now.len() as libc::c_int, now.as_mut_ptr()) };
    now.truncate(n.max(0) as usize);
    let (mut want, mut got) = (groups.to_vec(), now);
    want.sort_unstable();
    want.dedup();
    got.sort_unstable();
    got.dedup();
    if want != got {
        return fail(format!("groups are {got:?}, not {want:?}"));
    }
    if capabilities()?.iter().any(|&c| c != 0) {
        return fail("capabilities are left".into());
    }
    // SAFETY: attempts that must fail; if one succeeds, the run stops below.
    if unsafe { libc::setuid(0) } == 0 || unsafe { libc::seteuid(0) } == 0 {
        return fail("root could be regained".into());
    }
    if a.gid != 0 && unsafe { libc::setgid(0) } == 0 {
        return fail("group root could be regained".into());
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// This thread's capability sets, as (effective, permitted, inheritable) × 2 words.
fn capabilities() -> Result<[u32; 6], Error> {
    let mut h = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let mut d = [CapData::default(); 2];
    // SAFETY: capget with a version-3 header and room for its two data words.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    check("reading capabilities", rc == 0)?;
    Ok([
        d[0].effective,
        d[1].effective,
        d[0].permitted,
        d[1].permitted,
        d[0].inheritable,
        d[1].inheritable,
    ])
}

/// Drops every capability of the calling thread (effective, permitted, inheritable, ambient)
/// when the process does not run as root; threads that never need one call it when they start.
/// As root it does nothing: the switch to another user clears them in every thread.
pub fn drop_thread_capabilities() {
    // SAFETY: geteuid cannot fail; prctl and capset with valid arguments (all-zero sets are
    // always allowed: they only give up).
    unsafe {
        if libc::geteuid() == 0 {
            return;
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        let mut h = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let d = [CapData::default(); 2];
        libc::syscall(libc::SYS_capset, &mut h, d.as_ptr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_is_an_error_and_root_is_found() {
        assert_eq!(lookup("no-such-user-wsscope").unwrap(), None);
        assert_eq!(lookup("a\0b").unwrap(), None);
        let root = lookup("root").unwrap().unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        let e = Plan::decide(Some("no-such-user-wsscope"), true).unwrap_err();
        assert!(e.to_string().contains("no such user"), "{e}");
    }

    #[test]
    fn files_read_without_z_keep_the_user() {
        assert_eq!(Plan::decide(None, false).unwrap(), Plan::Keep);
    }

    #[test]
    fn z_root_keeps_root_and_root_live_capture_drops_by_default() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            // Not root: -Z names only the user itself.
            assert!(Plan::decide(Some("root"), true).is_err());
            return;
        }
        assert_eq!(Plan::decide(Some("root"), true).unwrap(), Plan::Keep);
        match Plan::decide(None, true).unwrap() {
            Plan::Switch(a) => assert_ne!(a.uid, 0),
            Plan::Keep => panic!("root live capture keeps root"),
        }
    }

    #[test]
    fn this_threads_capabilities_can_be_read() {
        let caps = capabilities().unwrap();
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            assert!(caps[2] != 0, "root holds capabilities: {caps:x?}");
        }
    }
}
