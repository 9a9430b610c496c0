//! A snapshot of the environment, taken once at start-up and passed down, so
//! the core never reads process state and tests can feed any variables.
//! An empty value counts as unset: CI systems pass missing secrets as "".
//! A variable whose value is not UTF-8 is remembered by name, so that a
//! broken secret is reported rather than taken for a missing one. `Debug`
//! shows the names only: the values include every secret.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use anyhow::{Result, bail};

use crate::auth::Secret;

/// Environment variables.
#[derive(Clone, Default)]
pub(crate) struct Env {
    vars: HashMap<String, String>,
    not_utf8: BTreeSet<String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).field("not_utf8", &self.not_utf8).finish()
    }
}

impl Env {
    /// The process environment.
    pub(crate) fn from_process() -> Env {
        let mut env = Env::default();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            match v.into_string() {
                Ok(v) => {
                    env.vars.insert(k, v);
                }
                Err(_) => {
                    env.not_utf8.insert(k);
                }
            }
        }
        env
    }

    /// An environment from pairs, for tests.
    #[cfg(test)]
    pub(crate) fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Env {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), not_utf8: BTreeSet::new() }
    }

    /// A secret variable: `None` when unset or empty, an error naming it
    /// when it is set to something that is not text.
    pub(crate) fn secret(&self, name: &str) -> Result<Option<Secret>> {
        if self.not_utf8.contains(name) {
            bail!("{name} is set, but its value is not valid UTF-8 text; check how the secret was stored");
        }
        Ok(self.get(name).map(Secret::new))
    }

    /// A variable's value, `None` when unset or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The first of several variables that is set, with its name.
    pub(crate) fn first_of<'a>(&self, names: &[&'a str]) -> Option<(&'a str, &str)> {
        names.iter().find_map(|n| self.get(n).map(|v| (*n, v)))
    }

    /// Whether the program runs as a GitHub Actions step.
    pub(crate) fn is_github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS") == Some("true")
    }
}
