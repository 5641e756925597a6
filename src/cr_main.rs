// SPDX-License-Identifier: GPL-2.0

//! cr: checkpoint, restore and process classes for Linux.
//!
//! The module registers /dev/cr, a misc device whose ioctls are the whole
//! interface (include/uapi/linux/cr.h). Documentation/ describes the design.

use kernel::{
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

mod checkpoint;
mod class;
mod device;
mod error;
mod freeze;
mod image;
mod restore;
mod resume;
// What no restore brings back, shared with crctl.
#[allow(dead_code, unreachable_pub)]
mod rules;
mod sys;
// The ABI mirror is shared with crctl, where its items are public API and all
// of them are used; the module uses a subset.
#[allow(dead_code, unreachable_pub)]
mod uapi;

module! {
    type: CrModule,
    name: "cr",
    authors: ["The cr developers"],
    description: "Checkpoint, restore and process classes",
    license: "GPL",
    params: {
        bench_direct_calls: bool {
            default: false,
            description: "Benchmarks only: local checkpoints call the local class directly \
                          instead of through the process-class layer (make bench compares)",
        },
    },
}

/// The loaded module: owns the /dev/cr registration for as long as it is loaded.
#[pin_data(PinnedDrop)]
struct CrModule {
    #[pin]
    _dev: MiscDeviceRegistration<device::CrDevice>,
}

#[pinned_drop]
impl PinnedDrop for CrModule {
    fn drop(self: Pin<&mut Self>) {
        sys::unload();
    }
}

impl kernel::InPlaceModule for CrModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        sys::init();
        restore::thread_meeting::init();
        pr_info!("ABI {} loaded\n", uapi::CR_ABI_VERSION);
        try_pin_init!(Self {
            _dev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"cr" }),
        })
    }
}
