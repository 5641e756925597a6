// SPDX-License-Identifier: GPL-2.0

//! crctl's library: the /dev/cr ABI mirror and a safe handle on the device.

pub mod cluster;
pub mod cpid;
pub mod dev;
pub mod error;

/// The image format's rules, from the same file the kernel module compiles
/// (`src/image/format.rs`).
#[path = "../../src/image/format.rs"]
pub mod format;
// For the fuzz targets and the tests only (crctl/fuzz and this package's
// dev-dependency on itself turn the feature on); not the library's API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod image;
pub mod inspect;
pub mod output;
pub mod portable;
pub mod restore;
/// What no restore brings back, from the same file the kernel module compiles
/// (`src/rules.rs`).
#[path = "../../src/rules.rs"]
pub mod rules;
pub mod serve;
mod sys;

/// The ABI, from the same file the kernel module compiles (`src/uapi.rs`).
#[path = "../../src/uapi.rs"]
pub mod uapi;

pub use error::{Error, Result};
