//! The GraphQL documents, exactly as the official `dagster-cloud` CLI sends
//! them (names, arguments and selections), so the server sees the same
//! requests it already serves.

/// Create, update or close a branch deployment (organization scope).
pub(crate) const CREATE_OR_UPDATE_BRANCH_DEPLOYMENT: &str = "mutation CliCreateOrUpdateBranchDeployment(\
$branchData: CreateOrUpdateBranchDeploymentInput!, $commit: DeploymentCommitInput!, \
$baseDeploymentName: String, $snapshotBaseCondition: SnapshotBaseDeploymentCondition) { \
createOrUpdateBranchDeployment(branchData: $branchData, commit: $commit, \
baseDeploymentName: $baseDeploymentName, snapshotBaseCondition: $snapshotBaseCondition) { \
__typename ... on DagsterCloudDeployment { deploymentId deploymentName } ... on PythonError { message } } }";

/// Deploy code locations (deployment scope).
pub(crate) const DEPLOY_LOCATIONS: &str = "mutation CliDeployLocations($document: GenericScalar!) { \
deployLocations(document: $document) { __typename \
... on DeployLocationsSuccess { locations { locationName } } \
... on PythonError { message stack } ... on InvalidLocationError { errors } } }";

/// The workspace's load status and errors, as `CliLocationsQuery` selects it.
macro_rules! workspace_selection {
    () => {
        "workspaceOrError { __typename \
... on Workspace { locationEntries { __typename name loadStatus locationOrLoadError { __typename \
... on RepositoryLocation { name } \
... on PythonError { message stack errorChain { isExplicitLink error { message stack } } } } } } \
... on PythonError { message stack } }"
    };
}

/// One poll of a deploy (deployment scope): the agents' heartbeats and the
/// locations' load status in one request, the selections of
/// `CliAgentStatus` and `CliLocationsQuery` together.
pub(crate) const WAIT_STATUS: &str =
    concat!("query CliWaitStatus { agents { status errors { error { message } } } ", workspace_selection!(), " }");

/// What a deployment runs (deployment scope): its locations as a document,
/// as `workspace pull` reads them, and how each one loaded.
pub(crate) const DEPLOYED_LOCATIONS: &str =
    concat!("query CliDeployedLocations { locationsAsDocument { __typename document } ", workspace_selection!(), " }");

/// The deployment's agent type (deployment scope).
pub(crate) const DEPLOYMENT_INFO: &str = "query DeploymentInfoQuery { currentDeployment { agentType } }";

/// A deployment by name (organization scope).
pub(crate) const DEPLOYMENT_BY_NAME: &str = "query DeploymentByNameQuery($deploymentName: String!) { \
deploymentByName(name: $deploymentName) { __typename \
... on DagsterCloudDeployment { deploymentName deploymentId deploymentType } } }";

/// Delete a deployment (organization scope).
pub(crate) const DELETE_DEPLOYMENT: &str = "mutation CliDeleteDeployment($deploymentId: Int!) { \
deleteDeployment(deploymentId: $deploymentId) { __typename \
... on DagsterCloudDeployment { deploymentId } ... on PythonError { message stack } } }";

/// The branch deployments, by pull request status (organization scope):
/// `ListBranchDeployments` as Dagster's REST resources send it, with the
/// git metadata and latest commit Dagster's own clients select.
pub(crate) const LIST_BRANCH_DEPLOYMENTS: &str = "query ListBranchDeployments($limit: Int!, \
$pullRequestStatus: PullRequestStatus) { branchDeployments(limit: $limit, pullRequestStatus: $pullRequestStatus) { \
nodes { deploymentName deploymentId deploymentType deploymentStatus \
branchDeploymentGitMetadata { repoName branchName branchUrl pullRequestUrl pullRequestStatus pullRequestNumber } \
latestCommit { timestamp commitHash commitMessage commitUrl authorName authorEmail } } } }";

/// The connection check (organization scope).
pub(crate) const ORGANIZATION_SETTINGS: &str = "query CliOrganizationSettings { organizationSettings { settings } }";

/// Dagster+ Serverless's registry (deployment scope).
pub(crate) const SERVERLESS_REGISTRY: &str = "query CliGetEcrInfo { serverless { awsRegion awsAuthToken \
registryAllowCustomBase registryIsHarbor registryUrl } }";

/// The operation name of a document (`CliDeployLocations`).
pub(crate) fn operation_name(document: &str) -> &str {
    let after = document.split_once(' ').map_or("", |(_, rest)| rest);
    after.split(['(', ' ', '{']).next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_names() {
        assert_eq!(super::operation_name(super::DEPLOY_LOCATIONS), "CliDeployLocations");
        assert_eq!(super::operation_name(super::WAIT_STATUS), "CliWaitStatus");
        assert!(super::DEPLOYED_LOCATIONS.ends_with("... on PythonError { message stack } } }"));
    }
}
