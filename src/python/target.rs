//! The environment a Python build targets (interpreter version, machine,
//! C library), as the marker variables see it and as the ordered list of
//! wheel tags it accepts, best first, as `packaging.tags` orders them for
//! CPython on Linux.

use std::collections::{BTreeSet, HashMap};

use super::marker::MarkerEnv;
use super::version::Version;
use super::wheel_name::Tag;

/// The target's C library, which decides the platform tags (musl, for
/// musllinux wheels, comes with reading it from the base image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Libc {
    /// glibc `2.minor` (manylinux).
    Glibc(u32),
}

/// A CPython on Linux to install for.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// `3.11.7`; only 3.x is supported.
    pub(crate) python: Version,
    /// `x86_64` or `aarch64` (the `platform_machine` value).
    pub(crate) machine: String,
    pub(crate) libc: Libc,
}

impl Target {
    /// `3.Y`.
    pub(crate) fn minor(&self) -> u64 {
        self.python.release().get(1).copied().unwrap_or(0)
    }

    fn full_version(&self) -> String {
        let r = self.python.release();
        format!("{}.{}.{}", r.first().copied().unwrap_or(3), self.minor(), r.get(2).copied().unwrap_or(0))
    }

    /// The platform tags, best first: the newest libc the target has down
    /// to the oldest policy, with the legacy manylinux aliases, then
    /// `linux_<machine>`.
    fn platforms(&self) -> Vec<String> {
        let arch = &self.machine;
        let mut out = Vec::new();
        match self.libc {
            Libc::Glibc(minor) => {
                let oldest = if arch == "x86_64" || arch == "i686" { 5 } else { 17 };
                for m in (oldest..=minor).rev() {
                    out.push(format!("manylinux_2_{m}_{arch}"));
                    match m {
                        17 => out.push(format!("manylinux2014_{arch}")),
                        12 => out.push(format!("manylinux2010_{arch}")),
                        5 => out.push(format!("manylinux1_{arch}")),
                        _ => {}
                    }
                }
            }
        }
        out.push(format!("linux_{arch}"));
        out
    }

    /// Every tag the target accepts, mapped to its rank (0 is best).
    pub(crate) fn tag_ranks(&self) -> HashMap<Tag, usize> {
        let y = self.minor();
        let cp = format!("cp3{y}");
        let platforms = self.platforms();
        let mut ordered: Vec<(String, String, String)> = Vec::new();
        for abi in [cp.as_str(), "abi3", "none"] {
            ordered.extend(platforms.iter().map(|p| (cp.clone(), abi.to_string(), p.clone())));
        }
        for x in (2..y).rev() {
            ordered.extend(platforms.iter().map(|p| (format!("cp3{x}"), "abi3".to_string(), p.clone())));
        }
        let py_versions: Vec<String> = std::iter::once(format!("py3{y}"))
            .chain(["py3".to_string()])
            .chain((0..y).rev().map(|x| format!("py3{x}")))
            .collect();
        for py in &py_versions {
            ordered.extend(platforms.iter().map(|p| (py.clone(), "none".to_string(), p.clone())));
        }
        ordered.push((cp.clone(), "none".to_string(), "any".to_string()));
        ordered.extend(py_versions.iter().map(|py| (py.clone(), "none".to_string(), "any".to_string())));
        let mut ranks = HashMap::new();
        for (rank, (python, abi, platform)) in ordered.into_iter().enumerate() {
            ranks.entry(Tag { python, abi, platform }).or_insert(rank);
        }
        ranks
    }

    /// A short description for messages: `cp311, manylinux_2_36_x86_64`.
    pub(crate) fn describe(&self) -> String {
        let platform = self.platforms().into_iter().next().unwrap_or_default();
        format!("cp3{}, {platform}", self.minor())
    }
}

/// The target with the extras requested of one package, as markers see it.
pub(crate) struct TargetEnv<'a> {
    pub(crate) target: &'a Target,
    pub(crate) extras: &'a BTreeSet<String>,
}

impl MarkerEnv for TargetEnv<'_> {
    fn value(&self, variable: &str) -> Option<String> {
        let t = self.target;
        Some(match variable {
            "python_version" => format!("3.{}", t.minor()),
            "python_full_version" | "implementation_version" => t.full_version(),
            "sys_platform" => "linux".into(),
            "platform_system" => "Linux".into(),
            "os_name" => "posix".into(),
            "platform_machine" => t.machine.clone(),
            "implementation_name" => "cpython".into(),
            "platform_python_implementation" => "CPython".into(),
            _ => return None,
        })
    }

    fn has_extra(&self, extra: &str) -> bool {
        self.extras.contains(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        let mut p = s.split('-');
        Tag { python: p.next().unwrap().into(), abi: p.next().unwrap().into(), platform: p.next().unwrap().into() }
    }

    #[test]
    fn tags_rank_as_packaging_orders_them() {
        let t = Target { python: Version::parse("3.11.7").unwrap(), machine: "x86_64".into(), libc: Libc::Glibc(36) };
        let ranks = t.tag_ranks();
        let order = [
            "cp311-cp311-manylinux_2_36_x86_64",
            "cp311-cp311-manylinux_2_17_x86_64",
            "cp311-cp311-manylinux2014_x86_64",
            "cp311-cp311-manylinux1_x86_64",
            "cp311-cp311-linux_x86_64",
            "cp311-abi3-manylinux_2_34_x86_64",
            "cp37-abi3-manylinux_2_17_x86_64",
            "py3-none-manylinux_2_17_x86_64",
            "cp311-none-any",
            "py311-none-any",
            "py3-none-any",
            "py30-none-any",
        ]
        .map(|s| ranks[&tag(s)]);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        for refused in ["cp312-cp312-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_38_x86_64", "py2-none-any"] {
            assert!(!ranks.contains_key(&tag(refused)), "{refused}");
        }
        let arm = Target { machine: "aarch64".into(), ..t };
        assert!(arm.tag_ranks().contains_key(&tag("cp311-cp311-manylinux_2_17_aarch64")));
        assert!(!arm.tag_ranks().contains_key(&tag("cp311-cp311-manylinux_2_5_aarch64")));
    }
}
