// SPDX-License-Identifier: GPL-2.0

//! What a restore cannot bring back, in one list for every side: the kernel's
//! checkpoint refuses a process that holds any of it (before the freeze, so
//! the process is never stopped or ended for an image that would be refused),
//! and crctl's restore refuses an image that names any of it, with the same
//! words (Documentation/design.rst, "What is refused").
//!
//! Like `format.rs`, this file uses `core` only and allocates nothing: it
//! judges records and formats messages into whatever writer its caller has.

use core::fmt;

use crate::uapi::*;

/// The fds a restore takes from its caller when the image's own cannot be
/// opened again (`crctl restore --stdio auto`, the default): 0, 1 and 2. A
/// checkpoint does not refuse what these hold.
pub const INHERITABLE_FDS: i32 = 3;

/// What an fd holds that a restore cannot rebuild.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdObstacle<'a> {
    /// A file, directory or device whose name is gone (deleted, or never
    /// had one: memfd, an O_TMPFILE file).
    Deleted,
    /// A socket.
    Socket,
    /// One end of a pipe another process holds (or whose other end is in
    /// another process).
    PipeToOther,
    /// An object of a kind no restore rebuilds yet: an eventfd, a block
    /// device, an O_PATH fd on a symlink, ...
    Special(Kind<'a>),
}

/// The anonymous inodes this list names, by the prefix of their name in
/// `/proc/PID/fd` (after "anon_inode:").
const ANON: [(&[u8], &str); 9] = [
    (b"[eventfd]", "an eventfd"),
    (b"[eventpoll]", "an epoll instance"),
    (b"[signalfd]", "a signalfd"),
    (b"[timerfd]", "a timerfd"),
    (b"inotify", "an inotify instance"),
    (b"[fanotify]", "a fanotify instance"),
    (b"[io_uring]", "an io_uring instance"),
    (b"[pidfd]", "a pidfd"),
    (b"[userfaultfd]", "a userfaultfd"),
];

/// The file types, by `S_IFMT` bits (octal 0170000).
const TYPES: [(u32, &str); 7] = [
    (0o120000, "a symlink"),
    (0o100000, "a regular file"),
    (0o040000, "a directory"),
    (0o020000, "a character device"),
    (0o060000, "a block device"),
    (0o010000, "a pipe or FIFO"),
    (0o140000, "a socket"),
];

const O_ACCMODE: u32 = 0o3;
const O_WRONLY: u32 = 0o1;
const O_PATH: u32 = 0o10000000;

/// What kind of object `f` (at `path`) is, in words: its anonymous inode's
/// name (an eventfd, an epoll instance, ...) or its file type; an O_PATH fd
/// says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind<'a> {
    anon: Option<&'a [u8]>,
    named: &'static str,
    o_path: bool,
}

impl<'a> Kind<'a> {
    pub fn of(f: &CrFd, path: &'a [u8]) -> Kind<'a> {
        if let Some(name) = path.strip_prefix(b"anon_inode:") {
            return match ANON.iter().find(|(tag, _)| name.starts_with(tag)) {
                Some((_, k)) => Kind {
                    anon: None,
                    named: k,
                    o_path: false,
                },
                None => Kind {
                    anon: Some(name),
                    named: "",
                    o_path: false,
                },
            };
        }
        let named = TYPES
            .iter()
            .find(|(t, _)| f.mode & 0o170000 == *t)
            .map_or("a special file", |(_, k)| k);
        Kind {
            anon: None,
            named,
            o_path: f.f_flags & O_PATH != 0,
        }
    }
}

impl fmt::Display for Kind<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.anon {
            return write!(out, "an anonymous inode ({})", Bytes(name));
        }
        if self.o_path {
            out.write_str("an O_PATH fd on ")?;
        }
        out.write_str(self.named)
    }
}

/// Bytes shown as text: valid UTF-8 as it is, anything else as \xNN.
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            out.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(out, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Whether the process whose fds are `fds` holds both a read and a write end
/// of the pipe behind `f`, and no other process holds either (as far as the
/// image knows: `CR_FD_F_SHARED`). Only such a pipe can be made anew.
pub fn pipe_within<'b>(f: &CrFd, fds: impl Iterator<Item = &'b CrFd>) -> bool {
    let (mut ends, mut writers) = (0usize, 0usize);
    for g in fds {
        if g.r#type != CR_FD_PIPE || g.dev != f.dev || g.ino != f.ino {
            continue;
        }
        if g.flags & CR_FD_F_SHARED != 0 {
            return false;
        }
        ends += 1;
        if g.f_flags & O_ACCMODE == O_WRONLY {
            writers += 1;
        }
    }
    writers != 0 && writers != ends
}

/// What about fd `f` (at `path`, among the process's `fds`) a restore cannot
/// rebuild, if anything. Whether the file is still there and the same is the
/// restore's to find out; this judges what the image says.
pub fn fd_obstacle<'a, 'b>(
    f: &CrFd,
    path: &'a [u8],
    fds: impl Iterator<Item = &'b CrFd>,
) -> Option<FdObstacle<'a>> {
    match f.r#type {
        CR_FD_REG | CR_FD_DIR | CR_FD_CHR | CR_FD_TTY => {
            path.ends_with(b" (deleted)").then_some(FdObstacle::Deleted)
        }
        CR_FD_PIPE => (!pipe_within(f, fds)).then_some(FdObstacle::PipeToOther),
        CR_FD_SOCKET => Some(FdObstacle::Socket),
        _ => Some(FdObstacle::Special(Kind::of(f, path))),
    }
}

/// An fd a restore would refuse, as every side says it:
/// "fd 5 (socket:[1234]) is a socket: cr cannot restore sockets yet".
pub struct FdRefusal<'a> {
    pub fd: i32,
    pub path: &'a [u8],
    pub obstacle: FdObstacle<'a>,
}

impl fmt::Display for FdRefusal<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "fd {} ({}) is ", self.fd, Bytes(self.path))?;
        match self.obstacle {
            FdObstacle::Deleted => out.write_str("a deleted file: cr cannot restore its contents"),
            FdObstacle::Socket => out.write_str("a socket: cr cannot restore sockets yet"),
            FdObstacle::PipeToOther => {
                out.write_str("one end of a pipe to another process: cr cannot restore that yet")
            }
            FdObstacle::Special(k) => write!(out, "{k}: cr cannot restore that yet"),
        }
    }
}

/// What a process holds outside its fds and memory that no restore brings
/// back yet. Only a checkpoint can see these (an image has no record of
/// them), so only a checkpoint refuses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held<'a> {
    /// A child process (`pid`), alive.
    Child(u32),
    /// A child that has exited and was not reaped yet (`pid`).
    Zombie(u32),
    /// POSIX timers (timer_create).
    PosixTimers,
    /// A file lock (flock, fcntl or OFD) on the file of fd `fd`.
    FileLock(i32),
    /// A lease or delegation on the file of fd `fd`.
    Lease(i32),
    /// System V semaphore undo entries (semop with SEM_UNDO).
    SemUndo,
    /// An area at `addr` that may hold guard pages (MADV_GUARD_INSTALL).
    GuardPages(u64),
    /// `kib` KiB of locked memory (or mlockall(MCL_FUTURE)) over the
    /// process's RLIMIT_MEMLOCK, without CAP_IPC_LOCK.
    LockedOverLimit(u64),
    /// A thread (`tid`) with the SCHED_DEADLINE policy.
    Deadline(u32),
    /// A mapping at `addr` of a file whose name is gone (deleted, or memory
    /// that never had one: memfd, shared anonymous, System V), and its path.
    UnnamedMapping(u64, &'a [u8]),
}

impl fmt::Display for Held<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Held::Child(pid) => write!(
                out,
                "it has a child process (pid {pid}): cr cannot restore process trees yet"
            ),
            Held::Zombie(pid) => write!(
                out,
                "it has a child that exited and was not waited for (pid {pid}): cr cannot restore process trees yet"
            ),
            Held::PosixTimers => {
                out.write_str("it has POSIX timers (timer_create): cr cannot restore them yet")
            }
            Held::FileLock(fd) => write!(
                out,
                "it holds a lock on the file of fd {fd} (flock, fcntl or OFD): cr cannot restore file locks yet"
            ),
            Held::Lease(fd) => write!(
                out,
                "it holds a lease on the file of fd {fd}: cr cannot restore leases yet"
            ),
            Held::SemUndo => out.write_str(
                "it has System V semaphore undo entries (semop with SEM_UNDO): cr cannot restore them yet",
            ),
            Held::GuardPages(addr) => write!(
                out,
                "the memory at {addr:#x} may hold guard pages (MADV_GUARD_INSTALL): cr cannot restore them yet"
            ),
            Held::LockedOverLimit(kib) => write!(
                out,
                "it has {kib} KiB locked (mlock, mlockall), more than its RLIMIT_MEMLOCK allows, without CAP_IPC_LOCK: a restore by its user could not lock it again"
            ),
            Held::Deadline(tid) => write!(
                out,
                "thread {tid} runs with SCHED_DEADLINE: cr cannot restore a deadline reservation yet"
            ),
            Held::UnnamedMapping(addr, path) => write!(
                out,
                "the memory at {addr:#x} maps {}, a file with no name (deleted, memfd, shared anonymous or System V memory): cr cannot restore its contents yet",
                Bytes(path)
            ),
        }
    }
}
