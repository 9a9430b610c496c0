//! The build context on disk: resolves a COPY's sources (globs, directories,
//! `.dockerignore`) into the sorted entries of a layer, and refuses anything
//! that could read outside the context (`..`, symbolic links).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::io::files;
use anyhow::{Context, Result, bail};
use globset::GlobBuilder;

use super::dockerignore::DockerIgnore;

/// One entry of a layer, keyed by its path in the image (no leading `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// File or directory.
    pub(crate) kind: EntryKind,
    /// Permission bits, normalised.
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file, read from this path when the layer is written.
    File(PathBuf),
    /// A regular file made by the build (an installed wheel's file, a
    /// generated script).
    Bytes(std::sync::Arc<[u8]>),
    /// A symbolic link to this target.
    Symlink(String),
}

/// Sorted layer entries: `BTreeMap` order puts a directory before its
/// contents and makes the layer byte-stable.
pub(crate) type Entries = BTreeMap<String, Entry>;

/// A build context: a directory and its `.dockerignore`.
pub(crate) struct BuildContext {
    root: PathBuf,
    ignore: DockerIgnore,
    /// Every non-ignored path, relative, with whether it is a directory.
    paths: BTreeMap<String, bool>,
}

/// A COPY after variable expansion.
pub(crate) struct CopyRequest<'a> {
    /// Sources relative to the context.
    pub(crate) sources: &'a [String],
    /// Absolute destination in the image.
    pub(crate) dest: &'a str,
    /// Whether the destination was written with a trailing `/`.
    pub(crate) dest_is_dir: bool,
    /// `--chmod`.
    pub(crate) chmod: Option<u32>,
    /// `--chown` (numeric).
    pub(crate) chown: Option<(u64, u64)>,
}

impl BuildContext {
    /// Opens a context directory, reading its `.dockerignore` (safely:
    /// see [`crate::io::files`]) and listing every path it includes.
    pub(crate) fn open(root: &Path) -> Result<BuildContext> {
        BuildContext::open_excluding(root, &[])
    }

    /// Opens a context that also leaves out `defaults` (patterns read
    /// before the `.dockerignore`, whose `!` lines can take them back).
    pub(crate) fn open_excluding(root: &Path, defaults: &[&str]) -> Result<BuildContext> {
        let ignore_path = root.join(".dockerignore");
        let repository = files::repository_root(root);
        let text = files::read_inside(&repository, &ignore_path, files::PROJECT_FILE_CAP)?.unwrap_or_default();
        let text = defaults.iter().map(|d| format!("{d}\n")).collect::<String>() + &text;
        let ignore = DockerIgnore::parse(&text, &ignore_path.display().to_string())?;
        let mut context = BuildContext { root: root.to_path_buf(), ignore, paths: BTreeMap::new() };
        context.walk("").with_context(|| format!("listing the build context {}", root.display()))?;
        Ok(context)
    }

    fn walk(&mut self, rel: &str) -> Result<()> {
        let dir = self.root.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading directory {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading directory {}", dir.display()))?;
        names.sort();
        for name in names {
            let name = name.to_str().with_context(|| format!("{:?} in {} is not UTF-8", name, dir.display()))?;
            let path = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
            let excluded = self.ignore.is_excluded(&path);
            let meta = fs::symlink_metadata(self.root.join(&path))
                .with_context(|| format!("reading {}", self.root.join(&path).display()))?;
            if meta.is_dir() {
                if !excluded {
                    self.paths.insert(path.clone(), true);
                }
                if !excluded || self.ignore.has_exceptions() {
                    self.walk(&path)?;
                }
            } else if excluded {
                continue;
            } else if meta.file_type().is_symlink() {
                bail!(
                    "{} is a symbolic link; the native build refuses links, which could read files outside the \
                     project. Replace it with the file it points to, or list it in .dockerignore",
                    self.root.join(&path).display()
                );
            } else if meta.is_file() {
                self.paths.insert(path, false);
            }
        }
        Ok(())
    }

    /// Resolves a COPY into layer entries (added to `entries`).
    pub(crate) fn copy_into(&self, request: &CopyRequest, entries: &mut Entries) -> Result<()> {
        let mut matched: Vec<(String, bool)> = Vec::new();
        let mut any_glob = false;
        for source in request.sources {
            let source = clean_relative(source).with_context(|| format!("COPY source {source:?}"))?;
            if source.contains(['*', '?', '[']) {
                any_glob = true;
                let glob = GlobBuilder::new(&source).literal_separator(true).build()?.compile_matcher();
                let hits: Vec<_> = self
                    .paths
                    .iter()
                    .filter(|(p, _)| glob.is_match(p.as_str()))
                    .map(|(p, d)| (p.clone(), *d))
                    .collect();
                if hits.is_empty() {
                    bail!("COPY source {source:?} matches no file in the build context {}", self.root.display());
                }
                matched.extend(hits);
            } else if source.is_empty() {
                matched.push((String::new(), true));
            } else {
                match self.paths.get(&source) {
                    Some(is_dir) => matched.push((source, *is_dir)),
                    None => bail!(
                        "COPY source {source:?} is not in the build context {}{}",
                        self.root.display(),
                        if self.root.join(&source).exists() { " (it is excluded by .dockerignore)" } else { "" }
                    ),
                }
            }
        }
        let into_dir = request.dest_is_dir || matched.len() > 1 || any_glob || matched.iter().any(|(_, d)| *d);
        let dest = request.dest.trim_start_matches('/').trim_end_matches('/').to_string();
        add_parents(&dest, into_dir, entries);
        let owner = request.chown.unwrap_or((0, 0));
        if into_dir && !dest.is_empty() {
            entries.insert(dest.clone(), dir_entry(request.chmod, owner));
        }
        for (source, is_dir) in matched {
            if is_dir {
                self.copy_dir_contents(&source, &dest, request, owner, entries);
            } else {
                let name = source.rsplit('/').next().unwrap_or(&source);
                let target = if into_dir { join(&dest, name) } else { dest.clone() };
                entries.insert(target, self.file_entry(&source, request.chmod, owner)?);
            }
        }
        Ok(())
    }

    fn copy_dir_contents(&self, source: &str, dest: &str, req: &CopyRequest, owner: (u64, u64), entries: &mut Entries) {
        let prefix = if source.is_empty() { String::new() } else { format!("{source}/") };
        for (path, is_dir) in self.paths.range(prefix.clone()..) {
            let Some(rel) = path.strip_prefix(&prefix) else {
                break;
            };
            let target = join(dest, rel);
            let entry = if *is_dir {
                dir_entry(req.chmod, owner)
            } else {
                let mode = self.file_mode(path);
                Entry {
                    kind: EntryKind::File(self.root.join(path)),
                    mode: req.chmod.unwrap_or(mode),
                    uid: owner.0,
                    gid: owner.1,
                }
            };
            entries.insert(target, entry);
        }
    }

    fn file_entry(&self, source: &str, chmod: Option<u32>, owner: (u64, u64)) -> Result<Entry> {
        Ok(Entry {
            kind: EntryKind::File(self.root.join(source)),
            mode: chmod.unwrap_or(self.file_mode(source)),
            uid: owner.0,
            gid: owner.1,
        })
    }

    /// 0755 when any execute bit is set, else 0644.
    fn file_mode(&self, rel: &str) -> u32 {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = fs::metadata(self.root.join(rel))
                && meta.permissions().mode() & 0o111 != 0
            {
                return 0o755;
            }
        }
        #[cfg(not(unix))]
        let _ = rel;
        0o644
    }
}

fn dir_entry(chmod: Option<u32>, owner: (u64, u64)) -> Entry {
    Entry { kind: EntryKind::Dir, mode: chmod.unwrap_or(0o755), uid: owner.0, gid: owner.1 }
}

/// Adds the parent directories of `dest` (and `dest` when it is a directory
/// destination) as explicit root-owned 0755 entries.
pub(crate) fn add_parents(dest: &str, into_dir: bool, entries: &mut Entries) {
    let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    let upto = if into_dir { parts.len() } else { parts.len().saturating_sub(1) };
    for i in 1..=upto {
        entries.entry(parts[..i].join("/")).or_insert(Entry { kind: EntryKind::Dir, mode: 0o755, uid: 0, gid: 0 });
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// Cleans a relative path; refuses one that climbs out of its root.
pub(crate) fn clean_relative(path: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    bail!("{path:?} leads outside the build context");
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a destination against the working directory like Docker:
/// absolute destinations stand alone, relative ones are under `workdir`.
/// Returns the clean absolute path and whether it names a directory
/// (a trailing `/`, or `.`/`..` at the end).
pub(crate) fn absolute_dest(workdir: &str, dest: &str) -> (String, bool) {
    let is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.") || dest.ends_with("..");
    let joined = if dest.starts_with('/') { dest.to_string() } else { format!("{workdir}/{dest}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    (format!("/{}", parts.join("/")), is_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)], ignore: &str) -> (tempfile::TempDir, BuildContext) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        fs::write(dir.path().join(".dockerignore"), ignore).unwrap();
        let ctx = BuildContext::open(dir.path()).unwrap();
        (dir, ctx)
    }

    fn copy(ctx: &BuildContext, sources: &[&str], dest: &str) -> Result<Vec<String>> {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        let mut entries = Entries::new();
        let req = CopyRequest { sources: &sources, dest, dest_is_dir: dest.ends_with('/'), chmod: None, chown: None };
        ctx.copy_into(&req, &mut entries)?;
        Ok(entries.keys().cloned().collect())
    }

    #[test]
    fn copy_dot_takes_the_context_minus_ignored_files_with_parents() {
        let (_d, ctx) = context(&[("pkg/a.py", ""), ("pkg/a.pyc", ""), ("setup.py", "")], "**/*.pyc\n");
        assert_eq!(
            copy(&ctx, &["."], "/opt/app").unwrap(),
            vec!["opt", "opt/app", "opt/app/.dockerignore", "opt/app/pkg", "opt/app/pkg/a.py", "opt/app/setup.py"]
        );
    }

    #[test]
    fn a_single_file_to_a_file_path_or_into_a_directory() {
        let (_d, ctx) = context(&[("req.txt", "x")], "");
        assert_eq!(copy(&ctx, &["req.txt"], "/app/r.txt").unwrap(), vec!["app", "app/r.txt"]);
        assert_eq!(copy(&ctx, &["req.txt"], "/app/").unwrap(), vec!["app", "app/req.txt"]);
        assert_eq!(copy(&ctx, &["*.txt"], "/app").unwrap(), vec!["app", "app/req.txt"]);
    }

    #[test]
    fn escaping_ignored_and_missing_sources_are_errors() {
        let (_d, ctx) = context(&[("secret.env", "")], "secret.env\n");
        assert!(format!("{:#}", copy(&ctx, &["../etc/passwd"], "/x").unwrap_err()).contains("outside"));
        assert!(copy(&ctx, &["secret.env"], "/x").unwrap_err().to_string().contains("excluded by .dockerignore"));
        assert!(copy(&ctx, &["nope"], "/x").unwrap_err().to_string().contains("not in the build context"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused_unless_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let err = BuildContext::open(dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        fs::write(dir.path().join(".dockerignore"), "link\n").unwrap();
        assert!(BuildContext::open(dir.path()).is_ok());
    }

    #[test]
    fn destinations_are_resolved_against_the_workdir() {
        assert_eq!(absolute_dest("/opt/app", "."), ("/opt/app".into(), true));
        assert_eq!(absolute_dest("", "app/"), ("/app".into(), true));
        assert_eq!(absolute_dest("/w", "/abs"), ("/abs".into(), false));
        assert_eq!(absolute_dest("/w/x", "../y"), ("/w/y".into(), false));
    }
}
