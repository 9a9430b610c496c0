//! The native HTTP client on `ureq`: the system's CA bundle plus
//! `SSL_CERT_FILE`, proxies from `HTTPS_PROXY`/`NO_PROXY`, status codes
//! returned rather than raised, redirects followed by the shared policy in
//! [`follow_redirects`] (ureq's own would carry custom credential headers
//! such as `Dagster-Cloud-Api-Token` to any origin), and transport failures
//! classified for retries.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::http::{Body, Failure, Http, Request, Response, TransportError, follow_redirects};

/// The native client.
pub(crate) struct UreqHttp {
    agent: ureq::Agent,
}

impl UreqHttp {
    /// A client with this tool's defaults.
    pub(crate) fn new(user_agent: &str) -> Result<UreqHttp> {
        let tls = ureq::tls::TlsConfig::builder().root_certs(root_certs()?).build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(user_agent)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .max_redirects(0)
            .build();
        let connector = ureq::unversioned::transport::DefaultConnector::default();
        Ok(UreqHttp { agent: ureq::Agent::with_parts(config, connector, CachingResolver::default()) })
    }
}

/// How long a host's addresses are reused.
const DNS_TTL: Duration = Duration::from_secs(60);

/// Resolves each host once a minute, one lookup at a time: parallel
/// downloads from one host (sixteen wheels, four registry blobs) would
/// otherwise send a burst of identical queries, which some resolvers drop,
/// costing the 5 s retry of the system resolver.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: ureq::unversioned::resolver::DefaultResolver,
    cache: std::sync::Mutex<
        std::collections::HashMap<String, (ureq::unversioned::resolver::ResolvedSocketAddrs, std::time::Instant)>,
    >,
}

impl ureq::unversioned::resolver::Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let key = format!("{}://{}", uri.scheme_str().unwrap_or(""), uri.authority().map_or("", |a| a.as_str()));
        // Held while looking up, so that parallel requests wait for one
        // answer instead of asking all at once.
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((addrs, at)) = cache.get(&key)
            && at.elapsed() < DNS_TTL
        {
            return Ok(addrs.clone());
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        cache.insert(key, (addrs.clone(), std::time::Instant::now()));
        Ok(addrs)
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
        follow_redirects(request, |r| self.send_once(r))
    }
}

impl UreqHttp {
    fn send_once(&self, request: &Request) -> Result<Response> {
        let mut builder = ureq::http::Request::builder().method(request.method).uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value.expose());
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
        let response = result.map_err(|e| TransportError::new(request, classify(&e), &e))?;
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

fn classify(e: &ureq::Error) -> Failure {
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => Failure::Unreachable,
        ureq::Error::Io(io) if is_unreachable(io) => Failure::Unreachable,
        ureq::Error::Io(io) if matches!(io.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput) => {
            Failure::Permanent
        }
        ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::BodyStalled => Failure::Interrupted,
        ureq::Error::Protocol(_) => Failure::Interrupted,
        _ => Failure::Permanent,
    }
}

/// Refused connections, unreachable networks and failed name lookups (which
/// std reports without a kind of their own).
fn is_unreachable(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable)
        || e.to_string().contains("failed to lookup address")
}
