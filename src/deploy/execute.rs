//! Carrying out a decision against Dagster+: the branch deployment upsert
//! (while the images build, when no location waits for a Serverless
//! registry), the builds and pushes, the comparison with what runs, one
//! `deployLocations` of what changed, the wait; each location's row kept up
//! to date in the comment, posted in the background as it goes.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{DeployOptions, Options, Outcome, RunStatus, changes, locations_url};
use crate::build::{self, LocationImage};
use crate::ci::CiContext;
use crate::config::{Location, Project};
use crate::dagster;
use crate::dagster::client::Client;
use crate::dagster::workspace::{self, DeployedLocation, LoadOutcome, WaitOptions};
use crate::env::Env;
use crate::io::clock::SystemClock;
use crate::io::http::Http;
use crate::plan::redeploy::Change;
use crate::plan::{Action, Decision, location_document};
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::registry::pool::Services;
use crate::report::background::Background;
use crate::report::comment::{Headline, Report, Row, Status, comment};
use crate::report::deployments::{Deployments, Target};
use crate::report::outputs::write_summary;
use crate::report::{Commenter, github};

/// One run against Dagster+.
pub(crate) struct Run<'a> {
    pub(super) options: &'a Options,
    pub(super) env: &'a Env,
    pub(super) progress: &'a Progress,
    pub(super) http: Arc<dyn Http>,
    pub(super) project: Option<&'a Project>,
    pub(super) context: &'a CiContext,
    pub(super) org_url: &'a str,
    pub(super) provenance: &'a Provenance,
    pub(super) client: Client,
}

/// Where a run reports back on the pull request, off the critical path.
pub(super) struct Reporters<'r, 'a> {
    background: &'r Background<'a>,
    deployments: &'a Deployments<'a>,
}

impl Reporters<'_, '_> {
    /// Posts (or updates) the comment.
    pub(super) fn comment(&self, body: String) {
        self.background.comment(body);
    }

    /// Creates the GitHub deployment for `target`, `in_progress`.
    fn start(&self, target: Target) {
        let deployments = self.deployments;
        self.background.post(move || deployments.start(&target));
    }

    /// Ends the GitHub deployment: `success` or `failure`.
    fn finish(&self, ok: bool, url: Option<String>, description: String) {
        let deployments = self.deployments;
        self.background.post(move || deployments.finish(ok, url.as_deref(), &description));
    }

    /// Marks pull request `number`'s GitHub deployment inactive.
    pub(super) fn deactivate(&self, number: u64) {
        let deployments = self.deployments;
        self.background.post(move || deployments.deactivate(number));
    }
}

/// What the report shows, as it changes.
struct State {
    deployment: Option<String>,
    base: Option<String>,
    branch: bool,
    rows: Vec<Row>,
    built: Vec<LocationImage>,
    load: Vec<LoadOutcome>,
}

impl<'a> Run<'a> {
    /// Carries out the decision; failures become a `Failed` outcome.
    pub(crate) fn execute(&self, decision: &Decision, locations: &[Location]) -> Outcome {
        let commenter = Commenter::new(self.context, self.env, self.http.as_ref(), self.progress, self.options.comment);
        let mut deployments = Deployments::new(self.context, self.env, self.http.as_ref(), self.progress);
        if !self.options.github_deployment {
            deployments = deployments.disabled();
        }
        Background::run(&commenter, |background| {
            let reporters = Reporters { background, deployments: &deployments };
            match &decision.action {
                Action::Close { branch_data, commit, status, delete } => {
                    self.close(decision, &reporters, branch_data, commit, *status, *delete)
                }
                _ => self.deploy(decision, &reporters, locations),
            }
        })
    }

    fn report(&self, state: &State, headline: Headline) -> Report {
        Report {
            headline,
            deployment: state.deployment.clone(),
            url: state.deployment.as_deref().map(|d| locations_url(self.org_url, d)),
            branch: state.branch,
            commit: self.context.commit.clone(),
            base: state.base.clone(),
            rows: state.rows.clone(),
            run_url: self.context.run_url.clone(),
            deleted: false,
            merge_request: self.context.provider == crate::ci::Provider::GitLab,
        }
    }

    fn deploy(&self, decision: &Decision, reporters: &Reporters, locations: &[Location]) -> Outcome {
        if let Some(sha) = &self.context.commit {
            let (pull_request, deployment) = match &decision.action {
                Action::FullDeployment { deployment } => (None, deployment.clone()),
                _ => (self.context.change_request.as_ref().map(|c| c.number), String::new()),
            };
            reporters.start(Target { sha: sha.clone(), pull_request, deployment });
        }
        let rows = locations.iter().map(|l| Row::new(&l.name, Status::Building)).collect();
        let (branch, base) = match &decision.action {
            Action::BranchDeployment { base_deployment_name, .. } => (true, base_deployment_name.clone()),
            _ => (false, None),
        };
        let mut state = State { deployment: None, base, branch, rows, built: Vec::new(), load: Vec::new() };
        let result = self.try_deploy(decision, reporters, locations, &mut state);
        let load_failures: Vec<String> =
            state.load.iter().filter(|l| l.error.is_some()).map(|l| l.name.clone()).collect();
        let error = match result {
            Err(e) => Some(format!("{e:#}")),
            Ok(()) if !load_failures.is_empty() => Some(format!("{} failed to load", load_failures.join(", "))),
            Ok(()) => None,
        };
        if let Some(e) = &error {
            for row in state.rows.iter_mut().filter(|r| matches!(r.status, Status::Building | Status::Deploying)) {
                row.status = Status::Failed;
            }
            // One annotation for the run, with each failed location's error.
            let mut message = e.clone();
            for row in state.rows.iter().filter(|r| r.error.is_some()) {
                message.push_str(&format!("\n{}: {}", row.name, row.error.as_deref().unwrap_or_default()));
            }
            self.progress.annotate(&github::error_annotation("dagster-branch-deploy", &message));
        }
        let unchanged = !state.rows.is_empty() && state.rows.iter().all(|r| r.status == Status::Unchanged);
        let (headline, status) = match (&error, unchanged) {
            (Some(_), _) => (Headline::Failed, RunStatus::Failed),
            (None, true) => (Headline::Unchanged, RunStatus::Unchanged),
            (None, false) => (Headline::Deployed, RunStatus::Deployed),
        };
        let report = self.report(&state, headline);
        reporters.comment(comment(&report));
        write_summary(self.env, self.progress, &report);
        let description = match (&error, unchanged) {
            (Some(e), _) => format!("Failed: {e}"),
            (None, true) => "Nothing changed; every location is up to date".to_string(),
            (None, false) => format!("Deployed to {}", state.deployment.as_deref().unwrap_or("Dagster+")),
        };
        reporters.finish(error.is_none(), report.url.clone(), description);
        let mut outcome = Outcome::new(status, decision.reason.clone());
        outcome.url = state.deployment.as_deref().map(|d| locations_url(self.org_url, d));
        outcome.deployment = state.deployment;
        // What runs: the running image of an unchanged location.
        outcome.images = state.rows.iter().filter_map(|r| Some((r.name.clone(), r.image.clone()?))).collect();
        outcome.locations = state.built;
        outcome.load = state.load;
        outcome.error = error;
        outcome
    }

    fn try_deploy(
        &self,
        decision: &Decision,
        reporters: &Reporters,
        locations: &[Location],
        state: &mut State,
    ) -> Result<()> {
        let project = self.project.context("deploying needs the project's configuration")?;
        let options = self.options.deploy().context("the close command deploys nothing")?;
        let services = Services::new(
            self.http.clone(),
            self.env.clone(),
            self.progress.clone(),
            options.insecure_registries.clone(),
        );
        let mut agent_type = None;
        // The upsert, then what the deployment runs: beside the builds,
        // unless a location needs the Serverless registry, which comes
        // from the deployment.
        let upsert = || -> Result<(String, BTreeMap<String, DeployedLocation>)> {
            let deployment = self.target_deployment(decision)?;
            let running = changes::running(&self.client, self.progress, &deployment, options.redeploy_all);
            Ok((deployment, running))
        };
        let (deployment, running, targets) = if locations.iter().any(|l| l.registry.is_none() && l.image.is_none()) {
            let (deployment, running) = upsert()?;
            self.started(&deployment, state, reporters);
            let targets = self.with_registries(project, locations, &deployment, &services, &mut agent_type)?;
            self.build_all(project, &targets, &services, options, state)?;
            (deployment, running, targets)
        } else {
            let (upserted, built) =
                crate::parallel::join(upsert, || self.build_all(project, locations, &services, options, state));
            let (deployment, running) = upserted?;
            self.started(&deployment, state, reporters);
            built?;
            (deployment, running, locations.to_vec())
        };
        reporters.comment(comment(&self.report(state, Headline::Deploying)));

        let documents: Vec<_> = targets
            .iter()
            .zip(&state.built)
            .map(|(location, built)| {
                let image = built.reference.clone().context("the pushed image has no digest")?;
                Ok(location_document(&built.deployed(location), &image, self.context))
            })
            .collect::<Result<_>>()?;
        let built: Vec<_> = documents.iter().zip(state.built.iter().map(|b| b.content.as_ref())).collect();
        let changes = changes::judge(&services, self.progress, &running, &built, options.redeploy_all);
        let mut redeployed = Vec::new();
        let mut names = Vec::new();
        for ((row, document), change) in state.rows.iter_mut().zip(documents).zip(changes) {
            match change {
                Change::Redeploy(_) => {
                    names.push(row.name.clone());
                    redeployed.push(document);
                }
                Change::Unchanged { since, image } => {
                    row.status = Status::Unchanged;
                    row.since = since;
                    row.image = Some(image);
                }
            }
        }
        if redeployed.is_empty() {
            self.progress.info(format!("nothing changed: {deployment} already runs every location"));
            return Ok(());
        }
        dagster::deploy_locations(&self.client, &deployment, &redeployed)
            .with_context(|| format!("deploying the locations to {deployment}"))?;
        if !options.wait {
            state.rows.iter_mut().filter(|r| r.status == Status::Deploying).for_each(|r| r.status = Status::Deployed);
            return Ok(());
        }
        let wait = self.wait_options(options, &deployment, locations, &mut agent_type)?;
        self.wait_for_load(&deployment, &names, wait, state)
    }

    /// The deployment is known: say so, and show it in the comment.
    fn started(&self, deployment: &str, state: &mut State, reporters: &Reporters) {
        self.progress.info(format!("deployment {deployment}: {}", locations_url(self.org_url, deployment)));
        state.deployment = Some(deployment.to_string());
        reporters.comment(comment(&self.report(state, Headline::Deploying)));
    }

    /// The deployment to deploy to: the branch deployment, created or
    /// updated (after checking its base exists), or the full deployment.
    fn target_deployment(&self, decision: &Decision) -> Result<String> {
        match &decision.action {
            Action::BranchDeployment { branch_data, commit, base_deployment_name, snapshot_base_condition } => {
                if let Some(base) = base_deployment_name {
                    dagster::deployment_by_name(&self.client, base)?.with_context(|| {
                        format!(
                            "the base deployment {base:?} does not exist in {}; check --base-deployment-name",
                            self.org_url
                        )
                    })?;
                }
                let variables = dagster::upsert_variables(
                    branch_data,
                    commit,
                    base_deployment_name.as_deref(),
                    *snapshot_base_condition,
                );
                dagster::upsert_branch_deployment(&self.client, variables).context("creating the branch deployment")
            }
            Action::FullDeployment { deployment } => Ok(deployment.clone()),
            Action::Close { .. } | Action::Skip => unreachable!("handled by the caller"),
        }
    }

    /// Builds and pushes every location, each row kept up to date; the
    /// first failure stops the run.
    fn build_all(
        &self,
        project: &Project,
        targets: &[Location],
        services: &Services,
        options: &DeployOptions,
        state: &mut State,
    ) -> Result<()> {
        let build_options = build::Options {
            platforms: options.platforms.clone(),
            tag: None,
            output_dir: options.output_dir.clone(),
            push: true,
            offline: false,
            build_args: Vec::new(),
            base_image: options.base_image.clone(),
            external: options.external,
        };
        for (i, location) in targets.iter().enumerate() {
            let built = self.progress.group(format!("building {}", location.name), || {
                build::build_location(services, project, location, &build_options, self.provenance)
            });
            let row = &mut state.rows[i];
            match built {
                Ok(b) => {
                    row.image = b.reference.clone();
                    row.build = Some(b.build.label(b.builder.as_deref()));
                    row.seconds = Some(b.seconds);
                    row.status = Status::Deploying;
                    state.built.push(b);
                }
                Err(e) => {
                    row.status = Status::Failed;
                    row.error = Some(format!("{e:#}"));
                    return Err(e.context(format!("building location {:?}", location.name)));
                }
            }
        }
        Ok(())
    }

    /// Waits until the redeployed locations (`names`) have loaded; each
    /// one's row gets its outcome.
    fn wait_for_load(&self, deployment: &str, names: &[String], wait: WaitOptions, state: &mut State) -> Result<()> {
        let outcomes = workspace::wait_for_load(&self.client, deployment, names, wait, self.progress, &SystemClock)?;
        for outcome in &outcomes {
            let Some(row) = state.rows.iter_mut().find(|r| r.name == outcome.name) else { continue };
            row.status = if outcome.error.is_some() { Status::Failed } else { Status::Loaded };
            row.error = outcome.error.clone();
            match &outcome.error {
                Some(e) => self.progress.warn(format!("{} failed to load:\n{e}", outcome.name)),
                None => self.progress.info(format!("{} loaded", outcome.name)),
            }
        }
        state.load = outcomes;
        Ok(())
    }

    pub(super) fn agent_type(&self, deployment: &str, cached: &mut Option<String>) -> Result<String> {
        if cached.is_none() {
            *cached = Some(dagster::agent_type(&self.client, deployment)?);
        }
        Ok(cached.clone().unwrap_or_default())
    }

    /// The official heartbeat timeout: 900 s for Serverless without an agent
    /// queue, else 120 s, unless DAGSTER_CLOUD_AGENT_HEARTBEAT_TIMEOUT says.
    fn wait_options(
        &self,
        options: &DeployOptions,
        deployment: &str,
        locations: &[Location],
        agent_type: &mut Option<String>,
    ) -> Result<WaitOptions> {
        let mut wait = options.wait_options;
        if !options.heartbeat_timeout_given
            && self.agent_type(deployment, agent_type)? == "SERVERLESS"
            && locations.iter().all(|l| l.agent_queue.is_none())
        {
            wait.agent_heartbeat_timeout = std::time::Duration::from_secs(900);
        }
        Ok(wait)
    }
}
