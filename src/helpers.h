/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C half of cr's sys layer: helpers.c. src/sys/ffi.rs declares the same
 * functions for Rust, and scripts/check-ffi (run by make check) compares the
 * two through bindgen. Each is documented in helpers.c.
 */
#ifndef CR_HELPERS_H
#define CR_HELPERS_H

#include <linux/types.h>
#include <linux/cr.h>
#include <linux/cr_image.h>

struct bio_vec;
struct file;
struct mm_struct;
struct page;
struct path;
struct pid_namespace;
struct pt_regs;
struct task_struct;

u32 cr_task_umask(struct task_struct *t);
void cr_cond_resched(void);
void cr_mmap_write_lock(struct mm_struct *mm);
void cr_mmap_write_unlock(struct mm_struct *mm);
bool cr_capable_over(struct task_struct *t);


unsigned int cr_xstate_size(void);
int cr_capture_regs(struct cr_regs *r, void *xstate, unsigned int xstate_size);


int cr_task_fs_paths(struct task_struct *t, struct path *pwd, struct path *root);
long cr_pipe_peek(struct task_struct *t, unsigned int fd, void *buf, size_t len, u32 *capacity);
unsigned long cr_pt_next(struct mm_struct *mm, unsigned long addr, unsigned long end,
			 unsigned long *chunk_end, unsigned long *bits);
bool cr_page_anon(struct page *page);
/* Room for a struct xxh64_state (checked in helpers.c), 8-byte aligned. */
#define CR_HASH_STATE_BYTES 96

void cr_bvec_buf(struct bio_vec *bv, void *buf, unsigned int len);
loff_t *cr_file_ppos(struct file *f);
int cr_file_writable(struct file *f);

/* What cr_fd_get() reports a process holds on an fd's file (not in images). */
#define CR_HELD_LOCK	(1U << 0)
#define CR_HELD_LEASE	(1U << 1)
#define CR_FD_HOLDS_CLOEXEC	(1U << 2)
#define CR_FD_HOLDS_SHARED	(1U << 3)
bool cr_current_sem_undo(void);
u32 cr_fd_holds(struct task_struct *t, unsigned int fd, struct file *f, bool shared);

void *cr_copy_in(u64 uaddr, size_t len);
void cr_kvfree(void *p);
#define CR_SETTLE_DROP_WRITE	(1U << 0)
#define CR_SETTLE_MERGEABLE	(1U << 1)
#define CR_SETTLE_LOCK		(1U << 2)
#define CR_SETTLE_LOCKONFAULT	(1U << 3)
int cr_vma_settle(unsigned long addr, unsigned long want, unsigned long mask, unsigned int how);
int cr_set_rseq(u64 rseq, u32 len, u32 sig);
void cr_set_umask(u32 umask);
int cr_set_xstate(const void *buf, unsigned int size);
extern const unsigned long cr_user_eflags;
struct pt_regs *cr_current_pt_regs(void);
unsigned int cr_user_gs_selector(void);
void cr_set_user_bases(u64 fs_base, u64 gs_base);

void cr_uts_get(char release[65], char node[65]);

#endif /* CR_HELPERS_H */
