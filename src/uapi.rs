// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/cr.h`, the /dev/cr ABI.
//!
//! This file is shared, byte for byte, by the kernel module and by crctl (which
//! includes it with `#[path]`), so it may use `core` only. The layout assertions
//! below fail the build when the mirror drifts from the C header, and crctl's
//! `abi` test compares every size, offset and ioctl number against the header
//! compiled by a C compiler.

use core::mem::{offset_of, size_of};

/// Version of this ABI (`CR_ABI_VERSION`).
pub const CR_ABI_VERSION: u32 = 1;

/// `cr_info.arch` for x86_64.
pub const CR_ARCH_X86_64: u32 = 1;

/// Every `CR_FEATURE_*` bit this ABI version defines.
pub const CR_FEATURES_ALL: u64 = 0;

/// The ioctl type byte of /dev/cr.
pub const CR_IOC_MAGIC: u32 = 0xC7;

/// What the module is and what it can do (`struct cr_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrInfo {
    /// `CR_ABI_VERSION` of the module.
    pub abi_version: u32,
    /// Architecture (`CR_ARCH_*`).
    pub arch: u32,
    /// `CR_FEATURE_*` bits.
    pub features: u64,
    /// Page size in bytes.
    pub page_size: u32,
    /// Zero.
    pub __pad: u32,
    /// Zero; room for later fields.
    pub __reserved: [u64; 4],
}

const _: () = {
    assert!(size_of::<CrInfo>() == 56);
    assert!(offset_of!(CrInfo, abi_version) == 0);
    assert!(offset_of!(CrInfo, arch) == 4);
    assert!(offset_of!(CrInfo, features) == 8);
    assert!(offset_of!(CrInfo, page_size) == 16);
    assert!(offset_of!(CrInfo, __pad) == 20);
    assert!(offset_of!(CrInfo, __reserved) == 24);
};

// The ioctl number encoding of include/uapi/asm-generic/ioctl.h (x86).
const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// `_IOC_WRITE`: user space writes the argument, the kernel reads it.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes the argument, user space reads it.
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << IOC_SIZEBITS));
    (dir << IOC_DIRSHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// The size field of an ioctl number (`_IOC_SIZE`).
pub const fn ioc_size(cmd: u32) -> usize {
    ((cmd >> IOC_SIZESHIFT) & ((1 << IOC_SIZEBITS) - 1)) as usize
}

/// An ioctl number with its size field cleared: commands that differ only in
/// their argument size compare equal under this.
pub const fn ioc_sizeless(cmd: u32) -> u32 {
    cmd & !(((1 << IOC_SIZEBITS) - 1) << IOC_SIZESHIFT)
}

/// `CR_IOC_INFO`: `_IOR(CR_IOC_MAGIC, 0x00, struct cr_info)`.
pub const CR_IOC_INFO: u32 = ioc(IOC_READ, CR_IOC_MAGIC, 0x00, size_of::<CrInfo>());
