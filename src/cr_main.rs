// SPDX-License-Identifier: GPL-2.0

//! cr: checkpoint, restore and process classes for Linux.
//!
//! The module registers /dev/cr, a misc device whose ioctls are the whole
//! interface (include/uapi/linux/cr.h). Documentation/ describes the design.

use kernel::{
    debugfs,
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
    sync::atomic::{AtomicFlag, Relaxed},
    uaccess::UserSliceReader,
};

mod ahead;
mod checkpoint;
mod class;
mod deputy;
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
}

/// Benchmarks only (`make bench`): while set, local checkpoints call the
/// local class directly instead of through the process-class layer. Written
/// through debugfs (`cr/bench_direct_calls`: `1` or `0`), so a bench can
/// alternate both ways within one module load.
pub(crate) static BENCH_DIRECT_CALLS: AtomicFlag = AtomicFlag::new(false);

/// Writes of `cr/bench_direct_calls` in debugfs.
fn set_bench_direct_calls(_: &(), input: &mut UserSliceReader) -> Result {
    let mut c = [0u8; 1];
    input.read_slice(&mut c)?;
    let on = match c[0] {
        b'1' => true,
        b'0' => false,
        _ => return Err(EINVAL),
    };
    BENCH_DIRECT_CALLS.store(on, Relaxed);
    Ok(())
}

/// Reads of `cr/layer_cost` in debugfs (benchmarks only): runs
/// [`class::layer_cost`] for the reader's own process and prints
/// `OPERATIONS LAYER_NS DIRECT_NS` (each way's total).
fn show_layer_cost(_: &(), f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
    let (ops, layer_ns, direct_ns) = class::layer_cost(40);
    writeln!(f, "{ops} {layer_ns} {direct_ns}")
}

/// The loaded module: owns the /dev/cr registration (and the benchmark
/// files in debugfs) for as long as it is loaded.
#[pin_data(PinnedDrop)]
struct CrModule {
    #[pin]
    _dev: MiscDeviceRegistration<device::CrDevice>,
    #[pin]
    _bench_knob: debugfs::File<()>,
    #[pin]
    _layer_cost: debugfs::File<()>,
    _debugfs: debugfs::Dir,
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
        class::remote::init();
        pr_info!("ABI {} loaded\n", uapi::CR_ABI_VERSION);
        let dir = debugfs::Dir::new(c"cr");
        try_pin_init!(Self {
            _dev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"cr" }),
            _bench_knob <- dir.write_callback_file(
                c"bench_direct_calls",
                (),
                &set_bench_direct_calls,
            ),
            _layer_cost <- dir.read_callback_file(c"layer_cost", (), &show_layer_cost),
            _debugfs: dir,
        })
    }
}
