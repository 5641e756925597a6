// SPDX-License-Identifier: GPL-2.0

//! Migration and remote fork between two crds (Documentation/cluster.rst,
//! "Migration").
//!
//! The source host runs `crctl checkpoint PID -o - --hold-fd 0` as the
//! caller and streams its stdout to the target as `Data` messages; the
//! target runs `crctl restore --hold-fd 1 -` as the caller and feeds them to
//! its stdin. The module keeps the original frozen once its image is
//! complete, and the copy unstarted once it is rebuilt (`CR_CHECKPOINT_HOLD`,
//! `CR_RESTORE_HOLD`). The target answers `Held`; only then does the source
//! commit (the original ends) and send `Commit`, on which the target starts
//! the copy. Any failure before the source's commit (the target refuses, the
//! link breaks, either crd or crctl dies, silence) closes the source's hold
//! pipe, which thaws the original: it runs on as if nothing happened. A
//! fork does the same without the holds: the copy starts once restored and
//! the original never stopped being the original.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crcluster::map::Host;
use crcluster::proto::{
    Clocks, Cred, Fault, FaultCode, Message, ProbeFile, Reply, MAX_DATA, MAX_PROBE,
};
use rustix::time::ClockId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::{interval, timeout, Interval, MissedTickBehavior};

use crate::channel::{Channel, Peer};
use crate::stdin::StdinPipe;
use crate::{log, State};

/// The byte that commits a hold (`CR_HOLD_COMMIT`).
pub(crate) const COMMIT: &[u8] = b"C";
/// The byte that commits a checkpoint's hold and leaves a deputy
/// (`CR_HOLD_DEPUTY`).
const DEPUTY: &[u8] = b"D";
/// How much of crctl's stderr is kept for a fault's text.
const STDERR_KEPT: usize = 2048;
/// How long the restored copy's pid may take to arrive once crctl has left.
const PID_TIME: Duration = Duration::from_secs(5);

pub(crate) fn beats() -> Interval {
    let mut beat = interval(Duration::from_secs(1));
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    beat
}

/// crctl as the caller: `args`, in its own process group (a signal to
/// crd's does not reach it), killed if crd lets go of it.
pub(crate) fn crctl(state: &State, cred: Cred, args: &[&str]) -> Command {
    let mut cmd = Command::new(&state.crctl);
    cmd.args(args)
        .current_dir("/")
        .uid(cred.uid)
        .gid(cred.gid)
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// The first [`STDERR_KEPT`] bytes of what `from` says until its end, as
/// one line without crctl's prefix.
async fn said(from: Option<impl AsyncRead + Unpin>) -> String {
    let mut text = Vec::new();
    if let Some(from) = from {
        let _ = from.take(STDERR_KEPT as u64).read_to_end(&mut text).await;
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix("crctl: ").unwrap_or(l).trim())
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

fn ended(st: io::Result<ExitStatus>) -> Result<(), String> {
    match st {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("crctl {s}")),
        Err(e) => Err(format!("crctl: {e}")),
    }
}

/// The source's half: moves (or, with `fork`, copies) process `pid` of this
/// host to `to`, as `cred`; the copy's cluster pid.
pub async fn send(
    state: &Arc<State>,
    cred: Cred,
    pid: u32,
    to: &Host,
    fork: bool,
) -> Result<Reply, Fault> {
    let what = if fork { "fork" } else { "migration" };
    let me = state.me.id;
    // A process that came here for another host's deputy moves on and
    // ends here; one of this host leaves its deputy.
    let guest_of = if fork {
        None
    } else {
        state.deputies.home_of(pid)
    };
    let home = match (fork, guest_of) {
        (true, _) => (0, 0),
        (false, Some(h)) => h,
        (false, None) => (me, pid),
    };
    let mut command = crate::ops::command_line(pid);
    command.truncate(256);
    let start = Instant::now();
    let there = format!("host {} ({})", to.id, to.name);
    // What the target will not have is said before the process is touched:
    // the files (a probe), and a stdin from a pipe here that cannot be
    // forwarded (a guest's is crd's own pipe, forwarded already).
    let refusal = match stdin_refusal(cred, pid) {
        Some(why) if !fork && guest_of.is_none() => Err(why),
        _ => probe(state, cred, pid, to).await,
    };
    // A guest's forwarded stdin: what was on its way from home goes into
    // its pipe first, so the image holds every byte it has not read.
    let mut paused = None;
    let refusal = match refusal {
        Ok(()) if !fork && guest_of.is_some() => {
            let r = state.relays.pause(pid).await;
            paused = Some(crate::stdin::Paused::new(&state.relays, pid));
            r
        }
        r => r,
    };
    if let Err(why) = refusal {
        return Err(Fault::new(
            FaultCode::Failed,
            format!("{what} of process {me}:{pid} to {there} refused before the process was touched: {why}; the process runs on here"),
        ));
    }
    // Nothing is touched until the target is there and authenticated.
    let mut ch = crate::connect_peer(state, to).await.map_err(|why| {
        Fault::new(
            FaultCode::Unreachable,
            format!("{there} is unreachable: {why}"),
        )
    })?;
    let token = new_token();
    ch.send(&Message::Request {
        cred,
        op: crcluster::proto::Op::Receive {
            fork,
            token,
            home,
            // The copy goes on with the clocks it had (crctl restore
            // --clocks: a time namespace, made as root before crctl becomes
            // the user).
            clocks: clocks_of(pid),
        },
    })
    .await
    .map_err(|e| {
        Fault::new(
            FaultCode::Unreachable,
            format!("{there} is unreachable: {e}"),
        )
    })?;

    // The hold: crctl's stdin is a socket the module reads the decision
    // from, whose other end is `hold` (dropping it is the "no"); a deputy
    // keeps it as its link.
    let pid_arg = pid.to_string();
    let mut args = vec!["checkpoint", &pid_arg, "-o", "-", "--portable"];
    let (stdin, mut hold) = if fork {
        (Stdio::null(), None)
    } else {
        // A terminal at fd 1 or 2 goes along: its output comes home.
        args.extend(["--hold-fd", "0", "--forward-stdio"]);
        let (r, w) = UnixStream::pair().map_err(|e| fail(what, me, pid, &there, &e.to_string()))?;
        (Stdio::from(OwnedFd::from(r)), Some(w))
    };
    if guest_of.is_some() {
        state.deputies.begin_move(pid);
    }
    let decision = if guest_of.is_some() { COMMIT } else { DEPUTY };
    // The process stops after this; held, it never runs again here.
    let spawned = Instant::now();
    let mut child = crctl(state, cred, &args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(
                what,
                me,
                pid,
                &there,
                &format!("cannot run {}: {e}", state.crctl.display()),
            )
        })?;
    let stderr = tokio::spawn(said(child.stderr.take()));
    let mut bytes = 0;
    let mut outcome = stream_and_decide(
        &mut ch,
        &mut child,
        hold.as_mut(),
        (pid, fork, decision),
        &mut bytes,
        state.fault_drop_commit,
    )
    .await;
    drop(ch);
    if let Err(Why::Uncommitted { copy, why }) = outcome {
        // The original has ended: the copy must start. Its host keeps it
        // held for a while when the link breaks; commit it anew.
        log(
            &state.me.name,
            format!(
                "{what} of {me}:{pid} to {there}: the commit did not get through ({why}); resuming"
            ),
        );
        outcome = resume(state, to, cred, token)
            .await
            .map_err(|why| Why::Lost { copy, why });
    }
    let moved = |(host, pid)| Reply::Moved {
        host,
        pid,
        bytes,
        total_ns: start.elapsed().as_nanos() as u64,
        stopped_ns: if fork {
            0
        } else {
            spawned.elapsed().as_nanos() as u64
        },
    };
    // The original has ended (or is a deputy): the copy is the process,
    // confirmed or not; its home learns where it is.
    let copy = match &outcome {
        Ok(copy) => Some(*copy),
        Err(Why::Lost { copy, .. } | Why::Uncommitted { copy, .. }) => Some((to.id, *copy)),
        Err(_) => None,
    };
    if let Some(copy) = copy {
        if !fork {
            match (guest_of, hold.take()) {
                (Some(home), _) => {
                    state.deputies.end_move(pid, true);
                    if let Some(p) = paused.take() {
                        p.moved();
                    }
                    let op = crcluster::proto::Op::Relocated {
                        home_pid: home.1,
                        host: copy.0,
                        pid: copy.1,
                    };
                    if let Err(why) = crate::deputy::tell(state, home.0, op).await {
                        log(
                            &state.me.name,
                            format!("the deputy {}:{} did not learn that its process moved to {}:{}: {why}", home.0, home.1, copy.0, copy.1),
                        );
                    }
                }
                (None, Some(link)) => {
                    crate::deputy::Deputies::adopt(state, pid, copy, link, command)
                }
                (None, None) => {}
            }
        }
    } else if guest_of.is_some() {
        if let Some((home, status)) = state.deputies.end_move(pid, false) {
            crate::deputy::tell_ended(state, home, status).await;
        }
    }
    match outcome {
        Ok(copy) => Ok(moved(copy)),
        Err(Why::Lost { copy, why }) | Err(Why::Uncommitted { copy, why }) => Err(Fault::new(
            FaultCode::Failed,
            format!(
                "{what} of process {me}:{pid} to {there}: the original has ended, but the copy (pid {copy} there) was not confirmed started: {why}; {there} kills it if no commit reaches it within {} s of the break",
                RESUME_TIME.as_secs()
            ),
        )),
        Err(why) => {
            // Thaw the original (if it is held) before anything else.
            drop(hold);
            let _ = timeout(Duration::from_secs(30), child.wait()).await;
            let text = stderr.await.unwrap_or_default();
            let why = match (why, text.is_empty()) {
                (Why::Checkpoint, true) => "the checkpoint failed".to_owned(),
                (Why::Checkpoint, false) => text,
                (Why::Other(w), _) => w,
                (Why::Uncommitted { why, .. } | Why::Lost { why, .. }, _) => why,
            };
            Err(fail(what, me, pid, &there, &why))
        }
    }
}

fn now_ns(id: ClockId) -> i64 {
    let t = rustix::time::clock_gettime(id);
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// Process `pid`'s clocks now: this host's, moved by the offsets of its time
/// namespace (a process that came here with clocks of its own has one).
fn clocks_of(pid: u32) -> Option<Clocks> {
    let offsets = std::fs::read_to_string(format!("/proc/{pid}/timens_offsets")).ok()?;
    let offset = |name: &str| -> Option<i64> {
        let l = offsets
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))?;
        let mut f = l.split_whitespace().skip(1);
        let s: i64 = f.next()?.parse().ok()?;
        let ns: i64 = f.next()?.parse().ok()?;
        Some(s * 1_000_000_000 + ns)
    };
    Some(Clocks {
        monotonic_ns: now_ns(ClockId::Monotonic) + offset("monotonic")?,
        boottime_ns: now_ns(ClockId::Boottime) + offset("boottime")?,
        realtime_ns: now_ns(ClockId::Realtime),
    })
}

/// Whether process `pid` of this host is there and not a zombie.
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .iter()
        .rposition(|&b| b == b')')
        .and_then(|i| stat.get(i + 2).copied());
    !matches!(state, None | Some(b'Z') | Some(b'X'))
}

fn fail(what: &str, me: u16, pid: u32, there: &str, why: &str) -> Fault {
    Fault::new(
        FaultCode::Failed,
        format!("{what} of process {me}:{pid} to {there} failed: {why}; the process runs on here"),
    )
}

/// Why [`stream_and_decide`] gave up.
enum Why {
    /// crctl checkpoint failed: its stderr says why.
    Checkpoint,
    Other(String),
    /// The original has ended, the commit of the held `copy` did not get
    /// through.
    Uncommitted {
        copy: u32,
        why: String,
    },
    /// Nor did a [`resume`].
    Lost {
        copy: u32,
        why: String,
    },
}

/// How long a target keeps a held copy whose link broke, waiting for a
/// `Resume`; the source tries for a little less.
pub const RESUME_TIME: Duration = Duration::from_secs(30);

/// A name for a migration among this host's.
fn new_token() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now ^ NEXT
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .rotate_right(16)
}

/// Commits migration `token` on `to` over new connections until it answers
/// that the copy runs, or [`RESUME_TIME`] less a margin has passed.
async fn resume(state: &State, to: &Host, cred: Cred, token: u64) -> Result<(u16, u32), String> {
    let deadline = Instant::now() + RESUME_TIME - Duration::from_secs(5);
    let mut last;
    loop {
        last = match resume_once(state, to, cred, token).await {
            Ok(copy) => return Ok(copy),
            Err(why) => why,
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn resume_once(
    state: &State,
    to: &Host,
    cred: Cred,
    token: u64,
) -> Result<(u16, u32), String> {
    let mut ch = crate::connect_peer(state, to).await?;
    ch.send(&Message::Request {
        cred,
        op: crcluster::proto::Op::Resume { token },
    })
    .await
    .map_err(|e| e.to_string())?;
    loop {
        match ch.recv().await.map_err(|e| e.to_string())? {
            Message::Beat => continue,
            Message::Answer(Ok(Reply::Started { host, pid })) => return Ok((host, pid)),
            Message::Answer(Err(f)) => return Err(f.text),
            _ => return Err("it answered with something else".into()),
        }
    }
}

/// Streams the image to the target (counting its bytes in `bytes`) and
/// carries out the decision; the copy's cluster pid.
async fn stream_and_decide(
    ch: &mut Channel,
    child: &mut Child,
    hold: Option<&mut UnixStream>,
    (original, fork, decision): (u32, bool, &[u8]),
    bytes: &mut u64,
    drop_commit: bool,
) -> Result<(u16, u32), Why> {
    let link = |e: io::Error| Why::Other(format!("the link to the target broke: {e}"));
    let mut out = child.stdout.take().ok_or(Why::Checkpoint)?;
    let mut beat = beats();
    // The image, until the end of crctl's stdout (held: the module closed
    // it; else crctl ended).
    pump(ch, &mut out, bytes).await.map_err(|p| match p {
        Pump::Read(e) => Why::Other(format!("reading the image: {e}")),
        Pump::Link(e) => link(e),
    })?;
    drop(out);
    // A checkpoint that failed ends crctl: the image is not whole. A held
    // one keeps crctl waiting for the decision; a fork's has ended.
    let failed = if fork {
        ended(child.wait().await).is_err()
    } else {
        matches!(child.try_wait(), Ok(Some(_)))
    };
    if failed {
        return Err(Why::Checkpoint);
    }
    ch.send(&Message::End).await.map_err(link)?;
    // The target's answer; a held crctl may still fail meanwhile.
    let held = loop {
        tokio::select! {
            _ = child.wait(), if !fork => return Err(Why::Checkpoint),
            m = ch.recv() => match m {
                Ok(Message::Beat) => continue,
                Ok(Message::Answer(Ok(Reply::Started { host, pid }))) if fork => {
                    return Ok((host, pid));
                }
                Ok(Message::Answer(Ok(Reply::Held { pid }))) if !fork => break pid,
                Ok(Message::Answer(Err(f))) => {
                    return Err(Why::Other(format!("the target refused it: {}", f.text)))
                }
                Ok(_) => return Err(Why::Other("the target answered with something else".into())),
                Err(e) => return Err(link(e)),
            },
        }
    };
    let Some(hold) = hold else {
        return Err(Why::Other("no hold".into()));
    };
    // The copy is whole and waits: end the original (crctl returns once
    // every thread has exited) or make it the deputy, then start the copy.
    hold.write_all(decision)
        .map_err(|e| Why::Other(format!("cannot commit: {e}")))?;
    let st = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = beat.tick() => {
                // The target must not take the silence for a loss.
                let _ = ch.send(&Message::Beat).await;
            }
        }
    };
    if let Err(why) = ended(st) {
        // Whether the original ended says which copy is the process.
        if running(original) {
            return Err(Why::Other(format!("the commit failed: {why}")));
        }
    }
    // From here the copy is the process (Documentation/cluster.rst,
    // "Migration": the window).
    let lost = |why: String| Why::Uncommitted { copy: held, why };
    if drop_commit {
        return Err(lost(
            "dropped before the commit (crd --test-drop-commit)".into(),
        ));
    }
    ch.send(&Message::Commit)
        .await
        .map_err(|e| lost(e.to_string()))?;
    loop {
        match ch.recv().await {
            Ok(Message::Beat) => continue,
            Ok(Message::Answer(Ok(Reply::Started { host, pid }))) => return Ok((host, pid)),
            Ok(Message::Answer(Err(f))) => return Err(lost(f.text)),
            Ok(_) => return Err(lost("the target answered with something else".into())),
            Err(e) => return Err(lost(e.to_string())),
        }
    }
}

/// Why [`pump`] stopped before the end.
pub(crate) enum Pump {
    /// Reading what to send failed.
    Read(io::Error),
    /// Sending it failed.
    Link(io::Error),
}

/// Sends what `out` gives, as `Data`, until its end, with a `Beat` after
/// each second of silence (a freeze before the first byte); counts the
/// bytes into `bytes`.
pub(crate) async fn pump(
    ch: &mut Channel,
    out: &mut (impl AsyncRead + Unpin),
    bytes: &mut u64,
) -> Result<(), Pump> {
    let mut buf = vec![0u8; MAX_DATA];
    let mut beat = beats();
    loop {
        tokio::select! {
            n = out.read(&mut buf) => match n {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    *bytes += n as u64;
                    ch.send(&Message::Data(buf[..n].to_vec())).await.map_err(Pump::Link)?
                }
                Err(e) => return Err(Pump::Read(e)),
            },
            _ = beat.tick() => ch.send(&Message::Beat).await.map_err(Pump::Link)?,
        }
    }
}

/// The target's half, on the channel a `Receive` request came on: restores
/// the image that follows as `cred`, and (not `fork`) starts the copy only
/// on the source's `Commit`.
pub async fn receive(
    state: &Arc<State>,
    ch: &mut Channel,
    cred: Cred,
    (fork, token, home, clocks): (bool, u64, (u16, u32), Option<Clocks>),
    from: &Peer,
) {
    let me = &state.me.name;
    let key = (from.host, token);
    let from = &from.name;
    match restore(state, ch, cred, (fork, home, clocks), key).await {
        Ok(pid) => log(
            me,
            format!(
                "{} from {from}: process {}:{pid} runs",
                if fork { "fork" } else { "migration" },
                state.me.id
            ),
        ),
        Err(why) => {
            log(me, format!("image from {from}: {why}"));
            let _ = ch
                .send(&Message::Answer(Err(Fault::new(FaultCode::Failed, why))))
                .await;
        }
    }
}

async fn restore(
    state: &Arc<State>,
    ch: &mut Channel,
    cred: Cred,
    (fork, home, clocks): (bool, (u16, u32), Option<Clocks>),
    key: Key,
) -> Result<u32, String> {
    // The copy's pid comes back on stdout; held, stdout is also the hold
    // (a socket: crd writes the decision into its end).
    let (mine, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| format!("cannot make a socket pair: {e}"))?;
    mine.set_nonblocking(true)
        .map_err(|e| format!("cannot make a socket pair: {e}"))?;
    let mut mine = tokio::net::UnixStream::from_std(mine)
        .map_err(|e| format!("cannot make a socket pair: {e}"))?;
    // A migration's pipes at fds 1 and 2 that led to another process are
    // forwarded to its deputy; a fork's copy has none to forward to.
    let stdio = if fork { "image" } else { "forward" };
    let mut args = vec!["restore", "--stdio", stdio, "--pid", "auto", "--portable"];
    if !fork {
        // crctl stays as the copy's parent and says how it ended.
        args.extend(["--hold-fd", "1", "--wait"]);
        // A copy that moves on from a host that is not its home had the
        // bytes in its forwarded stdin's pipe still to read: they are its
        // own (the image holds them). Coming from home, they are the home
        // pipe's: the relay reads them there.
        if home.0 != key.0 {
            args.push("--stdin-carried");
        }
    }
    // The copy's clocks go on from the original's, by the time the move
    // has taken so far (shared time: the hosts' realtime clocks agree).
    let clocks = clocks.map(|c| {
        let gone = (now_ns(ClockId::Realtime) - c.realtime_ns).max(0);
        format!("{},{}", c.monotonic_ns + gone, c.boottime_ns + gone)
    });
    if let Some(c) = &clocks {
        args.extend(["--clocks", c]);
    }
    // A user's copy: crctl starts as root (the time namespace, the pid) and
    // becomes the user before it reads the image.
    let run_as = (cred.uid != 0).then(|| format!("{}:{}", cred.uid, cred.gid));
    if let Some(r) = &run_as {
        args.extend(["--run-as", r]);
    }
    args.push("-");
    let starts_as = if run_as.is_some() {
        Cred { uid: 0, gid: 0 }
    } else {
        cred
    };
    let mut child = crctl(state, starts_as, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", state.crctl.display()))?;
    let stderr = tokio::spawn(said(child.stderr.take()));
    // The image into crctl's stdin, until `End`. If crctl stops reading (it
    // refused the image), the rest is drained: its stderr says why.
    let mut stdin = child.stdin.take();
    loop {
        match ch.recv().await {
            Ok(Message::Data(d)) => {
                if let Some(s) = stdin.as_mut() {
                    if s.write_all(&d).await.is_err() {
                        stdin = None;
                    }
                }
            }
            Ok(Message::Beat) => {}
            Ok(Message::End) => break,
            Ok(_) => return Err("the source sent something else than the image".into()),
            Err(e) => return Err(format!("the image did not arrive whole: {e}")),
        }
    }
    drop(stdin);
    // The pid line comes once the copy is rebuilt (crctl then ends, or
    // with --wait stays); crctl ending without it failed.
    let mut beat = beats();
    let mut line = Vec::new();
    let mut eof = false;
    // crctl passes a forwarded stdin's pipe ("stdin" and its two ends)
    // before the pid.
    let mut fds = Vec::new();
    let mut stdin = None;
    let pid = loop {
        tokio::select! {
            st = child.wait() => {
                if let Err(why) = ended(st) {
                    let text = stderr.await.unwrap_or_default();
                    return Err(if text.is_empty() { why } else { text });
                }
                break read_pid(&mut mine, line).await?;
            }
            n = recv_byte(&mine, &mut fds), if !eof => match n {
                Ok(Some(byte)) => {
                    line.push(byte);
                    if line == b"stdin\n" {
                        let (Some(write), Some(read)) = (fds.pop(), fds.pop()) else {
                            return Err("crctl restore passed no stdin pipe".into());
                        };
                        stdin = Some(StdinPipe { write, read });
                        line.clear();
                    } else if line.ends_with(b"\n") || line.len() >= 32 {
                        break parse_pid(&line)?;
                    }
                }
                // crctl's end (or failure) says why.
                _ => eof = true,
            },
            _ = beat.tick() => {
                ch.send(&Message::Beat).await.map_err(|e| format!("the source went away: {e}"))?;
            }
        }
    };
    if fork {
        send_started(state, ch, pid).await;
        return Ok(pid);
    }
    // Held until the commit, on this channel or (if it breaks) a Resume on
    // another one, for RESUME_TIME at most.
    let hold = mine
        .into_std()
        .map_err(|e| format!("the hold socket: {e}"))?;
    let said = hold
        .try_clone()
        .map_err(|e| format!("the hold socket: {e}"))?;
    if home.0 != 0 {
        state.deputies.guest(pid, home);
    }
    tokio::spawn(watch(state.clone(), pid, child, said));
    let stdin = stdin.filter(|_| home.0 != 0).map(|p| (p, home));
    state.held.hold(key, hold, pid, stdin);
    state.held.expire_later(state.clone(), key);
    let why = match ch.send(&Message::Answer(Ok(Reply::Held { pid }))).await {
        Err(e) => format!("the source went away: {e}"),
        Ok(()) => loop {
            match ch.recv().await {
                Ok(Message::Beat) => continue,
                Ok(Message::Commit) => {
                    return match state.held.commit(state, key) {
                        Ok(pid) => {
                            send_started(state, ch, pid).await;
                            Ok(pid)
                        }
                        Err(why) => Err(why),
                    }
                }
                Ok(_) => break "no commit but something else".to_owned(),
                Err(e) => break format!("no commit ({e})"),
            }
        },
    };
    Err(format!(
        "{why}; the copy {pid} waits {} s for the source to resume",
        RESUME_TIME.as_secs()
    ))
}

/// A migration, by its source host and token.
type Key = (u16, u64);

enum Parked {
    /// The copy `pid`, held: writing the commit byte to `hold` starts it;
    /// then its forwarded stdin (if any) is relayed from its home.
    Held {
        hold: UnixStream,
        pid: u32,
        stdin: Option<(StdinPipe, (u16, u32))>,
    },
    /// The copy `pid` was started.
    Started(u32),
}

/// The migrations whose copy waits for its commit (or was committed, for a
/// `Resume` that comes after its answer was lost), for [`RESUME_TIME`].
#[derive(Default)]
pub struct HeldCopies(Mutex<HashMap<Key, Parked>>);

impl HeldCopies {
    fn hold(&self, key: Key, hold: UnixStream, pid: u32, stdin: Option<(StdinPipe, (u16, u32))>) {
        self.0
            .lock()
            .unwrap()
            .insert(key, Parked::Held { hold, pid, stdin });
    }

    /// Starts the copy of `key` (or finds it started); its pid.
    fn commit(&self, state: &Arc<State>, key: Key) -> Result<u32, String> {
        let mut t = self.0.lock().unwrap();
        match t.remove(&key) {
            Some(Parked::Held { hold, pid, stdin }) => {
                // One byte into an empty socket buffer: it does not block.
                (&hold)
                    .write_all(COMMIT)
                    .map_err(|e| format!("the copy {pid} is gone: {e}"))?;
                t.insert(key, Parked::Started(pid));
                if let Some((pipe, home)) = stdin {
                    crate::stdin::Relays::start(state, pid, home, pipe);
                }
                Ok(pid)
            }
            Some(Parked::Started(pid)) => {
                t.insert(key, Parked::Started(pid));
                Ok(pid)
            }
            None => Err("no copy of that migration is held here (its time ran out)".into()),
        }
    }

    /// After [`RESUME_TIME`], forgets `key`; a copy still held then is
    /// killed (the end of its hold) before it ran.
    fn expire_later(&self, state: Arc<State>, key: Key) {
        tokio::spawn(async move {
            tokio::time::sleep(RESUME_TIME).await;
            let gone = state.held.0.lock().unwrap().remove(&key);
            if let Some(Parked::Held { pid, .. }) = gone {
                log(
                    &state.me.name,
                    format!(
                        "the copy {pid} of a migration from host {} had no commit in {} s: ended before it ran",
                        key.0,
                        RESUME_TIME.as_secs()
                    ),
                );
            }
        });
    }
}

/// The target's answer to a `Resume` of migration `token` from host `from`.
pub async fn resumed(state: &Arc<State>, ch: &mut Channel, from: &Peer, token: u64) {
    let answer = state
        .held
        .commit(state, (from.host, token))
        .map(|pid| Reply::Started {
            host: state.me.id,
            pid,
        })
        .map_err(|why| Fault::new(FaultCode::Failed, why));
    if let Ok(Reply::Started { pid, .. }) = &answer {
        log(
            &state.me.name,
            format!(
                "migration from {} resumed: process {}:{pid} runs",
                from.name, state.me.id
            ),
        );
    }
    let _ = ch.send(&Message::Answer(answer)).await;
}

async fn send_started(state: &State, ch: &mut Channel, pid: u32) {
    let _ = ch
        .send(&Message::Answer(Ok(Reply::Started {
            host: state.me.id,
            pid,
        })))
        .await;
}

/// One byte from crctl's socket (`None` at its end), and the fds that came
/// with it. Safe to cancel.
async fn recv_byte(s: &tokio::net::UnixStream, fds: &mut Vec<OwnedFd>) -> io::Result<Option<u8>> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::mem::MaybeUninit;
    loop {
        s.readable().await?;
        let mut byte = [0u8; 1];
        let got = s.try_io(tokio::io::Interest::READABLE, || {
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut anc = RecvAncillaryBuffer::new(&mut space);
            let m = recvmsg(
                s,
                &mut [io::IoSliceMut::new(&mut byte)],
                &mut anc,
                RecvFlags::CMSG_CLOEXEC,
            )
            .map_err(crate::stdin::would_block)?;
            for msg in anc.drain() {
                if let RecvAncillaryMessage::ScmRights(f) = msg {
                    fds.extend(f);
                }
            }
            Ok(m.bytes)
        });
        match got {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The rest of the pid line crctl restore printed, after `line` (it has
/// ended; its copy may hold the socket open, so no end of file comes).
async fn read_pid(from: &mut tokio::net::UnixStream, mut line: Vec<u8>) -> Result<u32, String> {
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") && line.len() < 32 {
        match timeout(PID_TIME, from.read(&mut byte)).await {
            Ok(Ok(1)) => line.push(byte[0]),
            _ => break,
        }
    }
    parse_pid(&line)
}

fn parse_pid(line: &[u8]) -> Result<u32, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "crctl restore printed no pid".to_owned())
}

/// Waits for `crctl restore --wait` (`child`) to say how copy `pid` ended
/// (an "ended STATUS" line on `said`) and tells the copy's home, if it is a
/// guest here; meanwhile forwards what the copy writes on its forwarded fds
/// ("out FD LEN" and the bytes, "eof FD") to its deputy.
async fn watch(state: Arc<State>, pid: u32, mut child: Child, said: UnixStream) {
    let mut status = None;
    if let Ok(mut s) = said
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(said))
    {
        let mut sinks: HashMap<u8, crate::deputy::OutputSink> = HashMap::new();
        let mut beat = beats();
        loop {
            // (A partial line must not be lost: wait for something to read,
            // which can be cancelled, rather than for the line.)
            let ready = tokio::select! {
                r = s.readable() => r.is_ok(),
                _ = beat.tick() => {
                    for sink in sinks.values_mut() {
                        sink.beat().await;
                    }
                    continue;
                }
            };
            if !ready {
                break;
            }
            let Some(line) = read_line(&mut s).await else {
                break;
            };
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["out", fd, len] => {
                    let (Ok(fd), Ok(len)) = (fd.parse::<u8>(), len.parse::<usize>()) else {
                        break;
                    };
                    if len > 1 << 16 {
                        break;
                    }
                    let mut data = vec![0u8; len];
                    if s.read_exact(&mut data).await.is_err() {
                        break;
                    }
                    let Some(home) = state.deputies.home_of(pid) else {
                        continue;
                    };
                    let sink = match sinks.entry(fd) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(crate::deputy::OutputSink::open(&state, home, fd).await)
                        }
                    };
                    sink.send(&state, data).await;
                }
                ["eof", fd] => {
                    if let Some(sink) = fd.parse::<u8>().ok().and_then(|fd| sinks.remove(&fd)) {
                        sink.finish().await;
                    }
                }
                ["ended", st] => {
                    status = st.parse::<i32>().ok();
                    break;
                }
                _ => break,
            }
        }
        for (_, sink) in sinks.drain() {
            sink.finish().await;
        }
    }
    let _ = child.wait().await;
    // Its stdin's relay (if any) ends with it.
    state.relays.end(pid);
    match status {
        Some(st) => {
            if let Some(home) = state.deputies.guest_ended(pid, st) {
                crate::deputy::tell_ended(&state, home, st).await;
            }
        }
        None => {
            if let Some(home) = state.deputies.home_of(pid) {
                log(
                    &state.me.name,
                    format!(
                        "the crctl watching process {pid} (whose deputy is {}:{}) ended without saying how it did",
                        home.0, home.1
                    ),
                );
            }
        }
    }
}

/// One line (without its newline) of at most 64 bytes; `None` at the end
/// (or a longer line).
async fn read_line(s: &mut tokio::net::UnixStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => return String::from_utf8(line).ok(),
            Ok(1) if line.len() < 64 => line.push(byte[0]),
            _ => return None,
        }
    }
}

/// A link test's sending half: `bytes` of `Data` to `to`'s crd, then `End`;
/// how long until it answered that it had them all.
pub async fn link_test(state: &State, to: &Host, bytes: u64) -> Result<Reply, Fault> {
    let there = format!("host {} ({})", to.id, to.name);
    let broke = |e: String| Fault::new(FaultCode::Unreachable, format!("{there}: {e}"));
    let mut ch = crate::connect_peer(state, to).await.map_err(broke)?;
    let start = Instant::now();
    ch.send(&Message::Request {
        cred: Cred { uid: 0, gid: 0 },
        op: crcluster::proto::Op::Sink,
    })
    .await
    .map_err(|e| broke(e.to_string()))?;
    let chunk = vec![0x5au8; MAX_DATA];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(MAX_DATA as u64) as usize;
        ch.send(&Message::Data(chunk[..n].to_vec()))
            .await
            .map_err(|e| broke(e.to_string()))?;
        left -= n as u64;
    }
    ch.send(&Message::End)
        .await
        .map_err(|e| broke(e.to_string()))?;
    loop {
        match ch.recv().await {
            Ok(Message::Beat) => continue,
            Ok(Message::Answer(Ok(Reply::Link { bytes: got, .. }))) if got == bytes => {
                return Ok(Reply::Link {
                    bytes,
                    ns: start.elapsed().as_nanos() as u64,
                })
            }
            Ok(Message::Answer(Err(f))) => return Err(f),
            Ok(_) => return Err(broke("it answered with something else".into())),
            Err(e) => return Err(broke(e.to_string())),
        }
    }
}

/// A link test's receiving half, on the channel a `Sink` request came on:
/// counts the `Data` until `End` and answers with the count.
pub async fn sink(ch: &mut Channel) -> io::Result<()> {
    let mut bytes = 0u64;
    loop {
        match ch.recv().await? {
            Message::Data(d) => bytes += d.len() as u64,
            Message::Beat => {}
            Message::End => break,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a link test sent something else than data",
                ))
            }
        }
    }
    ch.send(&Message::Answer(Ok(Reply::Link { bytes, ns: 0 })))
        .await
}

/// The files process `pid` has open (fds 0 and up: regular files and
/// directories) and mapped, as this host sees them; as many as a probe
/// takes. Only for a caller who owns the process (or root): it names paths.
fn files_of(cred: Cred, pid: u32) -> Vec<ProbeFile> {
    let mut files = Vec::new();
    match crate::ops::uids(pid) {
        Some([real, ..]) if cred.uid == 0 || cred.uid == real => {}
        _ => return files,
    }
    let mut room = MAX_DATA - 64;
    let mut add = |files: &mut Vec<ProbeFile>, fd: i32, path: &Path| {
        let Ok(st) = std::fs::metadata(path) else {
            return;
        };
        let path = path.as_os_str().as_bytes();
        let cost = 25 + path.len();
        if (!st.is_file() && !st.is_dir())
            || files.len() >= MAX_PROBE
            || cost > room
            || path.first() != Some(&b'/')
        {
            return;
        }
        room -= cost;
        files.push(ProbeFile {
            fd,
            dir: st.is_dir(),
            ino: st.ino(),
            size: if st.is_file() { st.size() } else { 0 },
            path: path.to_vec(),
        });
    };
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        let mut fds: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        for fd in fds {
            if let Ok(p) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) {
                add(&mut files, fd, &p);
            }
        }
    }
    if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        let mut seen = std::collections::HashSet::new();
        for line in maps.lines() {
            // "start-end perms offset dev inode path"
            let Some(path) = line.splitn(6, ' ').nth(5).map(str::trim_start) else {
                continue;
            };
            if path.starts_with('/') && !path.ends_with(" (deleted)") && seen.insert(path) {
                add(&mut files, -1, Path::new(path));
            }
        }
    }
    files
}

/// Why process `pid`'s stdin cannot be forwarded from home once it moved:
/// a named FIFO (another process could open it), or a pipe another process
/// reads too (its bytes go to whichever reads first: the bytes forwarded
/// ahead of the process would be taken from that one). A pipe within the
/// process goes with its image. Only for a caller who owns the process (or
/// root): it names a path.
fn stdin_refusal(cred: Cred, pid: u32) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    match crate::ops::uids(pid) {
        Some([real, ..]) if cred.uid == 0 || cred.uid == real => {}
        _ => return None,
    }
    let fd0 = std::fs::metadata(format!("/proc/{pid}/fd/0")).ok()?;
    if !fd0.file_type().is_fifo() {
        return None;
    }
    let same = |m: &std::fs::Metadata| m.dev() == fd0.dev() && m.ino() == fd0.ino();
    // The access mode of fd `fd` of process `p` (0 read, 1 write, 2 both).
    let mode = |p: &Path, fd: &OsStr| {
        std::fs::read_to_string(p.join("fdinfo").join(fd))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .map_or(0, |f| f & 3)
    };
    let proc = Path::new("/proc").join(pid.to_string());
    let within = std::fs::read_dir(proc.join("fd")).ok()?.flatten().any(|e| {
        std::fs::metadata(e.path()).is_ok_and(|m| same(&m)) && mode(&proc, &e.file_name()) != 0
    });
    if within {
        return None;
    }
    let path = std::fs::read_link(format!("/proc/{pid}/fd/0")).ok()?;
    let path = path.to_string_lossy();
    if !path.starts_with("pipe:[") {
        return Some(format!(
            "fd 0 is the FIFO {path}: cr forwards a pipe from home, not a FIFO another process could open"
        ));
    }
    let me = std::process::id();
    for p in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(other) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if other == pid || other == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if !std::fs::metadata(fd.path()).is_ok_and(|m| same(&m)) {
                continue;
            }
            // The read end (O_RDONLY), or both (O_RDWR, a FIFO's).
            if mode(&p.path(), &fd.file_name()) != 1 {
                return Some(format!(
                    "fd 0 ({path}) is a pipe that process {other} reads too: its input would go to whichever reads first, and the forwarded process reads ahead of itself"
                ));
            }
        }
    }
    None
}

/// Asks `to` whether it has the files process `pid` uses; why not.
async fn probe(state: &State, cred: Cred, pid: u32, to: &Host) -> Result<(), String> {
    let files = files_of(cred, pid);
    if files.is_empty() || state.fault_no_probe {
        return Ok(());
    }
    // A target that cannot be reached is the migration's to find out.
    let Ok(mut ch) = crate::connect_peer(state, to).await else {
        return Ok(());
    };
    if ch
        .send(&Message::Request {
            cred,
            op: crcluster::proto::Op::Probe { files },
        })
        .await
        .is_err()
    {
        return Ok(());
    }
    loop {
        match ch.recv().await {
            Ok(Message::Beat) => continue,
            Ok(Message::Answer(Err(f))) => return Err(f.text),
            _ => return Ok(()),
        }
    }
}

/// The target's answer to a probe: the first file that is not here as the
/// source has it, in the words a restore uses.
pub async fn probed(ch: &mut Channel, files: &[ProbeFile]) {
    let answer = match files.iter().find_map(probe_one) {
        Some(why) => Err(Fault::new(FaultCode::Failed, why)),
        None => Ok(Reply::Pong),
    };
    let _ = ch.send(&Message::Answer(answer)).await;
}

fn probe_one(f: &ProbeFile) -> Option<String> {
    let path = Path::new(OsStr::from_bytes(&f.path));
    let what = if f.fd >= 0 {
        format!("fd {} ({})", f.fd, path.display())
    } else {
        format!("the mapped file {}", path.display())
    };
    match std::fs::metadata(path) {
        Err(e) if f.fd >= 0 => Some(format!("{what}: cannot open it again: {e}")),
        Err(e) => Some(format!("{what}: {e}")),
        // An open file may grow meanwhile (a restore compares its inode);
        // a mapped one is compared as a restore does, size included.
        Ok(st)
            if st.is_dir() != f.dir
                || st.ino() != f.ino
                || (f.fd < 0 && !f.dir && st.size() != f.size) =>
        {
            Some(format!("{what} is another file on this host"))
        }
        Ok(_) => None,
    }
}
