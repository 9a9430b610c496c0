//! Project tasks, run as `cargo xtask <task>` (the xtask pattern: a small
//! workspace crate instead of shell scripts).
//!
//! `dist` builds what the GitHub Action runs into `dist/`: the static
//! x86-64 Linux executable (musl, so it runs on any Linux, ubuntu-22.04's
//! glibc or Alpine's none) next to the committed launcher `dist/index.mjs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "x86_64-unknown-linux-musl";
const NATIVE: &str = "dagster-branch-deploy-x86_64-linux";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dist") => dist(),
        _ => bail!("usage: cargo xtask dist\n  dist   build dist/{NATIVE} (static, {TARGET}) beside dist/index.mjs"),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn dist() -> Result<()> {
    let root = root();
    let launcher = root.join("dist/index.mjs");
    if !launcher.is_file() {
        bail!("{} is missing; it is committed with the action", launcher.display());
    }
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if installed.is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains(TARGET)) {
        bail!("the {TARGET} target is missing: rustup target add {TARGET} (and apt-get install musl-tools)");
    }
    run(Command::new(env!("CARGO")).current_dir(&root).args([
        "build",
        "--release",
        "--locked",
        "--package",
        "dagster-branch-deploy",
        "--target",
        TARGET,
    ]))?;
    let built = root.join("target").join(TARGET).join("release/dagster-branch-deploy");
    let native = root.join("dist").join(NATIVE);
    std::fs::copy(&built, &native).with_context(|| format!("copying {} to {}", built.display(), native.display()))?;
    check_static(&native)?;
    run(Command::new(&native).arg("--version"))?;
    let size = std::fs::metadata(&native)?.len();
    println!("dist/{NATIVE}: {:.1} MB, static", size as f64 / 1e6);
    println!("dist/index.mjs: {} bytes", std::fs::metadata(&launcher)?.len());
    Ok(())
}

/// A static executable has no PT_INTERP program header (no dynamic loader).
fn check_static(path: &Path) -> Result<()> {
    let elf = std::fs::read(path)?;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        bail!("{} is not a 64-bit ELF executable", path.display());
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().expect("8 bytes")) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let interp = (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= elf.len() && u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes")) == 3
    });
    if interp {
        bail!("{} is dynamically linked; the action needs a static executable", path.display());
    }
    Ok(())
}
