// SPDX-License-Identifier: GPL-2.0

//! Reading and verifying an image stream (Documentation/image-format.rst).
//!
//! The reader is strict: every record's check, size and place in the order,
//! every count and length, every address range, and the trailer (record count,
//! byte count, check chain) must be right, and nothing may follow the trailer.
//! It reads sequentially, so a pipe works as well as a file.

use std::fmt;
use std::io::{self, Read};

use xxhash_rust::xxh64::Xxh64;

use crate::uapi::*;

/// User space ends here on x86_64 (4-level paging; 5-level would be 1 << 56).
pub const USER_END: u64 = 1 << 47;
/// Most queued siginfos one record may carry.
pub const MAX_SIGINFO: u32 = 1 << 16;
/// Most auxv words.
pub const MAX_AUXV_WORDS: u32 = 128;

/// What is wrong with an image.
#[derive(Debug)]
pub enum ImageError {
    /// Reading failed.
    Io(io::Error),
    /// Not an image at all.
    BadMagic(u64),
    /// The stream ended early.
    Truncated { at: u64, what: String },
    /// Bytes that are not what the format allows.
    Corrupt { at: u64, what: String },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io(e) => write!(f, "reading the image: {e}"),
            ImageError::BadMagic(m) => write!(f, "not a cr image (magic {m:#018x})"),
            ImageError::Truncated { at, what } => {
                write!(f, "the image is truncated at byte {at}: {what}")
            }
            ImageError::Corrupt { at, what } => {
                write!(f, "the image is corrupt at byte {at}: {what}")
            }
        }
    }
}

impl std::error::Error for ImageError {}

/// A run of saved pages (their bytes are checked, not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    pub addr: u64,
    pub count: u64,
}

/// One thread's records.
#[derive(Clone, Debug)]
pub struct Thread {
    pub thread: CrThread,
    pub xstate: Vec<u8>,
    pub pending: Vec<CrSiginfo>,
}

/// An image, decoded and verified.
#[derive(Clone, Debug)]
pub struct Image {
    pub header: CrImageHeader,
    pub process: CrProcess,
    pub mm: CrMm,
    pub auxv: Vec<u64>,
    pub exe: String,
    pub vmas: Vec<(CrVma, String)>,
    pub sighand: CrSighand,
    pub shared_pending: CrSigpending,
    pub shared_queue: Vec<CrSiginfo>,
    pub fds: Vec<(CrFd, String)>,
    pub threads: Vec<Thread>,
    pub pages: Vec<PageRun>,
    pub trailer: CrTrailer,
    /// Bytes in the whole image.
    pub bytes: u64,
}

impl Image {
    /// Pages saved for the area `v`.
    pub fn pages_in(&self, v: &CrVma) -> u64 {
        self.pages
            .iter()
            .filter(|r| r.addr >= v.start && r.addr < v.end)
            .map(|r| r.count)
            .sum()
    }
}

/// A byte source that counts what it read.
struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Counted<R> {
    /// Fills `buf`; `Ok(false)` if the stream ended before its first byte.
    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<bool, ImageError> {
        let mut done = 0;
        while done < buf.len() {
            match self.inner.read(&mut buf[done..]) {
                Ok(0) if done == 0 => return Ok(false),
                Ok(0) => {
                    return Err(ImageError::Truncated {
                        at: self.pos + done as u64,
                        what: format!("in {what}"),
                    })
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ImageError::Io(e)),
            }
        }
        self.pos += done as u64;
        Ok(true)
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), ImageError> {
        let at = self.pos;
        if !self.fill(buf, what)? && !buf.is_empty() {
            return Err(ImageError::Truncated {
                at,
                what: format!("before {what}"),
            });
        }
        Ok(())
    }
}

fn corrupt<T>(at: u64, what: impl Into<String>) -> Result<T, ImageError> {
    Err(ImageError::Corrupt {
        at,
        what: what.into(),
    })
}

/// A record's payload, read and verified, parsed front to back.
struct Payload {
    ty: u32,
    at: u64,
    bytes: Vec<u8>,
    off: usize,
}

impl Payload {
    fn take<T: Pod>(&mut self, what: &str) -> Result<T, ImageError> {
        match from_bytes::<T>(&self.bytes[self.off..]) {
            Some(v) => {
                self.off += std::mem::size_of::<T>();
                Ok(v)
            }
            None => corrupt(
                self.at,
                format!("{} record too short for {what}", name(self.ty)),
            ),
        }
    }

    fn take_bytes(&mut self, n: usize, what: &str) -> Result<&[u8], ImageError> {
        if self.bytes.len() - self.off < n {
            return corrupt(
                self.at,
                format!("{} record too short for {what}", name(self.ty)),
            );
        }
        let b = &self.bytes[self.off..self.off + n];
        self.off += n;
        Ok(b)
    }

    fn take_string(&mut self, n: u32, what: &str) -> Result<String, ImageError> {
        if n > CR_IMAGE_MAX_PATH {
            return corrupt(
                self.at,
                format!("{what} of {n} bytes (limit {CR_IMAGE_MAX_PATH})"),
            );
        }
        let at = self.at;
        let b = self.take_bytes(n as usize, what)?;
        match std::str::from_utf8(b) {
            Ok(s) if !s.contains('\0') => Ok(s.to_owned()),
            _ => corrupt(at, format!("{what} is not a valid path")),
        }
    }

    fn end(&self) -> Result<(), ImageError> {
        if self.off != self.bytes.len() {
            return corrupt(
                self.at,
                format!(
                    "{} bytes left over in a {} record",
                    self.bytes.len() - self.off,
                    name(self.ty)
                ),
            );
        }
        Ok(())
    }
}

/// The name of a record type.
pub fn name(ty: u32) -> &'static str {
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
        _ => "unknown",
    }
}

/// The image's checksum: XXH64, seed 0; a record keeps the low 32 bits.
fn hasher() -> Xxh64 {
    Xxh64::new(0)
}

/// Reads records in order and checks what all records share.
struct Reader<R> {
    src: Counted<R>,
    chain: Xxh64,
    records: u64,
    page_size: u64,
}

impl<R: Read> Reader<R> {
    /// The next record's header; PAGES payloads are left in the stream.
    fn header(&mut self) -> Result<(CrRecord, u64), ImageError> {
        let at = self.src.pos;
        let mut h = [0u8; 16];
        if !self.src.fill(&mut h, "a record header")? {
            return Err(ImageError::Truncated {
                at,
                what: "the image ends without a TRAILER record".into(),
            });
        }
        let rec: CrRecord = from_bytes(&h).expect("16 bytes");
        if rec.size > CR_IMAGE_MAX_RECORD {
            return corrupt(
                at,
                format!(
                    "a {} record of {} bytes (limit {CR_IMAGE_MAX_RECORD})",
                    name(rec.r#type),
                    rec.size
                ),
            );
        }
        Ok((rec, at))
    }

    fn seal(&mut self, rec: &CrRecord, h: Xxh64, at: u64) -> Result<(), ImageError> {
        let check = h.digest() as u32;
        if check != rec.check {
            return corrupt(
                at,
                format!(
                    "{} record check {:#010x}, expected {:#010x}",
                    name(rec.r#type),
                    rec.check,
                    check
                ),
            );
        }
        self.chain.update(&rec.check.to_le_bytes());
        self.records += 1;
        Ok(())
    }

    /// A hash fed with `rec`'s header, its check field zero.
    fn hash_start(rec: &CrRecord) -> Xxh64 {
        let mut hdr = *rec;
        hdr.check = 0;
        let mut h = hasher();
        h.update(as_bytes(&hdr));
        h
    }

    /// Reads the payload of `rec` (not PAGES) and verifies its check.
    fn payload(&mut self, rec: CrRecord, at: u64) -> Result<Payload, ImageError> {
        let mut bytes = vec![0u8; rec.size as usize];
        self.src
            .exact(&mut bytes, &format!("a {} record", name(rec.r#type)))?;
        let mut h = Self::hash_start(&rec);
        h.update(&bytes);
        self.seal(&rec, h, at)?;
        Ok(Payload {
            ty: rec.r#type,
            at,
            bytes,
            off: 0,
        })
    }

    /// The next record, which must be of type `ty`.
    fn expect(&mut self, ty: u32) -> Result<Payload, ImageError> {
        let (rec, at) = self.header()?;
        if rec.r#type != ty {
            return corrupt(
                at,
                format!(
                    "a {} record where a {} record belongs",
                    name(rec.r#type),
                    name(ty)
                ),
            );
        }
        self.payload(rec, at)
    }
}

fn check_vma(v: &CrVma, prev_end: u64, page: u64, at: u64) -> Result<(), ImageError> {
    if v.start >= v.end
        || !v.start.is_multiple_of(page)
        || !v.end.is_multiple_of(page)
        || v.end > USER_END
    {
        return corrupt(at, format!("bad memory area {:#x}-{:#x}", v.start, v.end));
    }
    if v.start < prev_end {
        return corrupt(
            at,
            format!(
                "memory area {:#x}-{:#x} overlaps or is out of order",
                v.start, v.end
            ),
        );
    }
    if !(CR_VMA_ANON..=CR_VMA_DEVICE).contains(&v.kind) {
        return corrupt(
            at,
            format!("memory area {:#x} of unknown kind {}", v.start, v.kind),
        );
    }
    if v.prot & !7 != 0 || v.__pad != 0 || v.__pad2 != 0 || v.__reserved != 0 {
        return corrupt(
            at,
            format!(
                "memory area {:#x} has bad protection or nonzero padding",
                v.start
            ),
        );
    }
    Ok(())
}

/// Reads and verifies a whole image from `r`. `on_pages(addr, bytes)` sees the
/// data of each page run as it streams by (nothing else keeps it).
pub fn read<R: Read>(
    r: R,
    mut on_pages: impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> Result<Image, ImageError> {
    let mut rd = Reader {
        src: Counted { inner: r, pos: 0 },
        chain: hasher(),
        records: 0,
        page_size: 4096,
    };

    let mut magic = [0u8; 8];
    rd.src.exact(&mut magic, "the magic")?;
    let magic = u64::from_le_bytes(magic);
    if magic != CR_IMAGE_MAGIC {
        return Err(ImageError::BadMagic(magic));
    }

    let mut p = rd.expect(CR_REC_HEADER)?;
    let header: CrImageHeader = p.take("the header")?;
    p.end()?;
    if header.version != CR_IMAGE_VERSION {
        return corrupt(
            p.at,
            format!(
                "image version {} (this crctl reads {CR_IMAGE_VERSION})",
                header.version
            ),
        );
    }
    if header.arch != CR_ARCH_X86_64 {
        return corrupt(
            p.at,
            format!("architecture {} (this crctl reads x86_64)", header.arch),
        );
    }
    if header.page_size != 4096 {
        return corrupt(p.at, format!("page size {}", header.page_size));
    }
    if header.xstate_size > CR_IMAGE_MAX_XSTATE {
        return corrupt(p.at, format!("xsave state of {} bytes", header.xstate_size));
    }
    rd.page_size = u64::from(header.page_size);

    let mut p = rd.expect(CR_REC_PROCESS)?;
    let process: CrProcess = p.take("the process")?;
    p.end()?;
    if process.nr_threads == 0 || process.nr_threads > CR_IMAGE_MAX_THREADS {
        return corrupt(p.at, format!("{} threads", process.nr_threads));
    }

    let mut p = rd.expect(CR_REC_MM)?;
    let mm: CrMm = p.take("the address space")?;
    if mm.auxv_words > MAX_AUXV_WORDS || !mm.auxv_words.is_multiple_of(2) {
        return corrupt(p.at, format!("{} auxv words", mm.auxv_words));
    }
    if mm.nr_vmas > CR_IMAGE_MAX_VMAS {
        return corrupt(p.at, format!("{} memory areas", mm.nr_vmas));
    }
    let auxv: Vec<u64> = p
        .take_bytes(mm.auxv_words as usize * 8, "the auxv")?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let exe = p.take_string(mm.exe_path_len, "the executable's path")?;
    p.end()?;

    let mut vmas = Vec::with_capacity(mm.nr_vmas.min(4096) as usize);
    let mut prev_end = 0;
    for _ in 0..mm.nr_vmas {
        let mut p = rd.expect(CR_REC_VMA)?;
        let v: CrVma = p.take("a memory area")?;
        check_vma(&v, prev_end, rd.page_size, p.at)?;
        let path = p.take_string(v.path_len, "a mapped file's path")?;
        p.end()?;
        prev_end = v.end;
        vmas.push((v, path));
    }

    let mut p = rd.expect(CR_REC_SIGHAND)?;
    let sighand: CrSighand = p.take("the signal handlers")?;
    p.end()?;

    let mut p = rd.expect(CR_REC_SIGPENDING)?;
    let shared_pending: CrSigpending = p.take("the pending signals")?;
    if shared_pending.count > MAX_SIGINFO || shared_pending.__pad != 0 {
        return corrupt(p.at, format!("{} queued signals", shared_pending.count));
    }
    let mut shared_queue = Vec::new();
    for _ in 0..shared_pending.count {
        shared_queue.push(p.take::<CrSiginfo>("a queued signal")?);
    }
    p.end()?;

    // FD records, then exactly nr_threads THREAD records.
    let mut fds: Vec<(CrFd, String)> = Vec::new();
    let mut threads = Vec::new();
    let (mut rec, mut at) = rd.header()?;
    while rec.r#type == CR_REC_FD {
        let mut p = rd.payload(rec, at)?;
        let f: CrFd = p.take("an open file")?;
        if f.fd < 0 || fds.last().is_some_and(|(l, _)| l.fd >= f.fd) {
            return corrupt(p.at, format!("fd {} is negative or out of order", f.fd));
        }
        if !(CR_FD_REG..=CR_FD_OTHER).contains(&f.r#type) {
            return corrupt(p.at, format!("fd {} of unknown type {}", f.fd, f.r#type));
        }
        let path = p.take_string(f.path_len, "an open file's path")?;
        p.end()?;
        fds.push((f, path));
        (rec, at) = rd.header()?;
    }
    for n in 0..process.nr_threads {
        if rec.r#type != CR_REC_THREAD {
            return corrupt(
                at,
                format!(
                    "a {} record where THREAD {} of {} belongs",
                    name(rec.r#type),
                    n + 1,
                    process.nr_threads
                ),
            );
        }
        let mut p = rd.payload(rec, at)?;
        let t: CrThread = p.take("a thread")?;
        if t.xstate_size != header.xstate_size {
            return corrupt(
                p.at,
                format!(
                    "thread {} has {} bytes of xsave state, the header says {}",
                    t.tid, t.xstate_size, header.xstate_size
                ),
            );
        }
        if t.pending_count > MAX_SIGINFO || t.restart > CR_RESTART_BLOCK {
            return corrupt(
                p.at,
                format!("thread {} has bad signal or restart fields", t.tid),
            );
        }
        if (t.flags & CR_THREAD_LEADER != 0) != (n == 0) {
            return corrupt(p.at, "the leader is not the first thread, or there are two");
        }
        let xstate = p
            .take_bytes(t.xstate_size as usize, "the xsave state")?
            .to_vec();
        let mut pending = Vec::new();
        for _ in 0..t.pending_count {
            pending.push(p.take::<CrSiginfo>("a queued signal")?);
        }
        p.end()?;
        threads.push(Thread {
            thread: t,
            xstate,
            pending,
        });
        (rec, at) = rd.header()?;
    }

    // PAGES records, ascending, inside areas; then the TRAILER.
    let mut pages = Vec::new();
    let mut total = 0u64;
    let mut next_free = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while rec.r#type == CR_REC_PAGES {
        let mut head = [0u8; 16];
        if rec.size < 16 {
            return corrupt(at, "a PAGES record too short for its header");
        }
        rd.src.exact(&mut head, "a PAGES record")?;
        let run: CrPages = from_bytes(&head).expect("16 bytes");
        let len = run
            .count
            .checked_mul(rd.page_size)
            .filter(|&l| l + 16 == rec.size);
        let Some(len) = len.filter(|_| run.count > 0) else {
            return corrupt(
                at,
                format!("PAGES record of {} pages in {} bytes", run.count, rec.size),
            );
        };
        let end = run.addr.saturating_add(len);
        if !run.addr.is_multiple_of(rd.page_size) || run.addr < next_free {
            return corrupt(
                at,
                format!(
                    "page run at {:#x} is unaligned, overlaps or is out of order",
                    run.addr
                ),
            );
        }
        let inside = vmas
            .iter()
            .any(|(v, _)| v.start <= run.addr && end <= v.end);
        if !inside {
            return corrupt(
                at,
                format!(
                    "page run {:#x}-{end:#x} is not inside one memory area",
                    run.addr
                ),
            );
        }
        let mut h = Reader::<R>::hash_start(&rec);
        h.update(&head);
        let mut left = len;
        let mut addr = run.addr;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rd.src.exact(&mut buf[..n], "page data")?;
            h.update(&buf[..n]);
            on_pages(addr, &buf[..n]).map_err(ImageError::Io)?;
            addr += n as u64;
            left -= n as u64;
        }
        rd.seal(&rec, h, at)?;
        next_free = end;
        total += run.count;
        pages.push(PageRun {
            addr: run.addr,
            count: run.count,
        });
        (rec, at) = rd.header()?;
    }

    if rec.r#type != CR_REC_TRAILER {
        return corrupt(
            at,
            format!("a {} record where the TRAILER belongs", name(rec.r#type)),
        );
    }
    let records = rd.records;
    let chain = rd.chain.digest() as u32;
    let mut p = rd.payload(rec, at)?;
    let trailer: CrTrailer = p.take("the trailer")?;
    p.end()?;
    if trailer.records != records
        || trailer.bytes != at
        || trailer.chain != chain
        || trailer.pages != total
    {
        return corrupt(
            at,
            format!(
                "the trailer counts {} records, {} bytes, {} pages, chain {:#010x}; the stream had {records}, {at}, {total}, {chain:#010x}",
                trailer.records, trailer.bytes, trailer.pages, trailer.chain
            ),
        );
    }
    let mut extra = [0u8; 1];
    if rd.src.fill(&mut extra, "after the trailer")? {
        return corrupt(rd.src.pos - 1, "bytes after the trailer");
    }
    Ok(Image {
        header,
        process,
        mm,
        auxv,
        exe,
        vmas,
        sighand,
        shared_pending,
        shared_queue,
        fds,
        threads,
        pages,
        trailer,
        bytes: rd.src.pos,
    })
}
