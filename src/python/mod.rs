//! Python packaging, pure: what a native Python build needs to know
//! without running Python. PEP 440 versions and PEP 508 markers, wheel
//! compatibility tags for a target, and `uv.lock` evaluated for that target
//! into the wheels to install.

pub(crate) mod base;
pub(crate) mod dockerfile;
pub(crate) mod index_auth;
pub(crate) mod install;
pub(crate) mod lock;
pub(crate) mod marker;
pub(crate) mod pylock;
pub(crate) mod requirements;
pub(crate) mod target;
pub(crate) mod version;
pub(crate) mod wheel_name;

use anyhow::{Context, Result, bail};

use version::{Version, satisfies};

/// A lock file of either format.
pub(crate) enum LockFile {
    /// `uv.lock`.
    Uv(lock::Lock),
    /// `pylock.toml` (PEP 751).
    Pylock(pylock::Pylock),
    /// A `requirements.txt` pinning everything with hashes.
    Requirements(requirements::Requirements),
}

/// The lock files looked for, in order.
pub(crate) const LOCK_FILES: [&str; 3] = ["uv.lock", "pylock.toml", "requirements.txt"];

impl LockFile {
    /// Parses a lock file by its name (one of [`LOCK_FILES`]); `None` for a
    /// `requirements.txt` that does not pin everything with hashes.
    pub(crate) fn parse(name: &str, text: &str) -> Result<Option<LockFile>> {
        match name {
            "pylock.toml" => pylock::Pylock::parse(text).map(|l| Some(LockFile::Pylock(l))),
            "requirements.txt" => Ok(requirements::Requirements::parse(text)?.map(LockFile::Requirements)),
            _ => lock::Lock::parse(text).map(|l| Some(LockFile::Uv(l))),
        }
    }

    pub(crate) fn requires_python(&self) -> Option<&str> {
        match self {
            LockFile::Uv(l) => l.requires_python.as_deref(),
            LockFile::Pylock(l) => l.requires_python.as_deref(),
            LockFile::Requirements(_) => None,
        }
    }

    /// The wheels and projects to install on `target`. `pylock.toml` and
    /// requirements are already resolved for their groups and extras, so
    /// `sync` is the uv lock's alone; requirements name no files, so their
    /// wheels are looked up on `index` through `files`.
    pub(crate) fn install_set(
        &self,
        target: &target::Target,
        sync: &lock::SyncRequest,
        index: &str,
        files: &dyn requirements::IndexFiles,
    ) -> Result<lock::InstallSet> {
        match self {
            LockFile::Uv(l) => l.install_set(target, sync),
            LockFile::Pylock(l) => l.install_set(target),
            LockFile::Requirements(r) => r.install_set(target, index, files),
        }
    }
}

/// The newest CPython minor version a build may pick (`python:3.14-slim`).
const NEWEST_MINOR: u64 = 14;

/// The Python a project asks for: `.python-version` (first line, `3.12` or
/// `3.12.4`), else the highest 3.x minor that every `requires-python`
/// (the project's, the lock's) allows.
pub(crate) fn choose_python(python_version_file: Option<&str>, requires: &[&str]) -> Result<Version> {
    if let Some(text) = python_version_file {
        let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
        let line = line.strip_prefix("cpython-").unwrap_or(line);
        return Version::parse(line)
            .filter(|v| v.release().len() >= 2 && v.release()[0] == 3)
            .with_context(|| format!(".python-version says {line:?}; expected a version such as 3.12"));
    }
    for minor in (8..=NEWEST_MINOR).rev() {
        let candidate = Version::parse(&format!("3.{minor}")).context("a CPython version")?;
        let mut allowed = true;
        for spec in requires {
            allowed &= satisfies(&candidate, spec).with_context(|| format!("requires-python = {spec:?}"))?;
        }
        if allowed {
            return Ok(candidate);
        }
    }
    bail!(
        "no CPython from 3.8 to 3.{NEWEST_MINOR} satisfies requires-python {}",
        crate::text::shorten(&requires.join(" and "), 120)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_comes_from_python_version_else_requires_python() {
        let minor = |v: Version| v.release()[1];
        assert_eq!(minor(choose_python(Some("3.12\n"), &[">=3.9"]).unwrap()), 12);
        assert_eq!(minor(choose_python(None, &[">=3.9,<3.14", ">=3.10"]).unwrap()), 13);
        assert_eq!(minor(choose_python(None, &[]).unwrap()), NEWEST_MINOR);
        assert!(choose_python(Some("pypy"), &[]).unwrap_err().to_string().contains(".python-version"));
        assert!(choose_python(None, &["<3.0"]).unwrap_err().to_string().contains("satisfies"));
    }
}
