// SPDX-License-Identifier: GPL-2.0

//! The image: its format's rules (`format.rs`, one file compiled into both
//! the module and crctl, and fuzzed in user space) and the writer a
//! checkpoint streams records through (`writer.rs`). The restore reads
//! images with the same rules (`restore/plan.rs`).

// The format's rules, shared with crctl; the module uses a subset.
#[allow(dead_code, unreachable_pub)]
pub(crate) mod format;
mod writer;

pub(crate) use writer::{ImageWriter, WriteError};
