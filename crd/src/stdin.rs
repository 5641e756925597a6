// SPDX-License-Identifier: GPL-2.0

//! A migrated process's stdin, forwarded from its home (Documentation/
//! cluster.rst, "Stdin forwarded from home").
//!
//! At home the deputy still holds the pipe the process read its stdin
//! from. Where the process runs, its fd 0 is a new pipe whose write end crd
//! holds (`crctl restore --stdio forward` made it and passed it over). The
//! relay here asks the home for at most as many bytes as that pipe has room
//! for (`Want`), and writes what comes (`Data`) into it; the home reads
//! them out of the deputy's pipe only then (`splice` without waiting, when
//! the pipe has something). So every byte read at home fits into the pipe
//! here, and what the process has not read yet is in its own pipe, which a
//! checkpoint carries: before the process moves on, the relay stops the
//! home (`End`, answered `Pong` after the last `Data`) and writes what was
//! on its way into the pipe. Nothing read at home is lost; the process may
//! read a little later than it would have at home.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crcluster::proto::{Fault, FaultCode, Message, Op, Reply, MAX_DATA, MAX_WANT};
use rustix::pipe::{splice, SpliceFlags};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use crate::channel::{Channel, SILENCE};
use crate::migrate::beats;
use crate::{log, State};

/// How long a stopped relay may wait for its pipe to take what was on its
/// way (the pipe had room for it when it was asked for; only a pipe whose
/// pages the process left half read can lack it).
const FLUSH_TIME: Duration = Duration::from_secs(10);

/// How long a relay whose home is unreachable tries again, every 2 s,
/// before it ends the process's stdin.
const RECONNECT_TIME: Duration = Duration::from_secs(60);

/// The write end of a forwarded stdin pipe and a read end (to see how
/// much is in it), from `crctl restore` (fds passed over its socket).
pub struct StdinPipe {
    pub write: OwnedFd,
    pub read: OwnedFd,
}

enum Ctl {
    /// Stop reading at home; answered once all that was on its way is in
    /// the pipe.
    Pause(oneshot::Sender<Result<(), String>>),
    /// Read at home again (a migration failed).
    Resume,
}

/// The relays of this host's copies whose stdin is forwarded, by pid.
#[derive(Default)]
pub struct Relays(Mutex<HashMap<u32, mpsc::Sender<Ctl>>>);

impl Relays {
    /// Starts the relay of copy `pid`, whose home is `home`, into `pipe`.
    pub fn start(state: &Arc<State>, pid: u32, home: (u16, u32), pipe: StdinPipe) {
        let pipe = match Pipe::new(pipe) {
            Ok(p) => p,
            Err(e) => {
                log(
                    &state.me.name,
                    format!("the stdin of process {pid} is not forwarded: its pipe: {e}"),
                );
                return;
            }
        };
        let (tx, rx) = mpsc::channel(1);
        state.relays.0.lock().unwrap().insert(pid, tx);
        let state = state.clone();
        tokio::spawn(async move {
            if home.0 == state.me.id {
                local(&state, pid, home.1, pipe, rx).await;
            } else {
                remote(&state, pid, home, pipe, rx).await;
            }
        });
    }

    /// Stops the relay of copy `pid` (if it has one) with everything read
    /// at home in the copy's pipe: before a checkpoint that moves it on.
    pub async fn pause(&self, pid: u32) -> Result<(), String> {
        let Some(tx) = self.0.lock().unwrap().get(&pid).cloned() else {
            return Ok(());
        };
        let (reply, answer) = oneshot::channel();
        if tx.send(Ctl::Pause(reply)).await.is_err() {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }

    /// Lets the relay of copy `pid` read at home again (after a pause it
    /// waits for this alone: the channel has room).
    fn resume(&self, pid: u32) {
        let tx = self.0.lock().unwrap().get(&pid).cloned();
        if let Some(tx) = tx {
            let _ = tx.try_send(Ctl::Resume);
        }
    }

    /// Copy `pid` is gone (it ended or moved on): its relay ends.
    pub fn end(&self, pid: u32) {
        self.0.lock().unwrap().remove(&pid);
    }
}

/// A relay [`Relays::pause`]d for a migration: it reads at home again when
/// this goes, unless the process [`Paused::moved`] away.
pub struct Paused<'a> {
    relays: &'a Relays,
    pid: u32,
}

impl<'a> Paused<'a> {
    pub fn new(relays: &'a Relays, pid: u32) -> Paused<'a> {
        Paused { relays, pid }
    }

    /// The process runs elsewhere now: its relay here ends (and so has
    /// nothing to resume when this goes).
    pub fn moved(self) {
        self.relays.end(self.pid);
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.relays.resume(self.pid);
    }
}

/// The copy's end of its forwarded stdin: the pipe's write end (non-
/// blocking; closed at the end of the input) and what is still to go in.
struct Pipe {
    write: Option<pipe::Sender>,
    read: OwnedFd,
    size: usize,
    pending: Vec<u8>,
    /// The home said the input ended: close once `pending` is in.
    eof: bool,
}

/// `EAGAIN` as tokio takes it: not ready (its readiness is cleared).
pub(crate) fn would_block(e: rustix::io::Errno) -> io::Error {
    if e == rustix::io::Errno::AGAIN {
        io::ErrorKind::WouldBlock.into()
    } else {
        e.into()
    }
}

impl Pipe {
    fn new(p: StdinPipe) -> io::Result<Pipe> {
        let size = rustix::pipe::fcntl_getpipe_size(&p.write)?;
        // crd's own description of the write end (crctl closed its copy):
        // the non-blocking flag tokio sets does not reach the process's
        // read end.
        Ok(Pipe {
            write: Some(pipe::Sender::from_owned_fd(p.write)?),
            read: p.read,
            size,
            pending: Vec::new(),
            eof: false,
        })
    }

    /// Bytes in the pipe, not read yet.
    fn queued(&self) -> usize {
        rustix::io::ioctl_fionread(&self.read).unwrap_or(0) as usize
    }

    /// Room in the pipe for bytes not yet asked for.
    fn room(&self) -> usize {
        self.size
            .saturating_sub(self.queued())
            .saturating_sub(self.pending.len())
    }

    fn closed(&self) -> bool {
        self.write.is_none()
    }

    /// Whether to wait for the pipe to take more: bytes wait to go in, or
    /// (`full`) it has no room and more must be asked for once it has.
    fn waits(&self, full: bool) -> bool {
        self.write.is_some() && (!self.pending.is_empty() || full)
    }

    /// Writes what is pending as far as the pipe takes it without waiting;
    /// closes it once the input ended and all is in.
    fn flush(&mut self) {
        if let Some(w) = &self.write {
            while !self.pending.is_empty() {
                match w.try_write(&self.pending) {
                    Ok(n) => {
                        self.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // The process closed its fd 0: nothing reads on.
                    Err(_) => {
                        self.pending.clear();
                        self.eof = true;
                    }
                }
            }
        }
        if self.eof && self.pending.is_empty() {
            self.write = None;
        }
    }

    /// Waits until the pipe may take more (then flushes).
    async fn writable(&mut self) {
        let Some(w) = &self.write else {
            return std::future::pending().await;
        };
        if w.writable().await.is_ok() && self.pending.is_empty() {
            // A full pipe is not writable: clear the readiness, looking
            // inside `try_io` (which clears it only if no new one came since
            // it began: no lost wake-up, and no spinning).
            let (read, size) = (&self.read, self.size);
            let _ = w.try_io(|| {
                if rustix::io::ioctl_fionread(read).unwrap_or(0) as usize >= size {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
        }
        self.flush();
    }

    /// Flushes everything pending, waiting at most [`FLUSH_TIME`].
    async fn flush_all(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + FLUSH_TIME;
        self.flush();
        while !self.pending.is_empty() && !self.closed() {
            if tokio::time::timeout_at(deadline, self.writable())
                .await
                .is_err()
            {
                return Err(format!(
                    "{} bytes of its forwarded stdin do not fit into its pipe",
                    self.pending.len()
                ));
            }
        }
        Ok(())
    }
}

/// What one `splice` from the deputy's pipe into the copy's did.
enum Step {
    Moved,
    /// The deputy's pipe has no writer any more.
    End,
    /// The copy's pipe has no room (but the deputy's has bytes).
    Full,
    /// The deputy's pipe is empty (but the copy's has room).
    Empty,
}

/// The relay for a copy whose deputy is on this host: moves bytes from the
/// deputy's pipe into the copy's with `splice`, as far as the copy's pipe
/// has room. It waits for the deputy's pipe to have bytes, or (`full`) for
/// the copy's to have room; a wait's readiness is cleared only inside the
/// `try_io` whose `splice` found it missing, so no wake-up is lost.
async fn local(state: &State, pid: u32, deputy: u32, mut pipe: Pipe, mut ctl: mpsc::Receiver<Ctl>) {
    let from = match deputy_fd(state, deputy) {
        Ok(f) => f,
        Err(why) => {
            log(
                &state.me.name,
                format!("the stdin of process {pid} is not forwarded: {why}"),
            );
            return;
        }
    };
    let mut paused = false;
    let mut full = false;
    while let Some(w) = pipe.write.as_ref() {
        // One splice; `waited` names what the wait before it was for, whose
        // readiness a splice that finds it missing clears.
        let read = &pipe.read;
        let size = pipe.size;
        let step = |waited: Step| -> io::Result<Step> {
            let queued = rustix::io::ioctl_fionread(read).unwrap_or(0) as usize;
            let room = size.saturating_sub(queued);
            let missing = if room == 0 {
                Step::Full
            } else {
                match splice(&from, None, w, None, room, SpliceFlags::NONBLOCK) {
                    Ok(0) => return Ok(Step::End),
                    Ok(_) => return Ok(Step::Moved),
                    Err(rustix::io::Errno::AGAIN) => {
                        if rustix::io::ioctl_fionread(&from).unwrap_or(0) == 0 {
                            Step::Empty
                        } else {
                            Step::Full
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            match (missing, waited) {
                (Step::Empty, Step::Empty) | (Step::Full, Step::Full) => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                (missing, _) => Ok(missing),
            }
        };
        let done = tokio::select! {
            r = from.readable(), if !paused && !full => {
                r.and_then(|()| from.try_io(|| step(Step::Empty)))
            }
            r = w.writable(), if !paused && full => {
                r.and_then(|()| w.try_io(|| step(Step::Full)))
            }
            c = ctl.recv() => {
                match c {
                    Some(Ctl::Pause(reply)) => {
                        paused = true;
                        let _ = reply.send(Ok(()));
                    }
                    Some(Ctl::Resume) => paused = false,
                    None => return,
                }
                continue;
            }
        };
        match done {
            Ok(Step::Moved | Step::Empty) => full = false,
            Ok(Step::Full) => full = true,
            Ok(Step::End) => pipe.write = None,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                log(
                    &state.me.name,
                    format!("the forwarded stdin of process {pid}: {e}; no more input"),
                );
                break;
            }
        }
    }
    // The input ended: nothing to stop any more.
    while let Some(c) = ctl.recv().await {
        if let Ctl::Pause(reply) = c {
            let _ = reply.send(Ok(()));
        }
    }
}

/// Fd 0 of deputy `pid` of this host (the pipe its process read), its
/// flags untouched (reads are `splice`s that do not wait).
fn deputy_fd(state: &State, pid: u32) -> Result<pipe::Receiver, String> {
    let f = crate::deputy::deputy_owned_fd(state, pid, 0)?;
    pipe::Receiver::from_owned_fd_unchecked(f).map_err(|e| format!("fd 0 of deputy {pid}: {e}"))
}

/// Why a relay's link ended.
enum Broke {
    /// The link broke: ask again.
    Link(String),
    /// A pause ended with a resume: ask again at once.
    Resumed,
    /// The relay was told to end.
    Ended,
}

/// The relay for a copy whose deputy is on another host.
async fn remote(
    state: &State,
    pid: u32,
    home: (u16, u32),
    mut pipe: Pipe,
    mut ctl: mpsc::Receiver<Ctl>,
) {
    let me = &state.me.name;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let why = match open(state, home).await {
            Ok(ch) => {
                unreachable_since = None;
                match relay(ch, &mut pipe, &mut ctl).await {
                    Broke::Ended => return,
                    Broke::Resumed => continue,
                    Broke::Link(why) => why,
                }
            }
            Err(why) => why,
        };
        if pipe.closed() {
            break;
        }
        let since = *unreachable_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= RECONNECT_TIME {
            log(
                me,
                format!("the forwarded stdin of process {pid}: its home {}:{} stayed unreachable ({why}); its input ends here", home.0, home.1),
            );
            pipe.write = None;
            break;
        }
        log(
            me,
            format!("the forwarded stdin of process {pid}: {why}; asking its home again in 2 s"),
        );
        // Meanwhile a pause has nothing on its way to wait for.
        let again = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(again);
        loop {
            tokio::select! {
                () = &mut again => break,
                c = ctl.recv() => match c {
                    Some(Ctl::Pause(reply)) => {
                        let _ = reply.send(Ok(()));
                        if !wait_resume(&mut ctl).await {
                            return;
                        }
                    }
                    Some(Ctl::Resume) => {}
                    None => return,
                },
            }
        }
    }
    while let Some(c) = ctl.recv().await {
        if let Ctl::Pause(reply) = c {
            let _ = reply.send(Ok(()));
        }
    }
}

/// After a pause: whether the relay resumes (else it ends).
async fn wait_resume(ctl: &mut mpsc::Receiver<Ctl>) -> bool {
    loop {
        match ctl.recv().await {
            Some(Ctl::Resume) => return true,
            Some(Ctl::Pause(reply)) => {
                let _ = reply.send(Ok(()));
            }
            None => return false,
        }
    }
}

async fn open(state: &State, home: (u16, u32)) -> Result<Channel, String> {
    let op = Op::Input {
        home_pid: home.1,
        fd: 0,
    };
    crate::deputy::ask_home(state, home.0, op).await
}

/// One link's relay: asks for what the pipe has room for and writes what
/// comes, until the link breaks, the input ends and the relay ends, or a
/// pause (which stops the home, flushes, and waits for the resume).
async fn relay(mut ch: Channel, pipe: &mut Pipe, ctl: &mut mpsc::Receiver<Ctl>) -> Broke {
    let link = |e: io::Error| Broke::Link(format!("the link to its home broke: {e}"));
    // Asked for and not come yet.
    let mut asked = 0usize;
    let mut heard = Instant::now();
    let mut beat = beats();
    loop {
        let room = pipe.room().saturating_sub(asked);
        if !pipe.eof && room > 0 && (asked == 0 || room >= 4096) {
            let n = room.min(MAX_WANT as usize);
            if let Err(e) = ch.send(&Message::Want(n as u32)).await {
                return link(e);
            }
            asked += n;
        }
        let full = !pipe.eof && asked == 0 && pipe.room() == 0;
        tokio::select! {
            m = ch.recv() => {
                heard = Instant::now();
                match m {
                    Ok(Message::Data(d)) => {
                        asked = asked.saturating_sub(d.len());
                        pipe.pending.extend_from_slice(&d);
                        pipe.flush();
                    }
                    Ok(Message::End) => {
                        pipe.eof = true;
                        pipe.flush();
                    }
                    Ok(Message::Beat) => {}
                    Ok(Message::Answer(Err(f))) => return Broke::Link(format!("its home refused: {}", f.text)),
                    Ok(_) => return Broke::Link("its home sent something else".into()),
                    Err(e) => return link(e),
                }
            }
            () = pipe.writable(), if pipe.waits(full) => {}
            c = ctl.recv() => match c {
                Some(Ctl::Pause(reply)) => {
                    let r = stop(&mut ch, pipe).await;
                    let failed = r.is_err();
                    let _ = reply.send(r);
                    drop(ch);
                    if !wait_resume(ctl).await {
                        return Broke::Ended;
                    }
                    if failed && pipe.closed() {
                        return Broke::Ended;
                    }
                    return Broke::Resumed;
                }
                Some(Ctl::Resume) => {}
                None => return Broke::Ended,
            },
            _ = beat.tick() => {
                if heard.elapsed() > SILENCE {
                    return Broke::Link("its home stopped answering".into());
                }
                if let Err(e) = ch.send(&Message::Beat).await {
                    return link(e);
                }
            }
        }
    }
}

/// Stops the home reading and puts what was on its way into the pipe.
async fn stop(ch: &mut Channel, pipe: &mut Pipe) -> Result<(), String> {
    ch.send(&Message::End)
        .await
        .map_err(|e| format!("its home did not learn to stop reading its stdin: {e}"))?;
    loop {
        match ch.recv().await {
            Ok(Message::Data(d)) => pipe.pending.extend_from_slice(&d),
            Ok(Message::End) => pipe.eof = true,
            Ok(Message::Beat) => {}
            Ok(Message::Answer(Ok(_))) => break,
            Ok(Message::Answer(Err(f))) => return Err(format!("its home: {}", f.text)),
            Ok(_) => return Err("its home sent something else".into()),
            Err(e) => {
                return Err(format!(
                    "its home did not say it stopped reading its stdin: {e}"
                ))
            }
        }
    }
    pipe.flush_all().await
}

/// The home's side of an `Input` request from host `from`: reads deputy
/// `pid`'s fd 0 for it, as much as it asks for, until it says `End`.
pub async fn input_out(state: &State, ch: &mut Channel, from: u16, pid: u32) {
    let answer = |why: String| Message::Answer(Err(Fault::new(FaultCode::Failed, why)));
    match state.deputies.runs_at(pid) {
        Some((host, _)) if host == from => {}
        _ => {
            let why = format!("no deputy {pid} here of a process on host {from}");
            let _ = ch.send(&answer(why)).await;
            return;
        }
    }
    let dep = match deputy_fd(state, pid) {
        Ok(d) => d,
        Err(why) => {
            let _ = ch.send(&answer(why)).await;
            return;
        }
    };
    // The bytes go through a pipe of crd's own (splice moves them without
    // waiting, whatever the deputy's pipe's flags are).
    let Ok((tr, tw)) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    ) else {
        let _ = ch.send(&answer("cannot make a pipe".into())).await;
        return;
    };
    let mut credit = 0usize;
    let mut ended = false;
    let mut heard = Instant::now();
    let mut beat = beats();
    let mut buf = vec![0u8; MAX_DATA];
    loop {
        tokio::select! {
            m = ch.recv() => {
                heard = Instant::now();
                match m {
                    Ok(Message::Want(n)) => credit = credit.saturating_add(n as usize).min(1 << 24),
                    Ok(Message::Beat) => {}
                    Ok(Message::End) => {
                        let _ = ch.send(&Message::Answer(Ok(Reply::Pong))).await;
                        return;
                    }
                    _ => return,
                }
            }
            r = dep.readable(), if credit > 0 && !ended => {
                if r.is_err() {
                    return;
                }
                let n = credit.min(MAX_DATA);
                let moved = dep.try_io(|| {
                    splice(&dep, None, &tw, None, n, SpliceFlags::NONBLOCK).map_err(would_block)
                });
                match moved {
                    Ok(0) => {
                        ended = true;
                        if ch.send(&Message::End).await.is_err() {
                            return;
                        }
                    }
                    Ok(n) => {
                        let Ok(got) = rustix::io::read(&tr, &mut buf[..n]) else { return };
                        credit -= got;
                        if ch.send(&Message::Data(buf[..got].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        log(&state.me.name, format!("the stdin of deputy {pid}: {e}"));
                        ended = true;
                        if ch.send(&Message::End).await.is_err() {
                            return;
                        }
                    }
                }
            }
            _ = beat.tick() => {
                if heard.elapsed() > SILENCE || ch.send(&Message::Beat).await.is_err() {
                    return;
                }
            }
        }
    }
}
