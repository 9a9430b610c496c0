//! Closing: the branch deployment marked CLOSED or MERGED (and deleted
//! with `--delete`), the comment saying so, and the pull request's GitHub
//! deployment marked inactive.

use anyhow::{Context, Result};

use super::execute::{Reporters, Run};
use super::{Outcome, RunStatus, locations_url};
use crate::ci::Event;
use crate::dagster::{self, BranchData, CommitData, PullRequestStatus};
use crate::plan::Decision;
use crate::report::comment::{Headline, Report, comment};
use crate::report::github;
use crate::report::outputs::write_summary;

impl Run<'_> {
    pub(super) fn close(
        &self,
        decision: &Decision,
        reporters: &Reporters,
        branch_data: &BranchData,
        commit: &CommitData,
        status: PullRequestStatus,
        delete: bool,
    ) -> Outcome {
        let result = (|| -> Result<String> {
            let variables = dagster::upsert_variables(branch_data, commit, None, None);
            let name = dagster::upsert_branch_deployment(&self.client, variables)
                .with_context(|| format!("marking the branch deployment {status:?}"))?;
            if delete {
                dagster::delete_branch_deployment(&self.client, &name).with_context(|| format!("deleting {name}"))?;
            }
            Ok(name)
        })();
        let merged = status == PullRequestStatus::Merged;
        match result {
            Ok(name) => {
                let what = if delete { "deleted" } else { "marked closed" };
                self.progress.info(format!("branch deployment {name} {what}"));
                let mut report = Report {
                    headline: match (merged, &self.context.event) {
                        (true, _) => Headline::Merged,
                        (false, Event::ChangeRequestLabeled { .. }) => Headline::Unlabeled,
                        (false, _) => Headline::Closed,
                    },
                    deployment: Some(name.clone()),
                    url: (!delete).then(|| locations_url(self.org_url, &name)),
                    branch: true,
                    commit: self.context.commit.clone(),
                    base: None,
                    rows: Vec::new(),
                    run_url: self.context.run_url.clone(),
                    deleted: delete,
                    merge_request: self.context.provider == crate::ci::Provider::GitLab,
                };
                reporters.comment(comment(&report));
                if let Some(number) = self.context.change_request.as_ref().map(|c| c.number) {
                    reporters.deactivate(number);
                }
                report.run_url = None;
                write_summary(self.env, self.progress, &report);
                let mut outcome =
                    Outcome::new(if merged { RunStatus::Merged } else { RunStatus::Closed }, decision.reason.clone());
                outcome.url = report.url;
                outcome.deployment = Some(name);
                outcome
            }
            Err(e) => {
                let message = format!("{e:#}");
                self.progress.annotate(&github::error_annotation("dagster-branch-deploy", &message));
                let mut outcome = Outcome::new(RunStatus::Failed, decision.reason.clone());
                outcome.error = Some(message);
                outcome
            }
        }
    }
}
