// SPDX-License-Identifier: GPL-2.0

//! crctl's side of the cluster: calls to this host's crd on its unix socket
//! (crd knows who asks from the socket's peer credentials), for `exec`,
//! `kill`, `wait` and `ps` (Documentation/cluster.rst).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crcluster::proto::{Fault, Message, Op, Proc, Reply, Target, MAX_MESSAGE};

use crate::{Error, Result};

/// Where crd listens for crctl.
pub const DEFAULT_SOCKET: &str = "/run/cr/crd.sock";

/// A connection to this host's crd.
pub struct Crd {
    s: UnixStream,
}

fn bad(what: &str) -> Error {
    Error::Crd(format!("crd answered {what}"))
}

impl Crd {
    pub fn connect(path: &Path) -> Result<Crd> {
        match UnixStream::connect(path) {
            Ok(s) => Ok(Crd { s }),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Err(Error::Crd(format!(
                    "the cluster daemon is not running here (nothing listens on {}): start crd",
                    path.display()
                )))
            }
            Err(e) => Err(Error::Crd(format!(
                "cannot reach crd on {}: {e}",
                path.display()
            ))),
        }
    }

    /// Sends one message.
    pub fn send(&mut self, m: &Message) -> Result<()> {
        let f = m.encode();
        let mut out = Vec::with_capacity(4 + f.len());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
        self.s
            .write_all(&out)
            .map_err(|e| Error::Crd(format!("crd went away: {e}")))
    }

    /// The next message, whatever it is.
    pub fn recv(&mut self) -> Result<Message> {
        let mut len = [0u8; 4];
        self.s
            .read_exact(&mut len)
            .map_err(|_| Error::Crd("crd went away before it answered".into()))?;
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_MESSAGE {
            return Err(bad("a frame longer than allowed"));
        }
        let mut buf = vec![0u8; n];
        self.s
            .read_exact(&mut buf)
            .map_err(|_| Error::Crd("crd went away while it answered".into()))?;
        Message::decode(&buf).map_err(|e| Error::Crd(format!("crd's answer is {e}")))
    }

    /// The next answer; a fault is the error it says.
    fn answer(&mut self) -> Result<std::result::Result<Reply, Fault>> {
        match self.recv()? {
            Message::Answer(a) => Ok(a),
            _ => Err(bad("with something that is not an answer")),
        }
    }

    /// Calls `op` on `target`: its one reply.
    pub fn call(&mut self, target: Target, op: Op) -> Result<Reply> {
        self.send(&Message::Call { target, op })?;
        self.answer()?.map_err(|f| Error::Crd(f.text))
    }

    /// `ps` on `target`: every process listed, and what could not be
    /// listed (an unreachable host) as warnings.
    pub fn ps(&mut self, target: Target, all: bool) -> Result<(Vec<Proc>, Vec<String>)> {
        self.send(&Message::Call {
            target,
            op: Op::Ps { all },
        })?;
        let (mut procs, mut warnings) = (Vec::new(), Vec::new());
        loop {
            match self.answer()? {
                Ok(Reply::Procs { procs: p, more }) => {
                    procs.extend(p);
                    if !more {
                        return Ok((procs, warnings));
                    }
                }
                Ok(_) => return Err(bad("a ps with something else")),
                Err(f) => warnings.push(f.text),
            }
        }
    }
}

/// A signal by name (`TERM`, `SIGTERM`) or number (1 to 31).
pub fn parse_signal(s: &str) -> std::result::Result<i32, String> {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    if let Ok(n) = s.parse::<i32>() {
        return if (0..=31).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is not a signal crctl sends (0 to 31)"))
        };
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| i as i32 + 1)
        .ok_or_else(|| format!("{s} is not a signal name (HUP, INT, KILL, TERM, ...)"))
}

/// What `crctl wait` says and exits with for a wait status: the exit code,
/// or 128 + the signal that ended it.
pub fn exit_of(status: i32) -> (u8, Option<i32>) {
    let sig = status & 0x7f;
    if sig == 0 {
        (((status >> 8) & 0xff) as u8, None)
    } else {
        ((128 + sig) as u8, Some(sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("usr1"), Ok(10));
        assert_eq!(parse_signal("0"), Ok(0));
        assert_eq!(parse_signal("31"), Ok(31));
        assert!(parse_signal("32").is_err());
        assert!(parse_signal("-1").is_err());
        assert!(parse_signal("FOO").is_err());
    }

    #[test]
    fn exits() {
        assert_eq!(exit_of(0), (0, None));
        assert_eq!(exit_of(3 << 8), (3, None));
        assert_eq!(exit_of(15), (143, Some(15)));
        assert_eq!(exit_of(9 | 0x80), (137, Some(9)));
    }
}
