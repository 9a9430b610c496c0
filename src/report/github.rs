//! GitHub: the sticky comment through the issues API (found again by the
//! marker, updated in place), step outputs and summary through the runner's
//! files, and annotations as workflow commands.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;

use super::RequestState;
use super::sticky::{self, PageGuard, is_ours};
use crate::auth::Secret;
use crate::io::http::{Http, Request, Response, redact_url};
use crate::progress::escape_command_data;

/// Posts or updates the comment on pull request `number`; returns its id.
pub(crate) fn upsert_comment(
    http: &dyn Http,
    api_url: &str,
    repository: &str,
    number: u64,
    token: &Secret,
    known_id: Option<u64>,
    body: &str,
) -> Result<u64> {
    sticky::upsert(&PullRequestThread { http, api_url, repository, number, token }, known_id, body)
}

/// The issue comments of one pull request.
struct PullRequestThread<'a> {
    http: &'a dyn Http,
    api_url: &'a str,
    repository: &'a str,
    number: u64,
    token: &'a Secret,
}

impl PullRequestThread<'_> {
    fn comment_url(&self, id: u64) -> String {
        format!("{}/repos/{}/issues/comments/{id}", self.api_url, self.repository)
    }

    fn send(&self, method: &'static str, url: &str, body: Option<&str>) -> Result<Response> {
        self.http.send(&sticky::with_comment(request(method, url, self.token), body)?)
    }
}

impl sticky::Thread for PullRequestThread<'_> {
    fn ours(&self) -> Result<Vec<u64>> {
        let mut guard = PageGuard::new(self.api_url);
        let mut ours = Vec::new();
        let mut next =
            Some(format!("{}/repos/{}/issues/{}/comments?per_page=100", self.api_url, self.repository, self.number));
        while let Some(page) = next.take() {
            guard.admit(&page)?;
            let response = self.send("GET", &page, None)?;
            if response.status != 200 {
                return Err(failure("GET", &page, response));
            }
            next = response.header("link").and_then(next_link);
            let comments: Value = serde_json::from_slice(&response.read_limited(16 << 20)?)
                .with_context(|| format!("GET {}: the reply is not JSON", redact_url(&page)))?;
            let found = comments.as_array().into_iter().flatten().filter(|c| c["body"].as_str().is_some_and(is_ours));
            ours.extend(found.filter_map(|c| c["id"].as_u64()));
        }
        Ok(ours)
    }

    fn create(&self, body: &str) -> Result<u64> {
        let url = format!("{}/repos/{}/issues/{}/comments", self.api_url, self.repository, self.number);
        let response = self.send("POST", &url, Some(body))?;
        if response.status != 201 {
            return Err(failure("POST", &url, response));
        }
        comment_id(response, "POST", &url)
    }

    fn update(&self, id: u64, body: &str) -> Result<bool> {
        let url = self.comment_url(id);
        let response = self.send("PATCH", &url, Some(body))?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(failure("PATCH", &url, response)),
        }
    }

    fn delete(&self, id: u64) -> Result<()> {
        let url = self.comment_url(id);
        let response = self.send("DELETE", &url, None)?;
        match response.status {
            204 | 404 => Ok(()),
            _ => Err(failure("DELETE", &url, response)),
        }
    }
}

/// A pull request's state and labels, from `GET /repos/{repo}/pulls/{n}`.
pub(crate) fn pull_request_state(
    http: &dyn Http,
    api_url: &str,
    repository: &str,
    number: u64,
    token: &Secret,
) -> Result<RequestState> {
    let url = format!("{api_url}/repos/{repository}/pulls/{number}");
    let response = http.send(&request("GET", &url, token))?;
    if response.status != 200 {
        let status = response.status;
        anyhow::bail!("GET {} answered {status}: {}", redact_url(&url), response.excerpt(200));
    }
    let pr: Value = serde_json::from_slice(&response.read_limited(4 << 20)?)
        .with_context(|| format!("GET {}: the reply is not JSON", redact_url(&url)))?;
    let Some(state) = pr["state"].as_str() else { anyhow::bail!("GET {} answered without a state", redact_url(&url)) };
    let labels = pr["labels"].as_array().into_iter().flatten().filter_map(|l| l["name"].as_str()).map(str::to_string);
    Ok(RequestState {
        open: state == "open",
        merged: pr["merged"].as_bool() == Some(true) || pr["merged_at"].is_string(),
        labels: labels.collect(),
    })
}

fn comment_id(response: Response, method: &str, url: &str) -> Result<u64> {
    let reply: Value = serde_json::from_slice(&response.read_limited(1 << 20)?)
        .with_context(|| format!("{method} {}: the reply is not JSON", redact_url(url)))?;
    reply["id"].as_u64().with_context(|| format!("{method} {} answered without a comment id", redact_url(url)))
}

/// The `rel="next"` URL of a `Link` header (RFC 8288), if well formed.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=").is_some_and(|rel| rel.trim_matches('"').split_whitespace().any(|r| r == "next"))
        });
        next.then(|| target.to_string())
    })
}

pub(super) fn request(method: &'static str, url: &str, token: &Secret) -> Request {
    Request::new(method, url)
        .header("authorization", format!("Bearer {}", token.expose()))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
}

fn failure(method: &str, url: &str, response: Response) -> anyhow::Error {
    let status = response.status;
    let hint = if matches!(status, 403 | 404) {
        " (the workflow needs `permissions: pull-requests: write`; fork pull requests get a read-only token)"
    } else {
        ""
    };
    anyhow::anyhow!("{method} {} answered {status}{hint}: {}", redact_url(url), response.excerpt(300))
}

/// Appends step outputs to `GITHUB_OUTPUT`, with a heredoc delimiter for
/// values that span lines.
pub(crate) fn write_outputs(path: &str, outputs: &[(&str, String)]) -> Result<()> {
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
pub(crate) fn write_summary(path: &str, markdown: &str) -> Result<()> {
    append(path, markdown).with_context(|| format!("writing the step summary to GITHUB_STEP_SUMMARY ({path})"))
}

fn append(path: &str, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// An `::error` annotation.
pub(crate) fn error_annotation(title: &str, message: &str) -> String {
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
        for malformed in [">x<; rel=\"next\"", "x; rel=\"next\"", "<x; rel=next", ">; rel=\"next\"<", "<", ""] {
            assert_eq!(next_link(malformed), None, "{malformed}");
        }
        assert_eq!(next_link("<u>; rel=\"prev next\"").as_deref(), Some("u"));
    }

    proptest::proptest! {
        #[test]
        fn fuzz_link_header(link in "[ -~]{0,120}") {
            if let Some(next) = next_link(&link) {
                let wrapped = format!("<{next}>");
                proptest::prop_assert!(link.contains(&wrapped));
            }
        }
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
