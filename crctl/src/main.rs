// SPDX-License-Identifier: GPL-2.0

//! crctl: drive cr, the checkpoint/restore kernel module, through /dev/cr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crctl::dev::{self, Device};

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

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the module's ABI version, architecture and features.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info { json } => info(&cli.device, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn info(path: &std::path::Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::open(path)?;
    let info = device.checked_info()?;
    let features = dev::feature_names(info.features);
    if json {
        let list: Vec<String> = features.iter().map(|f| format!("\"{f}\"")).collect();
        println!(
            "{{\"device\":\"{}\",\"abi_version\":{},\"arch\":\"{}\",\"page_size\":{},\"features\":[{}]}}",
            path.display(),
            info.abi_version,
            dev::arch_name(info.arch),
            info.page_size,
            list.join(",")
        );
    } else {
        println!("device:      {}", path.display());
        println!("abi version: {}", info.abi_version);
        println!("arch:        {}", dev::arch_name(info.arch));
        println!("page size:   {}", info.page_size);
        if features.is_empty() {
            println!("features:    none yet (checkpoint and restore are not implemented)");
        } else {
            println!("features:    {}", features.join(" "));
        }
    }
    Ok(())
}
