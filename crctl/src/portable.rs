// SPDX-License-Identifier: GPL-2.0

//! What pins a process to its host. A migration or a remote fork opens the
//! process's fds again by path on another host, where a device's path names
//! that host's device: another disk, another terminal. Only the devices
//! that are the same everywhere and hold no state go along
//! (Documentation/cluster.rst, "Migration").

use std::fmt;
use std::os::unix::fs::MetadataExt;

use crate::image::Image;

/// The devices a process may hold and still move to another host.
pub const PORTABLE_DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

/// An fd that keeps its process on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub fd: i32,
    pub path: String,
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fd {} is {}, a device of this host (only {} go to another host)",
            self.fd,
            self.path,
            PORTABLE_DEVICES.join(", ")
        )
    }
}

/// Whether an fd of inode mode `mode` at `path` pins its process: a
/// character or block device (terminals included) other than the
/// [`PORTABLE_DEVICES`].
pub fn pins(mode: u32, path: &str) -> bool {
    let kind = mode & 0o170000;
    (kind == 0o020000 || kind == 0o060000) && !PORTABLE_DEVICES.contains(&path)
}

/// The first fd of the image that pins its process, if any.
pub fn image_pin(img: &Image) -> Option<Pin> {
    img.fds
        .iter()
        .find(|(f, path)| pins(f.mode, path))
        .map(|(f, path)| Pin {
            fd: f.fd,
            path: path.clone(),
        })
}

/// The first fd of running process `pid` that pins it, as far as
/// `/proc/PID/fd` shows (which takes the ptrace check a checkpoint takes;
/// none if it cannot be read: the checkpoint then says why). The image is
/// judged again where it is restored: an fd opened meanwhile is caught
/// there.
pub fn live_pin(pid: u32) -> Option<Pin> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds.into_iter().find_map(|fd| {
        let link = format!("/proc/{pid}/fd/{fd}");
        let st = std::fs::metadata(&link).ok()?;
        let path = std::fs::read_link(&link).ok()?;
        let path = path.to_string_lossy().into_owned();
        pins(st.mode(), &path).then_some(Pin { fd, path })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_pin_but_the_stateless_four() {
        for d in PORTABLE_DEVICES {
            assert!(!pins(0o020666, d), "{d}");
        }
        assert!(pins(0o020620, "/dev/pts/0"));
        assert!(pins(0o020600, "/dev/kmsg"));
        assert!(pins(0o060660, "/dev/sda"));
        assert!(!pins(0o100644, "/dev/sda.img"));
        assert!(!pins(0o040755, "/dev"));
        assert!(!pins(0o010600, "pipe:[12]"));
        let p = Pin {
            fd: 3,
            path: "/dev/sda".into(),
        };
        assert_eq!(
            p.to_string(),
            "fd 3 is /dev/sda, a device of this host (only /dev/null, /dev/zero, /dev/random, /dev/urandom go to another host)"
        );
    }
}
