//! GitHub Deployments: the pull request's "View deployment" link and the
//! repository's environments page. A deploy creates a deployment for the
//! commit it deploys, with statuses `in_progress`, then `success` (with the
//! branch deployment's URL) or `failure`; closing marks the pull request's
//! latest deployment `inactive`.
//!
//! Every pull request shares one environment, [`BRANCH_ENVIRONMENT`], and
//! its deployments are transient: GitHub creates an environment for every
//! new name and never removes one, so one per pull request piles up, while
//! transient deployments in one environment do not deactivate each other.
//! The full deployment gets `dagster-<deployment>`, a production
//! environment. Like the comment, this never fails a deploy: without
//! `deployments: write` there is one notice, and nothing more is tried.

use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::github::request;
use crate::auth::Secret;
use crate::ci::{CiContext, ReviewApi};
use crate::env::Env;
use crate::io::http::{Body, Http, Response, redact_url};
use crate::progress::Progress;
use crate::text::shorten;

/// The environment every pull request's deployment goes to.
pub(crate) const BRANCH_ENVIRONMENT: &str = "dagster-branch-deployment";

/// GitHub caps a status description at 140 characters.
const DESCRIPTION_CHARS: usize = 140;

/// What is being deployed.
pub(crate) struct Target {
    /// The commit deployed.
    pub(crate) sha: String,
    /// The pull request, for a branch deployment; `None` for the full one.
    pub(crate) pull_request: Option<u64>,
    /// The full deployment's name (for its environment).
    pub(crate) deployment: String,
}

/// A deploy's GitHub deployment, kept through a run.
pub(crate) struct Deployments<'a> {
    api: Option<(String, String)>,
    token: Option<Secret>,
    http: &'a dyn Http,
    progress: &'a Progress,
    run_url: Option<String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The deployment created by this run.
    id: Option<u64>,
    /// Set once GitHub refused: nothing more is tried.
    refused: bool,
}

impl<'a> Deployments<'a> {
    /// Deployments for the context's repository, when on GitHub with a token.
    pub(crate) fn new(context: &CiContext, env: &Env, http: &'a dyn Http, progress: &'a Progress) -> Deployments<'a> {
        let api = match &context.review_api {
            Some(ReviewApi::GitHub { api_url, repository }) => Some((api_url.clone(), repository.clone())),
            _ => None,
        };
        let token = env.first_of(&["GITHUB_TOKEN", "INPUT_GITHUB-TOKEN"]).map(|(_, t)| Secret::new(t));
        Deployments {
            api,
            token,
            http,
            progress,
            run_url: context.run_url.clone(),
            state: Mutex::new(State::default()),
        }
    }

    /// Turned off (`--no-github-deployment`).
    pub(crate) fn disabled(mut self) -> Deployments<'a> {
        self.api = None;
        self
    }

    /// Creates the deployment for `target` and marks it `in_progress`.
    pub(crate) fn start(&self, target: &Target) {
        let body = match target.pull_request {
            Some(number) => json!({
                "ref": target.sha,
                "environment": BRANCH_ENVIRONMENT,
                "transient_environment": true,
                "production_environment": false,
                "auto_merge": false,
                "required_contexts": [],
                "description": format!("Dagster+ branch deployment of pull request #{number}"),
                "payload": { "pull_request": number },
            }),
            None => json!({
                "ref": target.sha,
                "environment": format!("dagster-{}", target.deployment),
                "transient_environment": false,
                "production_environment": true,
                "auto_merge": false,
                "required_contexts": [],
                "description": format!("Dagster+ deployment {}", target.deployment),
                "payload": {},
            }),
        };
        let created = self
            .call("POST", "deployments", body, 201)
            .and_then(|reply| reply["id"].as_u64().context("GitHub created a deployment without an id"));
        match created {
            Ok(id) => {
                self.state.lock().expect("deployments lock").id = Some(id);
                self.status(id, "in_progress", None, "Building and deploying");
            }
            Err(e) => self.problem(e),
        }
    }

    /// Ends this run's deployment: `success` with the deployment's URL, or
    /// `failure`.
    pub(crate) fn finish(&self, ok: bool, url: Option<&str>, description: &str) {
        let Some(id) = self.state.lock().expect("deployments lock").id else { return };
        self.status(id, if ok { "success" } else { "failure" }, url, description);
    }

    /// Marks pull request `number`'s latest deployment `inactive` (GitHub
    /// shows a transient one as destroyed).
    pub(crate) fn deactivate(&self, number: u64) {
        let found = self.call_get(&format!("deployments?environment={BRANCH_ENVIRONMENT}&per_page=100")).map(|list| {
            list.as_array()
                .into_iter()
                .flatten()
                .find(|d| d["payload"]["pull_request"].as_u64() == Some(number))
                .and_then(|d| d["id"].as_u64())
        });
        match found {
            Ok(Some(id)) => self.status(id, "inactive", None, "The pull request was closed"),
            Ok(None) => {}
            Err(e) => self.problem(e),
        }
    }

    fn status(&self, id: u64, state: &str, url: Option<&str>, description: &str) {
        let mut body = json!({ "state": state, "description": shorten(description, DESCRIPTION_CHARS) });
        if let Some(url) = url {
            body["environment_url"] = json!(url);
        }
        if let Some(log) = &self.run_url {
            body["log_url"] = json!(log);
        }
        if let Err(e) = self.call("POST", &format!("deployments/{id}/statuses"), body, 201) {
            self.problem(e);
        }
    }

    fn call(&self, method: &'static str, path: &str, body: Value, expect: u16) -> Result<Value> {
        let (url, token) = self.endpoint(path)?;
        let request = request(method, &url, &token).header("content-type", "application/json");
        let response = self.http.send(&request.body(Body::Bytes(serde_json::to_vec(&body)?)))?;
        read(response, method, &url, expect)
    }

    fn call_get(&self, path: &str) -> Result<Value> {
        let (url, token) = self.endpoint(path)?;
        read(self.http.send(&request("GET", &url, &token))?, "GET", &url, 200)
    }

    /// The URL and token, unless turned off or refused before.
    fn endpoint(&self, path: &str) -> Result<(String, Secret)> {
        let (Some((api, repository)), Some(token)) = (&self.api, &self.token) else { bail!(Skipped) };
        if self.state.lock().expect("deployments lock").refused {
            bail!(Skipped);
        }
        Ok((format!("{api}/repos/{repository}/{path}"), token.clone()))
    }

    /// One notice when the token may not write deployments; a warning for
    /// anything else.
    fn problem(&self, e: anyhow::Error) {
        if e.is::<Skipped>() {
            return;
        }
        let mut state = self.state.lock().expect("deployments lock");
        if state.refused {
            return;
        }
        let text = format!("{e:#}");
        // GitHub answers 403 (or 404, hiding the repository) to a token
        // without the permission.
        if e.downcast_ref::<Refused>().is_some_and(|r| matches!(r.status, 403 | 404)) {
            state.refused = true;
            self.progress.notice(&format!(
                "no GitHub deployment: the token cannot write deployments ({}). Give the workflow `permissions: \
                 deployments: write` to show the preview on the pull request, or set github-deployment: false",
                shorten(&text, 300)
            ));
        } else {
            self.progress.warn(format!("could not update the GitHub deployment: {}", shorten(&text, 500)));
        }
    }
}

/// Deployments are off, or were refused: not an error worth a word.
#[derive(Debug)]
struct Skipped;

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitHub deployments are off")
    }
}

impl std::error::Error for Skipped {}

/// GitHub answered another status than the call expects.
#[derive(Debug)]
struct Refused {
    status: u16,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

fn read(response: Response, method: &str, url: &str, expect: u16) -> Result<Value> {
    let status = response.status;
    if status != expect {
        let message = format!("{method} {} answered {status}: {}", redact_url(url), response.excerpt(300));
        return Err(Refused { status, message }.into());
    }
    serde_json::from_slice(&response.read_limited(4 << 20)?)
        .with_context(|| format!("{method} {}: the reply is not JSON", redact_url(url)))
}
