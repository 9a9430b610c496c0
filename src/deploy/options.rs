//! What a `deploy` or `close` run is given: the flags and environment,
//! resolved once by `cli` into these options, with the durations checked
//! where they enter.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::dagster::PullRequestStatus;
use crate::dagster::workspace::WaitOptions;
use crate::env::Env;
use crate::image::platform::TargetPlatform;
use crate::plan::Settings;

/// What both commands, `deploy` and `close`, are run with.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) project_dir: PathBuf,
    /// `--dagster-cloud-yaml-path`: the locations file, named.
    pub(crate) config_file: Option<PathBuf>,
    /// What the plan decides with.
    pub(crate) settings: Settings,
    /// `DAGSTER_CLOUD_ORGANIZATION`.
    pub(crate) organization: Option<String>,
    /// `DAGSTER_CLOUD_URL`.
    pub(crate) url: Option<String>,
    /// Print the plan; change nothing.
    pub(crate) dry_run: bool,
    /// JSON on stdout, no progress.
    pub(crate) json: bool,
    /// Where to write GitLab's dotenv report.
    pub(crate) dotenv: Option<PathBuf>,
    /// Whether to comment on the pull/merge request.
    pub(crate) comment: bool,
    /// Whether to create GitHub deployments.
    pub(crate) github_deployment: bool,
    /// Fail, rather than skip, when CI gives no Dagster+ token.
    pub(crate) fail_without_credentials: bool,
    pub(crate) task: Task,
}

/// Which command runs, with what only it needs.
#[derive(Clone, Debug)]
pub(crate) enum Task {
    Deploy(Box<DeployOptions>),
    Close(CloseRequest),
}

/// What only `deploy` needs: the build and the wait.
#[derive(Clone, Debug)]
pub(crate) struct DeployOptions {
    /// Only these locations (default all).
    pub(crate) locations: Vec<String>,
    /// Never contact a registry (dry run).
    pub(crate) offline: bool,
    /// Where to write OCI layouts.
    pub(crate) output_dir: Option<PathBuf>,
    /// Wait for the locations to load.
    pub(crate) wait: bool,
    /// Deploy every location, changed or not.
    pub(crate) redeploy_all: bool,
    pub(crate) wait_options: WaitOptions,
    /// Whether the agent heartbeat timeout was given (else it depends on
    /// the agent type).
    pub(crate) heartbeat_timeout_given: bool,
    /// The image platforms (more than one: an index over them).
    pub(crate) platforms: Vec<TargetPlatform>,
    /// Registries reached over plain HTTP.
    pub(crate) insecure_registries: Vec<String>,
    /// `--base-image`, for locations built from their lock.
    pub(crate) base_image: Option<String>,
    /// `--external`: uv Dockerfiles go to a container builder too.
    pub(crate) external: bool,
}

impl Options {
    /// The deploy settings; `None` when closing.
    pub(crate) fn deploy(&self) -> Option<&DeployOptions> {
        match &self.task {
            Task::Deploy(d) => Some(d),
            Task::Close(_) => None,
        }
    }
}

/// What the `close` command asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CloseRequest {
    /// `--status`, if given.
    pub(crate) status: Option<PullRequestStatus>,
}

/// The longest timeout accepted: a day is longer than any CI job may run.
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// Reads and checks the timeouts (defaults from the environment names the
/// official tooling uses) and the poll interval: whole seconds from 1 to a
/// day, and a finite interval of at least 0.05 s and at most the load
/// timeout. Validated here, once, so no later arithmetic can overflow or
/// wait forever.
pub(crate) fn wait_options_from(env: &Env, load: Option<u64>, poll: f64) -> Result<(WaitOptions, bool)> {
    let seconds = |name: &'static str, given: Option<u64>, default: u64| -> Result<(u64, bool)> {
        let (value, set) = match (given, env.get(name)) {
            (Some(v), _) => (v, true),
            (None, Some(v)) => {
                (v.trim().parse().with_context(|| format!("{name}={v:?} is not a whole number of seconds"))?, true)
            }
            (None, None) => (default, false),
        };
        if !(1..=MAX_TIMEOUT_SECS).contains(&value) {
            let flag = if name == "DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT" { "--location-load-timeout, " } else { "" };
            bail!("the timeout ({flag}{name}) is {value} seconds; it must be between 1 and {MAX_TIMEOUT_SECS} (a day)");
        }
        Ok((value, set))
    };
    let (load, _) = seconds("DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT", load, 3600)?;
    let (heartbeat, given) = seconds("DAGSTER_CLOUD_AGENT_HEARTBEAT_TIMEOUT", None, 120)?;
    if !poll.is_finite() || poll < 0.05 || poll > load as f64 {
        bail!(
            "the poll interval (--poll-interval, DAGSTER_POLL_INTERVAL) is {poll} seconds; it must be a number from \
             0.05 to the location load timeout ({load})"
        );
    }
    Ok((
        WaitOptions {
            location_load_timeout: std::time::Duration::from_secs(load),
            agent_heartbeat_timeout: std::time::Duration::from_secs(heartbeat),
            poll_interval: std::time::Duration::from_secs_f64(poll),
        },
        given,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked_where_they_enter() {
        let env = Env::default();
        let ok = wait_options_from(&env, Some(60), 0.5).unwrap().0;
        assert_eq!(ok.poll_interval, std::time::Duration::from_millis(500));
        for poll in [f64::INFINITY, f64::NAN, 1e19, 1e30, -1.0, 0.0, 61.0] {
            let err = wait_options_from(&env, Some(60), poll).unwrap_err().to_string();
            assert!(err.contains("poll interval"), "{poll}: {err}");
        }
        assert!(wait_options_from(&env, Some(0), 0.5).is_err());
        assert!(wait_options_from(&env, Some(u64::MAX), 0.5).is_err());
        let env = Env::from_pairs([("DAGSTER_CLOUD_AGENT_HEARTBEAT_TIMEOUT", "18446744073709551615")]);
        assert!(wait_options_from(&env, None, 3.0).unwrap_err().to_string().contains("between 1 and"));
    }
}
