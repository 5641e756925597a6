// SPDX-License-Identifier: GPL-2.0

//! Fuzzing support for the image reader (crctl/fuzz, and the corpus replay
//! test): the reader and the format's rules must refuse any input with an
//! error, never panic, loop or allocate without bound.

use xxhash_rust::xxh64::Xxh64;

use crate::image;
use crate::uapi::*;

/// Makes the check values of `data` right: each record's check, and the
/// trailer's record count, byte count, page count and chain. Random mutations
/// then reach the format's field rules instead of stopping at the first
/// damaged check. Record sizes are clamped to what is there.
pub fn repair(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if out.len() < 8 {
        return out;
    }
    out[..8].copy_from_slice(&CR_IMAGE_MAGIC.to_le_bytes());
    let mut pos = 8usize;
    let mut chain = Xxh64::new(0);
    let (mut records, mut pages) = (0u64, 0u64);
    while pos + 16 <= out.len() {
        let mut rec: CrRecord = from_bytes(&out[pos..]).expect("16 bytes");
        let room = (out.len() - pos - 16) as u64;
        if rec.size > room {
            rec.size = room;
        }
        let body = pos + 16..pos + 16 + rec.size as usize;
        if rec.r#type == CR_REC_TRAILER && rec.size as usize >= std::mem::size_of::<CrTrailer>() {
            let mut t: CrTrailer = from_bytes(&out[body.clone()]).expect("checked size");
            t.records = records;
            t.bytes = pos as u64;
            t.pages = pages;
            t.chain = chain.digest() as u32;
            out[body.start..body.start + std::mem::size_of::<CrTrailer>()]
                .copy_from_slice(as_bytes(&t));
        }
        if rec.r#type == CR_REC_PAGES && rec.size >= 16 {
            let run: CrPages = from_bytes(&out[body.clone()]).expect("checked size");
            pages = pages.wrapping_add(run.count);
        }
        rec.check = 0;
        let mut h = Xxh64::new(0);
        h.update(as_bytes(&rec));
        h.update(&out[body.clone()]);
        rec.check = h.digest() as u32;
        out[pos..pos + 16].copy_from_slice(as_bytes(&rec));
        if rec.r#type != CR_REC_TRAILER {
            chain.update(&rec.check.to_le_bytes());
            records += 1;
        }
        pos = body.end;
    }
    out
}

/// One fuzz input: read it as it is, and repaired.
pub fn fuzz_image(data: &[u8]) {
    let _ = image::read(data, |_, _| Ok(()));
    let fixed = repair(data);
    if let Ok(img) = image::read(&fixed[..], |_, _| Ok(())) {
        // A valid image must also present without trouble.
        let _ = crate::inspect::text(&img);
        let _ = crate::inspect::to_json(&img);
        let _ = crate::inspect::maps(&img);
        let _ = crate::inspect::status(&img);
    }
}
