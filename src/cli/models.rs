//! `persona models`: what model files exist, which are here, and how to get the rest.

use std::path::PathBuf;

use persona::models::{Manifest, ModelStatus, Verification};

use super::{CommandResult, Failure};

#[derive(clap::Subcommand)]
pub enum ModelsCommand {
    /// List every model persona can use, whether it is installed, and how to get it.
    List {
        /// Folder holding model files.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
        /// Also hash installed files and compare with the manifest (slow for large models).
        #[arg(long)]
        verify: bool,
    },
    /// Write the small random-weight whisper model the offline pipeline and tests use.
    Synth {
        /// Where to write it.
        #[arg(long, default_value = "models/tiny-random-whisper.bin")]
        out: PathBuf,
        /// Seed of the weights (the file is identical for the same seed).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn run(command: ModelsCommand) -> CommandResult {
    match command {
        ModelsCommand::List { dir, verify } => list(dir, verify),
        ModelsCommand::Synth { out, seed } => synth(out, seed),
    }
}

fn list(dir: PathBuf, verify: bool) -> CommandResult {
    let manifest = Manifest::shipped().map_err(Failure::runtime)?;
    println!("Models (folder {}):", dir.display());
    let mut to_get = Vec::new();
    for (entry, status) in manifest.status(&dir) {
        let size = entry
            .size_bytes
            .map_or("-".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6));
        let state = match status {
            ModelStatus::Present { size_ok: true } => "installed",
            ModelStatus::Present { size_ok: false } => "WRONG SIZE",
            ModelStatus::Missing => "missing",
        };
        println!(
            "  {:<28} {:<10} {:>9}  {:<22} {}",
            entry.name,
            state,
            size,
            entry.used_by.join(","),
            entry.licence
        );
        if verify && matches!(status, ModelStatus::Present { .. }) {
            match entry.verify(&dir).map_err(Failure::runtime)? {
                Verification::Verified => println!("      sha256 verified"),
                Verification::Unpinned { actual_sha256 } => {
                    println!("      sha256 {actual_sha256} (no hash pinned)")
                }
                Verification::Mismatch {
                    expected_sha256,
                    actual_sha256,
                } => {
                    println!("      SHA-256 MISMATCH: expected {expected_sha256}, file has {actual_sha256}")
                }
            }
        }
        if !matches!(status, ModelStatus::Present { size_ok: true }) {
            let target = entry.path_in(&dir);
            to_get.push(if entry.synthetic {
                format!("persona models synth --out {}", target.display())
            } else {
                format!("curl -L --fail -o {} {}", target.display(), entry.url)
            });
        }
    }
    if !to_get.is_empty() {
        println!("\nTo get the missing ones:");
        for command in to_get {
            println!("  {command}");
        }
    }
    Ok(())
}

fn synth(out: PathBuf, seed: u64) -> CommandResult {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::runtime(anyhow::anyhow!("cannot create {}: {e}", parent.display())))?;
    }
    persona::stt::write_tiny_whisper(&out, seed)
        .map_err(|e| Failure::runtime(anyhow::anyhow!("cannot write {}: {e}", out.display())))?;
    println!(
        "wrote {} (random weights: it transcribes garbage, but exercises the real whisper code path)",
        out.display()
    );
    Ok(())
}
