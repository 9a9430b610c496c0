//! HTTP in WebAssembly, over wasi:http: the host makes the connection and
//! does TLS (under Node, preview2-shim uses node:http and node:https).
//! wasi:http does not follow redirects; they are followed by the shared
//! policy in [`follow_redirects`] (blob downloads redirect to object
//! storage).

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

use super::http::{Body, Failure, Http, Request, Response, TransportError, follow_redirects, redact_url};

/// The WebAssembly client.
pub(crate) struct WasiHttp {
    user_agent: String,
}

impl WasiHttp {
    /// A client that sends `user_agent`.
    pub(crate) fn new(user_agent: &str) -> WasiHttp {
        WasiHttp { user_agent: user_agent.to_string() }
    }
}

impl Http for WasiHttp {
    fn send(&self, request: &Request) -> Result<Response> {
        follow_redirects(request, |r| self.send_once(r))
    }
}

impl WasiHttp {
    fn send_once(&self, request: &Request) -> Result<Response> {
        let failed = |failure, cause: String| TransportError::new(request, failure, cause);
        let outgoing = outgoing_request(request, &self.user_agent)?;
        let body = outgoing.body().map_err(|()| anyhow::anyhow!("the request has no body handle"))?;
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(30_000_000_000));
        let future =
            outgoing_handler::handle(outgoing, Some(options)).map_err(|e| failed(classify(&e), format!("{e:?}")))?;
        write_body(&body, &request.body)?;
        OutgoingBody::finish(body, None).map_err(|e| failed(classify(&e), format!("{e:?}")))?;
        future.subscribe().block();
        let incoming = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(failed(classify(&e), format!("{e:?}")).into()),
            Some(Err(())) | None => {
                bail!("{} {}: no response", request.method, redact_url(&request.url))
            }
        };
        let status = incoming.status();
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let body = incoming.consume().map_err(|()| anyhow::anyhow!("the response body is gone"))?;
        let stream = body.stream().map_err(|()| anyhow::anyhow!("the response body cannot be read"))?;
        Ok(Response { status, headers, body: Box::new(IncomingReader { stream, _body: body }) })
    }
}

/// The request line and headers as a WASI outgoing request.
fn outgoing_request(request: &Request, user_agent: &str) -> Result<OutgoingRequest> {
    let (scheme, rest) = request.url.split_once("://").context("the URL has no scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    let mut headers: Vec<(String, Vec<u8>)> =
        request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.expose().as_bytes().to_vec())).collect();
    headers.push(("user-agent".into(), user_agent.as_bytes().to_vec()));
    let length = match &request.body {
        Body::Empty => matches!(request.method, "POST" | "PUT" | "PATCH").then_some(0),
        Body::Bytes(b) => Some(b.len() as u64),
        Body::File(p) => Some(std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?.len()),
    };
    if let Some(n) = length {
        headers.push(("content-length".into(), n.to_string().into_bytes()));
    }
    for (name, value) in &headers {
        fields.append(name, value).map_err(|e| anyhow::anyhow!("the header {name} is not allowed here: {e:?}"))?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    let set = outgoing.set_method(&method).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(Some(authority)).is_ok()
        && outgoing.set_path_with_query(Some(path)).is_ok();
    if !set {
        bail!("{} {}: the host refused the request line", request.method, redact_url(&request.url));
    }
    Ok(outgoing)
}

/// Streams the request body; the stream is dropped before the body is
/// finished, as WASI requires.
fn write_body(body: &OutgoingBody, content: &Body) -> Result<()> {
    let mut stream = body.write().map_err(|()| anyhow::anyhow!("the request body cannot be written"))?;
    match content {
        Body::Empty => {}
        Body::Bytes(bytes) => stream.write_all(bytes).context("sending the request body")?,
        Body::File(path) => {
            let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            std::io::copy(&mut file, &mut stream).with_context(|| format!("sending {}", path.display()))?;
        }
    }
    stream.flush().context("sending the request body")
}

/// Reads a response body; keeps the body resource alive while its stream
/// is read.
struct IncomingReader {
    stream: wasi::io::streams::InputStream,
    _body: wasi::http::types::IncomingBody,
}

impl Read for IncomingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Read::read(&mut self.stream, buf)
    }
}

fn classify(e: &ErrorCode) -> Failure {
    match e {
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused => Failure::Unreachable,
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Failure::Interrupted,
        _ => Failure::Permanent,
    }
}
