//! `pylock.toml` (PEP 751), evaluated for one target: the file is already
//! resolved, so each package whose marker holds is installed, from its
//! best wheel; a `directory` package is a project, installed editable.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::lock::{InstallSet, WheelCandidate, best_wheel};
use super::marker::evaluate;
use super::target::{Target, TargetEnv};
use crate::config::parse_toml;

/// The parts of `pylock.toml` the install reads.
#[derive(Deserialize)]
pub(crate) struct Pylock {
    #[serde(rename = "lock-version")]
    lock_version: String,
    #[serde(rename = "requires-python")]
    pub(crate) requires_python: Option<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    #[serde(default)]
    wheels: Vec<Wheel>,
    sdist: Option<toml::Value>,
    directory: Option<Directory>,
    vcs: Option<toml::Value>,
    archive: Option<toml::Value>,
}

#[derive(Deserialize)]
struct Wheel {
    url: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Directory {
    path: String,
}

impl Pylock {
    /// Parses `pylock.toml` text.
    pub(crate) fn parse(text: &str) -> Result<Pylock> {
        let lock: Pylock = parse_toml(text, std::path::Path::new("pylock.toml"))?;
        if !lock.lock_version.starts_with("1.") {
            bail!("pylock.toml has lock-version {}; this tool reads 1.x", crate::text::shorten(&lock.lock_version, 20));
        }
        Ok(lock)
    }

    /// The wheels and projects to install on `target`.
    pub(crate) fn install_set(&self, target: &Target) -> Result<InstallSet> {
        let ranks = target.tag_ranks();
        let no_extras = Default::default();
        let env = TargetEnv { target, extras: &no_extras };
        let mut wheels = Vec::new();
        let mut projects = Vec::new();
        for package in &self.packages {
            if let Some(marker) = &package.marker
                && !evaluate(marker, &env).with_context(|| format!("the marker of {}", package.name))?
            {
                continue;
            }
            let version = package.version.clone().unwrap_or_default();
            if let Some(directory) = &package.directory {
                projects.push((package.name.clone(), directory.path.clone()));
                continue;
            }
            if package.vcs.is_some() || package.archive.is_some() {
                bail!(
                    "{} {version} comes from a VCS or an archive, which the native build does not install",
                    package.name
                );
            }
            let candidates: Vec<WheelCandidate> = package
                .wheels
                .iter()
                .map(|w| WheelCandidate { url: w.url.clone(), sha256: w.hashes.get("sha256").cloned(), size: w.size })
                .collect();
            wheels.push(best_wheel(&package.name, &version, &candidates, package.sdist.is_some(), &ranks, target)?);
        }
        wheels.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(InstallSet { wheels, projects })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::lock::{Lock, SyncRequest};
    use crate::python::target::Libc;
    use crate::python::version::Version;

    #[test]
    fn a_pylock_exported_by_uv_installs_what_its_uv_lock_installs() {
        let pylock =
            Pylock::parse(include_str!("../../tests/fixtures/python/jaffle-platform-pylock/pylock.toml")).unwrap();
        let lock = Lock::parse(include_str!("../../tests/fixtures/python/jaffle-platform/uv.lock")).unwrap();
        for (python, machine) in [("3.11.7", "x86_64"), ("3.9.18", "x86_64"), ("3.12.3", "aarch64")] {
            let target =
                Target { python: Version::parse(python).unwrap(), machine: machine.into(), libc: Libc::Glibc(36) };
            let ours = pylock.install_set(&target).unwrap();
            let theirs = lock.install_set(&target, &SyncRequest::default()).unwrap();
            assert_eq!(ours.wheels, theirs.wheels, "{python} {machine}");
            assert_eq!(ours.projects.len(), 1);
        }
    }
}
