//! Reading a base image: resolve a tag to the platform's manifest (through an
//! index when there is one), fetch only its config, and, when a complete
//! layout is wanted, its layers, each verified against its digest.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::remote::{get_blob, get_manifest};
use super::transport::Registry;
use crate::image::assemble::Base;
use crate::image::digest::Digest;
use crate::image::layout::Layout;
use crate::image::oci::{Descriptor, Family, Index, Manifest, media};
use crate::image::platform::TargetPlatform;
use crate::image::reference::ImageRef;
use crate::parallel;

/// Resolves `image` for `platform`: its manifest, family and config.
pub(crate) fn resolve_base(registry: &Registry, image: &ImageRef, platform: &TargetPlatform) -> Result<Base> {
    let repo = &image.repository;
    let mut fetched = get_manifest(registry, repo, &image.reference())?;
    let from_index = matches!(fetched.media_type.as_str(), media::OCI_INDEX | media::DOCKER_LIST);
    if from_index {
        let index: Index = serde_json::from_slice(&fetched.bytes).context("parsing the image index")?;
        let chosen = platform.select(&index).with_context(|| format!("choosing a platform of {image}"))?;
        fetched = get_manifest(registry, repo, chosen.digest.as_str())?;
    }
    let Some(family) = Family::of_manifest(&fetched.media_type) else {
        if fetched.media_type.contains("v1+prettyjws") || fetched.media_type.contains("manifest.v1+json") {
            bail!(
                "{image} is a Docker schema 1 image, which is no longer supported; push it again with a current Docker"
            );
        }
        bail!("{image} has an unsupported manifest type {:?}", fetched.media_type);
    };
    let manifest: Manifest = serde_json::from_slice(&fetched.bytes).context("parsing the image manifest")?;
    let config_bytes = read_blob(registry, repo, &manifest.config.digest)?;
    let config: Value = serde_json::from_slice(&config_bytes).context("parsing the image config")?;
    if !from_index {
        let os = config["os"].as_str().unwrap_or("");
        let arch = config["architecture"].as_str().unwrap_or("");
        if !platform.matches(os, arch, config["variant"].as_str()) {
            bail!("{image} is a {os}/{arch} image with no index of platforms, but {platform} was asked for");
        }
    }
    Ok(Base {
        name: Some(image.clone()),
        manifest_digest: Some(fetched.digest),
        family,
        config,
        layers: manifest.layers,
    })
}

/// A small blob, verified, in memory.
pub(crate) fn read_blob(registry: &Registry, repo: &str, digest: &Digest) -> Result<Vec<u8>> {
    let bytes = get_blob(registry, repo, digest)?.read_limited(16 << 20)?;
    let actual = Digest::of(&bytes);
    if &actual != digest {
        bail!("digest mismatch: blob {digest} from {} has content {actual}", registry.name());
    }
    Ok(bytes)
}

/// Downloads one blob into the layout, verifying it.
pub(crate) fn fetch_blob(registry: &Registry, repo: &str, digest: &Digest, layout: &Layout) -> Result<u64> {
    let mut response = get_blob(registry, repo, digest)?;
    layout.put_verified(digest, &mut response.body)
}

/// Downloads every blob the layout lacks, four at a time; returns the bytes
/// downloaded.
pub(crate) fn fetch_missing(registry: &Registry, repo: &str, blobs: &[Descriptor], layout: &Layout) -> Result<u64> {
    let missing: Vec<&Descriptor> = blobs.iter().filter(|b| !layout.has_blob(&b.digest)).collect();
    let sizes = parallel::map(&missing, super::push::JOBS, |b| {
        fetch_blob(registry, repo, &b.digest, layout).with_context(|| format!("downloading base layer {}", b.digest))
    })?;
    Ok(sizes.into_iter().sum())
}
