// SPDX-License-Identifier: GPL-2.0

//! The calling process, as a restore rebuilds it: its mappings, memory,
//! mm fields, signal state, registers and FPU state.
//!
//! These act on `current`. The restore that calls them runs in the process
//! being replaced (the way BLCR restarts): the leader rebuilds the shared
//! state, each thread then sets its own.

use kernel::prelude::*;

use super::{errno, ffi, file::OpenFile};
use crate::uapi::{CrMm, CrRegs, CrSighand, CrSiginfo, CrThread};

/// How many threads the caller's process has.
pub(crate) fn threads() -> usize {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_caller_threads() as usize }
}

/// A key naming the caller's process (its thread group) while it lives.
pub(crate) fn group() -> usize {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_caller_group() as usize }
}

/// Whether the caller is being killed (a fatal signal is pending).
pub(crate) fn dying() -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_caller_dying() }
}

/// Whether the caller's fd `fd` is `file`.
pub(crate) fn fd_is(fd: i32, file: &kernel::fs::File) -> bool {
    // SAFETY: `file` is a valid file for the call; only its address is compared.
    unsafe { ffi::cr_fd_is(fd, file.as_ptr()) }
}

/// Whether these ids are the caller's own (real and effective uid and gid).
pub(crate) fn creds_are_callers(uid: u32, euid: u32, gid: u32, egid: u32) -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_creds_are_callers(uid, euid, gid, egid) }
}

/// Whether the caller may restore another user's process.
pub(crate) fn may_restore_others() -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_caller_may_restore_others() }
}

/// The caller's pid.
pub(crate) fn pid() -> u32 {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_caller_pid() }
}

/// The caller's special mappings ([vdso], [vvar], ...) as (start, end).
pub(crate) fn specials() -> KVec<(usize, usize)> {
    let mut ranges = [0usize; 16];
    // SAFETY: `ranges` has room for 8 pairs.
    let n = unsafe { ffi::cr_specials_get(ranges.as_mut_ptr(), 8) }.max(0) as usize;
    let mut v = KVec::new();
    for i in 0..n {
        // At most 8 small items: an allocation failure just shortens the list,
        // which the caller's comparison then refuses.
        let _ = v.push((ranges[2 * i], ranges[2 * i + 1]), GFP_KERNEL_ACCOUNT);
    }
    v
}

/// Unmaps every mapping of the caller except the special ones.
pub(crate) fn unmap_all() -> Result {
    // SAFETY: No preconditions; acts on the caller's own address space.
    errno(unsafe { ffi::cr_unmap_all() }).map(|_| ())
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
    // SAFETY: `f` is NULL or a file we hold a reference on; `vm_mmap` checks
    // every other argument.
    let ret = unsafe { ffi::cr_mmap(f, addr, len, prot as usize, flags as usize, off as usize) };
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
    pub(crate) const PROT_WRITE: u32 = 0x2;
    pub(crate) const MAP_SHARED: u32 = 0x01;
    pub(crate) const MAP_PRIVATE: u32 = 0x02;
    pub(crate) const MAP_FIXED: u32 = 0x10;
    pub(crate) const MAP_ANONYMOUS: u32 = 0x20;
    pub(crate) const MAP_GROWSDOWN: u32 = 0x0100;
    pub(crate) const MAP_NORESERVE: u32 = 0x4000;
}

/// Writes `data` into the caller's memory at `addr`, whatever the mapping's
/// protection.
pub(crate) fn write_mem(addr: usize, data: &[u8]) -> Result {
    let len = i32::try_from(data.len()).map_err(|_| EINVAL)?;
    // SAFETY: `data` is readable for `len` bytes.
    errno(unsafe { ffi::cr_write_mem(addr, data.as_ptr().cast(), len) }).map(|_| ())
}

/// Sets the mm-wide fields and the saved auxv.
pub(crate) fn set_mm(m: &CrMm, auxv: &[u64]) {
    let words = u32::try_from(auxv.len()).unwrap_or(0);
    // SAFETY: `m` is a valid `struct cr_mm`; `auxv` holds `words` words.
    unsafe { ffi::cr_set_mm(m, auxv.as_ptr(), words) };
}

/// Sets the signal dispositions (SIGKILL and SIGSTOP stay default).
pub(crate) fn set_sighand(s: &CrSighand) {
    // SAFETY: `s` is a valid `struct cr_sighand`.
    unsafe { ffi::cr_set_sighand(s) };
}

/// Sets the calling thread's mask, altstack, tid and robust-list pointers
/// and name.
pub(crate) fn set_thread(t: &CrThread) -> Result {
    // SAFETY: `t` is a valid `struct cr_thread`.
    errno(unsafe { ffi::cr_set_thread(t) }).map(|_| ())
}

/// Queues `s` for the calling thread.
pub(crate) fn queue_signal(s: &CrSiginfo) -> Result {
    // SAFETY: `s` is a valid `struct cr_siginfo`.
    errno(unsafe { ffi::cr_queue_signal(s) }).map(|_| ())
}

/// Raises `sig` for the calling thread (SIGKILL ends it).
pub(crate) fn raise(sig: u32) -> Result {
    // SAFETY: `send_sig_info` checks `sig`.
    errno(unsafe { ffi::cr_raise(sig as i32) }).map(|_| ())
}

/// Whether the caller may lock `pages` pages of memory (CAP_IPC_LOCK, or
/// within RLIMIT_MEMLOCK), as mlock() judges it.
pub(crate) fn may_mlock(pages: u64) -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_may_mlock(pages as c_ulong) }
}

/// Faults in every page of the caller's area `[start, end)`, as mlock()
/// populates a locked one.
pub(crate) fn populate(start: usize, end: usize) -> Result {
    // SAFETY: Acts on the caller's own mm; any range is accepted (`EFAULT`
    // where nothing is mapped).
    errno(unsafe { ffi::cr_populate(start as c_ulong, end as c_ulong) }).map(|_| ())
}

/// Disables transparent huge pages for the caller's mm until
/// [`set_mm_flags`] sets the image's setting.
pub(crate) fn pause_thp() {
    // SAFETY: Acts on the caller's own mm.
    unsafe { ffi::cr_thp_pause() };
}

/// Sets the THP and MDWE settings of `flags` (`CR_PROCESS_*`) on the caller's
/// mm, once its areas and pages are rebuilt.
pub(crate) fn set_mm_flags(flags: u32) {
    // SAFETY: Acts on the caller's own mm; any flags are accepted.
    unsafe { ffi::cr_set_mm_flags(flags) };
}

/// Sets the umask.
pub(crate) fn set_umask(umask: u32) {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_set_umask(umask) };
}

/// Loads xsave state into the calling thread; `ENOEXEC` when this CPU's
/// layout differs, `EINVAL` for state the CPU cannot hold.
pub(crate) fn set_xstate(xstate: &[u8]) -> Result {
    let size = u32::try_from(xstate.len()).map_err(|_| EINVAL)?;
    // SAFETY: `xstate` is readable for `size` bytes.
    errno(unsafe { ffi::cr_set_xstate(xstate.as_ptr().cast(), size) }).map(|_| ())
}

/// Sets the calling thread's registers for its return to user space, ax to
/// `ax` on the way out (the system call's return value, an int, would
/// overwrite and truncate it), so the ioctl's own return value is ignored.
pub(crate) fn set_regs(r: &CrRegs, ax: u64) -> Result {
    // SAFETY: `r` is a valid `struct cr_regs`.
    errno(unsafe { ffi::cr_set_regs(r, ax) }).map(|_| ())
}

/// `CR_SETTLE_DROP_WRITE` of helpers.h.
const SETTLE_DROP_WRITE: u32 = 1 << 0;

/// Settles the caller's just-mapped, still empty area at `addr` into what the
/// image's was: its madvise flags (huge pages, fork, core dump, read-ahead) and
/// soft-dirty flag, as `madvise` would set them; with `drop_write`, without
/// the write permission it was mapped with (for its commit charge, as the
/// original had it before an mprotect). `EBUSY` if it has pages.
pub(crate) fn settle_area(addr: usize, image_flags: u32, drop_write: bool) -> Result {
    let how = if drop_write { SETTLE_DROP_WRITE } else { 0 };
    // SAFETY: Acts on the caller's own mm under its mmap lock; any address is
    // accepted (`EFAULT` when no area starts there).
    errno(unsafe { ffi::cr_vma_settle(addr as c_ulong, image_flags, how) }).map(|_| ())
}

/// Drops every signal pending for the caller and its process; `EINTR` (and
/// SIGKILL stays pending) when the process is being killed.
pub(crate) fn flush_signals() -> Result {
    // SAFETY: No preconditions.
    errno(unsafe { ffi::cr_flush_signals() }).map(|_| ())
}

/// A kernel copy of the caller's memory (kvmalloc), charged to the caller's
/// memory cgroup; freed when dropped.
///
/// # Invariants
///
/// `ptr` points to `len` initialized bytes from `cr_copy_in`, owned here.
pub(crate) struct UserCopy {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
}

impl UserCopy {
    /// Copies `len` bytes at user address `addr`: `EFAULT` if they cannot be
    /// read, `ENOMEM` if the caller's memory cgroup (or the machine) cannot
    /// hold them: never an OOM kill.
    pub(crate) fn new(addr: u64, len: usize) -> Result<UserCopy> {
        // SAFETY: Any address and length may be passed: the helper checks
        // the user range and returns a copy it allocated, or an ERR_PTR.
        let p = unsafe { ffi::cr_copy_in(addr, len) };
        // SAFETY: Any pointer may be tested.
        if unsafe { kernel::bindings::IS_ERR(p) } {
            // SAFETY: `p` is an ERR_PTR.
            return Err(Error::from_errno(
                unsafe { kernel::bindings::PTR_ERR(p) } as i32
            ));
        }
        let ptr = core::ptr::NonNull::new(p.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: `cr_copy_in` returned `len` initialized bytes we own.
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
        // SAFETY: By the type invariant, `ptr` came from `cr_copy_in` and is
        // freed only here.
        unsafe { ffi::cr_kvfree(self.ptr.as_ptr().cast()) };
    }
}

/// Where the caller's user address space ends.
pub(crate) fn task_size() -> u64 {
    // SAFETY: No preconditions (a restore's caller has an mm).
    unsafe { ffi::cr_caller_task_size() }
}

/// How many auxv words this kernel keeps for a process.
pub(crate) fn auxv_max_words() -> usize {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_auxv_max_words() as usize }
}

/// Moves the signals pending for the calling thread to its process's queue.
pub(crate) fn pending_to_shared() {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_pending_to_shared() };
}

/// Closes the caller's fds `fds` (-1: none) as it returns to user space,
/// after the ioctl has let go of its own file.
pub(crate) fn close_on_return(fds: [i32; 3]) -> Result {
    // SAFETY: `fds` holds the 3 (`CR_CLOSE_MAX`) ints the helper reads.
    errno(unsafe { ffi::cr_close_on_return(fds.as_ptr()) }).map(|_| ())
}
