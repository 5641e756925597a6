// SPDX-License-Identifier: GPL-2.0

//! crctl's library: the /dev/cr ABI mirror and a safe handle on the device.

pub mod dev;
pub mod image;
pub mod inspect;

/// The ABI, from the same file the kernel module compiles (`src/uapi.rs`).
#[path = "../../src/uapi.rs"]
pub mod uapi;
