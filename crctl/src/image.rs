// SPDX-License-Identifier: GPL-2.0

//! Reading and verifying an image stream (Documentation/image-format.rst).
//!
//! The rules are the kernel's own: `format::Checker` (src/image/format.rs, shared
//! with the module) checks every record's place in the order, its size, its
//! fields and ranges, and the trailer. This file reads the stream, computes
//! the check values, and keeps what `inspect` shows. It reads sequentially,
//! so a pipe works as well as a file.

use std::fmt;
use std::io::{self, Read};

use xxhash_rust::xxh64::Xxh64;

use crate::format::{self, Checker, Fault, FormatError, Item, Record};
use crate::uapi::*;

/// What is wrong with an image.
#[derive(Debug)]
pub enum ImageError {
    /// Reading failed.
    Io(io::Error),
    /// The image breaks the format's rules.
    Format(FormatError),
}

impl From<FormatError> for ImageError {
    fn from(e: FormatError) -> Self {
        ImageError::Format(e)
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io(e) => write!(f, "reading the image: {e}"),
            ImageError::Format(e) => {
                let kind = match e.fault {
                    Fault::NotAnImage => {
                        return write!(f, "not a cr image (magic {:#018x})", e.value)
                    }
                    Fault::Unsupported => "not supported",
                    Fault::Truncated => "truncated",
                    Fault::Damaged => "damaged",
                    Fault::Invalid => "invalid",
                };
                write!(
                    f,
                    "the image is {kind} at byte {}: {} ({:#x})",
                    e.at, e.what, e.value
                )
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
#[derive(Clone, Debug, Default)]
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
    /// The working directory and root, and their FS record (absent in
    /// images of older writers).
    pub fs: Option<(CrFs, String, String)>,
    /// The interval timers.
    pub itimers: Option<CrItimers>,
    /// The process's clocks once it was frozen (absent in version 2 images).
    pub clocks: Option<CrClocks>,
    /// The data waiting in each pipe.
    pub pipes: Vec<(CrPipe, Vec<u8>)>,
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
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, ImageError> {
        let mut done = 0;
        while done < buf.len() {
            match self.inner.read(&mut buf[done..]) {
                Ok(0) if done == 0 => return Ok(false),
                Ok(0) => {
                    return Err(FormatError {
                        fault: Fault::Truncated,
                        at: self.pos + done as u64,
                        what: "the image ends inside a record",
                        value: 0,
                    }
                    .into())
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ImageError::Io(e)),
            }
        }
        self.pos += done as u64;
        Ok(true)
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), ImageError> {
        let at = self.pos;
        if !self.fill(buf)? && !buf.is_empty() {
            return Err(truncated(at));
        }
        Ok(())
    }
}

fn truncated(at: u64) -> ImageError {
    FormatError {
        fault: Fault::Truncated,
        at,
        what: "the image ends before its trailer",
        value: 0,
    }
    .into()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl format::Checksum for Xxh64 {
    fn start() -> Self {
        Xxh64::new(0)
    }

    fn add(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }

    fn value(&self) -> u64 {
        self.digest()
    }
}

/// XXH64 (seed 0) over a record header with its check zeroed.
fn hash_start(rec: &CrRecord) -> Xxh64 {
    let mut hdr = *rec;
    hdr.check = 0;
    let mut h = Xxh64::new(0);
    h.update(as_bytes(&hdr));
    h
}

/// Reads and verifies a whole image from `r`. `on_pages(addr, bytes)` sees the
/// data of each page run as it streams by (nothing else keeps it).
pub fn read<R: Read>(
    r: R,
    on_pages: impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> Result<Image, ImageError> {
    read_inner(r, on_pages, None)
}

/// Reads and checks the image's metadata: every record before the first
/// page, plus that first data record's header (a restore hands these bytes to
/// the kernel, and the stream goes on from there). Reads exactly that many
/// bytes, so `r` should be unbuffered. Returns the bytes and what they say
/// (with no pages and a zero trailer).
pub fn read_metadata<R: Read>(r: R) -> Result<(Vec<u8>, Image), ImageError> {
    let mut meta = Vec::new();
    let img = read_inner(r, |_, _| Ok(()), Some(&mut meta))?;
    Ok((meta, img))
}

/// The image's metadata bytes as they come: the magic, each record before
/// the first page, and the first data record's header. Only the framing: the
/// shared reader (`format::Metadata`) checks them. A record the format would
/// refuse for its size ends the bytes at its header (so a bad stream never
/// makes crctl read or keep more than the format allows), which the shared
/// reader then refuses in its own words.
fn read_raw_metadata<R: Read>(src: &mut Counted<R>) -> Result<Vec<u8>, ImageError> {
    let mut meta = vec![0u8; 8];
    src.exact(&mut meta)?;
    // Not an image at all: say so before reading on.
    Checker::new().magic(u64::from_le_bytes(meta[..8].try_into().expect("8 bytes")))?;
    loop {
        let at = src.pos;
        let mut h = [0u8; 16];
        if !src.fill(&mut h)? {
            return Err(truncated(at));
        }
        meta.extend_from_slice(&h);
        let rec: CrRecord = from_bytes(&h).expect("16 bytes");
        if rec.r#type == CR_REC_PAGES || rec.r#type == CR_REC_TRAILER {
            return Ok(meta);
        }
        let end = (meta.len() as u64).saturating_add(rec.size);
        if rec.size > CR_IMAGE_MAX_RECORD || end > format::MAX_METADATA {
            return Ok(meta);
        }
        let start = meta.len();
        meta.resize(end as usize, 0);
        src.exact(&mut meta[start..])?;
    }
}

impl Image {
    /// Keeps what `inspect` shows of a checked record.
    fn take(&mut self, record: Record<'_>) {
        match record {
            Record::Header(_) | Record::Trailer(_) => {}
            Record::Process(p) => self.process = p,
            Record::Mm { mm, auxv, exe } => {
                self.mm = mm;
                self.auxv = format::auxv_words(auxv).collect();
                self.exe = text(exe);
            }
            Record::Vma { vma, path } => self.vmas.push((vma, text(path))),
            Record::Sighand(b) => self.sighand = from_bytes(b).expect("checked size"),
            Record::Sigpending { head, queued } => {
                self.shared_pending = head;
                self.shared_queue.extend(queued);
            }
            Record::Fd { fd, path } => self.fds.push((fd, text(path))),
            Record::Fs { fs, cwd, root } => self.fs = Some((fs, text(cwd), text(root))),
            Record::Itimers(t) => self.itimers = Some(t),
            Record::Clocks(c) => self.clocks = Some(c),
            Record::Pipe { pipe, data } => self.pipes.push((pipe, data.to_vec())),
            Record::Thread {
                thread,
                xstate,
                queued,
            } => self.threads.push(Thread {
                thread,
                xstate: xstate.to_vec(),
                pending: queued.collect(),
            }),
        }
    }
}

fn read_inner<R: Read>(
    r: R,
    mut on_pages: impl FnMut(u64, &[u8]) -> io::Result<()>,
    capture: Option<&mut Vec<u8>>,
) -> Result<Image, ImageError> {
    let mut src = Counted { inner: r, pos: 0 };
    let meta = read_raw_metadata(&mut src)?;

    // Every record before the pages, through the reader the kernel uses.
    let mut img = Image::default();
    let mut records = format::Metadata::<Xxh64>::new(&meta);
    let mut first_data = None;
    for item in records.by_ref() {
        match item? {
            Item::Record { record, .. } => img.take(record),
            Item::Data { at, header } => first_data = Some((at, header)),
        }
    }
    let (mut ck, mut chain) = records.finish();
    let (_, mut rec) = first_data.ok_or_else(|| truncated(src.pos))?;
    if let Some(c) = capture {
        *c = meta;
        return Ok(Image {
            header: ck.header,
            bytes: src.pos,
            ..img
        });
    }

    // Then the data records: the page runs, as they stream by, and the
    // trailer.
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut hash = hash_start(&rec);
        if rec.r#type == CR_REC_PAGES {
            let mut head = [0u8; 16];
            src.exact(&mut head)?;
            hash.update(&head);
            let run: CrPages = from_bytes(&head).expect("16 bytes");
            let end = run.addr.saturating_add(run.count.saturating_mul(4096));
            let inside = img
                .vmas
                .iter()
                .any(|(v, _)| v.start <= run.addr && end <= v.end && Checker::holds_pages(v));
            ck.pages(&run, inside)?;
            let mut left = rec.size - 16;
            let mut addr = run.addr;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                src.exact(&mut buf[..n])?;
                hash.update(&buf[..n]);
                on_pages(addr, &buf[..n]).map_err(ImageError::Io)?;
                addr += n as u64;
                left -= n as u64;
            }
            ck.sealed(hash.digest() as u32 == rec.check)?;
            chain.update(&rec.check.to_le_bytes());
            img.pages.push(PageRun {
                addr: run.addr,
                count: run.count,
            });
        } else {
            // The trailer (the checker allows nothing else here): the last
            // record, then the end of the stream.
            let mut bytes = vec![0u8; rec.size as usize];
            src.exact(&mut bytes)?;
            hash.update(&bytes);
            ck.sealed(hash.digest() as u32 == rec.check)?;
            let Record::Trailer(trailer) = ck.parse(&bytes)? else {
                unreachable!("the checker allows only PAGES and TRAILER after the metadata");
            };
            ck.trailer(&trailer, chain.digest() as u32)?;
            let mut extra = [0u8; 1];
            if src.fill(&mut extra)? {
                return Err(FormatError {
                    fault: Fault::Invalid,
                    at: src.pos - 1,
                    what: "bytes after the trailer",
                    value: 0,
                }
                .into());
            }
            return Ok(Image {
                header: ck.header,
                trailer,
                bytes: src.pos,
                ..img
            });
        }
        let at = src.pos;
        let mut h = [0u8; 16];
        if !src.fill(&mut h)? {
            return Err(truncated(at));
        }
        rec = from_bytes(&h).expect("16 bytes");
        ck.record(&rec, at)?;
    }
}

/// The name of a record type.
pub fn name(ty: u32) -> &'static str {
    format::record_name(ty)
}
