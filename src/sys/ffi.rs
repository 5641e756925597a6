// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers (`src/helpers.h`, documented in
//! `src/helpers.c`) and of the exported kernel functions cr calls that the
//! kernel crate's bindings do not declare. `scripts/check-ffi` (run by `make
//! check`) reads helpers.h with bindgen and fails on any declaration here
//! that differs from it.

use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

use kernel::bindings;

use crate::uapi::CrRegs;

// bindgen's kernel structs hold zero-sized placeholders for configured-out
// members, which this lint flags; only pointers to them cross this boundary,
// as in the kernel crate's own bindings.
#[expect(improper_ctypes)]
extern "C" {
    /// lib/xxhash.c (exported; the bindings do not declare it). `state` is
    /// a `struct xxh64_state`.
    pub(super) fn xxh64_reset(state: *mut c_void, seed: u64);
    pub(super) fn xxh64_update(state: *mut c_void, input: *const c_void, len: usize) -> c_int;
    pub(super) fn xxh64_digest(state: *const c_void) -> u64;

    /// mm/shmem.c: whether `mapping` is tmpfs/shmem memory (exported; the
    /// bindings do not declare it).
    pub(super) fn shmem_mapping(mapping: *const bindings::address_space) -> bool;

    pub(super) fn cr_task_umask(t: *mut bindings::task_struct) -> u32;
    pub(super) fn cr_cond_resched();
    pub(super) fn cr_mmap_write_lock(mm: *mut bindings::mm_struct);
    pub(super) fn cr_mmap_write_unlock(mm: *mut bindings::mm_struct);
    pub(super) fn cr_capable_over(t: *mut bindings::task_struct) -> bool;

    pub(super) fn cr_xstate_size() -> c_uint;
    pub(super) fn cr_capture_regs(r: *mut CrRegs, xstate: *mut c_void, size: c_uint) -> c_int;

    pub(super) fn cr_task_fs_paths(
        t: *mut bindings::task_struct,
        pwd: *mut bindings::path,
        root: *mut bindings::path,
    ) -> c_int;
    pub(super) fn cr_pipe_peek(
        t: *mut bindings::task_struct,
        fd: c_uint,
        buf: *mut c_void,
        len: usize,
        capacity: *mut u32,
    ) -> c_long;
    pub(super) fn cr_pt_next(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
        end: c_ulong,
        chunk_end: *mut c_ulong,
        bits: *mut c_ulong,
    ) -> c_ulong;
    pub(super) fn cr_page_anon(page: *mut bindings::page) -> bool;

    pub(super) fn cr_bvec_buf(bv: *mut bindings::bio_vec, buf: *mut c_void, len: c_uint);
    pub(super) fn cr_file_ppos(f: *mut bindings::file) -> *mut bindings::loff_t;
    pub(super) fn cr_file_writable(f: *mut bindings::file) -> c_int;

    pub(super) fn cr_fd_holds(
        t: *mut bindings::task_struct,
        fd: c_uint,
        f: *mut bindings::file,
        shared: bool,
    ) -> u32;
    pub(super) fn cr_current_sem_undo() -> bool;

    pub(super) fn cr_copy_in(uaddr: u64, len: usize) -> *mut c_void;
    pub(super) fn cr_kvfree(p: *mut c_void);
    pub(super) fn cr_vma_settle(addr: c_ulong, want: c_ulong, mask: c_ulong, how: c_uint) -> c_int;
    pub(super) fn cr_set_rseq(rseq: u64, len: u32, sig: u32) -> c_int;
    pub(super) fn cr_set_umask(umask: u32);
    pub(super) fn cr_set_xstate(buf: *const c_void, size: c_uint) -> c_int;
    pub(super) static cr_user_eflags: c_ulong;
    pub(super) fn cr_current_pt_regs() -> *mut bindings::pt_regs;
    pub(super) fn cr_user_gs_selector() -> c_uint;
    pub(super) fn cr_set_user_bases(fs_base: u64, gs_base: u64);

    pub(super) fn cr_uts_get(release: *mut c_char, node: *mut c_char);
}
