//! The plan: everything decided before anything happens. Which deployment
//! (a branch deployment for a pull/merge request, the full deployment for a
//! push to the default branch, closing on a closed pull request, or nothing,
//! and why), the branch deployment's data, and each location's document for
//! `deployLocations`. Pure; the dry run prints it, the real run carries it
//! out.

use anyhow::{Result, bail};
use serde::Serialize;

use crate::ci::{CiContext, Event, Provider};
use crate::dagster::{BranchData, CommitData, PullRequestStatus, SnapshotBaseCondition};
use crate::io::git::Commit;

mod document;
mod label;
pub(crate) mod redeploy;
pub(crate) mod sweep;

pub(crate) use document::location_document;

/// What the user asked for, beyond the CI event.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The full deployment (default `prod`).
    pub(crate) deployment: String,
    /// Whether the full deployment was named (`--deployment`,
    /// `DAGSTER_CLOUD_DEPLOYMENT`): locally, that chooses it over a branch
    /// deployment.
    pub(crate) deployment_named: bool,
    /// The branch deployment's base deployment.
    pub(crate) base_deployment: Option<String>,
    /// When Dagster+ snapshots the base.
    pub(crate) snapshot_base_condition: Option<SnapshotBaseCondition>,
    /// Whether a local run on a non-default branch gets a branch deployment
    /// even when the full deployment is named.
    pub(crate) branch_deployment: bool,
    /// Whether closing a pull request deletes its branch deployment.
    pub(crate) delete_on_close: bool,
    /// Whether pull requests from forks are deployed (`--allow-fork`).
    pub(crate) allow_fork: bool,
    /// Deploy only pull/merge requests with this label (`--require-label`).
    pub(crate) require_label: Option<String>,
}

impl Settings {
    /// The settings of `close`, which only marks (or deletes) a branch
    /// deployment: the full-deployment fields keep their defaults, since no
    /// close decision reads them.
    pub(crate) fn closing(delete_on_close: bool, allow_fork: bool) -> Settings {
        Settings {
            deployment: "prod".into(),
            deployment_named: false,
            base_deployment: None,
            snapshot_base_condition: None,
            branch_deployment: false,
            delete_on_close,
            allow_fork,
            require_label: None,
        }
    }
}

/// What to do.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Action {
    /// Create or update a branch deployment and deploy to it.
    BranchDeployment {
        /// `branchData`.
        branch_data: BranchData,
        commit: CommitData,
        /// `baseDeploymentName`.
        base_deployment_name: Option<String>,
        /// `snapshotBaseCondition`.
        snapshot_base_condition: Option<SnapshotBaseCondition>,
    },
    /// Deploy to a full deployment.
    FullDeployment { deployment: String },
    /// Mark the branch deployment closed or merged (and maybe delete it).
    Close {
        /// `branchData`, with the status.
        branch_data: BranchData,
        commit: CommitData,
        /// `CLOSED` or `MERGED`.
        status: PullRequestStatus,
        /// Whether to delete it afterwards.
        delete: bool,
    },
    /// Nothing to do.
    Skip,
}

/// The decision and why.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Decision {
    /// What to do.
    pub(crate) action: Action,
    /// Why, in a sentence.
    pub(crate) reason: String,
}

/// Decides what this run does.
/// `now` (Unix seconds) is the commit's time when git cannot describe it;
/// the caller reads the clock, so that deciding stays pure.
pub(crate) fn decide(context: &CiContext, settings: &Settings, commit: Option<&Commit>, now: f64) -> Result<Decision> {
    let branch = context.branch.as_deref().unwrap_or("(detached)");
    let from_fork = context.change_request.as_ref().is_some_and(|c| c.from_fork);
    if from_fork && !settings.allow_fork && !matches!(context.event, Event::Ignored { .. }) {
        let reason = format!(
            "{} ({}) comes from a fork: its code is not built or deployed, since a run with the Dagster+ token \
             would run it (pass --allow-fork to deploy forks anyway; see the README's Security section)",
            change_request_label(context),
            context.event_name
        );
        return Ok(Decision { action: Action::Skip, reason });
    }
    if let Some(label) = &settings.require_label
        && let Some(gated) = label::gate(context, settings, label, commit, now)?
    {
        return Ok(gated);
    }
    let (action, reason) = match &context.event {
        Event::Ignored { reason } => (Action::Skip, reason.clone()),
        Event::ChangeRequestLabeled { .. } => {
            (Action::Skip, change_request_reason(context, "was labeled; labels change nothing without --require-label"))
        }
        Event::ChangeRequestOpen => {
            (branch_action(context, settings, commit, now)?, change_request_reason(context, "is open"))
        }
        Event::ChangeRequestClosed { merged } => {
            let status = if *merged { PullRequestStatus::Merged } else { PullRequestStatus::Closed };
            let (branch_data, commit) = branch_and_commit(context, Some(status), commit, now)?;
            let delete = settings.delete_on_close;
            let verb = if *merged { "was merged" } else { "was closed" };
            (Action::Close { branch_data, commit, status, delete }, change_request_reason(context, verb))
        }
        Event::Push { default_branch: true } => (
            Action::FullDeployment { deployment: settings.deployment.clone() },
            format!("{branch} is the default branch: deploying to the full deployment {}", settings.deployment),
        ),
        Event::Push { default_branch: false } if context.provider == Provider::Local => {
            local_action(context, settings, commit, now)?
        }
        Event::Push { default_branch: false } => (
            Action::Skip,
            format!("a push to {branch}, which is not the default branch: branch deployments follow pull requests"),
        ),
    };
    Ok(Decision { action, reason })
}

/// A local run off the default branch: a branch deployment, as `dg plus
/// deploy` makes, unless a deployment was named or no branch is checked out.
fn local_action(
    context: &CiContext,
    settings: &Settings,
    commit: Option<&Commit>,
    now: f64,
) -> Result<(Action, String)> {
    let full = || Action::FullDeployment { deployment: settings.deployment.clone() };
    let Some(branch) = context.branch.as_deref() else {
        let reason = format!(
            "no branch is checked out (not a git checkout, or a detached HEAD): deploying to the full deployment {}",
            settings.deployment
        );
        return Ok((full(), reason));
    };
    if settings.deployment_named && !settings.branch_deployment {
        let reason = format!(
            "a local run on {branch} deploys to the full deployment {}, as --deployment (or DAGSTER_CLOUD_DEPLOYMENT) \
             names it",
            settings.deployment
        );
        return Ok((full(), reason));
    }
    let reason = format!(
        "a local run on {branch}, which is not the default branch: a branch deployment, as dg plus deploy makes \
         (name --deployment to deploy to a full deployment instead)"
    );
    Ok((branch_action(context, settings, commit, now)?, reason))
}

fn change_request_reason(context: &CiContext, state: &str) -> String {
    format!("{} {state} ({})", change_request_label(context), context.event_name)
}

/// `pull request #12` or `merge request !12`.
fn change_request_label(context: &CiContext) -> String {
    let (word, sign) =
        if context.provider == Provider::GitLab { ("merge request", '!') } else { ("pull request", '#') };
    let number = context.change_request.as_ref().map_or(0, |c| c.number);
    format!("{word} {sign}{number}")
}

fn branch_action(context: &CiContext, settings: &Settings, commit: Option<&Commit>, now: f64) -> Result<Action> {
    let status = context.change_request.as_ref().map(|_| PullRequestStatus::Open);
    let (branch_data, commit) = branch_and_commit(context, status, commit, now)?;
    Ok(Action::BranchDeployment {
        branch_data,
        commit,
        base_deployment_name: settings.base_deployment.clone(),
        snapshot_base_condition: settings.snapshot_base_condition,
    })
}

/// `branchData` and `commit` for the upsert. The commit fields describe
/// the commit deployed (the PR head), from git when the checkout has it.
fn branch_and_commit(
    context: &CiContext,
    status: Option<PullRequestStatus>,
    commit: Option<&Commit>,
    now: f64,
) -> Result<(BranchData, CommitData)> {
    let Some(repo_name) = context.repo_name.clone() else {
        bail!("cannot tell the repository's name (no GITHUB_REPOSITORY, CI_PROJECT_NAME or origin remote)")
    };
    let Some(branch_name) = context.branch.clone() else { bail!("cannot tell the branch (the checkout is detached)") };
    let Some(commit_hash) = context.commit.clone() else { bail!("cannot tell the commit to deploy") };
    let change_request = context.change_request.as_ref();
    let branch_data = BranchData {
        repo_name,
        branch_name,
        branch_url: context.branch_url(),
        pull_request_url: change_request.map(|c| c.url.clone()),
        pull_request_status: status,
        pull_request_number: change_request.map(|c| c.number.to_string()),
    };
    let described = commit.filter(|c| c.sha == commit_hash);
    let commit = CommitData {
        commit_url: context.commit_url(),
        timestamp: described.map_or(now, |c| c.timestamp as f64),
        commit_message: described.map(|c| c.subject.clone()),
        author_name: described.map(|c| c.author_name.clone()),
        author_email: described.map(|c| c.author_email.clone()),
        author_avatar_url: None,
        commit_hash,
    };
    Ok((branch_data, commit))
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;
    use crate::ci::{ChangeRequest, ReviewApi};

    pub(super) fn context(event: Event) -> CiContext {
        CiContext {
            provider: Provider::GitHub,
            event_name: "pull_request opened".into(),
            event,
            repo_name: Some("acme/proj".into()),
            repo_url: Some("https://github.com/acme/proj".into()),
            repo_owner: Some("acme".into()),
            branch: Some("feature".into()),
            commit: Some("abc123".into()),
            change_request: Some(ChangeRequest {
                number: 7,
                url: "https://github.com/acme/proj/pull/7".into(),
                base_branch: Some("main".into()),
                from_fork: false,
                from_dependabot: false,
                labels: vec!["preview".into()],
            }),
            run_url: None,
            review_api: Some(ReviewApi::GitHub { api_url: "x".into(), repository: "acme/proj".into() }),
        }
    }

    pub(super) fn settings() -> Settings {
        Settings {
            deployment: "prod".into(),
            deployment_named: false,
            base_deployment: Some("staging".into()),
            snapshot_base_condition: None,
            branch_deployment: false,
            delete_on_close: true,
            allow_fork: false,
            require_label: None,
        }
    }

    fn commit() -> Commit {
        Commit {
            sha: "abc123".into(),
            timestamp: 1_700_000_000,
            author_name: "Ada".into(),
            author_email: "ada@example.com".into(),
            subject: "Add assets".into(),
        }
    }

    #[test]
    fn an_open_pull_request_gets_a_branch_deployment_with_the_exact_fields() {
        let d = decide(&context(Event::ChangeRequestOpen), &settings(), Some(&commit()), 0.0).unwrap();
        assert_eq!(d.reason, "pull request #7 is open (pull_request opened)");
        let v = serde_json::to_value(&d.action).unwrap();
        assert_eq!(
            v,
            json!({
                "kind": "branch_deployment",
                "branch_data": { "repoName": "acme/proj", "branchName": "feature",
                    "branchUrl": "https://github.com/acme/proj/tree/feature",
                    "pullRequestUrl": "https://github.com/acme/proj/pull/7",
                    "pullRequestStatus": "OPEN", "pullRequestNumber": "7" },
                "commit": { "commitHash": "abc123", "timestamp": 1.7e9, "commitMessage": "Add assets",
                    "commitUrl": "https://github.com/acme/proj/commit/abc123",
                    "authorName": "Ada", "authorEmail": "ada@example.com", "authorAvatarUrl": null },
                "base_deployment_name": "staging",
                "snapshot_base_condition": null,
            })
        );
    }

    #[test]
    fn closing_and_pushing_and_ignoring() {
        let merged = decide(&context(Event::ChangeRequestClosed { merged: true }), &settings(), None, 0.0).unwrap();
        assert!(matches!(merged.action, Action::Close { status: PullRequestStatus::Merged, delete: true, .. }));
        let push = decide(&context(Event::Push { default_branch: true }), &settings(), None, 0.0).unwrap();
        assert!(matches!(push.action, Action::FullDeployment { ref deployment } if deployment == "prod"));
        let feature = decide(&context(Event::Push { default_branch: false }), &settings(), None, 0.0).unwrap();
        assert!(matches!(feature.action, Action::Skip) && feature.reason.contains("not the default branch"));
        let mut local = context(Event::Push { default_branch: false });
        local.provider = Provider::Local;
        local.change_request = None;
        let branch = decide(&local, &settings(), None, 0.0).unwrap();
        assert!(branch.reason.contains("as dg plus deploy makes"), "{}", branch.reason);
        let Action::BranchDeployment { branch_data, .. } = branch.action else { panic!() };
        assert_eq!(branch_data.pull_request_status, None);
        let named = Settings { deployment_named: true, ..settings() };
        let full = decide(&local, &named, None, 0.0).unwrap();
        assert!(matches!(full.action, Action::FullDeployment { .. }) && full.reason.contains("--deployment"));
        let forced = decide(&local, &Settings { branch_deployment: true, ..named }, None, 0.0).unwrap();
        assert!(matches!(forced.action, Action::BranchDeployment { .. }));
        local.branch = None;
        let detached = decide(&local, &settings(), None, 0.0).unwrap();
        assert!(matches!(detached.action, Action::FullDeployment { .. }) && detached.reason.contains("no branch"));
    }

    #[test]
    fn a_commit_git_does_not_describe_leaves_the_fields_empty() {
        let other = Commit { sha: "fff".into(), ..commit() };
        let d = decide(&context(Event::ChangeRequestOpen), &settings(), Some(&other), 0.0).unwrap();
        let Action::BranchDeployment { commit, .. } = d.action else { panic!() };
        assert_eq!((commit.commit_hash.as_str(), commit.commit_message), ("abc123", None));
    }
}
