//! What a native Python build is asked to do: the location's project and
//! its lock (found beside the build directory or above it, within the
//! repository), the plan (dg's defaults without a Dockerfile, or what a
//! recognised uv Dockerfile says), the index credentials for its wheels, and
//! each workspace project's editable install.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest as _, Sha256};

use crate::config::{Location, Project, parse_toml};
use crate::env::Env;
use crate::image::dockerfile::StepKind;
use crate::io::files::{self, LOCK_FILE_CAP, PROJECT_FILE_CAP};
use crate::python::choose_python;
use crate::python::dockerfile::UvSyncRecipe;
use crate::python::index_auth::{self, IndexCredential};
use crate::python::install::EditableProject;
use crate::python::lock::SyncRequest;
use crate::python::{LOCK_FILES, LockFile};

/// Where the code and the environment go, as in dg's Dockerfile.
pub(super) const APP: &str = "/app";
/// What the code layer leaves out by default (a `.dockerignore` can take
/// them back): a local environment would overwrite the image's.
pub(super) const CODE_EXCLUDES: [&str; 3] = [".venv", ".git", "**/__pycache__"];

/// A project's lock, with what it was read from.
pub(super) struct LockedProject {
    /// The lock file.
    pub(super) path: PathBuf,
    /// The project directory (the lock's), which becomes `/app`.
    pub(super) dir: PathBuf,
    pub(super) lock: LockFile,
    /// sha256 of the lock's bytes (hex), which keys the dependency layer.
    pub(super) sha256: String,
    /// `.python-version` beside the lock.
    pub(super) python_version: Option<String>,
}

/// A location's Python project: its directory, with its `uv.lock` when
/// it has one.
pub(super) enum PythonProject {
    Locked(Box<LockedProject>),
    /// No lock: what declares its dependencies, for uv to lock.
    Unlocked(PathBuf, Unpinned),
}

/// What a project without a lock declares its dependencies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unpinned {
    /// `pyproject.toml`'s `[project]`: `uv lock`.
    Pyproject,
    /// A `requirements.txt` without hashes: `uv pip compile`.
    Requirements,
    /// `setup.py`: `uv pip compile`, and the project installed editable.
    SetupPy,
}

/// The Python project of a location: the build directory, else the nearest
/// directory above it with a `pyproject.toml`, within the repository.
pub(super) fn find_project(project: &Project, location: &Location) -> Result<Option<PythonProject>> {
    let repository = files::repository_root(&project.root);
    let mut dir = Some(location.build_directory.as_path());
    while let Some(d) = dir.filter(|d| d.starts_with(&repository)) {
        for name in LOCK_FILES {
            let path = d.join(name);
            if let Some(text) = files::read_inside(&repository, &path, LOCK_FILE_CAP)?
                && let Some(locked) = LockedProject::read(d, name, path, &text)?
            {
                return Ok(Some(PythonProject::Locked(Box::new(locked))));
            }
        }
        let read = |name: &str| files::read_inside(&repository, &d.join(name), LOCK_FILE_CAP);
        let pyproject = read("pyproject.toml")?;
        let has_project = pyproject
            .as_deref()
            .is_some_and(|t| toml::from_str::<toml::Table>(t).is_ok_and(|t| t.contains_key("project")));
        let unpinned = if has_project {
            Some(Unpinned::Pyproject)
        } else if read("requirements.txt")?.is_some() {
            Some(Unpinned::Requirements)
        } else if read("setup.py")?.is_some() {
            Some(Unpinned::SetupPy)
        } else {
            None
        };
        if let Some(kind) = unpinned {
            return Ok(Some(PythonProject::Unlocked(d.to_path_buf(), kind)));
        }
        if pyproject.is_some() {
            return Ok(None);
        }
        dir = d.parent();
    }
    Ok(None)
}

impl LockedProject {
    /// A project directory and its lock's text (`path` names it in
    /// messages: the file, or where `uv lock` made it).
    /// `None` for a requirements file that is no lock. `kind` is one of
    /// [`LOCK_FILES`].
    pub(super) fn read(dir: &Path, kind: &str, path: PathBuf, text: &str) -> Result<Option<LockedProject>> {
        let repository = files::repository_root(dir);
        let Some(lock) = LockFile::parse(kind, text).with_context(|| format!("reading {}", path.display()))? else {
            return Ok(None);
        };
        let python_version = files::read_inside(&repository, &dir.join(".python-version"), 4096)?;
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Some(LockedProject { path, dir: dir.to_path_buf(), lock, sha256, python_version }))
    }

    /// The index credentials for the lock's wheels: the project's named
    /// indexes (`[[tool.uv.index]]`) with their `UV_INDEX_*` variables, the
    /// index URLs' userinfo, and `~/.netrc` (or `NETRC`).
    pub(super) fn index_credentials(&self, env: &Env) -> Result<Vec<IndexCredential>> {
        let locked = self;
        let repository = files::repository_root(&locked.dir);
        let pyproject = files::read_inside(&repository, &locked.dir.join("pyproject.toml"), PROJECT_FILE_CAP)?;
        let table: toml::Table = match pyproject {
            Some(text) => parse_toml(&text, &locked.dir.join("pyproject.toml"))?,
            None => toml::Table::new(),
        };
        let indexes: Vec<(String, String)> = table
            .get("tool")
            .and_then(|t| t.get("uv"))
            .and_then(|u| u.get("index"))
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i.get("name")?.as_str()?.to_string(), i.get("url")?.as_str()?.to_string())))
            .collect();
        let netrc_path = match (env.get("NETRC"), env.get("HOME")) {
            (Some(path), _) => Some(PathBuf::from(path)),
            (None, Some(home)) => Some(PathBuf::from(home).join(".netrc")),
            (None, None) => None,
        };
        let netrc = netrc_path.and_then(|p| std::fs::read_to_string(p).ok());
        Ok(index_auth::credentials(&indexes, &|name| env.get(name).map(str::to_string), netrc.as_deref()))
    }

    /// `python:3.Y-slim-bookworm`, 3.Y from `.python-version` or the lock's
    /// `requires-python`.
    pub(super) fn default_base(&self) -> Result<String> {
        let requires: Vec<&str> = self.lock.requires_python().into_iter().collect();
        let python = choose_python(self.python_version.as_deref(), &requires)
            .with_context(|| format!("choosing the Python of {}", self.dir.display()))?;
        Ok(format!("python:3.{}-slim-bookworm", python.release().get(1).copied().unwrap_or(0)))
    }
}

/// How a lock becomes an image: from dg's defaults (no Dockerfile), or
/// as a recognised uv Dockerfile says.
pub(super) struct PythonPlan {
    /// The base image, as written; `None` for the default.
    pub(super) base: Option<String>,
    /// Where the code and `.venv` go (`/app`).
    pub(super) app_dir: String,
    pub(super) sync: SyncRequest,
    /// Whether the lock's projects are installed (editable).
    pub(super) install_project: bool,
    /// The container settings, as Dockerfile steps (ENV, WORKDIR, CMD…).
    pub(super) steps: Vec<StepKind>,
    pub(super) reason: String,
    /// Packages the Dockerfile checks are installed.
    pub(super) checks: Vec<String>,
    /// What the native build does not do, said once.
    pub(super) skipped: Vec<String>,
}

impl PythonPlan {
    /// A location without a Dockerfile: what dg's scaffolded one does.
    pub(super) fn without_dockerfile(locked: &LockedProject) -> PythonPlan {
        PythonPlan {
            base: None,
            app_dir: APP.to_string(),
            sync: SyncRequest::default(),
            install_project: true,
            steps: vec![
                StepKind::Env(vec![
                    ("PATH".into(), format!("{APP}/.venv/bin:$PATH")),
                    ("VIRTUAL_ENV".into(), format!("{APP}/.venv")),
                ]),
                StepKind::Workdir(APP.to_string()),
            ],
            reason: format!("no Dockerfile: the environment is installed from {}", locked.path.display()),
            checks: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// A Dockerfile that only installs the lock.
    pub(super) fn from_dockerfile(recipe: UvSyncRecipe, dockerfile: &Path) -> PythonPlan {
        let mut skipped = recipe.skipped;
        skipped.sort();
        skipped.dedup();
        PythonPlan {
            base: Some(recipe.base),
            app_dir: recipe.app_dir,
            sync: recipe.sync,
            install_project: recipe.install_project,
            steps: recipe.steps,
            reason: format!("uv sync recognised at line {} of {}", recipe.line, dockerfile.display()),
            checks: recipe.checks,
            skipped,
        }
    }
}

/// A lock project's editable install: its `pyproject.toml` scripts, and
/// its source root (`src/` when there is one).
pub(super) fn editable_project(
    locked: &LockedProject,
    name: &str,
    dir: &str,
    app_dir: &str,
) -> Result<EditableProject> {
    let project_dir = locked.dir.join(dir);
    let repository = files::repository_root(&locked.dir);
    let pyproject_path = project_dir.join("pyproject.toml");
    let text = files::read_inside(&repository, &pyproject_path, PROJECT_FILE_CAP)?.unwrap_or_default();
    let pyproject: toml::Table = parse_toml(&text, &pyproject_path)?;
    let table = pyproject.get("project").and_then(toml::Value::as_table);
    let version = table.and_then(|p| p.get("version")).and_then(toml::Value::as_str).unwrap_or("0.0.0").to_string();
    // A requirements file names its projects by path only (`-e .`).
    let name = match name {
        "" => table.and_then(|p| p.get("name")).and_then(toml::Value::as_str).map_or_else(
            || {
                project_dir
                    .canonicalize()
                    .ok()
                    .and_then(|d| d.file_name()?.to_str().map(str::to_string))
                    .unwrap_or("project".into())
            },
            str::to_string,
        ),
        name => name.to_string(),
    };
    let mut scripts = Vec::new();
    for key in ["scripts", "gui-scripts"] {
        if let Some(entries) = table.and_then(|p| p.get(key)).and_then(toml::Value::as_table) {
            scripts.extend(entries.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))));
        }
    }
    let app_dir = app_dir.trim_end_matches('/');
    let inside = if dir == "." { app_dir.to_string() } else { format!("{app_dir}/{}", dir.trim_start_matches("./")) };
    let source_root = if project_dir.join("src").is_dir() { format!("{inside}/src") } else { inside.clone() };
    Ok(EditableProject { name, version, directory: inside, source_root, scripts })
}
