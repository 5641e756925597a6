// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers (`src/helpers.h`, documented in
//! `src/helpers.c`). `scripts/check-ffi` (run by `make check`) reads
//! helpers.h with bindgen and fails on any declaration here that differs
//! from it. (The exported kernel functions the kernel crate's bindings do not
//! declare come from bindgen too: `super::generated`.)

use kernel::ffi::{c_int, c_uint, c_ulong, c_void};

use kernel::bindings;

// bindgen's kernel structs hold zero-sized placeholders for configured-out
// members, which this lint flags; only pointers to them cross this boundary,
// as in the kernel crate's own bindings.
#[expect(improper_ctypes)]
extern "C" {
    pub(super) fn cr_cond_resched();
    pub(super) fn cr_mmap_write_lock(mm: *mut bindings::mm_struct);
    pub(super) fn cr_mmap_write_lock_killable(mm: *mut bindings::mm_struct) -> c_int;
    pub(super) fn cr_mmap_write_unlock(mm: *mut bindings::mm_struct);

    pub(super) fn cr_pt_next(
        mm: *mut bindings::mm_struct,
        addr: c_ulong,
        end: c_ulong,
        chunk_end: *mut c_ulong,
        bits: *mut c_ulong,
        huge: *mut bool,
    ) -> c_ulong;
    pub(super) fn cr_page_anon(page: *mut bindings::page) -> bool;

    pub(super) fn cr_bvec_buf(bv: *mut bindings::bio_vec, buf: *mut c_void, len: c_uint);

    pub(super) fn cr_vma_start_write(vma: *mut bindings::vm_area_struct);
    pub(super) fn cr_vm_flags_mod(vma: *mut bindings::vm_area_struct, set: c_ulong, clear: c_ulong);
    pub(super) fn cr_set_rseq(rseq: u64, len: u32, sig: u32) -> c_int;
    pub(super) fn cr_current_pt_regs() -> *mut bindings::pt_regs;
    pub(super) fn cr_user_gs_selector() -> c_uint;
    pub(super) fn cr_set_user_bases(fs_base: u64, gs_base: u64);

    pub(super) fn cr_deputy_catch_signals();
    pub(super) fn cr_deputy_next_signal() -> c_int;
    pub(super) fn cr_fatal_signal_pending() -> bool;
}
