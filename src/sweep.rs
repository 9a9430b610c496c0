//! The `sweep` command, for a scheduled workflow or pipeline: lists this
//! repository's open branch deployments, asks GitHub or GitLab about each
//! one's pull/merge request, and marks those merged or closed (or idle for
//! `--idle-days`) MERGED or CLOSED, deleting them with `--delete`. What the
//! close event never did (a disabled workflow, a cancelled job, GitLab's
//! manual stop job) is done here. `--dry-run` only says what it would do.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::auth::Secret;
use crate::ci::{self, CiContext, Provider, ReviewApi};
use crate::dagster::client::{Client, organization_url};
use crate::dagster::listing::{BranchDeployment, open_branch_deployments};
use crate::dagster::{self, PullRequestStatus};
use crate::env::Env;
use crate::io::files;
use crate::io::http::{Http, redact_url};
use crate::plan::sweep::{ReviewState, SweepAction, verdict};
use crate::progress::Progress;
use crate::report::comment::{Headline, Report, comment};
use crate::report::{self, Commenter, deployments, github, gitlab};
use crate::text::shorten;

/// What `sweep` is run with.
#[derive(Clone, Debug)]
pub(crate) struct SweepOptions {
    pub(crate) project_dir: std::path::PathBuf,
    pub(crate) organization: Option<String>,
    pub(crate) url: Option<String>,
    /// Close open requests whose latest commit is this many days old.
    pub(crate) idle_days: Option<u32>,
    /// Close open requests without this label (`--require-label`).
    pub(crate) require_label: Option<String>,
    /// Delete rather than mark.
    pub(crate) delete: bool,
    /// Say what would be done; change nothing.
    pub(crate) dry_run: bool,
    /// Update the comment of each pull/merge request whose branch
    /// deployment is closed.
    pub(crate) comment: bool,
    /// The most branch deployments listed.
    pub(crate) limit: u32,
    pub(crate) json: bool,
}

/// One branch deployment's fate.
#[derive(Debug, Serialize)]
pub(crate) struct Swept {
    pub(crate) deployment: String,
    pub(crate) branch: String,
    pub(crate) pull_request: Option<String>,
    pub(crate) review: ReviewState,
    #[serde(flatten)]
    pub(crate) action: SweepAction,
    /// Whether the action was carried out (never on a dry run).
    pub(crate) done: bool,
    pub(crate) error: Option<String>,
}

/// What a sweep did.
#[derive(Debug, Serialize)]
pub(crate) struct SweepOutcome {
    pub(crate) repository: String,
    pub(crate) dry_run: bool,
    /// Open branch deployments of other repositories, left alone.
    pub(crate) other_repositories: usize,
    pub(crate) deployments: Vec<Swept>,
}

/// The most pull/merge request states asked for at once.
const JOBS: usize = 4;

/// Runs the sweep; per-deployment failures are in the outcome.
pub(crate) fn run(options: &SweepOptions, env: &Env) -> Result<SweepOutcome> {
    let progress = Progress::new(env, options.json);
    let read_event = |p: &str| files::read_outside(std::path::Path::new(p), files::EVENT_PAYLOAD_CAP);
    let context = ci::detect(env, &read_event, &crate::deploy::git_facts(&options.project_dir))?;
    let Some(repository) = context.repo_name.clone() else {
        bail!("cannot tell which repository to sweep (no GITHUB_REPOSITORY, CI_PROJECT_NAME or origin remote)")
    };
    let Some(token) = env.secret("DAGSTER_CLOUD_API_TOKEN")? else {
        bail!("DAGSTER_CLOUD_API_TOKEN is not set: sweeping lists branch deployments, which needs a Dagster+ token")
    };
    progress.mask(token.expose());
    let org_url = organization_url(options.url.as_deref(), options.organization.as_deref())?;
    let http: Arc<dyn Http> = crate::io::http_client()?;
    let client = Client::new(http.clone(), org_url.clone(), token, progress.clone());
    let listed = open_branch_deployments(&client, options.limit)?;
    let total = listed.len();
    let ours: Vec<BranchDeployment> = listed.into_iter().filter(|d| belongs_to(d, &context, &repository)).collect();
    progress.info(format!(
        "{} open branch deployment(s) of {repository} in {} ({} of other repositories left alone)",
        ours.len(),
        redact_url(&org_url),
        total - ours.len()
    ));
    let review = Review::new(&context, env, http.as_ref(), &progress, options.require_label.clone());
    let states = crate::parallel::map(&ours, JOBS, |d| Ok(review.state(d)))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let github_deployments = deployments::Deployments::new(&context, env, http.as_ref(), &progress);
    let commenter = Commenter::new(&context, env, http.as_ref(), &progress, options.comment);
    let deployments = ours
        .iter()
        .zip(states)
        .map(|(d, review_state)| {
            let label = label(&context, d);
            let action = verdict(&label, &review_state, d.commit.as_ref().map(|c| c.timestamp), now, options.idle_days);
            let mut swept = Swept {
                deployment: d.name.clone(),
                branch: d.branch.branch_name.clone(),
                pull_request: d.branch.pull_request_number.clone(),
                review: review_state,
                action,
                done: false,
                error: None,
            };
            if let (SweepAction::Close { status, .. }, false) = (&swept.action, options.dry_run) {
                match close(&client, d, *status, options.delete) {
                    Ok(()) => {
                        swept.done = true;
                        if let Some(number) = d.branch.pull_request_number.as_deref().and_then(|n| n.parse().ok()) {
                            github_deployments.deactivate(number);
                            let report = closed_report(&context, &org_url, d, &swept.review, options.delete);
                            commenter.post_to(number, &comment(&report), false);
                        }
                    }
                    Err(e) => swept.error = Some(format!("{e:#}")),
                }
            }
            report_line(&progress, &swept, options);
            swept
        })
        .collect();
    let outcome =
        SweepOutcome { repository, dry_run: options.dry_run, other_repositories: total - ours.len(), deployments };
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY")
        && let Err(e) = github::write_summary(path, &summary(&outcome, options))
    {
        progress.warn(format!("{e:#}"));
    }
    Ok(outcome)
}

/// Whether a branch deployment is this repository's: the same repository
/// name, and, when both are known, a pull request page under this
/// repository's (GitLab files branch deployments under the project's name
/// alone, which two groups may share).
fn belongs_to(d: &BranchDeployment, context: &CiContext, repository: &str) -> bool {
    if d.branch.repo_name != repository {
        return false;
    }
    match (&d.branch.pull_request_url, &context.repo_url) {
        (Some(pr), Some(repo)) => pr.starts_with(&format!("{}/", repo.trim_end_matches('/'))),
        _ => true,
    }
}

/// `pull request #12`, `merge request !12`, or the branch without one.
fn label(context: &CiContext, d: &BranchDeployment) -> String {
    match (&d.branch.pull_request_number, context.provider) {
        (Some(n), Provider::GitLab) => format!("merge request !{}", shorten(n, 20)),
        (Some(n), _) => format!("pull request #{}", shorten(n, 20)),
        (None, _) => format!("branch {}", shorten(&d.branch.branch_name, 100)),
    }
}

/// Marks the branch deployment `status`, with its own latest commit, then
/// deletes it when asked.
fn close(client: &Client, d: &BranchDeployment, status: PullRequestStatus, delete: bool) -> Result<()> {
    if let Some(commit) = &d.commit {
        let mut branch = d.branch.clone();
        branch.pull_request_status = Some(status);
        dagster::upsert_branch_deployment(client, dagster::upsert_variables(&branch, commit, None, None))?;
    } else if !delete {
        bail!("Dagster+ lists no latest commit for {}, which marking it needs; run with --delete", d.name);
    }
    if delete {
        dagster::delete_branch_deployment(client, &d.name)?;
    }
    Ok(())
}

/// The comment for a branch deployment the sweep closed: why, and a link
/// to the sweep's run.
fn closed_report(
    context: &CiContext,
    org_url: &str,
    d: &BranchDeployment,
    review: &ReviewState,
    delete: bool,
) -> Report {
    Report {
        headline: match review {
            ReviewState::Merged => Headline::Merged,
            ReviewState::Closed => Headline::Closed,
            ReviewState::Unlabeled(_) => Headline::Unlabeled,
            ReviewState::Open | ReviewState::Unknown(_) => Headline::Idle,
        },
        deployment: Some(d.name.clone()),
        url: (!delete).then(|| crate::deploy::locations_url(org_url, &d.name)),
        branch: true,
        commit: d.commit.as_ref().map(|c| c.commit_hash.clone()).filter(|c| ci::is_commit_sha(c)),
        base: None,
        rows: Vec::new(),
        run_url: context.run_url.clone(),
        deleted: delete,
        merge_request: context.provider == Provider::GitLab,
    }
}

/// Reads pull/merge request states from GitHub or GitLab.
struct Review<'a> {
    api: Option<ReviewApi>,
    token: Option<Secret>,
    http: &'a dyn Http,
    require_label: Option<String>,
}

impl<'a> Review<'a> {
    fn new(
        context: &CiContext,
        env: &Env,
        http: &'a dyn Http,
        progress: &Progress,
        require_label: Option<String>,
    ) -> Review<'a> {
        let token = report::review_token(context, env);
        if let Some(t) = &token {
            progress.mask(t.expose());
        }
        Review { api: context.review_api.clone(), token, http, require_label }
    }

    fn state(&self, d: &BranchDeployment) -> ReviewState {
        let Some(number) = d.branch.pull_request_number.as_deref() else {
            return ReviewState::Unknown("no pull request is recorded".into());
        };
        let Ok(number) = number.parse::<u64>() else {
            return ReviewState::Unknown(format!("{} is not a number", crate::text::excerpt(number)));
        };
        let (Some(api), Some(token)) = (&self.api, &self.token) else {
            return ReviewState::Unknown(match &self.api {
                Some(ReviewApi::GitLab { .. }) => "no GITLAB_TOKEN to ask GitLab".into(),
                Some(ReviewApi::GitHub { .. }) => "no GITHUB_TOKEN to ask GitHub".into(),
                None => "not in GitHub Actions or GitLab CI".into(),
            });
        };
        let state = match api {
            ReviewApi::GitHub { api_url, repository } => {
                github::pull_request_state(self.http, api_url, repository, number, token)
            }
            ReviewApi::GitLab { api_url, project_id } => {
                gitlab::merge_request_state(self.http, api_url, project_id, number, token)
            }
        };
        let state = state.map(|s| match (s.open, s.merged, &self.require_label) {
            (true, _, Some(name)) if !s.labels.contains(name) => ReviewState::Unlabeled(name.clone()),
            (true, _, _) => ReviewState::Open,
            (false, true, _) => ReviewState::Merged,
            (false, false, _) => ReviewState::Closed,
        });
        state.unwrap_or_else(|e| ReviewState::Unknown(shorten(&format!("{e:#}"), 300)))
    }
}

fn report_line(progress: &Progress, s: &Swept, options: &SweepOptions) {
    let verb = match (&s.action, options.dry_run, options.delete) {
        (SweepAction::Keep { reason }, _, _) => format!("kept: {reason}"),
        (SweepAction::Close { status, reason }, true, delete) => format!("would {}: {reason}", what(*status, delete)),
        (SweepAction::Close { status, reason }, false, delete) => match &s.error {
            None => format!("{}: {reason}", done(*status, delete)),
            Some(e) => format!("could not {}: {e}", what(*status, delete)),
        },
    };
    // Names come from Dagster+'s reply: shown printable and short.
    let line = format!("{} ({}): {verb}", shorten(&s.deployment, 100), shorten(&s.branch, 100));
    if s.error.is_some() { progress.warn(line) } else { progress.info(line) }
}

fn what(status: PullRequestStatus, delete: bool) -> &'static str {
    match (delete, status) {
        (true, _) => "delete it",
        (false, PullRequestStatus::Merged) => "mark it MERGED",
        (false, _) => "mark it CLOSED",
    }
}

fn done(status: PullRequestStatus, delete: bool) -> &'static str {
    match (delete, status) {
        (true, _) => "deleted",
        (false, PullRequestStatus::Merged) => "marked MERGED",
        (false, _) => "marked CLOSED",
    }
}

/// The step summary: one row per branch deployment.
fn summary(outcome: &SweepOutcome, options: &SweepOptions) -> String {
    let title = if outcome.dry_run { "Dry run: sweep of" } else { "Sweep of" };
    let mut out = format!(
        "### {title} Dagster+ branch deployments of {}\n\n| Deployment | Branch | Outcome |\n|---|---|---|\n",
        outcome.repository
    );
    for s in &outcome.deployments {
        let outcome = match (&s.action, &s.error) {
            (SweepAction::Keep { reason }, _) => format!("kept: {reason}"),
            (SweepAction::Close { status, reason }, None) if options.dry_run => {
                format!("would {}: {reason}", what(*status, options.delete))
            }
            (SweepAction::Close { status, reason }, None) => format!("{}: {reason}", done(*status, options.delete)),
            (SweepAction::Close { .. }, Some(e)) => format!("❌ {e}"),
        };
        let cell = |s: &str| shorten(s, 300).replace('|', "\\|").replace('`', "'");
        out.push_str(&format!("| `{}` | {} | {} |\n", cell(&s.deployment), cell(&s.branch), cell(&outcome)));
    }
    out
}
