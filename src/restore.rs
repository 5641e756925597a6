// SPDX-License-Identifier: GPL-2.0

//! Restore: the calling process becomes the image's process (the way BLCR
//! restarts: its address space is emptied and rebuilt, then its registers are
//! set so that the ioctl returns into the restored program).
//!
//! Order: read and check every record up to the first page (with the same
//! rules as crctl, `format.rs`), then everything that can fail without harm
//! (credentials, CPU, vdso placement, opening and checking the mapped files,
//! the FPU state), then the point of no return (unmap the caller's memory),
//! then the mappings, the pages as they stream in, the mm fields, signal
//! state and registers. After the point of no return a failure is reported
//! on the status fd and the process is killed: it never runs half-restored.

use kernel::{fs::File, page::PAGE_SIZE, prelude::*};

use crate::{
    error::{Failure, OrFail, Reason},
    format::{Checker, FormatError, Record, MAX_METADATA},
    resume,
    sys::{
        self,
        caller::{self, bindings_mman as mman},
        file::{InFile, OpenFile, StatusFile},
        task as systask,
    },
    thread_meeting,
    uapi::{self, *},
};

/// Bytes of page data read and written at a time.
const CHUNK: usize = 64 * 1024;

/// `O_RDONLY`, `O_RDWR` for opening mapped files.
const O_RDONLY: i32 = 0;
const O_RDWR: i32 = 2;

/// A failure of the image itself, at `at`.
fn image_failure(e: FormatError) -> Failure {
    use crate::format::Fault;
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
const ACCOUNT: kernel::alloc::Flags = GFP_KERNEL_ACCOUNT;

/// One thread's records.
pub(crate) struct Thread {
    thread: CrThread,
    /// Where its record starts in the image (for error reports).
    at: u64,
    xstate: KVVec<u8>,
    pending: KVVec<CrSiginfo>,
}

/// The `CR_VMA_*` flags madvise sets: an area settled with any of them no
/// longer merges with a fresh mapping next to it.
const MADVISED: u32 = uapi::CR_VMA_HUGEPAGE
    | uapi::CR_VMA_NOHUGEPAGE
    | uapi::CR_VMA_DONTFORK
    | uapi::CR_VMA_WIPEONFORK
    | uapi::CR_VMA_DONTDUMP
    | uapi::CR_VMA_SEQ_READ
    | uapi::CR_VMA_RAND_READ
    | uapi::CR_VMA_MERGEABLE;

/// The `CR_VMA_*` flags compared to tell whether two adjacent areas would
/// merge as they are mapped (what settling adds is in `apart`).
const MAPPED: u32 = uapi::CR_VMA_SHARED
    | uapi::CR_VMA_GROWSDOWN
    | uapi::CR_VMA_HEAP
    | uapi::CR_VMA_STACK
    | uapi::CR_VMA_LOCKED
    | uapi::CR_VMA_DONTDUMP
    | uapi::CR_VMA_MAYWRITE;

/// One memory area, with its file opened (before the point of no return).
struct Area {
    vma: CrVma,
    /// Where its record starts in the image (for error reports).
    at: u64,
    /// Where its path starts in `Plan::paths` (`vma.path_len` bytes).
    path_at: usize,
    file: Option<OpenFile>,
}

/// Everything before the first page, read and checked.
struct Plan {
    process: CrProcess,
    mm: CrMm,
    /// Where the MM record starts in the image.
    mm_at: u64,
    auxv: KVVec<u64>,
    areas: KVVec<Area>,
    /// The areas' paths, back to back.
    paths: KVVec<u8>,
    sighand: KBox<CrSighand>,
    shared: KVVec<CrSiginfo>,
    shared_set: u64,
    threads: KVVec<Thread>,
    checker: Checker,
    chain: sys::Hash,
    /// The header of the first PAGES (or TRAILER) record, and its offset.
    next: CrRecord,
    next_at: u64,
}

/// Out of memory while keeping a record (charged to the caller).
fn oom(at: u64) -> Failure {
    Failure::at(ENOMEM, Reason::None, at)
}

impl Plan {
    /// Parses `meta`: the magic through the header of the first data record.
    #[inline(never)]
    fn parse(meta: &[u8]) -> Result<KBox<Plan>, Failure> {
        let fail = |at: u64, what: &'static str| {
            image_failure(FormatError {
                fault: crate::format::Fault::Invalid,
                at,
                what,
                value: 0,
            })
        };
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
        let magic = meta.get(..8).ok_or_else(|| fail(0, "no magic"))?;
        plan.checker
            .magic(u64::from_le_bytes(
                magic.try_into().map_err(|_| fail(0, "no magic"))?,
            ))
            .map_err(image_failure)?;
        let mut pos = 8usize;
        loop {
            let at = pos as u64;
            let rec: CrRecord = from_bytes(&meta[pos..])
                .ok_or_else(|| fail(at, "the metadata ends inside a record header"))?;
            plan.checker.record(&rec, at).map_err(image_failure)?;
            pos += 16;
            if rec.r#type == CR_REC_PAGES || rec.r#type == CR_REC_TRAILER {
                // The first data record: its payload comes from the fd.
                if pos != meta.len() {
                    return Err(fail(
                        at,
                        "the metadata does not end after the first data record's header",
                    ));
                }
                plan.next = rec;
                plan.next_at = at;
                break;
            }
            let end = pos
                .checked_add(rec.size as usize)
                .filter(|&e| e <= meta.len());
            let end = end.ok_or_else(|| fail(at, "the metadata ends inside a record"))?;
            plan.take(&rec, &meta[pos..end], at)?;
            pos = end;
        }
        Ok(plan)
    }

    /// Checks the record `rec` at `at` with its `payload` and keeps what the
    /// restore needs of it. (Not inlined: the parsed record stays off the
    /// loop's frame.)
    #[inline(never)]
    fn take(&mut self, rec: &CrRecord, payload: &[u8], at: u64) -> Result<(), Failure> {
        let mut h = sys::Hash::new();
        let mut hdr = *rec;
        hdr.check = 0;
        h.update(as_bytes(&hdr));
        h.update(payload);
        self.checker
            .sealed(h.check() == rec.check)
            .map_err(image_failure)?;
        self.chain.update(&rec.check.to_le_bytes());
        let record = self.checker.parse(payload).map_err(image_failure)?;
        self.keep(record, at)
    }

    /// Keeps what the restore needs of a checked record.
    fn keep(&mut self, record: Record<'_>, at: u64) -> Result<(), Failure> {
        match record {
            Record::Process(p) => self.process = p,
            Record::Mm { mm, auxv, .. } => {
                self.mm = mm;
                self.mm_at = at;
                for w in crate::format::auxv_words(auxv) {
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
            | Record::Pipe { .. }
            | Record::Trailer(_) => {}
        }
        Ok(())
    }

    /// The path of area `i`.
    fn path(&self, i: usize) -> &[u8] {
        let a = &self.areas[i];
        &self.paths[a.path_at..a.path_at + a.vma.path_len as usize]
    }
}

/// Restores the image whose metadata is at `args.meta` and whose pages come
/// from `args.in_fd` into the calling process. On success the ioctl returns
/// into the restored program.
#[inline(never)]
pub(crate) fn restore(args: &CrRestoreArgs, dev: &File) -> Result<isize, Failure> {
    // With other threads, enter their session first, so that any failure
    // from here on releases them.
    let threads = caller::threads();
    let leader = if threads > 1 {
        Some(thread_meeting::Leader::enter().or_fail(Reason::Caller)?)
    } else {
        None
    };
    if args.meta_len == 0 {
        return Err(Failure::new(EINVAL, Reason::Args));
    }
    // The per-call limit on what a restore copies in (the format's own).
    if args.meta_len > MAX_METADATA {
        return Err(Failure::new(E2BIG, Reason::Limit));
    }
    // The fds closed as the process starts must not be this ioctl's file,
    // except `dev_fd`, which must be.
    if args.dev_fd >= 0 && !caller::fd_is(args.dev_fd, dev) {
        return Err(Failure::new(EINVAL, Reason::Args));
    }
    if caller::fd_is(args.in_fd, dev) || caller::fd_is(args.status_fd, dev) {
        return Err(Failure::new(EINVAL, Reason::Args));
    }
    let meta = caller::UserCopy::new(args.meta, args.meta_len as usize).map_err(|e| {
        Failure::new(
            e,
            if e == EFAULT {
                Reason::Args
            } else {
                Reason::None
            },
        )
    })?;
    let input = InFile::get(args.in_fd).or_fail(Reason::Args)?;
    let mut status = if args.status_fd >= 0 {
        Some(StatusFile::get(args.status_fd).or_fail(Reason::Args)?)
    } else {
        None
    };

    let mut plan = Plan::parse(&meta)?;
    drop(meta);
    if plan.threads.len() != threads {
        return Err(Failure::new(EBUSY, Reason::Caller));
    }
    prepare(&mut plan)?;
    if let Some(l) = &leader {
        l.gather(threads - 1, GATHER_TIMEOUT_MS)
            .map_err(|e| Failure::new(e, Reason::Caller))?;
    }

    // The point of no return: from here a failure ends the process.
    match rebuild(&mut plan, &input) {
        Ok(()) => {}
        Err(f) => {
            report(&mut status, &f);
            // The process must not run half-restored.
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(f);
        }
    }
    // The fds crctl used close as the process starts. If that cannot be
    // arranged (no memory), the process must not start with them.
    if let Err(e) = caller::close_on_return([args.in_fd, args.status_fd, args.dev_fd]) {
        let f = Failure::new(e, Reason::None);
        report(&mut status, &f);
        let _ = caller::raise(kernel::bindings::SIGKILL);
        return Err(f);
    }
    report_ok(&mut status);
    drop(status);
    drop(input);

    // The other threads take their state and go.
    let first = plan.threads[0].thread;
    let mut rest = KVVec::new();
    for t in plan.threads.drain_all().skip(1) {
        if rest.push(t, ACCOUNT).is_err() {
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(Failure::new(ENOMEM, Reason::None));
        }
    }
    if let Some(l) = leader {
        if let Err(e) = l.go(rest) {
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(Failure::new(e, Reason::None));
        }
    }
    start(&first)
}

/// How long the leader waits for the other threads to arrive.
const GATHER_TIMEOUT_MS: u32 = 10_000;

/// Returns into the restored program with `regs` (ax included: the ioctl's
/// return value does not matter).
fn start(t: &CrThread) -> Result<isize, Failure> {
    match resume::resume(t).and_then(|(regs, ax)| caller::set_regs(&regs, ax)) {
        Ok(()) => Ok(0),
        Err(e) => {
            // Registers were checked in `prepare`; this cannot happen, but if
            // it does the process must not go on.
            let _ = caller::raise(kernel::bindings::SIGKILL);
            Err(Failure::new(e, Reason::Image))
        }
    }
}

/// `CR_IOC_RESTORE_THREAD`: waits for the leader's restore, then becomes the
/// image's thread `index`.
#[inline(never)]
pub(crate) fn restore_thread(index: u32) -> Result<isize, Failure> {
    let t = thread_meeting::join(index).map_err(|e| {
        let reason = if e == ECANCELED {
            Reason::Canceled
        } else {
            Reason::Caller
        };
        Failure::new(e, reason)
    })?;
    // Past the leader's point of no return: a failure ends the process.
    let applied = caller::set_xstate(&t.xstate)
        .and_then(|()| caller::set_thread(&t.thread))
        .map_err(|e| Failure::new(e, Reason::Image))
        .and_then(|()| queue_pending(&t.pending, t.thread.pending));
    if let Err(f) = applied {
        let _ = caller::raise(kernel::bindings::SIGKILL);
        return Err(f);
    }
    start(&t.thread)
}

/// Everything that can fail without harm, before the point of no return.
#[inline(never)]
fn prepare(plan: &mut Plan) -> Result<(), Failure> {
    let p = &plan.process;
    if !caller::creds_are_callers(p.uid, p.euid, p.gid, p.egid) && !caller::may_restore_others() {
        return Err(Failure::new(EPERM, Reason::Perm));
    }
    if plan.checker.header.xstate_size as usize != systask::xstate_size() {
        return Err(Failure::new(ENOEXEC, Reason::Cpu));
    }
    // Locked memory is locked again, so the caller must be allowed what
    // mlock() and mlockall(MCL_FUTURE) would allow it (the image's
    // RLIMIT_MEMLOCK is the caller's by now, given by crctl).
    let locked: u64 = plan
        .areas
        .iter()
        .filter(|a| a.vma.flags & uapi::CR_VMA_LOCKED != 0)
        .map(|a| (a.vma.end - a.vma.start) / PAGE_SIZE as u64)
        .sum();
    if (locked > 0 || p.flags & uapi::CR_PROCESS_MLOCK_FUTURE != 0) && !caller::may_mlock(locked) {
        return Err(Failure::new(ENOMEM, Reason::Limit));
    }
    // The leader comes first: it is the thread that calls the restore, and
    // its id is the process's.
    if plan
        .threads
        .first()
        .is_none_or(|t| t.thread.flags & uapi::CR_THREAD_LEADER == 0)
    {
        return Err(Failure::new(EINVAL, Reason::Image));
    }
    // The format allows addresses up to what 5-level paging maps; this
    // machine may map less. Every address the image holds is checked against
    // it here, before anything changes.
    let end = caller::task_size();
    let high = |addr: u64, at: u64| Failure::at(ENOEXEC, Reason::Cpu, at).only_if(addr >= end);
    let m = &plan.mm;
    for a in [
        m.start_code,
        m.end_code,
        m.start_data,
        m.end_data,
        m.start_brk,
        m.brk,
        m.start_stack,
        m.arg_end,
        m.env_end,
    ] {
        high(a, plan.mm_at)?;
    }
    for a in plan.areas.iter() {
        high(a.vma.end - 1, a.at)?;
    }
    for t in plan.threads.iter() {
        let th = &t.thread;
        // Only a partial image has one (rules.rs); crctl says so first.
        if th.policy & !crate::format::SCHED_RESET_ON_FORK == crate::format::SCHED_DEADLINE {
            return Err(Failure::at(EOPNOTSUPP, Reason::Unsupported, t.at));
        }
        let sas_end = (th.sas_sp + th.sas_size).saturating_sub(1);
        for a in [
            th.regs.ip,
            th.regs.sp,
            th.regs.fs_base,
            th.regs.gs_base,
            sas_end,
            th.clear_child_tid,
            th.robust_list,
            th.rseq,
        ] {
            high(a, t.at)?;
        }
    }
    if plan.auxv.len() > caller::auxv_max_words() {
        return Err(Failure::at(ENOEXEC, Reason::Cpu, plan.mm_at));
    }

    // [vdso] and [vvar] stay: they must already be where the image has them.
    let mine = caller::specials();
    let theirs = plan
        .areas
        .iter()
        .filter(|a| matches!(a.vma.kind, uapi::CR_VMA_VDSO | uapi::CR_VMA_VVAR))
        .map(|a| (a.vma.start as usize, a.vma.end as usize));
    let mut n = 0usize;
    for r in theirs {
        if !mine.contains(&r) {
            return Err(Failure::at(EINVAL, Reason::Vdso, r.0 as u64));
        }
        n += 1;
    }
    if n != mine.len() {
        return Err(Failure::new(EINVAL, Reason::Vdso));
    }

    // Areas this version cannot rebuild, and the files of those it can.
    for i in 0..plan.areas.len() {
        let v = plan.areas[i].vma;
        let at = plan.areas[i].at;
        match v.kind {
            uapi::CR_VMA_ANON | uapi::CR_VMA_VDSO | uapi::CR_VMA_VVAR => {}
            uapi::CR_VMA_FILE => {
                // A shared mapping keeps its right to become writable only if
                // its file is open for writing.
                let writable_shared = v.flags & uapi::CR_VMA_SHARED != 0
                    && (v.prot & 2 != 0 || v.flags & uapi::CR_VMA_MAYWRITE != 0);
                let flags = if writable_shared { O_RDWR } else { O_RDONLY };
                let file = OpenFile::open(plan.path(i), flags)
                    .map_err(|e| Failure::at(e, Reason::File, at))?;
                file.same(v.ino, v.file_size, v.mtime_ns)
                    .map_err(|e| Failure::at(e, Reason::File, at))?;
                plan.areas[i].file = Some(file);
            }
            _ => return Err(Failure::at(EOPNOTSUPP, Reason::Unsupported, at)),
        }
    }

    // The FPU state: this only changes the caller's own, which is thrown
    // away. Every thread's is tried here (the others load theirs later, past
    // the point of no return, when failing would cost the process); the
    // leader's goes last and stays.
    for t in plan.threads.iter().rev() {
        caller::set_xstate(&t.xstate).map_err(|e| {
            let err = if e == ENOEXEC { ENOEXEC } else { EINVAL };
            Failure::new(err, Reason::Cpu)
        })?;
    }
    Ok(())
}

/// From the point of no return: the new address space, the pages, and the
/// process's state.
/// An area as the restore mapped it: what decides whether the next one
/// would merge with it.
#[derive(Clone, Copy)]
struct MappedArea {
    end: u64,
    kind: u32,
    /// (dev, ino)
    file: (u64, u64),
    /// The page offset that would continue it.
    next_pgoff: u64,
    prot: u32,
    flags: u32,
    noreserve: bool,
    /// Its madvise flags keep the next fresh mapping from merging with it.
    apart: bool,
}

#[inline(never)]
fn rebuild(plan: &mut Plan, input: &InFile) -> Result<(), Failure> {
    // No huge page for the restore's own writes: the pages come back as the
    // small pages they are in the image (a huge page the original had is 512
    // of them), so the restore never takes more memory than the original had.
    // The image's own THP setting is set after the pages (set_mm_flags).
    caller::pause_thp();
    caller::unmap_all()?;
    let mut prev: Option<MappedArea> = None;
    for a in plan.areas.iter() {
        let v = &a.vma;
        let len = (v.end - v.start) as usize;
        let shared = v.flags & uapi::CR_VMA_SHARED != 0;
        let mut flags = if shared {
            mman::MAP_SHARED
        } else {
            mman::MAP_PRIVATE
        };
        if v.flags & uapi::CR_VMA_GROWSDOWN != 0 {
            flags |= mman::MAP_GROWSDOWN;
        }
        let mut drop_write = false;
        // A private area that was writable once keeps its commit charge
        // (VM_ACCOUNT) after mprotect(PROT_READ): map it writable, then drop
        // the write permission.
        let mut prot = v.prot;
        if !shared && v.flags & uapi::CR_VMA_ACCOUNT != 0 && v.prot & mman::PROT_WRITE == 0 {
            prot |= mman::PROT_WRITE;
            drop_write = true;
        }
        let mut noreserve = v.flags & uapi::CR_VMA_NORESERVE != 0;
        if let Some(MappedArea {
            end,
            kind,
            file,
            next_pgoff,
            prot: p,
            flags: f,
            noreserve: nr,
            apart,
        }) = prev
        {
            // An area that continues the one before it (adjacent, of the same
            // kind, file and protection, anonymous or at the next file
            // offset) would merge with it: the original's were kept apart by
            // their anon_vmas or history (an unfaulted anonymous area must
            // keep the page offset of its address). Flip VM_NORESERVE, the
            // flag that changes least (turning it off only for areas up to
            // 64 MiB, whose commit charge cannot matter much); its VmFlags
            // then show "nr" for "ac" or the reverse.
            let continues =
                v.kind == uapi::CR_VMA_ANON || (file == (v.dev, v.ino) && next_pgoff == v.pgoff);
            if end == v.start
                && kind == v.kind
                && continues
                && !apart
                && p == prot
                && f == v.flags & MAPPED
                && nr == noreserve
                && (!noreserve || len <= 64 << 20)
            {
                noreserve = !noreserve;
            }
        }
        if noreserve {
            flags |= mman::MAP_NORESERVE;
        }
        let at = a.at;
        match v.kind {
            uapi::CR_VMA_ANON => caller::map(
                None,
                v.start as usize,
                len,
                prot,
                flags | mman::MAP_ANONYMOUS,
                0,
            ),
            uapi::CR_VMA_FILE => caller::map(
                a.file.as_ref(),
                v.start as usize,
                len,
                prot,
                flags,
                v.pgoff * PAGE_SIZE as u64,
            ),
            _ => Ok(()),
        }
        .map_err(|e| Failure::at(e, Reason::None, at))?;
        if matches!(v.kind, uapi::CR_VMA_ANON | uapi::CR_VMA_FILE) {
            let private_anon = v.kind == uapi::CR_VMA_ANON && !shared;
            caller::settle_area(v.start as usize, v.flags, private_anon, drop_write)
                .map_err(|e| Failure::at(e, Reason::None, at))?;
        }
        prev = Some(MappedArea {
            end: v.end,
            kind: v.kind,
            file: (v.dev, v.ino),
            next_pgoff: v.pgoff + len as u64 / PAGE_SIZE as u64,
            // As it is once settled: what the next mapping meets.
            prot: v.prot,
            flags: v.flags & MAPPED,
            noreserve,
            apart: v.flags & MADVISED != 0,
        });
    }
    // The files are mapped now; the mappings hold their own references.
    for a in plan.areas.iter_mut() {
        a.file = None;
    }

    read_pages(plan, input)?;
    // A locked area has all its pages, as mlock() left it (those the image
    // does not hold are the file's, or zero); one locked on fault only
    // those it had. mlock() does not fault in an inaccessible area either.
    for a in plan.areas.iter() {
        let v = &a.vma;
        if v.flags & (uapi::CR_VMA_LOCKED | uapi::CR_VMA_LOCKONFAULT) == uapi::CR_VMA_LOCKED
            && v.prot != 0
        {
            caller::populate(v.start as usize, v.end as usize)
                .map_err(|e| Failure::at(e, Reason::None, a.at))?;
        }
    }

    caller::set_mm(&plan.mm, &plan.auxv);
    caller::set_mm_flags(plan.process.flags);
    caller::set_sighand(&plan.sighand);
    caller::set_umask(plan.process.umask);
    let t = &plan.threads[0];
    caller::set_thread(&t.thread).map_err(|e| Failure::at(e, Reason::Image, t.at))?;
    // Pending signals last, so they meet the restored mask and handlers:
    // the process's (queued on this thread, then moved), then the leader's.
    // The caller's own are dropped, but a fatal one ends the restore here
    // (and the process: its SIGKILL stays pending).
    caller::flush_signals().map_err(|e| Failure::new(e, Reason::Interrupted))?;
    queue_pending(&plan.shared, plan.shared_set)?;
    caller::pending_to_shared();
    queue_pending(&t.pending, t.thread.pending)?;
    Ok(())
}

impl Failure {
    /// `Err(self)` if `bad`.
    fn only_if(self, bad: bool) -> Result<(), Failure> {
        if bad {
            Err(self)
        } else {
            Ok(())
        }
    }
}

/// Queues the signals of a pending set: each queued siginfo as it was, and
/// each signal in the set without one with a plain kernel siginfo.
fn queue_pending(queue: &KVVec<CrSiginfo>, set: u64) -> Result<(), Failure> {
    for q in queue.iter() {
        caller::queue_signal(q).or_fail(Reason::Image)?;
    }
    for sig in 1..=64u32 {
        let bit = 1u64 << (sig - 1);
        if set & bit != 0
            && !queue.iter().any(|q| q.signo == sig)
            && sig != kernel::bindings::SIGKILL
        {
            caller::raise(sig).or_fail(Reason::Image)?;
        }
    }
    Ok(())
}

/// Streams the PAGES records into the new mappings, then checks the trailer.
#[inline(never)]
fn read_pages(plan: &mut Plan, input: &InFile) -> Result<(), Failure> {
    let mut buf = KVVec::with_capacity(CHUNK, ACCOUNT)?;
    buf.resize(CHUNK, 0u8, ACCOUNT)?;
    let mut rec = plan.next;
    let mut at = plan.next_at;
    let mut pos = at + 16;
    let read = |buf: &mut [u8], at: u64| -> Result<(), Failure> {
        match input.read_exact(buf) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::at(ENODATA, Reason::Image, at)),
            Err(e) if e == EINTR => Err(Failure::new(EINTR, Reason::Interrupted)),
            Err(e) => Err(Failure::at(e, Reason::Image, at)),
        }
    };
    loop {
        let mut hdr = rec;
        hdr.check = 0;
        let mut h = sys::Hash::new();
        h.update(as_bytes(&hdr));
        if rec.r#type == CR_REC_TRAILER {
            let mut t = [0u8; core::mem::size_of::<CrTrailer>()];
            read(&mut t, at)?;
            h.update(&t);
            let ck = &mut plan.checker;
            ck.sealed(h.check() == rec.check).map_err(image_failure)?;
            let trailer: CrTrailer =
                from_bytes(&t).ok_or_else(|| Failure::new(EINVAL, Reason::Image))?;
            ck.trailer(&trailer, plan.chain.check())
                .map_err(image_failure)?;
            return Ok(());
        }
        // A PAGES record: its head, then its data into the mapping.
        let mut head = [0u8; 16];
        read(&mut head, at)?;
        h.update(&head);
        let run: CrPages = from_bytes(&head).ok_or_else(|| Failure::new(EINVAL, Reason::Image))?;
        let end = run
            .addr
            .saturating_add(run.count.saturating_mul(PAGE_SIZE as u64));
        // Pages belong to private memory only: a shared file's pages are the
        // file's, and a checkpoint never saves them.
        let inside = plan
            .areas
            .iter()
            .any(|a| a.vma.start <= run.addr && end <= a.vma.end && Checker::holds_pages(&a.vma));
        plan.checker.pages(&run, inside).map_err(image_failure)?;
        let mut left = (rec.size - 16) as usize;
        let mut addr = run.addr as usize;
        while left > 0 {
            let n = left.min(CHUNK);
            read(&mut buf[..n], at)?;
            h.update(&buf[..n]);
            caller::write_mem(addr, &buf[..n]).map_err(|e| {
                // A fault fails while the process is being killed.
                if caller::dying() {
                    Failure::new(EINTR, Reason::Interrupted)
                } else {
                    Failure::at(e, Reason::None, at)
                }
            })?;
            addr += n;
            left -= n;
        }
        plan.checker
            .sealed(h.check() == rec.check)
            .map_err(image_failure)?;
        plan.chain.update(&rec.check.to_le_bytes());
        pos += rec.size;

        // The next record's header.
        at = pos;
        let mut next = [0u8; 16];
        read(&mut next, at)?;
        rec = from_bytes(&next).ok_or_else(|| Failure::new(EINVAL, Reason::Image))?;
        plan.checker.record(&rec, at).map_err(image_failure)?;
        pos += 16;
    }
}

/// Writes a failure to the status fd, if there is one.
fn report(status: &mut Option<StatusFile>, f: &Failure) {
    let s = CrRestoreStatus {
        error: f.err.to_errno(),
        reason: f.reason.code(),
        offset: f.addr,
        pid: caller::pid(),
        __pad: 0,
    };
    write_status(status, &s);
}

/// Writes success to the status fd, if there is one.
fn report_ok(status: &mut Option<StatusFile>) {
    let s = CrRestoreStatus {
        error: 0,
        reason: Reason::None.code(),
        offset: 0,
        pid: caller::pid(),
        __pad: 0,
    };
    write_status(status, &s);
}

fn write_status(status: &mut Option<StatusFile>, s: &CrRestoreStatus) {
    if let Some(out) = status.as_mut() {
        // Nobody to tell if the status cannot be written.
        let _ = out.write(as_bytes(s));
    }
}
