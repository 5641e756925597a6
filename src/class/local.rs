// SPDX-License-Identifier: GPL-2.0

//! The local class: a process on this host, acted on directly.

use kernel::{prelude::*, sync::Arc};

use crate::{
    checkpoint,
    class::{
        CheckpointReport, CheckpointRequest, Frozen, ProcessClass, RestoreRequest, Signal, Status,
    },
    deputy::Deputy,
    error::{Failure, OrFail, Reason},
    freeze::{self, FreezeError},
    restore,
    sys::task::Process,
};

/// A process on this host.
pub(crate) struct Local {
    process: Process,
}

impl Local {
    /// The local process whose id is `pid` in the caller's pid namespace.
    pub(crate) fn find(pid: u32) -> Result<Local, Failure> {
        let process = Process::find(pid).or_fail(Reason::NoProcess)?;
        Ok(Local { process })
    }

    /// The calling process.
    pub(crate) fn caller() -> Local {
        Local {
            process: Process::caller(),
        }
    }

    /// The process, for what only a local class reads (its memory, fds and
    /// threads' state: `checkpoint/`).
    pub(crate) fn process(&self) -> &Process {
        &self.process
    }
}

/// The reason `Process::checkable` refused.
fn check_failure(err: Error) -> Failure {
    let reason = if err == EDEADLK {
        Reason::SelfProcess
    } else if err == EBUSY {
        Reason::Stopped
    } else if err == EINVAL {
        Reason::Kthread
    } else if err == EOPNOTSUPP {
        Reason::Leaderless
    } else {
        Reason::NoProcess
    };
    Failure::new(err, reason)
}

impl ProcessClass for Local {
    fn status(&self) -> Result<Status, Failure> {
        self.process.checkable().map_err(check_failure)?;
        Ok(Status {
            caller_capable: self.process.caller_is_capable(),
            killable: self.process.killable(),
        })
    }

    fn freeze(&self, timeout_ms: u32) -> Result<Frozen, Failure> {
        freeze::freeze(&self.process, timeout_ms).map_err(|e| match e {
            FreezeError::Timeout => Failure::new(ETIMEDOUT, Reason::Timeout),
            FreezeError::Interrupted => Failure::new(EINTR, Reason::Interrupted),
            FreezeError::Exited => Failure::new(ESRCH, Reason::NoProcess),
            FreezeError::Other(e) => Failure::new(e, Reason::None),
        })
    }

    fn thaw(&self, frozen: Frozen) {
        drop(frozen);
    }

    fn leave_deputy(&self, frozen: Frozen, deputy: Deputy) -> Result<(), Failure> {
        let deputy = Arc::new(deputy, GFP_KERNEL_ACCOUNT)?;
        frozen
            .leave_deputy(deputy)
            .map_err(|e| Failure::new(e, Reason::Leaderless))
    }

    fn signal(&self, sig: Signal) -> Result<(), Failure> {
        match sig {
            Signal::Kill => self.process.kill(),
        }
        Ok(())
    }

    fn wait_exit(&self, timeout_ms: u32) -> Result<(), Failure> {
        self.process
            .wait_exit(timeout_ms)
            .map_err(|e| Failure::new(e, Reason::Timeout))
    }

    fn checkpoint(&self, req: &CheckpointRequest<'_>) -> Result<CheckpointReport, Failure> {
        checkpoint::checkpoint(self, req)
    }

    fn restore_into(&self, req: RestoreRequest<'_>) -> Result<isize, Failure> {
        // The target of a restore is the process that asked for it.
        if !self.process.is_caller() {
            return Err(Failure::new(EINVAL, Reason::Args));
        }
        match req {
            RestoreRequest::Leader { args, dev } => restore::restore(args, dev),
            RestoreRequest::Thread { index } => restore::restore_thread(index),
        }
    }
}
