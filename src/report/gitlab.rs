//! GitLab: the sticky merge request note (found again by the marker,
//! updated in place; needs a project, group or personal access token, as
//! `CI_JOB_TOKEN` cannot write notes), the merge request's state for the
//! stop job, and the dotenv report for `environment:url`.

use anyhow::{Context, Result};
use serde_json::Value;

use super::RequestState;
use super::sticky::{self, PageGuard, is_ours};
use crate::auth::Secret;
use crate::io::http::{Http, Request, Response, redact_url};
use crate::urls::encode_component;

fn request(method: &'static str, url: &str, token: &Secret) -> Request {
    Request::new(method, url).header("private-token", token.expose())
}

fn mr_url(api_url: &str, project: &str, iid: u64) -> String {
    format!("{api_url}/projects/{}/merge_requests/{iid}", encode_component(project))
}

/// Posts or updates the note on merge request `iid`; returns its id.
pub(crate) fn upsert_note(
    http: &dyn Http,
    api_url: &str,
    project: &str,
    iid: u64,
    token: &Secret,
    known_id: Option<u64>,
    body: &str,
) -> Result<u64> {
    let notes = format!("{}/notes", mr_url(api_url, project, iid));
    sticky::upsert(&MergeRequestThread { http, api_url, notes, token }, known_id, body)
}

/// The notes of one merge request.
struct MergeRequestThread<'a> {
    http: &'a dyn Http,
    api_url: &'a str,
    notes: String,
    token: &'a Secret,
}

impl MergeRequestThread<'_> {
    fn send(&self, method: &'static str, url: &str, body: Option<&str>) -> Result<Response> {
        self.http.send(&sticky::with_comment(request(method, url, self.token), body)?)
    }
}

impl sticky::Thread for MergeRequestThread<'_> {
    fn ours(&self) -> Result<Vec<u64>> {
        let mut guard = PageGuard::new(self.api_url);
        let mut ours = Vec::new();
        let mut page = Some(1u64);
        while let Some(n) = page.take() {
            let url = format!("{}?sort=asc&order_by=created_at&per_page=100&page={n}", self.notes);
            guard.admit(&url)?;
            let response = self.send("GET", &url, None)?;
            if response.status != 200 {
                return Err(failure("GET", &url, response));
            }
            // X-Next-Page must be a later page number; anything else ends the listing.
            page = response.header("x-next-page").and_then(|p| p.trim().parse::<u64>().ok()).filter(|&p| p > n);
            let list: Value = serde_json::from_slice(&response.read_limited(16 << 20)?)
                .with_context(|| format!("GET {}: the reply is not JSON", redact_url(&url)))?;
            let found = list
                .as_array()
                .into_iter()
                .flatten()
                .filter(|note| note["system"] != true && note["body"].as_str().is_some_and(is_ours));
            ours.extend(found.filter_map(|note| note["id"].as_u64()));
        }
        Ok(ours)
    }

    fn create(&self, body: &str) -> Result<u64> {
        let response = self.send("POST", &self.notes, Some(body))?;
        if response.status != 201 {
            return Err(failure("POST", &self.notes, response));
        }
        let note: Value = serde_json::from_slice(&response.read_limited(1 << 20)?)
            .with_context(|| format!("POST {}: the reply is not JSON", redact_url(&self.notes)))?;
        note["id"].as_u64().with_context(|| format!("POST {} answered without a note id", redact_url(&self.notes)))
    }

    fn update(&self, id: u64, body: &str) -> Result<bool> {
        let url = format!("{}/{id}", self.notes);
        let response = self.send("PUT", &url, Some(body))?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(failure("PUT", &url, response)),
        }
    }

    fn delete(&self, id: u64) -> Result<()> {
        let url = format!("{}/{id}", self.notes);
        let response = self.send("DELETE", &url, None)?;
        match response.status {
            204 | 404 => Ok(()),
            _ => Err(failure("DELETE", &url, response)),
        }
    }
}

fn failure(method: &str, url: &str, response: Response) -> anyhow::Error {
    let status = response.status;
    let hint =
        if matches!(status, 401 | 403) { " (GITLAB_TOKEN needs the api scope and Reporter role or above)" } else { "" };
    anyhow::anyhow!("{method} {} answered {status}{hint}: {}", redact_url(url), response.excerpt(300))
}

/// The merge request's state (`opened`, `closed`, `locked` or `merged`)
/// and labels.
pub(crate) fn merge_request_state(
    http: &dyn Http,
    api_url: &str,
    project: &str,
    iid: u64,
    token: &Secret,
) -> Result<RequestState> {
    let url = mr_url(api_url, project, iid);
    let response = http.send(&request("GET", &url, token))?;
    if response.status != 200 {
        return Err(failure("GET", &url, response));
    }
    let mr: Value = serde_json::from_slice(&response.read_limited(1 << 20)?)
        .with_context(|| format!("GET {}: the reply is not JSON", redact_url(&url)))?;
    let state = mr["state"].as_str().with_context(|| format!("GET {} answered without a state", redact_url(&url)))?;
    // Label names, or label objects when asked `with_labels_details`.
    let labels = mr["labels"].as_array().into_iter().flatten().filter_map(|l| l.as_str().or(l["name"].as_str()));
    Ok(RequestState {
        open: state != "merged" && state != "closed",
        merged: state == "merged",
        labels: labels.map(str::to_string).collect(),
    })
}

/// Writes a dotenv report (`KEY=value` lines, single-line values).
pub(crate) fn write_dotenv(path: &std::path::Path, vars: &[(&str, String)]) -> Result<()> {
    let text: String = vars.iter().map(|(k, v)| format!("{k}={}\n", v.replace(['\n', '\r'], " "))).collect();
    std::fs::write(path, text).with_context(|| format!("writing the dotenv report {}", path.display()))
}
