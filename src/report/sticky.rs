//! One comment per pull/merge request, whatever the API and however many
//! runs race: the upsert both providers share, and the guard that ends
//! every paging loop.
//!
//! Two runs for the same pull request (a workflow without `concurrency:`)
//! may both find no comment and both post one. So after posting, the run
//! lists the thread again and keeps the oldest of this tool's comments
//! (lowest id), deleting the others; every run converges on the same one.

use std::collections::HashSet;

use anyhow::{Result, bail};

use super::comment::MARKER;
use crate::io::http::{Body, Request, redact_url};
use crate::urls::origin;

/// The most pages a comment listing reads (100 comments a page).
pub(crate) const MAX_PAGES: usize = 50;

/// A thread of comments on one pull/merge request.
pub(crate) trait Thread {
    /// The ids of this tool's comments (those starting with the marker).
    fn ours(&self) -> Result<Vec<u64>>;
    /// Posts a comment; its id.
    fn create(&self, body: &str) -> Result<u64>;
    /// Replaces a comment's body; `false` when it no longer exists.
    fn update(&self, id: u64, body: &str) -> Result<bool>;
    /// Deletes a comment (gone already is fine).
    fn delete(&self, id: u64) -> Result<()>;
}

/// `request` with `{"body": …}` as its JSON payload, when there is a body.
pub(crate) fn with_comment(request: Request, body: Option<&str>) -> Result<Request> {
    let Some(body) = body else { return Ok(request) };
    let payload = serde_json::to_vec(&serde_json::json!({ "body": body }))?;
    Ok(request.header("content-type", "application/json").body(Body::Bytes(payload)))
}

/// Whether a comment body is one of this tool's.
pub(crate) fn is_ours(body: &str) -> bool {
    body.starts_with(MARKER)
}

/// Writes `body` into the thread's one comment; returns its id.
pub(crate) fn upsert(thread: &dyn Thread, known: Option<u64>, body: &str) -> Result<u64> {
    if let Some(id) = known
        && thread.update(id, body)?
    {
        return Ok(id);
    }
    let mut ours = thread.ours()?;
    ours.sort_unstable();
    if let Some(&oldest) = ours.first()
        && thread.update(oldest, body)?
    {
        remove_extras(thread, oldest, &ours)?;
        return Ok(oldest);
    }
    let created = thread.create(body)?;
    let mut now = thread.ours()?;
    now.sort_unstable();
    let keep = now.first().copied().unwrap_or(created);
    remove_extras(thread, keep, &now)?;
    if keep != created {
        thread.update(keep, body)?;
    }
    Ok(keep)
}

fn remove_extras(thread: &dyn Thread, keep: u64, ours: &[u64]) -> Result<()> {
    for &id in ours.iter().filter(|&&id| id != keep) {
        thread.delete(id)?;
    }
    Ok(())
}

/// Ends a paging loop: each next page must stay on the API's origin, never
/// repeat, and the count is capped. A server that pages forever or points
/// elsewhere gets an error, not the token.
pub(crate) struct PageGuard {
    origin: String,
    seen: HashSet<String>,
}

impl PageGuard {
    /// A guard for pages of the API at `api_url`.
    pub(crate) fn new(api_url: &str) -> PageGuard {
        PageGuard { origin: origin(api_url).to_ascii_lowercase(), seen: HashSet::new() }
    }

    /// Checks the next page's URL before it is requested.
    pub(crate) fn admit(&mut self, url: &str) -> Result<()> {
        if origin(url).to_ascii_lowercase() != self.origin {
            bail!("the API's next page {} is not on {}; refusing to follow it", redact_url(url), self.origin);
        }
        if !self.seen.insert(url.to_string()) {
            bail!("the API sent {} as the next page again; stopping", redact_url(url));
        }
        if self.seen.len() > MAX_PAGES {
            bail!("the comment list has more than {MAX_PAGES} pages; stopping");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A thread in memory, optionally with a comment some other run posts
    /// between this run's listing and its post.
    #[derive(Default)]
    struct Memory {
        comments: Mutex<Vec<(u64, String)>>,
        racer: Mutex<Option<String>>,
    }

    impl Thread for Memory {
        fn ours(&self) -> Result<Vec<u64>> {
            Ok(self.comments.lock().unwrap().iter().filter(|(_, b)| is_ours(b)).map(|(id, _)| *id).collect())
        }
        fn create(&self, body: &str) -> Result<u64> {
            let mut c = self.comments.lock().unwrap();
            if let Some(other) = self.racer.lock().unwrap().take() {
                let id = c.len() as u64 + 1;
                c.push((id, other));
            }
            let id = c.len() as u64 + 1;
            c.push((id, body.to_string()));
            Ok(id)
        }
        fn update(&self, id: u64, body: &str) -> Result<bool> {
            let mut c = self.comments.lock().unwrap();
            Ok(c.iter_mut().find(|(i, _)| *i == id).map(|(_, b)| *b = body.to_string()).is_some())
        }
        fn delete(&self, id: u64) -> Result<()> {
            self.comments.lock().unwrap().retain(|(i, _)| *i != id);
            Ok(())
        }
    }

    #[test]
    fn a_race_between_two_runs_leaves_one_comment() {
        let thread = Memory::default();
        *thread.racer.lock().unwrap() = Some(format!("{MARKER}\nthe other run"));
        let id = upsert(&thread, None, &format!("{MARKER}\nthis run")).unwrap();
        assert_eq!(id, 1, "the oldest is kept");
        let comments = thread.comments.lock().unwrap().clone();
        assert_eq!(comments, [(1, format!("{MARKER}\nthis run"))]);
    }

    #[test]
    fn a_vanished_comment_is_found_again_or_posted() {
        let thread = Memory::default();
        let id = upsert(&thread, Some(9), &format!("{MARKER}\na")).unwrap();
        assert_eq!(id, 1);
        assert_eq!(upsert(&thread, None, &format!("{MARKER}\nb")).unwrap(), 1);
        assert_eq!(thread.comments.lock().unwrap().len(), 1);
    }

    #[test]
    fn pages_stay_on_the_origin_never_repeat_and_end() {
        let mut guard = PageGuard::new("https://api.github.com");
        guard.admit("https://api.github.com/repos/a/b/issues/1/comments?page=2").unwrap();
        let err = guard.admit("https://api.github.com/repos/a/b/issues/1/comments?page=2").unwrap_err();
        assert!(err.to_string().contains("again"), "{err}");
        let err = guard.admit("https://evil.example/x?page=3").unwrap_err();
        assert!(err.to_string().contains("not on https://api.github.com"), "{err}");
        let err = guard.admit("http://api.github.com/x").unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");
        let mut guard = PageGuard::new("https://api.github.com");
        let last = (0..=MAX_PAGES).map(|n| guard.admit(&format!("https://api.github.com/x?page={n}"))).last();
        assert!(last.unwrap().is_err());
    }
}
