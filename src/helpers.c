// SPDX-License-Identifier: GPL-2.0
/*
 * cr: the C half of the sys layer, only for what Rust cannot reach:
 * - macros and static inlines with no Rust helper: cond_resched(),
 *   mmap_write_lock(), vma_start_write(), vm_flags_mod(), folio_test_anon(),
 *   bvec_set_virt(), rseq_reset();
 * - the page-table walk with interrupts off (cr_pt_next());
 * - arch code: task_pt_regs(), the user gs selector, the fs and gs bases;
 * - a deputy's signal mask and queue, under the siglock.
 * Kernel structs the kernel crate's bindings leave opaque are read in Rust,
 * through the bindings the module generates from src/sys/bindings_helper.h.
 * No function here decides policy or fills an image record: src/sys/ does
 * that in Rust, and only its safe wrappers call these; scripts/check-ffi
 * checks src/sys/ffi.rs against helpers.h.
 */

#include <linux/bvec.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pgtable.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <asm/fsgsbase.h>
#include <asm/msr.h>
#include <asm/segment.h>

#include "helpers.h"

static_assert(PTRS_PER_PTE == 512);

/* --- rescheduling and the mmap lock -------------------------------------- */

/* cond_resched() is a macro. */
void cr_cond_resched(void)
{
	cond_resched();
}

/* mmap_write_lock(), its killable form and its unlock are static inlines. */
void cr_mmap_write_lock(struct mm_struct *mm)
{
	mmap_write_lock(mm);
}

/* 0, or -EINTR on a fatal signal. */
int cr_mmap_write_lock_killable(struct mm_struct *mm)
{
	return mmap_write_lock_killable(mm);
}

void cr_mmap_write_unlock(struct mm_struct *mm)
{
	mmap_write_unlock(mm);
}

/* --- the page tables (caller holds mmap_read_lock) ------------------------ */

/*
 * Finds the next page-table chunk at or after @addr and below @end that may
 * hold pages, without allocating or faulting anything: a chunk is at most the
 * range of one PMD. Returns the chunk's start, sets *@chunk_end, and sets bit i
 * of @bits when page (start + i * PAGE_SIZE) has a non-empty page table entry
 * (present, swapped, migrating, or a huge mapping); *@huge tells whether the
 * chunk is one huge mapping (a PMD or PUD leaf) rather than a PTE table.
 * Returns @end when no page tables cover the rest of the range.
 *
 * Empty upper levels are skipped whole, so a reserved but untouched range
 * costs one read per empty PUD or PMD entry, not per page.
 *
 * The caller holds mmap_read_lock: upper tables cannot be freed. A PTE table
 * can be (khugepaged), so it is read with interrupts off, as GUP-fast does.
 * The result is a hint: the pages themselves are taken with GUP, which locks.
 */
unsigned long cr_pt_next(struct mm_struct *mm, unsigned long addr, unsigned long end,
			 unsigned long *chunk_end, unsigned long *bits, bool *huge)
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
			*huge = true;
			return addr;
		}
		/* The PMD entries of this PUD, in place: an empty one costs one read. */
		pmdp = pmd_offset_lockless(pudp, pud, addr);
		for (; addr < pud_end; addr = next, pmdp++) {
			bool any = false, leaf = false;
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
				leaf = pmd_leaf(pmd);
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
				*huge = leaf;
				return addr;
			}
		}
	}
	return end;
}

/* --- pages and areas ------------------------------------------------------ */

/* Is @page anonymous memory (for a private file mapping: copied on write)? */
bool cr_page_anon(struct page *page)
{
	return folio_test_anon(page_folio(page));
}

/* @buf must be linear-mapped memory (kmalloc), not vmalloc. */
void cr_bvec_buf(struct bio_vec *bv, void *buf, unsigned int len)
{
	bvec_set_virt(bv, buf, len);
}

/*
 * vma_start_write() and vm_flags_mod() are static inlines: the first locks
 * @vma (whose mm's mmap write lock the caller holds) against readers under
 * the per-VMA lock, the second does that too and then sets the flags of @set
 * and clears those of @clear.
 */
void cr_vma_start_write(struct vm_area_struct *vma)
{
	vma_start_write(vma);
}

void cr_vm_flags_mod(struct vm_area_struct *vma, unsigned long set, unsigned long clear)
{
	vm_flags_mod(vma, set, clear);
}

/* --- the calling thread, as a restore sets it ----------------------------- */

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


/* --- a deputy's signals (siglock is taken with interrupts off) ----------- */

/*
 * Has every signal but SIGKILL wake the calling thread without being acted
 * on, as sigtimedwait() does (kernel/signal.c, do_sigtimedwait(), static):
 * real_blocked keeps a sender from treating one as fatal at send time or
 * dropping an ignored one, and the empty blocked set has each one interrupt
 * the thread's sleep. The thread never returns to user space afterwards.
 */
void cr_deputy_catch_signals(void)
{
	spin_lock_irq(&current->sighand->siglock);
	siginitsetinv(&current->real_blocked, sigmask(SIGKILL));
	sigemptyset(&current->blocked);
	recalc_sigpending();
	spin_unlock_irq(&current->sighand->siglock);
}

/* Takes the next pending signal but SIGKILL off the calling thread's or its
 * process's queue: its number, or 0. (dequeue_signal() wants the lock, and
 * the set of signals it must leave.) */
int cr_deputy_next_signal(void)
{
	kernel_siginfo_t info;
	enum pid_type type;
	sigset_t leave;
	int sig;

	siginitset(&leave, sigmask(SIGKILL));
	spin_lock_irq(&current->sighand->siglock);
	sig = dequeue_signal(&leave, &info, &type);
	spin_unlock_irq(&current->sighand->siglock);
	return sig;
}

/* fatal_signal_pending(current) is a static inline. */
bool cr_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}
