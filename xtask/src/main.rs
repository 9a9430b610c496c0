//! Project tasks, run as `cargo xtask <task>` (the xtask pattern: a small
//! workspace crate instead of shell scripts).
//!
//! `dist` builds what the GitHub Action runs into `dist/`, next to the
//! committed launcher `dist/index.mjs`: the static x86-64 Linux executable
//! (musl, so it runs on any Linux, ubuntu-22.04's glibc or Alpine's none),
//! and the WebAssembly build for every other runner (`dist/wasm/`: the
//! wasm32-wasip1 program, brotli-compressed, and its host: `dbd.mjs`, which
//! runs it with Node's built-in WASI and gives it HTTP through
//! `http-worker.mjs`; no node_modules, nothing to bundle).
//! `dist --wasm` builds only the WebAssembly part.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "x86_64-unknown-linux-musl";
const NATIVE: &str = "dagster-branch-deploy-x86_64-linux";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dist") if args.get(1).map(String::as_str) == Some("--wasm") => wasm(),
        Some("dist") => {
            dist()?;
            wasm()
        }
        _ => bail!(
            "usage: cargo xtask dist [--wasm]\n  dist          build dist/{NATIVE} (static, {TARGET}) and dist/wasm/\n  \
             dist --wasm   build only dist/wasm/"
        ),
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

/// `cargo build --release` of the program for `target`.
fn build_release(root: &Path, target: &str) -> Result<()> {
    let args = ["build", "--release", "--locked", "--package", "dagster-branch-deploy", "--target", target];
    run(Command::new(env!("CARGO")).current_dir(root).args(args))
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
    build_release(&root, TARGET)?;
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

/// The WebAssembly build's host, from xtask/wasm/, by its name in dist/wasm/.
const HOST_FILES: &[(&str, &str)] = &[("host.mjs", "dbd.mjs"), ("http-worker.mjs", "http-worker.mjs")];

fn wasm() -> Result<()> {
    let root = root();
    build_release(&root, "wasm32-wasip1").context("building for wasm32-wasip1 (rustup target add wasm32-wasip1)")?;
    let program = root.join("target/wasm32-wasip1/release/dagster-branch-deploy.wasm");
    let out = root.join("dist/wasm");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let compressed = out.join("dbd.wasm.br");
    run(Command::new("node").arg(root.join("xtask/wasm/compress.mjs")).arg(&program).arg(&compressed))
        .context("compressing the program (needs node)")?;
    for (from, to) in HOST_FILES {
        let from = root.join("xtask/wasm").join(from);
        std::fs::copy(&from, out.join(to)).with_context(|| format!("copying {}", from.display()))?;
    }
    run(Command::new("node").arg(root.join("dist/index.mjs")).arg("--version").env("RUNNER_OS", "WebAssembly check"))?;
    let total: u64 = std::fs::read_dir(&out)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    println!(
        "dist/wasm/: {:.2} MB (the program {:.2} MB, {:.2} MB once decompressed)",
        total as f64 / 1e6,
        std::fs::metadata(&compressed)?.len() as f64 / 1e6,
        std::fs::metadata(&program)?.len() as f64 / 1e6
    );
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
