//! GitHub: the sticky comment through the issues API (found again by the
//! marker, updated in place), step outputs and summary through the runner's
//! files, and annotations as workflow commands.

use std::io::Write;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::comment::MARKER;
use crate::auth::Secret;
use crate::io::http::{Body, Http, Request};
use crate::progress::escape_command_data;

/// Posts or updates the comment on pull request `number`; returns its id.
pub fn upsert_comment(
    http: &dyn Http,
    api_url: &str,
    repository: &str,
    number: u64,
    token: &Secret,
    known_id: Option<u64>,
    body: &str,
) -> Result<u64> {
    let id = match known_id {
        Some(id) => Some(id),
        None => find_comment(http, api_url, repository, number, token)?,
    };
    let payload = serde_json::to_vec(&json!({ "body": body }))?;
    let (method, url, expected) = match id {
        Some(id) => ("PATCH", format!("{api_url}/repos/{repository}/issues/comments/{id}"), 200),
        None => ("POST", format!("{api_url}/repos/{repository}/issues/{number}/comments"), 201),
    };
    let reply = send(http, method, &url, token, Body::Bytes(payload), expected)?;
    reply["id"].as_u64().with_context(|| format!("{method} {url} answered without a comment id"))
}

fn find_comment(http: &dyn Http, api_url: &str, repository: &str, number: u64, token: &Secret) -> Result<Option<u64>> {
    let mut url = Some(format!("{api_url}/repos/{repository}/issues/{number}/comments?per_page=100"));
    while let Some(page) = url.take() {
        let response = http.send(&request("GET", &page, token))?;
        if response.status != 200 {
            return Err(response.unexpected("GET", &page));
        }
        url = response.header("link").and_then(next_link);
        let comments: Value = serde_json::from_slice(&response.read_limited(16 << 20)?)?;
        let found = comments
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["body"].as_str().is_some_and(|b| b.starts_with(MARKER)));
        if let Some(c) = found {
            return Ok(c["id"].as_u64());
        }
    }
    Ok(None)
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        Some(part[start..end].to_string())
    })
}

fn request(method: &'static str, url: &str, token: &Secret) -> Request {
    Request::new(method, url)
        .header("authorization", format!("Bearer {}", token.expose()))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
}

fn send(http: &dyn Http, method: &'static str, url: &str, token: &Secret, body: Body, expected: u16) -> Result<Value> {
    let response = http.send(&request(method, url, token).header("content-type", "application/json").body(body))?;
    if response.status != expected {
        let status = response.status;
        let hint = if matches!(status, 403 | 404) {
            " (the workflow needs `permissions: pull-requests: write`; fork pull requests get a read-only token)"
        } else {
            ""
        };
        bail!("{method} {url} answered {status}{hint}: {}", response.excerpt(300));
    }
    Ok(serde_json::from_slice(&response.read_limited(16 << 20)?)?)
}

/// Appends step outputs to `GITHUB_OUTPUT`, with a heredoc delimiter for
/// values that span lines.
pub fn write_outputs(path: &str, outputs: &[(&str, String)]) -> Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') {
            let mut delimiter = "ghadelimiter_dagster_branch_deploy".to_string();
            while value.contains(&delimiter) {
                delimiter.push('_');
            }
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    append(path, &text).with_context(|| format!("writing step outputs to GITHUB_OUTPUT ({path})"))
}

/// Appends Markdown to `GITHUB_STEP_SUMMARY`.
pub fn write_summary(path: &str, markdown: &str) -> Result<()> {
    append(path, markdown).with_context(|| format!("writing the step summary to GITHUB_STEP_SUMMARY ({path})"))
}

fn append(path: &str, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// An `::error` annotation.
pub fn error_annotation(title: &str, message: &str) -> String {
    let title = escape_command_data(title).replace(':', "%3A").replace(',', "%2C");
    format!("::error title={title}::{}", escape_command_data(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        let link = r#"<https://api.github.com/repositories/1/issues/2/comments?page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?page=5>; rel="last""#;
        assert_eq!(next_link(link).as_deref(), Some("https://api.github.com/repositories/1/issues/2/comments?page=2"));
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
    }

    #[test]
    fn outputs_use_a_delimiter_for_multiline_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let p = path.to_str().unwrap();
        write_outputs(p, &[("status", "deployed".into()), ("error", "a\nb".into())]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "status=deployed\nerror<<ghadelimiter_dagster_branch_deploy\na\nb\nghadelimiter_dagster_branch_deploy\n"
        );
    }

    #[test]
    fn annotations_escape_their_properties() {
        assert_eq!(error_annotation("orders: load", "a\nb 100%"), "::error title=orders%3A load::a%0Ab 100%25");
    }
}
