// SPDX-License-Identifier: GPL-2.0

//! The module's own bindings: kernel structs, functions and constants that
//! the kernel crate's bindings leave opaque or out (`sys/bindings_helper.h`),
//! generated at build time by `src/Kbuild` with the kernel build's bindgen
//! and clang flags. Every type they name is `kernel::bindings`' own, so a
//! pointer from there casts to the full struct here.
//!
//! Like `kernel::bindings`, these are raw: only the wrappers of the sys layer
//! use them.

// As the kernel crate allows them in its own generated bindings (`#[allow]`:
// which of them apply changes with the configuration).
#![allow(
    clippy::all,
    clippy::as_underscore,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn
)]

include!(env!("CR_BINDINGS_GENERATED"));
