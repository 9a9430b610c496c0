//! GitLab CI: merge request pipelines carry `CI_MERGE_REQUEST_*` (only for
//! open merge requests); branch pipelines carry `CI_COMMIT_BRANCH`.

use anyhow::{Context, Result};

use super::{ChangeRequest, CiContext, Event, Provider, ReviewApi, owner_of};
use crate::env::Env;

pub(crate) fn context(env: &Env) -> Result<CiContext> {
    let project_url = env.get("CI_PROJECT_URL").map(|u| u.trim_end_matches('/').to_string());
    let review_api = match (env.get("CI_API_V4_URL"), env.get("CI_PROJECT_ID")) {
        (Some(api), Some(id)) => {
            Some(ReviewApi::GitLab { api_url: api.trim_end_matches('/').to_string(), project_id: id.to_string() })
        }
        _ => None,
    };
    let mut context = CiContext {
        provider: Provider::GitLab,
        event_name: env.get("CI_PIPELINE_SOURCE").unwrap_or("unknown").to_string(),
        event: Event::Ignored { reason: String::new() },
        repo_name: env.get("CI_PROJECT_NAME").map(str::to_string),
        repo_owner: env.get("CI_PROJECT_PATH").and_then(owner_of),
        repo_url: project_url.clone(),
        branch: None,
        commit: env.first_of(&["CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "CI_COMMIT_SHA"]).map(|(_, v)| v.to_string()),
        change_request: None,
        run_url: env.first_of(&["CI_PIPELINE_URL", "CI_JOB_URL"]).map(|(_, v)| v.to_string()),
        review_api,
    };
    if let Some(iid) = env.get("CI_MERGE_REQUEST_IID") {
        let number: u64 = iid.parse().with_context(|| format!("CI_MERGE_REQUEST_IID={iid:?} is not a number"))?;
        let mr_project = env.get("CI_MERGE_REQUEST_PROJECT_URL").map(str::to_string).or(project_url);
        let source = env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID");
        let target = env.get("CI_MERGE_REQUEST_PROJECT_ID").or_else(|| env.get("CI_PROJECT_ID"));
        let from_fork = matches!((source, target), (Some(s), Some(t)) if s != t);
        let branch = env.first_of(&["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"]).map(|(_, v)| v);
        // A fork's branch is prefixed with its namespace (see the GitHub side).
        let fork_namespace = env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH").and_then(owner_of).filter(|_| from_fork);
        context.branch = match (fork_namespace, branch) {
            (Some(namespace), Some(b)) => Some(format!("{namespace}:{b}")),
            (_, b) => b.map(str::to_string),
        };
        context.change_request = Some(ChangeRequest {
            number,
            url: mr_project.map(|p| format!("{p}/-/merge_requests/{number}")).unwrap_or_default(),
            base_branch: env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME").map(str::to_string),
            from_fork,
            from_dependabot: false,
            labels: env
                .get("CI_MERGE_REQUEST_LABELS")
                .map(|l| l.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
                .unwrap_or_default(),
        });
        context.event = Event::ChangeRequestOpen;
    } else if let Some(branch) = env.get("CI_COMMIT_BRANCH") {
        context.branch = Some(branch.to_string());
        context.event = Event::Push { default_branch: env.get("CI_DEFAULT_BRANCH") == Some(branch) };
    } else {
        let what = env.get("CI_COMMIT_TAG").map_or("no branch".to_string(), |t| format!("the tag {t}"));
        context.event = Event::Ignored { reason: format!("the pipeline is for {what}, not a branch or merge request") };
    }
    Ok(context)
}
