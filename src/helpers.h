/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C half of cr's sys layer: helpers.c. src/sys/ffi.rs declares the same
 * functions for Rust; keep the two in step. Each is documented in helpers.c.
 */
#ifndef CR_HELPERS_H
#define CR_HELPERS_H

#include <linux/types.h>
#include <linux/cr.h>
#include <linux/cr_image.h>

struct bio_vec;
struct callback_head;
struct file;
struct mm_struct;
struct page;
struct pid_namespace;
struct task_struct;

int cr_nr_threads(struct task_struct *leader);
int cr_threads_get(struct task_struct *leader, struct task_struct **out, int max);
u32 cr_task_tid(struct task_struct *t, struct pid_namespace *ns);
struct pid_namespace *cr_current_pid_ns(void);
/* cr_task_facts() bits (sys/task.rs mirrors them). */
#define CR_TASK_KTHREAD		(1U << 0)
#define CR_TASK_CALLER		(1U << 1)
#define CR_TASK_LEADER_EXITING	(1U << 2)
#define CR_TASK_GROUP_EXITING	(1U << 3)
#define CR_TASK_THREADS		(1U << 4)
#define CR_TASK_STOPPED		(1U << 5)
u32 cr_task_facts(struct task_struct *leader);
bool cr_task_exiting(struct task_struct *t);
bool cr_capable_over(struct task_struct *t);
bool cr_task_killable(struct task_struct *t);
int cr_proof_check(struct file *f, struct mm_struct *mm);
void cr_process_get(struct task_struct *leader, struct pid_namespace *ns, struct cr_process *p);

void cr_thread_stop_work(struct callback_head *cb); /* in Rust */
int cr_task_work_queue(struct task_struct *t, struct callback_head *cb);

unsigned int cr_xstate_size(void);
int cr_capture_current(struct cr_thread *th, void *xstate, unsigned int xstate_size);

int cr_sighand_get(struct task_struct *t, struct cr_sighand *out);
int cr_sigpending_get(struct task_struct *t, bool shared, u64 *set,
		      struct cr_siginfo *out, int max);

void cr_mm_get(struct mm_struct *mm, struct cr_mm *out, u64 *auxv, unsigned int max_words);
u32 cr_mm_process_flags(struct mm_struct *mm);
bool cr_may_mlock(unsigned long pages);
int cr_populate(unsigned long start, unsigned long end);
void cr_set_mm_flags(u32 flags);
void cr_thp_pause(void);
int cr_fs_get(struct task_struct *t, struct cr_fs *out, char *buf, int len);
int cr_itimers_get(struct task_struct *t, struct cr_itimers *out);
long cr_pipe_peek(struct task_struct *t, unsigned int fd, void *buf, size_t len, u32 *capacity);
int cr_mm_exe_path(struct mm_struct *mm, char *buf, int len);
int cr_vma_get(struct mm_struct *mm, unsigned long addr, struct cr_vma *v,
	       char *path, int path_max);
unsigned long cr_pt_next(struct mm_struct *mm, unsigned long addr, unsigned long end,
			 unsigned long *chunk_end, unsigned long *bits);
long cr_pages_get(struct mm_struct *mm, unsigned long addr, unsigned long nr,
		  struct page **pages);
bool cr_page_anon(struct page *page);
void cr_page_put(struct page *page);
/* Room for a struct xxh64_state (checked in helpers.c), 8-byte aligned. */
#define CR_HASH_STATE_BYTES 96
void cr_hash_reset(void *state);
void cr_hash_update(void *state, const void *p, size_t len);
void cr_hash_page(void *state, struct page *page);
u64 cr_hash_digest(void *state);

void cr_bvec_page(struct bio_vec *bv, struct page *page);
void cr_bvec_buf(struct bio_vec *bv, void *buf, unsigned int len);
ssize_t cr_file_write_once(struct file *f, struct bio_vec *bv, unsigned int nr, size_t len,
			   size_t done);
ssize_t cr_file_write_buf_once(struct file *f, const void *buf, size_t len);
ssize_t cr_file_read_once(struct file *f, void *buf, size_t len);
int cr_file_writable(struct file *f);

/* What cr_fd_get() reports a process holds on an fd's file (not in images). */
#define CR_HELD_LOCK	(1U << 0)
#define CR_HELD_LEASE	(1U << 1)
int cr_task_child(struct task_struct *leader, struct pid_namespace *ns, u32 *pid);
bool cr_task_posix_timers(struct task_struct *leader);
unsigned long cr_task_locked_beyond_limit(struct task_struct *leader, struct mm_struct *mm);
u32 cr_task_sched_deadline(struct task_struct *leader, struct pid_namespace *ns);
bool cr_current_sem_undo(void);
int cr_fd_get(struct task_struct *t, unsigned int from, struct cr_fd *out,
	      char *path, int path_max, bool exact, u32 *held);

u32 cr_caller_threads(void);
unsigned long cr_caller_group(void);
bool cr_caller_dying(void);
bool cr_fd_is(int fd, struct file *file);
#define CR_CLOSE_MAX 3
int cr_close_on_return(const int *fds);
int cr_flush_signals(void);
void *cr_copy_in(u64 uaddr, size_t len);
void cr_kvfree(void *p);
u64 cr_caller_task_size(void);
u32 cr_auxv_max_words(void);
#define CR_SETTLE_DROP_WRITE	(1U << 0)
int cr_vma_settle(unsigned long addr, u32 image_flags, unsigned int how);
void cr_pending_to_shared(void);
bool cr_creds_are_callers(u32 uid, u32 euid, u32 gid, u32 egid);
bool cr_caller_may_restore_others(void);
int cr_specials_get(unsigned long *ranges, int max);
int cr_unmap_all(void);
long cr_mmap(struct file *f, unsigned long addr, unsigned long len, unsigned long prot,
	     unsigned long flags, unsigned long off);
int cr_write_mem(unsigned long addr, const void *buf, int len);
void cr_set_mm(const struct cr_mm *m, const u64 *auxv, unsigned int words);
void cr_set_sighand(const struct cr_sighand *s);
int cr_set_thread(const struct cr_thread *t);
int cr_queue_signal(const struct cr_siginfo *s);
int cr_raise(int sig);
void cr_set_umask(u32 umask);
int cr_set_xstate(const void *buf, unsigned int size);
int cr_set_regs(const struct cr_regs *r, u64 ax);
s64 cr_restart_sleep(int *clockid);
s64 cr_restart_futex(void);
s64 cr_restart_poll(void);
struct file *cr_open(const char *path, int flags);
int cr_file_same(struct file *f, u64 ino, u64 size, u64 mtime_ns);
u32 cr_caller_pid(void);

u64 cr_now_real_ns(void);
u64 cr_now_ns(void);
void cr_uts_get(char release[65], char node[65]);

#endif /* CR_HELPERS_H */
