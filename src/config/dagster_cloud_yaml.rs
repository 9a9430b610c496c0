//! `dagster_cloud.yaml` (and a `build.yaml` holding the same `locations:`
//! list): the schema of the official CLI, unknown keys rejected as its
//! pydantic models do, `defaults` merged into each location.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use super::{
    CodeSource, Location, Project, check_location_name, location_name_lines, parse_yaml, read_project_file,
    resolve_build_directory,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    locations: Vec<RawLocation>,
    defaults: Option<Defaults>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocation {
    location_name: String,
    code_source: Option<RawCodeSource>,
    build: Option<RawBuild>,
    working_directory: Option<String>,
    image: Option<String>,
    executable_path: Option<String>,
    attribute: Option<String>,
    container_context: Option<Value>,
    agent_queue: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Defaults {
    build: Option<RawBuild>,
    working_directory: Option<String>,
    image: Option<String>,
    executable_path: Option<String>,
    container_context: Option<Value>,
    agent_queue: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCodeSource {
    package_name: Option<String>,
    module_name: Option<String>,
    python_file: Option<String>,
    autoload_defs_module_name: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    directory: Option<String>,
    registry: Option<String>,
}

/// Loads a `dagster_cloud.yaml`.
pub(crate) fn load(root: &Path, path: &Path) -> Result<Project> {
    let text = read_project_file(root, path)?.with_context(|| format!("{} does not exist", path.display()))?;
    let file: File = parse_yaml(&text, path)?;
    build(root, path, &text, file)
}

/// Loads a `build.yaml` when it holds a legacy `locations:` list.
pub(crate) fn load_if_legacy(root: &Path, path: &Path) -> Result<Option<Project>> {
    let text = read_project_file(root, path)?.with_context(|| format!("{} does not exist", path.display()))?;
    let value: serde_norway::Value = parse_yaml(&text, path)?;
    if value.get("locations").is_none() {
        return Ok(None);
    }
    let file: File = parse_yaml(&text, path)?;
    build(root, path, &text, file).map(Some)
}

fn build(root: &Path, path: &Path, text: &str, file: File) -> Result<Project> {
    let defaults = file.defaults.unwrap_or_default();
    let folder = path.parent().unwrap_or(root);
    let mut seen = HashSet::new();
    let mut locations = Vec::new();
    let lines = location_name_lines(text);
    for (i, raw) in file.locations.into_iter().enumerate() {
        let at = match lines.get(&raw.location_name) {
            Some(line) => format!("{}:{line}: locations[{i}]", path.display()),
            None => format!("{}: locations[{i}]", path.display()),
        };
        check_location_name(&raw.location_name).with_context(|| at.clone())?;
        let at = format!("{at} ({:?})", raw.location_name);
        if !seen.insert(raw.location_name.clone()) {
            bail!("{at}: a second location named {:?}; location names must be unique", raw.location_name);
        }
        locations.push(location(root, folder, &defaults, raw).with_context(|| at.clone())?);
    }
    Ok(Project { root: root.to_path_buf(), file: path.to_path_buf(), locations })
}

fn location(root: &Path, folder: &Path, defaults: &Defaults, raw: RawLocation) -> Result<Location> {
    let code_source = code_source(raw.code_source.unwrap_or_default())?;
    let build = raw.build.unwrap_or_default();
    let default_build = defaults.build.clone().unwrap_or_default();
    let directory = build.directory.or(default_build.directory).unwrap_or_else(|| ".".to_string());
    let build_directory = resolve_build_directory(root, folder, &directory, "build.directory")?;
    let container_context = match (&defaults.container_context, raw.container_context) {
        (Some(d), Some(own)) => Some(merge_context(d.clone(), own)),
        (d, own) => own.or_else(|| d.clone()),
    };
    Ok(Location {
        name: raw.location_name,
        code_source,
        build_directory,
        registry: build.registry.or(default_build.registry),
        working_directory: raw.working_directory.or_else(|| defaults.working_directory.clone()),
        image: raw.image.or_else(|| defaults.image.clone()),
        executable_path: raw.executable_path.or_else(|| defaults.executable_path.clone()),
        attribute: raw.attribute,
        container_context,
        agent_queue: raw.agent_queue.or_else(|| defaults.agent_queue.clone()),
    })
}

fn code_source(raw: RawCodeSource) -> Result<CodeSource> {
    let mut found = Vec::new();
    if let Some(v) = raw.package_name {
        found.push(("package_name", CodeSource::PackageName(v)));
    }
    if let Some(v) = raw.module_name {
        found.push(("module_name", CodeSource::ModuleName(v)));
    }
    if let Some(v) = raw.python_file {
        found.push(("python_file", CodeSource::PythonFile(v)));
    }
    if let Some(v) = raw.autoload_defs_module_name {
        found.push(("autoload_defs_module_name", CodeSource::AutoloadDefsModuleName(v)));
    }
    match found.len() {
        1 => Ok(found.pop().expect("one element").1),
        0 => bail!("code_source needs one of package_name, module_name, python_file, autoload_defs_module_name"),
        _ => {
            let keys: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
            bail!("code_source has {}; keep exactly one", keys.join(" and "))
        }
    }
}

/// Merges `defaults.container_context` under a location's own: maps deep,
/// `env_vars` by variable name, other lists concatenated without duplicates.
pub(crate) fn merge_context(base: Value, own: Value) -> Value {
    match (base, own) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(existing) if k == "env_vars" => merge_env_vars(existing, v),
                    Some(existing) => merge_context(existing, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (Value::Array(mut b), Value::Array(o)) => {
            for item in o {
                if !b.contains(&item) {
                    b.push(item);
                }
            }
            Value::Array(b)
        }
        (_, own) => own,
    }
}

fn merge_env_vars(base: Value, own: Value) -> Value {
    let (Value::Array(base), Value::Array(own)) = (base, own.clone()) else { return own };
    let key = |v: &Value| v.as_str().map(|s| s.split('=').next().unwrap_or(s).to_string());
    let own_keys: HashSet<Option<String>> = own.iter().map(key).collect();
    Value::Array(base.into_iter().filter(|v| !own_keys.contains(&key(v))).chain(own).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str, dirs: &[&str]) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("dagster_cloud.yaml"), yaml).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let result = load(&root, &root.join("dagster_cloud.yaml"));
        drop(dir);
        result
    }

    #[test]
    fn locations_defaults_and_build_directories() {
        let p = project(
            "defaults:\n  build:\n    registry: ghcr.io/acme/default\n  container_context:\n    k8s:\n      env_vars: [A=1, B=2]\n\
             locations:\n  - location_name: one\n    code_source:\n      package_name: one\n    build:\n      directory: one\n\
             \x20   container_context:\n      k8s:\n        env_vars: [B=3]\n\
             \x20 - location_name: two\n    code_source:\n      python_file: two/defs.py\n    build:\n      registry: ghcr.io/acme/two\n",
            &["one"],
        )
        .unwrap();
        assert_eq!(p.locations.len(), 2);
        let one = &p.locations[0];
        assert!(one.build_directory.ends_with("one"));
        assert_eq!(one.registry.as_deref(), Some("ghcr.io/acme/default"));
        assert_eq!(one.container_context, Some(serde_json::json!({"k8s": {"env_vars": ["A=1", "B=3"]}})));
        assert_eq!(p.locations[1].code_source, CodeSource::PythonFile("two/defs.py".into()));
        assert_eq!(p.locations[1].registry.as_deref(), Some("ghcr.io/acme/two"));
    }

    #[test]
    fn bad_files_are_reported_with_file_line_and_key() {
        let err = |yaml: &str| format!("{:#}", project(yaml, &[]).unwrap_err());
        let e = err("locations:\n  - location_name: a\n    code_source: {package_name: a}\n    bulid: {}\n");
        assert!(e.contains("dagster_cloud.yaml") && e.contains("unknown field `bulid`") && e.contains("line 4"), "{e}");
        let e = err("locations:\n  - location_name: a\n    code_source: {package_name: a, module_name: b}\n");
        assert!(e.contains(":2: locations[0]") && e.contains("package_name and module_name"), "{e}");
        let e = err("locations:\n  - location_name: a\n");
        assert!(e.contains("code_source needs one of"), "{e}");
        let e = err(
            "locations:\n  - {location_name: a, code_source: {package_name: a}}\n  - {location_name: a, code_source: {package_name: b}}\n",
        );
        assert!(e.contains("a second location named \"a\""), "{e}");
        let e = err("locations:\n  - {location_name: a, code_source: {package_name: a}, build: {directory: ../..}}\n");
        assert!(e.contains("leads outside the project"), "{e}");
        let e = err("locations: [\n");
        assert!(e.contains("parsing") && e.contains("line"), "{e}");
    }
}
