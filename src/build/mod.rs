//! Building one code location's image: read its Dockerfile, take the native
//! path when the Dockerfile allows it (base config + new layers, pushed
//! blob by blob) or hand it to a container builder, and report which path
//! was taken and why, the digest, and what the push did.

pub mod external;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::auth::{Credential, Keychain, ProcessHelpers};
use crate::config::{Location, Project};
use crate::env::Env;
use crate::git;
use crate::image::context::BuildContext;
use crate::image::digest::Digest;
use crate::image::dockerfile::{self, BuildPath, Recipe};
use crate::image::layout::Layout;
use crate::image::mutate::{self, Base, Metadata};
use crate::image::oci::Descriptor;
use crate::image::platform::TargetPlatform;
use crate::image::reference::{ImageRef, validate_tag};
use crate::io::http::{Failure, Http, TransportError};
use crate::progress::Progress;
use crate::registry::pull;
use crate::registry::push::{self, BlobSource, PushRequest, PushStats};
use crate::registry::transport::Registry;
use external::{Builder, Destination, ExternalBuild};

/// How to build.
pub struct Options {
    /// Target platform.
    pub platform: TargetPlatform,
    /// Tag for every image (default `<location>-<commit sha, 12 chars>`).
    pub tag: Option<String>,
    /// Where to write an OCI layout per location.
    pub output_dir: Option<PathBuf>,
    /// Whether to push.
    pub push: bool,
    /// Never contact a registry (needs `push == false`): only the code
    /// layers are built, since the base cannot be read.
    pub offline: bool,
    /// `--build-arg NAME=VALUE`s.
    pub build_args: Vec<(String, String)>,
}

/// Where the code comes from: commit, time and repository URL.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The commit being built.
    pub commit: Option<String>,
    /// Layer mtimes and image creation time (Unix seconds).
    pub epoch: i64,
    /// The repository's web URL.
    pub source_url: Option<String>,
}

impl Provenance {
    /// Reads provenance from `SOURCE_DATE_EPOCH`, the CI variables and the
    /// checkout's git.
    pub fn detect(env: &Env, dir: &Path) -> Result<Provenance> {
        let head = git::commit(dir, "HEAD");
        let commit = head
            .as_ref()
            .map(|c| c.sha.clone())
            .or_else(|| env.first_of(&["GITHUB_SHA", "CI_COMMIT_SHA"]).map(|(_, sha)| sha.to_string()));
        if let Some(sha) = commit.as_deref().filter(|sha| !crate::ci::is_commit_sha(sha)) {
            bail!("GITHUB_SHA or CI_COMMIT_SHA holds {}, which is not a commit sha", crate::text::excerpt(sha));
        }
        let epoch = match env.get("SOURCE_DATE_EPOCH") {
            Some(v) => {
                v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?
            }
            None => head.as_ref().map_or(0, |c| c.timestamp),
        };
        let source_url = match (env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("CI_PROJECT_URL")) {
            (Some(server), Some(repo), _) => Some(format!("{server}/{repo}")),
            (_, _, Some(url)) => Some(url.to_string()),
            _ => git::origin_url(dir).and_then(|u| git::web_url(&u)),
        };
        Ok(Provenance { commit, epoch, source_url })
    }

    fn labels(&self) -> Vec<(String, String)> {
        let mut labels = Vec::new();
        if let Some(url) = &self.source_url {
            labels.push(("org.opencontainers.image.source".to_string(), url.clone()));
        }
        if let Some(sha) = &self.commit {
            labels.push(("org.opencontainers.image.revision".to_string(), sha.clone()));
        }
        labels
    }
}

/// Shared clients: HTTP, credentials, one registry client per host.
pub struct Services {
    /// HTTP.
    pub http: Arc<dyn Http>,
    /// The environment.
    pub env: Env,
    /// Progress output.
    pub progress: Progress,
    insecure: Vec<String>,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
    given: Mutex<HashMap<String, Credential>>,
}

impl Services {
    /// Services over `http`; `insecure` lists hosts reached over plain HTTP.
    pub fn new(http: Arc<dyn Http>, env: Env, progress: Progress, insecure: Vec<String>) -> Services {
        Services {
            http,
            env,
            progress,
            insecure,
            registries: Mutex::new(HashMap::new()),
            given: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `credential` for `registry` instead of looking one up (the
    /// Serverless registry's token comes from Dagster+).
    pub fn give_credential(&self, registry: &str, credential: Credential) {
        self.progress.mask(credential.secret.expose());
        self.given.lock().expect("credentials lock").insert(registry.to_string(), credential);
    }

    /// Whether a registry is reached over plain HTTP: loopback hosts and the
    /// ones listed as insecure.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = match registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
        };
        let loopback =
            host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
        loopback || self.insecure.iter().any(|i| i == registry || i == host)
    }

    /// The credential lookup over this environment.
    pub fn keychain(&self) -> Keychain<'_> {
        Keychain { env: &self.env, http: self.http.as_ref(), helpers: &ProcessHelpers, progress: &self.progress }
    }

    /// The client for an image's registry, created once with its credential.
    pub fn registry(&self, image: &ImageRef) -> Result<Arc<Registry>> {
        let mut registries = self.registries.lock().expect("registries lock");
        if let Some(r) = registries.get(&image.registry) {
            return Ok(r.clone());
        }
        let given = self.given.lock().expect("credentials lock").get(&image.registry).cloned();
        let credential = match given {
            Some(c) => Some(c),
            None => {
                let keychain = Keychain {
                    env: &self.env,
                    http: self.http.as_ref(),
                    helpers: &ProcessHelpers,
                    progress: &self.progress,
                };
                keychain.find(&image.registry).with_context(|| format!("finding credentials for {}", image.registry))?
            }
        };
        let registry = Arc::new(Registry::new(
            self.http.clone(),
            &image.registry,
            image.api_host(),
            self.is_insecure(&image.registry),
            credential,
            self.progress.clone(),
        ));
        registries.insert(image.registry.clone(), registry.clone());
        Ok(registry)
    }
}

/// Which path built an image.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BuildKind {
    /// Built by this tool.
    Native,
    /// Built by a container builder.
    External,
    /// Not built: the location names its image (`image:`).
    Prebuilt,
}

impl BuildKind {
    /// How the plan, the comment and the summary name it, with the external
    /// builder when one was used.
    pub fn label(self, builder: Option<&str>) -> String {
        match (self, builder) {
            (BuildKind::Native, _) => "native".into(),
            (BuildKind::External, Some(builder)) => format!("external ({builder})"),
            (BuildKind::External, None) => "external".into(),
            (BuildKind::Prebuilt, _) => "prebuilt".into(),
        }
    }
}

/// The outcome for one location.
#[derive(Debug, Serialize)]
pub struct LocationImage {
    /// Location name.
    pub location: String,
    /// Which path built it.
    pub build: BuildKind,
    /// Why that path.
    pub reason: String,
    /// The external builder, when one was used.
    pub builder: Option<String>,
    /// The base image, pinned by digest (native path).
    pub base: Option<String>,
    /// The base image that could not be read, and why (offline builds).
    pub unresolved_base: Option<String>,
    /// The layers this build added (native path).
    pub new_layers: Vec<Descriptor>,
    /// The tag given to the image.
    pub tag: String,
    /// `repository:tag`, when the location has a registry.
    pub image: Option<String>,
    /// The manifest digest.
    pub digest: Option<Digest>,
    /// `repository@digest`: what to deploy.
    pub reference: Option<String>,
    /// The OCI layout written, if any.
    pub layout: Option<PathBuf>,
    /// What the push did (native path).
    pub pushed: Option<PushStats>,
    /// Wall time of this location's build and push.
    pub seconds: f64,
}

/// Fails when `--output-dir` was asked for and a location's layout could
/// not be written whole: offline, a base image that could not be read
/// leaves only the code layers, and an external build is not run at all.
pub fn check_layouts(results: &[LocationImage], output_dir: Option<&Path>) -> Result<()> {
    let Some(dir) = output_dir else { return Ok(()) };
    let incomplete: Vec<String> = results
        .iter()
        .filter_map(|r| match (&r.unresolved_base, r.build) {
            (Some(base), _) => Some(format!("{}: only its code layers (its base {base} was not read)", r.location)),
            (None, BuildKind::External) if r.layout.is_none() => {
                Some(format!("{}: nothing (its external build was not run)", r.location))
            }
            _ => None,
        })
        .collect();
    if !incomplete.is_empty() {
        bail!(
            "--output-dir {}: no complete image layout could be written for {} location(s); {}. Run without \
             --offline to read base images",
            dir.display(),
            incomplete.len(),
            incomplete.join("; ")
        );
    }
    Ok(())
}

/// The tag for a location's image.
pub fn tag_for(location: &str, options_tag: Option<&str>, provenance: &Provenance) -> Result<String> {
    let tag = match (options_tag, &provenance.commit) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(sha)) => format!("{location}-{}", crate::text::prefix(sha, 12)),
        (None, None) => format!("{location}-latest"),
    };
    validate_tag(&tag).with_context(|| format!("tagging the image of location {location:?}"))?;
    Ok(tag)
}

/// Builds (and pushes, per `options`) one location's image.
pub fn build_location(
    services: &Services,
    project: &Project,
    location: &Location,
    options: &Options,
    provenance: &Provenance,
) -> Result<LocationImage> {
    let started = Instant::now();
    if let Some(image) = &location.image {
        return prebuilt(location, image, &project.file);
    }
    let dockerfile_path = location.build_directory.join("Dockerfile");
    let text = read_dockerfile(project, &dockerfile_path, &location.name)?;
    let instructions = dockerfile::parse(&text).with_context(|| format!("parsing {}", dockerfile_path.display()))?;
    let path = dockerfile::classify(&instructions).with_context(|| format!("reading {}", dockerfile_path.display()))?;
    let target = if options.push {
        Some(location.target_repository(&project.file)?)
    } else {
        // A registry that is given must be valid: a placeholder such as
        // `<account-id>.dkr.ecr…` is an error, never "no registry".
        location.registry.as_ref().map(|_| location.target_repository(&project.file)).transpose()?
    };
    let tag = tag_for(&location.name, options.tag.as_deref(), provenance)?;
    let target = target.map(|t| t.with_tag(&tag)).transpose()?;
    let job = Job { services, location, options, provenance, tag, target, dockerfile: &dockerfile_path };
    let mut result = match path {
        BuildPath::Native(recipe) => job.native(&recipe),
        BuildPath::External { reason } => job.external(&instructions, reason),
    }?;
    result.seconds = started.elapsed().as_secs_f64();
    services.progress.info(format!("  {} done in {:.2}s", location.name, result.seconds));
    Ok(result)
}

/// A location that names its image: nothing is built, the image is
/// deployed as given (as the official CLI does).
fn prebuilt(location: &Location, image: &str, file: &Path) -> Result<LocationImage> {
    let reference =
        ImageRef::parse(image).with_context(|| format!("location {:?}: image in {}", location.name, file.display()))?;
    Ok(LocationImage {
        location: location.name.clone(),
        build: BuildKind::Prebuilt,
        reason: format!("image: {image} is set in {}; nothing is built", file.display()),
        builder: None,
        base: None,
        unresolved_base: None,
        new_layers: Vec::new(),
        tag: reference.tag.clone().unwrap_or_default(),
        image: Some(image.to_string()),
        digest: None,
        reference: Some(image.to_string()),
        layout: None,
        pushed: None,
        seconds: 0.0,
    })
}

fn read_dockerfile(project: &Project, path: &Path, location: &str) -> Result<String> {
    match project.read_file(path)? {
        Some(text) => Ok(text),
        None => bail!(
            "location {location:?} has no Dockerfile at {}. A minimal one, on a base image that already has your \
             dependencies (built natively in seconds):\n    FROM ghcr.io/acme/dagster-base:1\n    WORKDIR /opt/dagster/app\n    \
             COPY . .\nor, installing them (needs docker buildx, podman or buildah):\n    FROM python:3.12-slim\n    \
             WORKDIR /opt/dagster/app\n    COPY . .\n    RUN pip install .",
            path.display()
        ),
    }
}

struct Job<'a> {
    services: &'a Services,
    location: &'a Location,
    options: &'a Options,
    provenance: &'a Provenance,
    tag: String,
    target: Option<ImageRef>,
    dockerfile: &'a Path,
}

impl Job<'_> {
    fn progress(&self) -> &Progress {
        &self.services.progress
    }

    fn layout_dir(&self) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
        match &self.options.output_dir {
            Some(dir) => Ok((dir.join(&self.location.name), None)),
            None => {
                let temp = crate::io::scratch_dir().context("creating a temporary directory for the image")?;
                Ok((temp.path().to_path_buf(), Some(temp)))
            }
        }
    }

    fn native(&self, recipe: &Recipe) -> Result<LocationImage> {
        let keywords = recipe_keywords(recipe);
        let reason = format!("the Dockerfile uses only {keywords}");
        self.progress().info(format!("{}: native build ({reason})", self.location.name));
        let platform = &self.options.platform;
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
        built.store(&layout)?;
        if self.options.output_dir.is_some() {
            if let (Some(registry), Some(image)) = (&base_registry, &from) {
                let n = pull::fetch_missing(registry, &image.repository, &base.layers, &layout)
                    .with_context(|| format!("copying the base layers of {image} into {}", layout_dir.display()))?;
                if n > 0 {
                    self.progress().info(format!("  downloaded {} of base layers", human_bytes(n)));
                }
            }
            layout.set_ref(&built.manifest, &self.tag)?;
            self.progress().info(format!("  wrote oci:{}:{}", layout_dir.display(), self.tag));
        }
        let mut pushed = None;
        if let (true, Some(target)) = (self.options.push, &self.target) {
            let registry = self.services.registry(target)?;
            let mut blobs = built.layers.clone();
            blobs.push(built.config.clone());
            let source = base_registry.as_ref().zip(from.as_ref()).map(|(r, image)| BlobSource {
                registry: r.as_ref(),
                repo: &image.repository,
                same_registry: image.registry == target.registry,
            });
            let request = PushRequest {
                target: &registry,
                repo: &target.repository,
                tag: &self.tag,
                manifest: &built.manifest,
                blobs: &blobs,
                layout: &layout,
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
            pushed = Some(stats);
        }
        let digest = built.manifest.digest.clone();
        self.progress().info(format!("  digest {digest}"));
        Ok(LocationImage {
            location: self.location.name.clone(),
            build: BuildKind::Native,
            reason,
            builder: None,
            base: base_pinned,
            unresolved_base: None,
            new_layers: built.new_layers,
            tag: self.tag.clone(),
            image: self.target.as_ref().map(ToString::to_string),
            reference: self.target.as_ref().map(|t| t.with_digest(digest.clone()).to_string()),
            digest: Some(digest),
            layout: self.options.output_dir.as_ref().map(|_| layout_dir),
            pushed,
            seconds: 0.0,
        })
    }

    fn resolve_base(&self, image: &ImageRef) -> Result<(Base, Arc<Registry>)> {
        let platform = &self.options.platform;
        let registry = self.services.registry(image)?;
        let base = pull::resolve_base(&registry, image, platform)
            .with_context(|| format!("resolving the base image {image} for {platform}"))?;
        Ok((base, registry))
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
        LocationImage {
            location: self.location.name.clone(),
            build: BuildKind::Native,
            reason,
            builder: None,
            base: None,
            unresolved_base: Some(unresolved),
            new_layers: layers,
            tag: self.tag.clone(),
            image: self.target.as_ref().map(ToString::to_string),
            digest: None,
            reference: None,
            // Layers without a manifest or index.json are no image layout.
            layout: None,
            pushed: None,
            seconds: 0.0,
        }
    }

    fn external(&self, instructions: &[dockerfile::Instruction], reason: String) -> Result<LocationImage> {
        let name = &self.location.name;
        if self.options.offline || (!self.options.push && self.options.output_dir.is_none()) {
            let builder = Builder::detect().map(|b| b.name().to_string());
            let why = if self.options.offline {
                "not run: --offline, and the builder would pull"
            } else {
                "planned, not run"
            };
            self.progress().info(format!(
                "{name}: external build ({reason}) with {}; {why}",
                builder.as_deref().unwrap_or("docker buildx, podman or buildah (none found here)")
            ));
            return Ok(LocationImage {
                location: name.clone(),
                build: BuildKind::External,
                reason,
                builder,
                base: None,
                unresolved_base: None,
                new_layers: Vec::new(),
                tag: self.tag.clone(),
                image: self.target.as_ref().map(ToString::to_string),
                digest: None,
                reference: None,
                layout: None,
                pushed: None,
                seconds: 0.0,
            });
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
        let from_registries = from_registries(instructions);
        let mut credentials = Vec::new();
        let mut insecure = false;
        let target_registry = self.target.iter().map(|t| t.registry.clone());
        for registry in from_registries.into_iter().chain(target_registry) {
            insecure |= self.services.is_insecure(&registry);
            let image = ImageRef { registry: registry.clone(), repository: "x".into(), tag: None, digest: None };
            let client = self.services.registry(&image)?;
            if let Some(c) = client.credential() {
                credentials.push((image.api_host().to_string(), c.clone()));
            }
        }
        let (layout_dir, _temp) = self.layout_dir()?;
        let local_name =
            format!("localhost/dagster-branch-deploy/{}:{}", name.to_lowercase().replace('_', "-"), self.tag);
        let target_text = self.target.as_ref().map(ToString::to_string);
        let mut digest = None;
        let run = |destination| {
            external::run(
                &ExternalBuild {
                    builder,
                    context: &self.location.build_directory,
                    dockerfile: self.dockerfile,
                    platform: &self.options.platform,
                    local_name: &local_name,
                    build_args: &self.options.build_args,
                    credentials: &credentials,
                    insecure,
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
            location: name.clone(),
            build: BuildKind::External,
            reason,
            builder: Some(builder.name().to_string()),
            base: None,
            unresolved_base: None,
            new_layers: Vec::new(),
            tag: self.tag.clone(),
            image: target_text,
            reference: self.target.as_ref().zip(digest.clone()).map(|(t, d)| t.with_digest(d).to_string()),
            digest,
            layout: self.options.output_dir.as_ref().map(|_| layout_dir),
            pushed: None,
            seconds: 0.0,
        })
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

/// `12.3 KB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_default_to_location_and_short_commit() {
        let p = Provenance { commit: Some("0123456789abcdef".into()), ..Default::default() };
        assert_eq!(tag_for("etl", None, &p).unwrap(), "etl-0123456789ab");
        assert_eq!(tag_for("etl", Some("v1"), &p).unwrap(), "v1");
        assert_eq!(tag_for("etl", None, &Provenance::default()).unwrap(), "etl-latest");
        assert!(tag_for("etl", Some("-bad"), &p).is_err());
    }

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        struct NoHttp;
        impl Http for NoHttp {
            fn send(&self, _: &crate::io::http::Request) -> Result<crate::io::http::Response> {
                bail!("unused")
            }
        }
        let env = Env::default();
        let s =
            Services::new(Arc::new(NoHttp), env.clone(), Progress::new(&env, true), vec!["registry.lan:5000".into()]);
        assert!(s.is_insecure("127.0.0.1:5000"));
        assert!(s.is_insecure("localhost:5000"));
        assert!(s.is_insecure("[::1]:5000"));
        assert!(s.is_insecure("registry.lan:5000"));
        assert!(!s.is_insecure("ghcr.io"));
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(12_345), "12.3 KB");
    }
}
