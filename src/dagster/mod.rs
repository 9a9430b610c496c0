//! Dagster+: the GraphQL [`documents`], the [`client`], and one function per
//! step of a deploy: upsert the branch deployment, deploy the locations,
//! delete a branch deployment, and find the Serverless registry. What a
//! deployment runs and the wait for it to load are in [`workspace`].

pub(crate) mod client;
pub(crate) mod documents;
pub(crate) mod listing;
pub(crate) mod workspace;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use client::{Client, Scope};

/// `PullRequestStatus`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum PullRequestStatus {
    Open,
    /// Closed without merging.
    Closed,
    Merged,
}

/// `SnapshotBaseDeploymentCondition`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SnapshotBaseCondition {
    /// Snapshot the base when the branch deployment is created.
    OnCreate,
    /// Snapshot the base on every update.
    OnUpdate,
}

/// `CreateOrUpdateBranchDeploymentInput`: every key is sent, unknown ones
/// as null, as the official CLI does.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BranchData {
    /// With `branch_name`, the key of the branch deployment.
    pub(crate) repo_name: String,
    pub(crate) branch_name: String,
    pub(crate) branch_url: Option<String>,
    /// The pull/merge request's page.
    pub(crate) pull_request_url: Option<String>,
    pub(crate) pull_request_status: Option<PullRequestStatus>,
    /// Its number, as a string.
    pub(crate) pull_request_number: Option<String>,
}

/// `DeploymentCommitInput`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommitData {
    pub(crate) commit_hash: String,
    /// Its time, Unix seconds.
    pub(crate) timestamp: f64,
    pub(crate) commit_message: Option<String>,
    pub(crate) commit_url: Option<String>,
    pub(crate) author_name: Option<String>,
    pub(crate) author_email: Option<String>,
    /// Author avatar.
    pub(crate) author_avatar_url: Option<String>,
}

/// The upsert's variables.
pub(crate) fn upsert_variables(
    branch: &BranchData,
    commit: &CommitData,
    base: Option<&str>,
    snapshot: Option<SnapshotBaseCondition>,
) -> Value {
    json!({ "branchData": branch, "commit": commit, "baseDeploymentName": base, "snapshotBaseCondition": snapshot })
}

/// Creates, updates or closes the branch deployment; returns its name.
pub(crate) fn upsert_branch_deployment(client: &Client, variables: Value) -> Result<String> {
    let data = client.request(Scope::Organization, documents::CREATE_OR_UPDATE_BRANCH_DEPLOYMENT, variables)?;
    let result = &data["createOrUpdateBranchDeployment"];
    match result["deploymentName"].as_str() {
        Some(name) => checked_name(name),
        None => bail!(
            "Dagster+ did not create the branch deployment: {}",
            result["message"].as_str().map_or_else(|| result.to_string(), str::to_string)
        ),
    }
}

/// A deployment name from a reply, checked: it goes into URLs, headers and
/// comments. Dagster+ names branch deployments with lowercase hex, and full
/// deployments with letters, digits, `-` and `_`.
pub(crate) fn checked_name(name: &str) -> Result<String> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        bail!("Dagster+ answered with {} as a deployment name, which is not one", crate::text::excerpt(name));
    }
    Ok(name.to_string())
}

/// A deployment found by name.
#[derive(Debug)]
pub(crate) struct DeploymentInfo {
    pub(crate) id: i64,
    /// `PRODUCTION` or `BRANCH`.
    pub(crate) kind: String,
}

/// Looks a deployment up by name; `None` when it does not exist.
pub(crate) fn deployment_by_name(client: &Client, name: &str) -> Result<Option<DeploymentInfo>> {
    let data = client.request(Scope::Organization, documents::DEPLOYMENT_BY_NAME, json!({ "deploymentName": name }))?;
    let d = &data["deploymentByName"];
    if d["__typename"] != "DagsterCloudDeployment" {
        return Ok(None);
    }
    Ok(Some(DeploymentInfo {
        id: d["deploymentId"].as_i64().context("the deployment has no id")?,
        kind: d["deploymentType"].as_str().unwrap_or("").to_string(),
    }))
}

/// Deletes a branch deployment; refuses any other kind.
pub(crate) fn delete_branch_deployment(client: &Client, name: &str) -> Result<()> {
    let Some(info) = deployment_by_name(client, name)? else { bail!("there is no deployment named {name} to delete") };
    if info.kind != "BRANCH" {
        bail!("refusing to delete {name}: it is a {} deployment, not a branch deployment", info.kind);
    }
    let data = client.request(Scope::Organization, documents::DELETE_DEPLOYMENT, json!({ "deploymentId": info.id }))?;
    let result = &data["deleteDeployment"];
    if result["__typename"] != "DagsterCloudDeployment" {
        bail!("Dagster+ did not delete {name}: {}", result["message"].as_str().unwrap_or(&result.to_string()));
    }
    Ok(())
}

/// Sends every location document in one `deployLocations` call.
pub(crate) fn deploy_locations(client: &Client, deployment: &str, documents: &[Value]) -> Result<()> {
    let variables = json!({ "document": { "locations": documents } });
    let data = client.request(Scope::Deployment(deployment), documents::DEPLOY_LOCATIONS, variables)?;
    let result = &data["deployLocations"];
    match result["__typename"].as_str() {
        Some("DeployLocationsSuccess") => Ok(()),
        Some("InvalidLocationError") => {
            let errors: Vec<String> = result["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            bail!("Dagster+ refused the location documents: {}", errors.join("; "))
        }
        _ => bail!("Dagster+ could not deploy the locations: {}", workspace::python_error_text(result)),
    }
}

/// The deployment's agent type (`HYBRID` or `SERVERLESS`).
pub(crate) fn agent_type(client: &Client, deployment: &str) -> Result<String> {
    let data = client.request(Scope::Deployment(deployment), documents::DEPLOYMENT_INFO, json!({}))?;
    Ok(data["currentDeployment"]["agentType"].as_str().unwrap_or("HYBRID").to_string())
}

/// Dagster+ Serverless's registry and its credential.
#[derive(Clone, Debug)]
pub(crate) struct ServerlessRegistry {
    /// `registryUrl`.
    pub(crate) url: String,
    /// `awsAuthToken`: base64 of `user:password`.
    pub(crate) auth_token: crate::auth::Secret,
    /// Harbor registries take one repository per location.
    pub(crate) is_harbor: bool,
}

/// Asks Dagster+ for its Serverless registry.
pub(crate) fn serverless_registry(client: &Client, deployment: &str) -> Result<ServerlessRegistry> {
    let data = client.request(Scope::Deployment(deployment), documents::SERVERLESS_REGISTRY, json!({}))?;
    let s = &data["serverless"];
    Ok(ServerlessRegistry {
        url: s["registryUrl"].as_str().context("Dagster+ returned no Serverless registry URL")?.to_string(),
        auth_token: crate::auth::Secret::new(
            s["awsAuthToken"].as_str().context("Dagster+ returned no registry token")?,
        ),
        is_harbor: s["registryIsHarbor"] == true,
    })
}

/// The connection check: `organizationSettings` must answer.
pub(crate) fn check_connection(client: &Client) -> Result<()> {
    let data = client.request(Scope::Organization, documents::ORGANIZATION_SETTINGS, json!({}))?;
    if data["organizationSettings"]["settings"].is_null() {
        bail!("Dagster+ answered organizationSettings without settings");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_names_from_replies_are_checked() {
        assert_eq!(checked_name("db4a7dfa0123").unwrap(), "db4a7dfa0123");
        assert_eq!(checked_name("staging_2-eu").unwrap(), "staging_2-eu");
        for hostile in ["", "../prod", "a b", "x\r\nX-Injected: 1", "](javascript:alert(1))", &"a".repeat(101)] {
            let err = checked_name(hostile).unwrap_err().to_string();
            assert!(err.ends_with("as a deployment name, which is not one") && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn branch_data_sends_every_key_with_nulls() {
        let b = BranchData {
            repo_name: "a/b".into(),
            branch_name: "x".into(),
            branch_url: None,
            pull_request_url: None,
            pull_request_status: Some(PullRequestStatus::Open),
            pull_request_number: Some("7".into()),
        };
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["branchUrl"], Value::Null);
        assert_eq!(v["pullRequestStatus"], "OPEN");
        assert_eq!(v["pullRequestNumber"], "7");
        assert_eq!(serde_json::to_value(SnapshotBaseCondition::OnCreate).unwrap(), "ON_CREATE");
    }
}
