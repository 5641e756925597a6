// SPDX-License-Identifier: GPL-2.0

//! What pins a process to its host. A migration or a remote fork opens the
//! process's fds again by path on another host, where a device's path names
//! that host's device: another disk, another terminal. Only the devices
//! that are the same everywhere and hold no state go along
//! (Documentation/cluster.rst, "Migration"), and for a migration a terminal
//! at fd 1 or 2, whose output is forwarded home (a terminal of its own on
//! the target, whose output crd writes into the home's).

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
    /// A terminal at fd 0 of a process whose terminal output would be
    /// forwarded: its input is not.
    pub terminal_input: bool,
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terminal_input {
            return write!(
                f,
                "fd {} is the terminal {} of this host: a migration forwards a terminal's output home, not its input",
                self.fd, self.path
            );
        }
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

/// Whether a device of number `rdev` is a terminal: a pseudo-terminal's
/// side, a virtual console or serial line, /dev/tty or /dev/console.
pub fn is_terminal(rdev: u64) -> bool {
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    major == 4 || (136..=143).contains(&major) || (major == 5 && minor <= 1)
}

/// The pin of an fd `fd` (of inode mode `mode`, at `path`, a terminal or
/// not), if it is one; `forward`: a migration's, whose terminal output at
/// fds 1 and 2 goes home.
fn pin_of(fd: i32, mode: u32, path: &str, terminal: bool, forward: bool) -> Option<Pin> {
    if !pins(mode, path) || (forward && terminal && (fd == 1 || fd == 2)) {
        return None;
    }
    Some(Pin {
        fd,
        path: path.to_owned(),
        terminal_input: forward && terminal && fd == 0,
    })
}

/// The first fd of the image that pins its process, if any (`forward`: as
/// [`pin_of`]).
pub fn image_pin(img: &Image, forward: bool) -> Option<Pin> {
    img.fds.iter().find_map(|(f, path)| {
        let terminal = f.r#type == crate::uapi::CR_FD_TTY;
        pin_of(f.fd, f.mode, path, terminal, forward)
    })
}

/// The first fd of running process `pid` that pins it, as far as
/// `/proc/PID/fd` shows (which takes the ptrace check a checkpoint takes;
/// none if it cannot be read: the checkpoint then says why). The image is
/// judged again where it is restored: an fd opened meanwhile is caught
/// there.
pub fn live_pin(pid: u32, forward: bool) -> Option<Pin> {
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
        pin_of(fd, st.mode(), &path, is_terminal(st.rdev()), forward)
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
            terminal_input: false,
        };
        assert_eq!(
            p.to_string(),
            "fd 3 is /dev/sda, a device of this host (only /dev/null, /dev/zero, /dev/random, /dev/urandom go to another host)"
        );
    }

    #[test]
    fn a_migration_forwards_terminal_output_only() {
        let tty = 0o020620;
        // Fds 1 and 2: forwarded in a migration, pinned in a fork.
        assert_eq!(pin_of(1, tty, "/dev/pts/0", true, true), None);
        assert_eq!(pin_of(2, tty, "/dev/pts/0", true, true), None);
        assert!(pin_of(1, tty, "/dev/pts/0", true, false).is_some());
        // Its input, and a terminal at fd 3, stay.
        let p = pin_of(0, tty, "/dev/pts/0", true, true).unwrap();
        assert_eq!(
            p.to_string(),
            "fd 0 is the terminal /dev/pts/0 of this host: a migration forwards a terminal's output home, not its input"
        );
        assert!(
            !pin_of(3, tty, "/dev/pts/0", true, true)
                .unwrap()
                .terminal_input
        );
        // Another device at fd 1 is no terminal.
        assert!(pin_of(1, 0o020600, "/dev/kmsg", false, true).is_some());
        assert!(is_terminal(rustix::fs::makedev(136, 3)));
        assert!(is_terminal(rustix::fs::makedev(4, 64)));
        assert!(is_terminal(rustix::fs::makedev(5, 0)));
        assert!(!is_terminal(rustix::fs::makedev(5, 2)));
        assert!(!is_terminal(rustix::fs::makedev(1, 3)));
    }
}
