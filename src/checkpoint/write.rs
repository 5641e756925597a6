// SPDX-License-Identifier: GPL-2.0

//! Streaming a frozen process's image: its records in order (process, mm,
//! areas, signals, fds, threads), then its pages, taken a batch at a time
//! and written straight from the page cache of the process.

use kernel::{page::PAGE_SIZE, prelude::*};

use crate::{
    class::CheckpointReport,
    deputy::SignalCounts,
    error::{Failure, OrFail, Reason},
    freeze::Frozen,
    image::ImageWriter,
    sys::{
        self,
        file::OutFile,
        mm::{AddressSpace, ChunkBits, CHUNK_PAGES},
        task::{self as systask, Process},
    },
    uapi::{self, CrImageHeader, CrPipe, CrSighand, CrSigpending, CrVma},
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

/// The header, process, mm and area records; the threads the image holds.
/// (A frame of its own: the records are big, and the caller's frame holds
/// others.)
#[inline(never)]
fn write_process_and_mm(
    w: &mut ImageWriter<'_>,
    process: &Process,
    space: &AddressSpace,
    frozen: &Frozen,
    areas: &Areas,
    path: &mut KVec<u8>,
) -> Result<usize, Failure> {
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
        let exe_len = mm.exe_path(path)?;
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
    Ok(threads)
}

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
    // The first pages are taken and hashed on another CPU while the records
    // that come before them are written.
    // (Boxed: the walk's state stays off this frame, which holds the records.)
    let mut runs = KBox::new(Runs::new(space, &areas), GFP_KERNEL_ACCOUNT)?;
    let mut pages = Pipeline::new(space);
    pages.prime(&mut runs)?;

    let threads = write_process_and_mm(&mut w, process, space, frozen, &areas, &mut path)?;

    let mut sighand = sys::zeroed_box::<CrSighand>()?;
    process.sighand(&mut sighand).or_fail(Reason::NoProcess)?;
    w.record(uapi::CR_REC_SIGHAND, &*sighand, &[])
        .map_err(output_failure)?;
    drop(sighand);
    let (set, queued) = process.shared_pending().or_fail(Reason::NoProcess)?;
    let mut carried = SignalCounts::default();
    carried.add(set, &queued);
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
    let clocks = process.clocks().or_fail(Reason::NoProcess)?;
    w.record(uapi::CR_REC_CLOCKS, &clocks, &[])
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
                carried.add(set, &queued);
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

    pages.stream(&mut runs, &mut w)?;

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
        carried,
    };
    let bytes = w.trailer().map_err(output_failure)?;
    Ok(CheckpointReport { bytes, ..report })
}

/// The pages to save, in address order, as runs of candidate pages (pages
/// the page tables map) within one page-table chunk, so of at most [`BATCH`]
/// pages each (or fewer, as asked): every page of private anonymous memory that was ever touched,
/// and in private file mappings the pages copied on write (the run's flag
/// says to keep only anonymous pages). Areas whose contents live elsewhere
/// (shared file mappings: the file; vdso and vvar: the kernel) contribute
/// nothing. Nothing is faulted in: the mmap lock is taken to probe a chunk's
/// page tables and dropped before the run is returned.
pub(super) struct Runs<'a> {
    space: &'a AddressSpace,
    vmas: core::slice::Iter<'a, CrVma>,
    /// The area being walked: where its next chunk starts, its end, and
    /// whether only anonymous pages are kept in it.
    addr: usize,
    end: usize,
    anon_only: bool,
    /// The chunk being walked: its first address, its pages, which of them
    /// are candidates, the next one to look at, and whether it is one huge
    /// page.
    start: usize,
    pages: usize,
    bits: ChunkBits,
    next: usize,
    huge: bool,
    /// A run given back, the next to be returned.
    back: Option<Run>,
}

impl<'a> Runs<'a> {
    pub(super) fn new(space: &'a AddressSpace, areas: &'a Areas) -> Runs<'a> {
        Runs {
            space,
            vmas: areas.vmas.iter(),
            addr: 0,
            end: 0,
            anon_only: false,
            start: 0,
            pages: 0,
            bits: [0; CHUNK_PAGES / usize::BITS as usize],
            next: 0,
            huge: false,
            back: None,
        }
    }
}

/// A run: its first page's address, its pages, and whether only anonymous
/// pages of it are kept.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) addr: usize,
    pub(super) count: usize,
    pub(super) anon_only: bool,
}

impl Runs<'_> {
    /// The next run, of at most `max` pages (at least one) unless its chunk
    /// is one huge page, which stays one run (cut, it would be restored as
    /// small pages), or it was given back.
    pub(super) fn next(&mut self, max: usize) -> Option<Run> {
        if let Some(run) = self.back.take() {
            return Some(run);
        }
        loop {
            // The next run of the chunk.
            let mut i = self.next;
            while i < self.pages && !bit(&self.bits, i) {
                i += 1;
            }
            if i < self.pages {
                let mut j = i;
                while j < self.pages && bit(&self.bits, j) && (self.huge || j - i < max.max(1)) {
                    j += 1;
                }
                self.next = j;
                return Some(Run {
                    addr: self.start + i * PAGE_SIZE,
                    count: j - i,
                    anon_only: self.anon_only,
                });
            }
            // The next chunk of the area with a candidate page in it.
            let chunk = (self.addr < self.end)
                .then(|| {
                    self.space
                        .read()
                        .next_chunk(self.addr, self.end, &mut self.bits)
                })
                .flatten();
            if let Some(c) = chunk {
                self.start = c.start;
                self.pages = (c.end - c.start) / PAGE_SIZE;
                self.huge = c.huge;
                self.next = 0;
                self.addr = c.end;
                continue;
            }
            // The next area whose pages are saved.
            self.pages = 0;
            let v = self.vmas.next()?;
            self.anon_only = match v.kind {
                uapi::CR_VMA_ANON => false,
                uapi::CR_VMA_FILE if v.flags & uapi::CR_VMA_SHARED == 0 => true,
                _ => {
                    self.end = 0;
                    continue;
                }
            };
            self.addr = v.start as usize;
            self.end = v.end as usize;
        }
    }

    /// Gives `run` back: the next call returns it (whole).
    pub(super) fn put_back(&mut self, run: Run) {
        self.back = Some(run);
    }
}

fn bit(bits: &ChunkBits, i: usize) -> bool {
    let w = usize::BITS as usize;
    bits[i / w] & (1 << (i % w)) != 0
}
