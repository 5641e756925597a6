// SPDX-License-Identifier: GPL-2.0

//! After the point of no return: the caller's memory emptied and the
//! image's areas mapped and settled, the pages streamed in, then the mm
//! fields, signal state and the leader's own settings.

use kernel::{page::PAGE_SIZE, prelude::*, sync::Arc};

use crate::{
    ahead::{Ahead, Prepare},
    error::{Failure, OrFail, Reason},
    image::format::Checker,
    sys::{
        self,
        caller::{self, bindings_mman as mman},
        file::InFile,
    },
    uapi::{self, *},
};

use super::plan::{image_failure, Plan, MADVISED, MAPPED};

/// An area as the restore mapped it: what decides whether the next one
/// would merge with it.
#[derive(Clone, Copy)]
struct MappedArea {
    end: u64,
    kind: u32,
    /// (dev, ino)
    file: (u64, u64),
    /// The page offset that would continue it.
    next_pgoff: u64,
    prot: u32,
    flags: u32,
    noreserve: bool,
    /// Its madvise flags keep the next fresh mapping from merging with it.
    apart: bool,
}

/// From the point of no return: the new address space, the pages, and the
/// process's state.
#[inline(never)]
pub(super) fn rebuild(plan: &mut Plan, input: &InFile) -> Result<(), Failure> {
    // No huge page for the restore's own writes where the image has fewer
    // than all 512 pages of a 2 MiB range: those come back as the small pages
    // they are in the image, so the restore never takes more memory than the
    // original had. A range the image has whole may be a huge page again
    // (read_pages). The image's own THP setting is set after the pages
    // (set_mm_flags).
    caller::set_thp_paused(true);
    caller::unmap_all()?;
    let mut prev: Option<MappedArea> = None;
    for a in plan.areas.iter() {
        let v = &a.vma;
        let len = (v.end - v.start) as usize;
        let shared = v.flags & uapi::CR_VMA_SHARED != 0;
        let mut flags = if shared {
            mman::MAP_SHARED
        } else {
            mman::MAP_PRIVATE
        };
        if v.flags & uapi::CR_VMA_GROWSDOWN != 0 {
            flags |= mman::MAP_GROWSDOWN;
        }
        let mut drop_write = false;
        // A private area that was writable once keeps its commit charge
        // (VM_ACCOUNT) after mprotect(PROT_READ): map it writable, then drop
        // the write permission.
        let mut prot = v.prot;
        if !shared && v.flags & uapi::CR_VMA_ACCOUNT != 0 && v.prot & mman::PROT_WRITE == 0 {
            prot |= mman::PROT_WRITE;
            drop_write = true;
        }
        let mut noreserve = v.flags & uapi::CR_VMA_NORESERVE != 0;
        if let Some(MappedArea {
            end,
            kind,
            file,
            next_pgoff,
            prot: p,
            flags: f,
            noreserve: nr,
            apart,
        }) = prev
        {
            // An area that continues the one before it (adjacent, of the same
            // kind, file and protection, anonymous or at the next file
            // offset) would merge with it: the original's were kept apart by
            // their anon_vmas or history (an unfaulted anonymous area must
            // keep the page offset of its address). Flip VM_NORESERVE, the
            // flag that changes least (turning it off only for areas up to
            // 64 MiB, whose commit charge cannot matter much); its VmFlags
            // then show "nr" for "ac" or the reverse.
            let continues =
                v.kind == uapi::CR_VMA_ANON || (file == (v.dev, v.ino) && next_pgoff == v.pgoff);
            if end == v.start
                && kind == v.kind
                && continues
                && !apart
                && p == prot
                && f == v.flags & MAPPED
                && nr == noreserve
                && (!noreserve || len <= 64 << 20)
            {
                noreserve = !noreserve;
            }
        }
        if noreserve {
            flags |= mman::MAP_NORESERVE;
        }
        let at = a.at;
        match v.kind {
            uapi::CR_VMA_ANON => caller::map(
                None,
                v.start as usize,
                len,
                prot,
                flags | mman::MAP_ANONYMOUS,
                0,
            ),
            uapi::CR_VMA_FILE => caller::map(
                a.file.as_ref(),
                v.start as usize,
                len,
                prot,
                flags,
                v.pgoff * PAGE_SIZE as u64,
            ),
            _ => Ok(()),
        }
        .map_err(|e| Failure::at(e, Reason::None, at))?;
        if matches!(v.kind, uapi::CR_VMA_ANON | uapi::CR_VMA_FILE) {
            let private_anon = v.kind == uapi::CR_VMA_ANON && !shared;
            caller::settle_area(v.start as usize, v.flags, private_anon, drop_write)
                .map_err(|e| Failure::at(e, Reason::None, at))?;
        }
        prev = Some(MappedArea {
            end: v.end,
            kind: v.kind,
            file: (v.dev, v.ino),
            next_pgoff: v.pgoff + len as u64 / PAGE_SIZE as u64,
            // As it is once settled: what the next mapping meets.
            prot: v.prot,
            flags: v.flags & MAPPED,
            noreserve,
            apart: v.flags & MADVISED != 0,
        });
    }
    // The files are mapped now; the mappings hold their own references.
    for a in plan.areas.iter_mut() {
        a.file = None;
    }

    read_pages(plan, input)?;
    // A locked area has all its pages, as mlock() left it (those the image
    // does not hold are the file's, or zero); one locked on fault only
    // those it had. mlock() does not fault in an inaccessible area either.
    for a in plan.areas.iter() {
        let v = &a.vma;
        if v.flags & (uapi::CR_VMA_LOCKED | uapi::CR_VMA_LOCKONFAULT) == uapi::CR_VMA_LOCKED
            && v.prot != 0
        {
            caller::populate(v.start as usize, v.end as usize)
                .map_err(|e| Failure::at(e, Reason::None, a.at))?;
        }
    }

    caller::set_mm(&plan.mm, &plan.auxv);
    caller::set_mm_flags(plan.process.flags);
    caller::set_sighand(&plan.sighand);
    caller::set_umask(plan.process.umask);
    let t = &plan.threads[0];
    caller::set_thread(&t.thread).map_err(|e| Failure::at(e, Reason::Image, t.at))?;
    // Pending signals last, so they meet the restored mask and handlers:
    // the process's (queued on this thread, then moved), then the leader's.
    // The caller's own are dropped, but a fatal one ends the restore here
    // (and the process: its SIGKILL stays pending).
    caller::flush_signals().map_err(|e| Failure::new(e, Reason::Interrupted))?;
    queue_pending(&plan.shared, plan.shared_set)?;
    caller::pending_to_shared();
    queue_pending(&t.pending, t.thread.pending)?;
    Ok(())
}

/// Queues the signals of a pending set: each queued siginfo as it was, and
/// each signal in the set without one with a plain kernel siginfo.
pub(super) fn queue_pending(queue: &KVVec<CrSiginfo>, set: u64) -> Result<(), Failure> {
    for q in queue.iter() {
        caller::queue_signal(q).or_fail(Reason::Image)?;
    }
    for sig in 1..=64u32 {
        let bit = 1u64 << (sig - 1);
        if set & bit != 0
            && !queue.iter().any(|q| q.signo == sig)
            && sig != kernel::bindings::SIGKILL
        {
            caller::raise(sig).or_fail(Reason::Image)?;
        }
    }
    Ok(())
}

/// A PAGES record read into the new mappings, and the check value its bytes
/// must give.
struct RecordCheck {
    /// Its pages (released once hashed).
    pages: sys::mm::PageBatch,
    /// The hash of its header and head.
    hash: sys::Hash,
    at: u64,
    check: u32,
    /// The result.
    ok: bool,
}

impl Prepare for RecordCheck {
    fn prepare(&mut self) {
        for i in 0..self.pages.len() {
            self.hash.update_page(&self.pages, i);
        }
        self.ok = self.hash.check() == self.check;
        self.pages.clear();
    }
}

/// Records being checked: at most one, the last read.
struct Checks {
    pending: Option<Arc<Ahead<RecordCheck>>>,
    /// An emptied batch, for the next record's pages.
    spare: Option<sys::mm::PageBatch>,
}

impl Checks {
    /// An empty batch with room for a record.
    fn batch(&mut self) -> Result<sys::mm::PageBatch> {
        match self.spare.take() {
            Some(b) => Ok(b),
            None => sys::mm::PageBatch::with_capacity(sys::mm::CHUNK_PAGES),
        }
    }

    /// Waits for the pending record's check; fails if its bytes do not match.
    fn settle(&mut self) -> Result<(), Failure> {
        let Some(job) = self.pending.take() else {
            return Ok(());
        };
        let mut r = job.get();
        self.spare = Some(core::mem::replace(&mut r.pages, sys::mm::PageBatch::new()));
        if r.ok {
            Ok(())
        } else {
            Err(image_failure(Checker::damaged(r.at, CR_REC_PAGES)))
        }
    }
}

/// Streams the PAGES records into the new mappings, then checks the trailer.
/// A damaged record is reported before anything found after it (a read
/// error, the trailer's counts), as if it had been checked at once.
#[inline(never)]
fn read_pages(plan: &mut Plan, input: &InFile) -> Result<(), Failure> {
    let mut checks = Checks {
        pending: None,
        spare: None,
    };
    let streamed = stream_pages(plan, input, &mut checks);
    checks.settle().and(streamed)
}

fn stream_pages(plan: &mut Plan, input: &InFile, checks: &mut Checks) -> Result<(), Failure> {
    /// The range a huge page maps.
    const HUGE: usize = 2 << 20;
    let thp_allowed = plan.process.flags & uapi::CR_PROCESS_THP_DISABLE == 0;
    // Whether THP is allowed now (`rebuild` paused it).
    let mut huge = false;
    let mut rec = plan.next;
    let mut at = plan.next_at;
    let mut pos = at + 16;
    // A read's outcome: the image ends early, a signal, or the file's error.
    let outcome = |r: Result<bool>, at: u64| -> Result<(), Failure> {
        match r {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::at(ENODATA, Reason::Image, at)),
            Err(e) if e == EINTR => Err(Failure::new(EINTR, Reason::Interrupted)),
            Err(e) => Err(Failure::at(e, Reason::Image, at)),
        }
    };
    let read = |buf: &mut [u8], at: u64| outcome(input.read_exact(buf), at);
    let read_into = |batch: &sys::mm::PageBatch, at: u64| outcome(input.read_pages(batch), at);
    loop {
        let mut hdr = rec;
        hdr.check = 0;
        let mut h = sys::Hash::new();
        h.update(as_bytes(&hdr));
        if rec.r#type == CR_REC_TRAILER {
            let mut t = [0u8; core::mem::size_of::<CrTrailer>()];
            read(&mut t, at)?;
            h.update(&t);
            let ck = &mut plan.checker;
            ck.sealed(h.check() == rec.check).map_err(image_failure)?;
            let trailer: CrTrailer =
                from_bytes(&t).ok_or_else(|| Failure::new(EINVAL, Reason::Image))?;
            ck.trailer(&trailer, plan.chain.check())
                .map_err(image_failure)?;
            return Ok(());
        }
        // A PAGES record: its head, then its data into the mapping.
        let mut head = [0u8; 16];
        read(&mut head, at)?;
        h.update(&head);
        let run: CrPages = from_bytes(&head).ok_or_else(|| Failure::new(EINVAL, Reason::Image))?;
        let end = run
            .addr
            .saturating_add(run.count.saturating_mul(PAGE_SIZE as u64));
        // Pages belong to private memory only: a shared file's pages are the
        // file's, and a checkpoint never saves them.
        let area = plan
            .areas
            .iter()
            .find(|a| a.vma.start <= run.addr && end <= a.vma.end && Checker::holds_pages(&a.vma));
        plan.checker
            .pages(&run, area.is_some())
            .map_err(image_failure)?;
        // Pages written where the process may not write are marked dirty.
        let read_only = area.is_some_and(|a| a.vma.prot & mman::PROT_WRITE == 0);
        // The data lands in the new mapping's own pages (faulted in, as the
        // process's first touch would) and is checked there: nothing runs in
        // this memory before the whole image has been checked.
        let fault = |e: Error| {
            // A fault fails while the process is being killed.
            if caller::dying() {
                Failure::new(EINTR, Reason::Interrupted)
            } else {
                Failure::at(e, Reason::None, at)
            }
        };
        // A piece at a time, each up to the next 2 MiB boundary (a huge page
        // may hold a piece that is a whole 2 MiB range, unless the image's
        // process turned THP off). A record of one piece (every one a
        // checkpoint writes) is hashed on another CPU while the next record
        // is read; a longer one is hashed here, piece by piece.
        let (start, end) = (run.addr as usize, end as usize);
        let mut addr = start;
        let mut batch = checks.batch()?;
        loop {
            let piece_end = end.min((addr / HUGE + 1) * HUGE);
            let whole = thp_allowed && piece_end - addr == HUGE;
            if whole != huge {
                caller::set_thp_paused(!whole);
                huge = whole;
            }
            batch
                .get_own(addr, (piece_end - addr) / PAGE_SIZE)
                .map_err(fault)?;
            read_into(&batch, at)?;
            if read_only {
                batch.mark_dirty();
            }
            if addr == start && piece_end == end {
                let check = RecordCheck {
                    pages: batch,
                    hash: h,
                    at,
                    check: rec.check,
                    ok: false,
                };
                let job = Ahead::start(check, true)?;
                checks.settle()?;
                checks.pending = Some(job);
                // Counted now, checked by `checks`.
                plan.checker.sealed(true).map_err(image_failure)?;
                break;
            }
            for i in 0..batch.len() {
                h.update_page(&batch, i);
            }
            batch.clear();
            addr = piece_end;
            if addr == end {
                checks.spare = Some(batch);
                plan.checker
                    .sealed(h.check() == rec.check)
                    .map_err(image_failure)?;
                break;
            }
        }
        plan.chain.update(&rec.check.to_le_bytes());
        pos += rec.size;

        // The next record's header.
        at = pos;
        let mut next = [0u8; 16];
        read(&mut next, at)?;
        rec = from_bytes(&next).ok_or_else(|| Failure::new(EINVAL, Reason::Image))?;
        plan.checker.record(&rec, at).map_err(image_failure)?;
        pos += 16;
    }
}
