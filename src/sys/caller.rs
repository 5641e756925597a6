// SPDX-License-Identifier: GPL-2.0

//! The calling process, as a restore rebuilds it: its mappings, memory,
//! mm fields, signal state, registers and FPU state.
//!
//! These act on `current`. The restore that calls them runs in the process
//! being replaced (the way BLCR restarts): the leader rebuilds the shared
//! state, each thread then sets its own.

use core::ptr::{addr_of, addr_of_mut};

use kernel::{
    bindings,
    prelude::*,
    task::Task,
    uaccess::{UserPtr, UserSlice},
};

use super::{errno, ffi, file::OpenFile, generated, read_once};
use crate::uapi::{self, CrMm, CrRegs, CrSighand, CrSiginfo, CrThread};

/// How many threads the caller's process has.
pub(crate) fn threads() -> usize {
    // SAFETY: The caller's `signal_struct` lives as long as it does;
    // `nr_threads` is read once, as get_nr_threads() does.
    unsafe { read_once(addr_of!((*signal()).nr_threads)) as usize }
}

/// The caller's `signal_struct`.
fn signal() -> *mut bindings::signal_struct {
    // SAFETY: The current task is valid; its `signal` never changes.
    unsafe { (*Task::current_raw()).signal }
}

/// A key naming the caller's process (its thread group) while it lives.
pub(crate) fn group() -> usize {
    signal() as usize
}

/// Whether the caller is being killed (a fatal signal is pending).
pub(crate) fn dying() -> bool {
    // fatal_signal_pending(): SIGKILL in the thread's own pending set (where
    // complete_signal() puts it for a group exit too).
    let t = Task::current_raw();
    // SAFETY: The calling thread's own pending set, read once.
    let set = unsafe { read_once(addr_of!((*t).pending.signal.sig[0])) };
    set & (1 << (bindings::SIGKILL - 1)) != 0
}

/// Whether the caller's fd `fd` is `file`.
pub(crate) fn fd_is(fd: i32, file: &kernel::fs::File) -> bool {
    let Ok(fd) = u32::try_from(fd) else {
        return false;
    };
    // SAFETY: Any fd may be looked up; a file found comes with a reference,
    // dropped just below. Only addresses are compared.
    unsafe {
        let f = bindings::fget(fd);
        if !f.is_null() {
            bindings::fput(f);
        }
        core::ptr::eq(f, file.as_ptr())
    }
}

/// Whether these ids are the caller's own (real and effective uid and gid).
pub(crate) fn creds_are_callers(uid: u32, euid: u32, gid: u32, egid: u32) -> bool {
    // SAFETY: The caller's own credentials (`current_cred()`) cannot change
    // under it; its user namespace lives as long as they do.
    unsafe {
        let c = &*(*Task::current_raw()).cred;
        let ns = bindings::current_user_ns();
        bindings::from_kuid_munged(ns, c.uid) == uid
            && bindings::from_kuid_munged(ns, c.euid) == euid
            && bindings::from_kgid_munged(ns, c.gid) == gid
            && bindings::from_kgid_munged(ns, c.egid) == egid
    }
}

/// The caller's effective uid and gid as the initial user namespace sees
/// them (the overflow ids if it has no mapping there).
pub(crate) fn ids_in_init_ns() -> (u32, u32) {
    // SAFETY: The caller's own credentials (`current_cred()`) cannot change
    // under it; the initial user namespace is static.
    unsafe {
        let c = &*(*Task::current_raw()).cred;
        let ns = addr_of_mut!(bindings::init_user_ns);
        (
            bindings::from_kuid_munged(ns, c.euid),
            bindings::from_kgid_munged(ns, c.egid),
        )
    }
}

/// Whether the caller may checkpoint any user's process of any host:
/// `CAP_CHECKPOINT_RESTORE` or `CAP_SYS_ADMIN` in the initial user
/// namespace.
pub(crate) fn may_act_on_others() -> bool {
    // SAFETY: The initial user namespace is static.
    unsafe { super::task::capable_in(addr_of_mut!(bindings::init_user_ns)) }
}

/// Whether the caller may serve the remote class for every user of this
/// host: `CAP_SYS_ADMIN` in the initial user namespace.
pub(crate) fn is_host_admin() -> bool {
    // SAFETY: Any capability number is accepted.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// Whether the caller may restore another user's process.
pub(crate) fn may_restore_others() -> bool {
    // SAFETY: The caller's user namespace is valid while it runs.
    unsafe { super::task::capable_in(bindings::current_user_ns()) }
}

/// The caller's pid.
pub(crate) fn pid() -> u32 {
    let t = Task::current_raw();
    // SAFETY: The current task and its pid namespace are valid.
    unsafe {
        bindings::__task_pid_nr_ns(
            t,
            bindings::pid_type_PIDTYPE_TGID,
            bindings::task_active_pid_ns(t),
        ) as u32
    }
}

/// The caller's special mappings ([vdso], [vvar], ...) as (start, end).
pub(crate) fn specials() -> KVec<(usize, usize)> {
    let mut ranges = [(0, 0); 8];
    let n = areas(true, &mut ranges);
    let mut v = KVec::new();
    for &r in &ranges[..n] {
        // At most 8 small items: an allocation failure just shortens the list,
        // which the caller's comparison then refuses.
        let _ = v.push(r, GFP_KERNEL_ACCOUNT);
    }
    v
}

/// The first `out.len()` of the caller's areas that are (`special`) or are
/// not special mappings, as (start, end), into `out`; returns how many.
fn areas(special: bool, out: &mut [(usize, usize)]) -> usize {
    let mm = current_mm();
    let (mut n, mut addr) = (0, 0);
    // SAFETY: The caller's own mm, whose areas hold still under its mmap
    // read lock, taken here.
    unsafe {
        bindings::mmap_read_lock(mm);
        while n < out.len() {
            let vma = bindings::find_vma(mm, addr);
            if vma.is_null() {
                break;
            }
            let v = kernel::mm::virt::VmaRef::from_raw(vma);
            if super::mm::is_special(mm, vma) == special {
                out[n] = (v.start(), v.end());
                n += 1;
            }
            addr = v.end();
        }
        bindings::mmap_read_unlock(mm);
    }
    n
}

/// Unmaps every mapping of the caller except the special ones: the point of
/// no return of a restore.
pub(crate) fn unmap_all() -> Result {
    loop {
        let mut ranges = [(0, 0); 16];
        let n = areas(false, &mut ranges);
        if n == 0 {
            return Ok(());
        }
        for &(start, end) in &ranges[..n] {
            // SAFETY: Unmaps part of the caller's own address space, as
            // munmap(2) does.
            errno(unsafe { bindings::vm_munmap(start, end - start) })?;
        }
    }
}

/// Maps `len` bytes at exactly `addr` (`MAP_FIXED` is added): anonymous
/// memory, or `file` from byte `off`.
pub(crate) fn map(
    file: Option<&OpenFile>,
    addr: usize,
    len: usize,
    prot: u32,
    flags: u32,
    off: u64,
) -> Result {
    let f = file.map_or(core::ptr::null_mut(), |f| f.as_raw());
    let flags = flags | bindings_mman::MAP_FIXED;
    let (prot, flags, off) = (prot as usize, flags as usize, off as usize);
    // SAFETY: `f` is NULL or a file we hold a reference on; `vm_mmap` checks
    // every other argument.
    let ret = unsafe { bindings::vm_mmap(f, addr, len, prot, flags, off) } as isize;
    if ret < 0 {
        return Err(Error::from_errno(ret as i32));
    }
    if ret as usize != addr {
        return Err(EINVAL);
    }
    Ok(())
}

/// The `mmap` flags a restore uses (from include/uapi/asm-generic/mman*.h).
pub(crate) mod bindings_mman {
    pub(crate) const PROT_READ: u32 = 0x1;
    pub(crate) const PROT_WRITE: u32 = 0x2;
    pub(crate) const PROT_EXEC: u32 = 0x4;
    pub(crate) const MAP_SHARED: u32 = 0x01;
    pub(crate) const MAP_PRIVATE: u32 = 0x02;
    pub(crate) const MAP_FIXED: u32 = 0x10;
    pub(crate) const MAP_ANONYMOUS: u32 = 0x20;
    pub(crate) const MAP_GROWSDOWN: u32 = 0x0100;
    pub(crate) const MAP_NORESERVE: u32 = 0x4000;
}

/// Sets the mm-wide fields and the saved auxv.
pub(crate) fn set_mm(m: &CrMm, auxv: &[u64]) {
    let mm = current_mm();
    // `arg_lock` guards the argument and environment bounds, as
    // prctl(PR_SET_MM) takes it.
    // SAFETY: The caller's own mm (it runs the ioctl from user space), written
    // under its mmap write lock.
    unsafe {
        ffi::cr_mmap_write_lock(mm);
        let f = &mut (*mm).__bindgen_anon_1;
        f.start_code = m.start_code as usize;
        f.end_code = m.end_code as usize;
        f.start_data = m.start_data as usize;
        f.end_data = m.end_data as usize;
        f.start_brk = m.start_brk as usize;
        f.brk = m.brk as usize;
        f.start_stack = m.start_stack as usize;
        bindings::spin_lock(&mut f.arg_lock);
        f.arg_start = m.arg_start as usize;
        f.arg_end = m.arg_end as usize;
        f.env_start = m.env_start as usize;
        f.env_end = m.env_end as usize;
        bindings::spin_unlock(&mut f.arg_lock);
        for (i, w) in f.saved_auxv.iter_mut().enumerate() {
            *w = auxv.get(i).map_or(0, |&v| v as usize);
        }
        ffi::cr_mmap_write_unlock(mm);
    }
}

/// The caller's mm.
fn current_mm() -> *mut bindings::mm_struct {
    // SAFETY: The current task is valid; a task running an ioctl from user
    // space has an mm, which only it can change (by exec).
    unsafe { (*Task::current_raw()).mm }
}

/// Sets the signal dispositions (SIGKILL and SIGSTOP stay default).
pub(crate) fn set_sighand(s: &CrSighand) {
    let unblockable = (1u64 << (bindings::SIGKILL - 1)) | (1u64 << (bindings::SIGSTOP - 1));
    let t = Task::current_raw();
    // SAFETY: The caller's own `sighand_struct` (it does not exec or exit
    // while in the ioctl), whose dispositions change under its siglock.
    unsafe {
        let sh = (*t).sighand;
        bindings::spin_lock_irq_disable(&mut (*sh).siglock);
        for (i, a) in s.action.iter().enumerate() {
            let sig = i as u32 + 1;
            let Some(ka) = (*sh).action.get_mut(i) else {
                break;
            };
            if sig == bindings::SIGKILL || sig == bindings::SIGSTOP {
                continue;
            }
            // The handler and restorer are addresses in the process (or
            // SIG_DFL/SIG_IGN), written as the integers they are.
            addr_of_mut!(ka.sa.sa_handler)
                .cast::<u64>()
                .write(a.handler);
            addr_of_mut!(ka.sa.sa_restorer)
                .cast::<u64>()
                .write(a.restorer);
            ka.sa.sa_flags = a.flags as usize;
            ka.sa.sa_mask.sig[0] = (a.mask & !unblockable) as usize;
        }
        bindings::spin_unlock_irq_enable(&mut (*sh).siglock);
    }
}

/// Sets the calling thread's mask, altstack, tid and robust-list pointers
/// and name.
pub(crate) fn set_thread(t: &CrThread) -> Result {
    let top = task_size();
    if t.sas_flags & !(bindings::SS_DISABLE | bindings::SS_AUTODISARM) != 0
        || t.sas_sp >= top
        || t.sas_size > top - t.sas_sp
        || t.clear_child_tid >= top
        || t.robust_list >= top
        || t.rseq >= top
    {
        return Err(EINVAL);
    }
    let unblockable = (1u64 << (bindings::SIGKILL - 1)) | (1u64 << (bindings::SIGSTOP - 1));
    let mut set = bindings::sigset_t::default();
    set.sig[0] = (t.blocked & !unblockable) as usize;
    // SAFETY: `set` is a valid sigset; the old mask is not asked for.
    errno(unsafe {
        bindings::sigprocmask(
            bindings::SIG_SETMASK as i32,
            &mut set,
            core::ptr::null_mut(),
        )
    })?;
    let cur = Task::current_raw();
    // SAFETY: The calling thread's own fields, which only it changes; these
    // are the values sigaltstack, set_tid_address and set_robust_list store.
    unsafe {
        (*cur).sas_ss_sp = t.sas_sp as usize;
        (*cur).sas_ss_size = t.sas_size as usize;
        (*cur).sas_ss_flags = t.sas_flags;
        (*cur).clear_child_tid = t.clear_child_tid as usize as *mut _;
        (*cur).futex.robust_list = t.robust_list as usize as *mut _;
    }
    {
        let task = kernel::current!();
        let l = super::lock::TaskLock::new(task);
        let len = t.comm.iter().take(15).position(|&b| b == 0).unwrap_or(15);
        // SAFETY: `comm` is written under `task_lock`, held.
        let comm = unsafe { &mut (*l.raw()).comm };
        comm.fill(0);
        comm[..len].copy_from_slice(&t.comm[..len]);
    }
    // A bad registration ends the process with SIGSEGV on its way out, as
    // rseq(2) makes it.
    // SAFETY: Acts on the calling thread; the area was checked above to lie
    // in user space.
    errno(unsafe { ffi::cr_set_rseq(t.rseq, t.rseq_len, t.rseq_sig) }).map(|_| ())
}

/// Queues `s` for the calling thread.
pub(crate) fn queue_signal(s: &CrSiginfo) -> Result {
    let mut info = bindings::kernel_siginfo::default();
    // SAFETY: A siginfo is plain data, and the record holds at least one
    // (sys/task.rs asserts it).
    unsafe {
        core::ptr::copy_nonoverlapping(
            s.info.as_ptr(),
            addr_of_mut!(info).cast::<u8>(),
            core::mem::size_of::<bindings::kernel_siginfo>(),
        )
    };
    let signo = info.__bindgen_anon_1.si_signo;
    if !(1..=64).contains(&signo) || signo as u32 != s.signo {
        return Err(EINVAL);
    }
    // SAFETY: `info` is a valid siginfo for `signo`; the current task is
    // valid.
    errno(unsafe { bindings::send_sig_info(signo, &mut info, Task::current_raw()) }).map(|_| ())
}

/// Raises `sig` for the calling thread (SIGKILL ends it).
pub(crate) fn raise(sig: u32) -> Result {
    // SEND_SIG_PRIV: a signal from the kernel with no particular siginfo.
    let priv_info = core::ptr::without_provenance_mut::<bindings::kernel_siginfo>(1);
    // SAFETY: `send_sig_info` checks `sig` and accepts SEND_SIG_PRIV; the
    // current task is valid.
    errno(unsafe { bindings::send_sig_info(sig as i32, priv_info, Task::current_raw()) })
        .map(|_| ())
}

/// Whether the caller may lock `pages` pages of memory (CAP_IPC_LOCK, or
/// within RLIMIT_MEMLOCK), as mlock() judges it.
pub(crate) fn may_mlock(pages: u64) -> bool {
    // SAFETY: No preconditions.
    if unsafe { bindings::capable(bindings::CAP_IPC_LOCK as i32) } {
        return true;
    }
    // rlimit(RLIMIT_MEMLOCK): the caller's soft limit, read once.
    // SAFETY: The caller's `signal_struct` is valid while it runs.
    let limit = unsafe {
        read_once(addr_of!(
            (*signal()).rlim[bindings::RLIMIT_MEMLOCK as usize].rlim_cur
        ))
    };
    // SAFETY: No preconditions.
    let may = unsafe { bindings::can_do_mlock() };
    may && pages <= (limit >> bindings::PAGE_SHIFT) as u64
}

/// Faults in every page of the caller's area `[start, end)`, as mlock()
/// populates a locked one.
///
/// With write faults for a private writable area (so each page is its own);
/// a page faulted into a VM_LOCKED area is mlocked as it comes. `EFAULT`
/// where nothing is mapped.
pub(crate) fn populate(start: usize, end: usize) -> Result {
    const BATCH: usize = 16;
    let mm = current_mm();
    let mut addr = start;
    while addr < end {
        let mut pages = [core::ptr::null_mut::<bindings::page>(); BATCH];
        let nr = ((end - addr) >> bindings::PAGE_SHIFT).min(BATCH);
        // SAFETY: The caller's own mm, its areas stable under the mmap read
        // lock held across the lookup and the GUP; `pages` has room for `nr`.
        let n = unsafe {
            bindings::mmap_read_lock(mm);
            let vma = bindings::vma_lookup(mm, addr);
            let n = if vma.is_null() {
                -(bindings::EFAULT as c_long)
            } else {
                let f = kernel::mm::virt::VmaRef::from_raw(vma).flags();
                let private_writable =
                    f & (bindings::VM_WRITE | bindings::VM_SHARED) == bindings::VM_WRITE;
                let gup = if private_writable {
                    bindings::FOLL_WRITE
                } else {
                    0
                };
                bindings::get_user_pages(addr, nr, gup, pages.as_mut_ptr())
            };
            bindings::mmap_read_unlock(mm);
            n
        };
        if n <= 0 {
            return Err(if n == 0 {
                EFAULT
            } else {
                Error::from_errno(n as i32)
            });
        }
        let arg = bindings::release_pages_arg {
            pages: pages.as_mut_ptr(),
        };
        // SAFETY: GUP took a reference on each of the `n` pages it returned.
        unsafe { bindings::release_pages(arg, n as i32) };
        addr += (n as usize) << bindings::PAGE_SHIFT;
        // SAFETY: No preconditions (process context, no lock held).
        unsafe { ffi::cr_cond_resched() };
    }
    Ok(())
}

/// Disables (`paused`) or allows transparent huge pages for the caller's mm
/// while a restore writes its pages, as prctl(PR_SET_THP_DISABLE) does, until
/// [`set_mm_flags`] sets the image's own setting.
pub(crate) fn set_thp_paused(paused: bool) {
    let mm = current_mm();
    // SAFETY: The caller's own mm; prctl changes these under its mmap write
    // lock.
    unsafe {
        ffi::cr_mmap_write_lock(mm);
        mm_flag(mm, bindings::MMF_DISABLE_THP_COMPLETELY, paused);
        mm_flag(mm, bindings::MMF_DISABLE_THP_EXCEPT_ADVISED, false);
        ffi::cr_mmap_write_unlock(mm);
    }
}

/// `mm_flags_set()`/`mm_flags_clear()`: sets or clears `MMF_*` bit `bit`.
///
/// # Safety
///
/// `mm` must be valid, its mmap write lock held.
unsafe fn mm_flag(mm: *mut bindings::mm_struct, bit: u32, on: bool) {
    // SAFETY: Per the contract; atomic bit operations on the mm's flags.
    unsafe {
        let word = addr_of_mut!((*mm).__bindgen_anon_1.flags.__mm_flags[0]);
        if on {
            bindings::set_bit(bit as usize, word);
        } else {
            bindings::clear_bit(bit as usize, word);
        }
    }
}

/// Sets the THP and MDWE settings of `flags` (`CR_PROCESS_*`) on the caller's
/// mm, once its areas and pages are rebuilt.
///
/// As prctl(PR_SET_THP_DISABLE), prctl(PR_SET_MDWE) and mlockall(MCL_FUTURE)
/// set them, once the areas and pages are rebuilt: the restore itself may
/// map what MDWE forbids a later mmap (areas the original made before it set
/// MDWE). MDWE cannot be unset, so only setting is needed.
pub(crate) fn set_mm_flags(flags: u32) {
    let has = |f: u32| flags & f != 0;
    let mm = current_mm();
    // SAFETY: The caller's own mm; these change under its mmap write lock.
    unsafe {
        ffi::cr_mmap_write_lock(mm);
        let except_advised = has(uapi::CR_PROCESS_THP_EXCEPT_ADVISED);
        mm_flag(mm, bindings::MMF_DISABLE_THP_EXCEPT_ADVISED, except_advised);
        mm_flag(
            mm,
            bindings::MMF_DISABLE_THP_COMPLETELY,
            !except_advised && has(uapi::CR_PROCESS_THP_DISABLE),
        );
        if has(uapi::CR_PROCESS_MDWE) {
            mm_flag(mm, bindings::MMF_HAS_MDWE, true);
        }
        if has(uapi::CR_PROCESS_MDWE_NO_INHERIT) {
            mm_flag(mm, bindings::MMF_HAS_MDWE_NO_INHERIT, true);
        }
        // mlockall(MCL_FUTURE), as apply_mlockall_flags() sets it.
        if has(uapi::CR_PROCESS_MLOCK_FUTURE) {
            let def = &mut (*mm).__bindgen_anon_1.__bindgen_anon_2.def_flags;
            *def |= super::mm::VM_LOCKED;
            if has(uapi::CR_PROCESS_MLOCK_ONFAULT) {
                *def |= bindings::VM_LOCKONFAULT;
            }
        }
        ffi::cr_mmap_write_unlock(mm);
    }
}

/// Sets the umask (its permission bits), as umask(2) does.
pub(crate) fn set_umask(umask: u32) {
    // SAFETY: The caller's own `fs_struct`, valid while it runs; only the
    // process itself writes its umask, without a lock.
    unsafe {
        let fs = (*Task::current_raw()).fs.cast::<generated::fs_struct>();
        core::ptr::write_volatile(addr_of_mut!((*fs).umask), (umask & 0o777) as i32);
    }
}

/// Loads xsave state (the user ABI layout of NT_X86_XSTATE) into the calling
/// thread; `ENOEXEC` when this CPU's layout differs, `EINVAL` for state the
/// CPU cannot hold.
///
/// kernel_fpu_begin() saves the live registers to the thread's fpstate and
/// makes the return to user space reload them from there; the regset's `set`
/// then validates the buffer and writes fpstate. (The regset's WARN_ON_FPU
/// against writing the current task's state, active only with
/// CONFIG_X86_DEBUG_FPU, assumes the registers are live; here they are not.)
pub(crate) fn set_xstate(xstate: &[u8]) -> Result {
    let size = u32::try_from(xstate.len()).map_err(|_| EINVAL)?;
    let rs = super::task::regset(bindings::NT_X86_XSTATE)
        .filter(|r| r.n * r.size == size)
        .ok_or(ENOEXEC)?;
    let set = rs.set.ok_or(ENOEXEC)?;
    // kernel_fpu_begin() (a static inline) on x86_64.
    // SAFETY: Paired with kernel_fpu_end() below; `xstate` is readable for
    // `size` bytes, the regset's size; no user buffer.
    let ret = unsafe {
        bindings::kernel_fpu_begin_mask(generated::CR_KFPU_MXCSR);
        let ret = set(
            Task::current_raw(),
            rs,
            0,
            size,
            xstate.as_ptr().cast(),
            core::ptr::null(),
        );
        bindings::kernel_fpu_end();
        ret
    };
    errno(ret).map(|_| ())
}

/// Sets the calling thread's registers for its return to user space, ax to
/// `ax` on the way out (the system call's return value, an int, would
/// overwrite and truncate it), so the ioctl's own return value is ignored.
///
/// The checks are sigreturn's: user code and stack segments, only the
/// user-settable flags, no system call to restart on the way out. How a
/// thread stopped in a system call resumes is resume.rs's to put in `r` and
/// `ax`. The fs base is loaded as arch_prctl(ARCH_SET_FS) does; a nonzero
/// gs selector is refused (`EOPNOTSUPP`).
pub(crate) fn set_regs(r: &CrRegs, ax: u64) -> Result {
    let top = task_size();
    if r.ip >= top || r.sp >= top || r.fs_base >= top || r.gs_base >= top {
        return Err(EINVAL);
    }
    // The user gs selector is live in the kernel (swapgs swaps only the
    // base); a process made by crctl has 0, which the base goes with.
    // SAFETY: Reads the calling CPU's gs selector.
    if unsafe { ffi::cr_user_gs_selector() } != 0 {
        return Err(EOPNOTSUPP);
    }
    OnReturn::queue(Some(ax), [-1; CLOSE_MAX])?;
    // SAFETY: The calling thread's own saved user registers, which it
    // returns to user space with; only it changes them, and it is here.
    unsafe {
        let regs = &mut *ffi::cr_current_pt_regs();
        regs.r15 = r.r15 as usize;
        regs.r14 = r.r14 as usize;
        regs.r13 = r.r13 as usize;
        regs.r12 = r.r12 as usize;
        regs.bp = r.bp as usize;
        regs.bx = r.bx as usize;
        regs.r11 = r.r11 as usize;
        regs.r10 = r.r10 as usize;
        regs.r9 = r.r9 as usize;
        regs.r8 = r.r8 as usize;
        regs.cx = r.cx as usize;
        regs.dx = r.dx as usize;
        regs.si = r.si as usize;
        regs.di = r.di as usize;
        regs.ip = r.ip as usize;
        regs.sp = r.sp as usize;
        regs.__bindgen_anon_1.cs = bindings::__USER_CS as u16;
        regs.__bindgen_anon_2.ss = bindings::__USER_DS as u16;
        let user = generated::CR_FIX_EFLAGS;
        regs.flags = (regs.flags & !user) | (r.flags as usize & user);
        // No system call to restart on the way out.
        regs.orig_ax = usize::MAX;
        ffi::cr_set_user_bases(r.fs_base, r.gs_base);
    }
    Ok(())
}

/// How many fds [`CloseOnReturn`] takes.
const CLOSE_MAX: usize = 4;

/// Work done on the way back to user space, after the ioctl has returned:
/// closing fds (the ioctl's own file among them: closing the fd of the
/// ioctl's file inside the ioctl would drop a reference the ioctl borrowed,
/// as fdget takes none when the fd table is not shared), and setting ax,
/// which the system call's own (int) return value has overwritten by then.
/// The module stays loaded until the callback returns: an open /dev/cr pins
/// it, and a file's last fput is itself deferred to a later task work.
#[repr(C)]
struct OnReturn {
    /// First, so a `callback_head` pointer is one to the whole.
    work: bindings::callback_head,
    ax: Option<u64>,
    fds: [i32; CLOSE_MAX],
}

impl OnReturn {
    /// Queues the work for the calling thread. TWA_SIGNAL runs it first
    /// thing on the way out, in get_signal() before any signal is
    /// delivered, so a handler's frame saves the right ax.
    fn queue(ax: Option<u64>, fds: [i32; CLOSE_MAX]) -> Result {
        Self::add(Self::new(ax, fds)?)
    }

    /// The work, not queued yet.
    fn new(ax: Option<u64>, fds: [i32; CLOSE_MAX]) -> Result<KBox<OnReturn>> {
        Ok(KBox::new(
            OnReturn {
                work: bindings::callback_head::default(),
                ax,
                fds,
            },
            GFP_KERNEL_ACCOUNT,
        )?)
    }

    /// Queues `work` for the calling thread (as [`Self::queue`]).
    fn add(work: KBox<OnReturn>) -> Result {
        let raw = KBox::into_raw(work);
        // SAFETY: `raw` is a live `OnReturn` we own; its `work` is
        // initialized for `run`, which takes the box back.
        unsafe { bindings::init_task_work(addr_of_mut!((*raw).work), Some(Self::run)) };
        // SAFETY: The current task is valid; once queued, the work (and with
        // it the box) belongs to the task_work list until `run`.
        let err = unsafe {
            bindings::task_work_add(
                Task::current_raw(),
                addr_of_mut!((*raw).work),
                bindings::task_work_notify_mode_TWA_SIGNAL,
            )
        };
        if err != 0 {
            // SAFETY: Not queued: the box is still ours.
            drop(unsafe { KBox::from_raw(raw) });
            return Err(Error::from_errno(err));
        }
        Ok(())
    }

    /// The task_work callback.
    ///
    /// # Safety
    ///
    /// `work` must be the `work` of an `OnReturn` queued by [`Self::queue`],
    /// run by the thread that queued it.
    unsafe extern "C" fn run(work: *mut bindings::callback_head) {
        // SAFETY: Per the contract, `work` is the first field of a leaked
        // `KBox<OnReturn>`, which this call now owns.
        let this = unsafe { KBox::from_raw(work.cast::<OnReturn>()) };
        if let Some(ax) = this.ax {
            // SAFETY: The calling thread's own saved user registers.
            unsafe { (*ffi::cr_current_pt_regs()).ax = ax as usize };
        }
        for &fd in this.fds.iter().filter(|&&fd| fd >= 0) {
            // SAFETY: Closes one of the calling thread's fds, as close(2).
            unsafe { bindings::close_fd(fd as u32) };
        }
    }
}

/// What [`settle_area`] does to an area besides setting its carried flags.
#[derive(Clone, Copy)]
struct Settle {
    /// Drop VM_WRITE.
    drop_write: bool,
    /// MADV_MERGEABLE.
    mergeable: bool,
    /// mlock (`VM_LOCKED`), and with `onfault` as MLOCK_ONFAULT.
    lock: bool,
    onfault: bool,
}

/// Settles the caller's just-mapped, still empty area at `addr` into what the
/// image's was (`image_flags`, its `CR_VMA_*` flags): its madvise flags (huge
/// pages, fork, core dump, read-ahead) and soft-dirty flag as `madvise` would
/// set them (MADV_WIPEONFORK only where madvise allows it: `private_anon`),
/// before any page is written, so MADV_NOHUGEPAGE holds for them; KSM
/// (MADV_MERGEABLE); mlock, with its charge, after the caller judged the
/// whole image's locked memory ([`may_mlock`]); and with `drop_write`,
/// without the write permission it was mapped with (for its commit charge,
/// as the original had it before an mprotect). `EFAULT` when no area starts
/// at `addr`, `EBUSY` if it has pages, `EINTR` on a fatal signal.
pub(crate) fn settle_area(
    addr: usize,
    image_flags: u32,
    private_anon: bool,
    drop_write: bool,
) -> Result {
    let (mut want, mut mask) = (0, 0);
    for flag in super::mm::VMA_FLAGS.iter().filter(|f| f.carried) {
        mask |= flag.vm;
        if image_flags & flag.cr != 0 {
            want |= flag.vm;
        }
    }
    if !private_anon {
        want &= !bindings::VM_WIPEONFORK;
    }
    if want & bindings::VM_HUGEPAGE != 0 {
        want &= !super::mm::VM_NOHUGEPAGE;
    }
    let how = Settle {
        drop_write,
        mergeable: image_flags & uapi::CR_VMA_MERGEABLE != 0,
        lock: image_flags & uapi::CR_VMA_LOCKED != 0,
        onfault: image_flags & uapi::CR_VMA_LOCKONFAULT != 0,
    };
    let mm = current_mm();
    // SAFETY: The caller's own mm; unlocked below.
    errno(unsafe { ffi::cr_mmap_write_lock_killable(mm) })?;
    // SAFETY: The caller's own mm, its mmap write lock held.
    let settled = unsafe { settle_locked(mm, addr, want, mask, how) };
    // SAFETY: Locked above.
    unsafe { ffi::cr_mmap_write_unlock(mm) };
    settled
}

/// [`settle_area`] with the mmap write lock held: the flags of `mask` become
/// those of `want`, then `how`.
///
/// With no page and no anon_vma in the area there is nothing else to change:
/// mlock_fixup() would mlock pages (each is mlocked as it is faulted in) and
/// mprotect() would rewrite page table entries.
///
/// # Safety
///
/// `mm` must be the caller's mm, whose mmap write lock the caller holds.
unsafe fn settle_locked(
    mm: *mut bindings::mm_struct,
    addr: usize,
    want: bindings::vm_flags_t,
    mask: bindings::vm_flags_t,
    how: Settle,
) -> Result {
    // SAFETY: Per the contract; any address may be looked up.
    let vma = unsafe { bindings::vma_lookup(mm, addr) };
    if vma.is_null() {
        return Err(EFAULT);
    }
    // SAFETY: An area of `mm`, which holds still under its mmap lock, held.
    let v = unsafe { kernel::mm::virt::VmaRef::from_raw(vma) };
    // SAFETY: As above.
    if v.start() != addr || !unsafe { (*vma).anon_vma }.is_null() {
        return Err(if v.start() != addr { EFAULT } else { EBUSY });
    }
    let pages = (v.end() - v.start()) >> bindings::PAGE_SHIFT;
    // The flags change under the area's own write lock too (per-VMA lock
    // readers), taken once here.
    // SAFETY: An area of the caller's mm, whose mmap write lock is held.
    let flags_mod = |set, clear| unsafe { ffi::cr_vm_flags_mod(vma, set, clear) };
    // SAFETY: As above.
    unsafe { ffi::cr_vma_start_write(vma) };
    if v.flags() & mask != want {
        flags_mod(want, mask & !want);
    }
    if how.mergeable && v.flags() & generated::CR_VM_MERGEABLE == 0 {
        // MADV_MERGEABLE registers the mm with KSM and says which flags the
        // area gets (none for an area KSM cannot merge).
        #[cfg_attr(not(CONFIG_KSM), expect(unused_mut))]
        let mut f = v.flags();
        #[cfg(CONFIG_KSM)]
        // SAFETY: An area of the caller's mm, write-locked; `f` is writable.
        errno(unsafe {
            generated::ksm_madvise(
                vma,
                v.start(),
                v.end(),
                generated::CR_MADV_MERGEABLE,
                &mut f,
            )
        })?;
        if f & generated::CR_VM_MERGEABLE != 0 {
            flags_mod(generated::CR_VM_MERGEABLE, 0);
        }
    }
    if how.lock {
        // What mlock_fixup() charges for an area it locks.
        if v.flags() & super::mm::VM_LOCKED == 0 {
            // SAFETY: `locked_vm` changes under the mmap write lock, held.
            unsafe { (*mm).__bindgen_anon_1.locked_vm += pages };
        }
        let onfault = if how.onfault {
            bindings::VM_LOCKONFAULT
        } else {
            0
        };
        flags_mod(super::mm::VM_LOCKED | onfault, 0);
    }
    let f = v.flags();
    if how.drop_write && f & bindings::VM_SHARED == 0 && f & bindings::VM_WRITE != 0 {
        // As mprotect(PROT_READ) of an area that was writable: it keeps
        // VM_ACCOUNT, and vm_stat_account() (not exported) moves the pages
        // out of data_vm.
        if f & generated::CR_VM_STACK == 0 {
            // SAFETY: `data_vm` changes under the mmap write lock, held; it
            // is read locklessly (WRITE_ONCE()).
            unsafe {
                let data = addr_of_mut!((*mm).__bindgen_anon_1.data_vm);
                core::ptr::write_volatile(data, *data - pages);
            }
        }
        flags_mod(0, bindings::VM_WRITE);
        // SAFETY: The area is write-locked (`cr_vma_start_write`).
        unsafe { (*vma).vm_page_prot = bindings::vm_get_page_prot(v.flags()) };
    }
    Ok(())
}

/// Drops every signal pending for the caller and its process; `EINTR` (and
/// SIGKILL stays pending) when the process is being killed.
///
/// flush_signals() alone would drop a SIGKILL that arrived during the
/// restore while the group-exit flag it set stays, and the kernel discards
/// every later signal of a process in group exit (prepare_signal()): nothing
/// could kill it any more. A SIGKILL sent after this check stays pending.
pub(crate) fn flush_signals() -> Result {
    let t = Task::current_raw();
    let sig = signal();
    // Its `sighand` does not change while it is in the ioctl.
    // SAFETY: The calling thread's own queues and its process's, changed
    // under the siglock, taken here.
    let group_exit = unsafe {
        bindings::flush_signals(t);
        let lock = addr_of_mut!((*(*t).sighand).siglock);
        bindings::spin_lock_irq_disable(lock);
        let exit = (*sig).flags & bindings::SIGNAL_GROUP_EXIT != 0;
        if exit {
            // What complete_signal() gave this thread. The other threads keep
            // theirs: only this thread's queue and the process's were flushed.
            (*t).pending.signal.sig[0] |= 1 << (bindings::SIGKILL - 1);
            bindings::recalc_sigpending();
        }
        bindings::spin_unlock_irq_enable(lock);
        exit
    };
    if group_exit {
        return Err(EINTR);
    }
    // A periodic ITIMER_REAL (armed before the restore) is re-armed only when
    // its SIGALRM is dequeued: if one was dropped here, the timer would never
    // fire again. Not running and no SIGALRM pending: queue the SIGALRM it
    // fired.
    // A stale look only queues one SIGALRM too many or too few of a timer the
    // process itself rearms.
    // SAFETY: The caller's `signal_struct`; its timer is an initialized hrtimer.
    let lost = unsafe {
        let alrm = 1 << (bindings::SIGALRM - 1);
        (*sig).it_real_incr != 0
            && !bindings::hrtimer_active(&(*sig).real_timer)
            && (*sig).shared_pending.signal.sig[0] & alrm == 0
    };
    if lost {
        raise(bindings::SIGALRM)?;
    }
    Ok(())
}

/// A kernel copy of the caller's memory (kvmalloc), charged to the caller's
/// memory cgroup; freed when dropped.
///
/// A `KVVec` cannot be used: the kernel crate's allocation flags have no
/// `__GFP_NORETRY` (nor a way to make one), and without it a cgroup that
/// cannot hold the copy would OOM-kill one of its tasks.
///
/// # Invariants
///
/// `ptr` points to `len` initialized bytes of a kvmalloc allocation owned here.
pub(crate) struct UserCopy {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
}

impl UserCopy {
    /// Copies `len` bytes at user address `addr`: `EFAULT` if they cannot be
    /// read, `ENOMEM` if the caller's memory cgroup (or the machine) cannot
    /// hold them: never an OOM kill (`__GFP_NORETRY` makes the cgroup's
    /// charge fail instead).
    pub(crate) fn new(addr: u64, len: usize) -> Result<UserCopy> {
        let gfp = bindings::GFP_KERNEL_ACCOUNT | generated::CR_GFP_NORETRY | bindings::__GFP_NOWARN;
        // kvmalloc(): the entry the kernel crate's `KVmalloc` allocator uses,
        // with no old allocation.
        // SAFETY: Any size and flags may be asked for; NULL or a new allocation.
        let p = unsafe {
            bindings::kvrealloc_node_align(core::ptr::null(), len, 1, gfp, bindings::NUMA_NO_NODE)
        };
        let ptr = core::ptr::NonNull::new(p.cast::<u8>()).ok_or(ENOMEM)?;
        // SAFETY: A fresh allocation of `len` bytes, not yet initialized.
        let out = unsafe { core::slice::from_raw_parts_mut(p.cast(), len) };
        let user = UserSlice::new(UserPtr::from_addr(addr as usize), len);
        if let Err(e) = user.reader().read_raw(out) {
            // SAFETY: Allocated above and not kept.
            unsafe { bindings::kvfree(p) };
            return Err(e);
        }
        // INVARIANT: Just allocated, and `len` bytes copied into it.
        Ok(UserCopy { ptr, len })
    }
}

impl core::ops::Deref for UserCopy {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: By the type invariant, `ptr` holds `len` initialized bytes
        // that live as long as `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for UserCopy {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `ptr` is a kvmalloc allocation we own,
        // freed only here.
        unsafe { bindings::kvfree(self.ptr.as_ptr().cast()) };
    }
}

/// Where the caller's user address space ends.
pub(crate) fn task_size() -> u64 {
    // SAFETY: The caller's mm is valid; `task_size` is set at exec.
    unsafe { (*current_mm()).__bindgen_anon_1.task_size as u64 }
}

/// How many auxv words this kernel keeps for a process.
pub(crate) fn auxv_max_words() -> usize {
    bindings::AT_VECTOR_SIZE as usize
}

/// Moves the signals pending for the calling thread to its process's queue.
pub(crate) fn pending_to_shared() {
    let t = Task::current_raw();
    // The siginfos move as list_splice_tail_init() moves them.
    // SAFETY: The calling thread's queue and its process's, changed under
    // the siglock, taken here.
    unsafe {
        let shared = addr_of_mut!((*signal()).shared_pending);
        let mine = addr_of_mut!((*t).pending);
        let lock = addr_of_mut!((*(*t).sighand).siglock);
        bindings::spin_lock_irq_disable(lock);
        let (from, to) = (addr_of_mut!((*mine).list), addr_of_mut!((*shared).list));
        if (*from).next != from {
            let (first, last, at) = ((*from).next, (*from).prev, (*to).prev);
            (*first).prev = at;
            (*at).next = first;
            (*last).next = to;
            (*to).prev = last;
            (*from).next = from;
            (*from).prev = from;
        }
        (*shared).signal.sig[0] |= (*mine).signal.sig[0];
        (*mine).signal.sig[0] = 0;
        bindings::recalc_sigpending();
        bindings::spin_unlock_irq_enable(lock);
    }
}

/// Closes the caller's fd `fd` now, as close(2) does: its file is flushed
/// (POSIX locks go) and, if that was its last reference, released before
/// this returns, so the reader of a pipe's other end sees its end while the
/// caller still waits in the ioctl. (An fput() would leave the release to
/// the caller's way back to user space.) Never the fd of the ioctl's own
/// file (see [`CloseOnReturn`]): callers check that.
pub(crate) fn close_now(fd: i32) {
    let Ok(fd) = u32::try_from(fd) else {
        return;
    };
    // SAFETY: Takes fd `fd` out of the caller's own table, as close(2); the
    // table's reference to the file becomes ours.
    let f = unsafe { bindings::file_close_fd(fd) };
    if f.is_null() {
        return;
    }
    // The flush for the caller's table must not drop the last reference,
    // which __fput_sync() then drops in place, as close(2) does.
    // SAFETY: `f` holds our reference, and the one taken first for the flush.
    unsafe {
        bindings::get_file(f);
        bindings::filp_close(f, (*Task::current_raw()).files.cast());
        bindings::__fput_sync(f);
    }
}

/// Closes the caller's fds (-1: none) as it returns to user space, after
/// the ioctl has let go of its own file. In two steps: the memory first,
/// where a failure still changes nothing, then the queueing, which only a
/// dying thread fails. Queued work makes the thread's signal_pending() true until it
/// returns: nothing may wait interruptibly after [`Self::queue`].
pub(crate) struct CloseOnReturn(KBox<OnReturn>);

impl CloseOnReturn {
    pub(crate) fn new(fds: [i32; CLOSE_MAX]) -> Result<CloseOnReturn> {
        Ok(CloseOnReturn(OnReturn::new(None, fds)?))
    }

    pub(crate) fn queue(self) -> Result {
        OnReturn::add(self.0)
    }
}
