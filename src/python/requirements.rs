//! A `requirements.txt` that pins every package with its hashes (`uv pip
//! compile --generate-hashes`, `uv export`, `pip-compile
//! --generate-hashes`), evaluated for one target. It names no files, so each
//! pinned package's wheels come from the index's JSON simple API (PEP 691),
//! through an [`IndexFiles`] the caller gives, and only a wheel whose sha256
//! the file lists is taken.

use anyhow::{Context, Result, bail};

use super::lock::{InstallSet, WheelCandidate, best_wheel};
use super::marker::evaluate;
use super::target::{Target, TargetEnv};

/// Lists a package's files on an index (the edge does the HTTP).
pub(crate) trait IndexFiles {
    /// Every file of `name` (normalized) on `index`: (file name, URL, sha256).
    fn files(&self, index: &str, name: &str) -> Result<Vec<(String, String, Option<String>)>>;
}

/// A hashed requirements file.
#[derive(Debug)]
pub(crate) struct Requirements {
    /// `--index-url` in the file.
    pub(crate) index_url: Option<String>,
    pins: Vec<Pin>,
    /// `-e PATH` lines: the projects, installed editable.
    editables: Vec<String>,
}

#[derive(Debug)]
struct Pin {
    name: String,
    version: String,
    marker: Option<String>,
    sha256: Vec<String>,
}

impl Requirements {
    /// Parses the file; `Ok(None)` when a package line is not pinned with
    /// `==` and a hash (the file is then no lock).
    pub(crate) fn parse(text: &str) -> Result<Option<Requirements>> {
        let mut requirements = Requirements { index_url: None, pins: Vec::new(), editables: Vec::new() };
        for (number, line) in logical_lines(text) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["-e" | "--editable", path] => requirements.editables.push(path.to_string()),
                ["--index-url" | "-i", url] => requirements.index_url = Some(url.to_string()),
                [flag, ..] if flag.starts_with('-') && !flag.starts_with("--hash") => {}
                _ => match pin(&line).with_context(|| format!("line {number}"))? {
                    Some(p) => requirements.pins.push(p),
                    None => return Ok(None),
                },
            }
        }
        Ok(Some(requirements))
    }

    /// The wheels and projects to install on `target`, the wheels found on
    /// `index` (the file's `--index-url` wins).
    pub(crate) fn install_set(&self, target: &Target, index: &str, files: &dyn IndexFiles) -> Result<InstallSet> {
        let ranks = target.tag_ranks();
        let no_extras = Default::default();
        let env = TargetEnv { target, extras: &no_extras };
        let index = self.index_url.as_deref().unwrap_or(index).trim_end_matches('/');
        let mut wheels = Vec::new();
        for pin in &self.pins {
            if let Some(marker) = &pin.marker
                && !evaluate(marker, &env).with_context(|| format!("the marker of {}", pin.name))?
            {
                continue;
            }
            let listed = files.files(index, &super::marker::normalize(&pin.name))?;
            let candidates: Vec<WheelCandidate> = listed
                .into_iter()
                .filter(|(file, _, sha)| {
                    file.ends_with(".whl")
                        && wheel_version(file).is_some_and(|v| v == pin.version)
                        && sha.as_ref().is_some_and(|s| pin.sha256.contains(&s.to_ascii_lowercase()))
                })
                .map(|(_, url, sha256)| WheelCandidate { url: Some(url), sha256, size: None })
                .collect();
            let has_sdist = candidates.is_empty();
            wheels.push(best_wheel(&pin.name, &pin.version, &candidates, has_sdist, &ranks, target)?);
        }
        wheels.sort_by(|a, b| a.name.cmp(&b.name));
        let projects = self.editables.iter().map(|path| (String::new(), path.clone())).collect();
        Ok(InstallSet { wheels, projects })
    }
}

/// Lines with continuations joined and comments dropped, with the number
/// of the line each starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = match raw.find(" #").or_else(|| raw.trim_start().starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        let (line, continues) = match line.trim_end().strip_suffix('\\') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let entry = current.get_or_insert_with(|| (i + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(line.trim());
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// `name==version ; marker --hash=sha256:… …`; `None` when not pinned or
/// without a hash.
fn pin(line: &str) -> Result<Option<Pin>> {
    let (requirement, hashes) = match line.find("--hash") {
        Some(at) => (&line[..at], &line[at..]),
        None => return Ok(None),
    };
    let (spec, marker) = match requirement.split_once(';') {
        Some((s, m)) => (s.trim(), Some(m.trim().to_string()).filter(|m| !m.is_empty())),
        None => (requirement.trim(), None),
    };
    let Some((name, version)) = spec.split_once("==") else { return Ok(None) };
    let name = name.split('[').next().unwrap_or(name).trim();
    if name.is_empty() || version.contains(['*', ',', '<', '>']) {
        return Ok(None);
    }
    let sha256: Vec<String> = hashes
        .split_whitespace()
        .filter_map(|h| h.trim_start_matches("--hash=").strip_prefix("sha256:").map(str::to_ascii_lowercase))
        .collect();
    if sha256.is_empty() {
        bail!("{} has hashes, but none is sha256", crate::text::shorten(&format!("{name}=={version}"), 80));
    }
    Ok(Some(Pin { name: name.to_string(), version: version.trim().to_string(), marker, sha256 }))
}

/// The version in a wheel's file name.
fn wheel_version(file: &str) -> Option<&str> {
    file.split('-').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::lock::{Lock, SyncRequest};
    use crate::python::target::Libc;
    use crate::python::version::Version;

    /// The uv.lock's wheels, as an index would list them.
    struct FromLock(Vec<(String, String, Option<String>)>);

    impl IndexFiles for FromLock {
        fn files(&self, index: &str, name: &str) -> Result<Vec<(String, String, Option<String>)>> {
            assert_eq!(index, "https://pypi.org/simple");
            Ok(self
                .0
                .iter()
                .filter(|(f, _, _)| crate::python::marker::normalize(f.split('-').next().unwrap()) == name)
                .cloned()
                .collect())
        }
    }

    #[test]
    fn a_hashed_export_installs_what_its_uv_lock_installs() {
        let text = include_str!("../../tests/fixtures/python/jaffle-platform-requirements/requirements.txt");
        let requirements = Requirements::parse(text).unwrap().unwrap();
        let lock = Lock::parse(include_str!("../../tests/fixtures/python/jaffle-platform/uv.lock")).unwrap();
        let lock_text = include_str!("../../tests/fixtures/python/jaffle-platform/uv.lock");
        let table: toml::Table = toml::from_str(lock_text).unwrap();
        let mut listed = Vec::new();
        for p in table["package"].as_array().unwrap() {
            for w in p.get("wheels").and_then(|w| w.as_array()).into_iter().flatten() {
                let url = w["url"].as_str().unwrap().to_string();
                let file = url.rsplit('/').next().unwrap().to_string();
                listed.push((file, url, w["hash"].as_str().map(|h| h.trim_start_matches("sha256:").to_string())));
            }
        }
        let index = FromLock(listed);
        for (python, machine) in [("3.11.7", "x86_64"), ("3.12.3", "aarch64")] {
            let target =
                Target { python: Version::parse(python).unwrap(), machine: machine.into(), libc: Libc::Glibc(36) };
            let ours = requirements.install_set(&target, "https://pypi.org/simple", &index).unwrap();
            let theirs = lock.install_set(&target, &SyncRequest::default()).unwrap();
            let key = |w: &crate::python::lock::LockedWheel| {
                (w.name.clone(), w.version.clone(), w.url.clone(), w.sha256.clone())
            };
            let (ours_keys, theirs_keys): (Vec<_>, Vec<_>) =
                (ours.wheels.iter().map(key).collect(), theirs.wheels.iter().map(key).collect());
            assert!(
                ours_keys == theirs_keys,
                "{python} {machine}: {} wheels against {}",
                ours_keys.len(),
                theirs_keys.len()
            );
            assert_eq!(ours.projects, [(String::new(), ".".to_string())]);
        }
    }

    #[test]
    fn a_loose_requirements_file_is_no_lock() {
        assert!(Requirements::parse("dagster\ndagster-cloud==1.11.13\n").unwrap().is_none());
        assert!(Requirements::parse("dagster>=1.11 --hash=sha256:00\n").unwrap().is_none());
        let one =
            Requirements::parse("--index-url https://idx.example/simple\nsix==1.17.0 \\\n  --hash=sha256:AB # c\n")
                .unwrap()
                .unwrap();
        assert_eq!(one.index_url.as_deref(), Some("https://idx.example/simple"));
        assert_eq!(one.pins[0].sha256, ["ab"]);
    }
}
