//! Who is calling and about what: GitHub Actions (the event payload),
//! GitLab CI (the `CI_*` variables), or a local checkout (git). Produces one
//! [`CiContext`]. Pure: it takes the environment, the event file's contents and
//! what git said, so tests feed it real payloads.

mod github;
mod gitlab;
mod local;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::env::Env;
use crate::text::excerpt;

/// The CI system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Provider {
    /// GitHub Actions.
    GitHub,
    /// GitLab CI.
    GitLab,
    /// A local run.
    Local,
}

impl Provider {
    /// The name Dagster+ uses in `git.provider`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Local => "local",
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Event {
    /// A pull/merge request was opened, reopened or updated: deploy it.
    ChangeRequestOpen,
    /// A pull request was closed: merged, or not.
    ChangeRequestClosed { merged: bool },
    /// A label was added to (or removed from) an open pull request.
    ChangeRequestLabeled { label: String, added: bool },
    /// A push to (or a local run on) a branch.
    Push {
        /// Whether the branch is the repository's default branch.
        default_branch: bool,
    },
    /// An event this tool has nothing to do for, and why.
    Ignored {
        /// A sentence for the user.
        reason: String,
    },
}

/// A pull request (GitHub) or merge request (GitLab).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ChangeRequest {
    /// Its number (`#12`, `!12`).
    pub(crate) number: u64,
    pub(crate) url: String,
    /// The branch it merges into.
    pub(crate) base_branch: Option<String>,
    /// Whether it comes from a fork (no secrets, read-only token; or, on
    /// `pull_request_target` and `workflow_run`, secrets and untrusted code).
    pub(crate) from_fork: bool,
    /// Whether Dependabot opened it (its runs get only Dependabot secrets).
    pub(crate) from_dependabot: bool,
    /// Its labels, when the provider names them.
    pub(crate) labels: Vec<String>,
}

/// Where comments are posted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum ReviewApi {
    /// GitHub's REST API.
    GitHub {
        /// `GITHUB_API_URL`.
        api_url: String,
        /// `owner/repo`.
        repository: String,
    },
    /// GitLab's REST API.
    GitLab {
        /// `CI_API_V4_URL`.
        api_url: String,
        /// `CI_PROJECT_ID`.
        project_id: String,
    },
}

/// Everything the deploy needs to know about the caller.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CiContext {
    pub(crate) provider: Provider,
    /// The event, as the provider names it (`pull_request synchronize`).
    pub(crate) event_name: String,
    /// What happened.
    pub(crate) event: Event,
    /// The key Dagster+ files branch deployments under with the branch
    /// (`owner/repo` on GitHub, the project name on GitLab, as the
    /// official tooling sends them).
    pub(crate) repo_name: Option<String>,
    /// The repository's web page.
    pub(crate) repo_url: Option<String>,
    /// Owner (user, org or GitLab namespace).
    pub(crate) repo_owner: Option<String>,
    /// The branch being built (the PR's head branch).
    pub(crate) branch: Option<String>,
    /// The commit to deploy (the PR head, never GitHub's merge commit).
    pub(crate) commit: Option<String>,
    pub(crate) change_request: Option<ChangeRequest>,
    /// The CI run's page.
    pub(crate) run_url: Option<String>,
    /// Where to post the comment.
    pub(crate) review_api: Option<ReviewApi>,
}

impl CiContext {
    /// `{repo_url}/tree/{branch}` (GitHub) or `/-/tree/` (GitLab).
    pub(crate) fn branch_url(&self) -> Option<String> {
        let (url, branch) = (self.repo_url.as_ref()?, self.branch.as_ref()?);
        Some(match self.provider {
            Provider::GitLab => format!("{url}/-/tree/{branch}"),
            _ => format!("{url}/tree/{branch}"),
        })
    }

    /// The commit's page.
    pub(crate) fn commit_url(&self) -> Option<String> {
        let (url, sha) = (self.repo_url.as_ref()?, self.commit.as_ref()?);
        Some(match self.provider {
            Provider::GitLab => format!("{url}/-/commit/{sha}"),
            _ => format!("{url}/commit/{sha}"),
        })
    }

    /// The tree at the commit (`git.url` in location documents).
    pub(crate) fn tree_url(&self) -> Option<String> {
        let (url, sha) = (self.repo_url.as_ref()?, self.commit.as_ref()?);
        Some(match self.provider {
            Provider::GitLab => format!("{url}/-/tree/{sha}"),
            _ => format!("{url}/tree/{sha}"),
        })
    }
}

/// What the checkout's git says (for local runs and commit metadata).
#[derive(Clone, Debug, Default)]
pub(crate) struct GitFacts {
    /// `git rev-parse --abbrev-ref HEAD`.
    pub(crate) branch: Option<String>,
    /// `git rev-parse HEAD`.
    pub(crate) head: Option<String>,
    /// The origin remote's URL.
    pub(crate) origin_url: Option<String>,
    /// The remote's default branch (`origin/HEAD`).
    pub(crate) default_branch: Option<String>,
}

/// Reads the context: GitHub when `GITHUB_ACTIONS=true`, GitLab when
/// `GITLAB_CI=true`, else local. `read_event` reads `GITHUB_EVENT_PATH`.
/// The commit and branch are checked here, where they enter: they reach
/// tags, URLs, GraphQL variables and the comment.
pub(crate) fn detect(env: &Env, read_event: &dyn Fn(&str) -> Result<String>, git: &GitFacts) -> Result<CiContext> {
    let context = if env.is_github_actions() {
        github::context(env, read_event)?
    } else if env.get("GITLAB_CI") == Some("true") {
        gitlab::context(env)?
    } else {
        local::context(git)
    };
    if let Some(sha) = &context.commit
        && !is_commit_sha(sha)
    {
        bail!(
            "the commit {} that {} names is not a commit sha (4 to 64 hexadecimal digits)",
            excerpt(sha),
            context.provider.name()
        );
    }
    if let Some(branch) = &context.branch
        && (branch.chars().any(char::is_control) || branch.len() > 255)
    {
        bail!(
            "the branch name {} that {} names is not a valid git branch name",
            excerpt(branch),
            context.provider.name()
        );
    }
    Ok(context)
}

/// A full or abbreviated commit sha (SHA-1 or SHA-256).
pub(crate) fn is_commit_sha(sha: &str) -> bool {
    (4..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `owner/name` out of a web URL's path.
fn owner_of(path: &str) -> Option<String> {
    path.rsplit_once('/').map(|(owner, _)| owner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENED: &str = include_str!("../../tests/fixtures/github/pull_request.opened.json");
    const CLOSED: &str = include_str!("../../tests/fixtures/github/pull_request.closed.json");
    const PUSH: &str = include_str!("../../tests/fixtures/github/push.json");

    fn github(event_name: &str, payload: &str, extra: &[(&str, &str)]) -> CiContext {
        let mut vars = vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event_name),
            ("GITHUB_EVENT_PATH", "/event.json"),
            ("GITHUB_SHA", "0000000000000000000000000000000000000000"),
            ("GITHUB_RUN_ID", "77"),
        ];
        vars.extend_from_slice(extra);
        let payload = payload.to_string();
        detect(&Env::from_pairs(vars), &|_| Ok(payload.clone()), &GitFacts::default()).unwrap()
    }

    #[test]
    fn a_github_pull_request_uses_the_payloads_head_not_the_merge_commit() {
        let c = github("pull_request", OPENED, &[]);
        assert_eq!(c.event, Event::ChangeRequestOpen);
        assert_eq!(c.event_name, "pull_request opened");
        assert_eq!(c.repo_name.as_deref(), Some("Codertocat/Hello-World"));
        assert_eq!(c.branch.as_deref(), Some("changes"));
        assert_eq!(c.commit.as_deref(), Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821"));
        let pr = c.change_request.clone().unwrap();
        assert_eq!((pr.number, pr.from_fork), (2, false));
        assert_eq!(pr.url, "https://github.com/Codertocat/Hello-World/pull/2");
        assert_eq!(c.branch_url().as_deref(), Some("https://github.com/Codertocat/Hello-World/tree/changes"));
        assert_eq!(c.run_url.as_deref(), Some("https://github.com/Codertocat/Hello-World/actions/runs/77"));
        assert_eq!(
            c.review_api,
            Some(ReviewApi::GitHub {
                api_url: "https://api.github.com".into(),
                repository: "Codertocat/Hello-World".into()
            })
        );
    }

    #[test]
    fn closed_merged_fork_and_ignored_pull_requests() {
        assert_eq!(github("pull_request", CLOSED, &[]).event, Event::ChangeRequestClosed { merged: false });
        let merged = CLOSED.replace("\"merged\": false", "\"merged\": true");
        assert_eq!(github("pull_request", &merged, &[]).event, Event::ChangeRequestClosed { merged: true });
        let mut fork: serde_json::Value = serde_json::from_str(OPENED).unwrap();
        fork["pull_request"]["head"]["repo"]["full_name"] = "someone/Hello-World".into();
        fork["pull_request"]["head"]["repo"]["fork"] = true.into();
        assert!(github("pull_request", &fork.to_string(), &[]).change_request.unwrap().from_fork);
        let mut labeled: serde_json::Value = serde_json::from_str(OPENED).unwrap();
        labeled["action"] = "labeled".into();
        labeled["label"] = serde_json::json!({ "name": "preview" });
        let c = github("pull_request", &labeled.to_string(), &[]);
        assert_eq!(c.event, Event::ChangeRequestLabeled { label: "preview".into(), added: true });
        let assigned = OPENED.replacen("\"action\": \"opened\"", "\"action\": \"assigned\"", 1);
        assert!(
            matches!(github("pull_request", &assigned, &[]).event, Event::Ignored { reason } if reason.contains("assigned"))
        );
    }

    #[test]
    fn a_push_to_the_default_branch_is_a_full_deploy() {
        let c = github("push", PUSH, &[("GITHUB_SERVER_URL", "https://ghe.example.com")]);
        assert_eq!(c.event, Event::Push { default_branch: true });
        assert_eq!(c.branch.as_deref(), Some("master"));
        assert_eq!(c.commit.as_deref(), Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246"));
        assert_eq!(c.repo_url.as_deref(), Some("https://ghe.example.com/Codertocat/Hello-World"));
        let feature = PUSH.replace("\"ref\": \"refs/heads/master\"", "\"ref\": \"refs/heads/feature\"");
        assert_eq!(github("push", &feature, &[]).event, Event::Push { default_branch: false });
    }

    #[test]
    fn a_pull_request_event_without_its_payload_is_an_error() {
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", "/e"),
        ]);
        let err = detect(&env, &|_| Ok("{}".into()), &GitFacts::default()).unwrap_err().to_string();
        assert!(err.contains("no pull_request object"), "{err}");
        let err = detect(&env, &|_| anyhow::bail!("No such file"), &GitFacts::default()).unwrap_err().to_string();
        assert!(err.contains("GITHUB_EVENT_PATH=/e"), "{err}");
    }

    fn gitlab(extra: &[(&str, &str)]) -> CiContext {
        let mut vars = vec![
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_NAME", "dagster-project"),
            ("CI_PROJECT_PATH", "acme/data/dagster-project"),
            ("CI_PROJECT_URL", "https://gitlab.example.com/acme/data/dagster-project"),
            ("CI_PROJECT_ID", "1217"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_COMMIT_SHA", "1111111111111111111111111111111111111111"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_PIPELINE_URL", "https://gitlab.example.com/acme/data/dagster-project/-/pipelines/9"),
        ];
        vars.extend_from_slice(extra);
        detect(&Env::from_pairs(vars), &|_| unreachable!(), &GitFacts::default()).unwrap()
    }

    #[test]
    fn a_gitlab_merge_request_pipeline() {
        let c = gitlab(&[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_IID", "42"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/x"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_PROJECT_ID", "1217"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "1217"),
            ("CI_COMMIT_REF_NAME", "feature/x"),
        ]);
        assert_eq!(c.event, Event::ChangeRequestOpen);
        assert_eq!(
            c.repo_name.as_deref(),
            Some("dagster-project"),
            "the project name, as the official tooling sends it"
        );
        assert_eq!(c.repo_owner.as_deref(), Some("acme/data"));
        assert_eq!(c.branch.as_deref(), Some("feature/x"));
        let mr = c.change_request.clone().unwrap();
        assert_eq!(mr.url, "https://gitlab.example.com/acme/data/dagster-project/-/merge_requests/42");
        assert!(!mr.from_fork);
        assert_eq!(
            c.branch_url().as_deref(),
            Some("https://gitlab.example.com/acme/data/dagster-project/-/tree/feature/x")
        );
        let merged_results = gitlab(&[("CI_MERGE_REQUEST_IID", "42"), ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "2222")]);
        assert_eq!(merged_results.commit.as_deref(), Some("2222"), "not the temporary merge commit");
    }

    #[test]
    fn gitlab_branch_and_tag_pipelines() {
        assert_eq!(gitlab(&[("CI_COMMIT_BRANCH", "main")]).event, Event::Push { default_branch: true });
        assert_eq!(gitlab(&[("CI_COMMIT_BRANCH", "dev")]).event, Event::Push { default_branch: false });
        assert!(
            matches!(gitlab(&[("CI_COMMIT_TAG", "v1")]).event, Event::Ignored { reason } if reason.contains("tag v1"))
        );
    }

    #[test]
    fn a_commit_that_is_not_a_sha_is_refused() {
        let mut event: serde_json::Value = serde_json::from_str(OPENED).unwrap();
        event["pull_request"]["head"]["sha"] = "ec26c3e57ca3a959ca5aad62de7213c562f8c82é".into();
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", "/e"),
        ]);
        let text = event.to_string();
        let err = detect(&env, &|_| Ok(text.clone()), &GitFacts::default()).unwrap_err().to_string();
        assert!(err.contains("is not a commit sha"), "{err}");
        event["pull_request"]["head"]["ref"] = "a\nb".into();
        event["pull_request"]["head"]["sha"] = "abcd".into();
        let text = event.to_string();
        let err = detect(&env, &|_| Ok(text.clone()), &GitFacts::default()).unwrap_err().to_string();
        assert!(err.contains("not a valid git branch name"), "{err}");
    }

    #[test]
    fn a_local_checkout() {
        let git = GitFacts {
            branch: Some("feature".into()),
            head: Some("abc1".into()),
            origin_url: Some("git@github.com:acme/proj.git".into()),
            default_branch: Some("main".into()),
        };
        let c = detect(&Env::default(), &|_| unreachable!(), &git).unwrap();
        assert_eq!(c.provider, Provider::Local);
        assert_eq!(c.repo_name.as_deref(), Some("acme/proj"));
        assert_eq!(c.event, Event::Push { default_branch: false });
    }
}
