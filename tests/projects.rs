//! Real project layouts (tests/fixtures/projects, written in the shape of
//! public Dagster repositories) planned with `deploy --dry-run --offline
//! --json`: the location names, code sources, working directories,
//! registries, container contexts and images are what `dagster-cloud ci` and
//! `dg plus deploy` would use.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects").join(name)
}

/// The dry run of a fixture, as the binary prints it with `--json`, for the
/// full deployment (so that the checkout's branch and remote do not matter).
fn plan(dir: &Path, extra: &[&str]) -> Run {
    let home = Project::new();
    let mut cmd = home.cmd();
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["deploy", "--dry-run", "--offline", "--json", "--deployment", "prod", "--project-dir"])
        .arg(dir)
        .args(extra);
    Run { output: cmd.output().unwrap() }
}

fn planned(dir: &Path, extra: &[&str]) -> Value {
    let run = plan(dir, extra);
    assert!(run.output.status.success(), "{}\n{}", run.stdout(), run.stderr());
    run.json()
}

/// Each location's document as `deployLocations` would send it, by name.
fn documents(plan: &Value) -> Vec<Value> {
    let op = plan["operations"].as_array().unwrap().iter().find(|o| o["operation"] == "CliDeployLocations").unwrap();
    op["variables"]["document"]["locations"].as_array().unwrap().clone()
}

fn builds(plan: &Value) -> Vec<(String, String)> {
    let locations = plan["locations"].as_array().unwrap();
    locations.iter().map(|l| (l["location"].as_str().unwrap().into(), l["build"].as_str().unwrap().into())).collect()
}

#[test]
fn a_hooli_shaped_dg_workspace_names_locations_by_directory_and_merges_workspace_settings() {
    let plan = planned(&fixture("hooli-workspace"), &[]);
    let docs = documents(&plan);
    assert_eq!(docs[0]["location_name"], "hooli-data-eng");
    assert_eq!(docs[0]["code_source"], json!({ "autoload_defs_module_name": "hooli_data_eng.defs" }));
    assert_eq!(docs[0]["container_context"]["k8s"]["env_vars"], json!(["DAGSTER_ENV=branch", "DBT_TARGET=branch"]));
    assert_eq!(
        docs[0]["container_context"]["k8s"]["run_k8s_config"]["job_spec_config"]["ttl_seconds_after_finished"],
        60
    );
    assert_eq!(docs[1]["location_name"], "hooli-batch-enrichment", "the directory, not [project].name");
    assert_eq!(docs[1]["code_source"], json!({ "module_name": "hooli_batch_enrichment.definitions" }));
    assert_eq!(docs[1]["container_context"]["k8s"]["env_vars"], json!(["DAGSTER_ENV=prod"]));
    for doc in &docs {
        let image = doc["image"].as_str().unwrap();
        assert!(image.starts_with("764506304434.dkr.ecr.us-west-2.amazonaws.com/hooli:"), "{image}");
    }
    assert_eq!(
        builds(&plan),
        [("hooli-data-eng".into(), "external".into()), ("hooli-batch-enrichment".into(), "external".into())]
    );

    let one = planned(&fixture("hooli-workspace/hooli-batch-enrichment"), &[]);
    let docs = documents(&one);
    assert_eq!(docs.len(), 1, "--project-dir at a project inside the workspace deploys that project");
    assert_eq!(docs[0]["location_name"], "hooli-batch-enrichment");
    assert!(docs[0]["image"].as_str().unwrap().starts_with("764506304434.dkr.ecr.us-west-2.amazonaws.com/hooli:"));
    assert_eq!(docs[0]["container_context"]["k8s"]["env_vars"], json!(["DAGSTER_ENV=prod"]), "the workspace's");
}

#[test]
fn the_hybrid_quickstarts_placeholder_registry_fails_naming_file_key_and_value() {
    let run = plan(&fixture("hybrid-quickstart"), &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    let error = run.json();
    assert_eq!(error["status"], "failed");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("build.registry in") && message.contains("hybrid-quickstart/dagster_cloud.yaml"),
        "{message}"
    );
    assert!(message.contains("<account-id>.dkr.ecr.us-west-2.amazonaws.com/<image-name>"), "{message}");
    assert!(!message.contains("Serverless"), "never taken for Serverless: {message}");
}

#[test]
fn a_multi_location_file_with_defaults_a_working_directory_and_a_prebuilt_image() {
    let plan = planned(&fixture("multi-location"), &[]);
    let docs = documents(&plan);
    let names: Vec<&str> = docs.iter().map(|d| d["location_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ingest", "reporting", "vendor_models"]);
    assert_eq!(docs[0]["working_directory"], "./src");
    assert_eq!(docs[0]["agent_queue"], "large");
    assert_eq!(docs[0]["container_context"]["k8s"]["env_vars"], json!(["TEAM=data"]));
    assert!(docs[0]["image"].as_str().unwrap().starts_with("ghcr.io/acme/dagster:ingest-"));
    assert_eq!(docs[1]["code_source"], json!({ "python_file": "reporting/definitions.py" }));
    assert_eq!(docs[1]["container_context"]["k8s"]["env_vars"], json!(["TEAM=bi"]), "merged by variable name");
    assert!(docs[1]["image"].as_str().unwrap().starts_with("ghcr.io/acme/reporting:reporting-"));
    assert_eq!(docs[2]["image"], "ghcr.io/acme/vendor-models:2024.11", "image: is deployed as given");
    let builds = builds(&plan);
    assert_eq!(builds[2], ("vendor_models".into(), "prebuilt".into()), "and nothing is built for it");
}

#[test]
fn a_locations_file_by_another_name() {
    let dir = fixture("named-config");
    let file = dir.join("cloud_workspace.yaml");
    let plan = planned(&dir, &["--dagster-cloud-yaml-path", file.to_str().unwrap()]);
    let docs = documents(&plan);
    assert_eq!(docs[0]["location_name"], "example_location");
    assert_eq!(docs[0]["code_source"], json!({ "python_file": "repo.py" }));
    let without = plan_error(&dir);
    assert!(without.contains("no dagster_cloud.yaml, build.yaml or dg project"), "{without}");
}

fn plan_error(dir: &Path) -> String {
    let run = plan(dir, &[]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    run.json()["error"].as_str().unwrap().to_string()
}

#[test]
fn a_scaffolded_dg_project_with_dg_plus_deploy_configure_files() {
    let plan = planned(&fixture("my-cool-project"), &[]);
    let docs = documents(&plan);
    assert_eq!(docs[0]["location_name"], "my-cool-project", "the directory's name, as dg names it");
    assert_eq!(docs[0]["code_source"], json!({ "module_name": "my_cool_project.definitions" }));
    assert_eq!(docs[0]["container_context"], json!({ "k8s": { "env_vars": ["DAGSTER_HOME=/opt/dagster"] } }));
    assert!(docs[0]["image"].as_str().unwrap().starts_with("ghcr.io/acme/my-cool-project:my-cool-project-"));
}

#[test]
fn a_dg_toml_project_with_a_named_location_and_no_build_yaml() {
    let plan = planned(&fixture("dg-toml-project"), &[]);
    let docs = documents(&plan);
    assert_eq!(docs[0]["location_name"], "analytics-prod");
    assert_eq!(docs[0]["code_source"], json!({ "module_name": "analytics.definitions" }));
    assert_eq!(docs[0]["agent_queue"], "analytics");
}

#[test]
fn an_offline_build_never_leaves_a_layout_that_is_not_one() {
    let out = tempfile::tempdir().unwrap();
    let run = plan(&fixture("multi-location"), &["--output-dir", out.path().to_str().unwrap()]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    let message = run.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("no complete image layout could be written for 2 location(s)"), "{message}");
    assert!(message.contains("ingest: only its code layers"), "{message}");
    assert!(!out.path().join("ingest/index.json").exists());
}

#[test]
fn a_root_dg_project_with_other_tools_settings() {
    let plan = planned(&fixture("dagster-open-platform"), &[]);
    let docs = documents(&plan);
    assert_eq!(docs[0]["location_name"], "dagster-open-platform");
    assert_eq!(docs[0]["code_source"], json!({ "module_name": "dagster_open_platform.definitions" }));
    let image = docs[0]["image"].as_str().unwrap();
    assert!(image.starts_with("123456789012.dkr.ecr.us-west-2.amazonaws.com/dagster-open-platform:"), "{image}");
}

#[test]
fn the_dg_docs_workspace_with_a_deployment_environment_beside_its_projects() {
    let plan = planned(&fixture("dg-workspace"), &[]);
    let docs = documents(&plan);
    let names: Vec<&str> = docs.iter().map(|d| d["location_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["project-1", "project-2"]);
    assert_eq!(docs[0]["code_source"], json!({ "module_name": "project_1.definitions" }));
    assert!(docs[0]["image"].as_str().unwrap().starts_with("ghcr.io/acme/dg-workspace:project-1-"));
    assert!(docs[1]["image"].as_str().unwrap().starts_with("ghcr.io/acme/project-two:project-2-"));
    let inside = planned(&fixture("dg-workspace/projects"), &[]);
    assert_eq!(documents(&inside).len(), 2, "a folder inside the workspace plans the workspace");
}

#[test]
fn the_serverless_quickstart_reads_dagster_cloud_yaml_first_and_locks_its_setup_py() {
    let plan = planned(&fixture("serverless-quickstart"), &[]);
    let reason = plan["locations"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("uv pip compile --universal --generate-hashes") && reason.contains("setup.py"), "{reason}");
    assert_eq!(plan["locations"][0]["location"], "my-project");
}

/// A copy of a fixture outside any git checkout, so that the plan does not
/// depend on the state of this repository's checkout.
fn detached_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(name), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the binary in `dir` with a scrubbed environment; stdout and stderr.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dagster-branch-deploy"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap()).env("HOME", home.path()).current_dir(dir);
    cmd.envs(env.iter().copied()).args(args);
    Run { output: cmd.output().unwrap() }
}

#[test]
fn the_dry_run_plan_as_text_and_json() {
    let copy = detached_copy("multi-location");
    let root = copy.path().to_str().unwrap().to_string();
    let text = run_in(copy.path(), &["deploy", "--dry-run", "--offline"], &[]);
    let json = run_in(copy.path(), &["deploy", "--dry-run", "--offline", "--json"], &[]);
    assert!(text.output.status.success() && json.output.status.success(), "{}", text.stderr());
    insta::with_settings!({ filters => vec![(root.as_str(), "[PROJECT]"), (r"\d+\.\d\ds", "[SECONDS]"), (r#""seconds": [0-9.e-]+"#, r#""seconds": "[SECONDS]""#), (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]")] }, {
        insta::assert_snapshot!("plan_text", text.stdout());
        insta::assert_snapshot!("plan_json", json.stdout());
    });
}

/// What went wrong, where, the arguments and the environment.
type ErrorCase<'a> = (&'a str, &'a Path, &'a [&'a str], Vec<(&'a str, &'a str)>);

#[test]
fn the_main_error_messages() {
    let empty = tempfile::tempdir().unwrap();
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("dagster_cloud.yaml"), "locations: [\n").unwrap();
    let unknown = tempfile::tempdir().unwrap();
    std::fs::write(
        unknown.path().join("dagster_cloud.yaml"),
        "locations:\n  - location_name: a\n    code_source: {package_name: a}\n    bulid: {}\n",
    )
    .unwrap();
    let bad_name = tempfile::tempdir().unwrap();
    std::fs::write(bad_name.path().join("dagster_cloud.yaml"), "locations:\n  - location_name: ../x\n").unwrap();
    let linked = detached_copy("named-config");
    std::fs::remove_file(linked.path().join("Dockerfile")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", linked.path().join("Dockerfile")).unwrap();
    let no_root_module = tempfile::tempdir().unwrap();
    std::fs::write(no_root_module.path().join("dg.toml"), "directory_type = \"project\"\n[project]\n").unwrap();
    let hybrid = detached_copy("hybrid-quickstart");
    // The Serverless quickstart without its setup.py: nothing names its
    // dependencies.
    let serverless = detached_copy("serverless-quickstart");
    std::fs::remove_file(serverless.path().join("setup.py")).unwrap();

    let dry = ["deploy", "--dry-run", "--offline"];
    let file = ["deploy", "--dry-run", "--offline", "--dagster-cloud-yaml-path", "cloud_workspace.yaml"];
    let cases: Vec<ErrorCase> = vec![
        ("no project files", empty.path(), &dry, vec![]),
        ("broken YAML", broken.path(), &dry, vec![]),
        ("a misspelt key", unknown.path(), &dry, vec![]),
        ("a location name that is a path", bad_name.path(), &dry, vec![]),
        ("a Dockerfile linked out of the repository", linked.path(), &file, vec![]),
        ("a dg project without root_module", no_root_module.path(), &dry, vec![]),
        ("the hybrid quickstart's placeholder registry", hybrid.path(), &dry, vec![]),
        ("a location without a Dockerfile", serverless.path(), &dry, vec![]),
        ("a poll interval of inf", empty.path(), &["deploy"], vec![("DAGSTER_POLL_INTERVAL", "inf")]),
        ("no Dagster+ token", hybrid.path(), &["deploy", "--url", "http://127.0.0.1:9"], vec![]),
    ];
    let mut shown = String::new();
    for (what, dir, args, env) in &cases {
        let run = run_in(dir, args, env);
        assert_eq!(run.output.status.code(), Some(1), "{what}: {}", run.stderr());
        let stderr = run.stderr();
        let error = stderr.find("error: ").map_or("(no error line)", |at| stderr[at..].trim_end());
        let error = error.replace(dir.to_str().unwrap(), "[PROJECT]");
        shown.push_str(&format!("## {what}\n{error}\n\n"));
    }
    insta::assert_snapshot!("errors", shown);
}

#[test]
fn a_dg_project_with_a_uv_lock_and_no_dockerfile_is_planned_as_a_native_python_build() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python/jaffle-platform");
    let plan = planned(&dir, &[]);
    let location = &plan["locations"][0];
    assert_eq!(location["build"], "native");
    assert!(location["reason"].as_str().unwrap().contains("jaffle-platform/uv.lock"), "{location}");
    assert_eq!(location["unresolved_base"], "docker.io/library/python:3.11-slim-bookworm (--offline)", "{location}");
    assert_eq!(documents(&plan)[0]["working_directory"], "/app", "the image's, as no configuration names one");
}
