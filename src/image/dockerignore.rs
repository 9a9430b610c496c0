//! `.dockerignore` matching with Docker's rules: patterns relative to the
//! context root, `*` and `?` stop at `/`, `**` spans directories, `!`
//! re-includes, the last matching pattern wins, and a pattern that matches a
//! directory excludes everything under it. The patterns are compiled into
//! one set (one automaton, not one regex each), and their number is capped.

use anyhow::{Context, Result, bail};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::text::excerpt;

/// The most patterns a `.dockerignore` may hold.
const MAX_PATTERNS: usize = 10_000;

/// The compiled patterns of one `.dockerignore`.
#[derive(Default)]
pub(crate) struct DockerIgnore {
    set: GlobSet,
    /// Per pattern, in file order: whether it excludes (else re-includes).
    excludes: Vec<bool>,
}

impl DockerIgnore {
    /// Compiles a `.dockerignore` file's text; `origin` names it in errors.
    pub(crate) fn parse(text: &str, origin: &str) -> Result<DockerIgnore> {
        let mut set = GlobSetBuilder::new();
        let mut excludes = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, raw) = match line.strip_prefix('!') {
                Some(rest) => (false, rest.trim()),
                None => (true, line),
            };
            let cleaned = clean(raw);
            if cleaned.is_empty() {
                continue;
            }
            if excludes.len() == MAX_PATTERNS {
                bail!("{origin}: more than {MAX_PATTERNS} patterns");
            }
            let glob =
                compile(&cleaned).with_context(|| format!("{origin}:{}: invalid pattern {}", i + 1, excerpt(raw)))?;
            set.add(glob);
            excludes.push(exclude);
        }
        let set = set.build().with_context(|| format!("compiling the patterns of {origin}"))?;
        Ok(DockerIgnore { set, excludes })
    }

    /// Whether any pattern re-includes (`!`): then excluded directories must
    /// still be walked.
    pub(crate) fn has_exceptions(&self) -> bool {
        self.excludes.iter().any(|e| !e)
    }

    /// Whether `path` (relative, `/`-separated) is excluded from the
    /// context: the last pattern that matches it or one of its parent
    /// directories decides.
    pub(crate) fn is_excluded(&self, path: &str) -> bool {
        let parents = path.match_indices('/').map(|(i, _)| &path[..i]);
        let last = std::iter::once(path).chain(parents).filter_map(|p| self.set.matches(p).into_iter().max()).max();
        last.is_some_and(|i| self.excludes[i])
    }
}

fn compile(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build()
}

/// Docker cleans patterns like `filepath.Clean` and drops a leading `/`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text, ".dockerignore").unwrap()
    }

    #[test]
    fn star_stops_at_slash_and_double_star_spans() {
        let d = ignore("*.pyc\n**/__pycache__\n");
        assert!(d.is_excluded("a.pyc"));
        assert!(!d.is_excluded("pkg/a.pyc"));
        assert!(d.is_excluded("pkg/__pycache__/x.cpython.pyc"));
        assert!(d.is_excluded("__pycache__"));
    }

    #[test]
    fn directories_exclude_their_contents_and_exceptions_win_last() {
        let d = ignore("# comment\n/.venv\ntests/\n!tests/keep.py\n");
        assert!(d.is_excluded(".venv/bin/python"));
        assert!(d.is_excluded("tests/test_a.py"));
        assert!(!d.is_excluded("tests/keep.py"));
        assert!(!d.is_excluded("src/app.py"));
        assert!(d.has_exceptions());
    }

    #[test]
    fn a_bad_pattern_names_the_file_and_line() {
        let err = DockerIgnore::parse("ok\n[unclosed\n", "proj/.dockerignore").err().unwrap().to_string();
        assert!(err.contains("proj/.dockerignore:2"), "{err}");
    }
}
