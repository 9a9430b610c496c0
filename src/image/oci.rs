//! OCI and Docker image types: descriptors, manifests, indexes and the media
//! types that name them. Unknown fields are kept through `extra`, so a base
//! manifest round-trips without losing what this tool does not model.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::digest::Digest;

/// Media types, by family.
pub(crate) mod media {
    /// OCI image manifest.
    pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI gzip layer.
    pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// Docker schema 2 manifest.
    pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub(crate) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Every manifest type this tool reads, for the `Accept` header.
    pub(crate) const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
}

/// Which media-type family an image uses; new parts keep the base's family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Family {
    /// OCI image-spec types.
    Oci,
    /// Docker schema 2 types.
    Docker,
}

impl Family {
    /// The family of a manifest media type.
    pub(crate) fn of_manifest(media_type: &str) -> Option<Family> {
        match media_type {
            media::OCI_MANIFEST => Some(Family::Oci),
            media::DOCKER_MANIFEST => Some(Family::Docker),
            _ => None,
        }
    }

    /// Manifest media type.
    pub(crate) fn manifest(self) -> &'static str {
        match self {
            Family::Oci => media::OCI_MANIFEST,
            Family::Docker => media::DOCKER_MANIFEST,
        }
    }

    /// Config media type.
    pub(crate) fn config(self) -> &'static str {
        match self {
            Family::Oci => media::OCI_CONFIG,
            Family::Docker => media::DOCKER_CONFIG,
        }
    }

    /// Gzip layer media type.
    pub(crate) fn layer_gzip(self) -> &'static str {
        match self {
            Family::Oci => media::OCI_LAYER_GZIP,
            Family::Docker => media::DOCKER_LAYER_GZIP,
        }
    }
}

/// A content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    /// Media type of the referenced content.
    pub(crate) media_type: String,
    /// Digest of the referenced content.
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    /// Platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) annotations: Option<Map<String, Value>>,
    /// Fields this tool does not model (urls, artifactType…), kept as they are.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor with only the required fields.
    pub(crate) fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: None,
            extra: Map::new(),
        }
    }
}

/// A platform in an index entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Platform {
    /// CPU architecture (`amd64`, `arm64`…).
    pub(crate) architecture: String,
    /// Operating system (`linux`).
    pub(crate) os: String,
    /// CPU variant (`v8`, `v7`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) variant: Option<String>,
    /// Fields this tool does not model (`os.version`…).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    /// Always 2.
    pub(crate) schema_version: u32,
    /// The manifest's own media type (absent in some OCI manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    pub(crate) config: Descriptor,
    /// The layers, base first.
    pub(crate) layers: Vec<Descriptor>,
    /// Annotations (OCI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) annotations: Option<Map<String, Value>>,
    /// Fields this tool does not model, kept as they are.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// An image index or Docker manifest list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    /// Always 2.
    pub(crate) schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    /// The platform manifests (and, from BuildKit, attestations).
    pub(crate) manifests: Vec<Descriptor>,
    /// Fields this tool does not model, kept as they are.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// Serialises a value as compact JSON: the bytes that get hashed and sent.
pub(crate) fn to_canonical_bytes(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialising an in-memory JSON value cannot fail")
}
