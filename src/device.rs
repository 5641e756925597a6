// SPDX-License-Identifier: GPL-2.0

//! /dev/cr: the misc device and its ioctl dispatch.

use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    page::PAGE_SIZE,
    prelude::*,
    transmute::AsBytes,
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceWriter, //
    },
};

use crate::uapi::{
    self,
    CrInfo, //
};

// SAFETY: `CrInfo` is `#[repr(C)]`, made only of integers, and has no implicit
// padding (its layout is asserted in `uapi`), so every byte is initialized.
unsafe impl AsBytes for CrInfo {}

/// Every command /dev/cr knows.
#[derive(Clone, Copy)]
enum Command {
    Info,
}

impl Command {
    const ALL: [(u32, Command); 1] = [(uapi::CR_IOC_INFO, Command::Info)];

    /// Decodes an ioctl number.
    ///
    /// A command of ours whose size field differs from the ABI's is an argument
    /// of the wrong size (`EINVAL`); anything else unknown is `ENOTTY`.
    fn decode(cmd: u32) -> Result<Command> {
        for (number, command) in Self::ALL {
            if cmd == number {
                return Ok(command);
            }
            if uapi::ioc_sizeless(cmd) == uapi::ioc_sizeless(number) {
                return Err(EINVAL);
            }
        }
        Err(ENOTTY)
    }
}

/// One open file of /dev/cr.
///
/// Holds no state yet: every ioctl is self-contained. Later per-open state (a
/// restore in progress, say) lives here and is freed when the file is released.
pub(crate) struct CrDevice;

#[vtable]
impl MiscDevice for CrDevice {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        Ok(KBox::pin(CrDevice, GFP_KERNEL)?)
    }

    fn ioctl(me: Pin<&CrDevice>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let command = Command::decode(cmd)?;
        let user = UserSlice::new(UserPtr::from_addr(arg), uapi::ioc_size(cmd));
        match command {
            Command::Info => me.info(user.writer()),
        }
    }
}

impl CrDevice {
    /// `CR_IOC_INFO`: what this module is and can do.
    fn info(&self, mut out: UserSliceWriter) -> Result<isize> {
        let info = CrInfo {
            abi_version: uapi::CR_ABI_VERSION,
            arch: uapi::CR_ARCH_X86_64,
            features: uapi::CR_FEATURES_ALL,
            page_size: PAGE_SIZE as u32,
            ..CrInfo::default()
        };
        out.write(&info)?;
        Ok(0)
    }
}
