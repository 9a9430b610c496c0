//! HTTP as the rest of the program sees it: a small [`Http`] trait with
//! replayable request bodies and streaming responses. Its implementations
//! are `native_http` (ureq) and, in WebAssembly, `host_http` (Node, through the launcher).
//!
//! This module is also the one place that decides what a credential is
//! ([`is_credential_header`]): such header values are held as [`Secret`]s,
//! never printed, and dropped when a redirect leaves the request's origin
//! ([`follow_redirects`], the redirect policy both clients share).

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::auth::Secret;
use crate::text::printable;
use crate::urls::{origin, resolve};

/// Headers whose values are credentials: kept as [`Secret`]s, never shown,
/// never sent to another origin. `Authorization` (registries, GitHub,
/// ECR's SigV4), Dagster+'s API token, GitLab's `PRIVATE-TOKEN` and
/// `JOB-TOKEN`, AWS session tokens, and cookies.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "dagster-cloud-api-token",
    "private-token",
    "job-token",
    "x-amz-security-token",
];

/// Whether a header carries a credential.
pub(crate) fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 10;

/// A request body that can be sent again on retry.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// No body.
    Empty,
    Bytes(Vec<u8>),
    /// A file, sent with its length as `Content-Length`.
    File(PathBuf),
}

/// A header value: plain text, or a credential (see
/// [`is_credential_header`]) that formats as `(redacted)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderValue {
    /// Anything that may be shown.
    Plain(String),
    /// A credential.
    Secret(Secret),
}

impl HeaderValue {
    /// The value, for the client that sends it.
    pub(crate) fn expose(&self) -> &str {
        match self {
            HeaderValue::Plain(v) => v,
            HeaderValue::Secret(s) => s.expose(),
        }
    }
}

/// An HTTP request. Its `Debug` shows credential headers by name only.
#[derive(Clone)]
pub(crate) struct Request {
    pub(crate) method: &'static str,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, HeaderValue)>,
    pub(crate) body: Body,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl Request {
    /// A request without headers or body.
    pub(crate) fn new(method: &'static str, url: impl Into<String>) -> Request {
        Request { method, url: url.into(), headers: Vec::new(), body: Body::Empty }
    }

    /// Adds a header; a credential header's value is kept as a [`Secret`].
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.push_header(name, value.into());
        self
    }

    /// Adds a header in place (see [`Request::header`]).
    pub(crate) fn push_header(&mut self, name: &str, value: String) {
        let value = if is_credential_header(name) {
            HeaderValue::Secret(Secret::new(value))
        } else {
            HeaderValue::Plain(value)
        };
        self.headers.push((name.to_string(), value));
    }

    /// Removes every credential header (before a request leaves its origin).
    pub(crate) fn drop_credentials(&mut self) {
        self.headers.retain(|(name, _)| !is_credential_header(name));
    }

    /// Sets the body.
    pub(crate) fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

/// A response body, read on demand (`Send` where there are threads).
#[cfg(not(target_os = "wasi"))]
pub(crate) type BodyReader = Box<dyn Read + Send>;
/// A response body, read on demand (WebAssembly has no threads).
#[cfg(target_os = "wasi")]
pub(crate) type BodyReader = Box<dyn Read>;

/// An HTTP response with a streaming body.
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Headers (names lower-case).
    pub(crate) headers: Vec<(String, String)>,
    /// The body, read on demand.
    pub(crate) body: BodyReader,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub(crate) fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub(crate) fn read_limited(self, limit: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.take(limit + 1).read_to_end(&mut out).context("reading the response body")?;
        if out.len() as u64 > limit {
            anyhow::bail!("the response body is larger than {limit} bytes");
        }
        Ok(out)
    }

    /// Reads at most `cap` bytes of the body as one line of printable
    /// text, for error messages (a reply is hostile input: no control
    /// characters reach the log).
    pub(crate) fn excerpt(self, cap: u64) -> String {
        let mut out = Vec::new();
        let _ = self.body.take(cap).read_to_end(&mut out);
        printable(&String::from_utf8_lossy(&out))
    }
}

/// Why a request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The host could not be found or refused the connection: offline, or
    /// the wrong address. Retrying soon will not help.
    Unreachable,
    /// The exchange broke off (timeout, reset): retrying may help.
    Interrupted,
    /// Anything else (TLS, a malformed URL, a bad proxy setting).
    Permanent,
}

/// A request that got no HTTP response.
#[derive(Debug)]
pub(crate) struct TransportError {
    pub(crate) failure: Failure,
    /// The method and URL (without query) and the cause.
    pub(crate) message: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

impl TransportError {
    /// A transport error for `request`.
    pub(crate) fn new(request: &Request, failure: Failure, cause: impl std::fmt::Display) -> TransportError {
        TransportError { failure, message: format!("{} {}: {cause}", request.method, redact_url(&request.url)) }
    }

    /// The failure kind of the first transport error in an error chain.
    pub(crate) fn failure_in(error: &anyhow::Error) -> Option<Failure> {
        error.chain().find_map(|e| e.downcast_ref::<TransportError>()).map(|t| t.failure)
    }
}

/// Sends HTTP requests. Implementations return every status as a
/// [`Response`]; only transport failures are errors.
pub(crate) trait Http: Send + Sync {
    /// Sends one request.
    fn send(&self, request: &Request) -> Result<Response>;
}

/// A URL as messages show it: without its query string (upload state,
/// signed parameters) and with any `user:password@` replaced by `***@`.
pub(crate) fn redact_url(url: &str) -> String {
    let url = url.split_once(['?', '#']).map_or(url, |(base, _)| base);
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

/// Sends `request` through `send_once`, following redirects the way every
/// client of this tool must (xh's `redirect.rs`, ureq's own policy, made
/// stricter): only `GET` and `HEAD` are followed (a redirected `POST` or
/// `PUT` comes back as the 3xx it is, for the caller to report); every
/// credential header is dropped as soon as the origin changes; a redirect
/// from https to http is refused; at most ten hops.
pub(crate) fn follow_redirects(
    request: &Request,
    send_once: impl Fn(&Request) -> Result<Response>,
) -> Result<Response> {
    let mut current = request.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = send_once(&current)?;
        let followed =
            matches!(response.status, 301 | 302 | 303 | 307 | 308) && matches!(current.method, "GET" | "HEAD");
        let Some(location) = response.header("location").filter(|_| followed) else { return Ok(response) };
        let next = resolve(&current.url, location);
        if !next.starts_with("https://") && !next.starts_with("http://") {
            bail!(
                "{} {} redirected to {}; only http(s) is followed",
                current.method,
                redact_url(&current.url),
                redact_url(&next)
            );
        }
        if current.url.starts_with("https://") && !next.starts_with("https://") {
            bail!(
                "{} {} redirected to {}; refusing to leave https",
                current.method,
                redact_url(&current.url),
                redact_url(&next)
            );
        }
        if !origin(&next).eq_ignore_ascii_case(origin(&current.url)) {
            current.drop_credentials();
        }
        current.url = next;
    }
    bail!("{} {}: more than {MAX_REDIRECTS} redirects", request.method, redact_url(&request.url))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers each URL from a table and records what was sent.
    fn exchange(
        request: Request,
        table: &[(&str, u16, Option<&str>)],
    ) -> (Result<Response>, Vec<(String, Vec<String>)>) {
        let sent = Mutex::new(Vec::new());
        let result = follow_redirects(&request, |r| {
            let names = r.headers.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
            sent.lock().unwrap().push((r.url.clone(), names));
            let (_, status, location) = table.iter().find(|(u, _, _)| *u == r.url).expect("an expected URL");
            let headers = location.map(|l| vec![("location".to_string(), l.to_string())]).unwrap_or_default();
            Ok(Response { status: *status, headers, body: Box::new(std::io::empty()) })
        });
        (result, sent.into_inner().unwrap())
    }

    fn with_credentials(method: &'static str, url: &str) -> Request {
        Request::new(method, url)
            .header("Dagster-Cloud-Api-Token", "t0ken")
            .header("authorization", "Bearer b")
            .header("PRIVATE-TOKEN", "p")
            .header("accept", "application/json")
    }

    #[test]
    fn credentials_are_dropped_when_a_redirect_leaves_the_origin() {
        let table = [
            ("https://api.example/a", 302, Some("/b")),
            ("https://api.example/b", 307, Some("https://sink.example/c")),
            ("https://sink.example/c", 200, None),
        ];
        let (result, sent) = exchange(with_credentials("GET", "https://api.example/a"), &table);
        assert_eq!(result.unwrap().status, 200);
        assert_eq!(sent[1].1.len(), 4, "same origin: every header kept");
        assert_eq!(sent[2].0, "https://sink.example/c");
        assert_eq!(sent[2].1, ["accept"], "another origin: no credential");
    }

    #[test]
    fn posts_are_not_followed_and_https_is_never_left() {
        let table = [("https://api.example/graphql", 301, Some("https://sink.example/graphql"))];
        let (result, sent) = exchange(with_credentials("POST", "https://api.example/graphql"), &table);
        assert_eq!(result.unwrap().status, 301, "the caller sees the redirect");
        assert_eq!(sent.len(), 1);
        let table = [("https://api.example/a", 302, Some("http://api.example/a"))];
        let err = exchange(with_credentials("GET", "https://api.example/a"), &table).0.err().unwrap();
        assert!(err.to_string().contains("refusing to leave https"), "{err}");
        let table = [("http://h/a", 302, Some("file:///etc/passwd"))];
        let err = exchange(Request::new("GET", "http://h/a"), &table).0.err().unwrap();
        assert!(err.to_string().contains("only http(s) is followed"), "{err}");
        let table = [("http://h/loop", 302, Some("/loop"))];
        let (result, sent) = exchange(Request::new("GET", "http://h/loop"), &table);
        assert!(result.err().unwrap().to_string().contains("more than 10 redirects"));
        assert_eq!(sent.len(), 11);
    }

    #[test]
    fn requests_and_urls_print_no_secret() {
        let shown = format!("{:?}", with_credentials("GET", "https://u:pw@api.example/a?sig=s3cret"));
        assert!(
            !shown.contains("t0ken")
                && !shown.contains("Bearer b")
                && !shown.contains("pw")
                && !shown.contains("s3cret")
        );
        assert!(shown.contains("dagster-cloud-api-token") || shown.contains("Dagster-Cloud-Api-Token"), "{shown}");
        assert_eq!(redact_url("https://u:pw@h:1/x?q=1"), "https://***@h:1/x");
        assert_eq!(redact_url("http://h/x@y"), "http://h/x@y");
    }
}
