// SPDX-License-Identifier: GPL-2.0

//! [`Gate`]: a one-shot barrier that waiting threads leave on a fatal signal.

use kernel::{bindings, prelude::*, types::Opaque};

/// A gate that is shut until [`Gate::open`] and then stays open.
///
/// Unlike `kernel::sync::Completion`, a waiter can be killed: a thread of a
/// frozen process must still die on SIGKILL, but must ignore every other
/// signal (an interruptible wait would return at once while any signal is
/// pending, even a blocked one).
///
/// # Invariants
///
/// `inner` is an initialized `struct completion`.
#[pin_data]
pub(crate) struct Gate {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: `struct completion` is designed for use from any thread; all its
// operations take its internal lock.
unsafe impl Send for Gate {}
// SAFETY: As above.
unsafe impl Sync for Gate {}

impl Gate {
    /// A shut gate.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `init_completion` initializes it.
            inner <- Opaque::ffi_init(|slot: *mut bindings::completion| unsafe {
                bindings::init_completion(slot)
            }),
        })
    }

    /// Opens the gate: every waiter, present and future, passes.
    pub(crate) fn open(&self) {
        // SAFETY: By the type invariant, `inner` is an initialized completion.
        unsafe { bindings::complete_all(self.inner.get()) };
    }

    /// Waits until the gate is open, or fails with `ERESTARTSYS` when the
    /// calling thread receives a fatal signal.
    pub(crate) fn wait_killable(&self) -> Result {
        // SAFETY: By the type invariant, `inner` is an initialized completion.
        let ret = unsafe { bindings::wait_for_completion_killable(self.inner.get()) };
        super::errno(ret).map(|_| ())
    }
}
