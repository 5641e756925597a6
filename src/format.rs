// SPDX-License-Identifier: GPL-2.0

//! The rules of the image format (Documentation/image-format.rst), in one
//! place for every reader: the kernel's restore and crctl's inspect (and the
//! fuzzer that exercises them) check images with this same code.
//!
//! Like `uapi.rs`, this file uses `core` only and allocates nothing: a reader
//! feeds it each record as it arrives and keeps whatever it needs itself. It
//! checks order, sizes, counts, ranges and the trailer; computing the check
//! values (XXH64) is the reader's, since kernel and user space hash with
//! different code.

use core::mem::size_of;

use crate::uapi::*;

/// What kind of wrong an image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not an image (bad magic).
    NotAnImage,
    /// A version, architecture or page size this code does not handle.
    Unsupported,
    /// The stream ended before the trailer.
    Truncated,
    /// A check value does not match: the bytes were damaged.
    Damaged,
    /// A record, field or value the format does not allow.
    Invalid,
}

/// Why an image was refused: the kind, the byte offset of the record (or
/// field) at fault, what is wrong, and a value to show with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub fault: Fault,
    pub at: u64,
    pub what: &'static str,
    pub value: u64,
}

/// A result of this module.
pub type Checked<T = ()> = core::result::Result<T, FormatError>;

fn fail<T>(fault: Fault, at: u64, what: &'static str, value: u64) -> Checked<T> {
    Err(FormatError {
        fault,
        at,
        what,
        value,
    })
}

fn invalid<T>(at: u64, what: &'static str, value: u64) -> Checked<T> {
    fail(Fault::Invalid, at, what, value)
}

/// User space ends here on x86_64 with 4-level paging.
pub const USER_END: u64 = 1 << 47;
/// Most queued siginfos in one record.
pub const MAX_SIGINFO: u32 = 1 << 16;
/// Most auxv words.
pub const MAX_AUXV_WORDS: u32 = 128;
/// Most bytes of all the records before the first PAGES record.
pub const MAX_METADATA: u64 = 256 << 20;

/// The name of a record type.
pub fn record_name(ty: u32) -> &'static str {
    match ty {
        CR_REC_HEADER => "HEADER",
        CR_REC_PROCESS => "PROCESS",
        CR_REC_MM => "MM",
        CR_REC_VMA => "VMA",
        CR_REC_SIGHAND => "SIGHAND",
        CR_REC_SIGPENDING => "SIGPENDING",
        CR_REC_FD => "FD",
        CR_REC_THREAD => "THREAD",
        CR_REC_PAGES => "PAGES",
        CR_REC_TRAILER => "TRAILER",
        CR_REC_FS => "FS",
        CR_REC_ITIMERS => "ITIMERS",
        CR_REC_PIPE => "PIPE",
        _ => "unknown",
    }
}

/// A record's payload, read front to back.
pub struct Payload<'a> {
    bytes: &'a [u8],
    off: usize,
    at: u64,
}

impl<'a> Payload<'a> {
    /// The payload `bytes` of the record whose header is at byte `at`.
    pub fn new(bytes: &'a [u8], at: u64) -> Self {
        Payload { bytes, off: 0, at }
    }

    /// The offset of the record this payload belongs to.
    pub fn at(&self) -> u64 {
        self.at
    }

    /// The next `T`.
    pub fn take<T: Pod>(&mut self, what: &'static str) -> Checked<T> {
        match from_bytes::<T>(&self.bytes[self.off..]) {
            Some(v) => {
                self.off += size_of::<T>();
                Ok(v)
            }
            None => invalid(self.at, what, self.bytes.len() as u64),
        }
    }

    /// The next `n` bytes.
    pub fn take_bytes(&mut self, n: u64, what: &'static str) -> Checked<&'a [u8]> {
        let left = (self.bytes.len() - self.off) as u64;
        if n > left {
            return invalid(self.at, what, n);
        }
        let b = &self.bytes[self.off..self.off + n as usize];
        self.off += n as usize;
        Ok(b)
    }

    /// The next `n` bytes as a path: at most `CR_IMAGE_MAX_PATH` bytes, no NUL.
    pub fn take_path(&mut self, n: u32, what: &'static str) -> Checked<&'a [u8]> {
        if n > CR_IMAGE_MAX_PATH {
            return invalid(self.at, what, u64::from(n));
        }
        let b = self.take_bytes(u64::from(n), what)?;
        if b.contains(&0) {
            return invalid(self.at, what, u64::from(n));
        }
        Ok(b)
    }

    /// Checks that nothing is left over.
    pub fn end(&self) -> Checked {
        if self.off != self.bytes.len() {
            return invalid(
                self.at,
                "bytes left over at the end of a record",
                (self.bytes.len() - self.off) as u64,
            );
        }
        Ok(())
    }
}

/// Where in the record order a reader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Header,
    Process,
    Mm,
    Vmas,
    Sighand,
    Sigpending,
    FdsThreads,
    Threads,
    Pages,
    Done,
}

/// The image's rules, applied record by record.
///
/// A reader calls [`Checker::magic`], then for each record
/// [`Checker::record`] with its header, reads the payload and computes its
/// check, calls [`Checker::sealed`], then the method for its type with the
/// parsed payload. A PAGES record goes [`Checker::record`],
/// [`Checker::pages`] with its head (before the data, so a bad run is refused
/// before anything is done with it), the data, then [`Checker::sealed`].
/// The chain covers the checks of every record but the trailer.
pub struct Checker {
    stage: Stage,
    /// The header, once read.
    pub header: CrImageHeader,
    nr_threads: u32,
    threads: u32,
    nr_vmas: u32,
    vmas: u32,
    prev_vma_end: u64,
    prev_fd: i64,
    /// FS and ITIMERS seen (each at most once, before the first FD).
    seen_fs: bool,
    seen_itimers: bool,
    /// The last PIPE's (dev, ino): PIPE records come after the FDs, in order.
    prev_pipe: Option<(u64, u64)>,
    next_page: u64,
    pages: u64,
    records: u64,
    current: u32,
    current_at: u64,
    current_size: u64,
}

impl Default for Checker {
    fn default() -> Self {
        Self::new()
    }
}

impl Checker {
    /// A checker at the start of an image.
    pub fn new() -> Checker {
        Checker {
            stage: Stage::Header,
            header: zeroed(),
            nr_threads: 0,
            threads: 0,
            nr_vmas: 0,
            vmas: 0,
            prev_vma_end: 0,
            prev_fd: -1,
            seen_fs: false,
            seen_itimers: false,
            prev_pipe: None,
            next_page: 0,
            pages: 0,
            records: 0,
            current: 0,
            current_at: 0,
            current_size: 0,
        }
    }

    /// The first 8 bytes.
    pub fn magic(&mut self, magic: u64) -> Checked {
        if magic != CR_IMAGE_MAGIC {
            return fail(
                Fault::NotAnImage,
                0,
                "the image does not start with the cr magic",
                magic,
            );
        }
        Ok(())
    }

    /// A record header at byte `at`: is this record allowed here, at this size?
    pub fn record(&mut self, rec: &CrRecord, at: u64) -> Checked {
        let ty = rec.r#type;
        if rec.size > CR_IMAGE_MAX_RECORD {
            return invalid(at, "a record is larger than the format allows", rec.size);
        }
        let allowed = match self.stage {
            Stage::Header => ty == CR_REC_HEADER,
            Stage::Process => ty == CR_REC_PROCESS,
            Stage::Mm => ty == CR_REC_MM,
            Stage::Vmas => ty == CR_REC_VMA,
            Stage::Sighand => ty == CR_REC_SIGHAND,
            Stage::Sigpending => ty == CR_REC_SIGPENDING,
            Stage::FdsThreads => match ty {
                CR_REC_FS => {
                    !self.seen_fs
                        && !self.seen_itimers
                        && self.prev_fd < 0
                        && self.prev_pipe.is_none()
                }
                CR_REC_ITIMERS => {
                    !self.seen_itimers && self.prev_fd < 0 && self.prev_pipe.is_none()
                }
                CR_REC_FD => self.prev_pipe.is_none(),
                CR_REC_PIPE | CR_REC_THREAD => true,
                _ => false,
            },
            Stage::Threads => ty == CR_REC_THREAD,
            Stage::Pages => ty == CR_REC_PAGES || ty == CR_REC_TRAILER,
            Stage::Done => false,
        };
        if !allowed {
            return invalid(
                at,
                "a record of a type that does not belong here",
                u64::from(ty),
            );
        }
        // The fixed part of each type must fit; exact sizes are checked as
        // the payload is parsed.
        let min = match ty {
            CR_REC_HEADER => size_of::<CrImageHeader>(),
            CR_REC_PROCESS => size_of::<CrProcess>(),
            CR_REC_MM => size_of::<CrMm>(),
            CR_REC_VMA => size_of::<CrVma>(),
            CR_REC_SIGHAND => size_of::<CrSighand>(),
            CR_REC_SIGPENDING => size_of::<CrSigpending>(),
            CR_REC_FD => size_of::<CrFd>(),
            CR_REC_THREAD => size_of::<CrThread>(),
            CR_REC_PAGES => size_of::<CrPages>(),
            CR_REC_FS => size_of::<CrFs>(),
            CR_REC_ITIMERS => size_of::<CrItimers>(),
            CR_REC_PIPE => size_of::<CrPipe>(),
            _ => size_of::<CrTrailer>(),
        } as u64;
        if rec.size < min {
            return invalid(at, "a record is too short for its type", rec.size);
        }
        self.current = ty;
        self.current_at = at;
        self.current_size = rec.size;
        Ok(())
    }

    /// The current record's check value matched (`ok`) or not.
    pub fn sealed(&mut self, ok: bool) -> Checked {
        if !ok {
            return fail(
                Fault::Damaged,
                self.current_at,
                "a record's check value does not match its bytes",
                u64::from(self.current),
            );
        }
        self.records += 1;
        Ok(())
    }

    /// HEADER.
    pub fn header(&mut self, h: &CrImageHeader) -> Checked {
        let at = self.current_at;
        if h.version != CR_IMAGE_VERSION {
            return fail(
                Fault::Unsupported,
                at,
                "an image version this code does not read",
                u64::from(h.version),
            );
        }
        if h.arch != CR_ARCH_X86_64 {
            return fail(
                Fault::Unsupported,
                at,
                "an architecture this code does not read",
                u64::from(h.arch),
            );
        }
        if h.page_size != 4096 {
            return fail(
                Fault::Unsupported,
                at,
                "a page size this code does not read",
                u64::from(h.page_size),
            );
        }
        if h.xstate_size > CR_IMAGE_MAX_XSTATE || h.__pad != [0; 6] {
            return invalid(
                at,
                "bad xsave size or nonzero padding in the header",
                u64::from(h.xstate_size),
            );
        }
        if !h.release.contains(&0) || !h.hostname.contains(&0) {
            return invalid(at, "an unterminated name in the header", 0);
        }
        self.header = *h;
        self.stage = Stage::Process;
        Ok(())
    }

    /// PROCESS.
    pub fn process(&mut self, p: &CrProcess) -> Checked {
        if p.nr_threads == 0 || p.nr_threads > CR_IMAGE_MAX_THREADS {
            return invalid(
                self.current_at,
                "a thread count out of range",
                u64::from(p.nr_threads),
            );
        }
        if p.flags != 0 || p.__pad != 0 || p.umask > 0o777 {
            return invalid(
                self.current_at,
                "bad flags, umask or padding in the process",
                u64::from(p.umask),
            );
        }
        self.nr_threads = p.nr_threads;
        self.stage = Stage::Mm;
        Ok(())
    }

    /// MM, with its auxv and the length of the executable's path. The payload
    /// must be exactly the three parts.
    pub fn mm(&mut self, m: &CrMm) -> Checked {
        let at = self.current_at;
        if m.auxv_words > MAX_AUXV_WORDS || !m.auxv_words.is_multiple_of(2) {
            return invalid(at, "an auxv length out of range", u64::from(m.auxv_words));
        }
        if m.nr_vmas > CR_IMAGE_MAX_VMAS || m.exe_path_len > CR_IMAGE_MAX_PATH || m.__pad != 0 {
            return invalid(
                at,
                "an area count or path length out of range",
                u64::from(m.nr_vmas),
            );
        }
        let want =
            size_of::<CrMm>() as u64 + u64::from(m.auxv_words) * 8 + u64::from(m.exe_path_len);
        if want != self.current_size {
            return invalid(
                at,
                "an MM record whose size does not add up",
                self.current_size,
            );
        }
        let fields = [
            m.start_code,
            m.end_code,
            m.start_data,
            m.end_data,
            m.start_brk,
            m.brk,
            m.start_stack,
            m.arg_start,
            m.arg_end,
            m.env_start,
            m.env_end,
            m.vdso_base,
        ];
        if fields.iter().any(|&a| a >= USER_END) {
            return invalid(at, "an address space field outside user space", 0);
        }
        if m.start_code > m.end_code
            || m.start_data > m.end_data
            || m.start_brk > m.brk
            || m.arg_start > m.arg_end
            || m.env_start > m.env_end
        {
            return invalid(at, "an address space range that ends before it starts", 0);
        }
        self.nr_vmas = m.nr_vmas;
        self.stage = if m.nr_vmas == 0 {
            Stage::Sighand
        } else {
            Stage::Vmas
        };
        Ok(())
    }

    /// VMA (its path, `path_len` bytes, is the reader's to take).
    pub fn vma(&mut self, v: &CrVma) -> Checked {
        let at = self.current_at;
        let page = u64::from(self.header.page_size);
        if v.start >= v.end
            || !v.start.is_multiple_of(page)
            || !v.end.is_multiple_of(page)
            || v.end > USER_END
        {
            return invalid(at, "a memory area with a bad range", v.start);
        }
        if v.start < self.prev_vma_end {
            return invalid(at, "memory areas overlap or are out of order", v.start);
        }
        if !(CR_VMA_ANON..=CR_VMA_DEVICE).contains(&v.kind) {
            return invalid(at, "a memory area of unknown kind", u64::from(v.kind));
        }
        if v.prot & !7 != 0
            || v.flags & !0x3f != 0
            || v.__pad != 0
            || v.__pad2 != 0
            || v.__reserved != 0
        {
            return invalid(
                at,
                "a memory area with bad protection, flags or padding",
                v.start,
            );
        }
        if v.pgoff > (u64::MAX >> 12) - ((v.end - v.start) >> 12) {
            return invalid(at, "a memory area whose file offset overflows", v.pgoff);
        }
        if size_of::<CrVma>() as u64 + u64::from(v.path_len) != self.current_size {
            return invalid(
                at,
                "a VMA record whose size does not add up",
                self.current_size,
            );
        }
        self.prev_vma_end = v.end;
        self.vmas += 1;
        if self.vmas == self.nr_vmas {
            self.stage = Stage::Sighand;
        }
        Ok(())
    }

    /// SIGHAND.
    pub fn sighand(&mut self, s: &CrSighand) -> Checked {
        if self.current_size != size_of::<CrSighand>() as u64 {
            return invalid(
                self.current_at,
                "a SIGHAND record of the wrong size",
                self.current_size,
            );
        }
        // SIGKILL and SIGSTOP cannot be caught or ignored.
        for sig in [9usize, 19] {
            if s.action[sig - 1].handler != 0 {
                return invalid(
                    self.current_at,
                    "a handler for SIGKILL or SIGSTOP",
                    sig as u64,
                );
            }
        }
        if s.action.iter().any(|a| a.handler >= USER_END) {
            return invalid(self.current_at, "a signal handler outside user space", 0);
        }
        self.stage = Stage::Sigpending;
        Ok(())
    }

    /// SIGPENDING (its siginfos are the reader's to take).
    pub fn sigpending(&mut self, p: &CrSigpending) -> Checked {
        self.siginfos(p.count, p.__pad, size_of::<CrSigpending>())?;
        self.stage = Stage::FdsThreads;
        Ok(())
    }

    fn siginfos(&self, count: u32, pad: u32, fixed: usize) -> Checked {
        if count > MAX_SIGINFO || pad != 0 {
            return invalid(
                self.current_at,
                "too many queued signals, or nonzero padding",
                u64::from(count),
            );
        }
        let want = fixed as u64 + u64::from(count) * size_of::<CrSiginfo>() as u64;
        if want != self.current_size {
            return invalid(
                self.current_at,
                "a signal record whose size does not add up",
                self.current_size,
            );
        }
        Ok(())
    }

    /// One queued siginfo.
    pub fn siginfo(&self, s: &CrSiginfo) -> Checked {
        if s.signo == 0 || s.signo > 64 || s.__pad != 0 {
            return invalid(
                self.current_at,
                "a queued signal with a bad number",
                u64::from(s.signo),
            );
        }
        Ok(())
    }

    /// FD (its path is the reader's to take).
    pub fn fd(&mut self, f: &CrFd) -> Checked {
        if f.fd < 0 || i64::from(f.fd) <= self.prev_fd {
            return invalid(
                self.current_at,
                "a negative or out-of-order fd",
                f.fd as u64,
            );
        }
        if !(CR_FD_REG..=CR_FD_OTHER).contains(&f.r#type) || f.__pad != 0 {
            return invalid(
                self.current_at,
                "an fd of unknown type",
                u64::from(f.r#type),
            );
        }
        if size_of::<CrFd>() as u64 + u64::from(f.path_len) != self.current_size {
            return invalid(
                self.current_at,
                "an FD record whose size does not add up",
                self.current_size,
            );
        }
        self.prev_fd = i64::from(f.fd);
        Ok(())
    }

    /// FS (its two paths are the reader's to take).
    pub fn fs(&mut self, f: &CrFs) -> Checked {
        let ok = (1..=CR_IMAGE_MAX_PATH).contains(&f.cwd_len)
            && (1..=CR_IMAGE_MAX_PATH).contains(&f.root_len)
            && (size_of::<CrFs>() as u64 + u64::from(f.cwd_len) + u64::from(f.root_len))
                == self.current_size;
        if !ok {
            return invalid(
                self.current_at,
                "an FS record with bad path lengths",
                u64::from(f.cwd_len),
            );
        }
        self.seen_fs = true;
        Ok(())
    }

    /// ITIMERS.
    pub fn itimers(&mut self, t: &CrItimers) -> Checked {
        // At most about 146 years: what setitimer(2) accepts, with room.
        if self.current_size != size_of::<CrItimers>() as u64 || t.it.iter().any(|&v| v >= 1 << 62)
        {
            return invalid(
                self.current_at,
                "an ITIMERS record of the wrong size or with a time out of range",
                self.current_size,
            );
        }
        self.seen_itimers = true;
        Ok(())
    }

    /// PIPE (its data is the reader's to take).
    pub fn pipe(&mut self, p: &CrPipe) -> Checked {
        let ordered = self.prev_pipe.is_none_or(|prev| (p.dev, p.ino) > prev);
        let ok = ordered
            && p.bytes <= CR_IMAGE_MAX_PIPE
            && p.bytes <= p.capacity
            && size_of::<CrPipe>() as u64 + u64::from(p.bytes) == self.current_size;
        if !ok {
            return invalid(
                self.current_at,
                "a PIPE record out of order, too big, or whose size does not add up",
                u64::from(p.bytes),
            );
        }
        self.prev_pipe = Some((p.dev, p.ino));
        Ok(())
    }

    /// THREAD (its xsave state and siginfos are the reader's to take).
    pub fn thread(&mut self, t: &CrThread) -> Checked {
        let at = self.current_at;
        if t.xstate_size != self.header.xstate_size {
            return invalid(
                at,
                "a thread's xsave size differs from the header's",
                u64::from(t.xstate_size),
            );
        }
        if t.restart > CR_RESTART_BLOCK || t.__pad != 0 || t.flags & !CR_THREAD_LEADER != 0 {
            return invalid(
                at,
                "a thread with bad restart, flags or padding",
                u64::from(t.restart),
            );
        }
        if (t.flags & CR_THREAD_LEADER != 0) != (self.threads == 0) {
            return invalid(
                at,
                "the leader is not the first thread, or there are two",
                u64::from(t.tid),
            );
        }
        if t.tid == 0 {
            return invalid(at, "a thread id of 0", 0);
        }
        if t.restart_ns >= 1 << 62 || (t.restart_ns != 0 && t.restart != CR_RESTART_BLOCK) {
            return invalid(
                at,
                "a thread's sleep time left is out of range",
                t.restart_ns,
            );
        }
        if t.rseq >= USER_END || (t.rseq != 0 && !(32..=4096).contains(&t.rseq_len)) {
            return invalid(at, "a thread's rseq area is out of range", t.rseq);
        }
        let want = size_of::<CrThread>() as u64
            + u64::from(t.xstate_size)
            + u64::from(t.pending_count) * size_of::<CrSiginfo>() as u64;
        if t.pending_count > MAX_SIGINFO || want != self.current_size {
            return invalid(
                at,
                "a THREAD record whose size does not add up",
                self.current_size,
            );
        }
        self.threads += 1;
        self.stage = if self.threads == self.nr_threads {
            Stage::Pages
        } else {
            Stage::Threads
        };
        Ok(())
    }

    /// The head of a PAGES record, before its data. `inside` says whether
    /// the reader found the run inside one of its areas.
    /// Whether area `v` may hold saved pages: private memory only (a shared
    /// file's pages are the file's; specials and devices have none).
    pub fn holds_pages(v: &CrVma) -> bool {
        v.flags & CR_VMA_SHARED == 0 && matches!(v.kind, CR_VMA_ANON | CR_VMA_FILE)
    }

    pub fn pages(&mut self, run: &CrPages, inside: bool) -> Checked {
        let at = self.current_at;
        let page = u64::from(self.header.page_size);
        let len = run
            .count
            .checked_mul(page)
            .filter(|&l| run.count > 0 && l + 16 == self.current_size);
        let Some(len) = len else {
            return invalid(
                at,
                "a PAGES record whose size does not match its page count",
                run.count,
            );
        };
        if !run.addr.is_multiple_of(page)
            || run.addr < self.next_page
            || run.addr.checked_add(len).is_none_or(|e| e > USER_END)
        {
            return invalid(
                at,
                "a page run that is unaligned, out of order or outside user space",
                run.addr,
            );
        }
        if !inside {
            return invalid(
                at,
                "a page run that is not inside one memory area",
                run.addr,
            );
        }
        self.next_page = run.addr + len;
        self.pages += run.count;
        Ok(())
    }

    /// TRAILER (after its seal), with the chain value the reader computed
    /// over the checks of every record before it.
    pub fn trailer(&mut self, t: &CrTrailer, chain: u32) -> Checked {
        let at = self.current_at;
        if self.current_size != size_of::<CrTrailer>() as u64 || t.__pad != 0 {
            return invalid(at, "a TRAILER record of the wrong size", self.current_size);
        }
        // `records` already counts the trailer itself.
        if t.records + 1 != self.records || t.bytes != at || t.pages != self.pages {
            return fail(
                Fault::Damaged,
                at,
                "the trailer's counts differ from the stream's",
                t.records,
            );
        }
        if t.chain != chain {
            return fail(
                Fault::Damaged,
                at,
                "the trailer's check chain differs from the stream's",
                u64::from(t.chain),
            );
        }
        self.stage = Stage::Done;
        Ok(())
    }

    /// Whether the trailer has been read.
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Whether the records so far are all before the first PAGES record.
    pub fn in_metadata(&self) -> bool {
        self.stage != Stage::Pages && self.stage != Stage::Done
    }

    /// The type of the record being read.
    pub fn current(&self) -> u32 {
        self.current
    }
}
