//! Starting other programs (credential helpers, container builders, git):
//! one function that runs a command, feeds its stdin and captures its output,
//! with errors that name the command.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// What a finished command left behind.
pub struct Output {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its exit code, if it exited normally.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `program args…` in `dir`, writes `stdin` to it, and captures its
/// output. An error means it could not be started.
pub fn run(
    program: &str,
    args: &[&str],
    dir: Option<&Path>,
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Result<Output> {
    let mut command = Command::new(program);
    command.args(args).stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.envs(env.iter().copied());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .with_context(|| format!("writing to {program}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {program}"))?;
    Ok(Output {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Whether `program` can be started (found on PATH and executable).
pub fn available(program: &str, version_args: &[&str]) -> bool {
    run(program, version_args, None, None, &[]).is_ok_and(|o| o.success)
}
