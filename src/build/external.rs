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

use super::{BuildKind, LocationImage};
use crate::auth::Credential;
use crate::image::digest::Digest;
use crate::image::dockerfile;
use crate::image::platform::TargetPlatform;
use crate::image::reference::ImageRef;
use crate::io::process;
use crate::progress::Progress;

/// A container builder on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builder {
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
    pub(crate) fn detect() -> Option<Builder> {
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
    pub(crate) fn name(self) -> &'static str {
        match self {
            Builder::DockerBuildx => "docker buildx",
            Builder::Podman => "podman",
            Builder::Buildah => "buildah",
        }
    }
}

/// Where the built image goes.
pub(crate) enum Destination<'a> {
    /// Push to `reference` (`host/repo:tag`).
    Registry {
        reference: &'a str,
        /// Plain HTTP / no TLS verification.
        insecure: bool,
    },
    /// Write an OCI layout directory, under `tag`.
    Layout {
        dir: &'a Path,
        /// The ref name inside it.
        tag: &'a str,
    },
}

/// A build to run.
pub(crate) struct ExternalBuild<'a> {
    pub(crate) builder: Builder,
    pub(crate) context: &'a Path,
    pub(crate) dockerfile: &'a Path,
    pub(crate) platform: &'a TargetPlatform,
    /// A local name for the built image (podman, buildah).
    pub(crate) local_name: &'a str,
    /// Credentials per registry host, for pulling the base and pushing.
    pub(crate) credentials: &'a [(String, Credential)],
    /// `--build-arg` values.
    pub(crate) build_args: &'a [(String, String)],
    /// Whether some registry involved is plain HTTP.
    pub(crate) insecure: bool,
    /// Whether podman and buildah must use chroot isolation.
    pub(crate) chroot_isolation: bool,
    /// Where the image goes.
    pub(crate) destination: Destination<'a>,
}

/// Runs the build and push; returns the pushed manifest digest.
pub(crate) fn run(build: &ExternalBuild, progress: &Progress) -> Result<Option<Digest>> {
    let scratch = crate::io::scratch_dir().context("creating a temporary directory for the builder")?;
    let auth_file = scratch.path().join("auth.json");
    std::fs::write(&auth_file, auth_json(build.credentials, build.builder).to_string())
        .context("writing the builder's auth file")?;
    let show = |line: &str| progress.info(format!("  │ {line}"));
    let build_args: Vec<String> =
        build.build_args.iter().flat_map(|(k, v)| ["--build-arg".to_string(), format!("{k}={v}")]).collect();
    let run =
        Invocation { build, scratch: scratch.path(), auth_file: &auth_file, build_args: &build_args, show: &show };
    match build.builder {
        Builder::DockerBuildx => buildx(&run),
        Builder::Podman | Builder::Buildah => buildah_or_podman(&run),
    }
}

/// One run of a builder: the build, its scratch directory with the auth
/// file, the `--build-arg` flags, and where its output lines go.
struct Invocation<'a> {
    build: &'a ExternalBuild<'a>,
    scratch: &'a Path,
    auth_file: &'a Path,
    build_args: &'a [String],
    show: &'a (dyn Fn(&str) + Sync),
}

/// `docker buildx build`, pushing itself; the digest comes from its
/// metadata file.
fn buildx(run: &Invocation) -> Result<Option<Digest>> {
    let Invocation { build, scratch, auth_file, build_args, show } = *run;
    let config_dir = scratch.join("docker");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::rename(auth_file, config_dir.join("config.json"))?;
    let metadata = scratch.join("metadata.json");
    let output = match &build.destination {
        Destination::Registry { reference, .. } => vec!["--tag".to_string(), reference.to_string(), "--push".into()],
        Destination::Layout { dir, .. } => {
            vec!["--output".to_string(), format!("type=oci,dest={},tar=false", dir.display())]
        }
    };
    let platform = build.platform.to_string();
    let mut args = vec!["buildx", "build", "--platform", &platform];
    let (file, ctx, meta) = (path(build.dockerfile)?, path(build.context)?, path(&metadata)?);
    args.extend(["--file", file, "--metadata-file", meta]);
    args.extend(build_args.iter().map(String::as_str));
    args.extend(output.iter().map(String::as_str));
    args.push(ctx);
    step("docker", &args, &[("DOCKER_CONFIG", path(&config_dir)?)], show)?;
    if !matches!(build.destination, Destination::Registry { .. }) {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&metadata).context("reading docker buildx's metadata file")?;
    let value: serde_json::Value = serde_json::from_str(&text).context("parsing docker buildx's metadata")?;
    let digest = value["containerimage.digest"].as_str().context("docker buildx reported no image digest")?;
    Ok(Some(Digest::parse(digest)?))
}

/// `buildah bud` (or `podman build`) to a local name, then `push` with a
/// digest file.
fn buildah_or_podman(run: &Invocation) -> Result<Option<Digest>> {
    let Invocation { build, scratch, auth_file, build_args, show } = *run;
    let podman = build.builder == Builder::Podman;
    let (program, build_verb) = if podman { ("podman", "build") } else { ("buildah", "bud") };
    let platform = build.platform.to_string();
    let auth = path(auth_file)?;
    let mut args = vec![build_verb, "--platform", &platform, "--authfile", auth];
    if build.chroot_isolation {
        args.extend(["--isolation", "chroot"]);
    }
    if build.insecure {
        args.push("--tls-verify=false");
    }
    args.extend(build_args.iter().map(String::as_str));
    args.extend(["--file", path(build.dockerfile)?, "--tag", build.local_name, path(build.context)?]);
    step(program, &args, &[], show)?;
    let target = match &build.destination {
        Destination::Registry { reference, .. } => format!("docker://{reference}"),
        Destination::Layout { dir, tag } => format!("oci:{}:{tag}", dir.display()),
    };
    let digest_file = scratch.join("digest");
    let digest_path = path(&digest_file)?;
    let mut push = vec!["push", "--authfile", auth, "--digestfile", digest_path];
    if let Destination::Registry { insecure: true, .. } = build.destination {
        push.push("--tls-verify=false");
    }
    push.extend([build.local_name, &target]);
    step(program, &push, &[], show)?;
    if !matches!(build.destination, Destination::Registry { .. }) {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&digest_file).context("reading the pushed image's digest")?;
    Ok(Some(Digest::parse(text.trim())?))
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
/// runtime cannot create a nested container; chroot isolation can, unless
/// `BUILDAH_ISOLATION` chooses.
fn use_chroot_isolation(env: &crate::env::Env) -> bool {
    env.get("BUILDAH_ISOLATION").is_none()
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

impl super::Job<'_> {
    pub(super) fn external(&self, instructions: &[dockerfile::Instruction], reason: String) -> Result<LocationImage> {
        let name = &self.location.name;
        if self.options.offline || (!self.options.push && self.options.output_dir.is_none()) {
            return Ok(self.external_planned(reason));
        }
        if cfg!(target_os = "wasi") {
            bail!(
                "location {name:?} needs the native binary or a container builder ({reason} in {}): the WebAssembly \
                 build cannot start other programs. Run on a Linux x64 runner, or keep to FROM, ARG, ENV, WORKDIR, COPY, \
                 LABEL, USER, EXPOSE, ENTRYPOINT, CMD so it builds natively",
                self.dockerfile.display()
            );
        }
        let Some(builder) = Builder::detect() else {
            bail!(
                "location {name:?} needs a container builder ({reason} in {}); install docker buildx, podman or \
                 buildah, or keep to FROM, ARG, ENV, WORKDIR, COPY, LABEL, USER, EXPOSE, ENTRYPOINT, CMD so it builds natively",
                self.dockerfile.display()
            );
        };
        self.progress().info(format!("{name}: external build with {} ({reason})", builder.name()));
        let (credentials, insecure) = self.builder_credentials(instructions)?;
        let (layout_dir, _temp) = self.layout_dir()?;
        let local_name =
            format!("localhost/dagster-branch-deploy/{}:{}", name.to_lowercase().replace('_', "-"), self.tag);
        let target_text = self.target.as_ref().map(ToString::to_string);
        let mut digest = None;
        let run = |destination| {
            run(
                &ExternalBuild {
                    builder,
                    context: &self.location.build_directory,
                    dockerfile: self.dockerfile,
                    platform: &self.platform,
                    local_name: &local_name,
                    build_args: &self.options.build_args,
                    credentials: &credentials,
                    insecure,
                    chroot_isolation: use_chroot_isolation(&self.services.env),
                    destination,
                },
                self.progress(),
            )
        };
        if self.options.output_dir.is_some() {
            std::fs::create_dir_all(&layout_dir).with_context(|| format!("creating {}", layout_dir.display()))?;
            run(Destination::Layout { dir: &layout_dir, tag: &self.tag })
                .with_context(|| format!("building location {name:?} with {}", builder.name()))?;
        }
        if let (true, Some(target)) = (self.options.push, &target_text) {
            let dest = Destination::Registry { reference: target, insecure };
            digest = run(dest).with_context(|| format!("building and pushing {target} with {}", builder.name()))?;
        }
        Ok(LocationImage {
            builder: Some(builder.name().to_string()),
            image: target_text,
            reference: self.target.as_ref().zip(digest.clone()).map(|(t, d)| t.with_digest(d).to_string()),
            digest,
            layout: self.options.output_dir.as_ref().map(|_| layout_dir),
            ..self.outcome(BuildKind::External, reason)
        })
    }

    /// An external build that is planned, not run (a dry run, offline).
    fn external_planned(&self, reason: String) -> LocationImage {
        let builder = Builder::detect().map(|b| b.name().to_string());
        let why =
            if self.options.offline { "not run: --offline, and the builder would pull" } else { "planned, not run" };
        self.progress().info(format!(
            "{}: external build ({reason}) with {}; {why}",
            self.location.name,
            builder.as_deref().unwrap_or("docker buildx, podman or buildah (none found here)")
        ));
        LocationImage { builder, ..self.outcome(BuildKind::External, reason) }
    }

    /// The credentials the builder needs (for every `FROM` registry and the
    /// target), and whether any of those registries is reached over HTTP.
    fn builder_credentials(
        &self,
        instructions: &[dockerfile::Instruction],
    ) -> Result<(Vec<(String, Credential)>, bool)> {
        let mut credentials = Vec::new();
        let mut insecure = false;
        let target_registry = self.target.iter().map(|t| t.registry.clone());
        for registry in from_registries(instructions).into_iter().chain(target_registry) {
            insecure |= self.services.is_insecure(&registry);
            let image = ImageRef { registry: registry.clone(), repository: "x".into(), tag: None, digest: None };
            let client = self.services.registry(&image)?;
            if let Some(c) = client.credential() {
                credentials.push((image.api_host().to_string(), c.clone()));
            }
        }
        Ok((credentials, insecure))
    }
}

/// The registries every `FROM` line names (for builder credentials).
fn from_registries(instructions: &[dockerfile::Instruction]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ins in instructions.iter().filter(|i| i.keyword == "FROM") {
        let image = ins.args.split_whitespace().find(|w| !w.starts_with("--")).unwrap_or("");
        if let Ok(r) = ImageRef::parse(image)
            && image != "scratch"
            && !out.contains(&r.registry)
        {
            out.push(r.registry);
        }
    }
    out
}
