// SPDX-License-Identifier: GPL-2.0

//! crctl: drive cr, the checkpoint/restore kernel module, through /dev/cr.

use std::ffi::c_int;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crcluster::map::HostRef;
use crcluster::proto::{Op, Reply, Target};
use crctl::cluster::{self, Crd};
use crctl::cpid::ClusterPid;
use crctl::dev::{self, DevError, Device};
use crctl::output::{self, Output};
use crctl::uapi::{self, CrCheckpointArgs};
use crctl::{image, inspect, Error, Result};

/// Runs before Rust's runtime, which opens /dev/null on a closed fd 0-2
/// before `main` and would so hide a closed stdout: `output::fix_stdio`
/// records what stdout was, then does the same.
#[used]
#[link_section = ".init_array"]
static FIX_STDIO: extern "C" fn(c_int, *const *const u8, *const *const u8) = {
    extern "C" fn fix_stdio(_: c_int, _: *const *const u8, _: *const *const u8) {
        output::fix_stdio();
    }
    fix_stdio
};

#[derive(Parser)]
#[command(
    name = "crctl",
    version,
    about = "Checkpoint and restore processes with cr (/dev/cr)"
)]
struct Cli {
    /// The cr device node.
    #[arg(long, global = true, default_value = dev::DEFAULT_PATH, value_name = "PATH")]
    device: PathBuf,

    /// The cluster daemon's socket (exec, kill, wait, ps).
    #[arg(long, global = true, default_value = cluster::DEFAULT_SOCKET, value_name = "PATH")]
    crd: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PidArg {
    /// The image's pid and thread ids; fail if one is in use.
    Original,
    /// Any free pid.
    Any,
    /// The image's pids, in a new pid namespace.
    Ns,
    /// The image's pids if all are free here, else as ns (what a
    /// migration does).
    Auto,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StdioArg {
    /// The image's where they can be opened again, crctl's own where not.
    Auto,
    /// crctl's own stdin, stdout and stderr.
    Inherit,
    /// What the image had open there.
    Image,
    /// As image, but fds 1 and 2 that were pipes to another process are new
    /// pipes crctl relays on its stdout (with --wait; crd uses it to forward
    /// a migrated process's output home).
    Forward,
}

#[derive(Subcommand)]
enum Command {
    /// Show the module's ABI version, architecture and features.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stream a running process's image to a file or stdout; it keeps running.
    ///
    /// The output is checked before the process is touched.
    ///
    /// -o FILE: the image goes into a new file only the caller can read (mode
    /// 0600), named FILE once the image is complete. crctl refuses an existing
    /// FILE (see --force), and never writes into, truncates, chmods or deletes
    /// a file it did not create. A failure leaves nothing behind (a SIGKILL
    /// can leave a .FILE.crctl-XXXXXX, on file systems without O_TMPFILE).
    ///
    /// -o -: stdout must be open for writing, and not a terminal.
    Checkpoint {
        /// The process: PID, or HOST:PID (host 0 is this host).
        #[arg(value_name = "PID|HOST:PID")]
        pid: ClusterPid,
        /// Where the image goes: a new file (mode 0600), or - for stdout.
        #[arg(short, long, value_name = "FILE|-", default_value = "-")]
        output: String,
        /// End the process once its image is complete (for migration).
        #[arg(long)]
        kill: bool,
        /// Write the image even if the process holds what a restore refuses
        /// (a socket, a child, a lock, ...: crctl warns with what); for
        /// inspection. Not with --kill.
        #[arg(long, conflicts_with = "kill")]
        allow_partial: bool,
        /// Plumbing for migration (crd): once the image is complete, keep the
        /// process frozen and read one byte from FD: C ends it, anything else
        /// (or end of file) thaws it and crctl fails. Not with --kill.
        #[arg(long, value_name = "FD", conflicts_with_all = ["kill", "allow_partial"])]
        hold_fd: Option<i32>,
        /// For migration (crd): refuse, before the process is touched, an
        /// fd that keeps it on this host (a device other than /dev/null,
        /// /dev/zero, /dev/random, /dev/urandom).
        #[arg(long)]
        portable: bool,
        /// For migration (crd), with --portable: a terminal at fd 1 or 2 does
        /// not keep the process here (the target forwards its output home).
        #[arg(long, requires = "portable")]
        forward_stdio: bool,
        /// Replace FILE if it exists (a regular file or a symlink) by renaming
        /// the new image over it; the old file keeps its content and mode, and
        /// a symlink's target is not touched.
        #[arg(long)]
        force: bool,
        /// How long every thread may take to stop, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = uapi::CR_FREEZE_TIMEOUT_MS_DEFAULT)]
        timeout: u32,
        /// Plumbing for crd: end with one line "crctl-report ERRNO REASON
        /// ADDR BYTES PAGES FROZEN_NS THREADS VMAS" on stderr (the module's
        /// figures; ERRNO 0 on success).
        #[arg(long, hide = true)]
        machine_report: bool,
    },
    /// Bring a process back from an image; prints its pid, and it runs on.
    Restore {
        /// The image file, or - for stdin.
        #[arg(default_value = "-")]
        file: String,
        /// Which pid: the image's (fail if taken), any free one, or the
        /// image's inside a new pid namespace.
        #[arg(long, value_enum, default_value_t = PidArg::Original)]
        pid: PidArg,
        /// Fds 0-2. auto: each as the image had it where that can be opened
        /// again (a file or directory that is still the same one, /dev/null, a
        /// terminal that still exists, a pipe within the process), else
        /// crctl's own (a pipe to another process, a socket, a file that is
        /// gone). inherit: crctl's own; the restored process then holds
        /// them, so `pid=$(crctl restore --stdio inherit img)` waits for it.
        /// image: the image's, or fail.
        #[arg(long, value_enum, default_value_t = StdioArg::Auto)]
        stdio: StdioArg,
        /// Plumbing for migration (crd): once the process is rebuilt (crctl
        /// prints its pid and leaves), it starts only when C is read from
        /// FD; anything else (or end of file) kills it before it runs.
        #[arg(long, value_name = "FD")]
        hold_fd: Option<i32>,
        /// For migration (crd): refuse an image with an fd that keeps the
        /// process on the host it came from (as checkpoint --portable).
        #[arg(long)]
        portable: bool,
        /// Stay until the restored process ends (crctl is its parent), then
        /// print "ended STATUS" (its raw wait status) after its pid; with
        /// --stdio forward, relay its forwarded output meanwhile ("out FD
        /// LEN" and the bytes, "eof FD"). crd uses it to tell a migrated
        /// process's home how it ended and what it wrote.
        #[arg(long)]
        wait: bool,
        /// Plumbing for migration (crd), with --stdio forward and --wait: a
        /// pipe at fd 0 that led to another process is a new pipe whose
        /// write end (and a read end) crctl passes on its stdout, a unix
        /// socket, before the pid ("stdin" and the two fds); crd writes
        /// what the home sends into it. With this flag the new pipe starts
        /// with the bytes the image holds for the old one (a copy moving on
        /// from a host that is not its home: what it had not read yet).
        #[arg(long)]
        stdin_carried: bool,
        /// The restored process's CLOCK_MONOTONIC and CLOCK_BOOTTIME read
        /// MONO and BOOT (nanoseconds) as it starts, and go on from there: it
        /// runs in a new time namespace with those offsets (needs root:
        /// CAP_SYS_ADMIN and CAP_SYS_TIME). crd gives a migrated process the
        /// clocks it had, plus the time the move took. "image": the clocks
        /// the image holds (as the process read them when it was frozen),
        /// plus the realtime that has passed since, as if it had been
        /// stopped meanwhile.
        #[arg(long, value_name = "MONO,BOOT|image", value_parser = parse_clocks)]
        clocks: Option<ClocksArg>,
        /// Plumbing for migration (crd, root only): after --clocks, root
        /// becomes user UID (group GID, no other groups) before it reads
        /// anything, keeping only CAP_CHECKPOINT_RESTORE and CAP_SYS_ADMIN
        /// for the forks that give the process its pid (or a pid
        /// namespace); the restored process keeps none. A user's migrated
        /// process so keeps its pid and its clocks.
        #[arg(long, value_name = "UID:GID", value_parser = parse_run_as)]
        run_as: Option<(u32, u32)>,
    },
    /// Start a program on a host of the cluster, as you; prints its cluster
    /// pid HOST:PID. Its stdin, stdout and stderr are /dev/null there; it
    /// runs in this directory (which must exist there too).
    Exec {
        /// The host: its id or its name in the cluster map.
        #[arg(long, value_name = "HOST")]
        on: String,
        /// The program (looked up in PATH there) and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    /// Send a signal (default TERM) to a process of the cluster: crctl kill
    /// [-s SIG | -SIG] PID|HOST:PID.
    Kill {
        /// The signal: a name (TERM, SIGKILL) or a number; 0 only checks.
        #[arg(short, long, value_name = "SIG", default_value = "TERM")]
        signal: String,
        #[arg(value_name = "PID|HOST:PID")]
        pid: ClusterPid,
    },
    /// Wait for a process crctl exec started to end; exit with its exit
    /// status (128 + N when signal N ended it).
    Wait {
        #[arg(value_name = "PID|HOST:PID")]
        pid: ClusterPid,
    },
    /// Move a process to another host: its image streams there, it goes on
    /// there, and its new cluster pid HOST:PID is printed. Final only once
    /// the target has restored it; on any failure before, it runs on where
    /// it was (and crctl says why).
    Migrate {
        #[arg(value_name = "PID|HOST:PID")]
        pid: ClusterPid,
        /// The host: its id or its name in the cluster map.
        #[arg(long, value_name = "HOST")]
        to: String,
    },
    /// Start a copy of a process on another host (remote fork): prints the
    /// copy's cluster pid HOST:PID; the original runs on.
    Fork {
        #[arg(value_name = "PID|HOST:PID")]
        pid: ClusterPid,
        /// The host: its id or its name in the cluster map.
        #[arg(long, value_name = "HOST")]
        to: String,
    },
    /// Measure the link to another host as migrations use it: MIB MiB
    /// streamed over crd's authenticated channel (root only).
    LinkTest {
        /// The host: its id or its name in the cluster map.
        #[arg(long, value_name = "HOST")]
        to: String,
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        mib: u64,
    },
    /// Plumbing for crd (which starts it, as root): serve the remote class:
    /// checkpoints of other hosts' processes asked of this host's module
    /// go through crd, as the user who asked.
    Serve,
    /// The cluster's processes (yours, or --all): cluster pid, class (local,
    /// or remote for a deputy whose process runs elsewhere), the host it runs
    /// on, state, command.
    Ps {
        /// Every user's processes.
        #[arg(long)]
        all: bool,
    },
    /// Decode and verify an image (every checksum, count and range).
    Inspect {
        /// The image file, or - for stdin.
        file: String,
        /// Print JSON.
        #[arg(long, conflicts_with_all = ["maps", "status"])]
        json: bool,
        /// Print the memory areas as /proc/<pid>/maps lines.
        #[arg(long, conflicts_with = "status")]
        maps: bool,
        /// Print the /proc/<pid>/status fields the image determines.
        #[arg(long)]
        status: bool,
    },
}

/// `kill -SIG` as kill(1) writes it: `crctl kill -TERM 2:51` is
/// `crctl kill --signal TERM 2:51`.
fn args() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(k) = args.iter().position(|a| a == "kill") {
        if let Some(sig) = args.get(k + 1).and_then(|a| a.to_str()) {
            let name = sig.strip_prefix('-').unwrap_or("");
            if !name.is_empty()
                && !name.starts_with('-')
                && name != "s"
                && name != "h"
                && name.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                let sig = format!("--signal={name}");
                args[k + 1] = sig.into();
            }
        }
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(args());
    let result = match cli.command {
        Command::Info { json } => info(&cli.device, json),
        Command::Checkpoint {
            pid,
            output,
            kill,
            allow_partial,
            hold_fd,
            portable,
            forward_stdio,
            force,
            timeout,
            machine_report,
        } => {
            let mut report = CrCheckpointArgs::default();
            let r = checkpoint(
                &cli.device,
                pid,
                &output,
                Ending {
                    kill,
                    allow_partial,
                    hold: hold_fd,
                    portable,
                    forward_stdio,
                },
                (force, timeout),
                &mut report,
            );
            if machine_report {
                machine_report_line(&r, &report);
            }
            r
        }
        Command::Inspect {
            file,
            json,
            maps,
            status,
        } => inspect_cmd(&file, json, maps, status),
        Command::Restore {
            file,
            pid,
            stdio,
            hold_fd,
            portable,
            wait,
            stdin_carried,
            clocks,
            run_as,
        } => {
            // Root's part first: the time namespace, then root becomes the
            // user, before the image or any file is opened.
            if clocks == Some(ClocksArg::Image) && run_as.is_some() {
                eprintln!("crctl: --clocks image reads the image, which --run-as reads only as the user: give --clocks MONO,BOOT");
                return ExitCode::FAILURE;
            }
            if let Some(ClocksArg::Given(c)) = clocks {
                if let Err(e) = crctl::restore::enter_clocks(c) {
                    eprintln!("crctl: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if let Some((uid, gid)) = run_as {
                if let Err(e) = crctl::restore::become_user(uid, gid) {
                    eprintln!("crctl: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let opts = crctl::restore::Options {
                pid: match pid {
                    PidArg::Original => crctl::restore::PidChoice::Original,
                    PidArg::Any => crctl::restore::PidChoice::Any,
                    PidArg::Ns => crctl::restore::PidChoice::Namespace,
                    PidArg::Auto => crctl::restore::PidChoice::Auto,
                },
                stdio: match stdio {
                    StdioArg::Auto => crctl::restore::Stdio::Auto,
                    StdioArg::Inherit => crctl::restore::Stdio::Inherit,
                    StdioArg::Image => crctl::restore::Stdio::Image,
                    StdioArg::Forward => crctl::restore::Stdio::Forward,
                },
                hold: hold_fd,
                portable,
                user: run_as.is_some(),
                clocks_from_image: clocks == Some(ClocksArg::Image),
                stdin_carried,
            };
            if opts.stdio == crctl::restore::Stdio::Forward && !wait {
                eprintln!("crctl: {}", Error::ForwardNeedsWait);
                return ExitCode::FAILURE;
            }
            restore_cmd(&cli.device, &file, &opts, wait)
        }
        Command::Exec { on, argv } => exec_cmd(&cli.crd, &on, &argv),
        Command::Kill { signal, pid } => kill_cmd(&cli.crd, &signal, pid),
        Command::Wait { pid } => match wait_cmd(&cli.crd, pid) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        Command::Ps { all } => ps_cmd(&cli.crd, all),
        Command::Migrate { pid, to } => move_cmd(&cli.crd, pid, &to, false),
        Command::Fork { pid, to } => move_cmd(&cli.crd, pid, &to, true),
        Command::LinkTest { to, mib } => link_test_cmd(&cli.crd, &to, mib),
        Command::Serve => crctl::serve::run(&cli.device, &cli.crd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crctl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--run-as UID:GID`: a user other than root, and a group.
fn parse_run_as(s: &str) -> std::result::Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or("want UID:GID")?;
    let id = |t: &str| t.parse::<u32>().ok().filter(|&v| v != u32::MAX);
    match (id(u), id(g)) {
        (Some(0), _) => Err("root needs no --run-as".into()),
        (Some(u), Some(g)) => Ok((u, g)),
        _ => Err("want UID:GID, two numbers".into()),
    }
}

/// `--clocks MONO,BOOT`: two clock readings in nanoseconds, not negative.
fn parse_clocks(s: &str) -> std::result::Result<ClocksArg, String> {
    if s == "image" {
        return Ok(ClocksArg::Image);
    }
    let bad = || format!("'{s}' is not MONO,BOOT (two counts of nanoseconds) or image");
    let (m, b) = s.split_once(',').ok_or_else(bad)?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    let b: i64 = b.parse().map_err(|_| bad())?;
    if m < 0 || b < 0 {
        return Err(bad());
    }
    Ok(ClocksArg::Given(crctl::restore::Clocks {
        monotonic_ns: m,
        boottime_ns: b,
    }))
}

/// `restore --clocks`: the clocks given, or the image's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClocksArg {
    Given(crctl::restore::Clocks),
    Image,
}

/// Where a cluster pid's operations go.
fn target_of(c: ClusterPid) -> Target {
    if c.is_local() {
        Target::This
    } else {
        Target::Host(HostRef::Id(c.host as u16))
    }
}

fn exec_cmd(crd: &Path, on: &str, argv: &[String]) -> Result<()> {
    let host = HostRef::parse(on).map_err(Error::Crd)?;
    let cwd = std::env::current_dir().map_err(Error::Io)?;
    let op = Op::Exec {
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: cwd.as_os_str().as_encoded_bytes().to_vec(),
    };
    match Crd::connect(crd)?.call(Target::Host(host), op)? {
        Reply::Started { host, pid } => {
            println!(
                "{}",
                ClusterPid {
                    host: host.into(),
                    pid
                }
            );
            Ok(())
        }
        _ => Err(Error::Crd(
            "crd answered an exec with something else".into(),
        )),
    }
}

fn kill_cmd(crd: &Path, signal: &str, pid: ClusterPid) -> Result<()> {
    let sig = cluster::parse_signal(signal).map_err(Error::Crd)?;
    match Crd::connect(crd)?.call(target_of(pid), Op::Kill { pid: pid.pid, sig })? {
        Reply::Signalled => Ok(()),
        _ => Err(Error::Crd("crd answered a kill with something else".into())),
    }
}

/// `migrate` (`fork` false) or `fork`: the copy's cluster pid on stdout.
fn move_cmd(crd: &Path, pid: ClusterPid, to: &str, fork: bool) -> Result<()> {
    let to = HostRef::parse(to).map_err(Error::Crd)?;
    let op = Op::Migrate {
        pid: pid.pid,
        to,
        fork,
    };
    match Crd::connect(crd)?.call(target_of(pid), op)? {
        Reply::Moved {
            host,
            pid: new,
            bytes,
            total_ns,
            stopped_ns,
        } => {
            let copy = ClusterPid {
                host: host.into(),
                pid: new,
            };
            println!("{copy}");
            let stopped = if fork {
                String::new()
            } else {
                format!("; it did not run for at most {}", ms(stopped_ns))
            };
            eprintln!(
                "crctl: {} process {pid} to {copy}: image {bytes} bytes ({}) in {}{stopped}",
                if fork { "forked" } else { "moved" },
                mib(bytes),
                ms(total_ns),
            );
            Ok(())
        }
        _ => Err(Error::Crd(
            "crd answered a migration with something else".into(),
        )),
    }
}

fn link_test_cmd(crd: &Path, to: &str, mib: u64) -> Result<()> {
    let to = HostRef::parse(to).map_err(Error::Crd)?;
    let op = Op::LinkTest {
        to: to.clone(),
        bytes: mib << 20,
    };
    match Crd::connect(crd)?.call(Target::This, op)? {
        Reply::Link { bytes, ns } => {
            println!(
                "{bytes} bytes to {to} in {}: {:.1} MB/s",
                ms(ns),
                bytes as f64 * 1000.0 / ns.max(1) as f64
            );
            Ok(())
        }
        _ => Err(Error::Crd(
            "crd answered a link test with something else".into(),
        )),
    }
}

fn wait_cmd(crd: &Path, pid: ClusterPid) -> Result<u8> {
    match Crd::connect(crd)?.call(target_of(pid), Op::Wait { pid: pid.pid })? {
        Reply::Exited { status } => {
            let (code, sig) = cluster::exit_of(status);
            if let Some(sig) = sig {
                eprintln!("crctl: process {pid} was ended by signal {sig}");
            }
            Ok(code)
        }
        _ => Err(Error::Crd("crd answered a wait with something else".into())),
    }
}

fn ps_cmd(crd: &Path, all: bool) -> Result<()> {
    let (procs, warnings) = Crd::connect(crd)?.ps(Target::All, all)?;
    for w in &warnings {
        eprintln!("crctl: {w}");
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<14} {:<7} {:>5} {:<5} COMMAND",
        "CPID", "CLASS", "HOST", "STATE"
    );
    for p in &procs {
        let class = match p.class {
            crcluster::proto::CLASS_LOCAL => "local",
            crcluster::proto::CLASS_REMOTE => "remote",
            _ => "?",
        };
        let _ = writeln!(
            out,
            "{:<14} {:<7} {:>5} {:<5} {}",
            format!("{}:{}", p.host, p.pid),
            class,
            p.runs_on,
            p.state as char,
            String::from_utf8_lossy(&p.command)
        );
    }
    Ok(())
}

fn info(path: &Path, json: bool) -> Result<()> {
    let device = Device::open(path)?;
    let info = device.checked_info()?;
    let features = dev::feature_names(info.features);
    if json {
        let v = serde_json::json!({
            "device": path.display().to_string(),
            "abi_version": info.abi_version,
            "arch": dev::arch_name(info.arch),
            "page_size": info.page_size,
            "features": features,
        });
        println!("{v}");
    } else {
        println!("device:      {}", path.display());
        println!("abi version: {}", info.abi_version);
        println!("arch:        {}", dev::arch_name(info.arch));
        println!("page size:   {}", info.page_size);
        println!(
            "features:    {}",
            if features.is_empty() {
                "none".into()
            } else {
                features.join(" ")
            }
        );
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Shows how much of the image is written, for big images on a terminal.
/// Runs `f` (a checkpoint into `out`) with the progress line shown meanwhile.
fn with_progress<T>(out: &Output, f: impl FnOnce() -> T) -> T {
    let done = Arc::new(AtomicBool::new(false));
    let shower = out.file().and_then(|f| progress(f, done.clone()));
    let r = f();
    done.store(true, Ordering::Relaxed);
    if let Some(t) = shower {
        let _ = t.join();
    }
    r
}

fn progress(file: &File, done: Arc<AtomicBool>) -> Option<std::thread::JoinHandle<()>> {
    if !io::stderr().is_terminal() || !file.metadata().ok()?.is_file() {
        return None;
    }
    let file = file.try_clone().ok()?;
    Some(std::thread::spawn(move || {
        let start = Instant::now();
        let mut shown = false;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if start.elapsed() > Duration::from_millis(500) {
                eprint!("\rcrctl: {} written ", mib(size));
                shown = true;
            }
        }
        if shown {
            eprint!("\r\x1b[K");
        }
    }))
}

/// What a checkpoint does with the process and with what no restore brings
/// back.
struct Ending {
    /// End the process once the image is complete.
    kill: bool,
    /// Write the image even so (never with `kill`).
    allow_partial: bool,
    /// Keep the process frozen once the image is complete; end it if `C` is
    /// read from this fd, else thaw it (never with `kill` or
    /// `allow_partial`).
    hold: Option<i32>,
    /// Refuse what keeps the process on this host.
    portable: bool,
    /// With `portable`: a terminal at fd 1 or 2 goes (forwarded home).
    forward_stdio: bool,
}

/// A checkpoint that succeeded: its image committed (named, for a file)
/// and flushed, and crctl's line about it: process `who`, how long it was
/// `stopped`, whether it was then ended.
fn checkpointed(
    out: Output,
    args: &CrCheckpointArgs,
    page_size: u32,
    (who, stopped, kill): (&str, &str, bool),
) -> Result<()> {
    out.commit()?;
    io::stdout().flush()?;
    eprintln!(
        "crctl: checkpointed process {who}: {} thread{}, {} areas, {} pages ({}), image {} bytes in {} ({stopped} for {}){}",
        args.threads,
        if args.threads == 1 { "" } else { "s" },
        args.vmas,
        args.pages,
        mib(args.pages * u64::from(page_size)),
        args.bytes,
        ms(args.total_ns),
        ms(args.frozen_ns),
        if kill { ", then ended it" } else { "" }
    );
    Ok(())
}

/// `crctl checkpoint --machine-report`'s last line, for crd.
fn machine_report_line(r: &Result<()>, args: &CrCheckpointArgs) {
    let (errno, reason, a) = match r {
        Ok(()) => (0, 0, *args),
        Err(Error::Dev(crctl::dev::DevError::Checkpoint { err, args, .. })) => (
            err.raw_os_error().unwrap_or(libc::EIO),
            args.fail_reason,
            **args,
        ),
        Err(Error::NoProcess(_)) => (libc::ESRCH, uapi::CR_FAIL_NO_PROCESS, *args),
        Err(_) => (libc::EIO, uapi::CR_FAIL_ELSEWHERE, *args),
    };
    eprintln!(
        "crctl-report {errno} {reason} {} {} {} {} {} {}",
        a.fail_addr, a.bytes, a.pages, a.frozen_ns, a.threads, a.vmas
    );
}

/// A checkpoint of a process of another host: through the module's remote
/// class (crd carries it out there, as the caller).
fn checkpoint_remote(
    device: &Path,
    cpid: ClusterPid,
    (output, force): (&str, bool),
    ending: &Ending,
    timeout: u32,
    report: &mut CrCheckpointArgs,
) -> Result<()> {
    // The module first: a refusal touches no output.
    let dev = Device::open(device)?;
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_REMOTE == 0 {
        return Err(Error::Remote(cpid));
    }
    let out = Output::open(output, force)?;
    output::ignore_sigpipe();
    let mut args = CrCheckpointArgs {
        target: cpid.raw(),
        out_fd: out.fd(),
        proof_fd: -1,
        flags: if ending.kill {
            uapi::CR_CHECKPOINT_KILL
        } else if ending.allow_partial {
            uapi::CR_CHECKPOINT_PARTIAL
        } else {
            0
        },
        freeze_timeout_ms: timeout,
        ..Default::default()
    };
    with_progress(&out, || dev.checkpoint(&mut args))?;
    checkpointed(
        out,
        &args,
        info.page_size,
        (
            &format!("{cpid} (through crd)"),
            "stopped there",
            ending.kill,
        ),
    )?;
    *report = args;
    Ok(())
}

fn checkpoint(
    device: &Path,
    cpid: ClusterPid,
    output: &str,
    ending: Ending,
    (force, timeout): (bool, u32),
    report: &mut CrCheckpointArgs,
) -> Result<()> {
    if !cpid.is_local() {
        if ending.hold.is_some() {
            return Err(Error::LocalOnly("--hold-fd", cpid));
        }
        if ending.portable {
            return Err(Error::LocalOnly("--portable", cpid));
        }
        return checkpoint_remote(device, cpid, (output, force), &ending, timeout, report);
    }
    let pid = cpid.pid;
    let kill = ending.kill || ending.hold.is_some();
    // First what can be checked without touching the process: the process,
    // then the output (a file is created, nameless, in its directory).
    match std::fs::symlink_metadata(format!("/proc/{pid}")) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NoProcess(pid)),
        Err(err) => return Err(Error::LookUp { pid, err }),
    }
    if ending.portable {
        if let Some(pin) = crctl::portable::live_pin(pid, ending.forward_stdio) {
            return Err(Error::Pinned {
                who: format!("process {pid}"),
                pin,
            });
        }
    }
    let out = Output::open(output, force)?;

    let dev = Device::open(device)?;
    let info = dev.checked_info()?;
    if info.features & uapi::CR_FEATURE_CHECKPOINT == 0 {
        return Err(Error::NoCheckpoint);
    }
    // A broken pipe must come back as EPIPE with a message, not kill crctl.
    output::ignore_sigpipe();

    // The proof that we may ptrace the process: opening its mem file runs the
    // kernel's ptrace check. Without it, the module asks for a capability.
    let proof = match File::open(format!("/proc/{pid}/mem")) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NoProcess(pid)),
        Err(_) => None,
    };

    // Held, the module closes out_fd once the image is complete (its
    // reader sees the end): a file crctl still names afterwards goes as a
    // copy of its fd, left to the module. Stdout goes as fd 1 itself.
    let out_fd = match (ending.hold, out.file()) {
        (Some(_), Some(f)) => f.try_clone().map_err(Error::Io)?.into_raw_fd(),
        _ => out.fd(),
    };
    let mut args = CrCheckpointArgs {
        target: cpid.raw(),
        out_fd,
        proof_fd: proof.as_ref().map_or(-1, |f| f.as_raw_fd()),
        flags: match (ending.hold, ending.kill) {
            (Some(_), _) => uapi::CR_CHECKPOINT_HOLD,
            (None, true) => uapi::CR_CHECKPOINT_KILL,
            (None, false) => 0,
        },
        hold_fd: ending.hold.unwrap_or(0),
        freeze_timeout_ms: timeout,
        ..Default::default()
    };
    let result = with_progress(&out, || {
        let result = dev.checkpoint(&mut args);
        // A refusal comes before anything is written: say what, then write
        // the image all the same when asked.
        if let Err(DevError::Checkpoint {
            args: failed, msg, ..
        }) = &result
        {
            if ending.allow_partial && failed.fail_reason == uapi::CR_FAIL_HOLDS {
                eprintln!(
                    "crctl: warning: a restore of this image will refuse it: {msg}; writing it anyway (--allow-partial)"
                );
                args.flags |= uapi::CR_CHECKPOINT_PARTIAL;
                return dev.checkpoint(&mut args);
            }
        }
        result
    });
    // On a failure, dropping `out` removes the unfinished file.
    result?;
    checkpointed(
        out,
        &args,
        info.page_size,
        (&pid.to_string(), "stopped", kill),
    )?;
    *report = args;
    Ok(())
}

fn inspect_cmd(file: &str, json: bool, maps: bool, status: bool) -> Result<()> {
    let src: Box<dyn io::Read> = if file == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(file).map_err(|err| open_error(file, err))?)
    };
    let img = image::read(BufReader::with_capacity(1 << 20, src), |_, _| Ok(()))?;
    let mut out = io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&inspect::to_json(&img))?
        )?;
    } else if maps {
        write!(out, "{}", inspect::maps(&img))?;
    } else if status {
        write!(out, "{}", inspect::status(&img))?;
    } else {
        write!(out, "{}", inspect::text(&img))?;
    }
    Ok(())
}

fn open_error(path: &str, err: io::Error) -> Error {
    Error::OpenImage {
        path: path.to_owned(),
        err,
    }
}

/// Passes a forwarded stdin's pipe ends on stdout (crd's socket): the line
/// "stdin" with the two fds (the read end, then the write end).
fn pass_stdin(w: &OwnedFd, r: &OwnedFd) -> io::Result<()> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::mem::MaybeUninit;
    io::stdout().flush()?;
    let fds = [r.as_fd(), w.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    let line = b"stdin\n";
    let n = sendmsg(
        io::stdout(),
        &[io::IoSlice::new(line)],
        &mut anc,
        SendFlags::empty(),
    )?;
    if n != line.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "a short write"));
    }
    Ok(())
}

fn restore_cmd(
    device: &Path,
    file: &str,
    opts: &crctl::restore::Options,
    wait: bool,
) -> Result<()> {
    let mut src = if file == "-" {
        let fd = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(Error::Stdin)?;
        File::from(fd)
    } else {
        File::open(file).map_err(|err| open_error(file, err))?
    };
    let r = crctl::restore::restore(device, &mut src, opts)?;
    if r.pid != r.inner_pid {
        eprintln!(
            "crctl: restored as pid {} (pid {} in its own pid namespace)",
            r.pid, r.inner_pid
        );
    }
    if let Some((w, rd)) = &r.stdin {
        pass_stdin(w, rd).map_err(Error::StdinPass)?;
    }
    // crd has the pipe's ends: the write end must close with crd's alone.
    drop(r.stdin);
    println!("{}", r.pid);
    if wait {
        io::stdout().flush().map_err(Error::Stdout)?;
        // The image's fds are the process's now; this one waits.
        drop(src);
        let mut out = io::stdout().lock();
        let status = crctl::restore::relay_and_wait(r.child, r.forwarded, &mut out)?;
        writeln!(out, "ended {status}").map_err(Error::Stdout)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_run_as;

    #[test]
    fn run_as_takes_a_user_and_a_group() {
        assert_eq!(parse_run_as("1000:1001"), Ok((1000, 1001)));
        assert!(parse_run_as("0:0").is_err());
        assert!(parse_run_as("1000").is_err());
        assert!(parse_run_as("1000:").is_err());
        assert!(parse_run_as("4294967295:1").is_err());
        assert!(parse_run_as("a:b").is_err());
    }
}
