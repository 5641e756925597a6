// SPDX-License-Identifier: GPL-2.0

//! The remote class's checkpoints (Documentation/cluster.rst, "The remote
//! class"): a checkpoint of a process of another host, asked of this host's
//! module, reaches crd through `crctl serve` (which crd starts), goes to
//! the process's host as an `Op::Checkpoint`, and the image comes back as
//! `Data` into the requester's fd.
//!
//! The process's host runs `crctl checkpoint` as the asking user. With
//! `kill` it holds the process once the image is complete, says `End`, and
//! ends it only on the asker's `Commit` (the image is whole there): a
//! transfer that breaks leaves the process running.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crcluster::map::HostRef;
use crcluster::proto::{Cred, Fault, FaultCode, Message, Op, Reply, Target};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::time::timeout;

use crate::channel::Channel;
use crate::migrate::{crctl, pump, Pump, COMMIT};
use crate::{connect_peer, log, read_local, write_local, State};

/// How long a held process waits for the asker's commit.
const COMMIT_TIME: Duration = Duration::from_secs(30);
/// What is kept of crctl's stderr.
const STDERR_KEPT: u64 = 4096;

/// What a checkpoint asks: `Op::Checkpoint`'s fields.
#[derive(Clone, Copy)]
pub struct Ask {
    pub pid: u32,
    pub kill: bool,
    pub partial: bool,
    pub timeout_ms: u32,
}

/// crctl's words (without its report line and prefix, one line) and its
/// `--machine-report` figures, if it printed them.
async fn words_and_report(from: Option<impl AsyncRead + Unpin>) -> (String, Option<[u64; 8]>) {
    let mut text = Vec::new();
    if let Some(from) = from {
        let _ = from.take(STDERR_KEPT).read_to_end(&mut text).await;
    }
    let text = String::from_utf8_lossy(&text);
    let mut report = None;
    let mut words = Vec::new();
    for l in text.lines() {
        if let Some(r) = l.strip_prefix("crctl-report ") {
            let v: Vec<u64> = r.split(' ').filter_map(|x| x.parse().ok()).collect();
            if let Ok(a) = <[u64; 8]>::try_from(v) {
                report = Some(a);
            }
            continue;
        }
        let l = l.strip_prefix("crctl: ").unwrap_or(l).trim();
        if !l.is_empty() {
            words.push(l.to_owned());
        }
    }
    (words.join("; "), report)
}

/// The process's host's half, on the channel the request came on.
pub async fn checkpoint_out(state: &Arc<State>, ch: &mut Channel, cred: Cred, ask: Ask) {
    let answer = run_out(state, ch, cred, ask).await;
    if let Err(f) = &answer {
        log(
            &state.me.name,
            format!("checkpoint of {} for uid {}: {f}", ask.pid, cred.uid),
        );
    }
    let _ = ch.send(&Message::Answer(answer)).await;
}

async fn run_out(
    state: &Arc<State>,
    ch: &mut Channel,
    cred: Cred,
    ask: Ask,
) -> Result<Reply, Fault> {
    let link = |e: std::io::Error| {
        Fault::new(
            FaultCode::Unreachable,
            format!("the link to the asking host broke: {e}"),
        )
    };
    let pid = ask.pid.to_string();
    let ms = ask.timeout_ms.to_string();
    let mut args = vec!["checkpoint", &pid, "-o", "-", "--machine-report"];
    if ask.timeout_ms != 0 {
        args.extend(["--timeout", &ms]);
    }
    if ask.partial {
        args.push("--allow-partial");
    }
    // With kill, the hold: crctl's stdin is a socket the module reads the
    // decision from; dropping `hold` thaws the process.
    let (stdin, mut hold) = if ask.kill {
        args.extend(["--hold-fd", "0"]);
        let (r, w) =
            StdUnixStream::pair().map_err(|e| Fault::new(FaultCode::Failed, e.to_string()))?;
        (Stdio::from(OwnedFd::from(r)), Some(w))
    } else {
        (Stdio::null(), None)
    };
    let mut child: Child = crctl(state, cred, &args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Fault::new(
                FaultCode::Failed,
                format!("cannot run {}: {e}", state.crctl.display()),
            )
        })?;
    let said = tokio::spawn(words_and_report(child.stderr.take()));
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| Fault::new(FaultCode::Failed, "crctl has no stdout"))?;
    let mut bytes = 0;
    pump(ch, &mut out, &mut bytes).await.map_err(|p| match p {
        Pump::Read(e) => Fault::new(FaultCode::Failed, format!("reading the image: {e}")),
        Pump::Link(e) => link(e),
    })?;
    drop(out);
    if let Some(h) = hold.as_mut() {
        // Held: the image is whole unless crctl has ended (it failed).
        let ended = matches!(child.try_wait(), Ok(Some(_)));
        if !ended {
            ch.send(&Message::End).await.map_err(link)?;
            let commit = timeout(COMMIT_TIME, async {
                loop {
                    match ch.recv().await {
                        Ok(Message::Beat) => continue,
                        Ok(Message::Commit) => return true,
                        _ => return false,
                    }
                }
            })
            .await;
            if commit == Ok(true) {
                use std::io::Write;
                let _ = h.write_all(COMMIT);
            }
        }
    }
    // No commit: the process is thawed and runs on.
    drop(hold);
    let _ = child.wait().await;
    let (text, report) = said.await.unwrap_or_default();
    let Some([errno, reason, addr, bytes, pages, frozen_ns, threads, vmas]) = report else {
        return Err(Fault::new(
            FaultCode::Failed,
            if text.is_empty() {
                "crctl checkpoint ended without a report".to_owned()
            } else {
                text
            },
        ));
    };
    Ok(Reply::Checkpointed {
        errno: errno as u16,
        reason: reason as u32,
        addr,
        bytes,
        pages,
        frozen_ns,
        threads: threads as u32,
        vmas: vmas as u32,
        text: if errno == 0 { String::new() } else { text },
    })
}

/// The asking host's half: crctl (`crctl serve`, or any crctl) asked on
/// the local socket `s`, as `peer`, for a checkpoint of a process of
/// `target`. The image and the answer go back on `s`.
pub async fn checkpoint_in(
    state: &Arc<State>,
    s: &mut UnixStream,
    peer: Cred,
    target: Target,
    op: Op,
) -> std::io::Result<()> {
    let answer = match run_in(state, s, peer, target, op).await {
        Ok(None) => return Ok(()),
        Ok(Some(a)) => Ok(a),
        Err(f) => Err(f),
    };
    write_local(s, &Message::Answer(answer)).await
}

async fn run_in(
    state: &Arc<State>,
    s: &mut UnixStream,
    peer: Cred,
    target: Target,
    op: Op,
) -> Result<Option<Reply>, Fault> {
    let Op::Checkpoint {
        pid,
        kill,
        partial,
        timeout_ms,
        for_user,
    } = op
    else {
        return Err(Fault::new(FaultCode::Invalid, "not a checkpoint"));
    };
    // Only root (crctl serve) asks for another user: the module named them.
    let cred = match for_user {
        Some(_) if peer.uid != 0 => {
            return Err(Fault::new(
                FaultCode::Perm,
                "only root may ask for a checkpoint as another user",
            ))
        }
        Some(c) => c,
        None => peer,
    };
    let host = match &target {
        Target::Host(r) => state.map.find(r).cloned(),
        _ => None,
    };
    let host = match host {
        Some(h) if h.id != state.me.id => h,
        Some(h) => {
            return Err(Fault::new(
                FaultCode::Invalid,
                format!(
                    "host {} is this host: its process is checkpointed by its pid alone ({pid}), by this host's module",
                    h.id
                ),
            ))
        }
        None => {
            let what = match target {
                Target::Host(HostRef::Id(id)) => format!("host {id}"),
                Target::Host(HostRef::Name(n)) => format!("host {n}"),
                _ => "that target".to_owned(),
            };
            return Err(Fault::new(
                FaultCode::NoHost,
                format!("the cluster map lists no {what}"),
            ));
        }
    };
    let there = format!("host {} ({})", host.id, host.name);
    let gone = |e: String| Fault::new(FaultCode::Unreachable, format!("{there}: {e}"));
    let mut ch = connect_peer(state, &host).await.map_err(gone)?;
    ch.send(&Message::Request {
        cred,
        op: Op::Checkpoint {
            pid,
            kill,
            partial,
            timeout_ms,
            for_user: None,
        },
    })
    .await
    .map_err(|e| gone(e.to_string()))?;
    loop {
        match ch.recv().await {
            Ok(Message::Beat) => continue,
            Ok(m @ Message::Data(_)) => {
                // The asker went away: dropping the channel leaves the
                // process running there.
                if write_local(s, &m).await.is_err() {
                    return Ok(None);
                }
            }
            Ok(Message::End) if kill => {
                if write_local(s, &Message::End).await.is_err() {
                    return Ok(None);
                }
                // The asker commits once the image is whole on its side.
                match timeout(COMMIT_TIME, read_local(s)).await {
                    Ok(Ok(Some(Message::Commit))) => {
                        ch.send(&Message::Commit)
                            .await
                            .map_err(|e| gone(e.to_string()))?;
                    }
                    _ => return Ok(None),
                }
            }
            Ok(Message::Answer(a)) => return a.map(Some),
            Ok(_) => return Err(gone("it answered a checkpoint with something else".into())),
            Err(e) => return Err(gone(format!("the link broke: {e}"))),
        }
    }
}
