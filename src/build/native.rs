//! The native build: the base image's config (never its layers), one
//! reproducible layer per COPY, the config changed as `docker build` would,
//! and a push of only what the registry lacks; offline, the code layers
//! alone.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{BuildKind, Job, LocationImage};
use crate::image::assemble::{Base, Built};
use crate::image::content::ImageContent;
use crate::image::context::BuildContext;
use crate::image::dockerfile::Recipe;
use crate::image::layout::Layout;
use crate::image::mutate::{self, Metadata};
use crate::image::oci::Descriptor;
use crate::image::reference::ImageRef;
use crate::io::http::{Failure, TransportError};
use crate::registry::pull;
use crate::registry::push::{self, BlobSource, PushRequest, PushStats};
use crate::registry::transport::Registry;
use crate::text::human_bytes;

impl Job<'_> {
    pub(super) fn native(&self, recipe: &Recipe) -> Result<LocationImage> {
        let keywords = recipe_keywords(recipe);
        let reason = format!("the Dockerfile uses only {keywords}");
        self.progress().info(format!("{}: native build ({reason})", self.location.name));
        let platform = &self.platform;
        let from = mutate::resolve_from(recipe, platform, &self.options.build_args)?;
        let (base, base_registry, unresolved) = match &from {
            None => (Base::scratch(platform), None, None),
            Some(image) if self.options.offline => {
                (Base::scratch(platform), None, Some(format!("{image} (--offline)")))
            }
            Some(image) => match self.resolve_base(image) {
                Ok((base, registry)) => (base, Some(registry), None),
                Err(e) if !self.options.push && TransportError::failure_in(&e) == Some(Failure::Unreachable) => {
                    self.progress().warn(format!(
                        "{}: could not reach the registry of the base image {image}; writing only the code layers ({e:#})",
                        self.location.name
                    ));
                    (Base::scratch(platform), None, Some(format!("{image} (unreachable)")))
                }
                Err(e) => return Err(e),
            },
        };
        let base_pinned =
            base.name.as_ref().zip(base.manifest_digest.clone()).map(|(n, d)| n.with_digest(d).to_string());
        if let Some(pinned) = &base_pinned {
            self.progress().info(format!("  base {pinned}"));
        }
        let context = BuildContext::open(&self.location.build_directory)?;
        let (layout_dir, _temp) = self.layout_dir()?;
        let layout = Layout::create(&layout_dir)?;
        let meta = Metadata {
            epoch: self.provenance.epoch,
            labels: self.provenance.labels(),
            platform: platform.clone(),
            build_args: self.options.build_args.clone(),
        };
        let built = mutate::apply(recipe, &context, &base, &meta, &layout)?;
        for layer in &built.new_layers {
            self.progress().info(format!("  layer {} ({})", layer.digest.short(), human_bytes(layer.size)));
        }
        if let Some(unresolved) = unresolved {
            return Ok(self.code_layers_only(reason, built.new_layers, unresolved, layout_dir));
        }
        self.publish(built, &base, base_registry.as_deref(), &layout, layout_dir, reason)
    }

    pub(super) fn resolve_base(&self, image: &ImageRef) -> Result<(Base, Arc<Registry>)> {
        let platform = &self.platform;
        let registry = self.services.registry(image)?;
        let base = pull::resolve_base(&registry, image, platform)
            .with_context(|| format!("resolving the base image {image} for {platform}"))?;
        Ok((base, registry))
    }

    /// Stores the image in its layout, writes the layout out when
    /// `--output-dir` asks (with the base layers, read from `registry`), and
    /// pushes what the target lacks (mounting the base's blobs on the same
    /// registry); returns the location's outcome.
    pub(super) fn publish(
        &self,
        built: Built,
        base: &Base,
        registry: Option<&Registry>,
        layout: &Layout,
        layout_dir: PathBuf,
        reason: String,
    ) -> Result<LocationImage> {
        built.store(layout)?;
        let source = registry.zip(base.name.as_ref());
        if self.options.output_dir.is_some() {
            if let Some((registry, image)) = source {
                let n = pull::fetch_missing(registry, &image.repository, &base.layers, layout)
                    .with_context(|| format!("copying the base layers of {image} into {}", layout_dir.display()))?;
                if n > 0 {
                    self.progress().info(format!("  downloaded {} of base layers", human_bytes(n)));
                }
            }
            if !self.by_digest {
                layout.set_ref(&built.manifest, &self.tag)?;
                self.progress().info(format!("  wrote oci:{}:{}", layout_dir.display(), self.tag));
            }
        }
        let pushed = match (self.options.push, &self.target) {
            (true, Some(target)) => Some(self.push(&built, source, layout, target)?),
            _ => None,
        };
        let digest = built.manifest.digest.clone();
        self.progress().info(format!("  digest {digest}"));
        let base_pinned =
            base.name.as_ref().zip(base.manifest_digest.clone()).map(|(n, d)| n.with_digest(d).to_string());
        let mut content = ImageContent::default();
        let config: serde_json::Value =
            serde_json::from_slice(&built.config_bytes).context("reading the built config")?;
        content.add(built.layers.iter().map(|l| l.digest.as_str().to_string()).collect(), &config);
        Ok(LocationImage {
            base: base_pinned,
            content: Some(content),
            manifest: Some(built.manifest.clone()),
            new_layers: built.new_layers,
            reference: self.target.as_ref().map(|t| t.with_digest(digest.clone()).to_string()),
            digest: Some(digest),
            layout: self.options.output_dir.as_ref().map(|_| layout_dir),
            pushed,
            ..self.outcome(BuildKind::Native, reason)
        })
    }

    fn push(
        &self,
        built: &Built,
        source: Option<(&Registry, &ImageRef)>,
        layout: &Layout,
        target: &ImageRef,
    ) -> Result<PushStats> {
        let registry = self.services.registry(target)?;
        let mut blobs = built.layers.clone();
        blobs.push(built.config.clone());
        let source = source.map(|(registry, image)| BlobSource {
            registry,
            repo: &image.repository,
            same_registry: image.registry == target.registry,
        });
        // One platform of several is pushed by digest; the index gets the tag.
        let tag = if self.by_digest { built.manifest.digest.to_string() } else { self.tag.clone() };
        let request = PushRequest {
            target: &registry,
            repo: &target.repository,
            tag: &tag,
            manifest: &built.manifest,
            blobs: &blobs,
            layout,
            source,
        };
        let (_, stats) = push::push(&request).with_context(|| format!("pushing {target}"))?;
        self.progress().info(format!(
            "  pushed {target}: {} uploaded ({}), {} mounted, {} already there",
            stats.uploaded,
            human_bytes(stats.uploaded_bytes),
            stats.mounted,
            stats.present
        ));
        Ok(stats)
    }

    /// The outcome of an offline build: code layers only, no image.
    fn code_layers_only(
        &self,
        reason: String,
        layers: Vec<Descriptor>,
        unresolved: String,
        dir: PathBuf,
    ) -> LocationImage {
        self.progress().info(format!(
            "  base {unresolved} not resolved: wrote the code layers only, to {}",
            self.options.output_dir.as_ref().map_or("a temporary directory".to_string(), |_| dir.display().to_string())
        ));
        // Layers without a manifest or index.json are no image layout, so
        // none is reported.
        LocationImage {
            unresolved_base: Some(unresolved),
            new_layers: layers,
            ..self.outcome(BuildKind::Native, reason)
        }
    }
}

fn recipe_keywords(recipe: &Recipe) -> String {
    let mut keywords = vec!["FROM"];
    for step in &recipe.steps {
        let k = step.instruction.keyword.as_str();
        if !keywords.contains(&k) {
            keywords.push(k);
        }
    }
    keywords.join(", ")
}
