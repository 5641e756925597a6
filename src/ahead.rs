// SPDX-License-Identifier: GPL-2.0

//! Work done ahead on another CPU, or inline by whoever needs it first.
//!
//! A checkpoint takes and hashes its next batch of pages while it writes the
//! current one; a restore hashes the record it has just read while it reads
//! the next. Either hands the work to a worker (the module's own unbound
//! workqueue) and asks for the result later: if no worker has started on it
//! by then, the asker does it itself, so a busy or slow-to-wake second CPU
//! never makes it wait longer than doing the work inline would.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{AtomicFlag, Full},
        lock::mutex::MutexGuard,
        Arc, Completion, Mutex,
    },
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

use crate::sys;

/// Work that may be done on any CPU.
pub(crate) trait Prepare: Send + Unpin + 'static {
    /// Does the work (once).
    fn prepare(&mut self);
}

/// `T`'s work, done by a worker or by the first to ask for the result.
///
/// # Invariants
///
/// Whoever sets `claimed` first prepares `data` (the other does not touch
/// it). When a worker has, `done` is completed once it has.
#[pin_data]
pub(crate) struct Ahead<T: Prepare> {
    #[pin]
    work: Work<Ahead<T>>,
    claimed: AtomicFlag,
    #[pin]
    done: Completion,
    #[pin]
    data: Mutex<T>,
}

impl_has_work! {
    impl{T: Prepare} HasWork<Self> for Ahead<T> { self.work }
}

impl<T: Prepare> WorkItem for Ahead<T> {
    type Pointer = Arc<Ahead<T>>;

    fn run(this: Arc<Ahead<T>>) {
        if this.claimed.xchg(true, Full) {
            // The asker did it (the invariant).
            return;
        }
        this.data.lock().prepare();
        this.done.complete_all();
    }
}

impl<T: Prepare> Ahead<T> {
    /// `data`, handed to a worker when `now` is set (else done when asked
    /// for, as it is when the module has no workqueue).
    pub(crate) fn start(data: T, now: bool) -> Result<Arc<Ahead<T>>> {
        let job = Arc::pin_init(
            pin_init!(Ahead {
                work <- new_work!("cr::Ahead"),
                claimed: AtomicFlag::new(false),
                done <- Completion::new(),
                data <- new_mutex!(data),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        if let (Some(queue), true) = (sys::workqueue(), now) {
            // A new job is in no queue, so this cannot be refused; were it,
            // the work would be done when asked for.
            let _ = queue.enqueue(job.clone());
        }
        Ok(job)
    }

    /// The prepared data: prepared here if no worker has started on it.
    pub(crate) fn get(&self) -> MutexGuard<'_, T> {
        if self.claimed.xchg(true, Full) {
            self.done.wait_for_completion();
            self.data.lock()
        } else {
            let mut d = self.data.lock();
            d.prepare();
            d
        }
    }

    /// The data as it is, once no worker works on it or ever will: what a
    /// failure does with work it no longer needs.
    pub(crate) fn abandon(&self) -> MutexGuard<'_, T> {
        if self.claimed.xchg(true, Full) {
            self.done.wait_for_completion();
        }
        self.data.lock()
    }
}
