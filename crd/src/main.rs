// SPDX-License-Identifier: GPL-2.0

//! crd, the cr cluster daemon: one per host. It serves crctl on a local unix
//! socket (whose peer credentials say who asks) and the other hosts' crds on
//! TCP, after a Noise handshake in which each proves it holds its host's key
//! (listed in the map) and the cluster key; it runs the
//! operations on this host's processes as the user who asked
//! (Documentation/cluster.rst).

mod channel;
mod deputy;
mod migrate;
mod ops;
mod remote;
mod stdin;

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use crcluster::map::{Host, HostRef, Map};
use crcluster::proto::{Cred, Fault, FaultCode, Message, Op, Reply, Target, MAX_MESSAGE, VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::time::timeout;

use channel::{Channel, Key, Keys};
use ops::Children;

/// How long connecting to a peer may take.
const CONNECT_TIME: Duration = Duration::from_secs(5);
/// Processes in one `Procs` answer (each at most 272 bytes encoded).
const PROCS_PER_ANSWER: usize = 200;

#[derive(Parser)]
#[command(version, about = "The cr cluster daemon: runs operations on this host's processes for crctl and for the other hosts' crds", long_about = None)]
struct Cli {
    /// The cluster map: one "ID NAME ADDRESS KEY" line per host (KEY: the
    /// host's public key, crd pubkey).
    #[arg(long, default_value = "/etc/cr/cluster.map")]
    map: PathBuf,
    /// The cluster key: 64 hex digits, readable by root only (crd keygen).
    #[arg(long, default_value = "/etc/cr/cluster.key")]
    key: PathBuf,
    /// This host's private key: 64 hex digits, readable by root only (crd
    /// keygen); its public key (crd pubkey) is this host's KEY in the map.
    #[arg(long, default_value = "/etc/cr/host.key")]
    host_key: PathBuf,
    /// This host's id in the map (default: the host named as this host's
    /// hostname).
    #[arg(long)]
    id: Option<u16>,
    /// The socket crctl talks to.
    #[arg(long, default_value = "/run/cr/crd.sock")]
    socket: PathBuf,
    /// Serve the local socket only (no TCP listener for the other hosts).
    #[arg(long)]
    no_listen: bool,
    /// The crctl that checkpoints and restores for migrations (default:
    /// crctl in PATH).
    #[arg(long, default_value = "crctl")]
    crctl: PathBuf,
    /// Fault injection for the tests: as the source of a migration, break
    /// the connection after the original has ended instead of sending the
    /// commit (the target must get it through a resume).
    #[arg(long, hide = true)]
    test_drop_commit: bool,
    /// Fault injection for the tests: as the source of a migration, skip
    /// the probe of the target's files (its restore must refuse instead).
    #[arg(long, hide = true)]
    test_no_probe: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new key (32 random bytes as hex): a cluster key, or a host's
    /// private key.
    Keygen,
    /// Print the public key of the host key in FILE (for the map).
    Pubkey {
        /// The private host key file.
        file: PathBuf,
    },
}

struct State {
    map: Map,
    me: Host,
    keys: Keys,
    children: Children,
    crctl: PathBuf,
    /// Migrations' held copies (the target's side).
    held: migrate::HeldCopies,
    /// Deputies of processes that left, and copies that came for another
    /// host's deputy.
    deputies: deputy::Deputies,
    /// The relays of copies here whose stdin is forwarded from home.
    relays: stdin::Relays,
    fault_drop_commit: bool,
    fault_no_probe: bool,
}

fn log(me: &str, text: impl std::fmt::Display) {
    eprintln!("crd[{me}]: {text}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Pubkey { file }) = &cli.command {
        return match read_key(file, "host key") {
            Ok(k) => {
                println!("{}", crcluster::map::key_hex(&k.public()));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("crd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Keygen) = cli.command {
        return match keygen() {
            Ok(k) => {
                println!("{k}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("crd: cannot read /dev/urandom: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match setup(&cli) {
        Ok(state) => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("crd: cannot start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(serve(Arc::new(state), &cli)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("crd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("crd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn keygen() -> io::Result<String> {
    use std::io::Read;
    let mut k = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut k)?;
    Ok(k.iter().map(|b| format!("{b:02x}")).collect())
}

/// A key file (`what`: "cluster key" or "host key"), which only its owner
/// may read.
fn read_key(path: &Path, what: &str) -> Result<Key, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "the {what} {} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
        .and_then(|t| Key::parse(&t).map_err(|e| format!("{}: {e}", path.display())))
}

fn setup(cli: &Cli) -> Result<State, String> {
    let text = std::fs::read_to_string(&cli.map)
        .map_err(|e| format!("cannot read the cluster map {}: {e}", cli.map.display()))?;
    let map = Map::parse(&text).map_err(|e| format!("{}: {e}", cli.map.display()))?;
    let cluster = read_key(&cli.key, "cluster key")?;
    let host = read_key(&cli.host_key, "host key")?;
    let me = match cli.id {
        Some(id) => map
            .by_id(id)
            .ok_or_else(|| format!("the map lists no host {id}"))?,
        None => {
            let name = rustix::system::uname();
            let name = name.nodename().to_string_lossy().into_owned();
            map.by_name(&name).ok_or_else(|| {
                format!("the map names no host {name} (this host's name); give --id")
            })?
        }
    }
    .clone();
    if host.public() != me.key {
        return Err(format!(
            "the host key {} is not host {} ({})'s: its public key is {}, the map lists {}",
            cli.host_key.display(),
            me.id,
            me.name,
            crcluster::map::key_hex(&host.public()),
            crcluster::map::key_hex(&me.key)
        ));
    }
    Ok(State {
        map,
        me,
        keys: Keys { cluster, host },
        children: Children::default(),
        crctl: cli.crctl.clone(),
        held: Default::default(),
        deputies: Default::default(),
        relays: Default::default(),
        fault_drop_commit: cli.test_drop_commit,
        fault_no_probe: cli.test_no_probe,
    })
}

async fn serve(state: Arc<State>, cli: &Cli) -> io::Result<()> {
    let me = state.me.name.clone();
    if let Some(dir) = cli.socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&cli.socket);
    let local = UnixListener::bind(&cli.socket)?;
    // Every user may ask; what they may do is checked per operation.
    std::fs::set_permissions(&cli.socket, std::fs::Permissions::from_mode(0o666))?;
    log(
        &me,
        format!(
            "host {} ({}) of {}; crctl on {}{}",
            state.me.id,
            state.me.name,
            state.map.hosts.len(),
            cli.socket.display(),
            if cli.no_listen {
                String::new()
            } else {
                format!(", peers on {}", state.me.addr)
            }
        ),
    );
    if !cli.no_listen {
        let net = TcpListener::bind(state.me.addr).await?;
        let st = state.clone();
        tokio::spawn(async move {
            let mut limit = Limit::new(MAX_PEERS, "connections from peers");
            loop {
                match net.accept().await {
                    Ok((s, from)) => {
                        let Some(permit) = limit.admit(&st.me.name) else {
                            continue;
                        };
                        let st = st.clone();
                        tokio::spawn(async move {
                            serve_peer(st, s, from).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        log(&st.me.name, format!("accept: {e}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    // The remote class's way out of the module.
    tokio::spawn(serve_remote_class(state.clone(), cli.socket.clone()));
    let mut limit = Limit::new(MAX_LOCAL, "crctl connections");
    loop {
        let (s, _) = local.accept().await?;
        let Some(permit) = limit.admit(&state.me.name) else {
            continue;
        };
        let st = state.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_local(st.clone(), s).await {
                log(&st.me.name, format!("crctl connection: {e}"));
            }
            drop(permit);
        });
    }
}

/// Connections served at once, from peers and from crctl: past these, a new
/// one is closed at once. A flood costs crd no more than this many fds and
/// tasks, and what they start (a crctl with three pipes each) stays within
/// the usual 1024 open files crd has (it does not raise the limit: the
/// programs `exec` starts inherit it).
const MAX_PEERS: usize = 128;
const MAX_LOCAL: usize = 128;

/// A bound on connections served at once, and the log of what it refuses
/// (one line per 10 s at most, with the count).
struct Limit {
    max: usize,
    slots: Arc<tokio::sync::Semaphore>,
    what: &'static str,
    refused: u64,
    logged: Option<tokio::time::Instant>,
}

impl Limit {
    fn new(n: usize, what: &'static str) -> Limit {
        Limit {
            max: n,
            slots: Arc::new(tokio::sync::Semaphore::new(n)),
            what,
            refused: 0,
            logged: None,
        }
    }

    /// A slot for one more connection, or `None` (the caller drops it).
    fn admit(&mut self, me: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Some(p);
        }
        self.refused += 1;
        let now = tokio::time::Instant::now();
        if self
            .logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            log(
                me,
                format!(
                    "{} {} served at once: refused the next ({} refused so far)",
                    self.max, self.what, self.refused
                ),
            );
            self.logged = Some(now);
        }
        None
    }
}

/// Runs `crctl serve` (as root): checkpoints of other hosts' processes
/// asked of this host's module come to crd through it. Started again 10 s
/// after it ends (a module without the remote class, or none, ends it).
async fn serve_remote_class(state: Arc<State>, socket: PathBuf) {
    loop {
        let child = tokio::process::Command::new(&state.crctl)
            .arg("serve")
            .arg("--crd")
            .arg(&socket)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let why = match child {
            Ok(mut c) => match c.wait().await {
                Ok(st) => format!("crctl serve ended ({st})"),
                Err(e) => format!("crctl serve: {e}"),
            },
            Err(e) => format!("cannot run {} serve: {e}", state.crctl.display()),
        };
        log(
            &state.me.name,
            format!("{why}; the remote class is not served; trying again in 10 s"),
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

fn hello(state: &State) -> Message {
    Message::Hello {
        version: VERSION,
        host: state.me.id,
        name: state.me.name.clone(),
    }
}

/// One request from another host's crd.
async fn serve_peer(state: Arc<State>, stream: TcpStream, from: SocketAddr) {
    let me = &state.me.name;
    let (mut ch, peer) =
        match Channel::accept(stream, &state.keys, &state.map, &hello(&state)).await {
            Ok(x) => x,
            Err(e) => {
                log(me, format!("refused a connection from {from}: {e}"));
                return;
            }
        };
    match state.map.by_id(peer.host) {
        Some(h) if h.name == peer.name && h.id != state.me.id => {}
        _ => {
            log(
                me,
                format!(
                    "refused {from}: it says it is host {} ({}), which the map does not list so",
                    peer.host, peer.name
                ),
            );
            return;
        }
    }
    let (cred, op) = match ch.recv().await {
        // An image follows on this channel.
        Ok(Message::Request {
            cred,
            op:
                Op::Receive {
                    fork,
                    token,
                    home,
                    clocks,
                },
        }) => {
            migrate::receive(&state, &mut ch, cred, (fork, token, home, clocks), &peer).await;
            return;
        }
        // A guest's output, for its deputy here.
        Ok(Message::Request {
            op: Op::Output { home_pid, fd },
            ..
        }) => {
            deputy::output_in(&state, &mut ch, home_pid, fd).await;
            return;
        }
        // A guest's stdin, from its deputy here.
        Ok(Message::Request {
            op: Op::Input { home_pid, .. },
            ..
        }) => {
            stdin::input_out(&state, &mut ch, peer.host, home_pid).await;
            return;
        }
        // A deputy's or its process's news.
        Ok(Message::Request {
            op: op @ (Op::Forward { .. } | Op::Ended { .. } | Op::Relocated { .. }),
            ..
        }) => {
            let answer = peer_op(&state, peer.host, op)
                .map(|()| Reply::Pong)
                .map_err(|why| Fault::new(FaultCode::Invalid, why));
            if let Err(f) = &answer {
                log(me, format!("host {}: {f}", peer.name));
            }
            let _ = ch.send(&Message::Answer(answer)).await;
            return;
        }
        Ok(Message::Request {
            op: Op::Resume { token },
            ..
        }) => {
            migrate::resumed(&state, &mut ch, &peer, token).await;
            return;
        }
        Ok(Message::Request {
            op: Op::Probe { files },
            ..
        }) => {
            migrate::probed(&mut ch, &files).await;
            return;
        }
        // An image for the asker: the remote class.
        Ok(Message::Request {
            cred,
            op:
                Op::Checkpoint {
                    pid,
                    kill,
                    partial,
                    timeout_ms,
                    for_user: None,
                },
        }) => {
            let ask = remote::Ask {
                pid,
                kill,
                partial,
                timeout_ms,
            };
            remote::checkpoint_out(&state, &mut ch, cred, ask).await;
            return;
        }
        // Data to count and drop: a link test.
        Ok(Message::Request { op: Op::Sink, .. }) => {
            if let Err(e) = migrate::sink(&mut ch).await {
                log(me, format!("link test from {}: {e}", peer.name));
            }
            return;
        }
        Ok(Message::Request { cred, op }) => (cred, op),
        Ok(_) => {
            log(me, format!("host {}: not a request; dropped", peer.name));
            return;
        }
        Err(e) => {
            log(me, format!("host {}: {e}", peer.name));
            return;
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Reply, Fault>>(4);
    let st = state.clone();
    tokio::spawn(async move { run_local(&st, cred, op, &tx).await });
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    beat.tick().await;
    loop {
        tokio::select! {
            a = rx.recv() => match a {
                Some(a) => {
                    if ch.send(&Message::Answer(a)).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            _ = beat.tick() => {
                if ch.send(&Message::Beat).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs host-to-host operation `op` (`Forward`, `Ended`, `Relocated`) that
/// host `from` sent (or this host, for itself); why it was refused.
fn peer_op(state: &Arc<State>, from: u16, op: Op) -> Result<(), String> {
    match op {
        Op::Forward { pid, sig } if state.deputies.is_home_of(from, pid) => {
            ops::signal(pid, sig).map_err(|f| f.text)
        }
        Op::Forward { pid, .. } => Err(format!(
            "process {pid} does not run here for a deputy on host {from}"
        )),
        Op::Ended { home_pid, status } => state.deputies.ended(from, home_pid, status),
        Op::Relocated {
            home_pid,
            host,
            pid,
        } => state
            .deputies
            .relocated(from, home_pid, (host, pid))
            .map(|()| deputy::watch_host(state, host)),
        _ => Err("not a deputy's operation".into()),
    }
}

/// Runs `op` on this host as `cred`; its answers go to `tx` (several for
/// `ps`, the last with `more` false).
async fn run_local(
    state: &Arc<State>,
    cred: Cred,
    op: Op,
    tx: &tokio::sync::mpsc::Sender<Result<Reply, Fault>>,
) {
    let answer = match op {
        Op::Ping => Ok(Reply::Pong),
        Op::Exec { argv, cwd } => {
            state
                .children
                .exec(cred, &argv, &cwd)
                .map(|pid| Reply::Started {
                    host: state.me.id,
                    pid,
                })
        }
        Op::Kill { pid, sig } => ops::kill(cred, state.me.id, pid, sig).map(|()| Reply::Signalled),
        Op::Wait { pid } => state
            .children
            .wait(cred, state.me.id, pid)
            .await
            .map(|status| Reply::Exited { status }),
        // A deputy's process is moved (or copied) from where it runs.
        Op::Migrate { pid, to, fork } => match (state.map.find(&to), state.deputies.runs_at(pid)) {
            (None, _) => Err(Fault::new(
                FaultCode::NoHost,
                format!("the cluster map lists no host {to}"),
            )),
            (Some(h), Some((at, _))) if at == h.id => Err(Fault::new(
                FaultCode::Invalid,
                format!(
                    "process {}:{pid} runs on host {} ({}) already (its deputy is here)",
                    state.me.id, h.id, h.name
                ),
            )),
            (Some(h), Some((at, rpid))) if at == state.me.id => {
                migrate::send(state, cred, rpid, h, fork).await
            }
            (Some(h), Some((at, rpid))) => match state.map.by_id(at) {
                Some(there) => {
                    let (rtx, mut rrx) = tokio::sync::mpsc::channel(4);
                    let op = Op::Migrate {
                        pid: rpid,
                        to: HostRef::Id(h.id),
                        fork,
                    };
                    run_remote(state, &there.clone(), cred, op, &rtx).await;
                    drop(rtx);
                    rrx.recv()
                        .await
                        .unwrap_or_else(|| Err(Fault::new(FaultCode::Failed, "no answer")))
                }
                None => Err(Fault::new(
                    FaultCode::NoHost,
                    format!(
                        "process {}:{pid} runs on host {at}, which the map does not list",
                        state.me.id
                    ),
                )),
            },
            (Some(h), None) if h.id == state.me.id => Err(Fault::new(
                FaultCode::Invalid,
                format!(
                    "process {}:{pid} is on host {} ({}) already",
                    h.id, h.id, h.name
                ),
            )),
            (Some(h), None) => migrate::send(state, cred, pid, h, fork).await,
        },
        Op::Receive { .. }
        | Op::Sink
        | Op::Resume { .. }
        | Op::Probe { .. }
        | Op::Forward { .. }
        | Op::Ended { .. }
        | Op::Relocated { .. }
        | Op::Output { .. }
        | Op::Input { .. } => Err(Fault::new(
            FaultCode::Invalid,
            "only another host's crd sends images and link tests",
        )),
        // It streams: crctl asks on its own connection (serve_local), a
        // peer on its channel (serve_peer).
        Op::Checkpoint { .. } => Err(Fault::new(
            FaultCode::Invalid,
            "a checkpoint of a process of another host is asked on a connection of its own",
        )),
        // It loads the link: root's to ask for.
        Op::LinkTest { .. } if cred.uid != 0 => Err(Fault::new(
            FaultCode::Perm,
            "only root may test the link between hosts",
        )),
        Op::LinkTest { to, bytes } => match state.map.find(&to) {
            Some(h) if h.id != state.me.id => migrate::link_test(state, h, bytes).await,
            _ => Err(Fault::new(
                FaultCode::NoHost,
                format!("no other host {to} in the cluster map"),
            )),
        },
        Op::Ps { all } => {
            let procs = ops::ps(cred, all, state.me.id, &state.deputies.list());
            let mut chunks = procs.chunks(PROCS_PER_ANSWER).peekable();
            while let Some(c) = chunks.next() {
                let more = chunks.peek().is_some();
                if tx
                    .send(Ok(Reply::Procs {
                        procs: c.to_vec(),
                        more,
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
                if !more {
                    return;
                }
            }
            Ok(Reply::Procs {
                procs: Vec::new(),
                more: false,
            })
        }
    };
    let _ = tx.send(answer).await;
}

/// Whether `a` ends an operation's answers.
fn last(a: &Result<Reply, Fault>) -> bool {
    !matches!(a, Ok(Reply::Procs { more: true, .. }))
}

/// Runs `op` on `host` (another host) as `cred`: the answers, in order, to
/// `tx`; a host that cannot be reached or goes silent gives one fault.
async fn run_remote(
    state: &Arc<State>,
    host: &Host,
    cred: Cred,
    op: Op,
    tx: &tokio::sync::mpsc::Sender<Result<Reply, Fault>>,
) {
    if let Err(why) = relay(state, host, cred, op, tx).await {
        let text = format!("host {} ({}) is unreachable: {why}", host.id, host.name);
        let _ = tx.send(Err(Fault::new(FaultCode::Unreachable, text))).await;
    }
}

/// [`run_remote`]'s exchange with `host`; why it broke off, if it did.
async fn relay(
    state: &State,
    host: &Host,
    cred: Cred,
    op: Op,
    tx: &tokio::sync::mpsc::Sender<Result<Reply, Fault>>,
) -> Result<(), String> {
    let mut ch = connect_peer(state, host).await?;
    ch.send(&Message::Request { cred, op })
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match ch.recv().await {
            Ok(Message::Beat) => continue,
            Ok(Message::Answer(a)) => {
                let end = last(&a);
                if tx.send(a).await.is_err() || end {
                    return Ok(());
                }
            }
            Ok(_) => return Err("it answered with something else".into()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err("it went away during the operation".into())
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// An authenticated channel to `host`'s crd; why not.
async fn connect_peer(state: &State, host: &Host) -> Result<Channel, String> {
    let stream = timeout(CONNECT_TIME, TcpStream::connect(host.addr))
        .await
        .map_err(|_| "no answer to the connection".to_owned())?
        .map_err(|e| e.to_string())?;
    let (ch, peer) = Channel::connect(stream, &state.keys, &host.key, &hello(state))
        .await
        .map_err(|e| e.to_string())?;
    if peer.host != host.id {
        return Err(format!("it says it is host {} ({})", peer.host, peer.name));
    }
    Ok(ch)
}

/// Runs `op` where `target` says, as `cred`.
async fn dispatch(
    state: Arc<State>,
    cred: Cred,
    target: Target,
    op: Op,
    tx: tokio::sync::mpsc::Sender<Result<Reply, Fault>>,
) {
    let host = match &target {
        Target::This => None,
        Target::Host(r) => match state.map.find(r) {
            Some(h) if h.id == state.me.id => None,
            Some(h) => Some(h.clone()),
            None if *r == HostRef::Id(0) => None,
            None => {
                let _ = tx
                    .send(Err(Fault::new(
                        FaultCode::NoHost,
                        format!("the cluster map lists no host {r}"),
                    )))
                    .await;
                return;
            }
        },
        Target::All => {
            // Every host's processes, host by host; an unreachable host is
            // said (a fault) and the others still listed.
            for h in state.map.hosts.clone() {
                let (htx, mut hrx) = tokio::sync::mpsc::channel(4);
                let st = state.clone();
                let o = op.clone();
                tokio::spawn(async move {
                    if h.id == st.me.id {
                        run_local(&st, cred, o, &htx).await
                    } else {
                        run_remote(&st, &h, cred, o, &htx).await
                    }
                });
                while let Some(a) = hrx.recv().await {
                    let a = match a {
                        Ok(Reply::Procs { procs, .. }) => Ok(Reply::Procs { procs, more: true }),
                        other => other,
                    };
                    if tx.send(a).await.is_err() {
                        return;
                    }
                }
            }
            let _ = tx
                .send(Ok(Reply::Procs {
                    procs: Vec::new(),
                    more: false,
                }))
                .await;
            return;
        }
    };
    match host {
        None => run_local(&state, cred, op, &tx).await,
        Some(h) => run_remote(&state, &h, cred, op, &tx).await,
    }
}

async fn read_local(s: &mut UnixStream) -> io::Result<Option<Message>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a frame longer than allowed",
        ));
    }
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await?;
    Message::decode(&buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

async fn write_local(s: &mut UnixStream, m: &Message) -> io::Result<()> {
    let f = m.encode();
    let mut out = Vec::with_capacity(4 + f.len());
    out.extend_from_slice(&(f.len() as u32).to_le_bytes());
    out.extend_from_slice(&f);
    s.write_all(&out).await
}

/// crctl's calls on one connection, one after the other.
async fn serve_local(state: Arc<State>, mut s: UnixStream) -> io::Result<()> {
    let pc = s.peer_cred()?;
    let cred = Cred {
        uid: pc.uid(),
        gid: pc.gid(),
    };
    while let Some(m) = read_local(&mut s).await? {
        let Message::Call { target, op } = m else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a call"));
        };
        if let Op::Checkpoint { .. } = op {
            remote::checkpoint_in(&state, &mut s, cred, target, op).await?;
            continue;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(dispatch(state.clone(), cred, target, op, tx));
        while let Some(a) = rx.recv().await {
            write_local(&mut s, &Message::Answer(a)).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_admits_its_number_then_refuses_until_one_ends() {
        let mut l = Limit::new(2, "test connections");
        let a = l.admit("test");
        let b = l.admit("test");
        assert!(a.is_some() && b.is_some());
        assert!(l.admit("test").is_none());
        assert!(l.admit("test").is_none());
        assert_eq!(l.refused, 2);
        drop(a);
        assert!(l.admit("test").is_some());
    }
}
