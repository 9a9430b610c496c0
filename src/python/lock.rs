//! `uv.lock`, evaluated for one target as `uv sync --frozen` does: start at
//! the project (or the workspace members, or `--package`), add the requested
//! groups, follow the dependency edges whose markers hold, and choose each
//! package's best wheel for the target's tags. The result is the install
//! set: every wheel with its URL and sha256, and the projects to install
//! editable.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::marker::{evaluate, normalize};
use super::target::{Target, TargetEnv};
use super::wheel_name::WheelName;
use crate::config::parse_toml;
use crate::text::shorten;

/// The parts of `uv.lock` the install reads (unknown fields are ignored:
/// uv adds some with new versions).
#[derive(Deserialize)]
pub(crate) struct Lock {
    pub(crate) version: u32,
    #[serde(rename = "requires-python")]
    pub(crate) requires_python: Option<String>,
    #[serde(default, rename = "package")]
    packages: Vec<Package>,
    manifest: Option<Manifest>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Vec<Dependency>>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, Vec<Dependency>>,
    sdist: Option<toml::Value>,
    #[serde(default)]
    wheels: Vec<Distribution>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct Distribution {
    url: Option<String>,
    hash: Option<String>,
    size: Option<u64>,
}

/// What to install from the lock (`uv sync`'s flags).
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncRequest {
    /// `--package`: only this workspace member (default: every member).
    pub(crate) package: Option<String>,
    /// Dependency groups (`--group`, or `dev` unless `--no-dev`).
    pub(crate) groups: Vec<String>,
    /// `--extra` of the project.
    pub(crate) extras: Vec<String>,
}

/// A wheel to install.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LockedWheel {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) url: String,
    /// Lower-case hex.
    pub(crate) sha256: String,
    pub(crate) size: Option<u64>,
    /// The wheel's file name.
    pub(crate) file: String,
}

/// The install set for a target.
#[derive(Debug)]
pub(crate) struct InstallSet {
    /// Every third-party wheel, sorted by name.
    pub(crate) wheels: Vec<LockedWheel>,
    /// The workspace projects reached (installed editable), with their
    /// directory relative to the lock.
    pub(crate) projects: Vec<(String, String)>,
}

impl Lock {
    /// Parses `uv.lock` text.
    pub(crate) fn parse(text: &str) -> Result<Lock> {
        let lock: Lock = parse_toml(text, std::path::Path::new("uv.lock"))?;
        if lock.version != 1 {
            bail!("uv.lock has version {}; this tool reads version 1 (uv 0.4 and later)", lock.version);
        }
        Ok(lock)
    }

    /// Evaluates the lock for `target`.
    pub(crate) fn install_set(&self, target: &Target, request: &SyncRequest) -> Result<InstallSet> {
        let by_name = self.index();
        let roots = self.roots(request, &by_name)?;
        let ranks = target.tag_ranks();
        let mut seen: BTreeSet<(usize, BTreeSet<String>)> = BTreeSet::new();
        let mut reached: BTreeSet<usize> = BTreeSet::new();
        let mut queue: VecDeque<(usize, BTreeSet<String>)> = VecDeque::new();
        for &root in &roots {
            let extras = request.extras.iter().map(|e| normalize(e)).collect();
            queue.push_back((root, extras));
        }
        while let Some((index, extras)) = queue.pop_front() {
            if !seen.insert((index, extras.clone())) {
                continue;
            }
            reached.insert(index);
            let package = &self.packages[index];
            let mut edges: Vec<&Dependency> = package.dependencies.iter().collect();
            for extra in &extras {
                edges.extend(package.optional_dependencies.get(extra).into_iter().flatten());
            }
            if roots.contains(&index) {
                for group in &request.groups {
                    edges.extend(package.dev_dependencies.get(group).into_iter().flatten());
                }
            }
            let env = TargetEnv { target, extras: &extras };
            for edge in edges {
                if let Some(marker) = &edge.marker {
                    let holds = evaluate(marker, &env)
                        .with_context(|| shorten(&format!("{} depends on {}", package.name, edge.name), 120))?;
                    if !holds {
                        continue;
                    }
                }
                let next = self
                    .find(&by_name, edge)
                    .with_context(|| shorten(&format!("{} depends on it", package.name), 120))?;
                queue.push_back((next, edge.extra.iter().map(|e| normalize(e)).collect()));
            }
        }
        let mut wheels = Vec::new();
        let mut projects = Vec::new();
        for index in reached {
            let package = &self.packages[index];
            match local_directory(package) {
                Some(dir) => projects.push((package.name.clone(), dir)),
                None => wheels.push(self.choose_wheel(package, &ranks, target)?),
            }
        }
        wheels.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(InstallSet { wheels, projects })
    }

    fn index(&self) -> HashMap<String, Vec<usize>> {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in self.packages.iter().enumerate() {
            by_name.entry(normalize(&p.name)).or_default().push(i);
        }
        by_name
    }

    /// The packages `uv sync` starts from: `--package`, else the workspace
    /// members, else the project itself (the editable or virtual package).
    fn roots(&self, request: &SyncRequest, by_name: &HashMap<String, Vec<usize>>) -> Result<Vec<usize>> {
        let first = |name: &str| by_name.get(&normalize(name)).and_then(|v| v.first().copied());
        if let Some(name) = &request.package {
            return first(name)
                .map(|i| vec![i])
                .with_context(|| format!("--package {name}: uv.lock has no such package"));
        }
        let members = self.manifest.as_ref().map(|m| m.members.as_slice()).unwrap_or_default();
        if !members.is_empty() {
            return members
                .iter()
                .map(|m| first(m).with_context(|| format!("workspace member {m} is not in uv.lock")))
                .collect();
        }
        let roots: Vec<usize> = (0..self.packages.len())
            .filter(|&i| local_directory(&self.packages[i]).is_some_and(|dir| dir == "."))
            .collect();
        if roots.is_empty() {
            bail!("uv.lock has no project at \".\" (an editable or virtual source); name one with --package");
        }
        Ok(roots)
    }

    /// The package an edge points to: by name, and by version when the
    /// lock holds several (one per fork).
    fn find(&self, by_name: &HashMap<String, Vec<usize>>, edge: &Dependency) -> Result<usize> {
        let candidates = by_name.get(&normalize(&edge.name)).map(Vec::as_slice).unwrap_or_default();
        let chosen = match (&edge.version, candidates) {
            (_, [only]) => Some(*only),
            (Some(v), many) => many.iter().copied().find(|&i| self.packages[i].version.as_deref() == Some(v)),
            (None, _) => None,
        };
        chosen.with_context(|| match candidates.len() {
            0 => format!("uv.lock has no package {}", edge.name),
            n => format!("uv.lock has {n} versions of {} and the edge names none of them", edge.name),
        })
    }

    fn choose_wheel(
        &self,
        package: &Package,
        ranks: &HashMap<super::wheel_name::Tag, usize>,
        target: &Target,
    ) -> Result<LockedWheel> {
        let version = package.version.clone().unwrap_or_default();
        if !package.source.contains_key("registry") {
            let kind = shorten(package.source.keys().next().map_or("unknown", String::as_str), 20);
            bail!(
                "{} {version} comes from a {kind} source, which the native build does not install yet; use a \
                 Dockerfile or --external",
                package.name
            );
        }
        let candidates: Vec<WheelCandidate> = package
            .wheels
            .iter()
            .map(|w| WheelCandidate { url: w.url.clone(), sha256: w.hash.clone(), size: w.size })
            .collect();
        best_wheel(&package.name, &version, &candidates, package.sdist.is_some(), ranks, target)
    }
}

/// A wheel a lock offers for a package.
pub(crate) struct WheelCandidate {
    pub(crate) url: Option<String>,
    /// `sha256:<hex>` or `<hex>`.
    pub(crate) sha256: Option<String>,
    pub(crate) size: Option<u64>,
}

/// The package's best wheel for the target's tags, with its hash; an
/// error naming the package, the target and the way out when none fits.
pub(crate) fn best_wheel(
    name: &str,
    version: &str,
    candidates: &[WheelCandidate],
    has_sdist: bool,
    ranks: &HashMap<super::wheel_name::Tag, usize>,
    target: &Target,
) -> Result<LockedWheel> {
    let what = shorten(&format!("{name} {version}"), 80);
    let mut best: Option<(usize, &WheelCandidate, String)> = None;
    for wheel in candidates {
        let url = wheel.url.as_deref().with_context(|| format!("{what}: a wheel has no url"))?;
        let parsed = WheelName::parse(url).with_context(|| format!("{what}: {}", shorten(url, 200)))?;
        let rank = parsed.tags.iter().filter_map(|t| ranks.get(t)).min();
        if let Some(&rank) = rank
            && best.as_ref().is_none_or(|(r, _, _)| rank < *r)
        {
            let file = url.rsplit('/').next().unwrap_or(url).to_string();
            best = Some((rank, wheel, file));
        }
    }
    let Some((_, wheel, file)) = best else {
        let only_sdist = if has_sdist { "only a source distribution and " } else { "" };
        bail!(
            "{what} has {only_sdist}no wheel for the target ({}); the native build installs wheels only: pin a \
             version with a wheel for it, build the image from a Dockerfile, or pass --external",
            target.describe()
        );
    };
    let hash = wheel.sha256.as_deref().with_context(|| format!("{what}: the lock gives {file} no hash"))?;
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let sha256 = valid.then_some(hex).with_context(|| format!("{what}: {file} has no sha256 hash in the lock"))?;
    Ok(LockedWheel {
        name: name.to_string(),
        version: version.to_string(),
        url: wheel.url.clone().unwrap_or_default(),
        sha256: sha256.to_ascii_lowercase(),
        size: wheel.size,
        file,
    })
}

/// The directory of a project the lock installs from source (`editable`,
/// `virtual`), relative to the lock.
fn local_directory(package: &Package) -> Option<String> {
    ["editable", "virtual"].iter().find_map(|k| package.source.get(*k)?.as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::target::Libc;
    use crate::python::version::Version;

    const JAFFLE: &str = include_str!("../../tests/fixtures/python/jaffle-platform/uv.lock");
    /// What uv itself installed from that lock (see the file's header).
    const UV_SYNC: &str =
        include_str!("../../tests/fixtures/python/jaffle-platform/uv-sync-cp311-manylinux-x86_64.txt");

    fn target(python: &str, machine: &str) -> Target {
        Target { python: Version::parse(python).unwrap(), machine: machine.into(), libc: Libc::Glibc(36) }
    }

    #[test]
    fn a_real_lock_gives_what_uv_sync_installs() {
        let lock = Lock::parse(JAFFLE).unwrap();
        let set = lock.install_set(&target("3.11.7", "x86_64"), &SyncRequest::default()).unwrap();
        assert_eq!(set.projects, [("jaffle-platform".to_string(), ".".to_string())]);
        let ours: Vec<String> = set.wheels.iter().map(|w| format!("{} {}", normalize(&w.name), w.version)).collect();
        let uv: Vec<(String, String)> = UV_SYNC
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut f = l.split(' ');
                (format!("{} {}", f.next().unwrap(), f.next().unwrap()), f.next().unwrap().to_string())
            })
            .collect();
        let theirs: Vec<String> = uv.iter().map(|(nv, _)| nv.clone()).collect();
        assert_eq!(ours, theirs);
        for (wheel, (_, tag)) in set.wheels.iter().zip(&uv) {
            let tags: Vec<String> =
                WheelName::parse(&wheel.file).unwrap().tags.iter().map(ToString::to_string).collect();
            assert!(tags.contains(tag), "{}: uv installed a {tag} wheel, we chose {}", wheel.name, wheel.file);
            assert_eq!(wheel.sha256.len(), 64);
        }
    }

    #[test]
    fn groups_versions_and_machines_change_the_set() {
        let lock = Lock::parse(JAFFLE).unwrap();
        let base = lock.install_set(&target("3.11.7", "x86_64"), &SyncRequest::default()).unwrap();
        let dev = SyncRequest { groups: vec!["dev".into()], ..SyncRequest::default() };
        let with_dev = lock.install_set(&target("3.11.7", "x86_64"), &dev).unwrap();
        assert!(with_dev.wheels.iter().any(|w| w.name == "dagster-webserver"));
        assert!(!base.wheels.iter().any(|w| w.name == "dagster-webserver"), "default groups are off");
        let old = lock.install_set(&target("3.9.18", "x86_64"), &SyncRequest::default()).unwrap();
        let alembic = |s: &InstallSet| s.wheels.iter().find(|w| w.name == "alembic").unwrap().version.clone();
        assert_eq!((alembic(&base).as_str(), alembic(&old).as_str()), ("1.20.1", "1.16.5"), "one version per fork");
        let arm = lock.install_set(&target("3.12.3", "aarch64"), &SyncRequest::default()).unwrap();
        for w in arm.wheels.iter().filter(|w| !w.file.ends_with("-any.whl")) {
            assert!(w.file.contains("aarch64") && !w.file.contains("cp311-cp311"), "{}", w.file);
        }
    }

    #[test]
    fn a_package_without_a_wheel_for_the_target_is_named_with_the_way_out() {
        let text = format!(
            "{JAFFLE}\n[[package]]\nname = \"sdist-only\"\nversion = \"1.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n\
             sdist = {{ url = \"https://files.example/sdist_only-1.0.tar.gz\", hash = \"sha256:00\" }}\n"
        )
        .replace(
            "dependencies = [\n    { name = \"dagster\" },",
            "dependencies = [\n    { name = \"sdist-only\" },\n    { name = \"dagster\" },",
        );
        assert!(text.contains("{ name = \"sdist-only\" }"));
        let err = Lock::parse(&text)
            .unwrap()
            .install_set(&target("3.11.7", "x86_64"), &SyncRequest::default())
            .unwrap_err()
            .to_string();
        for wanted in ["sdist-only 1.0", "only a source distribution", "cp311, manylinux_2_36_x86_64", "--external"] {
            assert!(err.contains(wanted), "{wanted:?} missing from {err}");
        }
    }
}
