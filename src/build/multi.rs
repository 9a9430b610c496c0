//! Multi-platform images (`--platform linux/amd64,linux/arm64`): one native
//! build per platform (each with its own base manifest and, for Python, its
//! own wheels), each manifest pushed by digest, and an OCI image index over
//! them pushed under the tag.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{BuildKind, BuildPath, Job, LocationImage, PlatformImage, Source};
use crate::image::content::ImageContent;
use crate::image::digest::Digest;
use crate::image::layout::Layout;
use crate::image::oci::{Descriptor, media, to_canonical_bytes};
use crate::registry::remote::put_manifest;

impl Job<'_> {
    /// Builds every platform and the index over them.
    pub(super) fn build_platforms(&self, source: &Source) -> Result<LocationImage> {
        if let Source::Dockerfile(_, BuildPath::External { reason }) = source {
            bail!(
                "location {:?} builds with a container builder ({reason}), which this tool runs for one platform; \
                 pass one --platform, or keep the Dockerfile native",
                self.location.name
            );
        }
        let mut images = Vec::new();
        for platform in &self.options.platforms {
            self.progress().info(format!("{}: {platform}", self.location.name));
            let job = Job { platform: platform.clone(), by_digest: true, ..self.clone() };
            images.push(job.build(source).with_context(|| format!("building for {platform}"))?);
        }
        let platforms: Vec<PlatformImage> = images
            .iter()
            .zip(&self.options.platforms)
            .map(|(image, p)| PlatformImage { platform: p.to_string(), digest: image.digest.clone() })
            .collect();
        let manifests: Option<Vec<Descriptor>> = images.iter().map(|i| i.manifest.clone()).collect();
        let content = images.iter().try_fold(ImageContent::default(), |mut all, image| {
            all.merge(image.content.clone()?);
            Some(all)
        });
        let mut first = images.into_iter().next().context("no platform was built")?;
        let Some(manifests) = manifests else {
            // Offline: the bases were not read, so there is no manifest to index.
            return Ok(LocationImage { platforms, digest: None, reference: None, manifest: None, ..first });
        };
        let index = self.index(&manifests);
        let bytes = to_canonical_bytes(&index);
        let descriptor = Descriptor::new(media::OCI_INDEX, Digest::of(&bytes), bytes.len() as u64);
        self.store_index(&bytes, &descriptor, first.layout.as_deref())?;
        if let (true, Some(target)) = (self.options.push, &self.target) {
            let registry = self.services.registry(target)?;
            put_manifest(&registry, &target.repository, &self.tag, media::OCI_INDEX, bytes)
                .with_context(|| format!("putting the index {target}"))?;
            self.progress().info(format!("  pushed the index {target} ({} platforms)", manifests.len()));
        }
        let digest = descriptor.digest.clone();
        self.progress().info(format!("  index digest {digest}"));
        first.new_layers.clear();
        Ok(LocationImage {
            build: BuildKind::Native,
            reference: self.target.as_ref().map(|t| t.with_digest(digest.clone()).to_string()),
            digest: Some(digest),
            manifest: Some(descriptor),
            platforms,
            content,
            ..first
        })
    }

    /// The OCI index: each platform's manifest with its platform.
    fn index(&self, manifests: &[Descriptor]) -> Value {
        let entries: Vec<Value> = manifests
            .iter()
            .zip(&self.options.platforms)
            .map(|(m, p)| {
                let mut platform = json!({ "os": p.os, "architecture": p.architecture });
                if let Some(v) = &p.variant {
                    platform["variant"] = json!(v);
                }
                json!({ "mediaType": m.media_type, "digest": m.digest, "size": m.size, "platform": platform })
            })
            .collect();
        json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": entries })
    }

    /// With `--output-dir`, the index goes into the location's layout under
    /// the tag.
    fn store_index(&self, bytes: &[u8], descriptor: &Descriptor, layout_dir: Option<&std::path::Path>) -> Result<()> {
        let Some(dir) = layout_dir else { return Ok(()) };
        let layout = Layout::create(dir)?;
        layout.put_bytes(bytes)?;
        layout.set_ref(descriptor, &self.tag)?;
        self.progress().info(format!("  wrote oci:{}:{}", dir.display(), self.tag));
        Ok(())
    }
}
