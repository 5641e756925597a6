/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C half of cr's sys layer: helpers.c. src/sys/ffi.rs declares the same
 * functions for Rust, and scripts/check-ffi (run by make check) compares the
 * two through bindgen. Each is documented in helpers.c.
 */
#ifndef CR_HELPERS_H
#define CR_HELPERS_H

#include <linux/types.h>

struct bio_vec;
struct mm_struct;
struct page;
struct pt_regs;
struct vm_area_struct;

void cr_cond_resched(void);
void cr_mmap_write_lock(struct mm_struct *mm);
int cr_mmap_write_lock_killable(struct mm_struct *mm);
void cr_mmap_write_unlock(struct mm_struct *mm);
unsigned long cr_pt_next(struct mm_struct *mm, unsigned long addr, unsigned long end,
			 unsigned long *chunk_end, unsigned long *bits, bool *huge);
bool cr_page_anon(struct page *page);
void cr_bvec_buf(struct bio_vec *bv, void *buf, unsigned int len);

void cr_vma_start_write(struct vm_area_struct *vma);
void cr_vm_flags_mod(struct vm_area_struct *vma, unsigned long set, unsigned long clear);
int cr_set_rseq(u64 rseq, u32 len, u32 sig);
struct pt_regs *cr_current_pt_regs(void);
unsigned int cr_user_gs_selector(void);
void cr_set_user_bases(u64 fs_base, u64 gs_base);

void cr_deputy_catch_signals(void);
int cr_deputy_next_signal(void);
bool cr_fatal_signal_pending(void);

#endif /* CR_HELPERS_H */
