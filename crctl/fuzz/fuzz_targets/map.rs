// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the cluster map parser (crcluster/src/map.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    crcluster::map::fuzz_map(data);
});
