// SPDX-License-Identifier: GPL-2.0

//! The image writer: the stream of records of include/uapi/linux/cr.h,
//! written in order with no seeks, each record checksummed, and a trailer
//! that counts and chains them (Documentation/image-format.rst).
//!
//! The checksum is XXH64: it runs at memory speed in software, where crc32c
//! without its instruction (or under emulation) costs more than the copy.

use kernel::{page::PAGE_SIZE, prelude::*};

use crate::{
    sys::{
        self,
        file::{OutFile, Part},
        mm::PageBatch,
    },
    uapi::{self, CrPages, CrRecord, CrTrailer, Pod},
};

const HDR: usize = core::mem::size_of::<CrRecord>();

/// Writes one image to an [`OutFile`].
pub(crate) struct ImageWriter<'a> {
    out: &'a mut OutFile,
    /// The record being built: its header, then its payload. kmalloc memory,
    /// so it can be written straight from here.
    buf: KVec<u8>,
    /// Hash over the checks of the records written so far.
    chain: sys::Hash,
    records: u64,
    bytes: u64,
    pages: u64,
}

impl<'a> ImageWriter<'a> {
    /// Starts an image: writes the magic.
    pub(crate) fn new(out: &'a mut OutFile) -> Result<Self> {
        let mut w = ImageWriter {
            out,
            buf: KVec::with_capacity(64 * 1024, GFP_KERNEL)?,
            chain: sys::Hash::new(),
            records: 0,
            bytes: 0,
            pages: 0,
        };
        w.buf.extend_from_slice(&uapi::CR_IMAGE_MAGIC.to_le_bytes(), GFP_KERNEL)?;
        w.bytes += w.out.write(&[Part::Bytes(&w.buf, 0..8)])? as u64;
        Ok(w)
    }

    /// Memory pages written so far.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Starts a record of type `ty`; add its payload, then [`Self::finish`].
    pub(crate) fn begin(&mut self, ty: u32) -> Result<&mut Self> {
        self.buf.clear();
        let hdr = CrRecord { r#type: ty, check: 0, size: 0 };
        self.buf.extend_from_slice(uapi::as_bytes(&hdr), GFP_KERNEL)?;
        Ok(self)
    }

    /// Appends a struct to the record's payload.
    pub(crate) fn put<T: Pod>(&mut self, v: &T) -> Result<&mut Self> {
        self.put_bytes(uapi::as_bytes(v))
    }

    /// Appends bytes to the record's payload.
    pub(crate) fn put_bytes(&mut self, b: &[u8]) -> Result<&mut Self> {
        if (self.buf.len() - HDR + b.len()) as u64 > uapi::CR_IMAGE_MAX_RECORD {
            return Err(E2BIG);
        }
        self.buf.extend_from_slice(b, GFP_KERNEL)?;
        Ok(self)
    }

    /// Fills in the record's size and check and writes it.
    pub(crate) fn finish(&mut self) -> Result {
        let size = (self.buf.len() - HDR) as u64;
        self.buf[8..16].copy_from_slice(&size.to_le_bytes());
        let mut h = sys::Hash::new();
        h.update(&self.buf);
        let check = h.check();
        self.seal(check);
        let len = self.buf.len();
        self.bytes += self.out.write(&[Part::Bytes(&self.buf, 0..len)])? as u64;
        Ok(())
    }

    /// Stores `check` in the header being built and chains it.
    fn seal(&mut self, check: u32) {
        self.buf[4..8].copy_from_slice(&check.to_le_bytes());
        self.chain.update(&check.to_le_bytes());
        self.records += 1;
    }

    /// Writes pages `range` of `batch` as one PAGES record for the run that
    /// starts at `addr`: header from `buf`, data straight from the pages.
    pub(crate) fn pages_record(
        &mut self,
        addr: usize,
        batch: &PageBatch,
        range: core::ops::Range<usize>,
    ) -> Result {
        let count = range.len();
        if count == 0 {
            return Ok(());
        }
        self.begin(uapi::CR_REC_PAGES)?;
        self.put(&CrPages { addr: addr as u64, count: count as u64 })?;
        let size = (core::mem::size_of::<CrPages>() + count * PAGE_SIZE) as u64;
        self.buf[8..16].copy_from_slice(&size.to_le_bytes());
        let mut h = sys::Hash::new();
        h.update(&self.buf);
        for i in range.clone() {
            h.update_page(batch, i);
        }
        let check = h.check();
        self.seal(check);
        let len = self.buf.len();
        self.bytes += self.out.write(&[Part::Bytes(&self.buf, 0..len), Part::Pages(batch, range)])? as u64;
        self.pages += count as u64;
        Ok(())
    }

    /// Writes the trailer; the image is complete. Returns the image's size.
    pub(crate) fn trailer(mut self) -> Result<u64> {
        let t = CrTrailer {
            records: self.records,
            bytes: self.bytes,
            chain: self.chain.check(),
            __pad: 0,
            pages: self.pages,
        };
        self.begin(uapi::CR_REC_TRAILER)?.put(&t)?.finish()?;
        Ok(self.bytes)
    }
}
