//! HTTP as the rest of the program sees it: a small [`Http`] trait with
//! replayable request bodies and streaming responses. Its implementations
//! are `native_http` (ureq) and, in WebAssembly, `wasi_http` (wasi:http).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// A request body that can be sent again on retry.
#[derive(Clone, Debug)]
pub enum Body {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file, sent with its length as `Content-Length`.
    File(PathBuf),
}

/// An HTTP request.
#[derive(Clone, Debug)]
pub struct Request {
    /// Method (`GET`, `PUT`…).
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: &'static str, url: impl Into<String>) -> Request {
        Request { method, url: url.into(), headers: Vec::new(), body: Body::Empty }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

/// A response body, read on demand (`Send` where there are threads).
#[cfg(not(target_os = "wasi"))]
pub type BodyReader = Box<dyn Read + Send>;
/// A response body, read on demand (WebAssembly has no threads).
#[cfg(target_os = "wasi")]
pub type BodyReader = Box<dyn Read>;

/// An HTTP response with a streaming body.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body, read on demand.
    pub body: BodyReader,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub fn read_limited(self, limit: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.take(limit + 1).read_to_end(&mut out).context("reading the response body")?;
        if out.len() as u64 > limit {
            anyhow::bail!("the response body is larger than {limit} bytes");
        }
        Ok(out)
    }

    /// An error for an unexpected response: the request, its status and
    /// the start of the body.
    pub fn unexpected(self, method: &str, url: &str) -> anyhow::Error {
        let status = self.status;
        anyhow::anyhow!("{method} {} answered {status}: {}", redact_query(url), self.excerpt(300))
    }

    /// Reads at most `cap` bytes of the body as text, for error messages.
    pub fn excerpt(self, cap: u64) -> String {
        let mut out = Vec::new();
        let _ = self.body.take(cap).read_to_end(&mut out);
        String::from_utf8_lossy(&out).trim().to_string()
    }
}

/// Why a request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
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
pub struct TransportError {
    /// What kind of failure.
    pub failure: Failure,
    /// The method and URL (without query) and the cause.
    pub message: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

impl TransportError {
    /// A transport error for `request`.
    pub fn new(request: &Request, failure: Failure, cause: impl std::fmt::Display) -> TransportError {
        TransportError { failure, message: format!("{} {}: {cause}", request.method, redact_query(&request.url)) }
    }

    /// The failure kind of the first transport error in an error chain.
    pub fn failure_in(error: &anyhow::Error) -> Option<Failure> {
        error.chain().find_map(|e| e.downcast_ref::<TransportError>()).map(|t| t.failure)
    }
}

/// Sends HTTP requests. Implementations return every status as a
/// [`Response`]; only transport failures are errors.
pub trait Http: Send + Sync {
    /// Sends one request.
    fn send(&self, request: &Request) -> Result<Response>;
}

/// A URL without its query string, which may carry upload state or signed
/// parameters that do not belong in messages.
pub fn redact_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}
