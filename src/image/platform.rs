//! Target platforms (`linux/amd64`, `linux/arm64/v8`) and how to pick one
//! out of an image index: variants normalised, attestations skipped.

use std::fmt;

use anyhow::{Result, bail};

use super::oci::{Descriptor, Index};

/// A requested platform, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetPlatform {
    /// Operating system.
    pub(crate) os: String,
    /// Architecture, normalised (`x86_64` → `amd64`, `aarch64` → `arm64`).
    pub(crate) architecture: String,
    /// Variant, normalised (`arm64` → `v8`, `arm` → `v7` by default).
    pub(crate) variant: Option<String>,
}

impl TargetPlatform {
    /// Parses a comma-separated list (`linux/amd64,linux/arm64`), each
    /// platform once.
    pub(crate) fn parse_list(s: &str) -> Result<Vec<TargetPlatform>> {
        let mut out: Vec<TargetPlatform> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let platform = TargetPlatform::parse(part)?;
            if !out.contains(&platform) {
                out.push(platform);
            }
        }
        if out.is_empty() {
            bail!("no platform given: expected os/arch, like linux/amd64");
        }
        Ok(out)
    }

    /// Parses `os/arch[/variant]`.
    pub(crate) fn parse(s: &str) -> Result<TargetPlatform> {
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => bail!("invalid platform {s:?}: expected os/arch or os/arch/variant, like linux/amd64"),
        };
        if os.is_empty() || arch.is_empty() {
            bail!("invalid platform {s:?}: expected os/arch or os/arch/variant, like linux/amd64");
        }
        let architecture = normalise_arch(arch);
        let variant = normalise_variant(&architecture, variant);
        Ok(TargetPlatform { os: os.to_string(), architecture, variant })
    }

    /// Whether an index entry's platform is this one.
    pub(crate) fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let arch = normalise_arch(arch);
        self.os == os && self.architecture == arch && self.variant == normalise_variant(&arch, variant)
    }

    /// Picks this platform's manifest from an index, skipping attestation
    /// entries (`unknown/unknown`) that BuildKit adds.
    pub(crate) fn select<'a>(&self, index: &'a Index) -> Result<&'a Descriptor> {
        let candidates = index.manifests.iter().filter(|d| !is_attestation(d));
        let mut available = Vec::new();
        for descriptor in candidates {
            let Some(p) = &descriptor.platform else {
                continue;
            };
            if self.matches(&p.os, &p.architecture, p.variant.as_deref()) {
                return Ok(descriptor);
            }
            available.push(match &p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            });
        }
        bail!("the image has no {self} variant (it has: {})", available.join(", "))
    }
}

impl fmt::Display for TargetPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn is_attestation(d: &Descriptor) -> bool {
    let annotated = d
        .annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|v| v == "attestation-manifest");
    let unknown = d.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
    annotated || unknown
}

fn normalise_arch(arch: &str) -> String {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" | "armel" => "arm",
        "i386" => "386",
        other => other,
    }
    .to_string()
}

/// `arm64` without a variant is `v8`; `arm` without one is `v7`; `amd64`
/// has no variant unless one (v2, v3) is asked for.
fn normalise_variant(arch: &str, variant: Option<&str>) -> Option<String> {
    match (arch, variant) {
        ("arm64", None | Some("v8") | Some("8")) => Some("v8".into()),
        ("arm", None) => Some("v7".into()),
        ("amd64", Some("v1")) => None,
        (_, Some(v)) if v.chars().all(|c| c.is_ascii_digit()) => Some(format!("v{v}")),
        (_, v) => v.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, Option<&str>, bool)]) -> Index {
        let manifests = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant, attestation))| {
                serde_json::from_value(serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{:064x}", i),
                    "size": 1,
                    "platform": {"os": os, "architecture": arch, "variant": variant},
                    "annotations": if *attestation {
                        serde_json::json!({"vnd.docker.reference.type": "attestation-manifest"})
                    } else { serde_json::json!({}) },
                }))
                .unwrap()
            })
            .collect();
        Index { schema_version: 2, media_type: None, manifests, extra: Default::default() }
    }

    #[test]
    fn selects_the_requested_platform_and_skips_attestations() {
        let idx = index(&[
            ("unknown", "unknown", None, true),
            ("linux", "arm64", Some("v8"), false),
            ("linux", "amd64", None, false),
        ]);
        let amd = TargetPlatform::parse("linux/amd64").unwrap();
        assert_eq!(amd.select(&idx).unwrap().digest.as_str(), format!("sha256:{:064x}", 2));
        let arm = TargetPlatform::parse("linux/arm64").unwrap();
        assert_eq!(arm.select(&idx).unwrap().digest.as_str(), format!("sha256:{:064x}", 1));
    }

    #[test]
    fn variants_and_aliases_are_normalised() {
        let p = TargetPlatform::parse("linux/aarch64").unwrap();
        assert!(p.matches("linux", "arm64", None));
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(TargetPlatform::parse("linux/arm").unwrap().matches("linux", "arm", Some("v7")));
        assert!(!TargetPlatform::parse("linux/arm/v6").unwrap().matches("linux", "arm", None));
    }

    #[test]
    fn a_missing_platform_names_what_is_available() {
        let idx = index(&[("linux", "arm64", None, false)]);
        let err = TargetPlatform::parse("linux/amd64").unwrap().select(&idx).unwrap_err().to_string();
        assert!(err.contains("it has: linux/arm64"), "{err}");
        assert!(TargetPlatform::parse("amd64").is_err());
    }
}
