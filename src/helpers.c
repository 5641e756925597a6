// SPDX-License-Identifier: GPL-2.0
/*
 * cr: the C half of the sys layer.
 *
 * Small functions for what the Rust side cannot reach: static inlines and
 * macros of the C headers (thread lists, page tables, regsets, signal queues,
 * task_work). Each is wrapped by exactly one safe function in src/sys/, and
 * nothing else calls them. They take and return plain values and the UAPI
 * structs of include/uapi/linux/cr.h.
 */

#include <linux/bvec.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/elf.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/filelock.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/futex.h>
#include <linux/highmem.h>
#include <linux/mmap_lock.h>
#include <linux/magic.h>
#include <linux/major.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/pid_namespace.h>
#include <linux/hrtimer.h>
#include <linux/ksm.h>
#include <linux/posix-timers.h>
#include <linux/pipe_fs_i.h>
#include <linux/regset.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/sched/exec_state.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/shmem_fs.h>
#include <linux/signal.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/uio.h>
#include <asm/fpu/api.h>
#include <asm/sighandling.h>
#include <asm/unistd.h>
#include <linux/utsname.h>
#include <linux/xxhash.h>
#include <linux/cr.h>
#include <linux/cr_image.h>

#include "helpers.h"

static_assert(sizeof(struct cr_regs) == sizeof(struct user_regs_struct));
static_assert(sizeof(((struct cr_siginfo *)0)->info) >= sizeof(kernel_siginfo_t));
static_assert(PTRS_PER_PTE == 512);

/* --- threads and processes ------------------------------------------------ */

/* Threads in @leader's group now (they may come and go). */
int cr_nr_threads(struct task_struct *leader)
{
	return get_nr_threads(leader);
}

/*
 * Takes a reference on each thread of @leader's group and stores it in @out.
 * Returns how many, or -E2BIG (no references kept) when there are more than
 * @max.
 */
int cr_threads_get(struct task_struct *leader, struct task_struct **out, int max)
{
	struct task_struct *t;
	int n = 0, i;

	rcu_read_lock();
	for_each_thread(leader, t) {
		if (n == max) {
			rcu_read_unlock();
			for (i = 0; i < n; i++)
				put_task_struct(out[i]);
			return -E2BIG;
		}
		get_task_struct(t);
		out[n++] = t;
	}
	rcu_read_unlock();
	return n;
}

/* @t's thread id in @ns (0 if it has none there). */
u32 cr_task_tid(struct task_struct *t, struct pid_namespace *ns)
{
	return task_pid_nr_ns(t, ns);
}

/* The pid namespace the caller sees pids in. */
struct pid_namespace *cr_current_pid_ns(void)
{
	return task_active_pid_ns(current);
}

/*
 * What the checkpoint's rules look at in @leader's process (CR_TASK_*;
 * sys/task.rs decides): a kernel thread, the caller's own process, a leader
 * exiting, the whole group exiting, more than one thread, a thread stopped or
 * traced.
 */
u32 cr_task_facts(struct task_struct *leader)
{
	struct task_struct *t;
	u32 f = 0;

	if (leader->flags & PF_KTHREAD)
		f |= CR_TASK_KTHREAD;
	if (same_thread_group(leader, current))
		f |= CR_TASK_CALLER;
	if (leader->flags & PF_EXITING || leader->exit_state)
		f |= CR_TASK_LEADER_EXITING;
	if (READ_ONCE(leader->signal->flags) & SIGNAL_GROUP_EXIT)
		f |= CR_TASK_GROUP_EXITING;
	if (get_nr_threads(leader) > 1)
		f |= CR_TASK_THREADS;
	rcu_read_lock();
	for_each_thread(leader, t) {
		unsigned int state = READ_ONCE(t->__state);

		if (t->ptrace || state & (__TASK_STOPPED | __TASK_TRACED)) {
			f |= CR_TASK_STOPPED;
			break;
		}
	}
	rcu_read_unlock();
	return f;
}

bool cr_task_exiting(struct task_struct *t)
{
	return t->flags & PF_EXITING;
}

static bool cr_ns_capable(struct user_namespace *ns)
{
	return ns_capable(ns, CAP_CHECKPOINT_RESTORE) || ns_capable(ns, CAP_SYS_ADMIN);
}

/*
 * Does the caller hold CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over @t, in
 * the namespaces where ptrace_may_access() asks for CAP_SYS_PTRACE
 * (kernel/ptrace.c, __ptrace_may_access() and task_still_dumpable()): the
 * user namespace of @t's credentials and, when @t is not owner-dumpable (a
 * setuid or unreadable binary, PR_SET_DUMPABLE 0), also the user namespace of
 * its exec state, which is the namespace that owns the binary. The
 * capability in a namespace a user created is no power over what the
 * namespace's owner did not give it.
 */
bool cr_capable_over(struct task_struct *t)
{
	const struct task_exec_state *es;
	bool ok;

	/* As ptrace_may_access(): under task_lock, which also keeps exec_state. */
	task_lock(t);
	rcu_read_lock();
	ok = cr_ns_capable(__task_cred(t)->user_ns);
	/* Pairs with commit_creds(): dumpability is read after the creds. */
	smp_rmb();
	es = rcu_dereference(t->exec_state);
	if (ok && (!es || READ_ONCE(es->dumpable) != TASK_DUMPABLE_OWNER))
		ok = es && cr_ns_capable(es->user_ns);
	rcu_read_unlock();
	task_unlock(t);
	return ok;
}

/*
 * Whether cr may end @t's process with SIGKILL on the caller's behalf: not a
 * kernel thread, not the system's init (ending it panics the kernel), and not
 * the init of a pid namespace the caller lives in (a SIGKILL from inside its
 * namespace is ignored: sig_task_ignored()). From an ancestor namespace a
 * namespace's init can be ended, as kill(2) can.
 */
bool cr_task_killable(struct task_struct *t)
{
	if ((t->flags & PF_KTHREAD) || is_global_init(t))
		return false;
	return !(t->signal->flags & SIGNAL_UNKILLABLE) ||
	       !task_pid_nr_ns(current, task_active_pid_ns(t));
}

/*
 * Is @f an open /proc/<pid>/mem (or /proc/<pid>/task/<tid>/mem) of the address
 * space @mm? Opening that file ran ptrace_may_access(PTRACE_MODE_ATTACH), LSMs
 * included, and stored the mm in private_data. No other procfs file is named
 * "mem" and keeps an mm there (environ and auxv keep one but have other names).
 */
int cr_proof_check(struct file *f, struct mm_struct *mm)
{
	if (file_inode(f)->i_sb->s_magic != PROC_SUPER_MAGIC ||
	    strcmp(f->f_path.dentry->d_name.name, "mem"))
		return -EINVAL;
	if (f->private_data != mm)
		return -EPERM;
	return 0;
}

/* The process-wide part of the image. The caller fills nr_threads. */
void cr_process_get(struct task_struct *leader, struct pid_namespace *ns,
		    struct cr_process *p)
{
	struct user_namespace *uns = current_user_ns();
	const struct cred *cred;
	int i;

	memset(p, 0, sizeof(*p));
	rcu_read_lock();
	p->pid = task_tgid_nr_ns(leader, ns);
	p->ppid = task_tgid_nr_ns(rcu_dereference(leader->real_parent), ns);
	p->pgid = task_pgrp_nr_ns(leader, ns);
	p->sid = task_session_nr_ns(leader, ns);
	cred = __task_cred(leader);
	p->uid = from_kuid_munged(uns, cred->uid);
	p->euid = from_kuid_munged(uns, cred->euid);
	p->suid = from_kuid_munged(uns, cred->suid);
	p->fsuid = from_kuid_munged(uns, cred->fsuid);
	p->gid = from_kgid_munged(uns, cred->gid);
	p->egid = from_kgid_munged(uns, cred->egid);
	p->sgid = from_kgid_munged(uns, cred->sgid);
	p->fsgid = from_kgid_munged(uns, cred->fsgid);
	rcu_read_unlock();

	task_lock(leader);
	p->umask = leader->fs ? leader->fs->umask : 0;
	task_unlock(leader);
	p->personality = leader->personality;
	p->exit_signal = leader->exit_signal;
	get_task_comm(p->comm, leader);
	p->oom_score_adj = READ_ONCE(leader->signal->oom_score_adj);
	if (READ_ONCE(leader->signal->is_child_subreaper))
		p->flags |= CR_PROCESS_SUBREAPER;

	task_lock(leader->group_leader);
	for (i = 0; i < CR_RLIMITS && i < RLIM_NLIMITS; i++) {
		p->rlim[i].cur = leader->signal->rlim[i].rlim_cur;
		p->rlim[i].max = leader->signal->rlim[i].rlim_max;
	}
	task_unlock(leader->group_leader);
}

/* --- task_work: running code in the target's threads ---------------------- */

/*
 * The callback the target thread runs. It holds a reference on this module
 * (taken when the work was queued), so the module cannot be unloaded while a
 * work is queued or running; the reference is dropped by the tail call.
 */
static void cr_task_work_fn(struct callback_head *cb)
{
	cr_thread_stop_work(cb);
	module_put(THIS_MODULE);
}

/*
 * Queues cr_thread_stop_work(@cb) to run in @t's own context at its next
 * return to user space; an interruptible sleep of @t is interrupted (as by a
 * signal) and restarted afterwards. -ESRCH if @t is exiting.
 */
int cr_task_work_queue(struct task_struct *t, struct callback_head *cb)
{
	int err;

	__module_get(THIS_MODULE);
	init_task_work(cb, cr_task_work_fn);
	err = task_work_add(t, cb, TWA_SIGNAL);
	if (err)
		module_put(THIS_MODULE);
	return err;
}

/* --- the state of the calling thread --------------------------------------- */

static const struct user_regset *cr_regset(unsigned int note)
{
	const struct user_regset_view *view = task_user_regset_view(current);
	unsigned int i;

	for (i = 0; i < view->n; i++)
		if (view->regsets[i].core_note_type == note)
			return &view->regsets[i];
	return NULL;
}

/* Bytes of user xsave state (NT_X86_XSTATE) on this CPU, 0 if none. */
unsigned int cr_xstate_size(void)
{
	const struct user_regset *rs = cr_regset(NT_X86_XSTATE);

	return rs ? rs->n * rs->size : 0;
}

/*
 * The calling thread's restart block, read as the call that stopped with
 * -ERESTART_RESTARTBLOCK left it (resume.rs knows which call that was): a
 * sleep's clock and absolute end, FUTEX_WAIT's absolute end, poll's end
 * (-1 without a timeout). Only the thread itself may read its block.
 */
s64 cr_restart_sleep(int *clockid)
{
	*clockid = current->restart_block.nanosleep.clockid;
	return current->restart_block.nanosleep.expires;
}

s64 cr_restart_futex(void)
{
	return current->restart_block.futex.time;
}

s64 cr_restart_poll(void)
{
	const struct restart_block *rb = &current->restart_block;

	return rb->poll.has_timeout ? timespec64_to_ktime(rb->poll.end_time) : -1;
}

/*
 * Saves the calling thread's registers, FPU/vector state and per-thread
 * signal settings. Runs in the target thread itself, which is stopped at its
 * return to user space (inside get_signal, before any syscall restart
 * fix-up), so the state is consistent and the live FPU registers are saved.
 */
int cr_capture_current(struct cr_thread *th, void *xstate, unsigned int xstate_size)
{
	const struct user_regset *rs;
	struct user_regs_struct regs;
	int ret;

	rs = cr_regset(NT_PRSTATUS);
	if (!rs)
		return -EOPNOTSUPP;
	ret = regset_get(current, rs, sizeof(regs), &regs);
	if (ret < 0)
		return ret;
	memcpy(&th->regs, &regs, sizeof(regs));

	rs = cr_regset(NT_X86_XSTATE);
	if (!rs || rs->n * rs->size != xstate_size)
		return -EOPNOTSUPP;
	ret = regset_get(current, rs, xstate_size, xstate);
	if (ret < 0)
		return ret;
	th->xstate_size = xstate_size;

	th->nice = task_nice(current);
	th->policy = current->policy | (current->sched_reset_on_fork ? SCHED_RESET_ON_FORK : 0);
	th->rt_priority = (current->policy == SCHED_FIFO || current->policy == SCHED_RR) ?
			  current->rt_priority : 0;
	th->blocked = current->blocked.sig[0];
	th->sas_sp = current->sas_ss_sp;
	th->sas_size = current->sas_ss_size;
	th->sas_flags = current->sas_ss_flags;
	th->clear_child_tid = (unsigned long)current->clear_child_tid;
#ifdef CONFIG_FUTEX
	th->robust_list = (unsigned long)current->futex.robust_list;
	th->robust_list_len = current->futex.robust_list ? sizeof(struct robust_list_head) : 0;
#endif
	get_task_comm(th->comm, current);
#ifdef CONFIG_RSEQ
	th->rseq = (unsigned long)current->rseq.usrptr;
	th->rseq_len = current->rseq.len;
	th->rseq_sig = current->rseq.sig;
#endif
	return 0;
}

/* --- signals (of a stopped target, from the caller) ------------------------ */

/*
 * lock_task_sighand() is not exported: the same loop. sighand_struct is
 * SLAB_TYPESAFE_BY_RCU, so after locking, check it is still @t's. NULL when @t
 * has been released.
 */
static struct sighand_struct *cr_lock_sighand(struct task_struct *t, unsigned long *flags)
{
	struct sighand_struct *sighand;

	rcu_read_lock();
	for (;;) {
		sighand = rcu_dereference(t->sighand);
		if (!sighand)
			break;
		spin_lock_irqsave(&sighand->siglock, *flags);
		if (sighand == rcu_access_pointer(t->sighand))
			break;
		spin_unlock_irqrestore(&sighand->siglock, *flags);
	}
	rcu_read_unlock();
	return sighand;
}

/* Dispositions of signals 1..64 of @t's process. */
int cr_sighand_get(struct task_struct *t, struct cr_sighand *out)
{
	unsigned long flags;
	int i;

	struct sighand_struct *sighand;

	memset(out, 0, sizeof(*out));
	sighand = cr_lock_sighand(t, &flags);
	if (!sighand)
		return -ESRCH;
	for (i = 0; i < CR_NSIG && i < _NSIG; i++) {
		const struct k_sigaction *ka = &sighand->action[i];

		out->action[i].handler = (unsigned long)ka->sa.sa_handler;
		out->action[i].flags = ka->sa.sa_flags;
#ifdef __ARCH_HAS_SA_RESTORER
		out->action[i].restorer = (unsigned long)ka->sa.sa_restorer;
#endif
		out->action[i].mask = ka->sa.sa_mask.sig[0];
	}
	spin_unlock_irqrestore(&sighand->siglock, flags);
	return 0;
}

/*
 * The signals pending for @t alone (@shared false) or for its whole process
 * (@shared true): the pending set in *@set and up to @max queued siginfos in
 * @out. Returns how many are queued (more than @max means call again with more
 * room), or -ESRCH.
 */
int cr_sigpending_get(struct task_struct *t, bool shared, u64 *set,
		      struct cr_siginfo *out, int max)
{
	struct sighand_struct *sighand;
	struct sigpending *pending;
	struct sigqueue *q;
	unsigned long flags;
	int n = 0;

	sighand = cr_lock_sighand(t, &flags);
	if (!sighand)
		return -ESRCH;
	pending = shared ? &t->signal->shared_pending : &t->pending;
	*set = pending->signal.sig[0];
	list_for_each_entry(q, &pending->list, list) {
		if (n < max) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].signo = q->info.si_signo;
			memcpy(out[n].info, &q->info, sizeof(q->info));
		}
		n++;
	}
	spin_unlock_irqrestore(&sighand->siglock, flags);
	return n;
}

/* --- the address space (caller holds mmap_read_lock) ----------------------- */

/* mm-wide fields and the saved auxv (up to @max_words u64 words). */
/*
 * The CR_PROCESS_* settings that live in @mm: THP disabled (prctl), KSM for
 * every area (PR_SET_MEMORY_MERGE), MDWE, membarrier registrations.
 */
u32 cr_mm_process_flags(struct mm_struct *mm)
{
	u32 f = 0;
	int mb = 0;

	if (mm_flags_test(MMF_DISABLE_THP_COMPLETELY, mm))
		f |= CR_PROCESS_THP_DISABLE;
	if (mm_flags_test(MMF_DISABLE_THP_EXCEPT_ADVISED, mm))
		f |= CR_PROCESS_THP_DISABLE | CR_PROCESS_THP_EXCEPT_ADVISED;
	if (mm_flags_test(MMF_VM_MERGE_ANY, mm))
		f |= CR_PROCESS_KSM_ANY;
	if (mm_flags_test(MMF_HAS_MDWE, mm))
		f |= CR_PROCESS_MDWE;
	if (mm_flags_test(MMF_HAS_MDWE_NO_INHERIT, mm))
		f |= CR_PROCESS_MDWE_NO_INHERIT;
	if (READ_ONCE(mm->def_flags) & VM_LOCKED)
		f |= CR_PROCESS_MLOCK_FUTURE;
	if (READ_ONCE(mm->def_flags) & VM_LOCKONFAULT)
		f |= CR_PROCESS_MLOCK_ONFAULT;
#ifdef CONFIG_MEMBARRIER
	mb = atomic_read(&mm->membarrier_state);
#endif
	if (mb & MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY)
		f |= CR_PROCESS_MEMBARRIER_PRIVATE;
	if (mb & MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY)
		f |= CR_PROCESS_MEMBARRIER_GLOBAL;
	if (mb & MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY)
		f |= CR_PROCESS_MEMBARRIER_SYNC_CORE;
	if (mb & MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY)
		f |= CR_PROCESS_MEMBARRIER_RSEQ;
	return f;
}

/*
 * Whether the caller may lock @pages pages of memory, as mlock() and
 * mlockall() judge it: CAP_IPC_LOCK, or within RLIMIT_MEMLOCK (and not 0).
 */
bool cr_may_mlock(unsigned long pages)
{
	if (capable(CAP_IPC_LOCK))
		return true;
	return can_do_mlock() && pages <= rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
}

/*
 * Faults in every page of the caller's area [@start, @end), as mlock()
 * populates a locked area (with write faults for a private writable one, so
 * each page is its own); a page faulted into a VM_LOCKED area is mlocked as
 * it comes. Returns 0 or -errno.
 */
int cr_populate(unsigned long start, unsigned long end)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct page *pages[16];
	unsigned int flags;
	long n, i;

	while (start < end) {
		if (mmap_read_lock_killable(mm))
			return -EINTR;
		vma = vma_lookup(mm, start);
		if (!vma) {
			mmap_read_unlock(mm);
			return -EFAULT;
		}
		flags = (vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE ? FOLL_WRITE : 0;
		n = get_user_pages(start, min_t(unsigned long, ARRAY_SIZE(pages),
						(end - start) >> PAGE_SHIFT), flags, pages);
		mmap_read_unlock(mm);
		if (n <= 0)
			return n ? n : -EFAULT;
		for (i = 0; i < n; i++)
			put_page(pages[i]);
		start += n << PAGE_SHIFT;
		cond_resched();
	}
	return 0;
}

/*
 * Disables transparent huge pages for the caller's mm, as
 * prctl(PR_SET_THP_DISABLE, 1) does, while the restore writes its pages.
 */
void cr_thp_pause(void)
{
	struct mm_struct *mm = current->mm;

	mmap_write_lock(mm);
	mm_flags_set(MMF_DISABLE_THP_COMPLETELY, mm);
	mm_flags_clear(MMF_DISABLE_THP_EXCEPT_ADVISED, mm);
	mmap_write_unlock(mm);
}

/*
 * Gives the caller's mm the THP and MDWE settings of @flags (CR_PROCESS_*),
 * as prctl(PR_SET_THP_DISABLE) and prctl(PR_SET_MDWE) set them, once its
 * areas and pages are rebuilt: the restore itself may map what MDWE forbids a
 * later mmap (areas the original made before it set MDWE). MDWE cannot be
 * unset, so only setting is needed.
 */
void cr_set_mm_flags(u32 flags)
{
	struct mm_struct *mm = current->mm;

	mmap_write_lock(mm);
	mm_flags_clear(MMF_DISABLE_THP_COMPLETELY, mm);
	mm_flags_clear(MMF_DISABLE_THP_EXCEPT_ADVISED, mm);
	if (flags & CR_PROCESS_THP_EXCEPT_ADVISED)
		mm_flags_set(MMF_DISABLE_THP_EXCEPT_ADVISED, mm);
	else if (flags & CR_PROCESS_THP_DISABLE)
		mm_flags_set(MMF_DISABLE_THP_COMPLETELY, mm);
	if (flags & CR_PROCESS_MDWE)
		mm_flags_set(MMF_HAS_MDWE, mm);
	if (flags & CR_PROCESS_MDWE_NO_INHERIT)
		mm_flags_set(MMF_HAS_MDWE_NO_INHERIT, mm);
	/* mlockall(MCL_FUTURE), as apply_mlockall_flags() sets it. */
	if (flags & CR_PROCESS_MLOCK_FUTURE)
		mm->def_flags |= VM_LOCKED |
				 (flags & CR_PROCESS_MLOCK_ONFAULT ? VM_LOCKONFAULT : 0);
	mmap_write_unlock(mm);
}

void cr_mm_get(struct mm_struct *mm, struct cr_mm *out, u64 *auxv, unsigned int max_words)
{
	unsigned int i;

	memset(out, 0, sizeof(*out));
	out->start_code = mm->start_code;
	out->end_code = mm->end_code;
	out->start_data = mm->start_data;
	out->end_data = mm->end_data;
	out->start_brk = mm->start_brk;
	out->brk = mm->brk;
	out->start_stack = mm->start_stack;
	spin_lock(&mm->arg_lock);
	out->arg_start = mm->arg_start;
	out->arg_end = mm->arg_end;
	out->env_start = mm->env_start;
	out->env_end = mm->env_end;
	spin_unlock(&mm->arg_lock);
	out->vdso_base = (unsigned long)mm->context.vdso;
	out->nr_vmas = mm->map_count;

	/* The auxv up to and including its AT_NULL pair. */
	for (i = 0; i + 1 < AT_VECTOR_SIZE && i + 1 < max_words; i += 2) {
		auxv[i] = mm->saved_auxv[i];
		auxv[i + 1] = mm->saved_auxv[i + 1];
		if (mm->saved_auxv[i] == AT_NULL) {
			i += 2;
			break;
		}
	}
	out->auxv_words = i;
}

static int cr_path(const struct path *path, char *buf, int len)
{
	char *p = d_path(path, buf, len);
	int n;

	if (IS_ERR(p))
		return PTR_ERR(p);
	n = strlen(p);
	memmove(buf, p, n);
	return n;
}

/*
 * The working directory and root of @t: their paths into @buf (the cwd, then
 * the root, @out->cwd_len and @out->root_len bytes) and the cwd's identity.
 * Returns 0 or -errno (-ESRCH when @t has no fs_struct any more).
 */
int cr_fs_get(struct task_struct *t, struct cr_fs *out, char *buf, int len)
{
	struct path pwd, root;
	int n, m;

	task_lock(t);
	if (!t->fs) {
		task_unlock(t);
		return -ESRCH;
	}
	get_fs_pwd(t->fs, &pwd);
	get_fs_root(t->fs, &root);
	task_unlock(t);
	memset(out, 0, sizeof(*out));
	out->cwd_dev = new_encode_dev(pwd.dentry->d_sb->s_dev);
	out->cwd_ino = d_inode(pwd.dentry)->i_ino;
	n = cr_path(&pwd, buf, len / 2);
	m = n < 0 ? n : cr_path(&root, buf + n, len / 2);
	path_put(&pwd);
	path_put(&root);
	if (n < 0)
		return n;
	if (m < 0)
		return m;
	out->cwd_len = n;
	out->root_len = m;
	return 0;
}

/*
 * The interval timers of @t's process, as getitimer(2) would give them:
 * ITIMER_REAL from its hrtimer, ITIMER_VIRTUAL and ITIMER_PROF from their
 * expiry against the process's CPU time (the thread-group cputimer runs
 * whenever one of them is armed).
 */
int cr_itimers_get(struct task_struct *t, struct cr_itimers *out)
{
	struct signal_struct *sig = t->signal;
	struct task_cputime_atomic *at = &sig->cputimer.cputime_atomic;
	struct sighand_struct *sh;
	unsigned long flags;
	u64 utime, stime;

	memset(out, 0, sizeof(*out));
	sh = cr_lock_sighand(t, &flags);
	if (!sh)
		return -ESRCH;
	if (hrtimer_active(&sig->real_timer)) {
		ktime_t rem = hrtimer_get_remaining(&sig->real_timer);

		out->it[ITIMER_REAL].value_ns = rem > 0 ? ktime_to_ns(rem) : NSEC_PER_USEC;
	} else if (sig->it_real_incr) {
		/*
		 * A periodic timer that fired: its SIGALRM is pending (it is in
		 * the image), and the kernel re-arms it one interval on when that
		 * is taken. Not running is not disarmed.
		 */
		out->it[ITIMER_REAL].value_ns = ktime_to_ns(sig->it_real_incr);
	}
	out->it[ITIMER_REAL].interval_ns = ktime_to_ns(sig->it_real_incr);
	utime = atomic64_read(&at->utime);
	stime = atomic64_read(&at->stime);
	for (int which = ITIMER_VIRTUAL; which <= ITIMER_PROF; which++) {
		struct cpu_itimer *it = &sig->it[which == ITIMER_PROF ? CPUCLOCK_PROF : CPUCLOCK_VIRT];
		u64 now = which == ITIMER_PROF ? utime + stime : utime;

		if (it->expires)
			out->it[which].value_ns = it->expires > now ? it->expires - now : NSEC_PER_USEC;
		out->it[which].interval_ns = it->incr;
	}
	spin_unlock_irqrestore(&sh->siglock, flags);
	return 0;
}

/*
 * The data waiting in the pipe behind @t's fd @fd, oldest first, up to @len
 * bytes into @buf, without consuming it; its capacity into *@capacity.
 * Returns the bytes copied, -ENOTTY when @fd is not a pipe, -E2BIG when the
 * pipe holds more than @len, or -errno.
 */
long cr_pipe_peek(struct task_struct *t, unsigned int fd, void *buf, size_t len, u32 *capacity)
{
	unsigned int at = fd;
	struct file *f = fget_task_next(t, &at);	/* fget_task is not exported */
	struct pipe_inode_info *pipe;
	unsigned int tail, head;
	size_t done = 0;
	long ret = 0;

	if (f && at != fd) {
		fput(f);
		f = NULL;
	}
	if (!f)
		return -EBADF;
	pipe = S_ISFIFO(file_inode(f)->i_mode) ? file_inode(f)->i_pipe : NULL;
	if (!pipe) {
		fput(f);
		return -ENOTTY;
	}
	pipe_lock(pipe);
	*capacity = pipe->max_usage << PAGE_SHIFT;
	head = pipe->head;
	for (tail = pipe->tail; tail != head; tail++) {
		struct pipe_buffer *b = pipe_buf(pipe, tail);

		if (done + b->len > len) {
			ret = -E2BIG;
			break;
		}
		ret = pipe_buf_confirm(pipe, b);
		if (ret)
			break;
		memcpy_from_page(buf + done, b->page, b->offset, b->len);
		done += b->len;
	}
	pipe_unlock(pipe);
	fput(f);
	return ret ? ret : (long)done;
}

/* The executable's path into @buf; returns its length (0: none) or -errno. */
int cr_mm_exe_path(struct mm_struct *mm, char *buf, int len)
{
	struct file *exe;
	int n;

	rcu_read_lock();
	exe = get_file_rcu(&mm->exe_file);
	rcu_read_unlock();
	if (!exe)
		return 0;
	n = cr_path(&exe->f_path, buf, len);
	fput(exe);
	return n;
}

/*
 * The image's CR_VMA_* flags that are the kernel's VM_* flags. "carried":
 * those cr_vma_settle() sets as they are, the ones madvise sets that only tell
 * the kernel how to treat the area (huge pages, fork, core dumps, read-ahead),
 * and VM_SOFTDIRTY (a new mapping has it, the stack exec made has not; the
 * restored pages are soft-dirty either way). The rest the restore makes its
 * own way: MAP_GROWSDOWN, mlock (with its charge), ksm_madvise, the commit
 * charge and MAP_NORESERVE; guard pages are refused.
 */
static const struct {
	u32 cr;
	vm_flags_t vm;
	bool carried;	/* set by cr_vma_settle() as it is */
} cr_vma_flags[] = {
	{ CR_VMA_HUGEPAGE, VM_HUGEPAGE, true },	{ CR_VMA_NOHUGEPAGE, VM_NOHUGEPAGE, true },
	{ CR_VMA_DONTFORK, VM_DONTCOPY, true },	{ CR_VMA_WIPEONFORK, VM_WIPEONFORK, true },
	{ CR_VMA_DONTDUMP, VM_DONTDUMP, true },	{ CR_VMA_SEQ_READ, VM_SEQ_READ, true },
	{ CR_VMA_RAND_READ, VM_RAND_READ, true },	{ CR_VMA_SOFTDIRTY, VM_SOFTDIRTY, true },
	/* Recorded; the restore makes each its own way. */
	{ CR_VMA_GROWSDOWN, VM_GROWSDOWN },	{ CR_VMA_LOCKED, VM_LOCKED },
	{ CR_VMA_LOCKONFAULT, VM_LOCKONFAULT },	{ CR_VMA_MERGEABLE, VM_MERGEABLE },
	{ CR_VMA_ACCOUNT, VM_ACCOUNT },		{ CR_VMA_NORESERVE, VM_NORESERVE },
	{ CR_VMA_GUARD, VM_MAYBE_GUARD },
};
#define CR_CARRIED_VM_FLAGS (VM_HUGEPAGE | VM_NOHUGEPAGE | VM_DONTCOPY | VM_WIPEONFORK | \
			     VM_DONTDUMP | VM_SEQ_READ | VM_RAND_READ | VM_SOFTDIRTY)

static u32 cr_prot(vm_flags_t f)
{
	return (f & VM_READ ? PROT_READ : 0) | (f & VM_WRITE ? PROT_WRITE : 0) |
	       (f & VM_EXEC ? PROT_EXEC : 0);
}

/*
 * Describes the first VMA that ends above @addr into @v and its file's path
 * into @path (@v->path_len bytes). Returns 1, 2 when the VMA maps a file that
 * has no name any more (or never had one), 0 when there is none, or -errno.
 */
int cr_vma_get(struct mm_struct *mm, unsigned long addr, struct cr_vma *v,
	       char *path, int path_max)
{
	struct vm_area_struct *vma = find_vma(mm, addr);
	vm_flags_t f;
	const char *name = NULL;
	int i, n;

	if (!vma)
		return 0;
	f = vma->vm_flags;
	memset(v, 0, sizeof(*v));
	v->start = vma->vm_start;
	v->end = vma->vm_end;
	v->pgoff = vma->vm_pgoff;
	v->prot = cr_prot(f);
	/*
	 * MAP_SHARED is VM_MAYSHARE: a shared mapping of a file opened read-only
	 * has no VM_SHARED (mm/mmap.c, do_mmap()) but is shared all the same.
	 */
	if (f & VM_MAYSHARE)
		v->flags |= CR_VMA_SHARED;
	if ((f & VM_MAYSHARE) && (f & VM_MAYWRITE))
		v->flags |= CR_VMA_MAYWRITE;
	for (i = 0; i < ARRAY_SIZE(cr_vma_flags); i++)
		if (f & cr_vma_flags[i].vm)
			v->flags |= cr_vma_flags[i].cr;
	if (vma->vm_start <= mm->start_stack && mm->start_stack <= vma->vm_end)
		v->flags |= CR_VMA_STACK;

	if (vma->vm_ops && vma->vm_ops->name)
		name = vma->vm_ops->name(vma);
	if (vma->vm_start == (unsigned long)mm->context.vdso ||
	    (name && !strcmp(name, "[vdso]")))
		v->kind = CR_VMA_VDSO;
	else if (name && !strncmp(name, "[vvar", 5))
		v->kind = CR_VMA_VVAR;
	else if (f & (VM_IO | VM_PFNMAP))
		v->kind = CR_VMA_DEVICE;
	else if (!vma->vm_file)
		v->kind = CR_VMA_ANON;
	else if ((f & VM_MAYSHARE) && shmem_mapping(vma->vm_file->f_mapping) &&
		 d_unhashed(vma->vm_file->f_path.dentry))
		/*
		 * Shared anonymous, System V, memfd, or a deleted tmpfs file,
		 * mapped shared: memory that nothing names. The files
		 * alloc_file_pseudo() makes have an unhashed root dentry, which
		 * d_unlinked() calls linked. A tmpfs file that has a name is a
		 * file; a private mapping of one without is a file with no name.
		 */
		v->kind = CR_VMA_SHMEM;
	else
		v->kind = CR_VMA_FILE;
	if (v->kind == CR_VMA_ANON && vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk)
		v->flags |= CR_VMA_HEAP;

	if (!vma->vm_file && name) {
		/* A special mapping: its name, as /proc/<pid>/maps shows it. */
		n = strscpy(path, name, path_max);
		if (n < 0)
			return n;
		v->path_len = n;
	}
	if (vma->vm_file) {
		struct inode *inode = file_inode(vma->vm_file);
		struct timespec64 mtime = inode_get_mtime(inode);

		v->dev = new_encode_dev(inode->i_sb->s_dev);
		v->ino = inode->i_ino;
		v->file_size = i_size_read(inode);
		v->mtime_ns = timespec64_to_ns(&mtime);
		n = cr_path(&vma->vm_file->f_path, path, path_max);
		if (n < 0)
			return n;
		v->path_len = n;
		/* No name to open it by again: deleted, or never had one. */
		if (d_unhashed(vma->vm_file->f_path.dentry))
			return 2;
	}
	return 1;
}

/*
 * Finds the next page-table chunk at or after @addr and below @end that may
 * hold pages, without allocating or faulting anything: a chunk is at most the
 * range of one PMD. Returns the chunk's start, sets *@chunk_end, and sets bit i
 * of @bits when page (start + i * PAGE_SIZE) has a non-empty page table entry
 * (present, swapped, migrating, or a huge mapping). Returns @end when no page
 * tables cover the rest of the range.
 *
 * Empty upper levels are skipped whole, so a reserved but untouched range
 * costs one read per empty PUD or PMD entry, not per page.
 *
 * The caller holds mmap_read_lock: upper tables cannot be freed. A PTE table
 * can be (khugepaged), so it is read with interrupts off, as GUP-fast does.
 * The result is a hint: the pages themselves are taken with GUP, which locks.
 */
unsigned long cr_pt_next(struct mm_struct *mm, unsigned long addr, unsigned long end,
			 unsigned long *chunk_end, unsigned long *bits)
{
	while (addr < end) {
		unsigned long next, pud_end, a, flags;
		pgd_t *pgdp, pgd;
		p4d_t *p4dp, p4d;
		pud_t *pudp, pud;
		pmd_t *pmdp;
		unsigned int i;

		pgdp = pgd_offset(mm, addr);
		pgd = READ_ONCE(*pgdp);
		if (pgd_none(pgd) || pgd_bad(pgd)) {
			addr = pgd_addr_end(addr, end);
			continue;
		}
		p4dp = p4d_offset_lockless(pgdp, pgd, addr);
		p4d = READ_ONCE(*p4dp);
		if (p4d_none(p4d) || p4d_bad(p4d)) {
			addr = p4d_addr_end(addr, end);
			continue;
		}
		pudp = pud_offset_lockless(p4dp, p4d, addr);
		pud = READ_ONCE(*pudp);
		pud_end = pud_addr_end(addr, end);
		if (pud_none(pud)) {
			addr = pud_end;
			continue;
		}
		if (pud_leaf(pud)) {
			next = pmd_addr_end(addr, end);
			bitmap_zero(bits, PTRS_PER_PTE);
			bitmap_set(bits, 0, (next - addr) >> PAGE_SHIFT);
			*chunk_end = next;
			return addr;
		}
		/* The PMD entries of this PUD, in place: an empty one costs one read. */
		pmdp = pmd_offset_lockless(pudp, pud, addr);
		for (; addr < pud_end; addr = next, pmdp++) {
			bool any = false;
			pmd_t pmd;

			next = pmd_addr_end(addr, pud_end);
			if (pmd_none(pmdp_get_lockless(pmdp)))
				continue;
			bitmap_zero(bits, PTRS_PER_PTE);
			local_irq_save(flags);
			pmd = pmdp_get_lockless(pmdp);
			if (pmd_none(pmd)) {
				/* Emptied since the first read. */
			} else if (!pmd_present(pmd) || pmd_leaf(pmd)) {
				bitmap_set(bits, 0, (next - addr) >> PAGE_SHIFT);
				any = true;
			} else {
				pte_t *ptep = pte_offset_kernel(&pmd, addr);

				for (a = addr, i = 0; a < next; a += PAGE_SIZE, ptep++, i++) {
					if (!pte_none(ptep_get_lockless(ptep))) {
						__set_bit(i, bits);
						any = true;
					}
				}
			}
			local_irq_restore(flags);
			if (any) {
				*chunk_end = next;
				return addr;
			}
		}
	}
	return end;
}

/*
 * Takes references on up to @nr pages from @addr for reading, as a core dump
 * does (FOLL_DUMP: an absent anonymous page or the zero page fails instead of
 * being faulted in; FOLL_FORCE: PROT_NONE areas can be read). Returns how many
 * (stopping at the first hole) or -EFAULT when the first page is a hole.
 * The caller holds mmap_read_lock.
 */
long cr_pages_get(struct mm_struct *mm, unsigned long addr, unsigned long nr,
		  struct page **pages)
{
	return get_user_pages_remote(mm, addr, nr, FOLL_DUMP | FOLL_FORCE, pages, NULL);
}

/* Is @page anonymous memory (for a private file mapping: copied on write)? */
bool cr_page_anon(struct page *page)
{
	return folio_test_anon(page_folio(page));
}

void cr_page_put(struct page *page)
{
	put_page(page);
}

/* --- the image's checksum: XXH64, streamed ------------------------------- */

static_assert(sizeof(struct xxh64_state) <= CR_HASH_STATE_BYTES);

void cr_hash_reset(void *state)
{
	xxh64_reset(state, 0);
}

void cr_hash_update(void *state, const void *p, size_t len)
{
	xxh64_update(state, p, len);
}

void cr_hash_page(void *state, struct page *page)
{
	void *p = kmap_local_page(page);

	xxh64_update(state, p, PAGE_SIZE);
	kunmap_local(p);
}

u64 cr_hash_digest(void *state)
{
	return xxh64_digest(state);
}

/* --- writing the image ----------------------------------------------------- */

void cr_bvec_page(struct bio_vec *bv, struct page *page)
{
	bvec_set_page(bv, page, PAGE_SIZE, 0);
}

/* @buf must be linear-mapped memory (kmalloc), not vmalloc. */
void cr_bvec_buf(struct bio_vec *bv, void *buf, unsigned int len)
{
	bvec_set_virt(bv, buf, len);
}

/*
 * One write to @f at its position (or as a stream) of the @len bytes @bv
 * (@nr bio_vecs) or @buf (any kernel memory, vmalloc too) describe, from
 * byte @done on, straight from that memory: what vfs_iter_write() returns.
 * The caller (sys/file.rs) loops over short writes.
 */
ssize_t cr_file_write_once(struct file *f, struct bio_vec *bv, unsigned int nr, size_t len,
			   size_t done)
{
	loff_t *ppos = (f->f_mode & FMODE_STREAM) ? NULL : &f->f_pos;
	struct iov_iter iter;

	iov_iter_bvec(&iter, ITER_SOURCE, bv, nr, len);
	iov_iter_advance(&iter, done);
	return vfs_iter_write(f, &iter, ppos, 0);
}

ssize_t cr_file_write_buf_once(struct file *f, const void *buf, size_t len)
{
	loff_t *ppos = (f->f_mode & FMODE_STREAM) ? NULL : &f->f_pos;
	struct kvec kv = { .iov_base = (void *)buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_SOURCE, &kv, 1, len);
	return vfs_iter_write(f, &iter, ppos, 0);
}

/* Can the image be written to @f? (vfs_iter_write repeats these checks.) */
int cr_file_writable(struct file *f)
{
	if (!(f->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!(f->f_mode & FMODE_CAN_WRITE) || !f->f_op->write_iter)
		return -EINVAL;
	if (f->f_flags & O_NONBLOCK)
		return -EAGAIN;
	return 0;
}

/* --- the open files of a stopped target ------------------------------------ */

static u32 cr_fd_type(struct file *f)
{
	struct inode *inode = file_inode(f);
	umode_t mode = inode->i_mode;

	if (S_ISREG(mode))
		return inode->i_sb->s_magic == ANON_INODE_FS_MAGIC ? CR_FD_ANON : CR_FD_REG;
	if (S_ISDIR(mode))
		return CR_FD_DIR;
	if (S_ISFIFO(mode))
		return CR_FD_PIPE;
	if (S_ISSOCK(mode))
		return CR_FD_SOCKET;
	if (S_ISBLK(mode))
		return CR_FD_BLK;
	if (S_ISCHR(mode)) {
		unsigned int major = imajor(inode);

		if (major == TTY_MAJOR || major == TTYAUX_MAJOR ||
		    (major >= UNIX98_PTY_MASTER_MAJOR &&
		     major < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT))
			return CR_FD_TTY;
		return CR_FD_CHR;
	}
	if (inode->i_sb->s_magic == ANON_INODE_FS_MAGIC)
		return CR_FD_ANON;
	return CR_FD_OTHER;
}

/*
 * Describes @t's lowest open fd at or above @from into @out and its path into
 * @path. Returns 1, 0 when there is none, or -errno.
 */
/*
 * What @t's process holds on the file @f of its fd: CR_HELD_LOCK for a flock,
 * a POSIX lock of its files or an OFD lock of @f, CR_HELD_LEASE for a lease.
 * @files is @t's files_struct (compared, never followed).
 */
static u32 cr_file_held(struct file *f, struct files_struct *files)
{
	struct file_lock_context *ctx = locks_inode_context(file_inode(f));
	struct file_lock_core *c;
	u32 held = 0;

	if (!ctx)
		return 0;
	spin_lock(&ctx->flc_lock);
	list_for_each_entry(c, &ctx->flc_flock, flc_list)
		if (c->flc_file == f)
			held |= CR_HELD_LOCK;
	list_for_each_entry(c, &ctx->flc_posix, flc_list)
		if (c->flc_owner == (fl_owner_t)files || c->flc_file == f)
			held |= CR_HELD_LOCK;
	list_for_each_entry(c, &ctx->flc_lease, flc_list)
		if (c->flc_file == f)
			held |= CR_HELD_LEASE;
	spin_unlock(&ctx->flc_lock);
	return held;
}

/*
 * Whether someone outside @files holds the open file @f: its references
 * beyond the fds of @files that name it and the one the caller holds. Exact
 * only while the process is frozen (a thread inside a system call on it holds
 * a reference of its own when the table is shared).
 */
static bool cr_file_shared(struct file *f, struct files_struct *files)
{
	unsigned long mine = 1;		/* the caller's */
	struct fdtable *fdt;
	unsigned int i;

	spin_lock(&files->file_lock);
	fdt = files_fdtable(files);
	for (i = 0; i < fdt->max_fds; i++)
		if (rcu_access_pointer(fdt->fd[i]) == f)
			mine++;
	spin_unlock(&files->file_lock);
	return file_count(f) > mine;
}

int cr_fd_get(struct task_struct *t, unsigned int from, struct cr_fd *out,
	      char *path, int path_max, bool exact, u32 *held)
{
	unsigned int fd = from;
	struct file *f = fget_task_next(t, &fd);
	struct inode *inode;
	bool cloexec = false, shared = false;
	int n;

	if (!f)
		return 0;
	inode = file_inode(f);
	memset(out, 0, sizeof(*out));
	out->fd = fd;
	out->type = cr_fd_type(f);
	out->f_flags = f->f_flags;
	*held = 0;
	task_lock(t);
	if (t->files) {
		spin_lock(&t->files->file_lock);
		cloexec = close_on_exec(fd, t->files);
		spin_unlock(&t->files->file_lock);
		*held = cr_file_held(f, t->files);
		if (exact && out->type == CR_FD_PIPE)
			shared = cr_file_shared(f, t->files);
	}
	task_unlock(t);
	if (cloexec)
		out->f_flags |= O_CLOEXEC;
	if (shared)
		out->flags |= CR_FD_F_SHARED;
	out->mode = inode->i_mode;
	out->pos = f->f_pos;
	out->dev = new_encode_dev(inode->i_sb->s_dev);
	out->ino = inode->i_ino;
	out->size = i_size_read(inode);
	n = cr_path(&f->f_path, path, path_max);
	fput(f);
	if (n < 0)
		return n;
	out->path_len = n;
	return 1;
}

/* --- what a process holds besides its fds and memory --------------------- */

/*
 * A child of @leader's process (any thread's), its pid in @ns into *@pid.
 * Returns 0 when there is none, 1 for a live child, 2 for a zombie. The
 * RCU walk of every process (tasklist_lock is not exported; ->children is not
 * RCU-safe): a child that appears during the walk may be missed, which the
 * walk made while the process is frozen (it cannot fork then) closes.
 */
int cr_task_child(struct task_struct *leader, struct pid_namespace *ns, u32 *pid)
{
	struct task_struct *p;
	int found = 0;

	rcu_read_lock();
	for_each_process(p) {
		struct task_struct *parent = rcu_dereference(p->real_parent);

		if (p == leader || !same_thread_group(parent, leader))
			continue;
		*pid = task_tgid_nr_ns(p, ns);
		found = READ_ONCE(p->exit_state) ? 2 : 1;
		if (found == 1)
			break;
	}
	rcu_read_unlock();
	return found;
}

/*
 * The tid (in @ns) of a thread of @leader's process with SCHED_DEADLINE, whose
 * bandwidth reservation a restore cannot ask for again yet; 0 if none.
 */
u32 cr_task_sched_deadline(struct task_struct *leader, struct pid_namespace *ns)
{
	struct task_struct *t;
	u32 tid = 0;

	rcu_read_lock();
	for_each_thread(leader, t) {
		if (READ_ONCE(t->policy) == SCHED_DEADLINE) {
			tid = task_pid_nr_ns(t, ns);
			break;
		}
	}
	rcu_read_unlock();
	return tid;
}

/*
 * Locked memory of @leader's process (address space @mm) that no restore by
 * a caller like the process could lock again: more locked than its
 * RLIMIT_MEMLOCK allows (or mlockall(MCL_FUTURE) under a limit of 0) while it
 * lacks CAP_IPC_LOCK, as after a limit lowered once the memory was locked.
 * The pages locked (at least 1), or 0.
 */
unsigned long cr_task_locked_beyond_limit(struct task_struct *leader, struct mm_struct *mm)
{
	unsigned long locked = READ_ONCE(mm->locked_vm);
	unsigned long limit = task_rlimit(leader, RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	bool future = READ_ONCE(mm->def_flags) & VM_LOCKED;
	const struct cred *cred;
	bool cap;

	if (!locked && !future)
		return 0;
	/* capable(CAP_IPC_LOCK) as the process would ask it (has_capability()
	 * is not exported): its effective set, in the initial user namespace. */
	rcu_read_lock();
	cred = __task_cred(leader);
	cap = cred->user_ns == &init_user_ns && cap_raised(cred->cap_effective, CAP_IPC_LOCK);
	rcu_read_unlock();
	if (cap)
		return 0;
	return locked > limit || (future && !limit) ? max(locked, 1UL) : 0;
}

/* Whether @leader's process has POSIX timers (timer_create). */
bool cr_task_posix_timers(struct task_struct *leader)
{
	struct sighand_struct *sh;
	unsigned long flags;
	bool any;

	sh = cr_lock_sighand(leader, &flags);
	if (!sh)
		return false;
	any = !hlist_empty(&leader->signal->posix_timers) ||
	      !hlist_empty(&leader->signal->ignored_posix_timers);
	spin_unlock_irqrestore(&sh->siglock, flags);
	return any;
}

#ifdef CONFIG_SYSVIPC
/*
 * struct sem_undo_list is private to ipc/sem.c (7.3: line 162); this is its
 * layout. Every thread has one (glibc's clone passes CLONE_SYSVSEM, which
 * makes it): undo state exists only when list_proc holds entries.
 */
struct cr_sem_undo_list {
	refcount_t refcnt;
	spinlock_t lock;
	struct list_head list_proc;
};
#endif

/*
 * Whether the calling thread has System V semaphore undo entries. Only a
 * thread itself may look: its list lives until its own exit_sem(), and
 * another task's could be freed under the look.
 */
bool cr_current_sem_undo(void)
{
	bool any = false;
#ifdef CONFIG_SYSVIPC
	struct cr_sem_undo_list *ul = (void *)current->sysvsem.undo_list;

	if (ul) {
		spin_lock(&ul->lock);
		any = !list_empty(&ul->list_proc);
		spin_unlock(&ul->lock);
	}
#endif
	return any;
}

/* --- the host -------------------------------------------------------------- */

u64 cr_now_real_ns(void)
{
	return ktime_get_real_ns();
}

u64 cr_now_ns(void)
{
	return ktime_get_ns();
}

/* utsname release and nodename of the caller's UTS namespace, NUL-padded. */
void cr_uts_get(char release[65], char node[65])
{
	struct new_utsname *u = utsname();

	strscpy_pad(release, u->release, 65);
	strscpy_pad(node, u->nodename, 65);
}

/* --- restore: rebuilding the calling process ------------------------------ */

/* Is the caller the only thread of its process? */
/* How many threads the caller's process has. */
u32 cr_caller_threads(void)
{
	return get_nr_threads(current);
}

/* A key naming the caller's thread group while it lives: its signal_struct. */
unsigned long cr_caller_group(void)
{
	return (unsigned long)current->signal;
}

/* Whether the caller has a fatal signal (SIGKILL, group exit) pending. */
bool cr_caller_dying(void)
{
	return fatal_signal_pending(current);
}

/* Whether @fd of the caller is the file @file. */
bool cr_fd_is(int fd, struct file *file)
{
	struct file *f;
	bool same;

	if (fd < 0)
		return false;
	f = fget(fd);
	same = f == file;
	if (f)
		fput(f);
	return same;
}

/*
 * Work done on the way back to user space, after the ioctl has returned:
 * closing fds (the ioctl's own file among them: closing the fd of the
 * ioctl's file inside the ioctl would drop a reference the ioctl borrowed,
 * as fdget takes none when the fd table is not shared), and setting ax,
 * which the system call's own (int) return value has overwritten by then.
 * The module stays loaded until the callback returns: an open /dev/cr pins
 * it, and a file's last fput is itself deferred to a later task work.
 */
struct cr_on_return {
	struct callback_head work;
	bool set_ax;
	unsigned long ax;
	int fd[CR_CLOSE_MAX];
};

static void cr_on_return_run(struct callback_head *work)
{
	struct cr_on_return *c = container_of(work, struct cr_on_return, work);

	if (c->set_ax)
		task_pt_regs(current)->ax = c->ax;
	for (int i = 0; i < CR_CLOSE_MAX; i++)
		if (c->fd[i] >= 0)
			close_fd(c->fd[i]);
	kfree(c);
}

/*
 * Queues @c. TWA_SIGNAL runs it first thing on the way out, in get_signal()
 * before any signal is delivered, so a handler's frame saves the right ax.
 */
static int cr_on_return_queue(struct cr_on_return *c)
{
	int err;

	init_task_work(&c->work, cr_on_return_run);
	err = task_work_add(current, &c->work, TWA_SIGNAL);
	if (err)
		kfree(c);
	return err;
}

/* Closes up to CR_CLOSE_MAX of the caller's fds (-1: none) on its way out. */
int cr_close_on_return(const int *fds)
{
	struct cr_on_return *c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);

	if (!c)
		return -ENOMEM;
	memcpy(c->fd, fds, sizeof(c->fd));
	return cr_on_return_queue(c);
}

/* Are the image's credentials the caller's own (uid, euid, gid, egid)? */
bool cr_creds_are_callers(u32 uid, u32 euid, u32 gid, u32 egid)
{
	const struct cred *c = current_cred();
	struct user_namespace *ns = current_user_ns();

	return from_kuid_munged(ns, c->uid) == uid && from_kuid_munged(ns, c->euid) == euid &&
	       from_kgid_munged(ns, c->gid) == gid && from_kgid_munged(ns, c->egid) == egid;
}

/* CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN) in the caller's user namespace. */
bool cr_caller_may_restore_others(void)
{
	return ns_capable(current_user_ns(), CAP_CHECKPOINT_RESTORE) ||
	       ns_capable(current_user_ns(), CAP_SYS_ADMIN);
}

static bool cr_vma_special(struct mm_struct *mm, struct vm_area_struct *vma)
{
	const char *name = NULL;

	if (vma->vm_start == (unsigned long)mm->context.vdso)
		return true;
	if (vma->vm_ops && vma->vm_ops->name)
		name = vma->vm_ops->name(vma);
	return name && (!strcmp(name, "[vdso]") || !strncmp(name, "[vvar", 5));
}

/*
 * The caller's special mappings ([vdso], [vvar], [vvar_vclock]): up to @max
 * (start, end) pairs in @ranges. Returns how many.
 */
int cr_specials_get(unsigned long *ranges, int max)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long addr = 0;
	int n = 0;

	mmap_read_lock(mm);
	while ((vma = find_vma(mm, addr)) && n < max) {
		if (cr_vma_special(mm, vma)) {
			ranges[2 * n] = vma->vm_start;
			ranges[2 * n + 1] = vma->vm_end;
			n++;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return n;
}

/*
 * Unmaps every mapping of the caller but the special ones: the point of no
 * return of a restore. Returns 0 or -errno.
 */
int cr_unmap_all(void)
{
	struct mm_struct *mm = current->mm;

	for (;;) {
		unsigned long ranges[2 * 16];
		struct vm_area_struct *vma;
		unsigned long addr = 0;
		int n = 0, i, err;

		mmap_read_lock(mm);
		while ((vma = find_vma(mm, addr)) && n < 16) {
			if (!cr_vma_special(mm, vma)) {
				ranges[2 * n] = vma->vm_start;
				ranges[2 * n + 1] = vma->vm_end;
				n++;
			}
			addr = vma->vm_end;
		}
		mmap_read_unlock(mm);
		if (!n)
			return 0;
		for (i = 0; i < n; i++) {
			err = vm_munmap(ranges[2 * i], ranges[2 * i + 1] - ranges[2 * i]);
			if (err)
				return err;
		}
	}
}

/* vm_mmap() in the caller's address space; returns the address or -errno. */
long cr_mmap(struct file *f, unsigned long addr, unsigned long len, unsigned long prot,
	     unsigned long flags, unsigned long off)
{
	return (long)vm_mmap(f, addr, len, prot, flags, off);
}

/*
 * Settles the caller's area at @addr, just mapped and still empty (no page,
 * no anon_vma), into what the image's area was:
 * - the carried flags of @image_flags (its CR_VMA_* flags), as madvise would
 *   set them (MADV_WIPEONFORK only where madvise allows it: private anonymous
 *   memory); before any page is written, so MADV_NOHUGEPAGE holds for them;
 * - CR_SETTLE_DROP_WRITE: drop VM_WRITE, as mprotect(PROT_READ) does to an
 *   area that was writable (it keeps VM_ACCOUNT, and with no page mapped
 *   there is no page table entry to change).
 * Returns 0, -EFAULT when no area starts at @addr, -EBUSY if it has pages.
 */
int cr_vma_settle(unsigned long addr, u32 image_flags, unsigned int how)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	vm_flags_t want = 0;
	int i, ret = 0;

	for (i = 0; i < ARRAY_SIZE(cr_vma_flags); i++)
		if (cr_vma_flags[i].carried && (image_flags & cr_vma_flags[i].cr))
			want |= cr_vma_flags[i].vm;

	if (mmap_write_lock_killable(mm))
		return -EINTR;
	vma = vma_lookup(mm, addr);
	if (!vma || vma->vm_start != addr) {
		ret = -EFAULT;
		goto out;
	}
	if (vma->anon_vma) {
		ret = -EBUSY;
		goto out;
	}
	if (vma->vm_file || (vma->vm_flags & VM_SHARED))
		want &= ~VM_WIPEONFORK;
	if (want & VM_HUGEPAGE)
		want &= ~VM_NOHUGEPAGE;
	vma_start_write(vma);
	if ((vma->vm_flags & CR_CARRIED_VM_FLAGS) != want)
		vm_flags_mod(vma, want, CR_CARRIED_VM_FLAGS & ~want);
	if ((image_flags & CR_VMA_MERGEABLE) && !(vma->vm_flags & VM_MERGEABLE)) {
		/* MADV_MERGEABLE: registers the mm with KSM as madvise would. */
		vm_flags_t f = vma->vm_flags;

		ret = ksm_madvise(vma, vma->vm_start, vma->vm_end, MADV_MERGEABLE, &f);
		if (ret)
			goto out;
		if (f & VM_MERGEABLE)
			vm_flags_set(vma, VM_MERGEABLE);
	}
	if (image_flags & CR_VMA_LOCKED) {
		/*
		 * What mlock_fixup() does for an empty area (no page to mlock
		 * yet: each is mlocked as it is faulted in), after the caller's
		 * cr_may_mlock() judged the whole image's locked memory.
		 */
		vm_flags_t lock = VM_LOCKED | (image_flags & CR_VMA_LOCKONFAULT ? VM_LOCKONFAULT : 0);

		if (!(vma->vm_flags & VM_LOCKED))
			mm->locked_vm += vma_pages(vma);
		vm_flags_set(vma, lock);
	}
	if ((how & CR_SETTLE_DROP_WRITE) && !(vma->vm_flags & VM_SHARED) &&
	    (vma->vm_flags & VM_WRITE)) {
		/* What vm_stat_account() does for mprotect (not exported). */
		if (!(vma->vm_flags & VM_STACK))
			WRITE_ONCE(mm->data_vm, mm->data_vm - vma_pages(vma));
		vm_flags_clear(vma, VM_WRITE);
		vma->vm_page_prot = vm_get_page_prot(vma->vm_flags);
	}
out:
	mmap_write_unlock(mm);
	return ret;
}

/*
 * Writes @len bytes to the caller's memory at @addr, whatever the mapping's
 * protection (as ptrace's POKE does). Returns 0 or -EFAULT.
 */
int cr_write_mem(unsigned long addr, const void *buf, int len)
{
	unsigned long left;

	/* The caller's own memory: a plain copy where the area is writable
	 * (most of it, and much faster than GUP page by page)... */
	left = copy_to_user((void __user *)addr, buf, len);
	if (!left)
		return 0;
	/* ...and the ptrace way for the rest (read-only, PROT_NONE). */
	addr += len - left;
	buf += len - left;
	return access_process_vm(current, addr, (void *)buf, left, FOLL_FORCE | FOLL_WRITE) == left ?
		0 : -EFAULT;
}

/* The mm-wide fields and the saved auxv (@words u64 words). */
void cr_set_mm(const struct cr_mm *m, const u64 *auxv, unsigned int words)
{
	struct mm_struct *mm = current->mm;
	unsigned int i;

	mmap_write_lock(mm);
	mm->start_code = m->start_code;
	mm->end_code = m->end_code;
	mm->start_data = m->start_data;
	mm->end_data = m->end_data;
	mm->start_brk = m->start_brk;
	mm->brk = m->brk;
	mm->start_stack = m->start_stack;
	spin_lock(&mm->arg_lock);
	mm->arg_start = m->arg_start;
	mm->arg_end = m->arg_end;
	mm->env_start = m->env_start;
	mm->env_end = m->env_end;
	spin_unlock(&mm->arg_lock);
	memset(mm->saved_auxv, 0, sizeof(mm->saved_auxv));
	for (i = 0; i < words && i < AT_VECTOR_SIZE; i++)
		mm->saved_auxv[i] = auxv[i];
	mmap_write_unlock(mm);
}

/* Signal dispositions; SIGKILL and SIGSTOP stay default. */
void cr_set_sighand(const struct cr_sighand *s)
{
	struct sighand_struct *sh = current->sighand;
	int i;

	spin_lock_irq(&sh->siglock);
	for (i = 0; i < CR_NSIG && i < _NSIG; i++) {
		struct k_sigaction *ka = &sh->action[i];
		int sig = i + 1;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		ka->sa.sa_handler = (__sighandler_t)(unsigned long)s->action[i].handler;
		ka->sa.sa_flags = s->action[i].flags;
#ifdef __ARCH_HAS_SA_RESTORER
		ka->sa.sa_restorer = (__sigrestore_t)(unsigned long)s->action[i].restorer;
#endif
		ka->sa.sa_mask.sig[0] = s->action[i].mask & ~(sigmask(SIGKILL) | sigmask(SIGSTOP));
	}
	spin_unlock_irq(&sh->siglock);
}

/*
 * The calling thread's own settings: blocked signals, sigaltstack,
 * set_tid_address and robust list pointers, name. Returns 0 or -EINVAL.
 */
int cr_set_thread(const struct cr_thread *t)
{
	sigset_t set = { .sig = { t->blocked & ~(sigmask(SIGKILL) | sigmask(SIGSTOP)) } };

	if (t->sas_flags & ~(SS_DISABLE | SS_AUTODISARM) ||
	    t->sas_sp >= TASK_SIZE_MAX || t->sas_size > TASK_SIZE_MAX - t->sas_sp ||
	    t->clear_child_tid >= TASK_SIZE_MAX || t->robust_list >= TASK_SIZE_MAX)
		return -EINVAL;
	sigprocmask(SIG_SETMASK, &set, NULL);
	current->sas_ss_sp = t->sas_sp;
	current->sas_ss_size = t->sas_size;
	current->sas_ss_flags = t->sas_flags;
	current->clear_child_tid = (int __user *)(unsigned long)t->clear_child_tid;
#ifdef CONFIG_FUTEX
	current->futex.robust_list =
		(struct robust_list_head __user *)(unsigned long)t->robust_list;
#endif
	task_lock(current);
	strscpy_pad(current->comm, t->comm, sizeof(current->comm));
	task_unlock(current);
#ifdef CONFIG_RSEQ
	/* kernel/rseq.c: the length of the original (v1) struct rseq. */
	enum { CR_ORIG_RSEQ_SIZE = 32 };
	/*
	 * The restoring process's own rseq registration points into memory that
	 * is gone: drop it, and register the image's as rseq(2) would (the area's
	 * contents are the image's; the kernel refreshes the ids on the way out).
	 */
	rseq_reset(current);
	if (t->rseq) {
		current->rseq.usrptr = (struct rseq __user *)(unsigned long)t->rseq;
		current->rseq.len = t->rseq_len;
		current->rseq.sig = t->rseq_sig;
		current->rseq.event.has_rseq =
			IS_ENABLED(CONFIG_GENERIC_IRQ_ENTRY) && t->rseq_len > CR_ORIG_RSEQ_SIZE ? 2 : 1;
		rseq_force_update();
	}
#else
	if (t->rseq)
		return -EOPNOTSUPP;
#endif
	return 0;
}

/* Queues a signal for the caller, with the siginfo it had. */
int cr_queue_signal(const struct cr_siginfo *s)
{
	kernel_siginfo_t info;

	memcpy(&info, s->info, sizeof(info));
	if (info.si_signo != (int)s->signo || s->signo < 1 || s->signo > 64)
		return -EINVAL;
	return send_sig_info(s->signo, &info, current);
}

/*
 * Drops every signal pending for the caller and its process, unless the
 * process is being killed: then returns -EINTR with SIGKILL pending again.
 *
 * flush_signals() alone would drop a SIGKILL that arrived during the
 * restore while the group-exit flag it set stays, and the kernel discards
 * every later signal of a process in group exit (prepare_signal()): nothing
 * could kill it any more. A SIGKILL sent after this check stays pending.
 */
int cr_flush_signals(void)
{
	int err = 0;

	flush_signals(current);
	spin_lock_irq(&current->sighand->siglock);
	if (current->signal->flags & SIGNAL_GROUP_EXIT) {
		/*
		 * What complete_signal() gave this thread. The other threads
		 * keep theirs: only this thread's queue and the process's
		 * were flushed.
		 */
		sigaddset(&current->pending.signal, SIGKILL);
		recalc_sigpending();
		err = -EINTR;
	}
	spin_unlock_irq(&current->sighand->siglock);
	/*
	 * A periodic ITIMER_REAL (armed before the restore) is re-armed only
	 * when its SIGALRM is dequeued: if one was dropped here, the timer
	 * would never fire again. Not running and no SIGALRM pending: queue the
	 * SIGALRM it fired.
	 */
	if (!err && current->signal->it_real_incr &&
	    !hrtimer_active(&current->signal->real_timer) &&
	    !sigismember(&current->signal->shared_pending.signal, SIGALRM))
		send_sig_info(SIGALRM, SEND_SIG_PRIV, current);
	return err;
}

/*
 * A kernel copy of @len bytes of the caller's memory at @uaddr, charged to
 * its memory cgroup. __GFP_NORETRY: a cgroup that cannot hold it fails the
 * request with -ENOMEM instead of OOM-killing one of its tasks. Returns the
 * copy (free it with cr_kvfree()) or an ERR_PTR.
 */
void *cr_copy_in(u64 uaddr, size_t len)
{
	void *p = kvmalloc(len, GFP_KERNEL_ACCOUNT | __GFP_NORETRY | __GFP_NOWARN);

	if (!p)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(p, u64_to_user_ptr(uaddr), len)) {
		kvfree(p);
		return ERR_PTR(-EFAULT);
	}
	return p;
}

void cr_kvfree(void *p)
{
	kvfree(p);
}

/* The end of the caller's user address space (4- or 5-level paging). */
u64 cr_caller_task_size(void)
{
	return current->mm->task_size;
}

/* How many auxv words the kernel keeps (mm->saved_auxv). */
u32 cr_auxv_max_words(void)
{
	return AT_VECTOR_SIZE;
}

/*
 * Moves the signals pending for the calling thread to its process's shared
 * queue: a restore queues the image's process-wide signals on itself (the
 * only exported way to queue a full siginfo), then moves them here.
 */
void cr_pending_to_shared(void)
{
	struct sigpending *shared = &current->signal->shared_pending;

	spin_lock_irq(&current->sighand->siglock);
	list_splice_tail_init(&current->pending.list, &shared->list);
	sigorsets(&shared->signal, &shared->signal, &current->pending.signal);
	sigemptyset(&current->pending.signal);
	recalc_sigpending();
	spin_unlock_irq(&current->sighand->siglock);
}

/* Raises @sig for the caller with no particular siginfo (SI_KERNEL). */
int cr_raise(int sig)
{
	return send_sig_info(sig, SEND_SIG_PRIV, current);
}

void cr_set_umask(u32 umask)
{
	current->fs->umask = umask & 0777;
}

/*
 * Loads xsave state (the user ABI layout of NT_X86_XSTATE) into the calling
 * thread. kernel_fpu_begin() saves the live registers to the thread's fpstate
 * and makes the return to user space reload them from there; the regset's set
 * then validates the buffer and writes fpstate. (The regset's WARN_ON_FPU
 * against writing the current task's state, active only with
 * CONFIG_X86_DEBUG_FPU, assumes the registers are live; here they are not.)
 */
int cr_set_xstate(const void *buf, unsigned int size)
{
	const struct user_regset *rs = cr_regset(NT_X86_XSTATE);
	int ret;

	if (!rs || !rs->set || rs->n * rs->size != size)
		return -ENOEXEC;
	kernel_fpu_begin();
	ret = rs->set(current, rs, 0, size, buf, NULL);
	kernel_fpu_end();
	return ret;
}

/*
 * Sets the calling thread's registers from @r, with the checks sigreturn
 * makes: user code and stack segments, only the user-settable flags, no
 * syscall in progress; ax becomes @ax on the way out (cr_on_return: the
 * ioctl's own return value is an int and would truncate it). How a thread
 * stopped in a system call resumes is resume.rs's to put in @r and @ax. The fs
 * base is loaded as arch_prctl(ARCH_SET_FS) does; a nonzero gs selector is
 * refused (-EOPNOTSUPP).
 */
int cr_set_regs(const struct cr_regs *r, u64 ax)
{
	struct pt_regs *regs = task_pt_regs(current);
	struct cr_on_return *c;
	int i, err;

	unsigned short gs_sel;
	unsigned long flags;

	if (r->ip >= TASK_SIZE_MAX || r->sp >= TASK_SIZE_MAX || r->fs_base >= TASK_SIZE_MAX ||
	    r->gs_base >= TASK_SIZE_MAX)
		return -EINVAL;
	/* The user gs selector is live in the kernel (swapgs swaps only the
	 * base); a process made by crctl has 0, which the base goes with. */
	savesegment(gs, gs_sel);
	if (gs_sel)
		return -EOPNOTSUPP;
	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return -ENOMEM;
	c->set_ax = true;
	c->ax = ax;
	for (i = 0; i < CR_CLOSE_MAX; i++)
		c->fd[i] = -1;
	err = cr_on_return_queue(c);
	if (err)
		return err;
	regs->r15 = r->r15;
	regs->r14 = r->r14;
	regs->r13 = r->r13;
	regs->r12 = r->r12;
	regs->bp = r->bp;
	regs->bx = r->bx;
	regs->r11 = r->r11;
	regs->r10 = r->r10;
	regs->r9 = r->r9;
	regs->r8 = r->r8;
	regs->cx = r->cx;
	regs->dx = r->dx;
	regs->si = r->si;
	regs->di = r->di;
	regs->ip = r->ip;
	regs->sp = r->sp;
	regs->cs = __USER_CS;
	regs->ss = __USER_DS;
	regs->flags = (regs->flags & ~FIX_EFLAGS) | (r->flags & FIX_EFLAGS);
	regs->orig_ax = -1;	/* no system call to restart on the way out */

	preempt_disable();
	loadsegment(fs, 0);
	x86_fsbase_write_cpu(r->fs_base);
	current->thread.fsbase = r->fs_base;
	/*
	 * The user gs base, as arch_prctl(ARCH_SET_GS) sets it with the
	 * selector 0: in the kernel it is the inactive base, MSR_KERNEL_GS_BASE
	 * (x86_gsbase_write_cpu_inactive() is not exported; the MSR write is
	 * what it does without FSGSBASE, and is valid with it too).
	 */
	local_irq_save(flags);
	wrmsrq(MSR_KERNEL_GS_BASE, r->gs_base);
	local_irq_restore(flags);
	current->thread.gsbase = r->gs_base;
	preempt_enable();
	return 0;
}

/*
 * One read of up to @len bytes from @f at its position (or as a stream) into
 * @buf: what kernel_read() returns. The caller loops.
 */
ssize_t cr_file_read_once(struct file *f, void *buf, size_t len)
{
	loff_t *ppos = (f->f_mode & FMODE_STREAM) ? NULL : &f->f_pos;
	loff_t pos = ppos ? *ppos : 0;
	ssize_t n = kernel_read(f, buf, len, &pos);

	if (ppos)
		*ppos = pos;
	return n;
}

/* Opens @path (NUL-terminated) with @flags; the file or an ERR_PTR. */
struct file *cr_open(const char *path, int flags)
{
	return filp_open(path, flags | O_LARGEFILE, 0);
}

/* Identity of @f's inode: 0 when it is (@ino, @size, @mtime_ns). */
int cr_file_same(struct file *f, u64 ino, u64 size, u64 mtime_ns)
{
	struct inode *inode = file_inode(f);
	struct timespec64 mtime = inode_get_mtime(inode);

	if (inode->i_ino != ino || i_size_read(inode) != size ||
	    timespec64_to_ns(&mtime) != mtime_ns)
		return -ESTALE;
	return 0;
}

/* The caller's pid in its own pid namespace. */
u32 cr_caller_pid(void)
{
	return task_tgid_vnr(current);
}

