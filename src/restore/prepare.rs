// SPDX-License-Identifier: GPL-2.0

//! Everything that can fail without harm, before the point of no return:
//! credentials, CPU, vdso placement, limits, the mapped and open files.

use kernel::{page::PAGE_SIZE, prelude::*};

use crate::{
    error::{Failure, Reason},
    sys::{caller, file::OpenFile, task as systask},
    uapi,
};

use super::plan::Plan;

/// `O_RDONLY`, `O_RDWR` for opening mapped files.
const O_RDONLY: i32 = 0;
const O_RDWR: i32 = 2;

/// Everything that can fail without harm, before the point of no return.
#[inline(never)]
pub(super) fn prepare(plan: &mut Plan) -> Result<(), Failure> {
    let p = &plan.process;
    if !caller::creds_are_callers(p.uid, p.euid, p.gid, p.egid) && !caller::may_restore_others() {
        return Err(Failure::new(EPERM, Reason::Perm));
    }
    if plan.checker.header.xstate_size as usize != systask::xstate_size() {
        return Err(Failure::new(ENOEXEC, Reason::Cpu));
    }
    // Locked memory is locked again, so the caller must be allowed what
    // mlock() and mlockall(MCL_FUTURE) would allow it (the image's
    // RLIMIT_MEMLOCK is the caller's by now, given by crctl).
    let locked: u64 = plan
        .areas
        .iter()
        .filter(|a| a.vma.flags & uapi::CR_VMA_LOCKED != 0)
        .map(|a| (a.vma.end - a.vma.start) / PAGE_SIZE as u64)
        .sum();
    if (locked > 0 || p.flags & uapi::CR_PROCESS_MLOCK_FUTURE != 0) && !caller::may_mlock(locked) {
        return Err(Failure::new(ENOMEM, Reason::Limit));
    }
    // The leader comes first: it is the thread that calls the restore, and
    // its id is the process's.
    if plan
        .threads
        .first()
        .is_none_or(|t| t.thread.flags & uapi::CR_THREAD_LEADER == 0)
    {
        return Err(Failure::new(EINVAL, Reason::Image));
    }
    // The format allows addresses up to what 5-level paging maps; this
    // machine may map less. Every address the image holds is checked against
    // it here, before anything changes.
    let end = caller::task_size();
    let high = |addr: u64, at: u64| Failure::at(ENOEXEC, Reason::Cpu, at).only_if(addr >= end);
    for a in crate::image::format::mm_addresses(&plan.mm) {
        high(a, plan.mm_at)?;
    }
    for a in plan.areas.iter() {
        high(a.vma.end - 1, a.at)?;
    }
    for t in plan.threads.iter() {
        let th = &t.thread;
        // Only a partial image has one (rules.rs); crctl says so first.
        if th.policy & !crate::image::format::SCHED_RESET_ON_FORK
            == crate::image::format::SCHED_DEADLINE
        {
            return Err(Failure::at(EOPNOTSUPP, Reason::Unsupported, t.at));
        }
        let sas_end = (th.sas_sp + th.sas_size).saturating_sub(1);
        for a in [
            th.regs.ip,
            th.regs.sp,
            th.regs.fs_base,
            th.regs.gs_base,
            sas_end,
            th.clear_child_tid,
            th.robust_list,
            th.rseq,
        ] {
            high(a, t.at)?;
        }
    }
    if plan.auxv.len() > caller::auxv_max_words() {
        return Err(Failure::at(ENOEXEC, Reason::Cpu, plan.mm_at));
    }

    // [vdso] and [vvar] stay: they must already be where the image has them.
    let mine = caller::specials();
    let theirs = plan
        .areas
        .iter()
        .filter(|a| matches!(a.vma.kind, uapi::CR_VMA_VDSO | uapi::CR_VMA_VVAR))
        .map(|a| (a.vma.start as usize, a.vma.end as usize));
    let mut n = 0usize;
    for r in theirs {
        if !mine.contains(&r) {
            return Err(Failure::at(EINVAL, Reason::Vdso, r.0 as u64));
        }
        n += 1;
    }
    if n != mine.len() {
        return Err(Failure::new(EINVAL, Reason::Vdso));
    }

    // Areas this version cannot rebuild, and the files of those it can.
    for i in 0..plan.areas.len() {
        let v = plan.areas[i].vma;
        let at = plan.areas[i].at;
        match v.kind {
            uapi::CR_VMA_ANON | uapi::CR_VMA_VDSO | uapi::CR_VMA_VVAR => {}
            uapi::CR_VMA_FILE => {
                // A shared mapping keeps its right to become writable only if
                // its file is open for writing.
                let writable_shared = v.flags & uapi::CR_VMA_SHARED != 0
                    && (v.prot & 2 != 0 || v.flags & uapi::CR_VMA_MAYWRITE != 0);
                let flags = if writable_shared { O_RDWR } else { O_RDONLY };
                let file = OpenFile::open(plan.path(i), flags)
                    .map_err(|e| Failure::at(e, Reason::File, at))?;
                file.same(v.ino, v.file_size, v.mtime_ns)
                    .map_err(|e| Failure::at(e, Reason::File, at))?;
                plan.areas[i].file = Some(file);
            }
            _ => return Err(Failure::at(EOPNOTSUPP, Reason::Unsupported, at)),
        }
    }

    // The FPU state: this only changes the caller's own, which is thrown
    // away. Every thread's is tried here (the others load theirs later, past
    // the point of no return, when failing would cost the process); the
    // leader's goes last and stays.
    for t in plan.threads.iter().rev() {
        caller::set_xstate(&t.xstate).map_err(|e| {
            let err = if e == ENOEXEC { ENOEXEC } else { EINVAL };
            Failure::new(err, Reason::Cpu)
        })?;
    }
    Ok(())
}
