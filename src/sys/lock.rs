// SPDX-License-Identifier: GPL-2.0

//! The kernel locks cr takes on another task's state, as guards: a task's
//! `alloc_lock` (`task_lock()`) and its process's `siglock`
//! (`lock_task_sighand()`, which is not exported).

use core::ptr::{addr_of, addr_of_mut, NonNull};

use kernel::{bindings, sync::rcu, task::Task};

use super::generated;

/// `task_lock(t)`: holds `t`'s `alloc_lock`, which guards its `fs`, `files`
/// and `comm` pointers (and `group_leader`'s guards its process's rlimits).
///
/// # Invariants
///
/// `task` is valid for `'a` and its `alloc_lock` is held by this guard.
pub(super) struct TaskLock<'a> {
    task: &'a Task,
}

impl<'a> TaskLock<'a> {
    pub(super) fn new(task: &'a Task) -> Self {
        // SAFETY: `task` is valid, so its `alloc_lock` is an initialized
        // spinlock; it is released by `drop`.
        unsafe { bindings::spin_lock(addr_of_mut!((*task.as_ptr()).alloc_lock)) };
        // INVARIANT: Taken just above.
        TaskLock { task }
    }

    /// The task, whose `alloc_lock`-guarded fields may be read.
    pub(super) fn raw(&self) -> *mut bindings::task_struct {
        self.task.as_ptr()
    }

    /// The task's `fs_struct`, valid while the lock is held; `None` once the
    /// task has exited.
    pub(super) fn fs(&self) -> Option<NonNull<generated::fs_struct>> {
        // SAFETY: By the invariant `task` is valid and `fs` changes only
        // under its `alloc_lock`, held.
        NonNull::new(unsafe { (*self.raw()).fs }.cast())
    }

    /// The offsets of the task's time namespace (`CLOCK_MONOTONIC`,
    /// `CLOCK_BOOTTIME`) in ns; `None` once the task has exited.
    pub(super) fn time_offsets(&self) -> Option<(i64, i64)> {
        // The nsproxy holds a reference on each of its namespaces while it is
        // the task's.
        // SAFETY: By the invariant `task` is valid; `nsproxy` changes only
        // under its `alloc_lock`, held.
        let ns = unsafe { (*self.raw()).nsproxy };
        let ns = NonNull::new(ns)?;
        // SAFETY: The nsproxy is live while the lock is held.
        let time = unsafe { (*ns.as_ptr()).time_ns };
        let time = NonNull::new(time)?.cast::<generated::time_namespace>();
        // SAFETY: The namespace is live (the nsproxy's reference); its
        // offsets are set before any task enters it and never change after.
        let o = unsafe { &(*time.as_ptr()).offsets };
        let ns_of = |t: &bindings::timespec64| t.tv_sec * 1_000_000_000 + t.tv_nsec as i64;
        Some((ns_of(&o.monotonic), ns_of(&o.boottime)))
    }

    /// The task's `files_struct`, valid while the lock is held; `None` once
    /// the task has exited.
    pub(super) fn files(&self) -> Option<NonNull<bindings::files_struct>> {
        // SAFETY: As for `fs`.
        NonNull::new(unsafe { (*self.raw()).files })
    }
}

impl Drop for TaskLock<'_> {
    fn drop(&mut self) {
        // SAFETY: By the invariant the lock is held by us.
        unsafe { bindings::spin_unlock(addr_of_mut!((*self.task.as_ptr()).alloc_lock)) };
    }
}

/// `lock_task_sighand(t)`: holds the `siglock` of `t`'s process with
/// interrupts off, so its signal dispositions, queues and timers hold still.
///
/// # Invariants
///
/// `sighand` is the `sighand_struct` of `task`'s process and its `siglock` is
/// held by this guard; `task` is valid for `'a`.
pub(super) struct SigLock<'a> {
    task: &'a Task,
    sighand: NonNull<bindings::sighand_struct>,
}

impl<'a> SigLock<'a> {
    /// Locks `task`'s `siglock`, or `None` when the task has been released
    /// (it has no `sighand` any more).
    pub(super) fn new(task: &'a Task) -> Option<Self> {
        let t = task.as_ptr();
        let _rcu = rcu::read_lock();
        loop {
            // SAFETY: `t` is valid; `sighand` is read under RCU, as
            // `rcu_dereference(t->sighand)`.
            let sh = unsafe { core::ptr::read_volatile(addr_of!((*t).sighand)) };
            let sh = NonNull::new(sh)?;
            // SAFETY: `sighand_struct` is SLAB_TYPESAFE_BY_RCU: under RCU its
            // memory stays a `sighand_struct` with an initialized lock.
            unsafe { bindings::spin_lock_irq_disable(addr_of_mut!((*sh.as_ptr()).siglock)) };
            // SAFETY: As above; rechecked under the lock, as
            // lock_task_sighand() does, since it may have been reused.
            let now = unsafe { core::ptr::read_volatile(addr_of!((*t).sighand)) };
            if core::ptr::eq(now, sh.as_ptr()) {
                // INVARIANT: `sh` is `task`'s and locked.
                return Some(SigLock { task, sighand: sh });
            }
            // SAFETY: Taken just above.
            unsafe { bindings::spin_unlock_irq_enable(addr_of_mut!((*sh.as_ptr()).siglock)) };
        }
    }

    /// The locked `sighand_struct`.
    pub(super) fn sighand(&self) -> *mut bindings::sighand_struct {
        self.sighand.as_ptr()
    }

    /// The task's `signal_struct`, whose siglock-guarded fields may be read.
    pub(super) fn signal(&self) -> *mut bindings::signal_struct {
        // SAFETY: By the invariant `task` is valid; a live task's `signal`
        // never changes.
        unsafe { (*self.task.as_ptr()).signal }
    }
}

impl Drop for SigLock<'_> {
    fn drop(&mut self) {
        // SAFETY: By the invariant the lock is held by us.
        unsafe { bindings::spin_unlock_irq_enable(addr_of_mut!((*self.sighand.as_ptr()).siglock)) };
    }
}
