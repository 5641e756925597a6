// SPDX-License-Identifier: GPL-2.0

//! Pages hashed on another CPU while the batch before them is written.
//!
//! Writing a batch of pages to the image (the copy into the file or pipe) and
//! computing its records' check values (XXH64 over every byte) are the two
//! costs of a checkpoint's page stream. A batch's check values are needed
//! before its first byte is written (they are in the record headers), so the
//! hash of batch `k + 1` runs on a worker (another CPU) while batch
//! `k` is written: the checkpoint runs at the speed of the write alone when a
//! second CPU is free, and no slower than hashing inline when none is.
//!
//! A batch a worker has not started on when its turn to be written comes is
//! hashed by the checkpoint itself, so a busy or slow-to-wake second CPU
//! never makes the checkpoint wait; the first batch is never queued (a small
//! process, one batch, is hashed inline with no queueing). The pages are the frozen process's own, with a reference held on
//! each: they do not change while it is frozen, and the batch outlives every
//! use. The module's own workqueue runs the workers: unloading drains it.

use core::ops::Range;

use kernel::{
    new_mutex,
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
    sys::{self, mm::PageBatch},
};

use super::{output_failure, write::BATCH};

/// One PAGES record of a batch: pages `range`, the first at `addr`.
pub(super) struct Span {
    pub(super) addr: usize,
    pub(super) range: Range<usize>,
    /// Its check value, once hashed.
    check: u32,
}

impl Span {
    pub(super) fn new(addr: usize, range: Range<usize>) -> Span {
        Span {
            addr,
            range,
            check: 0,
        }
    }
}

/// A batch and its records.
struct Batch {
    pages: PageBatch,
    spans: KVec<Span>,
}

/// The hashing of one batch: by a worker, or by the pipeline itself if it
/// needs the check values before a worker has started on them.
///
/// # Invariants
///
/// Whoever sets `claimed` first hashes the batch (the other does not touch
/// it). When a worker has, `hashed` is completed once it is done.
#[pin_data]
struct HashJob {
    #[pin]
    work: Work<HashJob>,
    claimed: AtomicFlag,
    #[pin]
    hashed: Completion,
    #[pin]
    batch: Mutex<Batch>,
}

impl_has_work! {
    impl HasWork<Self> for HashJob { self.work }
}

impl WorkItem for HashJob {
    type Pointer = Arc<HashJob>;

    fn run(this: Arc<HashJob>) {
        if this.claimed.xchg(true, Full) {
            // The pipeline hashed it (the invariant).
            return;
        }
        this.hash();
        this.hashed.complete_all();
    }
}

impl HashJob {
    /// Computes the check value of every span.
    fn hash(&self) {
        let mut b = self.batch.lock();
        let Batch { pages, spans } = &mut *b;
        for s in spans.iter_mut() {
            s.check = ImageWriter::pages_check(s.addr, pages, s.range.clone());
        }
    }

    /// Returns once the batch is hashed: by the caller if no worker has
    /// started on it, else by the worker.
    fn wait_hashed(&self) {
        if self.claimed.xchg(true, Full) {
            self.hashed.wait_for_completion();
        } else {
            self.hash();
        }
    }
}

/// Batches on their way to the image, at most one being hashed.
pub(super) struct Pipeline {
    /// The batch being hashed, to be written next.
    pending: Option<Arc<HashJob>>,
    /// An emptied batch, to take the next pages.
    spare: Option<PageBatch>,
}

impl Pipeline {
    pub(super) fn new() -> Pipeline {
        Pipeline {
            pending: None,
            spare: None,
        }
    }

    /// An empty batch with room for [`BATCH`] pages.
    pub(super) fn batch(&mut self) -> Result<PageBatch> {
        match self.spare.take() {
            Some(b) => Ok(b),
            None => PageBatch::with_capacity(BATCH),
        }
    }

    /// Gives back a batch that took no pages.
    pub(super) fn unused(&mut self, mut pages: PageBatch) {
        pages.clear();
        self.spare = Some(pages);
    }

    /// Has `pages` hashed for `spans`, its records, and writes the batch
    /// handed over before this one.
    pub(super) fn push(
        &mut self,
        pages: PageBatch,
        spans: KVec<Span>,
        w: &mut ImageWriter<'_>,
    ) -> Result<(), Failure> {
        let job = Arc::pin_init(
            pin_init!(HashJob {
                work <- new_work!("cr::checkpoint::HashJob"),
                claimed: AtomicFlag::new(false),
                hashed <- Completion::new(),
                batch <- new_mutex!(Batch { pages, spans }),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // Queued only when a batch is to be written before it (else nothing
        // would overlap its hash: a process of one batch costs no queueing).
        // Unqueued (the first batch, no workqueue, or refused, which a new job
        // never is), it is hashed here when its turn to be written comes.
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

    /// Writes `job`'s records once they are hashed, and keeps its emptied
    /// batch for the next pages.
    fn write(&mut self, job: &HashJob, w: &mut ImageWriter<'_>) -> Result<(), Failure> {
        job.wait_hashed();
        let mut b = job.batch.lock();
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
        // A checkpoint that fails with a batch being hashed returns only once
        // a worker is done with it (a worker that has not started never will).
        if let Some(job) = self.pending.take() {
            if job.claimed.xchg(true, Full) {
                job.hashed.wait_for_completion();
            }
        }
    }
}
