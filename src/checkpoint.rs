// SPDX-License-Identifier: GPL-2.0

//! Checkpoint of a local process: freeze it, stream its image, thaw (or end)
//! it. The image's records, in order, are described in
//! Documentation/image-format.rst.

use kernel::{page::PAGE_SIZE, prelude::*};

use crate::{
    class::{CheckpointReport, CheckpointRequest},
    error::{Failure, OrFail, Reason},
    freeze::{self, FreezeError, Frozen},
    image::{ImageWriter, WriteError},
    rules::{self, FdRefusal, Held},
    sys::{
        self,
        file::{self, OutFile},
        mm::{AddressSpace, ChunkBits, MmRead, PageBatch, CHUNK_PAGES},
        task::{self as systask, Claim, Process},
    },
    uapi::{self, CrFd, CrImageHeader, CrPipe, CrSighand, CrSigpending, CrVma},
};

/// Pages taken and written at a time (one PAGES record at most).
const BATCH: usize = 256;

/// Longest path cr stores.
const PATH_MAX: usize = uapi::CR_IMAGE_MAX_PATH as usize;

/// The errno and reason for an error from the image writer: the output
/// stream's, or a rule of the format the image would break.
fn output_failure(err: WriteError) -> Failure {
    let err = match err {
        WriteError::Output(e) => e,
        WriteError::Refused(e) => return Failure::unrestorable(e),
    };
    let reason = if err == EINTR {
        Reason::Interrupted
    } else if err == E2BIG {
        Reason::Limit
    } else if err == ENOMEM {
        Reason::None
    } else {
        Reason::Output
    };
    Failure::new(err, reason)
}

/// OrFail `Process::checkable` refused.
fn check_failure(err: Error) -> Failure {
    let reason = if err == EDEADLK {
        Reason::SelfProcess
    } else if err == EBUSY {
        Reason::Stopped
    } else if err == EINVAL {
        Reason::Kthread
    } else if err == EOPNOTSUPP {
        Reason::Leaderless
    } else {
        Reason::NoProcess
    };
    Failure::new(err, reason)
}

/// The memory areas of a frozen process, read under one hold of its mmap lock.
struct Areas {
    vmas: KVVec<CrVma>,
    /// The areas' paths, back to back (`CrVma::path_len` bytes each).
    paths: KVVec<u8>,
}

impl Areas {
    /// Reads every VMA. Refuses shared anonymous memory, files with no name
    /// and device mappings, whose contents an image cannot hold yet.
    /// With `judge` false (a partial image), a mapped file with no name is
    /// saved as it is, for a restore to refuse.
    fn read(mm: &MmRead<'_>, path: &mut KVec<u8>, judge: bool) -> Result<Areas, Failure> {
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
struct Fds {
    fds: KVVec<CrFd>,
    /// The fds' paths, back to back (`CrFd::path_len` bytes each).
    paths: KVVec<u8>,
}

impl Fds {
    /// Reads every fd. `exact` (only while the process is frozen) also finds
    /// the pipes another process holds. Refuses a lock or lease on any fd's
    /// file, and any fd from 3 up that a restore would refuse (fds 0-2 a
    /// restore may take from its caller instead).
    /// With `judge` false (a partial image), nothing is refused.
    fn read(
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
        let mut off = 0usize;
        for f in fds.fds.iter() {
            let p = &fds.paths[off..off + f.path_len as usize];
            off += f.path_len as usize;
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
fn refuse_what_restore_cannot_bring_back(
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

/// Checkpoints `process` as `req` asks.
#[inline(never)]
pub(crate) fn checkpoint(
    process: &Process,
    req: &CheckpointRequest,
) -> Result<CheckpointReport, Failure> {
    process.checkable().map_err(check_failure)?;
    let space = AddressSpace::of(process.leader()).or_fail(Reason::NoProcess)?;
    if req.proof_fd >= 0 {
        file::check_proof(req.proof_fd, &space).or_fail(Reason::Proof)?;
    } else if !process.caller_is_capable() {
        return Err(Failure::new(EPERM, Reason::Perm));
    }
    // A kill that would not end it must not be promised.
    if req.kill && !process.killable() {
        return Err(Failure::new(EINVAL, Reason::Unkillable));
    }
    let mut out = OutFile::get(req.out_fd).or_fail(Reason::Output)?;
    refuse_what_restore_cannot_bring_back(process, &space, None, !req.partial)?;
    let _claim = Claim::take(process).or_fail(Reason::Busy)?;

    let frozen = freeze::freeze(process, req.freeze_timeout_ms).map_err(|e| match e {
        FreezeError::Timeout => Failure::new(ETIMEDOUT, Reason::Timeout),
        FreezeError::Interrupted => Failure::new(EINTR, Reason::Interrupted),
        FreezeError::Exited => Failure::new(ESRCH, Reason::NoProcess),
        FreezeError::Other(e) => Failure::new(e, Reason::None),
    })?;
    // Frozen now; check what may have changed before the last thread stopped:
    // it may have exited (then it has no mm either), exec'd, or changed its
    // credentials or dumpability.
    process.checkable().map_err(check_failure)?;
    if !space.is_current_for(process.leader()) {
        return Err(Failure::new(EAGAIN, Reason::Exec));
    }
    if req.proof_fd < 0 && !process.caller_is_capable() {
        return Err(Failure::new(EPERM, Reason::Perm));
    }

    // Frozen, nothing can race the look: no fork, no new fd, and every
    // reference to a pipe is a holder's.
    let (areas, fds) =
        refuse_what_restore_cannot_bring_back(process, &space, Some(&frozen), !req.partial)?
            .ok_or(Failure::new(EINVAL, Reason::None))?;
    let mut report = write_image(process, &space, &frozen, areas, &fds, &mut out)?;
    if req.kill {
        process.kill();
    }
    report.frozen_ns = sys::now_ns() - frozen.since;
    drop(frozen);
    Ok(report)
}

/// Streams the image of a frozen process.
#[inline(never)]
fn write_image(
    process: &Process,
    space: &AddressSpace,
    frozen: &Frozen,
    areas: Areas,
    fds: &Fds,
    out: &mut OutFile,
) -> Result<CheckpointReport, Failure> {
    let mut path = KVec::new();
    path.resize(PATH_MAX, 0u8, GFP_KERNEL_ACCOUNT)?;
    let mut w = ImageWriter::new(out).map_err(output_failure)?;

    let xstate_size = systask::xstate_size();
    let (release, hostname) = sys::uts();
    let header = CrImageHeader {
        version: uapi::CR_IMAGE_VERSION,
        arch: uapi::CR_ARCH_X86_64,
        page_size: PAGE_SIZE as u32,
        xstate_size: xstate_size as u32,
        created_ns: sys::now_real_ns(),
        release,
        hostname,
        __pad: [0; 6],
    };
    w.begin(uapi::CR_REC_HEADER)
        .and_then(|w| w.put(&header))
        .and_then(|w| w.finish())
        .map_err(output_failure)?;

    let threads = frozen.stops.iter().filter(|s| s.saved.lock().valid).count();
    let mut info = process.info();
    info.nr_threads = threads as u32;
    info.flags |= space.read().process_flags();
    w.begin(uapi::CR_REC_PROCESS)
        .and_then(|w| w.put(&info))
        .and_then(|w| w.finish())
        .map_err(output_failure)?;

    // The address space: its fields and areas are read under its mmap lock,
    // which is never held while writing (a writer may need its own mmap lock
    // under the output's locks, and a slow reader must not stall the mm).
    let mut auxv = KVec::new();
    auxv.resize(64, 0u64, GFP_KERNEL_ACCOUNT)?;
    let mut exe = KVec::new();
    let mut mm_info = {
        let mm = space.read();
        let info = mm.info(&mut auxv);
        let exe_len = mm.exe_path(&mut path)?;
        exe.extend_from_slice(&path[..exe_len], GFP_KERNEL_ACCOUNT)?;
        info
    };
    mm_info.nr_vmas = areas.vmas.len() as u32;
    mm_info.exe_path_len = exe.len() as u32;
    // The auxv as the u64 words it is, little-endian.
    let mut auxv_le = KVec::new();
    for word in &auxv[..mm_info.auxv_words as usize] {
        auxv_le.extend_from_slice(&word.to_le_bytes(), GFP_KERNEL_ACCOUNT)?;
    }
    w.begin(uapi::CR_REC_MM)
        .and_then(|w| w.put(&mm_info))
        .and_then(|w| w.put_bytes(&auxv_le))
        .and_then(|w| w.put_bytes(&exe))
        .and_then(|w| w.finish())
        .map_err(output_failure)?;
    let mut off = 0usize;
    for v in areas.vmas.iter() {
        let p = &areas.paths[off..off + v.path_len as usize];
        off += v.path_len as usize;
        w.begin(uapi::CR_REC_VMA)
            .and_then(|w| w.put(v))
            .and_then(|w| w.put_bytes(p))
            .and_then(|w| w.finish())
            .map_err(output_failure)?;
    }

    let mut sighand = sys::zeroed_box::<CrSighand>()?;
    process.sighand(&mut sighand).or_fail(Reason::NoProcess)?;
    w.begin(uapi::CR_REC_SIGHAND)
        .and_then(|w| w.put(&*sighand))
        .and_then(|w| w.finish())
        .map_err(output_failure)?;
    drop(sighand);
    let (set, queued) = process.shared_pending().or_fail(Reason::NoProcess)?;
    let pending = CrSigpending {
        signal: set,
        count: queued.len() as u32,
        __pad: 0,
    };
    w.begin(uapi::CR_REC_SIGPENDING)
        .and_then(|w| w.put(&pending))
        .map_err(output_failure)?;
    for q in queued.iter() {
        w.put(q).map_err(output_failure)?;
    }
    w.finish().map_err(output_failure)?;

    // The directories and interval timers, then the fds, then what waits in
    // each pipe they name.
    let mut paths = KVec::new();
    paths.resize(2 * PATH_MAX, 0u8, GFP_KERNEL_ACCOUNT)?;
    let fs = process.fs(&mut paths).or_fail(Reason::NoProcess)?;
    w.begin(uapi::CR_REC_FS)
        .and_then(|w| w.put(&fs))
        .and_then(|w| w.put_bytes(&paths[..(fs.cwd_len + fs.root_len) as usize]))
        .and_then(|w| w.finish())
        .map_err(output_failure)?;
    drop(paths);
    let timers = process.itimers().or_fail(Reason::NoProcess)?;
    w.begin(uapi::CR_REC_ITIMERS)
        .and_then(|w| w.put(&timers))
        .and_then(|w| w.finish())
        .map_err(output_failure)?;

    // (dev, ino, fd) of each pipe, once.
    let mut pipes: KVVec<(u64, u64, u32)> = KVVec::new();
    let mut off = 0usize;
    for f in fds.fds.iter() {
        let p = &fds.paths[off..off + f.path_len as usize];
        off += f.path_len as usize;
        w.begin(uapi::CR_REC_FD)
            .and_then(|w| w.put(f))
            .and_then(|w| w.put_bytes(p))
            .and_then(|w| w.finish())
            .map_err(output_failure)?;
        if f.r#type == uapi::CR_FD_PIPE && !pipes.iter().any(|q| q.0 == f.dev && q.1 == f.ino) {
            pipes.push((f.dev, f.ino, f.fd as u32), GFP_KERNEL_ACCOUNT)?;
        }
    }
    pipes.sort_unstable_by_key(|p| (p.0, p.1));
    for &(dev, ino, fd) in pipes.iter() {
        let (data, capacity) = match process.pipe_data(fd) {
            Ok(d) => d,
            Err(e) if e == E2BIG => return Err(Failure::new(E2BIG, Reason::Limit)),
            Err(e) => return Err(Failure::new(e, Reason::None)),
        };
        if data.len() > uapi::CR_IMAGE_MAX_PIPE as usize {
            return Err(Failure::new(E2BIG, Reason::Limit));
        }
        let rec = CrPipe {
            dev,
            ino,
            bytes: data.len() as u32,
            capacity,
        };
        w.begin(uapi::CR_REC_PIPE)
            .and_then(|w| w.put(&rec))
            .and_then(|w| w.put_bytes(&data))
            .and_then(|w| w.finish())
            .map_err(output_failure)?;
    }

    for (i, stop) in frozen.stops.iter().enumerate() {
        let (set, queued) = systask::pending(&stop.task, false).or_fail(Reason::NoProcess)?;
        {
            // The record is built under the thread's lock and written after.
            let saved = stop.saved.lock();
            if !saved.valid {
                continue;
            }
            let mut th = saved.thread;
            th.tid = systask::tid(&stop.task);
            if i == 0 && stop.task.as_ptr() == process.leader().as_ptr() {
                th.flags |= uapi::CR_THREAD_LEADER;
            }
            th.pending = set;
            th.pending_count = queued.len() as u32;
            w.begin(uapi::CR_REC_THREAD)
                .and_then(|w| w.put(&th))
                .and_then(|w| w.put_bytes(&saved.xstate))
                .map_err(output_failure)?;
        }
        for q in queued.iter() {
            w.put(q).map_err(output_failure)?;
        }
        w.finish().map_err(output_failure)?;
    }

    write_pages(space, &areas, &mut w)?;

    // A thread killed while frozen: the process is gone, so no image of it
    // may look complete. Stop before the trailer.
    if frozen.killed() > 0 {
        return Err(Failure::new(ESRCH, Reason::NoProcess));
    }

    let report = CheckpointReport {
        bytes: 0,
        pages: w.pages(),
        frozen_ns: 0,
        threads: threads as u32,
        vmas: areas.vmas.len() as u32,
    };
    let bytes = w.trailer().map_err(output_failure)?;
    Ok(CheckpointReport { bytes, ..report })
}

/// Writes the pages that exist: every page of private anonymous memory that
/// was ever touched, and in private file mappings the pages copied on write.
/// Areas whose contents live elsewhere (shared file mappings: the file; vdso
/// and vvar: the kernel) contribute nothing. Nothing is faulted in.
///
/// The mmap lock is taken to probe the page tables and to take references on
/// a batch of pages, and dropped to write them.
fn write_pages(
    space: &AddressSpace,
    areas: &Areas,
    w: &mut ImageWriter<'_>,
) -> Result<(), Failure> {
    let mut bits: ChunkBits = [0; CHUNK_PAGES / usize::BITS as usize];
    let mut batch = PageBatch::with_capacity(BATCH)?;
    for v in areas.vmas.iter() {
        let anon_only = match v.kind {
            uapi::CR_VMA_ANON => false,
            uapi::CR_VMA_FILE if v.flags & uapi::CR_VMA_SHARED == 0 => true,
            _ => continue,
        };
        let end = v.end as usize;
        let mut addr = v.start as usize;
        loop {
            let chunk = space.read().next_chunk(addr, end, &mut bits);
            let Some((start, chunk_end)) = chunk else {
                break;
            };
            let n = (chunk_end - start) / PAGE_SIZE;
            let mut i = 0usize;
            while i < n {
                if !bit(&bits, i) {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j < n && bit(&bits, j) {
                    j += 1;
                }
                write_run(
                    space,
                    start + i * PAGE_SIZE,
                    j - i,
                    anon_only,
                    &mut batch,
                    w,
                )?;
                i = j;
            }
            addr = chunk_end;
        }
    }
    Ok(())
}

fn bit(bits: &ChunkBits, i: usize) -> bool {
    let w = usize::BITS as usize;
    bits[i / w] & (1 << (i % w)) != 0
}

/// Writes the existing pages of the run of `count` candidate pages at `addr`.
fn write_run(
    space: &AddressSpace,
    mut addr: usize,
    mut count: usize,
    anon_only: bool,
    batch: &mut PageBatch,
    w: &mut ImageWriter<'_>,
) -> Result<(), Failure> {
    while count > 0 {
        batch.clear();
        let got = space.read().get_pages(addr, count.min(BATCH), batch)?;
        if got == 0 {
            // No page here (or the zero page): nothing to save.
            addr += PAGE_SIZE;
            count -= 1;
            continue;
        }
        // Runs of pages to keep, each one PAGES record, written with no lock
        // held (the references keep the pages).
        let mut k = 0usize;
        while k < got {
            if anon_only && !batch.is_anon(k) {
                k += 1;
                continue;
            }
            let mut e = k;
            while e < got && (!anon_only || batch.is_anon(e)) {
                e += 1;
            }
            w.pages_record(addr + k * PAGE_SIZE, batch, k..e)
                .map_err(output_failure)?;
            k = e;
        }
        addr += got * PAGE_SIZE;
        count -= got;
    }
    batch.clear();
    Ok(())
}
