//! What the checkout's git knows: the head commit (sha, time, author,
//! subject) and the origin remote as a web URL. Absence of git or of a
//! repository is not an error: callers get `None` and decide.
//!
//! WebAssembly cannot start git: there the launcher runs the same commands
//! and passes their output in `DAGSTER_GIT_HEAD` (the `git log` lines),
//! `DAGSTER_GIT_BRANCH`, `DAGSTER_GIT_DEFAULT_BRANCH` and
//! `DAGSTER_GIT_ORIGIN`.

use std::path::Path;

#[cfg(not(target_os = "wasi"))]
use crate::io::process;

/// The head commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) sha: String,
    /// Committer time, Unix seconds.
    pub(crate) timestamp: i64,
    pub(crate) author_name: String,
    pub(crate) author_email: String,
    pub(crate) subject: String,
}

/// The `git log` format of [`commit`].
pub(crate) const LOG_FORMAT: &str = "--format=%H%n%ct%n%an%n%ae%n%s";

#[cfg(not(target_os = "wasi"))]
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let mut full = vec!["-C", dir.to_str()?];
    full.extend_from_slice(args);
    let out = process::run("git", &full, None, None, &[]).ok()?;
    out.success.then(|| out.stdout.trim_end_matches('\n').to_string())
}

/// In WebAssembly, the answers the launcher got from git.
#[cfg(target_os = "wasi")]
fn git(_dir: &Path, args: &[&str]) -> Option<String> {
    let name = match args.first().copied()? {
        "log" if args.get(2) == Some(&"HEAD") => "DAGSTER_GIT_HEAD",
        "log" => {
            let head = std::env::var("DAGSTER_GIT_HEAD").ok()?;
            return head.lines().next().filter(|sha| Some(sha) == args.get(2)).map(|_| head.clone());
        }
        "rev-parse" => "DAGSTER_GIT_BRANCH",
        "symbolic-ref" => "DAGSTER_GIT_DEFAULT_BRANCH",
        "config" => "DAGSTER_GIT_ORIGIN",
        _ => return None,
    };
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The commit `rev` (e.g. `HEAD`) in the repository containing `dir`.
pub(crate) fn commit(dir: &Path, rev: &str) -> Option<Commit> {
    let out = git(dir, &["log", "-1", rev, LOG_FORMAT, "--"])?;
    let mut lines = out.lines();
    Some(Commit {
        sha: lines.next()?.to_string(),
        timestamp: lines.next()?.parse().ok()?,
        author_name: lines.next().unwrap_or("").to_string(),
        author_email: lines.next().unwrap_or("").to_string(),
        subject: lines.next().unwrap_or("").to_string(),
    })
}

/// The checked-out branch (`HEAD` when detached).
pub(crate) fn current_branch(dir: &Path) -> Option<String> {
    git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|s| !s.is_empty())
}

/// The origin remote's default branch (`origin/HEAD`).
pub(crate) fn default_branch(dir: &Path) -> Option<String> {
    let full = git(dir, &["symbolic-ref", "--short", "refs/remotes/origin/HEAD"])?;
    Some(full.strip_prefix("origin/").unwrap_or(&full).to_string())
}

/// The `origin` remote's URL.
pub(crate) fn origin_url(dir: &Path) -> Option<String> {
    git(dir, &["config", "--get", "remote.origin.url"]).filter(|s| !s.is_empty())
}

/// A remote URL as the web page of the repository
/// (`git@github.com:acme/app.git` → `https://github.com/acme/app`), with
/// any credentials in it dropped.
pub(crate) fn web_url(remote: &str) -> Option<String> {
    let remote = remote.trim().trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = if let Some(rest) = remote.strip_prefix("git@") {
        rest.split_once(':')?
    } else {
        let rest = remote.split_once("://")?.1;
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split_once('/')?
    };
    let host = host.split(':').next()?;
    Some(format!("https://{host}/{path}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn remotes_become_web_urls_without_credentials() {
        let w = super::web_url;
        assert_eq!(w("git@github.com:acme/app.git").as_deref(), Some("https://github.com/acme/app"));
        assert_eq!(
            w("https://x-access-token:ghs_secret@github.com/acme/app.git").as_deref(),
            Some("https://github.com/acme/app")
        );
        assert_eq!(w("ssh://git@gitlab.example.com:2222/g/p").as_deref(), Some("https://gitlab.example.com/g/p"));
        assert_eq!(w("/local/path"), None);
    }
}
