// SPDX-License-Identifier: GPL-2.0

//! Streaming a frozen process's image: its records in order (process, mm,
//! areas, signals, fds, threads), then its pages, taken a batch at a time
//! and written straight from the page cache of the process.

use kernel::{page::PAGE_SIZE, prelude::*};

use crate::{
    class::CheckpointReport,
    error::{Failure, OrFail, Reason},
    freeze::Frozen,
    image::ImageWriter,
    sys::{
        self,
        file::OutFile,
        mm::{AddressSpace, ChunkBits, CHUNK_PAGES},
        task::{self as systask, Process},
    },
    uapi::{self, CrImageHeader, CrPipe, CrSighand, CrSigpending},
};

use super::{
    collect::{Areas, Fds},
    output_failure,
    pipeline::Pipeline,
    PATH_MAX,
};

/// Pages taken and written at a time (one PAGES record at most): one
/// page-table chunk, so a 2 MiB range the process has whole is one record,
/// which a restore may give back as a huge page.
pub(super) const BATCH: usize = CHUNK_PAGES;

/// Streams the image of a frozen process.
#[inline(never)]
pub(super) fn write_image(
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
    w.record(uapi::CR_REC_HEADER, &header, &[])
        .map_err(output_failure)?;

    let threads = frozen.stops.iter().filter(|s| s.saved.lock().valid).count();
    let mut info = process.info();
    info.nr_threads = threads as u32;
    info.flags |= space.read().process_flags();
    w.record(uapi::CR_REC_PROCESS, &info, &[])
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
    for (v, p) in areas.iter() {
        w.record(uapi::CR_REC_VMA, v, p).map_err(output_failure)?;
    }

    let mut sighand = sys::zeroed_box::<CrSighand>()?;
    process.sighand(&mut sighand).or_fail(Reason::NoProcess)?;
    w.record(uapi::CR_REC_SIGHAND, &*sighand, &[])
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
    let fs_paths = &paths[..(fs.cwd_len + fs.root_len) as usize];
    w.record(uapi::CR_REC_FS, &fs, fs_paths)
        .map_err(output_failure)?;
    drop(paths);
    let timers = process.itimers().or_fail(Reason::NoProcess)?;
    w.record(uapi::CR_REC_ITIMERS, &timers, &[])
        .map_err(output_failure)?;

    // (dev, ino, fd) of each pipe, once.
    let mut pipes: KVVec<(u64, u64, u32)> = KVVec::new();
    for (f, p) in fds.iter() {
        w.record(uapi::CR_REC_FD, f, p).map_err(output_failure)?;
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
        w.record(uapi::CR_REC_PIPE, &rec, &data)
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
pub(super) fn write_pages(
    space: &AddressSpace,
    areas: &Areas,
    w: &mut ImageWriter<'_>,
) -> Result<(), Failure> {
    let mut bits: ChunkBits = [0; CHUNK_PAGES / usize::BITS as usize];
    let mut pipe = Pipeline::new();
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
                write_run(space, start + i * PAGE_SIZE, j - i, anon_only, &mut pipe, w)?;
                i = j;
            }
            addr = chunk_end;
        }
    }
    pipe.finish(w)
}

pub(super) fn bit(bits: &ChunkBits, i: usize) -> bool {
    let w = usize::BITS as usize;
    bits[i / w] & (1 << (i % w)) != 0
}

/// Writes the existing pages of the run of `count` candidate pages at `addr`,
/// a batch at a time through `pipe`.
pub(super) fn write_run(
    space: &AddressSpace,
    mut addr: usize,
    mut count: usize,
    anon_only: bool,
    pipe: &mut Pipeline,
    w: &mut ImageWriter<'_>,
) -> Result<(), Failure> {
    while count > 0 {
        let n = count.min(BATCH);
        pipe.push(space, addr, n, anon_only, w)?;
        addr += n * PAGE_SIZE;
        count -= n;
    }
    Ok(())
}
