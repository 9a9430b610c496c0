//! Benchmark: the second deploy of a pull request whose code did not change
//! (a `synchronize` with the same commit: a re-run, or a push outside the
//! locations), two locations on a real registry, fake Dagster+ and GitHub.
//! Three ways, alternating, five rounds:
//!
//! - this tool, as a workflow runs it (`deploy`): it builds, compares with
//!   what runs, and deploys nothing;
//! - this tool with `--redeploy-all` and the official 3 s poll interval: the
//!   same work as the official flow;
//! - the official flow, `dagster-cloud ci` from PyPI (dagster-cloud-cli,
//!   pinned): `ci init` (which upserts the branch deployment), `ci
//!   set-build-output` per location (the images this tool pushed, so the
//!   official flow is timed without any Docker build), and `ci deploy`, which
//!   deploys both and polls every 3 s until they load.
//!
//! The fake Dagster+ keeps a deployed location LOADING for two workspace
//! polls; a real agent takes tens of seconds to restart a code server, so
//! the real gap is wider. Prints medians, ratios and Dagster+ requests.
//! Needs what scripts/test installs, and python3 with venv; installs
//! dagster-cloud-cli into target/test-tools/dagster-cloud-venv once.
//! Run: cargo bench --bench redeploy

#[allow(dead_code, unused_imports)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use util::dagster::TOKEN;
use util::review;
use util::scenario::Scenario;

/// The official CLI, pinned.
const DAGSTER_CLOUD_CLI: &str = "dagster-cloud-cli==1.13.29";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `dagster-cloud` in its own virtual environment, installed once.
fn dagster_cloud() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/dagster-cloud-venv");
    let exe = venv.join("bin/dagster-cloud");
    if !exe.is_file() {
        let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
        ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        ok(Command::new(venv.join("bin/pip")).args(["install", "--quiet", DAGSTER_CLOUD_CLI]));
    }
    exe
}

/// Runs one `dagster-cloud ci` command as the official action runs it.
fn ci(s: &Scenario, exe: &Path, event: &Path, statedir: &Path, args: &[&str]) {
    let mut c = s.project.cmd_with(exe);
    c.env("GITHUB_ACTION", "dagster-cloud-action")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event)
        .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_API_URL", s.review.url())
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_SHA", &s.sha)
        .env("DAGSTER_CLOUD_ORGANIZATION", "acme")
        .env("DAGSTER_CLOUD_URL", s.dagster.url())
        .env("DAGSTER_CLOUD_API_TOKEN", TOKEN)
        .arg("ci")
        .args(args)
        .arg("--statedir")
        .arg(statedir);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "dagster-cloud ci {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let rounds = 5;
    let exe = dagster_cloud();
    let s = Scenario::new(review::github());
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    let first = s.github("pull_request", &opened).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let event = s.event("pull_request.synchronize.json", &s.sha, |_| {});
    // The official flow gets a pull request (and branch deployment) of its
    // own, deployed once before timing, so each flow redeploys its own.
    let official_event = s.runner.path().join("official-event.json");
    let mut payload: serde_json::Value = serde_json::from_slice(&std::fs::read(&event).unwrap()).unwrap();
    payload["number"] = 3.into();
    payload["pull_request"]["number"] = 3.into();
    payload["pull_request"]["head"]["ref"] = "official-flow".into();
    std::fs::write(&official_event, payload.to_string()).unwrap();
    let statedir = s.runner.path().join("dagster-cloud-state");
    let tag = |location: &str| format!("{location}-{}", &s.sha[..12]);
    let official_flow = || {
        ci(&s, &exe, &official_event, &statedir, &["init", "--project-dir", ".", "--deployment", "prod"]);
        for location in ["orders", "marketing"] {
            let args = ["set-build-output", "--location-name", location, "--image-tag", &tag(location)];
            ci(&s, &exe, &official_event, &statedir, &args);
        }
        ci(&s, &exe, &official_event, &statedir, &["deploy"]);
    };
    official_flow();

    let names = ["this tool (deploy)", "this tool (--redeploy-all, 3 s polls)", "official dagster-cloud ci"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut requests = [0usize; 3];
    for _ in 0..rounds {
        for (i, samples) in times.iter_mut().enumerate() {
            let calls = s.dagster.calls().len();
            let start = Instant::now();
            match i {
                0 | 1 => {
                    let mut c = s.github_polling("pull_request", &event, if i == 1 { "3" } else { "0.05" });
                    if i == 1 {
                        c.arg("--redeploy-all");
                    }
                    let out = c.output().unwrap();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                }
                _ => official_flow(),
            }
            samples.push(start.elapsed());
            requests[i] = s.dagster.calls().len() - calls;
        }
    }
    println!("second deploy of an unchanged pull request, two locations, median of {rounds} alternating rounds:");
    let official = median(times[2].clone());
    for (i, name) in names.iter().enumerate() {
        let m = median(times[i].clone());
        let runs: Vec<String> = times[i].iter().map(|d| secs(*d)).collect();
        println!(
            "  {name:<40} {}  ({:.1}x faster than official; {} Dagster+ requests)   runs: {}",
            secs(m),
            official.as_secs_f64() / m.as_secs_f64(),
            requests[i],
            runs.join(", ")
        );
    }
}
