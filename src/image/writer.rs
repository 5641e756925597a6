// SPDX-License-Identifier: GPL-2.0

//! The image writer: the stream of records of include/uapi/linux/cr_image.h,
//! written in order with no seeks, each record checksummed, and a trailer
//! that counts and chains them (Documentation/image-format.rst).
//!
//! Every record is checked, before it is written, with the rules every reader
//! applies (`format.rs`): an image a restore would refuse is never written,
//! and the checkpoint fails with the reader's own words instead.
//!
//! The checksum is XXH64: it runs at memory speed in software, where crc32c
//! without its instruction (or under emulation) costs more than the copy.

use kernel::{alloc::AllocError, page::PAGE_SIZE, prelude::*};

use crate::{
    image::format::{Checker, FormatError, Record},
    sys::{
        self,
        file::{OutFile, Part},
        mm::PageBatch,
    },
    uapi::{self, CrPages, CrRecord, CrTrailer, Pod},
};

const HDR: usize = core::mem::size_of::<CrRecord>();

/// Bytes of records gathered before they are written: the records before the
/// pages (dozens, most under a few hundred bytes) go out in one write, not
/// one each.
const STAGE: usize = 32 * 1024;

/// OrFail a record could not be written.
pub(crate) enum WriteError {
    /// Writing (or memory for the record) failed.
    Output(Error),
    /// A reader would refuse the record: the image would not restore.
    Refused(FormatError),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Output(e)
    }
}

impl From<AllocError> for WriteError {
    fn from(e: AllocError) -> Self {
        WriteError::Output(e.into())
    }
}

impl From<FormatError> for WriteError {
    fn from(e: FormatError) -> Self {
        WriteError::Refused(e)
    }
}

/// A result of the writer.
pub(crate) type Written<T = ()> = core::result::Result<T, WriteError>;

/// Writes one image to an [`OutFile`].
pub(crate) struct ImageWriter<'a> {
    out: &'a mut OutFile,
    /// The record being built: its header, then its payload (kvmalloc
    /// memory: a pipe's data or a long signal queue can be megabytes).
    buf: KVVec<u8>,
    /// A PAGES record's header and run, written ahead of the pages (kmalloc
    /// memory, as a bio_vec next to the pages needs).
    head: KVec<u8>,
    /// Records finished but not yet written, at most [`STAGE`] bytes
    /// (kmalloc memory, written with the next PAGES record's head).
    staged: KVec<u8>,
    /// The format's rules, applied to each record as a reader will (boxed:
    /// the writer lives on the checkpoint's stack).
    checker: KBox<Checker>,
    /// Hash over the checks of the records written so far.
    chain: sys::Hash,
    records: u64,
    bytes: u64,
    pages: u64,
}

impl<'a> ImageWriter<'a> {
    /// Starts an image with the magic.
    pub(crate) fn new(out: &'a mut OutFile) -> Written<Self> {
        let mut w = ImageWriter {
            out,
            buf: KVVec::with_capacity(64 * 1024, GFP_KERNEL_ACCOUNT)?,
            head: KVec::with_capacity(HDR + core::mem::size_of::<CrPages>(), GFP_KERNEL_ACCOUNT)?,
            staged: KVec::with_capacity(STAGE, GFP_KERNEL_ACCOUNT)?,
            checker: KBox::new(Checker::new(), GFP_KERNEL_ACCOUNT)?,
            chain: sys::Hash::new(),
            records: 0,
            bytes: 0,
            pages: 0,
        };
        w.checker.magic(uapi::CR_IMAGE_MAGIC)?;
        let magic = uapi::CR_IMAGE_MAGIC.to_le_bytes();
        stage(w.out, &mut w.staged, &magic)?;
        w.bytes += magic.len() as u64;
        Ok(w)
    }

    /// Memory pages written so far.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Starts a record of type `ty`; add its payload, then [`Self::finish`].
    pub(crate) fn begin(&mut self, ty: u32) -> Written<&mut Self> {
        self.buf.clear();
        let hdr = CrRecord {
            r#type: ty,
            check: 0,
            size: 0,
        };
        self.buf
            .extend_from_slice(uapi::as_bytes(&hdr), GFP_KERNEL_ACCOUNT)?;
        Ok(self)
    }

    /// A whole record of type `ty`: `v`, then `tail` (may be empty).
    pub(crate) fn record<T: Pod>(&mut self, ty: u32, v: &T, tail: &[u8]) -> Written {
        self.begin(ty)?.put(v)?.put_bytes(tail)?.finish()
    }

    /// Appends a struct to the record's payload.
    pub(crate) fn put<T: Pod>(&mut self, v: &T) -> Written<&mut Self> {
        self.put_bytes(uapi::as_bytes(v))
    }

    /// Appends bytes to the record's payload.
    pub(crate) fn put_bytes(&mut self, b: &[u8]) -> Written<&mut Self> {
        if (self.buf.len() - HDR + b.len()) as u64 > uapi::CR_IMAGE_MAX_RECORD {
            return Err(E2BIG.into());
        }
        self.buf.extend_from_slice(b, GFP_KERNEL_ACCOUNT)?;
        Ok(self)
    }

    /// Fills in the record's size and check, checks it as a reader will, and
    /// writes it (or stages it: see [`STAGE`]). (Not inlined: the parsed
    /// record stays off its callers' frames.)
    #[inline(never)]
    pub(crate) fn finish(&mut self) -> Written {
        let size = (self.buf.len() - HDR) as u64;
        self.buf[8..16].copy_from_slice(&size.to_le_bytes());
        let mut h = sys::Hash::new();
        h.update(&self.buf);
        let check = h.check();
        self.buf[4..8].copy_from_slice(&check.to_le_bytes());

        let hdr: CrRecord = uapi::from_bytes(&self.buf).ok_or(EINVAL)?;
        self.checker.record(&hdr, self.bytes)?;
        self.checker.sealed(true)?;
        if let Record::Trailer(t) = self.checker.parse(&self.buf[HDR..])? {
            let chain = self.chain.check();
            self.checker.trailer(&t, chain)?;
        }

        self.seal(check);
        stage(self.out, &mut self.staged, &self.buf)?;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }

    /// Chains `check`, the check of the record being written.
    fn seal(&mut self, check: u32) {
        self.chain.update(&check.to_le_bytes());
        self.records += 1;
    }

    /// The check value of the PAGES record of pages `range` of `batch`,
    /// the first at `addr`: what [`Self::pages_record`] is given. A pure
    /// function of the pages, so any CPU may compute it.
    pub(crate) fn pages_check(
        addr: usize,
        batch: &PageBatch,
        range: core::ops::Range<usize>,
    ) -> u32 {
        let (hdr, run) = Self::pages_head(addr, range.len());
        let mut h = sys::Hash::new();
        h.update(uapi::as_bytes(&hdr));
        h.update(uapi::as_bytes(&run));
        for i in range {
            h.update_page(batch, i);
        }
        h.check()
    }

    /// The record header (check 0) and the head of a PAGES record.
    fn pages_head(addr: usize, count: usize) -> (CrRecord, CrPages) {
        let run = CrPages {
            addr: addr as u64,
            count: count as u64,
        };
        let hdr = CrRecord {
            r#type: uapi::CR_REC_PAGES,
            check: 0,
            size: (core::mem::size_of::<CrPages>() + count * PAGE_SIZE) as u64,
        };
        (hdr, run)
    }

    /// Writes pages `range` of `batch`, the first at `addr`, as one PAGES
    /// record whose check value [`Self::pages_check`] computed: the pages
    /// go from the batch to the file with no copy of ours.
    #[inline(never)]
    pub(crate) fn pages_record(
        &mut self,
        addr: usize,
        batch: &PageBatch,
        range: core::ops::Range<usize>,
        check: u32,
    ) -> Written {
        let count = range.len();
        if count == 0 {
            return Ok(());
        }
        let (mut hdr, run) = Self::pages_head(addr, count);
        hdr.check = check;
        // The run lies in the area being saved: the reader checks that
        // against its own list of areas.
        self.checker.record(&hdr, self.bytes)?;
        self.checker.pages(&run, true)?;
        self.checker.sealed(true)?;

        self.head.clear();
        self.head
            .extend_from_slice(uapi::as_bytes(&hdr), GFP_KERNEL_ACCOUNT)?;
        self.head
            .extend_from_slice(uapi::as_bytes(&run), GFP_KERNEL_ACCOUNT)?;
        self.seal(hdr.check);
        let (staged, len) = (self.staged.len(), self.head.len());
        self.out.write(&[
            Part::Bytes(&self.staged, 0..staged),
            Part::Bytes(&self.head, 0..len),
            Part::Pages(batch, range),
        ])?;
        self.staged.clear();
        self.bytes += (len + count * PAGE_SIZE) as u64;
        self.pages += count as u64;
        Ok(())
    }

    /// Writes the trailer; the image is complete. Returns the image's size.
    pub(crate) fn trailer(mut self) -> Written<u64> {
        let t = CrTrailer {
            records: self.records,
            bytes: self.bytes,
            chain: self.chain.check(),
            __pad: 0,
            pages: self.pages,
        };
        self.begin(uapi::CR_REC_TRAILER)?.put(&t)?.finish()?;
        self.out.write_buf(&self.staged)?;
        Ok(self.bytes)
    }
}

/// Adds `bytes` to `staged`, writing what is staged first when they do not
/// fit, and `bytes` directly when they are more than [`STAGE`].
fn stage(out: &mut OutFile, staged: &mut KVec<u8>, bytes: &[u8]) -> Written {
    if staged.len() + bytes.len() > STAGE {
        out.write_buf(staged)?;
        staged.clear();
    }
    if bytes.len() > STAGE {
        out.write_buf(bytes)?;
    } else {
        staged.extend_from_slice(bytes, GFP_KERNEL_ACCOUNT)?;
    }
    Ok(())
}
