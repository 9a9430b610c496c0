//! The `deploy` and `close` commands: read the CI context and the project,
//! decide (see [`crate::plan`]), then either print the plan (`--dry-run`) or
//! carry it out: upsert the branch deployment, build and push every
//! location, deploy them, wait for them to load, and report back. Closing a
//! pull request marks its branch deployment closed or merged.

mod changes;
mod close;
mod dry_run;
mod execute;
mod options;
mod serverless;

pub(crate) use options::{CloseRequest, DeployOptions, Options, Task, wait_options_from};

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::build::LocationImage;
use crate::ci::{self, CiContext, Event, GitFacts, Provider};
use crate::config::{Location, Project};
use crate::dagster::PullRequestStatus;
use crate::dagster::client::{Client, organization_url};
use crate::dagster::workspace::LoadOutcome;
use crate::env::Env;
use crate::io::files;
use crate::io::git;
use crate::io::http::{Http, redact_url};
use crate::plan::{self, Action};
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::report;
use crate::report::outputs::{self, RunOutputs};

/// How the run ended, as the `status` output says it.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RunStatus {
    /// Deployed (and loaded, unless `--no-wait`).
    Deployed,
    /// Nothing changed: the deployment already runs every location.
    Unchanged,
    /// The branch deployment was marked closed.
    Closed,
    /// The branch deployment was marked merged.
    Merged,
    /// Nothing to do, or no credentials in CI.
    Skipped,
    Failed,
    /// A dry run.
    Planned,
}

impl RunStatus {
    /// Its name, as the `status` output and `--json` spell it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RunStatus::Deployed => "deployed",
            RunStatus::Unchanged => "unchanged",
            RunStatus::Closed => "closed",
            RunStatus::Merged => "merged",
            RunStatus::Skipped => "skipped",
            RunStatus::Failed => "failed",
            RunStatus::Planned => "planned",
        }
    }
}

/// What a run did.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    /// How it ended.
    pub(crate) status: RunStatus,
    /// Why this was done.
    pub(crate) reason: String,
    pub(crate) deployment: Option<String>,
    /// `{org url}/{deployment}/locations`.
    pub(crate) url: Option<String>,
    /// Location → image reference by digest.
    pub(crate) images: BTreeMap<String, String>,
    /// Each location's build.
    pub(crate) locations: Vec<LocationImage>,
    /// Each location's load outcome.
    pub(crate) load: Vec<LoadOutcome>,
    /// The error, when it failed.
    pub(crate) error: Option<String>,
}

impl Outcome {
    fn new(status: RunStatus, reason: String) -> Outcome {
        Outcome {
            status,
            reason,
            deployment: None,
            url: None,
            images: BTreeMap::new(),
            locations: Vec::new(),
            load: Vec::new(),
            error: None,
        }
    }
}

/// Runs `deploy` (or `close`, with `close`); returns the outcome, already
/// reported (outputs, summary, comment, dotenv). A failed deploy is an
/// outcome with status `Failed`, not an error: errors are for bad input.
pub(crate) fn run(options: &Options, env: Env) -> Result<Outcome> {
    let progress = Progress::new(&env, options.json);
    run_reported(options, &env, &progress).inspect_err(|e| outputs::write_failure(&env, &progress, e))
}

fn run_reported(options: &Options, env: &Env, progress: &Progress) -> Result<Outcome> {
    let (project, locations) = load_project(options)?;
    let checkout = project.as_ref().map_or_else(|| options.project_dir.clone(), |p| p.root.clone());
    let read_event = |p: &str| files::read_outside(std::path::Path::new(p), files::EVENT_PAYLOAD_CAP);
    let mut context = ci::detect(env, &read_event, &git_facts(&checkout))?;
    let http: Arc<dyn Http> = crate::io::http_client()?;
    if let Task::Close(close) = options.task {
        context.event = close_event(&context, close, env, http.as_ref(), progress);
    }
    let commit = context.commit.as_deref().and_then(|sha| git::commit(&checkout, sha));
    let provenance = provenance(env, &checkout, &context, commit.as_ref())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs() as f64);
    let decision = plan::decide(&context, &options.settings, commit.as_ref(), now)?;
    progress.info(format!("{} {}: {}", context.provider.name(), context.event_name, decision.reason));
    if matches!(decision.action, Action::Skip) {
        // A skip is news on GitHub's run page too (a fork, an ignored event).
        progress.notice(&format!("nothing to deploy: {}", decision.reason));
        return Ok(finish(options, env, progress, Outcome::new(RunStatus::Skipped, decision.reason)));
    }
    if options.dry_run {
        let org_url = organization_url(options.url.as_deref(), options.organization.as_deref())
            .map_or_else(|_| "https://<organization>.dagster.cloud".to_string(), |u| redact_url(&u));
        let plan = dry_run::Planned {
            project: project.as_ref(),
            locations: &locations,
            context: &context,
            decision: &decision,
            provenance: &provenance,
        };
        return dry_run::run(options, env, progress, http, &plan, &org_url);
    }
    let Some(token) = env.secret("DAGSTER_CLOUD_API_TOKEN")? else {
        return without_token(options, env, progress, &context, decision.reason);
    };
    let org_url = organization_url(options.url.as_deref(), options.organization.as_deref())?;
    progress.mask(token.expose());
    let client = Client::new(http.clone(), org_url.clone(), token, progress.clone());
    // Everything shown (comment, outputs, summary) uses the URL without userinfo.
    let org_url = redact_url(&org_url);
    let run = execute::Run {
        options,
        env,
        progress,
        http,
        project: project.as_ref(),
        context: &context,
        org_url: &org_url,
        provenance: &provenance,
        client,
    };
    let outcome = run.execute(&decision, &locations);
    Ok(finish(options, env, progress, outcome))
}

/// The project and the locations to deploy. Closing needs no project
/// files: GitLab's stop job runs without a checkout, when the branch may
/// already be gone.
fn load_project(options: &Options) -> Result<(Option<Project>, Vec<Location>)> {
    let Task::Deploy(deploy) = &options.task else { return Ok((None, Vec::new())) };
    let project = Project::load(&options.project_dir, options.config_file.as_deref())?;
    let locations = project.select(&deploy.locations)?.into_iter().cloned().collect();
    Ok((Some(project), locations))
}

/// The event `close` acts on: `--status`, the closed pull request's own
/// state, or on GitLab the merge request's state from the API.
fn close_event(context: &CiContext, close: CloseRequest, env: &Env, http: &dyn Http, progress: &Progress) -> Event {
    if let Some(status) = close.status {
        return Event::ChangeRequestClosed { merged: status == PullRequestStatus::Merged };
    }
    if let Event::ChangeRequestClosed { .. } = context.event {
        return context.event.clone();
    }
    if let (Some(ci::ReviewApi::GitLab { api_url, project_id }), Some(mr)) =
        (&context.review_api, &context.change_request)
    {
        match env.secret("GITLAB_TOKEN").ok().flatten() {
            Some(token) => match report::gitlab::merge_request_state(http, api_url, project_id, mr.number, &token) {
                Ok(state) => return Event::ChangeRequestClosed { merged: state.merged },
                Err(e) => progress.warn(format!("could not read the merge request's state; marking it closed ({e:#})")),
            },
            None => progress.info(
                "no GITLAB_TOKEN: cannot tell a merged merge request from a closed one, so the branch deployment is \
                 marked CLOSED (set GITLAB_TOKEN, or pass --status merged)",
            ),
        }
    }
    Event::ChangeRequestClosed { merged: false }
}

/// Where the images' code comes from: the commit CI names (never GitHub's
/// merge commit), its time as the image's creation time unless SOURCE_DATE_EPOCH is
/// set, and the repository CI names, over what the checkout says.
fn provenance(
    env: &Env,
    dir: &std::path::Path,
    context: &CiContext,
    commit: Option<&git::Commit>,
) -> Result<Provenance> {
    let mut provenance = Provenance::detect(env, dir)?;
    if let Some(sha) = &context.commit {
        provenance.commit = Some(sha.clone());
        if let (None, Some(described)) = (env.get("SOURCE_DATE_EPOCH"), commit) {
            provenance.epoch = described.timestamp;
        }
    }
    provenance.source_url = context.repo_url.clone().or(provenance.source_url);
    Ok(provenance)
}

pub(crate) fn git_facts(dir: &std::path::Path) -> GitFacts {
    GitFacts {
        branch: git::current_branch(dir),
        head: git::commit(dir, "HEAD").map(|c| c.sha),
        origin_url: git::origin_url(dir),
        default_branch: git::default_branch(dir),
    }
}

/// No Dagster+ token. A fork's or Dependabot's pull request gets no
/// repository secrets, so it is skipped with a notice that fits it (unless
/// `--fail-without-credentials`); anything else is an error that names the
/// secret and how to set it: a misspelt secret must not look like success.
fn without_token(
    options: &Options,
    env: &Env,
    progress: &Progress,
    context: &CiContext,
    reason: String,
) -> Result<Outcome> {
    let change_request = context.change_request.as_ref();
    let skip_notice = match change_request {
        Some(c) if c.from_fork => Some(
            "pull requests from forks get no secrets, so DAGSTER_CLOUD_API_TOKEN is empty and nothing was deployed"
                .to_string(),
        ),
        Some(c) if c.from_dependabot => Some(
            "Dependabot's pull requests get only Dependabot secrets, so DAGSTER_CLOUD_API_TOKEN is empty and nothing \
             was deployed; to deploy them, add it under Settings › Secrets and variables › Dependabot"
                .to_string(),
        ),
        _ => None,
    };
    if let Some(notice) = skip_notice.filter(|_| !options.fail_without_credentials) {
        progress.notice(&notice);
        return Ok(finish(options, env, progress, Outcome::new(RunStatus::Skipped, format!("{reason}; {notice}"))));
    }
    let how = match context.provider {
        Provider::GitHub => {
            "add it as a repository secret named DAGSTER_CLOUD_API_TOKEN and pass it to the action's \
             dagster-cloud-api-token input (`dagster-cloud-api-token: ${{ secrets.DAGSTER_CLOUD_API_TOKEN }}`)"
        }
        Provider::GitLab => {
            "add it as a masked CI/CD variable named DAGSTER_CLOUD_API_TOKEN, not protected, so merge request \
             pipelines get it"
        }
        Provider::Local => "export DAGSTER_CLOUD_API_TOKEN in your shell",
    };
    bail!(
        "DAGSTER_CLOUD_API_TOKEN is not set: create a user or agent token in Dagster+ (Organization settings › \
         Tokens) and {how}"
    )
}

/// Writes the outputs and the dotenv report (never on a dry run).
fn finish(options: &Options, env: &Env, progress: &Progress, outcome: Outcome) -> Outcome {
    if !options.dry_run {
        let outputs = RunOutputs {
            deployment: outcome.deployment.as_deref(),
            url: outcome.url.as_deref(),
            images: &outcome.images,
            status: outcome.status.name(),
        };
        outputs::write(env, progress, options.dotenv.as_deref(), &outputs);
    }
    outcome
}

/// The URL of a deployment's locations page.
pub(crate) fn locations_url(org_url: &str, deployment: &str) -> String {
    format!("{org_url}/{deployment}/locations")
}
