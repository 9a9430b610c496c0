//! A fake Dagster+ GraphQL API that behaves like the real one as the
//! reference describes it: a real GraphQL schema (async-graphql) for the
//! operations the tool uses, so unknown fields, wrong types and bad enum
//! values are rejected as a GraphQL server rejects them; the API token
//! header required; deployment scope from `Dagster-Cloud-Deployment`, else
//! the URL path; branch deployments upserted by (repoName, branchName) with
//! a stable generated hex name; deployed locations LOADING, then LOADED
//! after a few polls, or a scripted load error. Tests inspect its state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_graphql::{
    Context, EmptySubscription, Enum, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType,
    Schema, SimpleObject, Union, Value,
};
use serde_json::json;

use super::server::{Received, Reply, Server};

pub const TOKEN: &str = "user:test-dagster-token-0123456789";

#[derive(Clone, Debug)]
pub struct Deployment {
    pub id: i32,
    pub name: String,
    pub branch: bool,
    pub repo_name: Option<String>,
    pub branch_name: Option<String>,
    pub status: Option<String>,
    pub base: Option<String>,
    pub branch_data: Option<serde_json::Value>,
    pub commit: Option<serde_json::Value>,
    pub snapshot_base_condition: Option<String>,
    /// Being deleted: listed, but not to be swept.
    pub pending_deletion: bool,
}

#[derive(Clone, Debug)]
pub struct LocationState {
    pub document: serde_json::Value,
    polls_left: usize,
    /// The load error of this deploy, as scripted when it was deployed.
    load_error: Option<String>,
}

/// A recorded call: the root fields, the scope, the variables.
#[derive(Clone, Debug)]
pub struct Call {
    pub fields: Vec<String>,
    pub scope: Option<String>,
    pub variables: serde_json::Value,
    pub deployment_header: Option<String>,
}

#[derive(Default)]
pub struct State {
    pub deployments: Vec<Deployment>,
    pub locations: BTreeMap<String, BTreeMap<String, LocationState>>,
    pub calls: Vec<Call>,
    /// A location whose loads fail with this message (from its next deploy on).
    pub failing_location: Option<(String, String)>,
    /// Workspace polls a deploy stays LOADING for.
    pub loading_polls: usize,
    pub serverless: Option<(String, String, bool)>,
}

pub struct FakeDagster {
    pub server: Server,
    pub state: Arc<Mutex<State>>,
}

impl FakeDagster {
    pub fn start() -> FakeDagster {
        let state = Arc::new(Mutex::new(State { loading_polls: 2, ..Default::default() }));
        state.lock().unwrap().deployments.push(Deployment {
            id: 1,
            name: "prod".into(),
            branch: false,
            repo_name: None,
            branch_name: None,
            status: None,
            base: None,
            branch_data: None,
            commit: None,
            snapshot_base_condition: None,
            pending_deletion: false,
        });
        let schema = Schema::build(Query, Mutation, EmptySubscription).data(state.clone()).finish();
        let shared = state.clone();
        let server = Server::start(move |req| handle(&schema, &shared, req));
        FakeDagster { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn branch_deployments(&self) -> Vec<Deployment> {
        self.state.lock().unwrap().deployments.iter().filter(|d| d.branch).cloned().collect()
    }

    /// A branch deployment made earlier by a deploy of pull request
    /// `number`: open, its latest commit at `timestamp`; returns its name.
    pub fn seed_branch(&self, repo: &str, branch: &str, number: u64, pr_url: &str, timestamp: f64) -> String {
        let mut s = self.state.lock().unwrap();
        let id = s.deployments.len() as i32 + 1;
        let name = format!("{:08x}", (id as u32).wrapping_mul(2_654_435_761));
        s.deployments.push(Deployment {
            id,
            name: name.clone(),
            branch: true,
            repo_name: Some(repo.into()),
            branch_name: Some(branch.into()),
            status: Some("OPEN".into()),
            base: None,
            branch_data: Some(json!({ "repoName": repo, "branchName": branch, "branchUrl": null,
                "pullRequestUrl": pr_url, "pullRequestStatus": "OPEN", "pullRequestNumber": number.to_string() })),
            commit: Some(json!({ "commitHash": format!("{number:040x}"), "timestamp": timestamp,
                "commitMessage": "work", "commitUrl": null, "authorName": "A", "authorEmail": "a@example.com" })),
            snapshot_base_condition: None,
            pending_deletion: false,
        });
        name
    }

    pub fn documents(&self, deployment: &str) -> BTreeMap<String, serde_json::Value> {
        let state = self.state.lock().unwrap();
        state
            .locations
            .get(deployment)
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.document.clone())).collect())
            .unwrap_or_default()
    }
}

type FakeSchema = Schema<Query, Mutation, EmptySubscription>;

struct Scope(Option<String>);

fn handle(schema: &FakeSchema, state: &Arc<Mutex<State>>, req: &Received) -> Reply {
    if req.method != "POST" {
        return Reply::new(405);
    }
    match req.header("dagster-cloud-api-token") {
        Some(TOKEN) => {}
        Some(_) => return Reply::json(401, json!({ "error": "Invalid Dagster Cloud API token" })),
        None => return Reply::json(401, json!({ "error": "Missing Dagster-Cloud-Api-Token header" })),
    }
    let path = req.target.split('?').next().unwrap_or("");
    let from_path = path.strip_suffix("/graphql").map(|p| p.trim_start_matches('/')).filter(|p| !p.is_empty());
    let deployment_header = req.header("dagster-cloud-deployment").map(str::to_string);
    let scope = deployment_header.clone().or(from_path.map(str::to_string));
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&req.body) else {
        return Reply::json(400, json!({ "errors": [{ "message": "the body is not JSON" }] }));
    };
    let query = body["query"].as_str().unwrap_or("").to_string();
    let variables = body["variables"].clone();
    if let Some(dep) = &scope
        && !state.lock().unwrap().deployments.iter().any(|d| &d.name == dep)
    {
        return Reply::json(200, json!({ "errors": [{ "message": format!("Deployment {dep} not found") }] }));
    }
    let fields = root_fields(&query);
    state.lock().unwrap().calls.push(Call {
        fields,
        scope: scope.clone(),
        variables: variables.clone(),
        deployment_header,
    });
    let request =
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables)).data(Scope(scope));
    let response = futures_lite::future::block_on(schema.execute(request));
    Reply::json(200, serde_json::to_value(&response).unwrap())
}

/// The names of the root fields of a query, for assertions.
fn root_fields(query: &str) -> Vec<String> {
    let Some(start) = query.find('{') else { return Vec::new() };
    let mut depth = 0;
    let mut fields = Vec::new();
    let mut word = String::new();
    for c in query[start..].chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '(' if depth == 1 => depth += 10,
            ')' if depth == 11 => depth -= 10,
            c if depth == 1 && (c.is_alphanumeric() || c == '_') => word.push(c),
            _ => {}
        }
        let in_name = c.is_alphanumeric() || c == '_';
        if !in_name && !word.is_empty() {
            fields.push(std::mem::take(&mut word));
        }
    }
    fields.into_iter().filter(|f| f != "__typename").collect()
}

struct GenericScalar(serde_json::Value);

#[Scalar(name = "GenericScalar")]
impl ScalarType for GenericScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        value.into_json().map(GenericScalar).map_err(|e| InputValueError::custom(e.to_string()))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
enum PullRequestStatus {
    Open,
    Closed,
    Merged,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
enum SnapshotBaseDeploymentCondition {
    OnCreate,
    OnUpdate,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum DagsterCloudDeploymentType {
    Production,
    Branch,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum DeploymentStatus {
    Active,
    PendingDeletion,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum DeploymentAgentType {
    Hybrid,
    Serverless,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum AgentStatus {
    Running,
    NotRunning,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum RepositoryLocationLoadStatus {
    Loading,
    Loaded,
}

#[derive(InputObject, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateOrUpdateBranchDeploymentInput {
    repo_name: String,
    branch_name: String,
    branch_url: Option<String>,
    pull_request_url: Option<String>,
    pull_request_status: Option<PullRequestStatus>,
    pull_request_number: Option<String>,
}

#[derive(InputObject, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentCommitInput {
    commit_hash: String,
    timestamp: f64,
    commit_message: Option<String>,
    commit_url: Option<String>,
    author_name: Option<String>,
    author_email: Option<String>,
    author_avatar_url: Option<String>,
}

impl serde::Serialize for PullRequestStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            PullRequestStatus::Open => "OPEN",
            PullRequestStatus::Closed => "CLOSED",
            PullRequestStatus::Merged => "MERGED",
        })
    }
}

#[derive(SimpleObject, Clone)]
struct DagsterCloudDeployment {
    deployment_id: i32,
    deployment_name: String,
    deployment_type: DagsterCloudDeploymentType,
    deployment_status: DeploymentStatus,
    agent_type: DeploymentAgentType,
    is_branch_deployment: bool,
    /// Null on a full deployment.
    branch_deployment_git_metadata: Option<Box<BranchDeploymentGitMetadata>>,
    latest_commit: Option<Box<DeploymentCommit>>,
}

#[derive(SimpleObject, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BranchDeploymentGitMetadata {
    repo_name: String,
    branch_name: String,
    branch_url: Option<String>,
    pull_request_url: Option<String>,
    #[serde(skip)]
    pull_request_status: Option<PullRequestStatus>,
    pull_request_number: Option<String>,
}

#[derive(SimpleObject, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentCommit {
    timestamp: f64,
    commit_hash: String,
    commit_message: Option<String>,
    commit_url: Option<String>,
    author_name: Option<String>,
    author_email: Option<String>,
}

#[derive(SimpleObject)]
struct DagsterCloudDeploymentConnection {
    nodes: Vec<DagsterCloudDeployment>,
}

#[derive(SimpleObject, Clone)]
struct PythonError {
    message: String,
    stack: Vec<String>,
    error_chain: Vec<ErrorChainLink>,
}

#[derive(SimpleObject, Clone)]
struct ErrorChainLink {
    is_explicit_link: bool,
    error: Box<PythonError>,
}

#[derive(SimpleObject)]
struct DeploymentNotFoundError {
    message: String,
}

#[derive(SimpleObject)]
struct UnauthorizedError {
    message: String,
}

#[derive(SimpleObject)]
struct InvalidLocationError {
    errors: Vec<String>,
}

#[derive(SimpleObject)]
struct WorkspaceEntry {
    location_name: String,
}

#[derive(SimpleObject)]
struct DeployLocationsSuccess {
    locations: Vec<WorkspaceEntry>,
}

#[derive(SimpleObject)]
struct RepositoryLocation {
    name: String,
}

#[derive(Union)]
enum RepositoryLocationOrLoadError {
    RepositoryLocation(RepositoryLocation),
    PythonError(PythonError),
}

#[derive(SimpleObject)]
struct WorkspaceLocationEntry {
    name: String,
    load_status: RepositoryLocationLoadStatus,
    location_or_load_error: Option<RepositoryLocationOrLoadError>,
}

#[derive(SimpleObject)]
struct Workspace {
    location_entries: Vec<WorkspaceLocationEntry>,
}

#[derive(Union)]
enum WorkspaceOrError {
    Workspace(Workspace),
    PythonError(PythonError),
}

#[derive(Union)]
enum CreateOrUpdateBranchDeploymentResult {
    DagsterCloudDeployment(DagsterCloudDeployment),
    PythonError(PythonError),
}

#[derive(Union)]
enum DeploymentByNameResult {
    DagsterCloudDeployment(DagsterCloudDeployment),
    DeploymentNotFoundError(DeploymentNotFoundError),
    PythonError(PythonError),
    UnauthorizedError(UnauthorizedError),
}

#[derive(Union)]
enum DeleteDeploymentResult {
    DagsterCloudDeployment(DagsterCloudDeployment),
    PythonError(PythonError),
    UnauthorizedError(UnauthorizedError),
}

#[derive(Union)]
enum DeployLocationsResult {
    DeployLocationsSuccess(DeployLocationsSuccess),
    PythonError(PythonError),
    InvalidLocationError(InvalidLocationError),
}

#[derive(SimpleObject)]
struct AgentError {
    error: PythonError,
}

#[derive(SimpleObject)]
struct AgentMetadata {
    key: String,
    value: String,
}

#[derive(SimpleObject)]
struct Agent {
    status: AgentStatus,
    errors: Vec<AgentError>,
    metadata: Vec<AgentMetadata>,
}

#[derive(SimpleObject)]
struct OrganizationSettings {
    settings: GenericScalar,
}

#[derive(SimpleObject)]
struct LocationsAsDocument {
    document: GenericScalar,
}

#[derive(SimpleObject)]
struct ServerlessInfo {
    registry_url: String,
    aws_auth_token: String,
    aws_region: String,
    registry_allow_custom_base: bool,
    registry_is_harbor: bool,
}

fn state<'a>(ctx: &'a Context<'_>) -> std::sync::MutexGuard<'a, State> {
    ctx.data_unchecked::<Arc<Mutex<State>>>().lock().unwrap()
}

fn scoped(ctx: &Context<'_>) -> async_graphql::Result<String> {
    ctx.data_unchecked::<Scope>().0.clone().ok_or_else(|| {
        "this field needs a deployment (Dagster-Cloud-Deployment header or /<deployment>/graphql)".into()
    })
}

fn agent_type(s: &State) -> DeploymentAgentType {
    if s.serverless.is_some() { DeploymentAgentType::Serverless } else { DeploymentAgentType::Hybrid }
}

fn as_object(d: &Deployment, s: &State) -> DagsterCloudDeployment {
    DagsterCloudDeployment {
        deployment_id: d.id,
        deployment_name: d.name.clone(),
        deployment_type: if d.branch {
            DagsterCloudDeploymentType::Branch
        } else {
            DagsterCloudDeploymentType::Production
        },
        deployment_status: if d.pending_deletion {
            DeploymentStatus::PendingDeletion
        } else {
            DeploymentStatus::Active
        },
        agent_type: agent_type(s),
        is_branch_deployment: d.branch,
        branch_deployment_git_metadata: d
            .branch_data
            .clone()
            .and_then(|b| serde_json::from_value::<BranchDeploymentGitMetadata>(b).ok())
            .map(|mut b| {
                b.pull_request_status = status_of(d.status.as_deref());
                Box::new(b)
            }),
        latest_commit: d.commit.clone().and_then(|c| serde_json::from_value(c).ok()).map(Box::new),
    }
}

fn status_of(status: Option<&str>) -> Option<PullRequestStatus> {
    match status? {
        "OPEN" => Some(PullRequestStatus::Open),
        "CLOSED" => Some(PullRequestStatus::Closed),
        "MERGED" => Some(PullRequestStatus::Merged),
        _ => None,
    }
}

fn python_error(message: &str) -> PythonError {
    PythonError { message: message.to_string(), stack: Vec::new(), error_chain: Vec::new() }
}

struct Query;

#[Object]
impl Query {
    async fn organization_settings(&self) -> OrganizationSettings {
        OrganizationSettings { settings: GenericScalar(json!({})) }
    }

    async fn deployment_by_name(&self, ctx: &Context<'_>, name: String) -> DeploymentByNameResult {
        let s = state(ctx);
        match s.deployments.iter().find(|d| d.name == name) {
            Some(d) => DeploymentByNameResult::DagsterCloudDeployment(as_object(d, &s)),
            None => DeploymentByNameResult::DeploymentNotFoundError(DeploymentNotFoundError {
                message: format!("No deployment named {name}"),
            }),
        }
    }

    async fn get_branch_deployment_name(
        &self,
        ctx: &Context<'_>,
        repo_name: String,
        branch_name: String,
    ) -> Option<String> {
        let s = state(ctx);
        s.deployments
            .iter()
            .find(|d| d.repo_name.as_deref() == Some(&repo_name) && d.branch_name.as_deref() == Some(&branch_name))
            .map(|d| d.name.clone())
    }

    /// Branch deployments, newest first, by pull request status.
    async fn branch_deployments(
        &self,
        ctx: &Context<'_>,
        limit: i32,
        pull_request_status: Option<PullRequestStatus>,
    ) -> DagsterCloudDeploymentConnection {
        let s = state(ctx);
        let nodes = s
            .deployments
            .iter()
            .rev()
            .filter(|d| d.branch)
            .filter(|d| pull_request_status.is_none() || status_of(d.status.as_deref()) == pull_request_status)
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|d| as_object(d, &s))
            .collect();
        DagsterCloudDeploymentConnection { nodes }
    }

    async fn current_deployment(&self, ctx: &Context<'_>) -> async_graphql::Result<DagsterCloudDeployment> {
        let name = scoped(ctx)?;
        let s = state(ctx);
        let d = s.deployments.iter().find(|d| d.name == name).ok_or("no such deployment")?;
        Ok(as_object(d, &s))
    }

    async fn agents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Agent>> {
        scoped(ctx)?;
        Ok(vec![Agent { status: AgentStatus::Running, errors: Vec::new(), metadata: Vec::new() }])
    }

    async fn workspace_or_error(&self, ctx: &Context<'_>) -> async_graphql::Result<WorkspaceOrError> {
        let name = scoped(ctx)?;
        let mut s = state(ctx);
        let entries = s.locations.entry(name).or_default();
        let location_entries = entries
            .iter_mut()
            .map(|(loc, st)| {
                if st.polls_left > 0 {
                    st.polls_left -= 1;
                    return WorkspaceLocationEntry {
                        name: loc.clone(),
                        load_status: RepositoryLocationLoadStatus::Loading,
                        location_or_load_error: None,
                    };
                }
                let loaded = match &st.load_error {
                    Some(message) => RepositoryLocationOrLoadError::PythonError(PythonError {
                        message: message.clone(),
                        stack: vec![
                            "  File \"/opt/dagster/app/defs.py\", line 3, in <module>\n".into(),
                            "    import missing_dependency\n".into(),
                        ],
                        error_chain: vec![ErrorChainLink {
                            is_explicit_link: false,
                            error: Box::new(python_error("ModuleNotFoundError: No module named 'missing_dependency'")),
                        }],
                    }),
                    _ => RepositoryLocationOrLoadError::RepositoryLocation(RepositoryLocation { name: loc.clone() }),
                };
                WorkspaceLocationEntry {
                    name: loc.clone(),
                    load_status: RepositoryLocationLoadStatus::Loaded,
                    location_or_load_error: Some(loaded),
                }
            })
            .collect();
        Ok(WorkspaceOrError::Workspace(Workspace { location_entries }))
    }

    /// The deployment's locations as one document, as `workspace pull`
    /// reads them.
    async fn locations_as_document(&self, ctx: &Context<'_>) -> async_graphql::Result<LocationsAsDocument> {
        let name = scoped(ctx)?;
        let s = state(ctx);
        let locations: Vec<serde_json::Value> =
            s.locations.get(&name).into_iter().flatten().map(|(_, l)| l.document.clone()).collect();
        Ok(LocationsAsDocument { document: GenericScalar(json!({ "locations": locations })) })
    }

    async fn serverless(&self, ctx: &Context<'_>) -> async_graphql::Result<ServerlessInfo> {
        scoped(ctx)?;
        let s = state(ctx);
        let (url, token, harbor) = s.serverless.clone().ok_or("this organization is not Serverless")?;
        Ok(ServerlessInfo {
            registry_url: url,
            aws_auth_token: token,
            aws_region: "us-west-2".into(),
            registry_allow_custom_base: true,
            registry_is_harbor: harbor,
        })
    }
}

struct Mutation;

const DOCUMENT_KEYS: &[&str] = &[
    "location_name",
    "code_source",
    "working_directory",
    "image",
    "executable_path",
    "attribute",
    "container_context",
    "agent_queue",
    "git",
    "pex_metadata",
    "pex_bundle",
    "defs_state_info",
];

#[Object]
impl Mutation {
    async fn create_or_update_branch_deployment(
        &self,
        ctx: &Context<'_>,
        branch_data: CreateOrUpdateBranchDeploymentInput,
        commit: DeploymentCommitInput,
        base_deployment_name: Option<String>,
        snapshot_base_condition: Option<SnapshotBaseDeploymentCondition>,
    ) -> CreateOrUpdateBranchDeploymentResult {
        let mut s = state(ctx);
        if let Some(base) = &base_deployment_name
            && !s.deployments.iter().any(|d| &d.name == base)
        {
            return CreateOrUpdateBranchDeploymentResult::PythonError(python_error(&format!(
                "Base deployment {base} not found"
            )));
        }
        let status = branch_data.pull_request_status.map(|p| format!("{p:?}").to_uppercase());
        let key = (branch_data.repo_name.clone(), branch_data.branch_name.clone());
        let existing = s
            .deployments
            .iter()
            .position(|d| d.repo_name.as_ref() == Some(&key.0) && d.branch_name.as_ref() == Some(&key.1));
        let index = match existing {
            Some(i) => i,
            None => {
                let id = s.deployments.len() as i32 + 1;
                let name = format!("{:08x}", (id as u32).wrapping_mul(2_654_435_761));
                s.deployments.push(Deployment {
                    id,
                    name,
                    branch: true,
                    repo_name: Some(key.0.clone()),
                    branch_name: Some(key.1.clone()),
                    status: None,
                    base: None,
                    branch_data: None,
                    commit: None,
                    snapshot_base_condition: None,
                    pending_deletion: false,
                });
                s.deployments.len() - 1
            }
        };
        let d = &mut s.deployments[index];
        d.status = status;
        d.base = base_deployment_name.or(d.base.take());
        d.branch_data = serde_json::to_value(&branch_data).ok();
        d.commit = serde_json::to_value(&commit).ok();
        d.snapshot_base_condition = snapshot_base_condition.map(|c| format!("{c:?}"));
        let d = d.clone();
        CreateOrUpdateBranchDeploymentResult::DagsterCloudDeployment(as_object(&d, &s))
    }

    async fn deploy_locations(
        &self,
        ctx: &Context<'_>,
        document: GenericScalar,
    ) -> async_graphql::Result<DeployLocationsResult> {
        let name = scoped(ctx)?;
        let Some(locations) = document.0["locations"].as_array().cloned() else {
            return Ok(DeployLocationsResult::InvalidLocationError(InvalidLocationError {
                errors: vec!["document needs a locations list".into()],
            }));
        };
        let mut errors = Vec::new();
        for doc in &locations {
            let loc = doc["location_name"].as_str().unwrap_or("?");
            for key in doc.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !DOCUMENT_KEYS.contains(&key.as_str()) {
                    errors.push(format!("{loc}: unknown key {key}"));
                }
            }
            let sources = doc["code_source"].as_object().map_or(0, |o| o.len());
            if sources != 1 {
                errors.push(format!("{loc}: code_source needs exactly one entry, has {sources}"));
            }
            if !doc["image"].is_string() {
                errors.push(format!("{loc}: image must be a string"));
            }
        }
        if !errors.is_empty() {
            return Ok(DeployLocationsResult::InvalidLocationError(InvalidLocationError { errors }));
        }
        let mut s = state(ctx);
        let polls = s.loading_polls;
        let failing = s.failing_location.clone();
        let entries = s.locations.entry(name).or_default();
        for doc in &locations {
            let loc = doc["location_name"].as_str().unwrap_or_default().to_string();
            let load_error = failing.as_ref().filter(|(f, _)| *f == loc).map(|(_, message)| message.clone());
            entries.insert(loc, LocationState { document: doc.clone(), polls_left: polls, load_error });
        }
        let names = locations
            .iter()
            .map(|d| WorkspaceEntry { location_name: d["location_name"].as_str().unwrap_or_default().into() })
            .collect();
        Ok(DeployLocationsResult::DeployLocationsSuccess(DeployLocationsSuccess { locations: names }))
    }

    async fn delete_deployment(&self, ctx: &Context<'_>, deployment_id: i32) -> DeleteDeploymentResult {
        let mut s = state(ctx);
        match s.deployments.iter().position(|d| d.id == deployment_id) {
            Some(i) if s.deployments[i].branch => {
                let d = s.deployments.remove(i);
                DeleteDeploymentResult::DagsterCloudDeployment(as_object(&d, &s))
            }
            Some(_) => DeleteDeploymentResult::UnauthorizedError(UnauthorizedError {
                message: "cannot delete a full deployment".into(),
            }),
            None => DeleteDeploymentResult::PythonError(python_error("no such deployment")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_fields_are_found() {
        assert_eq!(
            super::root_fields("query X { agents { status } workspaceOrError { __typename } }"),
            vec!["agents", "workspaceOrError"]
        );
        assert_eq!(
            super::root_fields("mutation M($a: Int!) { deleteDeployment(deploymentId: $a) { __typename } }"),
            vec!["deleteDeployment"]
        );
    }
}
