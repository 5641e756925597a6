// SPDX-License-Identifier: GPL-2.0

//! The format's rules that keep a hostile image from reaching the kernel's
//! weak spots (Documentation/security.rst): each test edits a real image the
//! way an attacker would, re-seals it, and checks that the shared rules
//! (src/image/format.rs: the kernel's restore and crctl read the same code) refuse
//! it with their own words.

use std::path::PathBuf;

use crctl::format::{Checker, MAX_METADATA, USER_END};
use crctl::uapi::*;

fn seed(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/image")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (type, offset of the record header) of every record.
fn records(img: &[u8]) -> Vec<(u32, usize)> {
    let mut v = Vec::new();
    let mut pos = 8;
    while pos + 16 <= img.len() {
        let r: CrRecord = from_bytes(&img[pos..]).unwrap();
        v.push((r.r#type, pos));
        pos += 16 + r.size as usize;
    }
    v
}

/// The offset of the payload of the `n`th record of type `ty`.
fn payload(img: &[u8], ty: u32, n: usize) -> usize {
    records(img)
        .into_iter()
        .filter(|r| r.0 == ty)
        .nth(n)
        .unwrap_or_else(|| panic!("no record {n} of type {ty}"))
        .1
        + 16
}

fn put_u64(img: &mut [u8], at: usize, v: u64) {
    img[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(img: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(img[at..at + 8].try_into().unwrap())
}

/// Reads `img` after re-sealing it; the error's text if refused.
fn verdict(img: &[u8]) -> Result<(), String> {
    let fixed = crctl::fuzz::repair(img);
    crctl::image::read(&fixed[..], |_, _| Ok(()))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn refused(img: &[u8], words: &str) {
    match verdict(img) {
        Ok(()) => panic!("accepted an image that should be refused for: {words}"),
        Err(e) => assert!(e.contains(words), "refused, but for another reason: {e}"),
    }
}

const KERNEL_ADDR: u64 = 0xffff_8880_0000_0000;

#[test]
fn seeds_are_accepted_as_sealed() {
    verdict(&seed("seed-idle")).unwrap();
    verdict(&seed("seed-threads8")).unwrap();
}

#[test]
fn auxv_must_end_with_its_only_at_null() {
    let img = seed("seed-idle-nopages");
    let mm = payload(&img, CR_REC_MM, 0);
    let m: CrMm = from_bytes(&img[mm..]).unwrap();
    let auxv = mm + std::mem::size_of::<CrMm>();
    let words = m.auxv_words as usize;
    assert_eq!(
        get_u64(&img, auxv + (words - 2) * 8),
        0,
        "the seed's auxv ends with AT_NULL"
    );

    // No AT_NULL: /proc/PID/auxv would read past the kernel's array.
    let mut bad = img.clone();
    put_u64(&mut bad, auxv + (words - 2) * 8, 6);
    refused(
        &bad,
        "an auxv that does not end with its only AT_NULL entry",
    );

    // An AT_NULL before the end.
    let mut bad = img.clone();
    put_u64(&mut bad, auxv, 0);
    refused(
        &bad,
        "an auxv that does not end with its only AT_NULL entry",
    );
}

/// The offset of a field of the first THREAD record.
fn thread_field(img: &[u8], field: usize) -> usize {
    payload(img, CR_REC_THREAD, 0) + field
}

#[test]
fn thread_pointers_must_be_user_addresses() {
    let img = seed("seed-idle-nopages");
    let t = CrThread::default();
    let base = &t as *const CrThread as usize;
    let off = |f: *const u64| f as usize - base;
    let cases = [
        (off(&t.sas_sp), "a thread's signal stack outside user space"),
        (
            off(&t.clear_child_tid),
            "a thread's clear_child_tid or robust list outside user space",
        ),
        (
            off(&t.robust_list),
            "a thread's clear_child_tid or robust list outside user space",
        ),
        (
            off(&t.regs.fs_base),
            "a thread's ip, sp, fs or gs base outside user space",
        ),
    ];
    for (field, words) in cases {
        let mut bad = img.clone();
        put_u64(&mut bad, thread_field(&img, field), KERNEL_ADDR);
        refused(&bad, words);
    }
    // A signal stack whose end wraps past the top of user space.
    let mut bad = img.clone();
    put_u64(
        &mut bad,
        thread_field(&img, off(&t.sas_sp)),
        USER_END - 4096,
    );
    put_u64(&mut bad, thread_field(&img, off(&t.sas_size)), 8192);
    refused(&bad, "a thread's signal stack outside user space");
}

#[test]
fn addresses_of_five_level_paging_are_allowed() {
    // The format takes what 5-level paging maps; the restoring machine
    // checks the image against its own limit before it changes anything.
    let img = seed("seed-idle-nopages");
    let vmas: Vec<usize> = records(&img)
        .into_iter()
        .filter(|r| r.0 == CR_REC_VMA)
        .map(|r| r.1 + 16)
        .collect();
    let last = *vmas.iter().max_by_key(|&&at| get_u64(&img, at)).unwrap();
    let v: CrVma = from_bytes(&img[last..]).unwrap();
    if v.kind != CR_VMA_ANON {
        eprintln!("the seed's highest area is not anonymous memory; skipped");
        return;
    }
    let high = 1u64 << 50;
    let mut moved = img.clone();
    put_u64(&mut moved, last, high);
    put_u64(&mut moved, last + 8, high + (v.end - v.start));
    verdict(&moved).expect("an area at 2^50 is inside the format's user space");
    put_u64(&mut moved, last, USER_END);
    put_u64(&mut moved, last + 8, USER_END + 4096);
    refused(&moved, "a memory area with a bad range");
}

#[test]
fn metadata_larger_than_a_restore_takes_is_refused() {
    let mut ck = Checker::new();
    ck.magic(CR_IMAGE_MAGIC).unwrap();
    let rec = CrRecord {
        r#type: CR_REC_HEADER,
        check: 0,
        size: 60 << 20,
    };
    // 60 MiB of record starting 10 MiB in ends past MAX_METADATA.
    let e = ck.record(&rec, 10 << 20).unwrap_err();
    assert!(e.what.contains("exceed the 64 MiB"), "{e:?}");
    assert_eq!(MAX_METADATA, 64 << 20);
    let mut ck = Checker::new();
    ck.magic(CR_IMAGE_MAGIC).unwrap();
    ck.record(&rec, 8).expect("60 MiB from the start fits");
}

/// `img` with its header's version `version` and a CLOCKS record of
/// `clocks` (monotonic, boottime, realtime) after its ITIMERS record.
fn with_clocks(img: &[u8], version: u32, clocks: [i64; 3]) -> Vec<u8> {
    let at = payload(img, CR_REC_ITIMERS, 0) + std::mem::size_of::<CrItimers>();
    let mut v = img[..at].to_vec();
    v.extend(CR_REC_CLOCKS.to_le_bytes());
    v.extend(0u32.to_le_bytes());
    v.extend((std::mem::size_of::<CrClocks>() as u64).to_le_bytes());
    for c in clocks {
        v.extend(c.to_le_bytes());
    }
    v.extend(&img[at..]);
    let h = payload(&v, CR_REC_HEADER, 0);
    v[h..h + 4].copy_from_slice(&version.to_le_bytes());
    v
}

#[test]
fn clocks_are_read_in_version_3_within_range() {
    let img = seed("seed-idle");
    verdict(&with_clocks(&img, 3, [5, 6, 7])).unwrap();
    // Version 2 images (the seeds) are read, without CLOCKS.
    verdict(&img).unwrap();
    refused(
        &with_clocks(&img, 2, [5, 6, 7]),
        "a record of a type that does not belong here",
    );
    for bad in [[-1, 6, 7], [5, 1 << 62, 7], [5, 6, -7]] {
        refused(
            &with_clocks(&img, 3, bad),
            "a CLOCKS record of the wrong size or with a time out of range",
        );
    }
    // At most one, before the first FD.
    let twice = with_clocks(&with_clocks(&img, 3, [5, 6, 7]), 3, [5, 6, 7]);
    refused(&twice, "a record of a type that does not belong here");
}
