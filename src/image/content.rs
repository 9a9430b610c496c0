//! What an image is, apart from when and from which commit it was built:
//! per platform, its layers and its config without the creation times and
//! the provenance labels. Two builds of the same files on the same base
//! have the same content (layers are stamped with a fixed time), so a
//! redeploy can tell exactly whether a location changed.

use std::collections::BTreeMap;

use serde_json::Value;

/// Labels that change with every commit, left out of the comparison.
const PROVENANCE_LABELS: &[&str] = &["org.opencontainers.image.revision", "org.opencontainers.image.created"];

/// The label that names the commit an image was built from.
const REVISION_LABEL: &str = "org.opencontainers.image.revision";

/// One platform's image: its layer digests, base first, and its config
/// without times or provenance labels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlatformContent {
    pub(crate) layers: Vec<String>,
    pub(crate) config: Value,
}

/// An image's content: one entry per platform (`os/arch[/variant]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ImageContent {
    pub(crate) platforms: BTreeMap<String, PlatformContent>,
    /// The commit the image was built from (its revision label).
    pub(crate) revision: Option<String>,
}

impl ImageContent {
    /// Adds one platform's manifest layers and config.
    pub(crate) fn add(&mut self, layers: Vec<String>, config: &Value) {
        let platform = platform_of(config);
        if self.revision.is_none() {
            self.revision = config.pointer("/config/Labels").and_then(|l| l[REVISION_LABEL].as_str()).map(String::from);
        }
        self.platforms.insert(platform, PlatformContent { layers, config: without_provenance(config) });
    }

    /// Adds `other`'s platforms (an index over several builds).
    pub(crate) fn merge(&mut self, other: ImageContent) {
        self.platforms.extend(other.platforms);
        self.revision = self.revision.take().or(other.revision);
    }

    /// `None` when `self` and `other` have the same content; else what
    /// differs, in a few words.
    pub(crate) fn difference(&self, other: &ImageContent) -> Option<String> {
        let mine: Vec<&String> = self.platforms.keys().collect();
        let theirs: Vec<&String> = other.platforms.keys().collect();
        if mine != theirs {
            return Some(format!("platforms {} → {}", join(&mine), join(&theirs)));
        }
        for (platform, content) in &self.platforms {
            let new = &other.platforms[platform];
            if content.layers != new.layers {
                let changed = new.layers.iter().filter(|l| !content.layers.contains(l)).count();
                return Some(format!("{changed} new layer(s) on {platform}"));
            }
            if content.config != new.config {
                return Some(format!("config {} on {platform}", changed_keys(&content.config, &new.config)));
            }
        }
        None
    }
}

/// `os/arch[/variant]` of a config.
fn platform_of(config: &Value) -> String {
    let mut platform =
        format!("{}/{}", config["os"].as_str().unwrap_or("?"), config["architecture"].as_str().unwrap_or("?"));
    if let Some(variant) = config["variant"].as_str() {
        platform.push('/');
        platform.push_str(variant);
    }
    platform
}

/// The config without `created`, the history's times and the provenance
/// labels.
fn without_provenance(config: &Value) -> Value {
    let mut config = config.clone();
    if let Some(object) = config.as_object_mut() {
        object.remove("created");
    }
    if let Some(history) = config.get_mut("history").and_then(Value::as_array_mut) {
        for entry in history.iter_mut().filter_map(Value::as_object_mut) {
            entry.remove("created");
        }
    }
    if let Some(labels) = config.pointer_mut("/config/Labels").and_then(Value::as_object_mut) {
        for label in PROVENANCE_LABELS {
            labels.remove(*label);
        }
    }
    config
}

/// The config keys that differ, as `config.Env, history`.
fn changed_keys(old: &Value, new: &Value) -> String {
    let mut keys = Vec::new();
    let names = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let mut top = names(old);
    top.extend(names(new));
    top.sort();
    top.dedup();
    for key in top {
        if old.get(&key) == new.get(&key) {
            continue;
        }
        if key == "config" {
            let mut inner = names(&old["config"]);
            inner.extend(names(&new["config"]));
            inner.sort();
            inner.dedup();
            keys.extend(
                inner
                    .into_iter()
                    .filter(|k| old["config"].get(k) != new["config"].get(k))
                    .map(|k| format!("config.{k}")),
            );
        } else {
            keys.push(key);
        }
    }
    keys.join(", ")
}

fn join(items: &[&String]) -> String {
    if items.is_empty() { "none".into() } else { items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(revision: &str, created: &str, env: &str) -> Value {
        json!({
            "architecture": "amd64", "os": "linux", "created": created,
            "config": { "Env": [env], "Labels": {
                "org.opencontainers.image.revision": revision,
                "org.opencontainers.image.source": "https://github.com/acme/shop" } },
            "history": [{ "created": created, "created_by": "COPY . /app # dagster-branch-deploy" }],
            "rootfs": { "type": "layers", "diff_ids": ["sha256:1"] }
        })
    }

    fn content(layers: &[&str], config: &Value) -> ImageContent {
        let mut c = ImageContent::default();
        c.add(layers.iter().map(|l| l.to_string()).collect(), config);
        c
    }

    #[test]
    fn a_new_commit_with_the_same_files_is_the_same_content() {
        let old = content(&["sha256:a", "sha256:b"], &config("1111", "2026-01-01T00:00:00Z", "A=1"));
        let new = content(&["sha256:a", "sha256:b"], &config("2222", "2026-02-01T00:00:00Z", "A=1"));
        assert_eq!(old.difference(&new), None);
        assert_eq!(old.revision.as_deref(), Some("1111"));
    }

    #[test]
    fn layers_config_and_platforms_are_told_apart() {
        let old = content(&["sha256:a", "sha256:b"], &config("1", "t", "A=1"));
        let layer = content(&["sha256:a", "sha256:c"], &config("2", "t", "A=1"));
        assert_eq!(old.difference(&layer).as_deref(), Some("1 new layer(s) on linux/amd64"));
        let env = content(&["sha256:a", "sha256:b"], &config("2", "t", "A=2"));
        assert_eq!(old.difference(&env).as_deref(), Some("config config.Env on linux/amd64"));
        let mut arm = config("2", "t", "A=1");
        arm["architecture"] = json!("arm64");
        arm["variant"] = json!("v8");
        let arm = content(&["sha256:a", "sha256:b"], &arm);
        assert_eq!(old.difference(&arm).as_deref(), Some("platforms linux/amd64 → linux/arm64/v8"));
    }

    #[test]
    fn the_source_label_is_compared() {
        let old = content(&["sha256:a"], &config("1", "t", "A=1"));
        let mut moved = config("1", "t", "A=1");
        moved["config"]["Labels"]["org.opencontainers.image.source"] = json!("https://github.com/acme/other");
        assert_eq!(
            old.difference(&content(&["sha256:a"], &moved)).as_deref(),
            Some("config config.Labels on linux/amd64")
        );
    }
}
