// SPDX-License-Identifier: GPL-2.0

//! Another process's address space: its fields and VMAs, which of its pages
//! exist (without faulting any in), and references on those pages.

use core::ptr::{addr_of, addr_of_mut, NonNull};

use kernel::{
    bindings,
    mm::{virt::VmaRef, MmWithUser, MmapReadGuard},
    prelude::*,
    sync::aref::ARef,
    task::Task,
};

use kernel::ffi::{c_int, c_long};

use super::{caller::bindings_mman as mman, ffi, file, generated, read_once};
use crate::uapi::{self, CrMm, CrVma};

/// A `VM_*` flag from its bit (the kernel's bindings name some flags only
/// by their `VMA_*_BIT`).
const fn vm(bit: u32) -> bindings::vm_flags_t {
    1 << bit
}

/// `VM_LOCKED`.
pub(super) const VM_LOCKED: bindings::vm_flags_t = vm(bindings::VMA_LOCKED_BIT);
/// `VM_NOHUGEPAGE`.
pub(super) const VM_NOHUGEPAGE: bindings::vm_flags_t = vm(bindings::VMA_NOHUGEPAGE_BIT);

/// One of the image's `CR_VMA_*` flags that is a kernel `VM_*` flag.
pub(super) struct VmaFlag {
    pub(super) cr: u32,
    pub(super) vm: bindings::vm_flags_t,
    /// Set by the restore as it is (`settle`): the flags madvise sets that
    /// only tell the kernel how to treat the area (huge pages, fork, core
    /// dumps, read-ahead), and VM_SOFTDIRTY (a new mapping has it, the stack
    /// exec made has not; the restored pages are soft-dirty either way). The
    /// others the restore makes its own way: MAP_GROWSDOWN, mlock (with its
    /// charge), KSM, the commit charge and MAP_NORESERVE; guard pages are
    /// refused.
    pub(super) carried: bool,
}

/// The image's `CR_VMA_*` flags that are `VM_*` flags: the one table of both.
pub(super) const VMA_FLAGS: [VmaFlag; 15] = {
    const fn f(cr: u32, bit: u32, carried: bool) -> VmaFlag {
        VmaFlag {
            cr,
            vm: vm(bit),
            carried,
        }
    }
    [
        f(uapi::CR_VMA_HUGEPAGE, bindings::VMA_HUGEPAGE_BIT, true),
        f(uapi::CR_VMA_NOHUGEPAGE, bindings::VMA_NOHUGEPAGE_BIT, true),
        f(uapi::CR_VMA_DONTFORK, bindings::VMA_DONTCOPY_BIT, true),
        f(uapi::CR_VMA_WIPEONFORK, bindings::VMA_WIPEONFORK_BIT, true),
        f(uapi::CR_VMA_DONTDUMP, bindings::VMA_DONTDUMP_BIT, true),
        f(uapi::CR_VMA_SEQ_READ, bindings::VMA_SEQ_READ_BIT, true),
        f(uapi::CR_VMA_RAND_READ, bindings::VMA_RAND_READ_BIT, true),
        f(uapi::CR_VMA_SOFTDIRTY, bindings::VMA_SOFTDIRTY_BIT, true),
        f(uapi::CR_VMA_GROWSDOWN, bindings::VMA_GROWSDOWN_BIT, false),
        f(uapi::CR_VMA_LOCKED, bindings::VMA_LOCKED_BIT, false),
        f(
            uapi::CR_VMA_LOCKONFAULT,
            bindings::VMA_LOCKONFAULT_BIT,
            false,
        ),
        f(uapi::CR_VMA_MERGEABLE, bindings::VMA_MERGEABLE_BIT, false),
        f(uapi::CR_VMA_ACCOUNT, bindings::VMA_ACCOUNT_BIT, false),
        f(uapi::CR_VMA_NORESERVE, bindings::VMA_NORESERVE_BIT, false),
        f(uapi::CR_VMA_GUARD, bindings::VMA_MAYBE_GUARD_BIT, false),
    ]
};

/// `PROT_*` of an area's `VM_*` flags.
fn prot(f: bindings::vm_flags_t) -> u32 {
    let mut p = 0;
    for (vm, prot) in [
        (bindings::VM_READ, mman::PROT_READ),
        (bindings::VM_WRITE, mman::PROT_WRITE),
        (bindings::VM_EXEC, mman::PROT_EXEC),
    ] {
        if f & vm != 0 {
            p |= prot;
        }
    }
    p
}

/// The name `vma`'s operations give it ([vdso], [vvar], ...), if any.
///
/// # Safety
///
/// `vma` must be a VMA whose mm's mmap lock the caller holds.
unsafe fn special_name<'a>(vma: *mut bindings::vm_area_struct) -> Option<&'a CStr> {
    // SAFETY: Per the contract `vma` and its operations are valid; `name`
    // returns NULL or a static string.
    unsafe {
        let name = (*vma).vm_ops.as_ref()?.name?(vma);
        (!name.is_null()).then(|| CStr::from_char_ptr(name))
    }
}

/// Whether `vma` of `mm` is a special mapping ([vdso], [vvar],
/// [vvar_vclock]), which a restore keeps.
///
/// # Safety
///
/// `vma` must be an area of `mm`, whose mmap lock the caller holds.
pub(super) unsafe fn is_special(
    mm: *mut bindings::mm_struct,
    vma: *mut bindings::vm_area_struct,
) -> bool {
    // SAFETY: Per the contract.
    unsafe {
        if (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start
            == (*mm).__bindgen_anon_1.context.vdso as usize
        {
            return true;
        }
        special_name(vma)
            .is_some_and(|n| n.to_bytes() == b"[vdso]" || n.to_bytes().starts_with(b"[vvar"))
    }
}

/// Whether a file mapped shared is memory that nothing names: shared
/// anonymous, System V, memfd, or a deleted tmpfs file. The files
/// alloc_file_pseudo() makes have an unhashed root dentry, which d_unlinked()
/// calls linked. A tmpfs file that has a name is a file; a private mapping
/// of one without is a file with no name.
///
/// # Safety
///
/// `f` must be a file valid for the call.
unsafe fn memory_file(f: *mut bindings::file) -> bool {
    // SAFETY: Per the contract `f` (and its mapping) are valid.
    unsafe { generated::shmem_mapping((*f).f_mapping) && file::unnamed(f) }
}

/// Pages in one page-table chunk (one PMD's worth).
pub(crate) const CHUNK_PAGES: usize = 512;

/// A bitmap of the pages of one chunk.
pub(crate) type ChunkBits = [usize; CHUNK_PAGES / usize::BITS as usize];

/// A page-table chunk (at most the range of one PMD) that may hold pages.
pub(crate) struct Chunk {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The chunk is one huge mapping (a PMD or PUD leaf), not a table of
    /// small pages.
    pub(crate) huge: bool,
}

/// A process's address space, held with `mmget` (its memory stays mapped
/// while this lives, even if the process exits). A clone holds another
/// reference.
#[derive(Clone)]
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

    /// The pages of locked memory (`locked_vm`), and whether mlockall's
    /// MCL_FUTURE is set.
    pub(crate) fn locked(&self) -> (u64, bool) {
        let mm = self.as_raw();
        // SAFETY: The mm is valid (we hold a user reference); these words
        // are read once each.
        unsafe {
            let m = &(*mm).__bindgen_anon_1;
            (
                read_once(addr_of!(m.locked_vm)) as u64,
                read_once(addr_of!(m.__bindgen_anon_2.def_flags)) & VM_LOCKED != 0,
            )
        }
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

    /// The mm-wide fields; the saved auxv, up to and including its AT_NULL
    /// pair, goes to `auxv` (`auxv_words` used).
    pub(crate) fn info(&self, auxv: &mut [u64]) -> CrMm {
        let mm = self.mm();
        let mut out = CrMm::default();
        // `arg_lock` guards the argument and environment bounds.
        // SAFETY: We hold a user reference and the mmap read lock, under
        // which these fields hold still.
        unsafe {
            let m = &(*mm).__bindgen_anon_1;
            out.start_code = m.start_code as u64;
            out.end_code = m.end_code as u64;
            out.start_data = m.start_data as u64;
            out.end_data = m.end_data as u64;
            out.start_brk = m.start_brk as u64;
            out.brk = m.brk as u64;
            out.start_stack = m.start_stack as u64;
            bindings::spin_lock(addr_of_mut!((*mm).__bindgen_anon_1.arg_lock));
            out.arg_start = m.arg_start as u64;
            out.arg_end = m.arg_end as u64;
            out.env_start = m.env_start as u64;
            out.env_end = m.env_end as u64;
            bindings::spin_unlock(addr_of_mut!((*mm).__bindgen_anon_1.arg_lock));
            out.vdso_base = m.context.vdso as u64;
            out.nr_vmas = m.map_count as u32;
        }
        // SAFETY: `saved_auxv` is written only by exec (and a restore) of the
        // mm's own process, which holds still while it is checkpointed.
        let saved = unsafe { &(*mm).__bindgen_anon_1.saved_auxv };
        let mut words = 0;
        while words + 1 < saved.len() && words + 1 < auxv.len() {
            auxv[words] = saved[words] as u64;
            auxv[words + 1] = saved[words + 1] as u64;
            words += 2;
            if saved[words - 2] == bindings::AT_NULL as usize {
                break;
            }
        }
        out.auxv_words = words as u32;
        out
    }

    /// The `CR_PROCESS_*` settings kept in the address space: THP disabled
    /// (prctl), KSM for every area (PR_SET_MEMORY_MERGE), MDWE, mlockall's
    /// MCL_FUTURE, membarrier registrations.
    pub(crate) fn process_flags(&self) -> u32 {
        let mm = self.mm();
        // SAFETY: The mm is valid (we hold a user reference); these are
        // words other CPUs may change, read once.
        let (flags, def_flags, membarrier) = unsafe {
            let m = &(*mm).__bindgen_anon_1;
            (
                read_once(addr_of!(m.flags.__mm_flags[0])),
                read_once(addr_of!(m.__bindgen_anon_2.def_flags)),
                read_once(addr_of!(m.membarrier_state.counter)) as u32,
            )
        };
        let mmf = |bit: u32| flags & (1 << bit) != 0;
        let mut f = 0;
        let mut set = |on: bool, bits: u32| {
            if on {
                f |= bits;
            }
        };
        set(
            mmf(bindings::MMF_DISABLE_THP_COMPLETELY),
            uapi::CR_PROCESS_THP_DISABLE,
        );
        set(
            mmf(bindings::MMF_DISABLE_THP_EXCEPT_ADVISED),
            uapi::CR_PROCESS_THP_DISABLE | uapi::CR_PROCESS_THP_EXCEPT_ADVISED,
        );
        set(mmf(bindings::MMF_VM_MERGE_ANY), uapi::CR_PROCESS_KSM_ANY);
        set(mmf(bindings::MMF_HAS_MDWE), uapi::CR_PROCESS_MDWE);
        set(
            mmf(bindings::MMF_HAS_MDWE_NO_INHERIT),
            uapi::CR_PROCESS_MDWE_NO_INHERIT,
        );
        set(def_flags & VM_LOCKED != 0, uapi::CR_PROCESS_MLOCK_FUTURE);
        set(
            def_flags & bindings::VM_LOCKONFAULT != 0,
            uapi::CR_PROCESS_MLOCK_ONFAULT,
        );
        for (state, bit) in [
            (
                bindings::MEMBARRIER_STATE_PRIVATE_EXPEDITED_READY,
                uapi::CR_PROCESS_MEMBARRIER_PRIVATE,
            ),
            (
                bindings::MEMBARRIER_STATE_GLOBAL_EXPEDITED_READY,
                uapi::CR_PROCESS_MEMBARRIER_GLOBAL,
            ),
            (
                bindings::MEMBARRIER_STATE_PRIVATE_EXPEDITED_SYNC_CORE_READY,
                uapi::CR_PROCESS_MEMBARRIER_SYNC_CORE,
            ),
            (
                bindings::MEMBARRIER_STATE_PRIVATE_EXPEDITED_RSEQ_READY,
                uapi::CR_PROCESS_MEMBARRIER_RSEQ,
            ),
        ] {
            set(membarrier & state != 0, bit);
        }
        f
    }

    /// The executable's path into `buf`; returns its length (0: none).
    pub(crate) fn exe_path(&self, buf: &mut [u8]) -> Result<usize> {
        let exe = {
            let _rcu = kernel::sync::rcu::read_lock();
            // SAFETY: The mm is valid; get_file_rcu() takes a reference on
            // its `exe_file` under RCU, or returns NULL when there is none.
            unsafe { bindings::get_file_rcu(addr_of_mut!((*self.mm()).__bindgen_anon_1.exe_file)) }
        };
        let Some(exe) = NonNull::new(exe.cast::<kernel::fs::File>()) else {
            return Ok(0);
        };
        // SAFETY: The `ARef` owns the reference just taken.
        let exe = unsafe { ARef::from_raw(exe) };
        // SAFETY: The file (and so its path) is valid while `exe` lives.
        unsafe { file::path_into(addr_of!((*exe.as_ptr()).__bindgen_anon_1.f_path), buf) }
    }

    /// The first VMA ending above `addr`, its file's path in `path` (a
    /// special mapping's name), and whether that file has no name to open it
    /// by again (deleted, or memory that never had one).
    pub(crate) fn vma_after(&self, addr: usize, path: &mut [u8]) -> Result<Option<(CrVma, bool)>> {
        let mm = self.mm();
        // SAFETY: We hold the mmap read lock; any address may be looked up.
        let raw = unsafe { bindings::find_vma(mm, addr) };
        if raw.is_null() {
            return Ok(None);
        }
        // SAFETY: A VMA of this mm, which holds still while `self` holds the
        // mmap read lock.
        let vma = unsafe { VmaRef::from_raw(raw) };
        // SAFETY: As above, and the mm's fields read here are set by exec
        // and brk, which take the mmap write lock.
        let (m, pgoff, file, name) = unsafe {
            (
                &(*mm).__bindgen_anon_1,
                (*raw).vm_pgoff,
                (*raw).vm_file,
                special_name(raw),
            )
        };
        let (start, end, f) = (vma.start(), vma.end(), vma.flags());
        let mut v = CrVma {
            start: start as u64,
            end: end as u64,
            pgoff: pgoff as u64,
            prot: prot(f),
            ..CrVma::default()
        };
        // MAP_SHARED is VM_MAYSHARE: a shared mapping of a file opened
        // read-only has no VM_SHARED (do_mmap()) but is shared all the same.
        if f & bindings::VM_MAYSHARE != 0 {
            v.flags |= uapi::CR_VMA_SHARED;
            if f & bindings::VM_MAYWRITE != 0 {
                v.flags |= uapi::CR_VMA_MAYWRITE;
            }
        }
        for flag in VMA_FLAGS.iter() {
            if f & flag.vm != 0 {
                v.flags |= flag.cr;
            }
        }
        if start <= m.start_stack && m.start_stack <= end {
            v.flags |= uapi::CR_VMA_STACK;
        }
        let named = |n: &[u8]| name.is_some_and(|s| s.to_bytes().starts_with(n));
        v.kind = if start == m.context.vdso as usize || named(b"[vdso]") {
            uapi::CR_VMA_VDSO
        } else if named(b"[vvar") {
            uapi::CR_VMA_VVAR
        } else if f & (bindings::VM_IO | bindings::VM_PFNMAP) != 0 {
            uapi::CR_VMA_DEVICE
        } else if file.is_null() {
            uapi::CR_VMA_ANON
        // SAFETY: `file` is the area's file, which it holds a reference on.
        } else if f & bindings::VM_MAYSHARE != 0 && unsafe { memory_file(file) } {
            uapi::CR_VMA_SHMEM
        } else {
            uapi::CR_VMA_FILE
        };
        if v.kind == uapi::CR_VMA_ANON && start <= m.brk && end >= m.start_brk {
            v.flags |= uapi::CR_VMA_HEAP;
        }
        if file.is_null() {
            // A special mapping: its name, as /proc/<pid>/maps shows it.
            if let Some(name) = name {
                let name = name.to_bytes();
                path.get_mut(..name.len())
                    .ok_or(E2BIG)?
                    .copy_from_slice(name);
                v.path_len = name.len() as u32;
            }
            return Ok(Some((v, false)));
        }
        // SAFETY: The area holds a reference on its file.
        let (id, unnamed) = unsafe { (file::inode_id(file), file::unnamed(file)) };
        v.dev = id.dev;
        v.ino = id.ino;
        v.file_size = id.size;
        v.mtime_ns = id.mtime_ns;
        // SAFETY: As above: the file's path is valid while it is.
        v.path_len =
            unsafe { file::path_into(addr_of!((*file).__bindgen_anon_1.f_path), path) }? as u32;
        Ok(Some((v, unnamed)))
    }

    /// The next chunk of `[addr, end)` whose page tables may hold pages,
    /// with `bits` marking its candidate pages; `None` when the rest of the
    /// range has no page tables. Allocates and faults nothing.
    pub(crate) fn next_chunk(
        &self,
        addr: usize,
        end: usize,
        bits: &mut ChunkBits,
    ) -> Option<Chunk> {
        let (mut chunk_end, mut huge) = (0usize, false);
        // SAFETY: We hold the mmap read lock; `bits` has room for 512 bits.
        let start = unsafe {
            ffi::cr_pt_next(
                self.mm(),
                addr,
                end,
                &mut chunk_end,
                bits.as_mut_ptr(),
                &mut huge,
            )
        };
        (start < end).then_some(Chunk {
            start,
            end: chunk_end,
            huge,
        })
    }

    /// Takes references on up to `nr` pages from `addr`, added to the end of
    /// `batch` (which must have room for them), stopping at the first page
    /// that does not exist. Never faults in an absent anonymous page. Returns
    /// how many (0 for a hole).
    pub(crate) fn get_pages(&self, addr: usize, nr: usize, batch: &mut PageBatch) -> Result<usize> {
        let spare = batch.pages.spare_capacity_mut();
        if nr > spare.len() {
            return Err(EINVAL);
        }
        // As a core dump reads them: FOLL_DUMP (an absent anonymous page or
        // the zero page fails instead of being faulted in), FOLL_FORCE
        // (PROT_NONE areas can be read).
        // SAFETY: We hold the mmap read lock; `spare` has room for `nr`
        // pointers; GUP stores the pages it took references on.
        let n = unsafe {
            bindings::get_user_pages_remote(
                self.mm(),
                addr,
                nr,
                bindings::FOLL_DUMP | bindings::FOLL_FORCE,
                spare.as_mut_ptr().cast(),
                core::ptr::null_mut(),
            )
        };
        if n == -(bindings::EFAULT as c_long) {
            return Ok(0);
        }
        if n < 0 {
            return Err(Error::from_errno(n as i32));
        }
        // SAFETY: GUP initialized the `n` <= `nr` elements after the batch's.
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

// SAFETY: A batch is page pointers with a reference on each: the pages may be
// read, and the references dropped, from any task.
unsafe impl Send for PageBatch {}

impl PageBatch {
    /// An empty batch, with no room yet.
    pub(crate) fn new() -> PageBatch {
        PageBatch { pages: KVec::new() }
    }

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

    /// How many pages the batch holds.
    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    /// Fills the emptied batch with the caller's own pages `[addr, addr + nr
    /// pages)`, faulted in for writing whatever the area's protection, as
    /// ptrace's POKE does (a page of a private area becomes the process's own
    /// copy). `EFAULT` where nothing is mapped; `EINTR` on a fatal signal.
    pub(crate) fn get_own(&mut self, addr: usize, nr: usize) -> Result {
        self.clear();
        self.pages.reserve(nr, GFP_KERNEL_ACCOUNT)?;
        while self.pages.len() < nr {
            let have = self.pages.len();
            let at = addr + (have << bindings::PAGE_SHIFT);
            let want = c_int::try_from(nr - have).map_err(|_| EINVAL)?;
            let spare = self.pages.spare_capacity_mut();
            // SAFETY: `spare` has room for `nr - have` page pointers.
            let got = unsafe {
                bindings::get_user_pages_fast(
                    at,
                    want,
                    bindings::FOLL_WRITE | bindings::FOLL_FORCE,
                    spare.as_mut_ptr().cast(),
                )
            };
            if got <= 0 {
                return Err(if got == 0 {
                    EFAULT
                } else {
                    Error::from_errno(got)
                });
            }
            // SAFETY: GUP stored `got` <= `nr - have` pages, each with a
            // reference the batch now owns (the invariant).
            unsafe { self.pages.inc_len(got as usize) };
        }
        Ok(())
    }

    /// Marks every page dirty, as a write through ptrace does: a page written
    /// through the kernel's mapping where the process's own is read-only.
    pub(crate) fn mark_dirty(&self) {
        for &p in self.pages.iter() {
            // SAFETY: By the invariant `p` is a valid page (we hold a reference).
            unsafe { bindings::set_page_dirty_lock(p) };
        }
    }

    /// Drops the references on every page and empties the batch.
    pub(crate) fn clear(&mut self) {
        if self.pages.is_empty() {
            return;
        }
        // At most a chunk of pages: `nr` fits an int.
        let nr = self.pages.len() as c_int;
        let arg = bindings::release_pages_arg {
            pages: self.pages.as_mut_ptr(),
        };
        // SAFETY: By the invariant the batch owns a reference on each of its
        // `nr` pages; the pointers are forgotten just below.
        unsafe { bindings::release_pages(arg, nr) };
        self.pages.clear();
    }
}

impl Drop for PageBatch {
    fn drop(&mut self) {
        self.clear();
    }
}
