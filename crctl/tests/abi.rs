// SPDX-License-Identifier: GPL-2.0

//! The Rust mirror of the ABI (`src/uapi.rs`) against the C header
//! (`include/uapi/linux/cr.h`): a C compiler prints every size, offset and ioctl
//! number from the header, and each must equal the Rust value.

use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use crctl::uapi::*;

/// `(C expression, Rust value)` pairs: the struct's size and each field's offset.
macro_rules! layout {
    ($out:ident, $c:literal, $rust:ty, [$($f:ident),* $(,)?]) => {
        $out.push((concat!("sizeof(struct ", $c, ")"), size_of::<$rust>() as u64));
        $($out.push((
            concat!("offsetof(struct ", $c, ", ", stringify!($f), ")"),
            offset_of!($rust, $f) as u64,
        ));)*
    };
}

/// `(C expression, Rust value)` for everything the ABI fixes.
fn layout() -> Vec<(&'static str, u64)> {
    let mut v = Vec::new();
    layout!(
        v,
        "cr_info",
        CrInfo,
        [abi_version, arch, features, page_size, __pad, __reserved]
    );
    layout!(
        v,
        "cr_checkpoint_args",
        CrCheckpointArgs,
        [
            target,
            out_fd,
            proof_fd,
            flags,
            freeze_timeout_ms,
            bytes,
            pages,
            frozen_ns,
            total_ns,
            threads,
            vmas,
            fail_reason,
            __pad,
            fail_addr,
            msg,
            msg_len,
            __pad2,
        ]
    );
    layout!(
        v,
        "cr_restore_args",
        CrRestoreArgs,
        [
            meta,
            meta_len,
            in_fd,
            status_fd,
            flags,
            fail_reason,
            fail_offset,
            dev_fd,
            __pad,
            __reserved,
        ]
    );
    layout!(
        v,
        "cr_restore_status",
        CrRestoreStatus,
        [error, reason, offset, pid, __pad]
    );
    layout!(
        v,
        "cr_restore_thread_args",
        CrRestoreThreadArgs,
        [index, flags, fail_reason, __pad, __reserved]
    );
    v.push((
        "offsetof(struct cr_record, type)",
        offset_of!(CrRecord, r#type) as u64,
    ));
    layout!(v, "cr_record", CrRecord, [check, size]);
    layout!(
        v,
        "cr_image_header",
        CrImageHeader,
        [
            version,
            arch,
            page_size,
            xstate_size,
            created_ns,
            release,
            hostname,
            __pad,
        ]
    );
    layout!(v, "cr_rlimit", CrRlimit, [cur, max]);
    layout!(
        v,
        "cr_process",
        CrProcess,
        [
            pid,
            ppid,
            pgid,
            sid,
            nr_threads,
            uid,
            euid,
            suid,
            fsuid,
            gid,
            egid,
            sgid,
            fsgid,
            umask,
            personality,
            exit_signal,
            flags,
            oom_score_adj,
            comm,
            rlim,
        ]
    );
    layout!(
        v,
        "cr_mm",
        CrMm,
        [
            start_code,
            end_code,
            start_data,
            end_data,
            start_brk,
            brk,
            start_stack,
            arg_start,
            arg_end,
            env_start,
            env_end,
            vdso_base,
            nr_vmas,
            auxv_words,
            exe_path_len,
            __pad,
        ]
    );
    layout!(
        v,
        "cr_vma",
        CrVma,
        [
            start,
            end,
            pgoff,
            __reserved1,
            prot,
            kind,
            flags,
            __pad,
            dev,
            ino,
            file_size,
            mtime_ns,
            __reserved,
            path_len,
            __pad2,
        ]
    );
    layout!(
        v,
        "cr_sigaction",
        CrSigaction,
        [handler, flags, restorer, mask]
    );
    layout!(v, "cr_sighand", CrSighand, [action]);
    layout!(v, "cr_siginfo", CrSiginfo, [signo, __pad, info]);
    layout!(v, "cr_sigpending", CrSigpending, [signal, count, __pad]);
    v.push((
        "offsetof(struct cr_fd, type)",
        offset_of!(CrFd, r#type) as u64,
    ));
    layout!(
        v,
        "cr_fd",
        CrFd,
        [fd, f_flags, mode, pos, dev, ino, size, path_len, flags]
    );
    layout!(
        v,
        "cr_regs",
        CrRegs,
        [
            r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs,
            flags, sp, ss, fs_base, gs_base, ds, es, fs, gs,
        ]
    );
    layout!(
        v,
        "cr_thread",
        CrThread,
        [
            tid,
            flags,
            regs,
            restart,
            restart_errno,
            blocked,
            pending,
            sas_sp,
            sas_size,
            sas_flags,
            xstate_size,
            pending_count,
            nice,
            clear_child_tid,
            robust_list,
            robust_list_len,
            comm,
            rseq,
            rseq_len,
            rseq_sig,
            restart_ns,
            policy,
            rt_priority,
        ]
    );
    layout!(v, "cr_pages", CrPages, [addr, count]);
    layout!(v, "cr_fs", CrFs, [cwd_len, root_len, cwd_dev, cwd_ino]);
    layout!(v, "cr_itimers", CrItimers, [it]);
    layout!(v, "cr_pipe", CrPipe, [dev, ino, bytes, capacity]);
    layout!(
        v,
        "cr_trailer",
        CrTrailer,
        [records, bytes, chain, __pad, pages]
    );

    let consts: [(&'static str, u64); 101] = [
        ("CR_ABI_VERSION", CR_ABI_VERSION as u64),
        ("CR_ARCH_X86_64", CR_ARCH_X86_64 as u64),
        (
            "CR_FEATURE_CHECKPOINT | CR_FEATURE_RESTORE",
            CR_FEATURE_CHECKPOINT | CR_FEATURE_RESTORE,
        ),
        ("CR_FEATURES_ALL", CR_FEATURES_ALL),
        ("CR_IOC_MAGIC", CR_IOC_MAGIC as u64),
        ("CR_IOC_INFO", CR_IOC_INFO as u64),
        ("CR_IOC_CHECKPOINT", CR_IOC_CHECKPOINT as u64),
        ("CR_CPID(7, 42)", cpid(7, 42)),
        ("CR_CHECKPOINT_KILL", CR_CHECKPOINT_KILL as u64),
        ("CR_CHECKPOINT_PARTIAL", CR_CHECKPOINT_PARTIAL as u64),
        ("CR_CHECKPOINT_FLAGS_ALL", CR_CHECKPOINT_FLAGS_ALL as u64),
        (
            "CR_FREEZE_TIMEOUT_MS_DEFAULT",
            CR_FREEZE_TIMEOUT_MS_DEFAULT as u64,
        ),
        ("CR_IMAGE_MAGIC", CR_IMAGE_MAGIC),
        ("CR_IMAGE_VERSION", CR_IMAGE_VERSION as u64),
        ("CR_IMAGE_MAX_RECORD", CR_IMAGE_MAX_RECORD),
        ("CR_IMAGE_MAX_PATH", CR_IMAGE_MAX_PATH as u64),
        ("CR_IMAGE_MAX_THREADS", CR_IMAGE_MAX_THREADS as u64),
        ("CR_IMAGE_MAX_VMAS", CR_IMAGE_MAX_VMAS as u64),
        ("CR_IMAGE_MAX_XSTATE", CR_IMAGE_MAX_XSTATE as u64),
        ("CR_RLIMITS", CR_RLIMITS as u64),
        ("CR_NSIG", CR_NSIG as u64),
        ("CR_REC_HEADER", CR_REC_HEADER as u64),
        ("CR_REC_PROCESS", CR_REC_PROCESS as u64),
        ("CR_REC_MM", CR_REC_MM as u64),
        ("CR_REC_VMA", CR_REC_VMA as u64),
        ("CR_REC_SIGHAND", CR_REC_SIGHAND as u64),
        ("CR_REC_SIGPENDING", CR_REC_SIGPENDING as u64),
        ("CR_REC_FD", CR_REC_FD as u64),
        ("CR_REC_THREAD", CR_REC_THREAD as u64),
        ("CR_REC_PAGES", CR_REC_PAGES as u64),
        ("CR_REC_TRAILER", CR_REC_TRAILER as u64),
        ("CR_VMA_ANON", CR_VMA_ANON as u64),
        ("CR_VMA_FILE", CR_VMA_FILE as u64),
        ("CR_VMA_SHMEM", CR_VMA_SHMEM as u64),
        ("CR_VMA_VDSO", CR_VMA_VDSO as u64),
        ("CR_VMA_VVAR", CR_VMA_VVAR as u64),
        ("CR_VMA_VSYSCALL", CR_VMA_VSYSCALL as u64),
        ("CR_VMA_DEVICE", CR_VMA_DEVICE as u64),
        (
            "CR_VMA_SHARED | CR_VMA_GROWSDOWN | CR_VMA_HEAP",
            (CR_VMA_SHARED | CR_VMA_GROWSDOWN | CR_VMA_HEAP) as u64,
        ),
        (
            "CR_VMA_STACK | CR_VMA_LOCKED | CR_VMA_DONTDUMP",
            (CR_VMA_STACK | CR_VMA_LOCKED | CR_VMA_DONTDUMP) as u64,
        ),
        (
            "CR_FD_REG + 10 * CR_FD_DIR + 100 * CR_FD_PIPE",
            (CR_FD_REG + 10 * CR_FD_DIR + 100 * CR_FD_PIPE) as u64,
        ),
        (
            "CR_FD_TTY + 10 * CR_FD_SOCKET + 100 * CR_FD_CHR",
            (CR_FD_TTY + 10 * CR_FD_SOCKET + 100 * CR_FD_CHR) as u64,
        ),
        (
            "CR_FD_BLK + 10 * CR_FD_ANON + 100 * CR_FD_OTHER",
            (CR_FD_BLK + 10 * CR_FD_ANON + 100 * CR_FD_OTHER) as u64,
        ),
        ("CR_PROCESS_SUBREAPER", CR_PROCESS_SUBREAPER as u64),
        ("CR_PROCESS_THP_DISABLE", CR_PROCESS_THP_DISABLE as u64),
        (
            "CR_PROCESS_THP_EXCEPT_ADVISED",
            CR_PROCESS_THP_EXCEPT_ADVISED as u64,
        ),
        ("CR_PROCESS_KSM_ANY", CR_PROCESS_KSM_ANY as u64),
        ("CR_PROCESS_MDWE", CR_PROCESS_MDWE as u64),
        (
            "CR_PROCESS_MDWE_NO_INHERIT",
            CR_PROCESS_MDWE_NO_INHERIT as u64,
        ),
        (
            "CR_PROCESS_MEMBARRIER_PRIVATE",
            CR_PROCESS_MEMBARRIER_PRIVATE as u64,
        ),
        (
            "CR_PROCESS_MEMBARRIER_GLOBAL",
            CR_PROCESS_MEMBARRIER_GLOBAL as u64,
        ),
        (
            "CR_PROCESS_MEMBARRIER_SYNC_CORE",
            CR_PROCESS_MEMBARRIER_SYNC_CORE as u64,
        ),
        (
            "CR_PROCESS_MEMBARRIER_RSEQ",
            CR_PROCESS_MEMBARRIER_RSEQ as u64,
        ),
        ("CR_PROCESS_ALL", CR_PROCESS_ALL as u64),
        ("CR_RESTART_NONE", CR_RESTART_NONE as u64),
        ("CR_RESTART_SYSCALL", CR_RESTART_SYSCALL as u64),
        ("CR_RESTART_BLOCK", CR_RESTART_BLOCK as u64),
        (
            "CR_FAIL_NONE + CR_FAIL_ARGS + CR_FAIL_REMOTE",
            (CR_FAIL_NONE + CR_FAIL_ARGS + CR_FAIL_REMOTE) as u64,
        ),
        ("CR_FAIL_NO_PROCESS", CR_FAIL_NO_PROCESS as u64),
        ("CR_FAIL_KTHREAD", CR_FAIL_KTHREAD as u64),
        ("CR_FAIL_SELF", CR_FAIL_SELF as u64),
        ("CR_FAIL_STOPPED", CR_FAIL_STOPPED as u64),
        ("CR_FAIL_PERM", CR_FAIL_PERM as u64),
        ("CR_FAIL_PROOF", CR_FAIL_PROOF as u64),
        ("CR_FAIL_OUTPUT", CR_FAIL_OUTPUT as u64),
        ("CR_FAIL_BUSY", CR_FAIL_BUSY as u64),
        ("CR_FAIL_TIMEOUT", CR_FAIL_TIMEOUT as u64),
        ("CR_FAIL_INTERRUPTED", CR_FAIL_INTERRUPTED as u64),
        ("CR_FAIL_EXEC", CR_FAIL_EXEC as u64),
        ("CR_FAIL_SHMEM", CR_FAIL_SHMEM as u64),
        ("CR_FAIL_DEVICE", CR_FAIL_DEVICE as u64),
        ("CR_FAIL_LIMIT", CR_FAIL_LIMIT as u64),
        (
            "CR_FAIL_IMAGE + 100 * CR_FAIL_CPU",
            (CR_FAIL_IMAGE + 100 * CR_FAIL_CPU) as u64,
        ),
        (
            "CR_FAIL_VDSO + 100 * CR_FAIL_FILE",
            (CR_FAIL_VDSO + 100 * CR_FAIL_FILE) as u64,
        ),
        (
            "CR_FAIL_UNSUPPORTED + 100 * CR_FAIL_CALLER",
            (CR_FAIL_UNSUPPORTED + 100 * CR_FAIL_CALLER) as u64,
        ),
        ("CR_IOC_RESTORE", CR_IOC_RESTORE as u64),
        ("CR_IOC_RESTORE_THREAD", CR_IOC_RESTORE_THREAD as u64),
        (
            "CR_REC_FS + 100 * CR_REC_ITIMERS",
            (CR_REC_FS + 100 * CR_REC_ITIMERS) as u64,
        ),
        ("CR_REC_PIPE", CR_REC_PIPE as u64),
        ("CR_IMAGE_MAX_PIPE", CR_IMAGE_MAX_PIPE as u64),
        ("CR_FAIL_CANCELED", CR_FAIL_CANCELED as u64),
        ("CR_FAIL_UNKILLABLE", CR_FAIL_UNKILLABLE as u64),
        ("CR_FAIL_UNRESTORABLE", CR_FAIL_UNRESTORABLE as u64),
        ("CR_FAIL_LEADERLESS", CR_FAIL_LEADERLESS as u64),
        ("CR_FAIL_HOLDS", CR_FAIL_HOLDS as u64),
        ("CR_FD_F_SHARED", CR_FD_F_SHARED as u64),
        ("CR_MSG_MAX", CR_MSG_MAX as u64),
        ("CR_THREAD_LEADER", CR_THREAD_LEADER as u64),
        ("CR_VMA_MAYWRITE", CR_VMA_MAYWRITE as u64),
        ("CR_VMA_HUGEPAGE", CR_VMA_HUGEPAGE as u64),
        ("CR_VMA_NOHUGEPAGE", CR_VMA_NOHUGEPAGE as u64),
        ("CR_VMA_DONTFORK", CR_VMA_DONTFORK as u64),
        ("CR_VMA_WIPEONFORK", CR_VMA_WIPEONFORK as u64),
        ("CR_VMA_SEQ_READ", CR_VMA_SEQ_READ as u64),
        ("CR_VMA_RAND_READ", CR_VMA_RAND_READ as u64),
        ("CR_VMA_SOFTDIRTY", CR_VMA_SOFTDIRTY as u64),
        ("CR_VMA_MERGEABLE", CR_VMA_MERGEABLE as u64),
        ("CR_VMA_ACCOUNT", CR_VMA_ACCOUNT as u64),
        ("CR_VMA_NORESERVE", CR_VMA_NORESERVE as u64),
        ("CR_VMA_GUARD", CR_VMA_GUARD as u64),
        ("CR_VMA_FLAGS_ALL", CR_VMA_FLAGS_ALL as u64),
    ];
    v.extend(consts);
    v
}

#[test]
fn rust_mirror_matches_c_header() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let table = layout();

    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/cr.h>\n#include <linux/cr_image.h>\nint main(void)\n{\n",
    );
    for (expr, _) in &table {
        c.push_str(&format!(
            "\tprintf(\"%llu\\n\", (unsigned long long)({expr}));\n"
        ));
    }
    c.push_str("\treturn 0;\n}\n");
    let src = dir.join("abi_check.c");
    let exe = dir.join("abi_check");
    std::fs::write(&src, c).unwrap();

    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(root.join("include/uapi"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "include/uapi/linux/cr.h does not compile");

    let out = Command::new(&exe).output().expect("run the ABI probe");
    assert!(out.status.success());
    let values: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(values.len(), table.len());
    for ((expr, rust), c) in table.iter().zip(values) {
        assert_eq!(
            *rust, c,
            "{expr}: Rust mirror says {rust}, C header says {c}"
        );
    }
}

#[test]
fn pod_round_trip() {
    let mut t = CrThread {
        tid: 1234,
        ..Default::default()
    };
    t.regs.ip = 0x4000_1000;
    t.comm[..4].copy_from_slice(b"main");
    let bytes = as_bytes(&t).to_vec();
    assert_eq!(bytes.len(), 352);
    assert_eq!(from_bytes::<CrThread>(&bytes), Some(t));
    assert_eq!(from_bytes::<CrThread>(&bytes[..319]), None);
}

#[test]
fn ioctl_encoding() {
    // _IOR(0xC7, 0, 56 bytes) computed by hand: dir 2 << 30 | size 56 << 16 | type << 8 | nr.
    assert_eq!(CR_IOC_INFO, (2 << 30) | (56 << 16) | (0xC7 << 8));
    assert_eq!(ioc_size(CR_IOC_INFO), size_of::<CrInfo>());
    assert_eq!(
        ioc_sizeless(CR_IOC_INFO),
        ioc_sizeless(ioc(IOC_READ, CR_IOC_MAGIC, 0, 8))
    );
    assert_ne!(
        ioc_sizeless(CR_IOC_INFO),
        ioc_sizeless(ioc(IOC_WRITE, CR_IOC_MAGIC, 0, 56))
    );
}
