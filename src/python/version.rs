//! PEP 440 versions, as far as markers and wheel names need them: the
//! release segments with pre-, post- and dev-releases ordered by the spec,
//! and the `==`/`!=` prefix match of `X.Y.*`.

use std::cmp::Ordering;

/// A parsed version; the local part (`+abc`) is ignored in comparisons,
/// as marker evaluation allows.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// (phase: a=0, b=1, rc=2, number).
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
}

impl Version {
    /// Parses a version (`1.2.3`, `v2!1.0rc1.post2.dev3`, `3.11.7+local`).
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let s = text.trim().to_ascii_lowercase();
        let s = s.strip_prefix('v').unwrap_or(&s);
        let s = s.split('+').next()?;
        let (epoch, rest) = match s.split_once('!') {
            Some((e, r)) => (e.parse().ok()?, r),
            None => (0, s),
        };
        let digits_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (release_text, mut tail) = rest.split_at(digits_end);
        let release_text = release_text.trim_end_matches('.');
        let release: Vec<u64> = release_text.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let mut version = Version { epoch, release, pre: None, post: None, dev: None };
        while !tail.is_empty() {
            tail = tail.trim_start_matches(['.', '-', '_']);
            let (label, number, rest) = split_label(tail)?;
            match label {
                "a" | "alpha" => version.pre = Some((0, number)),
                "b" | "beta" => version.pre = Some((1, number)),
                "rc" | "c" | "pre" | "preview" => version.pre = Some((2, number)),
                "post" | "rev" | "r" => version.post = Some(number),
                "dev" => version.dev = Some(number),
                _ => return None,
            }
            tail = rest;
        }
        Some(version)
    }

    /// The release segments (`[3, 11, 7]`).
    pub(crate) fn release(&self) -> &[u64] {
        &self.release
    }

    /// Whether this version matches `prefix.*` (`3.10.*` matches 3.10.4).
    pub(crate) fn matches_prefix(&self, prefix: &Version) -> bool {
        self.epoch == prefix.epoch
            && prefix.release.iter().enumerate().all(|(i, p)| self.release.get(i).copied().unwrap_or(0) == *p)
    }

    /// The spec's order: `1.0.dev1 < 1.0a1.dev1 < 1.0a1 < 1.0a1.post1 <
    /// 1.0rc1 < 1.0 < 1.0.post1.dev1 < 1.0.post1`; trailing zeros ignored.
    fn sort_key(&self) -> (u64, Vec<u64>, (u8, u64), Option<u64>, u64) {
        let mut release = self.release.clone();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (Some((phase, n)), _, _) => (phase + 1, n),
            (None, None, Some(_)) => (0, 0),
            _ => (4, 0),
        };
        (self.epoch, release, pre, self.post, self.dev.unwrap_or(u64::MAX))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether `version` satisfies a specifier set such as `>=3.9,<3.14` or
/// `==3.12.*`.
pub(crate) fn satisfies(version: &Version, specifiers: &str) -> anyhow::Result<bool> {
    for clause in specifiers.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let op_end = clause.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(clause.len());
        let (op, wanted) = (clause[..op_end].trim(), clause[op_end..].trim());
        let wildcard = wanted.ends_with(".*");
        let Some(wanted) = Version::parse(wanted.trim_end_matches(".*")) else {
            anyhow::bail!("{} is not a version specifier", crate::text::shorten(clause, 60));
        };
        let holds = match op {
            "==" if wildcard => version.matches_prefix(&wanted),
            "!=" if wildcard => !version.matches_prefix(&wanted),
            "==" | "===" => *version == wanted,
            "!=" => *version != wanted,
            "<" => *version < wanted,
            "<=" => *version <= wanted,
            ">" => *version > wanted,
            ">=" => *version >= wanted,
            "~=" => {
                let release = wanted.release();
                let prefix = Version::parse(
                    &release[..release.len().saturating_sub(1).max(1)]
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join("."),
                );
                *version >= wanted && prefix.is_some_and(|p| version.matches_prefix(&p))
            }
            _ => anyhow::bail!("{} has no comparison operator", crate::text::shorten(clause, 60)),
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `rc1.post2` → ("rc", 1, ".post2"); a missing number is 0.
fn split_label(text: &str) -> Option<(&str, u64, &str)> {
    let label_end = text.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (label, rest) = text.split_at(label_end);
    if label.is_empty() {
        return None;
    }
    let rest = rest.trim_start_matches(['.', '-', '_']);
    let number_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (number, rest) = rest.split_at(number_end);
    Some((label, if number.is_empty() { 0 } else { number.parse().ok()? }, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_order_as_pep_440_says() {
        let ordered = ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.1", "2!0.1"];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("3.10"), v("3.10.0"));
        assert!(v("3.9") < v("3.10"));
        assert!(v("3.11.7+local") == v("3.11.7"));
        assert!(Version::parse("3.x").is_none());
    }

    #[test]
    fn specifier_sets_are_checked_clause_by_clause() {
        assert!(satisfies(&v("3.13"), ">=3.9,<3.14").unwrap());
        assert!(!satisfies(&v("3.14"), ">=3.9,<3.14").unwrap());
        assert!(satisfies(&v("3.12.4"), "==3.12.*").unwrap());
        assert!(satisfies(&v("3.12"), "~=3.10").unwrap() && !satisfies(&v("4.0"), "~=3.10").unwrap());
        assert!(satisfies(&v("3.12"), "3.12").is_err());
    }

    #[test]
    fn prefixes_match_release_segments() {
        assert!(v("3.10.4").matches_prefix(&v("3.10")));
        assert!(!v("3.11.0").matches_prefix(&v("3.10")));
        assert!(v("3.10").matches_prefix(&v("3.10.0")));
    }
}
