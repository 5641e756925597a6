// SPDX-License-Identifier: GPL-2.0

//! The operations on this host's processes, run as the caller: `exec` starts
//! a program with the caller's uid and gid (never crd's), `kill` follows
//! kill(2)'s rule for the caller's uid, `wait` and `ps` show a caller their
//! own processes (or any to root). A remote caller's uid is the one its
//! host's crd saw on its local socket (the cluster is one administrative
//! domain: Documentation/cluster.rst, security model).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crcluster::proto::{Cred, Fault, FaultCode, Proc, CLASS_LOCAL, CLASS_REMOTE};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use tokio::sync::watch;

/// A process `exec` started: whose it is, and its wait status once ended.
struct Child {
    uid: u32,
    status: watch::Receiver<Option<i32>>,
}

/// Processes crd started, by pid; an ended one is kept (for `wait`) until
/// [`KEEP_ENDED`] newer ones have ended.
#[derive(Default, Clone)]
pub struct Children(Arc<Mutex<ChildTable>>);

#[derive(Default)]
struct ChildTable {
    by_pid: HashMap<u32, Child>,
    ended: std::collections::VecDeque<u32>,
}

const KEEP_ENDED: usize = 4096;

fn fault(code: FaultCode, text: impl Into<String>) -> Fault {
    Fault::new(code, text)
}

impl Children {
    /// Starts `argv` in `cwd` as `cred`, stdio on /dev/null; its pid.
    pub fn exec(&self, cred: Cred, argv: &[Vec<u8>], cwd: &[u8]) -> Result<u32, Fault> {
        let cwd = Path::new(OsStr::from_bytes(cwd));
        if !cwd.is_dir() {
            return Err(fault(
                FaultCode::Failed,
                format!("no directory {} on this host", cwd.display()),
            ));
        }
        let mut cmd = tokio::process::Command::new(OsStr::from_bytes(&argv[0]));
        cmd.args(argv[1..].iter().map(|a| OsStr::from_bytes(a)))
            .current_dir(cwd)
            .uid(cred.uid)
            .gid(cred.gid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own session: a signal to crd's group does not reach it.
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|e| {
            fault(
                FaultCode::Failed,
                format!("cannot start {}: {e}", String::from_utf8_lossy(&argv[0])),
            )
        })?;
        let pid = child
            .id()
            .ok_or_else(|| fault(FaultCode::Failed, "the child ended at once"))?;
        let (tx, rx) = watch::channel(None);
        self.0.lock().unwrap().by_pid.insert(
            pid,
            Child {
                uid: cred.uid,
                status: rx,
            },
        );
        let table = self.0.clone();
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => s.into_raw(),
                Err(_) => 0x7f00, // cannot happen for our own child
            };
            let _ = tx.send(Some(status));
            let mut t = table.lock().unwrap();
            t.ended.push_back(pid);
            if t.ended.len() > KEEP_ENDED {
                if let Some(old) = t.ended.pop_front() {
                    t.by_pid.remove(&old);
                }
            }
        });
        Ok(pid)
    }

    /// Waits for process `pid` (one `exec` started) to end; its wait status.
    pub async fn wait(&self, cred: Cred, host: u16, pid: u32) -> Result<i32, Fault> {
        let mut rx = {
            let t = self.0.lock().unwrap();
            let Some(c) = t.by_pid.get(&pid) else {
                return Err(fault(
                    FaultCode::NotChild,
                    format!("process {host}:{pid} was not started by crctl exec (only those can be waited for through crd)"),
                ));
            };
            if cred.uid != 0 && cred.uid != c.uid {
                return Err(fault(
                    FaultCode::Perm,
                    format!("process {host}:{pid} is not yours"),
                ));
            }
            c.status.clone()
        };
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return Ok(s);
            }
            if rx.changed().await.is_err() {
                return Err(fault(FaultCode::Failed, "crd lost track of the process"));
            }
        }
    }
}

/// The uids of `/proc/PID/status`: real, effective, saved.
pub fn uids(pid: u32) -> Option<[u32; 3]> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("Uid:"))?;
    let mut it = line[4..].split_ascii_whitespace().map(|w| w.parse::<u32>());
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

/// Sends `sig` (0: check only) to `pid` if kill(2) would let `cred` do it.
pub fn kill(cred: Cred, host: u16, pid: u32, sig: i32) -> Result<(), Fault> {
    let no_process = || fault(FaultCode::NoProcess, format!("no process {host}:{pid}"));
    let p = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(no_process)?;
    let signal = if sig == 0 {
        None
    } else {
        Some(Signal::from_named_raw(sig).ok_or_else(|| {
            fault(
                FaultCode::Invalid,
                format!("{sig} is not a signal crd sends (1 to 31)"),
            )
        })?)
    };
    // The pidfd pins the process: the check and the signal are for the same one.
    let fd = pidfd_open(p, PidfdFlags::empty()).map_err(|_| no_process())?;
    let [real, _, saved] = uids(pid).ok_or_else(no_process)?;
    if cred.uid != 0 && cred.uid != real && cred.uid != saved {
        return Err(fault(
            FaultCode::Perm,
            format!("not allowed to signal process {host}:{pid}: it is not yours"),
        ));
    }
    if let Some(s) = signal {
        pidfd_send_signal(&fd, s).map_err(|e| match e {
            rustix::io::Errno::SRCH => no_process(),
            e => fault(
                FaultCode::Failed,
                format!("cannot signal process {host}:{pid}: {e}"),
            ),
        })?;
    }
    Ok(())
}

/// The command line of process `pid`, its arguments joined by spaces
/// (empty for a kernel thread or a process gone).
pub fn command_line(pid: u32) -> Vec<u8> {
    let mut command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    while command.last() == Some(&0) {
        command.pop();
    }
    for b in command.iter_mut() {
        if *b == 0 {
            *b = b' ';
        }
    }
    command
}

/// Sends `sig` to `pid` for a deputy (its sender passed kill(2)'s check
/// where the deputy is).
pub fn signal(pid: u32, sig: i32) -> Result<(), Fault> {
    let no_process = || fault(FaultCode::NoProcess, format!("no process {pid}"));
    let p = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(no_process)?;
    let signal = Signal::from_named_raw(sig).ok_or_else(|| {
        fault(
            FaultCode::Invalid,
            format!("{sig} is not a signal crd forwards (1 to 31)"),
        )
    })?;
    let fd = pidfd_open(p, PidfdFlags::empty()).map_err(|_| no_process())?;
    pidfd_send_signal(&fd, signal).map_err(|e| {
        fault(
            FaultCode::Failed,
            format!("cannot signal process {pid}: {e}"),
        )
    })
}

/// This host's processes (`host` is this host's id): the caller's, or all.
/// `deputies` (pid, the host its process runs on, its command line) are
/// listed with class remote.
pub fn ps(cred: Cred, all: bool, host: u16, deputies: &[(u32, u16, Vec<u8>)]) -> Vec<Proc> {
    let mut procs = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return procs;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Some([real, ..]) = uids(pid) else {
            continue;
        };
        if !all && real != cred.uid {
            continue;
        }
        // /proc/PID/stat: "pid (comm) S ...": the state follows the last ')'.
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.iter().rposition(|&b| b == b')') else {
            continue;
        };
        let state = stat.get(close + 2).copied().unwrap_or(b'?');
        let mut command = command_line(pid);
        if command.is_empty() {
            // A kernel thread: its name, as ps shows it.
            let open = stat.iter().position(|&b| b == b'(').unwrap_or(0);
            command = [b"[", &stat[open + 1..close], b"]"].concat();
        }
        let deputy = deputies.iter().find(|d| d.0 == pid);
        if let Some((_, _, c)) = deputy {
            command = c.clone();
        }
        command.truncate(256);
        procs.push(Proc {
            host,
            pid,
            uid: real,
            state,
            class: if deputy.is_some() {
                CLASS_REMOTE
            } else {
                CLASS_LOCAL
            },
            runs_on: deputy.map_or(host, |d| d.1),
            command,
        });
    }
    procs.sort_by_key(|p| p.pid);
    procs
}
