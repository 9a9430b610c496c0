//! Fake GitHub and GitLab comment APIs: the endpoints the tool uses, with
//! their auth headers required, bodies checked (`{"body": string}` only),
//! pagination (GitHub's `Link`, GitLab's `X-Next-Page`), deletion, and the
//! comments kept for assertions.

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
    pub mr_state: String,
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
                Reply::json(200, json!({ "iid": iid.parse::<u64>().unwrap_or(0), "state": s.mr_state }))
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
