//! Puts an image together from a base and the layers a build adds: the
//! config (diff_ids, one history entry per new layer, the creation time) and
//! a manifest in the base's media-type family. Both builders, the Dockerfile
//! one and the Python one, end here, so every native image is assembled the
//! same reproducible way.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::digest::Digest;
use super::layout::Layout;
use super::oci::{Descriptor, Family, Manifest, to_canonical_bytes};
use super::platform::TargetPlatform;
use super::reference::ImageRef;

/// The image a build starts from.
pub(crate) struct Base {
    /// The base's reference, `None` for `FROM scratch`.
    pub(crate) name: Option<ImageRef>,
    /// Digest of the base's platform manifest.
    pub(crate) manifest_digest: Option<Digest>,
    pub(crate) family: Family,
    pub(crate) config: Value,
    pub(crate) layers: Vec<Descriptor>,
}

impl Base {
    /// An empty base for `FROM scratch`.
    pub(crate) fn scratch(platform: &TargetPlatform) -> Base {
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [] },
            "history": [],
        });
        if let Some(v) = &platform.variant {
            config["variant"] = json!(v);
        }
        Base { name: None, manifest_digest: None, family: Family::Oci, config, layers: Vec::new() }
    }
}

/// A layer a build wrote into the layout.
#[derive(Clone, Debug)]
pub(crate) struct NewLayer {
    /// The compressed blob, as the manifest lists it.
    pub(crate) descriptor: Descriptor,
    /// The digest of the uncompressed tar, as the config lists it.
    pub(crate) diff_id: Digest,
    /// What made it, for the config's history.
    pub(crate) created_by: String,
}

/// A built image: its new layers are in the layout; its config and
/// manifest are returned as bytes, for the caller to store once the base is
/// known to be real (an offline build stores only the layers).
pub(crate) struct Built {
    /// The manifest's descriptor (its digest identifies the image).
    pub(crate) manifest: Descriptor,
    pub(crate) manifest_bytes: Vec<u8>,
    /// The layers this build added.
    pub(crate) new_layers: Vec<Descriptor>,
    pub(crate) config: Descriptor,
    pub(crate) config_bytes: Vec<u8>,
    /// Every layer, base first.
    pub(crate) layers: Vec<Descriptor>,
}

impl Built {
    /// Stores the config and manifest in the layout.
    pub(crate) fn store(&self, layout: &Layout) -> Result<()> {
        layout.put_bytes(&self.config_bytes)?;
        layout.put_bytes(&self.manifest_bytes)?;
        Ok(())
    }
}

/// Assembles the image: `config` is the base's config with the container
/// settings already changed; the new layers are appended to its rootfs and
/// history, stamped with `epoch` (Unix seconds).
pub(crate) fn assemble(base: &Base, mut config: Value, new_layers: Vec<NewLayer>, epoch: i64) -> Result<Built> {
    let created = rfc3339(epoch)?;
    config["created"] = json!(created);
    let diff_ids = ensure_diff_ids(&mut config)?;
    diff_ids.extend(new_layers.iter().map(|l| json!(l.diff_id)));
    let object = config.as_object_mut().context("the base config is not a JSON object")?;
    let history = object.entry("history").or_insert_with(|| json!([]));
    history.as_array_mut().context("the base config's history is not a list")?.extend(
        new_layers
            .iter()
            .map(|l| json!({ "created": created, "created_by": format!("{} # dagster-branch-deploy", l.created_by) })),
    );
    let config_bytes = to_canonical_bytes(&config);
    let config_descriptor = Descriptor::new(base.family.config(), Digest::of(&config_bytes), config_bytes.len() as u64);
    let new_layers: Vec<Descriptor> = new_layers.into_iter().map(|l| l.descriptor).collect();
    let mut layers = base.layers.clone();
    layers.extend(new_layers.iter().cloned());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(base.family.manifest().to_string()),
        config: config_descriptor.clone(),
        layers: layers.clone(),
        annotations: base_annotations(base),
        extra: Map::new(),
    };
    let manifest_bytes = to_canonical_bytes(&manifest);
    Ok(Built {
        manifest: Descriptor::new(base.family.manifest(), Digest::of(&manifest_bytes), manifest_bytes.len() as u64),
        manifest_bytes,
        new_layers,
        config: config_descriptor,
        config_bytes,
        layers,
    })
}

/// OCI manifests name their base (Docker schema 2 has no annotations).
fn base_annotations(base: &Base) -> Option<Map<String, Value>> {
    if base.family != Family::Oci {
        return None;
    }
    let (Some(name), Some(digest)) = (&base.name, &base.manifest_digest) else {
        return None;
    };
    let mut a = Map::new();
    a.insert("org.opencontainers.image.base.name".into(), json!(name.to_string()));
    a.insert("org.opencontainers.image.base.digest".into(), json!(digest.as_str()));
    Some(a)
}

fn rfc3339(epoch: i64) -> Result<String> {
    let t = OffsetDateTime::from_unix_timestamp(epoch).with_context(|| format!("timestamp {epoch} is out of range"))?;
    Ok(t.format(&Rfc3339)?)
}

fn ensure_diff_ids(config: &mut Value) -> Result<&mut Vec<Value>> {
    if config.pointer("/rootfs/diff_ids").is_none() {
        config["rootfs"] = json!({ "type": "layers", "diff_ids": [] });
    }
    config
        .pointer_mut("/rootfs/diff_ids")
        .and_then(Value::as_array_mut)
        .context("the base config's rootfs.diff_ids is not a list")
}
