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

/// `SCHED_*` policies a thread may have in an image, and
/// `SCHED_RESET_ON_FORK`. (`SCHED_DEADLINE` is refused by checkpoint and
/// restore, rules.rs; only a partial image has it.)
pub const SCHED_OTHER: u32 = 0;
/// See [`SCHED_OTHER`].
pub const SCHED_FIFO: u32 = 1;
/// See [`SCHED_OTHER`].
pub const SCHED_RR: u32 = 2;
/// See [`SCHED_OTHER`].
pub const SCHED_BATCH: u32 = 3;
/// See [`SCHED_OTHER`].
pub const SCHED_IDLE: u32 = 5;
/// See [`SCHED_OTHER`].
pub const SCHED_DEADLINE: u32 = 6;
/// See [`SCHED_OTHER`].
pub const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// Whether a thread's nice value, policy and real-time priority are ones
/// sched_setscheduler(2) and setpriority(2) accept together.
pub fn sched_valid(nice: i32, policy: u32, rt_priority: u32) -> bool {
    let rt = match policy & !SCHED_RESET_ON_FORK {
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => false,
        SCHED_FIFO | SCHED_RR => true,
        _ => return false,
    };
    (-20..=19).contains(&nice)
        && if rt {
            (1..=99).contains(&rt_priority)
        } else {
            rt_priority == 0
        }
}

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

/// OrFail an image was refused: the kind, the byte offset of the record (or
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

/// User space ends here on x86_64 with 5-level paging, the most any x86_64
/// machine maps (with 4-level paging it ends at 2^47 - 4096; a restore checks
/// the image against the machine it runs on before it changes anything).
pub const USER_END: u64 = (1 << 56) - 4096;
/// Most queued siginfos in one record.
pub const MAX_SIGINFO: u32 = 1 << 16;
/// Most auxv words (a kernel keeps fewer: `AT_VECTOR_SIZE`, 56 on x86_64).
pub const MAX_AUXV_WORDS: u32 = 128;
/// `AT_NULL`: the auxv's terminating key.
pub const AT_NULL: u64 = 0;
/// Most bytes of all the records before the first PAGES record, that first
/// record's header included: what a restore copies into the kernel at once
/// (and charges to the caller's memory cgroup).
pub const MAX_METADATA: u64 = 64 << 20;
/// `sigaltstack` flags an image may hold: `SS_DISABLE`, `SS_AUTODISARM`.
pub const SAS_FLAGS: u32 = 2 | 1 << 31;

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
        CR_REC_CLOCKS => "CLOCKS",
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

/// Queued siginfos of a record, already checked: iterate to read them.
#[derive(Clone, Copy, Debug)]
pub struct Siginfos<'a>(&'a [u8]);

impl Siginfos<'_> {
    /// How many.
    pub fn count(&self) -> usize {
        self.0.len() / size_of::<CrSiginfo>()
    }
}

impl Iterator for Siginfos<'_> {
    type Item = CrSiginfo;

    fn next(&mut self) -> Option<CrSiginfo> {
        let s = from_bytes::<CrSiginfo>(self.0)?;
        self.0 = &self.0[size_of::<CrSiginfo>()..];
        Some(s)
    }
}

/// The auxv words of an MM record's auxv bytes.
pub fn auxv_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
}

/// Every address an MM record holds.
pub fn mm_addresses(m: &CrMm) -> [u64; 12] {
    [
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
    ]
}

/// A record before the pages, parsed and checked by [`Checker::parse`]. The
/// byte slices point into the record's payload.
#[derive(Debug)]
pub enum Record<'a> {
    Header(CrImageHeader),
    Process(CrProcess),
    Mm {
        mm: CrMm,
        /// `mm.auxv_words` little-endian words (see [`auxv_words`]).
        auxv: &'a [u8],
        exe: &'a [u8],
    },
    Vma {
        vma: CrVma,
        path: &'a [u8],
    },
    /// The bytes of a `CrSighand` (2 KiB: left where they are).
    Sighand(&'a [u8]),
    Sigpending {
        head: CrSigpending,
        queued: Siginfos<'a>,
    },
    Fd {
        fd: CrFd,
        path: &'a [u8],
    },
    Fs {
        fs: CrFs,
        cwd: &'a [u8],
        root: &'a [u8],
    },
    Itimers(CrItimers),
    Clocks(CrClocks),
    Pipe {
        pipe: CrPipe,
        data: &'a [u8],
    },
    Thread {
        thread: CrThread,
        xstate: &'a [u8],
        queued: Siginfos<'a>,
    },
    /// The trailer: the reader checks it with [`Checker::trailer`], which
    /// needs the chain it computed.
    Trailer(CrTrailer),
}

/// XXH64 with seed 0, as a reader computes it: the kernel and crctl hash
/// with different code, and [`Metadata`] takes either.
pub trait Checksum {
    /// A fresh hash.
    fn start() -> Self;
    /// Adds `bytes`.
    fn add(&mut self, bytes: &[u8]);
    /// The hash so far.
    fn value(&self) -> u64;
}

/// What [`Metadata`] yields.
// A record is moved once, as it is read: this code allocates nothing, so it
// cannot box the large ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Item<'a> {
    /// A record before the pages, at byte `at`: checked (order, size, check
    /// value, contents) and parsed.
    Record { at: u64, record: Record<'a> },
    /// The header of the first data record (PAGES or TRAILER) at byte `at`:
    /// the metadata ends here, and the record's payload follows in the stream.
    Data { at: u64, header: CrRecord },
}

/// The records of an image's metadata (`bytes`: the magic, every record
/// before the first page, and the first data record's header, which is what
/// a restore hands the kernel), each checked against the format's rules and
/// its check value as it is read, and parsed: the one record reader of the
/// kernel's restore and of crctl. It yields each record, then the data
/// record's header, then nothing; after an error, nothing more.
/// [`Metadata::finish`] hands over the checker and the chain of check values,
/// to go on with the data records.
pub struct Metadata<'a, H> {
    bytes: &'a [u8],
    pos: usize,
    checker: Checker,
    chain: H,
    done: bool,
}

impl<'a, H: Checksum> Metadata<'a, H> {
    /// A reader of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Metadata {
            bytes,
            pos: 0,
            checker: Checker::new(),
            chain: H::start(),
            done: false,
        }
    }

    /// The checker and the chain of the check values so far.
    pub fn finish(self) -> (Checker, H) {
        (self.checker, self.chain)
    }

    /// The checker (the header, once read, is in it).
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    fn step(&mut self) -> Checked<Item<'a>> {
        let bytes = self.bytes;
        if self.pos == 0 {
            let magic = bytes.get(..8).ok_or(FormatError {
                fault: Fault::Truncated,
                at: 0,
                what: "the image ends before its magic",
                value: bytes.len() as u64,
            })?;
            let mut m = [0u8; 8];
            m.copy_from_slice(magic);
            self.checker.magic(u64::from_le_bytes(m))?;
            self.pos = 8;
        }
        let at = self.pos as u64;
        let header: CrRecord = bytes.get(self.pos..).and_then(from_bytes).map_or_else(
            || invalid(at, "the metadata ends inside a record header", 0),
            Ok,
        )?;
        self.checker.record(&header, at)?;
        self.pos += size_of::<CrRecord>();
        if header.r#type == CR_REC_PAGES || header.r#type == CR_REC_TRAILER {
            if self.pos != bytes.len() {
                return invalid(
                    at,
                    "the metadata does not end after the first data record's header",
                    bytes.len() as u64,
                );
            }
            self.done = true;
            return Ok(Item::Data { at, header });
        }
        let payload = usize::try_from(header.size)
            .ok()
            .and_then(|n| bytes.get(self.pos..)?.get(..n))
            .map_or_else(
                || invalid(at, "the metadata ends inside a record", header.size),
                Ok,
            )?;
        let mut hash = H::start();
        let mut bare = header;
        bare.check = 0;
        hash.add(as_bytes(&bare));
        hash.add(payload);
        self.checker.sealed(hash.value() as u32 == header.check)?;
        self.chain.add(&header.check.to_le_bytes());
        self.pos += payload.len();
        let record = self.checker.parse(payload)?;
        Ok(Item::Record { at, record })
    }
}

impl<'a, H: Checksum> Iterator for Metadata<'a, H> {
    type Item = Checked<Item<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step();
        self.done |= item.is_err();
        Some(item)
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
    /// FS, ITIMERS and CLOCKS seen (each at most once, in this order,
    /// before the first FD).
    seen_fs: bool,
    seen_itimers: bool,
    seen_clocks: bool,
    /// The last PIPE's (dev, ino): PIPE records come after the FDs, in order.
    prev_pipe: Option<(u64, u64)>,
    next_page: u64,
    pages: u64,
    records: u64,
    /// The first PAGES (or TRAILER) record has been seen.
    data_started: bool,
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
            seen_clocks: false,
            prev_pipe: None,
            next_page: 0,
            pages: 0,
            records: 0,
            data_started: false,
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
                        && !self.seen_clocks
                        && self.prev_fd < 0
                        && self.prev_pipe.is_none()
                }
                CR_REC_ITIMERS => {
                    !self.seen_itimers
                        && !self.seen_clocks
                        && self.prev_fd < 0
                        && self.prev_pipe.is_none()
                }
                CR_REC_CLOCKS => {
                    !self.seen_clocks
                        && self.header.version >= 3
                        && self.prev_fd < 0
                        && self.prev_pipe.is_none()
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
            CR_REC_CLOCKS => size_of::<CrClocks>(),
            _ => size_of::<CrTrailer>(),
        } as u64;
        if rec.size < min {
            return invalid(at, "a record is too short for its type", rec.size);
        }
        // A restore takes everything up to the first data record's header in
        // one piece: it must fit in MAX_METADATA.
        if !self.data_started {
            let data = ty == CR_REC_PAGES || ty == CR_REC_TRAILER;
            let end = at
                .saturating_add(16)
                .saturating_add(if data { 0 } else { rec.size });
            if end > MAX_METADATA {
                return invalid(
                    at,
                    "the records before the first page exceed the 64 MiB a restore takes",
                    end,
                );
            }
            self.data_started = data;
        }
        self.current = ty;
        self.current_at = at;
        self.current_size = rec.size;
        Ok(())
    }

    /// The current record's check value matched (`ok`) or not.
    pub fn sealed(&mut self, ok: bool) -> Checked {
        if !ok {
            return Err(Checker::damaged(self.current_at, self.current));
        }
        self.records += 1;
        Ok(())
    }

    /// The record at `at` (of type `ty`) does not match its check value:
    /// what [`Checker::sealed`] says, also for a record checked after the
    /// ones that follow it were read (a restore checks page data on another
    /// CPU).
    pub fn damaged(at: u64, ty: u32) -> FormatError {
        FormatError {
            fault: Fault::Damaged,
            at,
            what: "a record's check value does not match its bytes",
            value: u64::from(ty),
        }
    }

    /// Parses and checks the payload of the record [`Checker::record`] just
    /// announced and [`Checker::sealed`] accepted: any type but PAGES (whose
    /// data is streamed: see [`Checker::pages`]). Every reader of images (the
    /// kernel's restore, crctl) and the kernel's checkpoint, which checks each
    /// record it writes, go through here: one set of rules.
    pub fn parse<'a>(&mut self, payload: &'a [u8]) -> Checked<Record<'a>> {
        let mut p = Payload::new(payload, self.current_at);
        let rec = match self.current {
            CR_REC_HEADER => {
                let h = p.take("the header")?;
                self.header(&h)?;
                Record::Header(h)
            }
            CR_REC_PROCESS => {
                let v = p.take("the process")?;
                self.process(&v)?;
                Record::Process(v)
            }
            CR_REC_MM => {
                let mm: CrMm = p.take("the address space")?;
                self.mm(&mm)?;
                let auxv = p.take_bytes(u64::from(mm.auxv_words) * 8, "the auxv")?;
                self.auxv(auxv)?;
                let exe = p.take_path(mm.exe_path_len, "the executable's path")?;
                Record::Mm { mm, auxv, exe }
            }
            CR_REC_VMA => {
                let vma: CrVma = p.take("a memory area")?;
                self.vma(&vma)?;
                let path = p.take_path(vma.path_len, "a mapped file's path")?;
                Record::Vma { vma, path }
            }
            CR_REC_SIGHAND => {
                let b = p.take_bytes(size_of::<CrSighand>() as u64, "the signal handlers")?;
                self.sighand(b)?;
                Record::Sighand(b)
            }
            CR_REC_SIGPENDING => {
                let head: CrSigpending = p.take("the pending signals")?;
                self.sigpending(&head)?;
                let queued = self.take_siginfos(&mut p, head.count)?;
                Record::Sigpending { head, queued }
            }
            CR_REC_FD => {
                let fd: CrFd = p.take("an open file")?;
                self.fd(&fd)?;
                let path = p.take_path(fd.path_len, "an open file's path")?;
                Record::Fd { fd, path }
            }
            CR_REC_FS => {
                let fs: CrFs = p.take("the directories")?;
                self.fs(&fs)?;
                let cwd = p.take_path(fs.cwd_len, "the working directory")?;
                let root = p.take_path(fs.root_len, "the root directory")?;
                Record::Fs { fs, cwd, root }
            }
            CR_REC_ITIMERS => {
                let t = p.take("the interval timers")?;
                self.itimers(&t)?;
                Record::Itimers(t)
            }
            CR_REC_CLOCKS => {
                let c = p.take("the clocks")?;
                self.clocks(&c)?;
                Record::Clocks(c)
            }
            CR_REC_PIPE => {
                let pipe: CrPipe = p.take("a pipe")?;
                self.pipe(&pipe)?;
                let data = p.take_bytes(u64::from(pipe.bytes), "a pipe's data")?;
                Record::Pipe { pipe, data }
            }
            CR_REC_THREAD => {
                let thread: CrThread = p.take("a thread")?;
                self.thread(&thread)?;
                let xstate = p.take_bytes(u64::from(thread.xstate_size), "the xsave state")?;
                let queued = self.take_siginfos(&mut p, thread.pending_count)?;
                Record::Thread {
                    thread,
                    xstate,
                    queued,
                }
            }
            CR_REC_TRAILER => Record::Trailer(p.take("the trailer")?),
            ty => {
                return invalid(
                    self.current_at,
                    "a record that has no payload to parse",
                    u64::from(ty),
                )
            }
        };
        p.end()?;
        Ok(rec)
    }

    /// `count` queued siginfos from `p`, each checked.
    fn take_siginfos<'a>(&self, p: &mut Payload<'a>, count: u32) -> Checked<Siginfos<'a>> {
        let n = u64::from(count) * size_of::<CrSiginfo>() as u64;
        let bytes = p.take_bytes(n, "a queued signal")?;
        let queued = Siginfos(bytes);
        for s in queued {
            self.siginfo(&s)?;
        }
        Ok(queued)
    }

    /// HEADER.
    pub fn header(&mut self, h: &CrImageHeader) -> Checked {
        let at = self.current_at;
        // Version 2 is version 3 without CLOCKS.
        if h.version != CR_IMAGE_VERSION && h.version != 2 {
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
        if p.flags & !CR_PROCESS_ALL != 0 || p.umask > 0o777 {
            return invalid(
                self.current_at,
                "bad flags or umask in the process",
                u64::from(p.flags),
            );
        }
        if !(-1000..=1000).contains(&p.oom_score_adj) {
            return invalid(
                self.current_at,
                "an oom_score_adj out of range",
                p.oom_score_adj as u64,
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
        if mm_addresses(m).iter().any(|&a| a >= USER_END) {
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

    /// The auxv of the MM record: key-value pairs ending with the one and only
    /// `AT_NULL` pair, as the kernel keeps it (/proc/PID/auxv reads up to that
    /// key, so an auxv without one would read past the kernel's array).
    pub fn auxv(&self, bytes: &[u8]) -> Checked {
        let words = bytes.len() / 8;
        let nulls = auxv_words(bytes)
            .step_by(2)
            .filter(|&k| k == AT_NULL)
            .count();
        let last = auxv_words(bytes).step_by(2).last();
        if words < 2 || nulls != 1 || last != Some(AT_NULL) {
            return invalid(
                self.current_at,
                "an auxv that does not end with its only AT_NULL entry",
                words as u64,
            );
        }
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
            || v.flags & !CR_VMA_FLAGS_ALL != 0
            || v.__pad != 0
            || v.__pad2 != 0
            || v.__reserved != 0
            || v.__reserved1 != 0
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

    /// SIGHAND, as the bytes of a `CrSighand`.
    pub fn sighand(&mut self, s: &[u8]) -> Checked {
        if self.current_size != size_of::<CrSighand>() as u64 || s.len() != size_of::<CrSighand>() {
            return invalid(
                self.current_at,
                "a SIGHAND record of the wrong size",
                self.current_size,
            );
        }
        let actions = s
            .chunks_exact(size_of::<CrSigaction>())
            .filter_map(from_bytes::<CrSigaction>);
        for (i, a) in actions.enumerate() {
            let sig = i as u64 + 1;
            // SIGKILL and SIGSTOP cannot be caught or ignored.
            if (sig == 9 || sig == 19) && a.handler != 0 {
                return invalid(self.current_at, "a handler for SIGKILL or SIGSTOP", sig);
            }
            if a.handler >= USER_END || a.restorer >= USER_END {
                return invalid(
                    self.current_at,
                    "a signal handler or restorer outside user space",
                    sig,
                );
            }
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
        if !(CR_FD_REG..=CR_FD_OTHER).contains(&f.r#type) || f.flags & !CR_FD_F_SHARED != 0 {
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

    /// CLOCKS.
    pub fn clocks(&mut self, c: &CrClocks) -> Checked {
        let fits = |v: i64| (0..1 << 62).contains(&v);
        if self.current_size != size_of::<CrClocks>() as u64
            || !fits(c.monotonic_ns)
            || !fits(c.boottime_ns)
            || !fits(c.realtime_ns)
        {
            return invalid(
                self.current_at,
                "a CLOCKS record of the wrong size or with a time out of range",
                self.current_size,
            );
        }
        self.seen_clocks = true;
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
        if t.restart > CR_RESTART_BLOCK || t.flags & !CR_THREAD_LEADER != 0 {
            return invalid(
                at,
                "a thread with bad restart or flags",
                u64::from(t.restart),
            );
        }
        if !sched_valid(t.nice, t.policy, t.rt_priority) {
            return invalid(
                at,
                "a thread's nice value, scheduling policy or priority is out of range",
                u64::from(t.policy),
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
        let r = &t.regs;
        if [r.ip, r.sp, r.fs_base, r.gs_base]
            .iter()
            .any(|&a| a >= USER_END)
        {
            return invalid(
                at,
                "a thread's ip, sp, fs or gs base outside user space",
                r.ip,
            );
        }
        if t.restart == CR_RESTART_SYSCALL && ((r.orig_ax as i64) < 0 || r.ip < 2) {
            return invalid(
                at,
                "a system call to re-issue with no system call",
                r.orig_ax,
            );
        }
        if t.sas_flags & !SAS_FLAGS != 0 || t.sas_sp >= USER_END || t.sas_size > USER_END - t.sas_sp
        {
            return invalid(at, "a thread's signal stack outside user space", t.sas_sp);
        }
        if t.clear_child_tid >= USER_END || t.robust_list >= USER_END {
            return invalid(
                at,
                "a thread's clear_child_tid or robust list outside user space",
                t.clear_child_tid.max(t.robust_list),
            );
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
