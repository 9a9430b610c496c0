//! Pushing an image from an OCI layout: every blob in parallel (four at a
//! time), each one skipped when the registry has it, mounted from the base's
//! repository when that is on the same registry, else uploaded (fetched from
//! the base's registry first if the layout lacks it); then the manifest,
//! last, so the registry never holds a manifest with missing blobs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use serde::Serialize;

use super::error::RegistryError;
use super::pull::fetch_blob;
use super::remote::{UploadStart, blob_exists, finish_upload, push_scope, start_upload};
use super::transport::Registry;
use crate::image::digest::Digest;
use crate::image::layout::Layout;
use crate::image::oci::Descriptor;
use crate::io::http::{Body, Failure, TransportError};
use crate::io::retry::RETRIES;
use crate::parallel;

/// Blobs pushed at once (go-containerregistry's default).
pub(crate) const JOBS: usize = 4;

/// Where blobs the layout does not hold can be read.
pub(crate) struct BlobSource<'a> {
    pub(crate) registry: &'a Registry,
    /// The base image's repository.
    pub(crate) repo: &'a str,
    /// Whether it is the target registry (then blobs can be mounted).
    pub(crate) same_registry: bool,
}

/// What to push.
pub(crate) struct PushRequest<'a> {
    pub(crate) target: &'a Registry,
    /// Target repository.
    pub(crate) repo: &'a str,
    pub(crate) tag: &'a str,
    /// The manifest (its bytes are in the layout).
    pub(crate) manifest: &'a Descriptor,
    /// Every blob the manifest references (layers and config).
    pub(crate) blobs: &'a [Descriptor],
    /// Where the built blobs are.
    pub(crate) layout: &'a Layout,
    /// Where the base's blobs are, when not in the layout.
    pub(crate) source: Option<BlobSource<'a>>,
}

/// What a push did.
#[derive(Debug, Default, Serialize, Clone, PartialEq, Eq)]
pub(crate) struct PushStats {
    pub(crate) uploaded: usize,
    pub(crate) uploaded_bytes: u64,
    /// Blobs mounted from the base's repository.
    pub(crate) mounted: usize,
    /// Blobs the registry already had.
    pub(crate) present: usize,
}

enum Outcome {
    Present,
    Mounted,
    Uploaded(u64),
}

/// Pushes the image; returns the manifest digest the registry stored.
pub(crate) fn push(request: &PushRequest) -> Result<(Digest, PushStats)> {
    let uploaded = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let mounted = AtomicUsize::new(0);
    let present = AtomicUsize::new(0);
    parallel::map(request.blobs, JOBS, |blob| {
        let outcome = push_blob_afresh(request, blob)
            .with_context(|| format!("uploading blob {} ({} bytes)", blob.digest, blob.size))?;
        match outcome {
            Outcome::Present => present.fetch_add(1, Ordering::Relaxed),
            Outcome::Mounted => mounted.fetch_add(1, Ordering::Relaxed),
            Outcome::Uploaded(n) => {
                bytes.fetch_add(n, Ordering::Relaxed);
                uploaded.fetch_add(1, Ordering::Relaxed)
            }
        };
        Ok(())
    })?;
    let manifest_bytes = request.layout.read_blob(&request.manifest.digest)?;
    let digest = super::remote::put_manifest(
        request.target,
        request.repo,
        request.tag,
        &request.manifest.media_type,
        manifest_bytes,
    )
    .with_context(|| format!("putting the manifest {}:{}", request.repo, request.tag))?;
    let stats = PushStats {
        uploaded: uploaded.into_inner(),
        uploaded_bytes: bytes.into_inner(),
        mounted: mounted.into_inner(),
        present: present.into_inner(),
    };
    Ok((digest, stats))
}

/// Pushes a blob; after a temporary failure or a dead upload session it
/// starts again from the HEAD, with a new session (the spec never resumes a
/// failed one), up to the retry policy's count and with its waits.
fn push_blob_afresh(request: &PushRequest, blob: &Descriptor) -> Result<Outcome> {
    let mut attempt = 0;
    loop {
        match push_blob(request, blob) {
            Err(e) if attempt < RETRIES && worth_a_fresh_start(&e) => {
                attempt += 1;
                request.target.wait_for_fresh_start(attempt, &format!("blob {}", blob.digest), &e);
            }
            done => return done,
        }
    }
}

/// A temporary status, a dead upload session or a broken-off exchange is
/// worth a fresh start; an unreachable host or a refused credential would
/// only fail again.
fn worth_a_fresh_start(error: &anyhow::Error) -> bool {
    let interrupted = TransportError::failure_in(error) == Some(Failure::Interrupted);
    interrupted
        || error
            .chain()
            .filter_map(|e| e.downcast_ref::<RegistryError>())
            .any(|e| e.is_temporary() || e.has_code("BLOB_UPLOAD_UNKNOWN") || e.has_code("BLOB_UPLOAD_INVALID"))
}

/// One blob: HEAD, then mount or upload. A failed attempt is retried from
/// the HEAD by the caller, never by resuming a session.
fn push_blob(request: &PushRequest, blob: &Descriptor) -> Result<Outcome> {
    let target = request.target;
    if blob_exists(target, request.repo, &blob.digest, &[push_scope(request.repo)])? {
        return Ok(Outcome::Present);
    }
    let mount = request.source.as_ref().filter(|s| s.same_registry).map(|s| (&blob.digest, s.repo));
    let location = match start_upload(target, request.repo, mount)? {
        UploadStart::Mounted => return Ok(Outcome::Mounted),
        UploadStart::Session(location) => location,
    };
    if !request.layout.has_blob(&blob.digest) {
        let source = request.source.as_ref().context("the blob is neither in the layout nor in a known registry")?;
        fetch_blob(source.registry, source.repo, &blob.digest, request.layout)
            .with_context(|| format!("copying it from {}/{}", source.registry.name(), source.repo))?;
    }
    let path = request.layout.blob_path(&blob.digest);
    finish_upload(target, request.repo, &location, &blob.digest, Body::File(path))?;
    Ok(Outcome::Uploaded(blob.size))
}
