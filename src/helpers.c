// SPDX-License-Identifier: GPL-2.0
/*
 * cr: the C half of the sys layer, for what Rust cannot reach: static
 * inlines and macros (task_lock, mmap_write_lock, cond_resched,
 * the page-table walk with interrupts off), structures the kernel's Rust
 * bindings leave opaque (fs_struct, files_struct, file locks, pipes, the UTS
 * namespace, exec_state, sem_undo_list) and arch code (regsets, segment and
 * MSR access). No function here decides policy or fills an image record:
 * src/sys/ does that in Rust. Each is wrapped by one safe function there;
 * scripts/check-ffi checks src/sys/ffi.rs against helpers.h.
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
#include <linux/highmem.h>
#include <linux/ksm.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/pipe_fs_i.h>
#include <linux/regset.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/sched/exec_state.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/utsname.h>
#include <linux/xxhash.h>
#include <linux/cr.h>
#include <linux/cr_image.h>
#include <asm/fpu/api.h>
#include <asm/sighandling.h>

#include "helpers.h"

static_assert(sizeof(struct cr_regs) == sizeof(struct user_regs_struct));
static_assert(sizeof(((struct cr_siginfo *)0)->info) >= sizeof(kernel_siginfo_t));
static_assert(PTRS_PER_PTE == 512);

/* --- threads and processes ------------------------------------------------ */

/* @t's umask (fs_struct is not in the Rust bindings); 0 once it has none. */
u32 cr_task_umask(struct task_struct *t)
{
	u32 umask;

	task_lock(t);
	umask = t->fs ? t->fs->umask : 0;
	task_unlock(t);
	return umask;
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
 * Saves the calling thread's registers and FPU/vector state (the regsets a
 * core dump writes). Runs in the target thread itself, which is stopped at
 * its return to user space (inside get_signal, before any syscall restart
 * fix-up), so the state is consistent and the live FPU registers are saved.
 */
int cr_capture_regs(struct cr_regs *r, void *xstate, unsigned int xstate_size)
{
	const struct user_regset *rs = cr_regset(NT_PRSTATUS);
	int ret;

	if (!rs)
		return -EOPNOTSUPP;
	ret = regset_get(current, rs, sizeof(*r), r);
	if (ret < 0)
		return ret;
	rs = cr_regset(NT_X86_XSTATE);
	if (!rs || rs->n * rs->size != xstate_size)
		return -EOPNOTSUPP;
	ret = regset_get(current, rs, xstate_size, xstate);
	return ret < 0 ? ret : 0;
}


/* --- the address space (caller holds mmap_read_lock) ----------------------- */

/* cond_resched() is a macro. */
void cr_cond_resched(void)
{
	cond_resched();
}

/* mmap_write_lock() and its unlock are static inlines. */
void cr_mmap_write_lock(struct mm_struct *mm)
{
	mmap_write_lock(mm);
}

void cr_mmap_write_unlock(struct mm_struct *mm)
{
	mmap_write_unlock(mm);
}

/*
 * References on @t's working directory and root, into @pwd and @root
 * (path_put() each); -ESRCH when @t has no fs_struct any more. fs_struct is
 * not in the Rust bindings.
 */
int cr_task_fs_paths(struct task_struct *t, struct path *pwd, struct path *root)
{
	task_lock(t);
	if (!t->fs) {
		task_unlock(t);
		return -ESRCH;
	}
	get_fs_pwd(t->fs, pwd);
	get_fs_root(t->fs, root);
	task_unlock(t);
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

/* Is @page anonymous memory (for a private file mapping: copied on write)? */
bool cr_page_anon(struct page *page)
{
	return folio_test_anon(page_folio(page));
}

/* --- the image's checksum: XXH64, streamed ------------------------------- */

static_assert(sizeof(struct xxh64_state) <= CR_HASH_STATE_BYTES);

/* @buf must be linear-mapped memory (kmalloc), not vmalloc. */
void cr_bvec_buf(struct bio_vec *bv, void *buf, unsigned int len)
{
	bvec_set_virt(bv, buf, len);
}

/*
 * Where a read or write of @f starts and moves on: its position, or NULL
 * for a stream (FMODE_* are not in the Rust bindings).
 */
loff_t *cr_file_ppos(struct file *f)
{
	return (f->f_mode & FMODE_STREAM) ? NULL : &f->f_pos;
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

/*
 * What @t's process holds on its fd @fd, which is the file @f (a reference
 * the caller holds): CR_FD_HOLDS_CLOEXEC, the CR_HELD_* of cr_file_held(),
 * and with @shared, CR_FD_HOLDS_SHARED when someone outside it holds @f too.
 * files_struct and file_lock_context are not in the Rust bindings.
 */
u32 cr_fd_holds(struct task_struct *t, unsigned int fd, struct file *f, bool shared)
{
	u32 holds = 0;

	task_lock(t);
	if (t->files) {
		spin_lock(&t->files->file_lock);
		if (close_on_exec(fd, t->files))
			holds |= CR_FD_HOLDS_CLOEXEC;
		spin_unlock(&t->files->file_lock);
		holds |= cr_file_held(f, t->files);
		if (shared && cr_file_shared(f, t->files))
			holds |= CR_FD_HOLDS_SHARED;
	}
	task_unlock(t);
	return holds;
}

/* --- what a process holds besides its fds and memory --------------------- */

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

/* utsname release and nodename of the caller's UTS namespace, NUL-padded. */
void cr_uts_get(char release[65], char node[65])
{
	struct new_utsname *u = utsname();

	strscpy_pad(release, u->release, 65);
	strscpy_pad(node, u->nodename, 65);
}

/* --- restore: rebuilding the calling process ------------------------------ */

/*
 * Settles the caller's area at @addr, just mapped and still empty (no page,
 * no anon_vma), as sys/caller.rs's settle_area() decided:
 * - the flags of @mask become those of @want (flags madvise sets);
 * - CR_SETTLE_MERGEABLE: MADV_MERGEABLE, registering the mm with KSM;
 * - CR_SETTLE_LOCK[ONFAULT]: what mlock_fixup() does for an empty area (no
 *   page to mlock yet: each is mlocked as it is faulted in), its charge too;
 * - CR_SETTLE_DROP_WRITE: drop VM_WRITE, as mprotect(PROT_READ) does to an
 *   area that was writable (it keeps VM_ACCOUNT, and with no page mapped
 *   there is no page table entry to change).
 * Returns 0, -EFAULT when no area starts at @addr, -EBUSY if it has pages.
 */
int cr_vma_settle(unsigned long addr, unsigned long want, unsigned long mask, unsigned int how)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	int ret = 0;

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
	vma_start_write(vma);
	if ((vma->vm_flags & mask) != want)
		vm_flags_mod(vma, want, mask & ~want);
	if ((how & CR_SETTLE_MERGEABLE) && !(vma->vm_flags & VM_MERGEABLE)) {
		vm_flags_t f = vma->vm_flags;

		ret = ksm_madvise(vma, vma->vm_start, vma->vm_end, MADV_MERGEABLE, &f);
		if (ret)
			goto out;
		if (f & VM_MERGEABLE)
			vm_flags_set(vma, VM_MERGEABLE);
	}
	if (how & CR_SETTLE_LOCK) {
		if (!(vma->vm_flags & VM_LOCKED))
			mm->locked_vm += vma_pages(vma);
		vm_flags_set(vma, VM_LOCKED | (how & CR_SETTLE_LOCKONFAULT ? VM_LOCKONFAULT : 0));
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
 * Registers the calling thread's rseq area (@rseq 0: none) as rseq(2) would:
 * the restoring process's own registration points into memory that is gone
 * and is dropped (the area's contents are the image's; the kernel refreshes
 * the ids on the way out). rseq_reset() and rseq_force_update() are static
 * inlines.
 */
int cr_set_rseq(u64 rseq, u32 len, u32 sig)
{
#ifdef CONFIG_RSEQ
	/* kernel/rseq.c: the length of the original (v1) struct rseq. */
	enum { CR_ORIG_RSEQ_SIZE = 32 };

	rseq_reset(current);
	if (rseq) {
		current->rseq.usrptr = (struct rseq __user *)(unsigned long)rseq;
		current->rseq.len = len;
		current->rseq.sig = sig;
		current->rseq.event.has_rseq =
			IS_ENABLED(CONFIG_GENERIC_IRQ_ENTRY) && len > CR_ORIG_RSEQ_SIZE ? 2 : 1;
		rseq_force_update();
	}
	return 0;
#else
	return rseq ? -EOPNOTSUPP : 0;
#endif
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

/* The user-settable flags (sigreturn's FIX_EFLAGS, an arch macro). */
const unsigned long cr_user_eflags = FIX_EFLAGS;

/* task_pt_regs(current): the calling thread's saved user registers. */
struct pt_regs *cr_current_pt_regs(void)
{
	return task_pt_regs(current);
}

/* The user gs selector, live in the kernel (swapgs swaps only the base). */
unsigned int cr_user_gs_selector(void)
{
	unsigned short sel;

	savesegment(gs, sel);
	return sel;
}

/*
 * Loads the calling thread's fs and gs bases, as arch_prctl(ARCH_SET_FS) and
 * (with the selector 0) ARCH_SET_GS do. In the kernel the user gs base is
 * the inactive one, MSR_KERNEL_GS_BASE (x86_gsbase_write_cpu_inactive() is
 * not exported; the MSR write is what it does without FSGSBASE, and is valid
 * with it too).
 */
void cr_set_user_bases(u64 fs_base, u64 gs_base)
{
	unsigned long flags;

	preempt_disable();
	loadsegment(fs, 0);
	x86_fsbase_write_cpu(fs_base);
	current->thread.fsbase = fs_base;
	local_irq_save(flags);
	wrmsrq(MSR_KERNEL_GS_BASE, gs_base);
	local_irq_restore(flags);
	current->thread.gsbase = gs_base;
	preempt_enable();
}

