// SPDX-License-Identifier: GPL-2.0

//! The freezer: stops every thread of a process at a consistent point, has
//! each save its own registers and FPU state, and lets them all go again.
//!
//! A thread is asked to stop with a task_work queued with `TWA_SIGNAL`: like a
//! signal, it interrupts an interruptible sleep and runs at the thread's next
//! return to user space, inside `get_signal()` and before the syscall-restart
//! fix-up. There the thread saves its state (the live FPU registers included,
//! so no check that it is off-CPU is needed) and parks on a [`Gate`] that only
//! a thaw or a fatal signal opens. When it returns, `get_signal()` goes on as
//! after any signal that needs no handler: an interrupted `read`, `nanosleep`
//! (with its remaining time), `futex` or `poll` restarts, and no stop is
//! reported to the parent. This is the cgroup freezer's mechanism (it parks
//! tasks from `get_signal()` too) without moving the target into a cgroup.
//!
//! Documentation/design.rst discusses the choice.

use kernel::{
    new_condvar, new_mutex, new_spinlock,
    prelude::*,
    sync::{aref::ARef, Arc, CondVar, Mutex, SpinLock},
    task::Task,
    time::msecs_to_jiffies,
};

use crate::{
    deputy::{self, Deputy},
    resume,
    sys::{
        self,
        gate::Gate,
        task::{self as systask, Process, TaskWork, WorkEnd, WorkHead},
    },
    uapi::CrThread,
};

/// How far the threads of a freeze have come.
///
/// # Invariants
///
/// Each thread of the freeze counts at most once in `parked` + `exited`, or
/// records its error in `failed` (the first one is kept): so `parked +
/// exited <= stops.len()` of the [`Frozen`]. `killed` counts only threads
/// that were parked. `released` never goes back to false, and a work that
/// runs once it is set changes nothing.
struct Counts {
    /// Threads that saved their state and wait at the gate.
    parked: usize,
    /// Threads that ran their work while exiting: gone, nothing saved.
    exited: usize,
    /// Threads that left the gate on a fatal signal before the thaw.
    killed: usize,
    /// The first error a thread met saving its state.
    failed: Option<Error>,
    /// The gate is open: works that run from now on do nothing.
    released: bool,
    /// Set before the gate opens when the process leaves a deputy: its main
    /// thread serves it, the others exit.
    deputy: Option<Arc<Deputy>>,
}

/// What a freeze and its threads share.
#[pin_data]
struct Shared {
    /// Updated by the threads, read by the freezer. A spinlock: held briefly,
    /// never across a sleep.
    #[pin]
    counts: SpinLock<Counts>,
    /// Signalled whenever `counts` changes.
    #[pin]
    changed: CondVar,
    /// Where parked threads wait for the thaw.
    #[pin]
    release: Gate,
}

impl Shared {
    /// Changes the counts and wakes the freezer: every change of `counts`
    /// goes through here, so a waiter on `changed` never misses one (it
    /// checks the counts under the same lock before it sleeps).
    fn update(&self, f: impl FnOnce(&mut Counts)) {
        let mut c = self.counts.lock();
        f(&mut c);
        self.changed.notify_all();
    }
}

/// What a thread saved about itself.
pub(crate) struct Saved {
    /// Whether `thread` and `xstate` hold the thread's state.
    pub(crate) valid: bool,
    /// Its registers and signal settings (the caller fills the ids).
    pub(crate) thread: CrThread,
    /// Its xsave state.
    pub(crate) xstate: KVec<u8>,
    /// Whether it has System V semaphore undo entries (not in the image: a
    /// checkpoint refuses them).
    pub(crate) sem_undo: bool,
}

/// One thread's stop request, shared by the queued task_work and the freezer.
///
/// Lifetime: an `Arc`; the queued work owns one reference until it has run,
/// so the work head stays valid however long the thread takes.
#[pin_data]
pub(crate) struct ThreadStop {
    #[pin]
    pub(crate) work: WorkHead,
    shared: Arc<Shared>,
    /// The thread.
    pub(crate) task: ARef<Task>,
    /// Written by the thread while it stops, read by the freezer once the
    /// thread is parked. The thread writes it before it counts itself parked
    /// (under `counts`' lock), and the freezer reads it only after it saw the
    /// count, so the mutex is never contended: it is what lets both sides
    /// reach it from safe code.
    #[pin]
    pub(crate) saved: Mutex<Saved>,
}

// SAFETY: `from_head` is `container_of` of the `work` field `head` returns.
unsafe impl TaskWork for ThreadStop {
    fn head(&self) -> &WorkHead {
        &self.work
    }

    unsafe fn from_head(head: *const WorkHead) -> *const Self {
        // SAFETY: Per the contract, `head` is the `work` of a live
        // `ThreadStop`.
        unsafe { kernel::container_of!(head, ThreadStop, work) }
    }

    /// Runs in the thread itself (task_work): save, park, wait for the thaw
    /// (or become or make way for a deputy).
    fn run(this: Arc<ThreadStop>) -> WorkEnd {
        let shared = &this.shared;
        if systask::current_exiting() {
            shared.update(|c| c.exited += 1);
            return WorkEnd::Return;
        }
        if shared.counts.lock().released {
            return WorkEnd::Return;
        }
        let saved = {
            let mut s = this.saved.lock();
            let s = &mut *s;
            let r = systask::capture_current(&mut s.thread, &mut s.xstate);
            if r.is_ok() {
                resume::record(&mut s.thread);
            }
            s.valid = r.is_ok();
            s.sem_undo = systask::current_has_sem_undo();
            r
        };
        match saved {
            Ok(()) => shared.update(|c| c.parked += 1),
            Err(e) => {
                shared.update(|c| {
                    c.failed.get_or_insert(e);
                });
                return WorkEnd::Return;
            }
        }
        if shared.release.wait_killable().is_err() {
            // A fatal signal: the thread dies on its way out. Say so unless
            // the thaw had already come.
            shared.update(|c| {
                if !c.released {
                    c.killed += 1;
                }
            });
            return WorkEnd::Return;
        }
        let Some(d) = shared.counts.lock().deputy.clone() else {
            return WorkEnd::Return;
        };
        if this.task.as_ptr() as usize == d.leader {
            drop(this);
            deputy::serve(&d)
        } else {
            // The thread's state went with the image; the process stays
            // with its main thread.
            WorkEnd::Exit(0)
        }
    }
}

/// OrFail a freeze failed.
pub(crate) enum FreezeError {
    /// A thread did not stop in time.
    Timeout,
    /// The caller got a signal.
    Interrupted,
    /// Every thread exited.
    Exited,
    /// Anything else.
    Other(Error),
}

impl From<Error> for FreezeError {
    fn from(e: Error) -> Self {
        FreezeError::Other(e)
    }
}

impl From<kernel::alloc::AllocError> for FreezeError {
    fn from(e: kernel::alloc::AllocError) -> Self {
        FreezeError::Other(e.into())
    }
}

/// A frozen process. Dropping it thaws the process.
///
/// # Invariants
///
/// Every thread of `stops` has saved its state (`saved.valid`) and waits at
/// `shared.release` (or has left it on a fatal signal, and dies), or exited
/// without saving: no thread of the process runs user code while this lives. Dropping it sets `released` before it opens
/// the gate, so no thread parks after the thaw.
pub(crate) struct Frozen {
    shared: Arc<Shared>,
    /// One per thread, the leader first; some may have exited.
    pub(crate) stops: KVVec<Arc<ThreadStop>>,
    /// When the first thread was asked to stop (`sys::now_ns`).
    pub(crate) since: u64,
}

impl Frozen {
    /// Lets the threads go, to leave `deputy` in place of the process: its
    /// main thread serves it, the others exit. `ESRCH` (and the process
    /// thawed) if the main thread did not stop with the others.
    pub(crate) fn leave_deputy(self, deputy: Arc<Deputy>) -> Result {
        let leader = self
            .stops
            .first()
            .filter(|s| s.task.as_ptr() as usize == deputy.leader && s.saved.lock().valid);
        if leader.is_none() {
            return Err(ESRCH);
        }
        self.shared.update(|c| c.deputy = Some(deputy));
        drop(self);
        Ok(())
    }

    /// Threads that died from a fatal signal while frozen.
    pub(crate) fn killed(&self) -> usize {
        self.shared.counts.lock().killed
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.shared.update(|c| c.released = true);
        self.shared.release.open();
    }
}

/// Stops every thread of `process` and has each save its state. A thread that
/// does not stop within `timeout_ms` fails the freeze and thaws the rest.
///
/// Threads created meanwhile are caught: once every known thread is parked
/// (and so cannot clone), the thread list is read again until it holds no new
/// thread.
pub(crate) fn freeze(process: &Process, timeout_ms: u32) -> Result<Frozen, FreezeError> {
    let shared = Arc::pin_init(
        pin_init!(Shared {
            counts <- new_spinlock!(Counts {
                parked: 0,
                exited: 0,
                killed: 0,
                failed: None,
                released: false,
                deputy: None,
            }),
            changed <- new_condvar!(),
            release <- Gate::new(),
        }),
        GFP_KERNEL_ACCOUNT,
    )?;
    let xstate_size = systask::xstate_size();
    let since = sys::now_ns();
    let deadline = since.saturating_add(u64::from(timeout_ms) * 1_000_000);
    let mut frozen = Frozen {
        shared: shared.clone(),
        stops: KVVec::new(),
        since,
    };

    loop {
        let mut asked = 0usize;
        for t in process.threads()? {
            if frozen.stops.iter().any(|s| s.task.as_ptr() == t.as_ptr()) {
                continue;
            }
            let mut xstate = KVec::with_capacity(xstate_size, GFP_KERNEL_ACCOUNT)?;
            xstate.resize(xstate_size, 0, GFP_KERNEL_ACCOUNT)?;
            let owner = shared.clone();
            let stop = Arc::pin_init(
                pin_init!(ThreadStop {
                    work: WorkHead::new(),
                    shared: owner,
                    task: t,
                    saved <- new_mutex!(Saved { valid: false, thread: CrThread::default(), xstate, sem_undo: false }),
                }),
                GFP_KERNEL_ACCOUNT,
            )?;
            frozen.stops.push(stop.clone(), GFP_KERNEL_ACCOUNT)?;
            match systask::queue_work(&stop.task, stop.clone()) {
                Ok(()) => asked += 1,
                // Past running task works: it is exiting and saves nothing.
                Err(e) if e == ESRCH => shared.update(|c| c.exited += 1),
                Err(e) => return Err(e.into()),
            }
        }
        if asked == 0 {
            break;
        }
        let mut c = shared.counts.lock();
        while c.parked + c.exited < frozen.stops.len() && c.failed.is_none() {
            let now = sys::now_ns();
            if now >= deadline {
                return Err(FreezeError::Timeout);
            }
            let ms = ((deadline - now) / 1_000_000).clamp(1, u64::from(u32::MAX)) as u32;
            match shared
                .changed
                .wait_interruptible_timeout(&mut c, msecs_to_jiffies(ms))
            {
                kernel::sync::CondVarTimeoutResult::Signal { .. } => {
                    return Err(FreezeError::Interrupted)
                }
                kernel::sync::CondVarTimeoutResult::Timeout => return Err(FreezeError::Timeout),
                kernel::sync::CondVarTimeoutResult::Woken { .. } => {}
            }
        }
        if let Some(e) = c.failed {
            return Err(FreezeError::Other(e));
        }
        if c.exited == frozen.stops.len() {
            return Err(FreezeError::Exited);
        }
    }
    Ok(frozen)
}
