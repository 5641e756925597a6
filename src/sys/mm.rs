// SPDX-License-Identifier: GPL-2.0

//! Another process's address space: its fields and VMAs, which of its pages
//! exist (without faulting any in), and references on those pages.

use core::ptr::NonNull;

use kernel::{
    bindings,
    mm::{MmWithUser, MmapReadGuard},
    prelude::*,
    sync::aref::ARef,
    task::Task,
};

use kernel::ffi::c_long;

use super::{errno, ffi};
use crate::uapi::{CrMm, CrVma};

/// Pages in one page-table chunk (one PMD's worth).
pub(crate) const CHUNK_PAGES: usize = 512;

/// A bitmap of the pages of one chunk.
pub(crate) type ChunkBits = [usize; CHUNK_PAGES / usize::BITS as usize];

/// A process's address space, held with `mmget` (its memory stays mapped
/// while this lives, even if the process exits).
pub(crate) struct AddressSpace {
    mm: ARef<MmWithUser>,
}

impl AddressSpace {
    /// `t`'s address space; `EINVAL` when it has none (a kernel thread, or
    /// the task is exiting).
    pub(crate) fn of(t: &Task) -> Result<AddressSpace> {
        // SAFETY: `t` is valid. The result is NULL or an mm with `mm_users`
        // incremented for us.
        let mm = unsafe { bindings::get_task_mm(t.as_ptr()) };
        let mm = NonNull::new(mm.cast::<MmWithUser>()).ok_or(EINVAL)?;
        // SAFETY: `get_task_mm` took an `mm_users` reference, which is what an
        // `ARef<MmWithUser>` owns. `MmWithUser` is transparent over `mm_struct`.
        let mm = unsafe { ARef::from_raw(mm) };
        Ok(AddressSpace { mm })
    }

    /// Whether `t` still runs in this address space (it has not exec'd).
    pub(crate) fn is_current_for(&self, t: &Task) -> bool {
        match AddressSpace::of(t) {
            Ok(other) => other.as_raw() == self.as_raw(),
            Err(_) => false,
        }
    }

    pub(super) fn as_raw(&self) -> *mut bindings::mm_struct {
        self.mm.as_raw()
    }

    /// Takes the mmap read lock: the VMAs cannot change while it is held.
    pub(crate) fn read(&self) -> MmRead<'_> {
        MmRead {
            space: self,
            _guard: self.mm.mmap_read_lock(),
        }
    }
}

/// An address space with its mmap read lock held.
pub(crate) struct MmRead<'a> {
    space: &'a AddressSpace,
    _guard: MmapReadGuard<'a>,
}

impl MmRead<'_> {
    fn mm(&self) -> *mut bindings::mm_struct {
        self.space.as_raw()
    }

    /// The mm-wide fields; the saved auxv goes to `auxv` (`auxv_words` used).
    pub(crate) fn info(&self, auxv: &mut [u64]) -> CrMm {
        let mut out = CrMm::default();
        let max = u32::try_from(auxv.len()).unwrap_or(u32::MAX);
        // SAFETY: We hold the mmap read lock; `out` is valid; `auxv` is
        // writable for `max` words.
        unsafe { ffi::cr_mm_get(self.mm(), &mut out, auxv.as_mut_ptr(), max) };
        out
    }

    /// The `CR_PROCESS_*` settings kept in the address space (THP, KSM,
    /// MDWE, membarrier registrations).
    pub(crate) fn process_flags(&self) -> u32 {
        // SAFETY: The mm is valid (we hold a user reference and its lock).
        unsafe { ffi::cr_mm_process_flags(self.mm()) }
    }

    /// The executable's path into `buf`; returns its length (0: none).
    pub(crate) fn exe_path(&self, buf: &mut [u8]) -> Result<usize> {
        let len = i32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: `buf` is writable for `len` bytes; the mm is valid.
        let n = errno(unsafe { ffi::cr_mm_exe_path(self.mm(), buf.as_mut_ptr().cast(), len) })?;
        Ok(n as usize)
    }

    /// The first VMA ending above `addr`, its file's path in `path`, and
    /// whether that file has no name to open it by again (deleted, or memory
    /// that never had one).
    pub(crate) fn vma_after(&self, addr: usize, path: &mut [u8]) -> Result<Option<(CrVma, bool)>> {
        let mut v = CrVma::default();
        let len = i32::try_from(path.len()).map_err(|_| EINVAL)?;
        let buf = path.as_mut_ptr().cast();
        // SAFETY: We hold the mmap read lock; `v` is valid; `buf` is writable
        // for `len` bytes.
        let ret = unsafe { ffi::cr_vma_get(self.mm(), addr, &mut v, buf, len) };
        Ok(match errno(ret)? {
            0 => None,
            n => Some((v, n == 2)),
        })
    }

    /// The next chunk of `[addr, end)` whose page tables may hold pages, as
    /// `(start, end)`, with `bits` marking its candidate pages; `None` when
    /// the rest of the range has no page tables. Allocates and faults nothing.
    pub(crate) fn next_chunk(
        &self,
        addr: usize,
        end: usize,
        bits: &mut ChunkBits,
    ) -> Option<(usize, usize)> {
        let mut chunk_end = 0usize;
        // SAFETY: We hold the mmap read lock; `bits` has room for 512 bits.
        let start =
            unsafe { ffi::cr_pt_next(self.mm(), addr, end, &mut chunk_end, bits.as_mut_ptr()) };
        (start < end).then_some((start, chunk_end))
    }

    /// Takes references on up to `nr` pages from `addr` into `batch` (which
    /// must be empty), stopping at the first page that does not exist. Never
    /// faults in an absent anonymous page. Returns how many (0 for a hole).
    pub(crate) fn get_pages(&self, addr: usize, nr: usize, batch: &mut PageBatch) -> Result<usize> {
        if !batch.pages.is_empty() || nr > batch.pages.capacity() {
            return Err(EINVAL);
        }
        // SAFETY: We hold the mmap read lock; `batch.pages` has room for `nr`
        // pointers; GUP stores the pages it took references on.
        let n = unsafe { ffi::cr_pages_get(self.mm(), addr, nr, batch.pages.as_mut_ptr()) };
        if n == -(bindings::EFAULT as c_long) {
            return Ok(0);
        }
        if n < 0 {
            return Err(Error::from_errno(n as i32));
        }
        // SAFETY: GUP initialized the first `n` elements.
        unsafe { batch.pages.inc_len(n as usize) };
        Ok(n as usize)
    }
}

/// Pages with a reference held on each (dropped with the batch).
///
/// # Invariants
///
/// Every pointer in `pages` is a page on which this batch owns a reference.
pub(crate) struct PageBatch {
    pub(super) pages: KVec<*mut bindings::page>,
}

impl PageBatch {
    /// An empty batch with room for `n` pages.
    pub(crate) fn with_capacity(n: usize) -> Result<PageBatch> {
        Ok(PageBatch {
            pages: KVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?,
        })
    }

    /// Whether page `i` is anonymous memory (in a private file mapping: a
    /// copy made on write, rather than the file's own page).
    pub(crate) fn is_anon(&self, i: usize) -> bool {
        // SAFETY: By the invariant the page is valid (we hold a reference).
        unsafe { ffi::cr_page_anon(self.pages[i]) }
    }

    /// Drops the references on every page and empties the batch.
    pub(crate) fn clear(&mut self) {
        for &p in self.pages.iter() {
            // SAFETY: By the invariant we own a reference on `p`.
            unsafe { ffi::cr_page_put(p) };
        }
        self.pages.clear();
    }
}

impl Drop for PageBatch {
    fn drop(&mut self) {
        self.clear();
    }
}
