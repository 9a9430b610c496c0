//! A fault-injecting front for a real registry: forwards every request to
//! it (rewriting `Location` so uploads come back through), except those a
//! test's rule answers itself with an error or a corrupted body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::server::{Received, Reply, Server};
use super::{Auth, Project, TestRegistry, code_only_project, push_busybox_base};

/// What a rule decides for a request, given how many requests matching
/// its method and path prefix came before.
pub type Rule = dyn Fn(&Received, usize) -> Option<Reply> + Send + Sync;

pub fn faulty_front(
    upstream: &str,
    rule: impl Fn(&Received, usize) -> Option<Reply> + Send + Sync + 'static,
) -> Server {
    let upstream = format!("http://{upstream}");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let counter = Arc::new(AtomicUsize::new(0));
    let rule: Arc<Rule> = Arc::new(rule);
    let front_origin = Arc::new(std::sync::OnceLock::<String>::new());
    let origin = front_origin.clone();
    let server = Server::start(move |req| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        if let Some(reply) = rule(req, n) {
            return reply;
        }
        forward(&agent, &upstream, origin.get().map(String::as_str).unwrap_or(""), req)
    });
    front_origin.set(server.url()).unwrap();
    server
}

fn forward(agent: &ureq::Agent, upstream: &str, front: &str, req: &Received) -> Reply {
    let mut builder =
        ureq::http::Request::builder().method(req.method.as_str()).uri(format!("{upstream}{}", req.target));
    for (k, v) in &req.headers {
        if k != "host" && k != "content-length" && k != "transfer-encoding" {
            builder = builder.header(k, v);
        }
    }
    let response = agent.run(builder.body(req.body.clone()).unwrap()).unwrap();
    let status = response.status().as_u16();
    let mut reply = Reply::new(status);
    for (k, v) in response.headers() {
        let name = k.as_str();
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        let value = String::from_utf8_lossy(v.as_bytes()).replace(upstream, front);
        reply = reply.header(name, &value);
    }
    let body = if req.method == "HEAD" { Vec::new() } else { response.into_body().read_to_vec().unwrap() };
    let length = if req.method == "HEAD" { None } else { Some(body.len()) };
    let mut reply = reply.body(body);
    if length.is_none() {
        reply.headers.retain(|(k, _)| k != "content-length");
    }
    reply
}

/// Counts requests per (method, path prefix) so rules can fail only the
/// first few.
pub struct Counter(std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl Counter {
    pub fn new() -> Counter {
        Counter(std::sync::Mutex::new(std::collections::HashMap::new()))
    }

    /// How many earlier requests had this key.
    pub fn bump(&self, key: &str) -> usize {
        let mut map = self.0.lock().unwrap();
        let n = map.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n - 1
    }

    /// How many requests had this key.
    pub fn count(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// A real registry holding the busybox base, a faulty front before it, and
/// a code-only project whose base and target both go through the front.
pub struct FaultyWorld {
    pub reg: TestRegistry,
    /// Kept alive for the test's length.
    pub _front: Server,
    pub project: Project,
}

pub fn faulty_world(rule: impl Fn(&Received, usize) -> Option<Reply> + Send + Sync + 'static) -> FaultyWorld {
    let reg = TestRegistry::start(Auth::None);
    let base = push_busybox_base(&reg.host, "base/busybox", None);
    let front = faulty_front(&reg.host, rule);
    let front_host = front.addr.to_string();
    let project = code_only_project(&front_host, &base.replace(&reg.host, &front_host));
    FaultyWorld { reg, _front: front, project }
}
