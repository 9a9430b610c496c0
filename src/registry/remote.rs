//! One function per step of the OCI distribution protocol (spec.md,
//! "Endpoints"), on top of the [`Registry`] transport: manifest HEAD/GET/PUT,
//! blob HEAD/GET, upload start (with cross-repository mount) and monolithic
//! upload finish.

use anyhow::{Context, Result, bail};

use super::error::RegistryError;
use super::transport::Registry;
use crate::image::digest::Digest;
use crate::image::oci::media;
use crate::io::http::{Body, Request, Response};
use crate::urls::{encode_component, resolve, with_query};

/// The scope to read a repository.
pub(crate) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The scope to write a repository.
pub(crate) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// A manifest as fetched.
pub(crate) struct FetchedManifest {
    /// Its media type (from `Content-Type`, checked against the body).
    pub(crate) media_type: String,
    pub(crate) bytes: Vec<u8>,
    /// sha256 of the bytes.
    pub(crate) digest: Digest,
}

/// `GET /v2/<name>/manifests/<reference>` (spec: "Pulling manifests"),
/// with every manifest type in `Accept`; verifies the digest when the
/// reference is one.
pub(crate) fn get_manifest(registry: &Registry, repo: &str, reference: &str) -> Result<FetchedManifest> {
    let url = registry.url(&format!("/v2/{repo}/manifests/{reference}"));
    let req = Request::new("GET", &url).header("accept", media::ACCEPT_MANIFESTS);
    let response = registry.send(&req, &[pull_scope(repo)])?;
    if response.status == 404 {
        let err = registry.error("GET", &url, response);
        return Err(err.context(format!("{}/{repo}:{reference} was not found", registry.name())));
    }
    read_manifest(registry, &url, reference, response)
}

/// The same, `None` when the registry has no such manifest (or no such
/// repository yet).
pub(crate) fn find_manifest(registry: &Registry, repo: &str, reference: &str) -> Result<Option<FetchedManifest>> {
    let url = registry.url(&format!("/v2/{repo}/manifests/{reference}"));
    let req = Request::new("GET", &url).header("accept", media::ACCEPT_MANIFESTS);
    let response = registry.send(&req, &[pull_scope(repo)])?;
    if response.status == 404 {
        return Ok(None);
    }
    read_manifest(registry, &url, reference, response).map(Some)
}

fn read_manifest(registry: &Registry, url: &str, reference: &str, response: Response) -> Result<FetchedManifest> {
    if response.status != 200 {
        return Err(registry.error("GET", url, response));
    }
    let content_type = response.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
    let bytes = response.read_limited(4 << 20).context("reading the manifest")?;
    let digest = Digest::of(&bytes);
    if reference.starts_with("sha256:") && digest.as_str() != reference {
        bail!("digest mismatch: asked {} for manifest {reference}, got content with digest {digest}", registry.name());
    }
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let declared = serde_json::from_slice::<Peek>(&bytes).ok().and_then(|p| p.media_type);
    let media_type = match declared {
        Some(d) if !content_type.is_empty() && d != content_type => {
            bail!("the manifest declares media type {d} but was served as {content_type}")
        }
        Some(d) => d,
        None => content_type,
    };
    Ok(FetchedManifest { media_type, bytes, digest })
}

/// `HEAD /v2/<name>/blobs/<digest>` (spec: "Checking if content exists").
pub(crate) fn blob_exists(registry: &Registry, repo: &str, digest: &Digest, scopes: &[String]) -> Result<bool> {
    let url = registry.url(&format!("/v2/{repo}/blobs/{digest}"));
    let response = registry.send(&Request::new("HEAD", &url), scopes)?;
    match response.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(registry.error("HEAD", &url, response)),
    }
}

/// `GET /v2/<name>/blobs/<digest>` (spec: "Pulling blobs"); redirects to
/// storage are followed without credentials.
pub(crate) fn get_blob(registry: &Registry, repo: &str, digest: &Digest) -> Result<Response> {
    let url = registry.url(&format!("/v2/{repo}/blobs/{digest}"));
    let response = registry.send(&Request::new("GET", &url), &[pull_scope(repo)])?;
    if response.status != 200 {
        return Err(registry.error("GET", &url, response));
    }
    Ok(response)
}

/// How an upload began.
pub(crate) enum UploadStart {
    /// The registry mounted the blob from another repository: done.
    Mounted,
    /// An upload session at this URL.
    Session(String),
}

/// `POST /v2/<name>/blobs/uploads/` (spec: "Pushing blobs"), optionally
/// with `?mount=<digest>&from=<repo>` ("Mounting a blob from another
/// repository"). A 202 to a mount is a plain session.
pub(crate) fn start_upload(registry: &Registry, repo: &str, mount: Option<(&Digest, &str)>) -> Result<UploadStart> {
    let mut url = registry.url(&format!("/v2/{repo}/blobs/uploads/"));
    let mut scopes = vec![push_scope(repo)];
    if let Some((digest, from)) = mount {
        url = format!("{url}?mount={}&from={}", encode_component(digest.as_str()), encode_component(from));
        scopes.push(pull_scope(from));
    }
    let response = registry.send(&Request::new("POST", &url), &scopes)?;
    match response.status {
        201 if mount.is_some() => Ok(UploadStart::Mounted),
        202 => {
            let location = response.header("location").context("the registry started an upload without a Location")?;
            Ok(UploadStart::Session(resolve(&url, location)))
        }
        _ => {
            let err = registry.error("POST", &url, response);
            let name_unknown = err.downcast_ref::<RegistryError>().is_some_and(|e| e.has_code("NAME_UNKNOWN"));
            if name_unknown {
                return Err(err.context(format!(
                    "the repository {repo} does not exist on {} (on ECR, create the repository first)",
                    registry.name()
                )));
            }
            Err(err)
        }
    }
}

/// `PUT <location>&digest=<digest>` with the whole blob (spec: "Monolithic
/// upload", the second form: POST then PUT).
pub(crate) fn finish_upload(
    registry: &Registry,
    repo: &str,
    location: &str,
    digest: &Digest,
    body: Body,
) -> Result<()> {
    let url = with_query(location, "digest", digest.as_str());
    let req = Request::new("PUT", &url).header("content-type", "application/octet-stream").body(body);
    let response = registry.send_once(&req, &[push_scope(repo)])?;
    if response.status != 201 {
        return Err(registry.error("PUT", &url, response));
    }
    Ok(())
}

/// `PUT /v2/<name>/manifests/<tag>` (spec: "Pushing manifests") with the
/// exact bytes; checks the registry's digest against ours.
pub(crate) fn put_manifest(
    registry: &Registry,
    repo: &str,
    tag: &str,
    media_type: &str,
    bytes: Vec<u8>,
) -> Result<Digest> {
    let url = registry.url(&format!("/v2/{repo}/manifests/{tag}"));
    let digest = Digest::of(&bytes);
    let req = Request::new("PUT", &url).header("content-type", media_type).body(Body::Bytes(bytes));
    let response = registry.send(&req, &[push_scope(repo)])?;
    if response.status != 201 && response.status != 200 {
        return Err(registry.error("PUT", &url, response));
    }
    if let Some(theirs) = response.header("docker-content-digest")
        && theirs != digest.as_str()
    {
        bail!("digest mismatch: {} stored the manifest as {theirs}, but its bytes hash to {digest}", registry.name());
    }
    Ok(digest)
}
