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
mod generated;
mod lock;
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
    // SAFETY: A constant name with no conversion in it.
    let wq = unsafe {
        kernel::bindings::alloc_workqueue_noprof(
            kernel::str::CStrExt::as_char_ptr(c"cr"),
            kernel::bindings::wq_flags_WQ_UNBOUND,
            0,
        )
    };
    if let Some(wq) = core::ptr::NonNull::new(wq) {
        WORKQUEUE.populate(Workqueue(wq));
    }
}

/// The module's own workqueue (unbound): its own, not a system one, so that
/// unloading drains it and no work item of the module runs after `unload`.
struct Workqueue(core::ptr::NonNull<kernel::bindings::workqueue_struct>);

// SAFETY: A workqueue may be used, and destroyed, from any task.
unsafe impl Send for Workqueue {}
// SAFETY: Its operations synchronize themselves.
unsafe impl Sync for Workqueue {}

/// Set at load; `None` (when it could not be made) means no work is queued.
static WORKQUEUE: kernel::sync::SetOnce<Workqueue> = kernel::sync::SetOnce::new();

/// The module's workqueue, if it has one (checkpoint/pipeline.rs hashes page
/// batches on it).
pub(crate) fn workqueue() -> Option<&'static kernel::workqueue::Queue> {
    let wq = WORKQUEUE.as_ref()?;
    // SAFETY: The queue lives until `unload`, after every user of the module
    // (an open /dev/cr holds it) has gone.
    Some(unsafe { kernel::workqueue::Queue::from_raw(wq.0.as_ptr()) })
}

// A task that ran cr's task_work drops its module reference from module code,
// and returns through it: on a preemptible kernel only Tasks RCU can wait for
// it to be out (see `unload`).
#[cfg(all(CONFIG_PREEMPTION, not(CONFIG_TASKS_RCU)))]
compile_error!(
    "cr needs CONFIG_TASKS_RCU on a preemptible kernel \
     (CONFIG_KPROBES, CONFIG_FUNCTION_TRACER or CONFIG_BPF_SYSCALL bring it)"
);

/// Waits, as the module unloads, until no task still runs its code: its
/// workqueue's items (drained with the queue), and a task whose task_work
/// dropped the last module reference, which may still be returning through
/// it. Tasks RCU ends once every task has been through a voluntary
/// context switch or user mode, which such a task reaches only after leaving
/// the module (the way ftrace and kprobes free their trampolines). Without
/// preemption, a plain RCU grace period does.
pub(crate) fn unload() {
    if let Some(wq) = WORKQUEUE.as_ref() {
        // SAFETY: No user is left (see `workqueue`); destroying the queue
        // waits until every work item queued on it has returned.
        unsafe { kernel::bindings::destroy_workqueue(wq.0.as_ptr()) };
    }
    // SAFETY: No preconditions; sleeps.
    #[cfg(CONFIG_TASKS_RCU)]
    unsafe {
        kernel::bindings::synchronize_rcu_tasks()
    };
    // SAFETY: No preconditions; sleeps.
    #[cfg(not(CONFIG_TASKS_RCU))]
    unsafe {
        kernel::bindings::synchronize_rcu()
    };
}

/// Monotonic time in nanoseconds (`ktime_get_ns`).
pub(crate) fn now_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe { kernel::bindings::ktime_get() as u64 }
}

/// Lets another task run if this one has used its share (`cond_resched`),
/// in a long loop in process context with no lock held.
pub(crate) fn cond_resched() {
    // SAFETY: No memory-safety precondition: a call in atomic context is a
    // bug the kernel reports (might_sleep), not undefined behaviour.
    unsafe { ffi::cr_cond_resched() };
}

/// Time since boot, suspend included, in nanoseconds (`ktime_get_boottime_ns`).
pub(crate) fn now_boot_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe {
        kernel::bindings::ktime_get_with_offset(kernel::bindings::tk_offsets_TK_OFFS_BOOT) as u64
    }
}

/// Wall-clock time in nanoseconds (`ktime_get_real_ns`).
pub(crate) fn now_real_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe {
        kernel::bindings::ktime_get_with_offset(kernel::bindings::tk_offsets_TK_OFFS_REAL) as u64
    }
}

/// The caller's utsname release and nodename (`utsname()`), NUL-padded.
pub(crate) fn uts() -> ([u8; 65], [u8; 65]) {
    // SAFETY: The calling thread's own namespaces, which only it changes; its
    // UTS namespace lives while they hold it.
    let u = unsafe {
        let uts = (*(*kernel::task::Task::current_raw()).nsproxy).uts_ns;
        &(*uts.cast::<generated::uts_namespace>()).name
    };
    // strscpy_pad(): at most 64 bytes up to the first NUL, then NULs.
    let copy = |from: &[kernel::ffi::c_char; 65]| {
        let mut to = [0u8; 65];
        let len = from.iter().take(64).position(|&c| c == 0).unwrap_or(64);
        to[..len].copy_from_slice(&from[..len]);
        to
    };
    (copy(&u.release), copy(&u.nodename))
}

/// The image's checksum: XXH64 with seed 0, fed in pieces.
pub(crate) struct Hash {
    state: generated::xxh64_state,
}

impl Hash {
    /// A fresh hash.
    pub(crate) fn new() -> Hash {
        let mut h = Hash {
            state: generated::xxh64_state::default(),
        };
        // SAFETY: `state` is a `struct xxh64_state`, which this initializes.
        unsafe { generated::xxh64_reset(&mut h.state, 0) };
        h
    }

    /// Adds `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        // SAFETY: `state` was reset in `new`; `data` is readable.
        unsafe { generated::xxh64_update(&mut self.state, data.as_ptr().cast(), data.len()) };
    }

    /// Adds page `i` of `batch`.
    pub(crate) fn update_page(&mut self, batch: &mm::PageBatch, i: usize) {
        // SAFETY: The batch holds a reference on the page, mapped here for
        // the length of the update.
        unsafe {
            let p = kernel::bindings::kmap_local_page(batch.pages[i]);
            generated::xxh64_update(&mut self.state, p, kernel::page::PAGE_SIZE);
            kernel::bindings::kunmap_local(p);
        }
    }

    /// The low 32 bits of the hash, the image's check value.
    pub(crate) fn check(&mut self) -> u32 {
        use crate::image::format::Checksum;
        self.value() as u32
    }
}

/// `READ_ONCE(*p)`: a field another CPU may write without the lock held.
///
/// # Safety
///
/// `p` must be valid for reads and aligned.
unsafe fn read_once<T: Copy>(p: *const T) -> T {
    // SAFETY: Per the function's contract.
    unsafe { core::ptr::read_volatile(p) }
}

impl crate::image::format::Checksum for Hash {
    fn start() -> Self {
        Hash::new()
    }

    fn add(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }

    fn value(&self) -> u64 {
        // SAFETY: `state` was reset in `new`; the digest only reads it.
        unsafe { generated::xxh64_digest(&self.state) }
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
