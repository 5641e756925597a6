// SPDX-License-Identifier: GPL-2.0

//! Where `crctl checkpoint` puts an image: stdout, or a new file that only
//! the caller can read.
//!
//! crctl never writes into, truncates, chmods or deletes a file it did not
//! create:
//!
//! - The image goes into a new file, created with mode 0600 (the umask can
//!   only narrow that) and never chmodded: an unnamed `O_TMPFILE` in FILE's
//!   directory, or, where the file system has no `O_TMPFILE`, a new
//!   `.NAME.crctl-XXXXXX` there. It gets FILE's name only once the checkpoint
//!   has succeeded, so a failure, or crctl being killed, leaves nothing behind
//!   (see [`ImageFile`] for the one exception).
//! - An existing FILE (a dangling symlink counts) is refused, unless `force`:
//!   then the new file is renamed over it. rename(2) replaces the directory
//!   entry (a symlink itself, not its target); the old file's content and
//!   mode stay as they were, and whoever has it open still reads the old
//!   image.
//! - Stdout must be open for writing and not a terminal. Rust's runtime opens
//!   /dev/null on a closed fd 0-2 before `main`, so [`fix_stdio`] runs earlier
//!   (crctl's main.rs places it in `.init_array`) to see what crctl was given.
//!
//! Everything is checked before the process is touched; [`Output::open`]
//! is meant to be called before /dev/cr is opened.

use std::ffi::{c_int, CStr, CString, OsStr};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::Once;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;
use rustix::process::Signal;

use crate::sys;

/// What a file descriptor can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdState {
    /// Not open.
    Closed,
    /// Open, but only for reading (or `O_PATH`).
    ReadOnly,
    /// Open for writing (`O_WRONLY` or `O_RDWR`).
    Writable,
}

/// What `fd` is open for.
pub fn fd_state(fd: RawFd) -> FdState {
    match sys::fd_flags(fd) {
        Err(_) => FdState::Closed,
        Ok(flags) if flags & OFlags::ACCMODE == OFlags::RDONLY => FdState::ReadOnly,
        Ok(_) => FdState::Writable,
    }
}

/// `FdState` as `fix_stdio` saw fd 1; 0 if it has not run.
static STDOUT_AT_START: AtomicU8 = AtomicU8::new(0);

fn encode(s: FdState) -> u8 {
    match s {
        FdState::Closed => 1,
        FdState::ReadOnly => 2,
        FdState::Writable => 3,
    }
}

/// Records what stdout was open for, then opens /dev/null on each of fds 0-2
/// that is closed, so that no file crctl opens later becomes its stdin,
/// stdout or stderr. Meant to run before Rust's runtime, which would quietly
/// do the latter and hide a closed stdout.
pub fn fix_stdio() {
    STDOUT_AT_START.store(encode(fd_state(1)), Ordering::Relaxed);
    for fd in 0..3 {
        if fd_state(fd) != FdState::Closed {
            continue;
        }
        // Not close-on-exec: it is the stdin, stdout or stderr of what
        // crctl runs, as an open(2) there makes it.
        let Ok(null) = rustix::fs::open(c"/dev/null", OFlags::RDWR, Mode::empty()) else {
            continue;
        };
        if null.as_raw_fd() == fd {
            // The lowest free number: it stays open for good.
            let _ = null.into_raw_fd();
        } else {
            // Moved to the closed number `fd`; `null` itself is closed.
            let _ = sys::dup_onto_closed(null.as_fd(), fd);
        }
    }
}

/// Ignores SIGPIPE, so that a broken pipe comes back as EPIPE (with a
/// message) instead of killing crctl.
pub fn ignore_sigpipe() {
    sys::ignore_sigpipe();
}

/// What fd 1 was open for when crctl started (now, if `fix_stdio` did not
/// run).
pub fn stdout_at_start() -> FdState {
    match STDOUT_AT_START.load(Ordering::Relaxed) {
        1 => FdState::Closed,
        2 => FdState::ReadOnly,
        3 => FdState::Writable,
        _ => fd_state(1),
    }
}

/// Why stdout, in `state` and a terminal or not, cannot take an image.
pub fn stdout_problem(state: FdState, terminal: bool) -> Option<&'static str> {
    match state {
        FdState::Closed => Some("stdout is closed; use -o FILE or give crctl an open stdout"),
        FdState::ReadOnly => Some(
            "stdout is open only for reading; use -o FILE or give crctl a stdout open for writing",
        ),
        FdState::Writable if terminal => {
            Some("will not write a binary image to a terminal; use -o FILE or a pipe")
        }
        FdState::Writable => None,
    }
}

/// Why an output cannot be used, worded for the person at the terminal.
#[derive(Debug)]
pub enum Error {
    /// Stdout cannot take the image.
    Stdout(&'static str),
    /// The output does not name a file.
    NoName(PathBuf),
    /// FILE exists and replacing was not asked for.
    Exists(PathBuf),
    /// FILE is something crctl does not replace, even when asked to.
    NotReplaceable(PathBuf, &'static str),
    /// FILE was created by someone else while the image was being written:
    /// the image was kept under the second name instead.
    Appeared(PathBuf, PathBuf),
    /// A system call failed: what crctl was doing, and the error.
    Io(String, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stdout(msg) => f.write_str(msg),
            Error::NoName(p) => write!(
                f,
                "{} does not name a file; give the image a file name (-o DIR/NAME)",
                p.display()
            ),
            Error::Exists(p) => write!(
                f,
                "{} exists; remove it or pass --force to replace it",
                p.display()
            ),
            Error::NotReplaceable(p, kind) => write!(
                f,
                "{} is a {kind}; --force replaces only a regular file or a symlink \
                 (for a pipe or a device, use -o - and redirect stdout)",
                p.display()
            ),
            Error::Appeared(p, kept) => write!(
                f,
                "{} was created by someone else during the checkpoint; the image is \
                 complete and was saved as {} instead (rename it, or pass --force next \
                 time to replace FILE)",
                p.display(),
                kept.display()
            ),
            Error::Io(what, e) => {
                let hint = match Errno::from_io_error(e) {
                    Some(Errno::ACCESS | Errno::PERM) => "; choose a directory you can write to",
                    Some(Errno::ROFS) => "; choose a writable file system",
                    Some(Errno::NOSPC | Errno::DQUOT) => {
                        "; free some space or choose another file system"
                    }
                    _ => "",
                };
                write!(f, "{what}: {e}{hint}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Where a checkpoint's image goes.
pub enum Output {
    /// fd 1, checked to be open for writing and not a terminal.
    Stdout,
    /// A new file.
    File(ImageFile),
}

impl Output {
    /// Checks and prepares `target`: "-" for stdout, else a file name; `force`
    /// allows replacing an existing file.
    pub fn open(target: &str, force: bool) -> Result<Output, Error> {
        if target == "-" {
            match stdout_problem(stdout_at_start(), io::stdout().is_terminal()) {
                Some(msg) => Err(Error::Stdout(msg)),
                None => Ok(Output::Stdout),
            }
        } else {
            ImageFile::create(Path::new(target), force).map(Output::File)
        }
    }

    /// The fd to write the image to.
    pub fn fd(&self) -> RawFd {
        match self {
            Output::Stdout => 1,
            Output::File(img) => img.file().as_raw_fd(),
        }
    }

    /// The new file, if the image goes to one.
    pub fn file(&self) -> Option<&File> {
        match self {
            Output::Stdout => None,
            Output::File(img) => Some(img.file()),
        }
    }

    /// Called once the image is complete: gives a file its name.
    pub fn commit(self) -> Result<(), Error> {
        match self {
            Output::Stdout => Ok(()),
            Output::File(img) => img.commit(),
        }
    }
}

/// How the new file is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    /// `O_TMPFILE`, falling back to `Named` where the file system lacks it.
    Tmpfile,
    /// A new `.NAME.crctl-XXXXXX`.
    #[cfg_attr(not(test), allow(dead_code))] // Only tests ask for it.
    Named,
}

/// A new, still nameless (or temporarily named) file for an image; it becomes
/// FILE on [`commit`](ImageFile::commit), and vanishes if dropped before.
///
/// Without `O_TMPFILE` it is the named `.NAME.crctl-XXXXXX`, which dropping
/// or SIGINT, SIGTERM or SIGHUP removes, but SIGKILL leaves behind. With
/// `--force` over an existing FILE, the finished image also has such a name
/// between the link and the rename in `commit`, with those signals blocked.
pub struct ImageFile {
    file: File,
    /// FILE's directory (`O_PATH`): every name is made and changed in it,
    /// whatever happens to the path meanwhile.
    dir: File,
    /// FILE's name in `dir`.
    name: CString,
    /// FILE, for messages.
    path: PathBuf,
    force: bool,
    /// The temporary name of `file` in `dir`, without `O_TMPFILE`.
    temp: Option<(CString, SignalCleanup)>,
}

impl ImageFile {
    /// Checks that `path` does not exist (or, with `force`, is a regular file
    /// or a symlink), and creates the nameless file in its directory.
    pub fn create(path: &Path, force: bool) -> Result<ImageFile, Error> {
        Self::create_with(path, force, Method::Tmpfile)
    }

    fn create_with(path: &Path, force: bool, method: Method) -> Result<ImageFile, Error> {
        let (dir_path, name) = split(path).ok_or_else(|| Error::NoName(path.to_owned()))?;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags((OFlags::PATH | OFlags::DIRECTORY).bits() as i32)
            .open(dir_path)
            .map_err(|e| Error::Io(format!("cannot open directory {}", dir_path.display()), e))?;
        match fs::symlink_metadata(path) {
            Ok(_) if !force => return Err(Error::Exists(path.to_owned())),
            Ok(m) => {
                if let Some(kind) = not_replaceable(m.file_type()) {
                    return Err(Error::NotReplaceable(path.to_owned(), kind));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(format!("cannot check {}", path.display()), e)),
        }
        let name = CString::new(name.as_bytes()).map_err(|_| Error::NoName(path.to_owned()))?;
        let cannot_create =
            |e| Error::Io(format!("cannot create a file in {}", dir_path.display()), e);
        if method == Method::Tmpfile {
            match open_at(&dir, c".", OFlags::TMPFILE | OFlags::WRONLY) {
                Ok(file) => {
                    return Ok(ImageFile {
                        file,
                        dir,
                        name,
                        path: path.to_owned(),
                        force,
                        temp: None,
                    })
                }
                Err(e) if tmpfile_unsupported(&e) => {}
                Err(e) => return Err(cannot_create(e)),
            }
        }
        install_signal_cleanup();
        // The handler must not see the name before the file is ours.
        let _blocked = SignalsBlocked::new();
        let (file, temp) = with_temp_name(&name, |temp| {
            open_at(
                &dir,
                temp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW,
            )
        })
        .map_err(cannot_create)?;
        let cleanup = SignalCleanup::new(&dir, &temp);
        Ok(ImageFile {
            file,
            dir,
            name,
            path: path.to_owned(),
            force,
            temp: Some((temp, cleanup)),
        })
    }

    /// The file to write the image to.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Flushes the file to disk and gives it its name: FILE if that is still
    /// free, or, with `force`, renamed over whatever FILE is now.
    pub fn commit(mut self) -> Result<(), Error> {
        let failed = |e: io::Error| {
            Error::Io(
                format!("cannot save the image as {}", self.path.display()),
                e,
            )
        };
        self.file.sync_data().map_err(|e| {
            Error::Io(
                format!("cannot write the image to {}", self.path.display()),
                e,
            )
        })?;
        // No temporary name may outlive crctl, and the signal handler may
        // unlink only a name that is still ours.
        let _blocked = SignalsBlocked::new();
        let named = match &self.temp {
            None => self.link_tmpfile(),
            Some((temp, _)) => self.rename_temp(temp),
        };
        match named {
            Ok(()) => {
                self.temp = None;
                Ok(())
            }
            Err(e) if is(&e, Errno::EXIST) && !self.force => {
                // FILE is someone else's now. The image is complete and the
                // process may be gone (--kill): keep it under a new name.
                let kept = match &self.temp {
                    None => {
                        with_temp_name(&self.name, |n| self.link_tmpfile_as(n))
                            .map_err(failed)?
                            .1
                    }
                    Some((temp, _)) => temp.clone(),
                };
                self.temp = None;
                let dir = self.path.parent().unwrap_or(Path::new("."));
                Err(Error::Appeared(
                    self.path.clone(),
                    dir.join(OsStr::from_bytes(kept.as_bytes())),
                ))
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Links the `O_TMPFILE` as `name` in FILE's directory (never replacing).
    fn link_tmpfile_as(&self, name: &CStr) -> io::Result<()> {
        // Through /proc, linkat needs no CAP_DAC_READ_SEARCH (AT_EMPTY_PATH does).
        let proc = CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
            .expect("no NUL in a number");
        rustix::fs::linkat(CWD, &*proc, &self.dir, name, AtFlags::SYMLINK_FOLLOW)
            .map_err(Into::into)
    }

    /// Gives the `O_TMPFILE` its name.
    fn link_tmpfile(&self) -> io::Result<()> {
        let link = |name: &CStr| self.link_tmpfile_as(name);
        match link(&self.name) {
            Err(e) if is(&e, Errno::EXIST) && self.force => {
                // linkat never replaces: link under a new name, rename that over.
                let ((), temp) = with_temp_name(&self.name, link)?;
                rename_at(&self.dir, &temp, &self.name, RenameFlags::empty()).inspect_err(|_| {
                    let _ = unlink_at(&self.dir, &temp);
                })
            }
            r => r,
        }
    }

    /// Gives the named temporary file FILE's name.
    fn rename_temp(&self, temp: &CStr) -> io::Result<()> {
        if self.force {
            return rename_at(&self.dir, temp, &self.name, RenameFlags::empty());
        }
        match rename_at(&self.dir, temp, &self.name, RenameFlags::NOREPLACE) {
            Err(e) if is(&e, Errno::INVAL) || is(&e, Errno::NOSYS) => {
                // No RENAME_NOREPLACE here; a hard link does not replace either.
                rustix::fs::linkat(&self.dir, temp, &self.dir, &*self.name, AtFlags::empty())?;
                let _ = unlink_at(&self.dir, temp);
                Ok(())
            }
            r => r,
        }
    }
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        // An O_TMPFILE goes with its last fd; a named one is removed.
        if let Some((temp, cleanup)) = self.temp.take() {
            let _blocked = SignalsBlocked::new();
            let _ = unlink_at(&self.dir, &temp);
            drop(cleanup);
        }
    }
}

/// `path`'s directory and last component, if that is a name (not empty, `.`
/// or `..`, and without a trailing slash).
fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    let bytes = path.as_os_str().as_bytes();
    let (dir, name) = match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &bytes[1..]),
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (&b"."[..], bytes),
    };
    if matches!(name, b"" | b"." | b"..") {
        return None;
    }
    Some((Path::new(OsStr::from_bytes(dir)), OsStr::from_bytes(name)))
}

/// What kind of thing `--force` refuses to replace, if `t` is one.
fn not_replaceable(t: fs::FileType) -> Option<&'static str> {
    if t.is_file() || t.is_symlink() {
        None
    } else if t.is_dir() {
        Some("directory")
    } else if t.is_fifo() {
        Some("named pipe")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else {
        Some("special file")
    }
}

/// Whether an `O_TMPFILE` open failed because the kernel or the file system
/// does not support it (an old kernel sees `O_DIRECTORY` and says EISDIR).
fn tmpfile_unsupported(e: &io::Error) -> bool {
    is(e, Errno::OPNOTSUPP) || is(e, Errno::ISDIR) || is(e, Errno::INVAL)
}

/// Calls `make` with new names `.NAME.crctl-XXXXXX` until one is free (it
/// fails with EEXIST otherwise); returns its result and the name.
fn with_temp_name<T>(
    name: &CStr,
    mut make: impl FnMut(&CStr) -> io::Result<T>,
) -> io::Result<(T, CString)> {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Room for ".", ".crctl-XXXXXX" within NAME_MAX (255).
    let stem = &name.to_bytes()[..name.to_bytes().len().min(255 - 14)];
    for _ in 0..100 {
        // std's hasher keys are random for each RandomState.
        let mut r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let mut temp = [b".", stem, b".crctl-"].concat();
        for _ in 0..6 {
            temp.push(CHARS[(r % CHARS.len() as u64) as usize]);
            r /= CHARS.len() as u64;
        }
        let temp = CString::new(temp).expect("no NUL in a CString's bytes");
        match make(&temp) {
            Ok(v) => return Ok((v, temp)),
            Err(e) if is(&e, Errno::EXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EXIST.into())
}

/// Whether `e` is the error `errno`.
fn is(e: &io::Error, errno: Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

/// openat(dir, name, flags | O_CLOEXEC, 0600).
fn open_at(dir: &File, name: &CStr, flags: OFlags) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        flags | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

/// renameat2(dir, from, dir, to, flags).
fn rename_at(dir: &File, from: &CStr, to: &CStr, flags: RenameFlags) -> io::Result<()> {
    Ok(rustix::fs::renameat_with(dir, from, dir, to, flags)?)
}

/// unlinkat(dir, name, 0).
fn unlink_at(dir: &File, name: &CStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// The signals after which crctl removes its named temporary file.
const CLEANUP_SIGNALS: [c_int; 3] = [
    Signal::INT.as_raw(),
    Signal::TERM.as_raw(),
    Signal::HUP.as_raw(),
];

/// A temporary file for the signal handler to remove.
struct Pending {
    dir: RawFd,
    name: CString,
}

/// The one temporary file the signal handler removes, or null. Whoever swaps
/// a pointer out owns it (the handler only leaks it: crctl is ending).
static PENDING: AtomicPtr<Pending> = AtomicPtr::new(ptr::null_mut());

/// A registration of a temporary file with the signal handler; dropping it
/// (with the signals blocked) unregisters it.
struct SignalCleanup(*mut Pending);

impl SignalCleanup {
    /// Registers `name` in `dir`, which must stay open while this lives, if
    /// no other file is (crctl has one at a time; tests have more).
    fn new(dir: &File, name: &CStr) -> SignalCleanup {
        let p = Box::into_raw(Box::new(Pending {
            dir: dir.as_raw_fd(),
            name: name.to_owned(),
        }));
        match PENDING.compare_exchange(ptr::null_mut(), p, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => SignalCleanup(p),
            Err(_) => {
                // SAFETY: `p` came from Box::into_raw above and was not shared.
                drop(unsafe { Box::from_raw(p) });
                SignalCleanup(ptr::null_mut())
            }
        }
    }
}

impl Drop for SignalCleanup {
    fn drop(&mut self) {
        if !self.0.is_null()
            && PENDING
                .compare_exchange(self.0, ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            // SAFETY: we swapped our own Box pointer out, so no one else has it.
            drop(unsafe { Box::from_raw(self.0) });
        }
    }
}

extern "C" fn on_signal(sig: c_int) {
    let p = PENDING.swap(ptr::null_mut(), Ordering::SeqCst);
    if !p.is_null() {
        // SAFETY: a registered Pending stays allocated until swapped out, and
        // we swapped it out (it is leaked: crctl is ending).
        let pending = unsafe { &*p };
        // unlinkat is async-signal-safe.
        let _ = sys::unlink_at_raw(pending.dir, &pending.name);
    }
    // SA_RESETHAND restored the default action, and `sig` is blocked while
    // this runs: it ends crctl as it returns (raise is async-signal-safe).
    sys::raise(sig);
}

/// Installs `on_signal` for `CLEANUP_SIGNALS`, except those that are ignored
/// (by nohup, say), once.
fn install_signal_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for sig in CLEANUP_SIGNALS {
            sys::catch_once_unless_ignored(sig, on_signal);
        }
    });
}

/// `CLEANUP_SIGNALS` blocked in this thread while this lives.
struct SignalsBlocked(sys::SigMask);

impl SignalsBlocked {
    fn new() -> SignalsBlocked {
        SignalsBlocked(sys::block_signals(&CLEANUP_SIGNALS))
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        sys::set_signal_mask(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::os::unix::process::ExitStatusExt;
    use std::sync::atomic::AtomicU32;

    /// A new empty directory, removed with what is in it when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "crctl-output-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir(&p).unwrap();
            TempDir(p)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// The names in the directory, sorted.
        fn names(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const METHODS: [Method; 2] = [Method::Tmpfile, Method::Named];

    /// Creates an image at `path`, writes `data` and commits it.
    fn save(path: &Path, force: bool, method: Method, data: &[u8]) -> Result<(), Error> {
        let img = ImageFile::create_with(path, force, method)?;
        img.file().write_all(data).unwrap();
        img.commit()
    }

    /// A file that is not crctl's: mode 0666, with some content.
    fn theirs(path: &Path) {
        fs::write(path, b"not crctl's").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
    }

    fn assert_theirs(path: &Path) {
        assert_eq!(fs::read(path).unwrap(), b"not crctl's");
        assert_eq!(fs::metadata(path).unwrap().mode() & 0o7777, 0o666);
    }

    fn assert_image(path: &Path, data: &[u8]) {
        let m = fs::symlink_metadata(path).unwrap();
        assert!(m.is_file());
        assert_eq!(m.mode() & 0o7777, 0o600);
        assert_eq!(fs::read(path).unwrap(), data);
    }

    #[test]
    fn new_file_is_0600_whatever_the_umask() {
        // 0 can only widen other tests' files, which set their modes or do
        // not look at them.
        let old = rustix::process::umask(Mode::empty());
        for method in METHODS {
            let d = TempDir::new();
            let path = d.join("x.img");
            save(&path, false, method, b"image").unwrap();
            assert_image(&path, b"image");
            assert_eq!(d.names(), ["x.img"]);
        }
        rustix::process::umask(old);
    }

    #[test]
    fn fallback_uses_a_hidden_temporary_name() {
        let d = TempDir::new();
        let img = ImageFile::create_with(&d.join("x.img"), false, Method::Named).unwrap();
        let names = d.names();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(".x.img.crctl-"), "{names:?}");
        assert_eq!(names[0].len(), ".x.img.crctl-XXXXXX".len());
        img.commit().unwrap();
        assert_eq!(d.names(), ["x.img"]);
    }

    #[test]
    fn tmpfile_has_no_name_until_committed() {
        let d = TempDir::new();
        let img = ImageFile::create(&d.join("x.img"), false).unwrap();
        assert!(img.temp.is_none(), "this file system has O_TMPFILE");
        assert!(d.names().is_empty());
        img.commit().unwrap();
        assert_eq!(d.names(), ["x.img"]);
    }

    #[test]
    fn existing_file_is_refused_and_untouched() {
        for method in METHODS {
            let d = TempDir::new();
            let path = d.join("x.img");
            theirs(&path);
            let e = ImageFile::create_with(&path, false, method).err().unwrap();
            assert!(matches!(e, Error::Exists(_)), "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{} exists; remove it or pass --force to replace it",
                    path.display()
                )
            );
            assert_theirs(&path);
            assert_eq!(d.names(), ["x.img"]);
        }
    }

    #[test]
    fn force_renames_over_an_existing_file() {
        for method in METHODS {
            let d = TempDir::new();
            let path = d.join("x.img");
            theirs(&path);
            let mut old = File::open(&path).unwrap();
            let old_ino = old.metadata().unwrap().ino();
            save(&path, true, method, b"new image").unwrap();
            assert_image(&path, b"new image");
            assert_ne!(fs::metadata(&path).unwrap().ino(), old_ino);
            // The old file is intact: content and mode.
            let mut s = Vec::new();
            old.read_to_end(&mut s).unwrap();
            assert_eq!(s, b"not crctl's");
            assert_eq!(old.metadata().unwrap().mode() & 0o7777, 0o666);
            assert_eq!(d.names(), ["x.img"]);
        }
    }

    #[test]
    fn symlink_is_refused_or_replaced_itself() {
        for method in METHODS {
            let d = TempDir::new();
            let elsewhere = TempDir::new();
            let target = elsewhere.join("target");
            theirs(&target);
            let path = d.join("x.img");
            symlink(&target, &path).unwrap();
            let e = ImageFile::create_with(&path, false, method).err().unwrap();
            assert!(matches!(e, Error::Exists(_)), "{e}");
            assert_eq!(fs::read_link(&path).unwrap(), target);

            save(&path, true, method, b"image").unwrap();
            assert_image(&path, b"image");
            assert_theirs(&target);
            assert_eq!(d.names(), ["x.img"]);
            assert_eq!(elsewhere.names(), ["target"]);
        }
    }

    #[test]
    fn dangling_symlink_counts_as_existing() {
        let d = TempDir::new();
        let path = d.join("x.img");
        symlink(d.join("nowhere"), &path).unwrap();
        let e = ImageFile::create(&path, false).err().unwrap();
        assert!(matches!(e, Error::Exists(_)), "{e}");
        assert_eq!(d.names(), ["x.img"]);
        assert!(!d.join("nowhere").exists());
    }

    #[test]
    fn force_does_not_replace_a_directory() {
        let d = TempDir::new();
        let path = d.join("x.img");
        fs::create_dir(&path).unwrap();
        let e = ImageFile::create(&path, true).err().unwrap();
        assert!(matches!(e, Error::NotReplaceable(_, "directory")), "{e}");
        assert_eq!(d.names(), ["x.img"]);
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        for method in METHODS {
            let d = TempDir::new();
            let img = ImageFile::create_with(&d.join("x.img"), false, method).unwrap();
            img.file().write_all(b"half an image").unwrap();
            drop(img);
            assert!(d.names().is_empty(), "{method:?}: {:?}", d.names());
        }
    }

    #[test]
    fn file_created_meanwhile_is_refused_and_untouched() {
        for method in METHODS {
            let d = TempDir::new();
            let path = d.join("x.img");
            let img = ImageFile::create_with(&path, false, method).unwrap();
            img.file().write_all(b"image").unwrap();
            theirs(&path);
            let e = img.commit().err().unwrap();
            let Error::Appeared(_, kept) = &e else {
                panic!("{method:?}: {e}");
            };
            assert_theirs(&path);
            // The image is kept under another name, whole.
            assert_eq!(std::fs::read(kept).unwrap(), b"image");
            let mut names = d.names();
            names.sort();
            assert_eq!(names.len(), 2, "{names:?}");
            assert!(names.contains(&"x.img".to_owned()));
        }
    }

    #[test]
    fn file_created_meanwhile_is_replaced_with_force() {
        for method in METHODS {
            let d = TempDir::new();
            let path = d.join("x.img");
            let img = ImageFile::create_with(&path, true, method).unwrap();
            img.file().write_all(b"image").unwrap();
            theirs(&path);
            let old = File::open(&path).unwrap();
            img.commit().unwrap();
            assert_image(&path, b"image");
            assert_eq!(old.metadata().unwrap().mode() & 0o7777, 0o666);
            assert_eq!(old.metadata().unwrap().len(), b"not crctl's".len() as u64);
            assert_eq!(d.names(), ["x.img"]);
        }
    }

    #[test]
    fn long_names_get_a_temporary_name_that_fits() {
        let d = TempDir::new();
        let name = "x".repeat(255);
        save(&d.join(&name), false, Method::Named, b"image").unwrap();
        assert_eq!(d.names(), [name]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let d = TempDir::new();
        let e = ImageFile::create(&d.join("no/x.img"), false).err().unwrap();
        assert!(e.to_string().starts_with("cannot open directory"), "{e}");
        assert!(d.names().is_empty());
    }

    #[test]
    fn names_are_split_into_directory_and_file() {
        let s = |p: &str| split(Path::new(p)).map(|(d, n)| (d.to_owned(), n.to_owned()));
        assert_eq!(s("x.img"), Some((".".into(), "x.img".into())));
        assert_eq!(s("/x.img"), Some(("/".into(), "x.img".into())));
        assert_eq!(s("a/b/x.img"), Some(("a/b".into(), "x.img".into())));
        for bad in ["", "/", "a/", ".", "..", "a/.", "a/.."] {
            assert_eq!(s(bad), None, "{bad:?}");
        }
        let e = ImageFile::create(Path::new("/tmp/"), false).err().unwrap();
        assert!(matches!(e, Error::NoName(_)), "{e}");
    }

    #[test]
    fn sigterm_removes_the_temporary_file() {
        const CHILD: &str = "CRCTL_OUTPUT_TEST_SIGNAL_DIR";
        if let Some(dir) = std::env::var_os(CHILD) {
            // In the child: make the file, say its name, and be ended.
            let img = ImageFile::create_with(&Path::new(&dir).join("x.img"), false, Method::Named)
                .unwrap();
            img.file().write_all(b"half an image").unwrap();
            println!("made {:?}", img.temp.as_ref().unwrap().0);
            sys::raise(Signal::TERM.as_raw());
            unreachable!("SIGTERM ends the process");
        }
        let d = TempDir::new();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "output::tests::sigterm_removes_the_temporary_file",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD, &d.0)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.signal(), Some(Signal::TERM.as_raw()), "{stdout}");
        assert!(stdout.contains("made \".x.img.crctl-"), "{stdout}");
        assert!(d.names().is_empty(), "{:?}", d.names());
    }

    #[test]
    fn fd_states() {
        let r = File::open("/dev/null").unwrap();
        assert_eq!(fd_state(r.as_raw_fd()), FdState::ReadOnly);
        let w = OpenOptions::new().write(true).open("/dev/null").unwrap();
        assert_eq!(fd_state(w.as_raw_fd()), FdState::Writable);
        let rw = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap();
        assert_eq!(fd_state(rw.as_raw_fd()), FdState::Writable);
        let p = OpenOptions::new()
            .read(true)
            .custom_flags(OFlags::PATH.bits() as i32)
            .open("/dev/null")
            .unwrap();
        assert_eq!(fd_state(p.as_raw_fd()), FdState::ReadOnly);
        // A number no other test uses, made and closed.
        let closed = rustix::io::fcntl_dupfd_cloexec(&w, 900).unwrap();
        let closed_fd = closed.as_raw_fd();
        assert!(closed_fd >= 900);
        drop(closed);
        let closed = closed_fd;
        assert_eq!(fd_state(closed), FdState::Closed);
        assert_eq!(fd_state(-1), FdState::Closed);
    }

    #[test]
    fn stdout_problems() {
        let r = File::open("/dev/null").unwrap();
        let msg = stdout_problem(fd_state(r.as_raw_fd()), false).unwrap();
        assert!(msg.starts_with("stdout is open only for reading"), "{msg}");
        assert_eq!(
            stdout_problem(FdState::Closed, false),
            Some("stdout is closed; use -o FILE or give crctl an open stdout")
        );
        assert!(stdout_problem(FdState::Writable, true)
            .unwrap()
            .contains("terminal"));
        assert_eq!(stdout_problem(FdState::Writable, false), None);
    }
}
