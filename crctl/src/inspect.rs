// SPDX-License-Identifier: GPL-2.0

//! Presenting a verified image: as text for people, as JSON for tools, and
//! as /proc/<pid>/maps lines for comparison with a live process.

use serde_json::{json, Value};

use crate::image::Image;
use crate::uapi::*;

/// A NUL-padded C string field as text.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// (major, minor) of a `new_encode_dev` device number.
pub fn dev_split(dev: u64) -> (u64, u64) {
    ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// The name of a `CR_VMA_*` kind.
pub fn vma_kind(kind: u32) -> &'static str {
    match kind {
        CR_VMA_ANON => "anon",
        CR_VMA_FILE => "file",
        CR_VMA_SHMEM => "shmem",
        CR_VMA_VDSO => "vdso",
        CR_VMA_VVAR => "vvar",
        CR_VMA_VSYSCALL => "vsyscall",
        CR_VMA_DEVICE => "device",
        _ => "?",
    }
}

/// The name of a `CR_FD_*` type.
pub fn fd_type(t: u32) -> &'static str {
    match t {
        CR_FD_REG => "file",
        CR_FD_DIR => "dir",
        CR_FD_PIPE => "pipe",
        CR_FD_TTY => "tty",
        CR_FD_SOCKET => "socket",
        CR_FD_CHR => "chr",
        CR_FD_BLK => "blk",
        CR_FD_ANON => "anon",
        _ => "other",
    }
}

/// The name /proc/<pid>/maps shows for an area.
pub fn vma_name(v: &CrVma, path: &str) -> String {
    if !path.is_empty() {
        path.to_owned()
    } else if v.flags & CR_VMA_HEAP != 0 {
        "[heap]".into()
    } else if v.flags & CR_VMA_STACK != 0 {
        "[stack]".into()
    } else {
        String::new()
    }
}

/// "rwxp" as /proc/<pid>/maps writes it.
pub fn perms(v: &CrVma) -> String {
    format!(
        "{}{}{}{}",
        if v.prot & 1 != 0 { 'r' } else { '-' },
        if v.prot & 2 != 0 { 'w' } else { '-' },
        if v.prot & 4 != 0 { 'x' } else { '-' },
        if v.flags & CR_VMA_SHARED != 0 {
            's'
        } else {
            'p'
        },
    )
}

/// The areas as /proc/<pid>/maps lines (fields as the kernel prints them).
pub fn maps(img: &Image) -> String {
    let mut s = String::new();
    for (v, path) in &img.vmas {
        let (ma, mi) = dev_split(v.dev);
        let line = format!(
            "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ",
            v.start,
            v.end,
            perms(v),
            // The kernel prints an offset only for areas backed by a file.
            if matches!(v.kind, CR_VMA_FILE | CR_VMA_SHMEM) {
                v.pgoff * u64::from(img.header.page_size)
            } else {
                0
            },
            ma,
            mi,
            v.ino
        );
        let name = vma_name(v, path);
        if name.is_empty() {
            s.push_str(&line);
        } else {
            s.push_str(&format!("{line:<73}{name}"));
        }
        s.push('\n');
    }
    s
}

/// The fields of /proc/<pid>/status that an image determines, formatted as
/// the kernel formats them (for the main thread where a field is per thread).
pub fn status(img: &Image) -> String {
    let p = &img.process;
    let lead = img.threads.first().map(|t| t.thread).unwrap_or_default();
    let mut ignored = 0u64;
    let mut caught = 0u64;
    for (i, a) in img.sighand.action.iter().enumerate() {
        match a.handler {
            0 => {}
            1 => ignored |= 1 << i,
            _ => caught |= 1 << i,
        }
    }
    format!(
        "Name:\t{}\nUmask:\t{:04o}\nPid:\t{}\nPPid:\t{}\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nThreads:\t{}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{:016x}\nSigCgt:\t{:016x}\n",
        cstr(&p.comm),
        p.umask,
        p.pid,
        p.ppid,
        p.uid,
        p.euid,
        p.suid,
        p.fsuid,
        p.gid,
        p.egid,
        p.sgid,
        p.fsgid,
        p.nr_threads,
        lead.pending,
        img.shared_pending.signal,
        lead.blocked,
        ignored,
        caught
    )
}

fn restart_name(r: u32) -> &'static str {
    match r {
        CR_RESTART_SYSCALL => "restart",
        CR_RESTART_BLOCK => "restart_block",
        _ => "none",
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// The image as text.
pub fn text(img: &Image) -> String {
    let h = &img.header;
    let p = &img.process;
    let page = u64::from(h.page_size);
    let mut s = String::new();
    s.push_str(&format!(
        "image: {} bytes, version {}, x86_64, page size {}, written by Linux {} on {}\n",
        img.bytes,
        h.version,
        h.page_size,
        cstr(&h.release),
        cstr(&h.hostname)
    ));
    s.push_str(&format!(
        "process: pid {} ({}), ppid {}, pgid {}, sid {}, {} thread{}, uid {} gid {}, umask {:03o}\n",
        p.pid,
        cstr(&p.comm),
        p.ppid,
        p.pgid,
        p.sid,
        p.nr_threads,
        if p.nr_threads == 1 { "" } else { "s" },
        p.uid,
        p.gid,
        p.umask
    ));
    if p.flags != 0 || p.oom_score_adj != 0 {
        s.push_str(&format!(
            "settings: oom_score_adj {}{}{}\n",
            p.oom_score_adj,
            if p.flags != 0 { ", " } else { "" },
            settings(p.flags).join(" ")
        ));
    }
    s.push_str(&format!(
        "executable: {}\n",
        if img.exe.is_empty() {
            "(none)"
        } else {
            &img.exe
        }
    ));
    s.push_str(&format!(
        "memory: {} areas, {} pages saved ({}); brk {:#x}-{:#x}, stack {:#x}, vdso {:#x}\n",
        img.vmas.len(),
        img.trailer.pages,
        mib(img.trailer.pages * page),
        img.mm.start_brk,
        img.mm.brk,
        img.mm.start_stack,
        img.mm.vdso_base
    ));
    for (v, path) in &img.vmas {
        s.push_str(&format!(
            "  {:012x}-{:012x} {} {:8} {:6} pages {}\n",
            v.start,
            v.end,
            perms(v),
            vma_kind(v.kind),
            img.pages_in(v),
            vma_name(v, path)
        ));
    }
    s.push_str(&format!("threads: {}\n", img.threads.len()));
    for t in &img.threads {
        let th = &t.thread;
        let r = &th.regs;
        s.push_str(&format!(
            "  tid {}{} ({}): ip {:#x} sp {:#x} fs_base {:#x}",
            th.tid,
            if th.flags & CR_THREAD_LEADER != 0 {
                " leader"
            } else {
                ""
            },
            cstr(&th.comm),
            r.ip,
            r.sp,
            r.fs_base
        ));
        if th.restart != CR_RESTART_NONE {
            s.push_str(&format!(
                ", in syscall {} ({})",
                r.orig_ax as i64,
                restart_name(th.restart)
            ));
        }
        if th.policy != 0 || th.nice != 0 {
            s.push_str(&format!(
                ", policy {} priority {} nice {}",
                th.policy, th.rt_priority, th.nice
            ));
        }
        s.push_str(&format!(", blocked {:#x}", th.blocked));
        if th.pending != 0 {
            s.push_str(&format!(", pending {:#x}", th.pending));
        }
        s.push('\n');
    }
    if let Some((_, cwd, root)) = &img.fs {
        s.push_str(&format!("directories: cwd {cwd}, root {root}\n"));
    }
    if let Some(t) = &img.itimers {
        let names = ["real", "virtual", "prof"];
        let armed: Vec<String> = (0..3)
            .filter(|&i| t.it[2 * i] != 0)
            .map(|i| {
                format!(
                    "{} {:.3} s (every {:.3} s)",
                    names[i],
                    t.it[2 * i] as f64 / 1e9,
                    t.it[2 * i + 1] as f64 / 1e9
                )
            })
            .collect();
        s.push_str(&format!(
            "interval timers: {}\n",
            if armed.is_empty() {
                "none".to_owned()
            } else {
                armed.join(", ")
            }
        ));
    }
    if let Some(c) = &img.clocks {
        s.push_str(&format!(
            "clocks: monotonic {:.3} s, boottime {:.3} s (as the process saw them)\n",
            c.monotonic_ns as f64 / 1e9,
            c.boottime_ns as f64 / 1e9
        ));
    }
    s.push_str(&format!("files: {}\n", img.fds.len()));
    for (f, path) in &img.fds {
        s.push_str(&format!(
            "  {:3} {:6} {:#o} pos {} {}\n",
            f.fd,
            fd_type(f.r#type),
            f.f_flags,
            f.pos,
            path
        ));
    }
    for (p, data) in &img.pipes {
        s.push_str(&format!(
            "  pipe:[{}] holds {} of {} bytes\n",
            p.ino,
            data.len(),
            p.capacity
        ));
    }
    let handled: Vec<String> = img
        .sighand
        .action
        .iter()
        .enumerate()
        .filter(|(_, a)| a.handler > 1)
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    let ignored: Vec<String> = img
        .sighand
        .action
        .iter()
        .enumerate()
        .filter(|(_, a)| a.handler == 1)
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    s.push_str(&format!(
        "signals: handled [{}], ignored [{}], pending for the process {:#x} ({} queued)\n",
        handled.join(" "),
        ignored.join(" "),
        img.shared_pending.signal,
        img.shared_queue.len()
    ));
    s.push_str(&format!(
        "verified: {} records, {} bytes, check chain {:#010x}\n",
        img.trailer.records + 1,
        img.bytes,
        img.trailer.chain
    ));
    s
}

/// The image as JSON.
pub fn to_json(img: &Image) -> Value {
    let h = &img.header;
    let p = &img.process;
    let vmas: Vec<Value> = img
        .vmas
        .iter()
        .map(|(v, path)| {
            let (ma, mi) = dev_split(v.dev);
            json!({
                "start": v.start, "end": v.end, "perms": perms(v), "kind": vma_kind(v.kind),
                "pgoff": v.pgoff, "flags": v.flags, "flag_names": vma_flag_names(v.flags),
                "dev": format!("{ma:02x}:{mi:02x}"), "ino": v.ino, "file_size": v.file_size,
                "mtime_ns": v.mtime_ns, "path": path, "name": vma_name(v, path),
                "pages": img.pages_in(v),
            })
        })
        .collect();
    let threads: Vec<Value> = img
        .threads
        .iter()
        .map(|t| {
            let th = &t.thread;
            let r = &th.regs;
            json!({
                "tid": th.tid, "leader": th.flags & CR_THREAD_LEADER != 0, "comm": cstr(&th.comm),
                "regs": {
                    "r15": r.r15, "r14": r.r14, "r13": r.r13, "r12": r.r12, "bp": r.bp, "bx": r.bx,
                    "r11": r.r11, "r10": r.r10, "r9": r.r9, "r8": r.r8, "ax": r.ax, "cx": r.cx,
                    "dx": r.dx, "si": r.si, "di": r.di, "orig_ax": r.orig_ax, "ip": r.ip,
                    "cs": r.cs, "flags": r.flags, "sp": r.sp, "ss": r.ss, "fs_base": r.fs_base,
                    "gs_base": r.gs_base, "ds": r.ds, "es": r.es, "fs": r.fs, "gs": r.gs,
                },
                "restart": restart_name(th.restart), "restart_errno": th.restart_errno,
                "blocked": th.blocked, "pending": th.pending, "pending_queued": t.pending.len(),
                "sigaltstack": { "sp": th.sas_sp, "size": th.sas_size, "flags": th.sas_flags },
                "xstate_size": th.xstate_size, "clear_child_tid": th.clear_child_tid,
                "robust_list": th.robust_list, "restart_ns": th.restart_ns,
                "nice": th.nice, "policy": th.policy, "rt_priority": th.rt_priority,
            })
        })
        .collect();
    let fds: Vec<Value> = img
        .fds
        .iter()
        .map(|(f, path)| {
            json!({
                "fd": f.fd, "type": fd_type(f.r#type), "flags": f.f_flags, "mode": f.mode,
                "pos": f.pos, "dev": f.dev, "ino": f.ino, "size": f.size, "path": path,
            })
        })
        .collect();
    let handlers: Vec<Value> = img
        .sighand
        .action
        .iter()
        .enumerate()
        .filter(|(_, a)| a.handler != 0 || a.flags != 0 || a.mask != 0)
        .map(|(i, a)| {
            json!({ "signal": i + 1, "handler": a.handler, "flags": a.flags, "restorer": a.restorer, "mask": a.mask })
        })
        .collect();
    let pages: Vec<Value> = img
        .pages
        .iter()
        .map(|r| json!({ "addr": r.addr, "count": r.count }))
        .collect();
    json!({
        "bytes": img.bytes,
        "header": {
            "version": h.version, "arch": "x86_64", "page_size": h.page_size,
            "xstate_size": h.xstate_size, "created_ns": h.created_ns,
            "release": cstr(&h.release), "hostname": cstr(&h.hostname),
        },
        "process": {
            "pid": p.pid, "ppid": p.ppid, "pgid": p.pgid, "sid": p.sid, "threads": p.nr_threads,
            "uid": p.uid, "euid": p.euid, "suid": p.suid, "fsuid": p.fsuid,
            "gid": p.gid, "egid": p.egid, "sgid": p.sgid, "fsgid": p.fsgid,
            "umask": p.umask, "personality": p.personality, "exit_signal": p.exit_signal,
            "comm": cstr(&p.comm), "flags": settings(p.flags), "oom_score_adj": p.oom_score_adj,
            "rlimits": p.rlim.iter().map(|r| json!([r.cur, r.max])).collect::<Vec<_>>(),
        },
        "mm": {
            "start_code": img.mm.start_code, "end_code": img.mm.end_code,
            "start_data": img.mm.start_data, "end_data": img.mm.end_data,
            "start_brk": img.mm.start_brk, "brk": img.mm.brk, "start_stack": img.mm.start_stack,
            "arg_start": img.mm.arg_start, "arg_end": img.mm.arg_end,
            "env_start": img.mm.env_start, "env_end": img.mm.env_end,
            "vdso": img.mm.vdso_base, "auxv": img.auxv, "exe": img.exe,
        },
        "vmas": vmas,
        "threads": threads,
        "files": fds,
        "directories": img.fs.as_ref().map(|(_, cwd, root)| json!({ "cwd": cwd, "root": root })),
        "itimers": img.itimers.map(|t| t.it.to_vec()),
        "clocks": img.clocks.map(|c| json!({
            "monotonic_ns": c.monotonic_ns, "boottime_ns": c.boottime_ns,
            "realtime_ns": c.realtime_ns,
        })),
        "pipes": img.pipes.iter().map(|(p, d)| json!({
            "dev": p.dev, "ino": p.ino, "bytes": d.len(), "capacity": p.capacity,
        })).collect::<Vec<_>>(),
        "signals": {
            "handlers": handlers,
            "pending": img.shared_pending.signal,
            "queued": img.shared_queue.len(),
        },
        "pages": { "total": img.trailer.pages, "runs": pages },
        "trailer": { "records": img.trailer.records, "chain": img.trailer.chain },
    })
}

/// The names of the bits of `flags` that `table` names.
fn flag_names(flags: u32, table: &[(u32, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter_map(|&(f, name)| (flags & f != 0).then_some(name))
        .collect()
}

/// The names of the `CR_PROCESS_*` settings in `flags`.
fn settings(flags: u32) -> Vec<&'static str> {
    flag_names(
        flags,
        &[
            (CR_PROCESS_SUBREAPER, "subreaper"),
            (CR_PROCESS_THP_DISABLE, "thp-disabled"),
            (CR_PROCESS_THP_EXCEPT_ADVISED, "thp-except-advised"),
            (CR_PROCESS_KSM_ANY, "ksm-merge-any"),
            (CR_PROCESS_MDWE, "mdwe"),
            (CR_PROCESS_MDWE_NO_INHERIT, "mdwe-no-inherit"),
            (CR_PROCESS_MLOCK_FUTURE, "mlockall-future"),
            (CR_PROCESS_MLOCK_ONFAULT, "mlockall-onfault"),
            (CR_PROCESS_MEMBARRIER_PRIVATE, "membarrier-private"),
            (CR_PROCESS_MEMBARRIER_GLOBAL, "membarrier-global"),
            (CR_PROCESS_MEMBARRIER_SYNC_CORE, "membarrier-sync-core"),
            (CR_PROCESS_MEMBARRIER_RSEQ, "membarrier-rseq"),
        ],
    )
}

/// The names of the `CR_VMA_*` flags in `flags` (madvise ones as smaps's
/// VmFlags spell them).
fn vma_flag_names(flags: u32) -> Vec<&'static str> {
    flag_names(
        flags,
        &[
            (CR_VMA_SHARED, "shared"),
            (CR_VMA_GROWSDOWN, "growsdown"),
            (CR_VMA_HEAP, "heap"),
            (CR_VMA_STACK, "stack"),
            (CR_VMA_LOCKED, "locked"),
            (CR_VMA_DONTDUMP, "dd"),
            (CR_VMA_MAYWRITE, "maywrite"),
            (CR_VMA_HUGEPAGE, "hg"),
            (CR_VMA_NOHUGEPAGE, "nh"),
            (CR_VMA_DONTFORK, "dc"),
            (CR_VMA_WIPEONFORK, "wf"),
            (CR_VMA_SEQ_READ, "sr"),
            (CR_VMA_RAND_READ, "rr"),
            (CR_VMA_SOFTDIRTY, "sd"),
            (CR_VMA_MERGEABLE, "mg"),
            (CR_VMA_ACCOUNT, "ac"),
            (CR_VMA_NORESERVE, "nr"),
            (CR_VMA_GUARD, "gu"),
            (CR_VMA_LOCKONFAULT, "lf"),
        ],
    )
}
