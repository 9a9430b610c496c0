//! Benchmark: one full deploy (two locations, each with new code, pushed to
//! a real registry and deployed to the fake Dagster+) run by the action's
//! launcher with the native binary and with the WebAssembly build, five
//! alternating runs each; then the start-up time of `--version` both ways,
//! and the size of what each ships. Prints medians and ratios measured in
//! this one process. Needs what scripts/test installs, and dist/wasm
//! (`cargo xtask dist --wasm`). Run: cargo bench --bench wasm_vs_native

#[allow(dead_code, unused_imports)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::time::{Duration, Instant};

use util::review;
use util::scenario::{ActionDir, Build, Scenario, node24};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rounds = 5;
    let s = Scenario::new(review::github());
    let builds = [(Build::Native, ActionDir::with(Build::Native)), (Build::Wasm, ActionDir::with(Build::Wasm))];
    let mut deploy: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, (build, action)) in builds.iter().enumerate() {
            let sha = s.project.commit_change("orders/orders/definitions.py", &format!("defs = {round}{i}\n"));
            s.project.commit_change("marketing/marketing/definitions.py", &format!("defs = {round}{i}\n"));
            let push = s.event("push.json", &sha, |e| e["after"] = sha.clone().into());
            let start = Instant::now();
            let out = s.action(action, "push", &push, &[]).output().unwrap();
            deploy[i].push(start.elapsed());
            assert!(out.status.success(), "{build:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let mut startup: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, (_, action)) in builds.iter().enumerate() {
            let start = Instant::now();
            let out = s
                .project
                .cmd_with(&node24())
                .arg(action.dir.path().join("dist/index.mjs"))
                .arg("--version")
                .output()
                .unwrap();
            startup[i].push(start.elapsed());
            assert!(out.status.success());
        }
    }
    let (native, wasm) = (median(deploy[0].clone()), median(deploy[1].clone()));
    println!(
        "full deploy, two locations (build, push to the registry, deployLocations, wait), median of {rounds} alternating runs:"
    );
    println!(
        "  native       {}   runs: {}",
        ms(native),
        deploy[0].iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
    );
    println!("  WebAssembly  {}   runs: {}", ms(wasm), deploy[1].iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", "));
    println!("  WebAssembly / native: {:.2}x", wasm.as_secs_f64() / native.as_secs_f64());
    let (native, wasm) = (median(startup[0].clone()), median(startup[1].clone()));
    println!(
        "start-up, node dist/index.mjs --version, median of {rounds}: native {}, WebAssembly {} ({:.2}x)",
        ms(native),
        ms(wasm),
        wasm.as_secs_f64() / native.as_secs_f64()
    );
    let size = |dir: &std::path::Path| -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    println!(
        "size: dist/wasm {:.1} MB (no node_modules needed); native binary under test {:.1} MB",
        size(&root.join("dist/wasm")) as f64 / 1e6,
        std::fs::metadata(env!("CARGO_BIN_EXE_dagster-branch-deploy")).unwrap().len() as f64 / 1e6
    );
}
