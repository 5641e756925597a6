// SPDX-License-Identifier: GPL-2.0

//! Pages taken and hashed on another CPU while the batch before them is
//! written.
//!
//! A checkpoint's page stream has three costs: taking the pages (GUP, under
//! the target's mmap lock), computing their records' check values (XXH64 over
//! every byte) and writing them (the copy into the file or pipe). A batch's
//! check values are needed before its first byte is written (they are in the
//! record headers), so batch `k + 1` is taken and hashed by a worker (another
//! CPU) while batch `k` is written: the checkpoint runs at the speed of the
//! write alone when a second CPU is free.
//!
//! A batch no worker has started on when its turn to be written comes is
//! prepared by the checkpoint itself (`crate::ahead`). The first batch is
//! handed over before the records that come before the pages are written,
//! so it is prepared while they are. The target is frozen: its pages do not
//! change, and the references keep them.

use core::ops::Range;

use kernel::{page::PAGE_SIZE, prelude::*, sync::Arc};

use crate::{
    ahead::{Ahead, Prepare},
    error::Failure,
    image::ImageWriter,
    sys::mm::{AddressSpace, PageBatch},
};

use super::{
    output_failure,
    write::{Run, Runs, BATCH},
};

/// One PAGES record of a batch: pages `range`, the first at `addr`.
struct Span {
    addr: usize,
    range: Range<usize>,
    check: u32,
}

/// What a batch asks for, and what preparing it found.
struct Batch {
    /// The target's memory (a reference of the batch's own); dropped once
    /// the batch is prepared.
    space: Option<AddressSpace>,
    /// The runs of candidate pages, `count` pages in all (at most
    /// [`BATCH`]).
    runs: KVec<Run>,
    count: usize,
    pages: PageBatch,
    spans: KVec<Span>,
    /// Why the batch could not be prepared.
    failed: Option<Error>,
}

impl Batch {
    fn take_pages(&mut self, space: &AddressSpace) -> Result {
        for i in 0..self.runs.len() {
            let run = self.runs[i];
            self.take_run(space, run)?;
        }
        Ok(())
    }

    /// Takes the pages of `run` that exist; whether only anonymous ones are
    /// kept is the run's (a private file mapping keeps its copies made on
    /// write).
    fn take_run(&mut self, space: &AddressSpace, run: Run) -> Result {
        let (mut addr, mut left, anon_only) = (run.addr, run.count, run.anon_only);
        while left > 0 {
            let first = self.pages.len();
            let got = space.read().get_pages(addr, left, &mut self.pages)?;
            if got == 0 {
                // No page here (or the zero page): nothing to save.
                addr += PAGE_SIZE;
                left -= 1;
                continue;
            }
            // Runs of pages to keep, each one PAGES record.
            let mut k = first;
            let end = first + got;
            while k < end {
                if anon_only && !self.pages.is_anon(k) {
                    k += 1;
                    continue;
                }
                let mut e = k;
                while e < end && (!anon_only || self.pages.is_anon(e)) {
                    e += 1;
                }
                let span = Span {
                    addr: addr + (k - first) * PAGE_SIZE,
                    range: k..e,
                    check: 0,
                };
                self.spans.push(span, GFP_KERNEL_ACCOUNT)?;
                k = e;
            }
            addr += got * PAGE_SIZE;
            left -= got;
        }
        Ok(())
    }
}

impl Prepare for Batch {
    /// Takes the pages that exist among the candidates, splits them into
    /// records and hashes each.
    fn prepare(&mut self) {
        if let Some(space) = self.space.take() {
            if let Err(e) = self.take_pages(&space) {
                self.failed = Some(e);
                return;
            }
        }
        for s in self.spans.iter_mut() {
            s.check = ImageWriter::pages_check(s.addr, &self.pages, s.range.clone());
        }
    }
}

/// Batches on their way to the image, each being prepared (taken and hashed)
/// by a worker from when it is asked for until its turn to be written.
///
/// # Invariants
///
/// The batches in `queue` hold at most `2 * BATCH` candidate pages (those
/// it references): a batch (at most [`BATCH`]) is asked for only when the
/// ones before it hold at most [`BATCH`].
pub(super) struct Pipeline<'a> {
    space: &'a AddressSpace,
    /// The batches asked for, oldest first.
    queue: KVec<Arc<Ahead<Batch>>>,
    /// The candidate pages of the batches in `queue`.
    queued: usize,
    /// An emptied page batch, to take the next pages.
    spare: Option<PageBatch>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(space: &'a AddressSpace) -> Pipeline<'a> {
        Pipeline {
            space,
            queue: KVec::new(),
            queued: 0,
            spare: None,
        }
    }

    /// Asks for the first half batch of `runs` (a run of more is cut there,
    /// unless it is one huge page), to be prepared while the records that
    /// come before the pages are written: when they are done, the first
    /// pages are ready, and the next are prepared while those are written.
    /// Writes nothing. (Not inlined, as [`Self::stream`].)
    #[inline(never)]
    pub(super) fn prime(&mut self, runs: &mut Runs<'_>) -> Result<(), Failure> {
        self.ask(runs, BATCH / 2)?;
        Ok(())
    }

    /// Asks for the rest of `runs`, a batch at a time while the ones before
    /// it are written, and writes them all. (Not inlined: its frame stays off
    /// the checkpoint's, which holds the records.)
    #[inline(never)]
    pub(super) fn stream(
        &mut self,
        runs: &mut Runs<'_>,
        w: &mut ImageWriter<'_>,
    ) -> Result<(), Failure> {
        loop {
            while self.queued > BATCH {
                self.write_first(w)?;
            }
            if !self.ask(runs, BATCH)? {
                break;
            }
        }
        while !self.queue.is_empty() {
            self.write_first(w)?;
        }
        Ok(())
    }

    /// Has the next runs of `runs`, up to `budget` candidate pages (at most
    /// [`BATCH`]; more for a first run that is one huge page), taken and
    /// hashed by a worker. False when no run is left.
    fn ask(&mut self, runs: &mut Runs<'_>, budget: usize) -> Result<bool, Failure> {
        let mut picked = KVec::new();
        let mut count = 0;
        while count < budget {
            let Some(run) = runs.next(budget - count) else {
                break;
            };
            if count > 0 && count + run.count > budget {
                // One huge page, left whole for the next batch.
                runs.put_back(run);
                break;
            }
            count += run.count;
            picked.push(run, GFP_KERNEL_ACCOUNT)?;
        }
        if picked.is_empty() {
            return Ok(false);
        }
        let pages = match self.spare.take() {
            Some(b) => b,
            None => PageBatch::with_capacity(BATCH)?,
        };
        let batch = Batch {
            space: Some(self.space.clone()),
            runs: picked,
            count,
            pages,
            spans: KVec::new(),
            failed: None,
        };
        self.queue.reserve(1, GFP_KERNEL_ACCOUNT)?;
        let job = Ahead::start(batch, true)?;
        // INVARIANT: asked for with at most `BATCH` pages before it.
        self.queue.push(job, GFP_KERNEL_ACCOUNT)?;
        self.queued += count;
        Ok(true)
    }

    /// Writes the oldest batch's records once it is prepared, and keeps its
    /// emptied page batch for the next pages.
    fn write_first(&mut self, w: &mut ImageWriter<'_>) -> Result<(), Failure> {
        let Ok(job) = self.queue.remove(0) else {
            return Ok(());
        };
        let mut b = job.get();
        self.queued -= b.count;
        if let Some(e) = b.failed {
            return Err(e.into());
        }
        for s in b.spans.iter() {
            w.pages_record(s.addr, &b.pages, s.range.clone(), s.check)
                .map_err(output_failure)?;
        }
        let mut pages = core::mem::replace(&mut b.pages, PageBatch::new());
        pages.clear();
        self.spare = Some(pages);
        Ok(())
    }
}

impl Drop for Pipeline<'_> {
    fn drop(&mut self) {
        // A checkpoint that fails with batches asked for returns only once no
        // worker is on them; one no worker has started on never will be
        // started (the claim), and its pages and memory reference go now.
        for job in self.queue.drain_all() {
            let mut b = job.abandon();
            b.space = None;
            b.pages.clear();
        }
    }
}
