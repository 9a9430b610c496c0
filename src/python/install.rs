//! Installing wheels into a virtual environment inside a layer, by the
//! binary distribution format spec, without running Python: the venv's
//! skeleton (`pyvenv.cfg`, `bin/python*` linked to the base interpreter),
//! each wheel's files into `site-packages` (its `.data` scripts into `bin`
//! with the shebang rewritten), console and GUI entry points as scripts, and
//! a fresh `RECORD`, `INSTALLER` and `REQUESTED`. Everything lands in
//! sorted layer entries, so the same wheels give the same layer.

use std::io::{Cursor, Read};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::marker::normalize;
use crate::image::context::{Entries, Entry, EntryKind, add_parents, clean_relative};

/// What the installer writes into `INSTALLER`.
const INSTALLER: &str = "dagster-branch-deploy";
/// The most a wheel may unpack to: far above real wheels (pyarrow's is
/// ~150 MB), low enough that a zip bomb stops.
const MAX_UNPACKED: u64 = 2 << 30;

/// A virtual environment in the image.
#[derive(Clone, Debug)]
pub(crate) struct Venv {
    /// Its directory in the image, without the leading `/` (`app/.venv`).
    pub(crate) root: String,
    /// `3.Y.Z` of the base interpreter.
    pub(crate) version: String,
    /// The base interpreter, absolute (`/usr/local/bin/python3.12`).
    pub(crate) interpreter: String,
}

impl Venv {
    fn minor(&self) -> &str {
        let mut parts = self.version.splitn(3, '.');
        let _major = parts.next();
        parts.next().unwrap_or("0")
    }

    /// `app/.venv/lib/python3.Y/site-packages`.
    pub(crate) fn site_packages(&self) -> String {
        format!("{}/lib/python3.{}/site-packages", self.root, self.minor())
    }

    /// `app/.venv/bin`.
    pub(crate) fn bin(&self) -> String {
        format!("{}/bin", self.root)
    }

    /// The interpreter scripts run with: `/app/.venv/bin/python`.
    fn python(&self) -> String {
        format!("/{}/python", self.bin())
    }

    /// The environment itself: `pyvenv.cfg`, `bin/python`, `python3` and
    /// `python3.Y` linked to the base interpreter as uv links them, and
    /// `lib64 → lib`.
    pub(crate) fn skeleton(&self, entries: &mut Entries) {
        let home = self.interpreter.rsplit_once('/').map_or("/usr/bin", |(dir, _)| dir);
        let cfg = format!(
            "home = {home}\nimplementation = CPython\nversion_info = {}\ninclude-system-site-packages = false\n",
            self.version
        );
        put_file(entries, &format!("{}/pyvenv.cfg", self.root), cfg.into_bytes(), 0o644);
        let bin = self.bin();
        put(entries, &format!("{bin}/python"), EntryKind::Symlink(self.interpreter.clone()), 0o777);
        put(entries, &format!("{bin}/python3"), EntryKind::Symlink("python".into()), 0o777);
        put(entries, &format!("{bin}/python3.{}", self.minor()), EntryKind::Symlink("python".into()), 0o777);
        put(entries, &format!("{}/lib64", self.root), EntryKind::Symlink("lib".into()), 0o777);
        add_parents(&format!("{}/", self.site_packages()), true, entries);
    }
}

/// Installs one wheel (`archive` is the `.whl`'s bytes, already checked
/// against the lock's hash).
pub(crate) fn install_wheel(venv: &Venv, name: &str, archive: &[u8], entries: &mut Entries) -> Result<()> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).context("the wheel is not a zip archive")?;
    let dist_info = find_dist_info(&mut zip, name)?;
    let data_dir = format!("{}.data", dist_info.trim_end_matches(".dist-info"));
    let site = venv.site_packages();
    let mut record = Vec::new();
    let mut entry_points = None;
    let mut unpacked = 0u64;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).context("reading the wheel's directory")?;
        if file.is_dir() {
            continue;
        }
        let raw_name = file.name().context("a file name in the wheel is not UTF-8")?.into_owned();
        let path = clean_relative(&raw_name)
            .with_context(|| format!("the wheel holds {}", crate::text::shorten(&format!("{raw_name:?}"), 120)))?;
        if path == format!("{dist_info}/RECORD") || path.ends_with("/RECORD.jws") || path.ends_with("/RECORD.p7s") {
            continue;
        }
        unpacked += file.size();
        if unpacked > MAX_UNPACKED {
            bail!("the wheel unpacks to more than {} GiB", MAX_UNPACKED >> 30);
        }
        let executable = file.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut bytes = Vec::with_capacity(usize::try_from(file.size()).unwrap_or(0));
        file.read_to_end(&mut bytes).with_context(|| format!("unpacking {path}"))?;
        if path == format!("{dist_info}/entry_points.txt") {
            entry_points = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        let (target, mode, bytes) = match path.strip_prefix(&format!("{data_dir}/")) {
            Some(rest) => data_file(venv, name, rest, bytes, executable)?,
            None => (format!("{site}/{path}"), if executable { 0o755 } else { 0o644 }, bytes),
        };
        record.push(record_line(&site, &target, &bytes));
        put_file(entries, &target, bytes, mode);
    }
    if let Some(text) = entry_points {
        for (script, module, function) in console_scripts(&text) {
            let target = format!("{}/{script}", venv.bin());
            let bytes = launcher(&venv.python(), &module, &function).into_bytes();
            record.push(record_line(&site, &target, &bytes));
            put_file(entries, &target, bytes, 0o755);
        }
    }
    for (file, text) in [("INSTALLER", format!("{INSTALLER}\n")), ("REQUESTED", String::new())] {
        let target = format!("{site}/{dist_info}/{file}");
        record.push(record_line(&site, &target, text.as_bytes()));
        put_file(entries, &target, text.into_bytes(), 0o644);
    }
    record.push(format!("{dist_info}/RECORD,,"));
    record.sort();
    put_file(entries, &format!("{site}/{dist_info}/RECORD"), (record.join("\n") + "\n").into_bytes(), 0o644);
    Ok(())
}

/// A project of the lock, installed editable as `uv sync` installs it: a
/// `.pth` naming its source root, and a `.dist-info` with its metadata and
/// entry points, so `importlib.metadata` and its scripts work.
pub(crate) struct EditableProject {
    pub(crate) name: String,
    pub(crate) version: String,
    /// Where its code is in the image (`/app`).
    pub(crate) directory: String,
    /// The directory its packages are imported from (`/app/src`, or the
    /// project directory for a flat layout).
    pub(crate) source_root: String,
    /// `[project.scripts]` and `[project.gui-scripts]`: (script, `module:function`).
    pub(crate) scripts: Vec<(String, String)>,
}

/// Installs a project editable.
pub(crate) fn install_editable(venv: &Venv, project: &EditableProject, entries: &mut Entries) -> Result<()> {
    let site = venv.site_packages();
    let stem = normalize(&project.name).replace('-', "_");
    let dist_info = format!("{stem}-{}.dist-info", project.version);
    let mut record = Vec::new();
    let mut files: Vec<(String, Vec<u8>, u32)> = vec![
        (format!("{site}/_{stem}.pth"), format!("{}\n", project.source_root).into_bytes(), 0o644),
        (
            format!("{site}/{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {}\nVersion: {}\n", project.name, project.version).into_bytes(),
            0o644,
        ),
        (format!("{site}/{dist_info}/INSTALLER"), format!("{INSTALLER}\n").into_bytes(), 0o644),
        (format!("{site}/{dist_info}/REQUESTED"), Vec::new(), 0o644),
        (
            format!("{site}/{dist_info}/direct_url.json"),
            format!("{{\"url\":\"file://{}\",\"dir_info\":{{\"editable\":true}}}}", project.directory).into_bytes(),
            0o644,
        ),
    ];
    if !project.scripts.is_empty() {
        let lines: String = project.scripts.iter().map(|(script, target)| format!("{script} = {target}\n")).collect();
        let text = format!("[console_scripts]\n{lines}");
        for (script, module, function) in console_scripts(&text) {
            files.push((
                format!("{}/{script}", venv.bin()),
                launcher(&venv.python(), &module, &function).into_bytes(),
                0o755,
            ));
        }
        files.push((format!("{site}/{dist_info}/entry_points.txt"), text.into_bytes(), 0o644));
    }
    for (path, bytes, mode) in files {
        record.push(record_line(&site, &path, &bytes));
        put_file(entries, &path, bytes, mode);
    }
    record.push(format!("{dist_info}/RECORD,,"));
    record.sort();
    put_file(entries, &format!("{site}/{dist_info}/RECORD"), (record.join("\n") + "\n").into_bytes(), 0o644);
    Ok(())
}

/// The wheel's `.dist-info` directory, named after the package.
fn find_dist_info(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<String> {
    let wanted = normalize(name);
    let dist_info = zip
        .file_names()
        .filter_map(|f| f.ok()?.strip_suffix("/WHEEL").map(str::to_string))
        .filter(|d| d.ends_with(".dist-info") && !d.contains('/'))
        .find(|d| normalize(d.split('-').next().unwrap_or("")) == wanted);
    dist_info.with_context(|| format!("the wheel has no {name}-<version>.dist-info/WHEEL"))
}

/// Where a `.data/<scheme>/…` file goes, with its mode and contents.
fn data_file(venv: &Venv, name: &str, rest: &str, bytes: Vec<u8>, executable: bool) -> Result<(String, u32, Vec<u8>)> {
    let (scheme, path) = rest.split_once('/').with_context(|| format!("{rest} is not in a .data scheme"))?;
    Ok(match scheme {
        "purelib" | "platlib" => {
            (format!("{}/{path}", venv.site_packages()), if executable { 0o755 } else { 0o644 }, bytes)
        }
        "scripts" => (format!("{}/{path}", venv.bin()), 0o755, rewrite_shebang(bytes, &venv.python())),
        "headers" => (format!("{}/include/site/python3.{}/{name}/{path}", venv.root, venv.minor()), 0o644, bytes),
        "data" => (format!("{}/{path}", venv.root), if executable { 0o755 } else { 0o644 }, bytes),
        other => bail!("the wheel's .data holds an unknown scheme {other:?}"),
    })
}

/// `#!python` and `#!pythonw` become the venv's interpreter (the spec's
/// rule for scripts).
fn rewrite_shebang(bytes: Vec<u8>, python: &str) -> Vec<u8> {
    let line_end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    let first = &bytes[..line_end];
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first == b"#!python" || first == b"#!pythonw" {
        let mut out = format!("#!{python}").into_bytes();
        out.extend_from_slice(&bytes[line_end..]);
        return out;
    }
    bytes
}

/// `[console_scripts]` and `[gui_scripts]` entries: (script, module, function).
fn console_scripts(text: &str) -> Vec<(String, String, String)> {
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        if !matches!(section, "console_scripts" | "gui_scripts") || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((script, target)) = line.split_once('=') else { continue };
        let target = target.split('[').next().unwrap_or(target).trim();
        let (module, function) = target.split_once(':').unwrap_or((target, ""));
        let script = script.trim();
        let safe = !script.is_empty() && !script.contains(['/', '\\']) && script != "." && script != "..";
        if safe && !module.trim().is_empty() {
            out.push((script.to_string(), module.trim().to_string(), function.trim().to_string()));
        }
    }
    out
}

/// The script uv and pip write for an entry point.
fn launcher(python: &str, module: &str, function: &str) -> String {
    let (import, call) = match function.split_once('.') {
        Some((head, _)) => (head, function),
        None if function.is_empty() => ("", ""),
        None => (function, function),
    };
    let body = if import.is_empty() {
        format!("import {module}\n")
    } else {
        format!(
            "import sys\nfrom {module} import {import}\nif __name__ == \"__main__\":\n    \
             if sys.argv[0].endswith(\"-script.pyw\"):\n        sys.argv[0] = sys.argv[0][:-11]\n    \
             elif sys.argv[0].endswith(\".exe\"):\n        sys.argv[0] = sys.argv[0][:-4]\n    sys.exit({call}())\n"
        )
    };
    format!("#!{python}\n# -*- coding: utf-8 -*-\n{body}")
}

/// A `RECORD` line: the path relative to `site-packages`, its sha256
/// (urlsafe base64, no padding) and size.
fn record_line(site: &str, target: &str, bytes: &[u8]) -> String {
    let relative = match target.strip_prefix(&format!("{site}/")) {
        Some(inside) => inside.to_string(),
        None => {
            // Outside site-packages (bin, include): relative from it.
            let depth = site.split('/').count();
            let common = site.split('/').zip(target.split('/')).take_while(|(a, b)| a == b).count();
            let rest: Vec<&str> = target.split('/').skip(common).collect();
            format!("{}{}", "../".repeat(depth - common), rest.join("/"))
        }
    };
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
    let relative =
        if relative.contains([',', '"']) { format!("\"{}\"", relative.replace('"', "\"\"")) } else { relative };
    format!("{relative},sha256={hash},{}", bytes.len())
}

fn put_file(entries: &mut Entries, path: &str, bytes: Vec<u8>, mode: u32) {
    put(entries, path, EntryKind::Bytes(Arc::from(bytes)), mode);
}

fn put(entries: &mut Entries, path: &str, kind: EntryKind, mode: u32) {
    add_parents(path, false, entries);
    entries.insert(path.to_string(), Entry { kind, mode, uid: 0, gid: 0 });
}
