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

/// The one list (src/rules.rs) that both checkpoint and restore judge fds by.
mod rules_list {
    use super::fd;
    use crctl::rules::{fd_obstacle, pipe_within, FdObstacle, FdRefusal};
    use crctl::uapi::*;

    fn pipe(n: i32, ino: u64, write: bool) -> CrFd {
        CrFd {
            fd: n,
            r#type: CR_FD_PIPE,
            mode: libc::S_IFIFO | 0o600,
            f_flags: if write {
                libc::O_WRONLY
            } else {
                libc::O_RDONLY
            } as u32,
            ino,
            ..Default::default()
        }
    }

    fn say(f: &CrFd, path: &str, all: &[CrFd]) -> Option<String> {
        fd_obstacle(f, path.as_bytes(), all.iter()).map(|obstacle| {
            FdRefusal {
                fd: f.fd,
                path: path.as_bytes(),
                obstacle,
            }
            .to_string()
        })
    }

    #[test]
    fn pipes() {
        let (r, w) = (pipe(3, 7, false), pipe(4, 7, true));
        assert!(pipe_within(&r, [r, w].iter()));
        assert_eq!(say(&r, "pipe:[7]", &[r, w]), None);
        // Only the read end: the writer is another process.
        assert_eq!(
            say(&r, "pipe:[7]", &[r]).as_deref(),
            Some("fd 3 (pipe:[7]) is one end of a pipe to another process: cr cannot restore that yet")
        );
        // Both ends, but another process holds one too.
        let shared = CrFd {
            flags: CR_FD_F_SHARED,
            ..w
        };
        assert!(!pipe_within(&r, [r, shared].iter()));
        assert_eq!(
            fd_obstacle(&r, b"pipe:[7]", [r, shared].iter()),
            Some(FdObstacle::PipeToOther)
        );
    }

    #[test]
    fn sockets_deleted_files_and_special_kinds() {
        let s = fd(CR_FD_SOCKET, libc::S_IFSOCK | 0o777, libc::O_RDWR);
        assert_eq!(
            say(&s, "socket:[99]", &[s]).as_deref(),
            Some("fd 3 (socket:[99]) is a socket: cr cannot restore sockets yet")
        );
        let d = fd(CR_FD_REG, libc::S_IFREG | 0o600, libc::O_RDWR);
        assert_eq!(
            say(&d, "/memfd:x (deleted)", &[d]).as_deref(),
            Some("fd 3 (/memfd:x (deleted)) is a deleted file: cr cannot restore its contents")
        );
        assert_eq!(say(&d, "/tmp/kept", &[d]), None);
        let e = fd(CR_FD_ANON, 0o600, libc::O_RDWR);
        assert_eq!(
            say(&e, "anon_inode:[eventfd]", &[e]).as_deref(),
            Some("fd 3 (anon_inode:[eventfd]) is an eventfd: cr cannot restore that yet")
        );
        let l = fd(CR_FD_OTHER, libc::S_IFLNK | 0o777, libc::O_PATH);
        assert_eq!(
            say(&l, "/tmp/l", &[l]).as_deref(),
            Some("fd 3 (/tmp/l) is an O_PATH fd on a symlink: cr cannot restore that yet")
        );
        // Bytes that are not UTF-8 are shown, not dropped.
        let bad = fd_obstacle(&d, b"/tmp/\xff (deleted)", [d].iter()).unwrap();
        let text = FdRefusal {
            fd: 3,
            path: b"/tmp/\xff\xfe (deleted)",
            obstacle: bad,
        }
        .to_string();
        assert!(text.starts_with("fd 3 (/tmp/"), "{text}");
        let raw = FdRefusal {
            fd: 3,
            path: &[b'/', 0xff, b'x'],
            obstacle: bad,
        }
        .to_string();
        assert!(raw.starts_with("fd 3 (/\\xffx)"), "{raw}");
    }
}
