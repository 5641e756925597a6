// SPDX-License-Identifier: GPL-2.0

//! Where the threads of a restore meet.
//!
//! A multi-threaded image is restored into a caller with as many threads.
//! One of them (the leader) calls `CR_IOC_RESTORE`; every other one calls
//! `CR_IOC_RESTORE_THREAD` with its index in the image and waits here. The
//! leader enters first thing (so that any failure of its own releases the
//! others), waits until all have arrived, rebuilds the process, and then
//! hands each waiting thread its saved state. A session is found by the
//! caller's thread group, so the threads need no shared handle.
//!
//! Phases: gathering (threads arrive; one may leave on a signal), rebuilding
//! (the leader is past the point of no return; nobody leaves), go (each
//! thread takes its state) or failed (each thread gets `ECANCELED`).

use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex},
    time::{delay::fsleep, msecs_to_jiffies, Delta},
};

use crate::{
    restore::plan::Thread,
    sys::{self, caller},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Gathering,
    Rebuilding,
    Go,
    Failed,
}

/// A session's state, under `Session::inner`.
///
/// # Invariants
///
/// `leader` is true exactly while the session's [`Leader`] lives (so at most
/// one); `phase` only moves forward (`Gathering` -> `Rebuilding` -> `Go`, or
/// to `Failed` when the `Leader` is dropped before `Go`); `joined` holds
/// distinct indices, of threads waiting in [`join`]; `handout` is filled only
/// as `phase` becomes `Go`, and each entry is taken at most once.
struct Inner {
    phase: Phase,
    /// Whether the leader has entered.
    leader: bool,
    /// Indices of the threads waiting.
    joined: KVec<u32>,
    /// At `Go`: the state of thread `i` at `handout[i - 1]`, until taken.
    handout: KVVec<Option<Thread>>,
}

#[pin_data]
struct Session {
    group: usize,
    #[pin]
    inner: Mutex<Inner>,
    /// Signalled on every change of `inner`.
    #[pin]
    changed: CondVar,
}

kernel::sync::global_lock! {
    // SAFETY: Initialized by `init` in the module initializer, before /dev/cr
    // exists and so before any use.
    //
    // # Invariants
    //
    // Each entry is a session and the number of live [`Ticket`]s for it; a
    // session is listed exactly while that number is nonzero, and at most one
    // session per thread group (`Session::group`) is listed. Only `Ticket`
    // changes the list, under this lock.
    unsafe(uninit) static SESSIONS: Mutex<KVec<(Arc<Session>, usize)>> = KVec::new();
}

/// Initializes the session list; called once, at module load.
pub(crate) fn init() {
    // SAFETY: Called once, from the module initializer, before any use.
    unsafe { SESSIONS.init() };
}

/// A use of the caller's session: entering finds or makes it, dropping
/// leaves it (and frees it with its last user).
struct Ticket(Arc<Session>);

impl Ticket {
    fn enter() -> Result<Ticket> {
        let group = caller::group();
        let mut all = SESSIONS.lock();
        if let Some(entry) = all.iter_mut().find(|(s, _)| s.group == group) {
            // INVARIANT: one more ticket for the group's one session.
            entry.1 += 1;
            return Ok(Ticket(entry.0.clone()));
        }
        let session = Arc::pin_init(
            pin_init!(Session {
                group,
                inner <- new_mutex!(Inner {
                    phase: Phase::Gathering,
                    leader: false,
                    joined: KVec::new(),
                    handout: KVVec::new(),
                }),
                changed <- new_condvar!(),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // INVARIANT: the group had no session (looked for under the same
        // lock); this one is listed with its one ticket.
        all.push((session.clone(), 1), GFP_KERNEL_ACCOUNT)?;
        Ok(Ticket(session))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut all = SESSIONS.lock();
        // By the invariant this ticket's session is listed, with a count of at
        // least one (this ticket).
        if let Some(i) = all.iter().position(|(s, _)| Arc::ptr_eq(s, &self.0)) {
            // INVARIANT: one ticket fewer; unlisted when none is left.
            all[i].1 -= 1;
            if all[i].1 == 0 {
                let _ = all.remove(i);
            }
        }
        // A static is never dropped: give its buffer back when it empties.
        if all.is_empty() {
            *all = KVec::new();
        }
    }
}

/// The leader's place in its session. Dropped before `go`, it fails the
/// session: the waiting threads return `ECANCELED`.
pub(crate) struct Leader {
    ticket: Ticket,
}

impl Leader {
    /// Enters the caller's session as its leader (`EBUSY` if it has one).
    pub(crate) fn enter() -> Result<Leader> {
        let ticket = Ticket::enter()?;
        let s = &ticket.0;
        let mut inner = s.inner.lock();
        if inner.leader || inner.phase != Phase::Gathering {
            return Err(EBUSY);
        }
        inner.leader = true;
        drop(inner);
        Ok(Leader { ticket })
    }

    /// Waits until threads `1..=others` all wait, then moves to rebuilding:
    /// from here no thread leaves. `ETIMEDOUT` after `timeout_ms`, `EINTR`
    /// on a signal, `EINVAL` if a thread gave an index the image lacks.
    pub(crate) fn gather(&self, others: usize, timeout_ms: u32) -> Result {
        let s = &self.ticket.0;
        let deadline = sys::now_ns() + u64::from(timeout_ms) * 1_000_000;
        let mut inner = s.inner.lock();
        loop {
            if inner.joined.iter().any(|&i| i == 0 || i as usize > others) {
                return Err(EINVAL);
            }
            if inner.joined.len() == others {
                break;
            }
            let now = sys::now_ns();
            if now >= deadline {
                return Err(ETIMEDOUT);
            }
            let ms = ((deadline - now) / 1_000_000).clamp(1, 1000) as u32;
            if let CondVarTimeoutResult::Signal { .. } = s
                .changed
                .wait_interruptible_timeout(&mut inner, msecs_to_jiffies(ms))
            {
                return Err(EINTR);
            }
        }
        inner.phase = Phase::Rebuilding;
        s.changed.notify_all();
        Ok(())
    }

    /// Hands thread `i` its state `threads[i - 1]` and lets them all go.
    pub(crate) fn go(self, threads: KVVec<Thread>) -> Result {
        let mut handout = KVVec::with_capacity(threads.len(), GFP_KERNEL_ACCOUNT)?;
        for t in threads {
            handout.push(Some(t), GFP_KERNEL_ACCOUNT)?;
        }
        let s = &self.ticket.0;
        let mut inner = s.inner.lock();
        inner.handout = handout;
        inner.phase = Phase::Go;
        s.changed.notify_all();
        Ok(())
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let s = &self.ticket.0;
        let mut inner = s.inner.lock();
        if inner.phase != Phase::Go {
            inner.phase = Phase::Failed;
        }
        inner.leader = false;
        s.changed.notify_all();
    }
}

/// Waits, as thread `index` of the image, for the leader's restore; returns
/// this thread's saved state. `ECANCELED` if the leader failed before its
/// point of no return, `EINTR` on a signal while gathering (or when killed),
/// `EBUSY` if the restore is past gathering, `EINVAL` for index 0 or one
/// already taken.
pub(crate) fn join(index: u32) -> Result<Thread> {
    let ticket = Ticket::enter()?;
    let s = &ticket.0;
    let mut inner = s.inner.lock();
    match inner.phase {
        Phase::Gathering => {}
        Phase::Failed => return Err(ECANCELED),
        Phase::Rebuilding | Phase::Go => return Err(EBUSY),
    }
    if index == 0 || inner.joined.contains(&index) {
        return Err(EINVAL);
    }
    inner.joined.push(index, GFP_KERNEL_ACCOUNT)?;
    s.changed.notify_all();
    let leave = |inner: &mut Inner| {
        if let Some(i) = inner.joined.iter().position(|&j| j == index) {
            let _ = inner.joined.remove(i);
        }
    };
    loop {
        match inner.phase {
            Phase::Go => {
                let slot = inner
                    .handout
                    .get_mut(index as usize - 1)
                    .and_then(Option::take);
                return slot.ok_or(EINVAL);
            }
            Phase::Failed => {
                leave(&mut inner);
                return Err(ECANCELED);
            }
            Phase::Gathering | Phase::Rebuilding => {}
        }
        let r = s
            .changed
            .wait_interruptible_timeout(&mut inner, msecs_to_jiffies(1000));
        if let CondVarTimeoutResult::Signal { .. } = r {
            if inner.phase == Phase::Gathering || caller::dying() {
                leave(&mut inner);
                s.changed.notify_all();
                return Err(EINTR);
            }
            if inner.phase == Phase::Rebuilding {
                // Past the leader's point of no return nobody leaves; with a
                // signal pending an interruptible sleep returns at once, so
                // nap without the lock until the leader is done.
                drop(inner);
                fsleep(Delta::from_millis(1));
                inner = s.inner.lock();
            }
        }
    }
}
