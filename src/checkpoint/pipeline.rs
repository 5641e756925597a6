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
//! Whoever claims a batch first prepares it: one no worker has started on
//! when its turn to be written comes is prepared by the checkpoint itself, so
//! a busy or slow-to-wake second CPU never makes the checkpoint wait longer
//! than doing it inline would; the first batch is never queued (a small
//! process, one batch, pays no queueing). The target is frozen: its pages do
//! not change, and the references keep them. The module's own workqueue runs
//! the workers, and unloading drains it.

use core::ops::Range;

use kernel::{
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        atomic::{AtomicFlag, Full},
        Arc, Completion, Mutex,
    },
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

use crate::{
    error::Failure,
    image::ImageWriter,
    sys::{
        self,
        mm::{AddressSpace, PageBatch},
    },
};

use super::{output_failure, write::BATCH};

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
    /// The candidate pages: `count` from `addr`, and whether only anonymous
    /// ones are kept (a private file mapping keeps its copies made on write).
    addr: usize,
    count: usize,
    anon_only: bool,
    pages: PageBatch,
    spans: KVec<Span>,
    /// Why the batch could not be prepared.
    failed: Option<Error>,
}

impl Batch {
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

    fn take_pages(&mut self, space: &AddressSpace) -> Result {
        let (mut addr, mut left) = (self.addr, self.count);
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
                if self.anon_only && !self.pages.is_anon(k) {
                    k += 1;
                    continue;
                }
                let mut e = k;
                while e < end && (!self.anon_only || self.pages.is_anon(e)) {
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

/// The preparing of one batch: by a worker, or by the pipeline itself if it
/// needs the batch before a worker has started on it.
///
/// # Invariants
///
/// Whoever sets `claimed` first prepares the batch (the other does not touch
/// it). When a worker has, `prepared` is completed once it is done.
#[pin_data]
struct BatchJob {
    #[pin]
    work: Work<BatchJob>,
    claimed: AtomicFlag,
    #[pin]
    prepared: Completion,
    #[pin]
    batch: Mutex<Batch>,
}

impl_has_work! {
    impl HasWork<Self> for BatchJob { self.work }
}

impl WorkItem for BatchJob {
    type Pointer = Arc<BatchJob>;

    fn run(this: Arc<BatchJob>) {
        if this.claimed.xchg(true, Full) {
            // The pipeline prepared it (the invariant).
            return;
        }
        this.batch.lock().prepare();
        this.prepared.complete_all();
    }
}

impl BatchJob {
    /// Returns once the batch is prepared: by the caller if no worker has
    /// started on it, else by the worker.
    fn wait_prepared(&self) {
        if self.claimed.xchg(true, Full) {
            self.prepared.wait_for_completion();
        } else {
            self.batch.lock().prepare();
        }
    }
}

/// Batches on their way to the image, at most one being prepared ahead.
pub(super) struct Pipeline {
    /// The batch being prepared, to be written next.
    pending: Option<Arc<BatchJob>>,
    /// An emptied page batch, to take the next pages.
    spare: Option<PageBatch>,
}

impl Pipeline {
    pub(super) fn new() -> Pipeline {
        Pipeline {
            pending: None,
            spare: None,
        }
    }

    /// Has the existing pages among the `count` (at most [`BATCH`]) candidate
    /// pages at `addr` taken and hashed, and writes the batch asked for
    /// before this one.
    pub(super) fn push(
        &mut self,
        space: &AddressSpace,
        addr: usize,
        count: usize,
        anon_only: bool,
        w: &mut ImageWriter<'_>,
    ) -> Result<(), Failure> {
        let pages = match self.spare.take() {
            Some(b) => b,
            None => PageBatch::with_capacity(BATCH)?,
        };
        let batch = Batch {
            space: Some(space.clone()),
            addr,
            count: count.min(BATCH),
            anon_only,
            pages,
            spans: KVec::new(),
            failed: None,
        };
        let job = Arc::pin_init(
            pin_init!(BatchJob {
                work <- new_work!("cr::checkpoint::BatchJob"),
                claimed: AtomicFlag::new(false),
                prepared <- Completion::new(),
                batch <- new_mutex!(batch),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // Queued only when a batch is to be written before it (else nothing
        // would overlap it). Unqueued (the first batch, no workqueue, or
        // refused, which a new job never is), it is prepared here when its
        // turn to be written comes.
        if let (Some(queue), Some(_)) = (sys::workqueue(), &self.pending) {
            let _ = queue.enqueue(job.clone());
        }
        match self.pending.replace(job) {
            Some(before) => self.write(&before, w),
            None => Ok(()),
        }
    }

    /// Writes the last batch.
    pub(super) fn finish(&mut self, w: &mut ImageWriter<'_>) -> Result<(), Failure> {
        match self.pending.take() {
            Some(last) => self.write(&last, w),
            None => Ok(()),
        }
    }

    /// Writes `job`'s records once it is prepared, and keeps its emptied page
    /// batch for the next pages.
    fn write(&mut self, job: &BatchJob, w: &mut ImageWriter<'_>) -> Result<(), Failure> {
        job.wait_prepared();
        let mut b = job.batch.lock();
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

impl Drop for Pipeline {
    fn drop(&mut self) {
        // A checkpoint that fails with a batch ahead returns only once a
        // worker is done with it; one no worker has started on never will be
        // started (the claim), and its pages and memory reference go now.
        if let Some(job) = self.pending.take() {
            if job.claimed.xchg(true, Full) {
                job.prepared.wait_for_completion();
            }
            let mut b = job.batch.lock();
            b.space = None;
            b.pages.clear();
        }
    }
}
