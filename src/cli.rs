//! The command line: flags (each with its environment variable; secrets
//! only from the environment), the dispatch to each subcommand, and how
//! results and errors are printed (`error: …` on one line with every cause,
//! exit status 1; usage errors 2).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::build::{self, Options};
use crate::config::Project;
use crate::dagster::{PullRequestStatus, SnapshotBaseCondition};
use crate::deploy::{self, CloseRequest, RunStatus};
use crate::env::Env;
use crate::image::platform::TargetPlatform;
use crate::plan::Settings;
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::registry::pool::Services;

/// Dagster+ branch deployments from CI: build, push, deploy, report.
#[derive(Parser)]
#[command(name = "dagster-branch-deploy", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy this pull/merge request (or push) to Dagster+.
    ///
    /// An open pull request gets a branch deployment; closing it marks the
    /// branch deployment closed or merged; a push to the default branch
    /// deploys the full deployment. Every location's image is built and
    /// pushed, deployed by digest, and awaited until it loads.
    Deploy(DeployArgs),
    /// Mark the branch deployment of this merge/pull request closed or merged.
    Close(CloseArgs),
    /// Check the configuration, Dockerfiles, registry credentials and the
    /// connection to Dagster+.
    Check(CheckArgs),
    /// Build each code location's image and push it to its registry.
    ///
    /// Dockerfiles that only set metadata and COPY local files onto a base
    /// image are built natively, with no daemon: only the base's config is
    /// read, and only new layers are uploaded. Others are handed to docker
    /// buildx, podman or buildah.
    Build(BuildArgs),
}

#[derive(Args)]
struct ProjectArgs {
    /// The project directory: it holds dagster_cloud.yaml or build.yaml, or
    /// is (or is inside) a dg project or workspace.
    #[arg(long, value_name = "DIR", default_value = ".", env = "DAGSTER_PROJECT_DIR")]
    project_dir: PathBuf,
    /// Read the locations from FILE (a dagster_cloud.yaml by another name,
    /// such as cloud_workspace.yaml) instead of looking in the project directory.
    #[arg(long, value_name = "FILE", env = "DAGSTER_CLOUD_YAML_PATH")]
    dagster_cloud_yaml_path: Option<PathBuf>,
}

#[derive(Args)]
struct ImageArgs {
    /// The platform to build for.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64", env = "DAGSTER_BUILD_PLATFORM")]
    platform: String,
    /// A registry to reach over plain HTTP (loopback registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST", env = "DAGSTER_INSECURE_REGISTRIES", value_delimiter = ',')]
    insecure_registries: Vec<String>,
}

#[derive(Args)]
struct DagsterArgs {
    /// The Dagster+ organization (https://<organization>.dagster.cloud).
    #[arg(long, value_name = "NAME", env = "DAGSTER_CLOUD_ORGANIZATION")]
    organization: Option<String>,
    /// The Dagster+ URL, used as given (for the EU: https://<org>.eu.dagster.cloud).
    #[arg(long = "url", value_name = "URL", env = "DAGSTER_CLOUD_URL")]
    url: Option<String>,
}

#[derive(Args)]
struct DeployArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    dagster: DagsterArgs,
    #[command(flatten)]
    image: ImageArgs,
    /// Deploy only this location (repeat for several; default: all). The
    /// variable DAGSTER_LOCATIONS takes names separated by commas or
    /// newlines, or a JSON array.
    #[arg(long = "location", value_name = "NAME")]
    locations: Vec<String>,
    /// The full deployment, deployed on pushes to the default branch
    /// [default: prod]. Locally, naming it deploys the current branch there
    /// rather than to a branch deployment.
    #[arg(long, value_name = "NAME", env = "DAGSTER_CLOUD_DEPLOYMENT")]
    deployment: Option<String>,
    /// The deployment branch deployments are based on.
    #[arg(long, value_name = "NAME", env = "DAGSTER_CLOUD_BASE_DEPLOYMENT_NAME")]
    base_deployment_name: Option<String>,
    /// When Dagster+ copies the base deployment's state.
    #[arg(long, value_enum, env = "DAGSTER_CLOUD_SNAPSHOT_BASE_CONDITION")]
    snapshot_base_condition: Option<SnapshotBaseCondition>,
    /// Locally: make a branch deployment for the current branch even when
    /// --deployment is named (on a branch other than the default, it is the
    /// default, as with dg plus deploy).
    #[arg(long, env = "DAGSTER_BRANCH_DEPLOYMENT")]
    branch_deployment: bool,
    /// Print the plan and build the images without pushing; needs no secret.
    #[arg(long, env = "DAGSTER_DRY_RUN")]
    dry_run: bool,
    /// With --dry-run: contact no registry (only the code layers are built).
    #[arg(long, requires = "dry_run", env = "DAGSTER_OFFLINE")]
    offline: bool,
    /// Write an OCI image layout per location into DIR/<location>.
    #[arg(long, value_name = "DIR", env = "DAGSTER_OUTPUT_DIR")]
    output_dir: Option<PathBuf>,
    /// Print the result (or plan) as JSON on stdout, and no progress.
    #[arg(long, env = "DAGSTER_JSON")]
    json: bool,
    /// Do not wait for the locations to load.
    #[arg(long, env = "DAGSTER_NO_WAIT")]
    no_wait: bool,
    /// How long to wait for the locations to load, in seconds [default: 3600].
    #[arg(long, value_name = "SECS", env = "DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT")]
    location_load_timeout: Option<u64>,
    /// Seconds between load-status polls.
    #[arg(long, value_name = "SECS", default_value = "3", env = "DAGSTER_POLL_INTERVAL")]
    poll_interval: f64,
    /// Write DAGSTER_DEPLOYMENT and DAGSTER_DEPLOYMENT_URL to FILE (GitLab's dotenv report).
    #[arg(long, value_name = "FILE", env = "DAGSTER_DOTENV")]
    dotenv: Option<PathBuf>,
    /// Do not comment on the pull/merge request.
    #[arg(long, env = "DAGSTER_NO_COMMENT")]
    no_comment: bool,
    /// Delete the branch deployment when its pull request closes.
    #[arg(long, env = "DAGSTER_DELETE_ON_CLOSE")]
    delete_on_close: bool,
    /// Fail, rather than skip with a notice, when a fork's or Dependabot's
    /// pull request run has no Dagster+ token (any other run without one fails).
    #[arg(long, env = "DAGSTER_FAIL_WITHOUT_CREDENTIALS")]
    fail_without_credentials: bool,
    /// Deploy pull requests from forks. Dangerous with pull_request_target or
    /// workflow_run: the fork's code is built with your secrets at hand.
    #[arg(long, env = "DAGSTER_ALLOW_FORK")]
    allow_fork: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum CloseStatus {
    Closed,
    Merged,
}

#[derive(Args)]
struct CloseArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    dagster: DagsterArgs,
    /// Closed or merged (default: from the event, or the GitLab API).
    #[arg(long, value_enum, env = "DAGSTER_CLOSE_STATUS")]
    status: Option<CloseStatus>,
    /// Delete the branch deployment too.
    #[arg(long, env = "DAGSTER_DELETE_ON_CLOSE")]
    delete: bool,
    /// Print what would be sent; change nothing.
    #[arg(long, env = "DAGSTER_DRY_RUN")]
    dry_run: bool,
    /// Print the result as JSON on stdout, and no progress.
    #[arg(long)]
    json: bool,
    /// Do not comment on the pull/merge request.
    #[arg(long, env = "DAGSTER_NO_COMMENT")]
    no_comment: bool,
    /// Write DAGSTER_DEPLOYMENT and DAGSTER_DEPLOYMENT_URL to FILE.
    #[arg(long, value_name = "FILE", env = "DAGSTER_DOTENV")]
    dotenv: Option<PathBuf>,
    /// Fail, rather than skip with a notice, when a fork's or Dependabot's
    /// pull request run has no Dagster+ token (any other run without one fails).
    #[arg(long, env = "DAGSTER_FAIL_WITHOUT_CREDENTIALS")]
    fail_without_credentials: bool,
    /// Deploy pull requests from forks. Dangerous with pull_request_target or
    /// workflow_run: the fork's code is built with your secrets at hand.
    #[arg(long, env = "DAGSTER_ALLOW_FORK")]
    allow_fork: bool,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    dagster: DagsterArgs,
    /// A registry to reach over plain HTTP (loopback registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST", env = "DAGSTER_INSECURE_REGISTRIES", value_delimiter = ',')]
    insecure_registries: Vec<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    image: ImageArgs,
    /// Build only this location (repeat for several; default: all).
    #[arg(long = "location", value_name = "NAME")]
    locations: Vec<String>,
    /// The image tag (default: <location>-<commit sha, 12 characters>).
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// Write an OCI image layout per location into DIR/<location>.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Do not push (needs --output-dir); registries are only read.
    #[arg(long, requires = "output_dir")]
    no_push: bool,
    /// Do not contact any registry (needs --no-push): build only the code
    /// layers, without reading the base image.
    #[arg(long, requires = "no_push")]
    offline: bool,
    /// Set a build argument declared with ARG in the Dockerfiles (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
    /// Print the result as JSON on stdout, and no progress.
    #[arg(long)]
    json: bool,
}

fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// Runs the program; returns the exit status.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = Cli::parse_from(args);
    let env = Env::from_process();
    let json = match &cli.command {
        Command::Deploy(a) => a.json,
        Command::Close(a) => a.json,
        Command::Check(a) => a.json,
        Command::Build(a) => a.json,
    };
    let result = match cli.command {
        Command::Deploy(args) => deploy_command(args, env),
        Command::Close(args) => close_command(args, env),
        Command::Check(args) => check_command(args, env),
        Command::Build(args) => build_command(args, env).map(|()| 0),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if json {
                // A machine reading stdout gets an answer on failure too.
                println!("{}", json!({ "status": "failed", "error": format!("{e:#}") }));
            }
            1
        }
    }
}

fn deploy_command(args: DeployArgs, env: Env) -> Result<i32> {
    let (wait_options, heartbeat_given) =
        deploy::wait_options_from(&env, args.location_load_timeout, args.poll_interval)?;
    let locations = if args.locations.is_empty() { locations_from(&env)? } else { args.locations };
    let options = deploy::Options {
        project_dir: args.project.project_dir,
        config_file: args.project.dagster_cloud_yaml_path,
        locations,
        settings: Settings {
            deployment_named: args.deployment.is_some(),
            deployment: args.deployment.unwrap_or_else(|| "prod".into()),
            base_deployment: args.base_deployment_name,
            snapshot_base_condition: args.snapshot_base_condition,
            branch_deployment: args.branch_deployment,
            delete_on_close: args.delete_on_close,
            allow_fork: args.allow_fork,
        },
        organization: args.dagster.organization,
        url: args.dagster.url,
        dry_run: args.dry_run,
        offline: args.offline,
        output_dir: args.output_dir,
        json: args.json,
        wait: !args.no_wait,
        wait_options,
        heartbeat_timeout_given: heartbeat_given,
        dotenv: args.dotenv,
        comment: !args.no_comment,
        fail_without_credentials: args.fail_without_credentials,
        platform: TargetPlatform::parse(&args.image.platform).context("--platform")?,
        insecure_registries: args.image.insecure_registries,
    };
    let outcome = deploy::run(&options, env, None)?;
    print_outcome(&outcome, options.json)
}

/// DAGSTER_LOCATIONS: names separated by commas or newlines (the action's
/// input), or a JSON array (a GitLab array input inside a string).
fn locations_from(env: &Env) -> Result<Vec<String>> {
    let Some(value) = env.get("DAGSTER_LOCATIONS") else { return Ok(Vec::new()) };
    if value.trim_start().starts_with('[') {
        return serde_json::from_str(value)
            .with_context(|| format!("DAGSTER_LOCATIONS={value:?} is not a JSON array of names"));
    }
    Ok(value.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
}

fn close_command(args: CloseArgs, env: Env) -> Result<i32> {
    let (wait_options, _) = deploy::wait_options_from(&env, None, 3.0)?;
    let options = deploy::Options {
        project_dir: args.project.project_dir,
        config_file: args.project.dagster_cloud_yaml_path,
        locations: Vec::new(),
        settings: Settings {
            deployment: "prod".into(),
            deployment_named: false,
            base_deployment: None,
            snapshot_base_condition: None,
            branch_deployment: false,
            delete_on_close: args.delete,
            allow_fork: args.allow_fork,
        },
        organization: args.dagster.organization,
        url: args.dagster.url,
        dry_run: args.dry_run,
        offline: false,
        output_dir: None,
        json: args.json,
        wait: false,
        wait_options,
        heartbeat_timeout_given: false,
        dotenv: args.dotenv,
        comment: !args.no_comment,
        fail_without_credentials: args.fail_without_credentials,
        platform: TargetPlatform::parse("linux/amd64")?,
        insecure_registries: Vec::new(),
    };
    let status = args.status.map(|s| match s {
        CloseStatus::Closed => PullRequestStatus::Closed,
        CloseStatus::Merged => PullRequestStatus::Merged,
    });
    let outcome = deploy::run(&options, env, Some(CloseRequest { status }))?;
    print_outcome(&outcome, options.json)
}

fn print_outcome(outcome: &deploy::Outcome, json: bool) -> Result<i32> {
    if outcome.status == RunStatus::Planned {
        return Ok(0);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(outcome)?);
    } else {
        let status = outcome.status.name();
        match (&outcome.deployment, &outcome.url) {
            (Some(d), Some(u)) => println!("{status}: {d} {u}"),
            (Some(d), None) => println!("{status}: {d}"),
            _ => println!("{status}: {}", outcome.reason),
        }
    }
    if let Some(error) = &outcome.error {
        eprintln!("error: {error}");
        return Ok(1);
    }
    Ok(0)
}

fn check_command(args: CheckArgs, env: Env) -> Result<i32> {
    let findings = crate::check::run(
        &args.project.project_dir,
        args.project.dagster_cloud_yaml_path.as_deref(),
        args.dagster.organization.as_deref(),
        args.dagster.url.as_deref(),
        args.insecure_registries,
        env,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        for f in &findings {
            println!("{} {}: {}", if f.ok { "ok  " } else { "FAIL" }, f.subject, f.detail);
        }
    }
    Ok(if findings.iter().all(|f| f.ok) { 0 } else { 1 })
}

fn build_command(args: BuildArgs, env: Env) -> Result<()> {
    let progress = Progress::new(&env, args.json);
    let platform = TargetPlatform::parse(&args.image.platform).context("--platform")?;
    let project = Project::load(&args.project.project_dir, args.project.dagster_cloud_yaml_path.as_deref())?;
    let locations = project.select(&args.locations)?;
    if let Some(tag) = &args.tag {
        let mut seen = std::collections::HashSet::new();
        for l in &locations {
            if let Some(r) = &l.registry
                && !seen.insert(r)
            {
                bail!("--tag would give two locations the same image {r}:{tag}; build them one at a time");
            }
        }
    }
    let provenance = Provenance::detect(&env, &project.root)?;
    let http = crate::io::http_client()?;
    let services = Services::new(http, env, progress, args.image.insecure_registries);
    let options = Options {
        platform,
        tag: args.tag,
        output_dir: args.output_dir,
        push: !args.no_push,
        offline: args.offline,
        build_args: args.build_args,
    };
    let mut results = Vec::new();
    for location in locations {
        let result = build::build_location(&services, &project, location, &options, &provenance)
            .with_context(|| format!("building location {:?}", location.name))?;
        results.push(result);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "locations": results }))?);
    } else {
        for r in &results {
            let what = r.reference.clone().or_else(|| r.layout.as_ref().map(|l| l.display().to_string()));
            let kind = serde_json::to_value(r.build)?.as_str().unwrap_or("").to_string();
            println!("{}\t{kind}\t{}\t{:.2}s", r.location, what.unwrap_or_default(), r.seconds);
        }
    }
    build::check_layouts(&results, options.output_dir.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dagster_locations_takes_commas_newlines_or_json() {
        let of = |v: &str| locations_from(&Env::from_pairs([("DAGSTER_LOCATIONS", v)])).unwrap();
        assert_eq!(of("a,b"), ["a", "b"]);
        assert_eq!(of("a\nb\n"), ["a", "b"]);
        assert_eq!(of(r#"["a", "b"]"#), ["a", "b"]);
        assert!(of("").is_empty());
        assert!(locations_from(&Env::from_pairs([("DAGSTER_LOCATIONS", "[1]")])).is_err());
    }
}
