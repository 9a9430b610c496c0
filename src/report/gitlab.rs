//! GitLab: the sticky merge request note (found again by the marker,
//! updated in place; needs a project, group or personal access token, as
//! `CI_JOB_TOKEN` cannot write notes), the merge request's state for the
//! stop job, and the dotenv report for `environment:url`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::comment::MARKER;
use crate::auth::Secret;
use crate::io::http::{Body, Http, Request};
use crate::urls::encode_component;

fn request(method: &'static str, url: &str, token: &Secret) -> Request {
    Request::new(method, url).header("private-token", token.expose())
}

fn mr_url(api_url: &str, project: &str, iid: u64) -> String {
    format!("{api_url}/projects/{}/merge_requests/{iid}", encode_component(project))
}

/// Posts or updates the note on merge request `iid`; returns its id.
pub fn upsert_note(
    http: &dyn Http,
    api_url: &str,
    project: &str,
    iid: u64,
    token: &Secret,
    known_id: Option<u64>,
    body: &str,
) -> Result<u64> {
    let notes = format!("{}/notes", mr_url(api_url, project, iid));
    let id = match known_id {
        Some(id) => Some(id),
        None => find_note(http, &notes, token)?,
    };
    let payload = Body::Bytes(serde_json::to_vec(&json!({ "body": body }))?);
    let (method, url, expected) = match id {
        Some(id) => ("PUT", format!("{notes}/{id}"), 200),
        None => ("POST", notes, 201),
    };
    let response = http.send(&request(method, &url, token).header("content-type", "application/json").body(payload))?;
    if response.status != expected {
        let status = response.status;
        let hint = if matches!(status, 401 | 403) {
            " (GITLAB_TOKEN needs the api scope and Reporter role or above)"
        } else {
            ""
        };
        bail!("{method} {url} answered {status}{hint}: {}", response.excerpt(300));
    }
    let note: Value = serde_json::from_slice(&response.read_limited(16 << 20)?)?;
    note["id"].as_u64().with_context(|| format!("{method} {url} answered without a note id"))
}

fn find_note(http: &dyn Http, notes: &str, token: &Secret) -> Result<Option<u64>> {
    let mut page = Some("1".to_string());
    while let Some(n) = page.take() {
        let url = format!("{notes}?sort=asc&order_by=created_at&per_page=100&page={n}");
        let response = http.send(&request("GET", &url, token))?;
        if response.status != 200 {
            return Err(response.unexpected("GET", &url));
        }
        page = response.header("x-next-page").filter(|p| !p.is_empty()).map(str::to_string);
        let list: Value = serde_json::from_slice(&response.read_limited(16 << 20)?)?;
        let found = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|note| note["system"] != true && note["body"].as_str().is_some_and(|b| b.starts_with(MARKER)));
        if let Some(note) = found {
            return Ok(note["id"].as_u64());
        }
    }
    Ok(None)
}

/// The merge request's state: `opened`, `closed`, `locked` or `merged`.
pub fn merge_request_state(http: &dyn Http, api_url: &str, project: &str, iid: u64, token: &Secret) -> Result<String> {
    let url = mr_url(api_url, project, iid);
    let response = http.send(&request("GET", &url, token))?;
    if response.status != 200 {
        return Err(response.unexpected("GET", &url));
    }
    let mr: Value = serde_json::from_slice(&response.read_limited(1 << 20)?)?;
    mr["state"].as_str().map(str::to_string).with_context(|| format!("GET {url} answered without a state"))
}

/// Writes a dotenv report (`KEY=value` lines, single-line values).
pub fn write_dotenv(path: &std::path::Path, vars: &[(&str, String)]) -> Result<()> {
    let text: String = vars.iter().map(|(k, v)| format!("{k}={}\n", v.replace(['\n', '\r'], " "))).collect();
    std::fs::write(path, text).with_context(|| format!("writing the dotenv report {}", path.display()))
}
