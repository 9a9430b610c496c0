//! Wheel file names (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`)
//! and the compatibility tags they stand for, each dotted part expanded
//! (`py2.py3-none-any` is two tags).

use crate::text::shorten;
use anyhow::{Result, bail};

/// One compatibility tag: interpreter, ABI, platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Tag {
    pub(crate) python: String,
    pub(crate) abi: String,
    pub(crate) platform: String,
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// A parsed wheel file name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WheelName {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) tags: Vec<Tag>,
}

impl WheelName {
    /// Parses a wheel's file name (or the last segment of its URL).
    pub(crate) fn parse(file: &str) -> Result<WheelName> {
        let file = file.rsplit('/').next().unwrap_or(file);
        let file = file.split(['?', '#']).next().unwrap_or(file);
        let Some(stem) = file.strip_suffix(".whl") else { bail!("{} is not a wheel (.whl)", shorten(file, 120)) };
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, python, abi, platform) = match parts.as_slice() {
            [n, v, p, a, pl] | [n, v, _, p, a, pl] => (*n, *v, *p, *a, *pl),
            _ => bail!("{} is not a wheel name: name-version[-build]-python-abi-platform.whl", shorten(file, 120)),
        };
        let mut tags = Vec::new();
        for p in python.split('.') {
            for a in abi.split('.') {
                for pl in platform.split('.') {
                    tags.push(Tag { python: p.to_string(), abi: a.to_string(), platform: pl.to_string() });
                }
            }
        }
        Ok(WheelName { name: name.to_string(), version: version.to_string(), tags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_tag_sets_expand() {
        let w = WheelName::parse(
            "https://files.example/cffi-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl#sha256=x",
        )
        .unwrap();
        assert_eq!((w.name.as_str(), w.version.as_str()), ("cffi", "2.1.1"));
        let tags: Vec<String> = w.tags.iter().map(Tag::to_string).collect();
        assert_eq!(tags, ["cp311-cp311-manylinux2014_x86_64", "cp311-cp311-manylinux_2_17_x86_64"]);
        assert_eq!(WheelName::parse("six-1.16.0-1-py2.py3-none-any.whl").unwrap().tags.len(), 2);
        assert!(WheelName::parse("six-1.16.0.tar.gz").is_err());
        assert!(WheelName::parse("six-py3-none-any.whl").is_err());
    }
}
