/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cr: checkpoint/restore of processes, the /dev/cr ioctl ABI.
 *
 * This header is the single definition of the ABI. The kernel module (src/uapi.rs)
 * and crctl mirror it in Rust with compile-time layout checks, and `make check`
 * compares every size and offset below against those mirrors.
 *
 * Rules: fixed-width fields only, explicit padding, pointers passed as __u64,
 * reserved fields must be zero on input and are zero on output.
 *
 * Documentation/userspace-api.rst describes each ioctl.
 */
#ifndef _UAPI_LINUX_CR_H
#define _UAPI_LINUX_CR_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this ABI: bumped on any incompatible change. */
#define CR_ABI_VERSION 1

/* Values of cr_info.arch. */
#define CR_ARCH_X86_64 1

/*
 * Bits of cr_info.features: what this build of the module can do. A bit is
 * defined here only once its feature is implemented.
 */
#define CR_FEATURES_ALL 0ULL

/**
 * struct cr_info - what the module is and what it can do
 * @abi_version: CR_ABI_VERSION of the module.
 * @arch:        architecture the module runs on (CR_ARCH_*).
 * @features:    CR_FEATURE_* bits the module supports.
 * @page_size:   page size of this kernel, in bytes.
 * @__pad:       zero.
 * @__reserved:  zero; room for later fields.
 *
 * Filled by CR_IOC_INFO.
 */
struct cr_info {
	__u32 abi_version;
	__u32 arch;
	__u64 features;
	__u32 page_size;
	__u32 __pad;
	__u64 __reserved[4];
};

/*
 * ioctl numbers: type 0xC7, numbers 0x00-0x3f (see
 * Documentation/userspace-api/ioctl/ioctl-number.rst in the kernel tree).
 * A command whose number is known but whose size differs from the structure
 * here fails with EINVAL; an unknown command fails with ENOTTY.
 */
#define CR_IOC_MAGIC 0xC7

#define CR_IOC_INFO _IOR(CR_IOC_MAGIC, 0x00, struct cr_info)

#ifndef __KERNEL__
_Static_assert(sizeof(struct cr_info) == 56, "struct cr_info layout");
#endif

#endif /* _UAPI_LINUX_CR_H */
