//! Dagster+: the GraphQL [`documents`], the [`client`], and one function per
//! step of a deploy: upsert the branch deployment, deploy the locations,
//! wait until they load, delete a branch deployment, and find the Serverless
//! registry.

pub(crate) mod client;
pub(crate) mod documents;
pub(crate) mod listing;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::io::clock::Clock;
use crate::progress::Progress;
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
        Some(name) => Ok(name.to_string()),
        None => bail!(
            "Dagster+ did not create the branch deployment: {}",
            result["message"].as_str().map_or_else(|| result.to_string(), str::to_string)
        ),
    }
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
        _ => bail!("Dagster+ could not deploy the locations: {}", python_error_text(result)),
    }
}

/// How long to wait, and how often to look.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitOptions {
    /// Give up on loading after this long.
    pub(crate) location_load_timeout: Duration,
    /// Give up when no agent heartbeats for this long.
    pub(crate) agent_heartbeat_timeout: Duration,
    /// Time between polls.
    pub(crate) poll_interval: Duration,
}

/// One location's load outcome.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LoadOutcome {
    pub(crate) name: String,
    /// The load error (message, stack, causes), when it failed.
    pub(crate) error: Option<String>,
}

/// Polls the agents and the workspace, in one request each time, until
/// every location in `names` is LOADED; returns each one's outcome.
pub(crate) fn wait_for_load(
    client: &Client,
    deployment: &str,
    names: &[String],
    options: WaitOptions,
    progress: &Progress,
    clock: &dyn Clock,
) -> Result<Vec<LoadOutcome>> {
    let started = clock.now();
    let scope = Scope::Deployment(deployment);
    let mut agent_seen = false;
    for poll in 0.. {
        let waited = clock.now() - started;
        let data = client.request(scope, documents::WAIT_STATUS, json!({}))?;
        agent_seen = agent_seen || data["agents"].as_array().into_iter().flatten().any(|a| a["status"] == "RUNNING");
        if !agent_seen && waited > options.agent_heartbeat_timeout {
            bail!(
                "no Dagster+ agent is heartbeating for deployment {deployment} (waited {}s); start one, or check it \
                 in Deployment › Agents",
                waited.as_secs()
            );
        }
        if waited > options.location_load_timeout {
            bail!("timed out after {}s waiting for {} to load in {deployment}", waited.as_secs(), names.join(", "));
        }
        if agent_seen && let Some(outcomes) = load_status(&workspace_entries(&data)?, names) {
            return Ok(outcomes);
        }
        if poll % 3 == 2 {
            progress.info(format!("  still waiting for {} to load ({}s)", names.join(", "), waited.as_secs()));
        }
        clock.sleep(options.poll_interval);
    }
    unreachable!("the loop returns or fails")
}

/// The workspace's location entries from a reply that selected
/// `workspaceOrError`.
fn workspace_entries(data: &Value) -> Result<Vec<Value>> {
    let workspace = &data["workspaceOrError"];
    if workspace["__typename"] != "Workspace" {
        bail!("Dagster+ could not read the workspace: {}", python_error_text(workspace));
    }
    Ok(workspace["locationEntries"].as_array().cloned().unwrap_or_default())
}

/// `Some` once every location is LOADED.
fn load_status(entries: &[Value], names: &[String]) -> Option<Vec<LoadOutcome>> {
    let mut outcomes = Vec::new();
    for name in names {
        let entry = entries.iter().find(|e| e["name"] == name.as_str())?;
        if entry["loadStatus"] != "LOADED" {
            return None;
        }
        let loaded = &entry["locationOrLoadError"];
        let error = (loaded["__typename"] == "PythonError").then(|| python_error_text(loaded));
        outcomes.push(LoadOutcome { name: name.clone(), error });
    }
    Some(outcomes)
}

/// A location a deployment runs now.
#[derive(Clone, Debug)]
pub(crate) struct DeployedLocation {
    /// Its location document, as `locationsAsDocument` gives it back.
    pub(crate) document: Value,
    /// Whether its last load ended in an error (or it is not in the
    /// workspace at all).
    pub(crate) load_failed: bool,
}

/// The locations `deployment` runs now, by name, in one request.
pub(crate) fn deployed_locations(client: &Client, deployment: &str) -> Result<BTreeMap<String, DeployedLocation>> {
    let data = client.request(Scope::Deployment(deployment), documents::DEPLOYED_LOCATIONS, json!({}))?;
    let entries = workspace_entries(&data)?;
    let document = &data["locationsAsDocument"]["document"];
    let mut deployed = BTreeMap::new();
    for location in document["locations"].as_array().into_iter().flatten() {
        let Some(name) = location["location_name"].as_str() else { continue };
        let entry = entries.iter().find(|e| e["name"] == name);
        let load_failed = entry.is_none_or(|e| e["locationOrLoadError"]["__typename"] == "PythonError");
        deployed.insert(name.to_string(), DeployedLocation { document: location.clone(), load_failed });
    }
    Ok(deployed)
}

/// A `PythonError` as text: message, stack, and each cause.
fn python_error_text(error: &Value) -> String {
    let mut text = error["message"].as_str().unwrap_or("unknown error").trim_end().to_string();
    let stack = |e: &Value| e["stack"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<String>();
    let s = stack(error);
    if !s.is_empty() {
        text.push('\n');
        text.push_str(s.trim_end());
    }
    for link in error["errorChain"].as_array().into_iter().flatten() {
        let how = if link["isExplicitLink"] == true {
            "The above exception was the direct cause of the following exception:"
        } else {
            "During handling of the above exception, another exception occurred:"
        };
        text.push_str(&format!("\n\n{how}\n{}", link["error"]["message"].as_str().unwrap_or("").trim_end()));
        let s = stack(&link["error"]);
        if !s.is_empty() {
            text.push('\n');
            text.push_str(s.trim_end());
        }
    }
    text
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
    fn python_errors_read_like_python() {
        let e = json!({
            "message": "ImportError: no module named foo\n",
            "stack": ["  File \"defs.py\", line 1\n", "    import foo\n"],
            "errorChain": [{ "isExplicitLink": true, "error": { "message": "ModuleNotFoundError: foo", "stack": [] } }]
        });
        let text = python_error_text(&e);
        assert!(text.starts_with("ImportError: no module named foo\n  File \"defs.py\", line 1"), "{text}");
        assert!(text.contains("direct cause of the following exception:\nModuleNotFoundError: foo"), "{text}");
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

#[cfg(test)]
mod wait_tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::auth::Secret;
    use crate::env::Env;
    use crate::io::clock::ManualClock;
    use crate::io::http::{Http, Request, Response};

    /// Dagster+ answering with agents in `agent_status` and locations that
    /// stay LOADING; counts the polls.
    struct Stuck {
        agent_status: &'static str,
        polls: Mutex<usize>,
    }

    impl Http for Stuck {
        fn send(&self, request: &Request) -> Result<Response> {
            *self.polls.lock().unwrap() += 1;
            let crate::io::http::Body::Bytes(body) = &request.body else { bail!("no body") };
            let body = String::from_utf8_lossy(body);
            assert!(body.contains("agents") && body.contains("workspaceOrError"), "one request per poll");
            let data = json!({ "agents": [{ "status": self.agent_status }],
                "workspaceOrError": { "__typename": "Workspace", "locationEntries": [
                    { "name": "orders", "loadStatus": "LOADING" } ] } });
            let reply = json!({ "data": data }).to_string().into_bytes();
            Ok(Response { status: 200, headers: Vec::new(), body: Box::new(std::io::Cursor::new(reply)) })
        }
    }

    fn wait(agent_status: &'static str) -> (String, usize) {
        let http = Arc::new(Stuck { agent_status, polls: Mutex::new(0) });
        let progress = Progress::new(&Env::default(), true);
        let client = Client::new(http.clone(), "http://dagster".into(), Secret::new("t"), progress.clone());
        let options = WaitOptions {
            location_load_timeout: Duration::from_secs(3600),
            agent_heartbeat_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(3),
        };
        let names = vec!["orders".to_string()];
        let clock = ManualClock::new();
        let err = wait_for_load(&client, "prod", &names, options, &progress, &clock).unwrap_err().to_string();
        let polls = *http.polls.lock().unwrap();
        (err, polls)
    }

    #[test]
    fn a_location_that_never_loads_times_out_after_the_load_timeout() {
        let (err, polls) = wait("RUNNING");
        assert_eq!(err, "timed out after 3603s waiting for orders to load in prod");
        assert_eq!(polls, 1202, "one request every 3 s for an hour");
    }

    #[test]
    fn no_agent_heartbeat_fails_after_the_heartbeat_timeout() {
        let (err, polls) = wait("NOT_RUNNING");
        assert!(err.starts_with("no Dagster+ agent is heartbeating for deployment prod (waited 123s)"), "{err}");
        assert_eq!(polls, 42);
    }
}
