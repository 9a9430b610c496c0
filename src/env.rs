//! A snapshot of the environment, taken once at start-up and passed down, so
//! the core never reads process state and tests can feed any variables.
//! An empty value counts as unset: CI systems pass missing secrets as "".

use std::collections::HashMap;

/// Environment variables.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment from pairs (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Env {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// A variable's value, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The first of several variables that is set, with its name.
    pub fn first_of<'a>(&self, names: &[&'a str]) -> Option<(&'a str, &str)> {
        names.iter().find_map(|n| self.get(n).map(|v| (*n, v)))
    }

    /// Whether the program runs as a GitHub Actions step.
    pub fn is_github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS") == Some("true")
    }
}
