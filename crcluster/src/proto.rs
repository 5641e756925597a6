// SPDX-License-Identifier: GPL-2.0

//! The crd protocol's messages and their encoding (Documentation/cluster.rst,
//! "The protocol").
//!
//! Every message is one frame: a tag byte, then its fields in order;
//! integers little-endian of fixed width, byte strings as a u32 length and
//! the bytes, lists as a u32 count and the items. A frame is at most
//! [`MAX_MESSAGE`] bytes (one Noise transport message between hosts). The
//! decoder takes hostile bytes: it checks every length against what is left
//! and against the limits here, refuses trailing bytes and unknown tags, and
//! never allocates more than the frame's size.

use std::fmt;

use crate::map::HostRef;

/// The protocol version a crd speaks; peers must speak the same.
pub const VERSION: u16 = 5;
/// The largest frame: a Noise transport message (65535 bytes) less its tag.
pub const MAX_MESSAGE: usize = 65535 - 16;
/// Arguments an exec may carry, and bytes each.
pub const MAX_ARGS: usize = 256;
pub const MAX_ARG: usize = 4096;
/// The longest text (a name, a fault's reason).
pub const MAX_TEXT: usize = 1024;
/// The most image bytes one `Data` message carries (the frame less its tag
/// and length).
pub const MAX_DATA: usize = MAX_MESSAGE - 5;

/// Who asks, as the asking host's crd saw it (`SO_PEERCRED` of crctl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
}

/// Where a call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The host crctl runs on.
    This,
    /// One host of the map.
    Host(HostRef),
    /// Every host of the map (`ps`).
    All,
}

/// An operation on a host's processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Is the host there?
    Ping,
    /// Start `argv` (argv[0] is the program, looked up in PATH) in `cwd`,
    /// as the caller.
    Exec { argv: Vec<Vec<u8>>, cwd: Vec<u8> },
    /// Send signal `sig` (0: only check) to process `pid`.
    Kill { pid: u32, sig: i32 },
    /// Wait for process `pid` (one `Exec` started) to end.
    Wait { pid: u32 },
    /// The host's processes: the caller's, or all.
    Ps { all: bool },
    /// Move process `pid` to host `to` (`fork`: start a copy there, the
    /// original runs on). Run by the process's host, which streams the
    /// image to `to` with [`Op::Receive`].
    Migrate { pid: u32, to: HostRef, fork: bool },
    /// Host to host only: restore the image that follows (`Data` messages,
    /// then `End`); for a migration (`fork` false) hold the copy until a
    /// `Commit` (Documentation/cluster.rst, "Migration"). `token` names the
    /// migration among the sender's, for a [`Op::Resume`].
    ///
    /// `home` names the process's home for a migration: the host and pid of
    /// its deputy, to which the copy's end is told ([`Op::Ended`]); host 0
    /// for none (a fork).
    ///
    /// `clocks`: the process's clocks on the sending host as the request
    /// goes, for the copy's to go on from (a time namespace; root's only).
    Receive {
        fork: bool,
        token: u64,
        home: (u16, u32),
        clocks: Option<Clocks>,
    },
    /// Host to host only: the commit of migration `token` of the sending
    /// host, whose connection broke after `Held`: start the held copy (or
    /// say again that it started).
    Resume { token: u64 },
    /// Host to host only, before a migration or fork touches the process:
    /// are these files there, and the same? Answered `Pong`, or a fault
    /// naming the first that is not.
    Probe { files: Vec<ProbeFile> },
    /// Measure the link to host `to`: stream `bytes` of `Data` to it over
    /// the channel a migration uses, as [`Op::Sink`]; answered with `Link`.
    LinkTest { to: HostRef, bytes: u64 },
    /// Host to host only: count the `Data` that follows until `End` and
    /// answer `Link` with the count.
    Sink,
    /// Host to host only, from a process's home: signal `sig` was sent to
    /// the deputy of the copy `pid` that runs on the receiving host.
    Forward { pid: u32, sig: i32 },
    /// Host to host only, to a process's home: the copy of the process
    /// whose deputy is `home_pid` ended with wait status `status`.
    Ended { home_pid: u32, status: i32 },
    /// Host to host only, to a process's home: the copy of the process
    /// whose deputy is `home_pid` moved from the sender to process `pid` of
    /// host `host`.
    Relocated { home_pid: u32, host: u16, pid: u32 },
    /// Host to host only, to a process's home: what its copy writes on fd
    /// `fd` (1 or 2), which led to a pipe at home, follows as `Data` until
    /// `End`; the home writes it into the deputy's fd.
    Output { home_pid: u32, fd: u8 },
    /// Host to host only, to a process's home: what the deputy's fd `fd`
    /// (0), a pipe at home, has to read goes to the sender as `Data`, at
    /// most as many bytes as the sender's `Want` messages asked for so far;
    /// `End` if the pipe reaches its end. The sender's `End` stops it: the
    /// home answers `Pong` once it reads no more (every `Data` it sent comes
    /// before), so nothing read is lost (Documentation/cluster.rst).
    Input { home_pid: u32, fd: u8 },
    /// Stream the image of process `pid` back as `Data` until `End` (the
    /// remote class: a checkpoint of another host's process through this
    /// host's module). With `kill` the process stays frozen after `End`
    /// until a `Commit` comes back (the image is safe at the asker), then
    /// ends; without one it runs on. `partial`: write the image even if a
    /// restore would refuse it. `for_user`: crctl to its crd only, from
    /// root (`crctl serve` asks for the user the module named).
    Checkpoint {
        pid: u32,
        kill: bool,
        partial: bool,
        timeout_ms: u32,
        for_user: Option<Cred>,
    },
}

/// A process's clocks at one moment, in nanoseconds: `CLOCK_MONOTONIC` and
/// `CLOCK_BOOTTIME` as the process reads them (its time namespace's), and
/// the host's `CLOCK_REALTIME` then (shared time: how long the move took).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    pub monotonic_ns: i64,
    pub boottime_ns: i64,
    pub realtime_ns: i64,
}

/// The most a link test may send (16 GiB).
pub const MAX_LINK_TEST: u64 = 16 << 30;

/// A file a process has open (`fd` 0 or more) or mapped (`fd` -1), as its
/// host sees it, for an [`Op::Probe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeFile {
    pub fd: i32,
    pub dir: bool,
    pub ino: u64,
    pub size: u64,
    pub path: Vec<u8>,
}

/// The most files a probe names.
pub const MAX_PROBE: usize = 1024;

/// A process as `ps` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub host: u16,
    pub pid: u32,
    pub uid: u32,
    /// `/proc/PID/stat`'s state letter.
    pub state: u8,
    /// The process class: [`CLASS_LOCAL`], or [`CLASS_REMOTE`] for a
    /// deputy.
    pub class: u8,
    /// The host the process runs on: `host`, or for a deputy its copy's.
    pub runs_on: u16,
    pub command: Vec<u8>,
}

pub const CLASS_LOCAL: u8 = 0;
pub const CLASS_REMOTE: u8 = 1;

/// What an operation gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Pong,
    /// Process `pid` of host `host` started.
    Started {
        host: u16,
        pid: u32,
    },
    Signalled,
    /// The raw wait status (as waitpid() gives it).
    Exited {
        status: i32,
    },
    /// Some of the processes; more replies follow while `more`.
    Procs {
        procs: Vec<Proc>,
        more: bool,
    },
    /// The image was restored as process `pid`, which waits for the commit.
    Held {
        pid: u32,
    },
    /// A migration or fork is done: the copy is process `pid` of `host`;
    /// the image was `bytes` long, the whole took `total_ns`, and the
    /// process did not run for at most `stopped_ns` (a fork: 0, its
    /// checkpoint's stop is crctl checkpoint's to tell).
    Moved {
        host: u16,
        pid: u32,
        bytes: u64,
        total_ns: u64,
        stopped_ns: u64,
    },
    /// A link test: `bytes` went through in `ns` (the receiver: 0).
    Link {
        bytes: u64,
        ns: u64,
    },
    /// How a `Checkpoint` went, as the process's host's module said it:
    /// `errno` 0 with the image's figures, or an errno, a `CR_FAIL_*`
    /// reason, the address at fault and the text crctl said there.
    Checkpointed {
        errno: u16,
        reason: u32,
        addr: u64,
        bytes: u64,
        pages: u64,
        frozen_ns: u64,
        threads: u32,
        vmas: u32,
        text: String,
    },
}

/// Why an operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum FaultCode {
    /// The caller may not act on that process.
    Perm = 1,
    NoProcess = 2,
    /// Only processes `exec` started can be waited for.
    NotChild = 3,
    /// The host did not answer, or went away.
    Unreachable = 4,
    /// No such host in the map.
    NoHost = 5,
    /// The request does not make sense (bad arguments).
    Invalid = 6,
    /// The operation failed (the text says how).
    Failed = 7,
    /// The peer speaks another protocol version.
    Version = 8,
}

impl FaultCode {
    fn from_u16(v: u16) -> Option<FaultCode> {
        use FaultCode::*;
        [
            Perm,
            NoProcess,
            NotChild,
            Unreachable,
            NoHost,
            Invalid,
            Failed,
            Version,
        ]
        .into_iter()
        .find(|c| *c as u16 == v)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    pub text: String,
}

impl Fault {
    pub fn new(code: FaultCode, text: impl Into<String>) -> Fault {
        let mut text = text.into();
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Fault { code, text }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The payload of each handshake message: who the sender is.
    Hello {
        version: u16,
        host: u16,
        name: String,
    },
    /// Host to host: an operation, as `cred`.
    Request { cred: Cred, op: Op },
    /// crctl to its host's crd (a unix socket, whose peer credentials say
    /// who asks).
    Call { target: Target, op: Op },
    /// The answer to a request or call (several for `Procs` with `more`).
    Answer(Result<Reply, Fault>),
    /// Sent every second while an operation runs: the host is alive.
    Beat,
    /// Bytes of an image, in order (after a `Receive` request).
    Data(Vec<u8>),
    /// The image is complete.
    End,
    /// The original has ended: start the held copy.
    Commit,
    /// After an `Input` request: send up to this many bytes more.
    Want(u32),
}

/// Why a frame was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

const T_HELLO: u8 = 1;
const T_REQUEST: u8 = 2;
const T_CALL: u8 = 3;
const T_ANSWER: u8 = 4;
const T_BEAT: u8 = 5;
const T_DATA: u8 = 6;
const T_END: u8 = 7;
const T_COMMIT: u8 = 8;
const T_WANT: u8 = 9;

/// The most one `Want` asks for (the biggest pipe a user may make).
pub const MAX_WANT: u32 = 1 << 20;

const OP_PING: u8 = 1;
const OP_EXEC: u8 = 2;
const OP_KILL: u8 = 3;
const OP_WAIT: u8 = 4;
const OP_PS: u8 = 5;
const OP_MIGRATE: u8 = 6;
const OP_RECEIVE: u8 = 7;
const OP_LINK_TEST: u8 = 8;
const OP_SINK: u8 = 9;
const OP_RESUME: u8 = 10;
const OP_PROBE: u8 = 11;
const OP_FORWARD: u8 = 12;
const OP_ENDED: u8 = 13;
const OP_RELOCATED: u8 = 14;
const OP_OUTPUT: u8 = 15;
const OP_CHECKPOINT: u8 = 16;
const OP_INPUT: u8 = 17;

/// `Op::Checkpoint`'s flag bits.
const CK_KILL: u8 = 1 << 0;
const CK_PARTIAL: u8 = 1 << 1;
const CK_FOR_USER: u8 = 1 << 2;

const R_PONG: u8 = 1;
const R_STARTED: u8 = 2;
const R_SIGNALLED: u8 = 3;
const R_EXITED: u8 = 4;
const R_PROCS: u8 = 5;
const R_HELD: u8 = 6;
const R_MOVED: u8 = 7;
const R_LINK: u8 = 8;
const R_CHECKPOINTED: u8 = 9;
const R_FAULT: u8 = 0x80;

const TG_THIS: u8 = 0;
const TG_ID: u8 = 1;
const TG_NAME: u8 = 2;
const TG_ALL: u8 = 3;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn host(&mut self) -> Result<HostRef, DecodeError> {
        match self.u8()? {
            TG_ID => Ok(HostRef::Id(self.u16()?)),
            TG_NAME => decode_name(self),
            _ => Err(DecodeError("unknown host reference")),
        }
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError("a flag is neither 0 nor 1")),
        }
    }
    fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(DecodeError("a string is longer than allowed"));
        }
        self.take(n)
    }
    fn text(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes(MAX_TEXT)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError("a text is not UTF-8"))
    }
    /// A count of items each at least `min` bytes long: checked against the
    /// bytes left, so a count never makes the decoder allocate more than
    /// the frame holds.
    fn count(&mut self, max: usize, min: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n > max || n.saturating_mul(min) > self.0.len() {
            return Err(DecodeError("a list is longer than allowed"));
        }
        Ok(n)
    }
}

/// A host named by id (`TG_ID`) or name (`TG_NAME`).
fn encode_host(w: &mut Writer, h: &HostRef) {
    match h {
        HostRef::Id(id) => {
            w.u8(TG_ID);
            w.u16(*id);
        }
        HostRef::Name(n) => {
            w.u8(TG_NAME);
            w.bytes(n.as_bytes());
        }
    }
}

/// The name of a host after its `TG_NAME` tag.
fn decode_name(r: &mut Reader<'_>) -> Result<HostRef, DecodeError> {
    let n = r.text()?;
    match HostRef::parse(&n) {
        Ok(HostRef::Name(n)) => Ok(HostRef::Name(n)),
        _ => Err(DecodeError("not a host name")),
    }
}

impl Op {
    fn encode(&self, w: &mut Writer) {
        match self {
            Op::Ping => w.u8(OP_PING),
            Op::Exec { argv, cwd } => {
                w.u8(OP_EXEC);
                w.u32(argv.len() as u32);
                for a in argv {
                    w.bytes(a);
                }
                w.bytes(cwd);
            }
            Op::Kill { pid, sig } => {
                w.u8(OP_KILL);
                w.u32(*pid);
                w.i32(*sig);
            }
            Op::Wait { pid } => {
                w.u8(OP_WAIT);
                w.u32(*pid);
            }
            Op::Ps { all } => {
                w.u8(OP_PS);
                w.u8(*all as u8);
            }
            Op::Migrate { pid, to, fork } => {
                w.u8(OP_MIGRATE);
                w.u32(*pid);
                encode_host(w, to);
                w.u8(*fork as u8);
            }
            Op::Receive {
                fork,
                token,
                home,
                clocks,
            } => {
                w.u8(OP_RECEIVE);
                w.u8(*fork as u8);
                w.u64(*token);
                w.u16(home.0);
                w.u32(home.1);
                w.u8(clocks.is_some() as u8);
                if let Some(c) = clocks {
                    w.u64(c.monotonic_ns as u64);
                    w.u64(c.boottime_ns as u64);
                    w.u64(c.realtime_ns as u64);
                }
            }
            Op::Resume { token } => {
                w.u8(OP_RESUME);
                w.u64(*token);
            }
            Op::Probe { files } => {
                w.u8(OP_PROBE);
                w.u32(files.len() as u32);
                for f in files {
                    w.i32(f.fd);
                    w.u8(f.dir as u8);
                    w.u64(f.ino);
                    w.u64(f.size);
                    w.bytes(&f.path);
                }
            }
            Op::LinkTest { to, bytes } => {
                w.u8(OP_LINK_TEST);
                encode_host(w, to);
                w.u64(*bytes);
            }
            Op::Sink => w.u8(OP_SINK),
            Op::Forward { pid, sig } => {
                w.u8(OP_FORWARD);
                w.u32(*pid);
                w.i32(*sig);
            }
            Op::Ended { home_pid, status } => {
                w.u8(OP_ENDED);
                w.u32(*home_pid);
                w.i32(*status);
            }
            Op::Relocated {
                home_pid,
                host,
                pid,
            } => {
                w.u8(OP_RELOCATED);
                w.u32(*home_pid);
                w.u16(*host);
                w.u32(*pid);
            }
            Op::Output { home_pid, fd } => {
                w.u8(OP_OUTPUT);
                w.u32(*home_pid);
                w.u8(*fd);
            }
            Op::Input { home_pid, fd } => {
                w.u8(OP_INPUT);
                w.u32(*home_pid);
                w.u8(*fd);
            }
            Op::Checkpoint {
                pid,
                kill,
                partial,
                timeout_ms,
                for_user,
            } => {
                w.u8(OP_CHECKPOINT);
                w.u32(*pid);
                let mut flags = 0;
                if *kill {
                    flags |= CK_KILL;
                }
                if *partial {
                    flags |= CK_PARTIAL;
                }
                if for_user.is_some() {
                    flags |= CK_FOR_USER;
                }
                w.u8(flags);
                w.u32(*timeout_ms);
                if let Some(c) = for_user {
                    w.u32(c.uid);
                    w.u32(c.gid);
                }
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Op, DecodeError> {
        Ok(match r.u8()? {
            OP_PING => Op::Ping,
            OP_EXEC => {
                let n = r.count(MAX_ARGS, 4)?;
                if n == 0 {
                    return Err(DecodeError("an exec without a program"));
                }
                let mut argv = Vec::with_capacity(n);
                for _ in 0..n {
                    let a = r.bytes(MAX_ARG)?;
                    if a.contains(&0) {
                        return Err(DecodeError("an argument holds a NUL byte"));
                    }
                    argv.push(a.to_vec());
                }
                if argv[0].is_empty() {
                    return Err(DecodeError("an exec of an empty program name"));
                }
                let cwd = r.bytes(MAX_ARG)?;
                if cwd.contains(&0) {
                    return Err(DecodeError("the directory holds a NUL byte"));
                }
                Op::Exec {
                    argv,
                    cwd: cwd.to_vec(),
                }
            }
            OP_KILL => Op::Kill {
                pid: r.u32()?,
                sig: r.i32()?,
            },
            OP_WAIT => Op::Wait { pid: r.u32()? },
            OP_PS => Op::Ps { all: r.bool()? },
            OP_MIGRATE => Op::Migrate {
                pid: r.u32()?,
                to: r.host()?,
                fork: r.bool()?,
            },
            OP_RECEIVE => Op::Receive {
                fork: r.bool()?,
                token: r.u64()?,
                home: (r.u16()?, r.u32()?),
                clocks: if r.bool()? {
                    let c = Clocks {
                        monotonic_ns: r.u64()? as i64,
                        boottime_ns: r.u64()? as i64,
                        realtime_ns: r.u64()? as i64,
                    };
                    if c.monotonic_ns < 0 || c.boottime_ns < 0 || c.realtime_ns < 0 {
                        return Err(DecodeError("a clock before its epoch"));
                    }
                    Some(c)
                } else {
                    None
                },
            },
            OP_RESUME => Op::Resume { token: r.u64()? },
            OP_PROBE => {
                // Each at least 4+1+8+8+4 bytes.
                let n = r.count(MAX_PROBE, 25)?;
                let mut files = Vec::with_capacity(n);
                for _ in 0..n {
                    let fd = r.i32()?;
                    let dir = r.bool()?;
                    let ino = r.u64()?;
                    let size = r.u64()?;
                    let path = r.bytes(MAX_ARG)?;
                    if fd < -1 || path.first() != Some(&b'/') || path.contains(&0) {
                        return Err(DecodeError(
                            "a probed file is not an fd and an absolute path",
                        ));
                    }
                    files.push(ProbeFile {
                        fd,
                        dir,
                        ino,
                        size,
                        path: path.to_vec(),
                    });
                }
                Op::Probe { files }
            }
            OP_LINK_TEST => {
                let to = r.host()?;
                let bytes = r.u64()?;
                if bytes == 0 || bytes > MAX_LINK_TEST {
                    return Err(DecodeError("a link test of 0 bytes or more than allowed"));
                }
                Op::LinkTest { to, bytes }
            }
            OP_SINK => Op::Sink,
            OP_FORWARD => Op::Forward {
                pid: r.u32()?,
                sig: r.i32()?,
            },
            OP_ENDED => Op::Ended {
                home_pid: r.u32()?,
                status: r.i32()?,
            },
            OP_RELOCATED => Op::Relocated {
                home_pid: r.u32()?,
                host: r.u16()?,
                pid: r.u32()?,
            },
            OP_OUTPUT => {
                let home_pid = r.u32()?;
                let fd = r.u8()?;
                if !(1..=2).contains(&fd) {
                    return Err(DecodeError("output of an fd other than 1 or 2"));
                }
                Op::Output { home_pid, fd }
            }
            OP_INPUT => {
                let home_pid = r.u32()?;
                let fd = r.u8()?;
                if fd != 0 {
                    return Err(DecodeError("input of an fd other than 0"));
                }
                Op::Input { home_pid, fd }
            }
            OP_CHECKPOINT => {
                let pid = r.u32()?;
                let flags = r.u8()?;
                if flags & !(CK_KILL | CK_PARTIAL | CK_FOR_USER) != 0 {
                    return Err(DecodeError("unknown checkpoint flags"));
                }
                if flags & CK_KILL != 0 && flags & CK_PARTIAL != 0 {
                    return Err(DecodeError(
                        "a checkpoint both partial and ending the process",
                    ));
                }
                let timeout_ms = r.u32()?;
                let for_user = if flags & CK_FOR_USER != 0 {
                    Some(Cred {
                        uid: r.u32()?,
                        gid: r.u32()?,
                    })
                } else {
                    None
                };
                Op::Checkpoint {
                    pid,
                    kill: flags & CK_KILL != 0,
                    partial: flags & CK_PARTIAL != 0,
                    timeout_ms,
                    for_user,
                }
            }
            _ => return Err(DecodeError("unknown operation")),
        })
    }
}

impl Message {
    /// The frame of this message. Callers keep within the limits (an exec's
    /// arguments, texts); [`Message::decode`] refuses what goes past them.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        match self {
            Message::Hello {
                version,
                host,
                name,
            } => {
                w.u8(T_HELLO);
                w.u16(*version);
                w.u16(*host);
                w.bytes(name.as_bytes());
            }
            Message::Request { cred, op } => {
                w.u8(T_REQUEST);
                w.u32(cred.uid);
                w.u32(cred.gid);
                op.encode(&mut w);
            }
            Message::Call { target, op } => {
                w.u8(T_CALL);
                match target {
                    Target::This => w.u8(TG_THIS),
                    Target::Host(h) => encode_host(&mut w, h),
                    Target::All => w.u8(TG_ALL),
                }
                op.encode(&mut w);
            }
            Message::Answer(Ok(reply)) => {
                w.u8(T_ANSWER);
                match reply {
                    Reply::Pong => w.u8(R_PONG),
                    Reply::Started { host, pid } => {
                        w.u8(R_STARTED);
                        w.u16(*host);
                        w.u32(*pid);
                    }
                    Reply::Signalled => w.u8(R_SIGNALLED),
                    Reply::Exited { status } => {
                        w.u8(R_EXITED);
                        w.i32(*status);
                    }
                    Reply::Procs { procs, more } => {
                        w.u8(R_PROCS);
                        w.u8(*more as u8);
                        w.u32(procs.len() as u32);
                        for p in procs {
                            w.u16(p.host);
                            w.u32(p.pid);
                            w.u32(p.uid);
                            w.u8(p.state);
                            w.u8(p.class);
                            w.u16(p.runs_on);
                            w.bytes(&p.command);
                        }
                    }
                    Reply::Held { pid } => {
                        w.u8(R_HELD);
                        w.u32(*pid);
                    }
                    Reply::Moved {
                        host,
                        pid,
                        bytes,
                        total_ns,
                        stopped_ns,
                    } => {
                        w.u8(R_MOVED);
                        w.u16(*host);
                        w.u32(*pid);
                        w.u64(*bytes);
                        w.u64(*total_ns);
                        w.u64(*stopped_ns);
                    }
                    Reply::Link { bytes, ns } => {
                        w.u8(R_LINK);
                        w.u64(*bytes);
                        w.u64(*ns);
                    }
                    Reply::Checkpointed {
                        errno,
                        reason,
                        addr,
                        bytes,
                        pages,
                        frozen_ns,
                        threads,
                        vmas,
                        text,
                    } => {
                        w.u8(R_CHECKPOINTED);
                        w.u16(*errno);
                        w.u32(*reason);
                        w.u64(*addr);
                        w.u64(*bytes);
                        w.u64(*pages);
                        w.u64(*frozen_ns);
                        w.u32(*threads);
                        w.u32(*vmas);
                        w.bytes(text.as_bytes());
                    }
                }
            }
            Message::Answer(Err(fault)) => {
                w.u8(T_ANSWER);
                w.u8(R_FAULT);
                w.u16(fault.code as u16);
                w.bytes(fault.text.as_bytes());
            }
            Message::Beat => w.u8(T_BEAT),
            Message::Data(d) => {
                w.u8(T_DATA);
                w.bytes(d);
            }
            Message::End => w.u8(T_END),
            Message::Commit => w.u8(T_COMMIT),
            Message::Want(n) => {
                w.u8(T_WANT);
                w.u32(*n);
            }
        }
        w.0
    }

    /// Decodes one frame, refusing anything malformed or left over.
    pub fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
        if frame.len() > MAX_MESSAGE {
            return Err(DecodeError("longer than a frame may be"));
        }
        let mut r = Reader(frame);
        let m = match r.u8()? {
            T_HELLO => {
                let version = r.u16()?;
                let host = r.u16()?;
                let name = r.text()?;
                Message::Hello {
                    version,
                    host,
                    name,
                }
            }
            T_REQUEST => {
                let cred = Cred {
                    uid: r.u32()?,
                    gid: r.u32()?,
                };
                Message::Request {
                    cred,
                    op: Op::decode(&mut r)?,
                }
            }
            T_CALL => {
                let target = match r.u8()? {
                    TG_THIS => Target::This,
                    TG_ID => Target::Host(HostRef::Id(r.u16()?)),
                    TG_NAME => Target::Host(decode_name(&mut r)?),
                    TG_ALL => Target::All,
                    _ => return Err(DecodeError("unknown target")),
                };
                Message::Call {
                    target,
                    op: Op::decode(&mut r)?,
                }
            }
            T_ANSWER => Message::Answer(match r.u8()? {
                R_PONG => Ok(Reply::Pong),
                R_STARTED => Ok(Reply::Started {
                    host: r.u16()?,
                    pid: r.u32()?,
                }),
                R_SIGNALLED => Ok(Reply::Signalled),
                R_EXITED => Ok(Reply::Exited { status: r.i32()? }),
                R_PROCS => {
                    let more = r.bool()?;
                    // Each at least 2+4+4+1+1+2+4 bytes.
                    let n = r.count(MAX_MESSAGE, 18)?;
                    let mut procs = Vec::with_capacity(n);
                    for _ in 0..n {
                        procs.push(Proc {
                            host: r.u16()?,
                            pid: r.u32()?,
                            uid: r.u32()?,
                            state: r.u8()?,
                            class: r.u8()?,
                            runs_on: r.u16()?,
                            command: r.bytes(MAX_ARG)?.to_vec(),
                        });
                    }
                    Ok(Reply::Procs { procs, more })
                }
                R_HELD => Ok(Reply::Held { pid: r.u32()? }),
                R_MOVED => Ok(Reply::Moved {
                    host: r.u16()?,
                    pid: r.u32()?,
                    bytes: r.u64()?,
                    total_ns: r.u64()?,
                    stopped_ns: r.u64()?,
                }),
                R_LINK => Ok(Reply::Link {
                    bytes: r.u64()?,
                    ns: r.u64()?,
                }),
                R_CHECKPOINTED => Ok(Reply::Checkpointed {
                    errno: r.u16()?,
                    reason: r.u32()?,
                    addr: r.u64()?,
                    bytes: r.u64()?,
                    pages: r.u64()?,
                    frozen_ns: r.u64()?,
                    threads: r.u32()?,
                    vmas: r.u32()?,
                    text: r.text()?,
                }),
                R_FAULT => {
                    let code =
                        FaultCode::from_u16(r.u16()?).ok_or(DecodeError("unknown fault code"))?;
                    Err(Fault {
                        code,
                        text: r.text()?,
                    })
                }
                _ => return Err(DecodeError("unknown reply")),
            }),
            T_BEAT => Message::Beat,
            T_DATA => {
                let d = r.bytes(MAX_DATA)?;
                if d.is_empty() {
                    return Err(DecodeError("an empty data message"));
                }
                Message::Data(d.to_vec())
            }
            T_END => Message::End,
            T_COMMIT => Message::Commit,
            T_WANT => {
                let n = r.u32()?;
                if n == 0 || n > MAX_WANT {
                    return Err(DecodeError("a want of 0 or more than 1 MiB"));
                }
                Message::Want(n)
            }
            _ => return Err(DecodeError("unknown message")),
        };
        if !r.0.is_empty() {
            return Err(DecodeError("bytes left after the message"));
        }
        Ok(m)
    }
}

/// For the fuzz targets and the tests: decodes `data`; whatever decodes
/// must encode back to a frame that decodes to the same message (no input
/// may panic).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_message(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        let again = m.encode();
        assert_eq!(Message::decode(&again).as_ref(), Ok(&m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello {
                version: VERSION,
                host: 2,
                name: "cr2".into(),
            },
            Message::Request {
                cred: Cred {
                    uid: 1000,
                    gid: 100,
                },
                op: Op::Exec {
                    argv: vec![b"sleep".to_vec(), b"10".to_vec()],
                    cwd: b"/tmp".to_vec(),
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Kill { pid: 51, sig: 15 },
            },
            Message::Call {
                target: Target::Host(HostRef::Id(3)),
                op: Op::Wait { pid: 7 },
            },
            Message::Call {
                target: Target::Host(HostRef::Name("cr2".into())),
                op: Op::Ping,
            },
            Message::Call {
                target: Target::All,
                op: Op::Ps { all: true },
            },
            Message::Call {
                target: Target::This,
                op: Op::Ps { all: false },
            },
            Message::Answer(Ok(Reply::Pong)),
            Message::Answer(Ok(Reply::Started { host: 2, pid: 99 })),
            Message::Answer(Ok(Reply::Signalled)),
            Message::Answer(Ok(Reply::Exited { status: 0x0100 })),
            Message::Answer(Ok(Reply::Procs {
                procs: vec![Proc {
                    host: 1,
                    pid: 1,
                    uid: 0,
                    state: b'S',
                    class: CLASS_LOCAL,
                    runs_on: 1,
                    command: b"init".to_vec(),
                }],
                more: true,
            })),
            Message::Answer(Err(Fault::new(FaultCode::Perm, "not yours"))),
            Message::Beat,
            Message::Call {
                target: Target::Host(HostRef::Id(1)),
                op: Op::Migrate {
                    pid: 42,
                    to: HostRef::Name("cr3".into()),
                    fork: false,
                },
            },
            Message::Call {
                target: Target::This,
                op: Op::Migrate {
                    pid: 42,
                    to: HostRef::Id(2),
                    fork: true,
                },
            },
            Message::Request {
                cred: Cred { uid: 5, gid: 6 },
                op: Op::Receive {
                    fork: false,
                    token: 0x1234_5678_9abc_def0,
                    home: (1, 4242),
                    clocks: None,
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Receive {
                    fork: true,
                    token: 7,
                    home: (0, 0),
                    clocks: Some(Clocks {
                        monotonic_ns: 123_456_789_012,
                        boottime_ns: 123_456_789_999,
                        realtime_ns: 1_796_000_000_000_000_000,
                    }),
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Forward { pid: 77, sig: 15 },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Ended {
                    home_pid: 77,
                    status: 0x0900,
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Relocated {
                    home_pid: 77,
                    host: 3,
                    pid: 1234,
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Output {
                    home_pid: 77,
                    fd: 2,
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Input {
                    home_pid: 77,
                    fd: 0,
                },
            },
            Message::Want(4096),
            Message::Request {
                cred: Cred { uid: 5, gid: 6 },
                op: Op::Resume { token: 7 },
            },
            Message::Request {
                cred: Cred { uid: 5, gid: 6 },
                op: Op::Probe {
                    files: vec![
                        ProbeFile {
                            fd: 1,
                            dir: false,
                            ino: 42,
                            size: 4096,
                            path: b"/shared/out".to_vec(),
                        },
                        ProbeFile {
                            fd: -1,
                            dir: false,
                            ino: 7,
                            size: 1 << 20,
                            path: b"/usr/lib/libc.so.6".to_vec(),
                        },
                    ],
                },
            },
            Message::Data(vec![7; 100]),
            Message::Data(vec![1; MAX_DATA]),
            Message::End,
            Message::Commit,
            Message::Answer(Ok(Reply::Held { pid: 4242 })),
            Message::Answer(Ok(Reply::Moved {
                host: 2,
                pid: 71,
                bytes: 1 << 33,
                total_ns: 123_456_789,
                stopped_ns: 120_000_000,
            })),
            Message::Answer(Ok(Reply::Link {
                bytes: 64 << 20,
                ns: 1_000_000_000,
            })),
            Message::Call {
                target: Target::This,
                op: Op::LinkTest {
                    to: HostRef::Id(2),
                    bytes: MAX_LINK_TEST,
                },
            },
            Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Sink,
            },
            Message::Request {
                cred: Cred {
                    uid: 1000,
                    gid: 100,
                },
                op: Op::Checkpoint {
                    pid: 51,
                    kill: true,
                    partial: false,
                    timeout_ms: 10_000,
                    for_user: None,
                },
            },
            Message::Call {
                target: Target::Host(HostRef::Id(2)),
                op: Op::Checkpoint {
                    pid: 51,
                    kill: false,
                    partial: true,
                    timeout_ms: 0,
                    for_user: Some(Cred {
                        uid: 1000,
                        gid: 100,
                    }),
                },
            },
            Message::Answer(Ok(Reply::Checkpointed {
                errno: 0,
                reason: 0,
                addr: 0,
                bytes: 1 << 30,
                pages: 1 << 18,
                frozen_ns: 5_000_000,
                threads: 3,
                vmas: 20,
                text: String::new(),
            })),
            Message::Answer(Ok(Reply::Checkpointed {
                errno: 3,
                reason: 3,
                addr: 0x7f00_0000_0000,
                bytes: 0,
                pages: 0,
                frozen_ns: 0,
                threads: 0,
                vmas: 0,
                text: "no process 51".into(),
            })),
        ]
    }

    #[test]
    fn round_trip() {
        for m in samples() {
            let f = m.encode();
            assert_eq!(Message::decode(&f), Ok(m.clone()), "{m:?}");
            // Every strict prefix is refused, and so is a byte more.
            for n in 0..f.len() {
                assert!(Message::decode(&f[..n]).is_err(), "{m:?} cut at {n}");
            }
            let mut longer = f.clone();
            longer.push(0);
            assert!(Message::decode(&longer).is_err(), "{m:?} + 1 byte");
        }
    }

    #[test]
    fn refused() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "truncated"),
            (&[99], "unknown message"),
            (
                &[T_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, 77],
                "unknown operation",
            ),
            (
                &[
                    T_REQUEST,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    OP_CHECKPOINT,
                    1,
                    0,
                    0,
                    0,
                    CK_KILL | CK_PARTIAL,
                    0,
                    0,
                    0,
                    0,
                ],
                "both partial and ending",
            ),
            (
                &[
                    T_REQUEST,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    OP_CHECKPOINT,
                    1,
                    0,
                    0,
                    0,
                    0x80,
                    0,
                    0,
                    0,
                    0,
                ],
                "unknown checkpoint flags",
            ),
            // An exec whose count claims more arguments than bytes follow.
            (
                &[T_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, OP_EXEC, 255, 0, 0, 0],
                "longer than allowed",
            ),
            (
                &[
                    T_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, OP_EXEC, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
                "without a program",
            ),
            (
                &[
                    T_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, OP_EXEC, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                    0,
                ],
                "NUL",
            ),
            (
                &[T_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, OP_PS, 2],
                "neither 0 nor 1",
            ),
            (&[T_CALL, 9], "unknown target"),
            (
                &[T_CALL, TG_NAME, 2, 0, 0, 0, b'1', b'2', OP_PING],
                "not a host name",
            ),
            (
                &[T_ANSWER, R_FAULT, 99, 0, 0, 0, 0, 0],
                "unknown fault code",
            ),
            (
                &[T_HELLO, 1, 0, 2, 0, 255, 255, 255, 255],
                "longer than allowed",
            ),
            (&[T_HELLO, 1, 0, 2, 0, 1, 0, 0, 0, 0xff], "not UTF-8"),
            (&[T_DATA, 0, 0, 0, 0], "empty data"),
            (&[T_WANT, 0, 0, 0, 0], "a want of 0"),
            (&[T_WANT, 1, 0, 16, 0], "more than 1 MiB"),
            (
                &[T_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, OP_INPUT, 1, 0, 0, 0, 1],
                "other than 0",
            ),
            (
                &[
                    T_CALL,
                    TG_THIS,
                    OP_LINK_TEST,
                    TG_ID,
                    2,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
                "0 bytes",
            ),
            (
                &[
                    T_CALL,
                    TG_THIS,
                    OP_LINK_TEST,
                    TG_ID,
                    2,
                    0,
                    1,
                    0,
                    0,
                    0,
                    4,
                    0,
                    0,
                    0,
                ],
                "more than allowed",
            ),
            (&[T_DATA, 0xff, 0xff, 0, 0, 1], "longer than allowed"),
            (
                &[T_CALL, TG_THIS, OP_MIGRATE, 1, 0, 0, 0, 9],
                "unknown host reference",
            ),
            (
                &[T_CALL, TG_THIS, OP_MIGRATE, 1, 0, 0, 0, TG_ID, 2, 0, 2],
                "neither 0 nor 1",
            ),
        ];
        for (f, what) in cases {
            let e = Message::decode(f).unwrap_err();
            assert!(e.0.contains(what), "{f:?}: {e} (want {what})");
        }
        assert!(Message::decode(&vec![T_BEAT; MAX_MESSAGE + 1]).is_err());
        // A probe's files: an fd of -1 or more, an absolute path.
        for (fd, path) in [(-2, &b"/x"[..]), (1, &b"x"[..]), (1, &b"/a\0b"[..])] {
            let f = Message::Request {
                cred: Cred { uid: 0, gid: 0 },
                op: Op::Probe {
                    files: vec![ProbeFile {
                        fd,
                        dir: false,
                        ino: 1,
                        size: 2,
                        path: path.to_vec(),
                    }],
                },
            }
            .encode();
            let e = Message::decode(&f).unwrap_err();
            assert!(e.0.contains("absolute path"), "{fd} {path:?}: {e}");
        }
    }

    #[test]
    fn fault_text_is_bounded() {
        let f = Fault::new(FaultCode::Failed, "é".repeat(MAX_TEXT));
        assert!(f.text.len() <= MAX_TEXT);
        let m = Message::Answer(Err(f));
        assert_eq!(Message::decode(&m.encode()), Ok(m));
    }
}

#[cfg(test)]
mod mutations {
    use super::*;

    /// A deterministic mutation run over encoded messages (the fuzz target's
    /// work, bounded, in every `cargo test`): byte flips, cuts, insertions
    /// and length-field rewrites.
    #[test]
    fn mutated_frames_never_panic() {
        let seeds: Vec<Vec<u8>> = vec![
            Message::Request {
                cred: Cred { uid: 1, gid: 2 },
                op: Op::Exec {
                    argv: vec![b"a".to_vec(), b"bc".to_vec()],
                    cwd: b"/".to_vec(),
                },
            }
            .encode(),
            Message::Answer(Ok(Reply::Procs {
                procs: vec![Proc {
                    host: 1,
                    pid: 2,
                    uid: 3,
                    state: b'R',
                    class: CLASS_REMOTE,
                    runs_on: 3,
                    command: b"x y".to_vec(),
                }],
                more: false,
            }))
            .encode(),
            Message::Call {
                target: Target::Host(HostRef::Name("cr2".into())),
                op: Op::Kill { pid: 5, sig: 9 },
            }
            .encode(),
            Message::Hello {
                version: VERSION,
                host: 1,
                name: "cr1".into(),
            }
            .encode(),
            Message::Call {
                target: Target::This,
                op: Op::Migrate {
                    pid: 9,
                    to: HostRef::Name("cr2".into()),
                    fork: true,
                },
            }
            .encode(),
            Message::Data(b"image bytes".to_vec()).encode(),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..200_000u32 {
            let mut f = seeds[i as usize % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let r = next();
                let at = (r >> 8) as usize % (f.len() + 1);
                match r % 5 {
                    0 if at < f.len() => f[at] ^= (r >> 40) as u8 | 1,
                    1 => f.truncate(at),
                    2 => f.insert(at, (r >> 40) as u8),
                    3 if at + 4 <= f.len() => {
                        let v = [0u32, 1, 0xffff, 0xffff_ffff, (r >> 32) as u32]
                            [(r >> 20) as usize % 5];
                        f[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => f.push((r >> 40) as u8),
                }
            }
            fuzz_message(&f);
        }
    }
}
