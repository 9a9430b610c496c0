use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::dagster::TOKEN;
use crate::util::review::{self, GITLAB_TOKEN};
use crate::util::scenario::{MARKER, Scenario, test_tools};
use crate::util::*;

fn gitlab_ci_local() -> PathBuf {
    test_tools().join("node_modules/gitlab-ci-local/dist/index.js")
}

/// Puts the component and a pipeline that includes it into the scenario's
/// repository, on `branch`.
fn with_pipeline(s: &Scenario, branch: &str, include: &str) {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("gitlab-component/templates/branch-deploy.yml");
    s.project.file("templates/branch-deploy.yml", &std::fs::read_to_string(template).unwrap());
    s.project.file(".gitlab-ci.yml", include);
    s.project.file(".gitignore", ".gitlab-ci-local/\n");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(s.project.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["checkout", "-q", "-B", branch]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "pipeline"]);
}

/// gitlab-ci-local in shell mode, with the binary on PATH and the
/// variables GitLab (and the project's settings) would give the jobs.
fn pipeline(s: &Scenario, variables: &[(&str, &str)], jobs: &[&str]) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_dagster-branch-deploy")).parent().unwrap();
    let mut c = s.project.cmd_with(Path::new("node"));
    c.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
    c.arg(gitlab_ci_local()).args(["--force-shell-executor", "--home", &s.project.home.path().display().to_string()]);
    let api = format!("{}/api/v4", s.review.url());
    let mut all: Vec<(&str, &str)> = vec![
        ("GITLAB_CI", "true"),
        ("CI_API_V4_URL", &api),
        ("CI_PROJECT_ID", "1217"),
        ("DAGSTER_CLOUD_API_TOKEN", TOKEN),
        ("GITLAB_TOKEN", GITLAB_TOKEN),
        ("DAGSTER_POLL_INTERVAL", "0.05"),
    ];
    all.extend_from_slice(variables);
    let dagster_url = s.dagster.url();
    all.push(("DAGSTER_CLOUD_URL", &dagster_url));
    for (k, v) in all {
        c.args(["--variable", &format!("{k}={v}")]);
    }
    c.args(jobs);
    c
}

const MR: &[(&str, &str)] = &[
    ("CI_PIPELINE_SOURCE", "merge_request_event"),
    ("CI_MERGE_REQUEST_IID", "42"),
    ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/orders"),
    ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
];

const INCLUDE: &str = "stages: [deploy]\ninclude:\n  - local: templates/branch-deploy.yml\n    inputs:\n      organization: acme\n      location-load-timeout: 60\n";

#[test]
#[ignore = "needs Node 24, gitlab-ci-local and docker-registry; scripts/test installs them"]
fn a_merge_request_pipeline_deploys_and_the_stop_job_closes() {
    let s = Scenario::new(review::gitlab());
    with_pipeline(&s, "feature/orders", INCLUDE);
    let run = ok(&mut pipeline(&s, MR, &[]));
    let out = run.stdout();
    let d = s.dagster.branch_deployments()[0].clone();
    assert_eq!(d.branch_name.as_deref(), Some("feature/orders"));
    assert_eq!(d.status.as_deref(), Some("OPEN"));
    assert_eq!(s.dagster.documents(&d.name).len(), 2);
    let url = format!("{}/{}/locations", s.dagster.url(), d.name);
    assert!(out.contains("environment: { name: dagster/feature-orders"), "{out}");
    // GitLab sets environment:url from the job's own dotenv report;
    // gitlab-ci-local passes dotenv reports only to later jobs, so check the
    // report itself.
    let report = std::fs::read_to_string(s.project.path().join("dagster-deploy.env")).unwrap();
    assert_eq!(report, format!("DAGSTER_DEPLOYMENT={}\nDAGSTER_DEPLOYMENT_URL={url}\n", d.name));
    assert!(!out.contains("dagster-deploy "), "the default-branch job stays out of merge request pipelines: {out}");
    assert!(s.review.comments()[0].body.starts_with(MARKER));

    s.review.state.lock().unwrap().mr_state = "merged".into();
    ok(&mut pipeline(&s, MR, &["dagster-branch-close"]));
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("MERGED"));
}

#[test]
#[ignore = "needs Node 24, gitlab-ci-local and docker-registry; scripts/test installs them"]
fn a_default_branch_pipeline_deploys_the_full_deployment() {
    let s = Scenario::new(review::gitlab());
    with_pipeline(&s, "main", INCLUDE);
    let run = ok(&mut pipeline(&s, &[("CI_PIPELINE_SOURCE", "push"), ("CI_DEFAULT_BRANCH", "main")], &[]));
    assert!(s.dagster.branch_deployments().is_empty());
    assert_eq!(s.dagster.documents("prod").len(), 2);
    assert!(run.stdout().contains("PASS  dagster-deploy"), "{}", run.stdout());
}

#[test]
#[ignore = "needs Node 24, gitlab-ci-local and docker-registry; scripts/test installs them"]
fn bad_inputs_are_rejected_and_the_component_can_be_included_twice() {
    let s = Scenario::new(review::gitlab());
    let bad = "include:\n  - local: templates/branch-deploy.yml\n    inputs:\n      dry-run: maybe\n";
    with_pipeline(&s, "main", bad);
    let run = pipeline(&s, &[], &["--list"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(!run.status.success(), "{text}");
    assert!(text.contains("dry-run") && text.contains("boolean"), "{text}");

    let twice = "stages: [deploy]\ninclude:\n  - local: templates/branch-deploy.yml\n    inputs: { name: orders, locations: [orders] }\n  \
                 - local: templates/branch-deploy.yml\n    inputs: { name: marketing, locations: [marketing] }\n";
    with_pipeline(&s, "main", twice);
    let list = ok(&mut pipeline(&s, MR, &["--list"])).stdout();
    for job in
        ["orders-branch-deploy", "orders-branch-close", "orders-deploy", "marketing-branch-deploy", "marketing-deploy"]
    {
        assert!(list.contains(job), "{job} missing: {list}");
    }
    let run = ok(&mut pipeline(&s, &[("CI_PIPELINE_SOURCE", "push"), ("CI_DEFAULT_BRANCH", "main")], &[]));
    assert!(
        run.stdout().contains("PASS  orders-deploy") && run.stdout().contains("PASS  marketing-deploy"),
        "{}",
        run.stdout()
    );
    assert_eq!(s.dagster.documents("prod").len(), 2, "each include deployed its own location");
}

#[test]
#[ignore = "needs Node 24, gitlab-ci-local and docker-registry; scripts/test installs them"]
fn the_component_can_run_the_webassembly_build_with_node() {
    let s = Scenario::new(review::gitlab());
    let wasm = crate::util::scenario::ActionDir::with(crate::util::scenario::Build::Wasm);
    let launcher = wasm.dir.path().join("dist/index.mjs");
    let include = format!(
        "stages: [deploy]\ninclude:\n  - local: templates/branch-deploy.yml\n    inputs:\n      organization: acme\n      \
         image: node:24-alpine\n      command: node {}\n",
        launcher.display()
    );
    with_pipeline(&s, "feature/orders", &include);
    let run = ok(&mut pipeline(&s, MR, &[]));
    assert!(run.stdout().contains("PASS  dagster-branch-deploy"), "{}", run.stdout());
    let d = s.dagster.branch_deployments()[0].clone();
    assert_eq!(s.dagster.documents(&d.name).len(), 2, "deployed by the WebAssembly build");
    let report = std::fs::read_to_string(s.project.path().join("dagster-deploy.env")).unwrap();
    assert!(report.starts_with(&format!("DAGSTER_DEPLOYMENT={}\n", d.name)), "{report}");
}

/// The component's own pipeline (`gitlab-component/.gitlab-ci.yml`), run as
/// GitLab would run it in the component's project: its test job dry-runs
/// `test-project`, which is the README's example project.
#[test]
#[ignore = "needs Node 24 and gitlab-ci-local; scripts/test installs them"]
fn the_components_own_pipeline_dry_runs_the_example_project() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let test_project = root.join("gitlab-component/test-project");
    assert_eq!(std::fs::read_link(&test_project).unwrap(), Path::new("../examples/quickstart"), "one example project");
    let repo = Project::new();
    copy_tree(&test_project, &repo.path().join("test-project"));
    copy_tree(&root.join("gitlab-component/templates"), &repo.path().join("templates"));
    // gitlab-ci-local resolves `component:` includes over the network; the
    // same template is included locally instead.
    let own = std::fs::read_to_string(root.join("gitlab-component/.gitlab-ci.yml")).unwrap();
    let component = "  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/branch-deploy@$CI_COMMIT_SHA\n";
    assert!(own.contains(component), "{own}");
    repo.file(".gitlab-ci.yml", &own.replace(component, "  - local: templates/branch-deploy.yml\n"));
    repo.file(".gitignore", ".gitlab-ci-local/\n");
    repo.commit();
    let bin = Path::new(env!("CARGO_BIN_EXE_dagster-branch-deploy")).parent().unwrap();
    let mut c = repo.cmd_with(Path::new("node"));
    c.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
    c.arg(gitlab_ci_local()).args(["--force-shell-executor", "--home", &repo.home.path().display().to_string()]);
    for (k, v) in MR.iter().chain(&[("GITLAB_CI", "true"), ("CI_PROJECT_ID", "1217")]) {
        c.args(["--variable", &format!("{k}={v}")]);
    }
    let out = ok(c.arg("component-test-branch-deploy")).stdout();
    assert!(out.contains("PASS  component-test-branch-deploy"), "{out}");
    let planned = ["provider: gitlab", "ghcr.io/acme/quickstart-orders", "CliCreateOrUpdateBranchDeployment"];
    for planned in planned.into_iter().chain(["CliDeployLocations", "marketing"]) {
        assert!(out.contains(planned), "{planned:?} missing from the dry run: {out}");
    }
}

/// Copies a directory tree, following symbolic links (as publishing the
/// component does).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if std::fs::metadata(entry.path()).unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
#[ignore = "needs Node 24, gitlab-ci-local and docker-registry; scripts/test installs them"]
fn a_merge_request_of_a_project_without_a_dockerfile_is_built_from_its_uv_lock() {
    use crate::util::python::{push_fake_python_base, write_app};
    use sha2::Digest as _;
    let wheel = crate::util::python::demo_wheel();
    let index = crate::util::python::demo_index(wheel.clone());
    let s = Scenario::new(review::gitlab());
    let base = push_fake_python_base(&s.reg.host);
    write_app(&s.project, "app", &index.url(), &wheel, &hex::encode(sha2::Sha256::digest(&wheel)), &s.reg.host);
    s.project.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("app", "app", &format!("{}/acme/app", s.reg.host))]));
    let include = format!("{INCLUDE}      base-image: {base}\n");
    with_pipeline(&s, "feature/orders", &include);
    let run = ok(&mut pipeline(&s, MR, &[]));
    assert!(run.stdout().contains("> deployed: "), "{}", run.stdout());
    let d = s.dagster.branch_deployments()[0].clone();
    let documents = s.dagster.documents(&d.name);
    assert_eq!(documents["app"]["working_directory"], "/app");
    assert!(documents["app"]["image"].as_str().unwrap().contains("/acme/app@sha256:"));
}

#[test]
#[ignore = "needs Node 24, gitlab-ci-local and docker-registry; scripts/test installs them"]
fn a_scheduled_pipeline_sweeps_and_deploys_nothing() {
    let s = Scenario::new(review::gitlab());
    with_pipeline(&s, "main", INCLUDE);
    let mr = |n: u64| format!("https://github.com/acme/dagster-project/-/merge_requests/{n}");
    let merged = s.dagster.seed_branch("dagster-project", "feature/a", 5, &mr(5), 1.0e9);
    let open = s.dagster.seed_branch("dagster-project", "feature/b", 6, &mr(6), 1.0e9);
    {
        let mut state = s.review.state.lock().unwrap();
        state.mr_states.insert(5, "merged".into());
        state.mr_states.insert(6, "opened".into());
    }
    let schedule = [("CI_PIPELINE_SOURCE", "schedule"), ("CI_DEFAULT_BRANCH", "main")];
    let run = ok(&mut pipeline(&s, &schedule, &[]));
    let out = run.stdout();
    assert!(out.contains("PASS  dagster-sweep"), "{out}");
    assert!(!out.contains("dagster-deploy "), "a schedule sweeps, it does not deploy: {out}");
    let status = |name: &str| s.dagster.branch_deployments().into_iter().find(|d| d.name == name).unwrap().status;
    assert_eq!(status(&merged).as_deref(), Some("MERGED"), "{out}");
    assert_eq!(status(&open).as_deref(), Some("OPEN"));
    assert!(s.dagster.documents("prod").is_empty());
}
