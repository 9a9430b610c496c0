//! The external path, for Dockerfiles that need a container (RUN,
//! multi-stage…): hand the build to the first builder found, `docker
//! buildx`, `podman` or `buildah` (with chroot isolation inside containers,
//! where the default runtime cannot start), and push with it. Credentials
//! reach the builder through a temporary auth file, never on a command line.

use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::auth::Credential;
use crate::image::digest::Digest;
use crate::image::platform::TargetPlatform;
use crate::io::process;
use crate::progress::Progress;

/// A container builder on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builder {
    /// `docker buildx`.
    DockerBuildx,
    /// `podman`.
    Podman,
    /// `buildah`.
    Buildah,
}

impl Builder {
    /// The first builder that answers, in the order docker buildx, podman,
    /// buildah.
    pub fn detect() -> Option<Builder> {
        if process::available("docker", &["buildx", "version"]) {
            Some(Builder::DockerBuildx)
        } else if process::available("podman", &["--version"]) {
            Some(Builder::Podman)
        } else if process::available("buildah", &["--version"]) {
            Some(Builder::Buildah)
        } else {
            None
        }
    }

    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Builder::DockerBuildx => "docker buildx",
            Builder::Podman => "podman",
            Builder::Buildah => "buildah",
        }
    }
}

/// Where the built image goes.
pub enum Destination<'a> {
    /// Push to `reference` (`host/repo:tag`).
    Registry {
        /// The full reference.
        reference: &'a str,
        /// Plain HTTP / no TLS verification.
        insecure: bool,
    },
    /// Write an OCI layout directory, under `tag`.
    Layout {
        /// The layout directory.
        dir: &'a Path,
        /// The ref name inside it.
        tag: &'a str,
    },
}

/// A build to run.
pub struct ExternalBuild<'a> {
    /// Which builder.
    pub builder: Builder,
    /// The build context.
    pub context: &'a Path,
    /// The Dockerfile.
    pub dockerfile: &'a Path,
    /// The platform.
    pub platform: &'a TargetPlatform,
    /// A local name for the built image (podman, buildah).
    pub local_name: &'a str,
    /// Credentials per registry host, for pulling the base and pushing.
    pub credentials: &'a [(String, Credential)],
    /// `--build-arg` values.
    pub build_args: &'a [(String, String)],
    /// Whether some registry involved is plain HTTP.
    pub insecure: bool,
    /// Where the image goes.
    pub destination: Destination<'a>,
}

/// Runs the build and push; returns the pushed manifest digest.
pub fn run(build: &ExternalBuild, progress: &Progress) -> Result<Option<Digest>> {
    let scratch = crate::io::scratch_dir().context("creating a temporary directory for the builder")?;
    let digest_file = scratch.path().join("digest");
    let auth_file = scratch.path().join("auth.json");
    std::fs::write(&auth_file, auth_json(build.credentials, build.builder).to_string())
        .context("writing the builder's auth file")?;
    let show = |line: &str| progress.info(format!("  │ {line}"));
    let isolation = use_chroot_isolation();
    let build_args: Vec<String> =
        build.build_args.iter().flat_map(|(k, v)| ["--build-arg".to_string(), format!("{k}={v}")]).collect();
    match build.builder {
        Builder::DockerBuildx => {
            let config_dir = scratch.path().join("docker");
            std::fs::create_dir_all(&config_dir)?;
            std::fs::rename(&auth_file, config_dir.join("config.json"))?;
            let metadata = scratch.path().join("metadata.json");
            let output = match &build.destination {
                Destination::Registry { reference, .. } => {
                    vec!["--tag".to_string(), reference.to_string(), "--push".into()]
                }
                Destination::Layout { dir, .. } => {
                    vec!["--output".to_string(), format!("type=oci,dest={},tar=false", dir.display())]
                }
            };
            let mut args = vec!["buildx", "build", "--platform"];
            let platform = build.platform.to_string();
            args.push(&platform);
            let (file, ctx, meta) = (path(build.dockerfile)?, path(build.context)?, path(&metadata)?);
            args.extend(["--file", file, "--metadata-file", meta]);
            args.extend(build_args.iter().map(String::as_str));
            args.extend(output.iter().map(String::as_str));
            args.push(ctx);
            let config = path(&config_dir)?;
            step("docker", &args, &[("DOCKER_CONFIG", config)], &show)?;
            if matches!(build.destination, Destination::Registry { .. }) {
                let text = std::fs::read_to_string(&metadata).context("reading docker buildx's metadata file")?;
                let value: serde_json::Value =
                    serde_json::from_str(&text).context("parsing docker buildx's metadata")?;
                let digest =
                    value["containerimage.digest"].as_str().context("docker buildx reported no image digest")?;
                return Ok(Some(Digest::parse(digest)?));
            }
            Ok(None)
        }
        Builder::Podman | Builder::Buildah => {
            let program = if build.builder == Builder::Podman { "podman" } else { "buildah" };
            let build_verb = if build.builder == Builder::Podman { "build" } else { "bud" };
            let platform = build.platform.to_string();
            let auth = path(&auth_file)?;
            let mut args = vec![build_verb, "--platform", &platform, "--authfile", auth];
            if isolation {
                args.extend(["--isolation", "chroot"]);
            }
            if build.insecure {
                args.push("--tls-verify=false");
            }
            args.extend(build_args.iter().map(String::as_str));
            args.extend(["--file", path(build.dockerfile)?, "--tag", build.local_name, path(build.context)?]);
            step(program, &args, &[], &show)?;
            let target = match &build.destination {
                Destination::Registry { reference, .. } => format!("docker://{reference}"),
                Destination::Layout { dir, tag } => format!("oci:{}:{tag}", dir.display()),
            };
            let digest_path = path(&digest_file)?;
            let mut push = vec!["push", "--authfile", auth, "--digestfile", digest_path];
            if let Destination::Registry { insecure: true, .. } = build.destination {
                push.push("--tls-verify=false");
            }
            push.extend([build.local_name, &target]);
            step(program, &push, &[], &show)?;
            if matches!(build.destination, Destination::Registry { .. }) {
                let text = std::fs::read_to_string(&digest_file).context("reading the pushed image's digest")?;
                return Ok(Some(Digest::parse(text.trim())?));
            }
            Ok(None)
        }
    }
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| format!("the path {} is not UTF-8", p.display()))
}

fn step(program: &str, args: &[&str], env: &[(&str, &str)], show: &(dyn Fn(&str) + Sync)) -> Result<()> {
    let logged = process::run_logged(program, args, env, 25, show)?;
    if !logged.success {
        bail!("{program} {} failed:\n{}", args.first().unwrap_or(&""), logged.tail.join("\n"));
    }
    Ok(())
}

/// Inside a container (Docker's or podman's marker file), the default OCI
/// runtime cannot create a nested container; chroot isolation can.
fn use_chroot_isolation() -> bool {
    std::env::var_os("BUILDAH_ISOLATION").is_none()
        && (Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists())
}

/// `{"auths": {host: {"auth": base64(user:pass)}}}` for the builder.
fn auth_json(credentials: &[(String, Credential)], builder: Builder) -> serde_json::Value {
    let mut auths = serde_json::Map::new();
    for (host, c) in credentials {
        let key = match (builder, host.as_str()) {
            (Builder::DockerBuildx, "docker.io") => "https://index.docker.io/v1/".to_string(),
            _ => host.clone(),
        };
        let entry = if c.is_identity_token() {
            json!({ "identitytoken": c.secret.expose() })
        } else {
            json!({ "auth": STANDARD.encode(format!("{}:{}", c.username, c.secret.expose())) })
        };
        auths.insert(key, entry);
    }
    json!({ "auths": auths })
}
