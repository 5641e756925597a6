// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the crd protocol's decoder (crcluster/src/proto.rs): any frame must
//! be refused or decode to a message that encodes back to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    crcluster::proto::fuzz_message(data);
});
