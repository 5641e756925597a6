// SPDX-License-Identifier: GPL-2.0

//! The image's files: its working directory and root checked against this
//! machine, its fds opened again before the fork (a file or directory by
//! path at its offset and only if it is still the same file, a device or
//! terminal by path, a pipe whose both ends the process had as a new pipe
//! with the data that waited in it), and, in the restoring child, the fd
//! table laid out as the image's.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use super::Stdio;
use crate::error::{Error, FdProblem, Result};
use crate::image::Image;
use crate::rules;
use crate::sys;
use crate::uapi::*;

/// One fd of the restored process, opened by crctl before it forks.
struct PlannedFd {
    target: RawFd,
    file: OwnedFd,
    cloexec: bool,
}

/// The image's fd table, opened. Fds 0-2 missing here are crctl's own
/// (`Stdio::Inherit`) or were closed in the image.
pub(super) struct FdPlan {
    fds: Vec<PlannedFd>,
    /// Which of 0, 1 and 2 stay crctl's own.
    inherit: [bool; 3],
    /// The highest fd number the restored process has.
    max: RawFd,
    /// `Stdio::Forward`: the read ends of the new pipes at fds 1 and 2, by
    /// fd, for crctl to keep.
    forwarded: Vec<(RawFd, OwnedFd)>,
    /// `Stdio::Forward`: the write end and a read end of the new pipe at
    /// fd 0, for crctl to hand on.
    stdin: Option<(OwnedFd, OwnedFd)>,
}

impl FdPlan {
    /// The read ends of the forwarded fds, which crctl keeps (the child must
    /// not hold them).
    pub(super) fn take_forwarded(&mut self) -> Vec<(RawFd, OwnedFd)> {
        std::mem::take(&mut self.forwarded)
    }

    /// The forwarded stdin's pipe ends, which crctl hands on.
    pub(super) fn take_stdin(&mut self) -> Option<(OwnedFd, OwnedFd)> {
        self.stdin.take()
    }
}

/// The open flags that a reopen keeps (`O_CLOEXEC` is the fd's, applied
/// apart; `O_LARGEFILE` the kernel sets on every open here, 64-bit).
const REOPEN_FLAGS: OFlags = OFlags::ACCMODE
    .union(OFlags::PATH)
    .union(OFlags::APPEND)
    .union(OFlags::NONBLOCK)
    .union(OFlags::DSYNC)
    .union(OFlags::SYNC)
    .union(OFlags::DIRECT)
    .union(OFlags::NOATIME)
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOCTTY);

/// Opens the image's fds: regular files and directories by path at their
/// offset (refusing a file that is gone or another file now), character
/// devices and terminals by path, and pipes whose both ends the process had
/// as a new pipe. Anything else is refused with what it is.
pub(super) fn plan_fds(img: &Image, stdio: Stdio, stdin_carried: bool) -> Result<FdPlan> {
    let mut plan = FdPlan {
        fds: Vec::new(),
        inherit: [stdio == Stdio::Inherit; 3],
        max: 2,
        forwarded: Vec::new(),
        stdin: None,
    };
    let mut pipes: Vec<(u64, u64, OwnedFd, OwnedFd)> = Vec::new();
    // `Stdio::Forward`'s terminals: (dev, ino of the old one, the new one's
    // process side).
    let mut ttys: Vec<(u64, u64, OwnedFd)> = Vec::new();
    for (f, path) in &img.fds {
        plan.max = plan.max.max(f.fd);
        if f.fd <= 2 && stdio == Stdio::Auto && !reopenable(img, f, path) {
            plan.inherit[f.fd as usize] = true;
        }
        if f.fd <= 2 && plan.inherit[f.fd as usize] {
            continue;
        }
        let f_flags = OFlags::from_bits_retain(f.f_flags);
        let cloexec = f_flags.contains(OFlags::CLOEXEC);
        let fd_error = |problem| Error::Fd {
            fd: f.fd,
            path: path.clone(),
            problem,
        };
        if (1..=2).contains(&f.fd) && stdio == Stdio::Forward && f.r#type == CR_FD_TTY {
            // A terminal of the host it came from: a terminal of its own
            // here, whose output crctl relays home (fds 1 and 2 on one
            // terminal share one). Its input is not forwarded: a checkpoint
            // for a migration refuses a terminal at fd 0.
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| fd_error(FdProblem::Dup(e)));
            let file = match ttys.iter().find(|t| t.0 == f.dev && t.1 == f.ino) {
                Some(t) => dup(&t.2)?,
                None => {
                    let (master, tty) = new_terminal()?;
                    plan.forwarded.push((f.fd, master));
                    let file = dup(&tty)?;
                    ttys.push((f.dev, f.ino, tty));
                    file
                }
            };
            keep_nonblock(&file, f_flags);
            plan.fds.push(PlannedFd {
                target: f.fd,
                file,
                cloexec,
            });
            continue;
        }
        if f.fd <= 2 && stdio == Stdio::Forward && f.r#type == CR_FD_PIPE && !pipe_within(img, f) {
            // A pipe that led to another process: a new pipe. (Anything
            // else is reopened.)
            if f.fd == 0 {
                // Input: as big as the old one, with what the old one held
                // if that is the process's own (carried); crd fills it.
                let (r, w) = pipe_cloexec()?;
                let old = img
                    .pipes
                    .iter()
                    .find(|(p, _)| p.dev == f.dev && p.ino == f.ino);
                if let Some((p, data)) = old {
                    let data = if stdin_carried { &data[..] } else { &[] };
                    fill_pipe(&w, p.capacity, data).map_err(|err| {
                        fd_error(FdProblem::PipeData {
                            len: data.len(),
                            err: err.into(),
                        })
                    })?;
                }
                let mine = r.try_clone().map_err(|e| fd_error(FdProblem::Dup(e)))?;
                keep_nonblock(&r, f_flags);
                plan.fds.push(PlannedFd {
                    target: 0,
                    file: r,
                    cloexec,
                });
                plan.stdin = Some((w, mine));
                continue;
            }
            // Output: crctl relays what comes out of the other end.
            let (r, w) = pipe_cloexec()?;
            plan.fds.push(PlannedFd {
                target: f.fd,
                file: w,
                cloexec,
            });
            plan.forwarded.push((f.fd, r));
            continue;
        }
        let flags = f_flags & REOPEN_FLAGS;
        // What no restore rebuilds: the checkpoint refused it already for
        // fds 3 and up, in these same words (rules.rs).
        let others = img.fds.iter().map(|(g, _)| g);
        if let Some(obstacle) = rules::fd_obstacle(f, path.as_bytes(), others) {
            let refusal = rules::FdRefusal {
                fd: f.fd,
                path: path.as_bytes(),
                obstacle,
            };
            return Err(Error::FdRefused {
                refusal: refusal.to_string(),
                inheritable: f.fd < rules::INHERITABLE_FDS,
            });
        }
        let file = match f.r#type {
            CR_FD_REG | CR_FD_DIR | CR_FD_CHR | CR_FD_TTY => {
                if path.contains('\0') {
                    return Err(Error::NulInPath(path.clone()));
                }
                // The flags hold no O_CREAT, so the mode is not used.
                let file = rustix::fs::open(path.as_str(), flags | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| fd_error(FdProblem::Reopen(e.into())))?;
                let mut file = File::from(file);
                let st = file.metadata().map_err(|e| fd_error(FdProblem::Stat(e)))?;
                if f.r#type == CR_FD_REG || f.r#type == CR_FD_DIR {
                    if st.dev() != f.dev || st.ino() != f.ino {
                        return Err(fd_error(FdProblem::Replaced));
                    }
                    if f.pos != 0 && !flags.contains(OFlags::PATH) {
                        match file.seek(SeekFrom::Start(f.pos)) {
                            Ok(at) if at == f.pos => {}
                            Ok(_) => {
                                return Err(fd_error(FdProblem::Seek {
                                    pos: f.pos,
                                    err: Errno::INVAL.into(),
                                }))
                            }
                            Err(err) => return Err(fd_error(FdProblem::Seek { pos: f.pos, err })),
                        }
                    }
                }
                OwnedFd::from(file)
            }
            CR_FD_PIPE => {
                let i = match pipes.iter().position(|p| p.0 == f.dev && p.1 == f.ino) {
                    Some(i) => i,
                    None => {
                        pipes.push(new_pipe(img, f, &fd_error)?);
                        pipes.len() - 1
                    }
                };
                let (_, _, r, w) = &pipes[i];
                let write_end = f_flags & OFlags::ACCMODE == OFlags::WRONLY;
                let end = if write_end {
                    w.try_clone()
                } else {
                    r.try_clone()
                };
                let end = end.map_err(|e| fd_error(FdProblem::Dup(e)))?;
                keep_nonblock(&end, flags);
                end
            }
            _ => unreachable!("rules::fd_obstacle refuses every other type"),
        };
        plan.fds.push(PlannedFd {
            target: f.fd,
            file,
            cloexec,
        });
    }
    for i in 0..3 {
        if plan.inherit[i] && !img.fds.iter().any(|(f, _)| f.fd == i as i32) {
            // The image had it closed: so will the restored process.
            plan.inherit[i] = false;
        }
    }
    Ok(plan)
}

/// What kind of object an fd the restore cannot rebuild is, in words: its
/// anon inode's name (eventfd, epoll, ...), or its file type.
pub fn fd_kind(f: &CrFd, path: &str) -> String {
    rules::Kind::of(f, path.as_bytes()).to_string()
}

/// Whether the image's fd `f` (at `path`) can be opened again as it was: a
/// file or directory that is still the same one, a device or terminal that
/// exists, a pipe both of whose ends the process had.
fn reopenable(img: &Image, f: &CrFd, path: &str) -> bool {
    let here = || std::fs::metadata(path);
    match f.r#type {
        CR_FD_REG | CR_FD_DIR => {
            !path.ends_with(" (deleted)")
                && here().is_ok_and(|st| st.dev() == f.dev && st.ino() == f.ino)
        }
        CR_FD_CHR | CR_FD_TTY => here().is_ok(),
        CR_FD_PIPE => pipe_within(img, f),
        _ => false,
    }
}

/// Whether the process had both ends of the pipe of its fd `f`, which no
/// other process held.
fn pipe_within(img: &Image, f: &CrFd) -> bool {
    rules::pipe_within(f, img.fds.iter().map(|(g, _)| g))
}

/// A new pipe for the image's pipe behind `f`, holding the data that waited
/// in it: (dev, ino, read end, write end). Only a pipe whose both ends the
/// process held can be rebuilt.
fn new_pipe(
    img: &Image,
    f: &CrFd,
    fd_error: &dyn Fn(FdProblem) -> Error,
) -> Result<(u64, u64, OwnedFd, OwnedFd)> {
    let (r, w) = pipe_cloexec()?;
    if let Some((p, data)) = img
        .pipes
        .iter()
        .find(|(p, _)| p.dev == f.dev && p.ino == f.ino)
    {
        fill_pipe(&w, p.capacity, data).map_err(|err| {
            fd_error(FdProblem::PipeData {
                len: data.len(),
                err: err.into(),
            })
        })?;
    }
    Ok((f.dev, f.ino, r, w))
}

/// Gives a new pipe end or terminal the image's `O_NONBLOCK` (best effort:
/// both take it).
fn keep_nonblock(file: &OwnedFd, flags: OFlags) {
    if flags.contains(OFlags::NONBLOCK) {
        let _ = rustix::fs::fcntl_setfl(file, OFlags::NONBLOCK);
    }
}

/// A new pseudo-terminal: (its master, its terminal side), close-on-exec,
/// neither a controlling terminal. Output processing is off (the bytes go
/// as written: the terminal at home processes them once, as before).
fn new_terminal() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::{ioctl_tiocgptpeer, openpt, unlockpt, OpenptFlags};
    use rustix::termios::{tcgetattr, tcsetattr, OptionalActions, OutputModes};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let make = || -> rustix::io::Result<(OwnedFd, OwnedFd)> {
        let master = openpt(flags)?;
        unlockpt(&master)?;
        let tty = ioctl_tiocgptpeer(&master, flags)?;
        let mut t = tcgetattr(&tty)?;
        t.output_modes.remove(OutputModes::OPOST);
        tcsetattr(&tty, OptionalActions::Now, &t)?;
        Ok((master, tty))
    };
    make().map_err(|e| Error::Terminal(e.into()))
}

/// A new pipe, both ends close-on-exec: (read end, write end).
pub(super) fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::Pipe(e.into()))
}

/// Gives a new pipe the image's capacity and the data that waited in it.
fn fill_pipe(w: &OwnedFd, capacity: u32, data: &[u8]) -> rustix::io::Result<()> {
    // As fcntl's int: a failed F_GETPIPE_SZ (-1) is smaller than any size.
    let want = i64::from(capacity as i32);
    if rustix::pipe::fcntl_getpipe_size(w).map_or(-1, |n| n as i64) < want {
        rustix::pipe::fcntl_setpipe_size(w, want as usize)?;
    }
    let mut done = 0;
    while done < data.len() {
        // The pipe is large enough, so this does not block for long.
        match rustix::io::write(w, &data[done..]) {
            Ok(n) => done += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Checks the image's directories against this machine: the root must be
/// crctl's, the working directory must exist. Returns the working directory.
pub(super) fn plan_dirs(img: &Image) -> Result<Option<String>> {
    let Some((_, cwd, root)) = &img.fs else {
        return Ok(None);
    };
    let mine = std::fs::read_link("/proc/self/root")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".to_owned());
    if *root != mine {
        return Err(Error::Chroot(root.clone()));
    }
    if cwd.ends_with(" (deleted)") {
        return Err(Error::CwdDeleted(cwd.clone()));
    }
    match std::fs::metadata(cwd) {
        Ok(m) if m.is_dir() => Ok(Some(cwd.clone())),
        Ok(_) => Err(Error::CwdNotDir(cwd.clone())),
        Err(err) => Err(Error::CwdGone {
            cwd: cwd.clone(),
            err,
        }),
    }
}

/// Moves `fd` to the lowest free number at or above `min`; returns it.
fn move_above(fd: RawFd, min: RawFd) -> Result<RawFd> {
    let new = sys::dupfd_cloexec(fd, min).map_err(|err| Error::MoveFd { fd, err })?;
    sys::close(fd);
    Ok(new)
}

/// In the child: makes the fd table the image's. `keep` are crctl's own fds
/// that must survive until the restore (which closes them); they move above
/// the image's highest fd, and their new numbers are written back.
pub(super) fn lay_out_fds(plan: FdPlan, keep: &mut [RawFd]) -> Result<()> {
    let high = plan.max + 1;
    for k in keep.iter_mut() {
        if *k >= 0 {
            *k = move_above(*k, high)?;
        }
    }
    let mut temps = Vec::new();
    for p in plan.fds {
        let t =
            rustix::io::fcntl_dupfd_cloexec(p.file.as_fd(), high).map_err(|e| Error::MoveFd {
                fd: p.file.as_raw_fd(),
                err: e.into(),
            })?;
        // `p.file` closes its old number here.
        temps.push((t.into_raw_fd(), p.target, p.cloexec));
    }
    // Close everything at or below the image's highest fd, but inherited stdio.
    for fd in 0..=plan.max {
        if fd <= 2 && plan.inherit[fd as usize] {
            continue;
        }
        sys::close(fd);
    }
    for &(t, target, cloexec) in &temps {
        sys::dup3(t, target, cloexec).map_err(|err| Error::PlaceFd { fd: target, err })?;
    }
    for &(t, _, _) in &temps {
        sys::close(t);
    }
    // Anything else crctl had open (above the image's fds) goes too.
    let mut all: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(Error::ListFds)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    all.retain(|&fd| fd > plan.max && !keep.contains(&fd));
    for fd in all {
        // The directory's own fd is already closed, so at worst this fails
        // with EBADF.
        sys::close(fd);
    }
    Ok(())
}
