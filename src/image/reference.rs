//! Image references (`registry/repository[:tag][@digest]`), parsed once and
//! normalised the way the Docker CLI does (`alpine` is
//! `docker.io/library/alpine:latest`).

use std::fmt;

use anyhow::{Result, bail};

use super::digest::Digest;

/// The canonical name of Docker Hub in references.
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// Registry host, with port when given (`docker.io` for Docker Hub).
    pub(crate) registry: String,
    /// Repository path inside the registry, lowercase.
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference such as `python:3.12-slim`, `ghcr.io/acme/app:v1`,
    /// `127.0.0.1:5000/base@sha256:…`.
    pub(crate) fn parse(s: &str) -> Result<ImageRef> {
        let s = s.trim();
        if s.is_empty() {
            bail!("empty image reference");
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        let (name, tag) = split_tag(name);
        let (registry, repository) = split_registry(name);
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        validate_repository(&repository, s)?;
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        Ok(ImageRef { registry, repository, tag: tag.map(str::to_string), digest })
    }

    /// A reference to a repository (no tag, no digest), as a registry
    /// setting like `build.registry` names it.
    pub(crate) fn parse_repository(s: &str) -> Result<ImageRef> {
        let r = ImageRef::parse(s)?;
        if r.tag.is_some() || r.digest.is_some() {
            bail!("{s:?} names a tag or digest; a registry setting must be a repository without one");
        }
        Ok(r)
    }

    /// The same repository with another tag (and no digest).
    pub(crate) fn with_tag(&self, tag: &str) -> Result<ImageRef> {
        validate_tag(tag)?;
        Ok(ImageRef { tag: Some(tag.to_string()), digest: None, ..self.clone() })
    }

    /// The same repository pinned to a digest (and no tag).
    pub(crate) fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef { tag: None, digest: Some(digest), ..self.clone() }
    }

    /// What to ask the registry for: the digest when pinned, else the tag,
    /// else `latest`.
    pub(crate) fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The host that serves the registry API for this reference.
    pub(crate) fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API_HOST } else { &self.registry }
    }

    /// `registry/repository`, the name without tag or digest.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits `name:tag`, taking care that a `:` before the last `/` is a port.
fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// The first component is a registry only if it has a `.` or `:` or is
/// `localhost` (the Docker CLI rule).
fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            let registry = match first {
                "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
                other => other,
            };
            (registry.to_string(), rest)
        }
        _ => (DOCKER_HUB.to_string(), name),
    }
}

fn validate_repository(repo: &str, whole: &str) -> Result<()> {
    let ok = !repo.is_empty()
        && repo.split('/').all(|component| {
            !component.is_empty()
                && component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.as_bytes()[0].is_ascii_alphanumeric()
                && component.as_bytes()[component.len() - 1].is_ascii_alphanumeric()
        });
    if !ok {
        bail!(
            "invalid image reference {whole:?}: the repository {repo:?} must be lowercase letters, digits and \
             separators (. _ -), in /-separated parts"
        );
    }
    Ok(())
}

/// A tag is `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!(
            "invalid tag {tag:?}: a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, Option<String>) {
        let r = ImageRef::parse(s).unwrap();
        (r.registry, r.repository, r.tag)
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        assert_eq!(parts("alpine"), ("docker.io".into(), "library/alpine".into(), None));
        assert_eq!(parts("python:3.12-slim"), ("docker.io".into(), "library/python".into(), Some("3.12-slim".into())));
        assert_eq!(parts("acme/app:1"), ("docker.io".into(), "acme/app".into(), Some("1".into())));
        assert_eq!(parts("index.docker.io/acme/app"), ("docker.io".into(), "acme/app".into(), None));
        assert_eq!(ImageRef::parse("alpine").unwrap().api_host(), "registry-1.docker.io");
    }

    #[test]
    fn ports_are_not_tags() {
        assert_eq!(parts("127.0.0.1:5000/demo/app"), ("127.0.0.1:5000".into(), "demo/app".into(), None));
        assert_eq!(parts("localhost:5000/app:v2"), ("localhost:5000".into(), "app".into(), Some("v2".into())));
        assert_eq!(parts("localhost/app"), ("localhost".into(), "app".into(), None));
    }

    #[test]
    fn digests_and_display_round_trip() {
        let s = format!("ghcr.io/acme/app@sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&s).unwrap();
        assert_eq!(r.to_string(), s);
        assert_eq!(r.reference(), format!("sha256:{}", "a".repeat(64)));
    }

    #[test]
    fn bad_references_are_rejected_with_the_reason() {
        let err = ImageRef::parse("ghcr.io/Acme/App").unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
        assert!(ImageRef::parse("app:-bad").is_err());
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse_repository("ghcr.io/acme/app:v1").is_err());
    }
}
