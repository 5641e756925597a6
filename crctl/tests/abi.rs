// SPDX-License-Identifier: GPL-2.0

//! The Rust mirror of the ABI (`src/uapi.rs`) against the C header
//! (`include/uapi/linux/cr.h`): a C compiler prints every size, offset and ioctl
//! number from the header, and each must equal the Rust value.

use std::path::PathBuf;
use std::process::Command;

use crctl::uapi::*;

/// `struct cr_foo` for the Rust name `CrFoo`.
fn c_name(rust: &str) -> String {
    let mut c = String::new();
    for ch in rust.chars() {
        if ch.is_ascii_uppercase() {
            if !c.is_empty() {
                c.push('_');
            }
            c.push(ch.to_ascii_lowercase());
        } else {
            c.push(ch);
        }
    }
    c
}

/// `(C expression, Rust value)` for everything the ABI fixes: each struct's
/// size and every field's offset (from the one field list, uapi.rs's), then
/// the constants.
fn layout() -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for (name, size, fields) in ABI_LAYOUTS {
        let c = c_name(name);
        v.push((format!("sizeof(struct {c})"), *size as u64));
        for (f, off) in *fields {
            let f = f.trim_start_matches("r#");
            v.push((format!("offsetof(struct {c}, {f})"), *off as u64));
        }
    }
    for (name, val) in ABI_CONSTS {
        v.push((name.to_string(), *val));
    }
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

#[test]
fn every_c_constant_has_a_rust_mirror() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/uapi/linux");
    let mut missing = Vec::new();
    let mut seen = 0;
    for header in ["cr.h", "cr_image.h"] {
        let text = std::fs::read_to_string(root.join(header)).unwrap();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("#define CR_") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Function-like macros (CR_CPID(host, pid)) have Rust functions.
            if rest[name.len()..].starts_with('(') {
                continue;
            }
            seen += 1;
            let name = format!("CR_{name}");
            if !ABI_CONSTS.iter().any(|(n, _)| *n == name) {
                missing.push(name);
            }
        }
    }
    assert!(seen > 100, "only {seen} CR_ macros found in the headers");
    assert!(
        missing.is_empty(),
        "no Rust mirror in uapi.rs for {missing:?}"
    );
}
