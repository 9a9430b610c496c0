//! The dry run: needs no secret and changes nothing. It builds every image
//! (registries are only read; layouts go to `--output-dir`), then prints the
//! whole plan: provider, event, decision, each location with its build path
//! and image, each GraphQL operation with its variables (token redacted),
//! and the comment it would post.

use std::sync::Arc;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::{DeployOptions, Options, Outcome, RunStatus, locations_url};
use crate::build::{self, LocationImage};
use crate::ci::CiContext;
use crate::config::{Location, Project};
use crate::dagster::client::{Client, Scope, ShownRequest};
use crate::dagster::{self, documents};
use crate::env::Env;
use crate::io::http::Http;
use crate::plan::{Action, Decision, location_document};
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::registry::pool::Services;
use crate::report::comment::{Headline, Report, Row, Status, comment};

/// Stands for the name Dagster+ gives a new branch deployment.
const BRANCH_PLACEHOLDER: &str = "BRANCH_DEPLOYMENT";

#[derive(Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    provider: &'a str,
    event: &'a str,
    decision: &'a Decision,
    deployment: String,
    url: String,
    locations: &'a [LocationImage],
    operations: Vec<ShownRequest>,
    comment: Option<String>,
}

/// What the dry run plans for.
pub(crate) struct Planned<'a> {
    /// The project (absent when only closing).
    pub(crate) project: Option<&'a Project>,
    pub(crate) locations: &'a [Location],
    pub(crate) context: &'a CiContext,
    pub(crate) decision: &'a Decision,
    /// Where the code comes from.
    pub(crate) provenance: &'a Provenance,
}

/// Builds without pushing and prints the plan.
pub(crate) fn run(
    options: &Options,
    env: &Env,
    progress: &Progress,
    http: Arc<dyn Http>,
    planned: &Planned,
    org_url: &str,
) -> Result<Outcome> {
    let Planned { context, decision, .. } = *planned;
    let built = match options.deploy() {
        Some(deploy) => {
            let services = Services::new(http, env.clone(), progress.clone(), deploy.insecure_registries.clone());
            build_every_location(deploy, &services, planned)?
        }
        None => Vec::new(),
    };
    let deployment = match &decision.action {
        Action::FullDeployment { deployment } => deployment.clone(),
        _ => BRANCH_PLACEHOLDER.to_string(),
    };
    let operations = operations(decision, org_url, &deployment, planned.locations, &built, context, options);
    let report = planned_report(options, context, decision, &built, org_url, &deployment);
    let comment_text = context.change_request.as_ref().filter(|_| options.comment).map(|_| comment(&report));
    let plan = DryRun {
        dry_run: true,
        provider: context.provider.name(),
        event: &context.event_name,
        decision,
        url: locations_url(org_url, &deployment),
        deployment,
        locations: &built,
        operations,
        comment: comment_text,
    };
    if options.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print_plan(&plan);
    }
    let mut outcome = Outcome::new(RunStatus::Planned, decision.reason.clone());
    outcome.images = built.iter().filter_map(|b| Some((b.location.clone(), b.reference.clone()?))).collect();
    outcome.locations = built;
    Ok(outcome)
}

/// Builds every location without pushing (nothing when closing). Every
/// location is tried, so that one run reports every problem.
fn build_every_location(options: &DeployOptions, services: &Services, planned: &Planned) -> Result<Vec<LocationImage>> {
    let build_options = build::Options {
        platforms: options.platforms.clone(),
        tag: None,
        output_dir: options.output_dir.clone(),
        push: false,
        offline: options.offline,
        build_args: Vec::new(),
        base_image: options.base_image.clone(),
        external: options.external,
    };
    let closing = matches!(planned.decision.action, Action::Close { .. });
    let mut built: Vec<LocationImage> = Vec::new();
    let mut problems = Vec::new();
    if let Some(project) = planned.project.filter(|_| !closing) {
        for location in planned.locations {
            match build::build_location(services, project, location, &build_options, planned.provenance) {
                Ok(image) => built.push(image),
                Err(e) => problems.push(format!("{}: {e:#}", location.name)),
            }
        }
    }
    if !problems.is_empty() {
        let total = planned.locations.len();
        bail!("{} of {total} locations cannot be deployed:\n- {}", problems.len(), problems.join("\n- "));
    }
    build::check_layouts(&built, options.output_dir.as_deref())?;
    Ok(built)
}

/// The report the comment of a real run would show.
fn planned_report(
    options: &Options,
    context: &CiContext,
    decision: &Decision,
    built: &[LocationImage],
    org_url: &str,
    deployment: &str,
) -> Report {
    let rows = built
        .iter()
        .map(|b| Row {
            image: b.reference.clone(),
            build: Some(b.build.label(b.builder.as_deref())),
            seconds: Some(b.seconds),
            ..Row::new(&b.location, Status::Deploying)
        })
        .collect();
    let branch = deployment == BRANCH_PLACEHOLDER;
    let closing = matches!(decision.action, Action::Close { .. });
    Report {
        headline: if closing { Headline::Closed } else { Headline::Planned },
        deployment: Some(deployment.to_string()),
        url: Some(locations_url(org_url, deployment)),
        branch,
        commit: context.commit.clone(),
        base: options.settings.base_deployment.clone().filter(|_| branch),
        rows,
        run_url: context.run_url.clone(),
        deleted: false,
        merge_request: context.provider == crate::ci::Provider::GitLab,
    }
}

fn operations(
    decision: &Decision,
    org_url: &str,
    deployment: &str,
    locations: &[Location],
    built: &[LocationImage],
    context: &CiContext,
    options: &Options,
) -> Vec<ShownRequest> {
    let org = |doc: &str, vars: Value| Client::show(org_url, Scope::Organization, doc, vars);
    let scoped = |doc: &str, vars: Value| Client::show(org_url, Scope::Deployment(deployment), doc, vars);
    let mut ops = Vec::new();
    match &decision.action {
        Action::BranchDeployment { branch_data, commit, base_deployment_name, snapshot_base_condition } => {
            if let Some(base) = base_deployment_name {
                ops.push(org(documents::DEPLOYMENT_BY_NAME, json!({ "deploymentName": base })));
            }
            let vars = dagster::upsert_variables(
                branch_data,
                commit,
                base_deployment_name.as_deref(),
                *snapshot_base_condition,
            );
            ops.push(org(documents::CREATE_OR_UPDATE_BRANCH_DEPLOYMENT, vars));
        }
        Action::Close { branch_data, commit, delete, .. } => {
            ops.push(org(
                documents::CREATE_OR_UPDATE_BRANCH_DEPLOYMENT,
                dagster::upsert_variables(branch_data, commit, None, None),
            ));
            if *delete {
                ops.push(org(documents::DEPLOYMENT_BY_NAME, json!({ "deploymentName": deployment })));
                ops.push(org(documents::DELETE_DEPLOYMENT, json!({ "deploymentId": "(from deploymentByName)" })));
            }
            return ops;
        }
        Action::FullDeployment { .. } | Action::Skip => {}
    }
    let documents: Vec<Value> = locations
        .iter()
        .zip(built)
        .map(|(l, b)| {
            let image = b
                .reference
                .clone()
                .or_else(|| b.image.clone())
                .unwrap_or_else(|| "(Dagster+ Serverless registry: no build.registry)".to_string());
            location_document(&b.deployed(l), &image, context)
        })
        .collect();
    if options.deploy().is_some_and(|d| !d.redeploy_all) {
        ops.push(scoped(documents::DEPLOYED_LOCATIONS, json!({})));
    }
    ops.push(scoped(documents::DEPLOY_LOCATIONS, json!({ "document": { "locations": documents } })));
    if options.deploy().is_some_and(|d| d.wait) {
        ops.push(scoped(documents::DEPLOYMENT_INFO, json!({})));
        ops.push(scoped(documents::WAIT_STATUS, json!({})));
    }
    ops
}

fn print_plan(plan: &DryRun) {
    println!("dry run: nothing is pushed, deployed or posted");
    println!("provider: {} ({})", plan.provider, plan.event);
    println!("decision: {}", plan.decision.reason);
    println!("deployment: {} ({})", plan.deployment, plan.url);
    if !plan.locations.is_empty() {
        println!("locations:");
    }
    for l in plan.locations {
        let image = match (&l.reference, &l.image, &l.unresolved_base) {
            (Some(r), _, _) => r.clone(),
            (None, Some(i), Some(base)) => format!("{i} (digest unknown: base {base} not read)"),
            (None, Some(i), None) => format!("{i} (digest known after the build)"),
            (None, None, _) => "(no build.registry: Dagster+ Serverless's registry)".to_string(),
        };
        println!("  {}: {} build, {}", l.location, l.build.label(l.builder.as_deref()), l.reason);
        println!("    image {image}");
        if let Some(python) = &l.python {
            let shown: Vec<&str> = python.packages.iter().take(8).map(String::as_str).collect();
            let more = python.packages.len().saturating_sub(shown.len());
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            println!("    {} packages: {}{more}", python.packages.len(), shown.join(", "));
            println!("    dependency layer {}", python.dependency_layer_key);
        }
        if let Some(layout) = &l.layout {
            println!("    layout {}", layout.display());
        }
    }
    println!("operations (Dagster-Cloud-Api-Token redacted):");
    for (i, op) in plan.operations.iter().enumerate() {
        let headers: Vec<String> = op.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("  {}. {} POST {} [{}]", i + 1, op.operation, op.url, headers.join(", "));
        println!("     variables: {}", op.variables);
    }
    if let Some(c) = &plan.comment {
        println!("comment:");
        for line in c.lines() {
            println!("  | {line}");
        }
    }
}
