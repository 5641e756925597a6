// SPDX-License-Identifier: GPL-2.0

//! The Rust mirror of the ABI (`src/uapi.rs`) against the C header
//! (`include/uapi/linux/cr.h`): a C compiler prints every size, offset and ioctl
//! number from the header, and each must equal the Rust value.

use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use crctl::uapi::*;

/// `(C expression, Rust value)` for everything the ABI fixes.
fn layout() -> Vec<(&'static str, u64)> {
    vec![
        ("sizeof(struct cr_info)", size_of::<CrInfo>() as u64),
        (
            "offsetof(struct cr_info, abi_version)",
            offset_of!(CrInfo, abi_version) as u64,
        ),
        (
            "offsetof(struct cr_info, arch)",
            offset_of!(CrInfo, arch) as u64,
        ),
        (
            "offsetof(struct cr_info, features)",
            offset_of!(CrInfo, features) as u64,
        ),
        (
            "offsetof(struct cr_info, page_size)",
            offset_of!(CrInfo, page_size) as u64,
        ),
        (
            "offsetof(struct cr_info, __pad)",
            offset_of!(CrInfo, __pad) as u64,
        ),
        (
            "offsetof(struct cr_info, __reserved)",
            offset_of!(CrInfo, __reserved) as u64,
        ),
        ("CR_ABI_VERSION", CR_ABI_VERSION as u64),
        ("CR_ARCH_X86_64", CR_ARCH_X86_64 as u64),
        ("CR_FEATURES_ALL", CR_FEATURES_ALL),
        ("CR_IOC_MAGIC", CR_IOC_MAGIC as u64),
        ("CR_IOC_INFO", CR_IOC_INFO as u64),
    ]
}

#[test]
fn rust_mirror_matches_c_header() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let table = layout();

    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/cr.h>\nint main(void)\n{\n",
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
