// SPDX-License-Identifier: GPL-2.0

//! `crctl checkpoint` refuses a bad output before it opens /dev/cr, and never
//! changes a file it did not create. The device given is one that does not
//! exist, so no process is ever checkpointed here: getting as far as opening
//! it means every check passed.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A new empty directory, removed with what is in it when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("crctl-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir(&p).unwrap();
        TempDir(p)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `crctl --device DIR/cr checkpoint PID ARGS` (DIR/cr does not exist).
fn checkpoint(dir: &TempDir, pid: u32, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crctl"));
    c.arg("--device")
        .arg(dir.0.join("cr"))
        .arg("checkpoint")
        .arg(pid.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `c`, which must fail, and returns its stderr.
fn fails(c: &mut Command) -> String {
    let Output { status, stderr, .. } = c.output().unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    stderr
}

/// A file that is not crctl's: mode 0666, with some content.
fn theirs(path: &Path) {
    fs::write(path, b"precious").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
}

fn assert_theirs(path: &Path) {
    assert_eq!(fs::read(path).unwrap(), b"precious");
    assert_eq!(
        fs::metadata(path).unwrap().permissions().mode() & 0o7777,
        0o666
    );
}

fn me() -> u32 {
    std::process::id()
}

#[test]
fn closed_stdout_is_refused() {
    let d = TempDir::new("closed-stdout");
    let mut c = checkpoint(&d, me(), &["--kill"]);
    // SAFETY: close is async-signal-safe; the child closes its own fd 1.
    unsafe {
        c.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    assert_eq!(
        fails(&mut c),
        "crctl: stdout is closed; use -o FILE or give crctl an open stdout\n"
    );
}

#[test]
fn read_only_stdout_is_refused() {
    let d = TempDir::new("read-only-stdout");
    let mut c = checkpoint(&d, me(), &["-o", "-"]);
    c.stdout(File::open("/dev/null").unwrap());
    let e = fails(&mut c);
    assert!(
        e.starts_with("crctl: stdout is open only for reading"),
        "{e}"
    );
}

#[test]
fn existing_file_is_refused_before_the_device() {
    let d = TempDir::new("existing");
    let path = d.0.join("x.img");
    theirs(&path);
    let e = fails(&mut checkpoint(&d, me(), &["-o", path.to_str().unwrap()]));
    assert_eq!(
        e,
        format!(
            "crctl: {} exists; remove it or pass --force to replace it\n",
            path.display()
        )
    );
    assert_theirs(&path);
    assert_eq!(d.names(), ["x.img"]);
}

#[test]
fn other_hosts_process_is_refused_first() {
    let d = TempDir::new("remote");
    let path = d.0.join("precious");
    theirs(&path);
    let mut c = Command::new(env!("CARGO_BIN_EXE_crctl"));
    c.arg("--device")
        .arg(d.0.join("cr"))
        .args([
            "checkpoint",
            "2:51",
            "-o",
            path.to_str().unwrap(),
            "--force",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Another host's process goes through the module's remote class: no
    // module, nothing touched.
    let e = fails(&mut c);
    assert!(
        e.starts_with(&format!(
            "crctl: cannot open {}: ",
            d.0.join("cr").display()
        )),
        "{e}"
    );
    assert_theirs(&path);
    assert_eq!(d.names(), ["precious"]);
}

#[test]
fn missing_process_is_refused_first() {
    let d = TempDir::new("no-process");
    let path = d.0.join("precious");
    theirs(&path);
    // Above the largest pid_max.
    let e = fails(&mut checkpoint(
        &d,
        4_194_305,
        &["-o", path.to_str().unwrap(), "--force"],
    ));
    assert_eq!(e, "crctl: no process 4194305\n");
    assert_theirs(&path);
    assert_eq!(d.names(), ["precious"]);
}

#[test]
fn failure_after_the_checks_leaves_nothing() {
    let d = TempDir::new("nothing-left");
    for force in [false, true] {
        let path = d.0.join("x.img");
        let mut c = checkpoint(&d, me(), &["-o", path.to_str().unwrap()]);
        if force {
            theirs(&path);
            c.arg("--force");
        }
        let e = fails(&mut c);
        assert!(e.starts_with("crctl: cannot open "), "{e}");
        if force {
            assert_theirs(&path);
            assert_eq!(d.names(), ["x.img"]);
        } else {
            assert!(d.names().is_empty(), "{:?}", d.names());
        }
    }
}

#[test]
fn help_tells_of_force() {
    let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
        .args(["checkpoint", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--force"), "{help}");
    assert!(help.contains("Replace FILE if it exists"), "{help}");
}
