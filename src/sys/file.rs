// SPDX-License-Identifier: GPL-2.0

//! Files cr is handed by fd: the image's destination, and the proof of ptrace
//! access (an open /proc/<pid>/mem).

use kernel::{bindings, fs::file::LocalFile, prelude::*, sync::aref::ARef};

use super::{errno, ffi, mm::AddressSpace, mm::PageBatch};

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
        // SAFETY: `file` is a valid file (we hold a reference).
        errno(unsafe { ffi::cr_file_writable(file.as_ptr()) })?;
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
                bindings::vfs_iter_write(file, &mut iter, ffi::cr_file_ppos(file), 0)
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
                bindings::vfs_iter_write(file, &mut iter, ffi::cr_file_ppos(file), 0)
            }
        })
    }
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
                let ppos = ffi::cr_file_ppos(f);
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
                bindings::vfs_iter_read(f, &mut iter, ffi::cr_file_ppos(f), 0)
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
