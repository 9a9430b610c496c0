//! dg projects and workspaces, read the way dg reads them
//! (`dagster_dg_core`'s `config.py` and `context.py`):
//!
//! - A directory's dg settings are in `dg.toml` (top level), else in
//!   `pyproject.toml` under `[tool.dg]`; `dg.toml` wins when both exist.
//!   `directory_type` is `project` (a `[project]` table) or `workspace` (a
//!   `[workspace]` table listing `projects`).
//! - The settings that apply to a directory are the nearest ones above it;
//!   a project inside a workspace also gets the workspace's `build.yaml` and
//!   `container_context.yaml`, deep-merged under its own (the project wins).
//! - A project's location is `code_location_name`, else the project
//!   directory's name (not `[project].name`); it loads
//!   `code_location_target_module` (default `<root_module>.definitions`), or
//!   with `autoload_defs` the defs module (default `<root_module>.defs`).
//!   `build.yaml` is optional and only its `registry` and `directory` are
//!   read, as dg does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use super::dagster_cloud_yaml::merge_context;
use super::{
    CodeSource, Location, Project, check_location_name, parse_toml, parse_yaml, read_project_file,
    resolve_build_directory,
};
use crate::io::files;

/// `build.yaml`: dg reads these two keys and ignores the rest.
#[derive(Deserialize, Default, Clone)]
struct BuildYaml {
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    directory: Option<String>,
}

/// dg's settings: all of `dg.toml`, or `[tool.dg]` of `pyproject.toml`.
#[derive(Deserialize, Default)]
struct DgSettings {
    directory_type: Option<String>,
    project: Option<DgProject>,
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Pyproject {
    tool: Option<PyprojectTool>,
}

#[derive(Deserialize)]
struct PyprojectTool {
    dg: Option<DgSettings>,
}

#[derive(Deserialize, Clone)]
struct DgProject {
    root_module: Option<String>,
    code_location_name: Option<String>,
    code_location_target_module: Option<String>,
    defs_module: Option<String>,
    #[serde(default)]
    autoload_defs: bool,
    agent_queue: Option<String>,
    image: Option<String>,
}

#[derive(Deserialize, Default)]
struct Workspace {
    #[serde(default)]
    projects: Vec<WorkspaceProject>,
}

#[derive(Deserialize)]
struct WorkspaceProject {
    path: String,
}

/// What a directory's dg settings make it.
enum Kind {
    Project(DgProject),
    Workspace(Workspace),
}

/// A directory with dg settings, and the file they are in.
struct Found {
    dir: PathBuf,
    file: PathBuf,
    kind: Kind,
}

/// Loads the dg project or workspace that `dir` belongs to: the nearest dg
/// settings at or above it, within the repository. `None` when there are none.
pub(crate) fn load(dir: &Path) -> Result<Option<Project>> {
    let repository = files::repository_root(dir);
    let Some(nearest) = discover(dir, &repository, |_| true)? else { return Ok(None) };
    match nearest.kind {
        Kind::Workspace(workspace) => load_workspace(&nearest.dir, &nearest.file, &workspace).map(Some),
        Kind::Project(project) => {
            let above = nearest.dir.parent().map(Path::to_path_buf);
            let workspace = match above {
                Some(above) => discover(&above, &repository, |k| matches!(k, Kind::Workspace(_)))?,
                None => None,
            };
            let root = workspace.as_ref().map_or(nearest.dir.clone(), |w| w.dir.clone());
            let shared = Shared::read(workspace.as_ref().map(|w| w.dir.as_path()))?;
            let location = project_location(&root, &nearest.dir, &nearest.file, &project, &shared)?;
            Ok(Some(Project { root, file: nearest.file, locations: vec![location] }))
        }
    }
}

/// The nearest directory at or above `dir` (not above `repository`) whose
/// dg settings satisfy `wanted`.
fn discover(dir: &Path, repository: &Path, wanted: impl Fn(&Kind) -> bool) -> Result<Option<Found>> {
    for candidate in dir.ancestors() {
        if let Some(found) = settings_of(candidate, repository)?
            && wanted(&found.kind)
        {
            return Ok(Some(found));
        }
        if candidate == repository {
            break;
        }
    }
    Ok(None)
}

/// The dg settings of one directory: `dg.toml`, else `pyproject.toml`'s
/// `[tool.dg]`.
fn settings_of(dir: &Path, repository: &Path) -> Result<Option<Found>> {
    let dg_toml = dir.join("dg.toml");
    let (file, settings) = match files::read_inside(repository, &dg_toml, files::PROJECT_FILE_CAP)? {
        Some(text) => (dg_toml, parse_toml::<DgSettings>(&text, &dir.join("dg.toml"))?),
        None => {
            let pyproject = dir.join("pyproject.toml");
            let Some(text) = files::read_inside(repository, &pyproject, files::PROJECT_FILE_CAP)? else {
                return Ok(None);
            };
            let parsed: Pyproject = parse_toml(&text, &pyproject)?;
            match parsed.tool.and_then(|t| t.dg) {
                Some(settings) => (pyproject, settings),
                None => return Ok(None),
            }
        }
    };
    let table = if file.ends_with("dg.toml") { "" } else { "tool.dg." };
    let kind = match (settings.directory_type.as_deref(), settings.project, settings.workspace) {
        (Some("workspace") | None, _, Some(workspace)) => Kind::Workspace(workspace),
        (Some("workspace"), _, None) => Kind::Workspace(Workspace::default()),
        (Some("project") | None, Some(project), _) => Kind::Project(project),
        (Some("project"), None, _) => {
            bail!("{}: directory_type is \"project\" but there is no [{table}project] table", file.display())
        }
        (None, None, None) => return Ok(None),
        (Some(other), _, _) => bail!(
            "{}: {table}directory_type is {}; dg knows \"project\" and \"workspace\"",
            file.display(),
            crate::text::excerpt(other)
        ),
    };
    Ok(Some(Found { dir: dir.to_path_buf(), file, kind }))
}

/// A workspace's `build.yaml` and `container_context.yaml`, which every
/// project in it inherits.
#[derive(Default)]
struct Shared {
    /// The workspace directory and its build settings.
    build: Option<(PathBuf, BuildYaml)>,
    context: Option<Value>,
}

impl Shared {
    fn read(workspace: Option<&Path>) -> Result<Shared> {
        let Some(dir) = workspace else { return Ok(Shared::default()) };
        Ok(Shared {
            build: read_build_yaml(dir, &dir.join("build.yaml"))?.map(|b| (dir.to_path_buf(), b)),
            context: read_context(dir, &dir.join("container_context.yaml"))?,
        })
    }
}

fn load_workspace(root: &Path, file: &Path, workspace: &Workspace) -> Result<Project> {
    let shared = Shared::read(Some(root))?;
    let repository = files::repository_root(root);
    let mut locations: Vec<Location> = Vec::new();
    for (i, spec) in workspace.projects.iter().enumerate() {
        let key = format!("{}: workspace.projects[{i}].path", file.display());
        let dir = resolve_build_directory(root, root, &spec.path, &key)?;
        let project = match settings_of(&dir, &repository).with_context(|| key.clone())? {
            Some(Found { kind: Kind::Project(project), file, .. }) => (project, file),
            _ => bail!(
                "{key}: {} has no dg project settings (pyproject.toml with [tool.dg.project], or dg.toml with \
                 [project])",
                dir.display()
            ),
        };
        let location = project_location(root, &dir, &project.1, &project.0, &shared)?;
        if locations.iter().any(|l| l.name == location.name) {
            bail!("{key}: a second project with the location name {:?}", location.name);
        }
        locations.push(location);
    }
    Ok(Project { root: root.to_path_buf(), file: file.to_path_buf(), locations })
}

fn project_location(root: &Path, dir: &Path, file: &Path, dg: &DgProject, shared: &Shared) -> Result<Location> {
    let Some(root_module) = dg.root_module.clone() else {
        bail!("{}: the dg project settings need root_module", file.display())
    };
    let directory_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let name = dg.code_location_name.clone().unwrap_or(directory_name);
    check_location_name(&name).with_context(|| format!("{}: the project's location name", file.display()))?;
    let code_source = if dg.autoload_defs {
        CodeSource::AutoloadDefsModuleName(dg.defs_module.clone().unwrap_or_else(|| format!("{root_module}.defs")))
    } else {
        CodeSource::ModuleName(
            dg.code_location_target_module.clone().unwrap_or_else(|| format!("{root_module}.definitions")),
        )
    };
    let own_path = dir.join("build.yaml");
    let own = read_build_yaml(root, &own_path)?.unwrap_or_default();
    let shared_build = shared.build.as_ref();
    let (directory, base, key) =
        match (&own.directory, shared_build.and_then(|(d, b)| Some((d, b.directory.as_ref()?)))) {
            (Some(d), _) => (d.clone(), dir.to_path_buf(), format!("{}: directory", own_path.display())),
            (None, Some((ws, d))) => (d.clone(), ws.clone(), format!("{}: directory", ws.join("build.yaml").display())),
            (None, None) => (".".into(), dir.to_path_buf(), format!("{}: the project directory", dir.display())),
        };
    let build_directory = resolve_build_directory(root, &base, &directory, &key)?;
    let container_context = match (shared.context.clone(), read_context(root, &dir.join("container_context.yaml"))?) {
        (Some(s), Some(own)) => Some(merge_context(s, own)),
        (s, own) => own.or(s),
    };
    Ok(Location {
        name,
        code_source,
        build_directory,
        registry: own.registry.or_else(|| shared_build.and_then(|(_, b)| b.registry.clone())),
        working_directory: None,
        image: dg.image.clone(),
        executable_path: None,
        attribute: None,
        container_context,
        agent_queue: dg.agent_queue.clone(),
    })
}

fn read_build_yaml(root: &Path, path: &Path) -> Result<Option<BuildYaml>> {
    match read_project_file(root, path)? {
        Some(text) if text.trim().is_empty() => Ok(Some(BuildYaml::default())),
        Some(text) => parse_yaml(&text, path).map(Some),
        None => Ok(None),
    }
}

fn read_context(root: &Path, path: &Path) -> Result<Option<Value>> {
    read_project_file(root, path)?.map(|text| parse_yaml(&text, path)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        let root = dir.path().canonicalize().unwrap();
        (dir, root)
    }

    const PROJECT: &str = "[tool.dg]\ndirectory_type = \"project\"\n[tool.dg.project]\n";

    #[test]
    fn a_workspace_merges_shared_build_settings_and_names_locations_by_directory() {
        let (_dir, d) = repo();
        write(
            &d,
            "dg.toml",
            "directory_type = \"workspace\"\n[workspace]\n[[workspace.projects]]\npath = \"projects/my-cool-project\"\n[[workspace.projects]]\npath = \"projects/b\"\n",
        );
        write(&d, "build.yaml", "registry: ghcr.io/acme/shared\n");
        write(&d, "container_context.yaml", "k8s:\n  env_vars: [A=1]\n");
        write(
            &d,
            "projects/my-cool-project/pyproject.toml",
            &format!("[project]\nname = \"my_cool_project\"\n{PROJECT}root_module = \"my_cool_project\"\n"),
        );
        write(
            &d,
            "projects/b/pyproject.toml",
            &format!(
                "[project]\nname = \"b-proj\"\n{PROJECT}root_module = \"b\"\ncode_location_name = \"bee\"\nautoload_defs = true\n"
            ),
        );
        write(&d, "projects/b/build.yaml", "registry: ghcr.io/acme/b\nextra: tolerated\n");
        write(&d, "projects/b/container_context.yaml", "k8s:\n  env_vars: [B=2]\n");
        let p = load(&d).unwrap().unwrap();
        let names: Vec<_> = p.locations.iter().map(|l| (l.name.as_str(), l.registry.as_deref())).collect();
        assert_eq!(names, vec![("my-cool-project", Some("ghcr.io/acme/shared")), ("bee", Some("ghcr.io/acme/b"))]);
        assert_eq!(p.locations[0].code_source, CodeSource::ModuleName("my_cool_project.definitions".into()));
        assert_eq!(p.locations[1].code_source, CodeSource::AutoloadDefsModuleName("b.defs".into()));
        assert!(p.locations[1].build_directory.ends_with("projects/b"));
        assert_eq!(p.locations[1].container_context, Some(serde_json::json!({"k8s": {"env_vars": ["A=1", "B=2"]}})));

        let inside = load(&d.join("projects/b")).unwrap().unwrap();
        assert_eq!(inside.locations.len(), 1, "a project inside a workspace is one location");
        assert_eq!(inside.locations[0].registry.as_deref(), Some("ghcr.io/acme/b"));
        let first = load(&d.join("projects/my-cool-project")).unwrap().unwrap();
        assert_eq!(first.locations[0].registry.as_deref(), Some("ghcr.io/acme/shared"), "the workspace's registry");
        assert_eq!(first.locations[0].container_context, Some(serde_json::json!({"k8s": {"env_vars": ["A=1"]}})));
    }

    #[test]
    fn a_dg_toml_project_and_a_pyproject_project_without_build_yaml() {
        let (_dir, repo) = repo();
        let d = repo.join("jaffle-platform");
        write(
            &d,
            "dg.toml",
            "directory_type = \"project\"\n[project]\nroot_module = \"jaffle\"\ncode_location_target_module = \"jaffle.defs\"\n",
        );
        write(&d, "pyproject.toml", "[project]\nname = \"ignored\"\n[tool.dg.project]\nroot_module = \"ignored\"\n");
        let p = load(&d).unwrap().unwrap();
        assert_eq!(p.locations[0].name, "jaffle-platform");
        assert_eq!(p.locations[0].code_source, CodeSource::ModuleName("jaffle.defs".into()), "dg.toml wins");
        assert_eq!(p.locations[0].registry, None);
        assert_eq!(p.locations[0].build_directory, d);
    }

    #[test]
    fn bad_dg_settings_say_what_is_missing() {
        let (_dir, d) = repo();
        write(&d, "pyproject.toml", "[tool.dg]\ndirectory_type = \"project\"\n");
        let err = format!("{:#}", load(&d).err().unwrap());
        assert!(err.contains("pyproject.toml") && err.contains("no [tool.dg.project] table"), "{err}");
        write(&d, "pyproject.toml", "[tool.dg]\ndirectory_type = \"library\"\n");
        let err = format!("{:#}", load(&d).err().unwrap());
        assert!(err.contains("directory_type is `library`"), "{err}");
        write(&d, "pyproject.toml", "[project]\nname = \"p\"\n");
        assert!(load(&d).unwrap().is_none(), "no dg settings: not a dg project");
        write(&d, "pyproject.toml", &format!("{PROJECT}code_location_name = \"x\"\n"));
        let err = format!("{:#}", load(&d).err().unwrap());
        assert!(err.contains("need root_module"), "{err}");
    }
}
