// SPDX-License-Identifier: GPL-2.0

//! The sys layer: thin, safe wrappers over what the kernel crate does not
//! abstract yet (task lookup and threads, another task's address space, page
//! tables, regsets, signal queues, task_work, writing pages to a file).
//!
//! All of cr's `unsafe` code is here, in `ffi` (the declarations of
//! `helpers.c`) and the wrappers of the submodules. The rest of the module is
//! safe Rust built on these types.

mod ffi;
pub(crate) mod file;
pub(crate) mod gate;
pub(crate) mod mm;
pub(crate) mod task;

/// Initializes the sys layer's globals. Called once, at module load.
pub(crate) fn init() {
    task::init();
}

/// Monotonic time in nanoseconds (`ktime_get_ns`).
pub(crate) fn now_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_now_ns() }
}

/// Wall-clock time in nanoseconds (`ktime_get_real_ns`).
pub(crate) fn now_real_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_now_real_ns() }
}

/// The caller's utsname release and nodename, NUL-padded.
pub(crate) fn uts() -> ([u8; 65], [u8; 65]) {
    let mut release = [0u8; 65];
    let mut node = [0u8; 65];
    // SAFETY: Both buffers are 65 bytes, as the helper writes.
    unsafe { ffi::cr_uts_get(release.as_mut_ptr().cast(), node.as_mut_ptr().cast()) };
    (release, node)
}

/// crc32c (Castagnoli) over `data`, continuing from `crc` (raw register value:
/// seed with `!0`, finish with `!crc`).
pub(crate) fn crc32c(crc: u32, data: &[u8]) -> u32 {
    // SAFETY: `data` is valid for reads of `data.len()` bytes.
    unsafe { ffi::crc32c(crc, data.as_ptr().cast(), data.len()) }
}

/// Converts a negative errno returned by a helper into a `Result`.
fn errno(ret: core::ffi::c_int) -> kernel::error::Result<core::ffi::c_int> {
    if ret < 0 {
        Err(kernel::error::Error::from_errno(ret))
    } else {
        Ok(ret)
    }
}
