// SPDX-License-Identifier: GPL-2.0

//! What a checkpoint collects under the target's locks before it writes:
//! its memory areas and fds, and the refusal of what no restore brings
//! back, said before anything is frozen, written or ended.

use kernel::{page::PAGE_SIZE, prelude::*};

use crate::{
    error::{Failure, Reason},
    freeze::Frozen,
    rules::{self, FdRefusal, Held},
    sys::{
        mm::{AddressSpace, MmRead},
        task::Process,
    },
    uapi::{self, CrFd, CrVma},
};

use super::PATH_MAX;

/// The memory areas of a frozen process, read under one hold of its mmap lock.
pub(super) struct Areas {
    pub(super) vmas: KVVec<CrVma>,
    /// The areas' paths, back to back (`CrVma::path_len` bytes each).
    pub(super) paths: KVVec<u8>,
}

/// Items of `items` with their paths, stored back to back in `paths`
/// (`len` bytes each).
fn with_paths<'a, T>(
    items: &'a [T],
    paths: &'a [u8],
    len: impl Fn(&T) -> u32 + 'a,
) -> impl Iterator<Item = (&'a T, &'a [u8])> + 'a {
    let mut off = 0usize;
    items.iter().map(move |item| {
        let n = len(item) as usize;
        let p = &paths[off..off + n];
        off += n;
        (item, p)
    })
}

impl Areas {
    /// Each area with its path.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&CrVma, &[u8])> {
        with_paths(&self.vmas, &self.paths, |v| v.path_len)
    }

    /// Reads every VMA. Refuses shared anonymous memory, files with no name
    /// and device mappings, whose contents an image cannot hold yet.
    /// With `judge` false (a partial image), a mapped file with no name is
    /// saved as it is, for a restore to refuse.
    pub(super) fn read(
        mm: &MmRead<'_>,
        path: &mut KVec<u8>,
        judge: bool,
    ) -> Result<Areas, Failure> {
        let mut areas = Areas {
            vmas: KVVec::new(),
            paths: KVVec::new(),
        };
        let mut addr = 0usize;
        while let Some((v, unnamed)) = mm.vma_after(addr, path)? {
            let p = &path[..v.path_len as usize];
            match v.kind {
                uapi::CR_VMA_SHMEM => {
                    return Err(Failure::holds(
                        Reason::Shmem,
                        v.start,
                        &Held::UnnamedMapping(v.start, p),
                    ))
                }
                uapi::CR_VMA_DEVICE => {
                    return Err(Failure::at(EOPNOTSUPP, Reason::Device, v.start))
                }
                _ if judge && v.flags & uapi::CR_VMA_GUARD != 0 => {
                    return Err(Failure::holds(
                        Reason::Holds,
                        v.start,
                        &Held::GuardPages(v.start),
                    ))
                }
                _ if unnamed && judge => {
                    return Err(Failure::holds(
                        Reason::Holds,
                        v.start,
                        &Held::UnnamedMapping(v.start, p),
                    ))
                }
                _ => {}
            }
            if areas.vmas.len() >= uapi::CR_IMAGE_MAX_VMAS as usize {
                return Err(Failure::new(E2BIG, Reason::Limit));
            }
            areas.paths.extend_from_slice(p, GFP_KERNEL_ACCOUNT)?;
            areas.vmas.push(v, GFP_KERNEL_ACCOUNT)?;
            addr = v.end as usize;
        }
        Ok(areas)
    }
}

/// The open fds of a process, with their paths.
pub(super) struct Fds {
    pub(super) fds: KVVec<CrFd>,
    /// The fds' paths, back to back (`CrFd::path_len` bytes each).
    pub(super) paths: KVVec<u8>,
}

impl Fds {
    /// Each fd with its path.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&CrFd, &[u8])> {
        with_paths(&self.fds, &self.paths, |f| f.path_len)
    }

    /// Reads every fd. `exact` (only while the process is frozen) also finds
    /// the pipes another process holds. Refuses a lock or lease on any fd's
    /// file, and any fd from 3 up that a restore would refuse (fds 0-2 a
    /// restore may take from its caller instead).
    /// With `judge` false (a partial image), nothing is refused.
    pub(super) fn read(
        process: &Process,
        path: &mut KVec<u8>,
        exact: bool,
        judge: bool,
    ) -> Result<Fds, Failure> {
        let mut fds = Fds {
            fds: KVVec::new(),
            paths: KVVec::new(),
        };
        let mut fd = 0u32;
        while let Some((f, held)) = process.fd_at_or_after(fd, path, exact)? {
            let at = u64::from(f.fd as u32);
            if held.lock && judge {
                return Err(Failure::holds(Reason::Holds, at, &Held::FileLock(f.fd)));
            }
            if held.lease && judge {
                return Err(Failure::holds(Reason::Holds, at, &Held::Lease(f.fd)));
            }
            fds.paths
                .extend_from_slice(&path[..f.path_len as usize], GFP_KERNEL_ACCOUNT)?;
            fds.fds.push(f, GFP_KERNEL_ACCOUNT)?;
            fd = f.fd as u32 + 1;
        }
        for (f, p) in fds.iter() {
            if f.fd < rules::INHERITABLE_FDS || !judge {
                continue;
            }
            if let Some(obstacle) = rules::fd_obstacle(f, p, fds.fds.iter()) {
                let refusal = FdRefusal {
                    fd: f.fd,
                    path: p,
                    obstacle,
                };
                return Err(Failure::holds(
                    Reason::Holds,
                    u64::from(f.fd as u32),
                    &refusal,
                ));
            }
        }
        Ok(fds)
    }
}

/// Refuses a process that holds what no restore brings back (rules.rs):
/// children, POSIX timers, System V undo state, locks, fds and memory a
/// restore would refuse. Looked at first while the process runs, so that it
/// is never stopped for an image that would be refused; then again while it
/// is `frozen`, which nothing can race. What only a frozen process shows (a
/// pipe another process also holds; semaphore undo state, which only each
/// thread can look at) is refused then, still before anything is written or
/// ended.
///
/// A partial checkpoint (`judge` false) refuses nothing of this here.
pub(super) fn refuse_what_restore_cannot_bring_back(
    process: &Process,
    space: &AddressSpace,
    frozen: Option<&Frozen>,
    judge: bool,
) -> Result<Option<(Areas, Fds)>, Failure> {
    let exact = frozen.is_some();
    if !judge && !exact {
        return Ok(None);
    }
    if judge {
        if let Some((pid, zombie)) = process.child() {
            let held = if zombie {
                Held::Zombie(pid)
            } else {
                Held::Child(pid)
            };
            return Err(Failure::holds(Reason::Holds, u64::from(pid), &held));
        }
        if let Some(pages) = process.locked_beyond_limit(space) {
            let kib = pages * (PAGE_SIZE as u64 / 1024);
            return Err(Failure::holds(
                Reason::Holds,
                0,
                &Held::LockedOverLimit(kib),
            ));
        }
        if let Some(tid) = process.deadline_thread() {
            return Err(Failure::holds(
                Reason::Holds,
                u64::from(tid),
                &Held::Deadline(tid),
            ));
        }
        if process.has_posix_timers() {
            return Err(Failure::holds(Reason::Holds, 0, &Held::PosixTimers));
        }
        if frozen.is_some_and(|f| f.stops.iter().any(|s| s.saved.lock().sem_undo)) {
            return Err(Failure::holds(Reason::Holds, 0, &Held::SemUndo));
        }
    }
    let mut path = KVec::new();
    path.resize(PATH_MAX, 0u8, GFP_KERNEL_ACCOUNT)?;
    let areas = Areas::read(&space.read(), &mut path, judge)?;
    let fds = Fds::read(process, &mut path, exact, judge)?;
    Ok(exact.then_some((areas, fds)))
}
