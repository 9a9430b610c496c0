//! The dependency layer, found again without downloading a wheel: it is
//! keyed by what selects it (the lock's bytes, the sync options, the base's
//! manifest digest, the platform, the environment's directory and this
//! installer's format) and recorded in the location's repository as a
//! one-layer image tagged `deps-<key>`, whose config carries the base's
//! Python. A code-only change then costs a manifest and a config read, and
//! a HEAD for the layer.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::image::assemble::{Base, NewLayer, assemble};
use crate::image::digest::Digest;
use crate::image::layout::Layout;
use crate::image::oci::Manifest;
use crate::image::platform::TargetPlatform;
use crate::image::reference::ImageRef;
use crate::python::base::BaseFacts;
use crate::python::lock::SyncRequest;
use crate::python::version::Version;
use crate::registry::pull::read_blob;
use crate::registry::push::{PushRequest, push};
use crate::registry::remote::find_manifest;
use crate::registry::transport::Registry;

/// Changes when the installer's output for the same inputs would.
const FORMAT: &str = "dagster-branch-deploy python deps 1";
const LABEL_PYTHON: &str = "dev.dagster-branch-deploy.python";
const LABEL_INTERPRETER: &str = "dev.dagster-branch-deploy.interpreter";
const LABEL_GLIBC: &str = "dev.dagster-branch-deploy.glibc";

/// What selects the dependency layer.
pub(super) struct DepsInputs<'a> {
    pub(super) lock_sha256: &'a str,
    pub(super) sync: &'a SyncRequest,
    pub(super) base_digest: &'a Digest,
    pub(super) platform: &'a TargetPlatform,
    pub(super) venv_root: &'a str,
}

/// The tag the layer is recorded under: `deps-<sha256 of the inputs>`.
pub(super) fn tag(inputs: &DepsInputs) -> String {
    let mut h = Sha256::new();
    let groups = inputs.sync.groups.join(",");
    let extras = inputs.sync.extras.join(",");
    let package = inputs.sync.package.as_deref().unwrap_or("");
    for part in
        [FORMAT, inputs.lock_sha256, inputs.base_digest.as_str(), &inputs.platform.to_string(), inputs.venv_root]
            .into_iter()
            .chain([groups.as_str(), extras.as_str(), package])
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("deps-{}", hex::encode(h.finalize()))
}

/// The recorded layer and the base's Python, if the repository has them.
pub(super) fn find(registry: &Registry, repo: &str, tag: &str) -> Result<Option<(NewLayer, BaseFacts)>> {
    let Some(fetched) = find_manifest(registry, repo, tag)? else { return Ok(None) };
    let manifest: Manifest =
        serde_json::from_slice(&fetched.bytes).context("parsing the dependency image's manifest")?;
    let config: Value = serde_json::from_slice(&read_blob(registry, repo, &manifest.config.digest)?)
        .context("parsing the dependency image's config")?;
    let labels = &config["config"]["Labels"];
    let label = |key: &str| labels[key].as_str().map(str::to_string);
    let (Some(layer), Some(diff_id)) = (manifest.layers.first(), config["rootfs"]["diff_ids"][0].as_str()) else {
        return Ok(None);
    };
    let facts = (|| {
        Some(BaseFacts {
            interpreter: label(LABEL_INTERPRETER)?,
            version: Version::parse(&label(LABEL_PYTHON)?)?,
            glibc_minor: label(LABEL_GLIBC)?.parse().ok()?,
        })
    })();
    let Some(facts) = facts else { return Ok(None) };
    let created_by = config["history"][0]["created_by"].as_str().unwrap_or("dependencies");
    let created_by = created_by.trim_end_matches(" # dagster-branch-deploy").to_string();
    let layer = NewLayer { descriptor: layer.clone(), diff_id: Digest::parse(diff_id)?, created_by };
    Ok(Some((layer, facts)))
}

/// Records `layer` (already pushed with the image) under `tag`.
pub(super) fn record(
    registry: &Registry,
    target: &ImageRef,
    tag: &str,
    layer: &NewLayer,
    facts: &BaseFacts,
    platform: &TargetPlatform,
    layout: &Layout,
) -> Result<()> {
    let scratch = Base::scratch(platform);
    let mut config = scratch.config.clone();
    let version = facts.version.release().iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    config["config"] = json!({ "Labels": {
        LABEL_PYTHON: version,
        LABEL_INTERPRETER: facts.interpreter,
        LABEL_GLIBC: facts.glibc_minor.to_string(),
    }});
    let built = assemble(&scratch, config, vec![layer.clone()], 0)?;
    built.store(layout)?;
    let blobs = [layer.descriptor.clone(), built.config.clone()];
    let request = PushRequest {
        target: registry,
        repo: &target.repository,
        tag,
        manifest: &built.manifest,
        blobs: &blobs,
        layout,
        source: None,
    };
    push(&request).with_context(|| format!("recording the dependency layer as {}:{tag}", target.repository))?;
    Ok(())
}
