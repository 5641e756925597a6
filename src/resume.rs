// SPDX-License-Identifier: GPL-2.0

//! System calls in progress: what a checkpoint records of the call a thread
//! was stopped in, and how the restored thread resumes it
//! (Documentation/design.rst, "System calls in progress").
//!
//! A thread stopped inside a system call holds `-ERESTART*` in ax. Calls whose
//! restart state is their arguments are issued again as they were. Calls whose
//! state the kernel kept in the thread's restart block (a relative sleep, a
//! timed futex wait or poll) cannot have that block rebuilt: it holds a kernel
//! function pointer, which a module may neither forge nor carry in an image.
//! Their time left is recorded instead, and the restore issues the call again
//! for that time, with the one argument that held the timeout changed.

use kernel::{
    bindings,
    error::code::{ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK},
    prelude::*,
    time::{BootTime, ClockSource, Monotonic, RealTime, Tai},
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    sys::task,
    uapi::{self, CrRegs, CrThread},
};

// x86_64 system call numbers (fixed by the ABI).
const NR_POLL: u64 = bindings::__NR_poll as u64;
const NR_NANOSLEEP: u64 = bindings::__NR_nanosleep as u64;
const NR_FUTEX: u64 = bindings::__NR_futex as u64;
const NR_CLOCK_NANOSLEEP: u64 = bindings::__NR_clock_nanosleep as u64;

// futex(2) operations (uapi/linux/futex.h, which the bindings lack);
// FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME are the bits FUTEX_CMD_MASK takes
// off.
const FUTEX_WAIT: u32 = 0;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_OP_FLAGS: u32 = 128 | 256;

/// Bytes below the stack pointer a leaf function may use (the x86_64 ABI's
/// red zone); the record for a resumed call goes below them.
const RED_ZONE: u64 = 128;

fn futex_cmd(r: &CrRegs) -> u32 {
    r.si as u32 & !FUTEX_OP_FLAGS
}

/// What the registers of a thread stopped at its return to user space say of
/// the system call it was in: `CR_RESTART_*` and the `-ERESTART*` value.
fn classify(r: &CrRegs) -> (u32, i32) {
    if (r.orig_ax as i64) < 0 {
        return (uapi::CR_RESTART_NONE, 0);
    }
    let ax = r.ax as i64;
    let is = |e: Error| ax == i64::from(e.to_errno());
    if is(ERESTARTSYS) || is(ERESTARTNOINTR) || is(ERESTARTNOHAND) {
        (uapi::CR_RESTART_SYSCALL, ax as i32)
    } else if is(ERESTART_RESTARTBLOCK) {
        (uapi::CR_RESTART_BLOCK, ax as i32)
    } else {
        (uapi::CR_RESTART_NONE, 0)
    }
}

/// The current time of clock `id` in nanoseconds, for the clocks with an
/// hrtimer base (not the CPU-time or alarm clocks, whose sleeps are not
/// resumed).
fn clock_now(id: i32) -> Option<i64> {
    Some(match id {
        Monotonic::ID => Monotonic::ktime_get(),
        RealTime::ID => RealTime::ktime_get(),
        BootTime::ID => BootTime::ktime_get(),
        Tai::ID => Tai::ktime_get(),
        _ => return None,
    })
}

/// For a call stopped with `-ERESTART_RESTARTBLOCK` that waits with a
/// timeout the restore can give again, the time it had left, from the
/// absolute end the calling thread's restart block holds: a relative
/// nanosleep or clock_nanosleep on a clock with an hrtimer base, FUTEX_WAIT
/// with a timeout (made an absolute CLOCK_MONOTONIC time by the kernel), poll
/// with a timeout (an end on CLOCK_MONOTONIC). 1 when the end has passed; 0
/// for anything else (FUTEX_WAIT_BITSET, whose timeout is absolute and is
/// issued again as it was; poll without a timeout; CPU-time and alarm clocks).
fn time_left(r: &CrRegs) -> u64 {
    let (end, now) = match r.orig_ax {
        NR_NANOSLEEP | NR_CLOCK_NANOSLEEP => {
            let (clock, end) = task::current_restart_sleep();
            match clock_now(clock) {
                Some(now) => (end, now),
                None => return 0,
            }
        }
        NR_FUTEX if futex_cmd(r) == FUTEX_WAIT => {
            (task::current_restart_futex(), Monotonic::ktime_get())
        }
        NR_POLL => match task::current_restart_poll() {
            Some(end) => (end, Monotonic::ktime_get()),
            None => return 0,
        },
        _ => return 0,
    };
    if end > now {
        (end - now) as u64
    } else {
        1
    }
}

/// Records in `th`, whose registers were just captured by the thread itself,
/// the system call it was in and, for one its restart block holds, the time
/// it had left. Runs in that thread, before anything can change its restart
/// block.
pub(crate) fn record(th: &mut CrThread) {
    let (restart, errno) = classify(&th.regs);
    th.restart = restart;
    th.restart_errno = errno;
    th.restart_ns = if restart == uapi::CR_RESTART_BLOCK {
        time_left(&th.regs)
    } else {
        0
    };
}

/// Whether a call stopped with `-ERESTART_RESTARTBLOCK` can just be issued
/// again: its restart block holds nothing its arguments do not. poll() with no
/// timeout and FUTEX_WAIT_BITSET (an absolute timeout, still in the caller's
/// memory) are such calls.
fn reissue_as_is(r: &CrRegs) -> bool {
    (r.orig_ax == NR_POLL && (r.dx as i32) < 0)
        || (r.orig_ax == NR_FUTEX && futex_cmd(r) == FUTEX_WAIT_BITSET)
}

/// Writes `data` to the calling thread's memory at `addr`, as the kernel
/// writes a system call's results (`EFAULT` where that could not be written).
fn write_user(addr: u64, data: &[u8]) -> Result {
    let addr = usize::try_from(addr).map_err(|_| EFAULT)?;
    UserSlice::new(UserPtr::from_addr(addr), data.len())
        .writer()
        .write_slice(data)
}

/// A `struct __kernel_timespec` of `ns`, as its bytes.
fn timespec(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / 1_000_000_000).to_ne_bytes());
    b[8..].copy_from_slice(&(ns % 1_000_000_000).to_ne_bytes());
    b
}

/// Re-issues a call stopped with `-ERESTART_RESTARTBLOCK` that had `left`
/// nanoseconds to wait (see [`time_left`]) for that time, as the kernel's own
/// restart would: the argument that held its relative timeout points at a
/// record holding the time left (nanosleep's first, clock_nanosleep's third,
/// FUTEX_WAIT's fourth), or for poll is the milliseconds left, rounded up.
/// The record goes below the red zone of the thread's stack, where a signal
/// frame would go, and is read by the call as it starts. The rewritten
/// argument register is the one thing the program could see differ (system
/// calls keep their argument registers; the C libraries' wrappers do not read
/// one back). A handled signal then interrupts the call as it would natively.
/// Returns false for other calls, or if the record cannot be written.
fn resume_left(r: &mut CrRegs, left: u64) -> bool {
    if left == 0 {
        return false;
    }
    let over = left <= 1;
    if r.orig_ax == NR_POLL {
        let ms = if over { 0 } else { left.div_ceil(1_000_000) };
        r.dx = ms.min(i32::MAX as u64);
        return true;
    }
    if !matches!(r.orig_ax, NR_NANOSLEEP | NR_CLOCK_NANOSLEEP | NR_FUTEX) || r.sp < RED_ZONE + 16 {
        return false;
    }
    let at = ((r.sp - RED_ZONE) & !15) - 16;
    // A wait whose end has passed is given a zero wait: it returns at once.
    if write_user(at, &timespec(if over { 0 } else { left })).is_err() {
        return false;
    }
    match r.orig_ax {
        NR_NANOSLEEP => r.di = at,
        NR_CLOCK_NANOSLEEP => r.dx = at,
        _ => r.r10 = at,
    }
    true
}

/// The registers thread `t` of an image resumes with, and the value ax gets
/// on the way out: as it stopped, or, for a thread stopped in a system call,
/// re-executing it (ax = orig_ax, ip back over the two-byte syscall
/// instruction), re-issuing it for the time it had left, or else returning
/// `-EINTR` as after a handled signal (a sleep's time left written to its rem
/// argument, so a caller that loops on EINTR sleeps out the rest).
pub(crate) fn resume(t: &CrThread) -> Result<(CrRegs, u64)> {
    let mut r = t.regs;
    let mut restart = t.restart;
    if restart == uapi::CR_RESTART_BLOCK && reissue_as_is(&r) {
        restart = uapi::CR_RESTART_SYSCALL;
    }
    let again = match restart {
        uapi::CR_RESTART_SYSCALL => true,
        uapi::CR_RESTART_BLOCK => resume_left(&mut r, t.restart_ns),
        _ => return Ok((r, r.ax)),
    };
    if again {
        if (r.orig_ax as i64) < 0 || r.ip < 2 {
            return Err(EINVAL);
        }
        r.ip -= 2;
        return Ok((r, r.orig_ax));
    }
    let mut ax = i64::from(EINTR.to_errno()) as u64;
    let rem = match r.orig_ax {
        NR_NANOSLEEP => r.si,
        NR_CLOCK_NANOSLEEP => r.r10,
        _ => 0,
    };
    if t.restart_ns != 0 && rem != 0 && write_user(rem, &timespec(t.restart_ns)).is_err() {
        ax = i64::from(EFAULT.to_errno()) as u64;
    }
    Ok((r, ax))
}
