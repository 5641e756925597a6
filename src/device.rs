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
    transmute::{AsBytes, FromBytes},
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceReader,
        UserSliceWriter, //
    },
};

use crate::{
    class::{
        self,
        remote::{Answer, Channel},
        CheckpointRequest, ProcessClass, RestoreRequest,
    },
    error::{Failure, Reason},
    sys::{self, file::FdSlot},
    uapi::{
        self,
        CrCheckpointArgs,
        CrInfo,
        CrRestoreArgs,
        CrRestoreThreadArgs,
        CrServeArgs, //
    },
};

// SAFETY: `CrInfo` is `uapi::Pod`: `#[repr(C)]`, integers only, no implicit
// padding (asserted in `uapi`), so every byte is initialized.
unsafe impl AsBytes for CrInfo {}
// SAFETY: As above for `CrCheckpointArgs`.
unsafe impl AsBytes for CrCheckpointArgs {}
// SAFETY: `CrCheckpointArgs` is `uapi::Pod`: any bytes are a valid value.
unsafe impl FromBytes for CrCheckpointArgs {}
// SAFETY: As for `CrCheckpointArgs`.
unsafe impl AsBytes for CrRestoreArgs {}
// SAFETY: As for `CrCheckpointArgs`.
unsafe impl FromBytes for CrRestoreArgs {}
// SAFETY: As for `CrCheckpointArgs`.
unsafe impl AsBytes for CrRestoreThreadArgs {}
// SAFETY: As for `CrCheckpointArgs`.
unsafe impl FromBytes for CrRestoreThreadArgs {}
// SAFETY: As for `CrCheckpointArgs`.
unsafe impl AsBytes for CrServeArgs {}
// SAFETY: As for `CrCheckpointArgs`.
unsafe impl FromBytes for CrServeArgs {}

/// Every command /dev/cr knows.
#[derive(Clone, Copy)]
enum Command {
    Info,
    Checkpoint,
    Restore,
    RestoreThread,
    Serve,
}

impl Command {
    const ALL: [(u32, Command); 5] = [
        (uapi::CR_IOC_INFO, Command::Info),
        (uapi::CR_IOC_CHECKPOINT, Command::Checkpoint),
        (uapi::CR_IOC_RESTORE, Command::Restore),
        (uapi::CR_IOC_RESTORE_THREAD, Command::RestoreThread),
        (uapi::CR_IOC_SERVE, Command::Serve),
    ];

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
/// Holds no state: every ioctl is self-contained. The one open file that
/// serves the remote class is known by its `struct file` (the channel's
/// owner), and its release ends the channel.
pub(crate) struct CrDevice;

#[vtable]
impl MiscDevice for CrDevice {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        Ok(KBox::pin(CrDevice, GFP_KERNEL_ACCOUNT)?)
    }

    fn release(_device: Pin<KBox<Self>>, file: &File) {
        Channel::close(file.as_ptr() as usize);
    }

    fn ioctl(me: Pin<&CrDevice>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let command = Command::decode(cmd)?;
        let user = UserSlice::new(UserPtr::from_addr(arg), uapi::ioc_size(cmd));
        match command {
            Command::Info => me.info(user.writer()),
            Command::Checkpoint => {
                let (reader, writer) = user.reader_writer();
                me.checkpoint(file, reader, writer)
            }
            Command::Restore => {
                let (reader, writer) = user.reader_writer();
                me.restore(file, reader, writer)
            }
            Command::RestoreThread => {
                let (reader, writer) = user.reader_writer();
                me.restore_thread(reader, writer)
            }
            Command::Serve => {
                let (reader, writer) = user.reader_writer();
                me.serve(file, reader, writer)
            }
        }
    }
}

impl CrDevice {
    /// `CR_IOC_INFO`: what this module is and can do.
    #[inline(never)]
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

    /// `CR_IOC_CHECKPOINT`: stream a process's image to an fd.
    ///
    /// The argument is written back on success (the statistics) and on a
    /// failure that got as far as choosing a reason (`fail_reason`,
    /// `fail_addr`), so user space can say exactly what went wrong.
    #[inline(never)]
    fn checkpoint(
        &self,
        file: &File,
        mut input: UserSliceReader,
        mut out: UserSliceWriter,
    ) -> Result<isize> {
        let mut args: CrCheckpointArgs = input.read()?;
        let started = sys::now_ns();
        let result = Self::validate(&args, file).and_then(|req| {
            if crate::BENCH_DIRECT_CALLS.load(kernel::sync::atomic::Relaxed) {
                // `make bench` measures the layer against this direct call.
                return class::resolve_local(args.target)?.checkpoint(&req);
            }
            let target = class::resolve(args.target)?;
            target.checkpoint(&req)
        });
        match result {
            Ok(report) => {
                args.bytes = report.bytes;
                args.pages = report.pages;
                args.frozen_ns = report.frozen_ns;
                args.threads = report.threads;
                args.vmas = report.vmas;
                args.fail_reason = Reason::None.code();
                args.fail_addr = 0;
                args.total_ns = sys::now_ns() - started;
                out.write(&args)?;
                Ok(0)
            }
            Err(failure) => {
                args.fail_reason = failure.reason.code();
                args.fail_addr = failure.addr;
                // The errno matters more than the detail: ignore a fault here.
                let _ = Self::message(&args, failure.msg.as_bytes());
                let _ = out.write(&args);
                Err(failure.err)
            }
        }
    }

    /// Writes `msg`, NUL-terminated and cut to fit, to the caller's message
    /// buffer, if it gave one.
    fn message(args: &CrCheckpointArgs, msg: &[u8]) -> Result {
        if args.msg == 0 || args.msg_len == 0 || msg.is_empty() {
            return Ok(());
        }
        let room = args.msg_len as usize;
        let n = msg.len().min(room - 1);
        let mut w = UserSlice::new(UserPtr::from_addr(args.msg as usize), room).writer();
        w.write_slice(&msg[..n])?;
        w.write_slice(&[0u8])
    }

    /// `CR_IOC_RESTORE`: the caller becomes the image's process. On success
    /// this returns into the restored program (the value is its ax).
    #[inline(never)]
    fn restore(
        &self,
        file: &File,
        mut input: UserSliceReader,
        mut out: UserSliceWriter,
    ) -> Result<isize> {
        let mut args: CrRestoreArgs = input.read()?;
        let hold = args.flags & uapi::CR_RESTORE_HOLD != 0;
        let bad = args.flags & !uapi::CR_RESTORE_FLAGS_ALL != 0
            || (hold && args.hold_fd < 0)
            || (!hold && args.hold_fd != 0)
            || args.__reserved.iter().any(|&r| r != 0)
            || args.in_fd < 0
            || args.status_fd < -1
            || args.dev_fd < -1;
        if bad {
            args.fail_reason = Reason::Args.code();
            let _ = out.write(&args);
            return Err(EINVAL);
        }
        let target = class::caller().and_then(|target| {
            target.restore_into(RestoreRequest::Leader {
                args: &args,
                dev: file,
            })
        });
        match target {
            Ok(ax) => Ok(ax),
            Err(failure) => {
                args.fail_reason = failure.reason.code();
                args.fail_offset = failure.addr;
                // Past the point of no return this memory is gone: no matter.
                let _ = out.write(&args);
                Err(failure.err)
            }
        }
    }

    /// `CR_IOC_SERVE`: the cluster daemon answers a remote-class request
    /// and takes the next (include/uapi/linux/cr.h, src/class/remote.rs).
    #[inline(never)]
    fn serve(
        &self,
        file: &File,
        mut input: UserSliceReader,
        mut out: UserSliceWriter,
    ) -> Result<isize> {
        let mut args: CrServeArgs = input.read()?;
        if !sys::caller::is_host_admin() {
            return Err(EPERM);
        }
        let bad = args.flags & !uapi::CR_SERVE_ANSWER_ONLY != 0
            || args.__pad != 0
            || args.__reserved.iter().any(|&r| r != 0)
            || (args.msg == 0) != (args.msg_len == 0)
            || args.msg_len > uapi::CR_MSG_MAX
            || !(-4095..=0).contains(&args.error)
            || (args.done == 0 && (args.error != 0 || args.msg != 0));
        if bad {
            return Err(EINVAL);
        }
        let channel = Channel::serve(file.as_ptr() as usize)?;
        if args.done != 0 {
            let mut msg = KVec::new();
            if args.error != 0 && args.msg != 0 {
                msg.resize(args.msg_len as usize, 0, GFP_KERNEL_ACCOUNT)?;
                UserSlice::new(UserPtr::from_addr(args.msg as usize), msg.len())
                    .reader()
                    .read_slice(&mut msg)?;
                let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
                msg.truncate(end);
            }
            let answer = Answer {
                error: args.error,
                reason: args.fail_reason,
                addr: args.fail_addr,
                bytes: args.bytes,
                pages: args.pages,
                frozen_ns: args.frozen_ns,
                threads: args.threads,
                vmas: args.vmas,
                msg,
            };
            channel.answer(args.done, answer);
        }
        if args.flags & uapi::CR_SERVE_ANSWER_ONLY != 0 {
            return Ok(0);
        }
        let slot = FdSlot::reserve()?;
        let taken = channel.take()?;
        let r = &taken.request;
        args.id = taken.id;
        args.op = uapi::CR_SERVE_OP_CHECKPOINT;
        args.req_flags = r.flags;
        args.target = r.target;
        args.fd = slot.fd();
        args.freeze_timeout_ms = r.freeze_timeout_ms;
        args.uid = r.uid;
        args.gid = r.gid;
        args.capable = u32::from(r.capable);
        if let Err(e) = out.write(&args) {
            // The daemon cannot know of it: another take gets it.
            channel.untake(taken);
            return Err(e);
        }
        slot.install(&taken.request.file);
        Ok(0)
    }

    /// Checks the input fields of a checkpoint request.
    #[inline(never)]
    fn restore_thread(
        &self,
        mut input: UserSliceReader,
        mut out: UserSliceWriter,
    ) -> Result<isize> {
        let mut args: CrRestoreThreadArgs = input.read()?;
        if args.flags != 0
            || args.__pad != 0
            || args.__reserved.iter().any(|&r| r != 0)
            || args.index == 0
        {
            args.fail_reason = Reason::Args.code();
            let _ = out.write(&args);
            return Err(EINVAL);
        }
        let index = args.index;
        match class::caller()
            .and_then(|target| target.restore_into(RestoreRequest::Thread { index }))
        {
            Ok(ax) => Ok(ax),
            Err(failure) => {
                args.fail_reason = failure.reason.code();
                let _ = out.write(&args);
                Err(failure.err)
            }
        }
    }

    fn validate<'a>(
        args: &CrCheckpointArgs,
        dev: &'a File,
    ) -> Result<CheckpointRequest<'a>, Failure> {
        let both = uapi::CR_CHECKPOINT_KILL | uapi::CR_CHECKPOINT_PARTIAL;
        let hold = args.flags & uapi::CR_CHECKPOINT_HOLD != 0;
        let bad = args.flags & !uapi::CR_CHECKPOINT_FLAGS_ALL != 0
            || args.flags & both == both
            || (hold && args.flags & both != 0)
            || (hold && args.hold_fd < 0)
            || (!hold && args.hold_fd != 0)
            || args.__pad2 != 0
            || (args.msg == 0) != (args.msg_len == 0)
            || args.msg_len > uapi::CR_MSG_MAX
            || args.out_fd < 0
            || args.proof_fd < -1;
        if bad {
            return Err(Failure::new(EINVAL, Reason::Args));
        }
        Ok(CheckpointRequest {
            dev,
            out_fd: args.out_fd,
            proof_fd: args.proof_fd,
            kill: args.flags & uapi::CR_CHECKPOINT_KILL != 0,
            partial: args.flags & uapi::CR_CHECKPOINT_PARTIAL != 0,
            hold_fd: hold.then_some(args.hold_fd),
            freeze_timeout_ms: match args.freeze_timeout_ms {
                0 => uapi::CR_FREEZE_TIMEOUT_MS_DEFAULT,
                ms => ms,
            },
        })
    }
}
