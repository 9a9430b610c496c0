//! Each location's document for `deployLocations`: the location's entry
//! from build.yaml or dagster_cloud.yaml (less `build`), the image by
//! digest, and the git metadata Dagster+ shows; nulls left out, as the
//! official CLI sends it.

use serde_json::{Map, Value, json};

use crate::ci::{CiContext, Provider};
use crate::config::{CodeSource, Location};

/// A location's document for `deployLocations`: the file's entry (less
/// `build`), the image by digest, and git metadata; nulls left out.
pub(crate) fn location_document(location: &Location, image: &str, context: &CiContext) -> Value {
    let code_source = match &location.code_source {
        CodeSource::PackageName(v) => json!({ "package_name": v }),
        CodeSource::ModuleName(v) => json!({ "module_name": v }),
        CodeSource::PythonFile(v) => json!({ "python_file": v }),
        CodeSource::AutoloadDefsModuleName(v) => json!({ "autoload_defs_module_name": v }),
    };
    let repo_short = context.repo_url.as_deref().and_then(|u| u.rsplit('/').next()).map(str::to_string);
    let base_branch = context.change_request.as_ref().and_then(|c| c.base_branch.clone());
    let git = json!({
        "commit_hash": context.commit,
        "url": context.tree_url(),
        "provider": (context.provider != Provider::Local).then(|| context.provider.name()),
        "repo_owner": context.repo_owner,
        "repo_name": repo_short,
        "base_branch": base_branch,
    });
    let document = json!({
        "location_name": location.name,
        "code_source": code_source,
        "working_directory": location.working_directory,
        "executable_path": location.executable_path,
        "attribute": location.attribute,
        "container_context": location.container_context,
        "agent_queue": location.agent_queue,
        "image": image,
        "git": without_nulls(git),
    });
    without_nulls(document)
}

/// `value` without null members, at any depth.
pub(super) fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::Event;
    use crate::plan::tests::context;

    #[test]
    fn location_documents_drop_nulls_and_carry_git_metadata() {
        let location = Location {
            name: "etl".into(),
            code_source: CodeSource::ModuleName("etl.defs".into()),
            build_directory: "/p".into(),
            registry: Some("ghcr.io/acme/etl".into()),
            working_directory: Some("/opt/dagster/app".into()),
            image: None,
            executable_path: None,
            attribute: None,
            container_context: Some(json!({ "k8s": { "env_vars": ["A=1"] } })),
            agent_queue: None,
        };
        let doc = location_document(&location, "ghcr.io/acme/etl@sha256:00", &context(Event::ChangeRequestOpen));
        assert_eq!(
            doc,
            json!({
                "location_name": "etl",
                "code_source": { "module_name": "etl.defs" },
                "working_directory": "/opt/dagster/app",
                "container_context": { "k8s": { "env_vars": ["A=1"] } },
                "image": "ghcr.io/acme/etl@sha256:00",
                "git": { "commit_hash": "abc123", "url": "https://github.com/acme/proj/tree/abc123", "provider": "github",
                         "repo_owner": "acme", "repo_name": "proj", "base_branch": "main" },
            })
        );
    }
}
