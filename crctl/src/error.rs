// SPDX-License-Identifier: GPL-2.0

//! crctl's error: what failed, worded for the person at the terminal.
//!
//! Each variant is one failure, with the values its message names and, where
//! a system call failed, the `io::Error` (errno). [`Error`]'s `Display` is
//! the one line crctl prints after "crctl: " (the selftests match on these
//! words). The device's, the output's and the image reader's own errors are
//! kept whole.

use std::fmt;
use std::io;

use crate::dev::{self, DevError};
use crate::image::ImageError;
use crate::output;

/// `Result` with crctl's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which setting of a thread's scheduling a restore could not give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedSetting {
    /// The scheduling policy and real-time priority.
    Policy { policy: u32, priority: u32 },
    /// The nice value.
    Nice(i32),
}

/// What went wrong with one of the image's fds.
#[derive(Debug)]
pub enum FdProblem {
    /// Opening its path again failed.
    Reopen(io::Error),
    /// Its file could not be looked at.
    Stat(io::Error),
    /// Its pipe end could not be duplicated.
    Dup(io::Error),
    /// Its path now names another file.
    Replaced,
    /// Its offset could not be set.
    Seek { pos: u64, err: io::Error },
    /// The data that waited in its pipe could not be put back.
    PipeData { len: usize, err: io::Error },
}

/// Something crctl could not do.
#[derive(Debug)]
pub enum Error {
    /// Talking to /dev/cr failed.
    Dev(DevError),
    /// The checkpoint's output cannot be used.
    Output(output::Error),
    /// The image is not valid, or could not be read.
    Image(ImageError),
    /// `--json` output could not be made.
    Json(serde_json::Error),
    /// Reading or writing failed, with nothing more to say.
    Io(io::Error),

    /// A process of another host, and a module without the remote class.
    Remote(crate::cpid::ClusterPid),
    /// An option that acts on a process of this host only, given another
    /// host's (the option, the process).
    LocalOnly(&'static str, crate::cpid::ClusterPid),
    /// The cluster daemon refused or failed an operation (its words).
    Crd(String),
    /// `crctl checkpoint`: no process has this pid.
    NoProcess(u32),
    /// `crctl checkpoint`: /proc could not say whether the process exists.
    LookUp { pid: u32, err: io::Error },
    /// The module lacks `CR_FEATURE_CHECKPOINT`.
    NoCheckpoint,
    /// The module lacks `CR_FEATURE_RESTORE`.
    NoRestore,
    /// An image file could not be opened.
    OpenImage { path: String, err: io::Error },
    /// Stdin could not be taken as the image.
    Stdin(io::Error),
    /// Stdout could not be written.
    Stdout(io::Error),
    /// `restore --wait` could not wait for the restored process.
    Wait(rustix::io::Errno),
    /// `--clocks`: the time namespace could not be made.
    Clocks(io::Error),
    /// `--run-as`: crctl could not become the user, or use or let go of the
    /// capabilities it kept for its forks.
    RunAs(io::Error),
    /// `--stdio forward`: no terminal could be made for forwarded output.
    Terminal(io::Error),
    /// `--stdio forward` without `--wait` (nothing would relay).
    ForwardNeedsWait,
    /// `--stdio forward`: the forwarded stdin's pipe could not be passed to
    /// crd on stdout.
    StdinPass(io::Error),

    /// `--pid ns` with an image of pid 1.
    PidOne,
    /// A thread has SCHED_DEADLINE (`rules::Held::Deadline`).
    Deadline(u32),
    /// The image's root is not crctl's.
    Chroot(String),
    /// The image's working directory was deleted.
    CwdDeleted(String),
    /// The image's working directory is not a directory now.
    CwdNotDir(String),
    /// The image's working directory cannot be looked at.
    CwdGone { cwd: String, err: io::Error },
    /// The restoring child could not enter the working directory.
    EnterCwd { dir: String, err: io::Error },

    /// A path of the image holds a NUL byte.
    NulInPath(String),
    /// An fd no restore rebuilds (`rules::FdRefusal`'s words); `inheritable`
    /// when `--stdio` could give crctl's own instead.
    FdRefused { refusal: String, inheritable: bool },
    /// The process holds what keeps it on its host (`--portable`): who
    /// (`process PID`, or `the process` of an image), and the fd.
    Pinned {
        who: String,
        pin: crate::portable::Pin,
    },
    /// One of the image's fds could not be opened as it was.
    Fd {
        fd: i32,
        path: String,
        problem: FdProblem,
    },
    /// pipe2 failed.
    Pipe(io::Error),
    /// An fd could not be moved out of the way.
    MoveFd { fd: i32, err: io::Error },
    /// An fd could not be given its number.
    PlaceFd { fd: i32, err: io::Error },
    /// /proc/self/fd could not be listed.
    ListFds(io::Error),

    /// /proc/self/maps could not be read.
    ReadMaps(io::Error),
    /// The image has another number of [vdso]/[vvar] mappings than here.
    SpecialCount { image: usize, here: usize },
    /// The image's special mapping `name` has another size than here.
    SpecialMismatch(String),
    /// The image's special mapping would land on crctl's own memory.
    SpecialCollides { name: String, at: u64 },
    /// No room to park the special mappings while they move.
    ParkSpecials(io::Error),
    /// A special mapping could not be moved to `to`.
    MoveSpecial { to: u64, err: io::Error },

    /// A resource limit could not be set: the image's and this process's
    /// (soft, hard) values.
    Rlimit {
        name: &'static str,
        want: (u64, u64),
        here: (u64, u64),
        err: io::Error,
    },
    /// A prctl setting could not be made.
    Prctl { what: &'static str, err: io::Error },
    /// crctl runs under MDWE and the image did not.
    Mdwe,
    /// A membarrier registration failed.
    Membarrier { name: &'static str, err: io::Error },
    /// /proc/self/oom_score_adj could not be read.
    ReadOomScoreAdj(io::Error),
    /// /proc/self/oom_score_adj could not be written.
    OomScoreAdj {
        want: i32,
        here: String,
        err: io::Error,
    },
    /// A thread's scheduling could not be set.
    Sched {
        tid: u32,
        what: SchedSetting,
        err: io::Error,
    },
    /// An interval timer could not be armed.
    Itimer { name: &'static str, err: io::Error },

    /// A chosen pid (`what`: "pid" or "thread id") could not be had.
    Pid {
        what: &'static str,
        id: i32,
        err: io::Error,
    },
    /// clone3 with CLONE_NEWPID failed.
    PidNamespace(io::Error),
    /// CR_IOC_RESTORE returned success to crctl (it never should).
    Returned,

    /// The restoring child's own message, from the status pipe.
    Child(String),
    /// The restoring child ended with no status and no message.
    NoWord,
    /// The restore failed past its point of no return.
    Late {
        err: io::Error,
        reason: u32,
        offset: u64,
    },
    /// The `--pid ns` init's children could not be read.
    ReadChildren { path: String, err: io::Error },
    /// The `--pid ns` init has no child.
    NoRestoredChild(String),
}

impl fmt::Display for SchedSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedSetting::Policy { policy, priority } => {
                write!(f, "scheduling policy {policy} (priority {priority})")
            }
            SchedSetting::Nice(n) => write!(f, "nice value {n}"),
        }
    }
}

/// `v` as a resource limit: a number, or "unlimited".
fn limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_owned()
    } else {
        v.to_string()
    }
}

fn errno_is(e: &io::Error, errno: rustix::io::Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rustix::io::Errno;
        match self {
            Error::Dev(e) => e.fmt(f),
            Error::Output(e) => e.fmt(f),
            Error::Image(e) => e.fmt(f),
            Error::Json(e) => e.fmt(f),
            Error::Io(e) => e.fmt(f),

            Error::Crd(text) => f.write_str(text),
            Error::Remote(c) => write!(
                f,
                "process {c} lives on host {}: this cr module has no remote class (no CR_FEATURE_REMOTE); load the module built with this crctl",
                c.host
            ),
            Error::Clocks(e) => write!(
                f,
                "cannot give the process its clocks (a new time namespace with offsets: CAP_SYS_ADMIN and CAP_SYS_TIME): {e}; nothing was restored"
            ),
            Error::RunAs(e) => write!(
                f,
                "cannot restore as the user asked for (--run-as: root becomes that user, keeping CAP_CHECKPOINT_RESTORE and CAP_SYS_ADMIN for its forks only): {e}; nothing was restored"
            ),
            Error::LocalOnly(opt, c) => write!(
                f,
                "{opt} is for a process of this host; {c} lives on host {}",
                c.host
            ),
            Error::NoProcess(pid) => write!(f, "no process {pid}"),
            Error::LookUp { pid, err } => write!(f, "cannot look up process {pid}: {err}"),
            Error::NoCheckpoint => f.write_str(
                "this cr module cannot checkpoint (no CR_FEATURE_CHECKPOINT); load a newer one",
            ),
            Error::NoRestore => {
                f.write_str("this cr module cannot restore (no CR_FEATURE_RESTORE); load a newer one")
            }
            Error::OpenImage { path, err } => write!(f, "cannot open {path}: {err}"),
            Error::Stdin(e) => write!(f, "cannot use stdin: {e}"),
            Error::Stdout(e) => write!(f, "cannot write to stdout: {e}"),
            Error::Wait(e) => write!(f, "cannot wait for the restored process: {e}"),
            Error::Terminal(e) => {
                write!(f, "cannot make a terminal for the forwarded output: {e}")
            }
            Error::ForwardNeedsWait => f.write_str(
                "--stdio forward needs --wait: crctl relays the forwarded output while the process runs",
            ),
            Error::StdinPass(e) => write!(
                f,
                "cannot pass the forwarded stdin's pipe on stdout (a unix socket, crd's): {e}"
            ),

            Error::PidOne => f.write_str("the image's pid is 1: restore it with --pid any"),
            Error::Deadline(tid) => crate::rules::Held::Deadline(*tid).fmt(f),
            Error::Chroot(root) => write!(
                f,
                "the process ran with {root} as its root (chroot); cr cannot restore a chroot yet"
            ),
            Error::CwdDeleted(cwd) => write!(
                f,
                "the process's working directory {cwd} was deleted; cr cannot restore it"
            ),
            Error::CwdNotDir(cwd) => write!(
                f,
                "the process's working directory {cwd} is not a directory any more"
            ),
            Error::CwdGone { cwd, err } => write!(
                f,
                "the process's working directory {cwd} cannot be entered: {err}"
            ),
            Error::EnterCwd { dir, err } => {
                write!(f, "cannot enter the working directory {dir}: {err}")
            }

            Error::NulInPath(path) => write!(f, "the path {path:?} holds a NUL byte"),
            Error::FdRefused {
                refusal,
                inheritable,
            } => {
                let hint = if *inheritable {
                    " (--stdio auto or inherit gives the restored process crctl's own fd instead)"
                } else {
                    ""
                };
                write!(f, "{refusal}{hint}")
            }
            Error::Pinned { who, pin } => write!(f, "{who} stays on its host: {pin}"),
            Error::Fd { fd, path, problem } => {
                let what = format!("fd {fd} ({path})");
                match problem {
                    FdProblem::Reopen(e) => write!(f, "{what}: cannot open it again: {e}"),
                    FdProblem::Stat(e) | FdProblem::Dup(e) => write!(f, "{what}: {e}"),
                    FdProblem::Replaced => write!(
                        f,
                        "{what} is another file now (it was replaced or moved since the checkpoint)"
                    ),
                    FdProblem::Seek { pos, err } => {
                        write!(f, "{what}: cannot seek to {pos}: {err}")
                    }
                    FdProblem::PipeData { len, err } => write!(
                        f,
                        "{what}: cannot put back the {len} bytes it held: {err}"
                    ),
                }
            }
            Error::Pipe(e) => write!(f, "cannot make a pipe: {e}"),
            Error::MoveFd { fd, err } => write!(f, "cannot move fd {fd}: {err}"),
            Error::PlaceFd { fd, err } => write!(f, "cannot place fd {fd}: {err}"),
            Error::ListFds(e) => write!(f, "cannot list /proc/self/fd: {e}"),

            Error::ReadMaps(e) => write!(f, "cannot read /proc/self/maps: {e}"),
            Error::SpecialCount { image, here } => write!(
                f,
                "the image has {image} vdso/vvar mappings, this kernel {here}: restore on the kernel that wrote the image"
            ),
            Error::SpecialMismatch(name) => write!(
                f,
                "the image's {name} does not match this kernel's: restore on the kernel that wrote the image"
            ),
            Error::SpecialCollides { name, at } => write!(
                f,
                "the image's {name} at {at:#x} collides with crctl's own memory; run the restore again"
            ),
            Error::ParkSpecials(e) => write!(f, "cannot reserve room to move the vdso: {e}"),
            Error::MoveSpecial { to, err } => write!(f, "cannot move the vdso to {to:#x}: {err}"),

            Error::Rlimit {
                name,
                want,
                here,
                err,
            } => {
                let hint = if errno_is(err, Errno::PERM) {
                    "; raising a hard limit needs CAP_SYS_RESOURCE: restore as root, or from a shell with that hard limit"
                } else {
                    ""
                };
                write!(
                    f,
                    "cannot give the process its {name} (soft {}, hard {}; here {} and {}): {err}{hint}",
                    limit(want.0),
                    limit(want.1),
                    limit(here.0),
                    limit(here.1)
                )
            }
            Error::Prctl { what, err } => write!(f, "cannot give the process {what}: {err}"),
            Error::Mdwe => f.write_str("crctl runs with PR_SET_MDWE (memory-deny-write-execute), which cannot be unset, and the process had none: restore from a process without it"),
            Error::Membarrier { name, err } => write!(
                f,
                "cannot register the process with membarrier ({name}): {err}"
            ),
            Error::ReadOomScoreAdj(e) => write!(f, "cannot read /proc/self/oom_score_adj: {e}"),
            Error::OomScoreAdj { want, here, err } => {
                let hint = if errno_is(err, Errno::ACCESS) {
                    "; lowering it needs CAP_SYS_RESOURCE: restore as root"
                } else {
                    ""
                };
                write!(
                    f,
                    "cannot give the process its oom_score_adj {want} (here {here}): {err}{hint}"
                )
            }
            Error::Sched { tid, what, err } => {
                let hint = if errno_is(err, Errno::PERM) {
                    "; that needs CAP_SYS_NICE (or RLIMIT_RTPRIO / RLIMIT_NICE): restore as root"
                } else {
                    ""
                };
                write!(f, "cannot give thread {tid} its {what}: {err}{hint}")
            }
            Error::Itimer { name, err } => write!(f, "cannot arm {name}: {err}"),

            Error::Pid { what, id, err } => {
                if errno_is(err, Errno::EXIST) {
                    write!(
                        f,
                        "{what} {id} is in use: restore with --pid any, or --pid ns (a new pid namespace)"
                    )
                } else if errno_is(err, Errno::PERM) {
                    write!(
                        f,
                        "choosing {what} {id} needs CAP_CHECKPOINT_RESTORE: restore with --pid any"
                    )
                } else {
                    write!(f, "cannot create {what} {id}: {err}")
                }
            }
            Error::PidNamespace(e) => write!(f, "cannot make a pid namespace: {e}"),
            Error::Returned => f.write_str("the restore returned to crctl"),

            Error::Child(text) => f.write_str(text),
            Error::NoWord => {
                f.write_str("the restoring process ended without a word; nothing was restored")
            }
            Error::Late {
                err,
                reason,
                offset,
            } => f.write_str(&dev::restore_failure(err, *reason, *offset, true)),
            Error::ReadChildren { path, err } => write!(f, "cannot read {path}: {err}"),
            Error::NoRestoredChild(path) => write!(f, "{path} names no restored process"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Dev(e) => Some(e),
            Error::Output(e) => Some(e),
            Error::Image(e) => Some(e),
            Error::Json(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DevError> for Error {
    fn from(e: DevError) -> Self {
        Error::Dev(e)
    }
}

impl From<output::Error> for Error {
    fn from(e: output::Error) -> Self {
        Error::Output(e)
    }
}

impl From<ImageError> for Error {
    fn from(e: ImageError) -> Self {
        Error::Image(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(e: rustix::io::Errno) -> io::Error {
        e.into()
    }

    /// A few messages, word for word as crctl printed them before they were
    /// typed (the selftests match on them).
    #[test]
    fn messages_keep_their_words() {
        use rustix::io::Errno;
        let cases: Vec<(Error, String)> = vec![
            (Error::NoProcess(7), "no process 7".into()),
            (
                Error::Pid {
                    what: "pid",
                    id: 42,
                    err: errno(Errno::EXIST),
                },
                "pid 42 is in use: restore with --pid any, or --pid ns (a new pid namespace)"
                    .into(),
            ),
            (
                Error::Pid {
                    what: "thread id",
                    id: 43,
                    err: errno(Errno::PERM),
                },
                "choosing thread id 43 needs CAP_CHECKPOINT_RESTORE: restore with --pid any"
                    .into(),
            ),
            (
                Error::Fd {
                    fd: 3,
                    path: "/tmp/x".into(),
                    problem: FdProblem::Replaced,
                },
                "fd 3 (/tmp/x) is another file now (it was replaced or moved since the checkpoint)"
                    .into(),
            ),
            (
                Error::Rlimit {
                    name: "RLIMIT_NOFILE",
                    want: (1024, u64::MAX),
                    here: (1024, 4096),
                    err: errno(Errno::PERM),
                },
                format!(
                    "cannot give the process its RLIMIT_NOFILE (soft 1024, hard unlimited; here 1024 and 4096): {}; raising a hard limit needs CAP_SYS_RESOURCE: restore as root, or from a shell with that hard limit",
                    errno(Errno::PERM)
                ),
            ),
            (
                Error::Sched {
                    tid: 9,
                    what: SchedSetting::Policy {
                        policy: 1,
                        priority: 5,
                    },
                    err: errno(Errno::PERM),
                },
                format!(
                    "cannot give thread 9 its scheduling policy 1 (priority 5): {}; that needs CAP_SYS_NICE (or RLIMIT_RTPRIO / RLIMIT_NICE): restore as root",
                    errno(Errno::PERM)
                ),
            ),
            (
                Error::FdRefused {
                    refusal: "fd 1 (socket:[5]) is a socket: cr cannot restore sockets yet".into(),
                    inheritable: true,
                },
                "fd 1 (socket:[5]) is a socket: cr cannot restore sockets yet (--stdio auto or inherit gives the restored process crctl's own fd instead)".into(),
            ),
            (
                Error::SpecialCollides {
                    name: "[vdso]".into(),
                    at: 0x7fff0000,
                },
                "the image's [vdso] at 0x7fff0000 collides with crctl's own memory; run the restore again".into(),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
