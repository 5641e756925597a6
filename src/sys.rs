// SPDX-License-Identifier: GPL-2.0

//! The sys layer: thin, safe wrappers over what the kernel crate does not
//! abstract yet (task lookup and threads, another task's address space, page
//! tables, regsets, signal queues, task_work, writing pages to a file).
//!
//! All of cr's `unsafe` code is here, in `ffi` (the declarations of
//! `helpers.c`) and the wrappers of the submodules. The rest of the module is
//! safe Rust built on these types.

pub(crate) mod caller;
mod ffi;
pub(crate) mod file;
pub(crate) mod gate;
pub(crate) mod mm;
pub(crate) mod task;

/// A heap-allocated all-zero `T`, built in place: large ABI structs (a
/// `CrSighand` is 2 KiB) must not pass through the 16 KiB kernel stack.
pub(crate) fn zeroed_box<T: crate::uapi::Pod>() -> kernel::error::Result<kernel::alloc::KBox<T>> {
    let mut b = kernel::alloc::KBox::<T>::new_uninit(kernel::alloc::flags::GFP_KERNEL_ACCOUNT)?;
    // SAFETY: `b` owns room for one `T`; writing `size_of::<T>()` zero bytes
    // initializes all of it, and all-zero is a valid `T` (`T: Pod`).
    unsafe { core::ptr::write_bytes(b.as_mut_ptr(), 0, 1) };
    // SAFETY: Initialized just above.
    Ok(unsafe { b.assume_init() })
}

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

/// The image's checksum: XXH64 with seed 0, fed in pieces.
pub(crate) struct Hash {
    /// A `struct xxh64_state` (helpers.c checks that it fits).
    state: [u64; 12],
}

impl Hash {
    /// A fresh hash.
    pub(crate) fn new() -> Hash {
        let mut h = Hash { state: [0; 12] };
        // SAFETY: `state` is 96 bytes, 8-byte aligned: room for the state.
        unsafe { ffi::cr_hash_reset(h.state.as_mut_ptr().cast()) };
        h
    }

    /// Adds `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        // SAFETY: `state` was reset in `new`; `data` is readable.
        unsafe {
            ffi::cr_hash_update(
                self.state.as_mut_ptr().cast(),
                data.as_ptr().cast(),
                data.len(),
            )
        };
    }

    /// Adds page `i` of `batch`.
    pub(crate) fn update_page(&mut self, batch: &mm::PageBatch, i: usize) {
        // SAFETY: `state` was reset in `new`; the batch holds a reference on
        // the page.
        unsafe { ffi::cr_hash_page(self.state.as_mut_ptr().cast(), batch.pages[i]) };
    }

    /// The low 32 bits of the hash, the image's check value.
    pub(crate) fn check(&mut self) -> u32 {
        // SAFETY: `state` was reset in `new`.
        unsafe { ffi::cr_hash_digest(self.state.as_mut_ptr().cast()) as u32 }
    }
}

/// Converts a negative errno returned by a helper into a `Result`.
fn errno(ret: core::ffi::c_int) -> kernel::error::Result<core::ffi::c_int> {
    if ret < 0 {
        Err(kernel::error::Error::from_errno(ret))
    } else {
        Ok(ret)
    }
}
