//! The life of a preview after its first deploy: only changed locations are
//! deployed again, what is left behind is swept, GitHub shows it as a
//! deployment, and a label can make previews opt-in.

use serde_json::Value;

use crate::util::dagster::Call;
use crate::util::review;
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
