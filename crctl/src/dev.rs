// SPDX-License-Identifier: GPL-2.0

//! A handle on /dev/cr: opening it and issuing its ioctls.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::sys;
use crate::uapi::{self, CrCheckpointArgs, CrInfo, CrRestoreArgs, CrServeArgs};

/// The default device node.
pub const DEFAULT_PATH: &str = "/dev/cr";

/// An error talking to /dev/cr, worded for the person at the terminal.
#[derive(Debug)]
pub enum DevError {
    /// The device node could not be opened.
    Open(PathBuf, io::Error),
    /// An ioctl failed.
    Ioctl(&'static str, io::Error),
    /// The module speaks another ABI version than this crctl.
    Abi { module: u32 },
    /// A checkpoint failed; `args` holds the module's reason, `msg` its
    /// explanation, if it gave one.
    Checkpoint {
        err: io::Error,
        args: Box<CrCheckpointArgs>,
        msg: String,
    },
    /// A restore failed before its point of no return.
    Restore { err: io::Error, args: CrRestoreArgs },
}

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevError::Open(path, e) => {
                let hint = match Errno::from_io_error(e) {
                    Some(Errno::NOENT | Errno::NXIO | Errno::NODEV) => {
                        "is the cr module loaded? (insmod cr.ko)"
                    }
                    Some(Errno::ACCESS | Errno::PERM) => {
                        "run as root, or give your user access to the device node"
                    }
                    _ => "check the device node",
                };
                write!(f, "cannot open {}: {e}; {hint}", path.display())
            }
            DevError::Ioctl(name, e) => {
                let hint = match Errno::from_io_error(e) {
                    Some(Errno::NOTTY) => "; the module does not know this request (module and crctl from different builds?)",
                    _ => "",
                };
                write!(f, "{name} failed: {e}{hint}")
            }
            DevError::Checkpoint { err, args, msg } => {
                write!(f, "{}", checkpoint_failure(err, args, msg))
            }
            DevError::Restore { err, args } => {
                write!(f, "{}", restore_failure(err, args.fail_reason, args.fail_offset, false))
            }
            DevError::Abi { module } => write!(
                f,
                "the module speaks ABI {module}, this crctl speaks ABI {}; use the crctl built with the module",
                uapi::CR_ABI_VERSION
            ),
        }
    }
}

impl std::error::Error for DevError {}

/// An open /dev/cr.
pub struct Device {
    file: File,
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// A remote-class request the module handed to its cluster daemon
/// (`CR_IOC_SERVE`): a checkpoint of `target` (a process of another host)
/// into `out`, as user `uid`/`gid`.
#[derive(Debug)]
pub struct ServeRequest {
    pub id: u64,
    pub target: u64,
    /// `CR_CHECKPOINT_*`.
    pub flags: u32,
    pub freeze_timeout_ms: u32,
    pub uid: u32,
    pub gid: u32,
    pub capable: bool,
    pub out: OwnedFd,
}

/// The answer to a [`ServeRequest`], as the module hands it to the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeAnswer {
    /// 0, or a positive errno.
    pub errno: i32,
    /// `CR_FAIL_*`.
    pub reason: u32,
    pub addr: u64,
    pub bytes: u64,
    pub pages: u64,
    pub frozen_ns: u64,
    pub threads: u32,
    pub vmas: u32,
    /// With `errno`: what went wrong, for the caller.
    pub msg: String,
}

impl Device {
    /// `CR_IOC_SERVE`: answers request `done` with its answer (if any),
    /// then, unless `answer_only`, waits for the next request.
    pub fn serve(
        &self,
        done: Option<(u64, &ServeAnswer)>,
        answer_only: bool,
    ) -> Result<Option<ServeRequest>, DevError> {
        let mut args = CrServeArgs {
            flags: if answer_only {
                uapi::CR_SERVE_ANSWER_ONLY
            } else {
                0
            },
            ..Default::default()
        };
        let mut msg = None;
        if let Some((id, a)) = done {
            args.done = id;
            args.error = -a.errno.clamp(0, 4095);
            if a.errno != 0 {
                args.fail_reason = a.reason;
                args.fail_addr = a.addr;
                msg = Some(a.msg.as_bytes());
            } else {
                args.bytes = a.bytes;
                args.pages = a.pages;
                args.frozen_ns = a.frozen_ns;
                args.threads = a.threads;
                args.vmas = a.vmas;
            }
        }
        let out = sys::ioctl_serve(self.as_fd(), &mut args, msg)
            .map_err(|e| DevError::Ioctl("CR_IOC_SERVE", e))?;
        Ok(out.map(|out| ServeRequest {
            id: args.id,
            target: args.target,
            flags: args.req_flags,
            freeze_timeout_ms: args.freeze_timeout_ms,
            uid: args.uid,
            gid: args.gid,
            capable: args.capable != 0,
            out,
        }))
    }

    /// Opens the device node at `path`.
    pub fn open(path: &Path) -> Result<Device, DevError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| DevError::Open(path.to_owned(), e))?;
        Ok(Device { file })
    }

    /// `CR_IOC_INFO`: what the module is and can do.
    pub fn info(&self) -> Result<CrInfo, DevError> {
        let mut info = CrInfo::default();
        sys::ioctl_info(self.as_fd(), &mut info).map_err(|e| DevError::Ioctl("CR_IOC_INFO", e))?;
        Ok(info)
    }

    /// `CR_IOC_CHECKPOINT`: streams the image of `args.target` to
    /// `args.out_fd`; fills the statistics in `args`.
    pub fn checkpoint(&self, args: &mut CrCheckpointArgs) -> Result<(), DevError> {
        // Room for the module's explanation of a failure.
        let mut msg = [0u8; uapi::CR_MSG_MAX as usize];
        let rc = sys::ioctl_checkpoint(self.as_fd(), args, &mut msg);
        if let Err(err) = rc {
            let end = msg.iter().position(|&b| b == 0).unwrap_or(0);
            return Err(DevError::Checkpoint {
                err,
                args: Box::new(*args),
                msg: String::from_utf8_lossy(&msg[..end]).into_owned(),
            });
        }
        Ok(())
    }

    /// `CR_IOC_RESTORE`: the calling process becomes the image's. Returns only
    /// on failure (a successful restore returns into the restored program).
    pub fn restore(&self, args: &mut CrRestoreArgs) -> Result<(), DevError> {
        Self::restore_on(self.file.as_raw_fd(), args)
    }

    /// `restore` through `fd`, another fd of the device (crctl moves its fds
    /// about before a restore).
    pub fn restore_on(fd: RawFd, args: &mut CrRestoreArgs) -> Result<(), DevError> {
        // The caller keeps `meta_len` bytes at `meta` alive across the call.
        sys::ioctl_restore(fd, args).map_err(|err| DevError::Restore { err, args: *args })
    }

    /// `info`, refusing a module of another ABI version.
    pub fn checked_info(&self) -> Result<CrInfo, DevError> {
        let info = self.info()?;
        if info.abi_version != uapi::CR_ABI_VERSION {
            return Err(DevError::Abi {
                module: info.abi_version,
            });
        }
        Ok(info)
    }
}

/// One line saying why a checkpoint failed and what to do about it.
pub fn checkpoint_failure(err: &io::Error, args: &CrCheckpointArgs, msg: &str) -> String {
    let pid = uapi::cpid_pid(args.target);
    let errno = Errno::from_io_error(err);
    let timeout = match args.freeze_timeout_ms {
        0 => uapi::CR_FREEZE_TIMEOUT_MS_DEFAULT,
        t => t,
    };
    // Another host's process: the words are that host's (or the remote
    // class's), already whole.
    let host = uapi::cpid_host(args.target);
    if host != 0 && !msg.is_empty() {
        return format!("checkpoint of process {host}:{pid}: {msg}");
    }
    let text = match args.fail_reason {
        uapi::CR_FAIL_ARGS => "the module refused the request's arguments; crctl and the module are from different builds".to_owned(),
        uapi::CR_FAIL_REMOTE => format!(
            "process {pid} lives on host {}: remote processes are not supported yet",
            uapi::cpid_host(args.target)
        ),
        uapi::CR_FAIL_NO_PROCESS => format!("no process {pid} (it does not exist, is not a process id, or exited during the checkpoint)"),
        uapi::CR_FAIL_KTHREAD => format!("{pid} is a kernel thread; only user processes can be checkpointed"),
        uapi::CR_FAIL_SELF => "a process cannot checkpoint itself; run crctl from another process".to_owned(),
        uapi::CR_FAIL_STOPPED => format!("process {pid} is stopped or traced; continue it (kill -CONT) or detach the debugger, then retry"),
        uapi::CR_FAIL_PERM => format!("not allowed to checkpoint {pid}: you may not ptrace it; run as its owner or as root, or with CAP_CHECKPOINT_RESTORE"),
        uapi::CR_FAIL_PROOF => format!("/proc/{pid}/mem no longer belongs to process {pid} (it exec'd, or the pid was reused); retry"),
        uapi::CR_FAIL_OUTPUT => {
            let hint = match errno {
                Some(Errno::PIPE) => "; the reader of the output went away",
                Some(Errno::NOSPC) => "; the disk is full",
                Some(Errno::AGAIN) => "; the output is non-blocking (O_NONBLOCK), which an image stream cannot use",
                Some(Errno::BADF) => "; the output is not open for writing",
                _ => "",
            };
            format!("writing the image failed: {err}{hint}; process {pid} was left running")
        }
        uapi::CR_FAIL_BUSY => format!("another checkpoint of process {pid} is running; retry when it is done"),
        uapi::CR_FAIL_TIMEOUT => format!(
            "a thread of process {pid} did not stop within {timeout} ms (it is in an uninterruptible sleep: vfork, disk or network I/O); it was left running; retry, or raise --timeout"
        ),
        uapi::CR_FAIL_INTERRUPTED => format!("interrupted by a signal; process {pid} was left running"),
        uapi::CR_FAIL_EXEC => format!("process {pid} ran execve during the checkpoint; retry"),
        uapi::CR_FAIL_SHMEM | uapi::CR_FAIL_HOLDS if !msg.is_empty() => format!(
            "no restore could bring process {pid} back: {msg}; it was left running (--allow-partial writes the image anyway, without --kill)"
        ),
        uapi::CR_FAIL_SHMEM => format!(
            "process {pid} has shared anonymous or System V shared memory at {:#x}, which cr cannot checkpoint yet; it was left running",
            args.fail_addr
        ),
        uapi::CR_FAIL_DEVICE => format!(
            "process {pid} has a device mapped at {:#x}; a process holding a device cannot be checkpointed; it was left running",
            args.fail_addr
        ),
        uapi::CR_FAIL_LIMIT => format!("process {pid} has more threads, memory areas or queued signals than an image holds"),
        uapi::CR_FAIL_UNKILLABLE => format!(
            "process {pid} is the init of a pid namespace you are in (or of the system): SIGKILL cannot end it, so --kill is refused; checkpoint it without --kill"
        ),
        uapi::CR_FAIL_LEADERLESS => format!(
            "process {pid} runs on without its main thread (it called pthread_exit): cr cannot checkpoint such a process yet; it was left running"
        ),
        uapi::CR_FAIL_UNRESTORABLE => format!(
            "process {pid} could not be restored from an image: {msg} ({:#x}); it was left running",
            args.fail_addr
        ),
        uapi::CR_FAIL_NOT_COMMITTED => format!(
            "the image of process {pid} is complete, but the hold ended without a commit; it was thawed and runs on"
        ),
        _ => format!("checkpoint of process {pid} failed: {err}"),
    };
    if args.fail_reason == uapi::CR_FAIL_OUTPUT || args.fail_reason == uapi::CR_FAIL_NONE {
        text
    } else {
        format!("{text} ({err})")
    }
}

/// One line saying why a restore failed and what to do; `late` when it failed
/// after the point of no return (the process was then ended).
pub fn restore_failure(err: &io::Error, reason: u32, offset: u64, late: bool) -> String {
    let text = match reason {
        uapi::CR_FAIL_ARGS => "the module refused the request's arguments; crctl and the module are from different builds".to_owned(),
        uapi::CR_FAIL_PERM => "the image is of another user's process; restoring it needs CAP_CHECKPOINT_RESTORE".to_owned(),
        uapi::CR_FAIL_IMAGE => format!("the image is not valid at byte {offset}: {err}; run crctl inspect on it"),
        uapi::CR_FAIL_CPU => format!("the image does not fit this machine: its FPU/vector state (xsave layout), an address above what this CPU maps (5-level paging) or a longer auxv than this kernel keeps (record at byte {offset}); restore on a machine like the one that wrote it"),
        uapi::CR_FAIL_VDSO => "the vdso could not be placed where the image has it; restore on the kernel that wrote the image".to_owned(),
        uapi::CR_FAIL_FILE => format!(
            "a file the process had mapped is {} (the record at byte {offset}); restore it first",
            if Errno::from_io_error(err) == Some(Errno::STALE) { "different now" } else { "missing" }
        ),
        uapi::CR_FAIL_UNSUPPORTED => format!("the image holds something this version cannot restore yet (record at byte {offset}): a shared or device mapping"),
        uapi::CR_FAIL_LIMIT if Errno::from_io_error(err) == Some(Errno::NOMEM) => "the image's locked memory (mlock, mlockall) is more than RLIMIT_MEMLOCK allows here; restore as root (CAP_IPC_LOCK) or with a higher limit".to_owned(),
        uapi::CR_FAIL_LIMIT => "the image's metadata is larger than a restore takes".to_owned(),
        uapi::CR_FAIL_CALLER => "the restoring process's threads do not match the image's (each must wait in CR_IOC_RESTORE_THREAD with its own index)".to_owned(),
        uapi::CR_FAIL_CANCELED => "the restore was cancelled".to_owned(),
        uapi::CR_FAIL_INTERRUPTED => "interrupted by a signal".to_owned(),
        _ => format!("restore failed: {err}"),
    };
    if late {
        format!("{text}; the half-restored process was ended ({err})")
    } else {
        format!("{text} ({err})")
    }
}

/// The name of a `CR_ARCH_*` value.
pub fn arch_name(arch: u32) -> &'static str {
    match arch {
        uapi::CR_ARCH_X86_64 => "x86_64",
        _ => "unknown",
    }
}

/// The names of the `CR_FEATURE_*` bits in `features`, with unknown bits in hex.
pub fn feature_names(features: u64) -> Vec<String> {
    let known: [(u64, &str); 5] = [
        (uapi::CR_FEATURE_CHECKPOINT, "checkpoint"),
        (uapi::CR_FEATURE_RESTORE, "restore"),
        (uapi::CR_FEATURE_HOLD, "hold"),
        (uapi::CR_FEATURE_DEPUTY, "deputy"),
        (uapi::CR_FEATURE_REMOTE, "remote"),
    ];
    let mut names: Vec<String> = known
        .iter()
        .filter(|(bit, _)| features & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let unknown = features & !uapi::CR_FEATURES_ALL;
    if unknown != 0 {
        names.push(format!("unknown({unknown:#x})"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_has_a_name() {
        for i in 0..64 {
            let bit = 1u64 << i;
            let names = feature_names(bit);
            if uapi::CR_FEATURES_ALL & bit != 0 {
                assert_eq!(names.len(), 1, "bit {i}");
                assert!(!names[0].starts_with("unknown"), "bit {i} has no name");
            } else {
                assert_eq!(names, vec![format!("unknown({bit:#x})")]);
            }
        }
        assert_eq!(
            feature_names(uapi::CR_FEATURES_ALL).join(" "),
            "checkpoint restore hold deputy remote"
        );
    }
}
