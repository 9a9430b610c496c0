//! What a base image offers a Python build, read from its files and config,
//! never by running it: the interpreter (`python3.Y` in a `PATH`
//! directory), its version (`PYTHON_VERSION`, else the `3.Y` of the file),
//! and the glibc version that decides the manylinux tags.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, Result, bail};

use super::version::Version;

/// The most of `libc.so.6` read to find its version string.
const LIBC_SCAN_CAP: u64 = 16 << 20;

/// The base image's Python, as a build needs it.
#[derive(Clone, Debug)]
pub(crate) struct BaseFacts {
    /// Absolute path of the interpreter (`/usr/local/bin/python3.12`).
    pub(crate) interpreter: String,
    /// `3.12.4`, or `3.12.0` when the image does not say the patch level.
    pub(crate) version: Version,
    /// glibc `2.minor`.
    pub(crate) glibc_minor: u32,
}

/// A path of the image's file system, as the layers leave it.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    File,
    Dir,
    Link(String),
}

/// Reads the base's layers (uncompressed tar streams, base first) and its
/// config's `Env`.
pub(crate) fn inspect(layers: Vec<Box<dyn Read + '_>>, env: &[(String, String)]) -> Result<BaseFacts> {
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    let mut glibc_minor = None;
    for (i, layer) in layers.into_iter().enumerate() {
        let mut archive = tar::Archive::new(layer);
        for entry in archive.entries().with_context(|| format!("reading base layer {}", i + 1))? {
            let mut entry = entry.with_context(|| format!("reading base layer {}", i + 1))?;
            let path = entry.path()?.to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                tree.retain(|p, _| !p.starts_with(&prefix));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                let prefix = format!("{gone}/");
                tree.retain(|p, _| *p != gone && !p.starts_with(&prefix));
                continue;
            }
            let node = match entry.header().entry_type() {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Symlink => {
                    Node::Link(entry.link_name()?.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default())
                }
                _ => Node::File,
            };
            if name.starts_with("ld-musl-") {
                bail!("the base image uses musl ({path}); the native Python build supports glibc (manylinux) bases");
            }
            if let Some(minor) = libc_file_minor(name) {
                glibc_minor = Some(minor);
            } else if name == "libc.so.6" && node == Node::File {
                let mut bytes = Vec::new();
                entry.by_ref().take(LIBC_SCAN_CAP).read_to_end(&mut bytes)?;
                glibc_minor = glibc_minor.or(release_version_minor(&bytes));
            }
            tree.insert(path, node);
        }
    }
    let glibc_minor =
        glibc_minor.context("the base image has no glibc (libc.so.6); the native Python build needs one")?;
    let path_env = env.iter().find(|(k, _)| k == "PATH").map_or("/usr/local/bin:/usr/bin:/bin", |(_, v)| v.as_str());
    let (interpreter, minor) = find_interpreter(&tree, path_env).with_context(|| {
        format!("the base image has no python3.Y in its PATH ({path_env}); use a Python base image (--base-image)")
    })?;
    let version = env
        .iter()
        .find(|(k, _)| k == "PYTHON_VERSION")
        .and_then(|(_, v)| Version::parse(v))
        .filter(|v| v.release().get(1) == Some(&minor))
        .or_else(|| Version::parse(&format!("3.{minor}.0")))
        .context("a CPython version")?;
    Ok(BaseFacts { interpreter, version, glibc_minor })
}

/// The first `python3.Y` (highest Y) in the `PATH` directories, in order.
fn find_interpreter(tree: &BTreeMap<String, Node>, path_env: &str) -> Option<(String, u64)> {
    for dir in path_env.split(':').filter(|d| d.starts_with('/')) {
        let dir = dir.trim_matches('/');
        let best = (6..=20u64).rev().find(|y| {
            let file = format!("{dir}/python3.{y}");
            matches!(tree.get(&file), Some(Node::File | Node::Link(_)))
        });
        if let Some(y) = best {
            return Some((format!("/{dir}/python3.{y}"), y));
        }
    }
    None
}

/// `libc-2.31.so` → 31.
fn libc_file_minor(name: &str) -> Option<u32> {
    name.strip_prefix("libc-2.")?.strip_suffix(".so")?.parse().ok()
}

/// glibc prints "stable release version 2.36" (or "release version 2.36").
fn release_version_minor(bytes: &[u8]) -> Option<u32> {
    let needle = b"release version 2.";
    let at = bytes.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let digits: String = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, link, data) in files {
            let mut h = tar::Header::new_gnu();
            match link {
                Some(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, target).unwrap();
                }
                None => {
                    h.set_size(data.len() as u64);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, *data).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_official_python_image_and_debians_python_are_found_from_their_files() {
        let libc: &[u8] = b"\x7fELF...GNU C Library (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36.\n";
        let slim = layer(&[
            ("lib/x86_64-linux-gnu/libc.so.6", None, libc),
            ("usr/local/bin/python3.12", None, b"elf"),
            ("usr/local/bin/python3", Some("python3.12"), b""),
        ]);
        let facts = inspect(
            vec![Box::new(&slim[..])],
            &env(&[("PATH", "/usr/local/bin:/usr/bin"), ("PYTHON_VERSION", "3.12.4")]),
        )
        .unwrap();
        assert_eq!(facts.interpreter, "/usr/local/bin/python3.12");
        assert_eq!(facts.version, Version::parse("3.12.4").unwrap());
        assert_eq!(facts.glibc_minor, 36);

        let debian = layer(&[("usr/lib/x86_64-linux-gnu/libc-2.31.so", None, b""), ("usr/bin/python3.9", None, b"")]);
        let facts = inspect(vec![Box::new(&debian[..])], &env(&[("PATH", "/usr/local/bin:/usr/bin:/bin")])).unwrap();
        assert_eq!((facts.interpreter.as_str(), facts.glibc_minor), ("/usr/bin/python3.9", 31));
        assert_eq!(facts.version, Version::parse("3.9.0").unwrap());
    }

    #[test]
    fn whiteouts_remove_files_and_what_is_missing_is_named() {
        let base = layer(&[("lib/libc-2.36.so", None, b""), ("usr/bin/python3.11", None, b"")]);
        let removed = layer(&[("usr/bin/.wh.python3.11", None, b"")]);
        let err = inspect(vec![Box::new(&base[..]), Box::new(&removed[..])], &env(&[("PATH", "/usr/bin")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no python3.Y in its PATH (/usr/bin)"), "{err}");
        let musl = layer(&[("lib/ld-musl-x86_64.so.1", None, b"")]);
        let err = inspect(vec![Box::new(&musl[..])], &[]).unwrap_err().to_string();
        assert!(err.contains("musl"), "{err}");
    }
}
