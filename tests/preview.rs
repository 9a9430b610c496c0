//! The life of a preview after its first deploy: only changed locations are
//! deployed again, what is left behind is swept, GitHub shows it as a
//! deployment, and a label can make previews opt-in.

use std::process::Command;

use serde_json::Value;

use crate::util::dagster::{Call, FakeDagster, TOKEN};
use crate::util::review::{self, GITHUB_TOKEN, GITLAB_TOKEN};
use crate::util::scenario::*;
use crate::util::*;

/// The location names each `deployLocations` call sent.
fn deployed(calls: &[Call]) -> Vec<Vec<String>> {
    calls
        .iter()
        .filter(|c| c.fields == ["deployLocations"])
        .map(|c| {
            let locations = c.variables["document"]["locations"].as_array().unwrap();
            locations.iter().map(|l| l["location_name"].as_str().unwrap().to_string()).collect()
        })
        .collect()
}

/// Opens the pull request (both locations deployed); returns the
/// branch deployment's name.
fn open(s: &Scenario) -> String {
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    ok(&mut s.github("pull_request", &opened));
    assert_eq!(deployed(&s.dagster.calls()), [["orders", "marketing"]]);
    s.dagster.branch_deployments()[0].name.clone()
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_push_that_changes_one_location_redeploys_only_that_location() {
    let s = Scenario::new(review::github());
    let name = open(&s);
    let marketing_before = s.dagster.documents(&name)["marketing"].clone();

    let second = s.project.commit_change("orders/orders/definitions.py", "defs = 2\n");
    let sync = s.event("pull_request.synchronize.json", &second, |_| {});
    let run = ok(&mut s.github("pull_request", &sync));
    let calls = s.dagster.calls();
    assert_eq!(deployed(&calls)[1], ["orders"], "{}", run.stderr());
    assert!(run.stderr().contains("orders: deploying (its image changed: 1 new layer(s) on linux/amd64)"));
    let documents = s.dagster.documents(&name);
    assert_eq!(documents["marketing"], marketing_before, "marketing keeps running its image");
    assert_eq!(documents["orders"]["git"]["commit_hash"], second);
    // The wait asked only about orders: once it loaded, no more polls.
    let summary = s.summary();
    assert!(summary.contains("| orders | ✅ loaded |"), "{summary}");
    assert!(summary.contains(&format!("| marketing | ✅ unchanged since `{}` |", &s.sha[..12])), "{summary}");
    let comment = &s.review.comments()[0].body;
    assert!(comment.contains(&format!("unchanged since `{}`", &s.sha[..12])), "{comment}");
    let outputs = s.outputs();
    assert_eq!(outputs["status"], "deployed");
    let images: Value = serde_json::from_str(&outputs["images"]).unwrap();
    assert_eq!(images["marketing"], marketing_before["image"], "the image marketing runs");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_push_that_changes_nothing_deploys_nothing_and_succeeds() {
    let s = Scenario::new(review::github());
    let name = open(&s);
    let before = s.dagster.documents(&name);
    // A new commit (a new time, a new revision label) outside both locations.
    let second = s.project.commit_change("README.md", "# shop\n");
    let sync = s.event("pull_request.synchronize.json", &second, |_| {});
    let run = ok(&mut s.github("pull_request", &sync));
    assert_eq!(deployed(&s.dagster.calls()).len(), 1, "no second deployLocations: {}", run.stderr());
    assert_eq!(s.dagster.documents(&name), before);
    assert_eq!(s.outputs()["status"], "unchanged");
    let summary = s.summary();
    assert!(summary.contains("is up to date: nothing changed"), "{summary}");
    assert_eq!(summary.matches("✅ unchanged since").count(), 2, "{summary}");
    let waits = s.dagster.calls().iter().filter(|c| c.fields == ["agents", "workspaceOrError"]).count();
    let first_waits = waits;
    assert!(first_waits > 0);
    assert!(run.stderr().contains("nothing changed"), "{}", run.stderr());

    // Forced: both again, and waited for.
    let mut forced = s.github("pull_request", &sync);
    ok(forced.env("DAGSTER_REDEPLOY_ALL", "true"));
    assert_eq!(deployed(&s.dagster.calls())[1], ["orders", "marketing"]);
    assert!(s.dagster.calls().iter().filter(|c| c.fields == ["agents", "workspaceOrError"]).count() > first_waits);
    assert_eq!(s.outputs()["status"], "deployed");
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn a_location_that_failed_to_load_is_deployed_again_when_nothing_changed() {
    let s = Scenario::new(review::github());
    s.dagster.state.lock().unwrap().failing_location = Some(("marketing".into(), "ImportError: flaky".into()));
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    fails(&mut s.github("pull_request", &opened));
    s.dagster.state.lock().unwrap().failing_location = None;
    // Re-running the job: marketing's last load failed, so it goes again.
    ok(&mut s.github("pull_request", &opened));
    assert_eq!(deployed(&s.dagster.calls()), [vec!["orders", "marketing"], vec!["marketing"]]);
    assert_eq!(s.outputs()["status"], "deployed");
    assert!(s.summary().contains("| marketing | ✅ loaded |"));
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn the_full_deployment_redeploys_only_what_changed_too() {
    let s = Scenario::new(review::github());
    let push = s.event("push.json", &s.sha, |_| {});
    ok(&mut s.github("push", &push));
    let second = s.project.commit_change("marketing/marketing/definitions.py", "defs = 3\n");
    let push = s.event("push.json", &second, |_| {});
    ok(&mut s.github("push", &push));
    assert_eq!(deployed(&s.dagster.calls()), [vec!["orders", "marketing"], vec!["marketing"]]);
    assert_eq!(s.dagster.documents("prod")["orders"]["git"]["commit_hash"], s.sha);
}

const DAY: f64 = 24.0 * 60.0 * 60.0;

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The Dagster+ status each seeded branch deployment has now, by name.
fn statuses(dagster: &FakeDagster) -> Vec<(String, Option<String>)> {
    dagster.branch_deployments().into_iter().map(|d| (d.name, d.status)).collect()
}

/// A repository on GitHub with branch deployments in Dagster+, for sweeps.
struct SweepWorld {
    project: Project,
    dagster: FakeDagster,
    github: review::FakeReview,
    summary: std::path::PathBuf,
}

impl SweepWorld {
    fn new() -> SweepWorld {
        let project = Project::new();
        project.file("README.md", "x\n");
        project.commit();
        let summary = project.path().join("summary.md");
        SweepWorld { project, dagster: FakeDagster::start(), github: review::github(), summary }
    }

    /// A branch deployment of pull request `n` of this repository, whose
    /// latest commit is `age_days` old; returns its name.
    fn seed(&self, branch: &str, n: u64, age_days: f64) -> String {
        let pr = format!("https://github.com/Codertocat/Hello-World/pull/{n}");
        self.dagster.seed_branch("Codertocat/Hello-World", branch, n, &pr, now() - age_days * DAY)
    }

    /// `sweep` as a scheduled workflow runs it.
    fn sweep(&self) -> Command {
        let mut c = self.project.cmd();
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "schedule")
            .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_API_URL", self.github.url())
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .env("DAGSTER_CLOUD_API_TOKEN", TOKEN)
            .env("DAGSTER_CLOUD_URL", self.dagster.url())
            .arg("sweep");
        c
    }
}

#[test]
fn sweep_closes_merged_closed_and_idle_pull_requests_of_this_repository_only() {
    let w = SweepWorld::new();
    let (dagster, github) = (&w.dagster, &w.github);
    let merged = w.seed("feature/merged", 11, 1.0);
    let closed = w.seed("feature/closed", 12, 1.0);
    let open = w.seed("feature/open", 13, 2.0);
    let idle = w.seed("feature/idle", 14, 45.0);
    let other = dagster.seed_branch("acme/other", "feature/merged", 11, "https://github.com/acme/other/pull/11", 0.0);
    {
        let mut s = github.state.lock().unwrap();
        s.pulls.insert(11, ("closed", true));
        s.pulls.insert(12, ("closed", false));
        s.pulls.insert(13, ("open", false));
        s.pulls.insert(14, ("open", false));
        // A deploy of #11 showed it on the pull request.
        s.deployments.push(review::GitHubDeployment {
            id: 7,
            request: serde_json::json!({ "ref": "abc", "environment": "dagster-branch-deployment",
                "payload": { "pull_request": 11 } }),
            statuses: vec![serde_json::json!({ "state": "success" })],
        });
    }
    let summary = &w.summary;
    let before = statuses(dagster);

    // A dry run first: it says what it would do, and changes nothing.
    let run = ok(w.sweep().args(["--dry-run", "--idle-days", "30"]));
    let err = run.stderr();
    assert!(
        err.contains(&format!("{merged} (feature/merged): would mark it MERGED: pull request #11 was merged")),
        "{err}"
    );
    assert!(err.contains(&format!("{closed} (feature/closed): would mark it CLOSED")), "{err}");
    assert!(
        err.contains(&format!("{open} (feature/open): kept: pull request #13 is open; last commit 2 days ago")),
        "{err}"
    );
    assert!(err.contains(&format!("{idle} (feature/idle): would mark it CLOSED: no commit for 45 days")), "{err}");
    assert!(
        err.contains("4 open branch deployment(s) of Codertocat/Hello-World") && err.contains("1 of other"),
        "{err}"
    );
    assert_eq!(statuses(dagster), before, "a dry run changes nothing");
    assert!(!dagster.calls().iter().any(|c| c.fields == ["createOrUpdateBranchDeployment"]));
    assert!(github.writes().is_empty(), "nor on GitHub");
    assert!(std::fs::read_to_string(summary).unwrap().contains("Dry run: sweep of"));

    let run = ok(w.sweep().args(["--idle-days", "30", "--json"]));
    let out = run.json();
    assert_eq!(out["deployments"].as_array().unwrap().len(), 4);
    let status = |name: &str| statuses(dagster).into_iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(status(&merged).as_deref(), Some("MERGED"));
    assert_eq!(status(&closed).as_deref(), Some("CLOSED"));
    assert_eq!(status(&open).as_deref(), Some("OPEN"));
    assert_eq!(status(&idle).as_deref(), Some("CLOSED"));
    assert_eq!(status(&other).as_deref(), Some("OPEN"), "another repository's deployment is left alone");
    // The marks keep each deployment's own branch and latest commit.
    let d = dagster.branch_deployments().into_iter().find(|d| d.name == merged).unwrap();
    assert_eq!(d.branch_data.unwrap()["pullRequestNumber"], "11");
    assert_eq!(d.commit.unwrap()["commitHash"], format!("{:040x}", 11));
    let shown = &github.deployments()[0];
    assert_eq!(shown.statuses.last().unwrap()["state"], "inactive", "the pull request's deployment goes inactive");
    // Each closed one's pull request says so in the comment; the open one's is left alone.
    let comment_on =
        |n: u64| github.comments().into_iter().filter(|c| c.thread == n).map(|c| c.body).collect::<Vec<_>>();
    assert!(comment_on(11)[0].contains(&format!("`{merged}` marked closed\nThe pull request was merged.")));
    assert!(comment_on(12)[0].contains("The pull request was closed."));
    assert!(comment_on(14)[0].contains("It had no new commit for a while; push one for a new preview."));
    assert!(comment_on(14)[0].contains(&format!("commit `{}`", &format!("{:040x}", 14)[..12])));
    assert!(comment_on(13).is_empty());

    // A second sweep finds only the open one left; --delete removes it when idle.
    let run = ok(w.sweep().args(["--idle-days", "1", "--delete"]));
    assert!(
        run.stderr().contains(&format!("{open} (feature/open): deleted: no commit for 2 days")),
        "{}",
        run.stderr()
    );
    assert!(!dagster.branch_deployments().iter().any(|d| d.name == open));
    let comments = github.comments().into_iter().filter(|c| c.thread == 13).collect::<Vec<_>>();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("deleted"), "{}", comments[0].body);
}

#[test]
fn sweep_on_gitlab_asks_each_merge_request_and_keeps_other_groups_projects() {
    let project = Project::new();
    project.file("README.md", "x\n");
    project.commit();
    let dagster = FakeDagster::start();
    let gitlab = review::gitlab();
    let mr = |group: &str, n: u64| format!("https://gitlab.example.com/{group}/dagster-project/-/merge_requests/{n}");
    let merged = dagster.seed_branch("dagster-project", "feature/a", 5, &mr("acme", 5), now());
    let closed = dagster.seed_branch("dagster-project", "feature/b", 6, &mr("acme", 6), now());
    let open = dagster.seed_branch("dagster-project", "feature/c", 7, &mr("acme", 7), now());
    let other_group = dagster.seed_branch("dagster-project", "feature/a", 5, &mr("other", 5), now());
    {
        let mut s = gitlab.state.lock().unwrap();
        s.mr_states.insert(5, "merged".into());
        s.mr_states.insert(6, "closed".into());
        s.mr_states.insert(7, "opened".into());
    }
    let mut cmd = project.cmd();
    cmd.env("GITLAB_CI", "true")
        .env("CI_PIPELINE_SOURCE", "schedule")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_PROJECT_NAME", "dagster-project")
        .env("CI_PROJECT_PATH", "acme/dagster-project")
        .env("CI_PROJECT_URL", "https://gitlab.example.com/acme/dagster-project")
        .env("CI_PROJECT_ID", "1217")
        .env("CI_API_V4_URL", format!("{}/api/v4", gitlab.url()))
        .env("GITLAB_TOKEN", GITLAB_TOKEN)
        .env("DAGSTER_CLOUD_API_TOKEN", TOKEN)
        .env("DAGSTER_CLOUD_URL", dagster.url())
        .arg("sweep");
    let run = ok(&mut cmd);
    assert!(run.stderr().contains("merge request !5 was merged"), "{}", run.stderr());
    let status = |name: &str| statuses(&dagster).into_iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(status(&merged).as_deref(), Some("MERGED"));
    assert_eq!(status(&closed).as_deref(), Some("CLOSED"));
    assert_eq!(status(&open).as_deref(), Some("OPEN"));
    assert_eq!(status(&other_group).as_deref(), Some("OPEN"), "another group's project of the same name");
    let asked: Vec<String> = gitlab.server.received().iter().map(|r| r.target.clone()).collect();
    let states = asked.iter().filter(|t| !t.contains("/notes")).count();
    assert_eq!(states, 3, "one request per merge request's state: {asked:?}");
    // The merged and the closed one's notes say so; the open one's is left alone.
    let notes = gitlab.comments();
    assert!(notes.iter().any(|n| n.thread == 5 && n.body.contains("The merge request was merged.")), "{notes:?}");
    assert!(notes.iter().any(|n| n.thread == 6 && n.body.contains("The merge request was closed.")), "{notes:?}");
    assert!(!notes.iter().any(|n| n.thread == 7), "{notes:?}");

    // With a required label, the open one stays while it has the label.
    gitlab.state.lock().unwrap().labels.insert(7, vec!["preview"]);
    let run = ok(cmd.env("DAGSTER_REQUIRE_LABEL", "preview"));
    assert!(run.stderr().contains("kept: merge request !7 is open"), "{}", run.stderr());
    gitlab.state.lock().unwrap().labels.insert(7, vec!["bug"]);
    let run = ok(&mut cmd);
    assert!(run.stderr().contains("merge request !7 does not have the label preview"), "{}", run.stderr());
    assert_eq!(status(&open).as_deref(), Some("CLOSED"));
}

/// With --require-label, the sweep closes what an `unlabeled` event would
/// have (GitLab runs no pipeline when a label is removed at all).
#[test]
fn sweep_with_a_required_label_closes_open_requests_without_it() {
    let w = SweepWorld::new();
    let (dagster, github) = (&w.dagster, &w.github);
    let labelled = w.seed("feature/labelled", 21, 0.0);
    let unlabelled = w.seed("feature/unlabelled", 22, 0.0);
    {
        let mut s = github.state.lock().unwrap();
        s.pulls.insert(21, ("open", false));
        s.pulls.insert(22, ("open", false));
        s.labels.insert(21, vec!["bug", "preview"]);
        s.labels.insert(22, vec!["bug"]);
    }
    let run = ok(w.sweep().env("DAGSTER_REQUIRE_LABEL", "preview"));
    let err = run.stderr();
    assert!(err.contains(&format!("{labelled} (feature/labelled): kept: pull request #21 is open")), "{err}");
    assert!(
        err.contains(&format!(
            "{unlabelled} (feature/unlabelled): marked CLOSED: pull request #22 does not have the label preview"
        )),
        "{err}"
    );
    let status = |name: &str| statuses(dagster).into_iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(status(&labelled).as_deref(), Some("OPEN"));
    assert_eq!(status(&unlabelled).as_deref(), Some("CLOSED"));
    let comment = github.comments().into_iter().find(|c| c.thread == 22).unwrap();
    assert!(comment.body.contains("Its label was removed; add it again for a new preview."), "{}", comment.body);
}

#[test]
fn sweep_without_a_review_token_keeps_what_it_cannot_check() {
    let w = SweepWorld::new();
    let name = w.seed("feature/x", 3, 90.0);
    let run = ok(w.sweep().env_remove("GITHUB_TOKEN"));
    assert!(
        run.stderr().contains("kept: the state of pull request #3 is unknown (no GITHUB_TOKEN"),
        "{}",
        run.stderr()
    );
    assert_eq!(statuses(&w.dagster)[0], (name, Some("OPEN".into())));
    let run = fails(w.sweep().env_remove("DAGSTER_CLOUD_API_TOKEN"));
    assert!(run.stderr().contains("DAGSTER_CLOUD_API_TOKEN is not set"), "{}", run.stderr());
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn github_shows_the_preview_as_a_deployment_that_goes_inactive_on_close() {
    let s = Scenario::new(review::github());
    let name = open(&s);
    let shown = s.review.deployments();
    assert_eq!(shown.len(), 1);
    let request = &shown[0].request;
    assert_eq!(request["ref"], s.sha.as_str(), "the pull request's head, never the merge commit");
    assert_eq!(request["environment"], "dagster-branch-deployment");
    assert_eq!(request["transient_environment"], true);
    assert_eq!(request["production_environment"], false);
    assert_eq!(request["payload"]["pull_request"], 2);
    let states: Vec<&str> = shown[0].statuses.iter().map(|st| st["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["in_progress", "success"]);
    let url = format!("{}/{name}/locations", s.dagster.url());
    assert_eq!(shown[0].statuses[1]["environment_url"], url.as_str());
    assert_eq!(shown[0].statuses[1]["log_url"], "https://github.com/Codertocat/Hello-World/actions/runs/4242");

    let second = s.project.commit_change("orders/orders/definitions.py", "defs = 2\n");
    let sync = s.event("pull_request.synchronize.json", &second, |_| {});
    ok(&mut s.github("pull_request", &sync));
    let closed = s.event("pull_request.closed.json", &second, |_| {});
    ok(&mut s.github("pull_request", &closed));
    let shown = s.review.deployments();
    assert_eq!(shown.len(), 2, "one deployment per deployed commit, in the same environment");
    assert_eq!(shown[1].request["ref"], second.as_str());
    let last: Vec<&str> = shown[1].statuses.iter().map(|st| st["state"].as_str().unwrap()).collect();
    assert_eq!(last, ["in_progress", "success", "inactive"]);
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn without_deployments_write_there_is_one_notice_and_the_deploy_goes_on() {
    let s = Scenario::new(review::github());
    s.review.state.lock().unwrap().deployments_forbidden = true;
    let opened = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = ok(&mut s.github("pull_request", &opened));
    let err = run.stderr();
    assert_eq!(err.matches("::notice").count(), 1, "{err}");
    assert!(err.contains("deployments: write"), "{err}");
    assert_eq!(s.outputs()["status"], "deployed");
    let tried = s.review.server.received().iter().filter(|r| r.target.contains("/deployments")).count();
    assert_eq!(tried, 1, "nothing more is tried after the refusal");

    // A push to the default branch is a production environment.
    s.review.state.lock().unwrap().deployments_forbidden = false;
    let push = s.event("push.json", &s.sha, |_| {});
    ok(&mut s.github("push", &push));
    let shown = s.review.deployments();
    assert_eq!(shown[0].request["environment"], "dagster-prod");
    assert_eq!(shown[0].request["production_environment"], true);
    assert_eq!(shown[0].request["transient_environment"], false);
}

#[test]
#[ignore = "needs docker-registry, skopeo and busybox-static; scripts/test installs them"]
fn with_require_label_only_labeled_pull_requests_get_a_preview() {
    let s = Scenario::new(review::github());
    let label = |e: &mut Value, action: &str, labels: &[&str]| {
        e["action"] = action.into();
        e["label"] = serde_json::json!({ "name": "preview" });
        e["pull_request"]["labels"] = labels.iter().map(|l| serde_json::json!({ "name": l })).collect();
    };
    let opened = s.event("pull_request.opened.json", &s.sha, |e| e["pull_request"]["labels"] = serde_json::json!([]));
    let run = ok(s.github("pull_request", &opened).args(["--require-label", "preview"]));
    assert!(run.stderr().contains("::notice::nothing to deploy: pull request #2 has no label \"preview\""));
    assert_eq!(s.outputs()["status"], "skipped");
    assert!(s.dagster.calls().is_empty(), "no preview, no call");

    let labeled = s.event("pull_request.opened.json", &s.sha, |e| label(e, "labeled", &["preview"]));
    ok(s.github("pull_request", &labeled).env("DAGSTER_REQUIRE_LABEL", "preview"));
    assert_eq!(s.outputs()["status"], "deployed");
    assert_eq!(deployed(&s.dagster.calls()).len(), 1);
    let name = s.dagster.branch_deployments()[0].name.clone();

    let unlabeled = s.event("pull_request.opened.json", &s.sha, |e| label(e, "unlabeled", &[]));
    ok(s.github("pull_request", &unlabeled).env("DAGSTER_REQUIRE_LABEL", "preview"));
    assert_eq!(s.outputs()["status"], "closed");
    assert_eq!(s.dagster.branch_deployments()[0].name, name);
    assert_eq!(s.dagster.branch_deployments()[0].status.as_deref(), Some("CLOSED"));
    let comment = &s.review.comments()[0].body;
    assert!(comment.contains("Its label was removed"), "{comment}");
    let last = s.review.deployments().last().unwrap().statuses.last().unwrap().clone();
    assert_eq!(last["state"], "inactive");
}
