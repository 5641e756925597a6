// SPDX-License-Identifier: GPL-2.0

//! The special mappings, [vdso] and [vvar]: found in /proc/self/maps, and
//! moved by the restoring child to where the image has them (the kernel
//! keeps them through a restore), after checking they are the same ones and
//! that their new places hold none of crctl's own memory.

use std::io;

use crate::error::{Error, Result};
use crate::image::Image;
use crate::sys;
use crate::uapi::*;

/// One special mapping: where it is and what it is called.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Special {
    start: u64,
    end: u64,
    name: String,
}

/// The calling process's special mappings, from /proc/self/maps.
fn my_specials() -> io::Result<Vec<Special>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let name = line.split_whitespace().nth(5).unwrap_or("");
        if name == "[vdso]" || name.starts_with("[vvar") {
            let range = line.split_whitespace().next().unwrap_or("");
            let (a, b) = range.split_once('-').unwrap_or(("0", "0"));
            out.push(Special {
                start: u64::from_str_radix(a, 16).unwrap_or(0),
                end: u64::from_str_radix(b, 16).unwrap_or(0),
                name: name.to_owned(),
            });
        }
    }
    Ok(out)
}

/// All of the calling process's mappings as (start, end), from /proc/self/maps.
fn my_mappings() -> io::Result<Vec<(u64, u64)>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(maps
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|r| r.split_once('-'))
        .map(|(a, b)| {
            (
                u64::from_str_radix(a, 16).unwrap_or(0),
                u64::from_str_radix(b, 16).unwrap_or(0),
            )
        })
        .collect())
}

/// Moves [vdso] and [vvar] to where the image has them. Runs in the child
/// that becomes the restored process.
pub(super) fn move_specials(img: &Image) -> Result<()> {
    let mine = my_specials().map_err(Error::ReadMaps)?;
    let wanted: Vec<Special> = img
        .vmas
        .iter()
        .filter(|(v, _)| v.kind == CR_VMA_VDSO || v.kind == CR_VMA_VVAR)
        .map(|(v, p)| Special {
            start: v.start,
            end: v.end,
            name: p.clone(),
        })
        .collect();
    if mine.len() != wanted.len() {
        return Err(Error::SpecialCount {
            image: wanted.len(),
            here: mine.len(),
        });
    }
    for w in &wanted {
        match mine.iter().find(|m| m.name == w.name) {
            Some(m) if m.end - m.start == w.end - w.start => {}
            _ => return Err(Error::SpecialMismatch(w.name.clone())),
        }
    }
    if mine.iter().all(|m| wanted.iter().any(|w| w == m)) {
        return Ok(());
    }
    // The destinations must not cover crctl's own memory (code, stack).
    let others: Vec<(u64, u64)> = my_mappings()
        .map_err(Error::ReadMaps)?
        .into_iter()
        .filter(|&(a, b)| !mine.iter().any(|m| m.start == a && m.end == b))
        .collect();
    for w in &wanted {
        if others.iter().any(|&(a, b)| a < w.end && w.start < b) {
            return Err(Error::SpecialCollides {
                name: w.name.clone(),
                at: w.start,
            });
        }
    }
    // Two steps, so no move lands on a mapping still to be moved: first all
    // into one fresh area, then each to its place.
    let total: u64 = mine.iter().map(|m| m.end - m.start).sum();
    let park = sys::reserve(total as usize).map_err(Error::ParkSpecials)?;
    let mut at = park;
    let mut parked = Vec::new();
    for m in &mine {
        mremap(m.start, m.end - m.start, at)?;
        parked.push((at, m.clone()));
        at += m.end - m.start;
    }
    for (at, m) in parked {
        let w = wanted
            .iter()
            .find(|w| w.name == m.name)
            .expect("matched above");
        mremap(at, m.end - m.start, w.start)?;
    }
    Ok(())
}

/// Moves the special mapping at `from` (or parked there) to `to`, which
/// `move_specials` checked holds none of crctl's memory (or is its parking
/// area).
fn mremap(from: u64, len: u64, to: u64) -> Result<()> {
    // `to` is the parking reservation, or a place checked above.
    // SAFETY: `from` is a whole special mapping, which no Rust object lives
    // in; `to` holds none of crctl's own memory.
    unsafe { sys::move_special_mapping(from, len, to) }
        .map_err(|err| Error::MoveSpecial { to, err })
}
