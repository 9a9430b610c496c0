use crate::util::dagster::TOKEN;
use crate::util::review::{self, GITHUB_TOKEN};
use crate::util::scenario::{ActionDir, Build, MARKER, Scenario, node24};
use crate::util::*;

fn the_action_deploys_an_opened_pull_request_and_updates_on_synchronize(build: Build) {
    let s = Scenario::new(review::github());
    let action = ActionDir::with(build);
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = ok(&mut s.action(&action, "pull_request", &opened, &[]));
    let d = s.dagster.branch_deployments()[0].clone();
    let outputs = s.outputs();
    assert_eq!(outputs["status"], "deployed");
    assert_eq!(outputs["deployment"], d.name);
    assert_eq!(outputs["url"], format!("{}/{}/locations", s.dagster.url(), d.name));
    let images: serde_json::Value = serde_json::from_str(&outputs["images"]).unwrap();
    for location in ["orders", "marketing"] {
        let image = images[location].as_str().unwrap();
        assert!(image.contains("@sha256:"), "{image}");
        skopeo_inspect(image, None, &[]);
    }
    assert!(s.summary().contains("| orders | ✅ loaded |"));
    assert!(run.stderr().contains("::group::building orders"), "{}", run.stderr());
    assert!(!leaks(&run, TOKEN) && !leaks(&run, GITHUB_TOKEN));

    let second = s.project.commit_change("marketing/marketing/definitions.py", "defs = 3\n");
    let sync = s.event("pull_request.synchronize.json", &second, |_| {});
    ok(&mut s.action(&action, "pull_request", &sync, &[]));
    assert_eq!(s.outputs()["deployment"], d.name, "the same branch deployment");
    let comments: Vec<_> = s.review.comments().into_iter().filter(|c| c.body.starts_with(MARKER)).collect();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains(&second[..12]));
}

fn the_action_closes_merged_and_unmerged_pull_requests(build: Build) {
    let s = Scenario::new(review::github());
    let action = ActionDir::with(build);
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    ok(&mut s.action(&action, "pull_request", &opened, &[]));
    let merged = s.event("pull_request.closed.json", &s.sha, |e| e["pull_request"]["merged"] = true.into());
    ok(&mut s.action(&action, "pull_request", &merged, &[]));
    assert_eq!(s.outputs()["status"], "merged");
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("MERGED"));
    let closed = s.event("pull_request.closed.json", &s.sha, |_| {});
    ok(&mut s.action(&action, "pull_request", &closed, &[("delete-on-close", "true")]));
    assert_eq!(s.outputs()["status"], "closed");
    assert!(s.dagster.branch_deployments().is_empty(), "delete-on-close deleted it");
}

fn the_action_deploys_pushes_to_the_default_branch_and_honours_its_inputs(build: Build) {
    let s = Scenario::new(review::github());
    let action = ActionDir::with(build);
    let push = s.event("push.json", &s.sha, |_| {});
    ok(&mut s.action(&action, "push", &push, &[("deployment", "prod"), ("locations", "orders\n")]));
    assert_eq!(s.outputs()["deployment"], "prod");
    assert_eq!(s.dagster.documents("prod").keys().collect::<Vec<_>>(), ["orders"], "only the listed location");

    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    let calls = s.dagster.calls().len();
    let dry =
        ok(&mut s.action(&action, "pull_request", &opened, &[("dry-run", "true"), ("dagster-cloud-api-token", "")]));
    assert_eq!(s.dagster.calls().len(), calls, "a dry run calls nothing");
    assert!(dry.stdout().contains("dry run: nothing is pushed, deployed or posted"));

    let inputs = [("comment", "false"), ("wait", "false"), ("redeploy-all", "true"), ("github-deployment", "false")];
    let shown = s.review.deployments().len();
    ok(&mut s.action(&action, "pull_request", &opened, &inputs));
    assert!(s.review.comments().is_empty(), "comment: false");
    assert_eq!(s.review.deployments().len(), shown, "github-deployment: false");
    assert_eq!(s.outputs()["status"], "deployed", "redeploy-all: true");
    assert!(
        !s.dagster
            .calls()
            .iter()
            .any(|c| c.fields == ["agents", "workspaceOrError"] && c.scope.as_deref() != Some("prod")),
        "wait: false"
    );

    let bad = fails(&mut s.action(&action, "pull_request", &opened, &[("wait", "maybe")]));
    assert!(bad.stdout().contains("::error title=dagster-branch-deploy::the input wait must be true or false"));
}

fn the_action_sweeps_with_the_sweep_command(build: Build) {
    let s = Scenario::new(review::github());
    let action = ActionDir::with(build);
    let pr = "https://github.com/Codertocat/Hello-World/pull/9";
    let idle = s.dagster.seed_branch("Codertocat/Hello-World", "feature/old", 9, pr, 1.0e9);
    s.review.state.lock().unwrap().pulls.insert(9, ("open", false));
    let push = s.event("push.json", &s.sha, |_| {});
    let inputs = [("command", "sweep"), ("idle-days", "30")];
    let run = ok(&mut s.action(&action, "schedule", &push, &inputs));
    assert!(run.stderr().contains("marked CLOSED: no commit for"), "{}", run.stderr());
    assert_eq!(s.dagster.branch_deployments()[0].name, idle);
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("CLOSED"));
    assert!(s.summary().contains("### Sweep of Dagster+ branch deployments of Codertocat/Hello-World"));
    let bad = fails(&mut s.action(&action, "schedule", &push, &[("command", "build")]));
    assert!(bad.stdout().contains("the input command must be one of deploy, close, sweep"), "{}", bad.stdout());
}

fn without_the_token_input_the_action_says_which_input_to_set(build: Build) {
    let s = Scenario::new(review::github());
    let action = ActionDir::with(build);
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = fails(&mut s.action(&action, "pull_request", &opened, &[("dagster-cloud-api-token", "")]));
    assert!(run.stderr().contains("dagster-cloud-api-token input"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "failed", "a missing secret is never taken for success");
}

#[test]
#[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"]
fn the_launcher_picks_the_build_for_the_runner_and_falls_back_to_webassembly() {
    let p = Project::new();
    let launch = |action: &ActionDir| {
        let mut c = p.cmd_with(&node24());
        c.arg(action.dir.path().join("dist/index.mjs"));
        c
    };
    let version = format!("dagster-branch-deploy {}\n", env!("CARGO_PKG_VERSION"));
    let native = ActionDir::new();
    assert_eq!(ok(launch(&native).arg("--version")).stdout(), version);

    let wasm = ActionDir::with(Build::Wasm);
    let mac = ok(launch(&wasm).env("RUNNER_OS", "macOS").env("RUNNER_ARCH", "ARM64").arg("--version"));
    assert_eq!(mac.stdout(), version, "another platform runs the WebAssembly build");

    let broken = wasm.dir.path().join("dist/dagster-branch-deploy-x86_64-linux");
    std::fs::write(&broken, "not an executable").unwrap();
    set_mode(&broken, 0o644);
    let fallback = ok(launch(&wasm).arg("--version"));
    assert!(fallback.stdout().contains("::notice::the native binary could not start"), "{}", fallback.stdout());
    assert!(fallback.stdout().ends_with(&version));

    let missing = fails(launch(&native).env("RUNNER_OS", "Windows").env("RUNNER_ARCH", "X64"));
    assert!(
        missing.stdout().contains("dist/wasm/dbd.mjs is missing: this ref of the action has no release build"),
        "{}",
        missing.stdout()
    );
    assert!(missing.stdout().contains("this runner, Windows X64,"), "the platform is named: {}", missing.stdout());
}

/// Each scenario twice: with the native binary, and with it hidden so the
/// WebAssembly build serves, against the same fakes and registry.
macro_rules! both_builds {
    ($($name:ident),*) => {
        mod native {
            $(#[test] #[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"] fn $name() { super::$name(super::Build::Native) })*
        }
        mod wasm {
            $(#[test] #[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"] fn $name() { super::$name(super::Build::Wasm) })*
        }
    };
}

both_builds!(
    the_action_deploys_an_opened_pull_request_and_updates_on_synchronize,
    the_action_closes_merged_and_unmerged_pull_requests,
    the_action_deploys_pushes_to_the_default_branch_and_honours_its_inputs,
    the_action_sweeps_with_the_sweep_command,
    without_the_token_input_the_action_says_which_input_to_set
);

#[test]
#[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"]
fn the_webassembly_build_says_when_a_location_needs_the_native_binary() {
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("ml", ".", "127.0.0.1:9/acme/ml")]));
    p.file("Dockerfile", "FROM scratch\nRUN pip install torch\n");
    let wasm = ActionDir::with(Build::Wasm);
    let run = fails(
        p.cmd_with(&node24())
            .arg(wasm.dir.path().join("dist/index.mjs"))
            .args(["build", "--tag", "t"])
            .env("RUNNER_OS", "macOS"),
    );
    assert!(run.stderr().contains("needs the native binary or a container builder (line 2: RUN"), "{}", run.stderr());
}

#[test]
#[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"]
fn the_webassembly_build_honours_https_proxy_and_ssl_cert_file() {
    let reg = TestRegistry::start_tls(Auth::None, "registry.test");
    let proxy = crate::util::proxy::ConnectProxy::start(reg.host.clone());
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", ".", "registry.test/acme/etl")]));
    p.file("Dockerfile", "FROM scratch\nCOPY defs.py /app/\n");
    p.file("defs.py", "defs = 1\n");
    let wasm = ActionDir::with(Build::Wasm);
    let run = ok(p
        .cmd_with(&node24())
        .arg(wasm.dir.path().join("dist/index.mjs"))
        .args(["build", "--tag", "w1"])
        .env("RUNNER_OS", "macOS")
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", reg.dir.path().join("ca.crt")));
    assert!(run.stdout().contains("registry.test/acme/etl@sha256:"), "{}{}", run.stdout(), run.stderr());
    assert!(proxy.targets().iter().any(|t| t == "registry.test:443"), "{:?}", proxy.targets());
    assert!(reg.requests().iter().any(|r| r.starts_with("PUT /v2/acme/etl/manifests/w1")));
}

/// A pull request of a project built from its uv.lock (no Dockerfile),
/// through the action; returns the scenario and the pushed image.
fn deploy_python_project(build: Build, index: &str, wheel: &[u8], hash: &str) -> (Scenario, String) {
    use crate::util::python::{push_fake_python_base, write_app};
    let s = Scenario::new(review::github());
    let base = push_fake_python_base(&s.reg.host);
    write_app(&s.project, "app", index, wheel, hash, &s.reg.host);
    let yaml = dagster_cloud_yaml(&[("app", "app", &format!("{}/acme/app", s.reg.host))]);
    let sha = s.project.commit_change("dagster_cloud.yaml", &yaml);
    let action = ActionDir::with(build);
    let opened = s.event("pull_request.opened.json", &sha, |_| {});
    ok(&mut s.action(&action, "pull_request", &opened, &[("base-image", &base)]));
    let images: serde_json::Value = serde_json::from_str(&s.outputs()["images"]).unwrap();
    let image = images["app"].as_str().unwrap().to_string();
    (s, image)
}

#[test]
#[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"]
fn the_action_builds_a_uv_lock_natively_and_the_webassembly_build_gives_the_same_dependency_layer() {
    use sha2::Digest as _;
    let wheel = crate::util::python::demo_wheel();
    let index = crate::util::python::demo_index(wheel.clone());
    let hash = hex::encode(sha2::Sha256::digest(&wheel));
    let dependency_layer = |s: &Scenario, image: &str| {
        let manifest = skopeo_inspect(image, None, &["--raw"]);
        let layers = manifest["layers"].as_array().unwrap();
        let d = s.dagster.branch_deployments()[0].clone();
        assert_eq!(s.dagster.documents(&d.name)["app"]["working_directory"], "/app");
        layers[layers.len() - 3]["digest"].as_str().unwrap().to_string()
    };
    let (native, native_image) = deploy_python_project(Build::Native, &index.url(), &wheel, &hash);
    let (wasm, wasm_image) = deploy_python_project(Build::Wasm, &index.url(), &wheel, &hash);
    assert_eq!(
        dependency_layer(&native, &native_image),
        dependency_layer(&wasm, &wasm_image),
        "the same lock, base and platform give the same layer from either build"
    );
}
