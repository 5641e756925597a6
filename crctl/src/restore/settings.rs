// SPDX-License-Identifier: GPL-2.0

//! What the restoring child gives itself, through the kernel's own calls and
//! checks, before it calls CR_IOC_RESTORE: the image's resource limits, its
//! process-wide settings (MDWE check, KSM, child subreaper, membarrier
//! registrations, oom_score_adj), each thread's scheduling policy, priority
//! and nice value, and, last, the interval timers.

use rustix::process::{Pid, Resource, Rlimit};
use rustix::thread::MembarrierCommand;

use crate::error::{Error, Result, SchedSetting};
use crate::image::Image;
use crate::sys;
use crate::uapi::*;

/// The resource limits, by `RLIMIT_*` number, with their names.
const RLIMITS: [(Resource, &str); CR_RLIMITS] = [
    (Resource::Cpu, "RLIMIT_CPU"),
    (Resource::Fsize, "RLIMIT_FSIZE"),
    (Resource::Data, "RLIMIT_DATA"),
    (Resource::Stack, "RLIMIT_STACK"),
    (Resource::Core, "RLIMIT_CORE"),
    (Resource::Rss, "RLIMIT_RSS"),
    (Resource::Nproc, "RLIMIT_NPROC"),
    (Resource::Nofile, "RLIMIT_NOFILE"),
    (Resource::Memlock, "RLIMIT_MEMLOCK"),
    (Resource::As, "RLIMIT_AS"),
    (Resource::Locks, "RLIMIT_LOCKS"),
    (Resource::Sigpending, "RLIMIT_SIGPENDING"),
    (Resource::Msgqueue, "RLIMIT_MSGQUEUE"),
    (Resource::Nice, "RLIMIT_NICE"),
    (Resource::Rtprio, "RLIMIT_RTPRIO"),
    (Resource::Rttime, "RLIMIT_RTTIME"),
];

/// `RLIM_INFINITY` as `None`, as rustix has it.
fn rlim(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

/// Gives the restoring process the image's resource limits, through the
/// kernel's own checks (raising a hard limit needs CAP_SYS_RESOURCE), after
/// its threads exist and before the point of no return. The original lived
/// within them with the same memory, threads and signals.
pub(super) fn set_rlimits(img: &Image) -> Result<()> {
    for (r, &(resource, name)) in img.process.rlim.iter().zip(&RLIMITS) {
        let want = Rlimit {
            current: rlim(r.cur),
            maximum: rlim(r.max),
        };
        if let Err(e) = rustix::process::prlimit(None, resource, want) {
            let now = rustix::process::getrlimit(resource);
            return Err(Error::Rlimit {
                name,
                want: (r.cur, r.max),
                here: (
                    now.current.unwrap_or(u64::MAX),
                    now.maximum.unwrap_or(u64::MAX),
                ),
                err: e.into(),
            });
        }
    }
    Ok(())
}

/// prctl(2) numbers the libc crate and rustix lack.
const PR_GET_MDWE: i32 = 66;
const PR_SET_MEMORY_MERGE: i32 = 67;
const PR_GET_MEMORY_MERGE: i32 = 68;

/// The membarrier(2) registrations a process may hold, as image flags with
/// the command that makes each.
const MEMBARRIER_REGISTRATIONS: [(u32, MembarrierCommand, &str); 4] = [
    (
        CR_PROCESS_MEMBARRIER_PRIVATE,
        MembarrierCommand::RegisterPrivateExpedited,
        "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED",
    ),
    (
        CR_PROCESS_MEMBARRIER_GLOBAL,
        MembarrierCommand::RegisterGlobalExpedited,
        "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED",
    ),
    (
        CR_PROCESS_MEMBARRIER_SYNC_CORE,
        MembarrierCommand::RegisterPrivateExpeditedSyncCore,
        "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE",
    ),
    (
        CR_PROCESS_MEMBARRIER_RSEQ,
        MembarrierCommand::RegisterPrivateExpeditedRseq,
        "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ",
    ),
];

fn prctl(op: i32, a: u64, what: &'static str) -> Result<i32> {
    sys::prctl(op, a, 0).map_err(|err| Error::Prctl { what, err })
}

/// Gives the restoring process the image's process-wide settings, through
/// the kernel's own calls and checks, before the point of no return:
/// oom_score_adj, child subreaper, KSM for every area, membarrier
/// registrations (the mm survives the restore). THP and MDWE are the
/// kernel's to set after the rebuild (the restore writes its pages with THP
/// off, and may map what MDWE forbids a later mmap); MDWE cannot be unset,
/// so a crctl running under it cannot restore a process that had none.
pub(super) fn set_process_settings(img: &Image) -> Result<()> {
    let f = img.process.flags;
    let mdwe = prctl(PR_GET_MDWE, 0, "its MDWE setting").unwrap_or(0);
    if mdwe != 0 && f & CR_PROCESS_MDWE == 0 {
        return Err(Error::Mdwe);
    }
    // Inherited through fork: set it either way (a kernel without KSM refuses
    // the setting, and has nothing to clear).
    let ksm = f & CR_PROCESS_KSM_ANY != 0;
    if ksm || prctl(PR_GET_MEMORY_MERGE, 0, "").is_ok_and(|now| now != 0) {
        prctl(
            PR_SET_MEMORY_MERGE,
            u64::from(ksm),
            "its PR_SET_MEMORY_MERGE setting (KSM)",
        )?;
    }
    if f & CR_PROCESS_SUBREAPER != 0 {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(|e| {
            Error::Prctl {
                what: "PR_SET_CHILD_SUBREAPER",
                err: e.into(),
            }
        })?;
    }
    for (flag, cmd, name) in MEMBARRIER_REGISTRATIONS {
        if f & flag == 0 {
            continue;
        }
        rustix::thread::membarrier(cmd).map_err(|e| Error::Membarrier {
            name,
            err: e.into(),
        })?;
    }
    let now =
        std::fs::read_to_string("/proc/self/oom_score_adj").map_err(Error::ReadOomScoreAdj)?;
    if now.trim().parse::<i32>().ok() != Some(img.process.oom_score_adj) {
        std::fs::write(
            "/proc/self/oom_score_adj",
            img.process.oom_score_adj.to_string(),
        )
        .map_err(|err| Error::OomScoreAdj {
            want: img.process.oom_score_adj,
            here: now.trim().to_owned(),
            err,
        })?;
    }
    Ok(())
}

/// Gives thread `tid` of the restoring process (0: the calling thread) the
/// image thread's scheduling policy, real-time priority and nice value,
/// through sched_setscheduler(2) and setpriority(2) and their checks
/// (a real-time policy or a lower nice value needs CAP_SYS_NICE or the
/// RLIMIT_RTPRIO / RLIMIT_NICE the image gave). Only what differs is set.
pub(super) fn set_sched(t: &CrThread, tid: sys::Pid, image_tid: u32) -> Result<()> {
    let fail = |err, what| Error::Sched {
        tid: image_tid,
        what,
        err,
    };
    let (policy, priority) = sys::sched_get(tid);
    if policy < 0 || policy as u32 != t.policy || priority as u32 != t.rt_priority {
        sys::sched_set(tid, t.policy as i32, t.rt_priority as i32).map_err(|e| {
            fail(
                e,
                SchedSetting::Policy {
                    policy: t.policy,
                    priority: t.rt_priority,
                },
            )
        })?;
    }
    // PRIO_PROCESS with a tid names the thread.
    let pid = Pid::from_raw(tid);
    // A failed getpriority reads as -1, as getpriority(2)'s result did.
    let nice = rustix::process::getpriority_process(pid).unwrap_or(-1);
    if nice != t.nice {
        rustix::process::setpriority_process(pid, t.nice)
            .map_err(|e| fail(e.into(), SchedSetting::Nice(t.nice)))?;
    }
    Ok(())
}

/// Arms the image's interval timers (just before the restore: time spent
/// until then counts as time that passed).
pub(super) fn arm_itimers(img: &Image) -> Result<()> {
    let Some(t) = img.itimers else {
        return Ok(());
    };
    for (which, name) in sys::ITIMERS {
        let (value, interval) = (t.it[2 * which as usize], t.it[2 * which as usize + 1]);
        if value == 0 {
            continue;
        }
        let tv = |ns: u64| {
            (
                (ns / 1_000_000_000) as i64,
                (ns % 1_000_000_000 / 1000) as i64,
            )
        };
        let mut value = tv(value);
        if value == (0, 0) {
            value.1 = 1;
        }
        sys::setitimer(which, value, tv(interval)).map_err(|err| Error::Itimer { name, err })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_are_in_rlimit_order() {
        for (i, (resource, _)) in RLIMITS.iter().enumerate() {
            assert_eq!(*resource as usize, i);
        }
    }

    /// A membarrier command's number is the one the image flags were made
    /// for (MEMBARRIER_CMD_REGISTER_*).
    #[test]
    fn membarrier_commands() {
        let numbers: Vec<u32> = MEMBARRIER_REGISTRATIONS
            .iter()
            .map(|(_, c, _)| *c as u32)
            .collect();
        assert_eq!(numbers, [1 << 4, 1 << 2, 1 << 6, 1 << 8]);
    }
}
