//! What the user sees while work happens: progress lines on stderr (silent
//! with `--json`), warnings, and on GitHub Actions the `::add-mask::`
//! command for every secret this tool derives, issued before anything could
//! print it.

use std::fmt::Display;

use crate::env::Env;

/// Where progress goes.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    quiet: bool,
    github: bool,
}

impl Progress {
    /// Progress for this environment; `quiet` silences informational lines.
    pub(crate) fn new(env: &Env, quiet: bool) -> Progress {
        Progress { quiet, github: env.is_github_actions() }
    }

    /// A progress line.
    pub(crate) fn info(&self, message: impl Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A warning, as an annotation on GitHub.
    pub(crate) fn warn(&self, message: impl Display) {
        if self.github {
            eprintln!("::warning::{}", escape_command_data(&message.to_string()));
        } else {
            eprintln!("warning: {message}");
        }
    }

    /// A notice: something the user should know that is not a problem
    /// (an annotation on GitHub).
    pub(crate) fn notice(&self, message: &str) {
        if self.github {
            eprintln!("::notice::{}", escape_command_data(message));
        } else {
            eprintln!("notice: {message}");
        }
    }

    /// Runs `work` under a heading; on GitHub its lines fold into a group.
    pub(crate) fn group<T>(&self, title: impl Display, work: impl FnOnce() -> T) -> T {
        if self.quiet {
            return work();
        }
        if self.github {
            eprintln!("::group::{title}");
        }
        let result = work();
        if self.github {
            eprintln!("::endgroup::");
        }
        result
    }

    /// Prints a workflow command (an annotation) on GitHub; elsewhere
    /// nothing, since the error is printed once at the end anyway.
    pub(crate) fn annotate(&self, command: &str) {
        if self.github {
            eprintln!("{command}");
        }
    }

    /// Asks GitHub to mask a derived secret in all later log output.
    pub(crate) fn mask(&self, secret: &str) {
        if self.github {
            for line in secret.lines().filter(|l| !l.trim().is_empty()) {
                eprintln!("::add-mask::{line}");
            }
        }
    }
}

/// Escapes a workflow command's message as `@actions/core` does.
pub(crate) fn escape_command_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}
