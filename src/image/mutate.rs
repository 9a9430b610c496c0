//! Builds a native Dockerfile recipe on a base image: each COPY/ADD becomes
//! one reproducible layer, every other step changes the container config
//! (`container_config`), and `assemble` writes the config and manifest.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};

use super::assemble::{Base, Built, NewLayer, assemble};
use super::container_config::ContainerConfig;
use super::context::{BuildContext, CopyRequest, Entries, absolute_dest};
use super::digest::Digest;
use super::dockerfile::{CopyStep, Recipe, StepKind};
use super::layer::store_layer;
use super::layout::Layout;
use super::oci::{Descriptor, Family};
use super::platform::TargetPlatform;
use super::reference::ImageRef;
use super::words::expand;

/// What the build knows beyond the Dockerfile.
pub(crate) struct Metadata {
    /// The image's creation time, in Unix seconds (SOURCE_DATE_EPOCH, else
    /// the commit time, else 0); layer entries are stamped with
    /// [`super::layer::ENTRY_MTIME`].
    pub(crate) epoch: i64,
    /// Labels to set before the Dockerfile's own (source, revision).
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) platform: TargetPlatform,
    /// `--build-arg` values, for the ARGs the Dockerfile declares.
    pub(crate) build_args: Vec<(String, String)>,
}

/// Expands the `FROM` word with the global ARGs; `None` for scratch.
pub(crate) fn resolve_from(
    recipe: &Recipe,
    platform: &TargetPlatform,
    build_args: &[(String, String)],
) -> Result<Option<ImageRef>> {
    let args = global_args(recipe, platform, build_args);
    let from = expand(&recipe.from, &|name| args.get(name).cloned()).context("expanding FROM")?;
    if from.is_empty() {
        bail!("FROM {} expands to nothing: give the ARG a default", recipe.from);
    }
    if from == "scratch" {
        return Ok(None);
    }
    ImageRef::parse(&from).map(Some).with_context(|| format!("FROM {from}"))
}

/// The ARGs declared before `FROM`: `--build-arg` values, else defaults.
fn global_args(recipe: &Recipe, platform: &TargetPlatform, build_args: &[(String, String)]) -> HashMap<String, String> {
    let mut args = platform_args(platform);
    for (name, default) in &recipe.global_args {
        let given = build_args.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(v) = given.or_else(|| default.clone()) {
            args.insert(name.clone(), v);
        }
    }
    args
}

/// The automatic platform ARGs BuildKit defines.
fn platform_args(platform: &TargetPlatform) -> HashMap<String, String> {
    let variant = platform.variant.clone().unwrap_or_default();
    let mut args = HashMap::new();
    for prefix in ["TARGET", "BUILD"] {
        args.insert(format!("{prefix}PLATFORM"), platform.to_string());
        args.insert(format!("{prefix}OS"), platform.os.clone());
        args.insert(format!("{prefix}ARCH"), platform.architecture.clone());
        args.insert(format!("{prefix}VARIANT"), variant.clone());
    }
    args
}

/// Builds the image: writes the new layers into `layout` and computes the
/// config and manifest.
pub(crate) fn apply(
    recipe: &Recipe,
    context: &BuildContext,
    base: &Base,
    meta: &Metadata,
    layout: &Layout,
) -> Result<Built> {
    let global = global_args(recipe, &meta.platform, &meta.build_args);
    let mut settings = ContainerConfig::from_base(&base.config, global, meta.build_args.clone());
    for (k, v) in &meta.labels {
        settings.set_label(k, v);
    }
    let mut new_layers = Vec::new();
    for step in &recipe.steps {
        let text = step.instruction.text();
        let at = || format!("Dockerfile line {}: {text}", step.instruction.line);
        match &step.kind {
            StepKind::Copy(copy) => {
                let (descriptor, diff_id) =
                    copy_layer(copy, &settings, context, layout, base.family).with_context(at)?;
                new_layers.push(NewLayer { descriptor, diff_id, created_by: text });
            }
            other => settings.apply(other).with_context(at)?,
        }
    }
    let mut config = base.config.clone();
    settings.write_into(&mut config);
    assemble(base, config, new_layers, meta.epoch)
}

/// Writes one COPY/ADD as a layer; returns its descriptor and diff_id.
fn copy_layer(
    copy: &CopyStep,
    settings: &ContainerConfig,
    context: &BuildContext,
    layout: &Layout,
    family: Family,
) -> Result<(Descriptor, Digest)> {
    let sources = settings.expand_all(&copy.sources)?;
    let (dest, dest_is_dir) = absolute_dest(settings.workdir(), &settings.expand(&copy.dest)?);
    let request = CopyRequest { sources: &sources, dest: &dest, dest_is_dir, chmod: copy.chmod, chown: copy.chown };
    let mut entries = Entries::new();
    context.copy_into(&request, &mut entries)?;
    store_layer(&entries, layout, family)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::dockerfile::{BuildPath, classify, parse};
    use super::*;

    fn build(dockerfile: &str, base_config: Value) -> (Value, Built, tempfile::TempDir) {
        let ctx_dir = tempfile::tempdir().unwrap();
        std::fs::write(ctx_dir.path().join("defs.py"), "x = 1\n").unwrap();
        let BuildPath::Native(recipe) = classify(&parse(dockerfile).unwrap()).unwrap() else { panic!("external") };
        let context = BuildContext::open(ctx_dir.path()).unwrap();
        let platform = TargetPlatform::parse("linux/amd64").unwrap();
        let base = Base {
            name: Some(ImageRef::parse("python:3.12").unwrap()),
            manifest_digest: Some(Digest::of(b"base")),
            family: Family::Docker,
            config: base_config,
            layers: vec![Descriptor::new(Family::Docker.layer_gzip(), Digest::of(b"l1"), 10)],
        };
        let out = tempfile::tempdir().unwrap();
        let layout = Layout::create(out.path()).unwrap();
        let meta = Metadata {
            epoch: 0,
            labels: vec![("org.opencontainers.image.revision".into(), "abc".into())],
            platform,
            build_args: vec![("GREETING".into(), "hi".into())],
        };
        let built = apply(&recipe, &context, &base, &meta, &layout).unwrap();
        built.store(&layout).unwrap();
        let config: Value = serde_json::from_slice(&layout.read_blob(&built.config.digest).unwrap()).unwrap();
        (config, built, out)
    }

    fn python_base() -> Value {
        json!({
            "architecture": "amd64", "os": "linux", "unknown_field": 7,
            "config": { "Env": ["PATH=/usr/bin", "LANG=C"], "Cmd": ["python3"], "WorkingDir": "/" },
            "rootfs": { "type": "layers", "diff_ids": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"] },
            "history": [{ "created_by": "base" }]
        })
    }

    #[test]
    fn config_is_changed_like_docker_build() {
        let (config, built, _out) = build(
            "FROM python:3.12\nENV LANG=C.UTF-8 APP_HOME=/opt/app\nWORKDIR $APP_HOME\nCOPY defs.py .\n\
             LABEL team=data\nENTRYPOINT [\"dagster\"]\nEXPOSE 4000\n",
            python_base(),
        );
        let c = &config["config"];
        assert_eq!(c["Env"], json!(["PATH=/usr/bin", "LANG=C.UTF-8", "APP_HOME=/opt/app"]));
        assert_eq!(c["WorkingDir"], "/opt/app");
        assert_eq!(c["Labels"], json!({ "org.opencontainers.image.revision": "abc", "team": "data" }));
        assert_eq!(c["Entrypoint"], json!(["dagster"]));
        assert_eq!(c["Cmd"], Value::Null, "an ENTRYPOINT resets the inherited CMD");
        assert_eq!(c["ExposedPorts"], json!({ "4000/tcp": {} }));
        assert_eq!(config["unknown_field"], 7);
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        assert_eq!(built.layers.len(), 2);
        assert_eq!(built.new_layers[0].media_type, Family::Docker.layer_gzip());
        assert_eq!(built.manifest.media_type, Family::Docker.manifest());
    }

    #[test]
    fn build_args_set_declared_args() {
        let (config, _, _out) = build("FROM python:3.12\nARG GREETING=hello\nENV MESSAGE=$GREETING\n", python_base());
        assert!(config["config"]["Env"].as_array().unwrap().contains(&json!("MESSAGE=hi")));
    }

    #[test]
    fn shell_form_commands_use_the_shell() {
        let (config, _, _out) =
            build("FROM python:3.12\nSHELL [\"/bin/bash\", \"-c\"]\nCMD dagster api grpc\n", python_base());
        assert_eq!(config["config"]["Cmd"], json!(["/bin/bash", "-c", "dagster api grpc"]));
    }

    #[test]
    fn the_same_input_builds_the_same_manifest() {
        let df = "FROM python:3.12\nCOPY . /app\n";
        let (_, a, _o1) = build(df, python_base());
        let (_, b, _o2) = build(df, python_base());
        assert_eq!(a.manifest.digest, b.manifest.digest);
    }

    #[test]
    fn from_expands_global_args_and_platform_args() {
        let platform = TargetPlatform::parse("linux/arm64").unwrap();
        let recipe = |text: &str| match classify(&parse(text).unwrap()).unwrap() {
            BuildPath::Native(r) => r,
            BuildPath::External { .. } => panic!(),
        };
        let r = resolve_from(&recipe("ARG V=3.12\nFROM python:${V}-$TARGETARCH\n"), &platform, &[]).unwrap().unwrap();
        assert_eq!(r.tag.as_deref(), Some("3.12-arm64"));
        assert!(resolve_from(&recipe("FROM scratch\n"), &platform, &[]).unwrap().is_none());
        assert!(resolve_from(&recipe("ARG B\nFROM $B\n"), &platform, &[]).unwrap_err().to_string().contains("default"));
        let given = [("V".to_string(), "3.13".to_string())];
        let r = resolve_from(&recipe("ARG V=3.12\nFROM python:$V\n"), &platform, &given).unwrap().unwrap();
        assert_eq!(r.tag.as_deref(), Some("3.13"), "--build-arg wins over the default");
    }
}
