// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the image reader and the format's rules (src/image/format.rs, shared
//! with the kernel): any input must be refused with an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    crctl::fuzz::fuzz_image(data);
});
