// SPDX-License-Identifier: GPL-2.0

//! A refused fd is named for what it is (an O_PATH fd on a symlink was once
//! called "an eventfd, epoll, signalfd or other special file").

use crctl::restore::fd_kind;
use crctl::uapi::*;

fn fd(ty: u32, mode: u32, flags: i32) -> CrFd {
    CrFd {
        fd: 3,
        r#type: ty,
        mode,
        f_flags: flags as u32,
        ..Default::default()
    }
}

#[test]
fn anon_inodes_by_name() {
    let f = fd(CR_FD_ANON, 0o600, libc::O_RDWR);
    assert_eq!(fd_kind(&f, "anon_inode:[eventfd]"), "an eventfd");
    assert_eq!(fd_kind(&f, "anon_inode:[eventpoll]"), "an epoll instance");
    assert_eq!(fd_kind(&f, "anon_inode:[timerfd]"), "a timerfd");
    assert_eq!(fd_kind(&f, "anon_inode:[io_uring]"), "an io_uring instance");
    assert_eq!(fd_kind(&f, "anon_inode:[pidfd]"), "a pidfd");
    assert_eq!(
        fd_kind(&f, "anon_inode:[something-new]"),
        "an anonymous inode ([something-new])"
    );
}

#[test]
fn o_path_and_file_types() {
    let link = fd(CR_FD_OTHER, libc::S_IFLNK | 0o777, libc::O_PATH);
    assert_eq!(fd_kind(&link, "/tmp/l"), "an O_PATH fd on a symlink");
    let blk = fd(CR_FD_BLK, libc::S_IFBLK | 0o600, libc::O_RDONLY);
    assert_eq!(fd_kind(&blk, "/dev/vda"), "a block device");
}
