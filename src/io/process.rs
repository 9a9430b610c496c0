//! Starting other programs (credential helpers, container builders, git):
//! one function that runs a command, feeds its stdin and captures its output,
//! with errors that name the command.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// What a finished command left behind.
pub(crate) struct Output {
    /// Whether it exited with status 0.
    pub(crate) success: bool,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

/// Runs `program args…` in `dir`, writes `stdin` to it, and captures its
/// output. An error means it could not be started.
pub(crate) fn run(
    program: &str,
    args: &[&str],
    dir: Option<&Path>,
    stdin: Option<&[u8]>,
    env: &[(&str, &str)],
) -> Result<Output> {
    let mut command = Command::new(program);
    command.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.envs(env.iter().copied());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().with_context(|| format!("starting {program}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).with_context(|| format!("writing to {program}"))?;
    }
    let out = child.wait_with_output().with_context(|| format!("waiting for {program}"))?;
    Ok(Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Whether `program` can be started (found on PATH and executable).
pub(crate) fn available(program: &str, version_args: &[&str]) -> bool {
    run(program, version_args, None, None, &[]).is_ok_and(|o| o.success)
}

/// How a logged command ended: success, and its last lines of output.
pub(crate) struct Logged {
    /// Whether it exited with status 0.
    pub(crate) success: bool,
    /// The last lines it printed (stdout and stderr), for error messages.
    pub(crate) tail: Vec<String>,
}

/// Runs a long command, handing each line it prints (stdout and stderr) to
/// `on_line` as it comes, and keeping the last `keep` lines.
pub(crate) fn run_logged(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    keep: usize,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<Logged> {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let tail = Mutex::new(VecDeque::with_capacity(keep));
    let pump = |stream: Box<dyn Read + Send>| {
        for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
            on_line(&line);
            let mut tail = tail.lock().expect("tail lock");
            if tail.len() == keep {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    };
    let stdout = child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>);
    let stderr = child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>);
    std::thread::scope(|scope| {
        if let Some(err) = stderr {
            scope.spawn(|| pump(err));
        }
        if let Some(out) = stdout {
            pump(out);
        }
    });
    let status = child.wait().with_context(|| format!("waiting for {program}"))?;
    Ok(Logged { success: status.success(), tail: tail.into_inner().expect("tail lock").into() })
}
