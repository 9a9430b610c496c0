//! HTTP in WebAssembly, through the launcher: the program runs under Node's
//! built-in WASI (preview 1, which has no sockets), and the launcher adds
//! four host functions in the `dbd_http` import module that make the
//! requests with node:http and node:https (TLS, proxies and CA
//! certificates as Node has them) in a worker thread, each call blocking
//! until the worker answers. One request is one call, with small response
//! bodies included: the host sees whole requests, not wasi:http's dozen
//! stream and pollable calls per request. The launcher's side is
//! `xtask/wasm/host.mjs`; the two change together.
//!
//! The ABI (all lengths in bytes; JSON is UTF-8):
//! - `request(meta, meta_len, body, body_len) -> reply_len`: `meta` is
//!   `{"method","url","headers":[[name,value]],"body_file"?}`; the body is
//!   the bytes given, or the file named by `body_file`, read by the host.
//!   The reply, fetched with `take_reply`, is `{"id","status","headers"}`
//!   or `{"error","failure"}` (`unreachable`, `interrupted` or `permanent`).
//! - `read(id, dst, len) -> n`: up to `len` bytes of response `id`'s body
//!   into `dst`; 0 at its end; negative: an error, whose message (of length
//!   `-n`) `take_reply` fetches.
//! - `take_reply(dst)`: copies the pending reply or error message.
//! - `close(id)`: forgets response `id` (and drops the rest of its body).
//!
//! Redirects are not followed by the host; the shared policy in
//! [`follow_redirects`] does that.

use std::io::Read;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::http::{Body, Failure, Http, Request, Response, TransportError, follow_redirects};

#[link(wasm_import_module = "dbd_http")]
unsafe extern "C" {
    #[link_name = "request"]
    fn host_request(meta: *const u8, meta_len: usize, body: *const u8, body_len: usize) -> usize;
    #[link_name = "read"]
    fn host_read(id: u32, dst: *mut u8, len: usize) -> isize;
    #[link_name = "take_reply"]
    fn host_take_reply(dst: *mut u8);
    #[link_name = "close"]
    fn host_close(id: u32);
}

/// Copies the host's pending reply, `len` bytes long.
fn take_reply(len: usize) -> Vec<u8> {
    let mut reply = vec![0u8; len];
    // SAFETY: `reply` has room for the `len` bytes the host said it holds.
    unsafe { host_take_reply(reply.as_mut_ptr()) };
    reply
}

/// The WebAssembly client.
pub(crate) struct HostHttp {
    user_agent: String,
}

impl HostHttp {
    /// A client that sends `user_agent`.
    pub(crate) fn new(user_agent: &str) -> HostHttp {
        HostHttp { user_agent: user_agent.to_string() }
    }
}

impl Http for HostHttp {
    fn send(&self, request: &Request) -> Result<Response> {
        follow_redirects(request, |r| self.send_once(r))
    }
}

/// What the host answers to a request.
#[derive(Deserialize)]
#[serde(untagged)]
enum Reply {
    Response { id: u32, status: u16, headers: Vec<(String, String)> },
    Error { error: String, failure: String },
}

impl HostHttp {
    fn send_once(&self, request: &Request) -> Result<Response> {
        let mut headers: Vec<(String, &str)> =
            request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.expose())).collect();
        headers.push(("user-agent".into(), &self.user_agent));
        let length = match &request.body {
            Body::Empty => matches!(request.method, "POST" | "PUT" | "PATCH").then_some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File(p) => Some(std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?.len()),
        };
        let length = length.map(|n| n.to_string());
        if let Some(n) = &length {
            headers.push(("content-length".into(), n));
        }
        let mut meta = serde_json::json!({ "method": request.method, "url": request.url, "headers": headers });
        let bytes: &[u8] = match &request.body {
            Body::Bytes(b) => b,
            Body::File(path) => {
                let path = path.to_str().with_context(|| format!("{} is not valid UTF-8", path.display()))?;
                meta["body_file"] = path.into();
                &[]
            }
            Body::Empty => &[],
        };
        let meta = meta.to_string();
        // SAFETY: both buffers outlive the call; the host only reads them.
        let len = unsafe { host_request(meta.as_ptr(), meta.len(), bytes.as_ptr(), bytes.len()) };
        let reply: Reply =
            serde_json::from_slice(&take_reply(len)).context("the launcher's HTTP reply is malformed")?;
        match reply {
            Reply::Response { id, status, headers } => {
                let headers = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
                Ok(Response { status, headers, body: Box::new(HostBody { id }) })
            }
            Reply::Error { error, failure } => {
                let failure = match failure.as_str() {
                    "unreachable" => Failure::Unreachable,
                    "interrupted" => Failure::Interrupted,
                    "permanent" => Failure::Permanent,
                    other => bail!("the launcher's HTTP reply has an unknown failure kind {other:?}"),
                };
                Err(TransportError::new(request, failure, error).into())
            }
        }
    }
}

/// A response body the host holds; closed when dropped.
struct HostBody {
    id: u32,
}

impl Read for HostBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: the host writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { host_read(self.id, buf.as_mut_ptr(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let message = String::from_utf8_lossy(&take_reply(n.unsigned_abs())).into_owned();
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, message))
    }
}

impl Drop for HostBody {
    fn drop(&mut self) {
        // SAFETY: `id` came from the host and is closed once.
        unsafe { host_close(self.id) };
    }
}
