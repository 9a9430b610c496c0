//! Project tasks, run as `cargo xtask <task>` (the xtask pattern: a small
//! workspace crate instead of shell scripts).
//!
//! `dist` builds what the GitHub Action runs into `dist/`, next to the
//! committed launcher `dist/index.mjs`: the static x86-64 Linux executable
//! (musl, so it runs on any Linux, ubuntu-22.04's glibc or Alpine's none),
//! and the WebAssembly build for every other runner (`dist/wasm/`: the
//! wasm32-wasip1 program made a WASI 0.2 component and transpiled by jco,
//! bundled with preview2-shim and minified by esbuild, so it needs no
//! node_modules; its core modules ship brotli-compressed).
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

/// Node packages for the WebAssembly build, pinned.
const DIST_TOOLS: &[&str] =
    &["@bytecodealliance/jco@1.35.0", "@bytecodealliance/preview2-shim@0.26.1", "esbuild@0.28.2"];

fn wasm() -> Result<()> {
    let root = root();
    build_release(&root, "wasm32-wasip1").context("building for wasm32-wasip1 (rustup target add wasm32-wasip1)")?;
    let tools = root.join("target/dist-tools");
    let bin = tools.join("node_modules/.bin");
    if !bin.join("jco").exists() || !bin.join("esbuild").exists() {
        std::fs::create_dir_all(&tools)?;
        run(Command::new("npm")
            .current_dir(&tools)
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .args(DIST_TOOLS))?;
    }
    let build = tools.join("build");
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(&build)?;
    let core = root.join("target/wasm32-wasip1/release/dagster-branch-deploy.wasm");
    let component = build.join("dbd.component.wasm");
    run(Command::new(bin.join("jco")).arg("new").arg(&core).arg("--wasi-command").arg("-o").arg(&component))?;
    run(Command::new(bin.join("jco"))
        .arg("transpile")
        .arg(&component)
        .arg("-o")
        .arg(&build)
        .args(["--name", "dbd", "--quiet"]))?;
    std::fs::copy(root.join("xtask/wasm/entry.mjs"), build.join("entry.mjs"))?;
    let glue = build.join("dbd.js");
    std::fs::write(&glue, with_compressed_modules(&std::fs::read_to_string(&glue)?)?)?;
    let out = root.join("dist/wasm");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    run(Command::new(bin.join("esbuild"))
        .arg(build.join("entry.mjs"))
        .args(["--bundle", "--minify", "--platform=node", "--format=esm", "--target=node20", "--log-level=warning"])
        .arg(format!("--outfile={}", out.join("dbd.mjs").display())))?;
    let modules = ["dbd.core.wasm", "dbd.core2.wasm"].map(|m| build.join(m));
    run(Command::new("node").arg(root.join("xtask/wasm/compress.mjs")).args(&modules))?;
    for module in &modules {
        let name = format!("{}.br", module.file_name().and_then(|n| n.to_str()).unwrap_or_default());
        std::fs::copy(build.join(&name), out.join(&name))?;
    }
    let worker = tools.join("node_modules/@bytecodealliance/preview2-shim/dist/io/worker-thread.bundle.js");
    let worker_out = out.join("worker-thread.bundle.js");
    std::fs::write(&worker_out, with_proxy_support(&std::fs::read_to_string(&worker)?)?)?;
    run(Command::new(bin.join("esbuild"))
        .arg(&worker_out)
        .args(["--minify", "--platform=node", "--log-level=warning", "--allow-overwrite"])
        .arg(format!("--outfile={}", worker_out.display())))?;
    let total: u64 = std::fs::read_dir(&out)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    println!(
        "dist/wasm/: {:.2} MB (the program {:.2} MB, {:.2} MB once decompressed)",
        total as f64 / 1e6,
        std::fs::metadata(out.join("dbd.core.wasm.br"))?.len() as f64 / 1e6,
        std::fs::metadata(&modules[0])?.len() as f64 / 1e6
    );
    Ok(())
}

/// The core modules ship brotli-compressed (a quarter of their size): the
/// glue jco writes reads `<module>.br` and decompresses it with node:zlib
/// (a few milliseconds). Fails if the pinned jco changes how it loads them.
fn with_compressed_modules(glue: &str) -> Result<String> {
    const LOAD: &str = "return WebAssembly.compile(await _fs.readFile(url));";
    if glue.matches(LOAD).count() != 1 {
        bail!("jco's glue no longer loads core modules with `{LOAD}`; update the loader patch in xtask");
    }
    Ok(glue.replace(
        LOAD,
        "const { brotliDecompressSync } = await import('node:zlib');\n    \
         return WebAssembly.compile(brotliDecompressSync(await _fs.readFile(new URL(`${url.href}.br`))));",
    ))
}

/// preview2-shim's HTTP worker makes its own agents, which Node does not
/// proxy by default; Node 24 proxies an agent given `proxyEnv`, so
/// HTTPS_PROXY/NO_PROXY work in the WebAssembly build as they do natively.
/// (Older Node ignores the option.) Fails if the pinned shim changes.
fn with_proxy_support(worker: &str) -> Result<String> {
    const AGENT: &str = "const agentOptions = { keepAlive: true };";
    if !worker.contains(AGENT) {
        bail!("preview2-shim's worker no longer has `{AGENT}`; update the proxy patch in xtask");
    }
    Ok(worker.replace(AGENT, "const agentOptions = { keepAlive: true, noDelay: true, proxyEnv: process.env };"))
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
