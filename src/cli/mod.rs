//! The command line: the flags (in `args`) resolved once into each
//! command's settings, the dispatch to each subcommand, and how results and
//! errors are printed (`error: …` on one line with every cause,
//! exit status 1; usage errors 2).

mod args;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;

use crate::build::{self, Options};
use crate::config::Project;
use crate::dagster::PullRequestStatus;
use crate::deploy::{self, CloseRequest, DeployOptions, RunStatus, Task};
use crate::env::Env;
use crate::image::platform::TargetPlatform;
use crate::plan::Settings;
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::registry::pool::Services;
use crate::sweep::SweepOptions;
use args::{
    BuildArgs, CheckArgs, Cli, CloseArgs, CloseStatus, Command, DagsterArgs, DeployArgs, ProjectArgs, RunArgs,
    SweepArgs,
};

/// Runs the program; returns the exit status.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = Cli::parse_from(args);
    let env = Env::from_process();
    let json = match &cli.command {
        Command::Deploy(a) => a.run.json,
        Command::Close(a) => a.run.json,
        Command::Check(a) => a.json,
        Command::Sweep(a) => a.json,
        Command::Build(a) => a.json,
    };
    let result = match cli.command {
        Command::Deploy(args) => deploy_command(args, env),
        Command::Close(args) => close_command(args, env),
        Command::Check(args) => check_command(args, env),
        Command::Sweep(args) => sweep_command(args, env),
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
    let task = Task::Deploy(Box::new(DeployOptions {
        locations,
        offline: args.offline,
        output_dir: args.output_dir,
        wait: !args.no_wait,
        redeploy_all: args.redeploy_all,
        wait_options,
        heartbeat_timeout_given: heartbeat_given,
        platforms: TargetPlatform::parse_list(&args.image.platform).context("--platform")?,
        insecure_registries: args.image.insecure_registries,
        base_image: args.image.base_image,
        external: args.image.external,
    }));
    let settings = Settings {
        deployment_named: args.deployment.is_some(),
        deployment: args.deployment.unwrap_or_else(|| "prod".into()),
        base_deployment: args.base_deployment_name,
        snapshot_base_condition: args.snapshot_base_condition,
        branch_deployment: args.branch_deployment,
        delete_on_close: args.delete_on_close,
        allow_fork: args.run.allow_fork,
        require_label: args.require_label.filter(|l| !l.trim().is_empty()),
    };
    let options = shared_options(args.project, args.dagster, args.run, args.dry_run, settings, task);
    let outcome = deploy::run(&options, env)?;
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
    let status = args.status.map(|s| match s {
        CloseStatus::Closed => PullRequestStatus::Closed,
        CloseStatus::Merged => PullRequestStatus::Merged,
    });
    let settings = Settings::closing(args.delete, args.run.allow_fork);
    let task = Task::Close(CloseRequest { status });
    let options = shared_options(args.project, args.dagster, args.run, args.dry_run, settings, task);
    let outcome = deploy::run(&options, env)?;
    print_outcome(&outcome, options.json)
}

/// The options of `deploy` and `close`, from the flags they share.
fn shared_options(
    project: ProjectArgs,
    dagster: DagsterArgs,
    run: RunArgs,
    dry_run: bool,
    settings: Settings,
    task: Task,
) -> deploy::Options {
    deploy::Options {
        project_dir: project.project_dir,
        config_file: project.dagster_cloud_yaml_path,
        settings,
        organization: dagster.organization,
        url: dagster.url,
        dry_run,
        json: run.json,
        dotenv: run.dotenv,
        comment: !run.no_comment,
        github_deployment: !run.no_github_deployment,
        fail_without_credentials: run.fail_without_credentials,
        task,
    }
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

fn sweep_command(args: SweepArgs, env: Env) -> Result<i32> {
    let options = SweepOptions {
        project_dir: args.project_dir,
        organization: args.dagster.organization,
        url: args.dagster.url,
        idle_days: args.idle_days.filter(|days| *days > 0),
        require_label: args.require_label.filter(|name| !name.trim().is_empty()),
        delete: args.delete,
        dry_run: args.dry_run,
        comment: !args.no_comment,
        limit: args.limit,
        json: args.json,
    };
    let outcome = crate::sweep::run(&options, &env)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    }
    let failed = outcome.deployments.iter().filter(|d| d.error.is_some()).count();
    if failed > 0 {
        eprintln!("error: {failed} branch deployment(s) could not be closed");
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
    let platforms = TargetPlatform::parse_list(&args.image.platform).context("--platform")?;
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
        platforms,
        tag: args.tag,
        output_dir: args.output_dir,
        push: !args.no_push,
        offline: args.offline,
        build_args: args.build_args,
        base_image: args.image.base_image,
        external: args.image.external,
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
