//! GitHub Actions: the event payload at `GITHUB_EVENT_PATH` is the source of
//! truth for pull requests (head ref and sha; `GITHUB_SHA` is the merge
//! commit), the `GITHUB_*` variables for the rest.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{ChangeRequest, Context, Event, Provider, ReviewApi, owner_of};
use crate::env::Env;

pub fn context(env: &Env, read_event: &dyn Fn(&str) -> Result<String>) -> Result<Context> {
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
    let mut context = Context {
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
        "pull_request" | "pull_request_target" => pull_request(&mut context, &payload, &event_name)?,
        "push" => push(&mut context, &payload, env),
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

fn pull_request(context: &mut Context, payload: &Value, event_name: &str) -> Result<()> {
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
    context.branch = pr["head"]["ref"].as_str().map(str::to_string);
    context.commit = pr["head"]["sha"].as_str().map(str::to_string);
    context.change_request = Some(ChangeRequest {
        number,
        url: pr["html_url"].as_str().unwrap_or_default().to_string(),
        base_branch: pr["base"]["ref"].as_str().map(str::to_string),
        from_fork,
    });
    context.event = match action {
        "opened" | "reopened" | "synchronize" | "ready_for_review" => Event::ChangeRequestOpen,
        "closed" => Event::ChangeRequestClosed { merged: pr["merged"].as_bool() == Some(true) },
        other => Event::Ignored {
            reason: format!(
                "pull request #{number} was {}; deployments follow opened, reopened, synchronize and closed",
                other.replace('_', " ")
            ),
        },
    };
    Ok(())
}

fn push(context: &mut Context, payload: &Value, env: &Env) {
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
