//! Applies a native recipe to a base image: one new layer per COPY/ADD, the
//! base config changed the way `docker build` would (Env merged by key,
//! WorkingDir, Labels, Entrypoint resetting an inherited Cmd…), one history
//! entry per new layer, and a manifest in the base's media-type family.
//! Unknown config fields of the base are kept.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::{BuildContext, CopyRequest, Entries, absolute_dest};
use super::digest::Digest;
use super::dockerfile::{Command, Healthcheck, Recipe, StepKind};
use super::layer::write_layer;
use super::layout::Layout;
use super::oci::{Descriptor, Family, Manifest, to_canonical_bytes};
use super::platform::TargetPlatform;
use super::reference::ImageRef;
use super::words::{expand, expand_all};

/// The image a build starts from.
pub(crate) struct Base {
    /// The base's reference, `None` for `FROM scratch`.
    pub(crate) name: Option<ImageRef>,
    /// Digest of the base's platform manifest.
    pub(crate) manifest_digest: Option<Digest>,
    /// The base's media-type family.
    pub(crate) family: Family,
    /// The base's config JSON.
    pub(crate) config: Value,
    /// The base's layers.
    pub(crate) layers: Vec<Descriptor>,
}

impl Base {
    /// An empty base for `FROM scratch`.
    pub(crate) fn scratch(platform: &TargetPlatform) -> Base {
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [] },
            "history": [],
        });
        if let Some(v) = &platform.variant {
            config["variant"] = json!(v);
        }
        Base { name: None, manifest_digest: None, family: Family::Oci, config, layers: Vec::new() }
    }
}

/// What the build knows beyond the Dockerfile.
pub(crate) struct Metadata {
    /// The image's creation time and every layer entry's mtime, in Unix
    /// seconds (SOURCE_DATE_EPOCH, else the commit time, else 0).
    pub(crate) epoch: i64,
    /// Labels to set before the Dockerfile's own (source, revision).
    pub(crate) labels: Vec<(String, String)>,
    /// The platform being built.
    pub(crate) platform: TargetPlatform,
    /// `--build-arg` values, for the ARGs the Dockerfile declares.
    pub(crate) build_args: Vec<(String, String)>,
}

/// A built image: its new layers are in the layout; its config and
/// manifest are returned as bytes, for the caller to store once the base is
/// known to be real (an offline build stores only the layers).
pub(crate) struct Built {
    /// The manifest's descriptor (its digest identifies the image).
    pub(crate) manifest: Descriptor,
    /// The manifest's exact bytes.
    pub(crate) manifest_bytes: Vec<u8>,
    /// The layers this build added.
    pub(crate) new_layers: Vec<Descriptor>,
    /// The config blob.
    pub(crate) config: Descriptor,
    /// The config's exact bytes.
    pub(crate) config_bytes: Vec<u8>,
    /// Every layer, base first.
    pub(crate) layers: Vec<Descriptor>,
}

impl Built {
    /// Stores the config and manifest in the layout.
    pub(crate) fn store(&self, layout: &Layout) -> Result<()> {
        layout.put_bytes(&self.config_bytes)?;
        layout.put_bytes(&self.manifest_bytes)?;
        Ok(())
    }
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
    let mut config = base.config.clone();
    let created = rfc3339(meta.epoch)?;
    let mut state = State::new(&config, global_args(recipe, &meta.platform, &meta.build_args), meta.build_args.clone());
    for (k, v) in &meta.labels {
        state.labels.insert(k.clone(), Value::String(v.clone()));
    }
    let mut new_layers = Vec::new();
    let mut history = Vec::new();
    for step in &recipe.steps {
        let line = step.instruction.line;
        let text = step.instruction.text();
        let layer = state
            .apply(&step.kind, context, meta, layout, base.family)
            .with_context(|| format!("Dockerfile line {line}: {text}"))?;
        if let Some((descriptor, diff_id)) = layer {
            history.push(json!({ "created": created, "created_by": format!("{text} # dagster-branch-deploy") }));
            new_layers.push((descriptor, diff_id));
        }
    }
    state.write_into(&mut config);
    config["created"] = json!(created);
    let diff_ids = ensure_array(&mut config, "/rootfs/diff_ids", "rootfs")?;
    diff_ids.extend(new_layers.iter().map(|(_, id)| json!(id)));
    let hist = config.as_object_mut().context("the base config is not a JSON object")?;
    let hist = hist.entry("history").or_insert_with(|| json!([]));
    hist.as_array_mut().context("the base config's history is not a list")?.extend(history);
    let config_bytes = to_canonical_bytes(&config);
    let config_digest = Digest::of(&config_bytes);
    let mut layers = base.layers.clone();
    layers.extend(new_layers.iter().map(|(d, _)| d.clone()));
    let config_descriptor = Descriptor::new(base.family.config(), config_digest, config_bytes.len() as u64);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(base.family.manifest().to_string()),
        config: config_descriptor.clone(),
        layers: layers.clone(),
        annotations: base_annotations(base),
        extra: Map::new(),
    };
    let manifest_bytes = to_canonical_bytes(&manifest);
    let manifest_digest = Digest::of(&manifest_bytes);
    Ok(Built {
        manifest: Descriptor::new(base.family.manifest(), manifest_digest, manifest_bytes.len() as u64),
        manifest_bytes,
        new_layers: new_layers.into_iter().map(|(d, _)| d).collect(),
        config: config_descriptor,
        config_bytes,
        layers,
    })
}

/// OCI manifests name their base (Docker schema 2 has no annotations).
fn base_annotations(base: &Base) -> Option<Map<String, Value>> {
    if base.family != Family::Oci {
        return None;
    }
    let (Some(name), Some(digest)) = (&base.name, &base.manifest_digest) else {
        return None;
    };
    let mut a = Map::new();
    a.insert("org.opencontainers.image.base.name".into(), json!(name.to_string()));
    a.insert("org.opencontainers.image.base.digest".into(), json!(digest.as_str()));
    Some(a)
}

fn rfc3339(epoch: i64) -> Result<String> {
    let t = OffsetDateTime::from_unix_timestamp(epoch).with_context(|| format!("timestamp {epoch} is out of range"))?;
    Ok(t.format(&Rfc3339)?)
}

fn ensure_array<'a>(config: &'a mut Value, pointer: &str, what: &str) -> Result<&'a mut Vec<Value>> {
    if config.pointer(pointer).is_none() {
        config[what] = json!({ "type": "layers", "diff_ids": [] });
    }
    config
        .pointer_mut(pointer)
        .and_then(Value::as_array_mut)
        .with_context(|| format!("the base config's {pointer} is not a list"))
}

/// The container config as the Dockerfile changes it.
struct State {
    env: Vec<(String, String)>,
    args: HashMap<String, String>,
    global_args: HashMap<String, String>,
    build_args: Vec<(String, String)>,
    workdir: String,
    labels: Map<String, Value>,
    /// Fields set by the Dockerfile, written over the base's.
    fields: Map<String, Value>,
    shell: Vec<String>,
    entrypoint_set: bool,
    cmd_set: bool,
}

impl State {
    fn new(config: &Value, global_args: HashMap<String, String>, build_args: Vec<(String, String)>) -> State {
        let c = config.get("config").cloned().unwrap_or(json!({}));
        let env = c["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|kv| kv.split_once('=').map_or((kv.to_string(), String::new()), |(k, v)| (k.into(), v.into())))
                    .collect()
            })
            .unwrap_or_default();
        let shell = c["Shell"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()]);
        State {
            env,
            args: HashMap::new(),
            global_args,
            build_args,
            workdir: c["WorkingDir"].as_str().unwrap_or("").to_string(),
            labels: c["Labels"].as_object().cloned().unwrap_or_default(),
            fields: Map::new(),
            shell,
            entrypoint_set: false,
            cmd_set: false,
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| self.args.get(name).cloned())
    }

    fn expand(&self, word: &str) -> Result<String> {
        expand(word, &|n| self.lookup(n))
    }

    fn expand_all(&self, words: &[String]) -> Result<Vec<String>> {
        expand_all(words, &|n| self.lookup(n))
    }

    fn command(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(words) => words.clone(),
            Command::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    /// Applies one step; returns the new layer when the step adds one.
    fn apply(
        &mut self,
        kind: &StepKind,
        context: &BuildContext,
        meta: &Metadata,
        layout: &Layout,
        family: Family,
    ) -> Result<Option<(Descriptor, Digest)>> {
        match kind {
            StepKind::Arg(name, default) => {
                let given = self.build_args.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let value = match (given, default) {
                    (Some(v), _) => Some(v),
                    (None, Some(d)) => Some(self.expand(d)?),
                    (None, None) => self.global_args.get(name).cloned(),
                };
                self.args.insert(name.clone(), value.unwrap_or_default());
            }
            StepKind::Env(pairs) => {
                for (k, v) in pairs {
                    let v = self.expand(v)?;
                    match self.env.iter_mut().find(|(existing, _)| existing == k) {
                        Some(entry) => entry.1 = v,
                        None => self.env.push((k.clone(), v)),
                    }
                }
            }
            StepKind::Label(pairs) => {
                for (k, v) in pairs {
                    self.labels.insert(self.expand(k)?, Value::String(self.expand(v)?));
                }
            }
            StepKind::Workdir(dir) => self.workdir = absolute_dest(&self.workdir, &self.expand(dir)?).0,
            StepKind::User(user) => self.set("User", json!(self.expand(user)?)),
            StepKind::StopSignal(sig) => self.set("StopSignal", json!(self.expand(sig)?)),
            StepKind::Expose(ports) => {
                let mut exposed = self.fields.get("ExposedPorts").cloned().unwrap_or(json!({}));
                for port in self.expand_all(ports)? {
                    let port = if port.contains('/') { port } else { format!("{port}/tcp") };
                    exposed[port] = json!({});
                }
                self.set("ExposedPorts", exposed);
            }
            StepKind::Volume(paths) => {
                let mut volumes = self.fields.get("Volumes").cloned().unwrap_or(json!({}));
                for path in self.expand_all(paths)? {
                    volumes[path] = json!({});
                }
                self.set("Volumes", volumes);
            }
            StepKind::Entrypoint(c) => {
                self.set("Entrypoint", json!(self.command(c)));
                self.entrypoint_set = true;
            }
            StepKind::Cmd(c) => {
                self.set("Cmd", json!(self.command(c)));
                self.cmd_set = true;
            }
            StepKind::Shell(words) => {
                self.shell = words.clone();
                self.set("Shell", json!(words));
            }
            StepKind::Healthcheck(h) => self.set("Healthcheck", self.healthcheck(h)),
            StepKind::Copy(copy) => {
                let sources = self.expand_all(&copy.sources)?;
                let (dest, dest_is_dir) = absolute_dest(&self.workdir, &self.expand(&copy.dest)?);
                let request =
                    CopyRequest { sources: &sources, dest: &dest, dest_is_dir, chmod: copy.chmod, chown: copy.chown };
                let mut entries = Entries::new();
                context.copy_into(&request, &mut entries)?;
                let mtime = u64::try_from(meta.epoch).unwrap_or(0);
                let digests = layout.put_with(|file| {
                    let (file, digests) = write_layer(&entries, mtime, file)?;
                    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                    let digest = digests.digest.clone();
                    Ok((digests, digest))
                })?;
                let descriptor = Descriptor::new(family.layer_gzip(), digests.digest, digests.size);
                return Ok(Some((descriptor, digests.diff_id)));
            }
        }
        Ok(None)
    }

    fn set(&mut self, key: &str, value: Value) {
        self.fields.insert(key.to_string(), value);
    }

    fn healthcheck(&self, h: &Healthcheck) -> Value {
        match h {
            Healthcheck::None => json!({ "Test": ["NONE"] }),
            Healthcheck::Check { options, command } => {
                let test = match command {
                    Command::Exec(words) => std::iter::once("CMD".to_string()).chain(words.iter().cloned()).collect(),
                    Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                };
                let mut v = json!({ "Test": test });
                for (name, value) in options {
                    let key = match name.as_str() {
                        "interval" => "Interval",
                        "timeout" => "Timeout",
                        "start-period" => "StartPeriod",
                        "start-interval" => "StartInterval",
                        _ => "Retries",
                    };
                    v[key] = json!(value);
                }
                v
            }
        }
    }

    /// Writes the result into the config's `config` object.
    fn write_into(self, config: &mut Value) {
        if !config["config"].is_object() {
            config["config"] = json!({});
        }
        let c = &mut config["config"];
        c["Env"] = json!(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
        if !self.workdir.is_empty() {
            c["WorkingDir"] = json!(self.workdir);
        }
        if !self.labels.is_empty() {
            c["Labels"] = Value::Object(self.labels);
        }
        if self.entrypoint_set && !self.cmd_set {
            c["Cmd"] = Value::Null;
        }
        for (k, v) in self.fields {
            c[k] = v;
        }
    }
}

#[cfg(test)]
mod tests {
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
