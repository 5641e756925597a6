// SPDX-License-Identifier: GPL-2.0
/* General registers live across the checkpoint: a thread spins in user
 * space with known values in rax, rbx, rdx, rsi, rdi, rbp and r8-r15
 * (rcx is the scratch), checking them each turn. */
#include "rt.h"

static volatile int stop;
static volatile uint64_t turns, bad = 1;

static void *spin(void *arg)
{
	uint64_t b;

	__asm__ volatile(
		"push %%rbp\n"
		"movabs $0x1111111111111111, %%rbx\n"
		"movabs $0x2222222222222222, %%rbp\n"
		"movabs $0x8888888888888888, %%r8\n"
		"movabs $0x9999999999999999, %%r9\n"
		"movabs $0xaaaaaaaaaaaaaaaa, %%r10\n"
		"movabs $0xbbbbbbbbbbbbbbbb, %%r11\n"
		"movabs $0xcccccccccccccccc, %%r12\n"
		"movabs $0xdddddddddddddddd, %%r13\n"
		"movabs $0xeeeeeeeeeeeeeeee, %%r14\n"
		"movabs $0xffffffffffffffff, %%r15\n"
		"movabs $0x3333333333333333, %%rdx\n"
		"movabs $0x4444444444444444, %%rsi\n"
		"movabs $0x5555555555555555, %%rdi\n"
		"movabs $0x7777777777777777, %%rax\n"
		"1:\n"
		"incq %[turns]\n"
		"movabs $0x7777777777777777, %%rcx\n cmp %%rcx, %%rax\n jne 2f\n"
		"movabs $0x3333333333333333, %%rcx\n cmp %%rcx, %%rdx\n jne 2f\n"
		"movabs $0x4444444444444444, %%rcx\n cmp %%rcx, %%rsi\n jne 2f\n"
		"movabs $0x5555555555555555, %%rcx\n cmp %%rcx, %%rdi\n jne 2f\n"
		"movabs $0x1111111111111111, %%rcx\n cmp %%rcx, %%rbx\n jne 2f\n"
		"movabs $0x2222222222222222, %%rcx\n cmp %%rcx, %%rbp\n jne 2f\n"
		"movabs $0x8888888888888888, %%rcx\n cmp %%rcx, %%r8\n jne 2f\n"
		"movabs $0x9999999999999999, %%rcx\n cmp %%rcx, %%r9\n jne 2f\n"
		"movabs $0xaaaaaaaaaaaaaaaa, %%rcx\n cmp %%rcx, %%r10\n jne 2f\n"
		"movabs $0xbbbbbbbbbbbbbbbb, %%rcx\n cmp %%rcx, %%r11\n jne 2f\n"
		"movabs $0xcccccccccccccccc, %%rcx\n cmp %%rcx, %%r12\n jne 2f\n"
		"movabs $0xdddddddddddddddd, %%rcx\n cmp %%rcx, %%r13\n jne 2f\n"
		"movabs $0xeeeeeeeeeeeeeeee, %%rcx\n cmp %%rcx, %%r14\n jne 2f\n"
		"movabs $0xffffffffffffffff, %%rcx\n cmp %%rcx, %%r15\n jne 2f\n"
		"cmpl $0, %[stop]\n"
		"je 1b\n"
		"xor %%eax, %%eax\n"
		"jmp 3f\n"
		"2: mov $1, %%eax\n"
		"3: pop %%rbp\n"
		: [turns] "+m"(turns), "=a"(b)
		: [stop] "m"(stop)
		: "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc");
	bad = b;
	return NULL;
}

int main(void)
{
	rt_spin_across(spin, &turns, &stop);
	rt_check(!bad, "a register changed under the spinning thread");
	return rt_verdict();
}
