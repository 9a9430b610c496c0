//! A local run: the checkout's branch and head commit; the repository name
//! from the origin remote.

use super::{CiContext, Event, GitFacts, Provider, owner_of};
use crate::io::git::web_url;

pub(crate) fn context(git: &GitFacts) -> CiContext {
    let repo_url = git.origin_url.as_deref().and_then(web_url);
    let repo_name = repo_url.as_deref().and_then(|u| {
        let path = u.split_once("://")?.1.split_once('/')?.1;
        Some(path.to_string())
    });
    let branch = git.branch.clone().filter(|b| b != "HEAD");
    let default = git.default_branch.clone();
    let event = match &branch {
        Some(b) => Event::Push {
            default_branch: match &default {
                Some(d) => d == b,
                None => b == "main" || b == "master",
            },
        },
        None => Event::Push { default_branch: false },
    };
    CiContext {
        provider: Provider::Local,
        event_name: "checkout".to_string(),
        event,
        repo_owner: repo_name.as_deref().and_then(owner_of),
        repo_name,
        repo_url,
        branch,
        commit: git.head.clone(),
        change_request: None,
        run_url: None,
        review_api: None,
    }
}
