//! dg projects and workspaces: a project is a folder with `pyproject.toml`
//! (`[tool.dg.project]`) and an optional `build.yaml` (`registry`,
//! `directory`) and `container_context.yaml`; a workspace's `dg.toml` lists
//! projects, and its own `build.yaml` and `container_context.yaml` are
//! deep-merged under each project's (the project wins).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use super::dagster_cloud_yaml::merge_context;
use super::{
    CodeSource, Location, Project, check_location_name, parse_toml, parse_yaml, read_project_file,
    resolve_build_directory,
};

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct BuildYaml {
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    directory: Option<String>,
}

#[derive(Deserialize)]
struct Pyproject {
    project: Option<PyprojectProject>,
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct PyprojectProject {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Tool {
    dg: Option<DgTool>,
}

#[derive(Deserialize)]
struct DgTool {
    project: Option<DgProject>,
}

#[derive(Deserialize)]
struct DgProject {
    root_module: Option<String>,
    code_location_name: Option<String>,
    code_location_target_module: Option<String>,
    agent_queue: Option<String>,
    image: Option<String>,
}

#[derive(Deserialize)]
struct DgToml {
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    #[serde(default)]
    projects: Vec<WorkspaceProject>,
}

#[derive(Deserialize)]
struct WorkspaceProject {
    path: String,
}

/// Loads a single dg project (its `build.yaml` and `pyproject.toml`).
pub fn load_project(root: &Path) -> Result<Project> {
    let location = project_location(root, root, &BuildYaml::default(), None)?;
    Ok(Project { root: root.to_path_buf(), file: root.join("build.yaml"), locations: vec![location] })
}

/// Loads every project of a dg workspace.
pub fn load_workspace(root: &Path) -> Result<Project> {
    let path = root.join("dg.toml");
    let text = read_project_file(root, &path)?.with_context(|| format!("{} does not exist", path.display()))?;
    let toml: DgToml = parse_toml(&text, &path)?;
    let Some(workspace) = toml.workspace else {
        bail!(
            "{} has no [workspace] table; a project directory needs a build.yaml or dagster_cloud.yaml",
            path.display()
        );
    };
    let shared = read_build_yaml(root, &root.join("build.yaml"))?.unwrap_or_default();
    let shared_context = read_context(root, &root.join("container_context.yaml"))?;
    let mut locations: Vec<Location> = Vec::new();
    for (i, project) in workspace.projects.iter().enumerate() {
        let key = format!("{}: workspace.projects[{i}].path", path.display());
        let dir = resolve_build_directory(root, root, &project.path, &key)?;
        let location = project_location(root, &dir, &shared, shared_context.clone())?;
        if locations.iter().any(|l| l.name == location.name) {
            bail!("{key}: a second project with the location name {:?}", location.name);
        }
        locations.push(location);
    }
    Ok(Project { root: root.to_path_buf(), file: path, locations })
}

fn project_location(root: &Path, dir: &Path, shared: &BuildYaml, shared_context: Option<Value>) -> Result<Location> {
    let pyproject_path = dir.join("pyproject.toml");
    let text = read_project_file(root, &pyproject_path)?.with_context(|| {
        format!("{} does not exist (a dg project needs it, with a [tool.dg.project] table)", pyproject_path.display())
    })?;
    let pyproject: Pyproject = parse_toml(&text, &pyproject_path)?;
    let dg = pyproject.tool.and_then(|t| t.dg).and_then(|d| d.project);
    let Some(dg) = dg else { bail!("{} has no [tool.dg.project] table", pyproject_path.display()) };
    let root_module =
        dg.root_module.with_context(|| format!("{}: [tool.dg.project] needs root_module", pyproject_path.display()))?;
    let name = dg
        .code_location_name
        .or_else(|| pyproject.project.and_then(|p| p.name))
        .with_context(|| format!("{}: set [project] name or code_location_name", pyproject_path.display()))?;
    check_location_name(&name).with_context(|| format!("{}: the project's location name", pyproject_path.display()))?;
    let target = dg.code_location_target_module.unwrap_or_else(|| format!("{root_module}.definitions"));
    let own = read_build_yaml(root, &dir.join("build.yaml"))?.unwrap_or_default();
    let (directory, base): (String, PathBuf) = match (own.directory, &shared.directory) {
        (Some(d), _) => (d, dir.to_path_buf()),
        (None, Some(d)) => (d.clone(), root.to_path_buf()),
        (None, None) => (".".into(), dir.to_path_buf()),
    };
    let key = format!("{}: directory", dir.join("build.yaml").display());
    let build_directory = resolve_build_directory(root, &base, &directory, &key)?;
    let context = match (shared_context, read_context(root, &dir.join("container_context.yaml"))?) {
        (Some(s), Some(own)) => Some(merge_context(s, own)),
        (s, own) => own.or(s),
    };
    Ok(Location {
        name,
        code_source: CodeSource::ModuleName(target),
        build_directory,
        registry: own.registry.or_else(|| shared.registry.clone()),
        working_directory: None,
        image: dg.image,
        executable_path: None,
        attribute: None,
        container_context: context,
        agent_queue: dg.agent_queue,
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

    #[test]
    fn a_workspace_merges_shared_build_settings() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "dg.toml",
            "directory_type = \"workspace\"\n[workspace]\n[[workspace.projects]]\npath = \"projects/a\"\n[[workspace.projects]]\npath = \"projects/b\"\n",
        );
        write(d, "build.yaml", "registry: ghcr.io/acme/shared\n");
        write(d, "projects/a/pyproject.toml", "[project]\nname = \"a\"\n[tool.dg.project]\nroot_module = \"a\"\n");
        write(
            d,
            "projects/b/pyproject.toml",
            "[project]\nname = \"b-proj\"\n[tool.dg.project]\nroot_module = \"b\"\ncode_location_name = \"bee\"\n",
        );
        write(d, "projects/b/build.yaml", "registry: ghcr.io/acme/b\n");
        let root = d.canonicalize().unwrap();
        let p = load_workspace(&root).unwrap();
        let names: Vec<_> = p.locations.iter().map(|l| (l.name.as_str(), l.registry.as_deref())).collect();
        assert_eq!(names, vec![("a", Some("ghcr.io/acme/shared")), ("bee", Some("ghcr.io/acme/b"))]);
        assert_eq!(p.locations[0].code_source, CodeSource::ModuleName("a.definitions".into()));
        assert!(p.locations[1].build_directory.ends_with("projects/b"));
    }

    #[test]
    fn a_project_without_dg_settings_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "build.yaml", "registry: x\n");
        write(dir.path(), "pyproject.toml", "[project]\nname = \"p\"\n");
        let err = format!("{:#}", load_project(&dir.path().canonicalize().unwrap()).unwrap_err());
        assert!(err.contains("[tool.dg.project]"), "{err}");
        write(dir.path(), "build.yaml", "registry: x\nbuild_args: {}\n");
        write(dir.path(), "pyproject.toml", "[tool.dg.project]\nroot_module = \"p\"\n[project]\nname = \"p\"\n");
        let err = format!("{:#}", load_project(&dir.path().canonicalize().unwrap()).unwrap_err());
        assert!(err.contains("unknown field `build_args`"), "{err}");
    }
}
