// SPDX-License-Identifier: GPL-2.0

//! Deputies and guests (Documentation/cluster.rst, "The deputy").
//!
//! The home side: a process migrated away from this host leaves a deputy in
//! its place (the module's `CR_HOLD_DEPUTY`): the same pid, parent and fds,
//! one sleeping thread, no memory. crd keeps the deputy's link (the hold
//! socket). Each signal sent to the deputy comes out of the link and is
//! forwarded, in order, to the host the process runs on (`Forward`); the
//! copy's end comes back (`Ended`) and goes into the link, which ends the
//! deputy with the copy's wait status: the home parent's wait() gets it. A
//! later migration of the copy is told by the host it left (`Relocated`).
//!
//! The guest side: a copy restored here for another host's deputy is the
//! child of the crctl that restored it (`crctl restore --wait`), which says
//! how it ended; crd tells the home. While a guest migrates on, its end is
//! kept back: if the migration fails and it had ended, the home hears it
//! then; if it succeeds, the end was the commit's and the next host takes
//! over.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crcluster::proto::{Cred, Message, Op};
use tokio::io::AsyncReadExt;

use crate::{log, State};

/// `struct cr_deputy_msg` (include/uapi/linux/cr.h): two native u32s.
const MSG: usize = 8;
/// `CR_DEPUTY_SIGNAL`: a signal was sent to the deputy.
const DEPUTY_SIGNAL: u32 = 1;
/// `CR_DEPUTY_KILLED`: SIGKILL ended the deputy.
const DEPUTY_KILLED: u32 = 2;
/// `CR_DEPUTY_EXIT`: the copy ended with this wait status.
const DEPUTY_EXIT: u32 = 3;
/// SIGKILL's wait status: how a process whose copy is lost ends.
pub const KILLED: i32 = 9;
/// How long a host that runs processes of this host's deputies may stay
/// unreachable before those processes count as lost: their deputies end as
/// if killed (a wait at home does not hang on a host that is gone).
pub const HOST_LOST: Duration = Duration::from_secs(12);
/// How often such a host is asked whether it is there (only while it runs
/// some).
const HOST_CHECK: Duration = Duration::from_secs(2);

fn msg(kind: u32, value: u32) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m[..4].copy_from_slice(&kind.to_ne_bytes());
    m[4..].copy_from_slice(&value.to_ne_bytes());
    m
}

/// A deputy of this host: where its process runs.
struct Home {
    /// The host and pid of the copy.
    at: (u16, u32),
    /// The module's end reads `CR_DEPUTY_EXIT` from here.
    link: UnixStream,
    /// The command line the process had, for `ps`.
    command: Vec<u8>,
    /// Tells this deputy from a later one with the same pid.
    generation: u64,
}

/// A copy running here for another host's deputy.
struct Guest {
    /// The host and pid of its deputy.
    home: (u16, u32),
    /// It is being migrated on: its end is kept back.
    moving: bool,
    /// Its wait status, if it ended while moving.
    ended: Option<i32>,
}

/// This host's deputies and guests.
#[derive(Default)]
pub struct Deputies {
    home: Mutex<HashMap<u32, Home>>,
    guests: Mutex<HashMap<u32, Guest>>,
    generation: Mutex<u64>,
    /// The hosts a watch runs for ([`watch_host`]).
    watched: Mutex<HashSet<u16>>,
}

impl Deputies {
    /// Home: `pid` is now a deputy whose copy is `at`, linked by `link`.
    pub fn adopt(state: &Arc<State>, pid: u32, at: (u16, u32), link: UnixStream, command: Vec<u8>) {
        let reader = match link.try_clone() {
            Ok(r) => r,
            Err(e) => {
                log(
                    &state.me.name,
                    format!("deputy {pid}: cannot read its link ({e}); signals to it stay here"),
                );
                return;
            }
        };
        let generation = {
            let mut g = state.deputies.generation.lock().unwrap();
            *g += 1;
            *g
        };
        state.deputies.home.lock().unwrap().insert(
            pid,
            Home {
                at,
                link,
                command,
                generation,
            },
        );
        tokio::spawn(serve_link(state.clone(), pid, reader, generation));
        watch_host(state, at.0);
    }

    /// Home: the deputies whose process runs on `host`.
    fn on_host(&self, host: u16) -> Vec<u32> {
        let t = self.home.lock().unwrap();
        t.iter()
            .filter(|(_, h)| h.at.0 == host)
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Home: where the process whose deputy is `pid` runs.
    pub fn runs_at(&self, pid: u32) -> Option<(u16, u32)> {
        self.home.lock().unwrap().get(&pid).map(|h| h.at)
    }

    /// Home: every deputy: its pid, the host its process runs on, and the
    /// command line.
    pub fn list(&self) -> Vec<(u32, u16, Vec<u8>)> {
        let t = self.home.lock().unwrap();
        t.iter()
            .map(|(pid, h)| (*pid, h.at.0, h.command.clone()))
            .collect()
    }

    /// Home: host `from` says the copy of `pid` ended with `status`: the
    /// deputy ends so.
    pub fn ended(&self, from: u16, pid: u32, status: i32) -> Result<(), String> {
        let mut t = self.home.lock().unwrap();
        match t.get(&pid) {
            Some(h) if h.at.0 == from => {}
            _ => return Err(format!("no deputy {pid} of a process on host {from} here")),
        }
        let h = t.remove(&pid).expect("looked up above");
        (&h.link)
            .write_all(&msg(DEPUTY_EXIT, status as u32))
            .map_err(|e| format!("deputy {pid} is gone: {e}"))
    }

    /// Home: host `from` says the copy of `pid` moved to `to`.
    pub fn relocated(&self, from: u16, pid: u32, to: (u16, u32)) -> Result<(), String> {
        let mut t = self.home.lock().unwrap();
        match t.get_mut(&pid) {
            Some(h) if h.at.0 == from => {
                h.at = to;
                Ok(())
            }
            _ => Err(format!("no deputy {pid} of a process on host {from} here")),
        }
    }

    /// Guest: copy `pid` runs here for the deputy `home`.
    pub fn guest(&self, pid: u32, home: (u16, u32)) {
        self.guests.lock().unwrap().insert(
            pid,
            Guest {
                home,
                moving: false,
                ended: None,
            },
        );
    }

    /// Guest: the deputy of copy `pid`, if it is one.
    pub fn home_of(&self, pid: u32) -> Option<(u16, u32)> {
        self.guests.lock().unwrap().get(&pid).map(|g| g.home)
    }

    /// Guest: copy `pid` begins to migrate on: its end is kept back.
    pub fn begin_move(&self, pid: u32) {
        if let Some(g) = self.guests.lock().unwrap().get_mut(&pid) {
            g.moving = true;
        }
    }

    /// Guest: the migration of copy `pid` is over: `moved`, it is no guest
    /// here any more; else the end it had meanwhile, if any, with the home
    /// to tell.
    pub fn end_move(&self, pid: u32, moved: bool) -> Option<((u16, u32), i32)> {
        let mut t = self.guests.lock().unwrap();
        if moved {
            t.remove(&pid);
            return None;
        }
        let g = t.get_mut(&pid)?;
        g.moving = false;
        let status = g.ended?;
        let home = g.home;
        t.remove(&pid);
        Some((home, status))
    }

    /// Guest: copy `pid` ended with `status`: the home to tell, unless it
    /// is moving (then it is kept back) or no guest.
    pub fn guest_ended(&self, pid: u32, status: i32) -> Option<(u16, u32)> {
        let mut t = self.guests.lock().unwrap();
        let g = t.get_mut(&pid)?;
        if g.moving {
            g.ended = Some(status);
            return None;
        }
        let home = g.home;
        t.remove(&pid);
        Some(home)
    }

    /// Guest: whether `from` is the home of copy `pid`.
    pub fn is_home_of(&self, from: u16, pid: u32) -> bool {
        self.home_of(pid).is_some_and(|h| h.0 == from)
    }
}

/// Reads deputy `pid`'s link until it closes (the deputy ended): each
/// signal is forwarded to where the process runs, in order.
async fn serve_link(state: Arc<State>, pid: u32, link: UnixStream, generation: u64) {
    let me = state.me.name.clone();
    let link = link
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(link));
    let mut link = match link {
        Ok(l) => l,
        Err(e) => {
            log(&me, format!("deputy {pid}: cannot read its link: {e}"));
            return;
        }
    };
    let mut buf = [0u8; MSG];
    while link.read_exact(&mut buf).await.is_ok() {
        let kind = u32::from_ne_bytes(buf[..4].try_into().unwrap());
        let value = u32::from_ne_bytes(buf[4..].try_into().unwrap());
        match kind {
            DEPUTY_SIGNAL => forward(&state, pid, value as i32).await,
            DEPUTY_KILLED => {
                // The deputy is ending: so does its process.
                forward(&state, pid, KILLED).await;
            }
            _ => log(&me, format!("deputy {pid}: unknown message {kind}")),
        }
    }
    let mut t = state.deputies.home.lock().unwrap();
    if t.get(&pid).is_some_and(|h| h.generation == generation) {
        t.remove(&pid);
    }
}

/// Sends signal `sig` that deputy `pid` got to its process.
async fn forward(state: &Arc<State>, pid: u32, sig: i32) {
    let Some((host, rpid)) = state.deputies.runs_at(pid) else {
        return;
    };
    let r = if host == state.me.id {
        crate::ops::signal(rpid, sig).map_err(|f| f.text)
    } else {
        tell(state, host, Op::Forward { pid: rpid, sig }).await
    };
    if let Err(why) = r {
        log(
            &state.me.name,
            format!("deputy {pid}: signal {sig} not forwarded to {host}:{rpid}: {why}"),
        );
    }
}

/// Runs host-to-host operation `op` on `host` (this host included) as crd;
/// why it failed.
pub async fn tell(state: &Arc<State>, host: u16, op: Op) -> Result<(), String> {
    if host == state.me.id {
        return crate::peer_op(state, state.me.id, op);
    }
    let h = state
        .map
        .by_id(host)
        .ok_or_else(|| format!("no host {host} in the map"))?;
    let mut ch = crate::connect_peer(state, h).await?;
    ch.send(&Message::Request {
        cred: Cred { uid: 0, gid: 0 },
        op,
    })
    .await
    .map_err(|e| e.to_string())?;
    loop {
        match ch.recv().await.map_err(|e| e.to_string())? {
            Message::Beat => continue,
            Message::Answer(Ok(_)) => return Ok(()),
            Message::Answer(Err(f)) => return Err(f.text),
            _ => return Err("it answered with something else".into()),
        }
    }
}

/// Tells home `home` that its process, last a guest here, ended so.
pub async fn tell_ended(state: &Arc<State>, home: (u16, u32), status: i32) {
    let op = Op::Ended {
        home_pid: home.1,
        status,
    };
    if let Err(why) = tell(state, home.0, op).await {
        log(
            &state.me.name,
            format!(
                "the end (status {status:#x}) of the process whose deputy is {}:{} did not reach it: {why}",
                home.0, home.1
            ),
        );
    }
}

/// Where a guest's forwarded output goes: its deputy's fd, on this host or
/// through a channel to its home.
pub enum OutputSink {
    /// The home is this host: the deputy's fd itself.
    Local(Arc<std::fs::File>),
    /// A channel to the home, after an `Output` request.
    Remote(Box<crate::channel::Channel>),
    /// It could not be opened or broke: the output is dropped (logged once).
    Broken,
}

impl OutputSink {
    /// Opens the way to fd `fd` of deputy `home`.
    pub async fn open(state: &Arc<State>, home: (u16, u32), fd: u8) -> OutputSink {
        let r = if home.0 == state.me.id {
            deputy_fd(state, home.1, fd).map(OutputSink::Local)
        } else {
            open_remote(state, home, fd)
                .await
                .map(|ch| OutputSink::Remote(Box::new(ch)))
        };
        r.unwrap_or_else(|why| {
            log(
                &state.me.name,
                format!(
                    "the output on fd {fd} of the process whose deputy is {}:{} is dropped: {why}",
                    home.0, home.1
                ),
            );
            OutputSink::Broken
        })
    }

    /// Sends `data` on.
    pub async fn send(&mut self, state: &State, data: Vec<u8>) {
        let r = match self {
            OutputSink::Local(f) => write_file(f.clone(), data).await,
            OutputSink::Remote(ch) => {
                let mut r = Ok(());
                for part in data.chunks(crcluster::proto::MAX_DATA) {
                    if let Err(e) = ch.send(&Message::Data(part.to_vec())).await {
                        r = Err(e.to_string());
                        break;
                    }
                }
                r
            }
            OutputSink::Broken => Ok(()),
        };
        if let Err(why) = r {
            log(
                &state.me.name,
                format!("forwarded output dropped from here on: {why}"),
            );
            *self = OutputSink::Broken;
        }
    }

    /// Keeps a remote channel alive while the process writes nothing.
    pub async fn beat(&mut self) {
        if let OutputSink::Remote(ch) = self {
            if ch.send(&Message::Beat).await.is_err() {
                *self = OutputSink::Broken;
            }
        }
    }

    /// The end of the output: the home has written all of it.
    pub async fn finish(self) {
        if let OutputSink::Remote(mut ch) = self {
            if ch.send(&Message::End).await.is_ok() {
                // Until the answer: the home has written it all.
                while let Ok(Message::Beat) = ch.recv().await {}
            }
        }
    }
}

async fn open_remote(
    state: &Arc<State>,
    home: (u16, u32),
    fd: u8,
) -> Result<crate::channel::Channel, String> {
    let op = Op::Output {
        home_pid: home.1,
        fd,
    };
    ask_home(state, home.0, op).await
}

/// A channel to `host` (a process's home) on which crd asks `op`, as root.
pub(crate) async fn ask_home(
    state: &State,
    host: u16,
    op: Op,
) -> Result<crate::channel::Channel, String> {
    let h = state
        .map
        .by_id(host)
        .ok_or_else(|| format!("no host {host} in the map"))?;
    let mut ch = crate::connect_peer(state, h).await?;
    ch.send(&Message::Request {
        cred: Cred { uid: 0, gid: 0 },
        op,
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(ch)
}

/// Writes `data` into `f` (a pipe: it may block) off crd's thread.
async fn write_file(f: Arc<std::fs::File>, data: Vec<u8>) -> Result<(), String> {
    tokio::task::spawn_blocking(move || (&*f).write_all(&data))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Fd `fd` of deputy `pid` of this host, duplicated (`pidfd_getfd`).
fn deputy_fd(state: &State, pid: u32, fd: u8) -> Result<Arc<std::fs::File>, String> {
    deputy_owned_fd(state, pid, fd).map(|f| Arc::new(std::fs::File::from(f)))
}

/// Fd `fd` of deputy `pid` of this host, duplicated (`pidfd_getfd`).
pub(crate) fn deputy_owned_fd(
    state: &State,
    pid: u32,
    fd: u8,
) -> Result<std::os::fd::OwnedFd, String> {
    use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};
    if state.deputies.runs_at(pid).is_none() {
        return Err(format!("no deputy {pid} here"));
    }
    let p = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| format!("no process {pid}"))?;
    let pidfd = pidfd_open(p, PidfdFlags::empty()).map_err(|e| format!("deputy {pid}: {e}"))?;
    let f = pidfd_getfd(&pidfd, i32::from(fd), PidfdGetfdFlags::empty())
        .map_err(|e| format!("fd {fd} of deputy {pid}: {e}"))?;
    Ok(f)
}

/// The home's side of an `Output` request from another host: writes the
/// `Data` that follows into fd `fd` of deputy `pid` until `End`.
pub async fn output_in(state: &Arc<State>, ch: &mut crate::channel::Channel, pid: u32, fd: u8) {
    let file = deputy_fd(state, pid, fd);
    let mut failed = file.as_ref().err().cloned();
    loop {
        match ch.recv().await {
            Ok(Message::Data(d)) => {
                if let (Ok(f), None) = (&file, &failed) {
                    if let Err(why) = write_file(f.clone(), d).await {
                        failed = Some(format!("writing to fd {fd} of deputy {pid}: {why}"));
                    }
                }
            }
            Ok(Message::Beat) => {}
            Ok(Message::End) => break,
            _ => return,
        }
    }
    let answer = match failed {
        None => Ok(crcluster::proto::Reply::Pong),
        Some(why) => {
            log(&state.me.name, format!("forwarded output: {why}"));
            Err(crcluster::proto::Fault::new(
                crcluster::proto::FaultCode::Failed,
                why,
            ))
        }
    };
    let _ = ch.send(&Message::Answer(answer)).await;
}

/// Home: watches `host` while it runs processes of this host's deputies;
/// if it stays unreachable for [`HOST_LOST`], their deputies end as if
/// killed, and the loss is logged.
pub fn watch_host(state: &Arc<State>, host: u16) {
    if host == state.me.id || !state.deputies.watched.lock().unwrap().insert(host) {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut unreachable_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(HOST_CHECK).await;
            if state.deputies.on_host(host).is_empty() {
                state.deputies.watched.lock().unwrap().remove(&host);
                // A deputy adopted meanwhile finds no watch: start anew.
                if !state.deputies.on_host(host).is_empty() {
                    watch_host(&state, host);
                }
                return;
            }
            match tell(&state, host, Op::Ping).await {
                Ok(()) => unreachable_since = None,
                Err(why) => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < HOST_LOST {
                        continue;
                    }
                    state.deputies.watched.lock().unwrap().remove(&host);
                    let lost = state.deputies.on_host(host);
                    log(
                        &state.me.name,
                        format!(
                            "host {host} has been unreachable for {} s ({why}): the processes of deputies {lost:?} that ran there count as lost; their deputies end as if killed",
                            HOST_LOST.as_secs()
                        ),
                    );
                    for pid in lost {
                        let _ = state.deputies.ended(host, pid, KILLED);
                    }
                    return;
                }
            }
        }
    });
}
