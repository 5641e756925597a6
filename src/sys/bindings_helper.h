/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What cr needs from the kernel that the kernel crate's bindings leave out:
 * structs they declare opaque or not at all (their headers are not in the
 * kernel's rust/bindings/bindings_helper.h), a few exported functions, and
 * constants bindgen cannot read from their macros (a cast or an expression),
 * which it can from a const variable, as the kernel's RUST_CONST_HELPER_s.
 *
 * src/Kbuild turns this into Rust at build time (bindings_generated.rs in the
 * build directory, included by src/sys/generated.rs) with the kernel build's
 * own bindgen and clang flags, so every layout is the configured kernel's.
 * Only the items src/Kbuild allowlists are generated; every type they name
 * is the kernel crate's own (kernel::bindings).
 */

#include <linux/filelock.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/ksm.h>
#include <linux/mman.h>
#include <linux/pipe_fs_i.h>
#include <linux/regset.h>
#include <linux/sched/exec_state.h>
#include <linux/shmem_fs.h>
#include <linux/time_namespace.h>
#include <linux/utsname.h>
#include <linux/xxhash.h>
#include <asm/fpu/api.h>
#include <asm/sighandling.h>

const fmode_t CR_FMODE_WRITE = FMODE_WRITE;
const fmode_t CR_FMODE_CAN_WRITE = FMODE_CAN_WRITE;
const fmode_t CR_FMODE_STREAM = FMODE_STREAM;
const gfp_t CR_GFP_NORETRY = __GFP_NORETRY;
const vm_flags_t CR_VM_MERGEABLE = VM_MERGEABLE;
const vm_flags_t CR_VM_STACK = VM_STACK;
const int CR_MADV_MERGEABLE = MADV_MERGEABLE;
/* What kernel_fpu_begin() asks of kernel_fpu_begin_mask() on x86_64. */
const unsigned int CR_KFPU_MXCSR = KFPU_MXCSR;
/* The user-settable flags, as sigreturn restores them. */
const unsigned long CR_FIX_EFLAGS = FIX_EFLAGS;
/*
 * A pipe's head and tail sit in an anonymous member of a tagged union type
 * (union pipe_index, an -fms-extensions member), which bindgen turns into
 * padding: their offsets, from the compiler.
 */
const size_t CR_PIPE_HEAD_OFFSET = offsetof(struct pipe_inode_info, head);
const size_t CR_PIPE_TAIL_OFFSET = offsetof(struct pipe_inode_info, tail);
