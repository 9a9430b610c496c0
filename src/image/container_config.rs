//! The container config as a Dockerfile changes it, the way `docker build`
//! does: Env merged by key, ARG values in scope, WorkingDir, Labels, an
//! ENTRYPOINT resetting an inherited CMD, the shell for shell-form commands.
//! Steps that write files (COPY/ADD) are the caller's; they ask this for the
//! expanded words and the working directory.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{Map, Value, json};

use super::context::absolute_dest;
use super::dockerfile::{Command, Healthcheck, StepKind};
use super::words::{expand, expand_all};

/// The container settings in scope at one step of a Dockerfile.
pub(crate) struct ContainerConfig {
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

impl ContainerConfig {
    /// Starts from the base image's config (`config` is the whole config
    /// blob), with the global ARGs and `--build-arg` values.
    pub(crate) fn from_base(
        config: &Value,
        global_args: HashMap<String, String>,
        build_args: Vec<(String, String)>,
    ) -> ContainerConfig {
        let c = config.get("config").cloned().unwrap_or(json!({}));
        let env = c["Env"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(split_env).collect())
            .unwrap_or_default();
        let shell = c["Shell"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()]);
        ContainerConfig {
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

    /// The working directory in scope ("" when none was ever set).
    pub(crate) fn workdir(&self) -> &str {
        &self.workdir
    }

    /// Sets a label (the build's own labels go in before the Dockerfile's).
    pub(crate) fn set_label(&mut self, key: &str, value: &str) {
        self.labels.insert(key.to_string(), Value::String(value.to_string()));
    }

    /// Sets (or replaces) an environment variable.
    pub(crate) fn set_env(&mut self, key: &str, value: String) {
        match self.env.iter_mut().find(|(existing, _)| existing == key) {
            Some(entry) => entry.1 = value,
            None => self.env.push((key.to_string(), value)),
        }
    }

    /// Sets the working directory, resolved against the current one.
    pub(crate) fn set_workdir(&mut self, dir: &str) {
        self.workdir = absolute_dest(&self.workdir, dir).0;
    }

    /// The value `$name` has here: ENV first, then ARG.
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| self.args.get(name).cloned())
    }

    /// Expands `$VAR`s in one word.
    pub(crate) fn expand(&self, word: &str) -> Result<String> {
        expand(word, &|n| self.lookup(n))
    }

    /// Expands `$VAR`s in each word.
    pub(crate) fn expand_all(&self, words: &[String]) -> Result<Vec<String>> {
        expand_all(words, &|n| self.lookup(n))
    }

    /// Applies a step that changes only the config. COPY is the caller's:
    /// it is ignored here.
    pub(crate) fn apply(&mut self, kind: &StepKind) -> Result<()> {
        match kind {
            StepKind::Arg(name, default) => self.declare_arg(name, default.as_deref())?,
            StepKind::Env(pairs) => {
                for (k, v) in pairs {
                    let v = self.expand(v)?;
                    self.set_env(k, v);
                }
            }
            StepKind::Label(pairs) => {
                for (k, v) in pairs {
                    self.labels.insert(self.expand(k)?, Value::String(self.expand(v)?));
                }
            }
            StepKind::Workdir(dir) => self.set_workdir(&self.expand(dir)?),
            StepKind::User(user) => self.set("User", json!(self.expand(user)?)),
            StepKind::StopSignal(sig) => self.set("StopSignal", json!(self.expand(sig)?)),
            StepKind::Expose(ports) => {
                let ports =
                    self.expand_all(ports)?.into_iter().map(|p| if p.contains('/') { p } else { format!("{p}/tcp") });
                self.add_keys("ExposedPorts", ports);
            }
            StepKind::Volume(paths) => self.add_keys("Volumes", self.expand_all(paths)?),
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
            StepKind::Healthcheck(h) => self.set("Healthcheck", healthcheck(h)),
            StepKind::Copy(_) => {}
        }
        Ok(())
    }

    /// `ARG name[=default]`: a `--build-arg` wins, then the default, then
    /// the global ARG of the same name.
    fn declare_arg(&mut self, name: &str, default: Option<&str>) -> Result<()> {
        let given = self.build_args.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let value = match (given, default) {
            (Some(v), _) => Some(v),
            (None, Some(d)) => Some(self.expand(d)?),
            (None, None) => self.global_args.get(name).cloned(),
        };
        self.args.insert(name.to_string(), value.unwrap_or_default());
        Ok(())
    }

    fn command(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(words) => words.clone(),
            Command::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    fn set(&mut self, key: &str, value: Value) {
        self.fields.insert(key.to_string(), value);
    }

    /// Adds keys to a set-like object field (`ExposedPorts`, `Volumes`).
    fn add_keys(&mut self, field: &str, keys: impl IntoIterator<Item = String>) {
        let mut set = self.fields.get(field).cloned().unwrap_or(json!({}));
        for key in keys {
            set[key] = json!({});
        }
        self.set(field, set);
    }

    /// Writes the result into the config blob's `config` object.
    pub(crate) fn write_into(self, config: &mut Value) {
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

fn split_env(kv: &str) -> (String, String) {
    kv.split_once('=').map_or((kv.to_string(), String::new()), |(k, v)| (k.into(), v.into()))
}

/// The config form of a HEALTHCHECK.
fn healthcheck(h: &Healthcheck) -> Value {
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
