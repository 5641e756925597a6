// SPDX-License-Identifier: GPL-2.0

//! `crctl restore`: bring a process back from an image.
//!
//! crctl reads the image's metadata (every record before the first page) and
//! opens the files the image had open (checking they are the same files).
//! Then it makes the process that becomes the restored one, with the image's
//! pid when asked (clone3 with set_tid, or inside a new pid namespace). That
//! child blocks signals, lays out its fd table as the image's, moves its
//! [vdso] and [vvar] mappings to the image's addresses (the kernel keeps them
//! through a restore), starts one thread per extra image thread (each waits
//! in CR_IOC_RESTORE_THREAD), and calls CR_IOC_RESTORE, which replaces it
//! with the image's process and returns into the restored program. The
//! parent learns the outcome from a status pipe (the module writes a struct
//! cr_restore_status to it; the child writes a message there if it fails
//! first), prints the restored pid and leaves; the process runs on by itself.
//!
//! The parts: [`fds`] (the image's files and the fd table), [`specials`]
//! ([vdso] and [vvar]), [`settings`] (what the process gets before the
//! restore: limits, prctl settings, scheduling, timers), [`spawn`] (the
//! processes and threads that become the restored ones) and [`status`] (the
//! status pipe).

mod fds;
mod settings;
mod spawn;
mod specials;
mod status;

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::dev::Device;
use crate::error::{Error, Result};
use crate::image;
use crate::uapi;

/// Which pid the restored process gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidChoice {
    /// The image's pid and thread ids, or fail if one is taken.
    Original,
    /// Whatever pids are free.
    Any,
    /// The image's pids, inside a new pid namespace (crctl's child is its init).
    Namespace,
    /// The image's pids where every one is free on this host, else the
    /// image's pids in a new pid namespace (a migration's choice).
    Auto,
}

/// What fds 0, 1 and 2 of the restored process are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// Each of fds 0-2 as the image had it where it can be opened again (a
    /// file or directory that is still the same one, a device or terminal
    /// that exists, a pipe within the process), crctl's own where not (a
    /// pipe to another process, a socket, a file that is gone).
    Auto,
    /// crctl's own stdin, stdout and stderr.
    Inherit,
    /// What the image had there, reopened like every other fd.
    Image,
    /// As `Image`, but a pipe at fd 1 or 2 that led to another process is a
    /// new pipe whose read end crctl keeps ([`Restored::forwarded`]): a
    /// migrated process's output, forwarded home by crd (a terminal there
    /// is a new pseudo-terminal, whose master crctl keeps); and such a pipe at
    /// fd 0 is a new pipe whose ends crctl hands on ([`Restored::stdin`]):
    /// its input, forwarded from home by crd.
    Forward,
}

/// How to restore.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub pid: PidChoice,
    pub stdio: Stdio,
    /// Start the rebuilt process only once `CR_HOLD_COMMIT` is read from
    /// this fd (`CR_RESTORE_HOLD`); anything else kills it, unstarted.
    pub hold: Option<std::os::fd::RawFd>,
    /// Refuse an image with an fd that keeps the process on the host it
    /// came from ([`crate::portable`]).
    pub portable: bool,
    /// crctl became a user with [`crate::sys::become_user`] (`--run-as`):
    /// its forks that choose a pid or make a pid namespace raise the
    /// capabilities it kept for them, and the process that becomes the
    /// restored one lets them go once it has its pid.
    pub user: bool,
    /// Start the process in a new time namespace whose clocks read what
    /// the image holds plus the realtime that has passed since
    /// ([`image_clocks`]; `--clocks image`).
    pub clocks_from_image: bool,
    /// `Stdio::Forward`: the new pipe at fd 0 starts with the bytes the
    /// image holds for the old one (a copy that moves on: what it had not
    /// read yet); else it starts empty (coming from home, those bytes are
    /// still in the home's pipe, which crd reads on).
    pub stdin_carried: bool,
}

/// The clocks an image's process reads as it starts again: what they read
/// when it was frozen, plus the realtime that has passed since (as if it
/// had been stopped meanwhile; shared time: hosts' realtime clocks agree).
pub fn image_clocks(c: &uapi::CrClocks) -> Clocks {
    use rustix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::Realtime);
    let now = t.tv_sec * 1_000_000_000 + t.tv_nsec;
    let gone = (now - c.realtime_ns).max(0);
    Clocks {
        monotonic_ns: c.monotonic_ns + gone,
        boottime_ns: c.boottime_ns + gone,
    }
}

/// What a restored process's `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` read
/// as it starts (a migrated process's: what they read on the host it left,
/// plus the time the move took), in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    pub monotonic_ns: i64,
    pub boottime_ns: i64,
}

/// Makes the children crctl forks from here start in a new time namespace
/// whose clocks read `c` now (its offsets from this host's clocks, written
/// before any process is in it, as time_namespaces(7) asks). Needs root
/// (CAP_SYS_ADMIN and CAP_SYS_TIME): `--clocks` of a user's restore is done
/// before crctl becomes that user (`--run-as`).
pub fn enter_clocks(c: Clocks) -> Result<()> {
    use rustix::time::{clock_gettime, ClockId};
    let now = |id| {
        let t = clock_gettime(id);
        t.tv_sec * 1_000_000_000 + t.tv_nsec
    };
    crate::sys::unshare_time().map_err(Error::Clocks)?;
    // "CLOCK SECONDS NANOSECONDS", the nanoseconds 0 to 999999999.
    let line = |name: &str, off: i64| {
        format!(
            "{name} {} {}\n",
            off.div_euclid(1_000_000_000),
            off.rem_euclid(1_000_000_000)
        )
    };
    let text = line("monotonic", c.monotonic_ns - now(ClockId::Monotonic))
        + &line("boottime", c.boottime_ns - now(ClockId::Boottime));
    std::fs::write("/proc/self/timens_offsets", text).map_err(Error::Clocks)
}

/// `--run-as`: root becomes user `uid` (group `gid`) for the rest of the
/// restore, keeping only what its pid-choosing forks need
/// ([`crate::sys::become_user`]); pass [`Options::user`] then. crctl must
/// have one thread.
pub fn become_user(uid: u32, gid: u32) -> Result<()> {
    crate::sys::become_user(uid, gid).map_err(Error::RunAs)
}

/// What a restore gave back.
#[derive(Debug)]
pub struct Restored {
    /// The restored process's pid, in crctl's pid namespace.
    pub pid: u32,
    /// Its pid inside its own namespace (the image's), for `--pid ns`.
    pub inner_pid: u32,
    /// crctl's child: the restored process, or with `--pid ns` the init of
    /// its namespace (which ends with it, its exit code 128 + N for a death
    /// by signal N).
    pub child: u32,
    /// `Stdio::Forward`: the read ends of the pipes at the process's fds 1
    /// and 2 that stand for pipes to another process, by fd.
    pub forwarded: Vec<(i32, OwnedFd)>,
    /// `Stdio::Forward`: the write end and a read end of the new pipe at
    /// fd 0 that stands for a pipe from another process.
    pub stdin: Option<(OwnedFd, OwnedFd)>,
}

pub use fds::fd_kind;

/// Whether no process or thread of this host has one of the image's ids
/// (a guess: one may be taken before the restore, which then says so).
fn ids_free(img: &image::Image) -> bool {
    img.threads
        .iter()
        .all(|t| !Path::new(&format!("/proc/{}", t.thread.tid)).exists())
}

/// Waits for the restored process `pid` (crctl's child) to end: its raw wait
/// status.
pub fn wait_for(pid: u32) -> Result<i32> {
    let p =
        rustix::process::Pid::from_raw(pid as i32).ok_or(Error::Wait(rustix::io::Errno::SRCH))?;
    loop {
        match rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, st))) => return Ok(st.as_raw()),
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::Wait(e)),
        }
    }
}

/// Relays what the restored process writes on its forwarded fds
/// ([`Restored::forwarded`]) to `out`, as frames ("out FD LEN" and a newline,
/// then the bytes; "eof FD" at the end of one), until the process
/// (crctl's child `child`) has ended and its output is drained; then its raw
/// wait status.
pub fn relay_and_wait(
    child: u32,
    mut forwarded: Vec<(i32, OwnedFd)>,
    out: &mut impl Write,
) -> Result<i32> {
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let pid = Pid::from_raw(child as i32).ok_or(Error::Wait(rustix::io::Errno::SRCH))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).map_err(Error::Wait)?;
    let mut buf = vec![0u8; 65536];
    let mut exited = false;
    while !forwarded.is_empty() {
        let ready: Vec<bool> = {
            let mut pfds: Vec<PollFd> = forwarded
                .iter()
                .map(|(_, r)| PollFd::new(r, PollFlags::IN))
                .collect();
            pfds.push(PollFd::new(&pidfd, PollFlags::IN));
            // Once it has ended, only what is already there is read.
            let zero = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            match poll(&mut pfds, exited.then_some(&zero)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::Wait(e)),
            }
            pfds.iter().map(|p| !p.revents().is_empty()).collect()
        };
        let ended_now = ready[forwarded.len()];
        let mut any = false;
        let mut i = 0;
        while i < forwarded.len() {
            let n = if ready[i] || exited {
                any |= ready[i];
                if ready[i] {
                    rustix::io::read(&forwarded[i].1, &mut buf[..]).unwrap_or(0)
                } else {
                    0
                }
            } else {
                i += 1;
                continue;
            };
            let fd = forwarded[i].0;
            if n > 0 {
                writeln!(out, "out {fd} {n}")
                    .and_then(|()| out.write_all(&buf[..n]))
                    .and_then(|()| out.flush())
                    .map_err(Error::Stdout)?;
                i += 1;
            } else if ready[i] || exited {
                // Its end (or, the process gone, nothing more now).
                writeln!(out, "eof {fd}")
                    .and_then(|()| out.flush())
                    .map_err(Error::Stdout)?;
                forwarded.remove(i);
            } else {
                i += 1;
            }
        }
        if exited && !any {
            break;
        }
        exited |= ended_now;
    }
    wait_for(child)
}

/// Restores the image read from `src` (positioned at its start).
pub fn restore(device: &Path, src: &mut File, opts: &Options) -> Result<Restored> {
    let dev = Device::open(device)?;
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_RESTORE == 0 {
        return Err(Error::NoRestore);
    }
    let (meta, img) = image::read_metadata(&mut *src)?;
    if opts.portable {
        if let Some(pin) = crate::portable::image_pin(&img, opts.stdio == Stdio::Forward) {
            return Err(Error::Pinned {
                who: "the process".into(),
                pin,
            });
        }
    }
    let cwd = fds::plan_dirs(&img)?;
    if let Some(t) = img.threads.iter().find(|t| {
        t.thread.policy & !crate::format::SCHED_RESET_ON_FORK == crate::format::SCHED_DEADLINE
    }) {
        return Err(Error::Deadline(t.thread.tid));
    }
    let mut fds = fds::plan_fds(&img, opts.stdio, opts.stdin_carried)?;
    let forwarded = fds.take_forwarded();
    let stdin = fds.take_stdin();
    let pid = img.process.pid as spawn::Pid;
    let opts = &Options {
        pid: match opts.pid {
            PidChoice::Auto if pid != 1 && ids_free(&img) => PidChoice::Original,
            PidChoice::Auto => PidChoice::Namespace,
            p => p,
        },
        ..*opts
    };
    if opts.pid == PidChoice::Namespace && pid == 1 {
        return Err(Error::PidOne);
    }
    if opts.clocks_from_image {
        let c = img.clocks.as_ref().ok_or_else(|| {
            Error::Clocks(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the image holds no clocks (an image of version 2)",
            ))
        })?;
        enter_clocks(image_clocks(c))?;
    }

    let (status_rd, status_wr) = status::pipe()?;
    let child = spawn::fork_restorer(opts.pid, pid, opts.user)?;
    if child == 0 {
        drop(status_rd);
        spawn::child(&dev, &img, &meta, fds, src, status_wr, cwd.as_deref(), opts);
    }
    // The files now live in the child.
    drop(fds);
    drop(status_wr);
    let mut r = status::outcome(status_rd, child, opts.pid)?;
    r.forwarded = forwarded;
    r.stdin = stdin;
    Ok(r)
}
