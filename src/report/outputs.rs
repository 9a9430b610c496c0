//! What a run leaves for the steps after it: GitHub's step outputs
//! (`deployment`, `url`, `images`, `status`) and step summary, GitLab's
//! dotenv report (`DAGSTER_DEPLOYMENT`, `DAGSTER_DEPLOYMENT_URL`), and, when
//! the run ends in an error, `status=failed` with one `::error`. A failure
//! to write any of them is a warning, never a failed deploy.

use std::collections::BTreeMap;
use std::path::Path;

use super::comment::{Report, summary};
use super::{github, gitlab};
use crate::env::Env;
use crate::progress::Progress;

/// The values a run reports.
pub(crate) struct RunOutputs<'a> {
    pub(crate) deployment: Option<&'a str>,
    pub(crate) url: Option<&'a str>,
    /// Location → image reference by digest.
    pub(crate) images: &'a BTreeMap<String, String>,
    /// `deployed`, `closed`, `merged`, `skipped` or `failed`.
    pub(crate) status: &'a str,
}

/// Writes the step outputs (on GitHub) and the dotenv report (when asked
/// for and there is a deployment).
pub(crate) fn write(env: &Env, progress: &Progress, dotenv: Option<&Path>, outputs: &RunOutputs) {
    if let Some(path) = env.get("GITHUB_OUTPUT") {
        let images = serde_json::to_string(outputs.images).unwrap_or_else(|_| "{}".into());
        let values = [
            ("deployment", outputs.deployment.unwrap_or_default().to_string()),
            ("url", outputs.url.unwrap_or_default().to_string()),
            ("images", images),
            ("status", outputs.status.to_string()),
        ];
        warn_on_error(progress, github::write_outputs(path, &values));
    }
    if let (Some(path), Some(deployment)) = (dotenv, outputs.deployment) {
        let vars = [
            ("DAGSTER_DEPLOYMENT", deployment.to_string()),
            ("DAGSTER_DEPLOYMENT_URL", outputs.url.unwrap_or_default().to_string()),
        ];
        warn_on_error(progress, gitlab::write_dotenv(path, &vars));
    }
}

/// Appends the report to the GitHub step summary, if there is one.
pub(crate) fn write_summary(env: &Env, progress: &Progress, report: &Report) {
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY") {
        warn_on_error(progress, github::write_summary(path, &summary(report)));
    }
}

/// Reports a run that ended in an error: `status=failed` in the step
/// outputs and one `::error` annotation (the caller prints the error).
pub(crate) fn write_failure(env: &Env, progress: &Progress, error: &anyhow::Error) {
    progress.annotate(&github::error_annotation("dagster-branch-deploy", &format!("{error:#}")));
    if let Some(path) = env.get("GITHUB_OUTPUT") {
        warn_on_error(progress, github::write_outputs(path, &[("status", "failed".to_string())]));
    }
}

fn warn_on_error(progress: &Progress, result: anyhow::Result<()>) {
    if let Err(e) = result {
        progress.warn(format!("{e:#}"));
    }
}
