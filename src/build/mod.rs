//! Building one code location's image: read its Dockerfile, take the native
//! path when the Dockerfile allows it (base config + new layers, pushed
//! blob by blob) or hand it to a container builder, and report which path
//! was taken and why, the digest, and what the push did.

mod deps_cache;
pub(crate) mod external;
mod multi;
mod native;
mod python;
mod python_project;
mod simple_index;
mod uv_lock;

use python_project::PythonProject;
mod wheels;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::config::{Location, Project};
use crate::image::content::ImageContent;
use crate::image::digest::Digest;
use crate::image::dockerfile::{self, BuildPath};
use crate::image::oci::Descriptor;
use crate::image::platform::TargetPlatform;
use crate::image::reference::{ImageRef, validate_tag};
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::registry::pool::Services;
use crate::registry::push::PushStats;

/// How to build.
pub(crate) struct Options {
    /// One image per platform; more than one are pushed under an index.
    pub(crate) platforms: Vec<TargetPlatform>,
    /// Tag for every image (default `<location>-<commit sha, 12 chars>`).
    pub(crate) tag: Option<String>,
    /// Where to write an OCI layout per location.
    pub(crate) output_dir: Option<PathBuf>,
    pub(crate) push: bool,
    /// Never contact a registry (needs `push == false`): only the code
    /// layers are built, since the base cannot be read.
    pub(crate) offline: bool,
    /// `--build-arg NAME=VALUE`s.
    pub(crate) build_args: Vec<(String, String)>,
    /// `--base-image`, for locations built from their lock.
    pub(crate) base_image: Option<String>,
    /// `--external`: Dockerfiles go to a container builder even when they
    /// only install the lock.
    pub(crate) external: bool,
}

/// Which path built an image.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BuildKind {
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
    pub(crate) fn label(self, builder: Option<&str>) -> String {
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
pub(crate) struct LocationImage {
    pub(crate) location: String,
    /// Which path built it.
    pub(crate) build: BuildKind,
    /// Why that path.
    pub(crate) reason: String,
    /// The external builder, when one was used.
    pub(crate) builder: Option<String>,
    /// The base image, pinned by digest (native path).
    pub(crate) base: Option<String>,
    /// The base image that could not be read, and why (offline builds).
    pub(crate) unresolved_base: Option<String>,
    /// The layers this build added (native path).
    pub(crate) new_layers: Vec<Descriptor>,
    /// The tag given to the image.
    pub(crate) tag: String,
    /// `repository:tag`, when the location has a registry.
    pub(crate) image: Option<String>,
    pub(crate) digest: Option<Digest>,
    /// `repository@digest`: what to deploy.
    pub(crate) reference: Option<String>,
    /// The OCI layout written, if any.
    pub(crate) layout: Option<PathBuf>,
    /// What the push did (native path).
    pub(crate) pushed: Option<PushStats>,
    /// The image's working directory, for a location whose configuration
    /// names none (`/app` for the native Python build).
    pub(crate) working_directory: Option<String>,
    /// What the native Python build installed.
    pub(crate) python: Option<PythonInstall>,
    /// The platforms of a multi-platform image, each with its manifest.
    pub(crate) platforms: Vec<PlatformImage>,
    /// The manifest's descriptor (for an index over several platforms).
    #[serde(skip)]
    pub(crate) manifest: Option<Descriptor>,
    /// What a native build made (layers and config, per platform), to
    /// compare with what runs without reading it back.
    #[serde(skip)]
    pub(crate) content: Option<ImageContent>,
    /// Wall time of this location's build and push.
    pub(crate) seconds: f64,
}

impl LocationImage {
    /// A location's outcome with nothing but its path, reason and tag; the
    /// build fills in the rest.
    fn new(location: &Location, build: BuildKind, reason: String, tag: String) -> LocationImage {
        LocationImage {
            location: location.name.clone(),
            build,
            reason,
            builder: None,
            base: None,
            unresolved_base: None,
            new_layers: Vec::new(),
            tag,
            image: None,
            digest: None,
            reference: None,
            layout: None,
            pushed: None,
            working_directory: None,
            python: None,
            platforms: Vec::new(),
            manifest: None,
            content: None,
            seconds: 0.0,
        }
    }

    /// The location as it is deployed: with the image's working directory
    /// when its configuration names none.
    pub(crate) fn deployed(&self, location: &Location) -> Location {
        let mut deployed = location.clone();
        if deployed.working_directory.is_none() {
            deployed.working_directory = self.working_directory.clone();
        }
        deployed
    }
}

/// One platform's image of a multi-platform build.
#[derive(Debug, Serialize)]
pub(crate) struct PlatformImage {
    pub(crate) platform: String,
    pub(crate) digest: Option<Digest>,
}

/// What the native Python build installed: the lock's packages for the
/// target, and the tag its dependency layer is recorded under.
#[derive(Debug, Serialize)]
pub(crate) struct PythonInstall {
    /// `name==version`, sorted by name.
    pub(crate) packages: Vec<String>,
    /// `deps-<key>`.
    pub(crate) dependency_layer_key: String,
}

/// Fails when `--output-dir` was asked for and a location's layout could
/// not be written whole: offline, a base image that could not be read
/// leaves only the code layers, and an external build is not run at all.
pub(crate) fn check_layouts(results: &[LocationImage], output_dir: Option<&Path>) -> Result<()> {
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
pub(crate) fn tag_for(location: &str, options_tag: Option<&str>, provenance: &Provenance) -> Result<String> {
    let tag = match (options_tag, &provenance.commit) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(sha)) => format!("{location}-{}", crate::text::prefix(sha, 12)),
        (None, None) => format!("{location}-latest"),
    };
    validate_tag(&tag).with_context(|| format!("tagging the image of location {location:?}"))?;
    Ok(tag)
}

/// Builds (and pushes, per `options`) one location's image.
pub(crate) fn build_location(
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
    // What to build from: the Dockerfile, else the project's lock.
    let source = match project.read_file(&dockerfile_path)? {
        Some(text) => {
            let instructions =
                dockerfile::parse(&text).with_context(|| format!("parsing {}", dockerfile_path.display()))?;
            let path = dockerfile::classify(&instructions)
                .with_context(|| format!("reading {}", dockerfile_path.display()))?;
            match (path, options.external) {
                (BuildPath::External { reason }, false) => {
                    uv_dockerfile(project, location, &dockerfile_path, instructions, reason)?
                }
                (path, _) => Source::Dockerfile(instructions, path),
            }
        }
        None => match python_project::find_project(project, location)? {
            Some(PythonProject::Locked(locked)) => {
                let plan = python_project::PythonPlan::without_dockerfile(&locked);
                Source::Lock(Box::new((*locked, plan)))
            }
            Some(PythonProject::Unlocked(dir, kind)) => Source::Unlocked(dir, kind),
            None => return Err(no_dockerfile(location, &dockerfile_path)),
        },
    };
    let target = if options.push {
        Some(location.target_repository(&project.file)?)
    } else {
        // A registry that is given must be valid: a placeholder such as
        // `<account-id>.dkr.ecr…` is an error, never "no registry".
        location.registry.as_ref().map(|_| location.target_repository(&project.file)).transpose()?
    };
    let tag = tag_for(&location.name, options.tag.as_deref(), provenance)?;
    let target = target.map(|t| t.with_tag(&tag)).transpose()?;
    let platform = options.platforms.first().context("no platform to build for")?.clone();
    let dockerfile = &dockerfile_path;
    let job = Job { services, location, options, provenance, tag, target, dockerfile, platform, by_digest: false };
    let mut result = if options.platforms.len() > 1 { job.build_platforms(&source)? } else { job.build(&source)? };
    result.seconds = started.elapsed().as_secs_f64();
    services.progress.info(format!("  {} done in {:.2}s", location.name, result.seconds));
    Ok(result)
}

/// A location that names its image: nothing is built, the image is
/// deployed as given (as the official CLI does).
fn prebuilt(location: &Location, image: &str, file: &Path) -> Result<LocationImage> {
    let reference =
        ImageRef::parse(image).with_context(|| format!("location {:?}: image in {}", location.name, file.display()))?;
    let reason = format!("image: {image} is set in {}; nothing is built", file.display());
    let tag = reference.tag.clone().unwrap_or_default();
    Ok(LocationImage {
        image: Some(image.to_string()),
        reference: Some(image.to_string()),
        ..LocationImage::new(location, BuildKind::Prebuilt, reason, tag)
    })
}

/// What a location's image is built from.
enum Source {
    Dockerfile(Vec<dockerfile::Instruction>, BuildPath),
    /// The project's lock, installed natively: no Dockerfile, or one that
    /// only installs the lock.
    Lock(Box<(python_project::LockedProject, python_project::PythonPlan)>),
    /// No Dockerfile, and a Python project without a lock: uv locks it.
    Unlocked(PathBuf, python_project::Unpinned),
}

/// A Dockerfile the native path cannot build as written: built natively
/// after all when it only installs the project's lock with uv.
fn uv_dockerfile(
    project: &Project,
    location: &Location,
    path: &Path,
    instructions: Vec<dockerfile::Instruction>,
    reason: String,
) -> Result<Source> {
    let external = |instructions| Source::Dockerfile(instructions, BuildPath::External { reason: reason.clone() });
    let Ok(recipe) = crate::python::dockerfile::recognize(&instructions) else { return Ok(external(instructions)) };
    match python_project::find_project(project, location)? {
        Some(PythonProject::Locked(locked)) => {
            Ok(Source::Lock(Box::new((*locked, python_project::PythonPlan::from_dockerfile(recipe, path)))))
        }
        _ => Ok(external(instructions)),
    }
}

fn no_dockerfile(location: &Location, path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "location {:?} has no Dockerfile at {}, and nothing that names its Python dependencies (uv.lock, \
         pylock.toml, requirements.txt, setup.py, or pyproject.toml with a [project] table) in its directory or above \
         it. Name them in pyproject.toml's [project] (it is then locked with uv and built natively), or add a \
         Dockerfile; a minimal one, on a base image that already has your dependencies (built natively in seconds):\n    \
         FROM ghcr.io/acme/dagster-base:1\n    WORKDIR /opt/dagster/app\n    COPY . .",
        location.name,
        path.display()
    )
}

#[derive(Clone)]
struct Job<'a> {
    services: &'a Services,
    location: &'a Location,
    options: &'a Options,
    provenance: &'a Provenance,
    tag: String,
    target: Option<ImageRef>,
    dockerfile: &'a Path,
    /// The platform this job builds.
    platform: TargetPlatform,
    /// One platform of several: its manifest is pushed by digest, and the
    /// index gets the tag.
    by_digest: bool,
}

impl Job<'_> {
    /// Builds the image for this job's platform.
    fn build(&self, source: &Source) -> Result<LocationImage> {
        match source {
            Source::Dockerfile(_, BuildPath::Native(recipe)) => self.native(recipe),
            Source::Dockerfile(instructions, BuildPath::External { reason }) => {
                self.external(instructions, reason.clone())
            }
            Source::Lock(planned) => self.python(&planned.0, &planned.1),
            Source::Unlocked(dir, kind) => self.unlocked(dir, *kind),
        }
    }

    fn progress(&self) -> &Progress {
        &self.services.progress
    }

    /// This job's outcome, to be filled in: path, reason, tag and image.
    fn outcome(&self, build: BuildKind, reason: String) -> LocationImage {
        LocationImage {
            image: self.target.as_ref().map(ToString::to_string),
            ..LocationImage::new(self.location, build, reason, self.tag.clone())
        }
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
}
