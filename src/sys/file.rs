// SPDX-License-Identifier: GPL-2.0

//! Files cr is handed by fd: the image's destination, and the proof of ptrace
//! access (an open /proc/<pid>/mem).

use core::ptr::{addr_of, addr_of_mut, NonNull};

use kernel::{
    bindings,
    fs::file::{
        flags::{O_CLOEXEC, O_NONBLOCK},
        File, FileDescriptorReservation, LocalFile,
    },
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic},
    },
};

use super::{ffi, generated, mm::AddressSpace, mm::PageBatch, read_once};
use crate::uapi;

/// What a kernel-internal read or write returned, as a `Result`: a count, or
/// an error, where the codes that ask for a system call to be restarted
/// (a signal came) are `EINTR` to the caller.
fn io_result(n: isize) -> Result<usize> {
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = Error::from_errno(n as i32);
    let restart = [
        ERESTARTSYS,
        ERESTARTNOINTR,
        ERESTARTNOHAND,
        ERESTART_RESTARTBLOCK,
    ];
    Err(if restart.contains(&e) { EINTR } else { e })
}

/// Writes `len` bytes with `write_once(done)`, which writes some of those
/// after the first `done`, until all are written: `EIO` if a write takes
/// nothing, `EINTR` on a signal to the caller between short writes.
fn write_all(len: usize, mut write_once: impl FnMut(usize) -> isize) -> Result<usize> {
    let mut done = 0;
    while done < len {
        match io_result(write_once(done))? {
            0 => return Err(EIO),
            n => done += n,
        }
        if done < len && kernel::current!().signal_pending() {
            return Err(EINTR);
        }
    }
    Ok(len)
}

/// A piece of what to write: bytes of a kmalloc'ed vector, or pages.
pub(crate) enum Part<'a> {
    /// A range of a `KVec` (kmalloc memory: linear-mapped, as a bio_vec needs).
    Bytes(&'a KVec<u8>, core::ops::Range<usize>),
    /// Pages `range` of a batch.
    Pages(&'a PageBatch, core::ops::Range<usize>),
}

/// The fd an image is streamed to.
pub(crate) struct OutFile {
    file: ARef<LocalFile>,
    /// bio_vecs of the write in progress, kept to avoid an allocation per write.
    bvecs: KVec<bindings::bio_vec>,
}

impl OutFile {
    /// The caller's fd `fd`, checked to be writable as a blocking stream:
    /// `EBADF` (not open, or not open for writing), `EINVAL` (cannot be
    /// written), `EAGAIN` (O_NONBLOCK).
    pub(crate) fn get(fd: i32) -> Result<OutFile> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = LocalFile::fget(fd)?;
        // What vfs_iter_write() checks again, told apart. `f_mode` and `f_op`
        // are set at open.
        let f = file.as_ptr();
        // SAFETY: `f` is valid (we hold a reference), and so are its operations.
        let (mode, write_iter) = unsafe { ((*f).f_mode, (*(*f).f_op).write_iter.is_some()) };
        if mode & generated::CR_FMODE_WRITE == 0 {
            return Err(EBADF);
        }
        if mode & generated::CR_FMODE_CAN_WRITE == 0 || !write_iter {
            return Err(EINVAL);
        }
        if file.flags() & O_NONBLOCK != 0 {
            return Err(EAGAIN);
        }
        Ok(OutFile {
            file,
            bvecs: KVec::new(),
        })
    }

    /// Writes `parts` in order, from the caller's buffers and the pages
    /// themselves (no intermediate copy). `EINTR` when the caller gets a
    /// signal; the file's own errors (`EPIPE`, `ENOSPC`, ...) as they come.
    pub(crate) fn write(&mut self, parts: &[Part<'_>]) -> Result<usize> {
        self.bvecs.clear();
        let mut len = 0usize;
        for part in parts {
            match part {
                Part::Bytes(buf, range) => {
                    let bytes = buf.get(range.clone()).ok_or(EINVAL)?;
                    if bytes.is_empty() {
                        continue;
                    }
                    let n = u32::try_from(bytes.len()).map_err(|_| EINVAL)?;
                    let mut bv = core::mem::MaybeUninit::<bindings::bio_vec>::uninit();
                    // SAFETY: `bytes` is kmalloc memory (a `KVec`) borrowed for
                    // this call; the helper initializes `bv` to describe it.
                    unsafe {
                        ffi::cr_bvec_buf(bv.as_mut_ptr(), bytes.as_ptr().cast_mut().cast(), n)
                    };
                    // SAFETY: Initialized just above.
                    let bv = unsafe { bv.assume_init() };
                    self.bvecs.push(bv, GFP_KERNEL_ACCOUNT)?;
                    len += bytes.len();
                }
                Part::Pages(batch, range) => {
                    for &page in batch.pages.get(range.clone()).ok_or(EINVAL)? {
                        // bvec_set_page(): the whole page, which the batch
                        // holds a reference on for the duration of this call.
                        let bv = bindings::bio_vec {
                            bv_page: page,
                            bv_len: kernel::page::PAGE_SIZE as u32,
                            bv_offset: 0,
                        };
                        self.bvecs.push(bv, GFP_KERNEL_ACCOUNT)?;
                        len += kernel::page::PAGE_SIZE;
                    }
                }
            }
        }
        if len == 0 {
            return Ok(0);
        }
        let nr = self.bvecs.len();
        let (file, bvecs) = (self.file.as_ptr(), self.bvecs.as_mut_ptr());
        write_all(len, |done| {
            // SAFETY: `file` is valid; `bvecs` holds `nr` bio_vecs describing `len`
            // bytes borrowed for this call, `done` < `len` of them written.
            unsafe {
                let mut iter = bindings::iov_iter::default();
                bindings::iov_iter_bvec(&mut iter, bindings::ITER_SOURCE, bvecs, nr, len);
                bindings::iov_iter_advance(&mut iter, done);
                bindings::vfs_iter_write(file, &mut iter, ppos(file), 0)
            }
        })
    }
}

impl OutFile {
    /// Writes `bytes` (any kernel memory), with the errors of [`Self::write`].
    pub(crate) fn write_buf(&mut self, bytes: &[u8]) -> Result<usize> {
        if bytes.is_empty() {
            return Ok(0);
        }
        let file = self.file.as_ptr();
        write_all(bytes.len(), |done| {
            let rest = &bytes[done..];
            // SAFETY: `file` is valid; `rest` is readable for its length for
            // the duration of the call.
            unsafe {
                let kv = bindings::kvec {
                    iov_base: rest.as_ptr().cast_mut().cast(),
                    iov_len: rest.len(),
                };
                let mut iter = bindings::iov_iter::default();
                bindings::iov_iter_kvec(&mut iter, bindings::ITER_SOURCE, &kv, 1, rest.len());
                bindings::vfs_iter_write(file, &mut iter, ppos(file), 0)
            }
        })
    }
}

/// Where a read or write of `f` starts and moves on: its position, or NULL
/// for a stream (`FMODE_STREAM`).
///
/// # Safety
///
/// `f` must be a file valid for the call.
unsafe fn ppos(f: *mut bindings::file) -> *mut bindings::loff_t {
    // SAFETY: Per the contract; `f_mode` is set at open.
    if unsafe { (*f).f_mode } & generated::CR_FMODE_STREAM != 0 {
        return core::ptr::null_mut();
    }
    // SAFETY: As above.
    unsafe { addr_of_mut!((*f).f_pos) }
}

/// Checks that the caller's fd `fd` is an open /proc/<pid>/mem of `space`:
/// `EBADF` if not open, `EINVAL` if it is another kind of file, `EPERM` if it
/// is the mem file of another address space (another process, or the target
/// before an exec).
pub(crate) fn check_proof(fd: i32, space: &AddressSpace) -> Result {
    let fd = u32::try_from(fd).map_err(|_| EBADF)?;
    let file = LocalFile::fget(fd)?;
    let f = file.as_ptr();
    // Opening that file ran ptrace_may_access(PTRACE_MODE_ATTACH), LSMs
    // included, and stored the mm in `private_data`. No other procfs file is
    // named "mem" and keeps an mm there (environ and auxv keep one but have
    // other names).
    // The dentry's name is stable while the file is open (procfs files are
    // never renamed).
    // SAFETY: `f` is valid (we hold a reference), and so are its inode,
    // superblock and dentry.
    let (magic, name, mm) = unsafe {
        let name = (*(*f).__bindgen_anon_1.f_path.dentry)
            .__bindgen_anon_1
            .d_name
            .name;
        (
            (*(*(*f).f_inode).i_sb).s_magic,
            CStr::from_char_ptr(name),
            (*f).private_data,
        )
    };
    if magic != bindings::PROC_SUPER_MAGIC as usize || name.to_bytes() != b"mem" {
        return Err(EINVAL);
    }
    if mm.cast() != space.as_raw() {
        return Err(EPERM);
    }
    Ok(())
}

/// What names a file's inode in an image.
pub(crate) struct InodeId {
    /// The filesystem's device, as `stat` encodes it (`new_encode_dev`).
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: u64,
    /// `S_IF*` and permission bits.
    pub(crate) mode: u32,
}

/// `new_encode_dev()`: a `dev_t` as user space sees it.
pub(super) fn encode_dev(dev: u32) -> u64 {
    let (major, minor) = (dev >> 20, dev & 0xfffff);
    u64::from((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
}

/// The identity of `f`'s inode.
///
/// # Safety
///
/// `f` must be a file valid for the call.
pub(super) unsafe fn inode_id(f: *const bindings::file) -> InodeId {
    // The size and mtime are read once each (i_size_read(), inode_get_mtime()).
    // SAFETY: Per the function's contract `f` is valid, and so are its inode
    // and superblock.
    unsafe {
        let i = (*f).f_inode;
        let sec = super::read_once(core::ptr::addr_of!((*i).i_mtime_sec));
        let nsec = super::read_once(core::ptr::addr_of!((*i).i_mtime_nsec));
        InodeId {
            dev: encode_dev((*(*i).i_sb).s_dev),
            ino: (*i).i_ino,
            size: super::read_once(core::ptr::addr_of!((*i).i_size)) as u64,
            mtime_ns: (sec as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(u64::from(nsec)),
            mode: u32::from((*i).i_mode),
        }
    }
}

/// `d_path()` of `path` into the start of `buf`; returns its length.
///
/// # Safety
///
/// `path` must be valid for the call (a reference held on it, or on a file
/// or area that holds it).
pub(super) unsafe fn path_into(path: *const bindings::path, buf: &mut [u8]) -> Result<usize> {
    let len = i32::try_from(buf.len()).map_err(|_| EINVAL)?;
    // d_path builds the name at the end of `buf` and returns where it starts,
    // or an ERR_PTR.
    // SAFETY: `path` is valid per the contract; `buf` is writable for `len`.
    let p = unsafe { bindings::d_path(path, buf.as_mut_ptr().cast(), len) };
    // SAFETY: Any pointer may be tested.
    if unsafe { bindings::IS_ERR(p.cast()) } {
        // SAFETY: `p` is an ERR_PTR.
        return Err(Error::from_errno(
            unsafe { bindings::PTR_ERR(p.cast()) } as i32
        ));
    }
    let start = (p as usize).wrapping_sub(buf.as_ptr() as usize);
    let n = buf[start.min(buf.len())..]
        .iter()
        .position(|&b| b == 0)
        .ok_or(ENAMETOOLONG)?;
    buf.copy_within(start..start + n, 0);
    Ok(n)
}

/// Whether `f` has no name to open it by again: deleted, or never had one
/// (`d_unhashed()` of its dentry).
///
/// # Safety
///
/// `f` must be a file valid for the call.
pub(super) unsafe fn unnamed(f: *const bindings::file) -> bool {
    // SAFETY: Per the contract `f` and its dentry are valid.
    unsafe {
        (*(*f).__bindgen_anon_1.f_path.dentry)
            .d_hash
            .pprev
            .is_null()
    }
}

/// A file opened by the kernel by path (for a restore's mappings and fds).
pub(crate) struct OpenFile {
    file: ARef<kernel::fs::File>,
}

impl OpenFile {
    /// Opens `path` (no NUL inside) with `flags` (`O_*`): `ENOENT` and the
    /// like as `open(2)` gives them.
    pub(crate) fn open(path: &[u8], flags: i32) -> Result<OpenFile> {
        let mut c = KVec::with_capacity(path.len() + 1, GFP_KERNEL_ACCOUNT)?;
        c.extend_from_slice(path, GFP_KERNEL_ACCOUNT)?;
        c.push(0, GFP_KERNEL_ACCOUNT)?;
        // SAFETY: `c` is NUL-terminated; the result is a file we own a
        // reference on, or an ERR_PTR.
        let f = unsafe { bindings::filp_open(c.as_ptr(), flags | bindings::O_LARGEFILE as i32, 0) };
        // SAFETY: Any pointer may be tested.
        if unsafe { bindings::IS_ERR(f.cast()) } {
            // SAFETY: `f` is an ERR_PTR.
            return Err(Error::from_errno(
                unsafe { bindings::PTR_ERR(f.cast()) } as i32
            ));
        }
        let f = core::ptr::NonNull::new(f.cast::<kernel::fs::File>()).ok_or(EINVAL)?;
        // SAFETY: `filp_open` returned a file with a reference we now own;
        // `File` is transparent over `struct file`.
        let file = unsafe { ARef::from_raw(f) };
        Ok(OpenFile { file })
    }

    /// `ESTALE` unless the file is (`ino`, `size`, `mtime_ns`).
    pub(crate) fn same(&self, ino: u64, size: u64, mtime_ns: u64) -> Result {
        // SAFETY: The file is valid (we hold a reference).
        let id = unsafe { inode_id(self.as_raw()) };
        if (id.ino, id.size, id.mtime_ns) != (ino, size, mtime_ns) {
            return Err(ESTALE);
        }
        Ok(())
    }

    pub(super) fn as_raw(&self) -> *mut bindings::file {
        self.file.as_ptr()
    }
}

/// An fd an image is read from, sequentially.
pub(crate) struct InFile {
    file: ARef<LocalFile>,
}

impl InFile {
    /// The caller's fd `fd`; `EBADF` if not open.
    pub(crate) fn get(fd: i32) -> Result<InFile> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        Ok(InFile {
            file: LocalFile::fget(fd)?,
        })
    }

    /// Fills `buf`; `Ok(false)` if the file ended before its first byte,
    /// `ENODATA` if it ended inside it. `EINTR` on a signal.
    pub(crate) fn read_exact(&self, buf: &mut [u8]) -> Result<bool> {
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            // SAFETY: `rest` is writable for its length; the file is valid.
            // At the file's position, or as a stream (kernel_read()).
            let n = unsafe {
                let f = self.file.as_ptr();
                let ppos = ppos(f);
                let mut pos = if ppos.is_null() { 0 } else { *ppos };
                let n = bindings::kernel_read(f, rest.as_mut_ptr().cast(), rest.len(), &mut pos);
                if !ppos.is_null() {
                    *ppos = pos;
                }
                n
            };
            match io_result(n)? {
                0 if done == 0 => return Ok(false),
                0 => return Err(ENODATA),
                n => done += n,
            }
        }
        Ok(true)
    }

    /// Reads a hold's decision: one byte, which commits only if it is
    /// `CR_HOLD_COMMIT`. End of file, a read error or a signal do not.
    pub(crate) fn committed(&self) -> bool {
        self.decision() == Decision::Commit
    }

    /// Reads a checkpoint hold's decision: one byte. `CR_HOLD_COMMIT`
    /// commits, `CR_HOLD_DEPUTY` commits and asks for a deputy; anything
    /// else (another byte, end of file, a read error, a signal) does not.
    pub(crate) fn decision(&self) -> Decision {
        let mut byte = [0u8; 1];
        match self.read_exact(&mut byte) {
            Ok(true) if byte[0] == uapi::CR_HOLD_COMMIT => Decision::Commit,
            Ok(true) if byte[0] == uapi::CR_HOLD_DEPUTY => Decision::Deputy,
            _ => Decision::No,
        }
    }

    /// The file as a deputy's link: `EBADF` unless it is open for reading
    /// and writing (a socket).
    pub(crate) fn into_link(self) -> Result<DeputyLink> {
        use kernel::fs::file::flags::{O_ACCMODE, O_RDWR};
        if self.file.flags() & O_ACCMODE != O_RDWR {
            return Err(EBADF);
        }
        // SAFETY: `fget()` (not `fdget_pos()`) took the file, and this thread,
        // in an ioctl on another file, holds no `fdget_pos()` of it.
        let file = unsafe { LocalFile::assume_no_fdget_pos(self.file) };
        Ok(DeputyLink { file })
    }
}

/// A file handed from one process to another: a remote checkpoint's
/// out_fd, which the cluster daemon gets as an fd of its own.
pub(crate) struct PassedFile {
    file: ARef<File>,
}

impl PassedFile {
    /// The caller's file at `fd`: `EBADF` if none, `EINVAL` if it is a file
    /// of /dev/cr, like `dev` (a request holding the channel's own file
    /// would keep the channel from ever closing).
    pub(crate) fn get(fd: i32, dev: &File) -> Result<PassedFile> {
        let file = LocalFile::fget(u32::try_from(fd).map_err(|_| EBADF)?)?;
        // SAFETY: Both files are valid (a reference each); `f_op` is set
        // at open and not changed after.
        let same = unsafe { core::ptr::eq((*file.as_ptr()).f_op, (*dev.as_ptr()).f_op) };
        if same {
            return Err(EINVAL);
        }
        // SAFETY: `fget()` (not `fdget_pos()`) took the file, and this thread,
        // in an ioctl on another file, holds no `fdget_pos()` of it.
        let file = unsafe { LocalFile::assume_no_fdget_pos(file) };
        Ok(PassedFile { file })
    }
}

/// An fd reserved in the caller's table (close-on-exec), for a
/// [`PassedFile`]; given back unless installed.
pub(crate) struct FdSlot(FileDescriptorReservation);

impl FdSlot {
    pub(crate) fn reserve() -> Result<FdSlot> {
        Ok(FdSlot(FileDescriptorReservation::get_unused_fd_flags(
            O_CLOEXEC,
        )?))
    }

    pub(crate) fn fd(&self) -> i32 {
        self.0.reserved_fd() as i32
    }

    /// Makes the fd `file`'s (a reference of its own).
    pub(crate) fn install(self, file: &PassedFile) {
        self.0.fd_install(file.file.clone());
    }
}

/// A hold's decision ([`InFile::decision`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// End the process.
    Commit,
    /// Leave a deputy of it.
    Deputy,
    /// Let it run on.
    No,
}

/// A deputy's link to its holder (a socket): messages both ways, read and
/// written by the deputy thread alone.
pub(crate) struct DeputyLink {
    file: ARef<kernel::fs::File>,
}

impl DeputyLink {
    /// Reads into `buf` what has arrived (blocking until something has):
    /// the bytes read, 0 at the end of the stream, `EINTR` on a signal.
    pub(crate) fn read_some(&self, buf: &mut [u8]) -> Result<usize> {
        let f = self.file.as_ptr();
        let mut pos = 0;
        // SAFETY: `buf` is writable for its length; the file is valid (we
        // hold a reference); a socket has no position.
        io_result(unsafe { bindings::kernel_read(f, buf.as_mut_ptr().cast(), buf.len(), &mut pos) })
    }

    /// Writes one message (whole, or `EIO`).
    pub(crate) fn send(&self, msg: &uapi::CrDeputyMsg) -> Result {
        let bytes = uapi::as_bytes(msg);
        let f = self.file.as_ptr();
        write_all(bytes.len(), |done| {
            let rest = &bytes[done..];
            let mut pos = 0;
            // SAFETY: `rest` is readable for its length; the file is valid.
            unsafe { bindings::kernel_write(f, rest.as_ptr().cast(), rest.len(), &mut pos) }
        })
        .map(|_| ())
    }
}

impl InFile {
    /// Fills the pages of `batch`, in order, straight from the file (no
    /// intermediate copy), with the outcomes of [`Self::read_exact`].
    pub(crate) fn read_pages(&self, batch: &PageBatch) -> Result<bool> {
        let nr = batch.pages.len();
        let mut bvecs = KVec::with_capacity(nr, GFP_KERNEL_ACCOUNT)?;
        for &page in batch.pages.iter() {
            // bvec_set_page(): the whole page, which the batch holds a
            // reference on for the duration of this call.
            let bv = bindings::bio_vec {
                bv_page: page,
                bv_len: kernel::page::PAGE_SIZE as u32,
                bv_offset: 0,
            };
            bvecs.push(bv, GFP_KERNEL_ACCOUNT)?;
        }
        let len = nr * kernel::page::PAGE_SIZE;
        let mut done = 0;
        while done < len {
            let f = self.file.as_ptr();
            // SAFETY: `f` is valid (we hold a reference); `bvecs` describes
            // `len` bytes of pages the batch holds, `done` of them read.
            let n = unsafe {
                let mut iter = bindings::iov_iter::default();
                bindings::iov_iter_bvec(&mut iter, bindings::ITER_DEST, bvecs.as_ptr(), nr, len);
                bindings::iov_iter_advance(&mut iter, done);
                bindings::vfs_iter_read(f, &mut iter, ppos(f), 0)
            };
            match io_result(n)? {
                0 if done == 0 => return Ok(false),
                0 => return Err(ENODATA),
                n => done += n,
            }
        }
        Ok(true)
    }
}

/// The fd a restore reports its outcome to.
pub(crate) struct StatusFile {
    out: OutFile,
}

impl StatusFile {
    /// The caller's fd `fd`, writable.
    pub(crate) fn get(fd: i32) -> Result<StatusFile> {
        Ok(StatusFile {
            out: OutFile::get(fd)?,
        })
    }

    /// Writes `bytes` (a status record; small, one write).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result {
        self.out.write_buf(bytes).map(|_| ())
    }
}

/// `file_count(f)`: the references held on `f` (0 once it is being freed).
///
/// # Safety
///
/// `f` must be a file valid for the call.
unsafe fn file_count(f: *const bindings::file) -> u64 {
    // SAFETY: Per the contract; the counter is read once (file_ref_read()).
    let c = unsafe { read_once(addr_of!((*f).f_ref.refcnt.counter)) } as u64;
    if c >= bindings::FILE_REF_RELEASED as u64 {
        0
    } else {
        c + 1
    }
}

/// A process's fd table with its `file_lock` held: the table cannot be
/// resized or have fds installed or closed meanwhile.
///
/// # Invariants
///
/// `files` is a valid `files_struct` whose `file_lock` is held by this guard.
pub(super) struct FdTable {
    files: NonNull<bindings::files_struct>,
}

impl FdTable {
    /// Locks `files`.
    ///
    /// # Safety
    ///
    /// `files` must stay valid while the guard lives (the caller holds the
    /// `task_lock` of a task using it, or a reference).
    pub(super) unsafe fn lock(files: NonNull<bindings::files_struct>) -> FdTable {
        // SAFETY: Per the contract `files` is valid; unlocked by `drop`.
        unsafe { bindings::spin_lock(addr_of_mut!((*files.as_ptr()).file_lock)) };
        // INVARIANT: Taken just above.
        FdTable { files }
    }

    /// `files_fdtable()`: the table, which is replaced only under the lock.
    fn fdt(&self) -> &bindings::fdtable {
        // SAFETY: By the invariant `files` is valid and locked, so its
        // current table is valid until the lock is dropped.
        unsafe { &*(*self.files.as_ptr()).fdt }
    }

    /// Whether fd `fd` is close-on-exec (`close_on_exec()`).
    pub(super) fn cloexec(&self, fd: u32) -> bool {
        let fdt = self.fdt();
        if fd >= fdt.max_fds {
            return false;
        }
        let bits = usize::BITS;
        // SAFETY: The bitmap holds `max_fds` bits; its bits change under the
        // lock, held.
        let word = unsafe { *fdt.close_on_exec.add((fd / bits) as usize) };
        word & (1 << (fd % bits)) != 0
    }

    /// How many fds name `f`.
    pub(super) fn fds_of(&self, f: *const bindings::file) -> u64 {
        let fdt = self.fdt();
        let mut n = 0;
        for i in 0..fdt.max_fds as usize {
            // SAFETY: `fd` has `max_fds` slots; each is only compared
            // (`rcu_access_pointer()`).
            if core::ptr::eq(unsafe { read_once(fdt.fd.add(i)) }.cast_const(), f) {
                n += 1;
            }
        }
        n
    }
}

impl Drop for FdTable {
    fn drop(&mut self) {
        // SAFETY: By the invariant the lock is held by us.
        unsafe { bindings::spin_unlock(addr_of_mut!((*self.files.as_ptr()).file_lock)) };
    }
}

/// Whether someone outside the process whose fd table is `files` holds `f`:
/// references on it beyond the fds of `files` that name it and the caller's
/// own. Exact only while the process is frozen (a thread inside a system call
/// on `f` holds a reference of its own when the table is shared).
///
/// # Safety
///
/// `f` must be a file the caller holds a reference on; `files` must stay
/// valid for the call (see [`FdTable::lock`]).
pub(super) unsafe fn shared_outside(
    f: *const bindings::file,
    files: NonNull<bindings::files_struct>,
) -> bool {
    // SAFETY: Per the contract.
    let mine = unsafe { FdTable::lock(files) }.fds_of(f) + 1;
    // SAFETY: Per the contract `f` is valid.
    unsafe { file_count(f) > mine }
}

/// The locks and leases on a file's inode that a process holds.
#[derive(Clone, Copy, Default)]
pub(super) struct LocksHeld {
    /// A flock of the file, a POSIX lock of the process, an OFD lock of the file.
    pub(super) lock: bool,
    /// A lease of the file.
    pub(super) lease: bool,
}

/// What the process whose fd table is `owner` holds on `f`, one of its files.
///
/// # Safety
///
/// `f` must be a file valid for the call; `owner` is only compared (it is
/// what a POSIX lock's `flc_owner` holds).
pub(super) unsafe fn locks_held(
    f: *mut bindings::file,
    owner: *const bindings::files_struct,
) -> LocksHeld {
    let mut held = LocksHeld::default();
    // locks_inode_context(): pairs with the release store that publishes it.
    // SAFETY: `f` and its inode are valid; `i_flctx` is a pointer-sized field.
    let ctx = unsafe { Atomic::from_ptr(addr_of_mut!((*(*f).f_inode).i_flctx)) }.load(Acquire);
    let Some(ctx) = NonNull::new(ctx.cast::<generated::file_lock_context>()) else {
        return held;
    };
    let ctx = ctx.as_ptr();
    // SAFETY: A published context lives as long as its inode; its lists
    // change only under `flc_lock`, taken here.
    unsafe {
        bindings::spin_lock(addr_of_mut!((*ctx).flc_lock));
        for_each_lock(addr_of!((*ctx).flc_flock), |c| held.lock |= c.flc_file == f);
        for_each_lock(addr_of!((*ctx).flc_posix), |c| {
            held.lock |= c.flc_owner.cast_const() == owner.cast() || c.flc_file == f
        });
        for_each_lock(addr_of!((*ctx).flc_lease), |c| {
            held.lease |= c.flc_file == f
        });
        bindings::spin_unlock(addr_of_mut!((*ctx).flc_lock));
    }
    held
}

/// Calls `each` with every lock on the list `head` of a lock context.
///
/// # Safety
///
/// `head` must be one of the lists of a `file_lock_context` whose `flc_lock`
/// the caller holds.
unsafe fn for_each_lock(
    head: *const bindings::list_head,
    mut each: impl FnMut(&generated::file_lock_core),
) {
    // SAFETY: Per the contract the list is stable and each entry is the
    // `flc_list` of a `file_lock_core`.
    unsafe {
        let mut pos = (*head).next;
        while !core::ptr::eq(pos, head) {
            each(&*kernel::container_of!(
                pos,
                generated::file_lock_core,
                flc_list
            ));
            pos = (*pos).next;
        }
    }
}

/// A pipe locked with `pipe_lock()`: its ring holds still.
///
/// # Invariants
///
/// `pipe` is a valid pipe whose mutex is held by this guard.
struct PipeLock {
    pipe: *mut generated::pipe_inode_info,
}

impl PipeLock {
    /// The pipe behind `f`, locked; `None` when `f` is not a pipe.
    ///
    /// # Safety
    ///
    /// `f` must be a file the caller holds a reference on while the guard
    /// lives (it keeps the pipe).
    unsafe fn of(f: *mut bindings::file) -> Option<PipeLock> {
        // SAFETY: `f` and its inode are valid; `i_pipe` is the member of a
        // FIFO's inode (get_pipe_info() is not exported).
        let pipe = unsafe {
            let i = (*f).f_inode;
            if u32::from((*i).i_mode) & bindings::S_IFMT != bindings::S_IFIFO {
                return None;
            }
            (*i).__bindgen_anon_5
                .i_pipe
                .cast::<generated::pipe_inode_info>()
        };
        if pipe.is_null() {
            return None;
        }
        // SAFETY: A pipe lives while a file holds it; unlocked by `drop`.
        unsafe { generated::pipe_lock(pipe) };
        // INVARIANT: Locked just above.
        Some(PipeLock { pipe })
    }

    /// The index of ring slot `at` (`head` or `tail`, by their offsets).
    fn index(&self, at: usize) -> generated::pipe_index_t {
        // SAFETY: By the invariant the pipe is valid and locked; `at` is the
        // offset of one of its indexes.
        unsafe {
            *self
                .pipe
                .cast::<u8>()
                .add(at)
                .cast::<generated::pipe_index_t>()
        }
    }

    /// Copies the data in the ring, oldest first, into the start of `buf`
    /// without consuming it: `E2BIG` if it holds more than `buf`.
    fn peek(&self, buf: &mut [u8]) -> Result<usize> {
        let pipe = self.pipe;
        let (head, mut tail) = (
            self.index(generated::CR_PIPE_HEAD_OFFSET),
            self.index(generated::CR_PIPE_TAIL_OFFSET),
        );
        let mut done = 0usize;
        while tail != head {
            // pipe_buf(): the ring has `ring_size` slots, a power of two.
            // SAFETY: By the invariant; `bufs` holds `ring_size` buffers.
            let b = unsafe { (*pipe).bufs.add((tail & ((*pipe).ring_size - 1)) as usize) };
            // SAFETY: A buffer of the locked ring between tail and head is valid.
            let (page, offset, len, ops) =
                unsafe { ((*b).page, (*b).offset as usize, (*b).len as usize, (*b).ops) };
            let to = buf.get_mut(done..done + len).ok_or(E2BIG)?;
            // pipe_buf_confirm(): the data is there (a spliced page may not
            // be read in yet).
            // SAFETY: As above; a buffer's `ops` are valid while it is.
            if let Some(confirm) = unsafe { (*ops).confirm } {
                // SAFETY: As above: a buffer of this locked pipe.
                kernel::error::to_result(unsafe { confirm(pipe, b) })?;
            }
            if offset + len > kernel::page::PAGE_SIZE {
                return Err(EIO);
            }
            // memcpy_from_page(): the buffer lies within its page.
            // SAFETY: The buffer holds a reference on `page`; it is mapped for
            // the copy of `len` bytes at `offset`, checked to be in it.
            unsafe {
                let from = bindings::kmap_local_page(page).cast::<u8>();
                core::ptr::copy_nonoverlapping(from.add(offset), to.as_mut_ptr(), len);
                bindings::kunmap_local(from.cast());
            }
            done += len;
            tail = tail.wrapping_add(1);
        }
        Ok(done)
    }

    /// The pipe's capacity in bytes.
    fn capacity(&self) -> u32 {
        // SAFETY: By the invariant; `max_usage` changes under the lock.
        unsafe { (*self.pipe).max_usage << bindings::PAGE_SHIFT }
    }
}

impl Drop for PipeLock {
    fn drop(&mut self) {
        // SAFETY: By the invariant the lock is held by us.
        unsafe { generated::pipe_unlock(self.pipe) };
    }
}

/// The data waiting in the pipe `f`, oldest first, copied into the start of
/// `buf` without consuming it; the pipe's capacity into `capacity`. `ENOTTY`
/// when `f` is not a pipe, `E2BIG` when it holds more than `buf`.
///
/// # Safety
///
/// `f` must be a file the caller holds a reference on.
pub(super) unsafe fn pipe_peek(
    f: *mut bindings::file,
    buf: &mut [u8],
    capacity: &mut u32,
) -> Result<usize> {
    // SAFETY: Per the contract.
    let pipe = unsafe { PipeLock::of(f) }.ok_or(ENOTTY)?;
    *capacity = pipe.capacity();
    pipe.peek(buf)
}
