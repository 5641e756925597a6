// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers (`src/helpers.h`, documented in
//! `src/helpers.c`) and of the exported kernel functions cr calls that the
//! kernel crate's bindings do not declare.

use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

use kernel::bindings;

use crate::uapi::{
    CrFd, CrFs, CrItimers, CrMm, CrProcess, CrRegs, CrSighand, CrSiginfo, CrThread, CrVma,
};

// bindgen's kernel structs hold zero-sized placeholders for configured-out
// members, which this lint flags; only pointers to them cross this boundary,
// as in the kernel crate's own bindings.
#[expect(improper_ctypes)]
extern "C" {
    pub(super) fn cr_nr_threads(leader: *mut bindings::task_struct) -> c_int;
    pub(super) fn cr_threads_get(
        leader: *mut bindings::task_struct,
        out: *mut *mut bindings::task_struct,
        max: c_int,
    ) -> c_int;
    pub(super) fn cr_task_tid(
        t: *mut bindings::task_struct,
        ns: *mut bindings::pid_namespace,
    ) -> u32;
    pub(super) fn cr_current_pid_ns() -> *mut bindings::pid_namespace;
    pub(super) fn cr_task_facts(leader: *mut bindings::task_struct) -> u32;
    pub(super) fn cr_task_exiting(t: *mut bindings::task_struct) -> bool;
    pub(super) fn cr_capable_over(t: *mut bindings::task_struct) -> bool;
    pub(super) fn cr_task_killable(t: *mut bindings::task_struct) -> bool;
    pub(super) fn cr_proof_check(f: *mut bindings::file, mm: *mut bindings::mm_struct) -> c_int;
    pub(super) fn cr_process_get(
        leader: *mut bindings::task_struct,
        ns: *mut bindings::pid_namespace,
        p: *mut CrProcess,
    );

    pub(super) fn cr_task_work_queue(
        t: *mut bindings::task_struct,
        cb: *mut bindings::callback_head,
    ) -> c_int;

    pub(super) fn cr_xstate_size() -> c_uint;
    pub(super) fn cr_capture_current(th: *mut CrThread, xstate: *mut c_void, size: c_uint)
        -> c_int;

    pub(super) fn cr_sighand_get(t: *mut bindings::task_struct, out: *mut CrSighand) -> c_int;
    pub(super) fn cr_sigpending_get(
        t: *mut bindings::task_struct,
        shared: bool,
        set: *mut u64,
        out: *mut CrSiginfo,
        max: c_int,
    ) -> c_int;

    pub(super) fn cr_mm_get(
        mm: *mut bindings::mm_struct,
        out: *mut CrMm,
        auxv: *mut u64,
        max: c_uint,
    );
    pub(super) fn cr_fs_get(
        t: *mut bindings::task_struct,
        out: *mut CrFs,
        buf: *mut c_char,
        len: c_int,
    ) -> c_int;
    pub(super) fn cr_itimers_get(t: *mut bindings::task_struct, out: *mut CrItimers) -> c_int;
    pub(super) fn cr_pipe_peek(
        t: *mut bindings::task_struct,
        fd: c_uint,
        buf: *mut c_void,
        len: usize,
        capacity: *mut u32,
    ) -> c_long;
    pub(super) fn cr_mm_exe_path(
        mm: *mut bindings::mm_struct,
        buf: *mut c_char,
        len: c_int,
    ) -> c_int;
    pub(super) fn cr_vma_get(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
        v: *mut CrVma,
        path: *mut c_char,
        path_max: c_int,
    ) -> c_int;
    pub(super) fn cr_pt_next(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
        end: c_ulong,
        chunk_end: *mut c_ulong,
        bits: *mut c_ulong,
    ) -> c_ulong;
    pub(super) fn cr_pages_get(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
        nr: c_ulong,
        pages: *mut *mut bindings::page,
    ) -> c_long;
    pub(super) fn cr_page_anon(page: *mut bindings::page) -> bool;
    pub(super) fn cr_page_put(page: *mut bindings::page);
    pub(super) fn cr_hash_reset(state: *mut c_void);
    pub(super) fn cr_hash_update(state: *mut c_void, p: *const c_void, len: usize);
    pub(super) fn cr_hash_page(state: *mut c_void, page: *mut bindings::page);
    pub(super) fn cr_hash_digest(state: *mut c_void) -> u64;

    pub(super) fn cr_bvec_page(bv: *mut bindings::bio_vec, page: *mut bindings::page);
    pub(super) fn cr_bvec_buf(bv: *mut bindings::bio_vec, buf: *mut c_void, len: c_uint);
    pub(super) fn cr_file_write_once(
        f: *mut bindings::file,
        bv: *mut bindings::bio_vec,
        nr: c_uint,
        len: usize,
        done: usize,
    ) -> isize;
    pub(super) fn cr_file_write_buf_once(
        f: *mut bindings::file,
        buf: *const c_void,
        len: usize,
    ) -> isize;
    pub(super) fn cr_file_writable(f: *mut bindings::file) -> c_int;

    pub(super) fn cr_fd_get(
        t: *mut bindings::task_struct,
        from: c_uint,
        out: *mut CrFd,
        path: *mut c_char,
        path_max: c_int,
        exact: bool,
        held: *mut u32,
    ) -> c_int;
    pub(super) fn cr_task_child(
        leader: *mut bindings::task_struct,
        ns: *mut bindings::pid_namespace,
        pid: *mut u32,
    ) -> c_int;
    pub(super) fn cr_task_posix_timers(leader: *mut bindings::task_struct) -> bool;
    pub(super) fn cr_task_locked_beyond_limit(
        leader: *mut bindings::task_struct,
        mm: *mut bindings::mm_struct,
    ) -> c_ulong;
    pub(super) fn cr_task_sched_deadline(
        leader: *mut bindings::task_struct,
        ns: *mut bindings::pid_namespace,
    ) -> u32;
    pub(super) fn cr_mm_process_flags(mm: *mut bindings::mm_struct) -> u32;
    pub(super) fn cr_may_mlock(pages: c_ulong) -> bool;
    pub(super) fn cr_populate(start: c_ulong, end: c_ulong) -> c_int;
    pub(super) fn cr_set_mm_flags(flags: u32);
    pub(super) fn cr_thp_pause();
    pub(super) fn cr_current_sem_undo() -> bool;

    pub(super) fn cr_caller_threads() -> u32;
    pub(super) fn cr_caller_group() -> c_ulong;
    pub(super) fn cr_caller_dying() -> bool;
    pub(super) fn cr_fd_is(fd: c_int, file: *mut bindings::file) -> bool;
    pub(super) fn cr_close_on_return(fds: *const c_int) -> c_int;
    pub(super) fn cr_flush_signals() -> c_int;
    pub(super) fn cr_copy_in(uaddr: u64, len: usize) -> *mut c_void;
    pub(super) fn cr_kvfree(p: *mut c_void);
    pub(super) fn cr_caller_task_size() -> u64;
    pub(super) fn cr_auxv_max_words() -> u32;
    pub(super) fn cr_vma_settle(addr: c_ulong, image_flags: u32, how: c_uint) -> c_int;
    pub(super) fn cr_pending_to_shared();
    pub(super) fn cr_creds_are_callers(uid: u32, euid: u32, gid: u32, egid: u32) -> bool;
    pub(super) fn cr_caller_may_restore_others() -> bool;
    pub(super) fn cr_specials_get(ranges: *mut c_ulong, max: c_int) -> c_int;
    pub(super) fn cr_unmap_all() -> c_int;
    pub(super) fn cr_mmap(
        f: *mut bindings::file,
        addr: c_ulong,
        len: c_ulong,
        prot: c_ulong,
        flags: c_ulong,
        off: c_ulong,
    ) -> c_long;
    pub(super) fn cr_write_mem(addr: c_ulong, buf: *const c_void, len: c_int) -> c_int;
    pub(super) fn cr_set_mm(m: *const CrMm, auxv: *const u64, words: c_uint);
    pub(super) fn cr_set_sighand(s: *const CrSighand);
    pub(super) fn cr_set_thread(t: *const CrThread) -> c_int;
    pub(super) fn cr_queue_signal(s: *const CrSiginfo) -> c_int;
    pub(super) fn cr_raise(sig: c_int) -> c_int;
    pub(super) fn cr_set_umask(umask: u32);
    pub(super) fn cr_set_xstate(buf: *const c_void, size: c_uint) -> c_int;
    pub(super) fn cr_set_regs(r: *const CrRegs, ax: u64) -> c_int;
    pub(super) fn cr_restart_sleep(clockid: *mut c_int) -> i64;
    pub(super) fn cr_restart_futex() -> i64;
    pub(super) fn cr_restart_poll() -> i64;
    pub(super) fn cr_file_read_once(f: *mut bindings::file, buf: *mut c_void, len: usize) -> isize;
    pub(super) fn cr_open(path: *const c_char, flags: c_int) -> *mut bindings::file;
    pub(super) fn cr_file_same(f: *mut bindings::file, ino: u64, size: u64, mtime_ns: u64)
        -> c_int;
    pub(super) fn cr_caller_pid() -> u32;

    pub(super) fn cr_now_real_ns() -> u64;
    pub(super) fn cr_now_ns() -> u64;
    pub(super) fn cr_uts_get(release: *mut c_char, node: *mut c_char);
}
