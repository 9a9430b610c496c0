//! What `sweep` does with each open branch deployment: mark it MERGED or
//! CLOSED when its pull/merge request is, CLOSED when the request lacks the
//! label `--require-label` names or its latest commit is older than
//! `--idle-days`, else keep it. Pure: the states and times come from the
//! caller.

use serde::Serialize;

use crate::dagster::PullRequestStatus;

/// A pull/merge request's state, as GitHub or GitLab tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub(crate) enum ReviewState {
    Open,
    /// Open, without the label `--require-label` names (given).
    Unlabeled(String),
    Closed,
    Merged,
    /// It could not be read, and why.
    Unknown(String),
}

/// What to do with one branch deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub(crate) enum SweepAction {
    /// Leave it, for this reason.
    Keep { reason: String },
    /// Mark it `status` (and delete it with `--delete`), for this reason.
    Close { status: PullRequestStatus, reason: String },
}

const DAY: f64 = 24.0 * 60.0 * 60.0;

/// The action for a branch deployment whose pull/merge request (`label`,
/// as `#12`) is in `state`, whose latest commit is at `latest` (Unix
/// seconds), at `now`, closing those idle for `idle_days` or more.
pub(crate) fn verdict(
    label: &str,
    state: &ReviewState,
    latest: Option<f64>,
    now: f64,
    idle_days: Option<u32>,
) -> SweepAction {
    match state {
        ReviewState::Merged => {
            return SweepAction::Close { status: PullRequestStatus::Merged, reason: format!("{label} was merged") };
        }
        ReviewState::Closed => {
            return SweepAction::Close { status: PullRequestStatus::Closed, reason: format!("{label} was closed") };
        }
        ReviewState::Unlabeled(name) => {
            return SweepAction::Close {
                status: PullRequestStatus::Closed,
                reason: format!("{label} does not have the label {name}; labelling it deploys it again"),
            };
        }
        ReviewState::Open | ReviewState::Unknown(_) => {}
    }
    let idle = latest.map(|t| ((now - t) / DAY).floor().max(0.0) as u64);
    if let (Some(limit), Some(days)) = (idle_days, idle)
        && days >= u64::from(limit)
    {
        return SweepAction::Close {
            status: PullRequestStatus::Closed,
            reason: format!("no commit for {days} days (--idle-days {limit}); a new push opens it again"),
        };
    }
    let reason = match state {
        ReviewState::Unknown(why) => format!("the state of {label} is unknown ({why})"),
        _ => match idle {
            Some(days) => format!("{label} is open; last commit {days} days ago"),
            None => format!("{label} is open"),
        },
    };
    SweepAction::Keep { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    #[test]
    fn merged_and_closed_requests_close_their_deployment() {
        let merged = verdict("#1", &ReviewState::Merged, Some(NOW), NOW, None);
        assert_eq!(merged, SweepAction::Close { status: PullRequestStatus::Merged, reason: "#1 was merged".into() });
        let closed = verdict("!2", &ReviewState::Closed, None, NOW, Some(30));
        assert_eq!(closed, SweepAction::Close { status: PullRequestStatus::Closed, reason: "!2 was closed".into() });
        let unlabeled = verdict("#5", &ReviewState::Unlabeled("preview".into()), Some(NOW), NOW, None);
        let reason = "#5 does not have the label preview; labelling it deploys it again".to_string();
        assert_eq!(unlabeled, SweepAction::Close { status: PullRequestStatus::Closed, reason });
    }

    #[test]
    fn open_requests_close_only_when_idle_long_enough() {
        let ten_days_ago = Some(NOW - 10.0 * DAY - 5.0);
        let kept = verdict("#3", &ReviewState::Open, ten_days_ago, NOW, Some(11));
        assert_eq!(kept, SweepAction::Keep { reason: "#3 is open; last commit 10 days ago".into() });
        let SweepAction::Close { status, reason } = verdict("#3", &ReviewState::Open, ten_days_ago, NOW, Some(10))
        else {
            panic!("idle for 10 days")
        };
        assert_eq!(status, PullRequestStatus::Closed);
        assert!(reason.starts_with("no commit for 10 days"), "{reason}");
        let unknown = ReviewState::Unknown("404".into());
        assert!(matches!(verdict("#4", &unknown, ten_days_ago, NOW, None), SweepAction::Keep { .. }));
        assert!(matches!(verdict("#4", &unknown, ten_days_ago, NOW, Some(7)), SweepAction::Close { .. }));
    }
}
