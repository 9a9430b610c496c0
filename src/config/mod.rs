//! The project's Dagster+ configuration, validated into a [`Project`]: the
//! legacy `dagster_cloud.yaml` (a `locations:` list), a dg project's
//! `build.yaml` beside `pyproject.toml`, or a dg workspace (`dg.toml`) whose
//! projects each have one. Errors name the file, the line and the key.

mod dagster_cloud_yaml;
mod dg;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::image::reference::ImageRef;
use crate::io::files::{self, PROJECT_FILE_CAP};
use crate::text::shorten;

/// The deepest `[`/`{` nesting a YAML file may have: the parser's time
/// grows fast with flow nesting, and no Dagster file needs more than a few.
const MAX_YAML_NESTING: usize = 64;

/// A validated project.
#[derive(Debug, Serialize)]
pub(crate) struct Project {
    /// The project directory (absolute).
    pub(crate) root: PathBuf,
    /// The file the locations came from.
    pub(crate) file: PathBuf,
    /// The code locations, in file order.
    pub(crate) locations: Vec<Location>,
}

/// One code location.
#[derive(Debug, Serialize, Clone)]
pub(crate) struct Location {
    /// `location_name`.
    pub(crate) name: String,
    /// Where the definitions are loaded from.
    pub(crate) code_source: CodeSource,
    /// The build directory (absolute, inside the project).
    pub(crate) build_directory: PathBuf,
    /// `build.registry`: the repository images are pushed to.
    pub(crate) registry: Option<String>,
    /// `working_directory`.
    pub(crate) working_directory: Option<String>,
    /// `image` (a prebuilt image, when set).
    pub(crate) image: Option<String>,
    /// `executable_path`.
    pub(crate) executable_path: Option<String>,
    pub(crate) attribute: Option<String>,
    /// `container_context`.
    pub(crate) container_context: Option<Value>,
    /// `agent_queue`.
    pub(crate) agent_queue: Option<String>,
}

/// `code_source`: exactly one of these.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CodeSource {
    /// `package_name`.
    PackageName(String),
    /// `module_name`.
    ModuleName(String),
    /// `python_file`.
    PythonFile(String),
    /// `autoload_defs_module_name`.
    AutoloadDefsModuleName(String),
}

impl Location {
    /// The repository to push to, or an error naming the location.
    pub(crate) fn target_repository(&self, file: &Path) -> Result<ImageRef> {
        let example = format!("ghcr.io/acme/{}", self.name.replace('_', "-").to_lowercase());
        let Some(registry) = &self.registry else {
            // A dg project's registry lives in build.yaml beside its pyproject.toml or dg.toml.
            if file.extension().is_some_and(|e| e == "toml") {
                let build_yaml = file.with_file_name("build.yaml");
                bail!(
                    "location {:?} has no registry; add {} with\n    registry: {example}",
                    self.name,
                    build_yaml.display()
                );
            }
            bail!(
                "location {:?} has no build.registry in {}; add one, like\n    build:\n      registry: {example}",
                self.name,
                file.display()
            );
        };
        ImageRef::parse_repository(registry)
            .with_context(|| format!("location {:?}: build.registry in {}", self.name, file.display()))
    }
}

impl Project {
    /// Loads the project in `dir`: the file `config_file` names
    /// (`--dagster-cloud-yaml-path`), else `dir/dagster_cloud.yaml`, else a
    /// `dir/build.yaml` with a `locations:` list, else the dg project or
    /// workspace `dir` belongs to.
    pub(crate) fn load(dir: &Path, config_file: Option<&Path>) -> Result<Project> {
        let root =
            resolve_path(dir).with_context(|| format!("the project directory {} does not exist", dir.display()))?;
        let dagster_cloud = root.join("dagster_cloud.yaml");
        let build_yaml = root.join("build.yaml");
        // Present even as a link to nowhere or out of the repository: the
        // safe reader then says what is wrong with it.
        let present = |p: &Path| p.symlink_metadata().is_ok();
        let project = if let Some(file) = config_file {
            let file = resolve_path(file).with_context(|| {
                format!("the config file {} (--dagster-cloud-yaml-path) does not exist", file.display())
            })?;
            dagster_cloud_yaml::load(&root, &file)?
        } else if present(&dagster_cloud) {
            dagster_cloud_yaml::load(&root, &dagster_cloud)?
        } else if let Some(project) =
            present(&build_yaml).then(|| dagster_cloud_yaml::load_if_legacy(&root, &build_yaml)).transpose()?.flatten()
        {
            project
        } else if let Some(project) = dg::load(&root)? {
            project
        } else {
            bail!(
                "no dagster_cloud.yaml, build.yaml or dg project (dg.toml, or pyproject.toml with [tool.dg]) in {}. A \
                 minimal dagster_cloud.yaml:\n\
                 locations:\n  - location_name: my_location\n    code_source:\n      package_name: my_package\n    \
                 build:\n      directory: .\n      registry: ghcr.io/acme/my-location",
                root.display()
            );
        };
        if project.locations.is_empty() {
            bail!("{} defines no code location", project.file.display());
        }
        Ok(project)
    }

    /// Reads a file of the project's repository safely (see
    /// [`crate::io::files`]); `None` when it does not exist.
    pub(crate) fn read_file(&self, path: &Path) -> Result<Option<String>> {
        read_project_file(&self.root, path)
    }

    /// The locations named by `--location` (all when none are named).
    pub(crate) fn select(&self, names: &[String]) -> Result<Vec<&Location>> {
        if names.is_empty() {
            return Ok(self.locations.iter().collect());
        }
        names
            .iter()
            .map(|name| {
                self.locations.iter().find(|l| &l.name == name).with_context(|| {
                    let known: Vec<&str> = self.locations.iter().map(|l| l.name.as_str()).collect();
                    format!("unknown location {name:?}; {} defines: {}", self.file.display(), known.join(", "))
                })
            })
            .collect()
    }
}

/// Reads a file under `root` that must stay inside its repository.
fn read_project_file(root: &Path, path: &Path) -> Result<Option<String>> {
    files::read_inside(&files::repository_root(root), path, PROJECT_FILE_CAP)
}

/// Parses YAML from `path` once it passed the nesting check; the parser's
/// message is kept to one short line (it may quote the file).
fn parse_yaml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    check_nesting(text).with_context(|| format!("parsing {}", path.display()))?;
    serde_norway::from_str(text)
        .map_err(|e| anyhow::anyhow!("parsing {}: {}", path.display(), shorten(&e.to_string(), 300)))
}

/// Parses TOML from `path`, naming the line and column rather than quoting
/// the source as the TOML parser's own message does.
pub(crate) fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(":{line}:{column}")
        });
        anyhow::anyhow!("parsing {}{}: {}", path.display(), at.unwrap_or_default(), shorten(e.message(), 300))
    })
}

/// Refuses YAML whose flow collections nest deeper than
/// [`MAX_YAML_NESTING`]. A quote opens a string only where YAML lets one
/// start, and every line starts outside one, so quotes cannot hide nesting.
fn check_nesting(text: &str) -> Result<()> {
    let mut depth = 0usize;
    for (line_index, line) in text.split('\n').enumerate() {
        let mut quote: Option<char> = None;
        let mut previous = '\n';
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if matches!(previous, '\n' | ' ' | ':' | '[' | '{' | ',' | '-') => quote = Some(c),
                (None, '#') if matches!(previous, '\n' | ' ') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_YAML_NESTING {
                        bail!("line {}: collections nest deeper than {MAX_YAML_NESTING} levels", line_index + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
    Ok(())
}

/// Resolves a `build.directory` value against the folder of the file that
/// holds it, and refuses one that leads outside the project.
fn resolve_build_directory(root: &Path, base: &Path, value: &str, key: &str) -> Result<PathBuf> {
    let joined = base.join(value);
    let resolved =
        resolve_path(&joined).with_context(|| format!("{key}: the directory {} does not exist", joined.display()))?;
    if !resolved.starts_with(root) {
        bail!("{key}: {value:?} leads outside the project ({}); build directories must be inside it", root.display());
    }
    if !resolved.is_dir() {
        bail!("{key}: {} is not a directory", resolved.display());
    }
    Ok(resolved)
}

/// An absolute path with symbolic links and `..` resolved. WebAssembly
/// has no `realpath`: there the path is made absolute and cleaned
/// lexically, and must exist (the host's preopens bound what it reaches).
pub(crate) fn resolve_path(path: &Path) -> std::io::Result<PathBuf> {
    #[cfg(not(target_os = "wasi"))]
    return path.canonicalize();
    #[cfg(target_os = "wasi")]
    {
        let absolute = std::env::current_dir()?.join(path);
        let mut clean = PathBuf::from("/");
        for part in absolute.components() {
            match part {
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                std::path::Component::Normal(p) => clean.push(p),
                _ => {}
            }
        }
        std::fs::metadata(&clean)?;
        Ok(clean)
    }
}

/// The 1-based line of each `location_name:` value, indexed once (a
/// search per location would make a file of thousands of them quadratic).
fn location_name_lines(text: &str) -> std::collections::HashMap<String, usize> {
    let mut lines = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((_, rest)) = line.split_once("location_name")
            && let Some(value) = rest.trim_start().strip_prefix(':')
        {
            let value = value.split([',', '}', '#']).next().unwrap_or("").trim().trim_matches(['"', '\'']);
            lines.entry(value.to_string()).or_insert(i + 1);
        }
    }
    lines
}

/// Checks a location name: letters, digits, `_`, `-` and `.`, starting
/// with a letter, digit or `_`, at most 100 characters. That covers the
/// names Dagster's tools write (`my_location`, dg's `my-project`), and keeps
/// a name usable as a path (`--output-dir DIR/<location>`) and a tag.
pub(crate) fn check_location_name(name: &str) -> Result<()> {
    let valid_start = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() {
        bail!("location_name is empty");
    }
    if !valid_start || !valid || name.len() > 100 {
        bail!(
            "location_name {} is not a valid location name: use letters, digits, _, - and . (starting with a \
             letter, digit or _), at most 100 characters",
            crate::text::excerpt(name)
        );
    }
    Ok(())
}
