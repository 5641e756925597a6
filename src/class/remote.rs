// SPDX-License-Identifier: GPL-2.0

//! The remote class: a process of another host, whose operations this host's
//! cluster daemon carries out there.
//!
//! The kernel never opens a connection. The daemon (crd, through `crctl
//! serve`) makes one open file of /dev/cr this host's [`Channel`] with
//! `CR_IOC_SERVE`, and takes requests from it: a checkpoint of `HOST:PID`
//! queues a request holding the caller's out_fd and waits; the daemon gets
//! the request with that file installed as an fd of its own, streams the
//! image from the far host into it, and answers; the caller returns the
//! answer. Closing the channel's file fails every request on it.
//!
//! Only `CR_IOC_CHECKPOINT` takes a cluster pid, so a checkpoint is the one
//! operation forwarded; the others act on a process's own host and are
//! refused here (`EREMOTE`).

use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
};

use crate::{
    class::{
        CheckpointReport, CheckpointRequest, Frozen, ProcessClass, RestoreRequest, Signal, Status,
    },
    deputy::{Deputy, SignalCounts},
    error::{Failure, Message, Reason},
    sys::{self, file::PassedFile},
    uapi,
};

/// A request on the channel.
pub(crate) struct Request {
    /// The cluster pid.
    pub(crate) target: u64,
    /// `CR_CHECKPOINT_*` (no hold).
    pub(crate) flags: u32,
    /// As asked (0: default).
    pub(crate) freeze_timeout_ms: u32,
    /// Where the image goes: the caller's out_fd.
    pub(crate) file: PassedFile,
    /// Who asks: effective ids in the initial user namespace, and whether
    /// they may checkpoint others' processes.
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) capable: bool,
}

/// The daemon's answer to a request.
pub(crate) struct Answer {
    /// 0 or a negative errno.
    pub(crate) error: i32,
    pub(crate) reason: u32,
    pub(crate) addr: u64,
    pub(crate) bytes: u64,
    pub(crate) pages: u64,
    pub(crate) frozen_ns: u64,
    pub(crate) threads: u32,
    pub(crate) vmas: u32,
    /// With `error`: the far host's words.
    pub(crate) msg: KVec<u8>,
}

enum State {
    /// Waiting for the daemon.
    Queued(Request),
    /// The daemon has it.
    Taken,
    /// Answered: the caller takes it.
    Answered(Answer),
}

/// The channel's state, under `Channel::inner`.
///
/// # Invariants
///
/// Ids are distinct and never 0; each entry's caller waits in
/// [`Channel::call`] and is the only one to remove it.
struct Inner {
    /// False once the daemon's file is closed: no request is taken again.
    open: bool,
    last_id: u64,
    entries: KVec<(u64, State)>,
}

/// This host's channel to its cluster daemon.
#[pin_data]
pub(crate) struct Channel {
    /// The open file of /dev/cr that serves it (its private data's address).
    owner: usize,
    #[pin]
    inner: Mutex<Inner>,
    /// Signalled on every change of `inner`.
    #[pin]
    changed: CondVar,
}

kernel::sync::global_lock! {
    // SAFETY: Initialized by `init` in the module initializer, before /dev/cr
    // exists and so before any use.
    unsafe(uninit) static CHANNEL: Mutex<Option<Arc<Channel>>> = None;
}

/// Initializes the channel slot; called once, at module load.
pub(crate) fn init() {
    // SAFETY: Called once, from the module initializer, before any use.
    unsafe { CHANNEL.init() };
}

/// Why a call on the channel got no answer.
pub(crate) enum NoAnswer {
    /// The caller got a signal.
    Interrupted,
    /// The daemon closed the channel.
    Closed,
}

/// A request the daemon has taken: its id and the request.
pub(crate) struct Taken {
    pub(crate) id: u64,
    pub(crate) request: Request,
}

impl Channel {
    /// The channel served by open file `owner`: made now if there is none
    /// (or the last one closed), `EBUSY` if another file serves.
    pub(crate) fn serve(owner: usize) -> Result<Arc<Channel>> {
        let mut slot = CHANNEL.lock();
        if let Some(c) = slot.as_ref() {
            if c.owner == owner {
                return Ok(c.clone());
            }
            return Err(EBUSY);
        }
        let c = Arc::pin_init(
            pin_init!(Channel {
                owner,
                inner <- new_mutex!(Inner {
                    open: true,
                    last_id: 0,
                    entries: KVec::new(),
                }),
                changed <- new_condvar!(),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Ends the channel served by `owner`, if any: its file is closed.
    /// Requests not answered fail; answers already given are kept.
    pub(crate) fn close(owner: usize) {
        let mut slot = CHANNEL.lock();
        let Some(c) = slot.take_if(|c| c.owner == owner) else {
            return;
        };
        drop(slot);
        let mut inner = c.inner.lock();
        inner.open = false;
        c.changed.notify_all();
    }

    /// The channel, if a daemon serves this host.
    fn current() -> Option<Arc<Channel>> {
        CHANNEL.lock().clone()
    }

    /// Queues `request` and waits (interruptibly) for its answer.
    fn call(&self, request: Request) -> Result<Result<Answer, NoAnswer>> {
        let mut inner = self.inner.lock();
        if !inner.open {
            return Ok(Err(NoAnswer::Closed));
        }
        inner.last_id += 1;
        let id = inner.last_id;
        // INVARIANT: a fresh id, removed below by this caller alone.
        inner
            .entries
            .push((id, State::Queued(request)), GFP_KERNEL_ACCOUNT)?;
        self.changed.notify_all();
        loop {
            let i = inner
                .entries
                .iter()
                .position(|(e, _)| *e == id)
                .ok_or(EINVAL)?;
            let done = match &inner.entries[i].1 {
                State::Answered(_) => true,
                // A request still queued when the daemon leaves was never
                // taken; one taken gets no answer any more.
                _ => !inner.open,
            };
            let interrupted = !done && self.changed.wait_interruptible(&mut inner);
            if done || interrupted {
                let (_, state) = inner.entries.remove(i)?;
                return Ok(match state {
                    State::Answered(a) => Ok(a),
                    _ if interrupted => Err(NoAnswer::Interrupted),
                    _ => Err(NoAnswer::Closed),
                });
            }
        }
    }

    /// Waits (interruptibly: `EINTR`) for the next request and takes it.
    pub(crate) fn take(&self) -> Result<Taken> {
        let mut inner = self.inner.lock();
        loop {
            let queued = inner
                .entries
                .iter()
                .position(|(_, s)| matches!(s, State::Queued(_)));
            if let Some(i) = queued {
                let entry = &mut inner.entries[i];
                let State::Queued(request) = core::mem::replace(&mut entry.1, State::Taken) else {
                    return Err(EINVAL);
                };
                return Ok(Taken {
                    id: entry.0,
                    request,
                });
            }
            if self.changed.wait_interruptible(&mut inner) {
                return Err(EINTR);
            }
        }
    }

    /// Puts a request the daemon could not be told of back in the queue.
    pub(crate) fn untake(&self, taken: Taken) {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.entries.iter_mut().find(|(e, _)| *e == taken.id) {
            e.1 = State::Queued(taken.request);
            self.changed.notify_all();
        }
    }

    /// Gives request `id` its answer; dropped if its caller has gone (or the
    /// daemon did not have it).
    pub(crate) fn answer(&self, id: u64, answer: Answer) {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.entries.iter_mut().find(|(e, _)| *e == id) {
            if matches!(e.1, State::Taken) {
                e.1 = State::Answered(answer);
                self.changed.notify_all();
            }
        }
    }
}

/// A process of another host.
pub(crate) struct Remote {
    cpid: u64,
}

impl Remote {
    pub(crate) fn new(cpid: u64) -> Remote {
        Remote { cpid }
    }

    /// The refusal of what only the process's own host does.
    fn elsewhere(&self, what: &'static str) -> Failure {
        Failure {
            err: EREMOTE,
            reason: Reason::Remote,
            addr: 0,
            msg: Message::Fixed(what),
        }
    }
}

impl ProcessClass for Remote {
    fn status(&self) -> Result<Status, Failure> {
        Err(self.elsewhere("a process of another host is looked at by its own host"))
    }

    fn freeze(&self, _timeout_ms: u32) -> Result<Frozen, Failure> {
        Err(self.elsewhere("a process of another host is frozen by its own host"))
    }

    fn thaw(&self, _frozen: Frozen) {}

    fn leave_deputy(&self, _frozen: Frozen, _deputy: Deputy) -> Result<(), Failure> {
        Err(self.elsewhere("a process of another host leaves its deputy from its own host"))
    }

    fn signal(&self, _sig: Signal) -> Result<(), Failure> {
        Err(self.elsewhere("a process of another host is signalled through crd (crctl kill)"))
    }

    fn wait_exit(&self, _timeout_ms: u32) -> Result<(), Failure> {
        Err(self.elsewhere("a process of another host is waited for through crd (crctl wait)"))
    }

    fn checkpoint(&self, req: &CheckpointRequest<'_>) -> Result<CheckpointReport, Failure> {
        let refuse = |what| Failure {
            err: EINVAL,
            reason: Reason::Args,
            addr: 0,
            msg: Message::Fixed(what),
        };
        if req.proof_fd >= 0 {
            return Err(refuse(
                "a proof of ptrace access (proof_fd) is of a local process: a remote one's host judges its caller",
            ));
        }
        if req.hold_fd.is_some() {
            return Err(refuse(
                "a hold (CR_CHECKPOINT_HOLD) is taken on the process's own host",
            ));
        }
        let Some(channel) = Channel::current() else {
            return Err(Failure {
                err: EREMOTE,
                reason: Reason::Remote,
                addr: 0,
                msg: Message::Fixed(
                    "the process lives on another host, and no cluster daemon (crd) serves this one",
                ),
            });
        };
        let file = PassedFile::get(req.out_fd, req.dev).map_err(|err| Failure {
            err,
            reason: Reason::Output,
            addr: 0,
            msg: Message::Fixed("out_fd is not an open file other than /dev/cr"),
        })?;
        let mut flags = 0;
        if req.kill {
            flags |= uapi::CR_CHECKPOINT_KILL;
        }
        if req.partial {
            flags |= uapi::CR_CHECKPOINT_PARTIAL;
        }
        let (uid, gid) = sys::caller::ids_in_init_ns();
        let request = Request {
            target: self.cpid,
            flags,
            freeze_timeout_ms: req.freeze_timeout_ms,
            file,
            uid,
            gid,
            capable: sys::caller::may_act_on_others(),
        };
        match channel.call(request)? {
            Ok(a) if a.error == 0 => Ok(CheckpointReport {
                bytes: a.bytes,
                pages: a.pages,
                frozen_ns: a.frozen_ns,
                threads: a.threads,
                vmas: a.vmas,
                carried: SignalCounts::default(),
            }),
            Ok(a) => Err(Failure {
                err: Error::from_errno(a.error),
                reason: Reason::from_code(a.reason).unwrap_or(Reason::Elsewhere),
                addr: a.addr,
                msg: Message::Made(a.msg),
            }),
            Err(NoAnswer::Interrupted) => Err(Failure::new(EINTR, Reason::Interrupted)),
            Err(NoAnswer::Closed) => Err(Failure {
                err: ECONNRESET,
                reason: Reason::Remote,
                addr: 0,
                msg: Message::Fixed(
                    "the cluster daemon (crd) closed its channel before it answered",
                ),
            }),
        }
    }

    fn restore_into(&self, _req: RestoreRequest<'_>) -> Result<isize, Failure> {
        Err(self.elsewhere("a restore makes a process of this host"))
    }
}
