//! The command line: flags (each with its environment variable), the
//! dispatch to each subcommand, and how results and errors are printed
//! (`error: …` on one line with every cause, exit status 1; usage errors 2).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::build::{self, Options, Provenance, Services};
use crate::config::Project;
use crate::env::Env;
use crate::image::platform::TargetPlatform;
use crate::io::http::UreqHttp;
use crate::progress::Progress;

/// Dagster+ branch deployments from CI: build, push, deploy.
#[derive(Parser)]
#[command(name = "dagster-branch-deploy", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build each code location's image and push it to its registry.
    ///
    /// Dockerfiles that only set metadata and COPY local files onto a base
    /// image are built natively, with no daemon: only the base's config is
    /// read, and only new layers are uploaded. Others are handed to docker
    /// buildx, podman or buildah.
    Build(BuildArgs),
}

#[derive(Args)]
struct BuildArgs {
    /// The project directory, holding dagster_cloud.yaml or build.yaml.
    #[arg(long, value_name = "DIR", default_value = ".", env = "DAGSTER_PROJECT_DIR")]
    project_dir: PathBuf,
    /// Build only this location (repeat for several; default: all).
    #[arg(long = "location", value_name = "NAME")]
    locations: Vec<String>,
    /// The platform to build for.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64", env = "DAGSTER_BUILD_PLATFORM")]
    platform: String,
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
    /// Print the result as JSON on stdout, and no progress.
    #[arg(long)]
    json: bool,
    /// A registry to reach over plain HTTP (loopback registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST", env = "DAGSTER_INSECURE_REGISTRIES", value_delimiter = ',')]
    insecure_registries: Vec<String>,
}

/// Runs the program; returns the exit status.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = Cli::parse_from(args);
    let env = Env::from_process();
    let result = match cli.command {
        Command::Build(args) => build_command(args, env),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn build_command(args: BuildArgs, env: Env) -> Result<()> {
    let progress = Progress::new(&env, args.json);
    let platform = TargetPlatform::parse(&args.platform).context("--platform")?;
    let project = Project::load(&args.project_dir)?;
    let locations = project.select(&args.locations)?;
    if args.tag.is_some() {
        let mut seen = std::collections::HashSet::new();
        for l in &locations {
            if let Some(r) = &l.registry
                && !seen.insert(r)
            {
                bail!(
                    "--tag would give two locations the same image {r}:{}; build them one at a time",
                    args.tag.as_deref().unwrap_or("")
                );
            }
        }
    }
    let provenance = Provenance::detect(&env, &project.root)?;
    let http = Arc::new(UreqHttp::new(concat!("dagster-branch-deploy/", env!("CARGO_PKG_VERSION")))?);
    let services = Services::new(http, env, progress, args.insecure_registries);
    let options =
        Options { platform, tag: args.tag, output_dir: args.output_dir, push: !args.no_push, offline: args.offline };
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
            println!(
                "{}\t{}\t{}\t{:.2}s",
                r.location,
                serde_json::to_value(r.build)?.as_str().unwrap_or(""),
                what.unwrap_or_default(),
                r.seconds
            );
        }
    }
    Ok(())
}
