//! Reading an image's [`ImageContent`] back from its registry: the manifest
//! (through an index, every platform), and each platform's config. Only
//! manifests and configs are read, never a layer: a few small requests.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::pool::Services;
use super::pull::read_blob;
use super::remote::get_manifest;
use super::transport::Registry;
use crate::image::content::ImageContent;
use crate::image::oci::{Index, Manifest, media};
use crate::image::reference::ImageRef;

/// The most platforms an index is read for: a hostile index may list
/// thousands.
const MAX_PLATFORMS: usize = 16;

/// The content of the image `reference` names.
pub(crate) fn fetch(services: &Services, reference: &str) -> Result<ImageContent> {
    let image = ImageRef::parse(reference)?;
    let registry = services.registry(&image)?;
    let repo = &image.repository;
    let top = get_manifest(&registry, repo, &image.reference())?;
    let mut content = ImageContent::default();
    if matches!(top.media_type.as_str(), media::OCI_INDEX | media::DOCKER_LIST) {
        let index: Index = serde_json::from_slice(&top.bytes).context("parsing the image index")?;
        // Attestation manifests (BuildKit's `unknown/unknown`) are not platforms.
        let platforms: Vec<_> =
            index.manifests.iter().filter(|m| m.platform.as_ref().is_some_and(|p| p.os != "unknown")).collect();
        if platforms.len() > MAX_PLATFORMS {
            bail!("{reference} lists {} platforms; at most {MAX_PLATFORMS} are compared", platforms.len());
        }
        for child in platforms {
            add_manifest(&mut content, &registry, repo, child.digest.as_str())?;
        }
    } else {
        let manifest: Manifest = serde_json::from_slice(&top.bytes).context("parsing the image manifest")?;
        add_config(&mut content, &registry, repo, &manifest)?;
    }
    Ok(content)
}

fn add_manifest(content: &mut ImageContent, registry: &Registry, repo: &str, digest: &str) -> Result<()> {
    let fetched = get_manifest(registry, repo, digest)?;
    let manifest: Manifest = serde_json::from_slice(&fetched.bytes).context("parsing the image manifest")?;
    add_config(content, registry, repo, &manifest)
}

fn add_config(content: &mut ImageContent, registry: &Registry, repo: &str, manifest: &Manifest) -> Result<()> {
    let bytes = read_blob(registry, repo, &manifest.config.digest)?;
    let config: Value = serde_json::from_slice(&bytes).context("parsing the image config")?;
    content.add(manifest.layers.iter().map(|l| l.digest.as_str().to_string()).collect(), &config);
    Ok(())
}
