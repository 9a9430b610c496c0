//! Listing the open branch deployments, each with the pull request and the
//! commit Dagster+ knows it by: what `sweep` starts from.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Value, json};

use super::client::{Client, Scope};
use super::{BranchData, CommitData, PullRequestStatus, documents};

/// An open branch deployment, as Dagster+ lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BranchDeployment {
    pub(crate) name: String,
    pub(crate) id: i64,
    /// `branchDeploymentGitMetadata`, as the upsert's `branchData`.
    pub(crate) branch: BranchData,
    /// `latestCommit`, when Dagster+ has one.
    pub(crate) commit: Option<CommitData>,
}

/// The branch deployments whose pull request Dagster+ has as OPEN, at most
/// `limit`, leaving out those being deleted, those without git metadata and
/// any whose name is not a deployment name.
pub(crate) fn open_branch_deployments(client: &Client, limit: u32) -> Result<Vec<BranchDeployment>> {
    let variables = json!({ "limit": limit, "pullRequestStatus": PullRequestStatus::Open });
    let data = client.request(Scope::Organization, documents::LIST_BRANCH_DEPLOYMENTS, variables)?;
    let nodes = data["branchDeployments"]["nodes"].as_array().context("Dagster+ listed no branchDeployments nodes")?;
    Ok(nodes.iter().filter(|n| n["deploymentStatus"] != "PENDING_DELETION").filter_map(node).collect())
}

fn node(n: &Value) -> Option<BranchDeployment> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let git = &n["branchDeploymentGitMetadata"];
    let branch = BranchData {
        repo_name: text(&git["repoName"])?,
        branch_name: text(&git["branchName"])?,
        branch_url: text(&git["branchUrl"]),
        pull_request_url: text(&git["pullRequestUrl"]),
        pull_request_status: Some(PullRequestStatus::Open),
        pull_request_number: text(&git["pullRequestNumber"])
            .or_else(|| git["pullRequestNumber"].as_u64().map(|n| n.to_string())),
    };
    let c = &n["latestCommit"];
    let commit = text(&c["commitHash"]).map(|commit_hash| CommitData {
        commit_hash,
        timestamp: c["timestamp"].as_f64().unwrap_or(0.0),
        commit_message: text(&c["commitMessage"]),
        commit_url: text(&c["commitUrl"]),
        author_name: text(&c["authorName"]),
        author_email: text(&c["authorEmail"]),
        author_avatar_url: None,
    });
    let name = super::checked_name(n["deploymentName"].as_str()?).ok()?;
    Some(BranchDeployment { name, id: n["deploymentId"].as_i64()?, branch, commit })
}
