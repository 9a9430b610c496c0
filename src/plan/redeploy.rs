//! Which locations a deploy sends again: a location is redeployed unless
//! the deployment already runs it with the same image content (see
//! [`crate::image::content`]) and the same location document, git
//! metadata aside, and loaded it without an error. Pure: the facts come
//! from Dagster+ and the registry, the verdict and its reason go to the
//! comment and the summary.

use serde_json::Value;

use super::document::without_nulls;

/// Keys of a location document that change with every commit.
const COMMIT_KEYS: &[&str] = &["git", "image"];

/// Whether a location is deployed again, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Deployed again, for this reason.
    Redeploy(String),
    /// Left running: the deployment runs this content, built from `since`,
    /// as `image`.
    Unchanged { since: Option<String>, image: String },
}

/// What the deployment runs now for one location.
pub(crate) struct Running<'a> {
    pub(crate) document: &'a Value,
    pub(crate) load_failed: bool,
}

/// The verdict before comparing images: `Some` when the document alone
/// decides (not deployed, failed to load, `--redeploy-all`, another
/// document); `None` when the images must be compared.
pub(crate) fn before_images(running: Option<&Running>, new_document: &Value, redeploy_all: bool) -> Option<Change> {
    if redeploy_all {
        return Some(Change::Redeploy("--redeploy-all".into()));
    }
    let Some(running) = running else { return Some(Change::Redeploy("not deployed yet".into())) };
    if running.load_failed {
        return Some(Change::Redeploy("its last load failed".into()));
    }
    let changed = changed_keys(running.document, new_document);
    if !changed.is_empty() {
        return Some(Change::Redeploy(format!("its document changed ({})", changed.join(", "))));
    }
    None
}

/// The commit a running location was deployed from, by its document (a
/// commit sha, or nothing: the reply is shown in the comment).
pub(crate) fn deployed_commit(running: &Running) -> Option<String> {
    running.document["git"]["commit_hash"].as_str().filter(|c| crate::ci::is_commit_sha(c)).map(str::to_string)
}

/// The keys whose values differ, commit keys and nulls aside.
fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let strip = |v: &Value| {
        let mut v = without_nulls(v.clone());
        if let Some(o) = v.as_object_mut() {
            for key in COMMIT_KEYS {
                o.remove(*key);
            }
        }
        v
    };
    let (old, new) = (strip(old), strip(new));
    let mut keys: Vec<String> =
        old.as_object().into_iter().chain(new.as_object()).flat_map(|o| o.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| old.get(k) != new.get(k));
    keys
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document(commit: &str, queue: Option<&str>) -> Value {
        json!({ "location_name": "orders", "code_source": { "package_name": "orders" },
            "image": format!("ghcr.io/acme/orders@sha256:{commit}"), "agent_queue": queue,
            "git": { "commit_hash": commit, "url": format!("https://github.com/acme/shop/tree/{commit}") } })
    }

    #[test]
    fn only_the_document_outside_git_and_image_counts() {
        let old = document("1111", None);
        let running = Running { document: &old, load_failed: false };
        assert_eq!(before_images(Some(&running), &document("2222", None), false), None);
        assert_eq!(deployed_commit(&running).as_deref(), Some("1111"));
        let hostile = document("`main`\n::error::x", None);
        assert_eq!(deployed_commit(&Running { document: &hostile, load_failed: false }), None);
        assert_eq!(
            before_images(Some(&running), &document("2222", Some("gpu")), false),
            Some(Change::Redeploy("its document changed (agent_queue)".into()))
        );
    }

    #[test]
    fn new_failed_and_forced_locations_are_redeployed() {
        let old = document("1111", None);
        let failed = Running { document: &old, load_failed: true };
        let new = document("2222", None);
        assert_eq!(before_images(None, &new, false), Some(Change::Redeploy("not deployed yet".into())));
        assert_eq!(before_images(Some(&failed), &new, false), Some(Change::Redeploy("its last load failed".into())));
        let ok = Running { document: &old, load_failed: false };
        assert_eq!(before_images(Some(&ok), &new, true), Some(Change::Redeploy("--redeploy-all".into())));
    }
}
