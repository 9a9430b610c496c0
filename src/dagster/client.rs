//! The GraphQL client: the organization URL (`DAGSTER_CLOUD_URL`, else
//! `https://{org}.dagster.cloud`), the two scopes (organization:
//! `{url}/graphql`; deployment: `{url}/{deployment}/graphql` with the
//! `Dagster-Cloud-Deployment` header), the API token header, retries by the
//! shared policy ([`crate::io::retry`]), the maintenance reply, and any
//! `errors` key treated as a failure whatever the HTTP status.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::documents::operation_name;
use crate::auth::Secret;
use crate::io::http::{Body, Http, Request, Response, redact_url};
use crate::io::retry::{Policy, RETRIES};
use crate::progress::Progress;
use crate::text::shorten;

/// Which Dagster+ statuses are worth another try.
const RETRY: Policy = Policy::DAGSTER;
/// The longest this client waits out a maintenance window in one run.
const MAINTENANCE_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How much of a GraphQL error reply reaches messages: a hostile or broken
/// server may send megabytes.
const MAX_ERRORS_SHOWN: usize = 5;
const MAX_ERROR_CHARS: usize = 500;

/// Which endpoint a request goes to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    /// `{url}/graphql`, no deployment.
    Organization,
    /// `{url}/{deployment}/graphql` with the deployment header.
    Deployment(&'a str),
}

/// A request as the dry run shows it: secrets redacted.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ShownRequest {
    pub(crate) operation: String,
    pub(crate) url: String,
    /// Headers, the token redacted.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) variables: Value,
}

/// A Dagster+ GraphQL client.
pub(crate) struct Client {
    http: Arc<dyn Http>,
    url: String,
    token: Secret,
    progress: Progress,
}

/// The organization URL: `DAGSTER_CLOUD_URL` as given, else from the
/// organization name.
pub(crate) fn organization_url(url: Option<&str>, organization: Option<&str>) -> Result<String> {
    match (url, organization) {
        (Some(url), _) => Ok(url.trim_end_matches('/').to_string()),
        (None, Some(org)) => Ok(format!("https://{org}.dagster.cloud")),
        (None, None) => bail!(
            "set the Dagster+ organization: DAGSTER_CLOUD_ORGANIZATION (or --organization), or the full URL in \
             DAGSTER_CLOUD_URL (https://<org>.dagster.cloud; https://<org>.eu.dagster.cloud in the EU)"
        ),
    }
}

impl Client {
    /// A client for the organization at `url`.
    pub(crate) fn new(http: Arc<dyn Http>, url: String, token: Secret, progress: Progress) -> Client {
        Client { http, url, token, progress }
    }

    /// The URL and headers of a request in `scope`.
    pub(crate) fn endpoint(url: &str, scope: Scope) -> (String, Vec<(String, String)>) {
        match scope {
            Scope::Organization => (format!("{url}/graphql"), Vec::new()),
            Scope::Deployment(d) => {
                (format!("{url}/{d}/graphql"), vec![("Dagster-Cloud-Deployment".to_string(), d.to_string())])
            }
        }
    }

    /// How the request would look, for the dry run.
    pub(crate) fn show(url: &str, scope: Scope, document: &str, variables: Value) -> ShownRequest {
        let (url, mut headers) = Client::endpoint(&redact_url(url), scope);
        headers.insert(0, ("Dagster-Cloud-Api-Token".to_string(), "(redacted)".to_string()));
        ShownRequest { operation: operation_name(document).to_string(), url, headers, variables }
    }

    /// Sends one operation; returns its `data`.
    pub(crate) fn request(&self, scope: Scope, document: &str, variables: Value) -> Result<Value> {
        let operation = operation_name(document);
        let (url, headers) = Client::endpoint(&self.url, scope);
        let body = serde_json::to_vec(&json!({ "query": document, "variables": variables }))?;
        let mut request = Request::new("POST", &url)
            .header("Dagster-Cloud-Api-Token", self.token.expose())
            .header("content-type", "application/json")
            .body(Body::Bytes(body));
        for (k, v) in headers {
            request = request.header(&k, v);
        }
        let step = format!("{operation} at {}", redact_url(&url));
        // A mutation whose exchange broke off may have been applied: only
        // queries are sent again after that (as the official CLI does).
        let is_query = document.trim_start().starts_with("query");
        let mut maintenance = Duration::ZERO;
        loop {
            let response = self.send_retrying(&request, &step, is_query)?;
            let status = response.status;
            let reply = read_reply(response, &step)?;
            if let Some((wait, message)) = maintenance_wait(&reply, &mut maintenance, &step)? {
                self.progress.warn(format!("{message}; trying {operation} again in {:.0}s", wait.as_secs_f64()));
                std::thread::sleep(wait);
                continue;
            }
            return data_of(&reply, status, &step);
        }
    }

    /// Sends `request`, retrying as the shared policy says.
    fn send_retrying(&self, request: &Request, step: &str, is_query: bool) -> Result<Response> {
        let mut attempt = 0;
        loop {
            let (wait, why) = match self.http.send(request) {
                Ok(response) => match RETRY.after_response(attempt, &response) {
                    Some(wait) => (wait, format!("answered {}", response.status)),
                    None => return Ok(response),
                },
                Err(e) => match RETRY.after_error(attempt, &e).filter(|_| is_query) {
                    Some(wait) => (wait, format!("failed ({e:#})")),
                    None => return Err(e).with_context(|| format!("sending {step}")),
                },
            };
            attempt += 1;
            self.progress.info(format!("  {step} {why}; retry {attempt}/{RETRIES} in {:.1}s", wait.as_secs_f64()));
            std::thread::sleep(wait);
        }
    }
}

/// The reply as JSON, or an error for a redirect, a refused token or a
/// body that is not JSON.
fn read_reply(response: Response, step: &str) -> Result<Value> {
    let status = response.status;
    if (300..400).contains(&status) {
        let to = response.header("location").map_or_else(|| "nowhere".to_string(), redact_url);
        bail!(
            "{step} answered {status}, a redirect to {to}; the token is not sent after a redirect, so set \
             DAGSTER_CLOUD_URL to the organization's final URL"
        );
    }
    if matches!(status, 401 | 403) {
        let text = response.excerpt(300);
        bail!(
            "Dagster+ rejected the API token from DAGSTER_CLOUD_API_TOKEN ({status} for {step}{}); check that it \
             is a valid user or agent token for this organization",
            if text.is_empty() { String::new() } else { format!(": {text}") }
        );
    }
    let text = response.read_limited(16 << 20).with_context(|| format!("reading the reply to {step}"))?;
    serde_json::from_slice(&text).map_err(|_| {
        anyhow::anyhow!(
            "{step} answered {status} with a body that is not JSON: {}",
            shorten(&String::from_utf8_lossy(&text), 300)
        )
    })
}

/// For a `maintenance` reply: how long to wait and what to say, counting
/// the wait against [`MAINTENANCE_LIMIT`].
fn maintenance_wait(reply: &Value, waited: &mut Duration, step: &str) -> Result<Option<(Duration, String)>> {
    let Some(m) = reply.get("maintenance").filter(|m| m.is_object()) else { return Ok(None) };
    let wait = Duration::from_secs_f64(m["retry_interval"].as_f64().unwrap_or(30.0).clamp(1.0, 600.0));
    let message = m["message"].as_str().map_or_else(|| "Dagster+ is under maintenance".into(), |m| shorten(m, 200));
    if *waited + wait > MAINTENANCE_LIMIT {
        bail!("{step}: {message}; gave up after waiting {} minutes", waited.as_secs() / 60);
    }
    *waited += wait;
    Ok(Some((wait, message)))
}

/// The reply's `data`; any `errors` (cut short) are a failure whatever
/// the status.
fn data_of(reply: &Value, status: u16, step: &str) -> Result<Value> {
    if let Some(errors) = reply.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
        let mut messages: Vec<String> = errors
            .iter()
            .take(MAX_ERRORS_SHOWN)
            .map(|e| shorten(&e["message"].as_str().map_or_else(|| e.to_string(), str::to_string), MAX_ERROR_CHARS))
            .collect();
        if errors.len() > MAX_ERRORS_SHOWN {
            messages.push(format!("and {} more", errors.len() - MAX_ERRORS_SHOWN));
        }
        bail!("Dagster+ answered {step} with GraphQL errors: {}", messages.join("; "));
    }
    match reply.get("data").filter(|d| !d.is_null()) {
        Some(data) if status == 200 => Ok(data.clone()),
        _ => bail!("{step} answered {status} without data: {}", shorten(&reply.to_string(), 300)),
    }
}
