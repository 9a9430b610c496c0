//! Fake GitHub and GitLab comment APIs: the endpoints the tool uses, with
//! their auth headers required, bodies checked (`{"body": string}` only),
//! pagination (GitHub's `Link`, GitLab's `X-Next-Page`), deletion, and the
//! comments kept for assertions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::server::{Received, Reply, Server};

pub const GITHUB_TOKEN: &str = "ghs_test_token_0123456789";
pub const GITLAB_TOKEN: &str = "glpat-test-token-0123456789";

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub thread: u64,
    pub body: String,
    pub author: String,
}

#[derive(Default)]
pub struct ReviewState {
    pub comments: Vec<Comment>,
    pub page_size: usize,
    /// Every merge request's state, unless `mr_states` names it.
    pub mr_state: String,
    pub mr_states: BTreeMap<u64, String>,
    /// GitHub pull requests: number → (state, merged).
    pub pulls: BTreeMap<u64, (&'static str, bool)>,
    /// Labels of pull requests (GitHub) or merge requests (GitLab), by number.
    pub labels: BTreeMap<u64, Vec<&'static str>>,
    /// GitHub deployments, oldest first, each with its statuses.
    pub deployments: Vec<GitHubDeployment>,
    /// The token lacks `deployments: write`.
    pub deployments_forbidden: bool,
}

/// A deployment as GitHub keeps it: what was posted, and its statuses.
#[derive(Clone, Debug)]
pub struct GitHubDeployment {
    pub id: u64,
    pub request: Value,
    pub statuses: Vec<Value>,
}

pub struct FakeReview {
    pub server: Server,
    pub state: Arc<Mutex<ReviewState>>,
}

impl FakeReview {
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }

    /// Adds a comment by someone else (to be skipped over).
    pub fn seed(&self, thread: u64, body: &str) {
        let mut s = self.state.lock().unwrap();
        let id = 1000 + s.comments.len() as u64;
        s.comments.push(Comment { id, thread, body: body.into(), author: "someone".into() });
    }

    pub fn deployments(&self) -> Vec<GitHubDeployment> {
        self.state.lock().unwrap().deployments.clone()
    }

    /// Requests that changed comments.
    pub fn writes(&self) -> Vec<Received> {
        self.server.received().into_iter().filter(|r| r.method != "GET").collect()
    }
}

fn body_of(req: &Received) -> Result<String, Reply> {
    let v: Value = serde_json::from_slice(&req.body)
        .map_err(|_| Reply::json(400, json!({ "message": "Problems parsing JSON" })))?;
    let obj = v.as_object().ok_or_else(|| Reply::json(400, json!({ "message": "Body should be a JSON object" })))?;
    if let Some(k) = obj.keys().find(|k| *k != "body") {
        return Err(Reply::json(422, json!({ "message": format!("unexpected key {k}") })));
    }
    obj.get("body")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Reply::json(422, json!({ "message": "body must be a string" })))
}

fn next_id(s: &ReviewState) -> u64 {
    s.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1
}

impl ReviewState {
    /// Page `page` (from 1) of a thread's comments, rendered; and whether
    /// another page follows.
    fn page(&self, thread: u64, query: &str, render: impl Fn(&Comment) -> Value) -> (Value, Option<usize>) {
        let all: Vec<&Comment> = self.comments.iter().filter(|c| c.thread == thread).collect();
        let page = page_of(query);
        let chunk = all.iter().skip((page - 1) * self.page_size).take(self.page_size).map(|c| render(c)).collect();
        let next = (page * self.page_size < all.len()).then_some(page + 1);
        (Value::Array(chunk), next)
    }

    /// Adds a comment by the token's bot user; the reply.
    fn add(&mut self, thread: &str, req: &Received, author: &str, render: impl Fn(u64, &str) -> Value) -> Reply {
        match body_of(req) {
            Ok(body) => {
                let id = next_id(self);
                let thread = thread.parse().unwrap_or(0);
                self.comments.push(Comment { id, thread, body: body.clone(), author: author.into() });
                Reply::json(201, render(id, &body))
            }
            Err(r) => r,
        }
    }

    /// Deletes a comment; the reply.
    fn remove(&mut self, id: &str) -> Reply {
        let id: u64 = id.parse().unwrap_or(0);
        let before = self.comments.len();
        self.comments.retain(|c| c.id != id);
        if self.comments.len() < before { Reply::new(204) } else { Reply::json(404, json!({ "message": "Not Found" })) }
    }

    /// Replaces a comment's body; the reply.
    fn edit(&mut self, id: &str, req: &Received, render: impl Fn(u64, &str) -> Value) -> Reply {
        let id: u64 = id.parse().unwrap_or(0);
        let body = match body_of(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        match self.comments.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.body = body.clone();
                Reply::json(200, render(id, &body))
            }
            None => Reply::json(404, json!({ "message": "Not Found" })),
        }
    }
}

/// The keys and JSON types GitHub's "Create a deployment" takes.
const DEPLOYMENT_KEYS: &[(&str, &str)] = &[
    ("ref", "string"),
    ("task", "string"),
    ("auto_merge", "boolean"),
    ("required_contexts", "array"),
    ("payload", "object"),
    ("environment", "string"),
    ("description", "string"),
    ("transient_environment", "boolean"),
    ("production_environment", "boolean"),
];

/// The keys GitHub's "Create a deployment status" takes.
const STATUS_KEYS: &[(&str, &str)] = &[
    ("state", "string"),
    ("target_url", "string"),
    ("log_url", "string"),
    ("description", "string"),
    ("environment", "string"),
    ("environment_url", "string"),
    ("auto_inactive", "boolean"),
];

const STATES: &[&str] = &["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];

/// The body as an object whose keys and types are among `allowed`.
fn checked_body(req: &Received, allowed: &[(&str, &str)]) -> Result<serde_json::Map<String, Value>, Reply> {
    let v: Value = serde_json::from_slice(&req.body)
        .map_err(|_| Reply::json(400, json!({ "message": "Problems parsing JSON" })))?;
    let obj =
        v.as_object().cloned().ok_or_else(|| Reply::json(400, json!({ "message": "Body should be a JSON object" })))?;
    for (key, value) in &obj {
        let Some((_, kind)) = allowed.iter().find(|(k, _)| k == key) else {
            return Err(Reply::json(422, json!({ "message": format!("unexpected key {key}") })));
        };
        let ok = match *kind {
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "array" => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            _ => value.is_object() || value.is_string(),
        };
        if !ok {
            return Err(Reply::json(422, json!({ "message": format!("{key} is not a {kind}") })));
        }
    }
    Ok(obj)
}

impl ReviewState {
    fn create_deployment(&mut self, req: &Received) -> Reply {
        let body = match checked_body(req, DEPLOYMENT_KEYS) {
            Ok(b) => b,
            Err(r) => return r,
        };
        if !body.contains_key("ref") {
            return Reply::json(422, json!({ "message": "ref is required" }));
        }
        // Without required_contexts: [], GitHub checks the commit's statuses first.
        if body.get("required_contexts").and_then(Value::as_array).is_none_or(|a| !a.is_empty()) {
            return Reply::json(409, json!({ "message": "Conflict: Commit status checks failed for the ref." }));
        }
        let id = 9000 + self.deployments.len() as u64;
        let request = Value::Object(body);
        self.deployments.push(GitHubDeployment { id, request: request.clone(), statuses: Vec::new() });
        Reply::json(201, deployment_json(id, &request))
    }

    fn add_status(&mut self, id: &str, req: &Received) -> Reply {
        let body = match checked_body(req, STATUS_KEYS) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let state = body.get("state").and_then(Value::as_str).unwrap_or("");
        if !STATES.contains(&state) {
            return Reply::json(422, json!({ "message": format!("state {state:?} is not one of {STATES:?}") }));
        }
        if body.get("description").and_then(Value::as_str).is_some_and(|d| d.chars().count() > 140) {
            return Reply::json(422, json!({ "message": "description is too long (maximum is 140 characters)" }));
        }
        let id: u64 = id.parse().unwrap_or(0);
        match self.deployments.iter_mut().find(|d| d.id == id) {
            Some(d) => {
                d.statuses.push(Value::Object(body.clone()));
                Reply::json(201, json!({ "id": d.statuses.len(), "state": state }))
            }
            None => Reply::json(404, json!({ "message": "Not Found" })),
        }
    }

    /// Newest first, filtered as GitHub filters (`environment`, `sha`, `ref`, `task`).
    fn list_deployments(&self, query: &str) -> Reply {
        let param = |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}=")));
        let list: Vec<Value> = self
            .deployments
            .iter()
            .rev()
            .filter(|d| param("environment").is_none_or(|e| d.request["environment"] == e))
            .filter(|d| param("sha").or(param("ref")).is_none_or(|r| d.request["ref"] == r))
            .take(param("per_page").and_then(|p| p.parse().ok()).unwrap_or(30))
            .map(|d| deployment_json(d.id, &d.request))
            .collect();
        Reply::json(200, Value::Array(list))
    }
}

fn deployment_json(id: u64, request: &Value) -> Value {
    json!({ "id": id, "ref": request["ref"], "sha": request["ref"], "task": "deploy",
        "environment": request.get("environment").cloned().unwrap_or(json!("production")),
        "payload": request.get("payload").cloned().unwrap_or(json!({})),
        "transient_environment": request.get("transient_environment").cloned().unwrap_or(json!(false)),
        "production_environment": request.get("production_environment").cloned().unwrap_or(json!(false)) })
}

fn page_of(query: &str) -> usize {
    query.split('&').find_map(|kv| kv.strip_prefix("page=")).and_then(|p| p.parse().ok()).unwrap_or(1)
}

pub fn github() -> FakeReview {
    let state = Arc::new(Mutex::new(ReviewState { page_size: 100, ..Default::default() }));
    let st = state.clone();
    let origin = Arc::new(std::sync::OnceLock::<String>::new());
    let o = origin.clone();
    let server = Server::start(move |req| {
        if req.header("user-agent").is_none() {
            return Reply::json(
                403,
                json!({ "message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header" }),
            );
        }
        if req.header("authorization") != Some(&format!("Bearer {GITHUB_TOKEN}")) {
            return Reply::json(401, json!({ "message": "Bad credentials" }));
        }
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut s = st.lock().unwrap();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["repos", _, _, "issues", n, "comments"]) => {
                let render = |c: &Comment| json!({ "id": c.id, "body": c.body, "user": { "login": c.author } });
                let (chunk, next) = s.page(n.parse().unwrap_or(0), query, render);
                let reply = Reply::json(200, chunk);
                match next {
                    Some(p) => reply
                        .header("link", &format!("<{}{path}?per_page=100&page={p}>; rel=\"next\"", o.get().unwrap())),
                    None => reply,
                }
            }
            ("POST", ["repos", _, _, "issues", n, "comments"]) => {
                s.add(n, req, "github-actions[bot]", |id, body| json!({ "id": id, "body": body }))
            }
            ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
                s.edit(id, req, |id, body| json!({ "id": id, "body": body }))
            }
            ("DELETE", ["repos", _, _, "issues", "comments", id]) => s.remove(id),
            ("GET", ["repos", _, _, "pulls", n]) => match s.pulls.get(&n.parse().unwrap_or(0)) {
                Some((state, merged)) => {
                    let number = n.parse::<u64>().unwrap_or(0);
                    let labels =
                        s.labels.get(&number).cloned().unwrap_or_default().into_iter().enumerate().map(|(i, name)| {
                            json!({ "id": 208045946 + i, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
                            "url": format!("https://api.github.com/repos/Codertocat/Hello-World/labels/{name}"),
                            "name": name, "color": "f29513", "default": false, "description": null })
                        });
                    Reply::json(
                        200,
                        json!({ "number": number, "state": state, "merged": merged,
                            "labels": labels.collect::<Vec<_>>(),
                            "merged_at": if *merged { json!("2026-11-30T10:00:00Z") } else { Value::Null } }),
                    )
                }
                None => Reply::json(404, json!({ "message": "Not Found" })),
            },
            (_, ["repos", _, _, "deployments", ..]) if s.deployments_forbidden => {
                Reply::json(403, json!({ "message": "Resource not accessible by integration" }))
            }
            ("POST", ["repos", _, _, "deployments"]) => s.create_deployment(req),
            ("POST", ["repos", _, _, "deployments", id, "statuses"]) => s.add_status(id, req),
            ("GET", ["repos", _, _, "deployments"]) => s.list_deployments(query),
            _ => Reply::json(404, json!({ "message": "Not Found" })),
        }
    });
    origin.set(server.url()).unwrap();
    FakeReview { server, state }
}

pub fn gitlab() -> FakeReview {
    let state = Arc::new(Mutex::new(ReviewState { page_size: 100, mr_state: "opened".into(), ..Default::default() }));
    let st = state.clone();
    let server = Server::start(move |req| {
        if req.header("private-token") != Some(GITLAB_TOKEN) {
            return Reply::json(401, json!({ "message": "401 Unauthorized" }));
        }
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut s = st.lock().unwrap();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["api", "v4", "projects", _, "merge_requests", iid]) => {
                let iid = iid.parse::<u64>().unwrap_or(0);
                let state = s.mr_states.get(&iid).unwrap_or(&s.mr_state);
                let labels = s.labels.get(&iid).cloned().unwrap_or_default();
                Reply::json(200, json!({ "iid": iid, "state": state, "labels": labels }))
            }
            ("GET", ["api", "v4", "projects", _, "merge_requests", iid, "notes"]) => {
                let render = |c: &Comment| json!({ "id": c.id, "body": c.body, "system": false, "author": { "username": c.author } });
                let (chunk, next) = s.page(iid.parse().unwrap_or(0), query, render);
                Reply::json(200, chunk).header("x-next-page", &next.map(|p| p.to_string()).unwrap_or_default())
            }
            ("POST", ["api", "v4", "projects", _, "merge_requests", iid, "notes"]) => {
                s.add(iid, req, "project_bot", |id, body| json!({ "id": id, "body": body, "system": false }))
            }
            ("PUT", ["api", "v4", "projects", _, "merge_requests", _, "notes", id]) => {
                s.edit(id, req, |id, body| json!({ "id": id, "body": body, "system": false }))
            }
            ("DELETE", ["api", "v4", "projects", _, "merge_requests", _, "notes", id]) => s.remove(id),
            _ => Reply::json(404, json!({ "message": "404 Not Found" })),
        }
    });
    FakeReview { server, state }
}
