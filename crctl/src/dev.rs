// SPDX-License-Identifier: GPL-2.0

//! A handle on /dev/cr: opening it and issuing its ioctls.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::uapi::{self, CrInfo};

/// The default device node.
pub const DEFAULT_PATH: &str = "/dev/cr";

/// An error talking to /dev/cr, worded for the person at the terminal.
#[derive(Debug)]
pub enum DevError {
    /// The device node could not be opened.
    Open(PathBuf, io::Error),
    /// An ioctl failed.
    Ioctl(&'static str, io::Error),
    /// The module speaks another ABI version than this crctl.
    Abi { module: u32 },
}

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevError::Open(path, e) => {
                let hint = match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENXIO) | Some(libc::ENODEV) => {
                        "is the cr module loaded? (insmod cr.ko)"
                    }
                    Some(libc::EACCES) | Some(libc::EPERM) => {
                        "run as root, or give your user access to the device node"
                    }
                    _ => "check the device node",
                };
                write!(f, "cannot open {}: {e}; {hint}", path.display())
            }
            DevError::Ioctl(name, e) => {
                let hint = match e.raw_os_error() {
                    Some(libc::ENOTTY) => "; the module does not know this request (module and crctl from different builds?)",
                    _ => "",
                };
                write!(f, "{name} failed: {e}{hint}")
            }
            DevError::Abi { module } => write!(
                f,
                "the module speaks ABI {module}, this crctl speaks ABI {}; use the crctl built with the module",
                uapi::CR_ABI_VERSION
            ),
        }
    }
}

impl std::error::Error for DevError {}

/// An open /dev/cr.
pub struct Device {
    file: File,
}

impl Device {
    /// Opens the device node at `path`.
    pub fn open(path: &Path) -> Result<Device, DevError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| DevError::Open(path.to_owned(), e))?;
        Ok(Device { file })
    }

    /// `CR_IOC_INFO`: what the module is and can do.
    pub fn info(&self) -> Result<CrInfo, DevError> {
        let mut info = CrInfo::default();
        // SAFETY: CR_IOC_INFO writes at most `size_of::<CrInfo>()` bytes (the size
        // encoded in the command) into `info`, which lives across the call.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                uapi::CR_IOC_INFO as libc::c_ulong,
                &mut info as *mut CrInfo,
            )
        };
        if rc < 0 {
            return Err(DevError::Ioctl("CR_IOC_INFO", io::Error::last_os_error()));
        }
        Ok(info)
    }

    /// `info`, refusing a module of another ABI version.
    pub fn checked_info(&self) -> Result<CrInfo, DevError> {
        let info = self.info()?;
        if info.abi_version != uapi::CR_ABI_VERSION {
            return Err(DevError::Abi {
                module: info.abi_version,
            });
        }
        Ok(info)
    }
}

/// The name of a `CR_ARCH_*` value.
pub fn arch_name(arch: u32) -> &'static str {
    match arch {
        uapi::CR_ARCH_X86_64 => "x86_64",
        _ => "unknown",
    }
}

/// The names of the `CR_FEATURE_*` bits in `features`, with unknown bits in hex.
pub fn feature_names(features: u64) -> Vec<String> {
    let known: [(u64, &str); 0] = [];
    let mut names: Vec<String> = known
        .iter()
        .filter(|(bit, _)| features & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let unknown = features & !uapi::CR_FEATURES_ALL;
    if unknown != 0 {
        names.push(format!("unknown({unknown:#x})"));
    }
    names
}
