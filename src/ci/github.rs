//! GitHub Actions: the event payload at `GITHUB_EVENT_PATH` is the source of
//! truth for pull requests (head ref and sha; `GITHUB_SHA` is the merge
//! commit), the `GITHUB_*` variables for the rest.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{ChangeRequest, CiContext, Event, Provider, ReviewApi, owner_of};
use crate::env::Env;

/// The login Dependabot opens pull requests as.
const DEPENDABOT: &str = "dependabot[bot]";

pub(crate) fn context(env: &Env, read_event: &dyn Fn(&str) -> Result<String>) -> Result<CiContext> {
    let event_name = env.get("GITHUB_EVENT_NAME").unwrap_or("unknown").to_string();
    let payload: Value = match env.get("GITHUB_EVENT_PATH") {
        Some(path) => {
            let text =
                read_event(path).with_context(|| format!("reading the event payload (GITHUB_EVENT_PATH={path})"))?;
            serde_json::from_str(&text).with_context(|| format!("parsing the event payload {path}"))?
        }
        None => Value::Null,
    };
    let repository =
        payload["repository"]["full_name"].as_str().or_else(|| env.get("GITHUB_REPOSITORY")).map(str::to_string);
    let server = env.get("GITHUB_SERVER_URL").unwrap_or("https://github.com").trim_end_matches('/');
    let repo_url = repository.as_ref().map(|r| format!("{server}/{r}"));
    let run_url = match (&repository, env.get("GITHUB_RUN_ID")) {
        (Some(r), Some(id)) => Some(format!("{server}/{r}/actions/runs/{id}")),
        _ => None,
    };
    let review_api = repository.as_ref().map(|r| ReviewApi::GitHub {
        api_url: env.get("GITHUB_API_URL").unwrap_or("https://api.github.com").trim_end_matches('/').to_string(),
        repository: r.clone(),
    });
    let mut context = CiContext {
        provider: Provider::GitHub,
        event_name: event_name.clone(),
        event: Event::Ignored { reason: String::new() },
        repo_owner: repository.as_deref().and_then(owner_of),
        repo_name: repository.clone(),
        repo_url,
        branch: None,
        commit: None,
        change_request: None,
        run_url,
        review_api,
    };
    match event_name.as_str() {
        "pull_request" | "pull_request_target" => pull_request(&mut context, &payload, &event_name, env)?,
        "push" => push(&mut context, &payload, env),
        "workflow_run" => workflow_run(&mut context, &payload)?,
        _ => {
            let branch = env.get("GITHUB_REF_NAME").map(str::to_string);
            let default = payload["repository"]["default_branch"].as_str();
            let is_branch = env.get("GITHUB_REF_TYPE").is_none_or(|t| t == "branch");
            context.event = match (&branch, is_branch) {
                (Some(b), true) => Event::Push { default_branch: default == Some(b.as_str()) },
                _ => Event::Ignored { reason: format!("the {event_name} event names no branch") },
            };
            context.branch = branch;
            context.commit = env.get("GITHUB_SHA").map(str::to_string);
        }
    }
    Ok(context)
}

fn pull_request(context: &mut CiContext, payload: &Value, event_name: &str, env: &Env) -> Result<()> {
    let pr = &payload["pull_request"];
    if !pr.is_object() {
        bail!(
            "the {event_name} event payload has no pull_request object (GITHUB_EVENT_PATH is not a pull request event)"
        );
    }
    let action = payload["action"].as_str().unwrap_or("");
    context.event_name = format!("{event_name} {action}");
    let number =
        pr["number"].as_u64().or_else(|| payload["number"].as_u64()).context("the pull request has no number")?;
    let head_repo = pr["head"]["repo"]["full_name"].as_str();
    let from_fork = pr["head"]["repo"]["fork"].as_bool() == Some(true)
        || head_repo.is_none()
        || head_repo != context.repo_name.as_deref();
    // A fork's branch is named by its label (`owner:branch`), so that it
    // can never take over the branch deployment of a branch of this repository.
    let branch = if from_fork { pr["head"]["label"].as_str() } else { None };
    context.branch = branch.or_else(|| pr["head"]["ref"].as_str()).map(str::to_string);
    context.commit = pr["head"]["sha"].as_str().map(str::to_string);
    let dependabot = |login: Option<&str>| login == Some(DEPENDABOT);
    context.change_request = Some(ChangeRequest {
        number,
        url: pr["html_url"].as_str().unwrap_or_default().to_string(),
        base_branch: pr["base"]["ref"].as_str().map(str::to_string),
        from_fork,
        from_dependabot: dependabot(pr["user"]["login"].as_str()) || dependabot(env.get("GITHUB_ACTOR")),
        labels: pr["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["name"].as_str())
            .map(str::to_string)
            .collect(),
    });
    context.event = match action {
        "opened" | "reopened" | "synchronize" | "ready_for_review" => Event::ChangeRequestOpen,
        "closed" => Event::ChangeRequestClosed { merged: pr["merged"].as_bool() == Some(true) },
        "labeled" | "unlabeled" if pr["state"] != "closed" => Event::ChangeRequestLabeled {
            label: payload["label"]["name"].as_str().unwrap_or_default().to_string(),
            added: action == "labeled",
        },
        other => Event::Ignored {
            reason: format!(
                "pull request #{number} was {}; deployments follow opened, reopened, synchronize and closed",
                other.replace('_', " ")
            ),
        },
    };
    Ok(())
}

/// `workflow_run`: a privileged workflow run after another one. For a run
/// of a pull request the payload names the head repository, branch and
/// commit (a fork's pull request number is not given); for a push, the
/// branch.
fn workflow_run(context: &mut CiContext, payload: &Value) -> Result<()> {
    let run = &payload["workflow_run"];
    if !run.is_object() {
        bail!("the workflow_run event payload has no workflow_run object");
    }
    let triggered_by = run["event"].as_str().unwrap_or("");
    context.event_name = format!("workflow_run after {triggered_by}");
    let branch = run["head_branch"].as_str().map(str::to_string);
    context.commit = run["head_sha"].as_str().map(str::to_string);
    let head_repo = run["head_repository"]["full_name"].as_str();
    match triggered_by {
        "pull_request" | "pull_request_target" => {
            let from_fork = head_repo.is_none() || head_repo != context.repo_name.as_deref();
            let number = run["pull_requests"][0]["number"].as_u64();
            context.branch = match (from_fork, head_repo, &branch) {
                (true, Some(repo), Some(b)) => Some(format!("{}:{b}", repo.split('/').next().unwrap_or(repo))),
                _ => branch,
            };
            let Some(number) = number else {
                context.change_request = Some(ChangeRequest {
                    number: 0,
                    url: String::new(),
                    base_branch: None,
                    from_fork,
                    from_dependabot: false,
                    labels: Vec::new(),
                });
                context.event = Event::Ignored {
                    reason: "the workflow_run payload names no pull request (GitHub leaves it out for forks)".into(),
                };
                return Ok(());
            };
            let url = context.repo_url.as_ref().map(|u| format!("{u}/pull/{number}")).unwrap_or_default();
            let base_branch = run["pull_requests"][0]["base"]["ref"].as_str().map(str::to_string);
            let from_dependabot = run["actor"]["login"].as_str() == Some(DEPENDABOT);
            // The run's payload names no labels: a label gate treats it as unlabeled.
            let labels = Vec::new();
            context.change_request =
                Some(ChangeRequest { number, url, base_branch, from_fork, from_dependabot, labels });
            context.event = Event::ChangeRequestOpen;
        }
        "push" => {
            let default = payload["repository"]["default_branch"].as_str();
            context.event = Event::Push { default_branch: branch.is_some() && default == branch.as_deref() };
            context.branch = branch;
        }
        other => {
            context.event = Event::Ignored { reason: format!("a workflow_run after {other} has nothing to deploy") };
        }
    }
    Ok(())
}

fn push(context: &mut CiContext, payload: &Value, env: &Env) {
    let git_ref = payload["ref"].as_str().or_else(|| env.get("GITHUB_REF")).unwrap_or("");
    context.commit = payload["after"].as_str().or_else(|| env.get("GITHUB_SHA")).map(str::to_string);
    match git_ref.strip_prefix("refs/heads/") {
        Some(_) if payload["deleted"].as_bool() == Some(true) => {
            context.event = Event::Ignored { reason: format!("the push deleted {git_ref}") };
        }
        Some(branch) => {
            let default = payload["repository"]["default_branch"].as_str();
            context.branch = Some(branch.to_string());
            context.event = Event::Push { default_branch: default == Some(branch) };
        }
        None => context.event = Event::Ignored { reason: format!("the push is to {git_ref}, not a branch") },
    }
}
