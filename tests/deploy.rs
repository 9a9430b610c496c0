use std::process::Command;

use serde_json::Value;

use crate::util::dagster::{FakeDagster, TOKEN};
use crate::util::review::{self, GITHUB_TOKEN};
use crate::util::scenario::{MARKER, Scenario};
use crate::util::*;

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn an_opened_pull_request_gets_a_branch_deployment_deployed_by_digest_with_one_comment() {
    let s = Scenario::new(review::github());
    s.review.seed(2, "an unrelated comment");
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = ok(s.github("pull_request", &event).args(["--base-deployment-name", "prod"]));

    let branches = s.dagster.branch_deployments();
    assert_eq!(branches.len(), 1);
    let d = &branches[0];
    assert_eq!((d.repo_name.as_deref(), d.branch_name.as_deref()), (Some("Codertocat/Hello-World"), Some("changes")));
    assert_eq!(d.status.as_deref(), Some("OPEN"));
    assert_eq!(d.base.as_deref(), Some("prod"));
    let branch_data = d.branch_data.clone().unwrap();
    assert_eq!(branch_data["pullRequestNumber"], "2");
    assert_eq!(branch_data["pullRequestUrl"], "https://github.com/Codertocat/Hello-World/pull/2");
    assert_eq!(branch_data["branchUrl"], "https://github.com/Codertocat/Hello-World/tree/changes");
    let commit = d.commit.clone().unwrap();
    assert_eq!(commit["commitHash"], s.sha.as_str(), "the PR head, not GITHUB_SHA");
    assert_eq!(commit["commitMessage"], "initial");
    assert_eq!(commit["authorEmail"], "t@example.com");

    let documents = s.dagster.documents(&d.name);
    assert_eq!(documents.len(), 2);
    for (name, doc) in &documents {
        let image = doc["image"].as_str().unwrap();
        assert!(image.starts_with(&format!("{}/acme/{name}@sha256:", s.reg.host)), "deployed by digest: {image}");
        skopeo_inspect(image, None, &[]);
        assert_eq!(doc["code_source"]["package_name"], name.as_str());
        assert_eq!(doc["git"]["commit_hash"], s.sha.as_str());
        assert_eq!(doc["git"]["provider"], "github");
    }
    let calls = s.dagster.calls();
    let upsert = calls.iter().find(|c| c.fields == ["createOrUpdateBranchDeployment"]).unwrap();
    assert_eq!(upsert.scope, None, "the upsert is organization-scoped");
    let commit_url = format!("https://github.com/Codertocat/Hello-World/commit/{}", s.sha);
    assert_eq!(upsert.variables["commit"]["commitUrl"], commit_url.as_str());
    assert_eq!(upsert.variables["branchData"]["pullRequestStatus"], "OPEN");
    let deploy = calls.iter().find(|c| c.fields == ["deployLocations"]).unwrap();
    assert_eq!(deploy.deployment_header.as_deref(), Some(d.name.as_str()));

    let ours: Vec<_> = s.review.comments().into_iter().filter(|c| c.body.starts_with(MARKER)).collect();
    assert_eq!(ours.len(), 1, "one sticky comment");
    let body = &ours[0].body;
    assert!(body.contains(&format!("Deployed to Dagster+ branch deployment `{}`", d.name)), "{body}");
    assert!(body.contains(&format!("[View in Dagster+]({}/{}/locations)", s.dagster.url(), d.name)), "{body}");
    assert!(body.contains("| orders | ✅ loaded | `sha256:") && body.contains("| marketing | ✅ loaded |"), "{body}");

    let outputs = s.outputs();
    assert_eq!(outputs["status"], "deployed");
    assert_eq!(outputs["deployment"], d.name);
    assert_eq!(outputs["url"], format!("{}/{}/locations", s.dagster.url(), d.name));
    let images: Value = serde_json::from_str(&outputs["images"]).unwrap();
    assert_eq!(images["orders"], documents["orders"]["image"]);
    assert!(s.summary().contains("| orders | ✅ loaded |"), "{}", s.summary());
    assert!(!leaks(&run, TOKEN) && !leaks(&run, GITHUB_TOKEN), "tokens are never printed");
    assert!(run.stderr().contains(&format!("::add-mask::{TOKEN}")), "the Dagster+ token is masked");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn synchronize_updates_the_same_deployment_and_comment_and_closing_marks_it() {
    let s = Scenario::new(review::github());
    s.review.seed(2, "someone else's comment, first");
    s.review.state.lock().unwrap().page_size = 1;
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    ok(&mut s.github("pull_request", &opened));
    let name = s.dagster.branch_deployments()[0].name.clone();
    let first = s.dagster.documents(&name)["orders"]["image"].clone();

    let second_sha = s.project.commit_change("orders/orders/definitions.py", "defs = 2\n");
    let sync = s.event("pull_request.synchronize.json", &second_sha, |_| {});
    ok(&mut s.github("pull_request", &sync));
    assert_eq!(s.dagster.branch_deployments().len(), 1, "the same branch deployment");
    assert_eq!(s.dagster.branch_deployments()[0].name, name);
    let second = s.dagster.documents(&name)["orders"]["image"].clone();
    assert_ne!(first, second, "a new image for the new commit");
    let ours: Vec<_> = s.review.comments().into_iter().filter(|c| c.body.starts_with(MARKER)).collect();
    assert_eq!(ours.len(), 1, "the same comment, found on the second page and updated");
    assert!(ours[0].body.contains(&second_sha[..12]));
    assert!(s.review.writes().iter().any(|w| w.method == "PATCH"));

    let before = s.manifests_pushed();
    let closed = s.event("pull_request.closed.json", &second_sha, |e| e["pull_request"]["merged"] = true.into());
    ok(&mut s.github("pull_request", &closed));
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("MERGED"));
    assert_eq!(s.manifests_pushed(), before, "closing builds nothing");
    assert_eq!(s.outputs()["status"], "merged");
    assert!(
        s.review
            .comments()
            .iter()
            .any(|c| c.body.starts_with(MARKER) && c.body.contains("The pull request was merged."))
    );
    assert_eq!(s.dagster.calls().iter().filter(|c| c.fields == ["deployLocations"]).count(), 2);
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_pull_request_closed_unmerged_is_marked_closed_and_can_be_deleted() {
    let s = Scenario::new(review::github());
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    ok(&mut s.github("pull_request", &opened));
    let closed = s.event("pull_request.closed.json", &s.sha, |_| {});
    ok(&mut s.github("pull_request", &closed));
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("CLOSED"));
    assert_eq!(s.outputs()["status"], "closed");

    ok(s.github("pull_request", &closed).arg("--delete-on-close"));
    assert!(s.dagster.branch_deployments().is_empty(), "deleted");
    assert!(s.review.comments()[0].body.contains("deleted"));
    assert!(s.dagster.calls().iter().any(|c| c.fields == ["deleteDeployment"]));
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_push_to_the_default_branch_deploys_the_full_deployment() {
    let s = Scenario::new(review::github());
    let event = s.event("push.json", &s.sha, |_| {});
    ok(&mut s.github("push", &event));
    assert!(s.dagster.branch_deployments().is_empty());
    assert_eq!(s.dagster.documents("prod").len(), 2);
    assert!(!s.dagster.calls().iter().any(|c| c.fields == ["createOrUpdateBranchDeployment"]));
    assert_eq!(s.outputs()["deployment"], "prod");
    assert!(s.review.comments().is_empty(), "no pull request, no comment");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_load_error_fails_the_run_and_is_reported_everywhere() {
    let s = Scenario::new(review::github());
    s.dagster.state.lock().unwrap().failing_location =
        Some(("marketing".into(), "dagster._core.errors.DagsterImportError: Encountered ImportError".into()));
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = fails(&mut s.github("pull_request", &event));
    let err = run.stderr();
    assert!(err.contains("marketing failed to load"), "{err}");
    assert!(err.contains("::error title=dagster-branch-deploy::marketing failed to load"), "{err}");
    assert!(err.contains("%0Amarketing: dagster._core.errors.DagsterImportError"), "{err}");
    assert_eq!(err.matches("::error").count(), 1, "one annotation for the run: {err}");
    assert_eq!(s.outputs()["status"], "failed");
    let body = &s.review.comments()[0].body;
    assert!(body.contains("❌ Dagster+ branch deployment") && body.contains("| marketing | ❌ failed |"), "{body}");
    assert!(
        body.contains("import missing_dependency") && body.contains("No module named 'missing_dependency'"),
        "{body}"
    );
    assert!(s.summary().contains("| orders | ✅ loaded |"));
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_dry_run_needs_no_secret_and_makes_no_write_request() {
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let out_dir = s.runner.path().join("layouts");
    let mut cmd = s.github("pull_request", &event);
    cmd.env_remove("DAGSTER_CLOUD_API_TOKEN").env_remove("GITHUB_TOKEN");
    let before = s.reg.requests().len();
    let run = ok(cmd.args(["--dry-run", "--json", "--output-dir"]).arg(&out_dir));
    let plan = run.json();
    assert!(s.dagster.calls().is_empty(), "no call to Dagster+");
    assert!(s.review.server.received().is_empty(), "no call to GitHub");
    assert!(s.reg.requests()[before..].iter().all(|r| r.starts_with("GET") || r.starts_with("HEAD")));
    assert_eq!(std::fs::read_to_string(s.runner.path().join("output")).unwrap(), "", "no outputs on a dry run");
    assert_eq!(plan["decision"]["action"]["kind"], "branch_deployment");
    let ops: Vec<&str> =
        plan["operations"].as_array().unwrap().iter().map(|o| o["operation"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "CliCreateOrUpdateBranchDeployment",
            "CliDeployedLocations",
            "CliDeployLocations",
            "DeploymentInfoQuery",
            "CliWaitStatus"
        ]
    );
    assert_eq!(plan["operations"][0]["headers"][0], serde_json::json!(["Dagster-Cloud-Api-Token", "(redacted)"]));
    assert!(plan["comment"].as_str().unwrap().starts_with(MARKER));
    let image = plan["operations"][2]["variables"]["document"]["locations"][0]["image"].as_str().unwrap();
    assert!(image.contains("@sha256:"), "the digest is known without pushing: {image}");
    assert!(out_dir.join("orders/index.json").is_file());
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_fork_pull_request_without_secrets_is_skipped_with_a_notice() {
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |e| {
        e["pull_request"]["head"]["repo"]["full_name"] = "someone/Hello-World".into();
        e["pull_request"]["head"]["repo"]["fork"] = true.into();
    });
    let mut cmd = s.github("pull_request", &event);
    cmd.env("DAGSTER_CLOUD_API_TOKEN", "");
    let run = ok(&mut cmd);
    assert!(run.stderr().contains("comes from a fork: its code is not built or deployed"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "skipped");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn bad_credentials_and_missing_base_deployments_are_clear_errors() {
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let rejected = fails(s.github("pull_request", &event).env("DAGSTER_CLOUD_API_TOKEN", "user:wrong-token-value"));
    assert!(
        rejected.stderr().contains("Dagster+ rejected the API token from DAGSTER_CLOUD_API_TOKEN (401"),
        "{}",
        rejected.stderr()
    );
    assert!(!leaks(&rejected, "wrong-token-value"), "{}", rejected.stderr());
    let no_base = fails(s.github("pull_request", &event).args(["--base-deployment-name", "staging"]));
    assert!(no_base.stderr().contains("the base deployment \"staging\" does not exist"), "{}", no_base.stderr());

    let local = fails(s.project.cmd().env("DAGSTER_CLOUD_URL", s.dagster.url()).arg("deploy"));
    assert!(
        local.stderr().contains("DAGSTER_CLOUD_API_TOKEN is not set")
            && local.stderr().contains("export DAGSTER_CLOUD_API_TOKEN"),
        "{}",
        local.stderr()
    );
    let unknown = fails(s.github("pull_request", &event).args(["--location", "nope"]));
    assert!(unknown.stderr().contains("unknown location \"nope\""), "{}", unknown.stderr());
    let no_org = fails(s.github("pull_request", &event).env_remove("DAGSTER_CLOUD_URL"));
    assert!(no_org.stderr().contains("DAGSTER_CLOUD_ORGANIZATION"), "{}", no_org.stderr());
}

/// The variables GitLab sets in a merge request pipeline.

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_gitlab_merge_request_deploys_notes_and_writes_the_dotenv_report_and_the_stop_job_closes() {
    let s = Scenario::new(review::gitlab());
    s.review.seed(42, "a reviewer's note, first");
    s.review.state.lock().unwrap().page_size = 1;
    let dotenv = s.runner.path().join("deploy.env");
    let mut cmd = s.project.cmd();
    s.gitlab_env(&mut cmd);
    ok(cmd.args(["deploy", "--poll-interval", "0.05", "--dotenv"]).arg(&dotenv));
    let d = s.dagster.branch_deployments()[0].clone();
    assert_eq!(
        d.repo_name.as_deref(),
        Some("dagster-project"),
        "GitLab's key is the project name, as the official CLI sends it"
    );
    assert_eq!(
        d.branch_data.unwrap()["pullRequestUrl"],
        "https://gitlab.example.com/acme/dagster-project/-/merge_requests/42"
    );
    assert_eq!(s.dagster.documents(&d.name)["orders"]["git"]["provider"], "gitlab");
    let notes: Vec<_> = s.review.comments().into_iter().filter(|c| c.body.starts_with(MARKER)).collect();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].body.contains("✅ loaded"));
    let env_file = std::fs::read_to_string(&dotenv).unwrap();
    assert_eq!(
        env_file,
        format!("DAGSTER_DEPLOYMENT={0}\nDAGSTER_DEPLOYMENT_URL={1}/{0}/locations\n", d.name, s.dagster.url())
    );

    s.review.state.lock().unwrap().mr_state = "merged".into();
    let no_checkout = tempfile::tempdir().unwrap();
    let mut stop = s.project.cmd();
    s.gitlab_env(&mut stop);
    ok(stop.current_dir(no_checkout.path()).arg("close"));
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("MERGED"), "merged, from the GitLab API");
    let notes: Vec<_> = s.review.comments().into_iter().filter(|c| c.body.starts_with(MARKER)).collect();
    assert_eq!(notes.len(), 1, "the stop job found the note on the second page");
    assert!(notes[0].body.contains("was merged"));

    let mut without_token = s.project.cmd();
    s.gitlab_env(&mut without_token);
    let run = ok(without_token.env_remove("GITLAB_TOKEN").arg("close"));
    assert!(run.stderr().contains("cannot tell a merged merge request from a closed one"), "{}", run.stderr());
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("CLOSED"));
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn serverless_locations_push_to_the_registry_dagster_hands_out() {
    use base64::Engine;
    let reg = TestRegistry::start(Auth::HtpasswdAs("serverless-user", "serverless-pass"));
    let dagster = FakeDagster::start();
    let token = base64::engine::general_purpose::STANDARD.encode("serverless-user:serverless-pass");
    dagster.state.lock().unwrap().serverless = Some((format!("{}/dagster-cloud/serverless", reg.host), token, false));
    let p = Project::new();
    p.file("dagster_cloud.yaml", "locations:\n  - location_name: etl\n    code_source: {package_name: etl}\n");
    p.file("Dockerfile", "FROM scratch\nCOPY defs.py /app/\n");
    p.file("defs.py", "defs = 1\n");
    p.commit();
    let run = ok(p.cmd().env("DAGSTER_CLOUD_API_TOKEN", TOKEN).env("DAGSTER_CLOUD_URL", dagster.url()).args([
        "deploy",
        "--poll-interval",
        "0.05",
        "--json",
    ]));
    let out = run.json();
    assert_eq!(out["status"], "deployed");
    let image = dagster.documents("prod")["etl"]["image"].as_str().unwrap().to_string();
    assert!(image.starts_with(&format!("{}/dagster-cloud/serverless@sha256:", reg.host)), "{image}");
    skopeo_inspect(&image, Some("serverless-user:serverless-pass"), &[]);
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn check_reports_configuration_credentials_and_connections() {
    let s = Scenario::new(review::github());
    let run = ok(s
        .project
        .cmd()
        .env("DAGSTER_CLOUD_API_TOKEN", TOKEN)
        .env("DAGSTER_CLOUD_URL", s.dagster.url())
        .arg("check"));
    let out = run.stdout();
    assert!(out.contains("ok   orders: registry") && out.contains("no credential (anonymous) accepted"), "{out}");
    assert!(out.contains("native build"), "{out}");
    assert!(out.contains("ok   Dagster+") && out.contains("connected, token accepted"), "{out}");
    let bad = fails(
        s.project
            .cmd()
            .env("DAGSTER_CLOUD_API_TOKEN", "user:nope")
            .env("DAGSTER_CLOUD_URL", s.dagster.url())
            .arg("check"),
    );
    assert!(bad.stdout().contains("FAIL Dagster+") && !bad.stdout().contains("user:nope"), "{}", bad.stdout());
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn graphql_errors_are_shown_and_a_comment_failure_never_fails_the_deploy() {
    let s = Scenario::new(review::github());
    let push = s.event("push.json", &s.sha, |_| {});
    let err = fails(s.github("push", &push).args(["--deployment", "staging"])).stderr();
    assert!(
        err.contains("Dagster+ answered CliDeployLocations at")
            && err.contains("GraphQL errors: Deployment staging not found"),
        "{err}"
    );

    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = ok(s.github("pull_request", &opened).env("GITHUB_TOKEN", "ghs_read_only"));
    assert!(run.stderr().contains("::warning::could not update the comment (the deploy goes on)"), "{}", run.stderr());
    assert!(run.stderr().contains("answered 401"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "deployed");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn locations_that_never_load_time_out() {
    let s = Scenario::new(review::github());
    s.dagster.state.lock().unwrap().loading_polls = usize::MAX;
    let push = s.event("push.json", &s.sha, |_| {});
    let err = fails(s.github("push", &push).args(["--location-load-timeout", "1"])).stderr();
    assert!(err.contains("timed out after 1s waiting for orders, marketing to load in prod"), "{err}");
    assert_eq!(s.outputs()["status"], "failed");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn the_readme_dry_run_plans_the_quickstart_without_secrets_or_network() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = tempfile::tempdir().unwrap();
    let run = ok(Command::new(env!("CARGO_BIN_EXE_dagster-branch-deploy"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", home.path())
        .current_dir(root)
        .args(["deploy", "--dry-run", "--offline", "--json", "--project-dir", "examples/quickstart"]));
    let plan = run.json();
    let locations: Vec<&str> =
        plan["locations"].as_array().unwrap().iter().map(|l| l["location"].as_str().unwrap()).collect();
    assert_eq!(locations, ["orders", "marketing"]);
    for l in plan["locations"].as_array().unwrap() {
        assert_eq!(l["build"], "native");
        assert!(l["unresolved_base"].as_str().unwrap().contains("python:3.12-slim"), "{l}");
        assert_eq!(l["new_layers"].as_array().unwrap().len(), 1);
    }
    assert!(plan["operations"].as_array().unwrap().iter().any(|o| o["operation"] == "CliDeployLocations"));
}
