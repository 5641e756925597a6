// SPDX-License-Identifier: GPL-2.0

//! `crctl serve`: the remote class's way out of the kernel (crd starts it,
//! as root). It makes its open file of /dev/cr this host's channel
//! (`CR_IOC_SERVE`) and carries out each request the module queues there:
//! a checkpoint of a process of another host, streamed from that host's crd
//! through this host's crd into the requester's out_fd (installed here),
//! as the requesting user. Each request runs on a thread of its own; its
//! answer goes back with `CR_SERVE_ANSWER_ONLY`.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crcluster::map::HostRef;
use crcluster::proto::{Cred, FaultCode, Message, Op, Reply, Target};

use crate::cluster::Crd;
use crate::dev::{Device, ServeAnswer, ServeRequest};
use crate::uapi;
use crate::{Error, Result};

/// Serves requests until the device fails (not on a signal's `EINTR`).
pub fn run(device: &Path, socket: &Path) -> Result<()> {
    // A reader that goes away is an EPIPE for that request, not our end.
    crate::output::ignore_sigpipe();
    // The channel is crd's: if crd dies (even by SIGKILL), this ends with
    // it, the module closes the channel and what waits on it fails, and
    // the next crd can serve. (Asked before the check: a parent already
    // gone is init then.)
    let parent = rustix::process::getppid();
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| Error::Io(e.into()))?;
    if rustix::process::getppid() != parent {
        return Err(Error::Crd("crd ended before crctl serve began".into()));
    }
    let dev = Arc::new(Device::open(device)?);
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_REMOTE == 0 {
        return Err(Error::Crd(
            "this cr module has no remote class (no CR_FEATURE_REMOTE); load a newer one".into(),
        ));
    }
    loop {
        let req = match dev.serve(None, false) {
            Ok(Some(req)) => req,
            Ok(None) => continue,
            Err(crate::dev::DevError::Ioctl(_, e)) if e.kind() == io::ErrorKind::Interrupted => {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        let dev = dev.clone();
        let socket = socket.to_owned();
        std::thread::spawn(move || {
            let id = req.id;
            let answer = checkpoint(&socket, req);
            if let Err(e) = dev.serve(Some((id, &answer)), true) {
                eprintln!("crctl serve: cannot answer request {id}: {e}");
            }
        });
    }
}

/// The answer for a failure with `errno`, `reason` and `msg`.
fn failed(errno: rustix::io::Errno, reason: u32, msg: String) -> ServeAnswer {
    ServeAnswer {
        errno: errno.raw_os_error(),
        reason,
        msg,
        ..Default::default()
    }
}

/// Carries out one checkpoint request: what the module tells its caller.
fn checkpoint(socket: &Path, req: ServeRequest) -> ServeAnswer {
    use rustix::io::Errno;
    let host = uapi::cpid_host(req.target);
    let pid = uapi::cpid_pid(req.target);
    let Ok(host16) = u16::try_from(host) else {
        return failed(
            Errno::HOSTUNREACH,
            uapi::CR_FAIL_REMOTE,
            format!("host {host} is not in the cluster map (host ids are 0 to 65535)"),
        );
    };
    let kill = req.flags & uapi::CR_CHECKPOINT_KILL != 0;
    let op = Op::Checkpoint {
        pid,
        kill,
        partial: req.flags & uapi::CR_CHECKPOINT_PARTIAL != 0,
        timeout_ms: req.freeze_timeout_ms,
        for_user: Some(Cred {
            uid: req.uid,
            gid: req.gid,
        }),
    };
    let mut crd = match Crd::connect(socket) {
        Ok(c) => c,
        Err(e) => return failed(Errno::REMOTE, uapi::CR_FAIL_REMOTE, e.to_string()),
    };
    let unreachable = |e: Error| failed(Errno::HOSTUNREACH, uapi::CR_FAIL_REMOTE, e.to_string());
    if let Err(e) = crd.send(&Message::Call {
        target: Target::Host(HostRef::Id(host16)),
        op,
    }) {
        return unreachable(e);
    }
    let mut out = File::from(req.out);
    let mut bytes = 0u64;
    loop {
        let m = match crd.recv() {
            Ok(m) => m,
            Err(e) => return unreachable(e),
        };
        match m {
            Message::Data(d) => {
                if let Err(e) = out.write_all(&d) {
                    // Dropping the connection ends the transfer: the
                    // process runs on there (it is ended only on a commit).
                    let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
                    return failed(
                        errno,
                        uapi::CR_FAIL_OUTPUT,
                        format!(
                            "writing the image of {host}:{pid} here failed after {bytes} bytes: {e}; the process runs on there"
                        ),
                    );
                }
                bytes += d.len() as u64;
            }
            // The image is whole here; the process waits there for this.
            Message::End if kill => {
                if let Err(e) = crd.send(&Message::Commit) {
                    return unreachable(e);
                }
            }
            Message::Answer(Ok(Reply::Checkpointed {
                errno,
                reason,
                addr,
                bytes: b,
                pages,
                frozen_ns,
                threads,
                vmas,
                text,
            })) => {
                if errno == 0 && b != bytes {
                    return failed(
                        Errno::IO,
                        uapi::CR_FAIL_ELSEWHERE,
                        format!(
                            "host {host} says the image of {host}:{pid} is {b} bytes, {bytes} came"
                        ),
                    );
                }
                return ServeAnswer {
                    errno: i32::from(errno),
                    reason,
                    addr,
                    bytes: b,
                    pages,
                    frozen_ns,
                    threads,
                    vmas,
                    msg: text,
                };
            }
            Message::Answer(Err(f)) => {
                let (errno, reason) = match f.code {
                    FaultCode::Perm => (Errno::PERM, uapi::CR_FAIL_PERM),
                    FaultCode::NoProcess => (Errno::SRCH, uapi::CR_FAIL_NO_PROCESS),
                    FaultCode::Invalid => (Errno::INVAL, uapi::CR_FAIL_ELSEWHERE),
                    FaultCode::NoHost | FaultCode::Unreachable | FaultCode::Version => {
                        (Errno::HOSTUNREACH, uapi::CR_FAIL_REMOTE)
                    }
                    FaultCode::NotChild | FaultCode::Failed => {
                        (Errno::REMOTEIO, uapi::CR_FAIL_ELSEWHERE)
                    }
                };
                return failed(errno, reason, f.text);
            }
            Message::Beat => {}
            _ => {
                return failed(
                    Errno::PROTO,
                    uapi::CR_FAIL_REMOTE,
                    "crd answered a checkpoint with something else".into(),
                )
            }
        }
    }
}
