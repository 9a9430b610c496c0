//! The native Python build, as a job (what it is asked is in
//! `python_project`): the base read for its interpreter and glibc (or the
//! dependency layer found again by its key), the lock evaluated for them,
//! the wheels installed into the environment as one reproducible layer, the
//! project installed editable as a small layer, the code as the last, and
//! the config as dg's Dockerfile (or the recognised one) leaves it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;

use super::deps_cache::{self, DepsInputs};
use super::python_project::{APP, CODE_EXCLUDES, LockedProject, PythonPlan, Unpinned, editable_project};
use super::simple_index::{SimpleIndex, default_index};
use super::uv_lock;
use super::wheels;
use super::{BuildKind, Job, LocationImage, PythonInstall};
use crate::image::assemble::{Base, NewLayer, assemble};
use crate::image::container_config::ContainerConfig;
use crate::image::context::{BuildContext, CopyRequest, Entries};
use crate::image::dockerfile::StepKind;
use crate::image::layer::store_layer;
use crate::image::layout::Layout;
use crate::image::oci::{Family, media};
use crate::image::reference::ImageRef;
use crate::python::base::{self, BaseFacts};
use crate::python::choose_python;
use crate::python::install::{Venv, install_editable, install_wheel};
use crate::python::lock::InstallSet;
use crate::python::marker::normalize;
use crate::python::target::{Libc, Target};
use crate::registry::transport::Registry;
use crate::text::human_bytes;

impl Job<'_> {
    /// A project without a lock: locked with uv first (offline, only
    /// planned).
    pub(super) fn unlocked(&self, dir: &Path, kind: Unpinned) -> Result<LocationImage> {
        if self.options.offline {
            let reason = format!("no Dockerfile and no lock: `{}` would lock it first", uv_lock::command(dir, kind));
            self.progress().info(format!("{}: native Python build ({reason}); --offline", self.location.name));
            return Ok(LocationImage {
                unresolved_base: Some("(the lock decides it; --offline)".to_string()),
                working_directory: Some(APP.to_string()),
                ..self.outcome(BuildKind::Native, reason)
            });
        }
        let locked = uv_lock::lock(self.services, dir, kind)?;
        self.python(&locked, &PythonPlan::without_dockerfile(&locked))
    }

    pub(super) fn python(&self, locked: &LockedProject, plan: &PythonPlan) -> Result<LocationImage> {
        let reason = plan.reason.clone();
        let image = self.python_base(locked, plan)?;
        self.progress().info(format!("{}: native Python build ({reason}) on {image}", self.location.name));
        for skipped in &plan.skipped {
            self.progress().info(format!("  not done natively: {skipped}"));
        }
        if self.options.offline {
            return Ok(LocationImage {
                unresolved_base: Some(format!("{image} (--offline)")),
                working_directory: Some(plan.app_dir.clone()),
                ..self.outcome(BuildKind::Native, reason)
            });
        }
        let (base, registry) = self.resolve_base(&image)?;
        let (layout_dir, _temp) = self.layout_dir()?;
        let layout = Layout::create(&layout_dir)?;
        let venv_root = format!("{}/.venv", plan.app_dir.trim_matches('/'));
        let base_digest = base.manifest_digest.clone().context("the base image has no manifest digest")?;
        let deps_tag = deps_cache::tag(&DepsInputs {
            lock_sha256: &locked.sha256,
            sync: &plan.sync,
            base_digest: &base_digest,
            platform: &self.platform,
            venv_root: &venv_root,
        });
        let cached = self.cached_dependencies(&deps_tag, &layout)?;
        let facts = match &cached {
            Some((_, facts)) => facts.clone(),
            None => self.inspect_base(&registry, &image, &base, &layout)?,
        };
        let set = self.install_set(locked, plan, &facts, &image)?;
        let venv = Venv { root: venv_root, version: version_text(&facts), interpreter: facts.interpreter.clone() };
        let fresh = cached.is_none();
        let deps = match cached {
            Some((layer, _)) => layer,
            None => self.dependency_layer(&venv, locked, &set, &layout, base.family)?,
        };
        let layers = self.layers(deps.clone(), (&venv, &set), locked, plan, (&layout, base.family))?;
        let config = self.container_config(&base, &plan.steps)?;
        let built = assemble(&base, config, layers, self.provenance.epoch)?;
        let image = self.publish(built, &base, Some(&registry), &layout, layout_dir, reason)?;
        if let (true, true, Some(target)) = (fresh, self.options.push, &self.target) {
            let target_registry = self.services.registry(target)?;
            let platform = &self.platform;
            // Only a shortcut for the next build: a registry that refuses the
            // tag costs that build its wheels, never this deploy.
            match deps_cache::record(&target_registry, target, &deps_tag, &deps, &facts, platform, &layout) {
                Ok(()) => {
                    self.progress().info(format!("  recorded the dependency layer as {}:{deps_tag}", target.repository))
                }
                Err(e) => self
                    .progress()
                    .warn(format!("could not record the dependency layer ({e:#}); the next build rebuilds it")),
            }
        }
        let packages = set.wheels.iter().map(|w| format!("{}=={}", w.name, w.version)).collect();
        let python = PythonInstall { packages, dependency_layer_key: deps_tag };
        Ok(LocationImage { working_directory: Some(plan.app_dir.clone()), python: Some(python), ..image })
    }

    /// The image's new layers: the dependencies, the editable install
    /// (unless `--no-install-project`), the code.
    fn layers(
        &self,
        deps: NewLayer,
        (venv, set): (&Venv, &InstallSet),
        locked: &LockedProject,
        plan: &PythonPlan,
        (layout, family): (&Layout, Family),
    ) -> Result<Vec<NewLayer>> {
        let mut layers = vec![deps];
        if plan.install_project {
            layers.push(self.editable_layer(venv, locked, set, &plan.app_dir, layout, family)?);
        }
        layers.push(self.code_layer(locked, &plan.app_dir, layout, family)?);
        for layer in &layers {
            self.progress().info(format!(
                "  layer {} ({}): {}",
                layer.descriptor.digest.short(),
                human_bytes(layer.descriptor.size),
                layer.created_by
            ));
        }
        Ok(layers)
    }

    /// The base image: the Dockerfile's, else `--base-image`, else the
    /// default for the project's Python.
    fn python_base(&self, locked: &LockedProject, plan: &PythonPlan) -> Result<ImageRef> {
        let text = match (&plan.base, &self.options.base_image) {
            (Some(image), _) | (None, Some(image)) => image.clone(),
            (None, None) => locked.default_base()?,
        };
        ImageRef::parse(&text).with_context(|| format!("the base image {text}"))
    }

    /// The lock evaluated for the base's Python and glibc, and the
    /// packages the Dockerfile checks for.
    fn install_set(
        &self,
        locked: &LockedProject,
        plan: &PythonPlan,
        facts: &BaseFacts,
        image: &ImageRef,
    ) -> Result<InstallSet> {
        let target = self.target(locked, facts)?;
        let credentials = locked.index_credentials(&self.services.env)?;
        let index = SimpleIndex { http: self.services.http.as_ref(), credentials: &credentials };
        let set = locked
            .lock
            .install_set(&target, &plan.sync, &default_index(&self.services.env), &index)
            .with_context(|| format!("installing {} on {image}", locked.path.display()))?;
        self.progress().info(format!("  {} packages for {}", set.wheels.len(), target.describe()));
        for package in &plan.checks {
            if !set.wheels.iter().any(|w| normalize(&w.name) == *package) {
                bail!(
                    "the Dockerfile checks that {package} is installed, but {} does not install it",
                    locked.path.display()
                );
            }
        }
        Ok(set)
    }

    /// The dependency layer recorded under `tag` in the target repository,
    /// with the base's Python; fetched into the layout only when a layout
    /// is written. A repository that cannot be read is a miss, said once.
    fn cached_dependencies(&self, tag: &str, layout: &Layout) -> Result<Option<(NewLayer, BaseFacts)>> {
        let Some(target) = &self.target else { return Ok(None) };
        let registry = self.services.registry(target)?;
        let found = match deps_cache::find(&registry, &target.repository, tag) {
            Ok(found) => found,
            Err(e) => {
                self.progress()
                    .warn(format!("could not look up {}:{tag}; building the dependencies ({e:#})", target.repository));
                None
            }
        };
        let Some((layer, facts)) = found else { return Ok(None) };
        self.progress().info(format!(
            "  dependency layer {} found as {}:{tag}",
            layer.descriptor.digest.short(),
            target.repository
        ));
        if self.options.output_dir.is_some() {
            crate::registry::pull::fetch_blob(&registry, &target.repository, &layer.descriptor.digest, layout)?;
        }
        Ok(Some((layer, facts)))
    }

    /// Reads the base's layers (downloaded into the layout) for its Python
    /// and glibc.
    fn inspect_base(&self, registry: &Registry, image: &ImageRef, base: &Base, layout: &Layout) -> Result<BaseFacts> {
        let n = crate::registry::pull::fetch_missing(registry, &image.repository, &base.layers, layout)
            .with_context(|| format!("downloading the layers of {image} to read its Python"))?;
        self.progress().info(format!("  read {image} ({} of layers)", human_bytes(n)));
        let mut readers: Vec<Box<dyn Read>> = Vec::new();
        for layer in &base.layers {
            if !matches!(layer.media_type.as_str(), media::OCI_LAYER_GZIP | media::DOCKER_LAYER_GZIP) {
                bail!("{image} has a {} layer; the native Python build reads gzip layers", layer.media_type);
            }
            let file = File::open(layout.blob_path(&layer.digest))?;
            readers.push(Box::new(GzDecoder::new(BufReader::new(file))));
        }
        let env: Vec<(String, String)> = base.config["config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let facts = base::inspect(readers, &env).with_context(|| format!("reading the Python of {image}"))?;
        self.progress().info(format!(
            "  Python {} at {}, glibc 2.{}",
            version_text(&facts),
            facts.interpreter,
            facts.glibc_minor
        ));
        Ok(facts)
    }

    /// The target the lock is evaluated for; `.python-version` must agree
    /// with the base.
    fn target(&self, locked: &LockedProject, facts: &BaseFacts) -> Result<Target> {
        let minor = facts.version.release().get(1).copied().unwrap_or(0);
        if let Some(text) = &locked.python_version {
            let wanted = choose_python(Some(text), &[])?;
            if wanted.release().get(1) != Some(&minor) {
                bail!(
                    ".python-version in {} asks for {}, but the base image has Python 3.{minor}; pass a matching \
                     --base-image",
                    locked.dir.display(),
                    text.trim()
                );
            }
        }
        let machine = match self.platform.architecture.as_str() {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            other => other,
        };
        Ok(Target { python: facts.version.clone(), machine: machine.to_string(), libc: Libc::Glibc(facts.glibc_minor) })
    }

    /// The virtual environment with every locked wheel: stamped with time 0,
    /// so that it depends only on the lock, the base and the platform.
    fn dependency_layer(
        &self,
        venv: &Venv,
        locked: &LockedProject,
        set: &InstallSet,
        layout: &Layout,
        family: Family,
    ) -> Result<NewLayer> {
        let cache = wheels::cache_dir(&self.services.env);
        let credentials = locked.index_credentials(&self.services.env)?;
        for c in &credentials {
            self.progress().mask(c.password.expose());
        }
        let http = self.services.http.as_ref();
        let data = wheels::fetch_all(http, &set.wheels, &credentials, cache.as_ref(), self.progress())?;
        let mut entries = Entries::new();
        venv.skeleton(&mut entries);
        for (wheel, bytes) in set.wheels.iter().zip(&data) {
            install_wheel(venv, &wheel.name, bytes, &mut entries)
                .with_context(|| format!("installing {}", wheel.file))?;
        }
        let (descriptor, diff_id) = store_layer(&entries, layout, family)?;
        let created_by = format!("uv sync --frozen --no-dev --no-install-project ({} packages)", set.wheels.len());
        Ok(NewLayer { descriptor, diff_id, created_by })
    }

    /// The lock's projects, installed editable.
    fn editable_layer(
        &self,
        venv: &Venv,
        locked: &LockedProject,
        set: &InstallSet,
        app_dir: &str,
        layout: &Layout,
        family: Family,
    ) -> Result<NewLayer> {
        let mut entries = Entries::new();
        let mut names = Vec::new();
        for (name, dir) in &set.projects {
            let project = editable_project(locked, name, dir, app_dir)?;
            install_editable(venv, &project, &mut entries)?;
            names.push(name.as_str());
        }
        let (descriptor, diff_id) = store_layer(&entries, layout, family)?;
        Ok(NewLayer { descriptor, diff_id, created_by: format!("editable install of {}", names.join(", ")) })
    }

    /// The project directory at `app_dir`.
    fn code_layer(&self, locked: &LockedProject, app_dir: &str, layout: &Layout, family: Family) -> Result<NewLayer> {
        let context = BuildContext::open_excluding(&locked.dir, &CODE_EXCLUDES)?;
        let mut entries = Entries::new();
        let sources = [".".to_string()];
        let request = CopyRequest { sources: &sources, dest: app_dir, dest_is_dir: true, chmod: None, chown: None };
        context.copy_into(&request, &mut entries)?;
        let (descriptor, diff_id) = store_layer(&entries, layout, family)?;
        Ok(NewLayer { descriptor, diff_id, created_by: format!("COPY . {app_dir}") })
    }

    /// The base's config with the plan's settings (the environment first
    /// on `PATH`, the working directory) and the provenance labels.
    fn container_config(&self, base: &Base, steps: &[StepKind]) -> Result<serde_json::Value> {
        let mut settings = ContainerConfig::from_base(&base.config, HashMap::new(), Vec::new());
        for (k, v) in self.provenance.labels() {
            settings.set_label(&k, &v);
        }
        for step in steps {
            settings.apply(step)?;
        }
        let mut config = base.config.clone();
        settings.write_into(&mut config);
        Ok(config)
    }
}

/// `3.12.4` for `pyvenv.cfg`.
fn version_text(facts: &BaseFacts) -> String {
    facts.version.release().iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}
