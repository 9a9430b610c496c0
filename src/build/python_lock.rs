//! A location without a Dockerfile, whose dependencies a lock pins: its
//! `uv.lock` (in the build directory, else in the nearest directory above
//! it that holds `pyproject.toml`, within the repository) evaluated for the
//! target, so that the error says whether every package has a wheel, and
//! which Dockerfile installs them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::{Location, Project};
use crate::image::platform::TargetPlatform;
use crate::io::files::{self, LOCK_FILE_CAP};
use crate::python::choose_python;
use crate::python::lock::{Lock, SyncRequest};
use crate::python::target::{Libc, Target};

/// glibc of `python:X.Y-slim-bookworm` (Debian 12), the default base.
const BOOKWORM_GLIBC_MINOR: u32 = 36;

/// The lock of a location's project, with the directory it is in.
fn find_lock(project: &Project, location: &Location) -> Result<Option<(PathBuf, String)>> {
    let repository = files::repository_root(&project.root);
    let mut dir = Some(location.build_directory.as_path());
    while let Some(d) = dir.filter(|d| d.starts_with(&repository)) {
        let lock = d.join("uv.lock");
        if let Some(text) = files::read_inside(&repository, &lock, LOCK_FILE_CAP)? {
            return Ok(Some((lock, text)));
        }
        if d != location.build_directory && d.join("pyproject.toml").exists() {
            return Ok(None);
        }
        dir = d.parent();
    }
    Ok(None)
}

/// What to tell about a location without a Dockerfile: `None` without a
/// lock; else what the lock installs on the default base for `platform`.
pub(crate) fn describe(project: &Project, location: &Location, platform: &TargetPlatform) -> Result<Option<String>> {
    let Some((lock_path, text)) = find_lock(project, location)? else { return Ok(None) };
    let lock = Lock::parse(&text).with_context(|| format!("reading {}", lock_path.display()))?;
    let dir = lock_path.parent().unwrap_or(Path::new("."));
    let python_version =
        files::read_inside(&files::repository_root(&project.root), &dir.join(".python-version"), 4096)?;
    let requires: Vec<&str> = lock.requires_python.as_deref().into_iter().collect();
    let python = choose_python(python_version.as_deref(), &requires).with_context(|| format!("{}", dir.display()))?;
    let machine = match platform.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    let target =
        Target { python: python.clone(), machine: machine.to_string(), libc: Libc::Glibc(BOOKWORM_GLIBC_MINOR) };
    let minor = python.release().get(1).copied().unwrap_or(0);
    let base = format!("python:3.{minor}-slim-bookworm");
    let lock_name = lock_path.display();
    let summary = match lock.install_set(&target, &SyncRequest::default()) {
        Ok(set) => {
            let projects: Vec<&str> = set.projects.iter().map(|(name, _)| name.as_str()).collect();
            format!(
                "{lock_name} pins {} packages for {}, each with a wheel for {base} on {platform} ({}).",
                set.wheels.len(),
                projects.join(", "),
                target.describe()
            )
        }
        Err(e) => format!("{lock_name} cannot be installed from wheels alone on {base} ({platform}): {e:#}."),
    };
    Ok(Some(format!(
        "{summary} This version does not yet build a Python environment without a Dockerfile; until it does, \
         this Dockerfile installs the lock (through docker buildx, podman or buildah):\n    FROM {base}\n    \
         COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv\n    WORKDIR /app\n    COPY . .\n    \
         RUN uv sync --frozen --no-dev\n    ENV PATH=/app/.venv/bin:$PATH"
    )))
}
