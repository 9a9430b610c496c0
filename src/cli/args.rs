//! The flags of every command, each with its environment variable (secrets
//! come only from the environment), as clap parses them. `mod.rs` turns them
//! into each command's settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::dagster::SnapshotBaseCondition;

/// Dagster+ branch deployments from CI: build, push, deploy, report.
#[derive(Parser)]
#[command(name = "dagster-branch-deploy", version, about, max_term_width = 100)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
    /// Close the branch deployments of this repository whose pull/merge
    /// request was merged or closed (or that sat idle), for a schedule.
    ///
    /// Lists the open branch deployments, asks GitHub (GITHUB_TOKEN) or
    /// GitLab (GITLAB_TOKEN) for each one's pull/merge request, and marks
    /// them MERGED or CLOSED as the close event would have.
    Sweep(SweepArgs),
    /// Build each code location's image and push it to its registry.
    ///
    /// Dockerfiles that only set metadata and COPY local files onto a base
    /// image are built natively, with no daemon: only the base's config is
    /// read, and only new layers are uploaded. Others are handed to docker
    /// buildx, podman or buildah.
    Build(BuildArgs),
}

#[derive(Args)]
pub(super) struct ProjectArgs {
    /// The project directory: it holds dagster_cloud.yaml or build.yaml, or
    /// is (or is inside) a dg project or workspace.
    #[arg(long, value_name = "DIR", default_value = ".", env = "DAGSTER_PROJECT_DIR")]
    pub(super) project_dir: PathBuf,
    /// Read the locations from FILE (a dagster_cloud.yaml by another name,
    /// such as cloud_workspace.yaml) instead of looking in the project directory.
    #[arg(long, value_name = "FILE", env = "DAGSTER_CLOUD_YAML_PATH")]
    pub(super) dagster_cloud_yaml_path: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct ImageArgs {
    /// The platform to build for; several, comma-separated, give one image each under an index (native builds).
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64", env = "DAGSTER_BUILD_PLATFORM")]
    pub(super) platform: String,
    /// A registry to reach over plain HTTP (loopback registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST", env = "DAGSTER_INSECURE_REGISTRIES", value_delimiter = ',')]
    pub(super) insecure_registries: Vec<String>,
    /// The base of locations built from their lock, without a Dockerfile
    /// [default: python:3.Y-slim-bookworm, 3.Y from .python-version or requires-python].
    #[arg(long, value_name = "IMAGE", env = "DAGSTER_BASE_IMAGE")]
    pub(super) base_image: Option<String>,
    /// Build Dockerfiles that only run `uv sync` with a container builder too,
    /// not natively.
    #[arg(long, env = "DAGSTER_EXTERNAL_BUILD")]
    pub(super) external: bool,
}

#[derive(Args)]
pub(super) struct DagsterArgs {
    /// The Dagster+ organization (https://<organization>.dagster.cloud).
    #[arg(long, value_name = "NAME", env = "DAGSTER_CLOUD_ORGANIZATION")]
    pub(super) organization: Option<String>,
    /// The Dagster+ URL, used as given (for the EU: https://<org>.eu.dagster.cloud).
    #[arg(long = "url", value_name = "URL", env = "DAGSTER_CLOUD_URL")]
    pub(super) url: Option<String>,
}

#[derive(Args)]
pub(super) struct DeployArgs {
    #[command(flatten)]
    pub(super) project: ProjectArgs,
    #[command(flatten)]
    pub(super) dagster: DagsterArgs,
    #[command(flatten)]
    pub(super) image: ImageArgs,
    #[command(flatten)]
    pub(super) run: RunArgs,
    /// Deploy only this location (repeat for several; default: all). The
    /// variable DAGSTER_LOCATIONS takes names separated by commas or
    /// newlines, or a JSON array.
    #[arg(long = "location", value_name = "NAME")]
    pub(super) locations: Vec<String>,
    /// The full deployment, deployed on pushes to the default branch
    /// [default: prod]. Locally, naming it deploys the current branch there
    /// rather than to a branch deployment.
    #[arg(long, value_name = "NAME", env = "DAGSTER_CLOUD_DEPLOYMENT")]
    pub(super) deployment: Option<String>,
    /// The deployment branch deployments are based on.
    #[arg(long, value_name = "NAME", env = "DAGSTER_CLOUD_BASE_DEPLOYMENT_NAME")]
    pub(super) base_deployment_name: Option<String>,
    /// When Dagster+ copies the base deployment's state.
    #[arg(long, value_enum, env = "DAGSTER_CLOUD_SNAPSHOT_BASE_CONDITION")]
    pub(super) snapshot_base_condition: Option<SnapshotBaseCondition>,
    /// Locally: make a branch deployment for the current branch even when
    /// --deployment is named (on a branch other than the default, it is the
    /// default, as with dg plus deploy).
    #[arg(long, env = "DAGSTER_BRANCH_DEPLOYMENT")]
    pub(super) branch_deployment: bool,
    /// Print the plan and build the images without pushing; needs no secret.
    #[arg(long, env = "DAGSTER_DRY_RUN")]
    pub(super) dry_run: bool,
    /// With --dry-run: contact no registry (only the code layers are built).
    #[arg(long, requires = "dry_run", env = "DAGSTER_OFFLINE")]
    pub(super) offline: bool,
    /// Write an OCI image layout per location into DIR/<location>.
    #[arg(long, value_name = "DIR", env = "DAGSTER_OUTPUT_DIR")]
    pub(super) output_dir: Option<PathBuf>,
    /// Do not wait for the locations to load.
    #[arg(long, env = "DAGSTER_NO_WAIT")]
    pub(super) no_wait: bool,
    /// How long to wait for the locations to load, in seconds [default: 3600].
    #[arg(long, value_name = "SECS", env = "DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT")]
    pub(super) location_load_timeout: Option<u64>,
    /// Seconds between load-status polls.
    #[arg(long, value_name = "SECS", default_value = "3", env = "DAGSTER_POLL_INTERVAL")]
    pub(super) poll_interval: f64,
    /// Delete the branch deployment when its pull request closes.
    #[arg(long, env = "DAGSTER_DELETE_ON_CLOSE")]
    pub(super) delete_on_close: bool,
    /// Deploy only pull/merge requests with this label; adding it deploys,
    /// removing it closes the branch deployment.
    #[arg(long, value_name = "NAME", env = "DAGSTER_REQUIRE_LABEL")]
    pub(super) require_label: Option<String>,
    /// Deploy every location, even those whose image and document are the
    /// ones the deployment already runs.
    #[arg(long, env = "DAGSTER_REDEPLOY_ALL")]
    pub(super) redeploy_all: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum CloseStatus {
    Closed,
    Merged,
}

#[derive(Args)]
pub(super) struct CloseArgs {
    #[command(flatten)]
    pub(super) project: ProjectArgs,
    #[command(flatten)]
    pub(super) dagster: DagsterArgs,
    #[command(flatten)]
    pub(super) run: RunArgs,
    /// Closed or merged (default: from the event, or the GitLab API).
    #[arg(long, value_enum, env = "DAGSTER_CLOSE_STATUS")]
    pub(super) status: Option<CloseStatus>,
    /// Delete the branch deployment too.
    #[arg(long, env = "DAGSTER_DELETE_ON_CLOSE")]
    pub(super) delete: bool,
    /// Print what would be sent; change nothing.
    #[arg(long, env = "DAGSTER_DRY_RUN")]
    pub(super) dry_run: bool,
}

/// What `deploy` and `close` both take: where the results go, and which
/// runs may proceed.
#[derive(Args)]
pub(super) struct RunArgs {
    /// Print the result (or plan) as JSON on stdout, and no progress.
    #[arg(long, env = "DAGSTER_JSON")]
    pub(super) json: bool,
    /// Write DAGSTER_DEPLOYMENT and DAGSTER_DEPLOYMENT_URL to FILE (GitLab's dotenv report).
    #[arg(long, value_name = "FILE", env = "DAGSTER_DOTENV")]
    pub(super) dotenv: Option<PathBuf>,
    /// Do not comment on the pull/merge request.
    #[arg(long, env = "DAGSTER_NO_COMMENT")]
    pub(super) no_comment: bool,
    /// Do not create GitHub deployments (the pull request's "View
    /// deployment" link; needs `deployments: write`).
    #[arg(long, env = "DAGSTER_NO_GITHUB_DEPLOYMENT")]
    pub(super) no_github_deployment: bool,
    /// Fail, rather than skip with a notice, when a fork's or Dependabot's
    /// pull request run has no Dagster+ token (any other run without one fails).
    #[arg(long, env = "DAGSTER_FAIL_WITHOUT_CREDENTIALS")]
    pub(super) fail_without_credentials: bool,
    /// Deploy pull requests from forks. Dangerous with pull_request_target or
    /// workflow_run: the fork's code is built with your secrets at hand.
    #[arg(long, env = "DAGSTER_ALLOW_FORK")]
    pub(super) allow_fork: bool,
}

#[derive(Args)]
pub(super) struct SweepArgs {
    #[command(flatten)]
    pub(super) dagster: DagsterArgs,
    /// The checkout, for the repository's name outside CI.
    #[arg(long, value_name = "DIR", default_value = ".", env = "DAGSTER_PROJECT_DIR")]
    pub(super) project_dir: PathBuf,
    /// Also close branch deployments whose latest commit is at least this
    /// many days old, their pull request still open (a new push opens them
    /// again); 0 turns it off.
    #[arg(long, value_name = "DAYS", env = "DAGSTER_IDLE_DAYS", value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub(super) idle_days: Option<u32>,
    /// Also close branch deployments whose pull/merge request, still open,
    /// does not have this label (what deploy --require-label deploys).
    #[arg(long, value_name = "NAME", env = "DAGSTER_REQUIRE_LABEL")]
    pub(super) require_label: Option<String>,
    /// Delete them rather than mark them.
    #[arg(long, env = "DAGSTER_DELETE_ON_CLOSE")]
    pub(super) delete: bool,
    /// Say what would be done; change nothing.
    #[arg(long, env = "DAGSTER_DRY_RUN")]
    pub(super) dry_run: bool,
    /// Do not update the pull/merge request's comment when closing its
    /// branch deployment.
    #[arg(long, env = "DAGSTER_NO_COMMENT")]
    pub(super) no_comment: bool,
    /// The most branch deployments to list.
    #[arg(long, value_name = "N", default_value = "500", value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub(super) limit: u32,
    /// Print the result as JSON on stdout, and no progress.
    #[arg(long, env = "DAGSTER_JSON")]
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    pub(super) project: ProjectArgs,
    #[command(flatten)]
    pub(super) dagster: DagsterArgs,
    /// A registry to reach over plain HTTP (loopback registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST", env = "DAGSTER_INSECURE_REGISTRIES", value_delimiter = ',')]
    pub(super) insecure_registries: Vec<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct BuildArgs {
    #[command(flatten)]
    pub(super) project: ProjectArgs,
    #[command(flatten)]
    pub(super) image: ImageArgs,
    /// Build only this location (repeat for several; default: all).
    #[arg(long = "location", value_name = "NAME")]
    pub(super) locations: Vec<String>,
    /// The image tag (default: <location>-<commit sha, 12 characters>).
    #[arg(long, value_name = "TAG")]
    pub(super) tag: Option<String>,
    /// Write an OCI image layout per location into DIR/<location>.
    #[arg(long, value_name = "DIR")]
    pub(super) output_dir: Option<PathBuf>,
    /// Do not push (needs --output-dir); registries are only read.
    #[arg(long, requires = "output_dir")]
    pub(super) no_push: bool,
    /// Do not contact any registry (needs --no-push): build only the code
    /// layers, without reading the base image.
    #[arg(long, requires = "no_push")]
    pub(super) offline: bool,
    /// Set a build argument declared with ARG in the Dockerfiles (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    pub(super) build_args: Vec<(String, String)>,
    /// Print the result as JSON on stdout, and no progress.
    #[arg(long)]
    pub(super) json: bool,
}

pub(super) fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}
