// SPDX-License-Identifier: GPL-2.0

//! `crctl restore`: bring a process back from an image.
//!
//! crctl reads the image's metadata (every record before the first page),
//! then forks the process that becomes the restored one. That child moves its
//! [vdso] and [vvar] mappings to the image's addresses (the kernel keeps them
//! through a restore) and calls CR_IOC_RESTORE, which replaces it with the
//! image's process and returns into the restored program. The parent learns
//! the outcome from a status pipe the module writes to, prints the restored
//! pid and leaves; the process runs on by itself.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::dev::{self, Device};
use crate::image::{self, Image};
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

/// Restores the image read from `src` (fd `src_fd`, positioned at its
/// start). Returns the restored process's pid.
pub fn restore(device: &Path, src: &mut File) -> Result<u32, RestoreError> {
    let dev = Device::open(device)?;
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_RESTORE == 0 {
        return Err(
            "this cr module cannot restore (no CR_FEATURE_RESTORE); load a newer one".into(),
        );
    }
    let (meta, img) = image::read_metadata(&mut *src)?;

    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two ends.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("cannot make a pipe: {}", io::Error::last_os_error()).into());
    }
    // SAFETY: pipe2 returned two fresh fds that we now own.
    let (status_rd, status_wr) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // SAFETY: crctl is single-threaded here; the child only makes system
    // calls and allocates nothing before the restore replaces it.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("cannot fork: {}", io::Error::last_os_error()).into());
    }
    if pid == 0 {
        drop(status_rd);
        let err = child(&dev, &img, &meta, src.as_raw_fd(), status_wr.as_raw_fd());
        eprintln!("crctl: {err}");
        // SAFETY: Leaving the child without running the parent's exit code.
        unsafe { libc::_exit(1) };
    }
    drop(status_wr);
    let mut status = File::from(status_rd);
    let mut buf = [0u8; std::mem::size_of::<CrRestoreStatus>()];
    let got = read_full(&mut status, &mut buf)?;
    if got == buf.len() {
        let s: CrRestoreStatus = from_bytes(&buf).expect("sized");
        if s.error == 0 {
            return Ok(s.pid);
        }
        let mut child_status = 0;
        // SAFETY: Reaps our child, which the module killed.
        unsafe { libc::waitpid(pid, &mut child_status, 0) };
        return Err(dev::restore_failure(
            &io::Error::from_raw_os_error(-s.error),
            s.reason,
            s.offset,
            true,
        )
        .into());
    }
    // No status: the child failed before the point of no return, and said why.
    let mut child_status = 0;
    // SAFETY: Reaps our child.
    unsafe { libc::waitpid(pid, &mut child_status, 0) };
    Err("the restore failed (see the message above); nothing was changed".into())
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The child: prepare, then become the restored process. Returns only on
/// failure, with the message.
fn child(dev: &Device, img: &Image, meta: &[u8], in_fd: RawFd, status_fd: RawFd) -> String {
    if let Err(e) = move_specials(img) {
        return e;
    }
    let mut args = CrRestoreArgs {
        meta: meta.as_ptr() as u64,
        meta_len: meta.len() as u64,
        in_fd,
        status_fd,
        ..Default::default()
    };
    match dev.restore(&mut args) {
        // Unreachable: a successful restore returns into the restored program.
        Ok(()) => "the restore returned to crctl".to_owned(),
        Err(e) => e.to_string(),
    }
}
