// SPDX-License-Identifier: GPL-2.0

//! crctl's library: the /dev/cr ABI mirror and a safe handle on the device.

pub mod dev;

/// The image format's rules, from the same file the kernel module compiles
/// (`src/format.rs`).
#[path = "../../src/format.rs"]
pub mod format;
pub mod fuzz;
pub mod image;
pub mod inspect;
pub mod output;
pub mod restore;

/// The ABI, from the same file the kernel module compiles (`src/uapi.rs`).
#[path = "../../src/uapi.rs"]
pub mod uapi;
