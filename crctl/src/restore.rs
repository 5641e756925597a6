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
}

/// What a restore gave back.
#[derive(Clone, Copy, Debug)]
pub struct Restored {
    /// The restored process's pid, in crctl's pid namespace.
    pub pid: u32,
    /// Its pid inside its own namespace (the image's), for `--pid ns`.
    pub inner_pid: u32,
    /// crctl's child: the restored process, or with `--pid ns` the init of
    /// its namespace (which ends with it, its exit code 128 + N for a death
    /// by signal N).
    pub child: u32,
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

/// Restores the image read from `src` (positioned at its start).
pub fn restore(device: &Path, src: &mut File, opts: &Options) -> Result<Restored> {
    let dev = Device::open(device)?;
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_RESTORE == 0 {
        return Err(Error::NoRestore);
    }
    let (meta, img) = image::read_metadata(&mut *src)?;
    if opts.portable {
        if let Some(pin) = crate::portable::image_pin(&img) {
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
    let fds = fds::plan_fds(&img, opts.stdio)?;
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

    let (status_rd, status_wr) = status::pipe()?;
    let child = spawn::fork_restorer(opts.pid, pid)?;
    if child == 0 {
        drop(status_rd);
        spawn::child(&dev, &img, &meta, fds, src, status_wr, cwd.as_deref(), opts);
    }
    // The files now live in the child.
    drop(fds);
    drop(status_wr);
    status::outcome(status_rd, child, opts.pid)
}
