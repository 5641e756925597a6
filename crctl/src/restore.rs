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

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::dev::{self, Device};
use crate::image::{self, Image};
use crate::rules;
use crate::uapi::{self, *};

/// What went wrong, worded for the person at the terminal.
pub type RestoreError = Box<dyn std::error::Error>;

/// One special mapping: where it is and what it is called.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Special {
    start: u64,
    end: u64,
    name: String,
}

/// The calling process's special mappings, from /proc/self/maps.
fn my_specials() -> io::Result<Vec<Special>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let name = line.split_whitespace().nth(5).unwrap_or("");
        if name == "[vdso]" || name.starts_with("[vvar") {
            let range = line.split_whitespace().next().unwrap_or("");
            let (a, b) = range.split_once('-').unwrap_or(("0", "0"));
            out.push(Special {
                start: u64::from_str_radix(a, 16).unwrap_or(0),
                end: u64::from_str_radix(b, 16).unwrap_or(0),
                name: name.to_owned(),
            });
        }
    }
    Ok(out)
}

/// All of the calling process's mappings as (start, end), from /proc/self/maps.
fn my_mappings() -> io::Result<Vec<(u64, u64)>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(maps
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|r| r.split_once('-'))
        .map(|(a, b)| {
            (
                u64::from_str_radix(a, 16).unwrap_or(0),
                u64::from_str_radix(b, 16).unwrap_or(0),
            )
        })
        .collect())
}

/// Moves [vdso] and [vvar] to where the image has them. Runs in the child
/// that becomes the restored process.
fn move_specials(img: &Image) -> Result<(), String> {
    let mine = my_specials().map_err(|e| format!("cannot read /proc/self/maps: {e}"))?;
    let wanted: Vec<Special> = img
        .vmas
        .iter()
        .filter(|(v, _)| v.kind == CR_VMA_VDSO || v.kind == CR_VMA_VVAR)
        .map(|(v, p)| Special {
            start: v.start,
            end: v.end,
            name: p.clone(),
        })
        .collect();
    if mine.len() != wanted.len() {
        return Err(format!(
            "the image has {} vdso/vvar mappings, this kernel {}: restore on the kernel that wrote the image",
            wanted.len(),
            mine.len()
        ));
    }
    for w in &wanted {
        match mine.iter().find(|m| m.name == w.name) {
            Some(m) if m.end - m.start == w.end - w.start => {}
            _ => {
                return Err(format!(
                    "the image's {} does not match this kernel's: restore on the kernel that wrote the image",
                    w.name
                ))
            }
        }
    }
    if mine.iter().all(|m| wanted.iter().any(|w| w == m)) {
        return Ok(());
    }
    // The destinations must not cover crctl's own memory (code, stack).
    let others: Vec<(u64, u64)> = my_mappings()
        .map_err(|e| format!("cannot read /proc/self/maps: {e}"))?
        .into_iter()
        .filter(|&(a, b)| !mine.iter().any(|m| m.start == a && m.end == b))
        .collect();
    for w in &wanted {
        if others.iter().any(|&(a, b)| a < w.end && w.start < b) {
            return Err(format!(
                "the image's {} at {:#x} collides with crctl's own memory; run the restore again",
                w.name, w.start
            ));
        }
    }
    // Two steps, so no move lands on a mapping still to be moved: first all
    // into one fresh area, then each to its place.
    let total: u64 = mine.iter().map(|m| m.end - m.start).sum();
    // SAFETY: A fresh anonymous PROT_NONE reservation; nothing else uses it.
    let park = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if park == libc::MAP_FAILED {
        return Err(format!(
            "cannot reserve room to move the vdso: {}",
            io::Error::last_os_error()
        ));
    }
    let mut at = park as u64;
    let mut parked = Vec::new();
    for m in &mine {
        mremap(m.start, m.end - m.start, at)?;
        parked.push((at, m.clone()));
        at += m.end - m.start;
    }
    for (at, m) in parked {
        let w = wanted
            .iter()
            .find(|w| w.name == m.name)
            .expect("matched above");
        mremap(at, m.end - m.start, w.start)?;
    }
    Ok(())
}

fn mremap(from: u64, len: u64, to: u64) -> Result<(), String> {
    // SAFETY: Moves one whole special mapping of this process to `to`; the
    // destination was checked not to hold crctl's own memory.
    let r = unsafe {
        libc::mremap(
            from as *mut libc::c_void,
            len as usize,
            len as usize,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if r == libc::MAP_FAILED || r as u64 != to {
        return Err(format!(
            "cannot move the vdso to {to:#x}: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Which pid the restored process gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidChoice {
    /// The image's pid and thread ids, or fail if one is taken.
    Original,
    /// Whatever pids are free.
    Any,
    /// The image's pids, inside a new pid namespace (crctl's child is its init).
    Namespace,
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
}

/// How to restore.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub pid: PidChoice,
    pub stdio: Stdio,
}

/// What a restore gave back.
#[derive(Clone, Copy, Debug)]
pub struct Restored {
    /// The restored process's pid, in crctl's pid namespace.
    pub pid: u32,
    /// Its pid inside its own namespace (the image's), for `--pid ns`.
    pub inner_pid: u32,
}

/// Text the child writes to the status pipe when it fails before the kernel
/// could write a status: the first four bytes read as a positive `error`,
/// which a kernel status never has.
const MESSAGE: &[u8] = b"crctl-message:";

/// One fd of the restored process, opened by crctl before it forks.
struct PlannedFd {
    target: RawFd,
    file: OwnedFd,
    cloexec: bool,
}

/// The image's fd table, opened. Fds 0-2 missing here are crctl's own
/// (`Stdio::Inherit`) or were closed in the image.
struct FdPlan {
    fds: Vec<PlannedFd>,
    /// Which of 0, 1 and 2 stay crctl's own.
    inherit: [bool; 3],
    /// The highest fd number the restored process has.
    max: RawFd,
}

/// The open flags that a reopen keeps (`O_CLOEXEC` is the fd's, applied apart).
const REOPEN_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_PATH
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_SYNC
    | libc::O_DIRECT
    | libc::O_NOATIME
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOCTTY;

fn cstring(path: &str) -> Result<std::ffi::CString, String> {
    std::ffi::CString::new(path).map_err(|_| format!("the path {path:?} holds a NUL byte"))
}

/// Opens the image's fds: regular files and directories by path at their
/// offset (refusing a file that is gone or another file now), character
/// devices and terminals by path, and pipes whose both ends the process had
/// as a new pipe. Anything else is refused with what it is.
fn plan_fds(img: &Image, stdio: Stdio) -> Result<FdPlan, String> {
    let mut plan = FdPlan {
        fds: Vec::new(),
        inherit: [stdio == Stdio::Inherit; 3],
        max: 2,
    };
    let mut pipes: Vec<(u64, u64, OwnedFd, OwnedFd)> = Vec::new();
    for (f, path) in &img.fds {
        plan.max = plan.max.max(f.fd);
        if f.fd <= 2 && stdio == Stdio::Auto && !reopenable(img, f, path) {
            plan.inherit[f.fd as usize] = true;
        }
        if f.fd <= 2 && plan.inherit[f.fd as usize] {
            continue;
        }
        let cloexec = f.f_flags & libc::O_CLOEXEC as u32 != 0;
        let flags = f.f_flags as i32 & REOPEN_FLAGS;
        let what = format!("fd {} ({path})", f.fd);
        // What no restore rebuilds: the checkpoint refused it already for
        // fds 3 and up, in these same words (rules.rs).
        let others = img.fds.iter().map(|(g, _)| g);
        if let Some(obstacle) = rules::fd_obstacle(f, path.as_bytes(), others) {
            let refusal = rules::FdRefusal {
                fd: f.fd,
                path: path.as_bytes(),
                obstacle,
            };
            let hint = if f.fd < rules::INHERITABLE_FDS {
                " (--stdio auto or inherit gives the restored process crctl's own fd instead)"
            } else {
                ""
            };
            return Err(format!("{refusal}{hint}"));
        }
        let file = match f.r#type {
            CR_FD_REG | CR_FD_DIR | CR_FD_CHR | CR_FD_TTY => {
                let c = cstring(path)?;
                // SAFETY: `c` is a NUL-terminated path; the flags hold no O_CREAT.
                let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
                if fd < 0 {
                    return Err(format!(
                        "{what}: cannot open it again: {}",
                        io::Error::last_os_error()
                    ));
                }
                // SAFETY: a fresh fd that we own.
                let file = unsafe { OwnedFd::from_raw_fd(fd) };
                let st = File::from(file.try_clone().map_err(|e| e.to_string())?)
                    .metadata()
                    .map_err(|e| format!("{what}: {e}"))?;
                if f.r#type == CR_FD_REG || f.r#type == CR_FD_DIR {
                    if st.dev() != f.dev || st.ino() != f.ino {
                        return Err(format!(
                            "{what} is another file now (it was replaced or moved since the checkpoint)"
                        ));
                    }
                    if f.pos != 0 && flags & libc::O_PATH == 0 {
                        // SAFETY: seeks our own fd.
                        let at = unsafe { libc::lseek(fd, f.pos as libc::off_t, libc::SEEK_SET) };
                        if at < 0 || at as u64 != f.pos {
                            return Err(format!(
                                "{what}: cannot seek to {}: {}",
                                f.pos,
                                io::Error::last_os_error()
                            ));
                        }
                    }
                }
                file
            }
            CR_FD_PIPE => {
                let i = match pipes.iter().position(|p| p.0 == f.dev && p.1 == f.ino) {
                    Some(i) => i,
                    None => {
                        pipes.push(new_pipe(img, f, &what)?);
                        pipes.len() - 1
                    }
                };
                let (_, _, r, w) = &pipes[i];
                let write_end = f.f_flags & libc::O_ACCMODE as u32 == libc::O_WRONLY as u32;
                let end = if write_end {
                    w.try_clone()
                } else {
                    r.try_clone()
                };
                let end = end.map_err(|e| format!("{what}: {e}"))?;
                if flags & libc::O_NONBLOCK != 0 {
                    // SAFETY: sets a status flag of our own fd.
                    unsafe { libc::fcntl(end.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
                }
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

/// A new pipe for the image's pipe behind `f`, holding the data that waited
/// in it: (dev, ino, read end, write end). Only a pipe whose both ends the
/// process held can be rebuilt.
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

fn new_pipe(img: &Image, f: &CrFd, what: &str) -> Result<(u64, u64, OwnedFd, OwnedFd), String> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot make a pipe: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: fresh fds that we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if let Some((p, data)) = img
        .pipes
        .iter()
        .find(|(p, _)| p.dev == f.dev && p.ino == f.ino)
    {
        fill_pipe(&w, p.capacity, data).map_err(|e| {
            format!(
                "{what}: cannot put back the {} bytes it held: {e}",
                data.len()
            )
        })?;
    }
    Ok((f.dev, f.ino, r, w))
}

/// Gives a new pipe the image's capacity and the data that waited in it.
fn fill_pipe(w: &OwnedFd, capacity: u32, data: &[u8]) -> io::Result<()> {
    let fd = w.as_raw_fd();
    // SAFETY: F_GETPIPE_SZ/F_SETPIPE_SZ on our own pipe.
    if unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) } < capacity as i32 {
        // SAFETY: As above.
        if unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, capacity as i32) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut done = 0;
    while done < data.len() {
        // SAFETY: writes from `data`, which is valid for its length; the
        // pipe is large enough, so this does not block for long.
        let n = unsafe { libc::write(fd, data[done..].as_ptr().cast(), data.len() - done) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

/// Checks the image's directories against this machine: the root must be
/// crctl's, the working directory must exist. Returns the working directory.
fn plan_dirs(img: &Image) -> Result<Option<String>, String> {
    let Some((_, cwd, root)) = &img.fs else {
        return Ok(None);
    };
    let mine = std::fs::read_link("/proc/self/root")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".to_owned());
    if *root != mine {
        return Err(format!(
            "the process ran with {root} as its root (chroot); cr cannot restore a chroot yet"
        ));
    }
    if cwd.ends_with(" (deleted)") {
        return Err(format!(
            "the process's working directory {cwd} was deleted; cr cannot restore it"
        ));
    }
    match std::fs::metadata(cwd) {
        Ok(m) if m.is_dir() => Ok(Some(cwd.clone())),
        Ok(_) => Err(format!(
            "the process's working directory {cwd} is not a directory any more"
        )),
        Err(e) => Err(format!(
            "the process's working directory {cwd} cannot be entered: {e}"
        )),
    }
}

/// The resource limits, by `RLIMIT_*` number.
const RLIMIT_NAMES: [&str; CR_RLIMITS] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// Gives the restoring process the image's resource limits, through the
/// kernel's own checks (raising a hard limit needs CAP_SYS_RESOURCE), after
/// its threads exist and before the point of no return. The original lived
/// within them with the same memory, threads and signals.
fn set_rlimits(img: &Image) -> Result<(), String> {
    for (i, r) in img.process.rlim.iter().enumerate() {
        let want = libc::rlimit64 {
            rlim_cur: r.cur,
            rlim_max: r.max,
        };
        // SAFETY: prlimit64 of our own process, reading `want`, writing nothing.
        if unsafe {
            libc::prlimit64(
                0,
                i as libc::__rlimit_resource_t,
                &want,
                std::ptr::null_mut(),
            )
        } != 0
        {
            let e = io::Error::last_os_error();
            let mut now = libc::rlimit64 {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: reads our own limit into `now`.
            unsafe {
                libc::prlimit64(
                    0,
                    i as libc::__rlimit_resource_t,
                    std::ptr::null(),
                    &mut now,
                )
            };
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                "; raising a hard limit needs CAP_SYS_RESOURCE: restore as root, or from a shell with that hard limit"
            } else {
                ""
            };
            return Err(format!(
                "cannot give the process its {} (soft {}, hard {}; here {} and {}): {e}{hint}",
                RLIMIT_NAMES[i],
                limit(r.cur),
                limit(r.max),
                limit(now.rlim_cur),
                limit(now.rlim_max)
            ));
        }
    }
    Ok(())
}

fn limit(v: u64) -> String {
    if v == libc::RLIM64_INFINITY {
        "unlimited".to_owned()
    } else {
        v.to_string()
    }
}

/// prctl(2) numbers and flags the libc crate may lack.
const PR_GET_MDWE: libc::c_int = 66;
const PR_SET_MEMORY_MERGE: libc::c_int = 67;
const PR_GET_MEMORY_MERGE: libc::c_int = 68;

/// The membarrier(2) registrations a process may hold, as image flags with
/// the command that makes each.
const MEMBARRIER_REGISTRATIONS: [(u32, libc::c_int, &str); 4] = [
    (
        CR_PROCESS_MEMBARRIER_PRIVATE,
        1 << 4,
        "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED",
    ),
    (
        CR_PROCESS_MEMBARRIER_GLOBAL,
        1 << 2,
        "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED",
    ),
    (
        CR_PROCESS_MEMBARRIER_SYNC_CORE,
        1 << 6,
        "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE",
    ),
    (
        CR_PROCESS_MEMBARRIER_RSEQ,
        1 << 8,
        "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ",
    ),
];

fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong, what: &str) -> Result<i32, String> {
    // SAFETY: prctl with integer arguments only, on ourselves.
    let r = unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 {
        return Err(format!(
            "cannot give the process {what}: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(r)
}

/// Gives the restoring process the image's process-wide settings, through
/// the kernel's own calls and checks, before the point of no return:
/// oom_score_adj, child subreaper, KSM for every area, membarrier
/// registrations (the mm survives the restore). THP and MDWE are the
/// kernel's to set after the rebuild (the restore writes its pages with THP
/// off, and may map what MDWE forbids a later mmap); MDWE cannot be unset,
/// so a crctl running under it cannot restore a process that had none.
fn set_process_settings(img: &Image) -> Result<(), String> {
    let f = img.process.flags;
    let mdwe = prctl(PR_GET_MDWE, 0, 0, "its MDWE setting").unwrap_or(0);
    if mdwe != 0 && f & CR_PROCESS_MDWE == 0 {
        return Err("crctl runs with PR_SET_MDWE (memory-deny-write-execute), which cannot be unset, and the process had none: restore from a process without it".to_owned());
    }
    // Inherited through fork: set it either way (a kernel without KSM refuses
    // the setting, and has nothing to clear).
    let ksm = f & CR_PROCESS_KSM_ANY != 0;
    if ksm || prctl(PR_GET_MEMORY_MERGE, 0, 0, "").is_ok_and(|now| now != 0) {
        prctl(
            PR_SET_MEMORY_MERGE,
            libc::c_ulong::from(ksm),
            0,
            "its PR_SET_MEMORY_MERGE setting (KSM)",
        )?;
    }
    if f & CR_PROCESS_SUBREAPER != 0 {
        prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, "PR_SET_CHILD_SUBREAPER")?;
    }
    for (flag, cmd, name) in MEMBARRIER_REGISTRATIONS {
        if f & flag == 0 {
            continue;
        }
        // SAFETY: membarrier(2) with integer arguments, on our own mm.
        if unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) } != 0 {
            return Err(format!(
                "cannot register the process with membarrier ({name}): {}",
                io::Error::last_os_error()
            ));
        }
    }
    let now = std::fs::read_to_string("/proc/self/oom_score_adj")
        .map_err(|e| format!("cannot read /proc/self/oom_score_adj: {e}"))?;
    if now.trim().parse::<i32>().ok() != Some(img.process.oom_score_adj) {
        std::fs::write(
            "/proc/self/oom_score_adj",
            img.process.oom_score_adj.to_string(),
        )
        .map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EACCES) {
                "; lowering it needs CAP_SYS_RESOURCE: restore as root"
            } else {
                ""
            };
            format!(
                "cannot give the process its oom_score_adj {} (here {}): {e}{hint}",
                img.process.oom_score_adj,
                now.trim()
            )
        })?;
    }
    Ok(())
}

/// Gives thread `tid` of the restoring process (0: the calling thread) the
/// image thread's scheduling policy, real-time priority and nice value,
/// through sched_setscheduler(2) and setpriority(2) and their checks
/// (a real-time policy or a lower nice value needs CAP_SYS_NICE or the
/// RLIMIT_RTPRIO / RLIMIT_NICE the image gave). Only what differs is set.
fn set_sched(t: &CrThread, tid: libc::pid_t, image_tid: u32) -> Result<(), String> {
    let fail = |e: io::Error, what: String| {
        let hint = if e.raw_os_error() == Some(libc::EPERM) {
            "; that needs CAP_SYS_NICE (or RLIMIT_RTPRIO / RLIMIT_NICE): restore as root"
        } else {
            ""
        };
        format!("cannot give thread {image_tid} its {what}: {e}{hint}")
    };
    // SAFETY: reads the policy of a thread of ours.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: reads the priority of a thread of ours into `param`.
    unsafe { libc::sched_getparam(tid, &mut param) };
    if policy < 0 || policy as u32 != t.policy || param.sched_priority as u32 != t.rt_priority {
        let want = libc::sched_param {
            sched_priority: t.rt_priority as libc::c_int,
        };
        // SAFETY: sets the policy of a thread of ours from `want`.
        if unsafe { libc::sched_setscheduler(tid, t.policy as libc::c_int, &want) } != 0 {
            let e = io::Error::last_os_error();
            return Err(fail(
                e,
                format!(
                    "scheduling policy {} (priority {})",
                    t.policy, t.rt_priority
                ),
            ));
        }
    }
    // SAFETY: getpriority/setpriority of a thread of ours (PRIO_PROCESS
    // with a tid names the thread). errno is cleared first: -1 is a nice value.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        if nice != t.nice && libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, t.nice) != 0 {
            let e = io::Error::last_os_error();
            return Err(fail(e, format!("nice value {}", t.nice)));
        }
    }
    Ok(())
}

/// Arms the image's interval timers (just before the restore: time spent
/// until then counts as time that passed).
fn arm_itimers(img: &Image) -> Result<(), String> {
    let Some(t) = img.itimers else {
        return Ok(());
    };
    for (which, name) in [
        (libc::ITIMER_REAL, "ITIMER_REAL"),
        (libc::ITIMER_VIRTUAL, "ITIMER_VIRTUAL"),
        (libc::ITIMER_PROF, "ITIMER_PROF"),
    ] {
        let (value, interval) = (t.it[2 * which as usize], t.it[2 * which as usize + 1]);
        if value == 0 {
            continue;
        }
        let tv = |ns: u64| libc::timeval {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_usec: (ns % 1_000_000_000 / 1000) as libc::suseconds_t,
        };
        let mut it = libc::itimerval {
            it_interval: tv(interval),
            it_value: tv(value),
        };
        if it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0 {
            it.it_value.tv_usec = 1;
        }
        // SAFETY: `it` is a valid itimerval.
        if unsafe { libc::setitimer(which, &it, std::ptr::null_mut()) } != 0 {
            return Err(format!("cannot arm {name}: {}", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Moves `fd` to the lowest free number at or above `min`; returns it.
fn move_above(fd: RawFd, min: RawFd) -> Result<RawFd, String> {
    // SAFETY: dups our own fd.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(format!(
            "cannot move fd {fd}: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: closes the old number of a fd we own.
    unsafe { libc::close(fd) };
    Ok(new)
}

/// In the child: makes the fd table the image's. `keep` are crctl's own fds
/// that must survive until the restore (which closes them); they move above
/// the image's highest fd, and their new numbers are written back.
fn lay_out_fds(plan: FdPlan, keep: &mut [RawFd]) -> Result<(), String> {
    let high = plan.max + 1;
    for k in keep.iter_mut() {
        if *k >= 0 {
            *k = move_above(*k, high)?;
        }
    }
    let mut temps = Vec::new();
    for p in plan.fds {
        let t = move_above(p.file.into_raw_fd(), high)?;
        temps.push((t, p.target, p.cloexec));
    }
    // Close everything at or below the image's highest fd, but inherited stdio.
    for fd in 0..=plan.max {
        if fd <= 2 && plan.inherit[fd as usize] {
            continue;
        }
        // SAFETY: closing a number in our own fd table.
        unsafe { libc::close(fd) };
    }
    for &(t, target, cloexec) in &temps {
        let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
        // SAFETY: dups our own fd onto a number we just freed.
        if unsafe { libc::dup3(t, target, flags) } != target {
            return Err(format!(
                "cannot place fd {target}: {}",
                io::Error::last_os_error()
            ));
        }
    }
    for &(t, _, _) in &temps {
        // SAFETY: closes our own temporary fd.
        unsafe { libc::close(t) };
    }
    // Anything else crctl had open (above the image's fds) goes too.
    let mut all: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("cannot list /proc/self/fd: {e}"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    all.retain(|&fd| fd > plan.max && !keep.contains(&fd));
    for fd in all {
        // SAFETY: closing a number in our own fd table (the directory's own
        // fd is already closed, so at worst this fails with EBADF).
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// `struct clone_args` of clone3(2), up to `set_tid_size`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// clone3 as fork: a new process on a copy of this one's memory. `tid`, when
/// given, is the pid it gets in the innermost pid namespace.
fn fork_with(flags: u64, tid: Option<&libc::pid_t>) -> io::Result<libc::pid_t> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.map_or(0, |t| t as *const libc::pid_t as u64),
        set_tid_size: u64::from(tid.is_some()),
        ..Default::default()
    };
    // SAFETY: without CLONE_VM the child runs on its own copy of this stack,
    // like fork(); crctl is single-threaded, so no lock is held elsewhere.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

/// Starts a thread that only calls CR_IOC_RESTORE_THREAD on `dev` with
/// `args` (and exits if that fails). `tid` is its thread id, if chosen.
fn spawn_waiter(
    dev: RawFd,
    args: &mut CrRestoreThreadArgs,
    tid: Option<&libc::pid_t>,
) -> io::Result<libc::pid_t> {
    const STACK: usize = 64 * 1024;
    // SAFETY: a fresh anonymous mapping for the thread's stack. It is never
    // unmapped by crctl: the restore replaces this whole address space.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let cl = CloneArgs {
        flags: (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM) as u64,
        stack: stack as u64,
        stack_size: STACK as u64,
        set_tid: tid.map_or(0, |t| t as *const libc::pid_t as u64),
        set_tid_size: u64::from(tid.is_some()),
        ..Default::default()
    };
    let ret: i64;
    // clone3 with CLONE_VM on a stack of its own. The new thread runs only
    // the instructions below: ioctl(dev, CR_IOC_RESTORE_THREAD, args), which
    // on success returns into the restored program with all registers
    // replaced, and on failure exit(2)s the thread with the errno.
    // SAFETY: The new thread touches no memory of crctl's but `args` (read
    // before the restore's point of no return); the parent path clobbers only
    // rax, rcx and r11, as any system call.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "mov rsi, r13",
            "mov rdx, r14",
            "mov eax, {ioctl}",
            "syscall",
            "mov rdi, rax",
            "neg rdi",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            ioctl = const libc::SYS_ioctl,
            exit = const libc::SYS_exit,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &cl as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") i64::from(dev),
            in("r13") u64::from(uapi::CR_IOC_RESTORE_THREAD),
            in("r14") args as *mut CrRestoreThreadArgs,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    Ok(ret as libc::pid_t)
}

/// Why a chosen pid could not be had.
fn pid_error(what: &str, id: libc::pid_t, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EEXIST) => format!(
            "{what} {id} is in use: restore with --pid any, or --pid ns (a new pid namespace)"
        ),
        Some(libc::EPERM) => {
            format!("choosing {what} {id} needs CAP_CHECKPOINT_RESTORE: restore with --pid any")
        }
        _ => format!("cannot create {what} {id}: {e}"),
    }
}

/// Restores the image read from `src` (positioned at its start).
pub fn restore(device: &Path, src: &mut File, opts: &Options) -> Result<Restored, RestoreError> {
    let dev = Device::open(device)?;
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_RESTORE == 0 {
        return Err(
            "this cr module cannot restore (no CR_FEATURE_RESTORE); load a newer one".into(),
        );
    }
    let (meta, img) = image::read_metadata(&mut *src)?;
    let cwd = plan_dirs(&img)?;
    if let Some(t) = img.threads.iter().find(|t| {
        t.thread.policy & !crate::format::SCHED_RESET_ON_FORK == crate::format::SCHED_DEADLINE
    }) {
        return Err(rules::Held::Deadline(t.thread.tid).to_string().into());
    }
    let fds = plan_fds(&img, opts.stdio)?;
    let pid = img.process.pid as libc::pid_t;
    if opts.pid == PidChoice::Namespace && pid == 1 {
        return Err("the image's pid is 1: restore it with --pid any".into());
    }

    let mut ends = [0 as RawFd; 2];
    // SAFETY: `ends` has room for the two fds.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("cannot make a pipe: {}", io::Error::last_os_error()).into());
    }
    // SAFETY: pipe2 returned two fresh fds that we now own.
    let (status_rd, status_wr) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };

    let leader_tid = (opts.pid != PidChoice::Any).then_some(pid);
    let child = match opts.pid {
        PidChoice::Namespace => fork_with(libc::CLONE_NEWPID as u64, None)
            .map_err(|e| format!("cannot make a pid namespace: {e}"))?,
        _ => fork_with(0, leader_tid.as_ref()).map_err(|e| pid_error("pid", pid, &e))?,
    };
    if child == 0 {
        drop(status_rd);
        if let Some(dir) = &cwd {
            if let Err(e) = std::env::set_current_dir(dir) {
                tell(
                    status_wr.as_raw_fd(),
                    &format!("cannot enter the working directory {dir}: {e}"),
                );
                // SAFETY: Leaving the child without running the parent's exit code.
                unsafe { libc::_exit(1) };
            }
        }
        let status_fd = status_wr.into_raw_fd();
        if opts.pid == PidChoice::Namespace {
            init(&dev, &img, &meta, fds, src.as_raw_fd(), status_fd, pid);
        }
        become_restored(&dev, &img, &meta, fds, src.as_raw_fd(), status_fd, opts);
        // SAFETY: Leaving the child without running the parent's exit code.
        unsafe { libc::_exit(1) };
    }
    // The files now live in the child.
    drop(fds);
    drop(status_wr);
    let mut status = File::from(status_rd);
    let mut buf = Vec::new();
    status.read_to_end(&mut buf)?;
    let reap = || {
        let mut st = 0;
        // SAFETY: Reaps our child, which failed.
        unsafe { libc::waitpid(child, &mut st, 0) };
    };
    if let Some(text) = buf.strip_prefix(MESSAGE) {
        reap();
        return Err(String::from_utf8_lossy(text).into_owned().into());
    }
    let Some(s) = from_bytes::<CrRestoreStatus>(&buf) else {
        reap();
        return Err("the restoring process ended without a word; nothing was restored".into());
    };
    if s.error != 0 {
        reap();
        return Err(dev::restore_failure(
            &io::Error::from_raw_os_error(-s.error),
            s.reason,
            s.offset,
            true,
        )
        .into());
    }
    let outer = if opts.pid == PidChoice::Namespace {
        let path = format!("/proc/{child}/task/{child}/children");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        text.split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{path} names no restored process"))?
    } else {
        s.pid
    };
    Ok(Restored {
        pid: outer,
        inner_pid: s.pid,
    })
}

/// Writes a failure message for the parent to the status pipe.
fn tell(status_fd: RawFd, err: &str) {
    let mut msg = MESSAGE.to_vec();
    msg.extend_from_slice(err.as_bytes());
    // SAFETY: `status_fd` is the pipe's write end, still open in this child
    // (a restore that gets past it has closed it and never comes back).
    let mut f = unsafe { File::from_raw_fd(status_fd) };
    let _ = f.write_all(&msg);
}

/// `--pid ns`: this child is pid 1 of a new pid namespace. It makes the
/// restored process (with the image's pid there) and stays as its init:
/// reaping orphans, and leaving with the restored process's exit status.
fn init(
    dev: &Device,
    img: &Image,
    meta: &[u8],
    fds: FdPlan,
    src_fd: RawFd,
    status_fd: RawFd,
    pid: libc::pid_t,
) -> ! {
    let leader = match fork_with(0, Some(&pid)) {
        Ok(0) => {
            let opts = Options {
                pid: PidChoice::Original,
                stdio: Stdio::Inherit,
            };
            become_restored(dev, img, meta, fds, src_fd, status_fd, &opts);
            // SAFETY: Leaving without running crctl's exit code.
            unsafe { libc::_exit(1) }
        }
        Ok(p) => p,
        Err(e) => {
            tell(status_fd, &pid_error("pid", pid, &e));
            // SAFETY: As above.
            unsafe { libc::_exit(1) }
        }
    };
    // Let go of everything: the restored process has its own copies.
    drop(fds);
    // SAFETY: closes every fd of this init (it needs none to reap).
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    loop {
        let mut st = 0;
        // SAFETY: waits for any child of this init.
        let r = unsafe { libc::waitpid(-1, &mut st, 0) };
        if r == leader || r < 0 {
            let code = if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else {
                128 + libc::WTERMSIG(st)
            };
            // SAFETY: Leaving; the namespace's other processes are killed.
            unsafe { libc::_exit(code) };
        }
    }
}

/// The child: prepare, then become the restored process. Returns only on
/// failure, having told the parent why on the status pipe (which moves with
/// the fd table's layout).
fn become_restored(
    dev: &Device,
    img: &Image,
    meta: &[u8],
    fds: FdPlan,
    src_fd: RawFd,
    status_fd: RawFd,
    opts: &Options,
) {
    let mut status_fd_now = status_fd;
    let prepare_and_restore = || -> String {
        // The restore sets the image's mask; until then nothing may interrupt.
        // SAFETY: a full set for sigprocmask.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        }
        let mut keep = [src_fd, status_fd_now, dev.as_raw_fd()];
        let laid_out = lay_out_fds(fds, &mut keep);
        let [src_fd, status, dev_fd] = keep;
        status_fd_now = status;
        if let Err(e) = laid_out {
            return e;
        }
        if let Err(e) = move_specials(img) {
            return e;
        }
        // One waiting thread per image thread but the first.
        let n = img.threads.len();
        let mut targs: Vec<CrRestoreThreadArgs> = (1..n)
            .map(|i| CrRestoreThreadArgs {
                index: i as u32,
                ..Default::default()
            })
            .collect();
        let tids: Vec<libc::pid_t> = img
            .threads
            .iter()
            .map(|t| t.thread.tid as libc::pid_t)
            .collect();
        let mut waiters = Vec::with_capacity(targs.len());
        for (i, a) in targs.iter_mut().enumerate() {
            let tid = (opts.pid != PidChoice::Any).then_some(&tids[i + 1]);
            match spawn_waiter(dev_fd, a, tid) {
                Ok(t) => waiters.push(t),
                Err(e) => return pid_error("thread id", tids[i + 1], &e),
            }
        }
        if let Err(e) = set_rlimits(img) {
            return e;
        }
        if let Err(e) = set_process_settings(img) {
            return e;
        }
        // The waiting threads first, the caller (the leader) last.
        for (t, &tid) in img.threads[1..].iter().zip(&waiters) {
            if let Err(e) = set_sched(&t.thread, tid, t.thread.tid) {
                return e;
            }
        }
        if let Err(e) = set_sched(&img.threads[0].thread, 0, img.threads[0].thread.tid) {
            return e;
        }
        if let Err(e) = arm_itimers(img) {
            return e;
        }
        let mut args = CrRestoreArgs {
            meta: meta.as_ptr() as u64,
            meta_len: meta.len() as u64,
            in_fd: src_fd,
            status_fd: status,
            dev_fd,
            ..Default::default()
        };
        match Device::restore_on(dev_fd, &mut args) {
            // Unreachable: a successful restore returns into the restored program.
            Ok(()) => "the restore returned to crctl".to_owned(),
            Err(e) => e.to_string(),
        }
    };
    let err = prepare_and_restore();
    tell(status_fd_now, &err);
}
