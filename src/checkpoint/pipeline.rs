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
//! prepared by the checkpoint itself (`crate::ahead`); the first batch is
//! never handed over (a small process, one batch, pays no queueing). The
//! target is frozen: its pages do not change, and the references keep them.

use core::ops::Range;

use kernel::{page::PAGE_SIZE, prelude::*, sync::Arc};

use crate::{
    ahead::{Ahead, Prepare},
    error::Failure,
    image::ImageWriter,
    sys::mm::{AddressSpace, PageBatch},
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

/// Batches on their way to the image, at most one being prepared ahead.
pub(super) struct Pipeline {
    /// The batch being prepared, to be written next.
    pending: Option<Arc<Ahead<Batch>>>,
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
        // Started at once only when a batch is to be written before it (else
        // nothing would overlap it): the first batch is prepared when its
        // turn to be written comes.
        let job = Ahead::start(batch, self.pending.is_some())?;
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
    fn write(&mut self, job: &Ahead<Batch>, w: &mut ImageWriter<'_>) -> Result<(), Failure> {
        let mut b = job.get();
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
            let mut b = job.abandon();
            b.space = None;
            b.pages.clear();
        }
    }
}
