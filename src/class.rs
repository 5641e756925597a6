// SPDX-License-Identifier: GPL-2.0

//! The process-class layer: a process is an object, and its class decides how
//! each of cr's operations acts on it. An ioctl resolves its target (a
//! cluster-wide pid) to a class instance and calls through [`ProcessClass`]:
//! one indirect call per operation, not per page or record, which is all the
//! layer costs a local process.
//!
//! Classes: [`local::Local`] (a process of this host) and [`remote::Remote`]
//! (a process of another host: its checkpoint goes through the cluster
//! daemon's channel). `Debugged` is designed in Documentation/design.rst,
//! not built yet.

use kernel::prelude::*;

pub(crate) use crate::freeze::Frozen;
use crate::{
    deputy::{Deputy, SignalCounts},
    error::{Failure, Reason},
    uapi,
};

pub(crate) mod local;
pub(crate) mod remote;

/// What a checkpoint is asked to do (from `struct cr_checkpoint_args`).
pub(crate) struct CheckpointRequest<'a> {
    /// The caller's file of /dev/cr.
    pub(crate) dev: &'a kernel::fs::File,
    /// fd the image is streamed to.
    pub(crate) out_fd: i32,
    /// fd of the target's /proc/<pid>/mem, or -1.
    pub(crate) proof_fd: i32,
    /// End the target once the image is complete.
    pub(crate) kill: bool,
    /// Write the image even if the process holds what no restore brings
    /// back (never with `kill`).
    pub(crate) partial: bool,
    /// Once the image is complete, keep the target frozen until the decision
    /// is read from this fd: commit ends it, anything else thaws it (never
    /// with `kill` or `partial`).
    pub(crate) hold_fd: Option<i32>,
    /// How long the threads may take to stop.
    pub(crate) freeze_timeout_ms: u32,
}

/// What a checkpoint did.
#[derive(Default)]
pub(crate) struct CheckpointReport {
    pub(crate) bytes: u64,
    pub(crate) pages: u64,
    pub(crate) frozen_ns: u64,
    pub(crate) threads: u32,
    pub(crate) vmas: u32,
    /// The signals the image carries that the process's main thread could
    /// take (its own and the process's), for a deputy to drop.
    pub(crate) carried: SignalCounts,
}

/// What cr knows of a process it may act on ([`ProcessClass::status`]).
pub(crate) struct Status {
    /// The caller has CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN) over it, in
    /// the namespaces ptrace would ask for CAP_SYS_PTRACE.
    pub(crate) caller_capable: bool,
    /// SIGKILL ends it (not so for the init of a pid namespace the caller
    /// lives in).
    pub(crate) killable: bool,
}

/// A signal cr sends to a whole process.
pub(crate) enum Signal {
    /// SIGKILL: the end of a process checkpointed with `CR_CHECKPOINT_KILL`.
    Kill,
}

/// What a restore asks of its target, the calling process.
pub(crate) enum RestoreRequest<'a> {
    /// `CR_IOC_RESTORE`: the leader, with the image's metadata and fds, and
    /// the ioctl's own file.
    Leader {
        args: &'a uapi::CrRestoreArgs,
        dev: &'a kernel::fs::File,
    },
    /// `CR_IOC_RESTORE_THREAD`: another thread, to become image thread
    /// `index`.
    Thread { index: u32 },
}

/// The operations cr performs on a process, one implementation per class.
/// Every ioctl that acts on a process goes through here, one call per
/// operation (never per page or record).
pub(crate) trait ProcessClass {
    /// Whether the process can be acted on, and what the caller may do to
    /// it. A failure when it cannot: a kernel thread, the caller's own
    /// process, exiting, its main thread gone while others run, stopped or
    /// traced.
    fn status(&self) -> Result<Status, Failure>;

    /// Stops every thread at a consistent point, each having saved its own
    /// state. The process runs on when [`ProcessClass::thaw`] is given the
    /// freeze (or the freeze is dropped).
    fn freeze(&self, timeout_ms: u32) -> Result<Frozen, Failure>;

    /// Lets a frozen process run on.
    fn thaw(&self, frozen: Frozen);

    /// Leaves `deputy` in place of the frozen process, which now runs on
    /// another host: its threads but the main one exit, its memory goes,
    /// and what stays forwards signals and waits for the copy's exit status
    /// (src/deputy.rs). The process is thawed instead if that cannot be.
    fn leave_deputy(&self, frozen: Frozen, deputy: Deputy) -> Result<(), Failure>;

    /// Sends `sig` to the whole process.
    fn signal(&self, sig: Signal) -> Result<(), Failure>;

    /// Waits until every thread of the process has exited, at most
    /// `timeout_ms` (`ETIMEDOUT` then).
    fn wait_exit(&self, timeout_ms: u32) -> Result<(), Failure>;

    /// Streams the image of the process to `req.out_fd`, then lets it run
    /// on, or ends it when `req.kill` is set.
    fn checkpoint(&self, req: &CheckpointRequest<'_>) -> Result<CheckpointReport, Failure>;

    /// Makes the process the image's: the target of a restore.
    fn restore_into(&self, req: RestoreRequest<'_>) -> Result<isize, Failure>;
}

/// The class instance for cluster-wide pid `cpid`.
pub(crate) fn resolve(cpid: u64) -> Result<KBox<dyn ProcessClass>, Failure> {
    let class: KBox<dyn ProcessClass> = if uapi::cpid_host(cpid) != 0 {
        KBox::new(remote::Remote::new(cpid), GFP_KERNEL_ACCOUNT)?
    } else {
        KBox::new(resolve_local(cpid)?, GFP_KERNEL_ACCOUNT)?
    };
    Ok(class)
}

/// The local class instance for cluster-wide pid `cpid`, without the layer's
/// indirect call: what `make bench` compares the layer with.
pub(crate) fn resolve_local(cpid: u64) -> Result<local::Local, Failure> {
    if uapi::cpid_host(cpid) != 0 {
        return Err(Failure::new(EREMOTE, Reason::Remote));
    }
    local::Local::find(uapi::cpid_pid(cpid))
}

/// The class instance of the calling process: the target of a restore.
pub(crate) fn caller() -> Result<KBox<dyn ProcessClass>, Failure> {
    let class: KBox<dyn ProcessClass> = KBox::new(local::Local::caller(), GFP_KERNEL_ACCOUNT)?;
    Ok(class)
}

/// What the layer costs a local process, measured in the kernel (for
/// `make bench`, through debugfs `cr/layer_cost`): `blocks` blocks of 1000
/// lookups of the caller's own process each followed by one operation
/// (`status`, which refuses the caller), made the way every ioctl makes them
/// (through the layer) and by a direct call to the local class, alternating
/// which way goes first. Returns the operations made each way and the
/// nanoseconds each way took.
pub(crate) fn layer_cost(blocks: u32) -> (u64, u64, u64) {
    use core::hint::black_box;
    const BLOCK: u32 = 1000;
    let pid = kernel::current!().tgid_nr_ns(None) as u32;
    let cpid = uapi::cpid(0, pid);
    let through_layer = || {
        for _ in 0..BLOCK {
            let r = resolve(black_box(cpid)).and_then(|c| c.status());
            black_box(r.is_ok());
        }
    };
    let direct = || {
        for _ in 0..BLOCK {
            let r = resolve_local(black_box(cpid)).and_then(|c| c.status());
            black_box(r.is_ok());
        }
    };
    let (mut layer_ns, mut direct_ns) = (0u64, 0u64);
    for b in 0..blocks {
        let t0 = crate::sys::now_ns();
        if b % 2 == 0 {
            through_layer();
        } else {
            direct();
        }
        let t1 = crate::sys::now_ns();
        if b % 2 == 0 {
            direct();
        } else {
            through_layer();
        }
        let t2 = crate::sys::now_ns();
        let (first, second) = (t1 - t0, t2 - t1);
        if b % 2 == 0 {
            layer_ns += first;
            direct_ns += second;
        } else {
            direct_ns += first;
            layer_ns += second;
        }
        crate::sys::cond_resched();
    }
    (u64::from(blocks * BLOCK), layer_ns, direct_ns)
}
