//! HTTP as the rest of the program sees it: a small [`Http`] trait with
//! replayable request bodies, and its native implementation on `ureq`
//! (system roots plus `SSL_CERT_FILE`, proxies from `HTTPS_PROXY`/`NO_PROXY`,
//! status codes returned rather than raised, auth headers dropped on
//! redirects).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

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

/// An HTTP response with a streaming body.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body, read on demand.
    pub body: Box<dyn Read + Send>,
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
    fn from_ureq(request: &Request, e: &ureq::Error) -> TransportError {
        let failure = match e {
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => Failure::Unreachable,
            ureq::Error::Io(io) if is_unreachable(io) => Failure::Unreachable,
            ureq::Error::Io(io) if matches!(io.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput) => {
                Failure::Permanent
            }
            ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::BodyStalled => Failure::Interrupted,
            ureq::Error::Protocol(_) => Failure::Interrupted,
            _ => Failure::Permanent,
        };
        let message = format!("{} {}: {e}", request.method, redact_query(&request.url));
        TransportError { failure, message }
    }

    /// The failure kind of the first transport error in an error chain.
    pub fn failure_in(error: &anyhow::Error) -> Option<Failure> {
        error.chain().find_map(|e| e.downcast_ref::<TransportError>()).map(|t| t.failure)
    }
}

/// Refused connections, unreachable networks and failed name lookups (which
/// std reports without a kind of their own).
fn is_unreachable(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable)
        || e.to_string().contains("failed to lookup address")
}

/// Sends HTTP requests. Implementations return every status as a
/// [`Response`]; only transport failures are errors.
pub trait Http: Send + Sync {
    /// Sends one request.
    fn send(&self, request: &Request) -> Result<Response>;
}

/// The native client.
pub struct UreqHttp {
    agent: ureq::Agent,
}

impl UreqHttp {
    /// A client with this tool's defaults.
    pub fn new(user_agent: &str) -> Result<UreqHttp> {
        let tls = ureq::tls::TlsConfig::builder().root_certs(root_certs()?).build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(user_agent)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .max_redirects(10)
            .build();
        Ok(UreqHttp { agent: config.new_agent() })
    }
}

/// The system's CA bundle plus `SSL_CERT_FILE`; Mozilla's roots when the
/// system has no bundle.
fn root_certs() -> Result<ureq::tls::RootCerts> {
    const SYSTEM_BUNDLES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ];
    let mut certs = Vec::new();
    if let Some(bundle) = SYSTEM_BUNDLES.iter().find(|p| std::path::Path::new(p).is_file()) {
        certs.extend(read_pem(&PathBuf::from(bundle))?);
    }
    if let Some(extra) = std::env::var_os("SSL_CERT_FILE") {
        let path = PathBuf::from(extra);
        let found = read_pem(&path).with_context(|| format!("reading SSL_CERT_FILE ({})", path.display()))?;
        anyhow::ensure!(!found.is_empty(), "SSL_CERT_FILE ({}) holds no PEM certificate", path.display());
        certs.extend(found);
    }
    Ok(if certs.is_empty() { ureq::tls::RootCerts::WebPki } else { ureq::tls::RootCerts::new_with_certs(&certs) })
}

fn read_pem(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(ureq::tls::parse_pem(&bytes)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect())
}

impl Http for UreqHttp {
    fn send(&self, request: &Request) -> Result<Response> {
        let mut builder = ureq::http::Request::builder().method(request.method).uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let result = match &request.body {
            Body::Empty => {
                let needs_length = matches!(request.method, "POST" | "PUT" | "PATCH");
                if needs_length {
                    builder = builder.header("content-length", "0");
                }
                self.agent.run(builder.body(())?)
            }
            Body::Bytes(bytes) => self.agent.run(builder.body(bytes.as_slice())?),
            Body::File(path) => {
                let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
                let len = file.metadata()?.len();
                let body = ureq::SendBody::from_owned_reader(io::BufReader::new(file));
                self.agent.run(builder.header("content-length", len.to_string()).body(body)?)
            }
        };
        let response = result.map_err(|e| TransportError::from_ureq(request, &e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = Box::new(response.into_body().into_reader());
        Ok(Response { status, headers, body })
    }
}

/// A URL without its query string, which may carry upload state or signed
/// parameters that do not belong in messages.
pub fn redact_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}
