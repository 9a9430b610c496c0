//! Reporting back: the sticky comment on the pull/merge request, GitHub's
//! step outputs, summary and annotations, GitLab's dotenv report. A failure
//! to report never fails the deploy: it becomes a warning.

pub(crate) mod background;
pub(crate) mod comment;
pub(crate) mod deployments;
pub(crate) mod github;
pub(crate) mod gitlab;
pub(crate) mod outputs;
mod sticky;

use std::sync::Mutex;

use crate::auth::Secret;
use crate::ci::{CiContext, ReviewApi};
use crate::env::Env;
use crate::io::http::Http;
use crate::progress::Progress;

/// A pull/merge request as GitHub or GitLab tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestState {
    pub(crate) open: bool,
    pub(crate) merged: bool,
    pub(crate) labels: Vec<String>,
}

/// The token for the provider's API: `GITHUB_TOKEN` (or the action's
/// `github-token` input) on GitHub, `GITLAB_TOKEN` on GitLab.
pub(crate) fn review_token(context: &CiContext, env: &Env) -> Option<Secret> {
    let token = match &context.review_api {
        Some(ReviewApi::GitHub { .. }) => env.first_of(&["GITHUB_TOKEN", "INPUT_GITHUB-TOKEN"]),
        Some(ReviewApi::GitLab { .. }) => env.first_of(&["GITLAB_TOKEN"]),
        None => None,
    };
    token.map(|(_, t)| Secret::new(t))
}

/// Keeps one comment up to date through a run.
pub(crate) struct Commenter<'a> {
    http: &'a dyn Http,
    api: Option<ReviewApi>,
    number: Option<u64>,
    token: Option<Secret>,
    progress: &'a Progress,
    id: Mutex<Option<u64>>,
    notice_given: Mutex<bool>,
}

impl<'a> Commenter<'a> {
    /// A commenter for the context's pull/merge request, with the token the
    /// provider needs (`GITHUB_TOKEN` or the action's `github-token` input on
    /// GitHub, `GITLAB_TOKEN` on GitLab). `enabled == false` turns it off.
    pub(crate) fn new(
        context: &CiContext,
        env: &Env,
        http: &'a dyn Http,
        progress: &'a Progress,
        enabled: bool,
    ) -> Commenter<'a> {
        Commenter {
            http,
            api: context.review_api.clone().filter(|_| enabled),
            number: context.change_request.as_ref().map(|c| c.number),
            token: review_token(context, env),
            progress,
            id: Mutex::new(None),
            notice_given: Mutex::new(false),
        }
    }

    /// Posts or updates the comment; problems become warnings.
    pub(crate) fn post(&self, body: &str) {
        if let Some(number) = self.number {
            self.post_to(number, body, true);
        }
    }

    /// Updates (or posts) the comment on pull/merge request `number`, which
    /// the sweep does for each request it finds closed; `ours` when it is
    /// the run's own request, whose comment id is then remembered.
    pub(crate) fn post_to(&self, number: u64, body: &str, ours: bool) {
        let Some(api) = &self.api else { return };
        let Some(token) = &self.token else {
            let mut given = self.notice_given.lock().expect("notice lock");
            if !*given {
                *given = true;
                self.progress.info(match api {
                    ReviewApi::GitHub { .. } => {
                        "no pull request comment: set GITHUB_TOKEN (the action's github-token input) with pull-requests: write"
                    }
                    ReviewApi::GitLab { .. } => {
                        "no merge request note: set a masked GITLAB_TOKEN variable (a project access token with the api \
                         scope; CI_JOB_TOKEN cannot write notes). The environment link in the merge request still works."
                    }
                });
            }
            return;
        };
        let known = if ours { *self.id.lock().expect("comment id lock") } else { None };
        let result = match api {
            ReviewApi::GitHub { api_url, repository } => {
                github::upsert_comment(self.http, api_url, repository, number, token, known, body)
            }
            ReviewApi::GitLab { api_url, project_id } => {
                gitlab::upsert_note(self.http, api_url, project_id, number, token, known, body)
            }
        };
        match result {
            Ok(id) if ours => *self.id.lock().expect("comment id lock") = Some(id),
            Ok(_) => {}
            Err(e) if ours => self.progress.warn(format!("could not update the comment (the deploy goes on): {e:#}")),
            Err(e) => self.progress.warn(format!("could not update the comment on request {number}: {e:#}")),
        }
    }
}
