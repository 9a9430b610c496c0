//! Opt-in previews (`--require-label NAME`): a pull/merge request without
//! the label gets no branch deployment; adding the label deploys it,
//! removing it closes its branch deployment. Label names compare without
//! case, as GitHub and GitLab compare them.

use anyhow::Result;

use super::{Action, Decision, branch_action, branch_and_commit, change_request_label};
use crate::ci::{CiContext, Event};
use crate::dagster::PullRequestStatus;
use crate::io::git::Commit;

/// The decision when the label decides it; `None` to decide as usual.
pub(super) fn gate(
    context: &CiContext,
    settings: &super::Settings,
    required: &str,
    commit: Option<&Commit>,
    now: f64,
) -> Result<Option<Decision>> {
    let Some(change_request) = &context.change_request else { return Ok(None) };
    let has_label = change_request.labels.iter().any(|l| l.eq_ignore_ascii_case(required));
    let what = change_request_label(context);
    let skip = |reason: String| Ok(Some(Decision { action: Action::Skip, reason }));
    match &context.event {
        Event::ChangeRequestOpen | Event::ChangeRequestClosed { .. } if has_label => Ok(None),
        Event::ChangeRequestOpen => {
            skip(format!("{what} has no label {required:?} (--require-label): no preview; add the label to deploy it"))
        }
        Event::ChangeRequestClosed { .. } => {
            skip(format!("{what} never had the label {required:?}: no preview to close"))
        }
        Event::ChangeRequestLabeled { label, added } if label.eq_ignore_ascii_case(required) => {
            if *added {
                let reason = format!("{what} was labeled {required:?}: deploying its preview");
                return Ok(Some(Decision { action: branch_action(context, settings, commit, now)?, reason }));
            }
            let status = PullRequestStatus::Closed;
            let (branch_data, commit) = branch_and_commit(context, Some(status), commit, now)?;
            let action = Action::Close { branch_data, commit, status, delete: settings.delete_on_close };
            Ok(Some(Decision { action, reason: format!("the label {required:?} was removed from {what}") }))
        }
        Event::ChangeRequestLabeled { label, added } => {
            let verb = if *added { "labeled" } else { "unlabeled" };
            skip(format!("{what} was {verb} {label:?}, not {required:?}: nothing to do"))
        }
        Event::Push { .. } | Event::Ignored { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{context, settings};
    use super::*;

    fn decide(event: Event, labels: &[&str]) -> Decision {
        let mut c = context(event);
        c.change_request.as_mut().unwrap().labels = labels.iter().map(|l| l.to_string()).collect();
        let s = super::super::Settings { require_label: Some("Preview".into()), ..settings() };
        super::super::decide(&c, &s, None, 0.0).unwrap()
    }

    #[test]
    fn only_labeled_pull_requests_get_a_preview() {
        assert!(matches!(decide(Event::ChangeRequestOpen, &["preview"]).action, Action::BranchDeployment { .. }));
        let d = decide(Event::ChangeRequestOpen, &["bug"]);
        assert!(matches!(d.action, Action::Skip));
        assert!(d.reason.contains("has no label \"Preview\""), "{}", d.reason);
        assert!(matches!(decide(Event::ChangeRequestClosed { merged: true }, &[]).action, Action::Skip));
        assert!(matches!(
            decide(Event::ChangeRequestClosed { merged: true }, &["preview"]).action,
            Action::Close { status: PullRequestStatus::Merged, .. }
        ));
    }

    #[test]
    fn adding_the_label_deploys_and_removing_it_closes() {
        let added = decide(Event::ChangeRequestLabeled { label: "preview".into(), added: true }, &["preview"]);
        assert!(matches!(added.action, Action::BranchDeployment { .. }), "{added:?}");
        let removed = decide(Event::ChangeRequestLabeled { label: "Preview".into(), added: false }, &[]);
        assert!(matches!(removed.action, Action::Close { status: PullRequestStatus::Closed, .. }), "{removed:?}");
        let other = decide(Event::ChangeRequestLabeled { label: "bug".into(), added: true }, &["preview", "bug"]);
        assert!(matches!(other.action, Action::Skip));
        assert!(other.reason.contains("was labeled \"bug\", not \"Preview\""), "{}", other.reason);
    }
}
