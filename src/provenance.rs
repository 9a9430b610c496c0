//! Where an image's code comes from, worked out once per run: the commit
//! being deployed (CI's, never GitHub's merge commit), the image's creation time
//! (`SOURCE_DATE_EPOCH`, else the commit's), and the repository's web URL,
//! which become the image's OCI source and revision labels.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::env::Env;
use crate::io::git;

/// Where the code comes from: commit, time and repository URL.
#[derive(Clone, Debug, Default)]
pub(crate) struct Provenance {
    pub(crate) commit: Option<String>,
    /// The image's creation time (Unix seconds).
    pub(crate) epoch: i64,
    /// The repository's web URL.
    pub(crate) source_url: Option<String>,
}

impl Provenance {
    /// Reads provenance from `SOURCE_DATE_EPOCH`, the CI variables and the
    /// checkout's git.
    pub(crate) fn detect(env: &Env, dir: &Path) -> Result<Provenance> {
        let head = git::commit(dir, "HEAD");
        let commit = head
            .as_ref()
            .map(|c| c.sha.clone())
            .or_else(|| env.first_of(&["GITHUB_SHA", "CI_COMMIT_SHA"]).map(|(_, sha)| sha.to_string()));
        if let Some(sha) = commit.as_deref().filter(|sha| !crate::ci::is_commit_sha(sha)) {
            bail!("GITHUB_SHA or CI_COMMIT_SHA holds {}, which is not a commit sha", crate::text::excerpt(sha));
        }
        let epoch = match env.get("SOURCE_DATE_EPOCH") {
            Some(v) => {
                v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?
            }
            None => head.as_ref().map_or(0, |c| c.timestamp),
        };
        let source_url = match (env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("CI_PROJECT_URL")) {
            (Some(server), Some(repo), _) => Some(format!("{server}/{repo}")),
            (_, _, Some(url)) => Some(url.to_string()),
            _ => git::origin_url(dir).and_then(|u| git::web_url(&u)),
        };
        Ok(Provenance { commit, epoch, source_url })
    }

    pub(crate) fn labels(&self) -> Vec<(String, String)> {
        let mut labels = Vec::new();
        if let Some(url) = &self.source_url {
            labels.push(("org.opencontainers.image.source".to_string(), url.clone()));
        }
        if let Some(sha) = &self.commit {
            labels.push(("org.opencontainers.image.revision".to_string(), sha.clone()));
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_from_ci_must_be_a_sha() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("GITHUB_SHA", "not a sha")]);
        let err = Provenance::detect(&env, dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a commit sha"), "{err}");
        let env = Env::from_pairs([("CI_COMMIT_SHA", "0123abcd"), ("SOURCE_DATE_EPOCH", "7")]);
        let p = Provenance::detect(&env, dir.path()).unwrap();
        assert_eq!((p.commit.as_deref(), p.epoch), (Some("0123abcd"), 7));
    }
}
