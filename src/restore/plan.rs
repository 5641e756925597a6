// SPDX-License-Identifier: GPL-2.0

//! The restore's plan: every record up to the first page, read and checked
//! (with the same rules as crctl, `format.rs`), and what the rebuild needs
//! from them.

use kernel::prelude::*;

use crate::{
    error::{Failure, Reason},
    image::format::{Checker, FormatError, Item, Metadata, Record},
    sys::{self, file::OpenFile},
    uapi::{self, *},
};

/// A failure of the image itself, at `at`.
pub(super) fn image_failure(e: FormatError) -> Failure {
    use crate::image::format::Fault;
    let err = match e.fault {
        Fault::NotAnImage | Fault::Unsupported => ENOEXEC,
        Fault::Truncated => ENODATA,
        Fault::Damaged => EBADMSG,
        Fault::Invalid => EINVAL,
    };
    Failure::at(err, Reason::Image, e.at)
}

/// How a restore allocates what its caller's image makes it keep: charged to
/// the caller's memory cgroup (a restore is the caller's work), and from
/// kvmalloc, so a large table is neither a high-order allocation nor a
/// warning (Documentation/security.rst).
pub(super) const ACCOUNT: kernel::alloc::Flags = GFP_KERNEL_ACCOUNT;

/// One thread's records.
pub(crate) struct Thread {
    pub(super) thread: CrThread,
    /// Where its record starts in the image (for error reports).
    pub(super) at: u64,
    pub(super) xstate: KVVec<u8>,
    pub(super) pending: KVVec<CrSiginfo>,
}

/// The `CR_VMA_*` flags madvise sets: an area settled with any of them no
/// longer merges with a fresh mapping next to it.
pub(super) const MADVISED: u32 = uapi::CR_VMA_HUGEPAGE
    | uapi::CR_VMA_NOHUGEPAGE
    | uapi::CR_VMA_DONTFORK
    | uapi::CR_VMA_WIPEONFORK
    | uapi::CR_VMA_DONTDUMP
    | uapi::CR_VMA_SEQ_READ
    | uapi::CR_VMA_RAND_READ
    | uapi::CR_VMA_MERGEABLE;

/// The `CR_VMA_*` flags compared to tell whether two adjacent areas would
/// merge as they are mapped (what settling adds is in `apart`).
pub(super) const MAPPED: u32 = uapi::CR_VMA_SHARED
    | uapi::CR_VMA_GROWSDOWN
    | uapi::CR_VMA_HEAP
    | uapi::CR_VMA_STACK
    | uapi::CR_VMA_LOCKED
    | uapi::CR_VMA_DONTDUMP
    | uapi::CR_VMA_MAYWRITE;

/// One memory area, with its file opened (before the point of no return).
pub(super) struct Area {
    pub(super) vma: CrVma,
    /// Where its record starts in the image (for error reports).
    pub(super) at: u64,
    /// Where its path starts in `Plan::paths` (`vma.path_len` bytes).
    pub(super) path_at: usize,
    pub(super) file: Option<OpenFile>,
}

/// Everything before the first page, read and checked.
pub(super) struct Plan {
    pub(super) process: CrProcess,
    pub(super) mm: CrMm,
    /// Where the MM record starts in the image.
    pub(super) mm_at: u64,
    pub(super) auxv: KVVec<u64>,
    pub(super) areas: KVVec<Area>,
    /// The areas' paths, back to back.
    pub(super) paths: KVVec<u8>,
    pub(super) sighand: KBox<CrSighand>,
    pub(super) shared: KVVec<CrSiginfo>,
    pub(super) shared_set: u64,
    pub(super) threads: KVVec<Thread>,
    pub(super) checker: Checker,
    pub(super) chain: sys::Hash,
    /// The header of the first PAGES (or TRAILER) record, and its offset.
    pub(super) next: CrRecord,
    pub(super) next_at: u64,
}

/// Out of memory while keeping a record (charged to the caller).
pub(super) fn oom(at: u64) -> Failure {
    Failure::at(ENOMEM, Reason::None, at)
}

impl Plan {
    /// Parses `meta`: the magic through the header of the first data record.
    #[inline(never)]
    pub(super) fn parse(meta: &[u8]) -> Result<KBox<Plan>, Failure> {
        let sighand = sys::zeroed_box::<CrSighand>()?;
        // Built in place: the plan is over a kilobyte.
        let mut plan = KBox::init(
            try_init!(Plan {
                process: zeroed(),
                mm: zeroed(),
                mm_at: 0,
                auxv: KVVec::new(),
                areas: KVVec::new(),
                paths: KVVec::new(),
                sighand,
                shared: KVVec::new(),
                shared_set: 0,
                threads: KVVec::new(),
                checker: Checker::new(),
                chain: sys::Hash::new(),
                next: zeroed(),
                next_at: 0,
            }),
            ACCOUNT,
        )?;
        let mut records = Metadata::<sys::Hash>::new(meta);
        for item in records.by_ref() {
            match item.map_err(image_failure)? {
                Item::Record { at, record } => plan.keep(record, at)?,
                Item::Data { at, header } => {
                    plan.next = header;
                    plan.next_at = at;
                }
            }
        }
        (plan.checker, plan.chain) = records.finish();
        Ok(plan)
    }

    /// Keeps what the restore needs of a checked record.
    pub(super) fn keep(&mut self, record: Record<'_>, at: u64) -> Result<(), Failure> {
        match record {
            Record::Process(p) => self.process = p,
            Record::Mm { mm, auxv, .. } => {
                self.mm = mm;
                self.mm_at = at;
                for w in crate::image::format::auxv_words(auxv) {
                    self.auxv.push(w, ACCOUNT).map_err(|_| oom(at))?;
                }
            }
            Record::Vma { vma, path } => {
                let path_at = self.paths.len();
                self.paths
                    .extend_from_slice(path, ACCOUNT)
                    .map_err(|_| oom(at))?;
                self.areas
                    .push(
                        Area {
                            vma,
                            at,
                            path_at,
                            file: None,
                        },
                        ACCOUNT,
                    )
                    .map_err(|_| oom(at))?;
            }
            // Copied straight into the boxed record: 2 KiB stays off the stack.
            Record::Sighand(bytes) => as_bytes_mut(&mut *self.sighand).copy_from_slice(bytes),
            Record::Sigpending { head, queued } => {
                self.shared_set = head.signal;
                for q in queued {
                    self.shared.push(q, ACCOUNT).map_err(|_| oom(at))?;
                }
            }
            Record::Thread {
                thread,
                xstate,
                queued,
            } => {
                let mut t = Thread {
                    thread,
                    at,
                    xstate: KVVec::new(),
                    pending: KVVec::new(),
                };
                t.xstate
                    .extend_from_slice(xstate, ACCOUNT)
                    .map_err(|_| oom(at))?;
                for q in queued {
                    t.pending.push(q, ACCOUNT).map_err(|_| oom(at))?;
                }
                self.threads.push(t, ACCOUNT).map_err(|_| oom(at))?;
            }
            // The caller restores these (fds, directories, timers, pipes'
            // data) before it calls the restore; they were checked all the
            // same, as every record is.
            Record::Header(_)
            | Record::Fd { .. }
            | Record::Fs { .. }
            | Record::Itimers(_)
            | Record::Clocks(_)
            | Record::Pipe { .. }
            | Record::Trailer(_) => {}
        }
        Ok(())
    }

    /// The path of area `i`.
    pub(super) fn path(&self, i: usize) -> &[u8] {
        let a = &self.areas[i];
        &self.paths[a.path_at..a.path_at + a.vma.path_len as usize]
    }
}
